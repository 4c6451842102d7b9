/*
 * auth/oauth.c - device authorization, authorization code (PKCE) and
 * refresh grants, token answers.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "auth/crypto_dl.h"
#include "auth/err.h"
#include "auth/oauth.h"
#include "auth/sasl.h"
#include "auth/secmem.h"
#include "auth/url.h"

#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define MAX_INTERVAL 60
#define MC_POLL_MAX_FAILURES 4

void
mc_token_set_clear(struct mc_token_set *ts)
{
	mc_free_secret(ts->access_token);
	mc_free_secret(ts->refresh_token);
	free(ts->token_type);
	free(ts->scope);
	memset(ts, 0, sizeof(*ts));
}

void
mc_device_auth_clear(struct mc_device_auth *da)
{
	mc_free_secret(da->device_code);
	free(da->user_code);
	free(da->verification_uri);
	free(da->verification_uri_complete);
	memset(da, 0, sizeof(*da));
}

void
mc_sanitize_text(char *s, size_t max)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			s[i] = '?';
	if (i > max && max >= 3)
		memcpy(s + max - 3, "...", 4);
}

/*
 * Copies the string member key of obj into *out. A missing member is fine
 * unless required; a member of another type, or holding control bytes
 * (a token goes into protocol lines), is not.
 */
static int
get_string(json_t *obj, const char *key, int required, char **out)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t i, len;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return required ? -1 : 0;
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	len = json_string_length(v);
	if (required && len == 0)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return -1;
	*out = strdup(s);
	return *out == NULL ? -1 : 0;
}

/*
 * The value of a JSON number, or of a string holding a number (blanks
 * around it allowed), cut to an integer and saturated to [LLONG_MIN,
 * LLONG_MAX] (a real is compared before it is
 * converted: converting one out of range is undefined). -1 when v is
 * neither, or is NaN.
 */
static int
number_value(json_t *v, long long *out)
{
	const char *s;
	char *end;
	double d;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (d != d)
			return -1;
		*out = d >= 0x1p63 ? LLONG_MAX : d <= -0x1p63 ? LLONG_MIN :
		    (long long)d;
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	/* "3600", " 3600 ", "3600.0": all seen; saturated like a real. */
	s = json_string_value(v);
	d = strtod(s, &end);
	if (end == s || d != d)
		return -1;
	end += strspn(end, " \t");
	if (*end != '\0')
		return -1;
	*out = d >= 0x1p63 ? LLONG_MAX : d <= -0x1p63 ? LLONG_MIN :
	    (long long)d;
	return 0;
}

/* A member from 0 to max; def if missing; -1 if malformed or outside. */
static int
get_number(json_t *obj, const char *key, long long def, long long max,
    long long *out)
{
	json_t *v = json_object_get(obj, key);
	long long n;

	*out = def;
	if (v == NULL || json_is_null(v))
		return 0;
	if (number_value(v, &n) != 0 || n < 0 || n > max)
		return -1;
	*out = n;
	return 0;
}

/* A duration in seconds: at most ten years. */
static int
get_seconds(json_t *obj, const char *key, long long def, long long *out)
{
	return get_number(obj, key, def, 10LL * 365 * 24 * 3600, out);
}

/*
 * The lifetime an answer gives its access token, from expires_in: an hour
 * when it is missing; 0 (never valid, never served from the cache) when it
 * is 0, negative or not a number; MC_TOKEN_MAX_LIFETIME when it is larger.
 * Integers, reals and numeric strings are all seen in the wild.
 */
static long long
get_lifetime(json_t *obj)
{
	json_t *v = json_object_get(obj, "expires_in");
	long long n;

	if (v == NULL || json_is_null(v))
		return 3600;
	if (number_value(v, &n) != 0 || n <= 0)
		return 0;
	return n > MC_TOKEN_MAX_LIFETIME ? MC_TOKEN_MAX_LIFETIME : n;
}

/*
 * The granted scope: a string, or (as some servers send it) an array of
 * strings, joined with spaces. NULL in *out when absent; -1 when malformed.
 */
static int
get_scope(json_t *obj, char **out)
{
	json_t *v = json_object_get(obj, "scope"), *item;
	char *joined = NULL, *next;
	size_t i;

	*out = NULL;
	if (!json_is_array(v))
		return get_string(obj, "scope", 0, out);
	json_array_foreach(v, i, item) {
		if (!json_is_string(item) || strpbrk(json_string_value(item),
		    " \t\r\n") != NULL)
			goto bad;
		if (asprintf(&next, "%s%s%s", joined != NULL ? joined : "",
		    joined != NULL ? " " : "", json_string_value(item)) < 0)
			goto bad;
		free(joined);
		joined = next;
	}
	*out = joined;
	return 0;
bad:
	free(joined);
	return -1;
}

/*
 * A text member for messages (error, error_description): cut at its first
 * line end (Microsoft appends "\r\nTrace ID: ..." to every description),
 * cleaned for a terminal, at most max bytes. NULL when absent or not a
 * string.
 */
static char *
get_text(json_t *obj, const char *key, size_t max)
{
	json_t *v = json_object_get(obj, key);
	char *s;

	if (!json_is_string(v))
		return NULL;
	s = strndup(json_string_value(v), strcspn(json_string_value(v),
	    "\r\n"));
	mc_sanitize_text(s, max);
	return s;
}

int
mc_token_set_from_response(json_t *resp, time_t sent_at,
    struct mc_token_set *out, char **errmsg)
{
	char *rt = NULL, *type = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	/* First what must never be lost: a rotated refresh token. */
	if (get_string(resp, "refresh_token", 0, &rt) != 0) {
		rc = mc_fail(MC_ERR_SERVICE, errmsg, "the token endpoint's "
		    "answer has a malformed refresh_token");
		goto out;
	}
	if (rt != NULL && rt[0] != '\0') {
		out->refresh_token = rt;
		rt = NULL;
	}
	/* An empty one is none (freed now: the error path below reuses rt). */
	mc_free_secret(rt);
	rt = NULL;
	if (get_string(resp, "access_token", 1, &out->access_token) != 0) {
		rc = mc_fail(MC_ERR_SERVICE, errmsg, "the token endpoint's "
		    "answer has no usable access_token");
		goto out;
	}
	if (get_string(resp, "token_type", 0, &type) != 0 ||
	    (type != NULL && strcasecmp(type, "bearer") != 0)) {
		rc = mc_fail(MC_ERR_SERVICE, errmsg, "the token endpoint "
		    "granted a token of a type other than Bearer, which mail "
		    "servers do not take");
		goto out;
	}
	if (get_scope(resp, &out->scope) != 0) {
		rc = mc_fail(MC_ERR_SERVICE, errmsg, "the token endpoint's "
		    "answer has a malformed scope");
		goto out;
	}
	out->token_type = strdup("Bearer");
	if (out->token_type == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	out->expires_at = (long long)sent_at + get_lifetime(resp);
	rc = MC_OK;
out:
	if (rc != MC_OK) {
		/* Keep the refresh token for the caller; clear the rest. */
		rt = out->refresh_token;
		out->refresh_token = NULL;
		mc_token_set_clear(out);
		if (rc == MC_ERR_SERVICE)
			out->refresh_token = rt;
		else
			mc_free_secret(rt);
		rt = NULL;
	}
	mc_free_secret(rt);
	free(type);
	return rc;
}

json_t *
mc_token_set_json(const struct mc_token_set *ts)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "version", json_integer(1)) != 0 ||
	    (ts->access_token != NULL && json_object_set_new(o, "access_token",
	    json_string(ts->access_token)) != 0) ||
	    (ts->refresh_token != NULL && json_object_set_new(o,
	    "refresh_token", json_string(ts->refresh_token)) != 0) ||
	    (ts->token_type != NULL && json_object_set_new(o, "token_type",
	    json_string(ts->token_type)) != 0) ||
	    (ts->scope != NULL && json_object_set_new(o, "scope",
	    json_string(ts->scope)) != 0) ||
	    json_object_set_new(o, "expires_at",
	    json_integer(ts->expires_at)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int
mc_json_text(json_t *o, char **out)
{
	char *text;

	*out = NULL;
	text = json_dumps(o, JSON_COMPACT);
	if (text == NULL)
		return MC_ERR_NOMEM;
	*out = strdup(text);
	mc_json_free(text);
	return *out != NULL ? MC_OK : MC_ERR_NOMEM;
}

int
mc_token_set_serialize(const struct mc_token_set *ts, char **out)
{
	json_t *o;
	int rc;

	*out = NULL;
	o = mc_token_set_json(ts);
	if (o == NULL)
		return MC_ERR_NOMEM;
	rc = mc_json_text(o, out);
	json_decref(o);
	return rc;
}

int
mc_token_set_parse(const char *blob, struct mc_token_set *out,
    char **errmsg)
{
	json_t *o;
	json_error_t jerr;
	int rc = MC_OK;

	memset(out, 0, sizeof(*out));
	o = json_loads(blob, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL || !json_is_object(o) ||
	    get_string(o, "access_token", 0, &out->access_token) != 0 ||
	    get_string(o, "refresh_token", 0, &out->refresh_token) != 0 ||
	    get_string(o, "token_type", 0, &out->token_type) != 0 ||
	    get_string(o, "scope", 0, &out->scope) != 0 ||
	    get_number(o, "expires_at", 0, 1LL << 40, &out->expires_at) != 0 ||
	    (out->access_token == NULL && out->refresh_token == NULL)) {
		mc_token_set_clear(out);
		rc = mc_fail(MC_ERR_NOT_LOGGED_IN, errmsg,
		    "the stored tokens are unreadable");
	}
	json_decref(o);
	return rc;
}

int
mc_oauth_error(const struct mc_account *acct, const char *what,
    long status, json_t *resp, char **errmsg)
{
	char *err = NULL, *desc = NULL;
	const char *name = acct->name;
	int rc;

	if (resp != NULL) {
		err = get_text(resp, "error", 64);
		desc = get_text(resp, "error_description", 200);
	}
	if (err == NULL) {
		if (status >= 500 || status == 429)
			rc = mc_fail(MC_ERR_TEMP, errmsg,
			    "%s failed: the server answered HTTP %ld; try "
			    "again later", what, status);
		else
			rc = mc_fail(MC_ERR_SERVICE, errmsg,
			    "%s failed: the server answered HTTP %ld without "
			    "an OAuth error", what, status);
	} else if (strcmp(err, "invalid_grant") == 0) {
		rc = mc_fail(MC_ERR_AUTH, errmsg,
		    "the grant was revoked or has expired (invalid_grant%s%s)"
		    ": run 'mailcred login %s'%s", desc ? ": " : "",
		    desc ? desc : "", name, acct->google ? " (Google expires "
		    "refresh tokens after 7 days while the app's consent "
		    "screen is in \"Testing\": publish it to stop that)" : "");
	} else if (strcmp(err, "invalid_client") == 0 ||
	    strcmp(err, "unauthorized_client") == 0) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s failed: the provider does not accept the client "
		    "(%s%s%s): check client_id and client_secret", what, err,
		    desc ? ": " : "", desc ? desc : "");
	} else if (strcmp(err, "invalid_scope") == 0) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s failed: the provider refuses the scope '%s' "
		    "(invalid_scope%s%s): check scope", what,
		    acct->scope ? acct->scope : "", desc ? ": " : "",
		    desc ? desc : "");
	} else if (strcmp(err, "server_error") == 0 ||
	    strcmp(err, "temporarily_unavailable") == 0 || status >= 500) {
		rc = mc_fail(MC_ERR_TEMP, errmsg,
		    "%s failed: the provider has a temporary problem (%s%s%s);"
		    " try again later", what, err, desc ? ": " : "",
		    desc ? desc : "");
	} else {
		rc = mc_fail(MC_ERR_SERVICE, errmsg,
		    "%s failed: the provider answered %s%s%s", what, err,
		    desc ? ": " : "", desc ? desc : "");
	}
	free(err);
	free(desc);
	return rc;
}

int
mc_device_auth_parse(json_t *resp, struct mc_device_auth *out,
    char **errmsg)
{
	long long expires_in, interval;

	memset(out, 0, sizeof(*out));
	if (get_string(resp, "device_code", 1, &out->device_code) != 0 ||
	    get_string(resp, "user_code", 1, &out->user_code) != 0 ||
	    get_string(resp, "verification_uri", 0,
	    &out->verification_uri) != 0 ||
	    get_string(resp, "verification_uri_complete", 0,
	    &out->verification_uri_complete) != 0 ||
	    get_seconds(resp, "expires_in", 1800, &expires_in) != 0 ||
	    get_seconds(resp, "interval", 5, &interval) != 0)
		goto bad;
	/* Google spells it verification_url. */
	if (out->verification_uri == NULL &&
	    get_string(resp, "verification_url", 1,
	    &out->verification_uri) != 0)
		goto bad;
	if (expires_in <= 0)
		expires_in = 1800;
	if (interval <= 0)
		interval = 5;
	if (interval > MAX_INTERVAL)
		interval = MAX_INTERVAL;
	out->expires_in = expires_in > 24 * 3600 ? 24 * 3600 : (int)expires_in;
	out->interval = (int)interval;
	return MC_OK;
bad:
	mc_device_auth_clear(out);
	return mc_fail(MC_ERR_SERVICE, errmsg,
	    "the device authorization answer lacks device_code, user_code "
	    "or verification_uri");
}

int
mc_oauth_device_start(const struct mc_account *acct,
    const struct mc_http_opts *http, struct mc_device_auth *out,
    char **errmsg)
{
	const char *pairs[] = {
		"client_id", acct->client_id,
		"client_secret", acct->client_secret != NULL &&
		    acct->client_secret[0] != '\0' ? acct->client_secret : NULL,
		"scope", acct->scope,
		NULL
	};
	json_t *resp = NULL;
	char *err = NULL;
	long status;
	int rc;

	memset(out, 0, sizeof(*out));
	if (acct->device_authorization_endpoint == NULL ||
	    acct->device_authorization_endpoint[0] == '\0')
		return mc_fail(MC_ERR_CONFIG, errmsg,
		    "the provider has no device_authorization_endpoint: set it,"
		    " or log in with --flow browser");
	rc = mc_http_post_form(http, acct->device_authorization_endpoint,
	    pairs, &status, &resp, errmsg);
	if (rc != MC_OK)
		goto out;
	if (json_object_get(resp, "error") != NULL || status >= 400) {
		get_string(resp, "error", 0, &err);
		if (acct->google && err != NULL &&
		    strcmp(err, "invalid_scope") == 0)
			rc = mc_fail(MC_ERR_CONFIG, errmsg,
			    "Google refuses Gmail's scope in the device flow "
			    "(invalid_scope): Gmail needs the browser flow: run "
			    "'mailcred login %s --flow browser' (over SSH, "
			    "'mailcred login %s --flow manual')", acct->name,
			    acct->name);
		else
			rc = mc_oauth_error(acct, "device authorization",
			    status, resp, errmsg);
		goto out;
	}
	rc = mc_device_auth_parse(resp, out, errmsg);
out:
	free(err);
	json_decref(resp);
	return rc;
}

enum mc_poll
mc_device_poll_classify(long status, json_t *resp)
{
	json_t *e = json_object_get(resp, "error");
	const char *err;

	if (e == NULL) {
		/* A grant; the parser says what is wrong with a bad one. */
		if (status >= 200 && status < 300)
			return MC_POLL_DONE;
		return MC_POLL_ERROR;
	}
	if (!json_is_string(e))
		return MC_POLL_ERROR;
	err = json_string_value(e);
	if (strcmp(err, "authorization_pending") == 0)
		return MC_POLL_PENDING;
	if (strcmp(err, "slow_down") == 0)
		return MC_POLL_SLOW_DOWN;
	if (strcmp(err, "access_denied") == 0 ||
	    strcmp(err, "authorization_declined") == 0)
		return MC_POLL_DENIED;
	if (strcmp(err, "expired_token") == 0 ||
	    strcmp(err, "code_expired") == 0)
		return MC_POLL_EXPIRED;
	return MC_POLL_ERROR;
}

/* Reports the transport failure that ended the wait, naming the endpoint. */
static int
poll_failed(const struct mc_account *acct, int rc, char *msg, char **errmsg)
{
	rc = mc_fail(rc, errmsg, "waiting for the approval failed at %s: %s",
	    acct->token_endpoint, msg != NULL ? msg : "no answer");
	free(msg);
	return rc;
}

int
mc_device_wait(const struct mc_account *acct,
    const struct mc_device_auth *da, const struct mc_device_io *io,
    struct mc_token_set *out, char **errmsg)
{
	return mc_device_wait_within(acct, da, io, 0, out, errmsg);
}

int
mc_device_wait_within(const struct mc_account *acct,
    const struct mc_device_auth *da, const struct mc_device_io *io,
    int max_wait, struct mc_token_set *out, char **errmsg)
{
	time_t start = io->now(io->ctx), sent;
	time_t deadline = start + da->expires_in;
	int interval = da->interval > 0 ? da->interval : 5;
	int cut = 0;
	int backoff = 0, failures = 0, last_rc = MC_OK, rc;
	char *msg, *last_msg = NULL;
	json_t *resp;
	long status;

	memset(out, 0, sizeof(*out));
	if (max_wait > 0 && max_wait < da->expires_in) {
		deadline = start + max_wait;
		cut = 1;
	}
	for (;;) {
		int wait = interval + backoff;

		if (io->now(io->ctx) + wait > deadline)
			break;
		io->sleep(io->ctx, wait);
		resp = NULL;
		msg = NULL;
		sent = io->now(io->ctx);
		rc = io->poll(io->ctx, &status, &resp, &msg);
		if (rc == MC_OK &&
		    mc_device_poll_classify(status, resp) == MC_POLL_ERROR) {
			/* An OAuth error; server_error or a 5xx is passing. */
			rc = mc_oauth_error(acct, "login", status, resp, &msg);
			json_decref(resp);
			resp = NULL;
		}
		if (rc == MC_ERR_NET || rc == MC_ERR_TEMP) {
			/* RFC 8628 3.5: back off and try again, a few times. */
			free(last_msg);
			last_msg = msg;
			last_rc = rc;
			if (++failures >= MC_POLL_MAX_FAILURES)
				return poll_failed(acct, rc, last_msg, errmsg);
			backoff = backoff == 0 ? interval : backoff * 2;
			if (backoff > MAX_INTERVAL)
				backoff = MAX_INTERVAL;
			continue;
		}
		free(last_msg);
		last_msg = NULL;
		if (rc != MC_OK) {
			if (errmsg != NULL && *errmsg == NULL)
				*errmsg = msg;
			else
				free(msg);
			return rc;
		}
		free(msg);
		failures = 0;
		backoff = 0;
		switch (mc_device_poll_classify(status, resp)) {
		case MC_POLL_DONE:
			rc = mc_token_set_from_response(resp, sent, out,
			    errmsg);
			json_decref(resp);
			return rc;
		case MC_POLL_PENDING:
			break;
		case MC_POLL_SLOW_DOWN:
			interval += 5;
			break;
		case MC_POLL_DENIED:
			json_decref(resp);
			return mc_fail(MC_ERR_AUTH, errmsg,
			    "the login was denied at the provider: run "
			    "'mailcred login %s' again and approve it",
			    acct->name);
		case MC_POLL_EXPIRED:
			json_decref(resp);
			return mc_fail(MC_ERR_AUTH, errmsg,
			    "the code expired before it was approved: run "
			    "'mailcred login %s' again", acct->name);
		case MC_POLL_ERROR:	/* answered above */
			break;
		}
		json_decref(resp);
	}
	/* The code ran out while the endpoint could not be reached: say so. */
	if (last_msg != NULL)
		return poll_failed(acct, last_rc, last_msg, errmsg);
	if (cut)
		return mc_fail(MC_ERR_TEMP, errmsg, "no approval came within "
		    "%d s: run 'mailcred login %s' again (--timeout gives more "
		    "time)", max_wait, acct->name);
	return mc_fail(MC_ERR_AUTH, errmsg,
	    "the code expired before it was approved: run 'mailcred login "
	    "%s' again", acct->name);
}

int
mc_device_http_poll(void *arg, long *status, json_t **resp, char **errmsg)
{
	const struct mc_device_http_ctx *c = arg;
	const struct mc_account *a = c->acct;
	const char *pairs[] = {
		"grant_type", DEVICE_GRANT,
		"device_code", c->device_code,
		"client_id", a->client_id,
		"client_secret", a->client_secret != NULL &&
		    a->client_secret[0] != '\0' ? a->client_secret : NULL,
		NULL
	};

	return mc_http_post_form(c->http, a->token_endpoint, pairs, status,
	    resp, errmsg);
}

/* ---- The authorization code grant with PKCE (browser, manual). ---- */

/* base64url without padding of n bytes into a malloc'd string. */
static char *
b64url(const unsigned char *in, size_t n)
{
	char *s = mc_base64_encode(in, n);
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; s[i] != '\0' && s[i] != '='; i++) {
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	}
	s[i] = '\0';
	return s;
}

/* len characters of base64url from the RNG. */
static int
random_b64url(size_t len, char **out, char **errmsg)
{
	unsigned char raw[96];
	size_t nbytes = (len * 3 + 3) / 4;
	char *s;

	*out = NULL;
	if (nbytes > sizeof(raw))
		return mc_fail(MC_ERR_INTERNAL, errmsg, "random string too long");
	if (mc_crypto_load(errmsg) != MC_OK)
		return MC_ERR_SERVICE;
	if (RAND_bytes(raw, (int)nbytes) != 1) {
		mc_wipe(raw, sizeof(raw));
		return mc_fail(MC_ERR_INTERNAL, errmsg, "OpenSSL's random "
		    "number generator failed");
	}
	s = b64url(raw, nbytes);
	mc_wipe(raw, sizeof(raw));
	if (s == NULL)
		return MC_ERR_NOMEM;
	s[len] = '\0';	/* b64url gave at least len characters */
	*out = s;
	return MC_OK;
}

int
mc_pkce_verifier(size_t len, char **out, char **errmsg)
{
	*out = NULL;
	if (len < 43 || len > 128)
		return mc_fail(MC_ERR_INTERNAL, errmsg, "a PKCE verifier has "
		    "43 to 128 characters, not %zu", len);
	return random_b64url(len, out, errmsg);
}

int
mc_pkce_challenge(const char *verifier, char **out)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	*out = NULL;
	if (SHA256((const unsigned char *)verifier, strlen(verifier),
	    md) == NULL)
		return MC_ERR_SERVICE;	/* libcrypto could not be loaded */
	*out = b64url(md, sizeof(md));
	mc_wipe(md, sizeof(md));
	return *out == NULL ? MC_ERR_NOMEM : MC_OK;
}

int
mc_random_state(char **out, char **errmsg)
{
	return random_b64url(MC_STATE_BYTES * 4 / 3, out, errmsg);
}

int
mc_redirect_uri_with_port(const char *redirect_uri, unsigned int port,
    char **out, char **errmsg)
{
	struct mc_url u;
	int rc, n;

	*out = NULL;
	rc = mc_url_check(redirect_uri, MC_URL_REDIRECT, "redirect_uri",
	    errmsg);
	if (rc != MC_OK)
		return rc;
	if (port == 0) {
		*out = strdup(redirect_uri);
		return *out == NULL ? MC_ERR_NOMEM : MC_OK;
	}
	if (port > 65535 || mc_url_parse(redirect_uri, &u, NULL) != MC_OK)
		return mc_fail(MC_ERR_CONFIG, errmsg, "redirect_uri %s cannot "
		    "take port %u", redirect_uri, port);
	n = asprintf(out, "%s://%s%s%s:%u%s", u.scheme,
	    u.host_type == MC_URL_HOST_IPV6 ? "[" : "", u.host,
	    u.host_type == MC_URL_HOST_IPV6 ? "]" : "", port,
	    u.path[0] == '\0' ? "/" : u.path);
	if (n < 0) {
		*out = NULL;
		return MC_ERR_NOMEM;
	}
	return MC_OK;
}

/* Appends "&name=value" (or "?" first) to *buf, both percent-encoded. */
static int
add_param(char **buf, size_t *len, size_t *cap, int *first, const char *name,
    size_t nlen, const char *value, size_t vlen)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *parts[2] = { name, value };
	size_t plen[2] = { nlen, vlen }, need, i, k;
	unsigned char c;
	char *nb;

	need = *len + 2 + 3 * (nlen + vlen) + 1;
	if (need > *cap) {
		nb = realloc(*buf, need * 2);
		if (nb == NULL)
			return MC_ERR_NOMEM;
		*buf = nb;
		*cap = need * 2;
	}
	(*buf)[(*len)++] = *first ? '?' : '&';
	*first = 0;
	for (k = 0; k < 2; k++) {
		if (k == 1)
			(*buf)[(*len)++] = '=';
		for (i = 0; i < plen[k]; i++) {
			c = (unsigned char)parts[k][i];
			if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_' || c == '~') {
				(*buf)[(*len)++] = (char)c;
			} else {
				(*buf)[(*len)++] = '%';
				(*buf)[(*len)++] = hex[c >> 4];
				(*buf)[(*len)++] = hex[c & 15];
			}
		}
	}
	(*buf)[*len] = '\0';
	return MC_OK;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes n bytes of s ('+' is a blank) into a malloc'd string.
 * NULL (and *bad set) for a bad escape or a NUL byte; NULL alone when out
 * of memory.
 */
static char *
pct_decode(const char *s, size_t n, int *bad)
{
	char *d = malloc(n + 1);
	size_t i, j = 0;
	int h, l;

	*bad = 0;
	if (d == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			d[j++] = ' ';
		} else if (s[i] != '%') {
			d[j++] = s[i];
		} else {
			if (i + 2 >= n)
				goto bad;
			h = hexval((unsigned char)s[i + 1]);
			l = hexval((unsigned char)s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				goto bad;
			d[j++] = (char)(h * 16 + l);
			i += 2;
		}
	}
	d[j] = '\0';
	return d;
bad:
	mc_wipe(d, n + 1);
	free(d);
	*bad = 1;
	return NULL;
}

/* The parameters mailcred sets itself, which auth_params may not. */
static int
reserved_param(const char *name, size_t n)
{
	static const char *const ours[] = { "client_id", "response_type",
	    "redirect_uri", "scope", "state", "code_challenge",
	    "code_challenge_method", NULL };
	size_t i;

	for (i = 0; ours[i] != NULL; i++)
		if (strlen(ours[i]) == n && strncmp(ours[i], name, n) == 0)
			return 1;
	return 0;
}

/* Adds auth_params, each name and value decoded and encoded again. */
static int
add_auth_params(const char *params, char **buf, size_t *len, size_t *cap,
    int *first, char **errmsg)
{
	const char *p = params, *amp, *eq;
	char *name = NULL, *value = NULL;
	size_t n;
	int bad, rc = MC_OK;

	while (p != NULL && *p != '\0') {
		amp = strchr(p, '&');
		n = amp != NULL ? (size_t)(amp - p) : strlen(p);
		eq = memchr(p, '=', n);
		if (n > 0) {
			if (eq == p)
				goto malformed;
			name = pct_decode(p, eq != NULL ? (size_t)(eq - p) : n,
			    &bad);
			if (name == NULL)
				goto decode_failed;
			value = eq != NULL ? pct_decode(eq + 1,
			    n - (size_t)(eq + 1 - p), &bad) : strdup("");
			if (value == NULL)
				goto decode_failed;
			if (reserved_param(name, strlen(name))) {
				rc = mc_fail(MC_ERR_CONFIG, errmsg, "auth_params "
				    "sets '%s', which mailcred sets itself: "
				    "remove it from auth_params", name);
				goto out;
			}
			rc = add_param(buf, len, cap, first, name,
			    strlen(name), value, strlen(value));
			if (rc != MC_OK)
				goto out;
			free(name);
			free(value);
			name = value = NULL;
		}
		p = amp != NULL ? amp + 1 : NULL;
	}
	goto out;
decode_failed:
	if (!bad) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
malformed:
	rc = mc_fail(MC_ERR_CONFIG, errmsg, "auth_params is not of the form "
	    "name=value&name=value (with %%XX escapes): fix it");
out:
	free(name);
	free(value);
	return rc;
}

int
mc_authz_url(const struct mc_account *acct, const char *redirect_uri,
    const char *state, const char *challenge, char **out, char **errmsg)
{
	const char *ep = acct->authorization_endpoint;
	const char *pairs[] = {
		"client_id", acct->client_id,
		"response_type", "code",
		"redirect_uri", redirect_uri,
		"scope", acct->scope,
		"state", state,
		"code_challenge", challenge,
		"code_challenge_method", "S256",
		NULL
	};
	char *buf = NULL;
	size_t len, cap, i;
	int first, rc;

	*out = NULL;
	if (ep == NULL || ep[0] == '\0')
		return mc_fail(MC_ERR_CONFIG, errmsg, "the provider has no "
		    "authorization_endpoint: set it, or log in with --flow "
		    "device");
	if (strchr(ep, '#') != NULL)
		return mc_fail(MC_ERR_CONFIG, errmsg, "authorization_endpoint "
		    "%s has a fragment ('#'): remove it", ep);
	len = strlen(ep);
	cap = len + 512;
	buf = malloc(cap);
	if (buf == NULL)
		return MC_ERR_NOMEM;
	memcpy(buf, ep, len + 1);
	/* An endpoint with a query keeps it; ours follow after '&'. */
	first = strchr(ep, '?') == NULL;
	if (!first && len > 0 && (ep[len - 1] == '?' || ep[len - 1] == '&'))
		len--;
	for (i = 0; pairs[i] != NULL; i += 2) {
		if (pairs[i + 1] == NULL)
			continue;
		rc = add_param(&buf, &len, &cap, &first, pairs[i],
		    strlen(pairs[i]), pairs[i + 1], strlen(pairs[i + 1]));
		if (rc != MC_OK)
			goto out;
	}
	rc = add_auth_params(acct->auth_params, &buf, &len, &cap, &first,
	    errmsg);
out:
	if (rc != MC_OK) {
		free(buf);
		return rc;
	}
	*out = buf;
	return MC_OK;
}

void
mc_authz_request_clear(struct mc_authz_request *req)
{
	mc_free_secret(req->verifier);
	free(req->state);
	free(req->redirect_uri);
	free(req->url);
	memset(req, 0, sizeof(*req));
}

int
mc_authz_request_new(const struct mc_account *acct, unsigned int port,
    struct mc_authz_request *req, char **errmsg)
{
	const char *ru = acct->redirect_uri != NULL &&
	    acct->redirect_uri[0] != '\0' ? acct->redirect_uri :
	    "http://127.0.0.1/";
	char *challenge = NULL;
	int rc;

	memset(req, 0, sizeof(*req));
	if ((rc = mc_redirect_uri_with_port(ru, port, &req->redirect_uri,
	    errmsg)) != MC_OK ||
	    (rc = mc_pkce_verifier(MC_PKCE_VERIFIER_LEN, &req->verifier,
	    errmsg)) != MC_OK ||
	    (rc = mc_pkce_challenge(req->verifier, &challenge)) != MC_OK ||
	    (rc = mc_random_state(&req->state, errmsg)) != MC_OK)
		goto out;
	rc = mc_authz_url(acct, req->redirect_uri, req->state, challenge,
	    &req->url, errmsg);
out:
	free(challenge);
	if (rc != MC_OK)
		mc_authz_request_clear(req);
	return rc;
}

void
mc_redirect_clear(struct mc_redirect *r)
{
	mc_free_secret(r->code);
	free(r->state);
	free(r->iss);
	free(r->error);
	free(r->error_description);
	memset(r, 0, sizeof(*r));
}

/* Constant-time equality of two strings (the length is not secret). */
static int
same_secret(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

/* The origin of a URL: scheme, host, and port (default ports filled in). */
static int
origin_of(const char *text, struct mc_url *u)
{
	if (mc_url_parse(text, u, NULL) != MC_OK)
		return -1;
	if (u->port == 0)
		u->port = strcmp(u->scheme, "https") == 0 ? 443 :
		    strcmp(u->scheme, "http") == 0 ? 80 : 0;
	return 0;
}

/* Does iss name the server whose authorization endpoint is ep? */
static int
issuer_matches(const char *iss, const char *ep)
{
	struct mc_url a, b;

	if (ep == NULL || origin_of(iss, &a) != 0 || origin_of(ep, &b) != 0)
		return 0;
	return strcmp(a.scheme, b.scheme) == 0 &&
	    strcmp(a.host, b.host) == 0 && a.port == b.port;
}

/* Is s fit to be a code: printable ASCII without blanks, not empty? */
static int
code_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return i > 0;
}

/* Reads query (n bytes) into out; MC_ERR_DATA for duplicates or bad %. */
static int
read_query(const char *q, size_t n, struct mc_redirect *out, char **errmsg)
{
	static const char *const names[] = { "code", "state", "iss", "error",
	    "error_description", NULL };
	const char *p = q, *end = q + n, *amp, *eq;
	char **slots[5];
	char *name, *value;
	size_t len, i;
	int bad;

	slots[0] = &out->code;
	slots[1] = &out->state;
	slots[2] = &out->iss;
	slots[3] = &out->error;
	slots[4] = &out->error_description;
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		len = amp != NULL ? (size_t)(amp - p) : (size_t)(end - p);
		eq = memchr(p, '=', len);
		if (len > 0) {
			name = pct_decode(p, eq != NULL ? (size_t)(eq - p) : len,
			    &bad);
			if (name == NULL)
				return bad ? mc_fail(MC_ERR_DATA, errmsg, "the "
				    "redirect has a malformed %%-escape") :
				    MC_ERR_NOMEM;
			for (i = 0; names[i] != NULL; i++)
				if (strcmp(name, names[i]) == 0)
					break;
			free(name);
			if (names[i] != NULL) {
				if (*slots[i] != NULL)
					return mc_fail(MC_ERR_DATA, errmsg, "the "
					    "redirect has '%s' more than once",
					    names[i]);
				value = eq != NULL ? pct_decode(eq + 1,
				    len - (size_t)(eq + 1 - p), &bad) :
				    strdup("");
				if (value == NULL)
					return eq != NULL && bad ?
					    mc_fail(MC_ERR_DATA, errmsg, "the "
					    "redirect has a malformed "
					    "%%-escape") : MC_ERR_NOMEM;
				*slots[i] = value;
			}
		}
		p = amp != NULL ? amp + 1 : end;
	}
	return MC_OK;
}

int
mc_redirect_parse(const char *input, const char *state,
    const char *authz_endpoint, struct mc_redirect *out, char **errmsg)
{
	const char *s, *q, *e;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	s = input + strspn(input, " \t\r\n");
	n = strlen(s);
	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
		n--;
	if (n == 0)
		return mc_fail(MC_ERR_DATA, errmsg, "nothing was given: paste "
		    "the URL the browser ended on, or the code in it");
	if (strcspn(s, "=?& \t") >= n && s[0] != '/' &&
	    strstr(s, "://") == NULL) {
		/* A bare code: nothing to check it against. */
		out->code = strndup(s, n);
		if (out->code == NULL)
			return MC_ERR_NOMEM;
		out->bare = 1;
		if (!code_ok(out->code)) {
			mc_redirect_clear(out);
			return mc_fail(MC_ERR_DATA, errmsg, "the code holds "
			    "characters a code cannot have");
		}
		return MC_OK;
	}
	/* A URL, a request target or a bare query: the query is what counts. */
	q = memchr(s, '?', n);
	if (q != NULL)
		q++;
	else if (s[0] != '/' && strstr(s, "://") == NULL)
		q = s;
	else
		return mc_fail(MC_ERR_DATA, errmsg, "the redirect has no query "
		    "(no code, no state)");
	e = memchr(q, '#', n - (size_t)(q - s));
	if (e == NULL)
		e = s + n;
	rc = read_query(q, (size_t)(e - q), out, errmsg);
	if (rc != MC_OK)
		return rc;
	if (out->state == NULL)
		return mc_fail(MC_ERR_DATA, errmsg, "the redirect has no state, "
		    "so it cannot be from this login");
	if (state == NULL || !same_secret(out->state, state))
		return mc_fail(MC_ERR_DATA, errmsg, "the redirect's state does "
		    "not match this login's: it did not come from the login "
		    "mailcred started");
	if (out->iss != NULL && !issuer_matches(out->iss, authz_endpoint)) {
		mc_sanitize_text(out->iss, 100);
		return mc_fail(MC_ERR_DATA, errmsg, "the redirect names the "
		    "issuer %s, not the server of authorization_endpoint "
		    "(RFC 9207): it did not come from the provider", out->iss);
	}
	if (out->error != NULL) {
		mc_sanitize_text(out->error, 64);
		mc_sanitize_text(out->error_description, 200);
		return mc_fail(MC_ERR_AUTH, errmsg, "the provider said: %s%s%s%s",
		    out->error, out->error_description != NULL ? " (" : "",
		    out->error_description != NULL ? out->error_description :
		    "", out->error_description != NULL ? ")" : "");
	}
	if (out->code == NULL || !code_ok(out->code))
		return mc_fail(MC_ERR_DATA, errmsg, "the redirect has %s code",
		    out->code == NULL ? "no" : "a malformed");
	return MC_OK;
}

int
mc_oauth_code_exchange(const struct mc_account *acct,
    const struct mc_http_opts *http, const char *code,
    const char *redirect_uri, const char *verifier,
    struct mc_token_set *out, char **errmsg)
{
	const char *pairs[] = {
		"grant_type", "authorization_code",
		"code", code,
		"redirect_uri", redirect_uri,
		"code_verifier", verifier,
		"client_id", acct->client_id,
		"client_secret", acct->client_secret != NULL &&
		    acct->client_secret[0] != '\0' ? acct->client_secret : NULL,
		NULL
	};
	json_t *resp = NULL;
	time_t sent = time(NULL);
	long status;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mc_http_post_form(http, acct->token_endpoint, pairs, &status,
	    &resp, errmsg);
	if (rc != MC_OK)
		goto out;
	if (json_object_get(resp, "error") != NULL || status >= 300) {
		rc = mc_oauth_error(acct, "login", status, resp, errmsg);
		goto out;
	}
	rc = mc_token_set_from_response(resp, sent, out, errmsg);
	if (rc != MC_OK) {
		/* A code is redeemed once: nothing of it is kept. */
		mc_token_set_clear(out);
		goto out;
	}
	if (out->refresh_token == NULL) {
		mc_token_set_clear(out);
		if (acct->google)
			rc = mc_fail(MC_ERR_CONFIG, errmsg, "the provider "
			    "granted no refresh token, so the login would not "
			    "last: Google needs access_type=offline and "
			    "prompt=consent in auth_params; nothing was stored");
		else
			rc = mc_fail(MC_ERR_CONFIG, errmsg, "the provider "
			    "granted no refresh token, so the login would not "
			    "last: add offline_access to scope (some providers "
			    "also need prompt=consent in auth_params); nothing "
			    "was stored");
	}
out:
	json_decref(resp);
	return rc;
}

int
mc_oauth_refresh(const struct mc_account *acct,
    const struct mc_http_opts *http, const char *refresh_token,
    struct mc_token_set *out, char **errmsg)
{
	const char *pairs[] = {
		"grant_type", "refresh_token",
		"refresh_token", refresh_token,
		"client_id", acct->client_id,
		"client_secret", acct->client_secret != NULL &&
		    acct->client_secret[0] != '\0' ? acct->client_secret : NULL,
		NULL
	};
	json_t *resp = NULL;
	time_t sent = time(NULL);	/* the lifetime starts when asked */
	long status;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mc_http_post_form(http, acct->token_endpoint, pairs, &status,
	    &resp, errmsg);
	if (rc != MC_OK)
		goto out;
	if (json_object_get(resp, "error") != NULL || status >= 300) {
		rc = mc_oauth_error(acct, "refreshing the access token",
		    status, resp, errmsg);
		goto out;
	}
	/* On failure out->refresh_token may still hold a rotated one. */
	rc = mc_token_set_from_response(resp, sent, out, errmsg);
	if (rc != MC_OK)
		goto out;
	if (out->refresh_token == NULL) {
		out->refresh_token = strdup(refresh_token);
		if (out->refresh_token == NULL) {
			mc_token_set_clear(out);
			rc = MC_ERR_NOMEM;
		}
	}
out:
	json_decref(resp);
	return rc;
}

int
mc_oauth_revoke(const struct mc_account *acct,
    const struct mc_http_opts *http, const char *token, const char *hint,
    char **errmsg)
{
	const char *pairs[] = {
		"token", token,
		"token_type_hint", hint,
		"client_id", acct->client_id,
		"client_secret", acct->client_secret != NULL &&
		    acct->client_secret[0] != '\0' ? acct->client_secret : NULL,
		NULL
	};
	json_t *resp = NULL, *err;
	char *msg = NULL;
	long status = 0;
	int rc;

	if (acct->revocation_endpoint == NULL)
		return mc_fail(MC_ERR_CONFIG, errmsg, "the provider has no "
		    "revocation_endpoint");
	rc = mc_http_post_form(http, acct->revocation_endpoint, pairs,
	    &status, &resp, &msg);
	/* A 2xx says revoked, whatever its body (often empty, not JSON). */
	if (status >= 200 && status < 300 && (rc == MC_OK ||
	    rc == MC_ERR_SERVICE)) {
		rc = MC_OK;
		goto out;
	}
	if (rc != MC_OK) {
		rc = mc_fail(rc, errmsg, "revoking the refresh token failed: %s",
		    msg != NULL ? msg : "no usable answer");
		goto out;
	}
	err = json_object_get(resp, "error");
	if (status == 400 && json_is_string(err) &&
	    strcmp(json_string_value(err), "invalid_token") == 0) {
		/* Google: the token is already revoked (or was never valid). */
		rc = MC_OK;
		goto out;
	}
	rc = mc_oauth_error(acct, "revoking the refresh token", status, resp,
	    errmsg);
out:
	free(msg);
	json_decref(resp);
	return rc;
}
