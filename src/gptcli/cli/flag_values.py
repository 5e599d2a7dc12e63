"""Flag values checked and parsed: ``--detail``, ``-x``/``--extract-all``, ``--var``,
``--budget``, ``--tag``, ``--param``. Each bad value is a ``UsageError`` (exit 2) saying
what to give instead. The flags themselves are declared in ``options``.
"""

from typing import Any

from ..errors import UsageError


def check_detail(detail: str | None) -> str | None:
    if detail is not None and detail not in ("low", "high", "auto"):
        raise UsageError(f"--detail must be low, high or auto, not {detail!r}")
    return detail


def extract_mode(first: bool, every: bool) -> str | None:
    """-x and --extract-all as one value: None, "first" or "all"."""
    return "all" if every else ("first" if first else None)


def parse_vars(items: list[str] | None) -> dict[str, str]:
    """``--var NAME=VALUE`` values: ``@FILE`` is the file's text, ``@@...`` a literal ``@...``."""
    from ..prompt_input import read_file_text

    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--var expects NAME=VALUE, got {item!r}")
        if name == "input":
            raise UsageError("--var input: {input} is the text of the arguments, stdin and -f files")
        if value.startswith("@@"):
            value = value[1:]
        elif value.startswith("@"):
            from pathlib import Path

            value = read_file_text(Path(value[1:]).expanduser())
        out[name] = value
    return out


def with_budget(profile: Any, spec: str | None) -> Any:
    """The profile with ``--budget`` applied (checked: exit 2 on a bad value)."""
    if spec is None:
        return profile
    from dataclasses import replace

    from ..ledger import parse_budget

    try:
        parse_budget(spec)
    except ValueError as e:
        raise UsageError(f"--budget: {e}") from None
    return replace(profile, budget=spec.strip(), sources={**profile.sources, "budget": "flag"})


def check_tag(tag: str | None) -> str | None:
    """``--tag``: a short printable name (it is a key of ``gptcli usage --by tag``)."""
    if tag is not None and (not tag.strip() or len(tag) > 100 or not tag.isprintable()):
        raise UsageError("--tag: must be 1-100 printable characters")
    return tag.strip() if tag is not None else None


def parse_params(items: list[str] | None) -> dict[str, Any] | None:
    if not items:
        return None
    import json  # only when --param is given: --help and plain runs do without it

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(raw, parse_constant=_no_constant)
        except ValueError:
            out[key] = raw  # a bare word is a string
        except _NotFinite:
            raise UsageError(f"--param {key}: {raw} is not a finite number (JSON has no NaN or Infinity)") from None
    return out


class _NotFinite(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _NotFinite(name)
