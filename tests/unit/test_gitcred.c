/*
 * Unit tests: auth/gitcred (git's credential protocol: parsing what git
 * sends, matching an account) and auth/export (the copies for msmtp and
 * git: their attributes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth/err.h"
#include "auth/export.h"
#include "auth/gitcred.h"

#define PARSE(lit, c, msg) mc_gitcred_parse(lit, sizeof(lit) - 1, c, msg)

static void
test_parse(void **state)
{
	struct mc_gitcred c = MC_GITCRED_INIT;
	char *msg = NULL;

	(void)state;
	assert_int_equal(PARSE("capability[]=authtype\nprotocol=smtp\n"
	    "host=smtp.gmail.com:587\nwwwauth[]=Basic realm=x\nusername=a\n"
	    "username=me@gmail.com\npassword=p=w\n\nprotocol=imap\n", &c,
	    &msg), MC_OK);
	assert_string_equal(c.protocol, "smtp");
	assert_string_equal(c.host, "smtp.gmail.com:587");
	assert_string_equal(c.username, "me@gmail.com");	/* the last */
	assert_string_equal(c.password, "p=w");		/* after the first '=' */
	assert_null(c.path);
	assert_int_equal(c.capa_authtype, 1);
	mc_gitcred_clear(&c);
	assert_null(c.protocol);

	/* The end of input ends it too; an empty value is a value. */
	assert_int_equal(PARSE("protocol=imaps\nhost=", &c, &msg), MC_OK);
	assert_string_equal(c.host, "");
	assert_int_equal(c.capa_authtype, 0);
	mc_gitcred_clear(&c);
	assert_int_equal(PARSE("capability[]=state\n", &c, &msg), MC_OK);
	assert_int_equal(c.capa_authtype, 0);
	mc_gitcred_clear(&c);
	assert_int_equal(PARSE("", &c, &msg), MC_OK);
	assert_null(c.protocol);
}

static void
test_parse_refuses(void **state)
{
	struct mc_gitcred c = MC_GITCRED_INIT;
	char *msg = NULL;

	(void)state;
	assert_int_equal(PARSE("protocol=smtp\nusername=u\r\n\n", &c, &msg),
	    MC_ERR_DATA);
	assert_string_equal(msg, "line 2 of git's input holds a carriage "
	    "return");
	assert_null(c.protocol);	/* nothing is kept */
	free(msg);
	msg = NULL;
	assert_int_equal(PARSE("password=se\0cret\n", &c, &msg), MC_ERR_DATA);
	assert_string_equal(msg, "line 1 of git's input holds a NUL byte");
	assert_null(strstr(msg, "se"));
	free(msg);
	msg = NULL;
	assert_int_equal(PARSE("protocol=smtp\nhost\n", &c, &msg), MC_ERR_DATA);
	assert_string_equal(msg, "line 2 of git's input is not KEY=VALUE");
	free(msg);
	msg = NULL;
	assert_int_equal(PARSE("=x\n", &c, &msg), MC_ERR_DATA);
	free(msg);
	msg = NULL;
	/* After the blank line nothing is read. */
	assert_int_equal(PARSE("host=h\n\n\r\0junk", &c, &msg), MC_OK);
	mc_gitcred_clear(&c);
}

static void
test_value_ok(void **state)
{
	(void)state;
	assert_true(mc_gitcred_value_ok("abc", 3));
	assert_false(mc_gitcred_value_ok("a\nb", 3));
	assert_false(mc_gitcred_value_ok("a\rb", 3));
	assert_false(mc_gitcred_value_ok("a\0b", 3));
}

static struct mc_account
account(const char *smtp, const char *imap)
{
	struct mc_account a;

	memset(&a, 0, sizeof(a));
	a.name = (char *)"work";
	a.user = (char *)"Me@Example.com";
	a.smtp = (char *)smtp;
	a.imap = (char *)imap;
	a.store = STORE_KEYRING;
	return a;
}

/* Does the account match protocol, host and username (NULL: none)? */
static int
matches(const struct mc_account *a, const char *proto, const char *host,
    const char *user)
{
	struct mc_gitcred c = { (char *)proto, (char *)host, NULL,
	    (char *)user, NULL, 0 };

	return mc_gitcred_host_matches(a, &c) && mc_gitcred_user_matches(a, &c);
}

static void
test_match(void **state)
{
	struct mc_account a = account("smtp://smtp.example.com:587",
	    "imaps://[::1]");

	(void)state;
	assert_true(matches(&a, "smtp", "smtp.example.com", NULL));
	assert_true(matches(&a, "smtp", "SMTP.example.COM:587", NULL));
	assert_true(matches(&a, "smtps", "smtp.example.com:587",
	    "me@example.com"));
	assert_false(matches(&a, "smtp", "smtp.example.com:465", NULL));
	assert_false(matches(&a, "smtp", "smtp.example.com:", NULL));
	assert_false(matches(&a, "smtp", "smtp.example.com:587x", NULL));
	assert_false(matches(&a, "smtp", "smtp.example.com:99999", NULL));
	assert_false(matches(&a, "smtp", "smtp.example.co", NULL));
	assert_false(matches(&a, "smtp", "mtp.example.com", NULL));
	assert_false(matches(&a, "smtp", "smtp.example.com", "you@example.com"));
	assert_false(matches(&a, "https", "smtp.example.com", NULL));
	assert_false(matches(&a, NULL, "smtp.example.com", NULL));
	assert_false(matches(&a, "imap", "smtp.example.com", NULL));
	/* imaps:// without a port: its default, 993. */
	assert_true(matches(&a, "imaps", "[::1]:993", NULL));
	assert_true(matches(&a, "imap", "[::1]", NULL));
	assert_true(matches(&a, "imap", "::1", NULL));
	assert_false(matches(&a, "imap", "[::1]:143", NULL));
	assert_false(matches(&a, "imap", "[::1]x", NULL));
	/* No imap URL: no imap match. */
	a = account("smtps://smtp.example.com", NULL);
	assert_false(matches(&a, "imaps", "smtp.example.com", NULL));
	assert_true(matches(&a, "smtp", "smtp.example.com:465", NULL));
	assert_string_equal(mc_gitcred_url(&a, &(struct mc_gitcred){
	    (char *)"smtps", NULL, NULL, NULL, NULL, 0 }), a.smtp);
}

/* The value of attribute name in it, or NULL. */
static const char *
attr(const struct mc_export_item *it, const char *name)
{
	size_t i;

	for (i = 0; i < it->nattrs; i++)
		if (strcmp(it->attrs[i].name, name) == 0)
			return it->attrs[i].value;
	return NULL;
}

static void
test_export_items(void **state)
{
	struct mc_export_item items[MC_EXPORT_ITEMS_MAX];
	struct mc_account a = account("smtps://SMTP.example.com",
	    "imap://imap.example.com:1143");
	char *msg = NULL;
	size_t n;

	(void)state;
	assert_int_equal(mc_export_items(&a, MC_EXPORT_ALL, items, &n, &msg),
	    MC_OK);
	assert_int_equal(n, 3);
	/* msmtp: its schema, host, service, user; mailcred's mark. */
	assert_int_equal(items[0].program, MC_EXPORT_MSMTP);
	assert_string_equal(attr(&items[0], "xdg:schema"),
	    "de.marlam.msmtp.password");
	assert_string_equal(attr(&items[0], "host"), "smtp.example.com");
	assert_string_equal(attr(&items[0], "service"), "smtp");
	assert_string_equal(attr(&items[0], "user"), "Me@Example.com");
	assert_string_equal(attr(&items[0], "mailcred"), "work");
	assert_int_equal(items[0].nattrs, 5);
	/* git send-email: protocol smtp for smtps:// too, the default port. */
	assert_int_equal(items[1].program, MC_EXPORT_GIT);
	assert_string_equal(attr(&items[1], "protocol"), "smtp");
	assert_string_equal(attr(&items[1], "server"), "smtp.example.com");
	assert_string_equal(attr(&items[1], "port"), "465");
	assert_string_equal(attr(&items[1], "user"), "Me@Example.com");
	assert_string_equal(attr(&items[1], "xdg:schema"),
	    "org.gnome.keyring.NetworkPassword");
	assert_null(attr(&items[1], "host"));
	/* git imap-send: the imap URL's scheme and port. */
	assert_string_equal(attr(&items[2], "protocol"), "imap");
	assert_string_equal(attr(&items[2], "server"), "imap.example.com");
	assert_string_equal(attr(&items[2], "port"), "1143");
	/* The key (update, delete) leaves the port out, never the mark. */
	assert_int_equal(items[2].nkey, 5);
	assert_string_equal(items[2].attrs[1].name, "mailcred");
	assert_null(strstr(items[2].label, "\n"));

	assert_int_equal(mc_export_items(&a, MC_EXPORT_MSMTP, items, &n, &msg),
	    MC_OK);
	assert_int_equal(n, 1);
	a.smtp = NULL;
	assert_int_equal(mc_export_items(&a, MC_EXPORT_GIT, items, &n, &msg),
	    MC_ERR_CONFIG);
	assert_non_null(strstr(msg, "no smtp URL"));
	free(msg);
}

static void
test_export_parse(void **state)
{
	char *msg = NULL;
	int which;

	(void)state;
	assert_int_equal(mc_export_parse("msmtp", &which, &msg), MC_OK);
	assert_int_equal(which, MC_EXPORT_MSMTP);
	assert_int_equal(mc_export_parse("git,msmtp,git", &which, &msg), MC_OK);
	assert_int_equal(which, MC_EXPORT_ALL);
	assert_int_equal(mc_export_parse("msmtp,", &which, &msg), MC_ERR_USAGE);
	free(msg);
	msg = NULL;
	assert_int_equal(mc_export_parse("mutt", &which, &msg), MC_ERR_USAGE);
	assert_string_equal(msg, "--export knows msmtp and git, not 'mutt'");
	free(msg);
	msg = NULL;
	assert_int_equal(mc_export_parse("", &which, &msg), MC_ERR_USAGE);
	free(msg);
	assert_string_equal(mc_export_names(MC_EXPORT_ALL), "msmtp and git");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_value_ok),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_export_items),
		cmocka_unit_test(test_export_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
