/* keyring/secret_dl.c - libsecret and GLib, opened on first use. */
#define SECRET_API_SUBJECT_TO_CHANGE 1

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include <gio/gio.h>
#include <libsecret/secret.h>

#include "auth/dl.h"
#include "keyring/backend.h"
#include "keyring/secret_dl.h"
#include "keyring/store.h"

#define SS_SONAME "libsecret-1.so.0"
#define SS_PACKAGE "libsecret-1-0"

struct ss_dl ss_dl;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int
ss_dl_load(char **errmsg)
{
	void *h = NULL, *addr;
	char *why = NULL;
	int rc = STORE_OK;

	if (__atomic_load_n(&ss_dl.loaded, __ATOMIC_ACQUIRE))
		return STORE_OK;
	pthread_mutex_lock(&lock);
	if (ss_dl.loaded)
		goto out;
	if (mc_dl_open(SS_SONAME, SS_PACKAGE, &h, &why) != 0)
		goto fail;
	/* Each name is only stringified and pasted: never macro-expanded. */
#define X(name) \
	if (mc_dl_sym(h, SS_SONAME, SS_PACKAGE, #name, &addr, &why) != 0) \
		goto fail; \
	ss_dl.p_##name = (__typeof__(ss_dl.p_##name))addr;
	SS_DL_FUNCS(X)
#undef X
	__atomic_store_n(&ss_dl.loaded, 1, __ATOMIC_RELEASE);
	h = NULL;	/* kept open for good: GLib cannot be unloaded */
	goto out;
fail:
	rc = store_fail(STORE_ENOSERVICE, errmsg, "%s; or use store = file",
	    why != NULL ? why : "cannot load " SS_SONAME);
out:
	pthread_mutex_unlock(&lock);
	if (h != NULL)
		dlclose(h);
	free(why);
	return rc;
}
