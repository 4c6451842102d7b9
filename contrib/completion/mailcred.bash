# bash completion for mailcred(1) and git-credential-mailcred(1).
# Installed by `make install` as
# $(PREFIX)/share/bash-completion/completions/mailcred; or source it from
# ~/.bashrc. Account names come from the configuration file's
# [account NAME] sections (-c FILE, $MAILCRED_CONFIG, or the default):
# completing never touches the keyring or the network.

_mailcred_config() {
	local i
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		case ${COMP_WORDS[i]} in
		-c | --config)
			printf '%s\n' "${COMP_WORDS[i + 1]/#\~/$HOME}"
			return
			;;
		--config=*)
			printf '%s\n' "${COMP_WORDS[i]#--config=}"
			return
			;;
		esac
	done
	printf '%s\n' "${MAILCRED_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/mailcred/config}"
}

_mailcred_accounts() {
	local conf
	conf=$(_mailcred_config)
	[ -r "$conf" ] || return 0
	sed -n 's/^[[:space:]]*\[account[[:space:]][[:space:]]*"\{0,1\}\([^]"]*\)"\{0,1\}[[:space:]]*\].*/\1/p' "$conf" 2>/dev/null
}

_mailcred() {
	local cur prev cmd i words
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}

	# The command: the first word that is not an option or -c's argument.
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-c | --config) i=$((i + 1)) ;;
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			break
			;;
		esac
	done

	# Option arguments.
	case $prev in
	-c | --config)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	--provider) words="google microsoft" ;;
	--auth) words="oauth2 password" ;;
	--store) words="keyring file" ;;
	--flow) words="device browser manual" ;;
	--mech) words="xoauth2 oauthbearer" ;;
	--export) words="msmtp git msmtp,git" ;;
	-a)
		[ "$cmd" = send ] && words=$(_mailcred_accounts)
		;;
	--client-id | --port | --timeout | --min-valid | --host | --user | -f | -F | -B)
		return
		;;
	esac
	if [ -n "${words:-}" ]; then
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
		return
	fi

	local global="-c -v -q -h --config --verbose --quiet --help --version"
	local commands="add login token sasl password send logout accounts doctor help"
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$global" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
		fi
		return
	fi

	local opts="-c -v -q -h --config --verbose --quiet --help" operands=
	case $cmd in
	add) opts+=" --provider --auth --client-id --store" ;;
	login)
		opts+=" --flow --no-open --port --timeout --qr --no-qr --json"
		operands=$(_mailcred_accounts)
		;;
	token)
		opts+=" --json --min-valid --refresh"
		operands=$(_mailcred_accounts)
		;;
	sasl)
		opts+=" --mech --raw --host --port --user"
		operands=$(_mailcred_accounts)
		;;
	password)
		opts+=" --export"
		# set|get|delete first, then the account.
		operands="set get delete"
		for ((i = i + 1; i < COMP_CWORD; i++)); do
			case ${COMP_WORDS[i]} in
			set | get | delete) operands=$(_mailcred_accounts) ;;
			esac
		done
		;;
	send)
		opts+=" -a -t -f -r -i -oi -odi -odb -oem -oep -oeq -oee -om -B -F -N -R -V --mech --timeout"
		;;
	logout | accounts | doctor)
		[ "$cmd" = accounts ] && opts+=" --json"
		[ "$cmd" = doctor ] && opts+=" --json --timeout"
		[ "$cmd" = accounts ] || operands=$(_mailcred_accounts)
		;;
	help) operands=$commands ;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
	else
		local IFS=$'\n'
		mapfile -t COMPREPLY < <(compgen -W "$operands" -- "$cur")
	fi
}
complete -F _mailcred mailcred

_git_credential_mailcred() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	case $prev in
	-c | --config)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "-c -v -q -h --config --verbose --quiet --help" -- "$cur")
	else
		mapfile -t COMPREPLY < <(compgen -W "get store erase capability" -- "$cur")
	fi
}
complete -F _git_credential_mailcred git-credential-mailcred
