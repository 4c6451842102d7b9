/* auth/crypto_dl.c - OpenSSL's functions forwarded to a dlopen'ed OpenSSL. */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

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
	X(BN_set_flags, void (*)(BIGNUM *, int)) \
	X(EVP_Q_mac, unsigned char *(*)(OSSL_LIB_CTX *, const char *, \
	    const char *, const char *, const OSSL_PARAM *, const void *, \
	    size_t, const unsigned char *, size_t, unsigned char *, size_t, \
	    size_t *)) \
	X(EVP_CIPHER_CTX_new, EVP_CIPHER_CTX *(*)(void)) \
	X(EVP_CIPHER_CTX_free, void (*)(EVP_CIPHER_CTX *)) \
	X(EVP_aes_128_cbc, const EVP_CIPHER *(*)(void)) \
	X(EVP_DecryptInit_ex, int (*)(EVP_CIPHER_CTX *, const EVP_CIPHER *, \
	    ENGINE *, const unsigned char *, const unsigned char *)) \
	X(EVP_DecryptUpdate, int (*)(EVP_CIPHER_CTX *, unsigned char *, \
	    int *, const unsigned char *, int)) \
	X(EVP_DecryptFinal_ex, int (*)(EVP_CIPHER_CTX *, unsigned char *, \
	    int *))
#define SSL_FUNCS(X) \
	X(SSL_CTX_get_cert_store, X509_STORE *(*)(const SSL_CTX *))

static struct {
#define X(name, type) __typeof__(type) name;
	CRYPTO_FUNCS(X)
	SSL_FUNCS(X)
#undef X
} fn;

/* Each library's names, and their addresses into fn. */
#define NAME(name, type) #name,
#define FILL(name, type) fn.name = (type)addrs[i++];

static const char *const crypto_names[] = { CRYPTO_FUNCS(NAME) };
static const char *const ssl_names[] = { SSL_FUNCS(NAME) };

static void
crypto_fill(void *const *addrs)
{
	size_t i = 0;

	CRYPTO_FUNCS(FILL)
}

static void
ssl_fill(void *const *addrs)
{
	size_t i = 0;

	SSL_FUNCS(FILL)
}

static struct mc_dl_lib crypto_lib = MC_DL_LIB(CRYPTO_SONAME,
    OPENSSL_PACKAGE, crypto_names, crypto_fill);
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

unsigned char *
EVP_Q_mac(OSSL_LIB_CTX *libctx, const char *name, const char *propq,
    const char *subalg, const OSSL_PARAM *params, const void *key,
    size_t keylen, const unsigned char *data, size_t datalen,
    unsigned char *out, size_t outsize, size_t *outlen)
{
	if (mc_crypto_load(NULL) != MC_OK)
		return NULL;
	return fn.EVP_Q_mac(libctx, name, propq, subalg, params, key, keylen,
	    data, datalen, out, outsize, outlen);
}

EVP_CIPHER_CTX *
EVP_CIPHER_CTX_new(void)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.EVP_CIPHER_CTX_new() : NULL;
}

void
EVP_CIPHER_CTX_free(EVP_CIPHER_CTX *c)
{
	if (c != NULL)
		fn.EVP_CIPHER_CTX_free(c);
}

const EVP_CIPHER *
EVP_aes_128_cbc(void)
{
	return mc_crypto_load(NULL) == MC_OK ? fn.EVP_aes_128_cbc() : NULL;
}

int
EVP_DecryptInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher,
    ENGINE *impl, const unsigned char *key, const unsigned char *iv)
{
	if (mc_crypto_load(NULL) != MC_OK || cipher == NULL)
		return 0;
	return fn.EVP_DecryptInit_ex(ctx, cipher, impl, key, iv);
}

int
EVP_DecryptUpdate(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl,
    const unsigned char *in, int inl)
{
	if (mc_crypto_load(NULL) != MC_OK)
		return 0;
	return fn.EVP_DecryptUpdate(ctx, out, outl, in, inl);
}

int
EVP_DecryptFinal_ex(EVP_CIPHER_CTX *ctx, unsigned char *outm, int *outl)
{
	if (mc_crypto_load(NULL) != MC_OK)
		return 0;
	return fn.EVP_DecryptFinal_ex(ctx, outm, outl);
}

X509_STORE *
SSL_CTX_get_cert_store(const SSL_CTX *ctx)
{
	return mc_ssl_load(NULL) == MC_OK ? fn.SSL_CTX_get_cert_store(ctx) :
	    NULL;
}
