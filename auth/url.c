/* auth/url.c - a small, strict URL parser (see url.h for the grammar). */
#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>

#include "auth/err.h"
#include "auth/url.h"

#define LABEL_MAX	63
#define SHOWN_MAX	200

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Copies [s, e) in lower case to dst, which has room for it and a NUL. */
static void
copy_lower(char *dst, const char *s, const char *e)
{
	while (s < e)
		*dst++ = lower(*s++);
	*dst = '\0';
}

/* Fails with a reason; for use as `return fail(why, "...")`. */
static int
fail(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return MC_ERR_CONFIG;
}

/* SCHEME "://"; sets *rest just after it. */
static int
parse_scheme(const char *text, struct mc_url *url, const char **rest,
    const char **why)
{
	const char *p = text;

	if (!is_alpha(*p))
		return fail(why, "it does not start with a scheme: write "
		    "https://HOST/...");
	while (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-' ||
	    *p == '.')
		p++;
	if (*p != ':')
		return fail(why, "it does not start with a scheme: write "
		    "https://HOST/...");
	if (p - text > MC_URL_SCHEME_MAX)
		return fail(why, "its scheme is too long: write https://");
	if (strncmp(p, "://", 3) != 0)
		return fail(why, "the scheme must be followed by '//' and the "
		    "host: write https://HOST/...");
	copy_lower(url->scheme, text, p);
	*rest = p + 3;
	return MC_OK;
}

/* All digits, 1 to max of them, and no leading zero? */
static int
plain_number(const char *s, const char *e, size_t max)
{
	const char *p;

	if (s == e || (size_t)(e - s) > max || (*s == '0' && e - s > 1))
		return 0;
	for (p = s; p < e; p++)
		if (!is_digit(*p))
			return 0;
	return 1;
}

/*
 * Is the label [s, e) a number to some parser: digits, or "0x" and hex
 * digits (WHATWG's "ends in a number", inet_aton)?
 */
static int
numeric_label(const char *s, const char *e)
{
	int hex = e - s >= 2 && s[0] == '0' && lower(s[1]) == 'x';
	const char *p;

	for (p = hex ? s + 2 : s; p < e; p++)
		if (hex ? !is_hex(*p) : !is_digit(*p))
			return 0;
	return 1;
}

/* A strict dotted quad: four decimal parts 0-255, no leading zeros. */
static int
dotted_quad(const char *s, const char *e)
{
	const char *p = s, *dot, *end;
	int parts = 0, v;

	for (;;) {
		dot = memchr(p, '.', (size_t)(e - p));
		end = dot != NULL ? dot : e;
		if (!plain_number(p, end, 3))
			return 0;
		for (v = 0; p < end; p++)
			v = v * 10 + (*p - '0');
		if (v > 255 || ++parts > 4)
			return 0;
		if (dot == NULL)
			return parts == 4;
		p = dot + 1;
	}
}

/* A host name or an IPv4 address, [s, e). */
static int
parse_name(const char *s, const char *e, struct mc_url *url, const char **why)
{
	const char *p, *label = s, *last = s;

	if (s == e)
		return fail(why, "the host is missing: write https://HOST/...");
	if (e - s > MC_URL_HOST_MAX)
		return fail(why, "the host name is longer than 253 characters");
	for (p = s; p <= e; p++) {
		if (p < e && *p != '.') {
			if (!is_alpha(*p) && !is_digit(*p) && *p != '-')
				return fail(why, "the host may hold only "
				    "letters, digits, '-' and '.' (or be an "
				    "IPv6 address in brackets)");
			continue;
		}
		if (p == label)
			return fail(why, "the host has an empty label (a "
			    "leading, trailing or double '.'): remove the "
			    "extra '.'");
		if (p - label > LABEL_MAX)
			return fail(why, "a label of the host is longer than "
			    "63 characters");
		if (*label == '-' || p[-1] == '-')
			return fail(why, "a label of the host starts or ends "
			    "with '-'");
		last = label;
		label = p + 1;
	}
	url->host_type = MC_URL_HOST_NAME;
	if (numeric_label(last, e)) {
		if (!dotted_quad(s, e))
			return fail(why, "a host that ends in a number must "
			    "be an IPv4 address a.b.c.d, each part 0 to 255 "
			    "without leading zeros");
		url->host_type = MC_URL_HOST_IPV4;
	}
	copy_lower(url->host, s, e);
	return MC_OK;
}

/* An IPv6 address [s, e), without its brackets. */
static int
parse_ipv6(const char *s, const char *e, struct mc_url *url, const char **why)
{
	struct in6_addr a6;
	char buf[INET6_ADDRSTRLEN];
	const char *p;

	for (p = s; p < e; p++)
		if (!is_hex(*p) && *p != ':' && *p != '.')
			return fail(why, "the brackets must hold an IPv6 "
			    "address, without a zone");
	if (e - s < 2 || (size_t)(e - s) >= sizeof(buf))
		return fail(why, "the brackets must hold an IPv6 address");
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return fail(why, "the brackets must hold an IPv6 address");
	url->host_type = MC_URL_HOST_IPV6;
	copy_lower(url->host, s, e);
	return MC_OK;
}

/* HOST [":" PORT], the authority [s, e). */
static int
parse_authority(const char *s, const char *e, struct mc_url *url,
    const char **why)
{
	const char *hend, *colon;
	unsigned int port = 0;
	int rc;

	if (memchr(s, '@', (size_t)(e - s)) != NULL)
		return fail(why, "it holds '@' before the host (a user name "
		    "or password): remove it");
	if (s < e && *s == '[') {
		hend = memchr(s, ']', (size_t)(e - s));
		if (hend == NULL)
			return fail(why, "an IPv6 address lacks its closing "
			    "']'");
		if ((rc = parse_ipv6(s + 1, hend, url, why)) != MC_OK)
			return rc;
		colon = hend + 1;
		if (colon < e && *colon != ':')
			return fail(why, "only ':' and a port may follow the "
			    "']' of an IPv6 address");
	} else {
		colon = memchr(s, ':', (size_t)(e - s));
		hend = colon != NULL ? colon : e;
		if ((rc = parse_name(s, hend, url, why)) != MC_OK)
			return rc;
		colon = hend;
	}
	if (colon < e) {
		if (!plain_number(colon + 1, e, 5))
			return fail(why, "the port must be a number from 1 to "
			    "65535, without leading zeros");
		for (s = colon + 1; s < e; s++)
			port = port * 10 + (unsigned int)(*s - '0');
		if (port < 1 || port > 65535)
			return fail(why, "the port must be a number from 1 to "
			    "65535, without leading zeros");
	}
	url->port = port;
	return MC_OK;
}

/* PATH ["?" QUERY] ["#" FRAGMENT]: RFC 3986 characters only. */
static int
parse_path(const char *s, const char **why)
{
	static const char allowed[] = "-._~!$&'()*+,;=:@/?";
	int hash = 0;

	for (; *s != '\0'; s++) {
		if (is_alpha(*s) || is_digit(*s) || strchr(allowed, *s) != NULL)
			continue;
		if (*s == '%') {
			if (!is_hex(s[1]) || !is_hex(s[2]))
				return fail(why, "a '%' in the path, query or "
				    "fragment must be followed by two hex "
				    "digits: write %25 for '%'");
			s += 2;
			continue;
		}
		if (*s == '#' && !hash) {
			hash = 1;
			continue;
		}
		return fail(why, "the path, query or fragment holds a "
		    "character that must be percent-encoded (%XX)");
	}
	return MC_OK;
}

int
mc_url_parse(const char *text, struct mc_url *url, const char **why)
{
	const char *p, *auth, *aend;
	int rc;

	memset(url, 0, sizeof(*url));
	if (text == NULL || *text == '\0')
		return fail(why, "it is empty: write https://HOST/...");
	for (p = text; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return fail(why, "it holds a blank, a control "
			    "character or a byte beyond ASCII: "
			    "percent-encode it");
		if (*p == '\\')
			return fail(why, "it holds a backslash: write '/' or "
			    "%5C");
	}
	if ((rc = parse_scheme(text, url, &auth, why)) != MC_OK)
		return rc;
	aend = auth + strcspn(auth, "/?#");
	if ((rc = parse_authority(auth, aend, url, why)) != MC_OK)
		return rc;
	if ((rc = parse_path(aend, why)) != MC_OK)
		return rc;
	url->path = aend;
	return MC_OK;
}

int
mc_url_is_loopback(const struct mc_url *url)
{
	struct in6_addr a6;

	switch (url->host_type) {
	case MC_URL_HOST_NAME:
		return strcmp(url->host, "localhost") == 0;
	case MC_URL_HOST_IPV4:
		return strncmp(url->host, "127.", 4) == 0;
	case MC_URL_HOST_IPV6:
		return inet_pton(AF_INET6, url->host, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return 0;
}

/*
 * text for a message, in buf of SHOWN_MAX + 4 bytes: its first SHOWN_MAX
 * bytes, those that cannot be shown as '?', and "..." if there is more.
 */
static void
shown(const char *text, char *buf)
{
	size_t i;
	unsigned char c;

	for (i = 0; text[i] != '\0' && i < SHOWN_MAX; i++) {
		c = (unsigned char)text[i];
		buf[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	if (text[i] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
}

int
mc_url_check(const char *text, enum mc_url_use use, const char *what,
    char **errmsg)
{
	struct mc_url url;
	char show[SHOWN_MAX + 4];
	const char *why;
	int loopback;

	shown(text != NULL ? text : "", show);
	if (mc_url_parse(text, &url, &why) != MC_OK)
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s %s is not a valid URL: "
		    "%s", what, show, why);
	loopback = mc_url_is_loopback(&url);
	if (use == MC_URL_SMTP || use == MC_URL_IMAP || use == MC_URL_POP) {
		static const char *const plain[] = { "smtp", "imap", "pop3" };
		const char *p = plain[use - MC_URL_SMTP];
		size_t n = strlen(p);

		if (strncmp(url.scheme, p, n) != 0 || (url.scheme[n] != '\0' &&
		    strcmp(url.scheme + n, "s") != 0))
			return mc_fail(MC_ERR_CONFIG, errmsg, "%s %s: use %s:// "
			    "(STARTTLS) or %ss:// (TLS from the start)", what,
			    show, p, p);
		if (url.path[0] != '\0' && strcmp(url.path, "/") != 0)
			return mc_fail(MC_ERR_CONFIG, errmsg, "%s %s has a path: "
			    "give only %s://HOST:PORT", what, show, url.scheme);
		return MC_OK;
	}
	if (use == MC_URL_REDIRECT) {
		if (strcmp(url.scheme, "http") == 0 && loopback)
			return MC_OK;
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s %s must be http:// "
		    "to a loopback host: use http://127.0.0.1/, "
		    "http://[::1]/ or http://localhost/", what, show);
	}
	if (strcmp(url.scheme, "https") == 0)
		return MC_OK;
	if (strcmp(url.scheme, "http") == 0 && loopback)
		return MC_OK;
	if (strcmp(url.scheme, "http") == 0)
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s %s uses plain http to "
		    "a host that is not loopback: use https://", what, show);
	return mc_fail(MC_ERR_CONFIG, errmsg, "%s %s: only https:// URLs are "
	    "allowed (http:// only to 127.0.0.1, [::1] or localhost)", what,
	    show);
}
