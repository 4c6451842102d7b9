#!/usr/bin/env bash
# Refresh token rotation, three refreshes in a row (oidc-provider
# --rotate): each refresh stores the rotated refresh token before the
# access token is printed, and the server holds the previous refresh token
# for dead (introspection, which, unlike a refresh with it, does not make
# the server revoke the whole grant for reuse).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth --rotate
A=user@example.test
write_config "$A"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "device login succeeds"

# active TOKEN: the server's introspection verdict (true/false). The token
# goes on stdin, not in curl's argv.
active() {
	printf 'token=%s&token_type_hint=refresh_token&client_id=%s&client_secret=%s' \
		"$1" "$CLIENT_ID" "$CLIENT_SECRET" |
		curl -sS --max-time 5 --data @- "$OAUTH_URL/token/introspection" |
		jq -r .active
}

prev_rt=$(stored_blob "$A" | jq -r .refresh_token)
prev_at=$(stored_blob "$A" | jq -r .access_token)
assert_eq "$(active "$prev_rt")" true "the login's refresh token is active"
oauth_reset_stats
for i in 1 2 3; do
	at=$(mc token "$A" --refresh 2>"$T/err")
	assert_status $? 0 "refresh $i succeeds"
	blob=$(stored_blob "$A")
	rt=$(jq -r .refresh_token <<<"$blob")
	assert_ne "$rt" "$prev_rt" "refresh $i: a rotated refresh token is stored"
	assert_ne "$at" "$prev_at" "refresh $i: a new access token is printed"
	assert_eq "$(jq -r .access_token <<<"$blob")" "$at" "refresh $i: the printed access token is the stored one"
	assert_eq "$(active "$prev_rt")" false "refresh $i: the previous refresh token is dead at the server"
	assert_eq "$(active "$rt")" true "refresh $i: the stored refresh token is active"
	assert_eq "$(cat "$T/err")" "" "refresh $i: nothing on stderr"
	prev_rt=$rt
	prev_at=$at
done
assert_eq "$(oauth_stats | jq .refresh_grants)" 3 "three refreshes reached the server"
# The grant is whole: a plain token call is served from the store.
out=$(mc token "$A")
assert_eq "$out" "$prev_at" "the last access token is served from the store"

finish
