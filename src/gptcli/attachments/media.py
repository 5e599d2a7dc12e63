"""The input tokens of a non-text content part, for the preflight, the context guard and ``count -a``.

* an image: its real size (Pillow reads the header only) by ``image_tokens``' rule for
  the model; an image URL that was not fetched: the most one image can cost the model
  (labelled so);
* a PDF: its extracted text (returned for the caller to count with the model's encoding)
  plus one image per page, each page at its size in points, where the model takes images:
  approximate (OpenAI does not publish how pages are rendered);
* audio: about 10 tokens a second (WAV's length from its header, MP3's from its size at
  128 kbit/s): approximate.

Results are cached per part text: the same history is counted several times a turn.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from . import image_tokens

AUDIO_TOKENS_PER_SECOND = 10


@dataclass(frozen=True)
class PartCount:
    tokens: int  # counted here (images, pages as images, audio)
    text: str = ""  # text to count with the model's encoding as well (a PDF's)
    exact: bool = True  # by the published rule (False: approximate, see ``note``)
    note: str | None = None  # "URL not fetched: counted at the most one image costs", ...


def part_tokens(p: Mapping[str, Any], model: str | None) -> PartCount:
    """What the non-text part ``p`` costs ``model`` (None: the largest any known model charges)."""
    kind = p.get("type")
    if kind == "image_url":
        inner = p.get("image_url") or {}
        return _image(str(inner.get("url") or ""), model, inner.get("detail"))
    if kind == "file":
        return _pdf(str((p.get("file") or {}).get("file_data") or ""), model)
    if kind == "input_audio":
        audio = p.get("input_audio") or {}
        return _audio(str(audio.get("data") or ""), str(audio.get("format") or "wav"))
    return PartCount(0)


def _worst_model() -> str:
    return "gpt-4o-mini"  # the largest tile constants of the table: an upper bound for any model


@lru_cache(maxsize=64)
def _image(url: str, model: str | None, detail: str | None) -> PartCount:
    m = model or _worst_model()
    _, known = image_tokens.rule_for(m)
    if not url.startswith("data:"):
        note = "image URL not fetched: counted at the most one image costs"
        return PartCount(image_tokens.max_tokens(m, detail), exact=False, note=note)
    size = image_size(url)
    if size is None:
        return PartCount(
            image_tokens.max_tokens(m, detail), exact=False, note="image size unreadable: counted at the most"
        )
    n = image_tokens.tokens(size[0], size[1], m, detail)
    return PartCount(n, exact=known, note=None if known else "image tokens by gpt-4o's rule (model family unknown)")


def image_size(url: str) -> tuple[int, int] | None:
    from .parts import data_url_bytes

    got = data_url_bytes(url)
    return None if got is None else size_of(got[1])


def size_of(data: bytes) -> tuple[int, int] | None:
    """(width, height) of an image's bytes, from its header; None if Pillow cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return int(im.size[0]), int(im.size[1])
    except (UnidentifiedImageError, OSError, ValueError):
        return None


@lru_cache(maxsize=16)
def _pdf(file_data: str, model: str | None) -> PartCount:
    from .parts import data_url_bytes

    got = data_url_bytes(file_data)
    if got is None:
        return PartCount(0, exact=False, note="PDF not readable here: not counted")
    text, pages = pdf_text_and_pages(got[1])
    m = model or _worst_model()
    per_page = sum(image_tokens.tokens(w, h, m, "high") for w, h in pages) if _takes_images(m) else 0
    return PartCount(
        per_page, text, exact=False, note=f"PDF of {len(pages)} pages: text plus one image a page, approximate"
    )


def pdf_text_and_pages(data: bytes) -> tuple[str, list[tuple[int, int]]]:
    """A PDF's text and each page's size in points; ("", []) if pypdf cannot read it."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        texts, sizes = [], []
        for page in reader.pages:
            texts.append(page.extract_text() or "")
            box = page.mediabox
            sizes.append((max(1, round(float(box.width))), max(1, round(float(box.height)))))
        return "\n".join(texts), sizes
    except (PdfReadError, OSError, ValueError, KeyError, TypeError):
        return "", []


def _takes_images(model: str) -> bool:
    from ..prices import capabilities

    caps = capabilities(model)
    return caps is None or "image" in caps.input_modalities


@lru_cache(maxsize=16)
def _audio(b64: str, fmt: str) -> PartCount:
    import base64

    try:
        data = base64.b64decode(b64)
    except ValueError:
        data = b""
    seconds = audio_seconds(data, fmt)
    note = f"audio of {seconds:.1f} s at about {AUDIO_TOKENS_PER_SECOND} tokens a second, approximate"
    return PartCount(math.ceil(seconds * AUDIO_TOKENS_PER_SECOND), exact=False, note=note)


def audio_seconds(data: bytes, fmt: str) -> float:
    if fmt == "wav":
        import wave

        try:
            with wave.open(io.BytesIO(data)) as w:
                return w.getnframes() / float(w.getframerate() or 1)
        except (wave.Error, EOFError, OSError):
            pass
    return len(data) / (128_000 / 8)
