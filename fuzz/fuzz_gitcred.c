/*
 * fuzz/fuzz_gitcred.c - what git sends a credential helper:
 * mc_gitcred_parse() on up to MC_GITCRED_INPUT_MAX bytes, then the
 * account choice (protocol, host and port, user) against a Google-like
 * account, and the check of what would be written back.
 */
#include "auth/err.h"
#include "auth/gitcred.h"
#include "fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_gitcred c = MC_GITCRED_INIT;
	struct mc_account acct;
	char *errmsg = NULL;

	if (size > MC_GITCRED_INPUT_MAX)
		return 0;
	fuzz_account(&acct);
	if (mc_gitcred_parse((const char *)data, size, &c, &errmsg) == MC_OK) {
		(void)mc_gitcred_url(&acct, &c);
		(void)mc_gitcred_protocol_known(&c);
		(void)mc_gitcred_host_matches(&acct, &c);
		(void)mc_gitcred_user_matches(&acct, &c);
		if (c.password != NULL)
			(void)mc_gitcred_value_ok(c.password,
			    strlen(c.password));
	}
	(void)mc_gitcred_value_ok((const char *)data, size);
	mc_gitcred_clear(&c);
	free(errmsg);
	return 0;
}
