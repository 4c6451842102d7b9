/*
 * Unit tests: cmd/tty.c - the QR code drawing (read back module by module
 * and compared with libqrencode's matrix, quiet zone included; scanned by
 * zbarimg from an image made of what was read back), the width limit, the
 * locale's choice of style, and the countdown line through a memory
 * stream and an injected clock, and its cleanup on a signal. Linked with
 * cmd/tty.o (see the Makefile).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <qrencode.h>

#include "cmd/tty.h"

#define URL "http://127.0.0.1:41234/device?user_code=WDJB-MJHT"
#define M CMD_QR_MARGIN

/* Everything f (an open_memstream) holds, after closing it. */
static char *
drawn(char **buf, size_t *len, FILE *f)
{
	assert_int_equal(fclose(f), 0);
	(void)len;
	return *buf;
}

/* What libqrencode makes of text: light (1) or dark (0), with the zone. */
static unsigned char *
expected_matrix(const char *text, int *n)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	unsigned char *m;
	int x, y;

	assert_non_null(qr);
	*n = qr->width + 2 * M;
	m = malloc((size_t)*n * (size_t)*n);
	assert_non_null(m);
	for (y = 0; y < *n; y++)
		for (x = 0; x < *n; x++) {
			int qx = x - M, qy = y - M;

			m[y * *n + x] = qx < 0 || qy < 0 || qx >= qr->width ||
			    qy >= qr->width ||
			    !(qr->data[qy * qr->width + qx] & 1);
		}
	QRcode_free(qr);
	return m;
}

/*
 * Reads a UTF-8 drawing back into an n x n matrix (light 1); fails on any
 * other character, a wrong line length or count, or a light half below
 * the last row.
 */
static unsigned char *
read_utf8(const char *s, int n)
{
	unsigned char *m = calloc((size_t)n * (size_t)n, 1);
	int x, y = 0;

	assert_non_null(m);
	while (*s != '\0') {
		assert_true(y < n);
		for (x = 0; *s != '\n'; x++) {
			int top, bottom;

			assert_true(x < n);
			if (*s == ' ') {
				top = bottom = 0;
				s++;
			} else if (strncmp(s, "\xe2\x96\x80", 3) == 0) {
				top = 1, bottom = 0;
				s += 3;
			} else if (strncmp(s, "\xe2\x96\x84", 3) == 0) {
				top = 0, bottom = 1;
				s += 3;
			} else if (strncmp(s, "\xe2\x96\x88", 3) == 0) {
				top = bottom = 1;
				s += 3;
			} else {
				fail_msg("unexpected byte 0x%02x in line %d",
				    (unsigned char)*s, y / 2);
				return NULL;
			}
			m[y * n + x] = (unsigned char)top;
			if (y + 1 < n)
				m[(y + 1) * n + x] = (unsigned char)bottom;
			else
				assert_int_equal(bottom, 0);
		}
		assert_int_equal(x, n);
		s++;
		y += 2;
	}
	assert_int_equal(y, n + (n % 2));
	return m;
}

/* Reads an ASCII drawing ("##" light, "  " dark) back. */
static unsigned char *
read_ascii(const char *s, int n)
{
	unsigned char *m = calloc((size_t)n * (size_t)n, 1);
	int x, y = 0;

	assert_non_null(m);
	while (*s != '\0') {
		assert_true(y < n);
		for (x = 0; *s != '\n'; x++, s += 2) {
			assert_true(x < n);
			if (strncmp(s, "##", 2) == 0)
				m[y * n + x] = 1;
			else if (strncmp(s, "  ", 2) != 0)
				fail_msg("unexpected '%.2s' in line %d", s, y);
		}
		assert_int_equal(x, n);
		s++;
		y++;
	}
	assert_int_equal(y, n);
	return m;
}

static void
test_qr_utf8_matches_matrix(void **state)
{
	unsigned char *want, *got;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int n;

	(void)state;
	assert_int_equal(cmd_qr_write(f, URL, CMD_QR_UTF8, 0), 0);
	want = expected_matrix(URL, &n);
	/* A 50-byte URL at level L: version 3, 29 modules. */
	assert_int_equal(n, 29 + 2 * M);
	assert_int_equal(cmd_qr_width(URL, CMD_QR_UTF8), n);
	got = read_utf8(drawn(&buf, &len, f), n);
	assert_memory_equal(got, want, (size_t)n * (size_t)n);
	/* The quiet zone's first line is all full blocks: light ink. */
	assert_true(strncmp(buf, "\xe2\x96\x88\xe2\x96\x88", 6) == 0);
	free(got);
	free(want);
	free(buf);
}

static void
test_qr_ascii_matches_matrix(void **state)
{
	unsigned char *want, *got;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int n;

	(void)state;
	assert_int_equal(cmd_qr_write(f, "https://www.google.com/device",
	    CMD_QR_ASCII, 0), 0);
	want = expected_matrix("https://www.google.com/device", &n);
	assert_int_equal(cmd_qr_width("https://www.google.com/device",
	    CMD_QR_ASCII), 2 * n);
	got = read_ascii(drawn(&buf, &len, f), n);
	assert_memory_equal(got, want, (size_t)n * (size_t)n);
	free(got);
	free(want);
	free(buf);
}

/*
 * The drawing as a phone sees it on a light-on-dark terminal: what was
 * read back from the UTF-8 text, 6 pixels a module, surrounded by 6
 * modules of the terminal's dark background; zbarimg must find URL in it.
 */
static void
test_qr_scans(void **state)
{
	char *buf = NULL, path[] = "/tmp/mailcred-qr-XXXXXX", cmd[256];
	char result[512];
	size_t len = 0, got;
	FILE *f = open_memstream(&buf, &len), *img, *p;
	unsigned char *m;
	int n, fd, x, y, px = 6, bg = 6, side, status;

	(void)state;
	if (system("command -v zbarimg >/dev/null 2>&1") != 0) {
		/* tests/deps.sh installs zbar-tools. */
		skip();
		return;
	}
	assert_int_equal(cmd_qr_write(f, URL, CMD_QR_UTF8, 0), 0);
	free(expected_matrix(URL, &n));
	m = read_utf8(drawn(&buf, &len, f), n);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	img = fdopen(fd, "w");
	assert_non_null(img);
	side = (n + 2 * bg) * px;
	fprintf(img, "P1\n%d %d\n", side, side);
	for (y = 0; y < side; y++) {
		for (x = 0; x < side; x++) {
			int mx = x / px - bg, my = y / px - bg;
			int light = mx >= 0 && my >= 0 && mx < n && my < n &&
			    m[my * n + mx];

			fputs(light ? "0" : "1", img);	/* PBM: 1 is black */
		}
		fputc('\n', img);
	}
	assert_int_equal(fclose(img), 0);
	assert_true(snprintf(cmd, sizeof(cmd), "zbarimg -q --raw %s 2>/dev/null", path) <
	    (int)sizeof(cmd));
	p = popen(cmd, "r");
	assert_non_null(p);
	got = fread(result, 1, sizeof(result) - 1, p);
	result[got] = '\0';
	status = pclose(p);
	unlink(path);
	assert_int_equal(status, 0);
	assert_string_equal(result, URL "\n");
	free(m);
	free(buf);
}

/* With colours: each line wrapped in white-on-black, the same drawing. */
static void
test_qr_colors(void **state)
{
	static const char on[] = "\033[97;40m", off[] = "\033[0m\n";
	char *plainbuf = NULL, *colbuf = NULL, *p, *q, *nl;
	size_t plen = 0, clen = 0, lines = 0;
	FILE *f = open_memstream(&plainbuf, &plen);
	FILE *g = open_memstream(&colbuf, &clen);

	(void)state;
	assert_int_equal(cmd_qr_write_colors(f, URL, CMD_QR_UTF8, 0, 0), 0);
	assert_int_equal(cmd_qr_write_colors(g, URL, CMD_QR_UTF8, 0, 1), 0);
	fclose(f);
	fclose(g);
	assert_null(strchr(plainbuf, '\033'));
	for (p = plainbuf, q = colbuf; *p != '\0'; p = nl + 1, lines++) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_memory_equal(q, on, sizeof(on) - 1);
		q += sizeof(on) - 1;
		assert_memory_equal(q, p, (size_t)(nl - p));
		q += nl - p;
		assert_memory_equal(q, off, sizeof(off) - 1);
		q += sizeof(off) - 1;
	}
	assert_int_equal(*q, '\0');
	assert_true(lines > 10);
	free(plainbuf);
	free(colbuf);
}

static void
test_qr_width_limit(void **state)
{
	char *buf = NULL, *big;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int w = cmd_qr_width(URL, CMD_QR_UTF8);

	(void)state;
	assert_int_equal(w, 33);
	assert_int_equal(cmd_qr_width(URL, CMD_QR_ASCII), 66);
	/* One column short: left out, nothing written. */
	assert_int_equal(cmd_qr_write(f, URL, CMD_QR_UTF8, w - 1), 1);
	assert_int_equal(cmd_qr_write(f, URL, CMD_QR_ASCII, 2 * w - 1), 1);
	fflush(f);
	assert_int_equal(len, 0);
	/* Exactly as wide: drawn. */
	assert_int_equal(cmd_qr_write(f, URL, CMD_QR_UTF8, w), 0);
	fflush(f);
	assert_true(len > 0);
	assert_int_equal(fclose(f), 0);
	free(buf);

	/* Longer than any QR version holds (2953 bytes at level L). */
	big = malloc(3001);
	assert_non_null(big);
	memset(big, 'a', 3000);
	big[3000] = '\0';
	buf = NULL;
	len = 0;
	f = open_memstream(&buf, &len);
	assert_int_equal(cmd_qr_write(f, big, CMD_QR_UTF8, 0), -1);
	assert_int_equal(cmd_qr_width(big, CMD_QR_UTF8), -1);
	assert_int_equal(cmd_qr_write(f, "", CMD_QR_UTF8, 0), -1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(len, 0);
	free(buf);
	free(big);
}

static void
test_qr_style_for_locale(void **state)
{
	(void)state;
	setenv("LC_ALL", "C.UTF-8", 1);
	assert_int_equal(cmd_qr_style_for_locale(), CMD_QR_UTF8);
	setenv("LC_ALL", "C", 1);
	assert_int_equal(cmd_qr_style_for_locale(), CMD_QR_ASCII);
	setenv("LC_ALL", "POSIX", 1);
	assert_int_equal(cmd_qr_style_for_locale(), CMD_QR_ASCII);
	unsetenv("LC_ALL");
	/* The process's own locale is left as it was. */
	assert_string_equal(setlocale(LC_CTYPE, NULL), "C");
}

static void
test_countdown_format(void **state)
{
	static const struct {
		long left;
		const char *want;
	} cases[] = {
		{ 0, "Waiting: 0:00 left" },
		{ -5, "Waiting: 0:00 left" },
		{ 9, "Waiting: 0:09 left" },
		{ 59, "Waiting: 0:59 left" },
		{ 60, "Waiting: 1:00 left" },
		{ 14 * 60 + 32, "Waiting: 14:32 left" },
		{ 3599, "Waiting: 59:59 left" },
		{ 3600, "Waiting: 1:00:00 left" },
		{ 3723, "Waiting: 1:02:03 left" },
		{ 36000 + 59, "Waiting: 10:00:59 left" },
	};
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = cmd_countdown_format(buf, sizeof(buf), "Waiting",
		    cases[i].left);

		assert_int_equal(n, (int)strlen(cases[i].want));
		assert_string_equal(buf, cases[i].want);
	}
}

static void
test_countdown_line(void **state)
{
	struct cmd_countdown cd = CMD_COUNTDOWN_INIT;
	struct sigaction before, after;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	sigaction(SIGINT, NULL, &before);
	/* Not started: updates and the end do nothing. */
	cmd_countdown_update(&cd, 100);
	cmd_countdown_end(&cd);
	cmd_countdown_start(&cd, f, "Waiting for approval", 1000);
	cmd_countdown_update(&cd, 100);
	cmd_countdown_update(&cd, 100);		/* same second: no redraw */
	cmd_countdown_update(&cd, 101);
	cmd_countdown_update(&cd, 1000);
	cmd_countdown_update(&cd, 5000);	/* still 0:00: no redraw */
	cmd_countdown_end(&cd);
	cmd_countdown_end(&cd);			/* twice: nothing more */
	cmd_countdown_update(&cd, 200);		/* ended: nothing */
	assert_string_equal(drawn(&buf, &len, f),
	    "\rWaiting for approval: 15:00 left\033[K"
	    "\rWaiting for approval: 14:59 left\033[K"
	    "\rWaiting for approval: 0:00 left\033[K"
	    "\r\033[K");
	free(buf);
	sigaction(SIGINT, NULL, &after);
	assert_ptr_equal(after.sa_handler, before.sa_handler);

	/* Started and ended without a line drawn: nothing at all. */
	buf = NULL;
	len = 0;
	f = open_memstream(&buf, &len);
	cmd_countdown_start(&cd, f, "Waiting", 10);
	cmd_countdown_end(&cd);
	assert_string_equal(drawn(&buf, &len, f), "");
	free(buf);
}

/*
 * A SIGTERM while the line is shown: the line is cleared, and the
 * process still dies of SIGTERM.
 */
static void
test_countdown_signal(void **state)
{
	char out[256];
	size_t got = 0;
	ssize_t r;
	int p[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cmd_countdown cd = CMD_COUNTDOWN_INIT;
		FILE *f;

		close(p[0]);
		f = fdopen(p[1], "w");
		if (f == NULL)
			_exit(99);
		setvbuf(f, NULL, _IONBF, 0);
		cmd_countdown_start(&cd, f, "Waiting", 130);
		cmd_countdown_update(&cd, 5);
		raise(SIGTERM);
		_exit(98);	/* not reached */
	}
	close(p[1]);
	while ((r = read(p[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	assert_string_equal(out, "\rWaiting: 2:05 left\033[K\r\033[K");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qr_utf8_matches_matrix),
		cmocka_unit_test(test_qr_ascii_matches_matrix),
		cmocka_unit_test(test_qr_scans),
		cmocka_unit_test(test_qr_colors),
		cmocka_unit_test(test_qr_width_limit),
		cmocka_unit_test(test_qr_style_for_locale),
		cmocka_unit_test(test_countdown_format),
		cmocka_unit_test(test_countdown_line),
		cmocka_unit_test(test_countdown_signal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
