/*
 * fuzz/fuzz_tcache.c - a runtime cache file ($XDG_RUNTIME_DIR/mailcred):
 * mc_tcache_parse_entry() for a Google-like account, as mc_tcache_read()
 * reads the file's text, with its lock directory.
 */
#include "auth/tcache.h"
#include "fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	struct mc_account acct;
	char *blob, *dir = NULL;

	if ((blob = fuzz_str(data, size)) == NULL)
		return 0;
	fuzz_account(&acct);
	(void)mc_tcache_parse_entry(&acct, blob, &ts, &dir);
	mc_token_set_clear(&ts);
	free(dir);
	free(blob);
	return 0;
}
