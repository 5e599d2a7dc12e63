"""Structured output: ``--json-object`` and ``--schema FILE.json``, and checking the reply.

Owns the ``response_format`` sent for each mode and the check a reply must pass before
it is printed: valid JSON (a JSON object for ``--json-object``) and, with a schema,
valid against it. A reply that fails raises ``InvalidOutputError`` (exit 9); the reply
itself is already in the conversation log, so nothing is lost.

``jsonschema`` is imported only when a schema is in play, so ``ask`` without
``--schema`` never pays for it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidOutputError, UsageError
from .models import Turn

# OpenAI: json_schema.name must match ^[a-zA-Z0-9_-]{1,64}$.
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]+")
# One fenced block around the whole reply, as local models often write even in JSON mode.
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*[ \t]*\n(.*)\n[ \t]*```\s*$", re.DOTALL)
JSON_HINT = "Respond in JSON."


@dataclass(frozen=True)
class OutputSpec:
    """What the reply must be: ``kind`` is "json_object" or "json_schema"."""

    kind: str
    response_format: dict[str, Any]
    schema: dict[str, Any] | None = None
    source: str | None = None  # the schema file, for messages

    def extra_body(self) -> dict[str, Any]:
        return {"response_format": self.response_format}


def json_object() -> OutputSpec:
    return OutputSpec("json_object", {"type": "json_object"})


def from_schema_file(path: Path) -> OutputSpec:
    """Read ``--schema FILE.json``: a bare JSON Schema, or ``{"name", "schema", "strict"}``.

    The schema is checked locally (exit 2) before anything is sent, so a typo costs no
    request. ``strict`` defaults to true: the server then guarantees the shape (OpenAI
    requires ``additionalProperties: false`` and every property in ``required`` for it;
    use the wrapper form with ``"strict": false`` for a looser schema).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"--schema: no such file: {path}") from None
    except OSError as e:
        raise UsageError(f"--schema: cannot read {path}: {e.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UsageError(f"--schema: {path} is not UTF-8 text") from None
    except ValueError as e:
        raise UsageError(f"--schema: {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--schema: {path} must hold a JSON object (a JSON Schema)")
    if isinstance(data.get("schema"), dict) and ("name" in data or "strict" in data):
        schema = data["schema"]
        name = data.get("name") or path.stem
        strict = data.get("strict", True)
        if not isinstance(name, str) or not isinstance(strict, bool):
            raise UsageError(f"--schema: {path}: 'name' must be a string and 'strict' true or false")
    else:
        schema, name, strict = data, path.stem, True
    name = _NAME_BAD.sub("_", name).strip("_")[:64] or "reply"
    _check_schema(schema, path)
    fmt = {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}}
    return OutputSpec("json_schema", fmt, schema, str(path))


def _check_schema(schema: dict[str, Any], path: Path) -> None:
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        raise UsageError(f"--schema: {path} is not a valid JSON Schema: {e.message}") from None


def mentions_json(messages: list[dict[str, Any]]) -> bool:
    """OpenAI refuses json_object mode unless some message contains the word "JSON"."""
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        if "json" in text.lower():
            return True
    return False


def unfence(text: str) -> str:
    """The reply without one surrounding ```json fence (and surrounding blank space)."""
    match = _FENCE.match(text)
    return (match.group(1) if match else text).strip()


def check(text: str, spec: OutputSpec, *, finish_reason: str | None = None, where: str = "the reply") -> Any:
    """The parsed reply, or InvalidOutputError saying what is wrong with it."""
    cut = " (it was cut off at the token limit: raise --max-tokens)" if finish_reason == "length" else ""
    body = unfence(text)
    if not body:
        raise InvalidOutputError(f"{where} is empty, not JSON{cut}")
    try:
        value = json.loads(body)
    except ValueError as e:
        raise InvalidOutputError(f"{where} is not valid JSON: {e}{cut}") from None
    if spec.kind == "json_object" and not isinstance(value, dict):
        raise InvalidOutputError(f"{where} is JSON but not a JSON object (--json-object)")
    if spec.schema is not None:
        import jsonschema

        cls = jsonschema.validators.validator_for(spec.schema)
        error = jsonschema.exceptions.best_match(cls(spec.schema).iter_errors(value))
        if error is not None:
            at = error.json_path
            raise InvalidOutputError(f"{where} does not match the schema {spec.source}: {error.message} (at {at}){cut}")
    return value


def spec_for(want_object: bool, schema: Path | None) -> OutputSpec | None:
    """The spec for ``--json-object`` / ``--schema FILE`` (None: free text)."""
    if want_object and schema is not None:
        raise UsageError("--json-object and --schema exclude each other (a schema already asks for JSON)")
    if schema is not None:
        return from_schema_file(schema)
    return json_object() if want_object else None


# --- ask: the question and the turn (moved from conversation.py) ---------------------------


def with_json_hint(session: Any, text: str) -> tuple[str, str | None]:
    """OpenAI refuses json_object mode unless a message says "JSON": add it if none does.

    ``session`` is a ``conversation.Session`` (its messages with ``text`` are checked).
    Returns the text to send and, when the hint was added, a note saying so.
    """
    if mentions_json(session.request_messages(text)):
        return text, None
    note = f"--json-object: added {JSON_HINT!r} to the prompt (the API wants the word JSON)"
    return f"{text}\n\n{JSON_HINT}", note


def check_output(turn: Turn, output: OutputSpec) -> Turn:
    """The turn with each choice checked against ``output`` (and unfenced); InvalidOutputError (9) if one fails."""
    import dataclasses

    c = turn.completion
    texts = []
    for i, choice in enumerate(c.texts):
        where = "the reply" if len(c.texts) == 1 else f"choice {i + 1}"
        reason = c.finish_reasons[i] if i < len(c.finish_reasons) else None
        try:
            check(choice, output, finish_reason=reason, where=where)
        except InvalidOutputError as e:
            kept = f"; it is kept in conversation {turn.conversation_id}" if turn.conversation_id else ""
            raise InvalidOutputError(e.message + kept) from None
        texts.append(unfence(choice))
    return dataclasses.replace(turn, completion=dataclasses.replace(c, texts=tuple(texts)))
