/*
 * auth/err.h - error codes of the mailcred library and their exit status.
 *
 * Library functions return MC_OK (0) or one of the negative codes below and,
 * where a message helps, set a malloc'd one-line sentence through
 * `char **errmsg` that the caller frees. Commands turn a code into an exit
 * status with mc_exit_status(); the statuses are sysexits(3) values: 64
 * usage, 65 bad data, 69 unavailable or refused for good, 75 temporary
 * (retrying may help, nothing was lost), 77 permission (log in again),
 * 78 configuration, 70 a bug.
 */
#ifndef MAILCRED_AUTH_ERR_H
#define MAILCRED_AUTH_ERR_H

enum mc_err {
	MC_OK = 0,
	MC_ERR_NOMEM = -1,	/* out of memory: 75 */
	MC_ERR_USAGE = -2,	/* bad command line: 64 */
	MC_ERR_DATA = -3,	/* bad input data: 65 */
	MC_ERR_CONFIG = -4,	/* configuration error: 78 */
	MC_ERR_NET = -5,	/* network failure, timeout: 75 */
	MC_ERR_TEMP = -6,	/* server's temporary failure (5xx, 4xx SMTP): 75 */
	MC_ERR_SERVICE = -7,	/* permanent rejection, unusable answer: 69 */
	MC_ERR_AUTH = -8,	/* grant revoked/expired, denied, auth failed,
				   new tokens that could not be kept: 77 */
	MC_ERR_NOT_LOGGED_IN = -9, /* nothing stored for the account: 77 */
	MC_ERR_STORE = -10,	/* store locked, timed out, I/O: 75 */
	MC_ERR_STORE_PERM = -11, /* store file permissions too open: 78 */
	MC_ERR_IO = -12,	/* local I/O failure: 75 */
	MC_ERR_INTERNAL = -13,	/* a bug: 70 */
};

/* The sysexits(3) status for an error code; 0 for MC_OK. */
int mc_exit_status(int err);

/*
 * Sets *errmsg (if errmsg is not NULL and *errmsg is NULL) to a malloc'd
 * message built like printf. Returns err, so `return mc_fail(err, errmsg,
 * ...)` reads naturally. An existing message is kept: the first, most
 * specific one wins.
 */
int mc_fail(int err, char **errmsg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A malloc'd string built like printf, or NULL when out of memory. */
char *mc_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
