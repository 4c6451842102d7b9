/*
 * cmd/gitcred.c - git-credential-mailcred: git's credential helper.
 *
 * The same binary as mailcred, run under the name git-credential-mailcred
 * (cmd/main.c looks at argv[0]), so `credential.helper mailcred` finds it
 * on PATH. git writes what it knows on stdin (auth/gitcred.h); for `get`
 * the helper answers the account's user and its app password or a valid
 * access token, and for `store` and `erase` it answers nothing.
 *
 * Nothing on stdout and exit 0 whenever no account matches (another
 * protocol, another host, another user, several accounts and no username
 * to choose): git then asks its next helper, or the user. A matching
 * account whose credential cannot be had (nothing stored, a locked
 * keyring, a revoked grant) is one line on stderr and the usual exit
 * status; git goes on to its next helper as well.
 *
 *   store  oauth2: ignored (mailcred keeps the tokens). Password account:
 *          the password git used with success is stored when none is; a
 *          different stored one is kept, with a note.
 *   erase  never deletes anything: git erases after any failed login,
 *          one that failed for a passing reason too. Password account: a
 *          note says how to replace the password if it was revoked.
 *          oauth2: when the refused password is the cached access token,
 *          the token is refreshed at once, so the next get hands out a new
 *          one (a server that refuses a token wants one refresh; a grant
 *          that is gone is then reported, with `mailcred login`).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth/err.h"
#include "auth/gitcred.h"
#include "auth/secmem.h"
#include "auth/token.h"
#include "cmd/cmd.h"

#define GITCRED_NAME "git-credential-mailcred"
#define GITCRED_SYNOPSIS GITCRED_NAME " [-c FILE] [-v] [-q] " \
	"get|store|erase|capability"

static void __attribute__((noreturn))
gitcred_usage(const char *fmt, const char *arg)
{
	fputs(GITCRED_NAME ": ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nusage: " GITCRED_SYNOPSIS "\n", stderr);
	exit(64);
}

/*
 * Reads git's input from stdin up to its blank line (or the end): a
 * malloc'd buffer that may hold a password (wipe it) into *buf, its length
 * into *len.
 */
static int
read_input(char **buf, size_t *len, char **errmsg)
{
	size_t size = MC_GITCRED_INPUT_MAX + 1, n = 0, i = 0;
	ssize_t r;
	char *b;

	*buf = NULL;
	*len = 0;
	b = malloc(size);
	if (b == NULL)
		return MC_ERR_NOMEM;
	for (;;) {
		for (; i < n; i++)
			if (b[i] == '\n' && (i == 0 || b[i - 1] == '\n'))
				goto done;
		if (n == size) {
			mc_wipe(b, size);
			free(b);
			return mc_fail(MC_ERR_DATA, errmsg, "git's input is "
			    "longer than %d bytes", MC_GITCRED_INPUT_MAX);
		}
		r = read(STDIN_FILENO, b + n, size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			mc_wipe(b, size);
			free(b);
			return mc_fail(MC_ERR_IO, errmsg, "cannot read stdin: %s",
			    strerror(errno));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
done:
	*buf = b;
	*len = n;
	return MC_OK;
}

/*
 * The one account c is about, into *out (freed by the caller), or NULL
 * when none or several are (several: a note names them).
 */
static int
find_account(const struct mc_config *cfg, const struct mc_gitcred *c,
    struct mc_account **out)
{
	struct mc_account *acct, *found = NULL;
	char *msg = NULL, *names = NULL, *more;
	size_t i;
	int nfound = 0;

	*out = NULL;
	for (i = 0; i < mc_config_naccounts(cfg); i++) {
		const char *name = mc_config_account_name(cfg, i);

		if (mc_account_resolve(cfg, name, &acct, &msg) != MC_OK) {
			cmd_note("%s: skipped: %s", name, msg);
			free(msg);
			msg = NULL;
			continue;
		}
		if (!mc_gitcred_host_matches(acct, c) ||
		    !mc_gitcred_user_matches(acct, c)) {
			mc_account_free(acct);
			continue;
		}
		nfound++;
		if (asprintf(&more, "%s%s%s (user %s)", names ? names : "",
		    names ? ", " : "", acct->name, acct->user) < 0)
			more = NULL;
		free(names);
		names = more;
		if (found == NULL) {
			found = acct;
			continue;
		}
		mc_account_free(acct);
	}
	if (nfound > 1) {
		cmd_note("%s://%s: %d accounts match, so none answers: %s; %s",
		    c->protocol, c->host != NULL ? c->host : "", nfound,
		    names != NULL ? names : "", c->username == NULL ?
		    "give git the username (sendemail.smtpUser, "
		    "imap.user or credential.username)" : "give them "
		    "different users or hosts");
		mc_account_free(found);
		found = NULL;
	}
	free(names);
	*out = found;
	return 0;
}

/* Prints one KEY=VALUE line (the values were checked). */
static void
put_item(const char *key, const char *value)
{
	printf("%s=%s\n", key, value);
}

static int
answer_password(const struct mc_account *acct, struct store *st)
{
	char *pw = NULL;
	int rc;

	if ((rc = cmd_get_password(acct, st, &pw)) != 0)
		return rc;
	if (!mc_gitcred_value_ok(pw, strlen(pw)) ||
	    !mc_gitcred_value_ok(acct->user, strlen(acct->user))) {
		store_secret_free(pw);
		return cmd_fail(acct->name, MC_ERR_DATA, strdup("the user or "
		    "the app password holds a CR or LF, which git's protocol "
		    "cannot carry: nothing answered"));
	}
	put_item("username", acct->user);
	put_item("password", pw);
	store_secret_free(pw);
	return cmd_flush_stdout(acct->name);
}

static int
answer_token(const struct mc_account *acct, const struct mc_gitcred *c)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	char expiry[32];
	int rc;

	rc = cmd_get_token(acct, &to, &ts);
	if (rc != 0)
		return rc;
	if (!mc_gitcred_value_ok(ts.access_token, strlen(ts.access_token)) ||
	    !mc_gitcred_value_ok(acct->user, strlen(acct->user))) {
		mc_token_set_clear(&ts);
		return cmd_fail(acct->name, MC_ERR_DATA, strdup("the user or "
		    "the access token holds a CR or LF, which git's protocol "
		    "cannot carry: nothing answered"));
	}
	/* A token without a known expiry is handed out as valid for
	 * min_valid: git must not keep it longer. */
	/* Fits: 20 digits and a sign at most, in 32 bytes. */
	(void)snprintf(expiry, sizeof(expiry), "%lld", ts.expires_at > 0 ?
	    ts.expires_at : (long long)time(NULL) + to.min_valid);
	if (c->capa_authtype) {
		put_item("capability[]", "authtype");
		put_item("authtype", "Bearer");
	}
	put_item("username", acct->user);
	put_item("password", ts.access_token);
	put_item("password_expiry_utc", expiry);
	mc_token_set_clear(&ts);
	return cmd_flush_stdout(acct->name);
}

/* Equal secrets, compared in constant time once their lengths agree. */
static int
same_secret(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

static int
store_password(const struct mc_account *acct, struct store *st,
    const char *pw)
{
	char *old = NULL, *msg = NULL, *err = NULL;
	const char *p;
	int rc, serr;

	serr = store_get(st, acct->name, MC_KIND_PASSWORD, &old, &msg);
	if (serr == STORE_OK) {
		if (!same_secret(old, pw))
			cmd_note("%s: git logged in with a password other than "
			    "the stored one; the stored one is kept: 'mailcred "
			    "password set %s' replaces it", acct->name,
			    acct->name);
		store_secret_free(old);
		return 0;
	}
	if (serr != STORE_ENOTFOUND) {
		rc = mc_store_error(serr, msg, "", &err);
		return cmd_fail(acct->name, rc, err);
	}
	free(msg);
	msg = NULL;
	for (p = pw; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return cmd_fail(acct->name, MC_ERR_DATA, strdup("the "
			    "password git used holds a control character: not "
			    "stored"));
	serr = store_put(st, acct->name, MC_KIND_PASSWORD, pw, &msg);
	rc = mc_store_error(serr, msg, "", &err);
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, err);
	cmd_note("%s: the app password git logged in with is now stored in "
	    "the %s", acct->name, store_backend_name(acct->store));
	return 0;
}

static int
erase_password(const struct mc_account *acct, struct store *st,
    const char *pw)
{
	char *old = NULL, *msg = NULL;
	int serr;

	serr = store_get(st, acct->name, MC_KIND_PASSWORD, &old, &msg);
	free(msg);
	if (serr == STORE_OK && same_secret(old, pw))
		cmd_note("%s: the server refused the stored app password; it "
		    "is kept (a refusal may pass): if it was revoked, run "
		    "'mailcred password set %s'", acct->name, acct->name);
	store_secret_free(old);
	return 0;
}

/* The refused password is the cached access token: refresh it now. */
static int
erase_token(const struct mc_account *acct, const char *pw)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	char *msg = NULL;
	int rc, cached;

	if (mc_token_load(acct, 0, &ts, &msg) != MC_OK) {
		free(msg);
		return 0;
	}
	cached = ts.access_token != NULL && same_secret(ts.access_token, pw);
	mc_token_set_clear(&ts);
	if (!cached)
		return 0;
	to.force = 1;
	rc = cmd_get_token(acct, &to, &ts);
	mc_token_set_clear(&ts);
	return rc;
}

/* Does the configuration file (or what -c names) exist at all? */
static int
config_exists(void)
{
	struct stat st;
	char *path = NULL;
	int yes;

	if (mc_config_path(g_opts.config, &path, NULL) != MC_OK)
		return 1;	/* let the load say what is wrong */
	yes = stat(path, &st) == 0 || errno != ENOENT;
	free(path);
	return yes;
}

static int
run(const char *action, const struct mc_gitcred *c)
{
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	struct store *st = NULL;
	char *msg = NULL;
	int rc;

	/* No configuration file: no account can match, so git goes on. */
	if (!config_exists())
		return 0;
	rc = cmd_load_config(NULL, &cfg);
	if (rc == 0)
		rc = find_account(cfg, c, &acct);
	if (rc != 0 || acct == NULL)
		goto out;
	if (acct->auth == MC_AUTH_OAUTH2) {
		if (strcmp(action, "get") == 0)
			rc = answer_token(acct, c);
		else if (strcmp(action, "erase") == 0 && c->password != NULL)
			rc = erase_token(acct, c->password);
		goto out;
	}
	if (strcmp(action, "get") != 0 && c->password == NULL)
		goto out;
	rc = mc_store_open(acct, 0, &st, &msg);
	if (rc != MC_OK) {
		rc = cmd_fail(acct->name, rc, msg);
		goto out;
	}
	if (strcmp(action, "get") == 0)
		rc = answer_password(acct, st);
	else if (strcmp(action, "store") == 0)
		rc = store_password(acct, st, c->password);
	else
		rc = erase_password(acct, st, c->password);
out:
	store_close(st);
	mc_account_free(acct);
	mc_config_free(cfg);
	return rc;
}

int
cmd_gitcred(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct mc_gitcred c = MC_GITCRED_INIT;
	const char *action;
	char *buf = NULL, *msg = NULL;
	size_t len = 0;
	int opt, rc;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:c:vqh", longopts, NULL)) !=
	    -1) {
		switch (opt) {
		case 'c':
			g_opts.config = optarg;
			break;
		case 'v':
			g_opts.verbose = 1;
			break;
		case 'q':
			g_opts.quiet = 1;
			break;
		case 'h':
			printf("usage: %s\n\ngit's credential helper: answers "
			    "git send-email and git imap-send with the app\n"
			    "password or a valid access token of the mailcred "
			    "account whose user and\nhost match. See "
			    "git-credential-mailcred(1).\n", GITCRED_SYNOPSIS);
			exit(cmd_flush_stdout(NULL));
		case ':':
			gitcred_usage("option '%s' needs an argument",
			    argv[optind - 1]);
		default:
			gitcred_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		gitcred_usage("missing %s", "get, store or erase");
	if (optind + 1 < argc)
		gitcred_usage("extra argument '%s'", argv[optind + 1]);
	action = argv[optind];
	if (strcmp(action, "capability") == 0) {
		printf("version 0\ncapability authtype\n");
		return cmd_flush_stdout(NULL);
	}
	/* Unknown actions are for a later protocol: ignored, as git asks. */
	if (strcmp(action, "get") != 0 && strcmp(action, "store") != 0 &&
	    strcmp(action, "erase") != 0)
		return 0;

	rc = read_input(&buf, &len, &msg);
	if (rc == MC_OK)
		rc = mc_gitcred_parse(buf, len, &c, &msg);
	if (buf != NULL) {
		mc_wipe(buf, len);
		free(buf);
	}
	if (rc != MC_OK)
		return cmd_fail(NULL, rc, msg);
	rc = 0;
	if (mc_gitcred_protocol_known(&c) && c.host != NULL)
		rc = run(action, &c);
	mc_gitcred_clear(&c);
	return rc;
}
