#!/bin/sh
# tests/lint-sh.sh [--list | FILE ...]: runs shellcheck on every shell
# script of the tree, or on the files given, and fails on any finding (all
# severities, style included).  --list only prints the scripts it finds.
#
# A shell script is found by what it is, not only by its name: a file
# whose first line is a #! of sh, bash, dash or ksh (directly or through
# env), a *.sh or *.bash file, or a file with a "# shellcheck shell=..."
# directive on its first line (a sourced library without a #!, such as
# tests/lib.sh or contrib/completion/mailcred.bash).  .git and node_modules
# are skipped.  zsh files (contrib/completion/_mailcred) are not checked:
# ShellCheck does not read zsh.
#
# Settings are in .shellcheckrc at the top of the tree: sourced files are
# followed, found relative to the sourcing script's directory.  A finding
# is fixed, not hidden; a false positive is disabled on its line with
# "# shellcheck disable=SCnnnn  # why", never for the whole tree without a
# written reason in .shellcheckrc.
set -u
cd "$(dirname "$0")/.." || exit 1

list_only=0
if [ "${1:-}" = --list ]; then
	list_only=1
	shift
fi
if [ "$list_only" = 0 ] && ! command -v shellcheck >/dev/null 2>&1; then
	echo "lint: shellcheck is not installed; run: sh tests/deps.sh" >&2
	exit 1
fi

list=$(mktemp "${TMPDIR:-/tmp}/lint-sh.XXXXXX") || exit 1
trap 'rm -f "$list"' EXIT

if [ $# -gt 0 ]; then
	printf '%s\n' "$@" >"$list"
else
	find . \( -name .git -o -name node_modules \) -prune -o -type f -print |
	    sed 's|^\./||' | sort | while IFS= read -r f; do
		case $f in
		*.sh | *.bash)
			echo "$f"
			continue
			;;
		esac
		first=
		IFS= read -r first <"$f" 2>/dev/null
		case $first in
		'#!'*)
			# The interpreter: the #! path's last part, or env's argument.
			# shellcheck disable=SC2086  # split the #! line into words
			set -- ${first#??}
			[ "${1##*/}" = env ] && [ $# -gt 1 ] && shift
			case ${1##*/} in
			sh | bash | dash | ksh) echo "$f" ;;
			esac
			;;
		'# shellcheck '*shell=*) echo "$f" ;;
		esac
	done >"$list"
fi
if [ "$list_only" = 1 ]; then
	cat "$list"
	exit 0
fi

# Each script is checked on its own, with what it sources, which costs
# about a second of CPU for a test (most of it tests/lib.sh), so a clean
# result is remembered in .lint-cache/ under a hash of what decides it:
# ShellCheck's version, .shellcheckrc, the script's path and text, and
# every library a script may source (the scripts without a #!).  Only what
# changed is checked again; the rest is shared among the processors, and
# xargs fails if any shellcheck did.
cache=.lint-cache
mkdir -p "$cache" || exit 1
: >"$cache/.mark"
libsum=$({
	shellcheck --version
	cat .shellcheckrc 2>/dev/null
	while IFS= read -r f; do
		first=
		IFS= read -r first <"$f" 2>/dev/null
		case $first in
		'#!'*) ;;
		*) printf '%s\n' "$f" && cat "$f" ;;
		esac
	done <"$list"
} | sha256sum) || exit 1
todo=$list.todo
while IFS= read -r f; do
	key=$({ printf '%s\n%s\n' "$libsum" "$f" && cat "$f"; } | sha256sum)
	key=${key%% *}
	if [ -e "$cache/$key" ]; then
		touch "$cache/$key"
	else
		printf '%s\0%s\0' "$f" "$cache/$key"
	fi
done <"$list" >"$todo"
trap 'rm -f "$list" "$todo"' EXIT
n=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
# shellcheck disable=SC2016  # $1 and $2 are the inner sh's
if ! xargs -0 -r -n 2 -P "$n" sh -c 'shellcheck -f gcc "$1" && : >"$2"' sh <"$todo"; then
	echo "lint: shellcheck found problems in the scripts above (see tests/lint-sh.sh)" >&2
	exit 1
fi
# What no script of the tree needs any more.
find "$cache" -type f ! -name .mark ! -newer "$cache/.mark" -delete
