/* auth/dl.c - opening a shared library on first use (see dl.h). */
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

#include "auth/dl.h"
#include "auth/err.h"

int
mc_dl_open(const char *soname, const char *package, void **handle,
    char **errmsg)
{
	const char *why;

	*handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (*handle != NULL)
		return MC_OK;
	why = dlerror();
	return mc_fail(MC_ERR_SERVICE, errmsg, "cannot load %s (%s): install "
	    "it (Debian: apt-get install %s)", soname, why != NULL ? why :
	    "not found", package);
}

int
mc_dl_sym(void *handle, const char *soname, const char *package,
    const char *name, void **addr, char **errmsg)
{
	*addr = dlsym(handle, name);
	if (*addr != NULL)
		return MC_OK;
	return mc_fail(MC_ERR_SERVICE, errmsg, "%s lacks %s: install a newer "
	    "version (Debian: apt-get install %s)", soname, name, package);
}

int
mc_dl_load(struct mc_dl_lib *lib, char **errmsg)
{
	void *h = NULL, **addrs = NULL;
	size_t i;
	int rc = MC_OK;

	if (__atomic_load_n(&lib->loaded, __ATOMIC_ACQUIRE))
		return MC_OK;
	pthread_mutex_lock(&lib->lock);
	if (lib->loaded)
		goto out;
	if ((addrs = calloc(lib->n, sizeof(*addrs))) == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	rc = mc_dl_open(lib->soname, lib->package, &h, errmsg);
	for (i = 0; rc == MC_OK && i < lib->n; i++)
		rc = mc_dl_sym(h, lib->soname, lib->package, lib->names[i],
		    &addrs[i], errmsg);
	if (rc != MC_OK)
		goto out;
	lib->fill(addrs);
	__atomic_store_n(&lib->loaded, 1, __ATOMIC_RELEASE);
	h = NULL;	/* kept open for good */
out:
	pthread_mutex_unlock(&lib->lock);
	if (h != NULL)
		dlclose(h);
	free(addrs);
	return rc;
}
