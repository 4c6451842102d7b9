/*
 * auth/oauth.h - OAuth 2.0 grants as plain functions over auth/http.
 *
 * The device authorization grant (RFC 8628), the authorization code grant
 * with PKCE for the browser and manual flows (RFC 6749 4.1, RFC 7636), the
 * refresh grant (RFC 6749 section 6), and the parsing of what token endpoints answer. The device
 * flow's polling is a state machine driven through struct mc_device_io, so
 * it can be tested without a network or a clock.
 */
#ifndef MAILCRED_AUTH_OAUTH_H
#define MAILCRED_AUTH_OAUTH_H

#include <time.h>

#include <jansson.h>

#include "auth/config.h"
#include "auth/http.h"

/* What a token endpoint granted, or what the store keeps. */
struct mc_token_set {
	char *access_token;
	char *refresh_token;	/* NULL when none was granted */
	char *token_type;	/* "Bearer" */
	char *scope;		/* NULL when unknown */
	long long expires_at;	/* epoch seconds; 0 when unknown */
	int refreshed;		/* mc_token_get(): granted during this call
				   (by us or a process we waited for), not
				   taken from the cache */
};

#define MC_TOKEN_SET_INIT { NULL, NULL, NULL, NULL, 0, 0 }

/*
 * The longest lifetime an access token is believed to have, whatever
 * expires_in says: a day. A larger value (or one in milliseconds by
 * mistake) must not keep a dead token in the cache for months.
 */
#define MC_TOKEN_MAX_LIFETIME (24LL * 3600)

/* Wipes and frees the members; the struct can be reused. */
void mc_token_set_clear(struct mc_token_set *ts);

/*
 * Reads a successful token endpoint answer (access_token, token_type,
 * expires_in, refresh_token, scope) to a request sent at time sent_at into
 * *out; the lifetime counts from sent_at, so the request's latency never
 * overstates it.
 *
 * Lenient where servers differ: scope may be an array of strings (joined
 * with spaces); token_type may be missing or any case of "bearer";
 * expires_in may be an integer, a real or a numeric string. A missing
 * expires_in means an hour; 0, a negative or a non-numeric one means the
 * token is never valid from the cache (expires_at = sent_at); a larger one
 * than MC_TOKEN_MAX_LIFETIME is cut to it.
 *
 * MC_ERR_SERVICE when access_token is missing or malformed, or the token
 * is not a bearer token. Even then out->refresh_token holds the refresh
 * token the answer carried, if any (every other member is cleared): a
 * server that rotates refresh tokens has already retired the old one, so
 * the caller must keep it. On any other error *out is empty.
 */
int mc_token_set_from_response(json_t *resp, time_t sent_at,
    struct mc_token_set *out, char **errmsg);

/*
 * The store's serialization: a JSON object with the members above. *out
 * is wiped and freed with mc_free_secret().
 */
int mc_token_set_serialize(const struct mc_token_set *ts, char **out);

/*
 * That object itself ("version" 1 and each member ts has), for a caller
 * that adds members of its own before mc_json_text(); NULL when out of
 * memory. The caller decrefs it.
 */
json_t *mc_token_set_json(const struct mc_token_set *ts);

/*
 * o as compact JSON text into *out (wiped and freed with
 * mc_free_secret()): MC_OK or MC_ERR_NOMEM.
 */
int mc_json_text(json_t *o, char **out);
int mc_token_set_parse(const char *blob, struct mc_token_set *out,
    char **errmsg);

/*
 * Turns an OAuth error answer ({"error": ..., "error_description": ...})
 * into an error code and a message for account acct (the description is
 * kept up to its first line end, cleaned for a terminal): invalid_grant ->
 * MC_ERR_AUTH, invalid_client / unauthorized_client / invalid_scope ->
 * MC_ERR_CONFIG, server_error / temporarily_unavailable / 5xx ->
 * MC_ERR_TEMP, anything else MC_ERR_SERVICE. what says which request
 * failed ("refresh", "device authorization").
 */
int mc_oauth_error(const struct mc_account *acct, const char *what,
    long status, json_t *resp, char **errmsg);

/* RFC 8628 section 3.2: the device authorization response. */
struct mc_device_auth {
	char *device_code;
	char *user_code;
	char *verification_uri;		/* or Google's verification_url */
	char *verification_uri_complete; /* NULL when not sent */
	int expires_in;			/* seconds; 1800 when not sent */
	int interval;			/* seconds; 5 when not sent */
};

#define MC_DEVICE_AUTH_INIT { NULL, NULL, NULL, NULL, 0, 0 }

void mc_device_auth_clear(struct mc_device_auth *da);

/* Parses a device authorization response; MC_ERR_SERVICE if malformed. */
int mc_device_auth_parse(json_t *resp, struct mc_device_auth *out,
    char **errmsg);

/*
 * Starts the device flow for acct: POST client_id, client_secret (if any)
 * and scope to device_authorization_endpoint. Google's invalid_scope is
 * explained (Gmail's scope needs the browser flow).
 */
int mc_oauth_device_start(const struct mc_account *acct,
    const struct mc_http_opts *http, struct mc_device_auth *out,
    char **errmsg);

/* The outcome of one poll of the token endpoint. */
enum mc_poll {
	MC_POLL_DONE,		/* tokens granted */
	MC_POLL_PENDING,	/* authorization_pending: poll again */
	MC_POLL_SLOW_DOWN,	/* slow_down: add 5 s to the interval */
	MC_POLL_DENIED,		/* access_denied, authorization_declined */
	MC_POLL_EXPIRED,	/* expired_token */
	MC_POLL_ERROR,		/* anything else */
};

/*
 * Classifies a token endpoint answer to a device_code grant by its JSON:
 * any 2xx without an "error" member is MC_POLL_DONE (the token parser
 * then judges it, and keeps a refresh token even from a bad one).
 */
enum mc_poll mc_device_poll_classify(long status, json_t *resp);

/* The world of the polling loop: the network and the clock. */
struct mc_device_io {
	/* One device_code token request: MC_OK with an answer, or an error. */
	int (*poll)(void *ctx, long *status, json_t **resp, char **errmsg);
	void (*sleep)(void *ctx, int seconds);
	time_t (*now)(void *ctx);
	void *ctx;
};

/*
 * Polls until the user approves, denies, or the code expires: waits
 * `interval` before each poll, adds 5 s on each slow_down, keeps going on
 * authorization_pending. A network failure, a 5xx or an OAuth error that
 * mc_oauth_error() calls temporary (server_error, temporarily_unavailable)
 * during the wait is a reason to wait longer and try again (the extra wait doubling, as RFC
 * 8628 section 3.5 asks), but after 4 in a row, or when the code runs out
 * while the last poll failed, the wait ends with that failure
 * (MC_ERR_NET or MC_ERR_TEMP, naming the token endpoint), not with a
 * misleading "expired". On MC_OK *out holds the tokens. Other errors:
 * MC_ERR_AUTH (denied, expired), what the answer maps to through
 * mc_oauth_error(), or mc_token_set_from_response()'s (whose
 * out->refresh_token rule applies).
 */
int mc_device_wait(const struct mc_account *acct,
    const struct mc_device_auth *da, const struct mc_device_io *io,
    struct mc_token_set *out, char **errmsg);

/*
 * As mc_device_wait(), but the wait also ends after max_wait seconds (0:
 * only when the code expires; a larger max_wait than the code's lifetime
 * changes nothing), for `login --timeout`: when it ends so, without an
 * approval and before the code expired, MC_ERR_TEMP (75: retrying may
 * help), with a message saying that no approval came within max_wait
 * seconds.
 */
int mc_device_wait_within(const struct mc_account *acct,
    const struct mc_device_auth *da, const struct mc_device_io *io,
    int max_wait, struct mc_token_set *out, char **errmsg);

/* The real io for mc_device_wait(): HTTP to acct's token endpoint. */
struct mc_device_http_ctx {
	const struct mc_account *acct;
	const struct mc_http_opts *http;
	const char *device_code;
};
int mc_device_http_poll(void *ctx, long *status, json_t **resp,
    char **errmsg);

/*
 * The browser and manual flows: the authorization code grant (RFC 6749
 * section 4.1) with PKCE S256 (RFC 7636), a random state, and a loopback
 * redirect (RFC 8252).
 *
 * mc_authz_request_new() makes everything one login needs; the caller
 * shows req.url to the user, gets the redirect back (auth/listener.h, or
 * a pasted URL), checks it with mc_redirect_parse(), and redeems the code
 * with mc_oauth_code_exchange(), passing req.redirect_uri and
 * req.verifier.
 */

/* The code verifier's length: 43 to 128 characters (RFC 7636 4.1). */
#define MC_PKCE_VERIFIER_LEN 64
/* Random bytes in a state: 192 bits, 32 characters of base64url. */
#define MC_STATE_BYTES 24

/*
 * A PKCE code verifier of len characters (43..128) from OpenSSL's RNG,
 * base64url without padding. MC_OK and a malloc'd *out (a secret: wipe it
 * with mc_free_secret), MC_ERR_INTERNAL for a bad len or a failing RNG,
 * MC_ERR_NOMEM.
 */
int mc_pkce_verifier(size_t len, char **out, char **errmsg);

/*
 * The S256 challenge of verifier: BASE64URL(SHA256(verifier)) without
 * padding, 43 characters. MC_OK and a malloc'd *out, MC_ERR_NOMEM, or
 * MC_ERR_SERVICE when libcrypto cannot be loaded (mc_pkce_verifier()
 * said so first: see auth/crypto_dl.h).
 */
int mc_pkce_challenge(const char *verifier, char **out);

/* A random state of MC_STATE_BYTES bytes, base64url; as the verifier. */
int mc_random_state(char **out, char **errmsg);

/*
 * redirect_uri with its port set to port (1..65535); 0 keeps it as
 * written. Only http:// to a loopback host is taken (auth/url.h);
 * MC_ERR_CONFIG otherwise. *out is malloc'd.
 */
int mc_redirect_uri_with_port(const char *redirect_uri, unsigned int port,
    char **out, char **errmsg);

/*
 * The authorization URL: acct's authorization_endpoint (a query it already
 * has is kept, '&' joins ours) with client_id, response_type=code,
 * redirect_uri, scope, state, code_challenge, code_challenge_method=S256,
 * then acct's auth_params ("name=value&name=value", decoded and encoded
 * again, so a blank or a '%41' in them is sent right). Every value is
 * percent-encoded (RFC 3986 unreserved characters as they are).
 * MC_ERR_CONFIG when there is no authorization_endpoint, it has a
 * fragment, or auth_params is malformed or sets one of the parameters
 * above. *out is malloc'd.
 */
int mc_authz_url(const struct mc_account *acct, const char *redirect_uri,
    const char *state, const char *challenge, char **out, char **errmsg);

/* One login's authorization request. */
struct mc_authz_request {
	char *verifier;		/* secret: the PKCE code verifier */
	char *state;
	char *redirect_uri;	/* as sent: with the listener's port */
	char *url;		/* the authorization URL for the browser */
};

#define MC_AUTHZ_REQUEST_INIT { NULL, NULL, NULL, NULL }

/* Wipes the verifier and frees everything; the struct can be reused. */
void mc_authz_request_clear(struct mc_authz_request *req);

/*
 * A fresh verifier and state and the URL, for acct's redirect_uri (or
 * http://127.0.0.1/ when unset) at port (0: as written). On error *req is
 * empty.
 */
int mc_authz_request_new(const struct mc_account *acct, unsigned int port,
    struct mc_authz_request *req, char **errmsg);

/* What a redirect (or what the user pasted) carried. */
struct mc_redirect {
	char *code;		/* secret; NULL when none */
	char *state;
	char *iss;
	char *error;		/* sanitized for a terminal; NULL when none */
	char *error_description; /* sanitized, at most 200 bytes */
	int bare;		/* 1: a bare code was pasted (no state) */
};

#define MC_REDIRECT_INIT { NULL, NULL, NULL, NULL, NULL, 0 }

void mc_redirect_clear(struct mc_redirect *r);

/*
 * Reads and checks a redirect for the login whose state is state and
 * whose authorization_endpoint is authz_endpoint. input is a request
 * target ("/path?code=...&state=..."), a full URL
 * ("http://127.0.0.1:PORT/?code=..."), a bare query ("code=...&state=..."),
 * or a bare code (no '=', '?', '&', blank or "://", not starting with
 * '/'; Google's start "4/": then out->bare is 1 and nothing can be
 * checked). Blanks around input are ignored. Parameters are
 * percent-decoded ('+' is a blank); a fragment is ignored.
 *
 * The checks, in order: each parameter at most once; state present and
 * equal to ours (compared in constant time); iss, when present (RFC
 * 9207), names the authorization server: as mailcred does no discovery,
 * its origin (scheme, host and port, default ports filled in) must be
 * authz_endpoint's, and its path is not compared (Microsoft's issuers
 * carry the tenant in it); then error, or else code.
 *
 * Returns MC_OK with out->code set (printable ASCII, no blank);
 * MC_ERR_AUTH when the provider sent error= (access_denied or any other)
 * with our state: out->error and out->error_description hold what it said
 * and *errmsg reads "the provider said: ERROR (DESCRIPTION)";
 * MC_ERR_DATA for anything else (a forged or mismatched redirect, no
 * code, a duplicate, bad encoding), with a message: such a request must
 * never lead to a token request. out is filled as far as it was read.
 */
int mc_redirect_parse(const char *input, const char *state,
    const char *authz_endpoint, struct mc_redirect *out, char **errmsg);

/*
 * Redeems code at acct's token endpoint: POST grant_type=
 * authorization_code, code, redirect_uri (exactly as in the authorization
 * request), code_verifier, client_id and client_secret (when set). On
 * MC_OK *out holds the tokens, with a refresh token: an answer without one
 * is MC_ERR_CONFIG with a message naming what the provider needs (Google:
 * access_type=offline and prompt=consent in auth_params; others:
 * offline_access in scope), and *out is empty. Other errors as
 * mc_oauth_error() ("login") and mc_token_set_from_response().
 */
int mc_oauth_code_exchange(const struct mc_account *acct,
    const struct mc_http_opts *http, const char *code,
    const char *redirect_uri, const char *verifier,
    struct mc_token_set *out, char **errmsg);

/*
 * The refresh grant: POST grant_type=refresh_token to the token endpoint.
 * On MC_OK *out holds the new set: its refresh_token is the rotated one
 * when the server sent one, else a copy of refresh_token; its scope, when
 * the answer has none, is NULL (the caller keeps the old one); its expiry
 * counts from when the request was sent. On MC_ERR_SERVICE
 * out->refresh_token may hold a rotated refresh token from an answer that
 * was otherwise unusable: the caller must store it (see
 * mc_token_set_from_response()).
 */
int mc_oauth_refresh(const struct mc_account *acct,
    const struct mc_http_opts *http, const char *refresh_token,
    struct mc_token_set *out, char **errmsg);

/*
 * Replaces every byte of s that is not printable ASCII by '?', and cuts
 * it to max bytes (ending in "...") when longer. Accepts NULL.
 */
void mc_sanitize_text(char *s, size_t max);

/*
 * RFC 7009 token revocation: POSTs token, token_type_hint=hint (left out
 * when NULL; "refresh_token" for a grant), client_id and client_secret (if
 * any) to acct's revocation_endpoint. MC_OK when the server answers 2xx,
 * whatever the body (RFC 7009 section 2.2: also for a token it did not
 * know), and for 400 invalid_token, which Google answers for a token that
 * is already revoked: either way the token no longer works. Otherwise
 * MC_ERR_CONFIG when acct has no revocation_endpoint (or its URL is
 * refused), MC_ERR_NET when no answer came, MC_ERR_TEMP for 5xx (503 is
 * RFC 7009's "try again later") and 429, and what mc_oauth_error() maps
 * any other OAuth error answer to (unsupported_token_type ->
 * MC_ERR_SERVICE, invalid_client -> MC_ERR_CONFIG), with a message that
 * says the revocation failed. The token is the caller's to wipe.
 */
int mc_oauth_revoke(const struct mc_account *acct,
    const struct mc_http_opts *http, const char *token, const char *hint,
    char **errmsg);

#endif
