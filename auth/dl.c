/* auth/dl.c - opening a shared library on first use (see dl.h). */
#include <dlfcn.h>
#include <stddef.h>

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
