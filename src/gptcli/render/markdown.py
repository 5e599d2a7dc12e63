"""Live Markdown: a streamed reply rendered as it arrives, and whole Markdown documents.

rich is imported inside the functions that draw, so that scripts piping ``gptcli ask``
never pay for it.
"""

from __future__ import annotations

import re
from typing import Any

from .echo import EchoOff

_FENCE_RE = re.compile(r"^( {0,3})(`{3,}|~{3,})([^`]*)$")
_ITEM_RE = re.compile(r"^(?:[-*+]|\d{1,9}[.)])\s|^#{1,6}\s")
_UNDERLINE_RE = re.compile(r"^ {0,3}(?:=+|-+)\s*$")
CODE_LINES = 6  # a long code block is printed (highlighted) this many finished lines at a time


class _Fence:
    """An open code fence: its marker (```` ``` ```` or ``~~~``, maybe longer) and its language."""

    def __init__(self, indent: str, marker: str, info: str) -> None:
        self.indent = indent
        self.marker = marker
        self.lexer = info.strip().split(" ", 1)[0] or "text"

    @classmethod
    def opening(cls, line: str) -> _Fence | None:
        m = _FENCE_RE.match(line.rstrip("\n"))
        return cls(m.group(1), m.group(2), m.group(3)) if m else None

    def closes(self, line: str) -> bool:
        stripped = line.strip()
        return (
            len(line) - len(line.lstrip(" ")) <= 3
            and stripped.startswith(self.marker)
            and stripped == self.marker[0] * len(stripped)
        )


class MarkdownStream:
    """Live Markdown on a terminal whose cost per token stays flat as the reply grows.

    Finished blocks are printed once and never rendered again; only the unfinished
    tail is live, redrawn by rich at a fixed rate rather than on every token. The tail
    is kept short: a block ends at a blank line outside a code fence; a long code
    block is printed a few finished lines at a time (highlighted with the same lexer
    and padding, so the seams do not show); a long list or paragraph is cut at a line
    boundary (preferably before a list item or heading). A naive re-render of the
    whole reply on every token is quadratic in its length (bench/bench_render.py).
    """

    def __init__(
        self,
        console: Any = None,
        refresh_per_second: float = 8,
        *,
        auto_refresh: bool = True,
        code_theme: str = "monokai",
    ) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console(highlight=False)
        self.code_theme = code_theme
        self.tail = ""
        self._fence: _Fence | None = None  # a code block whose top is printed; the tail holds its next lines
        self._code_top = False  # the printed part of that block had its top padding
        self._gap = False  # a blank line is due before the next block
        self._printed = False
        self._code_bg: Any = None
        self._checked = 0  # tail length at the last settle (an endless line is checked now and then)
        width, height = self.console.size
        self.max_lines = max(4, min(16, height // 2))
        self.max_chars = self.max_lines * max(40, width)
        self._view: tuple[str, _Fence | None, bool] = ("", None, False)
        self.live = Live(
            _Lazy(self),
            console=self.console,
            refresh_per_second=refresh_per_second,
            auto_refresh=auto_refresh,
            transient=True,
            vertical_overflow="visible",
        )
        self._echo = EchoOff(self.console.file)  # a ^C echoed into the live region would print a line twice
        self.live.start()

    # -- feeding -----------------------------------------------------------------------

    def feed(self, text: str) -> None:
        from .safe import clean

        self.tail += clean(text)  # rich passes ESC through: a reply's sequences are shown, not obeyed
        if "\n" in text or len(self.tail) > self._checked + self.max_chars:
            self._settle()
            self._checked = len(self.tail)
        self._view = (self.tail, self._fence, self._gap and self._printed)

    def refresh(self) -> None:
        """Redraw the live tail now (rich also does it on its own, ``refresh_per_second`` times)."""
        self.live.refresh()

    def close(self) -> None:
        try:
            self._settle()
            self._view = ("", None, False)
            self.live.stop()
        finally:
            self._echo.restore()
        if self._fence is not None:
            self._print_code(self.tail, last=True)
            self._fence = None
        elif self.tail.strip():
            self._print_md(self.tail)
        self.tail = ""

    def _settle(self) -> None:
        """Print what is finished, leaving a short unfinished tail."""
        while self._settle_code() if self._fence is not None else self._settle_markdown():
            pass

    def _settle_code(self) -> bool:
        fence = self._fence
        assert fence is not None
        end = self.tail.rfind("\n") + 1
        if not end:
            if len(self.tail) > 4 * self.max_chars:  # one endless line
                self._print_code(self.tail, last=False)
                self.tail = ""
            return False
        lines = self.tail[:end].splitlines(keepends=True)
        for i, line in enumerate(lines):
            if fence.closes(line):
                self._print_code("".join(lines[:i]), last=True)
                self.tail = "".join(lines[i + 1 :]) + self.tail[end:]
                self._fence = None
                self._gap = True
                return True
        if len(lines) >= CODE_LINES or end >= self.max_chars:
            self._flush_code(lines, end)
        return False

    def _flush_code(self, lines: list[str], end: int) -> None:
        # A chunk never ends on a blank line (rich's Syntax would drop it): keep those in the tail.
        n = len(lines)
        while n > 1 and not lines[n - 1].strip():
            n -= 1
        cut = sum(len(line) for line in lines[:n])
        self._print_code(self.tail[:cut], last=False)
        self.tail = self.tail[cut:]

    def _settle_markdown(self) -> bool:
        end = self.tail.rfind("\n") + 1
        if not end:
            if len(self.tail) > 4 * self.max_chars:  # one endless line: print it as it stands
                self._print_md(self.tail)
                self.tail = ""
                self._gap = False
            return False
        lines = self.tail[:end].splitlines(keepends=True)
        pos = stable = 0
        fence: _Fence | None = None
        fence_at = fence_line = 0
        table = False
        for line in lines:
            after = pos + len(line)
            if fence is not None:
                if fence.closes(line):
                    fence = None
                    stable = after
            elif (opened := _Fence.opening(line)) is not None:
                fence, fence_at, fence_line = opened, pos, after
            elif not line.strip():
                stable = after
                table = False
            elif line.lstrip().startswith("|"):
                table = True
            pos = after
        if stable:
            self._print_md(self.tail[:stable])
            self.tail = self.tail[stable:]
            self._gap = True
            return True
        if fence is not None:
            if not fence.indent and (
                end - fence_line >= self.max_chars or self.tail.count("\n", fence_line, end) >= self.max_lines
            ):
                # A long code block: print its top now, then a few finished lines at a time.
                if self.tail[:fence_at].strip():
                    self._print_md(self.tail[:fence_at])
                    self._gap = True
                self._fence = fence
                self._code_top = False
                self.tail = self.tail[fence_line:]
                return True
            return False
        if (len(lines) >= self.max_lines or end >= self.max_chars) and (not table or len(lines) >= 200):
            cut = self._forced_cut(lines)
            if cut:
                self._print_md(self.tail[:cut])
                self.tail = self.tail[cut:]
                self._gap = False
                return True
        return False

    @staticmethod
    def _forced_cut(lines: list[str]) -> int:
        """Where to cut a long block: before the last list item or heading, else after the last whole line."""
        pos = [0]
        for line in lines:
            pos.append(pos[-1] + len(line))
        for i in range(len(lines) - 1, 0, -1):
            if _ITEM_RE.match(lines[i]):
                return pos[i]
        n = len(lines)
        while n > 1 and _UNDERLINE_RE.match(lines[n - 1]):  # a setext underline belongs to its heading
            n -= 1
        return pos[n]

    # -- printing finished parts ---------------------------------------------------

    def _md(self, text: str) -> Any:
        from .linebreaks import markdown

        return markdown(text, self.code_theme)  # single newlines stay line breaks

    def _code_background(self) -> Any:
        if self._code_bg is None:
            from rich.syntax import Syntax

            self._code_bg = Syntax.get_theme(self.code_theme).get_background_style()
        return self._code_bg

    def _code(self, code: str, lexer: str, top: bool, bottom: bool) -> Any:
        from rich.syntax import Syntax

        return Syntax(code, lexer, theme=self.code_theme, word_wrap=True, padding=(int(top), 1, int(bottom), 1))

    def _emit(self, renderable: Any, *, trim: bool) -> None:
        from rich.segment import Segment

        lines = self.console.render_lines(renderable, self.console.options, pad=False)
        if trim:
            while lines and _blank(lines[0]):
                lines.pop(0)
            while lines and _blank(lines[-1]):
                lines.pop()
        if not lines:
            return
        if self._gap and self._printed:
            lines.insert(0, [])
        self.console.print(_Lines([[*line, Segment.line()] for line in lines]), end="")
        self._printed = True

    def _print_md(self, text: str) -> None:
        self._emit(self._md(text), trim=True)

    def _print_code(self, code: str, *, last: bool) -> None:
        assert self._fence is not None
        code = code.rstrip() if last else code[:-1] if code.endswith("\n") else code
        if not code and not last:
            return
        if not code and self._code_top:  # only the bottom padding is left: one empty code line
            last = False
        self._emit(self._code(code, self._fence.lexer, not self._code_top, last), trim=False)
        self._code_top = True
        self._gap = False


def _blank(line: list[Any]) -> bool:
    """An empty line without a background (code block padding is not blank)."""
    for seg in line:
        if seg.text.strip():
            return False
        style = seg.style
        if style is not None and (style.bgcolor is not None or style.reverse):
            return False
    return True


class _Lines:
    """Already rendered lines, printed as they are."""

    def __init__(self, lines: list[list[Any]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Any, options: Any) -> Any:
        for line in self.lines:
            yield from line


class _Lazy:
    """Renders the tail when rich refreshes, not when a token arrives."""

    def __init__(self, stream: MarkdownStream) -> None:
        self.stream = stream

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        tail, fence, gap = self.stream._view
        if not tail.strip():
            return
        if gap:
            yield Text("")
        if fence is not None:
            # Unhighlighted until printed (a few lines later): rich's Syntax costs milliseconds a redraw.
            from rich.padding import Padding

            bg = self.stream._code_background()
            yield Padding(Text(tail.rstrip("\n"), style=bg), (0, 1), style=bg, expand=True)
        else:
            yield self.stream._md(tail)


def print_markdown(text: str) -> None:
    from rich.console import Console

    from .linebreaks import markdown
    from .safe import clean

    Console().print(markdown(clean(text)))
