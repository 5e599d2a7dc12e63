"""The tool loop (issue 20): tool calls read from the wire, decided, run, answered and logged.

The model's side is the loopback server (``fakeserver.Reply(tool_calls=...)``: streamed
deltas split across chunks, parallel calls interleaved) or ``backends/memory.py``; the
tools are ``FunctionToolbox`` callables.
"""

from __future__ import annotations

from typing import Any

import pytest
from fakeserver import FakeServer, Reply

from gptcli.backends import openai as openai_backend
from gptcli.backends.tool_deltas import ToolCallParts, message_calls
from gptcli.models import Completion, Profile

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
