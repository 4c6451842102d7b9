/*
 * keyring/backend.h - what store.c needs from a backend (private to keyring/).
 *
 * store.c checks the account and kind names and the secret before it calls
 * a backend, so backends receive names that are non-empty, at most
 * STORE_NAME_MAX bytes, valid UTF-8 without control characters (the kind
 * only [a-z0-9_-]), and secrets of at most STORE_SECRET_MAX bytes.
 *
 * Each operation follows store.h: it returns STORE_OK or a negative enum
 * store_err, sets *errmsg (already NULL) to a malloc'd one-line sentence
 * where one helps, and get sets *secret to a malloc'd copy that the caller
 * wipes.
 */
#ifndef MAILCRED_KEYRING_BACKEND_H
#define MAILCRED_KEYRING_BACKEND_H

#include <stddef.h>

#include "keyring/store.h"

#define STORE_NAME_MAX 256
#define STORE_SECRET_MAX (1024 * 1024)
#define STORE_TIMEOUT_DEFAULT 5000

struct store_ops {
	const char *name;
	/* Allocates the backend's state into *be; must not do D-Bus I/O. */
	int (*open)(const struct store_opts *opts, void **be, char **errmsg);
	/* Frees the state; accepts NULL. */
	void (*close)(void *be);
	int (*get)(void *be, const char *account, const char *kind,
	    char **secret, char **errmsg);
	int (*put)(void *be, const char *account, const char *kind,
	    const char *secret, char **errmsg);
	int (*del)(void *be, const char *account, const char *kind,
	    char **errmsg);
	/* store_state_dir() for this backend: a malloc'd path. */
	int (*state_dir)(void *be, char **dir, char **errmsg);
	/* store_ready() for this backend. */
	int (*ready)(void *be, char **errmsg);
	/* store_item_put/delete/count; NULL where the backend has none. */
	int (*item_put)(void *be, const struct store_attr *attrs, size_t n,
	    const char *label, const char *secret, char **errmsg);
	int (*item_del)(void *be, const struct store_attr *attrs, size_t n,
	    size_t *deleted, char **errmsg);
	int (*item_count)(void *be, const struct store_attr *attrs, size_t n,
	    size_t *count, char **errmsg);
	/* store_warm() for this backend; NULL when there is nothing to do. */
	void (*warm)(void *be);
};

extern const struct store_ops store_secret_service_ops;
extern const struct store_ops store_file_ops;

/*
 * Sets *errmsg (when errmsg is not NULL and *errmsg is NULL) to a malloc'd
 * message built like printf; returns err. If the message cannot be
 * allocated the error stays and the message is left out.
 */
int store_fail(int err, char **errmsg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Checks an account and a kind as store_get/put/delete do: STORE_OK, or
 * STORE_EINVAL with a message saying what is wrong.
 */
int store_check_names(const char *account, const char *kind, char **errmsg);

/*
 * ~/.local/state/mailcred with ~ the effective user's home directory in
 * the password database (malloc'd into *dir): the same for every process
 * of the user, whatever its environment.
 */
int store_user_state_dir(char **dir, char **errmsg);

/* Wipes len bytes at p; accepts NULL. */
void store_wipe(void *p, size_t len);

#endif
