/* auth/http.c - form POST to JSON over libcurl, with the TLS policy. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "auth/curl_dl.h"
#include "auth/err.h"
#include "auth/http.h"
#include "auth/secmem.h"
#include "auth/url.h"

static const char *const secret_keys[] = {
	"access_token", "refresh_token", "id_token", "device_code", "code",
	"client_secret", "code_verifier", "password", "assertion",
	"token",	/* RFC 7009 revocation */
	NULL
};

int
mc_http_secret_key(const char *key)
{
	size_t i;

	for (i = 0; secret_keys[i] != NULL; i++)
		if (strcasecmp(key, secret_keys[i]) == 0)
			return 1;
	return 0;
}

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_done;

int
mc_http_global_init(char **errmsg)
{
	int rc = MC_OK;

	pthread_mutex_lock(&init_lock);
	if (!init_done) {
		rc = mc_curl_load(errmsg);
		if (rc == MC_OK && curl_global_init(CURL_GLOBAL_DEFAULT) !=
		    CURLE_OK)
			rc = MC_ERR_NOMEM;
		init_done = rc == MC_OK;
	}
	pthread_mutex_unlock(&init_lock);
	return rc;
}

static void *
preload_main(void *arg)
{
	(void)arg;
	mc_http_global_init(NULL);
	return NULL;
}

int
mc_http_preload(pthread_t *tid)
{
	return pthread_create(tid, NULL, preload_main, NULL) == 0 ? 0 : -1;
}

int
mc_http_url_check(const char *url, const char *what, char **errmsg)
{
	return mc_url_check(url, MC_URL_ENDPOINT, what, errmsg);
}

/* Adds ca_file to the trust store curl's OpenSSL context already has. */
static CURLcode
add_ca_cb(CURL *curl, void *sslctx, void *arg)
{
	X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);

	(void)curl;
	if (store == NULL || X509_STORE_load_file(store, arg) != 1)
		return CURLE_SSL_CACERT_BADFILE;
	return CURLE_OK;
}

/*
 * Parsing the system's whole CA bundle costs 15 to 40 ms for each
 * connection; a hashed directory of the same certificates (Debian's and
 * Ubuntu's /etc/ssl/certs, which update-ca-certificates keeps beside the
 * bundle) lets OpenSSL read only the one or two it needs. So when
 * libcurl's default bundle lies in its default CA directory, the
 * directory alone is used. Anywhere else the bundle stays.
 */
static void
lazy_system_store(CURL *curl)
{
	char *cainfo = NULL, *capath = NULL, *dir;
	size_t n;
	struct stat st;

	if (curl_easy_getinfo(curl, CURLINFO_CAINFO, &cainfo) != CURLE_OK ||
	    curl_easy_getinfo(curl, CURLINFO_CAPATH, &capath) != CURLE_OK ||
	    cainfo == NULL || capath == NULL)
		return;
	n = strlen(capath);
	while (n > 1 && capath[n - 1] == '/')
		n--;
	if (strncmp(cainfo, capath, n) != 0 || cainfo[n] != '/' ||
	    strchr(cainfo + n + 1, '/') != NULL)
		return;
	if ((dir = strndup(capath, n)) == NULL)
		return;
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
		curl_easy_setopt(curl, CURLOPT_CAPATH, dir);
		curl_easy_setopt(curl, CURLOPT_CAINFO, NULL);
	}
	free(dir);
}

int
mc_http_tls_too_old(const char *why)
{
	return why != NULL && (strstr(why, "protocol version") != NULL ||
	    strstr(why, "unsupported protocol") != NULL);
}

int
mc_http_apply_tls(void *handle, const char *ca_file, char **errmsg)
{
	CURL *curl = handle;
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	lazy_system_store(curl);
	if (ca_file == NULL || ca_file[0] == '\0')
		return MC_OK;
	if (access(ca_file, R_OK) != 0)
		return mc_fail(MC_ERR_CONFIG, errmsg,
		    "ca_file %s cannot be read", ca_file);
	if (v != NULL && v->ssl_version != NULL &&
	    strncmp(v->ssl_version, "OpenSSL", 7) == 0) {
		curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, add_ca_cb);
		curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, (void *)ca_file);
	} else {
		/* Other TLS libraries: the bundle replaces the default. */
		curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
	}
	return MC_OK;
}

struct body {
	char *buf;
	size_t len;
	int too_large;
};

static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	char *nb;

	if (b->len + add > MC_HTTP_MAX_BODY) {
		b->too_large = 1;
		return 0;
	}
	nb = malloc(b->len + add + 1);
	if (nb == NULL)
		return 0;
	if (b->buf != NULL) {
		memcpy(nb, b->buf, b->len);
		mc_wipe(b->buf, b->len);
		free(b->buf);
	}
	memcpy(nb + b->len, data, add);
	b->len += add;
	nb[b->len] = '\0';
	b->buf = nb;
	return add;
}

struct trace {
	mc_trace_fn fn;
	void *ctx;
};

/*
 * Copies the len bytes at src into dst (size bytes, always terminated,
 * cut short if need be) with the password of every URL's userinfo
 * ("scheme://user:PASSWORD@host") replaced by [redacted]: curl's own text
 * echoes proxy URLs taken from the environment. The whole line is scanned
 * before anything is cut, so a cut never leaves part of a password.
 */
void
mc_http_redact_line(char *dst, size_t size, const char *src, size_t len)
{
	const char *end = src + len, *auth, *aend, *at, *colon;
	size_t n = 0;

#define PUT(c) do { if (n + 1 < size) dst[n++] = (c); } while (0)
	while (src < end) {
		if (end - src >= 3 && memcmp(src, "://", 3) == 0) {
			auth = src + 3;
			aend = auth;
			while (aend < end && strchr("/?#'\" <>", *aend) == NULL)
				aend++;
			at = NULL;
			for (colon = auth; colon < aend; colon++)
				if (*colon == '@')
					at = colon;
			colon = at != NULL ? memchr(auth, ':', (size_t)(at -
			    auth)) : NULL;
			if (colon != NULL) {
				for (; src <= colon; src++)
					PUT(*src);
				for (auth = "[redacted]"; *auth != '\0'; auth++)
					PUT(*auth);
				src = at;
				continue;
			}
		}
		PUT(*src);
		src++;
	}
#undef PUT
	dst[n] = '\0';
}

static void
tracef(const struct trace *t, const char *fmt, const char *a, const char *b)
{
	char line[1024];
	char *full = NULL;

	if (t->fn == NULL)
		return;
	if (asprintf(&full, fmt, a, b) < 0)
		return;
	mc_http_redact_line(line, sizeof(line), full, strlen(full));
	if (strlen(full) >= sizeof(line))
		memcpy(line + sizeof(line) - 5, "...", 4);
	mc_free_secret(full);
	t->fn(t->ctx, line);
}

/* Headers whose value is a credential: shown as "Name: [redacted]". */
static int
secret_header(const char *line, size_t len)
{
	static const char *const names[] = {
		"authorization:", "proxy-authorization:", "cookie:",
		"set-cookie:", NULL
	};
	size_t i, n;

	for (i = 0; names[i] != NULL; i++) {
		n = strlen(names[i]);
		if (len >= n && strncasecmp(line, names[i], n) == 0)
			return 1;
	}
	return 0;
}

void
mc_http_debug_lines(int type, const char *data, size_t size,
    void (*fn)(void *ctx, int type, const char *prefix, const char *line,
    size_t len), void *ctx)
{
	const char *p = data, *end = data + size, *nl;
	size_t len;

	if (type != CURLINFO_TEXT && type != CURLINFO_HEADER_IN &&
	    type != CURLINFO_HEADER_OUT)
		return;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((nl != NULL ? nl : end) - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len > 0)
			fn(ctx, type, type == CURLINFO_TEXT ? "* " :
			    type == CURLINFO_HEADER_IN ? "< " : "> ", p, len);
		p = nl != NULL ? nl + 1 : end;
	}
}

/* One of curl's lines: connection and TLS text, headers with secrets cut. */
static void
debug_line(void *arg, int type, const char *prefix, const char *p,
    size_t len)
{
	const struct trace *t = arg;
	const char *colon;
	char line[512];
	size_t pl;

	(void)type;
	/*
	 * A trace line is cut at 512 bytes by design: the cut is only in what
	 * -v shows, never in what is sent, and a header's value is redacted
	 * before the cut can show any of it.
	 */
	(void)snprintf(line, sizeof(line), "%s", prefix);
	pl = strlen(line);
	colon = memchr(p, ':', len);
	if (secret_header(p, len) && colon != NULL)
		(void)snprintf(line + pl, sizeof(line) - pl, "%.*s: [redacted]",
		    (int)(colon - p), p);
	else
		mc_http_redact_line(line + pl, sizeof(line) - pl, p, len);
	t->fn(t->ctx, line);
}

static int
debug_cb(CURL *curl, curl_infotype type, char *data, size_t size, void *arg)
{
	(void)curl;
	mc_http_debug_lines((int)type, data, size, debug_line, arg);
	return 0;
}

/* Builds the form body; with redact, secret values become [redacted]. */
static char *
build_form(CURL *curl, const char *const *pairs, int redact)
{
	char *out = NULL, *esc, *nout;
	size_t len = 0, add;
	size_t i;
	int n;

	out = calloc(1, 1);
	if (out == NULL)
		return NULL;
	for (i = 0; pairs[i] != NULL; i += 2) {
		const char *v = pairs[i + 1];

		if (v == NULL)
			continue;
		if (redact && mc_http_secret_key(pairs[i]))
			v = "[redacted]";
		esc = curl_easy_escape(curl, v, 0);
		if (esc == NULL)
			goto fail;
		add = strlen(pairs[i]) + strlen(esc) + 2;
		nout = malloc(len + add + 1);
		if (nout == NULL) {
			mc_wipe(esc, strlen(esc));
			curl_free(esc);
			goto fail;
		}
		memcpy(nout, out, len);
		n = snprintf(nout + len, add + 1, "%s%s=%s", len > 0 ? "&" : "",
		    pairs[i], esc);
		mc_wipe(esc, strlen(esc));
		curl_free(esc);
		if (n < 0 || (size_t)n > add) {
			/* Cannot happen: add counts every byte written. */
			mc_wipe(nout, len + add + 1);
			free(nout);
			goto fail;
		}
		len += (size_t)n;
		mc_free_secret(out);
		out = nout;
	}
	return out;
fail:
	mc_free_secret(out);
	return NULL;
}

/*
 * Replaces, in place, the value of every member with a secret name, at any
 * depth (objects inside objects or arrays), by "[redacted]".
 */
static void
redact_json(json_t *json)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_array(json)) {
		json_array_foreach(json, i, val)
			redact_json(val);
		return;
	}
	json_object_foreach(json, key, val) {
		if (mc_http_secret_key(key))
			json_object_set_new(json, key, json_string("[redacted]"));
		else
			redact_json(val);
	}
}

/* Traces a JSON answer with every secret member redacted. */
static void
trace_json(const struct trace *t, json_t *json)
{
	json_t *copy;
	char *text;

	if (t->fn == NULL)
		return;
	copy = json_deep_copy(json);
	if (copy == NULL)
		return;
	redact_json(copy);
	text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	if (text != NULL)
		tracef(t, "< %s%s", text, "");
	mc_json_free(text);
	json_decref(copy);
}

static const char *
url_host_hint(const char *url, char *buf, size_t size)
{
	const char *p = strstr(url, "://"), *e;
	int n;

	p = p != NULL ? p + 3 : url;
	e = p + strcspn(p, "/?#");
	n = snprintf(buf, size, "%.*s", (int)(e - p), p);
	if ((n < 0 || (size_t)n >= size) && size >= 4)
		/* Cut, and says so: "example.com..." */
		memcpy(buf + size - 4, "...", 4);
	return buf;
}

/*
 * For a message: the host[:port] a redirect points to, without any
 * userinfo, non-printable bytes as '?'.
 */
static const char *
redirect_host(const char *url, char *buf, size_t size)
{
	char *at, *p;

	url_host_hint(url, buf, size);
	at = strrchr(buf, '@');
	if (at != NULL)
		memmove(buf, at + 1, strlen(at + 1) + 1);
	for (p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return buf;
}

/* One request's state, shared by the steps of mc_http_post_form(). */
struct request {
	struct trace t;
	struct body b;
	struct curl_slist *hdr;
	char errbuf[CURL_ERROR_SIZE];
	char host[256];		/* for messages: host[:port] of the URL */
	char *form;		/* the body: holds secrets */
	long timeout;
	CURL *curl;
};

/*
 * Sets up the easy handle: the form, headers, protocols, timeouts, the
 * answer's size cap, the trace and the TLS policy.
 */
static int
request_setup(struct request *r, const struct mc_http_opts *opts,
    const char *url, const char *const *pairs, char **errmsg)
{
	char *shown;

	r->curl = curl_easy_init();
	if (r->curl == NULL)
		return MC_ERR_NOMEM;
	r->form = build_form(r->curl, pairs, 0);
	r->hdr = curl_slist_append(NULL, "Accept: application/json");
	if (r->form == NULL || r->hdr == NULL)
		return MC_ERR_NOMEM;
	if (r->t.fn != NULL) {
		tracef(&r->t, "> POST %s%s", url, "");
		shown = build_form(r->curl, pairs, 1);
		if (shown != NULL)
			tracef(&r->t, "> %s%s", shown, "");
		free(shown);
		curl_easy_setopt(r->curl, CURLOPT_VERBOSE, 1L);
		curl_easy_setopt(r->curl, CURLOPT_DEBUGFUNCTION, debug_cb);
		curl_easy_setopt(r->curl, CURLOPT_DEBUGDATA, &r->t);
	}
	/* What keeps secrets off other protocols and hosts is checked. */
	if (curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "https,http") !=
	    CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_URL, url) != CURLE_OK)
		return mc_fail(MC_ERR_SERVICE, errmsg, "this libcurl refuses "
		    "the request's safety settings: libcurl 7.85 or newer is "
		    "needed");
	curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, r->form);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->hdr);
	curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "mailcred/" MAILCRED_VERSION);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, r->timeout);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT,
	    r->timeout < 10 ? r->timeout : 10L);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &r->b);
	curl_easy_setopt(r->curl, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	return mc_http_apply_tls(r->curl, opts->ca_file, errmsg);
}

/*
 * Turns a failed transfer into an error code and a message. Once the
 * request went out, the server may have acted on it (rotated a refresh
 * token) though its answer never came: the message says so.
 */
static int
request_failed(const struct request *r, CURLcode cc, char **errmsg)
{
	const char *why = r->errbuf[0] != '\0' ? r->errbuf :
	    curl_easy_strerror(cc);
	const char *lost = "; if the provider rotates refresh tokens and "
	    "refuses the next try, log in again";
	long sent = 0;

	if (curl_easy_getinfo(r->curl, CURLINFO_REQUEST_SIZE, &sent) !=
	    CURLE_OK)
		sent = 0;
	if (r->b.too_large)
		return mc_fail(MC_ERR_SERVICE, errmsg, "%s sent an answer "
		    "larger than %d bytes", r->host, MC_HTTP_MAX_BODY);
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return mc_fail(MC_ERR_NET, errmsg, "%s did not answer within "
		    "%ld s: check the network and try again%s", r->host,
		    r->timeout, sent > 0 ? lost : "");
	if (cc == CURLE_SSL_CONNECT_ERROR && mc_http_tls_too_old(why))
		/* Permanent (69): retrying will meet the same server. */
		return mc_fail(MC_ERR_SERVICE, errmsg, "TLS with %s failed: %s (the "
		    "server offers no TLS 1.2 or newer, which mailcred "
		    "requires: the server must be upgraded)", r->host, why);
	if (cc == CURLE_PEER_FAILED_VERIFICATION ||
	    cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CONNECT_ERROR)
		return mc_fail(MC_ERR_NET, errmsg, "TLS with %s failed: %s (a "
		    "proxy or private CA? set ca_file)", r->host, why);
	if (sent > 0)
		return mc_fail(MC_ERR_NET, errmsg, "%s took the request but its "
		    "answer was lost (%s): try again%s", r->host, why, lost);
	return mc_fail(MC_ERR_NET, errmsg, "cannot reach %s: %s; check the "
	    "network and try again", r->host, why);
}

/* Parses the answer as a JSON object into *json. */
static int
request_answer(const struct request *r, long status, json_t **json,
    char **errmsg)
{
	json_error_t jerr;
	json_t *j;
	char *loc = NULL, where[256], wait[64];
	const char *later = "later";
	curl_off_t retry = 0;

	j = r->b.buf != NULL ? json_loadb(r->b.buf, r->b.len,
	    JSON_REJECT_DUPLICATES, &jerr) : NULL;
	/*
	 * An integer beyond 64 bits (an expires_in of 2^63, say) makes
	 * jansson refuse the whole answer: read it again with integers as
	 * reals, which the readers of numbers saturate (auth/oauth.h).
	 */
	if (j == NULL && r->b.buf != NULL &&
	    json_error_code(&jerr) == json_error_numeric_overflow)
		j = json_loadb(r->b.buf, r->b.len, JSON_REJECT_DUPLICATES |
		    JSON_DECODE_INT_AS_REAL, &jerr);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		if (status >= 300 && status < 400) {
			/* Never followed: the form holds secrets. */
			if (curl_easy_getinfo(r->curl, CURLINFO_REDIRECT_URL,
			    &loc) != CURLE_OK || loc == NULL)
				loc = NULL;
			return mc_fail(MC_ERR_SERVICE, errmsg, "%s answered "
			    "HTTP %ld, a redirect%s%s, which is not followed "
			    "(the request carries secrets): check the endpoint "
			    "URL in the configuration", r->host, status,
			    loc != NULL ? " to " : "", loc != NULL ?
			    redirect_host(loc, where, sizeof(where)) : "");
		}
		if (status >= 500 || status == 429) {
			/* Retry-After (seconds or a date), when it has one. */
			if (curl_easy_getinfo(r->curl, CURLINFO_RETRY_AFTER,
			    &retry) == CURLE_OK && retry > 0 &&
			    snprintf(wait, sizeof(wait), "in %lld s",
			    (long long)retry) < (int)sizeof(wait))
				later = wait;
			return mc_fail(MC_ERR_TEMP, errmsg, "%s answered HTTP "
			    "%ld: the service has a problem; try again %s",
			    r->host, status, later);
		}
		return mc_fail(MC_ERR_SERVICE, errmsg, "%s answered HTTP %ld "
		    "without a JSON object: is the endpoint URL right?",
		    r->host, status);
	}
	trace_json(&r->t, j);
	*json = j;
	return MC_OK;
}

int
mc_http_post_form(const struct mc_http_opts *opts, const char *url,
    const char *const *pairs, long *status, json_t **json, char **errmsg)
{
	struct request r;
	char code[24];
	CURLcode cc;
	int rc;

	*status = 0;
	*json = NULL;
	memset(&r, 0, sizeof(r));
	r.t.fn = opts->trace;
	r.t.ctx = opts->trace_ctx;
	r.timeout = opts->timeout > 0 ? opts->timeout : 30;
	url_host_hint(url, r.host, sizeof(r.host));
	rc = mc_http_url_check(url, "endpoint", errmsg);
	if (rc == MC_OK)
		rc = mc_http_global_init(errmsg);
	if (rc != MC_OK)
		goto out;
	rc = request_setup(&r, opts, url, pairs, errmsg);
	if (rc != MC_OK)
		goto out;
	cc = curl_easy_perform(r.curl);
	curl_easy_getinfo(r.curl, CURLINFO_RESPONSE_CODE, status);
	if (cc != CURLE_OK) {
		rc = request_failed(&r, cc, errmsg);
		goto out;
	}
	/* Fits: a long has at most 20 digits and a sign, code has 24 bytes. */
	(void)snprintf(code, sizeof(code), "%ld", *status);
	tracef(&r.t, "< HTTP %s%s", code, "");
	rc = request_answer(&r, *status, json, errmsg);
out:
	if (r.b.buf != NULL) {
		mc_wipe(r.b.buf, r.b.len);
		free(r.b.buf);
	}
	mc_free_secret(r.form);
	curl_slist_free_all(r.hdr);
	if (r.curl != NULL)
		curl_easy_cleanup(r.curl);
	return rc;
}
