#!/usr/bin/env bash
# make lint's two checks (tests/lint-c.sh, tests/lint-sh.sh), run on small
# trees of their own in $T: what they find, what they leave alone, and
# what they print.  (make check runs them on the real tree before this.)
. "$(dirname "$0")/../lib.sh"

stack_init

# tree DIR: a tree with the two lint scripts and .shellcheckrc, nothing else.
tree() {
	mkdir -p "$1/tests"
	cp "$TOP/tests/lint-c.sh" "$TOP/tests/lint-sh.sh" "$1/tests/"
	cp "$TOP/.shellcheckrc" "$1/"
}

# --- lint-c.sh: the banned functions
C=$T/c
tree "$C"
mkdir -p "$C/fuzz" "$C/tests/node_modules/x" "$C/contrib"
cat >"$C/fuzz/fuzz_x.c" <<'EOF'
/* sprintf() in a comment,
   strcpy(a, b) in one that goes on */
// atoi(x) after two slashes
static const char *m = "strcat( in a string \" strtok(";
char q = '"'; int x = atoi(s);
p->gets(1); s.atoi = 2; y = strtok_r(a, " ", &c); z = my_atoi(3);
n = sprintf (buf, "%d", 1);
w = (atof)(v); char d = '\''; strcat(a, b);
strcpy(a, b); stpcpy(a, b); vsprintf(a, f, ap); strtok(a, ",");
gets(a); atol(a); atoll(a);
EOF
printf 'int f(void) { return atoi("1"); }\n' >"$C/tests/node_modules/x/x.c"
printf '#define F(x) sprintf(x)\n' >"$C/contrib/x.h"
out=$(sh "$C/tests/lint-c.sh" 2>"$T/err")
assert_status $? 1 "lint-c.sh fails on a banned function"
assert_eq "$(cat "$T/err")" "lint: banned function or unchecked snprintf in use (tests/lint-c.sh says why and what to use)" \
	"one line on stderr says so"
assert_eq "$(printf '%s\n' "$out" | cut -d: -f1-3 | sort)" "$(sort <<'EOF'
contrib/x.h:1: sprintf
fuzz/fuzz_x.c:5: atoi
fuzz/fuzz_x.c:7: sprintf
fuzz/fuzz_x.c:8: atof
fuzz/fuzz_x.c:8: strcat
fuzz/fuzz_x.c:9: strcpy
fuzz/fuzz_x.c:9: stpcpy
fuzz/fuzz_x.c:9: vsprintf
fuzz/fuzz_x.c:9: strtok
fuzz/fuzz_x.c:10: gets
fuzz/fuzz_x.c:10: atol
fuzz/fuzz_x.c:10: atoll
EOF
)" "every call in code, in any C file of the tree; none in comments, strings, members, strtok_r, my_atoi or node_modules"
assert_eq "$(grep '^fuzz/fuzz_x.c:7:' <<<"$out")" \
	"fuzz/fuzz_x.c:7: sprintf: banned (STYLE.md, Robustness); use snprintf, and check its result for truncation" \
	"FILE:LINE: NAME and what to use instead"
assert_eq "$(grep '^fuzz/fuzz_x.c:5:' <<<"$out")" \
	"fuzz/fuzz_x.c:5: atoi: banned (STYLE.md, Robustness); use strtol with an end pointer, a range check and errno" \
	"atoi: strtol with its checks"
rm "$C/fuzz/fuzz_x.c" "$C/contrib/x.h"
out=$(sh "$C/tests/lint-c.sh" 2>&1)
assert_status $? 0 "lint-c.sh passes a tree without them"
assert_eq "$out" "" "and says nothing"
# A literal continued with a backslash, and the compiler's own names.
cat >"$C/fuzz/fuzz_y.c" <<'EOF'
static const char *s = "abc\
def"; void f(char *a, char *b) { strcpy(a, b); }
static const char *t = "strcpy(\
strcat(";
void g(char *a) { __builtin_strcpy(a, "x"); __strcat_chk(a, "y", 3); }
EOF
out=$(sh "$C/tests/lint-c.sh" 2>/dev/null)
assert_eq "$(printf '%s\n' "$out" | cut -d: -f1-3)" "fuzz/fuzz_y.c:2: strcpy
fuzz/fuzz_y.c:5: __builtin_strcpy
fuzz/fuzz_y.c:5: __strcat_chk" "a call after a continued literal, none inside one; __builtin_ and _chk names"
rm "$C/fuzz/fuzz_y.c"

# --- lint-c.sh: an snprintf or vsnprintf whose result is discarded
mkdir -p "$C/auth"
cat >"$C/auth/x.c" <<'EOF'
int
f(char *b, size_t z, va_list ap)
{
	int n;
	snprintf(b, z, "%d", 1);
	if (z > 3)
		vsnprintf(b, z, "%s", ap);
	else snprintf(b, z, "x");
	{ snprintf (b, z, "y"); }
out:	snprintf(b, z, "z");
	n = snprintf(b, z, "%d", 2);
	if (snprintf(b, z, "%d", 3) >= (int)z)
		return -1;
	if (n < 0 ||
	    snprintf(b, z, "%d", 4) < 0)
		return -1;
	n = z > 0 ? 1 : snprintf(b, z, "w");
	(void)snprintf(b, z, "%d", 5);	/* fits */
	( void ) vsnprintf(b, z, "%s", ap);
	n =
	    snprintf(b, z, "%d", 6);
	assert_true(snprintf(b, z, "%d", 7) < (int)z);
	/* snprintf(b, z, "in a comment"); */
	s->snprintf(b); p.vsnprintf(b);
	puts("snprintf(b, z, \"in a string\");");
	int (*fp)() = snprintf;
	return snprintf(b, z, "%d", 8);
}
EOF
out=$(sh "$C/tests/lint-c.sh" 2>"$T/err")
assert_status $? 1 "lint-c.sh fails on an snprintf whose result is discarded"
assert_eq "$(printf '%s\n' "$out" | cut -d: -f1-3)" "auth/x.c:5: snprintf
auth/x.c:7: vsnprintf
auth/x.c:8: snprintf
auth/x.c:9: snprintf
auth/x.c:10: snprintf" \
	"a whole statement (also after if, else, { and a label); not assigned, compared, returned, passed on, (void)-cast, in a comment, a string or a member"
assert_eq "$(sed -n 1p <<<"$out")" \
	"auth/x.c:5: snprintf: result discarded (STYLE.md, Robustness); check it (n < 0 || (size_t)n >= size is truncation: an error), or cast it to (void) with a comment saying why it cannot be cut" \
	"FILE:LINE: NAME and what to do"
assert_eq "$(cat "$T/err")" "lint: banned function or unchecked snprintf in use (tests/lint-c.sh says why and what to use)" \
	"one line on stderr says so"
rm "$C/auth/x.c"
out=$(sh "$C/tests/lint-c.sh" 2>&1)
assert_status $? 0 "lint-c.sh passes the tree again"

# --- lint-sh.sh: which files are shell scripts
S=$T/s
tree "$S"
mkdir -p "$S/bin" "$S/tests/node_modules/m" "$S/contrib"
printf '#!/bin/sh\necho a\n' >"$S/bin/noext"
printf '#!/usr/bin/env bash\necho b\n' >"$S/bin/envbash"
printf '#! /bin/dash -e\necho c\n' >"$S/bin/dash"
printf '# shellcheck shell=bash\nexport libvar=1\n' >"$S/tests/lib"
printf 'echo d\n' >"$S/contrib/comp.bash"
printf '#!/usr/bin/env -S bash -e\necho e\n' >"$S/tests/x.sh"	# by its name
printf '#!/usr/bin/perl\nprint "f";\n' >"$S/bin/perl"
printf '#!/bin/zsh\necho g\n' >"$S/bin/zsh"
printf '#compdef x\n_x() { }\n' >"$S/contrib/_x"
printf 'echo h\n' >"$S/tests/node_modules/m/m.sh"
out=$(sh "$S/tests/lint-sh.sh" --list)
assert_status $? 0 "lint-sh.sh --list"
assert_eq "$(printf '%s\n' "$out" | grep -v '^tests/lint-')" "bin/dash
bin/envbash
bin/noext
contrib/comp.bash
tests/lib
tests/x.sh" "scripts by #! (sh, bash through env, dash), *.sh, *.bash and a shell= directive; not perl, zsh or node_modules"

# --- lint-sh.sh: findings, and the cache
rm -f "$S/bin/perl" "$S/bin/zsh" "$S/contrib/_x"
# shellcheck disable=SC2016  # the fixture's own $
printf '#!/bin/sh\nrm $1\n' >"$S/bin/noext"
out=$(sh "$S/tests/lint-sh.sh" 2>"$T/err")
assert_status $? 1 "lint-sh.sh fails on a finding"
assert_eq "$out" "bin/noext:2:4: note: Double quote to prevent globbing and word splitting. [SC2086]" \
	"FILE:LINE:COL and the shellcheck code, nothing for the clean scripts"
assert_eq "$(cat "$T/err")" "lint: shellcheck found problems in the scripts above (see tests/lint-sh.sh)" \
	"one line on stderr says so"
# shellcheck disable=SC2016  # the fixture's own $
printf '#!/bin/sh\nrm -- "$1"\n' >"$S/bin/noext"
out=$(sh "$S/tests/lint-sh.sh" 2>&1)
assert_status $? 0 "lint-sh.sh passes once it is fixed"
assert_eq "$out" "" "and says nothing"
# A script that uses what a library sets: clean, and remembered so...
# shellcheck disable=SC2016  # the fixture's own $
printf '#!/bin/bash\n. "$(dirname "$0")/../tests/lib"\necho "$libvar"\n' >"$S/bin/user"
out=$(sh "$S/tests/lint-sh.sh" 2>&1)
assert_status $? 0 "a script using a variable its library sets is clean (sources are followed)"
assert_eq "$(find "$S/.lint-cache" -type f ! -name .mark | wc -l)" 9 \
	"each clean script is remembered (9 of them)"
# A shellcheck that notes which files it is asked to check.
mkdir -p "$T/bin"
cat >"$T/bin/shellcheck" <<EOF
#!/bin/sh
[ "\$1" = --version ] || printf '%s\n' "\$*" >>"$T/sc.calls"
exec $(command -v shellcheck) "\$@"
EOF
chmod +x "$T/bin/shellcheck"
: >"$T/sc.calls"
out=$(PATH=$T/bin:$PATH sh "$S/tests/lint-sh.sh" 2>&1)
assert_status $? 0 "lint-sh.sh again, nothing changed"
assert_eq "$(cat "$T/sc.calls")" "" "no script is checked again"
printf '#!/bin/sh\necho a2\n' >"$S/bin/noext"
out=$(PATH=$T/bin:$PATH sh "$S/tests/lint-sh.sh" 2>&1)
assert_status $? 0 "lint-sh.sh after one script changed"
assert_eq "$(cat "$T/sc.calls")" "-f gcc bin/noext" "only that script is checked again"
# ...but a change to the library is seen in the unchanged script.
printf '# shellcheck shell=bash\nexport otherlibvar=1\n' >"$S/tests/lib"
out=$(sh "$S/tests/lint-sh.sh" 2>/dev/null)
assert_status $? 1 "the library no longer sets it: lint-sh.sh fails"
assert_eq "$out" "bin/user:3:7: warning: libvar is referenced but not assigned. [SC2154]" \
	"on the script that uses it, though only the library changed"

finish
