/*
 * Unit tests: keyring/secret_service - the Secret Service backend against a
 * real gnome-keyring on a private D-Bus session bus.
 *
 * The group setup gives the test a home of its own, starts a dbus-daemon
 * (with no service files, so nothing gets started behind our back) and a
 * gnome-keyring-daemon unlocked with a known password, and a second bus
 * that has no Secret Service at all. The group teardown stops them by PID.
 *
 * GDBus keeps one session bus connection per process, so the cases that
 * need another bus (or none) run this program again as a child:
 * `test_store_ss --child OP TIMEOUT_MS` does one store call and prints the
 * result code and message. A third bus is for a fake Secret Service
 * (fake_secret_service.h), this program again as `--fake-service MODE LOG`,
 * for what gnome-keyring does not do: prompts, no default collection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECRET_API_SUBJECT_TO_CHANGE 1
#include <gio/gio.h>
#include <libsecret/secret.h>

#include "keyring/ssbus.h"
#include "keyring/store.h"
#include "tests/unit/fake_secret_service.h"
#include "tests/unit/store_expect.h"

extern char **environ;

#define KEYRING_PASSWORD "mailcred-test-password"
#define LOGIN_PATH "/org/freedesktop/secrets/collection/login"

/* What the group setup started. */
struct ss_env {
	char root[64];
	char bus_addr[512];
	char nosvc_addr[512];
	char fake_addr[512];
	pid_t bus_pid;
	pid_t nosvc_pid;
	pid_t fake_bus_pid;
	pid_t keyring_pid;
};

static struct ss_env env = { .bus_pid = -1, .nosvc_pid = -1,
    .fake_bus_pid = -1, .keyring_pid = -1 };

static const char bus_conf[] =
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus "
    "Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig>\n"
    "  <type>session</type>\n"
    "  <listen>unix:tmpdir=/tmp</listen>\n"
    "  <policy context=\"default\">\n"
    "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
    "    <allow eavesdrop=\"true\"/>\n"
    "    <allow own=\"*\"/>\n"
    "  </policy>\n"
    "</busconfig>\n";

static int
path_of(char *buf, size_t size, const char *name)
{
	int n;

	n = snprintf(buf, size, "%s/%s", env.root, name);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Starts argv with stdin from in_fd (or /dev/null), stdout to out_fd (or
 * /dev/null), stderr appended to err_path (or /dev/null), environment envp.
 */
static pid_t
spawn(char *const argv[], char *const envp[], int in_fd, int out_fd,
    const char *err_path)
{
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	int rc;

	posix_spawn_file_actions_init(&fa);
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
		    0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
		    0);
	posix_spawn_file_actions_addopen(&fa, 2, err_path != NULL ? err_path :
	    "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv,
	    envp != NULL ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc == 0 ? pid : -1;
}

/* Reads fd to EOF into buf (NUL-terminated); returns the length or -1. */
static ssize_t
read_all(int fd, char *buf, size_t size)
{
	size_t have = 0;
	ssize_t n;

	while (have + 1 < size) {
		n = read(fd, buf + have, size - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	return (ssize_t)have;
}

static int
wait_exit(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts a dbus-daemon on root/NAME; fills its address and PID. */
static int
start_bus(const char *name, char *addr, size_t addr_size, pid_t *pid)
{
	char conf[128], sock[128], listen[160], out[1024], log[128];
	char *argv[] = { (char *)"dbus-daemon", NULL, (char *)"--fork",
	    NULL, (char *)"--print-address=1", (char *)"--print-pid=1", NULL };
	char conf_arg[160], *nl, *end;
	FILE *fp;
	pid_t child;
	long v;
	int fds[2], n;

	if (path_of(conf, sizeof(conf), "bus.conf") != 0 ||
	    path_of(sock, sizeof(sock), name) != 0 ||
	    path_of(log, sizeof(log), "daemons.log") != 0)
		return -1;
	fp = fopen(conf, "w");
	if (fp == NULL)
		return -1;
	fputs(bus_conf, fp);
	if (fclose(fp) != 0)
		return -1;
	n = snprintf(conf_arg, sizeof(conf_arg), "--config-file=%s", conf);
	if (n < 0 || (size_t)n >= sizeof(conf_arg))
		return -1;
	n = snprintf(listen, sizeof(listen), "--address=unix:path=%s", sock);
	if (n < 0 || (size_t)n >= sizeof(listen))
		return -1;
	argv[1] = conf_arg;
	argv[3] = listen;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	child = spawn(argv, NULL, -1, fds[1], log);
	close(fds[1]);
	if (child < 0) {
		close(fds[0]);
		return -1;
	}
	/* The forked daemon closes its stdout: EOF once it is ready. */
	read_all(fds[0], out, sizeof(out));
	close(fds[0]);
	if (wait_exit(child) != 0)
		return -1;

	nl = strchr(out, '\n');
	if (nl == NULL || (size_t)(nl - out) >= addr_size)
		return -1;
	memcpy(addr, out, (size_t)(nl - out));
	addr[nl - out] = '\0';
	errno = 0;
	v = strtol(nl + 1, &end, 10);
	if (errno != 0 || end == nl + 1 || v <= 1 || v > INT32_MAX)
		return -1;
	*pid = (pid_t)v;
	return 0;
}

static int
start_keyring(void)
{
	char *argv[] = { (char *)"gnome-keyring-daemon", (char *)"--foreground",
	    (char *)"--unlock", (char *)"--components=secrets", NULL };
	char *wait_argv[] = { (char *)"gdbus", (char *)"wait", (char *)"--session",
	    (char *)"--timeout", (char *)"10", (char *)"org.freedesktop.secrets",
	    NULL };
	char log[128];
	pid_t waiter;
	int fds[2];
	ssize_t n;

	if (path_of(log, sizeof(log), "daemons.log") != 0)
		return -1;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	env.keyring_pid = spawn(argv, NULL, fds[0], -1, log);
	close(fds[0]);
	if (env.keyring_pid < 0) {
		close(fds[1]);
		return -1;
	}
	/* The password, without a newline, then EOF. */
	n = write(fds[1], KEYRING_PASSWORD, strlen(KEYRING_PASSWORD));
	close(fds[1]);
	if (n != (ssize_t)strlen(KEYRING_PASSWORD))
		return -1;

	/* --unlock returns before the daemon owns its name. */
	waiter = spawn(wait_argv, NULL, -1, -1, log);
	if (waiter < 0 || wait_exit(waiter) != 0)
		return -1;
	return 0;
}

static int
make_dir(const char *name)
{
	char path[128];

	if (path_of(path, sizeof(path), name) != 0)
		return -1;
	return mkdir(path, 0700);
}

static int group_teardown(void **state);

static int
start_all(void)
{
	static const char *const drop[] = { "DISPLAY", "WAYLAND_DISPLAY",
	    "DBUS_SESSION_BUS_ADDRESS", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
	    "XDG_CACHE_HOME", "SECRET_SERVICE_BUS_NAME", "SECRET_BACKEND" };
	char home[128], run[128];
	size_t i;
	int n;

	n = snprintf(env.root, sizeof(env.root), "/tmp/mailcred-ss-XXXXXX");
	if (n < 0 || (size_t)n >= sizeof(env.root) || mkdtemp(env.root) == NULL)
		return -1;
	if (make_dir("home") != 0 || make_dir("run") != 0 ||
	    make_dir("empty") != 0)
		return -1;
	if (path_of(home, sizeof(home), "home") != 0 ||
	    path_of(run, sizeof(run), "run") != 0)
		return -1;

	/* Before the bus starts: what it starts inherits its environment. */
	setenv("HOME", home, 1);
	setenv("XDG_RUNTIME_DIR", run, 1);
	for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		unsetenv(drop[i]);

	if (start_bus("run/bus", env.bus_addr, sizeof(env.bus_addr),
	    &env.bus_pid) != 0)
		return -1;
	if (start_bus("run/nosvc", env.nosvc_addr, sizeof(env.nosvc_addr),
	    &env.nosvc_pid) != 0)
		return -1;
	if (start_bus("run/fake", env.fake_addr, sizeof(env.fake_addr),
	    &env.fake_bus_pid) != 0)
		return -1;
	setenv("DBUS_SESSION_BUS_ADDRESS", env.bus_addr, 1);
	return start_keyring();
}

static int
group_setup(void **state)
{
	if (start_all() == 0)
		return 0;
	/* Stop whatever did start. */
	group_teardown(state);
	return -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	/* Safe to run twice: each PID is forgotten once it is stopped. */
	if (env.keyring_pid > 0) {
		kill(env.keyring_pid, SIGCONT);
		kill(env.keyring_pid, SIGTERM);
		wait_exit(env.keyring_pid);
		env.keyring_pid = -1;
	}
	if (env.bus_pid > 0)
		kill(env.bus_pid, SIGTERM);
	env.bus_pid = -1;
	if (env.nosvc_pid > 0)
		kill(env.nosvc_pid, SIGTERM);
	env.nosvc_pid = -1;
	if (env.fake_bus_pid > 0)
		kill(env.fake_bus_pid, SIGTERM);
	env.fake_bus_pid = -1;
	if (env.root[0] != '\0')
		nftw(env.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	env.root[0] = '\0';
	return 0;
}

static struct store *
open_keyring(int timeout_ms)
{
	struct store_opts opts = STORE_OPTS_INIT;
	struct store *st = NULL;
	char *msg = NULL;

	opts.backend = STORE_KEYRING;
	opts.timeout_ms = timeout_ms;
	assert_int_equal(store_open(&opts, &st, &msg), STORE_OK);
	assert_null(msg);
	return st;
}

static int
setup(void **state)
{
	*state = open_keyring(0);
	return 0;
}

static int
teardown(void **state)
{
	store_close(*state);
	return 0;
}

/* The items of the account, searched directly through libsecret. */
static GList *
items_of(const char *account)
{
	GHashTable *attrs;
	GError *error = NULL;
	GList *items;

	attrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_hash_table_insert(attrs, g_strdup("account"), g_strdup(account));
	items = secret_service_search_sync(NULL, NULL, attrs,
	    SECRET_SEARCH_ALL | SECRET_SEARCH_LOAD_SECRETS, NULL, &error);
	assert_null(error);
	g_hash_table_unref(attrs);
	return items;
}

static const char ss_secret[] = "{\"refresh_token\":\"1//0g-secret\"}";

/* The schema as keyring/secret_service.c defines it. */
static const SecretSchema mc_schema = {
	.name = "org.mailcred.Secret",
	.flags = SECRET_SCHEMA_NONE,
	.attributes = {
		{ "account", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "kind", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ NULL, 0 },
	},
};

static void
test_round_trip(void **state)
{
	struct store *st = *state;
	GList *items;
	SecretItem *item;
	SecretValue *value;
	GHashTable *attrs;
	GHashTableIter it;
	GError *error = NULL;
	gpointer k, v;
	gchar *text;

	expect_put(st, "rt@example.com", "oauth2", ss_secret);
	expect_get(st, "rt@example.com", "oauth2", ss_secret);

	/* The item as other tools see it: schema, label, attributes, value. */
	items = items_of("rt@example.com");
	assert_int_equal(g_list_length(items), 1);
	item = items->data;
	text = secret_item_get_schema_name(item);
	assert_string_equal(text, "org.mailcred.Secret");
	g_free(text);
	text = secret_item_get_label(item);
	assert_string_equal(text, "mailcred: rt@example.com (oauth2)");
	g_free(text);
	attrs = secret_item_get_attributes(item);
	assert_string_equal(g_hash_table_lookup(attrs, "account"),
	    "rt@example.com");
	assert_string_equal(g_hash_table_lookup(attrs, "kind"), "oauth2");
	g_hash_table_iter_init(&it, attrs);
	while (g_hash_table_iter_next(&it, &k, &v))
		assert_null(strstr(v, "secret"));
	g_hash_table_unref(attrs);
	value = secret_item_get_secret(item);
	assert_non_null(value);
	assert_string_equal(secret_value_get_content_type(value), "text/plain");
	assert_string_equal(secret_value_get_text(value), ss_secret);
	secret_value_unref(value);
	g_list_free_full(items, g_object_unref);

	/* libsecret finds it by schema (secret-tool, other programs). */
	text = secret_password_lookup_sync(&mc_schema, NULL, &error, "account",
	    "rt@example.com", "kind", "oauth2", NULL);
	assert_null(error);
	assert_non_null(text);
	assert_string_equal(text, ss_secret);
	secret_password_free(text);

	/* Kinds are separate items. */
	expect_put(st, "rt@example.com", "password", "app password");
	expect_get(st, "rt@example.com", "password", "app password");
	expect_get(st, "rt@example.com", "oauth2", ss_secret);
}

/*
 * The bare-socket read (keyring/ssbus.h) against the real gnome-keyring,
 * over the encrypted session: READERS threads at once, READS reads each,
 * straight through ssbus_get() so that a fall back to libsecret would
 * show. Every read gets the secret, and the daemon is still running
 * afterwards. Before
 * ssbus.c opened with Properties.Get, a first OpenSession could beat
 * gnome-keyring's bookkeeping of a new caller and abort the daemon
 * ("g_variant_new: expected GVariant of type 'v'") within a few hundred
 * reads of two readers.
 */
#define READERS 4
#define READS 400

static void *
bare_reader(void *arg)
{
	int *ok = arg, i;
	char *secret, why[256];

	for (i = 0; i < READS; i++) {
		secret = NULL;
		if (ssbus_get("org.mailcred.Secret", "bare@example.com",
		    "oauth2", 5000, &secret, why, sizeof(why)) == STORE_OK &&
		    strcmp(secret, ss_secret) == 0)
			(*ok)++;
		free(secret);
	}
	return NULL;
}

static void
test_bare_reads(void **state)
{
	struct store *st = *state;
	pthread_t t[READERS];
	int ok[READERS] = { 0 }, i, all = 0, status;
	char *none = NULL, why[256];

	expect_put(st, "bare@example.com", "oauth2", ss_secret);
	for (i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, bare_reader,
		    &ok[i]), 0);
	for (i = 0; i < READERS; i++) {
		pthread_join(t[i], NULL);
		all += ok[i];
	}
	/* Not reaped yet: a daemon that died is a zombie, which kill(0)
	   would not tell. */
	assert_int_equal(waitpid(env.keyring_pid, &status, WNOHANG), 0);
	assert_int_equal(all, READERS * READS);
	/* A missing item is left to libsecret's path. */
	assert_int_equal(ssbus_get("org.mailcred.Secret", "none@example.com",
	    "oauth2", 5000, &none, why, sizeof(why)), SSBUS_DEFER);
	assert_null(none);
}

static void
test_replace(void **state)
{
	struct store *st = *state;
	GList *items;

	expect_put(st, "rep@example.com", "oauth2", "first");
	expect_put(st, "rep@example.com", "oauth2", "second");
	expect_get(st, "rep@example.com", "oauth2", "second");
	items = items_of("rep@example.com");
	assert_int_equal(g_list_length(items), 1);
	g_list_free_full(items, g_object_unref);

	/* A second store in the same process sees the same item. */
	st = open_keyring(2000);
	expect_get(st, "rep@example.com", "oauth2", "second");
	store_close(st);
}

static void
test_delete(void **state)
{
	struct store *st = *state;
	char *msg = NULL;

	expect_put(st, "del@example.com", "oauth2", "tok");
	expect_put(st, "del@example.com", "password", "pw");
	assert_int_equal(store_delete(st, "del@example.com", "oauth2", &msg),
	    STORE_OK);
	assert_null(msg);
	free(expect_get_fails(st, "del@example.com", "oauth2",
	    STORE_ENOTFOUND));
	assert_int_equal(store_delete(st, "del@example.com", "oauth2", &msg),
	    STORE_ENOTFOUND);
	free(msg);
	expect_get(st, "del@example.com", "password", "pw");
}

static void
test_not_found(void **state)
{
	struct store *st = *state;

	free(expect_get_fails(st, "nobody@example.com", "oauth2",
	    STORE_ENOTFOUND));
	/* Same account, other kind. */
	expect_put(st, "nf@example.com", "oauth2", "tok");
	free(expect_get_fails(st, "nf@example.com", "password",
	    STORE_ENOTFOUND));
}

static void
test_invalid(void **state)
{
	struct store *st = *state;
	char *msg = NULL;

	assert_int_equal(store_put(st, "me@x", "Bad/Kind", "x", &msg),
	    STORE_EINVAL);
	free(msg);
	assert_int_equal(store_put(st, "bad\xff", "oauth2", "x", &msg),
	    STORE_EINVAL);
	free(msg);
}

/* This program's path; under valgrind /proc/self/exe names valgrind. */
static void
self_path(char *self, size_t size)
{
	ssize_t len;

	len = readlink("/proc/self/exe", self, size - 1);
	assert_true(len > 0 && (size_t)len < size - 1);
	self[len] = '\0';
}

/*
 * The environment for a child: ours, with DBUS_SESSION_BUS_ADDRESS set to
 * address (unset if NULL) and XDG_RUNTIME_DIR to runtime_dir (kept if
 * NULL). addr_var and run_var hold the new entries; free() the array.
 */
static char **
child_env(const char *address, const char *runtime_dir, char *addr_var,
    size_t addr_size, char *run_var, size_t run_size)
{
	char **envp;
	size_t i, n = 0, count = 0;

	while (environ[count] != NULL)
		count++;
	envp = calloc(count + 3, sizeof(*envp));
	assert_non_null(envp);
	for (i = 0; i < count; i++) {
		if (strncmp(environ[i], "DBUS_SESSION_BUS_ADDRESS=", 25) == 0 ||
		    (runtime_dir != NULL &&
		    strncmp(environ[i], "XDG_RUNTIME_DIR=", 16) == 0))
			continue;
		envp[n++] = environ[i];
	}
	if (address != NULL) {
		assert_true(snprintf(addr_var, addr_size,
		    "DBUS_SESSION_BUS_ADDRESS=%s", address) < (int)addr_size);
		envp[n++] = addr_var;
	}
	if (runtime_dir != NULL) {
		assert_true(snprintf(run_var, run_size, "XDG_RUNTIME_DIR=%s",
		    runtime_dir) < (int)run_size);
		envp[n++] = run_var;
	}
	return envp;
}

/*
 * Runs `self --child OP TIMEOUT` with DBUS_SESSION_BUS_ADDRESS set to
 * address (unset if NULL) and XDG_RUNTIME_DIR to runtime_dir; returns the
 * child's store result and its message in msg.
 */
static int
run_child(const char *op, const char *address, const char *runtime_dir,
    char *msg, size_t msg_size, double *elapsed)
{
	char self[4096];
	char *argv[] = { self, (char *)"--child", (char *)op, (char *)"3000",
	    NULL };
	char **envp, out[1024], *nl, *end, addr_var[600], run_var[200];
	double start;
	pid_t pid;
	long v;
	int fds[2];

	self_path(self, sizeof(self));
	envp = child_env(address, runtime_dir, addr_var, sizeof(addr_var),
	    run_var, sizeof(run_var));
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	start = now_s();
	pid = spawn(argv, envp, -1, fds[1], NULL);
	close(fds[1]);
	free(envp);
	assert_true(pid > 0);
	read_all(fds[0], out, sizeof(out));
	close(fds[0]);
	assert_int_equal(wait_exit(pid), 0);
	*elapsed = now_s() - start;

	nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	errno = 0;
	v = strtol(out, &end, 10);
	assert_true(errno == 0 && end != out && *end == '\0');
	assert_true(snprintf(msg, msg_size, "%s", nl + 1) < (int)msg_size);
	msg[strcspn(msg, "\n")] = '\0';
	return (int)v;
}

/* Stops a fake Secret Service (when the fake bus goes, it goes too). */
static void
stop_fake(pid_t pid)
{
	kill(pid, SIGTERM);
	wait_exit(pid);
}

/*
 * Starts the fake Secret Service in mode on the fake bus, logging to
 * root/fake.log (emptied first); returns its PID once it owns its name.
 */
static pid_t
start_fake(const char *mode)
{
	char self[4096], log[128], addr_var[600];
	char *argv[] = { self, (char *)"--fake-service", (char *)mode, log,
	    NULL };
	char *wait_argv[] = { (char *)"gdbus", (char *)"wait", (char *)"--session",
	    (char *)"--timeout", (char *)"10", (char *)"org.freedesktop.secrets",
	    NULL };
	char **envp;
	pid_t pid, waiter;
	FILE *fp;

	self_path(self, sizeof(self));
	assert_int_equal(path_of(log, sizeof(log), "fake.log"), 0);
	fp = fopen(log, "w");
	assert_non_null(fp);
	fclose(fp);
	envp = child_env(env.fake_addr, NULL, addr_var, sizeof(addr_var), NULL,
	    0);
	pid = spawn(argv, envp, -1, -1, NULL);
	assert_true(pid > 0);
	waiter = spawn(wait_argv, envp, -1, -1, NULL);
	free(envp);
	if (waiter < 0 || wait_exit(waiter) != 0) {
		stop_fake(pid);
		fail_msg("the fake Secret Service did not start");
	}
	return pid;
}

/* The fake service's log, into buf. */
static void
fake_log_text(char *buf, size_t size)
{
	char log[128];
	int fd;

	assert_int_equal(path_of(log, sizeof(log), "fake.log"), 0);
	fd = open(log, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	read_all(fd, buf, size);
	close(fd);
}

static void
test_no_service(void **state)
{
	char msg[1024], run[128], empty[128], missing[200];
	double t;

	(void)state;
	assert_int_equal(path_of(run, sizeof(run), "run"), 0);
	assert_int_equal(path_of(empty, sizeof(empty), "empty"), 0);

	/* A bus without org.freedesktop.secrets. */
	assert_int_equal(run_child("get", env.nosvc_addr, run, msg,
	    sizeof(msg), &t), STORE_ENOSERVICE);
	assert_string_equal(msg, "no Secret Service is running (is "
	    "gnome-keyring or KeePassXC started? on a headless machine use "
	    "store = file)");
	assert_true(t < 2.0);
	assert_int_equal(run_child("put", env.nosvc_addr, run, msg,
	    sizeof(msg), &t), STORE_ENOSERVICE);
	assert_int_equal(run_child("delete", env.nosvc_addr, run, msg,
	    sizeof(msg), &t), STORE_ENOSERVICE);

	/* No bus at all, and no X11 to autolaunch one: its own case. */
	assert_int_equal(run_child("get", NULL, empty, msg, sizeof(msg), &t),
	    STORE_ENOBUS);
	assert_string_equal(msg, "no D-Bus session bus (Cannot autolaunch "
	    "D-Bus without X11 $DISPLAY), so no Secret Service: on a machine "
	    "without a desktop session use store = file");
	assert_true(t < 2.0);
	assert_int_equal(run_child("put", NULL, empty, msg, sizeof(msg), &t),
	    STORE_ENOBUS);
	assert_int_equal(run_child("delete", NULL, empty, msg, sizeof(msg),
	    &t), STORE_ENOBUS);

	/* An address whose socket is gone: no bus either. */
	assert_true(snprintf(missing, sizeof(missing), "unix:path=%s/gone",
	    run) < (int)sizeof(missing));
	assert_int_equal(run_child("get", missing, run, msg, sizeof(msg), &t),
	    STORE_ENOBUS);
	assert_non_null(strstr(msg, "no D-Bus session bus"));
	assert_non_null(strstr(msg, "store = file"));
}

static const char locked_msg[] = "the keyring is locked: unlock it (log in "
    "to the desktop, or `gnome-keyring-daemon --unlock`) or use store = "
    "file";

/*
 * A service that answers CreateItem and Item.Delete with a prompt (as
 * KeePassXC does to ask first): the prompt is dismissed, never shown, and
 * the keyring is reported locked.
 */
static void
test_prompt_dismissed(void **state)
{
	char msg[1024], run[128], log[4096];
	pid_t fake;
	double t;

	(void)state;
	assert_int_equal(path_of(run, sizeof(run), "run"), 0);
	fake = start_fake("prompt");
	assert_int_equal(run_child("put", env.fake_addr, run, msg, sizeof(msg),
	    &t), STORE_ELOCKED);
	assert_string_equal(msg, locked_msg);
	assert_true(t < 2.0);
	assert_int_equal(run_child("delete", env.fake_addr, run, msg,
	    sizeof(msg), &t), STORE_ELOCKED);
	assert_string_equal(msg, locked_msg);
	stop_fake(fake);

	fake_log_text(log, sizeof(log));
	/* The item as put asks for it: replace, with the schema's name. */
	assert_non_null(strstr(log, "ReadAlias\nCreateItem label=mailcred: "
	    "child@example.com (oauth2) account=child@example.com kind=oauth2 "
	    "xdg:schema=org.mailcred.Secret replace=1\nDismiss " FAKE_PROMPT
	    "\n"));
	assert_non_null(strstr(log, "SearchItems\nDelete " FAKE_ITEM
	    "\nDismiss " FAKE_PROMPT "\n"));
	assert_null(strstr(log, "\nPrompt "));
}

/* A service without a default collection: said so, nothing created. */
static void
test_no_default_collection(void **state)
{
	char msg[1024], run[128], log[4096];
	pid_t fake;
	double t;

	(void)state;
	assert_int_equal(path_of(run, sizeof(run), "run"), 0);
	fake = start_fake("nocollection");
	assert_int_equal(run_child("put", env.fake_addr, run, msg, sizeof(msg),
	    &t), STORE_ENOCOLLECTION);
	assert_string_equal(msg, "the Secret Service has no default keyring: "
	    "create one (for example in Seahorse, \"Passwords and Keys\") or "
	    "log in to a desktop session that unlocks the 'login' keyring; or "
	    "use store = file");
	assert_true(t < 2.0);
	/* Nothing can be stored there, so nothing is found there. */
	assert_int_equal(run_child("get", env.fake_addr, run, msg, sizeof(msg),
	    &t), STORE_ENOTFOUND);
	assert_int_equal(run_child("delete", env.fake_addr, run, msg,
	    sizeof(msg), &t), STORE_ENOTFOUND);
	stop_fake(fake);

	fake_log_text(log, sizeof(log));
	assert_non_null(strstr(log, "ReadAlias\n"));
	assert_null(strstr(log, "CreateItem"));
	assert_null(strstr(log, "Prompt"));
}

static void
test_timeout(void **state)
{
	struct store *st = *state, *cold;
	char *secret = NULL, *msg = NULL;
	double start, t;

	expect_put(st, "to@example.com", "oauth2", "tok");
	store_close(st);
	st = open_keyring(500);
	*state = st;
	expect_get(st, "to@example.com", "oauth2", "tok");

	assert_int_equal(kill(env.keyring_pid, SIGSTOP), 0);

	/* A store that has talked to the service already. */
	start = now_s();
	assert_int_equal(store_get(st, "to@example.com", "oauth2", &secret,
	    &msg), STORE_ETIMEOUT);
	t = now_s() - start;
	assert_null(secret);
	assert_non_null(msg);
	assert_string_equal(msg, "the Secret Service did not answer within "
	    "0.5 s: it may be hung or waiting on a prompt; restart it or use "
	    "store = file");
	free(msg);
	/* About 0.5 s: the deadline, not D-Bus's 25 s (slack for a busy box). */
	assert_true(t >= 0.45 && t < 2.0);

	/* The same value again: whether or not the daemon applies it later. */
	start = now_s();
	assert_int_equal(store_put(st, "to@example.com", "oauth2", "tok", &msg),
	    STORE_ETIMEOUT);
	assert_true(now_s() - start < 2.0);
	free(msg);
	assert_int_equal(store_delete(st, "nothing@example.com", "oauth2",
	    &msg), STORE_ETIMEOUT);
	free(msg);

	/* A new store, which must first open the service. */
	cold = open_keyring(300);
	start = now_s();
	assert_int_equal(store_get(cold, "to@example.com", "oauth2", &secret,
	    &msg), STORE_ETIMEOUT);
	t = now_s() - start;
	assert_true(t >= 0.25 && t < 2.0);
	free(msg);
	store_close(cold);

	assert_int_equal(kill(env.keyring_pid, SIGCONT), 0);

	/* Nothing was left behind by the cancelled calls. */
	expect_get(st, "to@example.com", "oauth2", "tok");
	store_close(st);
	*state = open_keyring(0);
	expect_get(*state, "to@example.com", "oauth2", "tok");
}

static int
teardown_cont(void **state)
{
	kill(env.keyring_pid, SIGCONT);
	store_close(*state);
	return 0;
}

/* Locks the login collection, as a screen lock or a timeout would. */
static void
lock_login(void)
{
	GDBusConnection *bus;
	GVariant *reply;
	GError *error = NULL;
	const gchar *paths[] = { LOGIN_PATH, NULL };

	bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
	assert_non_null(bus);
	reply = g_dbus_connection_call_sync(bus, "org.freedesktop.secrets",
	    "/org/freedesktop/secrets", "org.freedesktop.Secret.Service", "Lock",
	    g_variant_new("(^ao)", paths), NULL, G_DBUS_CALL_FLAGS_NONE, 5000,
	    NULL, &error);
	assert_null(error);
	g_variant_unref(reply);
	g_object_unref(bus);
}

/*
 * Unlocks it again without a prompt: gnome-keyring's own interface, with
 * the password sent in a "plain" session on the same connection.
 */
static void
unlock_login(void)
{
	GDBusConnection *bus;
	GVariant *reply, *secret;
	GError *error = NULL;
	const gchar *session;

	bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
	assert_non_null(bus);
	reply = g_dbus_connection_call_sync(bus, "org.freedesktop.secrets",
	    "/org/freedesktop/secrets", "org.freedesktop.Secret.Service",
	    "OpenSession", g_variant_new("(sv)", "plain",
	    g_variant_new_string("")), G_VARIANT_TYPE("(vo)"),
	    G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
	assert_null(error);
	g_variant_get(reply, "(v&o)", NULL, &session);
	secret = g_variant_new("(o@ay@ays)", session,
	    g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, "", 0, 1),
	    g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, KEYRING_PASSWORD,
	    strlen(KEYRING_PASSWORD), 1), "text/plain");
	g_variant_unref(g_dbus_connection_call_sync(bus,
	    "org.freedesktop.secrets", "/org/freedesktop/secrets",
	    "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface",
	    "UnlockWithMasterPassword", g_variant_new("(o@(oayays))",
	    LOGIN_PATH, secret), NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL,
	    &error));
	assert_null(error);
	g_variant_unref(reply);
	g_object_unref(bus);
}

static int
teardown_unlock(void **state)
{
	unlock_login();
	store_close(*state);
	return 0;
}

static void
test_locked(void **state)
{
	struct store *st = *state;
	char *msg = NULL;

	expect_put(st, "lock@example.com", "oauth2", "tok");
	lock_login();

	/* The lookup alone would say "not found": it must say "locked". */
	msg = expect_get_fails(st, "lock@example.com", "oauth2", STORE_ELOCKED);
	assert_non_null(msg);
	assert_string_equal(msg, locked_msg);
	free(msg);
	/* Nothing stored, but the locked collection may hide it. */
	free(expect_get_fails(st, "never@example.com", "oauth2",
	    STORE_ELOCKED));
	assert_int_equal(store_put(st, "lock@example.com", "oauth2", "new",
	    &msg), STORE_ELOCKED);
	assert_string_equal(msg, locked_msg);
	free(msg);
	assert_int_equal(store_delete(st, "lock@example.com", "oauth2", &msg),
	    STORE_ELOCKED);
	free(msg);

	unlock_login();
	expect_get(st, "lock@example.com", "oauth2", "tok");
	free(expect_get_fails(st, "never@example.com", "oauth2",
	    STORE_ENOTFOUND));
}

/* `--child OP TIMEOUT_MS`: one store call; prints "RC\nMESSAGE\n". */
static int
child_main(const char *op, const char *timeout)
{
	struct store *st = NULL;
	char *msg = NULL, *secret = NULL, *end;
	long ms;
	int rc;

	errno = 0;
	ms = strtol(timeout, &end, 10);
	if (errno != 0 || *end != '\0' || ms < 0 || ms > 60000)
		return 2;
	st = open_keyring((int)ms);
	if (strcmp(op, "get") == 0)
		rc = store_get(st, "child@example.com", "oauth2", &secret, &msg);
	else if (strcmp(op, "put") == 0)
		rc = store_put(st, "child@example.com", "oauth2", "x", &msg);
	else
		rc = store_delete(st, "child@example.com", "oauth2", &msg);
	printf("%d\n%s\n", rc, msg != NULL ? msg : "");
	store_secret_free(secret);
	free(msg);
	store_close(st);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_reads, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
		cmocka_unit_test(test_no_service),
		cmocka_unit_test(test_prompt_dismissed),
		cmocka_unit_test(test_no_default_collection),
		cmocka_unit_test_setup_teardown(test_timeout, setup,
		    teardown_cont),
		cmocka_unit_test_setup_teardown(test_locked, setup,
		    teardown_unlock),
	};

	if (argc == 4 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "--fake-service") == 0)
		return fake_service_main(argv[2], argv[3]);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
