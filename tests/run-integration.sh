#!/usr/bin/env bash
# tests/run-integration.sh [tests/integration/t-NAME.sh ...]
#
# Runs the integration tests (every tests/integration/t-*.sh, or the ones
# given), each under a time limit (TEST_TIMEOUT seconds, default 600),
# shows each script's output once it has ended, with how long it took, and
# ends with exactly one line "N passed, N failed" summing each script's own
# final summary line.  A script that exits non-zero without that line
# (crash, timeout) counts as one failure; so does one whose line says 0
# failed while it exits non-zero.  Exit status is non-zero if anything
# failed.
#
# TEST_JOBS scripts run at once (default: twice the CPUs, at most 4: the
# scripts spend much of their time waiting on deadlines and servers; a CI
# run with two at a time kept 2 CPUs only half busy).
# Each script already has its own bus, keyring, servers, HOME and XDG
# directories (tests/lib.sh); the one thing scripts would share is the
# keyring accounts' lock and journal directory, ~/.local/state/mailcred
# under the home of the password database, which mailcred finds without
# looking at the environment.  So, as root where unshare(1) can make a
# mount namespace, each script runs in one of its own with an empty
# private directory mounted there; elsewhere scripts run one at a time.
set -u
cd "$(dirname "$0")/.." || exit 1

LIMIT=${TEST_TIMEOUT:-600}

# make check SANITIZE=1 sets MC_SANITIZER_LOGS: ASan and LeakSanitizer
# then write their reports there, in a directory per script (tests capture
# mailcred's stderr, so a report on stderr would go unseen), and a script
# during which any report was written fails, with the reports shown,
# whatever it asserted. (GCC's UBSan, a runtime of its own beside ASan's,
# ignores log_path: its reports stay on the command's stderr, and
# abort_on_error makes the command die of SIGABRT, status 134, which no
# test expects.)
san_logs=${MC_SANITIZER_LOGS:-}
if [ -n "$san_logs" ]; then
	# Reports left by an interrupted run are not this run's.
	rm -rf "$san_logs"
	mkdir -p "$san_logs" && chmod 1777 "$san_logs" || exit 1
fi
asan_base=${ASAN_OPTIONS:-}

# Sanitized, what runs no code of ours is left out: t-peers tests the test
# servers, t-lint the lint scripts.
san_skip=" t-peers.sh t-lint.sh "
if [ $# -gt 0 ]; then
	scripts=("$@")
else
	# The longest first, so that the slots end together.
	scripts=()
	for s in t-crash t-send-fail t-hostile-oauth t-keyring-fail t-doctor \
	    t-token-cache t-send; do
		[ -f "tests/integration/$s.sh" ] && scripts+=("tests/integration/$s.sh")
	done
	for s in tests/integration/t-*.sh; do
		case " ${scripts[*]} " in
		*" $s "*) continue ;;
		esac
		if [ -n "$san_logs" ] && [[ $san_skip == *" ${s##*/} "* ]]; then
			echo "# ${s##*/}: not run with the sanitizers (no code of ours runs in it)"
			continue
		fi
		scripts+=("$s")
	done
fi

# The keyring accounts' state directory, as keyring/paths.c names it.
pw_home=$(getent passwd "$(id -u)" | cut -d: -f6)
state_dir=${pw_home%/}/.local/state/mailcred
isolate=0
if [ "$(id -u)" -eq 0 ] && [ -n "$pw_home" ] &&
    unshare -m true 2>/dev/null; then
	isolate=1
fi
jobs=${TEST_JOBS:-}
if [ -z "$jobs" ]; then
	jobs=$((2 * $(nproc 2>/dev/null || echo 1)))
	[ "$jobs" -le 4 ] || jobs=4
fi
case $jobs in
'' | *[!0-9]* | 0) echo "run-integration: TEST_JOBS must be a positive number" >&2; exit 64 ;;
esac
if [ "$jobs" -gt 1 ] && [ "$isolate" -eq 0 ]; then
	echo "# scripts run one at a time: no private mount namespace here (root and unshare(1) are needed), and scripts run together would share $state_dir"
	jobs=1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/run-integration.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# run_one N SCRIPT: runs it into $work/N/ (out, rc, secs).
run_one() {
	local n=$1 s=$2 dir=$work/$1 t0 rc
	mkdir -p "$dir"
	t0=$(date +%s)
	if [ -n "$san_logs" ]; then
		mkdir -p "$san_logs/$n" && chmod 1777 "$san_logs/$n"
		export ASAN_OPTIONS="${asan_base:+$asan_base:}log_path=$san_logs/$n/report"
	fi
	# timeout signals the script's whole process group, so the peers it
	# started stop too; --kill-after for anything that ignores TERM.
	if [ "$isolate" -eq 1 ]; then
		mkdir -m 700 "$dir/state"
		# shellcheck disable=SC2016  # expanded by the inner sh
		timeout --kill-after=10 "$LIMIT" unshare -m sh -c \
		    'mkdir -p -m 700 "$2" && mount --bind "$1" "$2" && shift 2 && exec bash "$@"' \
		    sh "$dir/state" "$state_dir" "$s" >"$dir/out" 2>&1
	else
		timeout --kill-after=10 "$LIMIT" bash "$s" >"$dir/out" 2>&1
	fi
	rc=$?
	echo $(($(date +%s) - t0)) >"$dir/secs"
	echo "$rc" >"$dir/rc"
}

passed=0
failed=0

# san_reports N SCRIPT: shows and counts the reports written while it ran.
san_reports() {
	local f n=0
	[ -n "$san_logs" ] || return 0
	for f in "$san_logs/$1"/report.*; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		echo "# sanitizer report ${f##*/}:"
		sed 's/^/#   /' "$f"
		rm -f "$f"
	done
	[ "$n" -eq 0 ] && return 0
	echo "not ok - $2: $n sanitizer report(s)"
	failed=$((failed + 1))
}

# collect N SCRIPT: shows a finished script's output and adds up its line.
collect() {
	local n=$1 s=$2 dir=$work/$1 rc last p f
	rc=$(cat "$dir/rc")
	echo "== integration: $s ($(cat "$dir/secs") s)"
	cat "$dir/out"
	san_reports "$n" "$s"
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$dir/out" | tail -n 1)
	if [ -z "$last" ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "not ok - $s timed out after ${LIMIT}s"
		else
			echo "not ok - $s ended without a summary (exit $rc)"
		fi
		failed=$((failed + 1))
		return
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
}

declare -A running=()	# PID -> index
next=0
done_count=0
while [ "$done_count" -lt "${#scripts[@]}" ]; do
	while [ "${#running[@]}" -lt "$jobs" ] && [ "$next" -lt "${#scripts[@]}" ]; do
		s=${scripts[$next]}
		if [ ! -f "$s" ]; then
			echo "not ok - $s: no such test script"
			failed=$((failed + 1))
			done_count=$((done_count + 1))
			next=$((next + 1))
			continue
		fi
		run_one "$next" "$s" &
		running[$!]=$next
		next=$((next + 1))
	done
	[ "${#running[@]}" -gt 0 ] || continue
	wait -n
	for pid in "${!running[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null
			i=${running[$pid]}
			unset 'running[$pid]'
			collect "$i" "${scripts[$i]}"
			done_count=$((done_count + 1))
		fi
	done
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
