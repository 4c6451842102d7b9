/*
 * auth/message.h - the message that `mailcred send` sends: its header
 * section, its recipients, and the DATA encoding of the whole.
 *
 * Nothing here touches the network. The sender reads the header section
 * into memory (mc_msg_read_head), takes the recipients and the From address
 * from it, finishes it (mc_msg_prepare: Bcc out, Date and Message-ID in),
 * then sends mc_msg_head(), mc_msg_body_prefix() and the rest of its input
 * through the DATA encoder (struct mc_data_enc) chunk by chunk: only the
 * header section is ever held in memory whole, never the body.
 *
 * The header section is read as RFC 5322 lays it out: header fields
 * ("Name: value", the name printable ASCII 33..126 without ':'; white
 * space between the name and the colon is taken, as RFC 5322 4.5 obs-
 * syntax allows), each followed by continuation lines that start with a
 * space or a tab, ended by the first empty line. Line ends may be LF or
 * CRLF, mixed. A line of white space only is a continuation line, not the
 * end of the header (RFC 5322 obs-FWS). Limits, each MC_ERR_DATA (exit
 * 65) with a message that says what is wrong and on which line:
 *   - the header section (with its empty line) at most MC_MSG_MAX_HEAD
 *     bytes, each of its lines at most MC_MSG_MAX_LINE bytes without the
 *     line end (RFC 5322 2.1.1; the body's lines are not limited);
 *   - no NUL byte in the header section;
 *   - every line before the empty line a header field or a continuation,
 *     and the first line not a continuation: a message whose header does
 *     not end with an empty line before its body is refused, not guessed
 *     at as sendmail does;
 *   - not empty. A message that ends after complete header lines, with no
 *     empty line and no body, is accepted.
 *
 * Parse functions take (buf, len) and never read past len, so a fuzzer
 * can drive them.
 */
#ifndef MAILCRED_AUTH_MESSAGE_H
#define MAILCRED_AUTH_MESSAGE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MC_MSG_MAX_HEAD (1024 * 1024)	/* bytes of header section */
#define MC_MSG_MAX_LINE 998		/* bytes of a header line, no CRLF */

struct mc_msg;

/*
 * Reads the header section of a message from fd (retrying on EINTR and
 * after short reads) up to and including the first empty line, or to end
 * of file when there is none. What was read past the empty line is kept
 * as the start of the body (mc_msg_body_prefix): the caller sends it
 * first, then goes on reading fd where this stopped. At most one read's
 * worth (64 KiB) of body is read. Returns MC_OK and *out (free it with
 * mc_msg_free); MC_ERR_DATA as the limits above say; MC_ERR_IO when fd
 * cannot be read; MC_ERR_NOMEM. *out is NULL on error.
 */
int mc_msg_read_head(int fd, struct mc_msg **out, char **errmsg);

/*
 * The same from memory: buf holds len bytes, at least the whole header
 * section (the end of buf counts as end of file); what follows the empty
 * line is the body prefix. Same results as mc_msg_read_head but MC_ERR_IO.
 */
int mc_msg_parse_head(const char *buf, size_t len, struct mc_msg **out,
    char **errmsg);

/* Frees m; accepts NULL. */
void mc_msg_free(struct mc_msg *m);

/*
 * Header fields, in the order they stand (after mc_msg_prepare: without
 * the removed Bcc fields, with the added ones at the end). i runs from 0
 * to mc_msg_nfields() - 1.
 *   mc_msg_field_name: the name as written (without white space before
 *     the colon), NUL-terminated.
 *   mc_msg_field_value: the value unfolded as RFC 5322 2.2.3 says (each
 *     line break that is followed by a space or tab removed, the space or
 *     tab kept), with the white space after the colon and at the end
 *     removed; NUL-terminated ("" for an empty field).
 *   mc_msg_field_raw: the field's bytes as they go out, its name, value,
 *     folds and line end(s) (none for a last line that ended at end of
 *     file); *len bytes, not NUL-terminated.
 * All point into m and are valid until mc_msg_prepare() or mc_msg_free().
 */
size_t mc_msg_nfields(const struct mc_msg *m);
const char *mc_msg_field_name(const struct mc_msg *m, size_t i);
const char *mc_msg_field_value(const struct mc_msg *m, size_t i);
const char *mc_msg_field_raw(const struct mc_msg *m, size_t i, size_t *len);

/*
 * The index of the first field at index from or later whose name is name
 * (ASCII case-insensitive), or mc_msg_nfields(m) when there is none:
 *   for (i = mc_msg_find(m, "To", 0); i < n; i = mc_msg_find(m, "To", i + 1))
 */
size_t mc_msg_find(const struct mc_msg *m, const char *name, size_t from);

/* The unfolded value of the first field named name, or NULL; as above. */
const char *mc_msg_get(const struct mc_msg *m, const char *name);

/*
 * The addr-specs of an RFC 5322 address list (the value of To, Cc, Bcc,
 * From, Reply-To...), in order: "local@domain" with no display name, no
 * angle brackets, no comments or folding white space. Taken: display
 * names (atoms, quoted strings with commas in them, obsolete phrases with
 * dots), comments anywhere (nested, with quoted pairs), groups
 * ("Friends: a@x, b@y;", the empty "undisclosed-recipients:;", a last
 * group without its ';'), obsolete routes ("<@relay:a@x>", the route
 * dropped), empty list elements (",,"), quoted local parts (kept quoted
 * as written: "\"john doe\"@example.com"), UTF-8 local parts and domains
 * (RFC 6532, kept as bytes), domain literals ("[127.0.0.1]"). An empty
 * list is zero addresses. Returns MC_OK with *addrs (malloc'd array of n
 * malloc'd strings; free with mc_msg_addrs_free) and *n; MC_ERR_DATA with
 * a message saying what is wrong (a name with no @domain, an unterminated
 * quoted string, comment, angle address or domain literal, a control
 * byte) when the list does not parse; MC_ERR_NOMEM. *addrs is NULL and *n
 * 0 on error.
 */
int mc_msg_parse_addresses(const char *value, size_t len, char ***addrs,
    size_t *n, char **errmsg);

/* Frees an array of n addresses; accepts NULL. */
void mc_msg_addrs_free(char **addrs, size_t n);

/*
 * The recipients `sendmail -t` sends to: the addresses of every To, Cc
 * and Bcc field, in the order the fields stand, each address once (the
 * same local part, byte for byte, and the same domain, ASCII case-
 * insensitive; the first spelling is kept). Resent-To, Resent-Cc and
 * Resent-Bcc are ignored. The Bcc fields count before and after
 * mc_msg_prepare() removed them. Zero recipients is MC_OK with *n 0.
 * Returns MC_OK with *addrs and *n as mc_msg_parse_addresses; MC_ERR_DATA
 * with a message naming the field and its line when one does not parse;
 * MC_ERR_NOMEM.
 */
int mc_msg_recipients(const struct mc_msg *m, char ***addrs, size_t *n,
    char **errmsg);

/*
 * The first addr-spec of the first From field, owned by m (valid until
 * mc_msg_free), or NULL when there is no From field, it holds no address
 * or it does not parse.
 */
const char *mc_msg_from(const struct mc_msg *m);

/*
 * Finishes the header section for sending: with from not NULL and no
 * From field, adds "From: FROM" (from is one line, as sendmail
 * would write it: "Full Name <user@host>"; MC_ERR_DATA otherwise); removes
 * every Bcc and
 * Resent-Bcc field (with its continuation lines), adds
 * "Date: Tue, 24 Nov 2026 18:29:59 +0100" (now in local time, numeric
 * zone, English names whatever LC_TIME says) when there is no Date field
 * and "Message-ID: <RANDOM@hostname>" (RANDOM: 144 bits from OpenSSL's
 * RAND_bytes, base64url) when there is no Message-ID field. Added fields
 * go after the last field, before the empty line, with the line end of
 * the message's first line (CRLF or LF); a last field that ended at end of
 * file gets that line end first. Every other byte is left as it was.
 * Calling it again removes and adds nothing. hostname: the host's name
 * (letters, digits, '-' and '.'; mc_wire_hostname()). Returns MC_OK;
 * MC_ERR_INTERNAL when hostname is not such a name or the random number
 * generator or the clock fails; MC_ERR_NOMEM. On error m is unchanged.
 */
int mc_msg_prepare(struct mc_msg *m, const char *hostname, time_t now,
    const char *from, char **errmsg);

/*
 * The header section as it goes out (after mc_msg_prepare: finished),
 * *len bytes, with the empty line that ends it when the message had one;
 * a message without one ends with its last header line. Owned by m, valid
 * until mc_msg_prepare() or mc_msg_free(); not NUL-terminated.
 */
const char *mc_msg_head(const struct mc_msg *m, size_t *len);

/*
 * The start of the body, read along with the header section: *len bytes
 * (0 when none), owned by m, valid until mc_msg_free(). It goes out after
 * mc_msg_head(), before the rest of the input.
 */
const char *mc_msg_body_prefix(const struct mc_msg *m, size_t *len);

/*
 * 1 when the header section holds a byte >= 0x80 (RFC 6532 UTF-8 header:
 * the message needs SMTPUTF8), else 0.
 */
int mc_msg_is_8bit_head(const struct mc_msg *m);

/*
 * Is addr usable as an SMTP envelope address (MAIL FROM, RCPT TO, without
 * the angle brackets)? 0 when it is empty or holds CR, LF, another control
 * byte (tab and DEL included), '<' or '>', a space outside a quoted local
 * part, or a quoted string that does not end; else 1. Bytes >= 0x80 are
 * allowed (SMTPUTF8). The null reverse-path "" is for the caller to allow.
 */
int mc_msg_addr_ok(const char *addr);

/* 1 when addr is all ASCII (no SMTPUTF8 needed), else 0. */
int mc_msg_addr_is_ascii(const char *addr);

/*
 * The DATA encoder: turns the message's bytes, fed in chunks split
 * anywhere, into what goes between DATA's 354 and the end of data
 * (RFC 5321 4.1.1.4, 4.5.2):
 *   - a bare LF becomes CRLF; CRLF stays CRLF; a CR not followed by LF
 *     becomes CRLF too (RFC 5321 allows CR only in CRLF, and a bare CR
 *     before a dot must not smuggle an end of data past a server that
 *     reads a bare CR as a line end);
 *   - a '.' at the start of a line (at the start of the data, or after a
 *     line end) is doubled;
 *   - every other byte passes untouched (8-bit data, long lines).
 * A CR at the end of a chunk is held back until the next byte shows
 * whether it starts a CRLF.
 *
 * A NUL byte cannot go in a mail message: the first one sets nul to 1 and
 * nul_offset to its offset among all bytes fed so far (0-based). Encoding
 * goes on, but the caller must then drop the transfer without ending the
 * data (exit 65, nothing delivered).
 *
 * Stack object: struct mc_data_enc e = MC_DATA_ENC_INIT.
 */
struct mc_data_enc {
	int state;		/* private: start of line, in a line, after CR */
	int nul;		/* a NUL byte was fed */
	uint64_t nul_offset;	/* where the first one was */
	uint64_t fed;		/* bytes fed so far */
};

#define MC_DATA_ENC_INIT { 0, 0, 0, 0 }

/*
 * The most mc_data_encode() writes for len bytes of input: every input
 * byte gives at most two output bytes (LF -> CRLF, '.' -> "..", a CR
 * followed by another byte -> CRLF), and a CR held back from the chunk
 * before comes out (as CRLF) with this one: 2 more (tests/unit/
 * test_message.c checks this on every input up to 7 bytes, in every
 * split).
 */
#define MC_DATA_ENC_MAX(len) (2 * (size_t)(len) + 2)

/* The most mc_data_finish() writes: a held-back CR and "\r\n.\r\n". */
#define MC_DATA_FINISH_MAX 6

/*
 * Encodes len bytes at in into out, which has room for at least
 * MC_DATA_ENC_MAX(len) bytes. Returns the number of bytes written.
 */
size_t mc_data_encode(struct mc_data_enc *e, const char *in, size_t len,
    char *out);

/*
 * Writes the end of the data into out (room for MC_DATA_FINISH_MAX
 * bytes) and returns the number of bytes written: ".\r\n" when the data
 * ended with a line end (or was empty), else "\r\n.\r\n" so that the
 * terminating dot stands on its own line. A CR held back at the very end
 * ends the last line: "\r\n.\r\n".
 */
size_t mc_data_finish(struct mc_data_enc *e, char *out);

#endif
