"""What one image costs in input tokens, by OpenAI's published rules for each model family.

Two rules (OpenAI's vision guide, "Calculating costs"):

* the **tile rule** (gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1, o3, ...): ``detail: "low"`` costs
  a fixed base; otherwise the image is scaled to fit in 2048 x 2048, then so that its
  shortest side is 768 px, and each 512 px tile it covers costs ``per_tile``, plus the base.
  gpt-4o: 85 + 170 per tile (1024 x 1024 high = 765; 2048 x 4096 = 1105);
* the **patch rule** (gpt-4.1-mini, gpt-4.1-nano, o4-mini, gpt-5-mini, gpt-5-nano): the
  32 px patches that cover the image, at most 1,536 (a larger image is scaled down to fit,
  then to a whole number of patches across), times a per-model multiplier
  (1024 x 1024 = 1,024 patches; 1800 x 2400 = 1,452).

``detail: "auto"`` lets the model choose: counted as high, an upper bound. A model of no
known family is counted by gpt-4o's rule and said to be approximate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..prices import base_model


@dataclass(frozen=True)
class Rule:
    family: str
    kind: str  # tile | patch
    base: int = 0  # tile rule: the low-detail cost, added to every image
    per_tile: int = 0
    multiplier: float = 1.0  # patch rule


# The constants of OpenAI's "Calculating costs" table; the longest matching prefix wins.
_TILE = {
    "gpt-4o": (85, 170),
    "chatgpt-4o": (85, 170),
    "gpt-4.1": (85, 170),
    "gpt-4.5": (85, 170),
    "gpt-4-turbo": (85, 170),
    "gpt-4o-mini": (2833, 5667),
    "gpt-5": (70, 140),
    "o1": (75, 150),
    "o1-pro": (75, 150),
    "o3": (75, 150),
    "computer-use-preview": (65, 129),
}
_PATCH = {
    "gpt-4.1-mini": 1.62,
    "gpt-4.1-nano": 2.46,
    "o4-mini": 1.72,
    "gpt-5-mini": 1.62,
    "gpt-5-nano": 2.46,
}
DEFAULT = Rule("gpt-4o", "tile", 85, 170)
MAX_PATCHES = 1536


def rule_for(model: str) -> tuple[Rule, bool]:
    """The rule for ``model`` and whether the model's family is known (False: gpt-4o's, assumed)."""
    name = base_model(model)
    best: Rule | None = None
    for prefix, (base, tile) in _TILE.items():
        if _matches(name, prefix) and (best is None or len(prefix) > len(best.family)):
            best = Rule(prefix, "tile", base, tile)
    for prefix, mult in _PATCH.items():
        if _matches(name, prefix) and (best is None or len(prefix) > len(best.family)):
            best = Rule(prefix, "patch", multiplier=mult)
    return (best, True) if best is not None else (DEFAULT, False)


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + "-")


def tile_count(width: int, height: int) -> int:
    """512 px tiles of the image once fitted in 2048 x 2048 and its shortest side at most 768."""
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = w * scale, h * scale
    # A resized image has whole pixels; the API rounds (2050 x 513 bills one row of tiles).
    return math.ceil(round(w) / 512) * math.ceil(round(h) / 512)


def patch_count(width: int, height: int) -> int:
    """32 px patches covering the image, scaled down to at most 1,536 as OpenAI's guide does."""
    patches = _ceil_div(width, 32) * _ceil_div(height, 32)
    if patches <= MAX_PATCHES:
        return patches
    shrink = math.sqrt(32 * 32 * MAX_PATCHES / (width * height))
    across = max(1, math.floor(width * shrink / 32))  # the width in whole patches
    # Scaled by the same factor, the height in patches is height * across / width, exactly.
    down = _ceil_div(height * across, width)
    return across * down


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def tokens(width: int, height: int, model: str, detail: str | None = None) -> int:
    """Input tokens of a ``width`` x ``height`` image sent to ``model`` at ``detail``."""
    rule, _ = rule_for(model)
    if rule.kind == "patch":
        return math.ceil(patch_count(width, height) * rule.multiplier)
    if detail == "low":
        return rule.base
    return rule.base + rule.per_tile * tile_count(width, height)


def max_tokens(model: str, detail: str | None = None) -> int:
    """The most one image can cost ``model``: what a URL that was not fetched is counted at."""
    rule, _ = rule_for(model)
    if rule.kind == "patch":
        return math.ceil(MAX_PATCHES * rule.multiplier)
    if detail == "low":
        return rule.base
    return rule.base + rule.per_tile * 8  # 768 x 2048 after scaling: 2 x 4 tiles, the most there can be
