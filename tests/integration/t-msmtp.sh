#!/usr/bin/env bash
# msmtp (a real client) sends through a real SMTP server with
# passwordeval "mailcred token", the server checking the token at the OAuth
# server; mailcred sasl builds exactly the strings mail servers expect.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
start_smtp
A=user@example.test
write_config "$A"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "device login succeeds"

write_msmtprc "$A" "$T/msmtprc"
printf 'From: %s\nTo: friend@example.test\nSubject: hello from mailcred\n\nIt works.\n' "$A" |
	msmtp -C "$T/msmtprc" friend@example.test
assert_status $? 0 "msmtp sends with passwordeval mailcred token"
msg=$(find "$T/mail" -maxdepth 1 -name '*.eml' 2>/dev/null | sort | head -1)
assert_match "$(cat "$msg" 2>/dev/null)" "Subject: hello from mailcred" "the message arrived"
assert_eq "$(jq -r .method "${msg%.eml}.json")" XOAUTH2 "it was sent with XOAUTH2"
assert_match "$(cat "$T/smtp-auth.log")" "XOAUTH2 $A ok userinfo" "the server checked the token at the OAuth server"
at=$(mc token "$A")
assert_no_match "$(cat "$T/msmtp.log" "$T/smtp-auth.log")" "$at" "no log holds the token"

# A token the OAuth server no longer knows: the server refuses, msmtp fails.
restart_oauth
printf 'Subject: x\n\nx\n' | msmtp -C "$T/msmtprc" friend@example.test 2>"$T/m.err"
assert_status $? 77 "a rejected token makes msmtp fail (77)"
assert_eq "$(find "$T/mail" -maxdepth 1 -name '*.eml' | wc -l)" 1 "no second message was accepted"

# mailcred sasl: exact bytes.
raw=$(mc sasl "$A" --raw | od -An -c | tr -s ' \n' ' ')
want=$(printf 'user=%s\001auth=Bearer %s\001\001' "$A" "$at" | od -An -c | tr -s ' \n' ' ')
assert_eq "$raw" "$want" "sasl --raw is the XOAUTH2 string"
b64=$(mc sasl "$A")
assert_eq "$(printf %s "$b64" | base64 -d | od -An -c | tr -s ' \n' ' ')" "$want" "sasl prints it base64"
ob=$(mc sasl "$A" --mech oauthbearer --host 127.0.0.1 --port "$SMTP_PORT" | base64 -d | od -An -c | tr -s ' \n' ' ')
want=$(printf 'n,a=%s,\001host=127.0.0.1\001port=%s\001auth=Bearer %s\001\001' "$A" "$SMTP_PORT" "$at" | od -An -c | tr -s ' \n' ' ')
assert_eq "$ob" "$want" "sasl --mech oauthbearer with host and port"
# Without an account: the token on stdin.
b=$(printf '%s\n' "$at" | "$MAILCRED" sasl --user "$A")
assert_eq "$b" "$b64" "sasl --user reads the token from stdin"
"$MAILCRED" sasl >/dev/null 2>&1
assert_status $? 64 "sasl without ACCOUNT or --user is a usage error"

finish
