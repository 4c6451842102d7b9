/* cmd/login.c - mailcred login: run an OAuth flow and store the tokens. */
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/err.h"
#include "auth/listener.h"
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
	cmd_qr_write_colors(stderr, uri, style, 0,
	    cmd_tty_can_redraw(STDERR_FILENO));
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
		/* Fits: callers pass 64 bytes, a long long has 20 digits. */
		(void)snprintf(buf, size, "%lld", t);
}

/*
 * Stores what a login granted (only now: a failed login leaves the old
 * grant alone) and says so: the result line under --json.
 */
/* Stores ts for acct (MC_OK, or an MC_ERR_* code and *msg). */
static int
save_tokens(const struct mc_account *acct, struct mc_token_set *ts,
    char **msg)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;

	cmd_token_warnings(acct, &to);
	if (ts->scope == NULL)
		ts->scope = mc_strdup(acct->scope);
	return mc_token_save(acct, ts, &to, msg);
}

/* Says the login worked: a note, and the result line under --json. */
static int
report_login(const struct mc_account *acct, const struct mc_token_set *ts,
    int json)
{
	char when[64];

	if (ts->refresh_token == NULL)
		cmd_note("%s: warning: the provider granted no refresh token, "
		    "so you will have to log in again when the access token "
		    "expires (does scope need offline_access?)", acct->name);
	if (json)
		return cmd_print_json(acct->name, json_pack("{s:s, s:I, s:s?}",
		    "account", acct->name, "expires_at",
		    (json_int_t)ts->expires_at, "scope", ts->scope));
	format_time(ts->expires_at, when, sizeof(when));
	if (!g_opts.quiet)
		fprintf(stderr, "Logged in %s; the access token is valid until "
		    "%s.\n", acct->name, when);
	return 0;
}

static int
save_and_report(const struct mc_account *acct, struct mc_token_set *ts,
    int json)
{
	char *msg = NULL;
	int rc;

	rc = save_tokens(acct, ts, &msg);
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, msg);
	return report_login(acct, ts, json);
}

/*
 * qr: 1 draw the QR code, 0 never, -1 on a terminal. On a terminal (and
 * not -q) a countdown line shows the time left while it waits. max_wait
 * (--timeout; 0: none) ends the wait before the code expires.
 */
static int
login_device(const struct mc_account *acct, int json, int qr, int max_wait)
{
	struct mc_http_opts http = MC_HTTP_OPTS_INIT;
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_device_auth da = MC_DEVICE_AUTH_INIT;
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	struct device_wait w = { { NULL, NULL, NULL }, CMD_COUNTDOWN_INIT };
	struct mc_device_io io;
	char *msg = NULL;
	int tty = isatty(STDERR_FILENO) && !g_opts.quiet, rc;
	int redraw = tty && cmd_tty_can_redraw(STDERR_FILENO);

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
	if (!json && !redraw)
		fprintf(stderr, "Waiting for approval; the code expires in "
		    "%d min...\n", (da.expires_in + 59) / 60);
	w.hc.acct = acct;
	w.hc.http = &http;
	w.hc.device_code = da.device_code;
	io.poll = wait_poll;
	io.sleep = redraw ? wait_sleep : real_sleep;
	io.now = real_now;
	io.ctx = &w;
	cmd_token_warnings(acct, &to);
	if (redraw)
		cmd_countdown_start(&w.cd, stderr, "Waiting for approval",
		    time(NULL) + (max_wait > 0 && max_wait < da.expires_in ?
		    max_wait : da.expires_in));
	rc = mc_device_wait_within(acct, &da, &io, max_wait, &ts, &msg);
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
	rc = save_and_report(acct, &ts, json);
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

/* What login's options ask of the browser and manual flows. */
struct code_opts {
	int json;
	int no_open;
	unsigned int port;	/* 0: the kernel's choice (browser) */
	int timeout;		/* seconds for the redirect or the paste */
	int timeout_set;	/* --timeout given: it bounds the device flow */
};

/* The longest line accepted as a pasted redirect URL or code. */
#define PASTE_MAX 8192

/*
 * Starts $BROWSER (its first entry, when it is a ':' list) or xdg-open on
 * url when there is a display, without waiting for it. A failure is a
 * note: the URL is on the screen anyway.
 */
static void
open_browser(const char *url)
{
	const char *d = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");
	const char *b = getenv("BROWSER");
	char *prog, *argv[3];
	pid_t pid;
	int rc;

	if ((d == NULL || d[0] == '\0') && (w == NULL || w[0] == '\0'))
		return;
	prog = strndup(b != NULL && b[0] != '\0' && b[0] != ':' ? b :
	    "xdg-open", b != NULL && b[0] != '\0' && b[0] != ':' ?
	    strcspn(b, ":") : strlen("xdg-open"));
	if (prog == NULL)
		return;
	argv[0] = prog;
	argv[1] = (char *)url;
	argv[2] = NULL;
	/* Quiet: a browser's chatter must not cover the countdown. */
	rc = cmd_spawn(prog, argv, NULL, 1, &pid);
	if (rc != 0)
		cmd_note("could not start %s (%s): open the URL yourself", prog,
		    strerror(rc));
	else
		waitpid(pid, NULL, WNOHANG);	/* reaped at exit otherwise */
	free(prog);
}

/* What the listener's callbacks share: the account, the countdown. */
struct browser_wait {
	const char *account;
	int tty;		/* stderr is a terminal that redraws, not -q */
	struct cmd_countdown cd;
};

/*
 * The listener's tick: on a terminal (and not -q), a line updated in
 * place with the time left (started on the first tick, and again after a
 * warning cleared it).
 */
static void
wait_line(void *ctx, int seconds_left)
{
	struct browser_wait *bw = ctx;

	if (!bw->tty)
		return;
	if (bw->cd.f == NULL)
		cmd_countdown_start(&bw->cd, stderr, "Waiting for the browser",
		    time(NULL) + seconds_left);
	cmd_countdown_update(&bw->cd, time(NULL));
}

/* A warning from the listener, on a line of its own. */
static void
listener_warn(void *ctx, const char *line)
{
	struct browser_wait *bw = ctx;

	cmd_countdown_end(&bw->cd);
	cmd_note("%s: warning: %s", bw->account, line);
}

/* The code from the listener: 0 and *code, or the exit status. */
static int
code_from_browser(const struct mc_account *acct, struct mc_listener *l,
    const struct mc_authz_request *req, const struct code_opts *o,
    struct mc_redirect *r)
{
	struct mc_listener_cb cb;
	struct browser_wait bw = { NULL, 0, CMD_COUNTDOWN_INIT };
	char *msg = NULL;
	int rc;

	if (!o->no_open)
		open_browser(req->url);
	cb.tick = wait_line;
	cb.warn = listener_warn;
	bw.account = acct->name;
	bw.tty = cmd_tty_can_redraw(STDERR_FILENO) && !g_opts.quiet;
	if (!bw.tty && !g_opts.quiet && isatty(STDERR_FILENO))
		fprintf(stderr, "Waiting for the browser; giving up in %d min "
		    "%02d s...\n", o->timeout / 60, o->timeout % 60);
	cb.ctx = &bw;
	rc = mc_listener_wait(l, o->timeout, req->state,
	    acct->authorization_endpoint, acct->name, &cb, r, &msg);
	cmd_countdown_end(&bw.cd);
	if (rc == MC_OK)
		return 0;
	if (rc == MC_ERR_AUTH) {
		char *line = NULL;

		if (asprintf(&line, "the login failed: %s; run 'mailcred "
		    "login %s' again", msg, acct->name) >= 0) {
			free(msg);
			msg = line;
		}
	}
	return cmd_fail(acct->name, rc, msg);
}

/* The code the user pastes: 0 and *code, or the exit status. */
static int
code_from_paste(const struct mc_account *acct,
    const struct mc_authz_request *req, const struct code_opts *o,
    struct mc_redirect *r)
{
	char *line = NULL, *msg = NULL, *full = NULL;
	int rc;

	if (!g_opts.quiet)
		fprintf(stderr, "After you approve, the browser lands on a page "
		    "that fails to load\n(%s?code=...). That is expected: copy "
		    "the whole URL from the\naddress bar and paste it here (or "
		    "just the code in it).\n", req->redirect_uri);
	rc = cmd_read_secret_within("Paste the URL (it is not shown): ",
	    PASTE_MAX, o->timeout, &line, &msg);
	if (rc == MC_ERR_TEMP) {
		free(msg);
		if (asprintf(&msg, "nothing was pasted within %d s: run "
		    "'mailcred login %s --flow manual' again (--timeout gives "
		    "more time)", o->timeout, acct->name) < 0)
			msg = NULL;
		return cmd_fail(acct->name, rc, msg);
	}
	if (rc != MC_OK)
		return cmd_fail(acct->name, rc, msg);
	rc = mc_redirect_parse(line, req->state, acct->authorization_endpoint,
	    r, &msg);
	mc_free_secret(line);
	if (rc == MC_OK)
		return 0;
	if (asprintf(&full, "%s: %s; run 'mailcred login %s --flow manual' "
	    "again", rc == MC_ERR_AUTH ? "the login failed" :
	    "the pasted text was refused", msg != NULL ? msg : "failed",
	    acct->name) < 0)
		full = NULL;
	else {
		free(msg);
		msg = full;
	}
	mc_redirect_clear(r);
	return cmd_fail(acct->name, rc, msg);
}

/*
 * While the browser's tab waits for the outcome, a SIGINT, SIGTERM or
 * SIGHUP first tells it the login was interrupted, then ends us as it
 * would have (the handlers that were there are put back and the signal
 * raised again).
 */
static struct mc_listener *tab_listener;
static const int tab_sigs[] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction tab_old[3];
static int tab_armed[3];

static void
tab_on_signal(int sig)
{
	size_t i;

	mc_listener_interrupted(tab_listener);
	for (i = 0; i < 3; i++)
		if (tab_sigs[i] == sig && tab_armed[i])
			sigaction(sig, &tab_old[i], NULL);
	raise(sig);	/* delivered when this handler returns */
}

static void
tab_guard(struct mc_listener *l)
{
	struct sigaction sa;
	size_t i;

	tab_listener = l;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tab_on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 3; i++) {
		tab_armed[i] = 0;
		if (sigaction(tab_sigs[i], NULL, &tab_old[i]) != 0 ||
		    tab_old[i].sa_handler == SIG_IGN)
			continue;	/* an ignored signal stays ignored */
		tab_armed[i] = sigaction(tab_sigs[i], &sa, NULL) == 0;
	}
}

static void
tab_unguard(void)
{
	size_t i;

	for (i = 0; i < 3; i++)
		if (tab_armed[i])
			sigaction(tab_sigs[i], &tab_old[i], NULL);
	memset(tab_armed, 0, sizeof(tab_armed));
	tab_listener = NULL;
}

/*
 * The browser and manual flows: the authorization code grant with PKCE.
 * The store is written only once the new tokens are in hand.
 */
static int
login_code(const struct mc_account *acct, enum mc_flow f,
    const struct code_opts *o)
{
	struct mc_http_opts http = MC_HTTP_OPTS_INIT;
	struct mc_authz_request req = MC_AUTHZ_REQUEST_INIT;
	struct mc_redirect r = MC_REDIRECT_INIT;
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	struct mc_listener *l = NULL;
	const char *ru = acct->redirect_uri != NULL &&
	    acct->redirect_uri[0] != '\0' ? acct->redirect_uri :
	    "http://127.0.0.1/";
	char *msg = NULL;
	int rc;

	if (f == MC_FLOW_BROWSER) {
		rc = mc_listener_open(ru, o->port, &l, &msg);
		if (rc != MC_OK) {
			rc = cmd_fail(acct->name, rc, msg);
			goto out;
		}
	}
	rc = mc_authz_request_new(acct, l != NULL ? mc_listener_port(l) :
	    o->port, &req, &msg);
	if (rc != MC_OK) {
		rc = cmd_fail(acct->name, rc, msg);
		goto out;
	}
	if (o->json) {
		rc = cmd_print_json(acct->name, json_pack("{s:s}",
		    "authorization_url", req.url));
		if (rc != 0)
			goto out;
	}
	fprintf(stderr, "To log in %s, open this URL in a web browser%s:\n\n"
	    "    %s\n\n", acct->name, f == MC_FLOW_MANUAL ?
	    " (on any machine)" : "", req.url);
	if (f == MC_FLOW_BROWSER)
		rc = code_from_browser(acct, l, &req, o, &r);
	else
		rc = code_from_paste(acct, &req, o, &r);
	if (rc != 0)
		goto out;
	/* The browser's tab waits for the outcome (mc_listener_reply). */
	if (l != NULL)
		tab_guard(l);
	cmd_http_opts(acct, &http);
	rc = mc_oauth_code_exchange(acct, &http, r.code, req.redirect_uri,
	    req.verifier, &ts, &msg);
	if (rc == MC_OK)
		rc = save_tokens(acct, &ts, &msg);
	if (rc != MC_OK) {
		mc_listener_reply(l, acct->name, msg != NULL ? msg :
		    "see the terminal for what failed");
		rc = cmd_fail(acct->name, rc, msg);
		goto out;
	}
	mc_listener_reply(l, acct->name, NULL);
	rc = report_login(acct, &ts, o->json);
out:
	tab_unguard();
	mc_listener_free(l);
	mc_authz_request_clear(&req);
	mc_redirect_clear(&r);
	mc_token_set_clear(&ts);
	return rc;
}

int
cmd_login(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "flow", required_argument, NULL, 'f' },
		{ "no-open", no_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "qr", no_argument, NULL, 'Q' },
		{ "no-qr", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	struct code_opts co = { 0, 0, 0, 300, 0 };
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	const char *flow = NULL;
	int qr = -1, opt, rc;
	long v;
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
			co.no_open = 1;
			break;
		case 'p':
			v = cmd_parse_ulong(optarg, 65535);
			if (v < 1)
				cmd_usage_error("login", "--port is a port "
				    "number from 1 to 65535, not '%s'", optarg);
			co.port = (unsigned int)v;
			break;
		case 't':
			v = cmd_parse_ulong(optarg, 86400);
			if (v < 1)
				cmd_usage_error("login", "--timeout is a number "
				    "of seconds from 1 to 86400, not '%s'",
				    optarg);
			co.timeout = (int)v;
			co.timeout_set = 1;
			break;
		case 'j':
			co.json = 1;
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
	rc = check_store(acct);
	if (rc != 0)
		goto out;
	if (f == MC_FLOW_DEVICE)
		rc = login_device(acct, co.json, qr, co.timeout_set ?
		    co.timeout : 0);
	else
		rc = login_code(acct, f, &co);
out:
	mc_account_free(acct);
	mc_config_free(cfg);
	return rc;
}
