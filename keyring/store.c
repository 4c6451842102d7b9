/*
 * keyring/store.c - the store interface: checks names and secrets, then
 * dispatches to the Secret Service or the file backend.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring/backend.h"
#include "keyring/store.h"

struct store {
	const struct store_ops *ops;
	void *be;
};

int
store_fail(int err, char **errmsg, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (errmsg == NULL || *errmsg != NULL)
		return err;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	*errmsg = msg;
	return err;
}

void
store_wipe(void *p, size_t len)
{
	if (p != NULL)
		explicit_bzero(p, len);
}

/* Length of the UTF-8 sequence at s (1-4), or 0 if it is not valid. */
static size_t
utf8_seq_len(const unsigned char *s)
{
	size_t n, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int
check_account(const char *account, char **errmsg)
{
	const unsigned char *p;
	size_t len, n;

	if (account == NULL || account[0] == '\0')
		return store_fail(STORE_EINVAL, errmsg,
		    "the account name is empty");
	len = strlen(account);
	if (len > STORE_NAME_MAX)
		return store_fail(STORE_EINVAL, errmsg, "the account name is "
		    "longer than %d bytes", STORE_NAME_MAX);
	for (p = (const unsigned char *)account; *p != '\0'; p += n) {
		if (*p < 0x20 || *p == 0x7f)
			return store_fail(STORE_EINVAL, errmsg, "the account "
			    "name contains a control character");
		n = utf8_seq_len(p);
		if (n == 0)
			return store_fail(STORE_EINVAL, errmsg, "the account "
			    "name is not valid UTF-8");
	}
	return STORE_OK;
}

static int
check_kind(const char *kind, char **errmsg)
{
	const char *p;

	if (kind == NULL || kind[0] == '\0')
		return store_fail(STORE_EINVAL, errmsg,
		    "the secret's kind is empty");
	if (strlen(kind) > STORE_NAME_MAX)
		return store_fail(STORE_EINVAL, errmsg, "the secret's kind is "
		    "longer than %d bytes", STORE_NAME_MAX);
	for (p = kind; *p != '\0'; p++) {
		if ((*p < 'a' || *p > 'z') && (*p < '0' || *p > '9') &&
		    *p != '_' && *p != '-')
			return store_fail(STORE_EINVAL, errmsg, "the secret's "
			    "kind may only hold a-z, 0-9, '_' and '-'");
	}
	return STORE_OK;
}

int
store_check_names(const char *account, const char *kind, char **errmsg)
{
	int rc;

	rc = check_account(account, errmsg);
	if (rc != STORE_OK)
		return rc;
	return check_kind(kind, errmsg);
}

void
store_warm(struct store *st)
{
	if (st != NULL && st->ops->warm != NULL)
		st->ops->warm(st->be);
}

int
store_open(const struct store_opts *opts, struct store **out, char **errmsg)
{
	struct store *st = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (errmsg != NULL)
		*errmsg = NULL;
	if (opts == NULL || out == NULL)
		return STORE_EINVAL;

	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		rc = STORE_ENOMEM;
		goto out;
	}
	switch (opts->backend) {
	case STORE_KEYRING:
		st->ops = &store_secret_service_ops;
		break;
	case STORE_FILE:
		st->ops = &store_file_ops;
		break;
	default:
		rc = store_fail(STORE_EINVAL, errmsg, "unknown store backend %d",
		    (int)opts->backend);
		goto out;
	}
	rc = st->ops->open(opts, &st->be, errmsg);
	if (rc != STORE_OK)
		goto out;
	*out = st;
	st = NULL;
out:
	free(st);
	return rc;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	st->ops->close(st->be);
	free(st);
}

int
store_get(struct store *st, const char *account, const char *kind,
    char **secret, char **errmsg)
{
	int rc;

	if (secret != NULL)
		*secret = NULL;
	if (errmsg != NULL)
		*errmsg = NULL;
	if (st == NULL || secret == NULL)
		return STORE_EINVAL;
	rc = store_check_names(account, kind, errmsg);
	if (rc != STORE_OK)
		return rc;
	return st->ops->get(st->be, account, kind, secret, errmsg);
}

int
store_put(struct store *st, const char *account, const char *kind,
    const char *secret, char **errmsg)
{
	int rc;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (st == NULL || secret == NULL)
		return STORE_EINVAL;
	rc = store_check_names(account, kind, errmsg);
	if (rc != STORE_OK)
		return rc;
	/* A C string cannot carry a NUL, so only the size needs a check. */
	if (strnlen(secret, STORE_SECRET_MAX + 1) > STORE_SECRET_MAX)
		return store_fail(STORE_EINVAL, errmsg, "the secret is larger "
		    "than %d bytes", STORE_SECRET_MAX);
	return st->ops->put(st->be, account, kind, secret, errmsg);
}

int
store_delete(struct store *st, const char *account, const char *kind,
    char **errmsg)
{
	int rc;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (st == NULL)
		return STORE_EINVAL;
	rc = store_check_names(account, kind, errmsg);
	if (rc != STORE_OK)
		return rc;
	return st->ops->del(st->be, account, kind, errmsg);
}

int
store_ready(struct store *st, char **errmsg)
{
	if (errmsg != NULL)
		*errmsg = NULL;
	if (st == NULL)
		return STORE_EINVAL;
	return st->ops->ready(st->be, errmsg);
}

int
store_state_dir(struct store *st, char **dir, char **errmsg)
{
	if (dir != NULL)
		*dir = NULL;
	if (errmsg != NULL)
		*errmsg = NULL;
	if (st == NULL || dir == NULL)
		return STORE_EINVAL;
	return st->ops->state_dir(st->be, dir, errmsg);
}

/*
 * Checks the attributes of a foreign item: at least one, each name and
 * value a string as an account name must be. STORE_EINVAL when the
 * backend keeps no such items.
 */
static int
check_item(struct store *st, const struct store_attr *attrs, size_t n,
    int has_op, char **errmsg)
{
	size_t i;

	if (st == NULL || (attrs == NULL && n > 0))
		return STORE_EINVAL;
	if (!has_op)
		return store_fail(STORE_EINVAL, errmsg, "the %s store cannot "
		    "keep items for other programs: only the Secret Service "
		    "(store = keyring) can", st->ops->name);
	if (n == 0)
		return store_fail(STORE_EINVAL, errmsg, "an item needs at "
		    "least one attribute");
	for (i = 0; i < n; i++) {
		if (check_account(attrs[i].name, NULL) != STORE_OK ||
		    check_account(attrs[i].value, NULL) != STORE_OK)
			return store_fail(STORE_EINVAL, errmsg, "attribute %zu "
			    "is empty, too long, not UTF-8 or holds a control "
			    "character", i + 1);
	}
	return STORE_OK;
}

int
store_item_put(struct store *st, const struct store_attr *attrs, size_t n,
    const char *label, const char *secret, char **errmsg)
{
	int rc;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (st == NULL || label == NULL || secret == NULL)
		return STORE_EINVAL;
	rc = check_item(st, attrs, n, st->ops->item_put != NULL, errmsg);
	if (rc != STORE_OK)
		return rc;
	if (strnlen(secret, STORE_SECRET_MAX + 1) > STORE_SECRET_MAX)
		return store_fail(STORE_EINVAL, errmsg, "the secret is larger "
		    "than %d bytes", STORE_SECRET_MAX);
	return st->ops->item_put(st->be, attrs, n, label, secret, errmsg);
}

int
store_item_delete(struct store *st, const struct store_attr *attrs, size_t n,
    size_t *deleted, char **errmsg)
{
	int rc;

	if (deleted != NULL)
		*deleted = 0;
	if (errmsg != NULL)
		*errmsg = NULL;
	if (st == NULL)
		return STORE_EINVAL;
	rc = check_item(st, attrs, n, st->ops->item_del != NULL, errmsg);
	if (rc != STORE_OK)
		return rc;
	return st->ops->item_del(st->be, attrs, n, deleted, errmsg);
}

int
store_item_count(struct store *st, const struct store_attr *attrs, size_t n,
    size_t *count, char **errmsg)
{
	int rc;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (st == NULL || count == NULL)
		return STORE_EINVAL;
	*count = 0;
	rc = check_item(st, attrs, n, st->ops->item_count != NULL, errmsg);
	if (rc != STORE_OK)
		return rc;
	return st->ops->item_count(st->be, attrs, n, count, errmsg);
}

void
store_secret_free(char *secret)
{
	if (secret == NULL)
		return;
	store_wipe(secret, strlen(secret));
	free(secret);
}

const char *
store_backend_name(enum store_backend backend)
{
	switch (backend) {
	case STORE_KEYRING:
		return "keyring";
	case STORE_FILE:
		return "file";
	}
	return "unknown";
}
