#!/usr/bin/env bash
# mailcred add: writes an [account] section that token and password then
# use; keeps an existing configuration byte for byte; refuses duplicates;
# needs --provider when it cannot tell; on a terminal goes on to read the
# app password without echo.
#
# No DNS: gmail.com is known by its name, and .invalid names are
# special-use (RFC 6761), which mailcred never looks up; the MX path is
# covered by tests/unit/test_provider_guess.c with an injected resolver.
. "$(dirname "$0")/../lib.sh"

stack_init
start_keyring

# The default path: $XDG_CONFIG_HOME/mailcred/config, its folder missing.
CFG=$XDG_CONFIG_HOME/mailcred/config
assert_true "[ ! -e '$XDG_CONFIG_HOME/mailcred' ]" "no configuration folder yet"

# --auth password, not on a terminal: the section, and the next command.
"$MAILCRED" add me@gmail.com --auth password --store file </dev/null \
	>"$T/out" 2>"$T/err"
assert_status $? 0 "add --auth password succeeds"
assert_eq "$(cat "$T/out")" "" "add prints nothing on stdout"
err=$(cat "$T/err")
assert_match "$err" "me@gmail.com: gmail.com is Google's: provider = google" "the guess is printed"
assert_match "$err" "2-Step Verification" "Gmail app passwords need 2-step verification"
assert_match "$err" "https://myaccount.google.com/apppasswords" "the app-password page is given"
assert_match "$err" "added \[account me@gmail.com\] to $CFG" "says what it wrote where"
assert_match "$err" "mailcred password set me@gmail.com" "names the next command"
assert_eq "$(cat "$CFG")" "[account me@gmail.com]
provider = google
auth = password
store = file" "the section written"
assert_eq "$(stat -c %a "$CFG")" 600 "the file is created 0600"
assert_eq "$(stat -c %a "$XDG_CONFIG_HOME/mailcred")" 700 "its folder is created 0700"

# password set / get use the new section.
printf 'abcd efgh ijkl mnop\n' | "$MAILCRED" password set me@gmail.com 2>"$T/err"
assert_status $? 0 "password set works on the added account"
assert_eq "$("$MAILCRED" password get me@gmail.com 2>&1)" "abcd efgh ijkl mnop" "password get returns it"

# oauth2 with --client-id: token resolves the account and says "log in"
# (77), not a configuration error (78).
"$MAILCRED" add x@gmail.com --client-id 1234-abc.apps.googleusercontent.com \
	</dev/null >"$T/out" 2>"$T/err"
assert_status $? 0 "add with --client-id succeeds"
assert_eq "$(cat "$T/out")" "" "nothing on stdout"
assert_match "$(cat "$T/err")" "mailcred login x@gmail.com" "names login as the next command"
assert_match "$(cat "$T/err")" "no client_secret written" "says no client secret was written"
assert_match "$(cat "$CFG")" $'\n\n\\[account x@gmail.com\\]\nprovider = google\nauth = oauth2\nclient_id = 1234-abc.apps.googleusercontent.com$' "the oauth2 section follows a blank line"
"$MAILCRED" token x@gmail.com >"$T/out" 2>"$T/err"
assert_status $? 77 "token on the added account: not logged in (77)"
assert_eq "$(wc -l <"$T/err")" 1 "one line on stderr"
assert_match "$(cat "$T/err")" "^mailcred: x@gmail.com: .*login" "it says to log in"
assert_eq "$(cat "$T/out")" "" "nothing on stdout"

# An existing configuration: its bytes, comments and all, stay a prefix.
OWN=$T/own.conf
printf '# my accounts ; do not touch\n\n[account work]   # office\nprovider = google\nauth = password\n; last line, no newline' >"$OWN"
chmod 640 "$OWN"
cp "$OWN" "$T/own.orig"
"$MAILCRED" -c "$OWN" add me@googlemail.com --auth password </dev/null 2>"$T/err"
assert_status $? 0 "add to an existing configuration"
size=$(stat -c %s "$T/own.orig")
assert_true "head -c $size '$OWN' | cmp -s - '$T/own.orig'" "the old bytes are kept as they were"
assert_eq "$(tail -c +$((size + 1)) "$OWN")" "

[account me@googlemail.com]
provider = google
auth = password" "only a newline, a blank line and the section were added"
assert_eq "$(stat -c %a "$OWN")" 640 "the file keeps its mode"
assert_match "$(cat "$T/err")" "mailcred -c $OWN password set me@googlemail.com" "the next command keeps -c"

# A duplicate: 78, one line with the fix, nothing changed.
sum=$(sha256sum <"$OWN")
"$MAILCRED" -c "$OWN" add me@googlemail.com --auth password </dev/null \
	>"$T/out" 2>"$T/err"
assert_status $? 78 "a duplicate is refused (78)"
assert_eq "$(wc -l <"$T/err")" 1 "one line on stderr"
assert_match "$(cat "$T/err")" "^mailcred: me@googlemail.com: $OWN already has \[account me@googlemail.com\]: change it there" "names the file and the fix"
assert_eq "$(cat "$T/out")" "" "nothing on stdout"
assert_eq "$(sha256sum <"$OWN")" "$sum" "the file is unchanged"
assert_eq "$(find "$T" -mindepth 1 -maxdepth 1 -name '.own*' | wc -l)" 0 "no temporary file is left"

# An unparsable configuration is refused with its error, untouched.
printf '[account a]\nclient_idd = 1\n' >"$T/bad.conf"
sum=$(sha256sum <"$T/bad.conf")
"$MAILCRED" -c "$T/bad.conf" add n@gmail.com --auth password </dev/null 2>"$T/err"
assert_status $? 78 "an unparsable configuration is refused (78)"
assert_match "$(cat "$T/err")" "bad.conf:2: unknown key 'client_idd'" "with the parser's error"
assert_eq "$(sha256sum <"$T/bad.conf")" "$sum" "and left untouched"

# No guess and no --provider, not on a terminal: 64 naming --provider.
sum=$(sha256sum <"$OWN")
"$MAILCRED" -c "$OWN" add me@corp.invalid --client-id abc </dev/null \
	>"$T/out" 2>"$T/err"
assert_status $? 64 "an unknown provider without --provider: usage error (64)"
assert_eq "$(wc -l <"$T/err")" 1 "one line on stderr"
assert_match "$(cat "$T/err")" "^mailcred: me@corp.invalid: cannot tell who serves it .*pass --provider" "it names --provider"
assert_eq "$(sha256sum <"$OWN")" "$sum" "nothing was written"
"$MAILCRED" -c "$OWN" add me@corp.invalid --provider microsoft --client-id abc </dev/null 2>"$T/err"
assert_status $? 0 "with --provider it is added"
assert_match "$(cat "$OWN")" $'\\[account me@corp.invalid\\]\nprovider = microsoft\nauth = oauth2\nclient_id = abc' "the given provider is written"

# oauth2 without --client-id, not on a terminal: 64 naming --client-id.
"$MAILCRED" -c "$OWN" add y@gmail.com </dev/null >"$T/out" 2>"$T/err"
assert_status $? 64 "oauth2 without --client-id off a terminal: 64"
assert_match "$(cat "$T/err")" "pass --client-id ID .*console.cloud.google.com" "it names --client-id and where to get one"

# Not an address: 64.
"$MAILCRED" -c "$OWN" add 'no-at-sign' --auth password </dev/null 2>"$T/err"
assert_status $? 64 "an address without '@' is a usage error"
assert_match "$(head -1 "$T/err")" "is not a mail address: it needs exactly one '@'" "and says why"
"$MAILCRED" -c "$OWN" add 'a b@gmail.com' --auth password </dev/null 2>"$T/err"
assert_status $? 64 "an address with a blank is a usage error"

# On a terminal: the app password is asked for without echo, and stored.
TTYCONF=$T/tty.conf
out=$T/tty.out
: >"$out"
# shellcheck disable=SC2094  # the loop reads what script writes to $out: on purpose
{
	for i in $(seq 100); do grep -q 'App password for' "$out" && break; sleep 0.1; done
	printf 'tty-secret-4321\n'
	for i in $(seq 100); do grep -q 'stored' "$out" && break; sleep 0.1; done
} | script -qec "'$MAILCRED' -c '$TTYCONF' add t@gmail.com --auth password --store file" /dev/null >"$out"
assert_status $? 0 "add on a terminal goes on to password set"
assert_match "$(cat "$out")" "App password for t@gmail.com:" "it asks for the app password"
assert_no_match "$(cat "$out")" "tty-secret-4321" "the password is not echoed"
assert_match "$(cat "$out")" "app password stored in the file" "and stores it"
assert_eq "$("$MAILCRED" -c "$TTYCONF" password get t@gmail.com 2>&1)" "tty-secret-4321" "password get returns what was typed"

finish
