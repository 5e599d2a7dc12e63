"""Cassettes (GPTCLI_CASSETTE): a script that calls gptcli, recorded once, replays offline byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SECRET_KEY, SRC

SCRIPT = """\
set -e
gptcli ask "Summarise: cassettes"
gptcli ask --no-stream -t 0.2 "二つ目"
gptcli ask -c "and a follow-up"
printf 'hi\\n/exit\\n' | gptcli chat
"""


def _run_script(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "gptcli"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gptcli "$@"\n')
    shim.chmod(0o755)
    full = {**os.environ, **env, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(SRC)}
    return subprocess.run(["bash", "-c", SCRIPT], env=full, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # a shell script run twice: eight real gptcli processes
def test_a_script_run_twice_replays_byte_identical_with_the_server_gone(server, tmp_path: Path) -> None:
    tape = tmp_path / "cassettes" / "summarise.jsonl"
    first = _run_script(tmp_path, {"GPTCLI_CASSETTE": str(tape)})
    assert first.returncode == 0, first.stderr
    assert "echo: Summarise: cassettes" in first.stdout and "echo: 二つ目" in first.stdout
    sent = len(server.chat_requests())
    assert sent == 4
    text = tape.read_text(encoding="utf-8")
    assert SECRET_KEY not in text and "Authorization" not in text and "Bearer" not in text
    assert len(text.splitlines()) == 4

    # The server is unreachable, there is no key: the replay needs neither.
    offline = {
        "GPTCLI_CASSETTE": str(tape),
        "GPTCLI_CASSETTE_MODE": "replay",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY": "",
    }
    second = _run_script(tmp_path, offline)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert len(server.chat_requests()) == sent


def test_replay_mode_refuses_an_unseen_request_naming_the_cassette(server, gptcli, tmp_path: Path) -> None:
    tape = tmp_path / "t.jsonl"
    assert gptcli("ask", "recorded", env={"GPTCLI_CASSETTE": str(tape)}).code == 0
    r = gptcli("ask", "never recorded", env={"GPTCLI_CASSETTE": str(tape), "GPTCLI_CASSETTE_MODE": "replay"})
    assert r.code == 3, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert str(tape) in line and "no recording of this request" in line and "never recorded" in line
    assert len(server.chat_requests()) == 1


def test_auto_mode_sends_only_what_is_not_recorded(server, gptcli, tmp_path: Path) -> None:
    env = {"GPTCLI_CASSETTE": str(tmp_path / "t.jsonl")}
    assert gptcli("ask", "one", env=env).stdout == "echo: one\n"
    assert gptcli("ask", "one", env=env).stdout == "echo: one\n"
    assert len(server.chat_requests()) == 1
    assert gptcli("ask", "two", env=env).stdout == "echo: two\n"
    assert len(server.chat_requests()) == 2
    # Another temperature is another request: the key is the whole normalised body.
    assert gptcli("ask", "-t", "0.1", "one", env=env).code == 0
    assert len(server.chat_requests()) == 3


def test_record_mode_always_sends_and_the_last_recording_wins(server, gptcli, tmp_path: Path) -> None:
    tape = tmp_path / "t.jsonl"
    env = {"GPTCLI_CASSETTE": str(tape), "GPTCLI_CASSETTE_MODE": "record"}
    assert gptcli("ask", "one", env=env).code == 0
    assert gptcli("ask", "one", env=env).code == 0
    assert len(server.chat_requests()) == 2
    records = [json.loads(x) for x in tape.read_text().splitlines()]
    assert len(records) == 2 and records[0]["key"] == records[1]["key"]
    assert records[0]["request"]["messages"][-1]["content"] == "one"


def test_a_bad_mode_is_a_usage_error(server, gptcli, tmp_path: Path) -> None:
    r = gptcli("ask", "x", env={"GPTCLI_CASSETTE": str(tmp_path / "t.jsonl"), "GPTCLI_CASSETTE_MODE": "rewind"})
    assert r.code == 2 and "GPTCLI_CASSETTE_MODE" in r.stderr
    assert server.chat_requests() == []


def test_batch_items_replay_from_the_cassette(server, gptcli, tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("alpha\nbeta\n")
    env = {"GPTCLI_CASSETTE": str(tmp_path / "t.jsonl")}
    first = gptcli("batch", str(prompts), "--ordered", env=env)
    assert first.code == 0, first.stderr
    assert len(server.chat_requests()) == 2
    offline = {**env, "GPTCLI_CASSETTE_MODE": "replay", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    again = gptcli("batch", str(prompts), "--ordered", env=offline)
    assert again.code == 0, again.stderr
    texts = [json.loads(line)["text"] for line in again.stdout.splitlines()]
    assert texts == ["echo: alpha", "echo: beta"]
    assert len(server.chat_requests()) == 2


def test_the_request_key_ignores_transport_options_only() -> None:
    from gptcli.backends.cassette import request_key

    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    assert request_key(body) == request_key({**body, "stream_options": {"include_usage": True}})
    assert request_key(body) == request_key(dict(reversed(list(body.items()))))
    assert request_key(body) != request_key({**body, "temperature": 0.5})
    assert request_key(body) != request_key({**body, "stream": False})
