/*
 * Unit tests: auth/doctor - the TCP check and the 587/465/25 verdicts with
 * an injected connect function (no network), the real probe on loopback
 * (open, refused, and a full listen queue that drops connections), and
 * the config check without a network.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/doctor.h"
#include "auth/err.h"

/* The fake network: a state per port, and what was asked. */
struct fake {
	int ports[8];
	enum mc_probe states[8];
	size_t n;
	int calls;
	int asked[16];
	size_t nasked;
	int last_timeout_ms;
};

static void
fake_probe(void *ctx, const char *host, const int *ports, size_t n,
    int timeout_ms, enum mc_probe *states, int *errnos)
{
	struct fake *f = ctx;
	size_t i, k;

	assert_string_equal(host, "smtp.example.com");
	f->calls++;
	f->last_timeout_ms = timeout_ms;
	for (i = 0; i < n; i++) {
		if (f->nasked < 16)
			f->asked[f->nasked++] = ports[i];
		states[i] = MC_PROBE_REFUSED;
		errnos[i] = 111;
		for (k = 0; k < f->n; k++)
			if (f->ports[k] == ports[i])
				states[i] = f->states[k];
		if (states[i] == MC_PROBE_OPEN)
			errnos[i] = 0;
	}
}

static void
fake_set(struct fake *f, int port, enum mc_probe st)
{
	f->ports[f->n] = port;
	f->states[f->n] = st;
	f->n++;
}

/* Runs the tcp check of svc at port against f. */
static void
run_tcp(struct fake *f, const char *svc, int port, int timeout,
    struct mc_check *c)
{
	struct mc_doctor_opts o = MC_DOCTOR_OPTS_INIT;

	o.probe = fake_probe;
	o.probe_ctx = f;
	o.timeout = timeout;
	assert_int_equal(mc_doctor_tcp(&o, "me@example.com", svc,
	    "smtp.example.com", port, c), MC_OK);
}

#define HAS(s, sub) do { \
	if (strstr((s), (sub)) == NULL) \
		fail_msg("\"%s\" lacks \"%s\"", (s), (sub)); \
} while (0)

static void
test_tcp_open(void **state)
{
	struct fake f;
	struct mc_check c;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_set(&f, 587, MC_PROBE_OPEN);
	run_tcp(&f, "smtp", 587, 7, &c);
	assert_string_equal(c.name, "tcp smtp");
	assert_int_equal(c.state, MC_CHECK_OK);
	assert_null(c.advice);
	HAS(c.detail, "smtp.example.com:587: connected");
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.last_timeout_ms, 7000);
	mc_check_clear(&c);
}

/* Only 25 times out: the provider blocks it; 587 and 465 work. */
static void
test_only_25_blocked(void **state)
{
	struct fake f;
	struct mc_check c;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_set(&f, 25, MC_PROBE_TIMEOUT);
	fake_set(&f, 587, MC_PROBE_OPEN);
	fake_set(&f, 465, MC_PROBE_OPEN);
	run_tcp(&f, "smtp", 25, 10, &c);
	assert_int_equal(c.state, MC_CHECK_FAILED);
	assert_int_equal(c.err, MC_ERR_NET);
	HAS(c.detail, "smtp.example.com:25: timed out after 10 s");
	HAS(c.detail, "probes: 587 open, 465 open, 25 timed out");
	HAS(c.advice, "only port 25 is blocked");
	HAS(c.advice, "smtp = smtp://smtp.example.com:587 in [account "
	    "me@example.com]");
	/* The second probe: the three ports at once, 2 s at most. */
	assert_int_equal(f.calls, 2);
	assert_int_equal(f.nasked, 4);
	assert_int_equal(f.asked[1], 587);
	assert_int_equal(f.asked[2], 465);
	assert_int_equal(f.asked[3], 25);
	assert_int_equal(f.last_timeout_ms, 2000);
	mc_check_clear(&c);

	/* With 587 closed too, 465 is the way. */
	memset(&f, 0, sizeof(f));
	fake_set(&f, 25, MC_PROBE_TIMEOUT);
	fake_set(&f, 587, MC_PROBE_REFUSED);
	fake_set(&f, 465, MC_PROBE_OPEN);
	run_tcp(&f, "smtp", 25, 1, &c);
	HAS(c.advice, "smtps://smtp.example.com:465");
	/* A step timeout shorter than 2 s bounds the probes too. */
	assert_int_equal(f.last_timeout_ms, 1000);
	mc_check_clear(&c);
}

/* All three time out: a firewall or proxy. */
static void
test_all_blocked(void **state)
{
	struct fake f;
	struct mc_check c;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_set(&f, 25, MC_PROBE_TIMEOUT);
	fake_set(&f, 587, MC_PROBE_TIMEOUT);
	fake_set(&f, 465, MC_PROBE_TIMEOUT);
	run_tcp(&f, "smtp", 587, 5, &c);
	assert_int_equal(c.state, MC_CHECK_FAILED);
	HAS(c.detail, "587 timed out, 465 timed out, 25 timed out");
	HAS(c.advice, "outbound firewall or a proxy");
	assert_null(strstr(c.advice, "only port 25"));
	mc_check_clear(&c);
}

/* Refused: nothing listens; the advice names the usual ports. */
static void
test_refused(void **state)
{
	struct fake f;
	struct mc_check c;

	(void)state;
	memset(&f, 0, sizeof(f));
	run_tcp(&f, "smtp", 2525, 5, &c);
	assert_int_equal(c.state, MC_CHECK_FAILED);
	HAS(c.detail, "smtp.example.com:2525: connection refused");
	HAS(c.detail, "587 refused, 465 refused, 25 refused");
	HAS(c.advice, "runs no mail submission service");
	mc_check_clear(&c);

	/* 587 open while the configured port is refused: use 587. */
	memset(&f, 0, sizeof(f));
	fake_set(&f, 587, MC_PROBE_OPEN);
	run_tcp(&f, "smtp", 2525, 5, &c);
	HAS(c.advice, "port 587 is open: set smtp = smtp://smtp.example.com"
	    ":587");
	mc_check_clear(&c);

	/* IMAP: no port probe, advice about its own port. */
	memset(&f, 0, sizeof(f));
	run_tcp(&f, "imap", 993, 5, &c);
	assert_int_equal(f.calls, 1);
	HAS(c.detail, "connection refused");
	HAS(c.advice, "check the port in imap of [account me@example.com] "
	    "(993 with imaps://)");
	mc_check_clear(&c);
}

static void
test_unreachable_and_timeout(void **state)
{
	struct fake f;
	struct mc_check c;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_set(&f, 993, MC_PROBE_UNREACHABLE);
	run_tcp(&f, "imap", 993, 5, &c);
	HAS(c.detail, "unreachable");
	HAS(c.advice, "no route");
	mc_check_clear(&c);

	memset(&f, 0, sizeof(f));
	fake_set(&f, 995, MC_PROBE_TIMEOUT);
	run_tcp(&f, "pop", 995, 3, &c);
	HAS(c.detail, "timed out after 3 s");
	HAS(c.advice, "allow outgoing connections to smtp.example.com:995");
	mc_check_clear(&c);

	memset(&f, 0, sizeof(f));
	fake_set(&f, 587, MC_PROBE_NORESOLVE);
	run_tcp(&f, "smtp", 587, 3, &c);
	assert_int_equal(c.err, MC_ERR_CONFIG);
	assert_int_equal(f.calls, 1);	/* no port probe for a bad name */
	mc_check_clear(&c);
}

/* A loopback listener, its port; backlog as given. */
static int
listener(int backlog, int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* The real probe: open, refused, and dropped (a full listen queue). */
static void
test_real_probe(void **state)
{
	enum mc_probe st[3];
	int err[3], ports[3], open_fd, full_fd, closed_fd, fill[4];
	size_t i;

	(void)state;
	open_fd = listener(8, &ports[0]);
	closed_fd = listener(1, &ports[1]);
	close(closed_fd);	/* nothing listens there now */
	full_fd = listener(0, &ports[2]);
	/* Fill its accept queue: later SYNs are dropped. */
	for (i = 0; i < 4; i++) {
		enum mc_probe s;
		int e;

		mc_probe_tcp(NULL, "127.0.0.1", &ports[2], 1, 300, &s, &e);
		fill[i] = s;
	}
	assert_int_equal(fill[0], MC_PROBE_OPEN);
	mc_probe_tcp(NULL, "127.0.0.1", ports, 3, 500, st, err);
	assert_int_equal(st[0], MC_PROBE_OPEN);
	assert_int_equal(err[0], 0);
	assert_int_equal(st[1], MC_PROBE_REFUSED);
	assert_int_equal(st[2], MC_PROBE_TIMEOUT);
	close(open_fd);
	close(full_fd);

	mc_probe_tcp(NULL, "no-such-host.invalid", ports, 1, 2000, st, err);
	assert_true(st[0] == MC_PROBE_NORESOLVE || st[0] == MC_PROBE_TIMEOUT);
}

/* The config check decides alone, and what depends on it is skipped. */
static void
test_config_only(void **state)
{
	struct mc_doctor_opts o = MC_DOCTOR_OPTS_INIT;
	struct mc_doctor_report rep = MC_DOCTOR_REPORT_INIT;
	char dir[] = "/tmp/mc-doctor-test.XXXXXX", path[256];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true(snprintf(path, sizeof(path), "%s/config", dir) <
	    (int)sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[account other@example.com]\nauth = password\n"
	    "smtp = smtps://127.0.0.1:1\n", f);
	fclose(f);
	o.config_path = path;
	o.account = "me@example.com";
	assert_int_equal(mc_doctor_run(&o, &rep, NULL), MC_OK);
	assert_int_equal(rep.n, 2);
	assert_string_equal(rep.checks[0].name, "config");
	assert_int_equal(rep.checks[0].state, MC_CHECK_FAILED);
	HAS(rep.checks[0].detail, "has no [account me@example.com]");
	HAS(rep.checks[0].advice, "mailcred add me@example.com");
	assert_string_equal(rep.checks[1].name, "store");
	assert_int_equal(rep.checks[1].state, MC_CHECK_SKIPPED);
	HAS(rep.checks[1].detail, "the account does not resolve");
	assert_null(rep.checks[1].advice);
	assert_int_equal(rep.err, MC_ERR_CONFIG);
	assert_int_equal(rep.first_failed, 0);
	mc_doctor_report_clear(&rep);
	assert_int_equal(rep.n, 0);
	unlink(path);
	rmdir(dir);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(mc_check_state_name(MC_CHECK_OK), "ok");
	assert_string_equal(mc_check_state_name(MC_CHECK_FAILED), "FAILED");
	assert_string_equal(mc_check_state_name(MC_CHECK_SKIPPED), "skipped");
	assert_string_equal(mc_probe_name(MC_PROBE_TIMEOUT), "timed out");
	mc_check_clear(NULL);
	mc_doctor_report_clear(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_open),
		cmocka_unit_test(test_only_25_blocked),
		cmocka_unit_test(test_all_blocked),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_unreachable_and_timeout),
		cmocka_unit_test(test_real_probe),
		cmocka_unit_test(test_config_only),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
