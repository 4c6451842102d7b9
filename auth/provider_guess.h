/*
 * auth/provider_guess.h - which built-in provider serves a mail address.
 *
 * `mailcred add` uses it to fill in `provider =`. The domain decides
 * first: gmail.com and googlemail.com are Google's; outlook.com, live.com,
 * msn.com and hotmail.* (any top-level domain) are Microsoft's (domains
 * are compared without regard to case). Any other domain is judged by its
 * MX records: a domain whose primary mail exchanger (lowest preference)
 * ends in google.com or googlemail.com (aspmx.l.google.com,
 * smtp.google.com) is Google Workspace; one ending in
 * mail.protection.outlook.com is Microsoft 365. Anything else is unknown.
 *
 * Names under the special-use domains of RFC 6761 and RFC 2606 (.invalid,
 * .test, .example, .localhost, example.com, example.net, example.org) can
 * have no mail exchanger of a provider: they are never looked up, so no
 * DNS query leaves the machine for them.
 *
 * The resolver is a function pointer, so that tests run without DNS; the
 * system one is res_query(3) for class IN, type MX. Nothing here prints.
 */
#ifndef MAILCRED_AUTH_PROVIDER_GUESS_H
#define MAILCRED_AUTH_PROVIDER_GUESS_H

#include <stddef.h>

/*
 * Asks for domain's MX records: writes the DNS answer message (as
 * res_query(3) does) into answer, which has room for size bytes, and
 * returns its length, or -1 when there is no answer (no such domain, no
 * records, no server).
 */
struct mc_resolver {
	int (*query_mx)(void *ctx, const char *domain, unsigned char *answer,
	    int size);
	void *ctx;
};

/* res_query(3) through the system's resolver configuration. */
extern const struct mc_resolver mc_resolver_system;

/* One mail exchanger of an MX answer. */
struct mc_mx {
	unsigned int preference;
	char host[1025];	/* lower case, without a final '.' */
};

/*
 * Parses a DNS answer message of len bytes (msg as res_query(3) returns
 * it) and fills mx[] (room for max entries) with its MX records, in the
 * order of the answer; *n is how many. Records of other types (a CNAME
 * on the way) are skipped. Returns MC_OK, or MC_ERR_DATA with a message
 * when the message is malformed (truncated, a record that runs past the
 * end, a name that cannot be expanded). Bounds are checked on every read.
 */
int mc_mx_parse(const unsigned char *msg, size_t len, struct mc_mx *mx,
    size_t max, size_t *n, char **errmsg);

/*
 * The built-in provider a mail exchanger host name belongs to: "google",
 * "microsoft", or NULL. host may end in '.'; case does not matter.
 */
const char *mc_provider_by_mx(const char *host);

/*
 * The built-in provider of a mail domain by its name alone (gmail.com,
 * hotmail.co.uk, ...): "google", "microsoft", or NULL.
 */
const char *mc_provider_by_domain(const char *domain);

/* Is domain under a special-use name that is never looked up? */
int mc_domain_special_use(const char *domain);

/*
 * Guesses the provider of address (LOCAL@DOMAIN): by the domain's name,
 * else (res not NULL and the domain not special-use) by its MX records.
 * Always returns MC_OK unless out of memory (MC_ERR_NOMEM) or address has
 * no '@' (MC_ERR_USAGE). *provider is "google", "microsoft" (static
 * strings) or NULL when unknown; *why is a malloc'd phrase for a message,
 * the caller frees it: "gmail.com is Google's", "its mail is handled by
 * Google (MX aspmx.l.google.com)", or, when unknown, why not ("no MX
 * records were found for corp.invalid", "its mail is handled by
 * mx.corp.example, not Google or Microsoft").
 */
int mc_provider_guess(const char *address, const struct mc_resolver *res,
    const char **provider, char **why);

#endif
