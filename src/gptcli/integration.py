"""``gptcli --install-integration bash|zsh|fish``: Ctrl-G turns the typed line into a command.

The key binding sends the current command line to ``gptcli cmd --print`` (which only
prints, never runs) and puts the answer back on the line, cursor at the end, for the
user to read, edit and run with Enter as usual. An empty line or a failed call leaves
the line as it was; gptcli's warnings and errors go to the terminal on stderr.

Each snippet sits between marker lines, so installing twice adds nothing, and
removing it is deleting that block. The rc file: ``~/.bashrc``, ``$ZDOTDIR/.zshrc``
(``~/.zshrc``), and for fish ``~/.config/fish/conf.d/gptcli.fish`` (its own file,
which fish reads at start-up).
"""

from __future__ import annotations

import os
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")
BEGIN = "# >>> gptcli integration (Ctrl-G: the typed line to a command) >>>"
END = "# <<< gptcli integration <<<"

_BASH = r"""_gptcli_cmd() {
    [[ -n "$READLINE_LINE" ]] || return
    local out
    out=$(gptcli cmd --print -- "$READLINE_LINE" </dev/null) || return
    [[ -n "$out" ]] || return
    READLINE_LINE=$out
    READLINE_POINT=${#READLINE_LINE}
}
bind -x '"\C-g": _gptcli_cmd'
"""

_ZSH = r"""_gptcli_cmd() {
    [[ -n "$BUFFER" ]] || return
    local out
    zle -I
    out=$(gptcli cmd --print -- "$BUFFER" </dev/null)
    if [[ $? -eq 0 && -n "$out" ]]; then
        BUFFER=$out
        CURSOR=${#BUFFER}
    fi
    zle reset-prompt
}
zle -N _gptcli_cmd
bindkey '^G' _gptcli_cmd
"""

_FISH = r"""function _gptcli_cmd
    set -l line (commandline | string collect)
    test -n "$line"; or return
    set -l out (gptcli cmd --print -- "$line" </dev/null | string collect)
    if test $pipestatus[1] -eq 0; and test -n "$out"
        commandline -r -- $out
        commandline -f end-of-line
    end
    commandline -f repaint
end
bind \cg _gptcli_cmd
"""

_SNIPPETS = {"bash": _BASH, "zsh": _ZSH, "fish": _FISH}


def snippet(shell: str) -> str:
    """The block to add to ``shell``'s start-up file, markers included."""
    return f"{BEGIN}\n{_SNIPPETS[shell]}{END}\n"


def rc_file(shell: str) -> Path:
    home = Path.home()
    if shell == "bash":
        return home / ".bashrc"
    if shell == "zsh":
        return Path(os.environ.get("ZDOTDIR") or home) / ".zshrc"
    return home / ".config" / "fish" / "conf.d" / "gptcli.fish"


def installed(path: Path) -> bool:
    try:
        return BEGIN in path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return False


def install(shell: str) -> Path:
    """Append the snippet to the rc file (created if missing), unless it is already there."""
    path = rc_file(shell)
    if installed(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_bytes() if path.exists() else b""
    lead = "" if not existing or existing.endswith(b"\n") else "\n"
    with path.open("a", encoding="utf-8") as f:
        f.write(f"{lead}\n{snippet(shell)}")
    return path
