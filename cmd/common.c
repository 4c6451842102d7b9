/* cmd/common.c - shared parts of the command fronts. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/err.h"
#include "auth/secmem.h"
#include "auth/token.h"
#include "cmd/cmd.h"

struct cmd_globals g_opts;

static int
common_opt(int opt, const char *arg)
{
	switch (opt) {
	case 'c':
		g_opts.config = arg;
		return 1;
	case 'v':
		g_opts.verbose = 1;
		return 1;
	case 'q':
		g_opts.quiet = 1;
		return 1;
	default:
		return 0;
	}
}

static const struct {
	const char *name;
	const char *synopsis;
	const char *help;
} usages[] = {
	{ "add", "add ADDRESS [--provider P] [--auth oauth2|password] "
	    "[--client-id ID] [--store keyring|file]",
	    "Adds an [account ADDRESS] section to the configuration file "
	    "(created 0600;\n"
	    "existing lines kept as they are; a duplicate is refused), then, "
	    "on a\n"
	    "terminal, goes on to 'login' or 'password set'.\n"
	    "  --provider P    google, microsoft or a [provider P]; default: "
	    "guessed from\n"
	    "                  the domain or its MX records\n"
	    "  --auth A        oauth2 (default) or password (an app "
	    "password)\n"
	    "  --client-id ID  the OAuth client (asked for on a terminal); its "
	    "secret is\n"
	    "                  asked for without echo, never taken from the "
	    "command line\n"
	    "  --store S       keyring (default) or file\n" },
	{ "login", "login ACCOUNT [--flow device|browser|manual] [--no-open] "
	    "[--port N] [--timeout S] [--qr|--no-qr] [--json]",
	    "Runs the OAuth login flow for ACCOUNT and stores the tokens.\n"
	    "  --flow FLOW  browser (a loopback listener gets the redirect), "
	    "manual (paste\n"
	    "               the URL the browser ended on: for SSH) or device "
	    "(RFC 8628);\n"
	    "               default: the account's flow\n"
	    "  --no-open    do not try to open a web browser\n"
	    "  --port N     browser: the listener's port (for ssh -L N:127.0.0.1:N);"
	    "\n               manual: the port in redirect_uri\n"
	    "  --timeout S  how long to wait for the redirect or the paste "
	    "(300),\n"
	    "               or for the device flow's approval (default: "
	    "until the code\n"
	    "               expires)\n"
	    "  --qr         draw the device flow's QR code even when stderr "
	    "is not a\n"
	    "               terminal (on a terminal it is drawn, with a "
	    "countdown)\n"
	    "  --no-qr      never draw the QR code\n"
	    "  --json       one JSON object per line on stdout: the prompt, "
	    "then the result\n" },
	{ "token", "token ACCOUNT [--json] [--min-valid SECONDS] [--refresh]",
	    "Prints a valid access token for ACCOUNT, refreshing it when "
	    "needed.\n"
	    "  --min-valid N  reuse the cached token while it has N seconds "
	    "left (60)\n"
	    "  --refresh      refresh even if the cached token is valid\n"
	    "  --json         account, access_token, token_type, expires_at, "
	    "scope\n" },
	{ "sasl", "sasl [ACCOUNT] [--mech xoauth2|oauthbearer] [--raw] "
	    "[--host H --port P] [--user U]",
	    "Prints the SASL initial response for ACCOUNT, base64.\n"
	    "  --mech M   xoauth2 (default) or oauthbearer\n"
	    "  --raw      the unencoded bytes instead of base64\n"
	    "  --host H, --port P  for OAUTHBEARER's host and port fields\n"
	    "  --user U   the login name; without ACCOUNT it is required and "
	    "the token\n"
	    "             is read from stdin\n" },
	{ "password", "password set|get|delete ACCOUNT [--export msmtp,git]",
	    "Keeps an app password for ACCOUNT in the store.\n"
	    "  set     reads the password from stdin (no echo on a terminal)\n"
	    "  get     prints it\n"
	    "  delete  removes it, and the copies made with --export\n"
	    "  --export P  set: also keep a copy where msmtp, git or both "
	    "(msmtp,git)\n"
	    "              look passwords up in the keyring (no passwordeval "
	    "needed);\n"
	    "              delete: remove only those copies\n" },
	{ "logout", "logout ACCOUNT",
	    "Revokes ACCOUNT's grant at the provider's revocation_endpoint "
	    "(RFC 7009)\n"
	    "and deletes everything the store holds for it: tokens, app "
	    "password,\n"
	    "recovery file, the copies password --export made. The tokens are "
	    "deleted\n"
	    "even when the revocation fails (then it exits 75, or 69/78, and "
	    "says where\n"
	    "to revoke by hand).\n"
	    "Nothing stored: exit 0.\n" },
	{ "accounts", "accounts [--json]",
	    "Lists the configured accounts: provider, auth, store, logged in "
	    "or\n"
	    "password stored, access token expiry. Only reads the store: no "
	    "refresh.\n"
	    "  --json  one JSON array: account, provider, auth, store, flow, "
	    "logged_in,\n"
	    "          password_stored, expires_at, error\n" },
	{ "send", "send [-a ACCOUNT] [-t] [-f FROM] [-i] [-oi] [-F NAME] "
	    "[--mech xoauth2|oauthbearer] [--timeout S] [RCPT ...] < message",
	    "Sends the message on stdin through ACCOUNT's smtp server, like "
	    "sendmail:\n"
	    "usable as git's sendemail.sendmailCmd, mutt's sendmail, aerc's "
	    "outgoing.\n"
	    "Exit 0 only after the server accepted the message.\n"
	    "  -a ACCOUNT  the account; default: the one whose user is the "
	    "From address\n"
	    "  -t          recipients from To, Cc and Bcc too (Bcc is removed "
	    "before sending)\n"
	    "  -f FROM, -r FROM\n"
	    "              the envelope sender (default: the From address); "
	    "-f '<>' the\n"
	    "              null sender\n"
	    "  -F NAME     the name in the From field added to a message "
	    "without one\n"
	    "  -i, -oi, -odi, -odb, -oem, -oep, -oeq, -oee, -om, -B 8BITMIME,\n"
	    "  -N DSN, -R RET, -V ENVID\n"
	    "              accepted for sendmail compatibility; no effect\n"
	    "  --mech M    xoauth2 or oauthbearer (default: the account's "
	    "smtp_mech)\n"
	    "  --timeout S  seconds for the connection and each step "
	    "(default: timeout)\n" },
	{ "doctor", "doctor ACCOUNT [--json] [--timeout S]",
	    "Checks ACCOUNT step by step: config, store, token, DNS, TCP, "
	    "TLS, SMTP\n"
	    "EHLO and login, IMAP and POP3 logins; one line per check (ok, "
	    "FAILED with\n"
	    "the fix, or skipped when an earlier check failed). Exit 0 only "
	    "when\n"
	    "every check passed.\n"
	    "  --json       one JSON object: account, ok, checks (name, ok, "
	    "status,\n"
	    "               detail, advice)\n"
	    "  --timeout S  bound each step to S seconds (default: the "
	    "account's\n"
	    "               timeout)\n" },
};
#define NUSAGES (sizeof(usages) / sizeof(usages[0]))

/* As mailcred(1)'s SYNOPSIS: this, each command's synopsis, the tail. */
static const char usage_head[] =
    "usage: mailcred [-c FILE] [-v] [-q] COMMAND [ARGS]\n";
static const char usage_tail[] =
    "       mailcred help [COMMAND]\n"
    "       mailcred --version | --help\n";

/* The whole synopsis on f. */
static void
print_synopsis(FILE *f)
{
	size_t i;

	fputs(usage_head, f);
	for (i = 0; i < NUSAGES; i++)
		fprintf(f, "       mailcred %s\n", usages[i].synopsis);
	fputs(usage_tail, f);
}

/* The entry of usages[] for command, or -1. */
static int
find_usage(const char *command)
{
	size_t i;

	for (i = 0; command != NULL && i < NUSAGES; i++)
		if (strcmp(command, usages[i].name) == 0)
			return (int)i;
	return -1;
}

/* The synopsis of command (all of them for NULL or an unknown one). */
static void
print_usage(const char *command)
{
	int u = find_usage(command);

	if (u >= 0)
		fprintf(stderr, "usage: mailcred %s\n", usages[u].synopsis);
	else
		print_synopsis(stderr);
}

void
cmd_usage_error(const char *command, const char *fmt, ...)
{
	char *msg = NULL, *p;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	/* Operands come from the user: keep the line one line. */
	for (p = msg; n >= 0 && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	fprintf(stderr, "mailcred: %s%s%s\n", command ? command : "",
	    command ? ": " : "", n >= 0 ? msg : "usage error");
	if (n >= 0)
		free(msg);
	print_usage(command);
	exit(64);
}

/*
 * Names what getopt_long found wrong in the option just read: opt is ':'
 * (a missing argument) or '?'. For a long option, argv[optind - 1] is the
 * word it came from; a short one is optopt.
 */
static void
bad_option(const char *command, int opt, char **argv,
    const struct option *longopts)
{
	const char *word = argv[optind - 1], *name;
	const struct option *lo, *match = NULL;
	size_t n;
	int nmatch = 0, islong = strncmp(word, "--", 2) == 0;

	if (opt == ':' && islong)
		cmd_usage_error(command, "option '%s' needs an argument", word);
	if (opt == ':')
		cmd_usage_error(command, "option '-%c' needs an argument",
		    optopt);
	/* Unknown, ambiguous, or --flag=VALUE for a flag without one. */
	name = islong ? word + 2 : word;
	n = islong ? strcspn(name, "=") : 0;
	for (lo = longopts; islong && lo->name != NULL; lo++) {
		if (strncmp(lo->name, name, n) != 0)
			continue;
		match = lo;
		if (lo->name[n] == '\0') {
			nmatch = 1;
			break;
		}
		nmatch++;
	}
	if (optopt != 0 && nmatch == 1 && name[n] == '=' &&
	    match->has_arg == no_argument && match->val == optopt)
		cmd_usage_error(command, "option '--%s' takes no argument",
		    match->name);
	/* A short option's optopt is its letter; a long one's is 0. */
	if (optopt != 0)
		cmd_usage_error(command, "unknown option '-%c'", optopt);
	if (nmatch > 1)
		cmd_usage_error(command, "option '--%.*s' is ambiguous",
		    (int)n, name);
	cmd_usage_error(command, "unknown option '--%.*s'", (int)n, name);
}

int
cmd_getopt(const char *command, int argc, char **argv,
    const struct option *longopts)
{
	return cmd_getopt_short(command, argc, argv, "", longopts);
}

int
cmd_getopt_short(const char *command, int argc, char **argv,
    const char *shortopts, const struct option *longopts)
{
	/* ':' first: a missing argument is told apart from an unknown
	 * option; '+' for mailcred itself: its options end at COMMAND. */
	char optstring[64];
	int opt, n;

	n = snprintf(optstring, sizeof(optstring), "%s:c:vqh%s",
	    command != NULL ? "" : "+", shortopts);
	if (n < 0 || (size_t)n >= sizeof(optstring)) {
		/* A bug: the short options are literals in cmd/. */
		fprintf(stderr, "mailcred: internal error: too many short "
		    "options\n");
		exit(70);
	}
	for (;;) {
		opt = getopt_long(argc, argv, optstring, longopts, NULL);
		if (opt == ':' || opt == '?')
			bad_option(command, opt, argv, longopts);
		if (opt == 'h')
			cmd_help(command);
		if (!common_opt(opt, optarg))
			return opt;
	}
}

const char *
cmd_account_arg(const char *command, int argc, char **argv)
{
	if (optind >= argc)
		cmd_usage_error(command, "missing ACCOUNT");
	if (optind + 1 < argc)
		cmd_usage_error(command, "extra argument '%s' after ACCOUNT",
		    argv[optind + 1]);
	return argv[optind];
}

void
cmd_help(const char *command)
{
	int u = find_usage(command);

	if (command != NULL && u < 0)
		cmd_usage_error(NULL, "unknown command '%s'", command);
	if (u >= 0) {
		printf("usage: mailcred %s\n\n%s", usages[u].synopsis,
		    usages[u].help);
		exit(cmd_flush_stdout(NULL));
	}
	fputs("mailcred - gets, keeps and hands out mail credentials\n\n",
	    stdout);
	print_synopsis(stdout);
	fputs("\nGlobal options (before or after COMMAND):\n"
	    "  -c, --config FILE  configuration file (default "
	    "~/.config/mailcred/config)\n"
	    "  -v, --verbose      diagnostics on stderr, secrets redacted\n"
	    "  -q, --quiet        no notes or warnings\n"
	    "  -h, --help         this help, or COMMAND's\n"
	    "  --version          the version (before COMMAND only)\n"
	    "\nmailcred help COMMAND (or COMMAND --help) says more about one "
	    "command.\n"
	    "\nExit status: 0 ok, 64 usage, 65 bad data, 69 service "
	    "unavailable, 75 temporary\nfailure (retry), 77 not logged "
	    "in or authentication failed, 78 configuration.\n"
	    "See mailcred(1) and mailcred.conf(5).\n", stdout);
	exit(cmd_flush_stdout(NULL));
}

static const char *
describe(int err)
{
	switch (err) {
	case MC_ERR_NOMEM:
		return "out of memory";
	case MC_ERR_NET:
		return "network failure: try again";
	case MC_ERR_TEMP:
		return "temporary failure: try again";
	case MC_ERR_STORE:
		return "the store failed: try again";
	default:
		return "failed";
	}
}

int
cmd_fail(const char *account, int err, char *msg)
{
	const char *m = msg != NULL ? msg : describe(err);
	char *p;

	/* Messages may quote a server: no byte of theirs drives the terminal. */
	for (p = msg; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';

	if (account != NULL)
		fprintf(stderr, "mailcred: %s: %s\n", account, m);
	else
		fprintf(stderr, "mailcred: %s\n", m);
	free(msg);
	return mc_exit_status(err);
}

void
cmd_note(const char *fmt, ...)
{
	va_list ap;

	if (g_opts.quiet)
		return;
	fputs("mailcred: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cmd_load_config(const char *name, struct mc_config **cfg)
{
	char *path = NULL, *msg = NULL;
	size_t i;
	int rc;

	*cfg = NULL;
	rc = mc_config_path(g_opts.config, &path, &msg);
	if (rc == MC_OK)
		rc = mc_config_load(path, cfg, &msg);
	free(path);
	if (rc != MC_OK)
		return cmd_fail(name, rc, msg);
	for (i = 0; i < mc_config_nwarnings(*cfg); i++)
		cmd_note("warning: %s", mc_config_warning(*cfg, i));
	return 0;
}

int
cmd_get_password(const struct mc_account *acct, struct store *st, char **pw)
{
	struct store *own = NULL;
	char *msg = NULL, *err = NULL, *nf = NULL;
	int rc, serr;

	*pw = NULL;
	if (st == NULL) {
		if ((rc = mc_store_open(acct, 0, &own, &msg)) != MC_OK)
			return cmd_fail(acct->name, rc, msg);
		st = own;
	}
	if (asprintf(&nf, "no app password stored: run 'mailcred password "
	    "set %s'", acct->name) < 0)
		nf = NULL;
	serr = store_get(st, acct->name, MC_KIND_PASSWORD, pw, &msg);
	store_close(own);
	rc = mc_store_error(serr, msg, nf != NULL ? nf : "no app password "
	    "stored", &err);
	free(nf);
	if (rc != MC_OK) {
		*pw = NULL;
		return cmd_fail(acct->name, rc, err);
	}
	return 0;
}

int
cmd_load_account(const char *name, struct mc_config **cfg,
    struct mc_account **acct)
{
	char *msg = NULL;
	int rc;

	*acct = NULL;
	if ((rc = cmd_load_config(name, cfg)) != 0)
		return rc;
	rc = mc_account_resolve(*cfg, name, acct, &msg);
	if (rc != MC_OK) {
		mc_config_free(*cfg);
		*cfg = NULL;
		return cmd_fail(name, rc, msg);
	}
	return 0;
}

static void
trace_stderr(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "mailcred: %s\n", line);
}

void
cmd_http_opts(const struct mc_account *acct, struct mc_http_opts *http)
{
	http->timeout = acct->timeout;
	http->ca_file = acct->ca_file;
	http->trace = g_opts.verbose ? trace_stderr : NULL;
	http->trace_ctx = NULL;
}

/*
 * While echo is off: the terminal settings to put back, and the signals
 * that would otherwise end us with the terminal left mute.
 */
static struct termios tty_saved;
static const int tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NTTY_SIGNALS (sizeof(tty_signals) / sizeof(tty_signals[0]))

/* Puts the terminal back, then dies of sig (SA_RESETHAND: the default). */
static void
tty_restore_and_die(int sig)
{
	tcsetattr(STDIN_FILENO, TCSANOW, &tty_saved);
	raise(sig);
}

/*
 * Turns echo off on stdin, with handlers that turn it back on before a
 * signal ends us (a signal we ignore stays ignored). Returns 1 if echo was
 * turned off: then tty_echo_on(old) must follow.
 */
static int
tty_echo_off(struct sigaction old[NTTY_SIGNALS])
{
	struct termios quiet;
	struct sigaction sa;
	size_t i;

	if (tcgetattr(STDIN_FILENO, &tty_saved) != 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tty_restore_and_die;
	sa.sa_flags = SA_RESETHAND;
	sigfillset(&sa.sa_mask);
	for (i = 0; i < NTTY_SIGNALS; i++) {
		sigaction(tty_signals[i], NULL, &old[i]);
		if (old[i].sa_handler != SIG_IGN)
			sigaction(tty_signals[i], &sa, NULL);
	}
	quiet = tty_saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0)
		return 1;
	for (i = 0; i < NTTY_SIGNALS; i++)
		sigaction(tty_signals[i], &old[i], NULL);
	return 0;
}

/* Echo back on (discarding unread input), then the old handlers. */
static void
tty_echo_on(const struct sigaction old[NTTY_SIGNALS])
{
	size_t i;

	tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
	for (i = 0; i < NTTY_SIGNALS; i++)
		sigaction(tty_signals[i], &old[i], NULL);
}

/*
 * Reads into buf (size bytes, not terminated) until EOF, or on a terminal
 * the end of the line; *len is what was read. Stops when buf is full, and
 * then sets *more if there was more: on a terminal after reading the rest
 * of the line, so it does not reach whoever reads the terminal next.
 */
static int
read_input(char *buf, size_t size, int tty, int timeout, size_t *len,
    int *more, char **errmsg)
{
	struct timespec t0, t;
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
	long long left;
	char extra;
	ssize_t n;

	*len = 0;
	*more = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (*len < size) {
		/* With a timeout: wait for input no longer than it. */
		if (timeout > 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			left = timeout * 1000LL - ((t.tv_sec - t0.tv_sec) *
			    1000LL + (t.tv_nsec - t0.tv_nsec) / 1000000);
			if (left <= 0 || (poll(&pfd, 1, (int)left) == 0))
				return mc_fail(MC_ERR_TEMP, errmsg, "nothing "
				    "was entered within %d s", timeout);
		}
		n = read(STDIN_FILENO, buf + *len, tty ? 1 : size - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mc_fail(MC_ERR_IO, errmsg, "cannot read stdin: %s",
			    strerror(errno));
		if (n == 0)
			return MC_OK;
		*len += (size_t)n;
		if (tty && buf[*len - 1] == '\n')
			return MC_OK;
	}
	do {
		n = read(STDIN_FILENO, &extra, 1);
		if (n == 1)
			*more = 1;
	} while ((n == 1 && tty && extra != '\n') || (n < 0 && errno == EINTR));
	mc_wipe(&extra, sizeof(extra));
	return MC_OK;
}

/*
 * Checks what read_input read (len bytes in buf, NUL-terminated) and cuts
 * it to its first line: at most max bytes, one line (blank lines after it
 * aside), no NUL byte, not empty.
 */
static int
first_line(char *buf, size_t len, size_t max, int more, char **errmsg)
{
	size_t n;

	if (memchr(buf, '\0', len) != NULL)
		return mc_fail(MC_ERR_DATA, errmsg, "the secret holds a NUL "
		    "byte");
	n = strcspn(buf, "\n");
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n > max || more)
		return mc_fail(MC_ERR_DATA, errmsg, "the secret on stdin is "
		    "longer than %zu bytes", max);
	if (buf[n + strspn(buf + n, "\r\n")] != '\0')
		return mc_fail(MC_ERR_DATA, errmsg, "the secret on stdin has "
		    "more than one line");
	if (n == 0)
		return mc_fail(MC_ERR_DATA, errmsg, "nothing was read from "
		    "stdin");
	buf[n] = '\0';
	return MC_OK;
}

int
cmd_read_secret(const char *prompt, size_t max, char **out, char **errmsg)
{
	return cmd_read_secret_within(prompt, max, 0, out, errmsg);
}

int
cmd_read_secret_within(const char *prompt, size_t max, int timeout,
    char **out, char **errmsg)
{
	struct sigaction old[NTTY_SIGNALS];
	int tty = isatty(STDIN_FILENO), echo_off = 0, more, rc;
	/* Room for the longest secret, its "\r\n", and a NUL. */
	size_t size = max + 2, len;
	char *buf;

	*out = NULL;
	buf = malloc(size + 1);
	if (buf == NULL)
		return MC_ERR_NOMEM;
	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		echo_off = tty_echo_off(old);
	}
	rc = read_input(buf, size, tty, timeout, &len, &more, errmsg);
	if (echo_off)
		tty_echo_on(old);
	if (rc == MC_OK) {
		buf[len] = '\0';
		rc = first_line(buf, len, max, more, errmsg);
	}
	if (rc == MC_OK) {
		*out = buf;
		return MC_OK;
	}
	mc_wipe(buf, size + 1);
	free(buf);
	return rc;
}

/*
 * A copy of environ with MAILCRED_ACCOUNT=name in place of any it held:
 * env[0] is ours (free it and the array), the rest are environ's. NULL
 * when out of memory.
 */
static char **
reauth_env(const char *name)
{
	static const char var[] = "MAILCRED_ACCOUNT=";
	size_t n = 0, i, j = 1;
	char **env;

	while (environ != NULL && environ[n] != NULL)
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (env == NULL)
		return NULL;
	if (asprintf(&env[0], "%s%s", var, name) < 0) {
		free(env);
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], var, sizeof(var) - 1) != 0)
			env[j++] = environ[i];
	env[j] = NULL;
	return env;
}

/* The core limit we were started with, for the programs we start. */
static struct rlimit core_given;
static int core_lowered;

void
cmd_no_core_dumps(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_CORE, &core_given) == 0) {
		rl.rlim_cur = 0;
		rl.rlim_max = core_given.rlim_max;
		core_lowered = setrlimit(RLIMIT_CORE, &rl) == 0;
	}
	(void)prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L);
}

int
cmd_spawn(const char *file, char *const argv[], char *const env[],
    int quiet, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int rc;

	rc = posix_spawn_file_actions_init(&fa);
	if (rc != 0)
		return rc;
	rc = posix_spawnattr_init(&attr);
	if (rc != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	/* We ignore SIGPIPE; a shell pipeline needs it back. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	if (rc == 0 && quiet)
		rc = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO,
		    "/dev/null", O_WRONLY, 0);
	if (rc == 0 && quiet)
		rc = posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO,
		    STDERR_FILENO);
	if (rc == 0 && !quiet)
		rc = posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO,
		    STDOUT_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	/*
	 * Nothing else of ours is inherited: not a mail server's socket
	 * another thread has open, not the keyring's bus connection.
	 */
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa,
		    STDERR_FILENO + 1);
#endif
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&attr, &dfl);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF |
		    POSIX_SPAWN_SETSIGMASK | (quiet ? POSIX_SPAWN_SETSID : 0));
	fflush(stderr);
	/*
	 * The child inherits the core limit we were given: ours is put back
	 * for the instant of the spawn (we stay non-dumpable meanwhile).
	 */
	if (rc == 0 && core_lowered)
		(void)setrlimit(RLIMIT_CORE, &core_given);
	if (rc == 0)
		rc = posix_spawnp(pid, file, &fa, &attr, argv,
		    env != NULL ? env : environ);
	if (core_lowered) {
		struct rlimit rl = { 0, core_given.rlim_max };

		(void)setrlimit(RLIMIT_CORE, &rl);
	}
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* Starts /bin/sh -c cmd with env; 0 and *pid, or an errno value. */
static int
spawn_shell(const char *cmd, char **env, pid_t *pid)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };

	return cmd_spawn("/bin/sh", argv, env, 0, pid);
}

void
cmd_run_on_reauth(const struct mc_account *acct)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	char **env;
	pid_t pid;
	int status, i, rc;

	if (acct->on_reauth == NULL || acct->on_reauth[0] == '\0')
		return;
	/* Everything is made before the child exists: it runs no code of
	 * ours, GDBus threads or not. */
	env = reauth_env(acct->name);
	if (env == NULL)
		return;
	fflush(stderr);
	rc = spawn_shell(acct->on_reauth, env, &pid);
	free(env[0]);
	free(env);
	if (rc != 0)
		return;
	/* A notification should be quick; do not hold the caller long. */
	for (i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return;
		nanosleep(&pause, NULL);
	}
}

int
cmd_flush_stdout(const char *account)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return cmd_fail(account, MC_ERR_IO, strdup("cannot write to "
		    "stdout"));
	return 0;
}

int
cmd_print_json(const char *account, void *obj)
{
	json_t *o = obj;
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (text == NULL)
		return cmd_fail(account, MC_ERR_NOMEM, NULL);
	printf("%s\n", text);
	mc_json_free(text);
	return cmd_flush_stdout(account);
}

long
cmd_parse_ulong(const char *s, long max)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > max)
		return -1;
	return v;
}

static void
warn_line(void *ctx, const char *line)
{
	cmd_note("%s: %s", (const char *)ctx, line);
}

void
cmd_token_warnings(const struct mc_account *acct, struct mc_token_opts *to)
{
	to->warn = warn_line;
	to->warn_ctx = acct->name;
}
