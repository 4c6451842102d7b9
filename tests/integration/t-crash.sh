#!/usr/bin/env bash
# Crash safety of the refresh: kill -9 of `mailcred token --refresh` at a
# random moment, against a slow token endpoint (refresh_delay_ms), ROUNDS
# times in each of four configurations: the file store and the Secret
# Service, each with and without refresh-token rotation.  After each kill,
# once the server has finished with the killed request, the account must
# still work without a new login: `token --refresh` succeeds.
#
# Each round is put in one of four classes:
#   done    the process finished before the kill came
#   before  killed before the server got the refresh request
#   during  killed while the server held the request (the delay), or
#           while its answer was in flight: from the request's arrival to
#           GRACE_MS after the server logged its answer (the answer still
#           has to reach the client, be parsed, and be written to the
#           journal: a write and an fsync, which on a loaded machine take
#           tens of ms)
#   after   killed later than that
# No round of any class may lose the account.
#
# Rotation: the old refresh token is spent when the server processes the
# request.  A kill "during" can leave the new one only in an answer that
# nobody reads, and with oidc-provider's strict reuse detection (presenting
# a spent token revokes the whole grant) no client could then keep the
# account.  Providers that rotate have a reuse window instead (Okta's grace
# period, Auth0's reuse interval; Microsoft does not spend old tokens), and
# the test server plays one (refresh_reuse_ms): a spent token presented
# again soon gets the answer that spent it.  So that the window cannot hide
# a lost journal, each replay is counted: a round that needed one must be a
# "during" round (the answer had not reached the journal); after any other
# round the next refresh must present the new token.  The counts are
# printed as "# CONFIG: ..." lines.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

ROUNDS=${CRASH_ROUNDS:-50}
DELAY_MS=${CRASH_DELAY_MS:-60}		# the server's delay on each refresh
SPREAD_MS=$((DELAY_MS + 140))		# kills fall in [0, SPREAD_MS) ms
GRACE_MS=${CRASH_GRACE_MS:-100}		# see "during" above

stack_init
start_keyring
PWHOME=$(getent passwd "$(id -u)" | cut -d: -f6)
KSTATE=${PWHOME%/}/.local/state/mailcred	# keyring accounts' locks, journal
FDIR=$XDG_DATA_HOME/mailcred			# the file store
FSTATE=$FDIR/.state

# now_ms: the time in ms since the epoch, without a fork.
now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo "${t:0:-3}"
}

# held_rt NAME STORE: the refresh token the account holds now: the
# recovery file's (the journal) when there is one, else the store's.
held_rt() {
	local rec
	if [ "$2" = file ]; then
		rec=$FSTATE/$1.recovery-file
		if [ -s "$rec" ]; then jq -r .refresh_token "$rec"; return; fi
		jq -r .refresh_token "$FDIR/$1.oauth2" 2>/dev/null
	else
		rec=$KSTATE/$1.recovery-keyring
		if [ -s "$rec" ]; then jq -r .refresh_token "$rec"; return; fi
		stored_blob "$1" | jq -r .refresh_token
	fi
}

# server_answer_ms N: when the server finished its Nth refresh grant (ms
# since the epoch, from the log line it writes once it has answered);
# waits up to 20 s for it.  Empty if it never came.
server_answer_ms() {
	local n=$(($1 + LOG_BASE)) i line
	for i in $(seq 400); do
		line=$(grep -E 'POST /token -> [0-9]+ grant_type=refresh_token' "$T/oauth.log" |
			sed -n "${n}p")
		if [ -n "$line" ]; then
			date -d "${line%% *}" +%s%3N
			return 0
		fi
		sleep 0.05
	done
}

# crash_config STORE ROTATE: ROUNDS kills for a fresh account.
crash_config() {
	local store=$1 rot=$2 name args=(--access-ttl 3600) r p st t0 tk ta
	local grants0 grants1 rc cls replays0 replays1 stats
	local -A count=([finished]=0 [before]=0 [during]=0 [after]=0)
	local -A loss=([finished]=0 [before]=0 [during]=0 [after]=0)
	local -A replay=([finished]=0 [before]=0 [during]=0 [after]=0)
	[ "$rot" = rotate ] && args+=(--rotate)
	restart_oauth "${args[@]}"
	# oauth.log goes on across restarts: the lines before are skipped.
	LOG_BASE=$(grep -cE 'POST /token -> [0-9]+ grant_type=refresh_token' "$T/oauth.log")
	name=crash-$store-$rot-$$@example.test
	CONF=$T/$store-$rot.conf
	write_config "$name" "store = $store"
	oauth_config '{"device_interval":1}'
	login_device "$name"
	[ "$LOGIN_RC" = 0 ] || { not_ok "$store/$rot: login"; return; }
	oauth_config "{\"refresh_delay_ms\":$DELAY_MS,\"refresh_reuse_ms\":60000}"
	local n=0	# refresh grants the server has answered so far
	local journal=0
	replays0=$(oauth_stats | jq .reuse_replays)
	for r in $(seq "$ROUNDS"); do
		grants0=$n
		t0=$(now_ms)
		# mailcred itself, not the mc function: $! must be its PID (a
		# function in the background is a subshell, and killing that
		# leaves mailcred running).
		"$MAILCRED" -c "$CONF" token --refresh "$name" >/dev/null 2>"$T/kill.err" &
		p=$!
		sleep "$(printf '0.%03d' $((RANDOM % SPREAD_MS)))"
		tk=$(now_ms)
		kill -KILL "$p" 2>/dev/null
		wait "$p"
		st=$?
		# Did the server get it?  Its counter says so once the request
		# is in; a request on its way when the process died may still
		# arrive: give it a moment.
		sleep 0.05
		grants1=$(oauth_stats | jq .refresh_grants)
		if [ "$grants1" -gt "$grants0" ]; then
			n=$grants1
			ta=$(server_answer_ms "$n")
			if [ "$st" = 0 ]; then
				cls=finished
			elif [ -z "$ta" ] || [ "$tk" -lt $((ta + GRACE_MS)) ]; then
				cls=during
			else
				cls=after
			fi
		elif [ "$st" = 0 ]; then
			cls=finished
		else
			cls=before
		fi
		count[$cls]=$((count[$cls] + 1))
		[ -z "${CRASH_DEBUG:-}" ] || diag "$store/$rot round $r: $cls: kill at $((tk - t0)) ms, answer at ${ta:+$((ta - t0)) ms}, status $st, grants $grants0 -> $grants1"
		ta=
		# The rotated set waiting in the journal (the store not yet
		# written when the kill came).
		if [ -s "$FSTATE/$name.recovery-file" ] || [ -s "$KSTATE/$name.recovery-keyring" ]; then
			journal=$((journal + 1))
		fi
		# The account still works: a refresh (delayed too).
		mc token --refresh "$name" >/dev/null 2>"$T/check.err"
		rc=$?
		# One look at the server's counters after the check: its
		# refresh grants so far, and the replays of its reuse window.
		stats=$(oauth_stats | jq -r '"\(.refresh_grants) \(.reuse_replays)"')
		replays1=${stats#* }
		if [ "$replays1" -gt "$replays0" ]; then
			replay[$cls]=$((replay[$cls] + 1))
			diag "$store/$rot round $r ($cls, killed at $((tk - t0)) ms, status $st): the next refresh needed the server's reuse window"
		fi
		replays0=$replays1
		n=${stats%% *}
		if [ "$rc" != 0 ]; then
			loss[$cls]=$((loss[$cls] + 1))
			diag "$store/$rot round $r ($cls, killed at $((tk - t0)) ms, status $st): the account was lost ($(cat "$T/check.err")); it holds $(held_rt "$name" "$store" | cut -c1-6)..."
			login_device "$name"
			[ "$LOGIN_RC" = 0 ] || { not_ok "$store/$rot: login again"; return; }
			n=$(oauth_stats | jq .refresh_grants)
		fi
	done
	oauth_config '{"refresh_delay_ms":0,"refresh_reuse_ms":0}'
	diag "$store/$rot: $ROUNDS rounds: finished ${count[finished]}, before ${count[before]}, during ${count[during]}, after ${count[after]}; lost: before ${loss[before]}, during ${loss[during]}, after ${loss[after]}, finished ${loss[finished]}"
	printf '# %s/%s: rounds=%d finished=%d before=%d during=%d after=%d lost=%d journal=%d window_during=%d window_other=%d\n' \
		"$store" "$rot" "$ROUNDS" "${count[finished]}" "${count[before]}" "${count[during]}" \
		"${count[after]}" "$((loss[during] + loss[before] + loss[after] + loss[finished]))" "$journal" \
		"${replay[during]}" "$((replay[before] + replay[after] + replay[finished]))"
	assert_eq "$((loss[during] + loss[before] + loss[after] + loss[finished]))" 0 \
		"$store/$rot: no kill loses the account"
	assert_eq "$((replay[before] + replay[after] + replay[finished]))" 0 \
		"$store/$rot: only a kill before the answer reached the journal needs the server's reuse window"
	if [ "$rot" = norotate ]; then
		assert_eq "${replay[during]}" 0 "$store/$rot: without rotation there is nothing to replay"
	fi
	# The test can fail: most rounds really killed a refresh under way.
	assert_true "[ $((count[before] + count[during] + count[after])) -ge $((ROUNDS / 4)) ]" \
		"$store/$rot: kills came before the end of the refresh"
	mc token --refresh "$name" >/dev/null 2>"$T/final.err"
	assert_status $? 0 "$store/$rot: the account works at the end"
	mc logout "$name" >/dev/null 2>&1
	rm -f "$KSTATE/$name".* "$FSTATE/$name".*
}

start_oauth
crash_config file norotate
crash_config keyring norotate
crash_config file rotate
crash_config keyring rotate

finish
