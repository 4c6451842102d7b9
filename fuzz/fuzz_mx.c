/*
 * fuzz/fuzz_mx.c - a DNS answer to an MX query, as res_query(3) returns
 * it: mc_mx_parse() (libresolv's name expansion, loaded with dlopen), and
 * the provider guess from each exchanger's name.
 */
#include "auth/err.h"
#include "auth/provider_guess.h"
#include "fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_mx mx[8];
	char *errmsg = NULL;
	size_t i, n = 0;

	if (mc_mx_parse(data, size, mx, sizeof(mx) / sizeof(mx[0]), &n,
	    &errmsg) == MC_OK)
		for (i = 0; i < n; i++)
			(void)mc_provider_by_mx(mx[i].host);
	free(errmsg);
	return 0;
}
