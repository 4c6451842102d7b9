#!/usr/bin/env bash
# mailcred doctor against real peers: a healthy oauth2 account (SMTP, IMAP
# and POP3 logins with XOAUTH2, and with OAUTHBEARER), a refused token, a
# closed port, a port that drops packets, a self-signed certificate without
# ca_file, a wrong and a right app password, the wrong port/encryption
# pairs, forced SMTP answers explained, a Gmail user that is not a full
# address, an unknown account; --json parses; no secret is ever printed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
SMTP_USER=pw@example.test
SMTP_PASS=smtp-app-pass-5678
start_smtp --password "$SMTP_USER:$SMTP_PASS"
start_dovecot
start_blackhole
oauth_config '{"device_interval":1}'

A=user@example.test
B=bearer@example.test
LOCAL="smtp = smtp://127.0.0.1:$SMTP_PORT
imap = imaps://127.0.0.1:$IMAPS_PORT
pop = pop3s://127.0.0.1:$POP3S_PORT
ca_file = $T/cert.pem"
write_config "$A" "$LOCAL"
# B logs in as the same user, with OAUTHBEARER.
write_config "$B" "user = $A" "smtp_mech = oauthbearer" "$LOCAL"

# doctor ARGS...: runs mailcred doctor; OUT, ERR, RC, MS (milliseconds).
doctor() {
	local t0 t1
	t0=$(date +%s%N)
	mc doctor "$@" >"$T/d.out" 2>"$T/d.err"
	RC=$?
	t1=$(date +%s%N)
	MS=$(((t1 - t0) / 1000000))
	OUT=$(cat "$T/d.out")
	ERR=$(cat "$T/d.err")
	cat "$T/d.out" "$T/d.err" >>"$T/all-output"
}

# line NAME: the output line of check NAME.
line() {
	grep -E "^$1 +(ok|FAILED|skipped) " <<<"$OUT"
}

# one_error NAME: stderr is one line naming account NAME.
one_error() {
	assert_eq "$(wc -l <"$T/d.err")" 1 "$2: one line on stderr"
	assert_match "$ERR" "^mailcred: $1: [0-9]+ checks? failed, first " "$2: it names the account and the first failure"
}

login_device "$A"
assert_status "$LOGIN_RC" 0 "device login of $A"
login_device "$B" "$A"
assert_status "$LOGIN_RC" 0 "device login of $B (user $A)"

# --- A healthy account: every check passes, exit 0.
doctor "$A" --timeout 5
assert_status "$RC" 0 "healthy: exit 0"
assert_eq "$ERR" "" "healthy: nothing on stderr"
names=$(awk '{ print $1 " " $2 }' <<<"$OUT" | sed 's/ \(ok\|FAILED\|skipped\)$//')
want="config
store
token
dns 127.0.0.1
tcp smtp
tls smtp
smtp ehlo
smtp login
tcp imap
tls imap
imap login
tcp pop
tls pop
pop login"
assert_eq "$names" "$want" "healthy: one line per check, in order"
assert_eq "$(grep -cE '^[a-z0-9. ]+ +ok  ' <<<"$OUT")" 14 "healthy: all 14 ok"
assert_match "$(line 'tls smtp')" "127\.0\.0\.1:$SMTP_PORT: STARTTLS, certificate verified" "healthy: STARTTLS and the certificate"
assert_match "$(line 'smtp ehlo')" "AUTH .*XOAUTH2.*; XOAUTH2 will be used" "healthy: EHLO's AUTH mechanisms"
assert_match "$(line 'smtp login')" "logged in as $A with XOAUTH2 \(235" "healthy: SMTP login with XOAUTH2"
assert_match "$(line 'imap login')" "logged in as $A with XOAUTH2; LIST INBOX answered" "healthy: Dovecot IMAP XOAUTH2 and LIST"
assert_match "$(line 'pop login')" "logged in as $A with XOAUTH2; STAT: 1 messages" "healthy: Dovecot POP3 XOAUTH2 and STAT"
assert_match "$(grep "XOAUTH2 $A" "$T/smtp-auth.log" | tail -1)" "ok userinfo" "healthy: the SMTP server checked the token"
diag "healthy: the doctor took ${MS} ms"	# not asserted: the machine is shared
# The columns line up.
assert_eq "$(awk '{ match($0, / (ok|FAILED|skipped) +/); print RSTART }' <<<"$OUT" | sort -u)" 23 "healthy: the state column is aligned"

doctor "$A" --json --timeout 5
assert_status "$RC" 0 "healthy --json: exit 0"
assert_eq "$(jq -r '.account + " " + (.ok|tostring) + " " + (.checks|length|tostring)' <<<"$OUT")" "$A true 14" "healthy --json: account, ok, 14 checks"
assert_eq "$(jq -r '[.checks[] | select(.ok and .status == "ok" and .advice == null)] | length' <<<"$OUT")" 14 "healthy --json: each check ok, no advice"
assert_match "$(jq -r '.checks[7] | .name + ": " + .detail' <<<"$OUT")" "^smtp login: logged in as $A with XOAUTH2 " "healthy --json: name and detail"
assert_eq "$(wc -l <"$T/d.out")" 1 "healthy --json: one line"

# OAUTHBEARER everywhere (smtp_mech = oauthbearer).
doctor "$B" --timeout 5
assert_status "$RC" 0 "OAUTHBEARER: exit 0"
assert_match "$(line 'smtp login')" "with OAUTHBEARER" "OAUTHBEARER: SMTP"
assert_match "$(line 'imap login')" "logged in as $A with OAUTHBEARER; LIST" "OAUTHBEARER: Dovecot IMAP"
assert_match "$(line 'pop login')" "logged in as $A with OAUTHBEARER; STAT" "OAUTHBEARER: Dovecot POP3"

# A stale cached token: the token check refreshes it.
age_token "$B" 1
doctor "$B" --timeout 5
assert_status "$RC" 0 "stale token: exit 0"
assert_match "$(line token)" "^token +ok +refreshed: a new access token, valid for [0-9]+ more minutes" "stale token: refreshed by the token check"

# -v: the conversation on stderr, the credentials redacted.
mc -v doctor "$A" --timeout 5 >"$T/v.out" 2>"$T/v.err"
assert_status $? 0 "-v: exit 0"
cat "$T/v.out" "$T/v.err" >>"$T/all-output"
assert_match "$(cat "$T/v.err")" "AUTH XOAUTH2 \[redacted\]" "-v: SMTP AUTH traced, redacted"
assert_match "$(cat "$T/v.err")" "a1 AUTHENTICATE \[redacted\]" "-v: IMAP AUTHENTICATE traced, redacted"
assert_match "$(cat "$T/v.err")" "a2 LIST" "-v: IMAP LIST traced"
assert_match "$(cat "$T/v.err")" "STAT" "-v: POP3 STAT traced"
TOKENS="$(stored_blob "$A" | jq -r .access_token) $(stored_blob "$B" | jq -r .access_token)"

# --- Refused tokens: the OAuth server forgets every grant; the cached
# access token still looks valid, and every server refuses it.
restart_oauth
doctor "$A" --timeout 5
assert_status "$RC" 77 "refused token: exit 77"
assert_match "$(line token)" "^token +ok " "refused token: the cached token looks valid here"
assert_match "$(line 'smtp login')" "FAILED +the server refused the access token \(535 5\.7\.8.*status 400.*fix: run \`mailcred login $A\`" "refused token: SMTP 535 after the challenge, log in again"
assert_match "$(line 'imap login')" "FAILED +the server refused the access token \(NO \[AUTHENTICATIONFAILED\].*status 401.*fix: run \`mailcred login $A\`" "refused token: Dovecot IMAP XOAUTH2 challenge then NO [AUTHENTICATIONFAILED]"
assert_match "$(line 'pop login')" "FAILED +the server refused the access token \(-ERR \[AUTH\].*fix: run \`mailcred login $A\`" "refused token: Dovecot POP3 -ERR [AUTH]"
assert_match "$(grep "XOAUTH2 $A" "$T/smtp-auth.log" | tail -1)" "challenge-answered" "refused token: the SMTP challenge was answered"
one_error "$A" "refused token"
doctor "$B" --timeout 5 --json
assert_status "$RC" 77 "refused OAUTHBEARER: exit 77"
assert_eq "$(jq -r '.ok' <<<"$OUT")" false "refused OAUTHBEARER --json: ok false"
assert_match "$(jq -r '.checks[] | select(.name == "imap login") | .status + " " + .detail' <<<"$OUT")" "^failed .*invalid_token" "refused OAUTHBEARER: IMAP's challenge invalid_token"
assert_match "$(jq -r '.checks[] | select(.name == "pop login") | .advice' <<<"$OUT")" "mailcred login $B" "refused OAUTHBEARER: POP3 advice"
assert_match "$(grep "OAUTHBEARER $A" "$T/smtp-auth.log" | tail -1)" "challenge-answered" "refused OAUTHBEARER: SMTP challenge answered with AQ=="

# The grant itself is gone: once the cached token is stale, the token
# check refreshes, is refused, and what needs a token is skipped.
age_token "$A" 1
doctor "$A" --timeout 5
assert_status "$RC" 77 "revoked grant: exit 77"
assert_match "$(line token)" "^token +FAILED .*fix: run \`mailcred login $A\`" "revoked grant: token check says log in again"
assert_match "$(line 'smtp login')" "^smtp login +skipped +no access token" "revoked grant: the login is skipped and says why"
assert_match "$(line 'tls smtp')" "^tls smtp +ok " "revoked grant: the network checks still run"

# --- A closed port: refused, then the submission ports are probed.
C=closed@example.test
CLOSED=$(free_port)
write_config "$C" "auth = password" "smtp = smtp://127.0.0.1:$CLOSED" "imap = imaps://127.0.0.1:$CLOSED"
printf '%s' "$SMTP_PASS" | mc password set "$C" 2>/dev/null
doctor "$C" --timeout 3
assert_status "$RC" 75 "closed port: exit 75"
assert_match "$(line 'tcp smtp')" "^tcp smtp +FAILED +127\.0\.0\.1:$CLOSED: connection refused .*probes: 587 [a-z ]+, 465 [a-z ]+, 25 [a-z ]+; fix: " "closed port: refused, and 587/465/25 probed"
assert_match "$(line 'tls smtp')" "^tls smtp +skipped +no TCP connection" "closed port: TLS skipped, saying why"
assert_match "$(line 'smtp login')" "^smtp login +skipped " "closed port: login skipped"
assert_match "$(line 'tcp imap')" "connection refused.*fix: check the port in imap of \[account $C\] \(993 with imaps://\)" "closed port: IMAP advice names its port"
one_error "$C" "closed port"
doctor "$C" --timeout 3 --json
assert_eq "$(jq -r '.checks[] | select(.name == "tcp smtp") | (.ok|tostring) + " " + .status' <<<"$OUT")" "false failed" "closed port --json: tcp smtp failed"
assert_eq "$(jq -r '[.checks[] | select(.status == "skipped")] | length' <<<"$OUT")" 5 "closed port --json: 5 skipped"

# --- A port that drops packets: timed out, told apart from refused.
D=dropped@example.test
write_config "$D" "auth = password" "smtp = smtp://127.0.0.1:$BLACKHOLE_PORT"
printf '%s' "$SMTP_PASS" | mc password set "$D" 2>/dev/null
doctor "$D" --timeout 2
assert_status "$RC" 75 "dropped: exit 75"
assert_match "$(line 'tcp smtp')" "127\.0\.0\.1:$BLACKHOLE_PORT: timed out after 2 s \(packets are dropped.*probes: 587" "dropped: timed out, then the probes"
assert_match "$(line 'tcp smtp')" "fix: " "dropped: with advice"
assert_true "[ $MS -lt 15000 ]" "dropped: bounded by --timeout and the 2 s probe, with a margin for a loaded machine (${MS} ms)"

# --- A self-signed certificate without ca_file.
S=selfsigned@example.test
write_config "$S" "auth = password" "user = $SMTP_USER" "smtp = smtps://127.0.0.1:$SMTPS_PORT"
printf '%s' "$SMTP_PASS" | mc password set "$S" 2>/dev/null
doctor "$S" --timeout 3
assert_status "$RC" 69 "self-signed: exit 69"
assert_match "$(line 'tls smtp')" "^tls smtp +FAILED +the certificate of 127\.0\.0\.1 is self-signed .*fix: .*set ca_file = /path/to/ca\.pem in \[account $S\]" "self-signed: named, ca_file as the fix"
assert_match "$(line 'smtp ehlo')" "skipped +no TLS connection" "self-signed: EHLO skipped"
one_error "$S" "self-signed"

# --- App passwords: wrong, then right (PLAIN to SMTP, IMAP and POP3).
P=password@example.test
write_config "$P" "auth = password" "user = $SMTP_USER" "$LOCAL"
printf '%s' "not-the-password" | mc password set "$P" 2>/dev/null
doctor "$P" --timeout 5
assert_status "$RC" 77 "wrong password: exit 77"
assert_match "$(line 'smtp login')" "FAILED +the server refused the login \(535 .*fix: check user in \[account $P\] and store the right password .*with \`mailcred password set $P\`" "wrong password: SMTP 535 explained"
assert_match "$(line 'imap login')" "FAILED +the server refused the login \(NO \[AUTHENTICATIONFAILED\].*mailcred password set $P" "wrong password: Dovecot IMAP"
assert_match "$(line 'pop login')" "FAILED +the server refused the login \(-ERR \[AUTH\].*mailcred password set $P" "wrong password: Dovecot POP3"
assert_match "$(tail -1 "$T/smtp-auth.log")" "PLAIN $SMTP_USER fail bad-password" "wrong password: the server saw PLAIN"
one_error "$P" "wrong password"
# Dovecot's password is another one than the SMTP server's: one account
# per server.
write_config "$SMTP_USER" "auth = password" "smtp = smtp://127.0.0.1:$SMTP_PORT" "imap =" "pop =" "ca_file = $T/cert.pem"
printf '%s' "$SMTP_PASS" | mc password set "$SMTP_USER" 2>/dev/null
doctor "$SMTP_USER" --timeout 5
assert_status "$RC" 0 "right password, SMTP: exit 0"
assert_match "$(line 'smtp login')" "logged in as $SMTP_USER with PLAIN" "right password: SMTP PLAIN"
assert_eq "$(line 'imap login')" "" "no imap: no imap checks"
V=dovecot@example.test
write_config "$V" "auth = password" "user = $DOVECOT_PW_USER" "smtp =" "imap = imaps://127.0.0.1:$IMAPS_PORT" "pop = pop3s://127.0.0.1:$POP3S_PORT" "ca_file = $T/cert.pem"
printf '%s' "$DOVECOT_PW_PASS" | mc password set "$V" 2>/dev/null
doctor "$V" --timeout 5
assert_status "$RC" 0 "right password, Dovecot: exit 0"
assert_match "$(line 'imap login')" "logged in as $DOVECOT_PW_USER with PLAIN; LIST" "right password: IMAP PLAIN"
assert_match "$(line 'pop login')" "logged in as $DOVECOT_PW_USER with PLAIN; STAT: 1 messages" "right password: POP3 PLAIN"

# --- The wrong port/encryption pairs.
W=pairs@example.test
write_config "$W" "auth = password" "user = $SMTP_USER" "smtp = smtps://127.0.0.1:$SMTP_PORT" "imap = imaps://$DOVECOT_STARTTLS_HOST:$IMAP_PORT" "pop =" "ca_file = $T/cert.pem"
printf '%s' "$SMTP_PASS" | mc password set "$W" 2>/dev/null
doctor "$W" --timeout 3
assert_status "$RC" 78 "implicit TLS on a STARTTLS port: exit 78"
assert_match "$(line 'tls smtp')" "127\.0\.0\.1:$SMTP_PORT speaks plain SMTP first, not implicit TLS: it is a STARTTLS port; fix: set smtp = smtp://127\.0\.0\.1:$SMTP_PORT in \[account $W\]" "smtps:// to a STARTTLS port is named"
assert_match "$(line 'tls imap')" "speaks plain IMAP first.*fix: set imap = imap://$DOVECOT_STARTTLS_HOST:$IMAP_PORT" "imaps:// to a STARTTLS port is named"
write_config "$W.2" "auth = password" "user = $SMTP_USER" "smtp = smtp://127.0.0.1:$SMTPS_PORT" "imap =" "pop =" "ca_file = $T/cert.pem"
printf '%s' "$SMTP_PASS" | mc password set "$W.2" 2>/dev/null
doctor "$W.2" --timeout 2
assert_status "$RC" 78 "STARTTLS on an implicit-TLS port: exit 78"
assert_match "$(line 'tls smtp')" "says nothing in clear: it speaks implicit TLS from the first byte, not STARTTLS; fix: set smtp = smtps://127\.0\.0\.1:$SMTPS_PORT in \[account $W.2\]" "smtp:// to an implicit-TLS port is named"

# --- What the SMTP server says, explained (forced answers).
smtp_control '{"auth":{"reply":"534-5.7.9 Application-specific password required.\n534 5.7.9 Learn more at https://support.google.com/mail/?p=InvalidSecondFactor"}}'
doctor "$SMTP_USER" --timeout 5
assert_status "$RC" 77 "534 5.7.9: exit 77"
assert_match "$(line 'smtp login')" "wants an app password.*534 5\.7\.9.*fix: create an app password at https://myaccount\.google\.com/apppasswords" "534 5.7.9: app password advice"
smtp_control '{"auth":{"reply":"454 4.7.0 Too many login attempts, please try again later."}}'
doctor "$SMTP_USER" --timeout 5
assert_status "$RC" 75 "454 4.7.0: exit 75"
assert_match "$(line 'smtp login')" "too many login attempts \(454 4\.7\.0 .*fix: wait" "454 4.7.0: wait, the credential may be right"
smtp_control '{"auth":{"reply":"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."}}'
doctor "$SMTP_USER" --timeout 5
assert_status "$RC" 69 "535 5.7.139: exit 69"
assert_match "$(line 'smtp login')" "Set-TransportConfig -SmtpClientAuthenticationDisabled" "535 5.7.139: the admin's fix"
smtp_control_clear

# --- Gmail wants the full address as user.
G=gmail-account
write_config "$G" "provider = google" "user = bob" "smtp = smtp://127.0.0.1:$CLOSED" "imap =" "pop ="
doctor "$G" --timeout 2
assert_status "$RC" 78 "Gmail short user: exit 78 (config first)"
assert_match "$(line config)" "^config +FAILED +user \"bob\" is not a full address, which Gmail wants; fix: set user = bob@gmail\.com in \[account $G\]" "Gmail short user: named with the fix"
assert_match "$(line store)" "^store +FAILED .*mailcred login $G" "Gmail short user: the other checks still run"

# --- An unknown account.
doctor nobody@example.test
assert_status "$RC" 78 "unknown account: exit 78"
assert_match "$(line config)" "has no \[account nobody@example\.test\]; fix: add it with \`mailcred add nobody@example\.test\`" "unknown account: how to add it"
assert_match "$(line store)" "skipped" "unknown account: the rest is skipped"
one_error nobody@example.test "unknown account"

# --- Usage.
mc doctor >/dev/null 2>&1
assert_status $? 64 "no ACCOUNT: usage error"
mc doctor "$A" --timeout 0 >/dev/null 2>&1
assert_status $? 64 "--timeout 0: usage error"
mc doctor --help >"$T/h.out" 2>&1
assert_match "$(head -1 "$T/h.out")" "^usage: mailcred doctor ACCOUNT \[--json\] \[--timeout S\]$" "doctor --help: the synopsis"

# --- No secret anywhere in what the doctor printed.
leaks=0
for s in "$SMTP_PASS" "$DOVECOT_PW_PASS" not-the-password; do
	grep -qF -- "$s" "$T/all-output" && leaks=1
done
for tok in $TOKENS; do
	[ ${#tok} -gt 10 ] || leaks=1	# the test must know real tokens
	grep -qF -- "$tok" "$T/all-output" && leaks=1
done
assert_eq "$leaks" 0 "no password or token in any doctor output"

finish
