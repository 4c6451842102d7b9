/*
 * auth/advice.h - what a mail server's answer means, and what to do.
 *
 * A pure function (no I/O, no network) from what a server said to a short
 * explanation, one sentence of advice that names the fix, and the class
 * of failure (its exit status). It knows the answers of Gmail, Microsoft
 * 365 and Dovecot listed in the project's MAILSERVERS.md: SMTP replies
 * (code, enhanced code, text), IMAP tagged or untagged lines, POP3 -ERR
 * lines, and the decoded SASL error challenge. Matching is on the codes
 * and a short keyword, never the whole text, because providers change
 * their wording. Both the sender and the doctor use it.
 */
#ifndef MAILCRED_AUTH_ADVICE_H
#define MAILCRED_AUTH_ADVICE_H

#include "auth/config.h"
#include "auth/sasl.h"

/* Same values as enum mc_wire_proto (auth/wire.h): a cast converts. */
enum mc_advice_proto {
	MC_ADVICE_SMTP = 0,
	MC_ADVICE_IMAP = 1,
	MC_ADVICE_POP3 = 2,
};

enum mc_advice_provider {
	MC_ADVICE_OTHER = 0,
	MC_ADVICE_GOOGLE = 1,
	MC_ADVICE_MICROSOFT = 2,
};

/*
 * The provider whose quirks apply: acct's provider ("google",
 * "microsoft", or the google flag), else guessed from host (gmail.com,
 * googlemail.com, google.com; office365.com, outlook.com, hotmail.com,
 * live.com and their subdomains). acct and host may be NULL.
 */
enum mc_advice_provider mc_advice_provider_of(const struct mc_account *acct,
    const char *host);

/* What the server said, and about what. Only text is required. */
struct mc_advice_in {
	enum mc_advice_proto proto;
	enum mc_advice_provider provider;
	enum mc_auth auth;	/* oauth2 (a token was sent) or password */
	const char *account;	/* NAME in "mailcred login NAME"; NULL: ACCOUNT */
	const char *user;	/* the login identity (checked for an '@' with
				   Google and Microsoft); NULL: not checked */
	int after_login;	/* the answer is to a command after a login the
				   server accepted (IMAP LIST, POP3 STAT, MAIL) */
	int code;		/* SMTP reply code (200..599); 0 for IMAP/POP3 */
	const char *enh;	/* SMTP enhanced code ("5.7.8"), NULL or "": then
				   read from the start of text if it has one */
	const char *text;	/* SMTP: the reply text after the code; IMAP:
				   the tagged line (with the untagged [ALERT] or
				   [WEBALERT] lines before it, joined by a
				   space); POP3: the +OK/-ERR line */
	const struct mc_sasl_error *challenge;	/* the decoded SASL error
				   challenge the server sent first, or NULL */
};

#define MC_ADVICE_IN_INIT { MC_ADVICE_SMTP, MC_ADVICE_OTHER, MC_AUTH_OAUTH2, \
	NULL, NULL, 0, 0, NULL, NULL, NULL }

/* The verdict. */
struct mc_advice {
	const char *key;	/* the row that matched, stable, for tests and
				   JSON: "gmail-bad-credentials", ...; static */
	int err;		/* MC_OK (the answer is a success), MC_ERR_AUTH
				   (77), MC_ERR_TEMP (75), MC_ERR_SERVICE (69) or
				   MC_ERR_CONFIG (78: the setting is wrong) */
	char *explain;		/* what the server meant, a short clause
				   quoting its code; malloc'd */
	char *advice;		/* one sentence naming the fix; malloc'd; ""
				   for a success */
};

#define MC_ADVICE_INIT { NULL, 0, NULL, NULL }

/*
 * Judges in and fills *out (cleared first). Returns MC_OK, or
 * MC_ERR_NOMEM (then *out is empty). Never holds a secret: nothing in in
 * is one. Free the strings with mc_advice_clear().
 */
int mc_advice_explain(const struct mc_advice_in *in, struct mc_advice *out);

void mc_advice_clear(struct mc_advice *a);

/* Where Google makes app passwords. */
#define MC_ADVICE_GOOGLE_APP_PASSWORDS "https://myaccount.google.com/apppasswords"

#endif
