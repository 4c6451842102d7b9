#!/usr/bin/env bash
# login with a flow this version does not have (browser, manual): exit 69
# and one line that names the account and the way that works, before any
# network traffic or store access.
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

[account $O]
client_id = x
device_authorization_endpoint = http://127.0.0.1:9/device
authorization_endpoint = http://127.0.0.1:9/auth
token_endpoint = http://127.0.0.1:9/token

[account $M]
provider = microsoft
client_id = x
flow = manual

[account $B]
client_id = x
authorization_endpoint = http://127.0.0.1:9/auth
token_endpoint = http://127.0.0.1:9/token
EOC
chmod 600 "$CONF"

# want_line NAME: the refusal, exactly, for account NAME.
want_line() {
	printf "mailcred: %s: the browser and manual login flows are not in this version of mailcred yet: log in with 'mailcred login %s --flow device' (Google refuses it for Gmail: use an app password there, 'mailcred password set %s' with auth = password)" "$1" "$1" "$1"
}

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
		strace -f -qq -e trace=socket,connect -o "$T/strace.log")
else
	diag "strace cannot trace here: relying on the proxy listener alone"
fi

# refused NAME WHAT ARGS...: login refused with exit 69 and the one line.
refused() {
	local name=$1 what=$2 rc
	shift 2
	: >"$T/strace.log"
	"${TRACE[@]}" "$MAILCRED" -c "$CONF" login "$name" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	assert_status "$rc" 69 "$what: exit 69"
	assert_eq "$(cat "$T/out")" "" "$what: nothing on stdout"
	assert_eq "$(cat "$T/err")" "$(want_line "$name")" "$what: the one line, naming the account"
	if [ "${#TRACE[@]}" -gt 0 ]; then
		assert_no_match "$(cat "$T/strace.log")" "AF_INET" "$what: no network socket was opened"
	fi
	assert_eq "$(cat "$T/proxy.log" 2>/dev/null)" "" "$what: no connection reached the proxy"
}

refused "$G" "Google preset, no --flow (its flow is browser)"
refused "$G" "--flow browser" --flow browser
refused "$O" "--flow manual" --flow manual
refused "$M" "flow = manual in the config"
refused "$B" "no device endpoint, no flow set (browser)"

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
