#!/usr/bin/env bash
# tests/run-integration.sh [tests/integration/t-NAME.sh ...]
#
# Runs the integration tests (every tests/integration/t-*.sh, or the ones
# given), each under a time limit (TEST_TIMEOUT seconds, default 300),
# shows their output, and ends with exactly one line "N passed, N failed"
# summing each script's own final summary line.  A script that exits
# non-zero without that line (crash, timeout) counts as one failure; so does
# one whose line says 0 failed while it exits non-zero.  Exit status is
# non-zero if anything failed.
set -u
cd "$(dirname "$0")/.." || exit 1

LIMIT=${TEST_TIMEOUT:-300}

# make check SANITIZE=1 sets MC_SANITIZER_LOGS: ASan and LeakSanitizer
# then write their reports there (tests capture mailcred's stderr, so a
# report on stderr would go unseen), and a script during which any report
# was written fails, with the reports shown, whatever it asserted. (GCC's
# UBSan, a runtime of its own beside ASan's, ignores log_path: its reports
# stay on the command's stderr, and abort_on_error makes the command die
# of SIGABRT, status 134, which no test expects.)
san_logs=${MC_SANITIZER_LOGS:-}
if [ -n "$san_logs" ]; then
	mkdir -p "$san_logs" && chmod 1777 "$san_logs" || exit 1
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$san_logs/report"
fi
# san_reports SCRIPT: shows and counts the reports written while SCRIPT ran.
san_reports() {
	local f n=0
	[ -n "$san_logs" ] || return 0
	for f in "$san_logs"/report.*; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		echo "# sanitizer report ${f##*/}:"
		sed 's/^/#   /' "$f"
		rm -f "$f"
	done
	[ "$n" -eq 0 ] && return 0
	echo "not ok - $1: $n sanitizer report(s)"
	failed=$((failed + 1))
}
if [ $# -gt 0 ]; then
	scripts=("$@")
else
	scripts=(tests/integration/t-*.sh)
fi

passed=0
failed=0
out=$(mktemp "${TMPDIR:-/tmp}/run-integration.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT

for s in "${scripts[@]}"; do
	echo "== integration: $s"
	if [ ! -f "$s" ]; then
		echo "not ok - $s: no such test script"
		failed=$((failed + 1))
		continue
	fi
	# timeout signals the script's whole process group, so the peers it
	# started stop too; --kill-after for anything that ignores TERM.
	[ -z "$san_logs" ] || rm -f "$san_logs"/report.*
	timeout --kill-after=10 "$LIMIT" bash "$s" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	san_reports "$s"
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$last" ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "not ok - $s timed out after ${LIMIT}s"
		else
			echo "not ok - $s ended without a summary (exit $rc)"
		fi
		failed=$((failed + 1))
		continue
	fi
	p=${last%% passed*}
	f=${last#*passed, }
	f=${f%% failed*}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $s exited $rc"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
