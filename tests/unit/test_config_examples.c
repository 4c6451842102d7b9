/*
 * Unit tests: every configuration example in the documentation loads.
 *
 * Users copy the examples, so each one is parsed and each of its accounts
 * resolved: the ```ini blocks of README.md and the .Bd -literal blocks of
 * the man pages cmd/NAME.1 and cmd/NAME.5 that hold an [account line.
 * Run from the top of the source tree (make check does). The extractors
 * are tested first on text whose examples are known, so that a broken
 * extractor cannot pass by finding nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/config.h"
#include "auth/err.h"

struct example {
	char *where;		/* "FILE:LINE" of the block's first line */
	char *file;
	int line;
	char *text;
};

struct examples {
	struct example *ex;
	size_t n;
};

static void
examples_add(struct examples *e, const char *file, int line, char *text)
{
	struct example *x;

	x = realloc(e->ex, (e->n + 1) * sizeof(*x));
	assert_non_null(x);
	e->ex = x;
	x = &e->ex[e->n++];
	assert_true(asprintf(&x->where, "%s:%d", file, line) > 0);
	x->file = strdup(file);
	assert_non_null(x->file);
	x->line = line;
	x->text = text;
}

static void
examples_clear(struct examples *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->ex[i].where);
		free(e->ex[i].file);
		free(e->ex[i].text);
	}
	free(e->ex);
	e->ex = NULL;
	e->n = 0;
}

static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long size;

	if (f == NULL)
		fail_msg("cannot open %s: run the test from the top of the "
		    "source tree (make check does)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size >= 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = '\0';
	fclose(f);
	return buf;
}

/* Appends the line [s, e) and a newline to the malloc'd *text. */
static void
append(char **text, const char *s, size_t len)
{
	size_t have = *text != NULL ? strlen(*text) : 0;
	char *t = realloc(*text, have + len + 2);

	assert_non_null(t);
	memcpy(t + have, s, len);
	t[have + len] = '\n';
	t[have + len + 1] = '\0';
	*text = t;
}

/* Does the text hold a line that starts an account section? */
static int
has_account(const char *text)
{
	const char *p = text;

	for (;;) {
		p += strspn(p, " \t");
		if (strncmp(p, "[account", 8) == 0)
			return 1;
		p = strchr(p, '\n');
		if (p == NULL)
			return 0;
		p++;
	}
}

/*
 * The ```ini blocks of a Markdown text. A fenced block of another kind
 * that holds an [account line fails the test: mark it ```ini so it is
 * checked.
 */
static void
extract_markdown(const char *file, const char *doc, struct examples *e)
{
	const char *p = doc, *nl;
	char *text = NULL, info[32] = "";
	int line = 0, start = 0, in = 0;
	size_t len;

	for (; *p != '\0'; p = nl != NULL ? nl + 1 : p + len) {
		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		line++;
		if (len >= 3 && strncmp(p, "```", 3) == 0) {
			if (!in) {
				in = 1;
				start = line + 1;
				assert_true(snprintf(info, sizeof(info), "%.*s",
				    (int)(len - 3), p + 3) < (int)sizeof(info));
				text = strdup("");
				assert_non_null(text);
				continue;
			}
			in = 0;
			if (strcmp(info, "ini") == 0) {
				examples_add(e, file, start, text);
			} else {
				if (has_account(text))
					fail_msg("%s:%d: a configuration "
					    "example in a ```%s block: mark it "
					    "```ini so that it is tested", file,
					    start - 1, info);
				free(text);
			}
			text = NULL;
			continue;
		}
		if (in)
			append(&text, p, len);
	}
	if (in)
		fail_msg("%s:%d: a ``` block is not closed", file, start - 1);
}

/* The text of a line of a literal mdoc block, with roff escapes undone. */
static void
append_roff(char **text, const char *file, int line, const char *s,
    size_t len)
{
	static const struct {
		const char *esc, *text;
	} esc[] = {
		{ "\\e", "\\" }, { "\\\\", "\\" }, { "\\&", "" },
		{ "\\-", "-" }, { "\\(dq", "\"" }, { "\\(aq", "'" },
	};
	char *out = malloc(len + 1);
	size_t i, o = 0, j;

	assert_non_null(out);
	for (i = 0; i < len; i++) {
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		for (j = 0; j < sizeof(esc) / sizeof(esc[0]); j++)
			if (i + strlen(esc[j].esc) <= len &&
			    strncmp(s + i, esc[j].esc, strlen(esc[j].esc)) == 0)
				break;
		if (j == sizeof(esc) / sizeof(esc[0]))
			fail_msg("%s:%d: a roff escape this test does not "
			    "know: teach it append_roff()", file, line);
		memcpy(out + o, esc[j].text, strlen(esc[j].text));
		o += strlen(esc[j].text);
		i += strlen(esc[j].esc) - 1;
	}
	append(text, out, o);
	free(out);
}

/* The .Bd -literal blocks of an mdoc text that hold an [account line. */
static void
extract_mdoc(const char *file, const char *doc, struct examples *e)
{
	const char *p = doc, *nl;
	char *text = NULL;
	int line = 0, start = 0, in = 0;
	size_t len;

	for (; *p != '\0'; p = nl != NULL ? nl + 1 : p + len) {
		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		line++;
		if (!in && len > 4 && strncmp(p, ".Bd ", 4) == 0 &&
		    strstr(p, "-literal") != NULL &&
		    strstr(p, "-literal") < p + len) {
			in = 1;
			start = line + 1;
			text = strdup("");
			assert_non_null(text);
			continue;
		}
		if (!in)
			continue;
		if (len >= 3 && strncmp(p, ".Ed", 3) == 0) {
			in = 0;
			if (has_account(text))
				examples_add(e, file, start, text);
			else
				free(text);
			text = NULL;
			continue;
		}
		if (len > 0 && (*p == '.' || *p == '\''))
			fail_msg("%s:%d: a roff request inside a literal "
			    "block: this test cannot read it", file, line);
		append_roff(&text, file, line, p, len);
	}
	if (in)
		fail_msg("%s:%d: a .Bd block is not closed", file, start - 1);
}

/*
 * Parses an example and resolves each of its accounts. The text is put
 * after as many empty lines as precede it in its file, so that messages
 * name the file's own line.
 */
static void
check_example(const struct example *x)
{
	struct mc_config *cfg = NULL;
	struct mc_account *a;
	char *msg = NULL, *text;
	size_t i, n, pad = (size_t)x->line - 1;

	text = malloc(pad + strlen(x->text) + 1);
	assert_non_null(text);
	memset(text, '\n', pad);
	memcpy(text + pad, x->text, strlen(x->text) + 1);
	if (mc_config_parse(x->file, text, strlen(text), &cfg, &msg) != MC_OK)
		fail_msg("the example at %s does not parse: %s", x->where, msg);
	free(text);
	n = mc_config_naccounts(cfg);
	if (n == 0)
		fail_msg("the example at %s has no account", x->where);
	for (i = 0; i < n; i++) {
		a = NULL;
		if (mc_account_resolve(cfg, mc_config_account_name(cfg, i), &a,
		    &msg) != MC_OK)
			fail_msg("the example at %s: [account %s] does not "
			    "resolve: %s", x->where,
			    mc_config_account_name(cfg, i), msg);
		mc_account_free(a);
	}
	mc_config_free(cfg);
}

/* The extractors find exactly the examples of a known text. */
static void
test_extractors(void **state)
{
	static const char md[] =
	    "# t\n```sh\nmailcred token a\n```\n"
	    "```ini\n[account a]   # c\nauth = password\n```\n"
	    "text\n```ini\n[provider p]\n```\n";
	static const char mdoc[] =
	    ".Sh EXAMPLES\n.Bd -literal\naccount work\nhost h\n.Ed\n"
	    ".Bd -literal -offset indent\n[account a]\n"
	    "on_reauth = \"say \\e\"hi\\e\" \\(dqx\\(dq\\&\"\n.Ed\n";
	struct examples e = { NULL, 0 };

	(void)state;
	extract_markdown("t.md", md, &e);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.ex[0].where, "t.md:6");
	assert_string_equal(e.ex[0].text, "[account a]   # c\nauth = password\n");
	assert_string_equal(e.ex[1].text, "[provider p]\n");
	examples_clear(&e);
	extract_mdoc("t.5", mdoc, &e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.ex[0].where, "t.5:7");
	assert_string_equal(e.ex[0].text, "[account a]\n"
	    "on_reauth = \"say \\\"hi\\\" \"x\"\"\n");
	examples_clear(&e);
}

/* Every example of README.md and the man pages loads. */
static void
test_documented_examples(void **state)
{
	struct examples e = { NULL, 0 };
	size_t i, readme, conf5 = 0;
	glob_t g;
	char *doc;

	(void)state;
	doc = read_text("README.md");
	extract_markdown("README.md", doc, &e);
	free(doc);
	readme = e.n;
	assert_int_equal(glob("cmd/*.1", 0, NULL, &g), 0);
	assert_int_equal(glob("cmd/*.5", GLOB_APPEND, NULL, &g), 0);
	for (i = 0; i < g.gl_pathc; i++) {
		size_t before = e.n;

		doc = read_text(g.gl_pathv[i]);
		extract_mdoc(g.gl_pathv[i], doc, &e);
		free(doc);
		if (strcmp(g.gl_pathv[i], "cmd/mailcred.conf.5") == 0)
			conf5 = e.n - before;
	}
	globfree(&g);
	if (readme == 0)
		fail_msg("no ```ini example found in README.md");
	if (conf5 == 0)
		fail_msg("no example found in cmd/mailcred.conf.5");
	for (i = 0; i < e.n; i++)
		check_example(&e.ex[i]);
	print_message("checked %zu examples (%zu in README.md)\n", e.n, readme);
	examples_clear(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extractors),
		cmocka_unit_test(test_documented_examples),
	};

	return cmocka_run_group_tests_name("config_examples", tests, NULL,
	    NULL);
}
