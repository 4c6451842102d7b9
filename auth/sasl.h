/*
 * auth/sasl.h - SASL initial responses for bearer tokens.
 *
 * XOAUTH2 (Google, Microsoft):  "user=U\x01auth=Bearer T\x01\x01"
 * OAUTHBEARER (RFC 7628):       "n,a=U,\x01host=H\x01port=P\x01auth=Bearer T\x01\x01"
 * (host and port are left out when not given). Fields are refused when
 * they hold \x01, CR, LF or other control bytes; the authzid's ',' and
 * '=' are escaped as RFC 5801 asks (=2C, =3D).
 */
#ifndef MAILCRED_AUTH_SASL_H
#define MAILCRED_AUTH_SASL_H

#include <stddef.h>

enum mc_sasl_mech {
	MC_SASL_XOAUTH2 = 0,
	MC_SASL_OAUTHBEARER = 1,
};

/* Parses "xoauth2" / "oauthbearer" (any case); -1 when unknown. */
int mc_sasl_mech_parse(const char *name);

/*
 * Builds the unencoded initial response into *out (malloc'd, *len bytes,
 * NUL-terminated for convenience). host may be NULL; port <= 0 leaves the
 * port out. MC_ERR_DATA when a field holds a forbidden byte. *out is a
 * secret: the caller wipes it (mc_wipe) and frees it.
 */
int mc_sasl_build(enum mc_sasl_mech mech, const char *user, const char *token,
    const char *host, int port, char **out, size_t *len, char **errmsg);

/*
 * A SASL error challenge (RFC 7628 section 3.2.2; Google's XOAUTH2 sends
 * the same): the server's base64 JSON, decoded. Members absent from the
 * JSON are NULL; all are malloc'd, printable ASCII, at most 200 bytes.
 */
struct mc_sasl_error {
	char *status;	/* "400", "401", "invalid_token", ... */
	char *schemes;	/* "bearer" */
	char *scope;	/* the scope the server wants */
};

#define MC_SASL_ERROR_INIT { NULL, NULL, NULL }

/*
 * Decodes the challenge b64 (the text after "334 " or "+ ") into *e.
 * MC_OK; MC_ERR_DATA when it is not base64 of a JSON object (e is then
 * cleared); MC_ERR_NOMEM.
 */
int mc_sasl_error_parse(const char *b64, struct mc_sasl_error *e);

void mc_sasl_error_clear(struct mc_sasl_error *e);

/*
 * Is this the refusal of a token that a refresh may cure: status 400, 401,
 * invalid_token (RFC 7628, Dovecot) or invalid_request (Google's
 * OAUTHBEARER)? A missing status counts as yes.
 */
int mc_sasl_error_retryable(const struct mc_sasl_error *e);

/*
 * Base64 (RFC 4648, no line breaks) of len bytes at in, malloc'd and
 * NUL-terminated; NULL when out of memory.
 */
char *mc_base64_encode(const unsigned char *in, size_t len);

/*
 * Decodes base64 into *out (malloc'd, NUL-terminated, *len bytes).
 * MC_ERR_DATA when it is not valid base64.
 */
int mc_base64_decode(const char *in, unsigned char **out, size_t *len);

#endif
