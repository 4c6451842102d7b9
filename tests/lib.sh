# shellcheck shell=bash  # sourced by the tests, never run
# tests/lib.sh: bash library for mailcred's integration tests.
#
# Each test is a standalone script, tests/integration/t-NAME.sh:
#
#   . "$(dirname "$0")/../lib.sh"
#   stack_init                 # private $T, HOME, XDG dirs; cleanup on exit
#   start_keyring              # D-Bus session bus + unlocked gnome-keyring
#   start_oauth                # tests/peers/oauth-server.mjs -> $OAUTH_URL
#   start_smtp                 # tests/peers/smtp-server.mjs -> $SMTP_PORT, $SMTPS_PORT
#   start_dovecot              # Dovecot IMAP + POP3 -> $IMAPS_PORT, $POP3S_PORT, ...
#   ...
#   assert_eq "$got" "$want" "what is checked"
#   finish                     # "N passed, N failed"; non-zero exit on failure
#
# Real peers only, on loopback.  Every process the library starts is
# recorded and stopped by PID (stack_stop, run from the EXIT trap); $T is
# removed afterwards unless KEEP_TMP=1.  Peer logs are $T/*.log; when an
# assertion failed their tails are printed (as "# " lines) before cleanup.
#
# Written for `set -u`; it does not rely on `set -e` (and tests should not
# use it: a failing command is something to assert on).
#
# One thing is outside $T by design: the lock files (and, while the
# keyring refuses a write, recovery files) of keyring accounts live in
# ~/.local/state/mailcred of the user running the tests, with ~ from the
# password database, whatever HOME says (auth/lock.h). They are empty
# lock files named after the test accounts; a test that makes recovery
# files uses account names of its own and removes what it made.
#
# Public functions
#   stack_init, stack_stop
#   start_bus_only, stop_bus
#   start_keyring, start_keyring_locked, start_keyring_nologin, stop_keyring
#   lock_keyring, unlock_keyring, freeze_keyring, thaw_keyring
#   start_oauth [ARGS], restart_oauth [ARGS], stop_oauth
#   oauth_config JSON, oauth_stats, oauth_reset_stats, oauth_reset_config
#   approve_device USER_CODE [LOGIN] [--deny]
#   approve_code AUTH_URL [LOGIN] [--deny]
#   make_cert
#   start_smtp [--password USER:PASS], stop_smtp
#   smtp_control JSON, smtp_control_clear, smtp_auth_wait REGEX [SECONDS]
#   smtp_talk [--starttls] [--timeout S] PORT LINE...
#   start_dovecot, stop_dovecot, dovecot_deliver USER [SUBJECT]
#   start_blackhole, stop_blackhole, free_port
#   start_hostile, hostile_mode, hostile_log, hostile_reset
#   ok, not_ok, assert_eq, assert_ne, assert_match, assert_no_match,
#   assert_status, assert_true, finish
#
# Variables it reads: BUS_SERVICEDIR (optional: a directory of D-Bus .service
# files the test bus may activate, e.g. a fake prompter that records that
# it was asked for; without it nothing can be activated).
#
# Variables it sets: T, TOP, MAILCRED, HOME, XDG_*_HOME, XDG_RUNTIME_DIR,
# DBUS_SESSION_BUS_ADDRESS, BUS_PID, KEYRING_PID, KEYRING_PASSWORD,
# OAUTH_URL, OAUTH_PORT, OAUTH_PID, SMTP_PORT, SMTPS_PORT, SMTP_PID,
# DOVECOT_PID, IMAPS_PORT, POP3S_PORT (implicit TLS, on DOVECOT_TLS_HOST =
# 127.0.0.1), IMAP_PORT, POP3_PORT (STARTTLS, on DOVECOT_STARTTLS_HOST =
# 127.0.0.2), DOVECOT_PW_USER, DOVECOT_PW_PASS, BLACKHOLE_PORT,
# BLACKHOLE_PID, HOSTILE_URL, HOSTILE_OTHER_URL, HOSTILE_PID.

if [ -n "${_MAILCRED_TEST_LIB:-}" ]; then
	return 0
fi
_MAILCRED_TEST_LIB=1

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MAILCRED=$TOP/mailcred
export TOP MAILCRED

PEERS=$TOP/tests/peers
KEYRING_PASSWORD=${KEYRING_PASSWORD:-keyring-test-password}

# Counters and bookkeeping.
TESTS_PASSED=0
TESTS_FAILED=0
TESTS_RUN=0
_LIB_PIDS=()
declare -gA _LIB_GRACE=()	# PID -> how long TERM may take, in 0.05 s steps
_LIB_STOPPED=0
_OAUTH_ARGS=()

# diag MSG...: a diagnostic line ("# ..."), on stderr.
diag() {
	printf '# %s\n' "$*" >&2
}

# _fatal MSG: a setup step failed; the test cannot go on.
_fatal() {
	not_ok "setup: $*"
	finish
}

# ---------------------------------------------------------------------------
# The private environment

stack_init() {
	umask 077
	T=$(mktemp -d "${TMPDIR:-/tmp}/mailcred-test.XXXXXX") || {
		echo "stack_init: mktemp failed" >&2
		exit 1
	}
	chmod 700 "$T"
	export T
	export HOME=$T/home
	export XDG_CONFIG_HOME=$HOME/.config
	export XDG_DATA_HOME=$HOME/.local/share
	export XDG_CACHE_HOME=$HOME/.cache
	export XDG_RUNTIME_DIR=$T/run
	mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME"
	mkdir -m 700 "$XDG_RUNTIME_DIR"
	# Nothing of the caller's desktop or configuration may leak in.
	unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS MAILCRED_CONFIG \
		GNOME_KEYRING_CONTROL SSH_AUTH_SOCK SECRET_BACKEND \
		SECRET_FILE_TEST_PATH SECRET_FILE_TEST_PASSWORD
	trap stack_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# _pid_alive PID: running (a zombie counts as gone).
_pid_alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in
	Z*) return 1 ;;
	esac
	return 0
}

# _track PID: remember a started process for stack_stop.
_track() {
	_LIB_PIDS+=("$1")
}

# _stop_pid PID: TERM (and CONT, in case it is stopped), KILL after ~2 s
# (or what _LIB_GRACE says for it), then reap it if it is our child.
_stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	if _pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		kill -CONT "$pid" 2>/dev/null
		for i in $(seq "${_LIB_GRACE[$pid]:-40}"); do
			_pid_alive "$pid" || break
			sleep 0.05
		done
		if _pid_alive "$pid"; then
			diag "pid $pid did not stop on TERM: killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	wait "$pid" 2>/dev/null
	local kept=() p
	for p in "${_LIB_PIDS[@]}"; do
		[ "$p" = "$pid" ] || kept+=("$p")
	done
	_LIB_PIDS=("${kept[@]}")
	unset '_LIB_GRACE[$pid]'
	return 0
}

# How long a peer may take to announce itself.  Half a second is usual;
# on a shared, loaded machine node once took more than 10 s.  A peer that
# dies is noticed at once, so a long limit costs nothing when all is well.
PEER_START_SECS=${PEER_START_SECS:-60}

# _wait_file FILE SECONDS PID: wait until FILE is non-empty; fail early if
# PID exits.
_wait_file() {
	local file=$1 secs=$2 pid=$3 i
	for i in $(seq $((secs * 20))); do
		[ -s "$file" ] && return 0
		_pid_alive "$pid" || return 1
		sleep 0.05
	done
	[ -s "$file" ]
}

# _start_peer NAME READY LOG CMD...: starts CMD in the background (output
# appended to LOG; a program by absolute path, so $! is its own PID),
# tracked, and waits until it writes the file READY; sets _PEER_PID.  A
# peer that has not announced itself after a third of PEER_START_SECS is
# stuck (seen once in CI: a node alive, silent, deaf to TERM for a
# minute), not slow: it is killed and started again, three times at most.
# One that dies is not retried: its log says why.
_start_peer() {
	local name=$1 ready=$2 log=$3 try secs=$(((PEER_START_SECS + 2) / 3))
	shift 3
	for try in 1 2 3; do
		rm -f "$ready"
		"$@" >>"$log" 2>&1 &
		_PEER_PID=$!
		_track "$_PEER_PID"
		_wait_file "$ready" "$secs" "$_PEER_PID" && return 0
		_pid_alive "$_PEER_PID" || break
		diag "$name (pid $_PEER_PID) silent after $secs s, attempt $try: starting another"
		_LIB_GRACE[$_PEER_PID]=1
		_stop_pid "$_PEER_PID"
	done
	_fatal "$name did not start (see ${log##*/})"
}

# _log_tail FILE: the end of a peer log, as diagnostics.
_log_tail() {
	[ -s "$1" ] || return 0
	diag "---- last lines of ${1##*/} ----"
	tail -n 15 "$1" | sed 's/^/#   /' >&2
}

stack_stop() {
	local i
	[ "$_LIB_STOPPED" = 1 ] && return 0
	_LIB_STOPPED=1
	# Newest first: SMTP before OAuth, keyring before its bus.
	for ((i = ${#_LIB_PIDS[@]} - 1; i >= 0; i--)); do
		_stop_pid "${_LIB_PIDS[$i]}"
	done
	[ -n "${T:-}" ] && [ -d "$T" ] || return 0
	if [ "$TESTS_FAILED" -gt 0 ]; then
		for i in "$T"/*.log; do
			[ -e "$i" ] && _log_tail "$i"
		done
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		diag "kept $T"
	else
		rm -rf "$T"
	fi
	return 0
}

# ---------------------------------------------------------------------------
# D-Bus and the Secret Service (gnome-keyring)

# The bus runs from a configuration of our own with no service
# directories (only $BUS_SERVICEDIR, if the test sets one): nothing can be
# auto-activated, so a call made while no keyring runs fails ("not
# provided by any .service files") instead of starting a stray, locked
# gnome-keyring that nobody would stop.
_write_bus_config() {
	local servicedir=
	[ -z "${BUS_SERVICEDIR:-}" ] ||
		servicedir="  <servicedir>$BUS_SERVICEDIR</servicedir>"
	cat >"$T/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$T/bus</listen>
  <auth>EXTERNAL</auth>
$servicedir
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
}

# start_bus_only: a session bus at unix:path=$T/bus with no Secret Service.
# dbus-daemon runs with --nofork as our child, so $! is its PID and it is
# reaped when stopped (a --fork'ed one would linger as a zombie here).
start_bus_only() {
	[ -n "${BUS_PID:-}" ] && return 0
	_write_bus_config
	rm -f "$T/bus.address"
	dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile \
		--print-address=3 \
		3>"$T/bus.address" >>"$T/bus.log" 2>&1 &
	BUS_PID=$!
	_track "$BUS_PID"
	_wait_file "$T/bus.address" "$PEER_START_SECS" "$BUS_PID" || _fatal "dbus-daemon did not start (see bus.log)"
	DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$T/bus.address")
	export DBUS_SESSION_BUS_ADDRESS BUS_PID
}

# stop_bus: stops the keyring (if any) and the bus.
stop_bus() {
	stop_keyring
	_stop_pid "${BUS_PID:-}"
	BUS_PID=
	unset DBUS_SESSION_BUS_ADDRESS
}

# _start_gkd PASSWORD: gnome-keyring-daemon on the current bus; --unlock
# creates the login collection on first use, or unlocks it (a wrong
# password leaves it locked, still exiting 0).
_start_gkd() {
	# printf %s: the password must not end in a newline.
	printf %s "$1" | gnome-keyring-daemon --foreground --unlock \
		--components=secrets >>"$T/keyring.log" 2>&1 &
	KEYRING_PID=$!
	export KEYRING_PID
	_track "$KEYRING_PID"
	# --unlock returns before the daemon owns its name.
	gdbus wait --session --timeout "$PEER_START_SECS" org.freedesktop.secrets ||
		_fatal "gnome-keyring-daemon did not take org.freedesktop.secrets (see keyring.log)"
}

# start_keyring: bus + gnome-keyring with the login collection unlocked
# (password $KEYRING_PASSWORD).
start_keyring() {
	start_bus_only
	[ -n "${KEYRING_PID:-}" ] && return 0
	_start_gkd "$KEYRING_PASSWORD"
}

# start_keyring_locked: as start_keyring, then the login collection is
# locked: storing fails with "Cannot create an item in a locked
# collection", and lookups find nothing.
start_keyring_locked() {
	start_keyring
	lock_keyring
}

# start_keyring_nologin: bus + gnome-keyring started without --unlock. On
# a fresh HOME it has no login collection, so the "default" alias names
# nothing (ReadAlias answers "/"): storing anything needs a new
# collection, which only a prompt could create.
start_keyring_nologin() {
	start_bus_only
	[ -n "${KEYRING_PID:-}" ] && return 0
	gnome-keyring-daemon --foreground --components=secrets </dev/null \
		>>"$T/keyring.log" 2>&1 &
	KEYRING_PID=$!
	export KEYRING_PID
	_track "$KEYRING_PID"
	gdbus wait --session --timeout "$PEER_START_SECS" org.freedesktop.secrets ||
		_fatal "gnome-keyring-daemon did not take org.freedesktop.secrets (see keyring.log)"
}

# stop_keyring: stops gnome-keyring (the bus stays up).
stop_keyring() {
	_stop_pid "${KEYRING_PID:-}"
	KEYRING_PID=
}

# lock_keyring: locks the login collection through the Secret Service API.
lock_keyring() {
	local out
	out=$(gdbus call --session --dest org.freedesktop.secrets \
		--object-path /org/freedesktop/secrets \
		--method org.freedesktop.Secret.Service.Lock \
		"['/org/freedesktop/secrets/collection/login']" 2>&1) ||
		_fatal "lock_keyring: $out"
	case $out in
	*collection/login*) return 0 ;;
	esac
	_fatal "lock_keyring: unexpected answer: $out"
}

# unlock_keyring: unlocking through the API needs a prompt (no desktop
# here), so restart gnome-keyring with the right password instead; the
# keyring file in $XDG_DATA_HOME/keyrings keeps its items.
unlock_keyring() {
	stop_keyring
	_start_gkd "$KEYRING_PASSWORD"
}

# freeze_keyring / thaw_keyring: SIGSTOP / SIGCONT the keyring daemon, so
# it stops answering (D-Bus calls then time out after 25 s each).
freeze_keyring() {
	[ -n "${KEYRING_PID:-}" ] || _fatal "freeze_keyring: no keyring running"
	kill -STOP "$KEYRING_PID"
}
thaw_keyring() {
	[ -n "${KEYRING_PID:-}" ] || return 0
	kill -CONT "$KEYRING_PID"
}

# ---------------------------------------------------------------------------
# OAuth server (tests/peers/oauth-server.mjs)

# start_oauth [--access-ttl S] [--rotate] [--port N]: starts the server in
# the background, waits for $T/oauth.port, exports OAUTH_URL (from
# $T/oauth.issuer: https:// when started with --cert/--key) and OAUTH_PORT.
start_oauth() {
	_OAUTH_ARGS=("$@")
	_start_peer oauth-server "$T/oauth.port" "$T/oauth.log" \
		node "$PEERS/oauth-server.mjs" --state-dir "$T" "$@"
	OAUTH_PID=$_PEER_PID
	OAUTH_PORT=$(cat "$T/oauth.port")
	OAUTH_URL=$(cat "$T/oauth.issuer")	# https:// with --cert/--key
	export OAUTH_PID OAUTH_PORT OAUTH_URL
}

# stop_oauth: stops the server (OAUTH_URL is kept: clients now get
# "connection refused").
stop_oauth() {
	_stop_pid "${OAUTH_PID:-}"
	OAUTH_PID=
}

# restart_oauth [ARGS]: stop and start again at the same port, so the
# issuer and every configured endpoint stay valid, but with empty storage:
# every grant and token issued before is gone (-> invalid_grant).  Without
# ARGS the previous ones are used again.  Test config and stats restart
# from their defaults.
restart_oauth() {
	local port=${OAUTH_PORT:-}
	[ "$#" -gt 0 ] || set -- "${_OAUTH_ARGS[@]}"
	stop_oauth
	local args=() skip=0 a
	# drop a --port from the arguments: the old port wins
	for a in "$@"; do
		if [ "$skip" = 1 ]; then skip=0; continue; fi
		case $a in
		--port) skip=1 ;;
		--port=*) ;;
		*) args+=("$a") ;;
		esac
	done
	if [ -n "$port" ]; then
		start_oauth "${args[@]}" --port "$port"
		_OAUTH_ARGS=("${args[@]}")
	else
		start_oauth "${args[@]}"
	fi
}

# _oauth_post PATH [BODY]
_oauth_post() {
	local out body=${2:-'{}'}
	out=$(curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' \
		--data "$body" -w '\n%{http_code}' "$OAUTH_URL$1" 2>&1)
	if [ "${out##*$'\n'}" != 200 ]; then
		diag "POST $1 failed: ${out//$'\n'/ }"
		return 1
	fi
	return 0
}

# oauth_config JSON: merged into the server's test config, e.g.
#   oauth_config '{"device_interval":1,"slow_down_polls":2}'
# Keys: device_interval, slow_down_polls, google_style, device_auth_error,
# token_status, refresh_delay_ms, code_delay_ms, token_rewrite,
# device_poll_error,
# revocation_status, revocation_error (see
# tests/peers/oauth-server.mjs).
oauth_config() {
	_oauth_post /test/config "$1"
}

# oauth_reset_config: back to the defaults.
oauth_reset_config() {
	_oauth_post /test/reset-config
}

# oauth_stats: prints the server's counters as JSON:
# {"refresh_grants","device_polls","device_auths","poll_times_ms",
#  "revocations","token_requests","code_exchanges"}
oauth_stats() {
	curl -sS --max-time 5 "$OAUTH_URL/test/stats"
}

# oauth_reset_stats: zero the counters.
oauth_reset_stats() {
	_oauth_post /test/reset-stats
}

# approve_device USER_CODE [LOGIN] [--deny]: play the user in a browser.
approve_device() {
	bash "$PEERS/approve-device.sh" "$OAUTH_URL" "$@"
}

# approve_code AUTH_URL [LOGIN] [--deny]: prints the final redirect URL.
approve_code() {
	bash "$PEERS/approve-code.sh" "$@"
}

# ---------------------------------------------------------------------------
# TLS and the SMTP server (tests/peers/smtp-server.mjs)

# make_cert: EC P-256 self-signed certificate for 127.0.0.1, 127.0.0.2 and
# localhost:
# $T/cert.pem (also the trust anchor for clients) and $T/key.pem.
make_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost \
		-addext 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost' \
		>>"$T/openssl.log" 2>&1 || _fatal "make_cert failed (see openssl.log)"
}

# start_smtp [--password USER:PASS]: STARTTLS and implicit-TLS listeners;
# exports SMTP_PORT (STARTTLS) and SMTPS_PORT.  XOAUTH2 and OAUTHBEARER
# tokens are checked at $OAUTH_URL/me (start_oauth first).  Messages land
# in $T/mail (N.eml, N.json), AUTH attempts in $T/smtp-auth.log; what the
# server answers can be changed with smtp_control.
start_smtp() {
	[ -s "$T/cert.pem" ] || make_cert
	if [ -z "${OAUTH_URL:-}" ]; then
		diag "start_smtp: no OAuth server: XOAUTH2 will fail"
	fi
	_start_peer smtp-server "$T/smtp.ports" "$T/smtp.log" \
		node "$PEERS/smtp-server.mjs" --state-dir "$T" --cert "$T/cert.pem" \
		--key "$T/key.pem" --oauth-issuer "${OAUTH_URL:-http://127.0.0.1:9}" "$@"
	SMTP_PID=$_PEER_PID
	SMTP_PORT=$(jq -r .starttls "$T/smtp.ports")
	SMTPS_PORT=$(jq -r .tls "$T/smtp.ports")
	export SMTP_PID SMTP_PORT SMTPS_PORT
}

stop_smtp() {
	_stop_pid "${SMTP_PID:-}"
	SMTP_PID=
}

# smtp_control JSON: the SMTP server's test control, $T/smtp-control.json,
# put in place atomically; the server reads it again at each decision
# point, no restart needed.  Knobs (see tests/peers/smtp-server.mjs):
# xoauth2_challenge, oauthbearer_challenge, refuse_tokens, greeting, ehlo,
# auth, mail, rcpt, data, eom, drop_data_after, hang.  E.g.
#   smtp_control '{"auth":{"reply":"454 4.7.0 Too many login attempts","count":1}}'
# Not JSON, or an unknown knob: diag and status 1, the old file kept.  The
# server checks the values: a wrong one makes it answer 421 4.3.0 at every
# decision point and say why in smtp.log.
smtp_control() {
	local tmp=$T/smtp-control.json.new bad
	if ! bad=$(jq -r 'if type != "object" then "not a JSON object" else
		(keys - ["xoauth2_challenge", "oauthbearer_challenge", "refuse_tokens",
		 "greeting", "ehlo", "auth", "mail", "rcpt", "data", "eom", "drop_data_after", "hang"])
		| if length > 0 then "unknown knob \(.[0])" else empty end end' <<<"$1" 2>&1) ||
		[ -n "$bad" ]; then
		diag "smtp_control: ${bad:-not JSON}"
		return 1
	fi
	printf '%s\n' "$1" >"$tmp" && mv -f "$tmp" "$T/smtp-control.json"
}

# smtp_control_clear: back to the defaults (no control file).
smtp_control_clear() {
	rm -f "$T/smtp-control.json"
}

# smtp_talk [--starttls] [--timeout S] PORT LINE...: a raw SMTP dialogue
# with the server at 127.0.0.1:PORT through openssl s_client (implicit TLS;
# with --starttls, s_client does EHLO and STARTTLS itself first): reads the
# greeting, then sends each LINE (CRLF added) and reads its whole reply.
# Prints every reply line (CR removed), then hangs up without QUIT (give
# QUIT as a LINE for a polite end).  A reply that does not come within S
# seconds (default 5; fractions allowed) prints "TIMEOUT", a connection
# closed instead prints "EOF"; either ends the dialogue with status 1.
smtp_talk() {
	local starttls=() secs=5 port line pipe pid in_fd out_fd rc=0
	while [ "$#" -gt 0 ]; do
		case $1 in
		--starttls) starttls=(-starttls smtp) ;;
		--timeout) secs=$2; shift ;;
		*) break ;;
		esac
		shift
	done
	port=$1
	shift
	# FIFOs rather than a coproc: bash closes a coproc's pipes when it
	# exits, which would lose the last reply of a server that hangs up.
	pipe=$T/smtp_talk.$BASHPID.$RANDOM
	mkfifo "$pipe.in" "$pipe.out" || return 1
	# -nocommands: a line starting with Q or R is SMTP, not s_client's.
	openssl s_client -quiet -no_ign_eof -nocommands "${starttls[@]}" \
		-CAfile "$T/cert.pem" -verify_return_error \
		-connect "127.0.0.1:$port" <"$pipe.in" >"$pipe.out" 2>>"$T/openssl.log" &
	pid=$!
	exec {out_fd}>"$pipe.in" {in_fd}<"$pipe.out"
	rm -f "$pipe.in" "$pipe.out"
	if [ "${#starttls[@]}" -eq 0 ]; then
		_smtp_talk_reply "$in_fd" "$secs" || rc=1
	fi
	for line in "$@"; do
		[ "$rc" = 0 ] || break
		# In a subshell: should the server have hung up, SIGPIPE ends
		# that, not the test (the read then sees EOF).
		(printf '%s\r\n' "$line" >&"$out_fd") 2>/dev/null
		_smtp_talk_reply "$in_fd" "$secs" || rc=1
	done
	exec {out_fd}>&- {in_fd}<&-
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return "$rc"
}

# _smtp_talk_reply FD SECS: prints one whole reply read from FD (up to its
# "NNN " line), or TIMEOUT or EOF (status 1).
_smtp_talk_reply() {
	local reply st
	while :; do
		IFS= read -r -t "$2" reply <&"$1"
		st=$?
		if [ "$st" -gt 128 ]; then
			echo TIMEOUT
			return 1
		elif [ "$st" -ne 0 ]; then
			echo EOF
			return 1
		fi
		reply=${reply%$'\r'}
		printf '%s\n' "$reply"
		[[ $reply =~ ^[0-9]{3}- ]] || return 0
	done
}

# smtp_auth_wait REGEX [SECONDS]: waits (default 5 s) until a line of
# $T/smtp-auth.log matches REGEX (grep -E), e.g. for the
# "challenge-abandoned" line the server writes when it sees a client hang
# up; prints the last such line.  Status 1 on timeout.
smtp_auth_wait() {
	local re=$1 secs=${2:-5} i line
	for i in $(seq $((secs * 20))); do
		line=$(grep -E -- "$re" "$T/smtp-auth.log" 2>/dev/null | tail -n 1)
		if [ -n "$line" ]; then
			printf '%s\n' "$line"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# ---------------------------------------------------------------------------
# Dovecot: IMAP and POP3 (Debian's dovecot-imapd, dovecot-pop3d)

DOVECOT_PW_USER=pw@example.test
DOVECOT_PW_PASS=dovecot-app-pass-1234

# dovecot_deliver USER [SUBJECT]: puts a small message into USER's INBOX
# (new/ of its Maildir), owned by the mail uid.  start_dovecot has put one
# ("Welcome") there for $DOVECOT_PW_USER and user@example.test already.
dovecot_deliver() {
	local user=$1 subject=${2:-Test message} dir name
	[ -n "${_DOVECOT_DIR:-}" ] || _fatal "dovecot_deliver: start_dovecot first"
	dir=$_DOVECOT_DIR/mail/$user/Maildir
	mkdir -p "$dir/cur" "$dir/new" "$dir/tmp"
	name=$(date +%s).M${RANDOM}P$$.mailcred-test
	printf 'From: postmaster@example.test\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@example.test>\r\n\r\nA message for the tests.\r\n' \
		"$user" "$subject" "$(date -R)" "$name" >"$dir/tmp/$name"
	mv "$dir/tmp/$name" "$dir/new/$name"
	chown -R "$_DOVECOT_UID:$_DOVECOT_GID" "$_DOVECOT_DIR/mail/$user"
}

# _dovecot_conf: writes $_DOVECOT_DIR/dovecot.conf for the chosen ports.
_dovecot_conf() {
	local d=$_DOVECOT_DIR login_user internal_user internal_group
	local chroot_login chroot_empty issuer=${OAUTH_URL:-http://127.0.0.1:9}
	if [ "$(id -u)" -eq 0 ]; then
		login_user=dovenull
		internal_user=dovecot
		internal_group=dovecot
		chroot_login=login
		chroot_empty=empty
	else
		# Not root: every process runs as the user running the tests,
		# and none can chroot.
		login_user=$(id -un)
		internal_user=$(id -un)
		internal_group=$(id -gn)
		chroot_login=
		chroot_empty=
	fi
	# Introspection as the resource server smtp-rs (HTTP Basic from the
	# URL's user:password).
	cat >"$d/oauth2.conf" <<EOF
introspection_mode = post
introspection_url = ${issuer%%://*}://smtp-rs:rs-secret-1234@${issuer#*://}/token/introspection
username_attribute = sub
active_attribute = active
active_value = true
tls_ca_cert_file = $T/cert.pem
EOF
	cat >"$d/dovecot.conf" <<EOF
# Written by start_dovecot (tests/lib.sh); every path is under the test's T.
base_dir = $d/run
state_dir = $d/state
instance_name = mailcred-test-$$
log_path = $T/dovecot.log
info_log_path = $T/dovecot.log
protocols = imap pop3
listen = $DOVECOT_TLS_HOST
shutdown_clients = yes
login_greeting = mailcred test Dovecot ready.

default_login_user = $login_user
default_internal_user = $internal_user
default_internal_group = $internal_group
first_valid_uid = $_DOVECOT_UID
last_valid_uid = $_DOVECOT_UID

ssl = yes
ssl_cert = <$T/cert.pem
ssl_key = <$T/key.pem
ssl_min_protocol = TLSv1.2
# No AUTH before TLS on the STARTTLS listeners ($DOVECOT_STARTTLS_HOST: a
# connection from and to one address counts as secure, hence not
# $DOVECOT_TLS_HOST).
disable_plaintext_auth = yes

# Refused logins are answered at once.  auth_debug stays off: it logs tokens.
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
auth_cache_size = 0
auth_verbose = yes
auth_verbose_passwords = no

passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $d/oauth2.conf
}
passdb {
  driver = static
  mechanisms = plain login
  username_filter = $DOVECOT_PW_USER
  args = password=$DOVECOT_PW_PASS
}
userdb {
  driver = static
  args = uid=$_DOVECOT_UID gid=$_DOVECOT_GID home=$d/mail/%u
}
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv

service anvil {
  chroot = $chroot_empty
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service ipc {
  chroot = $chroot_empty
}
service imap-login {
  chroot = $chroot_login
  inet_listener imap {
    address = $DOVECOT_STARTTLS_HOST
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = $DOVECOT_TLS_HOST
    port = $IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  chroot = $chroot_login
  inet_listener pop3 {
    address = $DOVECOT_STARTTLS_HOST
    port = $POP3_PORT
  }
  inet_listener pop3s {
    address = $DOVECOT_TLS_HOST
    port = $POP3S_PORT
    ssl = yes
  }
}
EOF
}

# start_dovecot: Dovecot from a private configuration ($T/dovecot), with
#   IMAPS_PORT, POP3S_PORT  implicit TLS on $DOVECOT_TLS_HOST (127.0.0.1)
#   IMAP_PORT, POP3_PORT    STARTTLS on $DOVECOT_STARTTLS_HOST (127.0.0.2);
#                           no AUTH before STARTTLS
# and the certificate of make_cert ($T/cert.pem, which covers both
# addresses).  Logins:
#   XOAUTH2, OAUTHBEARER  a bearer token of the test OAuth server (start_oauth
#       first), checked by introspection as the smtp-rs client; the user
#       must be the token's sub.  A refused token gets the SASL error
#       challenge (XOAUTH2 {"status":"401","schemes":"bearer",...},
#       OAUTHBEARER {"status":"invalid_token",...}), then NO
#       [AUTHENTICATIONFAILED] (IMAP) or -ERR [AUTH] (POP3), without delay.
#   PLAIN, LOGIN  only $DOVECOT_PW_USER with $DOVECOT_PW_PASS (an app
#       password).
# Mail: a Maildir per user under $T/dovecot/mail, owned by nobody (the user
# running the tests when not root); INBOX has one "Welcome" message for
# $DOVECOT_PW_USER and for user@example.test (dovecot_deliver adds more).
# Exports DOVECOT_PID, IMAPS_PORT, POP3S_PORT, IMAP_PORT, POP3_PORT,
# DOVECOT_TLS_HOST, DOVECOT_STARTTLS_HOST, DOVECOT_PW_USER, DOVECOT_PW_PASS.
# As root it makes $T traversable (0711: nothing listable, files stay
# 0600), since the mail processes run as nobody.  Log: $T/dovecot.log.
start_dovecot() {
	[ -n "${DOVECOT_PID:-}" ] && return 0
	[ -s "$T/cert.pem" ] || make_cert
	[ -n "${OAUTH_URL:-}" ] || diag "start_dovecot: no OAuth server: bearer logins will fail"
	_DOVECOT_DIR=$T/dovecot
	if [ "$(id -u)" -eq 0 ]; then
		_DOVECOT_UID=$(id -u nobody)
		_DOVECOT_GID=$(id -g nobody)
		chmod 711 "$T"
	else
		_DOVECOT_UID=$(id -u)
		_DOVECOT_GID=$(id -g)
	fi
	mkdir -p "$_DOVECOT_DIR/mail" "$_DOVECOT_DIR/state"
	chmod 711 "$_DOVECOT_DIR"
	chown "$_DOVECOT_UID:$_DOVECOT_GID" "$_DOVECOT_DIR/mail"
	DOVECOT_TLS_HOST=127.0.0.1
	DOVECOT_STARTTLS_HOST=127.0.0.2
	export DOVECOT_TLS_HOST DOVECOT_STARTTLS_HOST DOVECOT_PW_USER DOVECOT_PW_PASS
	dovecot_deliver "$DOVECOT_PW_USER" Welcome
	dovecot_deliver user@example.test Welcome
	local try i up
	for try in 1 2 3; do
		# Should another test take one of the ports meanwhile, Dovecot
		# cannot bind it and exits: try again with others.
		if ! { IMAPS_PORT=$(free_port) && POP3S_PORT=$(free_port) &&
			IMAP_PORT=$(free_port) && POP3_PORT=$(free_port); }; then
			_fatal "start_dovecot: no free ports"
		fi
		_dovecot_conf
		dovecot -F -c "$_DOVECOT_DIR/dovecot.conf" >>"$T/dovecot.log" 2>&1 &
		DOVECOT_PID=$!
		_track "$DOVECOT_PID"
		# Its master takes 1.1 s to stop; killed, it would leave its
		# children behind.
		_LIB_GRACE[$DOVECOT_PID]=200
		for i in $(seq $((PEER_START_SECS * 20))); do
			_pid_alive "$DOVECOT_PID" || break
			up=1
			_port_listening "$DOVECOT_TLS_HOST" "$IMAPS_PORT" || up=0
			_port_listening "$DOVECOT_TLS_HOST" "$POP3S_PORT" || up=0
			_port_listening "$DOVECOT_STARTTLS_HOST" "$IMAP_PORT" || up=0
			_port_listening "$DOVECOT_STARTTLS_HOST" "$POP3_PORT" || up=0
			if [ "$up" = 1 ]; then
				export DOVECOT_PID IMAPS_PORT POP3S_PORT IMAP_PORT POP3_PORT
				return 0
			fi
			sleep 0.05
		done
		diag "start_dovecot: attempt $try failed"
		_stop_pid "$DOVECOT_PID"
		DOVECOT_PID=
	done
	_fatal "dovecot did not start (see dovecot.log)"
}

# stop_dovecot: stops Dovecot (about 1.1 s: a fixed wait in its master).
stop_dovecot() {
	_stop_pid "${DOVECOT_PID:-}"
	DOVECOT_PID=
}

# ---------------------------------------------------------------------------
# Ports

# _port_used PORT: some TCP socket (IPv4 or IPv6, any address, any state)
# has that local port.
_port_used() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p { found = 1 }
		END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_port: prints a TCP port on which nothing listens, so a connection
# to it on 127.0.0.1 is refused at once (RST).  Chosen at random in
# 20000-32767, below the kernel's ephemeral range, so an outgoing
# connection does not take it meanwhile; another test could still, rarely,
# take it: a listener started on it should be checked.
free_port() {
	local i p
	for i in $(seq 50); do
		p=$((20000 + RANDOM % 12768))
		_port_used "$p" || { echo "$p"; return 0; }
	done
	diag "free_port: no free port found"
	return 1
}

# _port_listening ADDR PORT: a socket listens on ADDR:PORT (IPv4).
_port_listening() {
	local want
	want=$(printf '%s:%04X' "$(printf '%s' "$1" | awk -F. '{ printf "%02X%02X%02X%02X", $4, $3, $2, $1 }')" "$2")
	awk -v w="$want" 'NR > 1 && $4 == "0A" && $2 == w { found = 1 } END { exit !found }' /proc/net/tcp
}

# start_blackhole: a loopback port where connect() times out (SYNs are
# dropped, nothing answers), held by tests/peers/blackhole.pl.  Exports
# BLACKHOLE_PORT (on 127.0.0.1) and BLACKHOLE_PID.
start_blackhole() {
	[ -n "${BLACKHOLE_PID:-}" ] && return 0
	rm -f "$T/blackhole.port"
	perl "$PEERS/blackhole.pl" "$T/blackhole.port" >>"$T/blackhole.log" 2>&1 &
	BLACKHOLE_PID=$!
	_track "$BLACKHOLE_PID"
	_wait_file "$T/blackhole.port" "$PEER_START_SECS" "$BLACKHOLE_PID" || _fatal "blackhole did not start (see blackhole.log)"
	BLACKHOLE_PORT=$(cat "$T/blackhole.port")
	export BLACKHOLE_PORT BLACKHOLE_PID
}

stop_blackhole() {
	_stop_pid "${BLACKHOLE_PID:-}"
	BLACKHOLE_PID=
}

# start_hostile: tests/peers/hostile-oauth.mjs, an OAuth server that
# misbehaves on request (POST /token and /device/auth on 127.0.0.1, a
# redirect target on 127.0.0.2).  Exports HOSTILE_URL, HOSTILE_OTHER_URL
# and HOSTILE_PID; log in $T/hostile.log.
start_hostile() {
	[ -n "${HOSTILE_PID:-}" ] && return 0
	_start_peer hostile-oauth "$T/hostile.json" "$T/hostile.log" \
		node "$PEERS/hostile-oauth.mjs" --state-dir "$T"
	HOSTILE_PID=$_PEER_PID
	HOSTILE_URL=$(jq -r .url "$T/hostile.json")
	HOSTILE_OTHER_URL=$(jq -r .other_url "$T/hostile.json")
	export HOSTILE_URL HOSTILE_OTHER_URL HOSTILE_PID
}

# hostile_mode JSON: what the hostile server answers from now on, e.g.
#   hostile_mode '{"token":"503","device":"ok"}'  (modes: see the script)
hostile_mode() {
	local out
	out=$(curl -sS --max-time 5 -X POST --data "$1" -w '\n%{http_code}' \
		"$HOSTILE_URL/test/mode" 2>&1)
	[ "${out##*$'\n'}" = 200 ] || _fatal "hostile_mode $1: ${out//$'\n'/ }"
}

# hostile_log: every request the hostile server saw (JSON array);
# hostile_reset: modes back to ok, log cleared.
hostile_log() {
	curl -sS --max-time 5 "$HOSTILE_URL/test/log"
}
hostile_reset() {
	curl -sS --max-time 5 -X POST -o /dev/null "$HOSTILE_URL/test/reset"
}

# ---------------------------------------------------------------------------
# Assertions: TAP-like lines on stdout, counted for `finish`.

# _show VALUE: a value for a failure message, on one line, cut short.
_show() {
	local v=${1//$'\n'/\\n}
	[ "${#v}" -le 300 ] || v="${v:0:300}..."
	printf '%s' "$v"
}

ok() {
	TESTS_RUN=$((TESTS_RUN + 1))
	TESTS_PASSED=$((TESTS_PASSED + 1))
	printf 'ok %d - %s\n' "$TESTS_RUN" "$1"
}

# not_ok NAME [DETAIL]
not_ok() {
	TESTS_RUN=$((TESTS_RUN + 1))
	TESTS_FAILED=$((TESTS_FAILED + 1))
	printf 'not ok %d - %s\n' "$TESTS_RUN" "$1"
	[ -z "${2:-}" ] || printf '#   %s\n' "$2"
	# Where: the test script's line that asserted.
	local i
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		if [ "${BASH_SOURCE[$i]}" != "${BASH_SOURCE[0]}" ]; then
			printf '#   at %s line %s\n' "${BASH_SOURCE[$i]##*/}" "${BASH_LINENO[$((i - 1))]}"
			break
		fi
	done
}

# assert_eq GOT WANT NAME
assert_eq() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		not_ok "$3" "got '$(_show "$1")', want '$(_show "$2")'"
	fi
}

# assert_ne GOT UNWANTED NAME
assert_ne() {
	if [ "$1" != "$2" ]; then
		ok "$3"
	else
		not_ok "$3" "got '$(_show "$1")', which it must not be"
	fi
}

# assert_match TEXT REGEX NAME  (bash ERE, =~)
assert_match() {
	if [[ $1 =~ $2 ]]; then
		ok "$3"
	else
		not_ok "$3" "'$(_show "$1")' does not match /$2/"
	fi
}

# assert_no_match TEXT REGEX NAME
assert_no_match() {
	if [[ $1 =~ $2 ]]; then
		not_ok "$3" "'$(_show "$1")' matches /$2/"
	else
		ok "$3"
	fi
}

# assert_status GOT WANT NAME: exit statuses.
assert_status() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		not_ok "$3" "exit status $1, want $2"
	fi
}

# assert_true 'SHELL CONDITION' NAME: eval'd, e.g. assert_true "[ $n -ge 5 ]" ...
assert_true() {
	if eval "$1"; then
		ok "$2"
	else
		not_ok "$2" "false: $1"
	fi
}

# finish: the summary line; exits 1 if anything failed or nothing was
# checked at all.
finish() {
	printf '%d passed, %d failed\n' "$TESTS_PASSED" "$TESTS_FAILED"
	if [ "$TESTS_FAILED" -gt 0 ] || [ "$TESTS_RUN" -eq 0 ]; then
		exit 1
	fi
	exit 0
}
