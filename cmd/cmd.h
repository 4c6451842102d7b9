/*
 * cmd/cmd.h - what the command fronts share: global options, loading an
 * account, reporting a failure as one line with the right exit status,
 * reading a secret from stdin.
 */
#ifndef MAILCRED_CMD_H
#define MAILCRED_CMD_H

#include <stddef.h>

#include "auth/config.h"
#include "auth/http.h"

struct cmd_globals {
	const char *config;	/* -c FILE, or NULL */
	int verbose;		/* -v */
	int quiet;		/* -q */
};

extern struct cmd_globals g_opts;

/* Long options every command also takes (-c, -v, -q, -h). */
#define CMD_COMMON_LONGOPTS \
	{ "config", required_argument, NULL, 'c' }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "help", no_argument, NULL, 'h' }

/* Handles a common option; returns 1 if opt was one, 0 if not. */
int cmd_common_opt(int opt, const char *arg);

/* Prints the synopsis of the command (or all) on stderr, exits 64. */
void cmd_usage(const char *command) __attribute__((noreturn));

/* Prints the help on stdout and exits 0. */
void cmd_help(const char *command) __attribute__((noreturn));

/*
 * Prints "mailcred: ACCOUNT: MSG" (ACCOUNT left out when NULL; MSG falls
 * back to a description of err) on stderr, frees msg, and returns the
 * exit status for err.
 */
int cmd_fail(const char *account, int err, char *msg);

/* A warning or a note on stderr, unless -q. */
void cmd_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Loads the configuration and resolves account; prints warnings. On
 * failure prints the error and returns the exit status; 0 on success.
 */
int cmd_load_account(const char *name, struct mc_config **cfg,
    struct mc_account **acct);

/* HTTP options for acct, with a redacting trace on stderr under -v. */
void cmd_http_opts(const struct mc_account *acct, struct mc_http_opts *http);

/*
 * Reads a secret from stdin: on a terminal, prompts on stderr and turns
 * echo off; otherwise reads up to max bytes, and takes the first line.
 * Returns 0 and a malloc'd *out (wipe with mc_free_secret), or an
 * MC_ERR_* code with a message.
 */
int cmd_read_secret(const char *prompt, size_t max, char **out,
    char **errmsg);

/*
 * Runs acct's on_reauth command (if set) through /bin/sh with
 * MAILCRED_ACCOUNT in its environment, stdin from /dev/null and stdout
 * sent to stderr; does not wait longer than a few seconds.
 */
void cmd_run_on_reauth(const struct mc_account *acct);

/*
 * Flushes stdout; on a write error prints it for account and returns the
 * exit status, else 0.
 */
int cmd_flush_stdout(const char *account);

/*
 * Prints the JSON object o (taking its reference) as one line on stdout and
 * flushes; 0 or the exit status of a printed failure. The text is freed
 * through jansson's wiping allocator.
 */
int cmd_print_json(const char *account, void *o);

/* Parses a non-negative decimal integer up to max; -1 when invalid. */
long cmd_parse_ulong(const char *s, long max);

struct mc_token_opts;
struct mc_token_set;

/*
 * A valid access token for an oauth2 account into *ts; on failure prints
 * the error (running on_reauth when the grant is gone) and returns the
 * exit status, else 0.
 */
int cmd_get_token(const struct mc_account *acct,
    const struct mc_token_opts *to, struct mc_token_set *ts);

/*
 * Sets to's warning printer: "mailcred: ACCOUNT: LINE" on stderr (not
 * under -q), for what the user should know though the call succeeded.
 */
void cmd_token_warnings(const struct mc_account *acct,
    struct mc_token_opts *to);

/* The commands. */
int cmd_login(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_sasl(int argc, char **argv);
int cmd_password(int argc, char **argv);

#endif
