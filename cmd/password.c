/* cmd/password.c - mailcred password set|get|delete: app passwords. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/err.h"
#include "auth/export.h"
#include "auth/secmem.h"
#include "auth/token.h"
#include "cmd/cmd.h"

#define PASSWORD_MAX 4096

/*
 * After the password is stored: writes the copies for the programs in
 * export, and brings the copies made before up to date; a note says which.
 */
static int
set_copies(const struct mc_account *acct, struct store *st, int export,
    const char *pw)
{
	char *msg = NULL;
	int found = 0, rc;

	rc = mc_export_find(acct, st, &found, &msg);
	if (rc == MC_OK && (export | found) != 0)
		rc = mc_export_put(acct, st, export | found, pw, &msg);
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, msg);
	if ((export | found) != 0)
		cmd_note("%s: the copy for %s updated: they find it in the "
		    "keyring without passwordeval", acct->name,
		    mc_export_names(export | found));
	return 0;
}

static int
do_set(const struct mc_account *acct, struct store *st, int export)
{
	char *pw = NULL, *msg = NULL, *err = NULL, *prompt = NULL;
	size_t i;
	int rc, serr;

	if (asprintf(&prompt, "App password for %s: ", acct->name) < 0)
		return cmd_fail(acct->name, MC_ERR_NOMEM, NULL);
	rc = cmd_read_secret(prompt, PASSWORD_MAX, &pw, &msg);
	free(prompt);
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, msg);
	for (i = 0; pw[i] != '\0'; i++) {
		if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f) {
			mc_free_secret(pw);
			return cmd_fail(acct->name, MC_ERR_DATA, strdup("the "
			    "password holds a control character"));
		}
	}
	serr = store_put(st, acct->name, MC_KIND_PASSWORD, pw, &msg);
	rc = mc_store_error(serr, msg, "", &err);
	if (rc != MC_OK) {
		mc_free_secret(pw);
		return cmd_fail(acct->name, rc, err);
	}
	rc = set_copies(acct, st, export, pw);
	mc_free_secret(pw);
	if (rc != 0)
		return rc;
	if (acct->auth != MC_AUTH_PASSWORD)
		cmd_note("%s: app password stored; note the account has "
		    "auth = %s: set auth = password to make it the account's "
		    "credential", acct->name, mc_auth_name(acct->auth));
	else
		cmd_note("%s: app password stored in the %s", acct->name,
		    store_backend_name(acct->store));
	return 0;
}

/*
 * Can the copies for export be made for acct? Checked before the
 * password is read: 0, or the exit status of a printed failure.
 */
static int
check_export(const struct mc_account *acct, int export)
{
	struct mc_export_item items[MC_EXPORT_ITEMS_MAX];
	char *msg = NULL;
	size_t n;
	int rc;

	if (export == 0)
		return 0;
	if (acct->store != STORE_KEYRING)
		return cmd_fail(acct->name, MC_ERR_CONFIG, strdup("--export "
		    "needs store = keyring: msmtp and git look passwords up in "
		    "the Secret Service only (with store = file, use "
		    "passwordeval \"mailcred password get ACCOUNT\" in msmtp "
		    "and credential.helper mailcred in git)"));
	rc = mc_export_items(acct, export, items, &n, &msg);
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, msg);
	return 0;
}

static int
password_set(const struct mc_account *acct, int export)
{
	struct store *st = NULL;
	char *msg = NULL;
	int rc;

	rc = check_export(acct, export);
	if (rc != 0)
		return rc;
	rc = mc_store_open(acct, 0, &st, &msg);
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, msg);
	rc = do_set(acct, st, export);
	store_close(st);
	return rc;
}

int
cmd_password_set(const struct mc_account *acct)
{
	return password_set(acct, 0);
}

static int
do_get(const struct mc_account *acct, struct store *st)
{
	char *pw = NULL;
	int rc;

	if ((rc = cmd_get_password(acct, st, &pw)) != 0)
		return rc;
	printf("%s\n", pw);
	store_secret_free(pw);
	return cmd_flush_stdout(acct->name);
}

/*
 * Deletes mailcred's copies for the programs in which (a note says which
 * were there): 0 or the exit status of a printed failure.
 */
static int
delete_copies(const struct mc_account *acct, struct store *st, int which)
{
	char *msg = NULL;
	int deleted = 0, rc;

	rc = mc_export_delete(acct, st, which, &deleted, &msg);
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, msg);
	if (deleted != 0)
		cmd_note("%s: the copy for %s deleted", acct->name,
		    mc_export_names(deleted));
	return 0;
}

/*
 * With export: only those copies. Without: the copies of both programs,
 * then the app password.
 */
static int
do_delete(const struct mc_account *acct, struct store *st, int export)
{
	char *msg = NULL, *err = NULL;
	int serr, rc;

	if (export != 0) {
		rc = check_export(acct, export);
		return rc != 0 ? rc : delete_copies(acct, st, export);
	}
	rc = delete_copies(acct, st, MC_EXPORT_ALL);
	if (rc != 0)
		return rc;
	serr = store_delete(st, acct->name, MC_KIND_PASSWORD, &msg);
	if (serr == STORE_ENOTFOUND) {
		free(msg);
		cmd_note("%s: no app password was stored", acct->name);
		return 0;
	}
	serr = mc_store_error(serr, msg, "", &err);
	if (serr != MC_OK)
		return cmd_fail(acct->name, serr, err);
	cmd_note("%s: app password deleted", acct->name);
	return 0;
}

int
cmd_password(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "export", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	struct store *st = NULL;
	const char *action;
	char *msg = NULL;
	int opt, rc, export = 0;

	while ((opt = cmd_getopt("password", argc, argv, longopts)) != -1) {
		if (opt == 'e' && mc_export_parse(optarg, &export, &msg) !=
		    MC_OK)
			cmd_usage_error("password", "%s", msg);
	}
	if (optind >= argc)
		cmd_usage_error("password", "missing set, get or delete");
	action = argv[optind];
	if (strcmp(action, "set") != 0 && strcmp(action, "get") != 0 &&
	    strcmp(action, "delete") != 0)
		cmd_usage_error("password", "unknown action '%s': use set, get "
		    "or delete", action);
	if (export != 0 && strcmp(action, "get") == 0)
		cmd_usage_error("password", "--export goes with set or delete");
	if (optind + 1 >= argc)
		cmd_usage_error("password", "missing ACCOUNT");
	/* Not echoed: it may be a password typed where it must not be. */
	if (optind + 2 < argc)
		cmd_usage_error("password", "extra arguments after ACCOUNT "
		    "(set reads the password from stdin, never from the "
		    "command line)");
	rc = cmd_load_account(argv[optind + 1], &cfg, &acct);
	if (rc != 0)
		goto out;
	if (strcmp(action, "set") == 0) {
		rc = password_set(acct, export);
		goto out;
	}
	rc = mc_store_open(acct, 0, &st, &msg);
	if (rc != MC_OK) {
		rc = cmd_fail(acct->name, rc, msg);
		goto out;
	}
	if (strcmp(action, "get") == 0)
		rc = do_get(acct, st);
	else
		rc = do_delete(acct, st, export);
out:
	store_close(st);
	mc_account_free(acct);
	mc_config_free(cfg);
	return rc;
}
