#!/usr/bin/env bash
# A failing keyring, seen by every command that reads it: `token` that
# needs a refresh, `password get`, `login` (the device flow checks the
# store before it sends the user anywhere) and `git-credential-mailcred
# get`. Three ways to fail: the keyring is locked, it is frozen (SIGSTOP:
# it never answers), it is absent (a bus without a Secret Service; a bus
# address that points nowhere). Each: the right exit status, nothing on
# stdout, one line naming the account and which of the three it is, within
# the store's own deadline (5 s, STORE_TIMEOUT_DEFAULT in keyring/backend.h)
# plus a margin; the OAuth server is not asked for anything; and once the
# keyring is back, everything works with no new login.
#
# t-store.sh covers `password set/get/delete` and the prompts; this test
# adds the other commands and the three cases side by side.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
oauth_config '{"device_interval":1}'

K=kf-token@example.test		# oauth2, logged in: token needs a refresh
L=kf-login@example.test		# oauth2, never logged in: login
P=kf-pass@example.test		# app password; git's host 127.0.0.1:2525
PW=kf-app-pass-1234
write_config "$K"
write_config "$L"
write_config "$P" 'auth = password' 'smtp = smtp://127.0.0.1:2525'
login_device "$K"
assert_status "$LOGIN_RC" 0 "setup: device login of $K"
printf '%s\n' "$PW" | mc password set "$P" 2>/dev/null
assert_status $? 0 "setup: app password of $P stored"
export PATH="$TOP:$PATH" MAILCRED_CONFIG=$CONF

# The store's deadline per call, and how much more a command may take
# (a loaded, shared machine; several store calls each bounded).
STORE_DEADLINE=5
MARGIN=10

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# run_cmd CMD...: runs CMD (stdin: $IN, backslash escapes expanded) with
# a hard limit of 60 s; sets RC, OUT, ERR and TOOK (ms).
run_cmd() {
	local start
	start=$(now_ms)
	OUT=$(printf %b "${IN:-}" | timeout 60 "$@" 2>"$T/err")
	RC=$?
	TOOK=$(($(now_ms) - start))
	ERR=$(cat "$T/err")
}

# check WHAT ACCOUNT WANT_RC ADVICE_RE: what users see for the last run_cmd.
check() {
	local what=$1 acct=$2 want=$3 re=$4
	assert_status "$RC" "$want" "$what: exit $want"
	assert_eq "$OUT" "" "$what: nothing on stdout"
	assert_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "$what: one line on stderr"
	assert_match "$ERR" "^mailcred: $acct: " "$what: the line names the account"
	assert_match "$ERR" "$re" "$what: the advice says which failure it is"
	assert_true "[ $TOOK -lt $(((STORE_DEADLINE + MARGIN) * 1000)) ]" \
		"$what: within the store's ${STORE_DEADLINE} s deadline plus ${MARGIN} s (${TOOK} ms)"
}

# all_four CASE WANT_RC ADVICE_RE: the four commands against the failing
# keyring; the OAuth server is asked for nothing.
all_four() {
	local c=$1 want=$2 re=$3 before after
	rm -f "$(runtime_cache_file "$K")"
	before=$(oauth_stats | jq -c '[.refresh_grants,.device_auths,.token_requests]')
	IN='' run_cmd "$MAILCRED" -c "$CONF" token "$K"
	check "$c: token" "$K" "$want" "$re"
	IN='' run_cmd "$MAILCRED" -c "$CONF" password get "$P"
	check "$c: password get" "$P" "$want" "$re"
	IN='' run_cmd "$MAILCRED" -c "$CONF" login "$L" --flow device --no-open --json
	check "$c: login" "$L" "$want" "$re"
	IN="protocol=smtp\nhost=127.0.0.1:2525\nusername=$P\n\n" \
		run_cmd git-credential-mailcred get
	check "$c: git-credential-mailcred get" "$P" "$want" "$re"
	after=$(oauth_stats | jq -c '[.refresh_grants,.device_auths,.token_requests]')
	assert_eq "$after" "$before" "$c: no refresh, no device authorization, no token request"
}

# works_again CASE: with the keyring back, nothing was lost.
works_again() {
	local tok
	tok=$(mc token "$K" 2>"$T/err")
	assert_status $? 0 "$1, then back: token works without a new login"
	assert_match "$tok" "^[A-Za-z0-9_-]{20,}$" "$1, then back: a token is printed"
	assert_eq "$(mc password get "$P" 2>/dev/null)" "$PW" "$1, then back: the app password is still there"
}

# Make the token need a refresh while the keyring can still be written.
age_token "$K"

# --- Locked: 75, "the keyring is locked: unlock it".
lock_keyring
all_four locked 75 "the keyring is locked: unlock it"
unlock_keyring
works_again locked

# --- Frozen: 75 within the deadline, "did not answer within 5 s".
age_token "$K"
freeze_keyring
all_four frozen 75 "the Secret Service did not answer within ${STORE_DEADLINE} s.*restart it"
thaw_keyring
works_again frozen

# --- Absent, a bus without a Secret Service: 75 (the daemon may be there
# on the next try), "no Secret Service is running".
age_token "$K"
stop_keyring
all_four "no Secret Service" 75 "no Secret Service is running.*gnome-keyring.*store = file"

# --- Absent, the bus address points nowhere: no bus at all, a permanent
# condition on this machine: 78 with the store = file advice.
SAVED_BUS=$DBUS_SESSION_BUS_ADDRESS
export DBUS_SESSION_BUS_ADDRESS=unix:path=$T/no-such-bus
all_four "no bus" 78 "no D-Bus session bus .*store = file"
export DBUS_SESSION_BUS_ADDRESS=$SAVED_BUS
unlock_keyring
works_again absent

finish
