#!/usr/bin/env bash
# A refresh token is never lost or forked: the store refuses the write after
# the server rotated (keyring locked, file store unusable, and both with the
# recovery file blocked too); callers in different environments share one
# refresh; a lifetime of 0 keeps single flight; an unusable answer still
# yields its rotated refresh token; the expiry counts from the request.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth --rotate
# Keyring accounts keep their state under the real home (auth/lock.h):
# names of this run's own, and what they leave is removed at the end.
K=keyring-$$-$RANDOM@example.test
F=file@example.test
PWHOME=$(getent passwd "$(id -u)" | cut -d: -f6)
STATE=${PWHOME%/}/.local/state/mailcred
write_config "$K"
write_config "$F" "store = file"
oauth_config '{"device_interval":1}'
login_device "$K"
assert_status "$LOGIN_RC" 0 "device login (keyring) succeeds"
login_device "$F"
assert_status "$LOGIN_RC" 0 "device login (file store) succeeds"

file_blob() {	# what the file store holds for NAME's tokens
	cat "$XDG_DATA_HOME/mailcred/$1.oauth2" 2>/dev/null
}
rec_keyring=$STATE/$K.recovery-keyring
rec_file=$XDG_DATA_HOME/mailcred/.state/$F.recovery-file

# 1a. The keyring is locked while a rotating refresh is under way: the new
# refresh token goes to the recovery file, the token is handed out.
rt0=$(stored_blob "$K" | jq -r .refresh_token)
oauth_config '{"refresh_delay_ms":1500}'
mc token "$K" --refresh >"$T/k.out" 2>"$T/k.err" &
pid=$!
sleep 0.5
lock_keyring
wait "$pid"
assert_status $? 0 "keyring locked during a rotating refresh: the token is still handed out"
at1=$(cat "$T/k.out")
assert_ne "$at1" "" "keyring locked during a refresh: a token on stdout"
assert_match "$(cat "$T/k.err")" "^mailcred: $K: warning: the keyring refused the new tokens \(.*locked.*\): they are kept in $rec_keyring" "keyring locked: says where the tokens are kept"
assert_true "[ -f '$rec_keyring' ]" "the recovery file exists"
assert_eq "$(stat -c %a "$rec_keyring")" 600 "the recovery file is 0600"
assert_eq "$(stat -c %a "$STATE")" 700 "the state directory is 0700"
rt1=$(jq -r .refresh_token "$rec_keyring")
assert_ne "$rt1" "$rt0" "the recovery file holds the rotated refresh token"
oauth_config '{"refresh_delay_ms":0}'
out=$(mc token "$K" 2>"$T/k2.err")
assert_status $? 0 "while the keyring stays locked, the recovery file serves the token"
assert_eq "$out" "$at1" "and it is the token the refresh got"
unlock_keyring
assert_eq "$(stored_blob "$K" | jq -r .refresh_token)" "$rt0" "the keyring still holds the old refresh token before the merge"
out=$(mc token "$K" 2>"$T/k3.err")
assert_status $? 0 "after unlocking, token succeeds"
assert_match "$(cat "$T/k3.err")" "back in the keyring" "after unlocking: says the tokens are back in the keyring"
assert_eq "$(stored_blob "$K" | jq -r .refresh_token)" "$rt1" "the rotated refresh token is now in the keyring"
assert_true "[ ! -e '$rec_keyring' ]" "the recovery file is gone"
out=$(mc token "$K" --refresh 2>"$T/k4.err")
assert_status $? 0 "the kept refresh token works: nothing was lost"

# 1b. The file store refuses the write (its directory opened to others
# mid-refresh): the same.
rt0=$(file_blob "$F" | jq -r .refresh_token)
oauth_config '{"refresh_delay_ms":1500}'
mc token "$F" --refresh >"$T/f.out" 2>"$T/f.err" &
pid=$!
sleep 0.5
chmod 755 "$XDG_DATA_HOME/mailcred"
wait "$pid"
assert_status $? 0 "file store refusing the write: the token is still handed out"
assert_match "$(cat "$T/f.err")" "^mailcred: $F: warning: the file refused the new tokens .*chmod 700.*: they are kept in $rec_file" "file store refusing: says why and where the tokens are kept"
rt1=$(jq -r .refresh_token "$rec_file")
assert_ne "$rt1" "$rt0" "the recovery file holds the rotated refresh token"
oauth_config '{"refresh_delay_ms":0}'
chmod 700 "$XDG_DATA_HOME/mailcred"
out=$(mc token "$F" 2>"$T/f2.err")
assert_status $? 0 "once the store is fixed, token succeeds"
assert_eq "$(file_blob "$F" | jq -r .refresh_token)" "$rt1" "the rotated refresh token is now in the file store"
assert_true "[ ! -e '$rec_file' ]" "the recovery file is gone"
mc token "$F" --refresh >/dev/null 2>&1
assert_status $? 0 "the kept refresh token works"

# 1b'. A kill between the store write and the removal of the recovery
# file never leaves it older than the store: it is brought level first.
oauth_config '{"refresh_delay_ms":1500}'
mc token "$F" --refresh >/dev/null 2>&1 &
pid=$!
sleep 0.5
chmod 755 "$XDG_DATA_HOME/mailcred"
wait "$pid"
assert_true "[ -s '$rec_file' ]" "a recovery file again, to be merged by a refresh"
oauth_config '{"refresh_delay_ms":2000}'
# SIGKILL at the first unlinkat: the removal of the recovery file, after
# the store took the new tokens.
strace -f -qq -o /dev/null -e trace=unlinkat -e inject=unlinkat:signal=SIGKILL:when=1 \
	"$MAILCRED" -c "$CONF" token "$F" --refresh >/dev/null 2>"$T/kill.err" &
pid=$!
sleep 0.7
chmod 700 "$XDG_DATA_HOME/mailcred"
wait "$pid"
assert_status $? 137 "the refresh was killed (strace injected SIGKILL)"
assert_eq "$(jq -r .refresh_token "$rec_file")" "$(file_blob "$F" | jq -r .refresh_token)" "the recovery file left behind is level with the store"
oauth_config '{"refresh_delay_ms":0}'
mc token "$F" --refresh >/dev/null 2>"$T/k2.err"
assert_status $? 0 "after the kill the account still works without a new login"
assert_true "[ ! -e '$rec_file' ]" "and the recovery file is gone"
mc token "$F" --refresh >/dev/null 2>&1
assert_status $? 0 "and keeps working"

# 1c. The store and the recovery file both refuse: never exit 75 ("nothing
# was lost"), nothing on stdout, and the message says what happened.
oauth_config '{"refresh_delay_ms":1500}'
mc token "$K" --refresh >"$T/b.out" 2>"$T/b.err" &
pid=$!
sleep 0.5
lock_keyring
mkdir "$rec_keyring"	# a directory where the recovery file would go
wait "$pid"
rc=$?
assert_status $rc 77 "store and recovery file both refusing: exit 77, not 75"
assert_eq "$(cat "$T/b.out")" "" "both refusing: nothing on stdout"
assert_match "$(cat "$T/b.err")" "^mailcred: $K: the new tokens could not be saved: the keyring refused them .*, and so did $rec_keyring .*run 'mailcred login $K'" "both refusing: one line saying what was lost and what to do"
assert_eq "$(wc -l <"$T/b.err")" 1 "both refusing: one line"
rmdir "$rec_keyring"
unlock_keyring
oauth_config '{"refresh_delay_ms":0}'

# 3. Callers in different environments (a desktop session with
# XDG_RUNTIME_DIR, a cron job without it and with another HOME and cache)
# share one lock: one refresh, not two.
restart_oauth --rotate
E=env-$$-$RANDOM@example.test
write_config "$E"
login_device "$E"
assert_status "$LOGIN_RC" 0 "device login for the environment test"
age_token "$E"
oauth_reset_stats
oauth_config '{"refresh_delay_ms":1000}'
mkdir -p "$T/cronhome"
"$MAILCRED" -c "$CONF" token "$E" >"$T/e1.out" 2>"$T/e1.err" &
p1=$!
env -u XDG_RUNTIME_DIR -u XDG_CACHE_HOME -u XDG_DATA_HOME -u XDG_STATE_HOME \
	HOME="$T/cronhome" "$MAILCRED" -c "$CONF" token "$E" >"$T/e2.out" 2>"$T/e2.err" &
p2=$!
wait "$p1"
r1=$?
wait "$p2"
r2=$?
assert_eq "$r1/$r2" "0/0" "both callers succeed"
assert_eq "$(oauth_stats | jq .refresh_grants)" 1 "callers in different environments cause one refresh"
assert_eq "$(cat "$T/e1.out")" "$(cat "$T/e2.out")" "and print the same token"
assert_true "[ -f '$STATE/$E.lock' ]" "the keyring's lock is under the password database's home"
oauth_config '{"refresh_delay_ms":0}'

# 4. expires_in 0: concurrent callers still cause one refresh, and such a
# token is never served from the cache.
oauth_config '{"token_rewrite":{"expires_in":0},"refresh_delay_ms":1000}'
age_token "$E"
oauth_reset_stats
for i in 1 2 3 4; do
	mc token "$E" >"$T/z.$i.out" 2>"$T/z.$i.err" &
	zp[i]=$!
done
fails=0
for i in 1 2 3 4; do
	wait "${zp[$i]}" || fails=$((fails + 1))
done
assert_eq "$fails" 0 "expires_in 0: all 4 concurrent callers succeed"
assert_eq "$(oauth_stats | jq .refresh_grants)" 1 "expires_in 0: 4 concurrent callers cause one refresh"
assert_eq "$(cat "$T"/z.*.out | sort -u | wc -l)" 1 "expires_in 0: all print the same token"
oauth_config '{"refresh_delay_ms":0}'
mc token "$E" >/dev/null 2>&1
assert_eq "$(oauth_stats | jq .refresh_grants)" 2 "a token with a lifetime of 0 is not served from the cache"

# 5. An answer without an access token, after the server rotated: the new
# refresh token is kept, the error is clear, and it works afterwards.
oauth_config '{"token_rewrite":{"access_token":null}}'
rt0=$(stored_blob "$E" | jq -r .refresh_token)
out=$(mc token "$E" --refresh 2>"$T/n.err")
assert_status $? 69 "an answer without access_token exits 69"
assert_eq "$out" "" "nothing on stdout"
assert_match "$(cat "$T/n.err")" "^mailcred: $E: .*access_token" "says what is wrong with the answer"
rt1=$(stored_blob "$E" | jq -r .refresh_token)
assert_ne "$rt1" "$rt0" "the rotated refresh token of the unusable answer is stored"
oauth_config '{"token_rewrite":{"scope":["openid","email"],"expires_in":1e300}}'
out=$(mc token "$E" --refresh --json 2>"$T/s.err")
assert_status $? 0 "scope as an array and an absurd expires_in are taken"
assert_eq "$(jq -r .scope <<<"$out")" "openid email" "the scope array is joined"
exp=$(jq .expires_at <<<"$out")
assert_true "[ $exp -le $(( $(date +%s) + 86400 )) ]" "an absurd lifetime is cut to a day"

# 6. The expiry counts from when the request was sent, not from the answer.
oauth_config '{"token_rewrite":{"expires_in":3600},"refresh_delay_ms":2000}'
before=$(date +%s)
out=$(mc token "$E" --refresh --json 2>/dev/null)
exp=$(jq .expires_at <<<"$out")
assert_true "[ $exp -le $((before + 3601)) ]" "expires_at is counted from the request ($exp vs $before)"
oauth_reset_config

# A login answer with a refresh token but no access token: the refresh
# token is kept, and one line says so.
L=noat-$$-$RANDOM@example.test
write_config "$L"
oauth_config '{"token_rewrite":{"access_token":null}}'
login_device "$L"
assert_status "$LOGIN_RC" 69 "a login answer without access_token exits 69"
assert_match "$(cat "$LOGIN_ERR")" "^mailcred: $L: .*access_token; the refresh token it granted was saved: 'mailcred token $L' will try it$" "and says the refresh token was kept, naming the account"
assert_eq "$(wc -l <"$LOGIN_ERR")" 1 "in one line"
oauth_reset_config
out=$(mc token "$L" 2>/dev/null)
assert_status $? 0 "the kept refresh token gives a token"
assert_ne "$out" "" "a token on stdout"
rm -f "$STATE/$L.lock"

# A login never collects an approval that only a recovery file could keep:
# with no Secret Service it stops before asking.
N=nostore-$$-$RANDOM@example.test
write_config "$N"
stop_keyring
out=$(mc login "$N" --flow device 2>"$T/ns.err")
assert_status $? 75 "login without a Secret Service exits 75 before asking"
assert_eq "$out" "" "login without a Secret Service: nothing on stdout"
assert_match "$(cat "$T/ns.err")" "^mailcred: $N: no Secret Service" "login without a Secret Service: says so"
assert_true "[ ! -e '$STATE/$N.recovery-keyring' ]" "login without a Secret Service leaves no recovery file"
# Nor with a Secret Service that has no default collection (storing would
# need a prompt to create one).
stop_bus
rm -rf "$XDG_DATA_HOME/keyrings"
start_keyring_nologin
out=$(mc login "$N" --flow device 2>"$T/nc.err")
assert_status $? 69 "login with no default collection exits 69 before asking"
assert_match "$(cat "$T/nc.err")" "^mailcred: $N: .*default" "login with no default collection: says so"
assert_true "[ ! -e '$STATE/$N.recovery-keyring' ]" "login with no default collection leaves no recovery file"
rm -f "$STATE/$N.lock"

rm -f "$STATE/$K.lock" "$STATE/$E.lock" "$rec_keyring" "$STATE/$E.recovery-keyring"
finish
