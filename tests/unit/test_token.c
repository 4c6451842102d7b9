/*
 * Unit tests: auth/token and auth/lock - cache policy, the per-account
 * lock, single-flight refresh and what is kept in the store, over the file
 * store in a private directory. Token endpoints point at a closed port, so
 * any unexpected refresh shows up as a network error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/clock.h"
#include "auth/err.h"
#include "auth/lock.h"
#include "auth/secmem.h"
#include "auth/tcache.h"
#include "auth/token.h"

static char tmpdir[] = "/tmp/mc-token-XXXXXX";
static char statedir[128];

static struct mc_account account = {
	.name = "me@example.org", .user = "me@example.org",
	.client_id = "cid", .token_endpoint = "http://127.0.0.1:1/token",
	.store = STORE_FILE, .cache = MC_CACHE_STORE, .timeout = 2,
};

/* The same account with the runtime cache ($XDG_RUNTIME_DIR = tmpdir). */
static struct mc_account racct = {
	.name = "rt@example.org", .user = "rt@example.org",
	.client_id = "cid", .token_endpoint = "http://127.0.0.1:1/token",
	.store = STORE_FILE, .cache = MC_CACHE_RUNTIME, .timeout = 2,
};

static const struct mc_http_opts http = { 2, NULL, NULL, NULL };

static int
setup(void **state)
{
	char sub[64];

	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	setenv("XDG_RUNTIME_DIR", tmpdir, 1);
	assert_true(snprintf(sub, sizeof(sub), "%s/data", tmpdir)
	    < (int)sizeof(sub));
	setenv("XDG_DATA_HOME", sub, 1);
	assert_true(snprintf(statedir, sizeof(statedir),
	    "%s/data/mailcred/.state", tmpdir) < (int)sizeof(statedir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	assert_true(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir)
	    < (int)sizeof(cmd));
	return system(cmd) == 0 ? 0 : -1;
}

static void
put_set_for(const struct mc_account *a, const char *at, const char *rt,
    long long expires_at)
{
	struct mc_token_set ts = { (char *)at, (char *)rt, "Bearer", "mail",
	    expires_at, 0 };
	struct store *st = NULL;
	char *blob = NULL;

	assert_int_equal(mc_token_set_serialize(&ts, &blob), MC_OK);
	assert_int_equal(mc_store_open(a, 0, &st, NULL), MC_OK);
	assert_int_equal(store_put(st, a->name, MC_KIND_OAUTH2, blob, NULL),
	    STORE_OK);
	store_close(st);
	mc_free_secret(blob);
}

static void
put_set(const char *at, const char *rt, long long expires_at)
{
	put_set_for(&account, at, rt, expires_at);
}

static void
get_set(struct mc_token_set *ts)
{
	assert_int_equal(mc_token_load(&account, 0, ts, NULL), MC_OK);
}

static void
test_usable(void **state)
{
	struct mc_token_set ts = { "AT", NULL, NULL, NULL, 1000, 0 };

	(void)state;
	assert_true(mc_token_usable(&ts, 900, 60));
	assert_true(mc_token_usable(&ts, 939, 60));
	assert_false(mc_token_usable(&ts, 940, 60));
	assert_true(mc_token_usable(&ts, 999, 0));
	/* At its expiry a token is dead: a lifetime of 0 is never valid. */
	assert_false(mc_token_usable(&ts, 1000, 0));
	assert_false(mc_token_usable(&ts, 1001, 0));
	ts.expires_at = 0;
	assert_false(mc_token_usable(&ts, 0, 0));
	ts.expires_at = 1000;
	ts.access_token = NULL;
	assert_false(mc_token_usable(&ts, 0, 0));
}

/*
 * The state directory (locks, recovery files) is a function of the store:
 * for the keyring, HOME, XDG_RUNTIME_DIR and the XDG dirs change nothing
 * (issue 6.3); the file store's is beside its files.
 */
static void
test_state_dir_is_the_stores(void **state)
{
	struct store_opts so = STORE_OPTS_INIT;
	struct passwd *pw = getpwuid(geteuid());
	struct store *st = NULL;
	char *a = NULL, *b = NULL, want[512], *home = NULL, *xdg = NULL;

	(void)state;
	assert_non_null(pw);
	assert_true(snprintf(want, sizeof(want), "%s/.local/state/mailcred",
	    strcmp(pw->pw_dir, "/") == 0 ? "" : pw->pw_dir)
	    < (int)sizeof(want));
	home = mc_strdup(getenv("HOME"));
	xdg = mc_strdup(getenv("XDG_DATA_HOME"));
	assert_int_equal(store_open(&so, &st, NULL), STORE_OK);
	setenv("HOME", "/nonexistent/a", 1);
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(store_state_dir(st, &a, NULL), STORE_OK);
	setenv("HOME", "/nonexistent/b", 1);
	setenv("XDG_RUNTIME_DIR", tmpdir, 1);
	setenv("XDG_STATE_HOME", tmpdir, 1);
	setenv("XDG_CACHE_HOME", tmpdir, 1);
	assert_int_equal(store_state_dir(st, &b, NULL), STORE_OK);
	assert_string_equal(a, b);
	assert_string_equal(a, want);
	free(a);
	free(b);
	store_close(st);
	if (home != NULL)
		setenv("HOME", home, 1);
	free(home);
	/* The file store's: beside its files. */
	setenv("XDG_DATA_HOME", xdg, 1);
	so.backend = STORE_FILE;
	assert_int_equal(store_open(&so, &st, NULL), STORE_OK);
	assert_int_equal(store_state_dir(st, &a, NULL), STORE_OK);
	assert_string_equal(a, statedir);
	free(a);
	free(xdg);
	store_close(st);
}

/* The lock file is in the state directory, and that directory is checked. */
static void
test_lock_location_checked(void **state)
{
	char path[256];
	struct stat sb;
	char *msg = NULL;
	int fd = -1;

	(void)state;
	assert_int_equal(mc_lock_acquire(statedir, account.name, 100, &fd, NULL), MC_OK);
	mc_lock_release(fd);
	assert_true(snprintf(path, sizeof(path),
	    "%s/%s.lock", statedir, account.name) < (int)sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(statedir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	/* A state directory others can enter is refused, with the fix. */
	assert_int_equal(chmod(statedir, 0755), 0);
	assert_int_equal(mc_lock_acquire(statedir, account.name, 100, &fd, &msg),
	    MC_ERR_STORE_PERM);
	assert_non_null(strstr(msg, "chmod 700"));
	free(msg);
	assert_int_equal(chmod(statedir, 0700), 0);
	/* A valid account whose encoded name is too long for a file name. */
	assert_int_equal(mc_lock_acquire(statedir, "\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6"
	    "\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6"
	    "\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6"
	    "\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6"
	    "\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6"
	    "\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6\xd0\xb6"
	    "@example.com", 100, &fd, NULL), MC_OK);
	mc_lock_release(fd);
}

/*
 * mc_lock_is(): the held lock is the lock file in dir whatever the
 * spelling of dir, but not through a symbolic link (which no lock may be
 * taken through), and not another account's or another directory's.
 * mc_lock_acquire_existing() makes nothing.
 */
static void
test_lock_is(void **state)
{
	char spelled[256], link[256], other[256], path[300];
	struct stat sb;
	/* An account of its own: a failure here leaves no lock others need. */
	static const char acct[] = "lock-is@example.org";
	int fd = -1, fd2 = -1;

	(void)state;
	assert_int_equal(mc_lock_acquire(statedir, acct, 100, &fd,
	    NULL), MC_OK);
	assert_int_equal(mc_lock_is(fd, statedir, acct), 1);
	assert_true(snprintf(spelled, sizeof(spelled), "%s/", statedir) <
	    (int)sizeof(spelled));
	assert_int_equal(mc_lock_is(fd, spelled, acct), 1);
	assert_int_equal(mc_lock_is(fd, statedir, "other@example.org"), 0);
	assert_int_equal(mc_lock_is(-1, statedir, acct), 0);
	assert_true(snprintf(link, sizeof(link), "%s/state-link", tmpdir) <
	    (int)sizeof(link));
	(void)unlink(link);
	assert_int_equal(symlink(statedir, link), 0);
	assert_int_equal(mc_lock_is(fd, link, acct), 0);
	assert_true(snprintf(other, sizeof(other), "%s/other-state", tmpdir) <
	    (int)sizeof(other));
	assert_int_equal(mc_lock_acquire(other, acct, 100, &fd2, NULL),
	    MC_OK);
	assert_int_equal(mc_lock_is(fd, other, acct), 0);
	assert_int_equal(mc_lock_is(fd2, other, acct), 1);
	mc_lock_release(fd2);
	mc_lock_release(fd);
	assert_int_equal(unlink(link), 0);

	/* Existing only: no lock file is made, nor a directory. */
	assert_int_equal(mc_lock_acquire_existing(other, "new@example.org",
	    100, NULL, NULL, -1, &fd, NULL), MC_ERR_NOT_LOGGED_IN);
	assert_int_equal(fd, -1);
	assert_true(snprintf(path, sizeof(path), "%s/new@example.org.lock",
	    other) < (int)sizeof(path));
	assert_int_equal(stat(path, &sb), -1);
	assert_true(snprintf(path, sizeof(path), "%s/none", other) <
	    (int)sizeof(path));
	assert_int_equal(mc_lock_acquire_existing(path, acct, 100,
	    NULL, NULL, -1, &fd, NULL), MC_ERR_NOT_LOGGED_IN);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(mc_lock_acquire_existing(other, acct, 100,
	    NULL, NULL, -1, &fd, NULL), MC_OK);
	assert_true(fd >= 0);
	mc_lock_release(fd);
}

/* How many inotify instances pid has open. */
static int
inotify_instances(pid_t pid)
{
	char path[320], target[64];
	struct dirent *e;
	ssize_t k;
	DIR *d;
	int n = 0;

	(void)snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		(void)snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid,
		    e->d_name);
		k = readlink(path, target, sizeof(target) - 1);
		if (k > 0) {
			target[k] = '\0';
			n += strcmp(target, "anon_inode:inotify") == 0;
		}
	}
	closedir(d);
	return n;
}

/*
 * How many watches pid's inotify descriptor fd has, and the mask of the
 * last one listed into *mask (when not NULL); -1 when it cannot be read.
 */
static int
inotify_watches(pid_t pid, int fd, unsigned int *mask)
{
	char path[64], line[256];
	unsigned int m;
	FILE *f;
	int n = 0;

	(void)snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "inotify wd:%*x ino:%*x sdev:%*x mask:%x",
		    &m) == 1) {
			n++;
			if (mask != NULL)
				*mask = m;
		}
	fclose(f);
	return n;
}

/*
 * A waiter whose wake_fd is an inotify descriptor watches the lock file
 * in it, not in an instance of its own (each instance closed costs an
 * SRCU grace period), and removes that watch once it has the lock. A
 * wake_fd that blocks does not make the wait block (the alarm ends a
 * test that hangs).
 */
static void
test_lock_one_instance(void **state)
{
	static const char acct[] = "one-instance@example.org";
	int wake, fd, base, res[2], pfd[2], ready[2];
	char c, seen[64];
	pid_t pid, parent = getpid();
	long long t0;

	(void)state;
	wake = inotify_init1(IN_CLOEXEC);
	assert_true(wake >= 0);
	assert_true(inotify_add_watch(wake, tmpdir, IN_MOVED_TO) >= 0);
	base = inotify_instances(parent);
	assert_true(base >= 1);
	assert_int_equal(inotify_watches(parent, wake, NULL), 1);
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		close(ready[0]);
		if (mc_lock_acquire(statedir, acct, 5000, &fd, NULL) != MC_OK ||
		    write(ready[1], "r", 1) != 1)
			_exit(1);
		/* Until the parent waits with both watches, or has made an
		   instance more, or 3 s have gone. */
		t0 = mc_clock_ms();
		do {
			res[0] = inotify_instances(parent);
			res[1] = inotify_watches(parent, wake, NULL);
			if (res[0] > base || res[1] >= 2)
				break;
			usleep(5000);
		} while (mc_clock_ms() - t0 < 3000);
		usleep(20000);	/* what was seen stays so while it waits */
		res[0] = inotify_instances(parent);
		res[1] = inotify_watches(parent, wake, NULL);
		if (write(pfd[1], res, sizeof(res)) != (ssize_t)sizeof(res))
			_exit(2);
		mc_lock_release(fd);
		_exit(0);
	}
	close(pfd[1]);
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	alarm(20);
	assert_int_equal(mc_lock_acquire_or(statedir, acct, 5000, NULL, NULL,
	    wake, &fd, NULL), MC_OK);
	alarm(0);
	assert_true(fd >= 0);
	assert_int_equal(read(pfd[0], res, sizeof(res)), (ssize_t)sizeof(res));
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	close(pfd[0]);
	close(ready[0]);
	(void)snprintf(seen, sizeof(seen), "(%d, %d)", res[0] - base, res[1]);
	/* While it waited: no instance more, two watches in wake. */
	assert_string_equal(seen, "(0, 2)");
	/* After: the lock file's watch is gone. */
	assert_int_equal(inotify_instances(parent), base);
	assert_int_equal(inotify_watches(parent, wake, NULL), 1);
	mc_lock_release(fd);
	close(wake);
}

/*
 * A caller whose wake_fd watches the lock file itself keeps its watch as
 * it was: the wait's own goes in an instance of its own.
 */
static void
test_lock_keeps_callers_watch(void **state)
{
	static const char acct[] = "keeps-watch@example.org";
	char path[300], c;
	int wake, fd, mine, ready[2];
	unsigned int mask = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(mc_lock_acquire(statedir, acct, 100, &fd, NULL),
	    MC_OK);
	mc_lock_release(fd);
	assert_true(snprintf(path, sizeof(path), "%s/%s.lock", statedir,
	    acct) < (int)sizeof(path));
	wake = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(wake >= 0);
	mine = inotify_add_watch(wake, path, IN_ATTRIB);
	assert_true(mine >= 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		if (mc_lock_acquire(statedir, acct, 5000, &fd, NULL) != MC_OK ||
		    write(ready[1], "r", 1) != 1)
			_exit(1);
		usleep(200000);
		mc_lock_release(fd);
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(mc_lock_acquire_or(statedir, acct, 5000, NULL, NULL,
	    wake, &fd, NULL), MC_OK);
	assert_true(fd >= 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	close(ready[0]);
	/* The caller's watch: still there, alone, still IN_ATTRIB only. */
	assert_int_equal(inotify_watches(getpid(), wake, &mask), 1);
	assert_int_equal(mask, IN_ATTRIB);
	mc_lock_release(fd);
	close(wake);
}

static void
test_not_logged_in(void **state)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts;
	char *msg = NULL;

	(void)state;
	assert_int_equal(mc_token_get(&account, &http, &to, &ts, &msg),
	    MC_ERR_NOT_LOGGED_IN);
	assert_non_null(strstr(msg, "run 'mailcred login me@example.org'"));
	free(msg);
}

static void
test_cached(void **state)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts;
	char *msg = NULL;

	(void)state;
	put_set("AT-cached", "RT", time(NULL) + 600);
	assert_int_equal(mc_token_get(&account, &http, &to, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT-cached");
	mc_token_set_clear(&ts);

	/* Not enough time left: a refresh is tried (and fails here). */
	to.min_valid = 700;
	assert_int_equal(mc_token_get(&account, &http, &to, &ts, &msg),
	    MC_ERR_NET);
	assert_null(ts.access_token);
	free(msg);
	msg = NULL;
	/* --refresh also refreshes. */
	to.min_valid = 60;
	to.force = 1;
	assert_int_equal(mc_token_get(&account, &http, &to, &ts, &msg),
	    MC_ERR_NET);
	free(msg);
	/* And the failure lost nothing. */
	get_set(&ts);
	assert_string_equal(ts.refresh_token, "RT");
	assert_string_equal(ts.access_token, "AT-cached");
	mc_token_set_clear(&ts);
}

static void
test_expired_without_refresh_token(void **state)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts;
	char *msg = NULL;

	(void)state;
	put_set("AT-old", NULL, time(NULL) - 5);
	assert_int_equal(mc_token_get(&account, &http, &to, &ts, &msg),
	    MC_ERR_AUTH);
	assert_non_null(strstr(msg, "no refresh token: run 'mailcred login"));
	free(msg);
}

/*
 * While a child holds the account's lock, the parent finds a stale token
 * and waits; the child stores a fresh one and lets go. The parent must take
 * the child's token instead of refreshing (which would fail here).
 */
static void
single_flight_lifetime(int min_valid, int force, int lifetime)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts;
	int go[2], ready[2], fd;
	char c;
	pid_t pid;

	to.min_valid = min_valid;
	to.force = force;
	put_set("AT-stale", "RT", time(NULL) + 10);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (mc_lock_acquire(statedir, account.name, 1000, &fd, NULL) != MC_OK)
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		usleep(200 * 1000);	/* the parent is now waiting */
		put_set("AT-fresh", "RT2", time(NULL) + lifetime);
		mc_lock_release(fd);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(mc_token_get(&account, &http, &to, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT-fresh");
	mc_token_set_clear(&ts);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
}

static void
single_flight(int min_valid, int force)
{
	single_flight_lifetime(min_valid, force, 3600);
}

static void
test_single_flight(void **state)
{
	(void)state;
	single_flight(60, 0);
}

/*
 * A token another process got while we waited is taken whatever its
 * lifetime: with expires_in 0 every waiter would otherwise refresh again
 * (issue 6.4).
 */
static void
test_single_flight_lifetime_zero(void **state)
{
	(void)state;
	single_flight_lifetime(60, 0, 0);
	single_flight_lifetime(60, 1, 0);
}

/*
 * Callers that ask for more than any token gives (--min-valid beyond its
 * lifetime, or --refresh) still take a token that another process
 * refreshed while they waited, instead of refreshing once more each.
 */
static void
test_single_flight_demanding(void **state)
{
	(void)state;
	single_flight(100000, 0);
	single_flight(60, 1);
}

static void
test_lock_timeout(void **state)
{
	int ready[2], fd = -1;
	char *msg = NULL, c;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (mc_lock_acquire(statedir, "other", 1000, &fd, NULL) != MC_OK ||
		    write(ready[1], "r", 1) != 1)
			_exit(1);
		usleep(400 * 1000);
		_exit(0);	/* the lock dies with the process */
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(mc_lock_acquire(statedir, "other", 100, &fd, &msg), MC_ERR_TEMP);
	assert_non_null(strstr(msg, "another mailcred process"));
	free(msg);
	/* A different account is not blocked. */
	assert_int_equal(mc_lock_acquire(statedir, "third", 100, &fd, NULL), MC_OK);
	mc_lock_release(fd);
	assert_int_equal(mc_lock_acquire(statedir, "other", 5000, &fd, NULL), MC_OK);
	mc_lock_release(fd);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
}

/* done() for test_lock_wakes: counts how often the waiter looked. */
static int
count_looks(void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A child that takes the lock, says so on ready, holds it hold_ms and
 * lets go: released, or (kill_it) killed by a second child hold_ms after
 * it was started. Just before it lets go, the time (now_ms) goes down
 * rel. Each child ends by itself within a second, even if the test does
 * not get to kill it.
 */
static pid_t
lock_holder(const char *account, int hold_ms, int kill_it, int ready, int rel)
{
	long long t;
	int fd = -1;
	pid_t pid = fork(), killer;

	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(3);
		if (mc_lock_acquire(statedir, account, 1000, &fd, NULL) !=
		    MC_OK || write(ready, "r", 1) != 1)
			_exit(1);
		usleep((useconds_t)hold_ms * 1000);
		if (kill_it)
			usleep(1000 * 1000);	/* killed meanwhile */
		t = now_ms();
		if (write(rel, &t, sizeof(t)) != (ssize_t)sizeof(t))
			_exit(1);
		mc_lock_release(fd);
		_exit(0);
	}
	if (!kill_it)
		return pid;
	killer = fork();
	assert_true(killer >= 0);
	if (killer == 0) {
		usleep((useconds_t)hold_ms * 1000);
		t = now_ms();
		if (write(rel, &t, sizeof(t)) != (ssize_t)sizeof(t))
			_exit(1);
		kill(pid, SIGKILL);
		_exit(0);
	}
	return pid;
}

/*
 * A waiter sleeps until the holder lets go, released or killed, and takes
 * the lock soon after: within 40 ms of the release in at least 5 of 6
 * rounds (a watch that never fired, leaving the 100 ms fallback, would
 * manage that about once in 25). Meanwhile it does not look every few
 * milliseconds: 300 ms of holding, a handful of looks, where 10 ms
 * polling made 30.
 */
static void
test_lock_wakes(void **state)
{
	int ready[2], rel[2], quiet[2], fd = -1, looks, round, fast = 0;
	long long t_rel, lag;
	char c;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(quiet), 0);	/* a wake fd that never speaks */
	for (round = 0; round < 6; round++) {
		assert_int_equal(pipe(ready), 0);
		assert_int_equal(pipe(rel), 0);
		pid = lock_holder("woken", 300, round % 2, ready[1], rel[1]);
		assert_int_equal(read(ready[0], &c, 1), 1);
		looks = 0;
		assert_int_equal(mc_lock_acquire_or(statedir, "woken", 5000,
		    count_looks, &looks, quiet[0], &fd, NULL), MC_OK);
		lag = now_ms();
		assert_true(fd >= 0);
		mc_lock_release(fd);
		assert_int_equal(read(rel[0], &t_rel, sizeof(t_rel)),
		    sizeof(t_rel));
		lag -= t_rel;
		assert_true(lag >= 0);
		assert_true(lag < 300);
		if (lag < 40)
			fast++;
		assert_true(looks <= 8);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		close(ready[0]);
		close(ready[1]);
		close(rel[0]);
		close(rel[1]);
	}
	assert_true(fast >= 5);
	close(quiet[0]);
	close(quiet[1]);
}

/* done() that becomes true 50 ms after *ctx (a now_ms() time). */
static int
true_after_50ms(void *ctx)
{
	return now_ms() - *(long long *)ctx >= 50;
}

/*
 * A done() with no wake fd to say when it comes true is asked often (as
 * before the lock was watched): the waiter ends soon after it is true,
 * though the holder keeps the lock.
 */
static void
test_lock_done_unwatched(void **state)
{
	int ready[2], rel[2], fd = 7;
	long long t0, el;
	char c;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(rel), 0);
	pid = lock_holder("unwatched", 1000, 0, ready[1], rel[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	t0 = now_ms();
	assert_int_equal(mc_lock_acquire_or(statedir, "unwatched", 5000,
	    true_after_50ms, &t0, -1, &fd, NULL), MC_OK);
	el = now_ms() - t0;
	assert_int_equal(fd, -1);
	assert_true(el >= 50);
	assert_true(el < 50 + 40);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	close(rel[0]);
	close(rel[1]);
}

static void
test_save_keeps_refresh_token(void **state)
{
	const struct mc_token_opts opts = MC_TOKEN_OPTS_INIT;
	struct mc_token_set in = { "AT-new", NULL, "Bearer", "mail",
	    time(NULL) + 3600, 0 };
	struct mc_token_set ts;

	(void)state;
	put_set("AT-old", "RT-keep", time(NULL) + 10);
	assert_int_equal(mc_token_save(&account, &in, &opts, NULL), MC_OK);
	get_set(&ts);
	assert_string_equal(ts.access_token, "AT-new");
	assert_string_equal(ts.refresh_token, "RT-keep");
	mc_token_set_clear(&ts);
	in.refresh_token = "RT-new";
	assert_int_equal(mc_token_save(&account, &in, &opts, NULL), MC_OK);
	get_set(&ts);
	assert_string_equal(ts.refresh_token, "RT-new");
	mc_token_set_clear(&ts);
}

static char *
store_file(const char *kind)
{
	static char path[256];

	assert_true(snprintf(path, sizeof(path),
	    "%s/data/mailcred/%s.%s", tmpdir,
	    account.name, kind) < (int)sizeof(path));
	return path;
}

/*
 * A login without a refresh token keeps the stored one; when what is
 * stored cannot be read, nothing is written rather than dropping it.
 */
static void
test_save_unreadable_store(void **state)
{
	const struct mc_token_opts opts = MC_TOKEN_OPTS_INIT;
	struct mc_token_set in = { "AT-new", NULL, "Bearer", "mail",
	    time(NULL) + 3600, 0 };
	struct mc_token_set ts;
	char *msg = NULL;

	(void)state;
	put_set("AT-old", "RT-keep", time(NULL) + 10);
	assert_int_equal(chmod(store_file("oauth2"), 0644), 0);
	assert_int_equal(mc_token_save(&account, &in, &opts, &msg),
	    MC_ERR_STORE_PERM);
	assert_non_null(msg);
	free(msg);
	assert_int_equal(chmod(store_file("oauth2"), 0600), 0);
	get_set(&ts);
	assert_string_equal(ts.refresh_token, "RT-keep");
	assert_string_equal(ts.access_token, "AT-old");
	mc_token_set_clear(&ts);
}

struct warnings {
	char lines[4][512];
	int n;
};

static void
collect(void *ctx, const char *line)
{
	struct warnings *w = ctx;

	if (w->n < 4)
		assert_true(snprintf(w->lines[w->n++], sizeof(w->lines[0]),
		    "%s", line) < (int)sizeof(w->lines[0]));
}

/*
 * The store refuses: the tokens go to the recovery file, which serves
 * callers and goes back into the store once it takes them (issue 6.1).
 */
static void
test_recovery_file(void **state)
{
	struct mc_token_opts opts = MC_TOKEN_OPTS_INIT;
	struct mc_token_set in = { "AT-rec", "RT-rec", "Bearer", "mail",
	    time(NULL) + 3600, 0 };
	struct mc_token_set ts;
	struct warnings w = { .n = 0 };
	char dir[128], rec[256];
	struct stat sb;

	(void)state;
	opts.warn = collect;
	opts.warn_ctx = &w;
	put_set("AT-old", "RT-old", time(NULL) + 10);
	assert_true(snprintf(dir, sizeof(dir), "%s/data/mailcred", tmpdir)
	    < (int)sizeof(dir));
	assert_true(snprintf(rec, sizeof(rec), "%s/%s.recovery-file", statedir,
	    account.name) < (int)sizeof(rec));
	assert_int_equal(chmod(dir, 0755), 0);	/* the store now refuses */
	assert_int_equal(mc_token_save(&account, &in, &opts, NULL), MC_OK);
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.lines[0], "they are kept in"));
	assert_non_null(strstr(w.lines[0], rec));
	assert_int_equal(stat(rec, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* The recovery file is the account's token set while it exists. */
	assert_int_equal(mc_token_load(&account, 0, &ts, NULL), MC_OK);
	assert_string_equal(ts.refresh_token, "RT-rec");
	mc_token_set_clear(&ts);
	/* Served even while the store refuses, and merged once it takes it. */
	assert_int_equal(mc_token_get(&account, &http, &opts, &ts, NULL),
	    MC_OK);
	assert_string_equal(ts.access_token, "AT-rec");
	mc_token_set_clear(&ts);
	assert_int_equal(stat(rec, &sb), 0);
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(mc_token_get(&account, &http, &opts, &ts, NULL),
	    MC_OK);
	assert_string_equal(ts.access_token, "AT-rec");
	mc_token_set_clear(&ts);
	assert_int_equal(stat(rec, &sb), -1);
	assert_non_null(strstr(w.lines[w.n - 1], "back in the file"));
	get_set(&ts);
	assert_string_equal(ts.refresh_token, "RT-rec");
	mc_token_set_clear(&ts);
}

/*
 * Neither the store nor the recovery file takes a new refresh token: the
 * caller hears it could be lost (MC_ERR_AUTH, exit 77), never "try again"
 * (MC_ERR_STORE, 75).
 */
static void
test_recovery_refused_too(void **state)
{
	struct mc_token_opts opts = MC_TOKEN_OPTS_INIT;
	struct mc_token_set in = { "AT-x", "RT-x", "Bearer", "mail",
	    time(NULL) + 3600, 0 };
	char dir[128], rec[256];
	char *msg = NULL;

	(void)state;
	assert_true(snprintf(dir, sizeof(dir), "%s/data/mailcred", tmpdir)
	    < (int)sizeof(dir));
	assert_true(snprintf(rec, sizeof(rec), "%s/%s.recovery-file", statedir,
	    account.name) < (int)sizeof(rec));
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(mkdir(rec, 0700), 0);	/* blocks the recovery file */
	opts.store_timeout_ms = 0;
	/* Written without reading: the login has its own refresh token. */
	assert_int_equal(mc_token_save(&account, &in, &opts, &msg),
	    MC_ERR_AUTH);
	assert_non_null(strstr(msg, "could not be saved"));
	assert_non_null(strstr(msg, "mailcred login me@example.org"));
	free(msg);
	assert_int_equal(rmdir(rec), 0);
	assert_int_equal(chmod(dir, 0700), 0);
}

/*
 * A recovery file that cannot be read is an error, never a reason to use
 * the store's older refresh token; one that holds no tokens is passed over
 * with a warning.
 */
static void
test_recovery_unreadable(void **state)
{
	struct mc_token_opts opts = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts;
	struct warnings w = { .n = 0 };
	char rec[256];
	char *msg = NULL;
	FILE *f;

	(void)state;
	opts.warn = collect;
	opts.warn_ctx = &w;
	put_set("AT-store", "RT-store", time(NULL) + 3600);
	assert_true(snprintf(rec, sizeof(rec), "%s/%s.recovery-file", statedir,
	    account.name) < (int)sizeof(rec));
	f = fopen(rec, "w");
	assert_non_null(f);
	fputs("{\"refresh_token\":\"RT-newer\"}", f);
	fclose(f);
	assert_int_equal(chmod(rec, 0644), 0);
	assert_int_equal(mc_token_get(&account, &http, &opts, &ts, &msg),
	    MC_ERR_STORE_PERM);
	assert_null(ts.access_token);
	assert_non_null(strstr(msg, rec));
	assert_non_null(strstr(msg, "chmod 600"));
	free(msg);
	/* Garbage is useless: passed over, with a warning. */
	f = fopen(rec, "w");
	assert_non_null(f);
	fputs("not json", f);
	fclose(f);
	assert_int_equal(chmod(rec, 0600), 0);
	assert_int_equal(mc_token_get(&account, &http, &opts, &ts, NULL),
	    MC_OK);
	assert_string_equal(ts.access_token, "AT-store");
	mc_token_set_clear(&ts);
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.lines[0], "does not hold tokens"));
	assert_int_equal(unlink(rec), 0);
}

/* Writes a recovery file for the account by hand. */
static void
put_recovery(const char *json)
{
	char rec[256];
	FILE *f;

	mkdir(statedir, 0700);
	assert_true(snprintf(rec, sizeof(rec), "%s/%s.recovery-file", statedir,
	    account.name) < (int)sizeof(rec));
	f = fopen(rec, "w");
	assert_non_null(f);
	fputs(json, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(rec, 0600), 0);
}

/*
 * A recovery file is always the newest set: a save brings it level before
 * it writes the store (so a kill between the two never leaves it older)
 * and removes it after; an emptied one is no recovery file.
 */
static void
test_recovery_leveled_then_removed(void **state)
{
	struct mc_token_opts opts = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	struct mc_token_set in = { "AT-new", "RT-new", "Bearer", "mail",
	    time(NULL) + 3600, 0 };
	struct warnings w = { .n = 0 };
	char rec[256], dir[128];
	struct stat sb;

	(void)state;
	opts.warn = collect;
	opts.warn_ctx = &w;
	assert_true(snprintf(rec, sizeof(rec), "%s/%s.recovery-file", statedir,
	    account.name) < (int)sizeof(rec));
	assert_true(snprintf(dir, sizeof(dir), "%s/data/mailcred", tmpdir)
	    < (int)sizeof(dir));
	put_set("AT-old", "RT-old", time(NULL) + 3600);
	put_recovery("{\"access_token\":\"AT-rec\",\"refresh_token\":"
	    "\"RT-rec\",\"expires_at\":9999999999}");
	/* The store refuses: the recovery file gets the newer set. */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(mc_token_save(&account, &in, &opts, NULL), MC_OK);
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(mc_token_load(&account, 0, &ts, NULL), MC_OK);
	assert_string_equal(ts.refresh_token, "RT-new");
	mc_token_set_clear(&ts);
	/* The store takes the next save: the recovery file is gone. */
	in.refresh_token = "RT-newer";
	assert_int_equal(mc_token_save(&account, &in, &opts, NULL), MC_OK);
	assert_int_equal(stat(rec, &sb), -1);
	get_set(&ts);
	assert_string_equal(ts.refresh_token, "RT-newer");
	mc_token_set_clear(&ts);
	/* An empty recovery file is none, and says nothing. */
	put_recovery("");
	w.n = 0;
	assert_int_equal(mc_token_load(&account, 0, &ts, NULL), MC_OK);
	assert_string_equal(ts.refresh_token, "RT-newer");
	mc_token_set_clear(&ts);
	assert_int_equal(mc_token_get(&account, &http, &opts, &ts, NULL),
	    MC_OK);
	assert_string_equal(ts.refresh_token, "RT-newer");
	mc_token_set_clear(&ts);
	assert_int_equal(w.n, 0);
	assert_int_equal(unlink(rec), 0);
}

/* A login is refused before asking when the store cannot keep tokens. */
static void
test_store_ready(void **state)
{
	char dir[128], *msg = NULL;

	(void)state;
	assert_true(snprintf(dir, sizeof(dir), "%s/data/mailcred", tmpdir)
	    < (int)sizeof(dir));
	assert_int_equal(mc_token_store_ready(&account, 0, NULL), MC_OK);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(mc_token_store_ready(&account, 0, &msg),
	    MC_ERR_STORE_PERM);
	assert_non_null(strstr(msg, "chmod 700"));
	free(msg);
	assert_int_equal(chmod(dir, 0700), 0);
}


/* ---- the runtime cache (auth/tcache.h) ---- */

static void
cache_path(char *buf, size_t size)
{
	assert_true(snprintf(buf, size,
	    "%s/mailcred/%s.access", tmpdir, racct.name) < (int)(size));
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
tc_put(const char *at, long long expires_at)
{
	struct mc_token_set ts = { (char *)at, NULL, "Bearer", "mail",
	    expires_at, 0 };

	assert_int_equal(mc_tcache_put(&racct, &ts, NULL, NULL), MC_OK);
}

/* mc_tcache_parse_entry(): the file's text alone, as fuzz/fuzz_tcache.c. */
static void
test_tcache_parse_entry(void **state)
{
	static const char good[] = "{\"version\":1,\"access_token\":\"AT\","
	    "\"token_type\":\"Bearer\",\"scope\":\"mail\",\"expires_at\":99,"
	    "\"for\":{\"token_endpoint\":\"http://127.0.0.1:1/token\","
	    "\"client_id\":\"cid\",\"user\":\"rt@example.org\","
	    "\"store\":\"file\"}}";
	static const char *const bad[] = {
		"", "null", "[]", "{", "{\"version\":1}",
		/* another client */
		"{\"version\":1,\"access_token\":\"AT\",\"expires_at\":99,"
		"\"for\":{\"token_endpoint\":\"http://127.0.0.1:1/token\","
		"\"client_id\":\"other\",\"user\":\"rt@example.org\","
		"\"store\":\"file\"}}",
		/* no expiry, an empty token, a duplicate member */
		"{\"version\":1,\"access_token\":\"AT\",\"for\":{}}",
		"{\"version\":2,\"access_token\":\"\",\"expires_at\":1}",
		"{\"version\":1,\"version\":1}",
	};
	struct mc_token_set ts;
	size_t i;

	(void)state;
	assert_int_equal(mc_tcache_parse_entry(&racct, good, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT");
	assert_string_equal(ts.token_type, "Bearer");
	assert_string_equal(ts.scope, "mail");
	assert_int_equal(ts.expires_at, 99);
	assert_null(ts.refresh_token);
	mc_token_set_clear(&ts);
	/* For the account of another store: passed over. */
	assert_int_equal(mc_tcache_parse_entry(&account, good, &ts, NULL),
	    MC_ERR_NOT_LOGGED_IN);
	assert_null(ts.access_token);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mc_tcache_parse_entry(&racct, bad[i], &ts,
		    NULL), MC_ERR_NOT_LOGGED_IN);
		assert_null(ts.access_token);
		assert_null(ts.scope);
	}
}

/*
 * The lock directory an entry names: taken when it can be one (absolute,
 * no NUL, shorter than PATH_MAX), else none; never a reason to pass the
 * entry over. mc_tcache_put() records it, mc_tcache_read() gives it back.
 */
static void
test_tcache_lock_dir(void **state)
{
	static const char head[] = "{\"version\":1,\"access_token\":\"AT\","
	    "\"expires_at\":99,\"for\":{\"token_endpoint\":"
	    "\"http://127.0.0.1:1/token\",\"client_id\":\"cid\","
	    "\"user\":\"rt@example.org\",\"store\":\"file\"}";
	static const struct {
		const char *member;	/* appended to head, then "}" */
		const char *want;	/* NULL: no lock directory */
	} cases[] = {
		{ "", NULL },
		{ ",\"lock_dir\":\"/home/u/.local/state/mailcred\"",
		    "/home/u/.local/state/mailcred" },
		{ ",\"lock_dir\":\"relative/dir\"", NULL },
		{ ",\"lock_dir\":\"\"", NULL },
		{ ",\"lock_dir\":7", NULL },
		{ ",\"lock_dir\":null", NULL },
	};
	struct mc_token_set ts, in = { "AT-lock", NULL, "Bearer", NULL,
	    99999999999LL, 0 };
	char text[512], *dir, *big;
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = snprintf(text, sizeof(text), "%s%s}", head,
		    cases[i].member);
		assert_true(n > 0 && (size_t)n < sizeof(text));
		dir = (char *)1;
		assert_int_equal(mc_tcache_parse_entry(&racct, text, &ts,
		    &dir), MC_OK);
		assert_string_equal(ts.access_token, "AT");
		if (cases[i].want == NULL)
			assert_null(dir);
		else
			assert_string_equal(dir, cases[i].want);
		free(dir);
		mc_token_set_clear(&ts);
	}
	/* A NUL inside: jansson refuses the text, so the entry goes. */
	n = snprintf(text, sizeof(text), "%s,\"lock_dir\":\"/a\\u0000/b\"}",
	    head);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	dir = (char *)1;
	assert_int_equal(mc_tcache_parse_entry(&racct, text, &ts, &dir),
	    MC_ERR_NOT_LOGGED_IN);
	assert_null(dir);
	/* PATH_MAX long: not a directory anyone could open. */
	{
		static const char key[] = ",\"lock_dir\":\"/";
		size_t at = 0;

		big = malloc(sizeof(head) + sizeof(key) + PATH_MAX + 3);
		assert_non_null(big);
		memcpy(big, head, sizeof(head) - 1);
		at += sizeof(head) - 1;
		memcpy(big + at, key, sizeof(key) - 1);
		at += sizeof(key) - 1;
		memset(big + at, 'a', PATH_MAX);
		at += PATH_MAX;
		memcpy(big + at, "\"}", 3);
	}
	dir = (char *)1;
	assert_int_equal(mc_tcache_parse_entry(&racct, big, &ts, &dir), MC_OK);
	assert_null(dir);
	mc_token_set_clear(&ts);
	free(big);

	/* Through the file: recorded, read back; none when not given. */
	assert_int_equal(mc_tcache_put(&racct, &in, "/some/state/dir", NULL),
	    MC_OK);
	assert_int_equal(mc_tcache_read(&racct, &ts, &dir, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT-lock");
	assert_string_equal(dir, "/some/state/dir");
	free(dir);
	mc_token_set_clear(&ts);
	assert_int_equal(mc_tcache_put(&racct, &in, NULL, NULL), MC_OK);
	dir = (char *)1;
	assert_int_equal(mc_tcache_read(&racct, &ts, &dir, NULL), MC_OK);
	assert_null(dir);
	mc_token_set_clear(&ts);
	/* No entry: no directory either. */
	assert_int_equal(mc_tcache_drop(&racct, NULL), MC_OK);
	dir = (char *)1;
	assert_int_equal(mc_tcache_read(&racct, &ts, &dir, NULL),
	    MC_ERR_NOT_LOGGED_IN);
	assert_null(dir);
}

static void
test_tcache_roundtrip(void **state)
{
	struct mc_account other = racct;
	struct mc_token_set ts;
	struct stat sb;
	char path[256], dir[256], text[512];
	FILE *f;
	size_t n;

	(void)state;
	assert_true(mc_tcache_on(&racct));
	assert_false(mc_tcache_on(&account));	/* cache = store */
	assert_int_equal(mc_tcache_get(&racct, &ts, NULL), MC_ERR_NOT_LOGGED_IN);
	tc_put("AT-rt", 1234567890123LL);
	assert_int_equal(mc_tcache_get(&racct, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT-rt");
	assert_string_equal(ts.token_type, "Bearer");
	assert_string_equal(ts.scope, "mail");
	assert_null(ts.refresh_token);
	assert_int_equal(ts.expires_at, 1234567890123LL);
	mc_token_set_clear(&ts);
	/* 0700 directory, 0600 file, no refresh token in it. */
	assert_true(snprintf(dir, sizeof(dir), "%s/mailcred", tmpdir)
	    < (int)sizeof(dir));
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	cache_path(path, sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	assert_null(strstr(text, "refresh"));
	assert_non_null(strstr(text, "\"client_id\":\"cid\""));
	/* An entry for another client, endpoint, user or store is passed over. */
	other.client_id = "cid2";
	assert_int_equal(mc_tcache_get(&other, &ts, NULL), MC_ERR_NOT_LOGGED_IN);
	other = racct;
	other.token_endpoint = "http://127.0.0.1:2/token";
	assert_int_equal(mc_tcache_get(&other, &ts, NULL), MC_ERR_NOT_LOGGED_IN);
	other = racct;
	other.user = "someone@example.org";
	assert_int_equal(mc_tcache_get(&other, &ts, NULL), MC_ERR_NOT_LOGGED_IN);
	other = racct;
	other.store = STORE_KEYRING;
	assert_int_equal(mc_tcache_get(&other, &ts, NULL), MC_ERR_NOT_LOGGED_IN);
	/* cache = store or none: no runtime cache, whatever is there. */
	other = racct;
	other.cache = MC_CACHE_NONE;
	assert_false(mc_tcache_on(&other));
	assert_int_equal(mc_tcache_get(&other, &ts, NULL), MC_ERR_NOT_LOGGED_IN);
	assert_int_equal(mc_tcache_drop(&racct, NULL), MC_OK);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(mc_tcache_drop(&racct, NULL), MC_OK);
}

static void
test_tcache_corrupt(void **state)
{
	static const char *const bad[] = {
		"", "{", "[]", "{\"version\":1}",
		"{\"version\":2,\"for\":{},\"access_token\":\"x\",\"expires_at\":1}",
		"{\"version\":1,\"for\":{\"token_endpoint\":\"http://127.0.0.1:1/token\","
		    "\"client_id\":\"cid\",\"user\":\"rt@example.org\",\"store\":\"file\"},"
		    "\"access_token\":\"\",\"expires_at\":99999999999}",
		"{\"version\":1,\"for\":{\"token_endpoint\":\"http://127.0.0.1:1/token\","
		    "\"client_id\":\"cid\",\"user\":\"rt@example.org\",\"store\":\"file\"},"
		    "\"access_token\":\"x\",\"expires_at\":\"soon\"}",
	};
	struct mc_token_set ts;
	char path[256];
	size_t i;

	(void)state;
	tc_put("AT-rt", 99999999999LL);
	cache_path(path, sizeof(path));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i], 0600);
		assert_int_equal(mc_tcache_get(&racct, &ts, NULL),
		    MC_ERR_NOT_LOGGED_IN);
	}
	/* ... and rewritten by the next put. */
	tc_put("AT-again", 99999999999LL);
	assert_int_equal(mc_tcache_get(&racct, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT-again");
	mc_token_set_clear(&ts);
}

static void
test_tcache_unsafe(void **state)
{
	struct mc_token_set ts;
	char path[256], dir[256], *msg = NULL;

	(void)state;
	cache_path(path, sizeof(path));
	assert_true(snprintf(dir, sizeof(dir), "%s/mailcred", tmpdir)
	    < (int)sizeof(dir));
	tc_put("AT-rt", 99999999999LL);
	/* A file others can read is refused, and the message says why. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(mc_tcache_get(&racct, &ts, &msg), MC_ERR_STORE_PERM);
	assert_non_null(msg);
	free(msg);
	msg = NULL;
	assert_int_equal(chmod(path, 0600), 0);
	/* A symbolic link is refused. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/hostname", path), 0);
	assert_int_equal(mc_tcache_get(&racct, &ts, &msg), MC_ERR_STORE_PERM);
	free(msg);
	msg = NULL;
	assert_int_equal(unlink(path), 0);
	/* Another owner's file (only root can make one here). */
	if (geteuid() == 0) {
		tc_put("AT-rt", 99999999999LL);
		assert_int_equal(chown(path, 4242, 4242), 0);
		assert_int_equal(mc_tcache_get(&racct, &ts, &msg),
		    MC_ERR_STORE_PERM);
		free(msg);
		msg = NULL;
		assert_int_equal(unlink(path), 0);
	}
	/* A directory others can enter is refused. */
	assert_int_equal(chmod(dir, 0755), 0);
	{
		struct mc_token_set in = { "AT-x", NULL, NULL, NULL,
		    99999999999LL, 0 };

		assert_int_equal(mc_tcache_put(&racct, &in, NULL, &msg),
		    MC_ERR_STORE_PERM);
		assert_non_null(strstr(msg, "chmod 700"));
		free(msg);
		msg = NULL;
	}
	assert_int_equal(chmod(dir, 0700), 0);
}

static void
test_tcache_no_runtime_dir(void **state)
{
	struct mc_token_set ts;
	char sub[256];

	(void)state;
	tc_put("AT-rt", 99999999999LL);
	unsetenv("XDG_RUNTIME_DIR");
	assert_false(mc_tcache_on(&racct));
	assert_int_equal(mc_tcache_get(&racct, &ts, NULL), MC_ERR_NOT_LOGGED_IN);
	setenv("XDG_RUNTIME_DIR", "relative/dir", 1);
	assert_false(mc_tcache_on(&racct));
	setenv("XDG_RUNTIME_DIR", "/nonexistent-runtime-dir", 1);
	assert_false(mc_tcache_on(&racct));
	/* A runtime directory others can enter is no runtime directory. */
	assert_true(snprintf(sub, sizeof(sub), "%s/open", tmpdir)
	    < (int)sizeof(sub));
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(chmod(sub, 0755), 0);
	setenv("XDG_RUNTIME_DIR", sub, 1);
	assert_false(mc_tcache_on(&racct));
	assert_int_equal(rmdir(sub), 0);
	setenv("XDG_RUNTIME_DIR", tmpdir, 1);
	assert_true(mc_tcache_on(&racct));
	assert_int_equal(mc_tcache_get(&racct, &ts, NULL), MC_OK);
	mc_token_set_clear(&ts);
}

/* A fresh cached token is served without the store: here there is none. */
static void
test_runtime_fast_path(void **state)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts;
	char *msg = NULL;

	(void)state;
	tc_put("AT-fast", time(NULL) + 600);
	assert_int_equal(mc_token_get(&racct, &http, &to, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT-fast");
	assert_false(ts.refreshed);
	mc_token_set_clear(&ts);
	/* Too little time left: the store is asked, and there is nothing. */
	to.min_valid = 700;
	assert_int_equal(mc_token_get(&racct, &http, &to, &ts, &msg),
	    MC_ERR_NOT_LOGGED_IN);
	free(msg);
	msg = NULL;
	/* The store's valid token is used and goes into the cache. */
	assert_int_equal(mc_tcache_drop(&racct, NULL), MC_OK);
	put_set_for(&racct, "AT-store", "RT", time(NULL) + 3000);
	to.min_valid = 60;
	assert_int_equal(mc_token_get(&racct, &http, &to, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT-store");
	mc_token_set_clear(&ts);
	assert_int_equal(mc_tcache_get(&racct, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT-store");
	mc_token_set_clear(&ts);
	/* mc_token_load shows the newer of the two access tokens. */
	tc_put("AT-newer", time(NULL) + 3500);
	assert_int_equal(mc_token_load(&racct, 0, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT-newer");
	assert_string_equal(ts.refresh_token, "RT");
	mc_token_set_clear(&ts);
	tc_put("AT-older", time(NULL) + 100);
	assert_int_equal(mc_token_load(&racct, 0, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT-store");
	mc_token_set_clear(&ts);
	/* A stale cache and an older store token: never the store's. */
	tc_put("AT-stale", time(NULL) + 10);
	put_set_for(&racct, "AT-older-store", "RT", time(NULL) + 5);
	assert_int_equal(mc_token_get(&racct, &http, &to, &ts, &msg),
	    MC_ERR_NET);
	free(msg);
}

/*
 * Another process holds the account's lock in the directory other (NULL:
 * the store's state directory), caches a new token once this one has
 * opened that lock file to wait for it, and keeps the lock 3 s more,
 * while this one asks for a token over a stale cached one whose entry
 * names hint as its lock directory (NULL: none). This one must take the
 * other's token as soon as it is cached, without waiting for the lock,
 * and say nothing.
 */
static void
takes_the_others_token(const char *hint, const char *other)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts, stale = { "AT-stale", NULL, "Bearer", NULL,
	    0, 0 };
	char rdir[256], lock[64], *msg = NULL;
	int go[2], ready[2], fd, watch;
	struct pollfd p;
	long long t0;
	char c;
	pid_t pid;

	assert_true(snprintf(rdir, sizeof(rdir),
	    "%s/data/mailcred/.state", tmpdir) < (int)sizeof(rdir));
	put_set_for(&racct, "AT-stale", "RT", time(NULL) + 10);
	stale.expires_at = time(NULL) + 10;
	assert_int_equal(mc_tcache_put(&racct, &stale, hint, NULL), MC_OK);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		/* Long enough for the child of a test that failed to end. */
		if (mc_lock_acquire(other != NULL ? other : rdir, racct.name,
		    5000, &fd, NULL) != MC_OK)
			_exit(1);
		/* The parent opens this lock file before it waits. */
		(void)snprintf(lock, sizeof(lock), "/proc/self/fd/%d", fd);
		watch = inotify_init1(IN_CLOEXEC);
		if (watch < 0 || inotify_add_watch(watch, lock, IN_OPEN) < 0)
			_exit(3);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		p.fd = watch;
		p.events = POLLIN;
		if (poll(&p, 1, 10000) != 1)	/* the parent is waiting */
			_exit(4);
		tc_put("AT-fresh", time(NULL) + 3600);
		sleep(3);		/* holds the lock well past that */
		mc_lock_release(fd);
		_exit(0);
	}
	/* Only the child's ends stay open there: its death is an EOF here. */
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(write(go[1], "g", 1), 1);
	t0 = mc_clock_ms();
	assert_int_equal(mc_token_get(&racct, &http, &to, &ts, &msg), MC_OK);
	assert_null(msg);
	assert_string_equal(ts.access_token, "AT-fresh");
	assert_true(ts.refreshed);
	/* It did not wait for the lock to be released. */
	assert_true(mc_clock_ms() - t0 < 2500);
	mc_token_set_clear(&ts);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	close(go[1]);
	close(ready[0]);
}

/* Single flight with the runtime cache. */
static void
test_runtime_single_flight(void **state)
{
	(void)state;
	takes_the_others_token(NULL, NULL);
}

/*
 * The lock directory a stale cache entry names is only a hint: when it is
 * not the store's own (the home directory moved since the entry was
 * written), the caller whose turn it is there also waits for the lock in
 * the store's directory, where the other process is refreshing. Were the
 * hint trusted, the caller would refresh at once, through a token
 * endpoint that answers nothing.
 */
static void
test_runtime_hint_out_of_date(void **state)
{
	char hdir[256];
	int fd;

	(void)state;
	assert_true(snprintf(hdir, sizeof(hdir), "%s/moved-state", tmpdir) <
	    (int)sizeof(hdir));
	/* The old directory, with the lock file an earlier refresh left. */
	assert_int_equal(mc_lock_acquire(hdir, racct.name, 100, &fd, NULL),
	    MC_OK);
	mc_lock_release(fd);
	takes_the_others_token(hdir, NULL);
}

/*
 * A hint naming the directory tmpdir/name, made with mode, holding no lock
 * file of the account's: passed over, and no lock file is made there.
 */
static void
hint_dir_left_alone(const char *name, mode_t mode)
{
	char hdir[256], lock[300];
	struct stat sb;

	assert_true(snprintf(hdir, sizeof(hdir), "%s/%s", tmpdir, name) <
	    (int)sizeof(hdir));
	assert_true(mkdir(hdir, 0700) == 0 || errno == EEXIST);
	assert_int_equal(chmod(hdir, mode), 0);
	takes_the_others_token(hdir, NULL);
	assert_true(snprintf(lock, sizeof(lock), "%s/%s.lock", hdir,
	    racct.name) < (int)sizeof(lock));
	assert_int_equal(stat(lock, &sb), -1);
	assert_int_equal(errno, ENOENT);
}

/* A directory of the user's, without the account's lock file in it. */
static void
test_runtime_hint_no_lock(void **state)
{
	(void)state;
	hint_dir_left_alone("other-dir", 0700);
}

/*
 * The hint is where a waiter waits: with the other process's lock held in
 * the directory the entry names (not the store's), the caller waits there
 * and takes its token. Were the hint not used, the caller would find the
 * store's lock free and refresh, through a token endpoint that answers
 * nothing.
 */
static void
test_runtime_hint_used(void **state)
{
	char hdir[256];

	(void)state;
	assert_true(snprintf(hdir, sizeof(hdir), "%s/hint-state", tmpdir) <
	    (int)sizeof(hdir));
	assert_true(mkdir(hdir, 0700) == 0 || errno == EEXIST);
	takes_the_others_token(hdir, hdir);
}

/* A hint naming a directory that is not there: nothing is made there. */
static void
test_runtime_hint_missing(void **state)
{
	char hdir[256];
	struct stat sb;

	(void)state;
	assert_true(snprintf(hdir, sizeof(hdir), "%s/gone-state", tmpdir) <
	    (int)sizeof(hdir));
	takes_the_others_token(hdir, NULL);
	assert_int_equal(stat(hdir, &sb), -1);
	assert_int_equal(errno, ENOENT);
}

/* A directory others can enter: refused as a lock's place. */
static void
test_runtime_hint_unsafe(void **state)
{
	(void)state;
	hint_dir_left_alone("open-state", 0755);
}

/* Login and logout remove the cached token; cache = none keeps none. */
static void
test_runtime_login_logout(void **state)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set in = { "AT-login", "RT-login", "Bearer", NULL,
	    0, 0 }, ts;
	struct mc_account none = racct;
	struct store *st = NULL;
	char *rt = NULL, *blob = NULL;
	int forgot;

	(void)state;
	in.expires_at = time(NULL) + 3600;
	tc_put("AT-before", time(NULL) + 3600);
	assert_int_equal(mc_token_save(&racct, &in, &to, NULL), MC_OK);
	assert_int_equal(mc_tcache_get(&racct, &ts, NULL), MC_ERR_NOT_LOGGED_IN);
	assert_int_equal(mc_token_get(&racct, &http, &to, &ts, NULL), MC_OK);
	assert_string_equal(ts.access_token, "AT-login");
	mc_token_set_clear(&ts);
	assert_int_equal(mc_tcache_get(&racct, &ts, NULL), MC_OK);
	mc_token_set_clear(&ts);
	assert_int_equal(mc_token_forget(&racct, 0, &rt, &forgot, NULL), MC_OK);
	assert_string_equal(rt, "RT-login");
	mc_free_secret(rt);
	assert_int_equal(mc_tcache_get(&racct, &ts, NULL), MC_ERR_NOT_LOGGED_IN);
	/* cache = none: the store gets the refresh token only. */
	none.cache = MC_CACHE_NONE;
	assert_int_equal(mc_token_save(&none, &in, &to, NULL), MC_OK);
	assert_int_equal(mc_store_open(&none, 0, &st, NULL), MC_OK);
	assert_int_equal(store_get(st, none.name, MC_KIND_OAUTH2, &blob, NULL),
	    STORE_OK);
	assert_null(strstr(blob, "AT-login"));
	assert_non_null(strstr(blob, "RT-login"));
	store_secret_free(blob);
	store_close(st);
	assert_int_equal(mc_tcache_get(&racct, &ts, NULL), MC_ERR_NOT_LOGGED_IN);
	assert_int_equal(mc_token_forget(&none, 0, &rt, &forgot, NULL), MC_OK);
	mc_free_secret(rt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usable),
		cmocka_unit_test(test_state_dir_is_the_stores),
		cmocka_unit_test(test_lock_location_checked),
		cmocka_unit_test(test_lock_is),
		cmocka_unit_test(test_lock_one_instance),
		cmocka_unit_test(test_lock_keeps_callers_watch),
		cmocka_unit_test(test_not_logged_in),
		cmocka_unit_test(test_cached),
		cmocka_unit_test(test_expired_without_refresh_token),
		cmocka_unit_test(test_single_flight),
		cmocka_unit_test(test_single_flight_demanding),
		cmocka_unit_test(test_single_flight_lifetime_zero),
		cmocka_unit_test(test_lock_timeout),
		cmocka_unit_test(test_lock_wakes),
		cmocka_unit_test(test_lock_done_unwatched),
		cmocka_unit_test(test_save_keeps_refresh_token),
		cmocka_unit_test(test_save_unreadable_store),
		cmocka_unit_test(test_recovery_file),
		cmocka_unit_test(test_recovery_refused_too),
		cmocka_unit_test(test_recovery_unreadable),
		cmocka_unit_test(test_recovery_leveled_then_removed),
		cmocka_unit_test(test_store_ready),
		cmocka_unit_test(test_tcache_parse_entry),
		cmocka_unit_test(test_tcache_roundtrip),
		cmocka_unit_test(test_tcache_lock_dir),
		cmocka_unit_test(test_tcache_corrupt),
		cmocka_unit_test(test_tcache_unsafe),
		cmocka_unit_test(test_tcache_no_runtime_dir),
		cmocka_unit_test(test_runtime_fast_path),
		cmocka_unit_test(test_runtime_single_flight),
		cmocka_unit_test(test_runtime_hint_used),
		cmocka_unit_test(test_runtime_hint_out_of_date),
		cmocka_unit_test(test_runtime_hint_no_lock),
		cmocka_unit_test(test_runtime_hint_missing),
		cmocka_unit_test(test_runtime_hint_unsafe),
		cmocka_unit_test(test_runtime_login_logout),
	};

	mc_json_use_wiping_alloc();
	return cmocka_run_group_tests_name("token", tests, setup, teardown);
}
