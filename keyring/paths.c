/*
 * keyring/paths.c - the file names and the private directories of the file
 * store, public so that files kept beside the secrets (auth/'s lock and
 * recovery files) are named and checked the same way (see store.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auth/crypto_dl.h"
#include "auth/err.h"
#include "keyring/backend.h"
#include "keyring/store.h"

_Static_assert(STORE_FILE_NAME_SIZE == NAME_MAX + 1,
    "STORE_FILE_NAME_SIZE must be NAME_MAX + 1");

/* '~' and 64 hex digits: what replaces the cut end of a long name. */
#define NAME_HASH_LEN (1 + 2 * 32)

/* 1 if the byte at position pos of an account stays as it is in a name. */
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

/* Length of the percent-encoding of account. */
static size_t
encoded_len(const char *account)
{
	size_t i, n = 0;

	for (i = 0; account[i] != '\0'; i++)
		n += keep_byte((unsigned char)account[i], i) ? 1 : 3;
	return n;
}

/*
 * Writes the percent-encoding of account into out, as many whole bytes of
 * it as fit in max characters (no NUL); returns the length written.
 */
static size_t
encode_prefix(const char *account, char *out, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	size_t i, n = 0;

	for (i = 0; account[i] != '\0'; i++) {
		c = (unsigned char)account[i];
		if (keep_byte(c, i)) {
			if (n + 1 > max)
				break;
			out[n++] = (char)c;
		} else {
			if (n + 3 > max)
				break;
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 0x0f];
		}
	}
	return n;
}

/* Writes '~' and the lower-case hex SHA-256 of account: NAME_HASH_LEN. */
static int
hash_suffix(const char *account, char *out, char **errmsg)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char *why = NULL;

	if (mc_crypto_load(&why) != MC_OK) {
		store_fail(STORE_EIO, errmsg, "cannot compute the SHA-256 of "
		    "the account name: %s", why != NULL ? why : "no libcrypto");
		free(why);
		return STORE_EIO;
	}
	if (EVP_Digest(account, strlen(account), md, &mdlen, EVP_sha256(),
	    NULL) != 1 || mdlen != 32)
		return store_fail(STORE_ENOMEM, errmsg, "cannot compute the "
		    "SHA-256 of the account name");
	out[0] = '~';
	for (i = 0; i < mdlen; i++) {
		out[1 + 2 * i] = hex[md[i] >> 4];
		out[2 + 2 * i] = hex[md[i] & 0x0f];
	}
	return STORE_OK;
}

int
store_file_name(const char *account, const char *kind, char *name,
    char **errmsg)
{
	size_t n, klen;
	int rc;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (name == NULL)
		return STORE_EINVAL;
	name[0] = '\0';
	rc = store_check_names(account, kind, errmsg);
	if (rc != STORE_OK)
		return rc;
	klen = strlen(kind);
	if (NAME_HASH_LEN + 1 + klen > NAME_MAX)
		return store_fail(STORE_EINVAL, errmsg, "the secret's kind is "
		    "too long for a file name (at most %d bytes)",
		    NAME_MAX - NAME_HASH_LEN - 1);

	if (encoded_len(account) + 1 + klen <= NAME_MAX) {
		n = encode_prefix(account, name, NAME_MAX);
	} else {
		n = encode_prefix(account, name,
		    NAME_MAX - NAME_HASH_LEN - 1 - klen);
		rc = hash_suffix(account, name + n, errmsg);
		if (rc != STORE_OK) {
			name[0] = '\0';
			return rc;
		}
		n += NAME_HASH_LEN;
	}
	name[n++] = '.';
	memcpy(name + n, kind, klen + 1);
	return STORE_OK;
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
	return store_fail(e == EACCES || e == EROFS ? STORE_EPERM : STORE_EIO,
	    errmsg, "cannot create the directory %s: %s: make its parent "
	    "writable (a systemd unit may need ReadWritePaths=%s)", path,
	    strerror(e), path);
}

/* mkdir -p: the directory and any missing parent, the last one 0700. */
static int
make_dirs(char *dir, char **errmsg)
{
	char *p;
	int rc = STORE_OK, created = 0, e;

	for (p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		rc = make_one(dir, &created, errmsg);
		*p = '/';
		if (rc != STORE_OK)
			return rc;
	}
	rc = make_one(dir, &created, errmsg);
	if (rc != STORE_OK)
		return rc;
	/* mkdir obeys the umask; the directory must be exactly 0700. */
	if (created && chmod(dir, 0700) != 0) {
		e = errno;
		return store_fail(STORE_EIO, errmsg, "cannot chmod 700 %s: %s",
		    dir, strerror(e));
	}
	return STORE_OK;
}

/* Why dir could not be opened: a link, not a directory, missing, ... */
static int
open_failed(const char *dir, int e, int create, char **errmsg)
{
	struct stat sb;

	if ((e == ENOTDIR || e == ELOOP) && lstat(dir, &sb) == 0 &&
	    S_ISLNK(sb.st_mode))
		return store_fail(STORE_EPERM, errmsg, "%s is a symbolic "
		    "link: use the directory it points to, or replace the "
		    "link with a directory (mkdir -m 700 %s)", dir, dir);
	if (e == ENOENT && !create)
		return STORE_ENOTFOUND;
	if (e == ENOTDIR)
		return store_fail(STORE_EPERM, errmsg, "%s is not a directory: "
		    "move it away, and mailcred makes the directory it needs",
		    dir);
	return store_fail(e == EACCES ? STORE_EPERM : STORE_EIO, errmsg,
	    "cannot open the directory %s: %s", dir, strerror(e));
}

/* Ours, and closed to group and others. */
static int
check_private(int fd, const char *dir, char **errmsg)
{
	struct stat sb;
	int e;

	if (fstat(fd, &sb) != 0) {
		e = errno;
		return store_fail(STORE_EIO, errmsg, "cannot stat %s: %s", dir,
		    strerror(e));
	}
	if (sb.st_uid != geteuid())
		return store_fail(STORE_EPERM, errmsg, "%s is owned by uid %u, "
		    "not by you: chown it to yourself or use another directory",
		    dir, (unsigned int)sb.st_uid);
	if ((sb.st_mode & 077) != 0)
		return store_fail(STORE_EPERM, errmsg, "%s is accessible by "
		    "others: chmod 700 %s", dir, dir);
	return STORE_OK;
}

int
store_private_dir(const char *path, int create, int *dfd, char **errmsg)
{
	char *dir = NULL;
	size_t len;
	int fd = -1, rc;

	if (dfd != NULL)
		*dfd = -1;
	if (errmsg != NULL)
		*errmsg = NULL;
	if (path == NULL || path[0] == '\0' || dfd == NULL)
		return store_fail(STORE_EINVAL, errmsg, "no directory given");

	/* "dir/" would follow a link named dir: drop trailing slashes. */
	dir = strdup(path);
	if (dir == NULL) {
		rc = STORE_ENOMEM;
		goto out;
	}
	len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = '\0';

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/*
	 * One open(2) where it is (the rule); else made as needed, and
	 * whatever stands in the way is named as make_dirs() names it.
	 */
	if (fd < 0 && create) {
		rc = make_dirs(dir, errmsg);
		if (rc != STORE_OK)
			goto out;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		rc = open_failed(dir, errno, create, errmsg);
		goto out;
	}
	rc = check_private(fd, dir, errmsg);
	if (rc != STORE_OK)
		goto out;
	*dfd = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

int
store_user_state_dir(char **dir, char **errmsg)
{
	struct passwd *pw;

	*dir = NULL;
	pw = getpwuid(geteuid());
	if (pw == NULL || pw->pw_dir == NULL || pw->pw_dir[0] != '/')
		return store_fail(STORE_EIO, errmsg, "uid %u has no home "
		    "directory in the password database, so the keyring's "
		    "lock files have no place: use store = file",
		    (unsigned int)geteuid());
	if (asprintf(dir, "%s/.local/state/mailcred",
	    strcmp(pw->pw_dir, "/") == 0 ? "" : pw->pw_dir) < 0) {
		*dir = NULL;
		return STORE_ENOMEM;
	}
	return STORE_OK;
}
