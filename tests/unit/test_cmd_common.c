/*
 * Unit tests: cmd/common.c - cmd_read_secret on a real pseudo-terminal
 * (echo off while reading, back on after a signal, an over-long line
 * refused) and on a pipe. Linked with cmd/common.o (see the Makefile).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "auth/err.h"
#include "auth/secmem.h"
#include "cmd/cmd.h"

/* A child reading a secret from the slave side of a pty. */
struct reader {
	pid_t pid;
	int master;	/* what the user types goes in here */
	int slave;	/* kept open here to look at its termios */
	int report;	/* the child's "RC TEXT", then EOF */
};

static void
reader_start(struct reader *r, size_t max)
{
	struct rlimit none = { 0, 0 };
	char *out = NULL, *msg = NULL;
	int p[2], rc;

	assert_int_equal(openpty(&r->master, &r->slave, NULL, NULL, NULL), 0);
	assert_int_equal(pipe(p), 0);
	fflush(stdout);
	fflush(stderr);
	r->pid = fork();
	assert_true(r->pid >= 0);
	if (r->pid == 0) {
		/* No cmocka here: report, and leave without its handlers. */
		setrlimit(RLIMIT_CORE, &none);	/* SIGQUIT: no core file */
		close(p[0]);
		close(r->master);
		if (dup2(r->slave, STDIN_FILENO) < 0 ||
		    dup2(r->slave, STDERR_FILENO) < 0)
			_exit(99);
		rc = cmd_read_secret("Secret: ", max, &out, &msg);
		dprintf(p[1], "%d %s", rc, rc == MC_OK ? out : msg ? msg : "");
		_exit(0);
	}
	close(p[1]);
	r->report = p[0];
}

/* The child's report, NUL-terminated, within 10 s. */
static void
reader_report(struct reader *r, char *buf, size_t size)
{
	struct pollfd pfd = { r->report, POLLIN, 0 };
	size_t len = 0;
	ssize_t n;

	for (;;) {
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		n = read(r->report, buf + len, size - 1 - len);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
}

/* Waits for the child; its wait status. */
static int
reader_wait(struct reader *r)
{
	int status = 0, i;

	for (i = 0; i < 1000; i++) {
		if (waitpid(r->pid, &status, WNOHANG) == r->pid)
			return status;
		usleep(10000);
	}
	kill(r->pid, SIGKILL);
	waitpid(r->pid, &status, 0);
	fail_msg("the reader did not end");
	return status;
}

static void
reader_close(struct reader *r)
{
	close(r->master);
	close(r->slave);
	close(r->report);
}

static int
echo_on(const struct reader *r)
{
	struct termios t;

	assert_int_equal(tcgetattr(r->slave, &t), 0);
	return (t.c_lflag & ECHO) != 0;
}

/* Waits until the child has turned echo off (then it is reading). */
static void
wait_echo_off(const struct reader *r)
{
	int i;

	for (i = 0; i < 1000 && echo_on(r); i++)
		usleep(5000);
	assert_false(echo_on(r));
}

static void
type(const struct reader *r, const char *text)
{
	assert_int_equal(write(r->master, text, strlen(text)),
	    (ssize_t)strlen(text));
}

static void
test_tty_reads_without_echo(void **state)
{
	struct reader r;
	char got[256];
	int status;

	(void)state;
	reader_start(&r, 16);
	wait_echo_off(&r);
	type(&r, "s3cret\n");
	reader_report(&r, got, sizeof(got));
	assert_string_equal(got, "0 s3cret");
	status = reader_wait(&r);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(echo_on(&r));
	reader_close(&r);
}

/* Ended by sig while echo is off: the terminal has echo again. */
static void
signal_restores_echo(int sig)
{
	struct reader r;
	int status;

	reader_start(&r, 16);
	wait_echo_off(&r);
	type(&r, "half-typed");	/* no newline: still reading */
	usleep(20000);
	assert_int_equal(kill(r.pid, sig), 0);
	status = reader_wait(&r);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), sig);
	assert_true(echo_on(&r));
	reader_close(&r);
}

static void
test_tty_sigint_restores_echo(void **state)
{
	(void)state;
	signal_restores_echo(SIGINT);
}

static void
test_tty_sigterm_sighup_sigquit_restore_echo(void **state)
{
	(void)state;
	signal_restores_echo(SIGTERM);
	signal_restores_echo(SIGHUP);
	signal_restores_echo(SIGQUIT);
}

/* A signal ignored by the caller stays ignored while reading. */
static void
test_tty_ignored_signal_stays_ignored(void **state)
{
	struct sigaction ign, old;
	struct reader r;
	char got[256];

	(void)state;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGHUP, &ign, &old), 0);
	reader_start(&r, 16);
	assert_int_equal(sigaction(SIGHUP, &old, NULL), 0);
	wait_echo_off(&r);
	assert_int_equal(kill(r.pid, SIGHUP), 0);
	usleep(20000);
	type(&r, "still-here\n");
	reader_report(&r, got, sizeof(got));
	assert_string_equal(got, "0 still-here");
	reader_wait(&r);
	reader_close(&r);
}

static void
test_tty_refuses_overlong_line(void **state)
{
	struct reader r;
	char got[256], c;
	int status;

	(void)state;
	reader_start(&r, 16);
	wait_echo_off(&r);
	type(&r, "0123456789abcdefXYZ\n");	/* 19 bytes */
	reader_report(&r, got, sizeof(got));
	assert_string_equal(got, "-3 the secret on stdin is longer than 16 "
	    "bytes");
	status = reader_wait(&r);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(echo_on(&r));
	/* Nothing of the line is left for whoever reads the terminal next. */
	assert_int_equal(fcntl(r.slave, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(r.slave, &c, 1), -1);
	assert_int_equal(errno, EAGAIN);
	reader_close(&r);
}

static void
test_tty_takes_max_bytes(void **state)
{
	struct reader r;
	char got[256];

	(void)state;
	reader_start(&r, 16);
	wait_echo_off(&r);
	type(&r, "0123456789abcdef\r\n");
	reader_report(&r, got, sizeof(got));
	assert_string_equal(got, "0 0123456789abcdef");
	reader_wait(&r);
	reader_close(&r);

	reader_start(&r, 16);
	wait_echo_off(&r);
	type(&r, "0123456789abcdefX\n");
	reader_report(&r, got, sizeof(got));
	assert_string_equal(got, "-3 the secret on stdin is longer than 16 "
	    "bytes");
	reader_wait(&r);
	reader_close(&r);
}

/* cmd_read_secret with input on a pipe as stdin: rc, and *out or msg. */
static int
read_pipe(const char *input, size_t inlen, size_t max, char **out,
    char **msg)
{
	int p[2], saved, rc;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], input, inlen), (ssize_t)inlen);
	close(p[1]);
	saved = dup(STDIN_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(p[0], STDIN_FILENO) >= 0);
	close(p[0]);
	*out = NULL;
	*msg = NULL;
	rc = cmd_read_secret("unused: ", max, out, msg);
	assert_true(dup2(saved, STDIN_FILENO) >= 0);
	close(saved);
	return rc;
}

#define PIPE_OK(in, max, want) do { \
	char *out_, *msg_; \
	assert_int_equal(read_pipe(in, sizeof(in) - 1, max, &out_, &msg_), \
	    MC_OK); \
	assert_string_equal(out_, want); \
	mc_free_secret(out_); \
} while (0)

#define PIPE_REFUSED(in, max, want) do { \
	char *out_, *msg_; \
	assert_int_equal(read_pipe(in, sizeof(in) - 1, max, &out_, &msg_), \
	    MC_ERR_DATA); \
	assert_null(out_); \
	assert_string_equal(msg_, want); \
	free(msg_); \
} while (0)

static void
test_pipe(void **state)
{
	(void)state;
	PIPE_OK("0123456789abcdef", 16, "0123456789abcdef");
	PIPE_OK("0123456789abcdef\n", 16, "0123456789abcdef");
	PIPE_OK("0123456789abcdef\r\n", 16, "0123456789abcdef");
	PIPE_OK("pw\n\n\r\n", 16, "pw");
	PIPE_REFUSED("0123456789abcdefX", 16, "the secret on stdin is longer "
	    "than 16 bytes");
	PIPE_REFUSED("0123456789abcdefX\n", 16, "the secret on stdin is "
	    "longer than 16 bytes");
	PIPE_REFUSED("a\nb\n", 16, "the secret on stdin has more than one "
	    "line");
	PIPE_REFUSED("ab\0cd\n", 16, "the secret holds a NUL byte");
	PIPE_REFUSED("\n", 16, "nothing was read from stdin");
	PIPE_REFUSED("", 16, "nothing was read from stdin");
}

int
main(void)
{
	/*
	 * Known dispositions however the test is started: a background job
	 * of a non-interactive shell inherits SIGINT and SIGQUIT ignored,
	 * and cmd_read_secret rightly leaves ignored signals ignored.
	 */
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tty_reads_without_echo),
		cmocka_unit_test(test_tty_sigint_restores_echo),
		cmocka_unit_test(test_tty_sigterm_sighup_sigquit_restore_echo),
		cmocka_unit_test(test_tty_ignored_signal_stays_ignored),
		cmocka_unit_test(test_tty_refuses_overlong_line),
		cmocka_unit_test(test_tty_takes_max_bytes),
		cmocka_unit_test(test_pipe),
	};
	size_t k;

	for (k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
		signal(sigs[k], SIG_DFL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
