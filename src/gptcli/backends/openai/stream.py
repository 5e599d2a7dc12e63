"""One chat request through the sync SDK: the stream read into ``Delta``s and a ``Completion``.

A stream that breaks after some text raises ``StreamBroken`` carrying what arrived; one
that ends before any text without finishing is sent again (``chat``); a reply whose
choices did not finish is an ``IncompleteReply``.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import replace
from typing import Any

from ...errors import IncompleteReply, NetworkError, StreamBroken
from ...models import Completion, Delta, Profile, Usage
from .. import openai_wire as wire
from ..openai_wire import describe_exception, scrub
from ..tool_deltas import ToolCallParts, message_calls
from .sdk import _with_time, make_client, translate


def chat(profile: Profile, body: dict[str, Any], *, key: str) -> Generator[Delta, None, Completion]:
    """One request; a stream that ends before any text without finishing is sent again.

    Such a stream (cut off when the server took another request, or an empty event
    stream) is retried like a dropped connection, within the profile's ``max_retries``;
    once text has arrived it is an ``IncompleteReply`` (exit 6).
    """
    attempt = 0
    while True:
        try:
            return (yield from _chat_once(profile, body, key=key))
        except IncompleteReply as e:
            if e.partial.text or any(e.partial.texts) or attempt >= profile.max_retries:
                raise
            attempt += 1
            time.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))


def _chat_once(profile: Profile, body: dict[str, Any], *, key: str) -> Generator[Delta, None, Completion]:
    client = make_client(profile, key)
    import openai

    from .. import deadline

    start = time.monotonic()
    params = dict(body)
    stream = bool(params.pop("stream", False))
    known, extra = wire.split_params(params)
    try:
        if not stream:
            resp = client.chat.completions.create(**known, extra_body=extra or None)
            return _from_response(resp, body["model"], time.monotonic() - start)
        chunks = client.chat.completions.create(**known, stream=True, extra_body=extra or None)
    except openai.APIError as e:
        raise _with_time(translate(e, key, profile), e, client) from None
    except deadline.Exceeded as e:  # while reading a non-streamed body
        raise NetworkError(str(e), hint="raise 'deadline' (or --deadline)") from None
    except ValueError as e:  # a 200 whose body is not JSON (a proxy cut it short, an HTML page)
        raise NetworkError(f"the server's reply is not valid JSON ({describe_exception(e)})") from None
    return (yield from _consume(chunks, body, start, key, profile))


def _consume(
    chunks: Any, body: dict[str, Any], start: float, key: str, profile: Profile
) -> Generator[Delta, None, Completion]:
    asked = int(body.get("n") or 1)
    texts: dict[int, list[str]] = {}  # by choice index: only the choices that arrived
    thoughts: dict[int, list[str]] = {}  # reasoning in a field of its own, by choice index
    reasons: dict[int, str] = {}
    calls = ToolCallParts()  # the first choice's tool calls, assembled by index (issue 20)
    usage: Usage | None = None
    model = body["model"]

    def completion(incomplete: bool) -> Completion:
        order = sorted(texts)
        return Completion(
            tuple("".join(texts[i]) for i in order),
            tuple(reasons.get(i) for i in order),
            model,
            usage,
            time.monotonic() - start,
            incomplete=incomplete,
            reasonings=tuple("".join(thoughts.get(i, [])) for i in order),
            tool_calls=calls.calls(),
        )

    try:
        for chunk in chunks:
            if getattr(chunk, "model", None):
                model = chunk.model
            if chunk.usage is not None:
                usage = _usage(chunk.usage)
            for choice in chunk.choices or ():
                i = choice.index or 0
                parts = texts.setdefault(i, [])
                content = choice.delta.content if choice.delta else None
                thought = wire.reasoning_field(choice.delta)
                if thought:
                    thoughts.setdefault(i, []).append(thought)
                if content:
                    parts.append(content)
                if content or thought:
                    yield Delta(content or "", i, thought)
                if i == 0 and choice.delta is not None and choice.delta.tool_calls:
                    calls.feed(choice.delta.tool_calls)
                if choice.finish_reason:
                    reasons[i] = choice.finish_reason
    except (KeyboardInterrupt, GeneratorExit):
        _close(chunks)
        raise
    except Exception as e:  # the stream broke: keep what arrived
        _close(chunks)
        message = _broken_stream_message(e, key, profile)
        raise StreamBroken(scrub(message, key), completion(True)) from None
    done = completion(False)
    why = wire.incomplete_choices(done, asked, stream=True)
    if why:
        raise IncompleteReply(why, replace(done, incomplete=True))
    return done


def _broken_stream_message(e: Exception, key: str, profile: Profile) -> str:
    """Why a stream stopped after it started: a stall, a dropped connection, a bad event."""
    import openai

    from ..deadline import Exceeded

    if isinstance(e, Exceeded):
        return str(e)
    if isinstance(e, openai.APITimeoutError):
        return f"the reply stalled: nothing received for {profile.timeout:g} s"
    if isinstance(e, openai.APIConnectionError):
        return f"the connection broke mid-reply ({describe_exception(e.__cause__ or e)})"
    if isinstance(e, openai.APIError):
        return translate(e, key, profile).message
    if isinstance(e, ValueError):
        return f"the server sent a malformed event mid-reply ({describe_exception(e)})"
    return f"the connection broke mid-reply ({describe_exception(e)})"


def _close(chunks: Any) -> None:
    try:
        chunks.close()
    except Exception:
        pass


def _usage(u: Any) -> Usage:
    details = getattr(u, "prompt_tokens_details", None)
    cdetails = getattr(u, "completion_tokens_details", None)
    return Usage(
        prompt_tokens=u.prompt_tokens or 0,
        completion_tokens=u.completion_tokens or 0,
        total_tokens=u.total_tokens or 0,
        cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
        reasoning_tokens=(getattr(cdetails, "reasoning_tokens", 0) or 0) if cdetails else 0,
    )


def _from_response(resp: Any, model: str, latency: float) -> Completion:
    if not hasattr(resp, "choices") or resp.choices is None:
        raise NetworkError("the server's reply is not a chat completion (malformed JSON?)")
    choices = sorted(resp.choices, key=lambda c: c.index or 0)
    completion = Completion(
        tuple((c.message.content or "") if c.message else "" for c in choices),
        tuple(c.finish_reason for c in choices),
        getattr(resp, "model", None) or model,
        _usage(resp.usage) if getattr(resp, "usage", None) else None,
        latency,
        reasonings=tuple(wire.reasoning_field(c.message) for c in choices),
        tool_calls=message_calls(choices[0].message) if choices else (),
    )
    why = wire.incomplete_choices(completion, len(choices))
    if why:
        raise IncompleteReply(why, replace(completion, incomplete=True))
    return completion
