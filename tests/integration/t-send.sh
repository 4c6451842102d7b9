#!/usr/bin/env bash
# mailcred send: a sendmail-compatible sender against a real SMTP server
# (smtp-server, tokens checked at the real OAuth server): recipients from
# the header, Bcc removed, the body byte-true, both ports, app passwords,
# a refused token answered and retried, and every failure reported as not
# sent with the right exit status.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
PWUSER=pw@example.test
PWPASS=abcdefghijklmnop
start_smtp --password "$PWUSER:$PWPASS"
A=user@example.test
write_config "$A" "smtp = smtp://127.0.0.1:$SMTP_PORT" "ca_file = $T/cert.pem"
write_config "$PWUSER" "auth = password" "smtp = smtps://127.0.0.1:$SMTPS_PORT" \
	"ca_file = $T/cert.pem"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "device login succeeds"

# nmail: how many messages the server accepted.
nmail() {
	find "$T/mail" -name '*.json' 2>/dev/null | wc -l
}
# last_json FIELD: a field of the last accepted message's envelope.
last_json() {
	local j
	j=$(find "$T/mail" -maxdepth 1 -name '*.json' 2>/dev/null | sort -t/ -k1 -V | tail -1)
	jq -c "$1" "$j"
}
last_eml() {
	find "$T/mail" -maxdepth 1 -name '*.eml' 2>/dev/null | sort -V | tail -1
}

# 1. -t: To (folded, a display name with a quoted comma, a comment), Cc
# (a group), Bcc (folded); 8-bit body, lines starting with dots, a long
# line, LF line ends.
long=$(head -c 3000 /dev/zero | tr '\0' x)
printf 'From: "Us, Tests" <%s>\nTo: "Doe, John" <john@example.test>,\n  jane@example.test (Jane)\nCc: Team: a@example.test, b@example.test;\nBcc: secret1@example.test,\n\tsecret2@example.test\nSubject: caf\303\251\n\n.leading dot\n..two dots\nna\303\257ve \342\202\254\n.\n%s\nend\n' \
	"$A" "$long" >"$T/m1.txt"
mc send -t <"$T/m1.txt" 2>"$T/e1"
assert_status $? 0 "send -t exits 0"
assert_eq "$(cat "$T/e1")" "" "nothing on stderr"
assert_eq "$(last_json '.to|sort')" \
	'["a@example.test","b@example.test","jane@example.test","john@example.test","secret1@example.test","secret2@example.test"]' \
	"the envelope has To, Cc and Bcc recipients"
assert_eq "$(last_json .from)" "\"$A\"" "the envelope sender is the From address"
assert_eq "$(last_json .method)" '"XOAUTH2"' "it logged in with XOAUTH2"
eml=$(last_eml)
assert_no_match "$(cat "$eml")" "secret1|secret2|^Bcc" "no Bcc header arrived"
assert_match "$(head -c 2000 "$eml")" $'Message-ID: <[A-Za-z0-9_-]+@[^>]+>\r' "a Message-ID was added"
assert_match "$(head -c 2000 "$eml")" $'Date: [A-Z][a-z]{2}, [0-9]{1,2} [A-Z][a-z]{2} 20[0-9]{2} [0-9:]{8} [-+][0-9]{4}\r' "a Date was added"
# The body exactly as written, LF become CRLF, dots unstuffed by the server.
sed -e '1,/^$/d' "$T/m1.txt" | sed 's/$/\r/' >"$T/body.want"
awk 'f{print} /^\r$/{f=1}' "$eml" >"$T/body.got"
cmp -s "$T/body.want" "$T/body.got"
assert_status $? 0 "the body arrived byte for byte (8-bit, dots, a 3000-byte line)"

# 2. Recipients as arguments, no -t: only those; the header's are not used.
printf 'From: %s\nTo: nobody@example.test\nSubject: args\n\nx\n' "$A" |
	mc send -i -oi -odi -oem -F "Test User" rcpt1@example.test rcpt2@example.test
assert_status $? 0 "send with recipients as arguments (and harmless sendmail flags)"
assert_eq "$(last_json '.to|sort')" '["rcpt1@example.test","rcpt2@example.test"]' "only the arguments"
# Both: the union, without duplicates.
printf 'From: %s\nTo: rcpt1@example.test, other@example.test\nSubject: both\n\nx\n' "$A" |
	mc send -t rcpt1@example.test extra@example.test
assert_eq "$(last_json '.to|sort')" '["extra@example.test","other@example.test","rcpt1@example.test"]' "-t and arguments: the union"

# 3. The account from -a; -f sets the envelope sender.
printf 'From: Someone <someone@else.test>\nTo: x@example.test\n\nx\n' |
	mc send -a "$A" -f bounce@example.test -t
assert_status $? 0 "-a picks the account whatever From says"
assert_eq "$(last_json .from)" '"bounce@example.test"' "-f is the envelope sender"
# A message without From gets one, as sendmail adds it (-F: the name).
printf 'To: x@example.test\nSubject: no from\n\nx\n' | mc send -a "$A" -F 'Test "T" User' -t
assert_status $? 0 "a message without From is sent with -a"
assert_match "$(cat "$(last_eml)")" "From: \"Test \\\\\"T\\\\\" User\" <$A>" "a From with the -F name was added"
assert_eq "$(last_json .from)" "\"$A\"" "the envelope sender is the account's user"
# No account for the From address.
printf 'From: Someone <someone@else.test>\nTo: x@example.test\n\nx\n' |
	mc send -t 2>"$T/e3"
assert_status $? 78 "no account for the From address: 78"
assert_match "$(cat "$T/e3")" "someone@else.test" "the error names the From address"
assert_match "$(cat "$T/e3")" "-a ACCOUNT" "and says how to choose one"

# 4. Implicit TLS (smtps) and an app password with PLAIN.
printf '%s\n' "$PWPASS" | mc password set "$PWUSER" 2>/dev/null
printf 'From: %s\nTo: x@example.test\nSubject: pw\n\nx\n' "$PWUSER" | mc send -t
assert_status $? 0 "an app-password account sends over smtps"
assert_eq "$(last_json .method)" '"PLAIN"' "with PLAIN"
# A wrong app password: 77 and advice about the app password.
printf 'wrongwrongwrongw\n' | mc password set "$PWUSER" 2>/dev/null
n0=$(nmail)
printf 'From: %s\nTo: x@example.test\nSubject: pw\n\nx\n' "$PWUSER" | mc send -t 2>"$T/e4"
assert_status $? 77 "a wrong password: 77"
assert_match "$(cat "$T/e4")" "535" "the server's reply is quoted"
assert_match "$(cat "$T/e4")" "app password" "the advice names the app password"
assert_eq "$(nmail)" "$n0" "nothing was sent"
assert_no_match "$(cat "$T/e4")" "wrongwrong" "the password is not shown"
printf '%s\n' "$PWPASS" | mc password set "$PWUSER" 2>/dev/null

# 5. A token the server refuses though the cache holds it as fresh (the
# server forgot it): the challenge is answered, one refresh, the retry works.
set_cached_token "$A" forgotten-token-0123456789
: >"$T/smtp-auth.log"
printf 'From: %s\nTo: x@example.test\nSubject: retry\n\nx\n' "$A" | mc send -t 2>"$T/e5"
assert_status $? 0 "a refused cached token is refreshed and the send retried"
assert_eq "$(grep -c "XOAUTH2 $A fail" "$T/smtp-auth.log")" 1 "the server refused once"
assert_eq "$(grep -c "XOAUTH2 $A ok" "$T/smtp-auth.log")" 1 "then accepted"
assert_match "$(cat "$T/e5")" "refused the cached token \(400\)" "the user is told the decoded status"
assert_ne "$(mc token "$A")" "forgotten-token-0123456789" "a new token is cached"

# 6. Malformed messages: 65, nothing sent.
n0=$(nmail)
printf 'From: %s\nSubject: none\n\nno recipients\n' "$A" | mc send -t 2>"$T/e6"
assert_status $? 65 "no recipients: 65"
assert_match "$(cat "$T/e6")" "no recipients" "says so"
printf 'From: %s\nTo: x@example.test\nthis is not a header\n\nx\n' "$A" | mc send -t 2>"$T/e6"
assert_status $? 65 "no header/body separator: 65"
printf 'From: %s\nTo: x@example.test\n\nbody with a \000 NUL\n' "$A" | mc send -t 2>"$T/e6"
assert_status $? 65 "a NUL byte in the body: 65"
assert_match "$(cat "$T/e6")" "NUL" "says so"
assert_eq "$(nmail)" "$n0" "none of them was sent"
printf 'From: %s\n\nx\n' "$A" | mc send Doe 2>"$T/e6"
assert_status $? 64 "a recipient without @domain: 64"
printf 'From: %s\n\nx\n' "$A" | mc send 'user@' 2>"$T/e6"
assert_status $? 64 "a recipient with an empty domain: 64"
printf 'From: %s\n\nx\n' "$A" | mc send '@example.test' 2>"$T/e6"
assert_status $? 64 "a recipient with an empty local part: 64"
# git format-patch --stdout: the mbox "From " line is dropped.
printf 'From 0123abcd Mon Sep 17 00:00:00 2001\nFrom: %s\nTo: x@example.test\nSubject: [PATCH] x\n\n---\n' "$A" | mc send -t
assert_status $? 0 "a message with an mbox From line is sent"
assert_no_match "$(cat "$(last_eml)")" "^From 0123abcd" "without that line"
# -f '<>': the null sender.
printf 'From: %s\nTo: x@example.test\n\nbounce\n' "$A" | mc send -f '<>' -t
assert_status $? 0 "-f '<>' is accepted"
assert_eq "$(last_json .from)" '""' "as the null reverse-path"
printf 'From: %s\nTo: x@example.test\nSubject: hi\rBcc: secret@example.test\n\nx\n' "$A" | mc send -t 2>"$T/e6"
assert_status $? 65 "a bare CR inside a header line: 65 (it would unfold a Bcc)"
assert_match "$(cat "$T/e6")" "holds a CR" "says so"
mc send -x x@example.test </dev/null 2>"$T/e6"
assert_status $? 64 "an unknown sendmail flag: 64"
mc send -oX x@example.test </dev/null 2>/dev/null
assert_status $? 64 "an unknown -o flag: 64"

# 7. -v: the dialogue is shown, the token is not.
at=$(mc token "$A")
printf 'From: %s\nTo: x@example.test\n\nx\n' "$A" | mc -v send -t 2>"$T/e7"
assert_status $? 0 "send -v"
assert_match "$(cat "$T/e7")" "AUTH XOAUTH2 \[redacted\]" "the AUTH line is redacted"
assert_match "$(cat "$T/e7")" "MAIL FROM:<$A>" "the envelope is traced"
assert_no_match "$(cat "$T/e7")" "$at" "the token is not in the trace"
assert_no_match "$(cat "$T/e7")" "$(printf 'user=%s\001auth=Bearer %s' "$A" "$at" | base64 -w0)" "nor the SASL string"

# 8. A large message (25 MB) streams: the server gets all of it, and
# mailcred never holds it (peak memory well under its size).
head -c $((25 * 1024 * 1024)) /dev/urandom | base64 -w 76 | head -c $((25 * 1024 * 1024)) >"$T/big.body"
{ printf 'From: %s\nTo: x@example.test\nSubject: big\n\n' "$A"; cat "$T/big.body"; } >"$T/big.txt"
"$MAILCRED" -c "$CONF" send -t <"$T/big.txt" &
pid=$!
hwm=0
while kill -0 "$pid" 2>/dev/null; do
	v=$(awk '/^VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null)
	[ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
	sleep 0.02
done
wait "$pid"
assert_status $? 0 "a 25 MB message is sent"
sz=$(last_json .size)
assert_true "[ $sz -gt $((25 * 1024 * 1024)) ]" "the server got all of it ($sz bytes)"
diag "peak RSS while sending 25 MB: $hwm kB"
if ldd "$MAILCRED" 2>/dev/null | grep -q 'libasan'; then
	diag "a sanitizer build: its shadow memory makes the peak RSS meaningless"
else
	assert_true "[ $hwm -lt 25600 ]" "peak memory stays under 25 MB ($hwm kB)"
fi

# 9. The SASL error challenge, through the SMTP peer's control knobs.
msg() { printf 'From: %s\nTo: x@example.test\nSubject: %s\n\nx\n' "$A" "$1"; }
challenges() { grep -c "$1" "$T/smtp-auth.log"; }
# Refused once (Gmail's way): answered with an empty line, refresh, retry.
: >"$T/smtp-auth.log"
smtp_control '{"refuse_tokens":1}'
msg once | mc send -t 2>"$T/e"
assert_status $? 0 "refused once: refreshed and sent"
assert_eq "$(challenges "XOAUTH2 $A challenge-answered")" 1 "the challenge was answered with an empty line"
assert_eq "$(challenges challenge-abandoned)" 0 "and not abandoned"
# Refused twice: 77, log in again; nothing sent.
: >"$T/smtp-auth.log"
n0=$(nmail)
smtp_control '{"refuse_tokens":2}'
msg twice | mc send -t 2>"$T/e"
assert_status $? 77 "refused again after a refresh: 77"
assert_match "$(cat "$T/e")" "mailcred login $A" "says to log in again"
assert_match "$(cat "$T/e")" "status 400.*scope https://mail.google.com/" "shows the decoded status and scope"
assert_eq "$(challenges "challenge-answered")" 2 "both challenges answered"
assert_eq "$(nmail)" "$n0" "nothing was sent"
# Microsoft's way: 535 5.7.3 at once, no challenge: refreshed and retried.
smtp_control '{"refuse_tokens":1,"xoauth2_challenge":null}'
msg microsoft | mc send -t 2>"$T/e"
assert_status $? 0 "535 5.7.3 without a challenge: refreshed and sent"
# OAUTHBEARER: sent with it; a refusal is answered with AQ==.
: >"$T/smtp-auth.log"
smtp_control '{"refuse_tokens":1}'
msg oauthbearer | mc send -t --mech oauthbearer 2>"$T/e"
assert_status $? 0 "OAUTHBEARER: refused once, refreshed, sent"
assert_eq "$(last_json .method)" '"OAUTHBEARER"' "with OAUTHBEARER"
assert_eq "$(challenges "OAUTHBEARER $A challenge-answered")" 1 "the challenge was answered with AQ=="
assert_match "$(cat "$T/e")" "invalid_token" "the decoded status is shown"
smtp_control_clear

# 10. Refusals at each stage: the right status, the reply quoted, nothing sent.
stage() {	# stage JSON WANT_STATUS WHAT
	local n0 rc
	n0=$(nmail)
	smtp_control "$1"
	msg stage | mc send -t --timeout 3 2>"$T/e"
	rc=$?
	assert_status "$rc" "$2" "$3: exit $2"
	assert_eq "$(nmail)" "$n0" "$3: nothing was sent"
	smtp_control_clear
}
stage '{"auth":{"reply":"454 4.7.0 Too many login attempts, please try again later"}}' 75 "AUTH 454"
assert_match "$(cat "$T/e")" "454 4.7.0 Too many login attempts" "the reply is quoted"
stage '{"auth":{"reply":"534-5.7.9 Application-specific password required\n534 5.7.9 Learn more"}}' 77 "AUTH 534 5.7.9"
stage '{"mail":{"reply":"452 4.3.1 Insufficient system storage"}}' 75 "MAIL 452"
stage '{"mail":{"reply":"550 5.4.5 Daily user sending limit exceeded"}}' 69 "MAIL 550 5.4.5"
assert_match "$(cat "$T/e")" "Daily user sending limit" "the reply is quoted"
stage '{"rcpt":{"reply":"550 5.1.1 No such user","to":"x@example.test"}}' 69 "RCPT 550 for one recipient"
assert_match "$(cat "$T/e")" "x@example.test" "the refused recipient is named"
stage '{"data":{"reply":"554 5.7.1 Rejected"}}' 69 "DATA 554"
stage '{"eom":{"reply":"451 4.3.0 Temporary local problem"}}' 75 "end of data 451"
stage '{"eom":{"reply":"552 5.3.4 Message too big"}}' 69 "end of data 552"
stage '{"eom":{"reply":"554 5.7.1 Message rejected as spam"}}' 69 "end of data 554"
assert_match "$(cat "$T/e")" "554 5.7.1 Message rejected as spam" "the reply is quoted"
stage '{"auth":{"reply":"421 4.7.0 Try again later, closing connection."}}' 75 "AUTH 421 and a closed connection"
# The connection dropped in the middle of DATA.
n0=$(nmail)
smtp_control '{"drop_data_after":20000}'
# 16 MB: more than the sockets' buffers hold, so the drop is seen while
# the data is still being written. (Had it all fitted, the last bytes
# would already be sent and the honest answer is "may or may not".)
{ msg drop | head -3; echo; head -c 16000000 /dev/zero | tr '\0' y | fold -w 70; } | mc send -t 2>"$T/e"
assert_status $? 75 "the connection dropped during DATA: 75"
assert_match "$(cat "$T/e")" "not sent|may or may not have been delivered" "never claims the message was sent"
assert_no_match "$(cat "$T/e")" "may or may not" "and knows it was not sent (the drop came mid-data)"
assert_eq "$(nmail)" "$n0" "nothing was stored"
# A server that stops answering after the data: 75, and honest about it.
smtp_control '{"hang":"eom"}'
msg hang | mc send -t --timeout 2 2>"$T/e"
assert_status $? 75 "no answer to the end of data: 75"
assert_match "$(cat "$T/e")" "may or may not have been delivered" "says it cannot know"
smtp_control '{"hang":"greeting"}'
t0=$EPOCHREALTIME
msg hang | mc send -t --timeout 2 2>"$T/e"
rc=$?
t1=$EPOCHREALTIME
ms=$(( (${t1//[!0-9]/} - ${t0//[!0-9]/}) / 1000 ))
assert_status "$rc" 75 "no greeting: 75"
assert_true "[ $ms -lt 3500 ]" "within the 2 s timeout, counted from the start of the connection ($ms ms)"
smtp_control_clear

# A missing login is not kept waiting by a server that never answers: the
# connection being set up meanwhile is given up.
start_blackhole
write_config nologin@example.test "smtp = smtp://127.0.0.1:$BLACKHOLE_PORT"
t0=$(date +%s)
printf 'From: nologin@example.test\nTo: x@example.test\n\nx\n' | mc send -t --timeout 30 2>"$T/e"
rc=$?
t1=$(date +%s)
assert_status "$rc" 77 "not logged in: 77, though the server never answers"
assert_match "$(cat "$T/e")" "mailcred login nologin@example.test" "says to log in"
assert_true "[ $((t1 - t0)) -lt 15 ]" "without waiting for the 30 s connect timeout ($((t1 - t0)) s)"

# The TCP connection begins before libcurl is loaded (its round trip and
# the server's greeting delay overlap our start-up), and libcurl uses that
# connection, also for a host name (CURLOPT_RESOLVE names the address).
CONF3=$T/localhost.conf
sed -e "s|smtp://127.0.0.1:$SMTP_PORT|smtp://localhost:$SMTP_PORT|" "$CONF" >"$CONF3"
chmod 600 "$CONF3"
n0=$(nmail)
# (LeakSanitizer cannot run under ptrace: no leak check under strace.)
msg early | ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	strace -f -o "$T/early.st" -e trace=socket,connect,openat \
	"$MAILCRED" -c "$CONF3" send -t -v 2>"$T/e"
assert_status $? 0 "sent through smtp://localhost"
assert_eq "$(nmail)" "$((n0 + 1))" "the server accepted it"
assert_eq "$(grep -c 'socket(AF_INET, SOCK_STREAM' "$T/early.st")" 1 \
	"one IPv4 TCP socket: libcurl used the early connection"
first_connect=$(grep -n 'connect([0-9]*, {sa_family=AF_INET' "$T/early.st" | head -1 | cut -d: -f1)
curl_open=$(grep -n 'libcurl\.so' "$T/early.st" | head -1 | cut -d: -f1)
assert_true "[ ${first_connect:-999999} -lt ${curl_open:-0} ]" \
	"the connection began before libcurl was loaded (lines $first_connect, $curl_open)"
assert_match "$(cat "$T/e")" "Connected to localhost" "-v shows the connection"
# With a proxy in the environment there is no early connection, nor a
# local lookup of the name (socks5h:// resolves at the proxy): only the
# proxy is contacted, as before (it refuses: port 9, discard, is closed).
ALL_PROXY=socks5h://127.0.0.1:9 ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	strace -f -o "$T/proxy.st" -e trace=connect \
	"$MAILCRED" -c "$CONF3" send -t --timeout 5 < <(msg proxy) 2>"$T/e"
assert_status $? 75 "through a proxy that refuses: 75"
assert_eq "$(grep -c "htons($SMTP_PORT)" "$T/proxy.st")" 0 "the SMTP port itself is never contacted"
assert_true "grep -q 'htons(9)' '$T/proxy.st'" "the proxy is"
# A server that drops SYNs: one timeout, said as libcurl would say it,
# not the early attempt's and then libcurl's own after it.
CONF4=$T/blackhole.conf
sed -e "s|smtp://127.0.0.1:$SMTP_PORT|smtp://127.0.0.1:$BLACKHOLE_PORT|" "$CONF" >"$CONF4"
chmod 600 "$CONF4"
t0=$EPOCHREALTIME
msg blackhole | "$MAILCRED" -c "$CONF4" send -t --timeout 2 2>"$T/e"
rc=$?
t1=$EPOCHREALTIME
ms=$(( (${t1//[!0-9]/} - ${t0//[!0-9]/}) / 1000 ))
assert_status "$rc" 75 "a port that drops SYNs: 75"
assert_match "$(cat "$T/e")" "connecting to 127\.0\.0\.1 port $BLACKHOLE_PORT timed out after 2 s" \
	"says the connection timed out"
assert_match "$(cat "$T/e")" "not sent" "and that nothing was sent"
assert_true "[ $ms -ge 1900 ] && [ $ms -lt 3500 ]" "after one 2 s timeout, not two ($ms ms)"

# 11. Server down: 75, and the message is reported as not sent.
stop_smtp
printf 'From: %s\nTo: x@example.test\n\nx\n' "$A" | mc send -t 2>"$T/e9"
assert_status $? 75 "server down: 75"
assert_match "$(cat "$T/e9")" "cannot connect" "says it cannot connect"

# 12. A server whose certificate is not trusted (no ca_file): refused.
start_smtp
CONF2=$T/noca.conf
sed -e "s|^ca_file = .*||" -e "s|smtp://127.0.0.1:[0-9]*|smtp://127.0.0.1:$SMTP_PORT|" "$CONF" >"$CONF2"
chmod 600 "$CONF2"
n0=$(nmail)
printf 'From: %s\nTo: x@example.test\n\nx\n' "$A" | "$MAILCRED" -c "$CONF2" send -t 2>"$T/e10"
rc=$?
assert_true "[ $rc -ne 0 ]" "a self-signed server without ca_file is refused ($rc)"
assert_match "$(cat "$T/e10")" "certificate" "the error is about the certificate"
assert_match "$(cat "$T/e10")" "ca_file" "and names ca_file"
assert_eq "$(nmail)" "$n0" "nothing was sent"

finish
