/*
 * fuzz/fuzz_token.c - what a token endpoint answers, read as mailcred
 * reads it: json_loadb() with JSON_REJECT_DUPLICATES (auth/http.c), then
 * for an object the refresh path's choice (an "error" member:
 * mc_oauth_error(); else mc_token_set_from_response()), the device flow's
 * mc_device_poll_classify(), and mc_device_auth_parse() of the same object
 * as a device authorization answer. The bytes are also read as a stored
 * blob (mc_token_set_parse()), and a parsed set is serialized again.
 */
#include <jansson.h>

#include "auth/err.h"
#include "auth/oauth.h"
#include "auth/secmem.h"
#include "fuzz/fuzz.h"

static void
token_answer(const struct mc_account *acct, json_t *j)
{
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	struct mc_device_auth da = MC_DEVICE_AUTH_INIT;
	char *errmsg = NULL, *text = NULL;
	static const long statuses[] = { 200, 400, 401, 429, 503 };
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		(void)mc_device_poll_classify(statuses[i], j);
	if (json_object_get(j, "error") != NULL) {
		(void)mc_oauth_error(acct, "refresh", 400, j, &errmsg);
		free(errmsg);
		errmsg = NULL;
		(void)mc_oauth_error(acct, "device authorization", 503, j,
		    &errmsg);
		free(errmsg);
		errmsg = NULL;
	}
	if (mc_token_set_from_response(j, 1700000000, &ts, &errmsg) == MC_OK &&
	    mc_token_set_serialize(&ts, &text) == MC_OK)
		mc_free_secret(text);
	mc_token_set_clear(&ts);
	free(errmsg);
	errmsg = NULL;
	(void)mc_device_auth_parse(j, &da, &errmsg);
	mc_device_auth_clear(&da);
	free(errmsg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_account acct;
	struct mc_token_set ts = MC_TOKEN_SET_INIT;
	json_error_t jerr;
	json_t *j;
	char *blob, *errmsg = NULL, *text = NULL;

	fuzz_account(&acct);
	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (j != NULL && json_is_object(j))
		token_answer(&acct, j);
	json_decref(j);

	if ((blob = fuzz_str(data, size)) == NULL)
		return 0;
	if (mc_token_set_parse(blob, &ts, &errmsg) == MC_OK &&
	    mc_token_set_serialize(&ts, &text) == MC_OK)
		mc_free_secret(text);
	mc_token_set_clear(&ts);
	free(errmsg);
	free(blob);
	return 0;
}
