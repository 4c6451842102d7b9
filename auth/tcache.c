/* auth/tcache.c - the access token cache in $XDG_RUNTIME_DIR/mailcred. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/err.h"
#include "auth/secmem.h"
#include "auth/tcache.h"
#include "keyring/store.h"

/* The store serialization's "version" (mc_token_set_json), which entries carry. */
#define TCACHE_VERSION 1

/*
 * Is path a directory of the effective user that others cannot enter?
 * Fills *sb. A symbolic link to one is accepted: XDG_RUNTIME_DIR is set
 * by the session, not by anyone who could swap it.
 */
static int
private_dir(const char *path, struct stat *sb)
{
	return path != NULL && path[0] == '/' && stat(path, sb) == 0 &&
	    S_ISDIR(sb->st_mode) && sb->st_uid == geteuid() &&
	    (sb->st_mode & 077) == 0;
}

/* The cache directory under the runtime directory rt, into buf. */
static int
cache_dir(const char *rt, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/mailcred", rt);

	return n > 0 && (size_t)n < size ? 0 : -1;
}

/* $XDG_RUNTIME_DIR/mailcred into buf when XDG_RUNTIME_DIR is usable. */
static int
runtime_cache_dir(char *buf, size_t size)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	struct stat sb;

	if (!private_dir(rt, &sb))
		return -1;
	return cache_dir(rt, buf, size);
}

int
mc_tcache_on(const struct mc_account *acct)
{
	char dir[PATH_MAX];

	return acct->cache == MC_CACHE_RUNTIME &&
	    runtime_cache_dir(dir, sizeof(dir)) == 0;
}

/* A store error about the cache directory dir as ours (msg is taken). */
static int
store_to_mc(int serr, char *msg, const char *dir, char **errmsg)
{
	int rc;

	if (serr == STORE_ENOMEM) {
		free(msg);
		return MC_ERR_NOMEM;
	}
	rc = serr == STORE_EPERM ? MC_ERR_STORE_PERM : MC_ERR_IO;
	if (msg != NULL)
		rc = mc_fail(rc, errmsg, "%s", msg);
	else
		rc = mc_fail(rc, errmsg, "the token cache %s cannot be used",
		    dir);
	free(msg);
	return rc;
}

/* A file store over the cache directory dir. */
static int
open_cache(const char *dir, struct store **st, char **errmsg)
{
	struct store_opts so = STORE_OPTS_INIT;
	char *msg = NULL;
	int serr;

	so.backend = STORE_FILE;
	so.dir = dir;
	/*
	 * A cache: what a crash takes is refreshed again (the refresh
	 * token is in the account's store), and an entry cut short does
	 * not parse and is passed over. A removal is still made durable.
	 */
	so.nosync = 1;
	serr = store_open(&so, st, &msg);
	if (serr == STORE_OK)
		return MC_OK;
	return store_to_mc(serr, msg, dir, errmsg);
}

/* What an entry was granted for: these must match the account's. */
static const char *const bound_keys[] = {
	"token_endpoint", "client_id", "user", "store",
};
#define NBOUND (sizeof(bound_keys) / sizeof(bound_keys[0]))

static void
bound_values(const struct mc_account *acct, const char *v[NBOUND])
{
	v[0] = acct->token_endpoint != NULL ? acct->token_endpoint : "";
	v[1] = acct->client_id != NULL ? acct->client_id : "";
	v[2] = acct->user != NULL ? acct->user : acct->name;
	v[3] = store_backend_name(acct->store);
}

/* A string member of o, or NULL when absent or not a string. */
static const char *
member(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Duplicates a string member into *out (left NULL when absent). */
static int
dup_member(json_t *o, const char *key, char **out)
{
	const char *s = member(o, key);

	*out = NULL;
	if (s == NULL)
		return MC_OK;
	*out = strdup(s);
	return *out != NULL ? MC_OK : MC_ERR_NOMEM;
}

/* The entry's lock directory, when it names one that can be, into *out. */
static int
lock_dir_member(json_t *o, char **out)
{
	json_t *v = json_object_get(o, "lock_dir");
	const char *s;
	size_t n;

	*out = NULL;
	if (!json_is_string(v))
		return MC_OK;
	s = json_string_value(v);
	n = json_string_length(v);
	if (s[0] != '/' || n >= PATH_MAX || strlen(s) != n)
		return MC_OK;
	*out = strdup(s);
	return *out != NULL ? MC_OK : MC_ERR_NOMEM;
}

int
mc_tcache_parse_entry(const struct mc_account *acct, const char *blob,
    struct mc_token_set *out, char **lock_dir)
{
	const char *want[NBOUND], *got;
	json_t *o, *bound, *exp;
	size_t i;
	int rc = MC_ERR_NOT_LOGGED_IN;

	memset(out, 0, sizeof(*out));
	if (lock_dir != NULL)
		*lock_dir = NULL;
	o = json_loads(blob, JSON_REJECT_DUPLICATES, NULL);
	if (o == NULL || !json_is_object(o))
		goto out;
	exp = json_object_get(o, "version");
	if (!json_is_integer(exp) || json_integer_value(exp) != TCACHE_VERSION)
		goto out;
	bound = json_object_get(o, "for");
	if (!json_is_object(bound))
		goto out;
	bound_values(acct, want);
	for (i = 0; i < NBOUND; i++) {
		got = member(bound, bound_keys[i]);
		if (got == NULL || strcmp(got, want[i]) != 0)
			goto out;
	}
	exp = json_object_get(o, "expires_at");
	got = member(o, "access_token");
	if (!json_is_integer(exp) || json_integer_value(exp) <= 0 ||
	    got == NULL || got[0] == '\0')
		goto out;
	out->expires_at = json_integer_value(exp);
	if ((rc = dup_member(o, "access_token", &out->access_token)) != MC_OK ||
	    (rc = dup_member(o, "token_type", &out->token_type)) != MC_OK ||
	    (rc = dup_member(o, "scope", &out->scope)) != MC_OK ||
	    (lock_dir != NULL && (rc = lock_dir_member(o, lock_dir)) != MC_OK))
		goto out;
	rc = MC_OK;
out:
	if (rc != MC_OK)
		mc_token_set_clear(out);
	json_decref(o);
	return rc;
}

/*
 * The entry for ts and acct, as a malloc'd JSON text to wipe: the store's
 * serialization of ts without its refresh token, and what it is for.
 */
static int
format_entry(const struct mc_account *acct, const struct mc_token_set *ts,
    const char *lock_dir, char **out)
{
	struct mc_token_set at = *ts;
	const char *v[NBOUND];
	json_t *o = NULL, *bound = NULL;
	size_t i;
	int rc = MC_ERR_NOMEM;

	*out = NULL;
	at.refresh_token = NULL;
	bound_values(acct, v);
	if ((o = mc_token_set_json(&at)) == NULL ||
	    (bound = json_object()) == NULL)
		goto out;
	for (i = 0; i < NBOUND; i++)
		if (json_object_set_new(bound, bound_keys[i],
		    json_string(v[i])) != 0)
			goto out;
	if (json_object_set(o, "for", bound) != 0 || (lock_dir != NULL &&
	    json_object_set_new(o, "lock_dir", json_string(lock_dir)) != 0))
		goto out;
	rc = mc_json_text(o, out);
out:
	json_decref(bound);
	json_decref(o);
	return rc;
}

int
mc_tcache_get(const struct mc_account *acct, struct mc_token_set *out,
    char **errmsg)
{
	return mc_tcache_read(acct, out, NULL, errmsg);
}

int
mc_tcache_read(const struct mc_account *acct, struct mc_token_set *out,
    char **lock_dir, char **errmsg)
{
	char dir[PATH_MAX];
	struct store *st = NULL;
	char *blob = NULL, *msg = NULL;
	int serr, rc;

	memset(out, 0, sizeof(*out));
	if (lock_dir != NULL)
		*lock_dir = NULL;
	if (acct->cache != MC_CACHE_RUNTIME ||
	    runtime_cache_dir(dir, sizeof(dir)) != 0)
		return MC_ERR_NOT_LOGGED_IN;
	rc = open_cache(dir, &st, errmsg);
	if (rc != MC_OK)
		goto out;
	serr = store_get(st, acct->name, MC_KIND_ACCESS, &blob, &msg);
	if (serr == STORE_ENOTFOUND) {
		free(msg);
		rc = MC_ERR_NOT_LOGGED_IN;
		goto out;
	}
	if (serr != STORE_OK) {
		rc = store_to_mc(serr, msg, dir, errmsg);
		goto out;
	}
	free(msg);
	rc = mc_tcache_parse_entry(acct, blob, out, lock_dir);
out:
	store_secret_free(blob);
	store_close(st);
	return rc;
}

int
mc_tcache_put(const struct mc_account *acct, const struct mc_token_set *ts,
    const char *lock_dir, char **errmsg)
{
	char dir[PATH_MAX];
	struct store *st = NULL;
	char *blob = NULL, *msg = NULL;
	int serr, rc;

	if (acct->cache != MC_CACHE_RUNTIME ||
	    runtime_cache_dir(dir, sizeof(dir)) != 0)
		return MC_ERR_NOT_LOGGED_IN;
	if (ts->access_token == NULL || ts->access_token[0] == '\0')
		return mc_fail(MC_ERR_DATA, errmsg, "no access token to cache");
	rc = open_cache(dir, &st, errmsg);
	if (rc != MC_OK)
		goto out;
	rc = format_entry(acct, ts, lock_dir, &blob);
	if (rc != MC_OK)
		goto out;
	serr = store_put(st, acct->name, MC_KIND_ACCESS, blob, &msg);
	rc = serr == STORE_OK ? MC_OK : store_to_mc(serr, msg, dir, errmsg);
	if (serr == STORE_OK)
		free(msg);
out:
	mc_free_secret(blob);
	store_close(st);
	return rc;
}

int
mc_tcache_watch(const struct mc_account *acct)
{
	char dir[PATH_MAX];
	int fd;

	if (acct->cache != MC_CACHE_RUNTIME ||
	    runtime_cache_dir(dir, sizeof(dir)) != 0)
		return -1;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -1;
	/*
	 * The file store replaces an entry by renaming a temporary file,
	 * and only so: the rename is the one event that can bring a new
	 * token (the temporary file's close would wake every waiter once
	 * more, for nothing).
	 */
	if (inotify_add_watch(fd, dir, IN_MOVED_TO | IN_ONLYDIR |
	    IN_DONT_FOLLOW) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Removes acct's entry from the cache directory under rt. */
static int
drop_in(const struct mc_account *acct, const char *rt, char **errmsg)
{
	char dir[PATH_MAX];
	struct store *st = NULL;
	char *msg = NULL;
	int serr, rc;

	if (cache_dir(rt, dir, sizeof(dir)) != 0)
		return MC_OK;
	rc = open_cache(dir, &st, errmsg);
	if (rc != MC_OK)
		return rc;
	serr = store_delete(st, acct->name, MC_KIND_ACCESS, &msg);
	if (serr == STORE_OK || serr == STORE_ENOTFOUND) {
		free(msg);
		rc = MC_OK;
	} else {
		rc = store_to_mc(serr, msg, dir, errmsg);
	}
	store_close(st);
	return rc;
}

int
mc_tcache_drop(const struct mc_account *acct, char **errmsg)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char run[64];
	struct stat a, b;
	int have_rt, rc;

	have_rt = private_dir(rt, &a);
	if (have_rt && (rc = drop_in(acct, rt, errmsg)) != MC_OK)
		return rc;
	if (snprintf(run, sizeof(run), "/run/user/%lu",
	    (unsigned long)geteuid()) >= (int)sizeof(run) ||
	    !private_dir(run, &b) ||
	    (have_rt && a.st_dev == b.st_dev && a.st_ino == b.st_ino))
		return MC_OK;
	return drop_in(acct, run, errmsg);
}
