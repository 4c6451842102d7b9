/* auth/advice.c - what a mail server's answer means, and what to do. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/advice.h"
#include "auth/err.h"

#define APP_PASSWORD_HOW "create an app password at " \
	MC_ADVICE_GOOGLE_APP_PASSWORDS " (16 letters, spaces removed) and " \
	"store it with `mailcred password set %s`, or use OAuth (auth = oauth2)"

/* Case-insensitive: does hay hold needle? */
static int
has(const char *hay, const char *needle)
{
	return hay != NULL && strcasestr(hay, needle) != NULL;
}

/* Does host equal domain or end in "." domain (case-insensitive)? */
static int
host_in(const char *host, const char *domain)
{
	size_t hl, dl;

	hl = strlen(host);
	dl = strlen(domain);
	if (hl == dl)
		return strcasecmp(host, domain) == 0;
	if (hl < dl + 1)
		return 0;
	return host[hl - dl - 1] == '.' &&
	    strcasecmp(host + hl - dl, domain) == 0;
}

enum mc_advice_provider
mc_advice_provider_of(const struct mc_account *acct, const char *host)
{
	static const char *const google[] = { "gmail.com", "googlemail.com",
	    "google.com" };
	static const char *const microsoft[] = { "office365.com",
	    "outlook.com", "hotmail.com", "live.com" };
	size_t i;

	if (acct != NULL) {
		if (acct->google || (acct->provider != NULL &&
		    strcmp(acct->provider, "google") == 0))
			return MC_ADVICE_GOOGLE;
		if (acct->provider != NULL &&
		    strcmp(acct->provider, "microsoft") == 0)
			return MC_ADVICE_MICROSOFT;
	}
	if (host == NULL)
		return MC_ADVICE_OTHER;
	for (i = 0; i < sizeof(google) / sizeof(google[0]); i++)
		if (host_in(host, google[i]))
			return MC_ADVICE_GOOGLE;
	for (i = 0; i < sizeof(microsoft) / sizeof(microsoft[0]); i++)
		if (host_in(host, microsoft[i]))
			return MC_ADVICE_MICROSOFT;
	return MC_ADVICE_OTHER;
}

void
mc_advice_clear(struct mc_advice *a)
{
	if (a == NULL)
		return;
	free(a->explain);
	free(a->advice);
	a->key = NULL;
	a->err = MC_OK;
	a->explain = NULL;
	a->advice = NULL;
}

/*
 * The enhanced status code at the start of s ("5.7.8 ..."), copied into
 * buf; "" when s does not start with one.
 */
static void
enh_from_text(const char *s, char *buf, size_t size)
{
	size_t i = 0, n;
	int part;

	buf[0] = '\0';
	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return;
	i = 2;
	for (part = 0; part < 2; part++) {
		n = 0;
		while (isdigit((unsigned char)s[i]) && n < 3) {
			i++;
			n++;
		}
		if (n == 0 || (part == 0 && s[i] != '.'))
			return;
		if (part == 0)
			i++;
	}
	if (s[i] != '\0' && s[i] != ' ')
		return;
	if (i >= size)
		return;
	memcpy(buf, s, i);
	buf[i] = '\0';
}

/*
 * The server's words for a message: the first line of s, printable ASCII
 * only, cut at 120 bytes with "...". Malloc'd, or NULL.
 */
static char *
quote(const char *s)
{
	char *q;
	size_t i, n = 0, max = 120;

	if (s == NULL)
		s = "";
	q = malloc(max + 4);
	if (q == NULL)
		return NULL;
	for (i = 0; s[i] != '\0' && s[i] != '\n' && s[i] != '\r'; i++) {
		if (n == max) {
			memcpy(q + n, "...", 3);
			n += 3;
			break;
		}
		q[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	}
	while (n > 0 && q[n - 1] == ' ')
		n--;
	q[n] = '\0';
	return q;
}

/* The last line of text whose first word is not "*", else its last line. */
static const char *
imap_final_line(const char *text)
{
	const char *p = text, *last = text, *tagged = NULL;

	for (;;) {
		while (*p == ' ')
			p++;
		if (*p != '\0' && *p != '\n') {
			last = p;
			if (*p != '*')
				tagged = p;
		}
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		p++;
	}
	return tagged != NULL ? tagged : last;
}

enum status { ST_OK, ST_NO, ST_BAD };

/* IMAP: the status word after the tag of line. */
static enum status
imap_status(const char *line)
{
	const char *p = line;

	while (*p != '\0' && *p != ' ' && *p != '\n')
		p++;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "OK", 2) == 0 && (p[2] == ' ' || p[2] == '\0' ||
	    p[2] == '\n'))
		return ST_OK;
	if (strncasecmp(p, "BAD", 3) == 0 && (p[3] == ' ' || p[3] == '\0' ||
	    p[3] == '\n'))
		return ST_BAD;
	return ST_NO;
}

/* What is being judged, and the verdict under construction. */
struct judge {
	const struct mc_advice_in *in;
	const char *name;	/* the account, for commands in advice */
	const char *text;	/* in->text or "" */
	char enh[16];
	char *said;		/* quote() of what decided */
	struct mc_advice *out;
};

/* Fills the verdict; explain and advice are taken (may be NULL: no memory). */
static void
verdict(struct judge *j, const char *key, int err, char *explain,
    char *advice)
{
	j->out->key = key;
	j->out->err = err;
	j->out->explain = explain;
	j->out->advice = advice;
}

static const char *
provider_name(const struct judge *j)
{
	switch (j->in->provider) {
	case MC_ADVICE_GOOGLE:
		return "Gmail";
	case MC_ADVICE_MICROSOFT:
		return "Microsoft";
	default:
		return "the server";
	}
}

/* A Google or Microsoft login whose user has no '@'. */
static int
user_not_address(const struct judge *j)
{
	return j->in->provider != MC_ADVICE_OTHER && j->in->user != NULL &&
	    j->in->user[0] != '\0' && strchr(j->in->user, '@') == NULL;
}

/*
 * The user is not a full address: most likely why the login failed, and
 * the advice for it.
 */
static void
verdict_user(struct judge *j, char *explain)
{
	verdict(j, "user-not-address", MC_ERR_AUTH, explain,
	    mc_strdupf("the user must be the full address, not \"%s\": set "
	    "user = %s@%s in [account %s]", j->in->user, j->in->user,
	    j->in->provider == MC_ADVICE_GOOGLE ? "gmail.com" : "<domain>",
	    j->name));
}

/*
 * A bearer token was refused. With a SASL error challenge its status and
 * scope say more.
 */
static void
verdict_token(struct judge *j, const char *key, const char *why)
{
	const struct mc_sasl_error *c = j->in->challenge;
	char *explain, *advice;
	const char *scope;

	if (c != NULL && c->status != NULL)
		explain = mc_strdupf("%s refused the access token (%s; the error "
		    "challenge says status %s%s%s)", provider_name(j), j->said,
		    c->status, c->scope != NULL ? ", scope " : "",
		    c->scope != NULL ? c->scope : "");
	else
		explain = mc_strdupf("%s refused the access token (%s)",
		    provider_name(j), j->said);
	if (user_not_address(j)) {
		verdict_user(j, explain);
		return;
	}
	scope = c != NULL ? c->scope : NULL;
	if (c != NULL && c->status != NULL &&
	    (strcmp(c->status, "insufficient_scope") == 0 ||
	    strcmp(c->status, "403") == 0))
		advice = mc_strdupf("the grant lacks the scope the server wants%s%s: "
		    "set scope in [account %s] and run `mailcred login %s`",
		    scope != NULL ? ", " : "", scope != NULL ? scope : "",
		    j->name, j->name);
	else
		advice = mc_strdupf("run `mailcred login %s` for a new grant (%s)%s%s",
		    j->name, why, scope != NULL ? "; the server wants scope " :
		    "", scope != NULL ? scope : "");
	verdict(j, key, MC_ERR_AUTH, explain, advice);
}

/* Failures every protocol shares, by meaning; key names the row. */
static void
verdict_app_password(struct judge *j)
{
	verdict(j, "gmail-app-password-required", MC_ERR_AUTH,
	    mc_strdupf("Gmail wants an app password: 2-step verification is on "
	    "(%s)", j->said), mc_strdupf(APP_PASSWORD_HOW, j->name));
}

static void
verdict_web_login(struct judge *j)
{
	verdict(j, "gmail-web-login-required", MC_ERR_AUTH,
	    mc_strdupf("Gmail wants a sign-in through a web browser: it does not "
	    "take the account password here (%s)", j->said),
	    mc_strdupf(APP_PASSWORD_HOW, j->name));
}

static void
verdict_gmail_credentials(struct judge *j)
{
	char *explain;

	if (j->in->auth == MC_AUTH_OAUTH2) {
		verdict_token(j, "gmail-token-refused", "the grant may be "
		    "revoked or expired, or the user is not the address that "
		    "logged in");
		return;
	}
	explain = mc_strdupf("Gmail did not accept the user name and password (%s)",
	    j->said);
	if (user_not_address(j)) {
		verdict_user(j, explain);
		return;
	}
	verdict(j, "gmail-bad-credentials", MC_ERR_AUTH, explain,
	    mc_strdupf("the user must be the full address and the password an app "
	    "password: " APP_PASSWORD_HOW, j->name));
}

static void
verdict_ms_auth(struct judge *j)
{
	char *explain;

	explain = mc_strdupf("Microsoft refused the login (%s)", j->said);
	if (user_not_address(j)) {
		verdict_user(j, explain);
		return;
	}
	if (j->in->auth == MC_AUTH_OAUTH2)
		verdict(j, "ms-auth-unsuccessful", MC_ERR_AUTH, explain,
		    mc_strdupf("the token must be for the account's user and carry "
		    "the %s scope: check user and scope in [account %s], run "
		    "`mailcred login %s`, and have an admin make sure %s is "
		    "enabled for the mailbox",
		    j->in->proto == MC_ADVICE_IMAP ?
		    "https://outlook.office.com/IMAP.AccessAsUser.All" :
		    j->in->proto == MC_ADVICE_POP3 ?
		    "https://outlook.office.com/POP.AccessAsUser.All" :
		    "https://outlook.office.com/SMTP.Send", j->name, j->name,
		    j->in->proto == MC_ADVICE_IMAP ? "IMAP" :
		    j->in->proto == MC_ADVICE_POP3 ? "POP" : "SMTP AUTH"));
	else
		verdict(j, "ms-auth-unsuccessful", MC_ERR_AUTH, explain,
		    mc_strdupf("Microsoft has turned password sign-in off for most "
		    "accounts: use OAuth (auth = oauth2 in [account %s], then "
		    "`mailcred login %s`)", j->name, j->name));
}

static void
verdict_auth_failed(struct judge *j)
{
	char *explain;

	if (j->in->auth == MC_AUTH_OAUTH2 && j->in->challenge != NULL) {
		verdict_token(j, "token-refused", "the grant may be revoked "
		    "or expired, or the user is not the one who logged in");
		return;
	}
	explain = mc_strdupf("%s refused the login (%s)", provider_name(j), j->said);
	if (user_not_address(j)) {
		verdict_user(j, explain);
		return;
	}
	if (j->in->auth == MC_AUTH_OAUTH2)
		verdict(j, "auth-failed", MC_ERR_AUTH, explain,
		    mc_strdupf("check user in [account %s] and run `mailcred login "
		    "%s` for a new grant", j->name, j->name));
	else
		verdict(j, "auth-failed", MC_ERR_AUTH, explain,
		    mc_strdupf("check user in [account %s] and store the right "
		    "password (the provider's app password, where it asks for "
		    "one) with `mailcred password set %s`", j->name,
		    j->name));
}

static void
verdict_temporary(struct judge *j, const char *key, const char *what)
{
	verdict(j, key, MC_ERR_TEMP, mc_strdupf("%s (%s)", what, j->said),
	    mc_strdupf("try again later; nothing needs to change"));
}

static void
judge_smtp(struct judge *j)
{
	const struct mc_advice_in *in = j->in;
	const char *t = j->text;
	int code = in->code;
	int google = in->provider == MC_ADVICE_GOOGLE;

	if (code >= 200 && code < 400) {
		verdict(j, "ok", MC_OK, mc_strdupf("accepted (%s)", j->said), mc_strdupf("%s",
		    ""));
		return;
	}
	/* Microsoft 365 (matched by code wherever it comes from). */
	if (strcmp(j->enh, "5.7.139") == 0) {
		if (has(t, "Tenant"))
			verdict(j, "ms-smtp-auth-disabled-tenant",
			    MC_ERR_SERVICE, mc_strdupf("SMTP AUTH is disabled for the "
			    "whole Microsoft 365 organisation (%s)", j->said),
			    mc_strdupf("an administrator must enable it (PowerShell: "
			    "Set-TransportConfig -SmtpClientAuthenticationDisabled "
			    "$false); it is needed even with OAuth"));
		else if (has(t, "Mailbox"))
			verdict(j, "ms-smtp-auth-disabled-mailbox",
			    MC_ERR_SERVICE, mc_strdupf("SMTP AUTH is disabled for this "
			    "mailbox (%s)", j->said),
			    mc_strdupf("an administrator must enable it (PowerShell: "
			    "Set-CASMailbox -Identity %s "
			    "-SmtpClientAuthenticationDisabled $false); it is "
			    "needed even with OAuth",
			    in->user != NULL ? in->user : j->name));
		else if (has(t, "basic auth"))
			verdict(j, "ms-basic-auth-disabled", MC_ERR_AUTH,
			    mc_strdupf("Microsoft does not take passwords here: basic "
			    "authentication is disabled (%s)", j->said),
			    mc_strdupf("use OAuth: set auth = oauth2 in [account %s] "
			    "and run `mailcred login %s`", j->name, j->name));
		else
			verdict_ms_auth(j);
		return;
	}
	if (strcmp(j->enh, "5.7.30") == 0) {
		verdict(j, "ms-basic-auth-unsupported", MC_ERR_AUTH,
		    mc_strdupf("Microsoft does not take passwords for submission "
		    "(%s)", j->said), mc_strdupf("use OAuth: set auth = oauth2 in "
		    "[account %s] and run `mailcred login %s`", j->name,
		    j->name));
		return;
	}
	if (strcmp(j->enh, "5.7.57") == 0) {
		verdict(j, "ms-not-authenticated", MC_ERR_AUTH,
		    mc_strdupf("Microsoft wants a login before mail is sent (%s)",
		    j->said), mc_strdupf("the login did not happen or did not hold: "
		    "run `mailcred doctor %s` and `mailcred login %s`", j->name,
		    j->name));
		return;
	}
	if (code == 535 && strcmp(j->enh, "5.7.3") == 0) {
		verdict_ms_auth(j);
		return;
	}
	/* Gmail and everyone. */
	if (code == 534 && (has(t, "Application-specific") ||
	    has(t, "InvalidSecondFactor") ||
	    (google && strcmp(j->enh, "5.7.9") == 0))) {
		verdict_app_password(j);
		return;
	}
	if (code == 534 && (strcmp(j->enh, "5.7.14") == 0 ||
	    has(t, "web browser") || has(t, "WebLoginRequired"))) {
		verdict_web_login(j);
		return;
	}
	if (code == 534) {
		verdict(j, "mech-too-weak", MC_ERR_AUTH,
		    mc_strdupf("the server does not take this kind of login (%s)",
		    j->said), mc_strdupf("use OAuth (auth = oauth2 in [account %s]) "
		    "or an app password the provider issues", j->name));
		return;
	}
	if (code == 535 && google && (strcmp(j->enh, "5.7.8") == 0 ||
	    strcmp(j->enh, "5.7.1") == 0 || has(t, "BadCredentials") ||
	    has(t, "not accepted"))) {
		verdict_gmail_credentials(j);
		return;
	}
	if (code == 535) {
		verdict_auth_failed(j);
		return;
	}
	if (code == 530 && has(t, "STARTTLS")) {
		verdict(j, "starttls-required", MC_ERR_CONFIG,
		    mc_strdupf("the server wants TLS before the login (%s)", j->said),
		    mc_strdupf("use smtp://HOST:587 (STARTTLS) or smtps://HOST:465 "
		    "(implicit TLS) as smtp in [account %s]", j->name));
		return;
	}
	if (code == 530) {
		verdict(j, "auth-required", MC_ERR_AUTH,
		    mc_strdupf("the server wants a login first (%s)", j->said),
		    in->auth == MC_AUTH_OAUTH2 ?
		    mc_strdupf("no login took place: run `mailcred doctor %s`, and "
		    "`mailcred login %s` if it finds no grant", j->name,
		    j->name) :
		    mc_strdupf("no login took place: store the app password with "
		    "`mailcred password set %s`", j->name));
		return;
	}
	if (code == 538) {
		verdict(j, "encryption-required", MC_ERR_CONFIG,
		    mc_strdupf("the server wants an encrypted connection for this "
		    "login (%s)", j->said), mc_strdupf("use smtps:// or smtp:// with "
		    "STARTTLS as smtp in [account %s]", j->name));
		return;
	}
	if (code == 504 || (code == 535 && has(t, "mechanism"))) {
		verdict(j, "mech-unsupported", MC_ERR_CONFIG,
		    mc_strdupf("the server does not support this login mechanism "
		    "(%s)", j->said), in->auth == MC_AUTH_OAUTH2 ?
		    mc_strdupf("try the other one: smtp_mech = xoauth2 or "
		    "oauthbearer in [account %s]", j->name) :
		    mc_strdupf("the server may want OAuth: auth = oauth2 in [account "
		    "%s]", j->name));
		return;
	}
	if (code == 454 && has(t, "too many")) {
		verdict(j, "throttled", MC_ERR_TEMP,
		    mc_strdupf("too many login attempts (%s)", j->said),
		    mc_strdupf("wait some minutes before trying again; the "
		    "credential is not necessarily wrong"));
		return;
	}
	if (code == 454) {
		verdict_temporary(j, "temporary-auth-failure", "the server "
		    "cannot check logins just now");
		return;
	}
	if (code == 550 && (strcmp(j->enh, "5.4.5") == 0 ||
	    has(t, "sending limit"))) {
		verdict(j, "sending-limit", MC_ERR_SERVICE,
		    mc_strdupf("the daily sending limit is reached (%s)", j->said),
		    mc_strdupf("wait until the limit resets (up to 24 hours) or send "
		    "through another account"));
		return;
	}
	if (code == 421 && has(t, "EHLO")) {
		verdict(j, "ehlo-refused", MC_ERR_TEMP,
		    mc_strdupf("the server closed the connection after EHLO (%s)",
		    j->said), mc_strdupf("try again later; if it persists, give "
		    "this machine a real host name (EHLO must not be "
		    "localhost)"));
		return;
	}
	if (code >= 400 && code < 500) {
		verdict_temporary(j, "temporary", "the server failed "
		    "temporarily");
		return;
	}
	verdict(j, "refused", MC_ERR_SERVICE, mc_strdupf("the server refused (%s)",
	    j->said), mc_strdupf("the server's words in parentheses say why; "
	    "retrying will not help"));
}

static void
judge_imap(struct judge *j)
{
	const char *t = j->text;
	const char *line = imap_final_line(t);
	enum status st = imap_status(line);

	if (st == ST_OK && !has(t, "[ALERT]")) {
		verdict(j, "ok", MC_OK, mc_strdupf("accepted (%s)", j->said),
		    mc_strdupf("%s", ""));
		return;
	}
	if (has(t, "Application-specific password")) {
		verdict_app_password(j);
		return;
	}
	if (has(t, "[WEBALERT") || has(t, "Web login required")) {
		verdict_web_login(j);
		return;
	}
	if (st == ST_OK) {
		verdict(j, "ok", MC_OK, mc_strdupf("accepted (%s)", j->said),
		    mc_strdupf("%s", ""));
		return;
	}
	if (has(t, "[UNAVAILABLE]") || has(t, "Temporary authentication") ||
	    has(t, "[SERVERBUG]") || has(t, "[INUSE]") || has(t, "[LIMIT]")) {
		verdict_temporary(j, "temporary-auth-failure", "the server "
		    "cannot serve the login just now");
		return;
	}
	if (has(t, "[PRIVACYREQUIRED]")) {
		verdict(j, "encryption-required", MC_ERR_CONFIG,
		    mc_strdupf("the server wants TLS before the login (%s)", j->said),
		    mc_strdupf("use imaps:// (port 993) as imap in [account %s]",
		    j->name));
		return;
	}
	if (j->in->after_login && j->in->provider == MC_ADVICE_MICROSOFT) {
		char *explain = mc_strdupf("Microsoft accepted the login but refused "
		    "the next command (%s)", j->said);

		verdict(j, "ms-user-mismatch", MC_ERR_AUTH, explain,
		    mc_strdupf("the user and the token do not match: set user in "
		    "[account %s] to the address that logged in, or run "
		    "`mailcred login %s` as that user", j->name, j->name));
		return;
	}
	if (j->in->after_login) {
		verdict(j, "refused-after-login", MC_ERR_SERVICE,
		    mc_strdupf("the server accepted the login but refused the next "
		    "command (%s)", j->said), mc_strdupf("read the server's words "
		    "above; the mailbox may be unusable for this user"));
		return;
	}
	if (st == ST_BAD) {
		verdict(j, "protocol-error", MC_ERR_SERVICE,
		    mc_strdupf("the server did not understand the command (%s)",
		    j->said), mc_strdupf("the server may not support this login "
		    "mechanism: try smtp_mech = xoauth2 or oauthbearer in "
		    "[account %s]", j->name));
		return;
	}
	if (j->in->provider == MC_ADVICE_MICROSOFT &&
	    !has(t, "[AUTHENTICATIONFAILED]")) {
		verdict_ms_auth(j);
		return;
	}
	if (j->in->provider == MC_ADVICE_GOOGLE) {
		verdict_gmail_credentials(j);
		return;
	}
	verdict_auth_failed(j);
}

static void
judge_pop3(struct judge *j)
{
	const char *t = j->text;

	while (*t == ' ')
		t++;
	if (strncmp(t, "+OK", 3) == 0) {
		verdict(j, "ok", MC_OK, mc_strdupf("accepted (%s)", j->said),
		    mc_strdupf("%s", ""));
		return;
	}
	if (has(t, "[SYS/PERM]") && has(t, "POP")) {
		verdict(j, "gmail-pop-disabled", MC_ERR_SERVICE,
		    mc_strdupf("POP is not enabled for this mailbox (%s)", j->said),
		    mc_strdupf("enable it in Gmail: Settings, See all settings, "
		    "Forwarding and POP/IMAP, Enable POP"));
		return;
	}
	if (has(t, "[SYS/TEMP]") || has(t, "[IN-USE]") ||
	    has(t, "Temporary authentication")) {
		verdict_temporary(j, "temporary-auth-failure", "the server "
		    "cannot serve the mailbox just now");
		return;
	}
	if (has(t, "Application-specific password")) {
		verdict_app_password(j);
		return;
	}
	if (has(t, "Web login required")) {
		verdict_web_login(j);
		return;
	}
	if (j->in->after_login) {
		verdict(j, "refused-after-login", MC_ERR_SERVICE,
		    mc_strdupf("the server accepted the login but refused the next "
		    "command (%s)", j->said), mc_strdupf("read the server's words "
		    "above; the mailbox may be unusable for this user"));
		return;
	}
	if (j->in->provider == MC_ADVICE_MICROSOFT) {
		verdict_ms_auth(j);
		return;
	}
	if (j->in->provider == MC_ADVICE_GOOGLE) {
		verdict_gmail_credentials(j);
		return;
	}
	verdict_auth_failed(j);
}

int
mc_advice_explain(const struct mc_advice_in *in, struct mc_advice *out)
{
	struct judge j;
	int ret = MC_ERR_NOMEM;
	int n;

	out->key = NULL;
	out->err = MC_OK;
	out->explain = NULL;
	out->advice = NULL;

	memset(&j, 0, sizeof(j));
	j.in = in;
	j.out = out;
	j.name = in->account != NULL ? in->account : "ACCOUNT";
	j.text = in->text != NULL ? in->text : "";
	if (in->proto == MC_ADVICE_SMTP) {
		if (in->enh != NULL && in->enh[0] != '\0') {
			n = snprintf(j.enh, sizeof(j.enh), "%s", in->enh);
			if (n < 0 || (size_t)n >= sizeof(j.enh))
				j.enh[0] = '\0';	/* not a status code */
		} else
			enh_from_text(j.text, j.enh, sizeof(j.enh));
		if (strlen(j.enh) >= sizeof(j.enh) - 1)
			j.enh[0] = '\0';
	}

	if (in->proto == MC_ADVICE_SMTP) {
		const char *rest = j.text;
		char *q;

		/* The text without the enhanced code when it starts with it. */
		if (j.enh[0] != '\0' && strncmp(rest, j.enh,
		    strlen(j.enh)) == 0)
			rest += strlen(j.enh);
		while (*rest == ' ')
			rest++;
		q = quote(rest);
		if (q == NULL)
			goto out;
		if (q[0] == '\0' && j.enh[0] == '\0')
			j.said = mc_strdupf("%d", in->code);
		else if (q[0] == '\0')
			j.said = mc_strdupf("%d %s", in->code, j.enh);
		else if (j.enh[0] == '\0')
			j.said = mc_strdupf("%d %s", in->code, q);
		else
			j.said = mc_strdupf("%d %s %s", in->code, j.enh, q);
		free(q);
	} else if (in->proto == MC_ADVICE_IMAP) {
		const char *line = imap_final_line(j.text);

		/* Quote the tagged line without its tag. */
		while (*line != '\0' && *line != ' ' && *line != '\n')
			line++;
		while (*line == ' ')
			line++;
		j.said = quote(line);
	} else {
		j.said = quote(j.text);
	}
	if (j.said == NULL)
		goto out;

	switch (in->proto) {
	case MC_ADVICE_IMAP:
		judge_imap(&j);
		break;
	case MC_ADVICE_POP3:
		judge_pop3(&j);
		break;
	default:
		judge_smtp(&j);
		break;
	}
	if (out->explain == NULL || out->advice == NULL) {
		mc_advice_clear(out);
		goto out;
	}
	ret = MC_OK;
out:
	free(j.said);
	return ret;
}
