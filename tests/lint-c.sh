#!/bin/sh
# tests/lint-c.sh [FILE ...]: fails on a function STYLE.md bans ("No atoi,
# sprintf, strcpy, strcat, strtok"), and on the unchecked or unbounded
# siblings of those (vsprintf, stpcpy, gets, atol, atoll, atof), in every
# C file of the tree (*.c and *.h anywhere but .git and node_modules: auth/,
# keyring/, cmd/, tests/unit/, and fuzz/ or contrib/ C files when there are
# any), or in the files given.
#
# A use is the name as a whole word in code: comments, string literals and
# character literals are blanked first, so a comment or a message that
# names a function does not trip it; a struct member of that name
# (x.gets, p->atoi) does not either.  Each use is printed as
# "FILE:LINE: NAME: what to use instead", and the exit status is 1.
#
# It also fails on an snprintf or vsnprintf whose result is discarded
# (STYLE.md: "every snprintf checked for truncation"): a call that is a
# whole statement, i.e. that starts one (after ; { } : ) else do, or at
# the start of a line after a line that ends so), rather than being
# assigned, compared, returned, passed on or cast to (void).  A (void)
# cast says truncation cannot happen or does not matter; a comment next
# to it should say why.  Printed as "FILE:LINE: NAME: result discarded...".
set -u
cd "$(dirname "$0")/.." || exit 1

# shellcheck disable=SC2016  # an awk program: its $ are awk's
prog='
BEGIN {
	use["sprintf"] = "snprintf, and check its result for truncation"
	use["vsprintf"] = "vsnprintf, and check its result for truncation"
	use["strcpy"] = "snprintf(dst, size, \"%s\", src) checked for truncation, or memcpy of a known length"
	use["stpcpy"] = "snprintf(dst, size, \"%s\", src) checked for truncation, or memcpy of a known length"
	use["strcat"] = "snprintf at the end of what is there, checked for truncation, or memcpy of known lengths"
	use["strtok"] = "strcspn/strspn over the string, or strtok_r (no hidden state)"
	use["gets"] = "fgets or getline"
	use["atoi"] = "strtol with an end pointer, a range check and errno"
	use["atol"] = "strtol with an end pointer, a range check and errno"
	use["atoll"] = "strtoll with an end pointer, a range check and errno"
	use["atof"] = "strtod with an end pointer, a range check and errno"
	bad = 0
}
FNR == 1 { incomment = 0; instr = ""; prev = ";" }
{
	# Blank comments, strings and character literals (a block comment
	# may span lines, and so may a literal whose line ends in a
	# backslash: instr is then its quote).
	line = $0
	out = ""
	n = length(line)
	i = 1
	while (i <= n) {
		c = substr(line, i, 1)
		if (incomment) {
			if (c == "*" && substr(line, i + 1, 1) == "/") {
				incomment = 0
				out = out "  "
				i += 2
			} else {
				out = out " "
				i++
			}
		} else if (c == "/" && substr(line, i + 1, 1) == "*") {
			incomment = 1
			out = out "  "
			i += 2
		} else if (c == "/" && substr(line, i + 1, 1) == "/") {
			break
		} else if (instr != "" || c == "\"" || c == "\047") {
			if (instr != "") {
				q = instr
				instr = ""
			} else {
				q = c
				out = out " "
				i++
			}
			while (i <= n) {
				c = substr(line, i, 1)
				if (c == "\\") {
					if (i == n)
						instr = q
					out = out "  "
					i += 2
				} else if (c == q) {
					break
				} else {
					out = out " "
					i++
				}
			}
			out = out " "
			i++
		} else {
			out = out c
			i++
		}
	}
	# Every identifier left that is not a member name (after . or ->).
	rest = out
	head = ""	# the line up to rest
	while (match(rest, /[A-Za-z_][A-Za-z_0-9]*/)) {
		before = substr(rest, 1, RSTART - 1)
		lhead = head before	# the line up to word
		head = lhead substr(rest, RSTART, RLENGTH)
		word = substr(rest, RSTART, RLENGTH)
		rest = substr(rest, RSTART + RLENGTH)
		sub(/[ \t]+$/, "", before)
		# __builtin_strcpy and __strcpy_chk are strcpy too.
		base = word
		if (base ~ /^__builtin_/)
			base = substr(base, 11)
		else if (base ~ /^__[a-z]+_chk$/)
			base = substr(base, 3, length(base) - 6)
		if ((base in use) && before !~ /(\.|->)$/) {
			f = FILENAME
			sub(/^\.\//, "", f)
			printf "%s:%d: %s: banned (STYLE.md, Robustness); use %s\n", \
			    f, FNR, word, use[base]
			bad = 1
		}
		if ((word == "snprintf" || word == "vsnprintf") &&
		    before !~ /(\.|->)$/ && rest ~ /^[ \t]*\(/ &&
		    discarded(lhead ~ /[^ \t]/ ? lhead : prev)) {
			f = FILENAME
			sub(/^\.\//, "", f)
			printf "%s:%d: %s: result discarded (STYLE.md, " \
			    "Robustness); check it (n < 0 || (size_t)n >= " \
			    "size is truncation: an error), or cast it to " \
			    "(void) with a comment saying why it cannot be " \
			    "cut\n", f, FNR, word
			bad = 1
		}
	}
	# The end of this line, for a call at the start of the next.
	sub(/[ \t]+$/, "", out)
	if (out ~ /^[ \t]*#/)
		prev = ";"
	else if (out ~ /[^ \t]/)
		prev = out
}
# Whether code that ends with ctx, then a call, makes the call a statement.
function discarded(ctx) {
	sub(/[ \t]+$/, "", ctx)
	if (ctx ~ /\([ \t]*void[ \t]*\)$/)
		return 0
	if (ctx ~ /:$/ && ctx ~ /\?/)
		return 0	# the third operand of ?:
	return ctx == "" || ctx ~ /[;:)}{]$/ || ctx ~ /(^|[^A-Za-z_0-9])(else|do)$/
}
END { exit bad }
'
if [ $# -gt 0 ]; then
	awk "$prog" "$@"
else
	# find exits non-zero when an awk it ran did.
	find . \( -name .git -o -name node_modules \) -prune -o -type f \
	    \( -name '*.c' -o -name '*.h' \) -exec awk "$prog" {} +
fi || {
	echo "lint: banned function or unchecked snprintf in use (tests/lint-c.sh says why and what to use)" >&2
	exit 1
}
