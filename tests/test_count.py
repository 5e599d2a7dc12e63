"""`gptcli count` and the cost/window preflight of `ask`: exact counts, refusals before sending."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import conversations
from gptcli import budget, preflight, prices, tokens
from gptcli.errors import BudgetError, ContextLengthError
from gptcli.models import Price, Profile
from gptcli.tokens import counting

# Downloads of encoding files go to a closed local port: fails at once, no DNS, no internet.
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "TIKTOKEN_CACHE_DIR": ""}


def profile(isolated: Path, name: str, text: str) -> None:
    d = isolated / "gptcli" / "config" / "profiles"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.toml").write_text(text, encoding="utf-8")


def test_count_text(gptcli) -> None:
    r = gptcli("count", "--json", "你好，世界")
    assert r.code == 0, r.stderr
    data = r.json()
    assert data["model"] == "gpt-4o-mini" and data["encoding"] == "o200k_base" and data["exact"] is True
    assert data["total"]["tokens"] == 3 and data["total"]["characters"] == 5
    assert data["context_window"] == 128000
    assert data["total"]["input_cost"] == data["price"]["input"] * 3 / 1e6
    plain = gptcli("count", "你好，世界")
    assert "tokens\t3" in plain.stdout and "o200k_base" in plain.stdout


def test_count_files_table_and_total(gptcli, tmp_path: Path) -> None:
    a, b = tmp_path / "a.md", tmp_path / "b.txt"
    a.write_text("# Title\n\nSome text.\n", encoding="utf-8")
    b.write_text("中文内容，用来计数。\n" * 10, encoding="utf-8")
    data = gptcli("count", "-m", "gpt-4o", "-f", str(a), "-f", str(b), "--json").json()
    tokens = [i["tokens"] for i in data["items"]]
    assert len(tokens) == 2 and data["total"]["tokens"] == sum(tokens)
    one = gptcli("count", "-m", "gpt-4o", "--json", input=b.read_text(encoding="utf-8")).json()
    assert one["total"]["tokens"] == tokens[1]  # a file and the same text on stdin agree
    table = gptcli("count", "-m", "gpt-4o", "-f", str(a), "-f", str(b))
    assert table.stdout.splitlines()[-1].startswith("total\t")


def test_count_cl100k_model(gptcli) -> None:
    data = gptcli("count", "-m", "gpt-4", "--json", "hello world").json()
    assert data["encoding"] == "cl100k_base" and data["total"]["tokens"] == 2


def test_count_messages_like_the_api(gptcli, tmp_path: Path) -> None:
    one = [{"role": "user", "content": "hello"}]
    r = gptcli("count", "--messages", "-", "-m", "gpt-4o", "--json", input=json.dumps(one))
    assert r.json()["total"]["tokens"] == 8  # 3 + 1 + 1 ("user", "hello") + 3 priming
    f = tmp_path / "chat.jsonl"
    f.write_text(json.dumps({"messages": one}) + "\n" + json.dumps({"messages": one * 2}) + "\n", encoding="utf-8")
    data = gptcli("count", "--messages", str(f), "-m", "gpt-4o", "--json").json()
    assert [i["tokens"] for i in data["items"]] == [8, 13]


def test_count_bad_messages_is_a_usage_error(gptcli) -> None:
    r = gptcli("count", "--messages", "-", input='{"nope": 1}')
    assert r.code == 2 and "messages" in r.stderr


def test_count_conversation_next_turn(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "-s", "sys", "hello").code == 0
    (path,) = conversations(isolated)
    data = gptcli("count", "--conversation", path.stem[:5], "--json").json()
    expected = gptcli(
        "count",
        "--messages",
        "-",
        "--json",
        input=json.dumps(
            [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "echo: hello"},
            ]
        ),
    ).json()
    assert data["total"]["tokens"] == expected["total"]["tokens"]


def test_count_offline_uses_the_ranks_shipped_in_the_package(gptcli) -> None:
    data = gptcli("count", "-m", "gpt-4o", "--json", "hi", env=OFFLINE).json()  # no cache of any kind
    assert data["total"]["tokens"] == 1 and data["encoding"] == "o200k_base" and data["exact"] is True


def test_count_offline_is_one_line_exit_3(gptcli) -> None:
    r = gptcli("count", "-m", "text-davinci-003", "hi", env=OFFLINE)  # p50k_base: not shipped
    assert r.code == 3
    assert "TIKTOKEN_CACHE_DIR" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_ask_offline_falls_back_to_an_estimate(server, gptcli) -> None:
    r = gptcli("ask", "-v", "-m", "text-davinci-003", "hi", env=OFFLINE)  # p50k_base: not shipped
    assert r.code == 0, r.stderr
    assert r.stdout == "echo: hi\n"
    assert r.stderr.count("approximate") == 1
    assert len(server.chat_requests()) == 1


def test_max_cost_refuses_before_sending(server, gptcli, isolated: Path) -> None:
    profile(isolated, "priced", "max_tokens = 1000\n[price]\ninput = 10.0\noutput = 30.0\n")
    # Up to 1,000 output tokens at $30/1M: $0.03 and a little for the prompt.
    r = gptcli("ask", "-p", "priced", "--max-cost", "0.05", "Summarise")
    assert r.code == 0, r.stderr
    server.clear()
    r = gptcli("ask", "-p", "priced", "--max-cost", "0.05", "-n", "2", "Summarise")  # n doubles the output
    assert r.code == 7
    assert "--max-cost $0.05" in r.stderr and "x2" in r.stderr
    assert server.requests == []


def test_max_cost_with_unknown_price_refuses(server, gptcli) -> None:
    r = gptcli("ask", "-m", "my-local-model", "--max-cost", "1", "hi")
    assert r.code == 7 and "price unknown" in r.stderr
    assert server.requests == []


def test_context_window_refuses_before_sending(server, gptcli, isolated: Path) -> None:
    profile(isolated, "tiny", "context_window = 50\n")
    r = gptcli("ask", "-p", "tiny", "word " * 100)
    assert r.code == 8
    assert "context window 50" in r.stderr
    assert server.requests == []
    ok = gptcli("ask", "-p", "tiny", "short")
    assert ok.code == 0


# --- budget: the one count-else-estimate path and the one window / --max-cost check (in-process)

HISTORY = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hello there 你好", "name": "bob"},
    {"role": "assistant", "content": "hi"},
]
PRICED = Profile(model="gpt-4o", price=Price(2.5, 1.25, 10.0), context_window=1000, max_tokens=100)


def test_counter_equals_the_chat_formula_and_counts_each_message_once(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = budget.Counter("gpt-4o")
    assert counter.count(HISTORY) == budget.PromptCount(tokens.count_messages(HISTORY, "gpt-4o"), True, "o200k_base")
    assert counter.count(HISTORY[:2]).tokens == tokens.count_messages(HISTORY[:2], "gpt-4o")
    calls: list[int] = []
    real = counting.count_messages
    monkeypatch.setattr(counting, "count_messages", lambda ms, *a, **k: calls.append(len(ms)) or real(ms, *a, **k))
    grown = [*HISTORY, {"role": "user", "content": "and then?"}]
    assert counter.count(grown).tokens == real(grown, "gpt-4o")
    assert calls == [1]  # only the new message was counted


def test_counter_falls_back_to_the_estimate_once_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(*args: Any, **kwargs: Any) -> int:
        raise tokens.EncodingUnavailable("no o200k_base here")

    monkeypatch.setattr(counting, "count_messages", unavailable)
    warnings: list[str] = []
    counter = budget.Counter("gpt-4o", warn=warnings.append)
    first = counter.count(HISTORY)
    assert first == budget.PromptCount(tokens.approx_tokens(HISTORY), False, None)
    assert counter.count(HISTORY[:1]).tokens == tokens.approx_tokens(HISTORY[:1])
    assert warnings == ["token counts are approximate: no o200k_base here"]
    assert preflight.count(PRICED, HISTORY) == (first.tokens, False, None)  # the old name still works


def test_check_uses_the_bound_then_the_count_and_a_count_passed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    pre = budget.check(PRICED, HISTORY, max_cost=1.0)
    assert not pre.exact and pre.encoding is None  # the UTF-8 bound settled it: nothing loaded
    assert pre.prompt_tokens == tokens.upper_bound_tokens(HISTORY)
    exact = budget.check(PRICED, HISTORY, exact=True)
    assert exact.exact and exact.prompt_tokens == tokens.count_messages(HISTORY, "gpt-4o")

    def no_count(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("counted again")

    monkeypatch.setattr(counting, "count_messages", no_count)
    given = budget.PromptCount(42, True, "o200k_base")
    again = budget.check(PRICED, HISTORY, exact=True, counted=given)
    assert again.prompt_tokens == 42 and again.exact and again.cost_min == prices.cost(PRICED.price, 42, 0)


def test_check_refuses_the_window_and_the_budget() -> None:
    small = dataclasses.replace(PRICED, context_window=20)
    with pytest.raises(ContextLengthError, match="request too long for gpt-4o"):
        budget.check(small, HISTORY)
    with pytest.raises(BudgetError, match=r"this call could cost up to .* > --max-cost"):
        budget.check(PRICED, HISTORY, max_cost=1e-9)
    with pytest.raises(BudgetError, match="price unknown for my-local-model"):
        budget.check(Profile(model="my-local-model", base_url="http://127.0.0.1:9/v1"), HISTORY, max_cost=1.0)
    unbounded = Profile(model="my-local-model", base_url="http://127.0.0.1:9/v1", price=Price(1.0, 1.0, 1.0))
    with pytest.raises(BudgetError, match="output of my-local-model is unbounded"):
        budget.check(unbounded, HISTORY, max_cost=1.0)


def test_info_for_uses_the_profile_values_for_its_own_model_only() -> None:
    assert prices.info_for(PRICED) == tokens.model_info("gpt-4o", None, PRICED.price, 1000)
    other = prices.info_for(PRICED, "gpt-4o-mini")
    assert other == tokens.model_info("gpt-4o-mini") and other.price != PRICED.price


def test_base_model_is_one_rule() -> None:
    assert prices.base_model(" ft:gpt-4o-mini-2024-07-18:org::x ") == "gpt-4o-mini-2024-07-18"
    assert prices.base_model("openai/GPT-4o") == prices.base_model("azure/gpt-4o") == "gpt-4o"
    assert tokens.encoding_name("openrouter/openai/gpt-4") == ("cl100k_base", True)
