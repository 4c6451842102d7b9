/* auth/token.c - cached access tokens and single-flight refresh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/err.h"
#include "auth/lock.h"
#include "auth/secmem.h"
#include "auth/token.h"

int
mc_store_error(int serr, char *storemsg, const char *notfound, char **errmsg)
{
	int rc;

	switch (serr) {
	case STORE_OK:
		rc = MC_OK;
		break;
	case STORE_ENOTFOUND:
		rc = mc_fail(MC_ERR_NOT_LOGGED_IN, errmsg, "%s", notfound);
		break;
	case STORE_ENOMEM:
		rc = MC_ERR_NOMEM;
		break;
	case STORE_EPERM:
		rc = mc_fail(MC_ERR_STORE_PERM, errmsg, "%s", storemsg ?
		    storemsg : "the store's permissions are unsafe");
		break;
	case STORE_EINVAL:
		rc = mc_fail(MC_ERR_CONFIG, errmsg, "%s", storemsg ? storemsg :
		    "the account name cannot be used in the store");
		break;
	case STORE_ENOBUS:
		/* Permanent on this machine: retrying cannot help (78). */
		rc = mc_fail(MC_ERR_CONFIG, errmsg, "%s", storemsg ? storemsg :
		    "no D-Bus session bus: use store = file");
		break;
	case STORE_ENOSERVICE:
	case STORE_ENOCOLLECTION:
		rc = mc_fail(MC_ERR_SERVICE, errmsg, "%s", storemsg ? storemsg :
		    "the Secret Service cannot keep secrets here");
		break;
	default:
		/* Locked, timed out, I/O: temporary (75). */
		rc = mc_fail(MC_ERR_STORE, errmsg, "%s", storemsg ? storemsg :
		    "the store failed");
		break;
	}
	free(storemsg);
	return rc;
}

int
mc_store_open(const struct mc_account *acct, int timeout_ms,
    struct store **st, char **errmsg)
{
	struct store_opts so = STORE_OPTS_INIT;
	char *msg = NULL;
	int serr;

	so.backend = acct->store;
	so.timeout_ms = timeout_ms;
	serr = store_open(&so, st, &msg);
	return mc_store_error(serr, msg, "", errmsg);
}

int
mc_token_usable(const struct mc_token_set *ts, time_t now, int min_valid)
{
	return ts->access_token != NULL && ts->access_token[0] != '\0' &&
	    ts->expires_at > 0 && ts->expires_at - (long long)now >=
	    (long long)min_valid;
}

static int
read_set(struct store *st, const struct mc_account *acct,
    struct mc_token_set *out, char **errmsg)
{
	char *blob = NULL, *msg = NULL, *nf = NULL;
	int serr, rc;

	serr = store_get(st, acct->name, MC_KIND_OAUTH2, &blob, &msg);
	if (serr != STORE_OK) {
		if (asprintf(&nf, "not logged in: run 'mailcred login %s'",
		    acct->name) < 0)
			nf = NULL;
		rc = mc_store_error(serr, msg, nf ? nf : "not logged in",
		    errmsg);
		free(nf);
		return rc;
	}
	free(msg);
	rc = mc_token_set_parse(blob, out, errmsg);
	store_secret_free(blob);
	if (rc != MC_OK)
		rc = mc_fail(MC_ERR_NOT_LOGGED_IN, errmsg, "the stored tokens "
		    "are unreadable: run 'mailcred login %s'", acct->name);
	return rc;
}

static int
write_set(struct store *st, const struct mc_account *acct,
    const struct mc_token_set *ts, char **errmsg)
{
	char *blob = NULL, *msg = NULL;
	int rc;

	rc = mc_token_set_serialize(ts, &blob);
	if (rc != MC_OK)
		return rc;
	rc = store_put(st, acct->name, MC_KIND_OAUTH2, blob, &msg);
	mc_free_secret(blob);
	rc = mc_store_error(rc, msg, "", errmsg);
	return rc;
}

int
mc_token_load(const struct mc_account *acct, int store_timeout_ms,
    struct mc_token_set *out, char **errmsg)
{
	struct store *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mc_store_open(acct, store_timeout_ms, &st, errmsg);
	if (rc == MC_OK)
		rc = read_set(st, acct, out, errmsg);
	store_close(st);
	return rc;
}

static int
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Moves src into dst (dst cleared first). */
static void
take(struct mc_token_set *dst, struct mc_token_set *src)
{
	mc_token_set_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

int
mc_token_get(const struct mc_account *acct,
    const struct mc_http_opts *http, const struct mc_token_opts *opts,
    struct mc_token_set *out, char **errmsg)
{
	struct mc_token_set seen = MC_TOKEN_SET_INIT, cur = MC_TOKEN_SET_INIT;
	struct mc_token_set fresh = MC_TOKEN_SET_INIT;
	struct store *st = NULL;
	int lockfd = -1, rc;

	memset(out, 0, sizeof(*out));
	rc = mc_store_open(acct, opts->store_timeout_ms, &st, errmsg);
	if (rc != MC_OK)
		goto out;
	rc = read_set(st, acct, &seen, errmsg);
	if (rc != MC_OK)
		goto out;
	if (!opts->force && mc_token_usable(&seen, time(NULL),
	    opts->min_valid)) {
		take(out, &seen);
		goto out;
	}

	/* One refresh for all: take the lock, then look again. */
	rc = mc_lock_acquire(acct->name, (acct->timeout + 10) * 1000, &lockfd,
	    errmsg);
	if (rc != MC_OK)
		goto out;
	rc = read_set(st, acct, &cur, errmsg);
	if (rc != MC_OK)
		goto out;
	if (!same(cur.access_token, seen.access_token) &&
	    mc_token_usable(&cur, time(NULL), 1)) {
		/* Another process refreshed while we waited: use its token. */
		take(out, &cur);
		goto out;
	}
	if (!opts->force && mc_token_usable(&cur, time(NULL),
	    opts->min_valid)) {
		take(out, &cur);
		goto out;
	}
	if (cur.refresh_token == NULL) {
		rc = mc_fail(MC_ERR_AUTH, errmsg, "the access token has "
		    "expired and there is no refresh token: run 'mailcred "
		    "login %s'", acct->name);
		goto out;
	}
	rc = mc_oauth_refresh(acct, http, cur.refresh_token, &fresh, errmsg);
	if (rc != MC_OK)
		goto out;
	if (fresh.scope == NULL && cur.scope != NULL) {
		fresh.scope = strdup(cur.scope);
		if (fresh.scope == NULL) {
			rc = MC_ERR_NOMEM;
			goto out;
		}
	}
	/* Stored before anyone sees the new access token. */
	rc = write_set(st, acct, &fresh, errmsg);
	if (rc != MC_OK)
		goto out;
	take(out, &fresh);
out:
	mc_lock_release(lockfd);
	mc_token_set_clear(&seen);
	mc_token_set_clear(&cur);
	mc_token_set_clear(&fresh);
	store_close(st);
	return rc;
}

int
mc_token_save(const struct mc_account *acct, const struct mc_token_set *ts,
    int store_timeout_ms, char **errmsg)
{
	struct mc_token_set old = MC_TOKEN_SET_INIT, merged;
	struct store *st = NULL;
	char *msg = NULL;
	int lockfd = -1, rc;

	rc = mc_store_open(acct, store_timeout_ms, &st, errmsg);
	if (rc != MC_OK)
		goto out;
	rc = mc_lock_acquire(acct->name, (acct->timeout + 10) * 1000, &lockfd,
	    errmsg);
	if (rc != MC_OK)
		goto out;
	merged = *ts;
	if (ts->refresh_token == NULL) {
		rc = read_set(st, acct, &old, &msg);
		if (rc == MC_ERR_STORE || rc == MC_ERR_STORE_PERM) {
			rc = mc_fail(rc, errmsg, "%s", msg ? msg :
			    "cannot read the store");
			free(msg);
			goto out;
		}
		free(msg);
		merged.refresh_token = old.refresh_token;
	}
	rc = write_set(st, acct, &merged, errmsg);
out:
	mc_lock_release(lockfd);
	mc_token_set_clear(&old);
	store_close(st);
	return rc;
}
