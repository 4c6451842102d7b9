#!/usr/bin/env bash
# The secrets audit: every command, run with -v, against the real peers;
# then every access token, refresh token, authorization code, PKCE code
# verifier, the client secret and the app password are looked for in
# stderr, in stdout (except where printing it is the command's purpose),
# in the argv and environment of every process (sampled from /proc while
# the commands run), in the environment of the children mailcred starts
# (the browser opener, on_reauth), and in every file outside the chosen
# store and the runtime cache.  A planted secret shows each search works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
touch "$T/start"
start_keyring
start_oauth
APP_PW="audit-app-pw-$RANDOM$RANDOM-zq"
P=audit-pw-$$@example.test
start_smtp --password "$P:$APP_PW"
oauth_config '{"device_interval":1}'
CAP=$T/cap	# what the commands printed, the secrets found: not scanned as "files"
mkdir -p "$CAP"

A=audit-dev-$$@example.test	# device flow, keyring
B=audit-br-$$@example.test	# browser flow, file store
M=audit-man-$$@example.test	# manual flow
R=audit-re-$$@example.test	# on_reauth
common=("smtp = smtp://127.0.0.1:$SMTP_PORT" "ca_file = $T/cert.pem"
	"authorization_endpoint = $OAUTH_URL/auth" "auth_params = prompt=consent"
	"revocation_endpoint = $OAUTH_URL/token/revocation"
	"imap = imaps://127.0.0.1:$(free_port)" "pop = pop3s://127.0.0.1:$(free_port)")
write_config "$A" "${common[@]}"
write_config "$B" "${common[@]}" "store = file"
write_config "$M" "${common[@]}"
write_config "$R" "${common[@]}" "on_reauth = env >$T/env-reauth"
cat >>"$CONF" <<EOC
[account $P]
auth = password
smtp = smtp://127.0.0.1:$SMTP_PORT
ca_file = $T/cert.pem

EOC
PWHOME=$(getent passwd "$(id -u)" | cut -d: -f6)
USTATE=${PWHOME%/}/.local/state/mailcred

# The sampler: argv ("argv: ..." lines) and environment of every process
# of this test (its environment names $T: other tests run on the machine
# too) and of every mailcred, about every 20 ms; one perl, not a fork per
# process.  mailcred is not dumpable, so only root may read its environ:
# an unreadable one is written "environ: unreadable", and counted below.
AUDIT_T=$T AUDIT_BIN=$TOP perl -e '
	$| = 1;
	$SIG{TERM} = sub { exit 0 };
	my $t = $ENV{AUDIT_T};
	my $bin = $ENV{AUDIT_BIN};
	sub slurp { open(my $fh, "<", $_[0]) or return undef; local $/; my $v = <$fh>; return $v }
	while (1) {
		for my $d (glob "/proc/[0-9]*") {
			my $argv = slurp("$d/cmdline");
			next unless defined $argv;
			my $ours = index($argv, "$bin/mailcred\0") == 0 ||
			    index($argv, "$bin/git-credential-mailcred\0") == 0;
			my $env = slurp("$d/environ");
			# Gone (or a zombie) between the two reads: not unreadable.
			if (!defined $env) {
				my $again = slurp("$d/cmdline");
				next unless defined $again && length $again;
				$env = slurp("$d/environ");
			}
			next unless $ours || (defined $env && index($env, $t) >= 0);
			$argv =~ s/\0/ /g;
			print "argv: $argv\n";
			if (defined $env) {
				$env =~ s/\0/\n/g;
				print "$env\n";
			} else {
				print "environ: unreadable\n";
			}
		}
		select(undef, undef, undef, 0.02);
	}
' >"$CAP/proc.log" 2>/dev/null &
SAMPLER=$!
_track "$SAMPLER"

# run NAME CMD...: runs a command with its stdout and stderr captured.
run() {
	local name=$1
	shift
	"$@" >"$CAP/$name.out" 2>"$CAP/$name.err"
	echo $? >"$CAP/$name.rc"
}
rc_of() { cat "$CAP/$1.rc"; }

# --- the logins ---------------------------------------------------------
LOGIN_OUT=$CAP/login-device.out
mc -v login "$A" --flow device --json >"$LOGIN_OUT" 2>"$CAP/login-device.err" &
pid=$!
for _ in $(seq 100); do [ -s "$LOGIN_OUT" ] && break; sleep 0.1; done
approve_device "$(head -1 "$LOGIN_OUT" | jq -r .user_code)" "$A" >/dev/null 2>&1
wait "$pid"
assert_status $? 0 "login -v --flow device"

# The browser opener: records its environment, plays the user.
cat >"$T/opener" <<'EOB'
#!/bin/bash
env >"$OPENER_ENV"
loc=$(bash "$OPENER_PEERS/approve-code.sh" "$1" "$OPENER_LOGIN" 2>/dev/null) &&
	printf 'url = "%s"\n' "$loc" | curl -sS --max-time 10 -K - >/dev/null 2>&1
EOB
# (The URL with the code goes to curl on stdin: in its argv the test's
# own stand-in, not mailcred, would show the code to the sampler.)
chmod 755 "$T/opener"
DISPLAY=:99 BROWSER=$T/opener OPENER_ENV=$T/env-browser OPENER_PEERS=$PEERS \
	OPENER_LOGIN=$B run login-browser mc -v login "$B" --flow browser --timeout 30
assert_status "$(rc_of login-browser)" 0 "login -v --flow browser through the opener"
assert_true "[ -s '$T/env-browser' ]" "the opener ran and recorded its environment"

mkfifo "$T/paste"
mc -v login "$M" --flow manual --timeout 30 <"$T/paste" >"$CAP/login-manual.out" 2>"$CAP/login-manual.err" &
pid=$!
exec {paste}>"$T/paste"
url=
for _ in $(seq 100); do
	url=$(grep -oE "$OAUTH_URL/auth\?[^[:space:]]+" "$CAP/login-manual.err" | head -1)
	[ -n "$url" ] && break
	sleep 0.1
done
loc=$(approve_code "$url" "$M" 2>/dev/null)
printf '%s\n' "$loc" >&"$paste"
exec {paste}>&-
wait "$pid"
assert_status $? 0 "login -v --flow manual with the pasted URL"

LOGIN_OUT=$CAP/login-r.out
mc -v login "$R" --flow device --json >"$LOGIN_OUT" 2>"$CAP/login-r.err" &
pid=$!
for _ in $(seq 100); do [ -s "$LOGIN_OUT" ] && break; sleep 0.1; done
approve_device "$(head -1 "$LOGIN_OUT" | jq -r .user_code)" "$R" >/dev/null 2>&1
wait "$pid"
assert_status $? 0 "login -v for the on_reauth account"

# --- everyday commands --------------------------------------------------
run token mc -v token "$A"
assert_status "$(rc_of token)" 0 "token -v"
run token-refresh mc -v token "$A" --refresh
assert_status "$(rc_of token-refresh)" 0 "token -v --refresh"
run token-json mc -v token "$B" --json --refresh
assert_status "$(rc_of token-json)" 0 "token -v --json --refresh (file store)"
run token-m mc -v token "$M"
run sasl mc -v sasl "$A"
assert_status "$(rc_of sasl)" 0 "sasl -v"
run sasl-ob mc -v sasl "$A" --mech oauthbearer --host 127.0.0.1 --port 587
printf '%s\n' "$APP_PW" >"$CAP/pw.in"
run password-set mc -v password set "$P" <"$CAP/pw.in"
assert_status "$(rc_of password-set)" 0 "password -v set"
run password-get mc -v password get "$P"
assert_eq "$(cat "$CAP/password-get.out")" "$APP_PW" "password -v get prints the password"
run accounts mc -v accounts
run accounts-json mc -v accounts --json
assert_status "$(rc_of accounts)" 0 "accounts -v"
msg() { printf 'From: %s\r\nTo: rcpt@example.test\r\nSubject: audit\r\n\r\nbody\r\n' "$1"; }
msg "$A" >"$CAP/msg-a"
msg "$P" >"$CAP/msg-p"
run send-oauth mc -v send -a "$A" rcpt@example.test <"$CAP/msg-a"
assert_status "$(rc_of send-oauth)" 0 "send -v with XOAUTH2"
run send-pw mc -v send -a "$P" rcpt@example.test <"$CAP/msg-p"
assert_status "$(rc_of send-pw)" 0 "send -v with the app password"
run doctor mc -v doctor "$A" --timeout 5
run doctor-pw mc -v doctor "$P" --timeout 5
gc() {	# gc NAME ACTION INPUT
	printf %b "$3" >"$CAP/$1.in"
	MAILCRED_CONFIG=$CONF run "$1" "$TOP/git-credential-mailcred" "$2" <"$CAP/$1.in"
}
gc gitcred-get get "protocol=smtp\nhost=127.0.0.1:$SMTP_PORT\nusername=$P\n\n"
assert_match "$(cat "$CAP/gitcred-get.out")" "password=$APP_PW" "git-credential-mailcred get answers with the password"
gc gitcred-get-oauth get "protocol=smtp\nhost=127.0.0.1:$SMTP_PORT\nusername=$A\n\n"
gc gitcred-store store "protocol=smtp\nhost=127.0.0.1:$SMTP_PORT\nusername=$P\npassword=$APP_PW\n\n"
gc gitcred-erase erase "protocol=smtp\nhost=127.0.0.1:$SMTP_PORT\nusername=$P\npassword=not-$APP_PW\n\n"

# The secrets, while they exist: the tokens each store holds, the codes
# and code verifiers the server was sent.
{
	for n in "$A" "$M" "$R"; do
		stored_blob "$n" | jq -r '.access_token, .refresh_token'
	done
	jq -r '.access_token, .refresh_token' "$XDG_DATA_HOME/mailcred/$B.oauth2"
	cat "$CAP/token.out" "$CAP/token-refresh.out" "$CAP/token-m.out"
	jq -r .access_token "$CAP/token-json.out"
	curl -sS --max-time 5 "$OAUTH_URL/test/seen" | jq -r '.code_verifiers[], .codes[]'
	printf '%s\n' "$CLIENT_SECRET" "$APP_PW"
	# What carries a secret in another form: the SASL strings, AUTH
	# PLAIN's, and each secret in base64 and percent-encoded.
	cat "$CAP/sasl.out" "$CAP/sasl-ob.out"
	printf '\0%s\0%s' "$P" "$APP_PW" | base64 -w0
	echo
} | grep -E '^.{8,}$' | grep -v '^null$' | sort -u >"$CAP/secrets.raw"
{
	cat "$CAP/secrets.raw"
	while IFS= read -r sec; do
		printf '%s' "$sec" | base64 -w0
		echo
		printf '%s' "$sec" | jq -sRr @uri
	done <"$CAP/secrets.raw"
} | sort -u >"$CAP/secrets"
nver=$(curl -sS --max-time 5 "$OAUTH_URL/test/seen" | jq '.code_verifiers | length')
assert_eq "$nver" 2 "the server saw the code verifiers of the browser and manual logins"
assert_true "[ \$(wc -l <'$CAP/secrets') -ge 14 ]" "the secrets to look for are known ($(wc -l <"$CAP/secrets"))"

# --- logout and a lost grant (on_reauth) ----------------------------------
run logout mc -v logout "$A"
assert_status "$(rc_of logout)" 0 "logout -v"
restart_oauth
age_token "$R"
run token-lost mc -v token "$R"
assert_status "$(rc_of token-lost)" 77 "token -v after the grant is gone exits 77"
for _ in $(seq 50); do [ -s "$T/env-reauth" ] && break; sleep 0.1; done
assert_true "[ -s '$T/env-reauth' ]" "on_reauth ran and recorded its environment"

# A planted secret in a process's argv, for the self-check.
planted=$(head -1 "$CAP/secrets")
bash -c 'sleep 2; :' audit-plant "$planted"
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null

# --- the search -----------------------------------------------------------
# found FILE...: the files (of those given) holding any secret.
found() {
	grep -lF -f "$CAP/secrets" -- "$@" 2>/dev/null
}
printf 'x %s y\n' "$planted" >"$HOME/planted"

allowed_out=" token token-refresh token-json token-m sasl sasl-ob password-get gitcred-get gitcred-get-oauth "
for f in "$CAP"/*.err; do
	n=${f##*/}
	n=${n%.err}
	assert_eq "$(found "$f")" "" "no secret on stderr of $n"
done
for f in "$CAP"/*.out; do
	n=${f##*/}
	n=${n%.out}
	case $allowed_out in *" $n "*) continue ;; esac
	assert_eq "$(found "$f")" "" "no secret on stdout of $n"
done
nseen=$(grep -cE "^argv: $TOP/(git-credential-)?mailcred " "$CAP/proc.log")
assert_true "[ $nseen -gt 20 ]" "the sampler saw mailcred running ($nseen samples)"
assert_eq "$(grep -c '^environ: unreadable' "$CAP/proc.log")" 0 "the sampler read the environment of every process it saw"
assert_match "$(grep -F audit-plant "$CAP/proc.log" | grep -cF -- "$planted")" '^[1-9]' "self-check: the sampler catches a secret in a process's argv"
# (The test's SMTP server has the app password on its command line: the
# harness put it there, not mailcred.)
assert_eq "$(grep -vF -e audit-plant -e smtp-server.mjs "$CAP/proc.log" | grep -oF -f "$CAP/secrets" | head -3)" "" "no secret in the argv or environment of any process"
assert_eq "$(found "$T/env-browser" "$T/env-reauth")" "" "no secret in the environment of the browser opener or on_reauth"

# Files: everything under $T (HOME, XDG dirs and the peers' state
# included), the user's state directory, new files in /tmp; but not the
# chosen stores (the keyring's files, the file store), the runtime cache,
# the config (it holds the client secret by design), and this test's own
# captures.
found_files() {
	{
		find "$T" "$USTATE" -type f 2>/dev/null
		# Other tests running meanwhile have their own T (and the
		# same test client secret in their configs).
		find /tmp -xdev -type f -newer "$T/start" 2>/dev/null |
			grep -vE '^/tmp/mailcred-(test|nobody)\.'
	} | grep -vE "^($CAP/|$XDG_RUNTIME_DIR/mailcred/|$XDG_DATA_HOME/mailcred/[^/]*\.oauth2$|$XDG_DATA_HOME/keyrings/|$CONF$|$T/(smtp|oauth|keyring|bus)[^/]*\.log$)" |
		while IFS= read -r f; do found "$f"; done
}
assert_match "$(found_files)" "/planted$" "self-check: the file search finds a planted secret"
rm -f "$HOME/planted"
assert_eq "$(found_files)" "" "no secret in any file outside the store, the runtime cache and the config"

# The accounts this test made in the user's state directory.
rm -f "$USTATE"/audit-*-$$@example.test.*
finish
