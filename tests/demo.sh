#!/usr/bin/env bash
# make demo: mailcred's main job on a local stack. A real OAuth server
# (oidc-provider), a real keyring (gnome-keyring on a private D-Bus) and a
# real SMTP server (smtp-server) on loopback; a device-flow login and a
# browser-flow login that a person may approve in a browser (else they are
# approved automatically);
# mailcred token and sasl; msmtp sending a message with
# passwordeval "mailcred token"; mailcred send sending one itself; then
# everything is torn down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mc-lib.sh"

WAIT=${DEMO_WAIT:-20}
if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi

# person_waits PID: gives a person $WAIT s to approve; true while PID still
# waits (then the demo approves it itself).
person_waits() {
	local i
	for i in $(seq 1 "$WAIT"); do
		kill -0 "$1" 2>/dev/null || break
		sleep 1
	done
	kill -0 "$1" 2>/dev/null
}

# login_done PID OUT ERR WHAT: waits for the login; on failure shows its
# stderr and ends the demo, else prints its result line.
login_done() {
	local rc
	wait "$1"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$3"
		echo "demo: $4 failed (exit $rc)" >&2
		exit 1
	fi
	echo "Logged in: $(tail -1 "$2")"
}

say "Starting the local stack"
stack_init
start_keyring
start_oauth
start_smtp
A=demo@example.test
B=demo-browser@example.test
write_config "$A"
write_config "$B" "authorization_endpoint = $OAUTH_URL/auth" \
	"auth_params = prompt=consent" "smtp = smtps://127.0.0.1:$SMTPS_PORT" \
	"ca_file = $T/cert.pem"
oauth_config '{"device_interval":2}'
echo "OAuth server  $OAUTH_URL"
echo "SMTP server   127.0.0.1:$SMTP_PORT (STARTTLS), 127.0.0.1:$SMTPS_PORT (TLS)"
echo "Keyring       gnome-keyring on $DBUS_SESSION_BUS_ADDRESS"
echo "Config        $CONF:"
sed 's/^client_secret = .*/client_secret = [hidden]/; s/^/    /' "$CONF"

say "mailcred login $A --flow device"
out=$T/login.out
"$MAILCRED" -c "$CONF" login "$A" --flow device --json >"$out" 2>"$T/login.err" &
pid=$!
for i in $(seq 1 100); do [ -s "$out" ] && break; sleep 0.1; done
prompt=$(head -1 "$out")
code=$(jq -r .user_code <<<"$prompt")
echo "Open $(jq -r .verification_uri <<<"$prompt") and enter the code $code"
echo "(or open $(jq -r .verification_uri_complete <<<"$prompt"))"
echo "Any login name works on this test server; use $A so the SMTP server accepts the token."
echo "Approving automatically in $WAIT s if nobody does..."
if person_waits "$pid"; then
	approve_device "$code" "$A" >/dev/null 2>&1 && echo "Approved by the demo."
fi
login_done "$pid" "$out" "$T/login.err" "the login"

say "mailcred login $B --flow browser"
out=$T/blogin.out
"$MAILCRED" -c "$CONF" login "$B" --flow browser --no-open --json >"$out" 2>"$T/blogin.err" &
pid=$!
for i in $(seq 1 100); do [ -s "$out" ] && break; sleep 0.1; done
url=$(head -1 "$out" | jq -r .authorization_url)
echo "Open, in a browser on this machine:"
echo "    $url"
echo "mailcred's listener on 127.0.0.1 waits for the redirect."
echo "Approving automatically in $WAIT s if nobody does..."
if person_waits "$pid"; then
	loc=$(approve_code "$url" "$B" 2>/dev/null) &&
		curl -sS --max-time 10 "$loc" | sed -n 's/.*<title>\(.*\)<\/title>.*/The browser shows: \1/p'
fi
login_done "$pid" "$out" "$T/blogin.err" "the browser login"
say "mailcred token $B"
"$MAILCRED" -c "$CONF" token "$B" || exit 1

say "mailcred token $A"
"$MAILCRED" -c "$CONF" token "$A" || exit 1
say "mailcred token $A --json"
"$MAILCRED" -c "$CONF" token "$A" --json || exit 1
say "mailcred sasl $A (XOAUTH2, base64)"
"$MAILCRED" -c "$CONF" sasl "$A" || exit 1
say "mailcred sasl $A --mech oauthbearer --host 127.0.0.1 --port $SMTP_PORT"
"$MAILCRED" -c "$CONF" sasl "$A" --mech oauthbearer --host 127.0.0.1 --port "$SMTP_PORT" || exit 1

say "msmtp sends a message, passwordeval \"mailcred token $A\""
write_msmtprc "$A" "$T/msmtprc"
sed 's/^/    /' "$T/msmtprc"
printf 'From: %s\nTo: friend@example.test\nSubject: Hello from mailcred\n\nThis message was sent by msmtp with a token from mailcred.\n' "$A" |
	msmtp -C "$T/msmtprc" friend@example.test
rc=$?
if [ "$rc" -ne 0 ]; then
	echo "demo: msmtp failed (exit $rc)" >&2
	exit 1
fi
say "What the SMTP server received"
msgs=("$T/mail"/*.eml)
msg=${msgs[0]}
sed 's/^/    /' "$msg"
echo "Envelope: $(cat "${msg%.eml}.json")"
echo "Server's auth log: $(cat "$T/smtp-auth.log")"

say "mailcred sends a message itself: mailcred send -t (as $B, over smtps)"
printf 'From: Demo <%s>\nTo: friend@example.test\nCc: other@example.test\nBcc: hidden@example.test\nSubject: Sent by mailcred send\n\nBcc is removed; Date and Message-ID are added.\n' "$B" |
	"$MAILCRED" -c "$CONF" -v send -t 2>&1 | grep -E '> (AUTH|MAIL|RCPT)|< 2[0-9][0-9] ' | sed 's/^/    /'
rc=${PIPESTATUS[1]}
if [ "$rc" -ne 0 ]; then
	echo "demo: mailcred send failed (exit $rc)" >&2
	exit 1
fi
msg=$(printf '%s\n' "$T/mail"/*.json | sort -V | tail -1)
echo "Envelope: $(cat "$msg")"
sed -n '1,/^\r*$/p' "${msg%.json}.eml" | sed 's/^/    /'


say "Tearing down"
echo "demo: done"
