/* auth/http.c - form POST to JSON over libcurl, with the TLS policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
	"client_secret", "code_verifier", "password", "assertion", NULL
};

int
mc_http_secret_key(const char *key)
{
	size_t i;

	for (i = 0; secret_keys[i] != NULL; i++)
		if (strcmp(key, secret_keys[i]) == 0)
			return 1;
	return 0;
}

int
mc_http_global_init(char **errmsg)
{
	static int done;
	int rc;

	if (done)
		return MC_OK;
	if ((rc = mc_curl_load(errmsg)) != MC_OK)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return MC_ERR_NOMEM;
	done = 1;
	return MC_OK;
}

int
mc_http_url_check(const char *url, const char *what, char **errmsg)
{
	int rc;

	/* mc_http_post_form relies on this call to load libcurl. */
	if ((rc = mc_http_global_init(errmsg)) != MC_OK)
		return rc;
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

int
mc_http_apply_tls(void *handle, const char *ca_file, char **errmsg)
{
	CURL *curl = handle;
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
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

static void
tracef(const struct trace *t, const char *fmt, const char *a, const char *b)
{
	char line[1024];
	int n;

	if (t->fn == NULL)
		return;
	n = snprintf(line, sizeof(line), fmt, a, b);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		memcpy(line + sizeof(line) - 5, "...", 4);
	t->fn(t->ctx, line);
}

/* curl's own lines: connection and TLS text, headers with secrets cut. */
static int
debug_cb(CURL *curl, curl_infotype type, char *data, size_t size, void *arg)
{
	const struct trace *t = arg;
	const char *p = data, *end = data + size, *nl;
	char line[512];
	size_t len;

	(void)curl;
	if (type != CURLINFO_TEXT && type != CURLINFO_HEADER_IN &&
	    type != CURLINFO_HEADER_OUT)
		return 0;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((nl != NULL ? nl : end) - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len >= sizeof(line) - 8)
			len = sizeof(line) - 8;
		if (len > 0) {
			const char *pfx = type == CURLINFO_TEXT ? "* " :
			    type == CURLINFO_HEADER_IN ? "< " : "> ";

			if ((len >= 14 && strncasecmp(p, "authorization:", 14)
			    == 0) || (len >= 11 && strncasecmp(p,
			    "set-cookie:", 11) == 0) || (len >= 7 &&
			    strncasecmp(p, "cookie:", 7) == 0)) {
				const char *colon = memchr(p, ':', len);

				snprintf(line, sizeof(line), "%s%.*s: [redacted]",
				    pfx, (int)(colon - p), p);
			} else {
				snprintf(line, sizeof(line), "%s%.*s", pfx,
				    (int)len, p);
			}
			t->fn(t->ctx, line);
		}
		p = nl != NULL ? nl + 1 : end;
	}
	return 0;
}

/* Builds the form body; with redact, secret values become [redacted]. */
static char *
build_form(CURL *curl, const char *const *pairs, int redact)
{
	char *out = NULL, *esc, *nout;
	size_t len = 0, add;
	size_t i;

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
		snprintf(nout + len, add + 1, "%s%s=%s", len > 0 ? "&" : "",
		    pairs[i], esc);
		len = strlen(nout);
		mc_wipe(esc, strlen(esc));
		curl_free(esc);
		mc_free_secret(out);
		out = nout;
	}
	return out;
fail:
	mc_free_secret(out);
	return NULL;
}

/* A copy of a JSON object with secret members replaced, for traces. */
static void
trace_json(const struct trace *t, json_t *json)
{
	json_t *copy;
	const char *key;
	json_t *val;
	char *text;

	if (t->fn == NULL)
		return;
	copy = json_deep_copy(json);
	if (copy == NULL)
		return;
	json_object_foreach(copy, key, val) {
		if (mc_http_secret_key(key))
			json_object_set_new(copy, key, json_string("[redacted]"));
	}
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

	p = p != NULL ? p + 3 : url;
	e = p + strcspn(p, "/?#");
	snprintf(buf, size, "%.*s", (int)(e - p), p);
	return buf;
}

int
mc_http_post_form(const struct mc_http_opts *opts, const char *url,
    const char *const *pairs, long *status, json_t **json, char **errmsg)
{
	struct trace t = { opts->trace, opts->trace_ctx };
	struct body b = { NULL, 0, 0 };
	struct curl_slist *hdr = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	char host[256];
	char *form = NULL, *shown = NULL;
	json_t *j = NULL;
	json_error_t jerr;
	CURL *curl = NULL;
	CURLcode cc;
	long timeout = opts->timeout > 0 ? opts->timeout : 30;
	int rc;

	*status = 0;
	*json = NULL;
	url_host_hint(url, host, sizeof(host));
	if ((rc = mc_http_url_check(url, "endpoint", errmsg)) != MC_OK)
		return rc;
	curl = curl_easy_init();
	if (curl == NULL)
		return MC_ERR_NOMEM;
	form = build_form(curl, pairs, 0);
	if (form == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if (t.fn != NULL) {
		shown = build_form(curl, pairs, 1);
		tracef(&t, "> POST %s%s", url, "");
		if (shown != NULL)
			tracef(&t, "> %s%s", shown, "");
		curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
		curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, debug_cb);
		curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &t);
	}
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (hdr == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "mailcred/" MAILCRED_VERSION);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT,
	    timeout < 10 ? timeout : 10L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	if ((rc = mc_http_apply_tls(curl, opts->ca_file, errmsg)) != MC_OK)
		goto out;

	cc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	if (cc != CURLE_OK) {
		if (b.too_large)
			rc = mc_fail(MC_ERR_SERVICE, errmsg,
			    "%s sent an answer larger than %d bytes", host,
			    MC_HTTP_MAX_BODY);
		else if (cc == CURLE_OPERATION_TIMEDOUT)
			rc = mc_fail(MC_ERR_NET, errmsg,
			    "%s did not answer within %ld s: check the network "
			    "and try again", host, timeout);
		else if (cc == CURLE_PEER_FAILED_VERIFICATION ||
		    cc == CURLE_SSL_CACERT_BADFILE ||
		    cc == CURLE_SSL_CONNECT_ERROR)
			rc = mc_fail(MC_ERR_NET, errmsg,
			    "TLS with %s failed: %s (a proxy or private CA? "
			    "set ca_file)", host, errbuf[0] ? errbuf :
			    curl_easy_strerror(cc));
		else
			rc = mc_fail(MC_ERR_NET, errmsg,
			    "cannot reach %s: %s; check the network and try "
			    "again", host, errbuf[0] ? errbuf :
			    curl_easy_strerror(cc));
		goto out;
	}
	if (t.fn != NULL) {
		char code[16];

		snprintf(code, sizeof(code), "%ld", *status);
		tracef(&t, "< HTTP %s%s", code, "");
	}
	j = b.buf != NULL ? json_loadb(b.buf, b.len, JSON_REJECT_DUPLICATES,
	    &jerr) : NULL;
	if (j == NULL || !json_is_object(j)) {
		if (*status >= 500 || *status == 429)
			rc = mc_fail(MC_ERR_TEMP, errmsg,
			    "%s answered HTTP %ld: the service has a problem; "
			    "try again later", host, *status);
		else
			rc = mc_fail(MC_ERR_SERVICE, errmsg,
			    "%s answered HTTP %ld without a JSON object: is "
			    "the endpoint URL right?", host, *status);
		goto out;
	}
	trace_json(&t, j);
	*json = j;
	j = NULL;
	rc = MC_OK;
out:
	json_decref(j);
	if (b.buf != NULL) {
		mc_wipe(b.buf, b.len);
		free(b.buf);
	}
	mc_free_secret(form);
	free(shown);
	curl_slist_free_all(hdr);
	if (curl != NULL)
		curl_easy_cleanup(curl);
	return rc;
}
