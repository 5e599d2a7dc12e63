"""Batch input: prompt files read one item at a time, so memory stays flat on any size.

Formats (chosen by ``--format`` or the file's extension):

* ``txt``: one prompt per non-blank line (the line as written, without its line
  ending; a UTF-8 BOM and CRLF line endings are tolerated). ``{text}`` in a template.
* ``jsonl``: one JSON object per line: ``id`` (string or integer, optional),
  ``prompt`` (or the key ``--column`` names) or ``messages``, and per-item settings
  (``OVERRIDE_KEYS``). Every key is a ``{field}`` of a template.
* ``csv`` / ``tsv``: a header row, then one item per row; ``--column`` names the
  prompt column (not needed with a single column or a template); a column called
  ``id`` gives the item ids. Every column is a ``{field}`` of a template.

Each item's id is its own ``id`` when it has one, else the number of the line it
starts on, so ids stay the same from one run to the next (what ``--resume`` relies on).
A line that cannot be used becomes an ``Invalid`` (its line number and why); the
caller decides whether that skips the line or stops everything (``--strict``).

``Source`` is one run's input (a path, or "-" for stdin spooled to a private file), so
it can be read twice, for the plan and then the run.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import difflib
import io
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from .. import template
from ..errors import UsageError
from ..models import SAMPLING_KEYS

FORMATS = ("txt", "jsonl", "csv", "tsv")
EXTENSIONS = {".txt": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}

# Per-item settings a JSONL line may carry (validated like profile keys). Server,
# key and price settings stay per run: one batch talks to one server.
OVERRIDE_KEYS = ("model", "system", *SAMPLING_KEYS, "params")
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass(frozen=True, slots=True)
class Item:
    """One prompt to send. Exactly one of ``prompt`` and ``messages`` is set."""

    id: str | int
    line: int
    input: Any  # echoed in the output: the line's text, the CSV row, the JSONL object
    prompt: str | None
    messages: list[dict[str, Any]] | None = None
    overrides: dict[str, Any] | None = None
    target: str | None = None  # ``batch --models``: the model of this copy of the item
    attach: tuple[str, ...] = ()  # --attach-column: paths (relative to the input file) or URLs


@dataclass(frozen=True, slots=True)
class Invalid:
    """A line that cannot be sent, and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth a warning that does not make the line invalid."""

    line: int
    text: str


Entry = Item | Invalid | Note


def detect_format(name: str, explicit: str | None) -> str:
    """``--format`` if given, else from the extension; stdin and anything else is txt."""
    if explicit is not None:
        fmt = explicit.lower()
        if fmt not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {explicit!r}")
        return fmt
    lowered = name.lower()
    for ext, fmt in EXTENSIONS.items():
        if lowered.endswith(ext):
            return fmt
    return "txt"


class Template(template.Template):
    """``--template "Classify: {text}"``: the shared syntax (``gptcli.template``), at least one field."""

    def __init__(self, text: str) -> None:
        try:
            super().__init__(text)
        except template.TemplateError as e:
            raise UsageError(f"--template: {e}") from None


def read(
    stream: IO[bytes],
    fmt: str,
    *,
    column: str | None = None,
    template: Template | None = None,
    attach_column: str | None = None,
) -> Iterator[Entry]:
    """The items of ``stream`` in order, with invalid lines and notes in between.

    Problems with the whole input (an unknown ``--column``, template fields missing
    from a CSV header) raise ``UsageError`` before the first item.
    """
    if fmt == "txt":
        if column is not None or attach_column is not None:
            option = "--column" if column is not None else "--attach-column"
            raise UsageError(f"{option} needs a CSV, TSV or JSONL input (or --format csv)")
        if template is not None and set(template.fields) - {"text"}:
            unknown = sorted(set(template.fields) - {"text"})[0]
            raise UsageError(f"--template: {{{unknown}}} is not a field of a text file; each line is {{text}}")
        return _read_txt(stream, template)
    if fmt == "jsonl":
        return _with_attachments(_read_jsonl(stream, column or "prompt", template), attach_column, None)
    return _read_csv(stream, "\t" if fmt == "tsv" else ",", column, template, attach_column)


def _with_attachments(entries: Iterator[Entry], key: str | None, header: list[str] | None) -> Iterator[Entry]:
    """Each item with the attachments its ``key`` field names (a path or URL; in JSONL also a list)."""
    if key is None:
        yield from entries
        return
    if header is not None and key not in header:
        raise UsageError(f"--attach-column {key!r} is not in the CSV header ({', '.join(header)})")
    for e in entries:
        if not isinstance(e, Item) or not isinstance(e.input, dict):
            yield e
            continue
        value = e.input.get(key)
        specs = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        if value is not None and not all(isinstance(v, str) for v in specs):
            yield Invalid(e.line, f"{key!r} must be a path or URL (or, in JSONL, a list of them)")
            continue
        yield replace(e, attach=tuple(s.strip() for s in specs if s.strip()))


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the line ending); a BOM on line 1 dropped."""
    for lineno, raw in enumerate(stream, start=1):
        if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        yield lineno, raw.rstrip(b"\r\n")


def _decode(raw: bytes) -> str:
    if b"\x00" in raw:  # valid UTF-8, but binary or UTF-16 (PowerShell's `>`): never a prompt
        raise ValueError("looks binary (NUL bytes; UTF-16 text? save it as UTF-8)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text (bad byte at column {e.start + 1})") from None


def _read_txt(stream: IO[bytes], template: Template | None) -> Iterator[Entry]:
    for lineno, raw in _lines(stream):
        if not raw.strip():
            continue
        try:
            text = _decode(raw)
        except ValueError as e:
            yield Invalid(lineno, str(e))
            continue
        if not text.strip():  # Unicode-only whitespace
            continue
        prompt = template.render({"text": text}) if template is not None else text
        yield Item(lineno, lineno, text, prompt)


def _check_id(value: Any) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("'id' must be a string or an integer")
    if isinstance(value, str) and not value.strip():
        raise ValueError("'id' is empty")
    return value


def _check_messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise ValueError("'messages' must be a non-empty list")
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            raise ValueError(f"messages[{i}] is not an object")
        if m.get("role") not in ROLES:
            raise ValueError(f"messages[{i}] has no valid 'role' ({', '.join(sorted(ROLES))})")
        content = m.get("content")
        if content is not None and not isinstance(content, str | list):
            raise ValueError(f"messages[{i}].content must be a string or a list of parts")
    return value


def check_overrides(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate per-item settings as profile keys; ValueError says which and why."""
    from .. import profiles

    out: dict[str, Any] = {}
    for key in OVERRIDE_KEYS:
        if key in raw:
            try:
                out[key] = profiles.validate(key, raw[key])
            except ValueError as e:
                raise ValueError(f"{key!r} {e}") from None
    return out


_KNOWN_KEYS = frozenset({"id", "prompt", "messages", *OVERRIDE_KEYS})


def _read_jsonl(stream: IO[bytes], prompt_key: str, template: Template | None) -> Iterator[Entry]:
    warned: set[str] = set()
    for lineno, raw in _lines(stream):
        if not raw.strip():
            continue
        try:
            obj = json.loads(_decode(raw))
        except ValueError as e:
            reason = str(e) if str(e).startswith("not UTF-8") else f"not JSON ({getattr(e, 'msg', e)})"
            yield Invalid(lineno, reason)
            continue
        if not isinstance(obj, dict):
            yield Invalid(lineno, "not a JSON object")
            continue
        if b"\\u" in raw and _unpaired_surrogate(obj):
            yield Invalid(lineno, "an escape like \\ud800 that is not a character (an unpaired surrogate)")
            continue
        try:
            ident = _check_id(obj["id"]) if "id" in obj else lineno
            overrides = check_overrides(obj)
            messages = None
            prompt: str | None = None
            if template is not None:
                if "messages" in obj:
                    raise ValueError("has 'messages', but --template builds the prompt")
                try:
                    prompt = template.render(obj)
                except KeyError as e:
                    raise ValueError(f"no field {e.args[0]!r} for --template") from None
            elif "messages" in obj:
                if prompt_key in obj:
                    raise ValueError(f"has both {prompt_key!r} and 'messages'; keep one")
                messages = _check_messages(obj["messages"])
            else:
                value = obj.get(prompt_key)
                if not isinstance(value, str):
                    raise ValueError(f"no {prompt_key!r} (a string) and no 'messages'")
                prompt = value
            if prompt is not None and not prompt.strip():
                raise ValueError("the prompt is empty")
        except ValueError as e:
            yield Invalid(lineno, str(e))
            continue
        if template is None:
            for key in obj:
                if key in _KNOWN_KEYS or key == prompt_key or key in warned:
                    continue
                close = difflib.get_close_matches(key, OVERRIDE_KEYS, n=1, cutoff=0.8)
                if close:
                    warned.add(key)
                    yield Note(lineno, f"key {key!r} is not a setting (did you mean {close[0]!r}?); it is ignored")
        yield Item(ident, lineno, obj, prompt, messages, overrides or None)


def _unpaired_surrogate(obj: Any) -> bool:
    """True if JSON escapes made a string that cannot be written as UTF-8."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _has_surrogates(values: list[str]) -> bool:
    """True if a value holds bytes that were not UTF-8 (decoded with surrogateescape)."""
    for v in values:
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def _read_csv(
    stream: IO[bytes], delimiter: str, column: str | None, template: Template | None, attach: str | None = None
) -> Iterator[Entry]:
    # A prompt cell may be long; the csv module's default cap is 128 KiB.
    csv.field_size_limit(1 << 30)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return iter(())
    except csv.Error as e:
        raise UsageError(f"the CSV header cannot be read: {e}") from None
    header = [h.strip() for h in header]
    if _has_surrogates(header):
        raise UsageError("the CSV header is not UTF-8 text")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise UsageError(f"the CSV header names column {dup!r} twice")
    shown = ", ".join(header)
    if column is not None and column not in header:
        raise UsageError(f"--column {column!r} is not in the CSV header ({shown})")
    if template is not None:
        missing = [f for f in template.fields if f not in header]
        if missing:
            raise UsageError(f"--template uses {{{missing[0]}}}, which is not a CSV column ({shown})")
    elif column is None:
        if len(header) != 1:
            raise UsageError(f"--column NAME is needed to pick the prompt column ({shown}), or use --template")
        column = header[0]
    return _with_attachments(_csv_rows(reader, header, column, template), attach, header)


def _csv_rows(reader: Any, header: list[str], column: str | None, template: Template | None) -> Iterator[Entry]:
    has_id = "id" in header
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield Invalid(start, f"not valid CSV ({e})")
            start = reader.line_num + 1
            continue
        lineno, start = start, reader.line_num + 1
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield Invalid(lineno, f"{len(row)} fields, but the header has {len(header)}")
            continue
        if _has_surrogates(row):
            yield Invalid(lineno, "not UTF-8 text")
            continue
        data = dict(zip(header, row, strict=True))
        prompt = template.render(data) if template is not None else data[column or ""]
        if not prompt.strip():
            yield Invalid(lineno, "the prompt is empty")
            continue
        ident: str | int = lineno
        if has_id:
            ident = data["id"].strip()
            if not ident:
                yield Invalid(lineno, "the 'id' column is empty")
                continue
        yield Item(ident, lineno, data, prompt)


class Source:
    """One run's input: a path, or "-" for stdin, read as ``Entry`` values."""

    def __init__(
        self, ref: str, fmt: str | None, column: str | None, template: str | None, attach_column: str | None = None
    ) -> None:
        self.ref = ref
        self.name = "stdin" if ref == "-" else ref
        self.format = detect_format(self.name, fmt)
        self.column = column
        self.attach_column = attach_column
        self.template = Template(template) if template is not None else None
        self._spool: Path | None = None
        if ref != "-":
            path = Path(ref)
            if not path.exists():
                raise UsageError(f"no such file: {ref}")
            if path.is_dir():
                raise UsageError(f"{ref} is a directory")

    def close(self) -> None:
        if self._spool is not None:
            with contextlib.suppress(OSError):
                self._spool.unlink()
            self._spool = None

    def _open(self) -> IO[bytes]:
        """The input from the start. stdin is copied to a private temp file on first use,
        so it can be read twice (plan, then run) in constant memory."""
        if self.ref != "-":
            try:
                return open(self.ref, "rb")
            except OSError as e:
                raise UsageError(f"cannot read {self.ref}: {e.strerror}") from None
        if self._spool is None:
            from .spool import copy_stdin  # a private dir, not /tmp (issue 17 #3)

            self._spool = copy_stdin(sys.stdin.buffer if sys.stdin is not None else None)
        return open(self._spool, "rb")

    def entries(self) -> Iterator[Entry]:
        with self._open() as stream:
            yield from read(
                stream, self.format, column=self.column, template=self.template, attach_column=self.attach_column
            )
