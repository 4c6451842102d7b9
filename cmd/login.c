/* cmd/login.c - mailcred login: run an OAuth flow and store the tokens. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/err.h"
#include "auth/oauth.h"
#include "auth/secmem.h"
#include "auth/token.h"
#include "cmd/cmd.h"
#include "cmd/tty.h"

static void
real_sleep(void *ctx, int seconds)
{
	struct timespec ts = { seconds, 0 };

	(void)ctx;
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The device flow's wait: the HTTP poll, and a countdown while it sleeps. */
struct device_wait {
	struct mc_device_http_ctx hc;
	struct cmd_countdown cd;
};

static int
wait_poll(void *ctx, long *status, json_t **resp, char **errmsg)
{
	return mc_device_http_poll(&((struct device_wait *)ctx)->hc, status,
	    resp, errmsg);
}

static void
wait_sleep(void *ctx, int seconds)
{
	cmd_countdown_sleep(&((struct device_wait *)ctx)->cd, seconds);
}

/*
 * The QR code of the page to open (with the code in it when the provider
 * sent verification_uri_complete) on stderr, unless it would be wider
 * than the terminal.
 */
static void
show_qr(const struct mc_account *acct, const struct mc_device_auth *da,
    int json)
{
	const char *uri = da->verification_uri_complete != NULL ?
	    da->verification_uri_complete : da->verification_uri;
	enum cmd_qr_style style = cmd_qr_style_for_locale();
	int cols = cmd_tty_columns(STDERR_FILENO), width;

	width = cmd_qr_width(uri, style);
	if (width < 0 || (cols > 0 && width > cols))
		return;
	if (json)
		fprintf(stderr, "To log in %s, scan this code with a phone:"
		    "\n\n", acct->name);
	else
		fputs("or scan this code with a phone:\n\n", stderr);
	cmd_qr_write(stderr, uri, style, 0);
	fputc('\n', stderr);
}

static time_t
real_now(void *ctx)
{
	(void)ctx;
	return time(NULL);
}

static void
format_time(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		snprintf(buf, size, "%lld", t);
}

/*
 * qr: 1 draw the QR code, 0 never, -1 on a terminal. On a terminal (and
 * not -q) a countdown line shows the time left while it waits.
 */
static int
login_device(const struct mc_account *acct, int json, int qr)
{
	struct mc_http_opts http = MC_HTTP_OPTS_INIT;
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_device_auth da = MC_DEVICE_AUTH_INIT;
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	struct device_wait w = { { NULL, NULL, NULL }, CMD_COUNTDOWN_INIT };
	struct mc_device_io io;
	char *msg = NULL, when[64];
	int tty = isatty(STDERR_FILENO) && !g_opts.quiet, rc;

	cmd_http_opts(acct, &http);
	rc = mc_oauth_device_start(acct, &http, &da, &msg);
	if (rc != MC_OK) {
		rc = cmd_fail(acct->name, rc, msg);
		goto out;
	}
	if (json) {
		rc = cmd_print_json(acct->name, json_pack(
		    "{s:s, s:s?, s:s, s:i, s:i}",
		    "verification_uri", da.verification_uri,
		    "verification_uri_complete", da.verification_uri_complete,
		    "user_code", da.user_code, "expires_in", da.expires_in,
		    "interval", da.interval));
		if (rc != 0)
			goto out;
	} else {
		fprintf(stderr, "To log in %s, open\n\n    %s\n\nand enter "
		    "the code\n\n    %s\n\n", acct->name, da.verification_uri,
		    da.user_code);
		if (da.verification_uri_complete != NULL)
			fprintf(stderr, "(or open %s)\n\n",
			    da.verification_uri_complete);
	}
	if (qr == 1 || (qr == -1 && tty))
		show_qr(acct, &da, json);
	if (!json && !tty)
		fprintf(stderr, "Waiting for approval; the code expires in "
		    "%d min...\n", (da.expires_in + 59) / 60);
	w.hc.acct = acct;
	w.hc.http = &http;
	w.hc.device_code = da.device_code;
	io.poll = wait_poll;
	io.sleep = tty ? wait_sleep : real_sleep;
	io.now = real_now;
	io.ctx = &w;
	cmd_token_warnings(acct, &to);
	if (tty)
		cmd_countdown_start(&w.cd, stderr, "Waiting for approval",
		    time(NULL) + da.expires_in);
	rc = mc_device_wait(acct, &da, &io, &ts, &msg);
	cmd_countdown_end(&w.cd);
	if (rc != MC_OK) {
		/* An unusable answer may still have granted a refresh token. */
		if (ts.refresh_token != NULL) {
			char *smsg = NULL, *line = NULL;
			int n;

			if (mc_token_save(acct, &ts, &to, &smsg) == MC_OK)
				n = asprintf(&line, "%s; the refresh token it "
				    "granted was saved: 'mailcred token %s' will "
				    "try it", msg != NULL ? msg : "the answer "
				    "could not be used", acct->name);
			else
				n = asprintf(&line, "%s; the refresh token it "
				    "granted could not be saved either: %s",
				    msg != NULL ? msg : "the answer could not be "
				    "used", smsg != NULL ? smsg : "failed");
			if (n >= 0) {
				free(msg);
				msg = line;
			}
			free(smsg);
		}
		rc = cmd_fail(acct->name, rc, msg);
		goto out;
	}
	if (ts.scope == NULL)
		ts.scope = mc_strdup(acct->scope);
	rc = mc_token_save(acct, &ts, &to, &msg);
	if (rc != MC_OK) {
		rc = cmd_fail(acct->name, rc, msg);
		goto out;
	}
	if (ts.refresh_token == NULL)
		cmd_note("%s: warning: the provider granted no refresh token, "
		    "so you will have to log in again when the access token "
		    "expires (does scope need offline_access?)", acct->name);
	if (json) {
		rc = cmd_print_json(acct->name, json_pack("{s:s, s:I, s:s?}",
		    "account", acct->name, "expires_at",
		    (json_int_t)ts.expires_at, "scope", ts.scope));
	} else {
		format_time(ts.expires_at, when, sizeof(when));
		if (!g_opts.quiet)
			fprintf(stderr, "Logged in %s; the access token is "
			    "valid until %s.\n", acct->name, when);
		rc = 0;
	}
out:
	mc_device_auth_clear(&da);
	mc_token_set_clear(&ts);
	return rc;
}

/*
 * Reads the store before the user is sent to approve anything: a locked or
 * missing keyring found after the approval would waste it.
 */
static int
check_store(const struct mc_account *acct)
{
	char *msg = NULL;
	int rc;

	rc = mc_token_store_ready(acct, 0, &msg);
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, msg);
	return 0;
}

/*
 * Until the browser and manual flows are built: says so, and what to do
 * instead (auth/oauth.c's advice for Google's invalid_scope agrees).
 */
static int
refuse_flow(const struct mc_account *acct)
{
	char *msg = NULL;

	if (asprintf(&msg, "the browser and manual login flows are not in "
	    "this version of mailcred yet: log in with 'mailcred login %s "
	    "--flow device' (Google refuses it for Gmail: use an app password "
	    "there, 'mailcred password set %s' with auth = password)",
	    acct->name, acct->name) < 0)
		return cmd_fail(acct->name, MC_ERR_NOMEM, NULL);
	return cmd_fail(acct->name, MC_ERR_SERVICE, msg);
}

int
cmd_login(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "flow", required_argument, NULL, 'f' },
		{ "no-open", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "qr", no_argument, NULL, 'Q' },
		{ "no-qr", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	const char *flow = NULL;
	int json = 0, qr = -1, opt, rc;
	enum mc_flow f;

	while ((opt = cmd_getopt("login", argc, argv, longopts)) != -1) {
		switch (opt) {
		case 'f':
			flow = optarg;
			if (strcmp(flow, "device") != 0 &&
			    strcmp(flow, "browser") != 0 &&
			    strcmp(flow, "manual") != 0)
				cmd_usage_error("login", "--flow is device, "
				    "browser or manual, not '%s'", flow);
			break;
		case 'n':
			break;	/* the device flow never opens a browser */
		case 'j':
			json = 1;
			break;
		case 'Q':
			qr = 1;
			break;
		case 'N':
			qr = 0;
			break;
		}
	}
	rc = cmd_load_account(cmd_account_arg("login", argc, argv), &cfg,
	    &acct);
	if (rc != 0)
		goto out;
	if (acct->auth != MC_AUTH_OAUTH2) {
		rc = cmd_fail(acct->name, MC_ERR_CONFIG, strdup("the account "
		    "uses an app password (auth = password): store it with "
		    "'mailcred password set' instead"));
		goto out;
	}
	f = acct->flow;
	if (flow != NULL)
		f = strcmp(flow, "device") == 0 ? MC_FLOW_DEVICE :
		    strcmp(flow, "browser") == 0 ? MC_FLOW_BROWSER :
		    MC_FLOW_MANUAL;
	if (f != MC_FLOW_DEVICE) {
		rc = refuse_flow(acct);
		goto out;
	}
	rc = check_store(acct);
	if (rc != 0)
		goto out;
	rc = login_device(acct, json, qr);
out:
	mc_account_free(acct);
	mc_config_free(cfg);
	return rc;
}
