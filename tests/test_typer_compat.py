"""The Typer internals gptcli relies on (all behind gptcli.typer_compat) are still where they were.

When a Typer upgrade moves one, this file fails by name, before any user meets it; then
raise the cap on typer in pyproject.toml together with the fix in compat.
"""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from gptcli import typer_compat as compat
from gptcli.cli import app


def test_click_exceptions_are_importable() -> None:
    click_exception, no_args_is_help = compat.click_exceptions()
    assert issubclass(click_exception, Exception) and issubclass(no_args_is_help, Exception)
    assert issubclass(no_args_is_help, click_exception)


def test_completion_script_names_our_variable() -> None:
    for shell in ("bash", "zsh", "fish"):
        text = compat.completion_script("gptcli", "_GPTCLI_COMPLETE", shell)
        assert "_GPTCLI_COMPLETE=complete_" in text


def test_installed_typer_is_within_the_pinned_range() -> None:
    major, minor = (int(x) for x in typer.__version__.split(".")[:2])
    assert (major, minor) == (0, 29), "compat was checked against Typer 0.29: re-check it, then move the cap"


def test_argument_help_shows_the_metavar_alone() -> None:
    assert compat.metavar_alone_in_help() is True  # the patched method exists in this Typer
    assert compat.metavar_alone_in_help() is True  # and patching twice is harmless
    out = CliRunner().invoke(app, ["ask", "--help"], prog_name="gptcli", env={"COLUMNS": "100"}).output
    assert "PROMPT" in out and "<list" not in out
