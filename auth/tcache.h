/*
 * auth/tcache.h - the runtime cache of access tokens.
 *
 * With cache = runtime (the default) an account's short-lived access token,
 * with its expiry, type and scope, is kept in a 0600 file of the 0700
 * directory $XDG_RUNTIME_DIR/mailcred: a per-user tmpfs that never reaches
 * a disk and is emptied when the user's last session ends. The refresh
 * token is never there; it stays in the account's store only. A cached
 * `mailcred token` reads this one file: no D-Bus, no libsecret, no network
 * library.
 *
 * The threat model is the Secret Service's own: any process of the same
 * user can ask the keyring for every secret in it, so a file only that
 * user can read gives away nothing new; other users (and a stolen disk)
 * see nothing.
 *
 * The files are the file store's (keyring/store.h, kind "access"):
 * replaced atomically (temporary file, rename), opened with O_NOFOLLOW,
 * refused when the owner or the mode is wrong. Each entry also names what
 * its token was granted for (the token endpoint, the client, the user and
 * the store), so an entry for another configuration of the same account
 * name, or one that does not parse, is passed over, and replaced at the
 * next refresh.
 *
 * XDG_RUNTIME_DIR must be an absolute path to a directory of the effective
 * user that others cannot enter, as the XDG base directory specification
 * requires. Without one (cron, a plain ssh session), or with cache = store
 * or none, there is no runtime cache.
 *
 * Functions return MC_OK or an MC_ERR_* code with a one-line *errmsg the
 * caller frees (auth/err.h).
 */
#ifndef MAILCRED_AUTH_TCACHE_H
#define MAILCRED_AUTH_TCACHE_H

#include "auth/config.h"
#include "auth/oauth.h"

/* The store kind of the cache files. */
#define MC_KIND_ACCESS "access"

/*
 * Is there a runtime cache for acct: cache = runtime, and a usable
 * XDG_RUNTIME_DIR? 1 or 0.
 */
int mc_tcache_on(const struct mc_account *acct);

/*
 * Reads acct's cached access token into *out (access_token, token_type,
 * scope, expires_at; never a refresh token), whatever time it has left:
 * MC_OK; MC_ERR_NOT_LOGGED_IN when there is no runtime cache, no entry, or
 * one that is passed over (for another configuration, unreadable);
 * MC_ERR_STORE_PERM (with the fix) when the directory or the file is not
 * safe to use; MC_ERR_IO or MC_ERR_NOMEM otherwise.
 */
int mc_tcache_get(const struct mc_account *acct, struct mc_token_set *out,
    char **errmsg);

/*
 * mc_tcache_get(), and where the process that wrote the entry found the
 * account's refresh lock (auth/lock.h: the store's state directory) into
 * *lock_dir (malloc'd; NULL on any error, and when the entry names none,
 * as entries written before there was this member do). A hint for a
 * caller about to wait for another's refresh, which it can then wait for
 * without looking its home directory up in the password database (0.3 to
 * 0.7 ms of CPU in a fresh process: the cost of a cached token). Being a hint, it is only ever
 * used to find that lock; whoever then refreshes takes the lock in the
 * directory it found itself (auth/token.c).
 */
int mc_tcache_read(const struct mc_account *acct, struct mc_token_set *out,
    char **lock_dir, char **errmsg);

/*
 * Makes ts's access token (with its expiry, type and scope) acct's cached
 * one, creating $XDG_RUNTIME_DIR/mailcred as needed; lock_dir (or NULL)
 * is recorded with it, for mc_tcache_read(). MC_ERR_NOT_LOGGED_IN when
 * there is no runtime cache; store errors as for mc_tcache_get(). The
 * file is not synced to a disk: a cache entry a crash takes is refreshed
 * again, and one cut short does not parse and is passed over.
 */
int mc_tcache_put(const struct mc_account *acct,
    const struct mc_token_set *ts, const char *lock_dir, char **errmsg);

/*
 * A descriptor that becomes readable when an entry of the runtime cache
 * is replaced (an inotify watch on its directory; what it says is to be
 * read and dropped), for a caller waiting for another process's refresh;
 * the caller closes it. -1 when there is no runtime cache for acct or no
 * watch can be made (the caller then polls).
 */
int mc_tcache_watch(const struct mc_account *acct);

/*
 * Removes acct's cached access token, whatever acct->cache says: from
 * $XDG_RUNTIME_DIR/mailcred, and from /run/user/UID/mailcred of the
 * effective user when that is another directory (a logout over plain ssh
 * also clears the desktop session's cache). MC_OK when none is left
 * behind (or there was none); else the error, with a message naming the
 * file.
 */
int mc_tcache_drop(const struct mc_account *acct, char **errmsg);

/*
 * Parses blob, the text of a cache file, as an entry for acct into *out
 * (what mc_tcache_read() does once it has read the file), and its lock
 * directory into *lock_dir when lock_dir is not NULL (NULL when it names
 * none that can be one: an absolute path shorter than PATH_MAX, without
 * NUL): MC_OK; MC_ERR_NOT_LOGGED_IN when it is for another configuration
 * of acct (its "for" object does not name acct's token endpoint, client,
 * user and store), of another version, or unreadable (not JSON, no access
 * token, no expiry), *out then empty; MC_ERR_NOMEM. Pure: no I/O (also
 * the fuzz target's, fuzz/fuzz_tcache.c).
 */
int mc_tcache_parse_entry(const struct mc_account *acct, const char *blob,
    struct mc_token_set *out, char **lock_dir);

#endif
