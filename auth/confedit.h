/*
 * auth/confedit.h - adds an [account NAME] section to the configuration
 * file, for `mailcred add`.
 *
 * auth/config.h only reads; this module writes. The new section is
 * appended: every byte of the existing file, comments included, is kept
 * as it was. Only two things may come between the old bytes and the new
 * section: a newline when the file did not end in one, and a blank line
 * when it did not already end in one, to set the section apart. So the
 * old file is always a prefix of the new one.
 *
 * Safety:
 * - The existing file must be one mc_config_load() accepts (owner, mode,
 *   directory) and must parse; an unparsable file is refused with the
 *   parser's error and left untouched. A file owned by another user
 *   (root) is refused too: the rename would take it over.
 * - A missing file is created 0600, and missing directories on its path
 *   0700 (the ~/.config/mailcred folder). The directory the file lands in
 *   must not be writable by group or others unless it has the sticky bit
 *   (what mc_config_load refuses).
 * - The new text is written to a temporary file in the same directory
 *   (O_CREAT|O_EXCL|O_NOFOLLOW, 0600, then given the old file's mode),
 *   fsync'd, renamed into place, and the directory fsync'd: a crash
 *   leaves the old file or the new one, never half of one. SIGINT,
 *   SIGTERM, SIGHUP and SIGQUIT wait while the temporary file exists, so
 *   an interrupted add leaves no copy of the configuration behind.
 * - Writers are serialized by flock(2) on the file's directory, taken
 *   before the file is read and held until the rename (waiting up to
 *   10 s, then MC_ERR_TEMP): two adds at once both land. (A directory
 *   that can be written but not read cannot be locked so: there the add
 *   goes on without the lock.) An editor that
 *   does not take the lock and changes the file between the read and
 *   the rename is noticed in most cases (the file is no longer the one
 *   read: nothing is replaced and MC_ERR_TEMP says to run again), but a
 *   change in the instant between that check and the rename is lost.
 * - A section with a client secret is not added to a file others can
 *   read (MC_ERR_CONFIG with the chmod that fixes it).
 * - A duplicate is an account of the same name in any case
 *   (Me@Example.com duplicates me@example.com): one mailbox, one grant.
 * - If the path is a symbolic link, the file it leads to is the one
 *   rewritten (in its own directory), and the link stays a link: a
 *   configuration kept in a dotfiles repository and linked into
 *   ~/.config is normal. A dangling link is refused.
 * - Before anything is written, the whole new text is parsed in memory
 *   and the new account resolved with mc_account_resolve(): a section
 *   that would not work is never written.
 *
 * Values are written as `key = value`, quoted with the parser's rules
 * (mailcred.conf(5)) where needed: a value that starts with '"', has a
 * blank at either end, or holds a '#' or ';' after a blank (which would
 * start a comment); the section name also when it holds ']'. Inside
 * quotes '"' and '\' are escaped with '\'. A value or name with a newline
 * or another control character (tab included) cannot be written and is
 * refused with MC_ERR_DATA.
 */
#ifndef MAILCRED_AUTH_CONFEDIT_H
#define MAILCRED_AUTH_CONFEDIT_H

/*
 * Checks, without writing, that an [account name] section could be added
 * to the file at path: MC_OK when the file is missing (it would be
 * created) or when it loads and has no such account. A duplicate is
 * MC_ERR_CONFIG with a message naming the file; an unloadable file is
 * its load error (MC_ERR_CONFIG).
 */
int mc_confedit_check(const char *path, const char *name, char **errmsg);

/*
 * Appends an [account name] section with the keys in kv, a list of key,
 * value pairs ended by NULL (values may be secrets: every copy made is
 * wiped), to the file at path, as described above. Returns MC_OK;
 * MC_ERR_CONFIG for a duplicate, a file that does not load or is not
 * ours, an untrusted directory, or a section that would not resolve (with
 * that error); MC_ERR_DATA for a name or value that cannot be written;
 * MC_ERR_IO when creating, writing or renaming fails; MC_ERR_TEMP when
 * the file changed meanwhile. *errmsg (caller frees) says which.
 */
int mc_confedit_add_account(const char *path, const char *name,
    const char *const *kv, char **errmsg);

/*
 * The text that stands for value in the file: value itself, or it in
 * double quotes with '"' and '\' escaped where the parser needs it
 * (section_name: also when it holds ']', as a section name). MC_OK and a
 * malloc'd *out (wipe it if value is a secret), MC_ERR_DATA for a control
 * character, MC_ERR_NOMEM.
 */
int mc_confedit_quote(const char *value, int section_name, char **out,
    char **errmsg);

#endif
