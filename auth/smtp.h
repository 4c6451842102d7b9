/*
 * auth/smtp.h - the sender's SMTP dialogue, on a connection of auth/wire.h.
 *
 * libcurl has connected, upgraded with STARTTLS where the URL says smtp://,
 * checked the certificate and read the EHLO answer; from there this module
 * speaks SMTP itself: AUTH (XOAUTH2, OAUTHBEARER, PLAIN, LOGIN) answering
 * the SASL error challenge as RFC 7628 and Google ask (an empty line for
 * XOAUTH2, "AQ==" for OAUTHBEARER) and decoding it for the user; MAIL FROM
 * with SMTPUTF8 and BODY=8BITMIME when offered; RCPT TO; DATA streamed in
 * chunks with CRLF line ends and dot-stuffing (auth/message.h); QUIT. With
 * PIPELINING offered, the envelope goes out in one write.
 *
 * Nothing counts as sent before the server's 2xx to the end of the data.
 * Results are MC_OK, MC_ERR_AUTH (the credential was refused), MC_ERR_TEMP
 * (a 4xx: retrying later may work), MC_ERR_SERVICE (a 5xx other than
 * authentication: refused for good), MC_ERR_DATA (the message itself is
 * malformed: nothing was sent), MC_ERR_NET (connection lost or timed out);
 * the reply that decided is kept in the result for the caller to quote.
 */
#ifndef MAILCRED_AUTH_SMTP_H
#define MAILCRED_AUTH_SMTP_H

#include <stddef.h>

#include "auth/sasl.h"
#include "auth/wire.h"

/* One SMTP reply, all its lines. */
struct mc_smtp_reply {
	int code;		/* 200..599; 0 when none was read */
	char enh[16];		/* enhanced status code ("5.7.8") or "" */
	char *text;		/* the lines' text after the code (and the enhanced
				   code of the first), joined with one space; malloc'd */
};

#define MC_SMTP_REPLY_INIT { 0, "", NULL }

void mc_smtp_reply_clear(struct mc_smtp_reply *r);

/*
 * Reads one reply, all its lines (at most 100). MC_OK whatever the code;
 * MC_ERR_NET when the connection fails or times out; MC_ERR_SERVICE when
 * what came is not an SMTP reply. secret: the trace redacts the text (a
 * 334 challenge may echo what was sent).
 */
int mc_smtp_read_reply(struct mc_wire *w, struct mc_smtp_reply *r, int secret,
    char **errmsg);

enum mc_login_mech {
	MC_LOGIN_XOAUTH2 = 0,
	MC_LOGIN_OAUTHBEARER = 1,
	MC_LOGIN_PLAIN = 2,
	MC_LOGIN_LOGIN = 3,
};

/* "XOAUTH2", "OAUTHBEARER", "PLAIN", "LOGIN". */
const char *mc_login_mech_name(enum mc_login_mech mech);

/* How a login ended, for the user (never holds a secret). */
struct mc_login_result {
	int have_challenge;	/* the server sent a SASL error challenge */
	struct mc_sasl_error challenge;	/* decoded, when have_challenge */
	struct mc_smtp_reply reply;	/* SMTP: the final reply */
	char *line;		/* IMAP/POP3: the final tagged/+OK/-ERR line */
};

#define MC_LOGIN_RESULT_INIT { 0, MC_SASL_ERROR_INIT, MC_SMTP_REPLY_INIT, NULL }

void mc_login_result_clear(struct mc_login_result *r);

/*
 * Authenticates with mech as user with secret (an access token for the
 * bearer mechanisms, a password otherwise). MC_OK when the server said
 * 235; MC_ERR_AUTH when it refused the credential (535, 534, 530 and the
 * error challenge: *res says how); MC_ERR_TEMP for a 4xx (454 too many
 * logins, temporary failure); MC_ERR_SERVICE when the server does not
 * offer mech or answers otherwise; MC_ERR_NET. secret is not kept.
 */
int mc_smtp_login(struct mc_wire *w, enum mc_login_mech mech, const char *user,
    const char *secret, struct mc_login_result *res, char **errmsg);

/* The message, raw (as the user wrote it), chunk by chunk. */
struct mc_smtp_source {
	/*
	 * Sets *buf and *len to the next chunk (valid until the next call);
	 * *len 0 at the end. MC_OK, or an error that ends the transfer
	 * (MC_ERR_IO reading stdin): the data is then not terminated, the
	 * connection is dropped and nothing is delivered.
	 */
	int (*next)(void *ctx, const char **buf, size_t *len, char **errmsg);
	void *ctx;
};

struct mc_smtp_envelope {
	const char *from;	/* reverse-path, without <>; "" for the null path */
	char *const *rcpt;	/* forward-paths, without <> */
	size_t nrcpt;		/* at least 1 */
	int utf8;		/* addresses or header are not ASCII: SMTPUTF8 */
};

/* Where a send ended. */
struct mc_smtp_result {
	const char *stage;	/* "MAIL FROM", "RCPT TO", "DATA", "end of data",
				   "connection": static */
	char *rcpt;		/* the recipient refused, when stage is RCPT TO */
	struct mc_smtp_reply reply;	/* the reply that decided */
};

#define MC_SMTP_RESULT_INIT { NULL, NULL, MC_SMTP_REPLY_INIT }

void mc_smtp_result_clear(struct mc_smtp_result *r);

/*
 * Sends one message (after mc_smtp_login): the envelope, then DATA from
 * src, encoded on the fly (bare LF to CRLF, dot-stuffing, the final
 * "."), at most one chunk of it in memory. Any refused recipient fails the
 * whole send (RSET; nothing goes out). Returns MC_OK only after the
 * server's 2xx to the end of the data; MC_ERR_DATA when the message held
 * a NUL byte (found while streaming: the data is never terminated, the
 * connection is dropped, nothing is delivered); else as the header says,
 * with *res saying where and what the server replied.
 */
int mc_smtp_send(struct mc_wire *w, const struct mc_smtp_envelope *env,
    const struct mc_smtp_source *src, struct mc_smtp_result *res,
    char **errmsg);

/* Says QUIT and reads the answer (2 s at most); errors are ignored. */
void mc_smtp_quit(struct mc_wire *w);

#endif
