#!/usr/bin/env bash
# mailcred login --flow browser with a real browser: headless Chromium
# (Debian's chromium package) driven by puppeteer-core
# (tests/peers/browser.mjs) through oidc-provider's real login and consent
# pages to mailcred's loopback listener.  The account's redirect_uri is
# http://localhost/, so the listener must answer on whichever loopback
# address Chromium picks for localhost (127.0.0.1 or ::1; a diag line says
# which).  Chromium falls back to the other address when the first refuses,
# so two more logins make it resolve localhost to 127.0.0.1 only, then to
# ::1 only (the latter skipped, with a diag line, where the machine has no
# IPv6 loopback): a listener missing on either address fails one of them.
# A last login is refused at the consent page: exit 77, the page the
# browser ends on says what failed, and the earlier grant still works.
#
# Chromium is required: when it is missing or cannot start, the test fails
# and says why (as root, `sh tests/deps.sh` installs Debian's chromium).
# MAILCRED_SKIP_CHROMIUM=1 skips this test explicitly ("0 passed, 0
# failed").  CHROMIUM=/path names another Chromium binary.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

if [ "${MAILCRED_SKIP_CHROMIUM:-0}" = 1 ]; then
	diag "skipped: MAILCRED_SKIP_CHROMIUM=1"
	printf '0 passed, 0 failed\n'
	exit 0
fi

stack_init
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM
[ -x "$CHROMIUM" ] ||
	_fatal "no Chromium at $CHROMIUM: run 'sh tests/deps.sh' as root (it installs Debian's chromium), or set MAILCRED_SKIP_CHROMIUM=1 to skip this test"
[ -d "$TOP/tests/node_modules/puppeteer-core" ] ||
	_fatal "puppeteer-core is not installed in tests/node_modules: run 'sh tests/deps.sh'"
diag "browser: $("$CHROMIUM" --version 2>/dev/null | head -n 1)"

start_keyring
start_oauth
A=user@example.test
write_config "$A" "authorization_endpoint = $OAUTH_URL/auth" \
	"redirect_uri = http://localhost/" "auth_params = prompt=consent"

# urldecode STRING
urldecode() {
	local s=${1//+/ }
	printf '%b' "${s//%/\\x}"
}

# query_param URL NAME: a query parameter's value, decoded.
query_param() {
	local q=${1#*\?} kv
	q=${q%%#*}
	local IFS='&'
	for kv in $q; do
		if [ "${kv%%=*}" = "$2" ]; then
			urldecode "${kv#*=}"
			return 0
		fi
	done
	return 1
}

# browser_login NAME TAG [browser.mjs ARGS...]: runs `login NAME --flow
# browser --no-open --json` in the background, reads the authorization URL
# from its first line, lets Chromium (browser.mjs) answer it, then waits
# for the login to end.  Sets AUTH_URL, LOGIN_OUT, LOGIN_ERR, LOGIN_RC
# (or "killed": still running 30 s after the browser finished, or the
# browser failed), BROWSER_OUT (its JSON line), BROWSER_ERR, BROWSER_RC
# ("none" when no authorization URL came).
browser_login() {
	local name=$1 tag=$2 pid i
	shift 2
	LOGIN_OUT=$T/$tag.out
	LOGIN_ERR=$T/$tag.err
	: >"$LOGIN_OUT"
	# Started directly, not through mc: $! is mailcred itself.
	"$MAILCRED" -c "$CONF" login "$name" --flow browser --no-open --json \
		>"$LOGIN_OUT" 2>"$LOGIN_ERR" &
	pid=$!
	_track "$pid"
	for i in $(seq 100); do
		[ -s "$LOGIN_OUT" ] && break
		_pid_alive "$pid" || break
		sleep 0.1
	done
	AUTH_URL=$(head -n 1 "$LOGIN_OUT" | jq -r '.authorization_url // empty' 2>/dev/null)
	BROWSER_OUT=
	BROWSER_ERR=
	if [ -n "$AUTH_URL" ]; then
		BROWSER_OUT=$(node "$PEERS/browser.mjs" "$AUTH_URL" --timeout-ms 60000 "$@" \
			2>"$T/$tag.browser.err")
		BROWSER_RC=$?
		BROWSER_ERR=$(tail -n 1 "$T/$tag.browser.err")
	else
		BROWSER_RC=none
	fi
	# After the redirect the login ends by itself; without one it would
	# wait for its own time limit (minutes): it is stopped instead.
	if [ "$BROWSER_RC" = 0 ]; then
		for i in $(seq 300); do
			_pid_alive "$pid" || break
			sleep 0.1
		done
	fi
	if _pid_alive "$pid"; then
		_stop_pid "$pid"
		LOGIN_RC=killed
	else
		wait "$pid"
		LOGIN_RC=$?
		_stop_pid "$pid"	# forget it
	fi
}

# A login approved in the browser.
oauth_reset_stats
browser_login "$A" ok --login "$A"
assert_match "$AUTH_URL" "^$OAUTH_URL/auth\\?" "the first --json line is the authorization URL"
if [ -z "$AUTH_URL" ]; then
	diag "login exited $LOGIN_RC: $(_show "$(tail -n 1 "$LOGIN_ERR")")"
	finish	# nothing else can be checked without it
fi
redirect=$(query_param "$AUTH_URL" redirect_uri)
assert_match "$redirect" '^http://localhost:[0-9]+/$' "the redirect_uri is localhost at a port chosen at run time"
assert_status "$BROWSER_RC" 0 "Chromium reached the listener"
[ "$BROWSER_RC" = 0 ] || diag "browser.mjs: $BROWSER_ERR"
page_url=$(jq -r .url <<<"$BROWSER_OUT" 2>/dev/null)
remote=$(jq -r .remote <<<"$BROWSER_OUT" 2>/dev/null)
diag "Chromium connected to ${remote:-?} for $redirect"
assert_eq "${page_url%%\?*}" "${redirect:-(no redirect_uri)}" "the browser ended on the redirect_uri"
assert_match "$remote" '^(127\.0\.0\.1|::1)$' "Chromium reached localhost on a loopback address"
assert_eq "$(jq -r .title <<<"$BROWSER_OUT" 2>/dev/null)" "mailcred: logged in" "the page's title says logged in"
assert_eq "$(jq -r '.text | split("\n")[0]' <<<"$BROWSER_OUT" 2>/dev/null)" "mailcred: logged in" \
	"the page's heading says logged in"
assert_status "$LOGIN_RC" 0 "the login exits 0"
[ "$LOGIN_RC" = 0 ] || diag "login said: $(_show "$(tail -n 1 "$LOGIN_ERR")")"
last=$(tail -n 1 "$LOGIN_OUT")
assert_eq "$(jq -r .account <<<"$last" 2>/dev/null)" "$A" "the last --json line names the account"
assert_match "$(jq -r .expires_at <<<"$last" 2>/dev/null)" '^[0-9]{10}$' "the result has expires_at"
assert_match "$(jq -r .scope <<<"$last" 2>/dev/null)" "offline_access" "the result has the scope"
assert_eq "$(oauth_stats | jq '.token_requests')" 1 "the server saw one code exchange"

# The listener answers on each loopback address alone.
families=(127.0.0.1)
if node -e 'require("net").createServer().listen(0, "::1", function () { this.close(); })' 2>/dev/null; then
	families+=(::1)
else
	diag "no IPv6 loopback on this machine: the ::1-only login is skipped"
fi
for fam in "${families[@]}"; do
	browser_login "$A" "only-$fam" --login "$A" --resolve-localhost "$fam"
	assert_status "$BROWSER_RC" 0 "with localhost as $fam only, Chromium reached the listener"
	[ "$BROWSER_RC" = 0 ] || diag "browser.mjs: $BROWSER_ERR"
	assert_eq "$(jq -r .remote <<<"$BROWSER_OUT" 2>/dev/null)" "$fam" "with localhost as $fam only, Chromium connected to $fam"
	assert_eq "$(jq -r .title <<<"$BROWSER_OUT" 2>/dev/null)" "mailcred: logged in" "with localhost as $fam only, the page says logged in"
	assert_status "$LOGIN_RC" 0 "with localhost as $fam only, the login exits 0"
	[ "$LOGIN_RC" = 0 ] || diag "login said: $(_show "$(tail -n 1 "$LOGIN_ERR")")"
done

# The token works at the server.  It travels by pipe, never in argv.
me=$("$MAILCRED" -c "$CONF" token "$A" 2>"$T/token.err" |
	sed 's/^/Authorization: Bearer /' | curl -sS --max-time 5 -H @- "$OAUTH_URL/me")
assert_eq "$(jq -r .sub <<<"$me" 2>/dev/null)" "$A" "'mailcred token' gives a token the server's /me accepts"
[ ! -s "$T/token.err" ] || diag "token said: $(_show "$(cat "$T/token.err")")"

# The user refuses at the consent page.
oauth_reset_stats
browser_login "$A" deny --login "$A" --deny
assert_status "$BROWSER_RC" 0 "Chromium reached the listener after the refusal"
[ "$BROWSER_RC" = 0 ] || diag "browser.mjs: $BROWSER_ERR"
assert_eq "$(jq -r .title <<<"$BROWSER_OUT" 2>/dev/null)" "mailcred: login failed" "the page's title says the login failed"
assert_match "$(jq -r .text <<<"$BROWSER_OUT" 2>/dev/null)" "access_denied" "the page names access_denied"
assert_status "$LOGIN_RC" 77 "a refused login exits 77"
assert_eq "$(wc -l <"$LOGIN_OUT")" 1 "no result line on stdout after the prompt"
assert_match "$(tail -n 1 "$LOGIN_ERR")" "^mailcred: $A: .*(denied|refused)" "one line on stderr names the account and the refusal"
assert_no_match "$(cat "$LOGIN_ERR")" "[?&]code=" "no authorization code on stderr"
assert_eq "$(oauth_stats | jq '.token_requests')" 0 "a refused login asks the token endpoint nothing"

# The refused login left the earlier grant in place.
me=$("$MAILCRED" -c "$CONF" token "$A" --refresh 2>"$T/token2.err" |
	sed 's/^/Authorization: Bearer /' | curl -sS --max-time 5 -H @- "$OAUTH_URL/me")
assert_eq "$(jq -r .sub <<<"$me" 2>/dev/null)" "$A" "after the refusal the old grant still refreshes"
[ ! -s "$T/token2.err" ] || diag "token --refresh said: $(_show "$(cat "$T/token2.err")")"

finish
