/*
 * auth/wire.h - a line conversation with a mail server on a connection
 * that libcurl sets up.
 *
 * libcurl does what it does well: resolving, connecting, TLS (implicit for
 * smtps://, imaps://, pop3s://; STARTTLS, required, for smtp://, imap://,
 * pop3://), the certificate check under auth/http.h's policy (ca_file
 * added to the system store, TLS 1.2 or newer), the greeting and the
 * capabilities (SMTP EHLO, IMAP CAPABILITY, POP3 CAPA). It stops there
 * (CURLOPT_CONNECT_ONLY, and no credentials, so it authenticates nothing).
 * The rest of the dialogue is ours, on the same TLS session: SASL with its
 * error challenge (which libcurl cannot answer), the envelope, the data,
 * IMAP and POP3 commands. Every read and write has a deadline of
 * opts->timeout seconds, and a line is at most MC_WIRE_MAX_LINE bytes.
 *
 * With a trace callback, what is said is traced line by line ("> " ours,
 * "< " the server's); lines marked secret are traced as "[redacted]".
 */
#ifndef MAILCRED_AUTH_WIRE_H
#define MAILCRED_AUTH_WIRE_H

#include <stdatomic.h>
#include <stddef.h>

#include "auth/http.h"
#include "auth/tcp.h"

#define MC_WIRE_MAX_LINE 8192

enum mc_wire_proto {
	MC_WIRE_SMTP = 0,
	MC_WIRE_IMAP = 1,
	MC_WIRE_POP3 = 2,
};

struct mc_wire_opts {
	int timeout;		/* seconds: the connection, then each step; <= 0: 30 */
	const char *ca_file;	/* extra CA bundle, or NULL */
	const char *ehlo;	/* SMTP: the EHLO name; NULL: mc_wire_hostname() */
	mc_trace_fn trace;	/* NULL: no trace */
	void *trace_ctx;
	/*
	 * When not NULL and it becomes non-zero (another thread found the
	 * connection is not needed after all), mc_wire_open() gives up within
	 * about a second: MC_ERR_TEMP, "given up".
	 */
	const atomic_int *cancel;
	/*
	 * A connection auth/tcp.h began to the URL's host and port, or NULL.
	 * mc_wire_open() waits for it (within the same timeout, and cancel)
	 * and gives libcurl its socket instead of connecting again. If it
	 * failed to resolve or to connect, libcurl connects itself, so the
	 * failure is reported as it always is; if it timed out, that is
	 * reported at once (MC_ERR_NET, "timed out", as libcurl's would be).
	 * Either way the connection phase ends by its deadline: the timeout
	 * counts from when it began. The caller still frees it
	 * (mc_tcp_free).
	 */
	struct mc_tcp *tcp;
};

#define MC_WIRE_OPTS_INIT { 30, NULL, NULL, NULL, NULL, NULL, NULL }

/* Where mc_wire_open() failed, for the doctor's advice. */
enum mc_wire_stage {
	MC_WIRE_STAGE_NONE = 0,
	MC_WIRE_STAGE_URL,	/* the URL itself */
	MC_WIRE_STAGE_RESOLVE,	/* the host name did not resolve */
	MC_WIRE_STAGE_CONNECT,	/* TCP: refused, unreachable, timed out */
	MC_WIRE_STAGE_TLS,	/* handshake or certificate */
	MC_WIRE_STAGE_GREETING,	/* the server's first words, EHLO, STARTTLS */
};

struct mc_wire_fail {
	enum mc_wire_stage stage;
	int curl_code;		/* CURLcode of the failure, 0 if none */
	long tls_verify;	/* X509 verify result (X509_V_ERR_...), 0 if none */
	int os_errno;		/* errno of a failed connect, 0 if none */
	int timed_out;		/* the deadline passed */
	char *reply;		/* the last line the server said, or NULL */
};

#define MC_WIRE_FAIL_INIT { MC_WIRE_STAGE_NONE, 0, 0, 0, 0, NULL }

void mc_wire_fail_clear(struct mc_wire_fail *f);

struct mc_wire;

/*
 * Connects to url (smtp, smtps, imap, imaps, pop3 or pop3s, with an
 * explicit or the scheme's default port) as described above. Returns
 * MC_OK and *out; MC_ERR_CONFIG (not such a URL), MC_ERR_NET (resolve,
 * connect, timeout, TLS, certificate), MC_ERR_TEMP (a 4xx greeting or
 * EHLO answer), MC_ERR_SERVICE (a 5xx one, or a server that does not
 * offer STARTTLS on a plain port), MC_ERR_NOMEM; the message names the
 * host and port and what failed, and *fail (if not NULL) says so for a
 * program. fail is cleared by the caller with mc_wire_fail_clear().
 */
int mc_wire_open(const struct mc_wire_opts *opts, const char *url,
    struct mc_wire **out, struct mc_wire_fail *fail, char **errmsg);

/*
 * Begins the TCP connection to url's host and port (the scheme's default
 * port when the URL gives none) for mc_wire_open()'s opts->tcp, with
 * timeout seconds (<= 0: 30) to connect. Returns NULL for a URL
 * mc_wire_open() would refuse, when a proxy is set in the environment
 * for the scheme (libcurl then connects to the proxy, and no name is
 * looked up here), or when it cannot start: mc_wire_open() then connects
 * the usual way (and says what is wrong with the URL).
 * Free with mc_tcp_free().
 */
struct mc_tcp *mc_wire_preconnect(const char *url, int timeout);

/* Sends nothing more; closes the connection and frees. Accepts NULL. */
void mc_wire_close(struct mc_wire *w);

enum mc_wire_proto mc_wire_protocol(const struct mc_wire *w);
const char *mc_wire_host(const struct mc_wire *w);	/* as in the URL */
int mc_wire_port(const struct mc_wire *w);

/*
 * The capabilities the server announced during the connection, the
 * latest set (after STARTTLS): SMTP EHLO keywords with their parameters
 * ("AUTH PLAIN LOGIN XOAUTH2", "SIZE 35882577", "PIPELINING"), IMAP
 * CAPABILITY atoms ("AUTH=XOAUTH2", "IMAP4rev1"), POP3 CAPA lines ("SASL
 * PLAIN XOAUTH2", "USER"). mc_wire_ncaps/mc_wire_cap list them;
 * mc_wire_cap_find returns the parameters of the first one whose keyword
 * matches name (case-insensitive; "" when it has none), or NULL.
 */
size_t mc_wire_ncaps(const struct mc_wire *w);
const char *mc_wire_cap(const struct mc_wire *w, size_t i);
const char *mc_wire_cap_find(const struct mc_wire *w, const char *name);

/*
 * Does the server offer SASL mechanism mech (case-insensitive)? SMTP: in
 * AUTH; IMAP: AUTH=mech; POP3: in SASL.
 */
int mc_wire_has_mech(const struct mc_wire *w, const char *mech);

/* The server's greeting line as libcurl read it, or "". */
const char *mc_wire_greeting(const struct mc_wire *w);

/*
 * Sends line followed by CRLF. line must not hold CR, LF or NUL
 * (MC_ERR_DATA). secret: the trace shows only the words before the first
 * space-separated argument that carries it, as "AUTH XOAUTH2 [redacted]"
 * (secret == 1 keeps the first two words, 2 the first word, 3 nothing).
 * MC_ERR_NET when it cannot be sent in time.
 */
int mc_wire_send_line(struct mc_wire *w, const char *line, int secret,
    char **errmsg);

/*
 * Sends the CRLF-terminated lines in buf (len bytes) in one write, each
 * traced as a line (PIPELINING). None may be secret. MC_ERR_NET as below.
 */
int mc_wire_send_lines(struct mc_wire *w, const char *buf, size_t len,
    char **errmsg);

/* The step timeout in seconds, and a new one (> 0) for the steps after. */
int mc_wire_timeout(const struct mc_wire *w);
void mc_wire_set_timeout(struct mc_wire *w, int seconds);

/*
 * Replaces each control byte of s (below 0x20, and DEL) by '?', so that
 * what a server says cannot drive the user's terminal.
 */
void mc_wire_printable(char *s);

/*
 * Sends len bytes as they are (DATA). Not traced beyond a byte count.
 * MC_ERR_NET when they cannot be sent in time.
 */
int mc_wire_write(struct mc_wire *w, const void *buf, size_t len,
    char **errmsg);

/*
 * Reads one line into *line (malloc'd, NUL-terminated, CRLF or LF
 * removed). MC_ERR_NET on timeout, a closed connection or a line longer
 * than MC_WIRE_MAX_LINE (the message says which); MC_ERR_DATA when the
 * line holds a NUL byte. secret: the trace shows "[redacted]" instead.
 */
int mc_wire_read_line(struct mc_wire *w, char **line, int secret,
    char **errmsg);

/*
 * mc_wire_read_line() with an absolute deadline (auth/clock.h
 * milliseconds) instead of the step timeout: for an answer of several
 * lines that must come whole within the timeout.
 */
int mc_wire_read_line_until(struct mc_wire *w, long long deadline,
    char **line, int secret, char **errmsg);

/*
 * The name this machine gives in EHLO and Message-ID: the fully qualified
 * host name when the resolver knows one, else gethostname(), else
 * "localhost.localdomain"; only letters, digits, '-' and '.' (anything
 * else is refused and the next candidate tried). Static storage.
 */
const char *mc_wire_hostname(void);

#endif
