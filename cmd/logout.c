/*
 * cmd/logout.c - mailcred logout: forget an account's credentials, and
 * revoke its grant where the provider can.
 *
 * Everything the store holds for the account goes first (token set, app
 * password, recovery file: mc_token_forget()), then the refresh token it
 * held is revoked at revocation_endpoint (RFC 7009). A revocation that
 * fails does not bring anything back: the line says the local tokens are
 * gone, the grant is still valid at the provider, and where to revoke it
 * by hand; the exit status is the revocation's (75 network or 5xx, 78 a
 * client the provider refuses, 69 any other refusal). Nothing stored is
 * exit 0, so logout can be run twice.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/err.h"
#include "auth/export.h"
#include "auth/oauth.h"
#include "auth/secmem.h"
#include "auth/token.h"
#include "cmd/cmd.h"

/* Where the user can revoke acct's grant by hand. */
static const char *
revoke_by_hand(const struct mc_account *acct)
{
	if (acct->google)
		return "at https://myaccount.google.com/permissions";
	if (acct->provider != NULL && strcmp(acct->provider, "microsoft") == 0)
		return "at https://account.live.com/consent/Manage (personal "
		    "accounts) or https://myapps.microsoft.com (work or school "
		    "accounts)";
	return "in the provider's account settings, under the apps that "
	    "have access";
}

/* What was deleted, for the messages: "tokens and app password". */
static const char *
what_forgot(int forgot)
{
	int tokens = (forgot & (MC_FORGOT_TOKENS | MC_FORGOT_RECOVERY)) != 0;

	if (tokens && (forgot & MC_FORGOT_PASSWORD))
		return "the tokens and the app password were";
	if (tokens)
		return "the tokens were";
	return "the app password was";
}

/*
 * How much of a failure message is its cause: up to the advice that
 * follows ("; ...", ": check the network...", ": try again..."), which no
 * longer applies once the token is gone.
 */
static size_t
cause_len(const char *why)
{
	static const char *const advice[] = { "; ", ": check ", ": try again" };
	size_t n = strlen(why), i;
	const char *p;

	for (i = 0; i < sizeof(advice) / sizeof(advice[0]); i++)
		if ((p = strstr(why, advice[i])) != NULL &&
		    (size_t)(p - why) < n)
			n = (size_t)(p - why);
	return n;
}

/*
 * The revocation failed after the tokens were deleted: one line with what
 * happened and what to do. why is the revocation's message, whose advice
 * no longer applies: the token is gone.
 */
static int
revoke_failed(const struct mc_account *acct, int forgot, int rc, char *why)
{
	char *line = NULL;
	size_t n;

	n = why != NULL ? cause_len(why) : strlen("revoking the "
	    "refresh token failed");
	if (asprintf(&line, "%s deleted from the %s, but %.*s: the grant "
	    "stays valid at the provider until it expires; revoke it by hand "
	    "%s", what_forgot(forgot), store_backend_name(acct->store),
	    (int)n, why != NULL ? why : "revoking the refresh token failed",
	    revoke_by_hand(acct)) < 0)
		line = NULL;
	free(why);
	return cmd_fail(acct->name, rc, line);
}

/*
 * The copies of the app password that `password set --export` made for
 * msmtp and git go too; a failure here is a warning: the account's own
 * secrets are what logout is about.
 */
static void
forget_copies(const struct mc_account *acct)
{
	struct store *st = NULL;
	char *msg = NULL;
	int deleted = 0;

	if (acct->store != STORE_KEYRING)
		return;
	if (mc_store_open(acct, 0, &st, &msg) == MC_OK)
		mc_export_delete(acct, st, MC_EXPORT_ALL, &deleted, &msg);
	store_close(st);
	if (msg != NULL)
		cmd_note("%s: warning: the copies of the app password for msmtp "
		    "and git may remain: %s", acct->name, msg);
	else if (deleted != 0)
		cmd_note("%s: the copy for %s deleted", acct->name,
		    mc_export_names(deleted));
	free(msg);
}

int
cmd_logout(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct mc_http_opts http = MC_HTTP_OPTS_INIT;
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	char *rt = NULL, *msg = NULL;
	int opt, rc, forgot = 0;

	while ((opt = cmd_getopt("logout", argc, argv, longopts)) != -1)
		;	/* only the common options */
	rc = cmd_load_account(cmd_account_arg("logout", argc, argv), &cfg,
	    &acct);
	if (rc != 0)
		goto out;
	rc = mc_token_forget(acct, 0, &rt, &forgot, &msg);
	if (rc != MC_OK) {
		rc = cmd_fail(acct->name, rc, msg);
		goto out;
	}
	forget_copies(acct);
	if (forgot == 0) {
		cmd_note("%s: nothing stored for %s: already logged out",
		    acct->name, acct->name);
		goto out;
	}
	if (rt == NULL && (forgot & MC_FORGOT_UNREADABLE)) {
		cmd_note("%s: logged out: %s deleted from the %s, but the "
		    "stored tokens were unreadable, so nothing could be revoked: "
		    "the grant may stay valid until it expires; revoke it by "
		    "hand %s", acct->name, what_forgot(forgot),
		    store_backend_name(acct->store), revoke_by_hand(acct));
		goto out;
	}
	if (rt == NULL) {
		cmd_note("%s: logged out: %s deleted from the %s", acct->name,
		    what_forgot(forgot), store_backend_name(acct->store));
		goto out;
	}
	if (acct->revocation_endpoint == NULL) {
		cmd_note("%s: logged out: %s deleted from the %s; the provider "
		    "has no revocation endpoint, so the grant stays valid until "
		    "it expires: revoke it by hand %s", acct->name,
		    what_forgot(forgot), store_backend_name(acct->store),
		    revoke_by_hand(acct));
		goto out;
	}
	cmd_http_opts(acct, &http);
	rc = mc_oauth_revoke(acct, &http, rt, "refresh_token", &msg);
	if (rc != MC_OK) {
		rc = revoke_failed(acct, forgot, rc, msg);
		goto out;
	}
	cmd_note("%s: logged out: the grant was revoked and %s deleted from "
	    "the %s", acct->name, what_forgot(forgot),
	    store_backend_name(acct->store));
out:
	mc_free_secret(rt);
	mc_account_free(acct);
	mc_config_free(cfg);
	return rc;
}
