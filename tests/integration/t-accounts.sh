#!/usr/bin/env bash
# mailcred accounts [--json]: every configured account, in file order, with
# what the store holds for it; it only reads (no refresh, no secret shown).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
oauth_config '{"device_interval":1}'
IN=in@example.test		# oauth2, logged in
OUT=out@example.test		# oauth2, never logged in
PW=pw@example.test		# app password stored
NOPW=nopw@example.test		# app password not stored
BAD=bad@example.test		# does not resolve
FI=file@example.test		# oauth2 in the file store, logged in
write_config "$IN"
write_config "$OUT"
write_config "$PW" "auth = password"
write_config "$NOPW" "auth = password"
printf '[account %s]\nprovider = nosuch\n\n' "$BAD" >>"$CONF"
write_config "$FI" "store = file"

login_device "$IN"
assert_status "$LOGIN_RC" 0 "login $IN"
login_device "$FI"
assert_status "$LOGIN_RC" 0 "login $FI"
printf 'app-pass-word-1234' | mc password set "$PW" 2>/dev/null
in_blob=$(stored_blob "$IN")
secrets=("$(jq -r .access_token <<<"$in_blob")" "$(jq -r .refresh_token <<<"$in_blob")"
	app-pass-word-1234 "$CLIENT_SECRET")
exp_in=$(jq -r .expires_at <<<"$in_blob")

oauth_reset_stats
json=$(mc accounts --json 2>"$T/err")
assert_status $? 0 "accounts --json exits 0 though one account does not resolve"
assert_eq "$(jq -r type <<<"$json" 2>/dev/null)" array "--json prints one JSON array"
assert_eq "$(jq -c '[.[].account]' <<<"$json")" "[\"$IN\",\"$OUT\",\"$PW\",\"$NOPW\",\"$BAD\",\"$FI\"]" "every account, in file order"
assert_eq "$(jq -c '[.[] | keys_unsorted | sort] | unique' <<<"$json")" \
	'[["account","auth","error","expires_at","flow","logged_in","password_stored","provider","store"]]' \
	"every object has exactly the documented members"

# acct NAME FILTER: a member of NAME's object, compact.
acct() {
	jq -c --arg n "$1" ".[] | select(.account == \$n) | $2" <<<"$json"
}
assert_eq "$(acct "$IN" '[.auth,.store,.flow,.logged_in,.password_stored,.error]')" '["oauth2","keyring","device",true,null,null]' "logged-in oauth2 account"
assert_eq "$(acct "$IN" .expires_at)" "$exp_in" "its access token's expiry is the stored one"
assert_eq "$(acct "$IN" .provider)" null "no provider: endpoints in the account"
assert_eq "$(acct "$OUT" '[.auth,.logged_in,.expires_at,.error]')" '["oauth2",false,null,null]' "oauth2 account not logged in"
assert_eq "$(acct "$PW" '[.auth,.flow,.logged_in,.password_stored,.expires_at]')" '["password",null,null,true,null]' "password account with a stored password"
assert_eq "$(acct "$NOPW" '[.auth,.password_stored]')" '["password",false]' "password account without a password"
assert_eq "$(acct "$BAD" '[.auth,.store,.logged_in]')" '[null,null,null]' "an account that does not resolve has no details"
assert_match "$(acct "$BAD" .error)" "nosuch" "and its error names the problem"
assert_eq "$(acct "$FI" '[.store,.logged_in]')" '["file",true]' "logged-in account in the file store"

table=$(mc accounts 2>"$T/err")
assert_status $? 0 "accounts exits 0"
assert_eq "$(wc -l <<<"$table")" 7 "the table: a header and one line per account"
assert_match "$(head -1 <<<"$table")" "^ACCOUNT +PROVIDER +AUTH +STORE +EXPIRES +STATUS$" "the table's header"
line() {
	grep "^$1 " <<<"$table"
}
assert_match "$(line "$IN")" "^$IN +- +oauth2 +keyring +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +logged in$" "table: logged in, with the expiry"
assert_match "$(line "$OUT")" " oauth2 +keyring +- +not logged in$" "table: not logged in"
assert_match "$(line "$PW")" " password +keyring +- +password stored$" "table: password stored"
assert_match "$(line "$NOPW")" " password +keyring +- +no password stored$" "table: no password stored"
assert_match "$(line "$BAD")" " error \\(.*nosuch" "table: the error of an account that does not resolve"
assert_match "$(line "$FI")" " oauth2 +file +.* logged in$" "table: the file store"
# Aligned: on every line, the STATUS column starts where its header does.
head=$(head -1 <<<"$table")
pos=${head%%STATUS}
pos=${#pos}
cols=$(while IFS= read -r l; do
	case ${l:$pos} in
	STATUS | "logged in" | "not logged in" | "password stored" | \
	"no password stored" | "error ("*) [ "${l:$((pos - 1)):1}" = " " ] && echo ok ;;
	*) echo "bad: $l" ;;
	esac
done <<<"$table" | sort -u)
assert_eq "$cols" ok "the STATUS column is aligned"

for s in "${secrets[@]}"; do
	assert_no_match "$json$table$(cat "$T/err")" "$s" "no secret in the output (${s:0:4}...)"
done
assert_eq "$(oauth_stats | jq '.token_requests + .refresh_grants')" 0 "accounts makes no request to the server"

# An expired access token is listed as such, and still not refreshed.
set_stored_blob "$IN" "$(jq -c '.expires_at = 1000000000' <<<"$in_blob")"
out=$(mc accounts 2>/dev/null)
assert_match "$(grep "^$IN " <<<"$out")" "2001-09-.* \\(expired\\) +logged in$" "an expired access token is shown expired"
assert_eq "$(oauth_stats | jq .refresh_grants)" 0 "an expired token is not refreshed"

# A locked keyring: listed as unknown, not fatal; the file store still read.
lock_keyring
json=$(mc accounts --json 2>"$T/err")
assert_status $? 0 "accounts with a locked keyring exits 0"
assert_eq "$(acct "$IN" .logged_in)" null "locked: logged_in is unknown"
assert_match "$(acct "$IN" .error)" "keyring is locked" "locked: the error says so"
assert_eq "$(acct "$PW" .password_stored)" null "locked: password_stored is unknown"
assert_eq "$(acct "$FI" .logged_in)" true "locked keyring: the file store account is still read"
out=$(mc accounts 2>/dev/null)
assert_match "$(grep "^$IN " <<<"$out")" "unknown \\(the keyring is locked\\)$" "table: unknown (the keyring is locked)"
unlock_keyring

# The configuration file itself fails: 78, one line, nothing on stdout.
out=$(mc -c "$T/nonexistent" accounts 2>"$T/err")
assert_status $? 78 "a missing configuration file exits 78"
assert_eq "$out" "" "nothing on stdout when the file is missing"
assert_eq "$(wc -l <"$T/err")" 1 "one line on stderr"
out=$(mc accounts extra 2>"$T/err")
assert_status $? 64 "an operand is a usage error"

finish
