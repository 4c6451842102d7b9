/*
 * auth/gitcred.h - git's credential helper protocol (gitcredentials(7),
 * git-credential(1)): reading what git sends, choosing the account it is
 * about, and checking what goes back.
 *
 * git writes KEY=VALUE lines, ended by a blank line or the end of input.
 * A value can hold neither LF (it ends the line) nor NUL; git 2.47 and
 * later also refuse CR, which some protocols would read as a line end.
 * mailcred refuses all three, in what it reads and what it would write.
 * Keys it uses: protocol, host (with ":PORT" when there is one), path,
 * username, password (store and erase), capability[] (authtype); others
 * (wwwauth[], state[], password_expiry_utc, ...) are read and ignored, as
 * the protocol asks; a key given twice keeps its last value.
 *
 * Which account: protocol smtp or smtps is about the account's smtp URL
 * (git send-email says smtp for implicit TLS too), imap or imaps about its
 * imap URL (git imap-send); any other protocol is no account's. The host
 * must equal the URL's host (case aside) and a port, when git gives one,
 * the URL's port (or its scheme's default: smtp 25, smtps 465, imap 143,
 * imaps 993); a username must equal the account's user, case aside.
 */
#ifndef MAILCRED_AUTH_GITCRED_H
#define MAILCRED_AUTH_GITCRED_H

#include <stddef.h>

#include "auth/config.h"

/* The most git may send: 64 KiB lines, and a few of them. */
#define MC_GITCRED_INPUT_MAX (1024 * 1024)

struct mc_gitcred {
	char *protocol;
	char *host;
	char *path;
	char *username;
	char *password;		/* a secret: wiped by mc_gitcred_clear() */
	int capa_authtype;	/* git announced capability[]=authtype */
};

#define MC_GITCRED_INIT { NULL, NULL, NULL, NULL, NULL, 0 }

/*
 * Parses len bytes of git's input (up to the first blank line; the rest is
 * ignored). MC_ERR_DATA with a message naming the line (never its value)
 * for a NUL byte, a CR, or a line without '='; MC_ERR_NOMEM. The caller
 * wipes buf: it may hold a password. *c is cleared first.
 */
int mc_gitcred_parse(const char *buf, size_t len, struct mc_gitcred *c,
    char **errmsg);

/* Frees the strings, wiping the password; c is then MC_GITCRED_INIT. */
void mc_gitcred_clear(struct mc_gitcred *c);

/*
 * The URL of acct that c's protocol is about (acct->smtp or acct->imap),
 * or NULL when c's protocol is none mailcred answers for.
 */
const char *mc_gitcred_url(const struct mc_account *acct,
    const struct mc_gitcred *c);

/* Is c's protocol one mailcred answers for (smtp, smtps, imap, imaps)? */
int mc_gitcred_protocol_known(const struct mc_gitcred *c);

/*
 * Does c's host (and port, if it has one) name the host of acct's URL for
 * c's protocol? 1 or 0 (also when the URL is unset or does not parse).
 */
int mc_gitcred_host_matches(const struct mc_account *acct,
    const struct mc_gitcred *c);

/* Does c name acct's user (no username in c: yes)? 1 or 0. */
int mc_gitcred_user_matches(const struct mc_account *acct,
    const struct mc_gitcred *c);

/* Can value go into a KEY=VALUE line: no CR, LF or NUL in len bytes? */
int mc_gitcred_value_ok(const char *value, size_t len);

#endif
