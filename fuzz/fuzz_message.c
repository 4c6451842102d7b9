/*
 * fuzz/fuzz_message.c - the message `send -t` reads: mc_msg_parse_head(),
 * then what send does with the head (the recipients of To, Cc and Bcc, the
 * From address, the 8-bit check) and every field's value read as an
 * address list, each address checked as an envelope address.
 */
#include "auth/err.h"
#include "auth/message.h"
#include "fuzz/fuzz.h"

static void
addresses(const char *value, size_t len)
{
	char **addrs = NULL, *errmsg = NULL;
	size_t i, n = 0;

	if (mc_msg_parse_addresses(value, len, &addrs, &n, &errmsg) == MC_OK)
		for (i = 0; i < n; i++) {
			(void)mc_msg_addr_ok(addrs[i]);
			(void)mc_msg_addr_is_ascii(addrs[i]);
		}
	mc_msg_addrs_free(addrs, n);
	free(errmsg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_msg *m = NULL;
	char **addrs = NULL, *errmsg = NULL;
	const char *v;
	size_t i, n, len;

	if (mc_msg_parse_head((const char *)data, size, &m, &errmsg) !=
	    MC_OK) {
		free(errmsg);
		return 0;
	}
	n = 0;
	if (mc_msg_recipients(m, &addrs, &n, &errmsg) == MC_OK)
		mc_msg_addrs_free(addrs, n);
	free(errmsg);
	if ((v = mc_msg_from(m)) != NULL)
		(void)mc_msg_addr_ok(v);
	(void)mc_msg_is_8bit_head(m);
	(void)mc_msg_head(m, &len);
	(void)mc_msg_body_prefix(m, &len);
	(void)mc_msg_get(m, "Subject");
	for (i = 0, n = mc_msg_nfields(m); i < n; i++) {
		(void)mc_msg_field_name(m, i);
		(void)mc_msg_field_raw(m, i, &len);
		v = mc_msg_field_value(m, i);
		addresses(v, strlen(v));
	}
	mc_msg_free(m);
	return 0;
}
