# shellcheck shell=bash disable=SC2034  # sets variables for its callers
# Shared by approve-device.sh and approve-code.sh (sourced, bash): drives
# oidc-provider's real HTML pages (devInteractions login and consent, the
# device code pages) with curl and a cookie jar, the way a browser would,
# one request at a time so the caller sees every redirect.
#
# The caller sets: ISSUER (scheme://host:port of the server), JAR (cookie
# jar path), WORK (a private temp dir), LOGIN (account to sign in as), and
# PROG (name for messages).

FORMS_MAX_STEPS=16

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}

# fetch METHOD URL [curl data args...]
# One request, no redirect following. Sets STATUS (HTTP code), LOCATION
# (absolute redirect target or empty) and BODY (path of the saved body).
fetch() {
	local method=$1 url=$2 out
	shift 2
	BODY=$WORK/body
	out=$(curl -sS --max-time 10 -c "$JAR" -b "$JAR" -o "$BODY" \
		-w '%{http_code} %{redirect_url}' -X "$method" "$@" "$url") ||
		die "request to $url failed"
	STATUS=${out%% *}
	LOCATION=${out#* }
}

# page_error: a one-line summary of what an error page says.
page_error() {
	local msg
	# oidc-provider's error page: <pre><strong>error</strong>: text</pre>
	msg=$(sed 's/<\/pre>/&\n/g' "$BODY" |
		sed -n 's/.*<pre><strong>\(error[a-z_]*\)<\/strong>: \([^<]*\)<\/pre>.*/\1: \2/p' |
		sed 's/&#39;/'"'"'/g' | paste -s -d ' ' -)
	# the device pages: <p class="red">text</p>
	[ -n "$msg" ] || msg=$(sed -n 's/.*<p class="red">\([^<]*\)<\/p>.*/\1/p' "$BODY" | head -n 1)
	[ -n "$msg" ] || msg="unexpected page (HTTP $STATUS): $(tr -s ' \n' '  ' <"$BODY" | cut -c1-200)"
	printf '%s\n' "$msg"
}

# form_action: the action URL of the page's first form.
form_action() {
	sed -n 's/.*<form[^>]* action="\([^"]*\)".*/\1/p' "$BODY" | head -n 1
}

# hidden_value NAME: value of a hidden input on the page.
hidden_value() {
	sed -n "s/.*name=\"$1\" value=\"\\([^\"]*\\)\".*/\\1/p" "$BODY" | head -n 1
}

# within_issuer URL: true if URL is on the OAuth server itself.
within_issuer() {
	case $1 in
	"$ISSUER"/* | "$ISSUER") return 0 ;;
	*) return 1 ;;
	esac
}

# interact: starting from the response in STATUS/LOCATION/BODY, follow
# redirects inside the issuer and answer the login and consent pages, until
# a redirect leaves the issuer (FINAL_LOCATION set) or a page that is neither
# login nor consent arrives (FINAL_LOCATION empty; the page is in BODY).
# With DENY=1, the first login or consent page is aborted instead.
interact() {
	local _ action uid
	FINAL_LOCATION=
	for _ in $(seq "$FORMS_MAX_STEPS"); do
		case $STATUS in
		30[1237])
			[ -n "$LOCATION" ] || die "redirect without Location"
			if within_issuer "$LOCATION"; then
				fetch GET "$LOCATION"
				continue
			fi
			FINAL_LOCATION=$LOCATION
			return 0
			;;
		esac
		if grep -q 'name="prompt" value="login"' "$BODY" ||
			grep -q 'name="prompt" value="consent"' "$BODY"; then
			action=$(form_action)
			[ -n "$action" ] || die "no form on the interaction page"
			if [ "${DENY:-0}" = 1 ]; then
				# devInteractions' "[ Cancel ]" link: /interaction/UID/abort
				uid=${action%/}
				fetch GET "$uid/abort"
				DENY=0
				continue
			fi
			if grep -q 'name="prompt" value="login"' "$BODY"; then
				fetch POST "$action" --data-urlencode prompt=login \
					--data-urlencode "login=$LOGIN" --data-urlencode password=test
			else
				fetch POST "$action" --data-urlencode prompt=consent
			fi
			continue
		fi
		return 0
	done
	die "gave up after $FORMS_MAX_STEPS steps"
}
