/* auth/mailbox.c - IMAP and POP3 logins on a connection of auth/wire.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/clock.h"
#include "auth/err.h"
#include "auth/mailbox.h"
#include "auth/sasl.h"
#include "auth/secmem.h"

/* At most this many lines answer one command before we give up. */
#define MAX_LINES 200
/* RFC 5034: an AUTH command line with its initial response, at most. */
#define POP3_AUTH_MAX 255

/*
 * The base64 initial response of mech for user and secret into *b64
 * (a secret: mc_free_secret). MC_ERR_DATA for a field the mechanism
 * cannot carry.
 */
static int
initial_response(struct mc_wire *w, enum mc_login_mech mech, const char *user,
    const char *secret, char **b64, char **errmsg)
{
	char *raw = NULL;
	size_t len = 0, ul, sl;
	int rc;

	*b64 = NULL;
	if (mech == MC_LOGIN_XOAUTH2 || mech == MC_LOGIN_OAUTHBEARER) {
		rc = mc_sasl_build(mech == MC_LOGIN_XOAUTH2 ? MC_SASL_XOAUTH2 :
		    MC_SASL_OAUTHBEARER, user, secret, mc_wire_host(w),
		    mc_wire_port(w), &raw, &len, errmsg);
		if (rc != MC_OK)
			return rc;
	} else {
		/* PLAIN: authzid (empty) NUL authcid NUL password. */
		ul = strlen(user);
		sl = strlen(secret);
		raw = malloc(ul + sl + 3);
		if (raw == NULL)
			return MC_ERR_NOMEM;
		raw[0] = '\0';
		memcpy(raw + 1, user, ul);
		raw[1 + ul] = '\0';
		memcpy(raw + 2 + ul, secret, sl);
		raw[2 + ul + sl] = '\0';
		len = ul + sl + 2;
	}
	*b64 = mc_base64_encode((unsigned char *)raw, len);
	mc_wipe(raw, len);
	free(raw);
	return *b64 != NULL ? MC_OK : MC_ERR_NOMEM;
}

/*
 * A "+ BASE64" after the initial response went out: the SASL error
 * challenge. Decoded into res (when it is JSON) and answered, so the
 * server goes on to its final answer.
 */
static int
answer_challenge(struct mc_wire *w, enum mc_login_mech mech, const char *line,
    struct mc_login_result *res, char **errmsg)
{
	const char *b64 = line + 1;
	const char *answer;

	while (*b64 == ' ')
		b64++;
	if (*b64 != '\0' && !res->have_challenge &&
	    mc_sasl_error_parse(b64, &res->challenge) == MC_OK)
		res->have_challenge = 1;
	if (mech == MC_LOGIN_XOAUTH2)
		answer = "";
	else if (mech == MC_LOGIN_OAUTHBEARER)
		answer = "AQ==";
	else
		answer = "*";
	return mc_wire_send_line(w, answer, 0, errmsg);
}

/* Appends line to *acc, '\n' between lines. */
static int
append_line(char **acc, const char *line)
{
	char *n = NULL;
	int r;

	if (*acc == NULL)
		r = asprintf(&n, "%s", line);
	else
		r = asprintf(&n, "%s\n%s", *acc, line);
	if (r < 0)
		return MC_ERR_NOMEM;
	free(*acc);
	*acc = n;
	return MC_OK;
}

/* Does line start with word followed by a blank or its end (any case)? */
static int
starts_word(const char *line, const char *word)
{
	size_t n = strlen(word);

	return strncasecmp(line, word, n) == 0 &&
	    (line[n] == ' ' || line[n] == '\0');
}

/* An IMAP quoted string of s into *out, or MC_ERR_DATA (8-bit, controls). */
static int
imap_quote(const char *s, char **out, char **errmsg)
{
	size_t i, n = 0, len = strlen(s);
	char *q;

	*out = NULL;
	q = malloc(2 * len + 3);
	if (q == NULL)
		return MC_ERR_NOMEM;
	q[n++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f) {
			mc_wipe(q, 2 * len + 3);
			free(q);
			return mc_fail(MC_ERR_DATA, errmsg, "the IMAP LOGIN "
			    "command cannot carry the user name or password "
			    "(it holds a control character or a byte beyond "
			    "ASCII), and the server offers no AUTH=PLAIN");
		}
		if (c == '"' || c == '\\')
			q[n++] = '\\';
		q[n++] = (char)c;
	}
	q[n++] = '"';
	q[n] = '\0';
	*out = q;
	return MC_OK;
}

/*
 * Reads IMAP lines up to the one tagged tag into res->line (untagged NO,
 * BAD, [ALERT], [WEBALERT] lines first). While authenticating (mech >= 0),
 * a "+" continuation is answered: with ir when it has not gone out yet,
 * else as an error challenge. Returns MC_OK with *status 'O', 'N' or 'B'.
 */
static int
imap_read_tagged(struct mc_wire *w, const char *tag, int mech,
    const char *ir, int *ir_sent, struct mc_login_result *res, int *status,
    char **errmsg)
{
	char *line = NULL, *said = NULL;
	size_t tl = strlen(tag);
	const char *p;
	long long deadline;
	int rc, i;

	*status = 'N';
	deadline = mc_clock_ms() + 1000LL * mc_wire_timeout(w);
	for (i = 0; i < MAX_LINES; i++) {
		free(line);
		line = NULL;
		/* The whole answer, all its lines, within the timeout. */
		rc = mc_wire_read_line_until(w, deadline, &line, 0, errmsg);
		if (rc != MC_OK)
			goto out;
		if (strncmp(line, tag, tl) == 0 && line[tl] == ' ') {
			p = line + tl + 1;
			if (starts_word(p, "OK"))
				*status = 'O';
			else if (starts_word(p, "BAD"))
				*status = 'B';
			else
				*status = 'N';
			rc = append_line(&said, line);
			if (rc != MC_OK)
				goto out;
			free(res->line);
			res->line = said;
			said = NULL;
			goto out;
		}
		if (line[0] == '+' && mech >= 0) {
			if (ir != NULL && !*ir_sent) {
				*ir_sent = 1;
				rc = mc_wire_send_line(w, ir, 3, errmsg);
			} else {
				rc = answer_challenge(w, (enum mc_login_mech)mech,
				    line, res, errmsg);
			}
			if (rc != MC_OK)
				goto out;
			continue;
		}
		if (line[0] == '*' && (strncasecmp(line, "* NO", 4) == 0 ||
		    strncasecmp(line, "* BAD", 5) == 0 ||
		    strcasestr(line, "[ALERT]") != NULL ||
		    strcasestr(line, "[WEBALERT") != NULL)) {
			rc = append_line(&said, line);
			if (rc != MC_OK)
				goto out;
		}
	}
	rc = mc_fail(MC_ERR_SERVICE, errmsg, "the IMAP server at %s:%d did "
	    "not answer the command in %d lines", mc_wire_host(w),
	    mc_wire_port(w), MAX_LINES);
out:
	free(said);
	free(line);
	return rc;
}

/* The result of a tagged status for a login. */
static int
imap_login_status(struct mc_wire *w, int status,
    const struct mc_login_result *res, char **errmsg)
{
	const char *l = res->line != NULL ? res->line : "";

	if (status == 'O')
		return MC_OK;
	if (status == 'B')
		return mc_fail(MC_ERR_SERVICE, errmsg, "the IMAP server at "
		    "%s:%d did not accept the login command", mc_wire_host(w),
		    mc_wire_port(w));
	if (strcasestr(l, "[UNAVAILABLE]") != NULL)
		return mc_fail(MC_ERR_TEMP, errmsg, "the IMAP server at %s:%d "
		    "cannot log anyone in just now", mc_wire_host(w),
		    mc_wire_port(w));
	return mc_fail(MC_ERR_AUTH, errmsg, "the IMAP server at %s:%d "
	    "refused the login", mc_wire_host(w), mc_wire_port(w));
}

int
mc_imap_login(struct mc_wire *w, enum mc_login_mech mech, const char *user,
    const char *secret, struct mc_login_result *res, char **errmsg)
{
	char *ir = NULL, *cmd = NULL, *qu = NULL, *qp = NULL;
	int rc, n, status, ir_sent = 0, secret_level = 0;
	const char *name = mc_login_mech_name(mech);

	if (mech == MC_LOGIN_LOGIN) {
		if (mc_wire_cap_find(w, "LOGINDISABLED") != NULL) {
			rc = mc_fail(MC_ERR_SERVICE, errmsg, "the IMAP server "
			    "at %s:%d refuses LOGIN (LOGINDISABLED) and offers "
			    "no AUTH=PLAIN", mc_wire_host(w), mc_wire_port(w));
			goto out;
		}
		rc = imap_quote(user, &qu, errmsg);
		if (rc == MC_OK)
			rc = imap_quote(secret, &qp, errmsg);
		if (rc != MC_OK)
			goto out;
		n = asprintf(&cmd, "a1 LOGIN %s %s", qu, qp);
		secret_level = 1;
	} else {
		if (!mc_wire_has_mech(w, name)) {
			rc = mc_fail(MC_ERR_SERVICE, errmsg, "the IMAP server "
			    "at %s:%d does not offer AUTH=%s", mc_wire_host(w),
			    mc_wire_port(w), name);
			goto out;
		}
		rc = initial_response(w, mech, user, secret, &ir, errmsg);
		if (rc != MC_OK)
			goto out;
		if (mc_wire_cap_find(w, "SASL-IR") != NULL) {
			/* RFC 4959: an empty response is sent as "=". */
			n = asprintf(&cmd, "a1 AUTHENTICATE %s %s", name,
			    ir[0] != '\0' ? ir : "=");
			ir_sent = 1;
			secret_level = 1;
		} else {
			n = asprintf(&cmd, "a1 AUTHENTICATE %s", name);
		}
	}
	if (n < 0) {
		cmd = NULL;
		rc = MC_ERR_NOMEM;
		goto out;
	}
	rc = mc_wire_send_line(w, cmd, secret_level, errmsg);
	if (rc != MC_OK)
		goto out;
	rc = imap_read_tagged(w, "a1", mech == MC_LOGIN_LOGIN ? -1 : (int)mech,
	    ir, &ir_sent, res, &status, errmsg);
	if (rc != MC_OK)
		goto out;
	rc = imap_login_status(w, status, res, errmsg);
out:
	mc_free_secret(cmd);
	mc_free_secret(ir);
	mc_free_secret(qu);
	mc_free_secret(qp);
	return rc;
}

int
mc_imap_list(struct mc_wire *w, struct mc_login_result *res, char **errmsg)
{
	int rc, status;

	rc = mc_wire_send_line(w, "a2 LIST \"\" \"INBOX\"", 0, errmsg);
	if (rc != MC_OK)
		return rc;
	rc = imap_read_tagged(w, "a2", -1, NULL, NULL, res, &status, errmsg);
	if (rc != MC_OK)
		return rc;
	if (status == 'O')
		return MC_OK;
	return mc_fail(MC_ERR_SERVICE, errmsg, "the IMAP server at %s:%d "
	    "accepted the login but refused LIST", mc_wire_host(w),
	    mc_wire_port(w));
}

void
mc_imap_logout(struct mc_wire *w)
{
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	char *msg = NULL;
	int status;

	if (mc_wire_send_line(w, "a3 LOGOUT", 0, &msg) == MC_OK)
		(void)imap_read_tagged(w, "a3", -1, NULL, NULL, &res, &status,
		    &msg);
	free(msg);
	mc_login_result_clear(&res);
}

/* The POP3 answer to a login, as a result code. */
static int
pop3_status(struct mc_wire *w, const char *line, char **errmsg)
{
	if (strncmp(line, "+OK", 3) == 0)
		return MC_OK;
	if (strcasestr(line, "[SYS/TEMP]") != NULL ||
	    strcasestr(line, "[IN-USE]") != NULL)
		return mc_fail(MC_ERR_TEMP, errmsg, "the POP3 server at %s:%d "
		    "cannot open the mailbox just now", mc_wire_host(w),
		    mc_wire_port(w));
	if (strncmp(line, "-ERR", 4) == 0)
		return mc_fail(MC_ERR_AUTH, errmsg, "the POP3 server at %s:%d "
		    "refused the login", mc_wire_host(w), mc_wire_port(w));
	return mc_fail(MC_ERR_SERVICE, errmsg, "the POP3 server at %s:%d "
	    "answered neither +OK nor -ERR", mc_wire_host(w), mc_wire_port(w));
}

/* Reads one POP3 +OK/-ERR line into res->line. */
static int
pop3_read(struct mc_wire *w, struct mc_login_result *res, char **errmsg)
{
	char *line = NULL;
	int rc;

	rc = mc_wire_read_line(w, &line, 0, errmsg);
	if (rc != MC_OK)
		return rc;
	free(res->line);
	res->line = line;
	return MC_OK;
}

int
mc_pop3_login(struct mc_wire *w, enum mc_login_mech mech, const char *user,
    const char *secret, struct mc_login_result *res, char **errmsg)
{
	char *ir = NULL, *cmd = NULL, *line = NULL;
	const char *name = mc_login_mech_name(mech);
	long long deadline;
	int rc, n, i, ir_sent = 0;

	if (mech == MC_LOGIN_LOGIN) {
		n = asprintf(&cmd, "USER %s", user);
		if (n < 0) {
			cmd = NULL;
			rc = MC_ERR_NOMEM;
			goto out;
		}
		rc = mc_wire_send_line(w, cmd, 0, errmsg);
		if (rc == MC_OK)
			rc = pop3_read(w, res, errmsg);
		if (rc != MC_OK)
			goto out;
		rc = pop3_status(w, res->line, errmsg);
		if (rc != MC_OK)
			goto out;
		mc_free_secret(cmd);
		n = asprintf(&cmd, "PASS %s", secret);
		if (n < 0) {
			cmd = NULL;
			rc = MC_ERR_NOMEM;
			goto out;
		}
		rc = mc_wire_send_line(w, cmd, 2, errmsg);
		if (rc == MC_OK)
			rc = pop3_read(w, res, errmsg);
		if (rc == MC_OK)
			rc = pop3_status(w, res->line, errmsg);
		goto out;
	}
	if (!mc_wire_has_mech(w, name)) {
		rc = mc_fail(MC_ERR_SERVICE, errmsg, "the POP3 server at %s:%d "
		    "does not offer SASL %s", mc_wire_host(w), mc_wire_port(w),
		    name);
		goto out;
	}
	rc = initial_response(w, mech, user, secret, &ir, errmsg);
	if (rc != MC_OK)
		goto out;
	if (strlen("AUTH ") + strlen(name) + 1 + strlen(ir) <= POP3_AUTH_MAX) {
		n = asprintf(&cmd, "AUTH %s %s", name, ir[0] != '\0' ? ir :
		    "=");
		ir_sent = 1;
	} else {
		n = asprintf(&cmd, "AUTH %s", name);
	}
	if (n < 0) {
		cmd = NULL;
		rc = MC_ERR_NOMEM;
		goto out;
	}
	rc = mc_wire_send_line(w, cmd, ir_sent ? 1 : 0, errmsg);
	if (rc != MC_OK)
		goto out;
	deadline = mc_clock_ms() + 1000LL * mc_wire_timeout(w);
	for (i = 0; i < MAX_LINES; i++) {
		free(line);
		line = NULL;
		/* The whole answer, all its lines, within the timeout. */
		rc = mc_wire_read_line_until(w, deadline, &line, 0, errmsg);
		if (rc != MC_OK)
			goto out;
		if (line[0] == '+' && (line[1] == ' ' || line[1] == '\0')) {
			if (!ir_sent) {
				ir_sent = 1;
				rc = mc_wire_send_line(w, ir, 3, errmsg);
			} else {
				rc = answer_challenge(w, mech, line, res,
				    errmsg);
			}
			if (rc != MC_OK)
				goto out;
			continue;
		}
		free(res->line);
		res->line = line;
		line = NULL;
		rc = pop3_status(w, res->line, errmsg);
		goto out;
	}
	rc = mc_fail(MC_ERR_SERVICE, errmsg, "the POP3 server at %s:%d did not "
	    "end the login in %d lines", mc_wire_host(w), mc_wire_port(w),
	    MAX_LINES);
out:
	free(line);
	mc_free_secret(cmd);
	mc_free_secret(ir);
	return rc;
}

int
mc_pop3_stat(struct mc_wire *w, long *messages, struct mc_login_result *res,
    char **errmsg)
{
	char *end;
	long v;
	int rc;

	if (messages != NULL)
		*messages = -1;
	rc = mc_wire_send_line(w, "STAT", 0, errmsg);
	if (rc == MC_OK)
		rc = pop3_read(w, res, errmsg);
	if (rc != MC_OK)
		return rc;
	if (strncmp(res->line, "+OK", 3) != 0)
		return mc_fail(MC_ERR_SERVICE, errmsg, "the POP3 server at "
		    "%s:%d accepted the login but refused STAT",
		    mc_wire_host(w), mc_wire_port(w));
	if (messages != NULL && res->line[3] == ' ') {
		errno = 0;
		v = strtol(res->line + 4, &end, 10);
		if (errno == 0 && end != res->line + 4 && v >= 0 &&
		    (*end == ' ' || *end == '\0'))
			*messages = v;
	}
	return MC_OK;
}

void
mc_pop3_quit(struct mc_wire *w)
{
	char *line = NULL, *msg = NULL;

	if (mc_wire_send_line(w, "QUIT", 0, &msg) == MC_OK)
		(void)mc_wire_read_line(w, &line, 0, &msg);
	free(line);
	free(msg);
}
