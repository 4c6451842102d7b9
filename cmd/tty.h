/*
 * cmd/tty.h - what the command fronts draw on a terminal while a login
 * waits for the user: a QR code of a URL (libqrencode) for a phone to
 * scan, and a one-line countdown of the time left, updated in place.
 *
 * Both write to a FILE * they are given (stderr in the commands, a
 * memory stream in the tests) and neither decides whether to draw: the
 * caller asks cmd_tty_wanted() / cmd_qr_style_for() first.
 */
#ifndef MAILCRED_CMD_TTY_H
#define MAILCRED_CMD_TTY_H

#include <stdio.h>
#include <time.h>

/*
 * How the QR code is drawn. Each module is light or dark; a light module
 * is drawn as ink in the terminal's foreground colour, a dark one as a
 * blank, so on the usual light-on-dark terminal the code shows as the
 * standard dark modules on a light ground (phones read it; on a
 * dark-on-light terminal it is the negative, which most readers also
 * take).
 *
 * CMD_QR_UTF8: two module rows per text line, one column per module,
 *   with U+2588 '█' (both light), U+2580 '▀' (upper light), U+2584 '▄'
 *   (lower light) and ' ' (both dark). Below the last module row of an
 *   odd-sized symbol, the lower half is blank.
 * CMD_QR_ASCII: one module row per line, "##" for a light module and
 *   "  " for a dark one (for terminals whose locale is not UTF-8).
 *
 * Around the symbol a quiet zone of CMD_QR_MARGIN light modules is drawn
 * (see tty.c for why 2 and not the 4 of print).
 */
enum cmd_qr_style {
	CMD_QR_UTF8,
	CMD_QR_ASCII,
};

#define CMD_QR_MARGIN 2

/*
 * Opens libqrencode (libqrencode.so.4), once; the drawing functions below
 * call it themselves. Returns MC_OK, or MC_ERR_SERVICE with a message
 * saying what to install: then nothing can be drawn, and cmd_qr_write()
 * and cmd_qr_width() fail as for text that cannot be encoded.
 */
int cmd_qr_load(char **errmsg);

/*
 * Draws text (a URL: byte mode, case kept, error correction level L) as
 * a QR code on f, ending each line in "\n". Nothing is written when the
 * drawing would be wider than max_cols columns (max_cols <= 0: no
 * limit). Returns 0 when drawn, 1 when left out as too wide, -1 when the
 * text cannot be encoded (too long for any QR version, out of memory) or
 * writing failed.
 */
int cmd_qr_write(FILE *f, const char *text, enum cmd_qr_style style,
    int max_cols);

/*
 * As cmd_qr_write(), and with colors each line is drawn in bright white
 * on black (SGR "\033[97;40m" before it, "\033[0m" after it), so the code
 * reads as dark modules on a light ground on dark and light terminal
 * themes alike; without, light modules take the terminal's foreground
 * colour (right on a light-on-dark terminal, the negative on a
 * dark-on-light one).
 */
int cmd_qr_write_colors(FILE *f, const char *text, enum cmd_qr_style style,
    int max_cols, int colors);

/*
 * The columns a drawing of text takes in style (the symbol's width and
 * both quiet zones); -1 when it cannot be encoded.
 */
int cmd_qr_width(const char *text, enum cmd_qr_style style);

/*
 * CMD_QR_UTF8 when the user's locale (LC_ALL, LC_CTYPE, LANG) uses
 * UTF-8, else CMD_QR_ASCII. Leaves the process's locale as it found it.
 */
enum cmd_qr_style cmd_qr_style_for_locale(void);

/* The width of the terminal on fd in columns; 0 when not known. */
int cmd_tty_columns(int fd);

/*
 * Whether a line on fd can be redrawn in place ("\r" and "\033[K"): fd
 * is a terminal and TERM is set and not "dumb".
 */
int cmd_tty_can_redraw(int fd);

/*
 * A countdown line: "\r" WHAT ": " TIME " left" "\033[K", redrawn in
 * place when the shown time changes; TIME is m:ss, or h:mm:ss from an
 * hour on, never below 0:00. Start it, update it as time passes, end it:
 * the end clears the line so what follows starts on a clean one. While
 * it runs, SIGINT, SIGTERM, SIGHUP and SIGQUIT (unless ignored) first
 * clear the line on f's descriptor, then end the process as they would
 * have. One countdown runs at a time.
 */
struct cmd_countdown {
	FILE *f;		/* NULL: not running */
	const char *what;	/* not copied: must outlive the countdown */
	time_t deadline;
	long shown;		/* seconds left last drawn; -1: none yet */
};

#define CMD_COUNTDOWN_INIT { NULL, NULL, 0, -1 }

/*
 * Writes the text of the line for left seconds (without the "\r" and
 * "\033[K") into buf; returns what snprintf returns.
 */
int cmd_countdown_format(char *buf, size_t size, const char *what,
    long left);

/* Starts cd on f with its deadline; nothing is drawn until an update. */
void cmd_countdown_start(struct cmd_countdown *cd, FILE *f,
    const char *what, time_t deadline);

/* Redraws the line for now, if the seconds left changed; no-op when off. */
void cmd_countdown_update(struct cmd_countdown *cd, time_t now);

/*
 * Clears the line (if one was drawn), puts the signal handlers back and
 * stops cd; no-op when not running.
 */
void cmd_countdown_end(struct cmd_countdown *cd);

/*
 * Sleeps seconds in steps of one second, updating cd (if running) from
 * time(NULL) before each step and after the last.
 */
void cmd_countdown_sleep(struct cmd_countdown *cd, int seconds);

#endif
