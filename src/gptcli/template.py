"""Prompt templates: the one ``{name}`` syntax, used by ``batch --template`` and a profile's ``prompt``.

Syntax: ``{name}`` is replaced by the value of ``name``; ``{{`` and ``}}`` are literal
braces. Only plain names: no attribute access, indexing, conversions or format specs
(a prompt template is not a place for Python's format mini-language), and no empty
``{}``.

A profile's prompt is filled by ``fill``: ``{input}`` is the text of the arguments,
stdin and ``-f`` files (in that order, a blank line apart, as without a template); every
other name comes from ``--var NAME=VALUE`` or, failing that, the profile's ``[vars]``.
A name with no value is a usage error naming it; a ``--var`` the template does not use
is a warning. A template without ``{input}`` still takes the input: it is appended
after a blank line, so ``-p review -f app.py`` never drops the file.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

INPUT = "input"


class TemplateError(ValueError):
    """A template that cannot be parsed (the caller says where it came from)."""


class Template:
    """A parsed template: literal text and ``{name}`` fields, in order."""

    def __init__(self, text: str, *, need_field: bool = True) -> None:
        self.text = text
        parts: list[tuple[str, str | None]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as e:
            raise TemplateError(f"{e} (write {{{{ and }}}} for literal braces)") from None
        for literal, field, spec, conversion in parsed:
            if field is not None:
                if not field.strip():
                    raise TemplateError("empty {} placeholder; name the field, as in {text}")
                if conversion or spec or any(c in field for c in ".[]"):
                    raise TemplateError(
                        f"unsupported placeholder in {text!r}: only plain {{field}} names "
                        "(write {{ and }} for literal braces)"
                    )
            parts.append((literal, field))
        self.parts = tuple(parts)
        self.fields = tuple(dict.fromkeys(f for _, f in parts if f is not None))
        if need_field and not self.fields:
            raise TemplateError("no {field} placeholder, so every prompt would be the same")

    def render(self, data: Mapping[str, Any]) -> str:
        """The filled text; KeyError names a missing field."""
        out: list[str] = []
        for literal, field in self.parts:
            out.append(literal)
            if field is not None:
                out.append(as_text(data[field]))
        return "".join(out)


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def check(text: str) -> str:
    """A profile's ``prompt`` key: it must parse (ValueError says why)."""
    Template(text, need_field=False)
    return text


@dataclass(frozen=True)
class Filled:
    text: str
    warnings: tuple[str, ...] = ()


def fill(
    prompt: str, defaults: Mapping[str, str], given: Mapping[str, str], input_text: str, *, profile: str
) -> Filled:
    """A profile's ``prompt`` filled from ``--var`` values, ``[vars]`` defaults and the input.

    UsageError (2) names the first variable with no value.
    """
    try:
        tpl = Template(prompt, need_field=False)
    except TemplateError as e:  # validated when the profile was read; kept for callers passing text
        raise UsageError(f"profile {profile!r}: prompt: {e}") from None
    values: dict[str, str] = {**defaults, **given}
    warnings = [
        f"--var {name} is not used by profile {profile!r}'s prompt (it uses: {', '.join(tpl.fields) or 'nothing'})"
        for name in given
        if name not in tpl.fields
    ]
    if input_text:
        values[INPUT] = input_text
    for name in tpl.fields:
        if name not in values:
            if name == INPUT:
                raise UsageError(
                    f"profile {profile!r} needs {{input}}: pass the text as an argument, on stdin, or with -f FILE"
                )
            raise UsageError(
                f"profile {profile!r} needs variable {{{name}}}: pass --var {name}=VALUE",
                hint=f"see: gptcli profiles show {profile}",
            )
    text = tpl.render(values)
    if input_text and INPUT not in tpl.fields:
        text = f"{text}\n\n{input_text}" if text else input_text
    if not text.strip():
        raise UsageError("no prompt: pass it as an argument, pipe it on stdin, or use -f FILE")
    return Filled(text, tuple(warnings))


def variables(prompt: str | None, defaults: Mapping[str, str]) -> list[dict[str, Any]]:
    """What ``profiles show`` lists: each variable of the prompt, its default, and whether it is required."""
    if not prompt:
        return []
    tpl = Template(prompt, need_field=False)
    out = []
    for name in tpl.fields:
        if name == INPUT:
            out.append({"name": name, "default": None, "required": True, "from": "arguments, stdin, -f"})
        else:
            out.append({"name": name, "default": defaults.get(name), "required": name not in defaults, "from": "--var"})
    return out
