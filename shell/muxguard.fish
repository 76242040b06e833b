# muxguard: shell integration for fish (3.5 and later).
#
# Load it from ~/.config/fish/config.fish with:   muxguard init fish | source
# (or source this file; fisher installs a copy of it, from conf.d/muxguard.fish).
# Nothing here needs muxguard on PATH while it loads: each call looks for it. It defines an `ssh` function that repairs the destination's control
# socket before each connection, and, in interactive shells, a prompt hook that removes stale
# control sockets in the background at most every MUXGUARD_SWEEP_INTERVAL seconds (default 60).
# MUXGUARD_DISABLE=1 turns both into plain ssh. With MUXGUARD_WRAP_TOOLS=1 set before loading,
# scp, sftp and rsync go through muxguard too. Loading it twice installs nothing twice.

function __muxguard_usable
    test "$MUXGUARD_DISABLE" != 1; and command -q muxguard
end

# --wraps gives the function ssh's completions.
function ssh --wraps ssh --description 'ssh, with its control socket repaired by muxguard'
    if __muxguard_usable
        command muxguard ssh $argv
    else
        command ssh $argv
    end
end

if test "$MUXGUARD_WRAP_TOOLS" = 1
    # scp and sftp take one program (-S): muxguard-ssh, the same binary under that name. An -S
    # of the user's comes later and wins.
    function scp --wraps scp
        if __muxguard_usable; and command -q muxguard-ssh
            command scp -S (command -s muxguard-ssh) $argv
        else
            command scp $argv
        end
    end
    function sftp --wraps sftp
        if __muxguard_usable; and command -q muxguard-ssh
            command sftp -S (command -s muxguard-ssh) $argv
        else
            command sftp $argv
        end
    end
    # rsync takes a command; -e of the user's wins over RSYNC_RSH.
    function rsync --wraps rsync
        if __muxguard_usable; and not set -q RSYNC_RSH
            RSYNC_RSH="muxguard ssh" command rsync $argv
        else
            command rsync $argv
        end
    end
end

if status is-interactive
    # Redefining a function replaces it, handler included: one hook however often this loads.
    function __muxguard_hook --on-event fish_prompt
        set -l exit_status $status
        # `off`: no sweeps; anything else that is not a number of seconds: the default.
        set -l interval (string match -r '^(?:[0-9]+|off)$' -- $MUXGUARD_SWEEP_INTERVAL; or echo 60)
        if test "$MUXGUARD_DISABLE" != 1 -a "$interval" != off
            set -q XDG_STATE_HOME; and set -l state $XDG_STATE_HOME; or set -l state ~/.local/state
            # The stamp's age says when the last sweep began (shared by every fish of the user).
            set -l stamp $state/muxguard/sweep-fish
            set -l age (path mtime --relative $stamp 2>/dev/null; or echo $interval)
            # Only a sweep that can start counts: without muxguard on PATH, no "Unknown command"
            # at each prompt and no stamp. touch, not a redirection, whose errors fish prints.
            if test $age -ge $interval; and __muxguard_usable
                test -d $state/muxguard; or mkdir -p $state/muxguard 2>/dev/null
                command touch $stamp 2>/dev/null
                # Disowned, so fish says nothing when it ends.
                command muxguard clean -q --sweep >/dev/null 2>&1 &
                disown $last_pid 2>/dev/null
            end
        end
        return $exit_status
    end
end

# fisher emits muxguard_uninstall as it removes conf.d/muxguard.fish: the running shell lets go
# of the functions too.
function __muxguard_uninstall --on-event muxguard_uninstall
    functions --erase ssh __muxguard_hook __muxguard_usable
    test "$MUXGUARD_WRAP_TOOLS" = 1; and functions --erase scp sftp rsync
    functions --erase __muxguard_uninstall
end
