/* cmd/token.c - mailcred token: print a valid access token. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/err.h"
#include "auth/secmem.h"
#include "auth/token.h"
#include "cmd/cmd.h"

/*
 * Gets a valid token for an oauth2 account; on failure prints the error
 * (running on_reauth when the grant is gone) and returns the exit status.
 */
int
cmd_get_token(const struct mc_account *acct, const struct mc_token_opts *opts,
    struct mc_token_set *ts)
{
	struct mc_http_opts http = MC_HTTP_OPTS_INIT;
	struct mc_token_opts to = *opts;
	char *msg = NULL;
	int rc;

	if (acct->auth != MC_AUTH_OAUTH2)
		return cmd_fail(acct->name, MC_ERR_CONFIG, strdup("the account "
		    "uses an app password (auth = password), not OAuth: use "
		    "'mailcred password get'"));
	cmd_http_opts(acct, &http);
	if (to.warn == NULL)
		cmd_token_warnings(acct, &to);
	rc = mc_token_get(acct, &http, &to, ts, &msg);
	if (rc == MC_OK)
		return 0;
	if (rc == MC_ERR_AUTH)
		cmd_run_on_reauth(acct);
	return cmd_fail(acct->name, rc, msg);
}

int
cmd_token(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, 'j' },
		{ "min-valid", required_argument, NULL, 'm' },
		{ "refresh", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	json_t *o;
	int json = 0, opt, rc;
	long v;

	while ((opt = cmd_getopt("token", argc, argv, longopts)) != -1) {
		switch (opt) {
		case 'j':
			json = 1;
			break;
		case 'm':
			v = cmd_parse_ulong(optarg, 7 * 24 * 3600);
			if (v < 0)
				cmd_usage_error("token", "--min-valid takes "
				    "seconds, 0 to 604800, not '%s'", optarg);
			to.min_valid = (int)v;
			break;
		case 'r':
			to.force = 1;
			break;
		}
	}
	rc = cmd_load_account(cmd_account_arg("token", argc, argv), &cfg,
	    &acct);
	if (rc != 0)
		goto out;
	rc = cmd_get_token(acct, &to, &ts);
	if (rc != 0)
		goto out;
	if (json) {
		o = json_pack("{s:s, s:s, s:s, s:I, s:s?}", "account",
		    acct->name, "access_token", ts.access_token, "token_type",
		    ts.token_type ? ts.token_type : "Bearer", "expires_at",
		    (json_int_t)ts.expires_at, "scope", ts.scope);
		rc = cmd_print_json(acct->name, o);
	} else {
		printf("%s\n", ts.access_token);
		rc = cmd_flush_stdout(acct->name);
	}
out:
	mc_token_set_clear(&ts);
	mc_account_free(acct);
	mc_config_free(cfg);
	return rc;
}
