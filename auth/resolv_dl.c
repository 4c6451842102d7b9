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

static struct {
#define X(name, type) __typeof__(type) name;
	RESOLV_FUNCS(X)
#undef X
} fn;

#define NAME(name, type) #name,
static const char *const resolv_names[] = { RESOLV_FUNCS(NAME) };

static void
resolv_fill(void *const *addrs)
{
	size_t i = 0;

#define FILL(name, type) fn.name = (type)addrs[i++];
	RESOLV_FUNCS(FILL)
}

static struct mc_dl_lib resolv_lib = MC_DL_LIB(RESOLV_SONAME,
    RESOLV_PACKAGE, resolv_names, resolv_fill);

int
mc_resolv_load(char **errmsg)
{
	return mc_dl_load(&resolv_lib, errmsg);
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
