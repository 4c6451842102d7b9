/*
 * auth/config.h - the configuration file and the provider presets.
 *
 * The file is INI: `[account NAME]` sections for accounts, `[provider NAME]`
 * sections for custom providers (or to adjust a built-in one), `key = value`
 * lines, `#` or `;` comments: a whole line, or the rest of a line from a `#`
 * or `;` that follows a blank after a value or a section header. A value (or
 * a section name) that starts with `"` ends at the closing `"`, with `\"`
 * and `\\` as its only escapes; any other value is taken as written. The
 * rules are mailcred.conf(5)'s. An account is resolved by layering, from
 * weakest to strongest: general defaults, the built-in preset (google,
 * microsoft), a `[provider NAME]` section of the same name, the account's
 * own keys. Reading the file is the only I/O here.
 *
 * Errors name the file and line ("PATH:LINE: ..."); unknown keys, unknown
 * sections and duplicates are errors. The file decides where refresh
 * tokens go and what on_reauth runs, so one that others could change is
 * refused (see mc_config_load). A client secret in a file others can read
 * does not stop the run: it becomes a warning in struct mc_config for the
 * caller to print.
 */
#ifndef MAILCRED_AUTH_CONFIG_H
#define MAILCRED_AUTH_CONFIG_H

#include <stddef.h>

#include "keyring/store.h"

enum mc_auth {
	MC_AUTH_OAUTH2 = 0,
	MC_AUTH_PASSWORD = 1,
};

enum mc_flow {
	MC_FLOW_DEVICE = 0,
	MC_FLOW_BROWSER = 1,
	MC_FLOW_MANUAL = 2,
};

/* Where the short-lived access token is kept (auth/tcache.h). */
enum mc_cache {
	MC_CACHE_RUNTIME = 0,	/* $XDG_RUNTIME_DIR/mailcred; the store without one */
	MC_CACHE_STORE = 1,	/* beside the refresh token, in the store */
	MC_CACHE_NONE = 2,	/* nowhere: every call refreshes */
};

/* A resolved account: every field set, defaults applied. */
struct mc_account {
	char *name;
	char *provider;		/* "google", "microsoft", a custom name or NULL */
	char *user;		/* SASL identity; defaults to name */
	enum mc_auth auth;
	char *client_id;	/* NULL when unset */
	char *client_secret;	/* NULL or "" when none (public client) */
	char *scope;
	enum mc_flow flow;
	char *device_authorization_endpoint;
	char *authorization_endpoint;
	char *token_endpoint;
	char *revocation_endpoint;
	char *auth_params;
	char *redirect_uri;
	char *tenant;
	char *on_reauth;
	char *smtp;
	char *imap;
	char *pop;
	char *ca_file;
	enum store_backend store;
	enum mc_cache cache;
	int timeout;		/* seconds, 1..600 */
	int smtp_mech;		/* enum mc_sasl_mech: XOAUTH2 or OAUTHBEARER */
	int google;		/* the provider is Google (for its quirks and advice) */
};

struct mc_config;

/*
 * The path of the configuration file: override if not NULL, else
 * $MAILCRED_CONFIG, else $XDG_CONFIG_HOME/mailcred/config, else
 * ~/.config/mailcred/config. Returns MC_OK and a malloc'd *path.
 */
int mc_config_path(const char *override, char **path, char **errmsg);

/*
 * Reads and parses the file at path (a symbolic link is followed). A
 * missing file, or anything but a regular file (a FIFO, a directory, a
 * device: refused at once, without blocking), is MC_ERR_CONFIG with
 * advice. So is, as with OpenSSH's StrictModes, a file owned by someone
 * other than the effective user or root, a file writable by group or
 * others, and a file whose directory (as named, or where a symbolic link
 * leads) is writable by group or others without the sticky bit; the
 * message holds the chmod or chown that fixes it. *out is freed with
 * mc_config_free().
 */
int mc_config_load(const char *path, struct mc_config **out, char **errmsg);

/* Parses len bytes of text as if read from path (for tests and load). */
int mc_config_parse(const char *path, const char *text, size_t len,
    struct mc_config **out, char **errmsg);

/* Frees; accepts NULL. Wipes client secrets. */
void mc_config_free(struct mc_config *cfg);

/* Warnings gathered while loading (one line each); valid until freed. */
size_t mc_config_nwarnings(const struct mc_config *cfg);
const char *mc_config_warning(const struct mc_config *cfg, size_t i);

/* Accounts in file order; valid until freed. */
size_t mc_config_naccounts(const struct mc_config *cfg);
const char *mc_config_account_name(const struct mc_config *cfg, size_t i);

/* The file's path as given to load/parse. */
const char *mc_config_file(const struct mc_config *cfg);

/*
 * Resolves the account NAME: presets, provider section, account keys,
 * defaults, checks (client_id and token_endpoint for oauth2, values of
 * enumerated keys, timeout range, the tenant, and the URLs: the four
 * endpoints must be https:// or http:// to a loopback host, redirect_uri
 * http:// to a loopback host, smtp smtp:// or smtps://, imap imap:// or
 * imaps://, pop pop3:// or pop3s://, as auth/url.h reads them; libcurl is
 * not loaded). MC_ERR_CONFIG with a message naming the file (and line where
 * there is one), the key and the fix on any problem. *out is freed with
 * mc_account_free().
 */
int mc_account_resolve(const struct mc_config *cfg, const char *name,
    struct mc_account **out, char **errmsg);

/* Frees; accepts NULL. Wipes the client secret. */
void mc_account_free(struct mc_account *acct);

/*
 * The directory part of path: "." when it has none, "/" for a file in the
 * root; trailing slashes of the directory dropped. Malloc'd; NULL when out
 * of memory.
 */
char *mc_path_dir(const char *path);

/*
 * Refuses dir, the directory of the configuration file path, when others
 * may change what it holds (writable by group or others without the
 * sticky bit) or it is no directory: MC_ERR_CONFIG naming path and the
 * chmod that fixes it; MC_OK otherwise.
 */
int mc_config_check_dir(const char *path, const char *dir, char **errmsg);

/* Names for messages and JSON. */
const char *mc_flow_name(enum mc_flow flow);
const char *mc_auth_name(enum mc_auth auth);

#endif
