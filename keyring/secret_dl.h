/*
 * keyring/secret_dl.h - libsecret and GLib (gio, gobject, glib), loaded on
 * the first keyring operation; private to keyring/secret_service.c.
 *
 * libsecret brings glib, gobject, gio, libgcrypt and a dozen more
 * libraries: mapping and relocating them at every start costs more than a
 * cached `mailcred token` does in all, and opening the store promises no
 * D-Bus traffic anyway. So mailcred is not linked against them.
 * keyring/secret_dl.c opens libsecret-1.so.0 (which brings the rest) with
 * dlopen(3) when a store call first needs the Secret Service, and fills
 * ss_dl with the addresses of the functions below.
 *
 * Include this after <gio/gio.h> and <libsecret/secret.h>: from then on
 * each of those names, and the header macros that expand to them
 * (G_DBUS_PROXY, G_IO_ERROR, SECRET_ERROR, g_new0, g_clear_object, ...),
 * call through ss_dl. The pointers have the types of the headers'
 * prototypes; a GLib function missing from the list is an undefined
 * symbol at link time, since GLib is not linked. Nothing may call them
 * before ss_dl_load() succeeded. Variadic functions (g_variant_new, ...)
 * are called through their pointers as they are.
 *
 * Pointers rather than same-named forwarders (as auth/curl_dl.c has): a
 * program that links GLib itself (the unit test of this store does) keeps
 * its own GLib calls, and no definition of ours stands in for GLib's.
 */
#ifndef MAILCRED_KEYRING_SECRET_DL_H
#define MAILCRED_KEYRING_SECRET_DL_H

#define SS_DL_FUNCS(X) \
	X(g_bus_get) \
	X(g_bus_get_finish) \
	X(g_cancellable_cancel) \
	X(g_cancellable_new) \
	X(g_clear_error) \
	X(g_dbus_connection_call) \
	X(g_dbus_connection_call_finish) \
	X(g_dbus_connection_is_closed) \
	X(g_dbus_error_get_remote_error) \
	X(g_dbus_error_is_remote_error) \
	X(g_dbus_error_quark) \
	X(g_dbus_error_strip_remote_error) \
	X(g_dbus_proxy_get_connection) \
	X(g_dbus_proxy_get_name) \
	X(g_dbus_proxy_get_type) \
	X(g_error_free) \
	X(g_error_matches) \
	X(g_free) \
	X(g_hash_table_insert) \
	X(g_hash_table_new) \
	X(g_hash_table_unref) \
	X(g_io_error_quark) \
	X(g_main_context_iteration) \
	X(g_main_context_new) \
	X(g_main_context_pop_thread_default) \
	X(g_main_context_push_thread_default) \
	X(g_main_context_unref) \
	X(g_malloc0) \
	X(g_malloc0_n) \
	X(g_object_ref) \
	X(g_object_unref) \
	X(g_set_error_literal) \
	X(g_source_attach) \
	X(g_source_destroy) \
	X(g_source_set_callback) \
	X(g_source_unref) \
	X(g_str_equal) \
	X(g_str_hash) \
	X(g_strdup) \
	X(g_strfreev) \
	X(g_strv_length) \
	X(g_timeout_source_new) \
	X(g_type_check_instance_cast) \
	X(g_variant_builder_add) \
	X(g_variant_builder_end) \
	X(g_variant_builder_init) \
	X(g_variant_get) \
	X(g_variant_get_boolean) \
	X(g_variant_is_of_type) \
	X(g_variant_new) \
	X(g_variant_new_string) \
	X(g_variant_ref_sink) \
	X(g_variant_type_checked_) \
	X(g_variant_unref) \
	X(secret_error_get_quark) \
	X(secret_service_encode_dbus_secret) \
	X(secret_service_get_secret_for_dbus_path) \
	X(secret_service_get_secret_for_dbus_path_finish) \
	X(secret_service_get_type) \
	X(secret_service_open) \
	X(secret_service_open_finish) \
	X(secret_service_search_for_dbus_paths) \
	X(secret_service_search_for_dbus_paths_finish) \
	X(secret_value_get) \
	X(secret_value_new) \
	X(secret_value_unref)

struct ss_dl {
#define X(name) __typeof__(&name) p_##name;
	SS_DL_FUNCS(X)
#undef X
};

extern struct ss_dl ss_dl;

/*
 * Opens libsecret (libsecret-1.so.0) and resolves the functions, once;
 * safe to call from any thread. Returns STORE_OK, or STORE_ENOLIB with
 * a message saying what to install.
 */
int ss_dl_load(char **errmsg);

#undef g_bus_get
#define g_bus_get (ss_dl.p_g_bus_get)
#undef g_bus_get_finish
#define g_bus_get_finish (ss_dl.p_g_bus_get_finish)
#undef g_cancellable_cancel
#define g_cancellable_cancel (ss_dl.p_g_cancellable_cancel)
#undef g_cancellable_new
#define g_cancellable_new (ss_dl.p_g_cancellable_new)
#undef g_clear_error
#define g_clear_error (ss_dl.p_g_clear_error)
#undef g_dbus_connection_call
#define g_dbus_connection_call (ss_dl.p_g_dbus_connection_call)
#undef g_dbus_connection_call_finish
#define g_dbus_connection_call_finish (ss_dl.p_g_dbus_connection_call_finish)
#undef g_dbus_connection_is_closed
#define g_dbus_connection_is_closed (ss_dl.p_g_dbus_connection_is_closed)
#undef g_dbus_error_get_remote_error
#define g_dbus_error_get_remote_error (ss_dl.p_g_dbus_error_get_remote_error)
#undef g_dbus_error_is_remote_error
#define g_dbus_error_is_remote_error (ss_dl.p_g_dbus_error_is_remote_error)
#undef g_dbus_error_quark
#define g_dbus_error_quark (ss_dl.p_g_dbus_error_quark)
#undef g_dbus_error_strip_remote_error
#define g_dbus_error_strip_remote_error (ss_dl.p_g_dbus_error_strip_remote_error)
#undef g_dbus_proxy_get_connection
#define g_dbus_proxy_get_connection (ss_dl.p_g_dbus_proxy_get_connection)
#undef g_dbus_proxy_get_name
#define g_dbus_proxy_get_name (ss_dl.p_g_dbus_proxy_get_name)
#undef g_dbus_proxy_get_type
#define g_dbus_proxy_get_type (ss_dl.p_g_dbus_proxy_get_type)
#undef g_error_free
#define g_error_free (ss_dl.p_g_error_free)
#undef g_error_matches
#define g_error_matches (ss_dl.p_g_error_matches)
#undef g_free
#define g_free (ss_dl.p_g_free)
#undef g_hash_table_insert
#define g_hash_table_insert (ss_dl.p_g_hash_table_insert)
#undef g_hash_table_new
#define g_hash_table_new (ss_dl.p_g_hash_table_new)
#undef g_hash_table_unref
#define g_hash_table_unref (ss_dl.p_g_hash_table_unref)
#undef g_io_error_quark
#define g_io_error_quark (ss_dl.p_g_io_error_quark)
#undef g_main_context_iteration
#define g_main_context_iteration (ss_dl.p_g_main_context_iteration)
#undef g_main_context_new
#define g_main_context_new (ss_dl.p_g_main_context_new)
#undef g_main_context_pop_thread_default
#define g_main_context_pop_thread_default (ss_dl.p_g_main_context_pop_thread_default)
#undef g_main_context_push_thread_default
#define g_main_context_push_thread_default (ss_dl.p_g_main_context_push_thread_default)
#undef g_main_context_unref
#define g_main_context_unref (ss_dl.p_g_main_context_unref)
#undef g_malloc0
#define g_malloc0 (ss_dl.p_g_malloc0)
#undef g_malloc0_n
#define g_malloc0_n (ss_dl.p_g_malloc0_n)
#undef g_object_ref
#define g_object_ref (ss_dl.p_g_object_ref)
#undef g_object_unref
#define g_object_unref (ss_dl.p_g_object_unref)
#undef g_set_error_literal
#define g_set_error_literal (ss_dl.p_g_set_error_literal)
#undef g_source_attach
#define g_source_attach (ss_dl.p_g_source_attach)
#undef g_source_destroy
#define g_source_destroy (ss_dl.p_g_source_destroy)
#undef g_source_set_callback
#define g_source_set_callback (ss_dl.p_g_source_set_callback)
#undef g_source_unref
#define g_source_unref (ss_dl.p_g_source_unref)
#undef g_str_equal
#define g_str_equal (ss_dl.p_g_str_equal)
#undef g_str_hash
#define g_str_hash (ss_dl.p_g_str_hash)
#undef g_strdup
#define g_strdup (ss_dl.p_g_strdup)
#undef g_strfreev
#define g_strfreev (ss_dl.p_g_strfreev)
#undef g_strv_length
#define g_strv_length (ss_dl.p_g_strv_length)
#undef g_timeout_source_new
#define g_timeout_source_new (ss_dl.p_g_timeout_source_new)
#undef g_type_check_instance_cast
#define g_type_check_instance_cast (ss_dl.p_g_type_check_instance_cast)
#undef g_variant_builder_add
#define g_variant_builder_add (ss_dl.p_g_variant_builder_add)
#undef g_variant_builder_end
#define g_variant_builder_end (ss_dl.p_g_variant_builder_end)
#undef g_variant_builder_init
#define g_variant_builder_init (ss_dl.p_g_variant_builder_init)
#undef g_variant_get
#define g_variant_get (ss_dl.p_g_variant_get)
#undef g_variant_get_boolean
#define g_variant_get_boolean (ss_dl.p_g_variant_get_boolean)
#undef g_variant_is_of_type
#define g_variant_is_of_type (ss_dl.p_g_variant_is_of_type)
#undef g_variant_new
#define g_variant_new (ss_dl.p_g_variant_new)
#undef g_variant_new_string
#define g_variant_new_string (ss_dl.p_g_variant_new_string)
#undef g_variant_ref_sink
#define g_variant_ref_sink (ss_dl.p_g_variant_ref_sink)
#undef g_variant_type_checked_
#define g_variant_type_checked_ (ss_dl.p_g_variant_type_checked_)
#undef g_variant_unref
#define g_variant_unref (ss_dl.p_g_variant_unref)
#undef secret_error_get_quark
#define secret_error_get_quark (ss_dl.p_secret_error_get_quark)
#undef secret_service_encode_dbus_secret
#define secret_service_encode_dbus_secret (ss_dl.p_secret_service_encode_dbus_secret)
#undef secret_service_get_secret_for_dbus_path
#define secret_service_get_secret_for_dbus_path (ss_dl.p_secret_service_get_secret_for_dbus_path)
#undef secret_service_get_secret_for_dbus_path_finish
#define secret_service_get_secret_for_dbus_path_finish (ss_dl.p_secret_service_get_secret_for_dbus_path_finish)
#undef secret_service_get_type
#define secret_service_get_type (ss_dl.p_secret_service_get_type)
#undef secret_service_open
#define secret_service_open (ss_dl.p_secret_service_open)
#undef secret_service_open_finish
#define secret_service_open_finish (ss_dl.p_secret_service_open_finish)
#undef secret_service_search_for_dbus_paths
#define secret_service_search_for_dbus_paths (ss_dl.p_secret_service_search_for_dbus_paths)
#undef secret_service_search_for_dbus_paths_finish
#define secret_service_search_for_dbus_paths_finish (ss_dl.p_secret_service_search_for_dbus_paths_finish)
#undef secret_value_get
#define secret_value_get (ss_dl.p_secret_value_get)
#undef secret_value_new
#define secret_value_new (ss_dl.p_secret_value_new)
#undef secret_value_unref
#define secret_value_unref (ss_dl.p_secret_value_unref)

#endif
