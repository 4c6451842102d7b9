/*
 * auth/message.c - the header section of an outgoing message, its
 * addresses, and the streaming DATA encoder.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "auth/crypto_dl.h"
#include "auth/err.h"
#include "auth/message.h"
#include "auth/sasl.h"

#define READ_CHUNK 65536

/* One header field: strings in m->arena, bytes in m->head. */
struct field {
	size_t name;		/* arena offset of the NUL-terminated name */
	size_t value;		/* arena offset of the unfolded value */
	size_t raw_off;		/* offset in m->head */
	size_t raw_len;		/* with folds and line end(s) */
	size_t line;		/* line of the message where it starts */
	int removed;		/* taken out by mc_msg_prepare */
};

struct mc_msg {
	char *raw;		/* what was read: header section, body prefix */
	size_t raw_len;
	char *head;		/* the header section: raw or a rebuilt copy */
	size_t head_len;	/* with the empty line, if any */
	size_t blank_len;	/* bytes of the empty line at the end: 0, 1, 2 */
	size_t body_off;	/* the body prefix in raw */
	struct field *fields;	/* every field ever: read ones first, in order */
	size_t nfields;
	size_t nread;		/* fields[0..nread) are the ones read */
	size_t *live;		/* indices into fields, as they go out */
	size_t nlive;
	char *arena;
	size_t arena_len, arena_cap;
	char *from;		/* first addr-spec of From, or NULL */
};

/* ------------------------------------------------------------------ */
/* Lines */

/*
 * The line at buf[pos..len): *content bytes without the line end, *total
 * with it. Returns 1 for a complete line; 0 when no LF is there yet and
 * not eof; at eof the rest is the last line (a CR at its end counted as
 * its line end).
 */
static int
next_line(const char *buf, size_t len, size_t pos, int eof, size_t *content,
    size_t *total)
{
	const char *lf = memchr(buf + pos, '\n', len - pos);

	if (lf != NULL) {
		*total = (size_t)(lf - (buf + pos)) + 1;
		*content = *total - 1;
		if (*content > 0 && buf[pos + *content - 1] == '\r')
			(*content)--;
		return 1;
	}
	if (!eof)
		return 0;
	*total = len - pos;
	*content = *total;
	if (*content > 0 && buf[len - 1] == '\r')
		(*content)--;
	return 1;
}

enum line_kind { LINE_FIELD, LINE_CONT, LINE_BAD, LINE_UNSURE };

static int
is_name_char(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/*
 * What a line of n bytes (without its line end, n > 0) is. complete: all
 * of the line is there; else LINE_UNSURE when its start could still be a
 * field name.
 */
static enum line_kind
classify(const char *s, size_t n, int complete, size_t *name_len)
{
	size_t i = 0;

	if (is_wsp((unsigned char)s[0]))
		return LINE_CONT;
	while (i < n && is_name_char((unsigned char)s[i]))
		i++;
	if (name_len != NULL)
		*name_len = i;
	while (i > 0 && i < n && is_wsp((unsigned char)s[i]))
		i++;
	if (i > 0 && i < n && s[i] == ':')
		return LINE_FIELD;
	if (i == n && !complete)
		return LINE_UNSURE;
	return LINE_BAD;
}

struct scan {
	size_t pos;		/* start of the next line to look at */
	size_t line;		/* its number, from 1 */
	size_t head_len;	/* when done: the header section's bytes */
	size_t blank_len;	/* when done: its empty line's bytes */
	size_t skip;		/* bytes of an mbox "From " line at the start */
};

#define SCAN_INIT { 0, 1, 0, 0, 0 }

/*
 * A CR inside a header line: the DATA encoder would make it a line end,
 * so what recipients see (a Bcc field, say) would not be what was parsed.
 */
static int
bare_cr(size_t line, char **errmsg)
{
	return mc_fail(MC_ERR_DATA, errmsg, "line %zu of the header holds a CR "
	    "that does not end the line: nothing was sent", line);
}

static int
line_error(int kind, size_t line, char **errmsg)
{
	if (kind == LINE_CONT)
		return mc_fail(MC_ERR_DATA, errmsg, "line %zu of the message "
		    "starts with white space: a continuation line with no "
		    "header field before it", line);
	return mc_fail(MC_ERR_DATA, errmsg, "line %zu of the message is "
	    "neither a header field (\"Name: value\") nor a continuation "
	    "line: no empty line between header and body", line);
}

static int
too_big(char **errmsg)
{
	return mc_fail(MC_ERR_DATA, errmsg, "the header of the message is "
	    "larger than 1 MiB (%d bytes)", MC_MSG_MAX_HEAD);
}

/*
 * Looks at the lines of buf[0..len) from st->pos on. Returns 1 when the
 * header section ended (st->head_len, st->blank_len set), 0 when more
 * input is needed, MC_ERR_DATA.
 */
static int
scan_head(const char *buf, size_t len, int eof, struct scan *st,
    char **errmsg)
{
	size_t content, total, look;
	enum line_kind kind;

	if (len == 0 && eof)
		return mc_fail(MC_ERR_DATA, errmsg, "the message is empty");
	/*
	 * An mbox "From " line first (git format-patch --stdout) is no
	 * header field: dropped, as Postfix's and Exim's sendmail do.
	 */
	if (st->pos == 0 && st->line == 1) {
		if (len < 5 && !eof && memcmp(buf, "From ", len) == 0)
			return 0;
		if (len >= 5 && memcmp(buf, "From ", 5) == 0) {
			if (!next_line(buf, len, 0, eof, &content, &total))
				return len > MC_MSG_MAX_LINE + 2 ?
				    mc_fail(MC_ERR_DATA, errmsg, "line 1 of the "
				    "header is longer than %d bytes",
				    MC_MSG_MAX_LINE) : 0;
			/* "From : x" is a field (obsolete syntax): kept. */
			if (classify(buf, content, 1, NULL) != LINE_FIELD) {
				if (eof && total == len)
					return mc_fail(MC_ERR_DATA, errmsg, "the "
					    "message is empty (only an mbox "
					    "\"From \" line)");
				st->skip = st->pos = total;
				st->line++;
			}
		}
	}
	for (;;) {
		if (st->pos == len) {
			if (!eof)
				return 0;
			st->head_len = len;
			st->blank_len = 0;
			return 1;
		}
		if (!next_line(buf, len, st->pos, eof, &content, &total)) {
			/*
			 * Part of a line: fail early when it is wrong
			 * already. A CR at its end may start its line end.
			 */
			look = len - st->pos;
			if (buf[len - 1] == '\r')
				look--;
			if (look == 0)
				return 0;
			if (look > MC_MSG_MAX_LINE + 1)
				look = MC_MSG_MAX_LINE + 1;
			kind = classify(buf + st->pos, look, 0, NULL);
			if (kind == LINE_BAD || (kind == LINE_CONT &&
			    st->pos == st->skip))
				return line_error(kind, st->line, errmsg);
			if (memchr(buf + st->pos, '\0', look) != NULL)
				return mc_fail(MC_ERR_DATA, errmsg, "line %zu "
				    "of the header holds a NUL byte", st->line);
			if (memchr(buf + st->pos, '\r', look) != NULL)
				return bare_cr(st->line, errmsg);
			if (len - st->pos > MC_MSG_MAX_LINE + 1)
				return mc_fail(MC_ERR_DATA, errmsg, "line %zu "
				    "of the header is longer than %d bytes",
				    st->line, MC_MSG_MAX_LINE);
			if (len > MC_MSG_MAX_HEAD)
				return too_big(errmsg);
			return 0;
		}
		if (content == 0) {
			if (st->pos + total > MC_MSG_MAX_HEAD)
				return too_big(errmsg);
			st->head_len = st->pos + total;
			st->blank_len = total;
			return 1;
		}
		look = content > MC_MSG_MAX_LINE + 1 ? MC_MSG_MAX_LINE + 1 :
		    content;
		kind = classify(buf + st->pos, look, look == content, NULL);
		if (kind == LINE_BAD || kind == LINE_UNSURE ||
		    (kind == LINE_CONT && st->pos == st->skip))
			return line_error(kind, st->line, errmsg);
		if (memchr(buf + st->pos, '\0', content) != NULL)
			return mc_fail(MC_ERR_DATA, errmsg, "line %zu of the "
			    "header holds a NUL byte", st->line);
		if (memchr(buf + st->pos, '\r', content) != NULL)
			return bare_cr(st->line, errmsg);
		if (content > MC_MSG_MAX_LINE)
			return mc_fail(MC_ERR_DATA, errmsg, "line %zu of the "
			    "header is longer than %d bytes", st->line,
			    MC_MSG_MAX_LINE);
		st->pos += total;
		st->line++;
		if (st->pos > MC_MSG_MAX_HEAD)
			return too_big(errmsg);
	}
}

/* ------------------------------------------------------------------ */
/* The message */

/* Appends n bytes and a NUL to the arena; the offset, or (size_t)-1. */
static size_t
arena_add(struct mc_msg *m, const char *s, size_t n)
{
	size_t off = m->arena_len, cap;
	char *p;

	if (n + 1 > m->arena_cap - m->arena_len) {
		cap = m->arena_cap * 2;
		if (cap < m->arena_len + n + 1)
			cap = m->arena_len + n + 1;
		p = realloc(m->arena, cap);
		if (p == NULL)
			return (size_t)-1;
		m->arena = p;
		m->arena_cap = cap;
	}
	memcpy(m->arena + off, s, n);
	m->arena[off + n] = '\0';
	m->arena_len += n + 1;
	return off;
}

/*
 * Fills f's name and value from its raw bytes (m->head at f->raw_off).
 * The value is unfolded: every LF, and a CR just before it, goes.
 */
static int
field_strings(struct mc_msg *m, struct field *f)
{
	const char *raw = m->head + f->raw_off;
	size_t n = f->raw_len, name_len, i, j, start, end;
	char *v;

	classify(raw, n, 1, &name_len);
	f->name = arena_add(m, raw, name_len);
	if (f->name == (size_t)-1)
		return MC_ERR_NOMEM;
	start = (const char *)memchr(raw, ':', n) - raw + 1;
	/* Reserve the room, then unfold in place. */
	f->value = arena_add(m, raw + start, n - start);
	if (f->value == (size_t)-1)
		return MC_ERR_NOMEM;
	v = m->arena + f->value;
	for (i = 0, j = 0; i < n - start; i++) {
		if (v[i] == '\n')
			continue;
		if (v[i] == '\r' && (i + 1 == n - start || v[i + 1] == '\n'))
			continue;
		v[j++] = v[i];
	}
	end = j;
	while (end > 0 && is_wsp((unsigned char)v[end - 1]))
		end--;
	for (i = 0; i < end && is_wsp((unsigned char)v[i]); i++)
		;
	memmove(v, v + i, end - i);
	v[end - i] = '\0';
	m->arena_len = f->value + (end - i) + 1;
	return MC_OK;
}

static int
grow_fields(struct mc_msg *m, size_t want)
{
	struct field *f;
	size_t *l;

	f = realloc(m->fields, want * sizeof(*f));
	if (f == NULL)
		return MC_ERR_NOMEM;
	m->fields = f;
	l = realloc(m->live, want * sizeof(*l));
	if (l == NULL)
		return MC_ERR_NOMEM;
	m->live = l;
	return MC_OK;
}

static int
first_address(const char *value, char **out)
{
	char **addrs = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	rc = mc_msg_parse_addresses(value, strlen(value), &addrs, &n, NULL);
	if (rc == MC_ERR_DATA)
		return MC_OK;
	if (rc != MC_OK)
		return rc;
	if (n > 0) {
		*out = addrs[0];
		addrs[0] = NULL;
	}
	mc_msg_addrs_free(addrs, n);
	return MC_OK;
}

/* Builds *out from buf (taken over: freed on error too). */
static int
msg_build(char *buf, size_t len, const struct scan *st, struct mc_msg **out,
    char **errmsg)
{
	struct mc_msg *m;
	size_t pos, content, total, count = 0, line = 1;
	const char *from;
	int rc;

	*out = NULL;
	if (st->skip > 0) {
		memmove(buf, buf + st->skip, len - st->skip);
		len -= st->skip;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		free(buf);
		return MC_ERR_NOMEM;
	}
	m->raw = buf;
	m->raw_len = len;
	m->head = buf;
	m->head_len = st->head_len - st->skip;
	m->blank_len = st->blank_len;
	m->body_off = st->head_len - st->skip;

	/* Count the fields, then take them. */
	for (pos = 0; pos < m->head_len - m->blank_len; pos += total) {
		next_line(buf, m->head_len - m->blank_len, pos, 1, &content,
		    &total);
		if (!is_wsp((unsigned char)buf[pos]))
			count++;
	}
	rc = grow_fields(m, count > 0 ? count : 1);
	if (rc != MC_OK)
		goto out;
	m->arena_cap = m->head_len + 2 * count + 64;
	m->arena = malloc(m->arena_cap);
	if (m->arena == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	for (pos = 0; pos < m->head_len - m->blank_len; pos += total, line++) {
		next_line(buf, m->head_len - m->blank_len, pos, 1, &content,
		    &total);
		if (is_wsp((unsigned char)buf[pos])) {
			m->fields[m->nfields - 1].raw_len += total;
			continue;
		}
		m->fields[m->nfields].raw_off = pos;
		m->fields[m->nfields].raw_len = total;
		m->fields[m->nfields].line = line;
		m->fields[m->nfields].removed = 0;
		m->live[m->nfields] = m->nfields;
		m->nfields++;
	}
	m->nread = m->nlive = m->nfields;
	for (pos = 0; pos < m->nfields; pos++) {
		rc = field_strings(m, &m->fields[pos]);
		if (rc != MC_OK)
			goto out;
	}
	from = mc_msg_get(m, "From");
	if (from != NULL) {
		rc = first_address(from, &m->from);
		if (rc != MC_OK)
			goto out;
	}
	*out = m;
	m = NULL;
	rc = MC_OK;
out:
	mc_msg_free(m);
	if (rc == MC_ERR_NOMEM)
		mc_fail(rc, errmsg, "out of memory reading the message header");
	return rc;
}

int
mc_msg_parse_head(const char *buf, size_t len, struct mc_msg **out,
    char **errmsg)
{
	struct scan st = SCAN_INIT;
	char *copy;
	int rc;

	*out = NULL;
	rc = scan_head(buf, len, 1, &st, errmsg);
	if (rc < 0)
		return rc;
	copy = malloc(len > 0 ? len : 1);
	if (copy == NULL)
		return MC_ERR_NOMEM;
	memcpy(copy, buf, len);
	return msg_build(copy, len, &st, out, errmsg);
}

int
mc_msg_read_head(int fd, struct mc_msg **out, char **errmsg)
{
	struct scan st = SCAN_INIT;
	char *buf = NULL, *p;
	size_t len = 0, cap = 0;
	ssize_t got;
	int rc, eof = 0;

	*out = NULL;
	for (;;) {
		if (cap - len < READ_CHUNK) {
			p = realloc(buf, cap + READ_CHUNK);
			if (p == NULL) {
				rc = MC_ERR_NOMEM;
				goto out;
			}
			buf = p;
			cap += READ_CHUNK;
		}
		got = read(fd, buf + len, READ_CHUNK);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = mc_fail(MC_ERR_IO, errmsg, "cannot read the "
			    "message: %s", strerror(errno));
			goto out;
		}
		if (got == 0)
			eof = 1;
		len += (size_t)got;
		rc = scan_head(buf, len, eof, &st, errmsg);
		if (rc < 0)
			goto out;
		if (rc == 1)
			break;
	}
	rc = msg_build(buf, len, &st, out, errmsg);
	buf = NULL;
out:
	free(buf);
	return rc;
}

void
mc_msg_free(struct mc_msg *m)
{
	if (m == NULL)
		return;
	if (m->head != m->raw)
		free(m->head);
	free(m->raw);
	free(m->fields);
	free(m->live);
	free(m->arena);
	free(m->from);
	free(m);
}

size_t
mc_msg_nfields(const struct mc_msg *m)
{
	return m->nlive;
}

const char *
mc_msg_field_name(const struct mc_msg *m, size_t i)
{
	return m->arena + m->fields[m->live[i]].name;
}

const char *
mc_msg_field_value(const struct mc_msg *m, size_t i)
{
	return m->arena + m->fields[m->live[i]].value;
}

const char *
mc_msg_field_raw(const struct mc_msg *m, size_t i, size_t *len)
{
	const struct field *f = &m->fields[m->live[i]];

	*len = f->raw_len;
	return m->head + f->raw_off;
}

/* strcasecmp for ASCII only, whatever the locale. */
static int
ascii_casecmp_n(const char *a, const char *b, size_t n)
{
	size_t i;
	unsigned char x, y;

	for (i = 0; i < n; i++) {
		x = (unsigned char)a[i];
		y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return x < y ? -1 : 1;
		if (x == '\0')
			return 0;
	}
	return 0;
}

static int
name_is(const struct mc_msg *m, const struct field *f, const char *name)
{
	return ascii_casecmp_n(m->arena + f->name, name, (size_t)-1) == 0;
}

size_t
mc_msg_find(const struct mc_msg *m, const char *name, size_t from)
{
	size_t i;

	for (i = from; i < m->nlive; i++)
		if (name_is(m, &m->fields[m->live[i]], name))
			return i;
	return m->nlive;
}

const char *
mc_msg_get(const struct mc_msg *m, const char *name)
{
	size_t i = mc_msg_find(m, name, 0);

	return i < m->nlive ? mc_msg_field_value(m, i) : NULL;
}

const char *
mc_msg_from(const struct mc_msg *m)
{
	return m->from;
}

const char *
mc_msg_head(const struct mc_msg *m, size_t *len)
{
	*len = m->head_len;
	return m->head;
}

const char *
mc_msg_body_prefix(const struct mc_msg *m, size_t *len)
{
	*len = m->raw_len - m->body_off;
	return m->raw + m->body_off;
}

int
mc_msg_is_8bit_head(const struct mc_msg *m)
{
	size_t i;

	for (i = 0; i < m->head_len; i++)
		if ((unsigned char)m->head[i] >= 0x80)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Addresses (RFC 5322 3.4, 4.4) */

enum tok_type { T_END, T_ATOM, T_QSTR, T_DLIT, T_SPECIAL };

struct tok {
	enum tok_type type;
	const char *p;		/* the token's bytes (quotes, brackets kept) */
	size_t n;
	char c;			/* T_SPECIAL: which */
};

struct lex {
	const char *s;
	size_t len, pos;
	char **errmsg;
	/*
	 * The token lex_peek() read at ahead_at, ending at ahead_end: the
	 * lex_next() that follows takes it instead of reading it again.
	 */
	struct tok ahead;
	size_t ahead_at, ahead_end;
	int have_ahead;
};

static int
is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;	/* RFC 6532 UTF-8 */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '/': case '=': case '?':
	case '^': case '_': case '`': case '{': case '|': case '}':
	case '~':
		return 1;
	default:
		return 0;
	}
}

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Skips white space and comments. MC_OK or MC_ERR_DATA. */
static int
skip_cfws(struct lex *lx)
{
	size_t depth;
	unsigned char c;

	while (lx->pos < lx->len) {
		c = (unsigned char)lx->s[lx->pos];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			lx->pos++;
			continue;
		}
		if (c != '(')
			break;
		depth = 0;
		do {
			if (lx->pos >= lx->len)
				return mc_fail(MC_ERR_DATA, lx->errmsg,
				    "a comment \"(...)\" is not closed");
			c = (unsigned char)lx->s[lx->pos++];
			if (c == '\0')
				return mc_fail(MC_ERR_DATA, lx->errmsg,
				    "a NUL byte in a comment");
			if (c == '\\' && lx->pos < lx->len)
				lx->pos++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} while (depth > 0);
	}
	return MC_OK;
}

/*
 * Reads a quoted string or domain literal that starts at lx->pos (with
 * open) up to close, quoted pairs taken. Control bytes other than tab are
 * refused (CR and LF too: the value is unfolded).
 */
static int
lex_quoted(struct lex *lx, char close, const char *what)
{
	unsigned char c;

	lx->pos++;
	while (lx->pos < lx->len) {
		c = (unsigned char)lx->s[lx->pos++];
		if (c == (unsigned char)close)
			return MC_OK;
		if (c == '\\') {
			if (lx->pos == lx->len)
				break;
			c = (unsigned char)lx->s[lx->pos++];
		}
		if (is_ctl(c) && c != '\t')
			return mc_fail(MC_ERR_DATA, lx->errmsg, "a control "
			    "byte (0x%02x) in %s", c, what);
	}
	return mc_fail(MC_ERR_DATA, lx->errmsg, "%s is not closed", what);
}

/* Reads the token at lx->pos (after white space and comments). */
static int
lex_scan(struct lex *lx, struct tok *t)
{
	size_t start;
	unsigned char c;
	int rc;

	rc = skip_cfws(lx);
	if (rc != MC_OK)
		return rc;
	t->c = '\0';
	start = lx->pos;
	t->p = lx->s + start;
	t->n = 0;
	if (lx->pos == lx->len) {
		t->type = T_END;
		return MC_OK;
	}
	c = (unsigned char)lx->s[lx->pos];
	if (c == '"') {
		rc = lex_quoted(lx, '"', "a quoted string");
		t->type = T_QSTR;
	} else if (c == '[') {
		rc = lex_quoted(lx, ']', "a domain literal [...]");
		t->type = T_DLIT;
	} else if (is_atext(c)) {
		while (lx->pos < lx->len &&
		    is_atext((unsigned char)lx->s[lx->pos]))
			lx->pos++;
		t->type = T_ATOM;
	} else if (c != '\0' && strchr("<>:;@,.", c) != NULL) {
		lx->pos++;
		t->type = T_SPECIAL;
		t->c = (char)c;
	} else if (is_ctl(c)) {
		return mc_fail(MC_ERR_DATA, lx->errmsg, "a control byte "
		    "(0x%02x) in an address", c);
	} else {
		return mc_fail(MC_ERR_DATA, lx->errmsg, "'%c' cannot stand "
		    "there in an address", c);
	}
	if (rc != MC_OK)
		return rc;
	t->n = lx->pos - start;
	return MC_OK;
}

static int
lex_next(struct lex *lx, struct tok *t)
{
	if (lx->have_ahead && lx->ahead_at == lx->pos) {
		*t = lx->ahead;
		lx->pos = lx->ahead_end;
		lx->have_ahead = 0;
		return MC_OK;
	}
	return lex_scan(lx, t);
}

/*
 * The next token, lx->pos left where it is. Every parser step peeks
 * before it takes, so the token is kept for the lex_next() after: each
 * byte of a long address list is read once, not twice.
 */
static int
lex_peek(struct lex *lx, struct tok *t)
{
	struct lex copy;
	int rc;

	if (lx->have_ahead && lx->ahead_at == lx->pos) {
		*t = lx->ahead;
		return MC_OK;
	}
	copy = *lx;
	rc = lex_scan(&copy, t);
	if (rc != MC_OK)
		return rc;
	lx->ahead = *t;
	lx->ahead_at = lx->pos;
	lx->ahead_end = copy.pos;
	lx->have_ahead = 1;
	return MC_OK;
}

static int
is_special(const struct tok *t, char c)
{
	return t->type == T_SPECIAL && t->c == c;
}

static int
is_word(const struct tok *t)
{
	return t->type == T_ATOM || t->type == T_QSTR;
}

/* A growable byte string. */
struct sbuf {
	char *p;
	size_t n, cap;
};

static int
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (n + 1 > b->cap - b->n) {
		cap = b->cap * 2 + 64;
		if (cap < b->n + n + 1)
			cap = b->n + n + 1;
		p = realloc(b->p, cap);
		if (p == NULL)
			return MC_ERR_NOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
	return MC_OK;
}

struct alist {
	char **v;
	size_t n, cap;
};

static int
alist_push(struct alist *a, char *s)
{
	char **v;
	size_t cap;

	if (a->n == a->cap) {
		cap = a->cap * 2 + 8;
		v = realloc(a->v, cap * sizeof(*v));
		if (v == NULL)
			return MC_ERR_NOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = s;
	return MC_OK;
}

/* A short printable copy of s[0..n) for a message. */
static void
snippet(const char *s, size_t n, char *out, size_t size)
{
	size_t i, j = 0;

	for (i = 0; i < n && j + 4 < size; i++)
		out[j++] = is_ctl((unsigned char)s[i]) ? '?' : s[i];
	if (i < n) {
		memcpy(out + j, "...", 3);
		j += 3;
	}
	out[j] = '\0';
}

/*
 * The words and dots from lx->pos on: *nwords words, the bytes they span
 * in *span. Stops before the first other token.
 */
static int
scan_phrase(struct lex *lx, size_t *nwords, int *adjacent, const char **p,
    size_t *span)
{
	struct tok t;
	size_t start = 0, end = 0;
	int rc, prev_word = 0, first = 1;

	*nwords = 0;
	*adjacent = 0;
	for (;;) {
		rc = lex_peek(lx, &t);
		if (rc != MC_OK)
			return rc;
		if (!is_word(&t) && !is_special(&t, '.'))
			break;
		if (first)
			start = (size_t)(t.p - lx->s);
		first = 0;
		if (is_word(&t)) {
			if (prev_word)
				*adjacent = 1;
			(*nwords)++;
		}
		prev_word = is_word(&t);
		lex_next(lx, &t);
		end = lx->pos;
	}
	*p = lx->s + start;
	*span = end - start;
	return MC_OK;
}

/*
 * The domain after '@': a dot-atom (obsolete: CFWS around the dots) or a
 * domain literal, appended to b.
 */
static int
parse_domain(struct lex *lx, struct sbuf *b)
{
	struct tok t;
	int rc;

	rc = lex_next(lx, &t);
	if (rc != MC_OK)
		return rc;
	if (t.type == T_DLIT)
		return b != NULL ? sbuf_add(b, t.p, t.n) : MC_OK;
	if (t.type != T_ATOM)
		return mc_fail(MC_ERR_DATA, lx->errmsg, "no domain after '@'");
	for (;;) {
		if (b != NULL) {
			rc = sbuf_add(b, t.p, t.n);
			if (rc != MC_OK)
				return rc;
		}
		rc = lex_peek(lx, &t);
		if (rc != MC_OK)
			return rc;
		if (!is_special(&t, '.'))
			return MC_OK;
		lex_next(lx, &t);
		if (b != NULL) {
			rc = sbuf_add(b, ".", 1);
			if (rc != MC_OK)
				return rc;
		}
		rc = lex_next(lx, &t);
		if (rc != MC_OK)
			return rc;
		if (t.type != T_ATOM)
			return mc_fail(MC_ERR_DATA, lx->errmsg, "a domain "
			    "ends with a dot or has two dots in a row");
	}
}

/*
 * local-part "@" domain, the local part starting at lx->pos: words joined
 * by dots (obsolete: CFWS around them; empty parts between dots are let
 * through, as real mail has them), then '@' and the domain. Pushes the
 * addr-spec.
 */
static int
parse_addr_spec(struct lex *lx, struct alist *out)
{
	struct sbuf b = { NULL, 0, 0 };
	struct tok t;
	int rc;

	for (;;) {
		rc = lex_peek(lx, &t);
		if (rc != MC_OK)
			goto out;
		if (!is_word(&t) && !is_special(&t, '.'))
			break;
		lex_next(lx, &t);
		rc = sbuf_add(&b, t.p, t.n);
		if (rc != MC_OK)
			goto out;
	}
	if (!is_special(&t, '@')) {
		rc = mc_fail(MC_ERR_DATA, lx->errmsg, "an address has no "
		    "@domain");
		goto out;
	}
	lex_next(lx, &t);
	rc = sbuf_add(&b, "@", 1);
	if (rc != MC_OK)
		goto out;
	rc = parse_domain(lx, &b);
	if (rc != MC_OK)
		goto out;
	rc = alist_push(out, b.p);
	if (rc == MC_OK)
		b.p = NULL;
out:
	free(b.p);
	return rc;
}

/* After '<': [obs-route] addr-spec '>'. */
static int
parse_angle(struct lex *lx, struct alist *out)
{
	struct tok t;
	const char *p;
	size_t nwords, span;
	int rc, adjacent;

	rc = lex_peek(lx, &t);
	if (rc != MC_OK)
		return rc;
	if (is_special(&t, '>'))
		return mc_fail(MC_ERR_DATA, lx->errmsg, "an empty address "
		    "\"<>\"");
	if (is_special(&t, '@') || is_special(&t, ',')) {
		/* obs-route: "@a,@b:" - dropped. */
		for (;;) {
			rc = lex_next(lx, &t);
			if (rc != MC_OK)
				return rc;
			if (is_special(&t, ':'))
				break;
			if (is_special(&t, ','))
				continue;
			if (!is_special(&t, '@'))
				return mc_fail(MC_ERR_DATA, lx->errmsg,
				    "a route in <@...:address> does not end "
				    "with ':'");
			rc = parse_domain(lx, NULL);
			if (rc != MC_OK)
				return rc;
		}
	}
	{
		struct lex at = *lx;

		rc = scan_phrase(lx, &nwords, &adjacent, &p, &span);
		if (rc != MC_OK)
			return rc;
		if (nwords == 0)
			return mc_fail(MC_ERR_DATA, lx->errmsg, "no address "
			    "between '<' and '>'");
		if (adjacent)
			return mc_fail(MC_ERR_DATA, lx->errmsg, "the local "
			    "part of an address in <...> has words not "
			    "joined by dots");
		*lx = at;
	}
	rc = parse_addr_spec(lx, out);
	if (rc != MC_OK)
		return rc;
	rc = lex_next(lx, &t);
	if (rc != MC_OK)
		return rc;
	if (!is_special(&t, '>'))
		return mc_fail(MC_ERR_DATA, lx->errmsg, "'<' without '>'");
	return MC_OK;
}

/* One mailbox, or (not in_group) a group. */
static int
parse_address(struct lex *lx, int in_group, struct alist *out)
{
	struct lex start = *lx;
	struct tok t;
	const char *p;
	size_t nwords, span;
	int rc, adjacent;
	char snip[64];

	rc = scan_phrase(lx, &nwords, &adjacent, &p, &span);
	if (rc != MC_OK)
		return rc;
	rc = lex_peek(lx, &t);
	if (rc != MC_OK)
		return rc;
	if (is_special(&t, '<')) {
		lex_next(lx, &t);
		return parse_angle(lx, out);
	}
	if (is_special(&t, ':')) {
		if (in_group)
			return mc_fail(MC_ERR_DATA, lx->errmsg, "a group "
			    "inside a group");
		if (nwords == 0)
			return mc_fail(MC_ERR_DATA, lx->errmsg, "a group "
			    "has no name before ':'");
		lex_next(lx, &t);
		for (;;) {
			rc = lex_peek(lx, &t);
			if (rc != MC_OK)
				return rc;
			if (t.type == T_END)
				return MC_OK;	/* no ';': let it pass */
			if (is_special(&t, ';')) {
				lex_next(lx, &t);
				return MC_OK;
			}
			if (is_special(&t, ',')) {
				lex_next(lx, &t);
				continue;
			}
			rc = parse_address(lx, 1, out);
			if (rc != MC_OK)
				return rc;
			rc = lex_peek(lx, &t);
			if (rc != MC_OK)
				return rc;
			if (!is_special(&t, ',') && !is_special(&t, ';') &&
			    t.type != T_END)
				return mc_fail(MC_ERR_DATA, lx->errmsg,
				    "addresses must be separated by commas");
		}
	}
	if (is_special(&t, '@')) {
		if (nwords == 0)
			return mc_fail(MC_ERR_DATA, lx->errmsg, "an address "
			    "has nothing before '@'");
		if (adjacent) {
			snippet(p, span, snip, sizeof(snip));
			return mc_fail(MC_ERR_DATA, lx->errmsg, "\"%s\" has "
			    "words not joined by dots before '@' (a display "
			    "name needs the address in <...>)", snip);
		}
		*lx = start;
		return parse_addr_spec(lx, out);
	}
	if (nwords == 0) {
		if (t.type == T_END)
			return mc_fail(MC_ERR_DATA, lx->errmsg, "an address "
			    "is missing");
		return mc_fail(MC_ERR_DATA, lx->errmsg, "'%c' cannot stand "
		    "there in an address list", t.c);
	}
	snippet(p, span, snip, sizeof(snip));
	return mc_fail(MC_ERR_DATA, lx->errmsg, "\"%s\" is not an address: "
	    "it has no @domain", snip);
}

static int
parse_list(const char *value, size_t len, struct alist *out, char **errmsg)
{
	struct lex lx = { .s = value, .len = len, .errmsg = errmsg };
	struct tok t;
	int rc;

	for (;;) {
		rc = lex_peek(&lx, &t);
		if (rc != MC_OK)
			return rc;
		if (t.type == T_END)
			return MC_OK;
		if (is_special(&t, ',')) {
			lex_next(&lx, &t);
			continue;
		}
		rc = parse_address(&lx, 0, out);
		if (rc != MC_OK)
			return rc;
		rc = lex_peek(&lx, &t);
		if (rc != MC_OK)
			return rc;
		if (t.type == T_SPECIAL && t.c != ',' && t.c != ';' &&
		    t.c != '<')
			return mc_fail(MC_ERR_DATA, errmsg, "'%c' cannot stand "
			    "there in an address list", t.c);
		if (t.type != T_END && !is_special(&t, ','))
			return mc_fail(MC_ERR_DATA, errmsg, "addresses must "
			    "be separated by commas");
	}
}

void
mc_msg_addrs_free(char **addrs, size_t n)
{
	size_t i;

	if (addrs == NULL)
		return;
	for (i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
}

int
mc_msg_parse_addresses(const char *value, size_t len, char ***addrs,
    size_t *n, char **errmsg)
{
	struct alist a = { NULL, 0, 0 };
	int rc;

	*addrs = NULL;
	*n = 0;
	rc = parse_list(value, len, &a, errmsg);
	if (rc != MC_OK) {
		mc_msg_addrs_free(a.v, a.n);
		return rc;
	}
	*addrs = a.v;
	*n = a.n;
	return MC_OK;
}

/* Bytes of the local part of an addr-spec from parse_list: up to the '@'
   outside quotes. */
static size_t
local_len(const char *a)
{
	size_t i;
	int q = 0;

	for (i = 0; a[i] != '\0'; i++) {
		if (q && a[i] == '\\' && a[i + 1] != '\0')
			i++;
		else if (a[i] == '"')
			q = !q;
		else if (!q && a[i] == '@')
			return i;
	}
	return i;
}

static uint64_t
addr_hash(const char *a)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i, l = local_len(a);
	unsigned char c;

	for (i = 0; a[i] != '\0'; i++) {
		c = (unsigned char)a[i];
		if (i > l && c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		h = (h ^ c) * 1099511628211ULL;
	}
	return h;
}

static int
addr_same(const char *a, const char *b)
{
	size_t la = local_len(a), lb = local_len(b);

	if (la != lb || memcmp(a, b, la) != 0)
		return 0;
	if (strlen(a + la) != strlen(b + lb))
		return 0;
	return ascii_casecmp_n(a + la, b + lb, (size_t)-1) == 0;
}

/* Drops repeated addresses from a, keeping the first of each. */
static int
dedup(struct alist *a)
{
	size_t size = 16, i, j, k = 0;
	size_t *slot;		/* index + 1 into a->v, 0 empty */

	while (size < a->n * 2)
		size *= 2;
	slot = calloc(size, sizeof(*slot));
	if (slot == NULL)
		return MC_ERR_NOMEM;
	for (i = 0; i < a->n; i++) {
		j = (size_t)(addr_hash(a->v[i]) & (size - 1));
		while (slot[j] != 0 && !addr_same(a->v[slot[j] - 1], a->v[i]))
			j = (j + 1) & (size - 1);
		if (slot[j] != 0) {
			free(a->v[i]);
			continue;
		}
		a->v[k] = a->v[i];
		slot[j] = ++k;
	}
	a->n = k;
	free(slot);
	return MC_OK;
}

int
mc_msg_recipients(const struct mc_msg *m, char ***addrs, size_t *n,
    char **errmsg)
{
	struct alist a = { NULL, 0, 0 };
	const struct field *f;
	const char *v;
	char *why = NULL;
	size_t i;
	int rc = MC_OK;

	*addrs = NULL;
	*n = 0;
	for (i = 0; i < m->nread; i++) {
		f = &m->fields[i];
		if (!name_is(m, f, "To") && !name_is(m, f, "Cc") &&
		    !name_is(m, f, "Bcc"))
			continue;
		v = m->arena + f->value;
		rc = parse_list(v, strlen(v), &a, &why);
		if (rc == MC_ERR_DATA) {
			rc = mc_fail(rc, errmsg, "the %s field on line %zu "
			    "does not parse: %s", m->arena + f->name, f->line,
			    why != NULL ? why : "malformed address list");
			goto out;
		}
		if (rc != MC_OK)
			goto out;
	}
	rc = dedup(&a);
	if (rc != MC_OK)
		goto out;
	*addrs = a.v;
	*n = a.n;
	a.v = NULL;
	a.n = 0;
out:
	free(why);
	mc_msg_addrs_free(a.v, a.n);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Finishing the header */

static const char *const wday[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const month[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* "Tue, 24 Nov 2026 18:29:59 +0100" into buf. */
static int
format_date(time_t now, char *buf, size_t size, char **errmsg)
{
	struct tm tm;
	long off;
	char sign = '+';
	int n;

	if (localtime_r(&now, &tm) == NULL || tm.tm_wday < 0 ||
	    tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
		return mc_fail(MC_ERR_INTERNAL, errmsg, "cannot turn the "
		    "time into a date for the Date field");
	off = tm.tm_gmtoff;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	n = snprintf(buf, size, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
	    wday[tm.tm_wday], tm.tm_mday, month[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
	    off / 3600, (off % 3600) / 60);
	if (n < 0 || (size_t)n >= size)
		return mc_fail(MC_ERR_INTERNAL, errmsg, "the Date field does "
		    "not fit");
	return MC_OK;
}

static int
hostname_ok(const char *h)
{
	size_t i;

	if (h == NULL || h[0] == '\0' || strlen(h) > 253)
		return 0;
	for (i = 0; h[i] != '\0'; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') ||
		    (h[i] >= 'A' && h[i] <= 'Z') ||
		    (h[i] >= '0' && h[i] <= '9') || h[i] == '-' ||
		    h[i] == '.'))
			return 0;
	return 1;
}

/* "<RANDOM@hostname>" into buf. */
static int
format_msgid(const char *hostname, char *buf, size_t size, char **errmsg)
{
	unsigned char raw[18];	/* 144 bits: 24 base64 characters, no '=' */
	char *b64;
	size_t i;
	int n;

	if (mc_crypto_load(errmsg) != MC_OK)
		return MC_ERR_SERVICE;
	if (RAND_bytes(raw, (int)sizeof(raw)) != 1)
		return mc_fail(MC_ERR_INTERNAL, errmsg, "OpenSSL's random "
		    "number generator failed");
	b64 = mc_base64_encode(raw, sizeof(raw));
	if (b64 == NULL)
		return MC_ERR_NOMEM;
	for (i = 0; b64[i] != '\0'; i++) {
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	n = snprintf(buf, size, "<%s@%s>", b64, hostname);
	free(b64);
	if (n < 0 || (size_t)n >= size)
		return mc_fail(MC_ERR_INTERNAL, errmsg, "the Message-ID does "
		    "not fit");
	return MC_OK;
}

/* A field that mc_msg_prepare removes. */
static int
is_bcc(const struct mc_msg *m, const struct field *f)
{
	return name_is(m, f, "Bcc") || name_is(m, f, "Resent-Bcc");
}

/* Does the field's raw text end with a line end? */
static int
ends_with_lf(const struct mc_msg *m, const struct field *f)
{
	return f->raw_len > 0 && m->head[f->raw_off + f->raw_len - 1] == '\n';
}

int
mc_msg_prepare(struct mc_msg *m, const char *hostname, time_t now,
    const char *from, char **errmsg)
{
	char date[64], msgid[300], *head = NULL, *lf;
	const char *eol;
	size_t eol_len, i, j, nkeep = 0, nadd = 0, hlen = 0, *live = NULL;
	size_t off, name_off[3], value_off[3], arena_len = m->arena_len;
	const char *add_name[3], *add_value[3];
	struct field *f;
	size_t fix_len = 0;
	int rc, need_date, need_mid;

	if (!hostname_ok(hostname))
		return mc_fail(MC_ERR_INTERNAL, errmsg, "the host name for "
		    "the Message-ID is empty or holds characters other than "
		    "letters, digits, '-' and '.'");
	if (from != NULL && (from[0] == '\0' || strpbrk(from, "\r\n") != NULL))
		return mc_fail(MC_ERR_DATA, errmsg, "a From value must be one "
		    "line");
	if (from != NULL && mc_msg_find(m, "From", 0) == m->nlive) {
		add_name[nadd] = "From";
		add_value[nadd++] = from;
	}
	need_date = mc_msg_find(m, "Date", 0) == m->nlive;
	need_mid = mc_msg_find(m, "Message-ID", 0) == m->nlive;
	if (need_date) {
		rc = format_date(now, date, sizeof(date), errmsg);
		if (rc != MC_OK)
			return rc;
		add_name[nadd] = "Date";
		add_value[nadd++] = date;
	}
	if (need_mid) {
		rc = format_msgid(hostname, msgid, sizeof(msgid), errmsg);
		if (rc != MC_OK)
			return rc;
		add_name[nadd] = "Message-ID";
		add_value[nadd++] = msgid;
	}
	for (i = 0; i < m->nlive; i++) {
		f = &m->fields[m->live[i]];
		if (!is_bcc(m, f))
			nkeep++;
	}
	if (nkeep == m->nlive && nadd == 0)
		return MC_OK;

	/* The line end of the first line. */
	lf = memchr(m->head, '\n', m->head_len);
	if (lf != NULL && lf > m->head && lf[-1] == '\r') {
		eol = "\r\n";
		eol_len = 2;
	} else {
		eol = "\n";
		eol_len = 1;
	}

	/* Everything that can fail first; m changes only at the end. */
	rc = grow_fields(m, m->nfields + nadd);
	if (rc != MC_OK)
		goto out;
	live = malloc((nkeep + nadd + 1) * sizeof(*live));
	if (live == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	for (j = 0; j < nadd; j++) {
		name_off[j] = arena_add(m, add_name[j], strlen(add_name[j]));
		value_off[j] = arena_add(m, add_value[j],
		    strlen(add_value[j]));
		if (name_off[j] == (size_t)-1 || value_off[j] == (size_t)-1) {
			rc = MC_ERR_NOMEM;
			goto out;
		}
	}
	hlen = m->head_len + eol_len;
	for (j = 0; j < nadd; j++)
		hlen += strlen(add_name[j]) + 2 + strlen(add_value[j]) +
		    eol_len;
	head = malloc(hlen);
	if (head == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}

	/* Build the new header section. */
	off = 0;
	nkeep = 0;
	for (i = 0; i < m->nlive; i++) {
		f = &m->fields[m->live[i]];
		if (is_bcc(m, f))
			continue;
		memcpy(head + off, m->head + f->raw_off, f->raw_len);
		live[nkeep++] = m->live[i];
		off += f->raw_len;
	}
	if (nadd > 0 && nkeep > 0 &&
	    !ends_with_lf(m, &m->fields[live[nkeep - 1]])) {
		/* The last line ended at end of file; a CR there was taken
		   as its line end and gets its LF. */
		if (head[off - 1] == '\r')
			fix_len = 1;
		else
			fix_len = eol_len;
		memcpy(head + off, eol + eol_len - fix_len, fix_len);
		off += fix_len;
	}
	for (j = 0; j < nadd; j++) {
		size_t start = off, nl = strlen(add_name[j]);
		size_t vl = strlen(add_value[j]);

		memcpy(head + off, add_name[j], nl);
		off += nl;
		memcpy(head + off, ": ", 2);
		off += 2;
		memcpy(head + off, add_value[j], vl);
		off += vl;
		memcpy(head + off, eol, eol_len);
		off += eol_len;
		f = &m->fields[m->nfields + j];
		f->name = name_off[j];
		f->value = value_off[j];
		f->raw_off = start;
		f->raw_len = off - start;
		f->line = 0;
		f->removed = 0;
		live[nkeep + j] = m->nfields + j;
	}
	memcpy(head + off, m->head + m->head_len - m->blank_len,
	    m->blank_len);
	off += m->blank_len;

	/* Commit. */
	for (i = 0; i < m->nlive; i++) {
		f = &m->fields[m->live[i]];
		if (is_bcc(m, f))
			f->removed = 1;
	}
	{
		size_t pos = 0;

		for (i = 0; i < nkeep; i++) {
			f = &m->fields[live[i]];
			f->raw_off = pos;
			if (i == nkeep - 1)
				f->raw_len += fix_len;
			pos += f->raw_len;
		}
	}
	if (m->head != m->raw)
		free(m->head);
	m->head = head;
	m->head_len = off;
	head = NULL;
	free(m->live);
	m->live = live;
	live = NULL;
	m->nfields += nadd;
	m->nlive = nkeep + nadd;
	rc = MC_OK;
out:
	if (rc != MC_OK)
		m->arena_len = arena_len;
	free(head);
	free(live);
	if (rc == MC_ERR_NOMEM)
		mc_fail(rc, errmsg, "out of memory finishing the message "
		    "header");
	return rc;
}

/* ------------------------------------------------------------------ */
/* Envelope addresses */

int
mc_msg_addr_ok(const char *addr)
{
	const unsigned char *p;
	int quoted = 0;

	if (addr == NULL || addr[0] == '\0')
		return 0;
	for (p = (const unsigned char *)addr; *p != '\0'; p++) {
		if (is_ctl(*p) || *p == '<' || *p == '>')
			return 0;
		if (quoted) {
			if (*p == '\\') {
				if (p[1] == '\0' || is_ctl(p[1]) ||
				    p[1] == '<' || p[1] == '>')
					return 0;
				p++;
			} else if (*p == '"') {
				quoted = 0;
			}
		} else if (*p == '"') {
			quoted = 1;
		} else if (*p == ' ') {
			return 0;
		}
	}
	return !quoted;
}

int
mc_msg_addr_is_ascii(const char *addr)
{
	for (; *addr != '\0'; addr++)
		if ((unsigned char)*addr >= 0x80)
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* The DATA encoder */

enum { ENC_BOL = 0, ENC_MID = 1, ENC_CR = 2 };

size_t
mc_data_encode(struct mc_data_enc *e, const char *in, size_t len, char *out)
{
	size_t i, o = 0;
	char c;

	for (i = 0; i < len; i++) {
		c = in[i];
		if (c == '\0' && !e->nul) {
			e->nul = 1;
			e->nul_offset = e->fed + i;
		}
		if (e->state == ENC_CR) {
			/*
			 * CRLF, and a bare CR too, ends the line: RFC 5321
			 * allows CR only in CRLF, and a bare CR before a dot
			 * must not let "\r.\r\n" end the data for a server
			 * that reads it as a line end (SMTP smuggling).
			 */
			out[o++] = '\r';
			out[o++] = '\n';
			e->state = ENC_BOL;
			if (c == '\n')
				continue;
		}
		if (c == '\r') {
			e->state = ENC_CR;
		} else if (c == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			e->state = ENC_BOL;
		} else {
			if (c == '.' && e->state == ENC_BOL)
				out[o++] = '.';
			out[o++] = c;
			e->state = ENC_MID;
		}
	}
	e->fed += len;
	return o;
}

size_t
mc_data_finish(struct mc_data_enc *e, char *out)
{
	size_t o = 0;

	if (e->state == ENC_CR || e->state == ENC_MID) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	o += 3;
	e->state = ENC_BOL;
	return o;
}
