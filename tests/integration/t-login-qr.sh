#!/usr/bin/env bash
# mailcred login --flow device on a terminal (a pseudo-terminal made by
# script(1)): the QR code of verification_uri_complete, which zbarimg
# reads back from what the terminal showed, and the countdown line; none
# of it with --no-qr, -q, a too narrow terminal, or without a terminal
# (where --qr still draws the code).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
# A terminal that can redraw a line and show colours (CI may have no TERM).
export TERM=xterm
start_keyring
start_oauth
A=user@example.test
write_config "$A"
oauth_config '{"device_interval":1}'

ESC=$'\033'
CR=$'\r'

# tty_login OUT [STTY_ARGS] -- ARGS...: "mailcred login ARGS" on a new
# pseudo-terminal (its settings changed by stty STTY_ARGS first, if
# given), everything it shows saved in OUT; the user code is read from the
# screen and approved. Sets RC. PID file: $OUT.pid.
tty_login() {
	local out=$1 stty_args='' i code cmd pid
	shift
	if [ "$1" != -- ]; then
		stty_args=$1
		shift
	fi
	shift
	cmd="echo \$\$ >$(printf %q "$out.pid");"
	[ -z "$stty_args" ] || cmd="$cmd stty $stty_args;"
	cmd="$cmd exec $(printf '%q ' "$MAILCRED" -c "$CONF" login "$@")"
	script -qfec "$cmd" /dev/null >"$out" 2>&1 </dev/null &
	pid=$!
	for i in $(seq 100); do
		grep -q 'the code' "$out" 2>/dev/null &&
			[ -n "$(screen_code "$out")" ] && break
		sleep 0.1
	done
	code=$(screen_code "$out")
	# Let it show the countdown for a moment (a poll or two, at 1 s).
	for i in $(seq 30); do
		grep -q 'left' "$out" && break
		sleep 0.1
	done
	sleep 1.2
	[ -z "$code" ] || approve_device "$code" "$A" >/dev/null 2>&1
	wait "$pid"
	RC=$?
}

# screen_code OUT: the user code shown under "enter the code".
screen_code() {
	tr -d '\r' <"$1" | sed -n '/enter the code/{n;n;p}' | tr -d ' '
}

# plain FILE: what it shows, without carriage returns and SGR colours.
plain() {
	tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;]*m//g'
}

# qr_lines FILE: the lines of the drawing (only half blocks and spaces).
qr_lines() {
	plain "$1" | LC_ALL=C.UTF-8 grep -E '^[█▀▄ ]+$'
}

# scan_qr FILE: what zbarimg reads from the half-block lines of FILE, as
# a phone would see them on a light-on-dark terminal: light ink for the
# blocks, a dark terminal background around them.
scan_qr() {
	local -a lines
	local line x y w h px=4 bg=4 c top bot pbm=$T/qr.pbm
	mapfile -t lines < <(qr_lines "$1")
	h=$((${#lines[@]} * 2))
	export LC_ALL=C.UTF-8
	w=${#lines[0]}
	{
		printf 'P1\n%d %d\n' $(((w + 2 * bg) * px)) $(((h + 2 * bg) * px))
		local dark
		dark=$(printf "%$(((w + 2 * bg) * px))s" '' | tr ' ' 1)
		for ((y = 0; y < bg * px; y++)); do echo "$dark"; done
		for line in "${lines[@]}"; do
			top=$(printf "%$((bg * px))s" '' | tr ' ' 1)
			bot=$top
			for ((x = 0; x < w; x++)); do
				c=${line:x:1}
				case $c in
				█) top+=0000 bot+=0000 ;;
				▀) top+=0000 bot+=1111 ;;
				▄) top+=1111 bot+=0000 ;;
				*) top+=1111 bot+=1111 ;;
				esac
			done
			top+=$(printf "%$((bg * px))s" '' | tr ' ' 1)
			bot+=$(printf "%$((bg * px))s" '' | tr ' ' 1)
			for ((y = 0; y < px; y++)); do echo "$top"; done
			for ((y = 0; y < px; y++)); do echo "$bot"; done
		done
		for ((y = 0; y < bg * px; y++)); do echo "$dark"; done
	} >"$pbm"
	unset LC_ALL
	zbarimg -q --raw "$pbm" 2>/dev/null
}

# 1. A terminal with a UTF-8 locale: QR, countdown, login.
export LC_ALL=C.UTF-8
tty_login "$T/tty.out" -- "$A" --flow device
unset LC_ALL
assert_status "$RC" 0 "on a terminal the device login succeeds"
screen=$(cat "$T/tty.out")
assert_match "$screen" "Logged in $A" "the terminal says it is logged in"
assert_match "$screen" "scan this code with a phone" "the terminal announces the QR code"
nqr=$(qr_lines "$T/tty.out" | wc -l)
assert_true "[ $nqr -ge 11 ]" "the terminal shows the QR code in half blocks ($nqr lines)"
uri=$(tr -d '\r' <"$T/tty.out" | sed -n 's/^(or open \(.*\))$/\1/p')
assert_match "$uri" "user_code=" "the screen names verification_uri_complete"
assert_eq "$(scan_qr "$T/tty.out")" "$uri" "zbarimg reads verification_uri_complete from the terminal's QR code"
assert_eq "$(tr -d '\r' <"$T/tty.out" | LC_ALL=C.UTF-8 grep -cE "^${ESC}\\[97;40m[█▀▄ ]+${ESC}\\[0m\$")" "$nqr" "each line of the code is drawn white on black, whatever the terminal's theme"
assert_match "$screen" "${CR}Waiting for approval: [0-9]+:[0-9]{2} left${ESC}\\[K${CR}Waiting for approval: [0-9]+:[0-9]{2} left${ESC}\\[K" "a countdown line is redrawn in place"
assert_match "$screen" "left${ESC}\\[K${CR}${ESC}\\[KLogged in" "the countdown line is cleared before the result"
assert_no_match "$screen" "code expires in" "the terminal has the countdown instead of the static line"

# 2. --no-qr on a terminal: no code, the countdown stays.
export LC_ALL=C.UTF-8
tty_login "$T/noqr.out" -- "$A" --flow device --no-qr
unset LC_ALL
assert_status "$RC" 0 "--no-qr: the login succeeds"
screen=$(cat "$T/noqr.out")
assert_eq "$(qr_lines "$T/noqr.out" | wc -l)" 0 "--no-qr: no QR code"
assert_no_match "$screen" "scan this code" "--no-qr: no QR heading"
assert_match "$screen" "${CR}Waiting for approval: [0-9]+:[0-9]{2} left" "--no-qr: the countdown is shown"

# 3. A terminal narrower than the code: no code, the login goes on.
export LC_ALL=C.UTF-8
tty_login "$T/narrow.out" "cols 30 rows 40" -- "$A" --flow device
unset LC_ALL
assert_status "$RC" 0 "30 columns: the login succeeds"
assert_eq "$(qr_lines "$T/narrow.out" | wc -l)" 0 "30 columns: the QR code (33 wide) is left out"
assert_no_match "$(cat "$T/narrow.out")" "scan this code" "30 columns: no QR heading"
assert_match "$(cat "$T/narrow.out")" "Waiting for approval: [0-9]+:[0-9]{2} left" "30 columns: the countdown is shown"

# 4. A C locale on a terminal: the ASCII drawing.
export LC_ALL=C
tty_login "$T/ascii.out" -- "$A" --flow device
unset LC_ALL
assert_status "$RC" 0 "C locale: the login succeeds"
nascii=$(plain "$T/ascii.out" | grep -cE '^(##|  )+$')
assert_true "[ $nascii -ge 21 ]" "C locale: the QR code is drawn in '##' ($nascii lines)"
assert_eq "$(qr_lines "$T/ascii.out" | wc -l)" 0 "C locale: no UTF-8 blocks"

# 4b. TERM=dumb: the code without colours, no redrawn line, the static one.
export LC_ALL=C.UTF-8
TERM=dumb tty_login "$T/dumb.out" -- "$A" --flow device
unset LC_ALL
assert_status "$RC" 0 "TERM=dumb: the login succeeds"
assert_true "[ $(qr_lines "$T/dumb.out" | wc -l) -ge 11 ]" "TERM=dumb: the QR code is drawn"
assert_no_match "$(cat "$T/dumb.out")" "${ESC}" "TERM=dumb: no escape sequence at all"
assert_match "$(cat "$T/dumb.out")" "Waiting for approval; the code expires in [0-9]+ min" "TERM=dumb: the static waiting line instead of the countdown"

# 5. -q on a terminal: the prompt only.
export LC_ALL=C.UTF-8
tty_login "$T/quiet.out" -- "$A" --flow device -q
unset LC_ALL
assert_status "$RC" 0 "-q: the login succeeds"
assert_eq "$(qr_lines "$T/quiet.out" | wc -l)" 0 "-q: no QR code"
assert_no_match "$(cat "$T/quiet.out")" "left${ESC}" "-q: no countdown"

# 6. Without a terminal: the text as before, no QR, no countdown.
mc login "$A" --flow device >"$T/p.out" 2>"$T/p.err" &
pid=$!
for i in $(seq 50); do grep -q 'Waiting' "$T/p.err" 2>/dev/null && break; sleep 0.1; done
approve_device "$(sed -n '/the code/{n;n;p}' "$T/p.err" | tr -d ' ')" "$A" >/dev/null 2>&1
wait $pid
assert_status $? 0 "without a terminal the login succeeds"
perr=$(cat "$T/p.err")
assert_no_match "$perr" "[${CR}${ESC}]" "without a terminal: no carriage return or escape"
assert_eq "$(LC_ALL=C.UTF-8 grep -c '[█▀▄]' "$T/p.err")" 0 "without a terminal: no QR code"
assert_match "$perr" "Waiting for approval; the code expires in [0-9]+ min\\.\\.\\." "without a terminal: the static waiting line"
assert_eq "$(cat "$T/p.out")" "" "without a terminal: nothing on stdout"

# 7. --qr without a terminal, --json: the code on stderr, JSON on stdout.
LC_ALL=C.UTF-8 mc login "$A" --flow device --qr --json >"$T/q.out" 2>"$T/q.err" &
pid=$!
for i in $(seq 50); do [ -s "$T/q.out" ] && break; sleep 0.1; done
approve_device "$(head -1 "$T/q.out" | jq -r .user_code)" "$A" >/dev/null 2>&1
wait $pid
assert_status $? 0 "--qr --json without a terminal: the login succeeds"
assert_eq "$(jq -c 'keys' "$T/q.out" 2>/dev/null | wc -l)" 2 "--qr --json: stdout holds only the two JSON lines"
assert_eq "$(scan_qr "$T/q.err")" "$(head -1 "$T/q.out" | jq -r .verification_uri_complete)" "--qr without a terminal: the drawn code reads as verification_uri_complete"
assert_no_match "$(cat "$T/q.err")" "[${CR}${ESC}]" "--qr without a terminal: no countdown"
assert_eq "$(head -1 "$T/q.err")" "To log in $A, scan this code with a phone:" "--qr --json: the code is introduced on stderr, naming the account"

# 8. SIGTERM while the countdown shows: the line is cleared, then the
# process ends of the signal.
export LC_ALL=C.UTF-8
cmd="echo \$\$ >$T/sig.pid; exec $(printf '%q ' "$MAILCRED" -c "$CONF" login "$A" --flow device)"
script -qfec "$cmd" /dev/null >"$T/sig.out" 2>&1 </dev/null &
spid=$!
unset LC_ALL
for i in $(seq 100); do grep -q 'left' "$T/sig.out" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$(cat "$T/sig.pid")"
wait $spid
src=$?
screen=$(cat "$T/sig.out")
assert_true "[ $src -ne 0 ]" "SIGTERM ends the login (script exits $src)"
assert_match "$screen" "left${ESC}\\[K${CR}${ESC}\\[K\$" "SIGTERM: the countdown line is cleared, the terminal not left mid-line"

finish
