#!/usr/bin/env bash
# The device flow's endings other than approval, as the server answers
# them (oidc-provider with the test server's device_poll_error knob):
# expired_token, access_denied, Microsoft's authorization_declined. Each
# ends the wait at once with exit 77 and one line naming the account and
# the fix; a failed login leaves the stored grant alone.
# (t-login-device.sh covers a real denial through the consent pages,
# Google's verification_url and 428 pending, and slow_down's extra 5 s as
# measured by the server.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
A=user@example.test
write_config "$A"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "a first login succeeds"
before=$(stored_blob "$A")

# try_error ERROR: a login whose polls are all answered with ERROR.
try_error() {
	oauth_reset_stats
	oauth_config "{\"device_poll_error\":\"$1\"}"
	mc login "$A" --flow device >"$T/out" 2>"$T/err"
	RC=$?
	oauth_config '{"device_poll_error":null}'
}

try_error expired_token
assert_status "$RC" 77 "expired_token exits 77"
assert_eq "$(cat "$T/out")" "" "expired_token: nothing on stdout"
assert_match "$(tail -1 "$T/err")" "^mailcred: $A: the code expired before it was approved: run 'mailcred login $A' again$" "expired_token: one clear line with the fix"
assert_eq "$(oauth_stats | jq .device_polls)" 1 "expired_token ends the wait at the first answer"
assert_eq "$(stored_blob "$A")" "$before" "expired_token: the stored grant is untouched"

try_error access_denied
assert_status "$RC" 77 "access_denied exits 77"
assert_eq "$(cat "$T/out")" "" "access_denied: nothing on stdout"
assert_match "$(tail -1 "$T/err")" "^mailcred: $A: the login was denied at the provider: run 'mailcred login $A' again and approve it$" "access_denied: one clear line with the fix"
assert_eq "$(oauth_stats | jq .device_polls)" 1 "access_denied ends the wait at the first answer"

try_error authorization_declined
assert_status "$RC" 77 "Microsoft's authorization_declined exits 77"
assert_match "$(tail -1 "$T/err")" "^mailcred: $A: the login was denied at the provider" "authorization_declined reads as a denial"
assert_eq "$(stored_blob "$A")" "$before" "after three failed logins the stored grant is untouched"

# The old grant still works after the failed logins.
out=$(mc token "$A" --refresh 2>"$T/err")
assert_status $? 0 "the old grant still refreshes"

finish
