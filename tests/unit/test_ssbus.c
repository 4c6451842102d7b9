/*
 * Unit tests: keyring/ssbus - the bus address, the message parsers, the
 * session's key agreement, and ssbus_get() against a scripted bus on a
 * socket in a temporary directory that plays the service's side of the
 * encrypted session (success, both byte orders, signals and a forged
 * answer in between, an error answer, locked, a refused GetSecret, a NUL
 * in the value, a bad padding, a hang-up, a service that never answers,
 * one that never stops sending, a rejected handshake).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "auth/crypto_dl.h"
#include "keyring/ssbus.h"
#include "keyring/store.h"

/* ------------------------------------------------------------------ */
/* Addresses */

static void
test_address(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	char longpath[200];

	(void)state;
	assert_int_equal(ssbus_address("unix:path=/run/user/1000/bus", &sa,
	    &len), 0);
	assert_int_equal(sa.sun_family, AF_UNIX);
	assert_string_equal(sa.sun_path, "/run/user/1000/bus");
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) +
	    strlen("/run/user/1000/bus") + 1);

	/* abstract: a leading NUL, the length counts no trailing NUL */
	assert_int_equal(ssbus_address("unix:abstract=/tmp/dbus-AbC,guid=0123",
	    &sa, &len), 0);
	assert_int_equal(sa.sun_path[0], '\0');
	assert_memory_equal(sa.sun_path + 1, "/tmp/dbus-AbC", 13);
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 1 + 13);

	/* escapes decoded; guid before the path; the first usable entry */
	assert_int_equal(ssbus_address("unix:guid=1,path=/tmp/a%20b%2Cc", &sa,
	    &len), 0);
	assert_string_equal(sa.sun_path, "/tmp/a b,c");
	assert_int_equal(ssbus_address("tcp:host=127.0.0.1,port=1;"
	    "unix:path=/x;unix:path=/y", &sa, &len), 0);
	assert_string_equal(sa.sun_path, "/x");

	/* nothing usable */
	assert_int_equal(ssbus_address(NULL, &sa, &len), -1);
	assert_int_equal(ssbus_address("", &sa, &len), -1);
	assert_int_equal(ssbus_address("tcp:host=localhost,port=4", &sa, &len),
	    -1);
	assert_int_equal(ssbus_address("unix:tmpdir=/tmp", &sa, &len), -1);
	assert_int_equal(ssbus_address("unix:path=", &sa, &len), -1);
	assert_int_equal(ssbus_address("unix:path=/a,path=/b", &sa, &len), -1);
	assert_int_equal(ssbus_address("unix:path=/a%zz", &sa, &len), -1);
	assert_int_equal(ssbus_address("unix:path=/a%2", &sa, &len), -1);
	assert_int_equal(ssbus_address("unix:path=/a%00b", &sa, &len), -1);
	assert_int_equal(ssbus_address("unix:path", &sa, &len), -1);
	assert_int_equal(ssbus_address("unixpath=/a", &sa, &len), -1);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	{
		char addr[sizeof(longpath) + 16];

		assert_true(snprintf(addr, sizeof(addr), "unix:path=%s",
		    longpath) < (int)sizeof(addr));
		assert_int_equal(ssbus_address(addr, &sa, &len), -1);
	}
}

/* ------------------------------------------------------------------ */
/* Building messages as a bus or service would send them */

struct mb {
	unsigned char b[8192];
	size_t n;
	int big;
};

static void
mb_put(struct mb *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void
mb_align(struct mb *m, size_t a)
{
	static const unsigned char zero[8];

	mb_put(m, zero, (a - m->n % a) % a);
}

static void
mb_u8(struct mb *m, unsigned char v)
{
	mb_put(m, &v, 1);
}

static void
mb_u32_at(struct mb *m, size_t at, uint32_t v)
{
	if (m->big) {
		m->b[at] = (unsigned char)(v >> 24);
		m->b[at + 1] = (unsigned char)(v >> 16);
		m->b[at + 2] = (unsigned char)(v >> 8);
		m->b[at + 3] = (unsigned char)v;
	} else {
		m->b[at] = (unsigned char)v;
		m->b[at + 1] = (unsigned char)(v >> 8);
		m->b[at + 2] = (unsigned char)(v >> 16);
		m->b[at + 3] = (unsigned char)(v >> 24);
	}
}

static void
mb_u32(struct mb *m, uint32_t v)
{
	mb_align(m, 4);
	mb_put(m, "\0\0\0\0", 4);
	mb_u32_at(m, m->n - 4, v);
}

static void
mb_bytes(struct mb *m, const void *p, size_t n)	/* a string's shape */
{
	mb_u32(m, (uint32_t)n);
	mb_put(m, p, n);
	mb_u8(m, 0);
}

static void
mb_str(struct mb *m, const char *s)
{
	mb_bytes(m, s, strlen(s));
}

static void
mb_sig(struct mb *m, const char *s)
{
	mb_u8(m, (unsigned char)strlen(s));
	mb_put(m, s, strlen(s) + 1);
}

/*
 * Starts a message of type with the header fields a reply needs; *body is
 * where mb_end() counts the body from.
 */
static const char *mb_sender = ":1.0";	/* whom messages come from */

static void
mb_begin(struct mb *m, int big, int type, uint32_t serial,
    uint32_t reply_serial, const char *sig, const char *error_name,
    size_t *body)
{
	size_t fields;

	memset(m, 0, sizeof(*m));
	m->big = big;
	mb_u8(m, big ? 'B' : 'l');
	mb_u8(m, (unsigned char)type);
	mb_u8(m, 0);
	mb_u8(m, 1);
	mb_u32(m, 0);
	mb_u32(m, serial);
	mb_u32(m, 0);
	fields = m->n;
	if (reply_serial != 0) {
		mb_align(m, 8);
		mb_u8(m, 5);
		mb_sig(m, "u");
		mb_u32(m, reply_serial);
	}
	mb_align(m, 8);
	mb_u8(m, 7);		/* SENDER */
	mb_sig(m, "s");
	mb_str(m, mb_sender);
	if (error_name != NULL) {
		mb_align(m, 8);
		mb_u8(m, 4);
		mb_sig(m, "s");
		mb_str(m, error_name);
	}
	if (sig != NULL && sig[0] != '\0') {
		mb_align(m, 8);
		mb_u8(m, 8);
		mb_sig(m, "g");
		mb_sig(m, sig);
	}
	mb_u32_at(m, 12, (uint32_t)(m->n - fields));
	mb_align(m, 8);
	*body = m->n;
}

static void
mb_end(struct mb *m, size_t body)
{
	mb_u32_at(m, 4, (uint32_t)(m->n - body));
}

/* An array of object paths: "ao". */
static void
mb_paths(struct mb *m, const char *const *paths)
{
	size_t len_at, start;

	mb_u32(m, 0);
	len_at = m->n - 4;
	start = m->n;
	for (; *paths != NULL; paths++)
		mb_str(m, *paths);
	mb_u32_at(m, len_at, (uint32_t)(m->n - start));
}

/* An "ay". */
static void
mb_ay(struct mb *m, const void *p, size_t n)
{
	mb_bytes(m, p, n);
	m->n--;				/* an ay has no trailing NUL */
}

static void
mb_secret(struct mb *m, const void *iv, size_t ivlen, const void *value,
    size_t n)				/* "(oayays)" */
{
	mb_align(m, 8);
	mb_str(m, "/org/freedesktop/secrets/session/s1");
	mb_ay(m, iv, ivlen);
	mb_ay(m, value, n);
	mb_str(m, "text/plain");
}

/* ------------------------------------------------------------------ */
/* The parsers */

static void
parse(struct mb *m, struct ssbus_msg *msg)
{
	assert_int_equal(ssbus_msg_size(m->b, m->n, SSBUS_MSG_MAX), m->n);
	assert_int_equal(ssbus_msg_parse(m->b, m->n, msg), 0);
}

static void
test_parse_replies(void **state)
{
	static const char *const unlocked[] = {
		"/org/freedesktop/secrets/collection/login/7",
		"/org/freedesktop/secrets/collection/login/8", NULL
	};
	static const char *const locked[] = { "/x/1", "/x/2", "/x/3", NULL };
	static const char *const none[] = { NULL };
	struct mb m;
	struct ssbus_msg msg;
	char *path, *item;
	const unsigned char *value, *iv;
	size_t body, n, nlocked, ivlen;
	int big;

	(void)state;
	for (big = 0; big <= 1; big++) {
		mb_begin(&m, big, 2, 9, 3, "vo", NULL, &body);
		mb_sig(&m, "ay");
		mb_ay(&m, "\x01\x02\x03", 3);
		mb_str(&m, "/org/freedesktop/secrets/session/s1");
		mb_end(&m, body);
		parse(&m, &msg);
		assert_int_equal(msg.type, 2);
		assert_int_equal(msg.big_endian, big);
		assert_int_equal(msg.serial, 9);
		assert_int_equal(msg.reply_serial, 3);
		assert_string_equal(msg.signature, "vo");
		assert_string_equal(msg.sender, ":1.0");
		assert_string_equal(msg.error_name, "");
		assert_int_equal(ssbus_parse_session(&msg, &value, &n, &path),
		    0);
		assert_int_equal(n, 3);
		assert_memory_equal(value, "\x01\x02\x03", 3);
		assert_string_equal(path, "/org/freedesktop/secrets/session/s1");
		free(path);
		/* the wrong answer for the wrong question */
		assert_int_equal(ssbus_parse_search(&msg, &item, &nlocked), -1);
		assert_null(item);

		mb_begin(&m, big, 2, 10, 4, "aoao", NULL, &body);
		mb_paths(&m, unlocked);
		mb_paths(&m, locked);
		mb_end(&m, body);
		parse(&m, &msg);
		assert_int_equal(ssbus_parse_search(&msg, &item, &nlocked), 0);
		assert_string_equal(item, unlocked[0]);
		assert_int_equal(nlocked, 3);
		free(item);

		mb_begin(&m, big, 2, 10, 4, "aoao", NULL, &body);
		mb_paths(&m, none);
		mb_paths(&m, locked);
		mb_end(&m, body);
		parse(&m, &msg);
		assert_int_equal(ssbus_parse_search(&msg, &item, &nlocked), 0);
		assert_null(item);
		assert_int_equal(nlocked, 3);

		mb_begin(&m, big, 2, 11, 5, "(oayays)", NULL, &body);
		mb_secret(&m, "0123456789abcdef", 16, "s3cr\xc3\xa9t", 7);
		mb_end(&m, body);
		parse(&m, &msg);
		assert_int_equal(ssbus_parse_secret(&msg, &iv, &ivlen, &value,
		    &n), 0);
		assert_int_equal(ivlen, 16);
		assert_memory_equal(iv, "0123456789abcdef", 16);
		assert_int_equal(n, 7);
		assert_memory_equal(value, "s3cr\xc3\xa9t", 7);
		assert_int_equal(ssbus_parse_session(&msg, &value, &n, &path),
		    -1);
		assert_null(path);

		mb_begin(&m, big, 3, 12, 5, "s",
		    "org.freedesktop.Secret.Error.IsLocked", &body);
		mb_str(&m, "locked");
		mb_end(&m, body);
		parse(&m, &msg);
		assert_int_equal(msg.type, 3);
		assert_string_equal(msg.error_name,
		    "org.freedesktop.Secret.Error.IsLocked");
	}
}

static void
test_parse_bad(void **state)
{
	struct mb m, good;
	struct ssbus_msg msg;
	const unsigned char *value, *iv;
	size_t body, n, cut, ivlen;
	char *item;

	(void)state;
	mb_begin(&good, 0, 2, 11, 5, "(oayays)", NULL, &body);
	mb_secret(&good, "0123456789abcdef", 16, "secret", 6);
	mb_end(&good, body);

	/* Every truncation: the size says more is needed, never a parse. */
	for (cut = 0; cut < good.n; cut++) {
		n = ssbus_msg_size(good.b, cut, SSBUS_MSG_MAX);
		assert_true(n == 0 || n == good.n);
		assert_int_equal(ssbus_msg_parse(good.b, cut, &msg), -1);
	}
	/* A body cut short inside the value, with lengths made to agree. */
	m = good;
	m.n -= 12;
	mb_u32_at(&m, 4, (uint32_t)(m.n - body));
	parse(&m, &msg);
	assert_int_equal(ssbus_parse_secret(&msg, &iv, &ivlen, &value, &n), -1);

	/* Not a header; the wrong version; larger than the cap. */
	m = good;
	m.b[0] = 'x';
	assert_int_equal(ssbus_msg_size(m.b, m.n, SSBUS_MSG_MAX), 0);
	m = good;
	m.b[3] = 2;
	assert_int_equal(ssbus_msg_size(m.b, m.n, SSBUS_MSG_MAX), 0);
	assert_int_equal(ssbus_msg_size(good.b, good.n, good.n - 1), 0);
	m = good;
	mb_u32_at(&m, 4, 0xffffffffu);
	assert_int_equal(ssbus_msg_size(m.b, m.n, SSBUS_MSG_MAX), 0);
	mb_u32_at(&m, 4, (uint32_t)(good.n - body));
	mb_u32_at(&m, 12, 0xfffffff0u);
	assert_int_equal(ssbus_msg_size(m.b, m.n, SSBUS_MSG_MAX), 0);

	/* A string in a header field without its NUL. */
	m = good;
	for (n = 16; n < body; n++)
		if (memcmp(m.b + n, ":1.0", 5) == 0)
			break;
	assert_true(n < body);
	m.b[n + 4] = 'X';
	assert_int_equal(ssbus_msg_parse(m.b, m.n, &msg), -1);

	/* A header field of a type no header field has. */
	m = good;
	for (n = 16; n < body; n++)
		if (m.b[n] == 7 && m.b[n + 1] == 1 && m.b[n + 2] == 's')
			break;
	assert_true(n < body);
	m.b[n + 2] = 'x';
	assert_int_equal(ssbus_msg_parse(m.b, m.n, &msg), -1);

	/* An object path array whose length runs past the body. */
	mb_begin(&m, 0, 2, 1, 4, "aoao", NULL, &body);
	mb_u32(&m, 4000);
	mb_u32(&m, 0);
	mb_end(&m, body);
	parse(&m, &msg);
	assert_int_equal(ssbus_parse_search(&msg, &item, &n), -1);
	assert_null(item);
}

/* ------------------------------------------------------------------ */
/* The session's key agreement */

/* AES-128-CBC with PKCS#7 padding, as the service encrypts a secret. */
static size_t
encrypt(const unsigned char *key, const unsigned char *iv, const void *in,
    size_t n, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int k, done;

	assert_non_null(ctx);
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key,
	    iv), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, out, &k, in, (int)n), 1);
	done = k;
	assert_int_equal(EVP_EncryptFinal_ex(ctx, out + done, &k), 1);
	EVP_CIPHER_CTX_free(ctx);
	return (size_t)(done + k);
}

/* AES-128-CBC of whole blocks, no padding: for padding of our own. */
static void
encrypt_raw(const unsigned char *key, const unsigned char *iv,
    const unsigned char *in, size_t n, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int k;

	assert_non_null(ctx);
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key,
	    iv), 1);
	assert_int_equal(EVP_CIPHER_CTX_set_padding(ctx, 0), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, out, &k, in, (int)n), 1);
	assert_int_equal((size_t)k, n);
	EVP_CIPHER_CTX_free(ctx);
}

static void
hex(const char *h, unsigned char *out)
{
	unsigned int b;

	for (; h[0] != '\0'; h += 2, out++) {
		assert_int_equal(sscanf(h, "%2x", &b), 1);
		*out = (unsigned char)b;
	}
}

/*
 * HMAC-SHA256 on the low-level functions: RFC 4231's cases 1, 2 and 6
 * (a key longer than a block), then libcrypto's EVP HMAC as the oracle
 * for keys and data of every length around a block's.
 */
static void
test_hmac_sha256(void **state)
{
	unsigned char key[131], data[200], got[32], want[32];
	size_t klen, dlen, n;

	(void)state;
	memset(key, 0x0b, 20);
	assert_int_equal(mc_hmac_sha256(key, 20,
	    (const unsigned char *)"Hi There", 8, got), 0);
	hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	    want);
	assert_memory_equal(got, want, 32);
	assert_int_equal(mc_hmac_sha256((const unsigned char *)"Jefe", 4,
	    (const unsigned char *)"what do ya want for nothing?", 28, got), 0);
	hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	    want);
	assert_memory_equal(got, want, 32);
	memset(key, 0xaa, sizeof(key));
	assert_int_equal(mc_hmac_sha256(key, 131, (const unsigned char *)
	    "Test Using Larger Than Block-Size Key - Hash Key First", 54,
	    got), 0);
	hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	    want);
	assert_memory_equal(got, want, 32);

	for (n = 0; n < sizeof(key); n++)
		key[n] = (unsigned char)(n * 7 + 1);
	for (n = 0; n < sizeof(data); n++)
		data[n] = (unsigned char)(n * 13 + 5);
	for (klen = 0; klen <= sizeof(key); klen += klen < 70 ? 1 : 61)
		for (dlen = 0; dlen <= sizeof(data); dlen += 37) {
			assert_int_equal(mc_hmac_sha256(key, klen, data, dlen,
			    got), 0);
			assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256",
			    NULL, key, klen, data, dlen, want, sizeof(want),
			    &n));
			assert_int_equal(n, 32);
			assert_memory_equal(got, want, 32);
		}
}

/*
 * PKCS#7 padding as the service may send it: a whole block of it, and a
 * secret of several blocks, are taken; a pad byte of 0 or over 16, or pad
 * bytes that disagree, are refused.
 */
static void
test_dh_padding(void **state)
{
	static const unsigned char iv[16] = "fedcba9876543210";
	struct ssbus_dh d;
	unsigned char pt[112], ct[112];
	char *out;
	size_t i;

	(void)state;
	memset(&d, 0, sizeof(d));
	memcpy(d.key, "0123456789abcdef", 16);
	/* 16 bytes of text, a whole block of 16s. */
	memcpy(pt, "sixteen bytes!!!", 16);
	memset(pt + 16, 16, 16);
	encrypt_raw(d.key, iv, pt, 32, ct);
	assert_int_equal(ssbus_dh_decrypt(&d, iv, 16, ct, 32, &out), 0);
	assert_string_equal(out, "sixteen bytes!!!");
	free(out);
	/* 100 bytes over seven blocks: the chaining holds. */
	for (i = 0; i < 100; i++)
		pt[i] = (unsigned char)('a' + i % 26);
	memset(pt + 100, 12, 12);
	encrypt_raw(d.key, iv, pt, 112, ct);
	assert_int_equal(ssbus_dh_decrypt(&d, iv, 16, ct, 112, &out), 0);
	assert_int_equal(strlen(out), 100);
	assert_memory_equal(out, pt, 100);
	free(out);
	/* A wrong key: the padding does not check (or, rarely, it does and
	   the text is not ours). */
	d.key[0] ^= 1;
	if (ssbus_dh_decrypt(&d, iv, 16, ct, 112, &out) == 0) {
		assert_memory_not_equal(out, pt, 100);
		free(out);
	}
	d.key[0] ^= 1;
	/* Pad bytes of 0, of 17, and ones that disagree. */
	memcpy(pt, "0123456789abcde", 15);
	pt[15] = 0;
	encrypt_raw(d.key, iv, pt, 16, ct);
	assert_int_equal(ssbus_dh_decrypt(&d, iv, 16, ct, 16, &out), -1);
	assert_null(out);
	memset(pt, 17, 32);
	encrypt_raw(d.key, iv, pt, 32, ct);
	assert_int_equal(ssbus_dh_decrypt(&d, iv, 16, ct, 32, &out), -1);
	memcpy(pt, "0123456789ab", 12);
	memcpy(pt + 12, "\x04\x04\x03\x04", 4);
	encrypt_raw(d.key, iv, pt, 16, ct);
	assert_int_equal(ssbus_dh_decrypt(&d, iv, 16, ct, 16, &out), -1);
	pt[14] = 4;
	encrypt_raw(d.key, iv, pt, 16, ct);
	assert_int_equal(ssbus_dh_decrypt(&d, iv, 16, ct, 16, &out), 0);
	assert_string_equal(out, "0123456789ab");
	free(out);
}

/* HKDF-SHA256 of ikm, no salt, no info, 16 bytes: libcrypto's own. */
static void
hkdf16(unsigned char *ikm, size_t n, unsigned char *out)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[3];

	assert_non_null(kdf);
	ctx = EVP_KDF_CTX_new(kdf);
	assert_non_null(ctx);
	params[0] = OSSL_PARAM_construct_utf8_string("digest",
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string("key", ikm, n);
	params[2] = OSSL_PARAM_construct_end();
	assert_int_equal(EVP_KDF_derive(ctx, out, 16, params), 1);
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
}

/*
 * A known answer: a private key of 2 and the peer's 3 share 3^2 = 9,
 * padded to the prime's 128 bytes as libsecret pads it; the key is its
 * HKDF, here from libcrypto's HKDF rather than ours.
 */
static void
test_dh_known(void **state)
{
	struct ssbus_dh k;
	unsigned char three = 3, ikm[DH_BYTES] = { 0 }, want[16];

	(void)state;
	memset(&k, 0, sizeof(k));
	k.priv[DH_BYTES - 1] = 2;
	assert_int_equal(ssbus_dh_key(&k, &three, 1), 0);
	ikm[DH_BYTES - 1] = 9;
	hkdf16(ikm, sizeof(ikm), want);
	assert_memory_equal(k.key, want, sizeof(want));
}

static void
test_dh(void **state)
{
	static const unsigned char iv[16] = "0123456789abcdef";
	struct ssbus_dh a, b;
	unsigned char ct[64], bad[DH_BYTES], zero[sizeof(a.priv)] = { 0 };
	char *out;
	size_t n;

	(void)state;
	/* Both sides get the same key; the private halves are wiped. */
	assert_int_equal(ssbus_dh_begin(&a), 0);
	assert_int_equal(ssbus_dh_begin(&b), 0);
	assert_memory_not_equal(a.pub, b.pub, DH_BYTES);
	assert_int_equal(ssbus_dh_key(&a, b.pub, DH_BYTES), 0);
	assert_int_equal(ssbus_dh_key(&b, a.pub, DH_BYTES), 0);
	assert_memory_equal(a.key, b.key, sizeof(a.key));
	assert_memory_equal(a.priv, zero, sizeof(a.priv));

	n = encrypt(b.key, iv, "1//0refresh", 11, ct);
	assert_int_equal(n, 16);
	assert_int_equal(ssbus_dh_decrypt(&a, iv, 16, ct, n, &out), 0);
	assert_string_equal(out, "1//0refresh");
	free(out);
	/* A wrong IV length, a length that is no multiple of 16, padding
	   that does not check, a NUL in the text: refused. */
	assert_int_equal(ssbus_dh_decrypt(&a, iv, 15, ct, n, &out), -1);
	assert_null(out);
	assert_int_equal(ssbus_dh_decrypt(&a, iv, 16, ct, 15, &out), -1);
	ct[n - 1] ^= 0x55;
	assert_int_equal(ssbus_dh_decrypt(&a, iv, 16, ct, n, &out), -1);
	assert_null(out);
	n = encrypt(b.key, iv, "ab\0cd", 5, ct);
	assert_int_equal(ssbus_dh_decrypt(&a, iv, 16, ct, n, &out), -1);
	assert_null(out);

	/* A peer's key of 1 or p - 1 (or 0, or too long) makes no key. */
	assert_int_equal(ssbus_dh_begin(&a), 0);
	memset(bad, 0, sizeof(bad));
	bad[DH_BYTES - 1] = 1;
	assert_int_equal(ssbus_dh_key(&a, bad, DH_BYTES), -1);
	assert_int_equal(ssbus_dh_begin(&a), 0);
	bad[DH_BYTES - 1] = 0;
	assert_int_equal(ssbus_dh_key(&a, bad, DH_BYTES), -1);
	assert_int_equal(ssbus_dh_begin(&a), 0);
	{
		unsigned char longer[DH_BYTES + 1] = { 0 };

		memcpy(longer + 1, b.pub, DH_BYTES);
		assert_int_equal(ssbus_dh_key(&a, longer, sizeof(longer)), -1);
	}
	/* p - 1: the prime's bytes with the last one less. */
	{
		static const unsigned char head[8] = {
			0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF
		};

		assert_int_equal(ssbus_dh_begin(&a), 0);
		/* The prime ends in eight 0xFF too: p - 1 ends in FE. */
		memcpy(bad, head, 8);
		memcpy(bad + 8, "\xC9\x0F\xDA\xA2\x21\x68\xC2\x34\xC4\xC6\x62"
		    "\x8B\x80\xDC\x1C\xD1\x29\x02\x4E\x08\x8A\x67\xCC\x74\x02"
		    "\x0B\xBE\xA6\x3B\x13\x9B\x22\x51\x4A\x08\x79\x8E\x34\x04"
		    "\xDD\xEF\x95\x19\xB3\xCD\x3A\x43\x1B\x30\x2B\x0A\x6D\xF2"
		    "\x5F\x14\x37\x4F\xE1\x35\x6D\x6D\x51\xC2\x45\xE4\x85\xB5"
		    "\x76\x62\x5E\x7E\xC6\xF4\x4C\x42\xE9\xA6\x37\xED\x6B\x0B"
		    "\xFF\x5C\xB6\xF4\x06\xB7\xED\xEE\x38\x6B\xFB\x5A\x89\x9F"
		    "\xA5\xAE\x9F\x24\x11\x7C\x4B\x1F\xE6\x49\x28\x66\x51\xEC"
		    "\xE6\x53\x81", 112);
		memcpy(bad + 120, head, 8);
		bad[DH_BYTES - 1] = 0xFE;
		assert_int_equal(ssbus_dh_key(&a, bad, DH_BYTES), -1);
		bad[DH_BYTES - 1] = 0xFD;	/* p - 2 is a key */
		assert_int_equal(ssbus_dh_begin(&a), 0);
		assert_int_equal(ssbus_dh_key(&a, bad, DH_BYTES), 0);
	}
}

/* ------------------------------------------------------------------ */
/* A scripted bus */

enum script {
	SCRIPT_OK, SCRIPT_BIG, SCRIPT_ERROR, SCRIPT_LOCKED, SCRIPT_NUL,
	SCRIPT_HANGUP, SCRIPT_SILENT, SCRIPT_REJECT, SCRIPT_SIGNALS,
	SCRIPT_FLOOD, SCRIPT_REFUSE, SCRIPT_GETLOCKED, SCRIPT_BADPAD,
	SCRIPT_FORGED, SCRIPT_NODH, SCRIPT_BUSERROR, SCRIPT_RACE, SCRIPT_NOOWNER
};

#define SECRET "the-refresh-token"

struct bus {
	char dir[64], path[128];
	int lfd;
	enum script script;
	pthread_t thread;
	struct ssbus_dh dh;		/* the service's side */
	/* what the client sent, as seen by the bus */
	char auth[128];
	char members[8][32];
	int nmembers;
	int saw_attrs, saw_dh, no_auto_start;
	int hung_up;
};

static int
read_full(int fd, void *p, size_t n)
{
	size_t got = 0;
	ssize_t k;

	while (got < n) {
		k = read(fd, (char *)p + got, n - got);
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

static int
write_full(int fd, const void *p, size_t n)
{
	return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

/*
 * Sends a message; the client may have gone already (it gives up at a
 * forged answer), so a failed write is no failure of the test. (No cmocka
 * assertion may fail in this thread: its longjmp would end the program.)
 */
static void
send_msg(int fd, struct mb *m, size_t body)
{
	mb_end(m, body);
	(void)write_full(fd, m->b, m->n);
}

/* The client's public key in OpenSession's body: after "dh-...", "ay". */
static const unsigned char *
client_key(const struct ssbus_msg *call)
{
	const unsigned char *p = memmem(call->body, call->body_len,
	    "\x02" "ay", 4);

	assert_non_null(p);
	/* sig "ay" NUL, then padding to 4, then the length 128 */
	p += 4;
	while ((size_t)(p - call->body) % 4 != 0)
		p++;
	assert_int_equal(p[0] | p[1] << 8, DH_BYTES);
	return p + 4;
}

static void
reply(struct bus *b, int fd, struct ssbus_msg *call, const char *member)
{
	static const char *const item[] = {
		"/org/freedesktop/secrets/collection/login/1", NULL
	};
	static const char *const none[] = { NULL };
	static const char *const cols[] = {
		"/org/freedesktop/secrets/collection/login", NULL
	};
	unsigned char iv[16], ct[64];
	struct mb m;
	size_t body, n;
	int big = b->script == SCRIPT_BIG;

	if (b->script == SCRIPT_SIGNALS) {
		/* A signal before every answer, as NameAcquired comes. */
		mb_begin(&m, 0, 4, 1000, 0, "s", NULL, &body);
		mb_str(&m, ":1.1");
		send_msg(fd, &m, body);
	}
	if (strcmp(member, "Hello") == 0) {
		mb_sender = "org.freedesktop.DBus";
		mb_begin(&m, big, 2, 1, call->serial, "s", NULL, &body);
		mb_sender = ":1.0";
		mb_str(&m, ":1.1");
	} else if (strcmp(member, "GetNameOwner") == 0) {
		mb_sender = "org.freedesktop.DBus";
		if (b->script == SCRIPT_NOOWNER) {
			mb_begin(&m, big, 3, 2, call->serial, "s",
			    "org.freedesktop.DBus.Error.NameHasNoOwner", &body);
			mb_str(&m, "no");
		} else {
			mb_begin(&m, big, 2, 2, call->serial, "s", NULL, &body);
			mb_str(&m, ":1.0");
		}
		mb_sender = ":1.0";
	} else if (strcmp(member, "Get") == 0) {
		if (b->script == SCRIPT_RACE) {
			/* Someone answers the probe before the service. */
			mb_sender = ":1.66";
			mb_begin(&m, big, 2, 9, call->serial, "v", NULL, &body);
			mb_sender = ":1.0";
			mb_sig(&m, "ao");
			mb_paths(&m, cols);
			send_msg(fd, &m, body);
		}
		mb_begin(&m, big, 2, 2, call->serial, "v", NULL, &body);
		mb_sig(&m, "ao");
		mb_paths(&m, cols);
	} else if (strcmp(member, "OpenSession") == 0) {
		if (b->script == SCRIPT_SILENT)
			return;
		if (b->script == SCRIPT_HANGUP) {
			shutdown(fd, SHUT_RDWR);
			b->hung_up = 1;
			return;
		}
		if (b->script == SCRIPT_FLOOD) {
			/* Signals, never the answer, until the client goes. */
			mb_begin(&m, 0, 4, 1000, 0, "s", NULL, &body);
			mb_str(&m, ":1.1");
			mb_end(&m, body);
			while (write_full(fd, m.b, m.n) == 0)
				continue;
			b->hung_up = 1;
			return;
		}
		if (b->script == SCRIPT_BUSERROR) {
			/* The service died: the bus says so itself. */
			mb_sender = "org.freedesktop.DBus";
			mb_begin(&m, big, 3, 3, call->serial, "s",
			    "org.freedesktop.DBus.Error.NoReply", &body);
			mb_sender = ":1.0";
			mb_str(&m, "no reply");
			send_msg(fd, &m, body);
			return;
		}
		if (b->script == SCRIPT_NODH) {
			mb_begin(&m, big, 3, 3, call->serial, "s",
			    "org.freedesktop.DBus.Error.NotSupported", &body);
			mb_str(&m, "no");
			send_msg(fd, &m, body);
			return;
		}
		b->saw_dh = memmem(call->body, call->body_len,
		    "dh-ietf1024-sha256-aes128-cbc-pkcs7", 36) != NULL;
		assert_int_equal(ssbus_dh_begin(&b->dh), 0);
		assert_int_equal(ssbus_dh_key(&b->dh, client_key(call),
		    DH_BYTES), 0);
		mb_begin(&m, big, 2, 3, call->serial, "vo", NULL, &body);
		mb_sig(&m, "ay");
		mb_ay(&m, b->dh.pub, DH_BYTES);
		mb_str(&m, "/org/freedesktop/secrets/session/s1");
	} else if (strcmp(member, "SearchItems") == 0) {
		if (b->script == SCRIPT_ERROR) {
			mb_begin(&m, big, 3, 4, call->serial, "s",
			    "org.freedesktop.DBus.Error.Failed", &body);
			mb_str(&m, "no");
		} else {
			mb_begin(&m, big, 2, 4, call->serial, "aoao", NULL,
			    &body);
			mb_paths(&m, b->script == SCRIPT_LOCKED ? none : item);
			mb_paths(&m, b->script == SCRIPT_LOCKED ? item : none);
		}
	} else if (strcmp(member, "GetSecret") == 0) {
		if (b->script == SCRIPT_REFUSE ||
		    b->script == SCRIPT_GETLOCKED) {
			mb_begin(&m, big, 3, 5, call->serial, "s",
			    b->script == SCRIPT_REFUSE ?
			    "org.freedesktop.DBus.Error.AccessDenied" :
			    "org.freedesktop.Secret.Error.IsLocked", &body);
			mb_str(&m, "no");
			send_msg(fd, &m, body);
			return;
		}
		assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
		if (b->script == SCRIPT_FORGED) {
			/* Someone else answers first, with its own secret. */
			mb_sender = ":1.66";
			mb_begin(&m, big, 2, 5, call->serial, "(oayays)", NULL,
			    &body);
			mb_sender = ":1.0";
			n = encrypt(b->dh.key, iv, "forged", 6, ct);
			mb_secret(&m, iv, sizeof(iv), ct, n);
			send_msg(fd, &m, body);
		}
		if (b->script == SCRIPT_NUL)
			n = encrypt(b->dh.key, iv, "ab\0cd", 5, ct);
		else
			n = encrypt(b->dh.key, iv, SECRET, strlen(SECRET), ct);
		if (b->script == SCRIPT_BADPAD)
			ct[n - 1] ^= 0x55;
		mb_begin(&m, big, 2, 5, call->serial, "(oayays)", NULL, &body);
		mb_secret(&m, iv, sizeof(iv), ct, n);
	} else {
		return;
	}
	send_msg(fd, &m, body);
}

static void *
bus_main(void *arg)
{
	struct bus *b = arg;
	static unsigned char buf[65536];
	char line[128];
	struct ssbus_msg msg;
	size_t n, i;
	int fd;

	fd = accept(b->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	/* The NUL byte, then "AUTH EXTERNAL hex\r\n". */
	for (i = 0; i < sizeof(line) - 1; i++) {
		if (read_full(fd, line + i, 1) != 0)
			goto out;
		if (i > 0 && line[i - 1] == '\r' && line[i] == '\n')
			break;
	}
	line[i + 1] = '\0';
	memcpy(b->auth, line, sizeof(b->auth));
	if (b->script == SCRIPT_REJECT) {
		(void)write_full(fd, "REJECTED EXTERNAL\r\n", 19);
		goto out;
	}
	(void)write_full(fd, "OK 0123456789abcdef0123456789abcdef\r\n", 37);
	if (read_full(fd, line, 7) != 0 || memcmp(line, "BEGIN\r\n", 7) != 0)
		goto out;
	for (;;) {
		const unsigned char *p;
		const char *member = "?";

		if (read_full(fd, buf, 16) != 0)
			break;
		n = ssbus_msg_size(buf, 16, sizeof(buf));
		assert_true(n >= 16);
		if (read_full(fd, buf + 16, n - 16) != 0)
			break;
		/* What we send must parse as what we send. */
		assert_int_equal(ssbus_msg_parse(buf, n, &msg), 0);
		assert_int_equal(msg.type, 1);
		/* The member: the string after the byte 3 field. */
		for (p = buf + 16; p + 8 < msg.body; p++)
			if (p[0] == 3 && p[1] == 1 && p[2] == 's' && p[3] == 0) {
				member = (const char *)p + 8;
				break;
			}
		if (b->nmembers < 8)
			assert_true(snprintf(b->members[b->nmembers++],
			    sizeof(b->members[0]), "%s", member) <
			    (int)sizeof(b->members[0]));
		if (strcmp(member, "Hello") != 0 && (buf[2] & 0x2) != 0)
			b->no_auto_start++;
		if (strcmp(member, "SearchItems") == 0 &&
		    memmem(msg.body, msg.body_len, "acct-1", 7) &&
		    memmem(msg.body, msg.body_len, "oauth2", 7) &&
		    memmem(msg.body, msg.body_len, "org.mailcred.Secret", 20))
			b->saw_attrs = 1;
		reply(b, fd, &msg, member);
		if (b->hung_up)
			break;
	}
out:
	close(fd);
	return NULL;
}

static void
bus_start(struct bus *b, enum script script)
{
	struct sockaddr_un sa;
	char env[200];

	memset(b, 0, sizeof(*b));
	b->script = script;
	assert_true(snprintf(b->dir, sizeof(b->dir), "/tmp/test_ssbus.XXXXXX") <
	    (int)sizeof(b->dir));
	assert_non_null(mkdtemp(b->dir));
	assert_true(snprintf(b->path, sizeof(b->path), "%s/b%%us", b->dir) <
	    (int)sizeof(b->path));
	b->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(b->lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	/* The file is named "b%us": the address escapes its '%'. */
	assert_true(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/b%%us",
	    b->dir) < (int)sizeof(sa.sun_path));
	assert_int_equal(bind(b->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(b->lfd, 4), 0);
	assert_true(snprintf(env, sizeof(env), "unix:path=%s/b%%25us,guid=1",
	    b->dir) < (int)sizeof(env));
	setenv("DBUS_SESSION_BUS_ADDRESS", env, 1);
	assert_int_equal(pthread_create(&b->thread, NULL, bus_main, b), 0);
}

static void
bus_stop(struct bus *b)
{
	shutdown(b->lfd, SHUT_RDWR);
	pthread_join(b->thread, NULL);
	close(b->lfd);
	unlink(b->path);
	rmdir(b->dir);
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
}

static char why[256];

static int
get(struct bus *b, enum script script, int timeout_ms, char **secret)
{
	int rc;

	bus_start(b, script);
	rc = ssbus_get("org.mailcred.Secret", "acct-1", "oauth2", timeout_ms,
	    secret, why, sizeof(why));
	bus_stop(b);
	return rc;
}

static void
test_get_ok(void **state)
{
	static const enum script ok[] = {
		SCRIPT_OK, SCRIPT_BIG, SCRIPT_SIGNALS
	};
	struct bus b;
	char *secret = NULL, want[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(get(&b, ok[i], 5000, &secret), STORE_OK);
		assert_string_equal(secret, SECRET);
		free(secret);
		secret = NULL;
		/* Hello, the owner, the probe, the session, the search. */
		assert_int_equal(b.nmembers, 6);
		assert_string_equal(b.members[0], "Hello");
		assert_string_equal(b.members[1], "GetNameOwner");
		assert_string_equal(b.members[2], "Get");
		assert_string_equal(b.members[3], "OpenSession");
		assert_string_equal(b.members[4], "SearchItems");
		assert_string_equal(b.members[5], "GetSecret");
		assert_int_equal(b.no_auto_start, 4);
		assert_true(b.saw_attrs);
		assert_true(b.saw_dh);
	}
	/* AUTH EXTERNAL with our uid in hex of its decimal digits. */
	{
		static const char hex[] = "0123456789abcdef";
		char uid[32];
		size_t k, n = 0;

		assert_true(snprintf(uid, sizeof(uid), "%lu",
		    (unsigned long)geteuid()) < (int)sizeof(uid));
		want[n++] = '\0';
		memcpy(want + n, "AUTH EXTERNAL ", 14);
		n += 14;
		for (k = 0; uid[k] != '\0'; k++) {
			want[n++] = hex[(unsigned char)uid[k] >> 4];
			want[n++] = hex[(unsigned char)uid[k] & 0xf];
		}
		memcpy(want + n, "\r\n", 2);
		assert_memory_equal(b.auth, want, n + 2);
	}
}

static long
elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000L +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

static void
test_get_defers(void **state)
{
	static const enum script defer[] = {
		SCRIPT_ERROR, SCRIPT_LOCKED, SCRIPT_NUL, SCRIPT_HANGUP,
		SCRIPT_REJECT, SCRIPT_BADPAD, SCRIPT_FORGED, SCRIPT_RACE,
		SCRIPT_NOOWNER, SCRIPT_BUSERROR, SCRIPT_NODH
	};
	struct bus b;
	struct timespec t0;
	char *secret = (char *)"x";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(defer) / sizeof(defer[0]); i++) {
		/* At once, not at the deadline: libsecret's path has time. */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(get(&b, defer[i], 60000, &secret), SSBUS_DEFER);
		assert_true(elapsed_ms(&t0) < 30000);
		assert_null(secret);
	}
	assert_int_equal(b.nmembers, 5);	/* NODH: no GetSecret */

	/* No usable address; a socket nobody listens on. */
	setenv("DBUS_SESSION_BUS_ADDRESS", "tcp:host=127.0.0.1,port=9", 1);
	assert_int_equal(ssbus_get("s", "a", "k", 1000, &secret, why,
	    sizeof(why)), SSBUS_DEFER);
	assert_int_equal(ssbus_usable(), 0);
	setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus", 1);
	assert_int_equal(ssbus_usable(), 1);
	assert_int_equal(ssbus_get("s", "a", "k", 1000, &secret, why,
	    sizeof(why)), SSBUS_DEFER);
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
	assert_int_equal(ssbus_get("s", "a", "k", 1000, &secret, why,
	    sizeof(why)), SSBUS_DEFER);
	assert_null(secret);
}

/* A GetSecret the service refuses is final: libsecret would ask again. */
static void
test_get_refused(void **state)
{
	struct bus b;
	char *secret = NULL;

	(void)state;
	assert_int_equal(get(&b, SCRIPT_REFUSE, 5000, &secret), SSBUS_REFUSED);
	assert_null(secret);
	assert_string_equal(why, "org.freedesktop.DBus.Error.AccessDenied");
	assert_int_equal(get(&b, SCRIPT_GETLOCKED, 5000, &secret),
	    STORE_ELOCKED);
	assert_null(secret);
}


static void
test_get_deadline(void **state)
{
	struct bus b;
	struct timespec t0;
	char *secret = NULL;
	long ms;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(get(&b, SCRIPT_SILENT, 300, &secret), STORE_ETIMEOUT);
	ms = elapsed_ms(&t0);
	assert_null(secret);
	assert_true(ms >= 250);
	assert_true(ms < 5000);

	/* A bus that never stops sending, but never the answer. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(get(&b, SCRIPT_FLOOD, 300, &secret), STORE_ETIMEOUT);
	ms = elapsed_ms(&t0);
	assert_null(secret);
	assert_true(ms >= 250);
	assert_true(ms < 5000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_parse_replies),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_dh_known),
		cmocka_unit_test(test_dh),
		cmocka_unit_test(test_hmac_sha256),
		cmocka_unit_test(test_dh_padding),
		cmocka_unit_test(test_get_ok),
		cmocka_unit_test(test_get_defers),
		cmocka_unit_test(test_get_refused),
		cmocka_unit_test(test_get_deadline),
	};

	signal(SIGPIPE, SIG_IGN);	/* as mailcred's commands do */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
