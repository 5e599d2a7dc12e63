"""Reading an attachment (FILE, URL or ``-``) and finding what it is from its bytes.

The type comes from the content (``filetype``'s signatures), never from the name alone;
a file with no binary signature that decodes as UTF-8 is text (inlined like ``-f``).
Anything else is refused with exit 2, naming the type found and what is accepted. URLs
are not fetched: an ``http(s)`` URL is passed to the server as an image URL. A file over
the provider's size limit is refused like a model that takes no such input (exit 3).
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..errors import ConfigError, UsageError

IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/gif": "gif"}
PDF_TYPE = "application/pdf"
AUDIO_TYPES = {"audio/x-wav": "wav", "audio/wav": "wav", "audio/mpeg": "mp3"}

MB = 1024 * 1024
# OpenAI's documented limits: images 20 MB each; PDF inputs 32 MB per request (and 100
# pages); audio is not documented for input_audio, so Whisper's 25 MB upload limit.
LIMITS = {"image": 20 * MB, "pdf": 32 * MB, "audio": 25 * MB, "text": 20 * MB}
ACCEPTED = "PNG, JPEG, WebP or GIF images, PDF, WAV or MP3 audio, UTF-8 text, or an http(s) image URL"

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Attachment:
    """One attachment: what it is, where it came from, and its bytes (None for a URL)."""

    kind: str  # image | pdf | audio | text
    mime: str  # "image/png", ...; "" for a URL (not fetched)
    name: str  # the file name as given, "stdin", or the URL
    size: int  # bytes (0 for a URL)
    sha256: str | None  # of the bytes (None for a URL)
    data: bytes | None = field(default=None, repr=False)
    url: str | None = None
    detail: str | None = None  # images: low | high | auto (None: the server's default)

    @property
    def fmt(self) -> str:
        """The short format name: png, jpeg, webp, gif, pdf, wav, mp3, text, url."""
        if self.url is not None:
            return "url"
        return IMAGE_TYPES.get(self.mime) or AUDIO_TYPES.get(self.mime) or ("pdf" if self.kind == "pdf" else "text")


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def load(
    spec: str, *, base: Path | None = None, detail: str | None = None, stdin: IO[bytes] | None = None
) -> Attachment:
    """The attachment named by ``spec``: a URL, ``-`` (stdin's bytes) or a path (relative to ``base``)."""
    if is_url(spec):
        return Attachment("image", "", spec, 0, None, None, url=spec, detail=detail)
    if spec == "-":
        if stdin is None and (sys.stdin is None or sys.stdin.isatty()):
            raise UsageError("-a - reads the attachment from stdin, but nothing is piped", hint="cat FILE | gptcli ...")
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = _read(stream, "stdin")
        return from_bytes(data, "stdin", detail=detail)
    path = Path(spec).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    try:
        with open(path, "rb") as f:
            data = _read(f, spec)
    except FileNotFoundError:
        raise UsageError(f"no such file to attach: {spec}") from None
    except IsADirectoryError:
        raise UsageError(f"{spec} is a directory; attach a file") from None
    except OSError as e:
        raise UsageError(f"cannot read {spec}: {e.strerror}") from None
    return from_bytes(data, path.name, detail=detail)


def _read(stream: IO[bytes], where: str) -> bytes:
    """All of ``stream``, stopping once it is larger than any attachment may be."""
    cap = max(LIMITS.values())
    parts: list[bytes] = []
    size = 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > cap:
            raise ConfigError(
                f"{where} is larger than {cap // MB} MB; no attachment may be that large; nothing was sent"
            )
        parts.append(chunk)
    return b"".join(parts)


def sniff(data: bytes) -> tuple[str, str]:
    """(kind, mime) of ``data``; raises UsageError (exit 2) for a type that is not accepted."""
    import filetype

    guess = filetype.guess(data[:8192])
    if guess is not None:
        mime = str(guess.mime)
        if mime in IMAGE_TYPES:
            return "image", mime
        if mime == PDF_TYPE:
            return "pdf", mime
        if mime in AUDIO_TYPES:
            return "audio", "audio/wav" if AUDIO_TYPES[mime] == "wav" else mime
        raise _refused(mime)
    if data.startswith(b"%PDF-"):
        return "pdf", PDF_TYPE
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
            return "text", "text/plain"
        except UnicodeDecodeError:
            pass
    raise _refused("binary data of an unknown type")


def _refused(what: str) -> UsageError:
    return UsageError(f"cannot attach {what}", hint=f"attach {ACCEPTED}")


def from_bytes(data: bytes, name: str, *, detail: str | None = None) -> Attachment:
    """An attachment of ``data`` named ``name``, its type found and its size checked."""
    try:
        kind, mime = sniff(data)
    except UsageError as e:
        raise UsageError(f"{name}: {e.message}", hint=e.hint) from None
    if len(data) > LIMITS[kind]:
        raise ConfigError(  # over the provider's limit: refused before sending, like a model that takes none (3)
            f"{name} is {len(data) / MB:.1f} MB; a {kind} attachment may be at most {LIMITS[kind] // MB} MB",
            hint="make it smaller" + (" (resize or recompress the image)" if kind == "image" else ""),
        )
    if mime == "image/gif" and _animated(data):
        raise UsageError(f"{name}: an animated GIF is not accepted", hint="attach one frame (PNG, JPEG, WebP or GIF)")
    if kind == "text":
        from ..prompt_input import decode_text

        decode_text(data, name)  # the -f rules: UTF-16 said so, NUL refused
    sha = hashlib.sha256(data).hexdigest()
    return Attachment(kind, mime, name, len(data), sha, data, detail=detail if kind == "image" else None)


def _animated(data: bytes) -> bool:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return bool(getattr(im, "is_animated", False))
    except (UnidentifiedImageError, OSError, ValueError):
        return False


def load_all(specs: list[str] | None, *, detail: str | None = None, base: Path | None = None) -> list[Attachment]:
    """Each of ``specs`` loaded, in order; ``-`` (stdin) at most once."""
    specs = specs or []
    if specs.count("-") > 1:
        raise UsageError("stdin can be attached once (-a - given twice)")
    return [load(s, base=base, detail=detail) for s in specs]
