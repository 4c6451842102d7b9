/*
 * auth/curl_dl.h - libcurl, loaded when the network is first needed.
 *
 * Loading libcurl and the forty libraries it pulls in costs more than a
 * whole Secret Service lookup, and most runs of `mailcred token` need no
 * network: they print a cached token. So mailcred is not linked against
 * libcurl; auth/curl_dl.c defines the libcurl functions the suite uses
 * (same names, same prototypes, from <curl/curl.h>) as forwarders to the
 * library opened with dlopen(3) on first use. Code elsewhere calls curl as
 * usual, after mc_curl_load() succeeded.
 */
#ifndef MAILCRED_AUTH_CURL_DL_H
#define MAILCRED_AUTH_CURL_DL_H

/*
 * Opens libcurl (libcurl.so.4) and resolves the functions, once. Returns
 * MC_OK, or MC_ERR_SERVICE with a message saying what to install.
 */
int mc_curl_load(char **errmsg);

#endif
