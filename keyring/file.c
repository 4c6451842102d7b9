/*
 * keyring/file.c - the file backend: one 0600 file per (account, kind) in
 * a 0700 directory the user owns, for machines without a Secret Service.
 *
 * The file name is store_file_name()'s: the account, percent-encoded, then
 * "." and the kind: "me@gmail.com.oauth2". Bytes outside [A-Za-z0-9@._+-]
 * and a leading '.' become %XX, so no name can climb out of the directory,
 * hide, or clash with the ".mailcred-tmp-" files a write renames into
 * place; a name too long for the file system ends in '~' and the account's
 * SHA-256 instead.
 *
 * The directory and the file are opened without trusting the path twice:
 * the directory once (store_private_dir: ours, 0700, not a link), the file
 * relative to it with O_NOFOLLOW, checked again on the open descriptor.
 *
 * A write goes to a ".mailcred-tmp-" file that is renamed into place. One
 * left behind by a crash still holds a secret, so each write first removes
 * those older than FILE_TMP_STALE seconds (a younger one may be another
 * writer's, between its create and its rename).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "keyring/backend.h"
#include "keyring/store.h"

#define FILE_TMP_PREFIX ".mailcred-tmp-"
#define FILE_TMP_TRIES 16
#define FILE_TMP_STALE 60	/* seconds */

struct file_store {
	char *dir;
	int nosync;	/* store_opts.nosync */
};

/*
 * The store directory: opts->dir, else $XDG_DATA_HOME/mailcred, else
 * $HOME/.local/share/mailcred (XDG: a relative XDG_DATA_HOME is ignored).
 */
static int
file_dir(const struct store_opts *opts, char **dir, char **errmsg)
{
	const char *xdg, *home;
	int n;

	*dir = NULL;
	xdg = getenv("XDG_DATA_HOME");
	home = getenv("HOME");
	if (opts->dir != NULL && opts->dir[0] != '\0') {
		*dir = strdup(opts->dir);
		n = *dir != NULL ? 0 : -1;
	} else if (xdg != NULL && xdg[0] == '/') {
		n = asprintf(dir, "%s/mailcred", xdg);
	} else if (home != NULL && home[0] == '/') {
		n = asprintf(dir, "%s/.local/share/mailcred", home);
	} else {
		return store_fail(STORE_EIO, errmsg, "cannot place the file "
		    "store: neither XDG_DATA_HOME nor HOME is an absolute path");
	}
	if (n < 0) {
		*dir = NULL;
		return STORE_ENOMEM;
	}
	return STORE_OK;
}

static int
file_open(const struct store_opts *opts, void **be, char **errmsg)
{
	struct file_store *fs = NULL;
	int rc;

	*be = NULL;
	fs = calloc(1, sizeof(*fs));
	if (fs == NULL)
		return STORE_ENOMEM;
	rc = file_dir(opts, &fs->dir, errmsg);
	if (rc != STORE_OK) {
		free(fs);
		return rc;
	}
	fs->nosync = opts->nosync;
	*be = fs;
	return STORE_OK;
}

static void
file_close(void *be)
{
	struct file_store *fs = be;

	if (fs == NULL)
		return;
	free(fs->dir);
	free(fs);
}

/*
 * Opens the secret's file name in the store directory dfd into *fdp and
 * gives its size: a regular file of ours, closed to others, not a link,
 * not larger than a secret can be. STORE_ENOTFOUND when there is none.
 */
static int
open_secret(const struct file_store *fs, int dfd, const char *name, int *fdp,
    size_t *size, char **errmsg)
{
	struct stat sb;
	int fd, rc, e;

	*fdp = -1;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT)
			rc = STORE_ENOTFOUND;
		else if (e == ELOOP)
			rc = store_fail(STORE_EPERM, errmsg, "%s/%s is a "
			    "symbolic link: remove it and store the secret "
			    "again", fs->dir, name);
		else
			rc = store_fail(e == EACCES ? STORE_EPERM : STORE_EIO,
			    errmsg, "cannot open %s/%s: %s", fs->dir, name,
			    strerror(e));
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		e = errno;
		rc = store_fail(STORE_EIO, errmsg, "cannot stat %s/%s: %s",
		    fs->dir, name, strerror(e));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = store_fail(STORE_EPERM, errmsg, "%s/%s is not a regular "
		    "file: remove it and store the secret again", fs->dir,
		    name);
		goto out;
	}
	if (sb.st_uid != geteuid()) {
		rc = store_fail(STORE_EPERM, errmsg, "%s/%s is owned by uid %u, "
		    "not by you: remove it and store the secret again",
		    fs->dir, name, (unsigned int)sb.st_uid);
		goto out;
	}
	/*
	 * Another name for the same file (a hard link made by someone who
	 * could not make a symbolic one count) is refused: what the file
	 * holds would be readable, or replaceable, elsewhere.
	 */
	if (sb.st_nlink != 1) {
		rc = store_fail(STORE_EPERM, errmsg, "%s/%s has %lu hard links: "
		    "remove it and store the secret again", fs->dir, name,
		    (unsigned long)sb.st_nlink);
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		rc = store_fail(STORE_EPERM, errmsg, "%s/%s is readable by "
		    "others: chmod 600 %s/%s", fs->dir, name, fs->dir, name);
		goto out;
	}
	if (sb.st_size > STORE_SECRET_MAX) {
		rc = store_fail(STORE_EIO, errmsg, "%s/%s is larger than %d "
		    "bytes: not a mailcred secret", fs->dir, name,
		    STORE_SECRET_MAX);
		goto out;
	}
	*size = (size_t)sb.st_size;
	*fdp = fd;
	fd = -1;
	rc = STORE_OK;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * Reads the secret from fd, whose size was size when it was opened, into
 * *secret (malloc'd, NUL-terminated): refused if the file changed size
 * meanwhile or holds a NUL byte.
 */
static int
read_secret(const struct file_store *fs, const char *name, int fd,
    size_t size, char **secret, char **errmsg)
{
	char *buf = NULL;
	size_t want, have = 0;
	ssize_t n;
	int rc = STORE_OK, e;

	/* One byte more than the size says, to notice a file that grew. */
	want = size + 1;
	buf = malloc(want + 1);
	if (buf == NULL)
		return STORE_ENOMEM;
	while (have < want) {
		n = read(fd, buf + have, want - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			rc = store_fail(STORE_EIO, errmsg, "cannot read %s/%s: "
			    "%s", fs->dir, name, strerror(e));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have == want) {
		rc = store_fail(STORE_EIO, errmsg, "%s/%s changed while it was "
		    "read: try again", fs->dir, name);
		goto out;
	}
	buf[have] = '\0';
	if (memchr(buf, '\0', have) != NULL) {
		rc = store_fail(STORE_EIO, errmsg, "%s/%s holds a NUL byte: "
		    "not a mailcred secret", fs->dir, name);
		goto out;
	}
	*secret = buf;
	buf = NULL;
out:
	if (buf != NULL) {
		store_wipe(buf, want + 1);
		free(buf);
	}
	return rc;
}

/*
 * The file name of (account, kind) into name[STORE_FILE_NAME_SIZE], and
 * the store directory, checked (created first when create), into *dfd.
 */
static int
locate(const struct file_store *fs, const char *account, const char *kind,
    int create, char *name, int *dfd, char **errmsg)
{
	int rc;

	*dfd = -1;
	rc = store_file_name(account, kind, name, errmsg);
	if (rc == STORE_OK)
		rc = store_private_dir(fs->dir, create, dfd, errmsg);
	return rc;
}

static int
file_get(void *be, const char *account, const char *kind, char **secret,
    char **errmsg)
{
	struct file_store *fs = be;
	char name[STORE_FILE_NAME_SIZE];
	size_t size = 0;
	int dfd = -1, fd = -1, rc;

	rc = locate(fs, account, kind, 0, name, &dfd, errmsg);
	if (rc != STORE_OK)
		goto out;
	rc = open_secret(fs, dfd, name, &fd, &size, errmsg);
	if (rc != STORE_OK)
		goto out;
	rc = read_secret(fs, name, fd, size, secret, errmsg);
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* Fills tmp with FILE_TMP_PREFIX and 12 random letters and digits. */
static int
tmp_name(char *tmp, size_t size)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[12];
	char tail[sizeof(rnd) + 1];
	size_t i;
	int n;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	for (i = 0; i < sizeof(rnd); i++)
		tail[i] = set[rnd[i] % (sizeof(set) - 1)];
	tail[sizeof(rnd)] = '\0';
	n = snprintf(tmp, size, "%s%s", FILE_TMP_PREFIX, tail);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return 0;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Makes a change to the directory durable; some file systems cannot. */
static int
sync_dir(const struct file_store *fs, int dfd, char **errmsg)
{
	int e;

	if (fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP) {
		e = errno;
		return store_fail(STORE_EIO, errmsg, "cannot sync %s: %s",
		    fs->dir, strerror(e));
	}
	return STORE_OK;
}

/*
 * Removes the regular files named FILE_TMP_PREFIX* in the directory dfd
 * that were last modified more than FILE_TMP_STALE seconds ago. Best
 * effort: what cannot be removed now is tried again on the next write.
 */
static void
remove_stale_tmp(int dfd)
{
	struct dirent *de;
	struct stat sb;
	time_t now;
	DIR *d;
	int fd;

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	now = time(NULL);
	for (de = readdir(d); de != NULL; de = readdir(d)) {
		if (strncmp(de->d_name, FILE_TMP_PREFIX,
		    sizeof(FILE_TMP_PREFIX) - 1) != 0)
			continue;
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(sb.st_mode) || now - sb.st_mtime <= FILE_TMP_STALE)
			continue;
		unlinkat(dfd, de->d_name, 0);
	}
	closedir(d);
}

/*
 * Creates a new temporary file in the store directory dfd, its name into
 * tmp[size], open for writing into *fdp.
 */
static int
create_tmp(const struct file_store *fs, int dfd, char *tmp, size_t size,
    int *fdp, char **errmsg)
{
	int fd = -1, e, i;

	*fdp = -1;
	for (i = 0; i < FILE_TMP_TRIES && fd < 0; i++) {
		if (tmp_name(tmp, size) != 0)
			return store_fail(STORE_EIO, errmsg, "cannot make a "
			    "temporary file name in %s", fs->dir);
		fd = openat(dfd, tmp, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY |
		    O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			e = errno;
			return store_fail(e == EACCES ? STORE_EPERM : STORE_EIO,
			    errmsg, "cannot create a file in %s: %s", fs->dir,
			    strerror(e));
		}
	}
	if (fd < 0)
		return store_fail(STORE_EIO, errmsg, "cannot create a temporary "
		    "file in %s", fs->dir);
	*fdp = fd;
	return STORE_OK;
}

static int
file_put(void *be, const char *account, const char *kind, const char *secret,
    char **errmsg)
{
	struct file_store *fs = be;
	char name[STORE_FILE_NAME_SIZE], tmp[64];
	int dfd = -1, fd = -1, tmp_made = 0, rc, e;

	rc = locate(fs, account, kind, 1, name, &dfd, errmsg);
	if (rc != STORE_OK)
		goto out;
	remove_stale_tmp(dfd);
	rc = create_tmp(fs, dfd, tmp, sizeof(tmp), &fd, errmsg);
	if (rc != STORE_OK)
		goto out;
	tmp_made = 1;
	/* Exactly 0600 whatever the umask took away. */
	if (fchmod(fd, 0600) != 0 || write_all(fd, secret, strlen(secret)) != 0 ||
	    (!fs->nosync && fsync(fd) != 0)) {
		e = errno;
		rc = store_fail(STORE_EIO, errmsg, "cannot write %s/%s: %s",
		    fs->dir, tmp, strerror(e));
		goto out;
	}
	e = close(fd) != 0 ? errno : 0;
	fd = -1;
	if (e != 0) {
		rc = store_fail(STORE_EIO, errmsg, "cannot write %s/%s: %s",
		    fs->dir, tmp, strerror(e));
		goto out;
	}
	if (renameat(dfd, tmp, dfd, name) != 0) {
		e = errno;
		rc = store_fail(STORE_EIO, errmsg, "cannot replace %s/%s: %s",
		    fs->dir, name, strerror(e));
		goto out;
	}
	tmp_made = 0;
	/* Make the rename itself durable. */
	if (!fs->nosync)
		rc = sync_dir(fs, dfd, errmsg);
out:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		unlinkat(dfd, tmp, 0);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

static int
file_del(void *be, const char *account, const char *kind, char **errmsg)
{
	struct file_store *fs = be;
	char name[STORE_FILE_NAME_SIZE];
	int dfd = -1, rc, e;

	rc = locate(fs, account, kind, 0, name, &dfd, errmsg);
	if (rc != STORE_OK)
		goto out;
	if (unlinkat(dfd, name, 0) != 0) {
		e = errno;
		if (e == ENOENT)
			rc = STORE_ENOTFOUND;
		else
			rc = store_fail(e == EACCES ? STORE_EPERM : STORE_EIO,
			    errmsg, "cannot remove %s/%s: %s", fs->dir, name,
			    strerror(e));
		goto out;
	}
	rc = sync_dir(fs, dfd, errmsg);
out:
	if (dfd >= 0)
		close(dfd);
	return rc;
}

static int
file_state_dir(void *be, char **dir, char **errmsg)
{
	struct file_store *fs = be;

	(void)errmsg;
	if (asprintf(dir, "%s/.state", fs->dir) < 0) {
		*dir = NULL;
		return STORE_ENOMEM;
	}
	return STORE_OK;
}

static int
file_ready(void *be, char **errmsg)
{
	struct file_store *fs = be;
	int dfd = -1, rc;

	rc = store_private_dir(fs->dir, 1, &dfd, errmsg);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

const struct store_ops store_file_ops = {
	.name = "file",
	.open = file_open,
	.close = file_close,
	.get = file_get,
	.put = file_put,
	.del = file_del,
	.state_dir = file_state_dir,
	.ready = file_ready,
};
