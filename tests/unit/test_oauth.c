/*
 * Unit tests: auth/oauth - token and device answers, error mapping, and the
 * device flow's polling state machine over a scripted server and clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/err.h"
#include "auth/oauth.h"
#include "auth/secmem.h"

static struct mc_account acct = {
	.name = "me@example.org", .scope = "mail", .client_id = "cid",
};

static json_t *
J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (j == NULL)
		fail_msg("bad test JSON: %s", e.text);
	return j;
}

static void
test_token_response(void **state)
{
	struct mc_token_set ts;
	json_t *j;

	(void)state;
	j = J("{\"access_token\":\"AT\",\"token_type\":\"bearer\","
	    "\"expires_in\":3599,\"refresh_token\":\"RT\",\"scope\":\"a b\"}");
	assert_int_equal(mc_token_set_from_response(j, 1000, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT");
	assert_string_equal(ts.refresh_token, "RT");
	assert_string_equal(ts.token_type, "Bearer");
	assert_string_equal(ts.scope, "a b");
	assert_int_equal(ts.expires_at, 4599);
	mc_token_set_clear(&ts);
	json_decref(j);

	/* expires_in as a string (some providers), no refresh token. */
	j = J("{\"access_token\":\"AT\",\"expires_in\":\"60\","
	    "\"refresh_token\":\"\"}");
	assert_int_equal(mc_token_set_from_response(j, 10, &ts, NULL), MC_OK);
	assert_null(ts.refresh_token);
	assert_int_equal(ts.expires_at, 70);
	mc_token_set_clear(&ts);
	json_decref(j);

	/* No expires_in: an hour is assumed. */
	j = J("{\"access_token\":\"AT\"}");
	assert_int_equal(mc_token_set_from_response(j, 0, &ts, NULL), MC_OK);
	assert_int_equal(ts.expires_at, 3600);
	mc_token_set_clear(&ts);
	json_decref(j);
}

/*
 * Each answer is refused (MC_ERR_SERVICE, a message, no access token), yet
 * hands back the refresh token rt it carried (NULL: none).
 */
static void
expect_refused(const char *const *bad, const char *rt)
{
	struct mc_token_set ts;
	char *msg;
	json_t *j;
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		msg = NULL;
		j = J(bad[i]);
		assert_int_equal(mc_token_set_from_response(j, 0, &ts, &msg),
		    MC_ERR_SERVICE);
		assert_null(ts.access_token);
		assert_null(ts.scope);
		assert_null(ts.token_type);
		if (rt != NULL)
			assert_string_equal(ts.refresh_token, rt);
		else
			assert_null(ts.refresh_token);
		assert_non_null(msg);
		free(msg);
		mc_token_set_clear(&ts);
		json_decref(j);
	}
}

/*
 * An empty refresh_token in an answer without an access token: refused,
 * with no refresh token handed back, and nothing leaked (found by
 * fuzz/fuzz_token.c under LeakSanitizer: the empty string was dropped
 * unfreed; fuzz/corpus/token/leak-empty-refresh-token.json).
 */
static void
test_token_response_empty_refresh_token(void **state)
{
	static const char *const bad[] = {
		"{\"access_to\":\"ya29.aH6SMBx3kQ2fGmE-ZyQ\","
		"\"expNires_in\":3599,\"refresh_token\":\"\"}",
		"{\"access_token\":\"\",\"refresh_token\":\"\"}",
		"{\"access_token\":\"a\",\"token_type\":\"mac\","
		"\"refresh_token\":\"\"}",
		NULL,
	};

	(void)state;
	expect_refused(bad, NULL);
}

static void
test_token_response_bad(void **state)
{
	static const char *const bad[] = {
		"{}",
		"{\"access_token\":\"\"}",
		"{\"access_token\":42}",
		"{\"access_token\":\"A\\r\\nB\"}",
		"{\"access_token\":\"A\",\"token_type\":\"mac\"}",
		"{\"access_token\":\"A\",\"refresh_token\":[1]}",
		"{\"access_token\":\"A\",\"scope\":[\"a\",2]}",
		"{\"access_token\":\"A\",\"scope\":{}}",
		NULL
	};

	(void)state;
	expect_refused(bad, NULL);
}

/* What servers really send, taken as far as it can be used (issue 6.5). */
static void
test_token_response_lenient(void **state)
{
	static const struct {
		const char *json;
		long long expires_at;	/* sent at 1000 */
		const char *scope;
	} cases[] = {
		/* Lifetimes of 0 or below are never valid from the cache. */
		{ "{\"access_token\":\"A\",\"expires_in\":0}", 1000, NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":-5}", 1000, NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":\"-5\"}", 1000, NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":\"soon\"}", 1000,
		    NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":[1]}", 1000, NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":-1e300}", 1000,
		    NULL },
		/* Absurd ones are cut to a day; none is undefined behaviour. */
		{ "{\"access_token\":\"A\",\"expires_in\":1e300}",
		    1000 + MC_TOKEN_MAX_LIFETIME, NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":9223372036854775807}",
		    1000 + MC_TOKEN_MAX_LIFETIME, NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":"
		    "\"99999999999999999999999\"}", 1000 + MC_TOKEN_MAX_LIFETIME,
		    NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":3599.9}", 4599,
		    NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":\"3600.0\"}", 4600,
		    NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":\" 3600 \"}", 4600,
		    NULL },
		/* scope as an array; token_type in any case. */
		{ "{\"access_token\":\"A\",\"token_type\":\"BEARER\","
		    "\"scope\":[\"openid\",\"email\"]}", 4600, "openid email" },
		{ "{\"access_token\":\"A\",\"scope\":[]}", 4600, NULL },
	};
	struct mc_token_set ts;
	size_t i;
	json_t *j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		j = J(cases[i].json);
		assert_int_equal(mc_token_set_from_response(j, 1000, &ts, NULL),
		    MC_OK);
		assert_string_equal(ts.access_token, "A");
		assert_string_equal(ts.token_type, "Bearer");
		assert_int_equal(ts.expires_at, cases[i].expires_at);
		if (cases[i].scope != NULL)
			assert_string_equal(ts.scope, cases[i].scope);
		mc_token_set_clear(&ts);
		json_decref(j);
	}
}

/*
 * An answer that cannot be used still hands back the refresh token it
 * carried: the server has already retired the old one (issue 6.5).
 */
static void
test_token_response_keeps_refresh_token(void **state)
{
	static const char *const bad[] = {
		"{\"refresh_token\":\"RT2\"}",
		"{\"refresh_token\":\"RT2\",\"access_token\":\"A\","
		    "\"token_type\":\"mac\"}",
		"{\"refresh_token\":\"RT2\",\"access_token\":7}",
		"{\"refresh_token\":\"RT2\",\"access_token\":\"A\","
		    "\"scope\":[1]}",
		NULL
	};

	(void)state;
	expect_refused(bad, "RT2");
}

static void
test_serialize_roundtrip(void **state)
{
	struct mc_token_set a = { "AT", "RT", "Bearer", "s1 s2", 1700000000, 0 };
	struct mc_token_set b;
	char *blob = NULL, *msg = NULL;

	(void)state;
	assert_int_equal(mc_token_set_serialize(&a, &blob), MC_OK);
	assert_int_equal(mc_token_set_parse(blob, &b, NULL), MC_OK);
	assert_string_equal(b.access_token, "AT");
	assert_string_equal(b.refresh_token, "RT");
	assert_string_equal(b.scope, "s1 s2");
	assert_int_equal(b.expires_at, 1700000000);
	mc_token_set_clear(&b);
	mc_free_secret(blob);

	assert_int_equal(mc_token_set_parse("not json", &b, &msg),
	    MC_ERR_NOT_LOGGED_IN);
	free(msg);
	assert_int_equal(mc_token_set_parse("{\"scope\":\"x\"}", &b, NULL),
	    MC_ERR_NOT_LOGGED_IN);
	assert_int_equal(mc_token_set_parse("{\"refresh_token\":\"R\","
	    "\"refresh_token\":\"S\"}", &b, NULL), MC_ERR_NOT_LOGGED_IN);
}

static void
test_device_auth_parse(void **state)
{
	struct mc_device_auth da;
	char *msg = NULL;
	json_t *j;

	(void)state;
	j = J("{\"device_code\":\"DC\",\"user_code\":\"ABCD-EFGH\","
	    "\"verification_uri\":\"https://x/device\","
	    "\"verification_uri_complete\":\"https://x/device?c=1\","
	    "\"expires_in\":600,\"interval\":7}");
	assert_int_equal(mc_device_auth_parse(j, &da, NULL), MC_OK);
	assert_string_equal(da.user_code, "ABCD-EFGH");
	assert_string_equal(da.verification_uri_complete, "https://x/device?c=1");
	assert_int_equal(da.expires_in, 600);
	assert_int_equal(da.interval, 7);
	mc_device_auth_clear(&da);
	json_decref(j);

	/* Google: verification_url, no interval given -> 5 s. */
	j = J("{\"device_code\":\"DC\",\"user_code\":\"U\","
	    "\"verification_url\":\"https://www.google.com/device\","
	    "\"expires_in\":1800}");
	assert_int_equal(mc_device_auth_parse(j, &da, NULL), MC_OK);
	assert_string_equal(da.verification_uri, "https://www.google.com/device");
	assert_null(da.verification_uri_complete);
	assert_int_equal(da.interval, 5);
	mc_device_auth_clear(&da);
	json_decref(j);

	j = J("{\"device_code\":\"DC\",\"user_code\":\"U\"}");
	assert_int_equal(mc_device_auth_parse(j, &da, &msg), MC_ERR_SERVICE);
	assert_non_null(strstr(msg, "verification_uri"));
	free(msg);
	json_decref(j);
}

static void
test_classify(void **state)
{
	json_t *j;

	(void)state;
#define CLASSIFY(status, text, want) do { \
	j = J(text); \
	assert_int_equal(mc_device_poll_classify(status, j), want); \
	json_decref(j); \
} while (0)
	CLASSIFY(200, "{\"access_token\":\"A\"}", MC_POLL_DONE);
	CLASSIFY(400, "{\"error\":\"authorization_pending\"}", MC_POLL_PENDING);
	/* Google answers pending with 428; only the JSON counts. */
	CLASSIFY(428, "{\"error\":\"authorization_pending\"}", MC_POLL_PENDING);
	CLASSIFY(200, "{\"error\":\"authorization_pending\"}", MC_POLL_PENDING);
	CLASSIFY(400, "{\"error\":\"slow_down\"}", MC_POLL_SLOW_DOWN);
	CLASSIFY(403, "{\"error\":\"access_denied\"}", MC_POLL_DENIED);
	CLASSIFY(400, "{\"error\":\"authorization_declined\"}", MC_POLL_DENIED);
	CLASSIFY(400, "{\"error\":\"expired_token\"}", MC_POLL_EXPIRED);
	CLASSIFY(400, "{\"error\":\"invalid_client\"}", MC_POLL_ERROR);
	/* A 2xx without an error is a grant: the parser judges it, and keeps
	 * a refresh token even from one without an access token. */
	CLASSIFY(200, "{\"token_type\":\"Bearer\"}", MC_POLL_DONE);
	CLASSIFY(200, "{\"refresh_token\":\"R\"}", MC_POLL_DONE);
	CLASSIFY(500, "{\"access_token\":\"A\"}", MC_POLL_ERROR);
	CLASSIFY(400, "{\"error\":17}", MC_POLL_ERROR);
#undef CLASSIFY
}

static void
test_error_mapping(void **state)
{
	struct mc_account g = acct;
	char *msg = NULL;
	json_t *j;

	(void)state;
	j = J("{\"error\":\"invalid_grant\",\"error_description\":"
	    "\"Token has been expired or revoked.\"}");
	assert_int_equal(mc_oauth_error(&acct, "refresh", 400, j, &msg),
	    MC_ERR_AUTH);
	assert_non_null(strstr(msg, "run 'mailcred login me@example.org'"));
	assert_null(strstr(msg, "Testing"));
	free(msg);
	msg = NULL;
	g.google = 1;
	assert_int_equal(mc_oauth_error(&g, "refresh", 400, j, &msg),
	    MC_ERR_AUTH);
	assert_non_null(strstr(msg, "7 days"));
	free(msg);
	msg = NULL;
	json_decref(j);

	j = J("{\"error\":\"invalid_client\"}");
	assert_int_equal(mc_oauth_error(&acct, "x", 401, j, &msg),
	    MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "client_id"));
	free(msg);
	msg = NULL;
	json_decref(j);

	j = J("{\"error\":\"temporarily_unavailable\"}");
	assert_int_equal(mc_oauth_error(&acct, "x", 400, j, NULL), MC_ERR_TEMP);
	json_decref(j);
	j = J("{}");
	assert_int_equal(mc_oauth_error(&acct, "x", 502, j, NULL), MC_ERR_TEMP);
	assert_int_equal(mc_oauth_error(&acct, "x", 404, j, NULL),
	    MC_ERR_SERVICE);
	json_decref(j);

	/* Microsoft's descriptions end in "\r\nTrace ID: ...": kept, cut. */
	j = J("{\"error\":\"invalid_grant\",\"error_description\":"
	    "\"AADSTS700082: The refresh token has expired due to inactivity."
	    "\\r\\nTrace ID: 0d3c\\r\\nCorrelation ID: 9f1e\\r\\n"
	    "Timestamp: 2026-11-24 10:00:00Z\"}");
	assert_int_equal(mc_oauth_error(&acct, "refresh", 400, j, &msg),
	    MC_ERR_AUTH);
	assert_non_null(strstr(msg, "(invalid_grant: AADSTS700082: The "
	    "refresh token has expired due to inactivity.)"));
	assert_null(strstr(msg, "Trace"));
	free(msg);
	msg = NULL;
	json_decref(j);

	/* A hostile description is cut and cleaned: one line, printable. */
	j = J("{\"error\":\"weird\",\"error_description\":\"a\\nb\\u001b[1m"
	    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	    "cccccccccccccccccccccccccccccccccccccccccc\"}");
	assert_int_equal(mc_oauth_error(&acct, "x", 400, j, &msg),
	    MC_ERR_SERVICE);
	assert_null(strchr(msg, '\n'));
	assert_null(strchr(msg, '\033'));
	assert_true(strlen(msg) < 300);
	free(msg);
	json_decref(j);
}

/* A scripted token endpoint and a fake clock for mc_device_wait(). */
struct script {
	const char *answers[16];	/* JSON, or "NET" for a network error */
	long statuses[16];
	int next;
	time_t now;
	int slept[16];
	int nsleeps;
};

static int
fake_poll(void *ctx, long *status, json_t **resp, char **errmsg)
{
	struct script *s = ctx;
	const char *a = s->answers[s->next];

	assert_non_null(a);
	*status = s->statuses[s->next];
	s->next++;
	if (strcmp(a, "NET") == 0)
		return mc_fail(MC_ERR_NET, errmsg, "unreachable");
	*resp = J(a);
	return MC_OK;
}

static void
fake_sleep(void *ctx, int seconds)
{
	struct script *s = ctx;

	assert_true(s->nsleeps < 16);
	s->slept[s->nsleeps++] = seconds;
	s->now += seconds;
}

static time_t
fake_now(void *ctx)
{
	return ((struct script *)ctx)->now;
}

static int
run(struct script *s, int interval, int expires_in, struct mc_token_set *ts,
    char **msg)
{
	struct mc_device_auth da = { "DC", "UC", "https://x", NULL,
	    expires_in, interval };
	struct mc_device_io io = { fake_poll, fake_sleep, fake_now, s };

	s->now = 1000;
	return mc_device_wait(&acct, &da, &io, ts, msg);
}

static void
test_device_wait_interval_and_slow_down(void **state)
{
	struct script s = { .answers = {
		"{\"error\":\"authorization_pending\"}",
		"{\"error\":\"slow_down\"}",
		"{\"error\":\"authorization_pending\"}",
		"{\"error\":\"slow_down\"}",
		"{\"error\":\"authorization_pending\"}",
		"{\"access_token\":\"AT\",\"refresh_token\":\"RT\","
		    "\"expires_in\":100}",
	}, .statuses = { 400, 400, 428, 400, 400, 200 } };
	struct mc_token_set ts;

	(void)state;
	assert_int_equal(run(&s, 5, 600, &ts, NULL), MC_OK);
	assert_int_equal(s.nsleeps, 6);
	/* 5, 5, then +5 per slow_down, cumulatively. */
	assert_int_equal(s.slept[0], 5);
	assert_int_equal(s.slept[1], 5);
	assert_int_equal(s.slept[2], 10);
	assert_int_equal(s.slept[3], 10);
	assert_int_equal(s.slept[4], 15);
	assert_int_equal(s.slept[5], 15);
	assert_string_equal(ts.access_token, "AT");
	assert_string_equal(ts.refresh_token, "RT");
	assert_int_equal(ts.expires_at, 1000 + 60 + 100);
	mc_token_set_clear(&ts);
}

static void
test_device_wait_denied(void **state)
{
	struct script s = { .answers = {
		"{\"error\":\"authorization_pending\"}",
		"{\"error\":\"access_denied\"}",
	}, .statuses = { 400, 400 } };
	struct mc_token_set ts;
	char *msg = NULL;

	(void)state;
	assert_int_equal(run(&s, 2, 600, &ts, &msg), MC_ERR_AUTH);
	assert_non_null(strstr(msg, "denied"));
	assert_null(ts.access_token);
	free(msg);
}

static void
test_device_wait_expired(void **state)
{
	struct script s = { .answers = {
		"{\"error\":\"authorization_pending\"}",
		"{\"error\":\"expired_token\"}",
	}, .statuses = { 400, 400 } };
	struct script t = { .answers = {
		"{\"error\":\"authorization_pending\"}",
		"{\"error\":\"authorization_pending\"}",
		"{\"error\":\"authorization_pending\"}",
	}, .statuses = { 400, 400, 400 } };
	struct mc_token_set ts;
	char *msg = NULL;

	(void)state;
	assert_int_equal(run(&s, 5, 600, &ts, &msg), MC_ERR_AUTH);
	assert_non_null(strstr(msg, "expired"));
	free(msg);
	msg = NULL;
	/* The client stops by itself when expires_in has passed. */
	assert_int_equal(run(&t, 5, 16, &ts, &msg), MC_ERR_AUTH);
	assert_int_equal(t.next, 3);
	assert_non_null(strstr(msg, "expired"));
	free(msg);
}

static void
test_device_wait_network_backoff(void **state)
{
	struct script s = { .answers = {
		"NET", "NET",
		"{\"error\":\"authorization_pending\"}",
		"{\"access_token\":\"AT\"}",
	}, .statuses = { 0, 0, 400, 200 } };
	struct mc_token_set ts;

	(void)state;
	assert_int_equal(run(&s, 5, 600, &ts, NULL), MC_OK);
	assert_int_equal(s.slept[0], 5);
	assert_int_equal(s.slept[1], 10);	/* backed off */
	assert_int_equal(s.slept[2], 15);	/* backed off more */
	assert_int_equal(s.slept[3], 5);	/* back to normal */
	mc_token_set_clear(&ts);
}

/*
 * A transport failure that goes on is reported as what it is, naming the
 * endpoint, not as an expired code (issue 6.12).
 */
static void
test_device_wait_network_gives_up(void **state)
{
	struct script s = { .answers = { "NET", "NET", "NET", "NET" },
	    .statuses = { 0, 0, 0, 0 } };
	struct script t = { .answers = { "{\"error\":\"authorization_pending\"}",
	    "NET" }, .statuses = { 400, 0 } };
	struct mc_account a = acct;
	struct mc_token_set ts;
	char *msg = NULL;

	(void)state;
	a.token_endpoint = "https://login.example/token";
	acct.token_endpoint = a.token_endpoint;
	assert_int_equal(run(&s, 5, 1800, &ts, &msg), MC_ERR_NET);
	assert_int_equal(s.next, 4);
	assert_non_null(strstr(msg, "https://login.example/token"));
	assert_non_null(strstr(msg, "unreachable"));
	assert_null(strstr(msg, "expired"));
	free(msg);
	msg = NULL;
	/* The code runs out right after a failed poll. */
	assert_int_equal(run(&t, 5, 12, &ts, &msg), MC_ERR_NET);
	assert_int_equal(t.next, 2);
	assert_non_null(strstr(msg, "unreachable"));
	free(msg);
	acct.token_endpoint = NULL;
}

/*
 * A passing server error, as an OAuth answer or a bare 5xx, is waited out
 * like a network failure: the user's approval is not wasted.
 */
static void
test_device_wait_server_error(void **state)
{
	struct script s = { .answers = {
		"{\"error\":\"server_error\"}",
		"{\"error\":\"temporarily_unavailable\"}",
		"{}",
		"{\"access_token\":\"AT\"}",
	}, .statuses = { 500, 400, 503, 200 } };
	struct mc_token_set ts;

	(void)state;
	assert_int_equal(run(&s, 5, 1800, &ts, NULL), MC_OK);
	assert_int_equal(s.next, 4);
	assert_string_equal(ts.access_token, "AT");
	mc_token_set_clear(&ts);
}

static void
test_device_wait_other_error(void **state)
{
	struct script s = { .answers = { "{\"error\":\"invalid_client\"}" },
	    .statuses = { 401 } };
	struct mc_token_set ts;
	char *msg = NULL;

	(void)state;
	assert_int_equal(run(&s, 5, 600, &ts, &msg), MC_ERR_CONFIG);
	assert_non_null(msg);
	free(msg);
}

/* ---- PKCE, state, the authorization URL, redirects ---- */

static int
b64url_only(const char *s)
{
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") == strlen(s);
}

static void
test_pkce(void **state)
{
	char *v, *c, *msg = NULL;

	(void)state;
	/* RFC 7636 appendix B. */
	assert_int_equal(mc_pkce_challenge(
	    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", &c), MC_OK);
	assert_string_equal(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	free(c);
	assert_int_equal(mc_pkce_verifier(43, &v, NULL), MC_OK);
	assert_int_equal(strlen(v), 43);
	assert_true(b64url_only(v));
	mc_free_secret(v);
	assert_int_equal(mc_pkce_verifier(128, &v, NULL), MC_OK);
	assert_int_equal(strlen(v), 128);
	assert_true(b64url_only(v));
	mc_free_secret(v);
	assert_int_equal(mc_pkce_verifier(MC_PKCE_VERIFIER_LEN, &v, NULL),
	    MC_OK);
	assert_int_equal(strlen(v), MC_PKCE_VERIFIER_LEN);
	mc_free_secret(v);
	assert_int_equal(mc_pkce_verifier(42, &v, &msg), MC_ERR_INTERNAL);
	assert_null(v);
	free(msg);
	msg = NULL;
	assert_int_equal(mc_pkce_verifier(129, &v, &msg), MC_ERR_INTERNAL);
	free(msg);
}

static void
test_state(void **state)
{
	char *a, *b;

	(void)state;
	assert_int_equal(mc_random_state(&a, NULL), MC_OK);
	assert_int_equal(mc_random_state(&b, NULL), MC_OK);
	/* At least 128 bits: 32 characters of 6 bits. */
	assert_int_equal(strlen(a), 32);
	assert_true(b64url_only(a));
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

static void
test_redirect_uri_port(void **state)
{
	char *u, *msg = NULL;

	(void)state;
	assert_int_equal(mc_redirect_uri_with_port("http://127.0.0.1/", 8080,
	    &u, NULL), MC_OK);
	assert_string_equal(u, "http://127.0.0.1:8080/");
	free(u);
	assert_int_equal(mc_redirect_uri_with_port("http://localhost", 5,
	    &u, NULL), MC_OK);
	assert_string_equal(u, "http://localhost:5/");
	free(u);
	assert_int_equal(mc_redirect_uri_with_port("http://[::1]:99/cb", 7,
	    &u, NULL), MC_OK);
	assert_string_equal(u, "http://[::1]:7/cb");
	free(u);
	assert_int_equal(mc_redirect_uri_with_port("http://127.0.0.1/", 0,
	    &u, NULL), MC_OK);
	assert_string_equal(u, "http://127.0.0.1/");
	free(u);
	assert_int_equal(mc_redirect_uri_with_port("https://example.org/", 5,
	    &u, &msg), MC_ERR_CONFIG);
	assert_null(u);
	free(msg);
}

static void
test_authz_url(void **state)
{
	struct mc_account a = acct;
	char *u, *msg = NULL;

	(void)state;
	a.authorization_endpoint = "https://id.example/auth";
	a.scope = "https://mail.google.com/ openid";
	a.auth_params = "access_type=offline&prompt=consent";
	assert_int_equal(mc_authz_url(&a, "http://127.0.0.1:5/", "ST", "CH",
	    &u, NULL), MC_OK);
	assert_string_equal(u, "https://id.example/auth?client_id=cid&"
	    "response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A5%2F&"
	    "scope=https%3A%2F%2Fmail.google.com%2F%20openid&state=ST&"
	    "code_challenge=CH&code_challenge_method=S256&"
	    "access_type=offline&prompt=consent");
	free(u);
	/* An endpoint with a query; auth_params decoded and encoded again. */
	a.authorization_endpoint = "https://id.example/auth?tenant=x";
	a.scope = "mail";
	a.auth_params = "prompt=select_account consent&login_hint=a%40b";
	assert_int_equal(mc_authz_url(&a, "http://[::1]:5/", "ST", "CH", &u,
	    NULL), MC_OK);
	assert_string_equal(u, "https://id.example/auth?tenant=x&client_id=cid&"
	    "response_type=code&redirect_uri=http%3A%2F%2F%5B%3A%3A1%5D%3A5%2F"
	    "&scope=mail&state=ST&code_challenge=CH&code_challenge_method=S256"
	    "&prompt=select_account%20consent&login_hint=a%40b");
	free(u);
	/* auth_params may not set what mailcred sets. */
	a.auth_params = "state=mine";
	assert_int_equal(mc_authz_url(&a, "http://127.0.0.1/", "ST", "CH", &u,
	    &msg), MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "'state'"));
	free(msg);
	msg = NULL;
	a.auth_params = "=x";
	assert_int_equal(mc_authz_url(&a, "http://127.0.0.1/", "ST", "CH", &u,
	    &msg), MC_ERR_CONFIG);
	free(msg);
	msg = NULL;
	a.auth_params = NULL;
	a.authorization_endpoint = NULL;
	assert_int_equal(mc_authz_url(&a, "http://127.0.0.1/", "ST", "CH", &u,
	    &msg), MC_ERR_CONFIG);
	assert_null(u);
	free(msg);
}

#define EP "http://127.0.0.1:9000/auth"

/* Parses input against state "good-state"; returns the code. */
static int
parse(const char *input, struct mc_redirect *r, char **msg)
{
	*msg = NULL;
	return mc_redirect_parse(input, "good-state", EP, r, msg);
}

static void
test_redirect_parse_good(void **state)
{
	struct mc_redirect r;
	char *msg;

	(void)state;
	/* A request target, with iss. */
	assert_int_equal(parse("/?code=C-1.x&state=good-state&iss=http%3A%2F"
	    "%2F127.0.0.1%3A9000", &r, &msg), MC_OK);
	assert_string_equal(r.code, "C-1.x");
	assert_int_equal(r.bare, 0);
	mc_redirect_clear(&r);
	/* A pasted URL, blanks and a fragment around it; %-escapes. */
	assert_int_equal(parse("  http://127.0.0.1:5/?state=good%2Dstate&"
	    "code=4%2F0Ab#frag\n", &r, &msg), MC_OK);
	assert_string_equal(r.code, "4/0Ab");
	mc_redirect_clear(&r);
	/* An issuer with a path (Microsoft's carry the tenant). */
	assert_int_equal(mc_redirect_parse("/?code=C&state=S&iss="
	    "https%3A%2F%2Flogin.example%2Ftenant%2Fv2.0", "S",
	    "https://login.example:443/tenant/authorize", &r, &msg), MC_OK);
	mc_redirect_clear(&r);
	/* A bare code. */
	assert_int_equal(parse("4/0AbCdEf\n", &r, &msg), MC_OK);
	assert_string_equal(r.code, "4/0AbCdEf");
	assert_int_equal(r.bare, 1);
	mc_redirect_clear(&r);
	/* A bare query. */
	assert_int_equal(parse("code=C&state=good-state", &r, &msg), MC_OK);
	assert_string_equal(r.code, "C");
	mc_redirect_clear(&r);
}

/* input is refused with code want and a message holding what. */
static void
refused(const char *input, int want, const char *what)
{
	struct mc_redirect r;
	char *msg;

	assert_int_equal(parse(input, &r, &msg), want);
	assert_non_null(msg);
	if (strstr(msg, what) == NULL)
		fail_msg("'%s' lacks '%s'", msg, what);
	free(msg);
	mc_redirect_clear(&r);
}

static void
test_redirect_parse_refused(void **state)
{
	(void)state;
	refused("/?code=C&state=bad-state", MC_ERR_DATA, "does not match");
	refused("/?code=C&state=good-stat", MC_ERR_DATA, "does not match");
	refused("/?code=C", MC_ERR_DATA, "no state");
	refused("/?code=C&state=good-state&iss=http%3A%2F%2Fevil.example",
	    MC_ERR_DATA, "issuer");
	refused("/?code=C&state=good-state&iss=http%3A%2F%2F127.0.0.1%3A9001",
	    MC_ERR_DATA, "issuer");
	refused("/?state=good-state", MC_ERR_DATA, "no code");
	refused("/?code=A&code=B&state=good-state", MC_ERR_DATA,
	    "more than once");
	refused("/?code=A&state=good-state&state=good-state", MC_ERR_DATA,
	    "more than once");
	refused("/?code=A%0&state=good-state", MC_ERR_DATA, "escape");
	refused("/?code=A%00B&state=good-state", MC_ERR_DATA, "escape");
	refused("/?code=A%20B&state=good-state", MC_ERR_DATA, "malformed code");
	refused("/", MC_ERR_DATA, "no query");
	refused("", MC_ERR_DATA, "nothing");
	refused("a b", MC_ERR_DATA, "no state");
	refused("http://127.0.0.1:5/", MC_ERR_DATA, "no query");
	/* error= with a wrong state is forged, not a denial. */
	refused("/?error=access_denied&state=other", MC_ERR_DATA,
	    "does not match");
}

static void
test_redirect_parse_error(void **state)
{
	struct mc_redirect r;
	char *msg;

	(void)state;
	assert_int_equal(parse("/?error=access_denied&error_description=The+"
	    "user%0Asaid+no&state=good-state", &r, &msg), MC_ERR_AUTH);
	assert_string_equal(r.error, "access_denied");
	assert_string_equal(r.error_description, "The user?said no");
	assert_string_equal(msg, "the provider said: access_denied (The "
	    "user?said no)");
	free(msg);
	mc_redirect_clear(&r);
	assert_int_equal(parse("/?error=server_error&state=good-state", &r,
	    &msg), MC_ERR_AUTH);
	assert_string_equal(msg, "the provider said: server_error");
	free(msg);
	mc_redirect_clear(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_response),
		cmocka_unit_test(test_token_response_bad),
		cmocka_unit_test(test_token_response_empty_refresh_token),
		cmocka_unit_test(test_token_response_lenient),
		cmocka_unit_test(test_token_response_keeps_refresh_token),
		cmocka_unit_test(test_serialize_roundtrip),
		cmocka_unit_test(test_device_auth_parse),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_error_mapping),
		cmocka_unit_test(test_device_wait_interval_and_slow_down),
		cmocka_unit_test(test_device_wait_denied),
		cmocka_unit_test(test_device_wait_expired),
		cmocka_unit_test(test_device_wait_network_backoff),
		cmocka_unit_test(test_device_wait_network_gives_up),
		cmocka_unit_test(test_device_wait_server_error),
		cmocka_unit_test(test_device_wait_other_error),
		cmocka_unit_test(test_pkce),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_redirect_uri_port),
		cmocka_unit_test(test_authz_url),
		cmocka_unit_test(test_redirect_parse_good),
		cmocka_unit_test(test_redirect_parse_refused),
		cmocka_unit_test(test_redirect_parse_error),
	};

	mc_json_use_wiping_alloc();
	return cmocka_run_group_tests_name("oauth", tests, NULL, NULL);
}
