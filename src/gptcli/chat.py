"""`gptcli chat`: the REPL, as a use case on top of ``conversation.Session``.

One loop, two front ends:

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
import difflib
import json
import re
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from datetime import date
from typing import IO, Any, Protocol

from . import chat_attach, chat_extras, conversation, profiles, render, store
from .errors import AuthError, ConfigError, GptcliError, Interrupted, StreamBroken, UsageError
from .models import Delta, Notice, Preflight, Profile, Turn

EXIT_WORDS = frozenset({"exit", "quit", "/exit", "/quit", "退出", "再见"})
_COMMAND_RE = re.compile(r"^/([A-Za-z][A-Za-z-]*)(?:\s+(.*))?$", re.DOTALL)
QUOTES = '"""'

# name -> (arguments, what it does)
COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("", "this list"),
    "system": ("[TEXT]", "show or set the system prompt (/system --clear removes it)"),
    "model": ("[NAME]", "show or switch the model"),
    "profile": ("[NAME]", "switch profile: model, sampling and system prompt"),
    "set": (
        "[KEY VALUE]",
        "show the settings or change one: temperature, top_p, max_tokens, n, stop, seed... "
        "(VALUE is JSON or a word; 'none' unsets)",
    ),
    "reset": ("", "start a new conversation (same settings)"),
    "undo": ("", "drop the last exchange"),
    "retry": ("", "regenerate the last reply, or resend a question whose reply failed"),
    "title": ("[TEXT]", "show or set this conversation's title (replay and the resume list show it)"),
    "x": ("[all]", "print the last reply's first code block plain, to copy (/x all: every block)"),
    "tokens": ("", "tokens in context against the model's window"),
    "reasoning": ("", "the last reply's thinking, in full (reasoning models)"),
    "cost": ("", "this session's cost so far"),
    "save-profile": ("NAME [--force]", "save the current settings as a TOML profile"),
    **chat_extras.COMMANDS,  # /copy, /edit
    **chat_attach.COMMANDS,  # /attach, /attachments, /detach
    "exit": ("", "leave (also /quit, exit, quit, 退出, 再见, Ctrl-D)"),
}
_ALIASES = {"quit": "exit", "q": "exit", "h": "help", "?": "help"}
# Keys /set refuses: secrets and tables of them belong in a profile file.
_NO_SET = frozenset({"headers", "api_key_cmd"})
_UNSET_WORDS = frozenset({"none", "null", "default", "off", "unset"})


class Printer(Protocol):
    def feed(self, text: str) -> None: ...
    def close(self) -> None: ...


class Frontend(Protocol):
    interactive: bool

    def read(self) -> str | None: ...
    def reply(self) -> Printer: ...
    def info(self, text: str) -> None: ...
    def status(self, text: str) -> None: ...
    def warn(self, text: str) -> None: ...
    def error(self, err: GptcliError | str) -> None: ...
    def farewell(self, text: str) -> None: ...


# --- the two front ends -----------------------------------------------------------------


class _StderrLines:
    """What both front ends print the same way: status, warnings and errors on stderr."""

    _status: render.Status

    def status(self, text: str) -> None:
        self._status(text)

    def warn(self, text: str) -> None:
        self._status.warn(text)

    def error(self, err: GptcliError | str) -> None:
        render.print_error(err)

    def farewell(self, text: str) -> None:
        print(render.clean(text), file=sys.stderr, flush=True)


class LineFrontend(_StderrLines):
    """No terminal: a turn per line of stdin; replies on stdout, the rest on stderr."""

    interactive = False

    def __init__(self, stdin: IO[bytes], *, verbose: bool = False) -> None:
        self._lines = _decoded_lines(stdin)
        self._status = render.Status(verbose)
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
        if _closed(first):
            return first
        for line in self._lines:
            lines.append(line)
            if line.rstrip().endswith(QUOTES):
                break
        return "\n".join(lines)

    def reply(self) -> Printer:
        return render.PlainStream()

    def info(self, text: str) -> None:
        print(render.clean(text), file=sys.stderr, flush=True)


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

    def __init__(self, chat: Chat, *, history: bool, raw: bool = False, replies_piped: bool = False) -> None:
        from . import chat_input  # prompt_toolkit: only on this path

        self.input = chat_input.TerminalInput(
            toolbar=chat.toolbar,
            history_file=chat_input.history_path() if history else None,
            words=[f"/{name}" for name in COMMANDS],
            on_stderr=replies_piped,
        )
        self.raw = raw
        # `gptcli chat | tee log`: the prompt, banner and command output on the terminal (stderr),
        # the replies alone on stdout, plain text streamed as it arrives.
        self.replies_piped = replies_piped
        self._status = render.Status(True)

    def read(self) -> str | None:
        return self.input.read()

    def reply(self) -> Printer:
        if self.replies_piped:
            return render.PlainStream(live=True)
        return render.PlainStream() if self.raw else render.MarkdownStream()

    def info(self, text: str) -> None:
        print(render.clean(text), file=sys.stderr if self.replies_piped else sys.stdout, flush=True)  # /history, /show


# --- the loop ------------------------------------------------------------------------------


@dataclasses.dataclass
class Options:
    stream: bool = True
    max_cost: float | None = None
    verbose: bool = False
    tag: str | None = None  # --tag: every reply of the session is billed to it in the log


class Chat:
    def __init__(self, session: conversation.Session, options: Options | None = None) -> None:
        self.session = session
        self.options = options or Options()
        session.tag = self.options.tag
        self.ui: Frontend = LineFrontend(sys.stdin.buffer)
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
            return self.command(m.group(1).lower(), (m.group(2) or "").strip())
        return self.send(unquote(text))

    def send(self, text: str) -> bool:
        if not text.strip():
            return True
        text = chat_extras.with_context(self, text)  # the !command outputs the user added
        attached = chat_attach.take(self)  # /attach: the next message carries it
        self._exchange(self.session.turn(text, **self._turn_options(), attachments=attached))
        return True

    def _turn_options(self) -> dict[str, Any]:
        return {"stream": self.options.stream, "max_cost": self.options.max_cost, "exact": self.options.verbose}

    def _exchange(self, gen: Generator[Any, None, Turn]) -> Turn | None:
        """Run one request, streaming the reply; errors are shown and the chat goes on."""
        printer: Printer | None = None
        streamed = False
        turn: Turn | None = None
        # On a terminal: a spinner until the first answer token (or the thinking itself, dimmed).
        spinner = render.Spinner(enabled=self.ui.interactive and render.isatty(sys.stderr))
        show = self.session.profile.show_reasoning and self.ui.interactive
        thoughts = render.ReasoningStream()

        def on_event(event: Any) -> None:
            nonlocal printer
            if isinstance(event, Preflight):
                if self.options.verbose:
                    self.ui.status(
                        f"{event.model} · {'' if event.exact else '~'}{event.prompt_tokens:,} prompt tokens · "
                        f"{render.cost_range(event.cost_min, event.cost_max)}"
                    )
                spinner.start()
            elif isinstance(event, Notice):
                with spinner.paused():
                    if event.level == "warning":
                        self.ui.warn(event.text)
                    else:
                        self.ui.status(event.text)
            elif isinstance(event, Delta) and event.index == 0:
                nonlocal streamed
                if event.reasoning:
                    if show:
                        spinner.stop()
                        thoughts.feed(event.reasoning)
                    else:
                        spinner.thinking()
                if not event.text:
                    return
                spinner.stop()
                thoughts.close()
                if printer is None:
                    printer = self.ui.reply()
                    streamed = True
                printer.feed(event.text)

        self._context = None
        try:
            with self._sigint_cancels():
                try:
                    turn = _drive(gen, on_event)
                finally:
                    spinner.stop()
                    thoughts.close()
                    if printer is not None:
                        printer.close()
                        printer = None
        except (Interrupted, KeyboardInterrupt) as e:
            if self.terminating or not self.ui.interactive:
                raise Interrupted(str(e) or "interrupted") from None
            if "partial reply" not in str(e):
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
            self.ui.error(e)
            if self.options.verbose and e.detail:  # the server's whole answer: -v only (issue 15)
                self.ui.status("the server's answer: " + (render.detail_text(e) or "").replace("\n", " | ")[:2000])
            last = self.session.messages[-1]["role"] if self.session.messages else None
            if self.session.failed_turn is not None:
                self.ui.status("the question is kept in the log, marked failed, and not sent again; /retry resends it")
            elif last == "assistant" and isinstance(e, StreamBroken):
                self.ui.warn("the partial reply is kept, marked incomplete (/retry regenerates it)")
            return None
        self._after(turn, streamed, shown=thoughts.started)
        return turn

    def _after(self, turn: Turn, streamed: bool, *, shown: bool = False) -> None:
        c = turn.completion
        self.last_reasoning = c.reasoning
        if c.reasoning and show_whole(self.session.profile, self.ui.interactive, shown):
            stream = render.ReasoningStream()
            stream.feed(c.reasoning)
            stream.close()
        if not streamed:  # --no-stream, or a server that sent no text: print it whole
            whole = self.ui.reply()
            if c.text:
                whole.feed(c.text)
            whole.close()
        for i, choice in enumerate(c.texts[1:], start=2):
            self.ui.info(f"--- choice {i} of {len(c.texts)} (the conversation goes on with choice 1) ---")
            printer = self.ui.reply()
            printer.feed(choice)
            printer.close()
        self.replies += 1
        if turn.cost is None:
            self.unpriced += 1
        if c.reasoning and not shown and not self.session.profile.show_reasoning:
            self.ui.status(render.folded(c.reasoning))  # dimmed and folded; /reasoning unfolds it
        usage = render.usage_text(c.usage)
        self.ui.status(
            f"{c.model} · {usage} · {render.usd(turn.cost)}{' (estimated)' if turn.cost_estimated else ''}"
            f" · {c.latency:.2f} s" + (f" · finish: {c.finish_reason}" if c.finish_reason not in ("stop", None) else "")
        )

    # -- signals ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _sigint_cancels(self) -> Iterator[None]:
        """During a reply, the first Ctrl-C cancels it; more are ignored until it is cleaned up."""
        if threading.current_thread() is not threading.main_thread():
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

        old = signal.signal(signal.SIGTERM, terminate)
        old_hup = signal.signal(signal.SIGHUP, terminate)  # a closed terminal ends the chat the same way
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, old)
            signal.signal(signal.SIGHUP, old_hup)

    # -- commands -------------------------------------------------------------------------

    def command(self, name: str, arg: str) -> bool:
        name = _ALIASES.get(name, name)
        if name == "exit":
            self._farewell(None)
            return False
        handler: Callable[[str], None] | None = getattr(self, "cmd_" + name.replace("-", "_"), None)
        if name not in COMMANDS or handler is None:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f"did you mean /{close[0]}? " if close else ""
            self.ui.warn(
                f"unknown command /{name}: {hint}/help lists the commands (// sends a message starting with /)"
            )
            return True
        try:
            handler(arg)
        except GptcliError as e:
            self.ui.error(e)
        return True

    def cmd_help(self, arg: str) -> None:
        width = max(len(f"/{n} {a}".strip()) for n, (a, _) in COMMANDS.items())
        lines = [f"  {f'/{n} {a}'.strip():<{width}}  {h}" for n, (a, h) in COMMANDS.items()]
        lines.append("")
        lines.append("  A message: type it and press Enter. Multi-line: paste it, press Esc-Enter (Alt-Enter) for")
        lines.append('  a new line, or open and close it with """. Ctrl-C cancels a reply; Ctrl-D leaves.')
        if self.ui.interactive:
            lines.append(f"  {chat_extras.SHELL_HELP}.")
        self.ui.info("\n".join(lines))

    def cmd_copy(self, arg: str) -> None:
        chat_extras.cmd_copy(self, arg)

    def cmd_edit(self, arg: str) -> None:
        chat_extras.cmd_edit(self, arg)

    def cmd_attach(self, arg: str) -> None:
        chat_attach.cmd_attach(self, arg)

    def cmd_attachments(self, arg: str) -> None:
        chat_attach.cmd_attachments(self, arg)

    def cmd_detach(self, arg: str) -> None:
        chat_attach.cmd_detach(self, arg)

    def cmd_system(self, arg: str) -> None:
        if not arg:
            current = self.session.system
            self.ui.info(f"system prompt: {current}" if current else "no system prompt (/system TEXT sets one)")
            return
        text = None if arg in ("--clear", "-") else unquote(arg)
        self.session.set_system(text)
        self._context = None
        self.ui.info("system prompt removed" if text is None else "system prompt set")

    def cmd_model(self, arg: str) -> None:
        if not arg:
            self.ui.info(f"model: {self.session.profile.model}")
            return
        self._change({"model": arg})

    def cmd_profile(self, arg: str) -> None:
        prof = self.session.profile
        if not arg:
            names = ", ".join(sorted(profiles.available()))
            self.ui.info(f"profile: {prof.name} (available: {names})")
            return
        new = profiles.resolve(arg)
        self.session.with_profile(new)
        self.session.note(f"profile changed to {new.name}", kind="settings", profile=new.name, settings=new.settings())
        if new.system != self.session.system:
            self.session.set_system(new.system)
        self._context = None
        self.ui.info(f"profile {new.name}: {new.model}" + (" (with its system prompt)" if new.system else ""))

    def cmd_set(self, arg: str) -> None:
        prof = self.session.profile
        if not arg:
            settings = prof.settings()
            shown = {k: v for k, v in settings.items() if k not in ("headers", "params", "description")}
            self.ui.info("\n".join(f"  {k} = {json.dumps(v, ensure_ascii=False)}" for k, v in shown.items()))
            return
        key, _, raw = arg.partition(" ")
        key = profiles.ALIASES.get(key, key).replace("-", "_")
        if key not in profiles.VALIDATORS or key in _NO_SET:
            known = ", ".join(k for k in profiles.VALIDATORS if k not in _NO_SET)
            raise UsageError(f"/set: unknown key {key!r} (known: {known})")
        raw = raw.strip()
        if not raw:
            self.ui.info(f"{key} = {json.dumps(prof.settings().get(key), ensure_ascii=False)}")
            return
        if key == "system":
            self.cmd_system(raw)
            return
        self._change({key: _parse_value(key, raw)})

    def _change(self, changes: dict[str, Any]) -> None:
        """Apply validated settings to the session's profile; log them."""
        prof = self.session.profile
        defaults = Profile()
        values: dict[str, Any] = {}
        for key, value in changes.items():
            if value is _UNSET:
                values[key] = getattr(defaults, key)
                continue
            try:
                values[key] = profiles.validate(key, value)
            except ValueError as e:
                raise UsageError(f"{key}: {e}") from None
        if values.get("model", prof.model) != prof.model:
            # The profile's [price], window and output limit describe its old model: a saved
            # profile (and every estimate) must not carry them over to the new one.
            for key in ("price", "context_window", "max_output_tokens"):
                values.setdefault(key, None)
        new = dataclasses.replace(prof, **values, sources={**prof.sources, **{k: "chat" for k in values}})
        self.session.with_profile(new)
        logged = {k: v for k, v in new.settings().items() if k in values}
        self.session.note("settings changed: " + ", ".join(values), kind="settings", changes=logged)
        self._context = None
        self.ui.info(", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in logged.items()))

    def cmd_reset(self, arg: str) -> None:
        self.session.reset()
        self._context = None
        self.ui.info("new conversation" + (" (same system prompt)" if self.session.system else ""))

    def cmd_undo(self, arg: str) -> None:
        dropped = self.session.undo()
        self._context = None
        question = _preview(str(dropped[0].get("content") or ""))
        self.ui.info(f"undone: {question}" + ("" if len(dropped) > 1 else " (it had no reply)"))

    def cmd_retry(self, arg: str) -> None:
        if self.session.failed_turn is None and not any(m["role"] == "user" for m in self.session.messages):
            raise UsageError("nothing to retry yet")  # a command's mistake, not a failed turn
        turn = self._exchange(self.session.retry(**self._turn_options()))
        if turn is not None:
            self.failed = None

    def cmd_title(self, arg: str) -> None:
        if not arg:
            title = self.session.title
            self.ui.info(
                f"title: {title}" if title else "no title yet (the first message gives one; /title TEXT sets it)"
            )
            return
        self.session.set_title(unquote(arg))
        self.ui.info(f"title: {self.session.title}")

    def cmd_x(self, arg: str) -> None:
        from .extract import extract

        which = {"": "first", "all": "all"}.get(arg.strip().lower())
        if which is None:
            raise UsageError("usage: /x [all]")
        reply = next((m for m in reversed(self.session.messages) if m["role"] == "assistant"), None)
        if reply is None:
            raise UsageError("no reply yet to take code from")
        got = extract(str(reply.get("content") or ""), which)
        if got.warning:
            self.ui.warn(got.warning)
        self.ui.info(render.terminal_safe(got.text))

    def cmd_tokens(self, arg: str) -> None:
        ctx = self.session.context()
        self._context = ctx
        about = "" if ctx.exact else "about "
        line = f"{about}{ctx.tokens:,} tokens in context ({ctx.exchanges} exchange{'s' if ctx.exchanges != 1 else ''})"
        if ctx.window:
            line += f" of {self.session.profile.model}'s {ctx.window:,} ({100 * ctx.tokens / ctx.window:.1f}%)"
            if self.session.profile.max_tokens:
                line += f"; {self.session.profile.max_tokens:,} kept free for the reply (max_tokens)"
        else:
            line += f"; the context window of {self.session.profile.model} is unknown (set context_window)"
        self.ui.info(line)

    def _cost_text(self) -> str:
        if self.unpriced and self.unpriced == self.replies:
            return "cost unknown"
        if not self.replies and not _price_known(self.session.profile):
            return "cost unknown"  # from the start, not "$0" until the first reply says otherwise
        return render.usd(self.session.total_cost) + (" + unknown" if self.unpriced else "")

    def cmd_reasoning(self, arg: str) -> None:
        if not self.last_reasoning:
            self.ui.info("the last reply came with no visible reasoning")
            return
        self.ui.info(render.printable(self.last_reasoning))

    def cmd_cost(self, arg: str) -> None:
        replies = f"{self.replies} repl{'y' if self.replies == 1 else 'ies'}"
        line = f"this session: {self._cost_text()} for {replies}"
        if self.unpriced:
            line += (
                f" ({self.unpriced} at a price unknown for {self.session.profile.model}: set [price] in the profile)"
            )
        self.ui.info(line)

    def cmd_save_profile(self, arg: str) -> None:
        words = arg.split()
        force = "--force" in words
        names = [w for w in words if w != "--force"]
        if len(names) != 1:
            raise UsageError("usage: /save-profile NAME [--force]")
        path = profiles.write_user_profile(names[0], self.profile_table(), force=force)
        self.ui.info(f"saved {profiles.display_path(path)} (use it with: gptcli chat -p {names[0]})")

    def profile_table(self) -> dict[str, Any]:
        """The current settings as a self-contained TOML table (credential headers left out)."""
        prof = self.session.profile
        table = profiles.to_toml_table(prof)
        table.pop("system", None)
        table.pop("headers", None)
        headers = {k: v for k, v in prof.settings()["headers"].items() if v != "[redacted]"}
        if headers:
            table["headers"] = headers
        if prof.sources.get("base_url") == "env OPENAI_BASE_URL":
            table.pop("base_url", None)  # the environment's server, not a setting of this profile
        table["model"] = prof.model
        table["description"] = f"saved from gptcli chat (profile {prof.name}) on {date.today().isoformat()}"
        if self.session.system:
            table["system"] = self.session.system
        return {"description": table.pop("description"), **table}

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
        cost = self._cost_text()
        return f" {prof.name} · {prof.model} · {used} tokens · {cost} · /help · Esc-Enter: new line "

    def _banner(self) -> None:
        prof = self.session.profile
        n = sum(1 for m in self.session.messages if m["role"] == "user")
        title = f" “{_clean(self.session.title)}”" if self.session.title else ""
        resumed = f" · resumed {self.session.conversation_id or 'a conversation'}{title} ({n} exchanges)" if n else ""
        self.ui.status(f"gptcli chat · {prof.name} · {prof.model}{resumed} · /help for commands, Ctrl-D to leave")

    def _farewell(self, word: str | None) -> None:
        bye = "再见！" if word is not None and not word.isascii() else "Bye!"
        cid = self.session.conversation_id
        if cid is not None:
            bye += f" (saved as {cid}; continue with: gptcli chat --cid {cid})"
        self.ui.farewell(bye)


class _Unset:
    def __repr__(self) -> str:
        return "unset"


_UNSET: Any = _Unset()


def _parse_value(key: str, raw: str) -> Any:
    """/set's VALUE: JSON (0.2, 300, ["a", "b"], {"top_k": 40}) or a bare word; 'none' unsets."""
    if raw.lower() in _UNSET_WORDS:
        return _UNSET
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:  # a model named "4" is a string: keep the word when only the word fits the key
            profiles.validate(key, value)
        except ValueError:
            try:
                profiles.validate(key, raw)
                return raw
            except ValueError:
                pass
    return value


def _price_known(prof: Profile) -> bool:
    from . import prices

    try:
        return prices.info_for(prof).price is not None
    except Exception:  # advisory only: the toolbar must never break input
        return False


def show_whole(profile: Profile, interactive: bool, shown: bool) -> bool:
    """Whether to print the whole thinking after a reply: asked for, on a terminal, not streamed already."""
    return profile.show_reasoning and interactive and not shown


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


def _closed(line: str) -> bool:
    s = line.strip()
    return len(s) >= 6 and s.startswith(QUOTES) and s.endswith(QUOTES)


def unquote(text: str) -> str:
    """A ``\"\"\"`` block's content (without the quotes and the newlines next to them)."""
    s = text.strip()
    if not s.startswith(QUOTES):
        return text
    inner = s[3:-3] if _closed(s) else s[3:]
    return inner.strip("\n")


def _preview(text: str, width: int = 60) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


# --- entry -------------------------------------------------------------------------------


def on_terminal() -> bool:
    """Whether chat runs interactively: stdin and stdout both terminals."""
    return render.isatty(sys.stdin) and render.isatty(sys.stdout)


def main(
    session: conversation.Session,
    *,
    conv: store.Conversation | None = None,
    log: bool = True,
    raw: bool = False,
    options: Options | None = None,
    resume_lines: int = 3,
    notices: tuple[str, ...] | list[str] = (),
) -> int:
    """Run a chat: on a terminal when stdin and stdout are both ttys, else line by line.

    A resumed chat (``conv``) on a terminal first reprints its last ``resume_lines`` exchanges.
    """
    chat = Chat(session, options)
    ui: Frontend
    if on_terminal():
        ui = TerminalFrontend(chat, history=log, raw=raw)
    elif render.isatty(sys.stdin) and render.isatty(sys.stderr):  # gptcli chat | tee log
        ui = TerminalFrontend(chat, history=log, raw=True, replies_piped=True)
    else:
        ui = LineFrontend(sys.stdin.buffer, verbose=chat.options.verbose)
    if conv is not None:
        for w in conv.warnings:
            ui.warn(w)
        for n in notices:
            ui.warn(n)
        if ui.interactive and resume_lines:
            reprint(ui, conv.records, resume_lines)
    if session.profile.prompt:
        ui.warn(f"profile {session.profile.name!r} has a prompt template; chat sends messages as typed (it is for ask)")
    return chat.run(ui)


def reprint(ui: Frontend, records: list[dict[str, Any]], exchanges: int) -> None:
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
            ui.info(_PROMPT + _clean(text))
            if r.get("failed"):
                ui.warn(f"this question failed ({_clean(str(r.get('error') or 'no reply'))}); /retry sends it again")
        elif r.get("role") == "assistant":
            printer = ui.reply()
            printer.feed(text)
            printer.close()
            if r.get("interrupted") or r.get("incomplete"):
                ui.status("(the reply above was cut short)")
    ui.status("─" * 20 + " resumed " + "─" * 20)


_PROMPT = "> "
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    """A stored user line fit for the terminal: control characters (escape sequences) dropped."""
    return _CONTROL.sub("", text)
