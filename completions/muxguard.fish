# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_muxguard_global_optspecs
    string join \n timeout= h/help V/version
end

function __fish_muxguard_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_muxguard_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_muxguard_using_subcommand
    set -l cmd (__fish_muxguard_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c muxguard -n "__fish_muxguard_needs_command" -l timeout -d 'How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)' -r
complete -c muxguard -n "__fish_muxguard_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c muxguard -n "__fish_muxguard_needs_command" -s V -l version -d 'Print version'
complete -c muxguard -n "__fish_muxguard_needs_command" -f -a "check" -d 'Classify the control socket ssh would use for a command line, and optionally repair it'
complete -c muxguard -n "__fish_muxguard_needs_command" -f -a "status" -d 'List every control socket found, with its state'
complete -c muxguard -n "__fish_muxguard_needs_command" -f -a "clean" -d 'Remove stale control sockets; with --probe also end hung and unreachable masters'
complete -c muxguard -n "__fish_muxguard_needs_command" -f -a "reset" -d 'End a master so that the next ssh builds a fresh one'
complete -c muxguard -n "__fish_muxguard_needs_command" -f -a "ssh" -d 'Repair the destination\'s control socket, then run the real ssh with the same arguments'
complete -c muxguard -n "__fish_muxguard_needs_command" -f -a "watch" -d 'Heal masters the moment the network changes or the machine resumes, for every program'
complete -c muxguard -n "__fish_muxguard_needs_command" -f -a "init" -d 'Print the shell integration: eval "$(muxguard init zsh)", or muxguard init fish | source'
complete -c muxguard -n "__fish_muxguard_needs_command" -f -a "doctor" -d 'Find the connection-sharing mistakes in your ssh configuration'
complete -c muxguard -n "__fish_muxguard_needs_command" -f -a "completions" -d 'Print a completion script for a shell'
complete -c muxguard -n "__fish_muxguard_needs_command" -f -a "man" -d 'Print the man page (roff) of muxguard or of one subcommand, as `make man` writes them'
complete -c muxguard -n "__fish_muxguard_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c muxguard -n "__fish_muxguard_using_subcommand check" -l path -d 'Check this socket instead of resolving one from ssh arguments' -r -F
complete -c muxguard -n "__fish_muxguard_using_subcommand check" -l timeout -d 'How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)' -r
complete -c muxguard -n "__fish_muxguard_using_subcommand check" -l fix -d 'Repair what is broken: remove a stale socket, end a hung or unreachable master'
complete -c muxguard -n "__fish_muxguard_using_subcommand check" -l probe -d 'Prove the link: a round trip through the master to the server (default: only when something suggests the link died, see MUXGUARD_PROBE)'
complete -c muxguard -n "__fish_muxguard_using_subcommand check" -l json -d 'Print one JSON object instead of a line of text'
complete -c muxguard -n "__fish_muxguard_using_subcommand check" -s h -l help -d 'Print help'
complete -c muxguard -n "__fish_muxguard_using_subcommand status" -s F -d 'ssh config file to read ControlPath templates from, instead of your own and the system\'s' -r -F
complete -c muxguard -n "__fish_muxguard_using_subcommand status" -l dir -d 'One more directory to look for control sockets in (repeatable)' -r -F
complete -c muxguard -n "__fish_muxguard_using_subcommand status" -l timeout -d 'How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)' -r
complete -c muxguard -n "__fish_muxguard_using_subcommand status" -l json -d 'Print one JSON object instead of a table'
complete -c muxguard -n "__fish_muxguard_using_subcommand status" -l probe -d 'Also prove each live master\'s link with a round trip to its server (this connects to every live master)'
complete -c muxguard -n "__fish_muxguard_using_subcommand status" -s h -l help -d 'Print help'
complete -c muxguard -n "__fish_muxguard_using_subcommand clean" -s F -d 'ssh config file to read ControlPath templates from, instead of your own and the system\'s' -r -F
complete -c muxguard -n "__fish_muxguard_using_subcommand clean" -l dir -d 'One more directory to look for control sockets in (repeatable)' -r -F
complete -c muxguard -n "__fish_muxguard_using_subcommand clean" -l timeout -d 'How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)' -r
complete -c muxguard -n "__fish_muxguard_using_subcommand clean" -l probe -d 'Also prove every live master\'s link, and end hung and unreachable masters (this connects to every live master)'
complete -c muxguard -n "__fish_muxguard_using_subcommand clean" -s n -l dry-run -d 'Say what would be done, and do nothing'
complete -c muxguard -n "__fish_muxguard_using_subcommand clean" -l json -d 'Print one JSON object instead of lines of text'
complete -c muxguard -n "__fish_muxguard_using_subcommand clean" -s q -l quiet -d 'Print nothing but errors'
complete -c muxguard -n "__fish_muxguard_using_subcommand clean" -l sweep -d 'As the shell hooks run it: when another sweep of yours is still running, do nothing'
complete -c muxguard -n "__fish_muxguard_using_subcommand clean" -s h -l help -d 'Print help'
complete -c muxguard -n "__fish_muxguard_using_subcommand reset" -l path -d 'The master at this socket' -r -F
complete -c muxguard -n "__fish_muxguard_using_subcommand reset" -s F -d 'ssh config file: passed to `ssh -G` with SSH_ARGS, read for ControlPath templates with --all' -r -F
complete -c muxguard -n "__fish_muxguard_using_subcommand reset" -l dir -d 'With --all: one more directory to look for control sockets in (repeatable)' -r -F
complete -c muxguard -n "__fish_muxguard_using_subcommand reset" -l timeout -d 'How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)' -r
complete -c muxguard -n "__fish_muxguard_using_subcommand reset" -l kill -d 'End the master now, with its open sessions'
complete -c muxguard -n "__fish_muxguard_using_subcommand reset" -l json -d 'Print one JSON object instead of lines of text'
complete -c muxguard -n "__fish_muxguard_using_subcommand reset" -l all -d 'Every master found (as status finds them), orphans included'
complete -c muxguard -n "__fish_muxguard_using_subcommand reset" -s h -l help -d 'Print help'
complete -c muxguard -n "__fish_muxguard_using_subcommand ssh" -l timeout -d 'How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)' -r
complete -c muxguard -n "__fish_muxguard_using_subcommand watch" -s F -d 'ssh config file to read ControlPath templates from, instead of your own and the system\'s' -r -F
complete -c muxguard -n "__fish_muxguard_using_subcommand watch" -l dir -d 'One more directory to look for control sockets in (repeatable)' -r -F
complete -c muxguard -n "__fish_muxguard_using_subcommand watch" -l timeout -d 'How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)' -r
complete -c muxguard -n "__fish_muxguard_using_subcommand watch" -l json -d 'Print one JSON object a line on stdout, instead of lines of text on stderr'
complete -c muxguard -n "__fish_muxguard_using_subcommand watch" -s h -l help -d 'Print help'
complete -c muxguard -n "__fish_muxguard_using_subcommand init" -l timeout -d 'How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)' -r
complete -c muxguard -n "__fish_muxguard_using_subcommand init" -s h -l help -d 'Print help'
complete -c muxguard -n "__fish_muxguard_using_subcommand doctor" -s F -d 'ssh config file to check, instead of your own and the system\'s' -r -F
complete -c muxguard -n "__fish_muxguard_using_subcommand doctor" -l timeout -d 'How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)' -r
complete -c muxguard -n "__fish_muxguard_using_subcommand doctor" -l fix -d 'Create what is missing and safe to create (the ControlPath directory)'
complete -c muxguard -n "__fish_muxguard_using_subcommand doctor" -l json -d 'Print one JSON object instead of lines of text'
complete -c muxguard -n "__fish_muxguard_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c muxguard -n "__fish_muxguard_using_subcommand completions" -l timeout -d 'How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)' -r
complete -c muxguard -n "__fish_muxguard_using_subcommand completions" -s h -l help -d 'Print help'
complete -c muxguard -n "__fish_muxguard_using_subcommand man" -l timeout -d 'How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)' -r
complete -c muxguard -n "__fish_muxguard_using_subcommand man" -s h -l help -d 'Print help'
complete -c muxguard -n "__fish_muxguard_using_subcommand help; and not __fish_seen_subcommand_from check status clean reset ssh watch init doctor completions man help" -f -a "check" -d 'Classify the control socket ssh would use for a command line, and optionally repair it'
complete -c muxguard -n "__fish_muxguard_using_subcommand help; and not __fish_seen_subcommand_from check status clean reset ssh watch init doctor completions man help" -f -a "status" -d 'List every control socket found, with its state'
complete -c muxguard -n "__fish_muxguard_using_subcommand help; and not __fish_seen_subcommand_from check status clean reset ssh watch init doctor completions man help" -f -a "clean" -d 'Remove stale control sockets; with --probe also end hung and unreachable masters'
complete -c muxguard -n "__fish_muxguard_using_subcommand help; and not __fish_seen_subcommand_from check status clean reset ssh watch init doctor completions man help" -f -a "reset" -d 'End a master so that the next ssh builds a fresh one'
complete -c muxguard -n "__fish_muxguard_using_subcommand help; and not __fish_seen_subcommand_from check status clean reset ssh watch init doctor completions man help" -f -a "ssh" -d 'Repair the destination\'s control socket, then run the real ssh with the same arguments'
complete -c muxguard -n "__fish_muxguard_using_subcommand help; and not __fish_seen_subcommand_from check status clean reset ssh watch init doctor completions man help" -f -a "watch" -d 'Heal masters the moment the network changes or the machine resumes, for every program'
complete -c muxguard -n "__fish_muxguard_using_subcommand help; and not __fish_seen_subcommand_from check status clean reset ssh watch init doctor completions man help" -f -a "init" -d 'Print the shell integration: eval "$(muxguard init zsh)", or muxguard init fish | source'
complete -c muxguard -n "__fish_muxguard_using_subcommand help; and not __fish_seen_subcommand_from check status clean reset ssh watch init doctor completions man help" -f -a "doctor" -d 'Find the connection-sharing mistakes in your ssh configuration'
complete -c muxguard -n "__fish_muxguard_using_subcommand help; and not __fish_seen_subcommand_from check status clean reset ssh watch init doctor completions man help" -f -a "completions" -d 'Print a completion script for a shell'
complete -c muxguard -n "__fish_muxguard_using_subcommand help; and not __fish_seen_subcommand_from check status clean reset ssh watch init doctor completions man help" -f -a "man" -d 'Print the man page (roff) of muxguard or of one subcommand, as `make man` writes them'
complete -c muxguard -n "__fish_muxguard_using_subcommand help; and not __fish_seen_subcommand_from check status clean reset ssh watch init doctor completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
