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
#include <unistd.h>

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

static void
test_long_names(void **state)
{
	struct fixture *f = *state;
	char account[400], *msg = NULL;

	/* 248 bytes + ".oauth2" is NAME_MAX exactly. */
	memset(account, 'a', 248);
	account[248] = '\0';
	expect_put(f->st, account, "oauth2", "long");
	expect_get(f->st, account, "oauth2", "long");

	account[248] = 'a';
	account[249] = '\0';
	assert_int_equal(store_put(f->st, account, "oauth2", "x", &msg),
	    STORE_EINVAL);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "too long"));
	free(msg);
	msg = expect_get_fails(f->st, account, "oauth2", STORE_EINVAL);
	free(msg);

	/* 100 '/' encode to 300 bytes. */
	memset(account, '/', 100);
	account[100] = '\0';
	assert_int_equal(store_put(f->st, account, "oauth2", "x", &msg),
	    STORE_EINVAL);
	free(msg);

	/* Longer than any backend takes. */
	memset(account, 'b', 257);
	account[257] = '\0';
	assert_int_equal(store_put(f->st, account, "oauth2", "x", &msg),
	    STORE_EINVAL);
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
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_encoding, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_names, setup,
		    teardown),
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
		cmocka_unit_test(test_misc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
