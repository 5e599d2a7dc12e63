"""The command line: parse flags, call one use case, hand the result to render.

Commands stay thin. ``main`` is the one exit path: it maps every GptcliError to its
exit code and one line on stderr, Ctrl-C and SIGTERM to 130, and anything else to
exit 1 with no traceback unless ``--debug`` (or GPTCLI_DEBUG=1) is given. Heavy
imports (openai, tiktoken, rich) happen inside the commands that need them.

No ``from __future__ import annotations`` here, on purpose: Typer reads every command's
annotations on every run, and string annotations are compiled again by each
``get_type_hints`` call (about 10 ms per run, measured in docs/benchmarks.md). Annotate
with names imported at module level, or ``Any``.
"""

import os
import re
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import __version__
from .completions import complete_conversation, complete_model, complete_profile
from .errors import ExitCode, GptcliError, Interrupted, UsageError

app = typer.Typer(
    name="gptcli",
    help="A scriptable command line for chat models behind the OpenAI Chat Completions API.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""Examples:

  git diff | gptcli ask "Write a commit message for this diff"

  gptcli chat -p coder

  gptcli count -f report.md -m gpt-4o

\b
Each command's --help has more examples.
Tab completion: gptcli --install-completion bash (or zsh, fish).
Exit codes: 0 ok, 1 unexpected, 2 usage, 3 config, 4 auth, 5 rate limit,
6 network, 7 over budget, 8 context too long, 9 invalid structured output,
10 batch items failed, 130 interrupted.
""",
)
# Typer's help prints an argument's Python type after its name (`PROMPT <list[str]>`)
# even when a metavar names it; the metavar alone reads better. Options already work so.
# (Cosmetic only: a Typer without this method keeps its own help.)
_argument_type = getattr(typer.core.TyperArgument, "display_type_rich", None)
if _argument_type is not None:

    def _metavar_alone(self: Any, ctx: Any, _typed: Any = _argument_type) -> Any:
        return None if self.metavar else _typed(self, ctx)

    typer.core.TyperArgument.display_type_rich = _metavar_alone  # type: ignore[method-assign]
profiles_app = typer.Typer(
    help="List, show and create TOML profiles.",
    no_args_is_help=True,
    epilog="""Examples:

  gptcli profiles list

  gptcli profiles show coder

  gptcli profiles new mycoder --from coder -m gpt-4o
""",
)
app.add_typer(profiles_app, name="profiles")

_state: dict[str, Any] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        print(f"gptcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for unexpected errors.")] = False,
) -> None:
    """A scriptable command line for chat models behind the OpenAI Chat Completions API.

    Exit codes: 0 ok, 1 unexpected, 2 usage, 3 config, 4 auth, 5 rate limit, 6 network,
    7 over budget, 8 context too long, 9 invalid structured output, 10 batch items failed, 130 interrupted.
    """
    _state["debug"] = debug or _state["debug"]


# --- shared options --------------------------------------------------------------------

ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="Profile name (default: $GPTCLI_PROFILE or 'default').",
        metavar="NAME",
        autocompletion=complete_profile,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Model name (overrides the profile).", metavar="MODEL", autocompletion=complete_model
    ),
]
TempOpt = Annotated[float | None, typer.Option("--temperature", "-t", help="Sampling temperature, 0-2.")]
TopPOpt = Annotated[float | None, typer.Option("--top-p", help="Nucleus sampling, 0-1.")]
MaxTokOpt = Annotated[int | None, typer.Option("--max-tokens", help="Output token limit.")]
NOpt = Annotated[int | None, typer.Option("-n", "--n", help="Number of choices.")]
StopOpt = Annotated[
    list[str] | None, typer.Option("--stop", help="Stop sequence (repeatable, at most 4).", metavar="TEXT")
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed for best-effort determinism.")]
SystemOpt = Annotated[
    str | None, typer.Option("--system", "-s", help="System prompt (overrides the profile).", metavar="TEXT")
]
EffortOpt = Annotated[str | None, typer.Option("--reasoning-effort", help="For reasoning models: low, medium, high...")]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param", help="Extra request field KEY=VALUE (VALUE parsed as JSON; repeatable).", metavar="KEY=VALUE"
    ),
]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", help="Server URL, e.g. http://localhost:11434/v1.", metavar="URL")
]
MaxCostOpt = Annotated[
    float | None,
    typer.Option(
        "--max-cost", min=0.0, help="Refuse (exit 7) if the call could cost more than this many USD.", metavar="USD"
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Status (estimate, usage, cost) on stderr.")]


def parse_params(items: list[str] | None) -> dict[str, Any] | None:
    import json

    if not items:
        return None
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw  # a bare word is a string
    return out


def resolve_profile(name: str | None, **flags: Any) -> Any:
    from . import profiles

    params = flags.pop("params", None)
    if params:
        flags["params"] = params
    stop = flags.get("stop")
    if stop is not None:
        flags["stop"] = list(stop) or None
    return profiles.resolve(name, flags)


# --- ask --------------------------------------------------------------------------------


def read_stdin() -> str:
    """All of stdin when it is a pipe or a file; nothing when it is a terminal (never waits)."""
    stream = sys.stdin
    if stream is None or stream.closed:
        return ""
    try:
        if stream.isatty():
            return ""
        data = stream.buffer.read()
    except (OSError, ValueError):
        return ""
    return decode_text(data, "stdin")


def decode_text(data: bytes, where: str) -> str:
    if b"\x00" in data:
        raise UsageError(f"{where} looks binary (it contains NUL bytes); gptcli takes text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"{where} is not UTF-8 text (bad byte at offset {e.start})") from None
    return text


def read_file_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    return decode_text(data, str(path))


def build_prompt(words: list[str] | None, files: list[Path] | None, stdin_text: str) -> str:
    parts = []
    if words:
        parts.append(" ".join(words))
    if stdin_text:
        parts.append(stdin_text)
    for f in files or []:
        parts.append(read_file_text(f))
    prompt = "\n\n".join(p for p in parts if p)
    if not prompt.strip():
        raise UsageError("no prompt: pass it as an argument, pipe it on stdin, or use -f FILE")
    return prompt


@app.command(
    epilog="""Examples:

  gptcli ask "Explain this regex: ^a+$"

  git diff | gptcli ask "Write a commit message for this diff"

  gptcli ask --json "Name three rivers" | jq -r .text

  gptcli ask --dry-run -m o3 "Hello"

  gptcli ask --schema person.json "Invent a person" | jq .name
"""
)
def ask(
    prompt: Annotated[
        list[str] | None, typer.Argument(help="The prompt; stdin is appended after a blank line.", metavar="PROMPT")
    ] = None,
    profile: ProfileOpt = None,
    model: ModelOpt = None,
    temperature: TempOpt = None,
    top_p: TopPOpt = None,
    max_tokens: MaxTokOpt = None,
    n: NOpt = None,
    stop: StopOpt = None,
    seed: SeedOpt = None,
    system: SystemOpt = None,
    reasoning_effort: EffortOpt = None,
    param: ParamOpt = None,
    base_url: BaseUrlOpt = None,
    file: Annotated[
        list[Path] | None, typer.Option("--file", "-f", help="Add a file's text (repeatable).", metavar="FILE")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object (text, usage, cost, ...).")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Plain text even on a terminal.")] = False,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Wait for the whole reply.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the request, its tokens and cost; send nothing.")
    ] = False,
    continue_: Annotated[
        str | None,
        typer.Option(
            "--continue",
            "-c",
            help="Continue the last conversation, or the one with this id.",
            metavar="[ID]",
            autocompletion=complete_conversation,
        ),
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not save this conversation.")] = False,
    max_cost: MaxCostOpt = None,
    verbose: VerboseOpt = False,
    json_object: Annotated[
        bool, typer.Option("--json-object", help="Ask for a JSON object; exit 9 if the reply is not one.")
    ] = False,
    schema: Annotated[
        Path | None,
        typer.Option(
            "--schema",
            help="JSON Schema file the reply must match (sent as json_schema; exit 9 if not).",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """Ask one question and print the answer: made for scripts."""
    from . import conversation, render

    output = output_spec(json_object, schema)
    text = build_prompt(prompt, file, read_stdin())
    prof = resolve_profile(
        profile,
        model=model,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        n=n,
        stop=stop,
        seed=seed,
        system=system,
        reasoning_effort=reasoning_effort,
        params=parse_params(param),
        base_url=base_url,
    )
    if continue_ is not None:
        conv = conversation.load_for_continue(None if continue_ == "last" else continue_)
        for w in conv.warnings:  # a torn last line, an unknown record type: said, then carried on
            render.Status(verbose).warn(w)
        session = conversation.Session.resume(prof, conv, log=not no_log)
    else:
        session = conversation.Session.start(prof, log=not no_log)
    status = render.Status(verbose)
    if output is not None and output.kind == "json_object":
        text = add_json_hint(session, text, status)
    extra_body = output.extra_body() if output is not None else None
    if dry_run:
        show_dry_run(session.dry_run(text, max_cost=max_cost, extra_body=extra_body), session.profile)
        return
    run_turn(
        session,
        text,
        status=status,
        json_out=json_out,
        raw=raw,
        stream=not no_stream,
        max_cost=max_cost,
        extra_body=extra_body,
        output=output,
    )


def output_spec(json_object: bool, schema: Path | None) -> Any:
    """The structured-output spec for --json-object / --schema (None: free text)."""
    if not json_object and schema is None:
        return None  # free text, the common case: not even an import
    from . import structured

    if json_object and schema is not None:
        raise UsageError("--json-object and --schema exclude each other (a schema already asks for JSON)")
    if schema is not None:
        return structured.from_schema_file(schema)
    return structured.json_object() if json_object else None


def add_json_hint(session: Any, text: str, status: Any) -> str:
    """OpenAI refuses json_object mode unless a message says "JSON": say it if none does."""
    from . import structured

    if structured.mentions_json(session.request_messages(text)):
        return text
    status(f"--json-object: added {structured.JSON_HINT!r} to the prompt (the API wants the word JSON)")
    return f"{text}\n\n{structured.JSON_HINT}"


def show_dry_run(d: Any, prof: Any) -> None:
    from . import render

    # The profile's own [headers] too, through settings() so credential values stay redacted.
    headers = {"Authorization": "Bearer [redacted]", "Content-Type": "application/json"}
    headers.update(prof.settings()["headers"])
    render.print_json(
        {
            "method": "POST",
            "url": d.base_url.rstrip("/") + "/chat/completions",
            "headers": headers,
            "body": d.body,
            "estimate": estimate_dict(d.preflight),
            "notes": list(d.notes),
        }
    )


def estimate_dict(pre: Any) -> dict[str, Any]:
    return {
        "prompt_tokens": pre.prompt_tokens,
        "exact": pre.exact,
        "encoding": pre.encoding,
        "cost_min": pre.cost_min,
        "cost_max": pre.cost_max,
        "context_window": pre.context_window,
        "max_output_tokens": pre.max_output,
    }


def run_turn(
    session: Any,
    text: str,
    *,
    status: Any,
    json_out: bool,
    raw: bool,
    stream: bool,
    max_cost: float | None,
    extra_body: dict[str, Any] | None = None,
    output: Any = None,
) -> Any:
    """Run one turn, printing as it streams; return the Turn.

    With ``output`` (structured output) nothing is printed until the whole reply has
    been checked: a reply that is not the JSON asked for raises InvalidOutputError (9).
    """
    from . import render
    from .models import Delta, Notice, Preflight

    prof = session.profile
    tty = render.isatty(sys.stdout)
    markdown = tty and not raw and not json_out and output is None
    multi = prof.n > 1
    printer: Any = None
    gen = session.turn(
        text, stream=stream and not json_out, max_cost=max_cost, exact=status.enabled, extra_body=extra_body
    )
    try:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                turn = stop.value
                break
            if isinstance(event, Preflight):
                status(
                    f"{event.model} · {'' if event.exact else '≤'}{event.prompt_tokens:,} prompt tokens · "
                    f"{render.cost_range(event.cost_min, event.cost_max)}"
                )
            elif isinstance(event, Notice):
                status(event.text, warning=event.level == "warning")
            elif isinstance(event, Delta) and not json_out and not multi and output is None:
                if printer is None:
                    printer = render.MarkdownStream() if markdown else render.PlainStream()
                printer.feed(event.text)
    except KeyboardInterrupt:
        # Ctrl-C (or SIGTERM) landed here, while printing, not inside the turn: hand it to the
        # session so that it keeps the partial reply and raises Interrupted.
        gen.throw(KeyboardInterrupt())
        raise
    finally:
        streamed = printer is not None
        if printer is not None:
            printer.close()
            printer = None
    c = turn.completion
    if output is not None:
        turn = check_output(turn, output)
        c = turn.completion
    if not streamed and not json_out and not multi:
        # Not streamed (--no-stream, or a server that sent no deltas): print it whole.
        whole = render.MarkdownStream() if markdown else render.PlainStream()
        if c.text:
            whole.feed(c.text)
        whole.close()
    if json_out:
        render.print_json(turn_json(turn, prof))
    elif multi:
        for i, choice in enumerate(c.texts, start=1):
            header = f"--- choice {i} of {len(c.texts)} ---"
            if markdown:
                render.print_markdown(f"**{header}**\n\n{choice}")
            else:
                sys.stdout.write(f"{header}\n{choice}\n")
        sys.stdout.flush()
    u = c.usage
    usage = f"{u.prompt_tokens:,} in / {u.completion_tokens:,} out" if u else "usage not reported"
    status(
        f"{usage} · {render.usd(turn.cost)} · {c.latency:.2f} s"
        + (f" · {turn.conversation_id}" if turn.conversation_id else "")
        + (f" · finish: {c.finish_reason}" if c.finish_reason not in ("stop", None) else "")
    )
    return turn


def check_output(turn: Any, output: Any) -> Any:
    """The turn with each choice checked (and unfenced); InvalidOutputError (9) if one fails."""
    import dataclasses

    from . import structured
    from .errors import InvalidOutputError

    c = turn.completion
    texts = []
    for i, choice in enumerate(c.texts):
        where = "the reply" if len(c.texts) == 1 else f"choice {i + 1}"
        reason = c.finish_reasons[i] if i < len(c.finish_reasons) else None
        try:
            structured.check(choice, output, finish_reason=reason, where=where)
        except InvalidOutputError as e:
            kept = f"; it is kept in conversation {turn.conversation_id}" if turn.conversation_id else ""
            raise InvalidOutputError(e.message + kept) from None
        texts.append(structured.unfence(choice))
    return dataclasses.replace(turn, completion=dataclasses.replace(c, texts=tuple(texts)))


def turn_json(turn: Any, prof: Any) -> dict[str, Any]:
    c = turn.completion
    multi = len(c.texts) > 1
    return {
        "text": list(c.texts) if multi else c.text,
        "model": c.model,
        "profile": prof.name,
        "finish_reason": list(c.finish_reasons) if multi else c.finish_reason,
        "usage": c.usage.to_dict() if c.usage else None,
        "cost": turn.cost,
        "estimate": estimate_dict(turn.preflight),
        "conversation_id": turn.conversation_id,
        "latency": round(c.latency, 4),
        "incomplete": c.incomplete,
        "notes": list(turn.notices),
    }


# --- profiles ---------------------------------------------------------------------------


@profiles_app.command(
    "list",
    epilog="""Examples:

  gptcli profiles list

  gptcli profiles list --json | jq -r '.[] | select(.source == "user") | .path'
""",
)
def profiles_list(json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    """List built-in and user profiles: name, model, source and description."""
    from . import profiles, render

    rows: list[dict[str, Any]] = []
    for name, pf in sorted(profiles.available().items()):
        data = profiles.read_file(pf)
        rows.append(
            {
                "name": name,
                "model": data.get("model", (None,))[0],
                "description": data.get("description", (None,))[0],
                "source": "built-in" if pf.builtin else "user",
                "path": str(pf.path),
            }
        )
    if json_out:
        render.print_json(rows)
        return
    render.print_table(
        ["name", "model", "source", "description"],
        [[r["name"], r["model"] or "(inherited)", r["source"], r["description"] or ""] for r in rows],
    )


@profiles_app.command(
    "show",
    epilog="""Examples:

  gptcli profiles show coder

  GPTCLI_MODEL=gpt-4o gptcli profiles show

  gptcli profiles show local --json | jq -r .settings.base_url
""",
)
def profiles_show(
    name: Annotated[
        str | None,
        typer.Argument(help="Profile name (default: the active one).", metavar="NAME", autocompletion=complete_profile),
    ] = None,
    model: ModelOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Show a profile's effective settings and where each one came from."""
    from . import render

    prof = resolve_profile(name, model=model)
    settings = prof.settings()
    if json_out:
        render.print_json({"name": prof.name, "settings": settings, "sources": prof.sources})
        return
    rows = [[k, render.dumps_json(v, indent=None), prof.sources.get(k, "default")] for k, v in settings.items()]
    render.print_table(["key", "value", "from"], rows, title=f"profile {prof.name}")


@profiles_app.command(
    "new",
    epilog="""Examples:

  gptcli profiles new mycoder --from coder -m gpt-4o -t 0.3

  gptcli profiles new ollama --base-url http://localhost:11434/v1 -m qwen3

  gptcli profiles new terse -s "Answer in one sentence." --force
""",
)
def profiles_new(
    name: Annotated[str, typer.Argument(help="Name of the new profile.", metavar="NAME")],
    from_: Annotated[
        str | None, typer.Option("--from", help="Profile to extend.", metavar="NAME", autocompletion=complete_profile)
    ] = None,
    model: ModelOpt = None,
    temperature: TempOpt = None,
    top_p: TopPOpt = None,
    max_tokens: MaxTokOpt = None,
    system: SystemOpt = None,
    base_url: BaseUrlOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Create a user profile (TOML) in the config dir and print its path."""
    from . import profiles

    table: dict[str, Any] = {}
    if from_:
        profiles.find(from_)
        table["extends"] = from_
    for key, value in (
        ("model", model),
        ("temperature", temperature),
        ("top_p", top_p),
        ("max_tokens", max_tokens),
        ("system", system),
        ("base_url", base_url),
    ):
        if value is not None:
            table[key] = value
    path = profiles.write_user_profile(name, table, force=force)
    print(path)


# --- replay -------------------------------------------------------------------------------------

REPLAY_FORMATS = ("text", "markdown", "json", "openai")


@app.command(
    epilog="""Examples:

  gptcli replay --grep 神经网络 --since 7d --json

  gptcli replay 3f2a --format openai >> dataset.jsonl

  gptcli replay 3f2a --rerun -m gpt-4.1-mini --diff --max-cost 0.05
"""
)
def replay(
    ref: Annotated[
        str | None,
        typer.Argument(
            help="Conversation id (a unique prefix), or a JSONL file. None: list.",
            metavar="ID|FILE",
            autocompletion=complete_conversation,
        ),
    ] = None,
    last: Annotated[bool, typer.Option("--last", help="The most recent conversation.")] = False,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="Listing: only this profile. --rerun: the profile to use.",
            metavar="NAME",
            autocompletion=complete_profile,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Listing: only this model (globs: 'gpt-4o*'). --rerun: the model to use.",
            metavar="MODEL",
            autocompletion=complete_model,
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Listing: active since 7d, 12h, 30m, 2w or a date.")
    ] = None,
    grep: Annotated[str | None, typer.Option("--grep", help="Listing: only those containing TEXT (any case).")] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Listing: at most N (default: 20 on a terminal, else all; 0: all).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output (same as --format json).")] = False,
    format_: Annotated[
        str | None, typer.Option("--format", help='Show as text, markdown, json or openai ({"messages"} line).')
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Usage, cost and latency per reply.")] = False,
    rerun: Annotated[
        bool, typer.Option("--rerun", help="Send the user turns again (with -p/-m/-t/...): a new conversation.")
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="With --rerun (implied): old against new per turn, and a summary.")
    ] = False,
    temperature: TempOpt = None,
    top_p: TopPOpt = None,
    max_tokens: MaxTokOpt = None,
    n: NOpt = None,
    stop: StopOpt = None,
    seed: SeedOpt = None,
    system: SystemOpt = None,
    reasoning_effort: EffortOpt = None,
    param: ParamOpt = None,
    base_url: BaseUrlOpt = None,
    max_cost: Annotated[
        float | None,
        typer.Option("--max-cost", help="Refuse (exit 7) a re-run that could cost more than this many USD in all."),
    ] = None,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Re-run without streaming.")] = False,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not save the re-run.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the re-run's profile, turns and cost estimate; send nothing.")
    ] = False,
) -> None:
    """List, show, export and re-run saved conversations."""
    from . import render
    from . import replay as rp

    overrides = {
        "model": model,
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": max_tokens,
        "n": n,
        "stop": list(stop) if stop else None,
        "seed": seed,
        "system": system,
        "reasoning_effort": reasoning_effort,
        "params": parse_params(param),
        "base_url": base_url,
    }
    rerun = rerun or diff
    rerun_only = [k for k, v in overrides.items() if v is not None and k != "model"]
    if max_cost is not None or no_stream or no_log or dry_run:
        rerun_only.append("max_cost/no_stream/no_log/dry_run")
    status = render.Status(verbose)
    if ref is None and not last:
        if rerun or rerun_only:
            raise UsageError("--rerun and its options need a conversation", hint="gptcli replay ID --rerun -m MODEL")
        show_listing(rp, render, profile, model, since, grep, limit, json_out or format_ == "json", status)
        return
    if since is not None or grep is not None or limit is not None:
        raise UsageError("--since, --grep and --limit filter the listing; drop the id to list")
    conv = rp.load(ref, last=last)
    for w in conv.warnings:
        status.warn(w)
    if not rerun:
        if rerun_only or profile is not None or model is not None:
            raise UsageError("-p, -m and the sampling options apply to --rerun", hint="add --rerun")
        fmt = format_ or ("json" if json_out else "markdown" if render.isatty(sys.stdout) else "text")
        if fmt not in REPLAY_FORMATS:
            raise UsageError(f"--format must be one of {', '.join(REPLAY_FORMATS)}, not {fmt!r}")
        if fmt == "json":
            render.print_json(rp.to_json(conv))
        elif fmt == "openai":
            print(rp.to_openai(conv), flush=True)
        elif fmt == "markdown" and render.isatty(sys.stdout):
            render.print_markdown(rp.to_markdown(conv, verbose=verbose))
        else:
            text = rp.to_markdown(conv, verbose=verbose) if fmt == "markdown" else rp.to_text(conv, verbose=verbose)
            sys.stdout.write(text.rstrip("\n") + "\n")
            sys.stdout.flush()
        return
    if format_ not in (None, "json", "text"):
        raise UsageError("--rerun prints text, or JSON with --json")
    plan = rp.plan_rerun(conv, profile, overrides)
    for note in plan.notes:
        status.warn(note)
    est = rp.check_budget(plan, max_cost, exact=verbose or dry_run, warn=status.warn)
    status(
        f"re-run of {conv.id}: {est.turns} turn{'s' if est.turns != 1 else ''} on {plan.profile.model} · "
        f"{render.cost_range(est.cost_min, est.cost_max)}"
        + (f" (likely {render.usd(est.cost_expected)})" if est.cost_expected is not None else "")
    )
    if dry_run:
        render.print_json(
            {
                "replay_of": conv.id,
                "profile": plan.profile.name,
                "settings": plan.profile.settings(),
                "turns": [t.user for t in plan.turns],
                "estimate": est.to_dict(),
                "notes": list(plan.notes),
            }
        )
        return
    run_rerun(
        rp,
        render,
        plan,
        est,
        status,
        max_cost=max_cost,
        stream=not no_stream,
        log=not no_log,
        diff=diff,
        json_out=json_out or format_ == "json",
    )


def show_listing(
    rp: Any,
    render: Any,
    profile: str | None,
    model: str | None,
    since: str | None,
    grep: str | None,
    limit: int | None,
    json_out: bool,
    status: Any,
) -> None:
    tty = render.isatty(sys.stdout)
    if limit is not None and limit < 0:
        raise UsageError("--limit must be 0 (all) or more")
    if limit is None:
        limit = 20 if tty and not json_out else 0
    filters = rp.Filters(
        model=model, profile=profile, since=rp.parse_since(since) if since else None, grep=grep, limit=limit
    )
    found = rp.listing(filters)
    for problem in found.problems[:3]:
        status.warn(f"skipped {problem}")
    if len(found.problems) > 3:
        status.warn(f"... and {len(found.problems) - 3} more files that could not be read")
    if json_out:
        # One object per line inside the array: valid JSON, and fast for 10,000 rows.
        lines = ",\n".join(found.rows_json)
        sys.stdout.write("[\n" + lines + "\n]\n" if lines else "[]\n")
        sys.stdout.flush()
        return
    columns = ["id", "date", "profile", "model", "turns", "cost", "first prompt"]
    render.print_table(columns, list(rp.iter_rows(found.rows())))
    if tty and found.more:
        status(f"showing the newest {len(found.rows_json)}; --limit 0 for all {found.total}")
    elif tty and not found.rows_json:
        status("no conversations match" if found.total else "no saved conversations yet")


def run_rerun(
    rp: Any,
    render: Any,
    plan: Any,
    est: Any,
    status: Any,
    *,
    max_cost: float | None,
    stream: bool,
    log: bool,
    diff: bool,
    json_out: bool,
) -> None:
    """Drive a re-run: stream the new transcript, or collect it for --diff / --json."""
    import shutil

    from .models import Delta, Notice, Preflight

    result = rp.RerunResult(None, plan, est)
    show = not diff and not json_out
    markdown = show and render.isatty(sys.stdout)
    printer: Any = None
    gen = rp.rerun(plan, result, max_cost=max_cost, stream=stream, log=log, exact=status.enabled)
    try:
        for event in gen:
            if isinstance(event, rp.TurnStart):
                status(f"turn {event.index + 1} of {event.total}")
                if show:
                    sys.stdout.write(("\n" if event.index else "") + f"[user]\n{event.user}\n\n")
                    sys.stdout.flush()
            elif isinstance(event, Preflight):
                status(f"{event.model} · {'' if event.exact else '≤'}{event.prompt_tokens:,} prompt tokens")
            elif isinstance(event, Notice):
                status(event.text, warning=event.level == "warning")
            elif isinstance(event, Delta) and show and event.index == 0:
                if printer is None:
                    printer = _reply_printer(render, markdown)
                printer.feed(event.text)
            elif isinstance(event, rp.TurnDone):
                if show:
                    if printer is None:  # nothing streamed: print it whole
                        printer = _reply_printer(render, markdown)
                        if event.new.text:
                            printer.feed(event.new.text)
                    printer.close()
                    printer = None
                status(rp.reply_stats(event.new.model, event.new.usage, event.new.cost, event.new.latency))
    except GptcliError as e:
        if printer is not None:
            printer.close()
        if result.pairs and json_out:
            render.print_json({**result.to_dict(), "error": e.message, "complete": False})
        elif result.pairs and diff:
            _print_diff(rp, render, result, shutil)
        raise
    if json_out:
        render.print_json({**result.to_dict(), "complete": True})
    elif diff:
        _print_diff(rp, render, result, shutil)
    if result.conversation_id:
        status(f"saved as {result.conversation_id} (replay of {plan.conv.id})")


def _reply_printer(render: Any, markdown: bool) -> Any:
    sys.stdout.write("[assistant]\n")
    sys.stdout.flush()
    return render.MarkdownStream() if markdown else render.PlainStream()


def _print_diff(rp: Any, render: Any, result: Any, shutil: Any) -> None:
    from . import diffview

    width = shutil.get_terminal_size((80, 24)).columns
    for line in diffview.render(result, width=width, color=render.color_allowed(sys.stdout)):
        sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- models -------------------------------------------------------------------------------


@app.command(
    epilog="""Examples:

  gptcli models

  gptcli models -p local

  gptcli models gpt-5 --json | jq -r '.[] | select(.context_window > 200000) | .id'
"""
)
def models(
    contains: Annotated[str | None, typer.Argument(help="Only models whose id contains this text.")] = None,
    profile: ProfileOpt = None,
    base_url: BaseUrlOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="A JSON list (id, context_window, price, ...).")] = False,
) -> None:
    """List the server's models, with price and context window where known."""
    from . import catalog, render

    prof = resolve_profile(profile, base_url=base_url)
    rows = catalog.list_models(prof, contains)
    if json_out:
        render.print_json([r.to_dict() for r in rows])
        return

    def money(x: float | None) -> str:
        return "" if x is None else f"${x:g}"

    render.print_table(
        ["model", "context", "input $/1M", "output $/1M", "owned by"],
        [
            [
                r.id,
                f"{r.context_window:,}" if r.context_window else "",
                money(r.price.input if r.price else None),
                money(r.price.output if r.price else None),
                r.owned_by or "",
            ]
            for r in rows
        ],
        title=f"{len(rows)} models at {prof.base_url or 'https://api.openai.com/v1'}",
    )


# --- batch -------------------------------------------------------------------------------------


@app.command(
    epilog="""Examples:

  gptcli batch prompts.txt -o results.jsonl

  gptcli batch reviews.csv --column text --template "Classify the sentiment: {text}" -o labels.jsonl

  gptcli batch prompts.txt -o results.jsonl --resume

  gptcli batch big.jsonl --dry-run

  gptcli batch huge.jsonl --via openai-batch -o out.jsonl

Exit codes: 0 every item done, 10 some items failed (their records carry "error";
--resume retries them), 7 over --max-cost (nothing sent), 2 bad flags or (with --strict)
a bad input line, 130 interrupted (the output is intact; --resume continues).
"""
)
def batch(
    source: Annotated[
        str, typer.Argument(help="Prompt file (.txt, .jsonl, .csv, .tsv), or - for stdin.", metavar="INPUT")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Append one JSON record per item here (default: stdout).", metavar="FILE"),
    ] = None,
    format_: Annotated[
        str | None, typer.Option("--format", help="txt, jsonl, csv or tsv (default: from the extension; stdin: txt).")
    ] = None,
    column: Annotated[
        str | None, typer.Option("--column", help="CSV/TSV column (or JSONL key) holding the prompt.")
    ] = None,
    template: Annotated[
        str | None,
        typer.Option("--template", help='Build each prompt, e.g. "Classify: {text}" ({field}: a column or key).'),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="A bad input line stops everything (exit 2).")] = False,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Write the input's sha256 instead of the input itself.")
    ] = False,
    ordered: Annotated[bool, typer.Option("--ordered", help="Write records in input order.")] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", help="Requests in flight at once.")] = 8,
    rpm: Annotated[float | None, typer.Option("--rpm", help="At most this many requests per minute.")] = None,
    tpm: Annotated[float | None, typer.Option("--tpm", help="At most this many tokens per minute.")] = None,
    retries: Annotated[
        int | None, typer.Option("--retries", help="Retries per item on 429, 5xx, timeouts (default 4).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue -o FILE: skip items done, retry failed ones.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start -o FILE afresh if it exists.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (items, tokens, cost) as JSON; send nothing.")
    ] = False,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="Refuse (exit 7) if the batch could cost more than this (USD).")
    ] = None,
    via: Annotated[
        str, typer.Option("--via", help="local (requests from here) or openai-batch (OpenAI's Batch API).")
    ] = "local",
    submit_only: Annotated[
        bool, typer.Option("--submit-only", help="With --via openai-batch: submit, print the batch id, exit.")
    ] = False,
    collect: Annotated[
        str | None, typer.Option("--collect", help="Finish Batch API batch(es) BATCH_ID[,BATCH_ID...].", metavar="ID")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout (with -o).")] = False,
    profile: ProfileOpt = None,
    model: ModelOpt = None,
    temperature: TempOpt = None,
    top_p: TopPOpt = None,
    max_tokens: MaxTokOpt = None,
    n: NOpt = None,
    stop: StopOpt = None,
    seed: SeedOpt = None,
    system: SystemOpt = None,
    reasoning_effort: EffortOpt = None,
    param: ParamOpt = None,
    base_url: BaseUrlOpt = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Progress and retries on stderr even when it is not a terminal.")
    ] = False,
) -> None:
    """Send every prompt of a file, concurrently, with rate limits, retries and resume."""
    from . import batch as batches

    if not dry_run:
        batches.prefetch()  # import openai while the flags, profile and input are read
    from . import render
    from .errors import BatchFailedError

    if json_out and output is None and not dry_run:
        raise UsageError("--json prints the summary on stdout, which holds the records without -o FILE")
    if (submit_only or collect) and via == "local":
        via = "openai-batch"
    prof = resolve_profile(
        profile,
        model=model,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        n=n,
        stop=stop,
        seed=seed,
        system=system,
        reasoning_effort=reasoning_effort,
        params=parse_params(param),
        base_url=base_url,
    )
    if retries is None:
        retries = prof.max_retries if prof.sources.get("max_retries", "default") != "default" else None
    opts = batches.Options(
        output=output,
        format=format_,
        column=column,
        template=template,
        strict=strict,
        no_input=no_input,
        ordered=ordered,
        concurrency=concurrency,
        rpm=rpm,
        tpm=tpm,
        retries=batches.DEFAULT_RETRIES if retries is None else retries,
        resume=resume,
        overwrite=overwrite,
        max_cost=max_cost,
        via=via,
    )
    progress = render.BatchProgress(verbose=verbose)

    def on_event(event: Any) -> None:
        if isinstance(event, batches.Progress):
            progress.update(event)
        else:
            progress.notice(event.text, event.level)

    with batches.Batch(prof, source, opts) as job:
        try:
            if collect:
                ids = [x.strip() for x in collect.split(",") if x.strip()]
                if not ids:
                    raise UsageError("--collect needs a batch id")
                progress.start(0)
                summary = job.collect(ids, on_event)
            else:
                plan = job.plan(exact=dry_run, on_event=on_event, check_budget=not dry_run)
                if dry_run:
                    render.print_json(plan.to_dict())
                    job.check_budget(plan)
                    return
                progress.notice(render.batch_plan_text(plan), "info")
                if via == "local":
                    progress.start(plan.to_send)
                    summary = job.run(plan, on_event)
                else:
                    ids = job.submit(plan, on_event)
                    if submit_only:
                        sys.stdout.write("".join(f"{i}\n" for i in ids))
                        sys.stdout.flush()
                        return
                    progress.start(0)
                    summary = job.collect(ids, on_event)
        finally:
            progress.stop()
    if json_out:
        render.print_json(summary.to_dict())
    else:
        progress.notice(render.batch_summary_text(summary), "note")
    if summary.interrupted:
        raise Interrupted(
            f"interrupted; {summary.done + summary.failed:,} records are in {summary.output}",
            hint="run the same command with --resume to continue" if output is not None else None,
        )
    if summary.failed:
        raise BatchFailedError(
            f"{summary.failed:,} of {summary.done + summary.failed:,} items failed (see 'error' in {summary.output})",
            hint="--resume retries them" if output is not None else None,
        )


# --- chat ----------------------------------------------------------------------------------------


@app.command(
    epilog="""Examples:

  gptcli chat -p coder

  gptcli chat --resume 3f2a9c

  printf 'hi\\n退出\\n' | gptcli chat

--resume alone continues the last conversation. Without a terminal each line of stdin
is a turn and stdout gets the replies only. Inside, /help lists the commands.
"""
)
def chat(
    profile: ProfileOpt = None,
    model: ModelOpt = None,
    temperature: TempOpt = None,
    top_p: TopPOpt = None,
    max_tokens: MaxTokOpt = None,
    stop: StopOpt = None,
    seed: SeedOpt = None,
    system: SystemOpt = None,
    reasoning_effort: EffortOpt = None,
    param: ParamOpt = None,
    base_url: BaseUrlOpt = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Continue the last conversation, or the one with this id.",
            metavar="[ID]",
            autocompletion=complete_conversation,
        ),
    ] = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Keep nothing: no conversation log, no input history.")
    ] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Plain text replies even on a terminal.")] = False,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Wait for each whole reply.")] = False,
    max_cost: MaxCostOpt = None,
    verbose: VerboseOpt = False,
) -> int:
    """Talk with a model: history, live Markdown, slash commands; scriptable through stdin."""
    from . import chat as chat_use_case
    from . import conversation

    conv = None
    if resume is not None:
        conv = conversation.load_for_continue(None if resume == "last" else resume)
        was_profile, was_model = chat_use_case.resume_defaults(conv)
        profile = profile or was_profile
        model = model or was_model
    prof = resolve_profile(
        profile,
        model=model,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        stop=stop,
        seed=seed,
        system=system,
        reasoning_effort=reasoning_effort,
        params=parse_params(param),
        base_url=base_url,
    )
    options = chat_use_case.Options(stream=not no_stream, max_cost=max_cost, verbose=verbose)
    return chat_use_case.main(prof, conv=conv, log=not no_log, raw=raw, options=options)


# --- count ------------------------------------------------------------------------------------


@app.command(
    epilog="""Examples:

  gptcli count "你好，世界"

  gptcli count -m gpt-4o -f report.md -f notes.txt

  cat big.log | gptcli count -m gpt-4.1 --json

  gptcli count --messages chat.jsonl -m gpt-4o
"""
)
def count(
    text: Annotated[list[str] | None, typer.Argument(help="Text to count.", metavar="TEXT")] = None,
    profile: ProfileOpt = None,
    model: ModelOpt = None,
    file: Annotated[
        list[Path] | None, typer.Option("--file", "-f", help="Count a file (repeatable).", metavar="FILE")
    ] = None,
    messages: Annotated[
        str | None,
        typer.Option(
            "--messages",
            help='A chat request: JSON list of messages or {"messages": [...]} lines; - for stdin.',
            metavar="FILE",
        ),
    ] = None,
    conversation_ref: Annotated[
        str | None,
        typer.Option(
            "--conversation",
            help="Count what the next turn of this saved conversation sends.",
            metavar="ID",
            autocompletion=complete_conversation,
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Count tokens and the input cost before any call: exact, with tiktoken."""
    from . import counting, render

    prof = resolve_profile(profile, model=model)
    if conversation_ref is not None:
        if model is None and profile is None:
            from . import store

            conv_model = store.load(conversation_ref).meta.get("settings", {}).get("model")
            if conv_model:
                prof = resolve_profile(profile, model=conv_model)
        report = counting.count_conversation(prof, conversation_ref)
    elif messages is not None:
        data = read_stdin() if messages == "-" else read_file_text(Path(messages))
        report = counting.count_messages(prof, data, "stdin" if messages == "-" else messages)
    else:
        report = counting.count_inputs(prof, text=" ".join(text) if text else None, files=file, stdin_text=read_stdin())
    for w in report.warnings:
        render.Status().warn(w)
    if json_out:
        render.print_json(report.to_dict())
        return
    show_count(report)


def show_count(report: Any) -> None:
    from . import render

    def share(n: int) -> str:
        s = report.window_share(n)
        return f"{s:.1%} of {report.info.context_window:,}" if s is not None else "window unknown"

    label = report.encoding + ("" if report.exact else " (approximate: not this model's own tokenizer)")
    price = report.info.price
    per_m = f" at ${price.input:g}/1M" if price and price.input is not None else ""
    if len(report.items) == 1:
        item = report.items[0]
        rows = [
            ["tokens", f"{item.tokens:,}" + (" (whole request)" if item.kind == "request" else "")],
            ["characters", f"{item.characters:,}"],
            ["encoding", label],
            ["model", report.model + (f" (price data: {report.info.matched})" if report.info.matched else "")],
            ["input cost", render.usd(report.input_cost(item.tokens)) + per_m],
            ["context", share(item.tokens)],
        ]
        render.print_table(["", ""], rows)
        return
    rows = [
        [i.source, f"{i.tokens:,}", f"{i.characters:,}", render.usd(report.input_cost(i.tokens)), share(i.tokens)]
        for i in report.items
    ]
    total = report.total_tokens
    rows.append(
        ["total", f"{total:,}", f"{report.total_characters:,}", render.usd(report.input_cost(total)), share(total)]
    )
    render.print_table(
        ["source", "tokens", "characters", "input cost", "context"], rows, title=f"{report.model} · {label}{per_m}"
    )


# --- the one exit path ----------------------------------------------------------------------

_HEX_ID = re.compile(r"^[0-9a-fA-F]{4,32}$")


def normalize_argv(argv: list[str]) -> list[str]:
    """Give ``-c/--continue`` (and ``--resume``) an optional value.

    The next word is taken as the id only if it looks like one (hex, or an existing
    .jsonl file); otherwise it stays part of the prompt and the last conversation is meant.
    """
    if next((a for a in argv if not a.startswith("-")), None) == "batch":
        return list(argv)  # batch's --resume is a plain flag: its next word is the input file
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-c", "--continue", "--resume"):
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            name = "--resume" if arg == "--resume" else "--continue"
            if nxt is not None and (_HEX_ID.match(nxt) or (nxt.endswith(".jsonl") and os.path.isfile(nxt))):
                out.append(f"{name}={nxt}")
                i += 2
                continue
            out.append(f"{name}=last")
            i += 1
            continue
        if arg == "--":
            out.extend(argv[i:])
            break
        out.append(arg)
        i += 1
    return out


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    args = normalize_argv(list(sys.argv[1:] if argv is None else argv))
    _state["debug"] = "--debug" in args or os.environ.get("GPTCLI_DEBUG") == "1"
    try:
        signal.signal(signal.SIGTERM, _sigterm)
    except ValueError:
        pass  # not the main thread (tests calling main() in a thread)
    code = run(args)
    sys.exit(code)


def run(args: list[str]) -> int:
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
    from typer.exceptions import Abort, Exit

    def print_error(err: GptcliError | str) -> None:
        from . import render  # only on errors: --help and --version do without it

        render.print_error(err)

    try:
        if len(args) == 2 and args[0] in ("--install-completion", "--show-completion"):
            from .completions import shell_flag

            return shell_flag(args[0], args[1])  # Typer's own flags would ignore the shell named
        result = app(args=args, prog_name="gptcli", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except GptcliError as e:
        print_error(e)
        return int(e.exit_code)
    except (KeyboardInterrupt, Abort):
        print_error(Interrupted("interrupted"))
        return int(ExitCode.INTERRUPTED)
    except Exit as e:
        if isinstance(e.__cause__, KeyboardInterrupt):  # Typer turns Ctrl-C into a silent Exit(130)
            print_error(Interrupted("interrupted"))
        return int(e.exit_code)
    except NoArgsIsHelpError as e:
        print(e.format_message(), file=sys.stderr)
        return int(ExitCode.USAGE)
    except ClickException as e:
        print_error(e.format_message())
        return int(ExitCode.USAGE) if e.exit_code == 2 else int(e.exit_code)
    except BrokenPipeError:
        # The reader went away (| head): not an error worth a message.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0
    except Exception as e:
        if _state["debug"]:
            raise
        print_error(f"unexpected {type(e).__name__}: {e} (rerun with --debug for the traceback)")
        return int(ExitCode.UNEXPECTED)
