#!/usr/bin/env bash
# make bench: every speed and size ratio of mailcred against its reference,
# measured in one run, interleaved (A, B, A, B ...) after a warm-up, on
# loopback peers and a private keyring. One table on stdout, the same rows
# as JSON in tests/bench/last.json, one line appended to
# tests/bench/history.jsonl (see tests/bench/README).
#
#   bash tests/bench.sh [--json FILE]
#
# Rows (target: ratio of the medians, mailcred / reference):
#   cached token       secret-tool lookup of a same-size secret      <= 0.3
#   cached token       neomutt's mutt_oauth2.py, cached, no GPG      <= 0.1
#   token --refresh    a bare curl POST of the same refresh          <= 1.5
#   20 x token, stale  20 x token, fresh + one token --refresh       <= 1.0
#                      (and exactly one refresh at the server a round)
#   peak RSS, cached   secret-tool lookup                            <= 0.5
#   send               curl command line, same message and token     <= 1.05
#   send               msmtp with passwordeval "mailcred token"      <= 0.6
#
# Runs per row (environment; BENCH_QUICK=1 makes every default small):
#   RUNS_CACHED (300; RUNS is the old name), RUNS_MUTT (100),
#   RUNS_REFRESH (100), ROUNDS_CONC (30), CONC_N (20), RUNS_RSS (40),
#   RUNS_SEND (60; SEND_RUNS is the old name), WARMUP (5 of each; one
#   round for the concurrent row). CONC_MODE=ladder|beyond-ttl: how the
#   concurrent row makes the token stale (see stale_args below).
#
# Benchmarks report, they do not judge: an OVER verdict still exits 0.
# The exit status is 1 only when a measure could not run at all (each says
# why on stderr), 64 for a bad argument.
#
# Timing is bash's $EPOCHREALTIME around the command (no date(1) forks in
# the loops); every command is a whole process, as mail clients run them.
# Secrets: tokens go to /dev/null or through pipes; curl reads the refresh
# request and the bearer token from 0600 files in $T, never from argv.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mc-lib.sh"

JSON_OUT=
while [ "$#" -gt 0 ]; do
	case $1 in
	--json)
		[ "$#" -ge 2 ] || { echo "bench: --json needs a FILE" >&2; exit 64; }
		JSON_OUT=$2
		shift 2
		;;
	--json=*) JSON_OUT=${1#--json=}; shift ;;
	-h | --help)
		sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "bench: unknown argument '$1' (usage: bash tests/bench.sh [--json FILE])" >&2
		exit 64
		;;
	esac
done
case $JSON_OUT in
"" | /*) ;;
*) JSON_OUT=$PWD/$JSON_OUT ;;	# before anything changes directory
esac

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	q=1
else
	q=0
fi
pick() {	# pick NAME FULL QUICK [OLD_NAME]: NAME from the environment or a default
	local v=${!1:-} from=$1
	[ -n "$v" ] || { [ -n "${4:-}" ] && v=${!4:-} && from=$4; }
	[ -n "$v" ] || { if [ "$q" = 1 ]; then v=$3; else v=$2; fi; }
	if ! [[ $v =~ ^[1-9][0-9]{0,5}$ ]]; then
		echo "bench: $from must be a positive number, not '$v'" >&2
		exit 64
	fi
	printf -v "$1" %s "$v"
}
pick RUNS_CACHED 300 20 RUNS
pick RUNS_MUTT 100 10
pick RUNS_REFRESH 100 10
pick ROUNDS_CONC 30 3
pick CONC_N 20 20
pick RUNS_RSS 40 5
pick RUNS_SEND 60 5 SEND_RUNS
pick WARMUP 5 2
CONC_MODE=${CONC_MODE:-ladder}	# how the stale rounds are made stale: see stale_args
ACCESS_TTL=3600			# the OAuth server's access token lifetime
MIN_VALID=$((2 * ACCESS_TTL))	# so every `token --min-valid` sees a stale token

# ---------------------------------------------------------------------------
# Rows and their statistics

ROWS=()			# ids, in table order
declare -A R_MEASURE R_REF R_UNIT R_RUNS R_A R_B R_RATIO R_TARGET R_VERDICT R_NOTE
NOT_RUN=0

# usec T0 T1: microseconds between two $EPOCHREALTIME values (the decimal
# separator follows the locale; both always have six decimals).
# Inlined in the loops as $(( ${t1//[!0-9]/} - ${t0//[!0-9]/} )).

# stats ARRAY_NAME: "n median min max p10 p90" of integer samples.
stats() {
	local -n s_arr=$1
	printf '%s\n' "${s_arr[@]}" | sort -n | awk '
		{ v[NR] = $1 }
		END {
			n = NR
			if (n == 0) { print "0 0 0 0 0 0"; exit }
			med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			p10 = v[int((n - 1) * 0.1) + 1]; p90 = v[int((n - 1) * 0.9 + 0.5) + 1]
			printf "%d %s %s %s %s %s\n", n, med, v[1], v[n], p10, p90
		}'
}

# add_row ID MEASURE REFERENCE UNIT TARGET A_ARRAY B_ARRAY [NOTE]: a measured
# row; UNIT is us (shown in ms) or KiB (shown in MiB).
add_row() {
	local id=$1
	ROWS+=("$id")
	R_MEASURE[$id]=$2
	R_REF[$id]=$3
	R_UNIT[$id]=$4
	R_TARGET[$id]=$5
	R_A[$id]=$(stats "$6")
	R_B[$id]=$(stats "$7")
	R_NOTE[$id]=${8:-}
	local -a a b
	read -r -a a <<<"${R_A[$id]}"
	read -r -a b <<<"${R_B[$id]}"
	R_RUNS[$id]=${a[0]}
	R_RATIO[$id]=$(awk -v x="${a[1]}" -v y="${b[1]}" 'BEGIN { if (y > 0) printf "%.3f", x / y; else print "" }')
	R_VERDICT[$id]=$(awk -v r="${R_RATIO[$id]}" -v t="$5" 'BEGIN { print (r != "" && r + 0 <= t + 0) ? "ok" : "OVER" }')
}

# not_run ID MEASURE REFERENCE TARGET WHY: a row that could not be measured.
not_run() {
	ROWS+=("$1")
	R_MEASURE[$1]=$2
	R_REF[$1]=$3
	R_UNIT[$1]=us
	R_TARGET[$1]=$4
	R_A[$1]=
	R_B[$1]=
	R_RUNS[$1]=0
	R_RATIO[$1]=
	R_VERDICT[$1]="NOT RUN"
	R_NOTE[$1]=$5
	NOT_RUN=1
	echo "bench: $2 vs $3 could not run: $5" >&2
}

# ---------------------------------------------------------------------------
# The stack: private keyring, OAuth server, one logged-in account

stack_init
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
start_keyring
start_oauth --access-ttl "$ACCESS_TTL"
A=bench@example.test
write_config "$A"
oauth_config '{"device_interval":1}' || _fatal "oauth_config failed"
login_device "$A"
if [ "$LOGIN_RC" -ne 0 ]; then
	echo "bench: the login failed: $(cat "$LOGIN_ERR")" >&2
	exit 1
fi
if ! mc token "$A" >/dev/null 2>"$T/token.err"; then
	echo "bench: mailcred token failed after login: $(cat "$T/token.err")" >&2
	exit 1
fi
TOKEN_LEN=$(mc token "$A" | tr -d '\n' | wc -c)

# ---------------------------------------------------------------------------
# Row 1: cached token vs secret-tool lookup of a same-size secret

row_secret_tool() {
	local size i t0 t1 t2 fails=0
	local -a ta=() tb=()
	# The reference: a secret of the size of what the store holds for the
	# account, in the same keyring, read the same way (one D-Bus lookup).
	size=$(stored_blob "$A" | wc -c)
	if [ "$size" -eq 0 ]; then
		size=1000
		R_NOTE_SIZE="the keyring holds no oauth2 item for the account: a ${size}-byte reference"
	else
		R_NOTE_SIZE="secret of $size bytes"
	fi
	if ! head -c "$size" /dev/zero | tr '\0' x |
	    secret-tool store --label 'bench reference' bench ref 2>"$T/st.err"; then
		not_run secret_tool "cached token" "secret-tool lookup" 0.3 \
			"secret-tool store failed: $(cat "$T/st.err")"
		return
	fi
	for ((i = 0; i < WARMUP; i++)); do
		secret-tool lookup bench ref >/dev/null
		"$MAILCRED" -c "$CONF" token "$A" >/dev/null
	done
	for ((i = 0; i < RUNS_CACHED; i++)); do
		t0=$EPOCHREALTIME
		secret-tool lookup bench ref >/dev/null || fails=$((fails + 1))
		t1=$EPOCHREALTIME
		"$MAILCRED" -c "$CONF" token "$A" >/dev/null 2>>"$T/bench.err" || fails=$((fails + 1))
		t2=$EPOCHREALTIME
		ta+=($((${t2//[!0-9]/} - ${t1//[!0-9]/})))
		tb+=($((${t1//[!0-9]/} - ${t0//[!0-9]/})))
	done
	# How many shared objects each one loads (ld.so's own count, dlopen too).
	local so_mc so_st
	so_mc=$(LD_DEBUG=libs "$MAILCRED" -c "$CONF" token "$A" 2>&1 >/dev/null | grep -c 'calling init:')
	so_st=$(LD_DEBUG=libs secret-tool lookup bench ref 2>&1 >/dev/null | grep -c 'calling init:')
	add_row secret_tool "cached token" "secret-tool lookup" us 0.3 ta tb \
		"$R_NOTE_SIZE, same keyring; shared objects loaded: mailcred $so_mc, secret-tool $so_st; failed runs: $fails"
}

# ---------------------------------------------------------------------------
# Row 2: cached token vs neomutt's mutt_oauth2.py on its cached path

row_mutt() {
	local src=/usr/share/doc/neomutt/oauth2/mutt_oauth2.py.gz py i t0 t1 t2 \
		fails=0 dummy exp out
	local -a ta=() tb=()
	local what="mutt_oauth2.py, cached"
	if [ -x /usr/bin/python3 ]; then
		py=/usr/bin/python3	# what the script's "env python3" finds on Debian
	else
		py=$(command -v python3) || {
			not_run mutt "cached token" "$what" 0.1 "no python3 (apt-get install python3)"
			return
		}
	fi
	if [ ! -r "$src" ]; then
		not_run mutt "cached token" "$what" 0.1 "$src is missing (Debian's neomutt package ships it; a dpkg path-exclude of /usr/share/doc drops it)"
		return
	fi
	# No GPG: the script encrypts and decrypts its token file through the
	# two pipes named at its top; cat makes the file plain JSON.
	gzip -dc "$src" | sed -e "s/^ENCRYPTION_PIPE = .*/ENCRYPTION_PIPE = ['cat']/" \
		-e "s/^DECRYPTION_PIPE = .*/DECRYPTION_PIPE = ['cat']/" >"$T/mutt_oauth2.py"
	if [ "$(grep -c "^[ED][NE]CRYPTION_PIPE = \['cat'\]$" "$T/mutt_oauth2.py")" != 2 ]; then
		not_run mutt "cached token" "$what" 0.1 "the script no longer sets ENCRYPTION_PIPE/DECRYPTION_PIPE at its top"
		return
	fi
	# A token file with a fresh access token (not a real one: the same
	# length) so the script only reads, decides and prints: no network.
	printf -v dummy '%*s' "$TOKEN_LEN" ''
	dummy=${dummy// /x}
	exp=$(date -d '+2 hours' +%Y-%m-%dT%H:%M:%S)	# local time, as the script writes it
	jq -n --arg at "$dummy" --arg exp "$exp" --arg email "$A" \
		'{registration: "google", authflow: "devicecode", email: $email,
		  access_token: $at, access_token_expiration: $exp,
		  refresh_token: "unused"}' >"$T/mutt.tokens"
	chmod 600 "$T/mutt.tokens"
	out=$("$py" "$T/mutt_oauth2.py" "$T/mutt.tokens" 2>"$T/mutt.err")
	if [ "$out" != "$dummy" ]; then
		not_run mutt "cached token" "$what" 0.1 "mutt_oauth2.py did not print the cached token: $(head -c 300 "$T/mutt.err")"
		return
	fi
	for ((i = 0; i < WARMUP; i++)); do
		"$py" "$T/mutt_oauth2.py" "$T/mutt.tokens" >/dev/null
		"$MAILCRED" -c "$CONF" token "$A" >/dev/null
	done
	for ((i = 0; i < RUNS_MUTT; i++)); do
		t0=$EPOCHREALTIME
		"$py" "$T/mutt_oauth2.py" "$T/mutt.tokens" >/dev/null || fails=$((fails + 1))
		t1=$EPOCHREALTIME
		"$MAILCRED" -c "$CONF" token "$A" >/dev/null 2>>"$T/bench.err" || fails=$((fails + 1))
		t2=$EPOCHREALTIME
		ta+=($((${t2//[!0-9]/} - ${t1//[!0-9]/})))
		tb+=($((${t1//[!0-9]/} - ${t0//[!0-9]/})))
	done
	add_row mutt "cached token" "$what" us 0.1 ta tb \
		"$py $("$py" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))'), pipes = cat (no GPG); failed runs: $fails"
}

# ---------------------------------------------------------------------------
# Row 5: peak RSS of a cached token vs secret-tool lookup

# rss_run CMD...: the peak RSS of CMD in KiB into RSS_KIB.
if [ -x /usr/bin/time ]; then
	RSS_HOW="GNU time %M"
	rss_run() {
		local l
		/usr/bin/time -f %M -o "$T/rss" "$@" >/dev/null 2>>"$T/bench.err"
		l=$(tail -n 1 "$T/rss")
		RSS_KIB=${l//[!0-9]/}
	}
else
	# getrusage(RUSAGE_CHILDREN) after a fork and exec from perl: the child's
	# peak includes perl's own pages before the exec (the floor, below).
	RSS_HOW="perl getrusage(RUSAGE_CHILDREN) (install 'time' for a lower floor)"
	rss_run() {
		RSS_KIB=$(perl -e 'require "syscall.ph";
			my $p = fork // die "fork: $!";
			if (!$p) { open STDOUT, ">", "/dev/null"; exec @ARGV; exit 127 }
			waitpid $p, 0;
			my $b = "\0" x 144;
			syscall(&SYS_getrusage, -1, $b) == 0 or die "getrusage: $!";
			print((unpack "q18", $b)[4], "\n")' "$@" 2>>"$T/bench.err")
	}
fi

row_rss() {
	local i floor
	local -a ra=() rb=()
	rss_run true
	floor=$RSS_KIB
	if [ -z "$floor" ]; then
		not_run rss "peak RSS, cached token" "secret-tool lookup" 0.5 "could not measure the peak RSS of true with $RSS_HOW"
		return
	fi
	for ((i = 0; i < WARMUP; i++)); do
		rss_run secret-tool lookup bench ref
		rss_run "$MAILCRED" -c "$CONF" token "$A"
	done
	for ((i = 0; i < RUNS_RSS; i++)); do
		rss_run secret-tool lookup bench ref
		[ -n "$RSS_KIB" ] && rb+=("$RSS_KIB")
		rss_run "$MAILCRED" -c "$CONF" token "$A"
		[ -n "$RSS_KIB" ] && ra+=("$RSS_KIB")
	done
	if [ "${#ra[@]}" -eq 0 ] || [ "${#rb[@]}" -eq 0 ]; then
		not_run rss "peak RSS, cached token" "secret-tool lookup" 0.5 "no peak RSS measured (see $RSS_HOW)"
		return
	fi
	add_row rss "peak RSS, cached token" "secret-tool lookup" KiB 0.5 ra rb \
		"$RSS_HOW; floor (true) $(awk -v k="$floor" 'BEGIN { printf "%.1f", k / 1024 }') MiB"
}

# ---------------------------------------------------------------------------
# Row 3: token --refresh vs a bare curl POST of the same refresh request

row_refresh() {
	local rt i t0 t1 t2 fails=0 cf=0
	local -a ta=() tb=()
	local what="curl POST of the same refresh"
	# The request mailcred sends (client_secret_post), in a 0600 file that
	# curl reads with --data @file: no secret in argv.
	rt=$(stored_blob "$A" | jq -r '.refresh_token // empty | @uri')
	if [ -z "$rt" ]; then
		not_run refresh "token --refresh" "$what" 1.5 "no refresh_token in the keyring's item for $A"
		return
	fi
	printf 'grant_type=refresh_token&refresh_token=%s&client_id=%s&client_secret=%s' \
		"$rt" "$CLIENT_ID" "$CLIENT_SECRET" >"$T/refresh.form"
	chmod 600 "$T/refresh.form"
	unset rt
	run_curl_refresh() {
		curl -sS -f --max-time 10 --data @"$T/refresh.form" "$OAUTH_URL/token"
	}
	if ! run_curl_refresh 2>"$T/curl.err" | jq -e 'has("access_token")' >/dev/null 2>&1; then
		not_run refresh "token --refresh" "$what" 1.5 "curl's refresh got no access token: $(cat "$T/curl.err")"
		return
	fi
	if ! "$MAILCRED" -c "$CONF" token "$A" --refresh >/dev/null 2>"$T/refresh.err"; then
		not_run refresh "token --refresh" "$what" 1.5 "mailcred token --refresh failed: $(cat "$T/refresh.err")"
		return
	fi
	for ((i = 0; i < WARMUP; i++)); do
		run_curl_refresh >/dev/null 2>&1
		"$MAILCRED" -c "$CONF" token "$A" --refresh >/dev/null 2>&1
	done
	for ((i = 0; i < RUNS_REFRESH; i++)); do
		t0=$EPOCHREALTIME
		run_curl_refresh >/dev/null 2>>"$T/bench.err" || cf=$((cf + 1))
		t1=$EPOCHREALTIME
		"$MAILCRED" -c "$CONF" token "$A" --refresh >/dev/null 2>>"$T/bench.err" || fails=$((fails + 1))
		t2=$EPOCHREALTIME
		ta+=($((${t2//[!0-9]/} - ${t1//[!0-9]/})))
		tb+=($((${t1//[!0-9]/} - ${t0//[!0-9]/})))
	done
	add_row refresh "token --refresh" "$what" us 1.5 ta tb \
		"loopback http token endpoint, no rotation; failed runs: mailcred $fails, curl $cf"
}

# ---------------------------------------------------------------------------
# Row 4: 20 concurrent token on a stale token vs 20 on a fresh one plus one
# refresh alone

# conc_run N ARGS...: N mailcred processes with ARGS, forked first and held
# at a barrier (a FIFO), then released at once; CONC_US is the time from
# the release until the last one exited, CONC_FAILS how many exited non-zero.
mkfifo "$T/go" "$T/ready"
conc_run() {
	local n=$1 i go ready t0 t1 nl p
	local -a pids=()
	shift
	CONC_FAILS=0
	# Read-write opens: neither blocks, and the pipes live while we hold them.
	exec {go}<>"$T/go" {ready}<>"$T/ready"
	for ((i = 0; i < n; i++)); do
		(
			printf x >&"$ready"
			read -r -u "$go" _	# one byte at a time from a pipe: one line each
			exec "$MAILCRED" -c "$CONF" "$@" >/dev/null 2>>"$T/conc.err" {go}<&- {ready}>&-
		) &
		pids+=($!)
	done
	read -r -t 60 -N "$n" -u "$ready" _	# every child is at the barrier
	printf -v nl '%*s' "$n" ''
	nl=${nl// /$'\n'}
	t0=$EPOCHREALTIME
	printf %s "$nl" >&"$go"
	for p in "${pids[@]}"; do
		wait "$p" || CONC_FAILS=$((CONC_FAILS + 1))
	done
	t1=$EPOCHREALTIME
	exec {go}<&- {ready}<&-
	CONC_US=$((${t1//[!0-9]/} - ${t0//[!0-9]/}))
}

refresh_count() {
	oauth_stats | jq -r '.refresh_grants // "?"'
}

CONC_COUNTS=""
# stale_args ROUND: how round ROUND makes every caller's token stale, into
# STALE_ARGS (the token options of the stale callers).
#   ladder (the default): each round the server grants 100 s more
#   (token_rewrite expires_in 3600 + 100 * ROUND) and the callers ask for
#   --min-valid 50 s less than that: the token left by the round before is
#   stale for all of them, the one refreshed during the round fresh for
#   all, as a token that has really run out is once refreshed. A caller
#   that starts after the refresh landed reads the new token.
#   beyond-ttl: --min-valid $MIN_VALID, twice the server's access lifetime:
#   no token can ever do, not even the one just refreshed. One refresh a
#   round then needs every caller to have read the cache before the
#   refresh landed: one that starts later is right to refresh again (its
#   caller asked for more than any token has), which happens in about one
#   round in 40 on this machine, more often the faster a refresh is. A
#   stress mode: every caller waits. It was the default of the earlier
#   runs in tests/bench/history.jsonl (concurrent_mode says which). Before
#   the runtime cache (main b8c1121), callers that read the store after
#   the first refresh ended refreshed again: rounds of 2.
stale_args() {
	case $CONC_MODE in
	ladder)
		oauth_config "{\"token_rewrite\":{\"expires_in\":$((ACCESS_TTL + 100 * $1))}}" || return 1
		STALE_ARGS=(--min-valid $((ACCESS_TTL + 100 * $1 - 50)))
		;;
	beyond-ttl) STALE_ARGS=(--min-valid "$MIN_VALID") ;;
	esac
}
row_conc() {
	local i r stale fresh one bad=0 fails=0 fresh_refs=0 n c
	local -a ta=() tb=() tf=() t1=()
	local what="$CONC_N x token, fresh + 1 refresh"
	case $CONC_MODE in
	ladder | beyond-ttl) ;;
	*)
		not_run conc "$CONC_N x token, stale" "$what" 1.0 "CONC_MODE must be ladder or beyond-ttl, not '$CONC_MODE'"
		return
		;;
	esac
	for ((r = 1; r <= ROUNDS_CONC + 1; r++)); do	# round 1: warm-up
		if ! stale_args "$r" || ! oauth_reset_stats; then
			not_run conc "$CONC_N x token, stale" "$what" 1.0 "the OAuth server's test config or stats failed"
			return
		fi
		conc_run "$CONC_N" token "$A" "${STALE_ARGS[@]}"
		stale=$CONC_US
		fails=$((fails + CONC_FAILS))
		c=$(refresh_count)
		oauth_reset_stats
		conc_run "$CONC_N" token "$A"
		fresh=$CONC_US
		fails=$((fails + CONC_FAILS))
		n=$(refresh_count)
		conc_run 1 token "$A" --refresh
		one=$CONC_US
		fails=$((fails + CONC_FAILS))
		[ "$r" -gt 1 ] || { fails=0; continue; }
		[ "$c" = 1 ] || { bad=$((bad + 1)); c="$c!"; }
		CONC_COUNTS="$CONC_COUNTS $c"
		[ "$n" = 0 ] || fresh_refs=$((fresh_refs + 1))
		ta+=("$stale")
		tb+=($((fresh + one)))
		tf+=("$fresh")
		t1+=("$one")
	done
	[ "$CONC_MODE" != ladder ] || oauth_config '{"token_rewrite":null}'
	local -a sf s1
	read -r -a sf <<<"$(stats tf)"
	read -r -a s1 <<<"$(stats t1)"
	add_row conc "$CONC_N x token, stale" "$what" us 1.0 ta tb \
		"$(awk -v f="${sf[1]}" -v o="${s1[1]}" 'BEGIN { printf "fresh %.1f ms + one refresh %.1f ms", f / 1000, o / 1000 }'); CONC_MODE=$CONC_MODE; rounds with != 1 refresh: $bad of $ROUNDS_CONC; fresh rounds that refreshed: $fresh_refs; failed processes: $fails"
	if [ "$bad" -gt 0 ] || [ "$fresh_refs" -gt 0 ]; then
		R_VERDICT[conc]=OVER
	fi
}

# ---------------------------------------------------------------------------
# Rows 6 and 7: mailcred send vs curl and vs msmtp (one interleaved loop)

row_send() {
	local i t0 t1 t2 t3 f sent fails=0 at
	local -a sc=() sm=() ss=()
	if ! start_smtp; then
		not_run send_curl "send" "curl" 1.05 "the SMTP server did not start"
		not_run send_msmtp "send" "msmtp" 0.6 "the SMTP server did not start"
		return
	fi
	# The account is the file's only section: these keys belong to it.
	printf 'smtp = smtp://127.0.0.1:%s\nca_file = %s\n' "$SMTP_PORT" "$T/cert.pem" >>"$CONF"
	write_msmtprc "$A" "$T/msmtprc"
	printf 'From: %s\r\nTo: friend@example.test\r\nSubject: bench\r\n\r\n%s\r\n' "$A" \
		"$(head -c 2000 /dev/zero | tr '\0' x | fold -w 72)" >"$T/bench.eml"
	# curl reads the token from a 0600 config file, not from its argv.
	at=$("$MAILCRED" -c "$CONF" token "$A") || {
		not_run send_curl "send" "curl" 1.05 "mailcred token failed"
		not_run send_msmtp "send" "msmtp" 0.6 "mailcred token failed"
		return
	}
	printf 'oauth2-bearer = "%s"\n' "$at" >"$T/curl.cfg"
	chmod 600 "$T/curl.cfg"
	unset at
	run_curl() {
		curl -s -K "$T/curl.cfg" --url "smtp://127.0.0.1:$SMTP_PORT/bench.example" \
			--ssl-reqd --cacert "$T/cert.pem" --user "$A" --login-options AUTH=XOAUTH2 \
			--mail-from "$A" --mail-rcpt friend@example.test --upload-file "$T/bench.eml"
	}
	run_msmtp() { msmtp -C "$T/msmtprc" friend@example.test <"$T/bench.eml"; }
	run_send() { "$MAILCRED" -c "$CONF" send -a "$A" friend@example.test <"$T/bench.eml"; }
	for f in run_curl run_msmtp run_send; do
		if ! "$f" >/dev/null 2>"$T/send.err"; then
			not_run send_curl "send" "curl" 1.05 "$f failed: $(head -c 300 "$T/send.err")"
			not_run send_msmtp "send" "msmtp" 0.6 "$f failed: $(head -c 300 "$T/send.err")"
			return
		fi
	done
	for ((i = 0; i < WARMUP; i++)); do
		run_curl >/dev/null 2>&1
		run_msmtp >/dev/null 2>&1
		run_send >/dev/null 2>&1
	done
	for ((i = 0; i < RUNS_SEND; i++)); do
		t0=$EPOCHREALTIME
		run_curl >/dev/null 2>>"$T/bench.err" || fails=$((fails + 1))
		t1=$EPOCHREALTIME
		run_msmtp >/dev/null 2>>"$T/bench.err" || fails=$((fails + 1))
		t2=$EPOCHREALTIME
		run_send >/dev/null 2>>"$T/bench.err" || fails=$((fails + 1))
		t3=$EPOCHREALTIME
		sc+=($((${t1//[!0-9]/} - ${t0//[!0-9]/})))
		sm+=($((${t2//[!0-9]/} - ${t1//[!0-9]/})))
		ss+=($((${t3//[!0-9]/} - ${t2//[!0-9]/})))
	done
	sent=$(find "$T/mail" -name '*.json' | wc -l)
	local note="one 2 kB message, STARTTLS + XOAUTH2, cached token; accepted $sent of $((3 * (RUNS_SEND + WARMUP + 1))); failed runs: $fails"
	add_row send_curl "send" "curl command line" us 1.05 ss sc "$note"
	add_row send_msmtp "send" "msmtp + passwordeval token" us 0.6 ss sm "$note"
}

# ---------------------------------------------------------------------------
# The run: the cached rows first (with no refresh in between: counted),
# then the rows that refresh, then sending.

oauth_reset_stats
row_secret_tool
row_mutt
row_rss
CACHED_REFRESHES=$(refresh_count)
row_refresh
row_conc
row_send
LOAD_END=$(cut -d' ' -f1 /proc/loadavg)

# ---------------------------------------------------------------------------
# The table

# fmt_stat UNIT "n median min max p10 p90": "17.9 (16.2-25.1)"
fmt_stat() {
	[ -n "$2" ] || { echo "-"; return; }
	awk -v u="$1" -v s="$2" 'BEGIN {
		split(s, v, " ")
		d = (u == "KiB") ? 1024 : 1000
		printf "%.1f (%.1f-%.1f)", v[2] / d, v[3] / d, v[4] / d
	}'
}
unit_label() { if [ "$1" = KiB ]; then echo MiB; else echo ms; fi; }

GIT_DESC=$(git -C "$TOP" describe --always --dirty --tags 2>/dev/null || echo unknown)
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
NCPU=$(nproc 2>/dev/null || echo "?")

{
	printf 'measure\tmailcred\treference\treference median\truns\tratio\ttarget\tverdict\n'
	for id in "${ROWS[@]}"; do
		u=" $(unit_label "${R_UNIT[$id]}")"
		[ -n "${R_A[$id]}" ] || u=
		printf '%s\t%s%s\t%s\t%s%s\t%s\t%s\t<= %s\t%s\n' \
			"${R_MEASURE[$id]}" "$(fmt_stat "${R_UNIT[$id]}" "${R_A[$id]}")" "$u" \
			"${R_REF[$id]}" "$(fmt_stat "${R_UNIT[$id]}" "${R_B[$id]}")" "$u" \
			"${R_RUNS[$id]}" "${R_RATIO[$id]:--}" "${R_TARGET[$id]}" "${R_VERDICT[$id]}"
	done
} >"$T/table.tsv"

printf 'mailcred bench %s, %s, %s (%s CPUs), load %s -> %s\n' "$GIT_DESC" "$START" \
	"${CPU:-unknown CPU}" "$NCPU" "$LOAD_START" "$LOAD_END"
printf 'medians of whole-process runs, interleaved with the reference after %s warm-up runs; (min-max)\n\n' "$WARMUP"
awk -F'\t' '
	{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NF; rows = NR }
	END {
		for (r = 1; r <= rows; r++) {
			line = ""
			for (i = 1; i <= n; i++) {
				# numbers right-aligned, text left-aligned
				if (i == 5 || i == 6) line = line sprintf("%*s", w[i], c[r, i])
				else line = line sprintf("%-*s", w[i], c[r, i])
				if (i < n) line = line "  "
			}
			sub(/ +$/, "", line)
			print line
		}
	}' "$T/table.tsv"
echo
echo "notes:"
for id in "${ROWS[@]}"; do
	[ -n "${R_NOTE[$id]}" ] || continue
	printf '  %s vs %s: %s\n' "${R_MEASURE[$id]}" "${R_REF[$id]}" "${R_NOTE[$id]}"
done
printf '  refreshes counted at the server during the cached rows: %s (must be 0)\n' "$CACHED_REFRESHES"
[ -z "$CONC_COUNTS" ] ||
	printf '  refreshes per stale round (must be 1; ! marks the others):%s\n' "$CONC_COUNTS"

# ---------------------------------------------------------------------------
# JSON: tests/bench/last.json, one line in tests/bench/history.jsonl

for id in "${ROWS[@]}"; do
	jq -n --arg id "$id" --arg measure "${R_MEASURE[$id]}" --arg reference "${R_REF[$id]}" \
		--arg unit "$(unit_label "${R_UNIT[$id]}")" --arg raw "${R_UNIT[$id]}" \
		--arg a "${R_A[$id]}" --arg b "${R_B[$id]}" --arg ratio "${R_RATIO[$id]}" \
		--arg target "${R_TARGET[$id]}" --arg verdict "${R_VERDICT[$id]}" \
		--arg note "${R_NOTE[$id]}" '
		def st($s): if $s == "" then null else
			($s | split(" ") | map(tonumber)) as $v
			| (if $raw == "KiB" then 1024 else 1000 end) as $d
			| {runs: $v[0], median: ($v[1] / $d), min: ($v[2] / $d), max: ($v[3] / $d),
			   p10: ($v[4] / $d), p90: ($v[5] / $d)} end;
		{id: $id, measure: $measure, reference: $reference, unit: $unit,
		 mailcred: st($a), ref: st($b),
		 ratio: (if $ratio == "" then null else ($ratio | tonumber) end),
		 target: ($target | tonumber), verdict: $verdict, note: $note}'
done >"$T/rows.jsonl"
mkdir -p "$TOP/tests/bench"
jq -s --arg date "$START" --arg git "$GIT_DESC" --arg host "$(uname -n)" \
	--arg kernel "$(uname -sr)" --arg arch "$(uname -m)" --arg cpu "${CPU:-}" \
	--arg ncpu "$NCPU" --arg l0 "$LOAD_START" --arg l1 "$LOAD_END" \
	--arg refreshes "$CACHED_REFRESHES" --arg counts "$CONC_COUNTS" --arg mode "$CONC_MODE" \
	--argjson warmup "$WARMUP" --argjson quick "$q" '
	{date: $date, git: $git, quick: ($quick == 1),
	 machine: {host: $host, kernel: $kernel, arch: $arch, cpu: $cpu,
	           cpus: ($ncpu | tonumber? // $ncpu), load_start: ($l0 | tonumber), load_end: ($l1 | tonumber)},
	 warmup: $warmup,
	 cached_rows_refreshes: ($refreshes | tonumber? // $refreshes),
	 concurrent_mode: $mode,
	 stale_round_refreshes: ($counts | split(" ") | map(select(. != "") | rtrimstr("!") | (tonumber? // .))),
	 rows: .}' "$T/rows.jsonl" >"$T/bench.json" || {
	echo "bench: could not write the JSON" >&2
	exit 1
}
cp "$T/bench.json" "$TOP/tests/bench/last.json"
[ -z "$JSON_OUT" ] || cp "$T/bench.json" "$JSON_OUT" || exit 1
echo
if [ "$q" = 1 ]; then
	echo "bench: wrote tests/bench/last.json${JSON_OUT:+ and $JSON_OUT} (BENCH_QUICK: not added to history.jsonl)"
else
	jq -c . "$T/bench.json" >>"$TOP/tests/bench/history.jsonl"
	echo "bench: wrote tests/bench/last.json${JSON_OUT:+ and $JSON_OUT}; appended a line to tests/bench/history.jsonl"
fi

if [ "$NOT_RUN" = 1 ]; then
	echo "bench: some measures could not run (see above)" >&2
	exit 1
fi
exit 0
