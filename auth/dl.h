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

#endif
