"""llama.cpp's server (llama-cpp-python 0.3.36) answers, replayed (issue 15): tests/fixtures/servers/llamacpp/.

bench/compat/server_llamacpp.py recorded each file from the real server running a tiny
random model, as the answer to gptcli's exact request. Each is served again by the
loopback server; the test checks the exit code, the one stderr line, stdout, the
requests sent and the log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import conversations, read_jsonl, write_profile
from fakeserver import Reply

FIXTURES = Path(__file__).parent / "fixtures" / "servers" / "llamacpp"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def replay(name: str) -> Reply:
    response = recorded(name)["response"]
    return Reply(status=response["status"], body=response["body"], content_type=response["headers"].get("content-type"))


# fixture: (extra args, exit code, the one stderr line, requests sent with max_retries = 1)
CASES = {
    "err-bad-key": (
        (),
        4,
        "gptcli: error: the server refused the API key (HTTP 401): Invalid API key (the key came from $COMPAT_API_KEY)",
        1,
    ),
    "err-context": (
        ("--no-stream",),
        8,
        "gptcli: error: the request is too long for tiny: 63,658 prompt tokens > context window 512 "
        "(the server said, HTTP 400) (shorten the input)",
        1,
    ),
    "err-context-stream": (
        (),
        6,
        "gptcli: error: the server ended the reply without finishing it; 0 characters received",
        2,  # nothing arrived: sent again, like a dropped connection
    ),
    "err-invalid-param": (
        ("--param", 'top_k="many"'),
        1,
        "gptcli: error: the server rejected the request as invalid (HTTP 500): 1 validation error: {'type': "
        "'int_parsing', 'loc': ('body', 'top_k'), 'msg': 'Input should be a valid integer, unable to parse string as "
        "an integer', 'input': 'many'}",
        1,  # a validation error in a 500 is not retried
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_llamacpp_error_replayed(server, gptcli, isolated: Path, monkeypatch, name: str) -> None:
    args, code, line, requests = CASES[name]
    monkeypatch.setenv("COMPAT_API_KEY", "sk-compat-wrong")
    write_profile(isolated, "compat", 'model = "tiny"\napi_key_env = "COMPAT_API_KEY"\nmax_retries = 1\n')
    server.enqueue(replay(name), times=2)
    r = gptcli("ask", "-p", "compat", *args, "Say hello.")
    assert r.code == code, r.stderr
    assert [ln for ln in r.stderr.splitlines() if ln.strip()] == [line]
    assert r.stdout == ""
    assert len(server.chat_requests()) == requests
    (log,) = conversations(isolated)
    records = read_jsonl(log)
    assert not [m for m in records if m.get("role") == "assistant" and not m.get("failed")]
    (note,) = [m for m in records if m.get("kind") == "error"]
    assert note["exit_code"] == code


def test_n_is_dropped_one_choice_and_one_warning(server, gptcli, isolated: Path) -> None:
    server.enqueue(replay("ask-n2-stream"))
    r = gptcli("ask", "-n", "2", "Say hello.")
    assert r.code == 0, r.stderr
    assert [ln for ln in r.stderr.splitlines() if ln.strip()] == ["warning: the server returned 1 of 2 choices"]
    assert r.stdout.startswith("--- choice 1 of 1 ---\n") and r.stdout.count("--- choice") == 1
    assert len(r.stdout.strip().splitlines()) >= 2  # its text
    (log,) = conversations(isolated)
    (reply,) = [m for m in read_jsonl(log) if m.get("role") == "assistant"]
    assert "incomplete" not in reply


def test_every_recorded_answer_is_replayed() -> None:
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(CASES) | {"ask-n2-stream"}
    for p in FIXTURES.glob("*.json"):
        assert recorded(p.stem)["server_version"].startswith("llama-cpp-python ")
