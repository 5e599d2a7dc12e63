"""Prices and context windows of models, the cost of a request, and the price cache.

* ``base_model``: the one rule that names the model behind a served name (used by the
  encodings, the chat formula, the family rules in ``client`` and the lookups here).
* ``info_for(profile, model=None)`` / ``model_info``: price and context window. The
  profile's values win, else genai-prices' bundled data, else unknown: a price is never
  invented. ``cost`` and ``cost_range`` turn tokens into dollars.
* The price cache: genai-prices bundles its data as a large Python module; importing it
  and matching one model costs about 45 ms in a fresh process, a tenth of a short
  ``gptcli ask`` (profiled in docs/benchmarks.md). The answer only changes when the
  package is upgraded or a dated price change takes effect, so each answer is kept in
  ``cache_dir()/prices.json``, valid while the data file is the same one (path, size,
  mtime) and the UTC date is the same day. The cache is an optimisation, never a
  requirement: a missing, corrupt or stale file is ignored and rewritten, and failing to
  write it is silent. ``completions`` keeps its own answers in it too.

Imports stay inside functions (genai-prices, even json and datetime): ``gptcli.tokens``
needs ``base_model`` from here, and ``count "hi"`` should not pay for the rest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gptcli import settings
from gptcli.models import Price

if TYPE_CHECKING:
    from gptcli.models import Profile

OPENAI_BASE_URL = "https://api.openai.com/v1"


def base_model(model: str) -> str:
    """The model behind a served name, lower-cased: ``ft:gpt-4o-mini-2024-07-18:org::x``
    -> ``gpt-4o-mini-2024-07-18``; ``openai/o3`` or ``azure/gpt-4o`` -> the part after
    the last ``/``.

    The rule: strip spaces; lower-case (model ids are case-insensitive to every server
    gptcli knows, and tiktoken's tables are lower-case); a fine-tune ``ft:BASE:org::id``
    is its BASE; a routed name ``vendor/.../name`` (OpenRouter, LiteLLM, Azure
    deployments) is its last segment.
    """
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return name.rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------
# the price cache

CACHE_FILE = "prices.json"
CACHE_VERSION = 1
MAX_ENTRIES = 512  # past this, start again: models looked up are few, names from typos many

MISSING: Any = object()
_memory: dict[str, Any] = {}  # this process: the second lookup of a turn costs nothing
_loaded: dict[str, Any] | None = None


def _cache_path() -> Path:
    return settings.cache_dir() / CACHE_FILE


def _data_identity() -> str:
    """Which price data answers would come from, without importing it."""
    from importlib.util import find_spec

    try:
        spec = find_spec("genai_prices")
        origin = spec.origin if spec is not None else None
        if origin is None:
            return "genai-prices:absent"
        data = Path(origin).with_name("data.py")
        st = data.stat() if data.exists() else Path(origin).stat()
        return f"{data}:{st.st_size}:{st.st_mtime_ns}"
    except (ImportError, ValueError, OSError):
        return "genai-prices:unknown"


def _stamp() -> str:
    # Dated price changes take effect by day; a new day re-checks.
    from datetime import UTC, datetime

    return f"{_data_identity()}|{datetime.now(UTC).date().isoformat()}"


def _cache_load() -> dict[str, Any]:
    global _loaded
    if _loaded is not None:
        return _loaded
    import json

    stamp = _stamp()
    entries: dict[str, Any] = {}
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("v") == CACHE_VERSION and data.get("stamp") == stamp:
            found = data.get("entries")
            if isinstance(found, dict):
                entries = found
    except (OSError, ValueError):
        pass
    _loaded = {"stamp": stamp, "entries": entries}
    return _loaded


def cache_get(key: str) -> Any:
    """The cached value for ``key`` (None is a value: "unknown model"), or MISSING."""
    if key in _memory:
        return _memory[key]
    value = _cache_load()["entries"].get(key, MISSING)
    if value is not MISSING:
        _memory[key] = value
    return value


def cache_put(key: str, value: Any) -> None:
    """Remember ``value`` (JSON-able) for ``key``, here and on disk; never raises."""
    _memory[key] = value
    state = _cache_load()
    entries = state["entries"]
    if len(entries) >= MAX_ENTRIES:
        entries.clear()
    entries[key] = value
    try:
        import json

        from gptcli.jsonl import atomic_write

        text = json.dumps({"v": CACHE_VERSION, "stamp": state["stamp"], "entries": entries}, ensure_ascii=False)
        path = _cache_path()
        settings.ensure_private_dir(path.parent)
        atomic_write(path, text)
    except (OSError, TypeError, ValueError):
        pass


# ---------------------------------------------------------------------------------------
# prices, context windows, cost


@dataclass(frozen=True)
class ModelInfo:
    """Price and context window of a model, and where they came from."""

    price: Price | None
    context_window: int | None
    matched: str | None  # the genai-prices model id that matched, if it was used
    source: Literal["profile", "genai-prices"] | None  # where ``price`` came from
    # Long-context tiers from genai-prices: (prompt tokens above which, price for all).
    tiers: tuple[tuple[int, Price], ...] = ()

    def price_for(self, prompt_tokens: int) -> Price | None:
        """The price that applies to a request with this many prompt tokens."""
        price = self.price
        for start, tier_price in self.tiers:
            if prompt_tokens > start:
                price = tier_price
        return price

    def to_dict(self) -> dict[str, Any]:
        return {
            "price": self.price.to_dict() if self.price else None,
            "context_window": self.context_window,
            "matched": self.matched,
            "source": self.source,
            "tiers": [[start, price.to_dict()] for start, price in self.tiers],
        }


@dataclass(frozen=True)
class _Looked:
    price: Price | None
    context_window: int | None
    matched: str
    tiers: tuple[tuple[int, Price], ...]


def _genai_lookup(model: str, base_url: str | None) -> _Looked | None:
    """``_genai_lookup_data``, remembered in the user cache dir (see "the price cache" above).

    Loading genai-prices' data costs ~45 ms per process, the largest part of a short
    ``ask`` after the openai SDK; the cached answer costs well under 1 ms.
    """
    key = f"{base_url or OPENAI_BASE_URL} {model}"
    hit = cache_get(key)
    if hit is not MISSING:
        try:
            return _looked_from_json(hit)
        except (TypeError, ValueError, KeyError):
            pass  # a damaged entry: look it up again
    looked = _genai_lookup_data(model, base_url)
    cache_put(key, None if looked is None else asdict(looked))
    return looked


def _looked_from_json(data: Any) -> _Looked | None:
    if data is None:
        return None

    def price(d: Any) -> Price | None:
        return None if d is None else Price(d["input"], d["cached_input"], d["output"])

    tiers = tuple((int(start), price(p)) for start, p in data["tiers"])
    return _Looked(price(data["price"]), data["context_window"], data["matched"], tiers)  # type: ignore[arg-type]


def _genai_lookup_data(model: str, base_url: str | None) -> _Looked | None:
    """genai-prices' bundled data for ``model`` at ``base_url``; None when unknown.

    Never starts ``UpdatePrices`` (no network). Price data is advisory: any failure in
    it (unknown provider or model, a data quirk) must mean "price unknown", never a
    failed request, hence the broad except.
    """
    try:
        from datetime import UTC, datetime

        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        _, info = snapshot.find_provider_model(model, None, None, base_url or OPENAI_BASE_URL)
        prices = info.get_prices(datetime.now(UTC))
        raw = {key: getattr(prices, key, None) for key in ("input_mtok", "cache_read_mtok", "output_mtok")}
    except Exception:
        return None

    def at(value: Any, start: int | None) -> float | None:
        if value is None:
            return None
        tiers = getattr(value, "tiers", None)
        if tiers is None:
            return float(value)
        price = value.base
        for tier in tiers:
            if start is not None and tier.start <= start:
                price = tier.price
        return float(price)

    starts = sorted({tier.start for value in raw.values() for tier in (getattr(value, "tiers", None) or ())})

    def price_at(start: int | None) -> Price:
        return Price(
            input=at(raw["input_mtok"], start),
            cached_input=at(raw["cache_read_mtok"], start),
            output=at(raw["output_mtok"], start),
        )

    base = price_at(None)
    context_window = info.context_window
    if context_window is None and model.startswith("ft:"):
        parent = _genai_lookup(base_model(model), base_url)
        context_window = parent.context_window if parent else None
    return _Looked(
        price=base if (base.input is not None or base.output is not None) else None,
        context_window=context_window,
        matched=info.id,
        tiers=tuple((start, price_at(start)) for start in starts),
    )


def info_for(profile: Profile, model: str | None = None) -> ModelInfo:
    """Price and context window of ``model`` (default: the profile's) served at the
    profile's URL. The profile's ``[price]`` and ``context_window`` describe the profile's
    own model only, so they are used when ``model`` is that model and ignored otherwise
    (a batch item that switches model)."""
    if model is None or model == profile.model:
        return model_info(profile.model, profile.base_url, profile.price, profile.context_window)
    return model_info(model, profile.base_url)


def model_info(
    model: str,
    base_url: str | None = None,
    price: Price | None = None,
    context_window: int | None = None,
) -> ModelInfo:
    """Price and context window for ``model`` served at ``base_url`` (None: OpenAI).

    A profile's ``[price]`` and ``context_window`` win; otherwise genai-prices' bundled
    data, matched by provider URL and model name (show ``matched`` to the user: the
    match is fuzzy); otherwise unknown (None), never a guess.
    """
    if price is not None and context_window is not None:
        return ModelInfo(price, context_window, None, "profile")
    looked = _genai_lookup(model, base_url)
    if looked is None:
        return ModelInfo(price, context_window, None, "profile" if price else None)
    if price is not None:
        return ModelInfo(price, looked.context_window, looked.matched, "profile")
    return ModelInfo(
        looked.price,
        context_window if context_window is not None else looked.context_window,
        looked.matched,
        "genai-prices" if looked.price else None,
        looked.tiers if looked.price else (),
    )


def cost(price: Price | None, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float | None:
    """USD for one request; None if the price is unknown.

    ``prompt_tokens`` includes ``cached_tokens`` (OpenAI's convention); those are billed
    at the cached-input price when there is one. ``completion_tokens`` already includes
    reasoning tokens and every one of the ``n`` choices.
    """
    if price is None or price.input is None or price.output is None:
        return None
    cached = max(0, min(cached_tokens, prompt_tokens))
    cached_price = price.cached_input if price.cached_input is not None else price.input
    return (
        (prompt_tokens - cached) * price.input + cached * cached_price + completion_tokens * price.output
    ) / 1_000_000


def cost_range(
    price: Price | None, prompt_tokens: int, max_output_tokens: int | None, n: int = 1
) -> tuple[float | None, float | None]:
    """(prompt only, prompt + the whole output allowance of each of the ``n`` choices).

    The prompt is billed once whatever ``n`` is; before the call no cache hit is known,
    so both ends use the full input price. The upper end is None without a limit.
    """
    low = cost(price, prompt_tokens, 0)
    if low is None or max_output_tokens is None:
        return low, None
    return low, cost(price, prompt_tokens, max_output_tokens * max(1, n))
