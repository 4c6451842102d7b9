/*
 * keyring/file.c - the file backend: one 0600 file per (account, kind) in
 * a 0700 directory the user owns, for machines without a Secret Service.
 *
 * The file name is the account, percent-encoded, then "." and the kind:
 * "me@gmail.com.oauth2". Bytes outside [A-Za-z0-9@._+-] and a leading '.'
 * become %XX, so no name can climb out of the directory, hide, or clash
 * with the ".mailcred-tmp-" files a write renames into place.
 *
 * The directory and the file are opened without trusting the path twice:
 * the directory once (and checked), the file relative to it with
 * O_NOFOLLOW, checked again on the open descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "keyring/backend.h"
#include "keyring/store.h"

#define FILE_TMP_PREFIX ".mailcred-tmp-"
#define FILE_TMP_TRIES 16

struct file_store {
	char *dir;
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

static int
keep_byte(unsigned char c, size_t pos)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	if (c == '.')
		return pos > 0;
	return c == '@' || c == '_' || c == '+' || c == '-';
}

/*
 * Writes the file name for (account, kind) into name[NAME_MAX + 1].
 * STORE_EINVAL when the encoded name would be longer than NAME_MAX.
 */
static int
file_name(const char *account, const char *kind, char *name, char **errmsg)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t n = 0, klen, need;

	klen = strlen(kind);
	for (p = (const unsigned char *)account; *p != '\0'; p++) {
		need = keep_byte(*p, n) ? 1 : 3;
		if (n + need + 1 + klen > NAME_MAX)
			goto toolong;
		if (need == 1) {
			name[n++] = (char)*p;
		} else {
			name[n++] = '%';
			name[n++] = hex[*p >> 4];
			name[n++] = hex[*p & 0x0f];
		}
	}
	if (n + 1 + klen > NAME_MAX)
		goto toolong;
	name[n++] = '.';
	memcpy(name + n, kind, klen + 1);
	return STORE_OK;
 toolong:
	return store_fail(STORE_EINVAL, errmsg, "the account name is too long "
	    "for the file store (at most %d bytes once encoded with its kind): "
	    "use store = keyring", NAME_MAX);
}

/* mkdir(path, 0700); an existing one is fine. *created says which. */
static int
make_one(const char *path, int *created, char **errmsg)
{
	int e;

	*created = 0;
	if (mkdir(path, 0700) == 0) {
		*created = 1;
		return STORE_OK;
	}
	e = errno;
	if (e == EEXIST)
		return STORE_OK;
	return store_fail(e == EACCES ? STORE_EPERM : STORE_EIO, errmsg,
	    "cannot create the directory %s: %s", path, strerror(e));
}

/* mkdir -p: the store directory and any missing parent, each 0700. */
static int
make_dirs(const char *dir, char **errmsg)
{
	char *path = NULL, *p;
	int rc = STORE_OK, created = 0, e;

	path = strdup(dir);
	if (path == NULL)
		return STORE_ENOMEM;
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		rc = make_one(path, &created, errmsg);
		*p = '/';
		if (rc != STORE_OK)
			goto out;
	}
	rc = make_one(path, &created, errmsg);
	if (rc != STORE_OK)
		goto out;
	/* mkdir obeys the umask; the store directory must be exactly 0700. */
	if (created && chmod(dir, 0700) != 0) {
		e = errno;
		rc = store_fail(STORE_EIO, errmsg, "cannot chmod 700 %s: %s",
		    dir, strerror(e));
	}
 out:
	free(path);
	return rc;
}

/*
 * Opens the store directory into *dfd after checking that it is ours and
 * closed to others. Without create, a missing directory is STORE_ENOTFOUND.
 */
static int
open_dir(const struct file_store *fs, int create, int *dfd, char **errmsg)
{
	struct stat sb;
	int fd = -1, rc = STORE_OK, e;

	*dfd = -1;
	if (create) {
		rc = make_dirs(fs->dir, errmsg);
		if (rc != STORE_OK)
			goto out;
	}
	fd = open(fs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT && !create)
			rc = STORE_ENOTFOUND;
		else
			rc = store_fail(e == EACCES ? STORE_EPERM : STORE_EIO,
			    errmsg, "cannot open the directory %s: %s", fs->dir,
			    strerror(e));
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		e = errno;
		rc = store_fail(STORE_EIO, errmsg, "cannot stat %s: %s",
		    fs->dir, strerror(e));
		goto out;
	}
	if (sb.st_uid != geteuid()) {
		rc = store_fail(STORE_EPERM, errmsg, "%s is owned by uid %u, "
		    "not by you: chown it to yourself or use another directory",
		    fs->dir, (unsigned int)sb.st_uid);
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		rc = store_fail(STORE_EPERM, errmsg, "%s is accessible by "
		    "others: chmod 700 %s", fs->dir, fs->dir);
		goto out;
	}
	*dfd = fd;
	fd = -1;
 out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int
file_get(void *be, const char *account, const char *kind, char **secret,
    char **errmsg)
{
	struct file_store *fs = be;
	char name[NAME_MAX + 1];
	struct stat sb;
	char *buf = NULL;
	size_t want = 0, have = 0;
	ssize_t n;
	int dfd = -1, fd = -1, rc, e;

	rc = file_name(account, kind, name, errmsg);
	if (rc != STORE_OK)
		goto out;
	rc = open_dir(fs, 0, &dfd, errmsg);
	if (rc != STORE_OK)
		goto out;
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

	/* One byte more than the size says, to notice a file that grew. */
	want = (size_t)sb.st_size + 1;
	buf = malloc(want + 1);
	if (buf == NULL) {
		rc = STORE_ENOMEM;
		goto out;
	}
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

static int
file_put(void *be, const char *account, const char *kind, const char *secret,
    char **errmsg)
{
	struct file_store *fs = be;
	char name[NAME_MAX + 1], tmp[64];
	int dfd = -1, fd = -1, tmp_made = 0, rc, e, i;

	rc = file_name(account, kind, name, errmsg);
	if (rc != STORE_OK)
		goto out;
	rc = open_dir(fs, 1, &dfd, errmsg);
	if (rc != STORE_OK)
		goto out;

	for (i = 0; i < FILE_TMP_TRIES && fd < 0; i++) {
		if (tmp_name(tmp, sizeof(tmp)) != 0) {
			rc = store_fail(STORE_EIO, errmsg, "cannot make a "
			    "temporary file name in %s", fs->dir);
			goto out;
		}
		fd = openat(dfd, tmp, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY |
		    O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			e = errno;
			rc = store_fail(e == EACCES ? STORE_EPERM : STORE_EIO,
			    errmsg, "cannot create a file in %s: %s", fs->dir,
			    strerror(e));
			goto out;
		}
	}
	if (fd < 0) {
		rc = store_fail(STORE_EIO, errmsg, "cannot create a temporary "
		    "file in %s", fs->dir);
		goto out;
	}
	tmp_made = 1;
	/* Exactly 0600 whatever the umask took away. */
	if (fchmod(fd, 0600) != 0 || write_all(fd, secret, strlen(secret)) != 0 ||
	    fsync(fd) != 0) {
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
	char name[NAME_MAX + 1];
	int dfd = -1, rc, e;

	rc = file_name(account, kind, name, errmsg);
	if (rc != STORE_OK)
		goto out;
	rc = open_dir(fs, 0, &dfd, errmsg);
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

const struct store_ops store_file_ops = {
	.name = "file",
	.open = file_open,
	.close = file_close,
	.get = file_get,
	.put = file_put,
	.del = file_del,
};
