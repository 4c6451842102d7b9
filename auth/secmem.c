/* auth/secmem.c - wiping helpers and jansson's wiping allocator. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/secmem.h"

void
mc_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		explicit_bzero(p, len);
}

void
mc_free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

char *
mc_strdup(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

/*
 * jansson's free() gets no size, so each block carries its size in a
 * header aligned for any type.
 */
union wipe_hdr {
	size_t size;
	max_align_t align;
};

static void *
wipe_malloc(size_t size)
{
	union wipe_hdr *h;

	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h) + size);
	if (h == NULL)
		return NULL;
	h->size = size;
	return h + 1;
}

static void
wipe_free(void *p)
{
	union wipe_hdr *h;

	if (p == NULL)
		return;
	h = (union wipe_hdr *)p - 1;
	explicit_bzero(p, h->size);
	free(h);
}

void
mc_json_use_wiping_alloc(void)
{
	static int done;

	if (done)
		return;
	json_set_alloc_funcs(wipe_malloc, wipe_free);
	done = 1;
}

void
mc_json_free(void *p)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	f(p);
}
