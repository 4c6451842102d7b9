#!/usr/bin/env bash
# make check-valgrind: the commands of everyday use under valgrind, against
# the real peers (gnome-keyring, the OAuth server, the SMTP server): token
# from the runtime cache, from the store (keyring and file) and refreshing,
# sasl, password get (keyring and file), accounts, send, and
# git-credential-mailcred get. Each call must give its normal output, and
# valgrind must find no invalid read or write, no use of uninitialised
# memory and no definite leak (tests/valgrind.supp holds the libraries'
# own, each explained). Set-up (logins, password set) runs without
# valgrind: only the calls under test are wrapped.
#
# Not a t-*.sh: make check does not run it (it needs a build without
# SANITIZE=1, and takes a while); run it with `make check-valgrind`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mc-lib.sh"

if ! command -v valgrind >/dev/null 2>&1; then
	not_ok "valgrind is not installed (sh tests/deps.sh installs it)"
	finish
fi
if nm -u "$MAILCRED" 2>/dev/null | grep -q __asan_init; then
	not_ok "$MAILCRED is built with SANITIZE=1: valgrind needs a plain build"
	finish
fi

# What valgrind's own exit status is when it found an error (mailcred's
# codes are 0 and sysexits 64-78).
VG_ERR=99
# valgrind runs a program 20 to 50 times slower, more on a loaded machine,
# so mailcred's own deadlines (5 s for a Secret Service call, the account's
# timeout for HTTP and SMTP) would cut off calls that are merely slow.
# libfaketime makes the clock inside the valgrind'ed process run at a tenth
# of its speed: every deadline is ten times longer, nothing else changes.
FAKETIME_LIB=$(find /usr/lib /usr/lib64 -path '*/faketime/libfaketimeMT.so.1' 2>/dev/null | head -n 1)
if [ -z "$FAKETIME_LIB" ]; then
	not_ok "libfaketime is not installed (sh tests/deps.sh installs it)"
	finish
fi
VG=(env LD_PRELOAD="$FAKETIME_LIB" FAKETIME="+0 x0.1"
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite
	--show-leak-kinds=definite --error-exitcode="$VG_ERR" --track-fds=no
	--num-callers=30 --suppressions="$TOP/tests/valgrind.supp")

stack_init
# valgrind would ask debuginfod servers for symbols: nothing downloads here.
unset DEBUGINFOD_URLS
start_keyring
# --rotate: a refresh writes the store too (a new refresh token).
start_oauth --rotate
PWUSER=pw@example.test		# app password, keyring
PWPASS=vg-app-pass-1234
start_smtp --password "$PWUSER:$PWPASS"
A=vg-keyring@example.test	# oauth2, keyring, STARTTLS SMTP
F=vg-file@example.test		# oauth2, file store
PF=vg-pwfile@example.test	# app password, file store
write_config "$A" "smtp = smtp://127.0.0.1:$SMTP_PORT" "ca_file = $T/cert.pem"
write_config "$F" "store = file"
write_config "$PWUSER" "auth = password" "smtp = smtps://127.0.0.1:$SMTPS_PORT" \
	"ca_file = $T/cert.pem"
write_config "$PF" "auth = password" "store = file"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "set-up: device login of $A"
login_device "$F"
assert_status "$LOGIN_RC" 0 "set-up: device login of $F"
printf '%s\n' "$PWPASS" | mc password set "$PWUSER" 2>/dev/null
assert_status $? 0 "set-up: password set $PWUSER"
printf '%s\n' file-pass-5678 | mc password set "$PF" 2>/dev/null
assert_status $? 0 "set-up: password set $PF"

N=0
# vg WHAT PROGRAM ARGS...: runs PROGRAM under valgrind with stdin as given;
# stdout in $OUT, stderr (mailcred's, valgrind's report goes to a log of
# its own) in $T/err, exit status in $RC. Asserts valgrind found nothing;
# its report, when there is one, is shown.
vg() {
	local what=$1 log
	shift
	N=$((N + 1))
	log=$T/vg.$N.log
	OUT=$("${VG[@]}" --log-file="$log" "$@" 2>"$T/err")
	RC=$?
	if [ "$RC" != "$VG_ERR" ] && [ ! -s "$log" ]; then
		ok "valgrind: $what: no errors, no definite leaks"
	else
		not_ok "valgrind: $what: valgrind reported errors (exit $RC)"
		sed 's/^/#   /' "$log"
	fi
}

# runtime cache: the access token login left in $XDG_RUNTIME_DIR.
at=$(stored_blob "$A" | jq -r .access_token)
vg "token (runtime cache)" "$MAILCRED" -c "$CONF" token "$A"
assert_status "$RC" 0 "token from the runtime cache exits 0"
assert_eq "$OUT" "$at" "it prints the stored access token"
assert_eq "$(cat "$T/err")" "" "nothing on stderr"

# store: no runtime cache entry, so the keyring is read (libsecret).
rm -f "$(runtime_cache_file "$A")"
oauth_reset_stats
vg "token (keyring)" "$MAILCRED" -c "$CONF" token "$A"
assert_status "$RC" 0 "token from the keyring exits 0"
assert_eq "$OUT" "$at" "it prints the stored access token"
assert_eq "$(oauth_stats | jq .refresh_grants)" 0 "no refresh was needed"
assert_true "[ -s '$(runtime_cache_file "$A")' ]" "the runtime cache is filled again"

# refresh: a stale token (libcurl, OpenSSL, the keyring written).
age_token "$A"
rt=$(stored_blob "$A" | jq -r .refresh_token)
vg "token (refresh, keyring)" "$MAILCRED" -c "$CONF" token "$A"
assert_status "$RC" 0 "token refreshes a stale token"
assert_ne "$OUT" "$at" "it prints a new access token"
assert_eq "$(cat "$T/err")" "" "nothing on stderr"
assert_eq "$OUT" "$(stored_blob "$A" | jq -r .access_token)" "the new token is stored"
assert_ne "$(stored_blob "$A" | jq -r .refresh_token)" "$rt" "with the rotated refresh token"
assert_eq "$(jq -r .access_token "$(runtime_cache_file "$A")")" "$OUT" "and in the runtime cache"
assert_eq "$(oauth_stats | jq .refresh_grants)" 1 "one refresh reached the server"
at=$OUT

# The file store: from the store, then refreshing.
rm -f "$(runtime_cache_file "$F")"
vg "token (file store)" "$MAILCRED" -c "$CONF" token "$F" --json
assert_status "$RC" 0 "token from the file store exits 0"
fat=$(jq -r .access_token <<<"$OUT" 2>/dev/null)
assert_match "$fat" '^[A-Za-z0-9._~+/=-]{16,}$' "--json gives an access token"
oauth_reset_stats
vg "token --refresh (file store)" "$MAILCRED" -c "$CONF" token "$F" --refresh
assert_status "$RC" 0 "token --refresh in the file store exits 0"
assert_ne "$OUT" "$fat" "it prints a new access token"
assert_eq "$(oauth_stats | jq .refresh_grants)" 1 "one refresh reached the server"

# sasl: XOAUTH2's initial response, base64.
vg "sasl" "$MAILCRED" -c "$CONF" sasl "$A"
assert_status "$RC" 0 "sasl exits 0"
assert_eq "$(base64 -d <<<"$OUT" | od -An -c | tr -s ' \n' ' ')" \
	"$(printf 'user=%s\001auth=Bearer %s\001\001' "$A" "$at" | od -An -c | tr -s ' \n' ' ')" \
	"it prints user=A^Aauth=Bearer TOKEN^A^A in base64"

# password get, both stores.
vg "password get (keyring)" "$MAILCRED" -c "$CONF" password get "$PWUSER"
assert_status "$RC" 0 "password get from the keyring exits 0"
assert_eq "$OUT" "$PWPASS" "it prints the app password"
vg "password get (file store)" "$MAILCRED" -c "$CONF" password get "$PF"
assert_status "$RC" 0 "password get from the file store exits 0"
assert_eq "$OUT" file-pass-5678 "it prints the app password"

# accounts: every account, with what the stores hold.
vg "accounts --json" "$MAILCRED" -c "$CONF" accounts --json
assert_status "$RC" 0 "accounts --json exits 0"
assert_eq "$(jq -c '[.[] | [.account, .logged_in, .password_stored]]' <<<"$OUT" 2>/dev/null)" \
	"[[\"$A\",true,null],[\"$F\",true,null],[\"$PWUSER\",null,true],[\"$PF\",null,true]]" \
	"every account, logged in or with its password"
vg "accounts" "$MAILCRED" -c "$CONF" accounts
assert_status "$RC" 0 "accounts exits 0"
assert_eq "$(wc -l <<<"$OUT")" 5 "the table: a header and one line per account"

# send: XOAUTH2 over STARTTLS, and PLAIN over implicit TLS.
nmail() {
	find "$T/mail" -name '*.json' 2>/dev/null | wc -l
}
printf 'From: %s\nTo: rcpt@example.test\nSubject: valgrind\n\nHello.\n' "$A" >"$T/m1"
vg "send -t (XOAUTH2)" "$MAILCRED" -c "$CONF" send -t <"$T/m1"
assert_status "$RC" 0 "send -t exits 0"
assert_eq "$(cat "$T/err")" "" "nothing on stderr"
assert_eq "$(nmail)" 1 "the server accepted the message"
assert_eq "$(find "$T/mail" -name "*.json" -exec jq -r .method {} +)" XOAUTH2 "it logged in with XOAUTH2"
printf 'From: %s\nSubject: valgrind 2\n\nHello again.\n' "$PWUSER" >"$T/m2"
vg "send (app password)" "$MAILCRED" -c "$CONF" send -f "$PWUSER" rcpt@example.test <"$T/m2"
assert_status "$RC" 0 "send with an app password exits 0"
assert_eq "$(nmail)" 2 "the server accepted the second message"

# git-credential-mailcred get: an app password and an access token.
printf 'protocol=smtp\nhost=127.0.0.1:%s\nusername=%s\n\n' "$SMTPS_PORT" "$PWUSER" >"$T/g1"
MAILCRED_CONFIG=$CONF vg "git-credential-mailcred get (password)" \
	"$TOP/git-credential-mailcred" get <"$T/g1"
assert_status "$RC" 0 "git-credential-mailcred get exits 0"
assert_eq "$(sed -n 's/^password=//p' <<<"$OUT")" "$PWPASS" "it answers the app password"
printf 'protocol=smtp\nhost=127.0.0.1:%s\nusername=%s\n\n' "$SMTP_PORT" "$A" >"$T/g2"
MAILCRED_CONFIG=$CONF vg "git-credential-mailcred get (token)" \
	"$TOP/git-credential-mailcred" get <"$T/g2"
assert_status "$RC" 0 "git-credential-mailcred get for an oauth2 account exits 0"
assert_eq "$(sed -n 's/^password=//p' <<<"$OUT")" "$at" "it answers the access token"

finish
