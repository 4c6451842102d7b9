#!/usr/bin/env bash
# make bench: a cached `mailcred token` against `secret-tool lookup` of a
# secret of the same size on the same keyring, interleaved in one run, and
# the ratio of their medians. Target: <= 1.3.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mc-lib.sh"

RUNS=${RUNS:-200}
stack_init
start_keyring
start_oauth
A=bench@example.test
write_config "$A"
oauth_config '{"device_interval":1}'
login_device "$A"
if [ "$LOGIN_RC" -ne 0 ]; then
	echo "bench: the login failed: $(cat "$LOGIN_ERR")" >&2
	exit 1
fi
# The reference: a secret of the same size, read the same way.
size=$(stored_blob "$A" | wc -c)
head -c "$size" /dev/zero | tr '\0' x | secret-tool store --label ref bench ref
"$MAILCRED" -c "$CONF" token "$A" >/dev/null || exit 1

now_ns() { date +%s%N; }
declare -a ta tb
for i in $(seq 1 10); do	# warm up
	"$MAILCRED" -c "$CONF" token "$A" >/dev/null
	secret-tool lookup bench ref >/dev/null
done
for i in $(seq 1 "$RUNS"); do
	t0=$(now_ns)
	secret-tool lookup bench ref >/dev/null
	t1=$(now_ns)
	"$MAILCRED" -c "$CONF" token "$A" >/dev/null
	t2=$(now_ns)
	ta+=($((t1 - t0)))
	tb+=($((t2 - t1)))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(median "${ta[@]}")
mb=$(median "${tb[@]}")
refreshes=$(oauth_stats | jq .refresh_grants)
awk -v a="$ma" -v b="$mb" -v n="$RUNS" -v s="$size" -v r="$refreshes" 'BEGIN {
	printf "bench: %d runs each, interleaved, secret of %d bytes\n", n, s
	printf "  secret-tool lookup       median %7.2f ms\n", a / 1e6
	printf "  mailcred token (cached)  median %7.2f ms\n", b / 1e6
	printf "  ratio %.2f (target <= 1.30)%s\n", b / a, (b / a <= 1.3) ? "" : "  OVER TARGET"
	printf "  refreshes during the run: %d (must be 0)\n", r
}'
