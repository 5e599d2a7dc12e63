"""The command line: the Typer app, and ``main``, the one exit path.

Each command lives in its own module here (ask, chat, replay, batch, count, models,
profiles) and stays thin: flags into a value, one use case, the result to a renderer.
Shared flags are in ``options``; every use of Typer's internals is in ``gptcli.typer_compat``.

``main`` maps every GptcliError to its exit code and one line on stderr, Ctrl-C and
SIGTERM (and SIGHUP) to 130, and anything else to exit 1 with no traceback unless ``--debug`` (or
GPTCLI_DEBUG=1) is given. It is the one place that installs a process-wide signal
handler (SIGTERM raises KeyboardInterrupt, so it is handled as Ctrl-C is); ``chat`` and
``batch`` narrow SIGINT/SIGTERM while a turn or a batch runs and restore them after.
A signal ignored when gptcli started (SIGHUP under ``nohup``; SIGINT for a command a
script started with ``&``, where Python installs no KeyboardInterrupt handler) stays ignored.

No ``from __future__ import annotations`` in this package, on purpose: Typer reads every
command's annotations on every run, and string annotations are compiled again by each
``get_type_hints`` call (about 10 ms per run, measured in docs/benchmarks.md). Annotate
with names imported at module level, or ``Any``.
"""

import errno
import os
import signal
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from .. import __version__
from .. import typer_compat as compat
from ..errors import ExitCode, GptcliError, Interrupted, UsageError

EXIT_CODES = """Exit codes: 0 ok, 1 unexpected, 2 usage, 3 config, 4 auth, 5 rate limit,
6 network, 7 over budget, 8 context too long, 9 invalid structured output,
10 batch items failed, 11 checks failed, 130 interrupted."""

app = typer.Typer(
    name="gptcli",
    help="A scriptable command line for chat models behind the OpenAI Chat Completions API.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=f"""Examples:

  git diff | gptcli ask "Write a commit message for this diff"

  gptcli chat -p coder

  gptcli count -f report.md -m gpt-4o

\b
Each command's --help has more examples.
Tab completion: gptcli --install-completion bash (or zsh, fish).
Ctrl-G turns the typed line into a command: gptcli --install-integration bash (or zsh, fish).
{EXIT_CODES}
""",
)
compat.metavar_alone_in_help()


@dataclass
class Run:
    """What the root options set for one run (kept on the Click context, never in a global)."""

    debug: bool = False


def _version(value: bool) -> None:
    if value:
        print(f"gptcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for unexpected errors.")] = False,
) -> None:
    """A scriptable command line for chat models behind the OpenAI Chat Completions API.

    Exit codes: 0 ok, 1 unexpected, 2 usage, 3 config, 4 auth, 5 rate limit, 6 network,
    7 over budget, 8 context too long, 9 invalid structured output, 10 batch items failed, 11 checks failed,
    130 interrupted.
    """
    if isinstance(ctx.obj, Run):
        ctx.obj.debug = ctx.obj.debug or debug


# The commands register themselves on ``app`` when imported; the order is --help's order
# (the everyday commands first; Typer lists the ``profiles`` group after them).
from . import ask, chat, count, replay, batch, models, usage, cmd  # noqa: E402, I001
from . import profiles, tools  # noqa: E402
from .options import METAVARS_BY_FLAG, METAVARS_BY_TYPE  # noqa: E402

# Whole one-line summaries for the command list (Click would cut the docstrings' with "...").
SUMMARIES = {
    "ask": "One question, one answer on stdout: made for scripts.",
    "chat": "Talk with a model: history, live Markdown, /commands.",
    "count": "Count tokens and the input cost, before sending anything.",
    "replay": "List, show, export and re-run saved conversations.",
    "batch": "Send every prompt of a file, concurrently; resumable.",
    "models": "List the server's models, with price and context window.",
    "usage": "What you spent, from the log: by day, model, profile or tag.",
    "cmd": "A task in words to one shell command; a keypress runs it.",
    "profiles": "List, show and create TOML profiles.",
    "list": "List every profile (a broken one with its error).",
    "show": "Show a profile's settings and where each one came from.",
    "new": "Create a user profile and print its path.",
    "tools": "List the tools of a profile's MCP servers.",
    "tools list": "List every tool of every MCP server, with its description.",
}
compat.set_summaries(app, SUMMARIES)
compat.examples_unwrapped(app)
compat.uniform_metavars(app, METAVARS_BY_FLAG, METAVARS_BY_TYPE)
compat.plain_argument_usage()

__all__ = [
    "app",
    "ask",
    "batch",
    "chat",
    "cmd",
    "count",
    "main",
    "models",
    "profiles",
    "replay",
    "run",
    "tools",
    "usage",
]


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        signal.signal(signal.SIGTERM, _sigterm)
        # A closed terminal or a dropped SSH session: as SIGTERM, the partial reply is kept (exit 130).
        # Unless it was ignored when we started (``nohup gptcli ...``): then it stays ignored.
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signal.signal(signal.SIGHUP, _sigterm)
    except ValueError:
        pass  # not the main thread (tests calling main() in a thread)
    sys.exit(run(args))


def _without_debug(args: list[str]) -> list[str]:
    """``args`` without ``--debug`` (before a ``--``): it is a root option, but the hint
    "rerun with --debug" is followed by adding it anywhere (``gptcli ask --debug ...``)."""
    end = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[:end]:
        return args
    return [a for a in args[:end] if a != "--debug"] + args[end:]


def _reader_gone() -> int:
    """The reader went away (``| head``): not an error worth a message; exit 0, as ``cat`` would."""
    try:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    except OSError:
        pass
    return 0


def shell_flag(flag: str, shell: str) -> int:
    """``gptcli --install-completion SHELL`` / ``--show-completion SHELL``.

    Typer's flags take no value (they detect the shell from the parent process), so a
    shell named after them would be silently ignored: ``--install-completion zsh`` run
    from bash installed the bash script. Naming the shell is the clearer way to ask.
    """
    from ..completions import COMPLETE_VAR, PROG, SHELLS, script

    if shell not in SHELLS:
        raise UsageError(f"no completion for shell {shell!r}", hint=f"one of: {', '.join(SHELLS)}")
    if flag == "--show-completion":
        sys.stdout.write(script(shell))
        sys.stdout.flush()
        return 0
    path = compat.install_completion(PROG, COMPLETE_VAR, shell)
    print(f"{shell} completion installed in {path}")
    print("Completion will take effect once you restart the terminal")
    return 0


def install_integration(args: list[str]) -> int:
    """``gptcli --install-integration SHELL``: print the Ctrl-G binding; on a terminal, offer to append it."""
    from .. import integration
    from ..profiles import display_path

    if len(args) != 1 or args[0] not in integration.SHELLS:
        raise UsageError(
            "--install-integration takes a shell: bash, zsh or fish", hint="gptcli --install-integration bash"
        )
    shell = args[0]
    path = integration.rc_file(shell)
    where = display_path(path)
    sys.stdout.write(integration.snippet(shell))
    sys.stdout.flush()
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(f"# to install it: gptcli --install-integration {shell} >> {where}", file=sys.stderr)
        return 0
    if integration.installed(path):
        print(f"\nalready in {where}")
        return 0
    try:
        answer = input(f"\nAppend this to {where}? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        print("nothing changed")
        return 0
    integration.install(shell)
    print(f"added to {where}; open a new shell, type a task and press Ctrl-G")
    return 0


def run(args: list[str]) -> int:
    """Run the app on ``args``; return the exit code (every error already said on stderr)."""
    from typer.exceptions import Abort, Exit

    click_exception, no_args_is_help = compat.click_exceptions()
    state = Run(debug="--debug" in args or os.environ.get("GPTCLI_DEBUG") == "1")
    args = _without_debug(args)

    def print_error(err: GptcliError | str) -> None:
        from .. import render  # only on errors: --help and --version do without it

        render.print_error(err)

    try:
        if len(args) == 2 and args[0] in ("--install-completion", "--show-completion"):
            return shell_flag(args[0], args[1])  # Typer's own flags would ignore the shell named
        if args and args[0] == "--install-integration":
            return install_integration(args[1:])
        result = app(args=args, prog_name="gptcli", standalone_mode=False, obj=state)
        return result if isinstance(result, int) else 0
    except GptcliError as e:
        print_error(e)
        return int(e.exit_code)
    except (KeyboardInterrupt, Abort):
        try:
            print_error(Interrupted("interrupted"))
        except OSError:
            pass  # SIGHUP: the terminal that would show it is gone
        return int(ExitCode.INTERRUPTED)
    except Exit as e:
        if isinstance(e.__cause__, KeyboardInterrupt):  # Typer turns Ctrl-C into a silent Exit(130)
            print_error(Interrupted("interrupted"))
        return int(e.exit_code)
    except compat.no_such_option() as e:  # "did you mean --model?", the nearest real one
        print_error(compat.nearest_option(e))
        return int(ExitCode.USAGE)
    except no_args_is_help as e:
        print(e.format_message(), file=sys.stderr)  # type: ignore[attr-defined]
        return int(ExitCode.USAGE)
    except click_exception as e:
        print_error(e.format_message())  # type: ignore[attr-defined]
        code = e.exit_code  # type: ignore[attr-defined]
        return int(ExitCode.USAGE) if code == 2 else int(code)
    except BrokenPipeError:
        return _reader_gone()
    except SystemExit as e:
        # Click turns a BrokenPipeError (EPIPE) into a silent exit 1; a reader that leaves is no error.
        if isinstance(e.__context__, OSError) and e.__context__.errno == errno.EPIPE:
            return _reader_gone()
        raise
    except Exception as e:
        if state.debug:
            raise
        print_error(f"unexpected {type(e).__name__}: {e} (rerun with --debug for the traceback)")
        return int(ExitCode.UNEXPECTED)
