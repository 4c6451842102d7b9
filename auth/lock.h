/*
 * auth/lock.h - the per-account refresh lock, so one refresh serves every
 * caller.
 *
 * Whether two processes share a lock must not depend on their
 * environment: a desktop mail client, a cron job and a systemd unit reach
 * the same store with different $HOME, $XDG_RUNTIME_DIR and $XDG_*_HOME,
 * and two of them refreshing with the same refresh token fork the grant
 * (a provider that detects reuse revokes it whole). So the lock is a
 * function of the store: it lives in the store's state directory
 * (keyring/store.h store_state_dir()), one file per account named as the
 * file store names files (store_file_name(), kind "lock").
 *
 * The directory is created 0700 and refused (MC_ERR_STORE_PERM, with the
 * fix) when it is not the user's own, others can enter it, or it is a
 * symbolic link, as the file store's directory is.
 *
 * The lock is an flock(2), so it dies with its holder: a crashed or killed
 * refresh never wedges the others.
 */
#ifndef MAILCRED_AUTH_LOCK_H
#define MAILCRED_AUTH_LOCK_H

/* The words of MC_ERR_TEMP, for the seconds waited (an int). */
#define MC_LOCK_BUSY "another mailcred process has been refreshing this " \
	"account's token for %d s: try again"

/*
 * Takes account's lock in the state directory dir, creating both as
 * needed, waiting at most timeout_ms. On MC_OK *fd holds the lock.
 * MC_ERR_TEMP when another process held it the whole time, MC_ERR_IO when
 * the file cannot be made, MC_ERR_STORE_PERM when the directory or the
 * file is not safe, MC_ERR_CONFIG for a name the store cannot hold.
 */
int mc_lock_acquire(const char *dir, const char *account, int timeout_ms,
    int *fd, char **errmsg);

/*
 * mc_lock_acquire(), but while it waits, done(ctx) is asked whether the
 * wait is still needed: when it returns non-zero (another process did the
 * work, say) the call returns MC_OK at once with *fd = -1 and no lock
 * taken. done may be NULL. A waiter sleeps until the lock file is closed
 * by any process (the holder's release or exit, seen through inotify) or
 * wake_fd (>= 0; an inotify descriptor, say) becomes readable, and at
 * least every 100 ms; then it tries the lock again and asks done. Where
 * the lock file cannot be watched, or a done is given without a wake_fd
 * (it could come true unseen), it looks every 10 ms with a wake_fd and
 * every 5 ms without. What wake_fd says is read and dropped, without
 * blocking. When wake_fd is an inotify descriptor that does not watch the
 * lock file already, the lock file's watch is added to it for the wait
 * and removed after: one instance to close, not two. Its IN_IGNORED (and
 * lock file events not read yet) then wake the next wait on wake_fd once,
 * for nothing. Concurrent waits must not share a wake_fd (kernels before
 * 4.18 do not know IN_MASK_CREATE, which keeps the watches apart).
 */
int mc_lock_acquire_or(const char *dir, const char *account, int timeout_ms,
    int (*done)(void *ctx), void *ctx, int wake_fd, int *fd, char **errmsg);

/*
 * mc_lock_acquire_or() on a lock that is there already: dir must be a
 * directory of the user's that others cannot enter, holding account's
 * lock file, and neither is made. MC_ERR_NOT_LOGGED_IN when one of them is
 * not there. For a caller that found dir where another process said its
 * lock was (auth/tcache.h mc_tcache_read()).
 */
int mc_lock_acquire_existing(const char *dir, const char *account,
    int timeout_ms, int (*done)(void *ctx), void *ctx, int wake_fd, int *fd,
    char **errmsg);

/*
 * Is fd, a lock taken here, account's lock file in dir (the same file,
 * whatever the spelling of dir)? 1 or 0; 0 too when dir is not a place
 * for a lock (a symbolic link, others can enter it: as
 * mc_lock_acquire() would refuse it).
 */
int mc_lock_is(int fd, const char *dir, const char *account);

/*
 * Takes account's lock only if it is free now: MC_OK with *fd holding it,
 * MC_ERR_TEMP when another process holds it, other errors as
 * mc_lock_acquire().
 */
int mc_lock_try(const char *dir, const char *account, int *fd, char **errmsg);

/* Releases a lock taken by mc_lock_acquire(); accepts -1. */
void mc_lock_release(int fd);

#endif
