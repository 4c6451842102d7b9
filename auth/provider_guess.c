/* auth/provider_guess.c - the provider of a mail address, by name or MX. */
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/err.h"
#include "auth/provider_guess.h"
#include "auth/resolv_dl.h"

/* Room for an answer; a larger one is cut by the resolver, and parsed. */
#define ANSWER_SIZE	4096
#define MAX_MX		32

static int
system_query_mx(void *ctx, const char *domain, unsigned char *answer,
    int size)
{
	(void)ctx;
	return res_query(domain, ns_c_in, ns_t_mx, answer, size);
}

const struct mc_resolver mc_resolver_system = { system_query_mx, NULL };

/* Does name (lower case, no final '.') equal suffix or end in ".suffix"? */
static int
ends_with_domain(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	if (n == s)
		return strcmp(name, suffix) == 0;
	return n > s && name[n - s - 1] == '.' &&
	    strcmp(name + n - s, suffix) == 0;
}

/* A lower-case copy of name without a final '.' in buf; 0 if too long. */
static int
normalize(const char *name, char *buf, size_t size)
{
	size_t i, n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n >= size)
		return 0;
	for (i = 0; i < n; i++)
		buf[i] = (name[i] >= 'A' && name[i] <= 'Z') ?
		    (char)(name[i] - 'A' + 'a') : name[i];
	buf[n] = '\0';
	return 1;
}

const char *
mc_provider_by_mx(const char *host)
{
	char h[1025];

	if (!normalize(host, h, sizeof(h)))
		return NULL;
	if (ends_with_domain(h, "google.com") ||
	    ends_with_domain(h, "googlemail.com"))
		return "google";
	if (ends_with_domain(h, "mail.protection.outlook.com"))
		return "microsoft";
	return NULL;
}

const char *
mc_provider_by_domain(const char *domain)
{
	char d[256];

	if (!normalize(domain, d, sizeof(d)))
		return NULL;
	if (strcmp(d, "gmail.com") == 0 || strcmp(d, "googlemail.com") == 0)
		return "google";
	if (strcmp(d, "outlook.com") == 0 || strcmp(d, "live.com") == 0 ||
	    strcmp(d, "msn.com") == 0)
		return "microsoft";
	/* hotmail.com, hotmail.co.uk, hotmail.fr, ...: any top-level part. */
	if (strncmp(d, "hotmail.", 8) == 0 && d[8] != '\0' && d[8] != '.')
		return "microsoft";
	return NULL;
}

int
mc_domain_special_use(const char *domain)
{
	static const char *const special[] = {
		"invalid", "test", "example", "localhost",
		"example.com", "example.net", "example.org",
	};
	char d[256];
	size_t i;

	if (!normalize(domain, d, sizeof(d)))
		return 0;
	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (ends_with_domain(d, special[i]))
			return 1;
	return 0;
}

int
mc_mx_parse(const unsigned char *msg, size_t len, struct mc_mx *mx,
    size_t max, size_t *n, char **errmsg)
{
	ns_msg handle;
	ns_rr rr;
	const unsigned char *rd;
	char name[NS_MAXDNAME];
	int i, count, used;

	*n = 0;
	if (mc_resolv_load(errmsg) != MC_OK)
		return MC_ERR_SERVICE;
	if (len > 65535 || ns_initparse(msg, (int)len, &handle) != 0)
		return mc_fail(MC_ERR_DATA, errmsg, "a malformed DNS answer "
		    "(%zu bytes)", len);
	count = ns_msg_count(handle, ns_s_an);
	for (i = 0; i < count; i++) {
		if (ns_parserr(&handle, ns_s_an, i, &rr) != 0)
			return mc_fail(MC_ERR_DATA, errmsg, "a malformed DNS "
			    "answer: record %d cannot be read", i + 1);
		if (ns_rr_type(rr) != ns_t_mx || ns_rr_class(rr) != ns_c_in)
			continue;
		rd = ns_rr_rdata(rr);
		/* Preference (2 bytes), then a name of at least one byte. */
		if (ns_rr_rdlen(rr) < 3)
			return mc_fail(MC_ERR_DATA, errmsg, "a malformed DNS "
			    "answer: MX record %d is too short", i + 1);
		used = dn_expand(ns_msg_base(handle), ns_msg_end(handle),
		    rd + 2, name, sizeof(name));
		if (used < 0 || used > ns_rr_rdlen(rr) - 2)
			return mc_fail(MC_ERR_DATA, errmsg, "a malformed DNS "
			    "answer: the host name of MX record %d cannot be "
			    "read", i + 1);
		if (*n >= max)
			break;
		mx[*n].preference = (unsigned int)rd[0] << 8 | rd[1];
		if (!normalize(name, mx[*n].host, sizeof(mx[*n].host)))
			return mc_fail(MC_ERR_DATA, errmsg, "a malformed DNS "
			    "answer: MX host name too long");
		(*n)++;
	}
	return MC_OK;
}

static const char *
provider_title(const char *provider)
{
	return strcmp(provider, "google") == 0 ? "Google" : "Microsoft";
}

/* The guess by MX records, for domain d (normalized). */
static int
guess_by_mx(const char *d, const struct mc_resolver *res,
    const char **provider, char **why)
{
	unsigned char *answer = NULL;
	struct mc_mx *mx = NULL;
	char *perr = NULL;
	size_t n = 0, i, best = 0;
	int len, rc, w;

	answer = malloc(ANSWER_SIZE);
	mx = calloc(MAX_MX, sizeof(*mx));
	if (answer == NULL || mx == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	len = res->query_mx(res->ctx, d, answer, ANSWER_SIZE);
	if (len < 0)
		w = asprintf(why, "no MX records were found for %s", d);
	else if (mc_mx_parse(answer, (size_t)(len > ANSWER_SIZE ?
	    ANSWER_SIZE : len), mx, MAX_MX, &n, &perr) != MC_OK)
		w = asprintf(why, "the DNS answer for %s could not be read "
		    "(%s)", d, perr != NULL ? perr : "malformed");
	else if (n == 0)
		w = asprintf(why, "no MX records were found for %s", d);
	else {
		for (i = 1; i < n; i++)
			if (mx[i].preference < mx[best].preference)
				best = i;
		*provider = mc_provider_by_mx(mx[best].host);
		if (mx[best].host[0] == '\0')	/* RFC 7505's null MX "." */
			w = asprintf(why, "%s accepts no mail (its MX record "
			    "says so)", d);
		else if (*provider != NULL)
			w = asprintf(why, "its mail is handled by %s (MX %s)",
			    provider_title(*provider), mx[best].host);
		else
			w = asprintf(why, "its mail is handled by %s, not by "
			    "Google or Microsoft", mx[best].host);
	}
	rc = w < 0 ? MC_ERR_NOMEM : MC_OK;
	if (w < 0)
		*why = NULL;
out:
	free(perr);
	free(answer);
	free(mx);
	return rc;
}

int
mc_provider_guess(const char *address, const struct mc_resolver *res,
    const char **provider, char **why)
{
	const char *at = strrchr(address, '@');
	char d[256];
	int w;

	*provider = NULL;
	*why = NULL;
	if (at == NULL || at[1] == '\0')
		return MC_ERR_USAGE;
	if (!normalize(at + 1, d, sizeof(d)))
		return MC_ERR_USAGE;
	*provider = mc_provider_by_domain(d);
	if (*provider != NULL)
		w = asprintf(why, "%s is %s's", d, provider_title(*provider));
	else if (mc_domain_special_use(d))
		w = asprintf(why, "%s is a special-use name, not looked up in "
		    "DNS", d);
	else if (res == NULL)
		w = asprintf(why, "%s is not a domain it knows", d);
	else
		return guess_by_mx(d, res, provider, why);
	if (w < 0) {
		*why = NULL;
		return MC_ERR_NOMEM;
	}
	return MC_OK;
}
