"""Cassettes: replies recorded once and replayed offline (``GPTCLI_CASSETTE=FILE``).

A cassette wraps the profile's backend. Every chat request is keyed by its normalised
body (``request_key``: the SHA-256 of the body as JSON with sorted keys and no spaces,
without the transport-only ``stream_options``), and the reply is stored as one JSONL
record: the streamed deltas in order and the final Completion. ``GPTCLI_CASSETTE_MODE``:

* ``replay``: answer from the file only; an unseen request is a ConfigError (exit 3)
  naming the cassette and the request. No key and no network are needed.
* ``record``: send every request and store its reply (a later record of the same key wins).
* ``auto`` (the default): replay what is recorded, send and record what is not.

What is written is the request body and the reply, never the API key or any header: the
key is not part of a body. Failed requests are not recorded (they raise as usual), so a
replay never fakes an error that a fresh run might not meet. Model lists, ``--dry-run``
and the Batch API go to the wrapped backend unchanged.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Generator
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from ..backend import AsyncChat, Backend, BatchAPI
from ..errors import ConfigError
from ..models import Completion, Delta, Outcome, Profile, RequestDescription, ServerModel, Usage

MODES = ("auto", "record", "replay")
KeyCheck = Callable[[str, Profile], None]
VERSION = 1
# Transport details that do not change the reply: left out of the key.
_NOT_KEYED = ("stream_options",)


def request_key(body: dict[str, Any]) -> str:
    """The cassette key of a request body (documented in the README)."""
    keyed = {k: v for k, v in body.items() if k not in _NOT_KEYED}
    canonical = json.dumps(keyed, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def completion_to_dict(c: Completion) -> dict[str, Any]:
    return asdict(c)


def completion_from_dict(data: dict[str, Any]) -> Completion:
    known = {f.name for f in fields(Completion)}
    values = {k: v for k, v in data.items() if k in known}
    if isinstance(values.get("usage"), dict):
        usage_fields = {f.name for f in fields(Usage)}
        values["usage"] = Usage(**{k: v for k, v in values["usage"].items() if k in usage_fields})
    for name in ("texts", "finish_reasons", "reasonings", "tool_calls"):
        if name in values:
            values[name] = tuple(values[name])
    return Completion(**values)


def _delta_from_dict(data: dict[str, Any]) -> Delta:
    known = {f.name for f in fields(Delta)}
    return Delta(**{k: v for k, v in data.items() if k in known})


def _describe(body: dict[str, Any]) -> str:
    """A short, safe name for a request in an error line: its model and first user words."""
    first = ""
    for m in body.get("messages") or ():
        if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str):
            first = m["content"]
            break
    first = " ".join(first.split())
    first = "".join(ch for ch in first if ch.isprintable())
    if len(first) > 40:
        first = first[:39] + "…"
    return f"model {body.get('model')!s}, first message {first!r}"


class Tape:
    """The cassette file: records by key, loaded once, appended under a lock."""

    def __init__(self, path: Path, mode: str) -> None:
        self.path = path
        self.mode = mode
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._records is None:
            from .. import jsonl

            records: dict[str, dict[str, Any]] = {}
            if self.path.is_file():
                for _, rec in jsonl.read(self.path):
                    if rec.get("v") == VERSION and isinstance(rec.get("key"), str):
                        records[rec["key"]] = rec
            elif self.path.exists():
                raise ConfigError(f"GPTCLI_CASSETTE={self.path} is not a regular file")
            self._records = records
        return self._records

    def find(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if self.mode == "record":
            return None
        with self._lock:
            found = self._load().get(request_key(body))
        if found is None and self.mode == "replay":
            raise ConfigError(
                f"the cassette {self.path} has no recording of this request ({_describe(body)})",
                hint="record it: GPTCLI_CASSETTE_MODE=record (or auto) with the server reachable",
            )
        return found

    def store(self, body: dict[str, Any], deltas: list[Delta], completion: Completion) -> None:
        from .. import jsonl

        key = request_key(body)
        rec: dict[str, Any] = {
            "v": VERSION,
            "key": key,
            "request": body,
            "deltas": [asdict(d) for d in deltas],
            "completion": completion_to_dict(completion),
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            appender = jsonl.Appender(self.path)
            try:
                appender.write(rec)
            finally:
                appender.close()
            self._load()[key] = rec


class _AsyncCassette:
    def __init__(self, tape: Tape, inner: AsyncChat, key: str, profile: Profile, need_key: KeyCheck) -> None:
        self.tape, self.inner, self.key, self.profile, self.need_key = tape, inner, key, profile, need_key

    async def send(self, body: dict[str, Any]) -> Outcome:
        found = self.tape.find(body)
        if found is not None:
            return Outcome(completion=completion_from_dict(found["completion"]))
        self.need_key(self.key, self.profile)
        outcome = await self.inner.send(body)
        if outcome.completion is not None and not outcome.completion.incomplete:
            self.tape.store(body, [], outcome.completion)
        return outcome

    async def aclose(self) -> None:
        await self.inner.aclose()


class _NoAsync:
    """Stands in for the wrapped backend's async client in replay mode (nothing is sent)."""

    async def send(self, body: dict[str, Any]) -> Outcome:  # pragma: no cover - replay never sends
        raise ConfigError("replay mode sends nothing")

    async def aclose(self) -> None:
        return None


class CassetteBackend:
    """A Backend that answers chat requests from a Tape, falling back to ``inner``."""

    def __init__(self, inner: Backend, tape: Tape, need_key: KeyCheck) -> None:
        self.inner = inner
        self.tape = tape
        self.need_key = need_key
        self.name = inner.name

    def chat(self, profile: Profile, body: dict[str, Any], *, key: str) -> Generator[Delta, None, Completion]:
        found = self.tape.find(body)
        if found is not None:
            for d in found.get("deltas") or ():
                yield _delta_from_dict(d)
            return completion_from_dict(found["completion"])
        self.need_key(key, profile)
        deltas: list[Delta] = []
        gen = self.inner.chat(profile, body, key=key)
        try:
            while True:
                delta = next(gen)
                deltas.append(delta)
                yield delta
        except StopIteration as stop:
            completion: Completion = stop.value
        if not completion.incomplete and not completion.interrupted:
            self.tape.store(body, deltas, completion)
        return completion

    def async_chat(self, profile: Profile, key: str) -> AsyncChat:
        inner: AsyncChat = _NoAsync() if self.tape.mode == "replay" else self.inner.async_chat(profile, key)
        return _AsyncCassette(self.tape, inner, key, profile, self.need_key)

    def list_models(self, profile: Profile, key: str) -> list[ServerModel]:
        return self.inner.list_models(profile, key)

    def batch_api(self, profile: Profile, key: str) -> BatchAPI:
        return self.inner.batch_api(profile, key)

    def describe_request(self, profile: Profile, body: dict[str, Any]) -> RequestDescription:
        return self.inner.describe_request(profile, body)

    def preload(self) -> None:
        if self.tape.mode != "replay":
            self.inner.preload()


def active() -> tuple[Path, str] | None:
    """The cassette the environment asks for, (path, mode), or None. Bad modes are exit 2."""
    from ..errors import UsageError
    from ..settings import env

    path = env("GPTCLI_CASSETTE")
    if path is None:
        return None
    mode = (env("GPTCLI_CASSETTE_MODE") or "auto").strip().lower()
    if mode not in MODES:
        raise UsageError(f"GPTCLI_CASSETTE_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    return Path(path).expanduser(), mode


def wrap(inner: Backend, need_key: KeyCheck) -> Backend:
    """``inner`` behind the active cassette, or ``inner`` itself when none is set.

    ``need_key(key, profile)`` raises when a request the cassette must send has no usable
    key (the client knows which servers need one).
    """
    found = active()
    if found is None:
        return inner
    path, mode = found
    return CassetteBackend(inner, Tape(path, mode), need_key)
