/*
 * keyring/ssbus.c - one secret read from the Secret Service over a bare
 * D-Bus socket (see keyring/ssbus.h).
 *
 * The D-Bus wire format, the little of it used here: a message is a 16-byte
 * fixed header (endianness 'l' or 'B', type, flags, version 1, body length,
 * serial, length of the header-field array), the header fields (an array of
 * (byte code, variant) structs, each 8-aligned), padding to 8, the body.
 * Every value is aligned to its size from the start of its message; strings
 * and object paths are a u32 length, the bytes and a NUL; signatures a byte
 * length, the bytes and a NUL; arrays a u32 byte length, padding to their
 * element's alignment, the elements.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>

#include "auth/crypto_dl.h"
#include "keyring/backend.h"
#include "keyring/ssbus.h"
#include "keyring/store.h"

#define BUS "org.freedesktop.DBus"
#define BUS_PATH "/org/freedesktop/DBus"
#define SERVICE "org.freedesktop.secrets"
#define SERVICE_PATH "/org/freedesktop/secrets"
#define IFACE_SERVICE "org.freedesktop.Secret.Service"
#define IFACE_ITEM "org.freedesktop.Secret.Item"

#define FLAG_NO_AUTO_START 0x2

/* Header field codes. */
#define F_PATH 1
#define F_INTERFACE 2
#define F_MEMBER 3
#define F_ERROR_NAME 4
#define F_REPLY_SERIAL 5
#define F_DESTINATION 6
#define F_SENDER 7
#define F_SIGNATURE 8

/* Serials of our calls, in the order they are sent. */
enum { S_HELLO = 1, S_OWNER, S_PROBE, S_SESSION, S_SEARCH, S_SECRET };

/* The longest line of the handshake we wait for. */
#define AUTH_LINE_MAX 512

/* ------------------------------------------------------------------ */
/* Addresses */

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes the value v[0..n) (%-escapes) into out[0..size), NUL-terminated;
 * *outlen the bytes. -1 when it does not fit, has a bad escape or a NUL.
 */
static int
unescape(const char *v, size_t n, char *out, size_t size, size_t *outlen)
{
	size_t i, j = 0;
	int hi, lo;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)v[i];
		if (c == '%') {
			if (n - i < 3)
				return -1;
			hi = hexval((unsigned char)v[i + 1]);
			lo = hexval((unsigned char)v[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0' || j + 1 >= size)
			return -1;
		out[j++] = (char)c;
	}
	out[j] = '\0';
	*outlen = j;
	return 0;
}

/* One address "unix:key=value,..." of n bytes: 0 and *sa, or -1. */
static int
one_address(const char *a, size_t n, struct sockaddr_un *sa,
    socklen_t *salen)
{
	const char *p, *end = a + n, *comma, *eq;
	char value[sizeof(sa->sun_path)];
	size_t vlen;
	int found = 0, abstract = 0;

	if (n < 5 || memcmp(a, "unix:", 5) != 0)
		return -1;
	for (p = a + 5; p < end; p = comma + 1) {
		comma = memchr(p, ',', (size_t)(end - p));
		if (comma == NULL)
			comma = end;
		eq = memchr(p, '=', (size_t)(comma - p));
		if (eq == NULL)
			return -1;
		if ((size_t)(eq - p) == 4 && memcmp(p, "path", 4) == 0)
			abstract = 0;
		else if ((size_t)(eq - p) == 8 && memcmp(p, "abstract", 8) == 0)
			abstract = 1;
		else if ((size_t)(eq - p) == 4 && memcmp(p, "guid", 4) == 0)
			continue;
		else
			return -1;	/* tmpdir=, dir=, runtime=: listen only */
		if (found)
			return -1;
		if (unescape(eq + 1, (size_t)(comma - eq - 1), value,
		    sizeof(value) - (size_t)abstract, &vlen) != 0 || vlen == 0)
			return -1;
		memset(sa, 0, sizeof(*sa));
		sa->sun_family = AF_UNIX;
		memcpy(sa->sun_path + abstract, value, vlen);
		/* One byte more: the path's NUL, or abstract's leading NUL. */
		*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    vlen + 1);
		found = 1;
	}
	return found ? 0 : -1;
}

int
ssbus_address(const char *addresses, struct sockaddr_un *sa,
    socklen_t *salen)
{
	const char *p, *semi;

	if (addresses == NULL)
		return -1;
	for (p = addresses; *p != '\0'; p = semi + 1) {
		semi = strchr(p, ';');
		if (semi == NULL)
			semi = p + strlen(p);
		if (one_address(p, (size_t)(semi - p), sa, salen) == 0)
			return 0;
		if (*semi == '\0')
			break;
	}
	return -1;
}

int
ssbus_usable(void)
{
	struct sockaddr_un sa;
	socklen_t len;

	return ssbus_address(getenv("DBUS_SESSION_BUS_ADDRESS"), &sa,
	    &len) == 0;
}

/* ------------------------------------------------------------------ */
/* Writing calls */

/* Our calls, all in one buffer; base is where the current one starts. */
struct wbuf {
	unsigned char b[8192];
	size_t n, base;
	int overflow;
};

static void
put(struct wbuf *w, const void *p, size_t n)
{
	if (w->overflow || n > sizeof(w->b) - w->n) {
		w->overflow = 1;
		return;
	}
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void
put_align(struct wbuf *w, size_t a)
{
	static const unsigned char zero[8];

	put(w, zero, (a - (w->n - w->base) % a) % a);
}

static void
put_u8(struct wbuf *w, unsigned char v)
{
	put(w, &v, 1);
}

/* Ours go out little-endian ('l'), whatever the machine. */
static void
put_u32(struct wbuf *w, uint32_t v)
{
	unsigned char b[4];

	put_align(w, 4);
	b[0] = (unsigned char)(v & 0xff);
	b[1] = (unsigned char)((v >> 8) & 0xff);
	b[2] = (unsigned char)((v >> 16) & 0xff);
	b[3] = (unsigned char)((v >> 24) & 0xff);
	put(w, b, 4);
}

static void
patch_u32(struct wbuf *w, size_t at, uint32_t v)
{
	if (w->overflow || at + 4 > w->n)
		return;
	w->b[at] = (unsigned char)(v & 0xff);
	w->b[at + 1] = (unsigned char)((v >> 8) & 0xff);
	w->b[at + 2] = (unsigned char)((v >> 16) & 0xff);
	w->b[at + 3] = (unsigned char)((v >> 24) & 0xff);
}

/* A string or object path. */
static void
put_str(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	put_u32(w, (uint32_t)n);
	put(w, s, n + 1);
}

static void
put_sig(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	put_u8(w, (unsigned char)n);
	put(w, s, n + 1);
}

/* A header field: code, then a variant of type t ('s', 'o' or 'g'). */
static void
put_field(struct wbuf *w, unsigned char code, char t, const char *v)
{
	char sig[2] = { t, '\0' };

	put_align(w, 8);
	put_u8(w, code);
	put_sig(w, sig);
	if (t == 'g')
		put_sig(w, v);
	else
		put_str(w, v);
}

/* Where a call being written starts, and its body. */
struct call {
	size_t at, body;
};

/*
 * Starts a method call right after what w holds (messages follow each
 * other with no padding between); call_end() fills in its body's length.
 */
static void
call_begin(struct wbuf *w, uint32_t serial, const char *dest,
    const char *path, const char *iface, const char *member, const char *sig,
    struct call *call)
{
	w->base = w->n;
	call->at = w->n;
	put_u8(w, 'l');
	put_u8(w, 1);		/* METHOD_CALL */
	put_u8(w, strcmp(dest, SERVICE) == 0 ? FLAG_NO_AUTO_START : 0);
	put_u8(w, 1);		/* protocol version */
	put_u32(w, 0);		/* body length, later */
	put_u32(w, serial);
	put_u32(w, 0);		/* header field array length, later */
	put_field(w, F_PATH, 'o', path);
	put_field(w, F_DESTINATION, 's', dest);
	put_field(w, F_INTERFACE, 's', iface);
	put_field(w, F_MEMBER, 's', member);
	if (sig != NULL)
		put_field(w, F_SIGNATURE, 'g', sig);
	patch_u32(w, call->at + 12, (uint32_t)(w->n - call->at - 16));
	put_align(w, 8);
	call->body = w->n;
}

static void
call_end(struct wbuf *w, const struct call *call)
{
	patch_u32(w, call->at + 4, (uint32_t)(w->n - call->body));
}

/*
 * Appends Hello; GetNameOwner("org.freedesktop.secrets"), the unique name
 * of the service, from the bus itself (no client can answer in the bus's
 * name), so that no one else on the bus can pass for the service; and a
 * first call to the service that needs no session: Properties.Get(Service,
 * "Collections"), as libsecret's proxy starts with. gnome-keyring (42)
 * learns a caller from an idle callback that its first message queues: a
 * first message that needs the caller, as OpenSession does, can run before
 * it, and the daemon then aborts ("g_variant_new: expected GVariant of type
 * 'v'"). Two mailcred processes reading at once made that happen within a
 * few hundred reads.
 */
static void
hello_calls(struct wbuf *w)
{
	struct call call;

	call_begin(w, S_HELLO, BUS, BUS_PATH, BUS, "Hello", NULL, &call);
	call_end(w, &call);
	call_begin(w, S_OWNER, BUS, BUS_PATH, BUS, "GetNameOwner", "s", &call);
	put_str(w, SERVICE);
	call_end(w, &call);
	call_begin(w, S_PROBE, SERVICE, SERVICE_PATH,
	    "org.freedesktop.DBus.Properties", "Get", "ss", &call);
	put_str(w, IFACE_SERVICE);
	put_str(w, "Collections");
	call_end(w, &call);
}

/*
 * Appends OpenSession("dh-ietf1024-sha256-aes128-cbc-pkcs7", <pub>) and
 * SearchItems({account, kind, xdg:schema}).
 */
static void
search_calls(struct wbuf *w, const char *schema, const char *account,
    const char *kind, const unsigned char *pub)
{
	struct call call;
	size_t len_at, start;

	call_begin(w, S_SESSION, SERVICE, SERVICE_PATH, IFACE_SERVICE,
	    "OpenSession", "sv", &call);
	put_str(w, "dh-ietf1024-sha256-aes128-cbc-pkcs7");
	put_sig(w, "ay");
	put_u32(w, DH_BYTES);
	put(w, pub, DH_BYTES);
	call_end(w, &call);

	call_begin(w, S_SEARCH, SERVICE, SERVICE_PATH, IFACE_SERVICE,
	    "SearchItems", "a{ss}", &call);
	put_u32(w, 0);		/* the array's length, below */
	len_at = w->n - 4;
	put_align(w, 8);	/* dict entries are 8-aligned */
	start = w->n;
	put_align(w, 8);
	put_str(w, "account");
	put_str(w, account);
	put_align(w, 8);
	put_str(w, "kind");
	put_str(w, kind);
	put_align(w, 8);
	put_str(w, "xdg:schema");
	put_str(w, schema);
	patch_u32(w, len_at, (uint32_t)(w->n - start));
	call_end(w, &call);
}

/* ------------------------------------------------------------------ */
/* Reading messages */

struct rd {
	const unsigned char *p;
	size_t len, pos;
	int big;
};

static int
rd_align(struct rd *r, size_t a)
{
	size_t pos = (r->pos + a - 1) / a * a;

	if (pos > r->len)
		return -1;
	r->pos = pos;
	return 0;
}

static int
rd_u8(struct rd *r, unsigned char *v)
{
	if (r->pos >= r->len)
		return -1;
	*v = r->p[r->pos++];
	return 0;
}

static uint32_t
get_u32(const unsigned char *b, int big)
{
	if (big)
		return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
		    (uint32_t)b[2] << 8 | (uint32_t)b[3];
	return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[1] << 8 | (uint32_t)b[0];
}

static int
rd_u32(struct rd *r, uint32_t *v)
{
	if (rd_align(r, 4) != 0 || r->len - r->pos < 4)
		return -1;
	*v = get_u32(r->p + r->pos, r->big);
	r->pos += 4;
	return 0;
}

/*
 * len bytes and a NUL at r->pos, no NUL among them: *s (into the buffer,
 * NUL-terminated) and *n.
 */
static int
rd_text(struct rd *r, size_t len, const char **s, size_t *n)
{
	if (r->len - r->pos < len + 1 || r->p[r->pos + len] != '\0' ||
	    memchr(r->p + r->pos, '\0', len) != NULL)
		return -1;
	*s = (const char *)r->p + r->pos;
	*n = len;
	r->pos += len + 1;
	return 0;
}

/* A string or object path: a u32 length, then the text. */
static int
rd_str(struct rd *r, const char **s, size_t *n)
{
	uint32_t len;

	if (rd_u32(r, &len) != 0)
		return -1;
	return rd_text(r, len, s, n);
}

/* A signature: a byte length, then the text. */
static int
rd_sig(struct rd *r, const char **s, size_t *n)
{
	unsigned char len;

	if (rd_u8(r, &len) != 0)
		return -1;
	return rd_text(r, len, s, n);
}

/* An array's length, then padding to its elements' alignment: *end. */
static int
rd_array(struct rd *r, size_t align, size_t *end)
{
	uint32_t len;

	if (rd_u32(r, &len) != 0 || rd_align(r, align) != 0 ||
	    r->len - r->pos < len)
		return -1;
	*end = r->pos + len;
	return 0;
}

size_t
ssbus_msg_size(const unsigned char *buf, size_t len, size_t max)
{
	uint32_t body, fields;
	int big;
	size_t head;

	if (len < 16 || (buf[0] != 'l' && buf[0] != 'B') || buf[3] != 1)
		return 0;
	big = buf[0] == 'B';
	body = get_u32(buf + 4, big);
	fields = get_u32(buf + 12, big);
	if (fields > max || body > max)
		return 0;
	head = (16 + (size_t)fields + 7) / 8 * 8;
	if (head > max || body > max - head)
		return 0;
	return head + body;
}

int
ssbus_msg_parse(const unsigned char *buf, size_t len, struct ssbus_msg *m)
{
	struct rd r = { buf, 0, 16, 0 };
	const char *s;
	size_t n, head;
	unsigned char code, y;
	uint32_t u, fields;

	memset(m, 0, sizeof(*m));
	if (len < 16 || ssbus_msg_size(buf, 16, len) != len)
		return -1;
	r.big = buf[0] == 'B';
	m->big_endian = r.big;
	m->type = buf[1];
	m->serial = get_u32(buf + 8, r.big);
	fields = get_u32(buf + 12, r.big);
	r.len = 16 + (size_t)fields;
	while (r.pos < r.len) {
		if (rd_align(&r, 8) != 0 || rd_u8(&r, &code) != 0 ||
		    rd_sig(&r, &s, &n) != 0 || n != 1)
			return -1;
		switch (s[0]) {
		case 's':
		case 'o':
			if (rd_str(&r, &s, &n) != 0)
				return -1;
			if (code == F_SENDER || code == F_ERROR_NAME) {
				if (n >= sizeof(m->sender))
					return -1;	/* names are shorter */
				memcpy(code == F_SENDER ? m->sender :
				    m->error_name, s, n + 1);
			}
			break;
		case 'g':
			if (rd_sig(&r, &s, &n) != 0)
				return -1;
			if (code == F_SIGNATURE)
				memcpy(m->signature, s, n + 1);
			break;
		case 'u':
			if (rd_u32(&r, &u) != 0)
				return -1;
			if (code == F_REPLY_SERIAL)
				m->reply_serial = u;
			break;
		case 'y':
			if (rd_u8(&r, &y) != 0)
				return -1;
			break;
		default:
			return -1;
		}
	}
	head = (r.len + 7) / 8 * 8;
	m->body = buf + head;
	m->body_len = len - head;
	return 0;
}

/* An "ay": *p and *n the bytes, inside the buffer. */
static int
rd_bytes(struct rd *r, const unsigned char **p, size_t *n)
{
	size_t end;

	if (rd_array(r, 1, &end) != 0)
		return -1;
	*p = r->p + r->pos;
	*n = end - r->pos;
	r->pos = end;
	return 0;
}

static void
body_reader(const struct ssbus_msg *m, struct rd *r)
{
	/* The body starts 8-aligned: alignment from its start is the same. */
	r->p = m->body;
	r->len = m->body_len;
	r->pos = 0;
	r->big = m->big_endian;
}

static char *
dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

int
ssbus_parse_session(const struct ssbus_msg *m, const unsigned char **out,
    size_t *outlen, char **path)
{
	struct rd r;
	const char *s;
	size_t n;

	*out = NULL;
	*outlen = 0;
	*path = NULL;
	if (strcmp(m->signature, "vo") != 0)
		return -1;
	body_reader(m, &r);
	/* The output: a variant holding the service's public key, "ay". */
	if (rd_sig(&r, &s, &n) != 0 || n != 2 || memcmp(s, "ay", 2) != 0 ||
	    rd_bytes(&r, out, outlen) != 0 ||
	    rd_str(&r, &s, &n) != 0 || n == 0 || s[0] != '/')
		return -1;
	*path = dup_n(s, n);
	return *path != NULL ? 0 : -1;
}

int
ssbus_parse_search(const struct ssbus_msg *m, char **item, size_t *nlocked)
{
	struct rd r;
	const char *s, *first = NULL;
	size_t n, first_n = 0, end;

	*item = NULL;
	*nlocked = 0;
	if (strcmp(m->signature, "aoao") != 0)
		return -1;
	body_reader(m, &r);
	if (rd_array(&r, 4, &end) != 0)
		return -1;
	while (r.pos < end) {
		if (rd_str(&r, &s, &n) != 0 || r.pos > end || n == 0 ||
		    s[0] != '/')
			return -1;
		if (first == NULL) {
			first = s;
			first_n = n;
		}
	}
	if (rd_array(&r, 4, &end) != 0)
		return -1;
	while (r.pos < end) {
		if (rd_str(&r, &s, &n) != 0 || r.pos > end)
			return -1;
		(*nlocked)++;
	}
	if (first == NULL)
		return 0;
	*item = dup_n(first, first_n);
	return *item != NULL ? 0 : -1;
}

int
ssbus_parse_secret(const struct ssbus_msg *m, const unsigned char **params,
    size_t *plen, const unsigned char **value, size_t *len)
{
	struct rd r;
	const char *s;
	size_t n;

	*params = *value = NULL;
	*plen = *len = 0;
	if (strcmp(m->signature, "(oayays)") != 0)
		return -1;
	body_reader(m, &r);
	/* The session, the parameters (the IV), the value, the type. */
	if (rd_align(&r, 8) != 0 || rd_str(&r, &s, &n) != 0 ||
	    rd_bytes(&r, params, plen) != 0 || rd_bytes(&r, value, len) != 0 ||
	    rd_str(&r, &s, &n) != 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The session's key: dh-ietf1024-sha256-aes128-cbc-pkcs7 */

/* RFC 2409's second Oakley group (1024-bit MODP), generator 2. */
static const unsigned char dh_prime[DH_BYTES] = {
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2,
	0x21, 0x68, 0xC2, 0x34, 0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1,
	0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74, 0x02, 0x0B, 0xBE, 0xA6,
	0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
	0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D,
	0xF2, 0x5F, 0x14, 0x37, 0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45,
	0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6, 0xF4, 0x4C, 0x42, 0xE9,
	0xA6, 0x37, 0xED, 0x6B, 0x0B, 0xFF, 0x5C, 0xB6, 0xF4, 0x06, 0xB7, 0xED,
	0xEE, 0x38, 0x6B, 0xFB, 0x5A, 0x89, 0x9F, 0xA5, 0xAE, 0x9F, 0x24, 0x11,
	0x7C, 0x4B, 0x1F, 0xE6, 0x49, 0x28, 0x66, 0x51, 0xEC, 0xE6, 0x53, 0x81,
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
};

/* a ^ e mod the prime, as DH_BYTES big-endian bytes into out. 0 or -1. */
static int
dh_modexp(const unsigned char *a, size_t alen, const unsigned char *e,
    unsigned char *out)
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p = NULL, *pm1 = NULL, *x = NULL, *y = NULL, *r = NULL;
	unsigned char pm1_bytes[DH_BYTES];
	int rc = -1;

	memcpy(pm1_bytes, dh_prime, DH_BYTES);
	pm1_bytes[DH_BYTES - 1]--;	/* p - 1: the prime ends in 0xFF */
	/* r, the result, starts as any number: BN_new is not forwarded. */
	if (ctx == NULL || alen == 0 || alen > DH_BYTES ||
	    (p = BN_bin2bn(dh_prime, DH_BYTES, NULL)) == NULL ||
	    (pm1 = BN_bin2bn(pm1_bytes, DH_BYTES, NULL)) == NULL ||
	    (x = BN_bin2bn(a, (int)alen, NULL)) == NULL ||
	    (y = BN_bin2bn(e, DH_BYTES, NULL)) == NULL ||
	    (r = BN_bin2bn(dh_prime, 1, NULL)) == NULL)
		goto out;
	/* The exponent is the private key: no timing that depends on it. */
	BN_set_flags(y, BN_FLG_CONSTTIME);
	/* A peer's key of 0, 1 or p - 1 (or more) would give a known key. */
	if (BN_cmp(x, BN_value_one()) <= 0 || BN_cmp(x, pm1) >= 0)
		goto out;
	if (BN_mod_exp(r, x, y, p, ctx) != 1 ||
	    BN_bn2binpad(r, out, DH_BYTES) != DH_BYTES)
		goto out;
	rc = 0;
out:
	BN_clear_free(p);
	BN_clear_free(pm1);
	BN_clear_free(x);
	BN_clear_free(y);
	BN_clear_free(r);
	BN_CTX_free(ctx);
	return rc;
}

/*
 * The private key comes from the kernel's generator (getrandom(2)), which
 * OpenSSL's own is seeded from: RAND_bytes would first set up OpenSSL's
 * generators and providers (with EVP, a third of what a keyring read
 * cost).
 */
static int
random_bytes(unsigned char *buf, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = getrandom(buf, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

int
ssbus_dh_begin(struct ssbus_dh *dh)
{
	static const unsigned char two = 2;

	memset(dh, 0, sizeof(*dh));
	if (random_bytes(dh->priv, DH_BYTES) != 0)
		return -1;
	return dh_modexp(&two, 1, dh->priv, dh->pub);
}

int
ssbus_dh_key(struct ssbus_dh *dh, const unsigned char *peer, size_t n)
{
	static const unsigned char zero[32], one = 1;
	unsigned char shared[DH_BYTES], prk[32], okm[32];
	int rc = -1;

	/*
	 * HKDF-SHA256 (RFC 5869) of the shared secret, padded to the
	 * prime's length, with no salt (a key of 32 zero bytes) and no
	 * info: the first 16 bytes of T(1) = HMAC(PRK, 0x01).
	 */
	if (dh_modexp(peer, n, dh->priv, shared) != 0 ||
	    mc_hmac_sha256(zero, sizeof(zero), shared, sizeof(shared),
	    prk) != 0 || mc_hmac_sha256(prk, sizeof(prk), &one, 1, okm) != 0)
		goto out;
	memcpy(dh->key, okm, sizeof(dh->key));
	rc = 0;
out:
	explicit_bzero(shared, sizeof(shared));
	explicit_bzero(prk, sizeof(prk));
	explicit_bzero(okm, sizeof(okm));
	explicit_bzero(dh->priv, sizeof(dh->priv));
	return rc;
}

int
ssbus_dh_decrypt(const struct ssbus_dh *dh, const unsigned char *iv,
    size_t ivlen, const unsigned char *in, size_t n, char **out)
{
	unsigned char *p = NULL;
	size_t pad, i, len;
	int rc = -1;

	*out = NULL;
	if (ivlen != 16 || n == 0 || n % 16 != 0 ||
	    n > STORE_SECRET_MAX + 16 || (p = malloc(n + 1)) == NULL ||
	    mc_aes128_cbc_decrypt(dh->key, iv, in, n, p) != 0)
		goto out;
	/*
	 * PKCS#7: 1 to 16 bytes, each the count. (No padding oracle to
	 * fear: what comes in is the service's answer on our own
	 * connection, and a refusal tells no one anything.)
	 */
	pad = p[n - 1];
	if (pad == 0 || pad > 16)
		goto out;
	for (i = 1; i <= pad; i++)
		if (p[n - i] != pad)
			goto out;
	len = n - pad;
	if (memchr(p, '\0', len) != NULL)
		goto out;	/* not text */
	p[len] = '\0';
	*out = (char *)p;
	p = NULL;
	rc = 0;
out:
	if (p != NULL) {
		explicit_bzero(p, n + 1);
		free(p);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* The connection */

enum { IO_OK = 0, IO_DEFER, IO_TIMEOUT, IO_NOMEM, IO_ERROR };

struct conn {
	int fd;
	struct timespec deadline;
	unsigned char *in;	/* what was read; in[off..in_len) not taken */
	size_t off, in_len, in_cap;
};

static long
ms_left(const struct conn *c)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (c->deadline.tv_sec - now.tv_sec) * 1000L +
	    (c->deadline.tv_nsec - now.tv_nsec) / 1000000L;
	return ms > 0 ? ms : 0;
}

/* Waits until fd is ready for ev, or the deadline. */
static int
wait_for(struct conn *c, short ev)
{
	struct pollfd pfd = { c->fd, ev, 0 };
	int n;

	for (;;) {
		n = poll(&pfd, 1, (int)ms_left(c));
		if (n > 0)
			return IO_OK;
		if (n == 0)
			return IO_TIMEOUT;
		if (errno != EINTR)
			return IO_DEFER;
	}
}

static int
send_all(struct conn *c, const unsigned char *p, size_t n)
{
	ssize_t k;
	int rc;

	while (n > 0) {
		k = send(c->fd, p, n, MSG_NOSIGNAL);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			rc = wait_for(c, POLLOUT);
			if (rc != IO_OK)
				return rc;
			continue;
		}
		return IO_DEFER;
	}
	return IO_OK;
}

/*
 * Reads more into c->in, with room for want bytes not yet taken. What was
 * taken goes first (the buffer moves once a read, not once a message),
 * and every byte that leaves the buffer is wiped: it may be the secret.
 */
static int
read_more(struct conn *c, size_t want)
{
	unsigned char *p;
	size_t keep = c->in_len - c->off;
	ssize_t k;
	int rc;

	if (c->off > 0) {
		memmove(c->in, c->in + c->off, keep);
		explicit_bzero(c->in + keep, c->in_len - keep);
		c->in_len = keep;
		c->off = 0;
	}
	if (want < keep + 4096)
		want = keep + 4096;
	if (want > c->in_cap) {
		/* Grown by hand, not realloc(): the old bytes are wiped. */
		p = malloc(want);
		if (p == NULL)
			return IO_NOMEM;
		if (keep > 0)
			memcpy(p, c->in, keep);
		if (c->in != NULL) {
			explicit_bzero(c->in, c->in_cap);
			free(c->in);
		}
		c->in = p;
		c->in_cap = want;
	}
	for (;;) {
		/*
		 * The deadline holds for a peer that never stops sending
		 * (messages that are not our answer, a byte at a time) too.
		 */
		if (ms_left(c) == 0)
			return IO_TIMEOUT;
		k = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (k > 0) {
			c->in_len += (size_t)k;
			return IO_OK;
		}
		if (k == 0)
			return IO_DEFER;		/* the bus hung up */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return IO_DEFER;
		rc = wait_for(c, POLLIN);
		if (rc != IO_OK)
			return rc;
	}
}

static void
take(struct conn *c, size_t n)
{
	c->off += n;
}

/*
 * The handshake's first line, AUTH EXTERNAL as our uid, into w. BEGIN and
 * the first calls follow it in the same write, before the server's "OK":
 * the bus reads them in order once it has said OK (as sd-bus has every
 * bus do), and a bus that says anything else gets nothing it could take
 * as a call (then the read is left to libsecret). One round trip fewer,
 * which is worth most when the machine is busy and every answer waits
 * for the bus to be scheduled.
 */
static void
auth_line(struct wbuf *w)
{
	static const char hex[] = "0123456789abcdef";
	char uid[32];
	unsigned char c;
	size_t i;
	int k;

	k = snprintf(uid, sizeof(uid), "%lu", (unsigned long)geteuid());
	if (k < 0 || (size_t)k >= sizeof(uid)) {
		w->overflow = 1;
		return;
	}
	put(w, "\0AUTH EXTERNAL ", 15);
	for (i = 0; uid[i] != '\0'; i++) {
		c = (unsigned char)uid[i];
		put(w, &hex[c >> 4], 1);
		put(w, &hex[c & 0xf], 1);
	}
	put(w, "\r\n", 2);
}

/* The server's answer to AUTH: "OK <guid>", or IO_DEFER. */
static int
auth_answer(struct conn *c)
{
	unsigned char *crlf;
	int rc;

	for (;;) {
		crlf = c->in_len >= 2 ? memmem(c->in, c->in_len, "\r\n", 2) :
		    NULL;
		if (crlf != NULL)
			break;
		if (c->in_len > AUTH_LINE_MAX)
			return IO_DEFER;
		rc = read_more(c, 0);
		if (rc != IO_OK)
			return rc;
	}
	if (crlf - c->in < 3 || memcmp(c->in, "OK ", 3) != 0)
		return IO_DEFER;		/* REJECTED, ERROR, ... */
	take(c, (size_t)(crlf - c->in) + 2);
	return IO_OK;
}

/*
 * Reads until the answer to serial is there; *m describes it (inside
 * c->in, valid until the next read). Signals and answers to other serials
 * are passed over. IO_OK for a method return from sender, IO_ERROR for an
 * error answer from sender (its name in m->error_name); an answer from
 * anyone else is IO_DEFER: the bus's own errors (NoReply when the service
 * died, NameHasNoOwner), or someone passing for the service, which is left
 * to libsecret's path rather than waited out.
 */
static int
answer(struct conn *c, uint32_t serial, const char *sender,
    struct ssbus_msg *m)
{
	const unsigned char *at;
	size_t n, avail;
	int rc;

	for (;;) {
		if (ms_left(c) == 0)
			return IO_TIMEOUT;
		at = c->in + c->off;
		avail = c->in_len - c->off;
		n = 16;
		if (avail >= 16) {
			n = ssbus_msg_size(at, 16, SSBUS_MSG_MAX);
			if (n == 0)
				return IO_DEFER;
			if (avail >= n) {
				if (ssbus_msg_parse(at, n, m) != 0)
					return IO_DEFER;
				take(c, n);
				if ((m->type != 2 && m->type != 3) ||
				    m->reply_serial != serial)
					continue;
				if (strcmp(m->sender, sender) != 0)
					return IO_DEFER;
				return m->type == 2 ? IO_OK : IO_ERROR;
			}
		}
		rc = read_more(c, n);
		if (rc != IO_OK)
			return rc;
	}
}

/* GetNameOwner's answer: a unique name (":1.42") into out. 0 or -1. */
static int
owner_name(const struct ssbus_msg *m, char *out, size_t size)
{
	struct rd r;
	const char *s;
	size_t n;

	if (strcmp(m->signature, "s") != 0)
		return -1;
	body_reader(m, &r);
	if (rd_str(&r, &s, &n) != 0 || n == 0 || n >= size || s[0] != ':')
		return -1;
	memcpy(out, s, n + 1);
	return 0;
}

/* Sends what w holds. */
static int
send_calls(struct conn *c, const struct wbuf *w)
{
	return w->overflow ? IO_DEFER : send_all(c, w->b, w->n);
}

/* Returns IO_*; on IO_ERROR from GetSecret, its error name in why. */
static int
converse(struct conn *c, const char *schema, const char *account,
    const char *kind, char **secret, char *why, size_t whysize)
{
	struct wbuf *w = NULL;
	struct ssbus_msg m;
	struct ssbus_dh dh;
	struct call call;
	char service[sizeof(m.sender)], *session = NULL, *item = NULL;
	const unsigned char *peer, *iv, *value;
	size_t peerlen, ivlen, len, nlocked;
	int rc, have_key;

	memset(&dh, 0, sizeof(dh));
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		rc = IO_NOMEM;
		goto out;
	}
	/* The handshake, Hello and the probe: one write. */
	auth_line(w);
	put(w, "BEGIN\r\n", 7);
	hello_calls(w);
	rc = send_calls(c, w);
	if (rc != IO_OK)
		goto out;
	/* The key pair while the bus and the service answer. */
	have_key = ssbus_dh_begin(&dh) == 0;
	rc = auth_answer(c);
	if (rc != IO_OK)
		goto out;
	rc = answer(c, S_HELLO, BUS, &m);
	if (rc != IO_OK)
		goto out;
	/* The service's unique name, from the bus: it alone from now on. */
	rc = answer(c, S_OWNER, BUS, &m);
	if (rc != IO_OK || owner_name(&m, service, sizeof(service)) != 0) {
		rc = IO_DEFER;	/* no owner: libsecret says "no service" */
		goto out;
	}
	rc = answer(c, S_PROBE, service, &m);
	if (rc != IO_OK)
		goto out;

	if (!have_key) {
		rc = IO_DEFER;		/* no libcrypto: libsecret's path */
		goto out;
	}
	memset(w, 0, sizeof(*w));
	search_calls(w, schema, account, kind, dh.pub);
	rc = send_calls(c, w);
	if (rc != IO_OK)
		goto out;
	rc = answer(c, S_SESSION, service, &m);
	if (rc != IO_OK)
		goto out;
	if (ssbus_parse_session(&m, &peer, &peerlen, &session) != 0 ||
	    ssbus_dh_key(&dh, peer, peerlen) != 0) {
		rc = IO_DEFER;
		goto out;
	}
	rc = answer(c, S_SEARCH, service, &m);
	if (rc != IO_OK)
		goto out;
	if (ssbus_parse_search(&m, &item, &nlocked) != 0 || item == NULL) {
		rc = IO_DEFER;	/* locked or missing: libsecret says which */
		goto out;
	}

	memset(w, 0, sizeof(*w));
	call_begin(w, S_SECRET, SERVICE, item, IFACE_ITEM, "GetSecret", "o",
	    &call);
	put_str(w, session);
	call_end(w, &call);
	rc = send_calls(c, w);
	if (rc != IO_OK)
		goto out;
	rc = answer(c, S_SECRET, service, &m);
	if (rc == IO_ERROR) {
		/*
		 * Not asked again through libsecret: a service that asks the
		 * user before it hands out a secret would ask twice.
		 */
		(void)snprintf(why, whysize, "%s", m.error_name);
		goto out;
	}
	if (rc != IO_OK)
		goto out;
	if (ssbus_parse_secret(&m, &iv, &ivlen, &value, &len) != 0 ||
	    ssbus_dh_decrypt(&dh, iv, ivlen, value, len, secret) != 0) {
		rc = IO_DEFER;
		goto out;
	}
	rc = IO_OK;
out:
	explicit_bzero(&dh, sizeof(dh));
	free(w);
	free(session);
	free(item);
	return rc == IO_ERROR && why[0] == '\0' ? IO_DEFER : rc;
}

int
ssbus_get(const char *schema, const char *account, const char *kind,
    int timeout_ms, char **secret, char *why, size_t whysize)
{
	struct conn c = { -1, { 0, 0 }, NULL, 0, 0, 0 };
	struct sockaddr_un sa;
	socklen_t salen;
	int rc;

	*secret = NULL;
	if (whysize > 0)
		why[0] = '\0';
	if (ssbus_address(getenv("DBUS_SESSION_BUS_ADDRESS"), &sa,
	    &salen) != 0)
		return SSBUS_DEFER;
	clock_gettime(CLOCK_MONOTONIC, &c.deadline);
	c.deadline.tv_sec += timeout_ms / 1000;
	c.deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (c.deadline.tv_nsec >= 1000000000L) {
		c.deadline.tv_sec++;
		c.deadline.tv_nsec -= 1000000000L;
	}
	c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c.fd < 0)
		return SSBUS_DEFER;
	/* A full backlog (EAGAIN) is left to libsecret too. */
	if (connect(c.fd, (struct sockaddr *)&sa, salen) != 0) {
		rc = IO_DEFER;
		goto out;
	}
	rc = converse(&c, schema, account, kind, secret, why, whysize);
out:
	close(c.fd);
	if (c.in != NULL) {
		explicit_bzero(c.in, c.in_cap);
		free(c.in);
	}
	switch (rc) {
	case IO_OK:
		return STORE_OK;
	case IO_TIMEOUT:
		return STORE_ETIMEOUT;
	case IO_NOMEM:
		return STORE_ENOMEM;
	case IO_ERROR:
		return strcmp(why, "org.freedesktop.Secret.Error.IsLocked") ==
		    0 ? STORE_ELOCKED : SSBUS_REFUSED;
	default:
		return SSBUS_DEFER;
	}
}

void
ssbus_warm(void)
{
	(void)mc_crypto_load(NULL);
}
