"""Chat conveniences: ``/copy``, ``/edit`` and ``!command`` (the handlers, apart from the loop in chat.py).

* ``/copy`` puts the last reply on the clipboard, ``/copy code`` the last code block of
  the replies, through the terminal itself (OSC 52), so it works over SSH and in tmux
  with no clipboard tool installed; the text travels base64-encoded, so a reply can
  never smuggle a control sequence to the terminal this way.
* ``/edit [TEXT]`` opens ``$VISUAL`` / ``$EDITOR`` (else ``vi``) on a private temporary
  file (TEXT already in it) and sends what is saved; an empty file sends nothing.
* ``!command`` (a line that starts with ``!``) runs the command in the shell, shows
  its output, and asks whether to add it to the next message as context. Only on a
  terminal: a line of a piped script that starts with ``!`` is a message, never a
  command. To send a message that starts with ``!`` on a terminal, put a space first.

Each handler takes the ``Chat`` and writes through its front end; nothing here prints
directly except the OSC 52 sequence, which is for the terminal, not for the user.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
import sys
import tempfile
from typing import IO, TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .chat import Chat

# name -> (arguments, what it does), merged into chat.COMMANDS for /help and Tab
COMMANDS: dict[str, tuple[str, str]] = {
    "copy": ("[code]", "copy the last reply (or its last code block) to the clipboard, over SSH too (OSC 52)"),
    "edit": ("[TEXT]", "write a long message in $EDITOR; it is sent when you save and quit"),
}
SHELL_HELP = "!COMMAND runs a shell command and offers its output as context for your next message"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n(.*?)^ {0,3}\1[`~]*[ \t]*$", re.DOTALL | re.MULTILINE)
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.|[\x00-\x08\x0b-\x1f\x7f]")
OUTPUT_LIMIT = 100_000  # characters of a command's output offered as context
PREVIEW_LINES = 15


def printable(text: str) -> str:
    """``text`` without escape sequences or control characters (newlines and tabs stay)."""
    return _CONTROL.sub("", text)


# --- /copy ---------------------------------------------------------------------------------


def last_code_block(text: str) -> str | None:
    blocks = _FENCE.findall(text)
    return blocks[-1][1].rstrip("\n") if blocks else None


def osc52(text: str, env: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The sequence that asks the terminal to put ``text`` on the clipboard (wrapped for tmux/screen)."""
    seq = "\x1b]52;c;" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "\x07"
    if env.get("TMUX"):
        return "\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    if env.get("STY") or env.get("TERM", "").startswith("screen"):
        return "\x1bP" + seq + "\x1b\\"
    return seq


def _terminal() -> tuple[IO[str], bool]:
    """Where the terminal is: stdout, else stderr, else /dev/tty (bool: opened here, to close)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream.isatty():
                return stream, False
        except (AttributeError, ValueError):
            continue
    try:
        return open("/dev/tty", "w", encoding="utf-8"), True
    except OSError:
        raise UsageError("/copy needs a terminal to copy through (OSC 52)") from None


def cmd_copy(chat: Chat, arg: str) -> None:
    replies = [str(m.get("content") or "") for m in chat.session.messages if m["role"] == "assistant"]
    if arg not in ("", "code"):
        raise UsageError("usage: /copy or /copy code")
    if not replies:
        raise UsageError("nothing to copy yet: no reply in this conversation")
    if arg == "code":
        text = next((b for b in map(last_code_block, reversed(replies)) if b is not None), None)
        if text is None:
            raise UsageError("no code block in the replies (/copy copies the whole last reply)")
        what = "the last code block"
    else:
        text, what = replies[-1], "the last reply"
    out, opened = _terminal()
    try:
        out.write(osc52(text))
        out.flush()
    finally:
        if opened:
            out.close()
    lines = text.count("\n") + 1
    chat.ui.info(
        f"copied {what} ({lines} line{'s' if lines != 1 else ''}, {len(text):,} characters) to the clipboard"
        " (through the terminal, OSC 52: if nothing arrives, allow clipboard access in its settings)"
    )


# --- /edit ---------------------------------------------------------------------------------


def editor_command() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(editor)


def cmd_edit(chat: Chat, arg: str) -> None:
    if not chat.ui.interactive:
        raise UsageError('/edit needs a terminal (without one, a multi-line message goes between """ lines)')
    fd, name = tempfile.mkstemp(prefix="gptcli-message-", suffix=".md")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"{arg}\n" if arg else "")  # /edit TEXT: TEXT is the first line, the rest is yours
        try:
            code = subprocess.call([*editor_command(), name])
        except OSError as e:
            raise UsageError(
                f"cannot run the editor {editor_command()[0]!r}: {e.strerror}", hint="set $EDITOR"
            ) from None
        with open(name, encoding="utf-8", errors="replace") as f:
            text = f.read()
    finally:
        os.unlink(name)
    if code != 0:
        chat.ui.warn(f"the editor exited with status {code}: nothing sent")
        return
    if not text.strip():
        chat.ui.info("empty message: nothing sent")
        return
    chat.send(text.rstrip("\n"))


# --- !command ------------------------------------------------------------------------------


def run_shell(chat: Chat, command: str) -> None:
    """Run ``command``, show its output, and offer it as context for the next message."""
    if not command.strip():
        chat.ui.warn("!COMMAND runs a shell command, e.g. !git diff")
        return
    try:
        done = subprocess.run(
            command, shell=True, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace"
        )
    except KeyboardInterrupt:
        chat.ui.warn(f"!{command}: interrupted, nothing kept")
        return
    output = done.stdout + (done.stderr if done.stderr else "")
    shown = printable(output).rstrip("\n")
    lines = shown.splitlines()
    preview = "\n".join(lines[:PREVIEW_LINES]) + (
        f"\n… ({len(lines) - PREVIEW_LINES} more lines)" if len(lines) > PREVIEW_LINES else ""
    )
    chat.ui.info(preview if preview else "(no output)")
    status = "" if done.returncode == 0 else f", exit status {done.returncode}"
    if not shown:
        chat.ui.status(f"!{command}: no output{status}; nothing to add")
        return
    cut = len(shown) > OUTPUT_LIMIT
    question = (
        f"add this output ({len(lines):,} lines{status}{', cut to 100,000 characters' if cut else ''})"
        " to your next message? [y/N] "
    )
    if not confirm(chat, question):
        chat.ui.status("not added")
        return
    context = f"$ {command}\n{shown[:OUTPUT_LIMIT]}"
    pending = _pending(chat)
    pending.append(context)
    chat.ui.status(f"added: it goes with your next message ({len(pending)} output{'s' if len(pending) > 1 else ''})")


def confirm(chat: Chat, question: str) -> bool:
    reader: Any = getattr(chat.ui, "confirm", None)
    if reader is not None:
        return bool(reader(question))
    from prompt_toolkit import PromptSession  # the terminal path only: prompt_toolkit is loaded already

    session = getattr(getattr(chat.ui, "input", None), "session", None)  # the chat's own output (stderr when piped)
    try:
        answer: str = PromptSession(output=getattr(session, "output", None)).prompt(question)
    except (EOFError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes", "是")


def _pending(chat: Chat) -> list[str]:
    pending: list[str] | None = getattr(chat, "_shell_context", None)
    if pending is None:
        pending = []
        chat._shell_context = pending  # type: ignore[attr-defined]
    return pending


def with_context(chat: Chat, text: str) -> str:
    """The message, with the command outputs the user added since the last one in front of it."""
    pending = getattr(chat, "_shell_context", None)
    if not pending:
        return text
    chat._shell_context = []  # type: ignore[attr-defined]
    blocks = []
    for c in pending:
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", c)), default=0))
        blocks.append(f"{fence}\n{c}\n{fence}")  # a fence longer than any run of backticks inside
    return "\n\n".join(blocks) + f"\n\n{text}"


def is_shell_line(chat: Chat, text: str) -> bool:
    """A terminal line that starts with ``!`` (no space before it, not ``!`` alone)."""
    return chat.ui.interactive and text.startswith("!") and len(text.strip()) > 1
