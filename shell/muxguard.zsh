# muxguard: shell integration for zsh.
#
# Load it from ~/.zshrc with:   eval "$(muxguard init zsh)"
# (or source this file, or use the oh-my-zsh / zinit / antidote plugin muxguard.plugin.zsh).
# It defines an `ssh` function that repairs the destination's control socket before each
# connection, and, in interactive shells, a precmd hook that removes stale control sockets in
# the background at most every MUXGUARD_SWEEP_INTERVAL seconds (default 60).
# MUXGUARD_DISABLE=1 turns both into plain ssh. With MUXGUARD_WRAP_TOOLS=1 set before loading,
# scp, sftp and rsync go through muxguard too. Loading it twice installs nothing twice.

# `function NAME {` rather than `NAME() {`: an alias named ssh is not expanded here, so it keeps
# working and its options reach this function. ssh's completion applies to it by name.
function __muxguard_usable {
    # The command table may remember a muxguard deleted since: it must still be there.
    [[ "${MUXGUARD_DISABLE-}" != 1 && -x "${commands[muxguard]-}" ]]
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
        if __muxguard_usable && [[ -x "${commands[muxguard-ssh]-}" ]]; then
            \command scp -S "${commands[muxguard-ssh]}" "$@"
        else
            \command scp "$@"
        fi
    }
    function sftp {
        if __muxguard_usable && [[ -x "${commands[muxguard-ssh]-}" ]]; then
            \command sftp -S "${commands[muxguard-ssh]}" "$@"
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
    local exit_status=$? interval=${MUXGUARD_SWEEP_INTERVAL-}
    # `off`: no sweeps; anything else that is not a number of seconds: the default.
    [[ "$interval" == (<->|off) ]] || interval=60
    # When the last sweep began, not when the next is due: a changed interval applies at once.
    if [[ "${MUXGUARD_DISABLE-}" != 1 && "$interval" != off ]] &&
        { [[ -z "${__muxguard_last_sweep-}" ]] || (( SECONDS - __muxguard_last_sweep >= 10#$interval )); }; then
        typeset -g __muxguard_last_sweep=$SECONDS
        # A background job in a subshell: the prompt never waits and job control stays quiet.
        ( \command muxguard clean -q --sweep >/dev/null 2>&1 & )
    fi
    return $exit_status
}

if [[ -o interactive ]]; then
    autoload -Uz add-zsh-hook
    # add-zsh-hook adds a function only once, however often this file is loaded.
    add-zsh-hook precmd __muxguard_hook
fi
