/*
 * auth/crypto_dl.h - OpenSSL (libcrypto, libssl), loaded on first use.
 *
 * The suite uses OpenSSL for random numbers, SHA-256, base64 and
 * constant-time comparison, for the trust store of curl's TLS context, and
 * for the Secret Service's encrypted session (big numbers, HMAC, AES-CBC:
 * keyring/ssbus.c, through mc_hmac_sha256() and mc_aes128_cbc_decrypt()
 * below). None of that is on the path of a cached `mailcred token`, and
 * libcrypto alone is a 4 MB library with its own initialisation, so
 * mailcred is not linked against OpenSSL: auth/crypto_dl.c defines the
 * functions the suite uses (same names, prototypes from OpenSSL's
 * headers) as forwarders to libcrypto.so.3 and libssl.so.3, opened with
 * dlopen(3) by the first call. Code elsewhere includes OpenSSL's headers
 * and calls OpenSSL as usual; a function the forwarders lack is a link
 * error.
 *
 * When a library cannot be loaded, each forwarder fails as the real
 * function does on an internal error (RAND_bytes, EVP_Digest,
 * X509_STORE_load_file: 0; EVP_sha256, SHA256, SSL_CTX_get_cert_store:
 * NULL; EVP_EncodeBlock, EVP_DecodeBlock: -1; CRYPTO_memcmp: "different";
 * the BN_ functions: NULL, 0 or -1 as their manual says for an error), never
 * crashes. A caller that can report an error calls mc_crypto_load()
 * first, for the message.
 */
#ifndef MAILCRED_AUTH_CRYPTO_DL_H
#define MAILCRED_AUTH_CRYPTO_DL_H

#include <stddef.h>

/*
 * Opens libcrypto (libcrypto.so.3) and resolves the functions, once; safe
 * to call from any thread. Returns MC_OK, or MC_ERR_SERVICE with a message
 * saying what to install.
 */
int mc_crypto_load(char **errmsg);

/* The same for libssl (libssl.so.3), and libcrypto with it. */
int mc_ssl_load(char **errmsg);

/*
 * For the Secret Service's session (keyring/ssbus.c), on OpenSSL's
 * low-level SHA-256 and AES functions, so that a keyring read neither
 * initialises OpenSSL's providers nor reads openssl.cnf (EVP would, at
 * its first use: some 3 ms of CPU, about a third of what a keyring read
 * cost). Each loads libcrypto, and returns 0, or -1 when it cannot be
 * loaded or lacks those functions (OpenSSL 3 deprecates them: a build
 * without deprecated functions has none; the rest of libcrypto is still
 * used then, and the keyring is read through libsecret).
 */

/* HMAC-SHA256 (RFC 2104) of data[0..len) under key[0..keylen), into out. */
int mc_hmac_sha256(const unsigned char *key, size_t keylen,
    const unsigned char *data, size_t len, unsigned char out[32]);

/*
 * AES-128-CBC decryption of in[0..n) (n a multiple of 16, not 0; else -1)
 * with key and iv, into out[0..n), which must not overlap in. The padding
 * is left for the caller to check.
 */
int mc_aes128_cbc_decrypt(const unsigned char key[16],
    const unsigned char iv[16], const unsigned char *in, size_t n,
    unsigned char *out);

#endif
