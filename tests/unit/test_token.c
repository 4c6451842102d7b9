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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/err.h"
#include "auth/lock.h"
#include "auth/secmem.h"
#include "auth/token.h"

static char tmpdir[] = "/tmp/mc-token-XXXXXX";

static struct mc_account account = {
	.name = "me@example.org", .user = "me@example.org",
	.client_id = "cid", .token_endpoint = "http://127.0.0.1:1/token",
	.store = STORE_FILE, .timeout = 2,
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
	snprintf(sub, sizeof(sub), "%s/data", tmpdir);
	setenv("XDG_DATA_HOME", sub, 1);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
put_set(const char *at, const char *rt, long long expires_at)
{
	struct mc_token_set ts = { (char *)at, (char *)rt, "Bearer", "mail",
	    expires_at };
	struct store *st = NULL;
	char *blob = NULL;

	assert_int_equal(mc_token_set_serialize(&ts, &blob), MC_OK);
	assert_int_equal(mc_store_open(&account, 0, &st, NULL), MC_OK);
	assert_int_equal(store_put(st, account.name, MC_KIND_OAUTH2, blob, NULL),
	    STORE_OK);
	store_close(st);
	mc_free_secret(blob);
}

static void
get_set(struct mc_token_set *ts)
{
	assert_int_equal(mc_token_load(&account, 0, ts, NULL), MC_OK);
}

static void
test_usable(void **state)
{
	struct mc_token_set ts = { "AT", NULL, NULL, NULL, 1000 };

	(void)state;
	assert_true(mc_token_usable(&ts, 900, 60));
	assert_true(mc_token_usable(&ts, 940, 60));
	assert_false(mc_token_usable(&ts, 941, 60));
	assert_false(mc_token_usable(&ts, 1000, 0) == 0);
	assert_false(mc_token_usable(&ts, 1001, 0));
	ts.expires_at = 0;
	assert_false(mc_token_usable(&ts, 0, 0));
	ts.expires_at = 1000;
	ts.access_token = NULL;
	assert_false(mc_token_usable(&ts, 0, 0));
}

static void
test_name_encode(void **state)
{
	char *s;

	(void)state;
	s = mc_name_encode("me+tag@gmail.com");
	assert_string_equal(s, "me+tag@gmail.com");
	free(s);
	s = mc_name_encode("../a b/.c");
	assert_string_equal(s, "%2E.%2Fa%20b%2F.c");
	free(s);
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
single_flight(int min_valid, int force)
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
		if (mc_lock_acquire(account.name, 1000, &fd, NULL) != MC_OK)
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		usleep(200 * 1000);	/* the parent is now waiting */
		put_set("AT-fresh", "RT2", time(NULL) + 3600);
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
test_single_flight(void **state)
{
	(void)state;
	single_flight(60, 0);
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
		if (mc_lock_acquire("other", 1000, &fd, NULL) != MC_OK ||
		    write(ready[1], "r", 1) != 1)
			_exit(1);
		usleep(400 * 1000);
		_exit(0);	/* the lock dies with the process */
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(mc_lock_acquire("other", 100, &fd, &msg), MC_ERR_TEMP);
	assert_non_null(strstr(msg, "another mailcred process"));
	free(msg);
	/* A different account is not blocked. */
	assert_int_equal(mc_lock_acquire("third", 100, &fd, NULL), MC_OK);
	mc_lock_release(fd);
	assert_int_equal(mc_lock_acquire("other", 5000, &fd, NULL), MC_OK);
	mc_lock_release(fd);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
}

static void
test_save_keeps_refresh_token(void **state)
{
	struct mc_token_set in = { "AT-new", NULL, "Bearer", "mail",
	    time(NULL) + 3600 };
	struct mc_token_set ts;

	(void)state;
	put_set("AT-old", "RT-keep", time(NULL) + 10);
	assert_int_equal(mc_token_save(&account, &in, 0, NULL), MC_OK);
	get_set(&ts);
	assert_string_equal(ts.access_token, "AT-new");
	assert_string_equal(ts.refresh_token, "RT-keep");
	mc_token_set_clear(&ts);
	in.refresh_token = "RT-new";
	assert_int_equal(mc_token_save(&account, &in, 0, NULL), MC_OK);
	get_set(&ts);
	assert_string_equal(ts.refresh_token, "RT-new");
	mc_token_set_clear(&ts);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usable),
		cmocka_unit_test(test_name_encode),
		cmocka_unit_test(test_not_logged_in),
		cmocka_unit_test(test_cached),
		cmocka_unit_test(test_expired_without_refresh_token),
		cmocka_unit_test(test_single_flight),
		cmocka_unit_test(test_single_flight_demanding),
		cmocka_unit_test(test_lock_timeout),
		cmocka_unit_test(test_save_keeps_refresh_token),
	};

	mc_json_use_wiping_alloc();
	return cmocka_run_group_tests_name("token", tests, setup, teardown);
}
