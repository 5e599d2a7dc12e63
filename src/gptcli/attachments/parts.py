"""Attachments as Chat Completions content parts, and parts described without their bytes.

* an image: ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..." or the
  URL, "detail": ...}}``;
* a PDF: ``{"type": "file", "file": {"filename": ..., "file_data": "data:application/pdf;base64,..."}}``;
* audio: ``{"type": "input_audio", "input_audio": {"data": base64, "format": "wav" | "mp3"}}``;
* a text file: a text part holding its text, as ``-f`` would.

``describe`` is what ``-v`` and ``--dry-run`` show for a part: its type, name, bytes,
sha256 and tokens, never the base64 itself.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from .detect import Attachment


def part(att: Attachment) -> dict[str, Any]:
    """The content part that carries ``att``."""
    if att.url is not None:
        return _image(att.url, att.detail)
    assert att.data is not None
    b64 = base64.b64encode(att.data).decode("ascii")
    if att.kind == "image":
        return _image(f"data:{att.mime};base64,{b64}", att.detail)
    if att.kind == "pdf":
        return {"type": "file", "file": {"filename": att.name, "file_data": f"data:application/pdf;base64,{b64}"}}
    if att.kind == "audio":
        return {"type": "input_audio", "input_audio": {"data": b64, "format": att.fmt}}
    return {"type": "text", "text": att.data.decode("utf-8")}


def _image(url: str, detail: str | None) -> dict[str, Any]:
    inner: dict[str, Any] = {"url": url}
    if detail is not None:
        inner["detail"] = detail
    return {"type": "image_url", "image_url": inner}


def with_attachments(text: Any, attachments: Any) -> Any:
    """A user message's content: ``text`` (a string, or parts already built) with ``attachments``' parts."""
    if not attachments or not isinstance(text, str):
        return text
    return content(text, list(attachments))


def content(text: str, attachments: list[Attachment]) -> str | list[dict[str, Any]]:
    """A user message's content: ``text`` alone, or its text part then one part per attachment."""
    if not attachments:
        return text
    parts = [{"type": "text", "text": text}] if text else []
    return [*parts, *(part(a) for a in attachments)]


def data_url_bytes(url: str) -> tuple[str, bytes] | None:
    """(mime, bytes) of a base64 ``data:`` URL; None for any other URL or a broken one."""
    if not url.startswith("data:"):
        return None
    head, sep, b64 = url.partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    try:
        return head[5:].split(";")[0], base64.b64decode(b64, validate=False)
    except ValueError:
        return None


def payload(p: Mapping[str, Any]) -> tuple[str, str, bytes | None, str | None]:
    """(kind, mime, bytes, url) of a non-text part; bytes None for a URL or a part not understood."""
    kind = p.get("type")
    if kind == "image_url":
        url = str((p.get("image_url") or {}).get("url") or "")
        got = data_url_bytes(url)
        return ("image", got[0], got[1], None) if got else ("image", "", None, url)
    if kind == "file":
        got = data_url_bytes(str((p.get("file") or {}).get("file_data") or ""))
        return ("pdf", got[0], got[1], None) if got else ("pdf", "", None, None)
    if kind == "input_audio":
        audio = p.get("input_audio") or {}
        fmt = str(audio.get("format") or "wav")
        try:
            data = base64.b64decode(str(audio.get("data") or ""))
        except ValueError:
            data = None
        return "audio", "audio/mpeg" if fmt == "mp3" else "audio/wav", data, None
    return str(kind), "", None, None


def name_of(p: Mapping[str, Any], kind: str, mime: str) -> str:
    if kind == "pdf":
        return str((p.get("file") or {}).get("filename") or "document.pdf")
    if kind == "image" and not mime:
        return str((p.get("image_url") or {}).get("url") or "")
    ext = mime.rsplit("/", 1)[-1].replace("mpeg", "mp3").replace("x-wav", "wav")
    return f"{kind}.{ext}" if ext else kind


def describe(p: Mapping[str, Any], tokens: int | None = None, name: str | None = None) -> dict[str, Any]:
    """``{type, name, bytes, sha256, tokens}`` of a part: what output shows instead of base64."""
    kind, mime, data, url = payload(p)
    out: dict[str, Any] = {"type": kind, "name": name or name_of(p, kind, mime)}
    if url is not None:
        out["url"] = url
    out["bytes"] = len(data) if data is not None else None
    out["sha256"] = hashlib.sha256(data).hexdigest() if data is not None else None
    detail = (p.get("image_url") or {}).get("detail") if kind == "image" else None
    if detail:
        out["detail"] = detail
    out["tokens"] = tokens
    return out
