/* auth/confedit.c - appends an [account NAME] section to the config file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/confedit.h"
#include "auth/config.h"
#include "auth/err.h"
#include "auth/secmem.h"

#define CONFEDIT_MAX_SIZE	(1024 * 1024)

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int
mc_confedit_quote(const char *value, int section_name, char **out,
    char **errmsg)
{
	size_t len = strlen(value), i, extra = 0;
	int need = 0;
	char *q, *w;

	*out = NULL;
	for (i = 0; i < len; i++) {
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return mc_fail(MC_ERR_DATA, errmsg, "a value with a "
			    "newline or another control character cannot be "
			    "written to the configuration");
		if (value[i] == '"' || value[i] == '\\')
			extra++;
		/* A '#' or ';' after a blank would start a comment. */
		if ((value[i] == '#' || value[i] == ';') && i > 0 &&
		    is_blank(value[i - 1]))
			need = 1;
		if (section_name && value[i] == ']')
			need = 1;
	}
	if (len > 0 && (value[0] == '"' || value[0] == '#' ||
	    value[0] == ';' || is_blank(value[0]) || is_blank(value[len - 1])))
		need = 1;
	if (!need) {
		*out = strdup(value);
		return *out != NULL ? MC_OK : MC_ERR_NOMEM;
	}
	q = malloc(len + extra + 3);
	if (q == NULL)
		return MC_ERR_NOMEM;
	w = q;
	*w++ = '"';
	for (i = 0; i < len; i++) {
		if (value[i] == '"' || value[i] == '\\')
			*w++ = '\\';
		*w++ = value[i];
	}
	*w++ = '"';
	*w = '\0';
	*out = q;
	return MC_OK;
}

/*
 * The file to rewrite: path itself, or where the symbolic link path leads
 * (a dangling one is refused). *exists says whether it is there.
 */
static int
find_target(const char *path, char **target, int *exists, char **errmsg)
{
	struct stat st;

	*target = NULL;
	*exists = 0;
	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			return mc_fail(MC_ERR_CONFIG, errmsg, "cannot check "
			    "%s: %s", path, strerror(errno));
		*target = strdup(path);
		return *target != NULL ? MC_OK : MC_ERR_NOMEM;
	}
	*exists = 1;
	if (!S_ISLNK(st.st_mode)) {
		*target = strdup(path);
		return *target != NULL ? MC_OK : MC_ERR_NOMEM;
	}
	*target = realpath(path, NULL);
	if (*target == NULL)
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s is a symbolic link "
		    "that leads nowhere (%s): create the file it names, or "
		    "remove the link", path, strerror(errno));
	return MC_OK;
}

/* Creates dir and its missing parents, 0700. */
static int
make_dirs(const char *path, const char *dir, char **errmsg)
{
	char *p = strdup(dir), *s;
	int rc = MC_OK;

	if (p == NULL)
		return MC_ERR_NOMEM;
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		if (s[-1] != '/') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0700) != 0 && errno != EEXIST) {
				rc = mc_fail(MC_ERR_IO, errmsg, "%s: cannot "
				    "create the directory %s: %s", path, p,
				    strerror(errno));
				goto out;
			}
			*s = c;
		}
		if (*s == '\0')
			break;
	}
out:
	free(p);
	return rc;
}

/* Reads the file at target (opened without following a link). */
static int
read_file(const char *target, struct stat *st, char **buf, size_t *len,
    char **errmsg)
{
	ssize_t n;
	int fd, rc;

	*buf = NULL;
	*len = 0;
	fd = open(target, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	if (fd < 0)
		return mc_fail(MC_ERR_CONFIG, errmsg, "cannot open %s: %s",
		    target, strerror(errno));
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) ||
	    st->st_size > CONFEDIT_MAX_SIZE) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg, "%s is not a configuration "
		    "file mailcred can edit", target);
		goto out;
	}
	*buf = malloc((size_t)st->st_size + 1);
	if (*buf == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	while (*len < (size_t)st->st_size) {
		n = read(fd, *buf + *len, (size_t)st->st_size - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mc_fail(MC_ERR_CONFIG, errmsg, "cannot read %s: %s",
			    target, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	if (*len != (size_t)st->st_size) {
		rc = mc_fail(MC_ERR_TEMP, errmsg, "%s changed while it was "
		    "read: run the command again", target);
		goto out;
	}
	rc = MC_OK;
out:
	if (rc != MC_OK && *buf != NULL) {
		mc_wipe(*buf, *len);
		free(*buf);
		*buf = NULL;
		*len = 0;
	}
	close(fd);
	return rc;
}

/*
 * The account of cfg that name duplicates (the same name in any case: an
 * address is one mailbox however it is written), or NULL.
 */
static const char *
has_account(const struct mc_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < mc_config_naccounts(cfg); i++)
		if (strcasecmp(mc_config_account_name(cfg, i), name) == 0)
			return mc_config_account_name(cfg, i);
	return NULL;
}

static int
duplicate(const char *path, const char *name, char **errmsg)
{
	return mc_fail(MC_ERR_CONFIG, errmsg, "%s already has [account %s]: "
	    "change it there, or remove that section first to add it anew",
	    path, name);
}

int
mc_confedit_check(const char *path, const char *name, char **errmsg)
{
	struct mc_config *cfg = NULL;
	char *target = NULL;
	int exists, rc;

	rc = find_target(path, &target, &exists, errmsg);
	free(target);
	if (rc != MC_OK || !exists)
		return rc;
	if ((rc = mc_config_load(path, &cfg, errmsg)) != MC_OK)
		return rc;
	rc = has_account(cfg, name) != NULL ? duplicate(path,
	    has_account(cfg, name), errmsg) : MC_OK;
	mc_config_free(cfg);
	return rc;
}

/* Appends n bytes to the buffer *b (length *len, room *cap). */
static int
put(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
	size_t want = *len + n + 1, ncap;
	char *nb;

	if (want > *cap) {
		ncap = want * 2;
		nb = malloc(ncap);
		if (nb == NULL)
			return MC_ERR_NOMEM;
		if (*b != NULL) {
			memcpy(nb, *b, *len);
			mc_wipe(*b, *cap);
			free(*b);
		}
		*b = nb;
		*cap = ncap;
	}
	memcpy(*b + *len, s, n);
	*len += n;
	(*b)[*len] = '\0';
	return MC_OK;
}

static int
puts_str(char **b, size_t *len, size_t *cap, const char *s)
{
	return put(b, len, cap, s, strlen(s));
}

/* Does text end in a blank line (only blanks and a '\r' on it)? */
static int
ends_blank_line(const char *text, size_t len)
{
	size_t i;

	if (len == 0 || text[len - 1] != '\n')
		return 0;
	for (i = len - 1; i > 0; i--) {
		if (text[i - 1] == '\n')
			return 1;
		if (!is_blank(text[i - 1]) && text[i - 1] != '\r')
			return 0;
	}
	return 1;
}

/* The old text, a separator, and the new section, in *out (wipe it). */
static int
build_text(const char *old, size_t oldlen, const char *name,
    const char *const *kv, char **out, size_t *outlen, char **errmsg)
{
	char *b = NULL, *q = NULL;
	size_t len = 0, cap = 0, i;
	int rc;

	*out = NULL;
	*outlen = 0;
	if ((rc = put(&b, &len, &cap, old != NULL ? old : "", oldlen)) !=
	    MC_OK)
		goto out;
	if (oldlen > 0 && old[oldlen - 1] != '\n' &&
	    (rc = puts_str(&b, &len, &cap, "\n")) != MC_OK)
		goto out;
	if (oldlen > 0 && !ends_blank_line(b, len) &&
	    (rc = puts_str(&b, &len, &cap, "\n")) != MC_OK)
		goto out;
	if ((rc = mc_confedit_quote(name, 1, &q, errmsg)) != MC_OK ||
	    (rc = puts_str(&b, &len, &cap, "[account ")) != MC_OK ||
	    (rc = puts_str(&b, &len, &cap, q)) != MC_OK ||
	    (rc = puts_str(&b, &len, &cap, "]\n")) != MC_OK)
		goto out;
	for (i = 0; kv[i] != NULL && kv[i + 1] != NULL; i += 2) {
		mc_free_secret(q);
		q = NULL;
		if ((rc = mc_confedit_quote(kv[i + 1], 0, &q, NULL)) !=
		    MC_OK) {
			rc = mc_fail(rc, errmsg, "the value of '%s' holds a "
			    "newline or another control character: it cannot "
			    "be written to the configuration", kv[i]);
			goto out;
		}
		if ((rc = puts_str(&b, &len, &cap, kv[i])) != MC_OK ||
		    (rc = puts_str(&b, &len, &cap, " = ")) != MC_OK ||
		    (rc = puts_str(&b, &len, &cap, q)) != MC_OK ||
		    (rc = puts_str(&b, &len, &cap, "\n")) != MC_OK)
			goto out;
	}
	*out = b;
	*outlen = len;
	b = NULL;
	rc = MC_OK;
out:
	mc_free_secret(q);
	if (b != NULL) {
		mc_wipe(b, cap);
		free(b);
	}
	return rc;
}

/* The new text must parse and the new account resolve. */
static int
check_text(const char *path, const char *text, size_t len, const char *name,
    char **errmsg)
{
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	int rc;

	rc = mc_config_parse(path, text, len, &cfg, errmsg);
	if (rc == MC_OK)
		rc = mc_account_resolve(cfg, name, &acct, errmsg);
	mc_account_free(acct);
	mc_config_free(cfg);
	return rc;
}

/* Writes all of buf to fd. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A new 0600 file next to target: *fd and its malloc'd *tmp name. */
static int
make_temp(const char *target, const char *dir, int *fd, char **tmp,
    char **errmsg)
{
	const char *base = strrchr(target, '/');
	unsigned int r;
	int i, n;

	*fd = -1;
	*tmp = NULL;
	base = base != NULL ? base + 1 : target;
	for (i = 0; i < 100; i++) {
		if (getentropy(&r, sizeof(r)) != 0)
			r = (unsigned int)getpid() * 2654435761u + (unsigned int)i;
		n = asprintf(tmp, "%s/.%s.%08x.tmp", dir, base, r);
		if (n < 0) {
			*tmp = NULL;
			return MC_ERR_NOMEM;
		}
		*fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (*fd >= 0)
			return MC_OK;
		free(*tmp);
		*tmp = NULL;
		if (errno != EEXIST)
			break;
	}
	return mc_fail(MC_ERR_IO, errmsg, "cannot create a file in %s: %s",
	    dir, strerror(errno));
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * Writes text to a temporary file in dir and puts it in target's place:
 * over the old file (old not NULL: unless it changed since), or as a new
 * file (unless one appeared meanwhile).
 */
static int
replace_file(const char *target, const char *dir, const struct stat *old,
    const char *text, size_t len, char **errmsg)
{
	struct stat now;
	sigset_t block, saved;
	char *tmp = NULL;
	int fd = -1, dfd = -1, rc;

	/*
	 * The temporary file holds the whole configuration (client secrets
	 * too): a Ctrl-C must not leave it behind. The signals wait until it
	 * is renamed or removed.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &block, &saved);
	if ((rc = make_temp(target, dir, &fd, &tmp, errmsg)) != MC_OK)
		goto out;
	if ((old != NULL && fchmod(fd, old->st_mode & 0777) != 0) ||
	    write_all(fd, text, len) != 0 || fsync(fd) != 0) {
		rc = mc_fail(MC_ERR_IO, errmsg, "cannot write %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = mc_fail(MC_ERR_IO, errmsg, "cannot write %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	fd = -1;
	if (old != NULL) {
		if (lstat(target, &now) != 0 || !same_file(old, &now)) {
			rc = mc_fail(MC_ERR_TEMP, errmsg, "%s changed while "
			    "the account was being added: nothing was "
			    "written; run the command again", target);
			goto out;
		}
		if (rename(tmp, target) != 0) {
			rc = mc_fail(MC_ERR_IO, errmsg, "cannot replace %s: %s",
			    target, strerror(errno));
			goto out;
		}
	} else {
		/* link(2) does not replace a file someone just made. */
		if (link(tmp, target) != 0) {
			rc = errno == EEXIST ? mc_fail(MC_ERR_TEMP, errmsg,
			    "%s appeared while the account was being added: "
			    "nothing was written; run the command again",
			    target) : mc_fail(MC_ERR_IO, errmsg, "cannot "
			    "create %s: %s", target, strerror(errno));
			goto out;
		}
		unlink(tmp);
	}
	free(tmp);
	tmp = NULL;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) != 0 && errno != EINVAL) {
			rc = mc_fail(MC_ERR_IO, errmsg, "%s was written, but "
			    "its directory could not be synced: %s", target,
			    strerror(errno));
			goto out;
		}
	}
	rc = MC_OK;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return rc;
}

/*
 * Takes the lock that serializes writers of the files in dir: flock(2)
 * on the directory itself, so nothing is added to it. Waits up to 10 s.
 * A directory we may write but not read cannot be opened to lock: then
 * *fd is -1 and the add goes on without the lock (the same-file check
 * still stands), as it could before there was one.
 */
static int
lock_dir(const char *dir, int *fd, char **errmsg)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	int i;

	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0 && errno == EACCES)
		return MC_OK;
	if (*fd < 0)
		return mc_fail(MC_ERR_IO, errmsg, "cannot open %s: %s", dir,
		    strerror(errno));
	for (i = 0; i < 200; i++) {
		if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
			return MC_OK;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		nanosleep(&pause, NULL);
	}
	i = errno;
	close(*fd);
	*fd = -1;
	return mc_fail(i == EWOULDBLOCK ? MC_ERR_TEMP : MC_ERR_IO, errmsg,
	    "cannot lock %s to add the account (%s): run the command again",
	    dir, i == EWOULDBLOCK ? "another mailcred add holds it" :
	    strerror(i));
}

/* Whether kv sets a secret (client_secret) to something. */
static int
kv_has_secret(const char *const *kv)
{
	size_t i;

	for (i = 0; kv != NULL && kv[i] != NULL && kv[i + 1] != NULL; i += 2)
		if (strcmp(kv[i], "client_secret") == 0 && kv[i + 1][0] != '\0')
			return 1;
	return 0;
}

int
mc_confedit_add_account(const char *path, const char *name,
    const char *const *kv, char **errmsg)
{
	struct mc_config *cfg = NULL;
	struct stat st;
	char *target = NULL, *dir = NULL, *old = NULL, *text = NULL;
	const char *dup;
	size_t oldlen = 0, len = 0;
	int exists, lockfd = -1, rc;

	if ((rc = find_target(path, &target, &exists, errmsg)) != MC_OK)
		goto out;
	dir = mc_path_dir(target);
	if (dir == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if (!exists && (rc = make_dirs(path, dir, errmsg)) != MC_OK)
		goto out;
	/* From here to the rename, one writer at a time; look again. */
	if ((rc = lock_dir(dir, &lockfd, errmsg)) != MC_OK)
		goto out;
	free(target);
	target = NULL;
	if ((rc = find_target(path, &target, &exists, errmsg)) != MC_OK)
		goto out;
	free(dir);
	dir = mc_path_dir(target);
	if (dir == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if (exists) {
		/* What mc_config_load refuses, this refuses too. */
		if ((rc = mc_config_load(path, &cfg, errmsg)) != MC_OK ||
		    (rc = read_file(target, &st, &old, &oldlen, errmsg)) !=
		    MC_OK)
			goto out;
		mc_config_free(cfg);
		cfg = NULL;
		if (st.st_uid != geteuid()) {
			rc = mc_fail(MC_ERR_CONFIG, errmsg, "%s belongs to uid "
			    "%u, not to you: add the section by hand as its "
			    "owner", path, (unsigned int)st.st_uid);
			goto out;
		}
		/* What was read is what the section is added to. */
		if ((rc = mc_config_parse(path, old, oldlen, &cfg, errmsg)) !=
		    MC_OK)
			goto out;
		if ((dup = has_account(cfg, name)) != NULL) {
			rc = duplicate(path, dup, errmsg);
			goto out;
		}
		if ((st.st_mode & 077) != 0 && kv_has_secret(kv)) {
			rc = mc_fail(MC_ERR_CONFIG, errmsg, "%s can be read by "
			    "others and the new section holds a client secret: "
			    "run 'chmod 600 %s', then add the account again",
			    path, path);
			goto out;
		}
	} else if ((rc = make_dirs(path, dir, errmsg)) != MC_OK) {
		goto out;
	}
	if ((rc = mc_config_check_dir(path, dir, errmsg)) != MC_OK ||
	    (rc = build_text(old, oldlen, name, kv, &text, &len, errmsg)) !=
	    MC_OK ||
	    (rc = check_text(path, text, len, name, errmsg)) != MC_OK)
		goto out;
	rc = replace_file(target, dir, exists ? &st : NULL, text, len,
	    errmsg);
out:
	if (lockfd >= 0)
		close(lockfd);	/* and with it the lock */
	mc_config_free(cfg);
	if (old != NULL) {
		mc_wipe(old, oldlen);
		free(old);
	}
	if (text != NULL) {
		mc_wipe(text, len);
		free(text);
	}
	free(target);
	free(dir);
	return rc;
}
