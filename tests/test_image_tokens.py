"""Image tokens by OpenAI's published rules, checked against the worked examples of its vision guide."""

from __future__ import annotations

import pytest

from gptcli.attachments import image_tokens as it


# The tile rule, gpt-4o family (OpenAI's "Calculating costs" examples).
def test_gpt4o_1024_square_high_is_four_tiles_765() -> None:
    assert it.tile_count(1024, 1024) == 4
    assert it.tokens(1024, 1024, "gpt-4o", "high") == 765


def test_gpt4o_2048_by_4096_high_is_six_tiles_1105() -> None:
    assert it.tile_count(2048, 4096) == 6
    assert it.tokens(2048, 4096, "gpt-4o", "high") == 1105


def test_gpt4o_low_detail_is_the_base_whatever_the_size() -> None:
    assert it.tokens(4096, 8192, "gpt-4o", "low") == 85
    assert it.tokens(10, 10, "gpt-4o-2024-08-06", "low") == 85


def test_auto_is_counted_as_high() -> None:
    assert it.tokens(1024, 1024, "gpt-4o", "auto") == it.tokens(1024, 1024, "gpt-4o", None) == 765


# The patch rule (gpt-4.1-mini, gpt-4.1-nano, o4-mini): OpenAI's examples give the patches.
def test_patches_1024_square_is_1024() -> None:
    assert it.patch_count(1024, 1024) == 1024


def test_patches_1800_by_2400_scaled_down_to_1452() -> None:
    assert it.patch_count(1800, 2400) == 1452


@pytest.mark.parametrize(
    ("model", "w", "h", "expected"),
    [
        ("gpt-4.1-mini", 1024, 1024, 1659),  # ceil(1024 x 1.62)
        ("gpt-4.1-nano", 1024, 1024, 2520),  # ceil(1024 x 2.46)
        ("o4-mini", 1800, 2400, 2498),  # ceil(1452 x 1.72)
        ("openai/gpt-4.1-mini-2025-04-14", 1800, 2400, 2353),  # ceil(1452 x 1.62)
    ],
)
def test_patch_rule_multipliers(model: str, w: int, h: int, expected: int) -> None:
    assert it.tokens(w, h, model, "high") == expected


def test_patches_never_exceed_the_cap() -> None:
    for w, h in [(4000, 3000), (10000, 100), (100, 10000), (6000, 6000)]:
        assert it.patch_count(w, h) <= it.MAX_PATCHES


@pytest.mark.parametrize(
    ("model", "family", "kind"),
    [
        ("gpt-4o-mini", "gpt-4o-mini", "tile"),
        ("gpt-4o-2024-11-20", "gpt-4o", "tile"),
        ("gpt-4.1", "gpt-4.1", "tile"),
        ("gpt-4.1-nano", "gpt-4.1-nano", "patch"),
        ("o3", "o3", "tile"),
        ("o4-mini", "o4-mini", "patch"),
    ],
)
def test_family_by_longest_prefix(model: str, family: str, kind: str) -> None:
    rule, known = it.rule_for(model)
    assert (rule.family, rule.kind, known) == (family, kind, True)


def test_unknown_model_uses_gpt4o_rule_and_says_so() -> None:
    rule, known = it.rule_for("llama3.2-vision")
    assert rule.family == "gpt-4o" and not known


def test_most_one_image_costs() -> None:
    assert it.max_tokens("gpt-4o") == 85 + 170 * 8 == 1445
    assert it.max_tokens("gpt-4o", "low") == 85
    assert it.max_tokens("gpt-4.1-mini") == 2489  # ceil(1536 x 1.62)
