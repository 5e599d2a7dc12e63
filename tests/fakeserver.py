"""Loopback OpenAI-compatible HTTP server for gptcli's tests and benchmarks.

This module owns the *server side* of every test that talks HTTP: a small,
stdlib-only imitation of the OpenAI REST API that listens on 127.0.0.1 and
records every request it receives.  It implements

* ``POST /v1/chat/completions`` (plain JSON and SSE streaming, ``n``, ``stop``,
  ``max_tokens``/``max_completion_tokens``, ``stream_options.include_usage``;
  multi-part user messages, ``image_url``/``file``/``input_audio`` parts, are
  accepted and recorded as sent, and the echo reply uses their text parts),
* ``GET /v1/models`` and ``GET /v1/models/{id}``,
* the Files API (``POST/GET /v1/files``, ``GET/DELETE /v1/files/{id}``,
  ``GET /v1/files/{id}/content``) and the Batches API (``POST/GET
  /v1/batches``, ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``),

plus knobs that let a test script failures: queued :class:`Reply` objects
(errors, delays, dropped connections, malformed bodies, hangs), rejected
parameters, unknown models, a context window and an API key check.

Use it as a module::

    with FakeServer() as server:
        server.enqueue(Reply(status=429, headers={"Retry-After": "1"}))
        ...  # point the client at server.url
        assert server.chat_requests()[0]["model"] == "gpt-4o"

or as a script (the benchmark harness does this)::

    python tests/fakeserver.py --port 0 --delay 0.2 --tokens 2000

which prints the base URL (``http://127.0.0.1:PORT/v1``) as the first line
on stdout and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import re
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "DEFAULT_MODELS",
    "FakeServer",
    "RecordedRequest",
    "Reply",
    "estimate_prompt_tokens",
    "main",
    "markdown_tokens",
    "split_pieces",
]

#: Models listed by ``GET /v1/models`` when ``FakeServer.known_models`` is None.
DEFAULT_MODELS: tuple[str, ...] = ("gpt-4o", "gpt-4o-mini", "o3", "gpt-5")

#: A model name that always fails (404 model_not_found), in chat and in batches.
FAIL_MODEL = "fail-model"

# A fixed "created" stamp for model objects: real ones are old and constant.
_MODEL_CREATED = 1_700_000_000

# Streams without a chunk delay are written in slices of about this size:
# one send() per token would make the *server* the bottleneck of the
# 64-way benchmark, while the client still sees one SSE event per token.
_COALESCE_BYTES = 8192

JSON = dict[str, Any]


# --------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------


@dataclass
class Reply:
    """How the server answers one chat completion request.

    Every field is optional; ``Reply()`` is the normal echo behaviour.
    """

    #: Assistant text; None means ``"echo: " + <last user message>``.
    text: str | None = None
    #: Produce exactly this many "wordN" tokens of Markdown instead of text.
    tokens: int | None = None
    #: HTTP status; >= 400 answers with an OpenAI error body.
    status: int = 200
    #: OpenAI error body ``{"error": {...}}`` (the inner dict alone is also
    #: accepted).  Setting it with a status < 400 answers 400.
    error: JSON | None = None
    #: Extra response headers, e.g. ``{"Retry-After": "1"}``.
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait before sending the response headers.
    delay: float = 0.0
    #: Seconds to wait between stream chunks.
    chunk_delay: float = 0.0
    #: Streaming: close the socket after this many content chunks (no
    #: [DONE]).  Not streaming: close without sending any response.
    drop_after: int | None = None
    #: "json": 200 whose body is not valid JSON (non-streaming);
    #: "sse": a ``data:`` line that is not JSON inside the stream.
    malformed: str | None = None
    #: finish_reason when the text is not cut by max_tokens.
    finish_reason: str = "stop"
    #: Keys merged over the computed usage numbers.
    usage: JSON | None = None
    #: Model name to report instead of the requested one.
    model: str | None = None
    #: Accept the request and never answer (until the server stops).
    hang: bool = False
    #: Thinking sent in a field of its own (see ``reasoning_field``): in the
    #: message, or streamed word by word as deltas before any content.
    reasoning: str | None = None
    #: "reasoning_content" (DeepSeek, vLLM, llama.cpp) or "reasoning" (OpenRouter, Ollama).
    reasoning_field: str = "reasoning_content"
    #: Stream the content in exactly these pieces (e.g. a ``<think>`` tag split
    #: in two) instead of word by word; ``text`` is ignored when set.
    pieces: list[str] | None = None
    #: Replay a recorded answer verbatim: this body (bytes, text, or a JSON
    #: object) with ``status``, whatever the request (streamed or not).
    body: bytes | str | JSON | None = None
    #: Content-Type of ``body`` (default: JSON when it parses as JSON, else text).
    content_type: str | None = None
    #: Streaming: a 200 event stream of exactly these ``data:`` payloads (a
    #: dict is JSON-encoded), then a clean end; ``[]`` is an empty stream.
    events: list[str | JSON] | None = None
    #: Streaming: leave out the finish_reason chunks (the stream still ends
    #: cleanly with [DONE]); a tuple leaves out only those choice indices.
    no_finish: bool | tuple[int, ...] = False
    #: Answer at most this many choices, whatever ``n`` asked for.
    choices: int | None = None
    #: Tool calls the model makes (the first choice): ``{"name", "arguments"}``
    #: (arguments a JSON string or an object; ``"id"`` optional). Streamed as
    #: ``delta.tool_calls`` deltas, the arguments split across several chunks and
    #: the calls interleaved by index; finish_reason becomes "tool_calls" unless
    #: set otherwise. ``text`` (default "") may come before them.
    tool_calls: list[JSON] | None = None
    #: Stream every call at index 0, told apart only by its id (Ollama).
    tool_calls_same_index: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the server received it."""

    method: str
    #: Path without the query string, e.g. "/v1/chat/completions".
    path: str
    #: Header names lowercased; the last value wins for repeated headers.
    headers: dict[str, str]
    #: Parsed JSON body, or None when the body is empty or not JSON.
    body: Any
    raw: bytes
    #: Raw query string ("" when there is none).
    query: str = ""
    #: time.time() when the request was fully read.
    received_at: float = 0.0


# --------------------------------------------------------------------------
# Text helpers (public so tests can compute expected values)
# --------------------------------------------------------------------------


def split_pieces(text: str) -> list[str]:
    """Split *text* into word-sized pieces that concatenate back to *text*.

    Each piece is one "token": one content chunk when streaming and one unit
    of ``completion_tokens`` and of ``max_tokens``.
    """
    lead = text[: len(text) - len(text.lstrip())]
    pieces = re.findall(r"\S+\s*", text[len(lead) :])
    if not pieces:
        return [lead] if lead else []
    pieces[0] = lead + pieces[0]
    return pieces


def _block_tokens(kind: str, start: int, first: bool) -> list[str]:
    """The tokens of one Markdown block whose first word is ``word<start>``."""
    words = [f"word{start + k}" for k in range(48)]
    if kind == "heading":
        toks = [w + " " for w in words[:4]]
        toks[0] = ("# " if first else "## ") + toks[0]
        toks[-1] = toks[-1].rstrip() + "\n\n"
        return toks
    if kind.startswith("para"):
        size = int(kind[4:])
        toks = []
        for k, w in enumerate(words[:size]):
            # Some inline markup so renderers have something to do.
            if k % 12 == 5:
                w = f"**{w}**"
            elif k % 12 == 9:
                w = f"`{w}`"
            # A soft line break every 12 words, a blank line at the end.
            sep = "\n\n" if k == size - 1 else "\n" if k % 12 == 11 else " "
            toks.append(w + sep)
        return toks
    if kind == "list":
        toks = []
        for k, w in enumerate(words[:12]):
            prefix = "- " if k % 4 == 0 else ""
            sep = "\n" if k % 4 == 3 else " "
            toks.append(prefix + w + sep)
        toks[-1] += "\n"
        return toks
    if kind == "code":
        toks = [f"{w} = {start + k}\n" for k, w in enumerate(words[:4])]
        toks[0] = "```python\n" + toks[0]
        toks[-1] += "```\n\n"
        return toks
    raise ValueError(kind)


_BLOCKS = ("heading", "para36", "list", "para24", "code", "para36")


def markdown_tokens(n: int) -> list[str]:
    """Exactly *n* tokens ``word0 .. word<n-1>`` laid out as Markdown.

    The layout cycles through a heading, paragraphs with line breaks and
    inline markup, a bullet list and a fenced ``python`` code block, so
    renderers see realistic output.  A code block cut short by *n* is still
    closed.
    """
    out: list[str] = []
    block = 0
    while len(out) < n:
        kind = _BLOCKS[block % len(_BLOCKS)]
        toks = _block_tokens(kind, len(out), first=block == 0)
        block += 1
        take = toks[: n - len(out)]
        if kind == "code" and len(take) < len(toks):
            take[-1] += "```\n\n"
        out.extend(take)
    return out


def _content_text(content: Any) -> str:
    """Text of a message ``content`` (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type", "text") == "text"
        ]
        return " ".join(texts)
    return ""


def estimate_prompt_tokens(messages: Any) -> int:
    """Deterministic prompt size: sum(3 + words per message) + 3."""
    total = 3
    if isinstance(messages, list):
        for msg in messages:
            content = msg.get("content") if isinstance(msg, dict) else None
            total += 3 + len(_content_text(content).split())
    return total


def _last_user_text(messages: Any) -> str:
    if isinstance(messages, list):
        for msg in reversed(messages):
            if isinstance(msg, dict) and msg.get("role") == "user":
                return _content_text(msg.get("content"))
    return ""


def mask_key(key: str) -> str:
    """Mask an API key the way OpenAI's 401 message does (sk-ab***xyz)."""
    if len(key) > 8:
        return f"{key[:5]}***{key[-3:]}"
    return f"{key[:2]}***"


# --------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------

_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Bad request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to perform this request.", "permission_error", None),
    404: (
        "The requested resource does not exist.",
        "invalid_request_error",
        "not_found",
    ),
    408: ("Request timed out.", "timeout_error", None),
    409: ("Conflict.", "invalid_request_error", None),
    429: (
        "Rate limit reached for requests. Please try again in 1s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    502: ("Bad gateway.", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
}


def error_body(
    message: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> JSON:
    """An OpenAI-shaped error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def default_error(status: int) -> JSON:
    """A sensible OpenAI error body for *status*."""
    if status in _DEFAULT_ERRORS:
        message, type_, code = _DEFAULT_ERRORS[status]
    else:
        try:
            message = HTTPStatus(status).phrase + "."
        except ValueError:
            message = f"HTTP {status}."
        type_ = "server_error" if status >= 500 else "invalid_request_error"
        code = None
    return error_body(message, type_, None, code)


def _reply_error(reply: Reply) -> tuple[int, JSON] | None:
    """(status, body) when *reply* is an error reply, else None."""
    if reply.status < 400 and reply.error is None:
        return None
    status = max(reply.status, 400)
    if reply.error is None:
        return status, default_error(status)
    body = reply.error if "error" in reply.error else {"error": reply.error}
    return status, copy.deepcopy(body)


# Defaults quoted by the "Unsupported value" message, as OpenAI words it.
_PARAM_DEFAULTS = {
    "temperature": "1",
    "top_p": "1",
    "n": "1",
    "presence_penalty": "0",
    "frequency_penalty": "0",
}


def _reject_message(param: str, kind: str, value: Any) -> str:
    if kind == "unsupported_value":
        shown = f"'{value}'" if isinstance(value, str) else json.dumps(value)
        default = _PARAM_DEFAULTS.get(param)
        tail = (
            f"Only the default ({default}) value is supported." if default else "Only the default value is supported."
        )
        return f"Unsupported value: '{param}' does not support {shown} with this model. {tail}"
    if param == "max_tokens":
        return (
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
        )
    return f"Unsupported parameter: '{param}' is not supported with this model."


# --------------------------------------------------------------------------
# Chat completion planning (shared by HTTP and batches)
# --------------------------------------------------------------------------


@dataclass
class _Plan:
    """Everything needed to render one completion, streamed or not."""

    id: str
    created: int
    model: str
    choices: list[tuple[list[str], str]]  # (pieces, finish_reason)
    usage: JSON
    reasoning: list[str] = field(default_factory=list)  # pieces of the thinking, every choice alike
    reasoning_field: str = "reasoning_content"
    tool_calls: list[JSON] = field(default_factory=list)  # the first choice's, as wire dicts
    tool_calls_same_index: bool = False


def _cut_at_stop(pieces: list[str], stops: list[str]) -> tuple[list[str], bool]:
    """Cut *pieces* before the first occurrence of any stop string."""
    text = "".join(pieces)
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    if not hits:
        return pieces, False
    limit = min(hits)
    out: list[str] = []
    pos = 0
    for piece in pieces:
        if pos + len(piece) <= limit:
            out.append(piece)
        elif pos < limit:
            out.append(piece[: limit - pos])
        pos += len(piece)
    return out, True


def _int_param(body: JSON, *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def plan_completion(body: JSON, reply: Reply) -> _Plan:
    """Decide the choices and usage for a (validated) chat request."""
    messages = body.get("messages")
    n = _int_param(body, "n") or 1
    n = max(1, min(n, 128, reply.choices or 128))
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s]
    max_tokens = _int_param(body, "max_completion_tokens", "max_tokens")

    if reply.pieces is not None:
        base = list(reply.pieces)
    elif reply.tokens is not None:
        base = markdown_tokens(reply.tokens)
    else:
        echo = "" if reply.tool_calls else "echo: " + _last_user_text(messages)
        base_text = reply.text if reply.text is not None else echo
        base = split_pieces(base_text)

    choices: list[tuple[list[str], str]] = []
    for i in range(n):
        pieces = list(base)
        if i > 0:
            pieces.append(f" [{i}]")
        finish = reply.finish_reason
        pieces, stopped = _cut_at_stop(pieces, stops)
        if stopped:
            finish = "stop"
        if max_tokens is not None and len(pieces) > max_tokens:
            pieces = pieces[:max_tokens]
            finish = "length"
        choices.append((pieces, finish))

    calls = _wire_calls(reply.tool_calls or [])
    if calls and reply.finish_reason == "stop":
        choices[0] = (choices[0][0], "tool_calls")
    thought = split_pieces(reply.reasoning) if reply.reasoning else []
    prompt = estimate_prompt_tokens(messages)
    completion = sum(len(p) + len(thought) for p, _ in choices)
    completion += sum(len(split_pieces(c["function"]["arguments"])) + 1 for c in calls)
    usage: JSON = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    if reply.usage:
        usage.update(copy.deepcopy(reply.usage))
        if "total_tokens" not in reply.usage:
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    model = reply.model or body.get("model") or "gpt-4o"
    return _Plan(
        id="chatcmpl-" + uuid.uuid4().hex[:24],
        created=int(time.time()),
        model=str(model),
        choices=choices,
        usage=usage,
        reasoning=thought,
        reasoning_field=reply.reasoning_field,
        tool_calls=calls,
        tool_calls_same_index=reply.tool_calls_same_index,
    )


def _wire_calls(calls: list[JSON]) -> list[JSON]:
    """``Reply.tool_calls`` as the wire carries them: ids given, arguments a JSON string."""
    out = []
    for k, call in enumerate(calls):
        args = call.get("arguments", {})
        args = args if isinstance(args, str) else json.dumps(args)
        ident = call.get("id") or f"call_{uuid.uuid4().hex[:8]}_{k}"
        out.append({"id": ident, "type": "function", "function": {"name": call["name"], "arguments": args}})
    return out


def _tool_call_deltas(plan: _Plan) -> list[JSON]:
    """The first choice's calls as stream deltas: each call's head (id, type, name), then its
    arguments in pieces of a few characters, the calls interleaved by index."""
    heads: list[JSON] = []
    tails: list[list[JSON]] = []
    for k, call in enumerate(plan.tool_calls):
        index = 0 if plan.tool_calls_same_index else k
        fn = call["function"]
        heads.append(
            {"index": index, "id": call["id"], "type": "function", "function": {"name": fn["name"], "arguments": ""}}
        )
        args = fn["arguments"]
        pieces = [args[i : i + 5] for i in range(0, len(args), 5)]
        tails.append([{"index": index, "function": {"arguments": p}} for p in pieces])
    if plan.tool_calls_same_index:  # one call after the other: only the id tells them apart
        return [d for head, tail in zip(heads, tails, strict=True) for d in (head, *tail)]
    out = list(heads)
    for step in range(max((len(t) for t in tails), default=0)):
        out.extend(t[step] for t in tails if step < len(t))
    return out


def completion_object(plan: _Plan) -> JSON:
    """The non-streaming ``chat.completion`` object for *plan*."""
    return {
        "id": plan.id,
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": [
            {
                "index": i,
                "message": {
                    "role": "assistant",
                    "content": "".join(pieces) if pieces or not (i == 0 and plan.tool_calls) else None,
                    "refusal": None,
                    "annotations": [],
                    **({plan.reasoning_field: "".join(plan.reasoning)} if plan.reasoning else {}),
                    **({"tool_calls": plan.tool_calls} if i == 0 and plan.tool_calls else {}),
                },
                "logprobs": None,
                "finish_reason": finish,
            }
            for i, (pieces, finish) in enumerate(plan.choices)
        ],
        "usage": plan.usage,
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def _without_finish(obj: JSON, no_finish: bool | tuple[int, ...]) -> JSON:
    """``obj`` with finish_reason null for the choices ``Reply.no_finish`` names."""
    for i, c in enumerate(obj["choices"]):
        if no_finish is True or (isinstance(no_finish, tuple) and i in no_finish):
            c["finish_reason"] = None
    return obj


# Event kinds yielded by stream_events(); the handler uses them for drop_after.
_ROLE, _CONTENT, _EXTRA, _TAIL = "role", "content", "extra", "tail"


def stream_events(
    plan: _Plan, include_usage: bool, malformed_sse: bool = False, no_finish: bool | tuple[int, ...] = False
) -> Iterator[tuple[str, bytes]]:
    """The SSE events of a streamed completion, as (kind, bytes) pairs.

    Chunks are assembled from pre-rendered string pieces rather than by
    json.dumps of a dict each: a 2,000-token stream at 64-way concurrency
    must stay cheap for the server.
    """
    ident, model = json.dumps(plan.id), json.dumps(plan.model)
    head = (
        f'{{"id":{ident},"object":"chat.completion.chunk","created":{plan.created},'
        f'"model":{model},"service_tier":"default","system_fingerprint":"fp_fake",'
        '"choices":['
    )
    # Every chunk carries "usage": null when usage was asked for, like OpenAI.
    tail = "]" + (',"usage":null' if include_usage else "") + "}"

    def choice(index: int, delta: str, finish: str = "null") -> bytes:
        payload = f'{head}{{"index":{index},"delta":{delta},"logprobs":null,"finish_reason":{finish}}}{tail}'
        return b"data: " + payload.encode() + b"\n\n"

    for i in range(len(plan.choices)):
        role = '{"role":"assistant","content":"","refusal":null}'
        yield _ROLE, choice(i, role)
    name = json.dumps(plan.reasoning_field)
    for piece in plan.reasoning:  # the thinking first, as its own field of the delta
        for i in range(len(plan.choices)):
            yield _CONTENT, choice(i, f'{{"content":null,{name}:{json.dumps(piece)}}}')
    longest = max((len(p) for p, _ in plan.choices), default=0)
    sent_broken = False
    # Choices are interleaved token by token, as OpenAI does for n > 1.
    for step in range(longest):
        for i, (pieces, _) in enumerate(plan.choices):
            if step < len(pieces):
                content = json.dumps(pieces[step])
                yield _CONTENT, choice(i, f'{{"content":{content}}}')
                if malformed_sse and not sent_broken:
                    sent_broken = True
                    yield _EXTRA, b'data: {"id": "chatcmpl-broken", "choices": [{\n\n'
    if malformed_sse and not sent_broken:
        yield _EXTRA, b"data: this is not json\n\n"
    for delta in _tool_call_deltas(plan):
        yield _CONTENT, choice(0, json.dumps({"tool_calls": [delta]}))
    for i, (_, finish) in enumerate(plan.choices):
        if no_finish is True or (isinstance(no_finish, tuple) and i in no_finish):
            continue
        yield _TAIL, choice(i, "{}", json.dumps(finish))
    if include_usage:
        usage = json.dumps(plan.usage)
        payload = f'{head}],"usage":{usage}}}'
        yield _TAIL, b"data: " + payload.encode() + b"\n\n"
    yield _TAIL, b"data: [DONE]\n\n"


# --------------------------------------------------------------------------
# Multipart parsing (Files API uploads)
# --------------------------------------------------------------------------


def parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Parse multipart/form-data into {field name: (filename, bytes)}.

    Done by hand on bytes (not with the email package's MIME parser) so that
    uploaded file contents come back byte for byte.
    """
    ctype = Message()
    ctype["content-type"] = content_type
    boundary = ctype.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("multipart body without a boundary")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in raw.split(b"--" + boundary.encode("latin-1"))[1:]:
        if part.startswith(b"--"):  # the closing delimiter
            break
        if part.startswith(b"\r\n"):
            part = part[2:]
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = HeaderParser().parsestr(head.decode("utf-8", "replace"))
        name = headers.get_param("name", header="content-disposition")
        if isinstance(name, str):
            fields[name] = (headers.get_filename(), data)
    return fields


# --------------------------------------------------------------------------
# The HTTP layer
# --------------------------------------------------------------------------


class _Dropped(Exception):
    """The handler closed the connection on purpose; send nothing more."""


class _HTTPServer(ThreadingHTTPServer):
    # Daemon threads: a hung handler must never keep the test process alive.
    daemon_threads = True
    # The benchmark opens 64+ connections at once; the default backlog of 5
    # would make the kernel refuse or delay SYNs under that burst.
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup
        # that can stall for seconds in a sandbox; we never need the name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Quiet: clients hanging up mid-response are routine in these tests.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, _Dropped)):
            return
        self.fake._record_error(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so clients can keep connections alive across requests.
    protocol_version = "HTTP/1.1"
    # Stream chunks must leave at once, not wait for Nagle + delayed ACK.
    disable_nagle_algorithm = True
    server: _HTTPServer

    # -- plumbing ------------------------------------------------------

    def log_message(self, fmt: str, *args: Any) -> None:
        """No access log: test and benchmark output stays clean."""

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    @property
    def fake(self) -> FakeServer:
        return self.server.fake

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Skip trailers up to the blank line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        raw = self._read_body()
        parts = urlsplit(self.path)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        rec = RecordedRequest(
            method=self.command,
            path=parts.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw=raw,
            query=parts.query,
            received_at=time.time(),
        )
        # Record before answering, so even hung or dropped requests show up.
        self.fake._record(rec)
        try:
            self._route(rec)
        except _Dropped:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- responses -----------------------------------------------------

    def _send_bytes(
        self,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(obj).encode(), "application/json", headers)

    def _drop(self) -> None:
        """Close the connection abruptly: FIN without finishing the reply."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Dropped

    def _not_found(self, rec: RecordedRequest) -> None:
        self._send_json(404, error_body(f"Invalid URL ({rec.method} {rec.path})"))

    # -- routing -------------------------------------------------------

    _ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
        ("POST", re.compile(r"/v1/chat/completions"), "_chat"),
        ("GET", re.compile(r"/v1/models"), "_models"),
        ("GET", re.compile(r"/v1/models/(?P<ident>[^/]+)"), "_model"),
        ("POST", re.compile(r"/v1/files"), "_file_upload"),
        ("GET", re.compile(r"/v1/files"), "_file_list"),
        ("GET", re.compile(r"/v1/files/(?P<ident>[^/]+)"), "_file_get"),
        ("DELETE", re.compile(r"/v1/files/(?P<ident>[^/]+)"), "_file_delete"),
        ("GET", re.compile(r"/v1/files/(?P<ident>[^/]+)/content"), "_file_content"),
        ("POST", re.compile(r"/v1/batches"), "_batch_create"),
        ("GET", re.compile(r"/v1/batches"), "_batch_list"),
        ("GET", re.compile(r"/v1/batches/(?P<ident>[^/]+)"), "_batch_get"),
        ("POST", re.compile(r"/v1/batches/(?P<ident>[^/]+)/cancel"), "_batch_cancel"),
    )

    def _route(self, rec: RecordedRequest) -> None:
        auth_error = self.fake._check_auth(rec.headers.get("authorization", ""))
        if auth_error is not None:
            self._send_json(401, auth_error)
            return
        path = rec.path.rstrip("/") or "/"
        for method, pattern, name in self._ROUTES:
            match = pattern.fullmatch(path)
            if match and method == rec.method:
                getattr(self, name)(rec, **match.groupdict())
                return
        self._not_found(rec)

    # -- chat ----------------------------------------------------------

    def _chat(self, rec: RecordedRequest) -> None:
        fake = self.fake
        if not isinstance(rec.body, dict):
            self._send_json(400, _INVALID_JSON)
            return
        invalid = fake._validate_chat(rec.body)
        if invalid is not None:
            self._send_json(*invalid)
            return
        reply = fake._next_reply()
        # Captured now: a later reset() or stop() sets this very event.
        wake = fake._wake
        if reply.hang:
            wake.wait()
            self._drop()
        if reply.delay > 0 and wake.wait(reply.delay):
            self._drop()
        stream = rec.body.get("stream") is True
        if reply.drop_after is not None and not stream:
            self._drop()
        if reply.body is not None:
            self._send_recorded(reply)
            return
        if reply.events is not None and stream:
            self._send_events(reply)
            return
        failure = _reply_error(reply)
        if failure is not None:
            self._send_json(failure[0], failure[1], reply.headers)
            return
        plan = plan_completion(rec.body, reply)
        if not stream:
            data = json.dumps(_without_finish(completion_object(plan), reply.no_finish)).encode()
            if reply.malformed == "json":
                # A truncated body, like a proxy cutting a response short.
                data = data[: len(data) // 2]
            self._send_bytes(200, data, "application/json", reply.headers)
            return
        options = rec.body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        self._stream(plan, reply, include_usage, wake)

    def _send_recorded(self, reply: Reply) -> None:
        body = reply.body
        data = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body
        assert isinstance(data, bytes)
        ctype = reply.content_type
        if ctype is None:
            try:
                json.loads(data)
                ctype = "application/json"
            except ValueError:
                ctype = "text/plain; charset=utf-8"
        self._send_bytes(reply.status, data, ctype, reply.headers)

    def _send_events(self, reply: Reply) -> None:
        parts = [e if isinstance(e, str) else json.dumps(e) for e in reply.events or ()]
        data = b"".join(b"data: " + p.encode() + b"\n\n" for p in parts)
        self._send_bytes(200, data, "text/event-stream; charset=utf-8", reply.headers)

    def _stream(self, plan: _Plan, reply: Reply, include_usage: bool, wake: threading.Event) -> None:
        # Chunked framing tells HTTP/1.1 clients where the body ends while
        # keeping the connection reusable; HTTP/1.0 clients get close-delimited.
        chunked = self.request_version != "HTTP/1.0"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        for name, value in reply.headers.items():
            self.send_header(name, str(value))
        self.end_headers()

        buffer: list[bytes] = []
        buffered = 0

        def flush() -> None:
            nonlocal buffered
            if buffer:
                data = b"".join(buffer)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                buffer.clear()
                buffered = 0

        sent = 0
        for kind, data in stream_events(plan, include_usage, reply.malformed == "sse", reply.no_finish):
            if reply.drop_after is not None and (kind == _TAIL or (kind == _CONTENT and sent >= reply.drop_after)):
                flush()
                self._drop()
            buffer.append(data)
            buffered += len(data)
            if kind == _CONTENT:
                sent += 1
            if reply.chunk_delay > 0:
                flush()
                if wake.wait(reply.chunk_delay):
                    self._drop()
            elif buffered >= _COALESCE_BYTES:
                flush()
        flush()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    # -- models --------------------------------------------------------

    def _models(self, rec: RecordedRequest) -> None:
        data = [_model_object(m) for m in self.fake._model_list()]
        self._send_json(200, {"object": "list", "data": data})

    def _model(self, rec: RecordedRequest, ident: str) -> None:
        if ident not in self.fake._model_list():
            self._send_json(404, _model_not_found(ident))
            return
        self._send_json(200, _model_object(ident))

    # -- files ---------------------------------------------------------

    def _file_upload(self, rec: RecordedRequest) -> None:
        try:
            fields = parse_multipart(rec.headers.get("content-type", ""), rec.raw)
        except ValueError:
            self._send_json(400, error_body("Expected a multipart/form-data body."))
            return
        purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace")
        if not purpose:
            self._send_json(
                400,
                error_body("Missing required parameter: 'purpose'.", param="purpose"),
            )
            return
        if "file" not in fields:
            self._send_json(400, error_body("Missing required parameter: 'file'.", param="file"))
            return
        filename, content = fields["file"]
        obj = self.fake.add_file(content, purpose=purpose, filename=filename or "upload.jsonl")
        self._send_json(200, obj)

    def _file_list(self, rec: RecordedRequest) -> None:
        purpose = parse_qs(rec.query).get("purpose", [None])[0]
        files = [f for f in self.fake.files() if purpose is None or f["purpose"] == purpose]
        self._send_json(200, {"object": "list", "data": files, "has_more": False})

    def _file_get(self, rec: RecordedRequest, ident: str) -> None:
        found = self.fake.file(ident)
        if found is None:
            self._send_json(404, _no_such_file(ident))
            return
        self._send_json(200, found)

    def _file_content(self, rec: RecordedRequest, ident: str) -> None:
        content = self.fake.file_content(ident)
        if content is None:
            self._send_json(404, _no_such_file(ident))
            return
        self._send_bytes(200, content, "application/octet-stream")

    def _file_delete(self, rec: RecordedRequest, ident: str) -> None:
        if not self.fake._delete_file(ident):
            self._send_json(404, _no_such_file(ident))
            return
        self._send_json(200, {"id": ident, "object": "file", "deleted": True})

    # -- batches -------------------------------------------------------

    def _batch_create(self, rec: RecordedRequest) -> None:
        if not isinstance(rec.body, dict):
            self._send_json(400, _INVALID_JSON)
            return
        status, obj = self.fake._create_batch(rec.body)
        self._send_json(status, obj)

    def _batch_list(self, rec: RecordedRequest) -> None:
        batches = self.fake._batch_list()
        self._send_json(
            200,
            {
                "object": "list",
                "data": batches,
                "first_id": batches[0]["id"] if batches else None,
                "last_id": batches[-1]["id"] if batches else None,
                "has_more": False,
            },
        )

    def _batch_get(self, rec: RecordedRequest, ident: str) -> None:
        obj = self.fake._poll_batch(ident)
        if obj is None:
            self._send_json(404, _no_such_batch(ident))
            return
        self._send_json(200, obj)

    def _batch_cancel(self, rec: RecordedRequest, ident: str) -> None:
        status, obj = self.fake._cancel_batch(ident)
        self._send_json(status, obj)


_INVALID_JSON = error_body(
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)


def _model_object(model: str) -> JSON:
    return {
        "id": model,
        "object": "model",
        "created": _MODEL_CREATED,
        "owned_by": "fake",
    }


def _model_not_found(model: str) -> JSON:
    return error_body(
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def _no_such_file(file_id: str) -> JSON:
    return error_body(f"No such File object: {file_id}", param="id")


def _no_such_batch(batch_id: str) -> JSON:
    return error_body(f"No batch found with id '{batch_id}'.", param="batch_id", code="not_found")


# --------------------------------------------------------------------------
# The server object tests use
# --------------------------------------------------------------------------


class FakeServer:
    """A scriptable OpenAI-compatible server on a loopback port.

    All public attributes may be changed while the server runs; handler
    threads read them per request.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._set_defaults()

        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._queue: deque[Reply] = deque()
        self._errors: list[str] = []
        self._files: dict[str, tuple[JSON, bytes]] = {}
        self._batches: dict[str, JSON] = {}
        self._batch_polls: dict[str, int] = {}
        self._conns: set[socket.socket] = set()
        # Set to wake hung and delayed handlers; replaced by reset().
        self._wake = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _set_defaults(self) -> None:
        """(Re)set every public knob to its documented default."""
        #: Reply used when the queue is empty.
        self.default: Reply = Reply()
        #: {param: "unsupported_parameter" | "unsupported_value"} -> 400.
        self.reject_params: dict[str, str] = {}
        #: If set, chat requests for other models get 404 model_not_found,
        #: and GET /v1/models lists these.
        self.known_models: list[str] | None = None
        #: If set, prompts estimated above it get 400 context_length_exceeded.
        self.context_window: int | None = None
        #: If set, requests need "Authorization: Bearer <require_key>".
        self.require_key: str | None = None
        #: GET /v1/batches/{id} polls until the batch completes.
        self.batch_polls_to_complete: int = 2
        #: Write batch output lines in reverse input order, to check that
        #: clients match results by custom_id rather than by position.
        self.batch_reverse_output: bool = False

    # -- lifecycle -----------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a background daemon thread; returns self."""
        if self._httpd is not None:
            return self
        if self._wake.is_set():
            self._wake = threading.Event()
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_port
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fakeserver:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake hung handlers and close open connections."""
        httpd = self._httpd
        if httpd is None:
            return
        self._wake.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            # Idle keep-alive connections would otherwise linger.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL including /v1, e.g. http://127.0.0.1:PORT/v1."""
        if self._httpd is None:
            raise RuntimeError("FakeServer is not started")
        return f"http://{self.host}:{self.port}/v1"

    # -- scripting and inspection ------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def user_parts(self, index: int = -1) -> list[Any]:
        """The content parts of the last user message of chat request ``index`` ([] for plain text)."""
        body = self.chat_requests()[index]
        users = [m for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"]
        content = users[-1].get("content") if users else None
        return content if isinstance(content, list) else []

    def chat_requests(self) -> list[Any]:
        """Bodies of the POST /v1/chat/completions requests, in order."""
        return [r.body for r in self.requests if r.method == "POST" and r.path == "/v1/chat/completions"]

    @property
    def errors(self) -> list[str]:
        """Tracebacks of unexpected exceptions inside the server (should be [])."""
        with self._lock:
            return list(self._errors)

    def clear(self) -> None:
        """Forget recorded requests and drop queued replies."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()

    def reset(self) -> None:
        """Back to a fresh server: clear() plus default knobs, no files or batches.

        Hung or delayed requests still open are released (their connections
        are closed unanswered), so one test's hang cannot leak into the next.
        """
        with self._lock:
            self.clear()
            self._set_defaults()
            self._errors.clear()
            self._files.clear()
            self._batches.clear()
            self._batch_polls.clear()
            wake, self._wake = self._wake, threading.Event()
        wake.set()

    def enqueue(self, reply: Reply, times: int = 1) -> None:
        """Queue *reply* for the next *times* chat requests (FIFO)."""
        with self._lock:
            self._queue.extend(copy.deepcopy(reply) for _ in range(times))

    @property
    def pending(self) -> int:
        """How many queued replies are not consumed yet."""
        with self._lock:
            return len(self._queue)

    # -- files (also usable directly by tests) -------------------------

    def add_file(self, content: bytes, purpose: str = "batch", filename: str = "input.jsonl") -> JSON:
        """Store a file as if uploaded; returns its file object."""
        obj: JSON = {
            "id": "file-" + uuid.uuid4().hex[:24],
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }
        with self._lock:
            self._files[obj["id"]] = (obj, content)
        return dict(obj)

    def file(self, file_id: str) -> JSON | None:
        with self._lock:
            entry = self._files.get(file_id)
            return dict(entry[0]) if entry else None

    def file_content(self, file_id: str) -> bytes | None:
        with self._lock:
            entry = self._files.get(file_id)
            return entry[1] if entry else None

    def files(self) -> list[JSON]:
        with self._lock:
            return [dict(obj) for obj, _ in self._files.values()]

    def batch(self, batch_id: str) -> JSON | None:
        """The batch object without counting a poll."""
        with self._lock:
            b = self._batches.get(batch_id)
            return copy.deepcopy(b) if b else None

    # -- internals used by the handler ----------------------------------

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(rec)

    def _record_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _next_reply(self) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            return copy.deepcopy(self.default)

    def _model_list(self) -> list[str]:
        return list(self.known_models) if self.known_models is not None else list(DEFAULT_MODELS)

    def _check_auth(self, header: str) -> JSON | None:
        key = self.require_key
        if key is None or header == f"Bearer {key}":
            return None
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not given:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        else:
            message = (
                f"Incorrect API key provided: {mask_key(given)}. "
                "You can find your API key at https://platform.openai.com/account/api-keys."
            )
        return error_body(message, code="invalid_api_key")

    def _validate_chat(self, body: JSON) -> tuple[int, JSON] | None:
        """Request-level checks, done before a queued reply is consumed."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return 400, error_body("you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list):
            return 400, error_body(
                "Missing required parameter: 'messages'.",
                param="messages",
                code="missing_required_parameter",
            )
        if model == FAIL_MODEL or (self.known_models is not None and model not in self.known_models):
            return 404, _model_not_found(model)
        for param, kind in self.reject_params.items():
            if param in body:
                return 400, error_body(_reject_message(param, kind, body[param]), param=param, code=kind)
        window = self.context_window
        if window is not None:
            prompt = estimate_prompt_tokens(messages)
            if prompt > window:
                return 400, error_body(
                    f"This model's maximum context length is {window} tokens. However, your messages "
                    f"resulted in {prompt} tokens. Please reduce the length of the messages.",
                    param="messages",
                    code="context_length_exceeded",
                )
        return None

    def _run_chat(self, body: Any) -> tuple[int, JSON]:
        """One non-streaming chat request for a batch line: (status, body).

        Timing and transport fields of the reply (delay, hang, drop_after,
        malformed) have no meaning inside a batch and are ignored.
        """
        if not isinstance(body, dict):
            return 400, _INVALID_JSON
        invalid = self._validate_chat(body)
        if invalid is not None:
            return invalid
        reply = self._next_reply()
        if reply.body is not None:
            recorded = reply.body if isinstance(reply.body, dict) else json.loads(reply.body)
            return reply.status, recorded
        failure = _reply_error(reply)
        if failure is not None:
            return failure
        return 200, _without_finish(completion_object(plan_completion(body, reply)), reply.no_finish)

    def _create_batch(self, body: JSON) -> tuple[int, JSON]:
        input_file_id = body.get("input_file_id")
        endpoint = body.get("endpoint")
        window = body.get("completion_window")
        if not isinstance(input_file_id, str) or self.file(input_file_id) is None:
            return 400, error_body(f"No such File object: {input_file_id}", param="input_file_id")
        if endpoint != "/v1/chat/completions":
            return 400, error_body(
                f"Invalid value for 'endpoint': {endpoint!r} is not supported by this server.",
                param="endpoint",
            )
        if window != "24h":
            return 400, error_body(
                f"Invalid value for 'completion_window': {window!r}. Supported values are: '24h'.",
                param="completion_window",
            )
        now = int(time.time())
        batch: JSON = {
            "id": "batch_" + uuid.uuid4().hex[:24],
            "object": "batch",
            "endpoint": endpoint,
            "errors": None,
            "input_file_id": input_file_id,
            "completion_window": window,
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 24 * 3600,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        with self._lock:
            self._batches[batch["id"]] = batch
            self._batch_polls[batch["id"]] = 0
            return 200, copy.deepcopy(batch)

    def _batch_list(self) -> list[JSON]:
        with self._lock:
            # Newest first, like the real API.
            return [copy.deepcopy(b) for b in reversed(self._batches.values())]

    def _poll_batch(self, batch_id: str) -> JSON | None:
        """Advance a batch one step per poll: validating -> in_progress -> completed."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return None
            now = int(time.time())
            if batch["status"] in ("validating", "in_progress"):
                self._batch_polls[batch_id] += 1
                if batch["in_progress_at"] is None:
                    batch["in_progress_at"] = now
                    batch["request_counts"]["total"] = len(self._batch_lines(batch))
                if self._batch_polls[batch_id] >= self.batch_polls_to_complete:
                    self._finish_batch(batch)
                else:
                    batch["status"] = "in_progress"
            elif batch["status"] == "cancelling":
                batch["status"] = "cancelled"
                batch["cancelled_at"] = now
            return copy.deepcopy(batch)

    def _batch_lines(self, batch: JSON) -> list[bytes]:
        content = self.file_content(batch["input_file_id"]) or b""
        return [line for line in content.splitlines() if line.strip()]

    def _finish_batch(self, batch: JSON) -> None:
        """Run every input line through the chat logic and write the result files."""
        outputs: list[JSON] = []
        errors: list[JSON] = []
        for line in self._batch_lines(batch):
            entry: JSON = {
                "id": "batch_req_" + uuid.uuid4().hex[:24],
                "custom_id": None,
            }
            try:
                item = json.loads(line)
            except ValueError:
                item = None
            if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
                entry.update(
                    response=None,
                    error={
                        "code": "invalid_json_line",
                        "message": "Invalid JSON line.",
                    },
                )
                errors.append(entry)
                continue
            entry["custom_id"] = item["custom_id"]
            url = item.get("url")
            if url not in (None, batch["endpoint"]):
                status, body = (
                    400,
                    error_body(f"Invalid URL for this batch: {url}", param="url"),
                )
            else:
                status, body = self._run_chat(item.get("body"))
            entry["response"] = {
                "status_code": status,
                "request_id": "req_" + uuid.uuid4().hex,
                "body": body,
            }
            entry["error"] = None
            (outputs if status < 400 else errors).append(entry)
        if self.batch_reverse_output:
            outputs.reverse()
            errors.reverse()

        def dump(entries: list[JSON]) -> bytes:
            return b"".join(json.dumps(e).encode() + b"\n" for e in entries)

        now = int(time.time())
        if outputs:
            batch["output_file_id"] = self.add_file(
                dump(outputs),
                purpose="batch_output",
                filename=f"{batch['id']}_output.jsonl",
            )["id"]
        if errors:
            batch["error_file_id"] = self.add_file(
                dump(errors),
                purpose="batch_output",
                filename=f"{batch['id']}_error.jsonl",
            )["id"]
        batch["request_counts"] = {
            "total": len(outputs) + len(errors),
            "completed": len(outputs),
            "failed": len(errors),
        }
        batch["status"] = "completed"
        batch["finalizing_at"] = now
        batch["completed_at"] = now

    def _cancel_batch(self, batch_id: str) -> tuple[int, JSON]:
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return 404, _no_such_batch(batch_id)
            if batch["status"] not in ("validating", "in_progress"):
                return 400, error_body(f"Cannot cancel a batch with status '{batch['status']}'.")
            batch["status"] = "cancelling"
            batch["cancelling_at"] = int(time.time())
            return 200, copy.deepcopy(batch)

    def _delete_file(self, file_id: str) -> bool:
        with self._lock:
            return self._files.pop(file_id, None) is not None


# --------------------------------------------------------------------------
# Script entry point
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; the first stdout line is the base URL."""
    parser = argparse.ArgumentParser(description="Loopback OpenAI-compatible fake server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each chat reply")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    parser.add_argument(
        "--tokens",
        type=int,
        default=None,
        help="reply with this many tokens of Markdown",
    )
    parser.add_argument("--require-key", default=None, help="API key that requests must carry")
    args = parser.parse_args(argv)

    server = FakeServer(args.host, args.port)
    server.default = Reply(delay=args.delay, chunk_delay=args.chunk_delay, tokens=args.tokens)
    server.require_key = args.require_key
    done = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(server.url, flush=True)
    try:
        # Short waits keep the main thread responsive to signals.
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
