/*
 * Unit tests: auth/message - the header section of `mailcred send`'s
 * message, its addresses, Bcc removal, Date and Message-ID, and the DATA
 * encoder in every chunking.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/err.h"
#include "auth/message.h"

/* ------------------------------------------------------------------ */
/* Helpers */

static struct mc_msg *
parse_ok(const char *text, size_t len)
{
	struct mc_msg *m = NULL;
	char *err = NULL;
	int rc;

	rc = mc_msg_parse_head(text, len, &m, &err);
	if (rc != MC_OK)
		fail_msg("parse failed (%d): %s", rc, err ? err : "(none)");
	assert_non_null(m);
	assert_null(err);
	return m;
}

#define PARSE(lit) parse_ok(lit, sizeof(lit) - 1)

static void
parse_bad(const char *text, size_t len, const char *want)
{
	struct mc_msg *m = (struct mc_msg *)1;
	char *err = NULL;

	assert_int_equal(mc_msg_parse_head(text, len, &m, &err), MC_ERR_DATA);
	assert_null(m);
	assert_non_null(err);
	if (strstr(err, want) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err, want);
	free(err);
}

#define PARSE_BAD(lit, want) parse_bad(lit, sizeof(lit) - 1, want)

static void
head_is(const struct mc_msg *m, const char *want, size_t wantlen)
{
	size_t len;
	const char *h = mc_msg_head(m, &len);

	if (len != wantlen || memcmp(h, want, len) != 0)
		fail_msg("head is \"%.*s\" (%zu bytes), wanted \"%.*s\"",
		    (int)len, h, len, (int)wantlen, want);
}

#define HEAD_IS(m, lit) head_is(m, lit, sizeof(lit) - 1)

static void
body_is(const struct mc_msg *m, const char *want, size_t wantlen)
{
	size_t len;
	const char *b = mc_msg_body_prefix(m, &len);

	assert_int_equal(len, wantlen);
	assert_memory_equal(b, want, len);
}

#define BODY_IS(m, lit) body_is(m, lit, sizeof(lit) - 1)

/* Addresses: want is a NULL-terminated list. */
static void
addrs_are(char **got, size_t n, const char *const *want)
{
	size_t i;

	for (i = 0; want[i] != NULL; i++) {
		if (i >= n)
			fail_msg("only %zu addresses, wanted %s next", n,
			    want[i]);
		assert_string_equal(got[i], want[i]);
	}
	assert_int_equal(n, i);
}

static const char hostname[] = "host.example";

/* ------------------------------------------------------------------ */
/* The header section */

static void
test_lf_message(void **state)
{
	struct mc_msg *m;
	size_t len;

	(void)state;
	m = PARSE("From: a@example.com\nTo: b@example.org\nSubject: hi\n\n"
	    "Body\n.line\n");
	assert_int_equal(mc_msg_nfields(m), 3);
	assert_string_equal(mc_msg_field_name(m, 0), "From");
	assert_string_equal(mc_msg_field_value(m, 0), "a@example.com");
	assert_string_equal(mc_msg_field_name(m, 2), "Subject");
	assert_string_equal(mc_msg_field_value(m, 2), "hi");
	assert_memory_equal(mc_msg_field_raw(m, 1, &len), "To: b@example.org\n",
	    18);
	assert_int_equal(len, 18);
	HEAD_IS(m, "From: a@example.com\nTo: b@example.org\nSubject: hi\n\n");
	BODY_IS(m, "Body\n.line\n");
	assert_int_equal(mc_msg_is_8bit_head(m), 0);
	mc_msg_free(m);
}

static void
test_crlf_message(void **state)
{
	struct mc_msg *m;
	size_t len;

	(void)state;
	m = PARSE("From: a@example.com\r\nTo: b@example.org\r\n\r\n"
	    "Body\r\n");
	assert_int_equal(mc_msg_nfields(m), 2);
	assert_string_equal(mc_msg_field_value(m, 1), "b@example.org");
	assert_memory_equal(mc_msg_field_raw(m, 1, &len),
	    "To: b@example.org\r\n", 19);
	assert_int_equal(len, 19);
	HEAD_IS(m, "From: a@example.com\r\nTo: b@example.org\r\n\r\n");
	BODY_IS(m, "Body\r\n");
	mc_msg_free(m);

	/* Mixed line ends are taken as they come. */
	m = PARSE("A: 1\r\nB: 2\n\r\nbody");
	assert_int_equal(mc_msg_nfields(m), 2);
	HEAD_IS(m, "A: 1\r\nB: 2\n\r\n");
	BODY_IS(m, "body");
	mc_msg_free(m);
}

static void
test_no_body(void **state)
{
	struct mc_msg *m;
	size_t len;

	(void)state;
	/* Header lines, then end of file: no empty line, no body. */
	m = PARSE("From: a@example.com\nSubject: s\n");
	assert_int_equal(mc_msg_nfields(m), 2);
	HEAD_IS(m, "From: a@example.com\nSubject: s\n");
	BODY_IS(m, "");
	mc_msg_free(m);

	/* The last line without its line end. */
	m = PARSE("From: a@example.com\r\nSubject: s");
	assert_string_equal(mc_msg_field_value(m, 1), "s");
	assert_memory_equal(mc_msg_field_raw(m, 1, &len), "Subject: s", 10);
	assert_int_equal(len, 10);
	HEAD_IS(m, "From: a@example.com\r\nSubject: s");
	mc_msg_free(m);

	/* The empty line, then nothing. */
	m = PARSE("Subject: s\n\n");
	HEAD_IS(m, "Subject: s\n\n");
	BODY_IS(m, "");
	mc_msg_free(m);

	/* No header at all: the body starts at once. */
	m = PARSE("\nJust a body\n");
	assert_int_equal(mc_msg_nfields(m), 0);
	HEAD_IS(m, "\n");
	BODY_IS(m, "Just a body\n");
	mc_msg_free(m);
}

static void
test_folding(void **state)
{
	struct mc_msg *m;
	size_t len;
	const char raw[] = "Subject: a\n  b\n\tc  \n";

	(void)state;
	m = PARSE("Subject: a\n  b\n\tc  \nTo: x@example.com,\r\n y@example.com"
	    "\r\nX-Empty:\nX-Blank:   \n\nbody");
	assert_int_equal(mc_msg_nfields(m), 4);
	/* RFC 5322 2.2.3: the line breaks go, the white space stays. */
	assert_string_equal(mc_msg_field_value(m, 0), "a  b\tc");
	assert_memory_equal(mc_msg_field_raw(m, 0, &len), raw,
	    sizeof(raw) - 1);
	assert_int_equal(len, sizeof(raw) - 1);
	assert_string_equal(mc_msg_field_value(m, 1),
	    "x@example.com, y@example.com");
	assert_string_equal(mc_msg_field_value(m, 2), "");
	assert_string_equal(mc_msg_field_value(m, 3), "");
	mc_msg_free(m);

	/* A line of white space only continues the field. */
	m = PARSE("Subject: a\n \nFrom: f@x\n\nbody");
	assert_int_equal(mc_msg_nfields(m), 2);
	assert_string_equal(mc_msg_field_value(m, 0), "a");
	BODY_IS(m, "body");
	mc_msg_free(m);
}

static void
test_find(void **state)
{
	struct mc_msg *m;
	size_t i, n, count = 0;

	(void)state;
	m = PARSE("to: a@x\nSubject : obsolete space\nTO: b@x\nX-To: c@x\n"
	    "To: d@x\n\n");
	n = mc_msg_nfields(m);
	assert_int_equal(n, 5);
	for (i = mc_msg_find(m, "To", 0); i < n; i = mc_msg_find(m, "To",
	    i + 1)) {
		assert_true(i == 0 || i == 2 || i == 4);
		count++;
	}
	assert_int_equal(count, 3);
	assert_string_equal(mc_msg_get(m, "tO"), "a@x");
	/* "Subject :" (RFC 5322 4.5): the name without the space. */
	assert_string_equal(mc_msg_field_name(m, 1), "Subject");
	assert_string_equal(mc_msg_get(m, "subject"), "obsolete space");
	assert_null(mc_msg_get(m, "Cc"));
	assert_int_equal(mc_msg_find(m, "Cc", 0), n);
	mc_msg_free(m);
}

static void
test_head_errors(void **state)
{
	(void)state;
	PARSE_BAD("", "the message is empty");
	/* The body starts without an empty line before it. */
	PARSE_BAD("From: a@example.com\nHello world, how are you?\n",
	    "line 2 of the message is neither a header field");
	PARSE_BAD("From: a@example.com\nHello world", "line 2");
	PARSE_BAD("From: a@example.com\nHello world",
	    "no empty line between header and body");
	PARSE_BAD("Hi Bob,\n\nsee you.\n", "line 1 of the message");
	/* An mbox "From " line is dropped; a fold right after it is not. */
	PARSE_BAD("From a@example.com Tue Nov 24 18:29:59 2026\n folded\n\n",
	    "line 2 of the message starts with white space");
	PARSE_BAD("From: a@example.com\nSubject: a\rBcc: b@x\n\n",
	    "line 2 of the header holds a CR");
	PARSE_BAD("Subject: a\r\r\nTo: b@x\n\n", "line 1 of the header holds a CR");
	PARSE_BAD(": no name\n\n", "line 1");
	PARSE_BAD("To: a@x\nX\x01Y: z\n\n", "line 2");
	/* A continuation as the very first line. */
	PARSE_BAD(" folded: x\nTo: a@x\n\n", "line 1 of the message starts "
	    "with white space");
	/* NUL in the header, but not in the body (the encoder sees it). */
	PARSE_BAD("To: a@x\nSubject: a\0b\n\nbody", "line 2 of the header "
	    "holds a NUL byte");
	PARSE_BAD("To: a@x\nSubject: a\n \0\n\nbody", "line 3 of the header "
	    "holds a NUL byte");
	mc_msg_free(PARSE("To: a@x\n\nbo\0dy"));
}

static void
test_line_limit(void **state)
{
	char buf[3000];
	struct mc_msg *m;
	size_t n;

	(void)state;
	/* 998 bytes without the line end: the most RFC 5322 allows. */
	memcpy(buf, "To: a@x\nSubject: ", 17);
	memset(buf + 17, 'x', 998 - 9);
	n = 17 + 998 - 9;
	memcpy(buf + n, "\r\n\r\n", 4);
	m = parse_ok(buf, n + 4);
	assert_int_equal(strlen(mc_msg_get(m, "Subject")), 998 - 9);
	mc_msg_free(m);

	/* One more is refused, with the line named. */
	memset(buf + 17, 'x', 998 - 8);
	n = 17 + 998 - 8;
	memcpy(buf + n, "\n\n", 2);
	parse_bad(buf, n + 2, "line 2 of the header is longer than 998 bytes");
	/* Also when the line is the last, with no line end. */
	parse_bad(buf, n, "line 2 of the header is longer than 998 bytes");

	/* A long continuation line counts as a line of its own. */
	memcpy(buf, "Subject: a\n ", 12);
	memset(buf + 12, 'x', 1200);
	memcpy(buf + 1212, "\n\n", 2);
	parse_bad(buf, 1214, "line 2 of the header is longer");

	/* Body lines are not limited. */
	memcpy(buf, "To: a@x\n\n", 9);
	memset(buf + 9, 'b', 2500);
	m = parse_ok(buf, 2509);
	mc_msg_free(m);
}

/* A header section of exactly size bytes with its empty line. */
static char *
big_head(size_t size, size_t *len)
{
	char *buf = malloc(size + 16);
	size_t off = 0, line, left;

	assert_non_null(buf);
	while (off < size - 1) {
		/* Lines of 100 bytes; the last 100..199 in two halves. */
		left = size - 1 - off;
		line = left >= 200 ? 100 : left < 100 ? left : left / 2;
		memcpy(buf + off, "X-A: ", 5);
		memset(buf + off + 5, 'a', line - 6);
		buf[off + line - 1] = '\n';
		off += line;
	}
	buf[off++] = '\n';
	memcpy(buf + off, "body", 4);
	*len = off + 4;
	assert_int_equal(off, size);
	return buf;
}

static void
test_head_limit(void **state)
{
	struct mc_msg *m;
	char *buf;
	size_t len, hl;

	(void)state;
	buf = big_head(MC_MSG_MAX_HEAD, &len);
	m = parse_ok(buf, len);
	mc_msg_head(m, &hl);
	assert_int_equal(hl, MC_MSG_MAX_HEAD);
	BODY_IS(m, "body");
	mc_msg_free(m);
	free(buf);

	buf = big_head(MC_MSG_MAX_HEAD + 1, &len);
	parse_bad(buf, len, "larger than 1 MiB");
	free(buf);

	/* Without an empty line: 1 MiB of header lines, then end of file,
	   is taken; one byte more is not. */
	buf = big_head(MC_MSG_MAX_HEAD + 1, &len);
	m = parse_ok(buf, len - 5);
	mc_msg_head(m, &hl);
	assert_int_equal(hl, MC_MSG_MAX_HEAD);
	mc_msg_free(m);
	free(buf);
	buf = big_head(MC_MSG_MAX_HEAD + 2, &len);
	parse_bad(buf, len - 5, "larger than 1 MiB");
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Reading from a file descriptor */

static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/*
 * A child writes len bytes of text into a pipe in pieces of step bytes,
 * after a pause (so that reads are interrupted by the parent's timer).
 * Returns the read end; *pid the child.
 */
static int
writer(const char *text, size_t len, size_t step, pid_t *pid)
{
	int fds[2];
	size_t off = 0, n;
	ssize_t w;

	assert_int_equal(pipe(fds), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		close(fds[0]);
		signal(SIGPIPE, SIG_IGN);
		usleep(30000);
		while (off < len) {
			/* Pauses in the first bytes: short reads. */
			n = len - off < step ? len - off : step;
			w = write(fds[1], text + off, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				_exit(1);
			off += (size_t)w;
			if (step < 64 && off < 256)
				usleep(2000);
		}
		_exit(0);
	}
	close(fds[1]);
	return fds[0];
}

static void
reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

static void
test_read_head_fd(void **state)
{
	static const char head[] = "From: a@example.com\r\nTo: b@example.org,"
	    "\r\n c@example.org\r\nSubject: big\r\n\r\n";
	struct sigaction sa, old;
	struct itimerval it, off;
	struct mc_msg *m = NULL;
	char *text, *rest, *err = NULL;
	size_t blen = 300000, len, plen, got;
	const char *prefix;
	ssize_t r;
	pid_t pid;
	int fd;

	(void)state;
	len = sizeof(head) - 1 + blen;
	text = malloc(len);
	rest = malloc(blen);
	assert_non_null(text);
	assert_non_null(rest);
	memcpy(text, head, sizeof(head) - 1);
	for (got = 0; got < blen; got++)
		text[sizeof(head) - 1 + got] = got % 77 == 76 ? '\n' :
		    (char)('a' + got % 26);

	/* Short reads (7 bytes at a time) and EINTR (a 1 ms timer). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: read(2) gets EINTR */
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_usec = 1000;
	it.it_value.tv_usec = 1000;
	memset(&off, 0, sizeof(off));
	alarms = 0;
	fd = writer(text, len, 7, &pid);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	assert_int_equal(mc_msg_read_head(fd, &m, &err), MC_OK);
	assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
	assert_true(alarms > 0);
	assert_null(err);
	head_is(m, head, sizeof(head) - 1);
	assert_string_equal(mc_msg_get(m, "To"),
	    "b@example.org, c@example.org");
	/* The body prefix, then the rest of the fd, is the whole body. */
	prefix = mc_msg_body_prefix(m, &plen);
	assert_true(plen <= 65536);
	memcpy(rest, prefix, plen);
	got = plen;
	while (got < blen) {
		r = read(fd, rest + got, blen - got);
		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r > 0);
		got += (size_t)r;
	}
	assert_int_equal(read(fd, rest, 1), 0);
	assert_memory_equal(rest, text + sizeof(head) - 1, blen);
	mc_msg_free(m);
	close(fd);
	reap(pid);
	assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);

	/* In large writes, the body prefix is at most one read. */
	fd = writer(text, len, len, &pid);
	assert_int_equal(mc_msg_read_head(fd, &m, &err), MC_OK);
	head_is(m, head, sizeof(head) - 1);
	mc_msg_body_prefix(m, &plen);
	assert_true(plen <= 65536);
	mc_msg_free(m);
	close(fd);
	reap(pid);

	free(text);
	free(rest);
}

static void
test_read_head_byte_by_byte(void **state)
{
	static const char text[] = "To: a@x\r\n\r\n.body\r\n";
	struct mc_msg *m = NULL;
	char *err = NULL;
	pid_t pid;
	int fd;

	(void)state;
	/* Reads that end between CR and LF (of a field line and of the
	   empty line) wait for the LF. */
	fd = writer(text, sizeof(text) - 1, 1, &pid);
	assert_int_equal(mc_msg_read_head(fd, &m, &err), MC_OK);
	assert_null(err);
	HEAD_IS(m, "To: a@x\r\n\r\n");
	assert_string_equal(mc_msg_get(m, "To"), "a@x");
	mc_msg_free(m);
	close(fd);
	reap(pid);
}

static void
test_read_head_errors(void **state)
{
	struct mc_msg *m = NULL;
	char *err = NULL, *big;
	size_t i, len = 3 * 1024 * 1024 / 10 * 10;
	pid_t pid;
	int fd;

	(void)state;
	/* End of file at once. */
	fd = writer("", 0, 1, &pid);
	assert_int_equal(mc_msg_read_head(fd, &m, &err), MC_ERR_DATA);
	assert_null(m);
	assert_string_equal(err, "the message is empty");
	free(err);
	err = NULL;
	close(fd);
	reap(pid);

	/* A body with no header: refused after the first line. */
	fd = writer("Hello\nworld\n", 12, 3, &pid);
	assert_int_equal(mc_msg_read_head(fd, &m, &err), MC_ERR_DATA);
	assert_non_null(strstr(err, "line 1 of the message"));
	free(err);
	err = NULL;
	close(fd);
	reap(pid);

	/* 3 MiB of header lines: refused without reading them all. */
	big = malloc(len);
	assert_non_null(big);
	for (i = 0; i < len; i += 10)
		memcpy(big + i, "X-Y: abcd\n", 10);
	fd = writer(big, len, len, &pid);
	assert_int_equal(mc_msg_read_head(fd, &m, &err), MC_ERR_DATA);
	assert_non_null(strstr(err, "larger than 1 MiB"));
	free(err);
	err = NULL;
	close(fd);
	reap(pid);
	free(big);

	/* A file descriptor that cannot be read. */
	assert_int_equal(mc_msg_read_head(-1, &m, &err), MC_ERR_IO);
	assert_null(m);
	assert_non_null(strstr(err, "cannot read the message"));
	free(err);
}

/* ------------------------------------------------------------------ */
/* Addresses */

static void
expect_addrs(const char *value, const char *const *want)
{
	char **a = NULL, *err = NULL;
	size_t n = 0;
	int rc;

	rc = mc_msg_parse_addresses(value, strlen(value), &a, &n, &err);
	if (rc != MC_OK)
		fail_msg("\"%s\" did not parse: %s", value, err);
	addrs_are(a, n, want);
	mc_msg_addrs_free(a, n);
}

#define ADDRS(value, ...) do { \
	static const char *const want_[] = { __VA_ARGS__ }; \
	expect_addrs(value, want_); \
} while (0)

static void
test_addresses(void **state)
{
	(void)state;
	ADDRS("jane@example.com", "jane@example.com", NULL);
	ADDRS("\"Doe, John\" <john@example.com>, jane@example.com (Jane)",
	    "john@example.com", "jane@example.com", NULL);
	ADDRS("John Q. Public <jqp@example.com>", "jqp@example.com", NULL);
	ADDRS("=?UTF-8?B?Sm9zw6k=?= <j@example.com>", "j@example.com", NULL);
	ADDRS("", NULL);
	ADDRS("   ", NULL);
	ADDRS(",, a@x.example ,, b@y.example,", "a@x.example", "b@y.example",
	    NULL);
	/* RFC 5322 appendix A. */
	ADDRS("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
	    "mary@x.test", "jdoe@example.org", "one@y.test", NULL);
	ADDRS("<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" "
	    "<sysservices@example.net>", "boss@nil.test",
	    "sysservices@example.net", NULL);
	ADDRS("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
	    "c@a.test", "joe@where.test", "jdoe@one.test", NULL);
	ADDRS("Undisclosed recipients:;", NULL);
	ADDRS("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
	    "pete@silly.test", NULL);
	ADDRS("A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)"
	    "public.example>,\r\n         joe@example.org,\r\n  John "
	    "<jdoe@one.test> (my dear friend); (the end of the group)",
	    "c@public.example", "joe@example.org", "jdoe@one.test", NULL);
	ADDRS("(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;",
	    NULL);
	/* Groups among mailboxes; the empty group; a group left open. */
	ADDRS("Undisclosed: a@x.example, b@y.example;", "a@x.example",
	    "b@y.example", NULL);
	ADDRS("undisclosed-recipients:;", NULL);
	ADDRS("undisclosed-recipients:", NULL);
	ADDRS("first@x.example, Friends: a@x.example, \"B, b\" <b@y.example>;,"
	    " c@z.example", "first@x.example", "a@x.example", "b@y.example",
	    "c@z.example", NULL);
	/* Comments: nested, with quoted pairs, anywhere. */
	ADDRS("(outer (nested \\) paren) more) john(c1)@(c2)example.com(c3)",
	    "john@example.com", NULL);
	ADDRS("John (the \\(\"man\"\\)) Doe <john@example.com>",
	    "john@example.com", NULL);
	ADDRS("a@x.example (Comma, inside), b@y.example", "a@x.example",
	    "b@y.example", NULL);
	/* Obsolete route, obsolete white space around dots. */
	ADDRS("<@relay.example,@r2.example:joe@example.com>",
	    "joe@example.com", NULL);
	ADDRS("Joe <@relay.example:joe@example.com>", "joe@example.com",
	    NULL);
	ADDRS("john . doe @ example . com", "john.doe@example.com", NULL);
	/* Quoted local parts kept as written. */
	ADDRS("\"john doe\"@example.com", "\"john doe\"@example.com", NULL);
	ADDRS("J <\"john \\\"q\\\" doe\"@example.com>",
	    "\"john \\\"q\\\" doe\"@example.com", NULL);
	ADDRS("\"a@b\"@example.com", "\"a@b\"@example.com", NULL);
	/* Real mail: dots a strict parser refuses. */
	ADDRS("john..doe.@docomo.example", "john..doe.@docomo.example", NULL);
	/* RFC 6532 UTF-8, kept as bytes. */
	ADDRS("Jos\xc3\xa9 <jos\xc3\xa9@ex\xc3\xa4mple.com>",
	    "jos\xc3\xa9@ex\xc3\xa4mple.com", NULL);
	ADDRS("\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
	    "\xe5\x91\x8a", "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
	    "\xe5\xb9\xbf\xe5\x91\x8a", NULL);
	/* Domain literals. */
	ADDRS("user@[127.0.0.1]", "user@[127.0.0.1]", NULL);
	ADDRS("Loop <user@[IPv6:::1]>", "user@[IPv6:::1]", NULL);
	ADDRS("user@EXAMPLE.com", "user@EXAMPLE.com", NULL);
}

static void
expect_bad_addrs(const char *value, size_t len, const char *want)
{
	char **a = (char **)1, *err = NULL;
	size_t n = 5;

	assert_int_equal(mc_msg_parse_addresses(value, len, &a, &n, &err),
	    MC_ERR_DATA);
	assert_null(a);
	assert_int_equal(n, 0);
	assert_non_null(err);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", value, err,
		    want);
	free(err);
}

#define BAD_ADDRS(lit, want) expect_bad_addrs(lit, sizeof(lit) - 1, want)

static void
test_bad_addresses(void **state)
{
	(void)state;
	BAD_ADDRS("\"unterminated@example.com", "quoted string is not closed");
	BAD_ADDRS("(comment a@example.com", "comment \"(...)\" is not closed");
	BAD_ADDRS("a@example.com (a (b)", "is not closed");
	BAD_ADDRS("john", "\"john\" is not an address: it has no @domain");
	BAD_ADDRS("John Doe", "it has no @domain");
	BAD_ADDRS("John Doe john@example.com", "words not joined by dots");
	BAD_ADDRS("<john@example.com", "'<' without '>'");
	BAD_ADDRS("John <john>", "no @domain");
	BAD_ADDRS("a@", "no domain after '@'");
	BAD_ADDRS("@example.com", "nothing before '@'");
	BAD_ADDRS("a@x.example b@y.example", "separated by commas");
	BAD_ADDRS("a@x.example; b@y.example", "separated by commas");
	BAD_ADDRS("G: a@x.example b@y.example;", "separated by commas");
	BAD_ADDRS("user@[1.2.3.4", "domain literal [...] is not closed");
	BAD_ADDRS("a@example.com.", "domain ends with a dot");
	BAD_ADDRS("a@example..com", "two dots in a row");
	BAD_ADDRS("G: H: a@x.example;;", "a group inside a group");
	BAD_ADDRS(": a@x.example;", "no name before ':'");
	BAD_ADDRS("<>", "empty address");
	BAD_ADDRS("Joe <>", "empty address");
	BAD_ADDRS("< >", "empty address");
	BAD_ADDRS("a\x01" "b@example.com", "control byte (0x01)");
	BAD_ADDRS("\"a\rb\"@example.com", "control byte (0x0d)");
	BAD_ADDRS("a@x\0.example", "control byte (0x00)");
	BAD_ADDRS("a@example.com>", "'>' cannot stand there");
	BAD_ADDRS("a\\b@example.com", "'\\' cannot stand there");
	BAD_ADDRS("<@relay.example joe@example.com>", "does not end with ':'");
	BAD_ADDRS("<a@x.example> <b@y.example>", "separated by commas");
}

/* ------------------------------------------------------------------ */
/* Recipients and From */

static const char rcpt_msg[] =
    "From: \"Sender, The\" <sender@example.com>\r\n"
    "Bcc: hidden@example.com\r\n"
    "To: Ann <ann@example.com>,\r\n"
    "  \"Doe, Bob\" <bob@example.org>,\r\n"
    "\tcarol@example.net\r\n"
    "Resent-To: resent@example.com\r\n"
    "Cc: dave@example.com, ann@EXAMPLE.COM, Ann@example.com\r\n"
    "Subject: To: not@this.example\r\n"
    "BCC: secret@example.com,\r\n"
    " (folded) hidden@EXAMPLE.com\r\n"
    "Resent-Bcc: rb@example.com\r\n"
    "to: undisclosed-recipients:;, erin@example.com\r\n"
    "Date: Tue, 24 Nov 2026 18:29:59 +0100\r\n"
    "Message-ID: <given@example.com>\r\n"
    "\r\n"
    "Bcc: body@example.com\r\n";

static void
test_recipients(void **state)
{
	static const char *const want[] = {
		"hidden@example.com", "ann@example.com", "bob@example.org",
		"carol@example.net", "dave@example.com", "Ann@example.com",
		"secret@example.com", "erin@example.com", NULL
	};
	struct mc_msg *m;
	char **a = NULL, *err = NULL;
	size_t n = 0;

	(void)state;
	m = PARSE(rcpt_msg);
	assert_int_equal(mc_msg_recipients(m, &a, &n, &err), MC_OK);
	/* Header order, each once: ann@EXAMPLE.COM and hidden@EXAMPLE.com
	   differ only in their domain's case, Ann@example.com in its local
	   part. */
	addrs_are(a, n, want);
	mc_msg_addrs_free(a, n);
	assert_string_equal(mc_msg_from(m), "sender@example.com");

	/* The same after the Bcc fields are gone from the header. */
	assert_int_equal(mc_msg_prepare(m, hostname, 0, NULL, &err), MC_OK);
	assert_null(mc_msg_get(m, "Bcc"));
	assert_int_equal(mc_msg_recipients(m, &a, &n, &err), MC_OK);
	addrs_are(a, n, want);
	mc_msg_addrs_free(a, n);
	assert_null(err);
	mc_msg_free(m);
}

static void
test_recipients_dedup_many(void **state)
{
	char *buf, **a = NULL, *err = NULL;
	size_t off, i, n = 0, count = 20000;
	struct mc_msg *m;
	int w;

	(void)state;
	/* Many recipients, each twice: the duplicates go, fast. */
	buf = malloc(count * 2 * 40 + 64);
	assert_non_null(buf);
	off = 0;
	for (i = 0; i < count * 2; i++) {
		/* The second time with the domain in lower case. */
		w = snprintf(buf + off, 40, "To: u%zu@%c%zu.example\n",
		    i % count, i < count ? 'D' : 'd', i % count % 7);
		off += (size_t)w;
	}
	memcpy(buf + off, "\n", 1);
	m = parse_ok(buf, off + 1);
	assert_int_equal(mc_msg_recipients(m, &a, &n, &err), MC_OK);
	assert_int_equal(n, count);
	assert_string_equal(a[0], "u0@D0.example");
	assert_string_equal(a[count - 1], "u19999@D0.example");
	mc_msg_addrs_free(a, n);
	mc_msg_free(m);
	free(buf);
}

static void
test_recipients_none_and_bad(void **state)
{
	struct mc_msg *m;
	char **a = (char **)1, *err = NULL;
	size_t n = 3;

	(void)state;
	m = PARSE("From: a@example.com\nSubject: none\nResent-To: r@x.example"
	    "\n\nbody\n");
	assert_int_equal(mc_msg_recipients(m, &a, &n, &err), MC_OK);
	assert_int_equal(n, 0);
	mc_msg_addrs_free(a, n);
	mc_msg_free(m);

	m = PARSE("From: a@example.com\nTo: ok@example.com\nCc: John Doe "
	    "john@example.com\n\n");
	a = (char **)1;
	assert_int_equal(mc_msg_recipients(m, &a, &n, &err), MC_ERR_DATA);
	assert_null(a);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "the Cc field on line 3 does not parse"));
	assert_non_null(strstr(err, "words not joined by dots"));
	free(err);
	mc_msg_free(m);
}

static void
test_from(void **state)
{
	struct mc_msg *m;

	(void)state;
	m = PARSE("To: x@example.com\nFrom: One <one@example.com>, "
	    "two@example.com\nSender: s@example.com\nFrom: three@x.example\n\n");
	assert_string_equal(mc_msg_from(m), "one@example.com");
	mc_msg_free(m);

	m = PARSE("From: \"Doe, J.\" (work) <j.doe@EXAMPLE.com>\n\n");
	assert_string_equal(mc_msg_from(m), "j.doe@EXAMPLE.com");
	mc_msg_free(m);

	m = PARSE("To: x@example.com\n\n");
	assert_null(mc_msg_from(m));
	mc_msg_free(m);

	m = PARSE("From: John Doe\n\n");
	assert_null(mc_msg_from(m));
	mc_msg_free(m);

	m = PARSE("From: undisclosed:;\n\n");
	assert_null(mc_msg_from(m));
	mc_msg_free(m);
}

/* ------------------------------------------------------------------ */
/* Finishing the header */

static void
test_bcc_removed(void **state)
{
	struct mc_msg *m;
	char *err = NULL;

	(void)state;
	/* Bcc first, in the middle (folded, CRLF), last; Resent-Bcc; any
	   case. Everything else byte for byte, Date and Message-ID given. */
	m = PARSE("Bcc: first@example.com\r\n"
	    "From: a@example.com\r\n"
	    "Date: Tue, 24 Nov 2026 18:29:59 +0100\r\n"
	    "bcc: b1@example.com,\r\n"
	    "  b2@example.com,\r\n"
	    "\tb3@example.com\r\n"
	    "Subject: keep  this \t exactly\r\n"
	    "   folded too\r\n"
	    "X-Bcc: stays@example.com\r\n"
	    "Resent-Bcc: rb@example.com\r\n"
	    "Message-Id: <x@example.com>\r\n"
	    "Bcc:\r\n"
	    "BCC: last@example.com\r\n"
	    "\r\n"
	    "Bcc: in the body stays\r\n");
	assert_int_equal(mc_msg_prepare(m, hostname, 1, NULL, &err), MC_OK);
	HEAD_IS(m, "From: a@example.com\r\n"
	    "Date: Tue, 24 Nov 2026 18:29:59 +0100\r\n"
	    "Subject: keep  this \t exactly\r\n"
	    "   folded too\r\n"
	    "X-Bcc: stays@example.com\r\n"
	    "Message-Id: <x@example.com>\r\n"
	    "\r\n");
	BODY_IS(m, "Bcc: in the body stays\r\n");
	assert_int_equal(mc_msg_nfields(m), 5);
	assert_string_equal(mc_msg_field_name(m, 3), "X-Bcc");
	assert_null(mc_msg_get(m, "Resent-Bcc"));
	/* Again: nothing more to do. */
	assert_int_equal(mc_msg_prepare(m, hostname, 1, NULL, &err), MC_OK);
	assert_int_equal(mc_msg_nfields(m), 5);
	mc_msg_free(m);

	/* Only a Resent-Bcc to remove, nothing to add. */
	m = PARSE("Date: x\nResent-Bcc: r@x.example\nMessage-ID: <y@z>\n\nb");
	assert_int_equal(mc_msg_prepare(m, hostname, 1, NULL, &err), MC_OK);
	HEAD_IS(m, "Date: x\nMessage-ID: <y@z>\n\n");
	BODY_IS(m, "b");
	mc_msg_free(m);

	/* Only Bcc fields, no empty line. */
	m = PARSE("Bcc: a@example.com\nDate: x\nMessage-ID: <y@z>\nBcc: b@x\n");
	assert_int_equal(mc_msg_prepare(m, hostname, 1, NULL, &err), MC_OK);
	HEAD_IS(m, "Date: x\nMessage-ID: <y@z>\n");
	mc_msg_free(m);
	assert_null(err);
}

/* Checks "Message-ID: <" 24 base64url characters "@host.example>" eol. */
static void
check_msgid(const char *raw, size_t len, const char *eol)
{
	static const char pre[] = "Message-ID: <";
	static const char post[] = "@host.example>";
	size_t i, lp = sizeof(pre) - 1, lq = sizeof(post) - 1;

	assert_int_equal(len, lp + 24 + lq + strlen(eol));
	assert_memory_equal(raw, pre, lp);
	for (i = lp; i < lp + 24; i++) {
		char c = raw[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			fail_msg("Message-ID byte %zu is '%c'", i, c);
	}
	assert_memory_equal(raw + lp + 24, post, lq);
	assert_memory_equal(raw + lp + 24 + lq, eol, strlen(eol));
}

static void
test_date_and_msgid_added(void **state)
{
	static const char given[] = "From: a@example.com\nSubject: s\n";
	struct mc_msg *m, *m2;
	const char *h, *v1, *v2;
	char *err = NULL, *v1copy;
	size_t len, i;

	(void)state;
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();

	m = PARSE("From: a@example.com\nSubject: s\n\nbody\n");
	assert_int_equal(mc_msg_prepare(m, hostname, 1795541399, NULL, &err), MC_OK);
	h = mc_msg_head(m, &len);
	assert_memory_equal(h, given, sizeof(given) - 1);
	assert_int_equal(mc_msg_nfields(m), 4);
	assert_string_equal(mc_msg_field_name(m, 2), "Date");
	h = mc_msg_field_raw(m, 2, &i);
	assert_int_equal(i, 38);
	assert_memory_equal(h, "Date: Tue, 24 Nov 2026 18:29:59 +0100\n", i);
	h = mc_msg_head(m, &len);
	assert_string_equal(mc_msg_field_value(m, 2),
	    "Tue, 24 Nov 2026 18:29:59 +0100");
	assert_string_equal(mc_msg_field_name(m, 3), "Message-ID");
	v1 = mc_msg_field_raw(m, 3, &i);
	check_msgid(v1, i, "\n");
	/* The added fields, then the empty line, then nothing else. */
	assert_int_equal(len, sizeof(given) - 1 + 38 + i + 1);
	assert_memory_equal(h + len - 1, "\n", 1);
	BODY_IS(m, "body\n");

	/* Another message, another Message-ID. */
	m2 = PARSE("From: a@example.com\nSubject: s\n\nbody\n");
	assert_int_equal(mc_msg_prepare(m2, hostname, 1795541399, NULL, &err),
	    MC_OK);
	v1copy = strdup(mc_msg_get(m, "Message-ID"));
	v2 = mc_msg_get(m2, "Message-ID");
	assert_string_not_equal(v1copy, v2);
	free(v1copy);
	mc_msg_free(m2);

	/* Calling again adds nothing. */
	assert_int_equal(mc_msg_prepare(m, hostname, 5, NULL, &err), MC_OK);
	assert_int_equal(mc_msg_nfields(m), 4);
	mc_msg_free(m);

	/* Summer time; other zones, negative and half-hour ones. */
	m = PARSE("Message-ID: <given@example.com>\n\n");
	assert_int_equal(mc_msg_prepare(m, hostname, 1783152309, NULL, &err), MC_OK);
	HEAD_IS(m, "Message-ID: <given@example.com>\n"
	    "Date: Sat, 4 Jul 2026 10:05:09 +0200\n\n");
	mc_msg_free(m);
	setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
	tzset();
	m = PARSE("message-id: <given@example.com>\n\n");
	assert_int_equal(mc_msg_prepare(m, hostname, 1795541399, NULL, &err), MC_OK);
	HEAD_IS(m, "message-id: <given@example.com>\n"
	    "Date: Tue, 24 Nov 2026 12:29:59 -0500\n\n");
	mc_msg_free(m);
	setenv("TZ", "IST-5:30", 1);
	tzset();
	m = PARSE("Message-ID: <given@example.com>\n\n");
	assert_int_equal(mc_msg_prepare(m, hostname, 1795541399, NULL, &err), MC_OK);
	HEAD_IS(m, "Message-ID: <given@example.com>\n"
	    "Date: Tue, 24 Nov 2026 22:59:59 +0530\n\n");
	mc_msg_free(m);
	setenv("TZ", "UTC0", 1);
	tzset();

	/* A Date is kept, only the Message-ID added. */
	m = PARSE("DATE: whenever\r\n\r\n");
	assert_int_equal(mc_msg_prepare(m, hostname, 0, NULL, &err), MC_OK);
	assert_int_equal(mc_msg_nfields(m), 2);
	assert_string_equal(mc_msg_get(m, "Date"), "whenever");
	v1 = mc_msg_field_raw(m, 1, &i);
	check_msgid(v1, i, "\r\n");
	h = mc_msg_head(m, &len);
	assert_memory_equal(h, "DATE: whenever\r\n", 16);
	assert_memory_equal(h + len - 2, "\r\n", 2);
	assert_int_equal(len, 16 + i + 2);
	mc_msg_free(m);
	assert_null(err);
}

static void
test_prepare_crlf_and_no_body(void **state)
{
	struct mc_msg *m;
	const char *h;
	char *err = NULL;
	size_t len, i;

	(void)state;
	setenv("TZ", "UTC0", 1);
	tzset();
	/* CRLF message: the added fields have CRLF too. */
	m = PARSE("From: a@example.com\r\nBcc: b@example.com\r\n\r\nbody\r\n");
	assert_int_equal(mc_msg_prepare(m, hostname, 1795541399, NULL, &err), MC_OK);
	h = mc_msg_head(m, &len);
	assert_memory_equal(h, "From: a@example.com\r\n"
	    "Date: Tue, 24 Nov 2026 17:29:59 +0000\r\nMessage-ID: <", 73);
	check_msgid(h + 60, len - 60 - 2, "\r\n");
	assert_memory_equal(h + len - 2, "\r\n", 2);
	mc_msg_free(m);

	/* No empty line, no body, the last line without a line end: it gets
	   one before the added fields; no empty line is made up. */
	m = PARSE("From: a@example.com\r\nSubject: s");
	assert_int_equal(mc_msg_prepare(m, hostname, 1795541399, NULL, &err), MC_OK);
	h = mc_msg_head(m, &len);
	assert_memory_equal(h, "From: a@example.com\r\nSubject: s\r\n"
	    "Date: Tue, 24 Nov 2026 17:29:59 +0000\r\n", 72);
	check_msgid(h + 72, len - 72, "\r\n");
	h = mc_msg_field_raw(m, 1, &i);
	assert_int_equal(i, 12);
	assert_memory_equal(h, "Subject: s\r\n", 12);
	BODY_IS(m, "");
	mc_msg_free(m);

	/* The same with LF, and a Bcc last that goes with its line. */
	m = PARSE("Subject: s\nBcc: b@x.example");
	assert_int_equal(mc_msg_prepare(m, hostname, 1795541399, NULL, &err), MC_OK);
	h = mc_msg_head(m, &len);
	assert_memory_equal(h, "Subject: s\nDate: Tue, 24 Nov 2026 17:29:59 "
	    "+0000\nMessage-ID: <", 62);
	assert_memory_equal(h + len - 1, "\n", 1);
	mc_msg_free(m);

	/* A CR at end of file ends the last line: it gets only its LF. */
	m = PARSE("From: a@x\r\nSubject: s\r");
	assert_string_equal(mc_msg_get(m, "Subject"), "s");
	assert_int_equal(mc_msg_prepare(m, hostname, 1795541399, NULL, &err), MC_OK);
	h = mc_msg_head(m, &len);
	assert_memory_equal(h, "From: a@x\r\nSubject: s\r\nDate: Tue, 24 Nov "
	    "2026 17:29:59 +0000\r\n", 62);
	mc_msg_free(m);

	/* No header fields at all. */
	m = PARSE("\r\nbody");
	assert_int_equal(mc_msg_prepare(m, hostname, 1795541399, NULL, &err), MC_OK);
	h = mc_msg_head(m, &len);
	assert_memory_equal(h, "Date: Tue, 24 Nov 2026 17:29:59 +0000\r\n",
	    39);
	assert_memory_equal(h + len - 5, ">\r\n\r\n", 5);
	mc_msg_free(m);
	assert_null(err);
}

static void
test_prepare_bad_hostname(void **state)
{
	static const char *const bad[] = {
		"", "host name", "h>x", "h\r\nBcc: x", "h@x", NULL
	};
	struct mc_msg *m;
	char *err = NULL;
	size_t i;

	(void)state;
	m = PARSE("Bcc: b@x.example\nSubject: s\n\n");
	for (i = 0; bad[i] != NULL; i++) {
		assert_int_equal(mc_msg_prepare(m, bad[i], 0, NULL, &err),
		    MC_ERR_INTERNAL);
		assert_non_null(strstr(err, "host name"));
		free(err);
		err = NULL;
		HEAD_IS(m, "Bcc: b@x.example\nSubject: s\n\n");
	}
	assert_int_equal(mc_msg_prepare(m, NULL, 0, NULL, &err), MC_ERR_INTERNAL);
	free(err);
	mc_msg_free(m);
}

static void
test_8bit_head(void **state)
{
	struct mc_msg *m;

	(void)state;
	m = PARSE("Subject: caf\xc3\xa9\n\nbody");
	assert_int_equal(mc_msg_is_8bit_head(m), 1);
	mc_msg_free(m);
	m = PARSE("Subject: cafe\n\ncaf\xc3\xa9");
	assert_int_equal(mc_msg_is_8bit_head(m), 0);
	mc_msg_free(m);
	m = PARSE("To: J <j@ex\xc3\xa4mple.com>\n\n");
	assert_int_equal(mc_msg_is_8bit_head(m), 1);
	mc_msg_free(m);
}

/* ------------------------------------------------------------------ */
/* Envelope addresses */

static void
test_addr_ok(void **state)
{
	static const char *const good[] = {
		"a@example.com", "\"john doe\"@example.com",
		"\"a\\\"b\"@example.com", "jos\xc3\xa9@ex\xc3\xa4mple.com",
		"user@[127.0.0.1]", "postmaster", "a+tag@x.example", NULL
	};
	static const char *const bad[] = {
		"", "a b@example.com", "a@example.com\r\n",
		"a@x\r\nRCPT TO:<evil@x>", "a@x\nDATA", "<a@example.com>",
		"a>@example.com", "a<@example.com", "a\t@example.com",
		"\"unterminated@example.com", "a\x7f@example.com",
		"a@example.com ", " a@example.com", "\"a\\", "\"a\\\r\"@x",
		"\"a\r\"@x", "\"<a>\"@x", NULL
	};
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		if (!mc_msg_addr_ok(good[i]))
			fail_msg("\"%s\" refused", good[i]);
	for (i = 0; bad[i] != NULL; i++)
		if (mc_msg_addr_ok(bad[i]))
			fail_msg("\"%s\" taken", bad[i]);
	assert_int_equal(mc_msg_addr_ok(NULL), 0);
	assert_int_equal(mc_msg_addr_is_ascii("a@example.com"), 1);
	assert_int_equal(mc_msg_addr_is_ascii("\"x y\"@[1.2.3.4]"), 1);
	assert_int_equal(mc_msg_addr_is_ascii("jos\xc3\xa9@example.com"), 0);
	assert_int_equal(mc_msg_addr_is_ascii("a@ex\xc3\xa4mple.com"), 0);
}

/* ------------------------------------------------------------------ */
/* The DATA encoder */

/* Encodes in[0..len) in chunks at the given cut points, then finishes. */
static size_t
encode_cuts(const char *in, size_t len, const size_t *cuts, size_t ncuts,
    char *out, struct mc_data_enc *e)
{
	size_t o = 0, prev = 0, i, at, w;

	for (i = 0; i <= ncuts; i++) {
		at = i < ncuts ? cuts[i] : len;
		w = mc_data_encode(e, in + prev, at - prev, out + o);
		assert_true(w <= MC_DATA_ENC_MAX(at - prev));
		o += w;
		prev = at;
	}
	w = mc_data_finish(e, out + o);
	assert_true(w <= MC_DATA_FINISH_MAX);
	return o + w;
}

static size_t
encode_whole(const char *in, size_t len, char *out)
{
	struct mc_data_enc e = MC_DATA_ENC_INIT;

	return encode_cuts(in, len, NULL, 0, out, &e);
}

/*
 * The encoding defined without state, looking ahead: what the encoder
 * must produce.
 */
static size_t
reference(const char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '.' && (i == 0 || in[i - 1] == '\n' ||
		    in[i - 1] == '\r'))
			out[o++] = '.';
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = in[i];
		if (in[i] == '\r' && (i + 1 == len || in[i + 1] != '\n'))
			out[o++] = '\n';
	}
	if (len > 0 && in[len - 1] != '\n' && in[len - 1] != '\r') {
		memcpy(out + o, "\r\n", 2);
		o += 2;
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}

static void
expect_encoding(const char *in, size_t len, const char *want, size_t wantlen)
{
	char *out = malloc(2 * len + 8), *out2 = malloc(2 * len + 8);
	size_t n, n2, cut;

	assert_non_null(out);
	assert_non_null(out2);
	n = encode_whole(in, len, out);
	if (n != wantlen || memcmp(out, want, n) != 0)
		fail_msg("encoded to \"%.*s\", wanted \"%.*s\"", (int)n, out,
		    (int)wantlen, want);
	/* Every split into two chunks. */
	for (cut = 0; cut <= len; cut++) {
		struct mc_data_enc e = MC_DATA_ENC_INIT;

		n2 = encode_cuts(in, len, &cut, 1, out2, &e);
		assert_int_equal(n2, n);
		assert_memory_equal(out2, out, n);
	}
	/* Byte by byte. */
	{
		struct mc_data_enc e = MC_DATA_ENC_INIT;
		size_t i, o = 0;

		for (i = 0; i < len; i++)
			o += mc_data_encode(&e, in + i, 1, out2 + o);
		o += mc_data_finish(&e, out2 + o);
		assert_int_equal(o, n);
		assert_memory_equal(out2, out, n);
	}
	free(out);
	free(out2);
}

#define ENC(in, want) expect_encoding(in, sizeof(in) - 1, want, \
    sizeof(want) - 1)

static void
test_encoder(void **state)
{
	char *big, *want;
	size_t i;

	(void)state;
	ENC("", ".\r\n");
	ENC("a", "a\r\n.\r\n");
	ENC("a\n", "a\r\n.\r\n");
	ENC("a\r\n", "a\r\n.\r\n");
	ENC("a\nb\r\nc", "a\r\nb\r\nc\r\n.\r\n");
	ENC("\n\n", "\r\n\r\n.\r\n");
	/* Dots: at the very beginning, after LF, after CRLF. */
	ENC(".", "..\r\n.\r\n");
	ENC(".\n", "..\r\n.\r\n");
	ENC(".start\n.\n..x\r\n.y\r\nmid.dle.\n",
	    "..start\r\n..\r\n...x\r\n..y\r\nmid.dle.\r\n.\r\n");
	ENC("a\n.\nb", "a\r\n..\r\nb\r\n.\r\n");
	ENC("a\r\n.\r\n", "a\r\n..\r\n.\r\n");
	/*
	 * A bare CR ends its line as CRLF, and a dot after it is doubled:
	 * "\r.\r\n" never reaches a server that might read it as the end.
	 */
	ENC("a\rb\n", "a\r\nb\r\n.\r\n");
	ENC("a\r.b\n", "a\r\n..b\r\n.\r\n");
	ENC("a\r.\r\nb\n", "a\r\n..\r\nb\r\n.\r\n");
	ENC("\r\r\n", "\r\n\r\n.\r\n");
	ENC("\r", "\r\n.\r\n");
	ENC("x\r", "x\r\n.\r\n");
	ENC("x\n\r", "x\r\n\r\n.\r\n");
	/* 8-bit bytes untouched. */
	ENC("caf\xc3\xa9 \xff\x80\n", "caf\xc3\xa9 \xff\x80\r\n.\r\n");

	/* A 5000-byte line passes whole. */
	big = malloc(5001);
	want = malloc(5010);
	assert_non_null(big);
	assert_non_null(want);
	for (i = 0; i < 5000; i++)
		big[i] = (char)('a' + i % 26);
	big[5000] = '\n';
	memcpy(want, big, 5000);
	memcpy(want + 5000, "\r\n.\r\n", 5);
	{
		char *out = malloc(2 * 5001 + 8);
		size_t n;

		assert_non_null(out);
		n = encode_whole(big, 5001, out);
		assert_int_equal(n, 5005);
		assert_memory_equal(out, want, n);
		free(out);
	}
	free(big);
	free(want);
}

static void
test_encoder_chunk_boundaries(void **state)
{
	/* A chunk ending between CR and LF, between LF and '.', in mid-line
	   just before a '.'. */
	static const char in[] = "one\r\n.two\n.three\r\n..\n";
	static const char want[] =
	    "one\r\n..two\r\n..three\r\n...\r\n.\r\n";
	struct mc_data_enc e = MC_DATA_ENC_INIT;
	char out[128];
	size_t cuts[] = { 4, 5, 10, 11, 19 }, n;

	(void)state;
	assert_int_equal(in[3], '\r');
	assert_int_equal(in[5], '.');
	assert_int_equal(in[10], '.');
	n = encode_cuts(in, sizeof(in) - 1, cuts, 5, out, &e);
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, n);

	/* A CR held back at a chunk's end comes out with the next chunk. */
	{
		struct mc_data_enc e2 = MC_DATA_ENC_INIT;

		assert_int_equal(mc_data_encode(&e2, "ab\r", 3, out), 2);
		assert_memory_equal(out, "ab", 2);
		assert_int_equal(mc_data_encode(&e2, "\n.", 2, out), 4);
		assert_memory_equal(out, "\r\n..", 4);
		assert_int_equal(mc_data_encode(&e2, "", 0, out), 0);
	}
}

/*
 * Every input of up to 7 bytes over { CR, LF, '.', 'a', NUL }: the
 * encoding equals the reference, in one go, in every split into two
 * chunks and byte by byte; no chunk writes more than MC_DATA_ENC_MAX; the
 * end-of-data sequence "\r\n.\r\n" appears only at the end.
 */
static void
test_encoder_exhaustive(void **state)
{
	static const char alpha[] = { '\r', '\n', '.', 'a', '\0' };
	char in[8], ref[64], out[64], out2[64], stream[70];
	size_t len, n, nr, i, cut, total, o, max_seen = 0;
	unsigned long k, combos;

	(void)state;
	for (len = 0; len <= 7; len++) {
		combos = 1;
		for (i = 0; i < len; i++)
			combos *= sizeof(alpha);
		for (k = 0; k < combos; k++) {
			unsigned long v = k;

			for (i = 0; i < len; i++) {
				in[i] = alpha[v % sizeof(alpha)];
				v /= sizeof(alpha);
			}
			nr = reference(in, len, ref);
			n = encode_whole(in, len, out);
			assert_int_equal(n, nr);
			assert_memory_equal(out, ref, n);
			for (cut = 0; cut <= len; cut++) {
				struct mc_data_enc e = MC_DATA_ENC_INIT;

				assert_int_equal(encode_cuts(in, len, &cut, 1,
				    out2, &e), n);
				assert_memory_equal(out2, out, n);
			}
			{
				struct mc_data_enc e = MC_DATA_ENC_INIT;

				o = 0;
				for (i = 0; i < len; i++) {
					size_t w = mc_data_encode(&e, in + i,
					    1, out2 + o);

					assert_true(w <= MC_DATA_ENC_MAX(1));
					o += w;
				}
				o += mc_data_finish(&e, out2 + o);
				assert_int_equal(o, n);
				assert_memory_equal(out2, out, n);
			}
			/* One chunk's output at its worst. */
			{
				struct mc_data_enc e = MC_DATA_ENC_INIT;
				size_t w = mc_data_encode(&e, in, len, out2);

				if (len > 0 && w * 100 / len > max_seen)
					max_seen = w * 100 / len;
			}
			/* After DATA's "354" line: the data never ends
			   before its end. */
			memcpy(stream, "\r\n", 2);
			memcpy(stream + 2, out, n);
			total = n + 2;
			for (i = 0; i + 5 < total; i++)
				if (memcmp(stream + i, "\r\n.\r\n", 5) == 0)
					fail_msg("end of data inside the data");
		}
	}
	/* The bound is reached: "\n\n..." doubles. */
	assert_int_equal(max_seen, 200);
}

static void
test_encoder_nul(void **state)
{
	struct mc_data_enc e = MC_DATA_ENC_INIT;
	char out[64];

	(void)state;
	mc_data_encode(&e, "ab\ncd", 5, out);
	assert_int_equal(e.nul, 0);
	mc_data_encode(&e, "e\0f\0", 4, out);
	assert_int_equal(e.nul, 1);
	assert_int_equal(e.nul_offset, 6);
	mc_data_encode(&e, "\0", 1, out);
	assert_int_equal(e.nul_offset, 6);
	assert_int_equal(e.fed, 10);

	{
		struct mc_data_enc e2 = MC_DATA_ENC_INIT;

		mc_data_encode(&e2, "\0", 1, out);
		assert_int_equal(e2.nul, 1);
		assert_int_equal(e2.nul_offset, 0);
	}
}

/*
 * What the sender does: head, body prefix, rest of the input through one
 * encoder; after a prepare with Bcc the output has no Bcc and ends right.
 */
static void
test_whole_message(void **state)
{
	static const char text[] = "From: a@example.com\nBcc: b@example.com\n"
	    "Date: Tue, 24 Nov 2026 18:29:59 +0100\nMessage-ID: <m@x>\n\n"
	    ".hidden dot\nlast line";
	static const char want[] = "From: a@example.com\r\n"
	    "Date: Tue, 24 Nov 2026 18:29:59 +0100\r\nMessage-ID: <m@x>\r\n"
	    "\r\n..hidden dot\r\nlast line\r\n.\r\n";
	struct mc_data_enc e = MC_DATA_ENC_INIT;
	struct mc_msg *m;
	const char *p;
	char out[512];
	size_t len, o = 0;

	(void)state;
	m = parse_ok(text, 100);	/* the rest "comes from the fd" */
	assert_int_equal(mc_msg_prepare(m, hostname, 0, NULL, NULL), MC_OK);
	p = mc_msg_head(m, &len);
	o += mc_data_encode(&e, p, len, out + o);
	p = mc_msg_body_prefix(m, &len);
	o += mc_data_encode(&e, p, len, out + o);
	o += mc_data_encode(&e, text + 100, sizeof(text) - 1 - 100, out + o);
	o += mc_data_finish(&e, out + o);
	assert_int_equal(o, sizeof(want) - 1);
	assert_memory_equal(out, want, o);
	assert_int_equal(e.nul, 0);
	mc_msg_free(m);
}

/* git format-patch --stdout: the mbox "From " line is not sent. */
static void
test_mbox_from_line(void **state)
{
	static const char text[] = "From 1234abcd Mon Sep 17 00:00:00 2001\n"
	    "From: A <a@example.test>\nTo: b@example.test\n\nbody\n";
	struct mc_msg *m = NULL;
	char *err = NULL;
	const char *h, *b;
	size_t len, blen;

	(void)state;
	assert_int_equal(mc_msg_parse_head(text, sizeof(text) - 1, &m, &err),
	    MC_OK);
	h = mc_msg_head(m, &len);
	assert_int_equal(len, strlen("From: A <a@example.test>\nTo: "
	    "b@example.test\n\n"));
	assert_memory_equal(h, "From: A <a@example.test>\n", 25);
	b = mc_msg_body_prefix(m, &blen);
	assert_int_equal(blen, 5);
	assert_memory_equal(b, "body\n", 5);
	assert_string_equal(mc_msg_from(m), "a@example.test");
	mc_msg_free(m);
	m = NULL;

	/* "From : x" is a From field in the obsolete syntax, not mbox. */
	assert_int_equal(mc_msg_parse_head("From : B <b@example.test>\n\nx\n",
	    29, &m, &err), MC_OK);
	assert_string_equal(mc_msg_from(m), "b@example.test");
	mc_msg_free(m);
	m = NULL;
	/* Only the mbox line: an empty message. */
	assert_int_equal(mc_msg_parse_head("From 1 Mon Sep 17 00:00:00 2001\n",
	    32, &m, &err), MC_ERR_DATA);
	assert_non_null(strstr(err, "empty"));
	free(err);
}

/* A message without From gets the one given; one with From keeps its own. */
static void
test_prepare_from(void **state)
{
	static const char text[] = "To: x@example.test\nSubject: s\n\nbody\n";
	static const char with[] = "From: me@example.test\nTo: x@example.test\n\nb\n";
	struct mc_msg *m = NULL;
	char *err = NULL, *head;
	const char *h;
	size_t len;

	(void)state;
	assert_int_equal(mc_msg_parse_head(text, sizeof(text) - 1, &m, &err),
	    MC_OK);
	assert_int_equal(mc_msg_prepare(m, hostname, 1, "bad\r\nBcc: x", &err),
	    MC_ERR_DATA);
	free(err);
	err = NULL;
	assert_int_equal(mc_msg_prepare(m, hostname, 1,
	    "\"U, Ser\" <u@example.test>", &err), MC_OK);
	h = mc_msg_head(m, &len);
	head = strndup(h, len);
	assert_non_null(strstr(head, "\nFrom: \"U, Ser\" <u@example.test>\n"));
	free(head);
	mc_msg_free(m);
	m = NULL;
	assert_int_equal(mc_msg_parse_head(with, sizeof(with) - 1, &m, &err),
	    MC_OK);
	assert_int_equal(mc_msg_prepare(m, hostname, 1, "other@example.test",
	    &err), MC_OK);
	h = mc_msg_head(m, &len);
	head = strndup(h, len);
	assert_null(strstr(head, "other@example.test"));
	free(head);
	mc_msg_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lf_message),
		cmocka_unit_test(test_crlf_message),
		cmocka_unit_test(test_no_body),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_head_errors),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_head_limit),
		cmocka_unit_test(test_read_head_fd),
		cmocka_unit_test(test_read_head_byte_by_byte),
		cmocka_unit_test(test_read_head_errors),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_recipients),
		cmocka_unit_test(test_recipients_dedup_many),
		cmocka_unit_test(test_recipients_none_and_bad),
		cmocka_unit_test(test_from),
		cmocka_unit_test(test_bcc_removed),
		cmocka_unit_test(test_date_and_msgid_added),
		cmocka_unit_test(test_prepare_crlf_and_no_body),
		cmocka_unit_test(test_prepare_bad_hostname),
		cmocka_unit_test(test_8bit_head),
		cmocka_unit_test(test_addr_ok),
		cmocka_unit_test(test_encoder),
		cmocka_unit_test(test_encoder_chunk_boundaries),
		cmocka_unit_test(test_encoder_exhaustive),
		cmocka_unit_test(test_encoder_nul),
		cmocka_unit_test(test_whole_message),
		cmocka_unit_test(test_prepare_from),
		cmocka_unit_test(test_mbox_from_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
