"""The chat's two front ends and how a turn looks on them (``chat.Frontend``, ``chat.TurnView``).

* ``LineFrontend``: no terminal; a turn per line of stdin (a ``\"\"\"`` line opens and
  closes a multi-line message), replies on stdout, everything else on stderr;
* ``TerminalFrontend``: prompt_toolkit input (``chat_input``, imported only here), live
  Markdown replies, status lines in grey; with stdout piped (``chat | tee log``) the
  prompt and command output go to stderr and the replies, plain, to stdout;
* ``TurnScreen``: one reply as it streams (the spinner, the thinking, the text) and the
  status line after it; ``reprint``: a resumed conversation's last exchanges.

They print; the chat loop (``chat.Chat``) calls them and imports none of this.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

from ..chat_quotes import QUOTES, closed
from ..errors import GptcliError, UsageError
from ..models import Delta, Notice, Preflight, Turn, usd
from ..printable import strip_controls
from .markdown import MarkdownStream
from .safe import clean
from .text import PlainStream, Status, cost_range, detail_text, isatty, print_error
from .thinking import ReasoningStream, Spinner, folded, usage_text


class _StderrLines:
    """What both front ends print the same way: status, warnings and errors on stderr."""

    _status: Status
    interactive: bool

    def status(self, text: str) -> None:
        self._status(text)

    def warn(self, text: str) -> None:
        self._status.warn(text)

    def error(self, err: GptcliError | str) -> None:
        print_error(err)

    def farewell(self, text: str) -> None:
        print(clean(text), file=sys.stderr, flush=True)

    def turn_view(self, *, show_reasoning: bool, verbose: bool) -> TurnScreen:
        return TurnScreen(self, show_reasoning=show_reasoning, verbose=verbose)

    def reply(self) -> Any:  # the front end's own
        raise NotImplementedError

    def info(self, text: str) -> None:  # the front end's own
        raise NotImplementedError


class LineFrontend(_StderrLines):
    """No terminal: a turn per line of stdin; replies on stdout, the rest on stderr."""

    interactive = False

    def __init__(self, stdin: IO[bytes], *, verbose: bool = False) -> None:
        self._lines = _decoded_lines(stdin)
        self._status = Status(verbose)
        self.verbose = verbose

    def read(self) -> str | None:
        for line in self._lines:
            if not line.strip():
                continue
            if line.lstrip().startswith(QUOTES):
                return self._block(line)
            return line
        return None

    def _block(self, first: str) -> str:
        """A ``\"\"\"`` message: from the opening line to the line that ends with ``\"\"\"``."""
        lines = [first]
        if closed(first):
            return first
        for line in self._lines:
            lines.append(line)
            if line.rstrip().endswith(QUOTES):
                break
        return "\n".join(lines)

    def reply(self) -> PlainStream:
        return PlainStream()

    def info(self, text: str) -> None:
        print(clean(text), file=sys.stderr, flush=True)


def _decoded_lines(stdin: IO[bytes]) -> Iterator[str]:
    """stdin's lines as text, one at a time (a pipe is answered as it comes); bad bytes are a usage error."""
    for lineno, raw in enumerate(iter(stdin.readline, b""), start=1):
        if b"\x00" in raw:
            raise UsageError(f"stdin line {lineno} looks binary (it contains NUL bytes); gptcli takes text")
        try:
            line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(f"stdin line {lineno} is not UTF-8 text (bad byte at offset {e.start})") from None
        yield line.rstrip("\r\n")


class TerminalFrontend(_StderrLines):
    """A terminal: prompt_toolkit input, live Markdown replies, status lines in grey."""

    interactive = True

    def __init__(
        self,
        *,
        toolbar: Callable[[], str],
        words: list[str],
        history: bool,
        raw: bool = False,
        replies_piped: bool = False,
    ) -> None:
        from .. import chat_input  # prompt_toolkit: only on this path

        self.input = chat_input.TerminalInput(
            toolbar=toolbar,
            history_file=chat_input.history_path() if history else None,
            words=words,
            on_stderr=replies_piped,
        )
        self.raw = raw
        # `gptcli chat | tee log`: the prompt, banner and command output on the terminal (stderr),
        # the replies alone on stdout, plain text streamed as it arrives.
        self.replies_piped = replies_piped
        self._status = Status(True)

    def read(self) -> str | None:
        return self.input.read()

    def reply(self) -> PlainStream | MarkdownStream:
        if self.replies_piped:
            return PlainStream(live=True)
        return PlainStream() if self.raw else MarkdownStream()

    def info(self, text: str) -> None:
        print(clean(text), file=sys.stderr if self.replies_piped else sys.stdout, flush=True)  # /history, /show


class TurnScreen:
    """One reply on a front end: a spinner until the first answer token (or the thinking
    itself, dimmed, with ``show_reasoning``), the text as it streams, the status line after."""

    def __init__(self, ui: _StderrLines, *, show_reasoning: bool, verbose: bool) -> None:
        self.ui = ui
        self.verbose = verbose
        self.show_reasoning = show_reasoning
        self.spinner = Spinner(enabled=ui.interactive and isatty(sys.stderr))
        self.show = show_reasoning and ui.interactive
        self.thoughts = ReasoningStream()
        self.printer: Any = None
        self.streamed = False

    @property
    def shown(self) -> bool:
        """Whether the thinking was streamed already."""
        return self.thoughts.started

    def event(self, event: Any) -> None:
        if isinstance(event, Preflight):
            if self.verbose:
                self.ui.status(
                    f"{event.model} · {'' if event.exact else '~'}{event.prompt_tokens:,} prompt tokens · "
                    f"{cost_range(event.cost_min, event.cost_max)}"
                )
            self.spinner.start()
        elif isinstance(event, Notice):
            with self.spinner.paused():
                if event.level == "warning":
                    self.ui.warn(event.text)
                else:
                    self.ui.status(event.text)
        elif isinstance(event, Delta) and event.index == 0:
            self._delta(event)

    def _delta(self, event: Delta) -> None:
        if event.reasoning:
            if self.show:
                self.spinner.stop()
                self.thoughts.feed(event.reasoning)
            else:
                self.spinner.thinking()
        if not event.text:
            return
        self.spinner.stop()
        self.thoughts.close()
        if self.printer is None:
            self.printer = self.ui.reply()
            self.streamed = True
        self.printer.feed(event.text)

    def close(self) -> None:
        self.spinner.stop()
        self.thoughts.close()
        if self.printer is not None:
            self.printer.close()
            self.printer = None

    def failed(self, err: GptcliError) -> None:
        self.ui.error(err)
        if self.verbose and err.detail:  # the server's whole answer: -v only (issue 15)
            self.ui.status("the server's answer: " + (detail_text(err) or "").replace("\n", " | ")[:2000])

    def done(self, turn: Turn) -> None:
        """After the reply: the whole thinking or reply if not streamed, the other choices, the status line."""
        c = turn.completion
        shown = self.shown
        if c.reasoning and self.show_reasoning and self.ui.interactive and not shown:
            stream = ReasoningStream()
            stream.feed(c.reasoning)
            stream.close()
        if not self.streamed:  # --no-stream, or a server that sent no text: print it whole
            whole = self.ui.reply()
            if c.text:
                whole.feed(c.text)
            whole.close()
        for i, choice in enumerate(c.texts[1:], start=2):
            self.ui.info(f"--- choice {i} of {len(c.texts)} (the conversation goes on with choice 1) ---")
            printer = self.ui.reply()
            printer.feed(choice)
            printer.close()
        if c.reasoning and not shown and not self.show_reasoning:
            self.ui.status(folded(c.reasoning))  # dimmed and folded; /reasoning unfolds it
        usage = usage_text(c.usage)
        self.ui.status(
            f"{c.model} · {usage} · {usd(turn.cost)}{' (estimated)' if turn.cost_estimated else ''}"
            f" · {c.latency:.2f} s" + (f" · finish: {c.finish_reason}" if c.finish_reason not in ("stop", None) else "")
        )


def reprint(ui: Any, records: list[dict[str, Any]], exchanges: int) -> None:
    """The last ``exchanges`` exchanges of a resumed conversation, as the chat showed them."""
    starts = [i for i, r in enumerate(records) if r.get("role") == "user"]
    if not starts:
        return
    first = starts[-exchanges] if exchanges < len(starts) else starts[0]
    if first > starts[0]:
        ui.status(f"… {starts.index(first)} earlier exchange{'s' if starts.index(first) != 1 else ''} not shown")
    for r in records[first:]:
        text = str(r.get("content") or "")
        if r.get("role") == "user":
            ui.info(_PROMPT + strip_controls(text))
            if r.get("failed"):
                why = strip_controls(str(r.get("error") or "no reply"))
                ui.warn(f"this question failed ({why}); /retry sends it again")
        elif r.get("role") == "assistant":
            printer = ui.reply()
            printer.feed(text)
            printer.close()
            if r.get("interrupted") or r.get("incomplete"):
                ui.status("(the reply above was cut short)")
    ui.status("─" * 20 + " resumed " + "─" * 20)


_PROMPT = "> "
