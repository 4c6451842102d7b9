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

/* The longest access token taken from stdin. */
#define SASL_TOKEN_MAX (64 * 1024)

/* What the command line asks for. */
struct sasl_args {
	const char *name;	/* ACCOUNT; NULL: the token is on stdin */
	const char *user;	/* --user; NULL: the account's user */
	const char *host;	/* --host, or NULL */
	int port;		/* --port, or 0 */
	int mech;		/* --mech: MC_SASL_* */
	int raw;		/* --raw */
};

/* Reads the options and operands into *a; a usage error exits 64. */
static void
sasl_args_parse(int argc, char **argv, struct sasl_args *a)
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
	long v;
	int opt;

	memset(a, 0, sizeof(*a));
	a->mech = MC_SASL_XOAUTH2;
	while ((opt = cmd_getopt("sasl", argc, argv, longopts)) != -1) {
		switch (opt) {
		case 'M':
			a->mech = mc_sasl_mech_parse(optarg);
			if (a->mech < 0)
				cmd_usage_error("sasl", "--mech is xoauth2 or "
				    "oauthbearer, not '%s'", optarg);
			break;
		case 'R':
			a->raw = 1;
			break;
		case 'H':
			a->host = optarg;
			break;
		case 'P':
			v = cmd_parse_ulong(optarg, 65535);
			if (v <= 0)
				cmd_usage_error("sasl", "--port takes 1 to "
				    "65535, not '%s'", optarg);
			a->port = (int)v;
			break;
		case 'U':
			a->user = optarg;
			break;
		}
	}
	if (optind < argc)
		a->name = argv[optind];
	/* Not echoed: it may be a token typed where it must not be. */
	if (optind + 1 < argc)
		cmd_usage_error("sasl", "extra arguments after ACCOUNT (a "
		    "token is read from stdin, never from the command line)");
	if (a->name == NULL && a->user == NULL)
		cmd_usage_error("sasl", "missing ACCOUNT, or --user with the "
		    "token on stdin");
}

/*
 * acct's valid access token into *token (free with mc_free_secret); 0, or
 * the exit status of the printed failure.
 */
static int
account_token(const struct mc_account *acct, char **token)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	int rc;

	rc = cmd_get_token(acct, &to, &ts);
	if (rc == 0) {
		*token = ts.access_token;
		ts.access_token = NULL;
	}
	mc_token_set_clear(&ts);
	return rc;
}

/* The access token from stdin, as account_token; who names it in errors. */
static int
stdin_token(const char *who, char **token)
{
	char *msg = NULL;
	int rc;

	rc = cmd_read_secret("Access token: ", SASL_TOKEN_MAX, token, &msg);
	return rc == MC_OK ? 0 : cmd_fail(who, rc, msg);
}

/*
 * Builds the initial response for user and token and prints it, base64 or
 * raw; 0, or the exit status of the printed failure (about who).
 */
static int
sasl_print(const struct sasl_args *a, const char *who, const char *user,
    const char *token)
{
	char *resp = NULL, *b64 = NULL, *msg = NULL;
	size_t len = 0;
	int rc;

	rc = mc_sasl_build(a->mech, user, token, a->host, a->port, &resp, &len,
	    &msg);
	if (rc != MC_OK)
		return cmd_fail(who, rc, msg);
	if (a->raw) {
		fwrite(resp, 1, len, stdout);	/* errors: cmd_flush_stdout */
		rc = cmd_flush_stdout(who);
	} else {
		b64 = mc_base64_encode((unsigned char *)resp, len);
		if (b64 != NULL) {
			printf("%s\n", b64);
			rc = cmd_flush_stdout(who);
		} else {
			rc = cmd_fail(who, MC_ERR_NOMEM, NULL);
		}
	}
	mc_wipe(resp, len);
	free(resp);
	mc_free_secret(b64);
	return rc;
}

int
cmd_sasl(int argc, char **argv)
{
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	struct sasl_args a;
	const char *user;
	char *token = NULL;
	int rc;

	sasl_args_parse(argc, argv, &a);
	if (a.name != NULL) {
		rc = cmd_load_account(a.name, &cfg, &acct);
		if (rc == 0)
			rc = account_token(acct, &token);
		user = a.user != NULL ? a.user : acct != NULL ? acct->user :
		    NULL;
	} else {
		rc = stdin_token(a.user, &token);
		user = a.user;
	}
	if (rc == 0)
		rc = sasl_print(&a, a.name != NULL ? a.name : user, user,
		    token);
	mc_free_secret(token);
	mc_account_free(acct);
	mc_config_free(cfg);
	return rc;
}
