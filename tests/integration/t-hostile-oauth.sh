#!/usr/bin/env bash
# mailcred token --refresh and mailcred login against a hostile OAuth
# server (tests/peers/hostile-oauth.mjs): 5xx, 503 with Retry-After, bad
# JSON, a truncated or a 10 MB body, no answer, a missing access_token, a
# wrong token_type, expires_in 0 / negative / absurd, a slow_down storm, a
# redirect to another host.  Each ends with the right exit status, one line
# on stderr that names the account and the fix, nothing on stdout, within
# the configured timeout; the stored refresh token is unchanged and still
# works at the real server afterwards.
#
# Exit statuses (DESIGN.md, "Exit status"): 75 where retrying may help
# (5xx, 503, no answer or a cut one: network trouble or the server's own
# temporary failure); 69 where the server's answer is unusable and
# retrying the same server would not help (not JSON, too large, no
# access_token, a non-Bearer token, a redirect elsewhere: a wrong endpoint
# or a broken server, "permanent rejection"); 75 too for a login whose
# --timeout ran out while the server kept saying slow_down.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
start_hostile
A=hostile-$$@example.test
TMO=3		# the account's timeout: every request ends within it
MARGIN=10	# a shared, loaded machine: generous
CONF=$T/mailcred.conf

# conf_at TOKEN_BASE DEVICE_BASE: the account's endpoints at these servers.
conf_at() {
	cat >"$CONF" <<EOF
[account $A]
client_id = $CLIENT_ID
client_secret = $CLIENT_SECRET
scope = $SCOPE
token_endpoint = $1/token
device_authorization_endpoint = $2/device/auth
timeout = $TMO
EOF
	chmod 600 "$CONF"
}

conf_at "$OAUTH_URL" "$OAUTH_URL"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "device login at the real server"
RT=$(stored_blob "$A" | jq -r .refresh_token)
assert_match "$RT" '^.{20,}$' "a refresh token is stored"

# run_timed OUT ERR CMD...: runs CMD (bounded by `timeout 120`), sets RC and
# SECS (whole seconds it took).
run_timed() {
	local out=$1 err=$2 t0 t1
	shift 2
	t0=$(date +%s%N)
	timeout 120 "$@" >"$out" 2>"$err"
	RC=$?
	t1=$(date +%s%N)
	SECS=$(((t1 - t0) / 1000000000))
}

# still_good WHAT: the stored refresh token is the one of the login, and it
# works at the real server.
still_good() {
	assert_eq "$(stored_blob "$A" | jq -r .refresh_token)" "$RT" "$1: the stored refresh token is unchanged"
	conf_at "$OAUTH_URL" "$OAUTH_URL"
	mc token --refresh "$A" >"$T/good.out" 2>"$T/good.err"
	assert_status $? 0 "$1: afterwards the refresh token still works at the real server"
	conf_at "$HOSTILE_URL" "$HOSTILE_URL"
}

# refresh_fails MODE STATUS REGEX: token --refresh against the token
# endpoint in MODE.
refresh_fails() {
	local mode=$1 want=$2 re=$3
	hostile_mode "{\"token\":\"$mode\"}"
	conf_at "$HOSTILE_URL" "$HOSTILE_URL"
	run_timed "$T/r.out" "$T/r.err" "$MAILCRED" -c "$CONF" token --refresh "$A"
	assert_status "$RC" "$want" "token --refresh, $mode: exit $want"
	assert_eq "$(cat "$T/r.out")" "" "token --refresh, $mode: nothing on stdout"
	assert_eq "$(wc -l <"$T/r.err")" 1 "token --refresh, $mode: one line on stderr"
	assert_match "$(cat "$T/r.err")" "^mailcred: $A: .*$re" "token --refresh, $mode: the line says what happened and what to do"
	assert_true "[ $SECS -le $((TMO + MARGIN)) ]" "token --refresh, $mode: ends within the timeout ($SECS s)"
	still_good "$mode"
}

refresh_fails 500 75 'HTTP 500.*try again later'
refresh_fails 503 75 'HTTP 503.*try again in 120 s'
refresh_fails badjson 69 'without a JSON object.*endpoint URL right'
refresh_fails truncated 75 'answer was lost.*try again'
refresh_fails huge 69 'larger than [0-9]+ bytes'
refresh_fails hang 75 "did not answer within $TMO s.*try again"
refresh_fails no_access_token 69 'no usable access_token'
refresh_fails wrong_type 69 'other than Bearer'

# A redirect is never followed: the other host gets nothing, and the
# message says where the server tried to send us.
for r in redirect302 redirect307; do
	hostile_reset
	refresh_fails "$r" 69 "HTTP 30[27], a redirect to 127\\.0\\.0\\.2:[0-9]+, which is not followed.*check the endpoint URL"
	assert_eq "$(hostile_log | jq '[.[] | select(.listener == "other")] | length')" 0 \
		"$r: nothing reached the other host"
done

# expires_in 0 or negative: the token is handed out once (it was just
# granted) but never served from the cache: the next call refreshes again.
# (The real server's token of still_good is made stale first: a valid
# older token may be served meanwhile, and that is not what is checked.)
for e in expires_zero expires_negative; do
	hostile_reset
	age_token "$A"
	hostile_mode "{\"token\":\"$e\"}"
	conf_at "$HOSTILE_URL" "$HOSTILE_URL"
	t1=$(mc token --refresh "$A" 2>"$T/e.err")
	assert_status $? 0 "$e: the refresh itself succeeds"
	assert_match "$t1" '^hostile-at-[0-9]+$' "$e: the granted token is printed"
	t2=$(mc token "$A" 2>>"$T/e.err")
	assert_ne "$t2" "$t1" "$e: the next token call does not serve it"
	t3=$(mc token --min-valid 0 "$A" 2>>"$T/e.err")
	assert_ne "$t3" "$t2" "$e: not even with --min-valid 0"
	assert_eq "$(hostile_log | jq '[.[] | select(.path == "/token")] | length')" 3 \
		"$e: each call asked the server"
	assert_true "[ \"\$(stored_blob '$A' | jq .expires_at)\" -le $(date +%s) ]" "$e: the stored expiry is not in the future"
	still_good "$e"
done

# An absurd expires_in neither overflows nor keeps the token for long: the
# lifetime is cut to a day (MC_TOKEN_MAX_LIFETIME, auth/oauth.h).
for e in expires_1e30 expires_2p63; do
	hostile_reset
	hostile_mode "{\"token\":\"$e\"}"
	conf_at "$HOSTILE_URL" "$HOSTILE_URL"
	now=$(date +%s)
	j=$(mc token --refresh --json "$A" 2>"$T/e.err")
	assert_status $? 0 "$e: the refresh succeeds"
	exp=$(jq -r .expires_at <<<"$j")
	assert_true "[ '$exp' -gt $now ] && [ '$exp' -le $((now + 86400 + 5)) ]" "$e: expires_at is at most a day ahead ($exp - $now)"
	assert_eq "$(mc token "$A" 2>/dev/null)" "$(jq -r .access_token <<<"$j")" "$e: the token is served from the cache"
	still_good "$e"
done

# --- login (device flow) ---------------------------------------------------

# login_fails WHAT DEVICE_MODE TOKEN_MODE STATUS REGEX
login_fails() {
	local what=$1 dm=$2 tm=$3 want=$4 re=$5
	hostile_reset
	hostile_mode "{\"device\":\"$dm\",\"token\":\"$tm\"}"
	conf_at "$HOSTILE_URL" "$HOSTILE_URL"
	run_timed "$T/l.out" "$T/l.err" "$MAILCRED" -c "$CONF" login "$A" --flow device --no-qr --timeout 8
	assert_status "$RC" "$want" "login, $what: exit $want"
	assert_eq "$(cat "$T/l.out")" "" "login, $what: nothing on stdout"
	# The device prompt (when the start succeeded) goes to stderr too; the
	# error is the last line and the only one that starts with mailcred:.
	assert_eq "$(grep -c '^mailcred:' "$T/l.err")" 1 "login, $what: one error line"
	assert_match "$(tail -n 1 "$T/l.err")" "^mailcred: $A: .*$re" "login, $what: the line says what happened and what to do"
	assert_true "[ $SECS -le $((8 + TMO + MARGIN)) ]" "login, $what: ends within --timeout ($SECS s)"
	still_good "login $what"
}

login_fails "device 500" 500 ok 75 'HTTP 500.*try again later'
login_fails "device 503" 503 ok 75 'HTTP 503.*try again in 120 s'
login_fails "device badjson" badjson ok 69 'without a JSON object'
login_fails "device truncated" truncated ok 75 'answer was lost'
login_fails "device huge" huge ok 69 'larger than'
login_fails "device hang" hang ok 75 "did not answer within $TMO s"
login_fails "device redirect" redirect307 ok 69 'a redirect to 127\.0\.0\.2:[0-9]+, which is not followed'
login_fails "slow_down storm" ok slow_down 75 'no approval.*within 8 s.*--timeout'
login_fails "poll 503" ok 503 75 'HTTP 503'
login_fails "poll no_access_token" ok no_access_token 69 'no usable access_token'
login_fails "poll wrong_type" ok wrong_type 69 'other than Bearer'
assert_eq "$(hostile_log | jq '[.[] | select(.listener == "other")] | length')" 0 \
	"login: nothing reached the other host"

PWHOME=$(getent passwd "$(id -u)" | cut -d: -f6)
rm -f "${PWHOME%/}/.local/state/mailcred/$A".*
finish
