#!/usr/bin/env bash
# Smoke test of the test stack itself (no mailcred binary needed): a real
# gnome-keyring on a private bus, the OAuth server with its test controls,
# the browserless approval scripts, and the SMTP server driven by msmtp.
. "$(dirname "$0")/../lib.sh"

stack_init
start_keyring
start_oauth
start_smtp --password 'pw@example.test:app-pass-1234'

A=user@example.test
CONF_AUTH=(-d client_id=mailcred-conf -d client_secret=conf-secret-1234)
DEVICE_GRANT=urn:ietf:params:oauth:grant-type:device_code

# post PATH CURL-ARGS...: POST to the OAuth server; the body goes to $T/resp,
# the HTTP status is printed.
post() {
	local path=$1
	shift
	curl -sS --max-time 5 -o "$T/resp" -w '%{http_code}' "$@" "$OAUTH_URL$path"
}
resp() { cat "$T/resp"; }

# device_start [CLIENT-ARGS...]: a device authorization; sets DC and UC.
device_start() {
	local st
	[ "$#" -gt 0 ] || set -- "${CONF_AUTH[@]}"
	st=$(post /device/auth "$@" --data-urlencode 'scope=openid offline_access email')
	DC=$(jq -r .device_code "$T/resp" 2>/dev/null)
	UC=$(jq -r .user_code "$T/resp" 2>/dev/null)
	[ "$st" = 200 ]
}

# poll: one device_code token request for $DC; prints the HTTP status.
poll() {
	post /token "${CONF_AUTH[@]}" -d "grant_type=$DEVICE_GRANT" -d "device_code=$DC"
}

# --- Secret Service -------------------------------------------------------
printf %s 'not a real secret' | secret-tool store --label 'peers test' service peers-test user "$A"
assert_status $? 0 "secret-tool store into the test keyring"
assert_eq "$(secret-tool lookup service peers-test user "$A")" 'not a real secret' "secret-tool lookup finds it"
assert_match "$HOME" "^$T/" "HOME is private to the test"
assert_true "[ -f '$XDG_DATA_HOME/keyrings/login.keyring' ]" "the login keyring lives under the test's XDG_DATA_HOME"

lock_keyring
printf x | secret-tool store --label x service peers-test user other 2>"$T/err"
assert_status $? 1 "storing into a locked keyring fails"
assert_match "$(cat "$T/err")" "locked collection" "... with the locked-collection error"
unlock_keyring
assert_eq "$(secret-tool lookup service peers-test user "$A")" 'not a real secret' "unlock_keyring: the item is back"

# --- Device flow ----------------------------------------------------------
oauth_reset_stats
device_start
assert_status $? 0 "device authorization"
assert_match "$(jq -r .verification_uri "$T/resp")" "^$OAUTH_URL/device$" "verification_uri on the test server"
assert_eq "$(jq -r 'has("interval")' "$T/resp")" false "no interval by default (as oidc-provider)"
st=$(poll)
assert_eq "$st $(jq -r .error "$T/resp")" "400 authorization_pending" "pending before approval"
approve_device "$UC" "$A"
assert_status $? 0 "approve_device through the real forms"
st=$(poll)
assert_eq "$st" 200 "the approved poll succeeds"
AT=$(jq -r .access_token "$T/resp")
RT=$(jq -r .refresh_token "$T/resp")
assert_match "$AT" '^[A-Za-z0-9_-]{20,}$' "device flow gives an access token"
assert_match "$RT" '^[A-Za-z0-9_-]{20,}$' "device flow gives a refresh token (offline_access)"
assert_eq "$(curl -sS -H "Authorization: Bearer $AT" "$OAUTH_URL/me" | jq -r '.sub + " " + .email')" "$A $A" \
	"/me names the login as sub and email"
approve_device "$UC" "$A" 2>"$T/err"
assert_status $? 1 "a used user code cannot be approved again"
assert_match "$(cat "$T/err")" "incorrect" "... and approve-device says why"
stats=$(oauth_stats)
assert_eq "$(jq -c '[.device_auths, .device_polls, (.poll_times_ms | length)]' <<<"$stats")" "[1,2,2]" \
	"stats count device authorizations and polls"

# --- Refresh --------------------------------------------------------------
oauth_reset_stats
st=$(post /token "${CONF_AUTH[@]}" -d grant_type=refresh_token --data-urlencode "refresh_token=$RT")
assert_eq "$st" 200 "refresh grant"
AT2=$(jq -r .access_token "$T/resp")
assert_ne "$AT2" "$AT" "refresh gives a new access token"
assert_eq "$(jq -r .refresh_token "$T/resp")" "$RT" "no rotation by default"
post /token "${CONF_AUTH[@]}" -d grant_type=refresh_token -d refresh_token=bogus >/dev/null
assert_eq "$(jq -r .error "$T/resp")" invalid_grant "an unknown refresh token is invalid_grant"
assert_eq "$(oauth_stats | jq -c '[.refresh_grants, .token_requests]')" "[2,2]" \
	"refresh_grants counts every refresh request, failed ones too"

# --- Test controls --------------------------------------------------------
oauth_config '{"device_interval":3,"slow_down_polls":2}'
device_start
assert_eq "$(jq -r .interval "$T/resp")" 3 "device_interval adds interval"
s1=$(poll); e1=$(jq -r .error "$T/resp")
s2=$(poll); e2=$(jq -r .error "$T/resp")
s3=$(poll); e3=$(jq -r .error "$T/resp")
assert_eq "$s1 $e1, $s2 $e2, $s3 $e3" "400 slow_down, 400 slow_down, 400 authorization_pending" \
	"slow_down_polls answers the first N polls of a device code"
oauth_config '{"google_style":true,"slow_down_polls":0,"device_interval":null}'
device_start
assert_eq "$(jq -r '[has("verification_url"), has("verification_uri"), has("interval")] | @csv' "$T/resp")" \
	"true,false,false" "google_style: verification_url; device_interval null: no interval"
st=$(poll)
assert_eq "$st $(jq -r .error "$T/resp")" "428 authorization_pending" "google_style: pending is HTTP 428"
oauth_config '{"google_style":false,"device_auth_error":"invalid_scope"}'
device_start
assert_eq "$(jq -r .error "$T/resp")" invalid_scope "device_auth_error refuses the device authorization"
oauth_config '{"device_auth_error":null,"token_status":503}'
st=$(post /token "${CONF_AUTH[@]}" -d grant_type=refresh_token --data-urlencode "refresh_token=$RT")
assert_eq "$st" 503 "token_status: the token endpoint answers 503"
assert_match "$(resp)" "^<html>" "... with an HTML body"
oauth_reset_config
assert_eq "$(curl -sS "$OAUTH_URL/test/config" | jq -c .)" \
	'{"device_interval":null,"slow_down_polls":0,"google_style":false,"device_auth_error":null,"token_status":null,"refresh_delay_ms":0,"code_delay_ms":0,"token_rewrite":null,"device_poll_error":null,"revocation_status":null,"revocation_error":null}' \
	"oauth_reset_config restores the defaults"
oauth_config '{"no_such_key":1}' 2>/dev/null
assert_status $? 1 "oauth_config refuses an unknown key"

# Denied by the user.
device_start -d client_id=mailcred-public
approve_device "$UC" "$A" --deny
assert_status $? 0 "approve_device --deny"
st=$(post /token -d client_id=mailcred-public -d "grant_type=$DEVICE_GRANT" -d "device_code=$DC")
assert_eq "$st $(jq -r .error "$T/resp")" "400 access_denied" "a denied device code polls access_denied"

# --- Authorization code with PKCE (public client) -------------------------
verifier=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
challenge=$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')
redirect=http://127.0.0.1:49999/
url="$OAUTH_URL/auth?response_type=code&client_id=mailcred-public&redirect_uri=http%3A%2F%2F127.0.0.1%3A49999%2F"
url+="&scope=openid%20offline_access%20email&state=st-42&code_challenge=$challenge&code_challenge_method=S256&prompt=consent"
loc=$(approve_code "$url" "$A")
assert_status $? 0 "approve_code logs in and consents"
assert_match "$loc" "^${redirect}\\?code=[^&]+&state=st-42&iss=" "the final redirect goes to the loopback port with code, state, iss"
code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc")
st=$(post /token -d client_id=mailcred-public -d grant_type=authorization_code -d "code=$code" \
	--data-urlencode "redirect_uri=$redirect" -d "code_verifier=$verifier")
assert_eq "$st" 200 "the code exchanges with the PKCE verifier"
assert_eq "$(jq -r '(.access_token|length > 20), (.refresh_token|length > 20)' "$T/resp" | paste -sd ' ')" "true true" \
	"prompt=consent + offline_access: access and refresh token"
loc=$(approve_code "${url/state=st-42/state=st-43}" "$A" --deny)
assert_match "$loc" "error=access_denied" "approve_code --deny: the redirect carries access_denied"

# --- SMTP with msmtp ------------------------------------------------------
printf '%s' "$AT" >"$T/tokenfile"
chmod 600 "$T/tokenfile"
cat >"$T/msmtprc" <<EOF
defaults
tls on
tls_trust_file $T/cert.pem
logfile $T/msmtp.log

account oauth
host 127.0.0.1
port $SMTP_PORT
tls_starttls on
auth xoauth2
from $A
user $A
passwordeval "cat $T/tokenfile"

account pw
host 127.0.0.1
port $SMTPS_PORT
tls_starttls off
auth plain
from pw@example.test
user pw@example.test
passwordeval "echo app-pass-1234"

account notls
host 127.0.0.1
port $SMTP_PORT
tls off
auth plain
from pw@example.test
user pw@example.test
passwordeval "echo app-pass-1234"

account default : oauth
EOF
chmod 600 "$T/msmtprc"

printf 'From: %s\nTo: friend@example.test\nSubject: peers smoke test\n\nHello.\n' "$A" |
	msmtp -C "$T/msmtprc" -a oauth friend@example.test 2>"$T/msmtp.err"
assert_status $? 0 "msmtp sends with XOAUTH2 over STARTTLS"
assert_match "$(cat "$T/mail/1.eml" 2>/dev/null)" "Subject: peers smoke test" "the message arrived in \$T/mail"
assert_eq "$(jq -c '[.from, .to, .user, .method]' "$T/mail/1.json" 2>/dev/null)" \
	"[\"$A\",[\"friend@example.test\"],\"$A\",\"XOAUTH2\"]" "its envelope, user and method are recorded"
assert_eq "$(tail -n 1 "$T/smtp-auth.log")" "XOAUTH2 $A ok userinfo" "the auth log names method, user and how"

printf '%s' 'bad-token-123' >"$T/tokenfile"
printf 'Subject: x\n\nx\n' | msmtp -C "$T/msmtprc" -a oauth friend@example.test 2>"$T/msmtp.err"
assert_status $? 77 "a bad token: msmtp fails (exit 77)"
assert_eq "$(tail -n 1 "$T/smtp-auth.log")" "XOAUTH2 $A fail userinfo-401" "the server refused it after asking /me"
printf '%s' "$AT" >"$T/tokenfile"
printf 'Subject: x\n\nx\n' | msmtp -C "$T/msmtprc" -a oauth --user other@example.test friend@example.test 2>/dev/null
assert_status $? 77 "a valid token for another user is refused"

printf 'From: pw@example.test\nSubject: pw\n\nx\n' | msmtp -C "$T/msmtprc" -a pw friend@example.test 2>"$T/msmtp.err"
assert_status $? 0 "msmtp sends with PLAIN over implicit TLS"
assert_eq "$(jq -r .method "$T/mail/2.json" 2>/dev/null)" PLAIN "... recorded as PLAIN"
printf 'Subject: x\n\nx\n' | msmtp -C "$T/msmtprc" -a notls friend@example.test 2>"$T/msmtp.err"
assert_true "[ $? -ne 0 ]" "no AUTH without TLS on the STARTTLS port"
{ printf 'Subject: big\n\n'; head -c 11000000 /dev/zero | tr '\0' a | fold -w 998; } >"$T/big.eml"
curl -sS --cacert "$T/cert.pem" "smtps://127.0.0.1:$SMTPS_PORT/client.test" -u pw@example.test:app-pass-1234 \
	--mail-from pw@example.test --mail-rcpt friend@example.test -T "$T/big.eml" 2>"$T/curl.err"
assert_status $? 55 "curl: a message over 10 MB is refused"
assert_match "$(cat "$T/curl.err")" "552" "... with 552"
rm -f "$T/big.eml"
assert_eq "$(find "$T/mail" -name '*.eml' | wc -l)" 2 "exactly the two good messages were accepted"
assert_no_match "$(cat "$T"/*.log)" "$AT|$RT|app-pass-1234" "no peer log holds a token or the password"

# --- Revocation, restart, rotation ----------------------------------------
oauth_reset_stats
post /token/revocation "${CONF_AUTH[@]}" --data-urlencode "token=$RT" -d token_type_hint=refresh_token >/dev/null
assert_eq "$(oauth_stats | jq .revocations)" 1 "revocations are counted"
st=$(post /token "${CONF_AUTH[@]}" -d grant_type=refresh_token --data-urlencode "refresh_token=$RT")
assert_eq "$st $(jq -r .error "$T/resp")" "400 invalid_grant" "a revoked refresh token is invalid_grant"

old_url=$OAUTH_URL
restart_oauth --rotate --access-ttl 1
assert_eq "$OAUTH_URL" "$old_url" "restart_oauth keeps the issuer URL"
assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT2" "$OAUTH_URL/me")" 401 \
	"after a restart, old access tokens are unknown"
device_start
approve_device "$UC" "$A"
poll >/dev/null
RT=$(jq -r .refresh_token "$T/resp")
AT=$(jq -r .access_token "$T/resp")
assert_eq "$(jq -r .expires_in "$T/resp")" 1 "--access-ttl sets expires_in"
post /token "${CONF_AUTH[@]}" -d grant_type=refresh_token --data-urlencode "refresh_token=$RT" >/dev/null
RT2=$(jq -r .refresh_token "$T/resp")
assert_match "$RT2" '^[A-Za-z0-9_-]{20,}$' "--rotate: the refresh answer has a refresh token"
assert_ne "$RT2" "$RT" "--rotate: it is a new one"
st=$(post /token "${CONF_AUTH[@]}" -d grant_type=refresh_token --data-urlencode "refresh_token=$RT")
assert_eq "$st $(jq -r .error "$T/resp")" "400 invalid_grant" "--rotate: the old refresh token is dead"
sleep 1.1
assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT" "$OAUTH_URL/me")" 401 \
	"--access-ttl: the server itself refuses the token once expired"

# --- Cleanup check --------------------------------------------------------
pids="$BUS_PID $KEYRING_PID $OAUTH_PID $SMTP_PID"
stack_stop
left=
for p in $pids; do
	_pid_alive "$p" && left="$left $p"
done
assert_eq "$left" "" "stack_stop leaves no process running"
assert_true "[ ! -d '$T' ] || [ '${KEEP_TMP:-0}' = 1 ]" "stack_stop removes \$T"

finish
