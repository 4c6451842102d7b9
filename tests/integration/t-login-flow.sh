#!/usr/bin/env bash
# Which flow login runs: the account's flow (Google's preset: browser; an
# account with no device endpoint: browser; one with both: device;
# flow = manual), or --flow. The
# browser and manual flows make no network request before the redirect
# comes back: here none comes (--timeout 1), so they end with exit 75 (or
# 65 for an empty paste) without a connection.
. "$(dirname "$0")/../lib.sh"

stack_init
CONF=$T/mailcred.conf
G=me@gmail.com
O=user@example.test
M=manual@example.test
B=browser@example.test
cat >"$CONF" <<EOC
[account $G]
provider = google
client_id = x
store = file

[account $O]
client_id = x
device_authorization_endpoint = http://127.0.0.1:9/device
authorization_endpoint = http://127.0.0.1:9/auth
token_endpoint = http://127.0.0.1:9/token
store = file

[account $M]
provider = microsoft
client_id = x
flow = manual
store = file

[account $B]
client_id = x
authorization_endpoint = http://127.0.0.1:9/auth
token_endpoint = http://127.0.0.1:9/token
store = file
EOC
chmod 600 "$CONF"

# Anything that tries the network through a proxy lands here.
node -e '
const net = require("net"), fs = require("fs");
const s = net.createServer((c) => {
	fs.appendFileSync(process.argv[1], "connection\n");
	c.destroy();
});
s.listen(0, "127.0.0.1", () =>
	fs.writeFileSync(process.argv[2], String(s.address().port)));
' "$T/proxy.log" "$T/proxy.port" >>"$T/proxy-server.log" 2>&1 &
PROXY_PID=$!
_track "$PROXY_PID"
_wait_file "$T/proxy.port" 10 "$PROXY_PID" || _fatal "the proxy listener did not start"
P=http://127.0.0.1:$(cat "$T/proxy.port")
export http_proxy=$P https_proxy=$P HTTPS_PROXY=$P ALL_PROXY=$P all_proxy=$P
unset no_proxy NO_PROXY

# strace, where it works, sees any socket at all, DNS included.
TRACE=()
if strace -f -o /dev/null true 2>/dev/null; then
	# LeakSanitizer cannot work under ptrace (make check SANITIZE=1).
	TRACE=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
		strace -f -qq -e 'trace=socket,connect' -o "$T/strace.log")
else
	diag "strace cannot trace here: relying on the proxy listener alone"
fi

# waits NAME WHAT STATUS ENDPOINT ARGS...: login shows the authorization URL
# at ENDPOINT on stderr, gets no redirect and exits STATUS with one line,
# without a connection to anything.
waits() {
	local name=$1 what=$2 want=$3 ep=$4 rc
	shift 4
	: >"$T/strace.log"
	"${TRACE[@]}" "$MAILCRED" -c "$CONF" login "$name" --no-open --timeout 1 "$@" </dev/null >"$T/out" 2>"$T/err"
	rc=$?
	assert_status "$rc" "$want" "$what: exit $want"
	assert_eq "$(cat "$T/out")" "" "$what: nothing on stdout"
	assert_match "$(cat "$T/err")" "open this URL in a web browser.*$ep\\?client_id=x&response_type=code" "$what: the authorization URL is shown"
	assert_match "$(tail -n 1 "$T/err")" "^mailcred: $name: " "$what: one line naming the account"
	if [ "${#TRACE[@]}" -gt 0 ]; then
		assert_no_match "$(grep 'connect(' "$T/strace.log")" "AF_INET" "$what: no network connection was made"
	fi
	assert_eq "$(cat "$T/proxy.log" 2>/dev/null)" "" "$what: no connection reached the proxy"
}

GEP='https://accounts\.google\.com/o/oauth2/v2/auth'
waits "$G" "Google preset, no --flow (its flow is browser)" 75 "$GEP"
assert_match "$(cat "$T/err")" "access_type=offline&prompt=consent" "Google: auth_params are in the URL"
waits "$G" "--flow browser" 75 "$GEP" --flow browser
waits "$O" "--flow manual" 65 "http://127\\.0\\.0\\.1:9/auth" --flow manual
waits "$M" "flow = manual in the config" 65 "https://login\\.microsoftonline\\.com/common/oauth2/v2\\.0/authorize"
waits "$B" "no device endpoint, no flow set (browser)" 75 "http://127\\.0\\.0\\.1:9/auth"

# The watch works: the device flow does reach for the network (and,
# with no D-Bus bus here, a store = file account gets that far).
printf '\n[account d@example.test]\nclient_id = x\nstore = file\ntimeout = 2\n' >>"$CONF"
printf 'device_authorization_endpoint = http://127.0.0.1:9/device\ntoken_endpoint = http://127.0.0.1:9/token\n' >>"$CONF"
: >"$T/strace.log"
"${TRACE[@]}" "$MAILCRED" -c "$CONF" login d@example.test --flow device >/dev/null 2>"$T/err"
assert_status $? 75 "control: the device flow tries the network and fails"
seen=$(cat "$T/proxy.log" 2>/dev/null)
if [ "${#TRACE[@]}" -gt 0 ]; then
	seen+=$(grep AF_INET "$T/strace.log")
fi
assert_ne "$seen" "" "control: the watch sees that attempt"

finish
