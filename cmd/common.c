/* cmd/common.c - shared parts of the command fronts. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int
cmd_common_opt(int opt, const char *arg)
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
	{ "login", "login ACCOUNT [--flow device|browser|manual] [--no-open] "
	    "[--json]",
	    "Runs the OAuth login flow for ACCOUNT and stores the tokens.\n"
	    "  --flow FLOW  device (RFC 8628), browser or manual; default: "
	    "the account's flow\n"
	    "  --no-open    do not try to open a web browser\n"
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
	{ "password", "password set|get|delete ACCOUNT",
	    "Keeps an app password for ACCOUNT in the store.\n"
	    "  set     reads the password from stdin (no echo on a terminal)\n"
	    "  get     prints it\n"
	    "  delete  removes it\n" },
};
#define NUSAGES (sizeof(usages) / sizeof(usages[0]))

static const char global_usage[] =
    "usage: mailcred [-c FILE] [-v] [-q] COMMAND [ARGS]\n"
    "       mailcred --version | --help\n";

void
cmd_usage(const char *command)
{
	size_t i;

	fputs(global_usage, stderr);
	for (i = 0; i < NUSAGES; i++)
		if (command == NULL || strcmp(command, usages[i].name) == 0)
			fprintf(stderr, "       mailcred %s\n",
			    usages[i].synopsis);
	exit(64);
}

void
cmd_help(const char *command)
{
	size_t i;

	if (command == NULL) {
		fputs("mailcred - gets, keeps and hands out mail credentials\n\n",
		    stdout);
		fputs(global_usage, stdout);
		fputs("\nGlobal options:\n"
		    "  -c FILE  configuration file (default "
		    "~/.config/mailcred/config)\n"
		    "  -v       diagnostics on stderr, secrets redacted\n"
		    "  -q       no notes or warnings\n\nCommands:\n", stdout);
	}
	for (i = 0; i < NUSAGES; i++) {
		if (command != NULL && strcmp(command, usages[i].name) != 0)
			continue;
		printf("  mailcred %s\n", usages[i].synopsis);
		if (command != NULL)
			printf("\n%s", usages[i].help);
	}
	if (command == NULL)
		fputs("\nExit status: 0 ok, 64 usage, 65 bad data, 69 service "
		    "unavailable, 75 temporary\nfailure (retry), 77 not logged "
		    "in or authentication failed, 78 configuration.\n"
		    "See mailcred(1) and mailcred.conf(5).\n", stdout);
	exit(0);
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
cmd_load_account(const char *name, struct mc_config **cfg,
    struct mc_account **acct)
{
	char *path = NULL, *msg = NULL;
	size_t i;
	int rc;

	*cfg = NULL;
	*acct = NULL;
	rc = mc_config_path(g_opts.config, &path, &msg);
	if (rc == MC_OK)
		rc = mc_config_load(path, cfg, &msg);
	free(path);
	if (rc != MC_OK)
		return cmd_fail(name, rc, msg);
	for (i = 0; i < mc_config_nwarnings(*cfg); i++)
		cmd_note("warning: %s", mc_config_warning(*cfg, i));
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

int
cmd_read_secret(const char *prompt, size_t max, char **out, char **errmsg)
{
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO), echo_off = 0;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int rc;

	*out = NULL;
	buf = malloc(max + 1);
	if (buf == NULL)
		return MC_ERR_NOMEM;
	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			quiet.c_lflag |= ECHONL;
			echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
			    == 0;
		}
	}
	/* Read until EOF, or the end of the first line on a terminal. */
	while (len < max) {
		n = read(STDIN_FILENO, buf + len, tty ? 1 : max - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mc_fail(MC_ERR_IO, errmsg, "cannot read stdin: %s",
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n) != NULL)
			break;
	}
	buf[len] = '\0';
	if (len == max && !tty) {
		char extra;

		if (read(STDIN_FILENO, &extra, 1) == 1) {
			rc = mc_fail(MC_ERR_DATA, errmsg, "the secret on stdin "
			    "is longer than %zu bytes", max);
			goto out;
		}
	}
	if (memchr(buf, '\0', len) != NULL) {
		rc = mc_fail(MC_ERR_DATA, errmsg, "the secret holds a NUL byte");
		goto out;
	}
	/* The first line, without its line ending. */
	len = strcspn(buf, "\n");
	if (len < strlen(buf) && buf[len + 1 + strspn(buf + len + 1,
	    "\r\n")] != '\0') {
		rc = mc_fail(MC_ERR_DATA, errmsg, "the secret on stdin has "
		    "more than one line");
		goto out;
	}
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len == 0) {
		rc = mc_fail(MC_ERR_DATA, errmsg, "nothing was read from stdin");
		goto out;
	}
	*out = buf;
	buf = NULL;
	rc = MC_OK;
out:
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	if (buf != NULL) {
		mc_wipe(buf, max + 1);
		free(buf);
	}
	return rc;
}

void
cmd_run_on_reauth(const struct mc_account *acct)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	pid_t pid;
	int status, i, fd;

	if (acct->on_reauth == NULL || acct->on_reauth[0] == '\0')
		return;
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			close(fd);
		}
		dup2(STDERR_FILENO, STDOUT_FILENO);
		setenv("MAILCRED_ACCOUNT", acct->name, 1);
		execl("/bin/sh", "sh", "-c", acct->on_reauth, (char *)NULL);
		_exit(127);
	}
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
