# muxguard plugin for oh-my-zsh, zinit and antidote: they source this file.
# It loads the zsh integration from the muxguard binary on PATH, so the two always match, and
# falls back to the script beside it (in a clone: shell/; installed: share/muxguard/).
if (( ${+commands[muxguard]} )); then
    eval "$(command muxguard init zsh)"
elif [[ -r "${0:A:h}/shell/muxguard.zsh" ]]; then
    source "${0:A:h}/shell/muxguard.zsh"
else
    source "${0:A:h}/muxguard.zsh"
fi
# muxguard's own completion (in a clone; an installed muxguard has it in site-functions): on
# fpath for a compinit still to come, and registered at once where compinit already ran
# (oh-my-zsh runs it before it loads plugins).
if [[ -d "${0:A:h}/completions" ]]; then
    fpath+=("${0:A:h}/completions")
    if (( ${+functions[compdef]} )); then
        autoload -Uz _muxguard && compdef _muxguard muxguard
    fi
fi
