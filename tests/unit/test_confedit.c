/*
 * Unit tests: auth/confedit - appending an [account] section: old bytes
 * kept as a prefix, duplicates and unparsable or untrusted files refused
 * and left untouched, files 0600 in 0700 directories, quoting, symbolic
 * links. Each test works in a fresh 0700 directory under $TMPDIR.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/confedit.h"
#include "auth/config.h"
#include "auth/err.h"

struct dir {
	char path[256];
};

static int
setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));
	const char *tmp = getenv("TMPDIR");

	if (d == NULL)
		return -1;
	assert_true(snprintf(d->path, sizeof(d->path), "%s/mc-confedit.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp") < (int)sizeof(d->path));
	if (mkdtemp(d->path) == NULL)
		return -1;
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	struct dir *d = *state;
	char cmd[300];

	assert_true(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path)
	    < (int)sizeof(cmd));
	if (system(cmd) != 0)
		return -1;
	free(d);
	return 0;
}

static char *
at(const struct dir *d, const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	assert_true(snprintf(buf[i], sizeof(buf[i]), "%s/%s", d->path, name)
	    < (int)sizeof(buf[i]));
	return buf[i];
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* The file's bytes, NUL-terminated; the caller frees. */
static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* Entries in dir besides . and .. (leftover temporary files show up). */
static int
count_entries(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(dh);
	while ((e = readdir(dh)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(dh);
	return n;
}

static const char *const google_pw[] = {
	"provider", "google", "auth", "password", "store", "file", NULL
};

static const char section_pw[] =
    "[account me@gmail.com]\n"
    "provider = google\n"
    "auth = password\n"
    "store = file\n";

static void
add_ok(const char *path, const char *name, const char *const *kv)
{
	char *msg = NULL;
	int rc = mc_confedit_add_account(path, name, kv, &msg);

	if (rc != MC_OK)
		fail_msg("add failed (%d): %s", rc, msg);
}

static void
add_fails(const char *path, const char *name, const char *const *kv,
    int want, const char *text)
{
	char *msg = NULL;

	assert_int_equal(mc_confedit_add_account(path, name, kv, &msg), want);
	assert_non_null(msg);
	if (strstr(msg, text) == NULL)
		fail_msg("message '%s' lacks '%s'", msg, text);
	free(msg);
}

/* A new file, in directories that do not exist yet: 0600 in 0700. */
static void
test_new_file_and_dirs(void **state)
{
	struct dir *d = *state;
	struct stat st;
	char *text;

	add_ok(at(d, "a/b/config"), "me@gmail.com", google_pw);
	assert_int_equal(stat(at(d, "a"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(at(d, "a/b"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(at(d, "a/b/config"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	text = read_text(at(d, "a/b/config"));
	assert_string_equal(text, section_pw);
	free(text);
	assert_int_equal(count_entries(at(d, "a/b")), 1);
}

/* Existing bytes, comments and odd spacing included, are a prefix. */
static void
test_existing_kept(void **state)
{
	static const char old[] =
	    "# my accounts ; keep this\n"
	    "\n"
	    "[account work]   # the office\n"
	    "client_id =   abc#def   ; trailing comment\n"
	    "provider = microsoft\n"
	    "; the end, without a newline";
	struct dir *d = *state;
	char *text, *want;
	struct stat st;

	write_text(at(d, "config"), old, 0640);
	add_ok(at(d, "config"), "me@gmail.com", google_pw);
	text = read_text(at(d, "config"));
	assert_memory_equal(text, old, strlen(old));
	assert_true(asprintf(&want, "%s\n\n%s", old, section_pw) > 0);
	assert_string_equal(text, want);
	free(want);
	free(text);
	/* The old file's mode is kept. */
	assert_int_equal(stat(at(d, "config"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(count_entries(d->path), 1);
}

/* One blank line sets the section apart; none is added to an existing one. */
static void
test_separator(void **state)
{
	static const char *const kv[] = { "provider", "google", "auth",
	    "password", NULL };
	struct dir *d = *state;
	char *text;

	write_text(at(d, "c1"), "[account a]\nprovider = google\nauth = "
	    "password\n", 0600);
	add_ok(at(d, "c1"), "b", kv);
	text = read_text(at(d, "c1"));
	assert_string_equal(text, "[account a]\nprovider = google\nauth = "
	    "password\n\n[account b]\nprovider = google\nauth = password\n");
	free(text);

	write_text(at(d, "c2"), "# only a comment\n\n", 0600);
	add_ok(at(d, "c2"), "b", kv);
	text = read_text(at(d, "c2"));
	assert_string_equal(text, "# only a comment\n\n[account b]\n"
	    "provider = google\nauth = password\n");
	free(text);

	write_text(at(d, "c3"), "", 0600);
	add_ok(at(d, "c3"), "b", kv);
	text = read_text(at(d, "c3"));
	assert_string_equal(text, "[account b]\nprovider = google\nauth = "
	    "password\n");
	free(text);
}

static void
test_duplicate_refused(void **state)
{
	struct dir *d = *state;
	struct stat before, after;
	char *text, *msg = NULL;

	write_text(at(d, "config"), section_pw, 0600);
	assert_int_equal(stat(at(d, "config"), &before), 0);
	add_fails(at(d, "config"), "me@gmail.com", google_pw, MC_ERR_CONFIG,
	    "already has [account me@gmail.com]");
	assert_int_equal(mc_confedit_check(at(d, "config"), "me@gmail.com",
	    &msg), MC_ERR_CONFIG);
	free(msg);
	assert_int_equal(stat(at(d, "config"), &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	text = read_text(at(d, "config"));
	assert_string_equal(text, section_pw);
	free(text);
	assert_int_equal(count_entries(d->path), 1);
	/* A missing file, or another name, passes the check. */
	assert_int_equal(mc_confedit_check(at(d, "nothing"), "x", &msg),
	    MC_OK);
	assert_int_equal(mc_confedit_check(at(d, "config"), "other@gmail.com",
	    &msg), MC_OK);
}

/* The same address in another case is the same mailbox. */
static void
test_duplicate_any_case(void **state)
{
	struct dir *d = *state;
	char *text;

	write_text(at(d, "config"), section_pw, 0600);
	add_fails(at(d, "config"), "Me@GMail.com", google_pw, MC_ERR_CONFIG,
	    "already has [account me@gmail.com]");
	text = read_text(at(d, "config"));
	assert_string_equal(text, section_pw);
	free(text);
}

/* A client secret is not written into a file others can read. */
static void
test_secret_needs_private_file(void **state)
{
	static const char *const kv[] = { "provider", "google", "client_id",
	    "id", "client_secret", "s3cret", NULL };
	static const char *const kv_none[] = { "provider", "google",
	    "client_id", "id", "client_secret", "", NULL };
	struct dir *d = *state;
	char *text;

	write_text(at(d, "config"), section_pw, 0644);
	add_fails(at(d, "config"), "b@gmail.com", kv, MC_ERR_CONFIG,
	    "chmod 600");
	text = read_text(at(d, "config"));
	assert_string_equal(text, section_pw);
	assert_null(strstr(text, "s3cret"));
	free(text);
	add_ok(at(d, "config"), "b@gmail.com", kv_none);
	write_text(at(d, "config"), section_pw, 0600);
	add_ok(at(d, "config"), "c@gmail.com", kv);
}

/* Adds at once from several processes all land. */
static void
test_concurrent_adds(void **state)
{
	enum { N = 12 };
	struct dir *d = *state;
	char name[64], *text;
	pid_t pid[N];
	int i, st;

	write_text(at(d, "config"), section_pw, 0600);
	for (i = 0; i < N; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			char *msg = NULL;

			assert_true(snprintf(name, sizeof(name),
			    "u%d@gmail.com", i) < (int)sizeof(name));
			_exit(mc_confedit_add_account(at(d, "config"), name,
			    google_pw, &msg) == MC_OK ? 0 : 1);
		}
	}
	for (i = 0; i < N; i++) {
		assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	text = read_text(at(d, "config"));
	for (i = 0; i < N; i++) {
		assert_true(snprintf(name, sizeof(name),
		    "[account u%d@gmail.com]\n", i) < (int)sizeof(name));
		if (strstr(text, name) == NULL)
			fail_msg("lost %s", name);
	}
	assert_int_equal(strncmp(text, section_pw, strlen(section_pw)), 0);
	free(text);
	assert_int_equal(count_entries(d->path), 1);
}

static void
test_unparsable_refused(void **state)
{
	static const char bad[] = "[account a]\nno_such_key = 1\n";
	struct dir *d = *state;
	char *text;

	write_text(at(d, "config"), bad, 0600);
	add_fails(at(d, "config"), "me@gmail.com", google_pw, MC_ERR_CONFIG,
	    ":2: unknown key 'no_such_key'");
	text = read_text(at(d, "config"));
	assert_string_equal(text, bad);
	free(text);
	assert_int_equal(count_entries(d->path), 1);
}

/* What mc_config_load refuses is refused: others may change it. */
static void
test_untrusted_refused(void **state)
{
	struct dir *d = *state;
	char *text;

	write_text(at(d, "config"), "# mine\n", 0620);
	add_fails(at(d, "config"), "me@gmail.com", google_pw, MC_ERR_CONFIG,
	    "chmod go-w");
	text = read_text(at(d, "config"));
	assert_string_equal(text, "# mine\n");
	free(text);

	assert_int_equal(mkdir(at(d, "open"), 0700), 0);
	assert_int_equal(chmod(at(d, "open"), 0777), 0);
	add_fails(at(d, "open/config"), "me@gmail.com", google_pw,
	    MC_ERR_CONFIG, "can be changed by others");
	assert_int_equal(count_entries(at(d, "open")), 0);
}

/* A section that would not resolve is not written. */
static void
test_unresolvable_refused(void **state)
{
	static const char *const kv[] = { "provider", "nosuch", NULL };
	static const char *const nl[] = { "provider", "google",
	    "client_id", "abc\ndef", NULL };
	struct dir *d = *state;
	struct stat st;

	add_fails(at(d, "config"), "x@y.org", kv, MC_ERR_CONFIG,
	    "unknown provider 'nosuch'");
	assert_int_equal(stat(at(d, "config"), &st), -1);
	add_fails(at(d, "config"), "x@y.org", nl, MC_ERR_DATA,
	    "the value of 'client_id' holds a newline");
	assert_int_equal(stat(at(d, "config"), &st), -1);
	assert_int_equal(count_entries(d->path), 0);
}

static void
expect_quote(const char *in, int section, const char *want)
{
	char *out = NULL, *msg = NULL;

	assert_int_equal(mc_confedit_quote(in, section, &out, &msg), MC_OK);
	assert_string_equal(out, want);
	free(out);
}

static void
test_quote(void **state)
{
	char *out = NULL, *msg = NULL;

	(void)state;
	expect_quote("plain", 0, "plain");
	expect_quote("abc#def", 0, "abc#def");
	expect_quote("a #b", 0, "\"a #b\"");
	expect_quote("a ;b", 1, "\"a ;b\"");
	expect_quote("#x", 0, "\"#x\"");
	expect_quote(";x", 0, "\";x\"");
	expect_quote("\"q", 0, "\"\\\"q\"");
	expect_quote("a\"b", 0, "a\"b");
	expect_quote(" lead", 0, "\" lead\"");
	expect_quote("trail ", 0, "\"trail \"");
	expect_quote("back\\slash #", 0, "\"back\\\\slash #\"");
	expect_quote("a]b", 0, "a]b");
	expect_quote("a]b", 1, "\"a]b\"");
	assert_int_equal(mc_confedit_quote("a\nb", 0, &out, &msg),
	    MC_ERR_DATA);
	assert_null(out);
	free(msg);
	msg = NULL;
	assert_int_equal(mc_confedit_quote("a\tb", 0, &out, &msg),
	    MC_ERR_DATA);
	free(msg);
	msg = NULL;
	assert_int_equal(mc_confedit_quote("\x7f", 0, &out, &msg),
	    MC_ERR_DATA);
	free(msg);
}

/* Quoted values read back as written, through the real parser. */
static void
test_quoted_roundtrip(void **state)
{
	static const char *const kv[] = { "provider", "google",
	    "client_id", "id ;x", "client_secret", "\"s #1\\", NULL };
	struct dir *d = *state;
	struct mc_config *cfg = NULL;
	struct mc_account *a = NULL;
	char *msg = NULL;

	add_ok(at(d, "config"), "we]ird@x.org", kv);
	assert_int_equal(mc_config_load(at(d, "config"), &cfg, &msg), MC_OK);
	assert_int_equal(mc_account_resolve(cfg, "we]ird@x.org", &a, &msg),
	    MC_OK);
	assert_string_equal(a->client_id, "id ;x");
	assert_string_equal(a->client_secret, "\"s #1\\");
	mc_account_free(a);
	mc_config_free(cfg);
}

/* A symbolic link: the file it leads to is rewritten; the link stays. */
static void
test_symlink_written_through(void **state)
{
	struct dir *d = *state;
	struct stat st;
	char *text;

	assert_int_equal(mkdir(at(d, "dotfiles"), 0700), 0);
	write_text(at(d, "dotfiles/mailcred"), "# linked\n", 0600);
	assert_int_equal(symlink(at(d, "dotfiles/mailcred"), at(d, "config")),
	    0);
	add_ok(at(d, "config"), "me@gmail.com", google_pw);
	assert_int_equal(lstat(at(d, "config"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	text = read_text(at(d, "dotfiles/mailcred"));
	assert_memory_equal(text, "# linked\n\n", 10);
	assert_string_equal(text + 10, section_pw);
	free(text);
	assert_int_equal(count_entries(at(d, "dotfiles")), 1);

	/* A dangling link is refused, and nothing is created. */
	assert_int_equal(symlink(at(d, "nowhere"), at(d, "dangling")), 0);
	add_fails(at(d, "dangling"), "me@gmail.com", google_pw, MC_ERR_CONFIG,
	    "symbolic link that leads nowhere");
	{
		char *msg = NULL;

		assert_int_equal(mc_confedit_check(at(d, "dangling"), "x",
		    &msg), MC_ERR_CONFIG);
		assert_non_null(strstr(msg, "leads nowhere"));
		free(msg);
	}
	assert_int_equal(lstat(at(d, "nowhere"), &st), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_file_and_dirs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_existing_kept, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_separator, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_any_case, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_secret_needs_private_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_adds, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unparsable_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_untrusted_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unresolvable_refused,
		    setup, teardown),
		cmocka_unit_test(test_quote),
		cmocka_unit_test_setup_teardown(test_quoted_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_symlink_written_through,
		    setup, teardown),
	};

	umask(077);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
