/* auth/lock.c - per-account flock(2) in the store's state directory. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/clock.h"
#include "auth/err.h"
#include "auth/lock.h"
#include "keyring/store.h"

/* A store error about the state directory or a file in it, as ours. */
static int
state_error(int serr, char *msg, char **errmsg)
{
	int rc;

	switch (serr) {
	case STORE_ENOMEM:
		rc = MC_ERR_NOMEM;
		break;
	case STORE_EPERM:
		rc = MC_ERR_STORE_PERM;
		break;
	case STORE_EINVAL:
		rc = MC_ERR_CONFIG;
		break;
	default:
		rc = MC_ERR_IO;
		break;
	}
	rc = mc_fail(rc, errmsg, "%s", msg != NULL ? msg :
	    "the state directory cannot be used");
	free(msg);
	return rc;
}

/*
 * Opens account's lock file, checked to be a file of ours; with create,
 * the directory and the file are made as needed, else both must be there
 * (MC_ERR_NOT_LOGGED_IN when one is not).
 */
static int
open_lock_file(const char *dir, const char *account, int create, int *fd,
    char **errmsg)
{
	char name[STORE_FILE_NAME_SIZE];
	char *msg = NULL;
	struct stat sb;
	int dfd = -1, f = -1, serr, rc;

	*fd = -1;
	serr = store_file_name(account, "lock", name, &msg);
	if (serr == STORE_OK)
		serr = store_private_dir(dir, create, &dfd, &msg);
	if (serr == STORE_ENOTFOUND) {
		free(msg);
		rc = mc_fail(MC_ERR_NOT_LOGGED_IN, errmsg, "there is no "
		    "directory %s", dir);
		goto out;
	}
	if (serr != STORE_OK) {
		rc = state_error(serr, msg, errmsg);
		goto out;
	}
	f = openat(dfd, name, O_RDWR | (create ? O_CREAT : 0) | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
	if (f < 0 && errno == ENOENT && !create) {
		rc = mc_fail(MC_ERR_NOT_LOGGED_IN, errmsg, "there is no lock "
		    "file %s/%s", dir, name);
		goto out;
	}
	if (f < 0 && errno == ELOOP) {
		rc = mc_fail(MC_ERR_STORE_PERM, errmsg, "the lock file %s/%s is "
		    "a symbolic link: remove it", dir, name);
		goto out;
	}
	if (f < 0) {
		rc = mc_fail(MC_ERR_IO, errmsg, "cannot open the lock file "
		    "%s/%s: %s", dir, name, strerror(errno));
		goto out;
	}
	/* A hard link would make another file our lock: refused too. */
	if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || sb.st_nlink != 1 ||
	    (sb.st_mode & 077) != 0) {
		rc = mc_fail(MC_ERR_STORE_PERM, errmsg, "%s/%s is not a lock "
		    "file of yours: remove it", dir, name);
		goto out;
	}
	*fd = f;
	f = -1;
	rc = MC_OK;
out:
	if (f >= 0)
		close(f);
	if (dfd >= 0)
		close(dfd);
	return rc;
}


static int acquire(const char *dir, const char *account, int create,
    int timeout_ms, int (*done)(void *ctx), void *ctx, int wake_fd, int *fd,
    char **errmsg);

int
mc_lock_acquire(const char *dir, const char *account, int timeout_ms, int *fd,
    char **errmsg)
{
	return acquire(dir, account, 1, timeout_ms, NULL, NULL, -1, fd,
	    errmsg);
}

int
mc_lock_acquire_or(const char *dir, const char *account, int timeout_ms,
    int (*done)(void *ctx), void *ctx, int wake_fd, int *fd, char **errmsg)
{
	return acquire(dir, account, 1, timeout_ms, done, ctx, wake_fd, fd,
	    errmsg);
}

int
mc_lock_acquire_existing(const char *dir, const char *account,
    int timeout_ms, int (*done)(void *ctx), void *ctx, int wake_fd, int *fd,
    char **errmsg)
{
	return acquire(dir, account, 0, timeout_ms, done, ctx, wake_fd, fd,
	    errmsg);
}

int
mc_lock_is(int fd, const char *dir, const char *account)
{
	char name[STORE_FILE_NAME_SIZE];
	struct stat held, there;
	int dfd = -1, same;

	/* dir itself is checked as a lock's place is: no link followed. */
	if (fd < 0 || store_file_name(account, "lock", name, NULL) !=
	    STORE_OK || store_private_dir(dir, 0, &dfd, NULL) != STORE_OK)
		return 0;
	same = fstat(fd, &held) == 0 && fstatat(dfd, name, &there,
	    AT_SYMLINK_NOFOLLOW) == 0 && held.st_dev == there.st_dev &&
	    held.st_ino == there.st_ino;
	close(dfd);
	return same;
}

/*
 * A watch that wakes when an open of the lock file is closed: a holder's
 * release or exit (the flock goes with the last close). Through
 * /proc/self/fd, so it watches the very file held open, whatever its path
 * becomes. Returns the inotify descriptor that has it: wake_fd itself,
 * with *wd the watch to remove, or one of its own (*wd = -1) to close;
 * -1 when it cannot be made (no /proc, no inotify): the waiter then looks
 * every 10 ms.
 */
static int
watch_lock(int f, int wake_fd, int *wd)
{
	const uint32_t closed = IN_CLOSE_WRITE | IN_CLOSE_NOWRITE;
	char path[64];
	int fd;

	/* Fits: "/proc/self/fd/" and an int in 64 bytes. */
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", f);
	/*
	 * In the caller's inotify instance, when wake_fd is one (anything
	 * else refuses the watch): closing an instance waits for the
	 * kernel's SRCU grace period, a few ms on a busy machine, so a
	 * waiter with one instance returns its token that much sooner.
	 * Only as a watch of its own (IN_MASK_CREATE): one the caller has
	 * on the lock file already would be changed, and removed after.
	 */
	*wd = wake_fd >= 0 ? inotify_add_watch(wake_fd, path, closed |
	    IN_MASK_CREATE) : -1;
	if (*wd >= 0)
		return wake_fd;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -1;
	if (inotify_add_watch(fd, path, closed) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The pause between two tries, at most left_ms: until the lock file is
 * closed somewhere (lock_watch) or wake_fd is readable (what either said
 * is read and dropped). How long at most: LOCK_IDLE_MS when those two
 * are all that can end the wait (a lock watch, and no done() that could
 * come true unseen: a wake_fd or no done at all); else 10 ms with a
 * wake_fd, 5 ms without.
 */
#define LOCK_IDLE_MS 100

static void
pause_a_little(int lock_watch, int wake_fd, int unseen_done, long long left_ms)
{
	struct pollfd p[2];
	nfds_t n = 0, i;
	char buf[4096];
	long long ms;
	struct timespec ts;

	ms = lock_watch >= 0 && !unseen_done ? LOCK_IDLE_MS :
	    wake_fd >= 0 ? 10 : 5;
	if (ms > left_ms)
		ms = left_ms > 0 ? left_ms : 0;
	if (lock_watch >= 0 && lock_watch != wake_fd)
		p[n++] = (struct pollfd){ lock_watch, POLLIN, 0 };
	if (wake_fd >= 0)
		p[n++] = (struct pollfd){ wake_fd, POLLIN, 0 };
	if (n == 0) {
		ts.tv_sec = 0;
		ts.tv_nsec = (long)ms * 1000 * 1000;
		nanosleep(&ts, NULL);
		return;
	}
	if (poll(p, n, (int)ms) <= 0)
		return;
	/* Without blocking, whatever the descriptor's flags. */
	for (i = 0; i < n; i++)
		while (p[i].revents != 0 && read(p[i].fd, buf, sizeof(buf)) >
		    0 && poll(&p[i], 1, 0) > 0)
			;
}

static int
acquire(const char *dir, const char *account, int create, int timeout_ms,
    int (*done)(void *ctx), void *ctx, int wake_fd, int *fd, char **errmsg)
{
	long long deadline = mc_clock_ms() + timeout_ms;
	int f = -1, watch = -1, wd = -1, watched = 0, rc;

	*fd = -1;
	rc = open_lock_file(dir, account, create, &f, errmsg);
	if (rc != MC_OK)
		goto out;
	while (flock(f, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = mc_fail(MC_ERR_IO, errmsg, "cannot take the lock "
			    "for %s: %s", account, strerror(errno));
			goto out;
		}
		if (mc_clock_ms() >= deadline) {
			rc = mc_fail(MC_ERR_TEMP, errmsg, MC_LOCK_BUSY,
			    timeout_ms / 1000);
			goto out;
		}
		if (!watched) {
			/* Try again once watched: a release in between. */
			watched = 1;
			watch = watch_lock(f, wake_fd, &wd);
			continue;
		}
		pause_a_little(watch, wake_fd, done != NULL && wake_fd < 0,
		    deadline - mc_clock_ms());
		if (done != NULL && done(ctx)) {
			rc = MC_OK;
			goto out;
		}
	}
	*fd = f;
	f = -1;
	rc = MC_OK;
out:
	if (wd >= 0)
		(void)inotify_rm_watch(wake_fd, wd);
	else if (watch >= 0)
		close(watch);
	if (f >= 0)
		close(f);
	return rc;
}

int
mc_lock_try(const char *dir, const char *account, int *fd, char **errmsg)
{
	/* A deadline of now: one try. */
	return mc_lock_acquire_or(dir, account, 0, NULL, NULL, -1, fd, errmsg);
}

void
mc_lock_release(int fd)
{
	if (fd < 0)
		return;
	flock(fd, LOCK_UN);
	close(fd);
}
