/*
 * tests/unit/fake_secret_service.h - a small Secret Service for the cases
 * gnome-keyring does not produce on its own: a service that answers
 * CreateItem and Item.Delete with a prompt (as KeePassXC does when it wants
 * to ask the user first), and one without a default collection. Used by
 * test_store_ss.c, which runs itself as `test_store_ss --fake-service MODE
 * LOG` on a bus of its own; include after the GLib headers.
 *
 * fake_service_main() owns org.freedesktop.secrets on the session bus and
 * serves until SIGTERM. It speaks the "plain" session algorithm only (it
 * refuses the others with NotSupported, as the specification allows), and
 * appends one line per method call to LOG: the method, then what the
 * tests check ("CreateItem label=... account=... kind=... xdg:schema=...
 * replace=1", "Delete PATH", "Dismiss PATH", "Prompt PATH"). Secrets are
 * never logged.
 *
 * MODE "prompt": the default alias is FAKE_COLLECTION, holding one
 * unlocked item FAKE_ITEM that every search finds; CreateItem and
 * Item.Delete answer with the prompt FAKE_PROMPT.
 * MODE "nocollection": ReadAlias answers "/" and searches find nothing.
 */
#ifndef MAILCRED_TESTS_FAKE_SECRET_SERVICE_H
#define MAILCRED_TESTS_FAKE_SECRET_SERVICE_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <gio/gio.h>
#include <glib-unix.h>

#define FAKE_SERVICE_PATH "/org/freedesktop/secrets"
#define FAKE_COLLECTION "/org/freedesktop/secrets/collection/fake"
#define FAKE_ITEM "/org/freedesktop/secrets/collection/fake/1"
#define FAKE_PROMPT "/org/freedesktop/secrets/prompt/p1"
#define FAKE_SESSION "/org/freedesktop/secrets/session/s1"

static const char fake_xml[] =
    "<node>"
    " <interface name='org.freedesktop.Secret.Service'>"
    "  <method name='OpenSession'><arg type='s' direction='in'/>"
    "   <arg type='v' direction='in'/><arg type='v' direction='out'/>"
    "   <arg type='o' direction='out'/></method>"
    "  <method name='SearchItems'><arg type='a{ss}' direction='in'/>"
    "   <arg type='ao' direction='out'/><arg type='ao' direction='out'/>"
    "  </method>"
    "  <method name='ReadAlias'><arg type='s' direction='in'/>"
    "   <arg type='o' direction='out'/></method>"
    " </interface>"
    " <interface name='org.freedesktop.Secret.Collection'>"
    "  <method name='CreateItem'><arg type='a{sv}' direction='in'/>"
    "   <arg type='(oayays)' direction='in'/><arg type='b' direction='in'/>"
    "   <arg type='o' direction='out'/><arg type='o' direction='out'/>"
    "  </method>"
    " </interface>"
    " <interface name='org.freedesktop.Secret.Item'>"
    "  <method name='Delete'><arg type='o' direction='out'/></method>"
    " </interface>"
    " <interface name='org.freedesktop.Secret.Prompt'>"
    "  <method name='Prompt'><arg type='s' direction='in'/></method>"
    "  <method name='Dismiss'/>"
    " </interface>"
    "</node>";

struct fake_service {
	int nocollection;
	FILE *log;
	GMainLoop *loop;
};

static void
fake_log(struct fake_service *fs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fake_log(struct fake_service *fs, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(fs->log, fmt, ap);
	va_end(ap);
	fputc('\n', fs->log);
	fflush(fs->log);
}

/* CreateItem: logs the label and attributes, never the secret. */
static GVariant *
fake_create_item(struct fake_service *fs, GVariant *params)
{
	GVariant *props = NULL, *label, *attrs;
	const gchar *account = "", *kind = "", *schema = "", *text = "";
	gboolean replace = FALSE;

	g_variant_get(params, "(@a{sv}@(oayays)b)", &props, NULL, &replace);
	label = g_variant_lookup_value(props,
	    "org.freedesktop.Secret.Item.Label", G_VARIANT_TYPE_STRING);
	attrs = g_variant_lookup_value(props,
	    "org.freedesktop.Secret.Item.Attributes", G_VARIANT_TYPE("a{ss}"));
	if (label != NULL)
		text = g_variant_get_string(label, NULL);
	if (attrs != NULL) {
		g_variant_lookup(attrs, "account", "&s", &account);
		g_variant_lookup(attrs, "kind", "&s", &kind);
		g_variant_lookup(attrs, "xdg:schema", "&s", &schema);
	}
	fake_log(fs, "CreateItem label=%s account=%s kind=%s xdg:schema=%s "
	    "replace=%d", text, account, kind, schema, replace ? 1 : 0);
	if (label != NULL)
		g_variant_unref(label);
	if (attrs != NULL)
		g_variant_unref(attrs);
	g_variant_unref(props);
	return g_variant_new("(oo)", "/", FAKE_PROMPT);
}

static void
fake_method(GDBusConnection *conn, const gchar *sender, const gchar *path,
    const gchar *iface, const gchar *method, GVariant *params,
    GDBusMethodInvocation *inv, gpointer data)
{
	struct fake_service *fs = data;
	const gchar *algorithm = NULL;
	const gchar *found[] = { FAKE_ITEM, NULL }, *none[] = { NULL };

	(void)conn;
	(void)sender;
	(void)iface;
	if (strcmp(method, "OpenSession") == 0) {
		g_variant_get(params, "(&sv)", &algorithm, NULL);
		fake_log(fs, "OpenSession %s", algorithm);
		if (strcmp(algorithm, "plain") != 0) {
			g_dbus_method_invocation_return_dbus_error(inv,
			    "org.freedesktop.DBus.Error.NotSupported",
			    "only plain");
			return;
		}
		g_dbus_method_invocation_return_value(inv, g_variant_new("(vo)",
		    g_variant_new_string(""), FAKE_SESSION));
	} else if (strcmp(method, "SearchItems") == 0) {
		fake_log(fs, "SearchItems");
		g_dbus_method_invocation_return_value(inv, g_variant_new(
		    "(^ao^ao)", fs->nocollection ? none : found, none));
	} else if (strcmp(method, "ReadAlias") == 0) {
		fake_log(fs, "ReadAlias");
		g_dbus_method_invocation_return_value(inv, g_variant_new("(o)",
		    fs->nocollection ? "/" : FAKE_COLLECTION));
	} else if (strcmp(method, "CreateItem") == 0) {
		g_dbus_method_invocation_return_value(inv,
		    fake_create_item(fs, params));
	} else if (strcmp(method, "Delete") == 0) {
		fake_log(fs, "Delete %s", path);
		g_dbus_method_invocation_return_value(inv, g_variant_new("(o)",
		    FAKE_PROMPT));
	} else {
		/* Prompt.Prompt (which would show it) or Prompt.Dismiss. */
		fake_log(fs, "%s %s", method, path);
		g_dbus_method_invocation_return_value(inv, NULL);
	}
}

static gboolean
fake_on_term(gpointer data)
{
	struct fake_service *fs = data;

	g_main_loop_quit(fs->loop);
	return G_SOURCE_REMOVE;
}

static int
fake_service_main(const char *mode, const char *log_path)
{
	static const GDBusInterfaceVTable vtable = { fake_method, NULL, NULL,
	    { NULL } };
	static const struct {
		const char *path;
		int iface;
	} objects[] = {
		{ FAKE_SERVICE_PATH, 0 }, { FAKE_COLLECTION, 1 },
		{ FAKE_ITEM, 2 }, { FAKE_PROMPT, 3 },
	};
	struct fake_service fs = { 0, NULL, NULL };
	GDBusNodeInfo *info;
	GDBusConnection *bus;
	GVariant *reply;
	size_t i;

	fs.nocollection = strcmp(mode, "nocollection") == 0;
	fs.log = fopen(log_path, "a");
	bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, NULL);
	info = g_dbus_node_info_new_for_xml(fake_xml, NULL);
	if (fs.log == NULL || bus == NULL || info == NULL)
		return 1;
	for (i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
		if (g_dbus_connection_register_object(bus, objects[i].path,
		    info->interfaces[objects[i].iface], &vtable, &fs, NULL,
		    NULL) == 0)
			return 1;
	}
	/* Serving first, then the name: callers never see it half ready. */
	reply = g_dbus_connection_call_sync(bus, "org.freedesktop.DBus",
	    "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName",
	    g_variant_new("(su)", "org.freedesktop.secrets", 4),
	    G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
	if (reply == NULL)
		return 1;
	g_variant_unref(reply);

	fs.loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGTERM, fake_on_term, &fs);
	g_main_loop_run(fs.loop);
	g_main_loop_unref(fs.loop);
	g_dbus_node_info_unref(info);
	g_object_unref(bus);
	fclose(fs.log);
	return 0;
}

#endif
