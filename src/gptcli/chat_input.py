"""Terminal input for ``gptcli chat`` (and ``gptcli cmd``'s line editor): the only module that imports prompt_toolkit.

Imported only on the interactive chat path, so every other command (and chat without a
terminal) never pays for it. It owns the keys:

* Enter sends; Esc-Enter (what Alt-Enter sends) inserts a new line; a message opened
  with ``\"\"\"`` takes Enter as a new line until a line ends with ``\"\"\"``;
* a bracketed paste stays one message, newlines and all (prompt_toolkit inserts it);
* Up/Down walk the history, Ctrl-R searches it; the history file is kept in the data
  dir, 0600, across sessions (not with ``--no-log``: then nothing is kept);
* Ctrl-C clears a line that has text and leaves on an empty one; Ctrl-D on an empty
  line leaves; Ctrl-X Ctrl-E edits the message in $EDITOR; Tab completes /commands.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import WordCompleter
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from . import settings

QUOTES = '"""'
PROMPT = "> "


def history_path() -> Path:
    return settings.data_dir() / "chat_history"


def open_history(path: Path | None) -> History:
    """The input history: a private file (0600 in a 0700 dir), or memory only."""
    if path is None:
        return InMemoryHistory()
    settings.ensure_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return FileHistory(str(path))


def open_block(text: str) -> bool:
    """A ``\"\"\"`` message still waiting for its closing quotes."""
    s = text.strip()
    if not s.startswith(QUOTES):
        return False
    return not (len(s) >= 6 and s.endswith(QUOTES))


def key_bindings() -> KeyBindings:
    kb = KeyBindings()

    @Condition
    def in_block() -> bool:
        from prompt_toolkit.application import get_app

        return open_block(get_app().current_buffer.text)

    @kb.add("enter", filter=in_block)
    def _newline_in_block(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @kb.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @kb.add("c-c")
    def _cancel(event: KeyPressEvent) -> None:
        buf = event.current_buffer
        if buf.text:
            buf.reset()  # like a shell: Ctrl-C drops the line being typed
        else:
            event.app.exit(exception=KeyboardInterrupt, style="class:aborting")

    return kb


def _continuation(width: int, line_number: int, wrap_count: int) -> str:
    return "… ".rjust(width)


class TerminalInput:
    """Reads one message at a time from the terminal; None when the user leaves."""

    def __init__(
        self, *, toolbar: Callable[[], str], history_file: Path | None, words: list[str], on_stderr: bool = False
    ) -> None:
        output: Any = None
        if on_stderr:  # stdout is a pipe (chat | tee log): draw the prompt on the terminal's stderr
            import sys

            from prompt_toolkit.output import create_output

            output = create_output(stdout=sys.stderr)
        self.session: PromptSession[str] = PromptSession(
            output=output,
            history=open_history(history_file),
            key_bindings=key_bindings(),
            bottom_toolbar=toolbar,
            completer=WordCompleter(words, pattern=None, sentence=True),
            complete_while_typing=False,
            prompt_continuation=_continuation,
            enable_open_in_editor=True,
            multiline=False,
        )

    def read(self) -> str | None:
        try:
            text: Any = self.session.prompt(PROMPT)
        except (EOFError, KeyboardInterrupt):
            return None
        return str(text)


def edit_line(text: str, prompt: str = "$ ") -> str:
    """One line prefilled with ``text`` for editing (``gptcli cmd``'s ``e``); Enter accepts it.

    Ctrl-C or Ctrl-D gives the text back unchanged.
    """
    session: PromptSession[str] = PromptSession()
    try:
        return session.prompt(prompt, default=text)
    except (KeyboardInterrupt, EOFError):
        return text
