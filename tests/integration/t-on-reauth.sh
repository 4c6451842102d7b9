#!/usr/bin/env bash
# on_reauth: run through /bin/sh -c when the grant is gone, with the
# caller's environment plus MAILCRED_ACCOUNT, stdin from /dev/null, stdout
# sent to stderr, SIGPIPE at its default, and started without fork().
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
A=user@example.test
hook="env >$T/reauth.env; echo on_reauth-says-hello"
hook+="; if read -r x; then echo on_reauth-read-stdin; fi"
hook+="; (yes; echo \$? >$T/yes.status) | head -n 1 >/dev/null"
# The hook's own argv (sh -c ...) and its parent's (mailcred's), one
# argument a line.
hook+="; tr '\\0' '\\n' </proc/\$\$/cmdline >$T/reauth.argv"
hook+="; tr '\\0' '\\n' </proc/\$PPID/cmdline >$T/reauth.pargv"
write_config "$A" "on_reauth = $hook"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "device login succeeds"

blob=$(stored_blob "$A")
secrets=("$(jq -r .refresh_token <<<"$blob")" "$(jq -r .access_token <<<"$blob")" "$CLIENT_SECRET")

# The server forgets every grant: the next refresh gets invalid_grant.
restart_oauth
TRACE=()
if strace -f -o /dev/null true 2>/dev/null; then
	# mailcred's own calls only, not those of the shell it starts.
	# LeakSanitizer cannot work under ptrace (make check SANITIZE=1).
	TRACE=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
		strace -qq -e 'trace=clone,clone3,fork,vfork' -o "$T/strace.log")
else
	diag "strace cannot trace here: not checking how the child is made"
fi
echo "caller-stdin" | MAILCRED_ACCOUNT=someone-else MC_TEST_MARK='a b=c' \
	"${TRACE[@]}" "$MAILCRED" -c "$CONF" token "$A" --refresh >"$T/out" 2>"$T/err"
assert_status $? 77 "invalid_grant exits 77"
assert_eq "$(cat "$T/out")" "" "nothing on stdout: on_reauth's stdout went to stderr"
assert_match "$(cat "$T/err")" "on_reauth-says-hello" "on_reauth's output is on stderr"
assert_match "$(tail -n 1 "$T/err")" "^mailcred: $A: the grant was revoked or has expired" "the failure is still the last line"
assert_no_match "$(cat "$T/err")" "on_reauth-read-stdin" "on_reauth's stdin is /dev/null, not the caller's"

# envvar NAME: its value(s) in the hook's environment, one a line.
envvar() {
	sed -n "s/^$1=//p" "$T/reauth.env" 2>/dev/null
}
assert_eq "$(envvar MAILCRED_ACCOUNT)" "$A" "MAILCRED_ACCOUNT names the account, once, replacing the caller's"
assert_eq "$(envvar MC_TEST_MARK)" "a b=c" "the caller's environment is passed on"
assert_eq "$(envvar HOME)" "$HOME" "HOME is passed on"
assert_eq "$(envvar PATH)" "$PATH" "PATH is passed on"
assert_eq "$(envvar XDG_RUNTIME_DIR)" "$XDG_RUNTIME_DIR" "XDG_RUNTIME_DIR is passed on"

# It ran (argv recorded), and no secret reached its argv, its parent's
# argv or its environment.
assert_match "$(head -1 "$T/reauth.argv" 2>/dev/null)" "sh$" "on_reauth ran through sh"
assert_match "$(sed -n 2p "$T/reauth.argv" 2>/dev/null)" "^-c$" "with -c and the configured command"
assert_match "$(cat "$T/reauth.pargv" 2>/dev/null)" "token" "its parent is the mailcred token call"
for s in "${secrets[@]}"; do
	if [ -z "$s" ] || [ "$s" = null ]; then
		not_ok "setup: a secret to look for"
		continue
	fi
	assert_no_match "$(cat "$T/reauth.env" "$T/reauth.argv" "$T/reauth.pargv" 2>/dev/null)" "$s" "no secret in on_reauth's argv or environment (${s:0:4}...)"
done

# mailcred ignores SIGPIPE; a pipeline in the hook must not inherit that
# (yes would then fail with EPIPE and complain instead of dying quietly).
assert_eq "$(cat "$T/yes.status" 2>/dev/null)" 141 "SIGPIPE is at its default in on_reauth"
assert_no_match "$(cat "$T/err")" "Broken pipe" "no EPIPE complaint from the hook"

if [ "${#TRACE[@]}" -gt 0 ]; then
	# posix_spawn: clone with CLONE_VM|CLONE_VFORK; fork() would be a
	# clone without CLONE_VM (threads have CLONE_VM too).
	assert_match "$(cat "$T/strace.log")" "CLONE_VM\|CLONE_VFORK" "the hook is started with posix_spawn"
	assert_no_match "$(grep -E 'clone3?\(' "$T/strace.log" | grep -v CLONE_VM)" "clone" "nothing is fork()ed"
fi

finish
