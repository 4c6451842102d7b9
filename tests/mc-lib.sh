# shellcheck shell=bash  # sourced by the tests, never run
# mailcred-specific helpers for integration tests; source after tests/lib.sh
# (which provides stack_init, start_keyring, start_oauth, approve_device,
# assertions and finish).

# The test client registered in tests/peers/oauth-server.mjs.
CLIENT_ID=mailcred-conf
CLIENT_SECRET=conf-secret-1234
SCOPE="openid offline_access email"

# write_config NAME [EXTRA_LINE...]: an [account NAME] against the local
# OAuth server into $CONF (mode 600), appended if $CONF exists.
write_config() {
	local name=$1
	shift
	CONF=${CONF:-$T/mailcred.conf}
	{
		printf '[account %s]\n' "$name"
		printf 'client_id = %s\nclient_secret = %s\n' "$CLIENT_ID" "$CLIENT_SECRET"
		printf 'scope = %s\n' "$SCOPE"
		printf 'device_authorization_endpoint = %s/device/auth\n' "$OAUTH_URL"
		printf 'token_endpoint = %s/token\n' "$OAUTH_URL"
		printf 'timeout = 5\n'
		local l
		for l in "$@"; do printf '%s\n' "$l"; done
		printf '\n'
	} >>"$CONF"
	chmod 600 "$CONF"
	export CONF
}

# mc ARGS...: runs the built mailcred with the test config.
mc() {
	"$MAILCRED" -c "$CONF" "$@"
}

# start_login NAME ARGS...: mailcred login in the background with --json
# (for the browser and manual flows); waits up to 10 s for the first
# stdout line and sets URL (the authorization URL), PORT (the redirect's)
# and LPID (mailcred's own PID).
start_login() {
	local name=$1
	shift
	: >"$T/b.out"
	: >"$T/b.err"
	"$MAILCRED" -c "$CONF" login "$name" --json "$@" >"$T/b.out" 2>"$T/b.err" &
	LPID=$!
	for _ in $(seq 200); do
		[ -s "$T/b.out" ] && break
		_pid_alive "$LPID" || break
		sleep 0.05
	done
	URL=$(head -n 1 "$T/b.out" | jq -r .authorization_url 2>/dev/null)
	# shellcheck disable=SC2034  # for the caller
	PORT=$(printf '%s\n' "$URL" | sed -n 's/.*redirect_uri=[^&]*%3A\([0-9]*\)%2F.*/\1/p')
}

# login_device NAME [LOGIN]: a complete device-flow login, approved by
# driving the server's real forms. Sets LOGIN_OUT / LOGIN_ERR / LOGIN_RC.
login_device() {
	local name=$1 login=${2:-$1} code
	LOGIN_OUT=$T/login.out
	LOGIN_ERR=$T/login.err
	: >"$LOGIN_OUT"
	mc login "$name" --flow device --json >"$LOGIN_OUT" 2>"$LOGIN_ERR" &
	local pid=$!
	for _ in $(seq 1 100); do
		[ -s "$LOGIN_OUT" ] && break
		sleep 0.1
	done
	code=$(head -1 "$LOGIN_OUT" | jq -r .user_code 2>/dev/null)
	if [ -n "$code" ] && [ "$code" != null ]; then
		approve_device "$code" "$login" >/dev/null 2>&1
	fi
	wait "$pid"
	# shellcheck disable=SC2034  # for the caller, as the comment above says
	LOGIN_RC=$?
}

# stored_blob NAME: what the keyring holds for the account's tokens.
stored_blob() {
	secret-tool lookup account "$1" kind oauth2 2>/dev/null
}

# set_stored_blob NAME JSON: replaces the stored token set (to age it).
set_stored_blob() {
	printf %s "$2" | secret-tool store --label "mailcred: $1 (oauth2)" \
	    xdg:schema org.mailcred.Secret account "$1" kind oauth2
}

# runtime_cache_file NAME: where NAME's access token is cached
# ($XDG_RUNTIME_DIR/mailcred, auth/tcache.h; names of letters, digits and
# @.+_- are kept as they are).
runtime_cache_file() {
	printf '%s/mailcred/%s.access\n' "$XDG_RUNTIME_DIR" "$1"
}

# age_token NAME [EXPIRES_AT]: makes NAME's access token stale (default
# expiry 1000): in the stored set, and by removing the runtime cache's copy.
age_token() {
	set_stored_blob "$1" "$(stored_blob "$1" | jq -c --argjson e "${2:-1000}" '.expires_at = $e')"
	rm -f "$(runtime_cache_file "$1")"
}

# set_cached_token NAME TOKEN: makes TOKEN NAME's cached access token (as
# if the server had forgotten the real one): in the stored set, and in the
# runtime cache's entry when there is one.
set_cached_token() {
	local f
	set_stored_blob "$1" "$(stored_blob "$1" | jq -c --arg t "$2" '.access_token = $t')"
	f=$(runtime_cache_file "$1")
	if [ -e "$f" ]; then
		jq -c --arg t "$2" '.access_token = $t' "$f" >"$f.new" && cat "$f.new" >"$f"
		rm -f "$f.new"
	fi
}

# write_msmtprc NAME FILE: an msmtp configuration that sends as NAME through
# the local STARTTLS SMTP server with auth xoauth2 and
# passwordeval "mailcred token NAME".
write_msmtprc() {
	cat >"$2" <<EOC
account test
host 127.0.0.1
port $SMTP_PORT
tls on
tls_starttls on
tls_trust_file $T/cert.pem
auth xoauth2
from $1
user $1
passwordeval "$MAILCRED -c $CONF token $1"
logfile $T/msmtp.log
account default : test
EOC
	chmod 600 "$2"
}
