#!/usr/bin/env bash
# mailcred logout against a real OAuth server (oidc-provider): the grant is
# revoked at the server (RFC 7009), everything the store holds for the
# account is deleted, even when revocation fails, and a second logout is a
# quiet success.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
oauth_config '{"device_interval":1}'
REVOKE="revocation_endpoint = $OAUTH_URL/token/revocation"
A=user@example.test
write_config "$A" "$REVOKE"

# revocations: what the server counted.
revocations() {
	oauth_stats | jq .revocations
}

login_device "$A"
assert_status "$LOGIN_RC" 0 "device login succeeds"
old=$(stored_blob "$A")
old_rt=$(jq -r .refresh_token <<<"$old")
old_at=$(jq -r .access_token <<<"$old")
assert_match "$old_rt" '^.{20,}$' "a refresh token is stored"

# Logout: one revocation at the server, nothing left in the keyring.
oauth_reset_stats
out=$(mc logout "$A" 2>"$T/err")
assert_status $? 0 "logout exits 0"
assert_eq "$out" "" "logout prints nothing on stdout"
assert_match "$(cat "$T/err")" "^mailcred: $A: logged out: the grant was revoked and the tokens were deleted from the keyring$" "logout says what it did, naming the account"
assert_eq "$(revocations)" 1 "the server counted one revocation"
assert_eq "$(stored_blob "$A")" "" "the keyring holds no tokens for the account"
assert_eq "$(secret-tool search --all account "$A" 2>&1)" "" "the keyring holds nothing at all for the account"
assert_no_match "$(cat "$T/err")" "$old_rt|$old_at" "no token in logout's output"

out=$(mc token "$A" 2>"$T/err")
assert_status $? 77 "token after logout exits 77"
assert_match "$(cat "$T/err")" "^mailcred: $A: not logged in: run 'mailcred login $A'$" "token after logout says not logged in"

# The old refresh token is dead at the server: put it back and refresh.
set_stored_blob "$A" "$old"
oauth_reset_stats
out=$(mc token "$A" --refresh 2>"$T/err")
assert_status $? 77 "a refresh with the revoked refresh token exits 77"
assert_match "$(tail -1 "$T/err")" "^mailcred: $A: the grant was revoked or has expired \\(invalid_grant" "the server refuses the revoked refresh token"
assert_eq "$(oauth_stats | jq .refresh_grants)" 1 "the refresh reached the server"
mc -q logout "$A" 2>/dev/null

# Idempotent: nothing stored is a quiet success, and nothing is revoked.
oauth_reset_stats
out=$(mc logout "$A" 2>"$T/err")
assert_status $? 0 "a second logout exits 0"
assert_eq "$out" "" "a second logout prints nothing on stdout"
assert_match "$(cat "$T/err")" "^mailcred: $A: nothing stored for $A" "a second logout says nothing was stored"
assert_eq "$(revocations)" 0 "a second logout revokes nothing"

# Revocation fails (the server answers 503): the tokens go all the same,
# the line says so and where to revoke by hand, exit 75.
login_device "$A"
assert_status "$LOGIN_RC" 0 "login again"
kept_blob=$(stored_blob "$A")
oauth_reset_stats
oauth_config '{"revocation_status":503}'
out=$(mc logout "$A" 2>"$T/err")
assert_status $? 75 "logout with a failing revocation exits 75"
assert_eq "$out" "" "nothing on stdout when revocation fails"
assert_eq "$(wc -l <"$T/err")" 1 "one line on stderr"
assert_match "$(cat "$T/err")" "^mailcred: $A: the tokens were deleted from the keyring, but revoking the refresh token failed: .*HTTP 503.*: the grant stays valid at the provider until it expires; revoke it by hand in the provider's account settings" "the line says the tokens are gone but the grant is not"
assert_eq "$(revocations)" 1 "the revocation was tried"
assert_eq "$(stored_blob "$A")" "" "the tokens are deleted though revocation failed"
oauth_config '{"revocation_status":null}'
# The message is true: the grant still works at the server.
set_stored_blob "$A" "$kept_blob"
out=$(mc token "$A" --refresh 2>"$T/err")
assert_status $? 0 "the unrevoked grant still refreshes"
mc -q logout "$A" 2>/dev/null

# Google answers 400 invalid_token for a token already revoked: that is
# a logout, exit 0.
login_device "$A"
oauth_reset_stats
oauth_config '{"revocation_error":"invalid_token"}'
out=$(mc logout "$A" 2>"$T/err")
assert_status $? 0 "400 invalid_token (already revoked) is a logout: exit 0"
assert_match "$(cat "$T/err")" "^mailcred: $A: logged out: the grant was revoked and the tokens were deleted" "invalid_token: logged out"
assert_eq "$(revocations)" 1 "invalid_token: one revocation request"
assert_eq "$(stored_blob "$A")" "" "invalid_token: the tokens are deleted"

# Another OAuth error (unsupported_token_type): deleted all the same, exit
# 69, one line with the provider's error and where to revoke by hand.
login_device "$A"
oauth_config '{"revocation_error":"unsupported_token_type"}'
out=$(mc logout "$A" 2>"$T/err")
assert_status $? 69 "unsupported_token_type: exit 69"
assert_eq "$(wc -l <"$T/err")" 1 "unsupported_token_type: one line on stderr"
assert_match "$(cat "$T/err")" "^mailcred: $A: the tokens were deleted from the keyring, but .*unsupported_token_type.*revoke it by hand" "unsupported_token_type: the line names the error and the fix"
assert_eq "$(stored_blob "$A")" "" "unsupported_token_type: the tokens are deleted"
oauth_config '{"revocation_error":null}'

# The server is down: exit 75 as well, the tokens are gone.
login_device "$A"
stop_oauth
out=$(mc logout "$A" 2>"$T/err")
assert_status $? 75 "logout with the server down exits 75"
assert_match "$(cat "$T/err")" "^mailcred: $A: the tokens were deleted from the keyring, but revoking the refresh token failed: cannot reach 127.0.0.1:$OAUTH_PORT: .*: the grant stays valid" "the line says the server could not be reached"
assert_eq "$(stored_blob "$A")" "" "the tokens are deleted with the server down"
restart_oauth
oauth_config '{"device_interval":1}'

# A locked keyring: exit 75 with the fix, nothing deleted, nothing revoked.
login_device "$A"
oauth_reset_stats
lock_keyring
out=$(mc logout "$A" 2>"$T/err")
assert_status $? 75 "logout with a locked keyring exits 75"
assert_match "$(cat "$T/err")" "^mailcred: $A: the keyring is locked" "logout says the keyring is locked"
assert_eq "$(revocations)" 0 "nothing is revoked while the keyring is locked"
unlock_keyring
assert_match "$(stored_blob "$A" | jq -r .refresh_token)" '^.{20,}$' "the tokens survive a logout refused by a locked keyring"
mc -q logout "$A" 2>/dev/null

# An app password goes too.
P=pw@example.test
write_config "$P" "auth = password"
printf 'app-pass-word-1234' | mc password set "$P" 2>/dev/null
out=$(mc logout "$P" 2>"$T/err")
assert_status $? 0 "logout of a password account exits 0"
assert_match "$(cat "$T/err")" "^mailcred: $P: logged out: the app password was deleted from the keyring$" "logout says the app password was deleted"
out=$(mc password get "$P" 2>/dev/null)
assert_status $? 77 "no app password after logout"
assert_eq "$out" "" "nothing printed for the deleted password"

# The file store, with a recovery file beside it.
F=file@example.test
write_config "$F" "$REVOKE" "store = file"
login_device "$F"
assert_status "$LOGIN_RC" 0 "login into the file store"
dir=$XDG_DATA_HOME/mailcred
assert_true "[ -s '$dir/$F.oauth2' ]" "the file store holds the tokens"
# A recovery file (as left when the store refused a rotated token).
cp "$dir/$F.oauth2" "$dir/.state/$F.recovery-file"
chmod 600 "$dir/.state/$F.recovery-file"
oauth_reset_stats
out=$(mc logout "$F" 2>"$T/err")
assert_status $? 0 "logout from the file store exits 0"
assert_match "$(cat "$T/err")" "logged out: the grant was revoked and the tokens were deleted from the file" "logout names the file store"
assert_eq "$(revocations)" 1 "file store: the server counted one revocation"
assert_true "[ ! -e '$dir/$F.oauth2' ]" "the token file is deleted"
assert_true "[ ! -e '$dir/.state/$F.recovery-file' ]" "the recovery file is deleted"
out=$(mc token "$F" 2>"$T/err")
assert_status $? 77 "file store: token after logout exits 77"

# Microsoft has no revocation endpoint: deleted, and the line says where
# to revoke by hand; not an error.
M=ms@example.test
write_config "$M" "provider = microsoft"
login_device "$M"
assert_status "$LOGIN_RC" 0 "login with the microsoft preset"
oauth_reset_stats
out=$(mc logout "$M" 2>"$T/err")
assert_status $? 0 "logout without a revocation endpoint exits 0"
assert_match "$(cat "$T/err")" "^mailcred: $M: logged out: the tokens were deleted from the keyring; the provider has no revocation endpoint.*revoke it by hand at https://account.live.com/consent/Manage" "logout says the grant stays and where to revoke it"
assert_eq "$(revocations)" 0 "no revocation request without an endpoint"
assert_eq "$(stored_blob "$M")" "" "microsoft: the tokens are deleted"

# A stored token set that does not parse: accounts shows it as an error,
# logout deletes it and says nothing could be revoked.
U=unreadable@example.test
write_config "$U" "$REVOKE"
set_stored_blob "$U" 'not json at all'
out=$(mc accounts --json 2>"$T/err")
assert_eq "$(printf '%s' "$out" | jq -r --arg u "$U" '.[] | select(.account == $u) | [(.logged_in | tostring), (.error // "" | test("unreadable") | tostring)] | @tsv')" \
	"$(printf 'null\ttrue')" "accounts: unreadable tokens are an error, not 'not logged in'"
oauth_reset_stats
out=$(mc logout "$U" 2>"$T/err")
assert_status $? 0 "logout of unreadable tokens exits 0"
assert_match "$(cat "$T/err")" "^mailcred: $U: logged out: the tokens were deleted from the keyring, but the stored tokens were unreadable, so nothing could be revoked" "logout says nothing could be revoked"
assert_eq "$(revocations)" 0 "nothing to revoke: no request"
assert_eq "$(stored_blob "$U")" "" "the unreadable set is deleted"

out=$(mc logout 2>"$T/err")
assert_status $? 64 "logout without ACCOUNT is a usage error"

finish
