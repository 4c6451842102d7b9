/*
 * cmd/add.c - mailcred add ADDRESS: writes an [account ADDRESS] section
 * into the configuration file, then, on a terminal, goes on to `login` or
 * `password set`.
 *
 * Choices (mailcred(1) says the same):
 * - A bad ADDRESS is a usage error (64): it is an operand of the command.
 * - A duplicate account is a configuration error (78) naming the file.
 * - Write failures are the library's: 75 (MC_ERR_IO, MC_ERR_TEMP).
 * - The client secret is never an option (argv is visible to others): on
 *   a terminal it is asked for without echo; otherwise none is written and
 *   the note says how to add one. stdin is not read when it is not a
 *   terminal, so nothing meant for a later command is swallowed.
 * - Interactive means stdin is a terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/confedit.h"
#include "auth/err.h"
#include "auth/provider_guess.h"
#include "auth/secmem.h"
#include "cmd/cmd.h"

#define ADDRESS_MAX	254
#define CLIENT_SECRET_MAX 4096

static const char google_client_help[] =
    "create an OAuth client at https://console.cloud.google.com/apis/"
    "credentials of type \"Desktop app\", with the Gmail API enabled and, "
    "while the app is in testing, your address added as a test user";
static const char microsoft_client_help[] =
    "register an app at https://entra.microsoft.com (App registrations) "
    "with the platform \"Mobile and desktop applications\", redirect URI "
    "http://localhost, and \"Allow public client flows\" on for the device "
    "flow";
static const char other_client_help[] =
    "register an OAuth client with your provider (a native or desktop "
    "client with a loopback redirect)";

/* LOCAL@DOMAIN: one '@', both parts, no blanks or control characters. */
static const char *
address_problem(const char *a)
{
	const char *at = strchr(a, '@'), *d, *p;
	size_t len = strlen(a);

	if (len > ADDRESS_MAX)
		return "longer than 254 characters";
	for (p = a; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return "it holds a blank or a control character";
	if (at == NULL || strchr(at + 1, '@') != NULL)
		return "it needs exactly one '@'";
	if (at == a || at[1] == '\0')
		return "it needs a name before the '@' and a domain after it";
	d = at + 1;
	if (*d == '.' || d[strlen(d) - 1] == '.' || strstr(d, "..") != NULL)
		return "its domain has an empty label";
	for (p = d; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
		    (unsigned char)*p >= 0x80))
			return "its domain holds a character domains do not "
			    "have";
	return NULL;
}

/*
 * Reads one line from the terminal on stdin, with echo, after prompt on
 * stderr, into buf (size bytes). Returns 0, or -1 at end of input, on a
 * read error, or for a line too long or holding a control character.
 */
static int
ask_line(const char *prompt, char *buf, size_t size)
{
	size_t len = 0;
	int bad = 0;
	ssize_t n;
	char c;

	fputs(prompt, stderr);
	fflush(stderr);
	for (;;) {
		n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (c == '\n')
			break;
		if (c == '\r')
			continue;
		if ((unsigned char)c < 0x20 || c == 0x7f || len + 1 >= size)
			bad = 1;
		else
			buf[len++] = c;
	}
	buf[len] = '\0';
	return bad ? -1 : 0;
}

/* " -c FILE" when the user gave one, for the commands we suggest. */
static const char *
config_arg(char *buf, size_t size)
{
	int n;

	if (g_opts.config == NULL)
		return "";
	n = snprintf(buf, size, " -c %s", g_opts.config);
	return n >= 0 && (size_t)n < size ? buf : " -c FILE";
}

/* The provider for address: --provider, the guess, or the user's answer. */
static int
choose_provider(const char *address, const char *given, int tty,
    char *buf, size_t size, const char **provider)
{
	char *why = NULL, *msg = NULL;
	int rc, i;

	*provider = given;
	if (given != NULL)
		return 0;
	rc = mc_provider_guess(address, &mc_resolver_system, provider, &why);
	if (rc != MC_OK)
		return cmd_fail(address, rc, NULL);
	if (*provider != NULL) {
		cmd_note("%s: %s: provider = %s", address, why, *provider);
		free(why);
		return 0;
	}
	if (!tty) {
		if (asprintf(&msg, "cannot tell who serves it (%s): pass "
		    "--provider google, --provider microsoft, or --provider "
		    "NAME after writing a [provider NAME] section (see "
		    "mailcred.conf(5))", why) < 0)
			msg = NULL;
		free(why);
		return cmd_fail(address, MC_ERR_USAGE, msg);
	}
	cmd_note("%s: cannot tell who serves it (%s)", address, why);
	free(why);
	for (i = 0; i < 3; i++) {
		if (ask_line("Provider (google or microsoft; for another, "
		    "write a [provider NAME] section, see mailcred.conf(5), "
		    "and run add again with --provider NAME): ", buf, size) != 0)
			break;
		if (strcmp(buf, "google") == 0 ||
		    strcmp(buf, "microsoft") == 0) {
			*provider = buf;
			return 0;
		}
	}
	return cmd_fail(address, MC_ERR_USAGE, strdup("no provider chosen: "
	    "pass --provider"));
}

static int
is_provider(const char *provider, const char *name)
{
	return provider != NULL && strcmp(provider, name) == 0;
}

/*
 * The OAuth client: --client-id, or asked for on a terminal; on a
 * terminal also its secret, without echo ("-" for none). Microsoft's
 * public clients have none: it is not asked for.
 */
static int
choose_client(const char *address, const char *provider, const char *given,
    int tty, char *buf, size_t size, const char **client_id, char **secret)
{
	const char *help = is_provider(provider, "google") ?
	    google_client_help : is_provider(provider, "microsoft") ?
	    microsoft_client_help : other_client_help;
	char *msg = NULL;
	int rc;

	*client_id = given;
	*secret = NULL;
	if (given == NULL && !tty) {
		if (asprintf(&msg, "an oauth2 account needs an OAuth client: "
		    "pass --client-id ID (to get one, %s)", help) < 0)
			msg = NULL;
		return cmd_fail(address, MC_ERR_USAGE, msg);
	}
	if (!tty) {
		if (!is_provider(provider, "microsoft"))
			cmd_note("%s: no client_secret written (it is never "
			    "taken from the command line): if the client has "
			    "one, add 'client_secret = ...' to the section",
			    address);
		return 0;
	}
	if (given == NULL) {
		fprintf(stderr, "An OAuth client is needed: %s.\n", help);
		if (ask_line("Client ID: ", buf, size) != 0 || buf[0] == '\0')
			return cmd_fail(address, MC_ERR_USAGE,
			    strdup("no client ID given: pass --client-id ID"));
		*client_id = buf;
	}
	if (is_provider(provider, "microsoft"))
		return 0;
	rc = cmd_read_secret("Client secret (not shown; '-' if the client "
	    "has none): ", CLIENT_SECRET_MAX, secret, &msg);
	if (rc != MC_OK)
		return cmd_fail(address, rc, msg);
	if (strcmp(*secret, "-") == 0) {
		mc_free_secret(*secret);
		*secret = NULL;
	}
	return 0;
}

/* What comes after the section is written: login or password set. */
static int
next_step(const char *address, int password, int tty, const char *cfgarg)
{
	struct mc_config *cfg = NULL;
	struct mc_account *acct = NULL;
	char *login_argv[] = { "login", (char *)address, NULL };
	int rc;

	if (!tty) {
		if (password)
			cmd_note("%s: next, store the app password: mailcred%s "
			    "password set %s (it reads it from stdin)",
			    address, cfgarg, address);
		else
			cmd_note("%s: next, log in on a terminal: mailcred%s "
			    "login %s", address, cfgarg, address);
		return 0;
	}
	if (!password) {
		optind = 0;	/* getopt starts again, for login */
		return cmd_login(2, login_argv);
	}
	rc = cmd_load_account(address, &cfg, &acct);
	if (rc == 0)
		rc = cmd_password_set(acct);
	mc_account_free(acct);
	mc_config_free(cfg);
	return rc;
}

int
cmd_add(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "provider", required_argument, NULL, 'p' },
		{ "auth", required_argument, NULL, 'a' },
		{ "client-id", required_argument, NULL, 'i' },
		{ "store", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *address, *why, *provider = NULL, *given_provider = NULL;
	const char *auth = "oauth2", *given_id = NULL, *client_id = NULL;
	const char *store = NULL, *kv[13];
	char *path = NULL, *msg = NULL, *secret = NULL, cfgbuf[1100];
	char pbuf[64], idbuf[1024];
	int opt, rc, tty = isatty(STDIN_FILENO), password, k = 0;

	while ((opt = cmd_getopt("add", argc, argv, longopts)) != -1) {
		switch (opt) {
		case 'p':
			given_provider = optarg;
			break;
		case 'a':
			auth = optarg;
			if (strcmp(auth, "oauth2") != 0 &&
			    strcmp(auth, "password") != 0)
				cmd_usage_error("add", "--auth is oauth2 or "
				    "password, not '%s'", auth);
			break;
		case 'i':
			given_id = optarg;
			break;
		case 's':
			store = optarg;
			if (strcmp(store, "keyring") != 0 &&
			    strcmp(store, "file") != 0)
				cmd_usage_error("add", "--store is keyring or "
				    "file, not '%s'", store);
			break;
		}
	}
	if (optind >= argc)
		cmd_usage_error("add", "missing ADDRESS");
	if (optind + 1 < argc)
		cmd_usage_error("add", "extra argument '%s' after ADDRESS",
		    argv[optind + 1]);
	address = argv[optind];
	if ((why = address_problem(address)) != NULL)
		cmd_usage_error("add", "'%s' is not a mail address: %s",
		    address, why);
	password = strcmp(auth, "password") == 0;
	if (password && given_id != NULL)
		cmd_usage_error("add", "--client-id is for --auth oauth2");
	if (given_provider != NULL && given_provider[0] == '\0')
		cmd_usage_error("add", "--provider needs a name");

	rc = mc_config_path(g_opts.config, &path, &msg);
	if (rc == MC_OK)
		rc = mc_confedit_check(path, address, &msg);
	if (rc != MC_OK) {
		rc = cmd_fail(address, rc, msg);
		goto out;
	}
	if ((rc = choose_provider(address, given_provider, tty, pbuf,
	    sizeof(pbuf), &provider)) != 0)
		goto out;
	if (password && is_provider(provider, "google"))
		cmd_note("%s: Gmail takes an app password only when 2-Step "
		    "Verification is on for the account; create one at "
		    "https://myaccount.google.com/apppasswords", address);
	if (!password && (rc = choose_client(address, provider, given_id,
	    tty, idbuf, sizeof(idbuf), &client_id, &secret)) != 0)
		goto out;

	kv[k++] = "provider";
	kv[k++] = provider;
	kv[k++] = "auth";
	kv[k++] = auth;
	if (client_id != NULL) {
		kv[k++] = "client_id";
		kv[k++] = client_id;
	}
	if (secret != NULL) {
		kv[k++] = "client_secret";
		kv[k++] = secret;
	}
	if (store != NULL) {
		kv[k++] = "store";
		kv[k++] = store;
	}
	kv[k] = NULL;
	rc = mc_confedit_add_account(path, address, kv, &msg);
	if (rc != MC_OK) {
		rc = cmd_fail(address, rc, msg);
		goto out;
	}
	cmd_note("%s: added [account %s] to %s", address, address, path);
	rc = next_step(address, password, tty, config_arg(cfgbuf,
	    sizeof(cfgbuf)));
out:
	mc_free_secret(secret);
	free(path);
	return rc;
}
