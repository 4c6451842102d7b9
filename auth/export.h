/*
 * auth/export.h - copies of an account's app password where other
 * programs look for one themselves, in the Secret Service:
 *
 *   msmtp  schema de.marlam.msmtp.password, attributes host (the host of
 *          the account's smtp URL), service = smtp, user: what msmtp
 *          (built with libsecret, as Debian's is) looks up when its
 *          msmtprc has neither password nor passwordeval;
 *   git    attributes protocol, server, port, user: what
 *          git-credential-libsecret looks up. The schema is libsecret's
 *          org.gnome.keyring.NetworkPassword: git before 2.43 (Debian 12
 *          has 2.39) searches with it, and git 2.43 and later search with
 *          org.git.Password without matching the schema name, so both
 *          find the copy (an org.git.Password one only the newer). One copy for
 *          git send-email (protocol smtp, whatever the smtp URL's scheme:
 *          send-email always says smtp) and, when the account has an imap
 *          URL, one for git imap-send (protocol imap or imaps, as the URL).
 *          The port is the URL's, else its scheme's default, so both a
 *          lookup with the port and one without find the copy.
 *
 * Each copy also carries the attribute "mailcred" = the account's name
 * (programs search by a subset of attributes, so it does not hide the
 * copy from them): mailcred finds, updates and deletes only its own
 * copies, never an item the user stored by other means. Attributes are
 * not secret; the password is the item's secret value.
 *
 * Functions return MC_OK or an MC_ERR_* code with a message (store
 * errors mapped by mc_store_error()).
 */
#ifndef MAILCRED_AUTH_EXPORT_H
#define MAILCRED_AUTH_EXPORT_H

#include <stddef.h>

#include "auth/config.h"
#include "keyring/store.h"

#define MC_EXPORT_MSMTP 1
#define MC_EXPORT_GIT 2
#define MC_EXPORT_ALL (MC_EXPORT_MSMTP | MC_EXPORT_GIT)

#define MC_EXPORT_SCHEMA_MSMTP "de.marlam.msmtp.password"
#define MC_EXPORT_SCHEMA_GIT "org.gnome.keyring.NetworkPassword"

/*
 * Parses a comma-separated list of program names ("msmtp,git") into
 * *which (MC_EXPORT_* bits). MC_ERR_USAGE with a message naming an
 * unknown or empty entry.
 */
int mc_export_parse(const char *list, int *which, char **errmsg);

/* One copy: its program, attributes and label. */
#define MC_EXPORT_ATTRS_MAX 6
struct mc_export_item {
	int program;			/* MC_EXPORT_MSMTP or MC_EXPORT_GIT */
	struct store_attr attrs[MC_EXPORT_ATTRS_MAX];
	size_t nattrs;
	size_t nkey;			/* the first nkey attributes name the
					   copy for update and delete */
	char host[254];			/* storage for the host attribute */
	char port[8];			/* storage for the port attribute */
	char proto[8];			/* and for git's protocol */
	char label[512];
};

#define MC_EXPORT_ITEMS_MAX 3

/*
 * The copies of acct's password for the programs in which, into items
 * (MC_EXPORT_ITEMS_MAX of them), *n set. The attributes point into acct
 * and the item: valid while both are. MC_ERR_CONFIG when acct has no smtp
 * URL, or one that does not parse.
 */
int mc_export_items(const struct mc_account *acct, int which,
    struct mc_export_item *items, size_t *n, char **errmsg);

/*
 * Writes (creates or replaces) the copies for the programs in which.
 * MC_ERR_CONFIG unless acct's store is the keyring.
 */
int mc_export_put(const struct mc_account *acct, struct store *st, int which,
    const char *password, char **errmsg);

/*
 * Which of mailcred's copies for acct exist: MC_EXPORT_* bits in *found.
 * 0 for an account whose store is not the keyring.
 */
int mc_export_find(const struct mc_account *acct, struct store *st,
    int *found, char **errmsg);

/*
 * Deletes mailcred's copies for acct (those with its name, user and host),
 * for the programs in which; *deleted gets the MC_EXPORT_* bits of those
 * that were there. Nothing to delete is MC_OK; a store other than the
 * keyring has none (MC_OK, *deleted 0).
 */
int mc_export_delete(const struct mc_account *acct, struct store *st,
    int which, int *deleted, char **errmsg);

/* "msmtp", "git", or "msmtp and git", for messages. */
const char *mc_export_names(int which);

#endif
