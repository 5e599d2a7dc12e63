"""A real LiteLLM proxy's answers, replayed (issue 15): tests/fixtures/servers/litellm/.

bench/compat/server_litellm.py recorded each file from LiteLLM's proxy in its mock mode, as
the answer to gptcli's exact request (status, content type, body byte for byte). Each
is served again by the loopback server to the command that provoked it; the test checks
the exit code, the one stderr line, stdout, how many requests went out, and the log.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import conversations, read_jsonl, write_profile
from fakeserver import Reply

FIXTURES = Path(__file__).parent / "fixtures" / "servers" / "litellm"
MOCK = "Hello from the LiteLLM mock."


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def replay(name: str) -> Reply:
    response = recorded(name)["response"]
    body = response["body"]
    return Reply(status=response["status"], body=body, content_type=response["headers"].get("content-type"))


@dataclass(frozen=True)
class Case:
    fixture: str
    args: tuple[str, ...]
    code: int
    stderr: str  # the one line (errors) or "" (success)
    stdout: str = ""
    requests: int = 1  # chat requests sent: retried answers twice (max_retries = 1)
    key: str | None = "sk-compat-wrong"  # COMPAT_API_KEY; None: unset
    detail: str = ""  # in the log's error note: the server's whole text
    env: dict[str, str] = field(default_factory=dict)


CASES = {
    "ask-n2-stream": Case(
        "ask-n2-stream",
        ("-n", "2"),
        0,
        "",
        f"--- choice 1 of 2 ---\n{MOCK}\n--- choice 2 of 2 ---\n{MOCK}\n",
    ),
    "err-bad-key": Case(
        "err-bad-key",
        (),
        4,
        "gptcli: error: the server refused the API key (HTTP 400): No connected db. "
        "(the key came from $COMPAT_API_KEY)",
    ),
    "err-no-key": Case(
        "err-bad-key",
        (),
        4,
        "gptcli: error: the server refused the API key (HTTP 400): No connected db. "
        "(no API key was set: profile 'compat' reads $COMPAT_API_KEY (or set api_key_cmd))",
        key=None,
    ),
    "err-context": Case(
        "err-context",
        (),
        8,
        "gptcli: error: the request is too long for mock-gpt: 16,054 prompt tokens > context window 2,000 "
        "(the server said, HTTP 400) (shorten the input)",
        detail="Set 'context_window_fallback'",
    ),
    "err-rate-limit": Case(
        "err-rate-limit",
        ("-m", "limited"),
        5,
        "gptcli: error: rate limited (HTTP 429) after retries: litellm.RateLimitError: this is a mock rate limit error",
        requests=2,
        detail="model group 'limited' failed",
    ),
    "err-server": Case(
        "err-server",
        ("-m", "broken"),
        6,
        "gptcli: error: server error (HTTP 500) after retries: litellm.InternalServerError: "
        "this is a mock internal server error (2 attempts, T s in all)",
        requests=2,
        detail="model group 'broken' failed",
    ),
    "err-timeout": Case(
        "err-timeout",
        ("-m", "slow"),
        6,
        "gptcli: error: the server timed out (HTTP 408) after retries: litellm.Timeout: This is a mock timeout error"
        " (2 attempts, T s in all) (raise 'timeout')",
        requests=2,
        detail="request_timeout: None",
    ),
    "err-unknown-model": Case(
        "err-unknown-model",
        ("-m", "no-such-model"),
        3,
        "gptcli: error: unknown model 'no-such-model' (HTTP 400): /chat/completions: Invalid model name passed in "
        "model=no-such-model. Call `/v1/models` to view available models for your key. "
        "(list the server's models with: gptcli models -p compat)",
    ),
    "err-unsupported-param": Case(
        "err-unsupported-param",
        ("-m", "reasoner", "-t", "0.3"),
        0,
        "warning: the server rejected 'temperature' (unsupported_parameter); retrying once without it",
        "echo: Say hello.\n",
        requests=2,
    ),
}


def _stderr_lines(stderr: str) -> list[str]:
    """Non-blank lines, with the time the retries took (it varies) as T."""
    return [re.sub(r"\d+(\.\d+)? s in all", "T s in all", line) for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("name", sorted(CASES))
def test_litellm_answer_replayed(server, gptcli, isolated: Path, monkeypatch, name: str) -> None:
    case = CASES[name]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    if case.key is not None:
        monkeypatch.setenv("COMPAT_API_KEY", case.key)
    write_profile(isolated, "compat", 'model = "mock-gpt"\napi_key_env = "COMPAT_API_KEY"\nmax_retries = 1\n')
    server.enqueue(replay(case.fixture), times=case.requests if case.code else 1)
    r = gptcli("ask", "-p", "compat", *case.args, "Say hello.")
    assert r.code == case.code, r.stderr
    assert _stderr_lines(r.stderr) == ([case.stderr] if case.stderr else []), r.stderr
    assert r.stdout == case.stdout
    assert len(server.chat_requests()) == case.requests
    (log,) = conversations(isolated)
    records = read_jsonl(log)
    assistant = [m for m in records if m.get("type") == "message" and m["role"] == "assistant"]
    notes = [m for m in records if m.get("kind") == "error"]
    if case.code:
        assert assistant == [] and len(notes) == 1
        assert notes[0]["exit_code"] == case.code
        assert case.detail in notes[0]["detail"]  # the whole answer, for -v and the log
    else:
        (reply,) = assistant
        assert "incomplete" not in reply and "failed" not in reply and not notes


def test_ask_n2_stream_keeps_each_choice_and_its_finish(server, gptcli, isolated: Path) -> None:
    server.enqueue(replay("ask-n2-stream"))
    r = gptcli("ask", "-n", "2", "Say hello.")
    assert r.code == 0, r.stderr
    (log,) = conversations(isolated)
    (reply,) = [m for m in read_jsonl(log) if m.get("role") == "assistant"]
    assert reply["finish_reasons"] == ["stop", None]  # LiteLLM sends one finish_reason, for choice 0
    assert reply["usage"]["completion_tokens"] == 8  # the usage chunk after it was read too


def test_every_recorded_answer_is_replayed() -> None:
    recorded_files = {p.stem for p in FIXTURES.glob("*.json")}
    assert recorded_files == {c.fixture for c in CASES.values()}
    for name in recorded_files:
        rec = recorded(name)
        assert rec["server_version"].startswith("litellm ") and rec["recorded_by"]
        assert set(rec["checks"]) <= set(CASES)  # every check that led to this answer has its case
