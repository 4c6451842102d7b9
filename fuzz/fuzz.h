/*
 * fuzz/fuzz.h - what the libFuzzer targets share.
 *
 * Each fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput() and feeds the
 * input to the library's own parser (libmailcred's sources built again
 * with clang and the sanitizers: see the Makefile's fuzz block). A target
 * frees everything it is given, so LeakSanitizer can tell a leak in the
 * parser; it aborts only through a sanitizer.
 */
#ifndef MAILCRED_FUZZ_FUZZ_H
#define MAILCRED_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input as a malloc'd NUL-terminated string (a NUL inside ends it
 * early, as it would for the C code that reads it); NULL when out of
 * memory.
 */
static inline char *
fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return NULL;
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * A resolved account of the kind the commands hand the parsers: a Google
 * preset's endpoints and an SMTP and IMAP server. Its strings are static.
 */
static inline void
fuzz_account(struct mc_account *a)
{
	memset(a, 0, sizeof(*a));
	a->name = (char *)"work";
	a->provider = (char *)"google";
	a->user = (char *)"alice@example.com";
	a->client_id = (char *)"1234.apps.googleusercontent.com";
	a->scope = (char *)"https://mail.google.com/";
	a->authorization_endpoint =
	    (char *)"https://accounts.google.com/o/oauth2/v2/auth";
	a->token_endpoint = (char *)"https://oauth2.googleapis.com/token";
	a->device_authorization_endpoint =
	    (char *)"https://oauth2.googleapis.com/device/code";
	a->smtp = (char *)"smtp://smtp.gmail.com:587";
	a->imap = (char *)"imaps://imap.gmail.com";
	a->store = STORE_FILE;
	a->timeout = 30;
	a->google = 1;
}

#endif
