#!/bin/bash
# approve-code.sh AUTH_URL [LOGIN] [--deny]
#
# Plays the browser for the authorization-code flow on the test OAuth server
# (oauth-server.mjs): requests AUTH_URL (the full /auth?... URL a client
# built), signs in on devInteractions' login page as LOGIN (default
# user@example.test, which becomes `sub`), consents, and follows the
# server's redirects until one leaves the server.  That last Location, the
# loopback redirect_uri with code, state and iss, is printed on stdout and
# NOT requested: the caller delivers it to the client's listener, e.g.
#   loc=$(approve-code.sh "$url") && curl -s "$loc"
#
# --deny cancels at the first interaction page instead; the redirect then
# carries error=access_denied and is printed all the same.
#
# Exit 0 when a redirect was printed and it carries a code (or, with
# --deny, an error); 1 with a message on stderr otherwise (the Location, if
# any, is still printed).

set -u
PROG=approve-code

DENY=0
pos=()
for a in "$@"; do
	case $a in
	--deny) DENY=1 ;;
	-*) printf 'usage: %s AUTH_URL [LOGIN] [--deny]\n' "$PROG" >&2; exit 64 ;;
	*) pos+=("$a") ;;
	esac
done
if [ "${#pos[@]}" -lt 1 ] || [ "${#pos[@]}" -gt 2 ]; then
	printf 'usage: %s AUTH_URL [LOGIN] [--deny]\n' "$PROG" >&2
	exit 64
fi
AUTH_URL=${pos[0]}
LOGIN=${pos[1]:-user@example.test}
WANT_DENY=$DENY

# The issuer is the scheme://host:port part of the authorization URL.
ISSUER=$(printf '%s\n' "$AUTH_URL" | sed -n 's|^\(https\{0,1\}://[^/?#]*\).*|\1|p')

# shellcheck source=SCRIPTDIR/forms.sh
. "$(dirname "$0")/forms.sh"

[ -n "$ISSUER" ] || die "not an http(s) URL: $AUTH_URL"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/approve-code.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$WORK"' EXIT
JAR=$WORK/cookies

fetch GET "$AUTH_URL"
interact
[ -n "$FINAL_LOCATION" ] || die "no redirect to the client: $(page_error)"
printf '%s\n' "$FINAL_LOCATION"

query=${FINAL_LOCATION#*\?}
case "&$query" in
*'&error='*)
	[ "$WANT_DENY" = 1 ] && exit 0
	die "the server redirected with an error: $query"
	;;
*'&code='*)
	[ "$WANT_DENY" = 1 ] && die "denied, but the redirect carries a code"
	exit 0
	;;
esac
die "redirect carries neither code nor error"
