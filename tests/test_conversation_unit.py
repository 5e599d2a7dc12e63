"""The conversation use case against the in-memory backend: in-process, no HTTP, no subprocess.

What it proves is the seam (issue 13, item 1): a ``Session`` given a backend object
runs turns, keeps history, survives failures and broken streams, and takes the second
chance, without the openai SDK or a server. It also covers the backend registry and the
``backend`` profile key.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

import pytest

from gptcli import backends, client, profiles
from gptcli.backends.memory import MemoryBackend, Reply
from gptcli.conversation import Session
from gptcli.errors import APIError, AuthError, StreamBroken
from gptcli.models import Delta, Notice, Preflight, Profile, Usage

T = TypeVar("T")

PROFILE = Profile(model="gpt-4o-mini", system="Be brief.", temperature=0.5)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit-test-key")


def drive(gen: Generator[Any, None, T]) -> tuple[list[Any], T]:
    """Run a use-case generator to its end: (the events it yielded, what it returned)."""
    events: list[Any] = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


def test_one_turn_streams_the_reply_and_sends_the_built_body() -> None:
    mem = MemoryBackend(Reply(chunks=("Hel", "lo"), usage=Usage(10, 2, 12)))
    session = Session.start(PROFILE, log=False, backend=mem)
    events, turn = drive(session.turn("hi"))
    assert [e.text for e in events if isinstance(e, Delta)] == ["Hel", "lo"]
    assert any(isinstance(e, Preflight) for e in events)
    assert turn.completion.text == "Hello" and turn.completion.finish_reason == "stop"
    assert turn.completion.usage == Usage(10, 2, 12) and turn.cost is not None
    (body,) = mem.requests
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.5 and body["model"] == "gpt-4o-mini"
    assert turn.request == body


def test_a_second_turn_carries_the_whole_history() -> None:
    mem = MemoryBackend(Reply("Paris."), Reply("About 2 million."))
    session = Session.start(PROFILE, log=False, backend=mem)
    drive(session.turn("Capital of France?"))
    _, turn = drive(session.turn("Its population?", stream=False))
    assert [m["content"] for m in mem.requests[1]["messages"]] == [
        "Be brief.",
        "Capital of France?",
        "Paris.",
        "Its population?",
    ]
    assert "stream" not in mem.requests[1]
    assert turn.completion.text == "About 2 million."
    assert session.messages[-1] == {"role": "assistant", "content": "About 2 million."}


def test_a_failed_question_is_left_out_of_the_history_until_retried() -> None:
    mem = MemoryBackend(AuthError("the server refused the API key (HTTP 401)"), Reply("Hello."), Reply("Fine."))
    session = Session.start(PROFILE, log=False, backend=mem)
    with pytest.raises(AuthError):
        drive(session.turn("hi"))
    assert [m["role"] for m in session.messages] == ["system"]  # the question: history, not context
    assert session.failed_turn == {"content": "hi", "error": "the server refused the API key (HTTP 401)"}
    drive(session.retry())  # /retry resends it
    assert mem.requests[1]["messages"][1:] == [{"role": "user", "content": "hi"}]
    assert session.failed_turn is None
    drive(session.turn("how are you?"))
    assert [m["content"] for m in mem.requests[2]["messages"]][1:] == ["hi", "Hello.", "how are you?"]


def test_a_broken_stream_keeps_the_partial_reply_in_history_and_log() -> None:
    mem = MemoryBackend(Reply(chunks=("Once upon", " a time"), broken="the connection broke mid-reply"), Reply("…"))
    session = Session.start(PROFILE, backend=mem)  # logged: the partial reply is written too
    with pytest.raises(StreamBroken) as info:
        drive(session.turn("a story"))
    assert info.value.partial.text == "Once upon a time" and info.value.partial.incomplete
    assert session.messages[-1] == {"role": "assistant", "content": "Once upon a time"}
    drive(session.turn("go on"))
    assert [m["content"] for m in mem.requests[1]["messages"]][-2:] == ["Once upon a time", "go on"]
    session.close()
    from gptcli import store

    assert session.conversation_id is not None
    kept = store.load(session.conversation_id).messages
    assert next(m["content"] for m in kept if m["role"] == "assistant") == "Once upon a time"


def test_an_unsupported_parameter_gets_a_second_chance_without_it() -> None:
    refused = APIError("HTTP 400: unsupported", status=400, code="unsupported_parameter", param="temperature")
    mem = MemoryBackend(refused, Reply("ok"))
    session = Session.start(PROFILE, log=False, backend=mem)
    events, turn = drive(session.turn("hi"))
    assert mem.requests[0]["temperature"] == 0.5 and "temperature" not in mem.requests[1]
    warnings = [e.text for e in events if isinstance(e, Notice) and e.level == "warning"]
    assert warnings == ["the server rejected 'temperature' (unsupported_parameter); retrying once without it"]
    assert turn.completion.text == "ok" and warnings[0] in turn.notices
    assert "temperature" not in turn.request  # the body is what was last sent


def test_a_refused_limit_is_renamed_not_dropped() -> None:
    refused = APIError("HTTP 400", status=400, code="unsupported_parameter", param="max_completion_tokens")
    mem = MemoryBackend(refused, Reply("ok"))
    prof = Profile(model="gpt-4o-mini", max_tokens=50)
    drive(Session.start(prof, log=False, backend=mem).turn("hi"))
    assert mem.requests[0]["max_completion_tokens"] == 50 and mem.requests[1]["max_tokens"] == 50


def test_a_second_refusal_is_not_retried_again() -> None:
    refused = APIError("HTTP 400", status=400, code="unsupported_parameter", param="temperature")
    other = APIError("HTTP 400: still no", status=400, code="invalid_request_error")
    mem = MemoryBackend(refused, other)
    with pytest.raises(APIError, match="still no"):
        drive(Session.start(PROFILE, log=False, backend=mem).turn("hi"))
    assert len(mem.requests) == 2


def test_dry_run_describes_the_request_through_the_backend_and_sends_nothing() -> None:
    mem = MemoryBackend()
    d = Session.start(PROFILE, log=False, backend=mem).dry_run("hi")
    assert d.request.url == "memory:chat" and d.request.body == d.body
    assert mem.requests == []


def test_the_openai_backend_describes_its_request_with_the_key_redacted() -> None:
    prof = Profile(headers={"X-Api-Key": "secret", "X-Title": "t"})
    d = client.describe_request(prof, {"model": "m", "messages": []})
    assert (d.method, d.url) == ("POST", "https://api.openai.com/v1/chat/completions")
    assert d.headers["Authorization"] == "Bearer [redacted]" and d.headers["X-Api-Key"] == "[redacted]"
    assert d.headers["X-Title"] == "t" and d.body == {"model": "m", "messages": []}


def test_the_backend_key_selects_a_registered_backend_only_inside_the_block() -> None:
    mem = MemoryBackend(Reply("from memory"))
    with pytest.raises(ValueError):
        profiles.validate("backend", "memory")
    with backends.registered("memory", mem):
        assert profiles.validate("backend", "memory") == "memory"
        prof = Profile(backend="memory")
        assert client.backend_for(prof) is mem
        _, turn = drive(Session.start(prof, log=False).turn("hi"))
        assert turn.completion.text == "from memory"
    assert backends.names() == ("openai",)
    assert client.backend_for(Profile()).name == "openai"


def test_the_memory_batch_sender_turns_errors_into_outcomes() -> None:
    import asyncio

    mem = MemoryBackend(Reply("one"), APIError("HTTP 400", status=400))
    sender = mem.async_chat(Profile(), "k")
    first = asyncio.run(sender.send({"model": "m", "messages": []}))
    second = asyncio.run(sender.send({"model": "m", "messages": []}))
    assert first.completion is not None and first.completion.text == "one"
    assert second.completion is None and second.status == 400 and not second.retryable
