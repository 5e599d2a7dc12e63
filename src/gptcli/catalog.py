"""The ``models`` use case: what a server offers, with price and context window where known.

The list comes from the server (``GET /models``); prices and context windows come from
``prices.info_for`` (genai-prices' bundled data, matched by the server's URL), and the
profile's own ``[price]`` / ``context_window`` for the profile's model. Nothing is
invented: unknown stays ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import client, prices
from .backend import Backend
from .errors import NotFoundError
from .models import Price, Profile


@dataclass(frozen=True)
class ModelRow:
    id: str
    owned_by: str | None
    created: int | None
    price: Price | None
    context_window: int | None
    price_source: str | None  # "profile" | "genai-prices" | None
    matched: str | None  # the genai-prices id that matched (the match is fuzzy: show it)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owned_by": self.owned_by,
            "created": self.created,
            "context_window": self.context_window,
            "price": self.price.to_dict() if self.price else None,
            "price_source": self.price_source,
            "matched": self.matched,
        }


def describe(model_id: str, profile: Profile, *, owned_by: str | None = None, created: int | None = None) -> ModelRow:
    """One model's row: the profile's values apply only to the profile's own model."""
    info = prices.info_for(profile, model_id)
    return ModelRow(model_id, owned_by, created, info.price, info.context_window, info.source, info.matched)


def list_models(profile: Profile, contains: str | None = None, *, backend: Backend | None = None) -> list[ModelRow]:
    """The server's models, sorted by id; ``contains`` keeps ids containing it (any case).

    ``backend`` defaults to the profile's.
    """
    key = client.api_key(profile)
    try:
        raw = (backend or client.backend_for(profile)).list_models(profile, key)
    except NotFoundError:
        raise NotFoundError(f"{profile.shown_url} does not list its models (GET /models: 404)") from None
    rows = []
    needle = (contains or "").lower()
    for m in sorted(raw, key=lambda m: str(m["id"])):
        ident = str(m["id"])
        if needle and needle not in ident.lower():
            continue
        created = m.get("created")
        rows.append(
            describe(
                ident,
                profile,
                owned_by=m.get("owned_by"),
                created=created if isinstance(created, int) else None,
            )
        )
    return rows
