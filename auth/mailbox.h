/*
 * auth/mailbox.h - IMAP and POP3 logins on a connection of auth/wire.h.
 *
 * libcurl has connected, made TLS, checked the certificate and read the
 * greeting and the capabilities; this module logs in and runs one more
 * command, as the doctor needs (Microsoft's IMAP can take a login whose
 * user and token do not match and refuse only what comes next; Gmail says
 * POP is disabled at STAT, not at the login).
 *
 * IMAP: AUTHENTICATE XOAUTH2 or OAUTHBEARER (the initial response on the
 * same line when SASL-IR is offered, else after the "+" continuation),
 * AUTHENTICATE PLAIN for a password when AUTH=PLAIN is offered, else
 * LOGIN (unless LOGINDISABLED); then LIST "" "INBOX"; LOGOUT.
 * POP3: AUTH mech with the initial response (RFC 5034; after a "+" when
 * the line would pass 255 bytes), AUTH PLAIN for a password when SASL
 * PLAIN is offered, else USER and PASS; then STAT; QUIT.
 *
 * A SASL error challenge ("+ base64") is decoded into res->challenge and
 * answered as RFC 7628 and Google ask: an empty line for XOAUTH2, "AQ=="
 * for OAUTHBEARER, "*" (cancel) otherwise.
 *
 * Results: MC_OK; MC_ERR_AUTH when the credential was refused (IMAP NO,
 * POP3 -ERR to the login); MC_ERR_TEMP for IMAP [UNAVAILABLE] or POP3
 * [SYS/TEMP] and [IN-USE]; MC_ERR_SERVICE when the mechanism is not
 * offered, for BAD, and when the command after the login is refused;
 * MC_ERR_DATA when the user or secret holds a byte the protocol cannot
 * carry; MC_ERR_NET when the connection fails or times out. res->line
 * holds what the server said last: the tagged (IMAP) or +OK/-ERR (POP3)
 * line, preceded, for IMAP, by the untagged NO, BAD, [ALERT] and
 * [WEBALERT] lines of the same command, one per line ('\n'); that is
 * what auth/advice.h reads. Secrets are never kept, and never traced.
 */
#ifndef MAILCRED_AUTH_MAILBOX_H
#define MAILCRED_AUTH_MAILBOX_H

#include "auth/smtp.h"
#include "auth/wire.h"

/*
 * Logs in as user with secret (an access token for XOAUTH2 and
 * OAUTHBEARER, a password for PLAIN and LOGIN; LOGIN means the LOGIN
 * command here). res is filled whatever the outcome (clear it with
 * mc_login_result_clear()).
 */
int mc_imap_login(struct mc_wire *w, enum mc_login_mech mech,
    const char *user, const char *secret, struct mc_login_result *res,
    char **errmsg);

/* LIST "" "INBOX" after the login; res as above. */
int mc_imap_list(struct mc_wire *w, struct mc_login_result *res,
    char **errmsg);

/* LOGOUT, reading the answer briefly; errors are ignored. */
void mc_imap_logout(struct mc_wire *w);

/*
 * Logs in to POP3 as above (LOGIN means USER and PASS here); res as for
 * IMAP.
 */
int mc_pop3_login(struct mc_wire *w, enum mc_login_mech mech,
    const char *user, const char *secret, struct mc_login_result *res,
    char **errmsg);

/*
 * STAT after the login: *messages (if not NULL) is the number of messages
 * (-1 when the answer does not say); res as above.
 */
int mc_pop3_stat(struct mc_wire *w, long *messages,
    struct mc_login_result *res, char **errmsg);

/* QUIT, reading the answer briefly; errors are ignored. */
void mc_pop3_quit(struct mc_wire *w);

#endif
