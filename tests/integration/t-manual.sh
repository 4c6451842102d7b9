#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The manual agrees with the program: every command and option of
# `mailcred --help` and `mailcred COMMAND --help` is in mailcred(1) (and in
# DESIGN.md, when ../shared/DESIGN.md is there), and every one the page
# documents is in --help and accepted by the command; the same for
# git-credential-mailcred(1); every key auth/config.c accepts is in
# mailcred.conf(5), every key documented there is accepted, and the
# presets it lists are config.c's; the mail client examples are the tested
# lines of contrib/, and the script examples run against the test peers;
# mandoc -Tlint has nothing to say but STYLE notes about manuals that are
# not installed.
#
# MAN1, MAN5, GITMAN and DESIGN name the files checked (a scratch copy, to
# see the test fail).
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../mc-lib.sh
. "$(dirname "$0")/../mc-lib.sh"

stack_init
MAN1=${MAN1:-$TOP/cmd/mailcred.1}
MAN5=${MAN5:-$TOP/cmd/mailcred.conf.5}
GITMAN=${GITMAN:-$TOP/cmd/git-credential-mailcred.1}
DESIGN=${DESIGN:-$TOP/../shared/DESIGN.md}
GITCRED=$T/git-credential-mailcred
ln -s "$MAILCRED" "$GITCRED"
NOCONF=$T/no-such.conf

# assert_none WHAT LIST: LIST (one item a line) is empty.
assert_none() {
	if [ -z "$2" ]; then
		ok "$1"
	else
		not_ok "$1" "$(printf '%s' "$2" | tr '\n' ' ')"
	fi
}

# help_opts: the options a --help text on stdin names: every -x or --xx
# word of its usage lines, and of the option column (up to the first two
# blanks) of lines that start with two blanks and a dash.
help_opts() {
	awk '
	/^usage: / || /^       [a-z-]+ -/ { s = $0 }
	/^  -/ { s = substr($0, 3); i = index(s, "  "); if (i) s = substr(s, 1, i - 1) }
	s != "" {
		n = split(s, w, /[][ |,]+/)
		for (i = 1; i <= n; i++) if (w[i] ~ /^--?[A-Za-z]/) print w[i]
		s = ""
	}' | sort -u
}

# help_commands: the commands of mailcred --help's synopsis.
help_commands() {
	awk '/^(usage: |       )mailcred [a-z]/ { print $2 }' | sort -u
}

# man_opts FILE: "WHERE OPTION" for every Fl of an mdoc page: WHERE is the
# command whose SYNOPSIS line or DESCRIPTION item (.It Cm NAME, first
# level) it is in, else "global".
man_opts() {
	awk '
	/^\.Sh / { sec = $2; cur = "global"; depth = 0 }
	sec == "SYNOPSIS" && /^\.Nm/ { cur = "global"; fresh = 1; next }
	sec == "SYNOPSIS" && /^\.Cm / && fresh { cur = $2; fresh = 0 }
	/^\.Bl/ { depth++ }
	/^\.El/ { depth--; if (sec == "DESCRIPTION" && depth == 0) cur = "global" }
	sec == "DESCRIPTION" && /^\.It / && depth == 1 {
		cur = ($2 == "Cm") ? $3 : "global"
	}
	/^\./ {
		line = substr($0, 2); n = split(line, w, /[ \t]+/); on = 0
		for (i = 1; i <= n; i++) {
			if (w[i] == "Fl") { on = 1; continue }
			if (w[i] ~ /^[A-Z][a-z][a-z]?$/) { on = 0; continue }
			if (w[i] ~ /^[|,.;:()]+$/) continue
			if (on) { f = "-" w[i]; sub(/[,.;:)]+$/, "", f); print cur, f }
		}
	}' "$1" | sort -u
}

# man_items FILE SECTION: the Ic (or Cm) words of the first-level .It lines
# of a section.
man_items() {
	awk -v want="$2" '
	/^\.Sh / { sec = substr($0, 5); depth = 0 }
	sec != want { next }
	/^\.Bl/ { depth++ }
	/^\.El/ { depth-- }
	/^\.It / && depth == 1 {
		n = split($0, w, /[ \t]+/)
		for (i = 2; i <= n; i++) if (w[i] != "Ic" && w[i] != "Cm" && w[i] != "," && w[i] !~ /^[A-Z][a-z]$/) print w[i]
	}' "$1" | sort -u
}

# accepted CMD OPT: stderr of a run with OPT says nothing of an unknown or
# ambiguous option (a run that fails for want of a configuration is fine).
accepted() {
	local err
	if [ "$1" = global ]; then
		err=$(cd "$T" && timeout 10 "$MAILCRED" "$2" x accounts </dev/null 2>&1 >/dev/null)
	elif [ "$1" = gitcred ]; then
		err=$(cd "$T" && timeout 10 "$GITCRED" "$2" x </dev/null 2>&1 >/dev/null)
	else
		err=$(cd "$T" && timeout 10 "$MAILCRED" -c "$NOCONF" "$1" "$2" x </dev/null 2>&1 >/dev/null)
	fi
	! printf '%s\n' "$err" | grep -qE "unknown option|ambiguous"
}

for f in "$MAN1" "$MAN5" "$GITMAN"; do
	[ -r "$f" ] || _fatal "cannot read $f"
done

# --- mandoc -Tlint: only STYLE notes about manuals not installed.
lint=$(mandoc -Tlint "$MAN1" "$MAN5" "$GITMAN" 2>&1 |
	grep -vE 'STYLE: referenced manual not found|outdated mandoc\.db')
assert_none "mandoc -Tlint: nothing but 'referenced manual not found' notes" "$lint"

# --- Commands: mailcred --help and mailcred(1).
"$MAILCRED" --help >"$T/help" 2>&1
assert_status $? 0 "mailcred --help exits 0"
help_commands <"$T/help" >"$T/help.cmds"
man_opts "$MAN1" >"$T/man.opts"
awk '$1 != "global" { print $1 }' "$T/man.opts" | sort -u >"$T/man.cmds.fl"
awk '/^\.Sh / { sec = $2; depth = 0 } sec != "DESCRIPTION" { next }
	/^\.Bl/ { depth++ } /^\.El/ { depth-- }
	/^\.It Cm / && depth == 1 { print $3 }' "$MAN1" | sort -u >"$T/man.cmds"
assert_true "[ $(wc -l <"$T/help.cmds") -ge 9 ]" "mailcred --help names the commands ($(tr '\n' ' ' <"$T/help.cmds"))"
assert_none "every command of --help has its item in mailcred(1)" \
	"$(comm -23 "$T/help.cmds" "$T/man.cmds")"
assert_none "every command mailcred(1) describes is in --help" \
	"$(comm -13 "$T/help.cmds" "$T/man.cmds")"
assert_none "every option in mailcred(1) is a global one or a command's of --help" \
	"$(comm -13 "$T/help.cmds" "$T/man.cmds.fl")"

# --- Global options.
help_opts <"$T/help" >"$T/help.global"
awk '$1 == "global" { print $2 }' "$T/man.opts" >"$T/man.global"
assert_true "grep -qx -- --config $T/help.global" "help_opts finds the global options (--config)"
assert_none "every global option of --help is in mailcred(1)" \
	"$(comm -23 "$T/help.global" "$T/man.global")"
assert_none "every global option mailcred(1) names is in --help" \
	"$(comm -13 "$T/help.global" "$T/man.global")"
bad=
while read -r o; do
	accepted global "$o" || bad="$bad$o "
	# Each command takes them too, --version aside (mailcred(1) says so).
	[ "$o" = --version ] && continue
	accepted token "$o" || bad="${bad}token $o "
done <"$T/man.global"
assert_none "mailcred accepts every global option mailcred(1) names" "$bad"

# --- Each command's options.
missing='' extra='' refused=''
while read -r c; do
	[ "$c" = help ] && continue	# no options of its own: only the globals
	"$MAILCRED" "$c" --help >"$T/help.$c" 2>&1 ||
		not_ok "mailcred $c --help exits 0"
	help_opts <"$T/help.$c" >"$T/help.$c.opts"
	awk -v c="$c" '$1 == c { print $2 }' "$T/man.opts" >"$T/man.$c.opts"
	while read -r o; do
		grep -qxF -- "$o" "$T/man.$c.opts" || missing="$missing$c $o; "
	done <"$T/help.$c.opts"
	while read -r o; do
		grep -qxF -- "$o" "$T/help.$c.opts" ||
			grep -qxF -- "$o" "$T/help.global" || extra="$extra$c $o; "
		accepted "$c" "$o" || refused="$refused$c $o; "
	done <"$T/man.$c.opts"
done <"$T/help.cmds"
assert_true "[ -s $T/help.send.opts ] && grep -qx -- -oi $T/help.send.opts" "help_opts finds send's options (-oi)"
assert_none "every option of 'mailcred COMMAND --help' is in the command's part of mailcred(1)" "$missing"
assert_none "every option mailcred(1) gives a command is in its --help (or global)" "$extra"
assert_none "every option mailcred(1) gives a command is accepted by it" "$refused"
# The actions of password.
pw_help=$(sed -n '1s/.*password \([a-z|]*\) .*/\1/p' "$T/help.password" | tr '|' '\n' | sort)
pw_man=$(sed -n '/^\.Cm password$/{n;s/^\.Cm //p;}' "$MAN1" | grep -o '[a-z]\+' | sort -u)
assert_eq "$pw_man" "$pw_help" "password's actions: the same in --help and mailcred(1)'s SYNOPSIS"

# --- git-credential-mailcred.
"$GITCRED" --help >"$T/help.gitcred" 2>&1
assert_status $? 0 "git-credential-mailcred --help exits 0"
help_opts <"$T/help.gitcred" >"$T/help.gitcred.opts"
man_opts "$GITMAN" | awk '{ print $2 }' | sort -u >"$T/man.gitcred.opts"
assert_eq "$(tr '\n' ' ' <"$T/man.gitcred.opts")" "$(tr '\n' ' ' <"$T/help.gitcred.opts")" \
	"git-credential-mailcred: the same options in --help and its page"
bad=
while read -r o; do accepted gitcred "$o" || bad="$bad$o "; done <"$T/man.gitcred.opts"
assert_none "git-credential-mailcred accepts every option its page names" "$bad"
g_help=$(sed -n '1s/.* \([a-z|]*\)$/\1/p' "$T/help.gitcred" | tr '|' '\n' | sort)
g_man=$(man_items "$GITMAN" DESCRIPTION | grep -xE "$(printf '%s' "$g_help" | tr '\n' '|')" | sort -u)
assert_eq "$(printf '%s' "$g_help" | wc -l)" 3 "git-credential-mailcred --help names four actions"
assert_eq "$g_man" "$g_help" "every action of git-credential-mailcred --help has its item in the page"

# --- DESIGN.md (outside the repository: checked where it is there).
# What the code has that DESIGN.md does not name, known and reported (the
# lead decides whether DESIGN.md grows): the long spellings of -c, -v and
# -q; `help`; send's options beyond sendmail's -a -t -f -i -oi. An entry
# DESIGN.md comes to name is reported too, so that the list stays short.
DESIGN_GAPS="global:--config global:--verbose global:--quiet cmd:help
send:-F send:-r send:-odi send:-odb send:-oem send:-oep send:-oeq send:-oee
send:-om send:-B send:-N send:-R send:-V send:--mech send:--timeout
gitcred:capability"
in_gaps() { printf '%s\n' "$DESIGN_GAPS" | tr ' ' '\n' | grep -qxF -- "$1"; }
# design_part CMD: the command's bullet of DESIGN.md.
design_part() {
	awk -v c="$1" '
	index($0, "- `mailcred " c) == 1 || index($0, "- `" c) == 1 { on = 1; print; next }
	on && (/^- `/ || /^## / || /^$/) { on = 0 }
	on' "$DESIGN"
}
# has_word TEXT WORD: WORD is in TEXT, not as part of a longer option.
has_word() {
	printf '%s\n' "$1" | grep -qE -- "(^|[^A-Za-z0-9-])$(printf '%s' "$2" | sed 's/[]\\.|[(){}*+?^$]/\\&/g')([^A-Za-z0-9-]|$)"
}
if [ -r "$DESIGN" ]; then
	miss='' stale='' rev=''
	global=$(grep -m1 '^Global options:' -A1 "$DESIGN")
	while read -r o; do
		if has_word "$global" "$o"; then in_gaps "global:$o" && stale="$stale global:$o"
		else in_gaps "global:$o" || miss="$miss global $o;"; fi
	done <"$T/help.global"
	while read -r c; do
		if grep -q "^- \`mailcred $c" "$DESIGN"; then in_gaps "cmd:$c" && stale="$stale cmd:$c"
		else in_gaps "cmd:$c" || miss="$miss command $c;"; fi
		[ "$c" = help ] && continue
		part=$(design_part "$c")
		while read -r o; do
			if has_word "$part" "$o"; then in_gaps "$c:$o" && stale="$stale $c:$o"
			else in_gaps "$c:$o" || miss="$miss $c $o;"; fi
		done <"$T/help.$c.opts"
		for o in $(printf '%s\n' "$part" | grep -oE -- '(^|[ `[|(])--?[a-z][a-z0-9-]*' | sed 's/^[ `[|(]//' | sort -u); do
			grep -qxF -- "$o" "$T/help.$c.opts" || grep -qxF -- "$o" "$T/help.global" ||
				rev="$rev $c $o;"
		done
	done <"$T/help.cmds"
	part=$(design_part git-credential-mailcred)
	for a in $g_help; do
		if has_word "$part" "$a"; then in_gaps "gitcred:$a" && stale="$stale gitcred:$a"
		else in_gaps "gitcred:$a" || miss="$miss git-credential-mailcred $a;"; fi
	done
	assert_none "every command and option of --help is in DESIGN.md (known gaps aside)" "$miss"
	assert_none "every known gap is still one (else drop it from DESIGN_GAPS)" "$stale"
	assert_none "every option DESIGN.md gives a command is in its --help" "$rev"
else
	diag "SKIPPED: $DESIGN is not there (it is not in the repository): --help against DESIGN.md not checked"
fi

# --- Configuration keys: auth/config.c and mailcred.conf(5).
sed -n '/^} keys\[\] = {/,/^};/p' "$TOP/auth/config.c" | grep -o '{ "[a-z_]*"' |
	tr -d '{ "' | sort -u >"$T/code.keys"
man_items "$MAN5" KEYS >"$T/man.keys"
assert_true "[ $(wc -l <"$T/code.keys") -ge 20 ]" "the keys of auth/config.c are found ($(wc -l <"$T/code.keys"))"
assert_none "every key auth/config.c accepts is in mailcred.conf(5)'s KEYS" \
	"$(comm -23 "$T/code.keys" "$T/man.keys")"
assert_none "every key in mailcred.conf(5)'s KEYS is one auth/config.c knows" \
	"$(comm -13 "$T/code.keys" "$T/man.keys")"
# parses KEY: a config that sets KEY loads (no "unknown key").
parses() {
	printf '[account t-manual-keys]\n%s = 1\n' "$1" >"$T/k.conf"
	chmod 600 "$T/k.conf"
	! "$MAILCRED" -c "$T/k.conf" token t-manual-nosuch 2>&1 >/dev/null |
		grep -q "unknown key"
}
bad=
while read -r k; do parses "$k" || bad="$bad$k "; done <"$T/man.keys"
assert_none "a configuration setting any key of mailcred.conf(5) parses" "$bad"
assert_true "! parses t_manual_bogus" "a configuration with an unknown key does not (the check can fail)"

# --- Presets: config.c's values, each under its key in PRESETS.
perl -0777 -ne '
	/presets\[\] = \{(.*?)\n\};/s or die "no presets";
	my $b = $1;
	while ($b =~ /\{\s*"(\w+)",\s*\{(.*?)NULL\s*\}\s*\}/sg) {
		my ($p, $kv) = ($1, $2);
		my @s = map { my $x = $_; my $t = ""; $t .= $1 while $x =~ /"((?:[^"\\]|\\.)*)"/g; $t }
			split /,\s*\n?\s*(?=")/, $kv;
		for (my $i = 0; $i + 1 < @s; $i += 2) { print "$p $s[$i] $s[$i + 1]\n" }
	}' "$TOP/auth/config.c" >"$T/code.presets"
awk '
/^\.Sh / { sec = substr($0, 5) }
sec != "PRESETS" { next }
/^\.Ss / { p = $2; next }
/^\.It Ic / { if (k != "") print p, k, v; k = $3; v = ""; next }
/^\.El/ { if (k != "") print p, k, v; k = ""; next }
k != "" && !/^\./ { v = v " " $0 }' "$MAN5" | sed 's/  */ /g; s/ *$//' >"$T/man.presets"
assert_true "[ $(wc -l <"$T/code.presets") -ge 20 ]" "the presets of auth/config.c are found ($(wc -l <"$T/code.presets") values)"
bad=
while read -r p k v; do
	m=$(awk -v p="$p" -v k="$k" '$1 == p && $2 == k { $1 = ""; $2 = ""; print }' "$T/man.presets")
	if [ -z "$m" ]; then bad="$bad$p:$k missing; "; continue; fi
	for w in $v; do
		has_word "$m" "$w" || bad="$bad$p:$k lacks $w; "
	done
done <"$T/code.presets"
assert_none "every preset value of auth/config.c is under its key in mailcred.conf(5)'s PRESETS" "$bad"
assert_none "every key mailcred.conf(5) lists for a preset is set by it" \
	"$(awk '{ print $1, $2 }' "$T/man.presets" | sort -u | comm -13 <(awk '{ print $1, $2 }' "$T/code.presets" | sort -u) -)"

# --- EXAMPLES: the mail clients' lines are contrib/'s.
# blocks FILE SUBSECTION: the .Bd -literal lines of an EXAMPLES subsection,
# roff escapes undone, blank lines left out.
blocks() {
	awk -v want="$2" '
	/^\.Sh / { sec = substr($0, 5) }
	/^\.Ss / { ss = substr($0, 5) }
	sec == "EXAMPLES" && ss == want && /^\.Bd -literal/ { on = 1; next }
	/^\.Ed/ { on = 0 }
	on && !/^$/' "$1" | sed 's/\\(dq/"/g; s/\\e/\\/g'
}
bad=
for m in "msmtp:msmtprc" "neomutt and mutt:neomuttrc" "mbsync (isync):mbsyncrc" \
	"aerc:aerc-accounts.conf" "git send-email:gitconfig gitconfig-send"; do
	ss=${m%%:*}
	files=
	for f in ${m#*:}; do files="$files $TOP/contrib/$f"; done
	n=0
	while IFS= read -r l; do
		n=$((n + 1))
		# shellcheck disable=SC2086  # the file list is meant to split
		sed 's/^[[:space:]]*//; s/[[:space:]]*$//' $files | grep -qxF -- "$(printf '%s' "$l" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')" ||
			bad="${bad}[$ss] $l; "
	done < <(blocks "$MAN1" "$ss")
	[ "$n" -gt 0 ] || bad="${bad}[$ss] no example; "
done
assert_none "every line of mailcred(1)'s examples for msmtp, neomutt, mbsync, aerc and git is in contrib/" "$bad"

# --- EXAMPLES: Scripts, run against the test peers.
start_keyring
start_oauth
# shellcheck disable=SC2119  # no arguments: the defaults
start_smtp
A=t-manual@example.test
write_config "$A"
oauth_config '{"device_interval":1}'
login_device "$A"
assert_status "$LOGIN_RC" 0 "device login for the script examples"
blocks "$MAN1" Scripts >"$T/scripts"
api=$(awk '/Authorization: Bearer/ { p = 1 } p { print } p && !/\\$/ && !/\|$/ { exit }' "$T/scripts")
smtp=$(awk '/oauth2-bearer/ { p = 1 } p { print } p && !/\\$/ && !/\|$/ { exit }' "$T/scripts")
assert_match "$api" "curl .*-H @-" "mailcred(1) has the HTTP API example"
assert_match "$smtp" "curl .*-K -" "mailcred(1) has the curl SMTP example"
api=$(printf '%s\n' "$api" | sed -e "s|me@gmail\.com|$A|g" \
	-e "s|https://gmail\.googleapis\.com/gmail/v1/users/me/profile|$OAUTH_URL/me|")
me=$(cd "$T" && printf '%s\n' "mailcred() { \"\$MAILCRED\" -c \"\$CONF\" \"\$@\"; }" "$api" |
	MAILCRED=$MAILCRED CONF=$CONF timeout 30 bash)
assert_eq "$(printf '%s' "$me" | jq -r .sub 2>/dev/null)" "$A" "the HTTP API example gets through with the token"
printf 'From: %s\nTo: friend@example.test\nSubject: t-manual curl\n\nbody\n' "$A" >"$T/message.txt"
smtp=$(printf '%s\n' "$smtp" | sed -e "s|me@gmail\.com|$A|g" -e "s|friend@example\.org|friend@example.test|" \
	-e "s|smtp://smtp\.gmail\.com:587|smtp://127.0.0.1:$SMTP_PORT|" \
	-e "s|--ssl-reqd|--ssl-reqd --cacert $T/cert.pem|")
(cd "$T" && printf '%s\n' "mailcred() { \"\$MAILCRED\" -c \"\$CONF\" \"\$@\"; }" "$smtp" |
	MAILCRED=$MAILCRED CONF=$CONF timeout 30 bash >"$T/curl.out" 2>"$T/curl.err")
assert_status $? 0 "the curl SMTP example sends ($(head -c 200 "$T/curl.err"))"
got=$(cat "$T"/mail/*.json 2>/dev/null | jq -r '.user + " " + .method + " " + (.to | join(","))')
assert_match "$got" "^$A (OAUTHBEARER|XOAUTH2) friend@example\.test$" "the server took the message, logged in with the token"

finish
