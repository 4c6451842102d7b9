/* auth/resolv_dl.c - libresolv's parser forwarded to a dlopen'ed libresolv. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include <arpa/nameser.h>

#include "auth/dl.h"
#include "auth/err.h"
#include "auth/resolv_dl.h"

#define RESOLV_SONAME "libresolv.so.2"
/* libresolv is part of glibc. */
#define RESOLV_PACKAGE "libc6"

#define RESOLV_FUNCS(X) \
	X(ns_initparse, int (*)(const unsigned char *, int, ns_msg *)) \
	X(ns_parserr, int (*)(ns_msg *, ns_sect, int, ns_rr *))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	int loaded;	/* read with __atomic_load_n */
#define X(name, type) __typeof__(type) name;
	RESOLV_FUNCS(X)
#undef X
} fn;

int
mc_resolv_load(char **errmsg)
{
	void *h = NULL, *addr;
	int rc = MC_OK;

	if (__atomic_load_n(&fn.loaded, __ATOMIC_ACQUIRE))
		return MC_OK;
	pthread_mutex_lock(&lock);
	if (fn.loaded)
		goto out;
	rc = mc_dl_open(RESOLV_SONAME, RESOLV_PACKAGE, &h, errmsg);
	if (rc != MC_OK)
		goto out;
#define X(name, type) \
	rc = mc_dl_sym(h, RESOLV_SONAME, RESOLV_PACKAGE, #name, &addr, \
	    errmsg); \
	if (rc != MC_OK) \
		goto out; \
	fn.name = (type)addr;
	RESOLV_FUNCS(X)
#undef X
	__atomic_store_n(&fn.loaded, 1, __ATOMIC_RELEASE);
	h = NULL;	/* kept open for good */
out:
	pthread_mutex_unlock(&lock);
	if (h != NULL)
		dlclose(h);
	return rc;
}

int
ns_initparse(const unsigned char *msg, int len, ns_msg *handle)
{
	if (mc_resolv_load(NULL) != MC_OK) {
		errno = EMSGSIZE;
		return -1;
	}
	return fn.ns_initparse(msg, len, handle);
}

int
ns_parserr(ns_msg *handle, ns_sect section, int n, ns_rr *rr)
{
	if (mc_resolv_load(NULL) != MC_OK) {
		errno = EMSGSIZE;
		return -1;
	}
	return fn.ns_parserr(handle, section, n, rr);
}
