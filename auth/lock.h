/*
 * auth/lock.h - a per-account lock, so one refresh serves every caller.
 *
 * An flock(2) on a file in $XDG_RUNTIME_DIR/mailcred (else
 * $XDG_CACHE_HOME/mailcred, else ~/.cache/mailcred), created 0700/0600.
 * The lock dies with the process, so a crashed holder never wedges others.
 */
#ifndef MAILCRED_AUTH_LOCK_H
#define MAILCRED_AUTH_LOCK_H

/*
 * The lock file's path for account (malloc'd into *path): the directory
 * above plus the account's name percent-encoded, ".lock".
 */
int mc_lock_path(const char *account, char **path, char **errmsg);

/*
 * Takes the lock, waiting at most timeout_ms. On MC_OK *fd holds it;
 * MC_ERR_TEMP when another process held it for the whole time, MC_ERR_IO
 * when the file cannot be made.
 */
int mc_lock_acquire(const char *account, int timeout_ms, int *fd,
    char **errmsg);

/* Releases a lock taken by mc_lock_acquire(); accepts -1. */
void mc_lock_release(int fd);

/*
 * Percent-encodes name for use as a file name: [A-Za-z0-9@._+-] stay,
 * except a leading '.', everything else becomes %XX. Malloc'd; NULL when
 * out of memory.
 */
char *mc_name_encode(const char *name);

#endif
