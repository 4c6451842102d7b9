/*
 * Unit tests: keyring/file - the file backend, through the store interface,
 * in a fresh mkdtemp directory per test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "keyring/store.h"
#include "tests/unit/store_expect.h"

struct fixture {
	char root[64];		/* the mkdtemp directory */
	char dir[128];		/* the store directory: root/store */
	struct store *st;
};

static void
path_in(const struct fixture *f, const char *name, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size, "%s/%s", f->dir, name);
	assert_true(n > 0 && (size_t)n < size);
}

static struct store *
open_file_store(const char *dir)
{
	struct store_opts opts = STORE_OPTS_INIT;
	struct store *st = NULL;
	char *msg = NULL;

	opts.backend = STORE_FILE;
	opts.dir = dir;
	assert_int_equal(store_open(&opts, &st, &msg), STORE_OK);
	assert_null(msg);
	assert_non_null(st);
	return st;
}

static int
setup(void **state)
{
	struct fixture *f;
	int n;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	n = snprintf(f->root, sizeof(f->root), "/tmp/mailcred-file-XXXXXX");
	if (n < 0 || (size_t)n >= sizeof(f->root) || mkdtemp(f->root) == NULL)
		return -1;
	n = snprintf(f->dir, sizeof(f->dir), "%s/store", f->root);
	if (n < 0 || (size_t)n >= sizeof(f->dir) || mkdir(f->dir, 0700) != 0)
		return -1;
	f->st = open_file_store(f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	chmod(f->dir, 0700);
	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Number of entries in dir besides "." and ".."; *tmp counts temp files. */
static int
count_entries(const char *dir, int *tmp)
{
	DIR *d;
	struct dirent *e;
	int n = 0;

	*tmp = 0;
	d = opendir(dir);
	assert_non_null(d);
	for (e = readdir(d); e != NULL; e = readdir(d)) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		if (strncmp(e->d_name, ".mailcred-tmp-", 14) == 0)
			(*tmp)++;
	}
	closedir(d);
	return n;
}

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	char path[512];
	struct stat sb;

	expect_put(f->st, "me@gmail.com", "oauth2", "{\"refresh_token\":\"1//x\"}");
	expect_get(f->st, "me@gmail.com", "oauth2", "{\"refresh_token\":\"1//x\"}");

	path_in(f, "me@gmail.com.oauth2", path, sizeof(path));
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);

	/* Kinds are separate secrets. */
	expect_put(f->st, "me@gmail.com", "password", "app-pw");
	expect_get(f->st, "me@gmail.com", "password", "app-pw");
	expect_get(f->st, "me@gmail.com", "oauth2", "{\"refresh_token\":\"1//x\"}");

	/* The empty secret is a secret. */
	expect_put(f->st, "empty@x", "password", "");
	expect_get(f->st, "empty@x", "password", "");
}

/* Items of other programs' schemas live in the Secret Service only. */
static void
test_no_foreign_items(void **state)
{
	struct fixture *f = *state;
	struct store_attr attrs[] = { { "host", "smtp.gmail.com" },
	    { "service", "smtp" } };
	char *msg = NULL;
	size_t n = 7;

	assert_int_equal(store_item_put(f->st, attrs, 2, "label", "pw", &msg),
	    STORE_EINVAL);
	assert_non_null(strstr(msg, "only the Secret Service"));
	free(msg);
	assert_int_equal(store_item_delete(f->st, attrs, 2, &n, &msg),
	    STORE_EINVAL);
	assert_int_equal(n, 0);
	free(msg);
	assert_int_equal(store_item_count(f->st, attrs, 2, &n, &msg),
	    STORE_EINVAL);
	free(msg);
	msg = NULL;
	/* Nothing was written into the directory either. */
	expect_put(f->st, "me@gmail.com", "password", "app-pw");
	expect_get(f->st, "me@gmail.com", "password", "app-pw");
	assert_null(msg);
}

static void
test_replace(void **state)
{
	struct fixture *f = *state;
	char path[512];
	struct stat before, after;
	int tmp;

	expect_put(f->st, "me@gmail.com", "oauth2", "first, and longer than the second");
	path_in(f, "me@gmail.com.oauth2", path, sizeof(path));
	assert_int_equal(stat(path, &before), 0);
	expect_put(f->st, "me@gmail.com", "oauth2", "second");
	expect_get(f->st, "me@gmail.com", "oauth2", "second");
	assert_int_equal(stat(path, &after), 0);
	/* Replaced by rename: a new file, not the old one rewritten. */
	assert_true(before.st_ino != after.st_ino);
	assert_int_equal(count_entries(f->dir, &tmp), 1);
	assert_int_equal(tmp, 0);
}

static void
test_delete(void **state)
{
	struct fixture *f = *state;
	char *msg = NULL;
	int tmp;

	expect_put(f->st, "me@gmail.com", "oauth2", "tok");
	expect_put(f->st, "me@gmail.com", "password", "pw");
	assert_int_equal(store_delete(f->st, "me@gmail.com", "oauth2", &msg),
	    STORE_OK);
	assert_null(msg);
	free(expect_get_fails(f->st, "me@gmail.com", "oauth2",
	    STORE_ENOTFOUND));
	assert_int_equal(store_delete(f->st, "me@gmail.com", "oauth2", &msg),
	    STORE_ENOTFOUND);
	free(msg);
	expect_get(f->st, "me@gmail.com", "password", "pw");
	assert_int_equal(count_entries(f->dir, &tmp), 1);
}

static void
test_not_found(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	char missing[256], *msg = NULL;
	struct stat sb;
	int n;

	free(expect_get_fails(f->st, "nobody@example.com", "oauth2",
	    STORE_ENOTFOUND));

	/* A directory that does not exist yet: nothing stored, nothing made. */
	n = snprintf(missing, sizeof(missing), "%s/a/b/mailcred", f->root);
	assert_true(n > 0 && (size_t)n < sizeof(missing));
	st = open_file_store(missing);
	free(expect_get_fails(st, "me@x", "oauth2", STORE_ENOTFOUND));
	assert_int_equal(store_delete(st, "me@x", "oauth2", &msg),
	    STORE_ENOTFOUND);
	free(msg);
	assert_int_equal(stat(missing, &sb), -1);

	/* The first put makes it, and its parents, 0700. */
	expect_put(st, "me@x", "oauth2", "tok");
	assert_int_equal(stat(missing, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	expect_get(st, "me@x", "oauth2", "tok");
	store_close(st);
}

static void
test_name_encoding(void **state)
{
	static const struct {
		const char *account;
		const char *file;
	} cases[] = {
		{ "me@gmail.com", "me@gmail.com.oauth2" },
		{ "first.last+tag@example.org", "first.last+tag@example.org.oauth2" },
		{ "../x", "%2E.%2Fx.oauth2" },
		{ "a/b", "a%2Fb.oauth2" },
		{ "a%2Fb", "a%252Fb.oauth2" },
		{ ".hidden", "%2Ehidden.oauth2" },
		{ "..", "%2E..oauth2" },
		{ "a b\\c", "a%20b%5Cc.oauth2" },
		{ "j\xc3\xb6rg@example.de", "j%C3%B6rg@example.de.oauth2" },
		{ "~root", "%7Eroot.oauth2" },
	};
	struct fixture *f = *state;
	char path[1024], secret[64];
	struct stat sb;
	size_t i;
	int n, tmp;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = snprintf(secret, sizeof(secret), "secret %zu", i);
		assert_true(n > 0 && (size_t)n < sizeof(secret));
		expect_put(f->st, cases[i].account, "oauth2", secret);
		path_in(f, cases[i].file, path, sizeof(path));
		assert_int_equal(lstat(path, &sb), 0);
	}
	/* Each reads back its own secret: no two names collided. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = snprintf(secret, sizeof(secret), "secret %zu", i);
		assert_true(n > 0 && (size_t)n < sizeof(secret));
		expect_get(f->st, cases[i].account, "oauth2", secret);
	}
	assert_int_equal(count_entries(f->dir, &tmp),
	    (int)(sizeof(cases) / sizeof(cases[0])));
	/* Nothing escaped into the parent. */
	assert_int_equal(count_entries(f->root, &tmp), 1);
}

/* Writes '~' and the hex SHA-256 of account into out[66] (65 and a NUL). */
static void
hash_tail(const char *account, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	assert_int_equal(EVP_Digest(account, strlen(account), md, &len,
	    EVP_sha256(), NULL), 1);
	assert_int_equal(len, 32);
	out[0] = '~';
	for (i = 0; i < len; i++)
		assert_int_equal(snprintf(out + 1 + 2 * i, 3, "%02x", md[i]), 2);
}

/* The name of the one file in the store directory. */
static void
only_file(const struct fixture *f, char *name, size_t size)
{
	DIR *d;
	struct dirent *e;
	int n = 0;

	d = opendir(f->dir);
	assert_non_null(d);
	for (e = readdir(d); e != NULL; e = readdir(d)) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		assert_true(strlen(e->d_name) < size);
		memcpy(name, e->d_name, strlen(e->d_name) + 1);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 1);
}

static void
test_long_names(void **state)
{
	struct fixture *f = *state;
	char account[400], name[STORE_FILE_NAME_SIZE], want[400], *msg = NULL;

	/* 248 bytes + ".oauth2" is NAME_MAX exactly: encoded as it is. */
	memset(account, 'a', 248);
	account[248] = '\0';
	expect_put(f->st, account, "oauth2", "long");
	expect_get(f->st, account, "oauth2", "long");
	only_file(f, name, sizeof(name));
	assert_int_equal(strlen(name), 255);
	assert_null(strchr(name, '~'));
	path_in(f, name, want, sizeof(want));
	assert_int_equal(unlink(want), 0);

	/* One more byte: a cut prefix, '~', the SHA-256, the kind. */
	account[248] = 'a';
	account[249] = '\0';
	expect_put(f->st, account, "oauth2", "longer");
	expect_get(f->st, account, "oauth2", "longer");
	only_file(f, name, sizeof(name));
	memset(want, 'a', 255 - 65 - 7);
	hash_tail(account, want + 255 - 65 - 7);
	memcpy(want + 255 - 7, ".oauth2", 8);
	assert_string_equal(name, want);
	assert_int_equal(store_delete(f->st, account, "oauth2", &msg),
	    STORE_OK);
	assert_null(msg);

	/* 256 bytes, the longest account any backend takes. */
	memset(account, '/', 256);
	account[256] = '\0';
	expect_put(f->st, account, "oauth2", "slashes");
	expect_get(f->st, account, "oauth2", "slashes");

	/* Longer than any backend takes. */
	memset(account, 'b', 257);
	account[257] = '\0';
	assert_int_equal(store_put(f->st, account, "oauth2", "x", &msg),
	    STORE_EINVAL);
	assert_non_null(msg);
	free(msg);
}

/* Issue 6 item 9: a valid 102-byte account encodes to 282 bytes. */
static void
test_long_utf8_account(void **state)
{
	struct fixture *f = *state;
	char account[128], name[STORE_FILE_NAME_SIZE];
	size_t n = 0;
	int i;

	for (i = 0; i < 45; i++) {
		account[n++] = (char)0xd0;	/* U+0436 CYRILLIC SMALL LETTER ZHE */
		account[n++] = (char)0xb6;
	}
	memcpy(account + n, "@example.com", 13);
	assert_int_equal(strlen(account), 102);

	expect_put(f->st, account, "oauth2", "zhe");
	expect_get(f->st, account, "oauth2", "zhe");
	expect_put(f->st, account, "oauth2", "zhe again");
	expect_get(f->st, account, "oauth2", "zhe again");
	only_file(f, name, sizeof(name));
	assert_true(strlen(name) <= 255);
	assert_int_equal(strncmp(name, "%D0%B6%D0%B6", 12), 0);
	assert_non_null(strstr(name, "~"));
	assert_non_null(strstr(name, ".oauth2"));
	free(expect_get_fails(f->st, account, "password", STORE_ENOTFOUND));
	assert_int_equal(store_delete(f->st, account, "oauth2", NULL),
	    STORE_OK);
	free(expect_get_fails(f->st, account, "oauth2", STORE_ENOTFOUND));
}

/* Cut to the same prefix, told apart by the hash. */
static void
test_long_names_distinct(void **state)
{
	struct fixture *f = *state;
	char a[300], b[300], na[STORE_FILE_NAME_SIZE], nb[STORE_FILE_NAME_SIZE];
	int tmp;

	memset(a, 'x', 250);
	memcpy(a + 250, "@a.org", 7);
	memcpy(b, a, sizeof(a));
	b[251] = 'b';
	expect_put(f->st, a, "oauth2", "secret a");
	expect_put(f->st, b, "oauth2", "secret b");
	expect_get(f->st, a, "oauth2", "secret a");
	expect_get(f->st, b, "oauth2", "secret b");
	assert_int_equal(count_entries(f->dir, &tmp), 2);

	assert_int_equal(store_file_name(a, "oauth2", na, NULL), STORE_OK);
	assert_int_equal(store_file_name(b, "oauth2", nb, NULL), STORE_OK);
	assert_string_not_equal(na, nb);
	assert_int_equal(strlen(na), 255);
	assert_int_equal(memcmp(na, nb, 255 - 65 - 7), 0);
}

static void
test_file_name(void **state)
{
	static const struct {
		const char *account;
		const char *name;
	} same[] = {
		/* Today's names: files stored before keep being found. */
		{ "me@gmail.com", "me@gmail.com.oauth2" },
		{ "../x", "%2E.%2Fx.oauth2" },
		{ ".hidden", "%2Ehidden.oauth2" },
		{ "a%2Fb", "a%252Fb.oauth2" },
		{ "~root", "%7Eroot.oauth2" },
		{ "j\xc3\xb6rg@example.de", "j%C3%B6rg@example.de.oauth2" },
	};
	char name[STORE_FILE_NAME_SIZE], account[300], want[300], kind[200];
	char *msg = (char *)"sentinel";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(store_file_name(same[i].account, "oauth2",
		    name, &msg), STORE_OK);
		assert_null(msg);
		assert_string_equal(name, same[i].name);
	}

	/*
	 * "x" and 99 '/' encode to 298 bytes. 183 are left for the prefix:
	 * "x" and 60 whole %2F (181), not a piece of the 61st.
	 */
	account[0] = 'x';
	memset(account + 1, '/', 99);
	account[100] = '\0';
	assert_int_equal(store_file_name(account, "oauth2", name, NULL),
	    STORE_OK);
	assert_int_equal(strlen(name), 181 + 65 + 7);
	assert_int_equal(name[0], 'x');
	for (i = 0; i < 60; i++)
		assert_int_equal(memcmp(name + 1 + 3 * i, "%2F", 3), 0);
	hash_tail(account, want);
	memcpy(want + 65, ".oauth2", 8);
	assert_string_equal(name + 181, want);

	/* A hashed name never starts with '.', even when the cut is empty. */
	memset(kind, 'k', 189);
	kind[189] = '\0';
	memset(account, '.', 256);
	account[256] = '\0';
	assert_int_equal(store_file_name(account, kind, name, NULL), STORE_OK);
	assert_int_equal(name[0], '~');
	assert_int_equal(strlen(name), 255);

	/* What store_put refuses, with a message. */
	assert_int_equal(store_file_name("a\nb", "oauth2", name, &msg),
	    STORE_EINVAL);
	assert_non_null(msg);
	assert_string_equal(name, "");
	free(msg);
	assert_int_equal(store_file_name("me@x", "Bad", name, &msg),
	    STORE_EINVAL);
	assert_non_null(msg);
	free(msg);
	assert_int_equal(store_file_name(NULL, "oauth2", name, &msg),
	    STORE_EINVAL);
	free(msg);
	/* A kind that leaves no room for the hash. */
	kind[189] = 'k';
	kind[190] = '\0';
	assert_int_equal(store_file_name("me@x", kind, name, &msg),
	    STORE_EINVAL);
	assert_non_null(strstr(msg, "kind"));
	free(msg);
}

static void
test_file_readable_by_others(void **state)
{
	struct fixture *f = *state;
	char path[512], want[1200], *msg;
	int n;

	expect_put(f->st, "me@gmail.com", "oauth2", "tok");
	path_in(f, "me@gmail.com.oauth2", path, sizeof(path));
	assert_int_equal(chmod(path, 0644), 0);
	msg = expect_get_fails(f->st, "me@gmail.com", "oauth2", STORE_EPERM);
	assert_non_null(msg);
	n = snprintf(want, sizeof(want), "%s is readable by others: chmod 600 "
	    "%s", path, path);
	assert_true(n > 0 && (size_t)n < sizeof(want));
	assert_string_equal(msg, want);
	free(msg);

	assert_int_equal(chmod(path, 0640), 0);
	free(expect_get_fails(f->st, "me@gmail.com", "oauth2", STORE_EPERM));
	assert_int_equal(chmod(path, 0600), 0);
	expect_get(f->st, "me@gmail.com", "oauth2", "tok");
}

static void
test_dir_open_to_others(void **state)
{
	struct fixture *f = *state;
	char *msg;

	expect_put(f->st, "me@gmail.com", "oauth2", "tok");
	assert_int_equal(chmod(f->dir, 0755), 0);
	msg = expect_get_fails(f->st, "me@gmail.com", "oauth2", STORE_EPERM);
	assert_non_null(msg);
	assert_non_null(strstr(msg, f->dir));
	assert_non_null(strstr(msg, "chmod 700"));
	free(msg);
	assert_int_equal(store_put(f->st, "me@gmail.com", "oauth2", "new",
	    &msg), STORE_EPERM);
	assert_non_null(msg);
	free(msg);
	assert_int_equal(store_delete(f->st, "me@gmail.com", "oauth2", &msg),
	    STORE_EPERM);
	free(msg);
	assert_int_equal(chmod(f->dir, 0700), 0);
	expect_get(f->st, "me@gmail.com", "oauth2", "tok");
}

static void
test_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char path[512], target[256], *msg, *secret;
	FILE *fp;
	int n;

	/* A 0600 file of ours outside the store, linked in. */
	n = snprintf(target, sizeof(target), "%s/elsewhere", f->root);
	assert_true(n > 0 && (size_t)n < sizeof(target));
	fp = fopen(target, "w");
	assert_non_null(fp);
	fputs("not for the store", fp);
	fclose(fp);
	assert_int_equal(chmod(target, 0600), 0);
	path_in(f, "me@gmail.com.oauth2", path, sizeof(path));
	assert_int_equal(symlink(target, path), 0);

	msg = expect_get_fails(f->st, "me@gmail.com", "oauth2", STORE_EPERM);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "symbolic link"));
	free(msg);

	/* A put replaces the link itself and leaves the target alone. */
	expect_put(f->st, "me@gmail.com", "oauth2", "tok");
	expect_get(f->st, "me@gmail.com", "oauth2", "tok");
	fp = fopen(target, "r");
	assert_non_null(fp);
	secret = calloc(1, 64);
	assert_non_null(secret);
	assert_non_null(fgets(secret, 64, fp));
	fclose(fp);
	assert_string_equal(secret, "not for the store");
	free(secret);
}

static void
test_not_a_regular_file(void **state)
{
	struct fixture *f = *state;
	char path[512], *msg;

	/* A FIFO must be refused, not block the read. */
	path_in(f, "me@gmail.com.oauth2", path, sizeof(path));
	assert_int_equal(mkfifo(path, 0600), 0);
	msg = expect_get_fails(f->st, "me@gmail.com", "oauth2", STORE_EPERM);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "not a regular file"));
	free(msg);
}

static void
test_atomic_no_temp_files(void **state)
{
	struct fixture *f = *state;
	char path[512], secret[32], *msg = NULL;
	struct stat sb;
	mode_t old;
	int i, n, tmp;

	for (i = 0; i < 20; i++) {
		n = snprintf(secret, sizeof(secret), "token-%d", i);
		assert_true(n > 0 && (size_t)n < sizeof(secret));
		expect_put(f->st, "me@gmail.com", "oauth2", secret);
	}
	expect_get(f->st, "me@gmail.com", "oauth2", "token-19");
	assert_int_equal(count_entries(f->dir, &tmp), 1);
	assert_int_equal(tmp, 0);

	/* The mode does not depend on the umask. */
	old = umask(0277);
	expect_put(f->st, "me@gmail.com", "oauth2", "umask");
	umask(old);
	path_in(f, "me@gmail.com.oauth2", path, sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);

	/* A failed write leaves no temp file behind: the target is a directory. */
	path_in(f, "dir@x.oauth2", path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(store_put(f->st, "dir@x", "oauth2", "x", &msg),
	    STORE_EIO);
	assert_non_null(msg);
	free(msg);
	assert_int_equal(count_entries(f->dir, &tmp), 2);
	assert_int_equal(tmp, 0);
}

static void
test_invalid_names(void **state)
{
	static const char *const bad_kinds[] = {
		"", "OAuth2", "oauth2/x", "a.b", "../x", "a b", "k\n",
	};
	static const char *const bad_accounts[] = {
		"", "a\nb", "a\rb", "tab\there", "del\x7f", "\xff\xfe",
		"\xc0\xaf", "\xed\xa0\x80",
	};
	struct fixture *f = *state;
	char *msg = NULL, kind[300];
	size_t i;
	int tmp;

	for (i = 0; i < sizeof(bad_kinds) / sizeof(bad_kinds[0]); i++) {
		assert_int_equal(store_put(f->st, "me@x", bad_kinds[i], "x",
		    &msg), STORE_EINVAL);
		assert_non_null(msg);
		free(msg);
		free(expect_get_fails(f->st, "me@x", bad_kinds[i],
		    STORE_EINVAL));
		assert_int_equal(store_delete(f->st, "me@x", bad_kinds[i],
		    &msg), STORE_EINVAL);
		free(msg);
	}
	for (i = 0; i < sizeof(bad_accounts) / sizeof(bad_accounts[0]); i++) {
		assert_int_equal(store_put(f->st, bad_accounts[i], "oauth2",
		    "x", &msg), STORE_EINVAL);
		assert_non_null(msg);
		free(msg);
	}
	memset(kind, 'k', 257);
	kind[257] = '\0';
	assert_int_equal(store_put(f->st, "me@x", kind, "x", &msg),
	    STORE_EINVAL);
	free(msg);
	assert_int_equal(store_put(f->st, NULL, "oauth2", "x", &msg),
	    STORE_EINVAL);
	free(msg);
	assert_int_equal(store_put(f->st, "me@x", NULL, "x", &msg),
	    STORE_EINVAL);
	free(msg);
	assert_int_equal(store_put(f->st, "me@x", "oauth2", NULL, &msg),
	    STORE_EINVAL);
	free(msg);
	assert_int_equal(count_entries(f->dir, &tmp), 0);
	/* The valid kinds. */
	expect_put(f->st, "me@x", "app_password-2", "x");
}

static void
test_size_limits(void **state)
{
	struct fixture *f = *state;
	char path[512], *big, *msg = NULL;
	FILE *fp;
	size_t max = 1024 * 1024;

	big = malloc(max + 2);
	assert_non_null(big);
	memset(big, 's', max + 1);
	big[max + 1] = '\0';
	assert_int_equal(store_put(f->st, "me@x", "oauth2", big, &msg),
	    STORE_EINVAL);
	free(msg);
	big[max] = '\0';
	expect_put(f->st, "me@x", "oauth2", big);
	expect_get(f->st, "me@x", "oauth2", big);

	/* A file grown past the cap by someone else is not read. */
	path_in(f, "me@x.oauth2", path, sizeof(path));
	fp = fopen(path, "a");
	assert_non_null(fp);
	fputs("more", fp);
	fclose(fp);
	free(expect_get_fails(f->st, "me@x", "oauth2", STORE_EIO));
	free(big);

	/* Neither is one holding a NUL byte. */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fwrite("a\0b", 1, 3, fp);
	fclose(fp);
	free(expect_get_fails(f->st, "me@x", "oauth2", STORE_EIO));
}

static void
test_default_dirs(void **state)
{
	struct fixture *f = *state;
	struct store_opts opts = STORE_OPTS_INIT;
	struct store *st = NULL;
	char xdg[256], home[256], want[320], *msg = NULL;
	char *old_xdg = NULL, *old_home = NULL;
	struct stat sb;
	int n;

	if (getenv("XDG_DATA_HOME") != NULL)
		old_xdg = strdup(getenv("XDG_DATA_HOME"));
	if (getenv("HOME") != NULL)
		old_home = strdup(getenv("HOME"));
	opts.backend = STORE_FILE;

	n = snprintf(xdg, sizeof(xdg), "%s/xdg", f->root);
	assert_true(n > 0 && (size_t)n < sizeof(xdg));
	setenv("XDG_DATA_HOME", xdg, 1);
	assert_int_equal(store_open(&opts, &st, &msg), STORE_OK);
	expect_put(st, "me@x", "oauth2", "xdg");
	store_close(st);
	n = snprintf(want, sizeof(want), "%s/mailcred/me@x.oauth2", xdg);
	assert_true(n > 0 && (size_t)n < sizeof(want));
	assert_int_equal(stat(want, &sb), 0);
	n = snprintf(want, sizeof(want), "%s/mailcred", xdg);
	assert_true(n > 0 && (size_t)n < sizeof(want));
	assert_int_equal(stat(want, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);

	/* A relative XDG_DATA_HOME is ignored: HOME decides. */
	n = snprintf(home, sizeof(home), "%s/home", f->root);
	assert_true(n > 0 && (size_t)n < sizeof(home));
	setenv("XDG_DATA_HOME", "relative/path", 1);
	setenv("HOME", home, 1);
	assert_int_equal(store_open(&opts, &st, &msg), STORE_OK);
	expect_put(st, "me@x", "oauth2", "home");
	store_close(st);
	n = snprintf(want, sizeof(want), "%s/.local/share/mailcred/me@x.oauth2",
	    home);
	assert_true(n > 0 && (size_t)n < sizeof(want));
	assert_int_equal(stat(want, &sb), 0);

	unsetenv("XDG_DATA_HOME");
	unsetenv("HOME");
	assert_int_equal(store_open(&opts, &st, &msg), STORE_EIO);
	assert_null(st);
	assert_non_null(msg);
	free(msg);

	if (old_xdg != NULL)
		setenv("XDG_DATA_HOME", old_xdg, 1);
	if (old_home != NULL)
		setenv("HOME", old_home, 1);
	free(old_xdg);
	free(old_home);
}

/* Creates dir/name (0600, holding text) last modified age seconds ago. */
static void
make_aged(const char *dir, const char *name, const char *text, int age)
{
	struct timespec ts[2];
	char path[512];
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static int
exists_in(const char *dir, const char *name)
{
	char path[512];
	struct stat sb;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	return lstat(path, &sb) == 0;
}

/* A crash between create and rename left a secret in a temporary file. */
static void
test_stale_tmp_removed(void **state)
{
	struct fixture *f = *state;
	char path[512];

	make_aged(f->dir, ".mailcred-tmp-crashed0001", "old secret", 3600);
	make_aged(f->dir, ".mailcred-tmp-crashed0002", "old secret", 61);
	make_aged(f->dir, ".mailcred-tmp-writing0003", "in flight", 0);
	make_aged(f->dir, ".mailcred-tmp-writing0004", "in flight", 30);
	make_aged(f->dir, "old@example.com.oauth2", "kept", 3600);
	make_aged(f->dir, ".mailcred-tmpfoo", "not ours", 3600);
	path_in(f, ".mailcred-tmp-adirectory", path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), 0);

	/* Reading removes nothing. */
	expect_get(f->st, "old@example.com", "oauth2", "kept");
	assert_true(exists_in(f->dir, ".mailcred-tmp-crashed0001"));

	expect_put(f->st, "me@gmail.com", "oauth2", "tok");
	assert_false(exists_in(f->dir, ".mailcred-tmp-crashed0001"));
	assert_false(exists_in(f->dir, ".mailcred-tmp-crashed0002"));
	/* A concurrent writer's may be in use: never a fresh one. */
	assert_true(exists_in(f->dir, ".mailcred-tmp-writing0003"));
	assert_true(exists_in(f->dir, ".mailcred-tmp-writing0004"));
	assert_true(exists_in(f->dir, ".mailcred-tmpfoo"));
	assert_true(exists_in(f->dir, ".mailcred-tmp-adirectory"));
	expect_get(f->st, "old@example.com", "oauth2", "kept");
	expect_get(f->st, "me@gmail.com", "oauth2", "tok");
}

static void
test_private_dir(void **state)
{
	struct fixture *f = *state;
	char path[256], link[256], file[256], slash[260], *msg = NULL;
	struct stat sb;
	mode_t old;
	int dfd = 7, n;

	n = snprintf(path, sizeof(path), "%s/p/q/locks", f->root);
	assert_true(n > 0 && (size_t)n < sizeof(path));

	/* Missing, and not to be made. */
	assert_int_equal(store_private_dir(path, 0, &dfd, &msg),
	    STORE_ENOTFOUND);
	assert_int_equal(dfd, -1);
	assert_null(msg);
	assert_int_equal(stat(path, &sb), -1);

	/* Made with its parents, exactly 0700 whatever the umask. */
	old = umask(0277);
	assert_int_equal(store_private_dir(path, 1, &dfd, &msg), STORE_OK);
	umask(old);
	assert_null(msg);
	assert_true(dfd >= 0);
	assert_int_equal(fstat(dfd, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_true((fcntl(dfd, F_GETFD) & FD_CLOEXEC) != 0);
	close(dfd);
	assert_int_equal(store_private_dir(path, 0, &dfd, &msg), STORE_OK);
	close(dfd);

	/* Open to the group: refused with the fix, even with create. */
	assert_int_equal(chmod(path, 0750), 0);
	assert_int_equal(store_private_dir(path, 1, &dfd, &msg), STORE_EPERM);
	assert_int_equal(dfd, -1);
	assert_non_null(msg);
	n = snprintf(link, sizeof(link), "%s is accessible by others: "
	    "chmod 700 %s", path, path);
	assert_true(n > 0 && (size_t)n < sizeof(link));
	assert_string_equal(msg, link);
	free(msg);
	msg = NULL;
	assert_int_equal(chmod(path, 0700), 0);

	/* Someone else's (root can hand it over to try). */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(store_private_dir(path, 0, &dfd, &msg),
		    STORE_EPERM);
		assert_non_null(strstr(msg, "chown"));
		free(msg);
		msg = NULL;
		assert_int_equal(chown(path, 0, 0), 0);
	}

	/* A link as the last component: refused, also as "link/". */
	n = snprintf(link, sizeof(link), "%s/link", f->root);
	assert_true(n > 0 && (size_t)n < sizeof(link));
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(store_private_dir(link, 0, &dfd, &msg), STORE_EPERM);
	assert_non_null(strstr(msg, "symbolic link"));
	free(msg);
	msg = NULL;
	n = snprintf(slash, sizeof(slash), "%s//", link);
	assert_true(n > 0 && (size_t)n < sizeof(slash));
	assert_int_equal(store_private_dir(slash, 1, &dfd, &msg), STORE_EPERM);
	assert_non_null(strstr(msg, "symbolic link"));
	free(msg);
	msg = NULL;
	/* A dangling one is not followed to make its target. */
	assert_int_equal(unlink(link), 0);
	n = snprintf(file, sizeof(file), "%s/target", f->root);
	assert_true(n > 0 && (size_t)n < sizeof(file));
	assert_int_equal(symlink(file, link), 0);
	assert_int_equal(store_private_dir(link, 1, &dfd, &msg), STORE_EPERM);
	free(msg);
	msg = NULL;
	assert_int_equal(lstat(file, &sb), -1);

	/* Not a directory. */
	make_aged(f->root, "plain", "x", 0);
	n = snprintf(file, sizeof(file), "%s/plain", f->root);
	assert_true(n > 0 && (size_t)n < sizeof(file));
	/* Permanent, with the fix: not a "try again". */
	assert_int_equal(store_private_dir(file, 1, &dfd, &msg), STORE_EPERM);
	assert_non_null(strstr(msg, "is not a directory: move it away"));
	free(msg);
	msg = NULL;

	assert_int_equal(store_private_dir(NULL, 1, &dfd, &msg), STORE_EINVAL);
	free(msg);
	msg = NULL;
	assert_int_equal(store_private_dir("", 1, &dfd, &msg), STORE_EINVAL);
	free(msg);
}

/* The store directory itself may not be a link to somewhere else. */
static void
test_store_dir_is_link(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	char link[256], *msg = NULL;
	int n;

	expect_put(f->st, "me@gmail.com", "oauth2", "tok");
	n = snprintf(link, sizeof(link), "%s/link", f->root);
	assert_true(n > 0 && (size_t)n < sizeof(link));
	assert_int_equal(symlink(f->dir, link), 0);
	st = open_file_store(link);
	msg = expect_get_fails(st, "me@gmail.com", "oauth2", STORE_EPERM);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "symbolic link"));
	free(msg);
	assert_int_equal(store_put(st, "me@gmail.com", "oauth2", "new", &msg),
	    STORE_EPERM);
	free(msg);
	assert_int_equal(store_delete(st, "me@gmail.com", "oauth2", &msg),
	    STORE_EPERM);
	free(msg);
	store_close(st);
	expect_get(f->st, "me@gmail.com", "oauth2", "tok");
}

static void
test_misc(void **state)
{
	struct store_opts opts = STORE_OPTS_INIT;
	struct store *st = (struct store *)&opts;
	char *msg = NULL;

	(void)state;
	assert_string_equal(store_backend_name(STORE_KEYRING), "keyring");
	assert_string_equal(store_backend_name(STORE_FILE), "file");
	store_secret_free(NULL);
	store_close(NULL);
	opts.backend = (enum store_backend)7;
	assert_int_equal(store_open(&opts, &st, &msg), STORE_EINVAL);
	assert_null(st);
	assert_non_null(msg);
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_foreign_items, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_encoding, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_names, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_utf8_account, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_names_distinct, setup,
		    teardown),
		cmocka_unit_test(test_file_name),
		cmocka_unit_test_setup_teardown(test_file_readable_by_others,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_open_to_others, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_not_a_regular_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_atomic_no_temp_files,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_names, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_size_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_default_dirs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stale_tmp_removed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_private_dir, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_store_dir_is_link, setup,
		    teardown),
		cmocka_unit_test(test_misc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
