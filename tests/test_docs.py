"""The docs stay true to the code: every command's --help, the README's tables, CI's test command.

* ``--help`` works for every command (sub-commands too), with a one-line summary and
  examples, and no Python type names where a metavar belongs;
* every profile key the validator accepts, every exit code and every environment
  variable the code reads is in the README;
* ``.ci/run`` runs exactly the README's test command.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import ROOT, SRC, run_gptcli
from gptcli import cli, profiles
from gptcli.errors import ExitCode

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[tuple[str, ...]]:
    import typer.main

    root: Any = typer.main.get_command(cli.app)
    out: list[tuple[str, ...]] = [()]

    def walk(group: Any, path: tuple[str, ...]) -> None:
        for name, cmd in group.commands.items():
            out.append((*path, name))
            if hasattr(cmd, "commands"):
                walk(cmd, (*path, name))

    walk(root, ())
    return out


COMMANDS = _commands()


def test_every_command_is_listed() -> None:
    names = {" ".join(c) for c in COMMANDS}
    expected = {"ask", "chat", "replay", "count", "batch", "models", "profiles", "profiles list", "profiles show"}
    assert expected | {"profiles new"} <= names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "gptcli")
def test_help_has_a_summary_and_examples(command: tuple[str, ...]) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli.app, [*command, "--help"], prog_name="gptcli", env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    text = result.output
    summary = text.split("\n\n")[1].strip()  # the paragraph after the usage line
    assert summary and not summary.startswith(("Options", "Arguments")), text
    examples = text.split("Examples:", 1)
    assert len(examples) == 2, f"gptcli {' '.join(command)} --help has no Examples"
    lines = [ln.strip() for ln in examples[1].splitlines() if "gptcli " in ln]
    assert len(lines) >= 2, f"gptcli {' '.join(command)} --help: fewer than two examples"
    prefix = " ".join(("gptcli", *command))
    assert any(prefix in ln for ln in lines), f"no example runs {prefix}"
    assert not re.search(r"<(list|tuple|dict|Path|path)\b|<float range>", text), "a type where a metavar belongs"


def test_help_in_a_subprocess() -> None:
    """The real entry point, as a user runs it (the in-process runner above skips main())."""
    r = run_gptcli("profiles", "show", "--help", process=True)
    assert r.code == 0 and "Examples:" in r.stdout and "NAME" in r.stdout


def _table_rows(heading: str) -> list[str]:
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [ln for ln in section.splitlines() if ln.startswith("|")]


def test_every_profile_key_is_in_the_readme_table() -> None:
    rows = "\n".join(_table_rows("Profiles"))
    missing = [k for k in sorted(profiles.PROFILE_KEYS) if f"`{k}`" not in rows and f"`[{k}]`" not in rows]
    assert not missing, f"profile keys missing from the README's table: {missing}"
    for alias in profiles.ALIASES:
        assert f"`{alias}`" in rows


def test_every_exit_code_is_in_the_readme_table() -> None:
    codes = {int(m.group(1)) for m in (re.match(r"\|\s*(\d+)\s*\|", ln) for ln in _table_rows("Exit codes")) if m}
    assert {int(c) for c in ExitCode} == codes


def test_every_environment_variable_is_in_the_readme() -> None:
    rows = "\n".join(_table_rows("Environment variables"))
    used: set[str] = set()
    for path in (SRC / "gptcli").glob("*.py"):
        used |= set(re.findall(r"[\"'](GPTCLI_[A-Z_]+|OPENAI_[A-Z_]+|TIKTOKEN_[A-Z_]+)[\"']", path.read_text()))
    assert used, "found no variables: the pattern is stale"
    missing = sorted(v for v in used if f"`{v}" not in rows)
    assert not missing, f"environment variables missing from the README: {missing}"


def test_ci_runs_the_readmes_test_command() -> None:
    quick = README.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quick, re.S)
    test_block = next(b for b in blocks if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    verbatim = ci.split("# --- the README's test command, verbatim ---\n", 1)[1]
    assert [ln for ln in verbatim.splitlines() if ln.strip()] == [ln for ln in test_block.splitlines() if ln.strip()]


def test_readme_links_resolve() -> None:
    for target in re.findall(r"\]\(((?!https?:|#)[^)]+)\)", README):
        assert (ROOT / target.split("#")[0]).exists(), f"README links to a missing file: {target}"


def test_completions_section_names_the_committed_files() -> None:
    from gptcli.completions import FILES

    section = README.split("\n## Shell completion\n", 1)[1].split("\n## ", 1)[0]
    for name in FILES.values():
        assert f"completions/{name}" in section
        assert (ROOT / "completions" / name).is_file()


def test_readme_mentions_every_command() -> None:
    for command in COMMANDS:
        if command:
            assert f"gptcli {' '.join(command)}" in README, f"the README never shows gptcli {' '.join(command)}"
