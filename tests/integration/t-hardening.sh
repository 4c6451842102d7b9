#!/usr/bin/env bash
# Hardening of what mailcred leaves on disk and in memory: the modes of
# the files and directories it writes (DESIGN.md "Secrets": 0600 files in
# 0700 directories); symbolic and hard links at the file store, the
# runtime cache and the lock files are refused, and nothing is ever
# written through one; a running mailcred cannot dump core (not
# dumpable, core limit 0), while strace, which starts it, still works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_oauth
oauth_config '{"device_interval":1}'

F=hardening@example.test
write_config "$F" "store = file" \
	"authorization_endpoint = $OAUTH_URL/auth"
D=$XDG_DATA_HOME/mailcred
STATE=$D/.state
RT=$XDG_RUNTIME_DIR/mailcred

# The umask of the caller must not matter.
umask 022

# ---------------------------------------------------------------------------
# 1. Modes

login_device "$F"
assert_status "$LOGIN_RC" 0 "device login into the file store"
mc token "$F" --refresh >/dev/null 2>"$T/tok.err"
assert_status $? 0 "a refresh (takes the lock, fills the runtime cache)"
mc password set "$F" <<<"hardening-app-pass-1" 2>"$T/pw.err"
assert_status $? 0 "password set into the file store"

assert_eq "$(stat -c %a "$D")" 700 "the file store directory is 0700"
assert_eq "$(stat -c %a "$D/$F.oauth2")" 600 "the token file is 0600"
assert_eq "$(stat -c %a "$D/$F.password")" 600 "the password file is 0600"
assert_eq "$(stat -c %a "$STATE")" 700 "the state directory is 0700"
assert_eq "$(stat -c %a "$STATE/$F.lock")" 600 "the lock file is 0600"
assert_eq "$(stat -c %a "$RT")" 700 "the runtime cache directory is 0700"
assert_eq "$(stat -c %a "$RT/$F.access")" 600 "the runtime cache file is 0600"
assert_eq "$(find "$D" "$RT" -name '.mailcred-tmp-*' | wc -l)" 0 "no temporary file is left behind"

# Keyring accounts keep their lock files under the real home (auth/lock.h).
PWHOME=$(getent passwd "$(id -u)" | cut -d: -f6)
USTATE=${PWHOME%/}/.local/state/mailcred
if [ -d "$USTATE" ]; then
	assert_eq "$(stat -c %a "$USTATE")" 700 "the keyring accounts' state directory is 0700"
	bad=$(find "$USTATE" -maxdepth 1 -type f ! -perm 600 | head -n 3)
	assert_eq "$bad" "" "every file in the keyring accounts' state directory is 0600"
fi

# The recovery file of a file-store account (as a refused write leaves
# it) is read only when it is a private, single-linked file too.
cp "$D/$F.oauth2" "$STATE/$F.recovery-file"
chmod 644 "$STATE/$F.recovery-file"
out=$(mc token "$F" --refresh 2>"$T/rec.err")
rc=$?
assert_ne "$rc" 0 "a recovery file others can read is refused"
assert_eq "$out" "" "nothing on stdout for an unsafe recovery file"
assert_match "$(cat "$T/rec.err")" "^mailcred: $F: .*recovery-file is readable by others: chmod 600" "the unsafe recovery file is named, with the fix"
rm -f "$STATE/$F.recovery-file"

# Config written by add: 0600 in a 0700 directory, whatever the umask.
NC=$T/newconf/sub/config
"$MAILCRED" -c "$NC" add new@example.test --provider google --client-id x \
	--store file </dev/null >/dev/null 2>"$T/add.err"
assert_status $? 0 "add writes a new config"
assert_eq "$(stat -c %a "$NC")" 600 "the config written by add is 0600"
assert_eq "$(stat -c %a "$T/newconf/sub")" 700 "the directory add creates for it is 0700"

# ---------------------------------------------------------------------------
# 2. Links: refused, and nothing written through them.

VICTIM=$T/victim
printf 'victim-content\n' >"$VICTIM"
chmod 600 "$VICTIM"
victim_intact() {
	assert_eq "$(cat "$VICTIM")" "victim-content" "$1: the link's target is unchanged"
}
# refused NAME EXPECTED_RE CMD...: the command fails, prints nothing, and
# says EXPECTED_RE in one line naming the account.
refused() {
	local what=$1 re=$2 out rc
	shift 2
	out=$("$@" 2>"$T/ref.err")
	rc=$?
	assert_ne "$rc" 0 "$what: refused"
	assert_eq "$out" "" "$what: nothing on stdout"
	assert_eq "$(wc -l <"$T/ref.err")" 1 "$what: one line on stderr"
	assert_match "$(cat "$T/ref.err")" "^mailcred: $F: .*$re" "$what: says why and what to do"
}

# The token file of the store: a symbolic link, then a hard link.
mv "$D/$F.oauth2" "$T/tokens.json"
ln -s "$VICTIM" "$D/$F.oauth2"
refused "token file a symbolic link" "$F\.oauth2 is a symbolic link: remove it" mc token "$F" --refresh
victim_intact "token file a symbolic link"
rm "$D/$F.oauth2"
ln "$VICTIM" "$D/$F.oauth2"
refused "token file a hard link" "$F\.oauth2 has 2 hard links: remove it" mc token "$F" --refresh
victim_intact "token file a hard link"
rm "$D/$F.oauth2"
cp "$T/tokens.json" "$D/$F.oauth2"

# The password file: reading through a link is refused; a new password
# replaces the link itself (rename), never the file it points to.
mv "$D/$F.password" "$T/password.txt"
ln -s "$VICTIM" "$D/$F.password"
refused "password file a symbolic link" "$F\.password is a symbolic link" mc password get "$F"
mc password set "$F" <<<"hardening-app-pass-2" 2>/dev/null
assert_status $? 0 "password set over a symbolic link replaces the link"
victim_intact "password set over a symbolic link"
assert_true "[ -f '$D/$F.password' ] && [ ! -L '$D/$F.password' ]" "the link is now a file of the store"
rm "$D/$F.password"
ln "$VICTIM" "$D/$F.password"
refused "password file a hard link" "$F\.password has 2 hard links" mc password get "$F"
mc password set "$F" <<<"hardening-app-pass-3" 2>/dev/null
assert_status $? 0 "password set over a hard link replaces the link"
victim_intact "password set over a hard link"
assert_eq "$(stat -c %h "$VICTIM")" 1 "the target has its one name again"

# The store directory a symbolic link to another directory.
mv "$D" "$T/store.real"
mkdir -m 700 "$T/elsewhere"
ln -s "$T/elsewhere" "$D"
refused "store directory a symbolic link" "is a symbolic link: use the directory it points to" mc password get "$F"
printf 'x\n' | mc password set "$F" >/dev/null 2>&1
assert_ne $? 0 "password set into a symbolically linked store directory is refused"
assert_eq "$(ls -A "$T/elsewhere")" "" "nothing was written into the link's target directory"
rm "$D"
mv "$T/store.real" "$D"

# The lock file: a symbolic link, then a hard link.
rm -f "$STATE/$F.lock"
ln -s "$VICTIM" "$STATE/$F.lock"
refused "lock file a symbolic link" "lock file .*$F\.lock is a symbolic link: remove it" mc token "$F" --refresh
victim_intact "lock file a symbolic link"
rm "$STATE/$F.lock"
ln "$VICTIM" "$STATE/$F.lock"
refused "lock file a hard link" "$F\.lock is not a lock file of yours: remove it" mc token "$F" --refresh
victim_intact "lock file a hard link"
rm "$STATE/$F.lock"

# The runtime cache file: passed over with a warning (the store still
# serves), and a refresh replaces the link, never its target.
for kind in symbolic hard; do
	rm -f "$RT/$F.access"
	if [ "$kind" = symbolic ]; then
		ln -s "$VICTIM" "$RT/$F.access"
	else
		ln "$VICTIM" "$RT/$F.access"
	fi
	out=$(mc token "$F" 2>"$T/rt.err")
	assert_status $? 0 "runtime cache file a $kind link: token still works from the store"
	assert_match "$out" '^[A-Za-z0-9_-]{20,}$' "runtime cache file a $kind link: a token on stdout"
	assert_match "$(cat "$T/rt.err")" "^mailcred: $F: warning: the runtime token cache is passed over: .*$F\.access (is a symbolic link|has 2 hard links)" "runtime cache file a $kind link: a warning names it"
	mc token "$F" --refresh >/dev/null 2>&1
	assert_status $? 0 "runtime cache file a $kind link: a refresh succeeds"
	victim_intact "runtime cache file a $kind link, after a refresh"
	assert_true "[ -f '$RT/$F.access' ] && [ ! -L '$RT/$F.access' ] && [ \"\$(stat -c %h '$RT/$F.access')\" = 1 ]" \
		"runtime cache file a $kind link: replaced by a file of its own"
done

# The runtime cache directory a symbolic link.
mv "$RT" "$T/rt.real"
mkdir -m 700 "$T/rt-elsewhere"
ln -s "$T/rt-elsewhere" "$RT"
out=$(mc token "$F" --refresh 2>"$T/rtd.err")
assert_status $? 0 "runtime cache directory a symbolic link: the token still comes from the store"
assert_match "$(cat "$T/rtd.err")" "warning: .*$RT is a symbolic link" "runtime cache directory a symbolic link: a warning names it"
assert_eq "$(ls -A "$T/rt-elsewhere")" "" "nothing was written into the runtime link's target"
rm "$RT"
mv "$T/rt.real" "$RT"

# ---------------------------------------------------------------------------
# 3. No core dumps.  Run as an ordinary user (nobody), /proc/PID of a
# dumpable process belongs to that user, of a non-dumpable one to root.
NB=$(mktemp -d /tmp/mailcred-nobody.XXXXXX)
# shellcheck disable=SC2317  # called from the EXIT trap below
cleanup_nobody() { rm -rf "$NB"; }
trap 'cleanup_nobody; stack_stop' EXIT
chown nobody:nogroup "$NB"
chmod 700 "$NB"
cat >"$NB/config" <<EOC
[account $F]
client_id = $CLIENT_ID
scope = $SCOPE
store = file
authorization_endpoint = $OAUTH_URL/auth
token_endpoint = $OAUTH_URL/token
EOC
chown nobody:nogroup "$NB/config"
chmod 600 "$NB/config"
mkfifo "$NB/in"
chown nobody:nogroup "$NB/in"
as_nobody() {
	exec env -i PATH=/usr/bin:/bin HOME="$NB" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
		prlimit --core=unlimited:unlimited -- "$@"
}
# A control: the same user's plain process is its owner's, and dumps
# (as_nobody execs: in the background subshell, $! becomes its PID).
as_nobody sleep 30 &
ctl=$!
# mailcred waits in the manual flow for the pasted URL.  nobody runs a
# copy: the build's own binary may be closed to others (a umask of 077).
install -m 0755 "$MAILCRED" "$NB/mailcred"
as_nobody "$NB/mailcred" -c "$NB/config" login "$F" --flow manual \
	<"$NB/in" >"$NB/out" 2>"$NB/err" &
mcpid=$!
exec {hold}>"$NB/in"
for _ in $(seq 100); do
	grep -q 'http' "$NB/out" "$NB/err" 2>/dev/null && break
	sleep 0.1
done
assert_match "$(cat "$NB/out" "$NB/err")" "$OAUTH_URL/auth" "login --flow manual waits for the paste"
# prlimit/setpriv exec: $! is mailcred's own PID once it runs.
assert_eq "$(readlink "/proc/$mcpid/exe")" "$NB/mailcred" "the PID is mailcred's"
assert_eq "$(stat -c %U "/proc/$ctl/status")" nobody "control: a dumpable process of nobody owns its /proc files"
assert_eq "$(stat -c %U "/proc/$mcpid/status")" root "mailcred is not dumpable: its /proc files belong to root"
assert_match "$(grep '^Max core file size' "/proc/$ctl/limits")" 'unlimited +unlimited' "control: the core limit given is unlimited"
assert_match "$(grep '^Max core file size' "/proc/$mcpid/limits")" ' 0 +unlimited ' "mailcred sets its soft core limit to 0, its hard limit as given"
kill "$mcpid" "$ctl" 2>/dev/null
wait "$mcpid" "$ctl" 2>/dev/null
exec {hold}>&-

# The programs mailcred starts (here the browser) get the core limits
# mailcred was given, not its own.
cat >"$T/opener" <<'EOS'
#!/bin/sh
echo "$(ulimit -Sc) $(ulimit -Hc)" >"$OPENER_OUT"
EOS
chmod 755 "$T/opener"
# (A sanitized build: ASan lowers the soft core limit itself unless told
# not to, before mailcred runs.)
prlimit --core=unlimited:unlimited -- env DISPLAY=:99 BROWSER="$T/opener" \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}disable_coredump=0" \
	OPENER_OUT="$T/opener.out" "$MAILCRED" -c "$CONF" login "$F" \
	--flow browser --timeout 3 >/dev/null 2>"$T/browser.err"
assert_status $? 75 "login --flow browser with nobody at the redirect: times out"
assert_eq "$(cat "$T/opener.out" 2>/dev/null)" "unlimited unlimited" "the browser mailcred starts gets the core limits mailcred was given"

# Tracers still work: strace starts mailcred and sees its system calls.
if command -v strace >/dev/null 2>&1; then
	# LeakSanitizer cannot work under ptrace (make check SANITIZE=1).
	out=$(ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -qq -e trace=prctl -o "$T/strace" "$MAILCRED" -c "$CONF" token "$F" 2>"$T/st.err")
	assert_status $? 0 "token under strace succeeds"
	assert_match "$out" '^[A-Za-z0-9_-]{20,}$' "token under strace prints the token"
	assert_match "$(cat "$T/strace")" "prctl\(PR_SET_DUMPABLE, (SUID_DUMP_DISABLE|0)" "strace sees mailcred make itself non-dumpable"
else
	diag "strace not installed: tracer check skipped"
fi

finish
