/*
 * keyring/ssbus.h - one secret read from the Secret Service over a bare
 * D-Bus socket: no libsecret, no GLib, no thread. Private to keyring/.
 *
 * libsecret brings GLib, GIO, libgcrypt and a dozen more shared objects,
 * a D-Bus worker thread and a key agreement: on a `token --refresh` that
 * costs about as much as the HTTP request, and it cannot overlap the
 * loading of libcurl in the other thread, since the dynamic loader has
 * one lock and GLib's start takes it. The common read is done here on the
 * socket itself, in four round trips:
 *
 *   AUTH EXTERNAL                      the bus's handshake (our uid)
 *   BEGIN, Hello, Properties.Get(Collections)
 *                                      the service meets its caller (see
 *                                      hello_calls() in ssbus.c)
 *   OpenSession("plain"), SearchItems(attributes)
 *   Item.GetSecret(session)            on the first unlocked match
 *
 * The "plain" session carries the secret as it is over the user's own bus
 * socket, where libsecret first agrees a key with the service. The bus and
 * the service are the user's; any process of the user may ask the service
 * for every secret anyway (the threat model in mailcred.conf(5)).
 *
 * Only the unix:path= and unix:abstract= addresses of
 * DBUS_SESSION_BUS_ADDRESS are used. No call may start a service
 * (NO_AUTO_START), as with libsecret's path.
 *
 * ssbus_get() answers only the plain case: one unlocked item, found and
 * read. Everything else is SSBUS_DEFER, and keyring/secret_service.c's
 * libsecret path, which tells those cases apart and words the error, takes
 * over. Only a deadline that passed is final: asking again would double the
 * wait of a frozen service.
 */
#ifndef MAILCRED_KEYRING_SSBUS_H
#define MAILCRED_KEYRING_SSBUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* ssbus_get(): not answered here; ask libsecret. */
#define SSBUS_DEFER 1

/* The largest message read (a secret of STORE_SECRET_MAX and its frame). */
#define SSBUS_MSG_MAX (1024 * 1024 + 65536)

/*
 * Reads the secret of the item with the attributes account, kind and
 * xdg:schema = schema (what libsecret searches for with a schema) within
 * timeout_ms. Returns STORE_OK and *secret (malloc'd text without NUL,
 * NUL-terminated; the caller wipes and frees it), STORE_ETIMEOUT when the
 * deadline passed, STORE_ENOMEM, or SSBUS_DEFER: no usable bus address, no
 * bus, no service, an error answer, no unlocked match, a value that is not
 * text, an answer that does not parse. *secret is NULL unless STORE_OK.
 * Every byte read is wiped before it is freed.
 */
int ssbus_get(const char *schema, const char *account, const char *kind,
    int timeout_ms, char **secret);

/* 1 when DBUS_SESSION_BUS_ADDRESS has an address ssbus_get() can use. */
int ssbus_usable(void);

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
 * OpenSession's answer (signature "vo", the output a string as "plain"
 * gives): the session's object path in *path (malloc'd). 0 or -1.
 */
int ssbus_parse_session(const struct ssbus_msg *m, char **path);

/*
 * SearchItems' answer ("aoao"): the first unlocked match in *item
 * (malloc'd, NULL when there is none) and how many are locked. 0 or -1.
 */
int ssbus_parse_search(const struct ssbus_msg *m, char **item,
    size_t *nlocked);

/*
 * Item.GetSecret's answer ("(oayays)"): *value and *len point at the
 * secret's bytes inside the message. 0 or -1.
 */
int ssbus_parse_secret(const struct ssbus_msg *m,
    const unsigned char **value, size_t *len);

#endif
