"""Flags that mean one thing (issue 14): ``-c`` is a plain flag, ``--cid ID`` names a
conversation, nothing rewrites argv; and the shared flags reach every command as one value.

In-process through ``gptcli.cli.run`` (the real exit path, Typer's parser, the loopback
server); no subprocess.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import conversations
from gptcli import cli
from gptcli.cli.options import Overrides


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def texts(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"]]


@pytest.fixture(autouse=True)
def no_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    class Empty(io.TextIOWrapper):
        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stdin", Empty(io.BytesIO(b"")))


def test_dash_c_takes_no_value_the_next_word_is_the_prompt(server: Any, capsys: Any, isolated: Path) -> None:
    assert run(capsys, "ask", "first")[0] == 0
    code, _, err = run(capsys, "ask", "-c", "2024", "was", "a", "good", "year")
    assert code == 0, err
    assert texts(server.chat_requests()[1]) == ["first", "echo: first", "2024 was a good year"]
    assert len(conversations(isolated)) == 1


def test_dash_c_anywhere_among_the_words_means_continue(server: Any, capsys: Any, isolated: Path) -> None:
    assert run(capsys, "ask", "first")[0] == 0
    assert run(capsys, "ask", "explain", "tar", "-c", "flag")[0] == 0
    assert texts(server.chat_requests()[1])[-3:] == ["first", "echo: first", "explain tar flag"]
    # After --, "-c" is a word of the prompt: a new conversation.
    assert run(capsys, "ask", "--", "explain", "tar", "-c", "flag")[0] == 0
    assert texts(server.chat_requests()[2]) == ["explain tar -c flag"]
    assert len(conversations(isolated)) == 2


def test_dash_c_with_a_hex_word_is_no_longer_an_id(server: Any, capsys: Any, isolated: Path) -> None:
    assert run(capsys, "ask", "one")[0] == 0
    (path,) = conversations(isolated)
    assert run(capsys, "ask", "two")[0] == 0  # now the last conversation is another one
    code, _, err = run(capsys, "ask", "-c", path.stem, "more")
    assert code == 0, err
    assert texts(server.chat_requests()[2]) == ["two", "echo: two", f"{path.stem} more"]


def test_cid_names_a_conversation_by_prefix_or_path(server: Any, capsys: Any, isolated: Path) -> None:
    assert run(capsys, "ask", "one")[0] == 0
    (path,) = conversations(isolated)
    assert run(capsys, "ask", "two")[0] == 0
    assert run(capsys, "ask", "--cid", path.stem[:6], "three")[0] == 0
    assert texts(server.chat_requests()[2]) == ["one", "echo: one", "three"]
    assert run(capsys, "ask", "--cid", str(path), "four")[0] == 0
    assert texts(server.chat_requests()[3])[-1] == "four" and len(server.chat_requests()[3]["messages"]) == 5
    code, _, err = run(capsys, "ask", "--cid", "ffff0000", "five")
    assert code == 3 and "no conversation with id ffff0000" in err
    code, _, err = run(capsys, "ask", "--cid")
    assert code == 2 and "--cid" in err  # --cid always needs its value


def test_chat_continue_flags(server: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    import io
    import sys

    assert run(capsys, "ask", "one")[0] == 0
    (path,) = conversations(isolated)
    for flag in ("-c", "--continue", "--resume"):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"again\n")))
        code, _, err = run(capsys, "chat", flag)
        assert code == 0, (flag, err)
        assert texts(server.chat_requests()[-1])[:2] == ["one", "echo: one"], flag
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"by id\n")))
    assert run(capsys, "chat", "--cid", path.stem[:6])[0] == 0
    assert texts(server.chat_requests()[-1])[-1] == "by id"
    # The old `--resume ID`: refused with a hint, never taken as a guess.
    code, _, err = run(capsys, "chat", "--resume", path.stem[:6])
    assert code == 2 and "--cid ID" in err
    assert len(conversations(isolated)) == 1


def test_batch_resume_is_a_plain_flag_before_the_input(server: Any, capsys: Any, tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("a\nb\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run(capsys, "batch", str(src), "-o", str(out))[0] == 0
    code, _, err = run(capsys, "batch", "--resume", str(src), "-o", str(out))
    assert code == 0, err
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2  # nothing done twice


def test_shared_flags_arrive_as_one_overrides_value(server: Any, capsys: Any) -> None:
    code, out, err = run(
        capsys, "ask", "--dry-run", "-m", "gpt-4o", "-t", "0.5", "--stop", "x", "--stop", "y", "--param", "foo=1", "hi"
    )
    assert code == 0, err
    body = json.loads(out)["body"]
    assert (body["model"], body["temperature"], body["stop"], body["foo"]) == ("gpt-4o", 0.5, ["x", "y"], 1)
    o = Overrides(profile="coder", model="m", stop=("a",), n=2)
    assert o.settings() == {"model": "m", "stop": ["a"], "n": 2}
    assert o.given() == ["n", "stop"]


def test_no_module_level_state_between_runs(capsys: Any) -> None:
    assert not hasattr(cli, "_state")
    assert not hasattr(cli, "normalize_argv")
