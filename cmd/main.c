/* cmd/main.c - mailcred's entry point: global options, dispatch. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/secmem.h"
#include "cmd/cmd.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "add", cmd_add },
	{ "login", cmd_login },
	{ "token", cmd_token },
	{ "sasl", cmd_sasl },
	{ "password", cmd_password },
	{ "logout", cmd_logout },
	{ "accounts", cmd_accounts },
	{ "send", cmd_send },
	{ "doctor", cmd_doctor },
};

/*
 * stdout carries tokens and passwords: it is buffered in memory of our own,
 * wiped at exit.
 */
static char outbuf[BUFSIZ];

static void
wipe_outbuf(void)
{
	fflush(stdout);
	mc_wipe(outbuf, sizeof(outbuf));
}

/* fds 0-2 must be open, so nothing we open becomes stdout by accident. */
static void
sanitize_fds(void)
{
	int fd;

	for (;;) {
		fd = open("/dev/null", O_RDWR);
		if (fd < 0)
			exit(71);
		if (fd > 2) {
			close(fd);
			break;
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	size_t i;
	int opt;

	cmd_no_core_dumps();
	sanitize_fds();
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	atexit(wipe_outbuf);
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	mc_json_use_wiping_alloc();

	/* The same binary, installed as git's credential helper too. */
	if (argc > 0 && strcmp(basename(argv[0]), "git-credential-mailcred") == 0)
		return cmd_gitcred(argc, argv);

	while ((opt = cmd_getopt(NULL, argc, argv, longopts)) != -1) {
		if (opt == 'V') {
			printf("mailcred %s\n", MAILCRED_VERSION);
			return cmd_flush_stdout(NULL);
		}
	}
	if (optind >= argc)
		cmd_usage_error(NULL, "missing COMMAND");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			argv += optind;
			argc -= optind;
			optind = 0;	/* restart getopt for the command */
			return commands[i].fn(argc, argv);
		}
	}
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 2 < argc)
			cmd_usage_error(NULL, "help: extra argument '%s'",
			    argv[optind + 2]);
		cmd_help(optind + 1 < argc ? argv[optind + 1] : NULL);
	}
	cmd_usage_error(NULL, "unknown command '%s'", argv[optind]);
}
