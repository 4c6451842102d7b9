/* cmd/doctor.c - mailcred doctor ACCOUNT: check an account step by step. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/doctor.h"
#include "auth/err.h"
#include "cmd/cmd.h"

/* The name column; longer names push the rest of their line. */
#define NAME_WIDTH 22

/* s on f with control bytes shown as '?': server words stay one line. */
static void
put_clean(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

static void
print_check(const struct mc_check *c)
{
	printf("%-*s %-7s  ", NAME_WIDTH, c->name,
	    mc_check_state_name(c->state));
	put_clean(stdout, c->detail);
	if (c->advice != NULL) {
		fputs("; fix: ", stdout);
		put_clean(stdout, c->advice);
	}
	fputc('\n', stdout);
	fflush(stdout);
}

static void
progress(void *ctx, const struct mc_check *c)
{
	(void)ctx;
	print_check(c);
}

static void
warn(void *ctx, const char *line)
{
	const char *account = ctx;

	cmd_note("%s: warning: %s", account, line);
}

static void
trace(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "mailcred: %s\n", line);
}

/*
 * A JSON string for text that may quote a server (any bytes): text that
 * is not UTF-8 has its bytes beyond ASCII and its control bytes shown as
 * '?'. NULL becomes JSON null.
 */
static json_t *
json_text(const char *text)
{
	json_t *j;
	char *copy;
	size_t i;

	if (text == NULL)
		return json_null();
	if ((j = json_string(text)) != NULL)
		return j;	/* UTF-8: control bytes are escaped */
	if ((copy = strdup(text)) == NULL)
		return NULL;
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] < 0x20 || (unsigned char)copy[i] >= 0x7f)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static int
print_json(const char *account, const struct mc_doctor_report *rep)
{
	json_t *o, *arr, *c;
	size_t i;

	arr = json_array();
	for (i = 0; arr != NULL && i < rep->n; i++) {
		const struct mc_check *k = &rep->checks[i];

		c = json_pack("{s:o, s:b, s:s, s:o, s:o}", "name",
		    json_text(k->name), "ok", k->state == MC_CHECK_OK, "status",
		    k->state == MC_CHECK_OK ? "ok" : k->state ==
		    MC_CHECK_FAILED ? "failed" : "skipped", "detail",
		    json_text(k->detail), "advice", json_text(k->advice));
		if (c == NULL || json_array_append_new(arr, c) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (arr == NULL)
		return cmd_fail(account, MC_ERR_NOMEM, NULL);
	o = json_pack("{s:o, s:b, s:o}", "account", json_text(account), "ok",
	    rep->err == MC_OK, "checks", arr);
	if (o == NULL)
		return cmd_fail(account, MC_ERR_NOMEM, NULL);
	return cmd_print_json(account, o);
}

int
cmd_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct mc_doctor_opts o = MC_DOCTOR_OPTS_INIT;
	struct mc_doctor_report rep = MC_DOCTOR_REPORT_INIT;
	const struct mc_check *first;
	const char *account;
	char *msg = NULL;
	size_t i, nfailed = 0;
	long timeout = 0;
	int json = 0, opt, rc;

	while ((opt = cmd_getopt("doctor", argc, argv, longopts)) != -1) {
		switch (opt) {
		case 'j':
			json = 1;
			break;
		case 't':
			timeout = cmd_parse_ulong(optarg, 600);
			if (timeout < 1)
				cmd_usage_error("doctor", "--timeout must be a "
				    "number of seconds from 1 to 600");
			break;
		default:
			cmd_usage_error("doctor", "unexpected option");
		}
	}
	account = cmd_account_arg("doctor", argc, argv);

	o.config_path = g_opts.config;
	o.account = account;
	o.timeout = (int)timeout;
	/* The store is a step too: --timeout bounds it (else its 5 s). */
	if (timeout > 0 && timeout < 5)
		o.store_timeout_ms = (int)timeout * 1000;
	o.trace = g_opts.verbose ? trace : NULL;
	o.progress = json ? NULL : progress;
	o.warn = warn;
	o.warn_ctx = (void *)account;
	rc = mc_doctor_run(&o, &rep, &msg);
	if (rc != MC_OK)
		return cmd_fail(account, rc, msg);
	if (json) {
		rc = print_json(account, &rep);
		if (rc != 0)
			goto out;
	} else {
		rc = cmd_flush_stdout(account);
		if (rc != 0)
			goto out;
	}
	if (rep.err == MC_OK)
		goto out;
	for (i = 0; i < rep.n; i++)
		if (rep.checks[i].state == MC_CHECK_FAILED)
			nfailed++;
	first = &rep.checks[rep.first_failed];
	fprintf(stderr, "mailcred: %s: %zu check%s failed, first %s: ",
	    account, nfailed, nfailed == 1 ? "" : "s", first->name);
	put_clean(stderr, first->advice != NULL ? first->advice :
	    first->detail);
	fputc('\n', stderr);
	rc = mc_exit_status(rep.err);
out:
	mc_doctor_report_clear(&rep);
	return rc;
}
