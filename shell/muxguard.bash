# muxguard: shell integration for bash (3.2 and later).
#
# Load it from ~/.bashrc with:   eval "$(muxguard init bash)"
# (or source this file). It defines an `ssh` function that repairs the destination's control
# socket before each connection, and, in interactive shells, a prompt hook that removes stale
# control sockets in the background at most every MUXGUARD_SWEEP_INTERVAL seconds (default 60).
# MUXGUARD_DISABLE=1 turns both into plain ssh. With MUXGUARD_WRAP_TOOLS=1 set before loading,
# scp, sftp and rsync go through muxguard too. Loading it twice installs nothing twice.

# `function NAME {` rather than `NAME() {`: an alias named ssh is not expanded here, so it keeps
# working and its options reach this function.
function __muxguard_usable {
    # Forget a remembered location first: a muxguard deleted since must not count.
    [[ "${MUXGUARD_DISABLE-}" != 1 ]] && { \builtin hash -d muxguard 2>/dev/null; \command -v muxguard >/dev/null 2>&1; }
}

function ssh {
    if __muxguard_usable; then
        \command muxguard ssh "$@"
    else
        \command ssh "$@"
    fi
}

if [[ "${MUXGUARD_WRAP_TOOLS-}" == 1 ]]; then
    # scp and sftp take one program (-S): muxguard-ssh, the same binary under that name. An -S
    # of the user's comes later and wins.
    function scp {
        if __muxguard_usable && \command -v muxguard-ssh >/dev/null 2>&1; then
            \command scp -S "$(\command -v muxguard-ssh)" "$@"
        else
            \command scp "$@"
        fi
    }
    function sftp {
        if __muxguard_usable && \command -v muxguard-ssh >/dev/null 2>&1; then
            \command sftp -S "$(\command -v muxguard-ssh)" "$@"
        else
            \command sftp "$@"
        fi
    }
    # rsync takes a command; -e of the user's wins over RSYNC_RSH.
    function rsync {
        if __muxguard_usable && [[ -z "${RSYNC_RSH-}" ]]; then
            RSYNC_RSH="muxguard ssh" \command rsync "$@"
        else
            \command rsync "$@"
        fi
    }
fi

# The prompt hook: returns the status it found, so $? survives it.
function __muxguard_hook {
    local status=$? interval=${MUXGUARD_SWEEP_INTERVAL-}
    # `off`: no sweeps; anything else that is not a number of seconds: the default.
    [[ "$interval" =~ ^[0-9]+$ || "$interval" == off ]] || interval=60
    # When the last sweep began, not when the next is due: a changed interval applies at once.
    if [[ "${MUXGUARD_DISABLE-}" != 1 && "$interval" != off ]] &&
        { [[ -z "${__muxguard_last_sweep-}" ]] || (( SECONDS - __muxguard_last_sweep >= 10#$interval )); }; then
        __muxguard_last_sweep=$SECONDS
        # A background job in a subshell: the prompt never waits and job control stays quiet.
        ( \command muxguard clean -q --sweep >/dev/null 2>&1 & )
    fi
    return "$status"
}

if [[ $- == *i* ]]; then
    if [[ -n "${bash_preexec_imported-}${__bp_imported-}" ]]; then
        # bash-preexec owns PROMPT_COMMAND: join its list instead.
        if [[ " ${precmd_functions[*]-} " != *" __muxguard_hook "* ]]; then
            precmd_functions+=(__muxguard_hook)
        fi
    elif [[ "$(declare -p PROMPT_COMMAND 2>/dev/null)" == "declare -a"* ]]; then
        # bash 5.1+ takes PROMPT_COMMAND as an array.
        if [[ " ${PROMPT_COMMAND[*]} " != *" __muxguard_hook "* ]]; then
            PROMPT_COMMAND=(__muxguard_hook "${PROMPT_COMMAND[@]}")
        fi
    elif [[ ";${PROMPT_COMMAND-};" != *";__muxguard_hook;"* ]]; then
        # First, so that it sees the command's own status and hands it on unchanged.
        # shellcheck disable=SC2128,SC2178 # a plain string here: the array case is above
        PROMPT_COMMAND="__muxguard_hook${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
    fi
fi
