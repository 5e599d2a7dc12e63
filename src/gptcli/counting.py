"""The ``count`` use case: tokens, characters, encoding, input cost and window share, before any call.

Inputs are text, files (any size: counted in bounded memory on every core), stdin, a
whole chat request (``--messages``) or the next turn of a saved conversation. The
result is a value; cli/render decide how it looks. No encoding file means exit 3 with
a fix, never an estimate dressed up as a count (``ask``'s preflight falls back instead).
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import prices, store, tokens
from .errors import UsageError
from .models import Profile


@dataclass(frozen=True)
class Item:
    source: str  # "text", "stdin", a file path, "messages", "conversation ID"
    tokens: int
    characters: int
    bytes: int
    kind: str = "text"  # text | request (a chat request counted with the message overheads) | image | pdf | audio
    note: str | None = None  # how an attachment was counted when not by a published rule


@dataclass(frozen=True)
class Report:
    model: str
    encoding: str
    exact: bool  # the model's own tokenizer (False: another vendor's model, counted with a stand-in)
    items: tuple[Item, ...]
    info: prices.ModelInfo
    warnings: tuple[str, ...] = field(default=())

    @property
    def total_tokens(self) -> int:
        return sum(i.tokens for i in self.items)

    @property
    def total_characters(self) -> int:
        return sum(i.characters for i in self.items)

    def input_cost(self, n_tokens: int) -> float | None:
        return prices.cost(self.info.price_for(n_tokens), n_tokens, 0)

    def window_share(self, n_tokens: int) -> float | None:
        window = self.info.context_window
        return n_tokens / window if window else None

    def to_dict(self) -> dict[str, Any]:
        total = self.total_tokens
        return {
            "model": self.model,
            "encoding": self.encoding,
            "exact": self.exact,
            "items": [
                {
                    "source": i.source,
                    "kind": i.kind,
                    "tokens": i.tokens,
                    "characters": i.characters,
                    "bytes": i.bytes,
                    "input_cost": self.input_cost(i.tokens),
                    **({"note": i.note} if i.note else {}),
                }
                for i in self.items
            ],
            "total": {"tokens": total, "characters": self.total_characters, "input_cost": self.input_cost(total)},
            "price": self.info.price.to_dict() if self.info.price else None,
            "price_source": self.info.source,
            "price_matched": self.info.matched,
            "context_window": self.info.context_window,
            "context_share": self.window_share(total),
            "warnings": list(self.warnings),
        }


def _chars_of_file(path: Path) -> tuple[int, int]:
    """(characters, bytes) of a UTF-8 file, in bounded memory."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    chars = size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            size += len(block)
            chars += len(decoder.decode(block))
    chars += len(decoder.decode(b"", final=True))
    return chars, size


def count_inputs(
    profile: Profile,
    *,
    text: str | None = None,
    files: list[Path] | None = None,
    stdin_text: str | None = None,
    attachments: list[Any] | None = None,
) -> Report:
    encoding, exact = tokens.encoding_name(profile.model, profile.encoding)
    items: list[Item] = []
    warnings: list[str] = []
    if text:
        items.append(_text_item("text", text, profile))
    if stdin_text:
        items.append(_text_item("stdin", stdin_text, profile))
    for path in files or []:
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
        n = tokens.count_file(path, profile.model, profile.encoding)
        chars, size = _chars_of_file(path)
        items.append(Item(str(path), n, chars, size))
    if attachments:
        items.extend(_attachment_items(profile, attachments, warnings))
    if not items:
        raise UsageError(
            "nothing to count: pass text, -f FILE, -a FILE, --messages FILE, --conversation ID or pipe stdin"
        )
    return Report(profile.model, encoding, exact, tuple(items), _info(profile), tuple(warnings))


def _attachment_items(profile: Profile, attachments: list[Any], warnings: list[str]) -> list[Item]:
    """Each attachment as the request will carry it, counted by its rule (``attachments.media``)."""
    from .attachments import capable, media, parts
    from .errors import ConfigError

    try:
        capable.check(profile, [a.kind for a in attachments])
    except ConfigError as e:
        warnings.append(str(e).replace("; nothing was sent", ""))
    items = []
    for a in attachments:
        if a.kind == "text":
            items.append(_text_item(a.name, (a.data or b"").decode("utf-8"), profile))
            continue
        counted = media.part_tokens(parts.part(a), profile.model)
        n = counted.tokens + (tokens.count_text(counted.text, profile.model, profile.encoding) if counted.text else 0)
        items.append(Item(a.name, n, len(counted.text), a.size, a.kind, counted.note))
    return items


def _text_item(source: str, text: str, profile: Profile) -> Item:
    n = tokens.count_text(text, profile.model, profile.encoding)
    return Item(source, n, len(text), len(text.encode("utf-8", "surrogatepass")))


def _info(profile: Profile) -> prices.ModelInfo:
    return prices.info_for(profile)


def parse_messages(data: str, where: str) -> list[list[dict[str, Any]]]:
    """A JSON list of messages, a ``{"messages": [...]}`` object, or JSONL of such objects."""
    stripped = data.strip()
    if not stripped:
        raise UsageError(f"{where}: empty")
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
        requests = []
        for lineno, line in enumerate(stripped.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                requests.append(_messages_of(json.loads(line), f"{where}:{lineno}"))
            except ValueError as e:
                raise UsageError(f"{where}:{lineno}: not JSON ({e.args[0].split(':')[0]})") from None
        return requests
    return [_messages_of(whole, where)]


def _messages_of(obj: Any, where: str) -> list[dict[str, Any]]:
    messages = obj.get("messages") if isinstance(obj, dict) else obj
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise UsageError(f'{where}: expected a list of {{"role", "content"}} messages or {{"messages": [...]}}')
    return messages


def count_messages(profile: Profile, data: str, where: str) -> Report:
    """Each request in ``data`` counted as the API counts a chat request."""
    encoding, exact = tokens.encoding_name(profile.model, profile.encoding)
    items = []
    for i, messages in enumerate(parse_messages(data, where), start=1):
        n = tokens.count_messages(messages, profile.model, profile.encoding)
        text = "".join(str(m.get("content") or "") for m in messages)
        label = where if i == 1 else f"{where} #{i}"
        items.append(Item(label, n, len(text), len(text.encode("utf-8", "surrogatepass")), "request"))
    return Report(profile.model, encoding, exact, tuple(items), _info(profile))


def count_conversation(profile: Profile, ref: str | None) -> Report:
    """What the next turn of a saved conversation sends before the new message: its whole history."""
    conv = store.load(ref)
    messages = conv.messages
    if conv.system is None and profile.system:
        messages.insert(0, {"role": "system", "content": profile.system})
    encoding, exact = tokens.encoding_name(profile.model, profile.encoding)
    n = tokens.count_messages(messages, profile.model, profile.encoding)
    text = "".join(store.content_text(m["content"]) for m in messages)  # attachments: their text parts
    item = Item(f"conversation {conv.id}", n, len(text), len(text.encode("utf-8", "surrogatepass")), "request")
    return Report(profile.model, encoding, exact, (item,), _info(profile), tuple(conv.warnings))
