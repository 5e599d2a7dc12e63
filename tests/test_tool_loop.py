"""The tool loop (issue 20): tool calls read from the wire, decided, run, answered and logged.

The model's side is the loopback server (``fakeserver.Reply(tool_calls=...)``: streamed
deltas split across chunks, parallel calls interleaved) or ``backends/memory.py``; the
tools are ``FunctionToolbox`` callables.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

import pytest

from fakeserver import FakeServer, Reply
from gptcli.backends import openai as openai_backend
from gptcli.backends.memory import MemoryBackend
from gptcli.backends.memory import Reply as MemReply
from gptcli.backends.tool_deltas import ToolCallParts, message_calls
from gptcli.conversation import Session
from gptcli.errors import Interrupted, ToolStepsError
from gptcli.models import Completion, Profile, Usage
from gptcli.tools.base import FunctionToolbox, ToolSpec
from gptcli.tools.loop import ToolRun, run_turn
from gptcli.tools.permission import Policy, parse_answer

CALLS = [{"name": "fs__read", "arguments": {"path": "a.txt"}}, {"name": "fs__list", "arguments": {"dir": "."}}]


def _drive(gen: Any) -> Completion:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


# -- reading calls from the wire --------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("same_index", [False, True])
def test_backend_reads_parallel_calls(server: FakeServer, stream: bool, same_index: bool) -> None:
    server.enqueue(Reply(tool_calls=CALLS, tool_calls_same_index=same_index))
    body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream"] = True
    c = _drive(openai_backend.chat(Profile(base_url=server.url, model="gpt-4o"), body, key="k"))
    assert c.finish_reason == "tool_calls"
    assert [(t["function"]["name"], t["function"]["arguments"]) for t in c.tool_calls] == [
        ("fs__read", '{"path": "a.txt"}'),
        ("fs__list", '{"dir": "."}'),
    ]
    assert len({t["id"] for t in c.tool_calls}) == 2


def test_deltas_assembled_by_index_interleaved() -> None:
    parts = ToolCallParts()
    parts.feed([{"index": 0, "id": "a", "type": "function", "function": {"name": "x", "arguments": ""}}])
    parts.feed([{"index": 1, "id": "b", "type": "function", "function": {"name": "y", "arguments": '{"q"'}}])
    parts.feed([{"index": 0, "function": {"arguments": '{"p": '}}])
    parts.feed([{"index": 1, "function": {"arguments": ": 2}"}}, {"index": 0, "function": {"arguments": "1}"}}])
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in parts.calls()] == [
        ("a", "x", '{"p": 1}'),
        ("b", "y", '{"q": 2}'),
    ]


def test_call_without_id_gets_one_and_object_arguments_become_json() -> None:
    calls = message_calls({"tool_calls": [{"function": {"name": "x", "arguments": {"a": 1}}}]})
    assert calls == ({"id": "call_0", "type": "function", "function": {"name": "x", "arguments": '{"a": 1}'}},)


# -- the loop in-process: Session + the memory backend + FunctionToolbox ------------------------

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit-test-key")


def drive(gen: Generator[Any, None, T]) -> tuple[list[Any], T]:
    events: list[Any] = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


def toolbox() -> FunctionToolbox:
    box = FunctionToolbox()
    box.add(
        ToolSpec("fs", "read", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}}),
        lambda a: f"contents of {a['path']}",
    )
    box.add(ToolSpec("fs", "list", "List a folder"), lambda a: "a.txt b.txt")
    box.add(ToolSpec("web", "get", "Fetch a URL"), lambda a: "<html>")
    return box


def run_for(box: FunctionToolbox, *allow: str, asker: Any = None, max_steps: int = 10) -> ToolRun:
    return ToolRun(box, tuple(box.specs()), Policy(allow=allow, asker=asker), max_steps=max_steps)


PROFILE = Profile(model="gpt-4o", system="Be brief.")


def test_two_steps_reach_an_answer_with_the_tool_messages_sent_back() -> None:
    mem = MemoryBackend(
        MemReply("", tool_calls=(("fs__read", {"path": "a.txt"}),), usage=Usage(20, 5, 25)),
        MemReply("It says hello.", usage=Usage(40, 4, 44)),
    )
    box = toolbox()
    session = Session.start(PROFILE, log=False, backend=mem)
    events, turn = drive(run_turn(session, "What is in a.txt?", run_for(box, "fs.*")))
    assert turn.completion.text == "It says hello." and turn.steps == 2
    assert turn.completion.usage == Usage(60, 9, 69)
    assert box.calls == [("fs.read", {"path": "a.txt"})]
    first, second = mem.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["fs__read", "fs__list", "web__get"]
    assert second["tools"] == first["tools"]
    assistant, tool = second["messages"][-2:]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["function"]["name"] == "fs__read"
    assert tool == {"role": "tool", "tool_call_id": "call_0", "content": "contents of a.txt"}
    assert [c["tool"] for c in turn.tool_calls] == ["fs.read"]
    assert turn.tool_calls[0]["result"] == "contents of a.txt" and turn.tool_calls[0]["is_error"] is False
    assert [type(e).__name__ for e in events].count("ToolFinished") == 1


def test_parallel_calls_are_all_answered_in_order() -> None:
    mem = MemoryBackend(
        MemReply(tool_calls=(("fs__read", {"path": "a"}), ("fs__list", {}), ("web__get", '{"url": "x"}'))),
        MemReply("done"),
    )
    session = Session.start(PROFILE, log=False, backend=mem)
    _, turn = drive(run_turn(session, "go", run_for(toolbox(), "fs")))
    tools = [m for m in mem.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tools] == ["call_0", "call_1", "call_2"]
    assert [c["status"] for c in turn.tool_calls] == ["ok", "ok", "refused"]
    assert tools[2]["content"].startswith("refused by the user's policy: web.get")


def test_asker_yes_no_always() -> None:
    answers = iter(["yes", "no", "always"])
    asked: list[str] = []

    def asker(spec: ToolSpec, args: Any) -> Any:
        asked.append(spec.qualified)
        return next(answers)

    calls = (("web__get", {"url": "1"}),)
    mem = MemoryBackend(*(MemReply(tool_calls=calls) for _ in range(4)), MemReply("ok"))
    box = toolbox()
    session = Session.start(PROFILE, log=False, backend=mem)
    _, turn = drive(run_turn(session, "go", run_for(box, asker=asker)))
    assert asked == ["web.get"] * 3  # "always" for the third: the fourth call is not asked
    assert [c["status"] for c in turn.tool_calls] == ["ok", "declined", "ok", "ok"]
    assert len(box.calls) == 3


def test_max_steps_stops_with_exit_12_and_a_valid_history() -> None:
    mem = MemoryBackend(*(MemReply(tool_calls=(("fs__list", {}),)) for _ in range(3)))
    session = Session.start(PROFILE, log=False, backend=mem)
    with pytest.raises(ToolStepsError) as info:
        drive(run_turn(session, "go", run_for(toolbox(), "fs.*", max_steps=2)))
    assert int(info.value.exit_code) == 12 and "--max-steps 2" in info.value.message
    assert len(mem.requests) == 2
    assert session.messages[-1]["role"] == "tool" and session.messages[-1]["content"].startswith("not run")
    assert [c["status"] for c in info.value.turn.tool_calls] == ["ok", "not_run"]  # type: ignore[attr-defined]


def test_bad_arguments_and_unknown_tools_are_told_to_the_model() -> None:
    mem = MemoryBackend(MemReply(tool_calls=(("fs__read", "{not json"), ("nope", {}))), MemReply("sorry"))
    box = toolbox()
    session = Session.start(PROFILE, log=False, backend=mem)
    drive(run_turn(session, "go", run_for(box, "*")))
    assert box.calls == []
    results = [m["content"] for m in mem.requests[1]["messages"] if m["role"] == "tool"]
    assert results[0].startswith("error: the arguments are not a JSON object")
    assert results[1] == "error: no tool named 'nope' was offered"


def test_a_failing_tool_is_an_error_result_and_the_loop_goes_on() -> None:
    box = FunctionToolbox()
    box.add(ToolSpec("fs", "boom"), lambda a: 1 / 0)  # type: ignore[arg-type, return-value]
    mem = MemoryBackend(MemReply(tool_calls=(("fs__boom", {}),)), MemReply("it failed"))
    session = Session.start(PROFILE, log=False, backend=mem)
    _, turn = drive(run_turn(session, "go", run_for(box, "fs")))
    assert turn.tool_calls[0]["is_error"] is True and "division by zero" in turn.tool_calls[0]["result"]
    assert turn.completion.text == "it failed"


def test_policy_patterns() -> None:
    p = Policy(allow=("fs", "web.get", "db.*"))
    assert p.allowed("fs.read") and p.allowed("web.get") and p.allowed("db.query")
    assert not p.allowed("web.post") and not p.allowed("fsx.read")
    assert parse_answer("Y") == "yes" and parse_answer("") == "no" and parse_answer("A") == "always"
    assert parse_answer("maybe") is None


# -- through the CLI, against the loopback server -------------------------------------------


def _fake_toolbox(profile: Any, select: Any = None) -> FunctionToolbox:
    box = toolbox()
    LAST_BOX.append(box)
    return box


LAST_BOX: list[FunctionToolbox] = []


@pytest.fixture
def tools(monkeypatch: pytest.MonkeyPatch) -> list[FunctionToolbox]:
    """Every profile declares the ``fs`` and ``web`` tools of ``toolbox()`` (no MCP server)."""
    from gptcli.tools import source

    LAST_BOX.clear()
    monkeypatch.setattr(source, "toolbox_for", _fake_toolbox)
    monkeypatch.setattr(source, "declares_tools", lambda profile: True)
    return LAST_BOX


def _tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


@pytest.mark.parametrize("stream", [True, False])
def test_ask_two_steps_reach_an_answer(server: FakeServer, gptcli: Any, tools: Any, stream: bool) -> None:
    server.enqueue(Reply(tool_calls=[{"name": "fs__read", "arguments": {"path": "a.txt"}}]))
    server.enqueue(Reply(text="The file says hello."))
    r = gptcli("ask", "--allow", "fs.*", *([] if stream else ["--no-stream"]), "What is in a.txt?")
    assert r.code == 0, r.stderr
    assert r.stdout == "The file says hello.\n"
    first, second = server.chat_requests()
    assert [t["function"]["name"] for t in first["tools"]] == ["fs__read", "fs__list", "web__get"]
    assert first.get("stream", False) is stream
    assert second["messages"][-2]["tool_calls"][0]["function"] == {"name": "fs__read", "arguments": '{"path": "a.txt"}'}
    (tool,) = _tool_messages(second)
    assert tool["content"] == "contents of a.txt"
    assert tool["tool_call_id"] == second["messages"][-2]["tool_calls"][0]["id"]
    assert tools[0].calls == [("fs.read", {"path": "a.txt"})]


def test_ask_parallel_calls_and_only_the_selected_tools(server: FakeServer, gptcli: Any, tools: Any) -> None:
    calls = [{"name": "fs__read", "arguments": {"path": "a"}}, {"name": "fs__list", "arguments": {}}]
    server.enqueue(Reply(tool_calls=calls))
    server.enqueue(Reply(text="two files"))
    r = gptcli("ask", "--tools", "fs", "--allow", "fs", "list them")
    assert r.code == 0, r.stderr
    first, second = server.chat_requests()
    assert [t["function"]["name"] for t in first["tools"]] == ["fs__read", "fs__list"]
    assert [m["content"] for m in _tool_messages(second)] == ["contents of a", "a.txt b.txt"]
    ids = [c["id"] for c in second["messages"][-3]["tool_calls"]]
    assert [m["tool_call_id"] for m in _tool_messages(second)] == ids


def test_ask_refuses_without_a_terminal(server: FakeServer, gptcli: Any, tools: Any) -> None:
    server.enqueue(Reply(tool_calls=[{"name": "web__get", "arguments": {"url": "http://x"}}]))
    server.enqueue(Reply(text="I was not allowed to fetch it."))
    r = gptcli("ask", "--allow", "fs.*", "fetch x")
    assert r.code == 0, r.stderr
    assert r.stdout == "I was not allowed to fetch it.\n"
    assert "warning: tool web.get: refused by the user's policy" in r.stderr
    assert tools[0].calls == []  # never run
    (tool,) = _tool_messages(server.chat_requests()[1])
    assert tool["content"].startswith("refused by the user's policy: web.get is not on the allow list")


def test_ask_max_steps_exit_12_and_json_keeps_the_calls(server: FakeServer, gptcli: Any, tools: Any) -> None:
    for _ in range(3):
        server.enqueue(Reply(tool_calls=[{"name": "fs__list", "arguments": {}}]))
    r = gptcli("ask", "--allow", "fs.*", "--max-steps", "2", "--json", "loop forever")
    assert r.code == 12, r.stderr
    assert len(server.chat_requests()) == 2
    assert "the tool loop stopped at --max-steps 2: the model still called fs.list" in r.stderr
    assert "(raise --max-steps)" in r.stderr
    record = r.json()
    assert [(c["tool"], c["status"]) for c in record["tool_calls"]] == [("fs.list", "ok"), ("fs.list", "not_run")]
    assert record["steps"] == 2


def test_the_log_and_json_hold_every_call(server: FakeServer, gptcli: Any, tools: Any, isolated: Any) -> None:
    from conftest import conversations, read_jsonl

    server.enqueue(Reply(tool_calls=[{"name": "fs__read", "arguments": {"path": "a"}}]))
    server.enqueue(Reply(tool_calls=[{"name": "web__get", "arguments": {"url": "u"}}]))
    server.enqueue(Reply(text="done"))
    r = gptcli("ask", "--allow", "fs.*", "--json", "go")
    assert r.code == 0, r.stderr
    record = r.json()
    assert record["text"] == "done" and record["steps"] == 3
    assert [(c["tool"], c["result"], c["is_error"]) for c in record["tool_calls"]] == [
        ("fs.read", "contents of a", False),
        (
            "web.get",
            "refused by the user's policy: web.get is not on the allow list and there is no terminal to ask",
            True,
        ),
    ]
    assert all(isinstance(c["duration"], float) and "arguments" in c for c in record["tool_calls"])
    (path,) = conversations(isolated)
    rows = read_jsonl(path)
    kinds = [(x["type"], x.get("role") or x.get("kind")) for x in rows]
    assert kinds == [
        ("meta", None),
        ("message", "user"),
        ("message", "assistant"),
        ("note", "tools"),
        ("message", "tool"),
        ("message", "assistant"),
        ("message", "tool"),
        ("message", "assistant"),
    ]
    tool = rows[4]
    assert tool["tool"] == "fs.read" and tool["server"] == "fs" and tool["arguments"] == {"path": "a"}
    assert tool["content"] == "contents of a" and tool["status"] == "ok" and "duration" in tool
    assert rows[2]["tool_calls"][0]["id"] == tool["tool_call_id"]
    assert rows[3]["tools"][0] == {
        "server": "fs",
        "name": "read",
        "description": "Read a file",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
    }
    shown = gptcli("replay", "--last")
    assert "[tool fs.read] (ok" in shown.stdout and "(calls fs__read " in shown.stdout
    assert "[tool web.get] (refused)" in shown.stdout
    # Continuing sends the whole loop back: the calls and their answers.
    server.enqueue(Reply(text="ok"))
    assert gptcli("ask", "-c", "--allow", "fs.*", "and then?").code == 0
    sent = server.chat_requests()[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "tool", "assistant", "user"]
    assert sent[2]["tool_call_id"] == sent[1]["tool_calls"][0]["id"]


def test_rerun_reuses_recorded_results_without_the_toolbox(
    server: FakeServer, gptcli: Any, tools: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.enqueue(Reply(tool_calls=[{"name": "fs__read", "arguments": {"path": "a"}}]))
    server.enqueue(Reply(text="first"))
    assert gptcli("ask", "--allow", "fs.*", "go").code == 0
    from gptcli.tools import source

    def no_servers(*a: Any, **k: Any) -> Any:
        raise AssertionError("a server was started")

    monkeypatch.setattr(source, "toolbox_for", no_servers)
    server.clear()
    server.enqueue(Reply(tool_calls=[{"name": "fs__read", "arguments": {"path": "a"}}]))
    server.enqueue(Reply(text="second"))
    r = gptcli("replay", "--last", "--rerun", "-m", "gpt-4o-mini", "--reuse-tool-results")
    assert r.code == 0, r.stderr
    assert "second" in r.stdout
    first, again = server.chat_requests()
    assert first["model"] == "gpt-4o-mini" and first["tools"][0]["function"]["name"] == "fs__read"
    assert [m["content"] for m in _tool_messages(again)] == ["contents of a"]


def test_max_cost_stops_the_loop_between_steps(server: FakeServer, gptcli: Any, tools: Any, isolated: Any) -> None:
    from conftest import write_profile

    write_profile(isolated, "priced", 'model = "gpt-4o"\n[price]\ninput = 1.0\noutput = 1.0\n')
    server.enqueue(Reply(tool_calls=[{"name": "fs__list", "arguments": {}}], usage={"prompt_tokens": 1_000_000}))
    server.enqueue(Reply(text="never"))
    r = gptcli("ask", "-p", "priced", "--allow", "fs", "--max-cost", "1.0001", "go")
    assert r.code == 7, r.stderr
    assert "the tool loop stopped before step 2 (1 calls made, $1" in r.stderr
    assert len(server.chat_requests()) == 1


DRIVER = """
import sys
from gptcli.tools import source
from gptcli.tools.base import FunctionToolbox, ToolSpec

def toolbox_for(profile, select=None):
    box = FunctionToolbox()
    box.add(ToolSpec("web", "get", "Fetch a URL"), lambda a: "page " + str(a.get("url")))
    return box

source.toolbox_for = toolbox_for
source.declares_tools = lambda profile: True
from gptcli.__main__ import main
main()
"""


def test_asked_on_a_terminal_yes_no_always(server: FakeServer, tmp_path: Any) -> None:
    import os
    import re
    import sys

    import pexpect

    from helpers import SRC, expect_on_pty

    for k in range(1, 5):
        server.enqueue(Reply(tool_calls=[{"name": "web__get", "arguments": {"url": f"u{k}"}}]))
    server.enqueue(Reply(text="all fetched"))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONSAFEPATH", None)
    env.update(TERM="xterm", COLUMNS="100", LINES="30")
    child = pexpect.spawn(
        sys.executable, [str(driver), "ask", "fetch them"], env=env, dimensions=(30, 100), encoding="utf-8", timeout=30
    )
    seen: list[str] = []
    try:
        for answer in ("y", "n", "a"):
            expect_on_pty(child, seen, re.escape("Run it? [y]es / [n]o / [a]lways for web.get: "))
            child.sendline(answer)
        expect_on_pty(child, seen, "all fetched")
        child.expect(pexpect.EOF)
        seen.append(child.before)
    finally:
        child.close()
    out = "".join(seen)
    assert out.count("Run it?") == 3  # the fourth call ran without asking: "always"
    assert '"url": "u1"' in out  # the arguments, as indented JSON
    assert child.exitstatus == 0
    results = [_tool_messages(b)[-1]["content"] for b in server.chat_requests()[1:]]
    assert results == ["page u1", "refused by the user: the user declined to run web.get", "page u3", "page u4"]


def test_end_to_end_with_a_real_mcp_server(server: FakeServer, gptcli: Any, isolated: Any) -> None:
    """The mcp helper's stdio server, started by the profile: allowed, refused, crashing."""
    import json
    import sys

    from conftest import write_profile
    from helpers import TESTS

    script = TESTS / "mcp_servers" / "stdio_server.py"
    write_profile(
        isolated,
        "dev",
        f"[mcp.servers.notes]\ncommand = {json.dumps(sys.executable)}\nargs = [{json.dumps(str(script))}]\n"
        '[tools]\nallow = ["notes.add", "notes.crash"]\n',
    )
    server.enqueue(
        Reply(
            tool_calls=[
                {"name": "notes__add", "arguments": {"a": 2, "b": 3}},
                {"name": "notes__read_note", "arguments": {"name": "todo"}},
            ]
        )
    )
    server.enqueue(Reply(tool_calls=[{"name": "notes__crash", "arguments": {}}]))
    server.enqueue(Reply(text="2 + 3 = 5"))
    r = gptcli("ask", "-p", "dev", "--json", "add 2 and 3")
    assert r.code == 0, r.stderr
    first, second, third = server.chat_requests()
    names = {t["function"]["name"] for t in first["tools"]}
    assert {"notes__add", "notes__read_note", "notes__crash"} <= names
    add, note = _tool_messages(second)
    assert add["content"] == "5"
    assert note["content"].startswith("refused by the user's policy: notes.read_note")
    (crash,) = _tool_messages(third)[-1:]
    assert crash["content"].startswith("error")
    assert "warning: tool notes.read_note: refused" in r.stderr
    assert "warning: tool notes.crash: error" in r.stderr
    record = r.json()
    assert record["text"] == "2 + 3 = 5"
    assert [(c["tool"], c["server"], c["status"]) for c in record["tool_calls"]] == [
        ("notes.add", "notes", "ok"),
        ("notes.read_note", "notes", "refused"),
        ("notes.crash", "notes", "ok"),
    ]
    assert record["tool_calls"][2]["is_error"] is True


def test_chat_runs_the_loop_per_message(server: FakeServer, gptcli: Any, tools: Any) -> None:
    server.enqueue(Reply(tool_calls=[{"name": "fs__read", "arguments": {"path": "a"}}]))
    server.enqueue(Reply(text="it says a"))
    server.enqueue(Reply(tool_calls=[{"name": "web__get", "arguments": {"url": "u"}}]))
    server.enqueue(Reply(text="not allowed"))
    r = gptcli("chat", "--allow", "fs", input="read a\nfetch u\n")
    assert r.code == 0, r.stderr
    assert "it says a" in r.stdout and "not allowed" in r.stdout
    assert "warning: tool web.get: refused by the user's policy" in r.stderr
    requests = server.chat_requests()
    assert len(requests) == 4 and all("tools" in b for b in requests)
    assert [m["content"] for m in _tool_messages(requests[3])] == [
        "contents of a",
        "refused by the user's policy: web.get is not on the allow list and there is no terminal to ask",
    ]
    assert tools[0].calls == [("fs.read", {"path": "a"})]


def test_ctrl_c_during_a_call_stops_the_loop_and_keeps_what_happened() -> None:
    box = FunctionToolbox()
    box.add(ToolSpec("fs", "read"), lambda a: "read it")

    def interrupted(a: Any) -> str:
        raise KeyboardInterrupt

    box.add(ToolSpec("fs", "slow"), interrupted)
    mem = MemoryBackend(MemReply(tool_calls=(("fs__read", {}), ("fs__slow", {}), ("fs__read", {}))))
    session = Session.start(PROFILE, log=False, backend=mem)
    with pytest.raises(Interrupted) as info:
        drive(run_turn(session, "go", run_for(box, "fs")))
    assert int(info.value.exit_code) == 130 and "fs.slow" in info.value.message
    tools = [m for m in session.messages if m["role"] == "tool"]
    assert [m["content"] for m in tools] == [
        "read it",
        "not run: the user interrupted the call",
        "not run: the user interrupted the loop",
    ]
    assert len(mem.requests) == 1  # nothing sent after the Ctrl-C


def test_the_tool_definitions_are_counted_in_each_preflight() -> None:
    from gptcli.models import Preflight

    mem = MemoryBackend(MemReply("plain"), MemReply("with tools"))
    session = Session.start(PROFILE, log=False, backend=mem)
    events, _ = drive(session.turn("hello", exact=True))
    without = next(e for e in events if isinstance(e, Preflight)).prompt_tokens
    session = Session.start(PROFILE, log=False, backend=mem)
    box = toolbox()
    events, _ = drive(run_turn(session, "hello", run_for(box), exact=True))
    with_tools = next(e for e in events if isinstance(e, Preflight)).prompt_tokens
    from gptcli.tokens import counting

    definitions = [s.definition() for s in box.specs()]
    expected = counting.count_messages([], "gpt-4o", None, definitions) - counting.count_messages([], "gpt-4o")
    assert expected > 30 and with_tools == without + expected


def test_dry_run_shows_the_tools_and_a_wrong_name_is_one_line(server: FakeServer, gptcli: Any, tools: Any) -> None:
    r = gptcli("ask", "--dry-run", "--tools", "fs.read", "hello")
    assert r.code == 0, r.stderr
    body = r.json()["body"]
    assert [t["function"]["name"] for t in body["tools"]] == ["fs__read"]
    assert server.chat_requests() == []
    r = gptcli("ask", "--tools", "nope", "hello")
    assert r.code == 2
    assert r.stderr.strip().splitlines() == [
        "gptcli: error: --tools: no server or tool named 'nope' (servers: fs, web) (gptcli tools list)"
    ]
    assert gptcli("ask", "-m", "a", "-m", "b", "--allow", "fs", "hi").code == 2  # a comparison takes no tools


def test_chat_on_a_terminal_asks_before_a_call(server: FakeServer, tmp_path: Any) -> None:
    import os
    import re
    import sys

    import pexpect

    from helpers import SRC, expect_on_pty

    server.enqueue(Reply(tool_calls=[{"name": "web__get", "arguments": {"url": "u1"}}]))
    server.enqueue(Reply(text="fetched it fine"))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONSAFEPATH", None)
    env.update(TERM="xterm", COLUMNS="100", LINES="30")
    child = pexpect.spawn(
        sys.executable, [str(driver), "chat"], env=env, dimensions=(30, 100), encoding="utf-8", timeout=30
    )
    seen: list[str] = []
    try:
        expect_on_pty(child, seen, re.escape("/help · Esc-Enter: new line"))  # the toolbar: ready
        child.send("fetch u1\r")
        expect_on_pty(child, seen, re.escape("Run it? [y]es / [n]o / [a]lways for web.get: "))
        child.sendline("y")
        expect_on_pty(child, seen, "fetched it fine")
    finally:
        child.close(force=True)
    (tool,) = _tool_messages(server.chat_requests()[1])
    assert tool["content"] == "page u1"


def test_text_before_the_calls_and_the_answer_are_paragraphs_apart(server: FakeServer, gptcli: Any, tools: Any) -> None:
    server.enqueue(Reply(text="Let me look.", tool_calls=[{"name": "fs__list", "arguments": {}}]))
    server.enqueue(Reply(text="Two files."))
    r = gptcli("ask", "--allow", "fs", "what is here?")
    assert r.code == 0, r.stderr
    assert r.stdout == "Let me look.\n\nTwo files.\n"
    assistant = server.chat_requests()[1]["messages"][-2]
    assert assistant["content"] == "Let me look." and assistant["tool_calls"]


def test_a_huge_result_is_cut_and_the_model_told() -> None:
    box = FunctionToolbox()
    box.add(ToolSpec("fs", "big"), lambda a: "x" * 500)
    mem = MemoryBackend(MemReply(tool_calls=(("fs__big", {}),)), MemReply("ok"))
    session = Session.start(PROFILE, log=False, backend=mem)
    run = run_for(box, "fs")
    run.result_limit = 100
    _, turn = drive(run_turn(session, "go", run))
    (sent,) = [m["content"] for m in mem.requests[1]["messages"] if m["role"] == "tool"]
    assert sent.startswith("x" * 100 + "\n[truncated: the result was 500 characters; the first 100 are shown]")
    assert turn.tool_calls[0]["truncated"] is True


def test_rerun_runs_the_calls_again_refusing_what_is_not_allowed(server: FakeServer, gptcli: Any, tools: Any) -> None:
    server.enqueue(Reply(tool_calls=[{"name": "fs__read", "arguments": {"path": "a"}}]))
    server.enqueue(Reply(text="first"))
    assert gptcli("ask", "--allow", "fs", "go").code == 0
    server.clear()
    server.enqueue(Reply(tool_calls=[{"name": "fs__read", "arguments": {"path": "b"}}]))
    server.enqueue(Reply(text="second"))
    r = gptcli("replay", "--last", "--rerun")  # no --allow, no terminal: refused
    assert r.code == 0, r.stderr
    assert "warning: tool fs.read: refused by the user's policy" in r.stderr
    server.clear()
    server.enqueue(Reply(tool_calls=[{"name": "fs__read", "arguments": {"path": "c"}}]))
    server.enqueue(Reply(text="third"))
    r = gptcli("replay", "--last", "--rerun", "--allow", "fs.read")
    assert r.code == 0, r.stderr
    assert [m["content"] for m in _tool_messages(server.chat_requests()[1])] == ["contents of c"]
    assert tools[-1].calls == [("fs.read", {"path": "c"})]
