#!/usr/bin/env bash
# The store: app passwords in a real gnome-keyring and in the file store;
# what users see when the keyring is missing, locked or frozen; and that
# the store never raises a prompt.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init

# The bus may activate gnome-keyring's prompters, as on a desktop, but
# here they only record that they were asked for (and exit).
BUS_SERVICEDIR=$T/services
mkdir -p "$BUS_SERVICEDIR"
cat >"$T/fake-prompter.sh" <<EOS
#!/bin/sh
echo "prompter activated" >>"$T/prompter.log"
exit 1
EOS
for name in org.gnome.keyring.SystemPrompter org.gnome.keyring.PrivatePrompter; do
	printf '[D-BUS Service]\nName=%s\nExec=/bin/sh %s\n' "$name" \
		"$T/fake-prompter.sh" >"$BUS_SERVICEDIR/$name.service"
done

# prompt_mark; ...; no_prompt WHAT: since the mark, no prompter was asked
# for, none runs, and gnome-keyring did not try to show one.
prompt_mark() {
	rm -f "$T/prompter.log"
	MARK=$(wc -l 2>/dev/null <"$T/keyring.log" || echo 0)
}
no_prompt() {
	assert_true "[ ! -e '$T/prompter.log' ]" "$1: no prompter was activated"
	assert_eq "$(pgrep -cx gcr-prompter)" 0 "$1: no gcr-prompter runs"
	assert_no_match "$(tail -n +$((MARK + 1)) "$T/keyring.log" 2>/dev/null)" \
		"[Pp]rompt" "$1: gnome-keyring did not try to prompt"
}

# now_ms: the clock in milliseconds.
now_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}
CONF=$T/mailcred.conf
P=me@gmail.com
F=headless@example.test
cat >"$CONF" <<EOC
[account $P]
auth = password

[account $F]
auth = password
store = file
EOC
chmod 600 "$CONF"
PW='abcd efgh ijkl mnop'

# No D-Bus session at all (a cron job, an SSH session): permanent on this
# machine, so 78 (configuration), not 75 (a mail client would retry
# forever), with the store = file advice.
export BUS_SERVICEDIR
unset DBUS_SESSION_BUS_ADDRESS
out=$(mc password get "$P" 2>"$T/e1")
assert_status $? 78 "no D-Bus session: exit 78"
assert_eq "$out" "" "no D-Bus session: nothing on stdout"
assert_match "$(cat "$T/e1")" "^mailcred: $P: no D-Bus session bus .*store = file" "no D-Bus session: says so and what to do"
assert_eq "$(wc -l <"$T/e1")" 1 "no D-Bus session: one line"
printf '%s' "$PW" | mc password set "$P" 2>"$T/e1b"
assert_status $? 78 "no D-Bus session: storing exits 78 too"

# A bus without a Secret Service: 75, temporary (the keyring daemon may
# be started with the session, or on demand, by the next try).
start_bus_only
out=$(mc password get "$P" 2>"$T/e2")
assert_status $? 75 "no Secret Service: exit 75"
assert_eq "$out" "" "no Secret Service: nothing on stdout"
assert_match "$(cat "$T/e2")" "^mailcred: $P: no Secret Service is running" "no Secret Service: named as such"
assert_eq "$(wc -l <"$T/e2")" 1 "no Secret Service: one line"

# gnome-keyring without a default collection (started without --unlock on
# a fresh HOME: no login keyring). libsecret would ask a prompter to
# create one; mailcred says what is missing instead: 69, fast.
start_keyring_nologin
alias=$(gdbus call --session --dest org.freedesktop.secrets \
	--object-path /org/freedesktop/secrets \
	--method org.freedesktop.Secret.Service.ReadAlias default 2>&1)
assert_eq "$alias" "(objectpath '/',)" "no login keyring: the default alias names nothing"
prompt_mark
start=$(now_ms)
printf '%s' "$PW" | mc password set "$P" 2>"$T/e2b"
rc=$?
took=$(( $(now_ms) - start ))
assert_status $rc 69 "no default collection: exit 69"
assert_match "$(cat "$T/e2b")" "^mailcred: $P: the Secret Service has no default keyring: create one .*Seahorse.*login.*store = file" "no default collection: says what to create"
assert_eq "$(wc -l <"$T/e2b")" 1 "no default collection: one line"
assert_true "[ $took -lt 2000 ]" "no default collection: answers at once (${took} ms), no prompt waited for"
no_prompt "no default collection"
assert_eq "$(secret-tool search --all account "$P" 2>/dev/null | grep -c '^\[')" 0 "no default collection: nothing was stored anywhere"
out=$(mc password get "$P" 2>"$T/e2c")
assert_status $? 77 "no default collection: get finds nothing (77)"
assert_eq "$(gdbus call --session --dest org.freedesktop.secrets \
	--object-path /org/freedesktop/secrets \
	--method org.freedesktop.Secret.Service.ReadAlias default 2>&1)" \
	"(objectpath '/',)" "no default collection: none was created"
stop_bus

# The real keyring: set, get, replace, delete.
start_keyring
printf '%s\n' "$PW" | mc password set "$P" 2>"$T/s.err"
assert_status $? 0 "password set reads stdin"
out=$(mc password get "$P")
assert_status $? 0 "password get succeeds"
assert_eq "$out" "$PW" "password get prints what was set"
assert_eq "$(secret-tool lookup account "$P" kind password)" "$PW" "the password is the keyring item's secret"
attrs=$(secret-tool search --all account "$P" 2>&1 | grep -v '^secret = ')
assert_no_match "$attrs" "abcd" "the password is not in an attribute"
printf 'second\n' | mc password set "$P" 2>/dev/null
assert_eq "$(mc password get "$P")" "second" "password set replaces"
assert_eq "$(secret-tool search --all account "$P" 2>/dev/null | grep -c '^\[')" 1 "one keyring item after a replace"
mc -q password delete "$P"
assert_status $? 0 "password delete succeeds"
out=$(mc password get "$P" 2>"$T/e3")
assert_status $? 77 "no password stored: exit 77"
assert_eq "$out" "" "no password stored: nothing on stdout"
assert_eq "$(cat "$T/e3")" "mailcred: $P: no app password stored: run 'mailcred password set $P'" "no password stored: names the fix"
printf '' | mc password set "$P" 2>"$T/e4"
assert_status $? 65 "an empty password is refused"
printf 'a\nb\n' | mc password set "$P" 2>"$T/e5"
assert_status $? 65 "a password of two lines is refused"
printf 'ab\0cd\n' | mc password set "$P" 2>"$T/e5"
assert_status $? 65 "a password with a NUL byte is refused, not cut short"
out=$(mc password get "$P" 2>/dev/null)
assert_status $? 77 "refused input stored nothing"

# A locked keyring: distinguished from "not found".
printf '%s' "$PW" | mc password set "$P" 2>/dev/null
lock_keyring
out=$(mc password get "$P" 2>"$T/e6")
assert_status $? 75 "locked keyring: exit 75"
assert_eq "$out" "" "locked keyring: nothing on stdout"
assert_match "$(cat "$T/e6")" "^mailcred: $P: .*locked" "locked keyring: says it is locked"
prompt_mark
start=$(now_ms)
printf 'x' | mc password set "$P" 2>"$T/e7"
rc=$?
took=$(( $(now_ms) - start ))
assert_status $rc 75 "storing into a locked keyring: exit 75"
assert_match "$(cat "$T/e7")" "^mailcred: $P: the keyring is locked" "storing into a locked keyring: says it is locked"
assert_true "[ $took -lt 2000 ]" "storing into a locked keyring: answers at once (${took} ms)"
mc password delete "$P" 2>"$T/e7b"
assert_status $? 75 "deleting from a locked keyring: exit 75"
assert_match "$(cat "$T/e7b")" "locked" "deleting from a locked keyring: says it is locked"
no_prompt "locked keyring"

# A frozen keyring: our own deadline, not D-Bus's 50 s.
unlock_keyring
freeze_keyring
start=$(date +%s)
out=$(timeout 40 "$MAILCRED" -c "$CONF" password get "$P" 2>"$T/e8")
rc=$?
thaw_keyring
assert_status $rc 75 "frozen keyring: exit 75"
assert_eq "$out" "" "frozen keyring: nothing on stdout"
assert_match "$(cat "$T/e8")" "did not answer" "frozen keyring: says it did not answer"
assert_true "[ $(( $(date +%s) - start )) -lt 30 ]" "frozen keyring: gives up well before D-Bus's 50 s"

# The file store: 0600 file in a 0700 directory, refused when open.
printf '%s\n' "$PW" | mc password set "$F" 2>/dev/null
assert_status $? 0 "file store: set"
assert_eq "$(mc password get "$F")" "$PW" "file store: get"
dir=$XDG_DATA_HOME/mailcred
file=$(find "$dir" -mindepth 1 -maxdepth 1 -name "*$F*" ! -name '.*' -printf '%f\n')
assert_eq "$(stat -c %a "$dir")" 700 "file store: directory is 0700"
assert_eq "$(stat -c %a "$dir/$file")" 600 "file store: file is 0600"
assert_eq "$(find "$dir" -mindepth 1 -maxdepth 1 | wc -l)" 1 "file store: no temporary files left"
chmod 644 "$dir/$file"
out=$(mc password get "$F" 2>"$T/e9")
assert_status $? 78 "file store: a file others can read is refused"
assert_eq "$out" "" "file store: nothing on stdout when refused"
assert_match "$(cat "$T/e9")" "chmod 600" "file store: says how to fix the file"
chmod 600 "$dir/$file"
chmod 755 "$dir"
out=$(mc password get "$F" 2>"$T/e10")
assert_status $? 78 "file store: a directory others can enter is refused"
assert_match "$(cat "$T/e10")" "chmod 700" "file store: says how to fix the directory"
chmod 700 "$dir"
assert_eq "$(mc password get "$F")" "$PW" "file store: works again once fixed"

# The password never reaches argv: a watcher sees only "password set".
printf '%s\n' "$PW" | mc password set "$F" 2>/dev/null
assert_no_match "$(grep -rs "$PW" "$T" --include='*.log' -l)" "." "no log file holds the password"

finish
