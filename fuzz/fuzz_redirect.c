/*
 * fuzz/fuzz_redirect.c - what a user pastes for the manual flow (a URL, a
 * query, a bare code): mc_redirect_parse() against a login whose state is
 * FUZZ_STATE, with Google's and then Microsoft's authorization endpoint
 * (for the iss check).
 */
#include "auth/oauth.h"
#include "fuzz/fuzz.h"

#define FUZZ_STATE "s9dKq2mXv7TnLp0aZrY4bW1cE8fG3hJ6"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const endpoints[] = {
		"https://accounts.google.com/o/oauth2/v2/auth",
		"https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
	};
	struct mc_redirect r = MC_REDIRECT_INIT;
	char *input, *errmsg;
	size_t i;

	if ((input = fuzz_str(data, size)) == NULL)
		return 0;
	for (i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
		errmsg = NULL;
		(void)mc_redirect_parse(input, FUZZ_STATE, endpoints[i], &r,
		    &errmsg);
		mc_redirect_clear(&r);
		free(errmsg);
	}
	free(input);
	return 0;
}
