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

finish
