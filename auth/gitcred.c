/* auth/gitcred.c - git's credential helper protocol (see gitcred.h). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/err.h"
#include "auth/gitcred.h"
#include "auth/secmem.h"
#include "auth/url.h"

void
mc_gitcred_clear(struct mc_gitcred *c)
{
	free(c->protocol);
	free(c->host);
	free(c->path);
	free(c->username);
	mc_free_secret(c->password);
	memset(c, 0, sizeof(*c));
}

int
mc_gitcred_value_ok(const char *value, size_t len)
{
	return memchr(value, '\r', len) == NULL &&
	    memchr(value, '\n', len) == NULL &&
	    memchr(value, '\0', len) == NULL;
}

/* Replaces *slot with a copy of the len bytes at v. */
static int
set_value(char **slot, const char *v, size_t len, int secret)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return MC_ERR_NOMEM;
	memcpy(copy, v, len);
	copy[len] = '\0';
	if (secret)
		mc_free_secret(*slot);
	else
		free(*slot);
	*slot = copy;
	return MC_OK;
}

int
mc_gitcred_parse(const char *buf, size_t len, struct mc_gitcred *c,
    char **errmsg)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "protocol", offsetof(struct mc_gitcred, protocol) },
		{ "host", offsetof(struct mc_gitcred, host) },
		{ "path", offsetof(struct mc_gitcred, path) },
		{ "username", offsetof(struct mc_gitcred, username) },
		{ "password", offsetof(struct mc_gitcred, password) },
	};
	const char *line = buf, *end = buf + len, *nl, *eq = NULL;
	size_t n, klen, i;
	unsigned long lineno = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	while (line < end) {
		lineno++;
		nl = memchr(line, '\n', (size_t)(end - line));
		n = nl != NULL ? (size_t)(nl - line) : (size_t)(end - line);
		if (n == 0)
			break;	/* the blank line ends the credential */
		if (memchr(line, '\0', n) != NULL)
			rc = mc_fail(MC_ERR_DATA, errmsg, "line %lu of git's "
			    "input holds a NUL byte", lineno);
		else if (memchr(line, '\r', n) != NULL)
			rc = mc_fail(MC_ERR_DATA, errmsg, "line %lu of git's "
			    "input holds a carriage return", lineno);
		else if ((eq = memchr(line, '=', n)) == NULL || eq == line)
			rc = mc_fail(MC_ERR_DATA, errmsg, "line %lu of git's "
			    "input is not KEY=VALUE", lineno);
		else
			rc = MC_OK;
		if (rc != MC_OK) {
			mc_gitcred_clear(c);
			return rc;
		}
		klen = (size_t)(eq - line);
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strlen(keys[i].key) != klen ||
			    memcmp(line, keys[i].key, klen) != 0)
				continue;
			rc = set_value((char **)((char *)c + keys[i].off),
			    eq + 1, n - klen - 1, keys[i].off ==
			    offsetof(struct mc_gitcred, password));
			if (rc != MC_OK) {
				mc_gitcred_clear(c);
				return rc;
			}
		}
		if (klen == strlen("capability[]") &&
		    memcmp(line, "capability[]", klen) == 0 &&
		    n - klen - 1 == strlen("authtype") &&
		    memcmp(eq + 1, "authtype", strlen("authtype")) == 0)
			c->capa_authtype = 1;
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	return MC_OK;
}

int
mc_gitcred_protocol_known(const struct mc_gitcred *c)
{
	static const char *const known[] = { "smtp", "smtps", "imap",
	    "imaps" };
	size_t i;

	for (i = 0; c->protocol != NULL && i < sizeof(known) / sizeof(known[0]);
	    i++)
		if (strcmp(c->protocol, known[i]) == 0)
			return 1;
	return 0;
}

const char *
mc_gitcred_url(const struct mc_account *acct, const struct mc_gitcred *c)
{
	if (!mc_gitcred_protocol_known(c))
		return NULL;
	return strncmp(c->protocol, "smtp", 4) == 0 ? acct->smtp : acct->imap;
}

/* The port of url, or its scheme's default; 0 when there is none. */
static unsigned int
url_port(const struct mc_url *url)
{
	if (url->port != 0)
		return url->port;
	if (strcmp(url->scheme, "smtp") == 0)
		return 25;
	if (strcmp(url->scheme, "smtps") == 0)
		return 465;
	if (strcmp(url->scheme, "imap") == 0)
		return 143;
	if (strcmp(url->scheme, "imaps") == 0)
		return 993;
	return 0;
}

/*
 * Splits git's host into the name (brackets of an IPv6 address dropped:
 * *name and *nlen) and the port (*port: 0 when none; -1 when it is not a
 * number from 1 to 65535). "[::1]:993", "host:587", "host"; a bare IPv6
 * address (more than one ':') has no port.
 */
static void
split_host(const char *host, const char **name, size_t *nlen, long *port)
{
	const char *colon, *close;
	char *endp;

	*name = host;
	*nlen = strlen(host);
	*port = 0;
	if (host[0] == '[' && (close = strchr(host, ']')) != NULL) {
		*name = host + 1;
		*nlen = (size_t)(close - host - 1);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] != '\0' && colon == NULL) {
			*port = -1;
			return;
		}
	} else {
		colon = strchr(host, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return;		/* a bare IPv6 address */
		if (colon != NULL)
			*nlen = (size_t)(colon - host);
	}
	if (colon == NULL)
		return;
	errno = 0;
	if (colon[1] < '0' || colon[1] > '9') {
		*port = -1;
		return;
	}
	*port = strtol(colon + 1, &endp, 10);
	if (errno != 0 || *endp != '\0' || *port < 1 || *port > 65535)
		*port = -1;
}

int
mc_gitcred_host_matches(const struct mc_account *acct,
    const struct mc_gitcred *c)
{
	struct mc_url url;
	const char *text = mc_gitcred_url(acct, c), *name;
	size_t nlen;
	long port;

	if (text == NULL || c->host == NULL ||
	    mc_url_parse(text, &url, NULL) != MC_OK)
		return 0;
	split_host(c->host, &name, &nlen, &port);
	if (port < 0 || nlen != strlen(url.host) ||
	    strncasecmp(name, url.host, nlen) != 0)
		return 0;
	return port == 0 || (unsigned long)port == url_port(&url);
}

int
mc_gitcred_user_matches(const struct mc_account *acct,
    const struct mc_gitcred *c)
{
	return c->username == NULL || strcasecmp(c->username, acct->user) == 0;
}
