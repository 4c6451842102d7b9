#!/bin/sh
# Checks that what mailcred's build, tests and demo need is installed:
#   pkg-config modules  libcurl jansson openssl libsecret-1 libqrencode cmocka
#   commands            cc make pkg-config node npm dbus-daemon dbus-monitor
#                       gnome-keyring-daemon gdbus secret-tool msmtp openssl
#                       curl jq timeout strace script zbarimg
#                       mbsync neomutt git python3 (make bench runs neomutt's
#                       mutt_oauth2.py as a reference) shellcheck (make lint)
#   files               /usr/lib/dovecot/imap and pop3 (Dovecot's IMAP and POP3
#                       servers, run by tests/lib.sh from a private config),
#                       git send-email, the Cyrus SASL XOAUTH2 client plugin
#                       that mbsync needs (libsasl2-modules-kdexoauth2)
#                       /usr/bin/time (GNU time: make bench's peak RSS)
#                       valgrind, libfaketime (make check-valgrind: see
#                       tests/valgrind.sh)
#                       chromium (the real-browser test; not checked with
#                       MAILCRED_SKIP_CHROMIUM=1 or when $CHROMIUM names one)
#                       clang and libFuzzer's runtime libclang_rt.fuzzer
#                       (make fuzz: Debian 12's clang 14, libclang-rt-14-dev)
#   tests/node_modules  the test servers and puppeteer-core (which drives the
#                       system's chromium and downloads no browser), pinned
#                       by tests/package-lock.json
# As root on Debian or Ubuntu it installs what is missing (apt-get, then
# npm ci in tests/); otherwise it prints the command to run and exits 1.
# Silent when everything is there.
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

# command:Debian package that provides it (checked with dpkg -S on Debian 12)
for c in cc:build-essential make:build-essential pkg-config:pkg-config \
    dbus-daemon:dbus dbus-monitor:dbus-bin gnome-keyring-daemon:gnome-keyring \
    gdbus:libglib2.0-bin secret-tool:libsecret-tools msmtp:msmtp \
    openssl:openssl curl:curl jq:jq timeout:coreutils strace:strace \
    script:bsdutils zbarimg:zbar-tools mbsync:isync neomutt:neomutt \
    git:git python3:python3 valgrind:valgrind; do
	command -v "${c%%:*}" >/dev/null 2>&1 || need "${c%%:*}" "${c#*:}"
done
# file (a shell pattern):Debian package that provides it; for what has no
# command in PATH (Dovecot's binaries live in /usr/sbin and /usr/lib/dovecot).
for f in /usr/sbin/dovecot:dovecot-core /usr/lib/dovecot/imap:dovecot-imapd \
    /usr/lib/dovecot/pop3:dovecot-pop3d \
    /usr/lib/git-core/git-send-email:git-email /usr/bin/time:time \
    '/usr/lib/*/faketime/libfaketimeMT.so.1':libfaketime \
    '/usr/lib/*/sasl2/libkdexoauth2.so*':libsasl2-modules-kdexoauth2; do
	# shellcheck disable=SC2086  # the pattern is meant to be expanded
	set -- ${f%%:*}
	[ -e "$1" ] || need "${f%%:*}" "${f#*:}"
done
# make fuzz: clang and its libFuzzer runtime, which Debian 12's clang only
# recommends (libclang-rt-14-dev), and recommends are not installed here.
command -v clang >/dev/null 2>&1 || need clang clang
set -- /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a
[ -e "$1" ] || need libclang_rt.fuzzer libclang-rt-14-dev

# Debian's chromium: about 25 s to install with apt-get update, 350 MB.
if [ "${MAILCRED_SKIP_CHROMIUM:-0}" != 1 ] && [ -z "${CHROMIUM:-}" ]; then
	command -v chromium >/dev/null 2>&1 || need chromium chromium
fi

# The clients the contrib/ configurations are tested with (t-contrib.sh,
# t-git-credential.sh): git and git send-email with the Perl modules it
# needs for SMTP with STARTTLS and AUTH, neomutt, mbsync; mandoc checks the
# man pages, shellcheck the scripts (make lint).
for c in git:git mandoc:mandoc shellcheck:shellcheck neomutt:neomutt mbsync:isync; do
	command -v "${c%%:*}" >/dev/null 2>&1 || need "${c%%:*}" "${c#*:}"
done
if ! command -v git >/dev/null 2>&1 ||
    [ ! -x "$(git --exec-path 2>/dev/null)/git-send-email" ]; then
	need git-send-email git-email
fi
for m in Authen::SASL=libauthen-sasl-perl IO::Socket::SSL=libio-socket-ssl-perl \
    Mail::Address=libmailtools-perl; do
	perl -M"${m%%=*}" -e 1 >/dev/null 2>&1 || need "${m%%=*}" "${m#*=}"
done

# pkg-config module:Debian package with its .pc file
mods="libcurl:libcurl4-openssl-dev jansson:libjansson-dev openssl:libssl-dev \
    libsecret-1:libsecret-1-dev libqrencode:libqrencode-dev \
    cmocka:libcmocka-dev"
for m in $mods; do
	if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "${m%%:*}"; then
		continue
	fi
	need "${m%%:*}.pc" "${m#*:}"
done

# Node: the test servers need Node 20 or later (smtp-server's engines).
# A Node of 18 or later already installed is left alone (it may come from
# NodeSource or nvm, where Debian's nodejs/npm packages would conflict).
node_major=0
if command -v node >/dev/null 2>&1; then
	node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
fi
node_problem=""
if [ "${node_major:-0}" -lt 18 ]; then
	need "node>=20" nodejs
	need npm npm
elif ! command -v npm >/dev/null 2>&1; then
	node_problem="npm is missing (node $node_major is installed: install the npm that goes with it)"
elif [ "$node_major" -lt 20 ]; then
	echo "deps: warning: node $node_major is older than the 20 the test servers need" >&2
fi

debian_like() {
	[ -r /etc/os-release ] || return 1
	grep -Eq '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release
}

if [ -n "$missing_pkgs" ]; then
	if [ "$(id -u)" -eq 0 ] && debian_like && command -v apt-get >/dev/null 2>&1; then
		echo "deps: installing$missing_pkgs"
		export DEBIAN_FRONTEND=noninteractive
		if ! apt-get update -qq >/dev/null; then
			echo "deps: apt-get update failed" >&2
			exit 1
		fi
		# shellcheck disable=SC2086  # word splitting of the package list is meant
		if ! apt-get install -y -qq --no-install-recommends $missing_pkgs >/dev/null; then
			echo "deps: apt-get install failed" >&2
			exit 1
		fi
	elif debian_like; then
		echo "deps: missing:$missing_what" >&2
		echo "deps: run: sudo apt-get install -y --no-install-recommends$missing_pkgs" >&2
		exit 1
	else
		echo "deps: missing:$missing_what" >&2
		echo "deps: install them with your package manager (Debian names:$missing_pkgs)" >&2
		exit 1
	fi
fi
if [ -n "$node_problem" ]; then
	echo "deps: $node_problem" >&2
	exit 1
fi

# The test servers (oidc-provider, smtp-server) and puppeteer-core, pinned by
# package-lock.json; installed again when the lock file is newer than what
# npm installed.
modules_stale() {
	[ -d tests/node_modules/oidc-provider ] && [ -d tests/node_modules/smtp-server ] &&
		[ -d tests/node_modules/puppeteer-core ] &&
		[ -f tests/node_modules/.package-lock.json ] || return 0
	[ -n "$(find tests/package-lock.json -newer tests/node_modules/.package-lock.json)" ]
}
if modules_stale; then
	echo "deps: npm ci in tests/"
	(cd tests && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
		{ echo "deps: npm ci failed in tests/" >&2; exit 1; }
fi
exit 0
