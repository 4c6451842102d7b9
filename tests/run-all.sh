#!/usr/bin/env bash
# Runs the cmocka unit tests given as arguments, then (unless --unit-only)
# the integration tests, and ends with one line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1

unit_only=0
if [ "${1:-}" = "--unit-only" ]; then
	unit_only=1
	shift
fi

passed=0
failed=0
for t in "$@"; do
	echo "== unit: $t"
	# cmocka prints its summary on stderr.
	out=$("./$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' | tail -1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1	# crashed, or failed outside a test
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "unit: $passed passed, $failed failed"

if [ "$unit_only" -eq 0 ]; then
	out_file=$(mktemp)
	bash tests/run-integration.sh | tee "$out_file"
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out_file" | tail -1)
	rm -f "$out_file"
	if [ -z "$last" ]; then
		failed=$((failed + 1))
	else
		ip=${last%% passed*}
		if_=${last#*passed, }
		if_=${if_%% failed*}
		passed=$((passed + ip))
		failed=$((failed + if_))
	fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
