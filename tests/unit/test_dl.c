/*
 * Unit tests: auth/dl.c and the forwarders of auth/crypto_dl.c and
 * auth/resolv_dl.c - a missing library or symbol is an error that names
 * the package; the forwarders give what the real functions give.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/nameser.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "auth/crypto_dl.h"
#include "auth/dl.h"
#include "auth/err.h"
#include "auth/provider_guess.h"
#include "auth/resolv_dl.h"
#include "auth/sasl.h"

static void
test_missing_library(void **state)
{
	char *msg = NULL;
	void *h = (void *)&msg;

	(void)state;
	assert_int_equal(mc_dl_open("libmailcred-no-such.so.7", "mailcred-pkg",
	    &h, &msg), MC_ERR_SERVICE);
	assert_null(h);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "cannot load libmailcred-no-such.so.7 ("));
	assert_non_null(strstr(msg, "(Debian: apt-get install mailcred-pkg)"));
	free(msg);
	/* No message wanted: still the error. */
	assert_int_equal(mc_dl_open("libmailcred-no-such.so.7", "x", &h, NULL),
	    MC_ERR_SERVICE);
}

static void
test_missing_symbol(void **state)
{
	char *msg = NULL;
	void *h = NULL, *addr = (void *)&msg;

	(void)state;
	assert_int_equal(mc_dl_open("libc.so.6", "libc6", &h, &msg), MC_OK);
	assert_null(msg);
	assert_int_equal(mc_dl_sym(h, "libc.so.6", "libc6", "strlen", &addr,
	    &msg), MC_OK);
	assert_ptr_equal(addr, dlsym(h, "strlen"));
	assert_int_equal(mc_dl_sym(h, "libc.so.6", "libc6",
	    "mailcred_no_such_function", &addr, &msg), MC_ERR_SERVICE);
	assert_null(addr);
	assert_string_equal(msg, "libc.so.6 lacks mailcred_no_such_function: "
	    "install a newer version (Debian: apt-get install libc6)");
	free(msg);
	dlclose(h);
}

/* Before anything loaded libcrypto, the first forwarder call loads it. */
static void
test_crypto_forwarders(void **state)
{
	static const unsigned char abc_sha256[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
		0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
		0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	unsigned char md[EVP_MAX_MD_SIZE], buf[16], rnd[32] = { 0 }, zero[32];
	unsigned int mdlen = 0;
	char *msg = NULL, *b64;

	(void)state;
	assert_non_null(SHA256((const unsigned char *)"abc", 3, md));
	assert_memory_equal(md, abc_sha256, 32);
	memset(md, 0, sizeof(md));
	assert_int_equal(EVP_Digest("abc", 3, md, &mdlen, EVP_sha256(), NULL),
	    1);
	assert_int_equal(mdlen, 32);
	assert_memory_equal(md, abc_sha256, 32);

	assert_int_equal(EVP_EncodeBlock(buf, (const unsigned char *)"hi!",
	    3), 4);
	assert_string_equal((char *)buf, "aGkh");
	assert_int_equal(EVP_DecodeBlock(buf, (const unsigned char *)"aGkh",
	    4), 3);
	assert_memory_equal(buf, "hi!", 3);
	b64 = mc_base64_encode((const unsigned char *)"user", 4);
	assert_string_equal(b64, "dXNlcg==");
	free(b64);

	memset(zero, 0, sizeof(zero));
	assert_int_equal(RAND_bytes(rnd, (int)sizeof(rnd)), 1);
	assert_memory_not_equal(rnd, zero, sizeof(rnd));
	assert_int_equal(CRYPTO_memcmp("same", "same", 4), 0);
	assert_int_not_equal(CRYPTO_memcmp("same", "sane", 4), 0);
	assert_non_null(X509_verify_cert_error_string(10));

	assert_int_equal(mc_crypto_load(&msg), MC_OK);
	assert_int_equal(mc_ssl_load(&msg), MC_OK);
	assert_null(msg);
}

/* An MX answer for "example.test": preference 10, "mx.example.test". */
static void
test_resolv_forwarders(void **state)
{
	static const unsigned char answer[] = {
		0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0,
		0, 15, 0, 1,
		0xc0, 12, 0, 15, 0, 1, 0, 0, 0x0e, 0x10, 0, 7,
		0, 10, 2, 'm', 'x', 0xc0, 12,
	};
	struct mc_mx mx[2];
	size_t n = 0;
	char *msg = NULL;

	(void)state;
	assert_int_equal(mc_resolv_load(&msg), MC_OK);
	assert_int_equal(mc_mx_parse(answer, sizeof(answer), mx, 2, &n, &msg),
	    MC_OK);
	assert_null(msg);
	assert_int_equal(n, 1);
	assert_int_equal(mx[0].preference, 10);
	assert_string_equal(mx[0].host, "mx.example.test");
	/* Cut short: the forwarded parser refuses it. */
	assert_int_equal(mc_mx_parse(answer, sizeof(answer) - 3, mx, 2, &n,
	    &msg), MC_ERR_DATA);
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_library),
		cmocka_unit_test(test_missing_symbol),
		cmocka_unit_test(test_crypto_forwarders),
		cmocka_unit_test(test_resolv_forwarders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
