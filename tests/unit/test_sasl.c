/* Unit tests: auth/sasl - exact XOAUTH2/OAUTHBEARER bytes and base64. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth/err.h"
#include "auth/sasl.h"

static void
expect_build(int mech, const char *user, const char *token, const char *host,
    int port, const char *want, size_t wantlen)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(mc_sasl_build(mech, user, token, host, port, &out,
	    &len, NULL), MC_OK);
	assert_int_equal(len, wantlen);
	assert_memory_equal(out, want, wantlen);
	free(out);
}

#define EXPECT(mech, u, t, h, p, lit) \
	expect_build(mech, u, t, h, p, lit, sizeof(lit) - 1)

static void
test_xoauth2(void **state)
{
	(void)state;
	EXPECT(MC_SASL_XOAUTH2, "someuser@example.com", "ya29.vF9dft4qmTc2Nvb",
	    NULL, 0, "user=someuser@example.com\001auth=Bearer "
	    "ya29.vF9dft4qmTc2Nvb\001\001");
}

static void
test_oauthbearer(void **state)
{
	(void)state;
	/* RFC 7628 section 4.1's example, with our field order. */
	EXPECT(MC_SASL_OAUTHBEARER, "user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHR"
	    "hdmlzdGEuY29tCg==", "server.example.com", 143,
	    "n,a=user@example.com,\001host=server.example.com\001port=143\001"
	    "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\001\001");
	EXPECT(MC_SASL_OAUTHBEARER, "u", "T", NULL, 0,
	    "n,a=u,\001auth=Bearer T\001\001");
	EXPECT(MC_SASL_OAUTHBEARER, "u", "T", "h", 0,
	    "n,a=u,\001host=h\001auth=Bearer T\001\001");
	/* RFC 5801: ',' and '=' in the authzid are escaped. */
	EXPECT(MC_SASL_OAUTHBEARER, "a,b=c", "T", NULL, 587,
	    "n,a=a=2Cb=3Dc,\001port=587\001auth=Bearer T\001\001");
}

static void
test_refuses_control_bytes(void **state)
{
	char *out = NULL, *msg = NULL;
	size_t len;

	(void)state;
	assert_int_equal(mc_sasl_build(MC_SASL_XOAUTH2, "u\001x", "T", NULL, 0,
	    &out, &len, &msg), MC_ERR_DATA);
	assert_null(out);
	free(msg);
	assert_int_equal(mc_sasl_build(MC_SASL_XOAUTH2, "u", "T\r\nQUIT", NULL,
	    0, &out, &len, NULL), MC_ERR_DATA);
	assert_int_equal(mc_sasl_build(MC_SASL_XOAUTH2, "", "T", NULL, 0, &out,
	    &len, NULL), MC_ERR_DATA);
	assert_int_equal(mc_sasl_build(MC_SASL_XOAUTH2, "u", "", NULL, 0, &out,
	    &len, NULL), MC_ERR_DATA);
	assert_int_equal(mc_sasl_build(MC_SASL_OAUTHBEARER, "u", "T", "h\001",
	    1, &out, &len, NULL), MC_ERR_DATA);
	assert_int_equal(mc_sasl_build(MC_SASL_OAUTHBEARER, "u", "T", "h",
	    70000, &out, &len, NULL), MC_ERR_DATA);
}

static void
test_mech_parse(void **state)
{
	(void)state;
	assert_int_equal(mc_sasl_mech_parse("XOAUTH2"), MC_SASL_XOAUTH2);
	assert_int_equal(mc_sasl_mech_parse("oauthbearer"), MC_SASL_OAUTHBEARER);
	assert_int_equal(mc_sasl_mech_parse("plain"), -1);
}

static void
test_base64(void **state)
{
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	unsigned char *dec;
	size_t i, len;
	char *enc;

	(void)state;
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		enc = mc_base64_encode((const unsigned char *)vec[i][0],
		    strlen(vec[i][0]));
		assert_string_equal(enc, vec[i][1]);
		free(enc);
		assert_int_equal(mc_base64_decode(vec[i][1], &dec, &len), MC_OK);
		assert_int_equal(len, strlen(vec[i][0]));
		assert_memory_equal(dec, vec[i][0], len);
		free(dec);
	}
	assert_int_equal(mc_base64_decode("Zm9", &dec, &len), MC_ERR_DATA);
	assert_int_equal(mc_base64_decode("Zm9v!A==", &dec, &len), MC_ERR_DATA);
	assert_int_equal(mc_base64_decode("Zm=v", &dec, &len), MC_ERR_DATA);
	assert_int_equal(mc_base64_decode("=m9v", &dec, &len), MC_ERR_DATA);
	/* The XOAUTH2 string survives a round trip, \001 bytes and all. */
	enc = mc_base64_encode((const unsigned char *)"user=u\001auth=Bearer "
	    "T\001\001", 22);
	assert_string_equal(enc, "dXNlcj11AWF1dGg9QmVhcmVyIFQBAQ==");
	free(enc);
}

/* The SASL error challenge: Gmail's, Dovecot's, and what is not one. */
static void
test_error_challenge(void **state)
{
	struct mc_sasl_error e = MC_SASL_ERROR_INIT;
	char *b64;
	const char *gmail = "{\"status\":\"401\",\"schemes\":\"bearer\","
	    "\"scope\":\"https://mail.google.com/\"}";

	(void)state;
	b64 = mc_base64_encode((const unsigned char *)gmail, strlen(gmail));
	assert_int_equal(mc_sasl_error_parse(b64, &e), MC_OK);
	assert_string_equal(e.status, "401");
	assert_string_equal(e.schemes, "bearer");
	assert_string_equal(e.scope, "https://mail.google.com/");
	assert_true(mc_sasl_error_retryable(&e));
	mc_sasl_error_clear(&e);
	free(b64);

	/* Dovecot's OAUTHBEARER; a number as status; control bytes shown as '?'. */
	b64 = mc_base64_encode((const unsigned char *)"{\"status\":\"invalid_token\"}", 26);
	assert_int_equal(mc_sasl_error_parse(b64, &e), MC_OK);
	assert_string_equal(e.status, "invalid_token");
	assert_null(e.scope);
	assert_true(mc_sasl_error_retryable(&e));
	mc_sasl_error_clear(&e);
	free(b64);
	b64 = mc_base64_encode((const unsigned char *)"{\"status\":403,\"scope\":\"a\\nb\"}", 29);
	assert_int_equal(mc_sasl_error_parse(b64, &e), MC_OK);
	assert_string_equal(e.status, "403");
	assert_string_equal(e.scope, "a?b");
	assert_false(mc_sasl_error_retryable(&e));
	mc_sasl_error_clear(&e);
	free(b64);

	/* Gmail's OAUTHBEARER challenge: a refresh may cure it too. */
	b64 = mc_base64_encode((const unsigned char *)"{\"status\":\"invalid_request\"}", 28);
	assert_int_equal(mc_sasl_error_parse(b64, &e), MC_OK);
	assert_true(mc_sasl_error_retryable(&e));
	mc_sasl_error_clear(&e);
	free(b64);

	/* Not base64, not JSON, not an object: MC_ERR_DATA, e cleared. */
	assert_int_equal(mc_sasl_error_parse("not base64!", &e), MC_ERR_DATA);
	assert_null(e.status);
	assert_int_equal(mc_sasl_error_parse("", &e), MC_ERR_DATA);
	b64 = mc_base64_encode((const unsigned char *)"[1,2]", 5);
	assert_int_equal(mc_sasl_error_parse(b64, &e), MC_ERR_DATA);
	free(b64);
	b64 = mc_base64_encode((const unsigned char *)"{\"status\":", 10);
	assert_int_equal(mc_sasl_error_parse(b64, &e), MC_ERR_DATA);
	free(b64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xoauth2),
		cmocka_unit_test(test_oauthbearer),
		cmocka_unit_test(test_refuses_control_bytes),
		cmocka_unit_test(test_mech_parse),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_error_challenge),
	};

	return cmocka_run_group_tests_name("sasl", tests, NULL, NULL);
}
