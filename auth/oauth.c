/* auth/oauth.c - device authorization and refresh grants, token answers. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/err.h"
#include "auth/oauth.h"
#include "auth/secmem.h"

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

int
mc_token_set_serialize(const struct mc_token_set *ts, char **out)
{
	json_t *o;
	char *text;
	int rc = MC_ERR_NOMEM;

	*out = NULL;
	o = json_object();
	if (o == NULL)
		return MC_ERR_NOMEM;
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
	    json_integer(ts->expires_at)) != 0)
		goto out;
	text = json_dumps(o, JSON_COMPACT);
	if (text == NULL)
		goto out;
	*out = strdup(text);
	mc_json_free(text);
	if (*out != NULL)
		rc = MC_OK;
out:
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
			    "(invalid_scope): Gmail needs the browser flow, "
			    "which this version of mailcred does not have yet; "
			    "use an app password instead: set auth = password "
			    "and run 'mailcred password set %s'", acct->name);
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
	time_t deadline = io->now(io->ctx) + da->expires_in, sent;
	int interval = da->interval > 0 ? da->interval : 5;
	int backoff = 0, failures = 0, last_rc = MC_OK, rc;
	char *msg, *last_msg = NULL;
	json_t *resp;
	long status;

	memset(out, 0, sizeof(*out));
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
