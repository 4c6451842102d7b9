/*
 * auth/oauth.h - OAuth 2.0 grants as plain functions over auth/http.
 *
 * The device authorization grant (RFC 8628), the refresh grant (RFC 6749
 * section 6), and the parsing of what token endpoints answer. The device
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
};

#define MC_TOKEN_SET_INIT { NULL, NULL, NULL, NULL, 0 }

/* Wipes and frees the members; the struct can be reused. */
void mc_token_set_clear(struct mc_token_set *ts);

/*
 * Reads a successful token endpoint answer (access_token, token_type,
 * expires_in, refresh_token, scope) received at time now into *out.
 * MC_ERR_SERVICE when access_token is missing or a member has the wrong
 * type.
 */
int mc_token_set_from_response(json_t *resp, time_t now,
    struct mc_token_set *out, char **errmsg);

/*
 * The store's serialization: a JSON object with the members above. *out
 * is wiped and freed with mc_free_secret().
 */
int mc_token_set_serialize(const struct mc_token_set *ts, char **out);
int mc_token_set_parse(const char *blob, struct mc_token_set *out,
    char **errmsg);

/*
 * Turns an OAuth error answer ({"error": ..., "error_description": ...})
 * into an error code and a message for account acct: invalid_grant ->
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

/* Classifies a token endpoint answer to a device_code grant by its JSON. */
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
 * authorization_pending, and treats a network failure during the wait as
 * a reason to wait and try again (with the interval doubled, as RFC 8628
 * section 3.5 asks for timeouts) until the code expires. On MC_OK *out
 * holds the tokens. Errors: MC_ERR_AUTH (denied, expired), or what the
 * answer maps to through mc_oauth_error().
 */
int mc_device_wait(const struct mc_account *acct,
    const struct mc_device_auth *da, const struct mc_device_io *io,
    struct mc_token_set *out, char **errmsg);

/* The real io for mc_device_wait(): HTTP to acct's token endpoint. */
struct mc_device_http_ctx {
	const struct mc_account *acct;
	const struct mc_http_opts *http;
	const char *device_code;
};
int mc_device_http_poll(void *ctx, long *status, json_t **resp,
    char **errmsg);

/*
 * The refresh grant: POST grant_type=refresh_token to the token endpoint.
 * On MC_OK *out holds the new set: its refresh_token is the rotated one
 * when the server sent one, else a copy of refresh_token; its scope, when
 * the answer has none, is NULL (the caller keeps the old one).
 */
int mc_oauth_refresh(const struct mc_account *acct,
    const struct mc_http_opts *http, const char *refresh_token,
    struct mc_token_set *out, char **errmsg);

/* Keeps only printable ASCII of an error_description, at most max bytes. */
void mc_sanitize_text(char *s, size_t max);

#endif
