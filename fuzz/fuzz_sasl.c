/*
 * fuzz/fuzz_sasl.c - the SASL error challenge a server sends after a
 * refused bearer token (the text after "334 " or "+ "):
 * mc_sasl_error_parse() and mc_sasl_error_retryable(), and the same bytes
 * through mc_base64_decode() alone.
 */
#include "auth/err.h"
#include "auth/sasl.h"
#include "fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_sasl_error e = MC_SASL_ERROR_INIT;
	unsigned char *raw = NULL;
	char *b64;
	size_t len;

	if ((b64 = fuzz_str(data, size)) == NULL)
		return 0;
	if (mc_sasl_error_parse(b64, &e) == MC_OK)
		(void)mc_sasl_error_retryable(&e);
	mc_sasl_error_clear(&e);
	if (mc_base64_decode(b64, &raw, &len) == MC_OK)
		free(raw);
	free(b64);
	return 0;
}
