/* auth/smtp.c - the sender's SMTP dialogue on a wire connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/clock.h"
#include "auth/err.h"
#include "auth/message.h"
#include "auth/sasl.h"
#include "auth/secmem.h"
#include "auth/smtp.h"
#include "auth/wire.h"

#define MAX_REPLY_LINES 100
#define CHUNK (64 * 1024)

void
mc_smtp_reply_clear(struct mc_smtp_reply *r)
{
	free(r->text);
	r->text = NULL;
	r->code = 0;
	r->enh[0] = '\0';
}

void
mc_login_result_clear(struct mc_login_result *r)
{
	r->have_challenge = 0;
	mc_sasl_error_clear(&r->challenge);
	mc_smtp_reply_clear(&r->reply);
	free(r->line);
	r->line = NULL;
}

void
mc_smtp_result_clear(struct mc_smtp_result *r)
{
	r->stage = NULL;
	free(r->rcpt);
	r->rcpt = NULL;
	mc_smtp_reply_clear(&r->reply);
}

const char *
mc_login_mech_name(enum mc_login_mech mech)
{
	static const char *const names[] = {
		"XOAUTH2", "OAUTHBEARER", "PLAIN", "LOGIN"
	};

	return (size_t)mech < 4 ? names[mech] : "?";
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "5.7.8 rest": the enhanced code's length (without the blank), or 0. */
static size_t
enhanced_len(const char *s, char cls)
{
	size_t i = 0, n, part;

	if (s[0] != cls || s[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (n = 0; is_digit(s[i]) && n < 3; n++)
			i++;
		if (n == 0)
			return 0;
		if (part == 0 && s[i++] != '.')
			return 0;
	}
	return s[i] == ' ' || s[i] == '\0' ? i : 0;
}

int
mc_smtp_read_reply(struct mc_wire *w, struct mc_smtp_reply *r, int secret,
    char **errmsg)
{
	char *line = NULL, *text = NULL, *nt;
	const char *t;
	size_t nlines, tlen = 0, add, el;
	long long deadline = mc_clock_ms() + 1000LL * mc_wire_timeout(w);
	int rc, code;

	mc_smtp_reply_clear(r);
	/* The whole reply, all its lines, within the timeout. */
	for (nlines = 0;; nlines++) {
		if (nlines == MAX_REPLY_LINES) {
			rc = mc_fail(MC_ERR_SERVICE, errmsg, "%s port %d sent a "
			    "reply of more than %d lines", mc_wire_host(w),
			    mc_wire_port(w), MAX_REPLY_LINES);
			goto out;
		}
		if ((rc = mc_wire_read_line_until(w, deadline, &line, secret,
		    errmsg)) != MC_OK)
			goto out;
		if (!is_digit(line[0]) || !is_digit(line[1]) ||
		    !is_digit(line[2]) || line[0] < '2' || line[0] > '5' ||
		    (line[3] != ' ' && line[3] != '-' && line[3] != '\0')) {
			mc_wire_printable(line);
			rc = mc_fail(MC_ERR_SERVICE, errmsg, "%s port %d did not "
			    "answer as an SMTP server: %.80s", mc_wire_host(w),
			    mc_wire_port(w), secret ? "[redacted]" : line);
			goto out;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (nlines == 0)
			r->code = code;
		t = line[3] != '\0' ? line + 4 : line + 3;
		if (nlines == 0 && (el = enhanced_len(t, line[0])) > 0 &&
		    el < sizeof(r->enh)) {
			memcpy(r->enh, t, el);
			r->enh[el] = '\0';
		}
		/* Continuation lines repeat the enhanced code: once is enough. */
		if (r->enh[0] != '\0' && strncmp(t, r->enh, strlen(r->enh)) == 0 &&
		    (t[strlen(r->enh)] == ' ' || t[strlen(r->enh)] == '\0')) {
			t += strlen(r->enh);
			while (*t == ' ')
				t++;
		}
		add = strlen(t);
		if ((nt = realloc(text, tlen + add + 2)) == NULL) {
			rc = MC_ERR_NOMEM;
			goto out;
		}
		text = nt;
		if (tlen > 0 && add > 0)
			text[tlen++] = ' ';
		memcpy(text + tlen, t, add);
		tlen += add;
		text[tlen] = '\0';
		if (line[3] != '-')
			break;
		mc_free_secret(line);
		line = NULL;
	}
	r->text = text != NULL ? text : strdup("");
	text = NULL;
	rc = r->text != NULL ? MC_OK : MC_ERR_NOMEM;
	if (r->text != NULL)
		mc_wire_printable(r->text);
out:
	if (line != NULL)
		mc_free_secret(line);
	if (text != NULL)
		mc_free_secret(text);
	return rc;
}

/* The error class of a reply to AUTH that is not 235 or 334. */
static int
auth_refusal(const struct mc_smtp_reply *r)
{
	if (r->code >= 400 && r->code < 500)
		return MC_ERR_TEMP;
	if (r->code == 535 || r->code == 534 || r->code == 530 ||
	    strncmp(r->enh, "5.7.", 4) == 0)
		return MC_ERR_AUTH;
	return MC_ERR_SERVICE;
}

static int
auth_failed(struct mc_wire *w, enum mc_login_mech mech,
    const struct mc_login_result *res, char **errmsg)
{
	const struct mc_smtp_reply *r = &res->reply;
	const struct mc_sasl_error *c = &res->challenge;
	int rc = auth_refusal(r);

	if (res->have_challenge)
		return mc_fail(rc, errmsg, "%s refused the %s login: %d%s%s %s "
		    "(the server's error challenge said status %s%s%s)",
		    mc_wire_host(w), mc_login_mech_name(mech), r->code,
		    r->enh[0] != '\0' ? " " : "", r->enh, r->text,
		    c->status != NULL ? c->status : "(none)",
		    c->scope != NULL ? ", scope " : "",
		    c->scope != NULL ? c->scope : "");
	return mc_fail(rc, errmsg, "%s refused the %s login: %d%s%s %s",
	    mc_wire_host(w), mc_login_mech_name(mech), r->code,
	    r->enh[0] != '\0' ? " " : "", r->enh, r->text);
}

/*
 * After our initial response: 235, a final refusal, or a 334 error
 * challenge that we answer (empty line for XOAUTH2, AQ== for
 * OAUTHBEARER) before reading the final refusal.
 */
static int
bearer_outcome(struct mc_wire *w, enum mc_login_mech mech,
    struct mc_login_result *res, char **errmsg)
{
	int rc;

	if ((rc = mc_smtp_read_reply(w, &res->reply, 0, errmsg)) != MC_OK)
		return rc;
	if (res->reply.code == 235)
		return MC_OK;
	if (res->reply.code == 334) {
		res->have_challenge = 1;
		/* Not JSON: still a refusal, and still answered. */
		(void)mc_sasl_error_parse(res->reply.text, &res->challenge);
		if ((rc = mc_wire_send_line(w, mech == MC_LOGIN_OAUTHBEARER ?
		    "AQ==" : "", 0, errmsg)) != MC_OK ||
		    (rc = mc_smtp_read_reply(w, &res->reply, 0, errmsg)) !=
		    MC_OK)
			return rc;
		if (res->reply.code == 235)	/* should not happen; take it */
			return MC_OK;
	}
	return auth_failed(w, mech, res, errmsg);
}

static int
login_bearer(struct mc_wire *w, enum mc_login_mech mech, const char *user,
    const char *token, struct mc_login_result *res, char **errmsg)
{
	char *raw = NULL, *b64 = NULL, *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = mc_sasl_build(mech == MC_LOGIN_OAUTHBEARER ?
	    MC_SASL_OAUTHBEARER : MC_SASL_XOAUTH2, user, token,
	    mc_wire_host(w), mc_wire_port(w), &raw, &len, errmsg)) != MC_OK)
		goto out;
	if ((b64 = mc_base64_encode((unsigned char *)raw, len)) == NULL ||
	    asprintf(&cmd, "AUTH %s %s", mc_login_mech_name(mech), b64) < 0) {
		cmd = NULL;
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if ((rc = mc_wire_send_line(w, cmd, 1, errmsg)) != MC_OK)
		goto out;
	rc = bearer_outcome(w, mech, res, errmsg);
out:
	if (raw != NULL) {
		mc_wipe(raw, len);
		free(raw);
	}
	mc_free_secret(b64);
	mc_free_secret(cmd);
	return rc;
}

static int
login_plain(struct mc_wire *w, const char *user, const char *pass,
    struct mc_login_result *res, char **errmsg)
{
	size_t ul = strlen(user), pl = strlen(pass), len = ul + pl + 2;
	char *raw = NULL, *b64 = NULL, *cmd = NULL;
	int rc;

	if ((raw = malloc(len)) == NULL)
		return MC_ERR_NOMEM;
	raw[0] = '\0';
	memcpy(raw + 1, user, ul);
	raw[ul + 1] = '\0';
	memcpy(raw + ul + 2, pass, pl);
	if ((b64 = mc_base64_encode((unsigned char *)raw, len)) == NULL ||
	    asprintf(&cmd, "AUTH PLAIN %s", b64) < 0) {
		cmd = NULL;
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if ((rc = mc_wire_send_line(w, cmd, 1, errmsg)) != MC_OK ||
	    (rc = mc_smtp_read_reply(w, &res->reply, 0, errmsg)) != MC_OK)
		goto out;
	/* A server that wants the response on a line of its own. */
	if (res->reply.code == 334 && res->reply.text[0] == '\0' &&
	    ((rc = mc_wire_send_line(w, b64, 3, errmsg)) != MC_OK ||
	    (rc = mc_smtp_read_reply(w, &res->reply, 0, errmsg)) != MC_OK))
		goto out;
	rc = res->reply.code == 235 ? MC_OK :
	    auth_failed(w, MC_LOGIN_PLAIN, res, errmsg);
out:
	mc_wipe(raw, len);
	free(raw);
	mc_free_secret(b64);
	mc_free_secret(cmd);
	return rc;
}

static int
login_login(struct mc_wire *w, const char *user, const char *pass,
    struct mc_login_result *res, char **errmsg)
{
	char *b64 = NULL;
	int rc;

	if ((rc = mc_wire_send_line(w, "AUTH LOGIN", 0, errmsg)) != MC_OK ||
	    (rc = mc_smtp_read_reply(w, &res->reply, 0, errmsg)) != MC_OK)
		goto out;
	if (res->reply.code != 334)
		goto refused;
	if ((b64 = mc_base64_encode((const unsigned char *)user,
	    strlen(user))) == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if ((rc = mc_wire_send_line(w, b64, 0, errmsg)) != MC_OK ||
	    (rc = mc_smtp_read_reply(w, &res->reply, 0, errmsg)) != MC_OK)
		goto out;
	mc_free_secret(b64);
	b64 = NULL;
	if (res->reply.code != 334)
		goto refused;
	if ((b64 = mc_base64_encode((const unsigned char *)pass,
	    strlen(pass))) == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if ((rc = mc_wire_send_line(w, b64, 3, errmsg)) != MC_OK ||
	    (rc = mc_smtp_read_reply(w, &res->reply, 0, errmsg)) != MC_OK)
		goto out;
	if (res->reply.code == 235) {
		rc = MC_OK;
		goto out;
	}
refused:
	rc = auth_failed(w, MC_LOGIN_LOGIN, res, errmsg);
out:
	mc_free_secret(b64);
	return rc;
}

int
mc_smtp_login(struct mc_wire *w, enum mc_login_mech mech, const char *user,
    const char *secret, struct mc_login_result *res, char **errmsg)
{
	const char *offered = mc_wire_cap_find(w, "AUTH");

	mc_login_result_clear(res);
	if (!mc_wire_has_mech(w, mc_login_mech_name(mech)))
		return mc_fail(MC_ERR_SERVICE, errmsg, "%s port %d does not "
		    "offer AUTH %s (it offers: %s)%s", mc_wire_host(w),
		    mc_wire_port(w), mc_login_mech_name(mech),
		    offered != NULL && offered[0] != '\0' ? offered :
		    "no authentication at all",
		    mech == MC_LOGIN_XOAUTH2 &&
		    mc_wire_has_mech(w, "OAUTHBEARER") ?
		    ": set smtp_mech = oauthbearer" :
		    mech == MC_LOGIN_OAUTHBEARER &&
		    mc_wire_has_mech(w, "XOAUTH2") ?
		    ": set smtp_mech = xoauth2" : "");
	switch (mech) {
	case MC_LOGIN_XOAUTH2:
	case MC_LOGIN_OAUTHBEARER:
		return login_bearer(w, mech, user, secret, res, errmsg);
	case MC_LOGIN_PLAIN:
		return login_plain(w, user, secret, res, errmsg);
	case MC_LOGIN_LOGIN:
		return login_login(w, user, secret, res, errmsg);
	}
	return MC_ERR_INTERNAL;
}

/* The class of a refusal during the transaction: 4xx or 5xx. */
static int
refused(struct mc_wire *w, struct mc_smtp_result *res, const char *what,
    char **errmsg)
{
	const struct mc_smtp_reply *r = &res->reply;

	return mc_fail(r->code >= 400 && r->code < 500 ? MC_ERR_TEMP :
	    MC_ERR_SERVICE, errmsg, "%s refused %s%s%s: %d%s%s %s",
	    mc_wire_host(w), what, res->rcpt != NULL ? " " : "",
	    res->rcpt != NULL ? res->rcpt : "", r->code,
	    r->enh[0] != '\0' ? " " : "", r->enh, r->text);
}

/* Appends "CMD:<addr>[ params]\r\n" to the buffer at *buf. */
static int
add_command(char **buf, size_t *len, const char *cmd, const char *addr,
    const char *params)
{
	char *line = NULL, *nb;
	int n;

	if (strpbrk(addr, "\r\n<>") != NULL)
		return MC_ERR_DATA;
	n = asprintf(&line, "%s:<%s>%s\r\n", cmd, addr, params);
	if (n < 0)
		return MC_ERR_NOMEM;
	if ((nb = realloc(*buf, *len + (size_t)n + 1)) == NULL) {
		free(line);
		return MC_ERR_NOMEM;
	}
	memcpy(nb + *len, line, (size_t)n + 1);
	*buf = nb;
	*len += (size_t)n;
	free(line);
	return MC_OK;
}

/* The reply to command i of the envelope (0 MAIL FROM, then RCPT TO). */
static int
envelope_refused(struct mc_wire *w, const struct mc_smtp_envelope *env,
    size_t i, struct mc_smtp_result *res, char **errmsg)
{
	res->stage = i == 0 ? "MAIL FROM" : "RCPT TO";
	if (i > 0 && (res->rcpt = strdup(env->rcpt[i - 1])) == NULL)
		return MC_ERR_NOMEM;
	return refused(w, res, i == 0 ? "the sender" : "the recipient",
	    errmsg);
}

/*
 * MAIL FROM and every RCPT TO, in one write when the server offers
 * PIPELINING (RFC 2920); DATA goes on its own after their answers, so a
 * refused recipient never leaves us inside a DATA we cannot take back.
 * Any refusal: RSET, and the first refusal decides.
 */
static int
envelope(struct mc_wire *w, const struct mc_smtp_envelope *env,
    struct mc_smtp_result *res, char **errmsg)
{
	struct mc_smtp_reply r = MC_SMTP_REPLY_INIT;
	char params[64], *buf = NULL;
	const char *p, *nl;
	size_t len = 0, i;
	int rc, frc = MC_OK, pipelining;

	pipelining = mc_wire_cap_find(w, "PIPELINING") != NULL;
	if (env->utf8 && mc_wire_cap_find(w, "SMTPUTF8") == NULL)
		return mc_fail(MC_ERR_SERVICE, errmsg, "%s does not offer "
		    "SMTPUTF8, and the message has addresses or a header "
		    "beyond ASCII: nothing was sent", mc_wire_host(w));
	/* Fits: two literals of 23 bytes together, in 64. */
	(void)snprintf(params, sizeof(params), "%s%s",
	    env->utf8 ? " SMTPUTF8" : "",
	    mc_wire_cap_find(w, "8BITMIME") != NULL ? " BODY=8BITMIME" : "");
	if ((rc = add_command(&buf, &len, "MAIL FROM", env->from, params)) !=
	    MC_OK)
		goto bad_addr;
	for (i = 0; i < env->nrcpt; i++)
		if ((rc = add_command(&buf, &len, "RCPT TO", env->rcpt[i], "")) !=
		    MC_OK)
			goto bad_addr;
	if (pipelining && (rc = mc_wire_send_lines(w, buf, len, errmsg)) !=
	    MC_OK)
		goto out;
	for (i = 0, p = buf; i <= env->nrcpt; i++, p = nl + 1) {
		nl = strchr(p, '\n');
		if (!pipelining && (rc = mc_wire_send_lines(w, p,
		    (size_t)(nl + 1 - p), errmsg)) != MC_OK)
			goto out;
		if ((rc = mc_smtp_read_reply(w, &r, 0, errmsg)) != MC_OK)
			goto out;
		if (r.code / 100 != 2 && frc == MC_OK) {
			mc_smtp_reply_clear(&res->reply);
			res->reply = r;
			r.text = NULL;
			if ((frc = envelope_refused(w, env, i, res, errmsg)) ==
			    MC_OK)
				frc = MC_ERR_INTERNAL;
			if (!pipelining)
				break;
		}
		mc_smtp_reply_clear(&r);
	}
	if (frc != MC_OK) {
		if (mc_wire_send_line(w, "RSET", 0, NULL) == MC_OK)
			(void)mc_smtp_read_reply(w, &r, 0, NULL);
		rc = frc;
	}
	goto out;
bad_addr:
	if (rc == MC_ERR_DATA)
		rc = mc_fail(MC_ERR_DATA, errmsg, "an envelope address holds "
		    "CR, LF, '<' or '>': nothing was sent");
out:
	mc_smtp_reply_clear(&r);
	free(buf);
	return rc;
}

static void
drop_message(char **errmsg)
{
	if (errmsg != NULL) {
		free(*errmsg);
		*errmsg = NULL;
	}
}

int
mc_smtp_send(struct mc_wire *w, const struct mc_smtp_envelope *env,
    const struct mc_smtp_source *src, struct mc_smtp_result *res,
    char **errmsg)
{
	struct mc_data_enc enc = MC_DATA_ENC_INIT;
	const char *in;
	char *out = NULL, *why = NULL;
	size_t inlen, n, off;
	int rc;

	mc_smtp_result_clear(res);
	if (env->nrcpt == 0)
		return mc_fail(MC_ERR_DATA, errmsg, "no recipients");
	if ((rc = envelope(w, env, res, errmsg)) != MC_OK)
		return rc;
	res->stage = "DATA";
	if ((rc = mc_wire_send_line(w, "DATA", 0, errmsg)) != MC_OK ||
	    (rc = mc_smtp_read_reply(w, &res->reply, 0, errmsg)) != MC_OK)
		return rc;
	if (res->reply.code != 354) {
		rc = refused(w, res, "DATA", errmsg);
		(void)mc_wire_send_line(w, "RSET", 0, NULL);
		return rc;
	}
	if ((out = malloc(MC_DATA_ENC_MAX(CHUNK) + MC_DATA_FINISH_MAX)) == NULL)
		return MC_ERR_NOMEM;
	for (;;) {
		if ((rc = src->next(src->ctx, &in, &inlen, errmsg)) != MC_OK)
			goto abort;
		if (inlen == 0)
			break;
		for (off = 0; off < inlen; off += n) {
			n = inlen - off > CHUNK ? CHUNK : inlen - off;
			n = mc_data_encode(&enc, in + off, n, out);
			if (enc.nul) {
				rc = mc_fail(MC_ERR_DATA, errmsg, "the message "
				    "holds a NUL byte (at byte %llu): nothing "
				    "was sent", (unsigned long long)
				    enc.nul_offset);
				goto abort;
			}
			if ((rc = mc_wire_write(w, out, n, errmsg)) != MC_OK)
				goto lost;
			n = inlen - off > CHUNK ? CHUNK : inlen - off;
		}
	}
	n = mc_data_finish(&enc, out);
	if ((rc = mc_wire_write(w, out, n, errmsg)) != MC_OK)
		goto lost;
	res->stage = "end of data";
	rc = mc_smtp_read_reply(w, &res->reply, 0, errmsg);
	if (rc != MC_OK) {
		/* Sent in full, but no answer: it may have been delivered. */
		drop_message(errmsg);
		rc = mc_fail(MC_ERR_NET, errmsg, "%s did not confirm the "
		    "message (no answer to the end of the data within %d s, or "
		    "the connection broke): it may or may not have been "
		    "delivered", mc_wire_host(w), mc_wire_timeout(w));
		goto out;
	}
	if (res->reply.code / 100 != 2) {
		rc = refused(w, res, "the message", errmsg);
		goto out;
	}
	rc = MC_OK;
	goto out;
lost:
	/*
	 * A server that refuses mid-way may have said why before closing:
	 * look, briefly (a server that stopped reading says nothing more).
	 */
	mc_wire_set_timeout(w, 2);
	if (mc_smtp_read_reply(w, &res->reply, 0, NULL) == MC_OK &&
	    res->reply.code >= 400) {
		drop_message(errmsg);
		rc = refused(w, res, "the message during DATA", errmsg);
		goto out;
	}
	mc_smtp_reply_clear(&res->reply);
	why = errmsg != NULL ? *errmsg : NULL;
	if (errmsg != NULL)
		*errmsg = NULL;
	rc = mc_fail(MC_ERR_NET, errmsg, "sending the message to %s failed "
	    "during DATA (%s): the message was not sent", mc_wire_host(w),
	    why != NULL ? why : "the connection broke");
	free(why);
	goto out;
abort:
	/* Never terminated: the server discards what it got. */
	res->stage = "DATA";
out:
	free(out);
	return rc;
}

void
mc_smtp_quit(struct mc_wire *w)
{
	struct mc_smtp_reply r = MC_SMTP_REPLY_INIT;

	/* The message is in; a server slow to say goodbye costs 2 s at most. */
	if (mc_wire_timeout(w) > 2)
		mc_wire_set_timeout(w, 2);
	if (mc_wire_send_line(w, "QUIT", 0, NULL) == MC_OK)
		(void)mc_smtp_read_reply(w, &r, 0, NULL);
	mc_smtp_reply_clear(&r);
}
