/*
 * cmd/send.c - `mailcred send`: a sendmail-compatible thin sender.
 *
 * Reads the message's header section from stdin, works out the account,
 * the envelope and the recipients, connects (auth/wire.h), logs in with
 * the account's credential, and streams the message (auth/smtp.h). The
 * exit status is 0 only after the server accepted the data. A bearer
 * token refused with the SASL error challenge (or Microsoft's 535 5.7.3)
 * while it came from the cache is refreshed once and tried again on the
 * same connection.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth/advice.h"
#include "auth/config.h"
#include "auth/err.h"
#include "auth/message.h"
#include "auth/sasl.h"
#include "auth/secmem.h"
#include "auth/smtp.h"
#include "auth/token.h"
#include "auth/wire.h"
#include "cmd/cmd.h"
#include "keyring/store.h"

#define BODY_CHUNK (64 * 1024)

struct send_opts {
	const char *account;	/* -a */
	const char *from;	/* -f / -r */
	const char *fullname;	/* -F */
	int from_headers;	/* -t */
	int mech;		/* --mech, -1: the account's */
	int timeout;		/* --timeout, 0: the account's */
};

/* The message, as auth/smtp.h pulls it: header, body prefix, then stdin. */
struct source {
	struct mc_msg *msg;
	int phase;
	char *buf;
};

static int
source_next(void *ctx, const char **buf, size_t *len, char **errmsg)
{
	struct source *s = ctx;
	ssize_t n;

	switch (s->phase) {
	case 0:
		s->phase = 1;
		*buf = mc_msg_head(s->msg, len);
		if (*len > 0)
			return MC_OK;
		/* FALLTHROUGH */
	case 1:
		s->phase = 2;
		*buf = mc_msg_body_prefix(s->msg, len);
		if (*len > 0)
			return MC_OK;
		/* FALLTHROUGH */
	default:
		break;
	}
	for (;;) {
		n = read(STDIN_FILENO, s->buf, BODY_CHUNK);
		if (n >= 0)
			break;
		if (errno != EINTR)
			return mc_fail(MC_ERR_IO, errmsg, "cannot read the "
			    "message from stdin: %s: nothing was sent",
			    strerror(errno));
	}
	*buf = s->buf;
	*len = (size_t)n;
	return MC_OK;
}

static int
same_address(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

/*
 * The account: -a, else the first whose user is the From address (or,
 * without From, the -f address).
 */
static int
pick_account(const struct send_opts *o, const char *from,
    struct mc_config **cfg, struct mc_account **acct)
{
	struct mc_account *a = NULL;
	char *msg = NULL;
	const char *want = from != NULL ? from : o->from;
	size_t i;
	int rc;

	if (o->account != NULL)
		return cmd_load_account(o->account, cfg, acct);
	if (want == NULL)
		return cmd_fail(NULL, MC_ERR_DATA, strdup("the message has no "
		    "From: address to choose the account by: give -a ACCOUNT"));
	if ((rc = cmd_load_config(NULL, cfg)) != 0)
		return rc;
	for (i = 0; i < mc_config_naccounts(*cfg); i++) {
		if (mc_account_resolve(*cfg, mc_config_account_name(*cfg, i), &a,
		    NULL) != MC_OK)
			continue;
		if (same_address(a->user, want)) {
			*acct = a;
			return 0;
		}
		mc_account_free(a);
		a = NULL;
	}
	if (asprintf(&msg, "no account in %s has the user %s (the From "
	    "address): give -a ACCOUNT, or add one with 'mailcred add %s'",
	    mc_config_file(*cfg), want, want) < 0)
		msg = NULL;
	return cmd_fail(NULL, MC_ERR_CONFIG, msg);
}

/* Adds a to the list unless it is there (case-insensitively). */
static int
add_rcpt(char ***list, size_t *n, const char *a)
{
	char **nl;
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcasecmp((*list)[i], a) == 0)
			return MC_OK;
	if ((nl = realloc(*list, (*n + 1) * sizeof(**list))) == NULL)
		return MC_ERR_NOMEM;
	*list = nl;
	if ((nl[*n] = strdup(a)) == NULL)
		return MC_ERR_NOMEM;
	(*n)++;
	return MC_OK;
}

static void
trace_stderr(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "mailcred: %s\n", line);
}

/*
 * The failure of a login, with what the server meant and the fix when
 * auth/advice.h knows the answer. Takes why.
 */
static int
with_advice(const struct mc_account *acct, const struct mc_wire *w,
    const struct mc_login_result *res, int rc, char *why, char **errmsg)
{
	struct mc_advice_in in = MC_ADVICE_IN_INIT;
	struct mc_advice adv = MC_ADVICE_INIT;

	if (res->reply.code == 0) {
		*errmsg = why;
		return rc;
	}
	in.proto = MC_ADVICE_SMTP;
	in.provider = mc_advice_provider_of(acct, mc_wire_host(w));
	in.auth = acct->auth;
	in.account = acct->name;
	in.user = acct->user;
	in.code = res->reply.code;
	in.enh = res->reply.enh;
	in.text = res->reply.text;
	in.challenge = res->have_challenge ? &res->challenge : NULL;
	if (mc_advice_explain(&in, &adv) == MC_OK && adv.advice != NULL &&
	    adv.advice[0] != '\0') {
		rc = mc_fail(adv.err != MC_OK ? adv.err : rc, errmsg, "%s: %s",
		    why, adv.advice);
		free(why);
	} else {
		*errmsg = why;
	}
	mc_advice_clear(&adv);
	return rc;
}

/*
 * A connection or transaction failure before the server took the message
 * (rc MC_ERR_TEMP, MC_ERR_NET or MC_ERR_SERVICE): err gains "the message
 * was not sent", and for a temporary failure "try again later", unless it
 * says already whether the message went out. Takes err, returns the line
 * (err itself when nothing is added).
 */
static char *
not_sent(int rc, char *err)
{
	char *line = NULL;

	if (err == NULL || (rc != MC_ERR_TEMP && rc != MC_ERR_NET &&
	    rc != MC_ERR_SERVICE) || strstr(err, "not sent") != NULL ||
	    strstr(err, "may or may not") != NULL)
		return err;
	if (asprintf(&line, "%s; the message was not sent%s", err,
	    rc == MC_ERR_SERVICE ? "" : ": try again later") < 0)
		return err;
	free(err);
	return line;
}

/* The credential, fetched while the connection is being set up. */
struct cred {
	const struct mc_account *acct;
	struct mc_token_set ts;
	char *pw;
	int status;		/* 0, or the exit status of a printed failure */
	atomic_int failed;	/* set when status is: the connection that
				   is being set up is not needed */
};

static void *
cred_fetch(void *arg)
{
	struct cred *c = arg;
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;

	if (c->acct->auth == MC_AUTH_PASSWORD) {
		c->status = cmd_get_password(c->acct, NULL, &c->pw);
	} else {
		cmd_token_warnings(c->acct, &to);
		c->status = cmd_get_token(c->acct, &to, &c->ts);
	}
	if (c->status != 0)
		atomic_store(&c->failed, 1);
	return NULL;
}

/*
 * One login, and for a bearer token refused as a refresh may cure, one
 * refresh and one more try. Returns MC_OK or an error with *errmsg.
 */
static int
login(struct mc_wire *w, const struct mc_account *acct,
    enum mc_login_mech mech, struct mc_token_set *ts, const char *pw,
    struct mc_login_result *res, int *exit_status, char **errmsg)
{
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	char *why = NULL;
	int rc, retryable;

	*exit_status = 0;
	if (acct->auth == MC_AUTH_PASSWORD)
		rc = mc_smtp_login(w, mech, acct->user, pw, res, &why);
	else
		rc = mc_smtp_login(w, mech, acct->user, ts->access_token, res,
		    &why);
	if (rc != MC_ERR_AUTH || acct->auth == MC_AUTH_PASSWORD)
		goto done;
	/* A refused token: the challenge's status, or Microsoft's 5.7.3. */
	retryable = res->have_challenge ?
	    mc_sasl_error_retryable(&res->challenge) :
	    res->reply.code == 535 && strcmp(res->reply.enh, "5.7.3") == 0;
	if (!retryable || ts->refreshed)
		goto done;
	cmd_note("%s: the server refused the cached token (%s); refreshing it "
	    "and trying again", acct->name, res->have_challenge &&
	    res->challenge.status != NULL ? res->challenge.status :
	    res->reply.enh);
	free(why);
	why = NULL;
	cmd_token_warnings(acct, &to);
	to.force = 1;
	mc_token_set_clear(ts);
	if ((*exit_status = cmd_get_token(acct, &to, ts)) != 0)
		return MC_ERR_AUTH;
	rc = mc_smtp_login(w, mech, acct->user, ts->access_token, res, &why);
	if (rc == MC_ERR_AUTH) {
		rc = mc_fail(MC_ERR_AUTH, errmsg, "%s, also with a freshly "
		    "refreshed token: the grant lacks the scope the server "
		    "wants, or user = %s is not the account the token is for: "
		    "run 'mailcred login %s'", why, acct->user, acct->name);
		free(why);
		return rc;
	}
done:
	if (rc == MC_OK) {
		free(why);
		return MC_OK;
	}
	return with_advice(acct, w, res, rc, why, errmsg);
}

/* A From field's value for user, with -F's full name quoted. */
static char *
from_field(const char *fullname, const char *user)
{
	char *out, *q;
	size_t i, n;

	if (fullname == NULL || fullname[0] == '\0')
		return strdup(user);
	n = strlen(fullname);
	if ((out = malloc(2 * n + strlen(user) + 6)) == NULL)
		return NULL;
	q = out;
	*q++ = '"';
	for (i = 0; i < n; i++) {
		if (fullname[i] == '"' || fullname[i] == '\\')
			*q++ = '\\';
		*q++ = fullname[i];
	}
	/* Fits: out has room for 2n + 1 bytes, then for these. */
	(void)snprintf(q, strlen(user) + 5, "\" <%s>", user);
	return out;
}

/* local@domain, neither part empty. */
static int
local_at_domain(const char *a)
{
	const char *at = strrchr(a, '@');

	return at != NULL && at != a && at[1] != '\0';
}

static int
parse_o(const char *arg)
{
	static const char *const ok[] = {
		"i", "di", "db", "em", "ep", "eq", "ee", "m", NULL
	};
	size_t i;

	for (i = 0; ok[i] != NULL; i++)
		if (strcmp(arg, ok[i]) == 0)
			return 1;
	return 0;
}

int
cmd_send(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "mech", required_argument, NULL, 'M' },
		{ "timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	struct send_opts o = { NULL, NULL, NULL, 0, -1, 0 };
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	struct mc_msg *msg = NULL;
	struct mc_wire *w = NULL;
	struct mc_wire_opts wo = MC_WIRE_OPTS_INIT;
	struct cred cred = { NULL, MC_TOKEN_SET_INIT, NULL, 0, 0 };
	pthread_t thr;
	int have_thr = 0;
	struct mc_login_result lr = MC_LOGIN_RESULT_INIT;
	struct mc_smtp_result sr = MC_SMTP_RESULT_INIT;
	struct mc_smtp_envelope env;
	struct mc_smtp_source src;
	struct source s = { NULL, 0, NULL };
	enum mc_login_mech mech;
	char **rcpt = NULL, **hdr = NULL, *from = NULL, *addfrom = NULL;
	char *err = NULL;
	const char *name = NULL;
	size_t nrcpt = 0, nhdr = 0, i;
	int opt, rc, status = 0, utf8;
	long v;

	while ((opt = cmd_getopt_short("send", argc, argv,
	    "a:tf:r:iF:o:B:N:R:V:", longopts)) != -1) {
		switch (opt) {
		case 'a':
			o.account = optarg;
			break;
		case 't':
			o.from_headers = 1;
			break;
		case 'f':
		case 'r':
			/* "<>": the null reverse-path (bounces). */
			o.from = strcmp(optarg, "<>") == 0 ? "" : optarg;
			break;
		case 'N':
		case 'R':
		case 'V':
			break;	/* DSN requests: accepted, not passed on */
		case 'i':
			break;	/* a lone "." never ends our input */
		case 'F':
			if (strpbrk(optarg, "\r\n") != NULL)
				cmd_usage_error("send", "-F takes one line");
			o.fullname = optarg;
			break;
		case 'o':
			if (!parse_o(optarg))
				cmd_usage_error("send", "unknown option '-o%s' "
				    "(accepted: -oi, -odi, -odb, -oem, -oep, "
				    "-oeq, -oee, -om)", optarg);
			break;
		case 'B':
			if (strcasecmp(optarg, "8BITMIME") != 0 &&
			    strcasecmp(optarg, "7BIT") != 0)
				cmd_usage_error("send", "-B takes 7BIT or "
				    "8BITMIME, not '%s'", optarg);
			break;
		case 'M':
			if ((o.mech = mc_sasl_mech_parse(optarg)) < 0)
				cmd_usage_error("send", "--mech takes xoauth2 or "
				    "oauthbearer, not '%s'", optarg);
			break;
		case 'T':
			if ((v = cmd_parse_ulong(optarg, 600)) < 1)
				cmd_usage_error("send", "--timeout takes seconds "
				    "from 1 to 600, not '%s'", optarg);
			o.timeout = (int)v;
			break;
		default:
			cmd_usage_error("send", "unexpected option");
		}
	}
	if (o.from != NULL && o.from[0] != '\0' && !mc_msg_addr_ok(o.from))
		cmd_usage_error("send", "-f '%s' is not an address", o.from);
	for (i = (size_t)optind; i < (size_t)argc; i++)
		if (!mc_msg_addr_ok(argv[i]) || !local_at_domain(argv[i]))
			cmd_usage_error("send", "'%s' is not a recipient "
			    "address (local@domain)", argv[i]);
	if (!o.from_headers && optind >= argc)
		cmd_usage_error("send", "no recipients: give them as arguments "
		    "or use -t to take them from To, Cc and Bcc");

	if ((rc = mc_msg_read_head(STDIN_FILENO, &msg, &err)) != MC_OK) {
		status = cmd_fail(o.account, rc, err);
		goto out;
	}
	from = mc_msg_from(msg) != NULL ? strdup(mc_msg_from(msg)) : NULL;
	if ((status = pick_account(&o, from, &cfg, &acct)) != 0)
		goto out;
	name = acct->name;

	/* Recipients: the arguments, and with -t To, Cc and Bcc. */
	for (i = (size_t)optind; i < (size_t)argc; i++)
		if (add_rcpt(&rcpt, &nrcpt, argv[i]) != MC_OK)
			goto nomem;
	if (o.from_headers) {
		if ((rc = mc_msg_recipients(msg, &hdr, &nhdr, &err)) != MC_OK) {
			status = cmd_fail(name, rc, err);
			goto out;
		}
		for (i = 0; i < nhdr; i++) {
			if (!mc_msg_addr_ok(hdr[i])) {
				if (asprintf(&err, "the recipient %s in the "
				    "header is not an address: nothing was sent",
				    hdr[i]) < 0)
					err = NULL;
				status = cmd_fail(name, MC_ERR_DATA, err);
				goto out;
			}
			if (add_rcpt(&rcpt, &nrcpt, hdr[i]) != MC_OK)
				goto nomem;
		}
	}
	if (nrcpt == 0) {
		status = cmd_fail(name, MC_ERR_DATA, strdup("the message has no "
		    "recipients (no To, Cc or Bcc with -t, and none given): "
		    "nothing was sent"));
		goto out;
	}
	env.from = o.from != NULL ? o.from : from != NULL ? from : acct->user;
	if (!mc_msg_addr_ok(env.from) && env.from[0] != '\0') {
		status = cmd_fail(name, MC_ERR_DATA, strdup("the From address "
		    "cannot be an envelope sender: give -f ADDRESS"));
		goto out;
	}
	utf8 = mc_msg_is_8bit_head(msg) || !mc_msg_addr_is_ascii(env.from) ||
	    (from == NULL && o.fullname != NULL &&
	    !mc_msg_addr_is_ascii(o.fullname));
	for (i = 0; i < nrcpt; i++)
		utf8 |= !mc_msg_addr_is_ascii(rcpt[i]);
	env.rcpt = rcpt;
	env.nrcpt = nrcpt;
	env.utf8 = utf8;
	if (acct->smtp == NULL || acct->smtp[0] == '\0') {
		status = cmd_fail(name, MC_ERR_CONFIG, strdup("the account has "
		    "no smtp server: set smtp = smtps://HOST:465 or "
		    "smtp://HOST:587"));
		goto out;
	}
	/*
	 * The TCP connection starts here, before libcurl is even loaded and
	 * the Message-ID drawn, so that its round trips and the server's
	 * greeting delay overlap the rest of our start-up (see below).
	 */
	wo.timeout = o.timeout > 0 ? o.timeout : acct->timeout;
	wo.tcp = mc_wire_preconnect(acct->smtp, wo.timeout);
	/* sendmail adds a From the message lacks: "Full Name" <user>. */
	if (from == NULL && (addfrom = from_field(o.fullname,
	    acct->user)) == NULL)
		goto nomem;
	if ((rc = mc_msg_prepare(msg, mc_wire_hostname(), time(NULL),
	    addfrom, &err)) != MC_OK) {
		status = cmd_fail(name, rc, err);
		goto out;
	}
	mech = MC_LOGIN_PLAIN;
	if (acct->auth == MC_AUTH_OAUTH2)
		mech = (o.mech >= 0 ? o.mech : acct->smtp_mech) ==
		    MC_SASL_OAUTHBEARER ? MC_LOGIN_OAUTHBEARER :
		    MC_LOGIN_XOAUTH2;
	wo.ca_file = acct->ca_file;
	if (g_opts.verbose)
		wo.trace = trace_stderr;
	/*
	 * The keyring (or a refresh) and the connection (TCP, TLS, EHLO)
	 * each wait on another process: both at once (and the TCP
	 * connection began above). libcurl is set up before the credential
	 * thread starts, as it must be.
	 */
	if ((rc = mc_http_global_init(&err)) != MC_OK) {
		status = cmd_fail(name, rc, err);
		goto out;
	}
	cred.acct = acct;
	wo.cancel = &cred.failed;
	if (pthread_create(&thr, NULL, cred_fetch, &cred) != 0)
		cred_fetch(&cred);
	else
		have_thr = 1;
	rc = mc_wire_open(&wo, acct->smtp, &w, NULL, &err);
	if (have_thr) {
		pthread_join(thr, NULL);
		have_thr = 0;
	}
	if (cred.status != 0) {
		free(err);
		status = cred.status;
		goto out;
	}
	if (rc != MC_OK) {
		status = cmd_fail(name, rc, not_sent(rc, err));
		goto out;
	}
	if (acct->auth == MC_AUTH_PASSWORD && !mc_wire_has_mech(w, "PLAIN") &&
	    mc_wire_has_mech(w, "LOGIN"))
		mech = MC_LOGIN_LOGIN;
	rc = login(w, acct, mech, &cred.ts, cred.pw, &lr, &status, &err);
	if (status != 0)
		goto out;
	if (rc != MC_OK) {
		status = cmd_fail(name, rc, not_sent(rc, err));
		goto out;
	}
	if ((s.buf = malloc(BODY_CHUNK)) == NULL)
		goto nomem;
	s.msg = msg;
	src.next = source_next;
	src.ctx = &s;
	if ((rc = mc_smtp_send(w, &env, &src, &sr, &err)) != MC_OK) {
		status = cmd_fail(name, rc, not_sent(rc, err));
		goto out;
	}
	mc_smtp_quit(w);
	if (g_opts.verbose)
		cmd_note("%s: sent to %zu recipient%s: %d %s", name, nrcpt,
		    nrcpt == 1 ? "" : "s", sr.reply.code,
		    sr.reply.text != NULL ? sr.reply.text : "");
	goto out;
nomem:
	status = cmd_fail(name, MC_ERR_NOMEM, NULL);
out:
	mc_wire_close(w);
	mc_tcp_free(wo.tcp);
	mc_login_result_clear(&lr);
	mc_smtp_result_clear(&sr);
	mc_token_set_clear(&cred.ts);
	if (cred.pw != NULL)
		store_secret_free(cred.pw);
	if (s.buf != NULL) {
		mc_wipe(s.buf, BODY_CHUNK);
		free(s.buf);
	}
	for (i = 0; i < nrcpt; i++)
		free(rcpt[i]);
	free(rcpt);
	mc_msg_addrs_free(hdr, nhdr);
	free(from);
	free(addfrom);
	mc_msg_free(msg);
	mc_account_free(acct);
	mc_config_free(cfg);
	return status;
}
