"""Counting tokens: text, the chat formula (tools included), a bound and an estimate.

``count_text`` (``encode_ordinary`` semantics), ``count_messages`` (the OpenAI cookbook's
chat formula), ``upper_bound_tokens`` (no tiktoken at all), and ``approx_tokens`` (the
fallback estimate). "Count exactly, else approximate" is ``gptcli.budget.Counter``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gptcli.prices import base_model
from gptcli.tokens.encodings import count_strings, encoding_name, utf8


def count_text(text: str, model: str, encoding: str | None = None) -> int:
    """Tokens of ``text`` for ``model``; special-token text like ``<|endoftext|>`` is
    counted as ordinary text (what the API does with user content), never rejected."""
    return count_strings([text], encoding_name(model, encoding)[0])


@dataclass(frozen=True)
class _Overheads:
    per_message: int
    per_name: int
    priming: int
    func_init: int
    func_end: int = 12
    prop_init: int = 3
    prop_key: int = 3
    enum_init: int = -3
    enum_item: int = 3


def _overheads(model: str | None, encoding: str | None) -> _Overheads:
    """The cookbook's constants. None for both means "the largest of any model"."""
    if model is None:
        return _Overheads(per_message=4, per_name=1, priming=3, func_init=10)
    per_message, per_name = 3, 1
    if base_model(model).startswith("gpt-3.5-turbo-0301"):  # retired; older formula
        per_message, per_name = 4, -1
    # Tool constants were measured on gpt-3.5/gpt-4 (cl100k_base) and gpt-4o (the rest).
    func_init = 10 if encoding == "cl100k_base" else 7
    return _Overheads(per_message, per_name, 3, func_init)


def _strip_period(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


def _request_parts(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None,
    oh: _Overheads,
    model: str | None = None,
) -> tuple[list[str], int]:
    """Every string the formula counts, and the sum of its constant overheads.

    One walk shared by the exact count, the upper bound and the estimate, so the bound
    is provably >= the count: same overheads, and UTF-8 bytes >= tokens per string.
    """
    strings: list[str] = []
    overhead = 0
    for message in messages:
        overhead += oh.per_message
        for key, value in message.items():
            if isinstance(value, str):
                strings.append(value)
                if key == "name":
                    overhead += oh.per_name
            elif key == "content" and isinstance(value, list):
                # Multi-part content: text parts count as text; images, PDFs and audio
                # by their own rules (gptcli.attachments.media; a PDF's text as text).
                for part in value:
                    if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                        strings.append(part["text"])
                    elif isinstance(part, str):
                        strings.append(part)
                    elif isinstance(part, Mapping):
                        from gptcli.attachments.media import part_tokens

                        counted = part_tokens(part, model)
                        overhead += counted.tokens
                        if counted.text:
                            strings.append(counted.text)
            elif key == "tool_calls" and isinstance(value, list):
                # Not in the cookbook; the function name and JSON arguments are what
                # the model reads back.
                for call in value:
                    function = call.get("function") if isinstance(call, Mapping) else None
                    if isinstance(function, Mapping):
                        strings.extend(v for k in ("name", "arguments") if isinstance(v := function.get(k), str))
    overhead += oh.priming
    if tools:
        for tool in tools:
            function = tool.get("function", tool)
            overhead += oh.func_init
            name = str(function.get("name", ""))
            strings.append(f"{name}:{_strip_period(str(function.get('description', '')))}")
            parameters = function.get("parameters") or {}
            properties = parameters.get("properties") or {}
            if properties:
                overhead += oh.prop_init
                for key, prop in properties.items():
                    overhead += oh.prop_key
                    if "enum" in prop:
                        overhead += oh.enum_init
                        for item in prop["enum"]:
                            overhead += oh.enum_item
                            strings.append(str(item))
                    description = _strip_period(str(prop.get("description", "")))
                    strings.append(f"{key}:{prop.get('type', '')}:{description}")
        overhead += oh.func_end
    return strings, overhead


def count_messages(
    messages: Sequence[Mapping[str, Any]],
    model: str,
    encoding: str | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """Prompt tokens of a Chat Completions request, by the OpenAI cookbook's formula.

    Per message 3 + the tokens of every string field (+1 for ``name``), +3 for reply
    priming; text parts of multi-part content are counted; ``tools`` are counted with the
    cookbook's ``num_tokens_for_tools`` constants. Exact (checked against the API by the
    cookbook) for text on gpt-3.5-turbo, gpt-4, gpt-4o and gpt-4o-mini; an estimate else.
    """
    name = encoding_name(model, encoding)[0]
    strings, overhead = _request_parts(messages, tools, _overheads(model, name), model)
    return overhead + count_strings(strings, name)


def upper_bound_tokens(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    model: str | None = None,
) -> int:
    """A cheap bound, >= ``count_messages`` for any encoding, without tiktoken.

    Each BPE token covers at least one UTF-8 byte, so bytes >= tokens per string; the
    overheads are the same (or, with no ``model``, the largest any model uses).
    """
    # With a model, its message constants, but the larger (cl100k) tool constants: the
    # encoding is not looked up here.
    oh = _overheads(model, "cl100k_base") if model is not None else _overheads(None, None)
    strings, overhead = _request_parts(messages, tools, oh, model)
    return overhead + sum(len(utf8(s)) for s in strings)


_NON_ASCII = bytes(range(0x80, 0x100))


def _approx_text(text: str) -> int:
    data = utf8(text)
    ascii_bytes = len(data.translate(None, _NON_ASCII))
    other = len(data) - ascii_bytes
    # Measured on o200k_base (reference 4.2): English ~4.2 bytes/token, CJK-heavy text
    # ~3.5. Rounding the English rate down keeps the estimate on the high side.
    return -(-(ascii_bytes * 7 + other * 8) // 28)  # ceil(ascii / 4 + other / 3.5)


def approx_tokens(
    messages: str | Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """An estimate for when no encoding can be loaded: ~4 bytes/token for ASCII text,
    ~3.5 for other (CJK) bytes, plus the chat overheads. Label it as an estimate."""
    if isinstance(messages, str):
        return _approx_text(messages)
    strings, overhead = _request_parts(messages, tools, _overheads("", "o200k_base"))
    return overhead + sum(map(_approx_text, strings))
