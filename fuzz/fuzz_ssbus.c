/*
 * fuzz/fuzz_ssbus.c - what keyring/ssbus.c reads off the session bus:
 * a message's size and header (ssbus_msg_size(), ssbus_msg_parse()), then
 * its body read as each of the three answers ssbus_get() waits for
 * (OpenSession, SearchItems, Item.GetSecret) whatever its signature says;
 * and the same bytes as a DBUS_SESSION_BUS_ADDRESS (ssbus_address()).
 */
#include "fuzz/fuzz.h"
#include "keyring/ssbus.h"

static void
bodies(const struct ssbus_msg *m)
{
	struct ssbus_msg as = *m;
	static const char *const sigs[] = { "vo", "aoao", "(oayays)" };
	const unsigned char *a, *b;
	char *path, *item;
	size_t i, n, k;

	for (i = 0; i < 3; i++) {
		memcpy(as.signature, sigs[i], strlen(sigs[i]) + 1);
		if (ssbus_parse_session(&as, &a, &n, &path) == 0) {
			if (n > 0)
				(void)a[n - 1];	/* ASan: inside the input */
			free(path);
		}
		if (ssbus_parse_search(&as, &item, &n) == 0)
			free(item);
		if (ssbus_parse_secret(&as, &a, &k, &b, &n) == 0) {
			if (k > 0)
				(void)a[k - 1];
			if (n > 0)
				(void)b[n - 1];
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ssbus_msg m;
	struct sockaddr_un sa;
	socklen_t salen;
	size_t n;
	char *s;

	n = ssbus_msg_size(data, size, SSBUS_MSG_MAX);
	if (n > 0 && n <= size && ssbus_msg_parse(data, n, &m) == 0) {
		if (m.body < data || m.body + m.body_len > data + n)
			abort();
		bodies(&m);
	}
	if ((s = fuzz_str(data, size)) != NULL) {
		(void)ssbus_address(s, &sa, &salen);
		free(s);
	}
	return 0;
}
