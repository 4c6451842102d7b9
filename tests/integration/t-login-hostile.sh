#!/usr/bin/env bash
# The browser flow's loopback listener under hostile local traffic, with
# the real oidc-provider and gnome-keyring: a flood of idle connections
# (hundreds), a request that never ends (one byte a second), a huge request
# (MBs of header), a request to another path, and a second redirect after
# the first, with the same and with another state. The listener stays
# bounded in time (the real redirect gets through while the flood is open)
# and in memory and fds (checked in /proc during the flood), and the login
# is not confused: the first valid redirect wins, one code exchange only.
# (tests/peers/hostile-client.pl plays the hostile client.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth

A=hostile@example.test
write_config "$A" "authorization_endpoint = $OAUTH_URL/auth" \
	"auth_params = prompt=consent"
HOSTILE=$TOP/tests/peers/hostile-client.pl
FLOOD=300
CONN_TIMEOUT=10		# MC_LISTENER_CONN_TIMEOUT (auth/listener.h)
MARGIN=20

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# wait_ready FILE PID: the hostile client has done its first step.
wait_ready() {
	_wait_file "$1" 30 "$2" || not_ok "hostile client did not get going ($1)"
}

# fds PID / rss PID: open fds, resident kB.
fds() {
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}
# flood_conns: the flood's connections the kernel has completed.
flood_conns() {
	ss -Htn state established "( dport = :$PORT )" 2>/dev/null | wc -l
}
rss() {
	awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

oauth_reset_stats
start_login "$A" --flow browser --no-open --timeout 120
assert_match "$PORT" "^[0-9]+$" "setup: the login listens (port $PORT)"
fd0=$(fds "$LPID")
rss0=$(rss "$LPID")

# --- 1. A request to another path, and a huge request: answered, not kept.
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/other/path?code=x&state=y")
assert_eq "$st" 404 "another path: 404"
huge=$(timeout 60 perl "$HOSTILE" huge "$PORT" 8)
assert_match "$huge" "^HTTP/1\\.[01] 431 after [0-9]+ bytes$" "8 MB of header: 431 ($huge)"
sent=$(awk '{ print $NF == "bytes" ? $(NF - 1) : 0 }' <<<"$huge")
assert_true "[ ${sent:-0} -lt $((8 * 1024 * 1024)) ]" "the huge request was cut short, not read to its end ($sent bytes went out)"
assert_true "_pid_alive $LPID" "the login keeps waiting after those"

# --- 2. The flood, and a request that never ends, left open.
perl "$HOSTILE" slow "$PORT" "$T/slow.ready" >"$T/slow.out" 2>&1 &
SLOW=$!
_track "$SLOW"
wait_ready "$T/slow.ready" "$SLOW"
perl "$HOSTILE" flood "$PORT" "$FLOOD" "$T/flood.ready" >"$T/flood.out" 2>&1 &
FPID=$!
_track "$FPID"
wait_ready "$T/flood.ready" "$FPID"
assert_match "$(cat "$T/flood.out")" "flood: [0-9]+ of $FLOOD connects started" "the flood is open ($(cat "$T/flood.out"))"
maxfd=0
maxrss=0
maxconns=0
for _ in $(seq 20); do	# 2 s of sampling while the flood is open
	c=$(flood_conns)
	[ "$c" -gt "$maxconns" ] && maxconns=$c
	f=$(fds "$LPID")
	r=$(rss "$LPID")
	[ "${f:-0}" -gt "$maxfd" ] && maxfd=$f
	[ "${r:-0}" -gt "$maxrss" ] && maxrss=$r
	sleep 0.1
done

# The real redirect, while the flood and the slow request are open.
loc=$(approve_code "$URL" "$A" 2>"$T/approve.err")
assert_match "$loc" "^http://127\\.0\\.0\\.1:$PORT/\\?code=.*&state=.*&iss=" "the provider redirects to the listener"
start=$(now_ms)
page=$(curl -sS --max-time $((CONN_TIMEOUT + MARGIN)) "$loc" 2>"$T/curl.err")
took=$(($(now_ms) - start))
assert_match "$page" "<title>mailcred: logged in</title>" "with $FLOOD idle connections and a slow one open, the real redirect gets through"
assert_true "[ $took -lt $(((CONN_TIMEOUT + MARGIN) * 1000)) ]" "within the per-connection deadline plus a margin (${took} ms)"
for _ in $(seq 10); do	# and during the exchange
	f=$(fds "$LPID")
	[ "${f:-0}" -gt "$maxfd" ] && maxfd=$f
	sleep 0.05
done
wait "$LPID"
RC=$?
assert_status "$RC" 0 "the login succeeds"
assert_true "[ $maxconns -ge 100 ]" "the flood did connect: $maxconns connections established at once"
diag "listener during the flood: at most $maxfd fds (before: $fd0), RSS at most $maxrss kB (before: $rss0 kB)"
assert_true "[ $maxfd -le $((fd0 + 8 + 4)) ]" "fds stay bounded during the flood: $maxfd (before $fd0, 8 connections served at once)"
if ldd "$MAILCRED" 2>/dev/null | grep -q libasan; then
	diag "a sanitizer build: its quarantine keeps freed buffers, RSS is not checked"
else
	assert_true "[ $maxrss -lt $((rss0 + 4096)) ]" "memory stays bounded: RSS $maxrss kB (before $rss0 kB)"
fi
assert_eq "$(oauth_stats | jq .code_exchanges)" 1 "one code exchange"
assert_true "[ -n \"\$(mc token '$A' 2>/dev/null)\" ]" "the stored login works"
_stop_pid "$FPID"
_stop_pid "$SLOW"
assert_no_match "$(cat "$T/slow.out")" "sent all" "the slow request was not read forever: $(cat "$T/slow.out")"

# --- 3. A request that never ends, alone: the connection's own deadline
# closes it.
oauth_reset_stats
start_login "$A" --flow browser --no-open --timeout 120
start=$(now_ms)
timeout 60 perl "$HOSTILE" slow "$PORT" "$T/slow2.ready" >"$T/slow2.out" 2>&1
took=$(($(now_ms) - start))
assert_match "$(cat "$T/slow2.out")" "^(closed|answered HTTP/1\\.[01] [0-9]+) after [0-9]+ bytes" "one byte a second: the listener ends it ($(head -1 "$T/slow2.out"))"
assert_true "[ $took -lt $(((CONN_TIMEOUT + MARGIN) * 1000)) ]" "within its ${CONN_TIMEOUT} s deadline plus a margin (${took} ms)"
assert_true "_pid_alive $LPID" "and the login keeps waiting"

# --- 4. A second redirect after the first: the first valid one wins. The
# code exchange is slowed so that the second arrives while it runs.
oauth_config '{"code_delay_ms":2000}'
loc=$(approve_code "$URL" "$A" 2>>"$T/approve.err")
curl -sS --max-time 30 "$loc" >"$T/page1" 2>&1 &
C1=$!
sleep 0.5
st_same=$(curl -s -o "$T/page2" -w '%{http_code}' --max-time 30 "$loc")
st_other=$(curl -s -o "$T/page3" -w '%{http_code}' --max-time 30 \
	"http://127.0.0.1:$PORT/?code=another-code&state=another-state")
wait "$C1"
wait "$LPID"
RC=$?
assert_status "$RC" 0 "the login with a second redirect succeeds"
assert_match "$(cat "$T/page1")" "mailcred: logged in" "the first redirect's tab says logged in"
assert_no_match "$(cat "$T/page2" 2>/dev/null)" "mailcred: logged in" "the same redirect again is not told logged in a second time (HTTP $st_same)"
assert_no_match "$(cat "$T/page3" 2>/dev/null)" "mailcred: logged in" "a redirect with another state is not told logged in (HTTP $st_other)"
assert_eq "$(oauth_stats | jq .code_exchanges)" 1 "one code exchange: no second token request"
assert_eq "$(oauth_stats | jq .token_requests)" 1 "one token request in all"
# After the login the listener is gone: a late redirect finds nothing.
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$loc")
assert_eq "$st" 000 "after the login, nothing listens any more"
oauth_reset_config

finish
