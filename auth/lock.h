/*
 * auth/lock.h - the per-user state directory and the per-account refresh
 * lock, so one refresh serves every caller.
 *
 * Whether two processes share a lock must not depend on their
 * environment: a desktop mail client, a cron job and a systemd unit reach
 * the same store with different $HOME, $XDG_RUNTIME_DIR and $XDG_*_HOME,
 * and two of them refreshing with the same refresh token fork the grant
 * (a provider that detects reuse revokes it whole). So the state directory
 * is ~/.local/state/mailcred with ~ taken from the password database, not
 * from $HOME or any XDG variable. $MAILCRED_STATE_DIR overrides it, for
 * tests and unusual set-ups: every process that uses the same store must
 * then see the same value.
 *
 * The directory is created 0700 and refused (MC_ERR_STORE_PERM, with the
 * fix) when it is not the user's own or others can enter it, as the file
 * store's directory is. It holds one lock file per account, named as the
 * file store names files (keyring/store.h store_file_name(), kind "lock"),
 * and the recovery files of auth/token.h.
 *
 * The lock is an flock(2), so it dies with its holder: a crashed or killed
 * refresh never wedges the others.
 */
#ifndef MAILCRED_AUTH_LOCK_H
#define MAILCRED_AUTH_LOCK_H

/*
 * The state directory's path (malloc'd into *dir), not created.
 * MC_ERR_IO when the user has no home directory in the password database
 * and MAILCRED_STATE_DIR is not set.
 */
int mc_state_dir(char **dir, char **errmsg);

/*
 * Takes account's lock, creating the state directory and the lock file as
 * needed, waiting at most timeout_ms. On MC_OK *fd holds the lock.
 * MC_ERR_TEMP when another process held it the whole time, MC_ERR_IO when
 * the file cannot be made, MC_ERR_STORE_PERM when the directory or the
 * file is not safe, MC_ERR_CONFIG for a name the store cannot hold.
 */
int mc_lock_acquire(const char *account, int timeout_ms, int *fd,
    char **errmsg);

/* Releases a lock taken by mc_lock_acquire(); accepts -1. */
void mc_lock_release(int fd);

#endif
