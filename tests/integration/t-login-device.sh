#!/usr/bin/env bash
# mailcred login --flow device against a real OAuth server (oidc-provider),
# storing into a real gnome-keyring: RFC 8628 in full.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
A=user@example.test
write_config "$A"

# A full login, --json: prompt line first, result line last.
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "device login succeeds"
assert_eq "$(wc -l <"$LOGIN_OUT")" 2 "--json prints two lines"
first=$(head -1 "$LOGIN_OUT")
last=$(tail -1 "$LOGIN_OUT")
assert_match "$(jq -r .verification_uri <<<"$first")" "^$OAUTH_URL/device" "prompt has verification_uri"
assert_match "$(jq -r .verification_uri_complete <<<"$first")" "user_code=" "prompt has verification_uri_complete"
assert_eq "$(jq -r .interval <<<"$first")" 1 "prompt has the server's interval"
assert_match "$(jq -r .expires_in <<<"$first")" '^[0-9]+$' "prompt has expires_in"
assert_eq "$(jq -r .account <<<"$last")" "$A" "result names the account"
assert_match "$(jq -r .expires_at <<<"$last")" '^[0-9]{10}$' "result has expires_at"
assert_match "$(jq -r .scope <<<"$last")" "offline_access" "result has the scope"

# Stored in the keyring: tokens in the secret, never in attributes.
blob=$(stored_blob "$A")
rt=$(jq -r .refresh_token <<<"$blob")
at=$(jq -r .access_token <<<"$blob")
assert_match "$rt" '^.{20,}$' "a refresh token is stored"
attrs=$(secret-tool search --all account "$A" 2>&1 | grep -v '^secret = ')
assert_no_match "$attrs" "$rt" "the refresh token is not in an attribute"
assert_match "$attrs" "attribute.kind = oauth2" "the item is labelled by account and kind"

# token prints the cached access token, with no refresh.
oauth_reset_stats
out=$(mc token "$A" 2>"$T/err")
assert_status $? 0 "token succeeds"
assert_eq "$out" "$at" "token prints the stored access token"
assert_eq "$(oauth_stats | jq .refresh_grants)" 0 "a cached token causes no refresh"
json=$(mc token "$A" --json)
assert_eq "$(jq -r .account <<<"$json")" "$A" "token --json: account"
assert_eq "$(jq -r .access_token <<<"$json")" "$at" "token --json: access_token"
assert_eq "$(jq -r .token_type <<<"$json")" Bearer "token --json: token_type"
assert_match "$(jq -r .expires_at <<<"$json")" '^[0-9]{10}$' "token --json: expires_at"
assert_match "$(jq -r .scope <<<"$json")" "email" "token --json: scope"

# The server checks the polls: interval honoured, slow_down adds 5 s.
oauth_reset_stats
oauth_config '{"device_interval":1,"slow_down_polls":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "login with slow_down succeeds"
times=$(oauth_stats | jq -c .poll_times_ms)
gap1=$(jq '.[1] - .[0]' <<<"$times")
npolls=$(jq length <<<"$times")
assert_eq "$npolls" 2 "one slow_down, then the approved poll"
assert_true "[ ${gap1:-0} -ge 5500 ]" "slow_down adds 5 s to the interval (gap ${gap1} ms)"
oauth_config '{"slow_down_polls":0}'

# Google's spellings: verification_url, and 428 for pending.
oauth_config '{"google_style":true,"device_interval":1}'
mc login "$A" --flow device --json >"$T/g.out" 2>"$T/g.err" &
pid=$!
for i in $(seq 50); do [ -s "$T/g.out" ] && break; sleep 0.1; done
sleep 2.5	# let it poll (and be told 428 pending) a couple of times
approve_device "$(head -1 "$T/g.out" | jq -r .user_code)" "$A" >/dev/null 2>&1
wait $pid
assert_status $? 0 "login works with verification_url and HTTP 428 pending"
assert_match "$(head -1 "$T/g.out" | jq -r .verification_uri)" "^http" "verification_url is shown as verification_uri"
oauth_config '{"google_style":false}'

# Denied: exit 77, one clear line, nothing on stdout.
mc login "$A" --flow device >"$T/d.out" 2>"$T/d.err" &
pid=$!
for i in $(seq 50); do grep -q 'enter' "$T/d.err" 2>/dev/null && break; sleep 0.1; done
code=$(sed -n '/the code/{n;n;p}' "$T/d.err" | tr -d ' ')
assert_match "$code" '^[A-Z0-9-]+$' "the text prompt shows the user code"
approve_device "$code" "$A" --deny >/dev/null 2>&1
wait $pid
assert_status $? 77 "a denied login exits 77"
assert_eq "$(cat "$T/d.out")" "" "nothing on stdout when denied"
assert_match "$(tail -1 "$T/d.err")" "^mailcred: $A: .*denied.*mailcred login" "denied: one line naming the account and the fix"

# Google refuses Gmail's scope in the device flow: say so plainly.
G=me@gmail.com
write_config "$G" "provider = google"
oauth_config '{"device_auth_error":"invalid_scope"}'
out=$(mc login "$G" --flow device 2>"$T/s.err")
assert_status $? 78 "Google's invalid_scope exits 78"
assert_eq "$out" "" "nothing on stdout on invalid_scope"
assert_eq "$(cat "$T/s.err")" "mailcred: $G: Google refuses Gmail's scope in the device flow (invalid_scope): Gmail needs the browser flow: run 'mailcred login $G --flow browser' (over SSH, 'mailcred login $G --flow manual')" "invalid_scope explains what Gmail needs and names the flows that work, naming the account"
oauth_config '{"device_auth_error":null}'

# A locked keyring is found before the user is sent to approve anything.
oauth_reset_stats
lock_keyring
out=$(mc login "$A" --flow device 2>"$T/l.err")
assert_status $? 75 "login with a locked keyring exits 75"
assert_eq "$out" "" "nothing on stdout when the keyring is locked"
assert_match "$(cat "$T/l.err")" "^mailcred: $A: the keyring is locked" "login says the keyring is locked"
assert_eq "$(oauth_stats | jq .device_auths)" 0 "no code was requested for a login that could not be stored"
unlock_keyring
assert_match "$(stored_blob "$A" | jq -r .refresh_token)" '^.{20,}$' "the stored tokens survive the locked keyring"

# Nothing stored yet for a new account: token exits 77 with the fix.
N=new@example.test
write_config "$N"
out=$(mc token "$N" 2>"$T/n.err")
assert_status $? 77 "token before login exits 77"
assert_eq "$out" "" "nothing on stdout when not logged in"
assert_match "$(cat "$T/n.err")" "^mailcred: $N: not logged in: run 'mailcred login $N'$" "not logged in names the command"

finish
