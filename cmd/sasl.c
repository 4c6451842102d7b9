/* cmd/sasl.c - mailcred sasl: the SASL initial response for a token. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/err.h"
#include "auth/sasl.h"
#include "auth/secmem.h"
#include "auth/token.h"
#include "cmd/cmd.h"

int
cmd_sasl(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "mech", required_argument, NULL, 'M' },
		{ "raw", no_argument, NULL, 'R' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'P' },
		{ "user", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 }
	};
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	const char *user = NULL, *host = NULL, *name = NULL;
	char *token = NULL, *resp = NULL, *b64 = NULL, *msg = NULL;
	size_t len = 0;
	int mech = MC_SASL_XOAUTH2, raw = 0, port = 0, opt, rc;
	long v;

	while ((opt = cmd_getopt("sasl", argc, argv, longopts)) != -1) {
		switch (opt) {
		case 'M':
			mech = mc_sasl_mech_parse(optarg);
			if (mech < 0)
				cmd_usage_error("sasl", "--mech is xoauth2 or "
				    "oauthbearer, not '%s'", optarg);
			break;
		case 'R':
			raw = 1;
			break;
		case 'H':
			host = optarg;
			break;
		case 'P':
			v = cmd_parse_ulong(optarg, 65535);
			if (v <= 0)
				cmd_usage_error("sasl", "--port takes 1 to "
				    "65535, not '%s'", optarg);
			port = (int)v;
			break;
		case 'U':
			user = optarg;
			break;
		}
	}
	if (optind < argc)
		name = argv[optind];
	/* Not echoed: it may be a token typed where it must not be. */
	if (optind + 1 < argc)
		cmd_usage_error("sasl", "extra arguments after ACCOUNT (a "
		    "token is read from stdin, never from the command line)");
	if (name == NULL && user == NULL)
		cmd_usage_error("sasl", "missing ACCOUNT, or --user with the "
		    "token on stdin");

	if (name != NULL) {
		rc = cmd_load_account(name, &cfg, &acct);
		if (rc != 0)
			goto out;
		rc = cmd_get_token(acct, &to, &ts);
		if (rc != 0)
			goto out;
		if (user == NULL)
			user = acct->user;
		token = ts.access_token;
	} else {
		rc = cmd_read_secret("Access token: ", 64 * 1024, &token, &msg);
		if (rc != MC_OK) {
			rc = cmd_fail(user, rc, msg);
			goto out;
		}
	}
	rc = mc_sasl_build(mech, user, token, host, port, &resp, &len, &msg);
	if (rc != MC_OK) {
		rc = cmd_fail(name != NULL ? name : user, rc, msg);
		goto out;
	}
	if (raw) {
		fwrite(resp, 1, len, stdout);	/* errors: cmd_flush_stdout */
	} else {
		b64 = mc_base64_encode((unsigned char *)resp, len);
		if (b64 == NULL) {
			rc = cmd_fail(name, MC_ERR_NOMEM, NULL);
			goto out;
		}
		printf("%s\n", b64);
	}
	rc = cmd_flush_stdout(name != NULL ? name : user);
out:
	if (name == NULL)
		mc_free_secret(token);
	if (resp != NULL) {
		mc_wipe(resp, len);
		free(resp);
	}
	mc_free_secret(b64);
	mc_token_set_clear(&ts);
	mc_account_free(acct);
	mc_config_free(cfg);
	return rc;
}
