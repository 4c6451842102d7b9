/* keyring/secret_dl.c - libsecret and GLib, opened on first use. */
#define SECRET_API_SUBJECT_TO_CHANGE 1

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include <gio/gio.h>
#include <libsecret/secret.h>

#include "auth/dl.h"
#include "auth/err.h"
#include "keyring/backend.h"
#include "keyring/secret_dl.h"
#include "keyring/store.h"

#define SS_SONAME "libsecret-1.so.0"
#define SS_PACKAGE "libsecret-1-0"

struct ss_dl ss_dl;

/* Each name is only stringified and pasted: never macro-expanded. */
#define NAME(name) #name,
static const char *const ss_names[] = { SS_DL_FUNCS(NAME) };

static void
ss_fill(void *const *addrs)
{
	size_t i = 0;

#define FILL(name) ss_dl.p_##name = (__typeof__(ss_dl.p_##name))addrs[i++];
	SS_DL_FUNCS(FILL)
}

/* GLib cannot be unloaded: once loaded, for good. */
static struct mc_dl_lib ss_lib = MC_DL_LIB(SS_SONAME, SS_PACKAGE, ss_names,
    ss_fill);

int
ss_dl_load(char **errmsg)
{
	char *why = NULL;
	int rc;

	rc = mc_dl_load(&ss_lib, &why);
	if (rc == MC_OK)
		rc = STORE_OK;
	else if (rc == MC_ERR_NOMEM)
		rc = STORE_ENOMEM;
	else
		rc = store_fail(STORE_ENOLIB, errmsg, "%s; or use store = "
		    "file", why != NULL ? why : "cannot load " SS_SONAME);
	free(why);
	return rc;
}
