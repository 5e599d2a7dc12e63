"""Every use of Typer's internals, in one place (pyproject.toml pins Typer below the next minor).

Typer 0.29 vendors Click as ``typer._click`` and keeps its completion helpers in
``typer._completion_shared``; neither is public API. gptcli needs three things from them:
the Click exception types (the one exit path in ``cli.main`` maps them to exit codes),
the completion script and installer (``--show-completion SHELL``, ``completions/``), and
the cosmetics of --help (argument names, summaries, metavars, unwrapped examples).
``tests/test_cli_compat.py`` and ``tests/test_help.py`` check each of them against the
installed Typer, so an upgrade that moves one fails there, by name.
"""

from typing import Any


def click_exceptions() -> tuple[type[Exception], type[Exception]]:
    """(ClickException, NoArgsIsHelpError) of the Click that Typer runs on."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    return ClickException, NoArgsIsHelpError


def completion_script(prog: str, complete_var: str, shell: str) -> str:
    from typer._completion_shared import get_completion_script

    return str(get_completion_script(prog_name=prog, complete_var=complete_var, shell=shell))


def install_completion(prog: str, complete_var: str, shell: str) -> Any:
    """Install the script in ``shell``'s usual place; returns the path written."""
    from typer._completion_shared import install

    _, path = install(shell=shell, prog_name=prog, complete_var=complete_var)
    return path


def metavar_alone_in_help() -> bool:
    """Show an argument's metavar alone in --help (``PROMPT``, not ``PROMPT <list[str]>``).

    Typer prints the Python type after the metavar of arguments (options already show the
    metavar alone). Cosmetic only: a Typer without the method keeps its own help, and
    this returns False. Idempotent.
    """
    import typer.core

    cls: Any = typer.core.TyperArgument
    typed = getattr(cls, "display_type_rich", None)
    if typed is None:
        return False
    if getattr(typed, "_gptcli_patched", False):
        return True

    def display_type_rich(self: Any, ctx: Any) -> Any:
        return None if self.metavar else typed(self, ctx)

    display_type_rich._gptcli_patched = True  # type: ignore[attr-defined]
    cls.display_type_rich = display_type_rich
    return True


# --- --help as a user reads it (issue 23) -----------------------------------------------------


def _commands(app: Any) -> Any:
    """Every (name, CommandInfo) of ``app`` and of its sub-apps (``profiles list``...)."""
    for info in app.registered_commands:
        yield info.name or info.callback.__name__, info
    for group in app.registered_groups:
        yield from _commands(group.typer_instance)


def set_summaries(app: Any, summaries: dict[str, str]) -> None:
    """The one-line summary of each command in the command list, whole.

    Click cuts a summary taken from the docstring to the width left ("..."); an
    explicit ``short_help`` is never cut (a long one wraps instead).
    """
    for name, info in _commands(app):
        if name in summaries:
            info.short_help = summaries[name]
    for group in app.registered_groups:  # "tools list": a sub-command whose name another group uses too
        for name, info in _commands(group.typer_instance):
            if f"{group.name} {name}" in summaries:
                info.short_help = summaries[f"{group.name} {name}"]
    for group in app.registered_groups:
        if group.name in summaries:
            group.short_help = summaries[group.name]


def examples_unwrapped(app: Any) -> None:
    """Examples in every epilog are printed as written, never re-wrapped to the terminal's width.

    Click re-flows each paragraph of an epilog; a paragraph that starts with a ``\\b``
    line is kept as it is. Every indented paragraph (an example) gets one, so a long
    example is never broken mid-line and a copy-paste of it works.
    """

    def keep(text: str | None) -> str | None:
        if not isinstance(text, str):
            return text
        paras = text.split("\n\n")
        return "\n\n".join("\b\n" + p if p.startswith("  ") and not p.startswith("\b") else p for p in paras)

    for _, info in _commands(app):
        info.epilog = keep(info.epilog)
    for group in app.registered_groups:
        group.typer_instance.info.epilog = keep(group.typer_instance.info.epilog)
    app.info.epilog = keep(app.info.epilog)


def uniform_metavars(app: Any, by_flag: dict[str, str], by_type: dict[type, str]) -> None:
    """One metavar per kind of value: the flag's own (``--max-cost USD``), else its type's (``N``).

    Typer shows ``<float>``, ``<int>``, ``<str>`` for options without a metavar; this
    gives every such option the name from ``by_flag`` (by its long flag) or ``by_type``.
    """
    import inspect
    import typing

    from typer.models import OptionInfo

    for _, info in _commands(app):
        try:
            params = inspect.signature(info.callback).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in params:
            if typing.get_origin(p.annotation) is not typing.Annotated:
                continue
            base, *meta = typing.get_args(p.annotation)
            for opt in meta:
                if not isinstance(opt, OptionInfo) or opt.metavar is not None or base is bool:
                    continue
                decls: Any = (opt.default, *(opt.param_decls or ()))
                names = [n for n in decls if isinstance(n, str) and n.startswith("--")]
                kind = next((by_flag[n] for n in names if n in by_flag), None)
                if kind is None:
                    plain = [a for a in typing.get_args(base) if a is not type(None)] or [base]
                    kind = by_type.get(plain[0])
                if kind is not None:
                    opt.metavar = kind


def plain_argument_usage() -> bool:
    """Arguments in the usage line as a user reads them: ``INPUT``, ``[NAME]``, ``PROMPT...``.

    Typer writes ``{INPUT}`` for a required argument and ``[PROMPT]...`` for a list.
    Cosmetic only: False (Typer's own) when the method is not there. Idempotent.
    """
    import typer.core

    cls: Any = typer.core.TyperArgument
    if getattr(cls, "_usage_display_name", None) is None:
        return False
    if getattr(cls._usage_display_name, "_gptcli_patched", False):
        return True

    def usage_name(self: Any) -> str:
        name = str(self.display_name_raw)
        if self.nargs != 1:
            return name + "..."
        return name if self.required else f"[{name}]"

    usage_name._gptcli_patched = True  # type: ignore[attr-defined]
    cls._usage_display_name = usage_name
    return True


def no_such_option() -> type[Exception]:
    from typer._click.exceptions import NoSuchOption

    return NoSuchOption


def nearest_option(e: Any) -> str:
    """ "No such option: --mdoel (did you mean --model?)": the one nearest option, not an alphabetical list."""
    import difflib

    raw = str(getattr(e, "option_name", ""))
    name = "".join(c if c.isprintable() else repr(c)[1:-1] for c in raw)  # no control sequence from argv
    possible = list(getattr(e, "possibilities", None) or ())
    best = difflib.get_close_matches(name, possible, n=1, cutoff=0.0) if possible else []
    head = f"No such option: {name}"
    return f"{head} (did you mean {best[0]}?)" if best else f"{head} (see --help)"
