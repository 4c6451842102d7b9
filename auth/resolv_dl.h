/*
 * auth/resolv_dl.h - the DNS message parser of libresolv, loaded on first
 * use.
 *
 * Since glibc 2.34, res_query(3) and dn_expand(3) are in libc itself, but
 * ns_initparse(3) and ns_parserr(3) are still only in libresolv.so.2.
 * They are needed only to read an MX answer (auth/provider_guess.c, when
 * `mailcred add` guesses a provider), so mailcred is not linked against
 * libresolv: auth/resolv_dl.c defines the two (same names, prototypes from
 * <arpa/nameser.h>) as forwarders to libresolv opened with dlopen(3) by
 * the first call. When it cannot be loaded they fail (-1, errno EMSGSIZE)
 * as on a malformed message; a caller that can report an error calls
 * mc_resolv_load() first, for the message.
 */
#ifndef MAILCRED_AUTH_RESOLV_DL_H
#define MAILCRED_AUTH_RESOLV_DL_H

/*
 * Opens libresolv (libresolv.so.2) and resolves the functions, once; safe
 * to call from any thread. Returns MC_OK, or MC_ERR_SERVICE with a message
 * saying what to install.
 */
int mc_resolv_load(char **errmsg);

#endif
