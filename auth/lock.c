/* auth/lock.c - per-account flock(2). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/err.h"
#include "auth/lock.h"

char *
mc_name_encode(const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, j = 0, len = strlen(name);
	char *out;

	out = malloc(len * 3 + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '@' || c == '_' ||
		    c == '+' || c == '-' || (c == '.' && i > 0)) {
			out[j++] = (char)c;
		} else {
			out[j++] = '%';
			out[j++] = hex[c >> 4];
			out[j++] = hex[c & 15];
		}
	}
	out[j] = '\0';
	return out;
}

/* mkdir -p for the last one or two levels, the last one 0700. */
static int
make_dir(const char *dir)
{
	char *parent, *slash;
	int rc = 0;

	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	parent = strdup(dir);
	if (parent == NULL)
		return -1;
	slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent) {
		*slash = '\0';
		if (make_dir(parent) != 0)
			rc = -1;
	}
	free(parent);
	if (rc == 0 && mkdir(dir, 0700) != 0 && errno != EEXIST)
		rc = -1;
	return rc;
}

int
mc_lock_path(const char *account, char **path, char **errmsg)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	const char *cache = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char *dir = NULL, *enc = NULL;
	int n, rc;

	*path = NULL;
	if (run != NULL && run[0] == '/')
		n = asprintf(&dir, "%s/mailcred", run);
	else if (cache != NULL && cache[0] == '/')
		n = asprintf(&dir, "%s/mailcred", cache);
	else if (home != NULL && home[0] == '/')
		n = asprintf(&dir, "%s/.cache/mailcred", home);
	else
		return mc_fail(MC_ERR_IO, errmsg, "no place for a lock file: "
		    "set XDG_RUNTIME_DIR or HOME");
	if (n < 0)
		return MC_ERR_NOMEM;
	if (make_dir(dir) != 0) {
		rc = mc_fail(MC_ERR_IO, errmsg, "cannot create %s: %s", dir,
		    strerror(errno));
		goto out;
	}
	enc = mc_name_encode(account);
	if (enc == NULL || asprintf(path, "%s/%s.lock", dir, enc) < 0) {
		*path = NULL;
		rc = MC_ERR_NOMEM;
		goto out;
	}
	rc = MC_OK;
out:
	free(dir);
	free(enc);
	return rc;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
mc_lock_acquire(const char *account, int timeout_ms, int *fd, char **errmsg)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	long long deadline = now_ms() + timeout_ms;
	char *path = NULL;
	int f = -1, rc;

	*fd = -1;
	rc = mc_lock_path(account, &path, errmsg);
	if (rc != MC_OK)
		return rc;
	f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f < 0) {
		rc = mc_fail(MC_ERR_IO, errmsg, "cannot open the lock file "
		    "%s: %s", path, strerror(errno));
		goto out;
	}
	while (flock(f, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = mc_fail(MC_ERR_IO, errmsg, "cannot lock %s: %s",
			    path, strerror(errno));
			goto out;
		}
		if (now_ms() >= deadline) {
			rc = mc_fail(MC_ERR_TEMP, errmsg, "another mailcred "
			    "process has held the lock for %d s (%s): try "
			    "again", timeout_ms / 1000, path);
			goto out;
		}
		nanosleep(&pause, NULL);
	}
	*fd = f;
	f = -1;
	rc = MC_OK;
out:
	if (f >= 0)
		close(f);
	free(path);
	return rc;
}

void
mc_lock_release(int fd)
{
	if (fd < 0)
		return;
	flock(fd, LOCK_UN);
	close(fd);
}
