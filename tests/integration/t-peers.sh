#!/usr/bin/env bash
# Smoke test of the test stack itself (no mailcred binary needed): a real
# gnome-keyring on a private bus, the OAuth server with its test controls,
# the browserless approval scripts, the SMTP server driven by msmtp, curl
# and raw dialogues (OAUTHBEARER, the error challenges, every knob of
# smtp-control.json), Dovecot's IMAP and POP3 driven by curl, the black
# hole port and free_port.
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
	'{"device_interval":null,"slow_down_polls":0,"google_style":false,"device_auth_error":null,"token_status":null,"refresh_delay_ms":0,"code_delay_ms":0,"token_rewrite":null,"device_poll_error":null,"revocation_status":null,"revocation_error":null,"refresh_reuse_ms":0}' \
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
assert_eq "$(tail -n 2 "$T/smtp-auth.log")" "XOAUTH2 $A fail userinfo-401"$'\n'"XOAUTH2 $A challenge-answered" \
	"the server refused it after asking /me; msmtp answered the challenge"
printf '%s' "$AT" >"$T/tokenfile"
printf 'Subject: x\n\nx\n' | msmtp -C "$T/msmtprc" -a oauth --user other@example.test friend@example.test 2>/dev/null
assert_status $? 77 "a valid token for another user is refused"

printf 'From: pw@example.test\nSubject: pw\n\nx\n' | msmtp -C "$T/msmtprc" -a pw friend@example.test 2>"$T/msmtp.err"
assert_status $? 0 "msmtp sends with PLAIN over implicit TLS"
assert_eq "$(jq -r .method "$T/mail/2.json" 2>/dev/null)" PLAIN "... recorded as PLAIN"
printf 'Subject: x\n\nx\n' | msmtp -C "$T/msmtprc" -a notls friend@example.test 2>"$T/msmtp.err"
assert_true "[ $? -ne 0 ]" "no AUTH without TLS on the STARTTLS port"
assert_eq "$(find "$T/mail" -name '*.eml' | wc -l)" 2 "exactly the two good messages were accepted"
assert_eq "$(jq -c '[.tls, .ehlo]' "$T/mail/1.json" 2>/dev/null)" '[true,"localhost"]' \
	"a message sent after STARTTLS is recorded as TLS, with msmtp's EHLO name"

# --- Black hole and free port (the slow check runs meanwhile) --------------
# ms_since START [END]: milliseconds between two $EPOCHREALTIME values.
ms_since() {
	awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%d", (b - a) * 1000 }'
}
start_blackhole
(
	s=$EPOCHREALTIME
	curl -sS --connect-timeout 2 "http://127.0.0.1:$BLACKHOLE_PORT/" 2>"$T/blackhole.err"
	echo "$? $s $EPOCHREALTIME" >"$T/blackhole.rc"
) &
blackhole_job=$!
fp=$(free_port)
curl -sS --connect-timeout 2 "http://127.0.0.1:$fp/" 2>"$T/curl.err"
assert_status $? 7 "free_port: a connection is refused (7, not 28: no timeout)"

# --- SMTP: OAUTHBEARER, what a message records, the control file ----------
printf 'From: %s\r\nTo: friend@example.test\r\nSubject: knobs\r\n\r\nHello.\r\n' "$A" >"$T/msg"
nmail() { find "$T/mail" -name '*.json' | wc -l; }
# smtp_curl ARGS...: curl's SMTP client on the implicit-TLS port with EHLO
# client.test, sending $MSG (default $T/msg); the protocol lines it saw go
# to $T/tr; returns curl's status.
smtp_curl() {
	local rc
	curl -sS -v --max-time 5 --cacert "$T/cert.pem" "smtps://127.0.0.1:$SMTPS_PORT/client.test" \
		--mail-from "$A" --mail-rcpt friend@example.test -T "${MSG:-$T/msg}" "$@" 2>"$T/curl.err"
	rc=$?
	grep -E '^[<>] ' "$T/curl.err" | tr -d '\r' >"$T/tr"
	return "$rc"
}
tr_() { cat "$T/tr"; }
bearer=(--oauth2-bearer "$AT" -u "$A:")
pw=(-u pw@example.test:app-pass-1234)
plain_ir=$(printf '\0pw@example.test\0app-pass-1234' | base64 -w0)

n=$(nmail)
smtp_curl "${bearer[@]}"
assert_status $? 0 "curl sends with a bearer token over implicit TLS"
assert_match "$(tr_)" $'> AUTH OAUTHBEARER\n< 334 \n' "... choosing OAUTHBEARER, which the server offers"
assert_eq "$(jq -c '[.method, .ehlo, .tls, (.mail_params | keys)]' "$T/mail/$((n + 1)).json" 2>/dev/null)" \
	'["OAUTHBEARER","client.test",true,["SIZE"]]' "the message records method, EHLO name, TLS, MAIL FROM parameters"
out=$(smtp_talk "$SMTPS_PORT" "EHLO client.test" "AUTH PLAIN $plain_ir" \
	"MAIL FROM:<pw@example.test> BODY=8BITMIME SMTPUTF8" "RCPT TO:<friend@example.test>" DATA \
	$'Subject: params\r\n\r\nx\r\n.' QUIT)
assert_match "$out" $'\n250 2.6.0 Message queued as [0-9]+\n221 ' "smtp_talk: a whole raw dialogue"
assert_eq "$(jq -c .mail_params "$T/mail/$((n + 2)).json" 2>/dev/null)" '{"BODY":"8BITMIME","SMTPUTF8":true}' \
	"BODY and SMTPUTF8 are recorded"

smtp_curl --oauth2-bearer bad-token -u "$A:"
assert_status $? 67 "a refused OAUTHBEARER token: curl reports login denied"
ch=$(sed -n 's/^< 334 \(..*\)$/\1/p' "$T/tr" | base64 -d 2>/dev/null)
assert_eq "$ch" '{"status":"invalid_token","scope":"https://mail.google.com/"}' "... after the RFC 7628 error challenge"
assert_match "$(tr_)" $'> AQ==\n< 535 5.7.8 ' "... which curl answers with AQ==: then 535 5.7.8"
assert_eq "$(tail -n 2 "$T/smtp-auth.log")" "OAUTHBEARER $A fail userinfo-401"$'\n'"OAUTHBEARER $A challenge-answered" \
	"auth log: refused at /me, then the challenge answered"

x2=$(printf 'user=%s\001auth=Bearer bad-token\001\001' "$A" | base64 -w0)
out=$(smtp_talk "$SMTPS_PORT" "EHLO client.test" "AUTH XOAUTH2 $x2")
assert_eq "$(sed -n 's/^334 //p' <<<"$out" | base64 -d 2>/dev/null)" \
	'{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}' "XOAUTH2: a refused token gets Gmail's challenge"
smtp_auth_wait "^XOAUTH2 $A challenge-abandoned" >/dev/null
assert_status $? 0 "a client that hangs up instead of answering: challenge-abandoned"

smtp_control '{"xoauth2_challenge":null,"oauthbearer_challenge":null}'
printf '%s' 'bad-token-123' >"$T/tokenfile"
printf 'Subject: x\n\nx\n' | msmtp -C "$T/msmtprc" -a oauth friend@example.test 2>"$T/msmtp.err"
assert_status $? 77 "xoauth2_challenge null: msmtp's bad token is refused"
assert_match "$(cat "$T/msmtp.err")" "535 5.7.3 Authentication unsuccessful" "... Microsoft's way, 535 5.7.3 at once"
smtp_curl --oauth2-bearer bad-token -u "$A:"
assert_eq "$(grep -c '^< 334 .' "$T/tr")" 0 "oauthbearer_challenge null: no challenge"
assert_match "$(tr_)" "< 535 5.7.3 Authentication unsuccessful" "... 535 5.7.3 instead"
smtp_control '{"xoauth2_challenge":{"status":"401","schemes":"bearer","scope":"custom"}}'
out=$(smtp_talk "$SMTPS_PORT" "EHLO client.test" "AUTH XOAUTH2 $x2" "")
assert_eq "$(sed -n 's/^334 //p' <<<"$out" | base64 -d 2>/dev/null)" '{"status":"401","schemes":"bearer","scope":"custom"}' \
	"xoauth2_challenge: the challenge JSON as set"
assert_eq "$(tail -n 1 <<<"$out")" "535 5.7.8 Username and Password not accepted" "... the empty answer gets 535 5.7.8"

smtp_control '{"refuse_tokens":1}'
smtp_curl "${bearer[@]}"
assert_status $? 67 "refuse_tokens 1: a valid token is refused once"
smtp_curl "${bearer[@]}"
assert_status $? 0 "... and accepted the next time"
assert_eq "$(grep -E ' (refused-by-control|userinfo)$' "$T/smtp-auth.log" | tail -n 2 | cut -d' ' -f3-)" \
	$'fail refused-by-control\nok userinfo' "... as the auth log says"

smtp_control '{"auth":{"reply":"534-5.7.9 Application-specific password required. Learn more at\n534 5.7.9 https://support.google.com/mail/?p=InvalidSecondFactor","count":1}}'
smtp_curl "${pw[@]}"
assert_status $? 67 "auth: a forced answer refuses a good password"
assert_match "$(tr_)" $'\n< 534-5.7.9 Application-specific password required. Learn more at\n< 534 5.7.9 https://support.google.com/mail/\\?p=InvalidSecondFactor$' \
	"... with the reply as written, on two lines"
assert_eq "$(tail -n 1 "$T/smtp-auth.log")" "PLAIN pw@example.test fail forced-534" "... logged as forced"
smtp_curl "${pw[@]}"
assert_status $? 0 "count 1: the next AUTH is checked again"
smtp_control '{"auth":{"reply":"454 4.7.0 Too many login attempts, please try again later"}}'
smtp_curl "${bearer[@]}"
s1=$?
smtp_curl "${bearer[@]}"
assert_eq "$s1 $? $(grep -c '^< 454 4.7.0 Too many login attempts' "$T/tr")" "67 67 1" "without count: every AUTH gets it"

n=$(nmail)
smtp_control '{"mail":{"reply":"550 5.4.5 Daily user sending limit exceeded"}}'
smtp_curl "${pw[@]}"
assert_match "$?:$(tr_)" $'^55:.*> MAIL FROM:[^\n]*\n< 550 5.4.5 Daily user sending limit exceeded' "mail: MAIL FROM answered as set"
smtp_control '{"rcpt":{"reply":"550 5.1.1 No such user here","to":"Nobody@example.test"}}'
smtp_curl "${pw[@]}" --mail-rcpt nobody@example.test --mail-rcpt-allowfails
assert_status $? 0 "rcpt with to: the message goes to the others"
assert_match "$(tr_)" $'> RCPT TO:<nobody@example.test>\n< 550 5.1.1 No such user here' "... that recipient is refused as set"
assert_eq "$(jq -c .to "$T/mail/$((n + 1)).json" 2>/dev/null)" '["friend@example.test"]' "... and not recorded"
smtp_control '{"data":{"reply":"554 5.7.0 Message refused"}}'
smtp_curl "${pw[@]}"
assert_match "$?:$(tr_)" $'^55:.*> DATA\n< 554 5.7.0 Message refused\n> QUIT\n' "data: DATA answered as set, no 354"
smtp_control '{"eom":{"reply":"451 4.3.0 Temporary System Problem","count":1}}'
smtp_curl "${pw[@]}"
assert_match "$?:$(tr_)" $'^[1-9][0-9]*:.*\n< 354 [^\n]*\n< 451 4.3.0 Temporary System Problem$' "eom: the end of data answered as set"
smtp_curl "${pw[@]}"
assert_status $? 0 "... once (count 1)"
{ printf 'Subject: dropped\r\n\r\n'; yes "$(printf '%0200d' 0)" | head -n 2000; } >"$T/drop.eml"
smtp_control '{"drop_data_after":65536}'
MSG=$T/drop.eml smtp_curl "${pw[@]}"
assert_true "[ $? -ne 0 ]" "drop_data_after: the client sees the connection die"
assert_match "$(cat "$T/smtp.log")" "dropped the connection after [0-9]+ bytes" "... as the server says"
assert_eq "$(nmail)" $((n + 2)) "mail, rcpt, data, eom, drop: only the two accepted messages were stored"

smtp_control '{"hang":"greeting"}'
assert_eq "$(smtp_talk --timeout 0.5 "$SMTPS_PORT")" TIMEOUT "hang greeting: no 220"
smtp_control '{"hang":"auth"}'
out=$(smtp_talk --timeout 0.5 "$SMTPS_PORT" "EHLO client.test" "AUTH PLAIN $plain_ir")
assert_match "$out" $'\n250 SIZE 31457280\nTIMEOUT$' "hang auth: EHLO answered, AUTH never"
assert_eq "$(tail -n 1 "$T/smtp-auth.log")" "PLAIN pw@example.test hang control" "... logged"
# (Not with curl: once the data is sent, curl 7.88 waits for the answer up
# to its server response timeout, 120 s, whatever --max-time says.)
smtp_control '{"hang":"eom"}'
out=$(smtp_talk --timeout 0.5 "$SMTPS_PORT" "EHLO client.test" "AUTH PLAIN $plain_ir" \
	"MAIL FROM:<pw@example.test>" "RCPT TO:<friend@example.test>" DATA $'Subject: hang\r\n\r\nx\r\n.')
assert_match "$out" $'\n354 [^\n]*\nTIMEOUT$' "hang eom: the data is taken, its end never answered"
assert_eq "$(nmail)" $((n + 2)) "... and nothing stored"

smtp_control '{"hang_at":"greeting"}' 2>/dev/null
assert_status $? 1 "smtp_control refuses an unknown knob"
assert_eq "$(jq -r .hang "$T/smtp-control.json")" eom "... keeping the file in place"
smtp_control '{"hang":"forever"}'
assert_eq "$(smtp_talk "$SMTPS_PORT")" "421 4.3.0 smtp-control.json is invalid (see smtp.log)" \
	"a wrong value: every connection gets 421"
assert_match "$(cat "$T/smtp.log")" "smtp-control.json is invalid: hang must be one of" "... and smtp.log says why"
smtp_control_clear

# The 30 MB limit, through the SIZE a client declares (a whole 25 MB
# message is the sender's test, not this one's: it takes a second).
out=$(smtp_talk "$SMTPS_PORT" "EHLO client.test" "AUTH PLAIN $plain_ir" \
	"MAIL FROM:<pw@example.test> SIZE=31457281" "MAIL FROM:<pw@example.test> SIZE=31457280")
assert_match "$out" $'\n250 SIZE 31457280\n.*\n552 [^\n]*\n250 ' "SIZE 31457280 (30 MB): one byte more is refused with 552"

# --- Dovecot: IMAP and POP3 ------------------------------------------------
start_dovecot
# mua ARGS...: curl as an IMAP/POP3 client; the protocol lines to $T/tr.
mua() {
	local rc
	curl -sS -v --max-time 5 --cacert "$T/cert.pem" "$@" 2>"$T/curl.err"
	rc=$?
	grep -E '^[<>] ' "$T/curl.err" | tr -d '\r' >"$T/tr"
	return "$rc"
}
imaps=imaps://$DOVECOT_TLS_HOST:$IMAPS_PORT
pop3s=pop3s://$DOVECOT_TLS_HOST:$POP3S_PORT
out=$(mua "$imaps/" "${bearer[@]}")
assert_status $? 0 "curl logs in to Dovecot's IMAPS with the device-flow token"
assert_match "$out" '^\* LIST .* INBOX' "... and lists INBOX"
assert_match "$(mua "$imaps/INBOX;UID=1" "${bearer[@]}")" $'\nSubject: Welcome\r?\n' "INBOX holds the Welcome message"
mua "$imaps/" --oauth2-bearer bad-token -u "$A:" >/dev/null
assert_status $? 67 "a refused token: login denied"
# Not timed (a shared machine is slow at random): the delay Dovecot itself
# reads from the configuration it runs with.
assert_eq "$(doveconf -c "$_DOVECOT_DIR/dovecot.conf" -h auth_failure_delay 2>&1)" 0 \
	"... without a failure delay (auth_failure_delay is 0 as Dovecot reads it)"
assert_eq "$(sed -n 's/^< + \(..*\)$/\1/p' "$T/tr" | base64 -d 2>/dev/null | jq -r .status)" invalid_token \
	"... after the OAUTHBEARER error challenge"
assert_match "$(tr_)" $'> AQ==\n< A[0-9]+ NO \\[AUTHENTICATIONFAILED\\]' "... then NO [AUTHENTICATIONFAILED]"
mua "$imaps/" --oauth2-bearer "$AT" -u other@example.test: >/dev/null
assert_status $? 67 "a valid token for another user is refused"
out=$(mua "$pop3s/" -u "$DOVECOT_PW_USER:$DOVECOT_PW_PASS" -X STAT -I)
assert_match "$?:$(tr_)" $'^0:.*> STAT\n< \\+OK 1 [0-9]+$' "the password user logs in on POP3 and STATs one message"
mua "$pop3s/" -u "$DOVECOT_PW_USER:wrong" -X STAT -I >/dev/null
assert_match "$?:$(tr_)" $'^67:.*\n< -ERR \\[AUTH\\] ' "a wrong password: -ERR [AUTH]"
mua "imap://$DOVECOT_STARTTLS_HOST:$IMAP_PORT/" -u "$DOVECOT_PW_USER:$DOVECOT_PW_PASS" >/dev/null
assert_match "$?:$(tr_)" '^67:.*LOGINDISABLED' "IMAP on $DOVECOT_STARTTLS_HOST: no login before STARTTLS"
out=$(mua "imap://$DOVECOT_STARTTLS_HOST:$IMAP_PORT/" --ssl-reqd -u "$DOVECOT_PW_USER:$DOVECOT_PW_PASS")
assert_match "$?:$out" '^0:\* LIST .* INBOX' "... after STARTTLS it does (the certificate covers $DOVECOT_STARTTLS_HOST)"
dovecot_deliver "$A" "Second"
out=$(mua "pop3://$DOVECOT_STARTTLS_HOST:$POP3_PORT/" --ssl-reqd "${bearer[@]}")
assert_match "$?:$out" $'^0:1 [0-9]+\r?\n2 [0-9]+' "POP3 with STARTTLS and a token; dovecot_deliver added a message"

wait "$blackhole_job"
read -r rc s e <"$T/blackhole.rc"
assert_status "$rc" 28 "start_blackhole: connect times out (not refused)"
assert_true "(( $(ms_since "$s" "$e") >= 1900 ))" "... after the whole 2 s"

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
pids="$BUS_PID $KEYRING_PID $OAUTH_PID $SMTP_PID $DOVECOT_PID $BLACKHOLE_PID"
stack_stop
left=
for p in $pids; do
	_pid_alive "$p" && left="$left $p"
done
assert_eq "$left" "" "stack_stop leaves no process running"
assert_true "[ ! -d '$T' ] || [ '${KEEP_TMP:-0}' = 1 ]" "stack_stop removes \$T"

finish
