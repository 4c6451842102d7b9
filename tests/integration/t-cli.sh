#!/usr/bin/env bash
# The command line: every usage error names what was wrong in one line, then
# the synopsis follows, exit 64, nothing on stdout; help goes to stdout with
# exit 0. No peers: every case here is decided before any account is loaded.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
OAUTH_URL=http://127.0.0.1:9	# never reached
write_config a
NL=$'\n'

# usage_error 'FIRST LINE' ARGS...: mailcred ARGS is a usage error whose
# first stderr line is exactly FIRST LINE, followed by nothing but the
# synopsis: the command's own when the line names a command.
usage_error() {
	local want=$1 rc syn cmd
	shift
	"$MAILCRED" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	local what="mailcred $*"
	assert_status "$rc" 64 "$what: exit 64"
	assert_eq "$(cat "$T/out")" "" "$what: nothing on stdout"
	assert_eq "$(head -n 1 "$T/err")" "$want" "$what: names what was wrong"
	cmd=$(sed -n 's/^mailcred: \(login\|token\|sasl\|password\): .*/\1/p' <<<"$want")
	if [ -n "$cmd" ]; then
		syn="^usage: mailcred $cmd [^$NL]*\$"
	else
		syn="^usage: mailcred \\[-c FILE\\] \\[-v\\] \\[-q\\] COMMAND \\[ARGS\\]$NL"
		syn+="(       mailcred [^$NL]*$NL)*"
		syn+="       mailcred --version \\| --help\$"
	fi
	assert_match "$(tail -n +2 "$T/err")" "$syn" "$what: then the synopsis${cmd:+ of $cmd}, and nothing else"
}

# mailcred's own options and the command name.
usage_error "mailcred: option '-c' needs an argument" -c
usage_error "mailcred: option '--config' needs an argument" --config
usage_error "mailcred: unknown option '-x'" -x token a
usage_error "mailcred: unknown option '--bogus'" --bogus token a
usage_error "mailcred: unknown option '--bogus'" --bogus=1 token a
usage_error "mailcred: option '--version' takes no argument" --version=2
usage_error "mailcred: missing COMMAND"
usage_error "mailcred: missing COMMAND" -c "$CONF" -v -q
usage_error "mailcred: unknown command 'nosuch'" nosuch
usage_error "mailcred: unknown command 'nosuch'" help nosuch
usage_error "mailcred: unknown command 'to?en'" "to$(printf '\033')en"
usage_error "mailcred: help: extra argument 'more'" help token more

# login
usage_error "mailcred: login: missing ACCOUNT" login
usage_error "mailcred: login: missing ACCOUNT" login --json
usage_error "mailcred: login: extra argument 'b' after ACCOUNT" login a b
usage_error "mailcred: login: unknown option '--bogus'" login --bogus a
usage_error "mailcred: login: unknown option '--bogus'" login a --bogus
usage_error "mailcred: login: unknown option '-z'" login -z a
usage_error "mailcred: login: option '--flow' needs an argument" login a --flow
usage_error "mailcred: login: option '-c' needs an argument" login a -c
usage_error "mailcred: login: --flow is device, browser or manual, not 'sideways'" login --flow sideways a
usage_error "mailcred: login: option '--json' takes no argument" login --json=yes a

# token
usage_error "mailcred: token: missing ACCOUNT" token
usage_error "mailcred: token: extra argument 'b' after ACCOUNT" token a b
usage_error "mailcred: token: unknown option '--bogus'" token --bogus a
usage_error "mailcred: token: unknown option '-x'" token --json -xv a
usage_error "mailcred: token: option '--min-valid' needs an argument" token a --min-valid
usage_error "mailcred: token: --min-valid takes seconds, 0 to 604800, not 'soon'" token --min-valid soon a
usage_error "mailcred: token: --min-valid takes seconds, 0 to 604800, not '-5'" token --min-valid=-5 a
usage_error "mailcred: token: --min-valid takes seconds, 0 to 604800, not '604801'" token --min-valid 604801 a
usage_error "mailcred: token: option '--refresh' takes no argument" token --refresh=now a
usage_error "mailcred: token: option '-c' needs an argument" token a -c

# sasl
usage_error "mailcred: sasl: missing ACCOUNT, or --user with the token on stdin" sasl
usage_error "mailcred: sasl: missing ACCOUNT, or --user with the token on stdin" sasl --raw
usage_error "mailcred: sasl: extra arguments after ACCOUNT (a token is read from stdin, never from the command line)" sasl a ya29.secret
assert_no_match "$(cat "$T/err")" "ya29" "sasl: an extra argument (a token?) is not echoed"
usage_error "mailcred: sasl: unknown option '--bogus'" sasl --bogus a
usage_error "mailcred: sasl: option '--h' is ambiguous" sasl --h a
usage_error "mailcred: sasl: option '--user' needs an argument" sasl --user
usage_error "mailcred: sasl: option '--mech' needs an argument" sasl a --mech
usage_error "mailcred: sasl: --mech is xoauth2 or oauthbearer, not 'plain'" sasl --mech plain a
usage_error "mailcred: sasl: --port takes 1 to 65535, not '0'" sasl --port 0 a
usage_error "mailcred: sasl: --port takes 1 to 65535, not '65536'" sasl --port 65536 a
usage_error "mailcred: sasl: --port takes 1 to 65535, not 'smtp'" sasl --port smtp a
usage_error "mailcred: sasl: option '--raw' takes no argument" sasl --raw=1 a

# password
usage_error "mailcred: password: missing set, get or delete" password
usage_error "mailcred: password: unknown action 'frob': use set, get or delete" password frob a
usage_error "mailcred: password: missing ACCOUNT" password set
usage_error "mailcred: password: missing ACCOUNT" password get
usage_error "mailcred: password: extra arguments after ACCOUNT (set reads the password from stdin, never from the command line)" password set a hunter2
assert_no_match "$(cat "$T/err")" "hunter2" "password: an extra argument (a password?) is not echoed"
usage_error "mailcred: password: --export knows msmtp and git, not 'mutt'" password --export mutt set a
usage_error "mailcred: password: --export has an empty entry: use msmtp, git or msmtp,git" password --export msmtp, set a
usage_error "mailcred: password: --export goes with set or delete" password --export msmtp get a
usage_error "mailcred: password: option '--export' needs an argument" password set a --export
usage_error "mailcred: password: unknown option '-x'" password -x get a
usage_error "mailcred: password: option '--config' needs an argument" password get a --config

# help: on stdout, exit 0, nothing on stderr.
# help_ok NAME ARGS...: prints stdout of mailcred ARGS to $T/help.out.
help_ok() {
	local name=$1 rc
	shift
	"$MAILCRED" "$@" >"$T/help.out" 2>"$T/help.err"
	rc=$?
	assert_status "$rc" 0 "$name: exit 0"
	assert_eq "$(cat "$T/help.err")" "" "$name: nothing on stderr"
}
help_ok "mailcred help" help
general=$(cat "$T/help.out")
assert_match "$general" "^mailcred - " "mailcred help: the general help"
for cmd in login token sasl password; do
	assert_match "$general" "
       mailcred $cmd " "mailcred help: lists $cmd"
done
help_ok "mailcred --help" --help
assert_eq "$(cat "$T/help.out")" "$general" "--help is mailcred help"
help_ok "mailcred -h" -h
assert_eq "$(cat "$T/help.out")" "$general" "-h is mailcred help"
for cmd in login token sasl password; do
	help_ok "mailcred help $cmd" help "$cmd"
	h=$(cat "$T/help.out")
	assert_match "$(head -n 1 <<<"$h")" "^usage: mailcred $cmd " "help $cmd: its synopsis first"
	assert_match "$h" "
  " "help $cmd: then its options"
	help_ok "mailcred $cmd --help" "$cmd" --help
	assert_eq "$(cat "$T/help.out")" "$h" "$cmd --help is help $cmd"
	help_ok "mailcred $cmd a -h" -c "$CONF" "$cmd" a -h
	assert_eq "$(cat "$T/help.out")" "$h" "$cmd -h is help $cmd"
done
help_ok "mailcred --version" --version
assert_match "$(cat "$T/help.out")" "^mailcred [0-9]+\.[0-9]+\.[0-9]+$" "--version prints the version"

finish
