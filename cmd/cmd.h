/*
 * cmd/cmd.h - what the command fronts share: global options, loading an
 * account, reporting a failure as one line with the right exit status,
 * reading a secret from stdin.
 */
#ifndef MAILCRED_CMD_H
#define MAILCRED_CMD_H

#include <stddef.h>
#include <sys/types.h>

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

struct option;

/*
 * getopt_long(3) over argv for command (NULL: mailcred's own options, before
 * the command name) with longopts, which hold CMD_COMMON_LONGOPTS and end
 * in a zero entry. Handles -c, -v and -q itself, and -h/--help: prints the
 * help and exits 0. An unknown or ambiguous option, a missing argument, or
 * an argument given to an option that takes none is a usage error naming
 * the option (cmd_usage_error). Returns the next other option, or -1 at
 * the end of the options (optind is then the first operand).
 */
int cmd_getopt(const char *command, int argc, char **argv,
    const struct option *longopts);

/* cmd_getopt() with the command's own short options too (getopt(3) form). */
int cmd_getopt_short(const char *command, int argc, char **argv,
    const char *shortopts, const struct option *longopts);

/*
 * A usage error: prints "mailcred: COMMAND: MSG" (COMMAND left out when
 * NULL; control characters shown as '?') and then the command's synopsis
 * (all of them when NULL) on stderr, and exits 64. Nothing goes to stdout.
 */
void cmd_usage_error(const char *command, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

/*
 * The one operand ACCOUNT of command: argv[optind], or a usage error when
 * it is missing or followed by others.
 */
const char *cmd_account_arg(const char *command, int argc, char **argv);

/*
 * Prints the help of command (NULL: of mailcred as a whole) on stdout and
 * exits 0; an unknown command is a usage error.
 */
void cmd_help(const char *command) __attribute__((noreturn));

/*
 * Prints "mailcred: ACCOUNT: MSG" (ACCOUNT left out when NULL; MSG falls
 * back to a description of err; its control bytes shown as '?', since
 * it may quote a server) on stderr, frees msg, and returns the exit
 * status for err.
 */
int cmd_fail(const char *account, int err, char *msg);

/* A warning or a note on stderr, unless -q. */
void cmd_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Loads the configuration (its warnings printed); on failure prints the
 * error, naming name (may be NULL), and returns the exit status; else 0.
 */
int cmd_load_config(const char *name, struct mc_config **cfg);

struct store;

/*
 * acct's app password from st (NULL: acct's store, opened and closed
 * here) into *pw (free with store_secret_free()); on failure (nothing
 * stored: the message says `mailcred password set`) prints the error and
 * returns the exit status; else 0.
 */
int cmd_get_password(const struct mc_account *acct, struct store *st,
    char **pw);

/*
 * Loads the configuration and resolves account; prints warnings. On
 * failure prints the error and returns the exit status; 0 on success.
 */
int cmd_load_account(const char *name, struct mc_config **cfg,
    struct mc_account **acct);

/* HTTP options for acct, with a redacting trace on stderr under -v. */
void cmd_http_opts(const struct mc_account *acct, struct mc_http_opts *http);

/*
 * Reads a secret of at most max bytes from stdin: on a terminal, prompts on
 * stderr and reads one line with echo off (a SIGINT, SIGTERM, SIGHUP or
 * SIGQUIT meanwhile puts the terminal settings back before the signal
 * ends the process); otherwise reads all of stdin, which must hold one
 * line (blank lines after it aside). A longer secret is refused
 * (MC_ERR_DATA, "longer than max bytes"), never cut short. Returns 0 and a
 * malloc'd *out (wipe with mc_free_secret), or an MC_ERR_* code with a
 * message.
 */
int cmd_read_secret(const char *prompt, size_t max, char **out,
    char **errmsg);

/*
 * cmd_read_secret() that gives up when no input comes for timeout seconds
 * in all (0: waits for ever): MC_ERR_TEMP, "nothing was entered within N
 * s".
 */
int cmd_read_secret_within(const char *prompt, size_t max, int timeout,
    char **out, char **errmsg);

/*
 * No core dump, and no ptrace by other processes of the user: tokens,
 * refresh tokens and passwords pass through this process's memory. The
 * process becomes non-dumpable (PR_SET_DUMPABLE 0) and its soft core limit
 * 0; the hard limit is left as it was, so that cmd_spawn() gives the
 * programs we start (on_reauth, the browser) the limits we were given.
 * Best effort: should a call fail (a seccomp filter, say), the command
 * runs on, as it would have before. The /proc/PID files of a non-dumpable
 * process belong to root, and only CAP_SYS_PTRACE may attach to it later;
 * a tracer that started it (strace, gdb) stays attached, and valgrind is
 * not a tracer: both keep working. Call first thing in main().
 */
void cmd_no_core_dumps(void);

/*
 * Starts file (looked up in PATH when it has no '/') with argv and env
 * (NULL: ours) through posix_spawnp(3), so no code of ours runs in the
 * child: stdin from /dev/null, no other descriptor of ours (glibc 2.34
 * and later), SIGPIPE at its default, no signal blocked; quiet: stdout and stderr to /dev/null and a session of its own
 * (a program that outlives us, such as a browser, gets none of the
 * terminal's Ctrl-C meant for us), else stdout to our stderr; the core
 * limit we were started with (see cmd_no_core_dumps(): ours is put back
 * for the instant of the spawn, while we stay non-dumpable). A program is
 * dumpable again after its execve. Does not wait. 0 and *pid, or an errno
 * value.
 */
int cmd_spawn(const char *file, char *const argv[], char *const env[],
    int quiet, pid_t *pid);

/*
 * Runs acct's on_reauth command (if set) through /bin/sh -c, started with
 * posix_spawn(3) so that no code of ours runs in the child (GDBus threads
 * may exist), with our environment plus MAILCRED_ACCOUNT=NAME (replacing
 * any), stdin from /dev/null, stdout sent to stderr and SIGPIPE at its
 * default; does not wait longer than 5 seconds for it.
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

/*
 * `password set` for acct: reads the app password (cmd_read_secret: no
 * echo on a terminal) and stores it; prints what happened. Returns the
 * exit status. `mailcred add --auth password` goes on with it.
 */
int cmd_password_set(const struct mc_account *acct);

/* The commands. */
int cmd_add(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_sasl(int argc, char **argv);
int cmd_password(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_accounts(int argc, char **argv);
int cmd_send(int argc, char **argv);

/* git-credential-mailcred: mailcred run under that name (cmd/gitcred.c). */
int cmd_gitcred(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

#endif
