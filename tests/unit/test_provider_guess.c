/*
 * Unit tests: auth/provider_guess - domains by name, MX answers through an
 * injected resolver, and DNS answer parsing of handcrafted (also
 * malformed) messages. No DNS is used.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth/err.h"
#include "auth/provider_guess.h"

/* A DNS message under construction. */
struct msg {
	unsigned char b[2048];
	size_t n;
};

static void
put8(struct msg *m, unsigned int v)
{
	assert_true(m->n < sizeof(m->b));
	m->b[m->n++] = (unsigned char)v;
}

static void
put16(struct msg *m, unsigned int v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

static void
put32(struct msg *m, unsigned long v)
{
	put16(m, (unsigned int)(v >> 16));
	put16(m, (unsigned int)(v & 0xffff));
}

/* A name as labels, uncompressed; returns its length. */
static size_t
putname(struct msg *m, const char *name)
{
	size_t start = m->n;
	const char *p = name, *dot;
	size_t len;

	while (*p != '\0') {
		dot = strchr(p, '.');
		len = dot != NULL ? (size_t)(dot - p) : strlen(p);
		put8(m, (unsigned int)len);
		memcpy(m->b + m->n, p, len);
		m->n += len;
		p += len;
		if (*p == '.')
			p++;
	}
	put8(m, 0);
	return m->n - start;
}

/* Header and question for an MX query of qname with ancount answers. */
static void
header(struct msg *m, const char *qname, unsigned int ancount)
{
	m->n = 0;
	put16(m, 0x1234);	/* id */
	put16(m, 0x8180);	/* response, RD, RA, NOERROR */
	put16(m, 1);
	put16(m, ancount);
	put16(m, 0);
	put16(m, 0);
	putname(m, qname);
	put16(m, 15);		/* MX */
	put16(m, 1);		/* IN */
}

/* An MX answer record for the question's name (pointer to offset 12). */
static void
mx_record(struct msg *m, unsigned int pref, const char *host)
{
	size_t rdlen_at;

	put16(m, 0xc00c);
	put16(m, 15);
	put16(m, 1);
	put32(m, 300);
	rdlen_at = m->n;
	put16(m, 0);
	put16(m, pref);
	putname(m, host);
	m->b[rdlen_at] = (unsigned char)((m->n - rdlen_at - 2) >> 8);
	m->b[rdlen_at + 1] = (unsigned char)((m->n - rdlen_at - 2) & 0xff);
}

/* The fake resolver: hands out one prepared answer, counts its calls. */
struct fake {
	struct msg *answer;	/* NULL: no answer (-1) */
	int calls;
	char domain[256];
};

static int
fake_query(void *ctx, const char *domain, unsigned char *answer, int size)
{
	struct fake *f = ctx;

	f->calls++;
	strncpy(f->domain, domain, sizeof(f->domain) - 1);
	if (f->answer == NULL)
		return -1;
	assert_true(f->answer->n <= (size_t)size);
	memcpy(answer, f->answer->b, f->answer->n);
	return (int)f->answer->n;
}

static const char *
guess(struct fake *f, const char *address, char **why)
{
	struct mc_resolver r = { fake_query, f };
	const char *p = NULL;

	assert_int_equal(mc_provider_guess(address, &r, &p, why), MC_OK);
	assert_non_null(*why);
	return p;
}

static void
test_by_domain(void **state)
{
	(void)state;
	assert_string_equal(mc_provider_by_domain("gmail.com"), "google");
	assert_string_equal(mc_provider_by_domain("GMail.COM"), "google");
	assert_string_equal(mc_provider_by_domain("googlemail.com"), "google");
	assert_string_equal(mc_provider_by_domain("gmail.com."), "google");
	assert_string_equal(mc_provider_by_domain("outlook.com"), "microsoft");
	assert_string_equal(mc_provider_by_domain("hotmail.com"), "microsoft");
	assert_string_equal(mc_provider_by_domain("hotmail.co.uk"),
	    "microsoft");
	assert_string_equal(mc_provider_by_domain("HOTMAIL.FR"), "microsoft");
	assert_string_equal(mc_provider_by_domain("live.com"), "microsoft");
	assert_string_equal(mc_provider_by_domain("msn.com"), "microsoft");
	assert_null(mc_provider_by_domain("hotmail"));
	assert_null(mc_provider_by_domain("hotmail."));
	assert_null(mc_provider_by_domain("hotmailx.com"));
	assert_null(mc_provider_by_domain("notgmail.com"));
	assert_null(mc_provider_by_domain("mail.gmail.com.evil.example"));
	assert_null(mc_provider_by_domain("corp.example"));
}

static void
test_by_mx(void **state)
{
	(void)state;
	assert_string_equal(mc_provider_by_mx("aspmx.l.google.com"), "google");
	assert_string_equal(mc_provider_by_mx("ASPMX.L.GOOGLE.COM."),
	    "google");
	assert_string_equal(mc_provider_by_mx("smtp.google.com"), "google");
	assert_string_equal(mc_provider_by_mx("alt1.aspmx.l.googlemail.com"),
	    "google");
	assert_string_equal(mc_provider_by_mx(
	    "corp-example.mail.protection.outlook.com"), "microsoft");
	assert_null(mc_provider_by_mx("evilgoogle.com"));
	assert_null(mc_provider_by_mx("aspmx.l.google.com.evil.net"));
	assert_null(mc_provider_by_mx("outlook.com"));
	assert_null(mc_provider_by_mx("mx.corp.example"));
	assert_null(mc_provider_by_mx(""));
}

static void
test_special_use_not_looked_up(void **state)
{
	struct fake f = { NULL, 0, "" };
	char *why = NULL;

	(void)state;
	assert_null(guess(&f, "a@corp.invalid", &why));
	assert_non_null(strstr(why, "special-use"));
	free(why);
	assert_null(guess(&f, "a@x.TEST", &why));
	free(why);
	assert_null(guess(&f, "a@example.com", &why));
	free(why);
	assert_null(guess(&f, "a@mail.localhost", &why));
	free(why);
	assert_int_equal(f.calls, 0);
	/* Only whole labels: "mytest" is not under "test". */
	assert_false(mc_domain_special_use("mytest"));
	assert_true(mc_domain_special_use("a.b.invalid."));
}

static void
test_domain_wins_without_dns(void **state)
{
	struct fake f = { NULL, 0, "" };
	char *why = NULL;

	(void)state;
	assert_string_equal(guess(&f, "me@gmail.com", &why), "google");
	assert_string_equal(why, "gmail.com is Google's");
	free(why);
	assert_string_equal(guess(&f, "me@Hotmail.DE", &why), "microsoft");
	assert_string_equal(why, "hotmail.de is Microsoft's");
	free(why);
	assert_int_equal(f.calls, 0);
}

static void
test_workspace_by_mx(void **state)
{
	struct msg m;
	struct fake f = { &m, 0, "" };
	char *why = NULL;

	(void)state;
	header(&m, "corp-mail.org", 3);
	mx_record(&m, 5, "alt1.aspmx.l.google.com");
	mx_record(&m, 1, "ASPMX.L.Google.com");
	mx_record(&m, 10, "alt2.aspmx.l.google.com");
	assert_string_equal(guess(&f, "me@Corp-Mail.Org", &why), "google");
	assert_string_equal(why,
	    "its mail is handled by Google (MX aspmx.l.google.com)");
	assert_string_equal(f.domain, "corp-mail.org");
	assert_int_equal(f.calls, 1);
	free(why);
}

static void
test_m365_by_mx(void **state)
{
	struct msg m;
	struct fake f = { &m, 0, "" };
	char *why = NULL;

	(void)state;
	header(&m, "contoso.com", 1);
	mx_record(&m, 0, "contoso-com.mail.protection.outlook.com");
	assert_string_equal(guess(&f, "me@contoso.com", &why), "microsoft");
	assert_non_null(strstr(why, "Microsoft (MX "
	    "contoso-com.mail.protection.outlook.com)"));
	free(why);
}

/* The primary (lowest preference) decides, not the first listed. */
static void
test_primary_mx_decides(void **state)
{
	struct msg m;
	struct fake f = { &m, 0, "" };
	char *why = NULL;

	(void)state;
	header(&m, "mixed.org", 2);
	mx_record(&m, 20, "aspmx.l.google.com");
	mx_record(&m, 10, "mx.mixed.org");
	assert_null(guess(&f, "me@mixed.org", &why));
	assert_string_equal(why, "its mail is handled by mx.mixed.org, not "
	    "by Google or Microsoft");
	free(why);
}

/* RFC 7505: a null MX (".", preference 0) says the domain takes no mail. */
static void
test_null_mx(void **state)
{
	struct msg m;
	struct fake f = { &m, 0, "" };
	char *why = NULL;

	(void)state;
	header(&m, "nomail.org", 2);
	mx_record(&m, 0, "");
	mx_record(&m, 10, "aspmx.l.google.com");
	assert_null(guess(&f, "me@nomail.org", &why));
	assert_string_equal(why, "nomail.org accepts no mail (its MX record "
	    "says so)");
	free(why);
}

static void
test_no_answer(void **state)
{
	struct msg m;
	struct fake f = { NULL, 0, "" };
	char *why = NULL;

	(void)state;
	assert_null(guess(&f, "me@nomx.org", &why));
	assert_string_equal(why, "no MX records were found for nomx.org");
	free(why);
	/* An answer with no records at all. */
	header(&m, "nomx.org", 0);
	f.answer = &m;
	assert_null(guess(&f, "me@nomx.org", &why));
	assert_string_equal(why, "no MX records were found for nomx.org");
	free(why);
}

/* A CNAME on the way is skipped; the MX after it counts. */
static void
test_other_records_skipped(void **state)
{
	struct mc_mx mx[4];
	struct msg m;
	size_t n = 0, rdlen_at;
	char *err = NULL;

	(void)state;
	header(&m, "a.org", 2);
	put16(&m, 0xc00c);
	put16(&m, 5);		/* CNAME */
	put16(&m, 1);
	put32(&m, 60);
	rdlen_at = m.n;
	put16(&m, 0);
	m.b[rdlen_at + 1] = (unsigned char)putname(&m, "b.org");
	mx_record(&m, 7, "mx.b.org");
	assert_int_equal(mc_mx_parse(m.b, m.n, mx, 4, &n, &err), MC_OK);
	assert_int_equal(n, 1);
	assert_int_equal(mx[0].preference, 7);
	assert_string_equal(mx[0].host, "mx.b.org");
	assert_null(err);
}

/* Expects mc_mx_parse to refuse the message. */
static void
expect_malformed(const unsigned char *b, size_t len)
{
	struct mc_mx mx[4];
	size_t n = 99;
	char *err = NULL;

	assert_int_equal(mc_mx_parse(b, len, mx, 4, &n, &err), MC_ERR_DATA);
	assert_non_null(err);
	assert_non_null(strstr(err, "malformed DNS answer"));
	free(err);
}

static void
test_malformed(void **state)
{
	struct msg m, bad;
	size_t full;

	(void)state;
	header(&m, "a.org", 1);
	mx_record(&m, 1, "mx.a.org");
	full = m.n;

	/* Shorter than a header; cut anywhere inside the record. */
	expect_malformed(m.b, 5);
	expect_malformed(m.b, full - 1);
	expect_malformed(m.b, full - 4);

	/* More answers announced than present. */
	bad = m;
	bad.b[7] = 2;
	expect_malformed(bad.b, bad.n);

	/* rdlength running past the end of the message. */
	bad = m;
	bad.b[full - 10 - 2 - 2] = 0x01;	/* rdlength high byte: 256+ */
	expect_malformed(bad.b, bad.n);

	/* An MX rdata too short to hold a preference and a name. */
	header(&bad, "a.org", 1);
	put16(&bad, 0xc00c);
	put16(&bad, 15);
	put16(&bad, 1);
	put32(&bad, 300);
	put16(&bad, 2);
	put16(&bad, 10);
	expect_malformed(bad.b, bad.n);

	/* A name that points at itself (a compression loop). */
	header(&bad, "a.org", 1);
	put16(&bad, 0xc00c);
	put16(&bad, 15);
	put16(&bad, 1);
	put32(&bad, 300);
	put16(&bad, 4);
	put16(&bad, 10);
	put16(&bad, 0xc000 | (unsigned int)(bad.n));
	expect_malformed(bad.b, bad.n);

	/* A name pointer beyond the message. */
	header(&bad, "a.org", 1);
	put16(&bad, 0xc00c);
	put16(&bad, 15);
	put16(&bad, 1);
	put32(&bad, 300);
	put16(&bad, 4);
	put16(&bad, 10);
	put16(&bad, 0xc000 | 0x3ff);
	expect_malformed(bad.b, bad.n);

	/* A name longer than the rdlength says (runs into the next bytes). */
	header(&bad, "a.org", 1);
	put16(&bad, 0xc00c);
	put16(&bad, 15);
	put16(&bad, 1);
	put32(&bad, 300);
	put16(&bad, 3);
	put16(&bad, 10);
	putname(&bad, "mx.a.org");
	expect_malformed(bad.b, bad.n);
}

/* A malformed answer is no guess, with the reason, not a failure. */
static void
test_guess_malformed_answer(void **state)
{
	struct msg m;
	struct fake f = { &m, 0, "" };
	char *why = NULL;

	(void)state;
	header(&m, "a.org", 3);
	mx_record(&m, 1, "aspmx.l.google.com");
	assert_null(guess(&f, "me@a.org", &why));
	assert_non_null(strstr(why, "could not be read"));
	free(why);
}

static void
test_bad_address(void **state)
{
	const char *p = "x";
	char *why = NULL;

	(void)state;
	assert_int_equal(mc_provider_guess("nobody", NULL, &p, &why),
	    MC_ERR_USAGE);
	assert_null(p);
	assert_null(why);
	assert_int_equal(mc_provider_guess("a@", NULL, &p, &why),
	    MC_ERR_USAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_by_domain),
		cmocka_unit_test(test_by_mx),
		cmocka_unit_test(test_special_use_not_looked_up),
		cmocka_unit_test(test_domain_wins_without_dns),
		cmocka_unit_test(test_workspace_by_mx),
		cmocka_unit_test(test_m365_by_mx),
		cmocka_unit_test(test_primary_mx_decides),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_no_answer),
		cmocka_unit_test(test_other_records_skipped),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_guess_malformed_answer),
		cmocka_unit_test(test_bad_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
