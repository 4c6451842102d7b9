#!/usr/bin/env bash
# Keyring reads on a bare D-Bus socket (keyring/ssbus.h): `password get`
# and a `token --refresh` that rotates nothing read the real gnome-keyring
# without loading libsecret or GLib, in an encrypted session (a
# dbus-monitor sees no secret) whose crypto does not initialise OpenSSL
# (no openssl.cnf read); an address with %-escapes works; a
# locked keyring goes on to libsecret's path and says it is locked; a
# frozen keyring ends once, at the store's deadline, not twice over; and
# readers at once leave gnome-keyring running (it aborted on a first
# OpenSession that came before its bookkeeping of the caller).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
oauth_config '{"device_interval":1}'

K=bare-token@example.test
P=bare-pass@example.test
PW=bare-app-pass-5678
write_config "$K"
write_config "$P" 'auth = password'
login_device "$K"
assert_status "$LOGIN_RC" 0 "setup: device login of $K"
printf '%s\n' "$PW" | mc password set "$P" 2>/dev/null
assert_status $? 0 "setup: app password of $P stored"

LIBS='libsecret|libglib|libgio|libgobject|libgcrypt'

# traced NAME CMD...: runs CMD under strace (opens and connects) into
# $T/NAME.strace; OUT, RC, ERR as usual.
traced() {
	local name=$1
	shift
	OUT=$(ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -qq -e trace=openat,connect -o "$T/$name.strace" "$@" 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
}

# opened NAME: the shared objects a traced run opened.
opened() {
	grep -oE '"[^"]*\.so(\.[0-9]+)*"' "$T/$1.strace" | tr -d '"' |
		sed 's|.*/||' | sort -u | tr '\n' ' '
}

if ! command -v strace >/dev/null 2>&1; then
	diag "strace not installed: the checks of what is loaded are skipped"
	traced() { local name=$1; shift; : >"$T/$name.strace"; OUT=$("$@" 2>"$T/err"); RC=$?; ERR=$(cat "$T/err"); }
fi

# 1. password get: the password, and no libsecret.
traced pw "$MAILCRED" -c "$CONF" password get "$P"
assert_status "$RC" 0 "password get succeeds"
assert_eq "$OUT" "$PW" "password get prints the stored password"
assert_eq "$ERR" "" "password get: nothing on stderr"
assert_no_match "$(opened pw)" "$LIBS" "password get loads none of libsecret, GLib, libgcrypt"
assert_match "$(grep 'connect(' "$T/pw.strace")" "$T/bus" "password get talks to the session bus itself"
# Its encrypted session needs none of OpenSSL's own set-up (providers,
# random generators), which would read openssl.cnf first.
if [ -s "$T/pw.strace" ]; then
	assert_match "$(opened pw)" 'libcrypto\.so' "password get loads libcrypto (for the session's key)"
	assert_no_match "$(cat "$T/pw.strace")" 'openssl\.cnf' "password get reads no openssl.cnf: OpenSSL is not initialised"
fi

# 2. token --refresh, nothing rotated: a new token, and no libsecret.
before=$(oauth_stats | jq -r .refresh_grants)
traced refresh "$MAILCRED" -c "$CONF" token "$K" --refresh
assert_status "$RC" 0 "token --refresh succeeds"
assert_match "$OUT" '^[A-Za-z0-9_-]{20,}$' "token --refresh prints a token"
assert_eq "$ERR" "" "token --refresh: nothing on stderr"
assert_eq "$(oauth_stats | jq -r .refresh_grants)" "$((before + 1))" "the server counted the refresh"
assert_no_match "$(opened refresh)" "$LIBS" "token --refresh loads none of libsecret, GLib, libgcrypt"
assert_match "$(opened refresh)" "libcurl" "(it loads libcurl: the check sees what is opened)"

# 2b. The session is encrypted: a dbus-monitor on the bus (the same user,
# as any process of the user could run) sees no password and no refresh
# token go by, while it does see the read happen.
if command -v dbus-monitor >/dev/null 2>&1; then
	dbus-monitor --session >"$T/monitor.out" 2>&1 &
	mon=$!
	_track "$mon"
	sleep 1
	out=$("$MAILCRED" -c "$CONF" password get "$P" 2>"$T/err")
	assert_eq "$out" "$PW" "password get with a monitor on the bus"
	"$MAILCRED" -c "$CONF" token "$K" --refresh >/dev/null 2>"$T/err"
	assert_status $? 0 "token --refresh with a monitor on the bus"
	sleep 1
	_stop_pid "$mon"
	rt=$(stored_blob "$K" | jq -r .refresh_token)
	assert_match "$(cat "$T/monitor.out")" "GetSecret" "the monitor saw the reads"
	assert_match "$(cat "$T/monitor.out")" "dh-ietf1024-sha256-aes128-cbc-pkcs7" \
		"the reads open an encrypted session"
	assert_no_match "$(cat "$T/monitor.out")" "$PW" "the monitor saw no password"
	assert_eq "$(grep -cF -- "$rt" "$T/monitor.out")" 0 "the monitor saw no refresh token"
	assert_no_match "$(tr -d ' \n' <"$T/monitor.out")" "$(printf %s "$PW" | od -An -tx1 | tr -d ' \n')" \
		"not in hex either"
else
	diag "dbus-monitor not installed: the eavesdropping check is skipped"
fi

# 3. An address with %-escapes (as dbus-daemon may print one).
esc=$(printf %s "$T/bus" | od -An -tx1 -v | tr -d ' \n' | sed 's/../%&/g')
traced esc env DBUS_SESSION_BUS_ADDRESS="unix:path=$esc,guid=00" \
	"$MAILCRED" -c "$CONF" password get "$P"
assert_status "$RC" 0 "password get with an escaped address succeeds"
assert_eq "$OUT" "$PW" "it prints the password"
assert_no_match "$(opened esc)" "$LIBS" "the escaped address is read without libsecret"

# 4. Locked: the bare path finds only a locked item and leaves the words to
# libsecret's path.
lock_keyring
traced locked "$MAILCRED" -c "$CONF" password get "$P"
assert_status "$RC" 75 "locked keyring: exit 75"
assert_eq "$OUT" "" "locked keyring: nothing on stdout"
assert_match "$ERR" "^mailcred: $P: .*locked" "locked keyring: it says the keyring is locked"
assert_match "$(opened locked)" "libsecret" "locked keyring: libsecret's path said so"
unlock_keyring

# 5. Frozen: one deadline (5 s), not the bare path's and then libsecret's.
freeze_keyring
start=$(($(date +%s%N) / 1000000))
out=$(timeout 60 "$MAILCRED" -c "$CONF" password get "$P" 2>"$T/err")
rc=$?
took=$(($(date +%s%N) / 1000000 - start))
thaw_keyring
assert_status "$rc" 75 "frozen keyring: exit 75"
assert_eq "$out" "" "frozen keyring: nothing on stdout"
assert_match "$(cat "$T/err")" "did not answer within 5 s" "frozen keyring: it names the deadline"
assert_true "[ $took -ge 4500 ] && [ $took -lt 9500 ]" \
	"frozen keyring: it ends at the one deadline, not two (${took} ms)"

# 6. Readers at once: every read served, gnome-keyring still running.
reader() {
	local i ok=0
	for ((i = 0; i < 150; i++)); do
		[ "$("$MAILCRED" -c "$CONF" password get "$P" 2>/dev/null)" = "$PW" ] && ok=$((ok + 1))
	done
	echo "$ok" >"$T/reader.$1"
}
reader 1 &
r1=$!
reader 2 &
r2=$!
reader 3
wait "$r1" "$r2"
assert_eq "$(($(cat "$T/reader.1") + $(cat "$T/reader.2") + $(cat "$T/reader.3")))" 450 \
	"three readers at once: all 450 reads served"
assert_true "kill -0 $KEYRING_PID" "gnome-keyring is still running"
assert_no_match "$(cat "$T/keyring.log")" "CRITICAL|ERROR" "gnome-keyring logged no critical error"

finish
