# tests/lib.sh: bash library for mailcred's integration tests.
#
# Each test is a standalone script, tests/integration/t-NAME.sh:
#
#   . "$(dirname "$0")/../lib.sh"
#   stack_init                 # private $T, HOME, XDG dirs; cleanup on exit
#   start_keyring              # D-Bus session bus + unlocked gnome-keyring
#   start_oauth                # tests/peers/oauth-server.mjs -> $OAUTH_URL
#   start_smtp                 # tests/peers/smtp-server.mjs -> $SMTP_PORT, $SMTPS_PORT
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
#   ok, not_ok, assert_eq, assert_ne, assert_match, assert_no_match,
#   assert_status, assert_true, finish
#
# Variables it reads: BUS_SERVICEDIR (optional: a directory of D-Bus .service
# files the test bus may activate, e.g. a fake prompter that records that
# it was asked for; without it nothing can be activated).
#
# Variables it sets: T, TOP, MAILCRED, HOME, XDG_*_HOME, XDG_RUNTIME_DIR,
# DBUS_SESSION_BUS_ADDRESS, BUS_PID, KEYRING_PID, KEYRING_PASSWORD,
# OAUTH_URL, OAUTH_PORT, OAUTH_PID, SMTP_PORT, SMTPS_PORT, SMTP_PID.

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

# _stop_pid PID: TERM (and CONT, in case it is stopped), KILL after ~2 s,
# then reap it if it is our child.
_stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	if _pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		kill -CONT "$pid" 2>/dev/null
		for i in $(seq 40); do
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
	return 0
}

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
	_wait_file "$T/bus.address" 10 "$BUS_PID" || _fatal "dbus-daemon did not start (see bus.log)"
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
	gdbus wait --session --timeout 10 org.freedesktop.secrets ||
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
	gdbus wait --session --timeout 10 org.freedesktop.secrets ||
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
	rm -f "$T/oauth.port"
	# node by absolute script path: $! is node's own PID.
	node "$PEERS/oauth-server.mjs" --state-dir "$T" "$@" >>"$T/oauth.log" 2>&1 &
	OAUTH_PID=$!
	_track "$OAUTH_PID"
	_wait_file "$T/oauth.port" 10 "$OAUTH_PID" || _fatal "oauth-server did not start (see oauth.log)"
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

# make_cert: EC P-256 self-signed certificate for 127.0.0.1 and localhost:
# $T/cert.pem (also the trust anchor for clients) and $T/key.pem.
make_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost \
		-addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
		>>"$T/openssl.log" 2>&1 || _fatal "make_cert failed (see openssl.log)"
}

# start_smtp [--password USER:PASS]: STARTTLS and implicit-TLS listeners;
# exports SMTP_PORT (STARTTLS) and SMTPS_PORT.  XOAUTH2 tokens are checked
# at $OAUTH_URL/me (start_oauth first).  Messages land in $T/mail, AUTH
# attempts in $T/smtp-auth.log.
start_smtp() {
	[ -s "$T/cert.pem" ] || make_cert
	rm -f "$T/smtp.ports"
	if [ -z "${OAUTH_URL:-}" ]; then
		diag "start_smtp: no OAuth server: XOAUTH2 will fail"
	fi
	node "$PEERS/smtp-server.mjs" --state-dir "$T" --cert "$T/cert.pem" \
		--key "$T/key.pem" --oauth-issuer "${OAUTH_URL:-http://127.0.0.1:9}" "$@" \
		>>"$T/smtp.log" 2>&1 &
	SMTP_PID=$!
	_track "$SMTP_PID"
	_wait_file "$T/smtp.ports" 10 "$SMTP_PID" || _fatal "smtp-server did not start (see smtp.log)"
	SMTP_PORT=$(jq -r .starttls "$T/smtp.ports")
	SMTPS_PORT=$(jq -r .tls "$T/smtp.ports")
	export SMTP_PID SMTP_PORT SMTPS_PORT
}

stop_smtp() {
	_stop_pid "${SMTP_PID:-}"
	SMTP_PID=
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
