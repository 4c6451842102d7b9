#!/usr/bin/env bash
# git-credential-mailcred: the real git finds it on PATH as
# `credential.helper mailcred` and gets an app password or a fresh access
# token from it; no match lets git go on to its next helper; values with
# CR, LF or NUL are refused; store and erase never delete anything; nothing
# secret reaches stderr. `password --export git`: Debian's own
# git-credential-libsecret (built from the source git ships) finds the
# copy, and stops finding it after `password delete`.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
oauth_config '{"device_interval":1}'

P=app@example.test		# auth = password, smtp on 127.0.0.1:2525
O=tok@example.test		# oauth2, smtps://localhost:4650, imaps on [::1]
Q=other@example.test		# oauth2 too, on P's smtp host: two users there
PW=app-pass-w0rd
write_config "$P" 'auth = password' 'smtp = smtp://127.0.0.1:2525' \
	'imap = imaps://imap.example.test'
write_config "$O" 'smtp = smtps://localhost:4650' 'imap = imaps://[::1]:9993'
write_config "$Q" 'smtp = smtp://127.0.0.1:2525'
printf '%s\n' "$PW" | mc password set "$P" 2>/dev/null
login_device "$O"
assert_status "$LOGIN_RC" 0 "device login of the oauth2 account"

export PATH="$TOP:$PATH" MAILCRED_CONFIG=$CONF GIT_CONFIG_NOSYSTEM=1 \
	GIT_TERMINAL_PROMPT=0 GIT_ASKPASS=/bin/false SSH_ASKPASS=/bin/false
unset GIT_CONFIG_GLOBAL
git config --global credential.helper mailcred
ERRS=$T/all-stderr	# every stderr of the helper, checked for secrets at the end

# fill INPUT: git credential fill; sets OUT, ERR, RC.
fill() {
	OUT=$(printf '%b' "$1" | git credential fill 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
	cat "$T/err" >>"$ERRS"
}
# helper ACTION INPUT: the helper itself, as git runs it.
helper() {
	OUT=$(printf '%b' "$2" | git-credential-mailcred "$1" 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
	cat "$T/err" >>"$ERRS"
}
field() {	# field NAME: its value in $OUT
	sed -n "s/^$1=//p" <<<"$OUT"
}

assert_true "[ -L '$TOP/git-credential-mailcred' ]" "the build makes git-credential-mailcred a link to mailcred"

# --- get: an app password
fill 'protocol=smtp\nhost=127.0.0.1:2525\nusername=app@example.test\n\n'
assert_status "$RC" 0 "fill for the password account"
assert_eq "$(field password)" "$PW" "git gets the stored app password"
assert_eq "$(field username)" "$P" "and the account's user"
assert_eq "$ERR" "" "nothing on stderr"
fill 'protocol=smtp\nhost=127.0.0.1\nusername=APP@Example.TEST\n\n'
assert_eq "$(field password)" "$PW" "the user matches in any case, the host without a port"
helper get 'capability[]=authtype\nprotocol=smtp\nhost=127.0.0.1:2525\nusername=app@example.test\n\n'
assert_eq "$OUT" "username=$P"$'\n'"password=$PW" "an app password is answered without authtype, even when git announces it"

# --- get: an access token
at=$(mc token "$O")
fill 'protocol=smtp\nhost=localhost:4650\n\n'
assert_status "$RC" 0 "fill for the oauth2 account, no username given"
assert_eq "$(field password)" "$at" "the password git gets is the access token mailcred token prints"
assert_eq "$(field username)" "$O" "with the account's user"
exp=$(mc token "$O" --json | jq -r .expires_at)
helper get 'protocol=smtps\nhost=LOCALHOST:4650\nusername=tok@example.test\n\n'
assert_eq "$OUT" "username=$O"$'\n'"password=$at"$'\n'"password_expiry_utc=$exp" \
	"without capability[]=authtype: username, password, password_expiry_utc"
helper get 'capability[]=authtype\nprotocol=smtps\nhost=localhost:4650\nusername=tok@example.test\n\n'
assert_eq "$(head -n 2 <<<"$OUT")" "capability[]=authtype"$'\n'"authtype=Bearer" \
	"with capability[]=authtype: the answer says the password is a bearer token"
assert_eq "$(field password)" "$at" "and the token is still the password (git imap-send and send-email read it there)"
helper get 'protocol=imaps\nhost=[::1]:9993\n\n'
assert_eq "$(field password)" "$at" "imaps with a bracketed IPv6 host and port matches the imap URL"
# git 2.46 and later send the capability themselves.
gv=$(git version | sed 's/[^0-9]*\([0-9]*\)\.\([0-9]*\).*/\1 \2/')
if [ "${gv% *}" -gt 2 ] || { [ "${gv% *}" -eq 2 ] && [ "${gv#* }" -ge 46 ]; }; then
	fill 'capability[]=authtype\nprotocol=smtp\nhost=localhost:4650\n\n'
	assert_match "$OUT" "authtype=Bearer" "git $(git version | cut -d' ' -f3) passes authtype on"
else
	diag "git $(git version | cut -d' ' -f3) predates capability[] (2.46): the helper alone is checked for it"
fi

# --- no match: nothing answered, exit 0, git goes on to its next helper
for input in 'protocol=https\nhost=localhost:4650\n\n' \
	'protocol=smtp\nhost=smtp.elsewhere.test\n\n' \
	'protocol=smtp\nhost=localhost:4651\n\n' \
	'protocol=smtp\nhost=localhost:4650\nusername=nobody@example.test\n\n' \
	'protocol=imap\nhost=127.0.0.1:2525\n\n'; do
	helper get "$input"
	what=$(printf '%b' "$input" | tr '\n' ' ')
	assert_eq "$RC/$OUT/$ERR" "0//" "no account for: $what: exit 0, no answer, no message"
done
git config --global --add credential.helper '!f() { echo username=fallback; echo password=fallback-pw; }; f'
fill 'protocol=smtp\nhost=smtp.elsewhere.test\n\n'
assert_eq "$(field password)" "fallback-pw" "no match: git asks the next helper"
# Two accounts on one host and no username: none answers, both are named.
fill 'protocol=smtp\nhost=127.0.0.1:2525\n\n'
assert_eq "$(field password)" "fallback-pw" "two accounts on the host, no username: git asks the next helper"
assert_match "$ERR" "2 accounts match.*$P.*$Q.*smtpUser" "stderr names both users and how to choose"
fill 'protocol=smtp\nhost=127.0.0.1:2525\nusername=app@example.test\n\n'
assert_eq "$(field password)" "$PW" "the username chooses between them"
git config --global --unset-all credential.helper
git config --global credential.helper mailcred

# --- refused input: CR, NUL, a line that is not KEY=VALUE
helper get 'protocol=smtp\nhost=127.0.0.1:2525\nusername=app@example.test\r\n\n'
assert_eq "$RC/$OUT" "65/" "a value with a carriage return: exit 65, nothing answered"
assert_eq "$ERR" "mailcred: line 3 of git's input holds a carriage return" "one line names the line"
helper get 'protocol=smtp\nhost=127.0.0.1:2525\0.evil\n\n'
assert_eq "$RC/$OUT" "65/" "a NUL byte: exit 65, nothing answered"
assert_match "$ERR" "^mailcred: line 2 of git's input holds a NUL byte$" "one line names the line"
helper get 'protocol=smtp\nhost\n\n'
assert_eq "$RC/$OUT" "65/" "a line without '=': exit 65"
# Lines after the blank line are not git's credential: not read.
helper get 'protocol=smtp\nhost=127.0.0.1:2525\nusername=app@example.test\n\ngarbage\r\0\n'
assert_eq "$(field password)" "$PW" "what follows the blank line is ignored"
# The user in the configuration is answered as a value: no LF may hide in it.
write_config 'bad@example.test' 'auth = password' 'smtp = smtp://bad.example.test'
printf 'pw\n' | mc password set bad@example.test 2>/dev/null
helper get 'protocol=smtp\nhost=bad.example.test\n\n'
assert_eq "$RC" 0 "a plain answer from a third account"
printf 'pw\rx' | secret-tool store --label x xdg:schema org.mailcred.Secret account bad@example.test kind password
helper get 'protocol=smtp\nhost=bad.example.test\n\n'
assert_eq "$RC/$OUT" "65/" "a stored password holding CR is not answered (exit 65)"
assert_match "$ERR" "^mailcred: bad@example.test: .*CR or LF" "and the line says why"

# --- unknown actions are ignored; capability; usage
helper frobnicate 'protocol=smtp\nhost=127.0.0.1:2525\n\n'
assert_eq "$RC/$OUT/$ERR" "0//" "an unknown action is ignored, as git's protocol asks"
OUT=$(git-credential-mailcred capability </dev/null)
assert_eq "$OUT" "version 0"$'\n'"capability authtype" "capability announces authtype"
git-credential-mailcred >/dev/null 2>"$T/err"
assert_status $? 64 "no action: usage error"
assert_match "$(cat "$T/err")" "usage: git-credential-mailcred" "with the synopsis"
OUT=$(printf 'protocol=smtp\nhost=127.0.0.1:2525\nusername=app@example.test\n\n' |
	git-credential-mailcred -c "$CONF" get 2>/dev/null)
assert_eq "$(field password)" "$PW" "-c FILE names the configuration (credential.helper \"mailcred -c FILE\")"

# --- store and erase: oauth2 accounts (the tokens are mailcred's)
blob=$(stored_blob "$O")
helper store "protocol=smtp\nhost=localhost:4650\nusername=$O\npassword=someone-elses\n\n"
assert_eq "$RC/$OUT/$ERR" "0//" "store for an oauth2 account: ignored"
helper erase "protocol=smtp\nhost=localhost:4650\nusername=$O\npassword=not-the-token\n\n"
assert_eq "$RC/$OUT/$ERR" "0//" "erase with a password that is not the cached token: ignored"
assert_eq "$(stored_blob "$O")" "$blob" "the stored token set is untouched"
before=$(oauth_stats | jq .refresh_grants)
printf 'protocol=smtp\nhost=localhost:4650\nusername=%s\npassword=%s\n\n' "$O" "$at" |
	git credential reject 2>>"$ERRS"
assert_status $? 0 "git credential reject with the cached token"
assert_eq "$(oauth_stats | jq .refresh_grants)" "$((before + 1))" "the refused token was refreshed at once (one refresh)"
at2=$(mc token "$O")
assert_ne "$at2" "$at" "the next get hands out the new token"
assert_match "$(stored_blob "$O")" '"refresh_token"' "the grant is still stored"

# --- store and erase: app passwords
printf 'protocol=smtp\nhost=127.0.0.1:2525\nusername=%s\npassword=%s\n\n' "$P" "$PW" |
	git credential reject 2>"$T/err"
assert_status $? 0 "git credential reject of the app password"
assert_eq "$(mc password get "$P")" "$PW" "erase never deletes the app password"
assert_match "$(cat "$T/err")" "refused the stored app password; it is kept.*mailcred password set $P" \
	"a note says how to replace it"
cat "$T/err" >>"$ERRS"
helper store "protocol=smtp\nhost=127.0.0.1:2525\nusername=$P\npassword=another-one\n\n"
assert_eq "$RC/$OUT" "0/" "store with another password: exit 0"
assert_eq "$(mc password get "$P")" "$PW" "the stored one is kept"
assert_match "$ERR" "stored one is kept" "and a note says so"
helper store "protocol=smtp\nhost=127.0.0.1:2525\nusername=$P\npassword=$PW\n\n"
assert_eq "$RC/$OUT/$ERR" "0//" "store with the same password: nothing to say"
mc password delete "$P" 2>/dev/null
helper get "protocol=smtp\nhost=127.0.0.1:2525\nusername=$P\n\n"
assert_eq "$RC/$OUT" "77/" "nothing stored: exit 77, nothing answered"
assert_eq "$ERR" "mailcred: $P: no app password stored: run 'mailcred password set $P'" "one line with the fix"
printf 'protocol=smtp\nhost=127.0.0.1:2525\nusername=%s\npassword=typed-at-the-prompt\n\n' "$P" |
	git credential approve 2>"$T/err"
assert_eq "$(mc password get "$P")" "typed-at-the-prompt" "approve with nothing stored: the password git logged in with is stored"
assert_match "$(cat "$T/err")" "now stored in the keyring" "and a note says so"
printf '%s\n' "$PW" | mc password set "$P" 2>/dev/null

# --- the keyring locked: one line, exit 75, nothing answered; git goes on
lock_keyring
helper get "protocol=smtp\nhost=127.0.0.1:2525\nusername=$P\n\n"
assert_eq "$RC/$OUT" "75/" "a locked keyring: exit 75, nothing answered"
assert_match "$ERR" "^mailcred: $P: the keyring is locked: unlock it" "one line that names the account and the fix"
assert_eq "$(wc -l <<<"$ERR")" 1 "exactly one line"
unlock_keyring

# --- password --export git, as Debian's git-credential-libsecret reads it
if [ -f /usr/share/doc/git/contrib/credential/libsecret/git-credential-libsecret.c ]; then
	mkdir -p "$T/gcl" && cp /usr/share/doc/git/contrib/credential/libsecret/* "$T/gcl/" &&
		make -s -C "$T/gcl" >"$T/gcl.log" 2>&1
fi
if [ -x "$T/gcl/git-credential-libsecret" ]; then
	git config --global credential.helper "$T/gcl/git-credential-libsecret"
	printf '%s\n' "$PW" | mc password set "$P" --export git 2>"$T/err"
	assert_status $? 0 "password set --export git"
	assert_match "$(cat "$T/err")" "copy for git" "the note names git's copy"
	fill "protocol=smtp\nhost=127.0.0.1:2525\nusername=$P\n\n"
	assert_eq "$(field password)" "$PW" "git-credential-libsecret finds the copy (smtp, host with port)"
	fill "protocol=smtp\nhost=127.0.0.1\n\n"
	assert_eq "$(field password)/$(field username)" "$PW/$P" "and without port or username, with the user"
	fill "protocol=imaps\nhost=imap.example.test:993\nusername=$P\n\n"
	assert_eq "$(field password)" "$PW" "and the git imap-send copy (imaps, the scheme's port)"
	mc password delete "$P" 2>"$T/err"
	assert_match "$(cat "$T/err")" "copy for git deleted" "delete removes git's copies"
	fill "protocol=smtp\nhost=127.0.0.1:2525\nusername=$P\n\n"
	assert_eq "$RC/$(field password)" "128/" "git no longer finds a password"
	git config --global credential.helper mailcred
else
	not_ok "git-credential-libsecret could not be built from git's contrib source (see gcl.log)"
fi

# Nothing secret on any stderr.
assert_no_match "$(cat "$ERRS")" "$PW|$at|$at2|typed-at-the-prompt|someone-elses" "no password or token on stderr"

finish
