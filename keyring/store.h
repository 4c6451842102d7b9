/*
 * keyring/store.h - where mailcred's secrets live.
 *
 * One small interface over two backends:
 *   STORE_KEYRING  the Secret Service (gnome-keyring, KeePassXC, ...) through
 *                  libsecret; the secret goes in the item's secret value, the
 *                  attributes only name it (they are not secret).
 *   STORE_FILE     one 0600 file per (account, kind) in a 0700 directory,
 *                  $XDG_DATA_HOME/mailcred (default ~/.local/share/mailcred),
 *                  replaced atomically; refused if its permissions are open.
 *                  Its file names and its directory check are public
 *                  (store_file_name, store_private_dir), so that files kept
 *                  beside the secrets (locks, recovery files) follow the
 *                  same rules.
 *
 * A secret is an opaque NUL-terminated string: the store knows nothing of
 * OAuth. It is addressed by the account NAME and a KIND ("oauth2" for the
 * token set, "password" for an app password).
 *
 * Every call has a deadline (struct store_opts.timeout_ms), so a frozen
 * Secret Service cannot hang a mail client, and no call ever prompts: where
 * the Secret Service would have to ask the user (unlock a collection,
 * create one, confirm a change) the call fails instead, STORE_ELOCKED or
 * STORE_ENOCOLLECTION, and the message says what to do.
 *
 * Keyring errors, and what they mean to a caller: STORE_ENOBUS (no session
 * bus: permanent on this machine), STORE_ENOCOLLECTION (no default
 * collection to store into) and STORE_ENOLIB (libsecret not installed)
 * need the user to act; STORE_ENOSERVICE (a bus, but no Secret Service on
 * it yet: the daemon is started with the session or on demand),
 * STORE_ELOCKED and STORE_ETIMEOUT may pass.
 *
 * Functions return STORE_OK (0) or a negative enum store_err; where a
 * message helps they set *errmsg to a malloc'd one-line sentence (no
 * trailing newline, no account name: the caller adds that), which the
 * caller frees. Output pointers are set to NULL on entry.
 */
#ifndef MAILCRED_KEYRING_STORE_H
#define MAILCRED_KEYRING_STORE_H

#include <stddef.h>

enum store_backend {
	STORE_KEYRING = 0,
	STORE_FILE = 1,
};

enum store_err {
	STORE_OK = 0,
	STORE_ENOTFOUND = -1,	/* nothing stored for that account and kind */
	STORE_ELOCKED = -2,	/* the keyring collection is locked (or the service would ask) */
	STORE_ENOSERVICE = -3,	/* a D-Bus session bus, but no Secret Service on it */
	STORE_ETIMEOUT = -4,	/* the service did not answer before the deadline */
	STORE_EPERM = -5,	/* file store: permissions too open, wrong owner, a link */
	STORE_EIO = -6,		/* any other failure of the backend */
	STORE_ENOMEM = -7,
	STORE_EINVAL = -8,	/* bad account or kind name, secret with NUL, ... */
	STORE_ENOBUS = -9,        /* no D-Bus session bus at all: permanent on this machine */
	STORE_ENOCOLLECTION = -10, /* the Secret Service has no default collection */
	STORE_ENOLIB = -11,	/* libsecret (or GLib) cannot be loaded: not installed */
};

struct store_opts {
	enum store_backend backend;
	int timeout_ms;		/* deadline per call; <= 0 means the default (5000) */
	const char *dir;	/* file backend: directory; NULL = XDG default */
	int nosync;		/* file backend: a put is not made durable
				   (no fsync): for a cache that may be lost */
};

#define STORE_OPTS_INIT { STORE_KEYRING, 0, NULL, 0 }

struct store;

/* Opens a store. Cheap: no D-Bus traffic until the first get/put/delete. */
int store_open(const struct store_opts *opts, struct store **out, char **errmsg);

/* Closes and frees; accepts NULL. */
void store_close(struct store *st);

/*
 * Loads what the backend's calls need (for the keyring, libcrypto when
 * reads go on the bus socket, else libsecret and GLib; nothing for the
 * file store) without any I/O to the service, so that the next call costs
 * only its own work: for a caller about to load another library in a
 * second thread, since two threads cannot load libraries at once. Best
 * effort: a failure shows at the next call.
 */
void store_warm(struct store *st);

/*
 * Reads the secret for (account, kind) into *secret (malloc'd,
 * NUL-terminated). The caller wipes and frees it with store_secret_free().
 * STORE_ENOTFOUND when nothing is stored; STORE_ELOCKED when an item may
 * exist but the collection is locked.
 */
int store_get(struct store *st, const char *account, const char *kind,
    char **secret, char **errmsg);

/*
 * Stores (replaces) the secret for (account, kind); in the keyring, into
 * the default collection: STORE_ENOCOLLECTION when there is none,
 * STORE_ELOCKED when it is locked.
 */
int store_put(struct store *st, const char *account, const char *kind,
    const char *secret, char **errmsg);

/*
 * Deletes it; STORE_ENOTFOUND when there was nothing to delete,
 * STORE_ELOCKED when it is there but locked away.
 */
int store_delete(struct store *st, const char *account, const char *kind,
    char **errmsg);

/*
 * Could a put succeed now, as far as can be told without writing? The
 * file store: its directory exists (it is created) and is safe. The Secret
 * Service: it answers, has a default collection, and that collection is
 * unlocked. Never prompts. STORE_OK, or what a put would fail with
 * (STORE_ELOCKED, STORE_ENOCOLLECTION, STORE_ENOSERVICE, STORE_ENOBUS,
 * STORE_EPERM, ...), with a message.
 */
int store_ready(struct store *st, char **errmsg);

/*
 * The directory for what goes with this store's secrets without being one:
 * the per-account lock files and recovery files of auth/lock.h and
 * auth/token.h. It is a function of the store alone, so every process
 * that reaches the same store shares it, whatever else differs in its
 * environment (a desktop session, cron, a systemd unit):
 *   file store      "<its directory>/.state" (no account file's name
 *                   starts with '.', so nothing there can clash);
 *   Secret Service  ~/.local/state/mailcred, with ~ the home directory in
 *                   the password database: not $HOME, $XDG_RUNTIME_DIR or
 *                   $XDG_STATE_HOME, which differ between such processes
 *                   while the keyring they reach is the same.
 * A malloc'd path into *dir; nothing is created (store_private_dir() does
 * that, with its checks). STORE_EIO when the user has no home directory
 * in the password database.
 */
int store_state_dir(struct store *st, char **dir, char **errmsg);

/*
 * Items of other programs' schemas, kept in the Secret Service only: msmtp
 * and git look up their passwords there by attributes of their own, and
 * `mailcred password set --export` keeps a copy of an app password for
 * them. An item is named by its attributes (name = value pairs; the caller
 * gives "xdg:schema" too, as libsecret writes it); like the store's own,
 * they only name the item and must hold nothing secret. Names and values
 * are checked as account names are (non-empty, UTF-8, no control
 * characters). The file store has no such items: STORE_EINVAL, with a
 * message saying that only the Secret Service can hold them.
 */
struct store_attr {
	const char *name;
	const char *value;
};

/*
 * Creates the item with exactly attrs (n of them), the label and the
 * secret in the default collection, replacing one with the same
 * attributes. Errors as store_put().
 */
int store_item_put(struct store *st, const struct store_attr *attrs, size_t n,
    const char *label, const char *secret, char **errmsg);

/*
 * Deletes every item that has all of attrs (and maybe others); *deleted
 * (may be NULL) says how many. STORE_ENOTFOUND when none has them,
 * STORE_ELOCKED when the only ones are locked away (or the default
 * collection is locked). Errors otherwise as store_delete().
 */
int store_item_delete(struct store *st, const struct store_attr *attrs,
    size_t n, size_t *deleted, char **errmsg);

/*
 * How many items have all of attrs, locked ones included, into *count.
 * STORE_ELOCKED when none is found and the default collection is locked
 * (its items may be hidden).
 */
int store_item_count(struct store *st, const struct store_attr *attrs,
    size_t n, size_t *count, char **errmsg);

/* Wipes and frees a secret returned by store_get(); accepts NULL. */
void store_secret_free(char *secret);

/* A short name of the backend for messages: "keyring" or "file". */
const char *store_backend_name(enum store_backend backend);

#define STORE_FILE_NAME_SIZE 256   /* NAME_MAX + 1 */

/*
 * The file name the file store uses for (account, kind) in its directory,
 * into name[STORE_FILE_NAME_SIZE]: the account percent-encoded
 * ([A-Za-z0-9@._+-] kept, a leading '.' and every other byte as %XX), '.',
 * kind. When that would exceed NAME_MAX, a prefix of the encoding cut at a
 * whole %XX, then '~' and the hex SHA-256 of the account (OpenSSL), then
 * '.', kind: distinct accounts never share a name, and no name starts with
 * '.'. STORE_EINVAL (with a message) for names store_put would refuse, and
 * for a kind too long to fit beside the hash (more than 189 bytes).
 */
int store_file_name(const char *account, const char *kind, char *name,
    char **errmsg);

/*
 * Opens the directory path, where secrets or locks live: with create,
 * first makes it and any missing parent (the last one 0700). Refuses with
 * STORE_EPERM and the fix (chmod 700 / chown) a directory that is not
 * owned by the effective user or that group or others can access, or a
 * path whose last component is a symbolic link; STORE_ENOTFOUND when it is
 * missing and !create. On STORE_OK *dfd is an O_DIRECTORY|O_CLOEXEC
 * descriptor the caller closes.
 */
int store_private_dir(const char *path, int create, int *dfd, char **errmsg);

#endif
