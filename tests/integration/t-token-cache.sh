#!/usr/bin/env bash
# The runtime cache of access tokens ($XDG_RUNTIME_DIR/mailcred,
# auth/tcache.h): a fresh token is served from it with the keyring locked,
# stopped or its bus gone; a refresh then needs the keyring and fails as
# before; a refresh that rotates nothing writes the cache only; login,
# logout and invalid_grant remove it; cache = store and none; no runtime
# directory; kill -9 during refreshes; 20 concurrent callers, one refresh;
# and, traced, the cached path connects nowhere and loads no network or
# keyring library.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
A=cache@example.test
write_config "$A"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "device login succeeds"
F=$(runtime_cache_file "$A")
assert_true "[ ! -e '$F' ]" "a login leaves no cached token behind"

# 1. The first token goes into the cache: 0600 in a 0700 directory, the
# access token only.
at=$(mc token "$A")
assert_status $? 0 "token succeeds"
assert_eq "$(stat -c %a "$XDG_RUNTIME_DIR/mailcred")" 700 "the cache directory is 0700"
assert_eq "$(stat -c %a "$F")" 600 "the cache file is 0600"
assert_eq "$(jq -r .access_token "$F")" "$at" "it holds the token handed out"
rt=$(stored_blob "$A" | jq -r .refresh_token)
assert_true "[ -n '$rt' ] && ! grep -qF -- '$rt' '$F'" "it never holds the refresh token"
assert_eq "$(jq -r '.for.client_id' "$F")" "$CLIENT_ID" "it names the client it is for"

# 2. A fresh cached token needs no keyring: locked, then stopped with the
# bus address pointing nowhere.
lock_keyring
assert_eq "$(mc token "$A" 2>"$T/err")" "$at" "a locked keyring still serves the cached token"
assert_eq "$(cat "$T/err")" "" "and says nothing"
out=$(mc token "$A" --min-valid 7200 2>"$T/err")
rc=$?
assert_status "$rc" 75 "a refresh with the keyring locked exits 75"
assert_match "$(tail -n 1 "$T/err")" "^mailcred: $A: .*locked" "and says the keyring is locked"
assert_eq "$out" "" "and prints no token"
unlock_keyring
stop_keyring
assert_eq "$(mc token "$A" 2>"$T/err")" "$at" "the Secret Service stopped: the cached token is served"
assert_eq "$(DBUS_SESSION_BUS_ADDRESS=unix:path=$T/no-such-bus mc token "$A" 2>"$T/err")" "$at" \
	"the bus address pointing nowhere: the cached token is served"
DBUS_SESSION_BUS_ADDRESS=unix:path=$T/no-such-bus mc token "$A" --min-valid 7200 >"$T/out" 2>"$T/err"
rc=$?
assert_ne "$rc" 0 "a refresh with no Secret Service fails"
assert_match "$(tail -n 1 "$T/err")" "^mailcred: $A: .*(Secret Service|D-Bus|bus)" "and says what is missing"
assert_eq "$(cat "$T/out")" "" "and prints no token"
start_keyring
assert_eq "$(stored_blob "$A" | jq -r .refresh_token)" "$rt" "the keyring still holds the refresh token"

# 3. A refresh that rotates nothing writes the runtime cache only; the
# store keeps its older access token.
stored_at=$(stored_blob "$A" | jq -r .access_token)
oauth_reset_stats
at2=$(mc token "$A" --refresh)
assert_status $? 0 "token --refresh succeeds"
assert_ne "$at2" "$at" "it gives a new token"
assert_eq "$(jq -r .access_token "$F")" "$at2" "the cache has it"
assert_eq "$(stored_blob "$A" | jq -r .access_token)" "$stored_at" "the store was not written"
assert_eq "$(mc token "$A")" "$at2" "the next call is served the new token"
assert_eq "$(oauth_stats | jq .refresh_grants)" 1 "one refresh reached the server"

# A corrupt entry is passed over and rewritten; one of another client too.
printf '{"version":1,' >"$F"
chmod 600 "$F"
at3=$(mc token "$A" 2>"$T/err")
assert_status $? 0 "a corrupt cache entry is passed over"
assert_eq "$(jq -r .access_token "$F")" "$at3" "and rewritten"
jq -c '.for.client_id = "someone-else"' "$F" >"$T/other" && cat "$T/other" >"$F"
assert_eq "$(mc token "$A" 2>/dev/null)" "$stored_at" "an entry for another client is not used"
assert_eq "$(jq -r .for.client_id "$F")" "$CLIENT_ID" "and is replaced"
# Open to others: a warning, and it is replaced by a private one.
chmod 644 "$F"
mc token "$A" >/dev/null 2>"$T/err"
assert_status $? 0 "a cache file others can read does not stop the token"
assert_match "$(cat "$T/err")" "warning: the runtime token cache is passed over" "it says the cache was passed over"
assert_eq "$(stat -c %a "$F")" 600 "and the file is private again"
# A link is never followed.
rm -f "$F"
ln -s "$T/elsewhere" "$F"
mc token "$A" >/dev/null 2>"$T/err"
assert_status $? 0 "a symbolic link in place of the cache file does not stop the token"
assert_true "[ ! -e '$T/elsewhere' ] && [ ! -L '$F' ]" "it was not followed, and was replaced"

# 4. With rotation the store gets the new refresh token before the token
# is printed, and the cache the new access token.
restart_oauth --rotate
login_device "$A"
assert_status "$LOGIN_RC" 0 "login again (the server forgot every grant)"
assert_true "[ ! -e '$F' ]" "the login removed the cached token"
rt0=$(stored_blob "$A" | jq -r .refresh_token)
at4=$(mc token "$A" --refresh)
assert_ne "$(stored_blob "$A" | jq -r .refresh_token)" "$rt0" "a rotated refresh token is stored"
assert_eq "$(stored_blob "$A" | jq -r .access_token)" "$at4" "with the new access token"
assert_eq "$(jq -r .access_token "$F")" "$at4" "and the cache has it too"
assert_true "[ -z \"\$(ls '$STATE' 2>/dev/null | grep -F '$A.recovery')\" ]" "no recovery file is left behind"

# 5. invalid_grant removes the cache. (From here on no rotation.)
restart_oauth --access-ttl 3600
mc token "$A" --refresh >/dev/null 2>"$T/err"
assert_status $? 77 "invalid_grant exits 77"
assert_true "[ ! -e '$F' ]" "and the cached token is gone"
login_device "$A"
assert_status "$LOGIN_RC" 0 "login again"
mc token "$A" >/dev/null
assert_true "[ -e '$F' ]" "the cache is back after the next token"

# 6. logout removes it.
mc logout "$A" >/dev/null 2>&1
assert_status $? 0 "logout succeeds"
assert_true "[ ! -e '$F' ]" "logout removed the cached token"
mc token "$A" >/dev/null 2>"$T/err"
assert_status $? 77 "after logout there is no token"

# 7. cache = store: nothing in the runtime directory; cache = none: no
# access token anywhere, and every call refreshes.
S=store-cache@example.test
N=none-cache@example.test
write_config "$S" "cache = store"
write_config "$N" "cache = none"
login_device "$S"
assert_status "$LOGIN_RC" 0 "login with cache = store"
login_device "$N"
assert_status "$LOGIN_RC" 0 "login with cache = none"
ats=$(mc token "$S" --refresh)
assert_true "[ ! -e '$(runtime_cache_file "$S")' ]" "cache = store: no runtime cache file"
assert_eq "$(stored_blob "$S" | jq -r .access_token)" "$ats" "cache = store: the store has the new token"
assert_eq "$(stored_blob "$N" | jq -r '.access_token // "none"')" none "cache = none: the login kept no access token"
oauth_reset_stats
atn1=$(mc token "$N")
atn2=$(mc token "$N")
assert_eq "$(oauth_stats | jq .refresh_grants)" 2 "cache = none: every call refreshes"
assert_ne "$atn1" "$atn2" "and gets a new token"
assert_true "[ ! -e '$(runtime_cache_file "$N")' ]" "cache = none: no runtime cache file"
assert_eq "$(stored_blob "$N" | jq -r '.access_token // "none"')" none "cache = none: the store still has no access token"

printf '[account bad-cache@example.test]\nclient_id = x\ntoken_endpoint = %s/token\ncache = tmpfs\n' "$OAUTH_URL" >"$T/bad.conf"
chmod 600 "$T/bad.conf"
"$MAILCRED" -c "$T/bad.conf" token bad-cache@example.test >/dev/null 2>"$T/err"
assert_status $? 78 "cache = tmpfs is a configuration error"
assert_match "$(cat "$T/err")" "runtime, store or none" "naming the values it takes"

# 8. No XDG_RUNTIME_DIR (cron, plain ssh): the store is the cache.
R=noruntime@example.test
write_config "$R"
login_device "$R"
oauth_reset_stats
atr=$(env -u XDG_RUNTIME_DIR "$MAILCRED" -c "$CONF" token "$R" --refresh)
assert_status $? 0 "token without XDG_RUNTIME_DIR"
assert_eq "$(stored_blob "$R" | jq -r .access_token)" "$atr" "the store has the new token"
assert_true "[ ! -e '$(runtime_cache_file "$R")' ]" "and no runtime cache file was made"
assert_eq "$(env -u XDG_RUNTIME_DIR "$MAILCRED" -c "$CONF" token "$R")" "$atr" "the next call is served from the store"
assert_eq "$(oauth_stats | jq .refresh_grants)" 1 "one refresh in all"

# 9. 20 concurrent callers on a stale token: one refresh, one token.
C=conc@example.test
write_config "$C"
login_device "$C"
mc token "$C" >/dev/null
oauth_config '{"refresh_delay_ms":300}'
oauth_reset_stats
pids=()
for i in $(seq 1 20); do
	mc token "$C" --min-valid 7200 >"$T/c.$i.out" 2>"$T/c.$i.err" &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
assert_eq "$fails" 0 "20 concurrent callers on a stale token succeed"
assert_eq "$(oauth_stats | jq .refresh_grants)" 1 "and cause exactly one refresh"
assert_eq "$(cat "$T"/c.*.out | sort -u | wc -l)" 1 "and all print the same token"
assert_eq "$(cat "$T"/c.*.out | sort -u)" "$(jq -r .access_token "$(runtime_cache_file "$C")")" "the cached one"
oauth_config '{"refresh_delay_ms":0}'

# 9b. A caller that waits for another's refresh finds the lock through the
# cache file (its lock_dir) and reads neither the password database nor
# the store: under strace, no /etc/passwd, no nsswitch.conf, no socket. It
# takes the token the other one got.
if strace -f -o /dev/null true 2>/dev/null; then
	lockdir=$(jq -r .lock_dir "$(runtime_cache_file "$C")")
	assert_eq "$lockdir" \
		"$(getent passwd "$(id -u)" | cut -d: -f6 | sed 's:/*$::')/.local/state/mailcred" \
		"the cache file names the lock's directory"
	oauth_config '{"refresh_delay_ms":1500}'
	oauth_reset_stats
	mc token "$C" --min-valid 7200 >"$T/r.out" 2>"$T/r.err" &
	p=$!
	# The waiter starts once the other one holds the lock (loaded
	# machines and sanitizers start slowly).
	for i in $(seq 200); do
		flock -n "$lockdir/$C.lock" true 2>/dev/null || break
		sleep 0.02
	done
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -e trace=connect,socket,openat -o "$T/wait.log" \
		"$MAILCRED" -c "$CONF" token "$C" --min-valid 7200 >"$T/w.out" 2>"$T/w.err"
	assert_status $? 0 "a traced waiter succeeds"
	wait "$p"
	assert_status $? 0 "and so does the caller that refreshed"
	oauth_config '{"refresh_delay_ms":0}'
	assert_eq "$(oauth_stats | jq .refresh_grants)" 1 "one refresh for both"
	assert_eq "$(cat "$T/w.out")" "$(cat "$T/r.out")" "the waiter prints the token the other one got"
	assert_no_match "$(grep openat "$T/wait.log")" "/etc/passwd|nsswitch" \
		"the waiter does not look up the home directory"
	assert_no_match "$(grep -E 'connect\(|socket\(' "$T/wait.log")" "." \
		"nor open a socket (no keyring, no network)"
else
	diag "strace cannot trace here: the traced waiter check is skipped"
fi

# 10. kill -9 at any moment of a refresh loses nothing: the next call works
# with what is stored, and the cache is never half written.
K=kill@example.test
write_config "$K"
login_device "$K"
rtk=$(stored_blob "$K" | jq -r .refresh_token)
oauth_config '{"refresh_delay_ms":150}'
bad=0
for i in $(seq 1 12); do
	"$MAILCRED" -c "$CONF" token "$K" --refresh >/dev/null 2>&1 &	# not mc: $! must be mailcred
	p=$!
	sleep "0.$((RANDOM % 25))"
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	f=$(runtime_cache_file "$K")
	if [ -e "$f" ] && ! jq -e .access_token "$f" >/dev/null 2>&1; then
		diag "round $i: the cache file does not parse"
		bad=$((bad + 1))
	fi
done
oauth_config '{"refresh_delay_ms":0}'
assert_eq "$bad" 0 "no kill left a half-written cache file"
assert_eq "$(stored_blob "$K" | jq -r .refresh_token)" "$rtk" "the refresh token is still the stored one"
mc token "$K" --min-valid 7200 >/dev/null 2>"$T/err"
assert_status $? 0 "after the kills a refresh works (and the lock was not left held)"

# 10b. With rotation, a kill -9 after the server answered and while the
# keyring hangs on the write: the new refresh token is already in the
# recovery file (written first, as a journal), and the next call uses it.
PWHOME=$(getent passwd "$(id -u)" | cut -d: -f6)
STATE=${PWHOME%/}/.local/state/mailcred
J=journal-$$-$RANDOM@example.test
restart_oauth --rotate
write_config "$J"
login_device "$J"
assert_status "$LOGIN_RC" 0 "login for the journal test"
REC="$STATE/$J.recovery-keyring"
oauth_config '{"refresh_delay_ms":1500}'
"$MAILCRED" -c "$CONF" token "$J" --refresh >/dev/null 2>&1 &	# $! is mailcred (mc is a function: a subshell)
p=$!
sleep 0.7	# the store was read; the refresh request is on its way
freeze_keyring
for i in $(seq 100); do [ -s "$REC" ] && break; sleep 0.1; done
assert_true "[ -s '$REC' ]" "the rotated set reached the recovery file before the keyring write"
kill -KILL "$p" 2>/dev/null
wait "$p" 2>/dev/null
thaw_keyring
oauth_config '{"refresh_delay_ms":0}'
mc token "$J" --refresh >/dev/null 2>"$T/err"
assert_status $? 0 "after kill -9 the next refresh works: the rotated refresh token was kept"
assert_true "[ ! -e '$REC' ] || [ ! -s '$REC' ]" "and the recovery file is gone once the keyring took it"
rm -f "$REC" "$STATE/$J.lock"

# 10c. A token call that read the store before a logout does not put the
# old token back into the cache after it (the cache is written from the
# store only under the lock). The in-flight call is held at its rename.
restart_oauth --access-ttl 3600
L=race@example.test
write_config "$L"
login_device "$L"
if strace -f -o /dev/null true 2>/dev/null; then
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -o /dev/null -e trace=renameat -e inject=renameat:delay_enter=2000000 \
		"$MAILCRED" -c "$CONF" token "$L" >/dev/null 2>&1 &
	p=$!
	sleep 0.8
	mc logout "$L" >/dev/null 2>&1
	assert_status $? 0 "logout while another token call is in flight"
	wait "$p"
	mc token "$L" >"$T/out" 2>"$T/err"
	assert_status $? 77 "after the logout there is no token, cached or not"
	assert_true "[ ! -e '$(runtime_cache_file "$L")' ]" "and no cache file"
fi

# 10d. After invalid_grant, the next call says to log in: the store's
# access token went too.
G=gone@example.test
write_config "$G"
login_device "$G"
restart_oauth --access-ttl 3600
mc token "$G" --refresh >/dev/null 2>&1
assert_status $? 77 "invalid_grant: 77"
mc token "$G" >"$T/out" 2>"$T/err"
assert_status $? 77 "the next call is 77 too"
assert_eq "$(cat "$T/out")" "" "and prints no token of the dead grant"
assert_match "$(tail -n 1 "$T/err")" "run 'mailcred login $G'" "and says to log in"

# 10e. Switched to cache = none: an access token left in the store is not
# used.
W=switch@example.test
write_config "$W" "cache = store"
login_device "$W"
atw=$(mc token "$W")
sed -i "/^\[account $W\]/,/^\$/ s/^cache = store\$/cache = none/" "$CONF"
oauth_reset_stats
assert_ne "$(mc token "$W")" "$atw" "cache = none refreshes though the store has a valid token"
assert_eq "$(oauth_stats | jq .refresh_grants)" 1 "one refresh"

# 11. Traced: the cached path connects nowhere and opens no network or
# keyring library (see auth/curl_dl.h and the lazy loaders).
if strace -f -o /dev/null true 2>/dev/null; then
	mc token "$K" >/dev/null
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -e trace=connect,socket,openat -o "$T/strace.log" \
		"$MAILCRED" -c "$CONF" token "$K" >/dev/null
	assert_status $? 0 "the traced cached token succeeds"
	assert_no_match "$(grep -E 'connect\(|socket\(' "$T/strace.log")" "." "no socket, no connect (no D-Bus, no network)"
	assert_no_match "$(grep openat "$T/strace.log")" "lib(curl|secret|gio|glib|gobject|ssl|crypto|gcrypt|qrencode)" \
		"no libcurl, libsecret, glib or OpenSSL is opened"
	n=$(grep -cE 'openat\(.*\.so[."]' "$T/strace.log")
	diag "the cached path opened $n shared objects: $(grep -oE '[^/"]+\.so[^"]*' "$T/strace.log" | sort -u | tr '\n' ' ')"
else
	diag "strace cannot trace here: the traced checks are skipped"
fi

finish
