/* auth/err.c - error codes to exit status, error messages. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "auth/err.h"

int
mc_exit_status(int err)
{
	switch (err) {
	case MC_OK:
		return 0;
	case MC_ERR_USAGE:
		return EX_USAGE;
	case MC_ERR_DATA:
		return EX_DATAERR;
	case MC_ERR_CONFIG:
	case MC_ERR_STORE_PERM:
		return EX_CONFIG;
	case MC_ERR_SERVICE:
		return EX_UNAVAILABLE;
	case MC_ERR_AUTH:
	case MC_ERR_NOT_LOGGED_IN:
		return EX_NOPERM;
	case MC_ERR_NOMEM:
	case MC_ERR_NET:
	case MC_ERR_TEMP:
	case MC_ERR_STORE:
	case MC_ERR_IO:
		return EX_TEMPFAIL;
	default:
		return EX_SOFTWARE;
	}
}

int
mc_fail(int err, char **errmsg, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (errmsg == NULL || *errmsg != NULL)
		return err;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	*errmsg = msg;
	return err;
}

char *
mc_strdupf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}
