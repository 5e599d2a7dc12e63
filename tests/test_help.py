"""--help as a new user reads it (issue 23, item 5)."""

from __future__ import annotations

import re

import pytest

from gptcli.cli import SUMMARIES, app

COMMANDS = ["ask", "chat", "count", "replay", "batch", "models", "usage", "cmd", "profiles", "tools"]
EVERY_HELP = [
    [],
    *([c] for c in COMMANDS),
    ["profiles", "list"],
    ["profiles", "show"],
    ["profiles", "new"],
    ["tools", "list"],
]


def help_of(gptcli, *words: str, columns: int = 100) -> str:
    r = gptcli(*words, "--help", env={"COLUMNS": str(columns)})
    assert r.code == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("columns", [100, 60])
def test_commands_in_a_useful_order_with_whole_summaries(gptcli, columns: int) -> None:
    out = help_of(gptcli, columns=columns)
    section = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    entries: dict[str, str] = {}
    for line in section.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            name, _, text = line.strip().partition(" ")
            entries[name] = text.strip()
        else:  # a long summary wraps onto the next line: still whole
            entries[name] += " " + line.strip()
    assert list(entries) == COMMANDS
    assert entries == {c: SUMMARIES[c] for c in COMMANDS}
    assert "..." not in section


@pytest.mark.parametrize("words", EVERY_HELP, ids=lambda w: " ".join(w) or "gptcli")
def test_names_and_metavars_as_a_user_reads_them(gptcli, words: list[str]) -> None:
    out = help_of(gptcli, *words)
    assert not re.search(r"\{[A-Z_|]+\}", out.split("\n", 1)[0])  # no {INPUT} in the usage line
    assert not re.search(r"<(int|float|str|path|list\[.*?\])>", out)  # one metavar per kind, named
    assert "[contains]" not in out and "--n " not in out
    for line in out.splitlines():
        if line.lstrip().startswith("--max-cost"):
            assert "--max-cost USD" in line  # money is USD everywhere


def test_usage_lines(gptcli) -> None:
    assert help_of(gptcli, "ask").startswith("Usage: gptcli ask [OPTIONS] PROMPT...")
    assert help_of(gptcli, "batch").startswith("Usage: gptcli batch [OPTIONS] INPUT")
    assert help_of(gptcli, "models").startswith("Usage: gptcli models [OPTIONS] [TEXT]")
    assert help_of(gptcli, "count").startswith("Usage: gptcli count [OPTIONS] TEXT...")
    ask = help_of(gptcli, "ask")
    assert re.search(r"-n, --choices N\s+How many replies", ask)


@pytest.mark.parametrize("words", EVERY_HELP, ids=lambda w: " ".join(w) or "gptcli")
def test_examples_are_never_wrapped(gptcli, words: list[str]) -> None:
    narrow = help_of(gptcli, *words, columns=40)
    epilog = _epilog(words)
    examples = [line.strip() for line in epilog.splitlines() if line.startswith("  ") and "gptcli" in line]
    assert examples, words
    for example in examples:
        assert any(line.strip() == example for line in narrow.splitlines()), example


def _epilog(words: list[str]) -> str:
    if not words:
        return str(app.info.epilog)
    infos = list(app.registered_commands)
    for g in app.registered_groups:
        if words[0] == g.name:
            if len(words) == 1:
                return str(g.typer_instance.info.epilog)
            infos = list(g.typer_instance.registered_commands)
            words = words[1:]
    (info,) = [i for i in infos if (i.name or i.callback.__name__) == words[0]]
    return str(info.epilog)


@pytest.mark.parametrize(
    ("argv", "nearest"),
    [
        (["ask", "--mdoel", "x", "hi"], "--model"),
        (["ask", "--temprature", "1", "hi"], "--temperature"),
        (["batch", "--concurency", "3", "in.txt"], "--concurrency"),
        (["replay", "--gerp", "x"], "--grep"),
    ],
)
def test_unknown_option_suggests_the_nearest_one(gptcli, argv: list[str], nearest: str) -> None:
    r = gptcli(*argv)
    assert r.code == 2 and r.stdout == ""
    assert r.stderr == f"gptcli: error: No such option: {argv[1]} (did you mean {nearest}?)\n"
