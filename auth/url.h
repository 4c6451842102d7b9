/*
 * auth/url.h - a small, strict URL parser, and the rule for URLs that
 * carry secrets.
 *
 * It reads only the URLs mailcred needs, and only in forms that no other
 * parser (libcurl, a browser, an OAuth server) can read with a different
 * host:
 *
 *	SCHEME "://" HOST [":" PORT] [PATH] ["?" QUERY] ["#" FRAGMENT]
 *
 * SCHEME is a letter then letters, digits, '+', '-', '.' (any case; kept
 * in lower case). HOST is a name of letters, digits, '-' and '.' (labels
 * of 1 to 63, not starting or ending with '-', 253 in all), a dotted-quad
 * IPv4 address a.b.c.d (decimal 0 to 255, no leading zeros) or an IPv6
 * address in brackets. A name whose last label is a number ("127.1",
 * "0x7f.0.0.1", "2130706433") must be such an IPv4 address: some parsers
 * read those forms as addresses and others as names. PORT is 1 to 65535,
 * without leading zeros. PATH, QUERY and FRAGMENT hold RFC 3986 characters
 * only, '%' followed by two hex digits, and one '#' at most.
 *
 * Refused anywhere: a user name or password ('@' before the host), a
 * backslash, blanks, control characters and bytes beyond ASCII. Nothing
 * here allocates, and nothing loads libcurl: checking every URL of an
 * account costs nothing on the cached-token path.
 */
#ifndef MAILCRED_AUTH_URL_H
#define MAILCRED_AUTH_URL_H

#define MC_URL_SCHEME_MAX	16
#define MC_URL_HOST_MAX		253

enum mc_url_host {
	MC_URL_HOST_NAME = 0,
	MC_URL_HOST_IPV4 = 1,
	MC_URL_HOST_IPV6 = 2,
};

/* A parsed URL; it points into the text it was parsed from. */
struct mc_url {
	char scheme[MC_URL_SCHEME_MAX + 1];	/* lower case: "https" */
	char host[MC_URL_HOST_MAX + 1];	/* lower case; IPv6 without [] */
	enum mc_url_host host_type;
	unsigned int port;	/* 1..65535, or 0 when the URL gives none */
	const char *path;	/* within the text: the path, query and
				   fragment as written, "" when none */
};

/*
 * Parses text into *url. Returns MC_OK, or MC_ERR_CONFIG with *why set to
 * a static phrase that says what is wrong and how to fix it ("the port
 * must be a number from 1 to 65535"); *url is then unspecified. why may
 * be NULL.
 */
int mc_url_parse(const char *text, struct mc_url *url, const char **why);

/* Is the host loopback: 127.0.0.0/8, ::1 or localhost? */
int mc_url_is_loopback(const struct mc_url *url);

/* What a URL is for, and so which schemes and hosts it may have. */
enum mc_url_use {
	MC_URL_ENDPOINT = 0,	/* https://, or http:// to a loopback host */
	MC_URL_REDIRECT = 1,	/* http:// to a loopback host (RFC 8252) */
	MC_URL_SMTP = 2,	/* smtp:// (STARTTLS) or smtps://, no path */
	MC_URL_IMAP = 3,	/* imap:// (STARTTLS) or imaps://, no path */
	MC_URL_POP = 4,		/* pop3:// (STARTTLS) or pop3s://, no path */
};

/*
 * Checks that text parses and suits use. Returns MC_OK, or MC_ERR_CONFIG
 * with *errmsg (if errmsg is not NULL; the caller frees it) set to one
 * line "WHAT TEXT REASON: FIX", for example "token_endpoint
 * http://id.example/token uses plain http to a host that is not
 * loopback: use https://". what names the value for the message; in the
 * text, bytes that cannot be shown become '?'.
 */
int mc_url_check(const char *text, enum mc_url_use use, const char *what,
    char **errmsg);

#endif
