/*
 * Unit tests: auth/tcp - the early TCP connection on loopback: connected
 * (IPv4 and IPv6), refused, a port that drops SYNs (a full listen queue)
 * timing out, the next address tried at once after a refusal and after
 * MC_TCP_NEXT_MS while the first hangs, the families interleaved, cancel,
 * free while under way, and a name that does not resolve. Names the test
 * invents ("*.tcp.test") get scripted addresses from this file's own
 * getaddrinfo(), which the linker prefers to libc's; every other name goes
 * to libc's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "auth/clock.h"
#include "auth/tcp.h"

/* ------------------------------------------------------------------ */
/* Scripted names. */

#define MAX_SCRIPT 6

struct script_addr {
	int family;
	int port;
};

static struct script_addr script[MAX_SCRIPT];
static size_t nscript;
static int script_gai;		/* non-zero: getaddrinfo() fails with it */
static int script_delay_ms;	/* getaddrinfo() takes this long */
static char script_mark[] = "scripted";	/* ai_canonname of ours */

static void
script_set(size_t n, const struct script_addr *a)
{
	if (n != 0)
		memcpy(script, a, n * sizeof(*a));
	nscript = n;
	script_gai = 0;
}

int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	static int (*real)(const char *, const char *,
	    const struct addrinfo *, struct addrinfo **);
	struct addrinfo *head = NULL, **tail = &head, *ai;
	size_t i, len = node != NULL ? strlen(node) : 0;

	if (len < 9 || strcmp(node + len - 9, ".tcp.test") != 0) {
		if (real == NULL)
			*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
		return real(node, service, hints, res);
	}
	if (script_delay_ms > 0) {
		struct timespec ts = { script_delay_ms / 1000,
		    (script_delay_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	if (script_gai != 0)
		return script_gai;
	for (i = 0; i < nscript; i++) {
		/* One block: the addrinfo, then its address. */
		ai = calloc(1, sizeof(*ai) + sizeof(struct sockaddr_storage));
		if (ai == NULL)
			return EAI_MEMORY;
		ai->ai_family = script[i].family;
		ai->ai_socktype = SOCK_STREAM;
		ai->ai_protocol = IPPROTO_TCP;
		ai->ai_addr = (struct sockaddr *)(void *)(ai + 1);
		ai->ai_canonname = script_mark;
		if (script[i].family == AF_INET) {
			struct sockaddr_in *s = (void *)ai->ai_addr;

			s->sin_family = AF_INET;
			s->sin_port = htons((uint16_t)script[i].port);
			s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			ai->ai_addrlen = sizeof(*s);
		} else {
			struct sockaddr_in6 *s = (void *)ai->ai_addr;

			s->sin6_family = AF_INET6;
			s->sin6_port = htons((uint16_t)script[i].port);
			s->sin6_addr = in6addr_loopback;
			ai->ai_addrlen = sizeof(*s);
		}
		*tail = ai;
		tail = &ai->ai_next;
	}
	*res = head;
	return head != NULL ? 0 : EAI_NONAME;
}

void
freeaddrinfo(struct addrinfo *ai)
{
	static void (*real)(struct addrinfo *);
	struct addrinfo *next;

	if (ai != NULL && ai->ai_canonname == script_mark) {
		for (; ai != NULL; ai = next) {
			next = ai->ai_next;
			free(ai);
		}
		return;
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "freeaddrinfo");
	real(ai);
}

/* ------------------------------------------------------------------ */
/* Loopback peers. */

/* A listening socket on loopback (IPv4 or IPv6); its port in *port. */
static int
listener(int family, int backlog, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (void *)&ss;

		s->sin_family = AF_INET;
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (void *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_addr = in6addr_loopback;
		len = sizeof(*s);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, backlog), 0);
	len = sizeof(ss);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)(void *)&ss)->
	    sin_port : ((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
	return fd;
}

/*
 * A port that drops SYNs, as a firewall does: a listen queue of 0, filled
 * by one connection never accepted (tests/peers/blackhole.pl's way).
 * *filler is that connection.
 */
static int
blackhole(int family, int *port, int *filler)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = listener(family, 0, port);

	len = sizeof(ss);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*filler = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*filler >= 0);
	assert_int_equal(connect(*filler, (struct sockaddr *)&ss, len), 0);
	return fd;
}

/* A loopback port nothing listens on (bound, then closed). */
static int
closed_port(int family)
{
	int port, fd = listener(family, 1, &port);

	close(fd);
	return port;
}

/*
 * Lets a thread that was told to stop (or whose timeout passed) notice,
 * close its socket and end, so the next test starts clean.
 */
static void
settle(void)
{
	struct timespec ts = { 0, 3 * MC_TCP_POLL_MS * 1000000L };

	nanosleep(&ts, NULL);
}

static int
peer_port(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ?
	    ((const struct sockaddr_in *)(const void *)ss)->sin_port :
	    ((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
}

/*
 * Connects to a name with the n scripted addresses a; asserts that the
 * address that won is family's loopback at port, and returns how long it
 * took (ms).
 */
static long long
connect_scripted(size_t n, const struct script_addr *a, int family, int port)
{
	struct sockaddr_storage ss;
	struct mc_tcp *t;
	long long t0 = mc_clock_ms(), el;
	int fd;

	script_set(n, a);
	t = mc_tcp_start("scripted.tcp.test", 25, 5000);
	assert_non_null(t);
	assert_int_equal(mc_tcp_wait(t, NULL), MC_TCP_CONNECTED);
	el = mc_clock_ms() - t0;
	fd = mc_tcp_take(t, &ss, NULL);
	assert_true(fd >= 0);
	assert_int_equal(ss.ss_family, family);
	assert_int_equal(peer_port(&ss), port);
	close(fd);
	mc_tcp_free(t);
	return el;
}

/* ------------------------------------------------------------------ */

static void
test_connects(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	struct mc_tcp *t;
	int port, lfd = listener(AF_INET, 4, &port), fd, a;

	(void)state;
	t = mc_tcp_start("127.0.0.1", port, 5000);
	assert_non_null(t);
	assert_int_equal(mc_tcp_wait(t, NULL), MC_TCP_CONNECTED);
	assert_int_equal(mc_tcp_wait(t, NULL), MC_TCP_CONNECTED);
	assert_int_equal(mc_tcp_error(t), 0);
	fd = mc_tcp_take(t, &ss, &len);
	assert_true(fd >= 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(peer_port(&ss), port);
	/* Taken once only. */
	assert_int_equal(mc_tcp_take(t, NULL, NULL), -1);
	mc_tcp_free(t);
	/* It is the connection the listener sees. */
	a = accept(lfd, NULL, NULL);
	assert_true(a >= 0);
	assert_int_equal(write(fd, "hi", 2), 2);
	{
		char b[2];

		assert_int_equal(read(a, b, 2), 2);
		assert_memory_equal(b, "hi", 2);
	}
	close(a);
	close(fd);
	close(lfd);
}

static void
test_connects_ipv6_literal(void **state)
{
	struct sockaddr_storage ss;
	struct mc_tcp *t;
	int port, lfd = listener(AF_INET6, 4, &port), fd;

	(void)state;
	t = mc_tcp_start("::1", port, 5000);
	assert_non_null(t);
	assert_int_equal(mc_tcp_wait(t, NULL), MC_TCP_CONNECTED);
	fd = mc_tcp_take(t, &ss, NULL);
	assert_true(fd >= 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(peer_port(&ss), port);
	close(fd);
	mc_tcp_free(t);
	close(lfd);
}

static void
test_refused(void **state)
{
	struct mc_tcp *t;
	long long t0 = mc_clock_ms();

	(void)state;
	t = mc_tcp_start("127.0.0.1", closed_port(AF_INET), 5000);
	assert_non_null(t);
	assert_int_equal(mc_tcp_wait(t, NULL), MC_TCP_FAILED);
	assert_int_equal(mc_tcp_error(t), ECONNREFUSED);
	assert_int_equal(mc_tcp_take(t, NULL, NULL), -1);
	assert_true(mc_clock_ms() - t0 < 2000);
	mc_tcp_free(t);
}

static void
test_timeout(void **state)
{
	struct mc_tcp *t;
	long long t0, el;
	int port, filler, bh = blackhole(AF_INET, &port, &filler);

	(void)state;
	t0 = mc_clock_ms();
	t = mc_tcp_start("127.0.0.1", port, 600);
	assert_non_null(t);
	assert_int_equal(mc_tcp_wait(t, NULL), MC_TCP_TIMEOUT);
	el = mc_clock_ms() - t0;
	assert_true(el >= 550);
	assert_true(el < 3000);
	assert_int_equal(mc_tcp_take(t, NULL, NULL), -1);
	mc_tcp_free(t);
	settle();
	close(filler);
	close(bh);
}

/* A refused address: the next one is tried at once, not after the delay. */
static void
test_next_after_refusal(void **state)
{
	int port, lfd = listener(AF_INET, 4, &port);
	struct script_addr a[2] = {
		{ AF_INET, closed_port(AF_INET) }, { AF_INET, port },
	};

	(void)state;
	assert_true(connect_scripted(2, a, AF_INET, port) < MC_TCP_NEXT_MS);
	close(lfd);
}

/*
 * A refusal while another attempt still hangs: the next address starts at
 * once, not MC_TCP_NEXT_MS after the refused one.
 */
static void
test_next_after_refusal_pending(void **state)
{
	long long el;
	int bport, filler, bh = blackhole(AF_INET, &bport, &filler);
	int port, lfd = listener(AF_INET, 4, &port);
	struct script_addr a[3] = {
		{ AF_INET, bport }, { AF_INET, closed_port(AF_INET) },
		{ AF_INET, port },
	};

	(void)state;
	el = connect_scripted(3, a, AF_INET, port);
	assert_true(el >= MC_TCP_NEXT_MS - 20);
	assert_true(el < 2 * MC_TCP_NEXT_MS - 20);
	close(lfd);
	close(filler);
	close(bh);
}

/*
 * A first address that hangs (IPv4, SYNs dropped): the IPv6 one starts
 * MC_TCP_NEXT_MS later and wins, while the first is still pending.
 */
static void
test_next_after_delay(void **state)
{
	long long el;
	int bport, filler, bh = blackhole(AF_INET, &bport, &filler);
	int port, lfd = listener(AF_INET6, 4, &port);
	struct script_addr a[2] = { { AF_INET, bport }, { AF_INET6, port } };

	(void)state;
	el = connect_scripted(2, a, AF_INET6, port);
	assert_true(el >= MC_TCP_NEXT_MS - 20);
	assert_true(el < 2000);
	close(lfd);
	close(filler);
	close(bh);
}

/*
 * Families interleaved: v4 v4 v6 v6 from the resolver are tried v4 v6 v4
 * v6. With the first two hanging, the third (the second IPv4) wins, after
 * two delays; the second IPv6, last in order, is never needed.
 */
static void
test_interleaved(void **state)
{
	long long el;
	int b4, f4, bh4 = blackhole(AF_INET, &b4, &f4);
	int b6, f6, bh6 = blackhole(AF_INET6, &b6, &f6);
	int p4, l4 = listener(AF_INET, 4, &p4);
	int p6, l6 = listener(AF_INET6, 4, &p6);
	struct script_addr a[4] = {
		{ AF_INET, b4 }, { AF_INET, p4 }, { AF_INET6, b6 },
		{ AF_INET6, p6 },
	};

	(void)state;
	el = connect_scripted(4, a, AF_INET, p4);
	assert_true(el >= 2 * MC_TCP_NEXT_MS - 20);
	assert_true(el < 3000);
	close(l4);
	close(l6);
	close(f4);
	close(bh4);
	close(f6);
	close(bh6);
}

/*
 * A name whose lookup outlives the timeout: the waiter gives up at the
 * deadline, not when the resolver ends.
 */
static void
test_resolve_outlives_deadline(void **state)
{
	struct timespec ts = { 0, 700 * 1000000L };
	struct script_addr a[1] = { { AF_INET, 25 } };
	struct mc_tcp *t;
	long long t0, el;

	(void)state;
	script_set(1, a);
	script_delay_ms = 900;
	t0 = mc_clock_ms();
	t = mc_tcp_start("slow.tcp.test", 25, 300);
	assert_non_null(t);
	assert_int_equal(mc_tcp_wait(t, NULL), MC_TCP_TIMEOUT);
	el = mc_clock_ms() - t0;
	assert_true(el >= 280);
	assert_true(el < 800);
	assert_true(mc_tcp_deadline(t) <= t0 + 300 + 5);
	mc_tcp_free(t);
	nanosleep(&ts, NULL);	/* the thread's lookup ends, and it frees */
	script_delay_ms = 0;
}

/*
 * Connected, never taken: mc_tcp_free() closes the socket (the server
 * sees the end) and no descriptor stays open.
 */
static void
test_free_connected(void **state)
{
	struct timeval tv = { 2, 0 };
	struct mc_tcp *t;
	char c;
	int port, lfd = listener(AF_INET, 4, &port), a, probe, before, after;

	(void)state;
	settle();
	probe = dup(0);
	before = probe;
	close(probe);
	t = mc_tcp_start("127.0.0.1", port, 5000);
	assert_non_null(t);
	assert_int_equal(mc_tcp_wait(t, NULL), MC_TCP_CONNECTED);
	mc_tcp_free(t);
	settle();
	a = accept(lfd, NULL, NULL);
	assert_true(a >= 0);
	assert_int_equal(setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	assert_int_equal(read(a, &c, 1), 0);	/* closed by us */
	close(a);
	after = dup(0);
	close(after);
	assert_int_equal(after, before);
	close(lfd);
}

static void
test_noresolve(void **state)
{
	struct mc_tcp *t;

	(void)state;
	script_set(0, NULL);
	script_gai = EAI_NONAME;
	t = mc_tcp_start("none.tcp.test", 25, 5000);
	assert_non_null(t);
	assert_int_equal(mc_tcp_wait(t, NULL), MC_TCP_NORESOLVE);
	assert_int_equal(mc_tcp_error(t), EAI_NONAME);
	mc_tcp_free(t);
	script_gai = 0;
}

static void *
cancel_later(void *arg)
{
	struct timespec ts = { 0, 150 * 1000000L };

	nanosleep(&ts, NULL);
	atomic_store((atomic_int *)arg, 1);
	return NULL;
}

/* A waiter told to stop stops soon, long before the timeout. */
static void
test_cancel(void **state)
{
	struct mc_tcp *t;
	atomic_int cancel;
	pthread_t thr;
	long long t0, el;
	int port, filler, bh = blackhole(AF_INET, &port, &filler);

	(void)state;
	atomic_init(&cancel, 0);
	t0 = mc_clock_ms();
	t = mc_tcp_start("127.0.0.1", port, 20000);
	assert_non_null(t);
	assert_int_equal(pthread_create(&thr, NULL, cancel_later, &cancel), 0);
	assert_int_equal(mc_tcp_wait(t, &cancel), MC_TCP_CANCELLED);
	el = mc_clock_ms() - t0;
	pthread_join(thr, NULL);
	assert_true(el >= 140);
	assert_true(el < 150 + 3 * MC_TCP_POLL_MS + 1000);
	/* The outcome stays. */
	assert_int_equal(mc_tcp_wait(t, NULL), MC_TCP_CANCELLED);
	mc_tcp_free(t);
	settle();
	close(filler);
	close(bh);
}

/*
 * Freed while the thread still connects: returns at once; the thread
 * notices within MC_TCP_POLL_MS, closes its socket and frees. The file
 * descriptors in use come back to what they were.
 */
static void
test_free_pending(void **state)
{
	struct mc_tcp *t;
	long long t0;
	int port, filler, bh = blackhole(AF_INET, &port, &filler), probe, before, after;

	(void)state;
	settle();
	probe = dup(0);
	before = probe;
	close(probe);
	t = mc_tcp_start("127.0.0.1", port, 20000);
	assert_non_null(t);
	t0 = mc_clock_ms();
	mc_tcp_free(t);
	assert_true(mc_clock_ms() - t0 < 100);
	settle();
	after = dup(0);
	close(after);
	assert_int_equal(after, before);
	close(filler);
	close(bh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connects),
		cmocka_unit_test(test_connects_ipv6_literal),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_next_after_refusal),
		cmocka_unit_test(test_next_after_refusal_pending),
		cmocka_unit_test(test_next_after_delay),
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_resolve_outlives_deadline),
		cmocka_unit_test(test_free_connected),
		cmocka_unit_test(test_noresolve),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_free_pending),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
