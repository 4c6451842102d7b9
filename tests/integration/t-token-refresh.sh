#!/usr/bin/env bash
# mailcred token: refresh, rotation, single flight under concurrency,
# invalid_grant, an unreachable or failing server, and redacted traces.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth --rotate
A=user@example.test
write_config "$A" "on_reauth = echo \"reauth \$MAILCRED_ACCOUNT\" >> $T/reauth.log"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "device login succeeds"

# --refresh gets a new access token and stores the rotated refresh token.
at0=$(mc token "$A")
rt0=$(stored_blob "$A" | jq -r .refresh_token)
oauth_reset_stats
at1=$(mc token "$A" --refresh)
assert_status $? 0 "token --refresh succeeds"
assert_ne "$at1" "$at0" "--refresh gives a new access token"
rt1=$(stored_blob "$A" | jq -r .refresh_token)
assert_ne "$rt1" "$rt0" "the rotated refresh token is stored"
assert_eq "$(stored_blob "$A" | jq -r .access_token)" "$at1" "the printed token is the stored one"
# The old refresh token is dead after rotation: a second refresh only works
# because the new one was kept.
mc token "$A" --refresh >/dev/null
assert_status $? 0 "a second refresh works with the rotated token"
assert_eq "$(oauth_stats | jq .refresh_grants)" 2 "two refreshes reached the server"

# Many concurrent callers on an expired token: exactly one refresh.
age_token "$A"
assert_eq "$(stored_blob "$A" | jq .expires_at)" 1000 "the cached token is made stale"
oauth_reset_stats
for i in $(seq 1 8); do
	mc token "$A" >"$T/c.$i.out" 2>"$T/c.$i.err" &
	pids[i]=$!
done
fails=0
for i in $(seq 1 8); do
	wait "${pids[$i]}" || fails=$((fails + 1))
done
assert_eq "$fails" 0 "all 8 concurrent callers succeed"
assert_eq "$(oauth_stats | jq .refresh_grants)" 1 "8 concurrent callers cause exactly one refresh"
assert_eq "$(cat "$T"/c.*.out | sort -u | wc -l)" 1 "all callers print the same token"
assert_eq "$(cat "$T"/c.1.out)" "$(stored_blob "$A" | jq -r .access_token)" "and it is the stored one"

# -v traces the exchange with every secret redacted.
mc -v token "$A" --refresh >"$T/v.out" 2>"$T/v.err"
assert_status $? 0 "token -v --refresh succeeds"
new_at=$(cat "$T/v.out")
new_rt=$(stored_blob "$A" | jq -r .refresh_token)
assert_match "$(cat "$T/v.err")" "grant_type=refresh_token&refresh_token=%5Bredacted%5D" "-v shows the request with the refresh token redacted"
assert_match "$(cat "$T/v.err")" '"access_token":"\[redacted\]"' "-v shows the answer with the access token redacted"
assert_no_match "$(cat "$T/v.err")" "$new_at" "-v never shows the access token"
assert_no_match "$(cat "$T/v.err")" "$new_rt" "-v never shows the refresh token"
assert_no_match "$(cat "$T/v.err")" "$CLIENT_SECRET" "-v never shows the client secret"

# The server fails with 503: exit 75, nothing on stdout, nothing lost.
oauth_config '{"token_status":503}'
out=$(mc token "$A" --refresh 2>"$T/e.err")
assert_status $? 75 "a 5xx from the token endpoint exits 75"
assert_eq "$out" "" "nothing on stdout on 5xx"
assert_match "$(cat "$T/e.err")" "^mailcred: $A: .*503.*try again" "5xx: one line with advice"
oauth_config '{"token_status":null}'
assert_eq "$(stored_blob "$A" | jq -r .refresh_token)" "$new_rt" "the refresh token survives a failed refresh"

# invalid_grant: the in-memory server forgets every grant on restart.
restart_oauth --rotate
out=$(mc token "$A" --refresh 2>"$T/g.err")
assert_status $? 77 "invalid_grant exits 77"
assert_eq "$out" "" "nothing on stdout on invalid_grant"
assert_match "$(cat "$T/g.err")" "^mailcred: $A: the grant was revoked or has expired.*run 'mailcred login $A'" "invalid_grant says to log in again"
assert_eq "$(wc -l <"$T/g.err")" 1 "invalid_grant: exactly one line"
assert_eq "$(cat "$T/reauth.log" 2>/dev/null)" "reauth $A" "on_reauth ran with MAILCRED_ACCOUNT"
assert_eq "$(stored_blob "$A" | jq -r .refresh_token)" "$new_rt" "the refresh token is not dropped on invalid_grant"
# The grant is gone, and with it its access token (auth/token.h): the next
# call says to log in instead of handing out a token of a dead grant.
out=$(mc token "$A" --min-valid 0 2>"$T/g2.err")
assert_status $? 77 "after invalid_grant no access token of the grant is served"
assert_match "$(cat "$T/g2.err")" "run 'mailcred login $A'" "the next call says to log in"
assert_eq "$(stored_blob "$A" | jq -r .refresh_token)" "$new_rt" "the refresh token is still kept"

# The server is unreachable: exit 75.
stop_oauth
out=$(mc token "$A" --refresh 2>"$T/u.err")
assert_status $? 75 "an unreachable server exits 75"
assert_eq "$out" "" "nothing on stdout when unreachable"
assert_match "$(cat "$T/u.err")" "^mailcred: $A: cannot reach 127.0.0.1:[0-9]+: .*try again" "unreachable: one line with advice"

finish
