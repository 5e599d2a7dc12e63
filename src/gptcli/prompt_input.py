"""Reading what the user hands over as text: stdin, files, and the prompt built from them.

Used by ``ask`` (the prompt) and ``count`` (what to count). Binary or non-UTF-8 input is
a UsageError (2) naming where it came from; stdin on a terminal reads as nothing, so a
command never waits for input the user did not mean to give.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import UsageError


def read_stdin() -> str:
    """All of stdin when it is a pipe or a file; nothing when it is a terminal (never waits)."""
    stream = sys.stdin
    if stream is None or stream.closed:
        return ""
    try:
        if stream.isatty():
            return ""
        data = stream.buffer.read()
    except (OSError, ValueError):
        return ""
    return decode_text(data, "stdin")


def decode_text(data: bytes, where: str) -> str:
    if b"\x00" in data:
        raise UsageError(f"{where} looks binary (it contains NUL bytes); gptcli takes text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"{where} is not UTF-8 text (bad byte at offset {e.start})") from None
    return text


def read_file_text(path: Path) -> str:
    try:
        data = path.read_bytes()
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
