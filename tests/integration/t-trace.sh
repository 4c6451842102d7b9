#!/usr/bin/env bash
# -v traces: secrets are redacted wherever they are, in nested members of
# an answer and in a proxy's credentials.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
A=trace@example.test
write_config "$A" "store = file"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "device login succeeds"

# A secret member inside a nested object or array of the answer.
NESTED=nested-secret-$RANDOM$RANDOM
oauth_config "{\"token_rewrite\":{\"extra\":{\"refresh_token\":\"$NESTED\",\"list\":[{\"id_token\":\"$NESTED\"}]}}}"
mc -v token "$A" --refresh >"$T/n.out" 2>"$T/n.err"
assert_status $? 0 "token -v --refresh succeeds"
assert_match "$(cat "$T/n.err")" '"extra":\{"list":\[\{"id_token":"\[redacted\]"\}\],"refresh_token":"\[redacted\]"\}' "nested secret members are shown redacted"
assert_no_match "$(cat "$T/n.err")" "$NESTED" "a nested secret never appears in the trace"
# Member names in another case are the same secrets.
oauth_config "{\"token_rewrite\":{\"Refresh_Token\":\"$NESTED\"}}"
mc -v token "$A" --refresh >/dev/null 2>"$T/c.err"
assert_match "$(cat "$T/c.err")" '"Refresh_Token":"\[redacted\]"' "a secret member in another case is shown redacted"
assert_no_match "$(cat "$T/c.err")" "$NESTED" "and never in the clear"
oauth_reset_config

# A proxy with credentials: its Proxy-Authorization header is redacted.
PROXYPW=proxy-pw-$RANDOM$RANDOM
b64=$(printf 'user:%s' "$PROXYPW" | base64)
http_proxy="http://user:$PROXYPW@127.0.0.1:$OAUTH_PORT" mc -v token "$A" --refresh >/dev/null 2>"$T/p.err"
assert_match "$(cat "$T/p.err")" "> Proxy-Authorization: \[redacted\]" "the proxy's credentials are shown redacted"
assert_no_match "$(cat "$T/p.err")" "$PROXYPW" "the proxy password never appears"
assert_no_match "$(cat "$T/p.err")" "$b64" "nor its base64 form"

finish
