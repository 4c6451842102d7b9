#!/usr/bin/env bash
# What the binary loads: it links only libc and jansson; `--version` and a
# cached token from the file store load nothing else (no libsecret, GLib,
# OpenSSL, libcurl, libqrencode, libresolv) and touch no socket; the first
# keyring call does load libsecret. With libsecret or libqrencode missing
# (hidden in a mount namespace of the test's own), the keyring fails with
# one line saying what to install, the file store still works, and a login
# with --qr still prints the address and the code, without a QR code.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
OAUTH_URL=http://127.0.0.1:9	# never reached
F=file@example.test
K=keyring@example.test
write_config "$F" "store = file"
write_config "$K"
LAZY='libsecret|libgio|libgobject|libglib|libssl|libcrypto|libcurl|libqrencode|libresolv|libgcrypt'

# 1. The NEEDED entries of the binary (but the sanitizers' runtimes of a
# `make SANITIZE=1` build).
needed=$(readelf -d "$MAILCRED" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
	grep -vE '^lib(asan|ubsan)\.so' | sort | tr '\n' ' ')
assert_eq "$needed" "libc.so.6 libjansson.so.4 " "the binary needs only libc and jansson"

# loaded FILE: the libraries the dynamic loader initialised, from LD_DEBUG=libs
# output (one "calling init: PATH" line each), by file name.
loaded() {
	sed -n 's|.*calling init: .*/\([^/]*\)$|\1|p' "$1"* | sort -u | tr '\n' ' '
}

# 2. --version.
rm -f "$T/ld.version"*
LD_DEBUG=libs LD_DEBUG_OUTPUT=$T/ld.version "$MAILCRED" --version >"$T/out" 2>"$T/err"
assert_status $? 0 "--version succeeds"
libs=$(loaded "$T/ld.version")
assert_match "$libs" "libjansson" "LD_DEBUG=libs sees what --version loads (jansson)"
assert_no_match "$libs" "$LAZY" "--version loads none of libsecret, GLib, OpenSSL, libcurl, libqrencode, libresolv"

# 3. A fresh token in the file store: printed, nothing else loaded.
# shellcheck disable=SC2174  # only the last directory need be private
mkdir -p -m 700 "$XDG_DATA_HOME/mailcred"
exp=$(( $(date +%s) + 3600 ))
printf '{"version":1,"access_token":"at-fresh-1","refresh_token":"rt-1","token_type":"Bearer","expires_at":%d}' \
	"$exp" >"$XDG_DATA_HOME/mailcred/$F.oauth2"
chmod 600 "$XDG_DATA_HOME/mailcred/$F.oauth2"
rm -f "$T/ld.token"*
out=$(LD_DEBUG=libs LD_DEBUG_OUTPUT=$T/ld.token mc token "$F" 2>"$T/err")
assert_status $? 0 "token from the file store succeeds"
assert_eq "$out" "at-fresh-1" "it prints the stored token"
libs=$(loaded "$T/ld.token")
assert_match "$libs" "libjansson" "LD_DEBUG=libs sees what token loads (jansson)"
assert_no_match "$libs" "$LAZY" "a cached token loads none of libsecret, GLib, OpenSSL, libcurl, libqrencode, libresolv"

# The same under strace: no shared object but jansson's and libc's opened,
# no socket connected (no D-Bus, no network).
if command -v strace >/dev/null 2>&1; then
	# (LeakSanitizer cannot run under ptrace: off for this run of a
	# SANITIZE=1 build.)
	out=$(ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -e trace=openat,open,connect -o "$T/strace" "$MAILCRED" -c "$CONF" token "$F" 2>"$T/err")
	assert_status $? 0 "token under strace succeeds"
	assert_eq "$out" "at-fresh-1" "and prints the token"
	opened=$(grep -oE '"[^"]*\.so(\.[0-9]+)*"' "$T/strace" | tr -d '"' |
		sed 's|.*/||' | sort -u | tr '\n' ' ')
	assert_match "$opened" "libjansson" "strace sees the libraries token opens (jansson)"
	assert_no_match "$opened" "$LAZY" "strace: token opens none of the lazily loaded libraries"
	assert_eq "$(grep -c 'connect(' "$T/strace")" 0 "strace: token connects no socket"
else
	diag "strace not installed: strace check skipped"
fi

# 4. The first keyring call loads libsecret (so the checks above can fail):
# no session bus here, so it ends with that error.
rm -f "$T/ld.keyring"*
LD_DEBUG=libs LD_DEBUG_OUTPUT=$T/ld.keyring mc token "$K" >"$T/out" 2>"$T/err"
assert_status $? 78 "a keyring account without a session bus: exit 78"
assert_match "$(cat "$T/err")" "no D-Bus session bus" "and says there is no bus"
assert_match "$(loaded "$T/ld.keyring")" "libsecret-1\.so\.0.*libglib|libglib.*libsecret-1\.so\.0" "the keyring call loaded libsecret and GLib"

# hidden SONAME CMD...: runs CMD in a mount namespace where the library
# SONAME is /dev/null (so dlopen fails, as when it is not installed).
lib_path() {
	ldconfig -p | awk -v n="$1" '$1 == n { print $NF; exit }'
}
hidden() {
	local path
	path=$(lib_path "$1")
	shift
	# shellcheck disable=SC2016  # $1 and $@ are the inner sh's
	unshare -m sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' sh "$path" "$@"
}
if [ -n "$(lib_path libsecret-1.so.0)" ] && hidden libsecret-1.so.0 true 2>/dev/null; then
	# 5. libsecret missing: the keyring says what to install; the file
	# store does not care.
	hidden libsecret-1.so.0 "$MAILCRED" -c "$CONF" token "$K" >"$T/out" 2>"$T/err"
	assert_status $? 69 "libsecret missing: a keyring account exits 69"
	assert_eq "$(cat "$T/out")" "" "libsecret missing: nothing on stdout"
	assert_eq "$(wc -l <"$T/err")" 1 "libsecret missing: one line on stderr"
	assert_match "$(cat "$T/err")" "^mailcred: $K: .*cannot load libsecret-1\.so\.0 .*apt-get install libsecret-1-0.*store = file" \
		"libsecret missing: names the account, the library, the package and store = file"
	out=$(hidden libsecret-1.so.0 "$MAILCRED" -c "$CONF" token "$F" 2>"$T/err")
	assert_status $? 0 "libsecret missing: the file store still serves its token"
	assert_eq "$out" "at-fresh-1" "libsecret missing: the file store's token"

	# 6. libcrypto missing: a file-store account whose name is too long for
	# a file name needs its SHA-256: a clear error, no crash.
	# (each byte of "ü" is %XX in a file name: 60 of them are 360 bytes).
	L=$(printf '\303\274%.0s' $(seq 1 60))@example.test
	write_config "$L" "store = file"
	hidden libcrypto.so.3 "$MAILCRED" -c "$CONF" token "$L" >"$T/out" 2>"$T/err"
	rc=$?
	assert_true "[ $rc -ne 0 ] && [ $rc -lt 128 ]" "libcrypto missing: a long account name fails without a crash (exit $rc)"
	assert_match "$(cat "$T/err")" "cannot load libcrypto\.so\.3 .*apt-get install libssl3" "libcrypto missing: says what to install"

	# 7. libqrencode missing: login --qr prints the address and the code
	# and logs in, without a QR code.
	start_oauth
	CONF=$T/qr.conf
	write_config q@example.test "store = file"
	oauth_config '{"device_interval":1}'
	for hide in no yes; do
		: >"$T/qr.out"
		if [ $hide = yes ]; then
			hidden libqrencode.so.4 "$MAILCRED" -c "$CONF" login q@example.test --flow device --json --qr >"$T/qr.out" 2>"$T/qr.err" &
		else
			mc login q@example.test --flow device --json --qr >"$T/qr.out" 2>"$T/qr.err" &
		fi
		pid=$!
		for i in $(seq 1 100); do
			[ -s "$T/qr.out" ] && break
			sleep 0.1
		done
		code=$(head -1 "$T/qr.out" | jq -r .user_code 2>/dev/null)
		approve_device "$code" q@example.test >/dev/null 2>&1
		wait "$pid"
		assert_status $? 0 "login --qr (libqrencode hidden: $hide) succeeds"
		assert_match "$(head -1 "$T/qr.out" | jq -r .verification_uri)" "^http" "login --qr (hidden: $hide): the address is printed"
		assert_ne "$code" "" "login --qr (hidden: $hide): the code is printed"
		if [ $hide = yes ]; then
			assert_no_match "$(cat "$T/qr.err")" "scan this code" "libqrencode missing: no QR code offered"
		else
			assert_match "$(cat "$T/qr.err")" "scan this code" "with libqrencode: the QR code is drawn"
		fi
	done

	# 8. libcrypto missing with a Secret Service: the read on the bus
	# socket (its key agreement needs libcrypto) gives way to libsecret,
	# silently, and the password still comes.
	start_keyring
	CONF=$T/pw.conf
	P=pw@example.test
	write_config "$P" "auth = password"
	printf 'app-password-8\n' | "$MAILCRED" -c "$CONF" password set "$P" 2>"$T/err"
	assert_status $? 0 "a password set in the keyring"
	out=$(hidden libcrypto.so.3 "$MAILCRED" -c "$CONF" password get "$P" 2>"$T/err")
	assert_status $? 0 "libcrypto missing, with a bus: password get still works"
	assert_eq "$out" "app-password-8" "libcrypto missing, with a bus: through libsecret"
	assert_eq "$(cat "$T/err")" "" "libcrypto missing, with a bus: nothing said"
else
	diag "no mount namespace (unshare -m needs root): missing-library cases skipped"
fi

finish
