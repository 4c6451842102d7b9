/*
 * Unit tests: auth/listener - the loopback redirect listener, over real
 * loopback sockets in this process. The clients act from the listener's
 * own callbacks (tick, warn), so no thread or child is needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "auth/err.h"
#include "auth/listener.h"

#define EP "http://127.0.0.1:9000/auth"
#define STATE "the-right-state"

/* What a test's clients do, and what they saw. */
struct script {
	struct mc_listener *l;
	int family;		/* AF_INET or AF_INET6 */
	const char *first[12];	/* requests sent at the first tick */
	const char *on_warn;	/* sent when a warning comes */
	int fds[16];
	int nfds;
	int ticks, warns, last_left;
};

static int
client(const struct script *s)
{
	struct sockaddr_storage ss;
	struct timeval tv = { 5, 0 };
	socklen_t sl;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (s->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((unsigned short)mc_listener_port(s->l));
		in6->sin6_addr = in6addr_loopback;
		sl = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((unsigned short)mc_listener_port(s->l));
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*in);
	}
	fd = socket(s->family, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
	return fd;
}

/* Opens a connection and sends req (NULL: nothing, a silent client). */
static void
send_req(struct script *s, const char *req)
{
	int fd = client(s);

	if (req != NULL)
		assert_int_equal(send(fd, req, strlen(req), 0),
		    (ssize_t)strlen(req));
	s->fds[s->nfds++] = fd;
}

/* All the answer on connection i, or "" for none. */
static char *
answer_of(struct script *s, int i)
{
	static char buf[16384];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1) {
		n = recv(s->fds[i], buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

static void
tick(void *ctx, int left)
{
	struct script *s = ctx;
	int i;

	if (s->ticks++ == 0)
		for (i = 0; i < 12 && s->first[i] != NULL; i++)
			send_req(s, strcmp(s->first[i], "SILENT") == 0 ? NULL :
			    s->first[i]);
	s->last_left = left;
}

static void
warn(void *ctx, const char *line)
{
	struct script *s = ctx;

	assert_non_null(strstr(line, "still waiting"));
	if (s->warns++ == 0 && s->on_warn != NULL)
		send_req(s, s->on_warn);
}

static int
run(struct script *s, const char *uri, int timeout, const char *account,
    struct mc_redirect *r, char **msg)
{
	struct mc_listener_cb cb = { tick, warn, s };
	int rc;

	s->family = s->family == 0 ? AF_INET : s->family;
	*msg = NULL;
	assert_int_equal(mc_listener_open(uri, 0, &s->l, NULL), MC_OK);
	assert_true(mc_listener_port(s->l) > 0);
	rc = mc_listener_wait(s->l, timeout, STATE, EP, account, &cb, r,
	    msg);
	return rc;
}

static void
done(struct script *s)
{
	int i;

	for (i = 0; i < s->nfds; i++)
		close(s->fds[i]);
	mc_listener_free(s->l);
}

#define GOOD "GET /?code=the-code&state=" STATE " HTTP/1.1\r\nHost: x\r\n\r\n"

static void
test_good_redirect_and_404(void **state)
{
	struct script s = { .first = { "GET /favicon.ico HTTP/1.1\r\n\r\n",
	    "GET /other?code=x&state=" STATE " HTTP/1.1\r\n\r\n", GOOD } };
	struct mc_redirect r;
	char *msg, *a;

	(void)state;
	assert_int_equal(run(&s, "http://127.0.0.1/", 30, "me<&>@x", &r,
	    &msg), MC_OK);
	assert_string_equal(r.code, "the-code");
	assert_null(msg);
	mc_listener_reply(s.l, "me<&>@x", NULL);
	a = answer_of(&s, 0);
	assert_non_null(strstr(a, "HTTP/1.1 404"));
	a = answer_of(&s, 1);
	assert_non_null(strstr(a, "HTTP/1.1 404"));
	a = answer_of(&s, 2);
	assert_non_null(strstr(a, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(a, "Content-Type: text/html; charset=utf-8\r\n"));
	assert_non_null(strstr(a, "Cache-Control: no-store\r\n"));
	assert_non_null(strstr(a, "Connection: close\r\n"));
	assert_non_null(strstr(a, "<title>mailcred: logged in</title>"));
	assert_non_null(strstr(a, "<h1>mailcred: logged in</h1>"));
	assert_non_null(strstr(a, "me&lt;&amp;&gt;@x"));
	assert_null(strstr(a, "me<&>@x"));
	assert_non_null(strstr(a, "You can close this tab."));
	assert_true(s.ticks >= 1);
	assert_int_equal(s.last_left, 30);
	mc_redirect_clear(&r);
	done(&s);
}

static void
test_forged_keeps_waiting(void **state)
{
	struct script s = { .first = { "GET /?code=evil&state=wrong "
	    "HTTP/1.1\r\n\r\n" }, .on_warn = GOOD };
	struct mc_redirect r;
	char *msg, *a;

	(void)state;
	assert_int_equal(run(&s, "http://127.0.0.1/", 30, "me", &r, &msg),
	    MC_OK);
	assert_string_equal(r.code, "the-code");
	assert_int_equal(s.warns, 1);
	a = answer_of(&s, 0);
	assert_non_null(strstr(a, "HTTP/1.1 400"));
	assert_non_null(strstr(a, "<title>mailcred: login failed</title>"));
	assert_non_null(strstr(a, "state does not match"));
	mc_listener_reply(s.l, "me", NULL);
	a = answer_of(&s, 1);
	assert_non_null(strstr(a, "mailcred: logged in"));
	mc_redirect_clear(&r);
	done(&s);
}

/* The redirect's tab is answered only by mc_listener_reply(). */
static void
test_reply_after_the_exchange(void **state)
{
	struct script s = { .first = { GOOD } };
	struct timeval tv = { 0, 200000 };
	struct mc_redirect r;
	char buf[64], *msg, *a;

	(void)state;
	assert_int_equal(run(&s, "http://127.0.0.1/", 30, "me", &r, &msg),
	    MC_OK);
	/* Nothing yet: the browser waits for the outcome. */
	setsockopt(s.fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_true(recv(s.fds[0], buf, sizeof(buf), 0) < 0);
	tv.tv_sec = 5;
	setsockopt(s.fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	mc_listener_reply(s.l, "me", "the provider <granted> no refresh token");
	a = answer_of(&s, 0);
	assert_non_null(strstr(a, "<title>mailcred: login failed</title>"));
	assert_non_null(strstr(a, "the provider &lt;granted&gt; no refresh"));
	assert_null(strstr(a, "logged in"));
	mc_listener_reply(s.l, "me", NULL);	/* a no-op now */
	mc_redirect_clear(&r);
	done(&s);
}

/* Freed without a reply: the tab is told the login did not finish. */
static void
test_free_tells_the_browser(void **state)
{
	struct script s = { .first = { GOOD } };
	struct mc_redirect r;
	char *msg, *a;
	int i;

	(void)state;
	assert_int_equal(run(&s, "http://127.0.0.1/", 30, "me", &r, &msg),
	    MC_OK);
	mc_listener_free(s.l);
	a = answer_of(&s, 0);
	assert_non_null(strstr(a, "mailcred: login failed"));
	assert_non_null(strstr(a, "did not finish"));
	for (i = 0; i < s.nfds; i++)
		close(s.fds[i]);
	mc_redirect_clear(&r);
}

/* More silent connections than slots: the real redirect still gets in. */
static void
test_flood_does_not_drop_the_redirect(void **state)
{
	struct script s = { .first = { GOOD, "SILENT", "SILENT", "SILENT",
	    "SILENT", "SILENT", "SILENT", "SILENT", "SILENT", "SILENT",
	    "SILENT", "SILENT" } };
	struct mc_redirect r;
	char *msg, *a;

	(void)state;
	assert_int_equal(run(&s, "http://127.0.0.1/", 5, "me", &r, &msg),
	    MC_OK);
	assert_string_equal(r.code, "the-code");
	mc_listener_reply(s.l, "me", NULL);
	a = answer_of(&s, 0);
	assert_non_null(strstr(a, "mailcred: logged in"));
	mc_redirect_clear(&r);
	done(&s);
}

/*
 * Every slot taken by a request that stops half-way: the redirect waits
 * in the kernel's queue (not closed) until a stalled one makes room.
 */
static void
test_stalled_requests_make_room(void **state)
{
	struct script s = { .first = { "G", "G", "G", "G", "G", "G", "G",
	    "G", GOOD } };
	struct mc_redirect r;
	char *msg, *a;

	(void)state;
	assert_int_equal(run(&s, "http://127.0.0.1/", 5, "me", &r, &msg),
	    MC_OK);
	assert_string_equal(r.code, "the-code");
	mc_listener_reply(s.l, "me", NULL);
	a = answer_of(&s, 8);
	assert_non_null(strstr(a, "mailcred: logged in"));
	mc_redirect_clear(&r);
	done(&s);
}

/* mc_listener_interrupted(): the waiting tab hears why, once. */
static void
test_interrupted(void **state)
{
	struct script s = { .first = { GOOD } };
	struct mc_redirect r;
	char *msg, *a;

	(void)state;
	assert_int_equal(run(&s, "http://127.0.0.1/", 5, "me", &r, &msg),
	    MC_OK);
	mc_listener_interrupted(s.l);
	mc_listener_reply(s.l, "me", NULL);	/* too late: a no-op */
	a = answer_of(&s, 0);
	assert_non_null(strstr(a, "<title>mailcred: login failed</title>"));
	assert_non_null(strstr(a, "interrupted"));
	assert_null(strstr(a, "logged in"));
	mc_redirect_clear(&r);
	done(&s);
}

static void
test_slow_connection_does_not_block(void **state)
{
	struct script s = { .first = { "SILENT", "GET /?code=partial",
	    GOOD } };
	struct mc_redirect r;
	char *msg;

	(void)state;
	/* Were the silent client served first, the 3 s would run out. */
	assert_int_equal(run(&s, "http://127.0.0.1/", 3, "me", &r, &msg),
	    MC_OK);
	assert_string_equal(r.code, "the-code");
	mc_redirect_clear(&r);
	done(&s);
}

static void
test_oversize_refused(void **state)
{
	static char big[MC_LISTENER_MAX_REQUEST + 1];
	struct script s = { .first = { big }, .on_warn = NULL };
	struct mc_redirect r;
	char *msg, *a;

	(void)state;
	memcpy(big, "GET /?", 6);
	memset(big + 6, 'a', MC_LISTENER_MAX_REQUEST - 6);
	big[MC_LISTENER_MAX_REQUEST] = '\0';
	assert_int_equal(run(&s, "http://127.0.0.1/", 1, "me", &r, &msg),
	    MC_ERR_TEMP);
	free(msg);
	a = answer_of(&s, 0);
	assert_non_null(strstr(a, "HTTP/1.1 431"));
	done(&s);
}

static void
test_error_redirect(void **state)
{
	struct script s = { .first = { "GET /?error=access_denied&"
	    "error_description=no%20%3Cway%3E&state=" STATE " HTTP/1.1\r\n\r\n"
	    } };
	struct mc_redirect r;
	char *msg, *a;

	(void)state;
	assert_int_equal(run(&s, "http://127.0.0.1/", 30, "me", &r, &msg),
	    MC_ERR_AUTH);
	assert_string_equal(msg, "the provider said: access_denied (no "
	    "<way>)");
	free(msg);
	assert_null(r.code);
	a = answer_of(&s, 0);
	assert_non_null(strstr(a, "<title>mailcred: login failed</title>"));
	assert_non_null(strstr(a, "The provider said: access_denied (no "
	    "&lt;way&gt;)"));
	done(&s);
}

static void
test_timeout(void **state)
{
	struct script s = { .first = { NULL } };
	struct mc_redirect r;
	char *msg;

	(void)state;
	assert_int_equal(run(&s, "http://127.0.0.1/", 1, "me", &r, &msg),
	    MC_ERR_TEMP);
	assert_non_null(strstr(msg, "within 1 s"));
	assert_true(s.ticks >= 1);
	free(msg);
	done(&s);
}

static void
test_localhost_both(void **state)
{
	struct script s = { .first = { GOOD } };
	struct mc_redirect r;
	char *msg;

	(void)state;
	assert_int_equal(mc_listener_open("http://localhost/", 0, &s.l, NULL),
	    MC_OK);
	if (mc_listener_nsockets(s.l) < 2) {
		mc_listener_free(s.l);
		skip();	/* no ::1 on this machine */
	}
	mc_listener_free(s.l);
	s.family = AF_INET6;
	assert_int_equal(run(&s, "http://localhost/", 30, "me", &r, &msg),
	    MC_OK);
	mc_redirect_clear(&r);
	done(&s);
}

static void
test_open_errors(void **state)
{
	struct mc_listener *a, *b;
	char *msg = NULL;

	(void)state;
	assert_int_equal(mc_listener_open("http://127.0.0.1/cb", 0, &a, NULL),
	    MC_OK);
	assert_int_equal(mc_listener_nsockets(a), 1);
	assert_int_equal(mc_listener_open("http://127.0.0.1/",
	    mc_listener_port(a), &b, &msg), MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "in use"));
	free(msg);
	msg = NULL;
	mc_listener_free(a);
	assert_int_equal(mc_listener_open("https://127.0.0.1/", 0, &b, &msg),
	    MC_ERR_CONFIG);
	free(msg);
	msg = NULL;
	assert_int_equal(mc_listener_open("http://example.org/", 0, &b, &msg),
	    MC_ERR_CONFIG);
	free(msg);
}

static void
test_redirect_path(void **state)
{
	struct script s = { .first = {
	    "GET /?code=x&state=" STATE " HTTP/1.1\r\n\r\n",
	    "GET /cb?code=the-code&state=" STATE " HTTP/1.1\r\n\r\n" } };
	struct mc_redirect r;
	char *msg;

	(void)state;
	assert_int_equal(run(&s, "http://127.0.0.1/cb", 30, "me", &r, &msg),
	    MC_OK);
	assert_string_equal(r.code, "the-code");
	assert_non_null(strstr(answer_of(&s, 0), "HTTP/1.1 404"));
	mc_redirect_clear(&r);
	done(&s);
}

/* mc_listener_parse_head(): the request head alone, as the listener. */
static void
test_parse_head(void **state)
{
	static const struct {
		const char *head;
		const char *path;
		enum mc_listener_req want;
		const char *target;
	} cases[] = {
		{ "GET /?code=c&state=s HTTP/1.1\r\nHost: x\r\n\r\n", "/",
		  MC_LISTENER_REQ_GET, "/?code=c&state=s" },
		{ "GET /cb#f HTTP/1.0\n\n", "/cb", MC_LISTENER_REQ_GET,
		  "/cb#f" },
		{ "GET /?code=c HTTP/1.1\r\nHost: x\r\n", "/",
		  MC_LISTENER_REQ_INCOMPLETE, NULL },
		{ "", "/", MC_LISTENER_REQ_INCOMPLETE, NULL },
		{ "GET /cb?x HTTP/1.1\r\n\r\n", "/", MC_LISTENER_REQ_NOT_FOUND,
		  NULL },
		{ "GET /cbx HTTP/1.1\r\n\r\n", "/cb", MC_LISTENER_REQ_NOT_FOUND,
		  NULL },
		{ "GET /favicon.ico HTTP/1.1\r\n\r\n", "/",
		  MC_LISTENER_REQ_NOT_FOUND, NULL },
		{ "POST /?code=c HTTP/1.1\r\n\r\n", "/", MC_LISTENER_REQ_METHOD,
		  NULL },
		{ "GET /\r\n\r\n", "/", MC_LISTENER_REQ_BAD, NULL },
		{ "GET / SPDY/3\r\n\r\n", "/", MC_LISTENER_REQ_BAD, NULL },
		{ "\r\n\r\n", "/", MC_LISTENER_REQ_BAD, NULL },
		{ "GET  HTTP/1.1\r\n\r\n", "/", MC_LISTENER_REQ_NOT_FOUND,
		  NULL },
	};
	char buf[MC_LISTENER_MAX_REQUEST + 1], *target;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].head);
		memcpy(buf, cases[i].head, len);
		target = (char *)"unset";
		assert_int_equal(mc_listener_parse_head(buf, len, cases[i].path,
		    &target), cases[i].want);
		if (cases[i].target != NULL)
			assert_string_equal(target, cases[i].target);
		else
			assert_null(target);
		if (cases[i].want == MC_LISTENER_REQ_INCOMPLETE)
			assert_memory_equal(buf, cases[i].head, len);
	}
	/* A NUL byte ends the text: the empty line after it is not seen. */
	memcpy(buf, "GET / HTTP/1.1\r\n\0\r\n\r\n", 21);
	assert_int_equal(mc_listener_parse_head(buf, 21, "/", &target),
	    MC_LISTENER_REQ_INCOMPLETE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_head),
		cmocka_unit_test(test_good_redirect_and_404),
		cmocka_unit_test(test_forged_keeps_waiting),
		cmocka_unit_test(test_reply_after_the_exchange),
		cmocka_unit_test(test_free_tells_the_browser),
		cmocka_unit_test(test_flood_does_not_drop_the_redirect),
		cmocka_unit_test(test_stalled_requests_make_room),
		cmocka_unit_test(test_interrupted),
		cmocka_unit_test(test_slow_connection_does_not_block),
		cmocka_unit_test(test_oversize_refused),
		cmocka_unit_test(test_error_redirect),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_localhost_both),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_redirect_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
