/* auth/curl_dl.c - libcurl's functions forwarded to a dlopen'ed libcurl. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <curl/curl.h>

#include "auth/curl_dl.h"
#include "auth/err.h"

/* curl.h may define these as type-checking macros. */
#undef curl_easy_setopt
#undef curl_easy_getinfo

#define CURL_SONAME "libcurl.so.4"
/* The oldest libcurl with everything the suite uses. */
#define CURL_NEED_NUM 0x075500
#define CURL_NEED_TEXT "7.85"

/* The functions we use, each with its pointer type. */
#define CURL_FUNCS(X) \
	X(curl_global_init, CURLcode (*)(long)) \
	X(curl_easy_init, CURL *(*)(void)) \
	X(curl_easy_setopt, CURLcode (*)(CURL *, CURLoption, ...)) \
	X(curl_easy_perform, CURLcode (*)(CURL *)) \
	X(curl_easy_getinfo, CURLcode (*)(CURL *, CURLINFO, ...)) \
	X(curl_easy_cleanup, void (*)(CURL *)) \
	X(curl_easy_strerror, const char *(*)(CURLcode)) \
	X(curl_easy_escape, char *(*)(CURL *, const char *, int)) \
	X(curl_free, void (*)(void *)) \
	X(curl_slist_append, struct curl_slist *(*)(struct curl_slist *, \
	    const char *)) \
	X(curl_slist_free_all, void (*)(struct curl_slist *)) \
	X(curl_version_info, curl_version_info_data *(*)(CURLversion)) \
	X(curl_easy_send, CURLcode (*)(CURL *, const void *, size_t, size_t *)) \
	X(curl_easy_recv, CURLcode (*)(CURL *, void *, size_t, size_t *))

static struct {
	int loaded;
#define X(name, type) __typeof__(type) name;
	CURL_FUNCS(X)
#undef X
} fn;

int
mc_curl_load(char **errmsg)
{
	curl_version_info_data *v;
	void *h;
	int rc;

	if (fn.loaded)
		return MC_OK;
	h = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		return mc_fail(MC_ERR_SERVICE, errmsg, "cannot load %s (%s): "
		    "install libcurl (Debian: apt-get install libcurl4)",
		    CURL_SONAME, dlerror());
#define X(name, type) \
	if ((fn.name = (type)dlsym(h, #name)) == NULL) { \
		rc = mc_fail(MC_ERR_SERVICE, errmsg, "%s lacks %s: libcurl " \
		    CURL_NEED_TEXT " or newer is needed", CURL_SONAME, #name); \
		goto fail; \
	}
	CURL_FUNCS(X)
#undef X
	/* CURLOPT_PROTOCOLS_STR, which keeps secrets off other protocols. */
	v = fn.curl_version_info(CURLVERSION_NOW);
	if (v == NULL || v->version_num < CURL_NEED_NUM) {
		rc = mc_fail(MC_ERR_SERVICE, errmsg, "%s is version %s: "
		    "libcurl " CURL_NEED_TEXT " or newer is needed", CURL_SONAME,
		    v != NULL && v->version != NULL ? v->version : "unknown");
		goto fail;
	}
	fn.loaded = 1;
	return MC_OK;
fail:
	memset(&fn, 0, sizeof(fn));
	dlclose(h);
	return rc;
}

CURLcode
curl_global_init(long flags)
{
	return fn.loaded ? fn.curl_global_init(flags) : CURLE_FAILED_INIT;
}

CURL *
curl_easy_init(void)
{
	return fn.loaded ? fn.curl_easy_init() : NULL;
}

/*
 * libcurl reads one argument whose type follows from the option's range:
 * long, object pointer, function pointer, curl_off_t, or a blob pointer.
 */
CURLcode
(curl_easy_setopt)(CURL *curl, CURLoption option, ...)
{
	va_list ap;
	CURLcode rc;

	if (!fn.loaded)
		return CURLE_FAILED_INIT;
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT) {
		long v = va_arg(ap, long);

		rc = fn.curl_easy_setopt(curl, option, v);
	} else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
		void *v = va_arg(ap, void *);

		rc = fn.curl_easy_setopt(curl, option, v);
	} else if (option < CURLOPTTYPE_OFF_T) {
		void (*v)(void) = va_arg(ap, void (*)(void));

		rc = fn.curl_easy_setopt(curl, option, v);
	} else if (option < CURLOPTTYPE_BLOB) {
		curl_off_t v = va_arg(ap, curl_off_t);

		rc = fn.curl_easy_setopt(curl, option, v);
	} else {
		void *v = va_arg(ap, void *);

		rc = fn.curl_easy_setopt(curl, option, v);
	}
	va_end(ap);
	return rc;
}

CURLcode
curl_easy_perform(CURL *curl)
{
	return fn.loaded ? fn.curl_easy_perform(curl) : CURLE_FAILED_INIT;
}

/* Every CURLINFO takes a pointer to where the answer goes. */
CURLcode
(curl_easy_getinfo)(CURL *curl, CURLINFO info, ...)
{
	va_list ap;
	void *p;

	if (!fn.loaded)
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	p = va_arg(ap, void *);
	va_end(ap);
	return fn.curl_easy_getinfo(curl, info, p);
}

void
curl_easy_cleanup(CURL *curl)
{
	if (fn.loaded)
		fn.curl_easy_cleanup(curl);
}

const char *
curl_easy_strerror(CURLcode code)
{
	return fn.loaded ? fn.curl_easy_strerror(code) : "libcurl is not loaded";
}

char *
curl_easy_escape(CURL *curl, const char *s, int len)
{
	return fn.loaded ? fn.curl_easy_escape(curl, s, len) : NULL;
}

void
curl_free(void *p)
{
	if (fn.loaded)
		fn.curl_free(p);
}

struct curl_slist *
curl_slist_append(struct curl_slist *list, const char *s)
{
	return fn.loaded ? fn.curl_slist_append(list, s) : NULL;
}

void
curl_slist_free_all(struct curl_slist *list)
{
	if (fn.loaded)
		fn.curl_slist_free_all(list);
}

curl_version_info_data *
curl_version_info(CURLversion v)
{
	return fn.loaded ? fn.curl_version_info(v) : NULL;
}

CURLcode
curl_easy_send(CURL *curl, const void *buf, size_t len, size_t *n)
{
	*n = 0;
	return fn.loaded ? fn.curl_easy_send(curl, buf, len, n) :
	    CURLE_FAILED_INIT;
}

CURLcode
curl_easy_recv(CURL *curl, void *buf, size_t len, size_t *n)
{
	*n = 0;
	return fn.loaded ? fn.curl_easy_recv(curl, buf, len, n) :
	    CURLE_FAILED_INIT;
}
