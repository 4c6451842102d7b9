/*
 * Unit tests: auth/advice - every row of MAILSERVERS.md turned into the
 * right explanation, advice and exit class.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth/advice.h"
#include "auth/err.h"

struct row {
	enum mc_advice_proto proto;
	enum mc_advice_provider provider;
	enum mc_auth auth;
	int code;
	const char *enh;
	const char *text;
	const char *key;	/* expected */
	int err;		/* expected */
	const char *in_advice;	/* expected in the advice, or NULL */
	const char *in_explain;	/* expected in the explanation, or NULL */
};

#define G MC_ADVICE_GOOGLE
#define M MC_ADVICE_MICROSOFT
#define O MC_ADVICE_OTHER
#define OA MC_AUTH_OAUTH2
#define PW MC_AUTH_PASSWORD
#define S MC_ADVICE_SMTP
#define I MC_ADVICE_IMAP
#define P MC_ADVICE_POP3

static void
check_row(const struct row *r, const char *user,
    const struct mc_sasl_error *challenge, int after_login)
{
	struct mc_advice_in in = MC_ADVICE_IN_INIT;
	struct mc_advice a = MC_ADVICE_INIT;

	in.proto = r->proto;
	in.provider = r->provider;
	in.auth = r->auth;
	in.account = "me@example.com";
	in.user = user;
	in.code = r->code;
	in.enh = r->enh;
	in.text = r->text;
	in.challenge = challenge;
	in.after_login = after_login;
	assert_int_equal(mc_advice_explain(&in, &a), MC_OK);
	if (strcmp(a.key, r->key) != 0 || a.err != r->err ||
	    (r->in_advice != NULL && strstr(a.advice, r->in_advice) == NULL) ||
	    (r->in_explain != NULL &&
	    strstr(a.explain, r->in_explain) == NULL)) {
		print_error("text \"%s\": got key %s err %d\n  explain: %s\n"
		    "  advice: %s\n", r->text, a.key, a.err, a.explain,
		    a.advice);
		fail();
	}
	/* One line each, no secret, no stray control bytes. */
	assert_null(strchr(a.explain, '\n'));
	assert_null(strchr(a.advice, '\n'));
	mc_advice_clear(&a);
	assert_null(a.explain);
}

static void
check_rows(const struct row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		check_row(&rows[i], "me@example.com", NULL, 0);
}

static void
test_gmail_smtp(void **state)
{
	static const struct row rows[] = {
		{ S, G, PW, 535, "5.7.8", "Username and Password not "
		    "accepted. Learn more at https://support.google.com/mail/"
		    "?p=BadCredentials", "gmail-bad-credentials", MC_ERR_AUTH,
		    "myaccount.google.com/apppasswords", "535 5.7.8" },
		/* The enhanced code read from the text; new wording. */
		{ S, G, PW, 535, NULL, "5.7.8 Username and Password not "
		    "accepted. For more information, go to ...",
		    "gmail-bad-credentials", MC_ERR_AUTH, "16 letters",
		    "535 5.7.8 Username" },
		{ S, G, OA, 535, "5.7.8", "Username and Password not accepted",
		    "gmail-token-refused", MC_ERR_AUTH,
		    "mailcred login me@example.com", NULL },
		{ S, G, PW, 534, "5.7.9", "Application-specific password "
		    "required. ?p=InvalidSecondFactor",
		    "gmail-app-password-required", MC_ERR_AUTH,
		    "https://myaccount.google.com/apppasswords",
		    "2-step verification" },
		/* Wording changed, code kept. */
		{ S, G, PW, 534, "5.7.9", "Please use an app specific thing",
		    "gmail-app-password-required", MC_ERR_AUTH,
		    "mailcred password set me@example.com", NULL },
		{ S, G, PW, 534, "5.7.14", "<https://accounts.google.com/"
		    "signin/continue?sarp=1> Please log in via your web browser "
		    "and then try again.", "gmail-web-login-required",
		    MC_ERR_AUTH, "app password", "web browser" },
		{ S, G, PW, 530, "5.7.0", "Authentication Required. Learn more "
		    "at ?p=WantAuthError", "auth-required", MC_ERR_AUTH,
		    "mailcred password set", NULL },
		{ S, G, OA, 530, "5.7.0", "Authentication Required.",
		    "auth-required", MC_ERR_AUTH, "mailcred login", NULL },
		{ S, G, PW, 530, "5.7.0", "Must issue a STARTTLS command first.",
		    "starttls-required", MC_ERR_CONFIG, "smtps://HOST:465",
		    NULL },
		{ S, G, PW, 454, "4.7.0", "Too many login attempts, please "
		    "try again later.", "throttled", MC_ERR_TEMP, "wait",
		    "too many" },
		{ S, G, OA, 454, "4.7.0", "Cannot authenticate due to a "
		    "temporary system problem. Try again later.",
		    "temporary-auth-failure", MC_ERR_TEMP, "try again later",
		    NULL },
		{ S, G, OA, 550, "5.4.5", "Daily user sending limit exceeded.",
		    "sending-limit", MC_ERR_SERVICE, "24 hours", NULL },
		{ S, G, OA, 421, "4.3.0", "Temporary System Problem.  Try again "
		    "later (10).", "temporary", MC_ERR_TEMP, "try again later",
		    "421 4.3.0" },
		{ S, G, OA, 421, "4.7.0", "Try again later, closing "
		    "connection. (EHLO)", "ehlo-refused", MC_ERR_TEMP,
		    "host name", NULL },
		{ S, G, OA, 235, "2.7.0", "Accepted", "ok", MC_OK, "", NULL },
	};

	(void)state;
	check_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void
test_microsoft_smtp(void **state)
{
	static const struct row rows[] = {
		{ S, M, OA, 535, "5.7.3", "Authentication unsuccessful "
		    "[SN4PR0201CA0054.namprd02.prod.outlook.com]",
		    "ms-auth-unsuccessful", MC_ERR_AUTH,
		    "https://outlook.office.com/SMTP.Send", "535 5.7.3" },
		{ S, M, PW, 535, "5.7.3", "Authentication unsuccessful",
		    "ms-auth-unsuccessful", MC_ERR_AUTH, "auth = oauth2", NULL },
		{ S, M, OA, 535, "5.7.139", "Authentication unsuccessful, "
		    "SmtpClientAuthentication is disabled for the Tenant. Visit "
		    "https://aka.ms/smtp_auth_disabled for more information.",
		    "ms-smtp-auth-disabled-tenant", MC_ERR_SERVICE,
		    "Set-TransportConfig -SmtpClientAuthenticationDisabled $false",
		    NULL },
		{ S, M, OA, 535, "5.7.139", "Authentication unsuccessful, "
		    "SmtpClientAuthentication is disabled for the Mailbox.",
		    "ms-smtp-auth-disabled-mailbox", MC_ERR_SERVICE,
		    "Set-CASMailbox -Identity me@example.com", NULL },
		{ S, M, PW, 535, "5.7.139", "Authentication unsuccessful, basic "
		    "authentication is disabled.", "ms-basic-auth-disabled",
		    MC_ERR_AUTH, "auth = oauth2", NULL },
		/* The code alone decides, whatever provider was guessed. */
		{ S, O, PW, 535, NULL, "5.7.139 Authentication unsuccessful, "
		    "SmtpClientAuthentication is disabled for the Tenant.",
		    "ms-smtp-auth-disabled-tenant", MC_ERR_SERVICE, NULL, NULL },
		{ S, M, PW, 550, "5.7.30", "Basic authentication is not "
		    "supported for Client Submission.",
		    "ms-basic-auth-unsupported", MC_ERR_AUTH, "auth = oauth2",
		    NULL },
		{ S, M, OA, 530, "5.7.57", "Client not authenticated to send "
		    "mail.", "ms-not-authenticated", MC_ERR_AUTH,
		    "mailcred login", NULL },
	};

	(void)state;
	check_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void
test_other_smtp(void **state)
{
	static const struct row rows[] = {
		/* Dovecot submission, smtp-server. */
		{ S, O, PW, 535, "5.7.8", "Authentication credentials invalid",
		    "auth-failed", MC_ERR_AUTH, "mailcred password set", NULL },
		{ S, O, OA, 535, "5.7.8", "Authentication failed",
		    "auth-failed", MC_ERR_AUTH, "mailcred login", NULL },
		{ S, O, PW, 534, "5.7.9", "Authentication mechanism is too "
		    "weak", "mech-too-weak", MC_ERR_AUTH, NULL, NULL },
		{ S, O, OA, 504, "5.5.4", "Unrecognized authentication type",
		    "mech-unsupported", MC_ERR_CONFIG, "smtp_mech", NULL },
		{ S, O, OA, 538, "5.7.11", "Encryption required",
		    "encryption-required", MC_ERR_CONFIG, NULL, NULL },
		{ S, O, OA, 451, "4.3.0", "Local error", "temporary",
		    MC_ERR_TEMP, NULL, NULL },
		{ S, O, OA, 554, "5.7.1", "Relay denied", "refused",
		    MC_ERR_SERVICE, NULL, "554 5.7.1 Relay denied" },
		{ S, O, OA, 550, NULL, "", "refused", MC_ERR_SERVICE, NULL,
		    "(550)" },
	};

	(void)state;
	check_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void
test_imap(void **state)
{
	static const struct row rows[] = {
		{ I, G, PW, 0, NULL, "A1 NO [AUTHENTICATIONFAILED] Invalid "
		    "credentials (Failure)", "gmail-bad-credentials",
		    MC_ERR_AUTH, "app password",
		    "NO [AUTHENTICATIONFAILED] Invalid credentials" },
		{ I, G, OA, 0, NULL, "A1 NO [AUTHENTICATIONFAILED] Invalid "
		    "credentials (Failure)", "gmail-token-refused",
		    MC_ERR_AUTH, "mailcred login", NULL },
		{ I, G, PW, 0, NULL, "A1 NO [ALERT] Application-specific "
		    "password required: https://support.google.com/accounts/"
		    "answer/185833 (Failure)", "gmail-app-password-required",
		    MC_ERR_AUTH, "apppasswords", NULL },
		{ I, G, PW, 0, NULL, "* NO [WEBALERT https://accounts.google."
		    "com/signin/continue?sarp=1] Web login required.\n"
		    "A1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
		    "gmail-web-login-required", MC_ERR_AUTH, NULL, NULL },
		{ I, M, OA, 0, NULL, "A1 NO AUTHENTICATE failed.",
		    "ms-auth-unsuccessful", MC_ERR_AUTH,
		    "IMAP.AccessAsUser.All", "NO AUTHENTICATE failed." },
		{ I, O, OA, 0, NULL, "a NO [UNAVAILABLE] Temporary "
		    "authentication failure. [host:2023-01-01]",
		    "temporary-auth-failure", MC_ERR_TEMP, NULL, NULL },
		{ I, O, PW, 0, NULL, "a NO [AUTHENTICATIONFAILED] "
		    "Authentication failed.", "auth-failed", MC_ERR_AUTH,
		    "mailcred password set", NULL },
		{ I, O, OA, 0, NULL, "a BAD Invalid AUTHENTICATE command",
		    "protocol-error", MC_ERR_SERVICE, NULL, NULL },
		{ I, O, OA, 0, NULL, "a OK [CAPABILITY IMAP4rev1] Logged in",
		    "ok", MC_OK, NULL, NULL },
	};

	(void)state;
	check_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void
test_pop3(void **state)
{
	static const struct row rows[] = {
		{ P, G, PW, 0, NULL, "-ERR [AUTH] Username and password not "
		    "accepted.", "gmail-bad-credentials", MC_ERR_AUTH,
		    "app password", "-ERR [AUTH]" },
		{ P, G, PW, 0, NULL, "-ERR [SYS/PERM] Your account is not "
		    "enabled for POP access. Please visit your Gmail settings "
		    "page and enable your account for POP access.",
		    "gmail-pop-disabled", MC_ERR_SERVICE, "Enable POP", NULL },
		{ P, M, PW, 0, NULL, "-ERR Authentication failure: unknown "
		    "user name or bad password.", "ms-auth-unsuccessful",
		    MC_ERR_AUTH, "auth = oauth2", NULL },
		{ P, O, OA, 0, NULL, "-ERR [AUTH] Authentication failed.",
		    "auth-failed", MC_ERR_AUTH, "mailcred login", NULL },
		{ P, O, OA, 0, NULL, "-ERR [SYS/TEMP] Temporary "
		    "authentication failure.", "temporary-auth-failure",
		    MC_ERR_TEMP, NULL, NULL },
		{ P, O, OA, 0, NULL, "-ERR [IN-USE] Mailbox locked",
		    "temporary-auth-failure", MC_ERR_TEMP, NULL, NULL },
		{ P, O, OA, 0, NULL, "+OK Logged in.", "ok", MC_OK, NULL,
		    NULL },
	};

	(void)state;
	check_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

/* After a login the server accepted, the next command refused. */
static void
test_after_login(void **state)
{
	static const struct row ms = { I, M, OA, 0, NULL, "a2 NO User is "
	    "authenticated but not connected.", "ms-user-mismatch",
	    MC_ERR_AUTH, "user in [account me@example.com]", NULL };
	static const struct row other = { I, O, OA, 0, NULL, "a2 NO Mailbox "
	    "doesn't exist", "refused-after-login", MC_ERR_SERVICE, NULL,
	    NULL };
	static const struct row pop = { P, G, OA, 0, NULL, "-ERR [SYS/PERM] "
	    "Your account is not enabled for POP access.",
	    "gmail-pop-disabled", MC_ERR_SERVICE, NULL, NULL };
	static const struct row pop2 = { P, O, OA, 0, NULL, "-ERR No such "
	    "mailbox", "refused-after-login", MC_ERR_SERVICE, NULL, NULL };

	(void)state;
	check_row(&ms, "me@example.com", NULL, 1);
	check_row(&other, "me@example.com", NULL, 1);
	check_row(&pop, "me@example.com", NULL, 1);
	check_row(&pop2, "me@example.com", NULL, 1);
}

/* The decoded SASL error challenge says what was wrong with the token. */
static void
test_challenge(void **state)
{
	struct mc_sasl_error gmail = { "401", "bearer",
	    "https://mail.google.com/" };
	struct mc_sasl_error dovecot = { "invalid_token", NULL, NULL };
	struct mc_sasl_error scope = { "insufficient_scope", NULL,
	    "openid email" };
	static const struct row g = { S, G, OA, 535, "5.7.8", "Username and "
	    "Password not accepted", "gmail-token-refused", MC_ERR_AUTH,
	    "mailcred login me@example.com", "status 401, scope "
	    "https://mail.google.com/" };
	static const struct row d = { I, O, OA, 0, NULL, "a NO "
	    "[AUTHENTICATIONFAILED] Authentication failed.",
	    "token-refused", MC_ERR_AUTH, "mailcred login", "invalid_token" };
	static const struct row dp = { P, O, OA, 0, NULL, "-ERR [AUTH] "
	    "Authentication failed.", "token-refused", MC_ERR_AUTH,
	    "mailcred login", "invalid_token" };
	static const struct row s = { S, O, OA, 535, "5.7.8", "Authentication "
	    "failed", "token-refused", MC_ERR_AUTH, "set scope in [account "
	    "me@example.com]", "insufficient_scope" };

	(void)state;
	check_row(&g, "me@example.com", &gmail, 0);
	check_row(&d, "me@example.com", &dovecot, 0);
	check_row(&dp, "me@example.com", &dovecot, 0);
	check_row(&s, "me@example.com", &scope, 0);
}

/* Google and Microsoft want the full address as the user. */
static void
test_user_not_address(void **state)
{
	static const struct row g = { S, G, PW, 535, "5.7.8", "Username and "
	    "Password not accepted", "user-not-address", MC_ERR_AUTH,
	    "user = me@gmail.com", "535 5.7.8" };
	static const struct row gi = { I, G, OA, 0, NULL, "a NO "
	    "[AUTHENTICATIONFAILED] Invalid credentials (Failure)",
	    "user-not-address", MC_ERR_AUTH, "not \"me\"", NULL };
	static const struct row m = { S, M, OA, 535, "5.7.3", "Authentication "
	    "unsuccessful", "user-not-address", MC_ERR_AUTH, "full address",
	    NULL };
	/* Others may use short names. */
	static const struct row o = { S, O, PW, 535, "5.7.8", "Authentication "
	    "failed", "auth-failed", MC_ERR_AUTH, NULL, NULL };

	(void)state;
	check_row(&g, "me", NULL, 0);
	check_row(&gi, "me", NULL, 0);
	check_row(&m, "me", NULL, 0);
	check_row(&o, "me", NULL, 0);
}

/* What the server said is quoted, but only printable and not too long. */
static void
test_quote(void **state)
{
	struct mc_advice_in in = MC_ADVICE_IN_INIT;
	struct mc_advice a = MC_ADVICE_INIT;
	char big[600];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[3] = '\t';
	in.code = 554;
	in.text = big;
	assert_int_equal(mc_advice_explain(&in, &a), MC_OK);
	assert_non_null(strstr(a.explain, "554 xxx?xxx"));
	assert_non_null(strstr(a.explain, "...)"));
	assert_true(strlen(a.explain) < 200);
	assert_string_equal(a.advice, "the server's words in parentheses "
	    "say why; retrying will not help");
	assert_null(strstr(a.advice, "ACCOUNT"));
	mc_advice_clear(&a);

	/* Without an account name the advice says ACCOUNT. */
	in.code = 535;
	in.text = "5.7.8 no";
	in.auth = MC_AUTH_PASSWORD;
	assert_int_equal(mc_advice_explain(&in, &a), MC_OK);
	assert_string_equal(a.key, "auth-failed");
	assert_non_null(strstr(a.advice, "mailcred password set ACCOUNT"));
	assert_non_null(strstr(a.explain, "(535 5.7.8 no)"));
	mc_advice_clear(&a);
	mc_advice_clear(NULL);
}

static void
test_provider_of(void **state)
{
	struct mc_account acct;

	(void)state;
	memset(&acct, 0, sizeof(acct));
	assert_int_equal(mc_advice_provider_of(NULL, "smtp.gmail.com"),
	    MC_ADVICE_GOOGLE);
	assert_int_equal(mc_advice_provider_of(NULL, "SMTP.Office365.com"),
	    MC_ADVICE_MICROSOFT);
	assert_int_equal(mc_advice_provider_of(NULL, "outlook.office365.com"),
	    MC_ADVICE_MICROSOFT);
	assert_int_equal(mc_advice_provider_of(NULL, "notgmail.com"),
	    MC_ADVICE_OTHER);
	assert_int_equal(mc_advice_provider_of(NULL, "127.0.0.1"),
	    MC_ADVICE_OTHER);
	assert_int_equal(mc_advice_provider_of(NULL, NULL), MC_ADVICE_OTHER);
	acct.provider = "microsoft";
	assert_int_equal(mc_advice_provider_of(&acct, "127.0.0.1"),
	    MC_ADVICE_MICROSOFT);
	acct.provider = NULL;
	acct.google = 1;
	assert_int_equal(mc_advice_provider_of(&acct, "127.0.0.1"),
	    MC_ADVICE_GOOGLE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gmail_smtp),
		cmocka_unit_test(test_microsoft_smtp),
		cmocka_unit_test(test_other_smtp),
		cmocka_unit_test(test_imap),
		cmocka_unit_test(test_pop3),
		cmocka_unit_test(test_after_login),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_user_not_address),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_provider_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
