"""Attachments stored once by content hash, so the log refers to them and replay re-sends the same bytes.

``<data dir>/attachments/<sha256[:2]>/<sha256>`` holds the bytes (0600 files, 0700 dirs).
A log record's message keeps its text in ``content`` and lists its attachments in
``attachments``: ``{sha256, type, mime, name, size, detail}`` (an image URL: ``{type, url,
detail}``, no bytes). Nothing here deletes a file: removing a conversation never removes
an attachment, which another conversation may use too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import settings
from .parts import name_of, payload


def root() -> Path:
    return settings.data_dir() / "attachments"


def path_for(sha256: str) -> Path:
    return root() / sha256[:2] / sha256


def save(data: bytes) -> str:
    """Store ``data`` (once: an existing file is left alone); returns its sha256."""
    sha = hashlib.sha256(data).hexdigest()
    path = path_for(sha)
    if path.is_file():
        return sha
    settings.ensure_private_dir(path.parent)
    from ..jsonl import atomic_write

    atomic_write(path, data, mode=0o600, fsync=False)
    return sha


def load(sha256: str) -> bytes | None:
    if not (len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)):
        return None  # a hand-edited log must not name a path outside the store
    try:
        return path_for(sha256).read_bytes()
    except OSError:
        return None


def split(content: list[Any], names: Mapping[str, str] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """A multi-part content as the log keeps it: its text, and a reference per attachment (bytes stored)."""
    texts: list[str] = []
    refs: list[dict[str, Any]] = []
    for p in content:
        if not isinstance(p, Mapping):
            continue
        if p.get("type") == "text":
            texts.append(str(p.get("text") or ""))
            continue
        kind, mime, data, url = payload(p)
        detail = (p.get("image_url") or {}).get("detail") if kind == "image" else None
        if data is None:
            refs.append({"type": kind, "url": url, "detail": detail})
            continue
        sha = save(data)
        name = (names or {}).get(sha) or name_of(p, kind, mime)
        refs.append({"type": kind, "mime": mime, "name": name, "size": len(data), "sha256": sha, "detail": detail})
    return "\n\n".join(t for t in texts if t), refs


def attachments(refs: list[Any]) -> tuple[list[Any], list[str]]:
    """The attachments a logged message refers to, their bytes read back; a warning per one missing."""
    from .detect import Attachment

    out: list[Attachment] = []
    missing: list[str] = []
    for ref in refs:
        if not isinstance(ref, Mapping):
            continue
        kind, detail = str(ref.get("type") or ""), ref.get("detail")
        if ref.get("url"):
            url = str(ref["url"])
            out.append(Attachment("image", "", url, 0, None, url=url, detail=detail))
            continue
        sha = str(ref.get("sha256") or "")
        data = load(sha)
        name = str(ref.get("name") or sha[:12])
        if data is None:
            missing.append(f"attachment {name} ({sha[:12]}) is missing from {root()}")
            continue
        out.append(Attachment(kind, str(ref.get("mime") or ""), name, len(data), sha, data, detail=detail))
    return out, missing


def join(text: str, refs: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The content parts of a logged message (its text first), and a warning per attachment missing."""
    from .parts import part

    atts, missing = attachments(refs)
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    return [*parts, *(part(a) for a in atts)], missing


def logged_content(record: Mapping[str, Any]) -> str | list[dict[str, Any]]:
    """A logged message's content as it was sent: its text, with its attachments read back as parts."""
    text = str(record.get("content") or "")
    refs = record.get("attachments")
    return join(text, list(refs))[0] if isinstance(refs, list) and refs else text
