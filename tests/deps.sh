#!/bin/sh
# Checks that what mailcred's build, tests and demo need is installed. As
# root on Debian or Ubuntu it installs what is missing (apt-get, and npm ci
# for the test servers); otherwise it prints the command to run and fails.
set -u
cd "$(dirname "$0")/.." || exit 1

missing_pkgs=""
missing_what=""
need() {	# need WHAT PACKAGE: note a missing command or library
	missing_what="$missing_what $1"
	case " $missing_pkgs " in
	*" $2 "*) ;;
	*) missing_pkgs="$missing_pkgs $2" ;;
	esac
}

for c in cc:build-essential make:build-essential pkg-config:pkg-config \
    dbus-daemon:dbus gnome-keyring-daemon:gnome-keyring \
    gdbus:libglib2.0-bin secret-tool:libsecret-tools msmtp:msmtp \
    openssl:openssl curl:curl jq:jq timeout:coreutils; do
	command -v "${c%%:*}" >/dev/null 2>&1 || need "${c%%:*}" "${c#*:}"
done
if command -v pkg-config >/dev/null 2>&1; then
	for m in libcurl:libcurl4-openssl-dev jansson:libjansson-dev \
	    openssl:libssl-dev libsecret-1:libsecret-1-dev cmocka:libcmocka-dev; do
		pkg-config --exists "${m%%:*}" || need "${m%%:*}" "${m#*:}"
	done
else
	missing_pkgs="$missing_pkgs libcurl4-openssl-dev libjansson-dev libssl-dev libsecret-1-dev libcmocka-dev"
fi
node_ok=0
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
	[ "${major:-0}" -ge 20 ] && node_ok=1
fi
[ "$node_ok" -eq 1 ] || need "node>=20" "nodejs npm"

debian_like() {
	[ -r /etc/os-release ] || return 1
	grep -Eq '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release
}

if [ -n "$missing_pkgs" ]; then
	if [ "$(id -u)" -eq 0 ] && debian_like && command -v apt-get >/dev/null; then
		echo "deps: installing$missing_pkgs"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null &&
			apt-get install -y -qq --no-install-recommends $missing_pkgs >/dev/null ||
			{ echo "deps: apt-get install failed" >&2; exit 1; }
	elif debian_like; then
		echo "deps: missing:$missing_what" >&2
		echo "deps: run: sudo apt-get install -y$missing_pkgs" >&2
		exit 1
	else
		echo "deps: missing:$missing_what" >&2
		echo "deps: install them with your package manager (Debian names:$missing_pkgs)" >&2
		exit 1
	fi
fi

# The test servers (oidc-provider, smtp-server), pinned by package-lock.json.
if [ ! -d tests/node_modules/oidc-provider ] || [ ! -d tests/node_modules/smtp-server ] ||
    [ tests/package-lock.json -nt tests/node_modules/.package-lock.json ]; then
	echo "deps: npm ci in tests/"
	(cd tests && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
		{ echo "deps: npm ci failed in tests/" >&2; exit 1; }
fi
