/* auth/token.c - cached access tokens, single-flight refresh, recovery. */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/clock.h"
#include "auth/err.h"
#include "auth/lock.h"
#include "auth/secmem.h"
#include "auth/tcache.h"
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
		/*
		 * Temporary (75): the keyring daemon is started with the
		 * desktop session or on demand, and may be there on the next
		 * try; nothing was read or written.
		 */
		rc = mc_fail(MC_ERR_STORE, errmsg, "%s", storemsg ? storemsg :
		    "no Secret Service is running");
		break;
	case STORE_ENOCOLLECTION:
	case STORE_ENOLIB:
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
	    ts->expires_at > 0 && (long long)now + (long long)min_valid <
	    ts->expires_at;
}

/*
 * How long a caller waits for another's refresh: the holder may spend the
 * network timeout on the request plus a few store deadlines (5 s each) on
 * reads and writes.
 */
#define LOCK_WAIT_MS(acct) (((acct)->timeout + 30) * 1000)

/*
 * One call's view of an account: its store, its recovery file, and where
 * its access tokens are kept.
 */
struct tok {
	const struct mc_account *acct;
	const struct mc_token_opts *opts;
	struct store *st;
	struct store *rs;	/* the state directory as a file store */
	char *state_dir;	/* the store's (keyring/store.h) */
	int pending;		/* the set in hand came from the recovery file */
	enum mc_cache mode;	/* MC_CACHE_RUNTIME only when there is one */
	int cache_warned;	/* one warning about the runtime cache a call */
};

#define TOK_INIT { NULL, NULL, NULL, NULL, NULL, 0, MC_CACHE_STORE, 0 }

static void
tok_clear(struct tok *t)
{
	store_close(t->st);
	store_close(t->rs);
	free(t->state_dir);
	memset(t, 0, sizeof(*t));
}

static void
warn(const struct tok *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
warn(const struct tok *t, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL;

	if (t->opts == NULL || t->opts->warn == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	if (line != NULL)
		t->opts->warn(t->opts->warn_ctx, line);
	free(line);
}

/* Where this call keeps access tokens: cache = runtime needs a runtime dir. */
static void
tok_begin(struct tok *t, const struct mc_account *acct,
    const struct mc_token_opts *opts)
{
	t->acct = acct;
	t->opts = opts;
	t->mode = acct->cache;
	if (t->mode == MC_CACHE_RUNTIME && !mc_tcache_on(acct))
		t->mode = MC_CACHE_STORE;
}

/*
 * The runtime cache's token for the account into *out: MC_OK, or
 * MC_ERR_NOT_LOGGED_IN when there is none to use (a cache that is not
 * safe to use is passed over with a warning).
 */
static int
cache_read(struct tok *t, struct mc_token_set *out, char **lock_dir)
{
	char *msg = NULL;
	int rc;

	rc = mc_tcache_read(t->acct, out, lock_dir, &msg);
	if (rc != MC_OK && rc != MC_ERR_NOT_LOGGED_IN && !t->cache_warned) {
		t->cache_warned = 1;
		warn(t, "warning: the runtime token cache is passed over: %s",
		    msg != NULL ? msg : "it cannot be read");
	}
	free(msg);
	return rc == MC_OK ? MC_OK : MC_ERR_NOT_LOGGED_IN;
}

/* ts's access token into the runtime cache: MC_OK, or the error, warned. */
static int
cache_keep(struct tok *t, const struct mc_token_set *ts)
{
	char *msg = NULL;
	int rc;

	if (t->mode != MC_CACHE_RUNTIME)
		return MC_ERR_NOT_LOGGED_IN;
	rc = mc_tcache_put(t->acct, ts, t->state_dir, &msg);
	if (rc != MC_OK && !t->cache_warned) {
		t->cache_warned = 1;
		warn(t, "warning: the runtime token cache did not take the "
		    "access token: %s", msg != NULL ? msg : "failed");
	}
	free(msg);
	return rc;
}

/* The runtime cache's entry goes (the grant is gone or changed). */
static void
cache_drop(struct tok *t)
{
	char *msg = NULL;

	if (mc_tcache_drop(t->acct, &msg) != MC_OK)
		warn(t, "warning: the cached access token was not removed: %s",
		    msg != NULL ? msg : "failed");
	free(msg);
}

static int
tok_open(struct tok *t, const struct mc_account *acct,
    const struct mc_token_opts *opts, char **errmsg)
{
	struct store_opts so = STORE_OPTS_INIT;
	char *msg = NULL;
	int rc;

	tok_begin(t, acct, opts);
	rc = mc_store_open(acct, opts->store_timeout_ms, &t->st, errmsg);
	if (rc != MC_OK)
		return rc;
	rc = store_state_dir(t->st, &t->state_dir, &msg);
	if (rc != STORE_OK)
		return mc_store_error(rc, msg, "", errmsg);
	so.backend = STORE_FILE;
	so.dir = t->state_dir;
	rc = store_open(&so, &t->rs, &msg);
	return mc_store_error(rc, msg, "", errmsg);
}

/* tok_open(), then the account's lock into *lockfd. */
static int
tok_open_locked(struct tok *t, const struct mc_account *acct,
    const struct mc_token_opts *opts, int *lockfd, char **errmsg)
{
	int rc;

	*lockfd = -1;
	rc = tok_open(t, acct, opts, errmsg);
	if (rc == MC_OK)
		rc = mc_lock_acquire(t->state_dir, acct->name,
		    LOCK_WAIT_MS(acct), lockfd, errmsg);
	return rc;
}

/* The recovery file's kind: one per kind of store the account may use. */
static const char *
recovery_kind(const struct mc_account *acct)
{
	return acct->store == STORE_FILE ? "recovery-file" : "recovery-keyring";
}

/* Where the recovery file is, for messages. */
static void
recovery_path(const struct tok *t, char *buf, size_t size)
{
	char name[STORE_FILE_NAME_SIZE];
	int n;

	if (store_file_name(t->acct->name, recovery_kind(t->acct), name,
	    NULL) != STORE_OK)
		(void)snprintf(name, sizeof(name), "?");	/* fits */
	n = snprintf(buf, size, "%s/%s", t->state_dir, name);
	if (n < 0 || (size_t)n >= size)
		/* Callers pass PATH_MAX + 64 bytes: the literal fits. */
		(void)snprintf(buf, size, "the recovery file in the state "
		    "directory, whose path is too long to show");
}

static int
not_logged_in(const struct mc_account *acct, char *storemsg, char **errmsg)
{
	char *nf = NULL;
	int rc;

	if (asprintf(&nf, "not logged in: run 'mailcred login %s'",
	    acct->name) < 0)
		nf = NULL;
	rc = mc_store_error(STORE_ENOTFOUND, storemsg, nf != NULL ? nf :
	    "not logged in", errmsg);
	free(nf);
	return rc;
}

/* Reads a token set of kind from st; the store's errors are ours. */
static int
read_set(struct store *st, const struct mc_account *acct, const char *kind,
    struct mc_token_set *out, char **errmsg)
{
	char *blob = NULL, *msg = NULL;
	int serr, rc;

	memset(out, 0, sizeof(*out));
	serr = store_get(st, acct->name, kind, &blob, &msg);
	if (serr == STORE_ENOTFOUND)
		return not_logged_in(acct, msg, errmsg);
	if (serr != STORE_OK)
		return mc_store_error(serr, msg, "", errmsg);
	free(msg);
	rc = mc_token_set_parse(blob, out, NULL);
	store_secret_free(blob);
	if (rc != MC_OK)
		rc = mc_fail(MC_ERR_NOT_LOGGED_IN, errmsg, "the stored tokens "
		    "are unreadable: run 'mailcred login %s'", acct->name);
	return rc;
}

/* Writes ts as kind into st; returns the store's own error code. */
static int
write_set(struct store *st, const struct mc_account *acct, const char *kind,
    const struct mc_token_set *ts, char **storemsg)
{
	char *blob = NULL;
	int serr;

	if (mc_token_set_serialize(ts, &blob) != MC_OK)
		return STORE_ENOMEM;
	serr = store_put(st, acct->name, kind, blob, storemsg);
	mc_free_secret(blob);
	return serr;
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

/*
 * Reads the recovery file into *out: MC_OK, MC_ERR_NOT_LOGGED_IN when
 * there is none (an empty one was emptied on purpose: see drop_recovery;
 * one that holds no tokens is useless, with a warning), or an error when
 * it cannot be looked for or read: never a reason to fall back on the
 * store's older refresh token.
 */
static int
read_recovery(struct tok *t, struct mc_token_set *out, char **errmsg)
{
	char where[PATH_MAX + 64];
	char *blob = NULL, *msg = NULL;
	int serr, rc, empty;

	memset(out, 0, sizeof(*out));
	serr = store_get(t->rs, t->acct->name, recovery_kind(t->acct), &blob,
	    &msg);
	if (serr == STORE_ENOTFOUND) {
		free(msg);
		return MC_ERR_NOT_LOGGED_IN;
	}
	recovery_path(t, where, sizeof(where));	/* for the messages below */
	if (serr != STORE_OK) {
		rc = serr == STORE_EPERM ? MC_ERR_STORE_PERM :
		    serr == STORE_ENOMEM ? MC_ERR_NOMEM : MC_ERR_STORE;
		rc = mc_fail(rc, errmsg, "cannot look for a recovery file "
		    "(%s): %s", where, msg != NULL ? msg : "failed");
		free(msg);
		return rc;
	}
	free(msg);
	empty = blob[0] == '\0';
	rc = empty ? MC_ERR_NOT_LOGGED_IN : mc_token_set_parse(blob, out,
	    NULL);
	store_secret_free(blob);
	if (rc == MC_OK || empty)
		return rc;
	warn(t, "warning: the recovery file %s does not hold tokens: it is "
	    "passed over", where);
	return MC_ERR_NOT_LOGGED_IN;
}

/*
 * The account's token set: the recovery file when there is one, else the
 * store. A recovery file is always the newest set while it exists: it is
 * made only when the store refused a newer set, it is brought level
 * before any later store write, and it is removed (or emptied) after one.
 * Sets t->pending when the set came from it.
 */
static int
read_current(struct tok *t, struct mc_token_set *out, char **errmsg)
{
	int rc;

	t->pending = 0;
	rc = read_recovery(t, out, errmsg);
	if (rc == MC_OK) {
		t->pending = 1;
		return MC_OK;
	}
	if (rc != MC_ERR_NOT_LOGGED_IN)
		return rc;
	return read_set(t->st, t->acct, MC_KIND_OAUTH2, out, errmsg);
}

/*
 * Empties the recovery file in place, for when it cannot be removed (its
 * directory refuses changes): an empty file is no recovery file.
 */
static int
empty_recovery(struct tok *t)
{
	char name[STORE_FILE_NAME_SIZE];
	struct stat sb;
	int dfd = -1, fd = -1, rc = -1;

	if (store_file_name(t->acct->name, recovery_kind(t->acct), name,
	    NULL) != STORE_OK ||
	    store_private_dir(t->state_dir, 0, &dfd, NULL) != STORE_OK)
		goto out;
	/*
	 * Truncated only once known to be our own regular file with no
	 * other name: never through a hard link planted beside it.
	 */
	fd = openat(dfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    sb.st_uid == geteuid() && sb.st_nlink == 1 &&
	    ftruncate(fd, 0) == 0 && fsync(fd) == 0)
		rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/*
 * The store took the newest set: the recovery file goes, or, when it
 * cannot be removed, is emptied, so it never puts an older refresh token
 * back. Returns -1 (with a warning) only when neither worked.
 */
static int
drop_recovery(struct tok *t)
{
	char *msg = NULL, where[PATH_MAX + 64];
	int serr;

	serr = store_delete(t->rs, t->acct->name, recovery_kind(t->acct),
	    &msg);
	free(msg);
	t->pending = 0;
	if (serr == STORE_OK || serr == STORE_ENOTFOUND ||
	    empty_recovery(t) == 0)
		return 0;
	recovery_path(t, where, sizeof(where));
	warn(t, "warning: %s holds older tokens than the %s and cannot be "
	    "removed: remove it by hand before anything else", where,
	    store_backend_name(t->acct->store));
	return -1;
}

/*
 * With the lock held, before the store is given a set newer than the
 * recovery file in hand: the file gets it first, so no crash or kill
 * between the two writes leaves it older than the store. Failing that it
 * must go now.
 */
static int
level_recovery(struct tok *t, const struct mc_token_set *ts)
{
	char *msg = NULL;
	int serr;

	if (!t->pending)
		return 0;
	serr = write_set(t->rs, t->acct, recovery_kind(t->acct), ts, &msg);
	free(msg);
	if (serr == STORE_OK)
		return 0;
	return drop_recovery(t);
}

/* Store errors worth a second try: the service was busy or the disk hiccupped. */
static int
worth_retry(int serr)
{
	return serr == STORE_EIO || serr == STORE_ELOCKED;
}

/*
 * Makes ts acct's token set, with the lock held: into the store, tried up
 * to three times; when keep says ts holds a refresh token that exists
 * nowhere else and the store still refuses, into the recovery file, with a
 * warning. MC_OK when ts is durable somewhere (or, without keep, when only
 * the cache was lost, with a warning); else MC_ERR_AUTH saying what was
 * lost, since "try again" cannot bring it back.
 *
 * With keep, the recovery file takes ts first, as a journal: a process
 * killed while the store is slow to answer (a frozen keyring can take
 * 15 s over three tries) leaves the new refresh token there, not only in
 * its memory. It goes once the store has ts.
 */
static int
persist(struct tok *t, const struct mc_token_set *ts, int keep,
    const char *what, char **errmsg)
{
	static const long pause_ms[] = { 250, 750 };
	char *smsg = NULL, *rmsg = NULL, where[PATH_MAX + 64];
	struct mc_token_set w = *ts;
	struct timespec ts_pause;
	int pending = t->pending, serr, rerr, i, rc;

	if (t->mode == MC_CACHE_NONE && ts->refresh_token != NULL) {
		/* cache = none: no access token is kept anywhere. */
		if (!keep && !pending)
			return MC_OK;
		w.access_token = NULL;
		w.expires_at = 0;
	}
	ts = &w;
	if (keep && !pending && write_set(t->rs, t->acct, recovery_kind(t->acct),
	    ts, &rmsg) == STORE_OK)
		t->pending = pending = 1;	/* now level with ts */
	else if (level_recovery(t, ts) != 0)
		return mc_fail(MC_ERR_AUTH, errmsg, "%s were not saved: an "
		    "older recovery file cannot be updated or removed; remove "
		    "it, and if mail then fails, run 'mailcred login %s'", what,
		    t->acct->name);
	free(rmsg);
	rmsg = NULL;
	for (i = 0;; i++) {
		free(smsg);
		smsg = NULL;
		serr = write_set(t->st, t->acct, MC_KIND_OAUTH2, ts, &smsg);
		if (serr == STORE_OK) {
			free(smsg);
			if (pending)
				drop_recovery(t);
			return MC_OK;
		}
		if (!keep || !worth_retry(serr) || i == 2)
			break;
		ts_pause.tv_sec = 0;
		ts_pause.tv_nsec = pause_ms[i] * 1000 * 1000;
		nanosleep(&ts_pause, NULL);
	}
	if (!keep) {
		warn(t, "warning: the %s did not take the new access token (%s);"
		    " it is used all the same", store_backend_name(t->acct->store),
		    smsg ? smsg : "failed");
		free(smsg);
		return MC_OK;
	}
	rerr = write_set(t->rs, t->acct, recovery_kind(t->acct), ts, &rmsg);
	recovery_path(t, where, sizeof(where));
	if (rerr == STORE_OK) {
		warn(t, "warning: the %s refused %s (%s): they are kept in %s "
		    "and go back into the %s at the next successful access",
		    store_backend_name(t->acct->store), what,
		    smsg ? smsg : "failed", where,
		    store_backend_name(t->acct->store));
		t->pending = 1;
		rc = MC_OK;
	} else {
		rc = mc_fail(MC_ERR_AUTH, errmsg, "%s could not be saved: the "
		    "%s refused them (%s), and so did %s (%s); fix the store, "
		    "and if mail then fails, run 'mailcred login %s'", what,
		    store_backend_name(t->acct->store), smsg ? smsg : "failed",
		    where, rmsg ? rmsg : "failed", t->acct->name);
	}
	free(smsg);
	free(rmsg);
	return rc;
}

int
mc_token_store_ready(const struct mc_account *acct, int store_timeout_ms,
    char **errmsg)
{
	struct mc_token_opts opts = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	struct tok t = TOK_INIT;
	char *msg = NULL;
	int lockfd = -1, rc;

	opts.store_timeout_ms = store_timeout_ms;
	/* The lock (and so the state directory) must be there for a save. */
	rc = tok_open_locked(&t, acct, &opts, &lockfd, errmsg);
	if (rc != MC_OK)
		goto out;
	rc = read_set(t.st, acct, MC_KIND_OAUTH2, &ts, &msg);
	if (rc != MC_OK && rc != MC_ERR_NOT_LOGGED_IN) {
		rc = mc_fail(rc, errmsg, "%s", msg != NULL ? msg :
		    "the store cannot be used");
		goto out;
	}
	free(msg);
	msg = NULL;
	/* Readable is not enough: a keyring without a default collection. */
	rc = store_ready(t.st, &msg);
	rc = mc_store_error(rc, msg, "", errmsg);
	msg = NULL;	/* taken by mc_store_error */
out:
	free(msg);
	mc_lock_release(lockfd);
	mc_token_set_clear(&ts);
	tok_clear(&t);
	return rc;
}

int
mc_token_load(const struct mc_account *acct, int store_timeout_ms,
    struct mc_token_set *out, char **errmsg)
{
	struct mc_token_opts opts = MC_TOKEN_OPTS_INIT;
	struct mc_token_set cached = MC_TOKEN_SET_INIT;
	struct tok t = TOK_INIT;
	int rc;

	memset(out, 0, sizeof(*out));
	opts.store_timeout_ms = store_timeout_ms;
	rc = tok_open(&t, acct, &opts, errmsg);
	if (rc == MC_OK)
		rc = read_current(&t, out, errmsg);
	if (rc == MC_OK && t.mode == MC_CACHE_RUNTIME &&
	    cache_read(&t, &cached, NULL) == MC_OK &&
	    cached.expires_at > out->expires_at) {
		/* The runtime cache's access token is the newer one. */
		cached.refresh_token = out->refresh_token;
		out->refresh_token = NULL;
		take(out, &cached);
	}
	if (rc == MC_ERR_NOT_LOGGED_IN && t.st != NULL) {
		char *blob = NULL, *msg = NULL;

		/* Something is stored, but it did not parse. */
		if (store_get(t.st, acct->name, MC_KIND_OAUTH2, &blob, &msg) ==
		    STORE_OK)
			rc = MC_ERR_DATA;
		store_secret_free(blob);
		free(msg);
	}
	mc_token_set_clear(&cached);
	tok_clear(&t);
	return rc;
}

/*
 * With the lock held: the recovery file goes back into the store if it
 * can. While the store refuses, every call says so: the tokens are in a
 * file the user did not choose.
 */
static void
merge_recovery(struct tok *t, const struct mc_token_set *cur)
{
	char *msg = NULL, where[PATH_MAX + 64];

	if (!t->pending)
		return;
	recovery_path(t, where, sizeof(where));
	if (write_set(t->st, t->acct, MC_KIND_OAUTH2, cur, &msg) == STORE_OK) {
		if (drop_recovery(t) == 0)
			warn(t, "note: the tokens kept in %s are back in the %s",
			    where, store_backend_name(t->acct->store));
	} else {
		warn(t, "warning: the tokens are still only in %s: the %s "
		    "refuses them (%s)", where,
		    store_backend_name(t->acct->store), msg != NULL ? msg :
		    "failed");
	}
	free(msg);
}

/*
 * With the lock held, after the provider refused the grant: its access
 * token goes from the runtime cache and from the store (one write, the
 * refresh token rt kept), so the next call says to log in instead of
 * handing out a token of a dead grant. Best effort; not while a recovery
 * file is the newest set.
 */
static void
forget_access(struct tok *t, const struct mc_token_set *cur, char *rt)
{
	struct mc_token_set dead = *cur;
	char *msg = NULL;

	cache_drop(t);
	if (t->pending || cur->access_token == NULL)
		return;
	dead.refresh_token = rt;
	dead.access_token = NULL;
	dead.expires_at = 0;
	if (dead.refresh_token != NULL)
		(void)write_set(t->st, t->acct, MC_KIND_OAUTH2, &dead, &msg);
	free(msg);
}

/*
 * The refresh itself, with the lock held and cur the current set: asks the
 * token endpoint, keeps whatever refresh token it gave even when the rest
 * of its answer is unusable, and persists the result.
 */
static int
refresh(struct tok *t, const struct mc_http_opts *http,
    struct mc_token_set *cur, struct mc_token_set *out, char **errmsg)
{
	struct mc_token_set fresh = MC_TOKEN_SET_INIT, kept;
	int rc, prc, rotated, cached = 0, kept_new = 0;

	rc = mc_oauth_refresh(t->acct, http, cur->refresh_token, &fresh,
	    errmsg);
	if (rc != MC_OK) {
		if (fresh.refresh_token != NULL &&
		    !same(fresh.refresh_token, cur->refresh_token)) {
			/* Rotated in an answer we cannot use: keep the new one. */
			kept = *cur;
			kept.refresh_token = fresh.refresh_token;
			prc = persist(t, &kept, 1, "the new refresh token",
			    errmsg);
			if (prc != MC_OK)
				rc = prc;
			kept_new = 1;
		}
		/* The grant is gone: so is what it gave. */
		if (rc == MC_ERR_AUTH)
			forget_access(t, cur, kept_new ? fresh.refresh_token :
			    cur->refresh_token);
		goto out;
	}
	if (fresh.scope == NULL && cur->scope != NULL) {
		fresh.scope = strdup(cur->scope);
		if (fresh.scope == NULL) {
			rc = MC_ERR_NOMEM;
			goto out;
		}
	}
	rotated = !same(fresh.refresh_token, cur->refresh_token);
	if (t->mode == MC_CACHE_RUNTIME && !rotated && !t->pending) {
		/*
		 * Nothing new for the store: one write, to the runtime cache.
		 * The store keeps its older access token. Should the cache
		 * refuse, the store takes the new one, as with cache = store.
		 */
		cached = 1;
		if (cache_keep(t, &fresh) == MC_OK) {
			take(out, &fresh);
			goto out;
		}
	}
	/* Stored (or kept) before anyone sees the new access token. */
	rc = persist(t, &fresh, rotated, "the new tokens", errmsg);
	if (rc != MC_OK)
		goto out;
	if (t->mode == MC_CACHE_RUNTIME) {
		/* In a recovery file: the slow path, that merges it, for all. */
		if (t->pending)
			cache_drop(t);
		else if (!cached)
			cache_keep(t, &fresh);
	}
	take(out, &fresh);
out:
	mc_token_set_clear(&fresh);
	return rc;
}

/* cache = none: an access token left in the store is not used. */
static void
no_access(const struct tok *t, struct mc_token_set *ts)
{
	if (t->mode != MC_CACHE_NONE)
		return;
	mc_free_secret(ts->access_token);
	ts->access_token = NULL;
	ts->expires_at = 0;
}

/*
 * The store's valid token ts into the runtime cache, found without the
 * lock: only if the lock is free now and the store still holds ts, so a
 * login or logout that ran meanwhile (they drop the cache, under the
 * lock) is never undone with the old token.
 */
static void
cache_from_store(struct tok *t, const struct mc_token_set *ts)
{
	struct mc_token_set now = MC_TOKEN_SET_INIT;
	int fd = -1;

	if (t->mode != MC_CACHE_RUNTIME ||
	    mc_lock_try(t->state_dir, t->acct->name, &fd, NULL) != MC_OK)
		return;
	if (read_current(t, &now, NULL) == MC_OK && !t->pending &&
	    same(now.access_token, ts->access_token))
		cache_keep(t, &now);
	mc_lock_release(fd);
	mc_token_set_clear(&now);
}

/* What a caller waiting for the lock watches in the runtime cache. */
struct wait_ctx {
	struct tok *t;
	const char *seen;		/* the access token it saw, or NULL */
	struct mc_token_set got;	/* another one, once there is */
};

/* Has another process put a token other than the one seen in the cache? */
static int
cache_changed(void *arg)
{
	struct wait_ctx *w = arg;

	mc_token_set_clear(&w->got);
	if (mc_tcache_get(w->t->acct, &w->got, NULL) != MC_OK)
		return 0;
	if (!same(w->got.access_token, w->seen))
		return 1;
	mc_token_set_clear(&w->got);
	return 0;
}

/*
 * Waits until deadline (mc_clock_ms()) for the account's lock in dir:
 * MC_OK with *lockfd held, our turn to refresh; or MC_OK with *lockfd =
 * -1 when another process has put a new token in the runtime cache
 * meanwhile (then in w->got), lock or no lock, as soon as it is there.
 * With hinted, dir came from the runtime cache: nothing is made there,
 * and any error but MC_ERR_TEMP (no lock there, not a safe place) comes
 * without a message, for the caller to try the store's own directory.
 */
static int
wait_turn(struct tok *t, const char *dir, int hinted, long long deadline,
    struct wait_ctx *w, int wake, int *lockfd, char **errmsg)
{
	int runtime = t->mode == MC_CACHE_RUNTIME, rc;
	long long left = deadline - mc_clock_ms();
	char *msg = NULL;
	int (*done)(void *) = runtime ? cache_changed : NULL;

	if (left < 0)
		left = 0;
	if (hinted)
		rc = mc_lock_acquire_existing(dir, t->acct->name, (int)left,
		    done, w, wake, lockfd, &msg);
	else
		rc = mc_lock_acquire_or(dir, t->acct->name, (int)left, done, w,
		    wake, lockfd, &msg);
	/* A wait's whole length, not what was left of it for this one. */
	if (rc == MC_ERR_TEMP)
		rc = mc_fail(rc, errmsg, MC_LOCK_BUSY,
		    LOCK_WAIT_MS(t->acct) / 1000);
	else if (rc != MC_OK && !hinted)
		rc = mc_fail(rc, errmsg, "%s", msg != NULL ? msg :
		    "the refresh lock cannot be used");
	free(msg);
	if (rc == MC_OK && *lockfd >= 0 && runtime && cache_changed(w)) {
		mc_lock_release(*lockfd);
		*lockfd = -1;
	}
	return rc;
}

int
mc_token_get(const struct mc_account *acct,
    const struct mc_http_opts *http, const struct mc_token_opts *opts,
    struct mc_token_set *out, char **errmsg)
{
	struct mc_token_set seen = MC_TOKEN_SET_INIT, cur = MC_TOKEN_SET_INIT;
	struct wait_ctx wait = { NULL, NULL, MC_TOKEN_SET_INIT };
	struct tok t = TOK_INIT;
	int lockfd = -1, wake = -1, rc = MC_OK, cached = 0, preloading = 0;
	int other;
	char *hint = NULL;
	long long deadline;
	pthread_t preload;

	memset(out, 0, sizeof(*out));
	tok_begin(&t, acct, opts);
	/* The fast path: one small file, no store, no network. */
	if (t.mode == MC_CACHE_RUNTIME && cache_read(&t, &seen, &hint) ==
	    MC_OK) {
		cached = 1;
		if (!opts->force && mc_token_usable(&seen, time(NULL),
		    opts->min_valid)) {
			take(out, &seen);
			goto out;
		}
	}
	/*
	 * A cached token that will not do names the lock its writer took:
	 * waiting there for another process's refresh needs neither the
	 * store nor the password database (most of what a waiter would pay
	 * beyond a cached token). The store is opened once it is our turn.
	 */
	if (hint == NULL) {
		rc = tok_open(&t, acct, opts, errmsg);
		if (rc != MC_OK)
			goto out;
	}
	if (!cached) {
		rc = read_current(&t, &seen, errmsg);
		if (rc != MC_OK)
			goto out;
		no_access(&t, &seen);
		if (!opts->force && !t.pending && mc_token_usable(&seen,
		    time(NULL), opts->min_valid)) {
			cache_from_store(&t, &seen);
			take(out, &seen);
			goto out;
		}
	}

	/*
	 * One refresh for all: take the lock, then look again. With a
	 * runtime cache, a waiter takes the token another process puts
	 * there as soon as it is there, lock or no lock.
	 */
	wait.t = &t;
	wait.seen = seen.access_token;
	if (t.mode == MC_CACHE_RUNTIME)
		wake = mc_tcache_watch(acct);
	deadline = mc_clock_ms() + LOCK_WAIT_MS(acct);
	rc = wait_turn(&t, hint != NULL ? hint : t.state_dir, hint != NULL,
	    deadline, &wait, wake, &lockfd, errmsg);
	if (rc != MC_OK && rc != MC_ERR_TEMP && hint != NULL) {
		/* No lock there, or not a safe one: the store's own. */
		free(hint);
		hint = NULL;
		rc = tok_open(&t, acct, opts, errmsg);
		if (rc == MC_OK)
			rc = wait_turn(&t, t.state_dir, 0, deadline, &wait,
			    wake, &lockfd, errmsg);
	}
	if (rc == MC_OK && lockfd >= 0 && hint != NULL) {
		/*
		 * Our turn, in the hinted directory. Whoever refreshes holds
		 * the lock where its own store says, so should the hint be
		 * out of date (the home directory moved since), that lock is
		 * waited for too, in its place, within the same deadline.
		 */
		rc = tok_open(&t, acct, opts, errmsg);
		if (rc == MC_OK && !mc_lock_is(lockfd, t.state_dir,
		    acct->name)) {
			mc_lock_release(lockfd);
			lockfd = -1;
			rc = wait_turn(&t, t.state_dir, 0, deadline, &wait,
			    wake, &lockfd, errmsg);
		}
	}
	if (wake >= 0)
		close(wake);
	if (rc != MC_OK)
		goto out;
	if (lockfd < 0) {
		take(out, &wait.got);
		out->refreshed = 1;
		goto out;
	}
	/*
	 * A refresh is likely: libcurl loads while the store is read. The
	 * store's own libraries first: two threads cannot load at once.
	 */
	store_warm(t.st);
	preloading = mc_http_preload(&preload) == 0;
	rc = read_current(&t, &cur, errmsg);
	if (rc != MC_OK)
		goto out;
	merge_recovery(&t, &cur);
	no_access(&t, &cur);
	/*
	 * Another process got a token while we waited: use it, even with a
	 * lifetime of 0, or every waiter would refresh again. When what we
	 * saw came from the runtime cache, the store's token differs as a
	 * rule (a refresh that rotates nothing leaves it as it was): it is
	 * taken only when it is valid and no refresh was asked for (one
	 * from a process without the runtime cache, cron say).
	 */
	other = cur.access_token != NULL &&
	    !same(cur.access_token, seen.access_token);
	if (other && cached)
		other = !opts->force && mc_token_usable(&cur, time(NULL),
		    opts->min_valid);
	if (other || (!opts->force && mc_token_usable(&cur, time(NULL),
	    opts->min_valid))) {
		if (!t.pending)
			cache_keep(&t, &cur);
		take(out, &cur);
		out->refreshed = other;
		goto out;
	}
	if (cur.refresh_token == NULL) {
		rc = mc_fail(MC_ERR_AUTH, errmsg, "the access token has "
		    "expired and there is no refresh token: run 'mailcred "
		    "login %s'", acct->name);
		goto out;
	}
	rc = refresh(&t, http, &cur, out, errmsg);
	if (rc == MC_OK)
		out->refreshed = 1;
out:
	if (preloading)
		pthread_join(preload, NULL);
	mc_lock_release(lockfd);
	mc_token_set_clear(&wait.got);
	mc_token_set_clear(&seen);
	mc_token_set_clear(&cur);
	free(hint);
	tok_clear(&t);
	return rc;
}

int
mc_token_save(const struct mc_account *acct, const struct mc_token_set *ts,
    const struct mc_token_opts *opts, char **errmsg)
{
	struct mc_token_set old = MC_TOKEN_SET_INIT, merged;
	struct tok t = TOK_INIT;
	char *msg = NULL;
	int lockfd = -1, rc;

	rc = tok_open_locked(&t, acct, opts, &lockfd, errmsg);
	if (rc != MC_OK)
		goto out;
	merged = *ts;
	/* Read first: a recovery file in hand is brought level by persist. */
	rc = read_current(&t, &old, &msg);
	if (ts->refresh_token == NULL) {
		/* Keep the refresh token we have; never guess it is gone. */
		if (rc != MC_OK && rc != MC_ERR_NOT_LOGGED_IN) {
			rc = mc_fail(rc, errmsg, "%s", msg != NULL ? msg :
			    "cannot read what the store holds");
			goto out;
		}
		merged.refresh_token = old.refresh_token;
	}
	rc = persist(&t, &merged, 1, "the tokens of this login", errmsg);
	/* The old grant's access token must not outlive it. */
	if (rc == MC_OK)
		cache_drop(&t);
out:
	free(msg);
	mc_lock_release(lockfd);
	mc_token_set_clear(&old);
	tok_clear(&t);
	return rc;
}

/* Deletes kind from st: MC_OK when deleted or not there, else the error. */
static int
forget_item(struct store *st, const struct mc_account *acct,
    const char *kind, int *deleted, char **errmsg)
{
	char *msg = NULL;
	int serr;

	*deleted = 0;
	serr = store_delete(st, acct->name, kind, &msg);
	if (serr == STORE_ENOTFOUND) {
		free(msg);
		return MC_OK;
	}
	if (serr == STORE_OK)
		*deleted = 1;
	return mc_store_error(serr, msg, "", errmsg);
}

int
mc_token_forget(const struct mc_account *acct, int store_timeout_ms,
    char **refresh_token, int *forgot, char **errmsg)
{
	struct mc_token_opts opts = MC_TOKEN_OPTS_INIT;
	struct mc_token_set rec = MC_TOKEN_SET_INIT, set = MC_TOKEN_SET_INIT;
	struct tok t = TOK_INIT;
	char *blob = NULL, *msg = NULL, where[PATH_MAX + 64];
	int lockfd = -1, rc, serr, deleted, have_rec;

	*refresh_token = NULL;
	*forgot = 0;
	opts.store_timeout_ms = store_timeout_ms;
	rc = tok_open_locked(&t, acct, &opts, &lockfd, errmsg);
	if (rc != MC_OK)
		goto out;

	/* The access token first: it holds no refresh token to lose. */
	rc = mc_tcache_drop(acct, errmsg);
	if (rc != MC_OK)
		goto out;
	/* Look first: a store that cannot be read loses nothing. */
	rc = read_recovery(&t, &rec, errmsg);
	if (rc != MC_OK && rc != MC_ERR_NOT_LOGGED_IN)
		goto out;
	have_rec = rc == MC_OK;
	serr = store_get(t.st, acct->name, MC_KIND_OAUTH2, &blob, &msg);
	if (serr != STORE_OK && serr != STORE_ENOTFOUND) {
		rc = mc_store_error(serr, msg, "", errmsg);
		msg = NULL;	/* taken */
		goto out;
	}
	free(msg);
	msg = NULL;
	/* An unreadable set is deleted all the same, with nothing to revoke. */
	if (blob != NULL && mc_token_set_parse(blob, &set, NULL) != MC_OK) {
		mc_token_set_clear(&set);
		*forgot |= MC_FORGOT_UNREADABLE;
	}

	rc = forget_item(t.st, acct, MC_KIND_PASSWORD, &deleted, errmsg);
	if (deleted)
		*forgot |= MC_FORGOT_PASSWORD;
	if (rc != MC_OK)
		goto out;
	rc = forget_item(t.st, acct, MC_KIND_OAUTH2, &deleted, errmsg);
	if (deleted)
		*forgot |= MC_FORGOT_TOKENS;
	if (rc != MC_OK)
		goto out;
	/* Deleted, or emptied in place when its directory refuses. */
	serr = store_delete(t.rs, acct->name, recovery_kind(acct), &msg);
	free(msg);
	msg = NULL;
	if (serr != STORE_OK && serr != STORE_ENOTFOUND &&
	    empty_recovery(&t) != 0) {
		recovery_path(&t, where, sizeof(where));
		rc = mc_fail(MC_ERR_IO, errmsg, "the recovery file %s cannot "
		    "be removed: remove it by hand, then run 'mailcred logout "
		    "%s' again", where, acct->name);
		goto out;
	}
	if (have_rec)
		*forgot |= MC_FORGOT_RECOVERY;

	if (have_rec && rec.refresh_token != NULL) {
		*refresh_token = rec.refresh_token;
		rec.refresh_token = NULL;
	} else if (set.refresh_token != NULL) {
		*refresh_token = set.refresh_token;
		set.refresh_token = NULL;
	}
	rc = MC_OK;
out:
	free(msg);
	store_secret_free(blob);
	mc_lock_release(lockfd);
	mc_token_set_clear(&rec);
	mc_token_set_clear(&set);
	tok_clear(&t);
	return rc;
}
