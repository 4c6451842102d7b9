/*
 * auth/dl.h - opening a shared library on first use.
 *
 * mailcred links only libc and jansson: a cached `mailcred token` needs
 * nothing else, and mapping and relocating libsecret, glib, OpenSSL and
 * the rest costs more than the whole cached path. Each library is opened
 * with dlopen(3) by the module that needs it (auth/curl_dl.c,
 * auth/crypto_dl.c, auth/resolv_dl.c, keyring/secret_dl.c, cmd/tty.c),
 * the first time it is needed; this is the part they share: opening it,
 * and the message that says what to install when that fails.
 */
#ifndef MAILCRED_AUTH_DL_H
#define MAILCRED_AUTH_DL_H

#include <pthread.h>
#include <stddef.h>

/*
 * Opens the library soname (RTLD_NOW | RTLD_LOCAL) into *handle. Returns
 * MC_OK, or MC_ERR_SERVICE with a message naming the library, why it
 * could not be loaded, and the Debian package to install (package).
 */
int mc_dl_open(const char *soname, const char *package, void **handle,
    char **errmsg);

/*
 * The address of name in the library handle (opened as soname) into
 * *addr. Returns MC_OK, or MC_ERR_SERVICE with a message naming the
 * missing symbol and the package (a version too old to have it).
 */
int mc_dl_sym(void *handle, const char *soname, const char *package,
    const char *name, void **addr, char **errmsg);

/*
 * A library loaded once for every thread: its soname and package, the n
 * names of the functions to resolve, and fill(), which copies their
 * addresses (in the order of names) into the module's typed pointers.
 * Initialize with MC_DL_LIB().
 */
struct mc_dl_lib {
	const char *soname;
	const char *package;
	const char *const *names;
	size_t n;
	void (*fill)(void *const *addrs);
	int loaded;		/* read with __atomic_load_n */
	pthread_mutex_t lock;
};

#define MC_DL_LIB(soname, package, names, fill) \
	{ soname, package, names, sizeof(names) / sizeof((names)[0]), fill, \
	    0, PTHREAD_MUTEX_INITIALIZER }

/*
 * Opens lib and resolves its names, once: a thread that comes while
 * another loads waits for it; fill() runs before any caller sees the
 * library loaded. The library stays open for good. MC_OK, or
 * MC_ERR_SERVICE (as mc_dl_open / mc_dl_sym say; nothing is filled, and
 * the next call tries again) or MC_ERR_NOMEM.
 */
int mc_dl_load(struct mc_dl_lib *lib, char **errmsg);

#endif
