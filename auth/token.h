/*
 * auth/token.h - "give me a valid access token" for an account.
 *
 * The store keeps one item per account of kind "oauth2": the token set
 * (refresh token, cached access token with its absolute expiry, scope) as
 * JSON. mc_token_get() answers from it while the access token has enough
 * time left, and otherwise refreshes under the account's lock, reading the
 * store again once the lock is held, so any number of concurrent callers
 * cause one refresh. A rotated refresh token is stored before the new
 * access token is returned; a refresh token is never dropped.
 *
 * Store errors become MC_ERR_NOT_LOGGED_IN (nothing stored), MC_ERR_STORE
 * (locked, no Secret Service, timeout, I/O: the caller may retry) or
 * MC_ERR_STORE_PERM (file store permissions), with the store's advice.
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
};

#define MC_TOKEN_OPTS_INIT { 60, 0, 0 }

/*
 * Does ts hold an access token valid for at least min_valid more seconds
 * at time now? An unknown expiry (0) counts as expired.
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
 * Stores a freshly granted token set for acct (after a login). When ts has
 * no refresh token and the store holds one, the stored one is kept.
 */
int mc_token_save(const struct mc_account *acct, const struct mc_token_set *ts,
    int store_timeout_ms, char **errmsg);

/*
 * Reads what the store holds for acct without refreshing: MC_OK and *out,
 * or MC_ERR_NOT_LOGGED_IN / MC_ERR_STORE...
 */
int mc_token_load(const struct mc_account *acct, int store_timeout_ms,
    struct mc_token_set *out, char **errmsg);

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

#endif
