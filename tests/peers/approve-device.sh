#!/bin/bash
# approve-device.sh ISSUER USER_CODE [LOGIN] [--deny]
#
# Approves (or, with --deny, refuses) a pending device authorization on the
# test OAuth server (oauth-server.mjs) without a browser: it goes through
# oidc-provider's real pages with curl and a cookie jar, as a user would:
#
#   GET  /device                      code entry page (hidden xsrf field)
#   POST /device  xsrf, user_code     confirmation page
#   POST /device  ... confirm=yes     -> /interaction/UID   (login page)
#   POST /interaction/UID  login      -> /interaction/UID2  (consent page)
#   POST /interaction/UID2 consent    -> /device/UID2       "Sign-in Success"
#
# LOGIN (default user@example.test) becomes the account id, i.e. the `sub`
# that /me reports and that the SMTP peer compares with the SASL user.
# --deny presses the confirmation page's [ Abort ] button instead, so the
# client's next poll gets access_denied.
#
# Exit 0 on success; otherwise 1 with one line on stderr saying why (for
# example "The code you entered is incorrect. Try again").

set -u
PROG=approve-device

DENY=0
pos=()
for a in "$@"; do
	case $a in
	--deny) DENY=1 ;;
	-*) printf 'usage: %s ISSUER USER_CODE [LOGIN] [--deny]\n' "$PROG" >&2; exit 64 ;;
	*) pos+=("$a") ;;
	esac
done
if [ "${#pos[@]}" -lt 2 ] || [ "${#pos[@]}" -gt 3 ]; then
	printf 'usage: %s ISSUER USER_CODE [LOGIN] [--deny]\n' "$PROG" >&2
	exit 64
fi
ISSUER=${pos[0]%/}
USER_CODE=${pos[1]}
LOGIN=${pos[2]:-user@example.test}

# shellcheck source=SCRIPTDIR/forms.sh
. "$(dirname "$0")/forms.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/approve-device.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$WORK"' EXIT
JAR=$WORK/cookies

# 1. Code entry page: gives the session cookie and the xsrf token.
fetch GET "$ISSUER/device"
[ "$STATUS" = 200 ] || die "GET $ISSUER/device: HTTP $STATUS"
xsrf=$(hidden_value xsrf)
[ -n "$xsrf" ] || die "no xsrf field on the code entry page"

# 2. Submit the code: the confirmation page comes back (or an error).
fetch POST "$ISSUER/device" --data-urlencode "xsrf=$xsrf" --data-urlencode "user_code=$USER_CODE"
grep -q 'name="confirm" value="yes"' "$BODY" || die "$(page_error)"
xsrf=$(hidden_value xsrf)

if [ "$DENY" = 1 ]; then
	# 3'. The [ Abort ] button submits the same form plus abort=yes.
	fetch POST "$ISSUER/device" --data-urlencode "xsrf=$xsrf" \
		--data-urlencode "user_code=$USER_CODE" --data-urlencode confirm=yes \
		--data-urlencode abort=yes
	grep -q 'interrupted' "$BODY" || die "abort not acknowledged: $(page_error)"
	exit 0
fi

# 3. Confirm, then log in and consent on the interaction pages.
fetch POST "$ISSUER/device" --data-urlencode "xsrf=$xsrf" \
	--data-urlencode "user_code=$USER_CODE" --data-urlencode confirm=yes
interact
[ -z "$FINAL_LOCATION" ] || die "unexpected redirect out of the server: $FINAL_LOCATION"
grep -q 'Sign-in Success' "$BODY" || die "$(page_error)"
exit 0
