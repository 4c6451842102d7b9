/* Unit tests: auth/config - parsing, presets, resolution, hostile files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/config.h"
#include "auth/err.h"

/* Parses text; returns the code, and the config or message. */
static int
parse(const char *text, struct mc_config **cfg, char **msg)
{
	*msg = NULL;
	return mc_config_parse("test.conf", text, strlen(text), cfg, msg);
}

static struct mc_account *
resolve_ok(const char *text, const char *name, struct mc_config **cfg)
{
	struct mc_account *a = NULL;
	char *msg = NULL;

	assert_int_equal(parse(text, cfg, &msg), MC_OK);
	if (mc_account_resolve(*cfg, name, &a, &msg) != MC_OK)
		fail_msg("resolve failed: %s", msg);
	return a;
}

/* Expects parse or resolve to fail with a message containing want. */
static void
expect_error(const char *text, const char *name, const char *want)
{
	struct mc_config *cfg = NULL;
	struct mc_account *a = NULL;
	char *msg = NULL;
	int rc;

	rc = parse(text, &cfg, &msg);
	if (rc == MC_OK && name != NULL)
		rc = mc_account_resolve(cfg, name, &a, &msg);
	assert_int_equal(rc, MC_ERR_CONFIG);
	assert_non_null(msg);
	if (strstr(msg, want) == NULL)
		fail_msg("message '%s' lacks '%s'", msg, want);
	assert_null(a);
	free(msg);
	mc_config_free(cfg);
}

static void
test_google_defaults(void **state)
{
	struct mc_config *cfg;
	struct mc_account *a;

	(void)state;
	a = resolve_ok("[account me@gmail.com]\nprovider = google\n"
	    "client_id = abc.apps.googleusercontent.com\n", "me@gmail.com",
	    &cfg);
	assert_string_equal(a->user, "me@gmail.com");
	assert_string_equal(a->scope, "https://mail.google.com/");
	assert_string_equal(a->token_endpoint,
	    "https://oauth2.googleapis.com/token");
	assert_string_equal(a->device_authorization_endpoint,
	    "https://oauth2.googleapis.com/device/code");
	assert_string_equal(a->auth_params, "access_type=offline&prompt=consent");
	assert_string_equal(a->smtp, "smtp://smtp.gmail.com:587");
	assert_string_equal(a->imap, "imaps://imap.gmail.com:993");
	assert_int_equal(a->flow, MC_FLOW_BROWSER);
	assert_int_equal(a->auth, MC_AUTH_OAUTH2);
	assert_int_equal(a->store, STORE_KEYRING);
	assert_int_equal(a->timeout, 30);
	assert_true(a->google);
	assert_null(a->client_secret);
	mc_account_free(a);
	mc_config_free(cfg);
}

static void
test_microsoft_tenant(void **state)
{
	struct mc_config *cfg;
	struct mc_account *a;

	(void)state;
	a = resolve_ok("[account me@contoso.com]\nprovider = microsoft\n"
	    "client_id = 1234\ntenant = organizations\n", "me@contoso.com",
	    &cfg);
	assert_string_equal(a->token_endpoint, "https://login.microsoftonline"
	    ".com/organizations/oauth2/v2.0/token");
	assert_string_equal(a->device_authorization_endpoint,
	    "https://login.microsoftonline.com/organizations/oauth2/v2.0/"
	    "devicecode");
	assert_int_equal(a->flow, MC_FLOW_DEVICE);
	assert_non_null(strstr(a->scope, "offline_access"));
	assert_string_equal(a->smtp, "smtp://smtp.office365.com:587");
	assert_false(a->google);
	mc_account_free(a);
	mc_config_free(cfg);

	a = resolve_ok("[account x]\nprovider = microsoft\nclient_id = 1\n",
	    "x", &cfg);
	assert_non_null(strstr(a->token_endpoint, "/common/"));
	mc_account_free(a);
	mc_config_free(cfg);
	expect_error("[account x]\nprovider = microsoft\nclient_id = 1\n"
	    "tenant = a/b\n", "x", "test.conf:4: tenant");
}

/*
 * {tenant} is replaced once, in the text as written: a tenant that holds
 * the tag itself made the old loop spin or grow without end (the alarm
 * turns a hang into a failure). Braces in a tenant are refused.
 */
static void
test_tenant_substitution(void **state)
{
	struct mc_config *cfg;
	struct mc_account *a;

	(void)state;
	alarm(10);
	expect_error("[account x]\nprovider = microsoft\nclient_id = 1\n"
	    "tenant = {tenant}\n", "x", "test.conf:4: tenant = {tenant}: "
	    "expected");
	expect_error("[account x]\nprovider = microsoft\nclient_id = 1\n"
	    "tenant = x{tenant}\n", "x", "test.conf:4: tenant = x{tenant}: "
	    "expected");
	expect_error("[account x]\nprovider = microsoft\nclient_id = 1\n"
	    "tenant = a}b{\n", "x", "test.conf:4: tenant");
	expect_error("[account x]\nprovider = microsoft\nclient_id = 1\n"
	    "tenant = a b\n", "x", "test.conf:4: tenant");
	alarm(0);

	/* Every tag of the original is replaced, and nothing else. */
	a = resolve_ok("[provider p]\n"
	    "token_endpoint = https://id.example/{tenant}/t/{tenant}?x={tenant}\n"
	    "revocation_endpoint = https://id.example/x{tenant}{tenant}y\n"
	    "[account x]\nprovider = p\nclient_id = 1\n"
	    "tenant = contoso.onmicrosoft.com\n", "x", &cfg);
	assert_string_equal(a->token_endpoint, "https://id.example/"
	    "contoso.onmicrosoft.com/t/contoso.onmicrosoft.com?x="
	    "contoso.onmicrosoft.com");
	assert_string_equal(a->revocation_endpoint, "https://id.example/"
	    "xcontoso.onmicrosoft.comcontoso.onmicrosoft.comy");
	mc_account_free(a);
	mc_config_free(cfg);
	a = resolve_ok("[account x]\nprovider = microsoft\nclient_id = 1\n"
	    "tenant = 9188040d-6c67-4c5b-b112-36a304b66dad\n", "x", &cfg);
	assert_string_equal(a->token_endpoint, "https://login.microsoftonline"
	    ".com/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/v2.0/token");
	mc_account_free(a);
	mc_config_free(cfg);
}

static void
test_layering(void **state)
{
	struct mc_config *cfg;
	struct mc_account *a;
	const char *text =
	    "# a comment\n"
	    "; another\n"
	    "[provider corp]\n"
	    "token_endpoint = https://id.corp.example/token\n"
	    "device_authorization_endpoint = https://id.corp.example/device\n"
	    "scope = mail offline_access\n"
	    "client_id = corp-client\n"
	    "\n"
	    "[account alice]\n"
	    "provider = corp\n"
	    "user = alice@corp.example\n"
	    "scope = \"mail\"\n"
	    "timeout = 7\n"
	    "store = file\n"
	    "[provider google]\n"
	    "client_id = shared-google-id\n"
	    "[account g]\n"
	    "provider = google\n";

	(void)state;
	a = resolve_ok(text, "alice", &cfg);
	assert_string_equal(a->client_id, "corp-client");
	assert_string_equal(a->scope, "mail");
	assert_string_equal(a->user, "alice@corp.example");
	assert_int_equal(a->flow, MC_FLOW_DEVICE);
	assert_int_equal(a->timeout, 7);
	assert_int_equal(a->store, STORE_FILE);
	assert_int_equal(mc_config_naccounts(cfg), 2);
	assert_string_equal(mc_config_account_name(cfg, 0), "alice");
	assert_string_equal(mc_config_account_name(cfg, 1), "g");
	mc_account_free(a);
	/* A [provider google] section adjusts the built-in preset. */
	assert_int_equal(mc_account_resolve(cfg, "g", &a, NULL), MC_OK);
	assert_string_equal(a->client_id, "shared-google-id");
	assert_string_equal(a->scope, "https://mail.google.com/");
	mc_account_free(a);
	mc_config_free(cfg);
}

static void
test_no_provider(void **state)
{
	struct mc_config *cfg;
	struct mc_account *a;

	(void)state;
	a = resolve_ok("[account self]\nclient_id = c\nclient_secret = s\n"
	    "token_endpoint = http://127.0.0.1:9/token\n"
	    "device_authorization_endpoint = http://127.0.0.1:9/device\n",
	    "self", &cfg);
	assert_null(a->provider);
	assert_string_equal(a->client_secret, "s");
	assert_int_equal(a->flow, MC_FLOW_DEVICE);
	assert_null(a->scope);
	mc_account_free(a);
	mc_config_free(cfg);
	expect_error("[account self]\nclient_id = c\n", "self",
	    "no token_endpoint");
	expect_error("[account self]\ntoken_endpoint = https://x/t\n", "self",
	    "no client_id");
	/* An app-password account needs no OAuth client. */
	a = resolve_ok("[account p]\nauth = password\n", "p", &cfg);
	assert_int_equal(a->auth, MC_AUTH_PASSWORD);
	mc_account_free(a);
	mc_config_free(cfg);
}

/*
 * Without flow =, a custom provider logs in with the device flow when it
 * has a device endpoint (with or without an authorization endpoint), else
 * with the browser flow; the presets keep theirs; flow = always wins.
 */
static void
test_default_flow(void **state)
{
	static const char base[] = "[account a]\nclient_id = c\n"
	    "token_endpoint = https://id.example/token\n";
	static const struct {
		const char *extra;
		enum mc_flow want;
	} cases[] = {
		{ "device_authorization_endpoint = https://id.example/dev\n",
		    MC_FLOW_DEVICE },
		{ "device_authorization_endpoint = https://id.example/dev\n"
		    "authorization_endpoint = https://id.example/auth\n",
		    MC_FLOW_DEVICE },
		{ "authorization_endpoint = https://id.example/auth\n",
		    MC_FLOW_BROWSER },
		/* An empty value is no endpoint. */
		{ "device_authorization_endpoint =\n"
		    "authorization_endpoint = https://id.example/auth\n",
		    MC_FLOW_BROWSER },
		{ "", MC_FLOW_BROWSER },
		{ "device_authorization_endpoint = https://id.example/dev\n"
		    "flow = manual\n", MC_FLOW_MANUAL },
		{ "provider = google\n", MC_FLOW_BROWSER },
		{ "provider = microsoft\n", MC_FLOW_DEVICE },
		{ "provider = google\nflow = device\n", MC_FLOW_DEVICE },
	};
	struct mc_config *cfg;
	struct mc_account *a;
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(snprintf(text, sizeof(text), "%s%s", base,
		    cases[i].extra) < (int)sizeof(text));
		a = resolve_ok(text, "a", &cfg);
		if (a->flow != cases[i].want)
			fail_msg("case %zu: flow %s, want %s", i,
			    mc_flow_name(a->flow), mc_flow_name(cases[i].want));
		mc_account_free(a);
		mc_config_free(cfg);
	}
}

static void
test_errors_name_line(void **state)
{
	(void)state;
	expect_error("[account a]\nprovider = google\nclient_ld = x\n", NULL,
	    "test.conf:3: unknown key 'client_ld' (did you mean 'client_id'?)");
	expect_error("[account a]\nfrobnicate = 1\n", NULL,
	    "test.conf:2: unknown key 'frobnicate'");
	expect_error("client_id = x\n", NULL, "test.conf:1: 'client_id' is "
	    "outside any section");
	expect_error("[acount a]\n", NULL, "test.conf:1: unknown section");
	expect_error("[account a\n", NULL, "test.conf:1: section header is "
	    "missing its closing ']'");
	expect_error("[account ]\n", NULL, "test.conf:1: a section needs a "
	    "name");
	expect_error("[account \"\"]\n", NULL, "test.conf:1: a section needs "
	    "a name");
	expect_error("[account a]\nuser = x\nuser = y\n", NULL,
	    "test.conf:3: 'user' is already set at line 2");
	expect_error("[account a]\n[account a]\n", NULL,
	    "test.conf:2: [account a] is already defined at line 1");
	expect_error("[account a]\njust words\n", NULL,
	    "test.conf:2: expected 'key = value'");
	expect_error("[provider p]\nuser = x\n", NULL,
	    "test.conf:2: 'user' belongs in an [account] section");
	expect_error("[account a]\nprovider = yahoo\nclient_id = 1\n", "a",
	    "test.conf:2: unknown provider 'yahoo'");
	expect_error("[account a]\nprovider = google\nclient_id = 1\n"
	    "flow = carrier-pigeon\n", "a", "test.conf:4: flow = "
	    "carrier-pigeon: expected device, browser or manual");
	expect_error("[account a]\nauth = token\n", "a", "test.conf:2: auth");
	expect_error("[account a]\nauth = password\nstore = disk\n", "a",
	    "test.conf:3: store");
	expect_error("[account a]\nauth = password\ntimeout = 0\n", "a",
	    "test.conf:3: timeout");
	expect_error("[account a]\nauth = password\ntimeout = 12x\n", "a",
	    "test.conf:3: timeout");
	expect_error("[account a]\nauth = password\ntimeout = "
	    "99999999999999999999\n", "a", "test.conf:3: timeout");
	expect_error("[account a]\n", "b", "no [account b] in test.conf");
}

static void
test_hostile_bytes(void **state)
{
	struct mc_config *cfg = NULL;
	char *msg = NULL, *big;
	static const char nul[] = "[account a]\nuser = x\0y\n";
	static const char ctl[] = "[account a]\nuser = x\033[31m\n";

	(void)state;
	assert_int_equal(mc_config_parse("t", nul, sizeof(nul) - 1, &cfg,
	    &msg), MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "t:2: NUL byte"));
	free(msg);
	msg = NULL;
	assert_int_equal(mc_config_parse("t", ctl, sizeof(ctl) - 1, &cfg,
	    &msg), MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "t:2: the value of 'user' holds a "
	    "control character"));
	free(msg);
	msg = NULL;

	big = malloc(10000);
	assert_non_null(big);
	memcpy(big, "[account a]\nuser = ", 19);
	memset(big + 19, 'x', 10000 - 19);
	assert_int_equal(mc_config_parse("t", big, 10000, &cfg, &msg),
	    MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "t:2: line longer than"));
	free(msg);
	free(big);
}

static void
test_crlf_bom_quotes(void **state)
{
	struct mc_config *cfg;
	struct mc_account *a;

	(void)state;
	a = resolve_ok("\xef\xbb\xbf[account \"me@x.org\"]\r\n"
	    "  auth = password \r\n\tuser=\"me\"\r\n", "me@x.org", &cfg);
	assert_string_equal(a->user, "me");
	assert_int_equal(a->auth, MC_AUTH_PASSWORD);
	mc_account_free(a);
	mc_config_free(cfg);
}

/*
 * Trailing comments: a blank, then '#' or ';', after a value or a section
 * header. A '#' inside a word stays; a quoted value holds anything.
 */
static void
test_trailing_comments(void **state)
{
	struct mc_config *cfg;
	struct mc_account *a;

	(void)state;
	/* README's example, which used to fail with "unknown provider". */
	a = resolve_ok("[account me@example.com]\n"
	    "provider = microsoft          # or google, or your own "
	    "[provider NAME]\n"
	    "client_id = 0123abcd-...      # your OAuth client's ID\n",
	    "me@example.com", &cfg);
	assert_string_equal(a->provider, "microsoft");
	assert_string_equal(a->client_id, "0123abcd-...");
	mc_account_free(a);
	mc_config_free(cfg);

	a = resolve_ok("[account a]   # the work account\n"
	    "auth = password\t; an app password\n"
	    "user =#x\n"
	    "token_endpoint = https://mail.example:465/#frag;x # comment\n"
	    "client_secret = ab#cd;ef\n"
	    "on_reauth = notify-send \"mailcred\" \"log in\"  # quotes kept\n"
	    "scope =   # nothing\n"
	    "client_id = \"imaps://x # not a comment ; nor this\"# but this\n"
	    "auth_params = \"say \\\"hi\\\" \\\\ there\" ; escapes\n"
	    "[provider p] ; a comment\n"
	    "[account \"b\"] # quoted name\n"
	    "auth = password\n", "a", &cfg);
	assert_int_equal(a->auth, MC_AUTH_PASSWORD);
	assert_string_equal(a->user, "#x");
	assert_string_equal(a->token_endpoint, "https://mail.example:465/#frag;x");
	assert_string_equal(a->client_secret, "ab#cd;ef");
	assert_string_equal(a->on_reauth, "notify-send \"mailcred\" \"log in\"");
	assert_string_equal(a->scope, "");
	assert_string_equal(a->client_id, "imaps://x # not a comment ; nor this");
	assert_string_equal(a->auth_params, "say \"hi\" \\ there");
	assert_string_equal(mc_config_account_name(cfg, 1), "b");
	mc_account_free(a);
	mc_config_free(cfg);

	expect_error("[account a]\nuser = \"abc\n", NULL,
	    "test.conf:2: the value of 'user': the closing '\"' is missing");
	expect_error("[account a]\nuser = \"a\\nb\"\n", NULL,
	    "test.conf:2: the value of 'user': in quotes, a backslash must");
	expect_error("[account a]\nuser = \"a\\\"\n", NULL,
	    "test.conf:2: the value of 'user': the closing '\"' is missing");
	expect_error("[account a]\non_reauth = \"a\" \"b\"\n", NULL,
	    "test.conf:2: the value of 'on_reauth' goes on after its closing "
	    "'\"': only a comment may follow");
	expect_error("[account a] b\n", NULL, "test.conf:1: only a comment");
	expect_error("[account \"a\" b]\n", NULL, "test.conf:1: expected ']' "
	    "after the quoted section name");
	expect_error("[account \"a]\n", NULL, "test.conf:1: the section name: "
	    "the closing '\"' is missing");
	expect_error("[account a # b\n", NULL, "test.conf:1: section header is "
	    "missing its closing ']'");
	expect_error("[account a]\nuser = \"x\033\"\n", NULL,
	    "test.conf:2: the value of 'user' holds a control character");
}

/* Random and mutated input must never crash or leak; errors are clean. */
static void
test_fuzz(void **state)
{
	static const char seed[] = "[account a@b]\nprovider = google\n"
	    "client_id = x\n[provider p]\nscope = s\n# c\n";
	struct mc_config *cfg;
	struct mc_account *a;
	char buf[sizeof(seed)];
	char *msg;
	int i, j, rc;

	(void)state;
	srand(1234);
	for (i = 0; i < 20000; i++) {
		memcpy(buf, seed, sizeof(seed));
		for (j = 0; j < 1 + i % 4; j++)
			buf[rand() % (sizeof(seed) - 1)] = (char)(rand() % 256);
		cfg = NULL;
		msg = NULL;
		rc = mc_config_parse("f", buf, sizeof(seed) - 1 - (size_t)(i %
		    7), &cfg, &msg);
		if (rc == MC_OK) {
			assert_null(msg);
			a = NULL;
			if (mc_account_resolve(cfg, "a@b", &a, &msg) != MC_OK)
				assert_non_null(msg);
			mc_account_free(a);
		} else {
			assert_int_equal(rc, MC_ERR_CONFIG);
			assert_non_null(msg);
			assert_null(strchr(msg, '\n'));
		}
		free(msg);
		mc_config_free(cfg);
	}
}

static void
test_permissions_warning(void **state)
{
	char dir[] = "/tmp/mc-config-XXXXXX", path[64];
	static const char secret[] = "[account a]\nclient_secret = s\n";
	struct mc_config *cfg = NULL;
	char *msg = NULL;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true(snprintf(path, sizeof(path), "%s/config", dir)
	    < (int)sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, secret, sizeof(secret) - 1),
	    (ssize_t)sizeof(secret) - 1);
	close(fd);
	assert_int_equal(mc_config_load(path, &cfg, &msg), MC_OK);
	assert_int_equal(mc_config_nwarnings(cfg), 0);
	mc_config_free(cfg);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(mc_config_load(path, &cfg, &msg), MC_OK);
	assert_int_equal(mc_config_nwarnings(cfg), 1);
	assert_non_null(strstr(mc_config_warning(cfg, 0), "holds a client "
	    "secret and others can read it: chmod 600"));
	mc_config_free(cfg);
	unlink(path);
	assert_int_equal(mc_config_load(path, &cfg, &msg), MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "no configuration file"));
	free(msg);
	rmdir(dir);
}

/*
 * A FIFO given as the configuration must not block (the old open did, for
 * ever: the alarm turns that into a failure), nor may a directory or a
 * device be read: each is refused at once, naming the path, exit 78.
 */
static void
test_not_regular(void **state)
{
	char dir[] = "/tmp/mc-config-XXXXXX", fifo[64];
	const char *paths[] = { fifo, dir, "/dev/null" };
	const char *kinds[] = { "a FIFO", "a directory", "a character device" };
	struct mc_config *cfg = NULL;
	char *msg = NULL, want[128];
	size_t i;
	int rc;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true(snprintf(fifo, sizeof(fifo), "%s/config", dir)
	    < (int)sizeof(fifo));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10);
	for (i = 0; i < 3; i++) {
		msg = NULL;
		rc = mc_config_load(paths[i], &cfg, &msg);
		assert_int_equal(rc, MC_ERR_CONFIG);
		assert_int_equal(mc_exit_status(rc), 78);
		assert_null(cfg);
		assert_non_null(msg);
		assert_true(snprintf(want, sizeof(want),
		    "%s is %s, not a regular file",
		    paths[i], kinds[i]) < (int)sizeof(want));
		if (strstr(msg, want) == NULL)
			fail_msg("message '%s' lacks '%s'", msg, want);
		free(msg);
	}
	alarm(0);
	unlink(fifo);
	rmdir(dir);
}

/* Writes text to path with mode; returns path for chaining. */
static const char *
write_file(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* Expects mc_config_load to refuse path, exit 78, saying want. */
static void
expect_refused(const char *path, const char *want)
{
	struct mc_config *cfg = NULL;
	char *msg = NULL;
	int rc;

	rc = mc_config_load(path, &cfg, &msg);
	assert_int_equal(rc, MC_ERR_CONFIG);
	assert_int_equal(mc_exit_status(rc), 78);
	assert_null(cfg);
	assert_non_null(msg);
	if (strstr(msg, want) == NULL)
		fail_msg("message '%s' lacks '%s'", msg, want);
	assert_null(strchr(msg, '\n'));
	free(msg);
}

static void
expect_loaded(const char *path)
{
	struct mc_config *cfg = NULL;
	char *msg = NULL;

	if (mc_config_load(path, &cfg, &msg) != MC_OK)
		fail_msg("%s refused: %s", path, msg);
	mc_config_free(cfg);
}

/*
 * The configuration decides where tokens go and what on_reauth runs: as
 * with OpenSSH's StrictModes, it must be the user's or root's, writable by
 * its owner only, in a directory that others cannot change (or that has
 * the sticky bit), whether named directly or through a symbolic link.
 */
static void
test_trust(void **state)
{
	static const char text[] = "[account a]\nauth = password\n";
	char dir[] = "/tmp/mc-config-XXXXXX", sub[64], path[96], link[96];
	char other[96], want[256];
	struct passwd *pw;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true(snprintf(path, sizeof(path), "%s/config", dir)
	    < (int)sizeof(path));
	expect_loaded(write_file(path, text, 0600));
	expect_loaded(write_file(path, text, 0644));
	expect_loaded(write_file(path, text, 0400));

	assert_true(snprintf(want, sizeof(want),
	    "%s can be changed by others (mode "
	    "0620)", path) < (int)sizeof(want));
	expect_refused(write_file(path, text, 0620), want);
	assert_true(snprintf(want, sizeof(want), "chmod go-w %s", path)
	    < (int)sizeof(want));
	expect_refused(path, want);
	expect_refused(write_file(path, text, 0602), want);
	expect_refused(write_file(path, text, 0666), want);

	/* The directory: not writable by others unless sticky. */
	write_file(path, text, 0600);
	assert_int_equal(chmod(dir, 0770), 0);
	assert_true(snprintf(want, sizeof(want),
	    "its directory %s can be changed by "
	    "others (mode 0770), who could replace the configuration: chmod "
	    "go-w %s", dir, dir) < (int)sizeof(want));
	expect_refused(path, want);
	assert_int_equal(chmod(dir, 0703), 0);
	expect_refused(path, "can be changed by others (mode 0703)");
	assert_int_equal(chmod(dir, 01777), 0);
	expect_loaded(path);
	assert_int_equal(chmod(dir, 0755), 0);
	expect_loaded(path);

	/* Through a symbolic link: both directories count. */
	assert_true(snprintf(sub, sizeof(sub), "%s/real", dir)
	    < (int)sizeof(sub));
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_true(snprintf(other, sizeof(other), "%s/config", sub)
	    < (int)sizeof(other));
	write_file(other, text, 0600);
	assert_true(snprintf(link, sizeof(link), "%s/link", dir)
	    < (int)sizeof(link));
	assert_int_equal(symlink(other, link), 0);
	expect_loaded(link);
	assert_int_equal(chmod(sub, 0777), 0);
	assert_true(snprintf(want, sizeof(want),
	    "its directory %s can be changed by "
	    "others (mode 0777)", sub) < (int)sizeof(want));
	expect_refused(link, want);
	assert_int_equal(chmod(sub, 0700), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_true(snprintf(want, sizeof(want),
	    "its directory %s can be changed by "
	    "others (mode 0777)", dir) < (int)sizeof(want));
	expect_refused(link, want);
	assert_int_equal(chmod(dir, 0700), 0);

	/* Another user's file (root can make one). */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		pw = getpwuid(geteuid());
		assert_non_null(pw);
		assert_true(snprintf(want, sizeof(want),
		    "%s belongs to uid 65534, not to "
		    "you or root", path) < (int)sizeof(want));
		expect_refused(path, want);
		assert_true(snprintf(want, sizeof(want),
		    "chown %s %s", pw->pw_name, path) < (int)sizeof(want));
		expect_refused(path, want);
	} else {
		print_message("not root: another user's file is not tested\n");
	}

	unlink(link);
	unlink(other);
	rmdir(sub);
	unlink(path);
	rmdir(dir);
}

/* Does this process have libcurl mapped? */
static int
curl_loaded(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "libcurl") != NULL)
			found = 1;
	fclose(f);
	return found;
}

/*
 * Endpoint URLs are checked when the account is resolved, naming the line
 * they came from, without loading libcurl.
 */
static void
test_endpoint_urls(void **state)
{
	struct mc_config *cfg;
	struct mc_account *a;

	(void)state;
	expect_error("[account a]\nclient_id = x\n"
	    "token_endpoint = http://id.example/token\n", "a",
	    "test.conf:3: token_endpoint = http://id.example/token uses "
	    "plain http to a host that is not loopback: use https://");
	expect_error("[provider p]\n"
	    "device_authorization_endpoint = http://127.0.0.1@evil/d\n"
	    "[account a]\nprovider = p\nclient_id = x\n"
	    "token_endpoint = https://id.example/t\n", "a",
	    "test.conf:2: device_authorization_endpoint = "
	    "http://127.0.0.1@evil/d is not a valid URL: it holds '@' before "
	    "the host");
	expect_error("[account a]\nprovider = google\nclient_id = x\n"
	    "authorization_endpoint = https://127.1/auth\n", "a",
	    "test.conf:4: authorization_endpoint = https://127.1/auth is not "
	    "a valid URL");
	expect_error("[account a]\nprovider = google\nclient_id = x\n"
	    "revocation_endpoint = ftp://id.example/revoke\n", "a",
	    "test.conf:4: revocation_endpoint = ftp://id.example/revoke: only "
	    "https:// URLs are allowed");
	expect_error("[account a]\nprovider = microsoft\nclient_id = x\n"
	    "redirect_uri = https://127.0.0.1/\n", "a",
	    "test.conf:4: redirect_uri = https://127.0.0.1/ must be http:// "
	    "to a loopback host");
	expect_error("[account a]\nprovider = google\nclient_id = x\n"
	    "redirect_uri = http://192.168.1.1/\n", "a",
	    "test.conf:4: redirect_uri = http://192.168.1.1/ must be http://");
	/* An app-password account is no exception. */
	expect_error("[account a]\nauth = password\n"
	    "token_endpoint = http://id.example/token\n", "a",
	    "test.conf:3: token_endpoint");

	a = resolve_ok("[provider p]\n"
	    "device_authorization_endpoint = http://[::1]:9/device\n"
	    "token_endpoint = http://localhost:9/token\n"
	    "revocation_endpoint =\n"
	    "redirect_uri = http://127.0.0.1:8080/cb\n"
	    "[account a]\nprovider = p\nclient_id = x\n", "a", &cfg);
	assert_string_equal(a->token_endpoint, "http://localhost:9/token");
	mc_account_free(a);
	mc_config_free(cfg);
	a = resolve_ok("[account a]\nprovider = microsoft\nclient_id = x\n"
	    "tenant = contoso.onmicrosoft.com\n", "a", &cfg);
	mc_account_free(a);
	mc_config_free(cfg);
	assert_false(curl_loaded());
}

static void
test_path(void **state)
{
	char *p = NULL;

	(void)state;
	setenv("HOME", "/home/u", 1);
	unsetenv("MAILCRED_CONFIG");
	unsetenv("XDG_CONFIG_HOME");
	assert_int_equal(mc_config_path(NULL, &p, NULL), MC_OK);
	assert_string_equal(p, "/home/u/.config/mailcred/config");
	free(p);
	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	assert_int_equal(mc_config_path(NULL, &p, NULL), MC_OK);
	assert_string_equal(p, "/xdg/mailcred/config");
	free(p);
	setenv("MAILCRED_CONFIG", "/env/conf", 1);
	assert_int_equal(mc_config_path(NULL, &p, NULL), MC_OK);
	assert_string_equal(p, "/env/conf");
	free(p);
	assert_int_equal(mc_config_path("/opt/c", &p, NULL), MC_OK);
	assert_string_equal(p, "/opt/c");
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_google_defaults),
		cmocka_unit_test(test_microsoft_tenant),
		cmocka_unit_test(test_tenant_substitution),
		cmocka_unit_test(test_layering),
		cmocka_unit_test(test_no_provider),
		cmocka_unit_test(test_errors_name_line),
		cmocka_unit_test(test_hostile_bytes),
		cmocka_unit_test(test_crlf_bom_quotes),
		cmocka_unit_test(test_trailing_comments),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_permissions_warning),
		cmocka_unit_test(test_not_regular),
		cmocka_unit_test(test_trust),
		cmocka_unit_test(test_endpoint_urls),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_default_flow),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
