/*
 * cmd/tty.c - a QR code and a countdown on the terminal (see tty.h).
 *
 * The quiet zone is 2 modules, not the 4 that ISO/IEC 18004 asks of
 * print: the code is drawn on a screen, the zone is drawn explicitly in
 * light ink (the terminal's own background beyond it may be dark), and
 * phone readers (ZXing, zbar, the iOS and Android cameras) find a symbol
 * with 2 reliably; the unit test scans a drawing with zbarimg. It keeps
 * the drawing small: a login URL of about 50 bytes is a version 3 symbol,
 * 29 modules, so 33 columns in UTF-8 and 66 in ASCII (74 with 4, too wide
 * for an 80-column terminal once the URL grows a little).
 *
 * Error correction level L: a screen is not smudged or torn, and L keeps
 * the symbol a version smaller than M for the same URL.
 */
#include <dlfcn.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <qrencode.h>

#include "auth/dl.h"
#include "auth/err.h"
#include "cmd/tty.h"

#define QR_SONAME "libqrencode.so.4"
#define QR_PACKAGE "libqrencode4"

/*
 * libqrencode, opened on the first drawing (see auth/dl.h): through these
 * pointers, so that nothing here names a libqrencode symbol for the linker.
 */
static struct {
	int loaded;
	__typeof__(&QRcode_encodeString) encode_string;
	__typeof__(&QRcode_free) free;
} qrlib;

int
cmd_qr_load(char **errmsg)
{
	void *h = NULL, *encode, *release;
	int rc;

	if (qrlib.loaded)
		return MC_OK;
	rc = mc_dl_open(QR_SONAME, QR_PACKAGE, &h, errmsg);
	if (rc == MC_OK)
		rc = mc_dl_sym(h, QR_SONAME, QR_PACKAGE, "QRcode_encodeString",
		    &encode, errmsg);
	if (rc == MC_OK)
		rc = mc_dl_sym(h, QR_SONAME, QR_PACKAGE, "QRcode_free",
		    &release, errmsg);
	if (rc != MC_OK) {
		if (h != NULL)
			dlclose(h);
		return rc;
	}
	qrlib.encode_string = (__typeof__(&QRcode_encodeString))encode;
	qrlib.free = (__typeof__(&QRcode_free))release;
	qrlib.loaded = 1;
	return MC_OK;
}

/* The symbol for text, or NULL (also when libqrencode cannot be loaded). */
static QRcode *
qr_encode(const char *text)
{
	if (text == NULL || text[0] == '\0' || cmd_qr_load(NULL) != MC_OK)
		return NULL;
	return qrlib.encode_string(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
}

/* Whether the module at (x, y) of the drawing, quiet zone included, is light. */
static int
qr_light(const QRcode *qr, int x, int y)
{
	x -= CMD_QR_MARGIN;
	y -= CMD_QR_MARGIN;
	if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
		return 1;
	return !(qr->data[y * qr->width + x] & 1);
}

static int
qr_cols(const QRcode *qr, enum cmd_qr_style style)
{
	int n = qr->width + 2 * CMD_QR_MARGIN;

	return style == CMD_QR_ASCII ? 2 * n : n;
}

int
cmd_qr_width(const char *text, enum cmd_qr_style style)
{
	QRcode *qr = qr_encode(text);
	int cols;

	if (qr == NULL)
		return -1;
	cols = qr_cols(qr, style);
	qrlib.free(qr);
	return cols;
}

int
cmd_qr_write(FILE *f, const char *text, enum cmd_qr_style style,
    int max_cols)
{
	return cmd_qr_write_colors(f, text, style, max_cols, 0);
}

int
cmd_qr_write_colors(FILE *f, const char *text, enum cmd_qr_style style,
    int max_cols, int colors)
{
	/* Light modules in bright white on black, whatever the theme. */
	static const char sgr_on[] = "\033[97;40m", sgr_off[] = "\033[0m";
	/* UTF-8: at most 3 bytes a column; ASCII: 2 bytes a column. */
	static const char *const half[4] = { " ", "\xe2\x96\x80",
	    "\xe2\x96\x84", "\xe2\x96\x88" };	/* ' ', '▀', '▄', '█' */
	QRcode *qr = qr_encode(text);
	char *line = NULL;
	size_t len;
	int n, x, y, rc = -1;

	if (qr == NULL)
		goto out;
	if (max_cols > 0 && qr_cols(qr, style) > max_cols) {
		rc = 1;
		goto out;
	}
	n = qr->width + 2 * CMD_QR_MARGIN;
	line = malloc((size_t)n * 3 + sizeof(sgr_on) + sizeof(sgr_off) + 2);
	if (line == NULL)
		goto out;
	for (y = 0; y < n; y += style == CMD_QR_ASCII ? 1 : 2) {
		len = 0;
		if (colors) {
			memcpy(line, sgr_on, sizeof(sgr_on) - 1);
			len = sizeof(sgr_on) - 1;
		}
		for (x = 0; x < n; x++) {
			const char *s;
			int k;

			if (style == CMD_QR_ASCII) {
				s = qr_light(qr, x, y) ? "##" : "  ";
			} else {
				/* Below the last row: the terminal's blank. */
				k = qr_light(qr, x, y) |
				    (y + 1 < n && qr_light(qr, x, y + 1)) << 1;
				s = half[k];
			}
			memcpy(line + len, s, strlen(s));
			len += strlen(s);
		}
		if (colors) {
			memcpy(line + len, sgr_off, sizeof(sgr_off) - 1);
			len += sizeof(sgr_off) - 1;
		}
		line[len++] = '\n';
		if (fwrite(line, 1, len, f) != len)
			goto out;
	}
	rc = fflush(f) == 0 && !ferror(f) ? 0 : -1;
out:
	free(line);
	if (qr != NULL)
		qrlib.free(qr);
	return rc;
}

enum cmd_qr_style
cmd_qr_style_for_locale(void)
{
	enum cmd_qr_style style = CMD_QR_ASCII;
	const char *cur = setlocale(LC_CTYPE, NULL);
	char *saved = cur != NULL ? strdup(cur) : NULL;

	if (setlocale(LC_CTYPE, "") != NULL &&
	    strcmp(nl_langinfo(CODESET), "UTF-8") == 0)
		style = CMD_QR_UTF8;
	setlocale(LC_CTYPE, saved != NULL ? saved : "C");
	free(saved);
	return style;
}

int
cmd_tty_columns(int fd)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) != 0)
		return 0;
	return ws.ws_col;
}

int
cmd_tty_can_redraw(int fd)
{
	const char *term = getenv("TERM");

	return isatty(fd) && term != NULL && term[0] != '\0' &&
	    strcmp(term, "dumb") != 0;
}

/*
 * While a countdown runs: its descriptor, and the handlers it replaced.
 * The handler clears the line, puts the old handlers back and raises the
 * signal again, which is delivered when the handler returns (every
 * signal is blocked meanwhile).
 */
static const int cd_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NCD_SIGNALS (sizeof(cd_signals) / sizeof(cd_signals[0]))
static struct sigaction cd_old[NCD_SIGNALS];
static volatile sig_atomic_t cd_fd = -1;

static void
cd_restore_signals(void)
{
	size_t i;

	for (i = 0; i < NCD_SIGNALS; i++)
		sigaction(cd_signals[i], &cd_old[i], NULL);
}

static void
cd_on_signal(int sig)
{
	static const char clear[] = "\r\033[K";

	if (cd_fd >= 0 && write(cd_fd, clear, sizeof(clear) - 1) < 0) {
		/* Nothing more can be done for the terminal. */
	}
	cd_restore_signals();
	raise(sig);
}

int
cmd_countdown_format(char *buf, size_t size, const char *what, long left)
{
	if (left < 0)
		left = 0;
	if (left >= 3600)
		return snprintf(buf, size, "%s: %ld:%02ld:%02ld left", what,
		    left / 3600, left / 60 % 60, left % 60);
	return snprintf(buf, size, "%s: %ld:%02ld left", what, left / 60,
	    left % 60);
}

void
cmd_countdown_start(struct cmd_countdown *cd, FILE *f, const char *what,
    time_t deadline)
{
	struct sigaction sa;
	size_t i;

	cd->f = f;
	cd->what = what;
	cd->deadline = deadline;
	cd->shown = -1;
	cd_fd = fileno(f);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cd_on_signal;
	sigfillset(&sa.sa_mask);
	for (i = 0; i < NCD_SIGNALS; i++) {
		sigaction(cd_signals[i], NULL, &cd_old[i]);
		if (cd_old[i].sa_handler != SIG_IGN)
			sigaction(cd_signals[i], &sa, NULL);
	}
}

void
cmd_countdown_update(struct cmd_countdown *cd, time_t now)
{
	char buf[256];
	long left;
	int n;

	if (cd->f == NULL)
		return;
	left = now >= cd->deadline ? 0 : (long)(cd->deadline - now);
	if (left == cd->shown)
		return;
	n = cmd_countdown_format(buf, sizeof(buf), cd->what, left);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	fprintf(cd->f, "\r%s\033[K", buf);
	fflush(cd->f);
	cd->shown = left;
}

void
cmd_countdown_end(struct cmd_countdown *cd)
{
	if (cd->f == NULL)
		return;
	if (cd->shown >= 0) {
		fputs("\r\033[K", cd->f);
		fflush(cd->f);
	}
	cd_restore_signals();
	cd_fd = -1;
	cd->f = NULL;
	cd->shown = -1;
}

void
cmd_countdown_sleep(struct cmd_countdown *cd, int seconds)
{
	struct timespec ts;
	int i;

	for (i = 0; i < seconds; i++) {
		cmd_countdown_update(cd, time(NULL));
		ts.tv_sec = 1;
		ts.tv_nsec = 0;
		while (nanosleep(&ts, &ts) != 0)
			;
	}
	cmd_countdown_update(cd, time(NULL));
}
