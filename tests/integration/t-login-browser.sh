#!/usr/bin/env bash
# login --flow browser and --flow manual against the real oidc-provider and
# gnome-keyring: the authorization code grant with PKCE, the loopback
# listener (127.0.0.1, localhost on both 127.0.0.1 and ::1, --port), forged
# redirects, error=access_denied, timeouts, the paste flow, a grant without
# a refresh token, and a failed re-login that leaves the old grant working.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth

A=browser@example.test
L=localhost@example.test
N=noffline@example.test
write_config "$A" "authorization_endpoint = $OAUTH_URL/auth" \
	"auth_params = prompt=consent"
write_config "$L" "authorization_endpoint = $OAUTH_URL/auth" \
	"auth_params = prompt=consent" "redirect_uri = http://localhost/"
SCOPE="openid email" write_config "$N" \
	"authorization_endpoint = $OAUTH_URL/auth" "auth_params = prompt=consent"

# finish_login: waits for the login; sets RC.
finish_login() {
	wait "$LPID"
	RC=$?
}

# param NAME URL: a query parameter's (raw) value.
param() {
	printf '%s\n' "$2" | sed -n "s/.*[?&]$1=\\([^&#]*\\).*/\\1/p"
}

ipv6_loopback() {
	node -e 'require("net").createServer().on("error", () => process.exit(1))
		.listen(0, "::1", () => process.exit(0))' 2>/dev/null
}

# --- 1. The whole browser flow, with -v -------------------------------------
oauth_reset_stats
start_login "$A" --flow browser -v
assert_match "$URL" "^$OAUTH_URL/auth\\?client_id=$CLIENT_ID&response_type=code&redirect_uri=http%3A%2F%2F127\\.0\\.0\\.1%3A[0-9]+%2F&scope=openid%20offline_access%20email&state=[A-Za-z0-9_-]{32}&code_challenge=[A-Za-z0-9_-]{43}&code_challenge_method=S256&prompt=consent$" \
	"the first JSON line is the authorization URL with PKCE S256, state, the real port and auth_params"
assert_match "$(cat "$T/b.err")" "open this URL in a web browser:.*$OAUTH_URL/auth\\?" "the authorization URL is also on stderr"
loc=$(approve_code "$URL" "$A" 2>"$T/approve.err")
assert_status $? 0 "the test browser approved the login"
assert_match "$loc" "^http://127\\.0\\.0\\.1:$PORT/\\?code=.*&state=.*&iss=" "the provider redirects to the listener with code, state and iss"
page=$(curl -sS -4 --max-time 5 "$loc")
assert_match "$page" "<title>mailcred: logged in</title>" "the browser's page says mailcred: logged in"
assert_match "$page" "$A.*You can close this tab\\." "the page names the account and says the tab can be closed"
finish_login
assert_status "$RC" 0 "the browser login exits 0"
assert_eq "$(wc -l <"$T/b.out" | tr -d ' ')" 2 "stdout holds two JSON lines: prompt and result"
assert_eq "$(tail -n 1 "$T/b.out" | jq -r '[.account, (.expires_at|type), .scope] | join(" ")' 2>/dev/null)" \
	"$A number openid offline_access email" "the last line is the result: account, expires_at, scope"
assert_eq "$(oauth_stats | jq .code_exchanges)" 1 "the server counted one code exchange"
code=$(param code "$loc")
tok=$(mc token "$A")
assert_status $? 0 "mailcred token works after the browser login"
me=$(curl -sS --max-time 5 -H "Authorization: Bearer $tok" "$OAUTH_URL/me")
assert_eq "$(printf '%s' "$me" | jq -r .sub)" "$A" "the token is accepted at the server's userinfo"
trace=$(cat "$T/b.err")
assert_match "$trace" "code_verifier=(\\[redacted\\]|%5Bredacted%5D)" "-v shows the code exchange with the verifier redacted"
assert_no_match "$trace" "$code" "-v does not show the code"
assert_no_match "$trace" "$tok" "-v does not show the access token"
assert_no_match "$trace" "code_verifier=[A-Za-z0-9_-]{43}" "-v does not show the verifier"

# --- 2. Forged redirect, favicon, a silent connection ------------------------
oauth_reset_stats
start_login "$A" --flow browser
st=$(curl -s -o "$T/fav" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/favicon.ico")
assert_eq "$st" 404 "/favicon.ico is answered 404"
exec 3<>"/dev/tcp/127.0.0.1/$PORT"	# a connection that never says a word
st=$(curl -s -o "$T/forged" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/?code=forged-code&state=not-the-state")
assert_eq "$st" 400 "a redirect with the wrong state is refused (400)"
assert_match "$(cat "$T/forged")" "<title>mailcred: login failed</title>.*state does not match" "the forged request's page says what was refused"
assert_true "_pid_alive $LPID" "the login keeps waiting after a forged redirect"
assert_match "$(cat "$T/b.err")" "warning: refused a request to the redirect listener: .*state.*still waiting" "the user is warned about the refused request"
assert_eq "$(oauth_stats | jq .code_exchanges)" 0 "a forged redirect leads to no code exchange"
loc=$(approve_code "$URL" "$A" 2>>"$T/approve.err")
page=$(curl -sS --max-time 5 "$loc")
assert_match "$page" "mailcred: logged in" "with a silent connection open, the real redirect still gets through"
finish_login
exec 3<&-
assert_status "$RC" 0 "the login succeeds after the forged request"
assert_eq "$(oauth_stats | jq .code_exchanges)" 1 "exactly one code exchange: the real one"

# --- 3. localhost: 127.0.0.1 and ::1 ----------------------------------------
start_login "$L" --flow browser
assert_match "$URL" "redirect_uri=http%3A%2F%2Flocalhost%3A[0-9]+%2F" "redirect_uri http://localhost/ gets the port"
loc=$(approve_code "$URL" "$L" 2>>"$T/approve.err")
assert_match "$loc" "^http://localhost:$PORT/" "the provider redirects to localhost"
page=$(curl -sS -4 --max-time 5 "$loc")
assert_match "$page" "mailcred: logged in" "localhost: the listener answers on 127.0.0.1"
finish_login
assert_status "$RC" 0 "localhost login over IPv4 exits 0"
if ipv6_loopback; then
	start_login "$L" --flow browser
	loc=$(approve_code "$URL" "$L" 2>>"$T/approve.err")
	page=$(curl -sS -6 --max-time 5 "$loc")
	assert_match "$page" "mailcred: logged in" "localhost: the listener answers on ::1"
	finish_login
	assert_status "$RC" 0 "localhost login over IPv6 exits 0"
else
	diag "no IPv6 loopback on this machine: ::1 not tested"
fi

# --- 4. access_denied ---------------------------------------------------------
oauth_reset_stats
start_login "$A" --flow browser
loc=$(approve_code "$URL" "$A" --deny 2>>"$T/approve.err")
assert_match "$loc" "error=access_denied" "denied: the redirect carries error=access_denied"
page=$(curl -sS --max-time 5 "$loc")
assert_match "$page" "<title>mailcred: login failed</title>" "denied: the page says mailcred: login failed"
assert_match "$page" "The provider said: access_denied" "denied: the page says what the provider said"
finish_login
assert_status "$RC" 77 "denied: exit 77"
assert_eq "$(sed -n 2p "$T/b.out")" "" "denied: no result line on stdout"
assert_match "$(tail -n 1 "$T/b.err")" "^mailcred: $A: the login failed: the provider said: access_denied.*mailcred login $A" "denied: one line naming the account and the fix"
assert_eq "$(oauth_stats | jq .code_exchanges)" 0 "denied: no code exchange"
mc token --refresh "$A" >/dev/null 2>"$T/t.err"
assert_status $? 0 "denied re-login: the old grant still works"

# --- 5. Timeout, --port -------------------------------------------------------
mc login "$A" --flow browser --no-open --timeout 2 >"$T/o.out" 2>"$T/o.err"
assert_status $? 75 "no redirect within --timeout 2: exit 75"
assert_eq "$(cat "$T/o.out")" "" "timeout: nothing on stdout"
assert_match "$(tail -n 1 "$T/o.err")" "^mailcred: $A: no redirect came from the browser within 2 s: run 'mailcred login $A' again" "timeout: one line with the fix"
mc token --refresh "$A" >/dev/null 2>"$T/t.err"
assert_status $? 0 "timed-out re-login: the old grant still works"

P=$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
start_login "$A" --flow browser --port "$P"
assert_eq "$PORT" "$P" "--port pins the port in redirect_uri"
loc=$(approve_code "$URL" "$A" 2>>"$T/approve.err")
page=$(curl -sS --max-time 5 "$loc")
finish_login
assert_status "$RC" 0 "login with --port succeeds"
node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); setTimeout(() => s.close(), 5000); })' >"$T/busy.port" &
BUSY=$!
_track "$BUSY"
for i in $(seq 50); do [ -s "$T/busy.port" ] && break; sleep 0.05; done
mc login "$A" --flow browser --port "$(cat "$T/busy.port")" >"$T/p.out" 2>"$T/p.err"
assert_status $? 78 "a taken --port: exit 78"
assert_match "$(cat "$T/p.err")" "^mailcred: $A: port [0-9]+ is in use on 127\\.0\\.0\\.1: pick another --port" "a taken port: one clear line"
_stop_pid "$BUSY"

# --- 6. The paste flow ------------------------------------------------------
# paste_login NAME WHAT-TO-PASTE-FN: manual login, stdin from a FIFO that is
# written once the URL is known. The function gets the redirect Location
# and prints what to paste.
rm -f "$T/fifo"
mkfifo "$T/fifo"
paste_login() {
	local name=$1 fn=$2 deny=${3:-} i
	exec 5<>"$T/fifo"
	: >"$T/m.out"
	: >"$T/m.err"
	mc login "$name" --flow manual --json --timeout 20 <"$T/fifo" >"$T/m.out" 2>"$T/m.err" 5>&- &
	LPID=$!
	for i in $(seq 100); do [ -s "$T/m.out" ] && break; sleep 0.05; done
	URL=$(head -n 1 "$T/m.out" | jq -r .authorization_url 2>/dev/null)
	loc=$(approve_code "$URL" "$name" ${deny:+"$deny"} 2>>"$T/approve.err")
	"$fn" "$loc" >&5
	exec 5>&-
	finish_login
}
# The ways to paste the redirect, called through paste_login's "$fn".
# shellcheck disable=SC2317  # called indirectly, by name
whole() { printf '%s\n' "$1"; }
# shellcheck disable=SC2317  # called indirectly, by name
bare() { param code "$1"; printf '\n'; }
# shellcheck disable=SC2317  # called indirectly, by name
wrong_state() { printf '%s\n' "$1" | sed 's/state=[^&]*/state=forged-state/'; }

oauth_reset_stats
paste_login "$A" whole
assert_status "$RC" 0 "manual: pasting the whole URL logs in"
assert_match "$(cat "$T/m.err")" "fails to load.*paste it here" "manual: says up front that the page fails to load and what to paste"
assert_match "$URL" "redirect_uri=http%3A%2F%2F127\\.0\\.0\\.1%2F&" "manual: redirect_uri as configured (no --port)"
assert_eq "$(tail -n 1 "$T/m.out" | jq -r .account)" "$A" "manual: the result line names the account"
paste_login "$A" bare
assert_status "$RC" 0 "manual: pasting just the code logs in"
assert_eq "$(oauth_stats | jq .code_exchanges)" 2 "manual: two logins, two code exchanges"
oauth_reset_stats
paste_login "$A" wrong_state
assert_status "$RC" 65 "manual: a pasted URL with the wrong state is refused (65)"
assert_match "$(tail -n 1 "$T/m.err")" "^mailcred: $A: the pasted text was refused: the redirect's state does not match" "manual: the wrong state is named"
assert_eq "$(oauth_stats | jq .code_exchanges)" 0 "manual: a wrong state leads to no code exchange"
paste_login "$A" whole --deny
assert_status "$RC" 77 "manual: a pasted URL with error=access_denied exits 77"
mc token --refresh "$A" >/dev/null 2>"$T/t.err"
assert_status $? 0 "after refused pastes the old grant still works"
mc login "$A" --flow manual --port 8765 --timeout 1 </dev/null >"$T/m2.out" 2>"$T/m2.err" 
assert_match "$(cat "$T/m2.err")" "redirect_uri=http%3A%2F%2F127\\.0\\.0\\.1%3A8765%2F" "manual --port puts the port in redirect_uri (for ssh -L)"

# --- 6a. mailcred opens the browser itself ------------------------------------
# With a display, $BROWSER gets the URL: here a stand-in that records how
# it was started, then plays the browser (approve-code.sh) and delivers
# the redirect, as a person in a real browser would.
cat >"$T/fakebrowser" <<'EOB'
#!/bin/bash
out=$(readlink /proc/$$/fd/1) err=$(readlink /proc/$$/fd/2)
{
	printf 'argc=%s\n' "$#"
	printf 'sigign=%s\n' "$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)"
	printf 'sid=%s pid=%s\n' "$(cut -d' ' -f6 /proc/$$/stat)" "$$"
	printf 'out=%s err=%s\n' "$out" "$err"
} >"$FB_LOG"
loc=$(bash "$FB_PEERS/approve-code.sh" "$1" "$FB_LOGIN" 2>/dev/null) &&
	curl -sS --max-time 10 "$loc" >"$FB_PAGE" 2>&1
EOB
chmod 755 "$T/fakebrowser"
DISPLAY=:99 BROWSER="$T/fakebrowser" FB_LOG=$T/fb.log FB_PAGE=$T/fb.html \
	FB_PEERS=$PEERS FB_LOGIN=$A "$MAILCRED" -c "$CONF" login "$A" --flow browser --timeout 30 \
	>"$T/o.out" 2>"$T/o.err"
assert_status $? 0 "with a display, the login opens \$BROWSER and succeeds through it"
assert_eq "$(sed -n 's/^argc=//p' "$T/fb.log")" 1 "the browser gets one argument, the URL"
sigign=$(sed -n 's/^sigign=//p' "$T/fb.log")
assert_true "[ -n '$sigign' ] && [ \$(( 0x$sigign & 0x1000 )) -eq 0 ]" "the browser starts with SIGPIPE at its default (SigIgn $sigign)"
assert_match "$(sed -n 's/^sid=//p' "$T/fb.log")" "^([0-9]+) pid=\\1$" "the browser runs in a session of its own (no Ctrl-C meant for mailcred)"
assert_eq "$(sed -n 's/^out=//p' "$T/fb.log")" "/dev/null err=/dev/null" "the browser's output goes to /dev/null, not over the countdown"
assert_match "$(cat "$T/fb.html")" "<title>mailcred: logged in</title>" "the opened browser ends on the success page"
assert_eq "$(cat "$T/o.out")" "" "nothing on stdout without --json"

# --- 6b. Interrupted during the code exchange ---------------------------------
# The tab waits for the outcome; a SIGTERM then tells it the login was
# interrupted before it ends mailcred (as it would have), and the old
# grant stays.
oauth_config '{"code_delay_ms":4000}'
n0=$(oauth_stats | jq .code_exchanges)
# mailcred itself in the background (not through mc, whose subshell
# would take the signal), so $LPID is mailcred's pid.
"$MAILCRED" -c "$CONF" login "$A" --json --flow browser >"$T/b.out" 2>"$T/b.err" &
LPID=$!
for i in $(seq 100); do [ -s "$T/b.out" ] && break; sleep 0.05; done
URL=$(head -n 1 "$T/b.out" | jq -r .authorization_url 2>/dev/null)
loc=$(approve_code "$URL" "$A" 2>>"$T/approve.err")
curl -sS --max-time 15 "$loc" >"$T/tab.html" 2>&1 &
CPID=$!
# The server counts the exchange when it arrives, then holds it 4 s.
for i in $(seq 50); do
	[ "$(oauth_stats | jq .code_exchanges)" -gt "$n0" ] && break
	sleep 0.1
done
kill -TERM "$LPID"
finish_login
wait "$CPID"
assert_status "$RC" 143 "SIGTERM during the code exchange ends the login as SIGTERM does"
assert_match "$(cat "$T/tab.html")" "<title>mailcred: login failed</title>" "the waiting tab is told the login failed"
assert_match "$(cat "$T/tab.html")" "interrupted" "the waiting tab is told it was interrupted"
oauth_config '{"code_delay_ms":0}'
mc token --refresh "$A" >/dev/null 2>"$T/t.err"
assert_status $? 0 "after the interrupted login the old grant still works"

# --- 7. No refresh token ------------------------------------------------------
oauth_reset_stats
start_login "$N" --flow browser
loc=$(approve_code "$URL" "$N" 2>>"$T/approve.err")
page=$(curl -sS --max-time 10 "$loc")
finish_login
assert_status "$RC" 78 "no refresh token granted: exit 78"
assert_match "$page" "<title>mailcred: login failed</title>" "no refresh token: the browser is told the login failed, not that it worked"
assert_match "$page" "no refresh token.*offline_access" "no refresh token: the page says what failed"
assert_match "$(tail -n 1 "$T/b.err")" "^mailcred: $N: the provider granted no refresh token.*offline_access to scope.*nothing was stored" "no refresh token: one line naming the parameter"
assert_eq "$(oauth_stats | jq .code_exchanges)" 1 "no refresh token: the code was exchanged"
assert_eq "$(stored_blob "$N")" "" "no refresh token: nothing stored"

finish
