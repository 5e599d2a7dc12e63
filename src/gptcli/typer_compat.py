"""Every use of Typer's internals, in one place (pyproject.toml pins Typer below the next minor).

Typer 0.29 vendors Click as ``typer._click`` and keeps its completion helpers in
``typer._completion_shared``; neither is public API. gptcli needs three things from them:
the Click exception types (the one exit path in ``cli.main`` maps them to exit codes),
the completion script and installer (``--show-completion SHELL``, ``completions/``), and
a cosmetic patch of argument help. ``tests/test_cli_compat.py`` checks each of them
against the installed Typer, so an upgrade that moves one fails there, by name.
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
