/*
 * keyring/secret_service.c - the Secret Service backend (gnome-keyring,
 * KeePassXC, ...) through libsecret; reads first try a bare D-Bus socket
 * (keyring/ssbus.h).
 *
 * Items use the schema "org.mailcred.Secret" with the attributes "account"
 * and "kind" (and "xdg:schema", as libsecret writes it, so that lookups by
 * schema find them); they only name the item, the secret travels as the
 * item's text/plain value. New items go to the collection the "default"
 * alias names.
 *
 * Every call has a deadline. libsecret's synchronous calls wait for D-Bus's
 * own 25 s timeout, twice over when the service is frozen, so each call here
 * runs asynchronous D-Bus calls on a private GMainContext and a timeout
 * source cancels them. A cancelled step is still waited for (briefly), so
 * no callback runs later on memory that is gone.
 *
 * Nothing here ever prompts: no unlock dialog, no "create a keyring"
 * dialog, no confirmation. libsecret's helpers that may prompt
 * (secret_service_lookup, _store, _clear, _create_item_dbus_path,
 * _delete_item_dbus_path) are not used. The two methods that may answer
 * with a prompt, Collection.CreateItem and Item.Delete, are called
 * directly; a prompt in their answer is dismissed unseen, and the store
 * reports STORE_ELOCKED.
 *
 *   get     First on a bare D-Bus socket (keyring/ssbus.h), with no
 *           libsecret: Hello, GetNameOwner, Properties.Get, OpenSession
 *           (encrypted as libsecret's), SearchItems, Item.GetSecret. What
 *           that does not answer (no unix: bus address, no service, no
 *           unlocked match, an error) goes through libsecret:
 *           OpenSession, SearchItems, GetSecrets, the D-Bus calls of
 *           `secret-tool lookup` when it succeeds. A
 *           deadline that passed on the bare socket is final. A match
 *           that is locked is STORE_ELOCKED. When nothing matches it asks
 *           whether the default collection is locked, since a service may
 *           hide a locked collection's items, before it says
 *           STORE_ENOTFOUND.
 *   put     ReadAlias("default"): "/" (no default collection) is
 *           STORE_ENOCOLLECTION; then CreateItem there, replacing an item
 *           with the same attributes. A locked collection (gnome-keyring:
 *           "Cannot create an item in a locked collection") or a prompt is
 *           STORE_ELOCKED.
 *   delete  SearchItems, then Item.Delete on each unlocked match; only
 *           locked matches is STORE_ELOCKED, none STORE_ENOTFOUND.
 *
 * No D-Bus session bus at all is STORE_ENOBUS; a bus without the Secret
 * Service on it, STORE_ENOSERVICE; a libsecret that cannot be loaded,
 * STORE_ENOLIB.
 *
 * libsecret and GLib are opened on the first call that needs them
 * (keyring/secret_dl.h), as is the store's GMainContext: opening the store
 * costs nothing but its memory, and the file store never loads them.
 */
#define SECRET_API_SUBJECT_TO_CHANGE 1

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gio/gio.h>
#include <libsecret/secret.h>

#include "keyring/backend.h"
#include "keyring/secret_dl.h"
#include "keyring/ssbus.h"
#include "keyring/store.h"

/* How long a cancelled step may take to report back before we give up. */
#define SS_GRACE_MS 250

/* The object path of the "default" alias (SECRET_COLLECTION_DEFAULT). */
#define SS_DEFAULT_PATH "/org/freedesktop/secrets/aliases/default"

#define SS_SERVICE_PATH "/org/freedesktop/secrets"
#define SS_IFACE_SERVICE "org.freedesktop.Secret.Service"
#define SS_IFACE_COLLECTION "org.freedesktop.Secret.Collection"
#define SS_IFACE_ITEM "org.freedesktop.Secret.Item"
#define SS_IFACE_PROMPT "org.freedesktop.Secret.Prompt"
#define SS_ERROR_IS_LOCKED "org.freedesktop.Secret.Error.IsLocked"

static const SecretSchema ss_schema = {
	.name = "org.mailcred.Secret",
	.flags = SECRET_SCHEMA_NONE,
	.attributes = {
		{ "account", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "kind", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ NULL, 0 },
	},
};

struct ss_store {
	int timeout_ms;
	GMainContext *ctx;	/* made by the first call */
	SecretService *service;	/* opened on first use, kept for the store */
};

/* One asynchronous step; its callback holds a reference. */
struct ss_wait {
	int refs;
	GAsyncResult *result;
};

/* One store call: its deadline and what the deadline cancels. */
struct ss_call {
	struct ss_store *ss;
	GCancellable *cancel;
	GSource *deadline;
	GSource *grace;
	gboolean timed_out;	/* the deadline passed and cancelled the call */
	gboolean abandoned;	/* the cancelled step did not report back */
	struct ss_wait *wait;
	GDBusConnection *bus;
	SecretService *service;
};

#define SS_CALL_INIT { NULL, NULL, NULL, NULL, FALSE, FALSE, NULL, NULL, NULL }

static void
ss_wait_unref(struct ss_wait *w)
{
	if (w == NULL || --w->refs > 0)
		return;
	if (w->result != NULL)
		g_object_unref(w->result);
	g_free(w);
}

static void
ss_on_ready(GObject *source, GAsyncResult *result, gpointer data)
{
	struct ss_wait *w = data;

	(void)source;
	w->result = g_object_ref(result);
	ss_wait_unref(w);
}

static gboolean
ss_on_grace(gpointer data)
{
	struct ss_call *c = data;

	c->abandoned = TRUE;
	return G_SOURCE_REMOVE;
}

static gboolean
ss_on_deadline(gpointer data)
{
	struct ss_call *c = data;

	c->timed_out = TRUE;
	g_cancellable_cancel(c->cancel);
	c->grace = g_timeout_source_new(SS_GRACE_MS);
	g_source_set_callback(c->grace, ss_on_grace, c, NULL);
	g_source_attach(c->grace, c->ss->ctx);
	return G_SOURCE_REMOVE;
}

/*
 * Loads libsecret (the first time) and starts the call's clock. Returns
 * STORE_OK, and the caller ends the call with ss_call_end(); or
 * STORE_ENOLIB (libsecret cannot be loaded) and there is nothing to
 * end.
 */
static int
ss_call_begin_ms(struct ss_call *c, struct ss_store *ss, int timeout_ms,
    char **errmsg)
{
	int rc;

	rc = ss_dl_load(errmsg);
	if (rc != STORE_OK)
		return rc;
	if (ss->ctx == NULL)
		ss->ctx = g_main_context_new();
	c->ss = ss;
	g_main_context_push_thread_default(ss->ctx);
	c->cancel = g_cancellable_new();
	c->deadline = g_timeout_source_new((guint)timeout_ms);
	g_source_set_callback(c->deadline, ss_on_deadline, c, NULL);
	g_source_attach(c->deadline, ss->ctx);
	return STORE_OK;
}

static int
ss_call_begin(struct ss_call *c, struct ss_store *ss, char **errmsg)
{
	return ss_call_begin_ms(c, ss, ss->timeout_ms, errmsg);
}

static void
ss_call_end(struct ss_call *c)
{
	if (c->deadline != NULL) {
		g_source_destroy(c->deadline);
		g_source_unref(c->deadline);
	}
	if (c->grace != NULL) {
		g_source_destroy(c->grace);
		g_source_unref(c->grace);
	}
	ss_wait_unref(c->wait);
	g_clear_object(&c->service);
	g_clear_object(&c->bus);
	g_clear_object(&c->cancel);
	g_main_context_pop_thread_default(c->ss->ctx);
}

/* The user_data for the next asynchronous step. */
static gpointer
ss_step(struct ss_call *c)
{
	ss_wait_unref(c->wait);
	c->wait = g_new0(struct ss_wait, 1);
	c->wait->refs = 2;
	return c->wait;
}

/*
 * Runs the private context until the step started with ss_step() reports.
 * Returns its result (owned by the call), or NULL when a step cancelled by
 * the deadline did not report within SS_GRACE_MS; it is then left to finish
 * on its own and frees its wait object itself.
 */
static GAsyncResult *
ss_wait(struct ss_call *c)
{
	while (c->wait->result == NULL && !c->abandoned)
		g_main_context_iteration(c->ss->ctx, TRUE);
	return c->wait->result;
}

static int
ss_timeout_ms(int timeout_ms, char **errmsg)
{
	return store_fail(STORE_ETIMEOUT, errmsg, "the Secret Service did not "
	    "answer within %g s: it may be hung or waiting on a prompt; "
	    "restart it or use store = file", timeout_ms / 1000.0);
}

static int
ss_timeout(struct ss_call *c, char **errmsg)
{
	return ss_timeout_ms(c->ss->timeout_ms, errmsg);
}

static int
ss_locked(char **errmsg)
{
	return store_fail(STORE_ELOCKED, errmsg, "the keyring is locked: "
	    "unlock it (log in to the desktop, or `gnome-keyring-daemon "
	    "--unlock`) or use store = file");
}

static int
ss_noservice(char **errmsg)
{
	return store_fail(STORE_ENOSERVICE, errmsg, "no Secret Service is "
	    "running (is gnome-keyring or KeePassXC started? on a headless "
	    "machine use store = file)");
}

static int
ss_nocollection(char **errmsg)
{
	return store_fail(STORE_ENOCOLLECTION, errmsg, "the Secret Service has "
	    "no default keyring: create one (for example in Seahorse, "
	    "\"Passwords and Keys\") or log in to a desktop session that "
	    "unlocks the 'login' keyring; or use store = file");
}

/* 1 if error came from the service as the D-Bus error name. */
static int
ss_remote_is(const GError *error, const char *name)
{
	gchar *remote;
	int is;

	if (!g_dbus_error_is_remote_error(error))
		return 0;
	remote = g_dbus_error_get_remote_error(error);
	is = remote != NULL && strcmp(remote, name) == 0;
	g_free(remote);
	return is;
}

/* Turns a failed step's error into a store error; frees the error. */
static int
ss_fail(struct ss_call *c, GError *error, char **errmsg)
{
	int rc;

	if (c->timed_out || g_error_matches(error, G_IO_ERROR,
	    G_IO_ERROR_TIMED_OUT))
		rc = ss_timeout(c, errmsg);
	else if (g_error_matches(error, SECRET_ERROR, SECRET_ERROR_IS_LOCKED) ||
	    ss_remote_is(error, SS_ERROR_IS_LOCKED))
		rc = ss_locked(errmsg);
	else if (g_error_matches(error, G_DBUS_ERROR,
	    G_DBUS_ERROR_SERVICE_UNKNOWN) ||
	    g_error_matches(error, G_DBUS_ERROR,
	    G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
	    g_error_matches(error, G_DBUS_ERROR,
	    G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND) ||
	    g_error_matches(error, G_DBUS_ERROR,
	    G_DBUS_ERROR_SPAWN_EXEC_FAILED) ||
	    g_error_matches(error, G_DBUS_ERROR,
	    G_DBUS_ERROR_SPAWN_CHILD_EXITED) ||
	    g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_FAILED))
		rc = ss_noservice(errmsg);
	else {
		g_dbus_error_strip_remote_error(error);
		rc = store_fail(STORE_EIO, errmsg, "the Secret Service "
		    "failed: %s", error->message);
	}
	g_error_free(error);
	return rc;
}

/*
 * Makes sure the store has a service proxy with a session open, and gives
 * the call a reference to it. The proxy is the store's own, not libsecret's
 * process-wide one: that one also watches the bus name, one more message
 * on the hot path, and would live on in a context the store has dropped.
 */
static int
ss_connect(struct ss_call *c, char **errmsg)
{
	struct ss_store *ss = c->ss;
	GAsyncResult *res;
	GError *error = NULL;
	int rc;

	if (ss->service != NULL && g_dbus_connection_is_closed(
	    g_dbus_proxy_get_connection(G_DBUS_PROXY(ss->service))))
		g_clear_object(&ss->service);
	if (ss->service != NULL) {
		c->service = g_object_ref(ss->service);
		return STORE_OK;
	}

	/* The bus first, on its own, to tell "no bus" from "no service". */
	g_bus_get(G_BUS_TYPE_SESSION, c->cancel, ss_on_ready, ss_step(c));
	res = ss_wait(c);
	if (res == NULL)
		return ss_timeout(c, errmsg);
	c->bus = g_bus_get_finish(res, &error);
	if (c->bus == NULL) {
		if (c->timed_out) {
			g_error_free(error);
			return ss_timeout(c, errmsg);
		}
		rc = store_fail(STORE_ENOBUS, errmsg, "no D-Bus session bus "
		    "(%s), so no Secret Service: on a machine without a "
		    "desktop session use store = file", error->message);
		g_error_free(error);
		return rc;
	}

	secret_service_open(SECRET_TYPE_SERVICE, NULL,
	    SECRET_SERVICE_OPEN_SESSION, c->cancel, ss_on_ready, ss_step(c));
	res = ss_wait(c);
	if (res == NULL)
		return ss_timeout(c, errmsg);
	ss->service = secret_service_open_finish(res, &error);
	if (ss->service == NULL)
		return ss_fail(c, error, errmsg);
	c->service = g_object_ref(ss->service);
	return STORE_OK;
}

/*
 * SearchItems: the D-Bus paths of the unlocked and the locked matches
 * (with schema, libsecret adds its xdg:schema to attrs).
 */
static int
ss_search(struct ss_call *c, const SecretSchema *schema, GHashTable *attrs,
    gchar ***unlocked, gchar ***locked, char **errmsg)
{
	GAsyncResult *res;
	GError *error = NULL;

	secret_service_search_for_dbus_paths(c->service, schema, attrs,
	    c->cancel, ss_on_ready, ss_step(c));
	res = ss_wait(c);
	if (res == NULL)
		return ss_timeout(c, errmsg);
	if (!secret_service_search_for_dbus_paths_finish(c->service, res,
	    unlocked, locked, &error))
		return ss_fail(c, error, errmsg);
	return STORE_OK;
}

/*
 * Calls method of iface on the service's object at path, within the call's
 * deadline, never starting a service. Returns the answer (the caller
 * unrefs it), or NULL and *error for ss_fail(): a step that the deadline
 * cut off and that did not report back is G_IO_ERROR_CANCELLED.
 */
static GVariant *
ss_dbus_call(struct ss_call *c, const char *path, const char *iface,
    const char *method, GVariant *params, const GVariantType *type,
    GError **error)
{
	GDBusProxy *proxy = G_DBUS_PROXY(c->service);
	GDBusConnection *conn = g_dbus_proxy_get_connection(proxy);
	GAsyncResult *res;

	g_dbus_connection_call(conn, g_dbus_proxy_get_name(proxy), path, iface,
	    method, params, type, G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
	    c->cancel, ss_on_ready, ss_step(c));
	res = ss_wait(c);
	if (res == NULL) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
		    "cut off by the deadline");
		return NULL;
	}
	return g_dbus_connection_call_finish(conn, res, error);
}

/*
 * Nothing matched: STORE_ELOCKED if the default collection is locked (a
 * service may hide a locked collection's items from a search), else
 * STORE_ENOTFOUND.
 */
static int
ss_missing(struct ss_call *c, char **errmsg)
{
	GError *error = NULL;
	GVariant *reply = NULL, *locked = NULL;
	int rc = STORE_ENOTFOUND;

	reply = ss_dbus_call(c, SS_DEFAULT_PATH,
	    "org.freedesktop.DBus.Properties", "Get",
	    g_variant_new("(ss)", SS_IFACE_COLLECTION, "Locked"),
	    G_VARIANT_TYPE("(v)"), &error);
	if (reply == NULL) {
		/* No default collection, or a service without one: not locked. */
		if (c->timed_out)
			rc = ss_timeout(c, errmsg);
		g_error_free(error);
		return rc;
	}
	g_variant_get(reply, "(v)", &locked);
	if (g_variant_is_of_type(locked, G_VARIANT_TYPE_BOOLEAN) &&
	    g_variant_get_boolean(locked))
		rc = ss_locked(errmsg);
	g_variant_unref(locked);
	g_variant_unref(reply);
	return rc;
}

/*
 * ReadAlias("default"): the default collection's object path into *path
 * (g_free it); STORE_ENOCOLLECTION when the alias is unset ("/").
 */
static int
ss_default_collection(struct ss_call *c, gchar **path, char **errmsg)
{
	GError *error = NULL;
	GVariant *reply;
	const gchar *p = NULL;

	*path = NULL;
	reply = ss_dbus_call(c, SS_SERVICE_PATH, SS_IFACE_SERVICE, "ReadAlias",
	    g_variant_new("(s)", "default"), G_VARIANT_TYPE("(o)"), &error);
	if (reply == NULL)
		return ss_fail(c, error, errmsg);
	g_variant_get(reply, "(&o)", &p);
	if (strcmp(p, "/") != 0)
		*path = g_strdup(p);
	g_variant_unref(reply);
	return *path != NULL ? STORE_OK : ss_nocollection(errmsg);
}

/*
 * The service answered with a prompt (to unlock, or to confirm): dismiss
 * it without showing it, and report the keyring as locked.
 */
static int
ss_dismiss(struct ss_call *c, const char *prompt, char **errmsg)
{
	GError *error = NULL;
	GVariant *reply;

	reply = ss_dbus_call(c, prompt, SS_IFACE_PROMPT, "Dismiss", NULL,
	    G_VARIANT_TYPE_UNIT, &error);
	if (reply != NULL)
		g_variant_unref(reply);
	g_clear_error(&error);
	return ss_locked(errmsg);
}

/* CreateItem's properties: the label and the n attributes. */
static GVariant *
ss_item_properties(const struct store_attr *attrs, size_t n,
    const char *label)
{
	GVariantBuilder props, dict;
	size_t i;

	g_variant_builder_init(&dict, G_VARIANT_TYPE("a{ss}"));
	for (i = 0; i < n; i++)
		g_variant_builder_add(&dict, "{ss}", attrs[i].name,
		    attrs[i].value);
	g_variant_builder_init(&props, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&props, "{sv}", "org.freedesktop.Secret.Item.Label",
	    g_variant_new_string(label));
	g_variant_builder_add(&props, "{sv}",
	    "org.freedesktop.Secret.Item.Attributes",
	    g_variant_builder_end(&dict));
	return g_variant_builder_end(&props);
}

/*
 * Item.Delete on each path; a prompt (a service that asks before deleting)
 * is dismissed: STORE_ELOCKED.
 */
static int
ss_delete_items(struct ss_call *c, gchar **paths, char **errmsg)
{
	GError *error = NULL;
	GVariant *reply;
	const gchar *prompt = NULL;
	size_t i;
	int rc = STORE_OK;

	for (i = 0; paths[i] != NULL && rc == STORE_OK; i++) {
		reply = ss_dbus_call(c, paths[i], SS_IFACE_ITEM, "Delete", NULL,
		    G_VARIANT_TYPE("(o)"), &error);
		if (reply == NULL)
			return ss_fail(c, error, errmsg);
		g_variant_get(reply, "(&o)", &prompt);
		if (strcmp(prompt, "/") != 0)
			rc = ss_dismiss(c, prompt, errmsg);
		g_variant_unref(reply);
	}
	return rc;
}

static GHashTable *
ss_attributes(const char *account, const char *kind)
{
	GHashTable *attrs;

	attrs = g_hash_table_new(g_str_hash, g_str_equal);
	g_hash_table_insert(attrs, (gpointer)"account", (gpointer)account);
	g_hash_table_insert(attrs, (gpointer)"kind", (gpointer)kind);
	return attrs;
}

static int
ss_open(const struct store_opts *opts, void **be, char **errmsg)
{
	struct ss_store *ss;

	(void)errmsg;
	*be = NULL;
	ss = calloc(1, sizeof(*ss));
	if (ss == NULL)
		return STORE_ENOMEM;
	ss->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms :
	    STORE_TIMEOUT_DEFAULT;
	*be = ss;
	return STORE_OK;
}

static void
ss_close(void *be)
{
	struct ss_store *ss = be;

	if (ss == NULL)
		return;
	if (ss->ctx == NULL) {
		/* Never used: libsecret may not even be loaded. */
		free(ss);
		return;
	}
	g_clear_object(&ss->service);
	/*
	 * GDBus frees a signal subscription's data from an idle source in the
	 * context that subscribed: ours. Run what is pending, or it leaks.
	 */
	while (g_main_context_iteration(ss->ctx, FALSE))
		continue;
	g_main_context_unref(ss->ctx);
	free(ss);
}

/* The value as a C string into *secret (malloc'd): text without NUL. */
static int
ss_copy_value(SecretValue *value, char **secret, char **errmsg)
{
	const gchar *data;
	gsize len = 0;
	char *copy;

	data = secret_value_get(value, &len);
	if (len > STORE_SECRET_MAX || memchr(data, '\0', len) != NULL)
		return store_fail(STORE_EIO, errmsg, "the stored secret is not "
		    "text: store it again");
	copy = malloc(len + 1);
	if (copy == NULL)
		return STORE_ENOMEM;
	memcpy(copy, data, len);
	copy[len] = '\0';
	*secret = copy;
	return STORE_OK;
}

static int
ss_get(void *be, const char *account, const char *kind, char **secret,
    char **errmsg)
{
	struct ss_call c = SS_CALL_INIT;
	GHashTable *attrs = NULL;
	GAsyncResult *res;
	GError *error = NULL;
	SecretValue *value = NULL;
	gchar **unlocked = NULL, **locked = NULL;
	struct ss_store *ss = be;
	struct timespec t0, t1;
	char why[256];
	long left;
	int rc;

	/*
	 * The common case on a bare bus socket, without libsecret
	 * (keyring/ssbus.h). What it does not answer, libsecret does, and
	 * says why, within what is left of the one deadline.
	 */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = ssbus_get(ss_schema.name, account, kind, ss->timeout_ms, secret,
	    why, sizeof(why));
	switch (rc) {
	case SSBUS_DEFER:
		break;
	case STORE_ETIMEOUT:
		return ss_timeout_ms(ss->timeout_ms, errmsg);
	case STORE_ELOCKED:
		return ss_locked(errmsg);
	case SSBUS_REFUSED:
		return store_fail(STORE_EIO, errmsg, "the Secret Service "
		    "refused to hand out the secret (%s)", why);
	case STORE_ENOMEM:
		return store_fail(rc, errmsg, "out of memory reading the "
		    "keyring");
	default:
		return rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	left = ss->timeout_ms - ((t1.tv_sec - t0.tv_sec) * 1000L +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000L);
	if (left <= 0)
		return ss_timeout_ms(ss->timeout_ms, errmsg);

	rc = ss_call_begin_ms(&c, ss, (int)left, errmsg);
	if (rc != STORE_OK)
		return rc;
	attrs = ss_attributes(account, kind);
	rc = ss_connect(&c, errmsg);
	if (rc != STORE_OK)
		goto out;

	/*
	 * secret_service_lookup() without its unlock step: that one would
	 * pop up an unlock prompt, which the deadline would then cut short.
	 */
	rc = ss_search(&c, &ss_schema, attrs, &unlocked, &locked, errmsg);
	if (rc != STORE_OK)
		goto out;
	if (unlocked == NULL || unlocked[0] == NULL) {
		if (locked != NULL && locked[0] != NULL)
			rc = ss_locked(errmsg);
		else
			rc = ss_missing(&c, errmsg);
		goto out;
	}
	secret_service_get_secret_for_dbus_path(c.service, unlocked[0],
	    c.cancel, ss_on_ready, ss_step(&c));
	res = ss_wait(&c);
	if (res == NULL) {
		rc = ss_timeout(&c, errmsg);
		goto out;
	}
	value = secret_service_get_secret_for_dbus_path_finish(c.service, res,
	    &error);
	if (value == NULL) {
		/* No error: the item went away between the two calls. */
		rc = error != NULL ? ss_fail(&c, error, errmsg) :
		    STORE_ENOTFOUND;
		goto out;
	}

	rc = ss_copy_value(value, secret, errmsg);
out:
	/* libsecret keeps values in its secure memory and wipes them. */
	if (value != NULL)
		secret_value_unref(value);
	g_strfreev(unlocked);
	g_strfreev(locked);
	g_hash_table_unref(attrs);
	ss_call_end(&c);
	return rc;
}

/*
 * CreateItem with attrs in the default collection, replacing an item with
 * the same attributes; a prompt in the answer is dismissed: STORE_ELOCKED.
 */
static int
ss_create(void *be, const struct store_attr *attrs, size_t n,
    const char *label, const char *secret, char **errmsg)
{
	struct ss_call c = SS_CALL_INIT;
	GError *error = NULL;
	GVariant *encoded = NULL, *reply = NULL;
	SecretValue *value = NULL;
	gchar *collection = NULL;
	const gchar *prompt = NULL;
	int rc;

	rc = ss_call_begin(&c, be, errmsg);
	if (rc != STORE_OK)
		return rc;
	rc = ss_connect(&c, errmsg);
	if (rc != STORE_OK)
		goto out;
	rc = ss_default_collection(&c, &collection, errmsg);
	if (rc != STORE_OK)
		goto out;

	/* Encrypted for the session when the service agreed to one. */
	value = secret_value_new(secret, -1, "text/plain");
	encoded = secret_service_encode_dbus_secret(c.service, value);
	if (encoded == NULL) {
		rc = store_fail(STORE_EIO, errmsg, "cannot encode the secret "
		    "for the Secret Service");
		goto out;
	}
	g_variant_ref_sink(encoded);
	reply = ss_dbus_call(&c, collection, SS_IFACE_COLLECTION, "CreateItem",
	    g_variant_new("(@a{sv}@(oayays)b)", ss_item_properties(attrs, n,
	    label), encoded, TRUE), G_VARIANT_TYPE("(oo)"), &error);
	if (reply == NULL) {
		rc = ss_fail(&c, error, errmsg);
		goto out;
	}
	g_variant_get(reply, "(&o&o)", NULL, &prompt);
	rc = strcmp(prompt, "/") == 0 ? STORE_OK : ss_dismiss(&c, prompt,
	    errmsg);
out:
	if (reply != NULL)
		g_variant_unref(reply);
	if (encoded != NULL)
		g_variant_unref(encoded);
	if (value != NULL)
		secret_value_unref(value);
	g_free(collection);
	ss_call_end(&c);
	return rc;
}

static int
ss_put(void *be, const char *account, const char *kind, const char *secret,
    char **errmsg)
{
	struct store_attr attrs[] = {
		{ "account", account },
		{ "kind", kind },
		{ "xdg:schema", ss_schema.name },
	};
	char *label = NULL;
	int rc;

	/* asprintf, not g_strdup_printf: GLib may not be loaded yet. */
	if (asprintf(&label, "mailcred: %s (%s)", account, kind) < 0)
		return STORE_ENOMEM;
	rc = ss_create(be, attrs, G_N_ELEMENTS(attrs), label, secret, errmsg);
	free(label);
	return rc;
}

static int
ss_del(void *be, const char *account, const char *kind, char **errmsg)
{
	struct ss_call c = SS_CALL_INIT;
	GHashTable *attrs = NULL;
	gchar **unlocked = NULL, **locked = NULL;
	int rc;

	rc = ss_call_begin(&c, be, errmsg);
	if (rc != STORE_OK)
		return rc;
	attrs = ss_attributes(account, kind);
	rc = ss_connect(&c, errmsg);
	if (rc != STORE_OK)
		goto out;

	/* secret_service_clear() without its prompt. */
	rc = ss_search(&c, &ss_schema, attrs, &unlocked, &locked, errmsg);
	if (rc != STORE_OK)
		goto out;
	if (unlocked != NULL && unlocked[0] != NULL)
		rc = ss_delete_items(&c, unlocked, errmsg);
	else if (locked != NULL && locked[0] != NULL)
		rc = ss_locked(errmsg);
	else
		rc = ss_missing(&c, errmsg);
out:
	g_strfreev(unlocked);
	g_strfreev(locked);
	g_hash_table_unref(attrs);
	ss_call_end(&c);
	return rc;
}

/* attrs as the hash table SearchItems takes (pointing into attrs). */
static GHashTable *
ss_attr_table(const struct store_attr *attrs, size_t n)
{
	GHashTable *t;
	size_t i;

	t = g_hash_table_new(g_str_hash, g_str_equal);
	for (i = 0; i < n; i++)
		g_hash_table_insert(t, (gpointer)attrs[i].name,
		    (gpointer)attrs[i].value);
	return t;
}

/* Connects and finds the items that have all of attrs (n of them). */
static int
ss_attr_search(struct ss_call *c, const struct store_attr *attrs, size_t n,
    gchar ***unlocked, gchar ***locked, char **errmsg)
{
	GHashTable *table = ss_attr_table(attrs, n);
	int rc;

	rc = ss_connect(c, errmsg);
	if (rc == STORE_OK)
		rc = ss_search(c, NULL, table, unlocked, locked, errmsg);
	g_hash_table_unref(table);
	return rc;
}

static int
ss_item_del(void *be, const struct store_attr *attrs, size_t n,
    size_t *deleted, char **errmsg)
{
	struct ss_call c = SS_CALL_INIT;
	gchar **unlocked = NULL, **locked = NULL;
	int rc;

	rc = ss_call_begin(&c, be, errmsg);
	if (rc != STORE_OK)
		return rc;
	rc = ss_attr_search(&c, attrs, n, &unlocked, &locked, errmsg);
	if (rc != STORE_OK)
		goto out;
	if (unlocked != NULL && unlocked[0] != NULL) {
		rc = ss_delete_items(&c, unlocked, errmsg);
		if (rc == STORE_OK && deleted != NULL)
			*deleted = g_strv_length(unlocked);
	} else if (locked != NULL && locked[0] != NULL)
		rc = ss_locked(errmsg);
	else
		rc = ss_missing(&c, errmsg);
out:
	g_strfreev(unlocked);
	g_strfreev(locked);
	ss_call_end(&c);
	return rc;
}

static int
ss_item_count(void *be, const struct store_attr *attrs, size_t n,
    size_t *count, char **errmsg)
{
	struct ss_call c = SS_CALL_INIT;
	gchar **unlocked = NULL, **locked = NULL;
	int rc;

	rc = ss_call_begin(&c, be, errmsg);
	if (rc != STORE_OK)
		return rc;
	rc = ss_attr_search(&c, attrs, n, &unlocked, &locked, errmsg);
	if (rc != STORE_OK)
		goto out;
	*count = (unlocked != NULL ? g_strv_length(unlocked) : 0) +
	    (locked != NULL ? g_strv_length(locked) : 0);
	if (*count == 0) {
		rc = ss_missing(&c, errmsg);
		if (rc == STORE_ENOTFOUND)
			rc = STORE_OK;
	}
out:
	g_strfreev(unlocked);
	g_strfreev(locked);
	ss_call_end(&c);
	return rc;
}

/* The default collection exists and is unlocked: a put would not fail. */
static int
ss_ready(void *be, char **errmsg)
{
	struct ss_call c = SS_CALL_INIT;
	GError *error = NULL;
	GVariant *reply = NULL, *locked = NULL;
	gchar *path = NULL;
	int rc;

	rc = ss_call_begin(&c, be, errmsg);
	if (rc != STORE_OK)
		return rc;
	rc = ss_connect(&c, errmsg);
	if (rc == STORE_OK)
		rc = ss_default_collection(&c, &path, errmsg);
	if (rc != STORE_OK)
		goto out;
	reply = ss_dbus_call(&c, path, "org.freedesktop.DBus.Properties",
	    "Get", g_variant_new("(ss)", SS_IFACE_COLLECTION, "Locked"),
	    G_VARIANT_TYPE("(v)"), &error);
	if (reply == NULL) {
		rc = ss_fail(&c, error, errmsg);
		goto out;
	}
	g_variant_get(reply, "(v)", &locked);
	if (g_variant_is_of_type(locked, G_VARIANT_TYPE_BOOLEAN) &&
	    g_variant_get_boolean(locked))
		rc = ss_locked(errmsg);
out:
	if (locked != NULL)
		g_variant_unref(locked);
	if (reply != NULL)
		g_variant_unref(reply);
	g_free(path);
	ss_call_end(&c);
	return rc;
}

static int
ss_state_dir(void *be, char **dir, char **errmsg)
{
	(void)be;
	return store_user_state_dir(dir, errmsg);
}

/*
 * Loads what the next read needs, with no D-Bus yet: libcrypto when reads
 * go over a bare socket (keyring/ssbus.h), else libsecret and GLib.
 */
static void
ss_warm(void *be)
{
	(void)be;
	if (ssbus_usable())
		ssbus_warm();
	else
		(void)ss_dl_load(NULL);
}

const struct store_ops store_secret_service_ops = {
	.name = "keyring",
	.open = ss_open,
	.close = ss_close,
	.get = ss_get,
	.put = ss_put,
	.del = ss_del,
	.state_dir = ss_state_dir,
	.ready = ss_ready,
	.item_put = ss_create,
	.item_del = ss_item_del,
	.item_count = ss_item_count,
	.warm = ss_warm,
};
