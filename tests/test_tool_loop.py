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
from gptcli.errors import ToolStepsError
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
