/*
 * Unit tests: auth/mailbox - the IMAP and POP3 dialogues against a
 * scripted connection. This file defines the few auth/wire.h and
 * auth/smtp.h functions auth/mailbox.o uses, so the linker takes them from
 * here rather than from libmailcred.a: what mailcred sends is recorded,
 * what the server says comes from a script. Paths no test server takes:
 * IMAP without SASL-IR (the "+" continuation), POP3's 255-byte limit,
 * LOGIN quoting and LOGINDISABLED, the challenge answers, [ALERT] lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/err.h"
#include "auth/mailbox.h"
#include "auth/sasl.h"

#define MAXSENT 16

struct mc_wire {
	enum mc_wire_proto proto;
	const char *const *caps;	/* NULL-terminated */
	const char *const *script;	/* the server's lines, NULL-terminated */
	size_t pos;
	char *sent[MAXSENT];
	int secret[MAXSENT];
	size_t nsent;
};

/* ---- the fake auth/wire.h ---- */

int
mc_wire_timeout(const struct mc_wire *w)
{
	(void)w;
	return 30;
}

enum mc_wire_proto
mc_wire_protocol(const struct mc_wire *w)
{
	return w->proto;
}

const char *
mc_wire_host(const struct mc_wire *w)
{
	(void)w;
	return "mail.example.com";
}

int
mc_wire_port(const struct mc_wire *w)
{
	return w->proto == MC_WIRE_IMAP ? 993 : 995;
}

const char *
mc_wire_cap_find(const struct mc_wire *w, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; w->caps[i] != NULL; i++) {
		if (strncasecmp(w->caps[i], name, n) != 0)
			continue;
		if (w->caps[i][n] == '\0')
			return "";
		if (w->caps[i][n] == ' ')
			return w->caps[i] + n + 1;
	}
	return NULL;
}

int
mc_wire_has_mech(const struct mc_wire *w, const char *mech)
{
	char want[64];
	const char *sasl;
	size_t i;

	if (w->proto == MC_WIRE_IMAP) {
		assert_true(snprintf(want, sizeof(want), "AUTH=%s", mech)
		    < (int)sizeof(want));
		for (i = 0; w->caps[i] != NULL; i++)
			if (strcasecmp(w->caps[i], want) == 0)
				return 1;
		return 0;
	}
	sasl = mc_wire_cap_find(w, "SASL");
	return sasl != NULL && strcasestr(sasl, mech) != NULL;
}

int
mc_wire_send_line(struct mc_wire *w, const char *line, int secret,
    char **errmsg)
{
	(void)errmsg;
	assert_true(w->nsent < MAXSENT);
	assert_null(strpbrk(line, "\r\n"));
	w->sent[w->nsent] = strdup(line);
	w->secret[w->nsent] = secret;
	w->nsent++;
	return MC_OK;
}

int
mc_wire_read_line(struct mc_wire *w, char **line, int secret, char **errmsg)
{
	return mc_wire_read_line_until(w, 0, line, secret, errmsg);
}

int
mc_wire_read_line_until(struct mc_wire *w, long long deadline, char **line,
    int secret, char **errmsg)
{
	(void)deadline;
	(void)secret;
	if (w->script[w->pos] == NULL)
		return mc_fail(MC_ERR_NET, errmsg, "connection closed");
	*line = strdup(w->script[w->pos++]);
	return MC_OK;
}

/* ---- the fake auth/smtp.h parts mailbox.o uses ---- */

const char *
mc_login_mech_name(enum mc_login_mech mech)
{
	static const char *const names[] = { "XOAUTH2", "OAUTHBEARER", "PLAIN",
	    "LOGIN" };

	return names[mech];
}

void
mc_login_result_clear(struct mc_login_result *r)
{
	mc_sasl_error_clear(&r->challenge);
	free(r->reply.text);
	free(r->line);
	memset(r, 0, sizeof(*r));
}

/* ---- helpers ---- */

static void
wire_init(struct mc_wire *w, enum mc_wire_proto proto,
    const char *const *caps, const char *const *script)
{
	memset(w, 0, sizeof(*w));
	w->proto = proto;
	w->caps = caps;
	w->script = script;
}

static void
wire_clear(struct mc_wire *w)
{
	size_t i;

	for (i = 0; i < w->nsent; i++)
		free(w->sent[i]);
	w->nsent = 0;
}

/* base64 of the XOAUTH2 string for u and t. */
static char *
xoauth2_b64(const char *u, const char *t)
{
	char raw[512];
	int n;

	n = snprintf(raw, sizeof(raw), "user=%s\001auth=Bearer %s\001\001", u,
	    t);
	assert_true(n > 0 && (size_t)n < sizeof(raw));
	return mc_base64_encode((unsigned char *)raw, (size_t)n);
}

/* Gmail's and Dovecot's error challenges, base64. */
#define CHALLENGE_401 "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2Nv" \
	"cGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ=="
#define CHALLENGE_INVALID "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0="

static void
test_challenges_decode(void **state)
{
	struct mc_sasl_error e = MC_SASL_ERROR_INIT;

	(void)state;
	assert_int_equal(mc_sasl_error_parse(CHALLENGE_401, &e), MC_OK);
	assert_string_equal(e.status, "401");
	assert_string_equal(e.scope, "https://mail.google.com/");
	mc_sasl_error_clear(&e);
	assert_int_equal(mc_sasl_error_parse(CHALLENGE_INVALID, &e), MC_OK);
	assert_string_equal(e.status, "invalid_token");
	mc_sasl_error_clear(&e);
}

/* IMAP with SASL-IR: one line; then LIST and LOGOUT. */
static void
test_imap_sasl_ir(void **state)
{
	static const char *const caps[] = { "IMAP4rev1", "SASL-IR",
	    "AUTH=XOAUTH2", "AUTH=OAUTHBEARER", NULL };
	static const char *const script[] = {
		"* CAPABILITY IMAP4rev1 LITERAL+",
		"a1 OK [CAPABILITY IMAP4rev1] Logged in",
		"* LIST (\\HasNoChildren) \"/\" INBOX",
		"a2 OK List completed",
		"* BYE Logging out",
		"a3 OK Logout completed",
		NULL };
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	struct mc_wire w;
	char *b64, want[600];

	(void)state;
	wire_init(&w, MC_WIRE_IMAP, caps, script);
	assert_int_equal(mc_imap_login(&w, MC_LOGIN_XOAUTH2, "me@example.com",
	    "tok123", &res, NULL), MC_OK);
	b64 = xoauth2_b64("me@example.com", "tok123");
	assert_true(snprintf(want, sizeof(want),
	    "a1 AUTHENTICATE XOAUTH2 %s", b64) < (int)sizeof(want));
	free(b64);
	assert_int_equal(w.nsent, 1);
	assert_string_equal(w.sent[0], want);
	assert_int_equal(w.secret[0], 1);	/* traced as "a1 AUTHENTICATE [redacted]" */
	assert_string_equal(res.line, "a1 OK [CAPABILITY IMAP4rev1] Logged in");
	assert_int_equal(mc_imap_list(&w, &res, NULL), MC_OK);
	assert_string_equal(w.sent[1], "a2 LIST \"\" \"INBOX\"");
	mc_imap_logout(&w);
	assert_string_equal(w.sent[2], "a3 LOGOUT");
	assert_int_equal(w.pos, 6);
	mc_login_result_clear(&res);
	wire_clear(&w);
}

/*
 * IMAP without SASL-IR: the response after the "+"; a refused token's
 * error challenge answered with an empty line (XOAUTH2), decoded.
 */
static void
test_imap_continuation_and_challenge(void **state)
{
	static const char *const caps[] = { "IMAP4rev1", "AUTH=XOAUTH2", NULL };
	static const char *const script[] = {
		"+ ",
		"+ " CHALLENGE_401,
		"a1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
		NULL };
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	struct mc_wire w;
	char *b64;

	(void)state;
	wire_init(&w, MC_WIRE_IMAP, caps, script);
	assert_int_equal(mc_imap_login(&w, MC_LOGIN_XOAUTH2, "me@example.com",
	    "tok", &res, NULL), MC_ERR_AUTH);
	assert_int_equal(w.nsent, 3);
	assert_string_equal(w.sent[0], "a1 AUTHENTICATE XOAUTH2");
	assert_int_equal(w.secret[0], 0);
	b64 = xoauth2_b64("me@example.com", "tok");
	assert_string_equal(w.sent[1], b64);
	assert_int_equal(w.secret[1], 3);	/* all of it redacted */
	free(b64);
	assert_string_equal(w.sent[2], "");	/* XOAUTH2: an empty line */
	assert_true(res.have_challenge);
	assert_string_equal(res.challenge.status, "401");
	assert_string_equal(res.line, "a1 NO [AUTHENTICATIONFAILED] Invalid "
	    "credentials (Failure)");
	mc_login_result_clear(&res);
	wire_clear(&w);
}

/* OAUTHBEARER's challenge is answered with AQ==. */
static void
test_imap_oauthbearer_challenge(void **state)
{
	static const char *const caps[] = { "SASL-IR", "AUTH=OAUTHBEARER", NULL };
	static const char *const script[] = {
		"+ " CHALLENGE_INVALID,
		"a1 NO [AUTHENTICATIONFAILED] Authentication failed.",
		NULL };
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	struct mc_wire w;

	(void)state;
	wire_init(&w, MC_WIRE_IMAP, caps, script);
	assert_int_equal(mc_imap_login(&w, MC_LOGIN_OAUTHBEARER, "me", "tok",
	    &res, NULL), MC_ERR_AUTH);
	assert_int_equal(w.nsent, 2);
	assert_non_null(strstr(w.sent[0], "a1 AUTHENTICATE OAUTHBEARER "));
	assert_string_equal(w.sent[1], "AQ==");
	assert_string_equal(res.challenge.status, "invalid_token");
	mc_login_result_clear(&res);
	wire_clear(&w);
}

/* Untagged [ALERT] and [WEBALERT] lines come before the tagged one. */
static void
test_imap_alerts(void **state)
{
	static const char *const caps[] = { "AUTH=PLAIN", "SASL-IR", NULL };
	static const char *const script[] = {
		"* OK [ALERT] Application-specific password required",
		"* NO [WEBALERT https://accounts.google.com/x] Web login required.",
		"* CAPABILITY IMAP4rev1",
		"a1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
		NULL };
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	struct mc_wire w;

	(void)state;
	wire_init(&w, MC_WIRE_IMAP, caps, script);
	assert_int_equal(mc_imap_login(&w, MC_LOGIN_PLAIN, "me", "pw", &res,
	    NULL), MC_ERR_AUTH);
	/* \0me\0pw */
	assert_string_equal(w.sent[0], "a1 AUTHENTICATE PLAIN AG1lAHB3");
	assert_string_equal(res.line, "* OK [ALERT] Application-specific "
	    "password required\n* NO [WEBALERT https://accounts.google.com/x] "
	    "Web login required.\na1 NO [AUTHENTICATIONFAILED] Invalid "
	    "credentials (Failure)");
	mc_login_result_clear(&res);
	wire_clear(&w);
}

/* LOGIN: quoted strings, escapes; refused when disabled or not ASCII. */
static void
test_imap_login_command(void **state)
{
	static const char *const caps[] = { "IMAP4rev1", NULL };
	static const char *const disabled[] = { "LOGINDISABLED", NULL };
	static const char *const script[] = { "a1 OK Logged in", NULL };
	static const char *const unavailable[] = {
		"a1 NO [UNAVAILABLE] Temporary authentication failure.", NULL };
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	struct mc_wire w;
	char *msg = NULL;

	(void)state;
	wire_init(&w, MC_WIRE_IMAP, caps, script);
	assert_int_equal(mc_imap_login(&w, MC_LOGIN_LOGIN, "me", "p\"w\\x",
	    &res, NULL), MC_OK);
	assert_string_equal(w.sent[0], "a1 LOGIN \"me\" \"p\\\"w\\\\x\"");
	assert_int_equal(w.secret[0], 1);
	wire_clear(&w);

	wire_init(&w, MC_WIRE_IMAP, caps, script);
	assert_int_equal(mc_imap_login(&w, MC_LOGIN_LOGIN, "me", "p\xc3\xa9",
	    &res, &msg), MC_ERR_DATA);
	assert_int_equal(w.nsent, 0);
	assert_non_null(strstr(msg, "AUTH=PLAIN"));
	free(msg);
	msg = NULL;

	wire_init(&w, MC_WIRE_IMAP, disabled, script);
	assert_int_equal(mc_imap_login(&w, MC_LOGIN_LOGIN, "me", "pw", &res,
	    &msg), MC_ERR_SERVICE);
	assert_non_null(strstr(msg, "LOGINDISABLED"));
	assert_int_equal(w.nsent, 0);
	free(msg);
	msg = NULL;

	/* A mechanism that is not offered is not tried. */
	wire_init(&w, MC_WIRE_IMAP, caps, script);
	assert_int_equal(mc_imap_login(&w, MC_LOGIN_XOAUTH2, "me", "t", &res,
	    &msg), MC_ERR_SERVICE);
	assert_non_null(strstr(msg, "does not offer AUTH=XOAUTH2"));
	assert_int_equal(w.nsent, 0);
	free(msg);
	msg = NULL;

	wire_init(&w, MC_WIRE_IMAP, caps, unavailable);
	assert_int_equal(mc_imap_login(&w, MC_LOGIN_LOGIN, "me", "pw", &res,
	    NULL), MC_ERR_TEMP);
	wire_clear(&w);
	mc_login_result_clear(&res);
}

/* LIST refused after a login (Microsoft with a mismatched user). */
static void
test_imap_list_refused(void **state)
{
	static const char *const caps[] = { NULL };
	static const char *const script[] = {
		"a2 NO User is authenticated but not connected.", NULL };
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	struct mc_wire w;

	(void)state;
	wire_init(&w, MC_WIRE_IMAP, caps, script);
	assert_int_equal(mc_imap_list(&w, &res, NULL), MC_ERR_SERVICE);
	assert_string_equal(res.line, "a2 NO User is authenticated but not "
	    "connected.");
	/* The connection closing is a network error. */
	assert_int_equal(mc_imap_list(&w, &res, NULL), MC_ERR_NET);
	mc_login_result_clear(&res);
	wire_clear(&w);
}

/* POP3: the initial response on the AUTH line when it fits in 255. */
static void
test_pop3_auth(void **state)
{
	static const char *const caps[] = { "USER", "SASL PLAIN XOAUTH2 "
	    "OAUTHBEARER", NULL };
	static const char *const script[] = { "+OK Logged in.",
	    "+OK 3 4567", "+OK Logging out.", NULL };
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	struct mc_wire w;
	char *b64, want[600];
	long n = 0;

	(void)state;
	wire_init(&w, MC_WIRE_POP3, caps, script);
	assert_int_equal(mc_pop3_login(&w, MC_LOGIN_XOAUTH2, "me", "tok", &res,
	    NULL), MC_OK);
	b64 = xoauth2_b64("me", "tok");
	assert_true(snprintf(want, sizeof(want), "AUTH XOAUTH2 %s", b64)
	    < (int)sizeof(want));
	free(b64);
	assert_string_equal(w.sent[0], want);
	assert_int_equal(w.secret[0], 1);
	assert_int_equal(mc_pop3_stat(&w, &n, &res, NULL), MC_OK);
	assert_string_equal(w.sent[1], "STAT");
	assert_int_equal(n, 3);
	mc_pop3_quit(&w);
	assert_string_equal(w.sent[2], "QUIT");
	mc_login_result_clear(&res);
	wire_clear(&w);
}

/* POP3: a long token goes after the "+" (RFC 5034's 255 bytes). */
static void
test_pop3_long_and_challenge(void **state)
{
	static const char *const caps[] = { "SASL XOAUTH2", NULL };
	static const char *const script[] = { "+ ", "+ " CHALLENGE_401,
	    "-ERR [AUTH] Authentication failed.", NULL };
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	struct mc_wire w;
	char tok[300];
	char *b64;

	(void)state;
	memset(tok, 'T', sizeof(tok) - 1);
	tok[sizeof(tok) - 1] = '\0';
	wire_init(&w, MC_WIRE_POP3, caps, script);
	assert_int_equal(mc_pop3_login(&w, MC_LOGIN_XOAUTH2, "me", tok, &res,
	    NULL), MC_ERR_AUTH);
	assert_int_equal(w.nsent, 3);
	assert_string_equal(w.sent[0], "AUTH XOAUTH2");
	b64 = xoauth2_b64("me", tok);
	assert_string_equal(w.sent[1], b64);
	assert_int_equal(w.secret[1], 3);
	free(b64);
	assert_string_equal(w.sent[2], "");
	assert_string_equal(res.challenge.status, "401");
	assert_string_equal(res.line, "-ERR [AUTH] Authentication failed.");
	mc_login_result_clear(&res);
	wire_clear(&w);
}

/* POP3: USER/PASS; temporary answers; STAT refused (POP disabled). */
static void
test_pop3_user_pass(void **state)
{
	static const char *const caps[] = { "USER", NULL };
	static const char *const ok[] = { "+OK", "+OK Logged in.", NULL };
	static const char *const bad[] = { "+OK", "-ERR [AUTH] Username and "
	    "password not accepted.", NULL };
	static const char *const temp[] = { "+OK", "-ERR [SYS/TEMP] try later",
	    NULL };
	static const char *const perm[] = { "-ERR [SYS/PERM] Your account is "
	    "not enabled for POP access.", NULL };
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	struct mc_wire w;

	(void)state;
	wire_init(&w, MC_WIRE_POP3, caps, ok);
	assert_int_equal(mc_pop3_login(&w, MC_LOGIN_LOGIN, "me@example.com",
	    "pw", &res, NULL), MC_OK);
	assert_string_equal(w.sent[0], "USER me@example.com");
	assert_int_equal(w.secret[0], 0);
	assert_string_equal(w.sent[1], "PASS pw");
	assert_int_equal(w.secret[1], 2);	/* "PASS [redacted]" */
	wire_clear(&w);

	wire_init(&w, MC_WIRE_POP3, caps, bad);
	assert_int_equal(mc_pop3_login(&w, MC_LOGIN_LOGIN, "me", "pw", &res,
	    NULL), MC_ERR_AUTH);
	assert_string_equal(res.line, "-ERR [AUTH] Username and password not "
	    "accepted.");
	wire_clear(&w);

	wire_init(&w, MC_WIRE_POP3, caps, temp);
	assert_int_equal(mc_pop3_login(&w, MC_LOGIN_LOGIN, "me", "pw", &res,
	    NULL), MC_ERR_TEMP);
	wire_clear(&w);

	wire_init(&w, MC_WIRE_POP3, caps, perm);
	assert_int_equal(mc_pop3_stat(&w, NULL, &res, NULL), MC_ERR_SERVICE);
	assert_non_null(strstr(res.line, "[SYS/PERM]"));
	wire_clear(&w);

	/* PLAIN not offered by SASL: refused before anything is sent. */
	wire_init(&w, MC_WIRE_POP3, caps, ok);
	assert_int_equal(mc_pop3_login(&w, MC_LOGIN_PLAIN, "me", "pw", &res,
	    NULL), MC_ERR_SERVICE);
	assert_int_equal(w.nsent, 0);
	mc_login_result_clear(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenges_decode),
		cmocka_unit_test(test_imap_sasl_ir),
		cmocka_unit_test(test_imap_continuation_and_challenge),
		cmocka_unit_test(test_imap_oauthbearer_challenge),
		cmocka_unit_test(test_imap_alerts),
		cmocka_unit_test(test_imap_login_command),
		cmocka_unit_test(test_imap_list_refused),
		cmocka_unit_test(test_pop3_auth),
		cmocka_unit_test(test_pop3_long_and_challenge),
		cmocka_unit_test(test_pop3_user_pass),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
