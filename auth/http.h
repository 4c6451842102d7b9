/*
 * auth/http.h - the only place that sets up libcurl for OAuth requests.
 *
 * A request is a form POST whose answer must be a JSON object. Every
 * request has a timeout and a cap on the size of the answer; certificates
 * are always verified (ca_file is trusted in addition to the system store);
 * plain http:// is refused unless the host is loopback. With a trace
 * callback, requests and answers are described line by line with tokens,
 * codes, secrets and Authorization headers replaced by "[redacted]".
 *
 * libcurl is loaded (auth/curl_dl.h) and initialised on the first request,
 * never before, so paths that need no network (a cached token) do not pay
 * for it.
 */
#ifndef MAILCRED_AUTH_HTTP_H
#define MAILCRED_AUTH_HTTP_H

#include <pthread.h>

#include <jansson.h>

#define MC_HTTP_MAX_BODY (256 * 1024)

typedef void (*mc_trace_fn)(void *ctx, const char *line);

struct mc_http_opts {
	int timeout;		/* seconds for the whole request; <= 0: 30 */
	const char *ca_file;	/* extra CA bundle, or NULL */
	mc_trace_fn trace;	/* NULL: no trace */
	void *trace_ctx;
};

#define MC_HTTP_OPTS_INIT { 30, NULL, NULL, NULL }

/*
 * Checks that url may carry secrets: https://, or http:// to a loopback
 * host (127.0.0.0/8, ::1, localhost). what names the setting in messages
 * ("token_endpoint"). MC_OK or MC_ERR_CONFIG.
 */
int mc_http_url_check(const char *url, const char *what, char **errmsg);

/*
 * POSTs an application/x-www-form-urlencoded body built from pairs, a
 * NULL-terminated list of name, value, name, value, ... (a pair whose value
 * is NULL is left out), to url, and parses the answer.
 *
 * Returns MC_OK with *status set and *json a JSON object (the caller
 * decrefs) whatever the HTTP status, so OAuth errors are judged by their
 * JSON. Otherwise: MC_ERR_CONFIG (url refused), MC_ERR_NET (cannot
 * connect, timeout, TLS failure), MC_ERR_TEMP (5xx or 429 without a JSON
 * object), MC_ERR_SERVICE (any other answer that is not a JSON object, or
 * too large), MC_ERR_NOMEM; *status is still set when there was an answer.
 */
int mc_http_post_form(const struct mc_http_opts *opts, const char *url,
    const char *const *pairs, long *status, json_t **json, char **errmsg);

/*
 * Applies the TLS policy (verification on, ca_file added to the default
 * trust store, TLS 1.2 or newer) to a curl easy handle of another module
 * (SMTP). Returns MC_OK or MC_ERR_NOMEM / MC_ERR_CONFIG.
 */
int mc_http_apply_tls(void *curl_handle, const char *ca_file, char **errmsg);

/*
 * 1 if why, libcurl's words for a failed TLS handshake, says the server
 * speaks no TLS version mailcred accepts (older than 1.2), else 0.
 */
int mc_http_tls_too_old(const char *why);

/*
 * Loads libcurl and calls curl_global_init(), once, whatever the number
 * of threads that ask: a caller that comes while another thread loads
 * waits for it. MC_OK, MC_ERR_SERVICE (libcurl missing) or MC_ERR_NOMEM.
 */
int mc_http_global_init(char **errmsg);

/*
 * Starts mc_http_global_init() in a thread of its own, into *tid, and
 * returns at once: for a caller that will need the network after
 * something slow of its own (a keyring read), so that libcurl and its
 * libraries load meanwhile. Returns 0 when the thread runs: the caller
 * must pthread_join(*tid) before it returns (a process must not exit
 * while a library is half loaded). Best effort: a failure to load shows
 * at the next mc_http_global_init(), which waits for this one.
 */
int mc_http_preload(pthread_t *tid);

/*
 * Copies the len bytes at src into dst (size bytes, always terminated, cut
 * short if need be) with the password of every URL's userinfo
 * ("scheme://user:PASSWORD@host") replaced by [redacted], for trace lines
 * of curl's own text (which echoes proxy URLs from the environment).
 */
void mc_http_redact_line(char *dst, size_t size, const char *src, size_t len);

/*
 * For a libcurl debug callback: calls fn once for each non-empty line of
 * the size bytes at data (line ends, CR included, removed) when type (a
 * curl_infotype) is CURLINFO_TEXT, _HEADER_IN or _HEADER_OUT, with the
 * trace prefix that says which ("* ", "< ", "> "); other types are
 * ignored.
 */
void mc_http_debug_lines(int type, const char *data, size_t size,
    void (*fn)(void *ctx, int type, const char *prefix, const char *line,
    size_t len), void *ctx);

/* Is this key's value a secret that traces must redact? */
int mc_http_secret_key(const char *key);

#endif
