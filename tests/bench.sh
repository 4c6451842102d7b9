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

# mailcred send: one message over STARTTLS with XOAUTH2 and a cached token,
# against the curl command line sending the same message to the same server
# with the same token (target <= 1.05), and msmtp with passwordeval
# "mailcred token" (target <= 0.6). Interleaved, medians. The first part
# of the file (the cached token) is issue 6's; this one is issue 8's.
SEND_RUNS=${SEND_RUNS:-40}
start_smtp
# The account is the file's only section: these keys belong to it.
printf 'smtp = smtp://127.0.0.1:%s\nca_file = %s\n' "$SMTP_PORT" "$T/cert.pem" >>"$CONF"
CONF_SEND=$CONF
write_msmtprc "$A" "$T/msmtprc"
printf 'From: %s\r\nTo: friend@example.test\r\nSubject: bench\r\n\r\n%s\r\n' "$A" \
	"$(head -c 2000 /dev/zero | tr '\0' x | fold -w 72)" >"$T/bench.eml"
at=$("$MAILCRED" -c "$CONF_SEND" token "$A") || exit 1
# curl reads the token from a 0600 config file, not from its argv.
( umask 077; printf 'oauth2-bearer = "%s"\n' "$at" >"$T/curl.cfg" )
unset at
run_curl() {
	curl -s -K "$T/curl.cfg" --url "smtp://127.0.0.1:$SMTP_PORT/bench.example" \
		--ssl-reqd --cacert "$T/cert.pem" --user "$A" --login-options AUTH=XOAUTH2 \
		--mail-from "$A" --mail-rcpt friend@example.test --upload-file "$T/bench.eml"
}
run_msmtp() { msmtp -C "$T/msmtprc" friend@example.test <"$T/bench.eml"; }
run_send() { "$MAILCRED" -c "$CONF_SEND" send -a "$A" friend@example.test <"$T/bench.eml"; }
for f in run_curl run_msmtp run_send; do
	"$f" || { echo "bench: $f failed" >&2; exit 1; }
done
declare -a sc sm ss
for i in $(seq 1 "$SEND_RUNS"); do
	t0=$(now_ns); run_curl; t1=$(now_ns); run_msmtp; t2=$(now_ns); run_send; t3=$(now_ns)
	sc+=($((t1 - t0)))
	sm+=($((t2 - t1)))
	ss+=($((t3 - t2)))
done
mc_=$(median "${sc[@]}")
mm=$(median "${sm[@]}")
ms=$(median "${ss[@]}")
sent=$(find "$T/mail" -name '*.json' | wc -l)
awk -v c="$mc_" -v m="$mm" -v s="$ms" -v n="$SEND_RUNS" -v sent="$sent" 'BEGIN {
	printf "bench: send, %d runs each, interleaved, one 2 kB message, STARTTLS + XOAUTH2\n", n
	printf "  curl (command line)      median %7.2f ms\n", c / 1e6
	printf "  msmtp + mailcred token   median %7.2f ms\n", m / 1e6
	printf "  mailcred send            median %7.2f ms\n", s / 1e6
	printf "  ratio to curl  %.2f (target <= 1.05)%s\n", s / c, (s / c <= 1.05) ? "" : "  OVER TARGET"
	printf "  ratio to msmtp %.2f (target <= 0.60)%s\n", s / m, (s / m <= 0.6) ? "" : "  OVER TARGET"
	printf "  messages the server accepted: %d (expected %d)\n", sent, 3 * n + 3
}'
