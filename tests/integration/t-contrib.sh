#!/usr/bin/env bash
# contrib/ as shipped, with only the account values changed (sed on the
# placeholders, no second copy of any config), against the local peers:
# msmtp (XOAUTH2, OAUTHBEARER when the SMTP peer offers it, an app password
# by passwordeval and one msmtp finds in the keyring by itself after
# `password set --export msmtp`), git send-email (contrib/gitconfig: the
# credential helper; contrib/gitconfig-send once `mailcred send` exists),
# neomutt and mbsync (parsed; logins when the Dovecot peer is there);
# the completions against `mailcred --help`; make install and uninstall;
# the man pages under mandoc -Tlint.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mc-lib.sh"

stack_init
start_keyring
start_oauth
oauth_config '{"device_interval":1}'
O=tok@example.test		# oauth2
P=app@example.test		# app password
PW=app-pass-w0rd
start_smtp --password "$P:$PW"
write_config "$O" "smtp = smtp://127.0.0.1:$SMTP_PORT" "ca_file = $T/cert.pem"
write_config "$P" 'auth = password' "smtp = smtp://127.0.0.1:$SMTP_PORT" "ca_file = $T/cert.pem"
login_device "$O"
assert_status "$LOGIN_RC" 0 "device login of the oauth2 account"

export PATH="$TOP:$PATH" MAILCRED_CONFIG=$CONF
CONTRIB=$TOP/contrib
ERRS=$T/all-stderr

# The placeholders of contrib/: addresses, hosts, ports, trust.
subst() {
	sed -e "s/me@example\.com/$O/g" -e "s/me%40example\.com/${O/@/%40}/g" \
		-e "s/me@gmail\.com/$P/g" \
		-e "s/smtp\.office365\.com/127.0.0.1/g" -e "s/smtp\.gmail\.com/127.0.0.1/g" \
		-e "s/\(port[[:space:]=]*\)587/\1$SMTP_PORT/; s/:587\//:$SMTP_PORT\//" \
		-e "s/smtpServerPort = 587/smtpServerPort = $SMTP_PORT/" \
		-e "s/outlook\.office365\.com/${IMAP_HOST:-127.0.0.1}/g" \
		-e "s/:993\//:${IMAPS_PORT:-993}\//; s/^Port 993/Port ${IMAPS_PORT:-993}/" \
		-e "s|^tls_trust_file system|tls_trust_file $T/cert.pem|" "$1"
}
nmail() { find "$T/mail" -maxdepth 1 -name '*.eml' 2>/dev/null | wc -l; }
last_json() { find "$T/mail" -maxdepth 1 -name '*.json' 2>/dev/null | sort -t/ -k2 -V | tail -n 1; }
# send_msmtp ACCOUNT SUBJECT: msmtp -a ACCOUNT sends a message; sets RC.
send_msmtp() {
	printf 'From: %s\nTo: friend@example.test\nSubject: %s\n\nbody\n' "$3" "$2" |
		msmtp -C "$T/msmtprc" -a "$1" friend@example.test 2>"$T/err"
	RC=$?
	cat "$T/err" >>"$ERRS"
}

# --- msmtp
subst "$CONTRIB/msmtprc" >"$T/msmtprc"
chmod 600 "$T/msmtprc"
assert_no_match "$(cat "$T/msmtprc")" "gmail\.com|office365|example\.com" "every placeholder of contrib/msmtprc was replaced"
n=$(nmail)
send_msmtp work "xoauth2 from contrib" "$O"
assert_status "$RC" 0 "msmtp account work (XOAUTH2, passwordeval mailcred token) sends"
assert_eq "$(nmail)" "$((n + 1))" "the message arrived"
assert_eq "$(jq -r '.method + " " + .user' "$(last_json)")" "XOAUTH2 $O" "with XOAUTH2 as the oauth2 account"
if grep -q "authMethods:.*'OAUTHBEARER'" "$PEERS/smtp-server.mjs"; then
	send_msmtp work-oauthbearer "oauthbearer from contrib" "$O"
	assert_status "$RC" 0 "msmtp account work-oauthbearer sends"
	assert_eq "$(jq -r .method "$(last_json)")" OAUTHBEARER "with OAUTHBEARER"
else
	out=$(msmtp -C "$T/msmtprc" -a work-oauthbearer --pretend </dev/null 2>&1)
	assert_match "$out" "auth = OAUTHBEARER" "msmtp reads account work-oauthbearer as OAUTHBEARER"
	diag "the SMTP peer has no OAUTHBEARER yet: work-oauthbearer is only parsed"
fi
printf '%s\n' "$PW" | mc password set "$P" 2>/dev/null
n=$(nmail)
send_msmtp gmail "app password by passwordeval" "$P"
assert_status "$RC" 0 "msmtp account gmail (passwordeval mailcred password get) sends"
assert_eq "$(jq -r '.method + " " + .user' "$(last_json)")" "PLAIN $P" "with PLAIN and the app password"
# msmtp finds the password in the keyring by itself: --export msmtp.
send_msmtp gmail-keyring "nothing yet" "$P" </dev/null
assert_ne "$RC" 0 "gmail-keyring (no passwordeval) fails before the export"
assert_eq "$(nmail)" "$((n + 1))" "and nothing was sent"
printf '%s\n' "$PW" | mc password set "$P" --export msmtp 2>"$T/err"
assert_status $? 0 "password set --export msmtp"
assert_match "$(cat "$T/err")" "copy for msmtp" "the note names msmtp's copy"
assert_eq "$(secret-tool lookup host 127.0.0.1 service smtp user "$P")" "$PW" \
	"the copy is where msmtp's documentation says (host, service smtp, user)"
send_msmtp gmail-keyring "from the keyring" "$P"
assert_status "$RC" 0 "msmtp account gmail-keyring finds the app password in the keyring and sends"
assert_eq "$(nmail)" "$((n + 2))" "the message arrived"
assert_eq "$(jq -r '.method + " " + .user' "$(last_json)")" "PLAIN $P" "logged in with the exported password"
# An msmtp password stored by hand is not mailcred's: delete leaves it.
printf 'hand-made' | secret-tool store --label msmtp host other.example.test service smtp user "$P"
mc password delete "$P" 2>"$T/err"
assert_match "$(cat "$T/err")" "copy for msmtp deleted" "password delete removes msmtp's copy"
send_msmtp gmail-keyring "after delete" "$P" </dev/null
assert_ne "$RC" 0 "after password delete msmtp finds no password"
assert_eq "$(nmail)" "$((n + 2))" "and sends nothing"
assert_eq "$(secret-tool lookup host other.example.test service smtp user "$P")" "hand-made" \
	"an msmtp item mailcred did not make is left alone"
# store = file: msmtp and git read the Secret Service only.
write_config file@example.test 'auth = password' 'store = file' "smtp = smtp://127.0.0.1:$SMTP_PORT"
out=$(printf 'x\n' | mc password set file@example.test --export msmtp 2>&1)
assert_status $? 78 "--export with store = file: configuration error"
assert_match "$out" "^mailcred: file@example.test: --export needs store = keyring" "the line says why"
assert_eq "$(mc password get file@example.test 2>/dev/null)" "" "and nothing was stored"
printf '%s\n' "$PW" | mc password set "$P" 2>/dev/null

# --- git send-email with contrib/gitconfig (credential helper)
export GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 GIT_ASKPASS=/bin/false
unset GIT_CONFIG_GLOBAL
subst "$CONTRIB/gitconfig" >"$T/gitconfig"
git config --global include.path "$T/gitconfig"
git config --global sendemail.smtpSSLCertPath "$T/cert.pem"	# the test CA
git config --global user.name "Tester"
git config --global user.email "$P"
git init -q "$T/repo" && (cd "$T/repo" && echo a >a && git add a && git commit -qm "a patch" &&
	git format-patch -q -1 -o "$T/patches")
n=$(nmail)
(cd "$T/repo" && git send-email --confirm=never --quiet --to=friend@example.test "$T"/patches/*.patch) \
	>"$T/out" 2>"$T/err"
assert_status $? 0 "git send-email with contrib/gitconfig sends"
cat "$T/err" >>"$ERRS"
assert_eq "$(nmail)" "$((n + 1))" "the patch arrived"
assert_eq "$(jq -r '.method + " " + .user' "$(last_json)")" "PLAIN $P" \
	"logged in with the app password git got from git-credential-mailcred"
assert_no_match "$(cat "$HOME/.gitconfig" "$T/gitconfig")" "$PW" "no password in any git configuration"
if perl -MAuthen::SASL::Perl::XOAUTH2 -e 1 2>/dev/null; then
	git config --global sendemail.smtpUser "$O"
	git config --global sendemail.smtpAuth XOAUTH2
	n=$(nmail)
	(cd "$T/repo" && git send-email --confirm=never --quiet --to=friend@example.test "$T"/patches/*.patch) \
		>"$T/out" 2>>"$ERRS"
	assert_status $? 0 "git send-email with smtpAuth XOAUTH2 and the helper's token"
	assert_eq "$(jq -r '.method + " " + .user' "$(last_json)")" "XOAUTH2 $O" "sent with XOAUTH2"
	git config --global --unset sendemail.smtpAuth
else
	diag "Authen::SASL $(perl -MAuthen::SASL -e 'print $Authen::SASL::VERSION' 2>/dev/null) has no XOAUTH2 (2.1800 has): smtpAuth XOAUTH2 not exercised"
fi
if "$MAILCRED" help send >/dev/null 2>&1; then
	git config --global --unset include.path
	git config --global include.path "$CONTRIB/gitconfig-send"
	n=$(nmail)
	(cd "$T/repo" && git send-email --confirm=never --quiet --to=friend@example.test "$T"/patches/*.patch) \
		>"$T/out" 2>>"$ERRS"
	assert_status $? 0 "git send-email with contrib/gitconfig-send (sendmailCmd = mailcred send)"
	assert_eq "$(nmail)" "$((n + 1))" "the patch arrived through mailcred send"
else
	diag "no 'mailcred send' in this build: contrib/gitconfig-send not exercised"
fi

# A copy made before the account's host changed is replaced, not left
# behind with the old password.
printf '%s\n' "$PW" | mc password set "$P" --export msmtp,git 2>/dev/null
cp "$CONF" "$T/conf.saved"
sed -i "s|smtp = smtp://127.0.0.1:$SMTP_PORT|smtp = smtp://localhost:$SMTP_PORT|" "$CONF"
printf 'new-pass\n' | mc password set "$P" --export msmtp,git 2>/dev/null
assert_eq "$(secret-tool search --all mailcred "$P" 2>/dev/null | grep -c '^attribute.host = 127.0.0.1\|^attribute.server = 127.0.0.1')" 0 \
	"the copies for the old host are gone"
assert_eq "$(secret-tool search --all mailcred "$P" 2>/dev/null | grep -c '^secret = ')" 2 "one copy for msmtp, one for git"
cp "$T/conf.saved" "$CONF"

# logout forgets the copies too.
printf '%s\n' "$PW" | mc password set "$P" --export msmtp,git 2>/dev/null
mc logout "$P" 2>"$T/err"
assert_status $? 0 "logout of the password account"
assert_match "$(cat "$T/err")" "copy for msmtp and git deleted" "logout says the copies went too"
assert_eq "$(secret-tool search --all mailcred "$P" 2>/dev/null)" "" "no copy is left in the keyring"
printf '%s\n' "$PW" | mc password set "$P" 2>/dev/null

# --- neomutt and mbsync: the configurations parse (logins need Dovecot)
subst "$CONTRIB/neomuttrc" >"$T/neomuttrc"
out=$(neomutt -n -F "$T/neomuttrc" -Q imap_oauth_refresh_command -Q smtp_url -Q imap_authenticators 2>&1)
assert_eq "$out" "set imap_oauth_refresh_command = \"mailcred token $O\""$'\n'"set smtp_url = \"smtp://${O/@/%40}@127.0.0.1:$SMTP_PORT/\""$'\n'"set imap_authenticators = \"oauthbearer:xoauth2\"" \
	"neomutt reads contrib/neomuttrc"
# neomutt sends through the SMTP server with smtp_oauth_refresh_command
# (batch mode: no terminal; the test CA given on the command line).
n=$(nmail)
echo "sent by neomutt" | timeout 30 neomutt -n -F "$T/neomuttrc" -e "set ssl_ca_certificates_file=$T/cert.pem" \
	-e 'set copy=no' -s "neomutt from contrib" -- friend@example.test >"$T/out" 2>"$T/err"
assert_status $? 0 "neomutt sends with contrib/neomuttrc (smtp_url, smtp_oauth_refresh_command)"
assert_eq "$(nmail)" "$((n + 1))" "the message arrived"
assert_match "$(jq -r '.method + " " + .user' "$(last_json)")" "^(XOAUTH2|OAUTHBEARER) $O$" \
	"logged in with mailcred's token ($(jq -r .method "$(last_json)"))"
subst "$CONTRIB/mbsyncrc" >"$T/mbsyncrc"
out=$(timeout 20 mbsync -c "$T/mbsyncrc" -l work 2>&1)
assert_no_match "$out" "line [0-9]+|[Uu]nknown|[Ee]rror: .*(keyword|option)" "mbsync (isync $(mbsync -v 2>/dev/null | head -n 1)) reads contrib/mbsyncrc"

# --- completions
# complete WORDS...: COMPREPLY of mailcred's bash completion for the words
# (the last one is completed).
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	"$FN"
	printf '%s\n' "${COMPREPLY[@]}"
}
(
	# shellcheck source=../../contrib/completion/mailcred.bash
	. "$CONTRIB/completion/mailcred.bash"
	FN=_mailcred
	cmds=$("$MAILCRED" --help | sed -n 's/^ *\(usage: \)\{0,1\}mailcred \([a-z][a-z-]*\).*/\2/p' | sort -u)
	[ -n "$cmds" ] || echo "FAIL no commands found in mailcred --help"
	got=$(complete_words mailcred '')
	for c in $cmds; do
		grep -qx -- "$c" <<<"$got" || echo "FAIL command $c is not completed"
		grep -q -- "$c" "$CONTRIB/completion/_mailcred" || echo "FAIL command $c missing from _mailcred"
		[ "$c" = help ] && continue
		opts=$("$MAILCRED" help "$c" | { head -n 1; grep -E '^ +-'; } |
			grep -oE '(^|[][ ,|(])--?[a-zA-Z][a-zA-Z0-9-]*' | sed 's/^[][ ,|(]//' | sort -u)
		gotopts=$(complete_words mailcred "$c" -)
		for o in $opts; do
			grep -qx -- "$o" <<<"$gotopts" || echo "FAIL option $o of $c is not completed"
			grep -q -- "$o\\b" "$CONTRIB/completion/_mailcred" || echo "FAIL option $o of $c missing from _mailcred"
		done
		echo "checked $c: $(wc -w <<<"$opts") options"
	done
	for o in $("$MAILCRED" --help | grep -E '^ +-' | grep -oE '(^|[ ,])--?[a-zA-Z][a-zA-Z0-9-]*' | sed 's/^[ ,]//'); do
		grep -qx -- "$o" <<<"$(complete_words mailcred -)" || echo "FAIL global option $o is not completed"
	done
	[ "$(complete_words mailcred login --flow '')" = $'device\nbrowser\nmanual' ] || echo "FAIL login --flow values"
	[ "$(complete_words mailcred password --export '')" = $'msmtp\ngit\nmsmtp,git' ] || echo "FAIL --export values"
	[ "$(complete_words mailcred token '' | sort)" = "$(printf '%s\n' "$O" "$P" file@example.test | sort)" ] ||
		echo "FAIL token: the accounts of \$MAILCRED_CONFIG"
	[ "$(complete_words mailcred password set t)" = "$O" ] || echo "FAIL password set: an account"
	[ "$(complete_words mailcred -c "$CONF" logout a)" = "$P" ] || echo "FAIL -c FILE: its accounts"
	FN=_git_credential_mailcred
	[ "$(complete_words git-credential-mailcred '')" = $'get\nstore\nerase\ncapability' ] || echo "FAIL git-credential-mailcred actions"
) >"$T/comp.out" 2>&1
assert_eq "$(grep -v '^checked' "$T/comp.out")" "" "bash completion: every command and option of mailcred --help and help COMMAND, option values, account names"
diag "$(grep '^checked' "$T/comp.out" | tr '\n' ' ')"
if command -v zsh >/dev/null 2>&1; then
	zsh -n "$CONTRIB/completion/_mailcred"
	assert_status $? 0 "zsh reads _mailcred"
fi
bash -n "$CONTRIB/completion/mailcred.bash"
assert_status $? 0 "bash reads mailcred.bash"

# --- make install / uninstall
DEST=$T/inst
make -s -C "$TOP" install DESTDIR="$DEST" PREFIX=/usr >"$T/install.log" 2>&1
assert_status $? 0 "make install DESTDIR=... PREFIX=/usr"
assert_eq "$(readlink "$DEST/usr/bin/git-credential-mailcred")" mailcred \
	"git-credential-mailcred is a relative link to mailcred"
for f in bin/mailcred share/man/man1/mailcred.1 share/man/man1/git-credential-mailcred.1 \
	share/man/man5/mailcred.conf.5 share/bash-completion/completions/mailcred \
	share/zsh/site-functions/_mailcred; do
	assert_true "[ -f '$DEST/usr/$f' ]" "installed: $f"
done
out=$(printf 'protocol=smtp\nhost=127.0.0.1:%s\nusername=%s\n\n' "$SMTP_PORT" "$P" |
	PATH="$DEST/usr/bin:/usr/bin:/bin" git credential-mailcred get 2>>"$ERRS")
assert_eq "$(sed -n 's/^password=//p' <<<"$out")" "$PW" "the installed helper answers, found by git on PATH"
make -s -C "$TOP" uninstall DESTDIR="$DEST" PREFIX=/usr >>"$T/install.log" 2>&1
assert_eq "$(find "$DEST" -type f -o -type l)" "" "make uninstall removes all it installed"

# --- neomutt and mbsync log in to Dovecot's IMAP with mailcred's token
if declare -F start_dovecot >/dev/null; then
	start_dovecot
	U=user@example.test	# Dovecot's mailbox with a "Welcome" message
	write_config "$U" "imap = imaps://127.0.0.1:$IMAPS_PORT"
	login_device "$U" "$U"
	assert_status "$LOGIN_RC" 0 "device login of the IMAP account"
	logins() { grep -c "Login: user=<$U>, method=$1" "$T/dovecot.log"; }
	O=$U subst "$CONTRIB/neomuttrc" >"$T/neomuttrc"
	before=$(logins '[A-Z]*')
	TERM=xterm timeout 30 script -qec "neomutt -n -F $T/neomuttrc -e 'set ssl_ca_certificates_file=$T/cert.pem' -e 'push <quit>'" \
		/dev/null >"$T/neomutt.out" 2>&1
	assert_status $? 0 "neomutt opens the IMAP folder of contrib/neomuttrc and quits"
	assert_match "$(tr -d '\0' <"$T/neomutt.out")" "Welcome" "it listed the INBOX"
	assert_eq "$(logins '[A-Z]*')" "$((before + 1))" "with one login by imap_oauth_refresh_command's token"
	# mbsync through Cyrus SASL's XOAUTH2 plugin; its 1.4 checks the
	# certificate's DNS names, not IP addresses: localhost.
	IMAP_HOST=localhost O=$U subst "$CONTRIB/mbsyncrc" >"$T/mbsyncrc"
	mkdir -p "$HOME/Mail/work"
	before=$(logins XOAUTH2)
	SSL_CERT_FILE=$T/cert.pem timeout 30 mbsync -c "$T/mbsyncrc" work >"$T/mbsync.out" 2>&1
	assert_status $? 0 "mbsync syncs with contrib/mbsyncrc"
	assert_match "$(cat "$HOME"/Mail/work/INBOX/*/* 2>/dev/null)" "Subject: Welcome" "the message is in the local Maildir"
	assert_eq "$(logins XOAUTH2)" "$((before + 1))" "logged in with XOAUTH2 and PassCmd's token"
else
	diag "no Dovecot peer (start_dovecot) in tests/lib.sh yet: neomutt's and mbsync's IMAP logins are not exercised"
fi

# --- man pages
if command -v mandoc >/dev/null 2>&1; then
	out=$(mandoc -Tlint -W warning "$TOP"/cmd/*.1 "$TOP"/cmd/*.5 2>&1)
	assert_eq "$out" "" "mandoc -Tlint: no warnings in the man pages"
else
	not_ok "mandoc is missing (tests/deps.sh installs it)"
fi

assert_no_match "$(cat "$ERRS")" "$PW" "no password on any stderr"
finish
