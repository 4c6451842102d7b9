/* Unit tests: auth/url - the strict URL parser and the secret-URL rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/err.h"
#include "auth/http.h"
#include "auth/url.h"

static const struct good {
	const char *text;
	const char *scheme, *host;
	enum mc_url_host type;
	unsigned int port;
	const char *path;
	int loopback;
} good[] = {
	{ "https://login.microsoftonline.com/common/oauth2/v2.0/token",
	    "https", "login.microsoftonline.com", MC_URL_HOST_NAME, 0,
	    "/common/oauth2/v2.0/token", 0 },
	{ "http://[::1]:8080/x", "http", "::1", MC_URL_HOST_IPV6, 8080, "/x",
	    1 },
	{ "HTTPS://Accounts.Google.COM/o/oauth2/v2/auth", "https",
	    "accounts.google.com", MC_URL_HOST_NAME, 0, "/o/oauth2/v2/auth",
	    0 },
	{ "hTTp://LocalHost:65535", "http", "localhost", MC_URL_HOST_NAME,
	    65535, "", 1 },
	{ "http://127.0.0.1/", "http", "127.0.0.1", MC_URL_HOST_IPV4, 0, "/",
	    1 },
	{ "http://127.255.0.9:1/cb?x=1&y=%2F#f", "http", "127.255.0.9",
	    MC_URL_HOST_IPV4, 1, "/cb?x=1&y=%2F#f", 1 },
	/* A name that starts like a loopback address is a name. */
	{ "https://127.0.0.1.evil.com/", "https", "127.0.0.1.evil.com",
	    MC_URL_HOST_NAME, 0, "/", 0 },
	{ "http://localhost.evil.com/", "http", "localhost.evil.com",
	    MC_URL_HOST_NAME, 0, "/", 0 },
	{ "https://10.0.0.1", "https", "10.0.0.1", MC_URL_HOST_IPV4, 0, "",
	    0 },
	{ "https://0.0.0.0:443/", "https", "0.0.0.0", MC_URL_HOST_IPV4, 443,
	    "/", 0 },
	{ "https://[2001:DB8::1]/t", "https", "2001:db8::1", MC_URL_HOST_IPV6,
	    0, "/t", 0 },
	/* IPv4-mapped 127.0.0.1 is not ::1. */
	{ "http://[::ffff:127.0.0.1]/", "http", "::ffff:127.0.0.1",
	    MC_URL_HOST_IPV6, 0, "/", 0 },
	{ "https://x.example?a=b", "https", "x.example", MC_URL_HOST_NAME, 0,
	    "?a=b", 0 },
	{ "https://x.example#frag", "https", "x.example", MC_URL_HOST_NAME, 0,
	    "#frag", 0 },
	{ "https://id.example/%7Euser/t;p?q=a%20b&r=(1)*!$',:@/?",
	    "https", "id.example", MC_URL_HOST_NAME, 0,
	    "/%7Euser/t;p?q=a%20b&r=(1)*!$',:@/?", 0 },
	{ "smtps://smtp.gmail.com:465", "smtps", "smtp.gmail.com",
	    MC_URL_HOST_NAME, 465, "", 0 },
	{ "https://xn--bcher-kva.example/", "https", "xn--bcher-kva.example",
	    MC_URL_HOST_NAME, 0, "/", 0 },
	{ "https://123.example.com/", "https", "123.example.com",
	    MC_URL_HOST_NAME, 0, "/", 0 },
	{ "https://a/", "https", "a", MC_URL_HOST_NAME, 0, "/", 0 },
	{ "svn+ssh://h/", "svn+ssh", "h", MC_URL_HOST_NAME, 0, "/", 0 },
};

static const struct bad {
	const char *text;
	const char *why;	/* a part of the reason */
} bad[] = {
	/* Userinfo: the host another parser reads would be "evil". */
	{ "http://127.0.0.1@evil/", "'@' before the host" },
	{ "http://evil@127.0.0.1/", "'@' before the host" },
	{ "https://user:pw@host/", "'@' before the host" },
	{ "http://127.0.0.1:80@evil/", "'@' before the host" },
	/* No host. */
	{ "https:///x", "the host is missing" },
	{ "https://", "the host is missing" },
	{ "https://:443/", "the host is missing" },
	{ "https://?q", "the host is missing" },
	/* Ports. */
	{ "http://host:0/", "the port must be" },
	{ "http://host:65536/", "the port must be" },
	{ "http://host:99999/", "the port must be" },
	{ "http://host:123456/", "the port must be" },
	{ "http://host:/", "the port must be" },
	{ "http://host:08080/", "the port must be" },
	{ "http://host:80:81/", "the port must be" },
	{ "http://host:-1/", "the port must be" },
	{ "https://host:443junk", "the port must be" },
	/* IPv6. */
	{ "http://[::1]junk/", "only ':' and a port may follow" },
	{ "http://[::1]:/", "the port must be" },
	{ "http://[::1/", "lacks its closing ']'" },
	{ "http://[fe80::1%25eth0]/", "without a zone" },
	{ "http://[127.0.0.1]/", "must hold an IPv6 address" },
	{ "http://[]/", "must hold an IPv6 address" },
	{ "http://[::1::2]/", "must hold an IPv6 address" },
	{ "http://::1/", "the host is missing" },
	/* Numbers that some parsers read as addresses. */
	{ "http://127.1/", "must be an IPv4 address" },
	{ "http://0x7f.0.0.1/", "must be an IPv4 address" },
	{ "http://0x7f000001/", "must be an IPv4 address" },
	{ "http://2130706433/", "must be an IPv4 address" },
	{ "http://0177.0.0.1/", "must be an IPv4 address" },
	{ "http://127.0.0.01/", "must be an IPv4 address" },
	{ "http://256.0.0.1/", "must be an IPv4 address" },
	{ "http://1.2.3.4.5/", "must be an IPv4 address" },
	{ "http://evil.0x10/", "must be an IPv4 address" },
	{ "http://evil.123/", "must be an IPv4 address" },
	/* Host names. */
	{ "http://127.0.0.1./", "empty label" },
	{ "http://localhost./", "empty label" },
	{ "http://.example/", "empty label" },
	{ "http://a..b/", "empty label" },
	{ "https://ex_ample.com/", "letters, digits, '-' and '.'" },
	{ "https://%65vil.com/", "letters, digits, '-' and '.'" },
	{ "https://ev!l.com/", "letters, digits, '-' and '.'" },
	{ "https://-a.example/", "starts or ends with '-'" },
	{ "https://a-.example/", "starts or ends with '-'" },
	/* Blanks, controls, bytes beyond ASCII, backslashes. */
	{ "https://host/ x", "a blank, a control character" },
	{ " https://host/", "a blank, a control character" },
	{ "https://host/\t", "a blank, a control character" },
	{ "https://ho\nst/", "a blank, a control character" },
	{ "https://host/\x7f", "a blank, a control character" },
	{ "https://h\xc3\xb3st/", "a blank, a control character" },
	{ "https://evil.com\\@good.com/", "a backslash" },
	{ "https:\\\\evil.com/", "a backslash" },
	/* Schemes. */
	{ "https:/host/", "followed by '//'" },
	{ "https:host", "followed by '//'" },
	{ "//host/x", "does not start with a scheme" },
	{ "host/x", "does not start with a scheme" },
	{ "1https://x/", "does not start with a scheme" },
	{ "ht_tp://x/", "does not start with a scheme" },
	{ "abcdefghijklmnopq://x/", "scheme is too long" },
	{ "", "it is empty" },
	/* Path, query and fragment. */
	{ "https://host/<script>", "must be percent-encoded" },
	{ "https://host/{tenant}/x", "must be percent-encoded" },
	{ "https://host/a\"b", "must be percent-encoded" },
	{ "https://host/a#b#c", "must be percent-encoded" },
	{ "https://host/?a=[1]", "must be percent-encoded" },
	{ "https://host/%zz", "two hex digits" },
	{ "https://host/%4", "two hex digits" },
	{ "https://host/%", "two hex digits" },
};

static void
test_accepted(void **state)
{
	struct mc_url u;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = NULL;
		if (mc_url_parse(good[i].text, &u, &why) != MC_OK)
			fail_msg("'%s' refused: %s", good[i].text, why);
		assert_string_equal(u.scheme, good[i].scheme);
		assert_string_equal(u.host, good[i].host);
		assert_int_equal(u.host_type, good[i].type);
		assert_int_equal(u.port, good[i].port);
		assert_string_equal(u.path, good[i].path);
		assert_true(u.path >= good[i].text &&
		    u.path <= good[i].text + strlen(good[i].text));
		if (mc_url_is_loopback(&u) != good[i].loopback)
			fail_msg("'%s': loopback should be %d", good[i].text,
			    good[i].loopback);
	}
}

static void
test_refused(void **state)
{
	struct mc_url u;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (mc_url_parse(bad[i].text, &u, &why) != MC_ERR_CONFIG)
			fail_msg("'%s' accepted (host '%s')", bad[i].text,
			    u.host);
		assert_non_null(why);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("'%s': reason '%s' lacks '%s'", bad[i].text,
			    why, bad[i].why);
	}
	assert_int_equal(mc_url_parse(NULL, &u, NULL), MC_ERR_CONFIG);
}

static void
test_long_hosts(void **state)
{
	char text[400], label[70];
	struct mc_url u;
	const char *why = NULL;

	(void)state;
	memset(label, 'a', 63);
	label[63] = '\0';
	assert_true(snprintf(text, sizeof(text),
	    "https://%s.%s.%s.%s/", label, label,
	    label, "abcdefghijklmnopqrstuvwxyz01234567890123456789012345678a")
	    < (int)sizeof(text));
	/* 63 * 3 + 3 + 57 = 249 characters: a name may be 253. */
	assert_int_equal(mc_url_parse(text, &u, &why), MC_OK);
	assert_true(snprintf(text, sizeof(text),
	    "https://%s.%s.%s.%s/", label, label,
	    label, label) < (int)sizeof(text));
	assert_int_equal(mc_url_parse(text, &u, &why), MC_ERR_CONFIG);
	assert_non_null(strstr(why, "longer than 253"));
	label[63] = 'a';
	label[64] = '\0';
	assert_true(snprintf(text, sizeof(text), "https://%s.example/", label)
	    < (int)sizeof(text));
	assert_int_equal(mc_url_parse(text, &u, &why), MC_ERR_CONFIG);
	assert_non_null(strstr(why, "longer than 63"));
}

/* Expects mc_url_check to refuse with a message that holds want. */
static void
expect_refused(const char *text, enum mc_url_use use, const char *want)
{
	char *msg = NULL;

	assert_int_equal(mc_url_check(text, use, "token_endpoint", &msg),
	    MC_ERR_CONFIG);
	assert_non_null(msg);
	if (strstr(msg, want) == NULL)
		fail_msg("message '%s' lacks '%s'", msg, want);
	assert_null(strchr(msg, '\n'));
	assert_null(strchr(msg, '\033'));
	free(msg);
}

static void
test_check(void **state)
{
	static const char *const endpoints[] = {
		"https://oauth2.googleapis.com/token",
		"http://127.0.0.1:9/token", "http://[::1]/t",
		"http://localhost:8080/t", "HTTP://LOCALHOST/t",
		"http://127.9.9.9/",
	};
	static const char *const redirects[] = {
		"http://127.0.0.1/", "http://localhost/", "http://[::1]:1/cb",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
		assert_int_equal(mc_url_check(endpoints[i], MC_URL_ENDPOINT,
		    "e", NULL), MC_OK);
	for (i = 0; i < sizeof(redirects) / sizeof(redirects[0]); i++)
		assert_int_equal(mc_url_check(redirects[i], MC_URL_REDIRECT,
		    "r", NULL), MC_OK);
	expect_refused("http://id.example/token", MC_URL_ENDPOINT,
	    "token_endpoint http://id.example/token uses plain http to a "
	    "host that is not loopback: use https://");
	expect_refused("http://127.0.0.1.evil.com/", MC_URL_ENDPOINT,
	    "uses plain http to a host that is not loopback");
	expect_refused("http://[::ffff:127.0.0.1]/", MC_URL_ENDPOINT,
	    "uses plain http to a host that is not loopback");
	expect_refused("http://127.0.0.1@evil/", MC_URL_ENDPOINT,
	    "token_endpoint http://127.0.0.1@evil/ is not a valid URL: it "
	    "holds '@' before the host");
	expect_refused("ftp://id.example/", MC_URL_ENDPOINT,
	    "only https:// URLs are allowed");
	expect_refused(NULL, MC_URL_ENDPOINT, "is not a valid URL: it is empty");
	expect_refused("https://127.0.0.1/", MC_URL_REDIRECT,
	    "must be http:// to a loopback host: use http://127.0.0.1/");
	expect_refused("http://example.com/", MC_URL_REDIRECT,
	    "must be http:// to a loopback host");
	/* What cannot be shown is not shown. */
	expect_refused("https://ho\033[2Jst/\n", MC_URL_ENDPOINT,
	    "https://ho?[2Jst/? is not a valid URL");
	assert_int_equal(mc_url_check("http://x.example/", MC_URL_ENDPOINT,
	    "e", NULL), MC_ERR_CONFIG);
}

/* The HTTP module's check is this parser's, under its old name. */
static void
test_http_url_check(void **state)
{
	char *msg = NULL;

	(void)state;
	assert_int_equal(mc_http_url_check("http://[::1]:8080/x", "endpoint",
	    &msg), MC_OK);
	assert_null(msg);
	/* libcurl reads 127.1 as 127.0.0.1; others read it as a name. */
	assert_int_equal(mc_http_url_check("http://127.1/", "endpoint", &msg),
	    MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "endpoint http://127.1/ is not a valid "
	    "URL"));
	free(msg);
	msg = NULL;
	assert_int_equal(mc_http_url_check("http://id.example/t", "endpoint",
	    &msg), MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "endpoint http://id.example/t uses plain "
	    "http to a host that is not loopback: use https://"));
	free(msg);
}

/* smtp, imap and pop: their own schemes, TLS or STARTTLS, no path. */
static void
test_mail_urls(void **state)
{
	char *msg = NULL;

	(void)state;
	assert_int_equal(mc_url_check("smtp://smtp.gmail.com:587", MC_URL_SMTP,
	    "smtp =", NULL), MC_OK);
	assert_int_equal(mc_url_check("smtps://127.0.0.1:465/", MC_URL_SMTP,
	    "smtp =", NULL), MC_OK);
	assert_int_equal(mc_url_check("imaps://imap.gmail.com", MC_URL_IMAP,
	    "imap =", NULL), MC_OK);
	assert_int_equal(mc_url_check("pop3s://pop.gmail.com:995", MC_URL_POP,
	    "pop =", NULL), MC_OK);
	assert_int_equal(mc_url_check("imaps://x:993", MC_URL_SMTP, "smtp =",
	    &msg), MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "use smtp:// (STARTTLS) or smtps://"));
	free(msg);
	msg = NULL;
	assert_int_equal(mc_url_check("smtpx://x", MC_URL_SMTP, "smtp =",
	    NULL), MC_ERR_CONFIG);
	assert_int_equal(mc_url_check("pop://x", MC_URL_POP, "pop =", NULL),
	    MC_ERR_CONFIG);
	assert_int_equal(mc_url_check("smtp://x:587/ehlo.name", MC_URL_SMTP,
	    "smtp =", &msg), MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "has a path"));
	free(msg);
	assert_int_equal(mc_url_check("smtp://user:pw@x:587", MC_URL_SMTP,
	    "smtp =", NULL), MC_ERR_CONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_long_hosts),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_http_url_check),
		cmocka_unit_test(test_mail_urls),
	};

	return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}
