#!/usr/bin/env bash
# Runs the integration tests (every tests/integration/t-*.sh, or the ones
# given), each under a time limit, and ends with one line:
# "N passed, N failed". A script that dies without its own summary line
# counts as one failure.
set -u
cd "$(dirname "$0")/.."

LIMIT=${TEST_TIMEOUT:-300}
if [ $# -gt 0 ]; then
	scripts=("$@")
else
	scripts=(tests/integration/t-*.sh)
fi

passed=0
failed=0
for s in "${scripts[@]}"; do
	echo "== integration: $s"
	out=$(mktemp)
	timeout --kill-after=10 "$LIMIT" bash "$s" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
	rm -f "$out"
	if [ -z "$last" ]; then
		echo "not ok - $s ended without a summary (exit $rc)"
		failed=$((failed + 1))
		continue
	fi
	p=${last%% passed*}
	f=${last#*passed, }
	f=${f%% failed*}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "integration: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
