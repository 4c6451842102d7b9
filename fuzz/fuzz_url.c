/*
 * fuzz/fuzz_url.c - a URL from the configuration file or the command
 * line: mc_url_parse(), mc_url_is_loopback(), and mc_url_check() for each
 * use (endpoint, redirect, smtp, imap, pop).
 */
#include "auth/err.h"
#include "auth/url.h"
#include "fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_url url;
	const char *why = NULL;
	char *text, *errmsg;
	int use;

	if ((text = fuzz_str(data, size)) == NULL)
		return 0;
	if (mc_url_parse(text, &url, &why) == MC_OK)
		(void)mc_url_is_loopback(&url);
	for (use = MC_URL_ENDPOINT; use <= MC_URL_POP; use++) {
		errmsg = NULL;
		(void)mc_url_check(text, (enum mc_url_use)use, "fuzz", &errmsg);
		free(errmsg);
	}
	free(text);
	return 0;
}
