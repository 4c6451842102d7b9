/*
 * auth/token.h - "give me a valid access token" for an account.
 *
 * The store keeps one item per account of kind "oauth2": the token set
 * (refresh token, an access token with its absolute expiry, scope) as
 * JSON. Where the access token in use is kept follows the account's
 * cache key: with cache = runtime and a runtime directory
 * (auth/tcache.h), in a small file there, and mc_token_get() reads that
 * file and nothing else while the token has enough time left; a refresh
 * that rotates nothing writes that file only, so the store's access
 * token may be older. With cache = store (or runtime without a runtime
 * directory) the store's token set is the cache. With cache = none no
 * access token is kept: the store gets the refresh token alone and every
 * call refreshes.
 *
 * A refresh happens under the account's lock (auth/lock.h, in the
 * store's state directory: shared by every process that reaches the
 * store, whatever its environment), after looking again once the lock is
 * held: a caller that finds a token other than the one it saw before
 * waiting takes it, whatever its lifetime, so any number of concurrent
 * callers cause one refresh. With the runtime cache, waiters watch it
 * while they wait and take the new token as soon as it is there; they
 * do not read the store in turn. One exception: a caller without the
 * runtime cache (cron, say) that waited on a refresh that rotated
 * nothing cannot see the token that refresh cached, and refreshes again;
 * harmless, since the refresh token did not change (a rotated one is
 * always written to the store, where every caller sees it).
 *
 * The runtime cache is written from the store only under the lock, so a
 * login or logout (which remove its entry, under the lock) is never
 * undone with an old token. A refresh refused with MC_ERR_AUTH
 * (invalid_grant) removes the access token from the runtime cache and
 * from the store, so the next call says to log in. With cache = none an
 * access token left in the store is never used.
 *
 * A refresh token is never dropped. A rotated one is written before the
 * new access token is returned, into the recovery file first (a journal
 * that is removed once the store has it, so a process killed while the
 * store is slow loses nothing); when the store refuses the write (locked,
 * timed out, I/O) it is tried again, and if it still refuses, the token
 * set goes to a recovery file: a 0600 file in the store's state directory
 * (keyring/store.h store_state_dir()) named like a file store item of
 * kind "recovery-keyring" or "recovery-file". Through opts->warn the
 * caller is told so, and the token is handed out. A recovery file, while
 * it exists, is the account's token set and always the newest one: it is
 * made only when the store refused a newer set; before any later store
 * write it is brought level with what is written (or removed), so no
 * crash or kill between the two writes leaves it older than the store;
 * after one it is removed, or emptied in place when its directory refuses
 * (an empty file is no recovery file). It serves callers even while the
 * store is locked (each such call warns that the tokens are outside the
 * store), and goes back into the store at the first chance,
 * under the lock. When neither
 * the store nor the recovery file takes a new refresh token, the call
 * fails with MC_ERR_AUTH (the grant may be lost: never "try again") and
 * says what happened. A refresh that rotated nothing only loses its cache
 * when the store refuses it: the token is still handed out, with a
 * warning.
 *
 * Store errors become MC_ERR_NOT_LOGGED_IN (nothing stored), MC_ERR_STORE
 * (locked, timeout, I/O: the caller may retry), MC_ERR_SERVICE (no Secret
 * Service on the bus, no default collection), MC_ERR_CONFIG (no D-Bus
 * session bus at all) or MC_ERR_STORE_PERM (file store permissions), with
 * the store's advice.
 */
#ifndef MAILCRED_AUTH_TOKEN_H
#define MAILCRED_AUTH_TOKEN_H

#include <time.h>

#include "auth/config.h"
#include "auth/http.h"
#include "auth/oauth.h"
#include "keyring/store.h"

#define MC_KIND_OAUTH2 "oauth2"
#define MC_KIND_PASSWORD "password"

struct mc_token_opts {
	int min_valid;		/* seconds the token must still be valid */
	int force;		/* refresh even if the cached one is valid */
	int store_timeout_ms;	/* 0: the store's default */
	/* Told (one line) what the user should know though all went well. */
	void (*warn)(void *ctx, const char *line);
	void *warn_ctx;
};

#define MC_TOKEN_OPTS_INIT { 60, 0, 0, NULL, NULL }

/*
 * Does ts hold an access token that is still valid min_valid seconds
 * after now (now + min_valid < expiry)? An unknown expiry (0) counts as
 * expired, and so does a token at its expiry: a lifetime of 0 is never
 * valid from the cache.
 */
int mc_token_usable(const struct mc_token_set *ts, time_t now, int min_valid);

/*
 * A valid access token for acct into *out (its access_token member is the
 * one to use). http is used only when a refresh is needed. On
 * MC_ERR_NOT_LOGGED_IN and invalid_grant (MC_ERR_AUTH) the message says to
 * run `mailcred login`.
 */
int mc_token_get(const struct mc_account *acct,
    const struct mc_http_opts *http, const struct mc_token_opts *opts,
    struct mc_token_set *out, char **errmsg);

/*
 * Stores a freshly granted token set for acct (after a login), under the
 * lock, with the same retries and recovery file as a refresh (the user's
 * approval must not be wasted). When ts has no refresh token and acct has
 * one, the stored one is kept; if what is stored cannot be read (other
 * than "nothing stored"), nothing is written and the error is returned.
 */
int mc_token_save(const struct mc_account *acct, const struct mc_token_set *ts,
    const struct mc_token_opts *opts, char **errmsg);

/*
 * Reads acct's token set without refreshing, locking or writing (the
 * recovery file if there is one, else the store; with the runtime
 * cache's access token when that one expires later): MC_OK and *out;
 * MC_ERR_NOT_LOGGED_IN when nothing is stored; MC_ERR_DATA when a token
 * set is stored but cannot be read (the message says to log in again);
 * MC_ERR_STORE... when the store cannot be read.
 */
int mc_token_load(const struct mc_account *acct, int store_timeout_ms,
    struct mc_token_set *out, char **errmsg);

/*
 * Can acct's store keep tokens now? Reads its item, not a recovery file:
 * MC_OK when it holds one or nothing, else the store's error (locked, no
 * bus, no Secret Service, no default collection, permissions). For a
 * login, before the user is asked to approve anything: an approval that
 * only a recovery file could keep would leave tokens outside the chosen
 * store.
 */
int mc_token_store_ready(const struct mc_account *acct, int store_timeout_ms,
    char **errmsg);

/* Opens acct's store; errors mapped as above. */
int mc_store_open(const struct mc_account *acct, int timeout_ms,
    struct store **st, char **errmsg);

/*
 * Maps a store error to the library's codes, and its message into
 * *errmsg (taking ownership of storemsg). For STORE_ENOTFOUND, notfound is
 * the message (already naming the fix).
 */
int mc_store_error(int serr, char *storemsg, const char *notfound,
    char **errmsg);

/* What mc_token_forget() found and deleted, as bits of *forgot. */
#define MC_FORGOT_TOKENS 1	/* the oauth2 token set in the store */
#define MC_FORGOT_PASSWORD 2	/* the app password in the store */
#define MC_FORGOT_RECOVERY 4	/* a recovery file that held tokens */
#define MC_FORGOT_UNREADABLE 8	/* a token set that did not parse (deleted,
				   but its refresh token is unknown) */

/*
 * Logout's half in the store: under acct's lock, forgets everything kept
 * for it: first the runtime cache's access token (mc_tcache_drop; when
 * that fails nothing else is touched), then the rest. It reads the token
 * set first (nothing is deleted when the store
 * cannot be read: a locked keyring is MC_ERR_STORE with the fix), then
 * deletes the app password, the oauth2 token set and the recovery file, in
 * that order, so a failure leaves the newest refresh token where a second
 * run finds it. On MC_OK *forgot holds what was there (0: nothing was
 * stored) and *refresh_token the newest refresh token that was deleted
 * (the recovery file's, else the store's; NULL when there was none), for
 * revocation; the caller wipes it with mc_free_secret(). On an error
 * *forgot says what was deleted before it, and *refresh_token is NULL.
 */
int mc_token_forget(const struct mc_account *acct, int store_timeout_ms,
    char **refresh_token, int *forgot, char **errmsg);

#endif
