/*
 * auth/crypto_dl.h - OpenSSL (libcrypto, libssl), loaded on first use.
 *
 * The suite uses OpenSSL for random numbers, SHA-256, base64 and
 * constant-time comparison, for the trust store of curl's TLS context, and
 * for the Secret Service's encrypted session (big numbers, HMAC, AES-CBC:
 * keyring/ssbus.c). None of that is on the path of a cached `mailcred token`, and
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
 * NULL;
 * EVP_EncodeBlock, EVP_DecodeBlock: -1; CRYPTO_memcmp: "different";
 * the BN_, EVP_Q_mac and EVP_Decrypt/EVP_CIPHER functions: NULL, 0 or -1
 * as their manual says for an error), never crashes. A caller that can report an error calls mc_crypto_load()
 * first, for the message.
 */
#ifndef MAILCRED_AUTH_CRYPTO_DL_H
#define MAILCRED_AUTH_CRYPTO_DL_H

/*
 * Opens libcrypto (libcrypto.so.3) and resolves the functions, once; safe
 * to call from any thread. Returns MC_OK, or MC_ERR_SERVICE with a message
 * saying what to install.
 */
int mc_crypto_load(char **errmsg);

/* The same for libssl (libssl.so.3), and libcrypto with it. */
int mc_ssl_load(char **errmsg);

#endif
