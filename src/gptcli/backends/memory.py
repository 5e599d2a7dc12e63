"""An in-memory backend for tests: scripted replies and failures, every request recorded.

Not a user-visible ``backend`` value: a test passes a ``MemoryBackend`` into a use case
(``Session.start(profile, backend=mem)``, ``client.send(..., backend=mem)``), or makes
``backend = "memory"`` select it for the length of ``backends.registered("memory", mem)``.

Each request takes the next item of the script: a ``Reply`` (text, streamed chunks,
usage, finish_reason, optionally a stream that breaks after its chunks) or a
``GptcliError`` to raise before any text. ``requests`` holds a copy of every body sent,
in order (a second chance shows as two requests).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import APIError, ConfigError, GptcliError, NetworkError, RateLimitError, StreamBroken
from ..models import (
    BatchResult,
    Completion,
    Delta,
    Outcome,
    Profile,
    RequestDescription,
    ServerModel,
    Usage,
)


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``chunks`` default to the whole ``text`` in one piece."""

    text: str = ""
    chunks: tuple[str, ...] | None = None
    usage: Usage | None = None
    finish_reason: str | None = "stop"
    model: str | None = None  # the model the server names (default: the body's)
    broken: str | None = None  # a stream that breaks after its chunks: the StreamBroken message
    reasoning: str = ""  # thinking in a field of its own (reasoning_content), streamed before the text
    # Tool calls the model makes: ``(name, arguments)`` pairs (arguments a JSON string or
    # an object) or whole wire dicts; finish_reason then defaults to "tool_calls".
    tool_calls: tuple[Any, ...] = ()

    @property
    def pieces(self) -> tuple[str, ...]:
        return self.chunks if self.chunks is not None else ((self.text,) if self.text else ())

    def completion(self, body: dict[str, Any], *, incomplete: bool = False) -> Completion:
        text = "".join(self.pieces) if self.chunks is not None else self.text
        calls = self.wire_calls()
        finish = "tool_calls" if calls and self.finish_reason == "stop" else self.finish_reason
        reason = None if incomplete else finish
        model = self.model or str(body.get("model", ""))
        thought = (self.reasoning,) if self.reasoning else ()
        return Completion(
            (text,), (reason,), model, self.usage, 0.0, incomplete=incomplete, reasonings=thought, tool_calls=calls
        )

    def wire_calls(self) -> tuple[dict[str, Any], ...]:
        import json

        from .tool_deltas import wire_call

        out = []
        for k, call in enumerate(self.tool_calls):
            if isinstance(call, dict):
                out.append(call)
                continue
            name, args = call
            out.append(wire_call(f"call_{k}", name, args if isinstance(args, str) else json.dumps(args)))
        return tuple(out)


Item = Reply | GptcliError


class MemoryBackend:
    """A ``backend.Backend`` that never leaves the process."""

    name = "memory"

    def __init__(self, *script: Item, models: Iterable[str] = (), default: Reply | None = None) -> None:
        self.script: deque[Item] = deque(script)
        self.default = default  # answered once the script is used up (None: that is a test error)
        self.models = list(models)
        self.requests: list[dict[str, Any]] = []

    def add(self, *items: Item) -> None:
        self.script.extend(items)

    def _next(self, body: dict[str, Any]) -> Item:
        self.requests.append(copy.deepcopy(body))
        if self.script:
            return self.script.popleft()
        if self.default is None:
            raise AssertionError(f"MemoryBackend: no scripted reply left for request {len(self.requests)}")
        return self.default

    def chat(self, profile: Profile, body: dict[str, Any], *, key: str) -> Generator[Delta, None, Completion]:
        item = self._next(body)
        if isinstance(item, GptcliError):
            raise item
        if body.get("stream"):
            if item.reasoning:
                yield Delta("", 0, item.reasoning)
            for piece in item.pieces:
                yield Delta(piece)
        if item.broken is not None:
            raise StreamBroken(item.broken, item.completion(body, incomplete=True))
        return item.completion(body)

    def async_chat(self, profile: Profile, key: str) -> MemoryAsyncChat:
        return MemoryAsyncChat(self)

    def list_models(self, profile: Profile, key: str) -> list[ServerModel]:
        self.requests.append({"list_models": True})
        return [ServerModel(id=m, owned_by="memory", created=None) for m in self.models]

    def batch_api(self, profile: Profile, key: str) -> MemoryBatchAPI:
        return MemoryBatchAPI()

    def describe_request(self, profile: Profile, body: dict[str, Any]) -> RequestDescription:
        return RequestDescription("POST", "memory:chat", {}, body)

    def preload(self) -> None:
        pass


class MemoryAsyncChat:
    """``batch``'s sender over the same script: errors become Outcomes as the OpenAI one makes them."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend

    async def send(self, body: dict[str, Any]) -> Outcome:
        item = self.backend._next(body)
        if isinstance(item, GptcliError):
            status = item.status if isinstance(item, APIError) else 429 if isinstance(item, RateLimitError) else None
            retryable = isinstance(item, NetworkError | RateLimitError)
            return Outcome(error=item, status=status, retryable=retryable)
        return Outcome(completion=item.completion({**body, "stream": False}))

    async def aclose(self) -> None:
        pass


class MemoryBatchAPI:
    """No Batch API in memory: every call says so."""

    def _no(self) -> ConfigError:
        return ConfigError("the memory backend has no Batch API")

    def upload(self, path: Path) -> str:
        raise self._no()

    def create(self, file_id: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        raise self._no()

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        raise self._no()

    def download(self, file_id: str, dest: Path) -> None:
        raise self._no()

    def custom_ids(self, path: Path) -> Iterator[str]:
        raise self._no()

    def results(self, path: Path) -> Iterator[BatchResult]:
        raise self._no()


if TYPE_CHECKING:  # mypy checks that the memory backend is a Backend
    from ..backend import Backend

    _conforms: Backend = MemoryBackend()
