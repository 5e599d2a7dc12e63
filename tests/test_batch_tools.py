"""Tools in ``gptcli batch`` (issue 20: "batch items can use tools with an allow list only").

The model is the loopback server (``Reply(tool_calls=...)``), the tools ``FunctionToolbox``
callables put where the profile's MCP servers would be (``test_tool_loop``'s ``tools`` fixture).
The scripted tests run with ``-j 1`` so the server's replies meet the items in order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fakeserver import FakeServer, Reply
from gptcli.tools.calls import REFUSED
from test_tool_loop import LAST_BOX, _fake_toolbox


@pytest.fixture
def tools(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every profile declares the ``fs`` and ``web`` tools (``test_tool_loop.toolbox``); no MCP server."""
    from gptcli.tools import source

    LAST_BOX.clear()
    monkeypatch.setattr(source, "toolbox_for", _fake_toolbox)
    monkeypatch.setattr(source, "declares_tools", lambda profile: True)
    return LAST_BOX


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _input(tmp_path: Path, *lines: str) -> Path:
    src = tmp_path / "in.txt"
    src.write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
    return src


def test_an_allowed_call_runs_and_the_record_has_tool_calls(
    server: FakeServer, gptcli: Any, tools: Any, tmp_path: Path
) -> None:
    server.enqueue(Reply(tool_calls=[{"name": "fs__read", "arguments": {"path": "a.txt"}}]))
    server.enqueue(Reply(text="It says hello."))
    out = tmp_path / "out.jsonl"
    r = gptcli("batch", str(_input(tmp_path, "What is in a.txt?")), "-o", str(out), "-j", "1", "--allow", "fs.read")
    assert r.code == 0, r.stderr
    (box,) = tools
    assert box.calls == [("fs.read", {"path": "a.txt"})]
    first, second = server.chat_requests()
    assert [t["function"]["name"] for t in first["tools"]] == ["fs__read", "fs__list", "web__get"]
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "fs__read"
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": second["messages"][-2]["tool_calls"][0]["id"],
        "content": "contents of a.txt",
    }
    (rec,) = _records(out)
    assert rec["error"] is None and rec["text"] == "It says hello."
    assert rec["steps"] == 2
    (call,) = rec["tool_calls"]
    assert (call["tool"], call["arguments"], call["status"], call["result"]) == (
        "fs.read",
        {"path": "a.txt"},
        "ok",
        "contents of a.txt",
    )
    assert "cost can be larger than the estimate" in r.stderr


def test_a_call_not_allowed_is_refused_never_asked_and_warned_once(
    server: FakeServer, gptcli: Any, tools: Any, tmp_path: Path
) -> None:
    for _ in range(2):
        server.enqueue(Reply(tool_calls=[{"name": "web__get", "arguments": {"url": "http://x"}}]))
        server.enqueue(Reply(text="could not fetch"))
    out = tmp_path / "out.jsonl"
    r = gptcli("batch", str(_input(tmp_path, "one", "two")), "-o", str(out), "-j", "1", "--allow", "fs.*")
    assert r.code == 0, r.stderr
    (box,) = tools
    assert box.calls == []  # nothing ran
    answers = [b["messages"][-1] for b in server.chat_requests()[1::2]]
    assert [a["content"] for a in answers] == [REFUSED.format(tool="web.get")] * 2
    assert [rec["tool_calls"][0]["status"] for rec in _records(out)] == ["refused", "refused"]
    lines = [x for x in r.stderr.splitlines() if "web.get" in x]
    assert lines == [
        "warning: tool web.get: refused 2 times (not on the allow list; batch never asks)"
        " - allow it with --allow web.get"
    ]
    assert "Run it?" not in r.stderr + r.stdout


def test_max_steps_fails_the_item(server: FakeServer, gptcli: Any, tools: Any, tmp_path: Path) -> None:
    server.enqueue(Reply(tool_calls=[{"name": "fs__list", "arguments": {}}]))
    server.enqueue(Reply(tool_calls=[{"name": "fs__list", "arguments": {}}]))
    out = tmp_path / "out.jsonl"
    r = gptcli("batch", str(_input(tmp_path, "list")), "-o", str(out), "-j", "1", "--allow", "fs", "--max-steps", "2")
    assert r.code == 10, r.stderr
    (rec,) = _records(out)
    assert rec["error"]["kind"] == "tool_steps"
    assert "stopped at --max-steps 2: the model still called fs.list" in rec["error"]["message"]
    assert [c["status"] for c in rec["tool_calls"]] == ["ok", "not_run"]
    assert rec["usage"]["prompt_tokens"] > 0 and rec["cost"] > 0  # the steps were paid for
    assert "batch: 0 done, 1 failed · $0.00000" in r.stderr  # in the summary's cost too
    assert len(server.chat_requests()) == 2
    # --resume retries the failed item, tools and all
    server.enqueue(Reply(text="a.txt b.txt"))
    r = gptcli("batch", str(_input(tmp_path, "list")), "-o", str(out), "-j", "1", "--allow", "fs", "--resume")
    assert r.code == 0, r.stderr
    (rec,) = _records(out)
    assert rec["error"] is None and rec["text"] == "a.txt b.txt" and rec["tool_calls"] == []
    assert "tools" in server.chat_requests()[-1]


def test_openai_batch_refuses_tools(server: FakeServer, gptcli: Any, tools: Any, tmp_path: Path) -> None:
    r = gptcli("batch", str(_input(tmp_path, "x")), "-o", str(tmp_path / "o.jsonl"), "--via", "openai-batch")
    assert r.code == 2
    assert r.stderr.splitlines() == [
        "gptcli: error: --via openai-batch runs no tools (the Batch API cannot run a tool loop)"
        " (run with --via local, or use a profile without [mcp.servers])"
    ]
    assert server.chat_requests() == []
    assert tools == []  # no server started


def test_dry_run_counts_the_definitions(
    server: FakeServer, gptcli: Any, tools: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _input(tmp_path, "hello")
    with_tools = gptcli("batch", str(src), "--dry-run")
    assert with_tools.code == 0, with_tools.stderr
    from gptcli.tools import source

    monkeypatch.setattr(source, "declares_tools", lambda profile: False)
    without = gptcli("batch", str(src), "--dry-run")
    assert without.code == 0, without.stderr
    extra = with_tools.json()["prompt_tokens"] - without.json()["prompt_tokens"]
    assert extra > 30


def test_a_real_mcp_server_starts_once_for_concurrent_items(
    server: FakeServer, gptcli: Any, isolated: Path, tmp_path: Path
) -> None:
    """The tests' stdio MCP server from the profile: both items call it, from two workers at once."""
    from conftest import write_profile
    from mcp_servers import stdio_toml

    write_profile(isolated, "dev", stdio_toml("notes") + '[tools]\nallow = ["notes.pid"]\n')
    for _ in range(2):
        server.enqueue(Reply(tool_calls=[{"name": "notes__pid", "arguments": {}}]))
    for _ in range(2):
        server.enqueue(Reply(text="done"))
    out = tmp_path / "out.jsonl"
    r = gptcli("batch", str(_input(tmp_path, "a", "b")), "-p", "dev", "-o", str(out), "-j", "2", "--max-steps", "3")
    assert r.code == 0, r.stderr
    records = _records(out)
    calls = [c for rec in records for c in rec["tool_calls"]]
    assert [rec["error"] for rec in records] == [None, None]
    assert len(calls) == 2 and {c["status"] for c in calls} == {"ok"}
    assert len({c["result"] for c in calls}) == 1  # one server process answered both


def test_tool_flags_without_tools_are_one_line(server: FakeServer, gptcli: Any, tmp_path: Path) -> None:
    src = str(_input(tmp_path, "x"))
    r = gptcli("batch", src, "--max-steps", "3")
    assert (r.code, r.stderr.splitlines()) == (
        2,
        ["gptcli: error: --max-steps: the profile declares no MCP servers, so there is no tool loop"],
    )
    r = gptcli("batch", src, "--allow", "fs.*")
    assert r.code == 2 and "--allow: the profile declares no MCP servers" in r.stderr
    assert server.chat_requests() == []
    r = gptcli("batch", src)  # no tools: the request carries none
    assert r.code == 0, r.stderr
    assert "tools" not in server.chat_requests()[0] and '"tool_calls"' not in r.stdout
