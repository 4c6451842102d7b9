/* auth/export.c - app password copies for msmtp and git (see export.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/err.h"
#include "auth/export.h"
#include "auth/token.h"
#include "auth/url.h"

int
mc_export_parse(const char *list, int *which, char **errmsg)
{
	const char *p = list, *end;
	size_t len;

	*which = 0;
	if (list == NULL || *list == '\0')
		return mc_fail(MC_ERR_USAGE, errmsg, "--export takes msmtp, git "
		    "or msmtp,git");
	for (;;) {
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len == 5 && strncmp(p, "msmtp", 5) == 0)
			*which |= MC_EXPORT_MSMTP;
		else if (len == 3 && strncmp(p, "git", 3) == 0)
			*which |= MC_EXPORT_GIT;
		else if (len == 0)
			return mc_fail(MC_ERR_USAGE, errmsg, "--export has an "
			    "empty entry: use msmtp, git or msmtp,git");
		else
			return mc_fail(MC_ERR_USAGE, errmsg, "--export knows "
			    "msmtp and git, not '%.*s'", (int)(len > 40 ? 40 :
			    len), p);
		if (end == NULL)
			return MC_OK;
		p = end + 1;
	}
}

/* The port of url as text: its own, else its scheme's default. */
static int
url_port(const struct mc_url *url, char *buf, size_t size)
{
	static const struct {
		const char *scheme;
		unsigned int port;
	} defaults[] = {
		{ "smtp", 25 }, { "smtps", 465 }, { "imap", 143 },
		{ "imaps", 993 },
	};
	unsigned int port = url->port;
	size_t i;
	int n;

	for (i = 0; port == 0 && i < sizeof(defaults) / sizeof(defaults[0]);
	    i++)
		if (strcmp(url->scheme, defaults[i].scheme) == 0)
			port = defaults[i].port;
	if (port == 0)
		return -1;
	n = snprintf(buf, size, "%u", port);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

static void
add_attr(struct mc_export_item *it, const char *name, const char *value)
{
	it->attrs[it->nattrs].name = name;
	it->attrs[it->nattrs].value = value;
	it->nattrs++;
}

/* The git copy for url (protocol proto), into it. */
static int
git_item(const struct mc_account *acct, const char *what, const char *text,
    const struct mc_url *url, const char *proto, struct mc_export_item *it,
    char **errmsg)
{
	int n;

	memset(it, 0, sizeof(*it));
	it->program = MC_EXPORT_GIT;
	if (url_port(url, it->port, sizeof(it->port)) != 0)
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s %s has no port and "
		    "its scheme no default one: add the port", what, text);
	add_attr(it, "xdg:schema", MC_EXPORT_SCHEMA_GIT);
	add_attr(it, "mailcred", acct->name);
	add_attr(it, "user", acct->user);
	n = snprintf(it->host, sizeof(it->host), "%s", url->host);
	if (n < 0 || (size_t)n >= sizeof(it->host))
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s %s: the host name is "
		    "too long (%zu bytes at most)", what, text,
		    sizeof(it->host) - 1);
	add_attr(it, "server", it->host);
	n = snprintf(it->proto, sizeof(it->proto), "%s", proto);
	if (n < 0 || (size_t)n >= sizeof(it->proto))
		return mc_fail(MC_ERR_INTERNAL, errmsg, "git protocol name "
		    "%s is too long", proto);
	add_attr(it, "protocol", it->proto);
	it->nkey = it->nattrs;
	add_attr(it, "port", it->port);
	n = snprintf(it->label, sizeof(it->label), "Git: %s://%s:%s/ "
	    "(mailcred: %s)", it->proto, it->host, it->port, acct->name);
	if (n < 0 || (size_t)n >= sizeof(it->label))
		return mc_fail(MC_ERR_CONFIG, errmsg, "the account name is too "
		    "long for a keyring label");
	return MC_OK;
}

int
mc_export_items(const struct mc_account *acct, int which,
    struct mc_export_item *items, size_t *n, char **errmsg)
{
	struct mc_url smtp, imap;
	struct mc_export_item *it;
	const char *why = NULL;
	int rc;

	*n = 0;
	if (acct->smtp == NULL || acct->smtp[0] == '\0')
		return mc_fail(MC_ERR_CONFIG, errmsg, "the account has no smtp "
		    "URL, which names the host msmtp and git look the password "
		    "up for: set smtp in its section");
	if (mc_url_parse(acct->smtp, &smtp, &why) != MC_OK)
		return mc_fail(MC_ERR_CONFIG, errmsg, "smtp %s: %s",
		    acct->smtp, why);
	if ((which & MC_EXPORT_MSMTP) != 0) {
		it = &items[(*n)++];
		memset(it, 0, sizeof(*it));
		it->program = MC_EXPORT_MSMTP;
		add_attr(it, "xdg:schema", MC_EXPORT_SCHEMA_MSMTP);
		add_attr(it, "mailcred", acct->name);
		add_attr(it, "user", acct->user);
		rc = snprintf(it->host, sizeof(it->host), "%s", smtp.host);
		if (rc < 0 || (size_t)rc >= sizeof(it->host))
			return mc_fail(MC_ERR_CONFIG, errmsg, "smtp %s: the host "
			    "name is too long (%zu bytes at most)", acct->smtp,
			    sizeof(it->host) - 1);
		add_attr(it, "host", it->host);
		it->nkey = it->nattrs;
		add_attr(it, "service", "smtp");
		rc = snprintf(it->label, sizeof(it->label), "msmtp: %s at %s "
		    "(mailcred: %s)", acct->user, it->host, acct->name);
		if (rc < 0 || (size_t)rc >= sizeof(it->label))
			return mc_fail(MC_ERR_CONFIG, errmsg, "the account name "
			    "is too long for a keyring label");
	}
	if ((which & MC_EXPORT_GIT) == 0)
		return MC_OK;
	/* git send-email says protocol=smtp, for smtps:// too. */
	rc = git_item(acct, "smtp", acct->smtp, &smtp, "smtp", &items[*n],
	    errmsg);
	if (rc != MC_OK)
		return rc;
	(*n)++;
	if (acct->imap == NULL || acct->imap[0] == '\0')
		return MC_OK;
	if (mc_url_parse(acct->imap, &imap, &why) != MC_OK)
		return mc_fail(MC_ERR_CONFIG, errmsg, "imap %s: %s",
		    acct->imap, why);
	if (strcmp(imap.scheme, "imap") != 0 && strcmp(imap.scheme, "imaps") != 0)
		return MC_OK;
	rc = git_item(acct, "imap", acct->imap, &imap, imap.scheme,
	    &items[*n], errmsg);
	if (rc != MC_OK)
		return rc;
	(*n)++;
	return MC_OK;
}

/*
 * An item's first two attributes, its schema and mailcred=ACCOUNT, say
 * whose copy it is: found, replaced and deleted by those alone, so a
 * copy made before the account's host or user changed goes too, and an
 * item the user made by hand (no mailcred attribute) is never touched.
 */
#define OWNER_ATTRS 2

static int
need_keyring(const struct mc_account *acct, char **errmsg)
{
	if (acct->store == STORE_KEYRING)
		return MC_OK;
	return mc_fail(MC_ERR_CONFIG, errmsg, "--export needs store = keyring: "
	    "msmtp and git look passwords up in the Secret Service only, and "
	    "this account has store = %s (use passwordeval \"mailcred "
	    "password get %s\" in msmtp instead)",
	    store_backend_name(acct->store), acct->name);
}

int
mc_export_put(const struct mc_account *acct, struct store *st, int which,
    const char *password, char **errmsg)
{
	struct mc_export_item items[MC_EXPORT_ITEMS_MAX];
	char *msg = NULL, *why = NULL;
	size_t n, i;
	int rc, serr;

	rc = need_keyring(acct, errmsg);
	if (rc == MC_OK)
		rc = mc_export_items(acct, which, items, &n, errmsg);
	/*
	 * Copies made for an earlier host or user of this account go first:
	 * they would keep an old password where msmtp or git look.
	 */
	for (i = 0; rc == MC_OK && i < n; i++) {
		if (i > 0 && items[i].program == items[i - 1].program)
			continue;
		serr = store_item_delete(st, items[i].attrs, OWNER_ATTRS, NULL,
		    &msg);
		if (serr == STORE_ENOTFOUND) {
			free(msg);
			msg = NULL;
			continue;
		}
		rc = mc_store_error(serr, msg, "", errmsg);
		msg = NULL;
	}
	for (i = 0; rc == MC_OK && i < n; i++) {
		serr = store_item_put(st, items[i].attrs, items[i].nattrs,
		    items[i].label, password, &msg);
		rc = mc_store_error(serr, msg, "", &why);
		msg = NULL;
	}
	/* The old copies may be gone already: say so, and how to mend it. */
	if (rc != MC_OK && why != NULL) {
		rc = mc_fail(rc, errmsg, "%s; the copies for %s may be gone: run "
		    "'mailcred password set %s --export %s' again", why,
		    mc_export_names(which), acct->name, which == MC_EXPORT_ALL ?
		    "msmtp,git" : mc_export_names(which));
		free(why);
	} else if (why != NULL) {
		free(why);
	}
	return rc;
}

int
mc_export_find(const struct mc_account *acct, struct store *st, int *found,
    char **errmsg)
{
	struct mc_export_item items[MC_EXPORT_ITEMS_MAX];
	char *msg = NULL;
	size_t n, i, count;
	int rc, serr;

	*found = 0;
	if (acct->store != STORE_KEYRING || acct->smtp == NULL)
		return MC_OK;
	rc = mc_export_items(acct, MC_EXPORT_ALL, items, &n, errmsg);
	for (i = 0; rc == MC_OK && i < n; i++) {
		serr = store_item_count(st, items[i].attrs, OWNER_ATTRS,
		    &count, &msg);
		rc = mc_store_error(serr, msg, "", errmsg);
		msg = NULL;
		if (rc == MC_OK && count > 0)
			*found |= items[i].program;
	}
	return rc;
}

int
mc_export_delete(const struct mc_account *acct, struct store *st, int which,
    int *deleted, char **errmsg)
{
	struct mc_export_item items[MC_EXPORT_ITEMS_MAX];
	char *msg = NULL;
	size_t n, i, count;
	int rc = MC_OK, serr;

	*deleted = 0;
	if (acct->store != STORE_KEYRING || acct->smtp == NULL)
		return MC_OK;
	rc = mc_export_items(acct, which, items, &n, errmsg);
	for (i = 0; rc == MC_OK && i < n; i++) {
		serr = store_item_delete(st, items[i].attrs, OWNER_ATTRS,
		    &count, &msg);
		if (serr == STORE_ENOTFOUND) {
			free(msg);
			msg = NULL;
			continue;
		}
		rc = mc_store_error(serr, msg, "", errmsg);
		msg = NULL;
		if (rc == MC_OK && count > 0)
			*deleted |= items[i].program;
	}
	return rc;
}

const char *
mc_export_names(int which)
{
	switch (which & MC_EXPORT_ALL) {
	case MC_EXPORT_MSMTP:
		return "msmtp";
	case MC_EXPORT_GIT:
		return "git";
	case MC_EXPORT_ALL:
		return "msmtp and git";
	}
	return "nothing";
}
