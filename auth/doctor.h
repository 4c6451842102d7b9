/*
 * auth/doctor.h - mailcred doctor: an account checked step by step.
 *
 * The checks, in order, each a result {name, state, detail, advice}:
 *
 *   config       the account resolves; Gmail and Microsoft want the full
 *                address as user; the smtp, imap and pop URLs parse
 *   store        the store answers and is unlocked; the grant (oauth2) or
 *                the app password (password) is there
 *   token        oauth2: the cached access token is valid, or a refresh
 *                gets one now
 *   dns HOST     each configured host resolves (within the timeout)
 *   tcp SVC      SVC is smtp, imap or pop: a TCP connection to its port,
 *                telling refused from timed out from unreachable; when
 *                smtp's fails, 587, 465 and 25 are probed (2 s at most,
 *                together) to tell a blocked port 25 from a firewall
 *   tls SVC      libcurl's TLS (implicit or STARTTLS), the certificate and
 *                the greeting (auth/wire.h); certificate errors are named
 *                (expired, self-signed, unknown issuer, wrong name), and so
 *                is a wrong port/encryption pair (implicit TLS on a port that
 *                speaks plain text first, STARTTLS on an implicit-TLS port)
 *   smtp ehlo    the AUTH mechanisms the server offers
 *   smtp login   the login with the account's mechanism (auth/smtp.h)
 *   imap login   IMAP AUTHENTICATE or LOGIN, then LIST (auth/mailbox.h)
 *   pop login    POP3 AUTH or USER/PASS, then STAT (auth/mailbox.h)
 *
 * A check that depends on one that failed is skipped, and says why. Every
 * failure is turned into advice (auth/advice.h for what servers said).
 * Nothing here prints; no secret is ever put in a result.
 */
#ifndef MAILCRED_AUTH_DOCTOR_H
#define MAILCRED_AUTH_DOCTOR_H

#include <stddef.h>

#include "auth/http.h"

enum mc_check_state {
	MC_CHECK_OK = 0,
	MC_CHECK_FAILED = 1,
	MC_CHECK_SKIPPED = 2,
};

/* "ok", "FAILED", "skipped". */
const char *mc_check_state_name(enum mc_check_state state);

struct mc_check {
	char *name;		/* "config", "dns smtp.gmail.com", "tcp smtp", ... */
	enum mc_check_state state;
	int err;		/* failed: the MC_ERR_* class (its exit status);
				   else MC_OK */
	char *detail;		/* what was found; skipped: why; never NULL */
	char *advice;		/* failed: one sentence naming the fix; else NULL */
};

/* What a TCP connection attempt came to. */
enum mc_probe {
	MC_PROBE_OPEN = 0,	/* connected */
	MC_PROBE_REFUSED,	/* ECONNREFUSED: nothing listens, or a REJECT */
	MC_PROBE_TIMEOUT,	/* no answer before the deadline: dropped */
	MC_PROBE_UNREACHABLE,	/* no route to the network or the host */
	MC_PROBE_NORESOLVE,	/* the host name did not resolve */
	MC_PROBE_ERROR,		/* anything else (errno says) */
};

/* "open", "refused", "timed out", "unreachable", ... */
const char *mc_probe_name(enum mc_probe p);

/*
 * Tries a TCP connection to host at each of the n ports at once, and gives
 * up on those still pending after timeout_ms; fills states[i] and
 * errnos[i] (0 when none) for ports[i]. A host with several addresses
 * counts as open when one of them connects; else timed out when one timed
 * out; else unreachable, refused, error, in that order.
 */
typedef void (*mc_probe_fn)(void *ctx, const char *host, const int *ports,
    size_t n, int timeout_ms, enum mc_probe *states, int *errnos);

/* The real one: non-blocking connects and poll(2). ctx is unused. */
void mc_probe_tcp(void *ctx, const char *host, const int *ports, size_t n,
    int timeout_ms, enum mc_probe *states, int *errnos);

struct mc_doctor_opts {
	const char *config_path;	/* -c FILE, or NULL: mc_config_path() */
	const char *account;		/* NAME */
	int timeout;			/* seconds for each step; <= 0: the
					   account's timeout */
	int store_timeout_ms;		/* 0: the store's default */
	mc_trace_fn trace;		/* -v: network and HTTP trace, redacted */
	void *trace_ctx;
	mc_probe_fn probe;		/* NULL: mc_probe_tcp */
	void *probe_ctx;
	/* Told each check as soon as it is decided (for output as it goes). */
	void (*progress)(void *ctx, const struct mc_check *c);
	void *progress_ctx;
	/* Told what the user should know though no check failed (config
	   warnings, token warnings). */
	void (*warn)(void *ctx, const char *line);
	void *warn_ctx;
};

#define MC_DOCTOR_OPTS_INIT { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, \
	NULL, NULL, NULL, NULL }

struct mc_doctor_report {
	struct mc_check *checks;
	size_t n;
	int err;		/* MC_OK when every check passed, else the class
				   of the first failure */
	size_t first_failed;	/* its index, when err != MC_OK */
};

#define MC_DOCTOR_REPORT_INIT { NULL, 0, MC_OK, 0 }

/*
 * Runs every check for opts->account into *rep (cleared first). Returns
 * MC_OK when the checks ran, whatever they found (rep->err says), or
 * MC_ERR_NOMEM. Free with mc_doctor_report_clear().
 */
int mc_doctor_run(const struct mc_doctor_opts *opts,
    struct mc_doctor_report *rep, char **errmsg);

void mc_doctor_report_clear(struct mc_doctor_report *rep);

/*
 * The tcp check of one service (for the unit tests and mc_doctor_run):
 * probes host:port with opts->probe and fills *out (name "tcp SVC"). For
 * svc "smtp", a failure also probes 587, 465 and 25 (at most 2 s, all at
 * once) and the verdict says which are open, blocked or refused.
 * account names the account in advice. MC_OK or MC_ERR_NOMEM.
 */
int mc_doctor_tcp(const struct mc_doctor_opts *opts, const char *account,
    const char *svc, const char *host, int port, struct mc_check *out);

/* Frees what a check holds (not c itself); accepts NULL. */
void mc_check_clear(struct mc_check *c);

#endif
