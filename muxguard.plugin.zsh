# muxguard plugin for oh-my-zsh, zinit and antidote: they source this file.
# It loads the zsh integration from the muxguard binary on PATH, so the two always match, and
# falls back to the script next to it.
if (( ${+commands[muxguard]} )); then
    eval "$(command muxguard init zsh)"
else
    source "${0:A:h}/shell/muxguard.zsh"
fi
