"""`gptcli chat`: the REPL, as a use case on top of ``conversation.Session``.

One loop, two front ends (``render.chat_screen``; ``cli/chat.py`` picks one):

* on a terminal (stdin and stdout both ttys), input comes from prompt_toolkit
  (``chat_input``, imported only on this path) with history, Ctrl-R, bracketed paste
  and a bottom toolbar; replies stream as live Markdown (``render.MarkdownStream``);
  with stdout piped (``chat | tee log``) and stderr a terminal, the prompt, banner and
  command output go to stderr and the replies, plain, to stdout;
* otherwise each line of stdin is a turn (a ``\"\"\"`` line opens and closes a
  multi-line message), replies go to stdout as plain text, and everything else
  (notices, command output, errors, the farewell) goes to stderr, so stdout carries
  the replies only.

Slash commands change the session; an unknown one gets a hint and never reaches the
model. Ctrl-C during a reply cancels it (the partial reply is kept, marked
interrupted) and the chat goes on; Ctrl-C on an empty line or Ctrl-D leaves. Without a
terminal, SIGINT (like SIGTERM anywhere) keeps the partial reply and exits 130.
Errors during a turn are shown and the chat stays open; without a terminal the exit
status is then that of the last failed turn (unless a /retry succeeded), and a missing
key or a broken profile ends the chat at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import signal
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any, Protocol

from . import chat_attach, chat_commands, chat_extras, conversation
from .chat_quotes import unquote
from .errors import AuthError, ConfigError, GptcliError, Interrupted, StreamBroken
from .models import Turn
from .printable import strip_controls

EXIT_WORDS = frozenset({"exit", "quit", "/exit", "/quit", "退出", "再见"})
_COMMAND_RE = re.compile(r"^/([A-Za-z][A-Za-z-]*)(?:\s+(.*))?$", re.DOTALL)
COMMANDS = chat_commands.COMMANDS  # name -> (arguments, what it does): /help and Tab completion


class Printer(Protocol):
    def feed(self, text: str) -> None: ...
    def close(self) -> None: ...


class TurnView(Protocol):
    """One reply as a front end shows it (``render.chat_screen.TurnScreen``)."""

    streamed: bool  # the text was shown as it arrived

    def event(self, event: Any) -> None: ...  # a Preflight, Notice or Delta
    def close(self) -> None: ...  # the stream ended (or failed)
    def failed(self, err: GptcliError) -> None: ...  # the error line (and -v: the server's answer)
    def done(self, turn: Turn) -> None: ...  # what is left to show, and the status line


class Frontend(Protocol):
    interactive: bool

    def read(self) -> str | None: ...
    def reply(self) -> Printer: ...
    def info(self, text: str) -> None: ...
    def status(self, text: str) -> None: ...
    def warn(self, text: str) -> None: ...
    def error(self, err: GptcliError | str) -> None: ...
    def farewell(self, text: str) -> None: ...
    def turn_view(self, *, show_reasoning: bool, verbose: bool) -> TurnView: ...


class _NoFrontend:
    """Until ``run`` is given a front end: a Chat used directly (tests, helpers) has nothing to show."""

    interactive = False

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"Chat.{name}: no front end yet (Chat.run(ui) sets one)")


# --- the loop ------------------------------------------------------------------------------


@dataclasses.dataclass
class Options:
    stream: bool = True
    max_cost: float | None = None
    verbose: bool = False
    tag: str | None = None  # --tag: every reply of the session is billed to it in the log
    tools: Any = None  # a tools.loop.ToolRun: every message runs the tool loop (issue 20)


class Chat:
    def __init__(self, session: conversation.Session, options: Options | None = None) -> None:
        self.session = session
        self.options = options or Options()
        session.tag = self.options.tag
        self.ui: Frontend = _NoFrontend()
        self.failed: GptcliError | None = None  # the last failed turn not yet retried
        self.replies = 0
        self.unpriced = 0
        self.terminating = False
        self._context: conversation.Context | None = None
        self.last_reasoning: str | None = None  # /reasoning shows it
        self.attached: list[Any] = []  # /attach: what the next message carries (chat_attach)

    # -- running --------------------------------------------------------------------------

    def run(self, ui: Frontend) -> int:
        """Read and answer until the user leaves; the exit status."""
        self.ui = ui
        with self._sigterm_exits():
            try:
                if ui.interactive:
                    self._banner()
                while True:
                    try:
                        text = ui.read()
                    except KeyboardInterrupt:
                        if self.terminating or not ui.interactive:
                            raise Interrupted("interrupted") from None
                        text = None
                    if self.terminating:
                        raise Interrupted("terminated")
                    if text is None:
                        self._farewell(None)
                        break
                    if not self.handle(text):
                        break
            finally:
                self.session.close()
        return int(self.failed.exit_code) if self.failed is not None and not ui.interactive else 0

    def handle(self, text: str) -> bool:
        """One input: a message, a command or an exit word. False to leave."""
        stripped = text.strip()
        if not stripped:
            return True
        if stripped.casefold() in EXIT_WORDS:
            self._farewell(stripped)
            return False
        if chat_extras.is_shell_line(self, text):  # !command, on a terminal
            chat_extras.run_shell(self, text[1:].strip())
            return True
        if stripped.startswith("//"):  # a message that starts with "/"
            return self.send(unquote(text.lstrip()[1:]))
        m = _COMMAND_RE.match(stripped)
        if m:
            return chat_commands.command(self, m.group(1).lower(), (m.group(2) or "").strip())
        return self.send(unquote(text))

    def send(self, text: str) -> bool:
        if not text.strip():
            return True
        text = chat_extras.with_context(self, text)  # the !command outputs the user added
        attached = chat_attach.take(self)  # /attach: the next message carries it
        self._exchange(self.turn(text, attached))
        return True

    def turn(self, text: str | None, attachments: Any = None) -> Generator[Any, None, Turn]:
        """One message (None: ``/retry``), through the tool loop when tools are offered;
        ``attachments`` (``/attach``) go with it."""
        if self.options.tools is not None:
            from .tools.loop import run_turn

            return run_turn(self.session, text, self.options.tools, **self._turn_options(), attachments=attachments)
        if text is None:
            return self.session.retry(**self._turn_options())
        return self.session.turn(text, **self._turn_options(), attachments=attachments)

    def _turn_options(self) -> dict[str, Any]:
        return {"stream": self.options.stream, "max_cost": self.options.max_cost, "exact": self.options.verbose}

    def _exchange(self, gen: Generator[Any, None, Turn]) -> Turn | None:
        """Run one request, streaming the reply; errors are shown and the chat goes on."""
        view = self.ui.turn_view(show_reasoning=self.session.profile.show_reasoning, verbose=self.options.verbose)
        self._context = None
        try:
            with self._sigint_cancels():
                try:
                    turn = _drive(gen, _with_tools(view, self.ui))
                finally:
                    view.close()
        except (Interrupted, KeyboardInterrupt) as e:
            if self.terminating or not self.ui.interactive:
                raise Interrupted(str(e) or "interrupted") from None
            if "during the call" in str(e):  # a tool loop's call: what ran is kept
                self.ui.warn(str(e))
            elif "partial reply" not in str(e):
                self.ui.warn("interrupted before the reply began (/retry sends the question again)")
            elif self.session.log:
                self.ui.warn("interrupted: the partial reply is kept, marked interrupted (/retry regenerates it)")
            else:
                self.ui.warn(
                    "interrupted: the partial reply stays in this chat, not saved (--no-log; /retry regenerates it)"
                )
            return None
        except GptcliError as e:
            self.failed = e
            if not self.ui.interactive and isinstance(e, AuthError | ConfigError):
                raise  # every later line would fail the same way
            view.failed(e)
            last = self.session.messages[-1]["role"] if self.session.messages else None
            if self.session.failed_turn is not None:
                self.ui.status("the question is kept in the log, marked failed, and not sent again; /retry resends it")
            elif last == "assistant" and isinstance(e, StreamBroken):
                self.ui.warn("the partial reply is kept, marked incomplete (/retry regenerates it)")
            return None
        self.last_reasoning = turn.completion.reasoning
        self.replies += 1
        if turn.cost is None:
            self.unpriced += 1
        view.done(turn)
        return turn

    # -- signals ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _sigint_cancels(self) -> Iterator[None]:
        """During a reply, the first Ctrl-C cancels it; more are ignored until it is cleaned up.

        SIGINT ignored when gptcli started (a chat a script started with ``&``) stays ignored.
        """
        ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        if threading.current_thread() is not threading.main_thread() or ignored:
            yield
            return

        def cancel(signum: int, frame: Any) -> None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGINT, cancel)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old)

    @contextlib.contextmanager
    def _sigterm_exits(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def terminate(signum: int, frame: Any) -> None:
            self.terminating = True
            raise KeyboardInterrupt

        # A closed terminal ends the chat as SIGTERM does; a signal ignored at start (nohup) stays ignored.
        sigs = [s for s in (signal.SIGTERM, signal.SIGHUP) if signal.getsignal(s) is not signal.SIG_IGN]
        old = {s: signal.signal(s, terminate) for s in sigs}
        try:
            yield
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)

    # -- status --------------------------------------------------------------------------

    def toolbar(self) -> str:
        prof = self.session.profile
        if self._context is None:
            try:
                self._context = self.session.context()
            except Exception:  # advisory only: the toolbar must never break input
                self._context = conversation.Context(0, False, None, 0)
        ctx = self._context
        used = f"{'' if ctx.exact else '~'}{ctx.tokens:,}" + (f"/{ctx.window:,}" if ctx.window else "")
        cost = chat_commands.cost_text(self)
        return f" {prof.name} · {prof.model} · {used} tokens · {cost} · /help · Esc-Enter: new line "

    def _banner(self) -> None:
        prof = self.session.profile
        n = sum(1 for m in self.session.messages if m["role"] == "user")
        title = f" “{strip_controls(self.session.title)}”" if self.session.title else ""
        resumed = f" · resumed {self.session.conversation_id or 'a conversation'}{title} ({n} exchanges)" if n else ""
        self.ui.status(f"gptcli chat · {prof.name} · {prof.model}{resumed} · /help for commands, Ctrl-D to leave")

    def _farewell(self, word: str | None) -> None:
        bye = "再见！" if word is not None and not word.isascii() else "Bye!"
        cid = self.session.conversation_id
        if cid is not None:
            bye += f" (saved as {cid}; continue with: gptcli chat --cid {cid})"
        self.ui.farewell(bye)


def _drive(gen: Generator[Any, None, Turn], on_event: Callable[[Any], None]) -> Turn:
    """Run a turn; a Ctrl-C that lands while an event is handled is passed into the session."""
    try:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                turn: Turn = stop.value
                return turn
            on_event(event)
    except KeyboardInterrupt:
        # Let the session keep what arrived (it raises Interrupted) before we give up.
        gen.throw(KeyboardInterrupt())
        raise


def _with_tools(view: Any, ui: Any) -> Callable[[Any], None]:
    """The view's event handler, with a tool loop's events: the spinner stops before a call is
    decided (the user may be asked); a finished call is a status line, or a warning when it
    went wrong."""
    from .tools.calls import ToolFinished
    from .tools.loop import ToolRequested

    def on_event(event: Any) -> None:
        if isinstance(event, ToolRequested):
            view.spinner.stop()
        elif isinstance(event, ToolFinished):
            warning = event.record.warning()
            ui.warn(warning) if warning is not None else ui.status(event.record.line())
        else:
            view.event(event)

    return on_event
