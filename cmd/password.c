/* cmd/password.c - mailcred password set|get|delete: app passwords. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/err.h"
#include "auth/secmem.h"
#include "auth/token.h"
#include "cmd/cmd.h"

#define PASSWORD_MAX 4096

static int
do_set(const struct mc_account *acct, struct store *st)
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
	mc_free_secret(pw);
	rc = mc_store_error(serr, msg, "", &err);
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, err);
	if (acct->auth != MC_AUTH_PASSWORD)
		cmd_note("%s: app password stored; note the account has "
		    "auth = %s: set auth = password to make it the account's "
		    "credential", acct->name, mc_auth_name(acct->auth));
	else
		cmd_note("%s: app password stored in the %s", acct->name,
		    store_backend_name(acct->store));
	return 0;
}

int
cmd_password_set(const struct mc_account *acct)
{
	struct store *st = NULL;
	char *msg = NULL;
	int rc;

	rc = mc_store_open(acct, 0, &st, &msg);
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, msg);
	rc = do_set(acct, st);
	store_close(st);
	return rc;
}

static int
do_get(const struct mc_account *acct, struct store *st)
{
	char *pw = NULL, *msg = NULL, *err = NULL, *nf = NULL;
	int rc, serr;

	if (asprintf(&nf, "no app password stored: run 'mailcred password "
	    "set %s'", acct->name) < 0)
		return cmd_fail(acct->name, MC_ERR_NOMEM, NULL);
	serr = store_get(st, acct->name, MC_KIND_PASSWORD, &pw, &msg);
	rc = mc_store_error(serr, msg, nf, &err);
	free(nf);
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, err);
	printf("%s\n", pw);
	store_secret_free(pw);
	return cmd_flush_stdout(acct->name);
}

static int
do_delete(const struct mc_account *acct, struct store *st)
{
	char *msg = NULL, *err = NULL;
	int serr;

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
		{ NULL, 0, NULL, 0 }
	};
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	struct store *st = NULL;
	const char *action;
	char *msg = NULL;
	int opt, rc;

	while ((opt = cmd_getopt("password", argc, argv, longopts)) != -1)
		;	/* only the common options */
	if (optind >= argc)
		cmd_usage_error("password", "missing set, get or delete");
	action = argv[optind];
	if (strcmp(action, "set") != 0 && strcmp(action, "get") != 0 &&
	    strcmp(action, "delete") != 0)
		cmd_usage_error("password", "unknown action '%s': use set, get "
		    "or delete", action);
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
		rc = cmd_password_set(acct);
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
		rc = do_delete(acct, st);
out:
	store_close(st);
	mc_account_free(acct);
	mc_config_free(cfg);
	return rc;
}
