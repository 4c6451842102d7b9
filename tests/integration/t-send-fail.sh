#!/usr/bin/env bash
# mailcred send against a failing SMTP server: 421, 451, 452, 552 and 554
# at every stage (greeting, EHLO, AUTH, MAIL FROM, RCPT TO, DATA, end of
# data), the connection dropped in the middle of DATA, a server that stops
# answering (at the greeting, at AUTH, at the DATA command, after the
# data). Each time: the exit status DESIGN.md gives (75 for 4xx, network
# and timeouts: the caller keeps the message; 69 for a permanent 5xx; 77
# for a refused login), one line on stderr naming the account and quoting
# the server's reply, nothing on stdout, nothing claimed sent, nothing
# stored by the server, and all of it within the timeout plus a margin.
#
# t-send.sh has one case per stage; this test runs the whole matrix
# (STARTTLS with XOAUTH2; the session's start and the login also on
# implicit TLS with an app password).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
PWUSER=sf-pass@example.test
PWPASS=sf-app-pass-abcdefgh
start_smtp --password "$PWUSER:$PWPASS"
A=sf-oauth@example.test
write_config "$A" "smtp = smtp://127.0.0.1:$SMTP_PORT" "ca_file = $T/cert.pem"
write_config "$PWUSER" "auth = password" "smtp = smtps://127.0.0.1:$SMTPS_PORT" \
	"ca_file = $T/cert.pem"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "setup: device login of $A"
printf '%s\n' "$PWPASS" | mc password set "$PWUSER" 2>/dev/null
assert_status $? 0 "setup: app password of $PWUSER stored"

# The --timeout given to send, and how much longer a command may take on a
# loaded, shared machine.
TIMEOUT=3
MARGIN=12

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
# nmail: how many messages the server stored.
nmail() {
	find "$T/mail" -name '*.json' 2>/dev/null | wc -l
}
msg() {	# msg FROM SUBJECT
	printf 'From: %s\nTo: rcpt@example.test\nSubject: %s\n\nbody\n' "$1" "$2"
}

# send_as ACCOUNT [SEND ARGS...]: sends msg through mailcred send -t (stdin:
# $MSGFILE, else a small message); sets RC, OUT, ERR, TOOK (ms), STORED
# (messages the server stored meanwhile).
send_as() {
	local acct=$1 start n0
	shift
	[ -n "${MSGFILE:-}" ] || { msg "$acct" "send-fail" >"$T/msg"; MSGFILE=$T/msg; }
	n0=$(nmail)
	start=$(now_ms)
	OUT=$(timeout 120 "$MAILCRED" -c "$CONF" send -t --timeout "$TIMEOUT" "$@" \
		<"$MSGFILE" 2>"$T/err")
	RC=$?
	TOOK=$(($(now_ms) - start))
	ERR=$(cat "$T/err")
	STORED=$(($(nmail) - n0))
	MSGFILE=
}

# not_sent WHAT ACCOUNT WANT_RC [QUOTE_RE]: what users see of the last send.
not_sent() {
	local what=$1 acct=$2 want=$3 re=${4:-}
	assert_status "$RC" "$want" "$what: exit $want"
	assert_eq "$OUT" "" "$what: nothing on stdout"
	assert_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "$what: one line on stderr"
	assert_match "$ERR" "^mailcred: $acct: " "$what: the line names the account"
	[ -z "$re" ] || assert_match "$ERR" "$re" "$what: the server's reply is quoted"
	# "not sent" and "may or may not have been delivered" are honest; any
	# other sent/delivered/accepted/queued would be a claim.
	local rest=${ERR//not sent/}
	rest=${rest//may or may not have been delivered/}
	assert_no_match "$rest" "[Ss]ent|[Dd]elivered|[Aa]ccepted|[Qq]ueued" "$what: nothing is claimed sent"
	assert_eq "$STORED" 0 "$what: the server stored nothing"
	assert_true "[ $TOOK -lt $(((TIMEOUT + MARGIN) * 1000)) ]" \
		"$what: within --timeout $TIMEOUT s plus $MARGIN s (${TOOK} ms)"
}

# The reply the server gives for a code: the code, an enhanced code of the
# same class, and a text the quote is recognised by.
reply_for() {	# reply_for CODE STAGE
	local cls=${1:0:1}
	printf '%s %s.3.0 mailcred-test %s refusal %s' "$1" "$cls" "$2" "$1"
}
# The exit status DESIGN.md gives a refusal CODE at STAGE.
want_for() {	# want_for CODE STAGE
	case $1 in
	4*) echo 75 ;;
	*) echo 69 ;;
	esac
}

# A good send first: the server and both accounts work.
send_as "$A"
assert_status "$RC" 0 "setup: $A sends over STARTTLS"
assert_eq "$STORED" 1 "setup: the server stored it"
send_as "$PWUSER"
assert_status "$RC" 0 "setup: $PWUSER sends over implicit TLS"

# --- 1. Every code at every stage. The app-password account on the
# implicit-TLS listener for the stages where it differs (the session's
# start, a PLAIN login); the envelope and data go the same way for both.
for stage in greeting ehlo auth mail rcpt data eom; do
	case $stage in
	greeting | ehlo | auth) accts=("$A" "$PWUSER") ;;
	*) accts=("$A") ;;
	esac
	for code in 421 451 452 552 554; do
		text=$(reply_for "$code" "$stage")
		smtp_control "{\"$stage\":{\"reply\":\"$text\"}}" || not_ok "smtp_control $stage $code"
		for acct in "${accts[@]}"; do
			send_as "$acct"
			not_sent "$stage $code ($acct)" "$acct" "$(want_for "$code" "$stage")" \
				"${code}[ -]${code:0:1}\.3\.0 mailcred-test $stage refusal $code"
			[ "$code" != 554 ] || diag "$stage $code: $ERR"
			case $code in
			4*) assert_match "$ERR" "; the message was not sent: try again later$" \
				"$stage $code ($acct): says it was not sent and to try again later" ;;
			*) assert_match "$ERR" "the message was not sent" \
				"$stage $code ($acct): says it was not sent" ;;
			esac
			case $stage in
			greeting | ehlo) assert_match "$ERR" "127\.0\.0\.1 port [0-9]+ refused the session: $code" \
				"$stage $code ($acct): the session's refusal in the server's words" ;;
			esac
		done
	done
done
smtp_control_clear

# A refused login (535) is 77, not 69: the credential is what to fix.
smtp_control '{"auth":{"reply":"535 5.7.8 mailcred-test credentials refused"}}'
for acct in "$A" "$PWUSER"; do
	send_as "$acct"
	not_sent "auth 535 ($acct)" "$acct" 77 "535 5\.7\.8 mailcred-test credentials refused"
done
smtp_control_clear

# --- 2. The connection dropped in the middle of DATA: 75, not sent. 4 MB
# of data: more than the sockets' buffers, so the drop is seen while the
# data is still going out.
{ msg "$A" drop | head -3; echo; head -c 4000000 /dev/zero | tr '\0' y | fold -w 70; } >"$T/big"
smtp_control '{"drop_data_after":10000}'
MSGFILE=$T/big send_as "$A"
not_sent "dropped mid-DATA" "$A" 75
assert_match "$ERR" "failed during DATA.*was not sent" "dropped mid-DATA: says it was not sent"
assert_match "$(cat "$T/smtp.log")" "dropped the connection after" "dropped mid-DATA: the server did drop it"
# A small message, all written before the drop is seen: not claimed sent
# either (it cannot know, and says so); the server stored nothing.
smtp_control '{"drop_data_after":10}'
send_as "$A"
not_sent "dropped after a small message's data" "$A" 75
assert_match "$ERR" "not sent|may or may not have been delivered" "small message dropped: never claims it was sent"
smtp_control_clear

# --- 3. A server that stops answering: at the greeting, at AUTH, at the
# DATA command (no 354), after the data. 75 within the timeout (plus
# margin), nothing stored; only after the data can it not know.
for acct in "$A" "$PWUSER"; do
	for hang in greeting auth data eom; do
		smtp_control "{\"hang\":\"$hang\"}"
		send_as "$acct"
		not_sent "no answer at $hang ($acct)" "$acct" 75
		assert_true "[ $TOOK -ge $((TIMEOUT * 1000 - 500)) ]" \
			"no answer at $hang ($acct): it did wait for the timeout (${TOOK} ms)"
		case $hang in
		eom) assert_match "$ERR" "may or may not have been delivered" \
			"no answer after the data ($acct): says it cannot know" ;;
		*) assert_match "$ERR" "(no answer within|did not answer within) $TIMEOUT s.*the message was not sent: try again later$" \
			"no answer at $hang ($acct): says the server did not answer, and that the message was not sent" ;;
		esac
	done
done
smtp_control_clear

# --- 4. Afterwards the same accounts send again, without a new login.
send_as "$A"
assert_status "$RC" 0 "afterwards: $A sends again"
assert_eq "$STORED" 1 "afterwards: and it is stored"

finish
