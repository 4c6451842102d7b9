/*
 * fuzz/fuzz_config.c - the configuration file: mc_config_parse(), then
 * every account resolved as the commands do (mc_account_resolve(): presets,
 * provider sections, defaults, the URL checks), and the warnings read.
 */
#include "fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_config *cfg = NULL;
	struct mc_account *acct;
	char *errmsg = NULL;
	size_t i, n;

	if (mc_config_parse("/fuzz/config", (const char *)data, size, &cfg,
	    &errmsg) != 0) {
		free(errmsg);
		return 0;
	}
	for (i = 0, n = mc_config_nwarnings(cfg); i < n; i++)
		(void)strlen(mc_config_warning(cfg, i));
	for (i = 0, n = mc_config_naccounts(cfg); i < n; i++) {
		acct = NULL;
		errmsg = NULL;
		if (mc_account_resolve(cfg, mc_config_account_name(cfg, i),
		    &acct, &errmsg) == 0)
			(void)strlen(mc_flow_name(acct->flow));
		mc_account_free(acct);
		free(errmsg);
	}
	/* An account the file does not have, as `mailcred token nosuch`. */
	acct = NULL;
	errmsg = NULL;
	(void)mc_account_resolve(cfg, "fuzz-no-such-account", &acct, &errmsg);
	mc_account_free(acct);
	free(errmsg);
	mc_config_free(cfg);
	return 0;
}
