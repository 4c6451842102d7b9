#!/usr/bin/env bash
# TLS is never optional: an OAuth server with a certificate nobody vouches
# for is refused, ca_file makes it trusted (added to the system store, not
# replacing it), and plain http:// goes nowhere but loopback.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
make_cert
start_oauth --cert "$T/cert.pem" --key "$T/key.pem"
assert_match "$OAUTH_URL" '^https://127\.0\.0\.1:[0-9]+$' "the OAuth server speaks HTTPS"
# The approval script is curl's command line: tell it about the test CA.
export CURL_CA_BUNDLE=$T/cert.pem
oauth_config '{"device_interval":1}'

# Without ca_file: the self-signed certificate is refused.
U=untrusting@example.test
write_config "$U"
out=$(mc login "$U" --flow device 2>"$T/u.err")
assert_status $? 75 "an unverifiable certificate exits 75"
assert_eq "$out" "" "nothing on stdout on a certificate error"
assert_match "$(cat "$T/u.err")" "^mailcred: $U: TLS with 127\.0\.0\.1:[0-9]+ failed: .*set ca_file" "the certificate error says what to do"
assert_eq "$(oauth_stats | jq .device_auths)" 0 "no request got through"

# With ca_file: the whole job over HTTPS.
A=user@example.test
write_config "$A" "ca_file = $T/cert.pem"
login_device "$A"
assert_status "$LOGIN_RC" 0 "login over HTTPS with ca_file"
at=$(mc token "$A" --refresh)
assert_status $? 0 "refresh over HTTPS with ca_file"
assert_match "$at" '^.{20,}$' "a token comes back"

# ca_file that cannot be read is a configuration error.
B=broken@example.test
write_config "$B" "ca_file = $T/no-such.pem"
mc login "$B" --flow device >/dev/null 2>"$T/b.err"
assert_status $? 78 "an unreadable ca_file exits 78"
assert_match "$(cat "$T/b.err")" "ca_file .*no-such.pem cannot be read" "the unreadable ca_file is named"

# Plain http:// to anything but loopback is refused before connecting.
cat >>"$CONF" <<EOC
[account plain@example.test]
client_id = x
device_authorization_endpoint = http://oauth.example.test/device
token_endpoint = http://oauth.example.test/token
EOC
out=$(mc login plain@example.test --flow device 2>"$T/p.err")
assert_status $? 78 "plain http to a remote host exits 78"
assert_eq "$out" "" "nothing on stdout for a refused URL"
assert_match "$(cat "$T/p.err")" "plain http to a host that is not loopback: use https://" "plain http is refused with advice"

# A refresh, too, is refused without ca_file: the same account, logged in
# above, through a configuration that does not trust the test CA.
CONF_NOCA=$T/noca.conf
sed '/^ca_file = /d' "$CONF" >"$CONF_NOCA"
chmod 600 "$CONF_NOCA"
before=$(oauth_stats | jq .refresh_grants)
out=$("$MAILCRED" -c "$CONF_NOCA" token "$A" --refresh 2>"$T/r.err")
assert_status $? 75 "a refresh against the unverifiable certificate exits 75"
assert_eq "$out" "" "nothing on stdout when the refresh's certificate is refused"
assert_match "$(cat "$T/r.err")" "^mailcred: $A: TLS with 127\.0\.0\.1:[0-9]+ failed: .*set ca_file" "the refresh's certificate error says what to do"
assert_eq "$(oauth_stats | jq .refresh_grants)" "$before" "no refresh got through"
at2=$(mc token "$A" --refresh 2>/dev/null)
assert_status $? 0 "with ca_file the stored grant still refreshes"
assert_match "$at2" '^.{20,}$' "and a token comes back"

# Refused when the configuration is loaded, whatever the command: not
# only login, but token (no store, no network touched) and accounts.
out=$(mc token plain@example.test 2>"$T/p2.err")
assert_status $? 78 "token for an account with a plain-http remote endpoint exits 78"
assert_eq "$out" "" "nothing on stdout (token)"
assert_eq "$(wc -l <"$T/p2.err")" 1 "one line on stderr (token)"
assert_match "$(cat "$T/p2.err")" "^mailcred: plain@example.test: .*:[0-9]+: device_authorization_endpoint = .*http://oauth.example.test/device.*use https://" "the refused URL is named with its line"
# Loopback stays allowed over plain http: 127.0.0.1, [::1], localhost.
for h in 127.0.0.1 '[::1]' localhost; do
	n="loop-${h//[^a-z0-9]/}@example.test"
	printf '[account %s]\nclient_id = x\nstore = file\ntoken_endpoint = http://%s:%s/token\ndevice_authorization_endpoint = http://%s:%s/device/auth\n\n' \
		"$n" "$h" "$OAUTH_PORT" "$h" "$OAUTH_PORT" >>"$CONF"
	mc token "$n" >/dev/null 2>"$T/l.err"
	assert_status $? 77 "http://$h endpoints load (the account is merely not logged in)"
done

# TLS 1.2 is the minimum, for OAuth (libcurl HTTP) and for SMTP (the
# wire of send and doctor).  openssl s_server speaking TLS 1.1 only; an
# OpenSSL configuration that allows TLS 1.1 (Debian's default security
# level refuses it anyway) shows that the refusal is mailcred's own.
cat >"$T/legacy.cnf" <<'EOC'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1
CipherString = DEFAULT:@SECLEVEL=0
EOC
TLS11_PORT=$(free_port)
openssl s_server -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -cert "$T/cert.pem" \
	-key "$T/key.pem" -accept "127.0.0.1:$TLS11_PORT" -www -quiet \
	</dev/null >>"$T/tls11.log" 2>&1 &
TLS11_PID=$!
_track "$TLS11_PID"
for _ in $(seq 100); do
	_port_listening 127.0.0.1 "$TLS11_PORT" && break
	sleep 0.05
done
proto=$(echo | OPENSSL_CONF=$T/legacy.cnf timeout 10 openssl s_client -tls1_1 \
	-CAfile "$T/cert.pem" -connect "127.0.0.1:$TLS11_PORT" 2>/dev/null |
	sed -n 's/^ *Protocol *: *//p')
assert_eq "$proto" TLSv1.1 "control: the server speaks TLS 1.1"
code=$(OPENSSL_CONF=$T/legacy.cnf timeout 10 curl -s -o /dev/null -w '%{http_code}' \
	--cacert "$T/cert.pem" "https://127.0.0.1:$TLS11_PORT/")
assert_eq "$code" 200 "control: with the legacy OpenSSL configuration, plain curl accepts TLS 1.1"
V=tls11@example.test
W=tls11-pw@example.test
cat >>"$CONF" <<EOC
[account $V]
client_id = x
ca_file = $T/cert.pem
device_authorization_endpoint = https://127.0.0.1:$TLS11_PORT/device
token_endpoint = https://127.0.0.1:$TLS11_PORT/token

[account $W]
auth = password
store = file
ca_file = $T/cert.pem
smtp = smtps://127.0.0.1:$TLS11_PORT

EOC
printf 'tls11-app-pass\n' | mc password set "$W" 2>/dev/null
assert_status $? 0 "an app password for the SMTP check"
for env in default legacy; do
	cnf=
	[ "$env" = default ] || cnf=$T/legacy.cnf
	# HTTP: the device flow's first request.
	out=$(OPENSSL_CONF=$cnf timeout 60 "$MAILCRED" -c "$CONF" login "$V" --flow device 2>"$T/v.err")
	assert_status $? 75 "OAuth over TLS 1.1 is refused ($env OpenSSL configuration)"
	assert_eq "$out" "" "nothing on stdout for TLS 1.1 ($env)"
	assert_match "$(cat "$T/v.err")" "^mailcred: $V: TLS with 127\.0\.0\.1:$TLS11_PORT failed: .*no TLS 1\.2 or newer, which mailcred requires" "the TLS 1.1 refusal is one clear line ($env)"
	# SMTP: send with the app password over smtps://.
	out=$(printf 'From: %s\r\nTo: rcpt@example.test\r\nSubject: t\r\n\r\nbody\r\n' "$W" |
		OPENSSL_CONF=$cnf timeout 60 "$MAILCRED" -c "$CONF" send -a "$W" rcpt@example.test 2>"$T/s.err")
	assert_status $? 75 "SMTP over TLS 1.1 is refused ($env OpenSSL configuration)"
	assert_eq "$out" "" "nothing on stdout for SMTP over TLS 1.1 ($env)"
	assert_match "$(cat "$T/s.err")" "^mailcred: $W: TLS with 127\.0\.0\.1 port $TLS11_PORT failed: .*no TLS 1\.2 or newer, which mailcred requires" "the SMTP TLS 1.1 refusal says why ($env)"
	cp "$T/v.err" "$T/v-$env.err"
	cp "$T/s.err" "$T/s-$env.err"
done

finish
