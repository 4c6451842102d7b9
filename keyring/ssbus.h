/*
 * keyring/ssbus.h - one secret read from the Secret Service over a bare
 * D-Bus socket: no libsecret, no GLib, no thread. Private to keyring/.
 *
 * libsecret brings GLib, GIO, libgcrypt and a dozen more shared objects
 * and a D-Bus worker thread: on a `token --refresh` that costs about as
 * much as the HTTP request, and it cannot overlap the loading of libcurl
 * in the other thread, since the dynamic loader has one lock and GLib's
 * start takes it. The common read is done here on the socket itself:
 *
 *   AUTH EXTERNAL (our uid), BEGIN,    one write: the bus's handshake,
 *   Hello, GetNameOwner(org.freedesktop.secrets),
 *   Properties.Get(Collections)        who the service is, from the bus;
 *                                      the service meets its caller (see
 *                                      hello_calls() in ssbus.c); our key
 *                                      pair is made meanwhile
 *   OpenSession(dh-ietf1024-sha256-aes128-cbc-pkcs7, our public key),
 *   SearchItems(attributes)            one write, two answers
 *   Item.GetSecret(session)            on the first unlocked match
 *
 * The session is encrypted as libsecret's is (ssbus_dh_* below): a
 * same-user dbus-monitor sees no secret. Answers count only from the
 * unique name the bus gave for org.freedesktop.secrets; an answer to one
 * of our calls from anyone else (someone passing for the service, or the
 * bus's own NoReply when the service died) ends the read here. Only the
 * unix:path= and unix:abstract= addresses of DBUS_SESSION_BUS_ADDRESS are
 * used, and no call may start a service (NO_AUTO_START), as with
 * libsecret's path.
 *
 * ssbus_get() answers the common case: one unlocked item, found and read.
 * What libsecret's path tells apart and words better (no usable address,
 * no bus, no service, an error before GetSecret, no unlocked match, an
 * answer that does not parse, no libcrypto) is SSBUS_DEFER, and
 * keyring/secret_service.c takes over with libsecret. Final: a deadline
 * that passed (asking again would double the wait of a frozen service),
 * and a GetSecret the service refused (asking again would ask the user
 * twice, where the service asks before it hands out a secret).
 */
#ifndef MAILCRED_KEYRING_SSBUS_H
#define MAILCRED_KEYRING_SSBUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* ssbus_get(): not answered here; ask libsecret. */
#define SSBUS_DEFER 1
/* ssbus_get(): the service answered GetSecret with an error. */
#define SSBUS_REFUSED 2

/* The largest message read (a secret of STORE_SECRET_MAX and its frame). */
#define SSBUS_MSG_MAX (1024 * 1024 + 65536)

/*
 * Reads the secret of the item with the attributes account, kind and
 * xdg:schema = schema (what libsecret searches for with a schema) within
 * timeout_ms. Returns STORE_OK and *secret (malloc'd text without NUL,
 * NUL-terminated; the caller wipes and frees it); STORE_ETIMEOUT when the
 * deadline passed; STORE_ELOCKED when GetSecret said IsLocked;
 * SSBUS_REFUSED with the D-Bus error name in why[0..whysize) for another
 * error answer to GetSecret; STORE_ENOMEM; or SSBUS_DEFER. *secret is
 * NULL unless STORE_OK. Every byte read off the socket, the session's
 * keys and the plaintext are wiped before they are freed.
 */
int ssbus_get(const char *schema, const char *account, const char *kind,
    int timeout_ms, char **secret, char *why, size_t whysize);

/* 1 when DBUS_SESSION_BUS_ADDRESS has an address ssbus_get() can use. */
int ssbus_usable(void);

/*
 * Loads libcrypto (the session's key agreement) now, for store_warm():
 * a read made while another thread loads libcurl would otherwise wait for
 * the whole of that load before its key pair. Best effort: without
 * libcrypto, ssbus_get() defers to libsecret as before.
 */
void ssbus_warm(void);

/* The parsers, public for the unit test and the fuzzer. */

/*
 * The first unix:path= or unix:abstract= address in a D-Bus address list
 * ("unix:path=/run/user/1000/bus;tcp:..."), %-escapes decoded, into *sa and
 * *salen. Returns 0, or -1 when there is none.
 */
int ssbus_address(const char *addresses, struct sockaddr_un *sa,
    socklen_t *salen);

/* What ssbus_msg_parse() found in a message. */
struct ssbus_msg {
	int type;		/* 1 call, 2 return, 3 error, 4 signal */
	int big_endian;
	uint32_t serial;
	uint32_t reply_serial;	/* 0: none */
	char signature[256];	/* of the body; "" when none */
	char sender[256];	/* the SENDER field; "" when none */
	char error_name[256];	/* the ERROR_NAME field; "" when none */
	const unsigned char *body;	/* into the parsed buffer */
	size_t body_len;
};

/*
 * The whole size of the message that starts at buf, given its first 16
 * bytes: 0 when they are no D-Bus message header, or the message would be
 * larger than max.
 */
size_t ssbus_msg_size(const unsigned char *buf, size_t len, size_t max);

/*
 * Reads the header of the message buf[0..len) (len as ssbus_msg_size()
 * said) into *m. Returns 0, or -1 when it does not parse.
 */
int ssbus_msg_parse(const unsigned char *buf, size_t len,
    struct ssbus_msg *m);

/*
 * OpenSession's answer (signature "vo"): *out and *outlen the service's
 * public key (an "ay" in the variant) inside the message, *path the
 * session's object path (malloc'd). 0 or -1.
 */
int ssbus_parse_session(const struct ssbus_msg *m, const unsigned char **out,
    size_t *outlen, char **path);

/*
 * SearchItems' answer ("aoao"): the first unlocked match in *item
 * (malloc'd, NULL when there is none) and how many are locked. 0 or -1.
 */
int ssbus_parse_search(const struct ssbus_msg *m, char **item,
    size_t *nlocked);

/*
 * Item.GetSecret's answer ("(oayays)"): the parameters (the IV) and the
 * value (the ciphertext), pointers into the message. 0 or -1.
 */
int ssbus_parse_secret(const struct ssbus_msg *m, const unsigned char **params,
    size_t *plen, const unsigned char **value, size_t *len);

/*
 * The session's key agreement, "dh-ietf1024-sha256-aes128-cbc-pkcs7" as
 * libsecret does it: Diffie-Hellman in RFC 2409's 1024-bit group, HKDF-SHA256
 * of the shared secret (padded to 128 bytes, no salt, no info) to a 16-byte
 * AES-128 key; each secret comes AES-128-CBC encrypted, PKCS#7 padded, its
 * IV as the parameters. Uses libcrypto's big numbers and its low-level
 * SHA-256 and AES (auth/crypto_dl.h), and getrandom(2) for the private
 * key: nothing that initialises OpenSSL's providers or reads openssl.cnf.
 */
#define DH_BYTES 128

struct ssbus_dh {
	unsigned char priv[DH_BYTES];	/* wiped once the key is made */
	unsigned char pub[DH_BYTES];
	unsigned char key[16];		/* the caller wipes it */
};

/* A new key pair into *dh. 0, or -1 (libcrypto missing or failing). */
int ssbus_dh_begin(struct ssbus_dh *dh);

/*
 * The key from the service's public key peer[0..n) (refused unless
 * 1 < peer < p - 1). Wipes dh->priv either way. 0 or -1.
 */
int ssbus_dh_key(struct ssbus_dh *dh, const unsigned char *peer, size_t n);

/*
 * Decrypts in[0..n) with iv[0..ivlen) into *out (malloc'd text without
 * NUL, NUL-terminated; the caller wipes and frees it). -1 for a wrong IV
 * or length, bad padding, or a NUL in the text.
 */
int ssbus_dh_decrypt(const struct ssbus_dh *dh, const unsigned char *iv,
    size_t ivlen, const unsigned char *in, size_t n, char **out);

#endif
