/* auth/lock.c - per-account flock(2) in the store's state directory. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

/* Opens (creating) account's lock file, checked to be a file of ours. */
static int
open_lock_file(const char *dir, const char *account, int *fd, char **errmsg)
{
	char name[STORE_FILE_NAME_SIZE];
	char *msg = NULL;
	struct stat sb;
	int dfd = -1, f = -1, serr, rc;

	*fd = -1;
	serr = store_file_name(account, "lock", name, &msg);
	if (serr == STORE_OK)
		serr = store_private_dir(dir, 1, &dfd, &msg);
	if (serr != STORE_OK) {
		rc = state_error(serr, msg, errmsg);
		goto out;
	}
	f = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC, 0600);
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


int
mc_lock_acquire(const char *dir, const char *account, int timeout_ms, int *fd,
    char **errmsg)
{
	return mc_lock_acquire_or(dir, account, timeout_ms, NULL, NULL, -1, fd,
	    errmsg);
}

/*
 * The pause between two tries: until wake_fd is readable (what it said
 * is read and dropped), at most 10 ms; without one, 5 ms.
 */
static void
pause_a_little(int wake_fd)
{
	struct timespec pause = { 0, 5 * 1000 * 1000 };
	struct pollfd p = { wake_fd, POLLIN, 0 };
	char buf[4096];

	if (wake_fd < 0) {
		nanosleep(&pause, NULL);
		return;
	}
	if (poll(&p, 1, 10) > 0)
		while (read(wake_fd, buf, sizeof(buf)) > 0)
			;
}

int
mc_lock_acquire_or(const char *dir, const char *account, int timeout_ms,
    int (*done)(void *ctx), void *ctx, int wake_fd, int *fd, char **errmsg)
{
	long long deadline = mc_clock_ms() + timeout_ms;
	int f = -1, rc;

	*fd = -1;
	rc = open_lock_file(dir, account, &f, errmsg);
	if (rc != MC_OK)
		goto out;
	while (flock(f, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = mc_fail(MC_ERR_IO, errmsg, "cannot take the lock "
			    "for %s: %s", account, strerror(errno));
			goto out;
		}
		if (mc_clock_ms() >= deadline) {
			rc = mc_fail(MC_ERR_TEMP, errmsg, "another mailcred "
			    "process has been refreshing this account's token "
			    "for %d s: try again", timeout_ms / 1000);
			goto out;
		}
		pause_a_little(wake_fd);
		if (done != NULL && done(ctx)) {
			rc = MC_OK;
			goto out;
		}
	}
	*fd = f;
	f = -1;
	rc = MC_OK;
out:
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
