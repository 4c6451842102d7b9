/*
 * fuzz/fuzz_listener.c - the request head the loopback redirect listener
 * receives, as it reads it: mc_listener_parse_head() on up to
 * MC_LISTENER_MAX_REQUEST bytes for redirect path "/" and then "/cb",
 * and mc_redirect_parse() of the target of a GET on it.
 */
#include "auth/listener.h"
#include "fuzz/fuzz.h"

#define FUZZ_STATE "s9dKq2mXv7TnLp0aZrY4bW1cE8fG3hJ6"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "/", "/cb" };
	static char buf[MC_LISTENER_MAX_REQUEST + 1];
	struct mc_redirect r = MC_REDIRECT_INIT;
	char *target, *errmsg;
	size_t i;

	if (size > MC_LISTENER_MAX_REQUEST)
		size = MC_LISTENER_MAX_REQUEST;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		memcpy(buf, data, size);
		if (mc_listener_parse_head(buf, size, paths[i], &target) !=
		    MC_LISTENER_REQ_GET)
			continue;
		errmsg = NULL;
		(void)mc_redirect_parse(target, FUZZ_STATE,
		    "https://accounts.google.com/o/oauth2/v2/auth", &r, &errmsg);
		mc_redirect_clear(&r);
		free(errmsg);
	}
	return 0;
}
