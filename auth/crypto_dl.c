/* auth/crypto_dl.c - OpenSSL's functions forwarded to a dlopen'ed OpenSSL. */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include <openssl/aes.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "auth/crypto_dl.h"
#include "auth/dl.h"
#include "auth/err.h"

#define CRYPTO_SONAME "libcrypto.so.3"
#define SSL_SONAME "libssl.so.3"
#define OPENSSL_PACKAGE "libssl3"

/* The functions we use, each with its pointer type. */
#define CRYPTO_FUNCS(X) \
	X(RAND_bytes, int (*)(unsigned char *, int)) \
	X(EVP_Digest, int (*)(const void *, size_t, unsigned char *, \
	    unsigned int *, const EVP_MD *, ENGINE *)) \
	X(EVP_sha256, const EVP_MD *(*)(void)) \
	X(SHA256, unsigned char *(*)(const unsigned char *, size_t, \
	    unsigned char *)) \
	X(EVP_EncodeBlock, int (*)(unsigned char *, const unsigned char *, \
	    int)) \
	X(EVP_DecodeBlock, int (*)(unsigned char *, const unsigned char *, \
	    int)) \
	X(CRYPTO_memcmp, int (*)(const void *, const void *, size_t)) \
	X(X509_verify_cert_error_string, const char *(*)(long)) \
	X(X509_STORE_load_file, int (*)(X509_STORE *, const char *)) \
	X(BN_CTX_new, BN_CTX *(*)(void)) \
	X(BN_CTX_free, void (*)(BN_CTX *)) \
	X(BN_bin2bn, BIGNUM *(*)(const unsigned char *, int, BIGNUM *)) \
	X(BN_bn2binpad, int (*)(const BIGNUM *, unsigned char *, int)) \
	X(BN_clear_free, void (*)(BIGNUM *)) \
	X(BN_cmp, int (*)(const BIGNUM *, const BIGNUM *)) \
	X(BN_mod_exp, int (*)(BIGNUM *, const BIGNUM *, const BIGNUM *, \
	    const BIGNUM *, BN_CTX *)) \
	X(BN_value_one, const BIGNUM *(*)(void)) \
	X(BN_set_flags, void (*)(BIGNUM *, int))
/*
 * OpenSSL 3 marks these deprecated, and a libcrypto built without its
 * deprecated functions lacks them: a table of their own, so that only
 * the Secret Service's bare path (which then leaves the read to
 * libsecret) goes without them, not everything else.
 */
#define LOW_FUNCS(X) \
	X(SHA256_Init, int (*)(SHA256_CTX *)) \
	X(SHA256_Update, int (*)(SHA256_CTX *, const void *, size_t)) \
	X(SHA256_Final, int (*)(unsigned char *, SHA256_CTX *)) \
	X(AES_set_decrypt_key, int (*)(const unsigned char *, const int, \
	    AES_KEY *)) \
	X(AES_cbc_encrypt, void (*)(const unsigned char *, unsigned char *, \
	    size_t, const AES_KEY *, unsigned char *, const int))
#define SSL_FUNCS(X) \
	X(SSL_CTX_get_cert_store, X509_STORE *(*)(const SSL_CTX *))

static struct {
#define X(name, type) __typeof__(type) name;
	CRYPTO_FUNCS(X)
	LOW_FUNCS(X)
	SSL_FUNCS(X)
#undef X
} fn;

/* Each library's names, and their addresses into fn. */
#define NAME(name, type) #name,
#define FILL(name, type) fn.name = (type)addrs[i++];

static const char *const crypto_names[] = { CRYPTO_FUNCS(NAME) };
static const char *const low_names[] = { LOW_FUNCS(NAME) };
static const char *const ssl_names[] = { SSL_FUNCS(NAME) };

static void
crypto_fill(void *const *addrs)
{
	size_t i = 0;

	CRYPTO_FUNCS(FILL)
}

static void
low_fill(void *const *addrs)
{
	size_t i = 0;

	LOW_FUNCS(FILL)
}

static void
ssl_fill(void *const *addrs)
{
	size_t i = 0;

	SSL_FUNCS(FILL)
}

static struct mc_dl_lib crypto_lib = MC_DL_LIB(CRYPTO_SONAME,
    OPENSSL_PACKAGE, crypto_names, crypto_fill);
static struct mc_dl_lib low_lib = MC_DL_LIB(CRYPTO_SONAME,
    OPENSSL_PACKAGE, low_names, low_fill);
static struct mc_dl_lib ssl_lib = MC_DL_LIB(SSL_SONAME, OPENSSL_PACKAGE,
    ssl_names, ssl_fill);

int
mc_crypto_load(char **errmsg)
{
	return mc_dl_load(&crypto_lib, errmsg);
}

int
mc_ssl_load(char **errmsg)
{
	int rc = mc_crypto_load(errmsg);

	return rc == MC_OK ? mc_dl_load(&ssl_lib, errmsg) : rc;
}

int
RAND_bytes(unsigned char *buf, int num)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.RAND_bytes(buf, num) : 0;
}

int
EVP_Digest(const void *data, size_t count, unsigned char *md,
    unsigned int *size, const EVP_MD *type, ENGINE *impl)
{
	if (mc_crypto_load(NULL) != MC_OK || type == NULL)
		return 0;
	return fn.EVP_Digest(data, count, md, size, type, impl);
}

const EVP_MD *
EVP_sha256(void)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.EVP_sha256() : NULL;
}

unsigned char *
SHA256(const unsigned char *d, size_t n, unsigned char *md)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.SHA256(d, n, md) : NULL;
}

int
EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n)
{
	if (mc_crypto_load(NULL) != MC_OK) {
		t[0] = '\0';
		return -1;
	}
	return fn.EVP_EncodeBlock(t, f, n);
}

int
EVP_DecodeBlock(unsigned char *t, const unsigned char *f, int n)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.EVP_DecodeBlock(t, f, n) : -1;
}

/* Unloaded, everything differs: no secret is ever taken as a match. */
int
CRYPTO_memcmp(const void *a, const void *b, size_t len)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.CRYPTO_memcmp(a, b, len) : 1;
}

const char *
X509_verify_cert_error_string(long n)
{
	if (mc_crypto_load(NULL) != MC_OK)
		return "certificate verify error (libcrypto not loaded)";
	return fn.X509_verify_cert_error_string(n);
}

int
X509_STORE_load_file(X509_STORE *store, const char *file)
{
	if (mc_crypto_load(NULL) != MC_OK)
		return 0;
	return fn.X509_STORE_load_file(store, file);
}

/*
 * The big numbers and the cipher of the Secret Service's key agreement
 * (keyring/ssbus.c). Unloaded, each fails as on an internal error.
 */
BN_CTX *
BN_CTX_new(void)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.BN_CTX_new() : NULL;
}

void
BN_CTX_free(BN_CTX *c)
{
	if (c != NULL)
		fn.BN_CTX_free(c);	/* only a loaded libcrypto made one */
}

BIGNUM *
BN_bin2bn(const unsigned char *s, int len, BIGNUM *ret)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.BN_bin2bn(s, len, ret) :
	    NULL;
}

int
BN_bn2binpad(const BIGNUM *a, unsigned char *to, int tolen)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.BN_bn2binpad(a, to, tolen) :
	    -1;
}

void
BN_clear_free(BIGNUM *a)
{
	if (a != NULL)
		fn.BN_clear_free(a);
}

int
BN_cmp(const BIGNUM *a, const BIGNUM *b)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.BN_cmp(a, b) : 0;
}

int
BN_mod_exp(BIGNUM *r, const BIGNUM *a, const BIGNUM *p, const BIGNUM *m,
    BN_CTX *ctx)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.BN_mod_exp(r, a, p, m, ctx) :
	    0;
}

const BIGNUM *
BN_value_one(void)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.BN_value_one() : NULL;
}

void
BN_set_flags(BIGNUM *b, int n)
{
	if (b != NULL)
		fn.BN_set_flags(b, n);	/* only a loaded libcrypto made b */
}

X509_STORE *
SSL_CTX_get_cert_store(const SSL_CTX *ctx)
{
	return mc_ssl_load(NULL) == MC_OK ? fn.SSL_CTX_get_cert_store(ctx) :
	    NULL;
}

/*
 * The Secret Service session's own primitives, on OpenSSL's low-level
 * functions. Not EVP: the first EVP fetch (and RAND_bytes) initialises
 * OpenSSL's providers, reads openssl.cnf and seeds its random generators,
 * some 3 ms of CPU, about a third of what a keyring read cost.
 */

int
mc_hmac_sha256(const unsigned char *key, size_t keylen,
    const unsigned char *data, size_t len, unsigned char out[32])
{
	unsigned char pad[SHA256_CBLOCK], inner[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;
	size_t i;
	int ok;

	if (mc_dl_load(&low_lib, NULL) != MC_OK)
		return -1;
	/* RFC 2104: a key longer than a block is hashed first. */
	memset(pad, 0, sizeof(pad));
	if (keylen > sizeof(pad))
		ok = fn.SHA256_Init(&c) && fn.SHA256_Update(&c, key, keylen) &&
		    fn.SHA256_Final(pad, &c);
	else {
		if (keylen > 0)
			memcpy(pad, key, keylen);
		ok = 1;
	}
	for (i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36;
	ok = ok && fn.SHA256_Init(&c) && fn.SHA256_Update(&c, pad,
	    sizeof(pad)) && fn.SHA256_Update(&c, data, len) &&
	    fn.SHA256_Final(inner, &c);
	for (i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36 ^ 0x5c;
	ok = ok && fn.SHA256_Init(&c) && fn.SHA256_Update(&c, pad,
	    sizeof(pad)) && fn.SHA256_Update(&c, inner, sizeof(inner)) &&
	    fn.SHA256_Final(out, &c);
	explicit_bzero(pad, sizeof(pad));
	explicit_bzero(inner, sizeof(inner));
	explicit_bzero(&c, sizeof(c));
	return ok ? 0 : -1;
}

/*
 * (libcrypto's low-level AES is its table code, not AES-NI: a cache-timing
 * observer on the same machine could learn about the key. The key is the
 * session's, made for this one read of a few blocks. Another user cannot
 * read the session bus, where the encrypted secret goes by; a process of
 * the same user can (dbus-monitor), but it can as well ask the service
 * for the secret itself.)
 */
int
mc_aes128_cbc_decrypt(const unsigned char key[16],
    const unsigned char iv[16], const unsigned char *in, size_t n,
    unsigned char *out)
{
	unsigned char v[16];
	AES_KEY k;

	if (n == 0 || n % 16 != 0 || mc_dl_load(&low_lib, NULL) != MC_OK ||
	    fn.AES_set_decrypt_key(key, 128, &k) != 0)
		return -1;
	memcpy(v, iv, sizeof(v));	/* AES_cbc_encrypt moves it on */
	fn.AES_cbc_encrypt(in, out, n, &k, v, AES_DECRYPT);
	explicit_bzero(&k, sizeof(k));
	explicit_bzero(v, sizeof(v));
	return 0;
}
