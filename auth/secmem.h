/*
 * auth/secmem.h - memory that held a secret is wiped before it is freed.
 *
 * Secrets here are access and refresh tokens, client secrets, passwords,
 * SASL strings, device codes and HTTP bodies that carried any of them.
 */
#ifndef MAILCRED_AUTH_SECMEM_H
#define MAILCRED_AUTH_SECMEM_H

#include <stddef.h>

/* Wipes len bytes at p (a no-op for NULL). */
void mc_wipe(void *p, size_t len);

/* Wipes a NUL-terminated string and frees it; accepts NULL. */
void mc_free_secret(char *s);

/* strdup that returns NULL for NULL. The copy is the caller's to free. */
char *mc_strdup(const char *s);

/*
 * Makes jansson allocate through a wiping allocator, so every JSON value
 * (token responses, the stored token set) is wiped when freed. Call once,
 * before any JSON is parsed; idempotent.
 */
void mc_json_use_wiping_alloc(void);

/*
 * Frees memory that jansson allocated for the caller (json_dumps()'s
 * string): with the wiping allocator it must not go to free().
 */
void mc_json_free(void *p);

#endif
