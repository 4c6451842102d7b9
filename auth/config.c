/* auth/config.c - INI parsing, provider presets, account resolution. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/config.h"
#include "auth/err.h"
#include "auth/secmem.h"
#include "auth/url.h"

#define CONFIG_MAX_SIZE	(1024 * 1024)
#define CONFIG_MAX_LINE	8192
#define NAME_MAX_LEN	256

enum key_flags {
	KF_ACCOUNT_ONLY = 1,	/* not allowed in [provider] sections */
	KF_SECRET = 2,		/* wiped on free; file permission warning */
};

/*
 * The keys a section may set, in the order mailcred.conf(5) lists them.
 * offset is where resolution copies the value as a string into struct
 * mc_account; 0 (where the name is, never a key's field) marks the keys
 * resolve_enums() turns into an enum or a number instead: auth, flow,
 * store, timeout.
 */
static const struct key_def {
	const char *name;
	size_t offset;		/* of the char * in struct mc_account */
	int flags;
} keys[] = {
	{ "provider", offsetof(struct mc_account, provider), KF_ACCOUNT_ONLY },
	{ "user", offsetof(struct mc_account, user), KF_ACCOUNT_ONLY },
	{ "auth", 0, 0 },
	{ "client_id", offsetof(struct mc_account, client_id), 0 },
	{ "client_secret", offsetof(struct mc_account, client_secret), KF_SECRET },
	{ "scope", offsetof(struct mc_account, scope), 0 },
	{ "flow", 0, 0 },
	{ "device_authorization_endpoint",
	    offsetof(struct mc_account, device_authorization_endpoint), 0 },
	{ "authorization_endpoint",
	    offsetof(struct mc_account, authorization_endpoint), 0 },
	{ "token_endpoint", offsetof(struct mc_account, token_endpoint), 0 },
	{ "revocation_endpoint",
	    offsetof(struct mc_account, revocation_endpoint), 0 },
	{ "auth_params", offsetof(struct mc_account, auth_params), 0 },
	{ "redirect_uri", offsetof(struct mc_account, redirect_uri), 0 },
	{ "tenant", offsetof(struct mc_account, tenant), 0 },
	{ "on_reauth", offsetof(struct mc_account, on_reauth), 0 },
	{ "smtp", offsetof(struct mc_account, smtp), 0 },
	{ "imap", offsetof(struct mc_account, imap), 0 },
	{ "pop", offsetof(struct mc_account, pop), 0 },
	{ "ca_file", offsetof(struct mc_account, ca_file), 0 },
	{ "store", 0, 0 },
	{ "cache", 0, 0 },
	{ "timeout", 0, 0 },
	{ "smtp_mech", 0, 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* A preset is a list of key=value pairs layered under the account. */
struct preset {
	const char *name;
	const char *kv[NKEYS * 2 + 1];
};

static const struct preset presets[] = {
	{ "google", {
		"scope", "https://mail.google.com/",
		"flow", "browser",
		"device_authorization_endpoint",
		    "https://oauth2.googleapis.com/device/code",
		"authorization_endpoint",
		    "https://accounts.google.com/o/oauth2/v2/auth",
		"token_endpoint", "https://oauth2.googleapis.com/token",
		"revocation_endpoint", "https://oauth2.googleapis.com/revoke",
		"auth_params", "access_type=offline&prompt=consent",
		"redirect_uri", "http://127.0.0.1/",
		"smtp", "smtp://smtp.gmail.com:587",
		"imap", "imaps://imap.gmail.com:993",
		"pop", "pop3s://pop.gmail.com:995",
		NULL } },
	{ "microsoft", {
		"scope", "https://outlook.office.com/IMAP.AccessAsUser.All "
		    "https://outlook.office.com/POP.AccessAsUser.All "
		    "https://outlook.office.com/SMTP.Send offline_access",
		"flow", "device",
		"tenant", "common",
		"device_authorization_endpoint",
		    "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
		"authorization_endpoint",
		    "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
		"token_endpoint",
		    "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
		"redirect_uri", "http://localhost/",
		"smtp", "smtp://smtp.office365.com:587",
		"imap", "imaps://outlook.office365.com:993",
		"pop", "pop3s://outlook.office365.com:995",
		NULL } },
};
#define NPRESETS (sizeof(presets) / sizeof(presets[0]))

enum section_type {
	SEC_ACCOUNT,
	SEC_PROVIDER,
};

struct kv {
	size_t key;		/* index in keys[] */
	char *value;
	int line;
};

struct section {
	enum section_type type;
	char *name;
	int line;
	struct kv *kv;
	size_t nkv;
};

struct mc_config {
	char *path;
	struct section *sec;
	size_t nsec;
	char **warn;
	size_t nwarn;
};

static const char *const flow_names[] = { "device", "browser", "manual" };
static const char *const auth_names[] = { "oauth2", "password" };

const char *
mc_flow_name(enum mc_flow flow)
{
	return (size_t)flow < 3 ? flow_names[flow] : "?";
}

const char *
mc_auth_name(enum mc_auth auth)
{
	return (size_t)auth < 2 ? auth_names[auth] : "?";
}

int
mc_config_path(const char *override, char **path, char **errmsg)
{
	const char *env, *home;
	char *p = NULL;
	int n;

	*path = NULL;
	if (override != NULL) {
		p = strdup(override);
	} else if ((env = getenv("MAILCRED_CONFIG")) != NULL && *env != '\0') {
		p = strdup(env);
	} else {
		env = getenv("XDG_CONFIG_HOME");
		home = getenv("HOME");
		if (env != NULL && *env == '/')
			n = asprintf(&p, "%s/mailcred/config", env);
		else if (home != NULL && *home != '\0')
			n = asprintf(&p, "%s/.config/mailcred/config", home);
		else
			return mc_fail(MC_ERR_CONFIG, errmsg,
			    "cannot find the configuration: HOME is not set; "
			    "use -c FILE or MAILCRED_CONFIG");
		if (n < 0)
			p = NULL;
	}
	if (p == NULL)
		return MC_ERR_NOMEM;
	*path = p;
	return MC_OK;
}

static void
section_clear(struct section *s)
{
	size_t i;

	for (i = 0; i < s->nkv; i++) {
		if (keys[s->kv[i].key].flags & KF_SECRET)
			mc_free_secret(s->kv[i].value);
		else
			free(s->kv[i].value);
	}
	free(s->kv);
	free(s->name);
}

void
mc_config_free(struct mc_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nsec; i++)
		section_clear(&cfg->sec[i]);
	free(cfg->sec);
	for (i = 0; i < cfg->nwarn; i++)
		free(cfg->warn[i]);
	free(cfg->warn);
	free(cfg->path);
	free(cfg);
}

size_t
mc_config_nwarnings(const struct mc_config *cfg)
{
	return cfg->nwarn;
}

const char *
mc_config_warning(const struct mc_config *cfg, size_t i)
{
	return i < cfg->nwarn ? cfg->warn[i] : NULL;
}

const char *
mc_config_file(const struct mc_config *cfg)
{
	return cfg->path;
}

size_t
mc_config_naccounts(const struct mc_config *cfg)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->nsec; i++)
		if (cfg->sec[i].type == SEC_ACCOUNT)
			n++;
	return n;
}

const char *
mc_config_account_name(const struct mc_config *cfg, size_t idx)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->nsec; i++) {
		if (cfg->sec[i].type != SEC_ACCOUNT)
			continue;
		if (n++ == idx)
			return cfg->sec[i].name;
	}
	return NULL;
}

static int
add_warning(struct mc_config *cfg, const char *fmt, const char *a,
    const char *b)
{
	char **w;
	char *msg = NULL;

	w = reallocarray(cfg->warn, cfg->nwarn + 1, sizeof(*w));
	if (w == NULL)
		return MC_ERR_NOMEM;
	cfg->warn = w;
	if (asprintf(&msg, fmt, a, b) < 0)
		return MC_ERR_NOMEM;
	cfg->warn[cfg->nwarn++] = msg;
	return MC_OK;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trims blanks at both ends of [*s, *e). */
static void
trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

/* Control characters other than tab, and DEL, have no place in a value. */
static int
has_control(const char *s, const char *e)
{
	for (; s < e; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 1;
	return 0;
}

/*
 * Copies the double-quoted string at s (on its opening quote, within
 * [s, e)) to dst, which has room for e - s bytes, undoing the only two
 * escapes, \" and \\. Sets *end just past the closing quote. Returns NULL,
 * or what is wrong for a message (dst is then not terminated).
 */
static const char *
unquote(const char *s, const char *e, char *dst, const char **end)
{
	const char *p;

	for (p = s + 1; p < e; p++) {
		if (*p == '"') {
			*dst = '\0';
			*end = p + 1;
			return NULL;
		}
		if (*p == '\\') {
			if (p + 1 == e || (p[1] != '"' && p[1] != '\\'))
				return "in quotes, a backslash must be followed "
				    "by '\"' or '\\' (write \\\\ for one)";
			p++;
		}
		*dst++ = *p;
	}
	return "the closing '\"' is missing";
}

/* Blanks, then nothing or a comment ('#' or ';' to the end)? */
static int
only_comment(const char *s, const char *e)
{
	while (s < e && is_blank(*s))
		s++;
	return s == e || *s == '#' || *s == ';';
}

/*
 * Where the comment of a value that starts at s (just after the '=')
 * begins: at the first '#' or ';' that follows a blank, else at e. A '#'
 * inside a word (a URL fragment, a secret) is part of the value.
 */
static const char *
comment_start(const char *s, const char *e)
{
	const char *p;

	for (p = s + 1; p < e; p++)
		if ((*p == '#' || *p == ';') && is_blank(p[-1]))
			return p;
	return e;
}

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[64], prev, tmp;

	if (lb >= 64 || la >= 64)
		return 64;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j] > row[j - 1] + 1)
				row[j] = row[j - 1] + 1;
			if (row[j] > tmp + 1)
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

/* The known key closest to an unknown one, or NULL if none is close. */
static const char *
closest_key(const char *key)
{
	size_t i, d, best = 4;
	const char *name = NULL;

	for (i = 0; i < NKEYS; i++) {
		d = edit_distance(key, keys[i].name);
		if (d < best) {
			best = d;
			name = keys[i].name;
		}
	}
	return name;
}

static int
find_key(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strlen(keys[i].name) == len &&
		    memcmp(keys[i].name, s, len) == 0)
			return (int)i;
	return -1;
}

static struct section *
find_section(const struct mc_config *cfg, enum section_type type,
    const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nsec; i++)
		if (cfg->sec[i].type == type &&
		    strcmp(cfg->sec[i].name, name) == 0)
			return &cfg->sec[i];
	return NULL;
}

/*
 * The kind of section "[account ..." or "[provider ..." starts; *p goes
 * from just after the '[' to just after the word.
 */
static int
section_type(const struct mc_config *cfg, int line, const char **p,
    const char *e, enum section_type *type, char **errmsg)
{
	const char *s = *p, *q;

	while (s < e && is_blank(*s))
		s++;
	if (e - s > 8 && strncmp(s, "account", 7) == 0 && is_blank(s[7])) {
		*type = SEC_ACCOUNT;
		*p = s + 8;
		return MC_OK;
	}
	if (e - s > 9 && strncmp(s, "provider", 8) == 0 && is_blank(s[8])) {
		*type = SEC_PROVIDER;
		*p = s + 9;
		return MC_OK;
	}
	q = memchr(s, ']', (size_t)(e - s));
	q = q != NULL ? q : e;
	trim(&s, &q);
	return mc_fail(MC_ERR_CONFIG, errmsg, "%s:%d: unknown section [%.*s]: "
	    "use [account NAME] or [provider NAME]", cfg->path, line,
	    (int)(q - s > 64 ? 64 : q - s), s);
}

/*
 * The NAME of a section header, from p (after the kind) to the end of the
 * line e: quoted or up to the ']', then only a comment may follow. Sets
 * *out to a malloc'd copy.
 */
static int
section_name(const struct mc_config *cfg, int line, const char *p,
    const char *e, char **out, char **errmsg)
{
	const char *q, *close, *why;
	char *name = NULL;
	size_t len;
	int rc;

	*out = NULL;
	while (p < e && is_blank(*p))
		p++;
	if (p < e && *p == '"') {
		name = calloc((size_t)(e - p), 1);
		if (name == NULL)
			return MC_ERR_NOMEM;
		why = unquote(p, e, name, &q);
		if (why != NULL) {
			rc = mc_fail(MC_ERR_CONFIG, errmsg,
			    "%s:%d: the section name: %s", cfg->path, line,
			    why);
			goto out;
		}
		while (q < e && is_blank(*q))
			q++;
		if (q == e || *q != ']') {
			rc = mc_fail(MC_ERR_CONFIG, errmsg,
			    "%s:%d: expected ']' after the quoted section name",
			    cfg->path, line);
			goto out;
		}
		close = q;
	} else {
		close = memchr(p, ']', (size_t)(e - p));
		q = close != NULL ? close : e;
		trim(&p, &q);
		name = strndup(p, (size_t)(q - p));
		if (name == NULL)
			return MC_ERR_NOMEM;
	}
	if (close == NULL) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: section header is missing its closing ']'",
		    cfg->path, line);
		goto out;
	}
	if (!only_comment(close + 1, e)) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: only a comment ('#' or ';') may follow the ']' of "
		    "a section header", cfg->path, line);
		goto out;
	}
	len = strlen(name);
	if (len == 0 || len > NAME_MAX_LEN || has_control(name, name + len) ||
	    memchr(name, '\t', len) != NULL) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: a section needs a name of 1 to %d printable "
		    "characters", cfg->path, line, NAME_MAX_LEN);
		goto out;
	}
	*out = name;
	name = NULL;
	rc = MC_OK;
out:
	free(name);
	return rc;
}

/*
 * Parses "[account NAME]" or "[provider NAME]" from [s, e), s on the '[',
 * and adds the section. NAME may be double-quoted; a comment may follow
 * the ']'.
 */
static int
parse_section(struct mc_config *cfg, const char *s, const char *e, int line,
    char **errmsg)
{
	const char *p = s + 1;
	enum section_type type = SEC_ACCOUNT;
	struct section *sec, *first;
	char *name = NULL;
	int rc;

	if ((rc = section_type(cfg, line, &p, e, &type, errmsg)) != MC_OK ||
	    (rc = section_name(cfg, line, p, e, &name, errmsg)) != MC_OK)
		return rc;
	first = find_section(cfg, type, name);
	if (first != NULL) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: [%s %s] is already defined at line %d", cfg->path,
		    line, type == SEC_ACCOUNT ? "account" : "provider", name,
		    first->line);
		goto out;
	}
	sec = reallocarray(cfg->sec, cfg->nsec + 1, sizeof(*sec));
	if (sec == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	cfg->sec = sec;
	sec = &cfg->sec[cfg->nsec++];
	memset(sec, 0, sizeof(*sec));
	sec->name = name;
	name = NULL;
	sec->type = type;
	sec->line = line;
	rc = MC_OK;
out:
	free(name);
	return rc;
}

/*
 * The value of a "key = value" line; s is just after the '=', e the end
 * of the line. A value that starts with '"' runs to the closing quote and
 * only blanks and a comment may follow; any other value runs to its
 * comment (a blank, then '#' or ';') or the end of the line. Blanks around
 * it are cut. Sets *out to a malloc'd copy, which may hold a secret.
 */
static int
parse_value(const struct mc_config *cfg, int line, const char *key,
    const char *s, const char *e, char **out, char **errmsg)
{
	const char *v = s, *ve, *why;
	char *val = NULL;
	int rc;

	*out = NULL;
	while (v < e && is_blank(*v))
		v++;
	if (v < e && *v == '"') {
		/* Zeroed: on error it is wiped up to its first NUL. */
		val = calloc((size_t)(e - v), 1);
		if (val == NULL)
			return MC_ERR_NOMEM;
		why = unquote(v, e, val, &ve);
		if (why != NULL) {
			rc = mc_fail(MC_ERR_CONFIG, errmsg,
			    "%s:%d: the value of '%s': %s", cfg->path, line,
			    key, why);
			goto out;
		}
		if (!only_comment(ve, e)) {
			rc = mc_fail(MC_ERR_CONFIG, errmsg,
			    "%s:%d: the value of '%s' goes on after its "
			    "closing '\"': only a comment may follow (write a "
			    "quote inside quotes as \\\")", cfg->path, line,
			    key);
			goto out;
		}
	} else {
		ve = comment_start(s, e);
		trim(&v, &ve);
		val = strndup(v, (size_t)(ve - v));
		if (val == NULL)
			return MC_ERR_NOMEM;
	}
	if (has_control(val, val + strlen(val))) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: the value of '%s' holds a control character",
		    cfg->path, line, key);
		goto out;
	}
	*out = val;
	val = NULL;
	rc = MC_OK;
out:
	mc_free_secret(val);
	return rc;
}

/* Reports an unknown key, with the closest known one as a hint. */
static int
unknown_key(const struct mc_config *cfg, int line, const char *k,
    const char *ke, char **errmsg)
{
	char *name = strndup(k, (size_t)(ke - k > 64 ? 64 : ke - k));
	const char *hint;
	int rc;

	if (name == NULL)
		return MC_ERR_NOMEM;
	hint = closest_key(name);
	if (hint != NULL)
		rc = mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: unknown key '%s' (did you mean '%s'?)", cfg->path,
		    line, name, hint);
	else
		rc = mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: unknown key '%s' (see mailcred.conf(5))", cfg->path,
		    line, name);
	free(name);
	return rc;
}

/* Parses "key = value" from [s, e) into the last section. */
static int
parse_pair(struct mc_config *cfg, const char *s, const char *e, int line,
    char **errmsg)
{
	const char *eq, *k, *ke;
	struct section *sec;
	struct kv *kv;
	char *value = NULL;
	int key, rc;
	size_t i;

	eq = memchr(s, '=', (size_t)(e - s));
	if (eq == NULL)
		return mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: expected 'key = value', a [section] or a comment",
		    cfg->path, line);
	k = s;
	ke = eq;
	trim(&k, &ke);
	key = find_key(k, (size_t)(ke - k));
	if (key < 0)
		return unknown_key(cfg, line, k, ke, errmsg);
	if (cfg->nsec == 0)
		return mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: '%s' is outside any section: put it under "
		    "[account NAME] or [provider NAME]", cfg->path, line,
		    keys[key].name);
	sec = &cfg->sec[cfg->nsec - 1];
	if (sec->type == SEC_PROVIDER && (keys[key].flags & KF_ACCOUNT_ONLY))
		return mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: '%s' belongs in an [account] section, not in "
		    "[provider %s]", cfg->path, line, keys[key].name,
		    sec->name);
	for (i = 0; i < sec->nkv; i++)
		if (sec->kv[i].key == (size_t)key)
			return mc_fail(MC_ERR_CONFIG, errmsg,
			    "%s:%d: '%s' is already set at line %d",
			    cfg->path, line, keys[key].name, sec->kv[i].line);
	if ((rc = parse_value(cfg, line, keys[key].name, eq + 1, e, &value,
	    errmsg)) != MC_OK)
		return rc;
	kv = reallocarray(sec->kv, sec->nkv + 1, sizeof(*kv));
	if (kv == NULL) {
		mc_free_secret(value);
		return MC_ERR_NOMEM;
	}
	sec->kv = kv;
	kv = &sec->kv[sec->nkv++];
	kv->value = value;
	kv->key = (size_t)key;
	kv->line = line;
	return MC_OK;
}

int
mc_config_parse(const char *path, const char *text, size_t len,
    struct mc_config **out, char **errmsg)
{
	struct mc_config *cfg = NULL;
	const char *p = text, *end = text + len, *nl, *s, *e;
	int line = 0, rc;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return MC_ERR_NOMEM;
	cfg->path = strdup(path);
	if (cfg->path == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if (len > CONFIG_MAX_SIZE) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s: larger than %d bytes: is this the right file?",
		    path, CONFIG_MAX_SIZE);
		goto out;
	}
	while (p < end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		e = nl != NULL ? nl : end;
		s = p;
		p = nl != NULL ? nl + 1 : end;
		if (memchr(s, '\0', (size_t)(e - s)) != NULL) {
			rc = mc_fail(MC_ERR_CONFIG, errmsg,
			    "%s:%d: NUL byte: is this a text file?", path,
			    line);
			goto out;
		}
		if (e - s > CONFIG_MAX_LINE) {
			rc = mc_fail(MC_ERR_CONFIG, errmsg,
			    "%s:%d: line longer than %d bytes", path, line,
			    CONFIG_MAX_LINE);
			goto out;
		}
		if (e > s && e[-1] == '\r')
			e--;
		/* A UTF-8 byte order mark at the start of the file. */
		if (line == 1 && e - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3;
		trim(&s, &e);
		if (s == e || *s == '#' || *s == ';')
			continue;
		if (*s == '[')
			rc = parse_section(cfg, s, e, line, errmsg);
		else
			rc = parse_pair(cfg, s, e, line, errmsg);
		if (rc != MC_OK)
			goto out;
	}
	*out = cfg;
	cfg = NULL;
	rc = MC_OK;
out:
	mc_config_free(cfg);
	return rc;
}

/* Does any section hold a client secret? */
static int
holds_secret(const struct mc_config *cfg)
{
	size_t i, j;

	for (i = 0; i < cfg->nsec; i++)
		for (j = 0; j < cfg->sec[i].nkv; j++)
			if (keys[cfg->sec[i].kv[j].key].flags & KF_SECRET &&
			    cfg->sec[i].kv[j].value[0] != '\0')
				return 1;
	return 0;
}

/* What a file that is not a regular file is, for messages. */
static const char *
file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a file";
}

/*
 * Opens path for reading and fills *st from the opened descriptor. The
 * open does not block (a FIFO would wait for a writer for ever); anything
 * but a regular file is refused, then reads block again as usual. A
 * symbolic link is followed: a linked configuration is normal.
 */
static int
open_config(const char *path, int *fdp, struct stat *st, char **errmsg)
{
	int fd = -1, flags, rc;

	*fdp = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			rc = mc_fail(MC_ERR_CONFIG, errmsg,
			    "no configuration file %s: create it with an "
			    "[account NAME] section (see mailcred.conf(5))",
			    path);
		else
			rc = mc_fail(MC_ERR_CONFIG, errmsg, "cannot open %s: %s",
			    path, strerror(errno));
		goto out;
	}
	if (fstat(fd, st) != 0) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg, "cannot read %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg, "%s is %s, not a regular "
		    "file: give the path of the configuration file", path,
		    file_kind(st->st_mode));
		goto out;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg, "cannot read %s: %s", path,
		    strerror(errno));
		goto out;
	}
	*fdp = fd;
	fd = -1;
	rc = MC_OK;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Reads the size bytes fstat reported (fewer if the file shrank). */
static int
read_config(int fd, const char *path, off_t size, char **bufp, size_t *lenp,
    char **errmsg)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int rc;

	*bufp = NULL;
	*lenp = 0;
	if (size > CONFIG_MAX_SIZE)
		return mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s: larger than %d bytes: is this the right file?", path,
		    CONFIG_MAX_SIZE);
	buf = malloc((size_t)size + 1);
	if (buf == NULL)
		return MC_ERR_NOMEM;
	while (len < (size_t)size) {
		n = read(fd, buf + len, (size_t)size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mc_fail(MC_ERR_CONFIG, errmsg, "cannot read %s: %s",
			    path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	rc = MC_OK;
out:
	if (buf != NULL) {
		mc_wipe(buf, len);
		free(buf);
	}
	return rc;
}

char *
mc_path_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	while (slash > path && slash[-1] == '/')
		slash--;
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int
mc_config_check_dir(const char *path, const char *dir, char **errmsg)
{
	struct stat st;

	if (stat(dir, &st) != 0)
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s: cannot check its "
		    "directory %s: %s", path, dir, strerror(errno));
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s: its directory %s "
		    "can be changed by others (mode %04o), who could replace "
		    "the configuration: chmod go-w %s", path, dir,
		    (unsigned int)(st.st_mode & 07777), dir);
	return MC_OK;
}

/*
 * The file decides where refresh tokens are sent and what on_reauth runs,
 * so, as OpenSSH's StrictModes does, it is refused unless it is owned by
 * the effective user or root and is writable by its owner alone, and
 * unless its directory (that of the path as given, and that of the file a
 * symbolic link leads to) cannot be changed by others or has the sticky
 * bit. st is the opened file's.
 */
static int
check_trust(const char *path, const struct stat *st, char **errmsg)
{
	const struct passwd *pw;
	char *dir = NULL, *real = NULL, *rdir = NULL, uid[16];
	int rc;

	if (st->st_uid != geteuid() && st->st_uid != 0) {
		pw = getpwuid(geteuid());
		/* Fits: an unsigned int has 10 digits at most, uid 16 bytes. */
		(void)snprintf(uid, sizeof(uid), "%u", (unsigned int)geteuid());
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s belongs to uid %u, not "
		    "to you or root, and could send your tokens anywhere: "
		    "chown %s %s (as root)", path, (unsigned int)st->st_uid,
		    pw != NULL ? pw->pw_name : uid, path);
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s can be changed by "
		    "others (mode %04o), who could send your tokens anywhere: "
		    "chmod go-w %s", path, (unsigned int)(st->st_mode & 07777),
		    path);
	dir = mc_path_dir(path);
	if (dir == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if ((rc = mc_config_check_dir(path, dir, errmsg)) != MC_OK)
		goto out;
	real = realpath(path, NULL);
	if (real == NULL) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg, "cannot resolve %s: %s",
		    path, strerror(errno));
		goto out;
	}
	rdir = mc_path_dir(real);
	if (rdir == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if (strcmp(rdir, dir) != 0)
		rc = mc_config_check_dir(path, rdir, errmsg);
out:
	free(dir);
	free(real);
	free(rdir);
	return rc;
}

int
mc_config_load(const char *path, struct mc_config **out, char **errmsg)
{
	struct mc_config *cfg = NULL;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, rc;

	*out = NULL;
	if ((rc = open_config(path, &fd, &st, errmsg)) != MC_OK ||
	    (rc = check_trust(path, &st, errmsg)) != MC_OK ||
	    (rc = read_config(fd, path, st.st_size, &buf, &len, errmsg)) !=
	    MC_OK ||
	    (rc = mc_config_parse(path, buf, len, &cfg, errmsg)) != MC_OK)
		goto out;
	if ((st.st_mode & (S_IRGRP | S_IROTH)) && holds_secret(cfg)) {
		rc = add_warning(cfg, "%s holds a client secret and others can "
		    "read it: chmod 600 %s", path, path);
		if (rc != MC_OK)
			goto out;
	}
	*out = cfg;
	cfg = NULL;
	rc = MC_OK;
out:
	if (fd >= 0)
		close(fd);
	if (buf != NULL) {
		mc_wipe(buf, len);
		free(buf);
	}
	mc_config_free(cfg);
	return rc;
}

void
mc_account_free(struct mc_account *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < NKEYS; i++) {
		char **f;

		if (keys[i].offset == 0)
			continue;
		f = (char **)((char *)a + keys[i].offset);
		if (keys[i].flags & KF_SECRET)
			mc_free_secret(*f);
		else
			free(*f);
	}
	free(a->name);
	free(a);
}

/* Values with their origin while layering, for messages. */
struct layer {
	const char *value[NKEYS];
	int line[NKEYS];	/* 0: not from the file */
};

static void
layer_section(struct layer *l, const struct section *sec)
{
	size_t i;

	for (i = 0; i < sec->nkv; i++) {
		l->value[sec->kv[i].key] = sec->kv[i].value;
		l->line[sec->kv[i].key] = sec->kv[i].line;
	}
}

static void
layer_preset(struct layer *l, const struct preset *p)
{
	size_t i;
	int k;

	for (i = 0; p->kv[i] != NULL; i += 2) {
		k = find_key(p->kv[i], strlen(p->kv[i]));
		if (k >= 0) {
			l->value[k] = p->kv[i + 1];
			l->line[k] = 0;
		}
	}
}

/* The index in keys[] of a key that exists. */
static size_t
key_index(const char *name)
{
	int k = find_key(name, strlen(name));

	return k >= 0 ? (size_t)k : 0;
}

/*
 * Layers what applies to [account name], weakest first: the built-in
 * preset of its provider, a [provider NAME] section of the same name, the
 * account's own keys.
 */
static int
resolve_layers(const struct mc_config *cfg, const char *name, struct layer *l,
    char **errmsg)
{
	const struct section *acct_sec, *prov_sec;
	size_t i, kp = key_index("provider");
	const char *prov;
	int known = 0;

	memset(l, 0, sizeof(*l));
	acct_sec = find_section(cfg, SEC_ACCOUNT, name);
	if (acct_sec == NULL)
		return mc_fail(MC_ERR_CONFIG, errmsg,
		    "no [account %s] in %s: add one (see mailcred.conf(5))",
		    name, cfg->path);
	layer_section(l, acct_sec);
	prov = l->value[kp];
	if (prov == NULL || *prov == '\0')
		return MC_OK;
	for (i = 0; i < NPRESETS; i++)
		if (strcmp(prov, presets[i].name) == 0) {
			layer_preset(l, &presets[i]);
			known = 1;
		}
	prov_sec = find_section(cfg, SEC_PROVIDER, prov);
	if (prov_sec != NULL)
		layer_section(l, prov_sec);
	else if (!known)
		return mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: unknown provider '%s': use google, microsoft or "
		    "define [provider %s]", cfg->path, l->line[kp], prov, prov);
	layer_section(l, acct_sec);
	return MC_OK;
}

/* A new account holding copies of the layered string values. */
static int
account_from_layers(const char *name, const struct layer *l,
    struct mc_account **out)
{
	struct mc_account *a = NULL;
	char **f;
	size_t i;
	int rc;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return MC_ERR_NOMEM;
	a->name = strdup(name);
	if (a->name == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].offset == 0 || l->value[i] == NULL)
			continue;
		f = (char **)((char *)a + keys[i].offset);
		*f = strdup(l->value[i]);
		if (*f == NULL) {
			rc = MC_ERR_NOMEM;
			goto out;
		}
	}
	if (a->user == NULL || a->user[0] == '\0') {
		free(a->user);
		a->user = strdup(name);
		if (a->user == NULL) {
			rc = MC_ERR_NOMEM;
			goto out;
		}
	}
	if (a->provider != NULL && a->provider[0] == '\0') {
		free(a->provider);
		a->provider = NULL;
	}
	*out = a;
	a = NULL;
	rc = MC_OK;
out:
	mc_account_free(a);
	return rc;
}

static int
bad_value(const struct mc_config *cfg, const struct layer *l, size_t k,
    const char *want, char **errmsg)
{
	if (l->line[k] > 0)
		return mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s:%d: %s = %s: expected %s", cfg->path, l->line[k],
		    keys[k].name, l->value[k], want);
	return mc_fail(MC_ERR_CONFIG, errmsg, "%s: %s: expected %s",
	    cfg->path, keys[k].name, want);
}

/*
 * Sets *v to the index of key's value in names[n], or to dflt when the key
 * is not set; want describes the allowed values for the message.
 */
static int
pick(const struct mc_config *cfg, const struct layer *l, const char *key,
    const char *const *names, size_t n, int dflt, const char *want, int *v,
    char **errmsg)
{
	size_t i, k = key_index(key);

	*v = dflt;
	if (l->value[k] == NULL)
		return MC_OK;
	for (i = 0; i < n; i++)
		if (strcmp(l->value[k], names[i]) == 0) {
			*v = (int)i;
			return MC_OK;
		}
	return bad_value(cfg, l, k, want, errmsg);
}

/*
 * The enumerated and numeric keys: auth, flow, store, cache, smtp_mech,
 * timeout.
 */
static int
resolve_enums(const struct mc_config *cfg, const struct layer *l,
    struct mc_account *a, char **errmsg)
{
	static const char *const store_names[] = { "keyring", "file" };
	/* The order of cache_names is enum mc_cache's. */
	static const char *const cache_names[] = { "runtime", "store", "none" };
	static const char *const mech_names[] = { "xoauth2", "oauthbearer" };
	size_t k = key_index("timeout");
	int rc, v;
	long t;
	char *end;

	if ((rc = pick(cfg, l, "auth", auth_names, 2, MC_AUTH_OAUTH2,
	    "oauth2 or password", &v, errmsg)) != MC_OK)
		return rc;
	a->auth = (enum mc_auth)v;
	/* Without a flow: device when there is a device endpoint. */
	v = a->device_authorization_endpoint != NULL &&
	    a->device_authorization_endpoint[0] != '\0' ? MC_FLOW_DEVICE :
	    MC_FLOW_BROWSER;
	if ((rc = pick(cfg, l, "flow", flow_names, 3, v,
	    "device, browser or manual", &v, errmsg)) != MC_OK)
		return rc;
	a->flow = (enum mc_flow)v;
	if ((rc = pick(cfg, l, "store", store_names, 2, STORE_KEYRING,
	    "keyring or file", &v, errmsg)) != MC_OK)
		return rc;
	a->store = (enum store_backend)v;
	if ((rc = pick(cfg, l, "cache", cache_names, 3, MC_CACHE_RUNTIME,
	    "runtime, store or none", &v, errmsg)) != MC_OK)
		return rc;
	a->cache = (enum mc_cache)v;
	/* The order of mech_names is enum mc_sasl_mech's. */
	if ((rc = pick(cfg, l, "smtp_mech", mech_names, 2, 0,
	    "xoauth2 or oauthbearer", &v, errmsg)) != MC_OK)
		return rc;
	a->smtp_mech = v;
	a->timeout = 30;
	if (l->value[k] == NULL)
		return MC_OK;
	errno = 0;
	t = strtol(l->value[k], &end, 10);
	if (errno != 0 || end == l->value[k] || *end != '\0' || t < 1 ||
	    t > 600)
		return bad_value(cfg, l, k, "seconds from 1 to 600", errmsg);
	a->timeout = (int)t;
	return MC_OK;
}

/*
 * Replaces each "{tenant}" of *s as written by tenant. The scan runs over
 * the original text only, never over what it put in, so it ends whatever
 * the tenant holds.
 */
static int
subst_tenant(char **s, const char *tenant)
{
	static const char tag[] = "{tenant}";
	const size_t taglen = sizeof(tag) - 1, tlen = strlen(tenant);
	const char *p, *q;
	char *r, *w;
	size_t n = 0;

	if (*s == NULL)
		return MC_OK;
	for (p = *s; (q = strstr(p, tag)) != NULL; p = q + taglen)
		n++;
	if (n == 0)
		return MC_OK;
	/* Both strings are shorter than CONFIG_MAX_LINE: no overflow. */
	r = malloc(strlen(*s) - n * taglen + n * tlen + 1);
	if (r == NULL)
		return MC_ERR_NOMEM;
	w = r;
	for (p = *s; (q = strstr(p, tag)) != NULL; p = q + taglen) {
		memcpy(w, p, (size_t)(q - p));
		w += q - p;
		memcpy(w, tenant, tlen);
		w += tlen;
	}
	memcpy(w, p, strlen(p) + 1);
	free(*s);
	*s = r;
	return MC_OK;
}

/*
 * A tenant is common, organizations, consumers, a tenant ID (a GUID) or a
 * domain: letters, digits, '.', '-' and '_' only, so that putting it into
 * an endpoint can neither change the URL's structure nor add a tag.
 */
static int
tenant_ok(const char *t)
{
	for (; *t != '\0'; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
		    (*t >= '0' && *t <= '9') || *t == '.' || *t == '-' ||
		    *t == '_'))
			return 0;
	return 1;
}

/* The tenant (default common), put into the endpoints. */
static int
resolve_endpoints(const struct mc_config *cfg, const struct layer *l,
    struct mc_account *a, char **errmsg)
{
	int rc;

	if (a->tenant == NULL || a->tenant[0] == '\0') {
		free(a->tenant);
		a->tenant = strdup("common");
		if (a->tenant == NULL)
			return MC_ERR_NOMEM;
	}
	if (!tenant_ok(a->tenant))
		return bad_value(cfg, l, key_index("tenant"),
		    "common, organizations, consumers, a tenant ID or a "
		    "domain (letters, digits, '.', '-', '_'; no '{' or '}')",
		    errmsg);
	if ((rc = subst_tenant(&a->device_authorization_endpoint,
	    a->tenant)) != MC_OK ||
	    (rc = subst_tenant(&a->authorization_endpoint, a->tenant)) !=
	    MC_OK ||
	    (rc = subst_tenant(&a->token_endpoint, a->tenant)) != MC_OK ||
	    (rc = subst_tenant(&a->revocation_endpoint, a->tenant)) != MC_OK)
		return rc;
	a->google = (a->provider != NULL && strcmp(a->provider, "google") ==
	    0) || (a->token_endpoint != NULL &&
	    strncmp(a->token_endpoint, "https://oauth2.googleapis.com/", 30)
	    == 0);
	return MC_OK;
}

/*
 * Each endpoint and the redirect URI that is set must be a URL fit for
 * its use (auth/url.h): the endpoints https://, or http:// to a loopback
 * host; the redirect URI http:// to a loopback host. The message names
 * the line the value came from, or the account for a built-in value.
 */
static int
check_urls(const struct mc_config *cfg, const struct layer *l,
    const struct mc_account *a, char **errmsg)
{
	static const struct {
		const char *key;
		size_t offset;
		enum mc_url_use use;
	} urls[] = {
		{ "device_authorization_endpoint", offsetof(struct mc_account,
		    device_authorization_endpoint), MC_URL_ENDPOINT },
		{ "authorization_endpoint", offsetof(struct mc_account,
		    authorization_endpoint), MC_URL_ENDPOINT },
		{ "token_endpoint", offsetof(struct mc_account, token_endpoint),
		    MC_URL_ENDPOINT },
		{ "revocation_endpoint", offsetof(struct mc_account,
		    revocation_endpoint), MC_URL_ENDPOINT },
		{ "redirect_uri", offsetof(struct mc_account, redirect_uri),
		    MC_URL_REDIRECT },
		{ "smtp", offsetof(struct mc_account, smtp), MC_URL_SMTP },
		{ "imap", offsetof(struct mc_account, imap), MC_URL_IMAP },
		{ "pop", offsetof(struct mc_account, pop), MC_URL_POP },
	};
	const char *v;
	char *what = NULL;
	size_t i, k;
	int n, rc;

	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		v = *(char *const *)((const char *)a + urls[i].offset);
		/* Quietly first: the message is built only when needed. */
		if (v == NULL || v[0] == '\0' ||
		    mc_url_check(v, urls[i].use, "", NULL) == MC_OK)
			continue;
		k = key_index(urls[i].key);
		if (l->line[k] > 0)
			n = asprintf(&what, "%s:%d: %s =", cfg->path,
			    l->line[k], urls[i].key);
		else
			n = asprintf(&what, "%s: [account %s] %s =",
			    cfg->path, a->name, urls[i].key);
		if (n < 0)
			return MC_ERR_NOMEM;
		rc = mc_url_check(v, urls[i].use, what, errmsg);
		free(what);
		return rc;
	}
	return MC_OK;
}

/* What an account needs before it can be used. */
static int
check_account(const struct mc_config *cfg, const struct mc_account *a,
    char **errmsg)
{
	if (a->auth != MC_AUTH_OAUTH2)
		return MC_OK;
	if (a->token_endpoint == NULL || a->token_endpoint[0] == '\0')
		return mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s: [account %s] has no token_endpoint: set provider = "
		    "google or microsoft, or the endpoints", cfg->path,
		    a->name);
	if (a->client_id == NULL || a->client_id[0] == '\0')
		return mc_fail(MC_ERR_CONFIG, errmsg,
		    "%s: [account %s] has no client_id: register an OAuth "
		    "client with the provider and set client_id (see "
		    "mailcred.conf(5))", cfg->path, a->name);
	return MC_OK;
}

int
mc_account_resolve(const struct mc_config *cfg, const char *name,
    struct mc_account **out, char **errmsg)
{
	struct mc_account *a = NULL;
	struct layer l;
	int rc;

	*out = NULL;
	if ((rc = resolve_layers(cfg, name, &l, errmsg)) != MC_OK ||
	    (rc = account_from_layers(name, &l, &a)) != MC_OK ||
	    (rc = resolve_enums(cfg, &l, a, errmsg)) != MC_OK ||
	    (rc = resolve_endpoints(cfg, &l, a, errmsg)) != MC_OK ||
	    (rc = check_urls(cfg, &l, a, errmsg)) != MC_OK ||
	    (rc = check_account(cfg, a, errmsg)) != MC_OK)
		goto out;
	*out = a;
	a = NULL;
out:
	mc_account_free(a);
	return rc;
}
