"""Reading what the user hands over as text: stdin, files, and the prompt built from them.

Used by ``ask`` (the prompt) and ``count`` (what to count). Binary or non-UTF-8 input is
a UsageError (2) naming where it came from; stdin on a terminal reads as nothing, so a
command never waits for input the user did not mean to give.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

from .errors import ContextLengthError, UsageError

# Far above any model's context window (2M tokens is about 8 MB of text): input past this is
# refused (exit 8) rather than read until memory runs out (``-f /dev/zero``, ``< /dev/zero``).
MAX_INPUT = 64 * 1024 * 1024
_CHUNK = 1 << 16


def read_bounded(stream: IO[bytes], where: str) -> bytes:
    """All of ``stream``, checked as it comes: NUL bytes stop it at once (a binary file or
    an endless device), and so does passing ``MAX_INPUT`` (ContextLengthError, exit 8)."""
    parts: list[bytes] = []
    size = 0
    while chunk := stream.read(_CHUNK):
        if b"\x00" in chunk:
            decode_text(b"".join(parts) + chunk, where)  # raises: binary (or UTF-16)
        size += len(chunk)
        if size > MAX_INPUT:
            raise ContextLengthError(
                f"{where} is larger than {MAX_INPUT // (1024 * 1024)} MiB; no model's context window holds that",
                hint="shorten the input",
            )
        parts.append(chunk)
    return b"".join(parts)


def read_stdin() -> str:
    """All of stdin when it is a pipe or a file; nothing when it is a terminal (never waits)."""
    stream = sys.stdin
    if stream is None or stream.closed:
        return ""
    try:
        if stream.isatty():
            return ""
        data = read_bounded(stream.buffer, "stdin")
    except (OSError, ValueError):
        return ""
    return decode_text(data, "stdin")


def _utf16(data: bytes) -> bool:
    """A UTF-16 BOM, or a NUL in most odd or even bytes (ASCII text saved as UTF-16)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    head = data[:4096]
    return len(head) >= 4 and max(head[0::2].count(0), head[1::2].count(0)) > len(head) // 4


def decode_text(data: bytes, where: str) -> str:
    hint = "; UTF-16 text? save it as UTF-8" if _utf16(data) else ""
    if b"\x00" in data:
        raise UsageError(f"{where} looks binary (it contains NUL bytes{hint}); gptcli takes text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"{where} is not UTF-8 text (bad byte at offset {e.start}{hint})") from None
    return text


def read_file_text(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            data = read_bounded(f, str(path))
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    return decode_text(data, str(path))


def join_input(words: list[str] | None, files: list[Path] | None, stdin_text: str) -> str:
    """The words, then stdin, then each file, a blank line apart (may be empty)."""
    parts = []
    if words:
        parts.append(" ".join(words))
    if stdin_text:
        parts.append(stdin_text)
    for f in files or []:
        parts.append(read_file_text(f))
    return "\n\n".join(p for p in parts if p)


def build_prompt(words: list[str] | None, files: list[Path] | None, stdin_text: str) -> str:
    """The words, then stdin, then each file, a blank line apart; UsageError if that is empty."""
    prompt = join_input(words, files, stdin_text)
    if not prompt.strip():
        raise UsageError("no prompt: pass it as an argument, pipe it on stdin, or use -f FILE")
    return prompt


def profile_prompt(
    profile: Any, words: list[str] | None, files: list[Path] | None, stdin_text: str, given: dict[str, str]
) -> tuple[str, tuple[str, ...]]:
    """The user message: the profile's ``prompt`` template filled (``gptcli.template``), else the input.

    Returns the text and the warnings (an unused ``--var``).
    """
    from . import template

    if not profile.prompt:
        text = build_prompt(words, files, stdin_text)
        unused = tuple(f"--var {n} is not used: profile {profile.name!r} has no prompt template" for n in given)
        return text, unused
    filled = template.fill(
        profile.prompt, profile.vars, given, join_input(words, files, stdin_text), profile=profile.name
    )
    return filled.text, filled.warnings
