/*
 * tests/unit/store_expect.h - assertions and clean-up shared by the store tests
 * (test_store_file.c, test_store_ss.c). Include after <cmocka.h>.
 */
#ifndef MAILCRED_TESTS_STORE_EXPECT_H
#define MAILCRED_TESTS_STORE_EXPECT_H

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyring/store.h"

/* nftw(3) callback that removes a test directory tree (FTW_DEPTH). */
static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

/* Expects get to succeed with want. */
static void
expect_get(struct store *st, const char *account, const char *kind,
    const char *want)
{
	char *secret = NULL, *msg = NULL;

	assert_int_equal(store_get(st, account, kind, &secret, &msg), STORE_OK);
	assert_null(msg);
	assert_non_null(secret);
	assert_string_equal(secret, want);
	store_secret_free(secret);
}

/* Expects put to succeed. */
static void
expect_put(struct store *st, const char *account, const char *kind,
    const char *secret)
{
	char *msg = NULL;

	assert_int_equal(store_put(st, account, kind, secret, &msg), STORE_OK);
	assert_null(msg);
}

/* Expects err from get; returns the message for the caller to free. */
static char *
expect_get_fails(struct store *st, const char *account, const char *kind,
    int err)
{
	char *secret = (char *)"sentinel", *msg = NULL;

	assert_int_equal(store_get(st, account, kind, &secret, &msg), err);
	assert_null(secret);
	return msg;
}

#endif
