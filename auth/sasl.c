/* auth/sasl.c - XOAUTH2 and OAUTHBEARER initial responses, base64. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "auth/err.h"
#include "auth/sasl.h"
#include "auth/secmem.h"

int
mc_sasl_mech_parse(const char *name)
{
	if (strcasecmp(name, "xoauth2") == 0)
		return MC_SASL_XOAUTH2;
	if (strcasecmp(name, "oauthbearer") == 0)
		return MC_SASL_OAUTHBEARER;
	return -1;
}

static int
clean_field(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* RFC 5801 saslname: ',' -> "=2C", '=' -> "=3D". */
static char *
escape_authzid(const char *user)
{
	size_t i, j = 0, len = strlen(user);
	char *out = malloc(len * 3 + 1);

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (user[i] == ',') {
			memcpy(out + j, "=2C", 3);
			j += 3;
		} else if (user[i] == '=') {
			memcpy(out + j, "=3D", 3);
			j += 3;
		} else {
			out[j++] = user[i];
		}
	}
	out[j] = '\0';
	return out;
}

int
mc_sasl_build(enum mc_sasl_mech mech, const char *user, const char *token,
    const char *host, int port, char **out, size_t *len, char **errmsg)
{
	char *authzid = NULL, *s = NULL, portbuf[16] = "";
	int n, rc;

	*out = NULL;
	*len = 0;
	if (user == NULL || user[0] == '\0' || !clean_field(user))
		return mc_fail(MC_ERR_DATA, errmsg, "the user name is empty "
		    "or holds control characters");
	if (token == NULL || token[0] == '\0' || !clean_field(token))
		return mc_fail(MC_ERR_DATA, errmsg, "the access token is empty "
		    "or holds control characters");
	if (host != NULL && (host[0] == '\0' || !clean_field(host)))
		return mc_fail(MC_ERR_DATA, errmsg, "the host name is empty "
		    "or holds control characters");
	if (port > 65535)
		return mc_fail(MC_ERR_DATA, errmsg, "port %d is out of range",
		    port);
	if (mech == MC_SASL_XOAUTH2) {
		n = asprintf(&s, "user=%s\001auth=Bearer %s\001\001", user,
		    token);
	} else {
		authzid = escape_authzid(user);
		if (authzid == NULL)
			return MC_ERR_NOMEM;
		if (port > 0)
			/* Fits: port is 1 to 65535 (checked above). */
			(void)snprintf(portbuf, sizeof(portbuf), "%d", port);
		n = asprintf(&s, "n,a=%s,\001%s%s%s%s%s%sauth=Bearer %s\001\001",
		    authzid, host ? "host=" : "", host ? host : "",
		    host ? "\001" : "", port > 0 ? "port=" : "", portbuf,
		    port > 0 ? "\001" : "", token);
	}
	if (n < 0) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	*out = s;
	*len = (size_t)n;
	rc = MC_OK;
out:
	free(authzid);
	return rc;
}

char *
mc_base64_encode(const unsigned char *in, size_t len)
{
	char *out;

	if (len > (size_t)(1 << 28))
		return NULL;
	out = malloc(4 * ((len + 2) / 3) + 1);
	if (out == NULL)
		return NULL;
	if (EVP_EncodeBlock((unsigned char *)out, in, (int)len) < 0) {
		free(out);	/* libcrypto could not be loaded */
		return NULL;
	}
	return out;
}

int
mc_base64_decode(const char *in, unsigned char **out, size_t *len)
{
	size_t inlen = strlen(in), pad = 0, i;
	unsigned char *buf;
	int n;

	*out = NULL;
	*len = 0;
	if (inlen % 4 != 0 || inlen > (size_t)(1 << 28))
		return MC_ERR_DATA;
	for (i = 0; i < inlen; i++) {
		char c = in[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/' ||
		    (c == '=' && i >= inlen - 2)))
			return MC_ERR_DATA;
	}
	if (inlen >= 1 && in[inlen - 1] == '=')
		pad++;
	if (inlen >= 2 && in[inlen - 2] == '=')
		pad++;
	if (inlen >= 2 && in[inlen - 2] == '=' && in[inlen - 1] != '=')
		return MC_ERR_DATA;
	buf = malloc(inlen / 4 * 3 + 1);
	if (buf == NULL)
		return MC_ERR_NOMEM;
	n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)inlen);
	if (n < 0 || (size_t)n < pad) {
		free(buf);
		return MC_ERR_DATA;
	}
	*len = (size_t)n - pad;
	buf[*len] = '\0';
	*out = buf;
	return MC_OK;
}

void
mc_sasl_error_clear(struct mc_sasl_error *e)
{
	free(e->status);
	free(e->schemes);
	free(e->scope);
	e->status = e->schemes = e->scope = NULL;
}

/* A member as printable ASCII, at most 200 bytes; NULL when absent. */
static int
error_member(json_t *o, const char *key, char **out)
{
	json_t *v = json_object_get(o, key);
	char buf[201];
	const char *s;
	size_t i;

	*out = NULL;
	if (json_is_integer(v)) {
		/* Fits: 20 digits and a sign at most, in 201 bytes. */
		(void)snprintf(buf, sizeof(buf), "%lld",
		    (long long)json_integer_value(v));
		s = buf;
	} else if (json_is_string(v)) {
		s = json_string_value(v);
	} else {
		return MC_OK;
	}
	for (i = 0; s[i] != '\0' && i < 200; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ?
		    '?' : s[i];
	buf[i] = '\0';
	if ((*out = strdup(buf)) == NULL)
		return MC_ERR_NOMEM;
	return MC_OK;
}

int
mc_sasl_error_parse(const char *b64, struct mc_sasl_error *e)
{
	unsigned char *raw = NULL;
	json_t *o = NULL;
	size_t len;
	int rc;

	e->status = e->schemes = e->scope = NULL;
	while (*b64 == ' ')
		b64++;
	if ((rc = mc_base64_decode(b64, &raw, &len)) != MC_OK)
		return rc;
	o = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		rc = MC_ERR_DATA;
		goto out;
	}
	if ((rc = error_member(o, "status", &e->status)) != MC_OK ||
	    (rc = error_member(o, "schemes", &e->schemes)) != MC_OK ||
	    (rc = error_member(o, "scope", &e->scope)) != MC_OK)
		goto out;
out:
	if (rc != MC_OK)
		mc_sasl_error_clear(e);
	json_decref(o);
	free(raw);
	return rc;
}

int
mc_sasl_error_retryable(const struct mc_sasl_error *e)
{
	return e->status == NULL || strcmp(e->status, "400") == 0 ||
	    strcmp(e->status, "401") == 0 ||
	    strcasecmp(e->status, "invalid_token") == 0 ||
	    strcasecmp(e->status, "invalid_request") == 0;
}
