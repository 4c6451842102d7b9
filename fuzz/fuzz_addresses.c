/*
 * fuzz/fuzz_addresses.c - an RFC 5322 address list as it stands in a To,
 * Cc or Bcc field: mc_msg_parse_addresses() on the raw bytes, each
 * address it finds checked as an envelope address.
 */
#include "auth/err.h"
#include "auth/message.h"
#include "fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **addrs = NULL, *errmsg = NULL;
	size_t i, n = 0;

	if (mc_msg_parse_addresses((const char *)data, size, &addrs, &n,
	    &errmsg) == MC_OK)
		for (i = 0; i < n; i++) {
			(void)mc_msg_addr_ok(addrs[i]);
			(void)mc_msg_addr_is_ascii(addrs[i]);
		}
	mc_msg_addrs_free(addrs, n);
	free(errmsg);
	return 0;
}
