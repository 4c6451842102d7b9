#!/bin/sh
# fuzz/run.sh - runs the libFuzzer targets built in fuzz/build/ (make fuzz).
#
#   sh fuzz/run.sh TARGET...     e.g. fuzz_config fuzz_token
#
# Each target runs for FUZZ_SECS seconds (default 60), or for FUZZ_RUNS
# inputs when that is set (then FUZZ_MAX_SECS, when set, caps its time),
# FUZZ_JOBS at a time (default 2), from its seed
# corpus fuzz/corpus/NAME/ (read only) and the scratch corpus
# fuzz/build/corpus/NAME/ (where new inputs go; kept between runs), with
# its dictionary fuzz/dict/NAME.dict when there is one and the -max_len
# below. A crash, a leak, a sanitizer report or an input that runs longer
# than FUZZ_TIMEOUT seconds (default 25) fails the target: its input is
# written to fuzz/artifacts/ and its log kept in fuzz/build/log/NAME.log.
# One line per target: executions, exec/s, coverage (cov, ft), time,
# result. Exits 1 when any target failed.
set -u
cd "$(dirname "$0")/.." || exit 1

secs=${FUZZ_SECS:-60}
runs=${FUZZ_RUNS:-}
jobs=${FUZZ_JOBS:-2}
tmo=${FUZZ_TIMEOUT:-25}

# The longest input worth trying for each parser (bytes).
max_len() {
	case $1 in
	config|message|listener) echo 8192 ;;
	token|tcache|gitcred|ssbus) echo 4096 ;;
	redirect|addresses|mx) echo 2048 ;;
	sasl) echo 1024 ;;
	url) echo 512 ;;
	*) echo 4096 ;;
	esac
}

# Runs one target (its name without fuzz_) and prints its line.
one() {
	name=$1
	bin=fuzz/build/fuzz_$name
	log=fuzz/build/log/$name.log
	mkdir -p "fuzz/build/corpus/$name" fuzz/build/log fuzz/artifacts
	set -- -max_len="$(max_len "$name")" -timeout="$tmo" \
	    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$name-"
	if [ -n "$runs" ]; then
		set -- "$@" -runs="$runs"
		[ -n "${FUZZ_MAX_SECS:-}" ] &&
		    set -- "$@" -max_total_time="$FUZZ_MAX_SECS"
	else
		set -- "$@" -max_total_time="$secs"
	fi
	[ -f "fuzz/dict/$name.dict" ] && set -- "$@" -dict="fuzz/dict/$name.dict"
	[ -d "fuzz/corpus/$name" ] || mkdir -p "fuzz/corpus/$name"
	start=$(date +%s)
	"$bin" "$@" "fuzz/build/corpus/$name" "fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	elapsed=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		result=ok
	else
		why=$(grep -m 1 -o 'ERROR: [A-Za-z]*Sanitizer: [a-z-]*\|ERROR: libFuzzer: [a-z-]*\|runtime error: .*' "$log")
		result="FAILED (exit $rc: ${why:-see $log}; input in fuzz/artifacts/)"
	fi
	printf 'fuzz %-10s %10s execs %7s exec/s  %-18s %5ss  %s\n' "$name" \
	    "${execs:-?}" "${rate:-?}" "${cov:-cov: ?}" "$elapsed" "$result"
	[ "$rc" -eq 0 ]
}

if [ "${1:-}" = --one ]; then
	one "$2"
	exit
fi
if [ $# -eq 0 ]; then
	echo "usage: sh fuzz/run.sh fuzz_NAME..." >&2
	exit 64
fi
for t in "$@"; do
	if [ ! -x "fuzz/build/$t" ]; then
		echo "fuzz: fuzz/build/$t is not built: run make fuzz-build" >&2
		exit 1
	fi
done
if [ -n "$runs" ]; then
	echo "fuzz: $# targets, $runs inputs each, $jobs at a time"
else
	echo "fuzz: $# targets, ${secs} s each, $jobs at a time"
fi
# xargs exits 123 when any run failed.
for t in "$@"; do echo "${t#fuzz_}"; done |
    xargs -P "$jobs" -n 1 sh fuzz/run.sh --one
rc=$?
if [ "$rc" -ne 0 ]; then
	echo "fuzz: FAILED: see the lines above; crash inputs are in fuzz/artifacts/" >&2
	exit 1
fi
echo "fuzz: all targets passed"
