/*
 * cmd/accounts.c - mailcred accounts: what is configured and what is
 * stored for it.
 *
 * Every account of the configuration file in file order, with its
 * provider, auth kind, store, whether it is logged in (oauth2: a token set
 * with a refresh token is stored) or has an app password stored (password
 * accounts), and the stored access token's expiry. It only reads: no
 * refresh, no network, no lock, no write, and never prints a secret. An
 * account that does not resolve, or whose store cannot be read (a locked
 * keyring), is listed with its error: the exit status is still 0. Only a
 * configuration file that cannot be loaded fails (78).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "auth/err.h"
#include "auth/secmem.h"
#include "auth/token.h"
#include "cmd/cmd.h"

/* What is known of one account; a NULL or -1 member is unknown or n/a. */
struct row {
	const char *name;
	char *provider;
	const char *auth;
	const char *store;
	const char *flow;
	int logged_in;		/* -1: n/a or unknown */
	int password_stored;	/* -1: n/a or unknown */
	long long expires_at;	/* 0: none */
	char *error;		/* why something is unknown, or NULL */
};

static void
row_clear(struct row *r)
{
	free(r->provider);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

/* Fills r for a resolved account, from its store only. */
static void
row_state(const struct mc_account *acct, struct row *r)
{
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	struct store *st = NULL;
	char *pw = NULL, *msg = NULL;
	int rc, serr;

	if (acct->auth == MC_AUTH_OAUTH2) {
		rc = mc_token_load(acct, 0, &ts, &r->error);
		if (rc != MC_OK && rc != MC_ERR_NOT_LOGGED_IN &&
		    r->error == NULL)
			r->error = strdup("the store cannot be read");
		if (rc == MC_OK) {
			r->logged_in = ts.refresh_token != NULL;
			r->expires_at = ts.expires_at;
		} else if (rc == MC_ERR_NOT_LOGGED_IN) {
			r->logged_in = 0;
			free(r->error);
			r->error = NULL;
		}
		mc_token_set_clear(&ts);
		return;
	}
	rc = mc_store_open(acct, 0, &st, &r->error);
	if (rc == MC_OK) {
		serr = store_get(st, acct->name, MC_KIND_PASSWORD, &pw, &msg);
		store_secret_free(pw);
		if (serr == STORE_OK || serr == STORE_ENOTFOUND) {
			r->password_stored = serr == STORE_OK;
			free(msg);
		} else {
			mc_store_error(serr, msg, "", &r->error);
		}
	}
	if (r->password_stored < 0 && r->error == NULL)
		r->error = strdup("the store cannot be read");
	store_close(st);
}

static int
row_fill(const struct mc_config *cfg, size_t i, struct row *r)
{
	struct mc_account *acct = NULL;

	memset(r, 0, sizeof(*r));
	r->name = mc_config_account_name(cfg, i);
	r->logged_in = -1;
	r->password_stored = -1;
	if (mc_account_resolve(cfg, r->name, &acct, &r->error) != MC_OK) {
		if (r->error == NULL)
			r->error = strdup("the account cannot be resolved");
		return 0;
	}
	if (acct->provider != NULL &&
	    (r->provider = strdup(acct->provider)) == NULL) {
		mc_account_free(acct);
		return -1;
	}
	r->auth = mc_auth_name(acct->auth);
	r->store = store_backend_name(acct->store);
	r->flow = acct->auth == MC_AUTH_OAUTH2 ? mc_flow_name(acct->flow) :
	    NULL;
	row_state(acct, r);
	mc_account_free(acct);
	return 0;
}

static json_t *
row_json(const struct row *r)
{
	json_t *tri[2] = { NULL, NULL };
	int v[2] = { r->logged_in, r->password_stored }, k;

	for (k = 0; k < 2; k++)
		tri[k] = v[k] < 0 ? json_null() : json_boolean(v[k]);
	return json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:s?}",
	    "account", r->name, "provider", r->provider, "auth", r->auth,
	    "store", r->store, "flow", r->flow, "logged_in", tri[0],
	    "password_stored", tri[1], "expires_at", r->expires_at > 0 ?
	    json_integer(r->expires_at) : json_null(), "error", r->error);
}

/* The table's cells of r: ACCOUNT PROVIDER AUTH STORE EXPIRES STATUS. */
#define NCOLS 6

static int
row_cells(const struct row *r, time_t now, char **cell)
{
	char when[64] = "-";
	const char *state;
	size_t n;
	struct tm tm;
	time_t t = (time_t)r->expires_at;
	int k;

	if (r->expires_at > 0 && localtime_r(&t, &tm) != NULL &&
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) > 0 &&
	    r->expires_at <= now) {
		n = strlen(when);
		if (snprintf(when + n, sizeof(when) - n, " (expired)") >=
		    (int)(sizeof(when) - n))
			return -1;
	}
	if (r->auth == NULL)
		state = "error";
	else if (r->error != NULL || (r->logged_in < 0 &&
	    r->password_stored < 0))
		state = "unknown";
	else if (r->logged_in >= 0)
		state = r->logged_in ? "logged in" : "not logged in";
	else
		state = r->password_stored ? "password stored" :
		    "no password stored";
	for (k = 0; k < NCOLS; k++)
		cell[k] = NULL;
	cell[0] = strdup(r->name);
	cell[1] = strdup(r->provider != NULL ? r->provider :
	    r->auth != NULL ? "-" : "?");
	cell[2] = strdup(r->auth != NULL ? r->auth : "?");
	cell[3] = strdup(r->store != NULL ? r->store : "?");
	cell[4] = strdup(when);
	/*
	 * The error's first clause (a store's, up to its advice after ':';
	 * a configuration error's, which starts with FILE:LINE:, up to ';'):
	 * the whole line is in --json.
	 */
	n = r->error == NULL ? 0 : strcspn(r->error, r->auth != NULL ?
	    ":;" : ";");
	if (r->error == NULL)
		cell[5] = strdup(state);
	else if (asprintf(&cell[5], "%s (%.*s)", state, (int)n,
	    r->error) < 0)
		cell[5] = NULL;
	for (k = 0; k < NCOLS; k++) {
		if (cell[k] == NULL)
			return -1;
		mc_sanitize_text(cell[k], 300);
	}
	return 0;
}

static int
print_table(const char *file, struct row *rows, size_t nrows)
{
	static const char *const head[NCOLS] = { "ACCOUNT", "PROVIDER",
	    "AUTH", "STORE", "EXPIRES", "STATUS" };
	char **cells;
	size_t width[NCOLS], i, k, len;
	time_t now = time(NULL);
	int rc = 0;

	if (nrows == 0) {
		cmd_note("no accounts in %s: add one with 'mailcred add "
		    "ADDRESS'", file);
		return 0;
	}
	cells = calloc(nrows * NCOLS, sizeof(*cells));
	if (cells == NULL)
		return cmd_fail(NULL, MC_ERR_NOMEM, NULL);
	for (k = 0; k < NCOLS; k++)
		width[k] = strlen(head[k]);
	for (i = 0; i < nrows; i++) {
		if (row_cells(&rows[i], now, cells + i * NCOLS) != 0) {
			rc = cmd_fail(rows[i].name, MC_ERR_NOMEM, NULL);
			goto out;
		}
		for (k = 0; k < NCOLS; k++) {
			len = strlen(cells[i * NCOLS + k]);
			if (len > width[k])
				width[k] = len;
		}
	}
	for (k = 0; k < NCOLS; k++)
		printf("%-*s%s", k + 1 < NCOLS ? (int)width[k] : 0, head[k],
		    k + 1 < NCOLS ? "  " : "\n");
	for (i = 0; i < nrows; i++)
		for (k = 0; k < NCOLS; k++)
			printf("%-*s%s", k + 1 < NCOLS ? (int)width[k] : 0,
			    cells[i * NCOLS + k], k + 1 < NCOLS ? "  " : "\n");
	rc = cmd_flush_stdout(NULL);
out:
	for (i = 0; i < nrows * NCOLS; i++)
		free(cells[i]);
	free(cells);
	return rc;
}

int
cmd_accounts(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct mc_config *cfg = NULL;
	struct row *rows = NULL;
	json_t *arr = NULL, *o;
	char *text;
	size_t i, n = 0;
	int json = 0, opt, rc;

	while ((opt = cmd_getopt("accounts", argc, argv, longopts)) != -1)
		if (opt == 'j')
			json = 1;
	if (optind < argc)
		cmd_usage_error("accounts", "extra argument '%s'",
		    argv[optind]);
	if ((rc = cmd_load_config(NULL, &cfg)) != 0)
		goto out;
	n = mc_config_naccounts(cfg);
	rows = calloc(n + 1, sizeof(*rows));
	if (rows == NULL) {
		rc = cmd_fail(NULL, MC_ERR_NOMEM, NULL);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (row_fill(cfg, i, &rows[i]) != 0) {
			rc = cmd_fail(rows[i].name, MC_ERR_NOMEM, NULL);
			goto out;
		}
	}
	if (!json) {
		rc = print_table(mc_config_file(cfg), rows, n);
		goto out;
	}
	arr = json_array();
	for (i = 0; arr != NULL && i < n; i++) {
		o = row_json(&rows[i]);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	text = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
	if (text == NULL) {
		rc = cmd_fail(NULL, MC_ERR_NOMEM, NULL);
		goto out;
	}
	printf("%s\n", text);
	mc_json_free(text);
	rc = cmd_flush_stdout(NULL);
out:
	for (i = 0; rows != NULL && i < n; i++)
		row_clear(&rows[i]);
	free(rows);
	json_decref(arr);
	mc_config_free(cfg);
	return rc;
}
