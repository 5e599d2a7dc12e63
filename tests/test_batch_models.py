"""`batch --models a,b` (every item on every model, resumable per item and model) and `--sample N` (issue 22)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import read_jsonl
from fakeserver import Reply
from gptcli.batch.fanout import pick


def _asked(server: Any) -> list[tuple[str, str]]:
    return [(b["messages"][-1]["content"], b["model"]) for b in server.chat_requests()]


def test_models_then_resume_runs_only_the_missing_pairs(server: Any, gptcli: Any, tmp_path: Path) -> None:
    src = tmp_path / "q.txt"
    src.write_text("one\ntwo\nthree\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    # -j 1: items in input order, each on gpt-4o then gpt-4.1-mini. The 2nd and 5th requests fail.
    server.enqueue(Reply())
    server.enqueue(Reply(status=400))
    server.enqueue(Reply(), times=2)
    server.enqueue(Reply(status=400))
    r = gptcli("batch", str(src), "--models", "gpt-4o,gpt-4.1-mini", "-o", str(out), "-j", "1", "--ordered")
    assert r.code == 10, r.stderr
    assert _asked(server) == [(q, m) for q in ("one", "two", "three") for m in ("gpt-4o", "gpt-4.1-mini")]
    records = read_jsonl(out)
    assert [(rec["id"], rec["target"], rec["error"] is None) for rec in records] == [
        (1, "gpt-4o", True),
        (1, "gpt-4.1-mini", False),
        (2, "gpt-4o", True),
        (2, "gpt-4.1-mini", True),
        (3, "gpt-4o", False),
        (3, "gpt-4.1-mini", True),
    ]
    assert "gpt-4o: 2 done, 1 failed" in r.stderr and "gpt-4.1-mini: 2 done, 1 failed" in r.stderr

    server.reset()
    r = gptcli("batch", str(src), "--models", "gpt-4o,gpt-4.1-mini", "-o", str(out), "--resume", "--json")
    assert r.code == 0, r.stderr
    assert sorted(_asked(server)) == [("one", "gpt-4.1-mini"), ("three", "gpt-4o")]
    summary = json.loads(r.stdout)
    assert summary["skipped"] == 4 and summary["done"] == 2
    assert [(m["model"], m["done"], m["failed"]) for m in summary["models"]] == [
        ("gpt-4o", 1, 0),
        ("gpt-4.1-mini", 1, 0),
    ]
    final = read_jsonl(out)
    assert sorted((rec["id"], rec["target"]) for rec in final) == sorted(
        (i, m) for i in (1, 2, 3) for m in ("gpt-4o", "gpt-4.1-mini")
    )
    assert all(rec["error"] is None and rec["model"] == rec["target"] for rec in final)


def test_sample_projects_the_whole_runs_cost(server: Any, gptcli: Any, tmp_path: Path) -> None:
    src = tmp_path / "q.txt"
    lines = [f"question {i}: " + " ".join(["word"] * (i % 7 + 1)) for i in range(40)]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    models = "gpt-4o,gpt-4.1-mini"
    full = gptcli("batch", str(src), "--models", models, "-o", str(tmp_path / "full.jsonl"), "--json")
    assert full.code == 0, full.stderr
    actual = {m["model"]: m["cost"] for m in json.loads(full.stdout)["models"]}
    assert len(server.chat_requests()) == 80

    server.reset()
    out = tmp_path / "sample.jsonl"
    r = gptcli("batch", str(src), "--models", models, "--sample", "8", "--seed", "3", "-o", str(out), "--json")
    assert r.code == 0, r.stderr
    assert len(server.chat_requests()) == 16  # 8 items on each model, nothing more
    got = json.loads(r.stdout)
    projected = {p["model"]: p for p in got["projection"]}
    for model, cost in actual.items():
        assert projected[model]["items"] == 40 and projected[model]["sampled"] == 8
        assert abs(projected[model]["cost"] - cost) <= 0.1 * cost, (model, projected[model], cost)
        assert projected[model]["seconds"] is not None
    sampled = sorted({rec["id"] for rec in read_jsonl(out)})
    assert len(sampled) == 8
    # Evenly: one item in each stretch of five; reproducibly: the same seed picks the same ones.
    assert [(i - 1) // 5 for i in sampled] == list(range(8))
    assert sampled == sorted(p + 1 for p in pick(40, 8, 3))
    text = gptcli("batch", str(src), "--models", models, "--sample", "8", "--seed", "3")
    assert text.code == 0, text.stderr
    assert "the whole file (40 items) would cost ~$" in text.stderr
    assert len(text.stdout.splitlines()) == 16  # the sampled answers, one record each


def test_pick_is_even_and_seeded() -> None:
    assert pick(5, 10, None) == frozenset(range(5))
    a, b = pick(100, 10, 1), pick(100, 10, 2)
    assert len(a) == 10 and sorted(x // 10 for x in a) == list(range(10))
    assert a == pick(100, 10, 1) and a != b


def test_models_flags_checked(server: Any, gptcli: Any, tmp_path: Path) -> None:
    src = tmp_path / "q.txt"
    src.write_text("one\n", encoding="utf-8")
    assert gptcli("batch", str(src), "--models", "a,a").code == 2
    assert gptcli("batch", str(src), "--models", " , ").code == 2
    assert gptcli("batch", str(src), "--sample", "0").code == 2
    assert gptcli("batch", str(src), "--models", "a,b", "--via", "openai-batch").code == 2
    assert server.chat_requests() == []
