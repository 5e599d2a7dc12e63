"""`gptcli batch` end to end against the loopback server, plus its input parser and limiter.

Subprocess tests run the real command; the parser and the limiter are tested in-process.
Faults are scripted on the server (``server.enqueue``); rates are checked on the times the
server recorded (``received_at``), which a limiter can only spread out, never compress.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import SRC, read_jsonl
from fakeserver import Reply
from gptcli.batch import Batch, Limiter, Options, Plan, read_existing, tidy_output
from gptcli.batch import input as batch_input
from gptcli.batch.openai_batch import result_kind
from gptcli.batch.output import Tally, Writer, error_kind
from gptcli.batch.plan import check_budget
from gptcli.errors import APIError, BudgetError, NetworkError, RateLimitError, UsageError
from gptcli.models import Price, Profile
from gptcli.tokens import count_messages


def items(data: bytes, fmt: str, **kw: Any) -> list[Any]:
    return list(batch_input.read(io.BytesIO(data), fmt, **kw))


def user_texts(server: Any) -> list[str]:
    return [b["messages"][-1]["content"] for b in server.chat_requests()]


def write_profile(home: Path, name: str, text: str) -> None:
    d = home / "gptcli" / "config" / "profiles"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.toml").write_text(text, encoding="utf-8")


def popen(*args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "gptcli", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def wait_for_lines(path: Path, count: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {count} lines")


# --- input formats (in-process) ---------------------------------------------------------------


def test_txt_lines_crlf_bom_blank_and_bad_utf8() -> None:
    data = "\ufeffhello\r\n\r\n   \nworld 你好\r\n".encode() + b"bad \xff byte\n" + b"last, no newline"
    got = items(data, "txt")
    assert [(e.id, e.line, e.prompt) for e in got if isinstance(e, batch_input.Item)] == [
        (1, 1, "hello"),
        (4, 4, "world 你好"),
        (6, 6, "last, no newline"),
    ]
    (bad,) = [e for e in got if isinstance(e, batch_input.Invalid)]
    assert bad.line == 5 and "UTF-8" in bad.reason
    templated = items(b"cat\n", "txt", template=batch_input.Template("Translate: {text}!"))
    assert templated[0].prompt == "Translate: cat!" and templated[0].input == "cat"
    with pytest.raises(UsageError, match="not a field of a text file"):
        items(b"x\n", "txt", template=batch_input.Template("{name}"))


def test_jsonl_ids_messages_overrides_and_bad_lines() -> None:
    lines = [
        {"id": "a", "prompt": "p1", "temperature": 0.2, "max_tokens": 5},
        {"messages": [{"role": "user", "content": "m"}], "model": "gpt-4o"},
        "not json {",
        {"id": True, "prompt": "x"},
        {"prompt": "x", "temperature": 9},
        {"prompt": ""},
        {"nothing": 1},
        [1, 2],
        {"id": 7, "text": "via column", "temprature": 1},
        '{"prompt": "lone \\ud800 surrogate"}',
    ]
    data = b"".join((x if isinstance(x, str) else json.dumps(x)).encode() + b"\n" for x in lines)
    got = items(data, "jsonl")
    ok = [e for e in got if isinstance(e, batch_input.Item)]
    assert [(e.id, e.line) for e in ok] == [("a", 1), (2, 2)]
    assert ok[0].overrides == {"temperature": 0.2, "max_tokens": 5} and ok[0].prompt == "p1"
    assert ok[1].messages == [{"role": "user", "content": "m"}] and ok[1].overrides == {"model": "gpt-4o"}
    bad = {e.line: e.reason for e in got if isinstance(e, batch_input.Invalid)}
    assert sorted(bad) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "surrogate" in bad[10]
    assert "not JSON" in bad[3] and "'id'" in bad[4] and "temperature" in bad[5] and "empty" in bad[6]
    by_column = items(data, "jsonl", column="text")
    assert [e.prompt for e in by_column if isinstance(e, batch_input.Item)] == [None, "via column"]
    (note,) = [e for e in by_column if isinstance(e, batch_input.Note)]
    assert note.line == 9 and "did you mean 'temperature'" in note.text


def test_csv_and_tsv_quoting_ids_and_templates() -> None:
    data = (
        "\ufeffid,text,lang\r\n"
        'r1,"multi\nline, quoted ""cell""",fr\r\n'
        "\r\n"
        "r2,short,de\r\n"
        "r3,too,many,fields\r\n"
        ",no id,en\r\n"
    ).encode()
    got = items(data, "csv", column="text")
    ok = [e for e in got if isinstance(e, batch_input.Item)]
    assert [(e.id, e.line, e.prompt) for e in ok] == [("r1", 2, 'multi\nline, quoted "cell"'), ("r2", 5, "short")]
    assert ok[0].input == {"id": "r1", "text": 'multi\nline, quoted "cell"', "lang": "fr"}
    assert {e.line for e in got if isinstance(e, batch_input.Invalid)} == {6, 7}
    t = batch_input.Template("Translate to {lang}: {text}")
    assert items(data, "csv", template=t)[0].prompt.startswith("Translate to fr: multi")
    with pytest.raises(UsageError, match="not in the CSV header"):
        items(data, "csv", column="body")
    with pytest.raises(UsageError, match="--column NAME is needed"):
        items(data, "csv")
    tsv = items(b"text\tn\nhello\t1\n", "tsv", column="text")
    assert [(e.id, e.prompt) for e in tsv] == [(2, "hello")]
    for bad in ("{}", "{a.b}", "{a!r}", "{a:>5}", "no fields", "{unclosed"):
        with pytest.raises(UsageError, match="--template"):
            batch_input.Template(bad)


def test_limiter_holds_the_rate() -> None:
    """A fake clock: 120 rpm is 2 requests a second after a burst of at most 2."""
    now = [0.0]
    sent: list[float] = []

    async def sleep(dt: float) -> None:
        now[0] += dt

    async def go() -> None:
        limiter = Limiter(120, 600, clock=lambda: now[0])
        for _ in range(10):
            await limiter.acquire(5)
            sent.append(now[0])

    real = asyncio.sleep
    asyncio.sleep = sleep  # type: ignore[assignment]
    try:
        asyncio.run(go())
    finally:
        asyncio.sleep = real  # type: ignore[assignment]
    assert sent[:2] == [0.0, 0.0]
    assert sent[-1] == pytest.approx(4.0)  # 10 requests: 2 at once, then 8 at 2/s
    # 600 tpm = 10 tokens/s: 5 tokens each allows 2/s as well, never more.
    for i, t in enumerate(sent):
        assert i + 1 <= 2 + 2 * t + 1e-9


# --- end to end -------------------------------------------------------------------------------


def test_txt_file_to_jsonl(server: Any, gptcli: Any, tmp_path: Path) -> None:
    src = tmp_path / "prompts.txt"
    src.write_bytes("\ufeffone\r\n\r\ntwo 二\nthree\n".encode())
    out = tmp_path / "out.jsonl"
    r = gptcli("batch", str(src), "-o", str(out), "--max-tokens", "50")
    assert r.code == 0, r.stderr
    assert r.stdout == ""
    records = read_jsonl(out)
    assert sorted(rec["id"] for rec in records) == [1, 3, 4]
    by_id = {rec["id"]: rec for rec in records}
    assert by_id[3] == {
        "id": 3,
        "line": 3,
        "input": "two 二",
        "model": "gpt-4o-mini",
        "text": "echo: two 二",
        "reasoning": None,
        "finish_reason": "stop",
        "usage": by_id[3]["usage"],
        "cost": by_id[3]["cost"],  # priced by the model's name behind the loopback URL (issue 16)
        "latency": by_id[3]["latency"],
        "attempts": 1,
        "error": None,
        "v": 1,
    }
    assert by_id[3]["usage"]["total_tokens"] > 0
    assert sorted(user_texts(server)) == ["one", "three", "two 二"]
    assert all(b["max_tokens"] == 50 and "stream" not in b for b in server.chat_requests())
    assert "batch: 3 done, 0 failed" in r.stderr  # the summary, even when not a terminal
    # Without --resume an existing output is never appended to blindly.
    again = gptcli("batch", str(src), "-o", str(out))
    assert again.code == 2 and "--resume" in again.stderr
    assert len(server.chat_requests()) == 3


def test_stdin_csv_template_no_input_to_stdout(server: Any, gptcli: Any) -> None:
    csv_text = 'id,review\nr1,Great product\nr2,"Awful, broke"\n'
    r = gptcli("batch", "-", "--format", "csv", "--template", "Sentiment of: {review}", "--no-input", input=csv_text)
    assert r.code == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert sorted(rec["id"] for rec in records) == ["r1", "r2"]
    r1 = next(rec for rec in records if rec["id"] == "r1")
    assert "input" not in r1
    canonical = json.dumps({"id": "r1", "review": "Great product"}, sort_keys=True, separators=(",", ":"))
    assert r1["input_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert r1["text"] == "echo: Sentiment of: Great product"
    assert sorted(user_texts(server)) == ["Sentiment of: Awful, broke", "Sentiment of: Great product"]


def test_jsonl_overrides_bad_lines_and_strict(server: Any, gptcli: Any, tmp_path: Path) -> None:
    src = tmp_path / "items.jsonl"
    src.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "prompt": "first", "model": "gpt-4o", "temperature": 0.1, "max_tokens": 7}),
                json.dumps({"id": "b", "messages": [{"role": "user", "content": "second"}], "system": "Be brief."}),
                "{broken",
                json.dumps({"id": "c", "prompt": "third", "n": 2}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    strict = gptcli("batch", str(src), "--strict", "-o", str(tmp_path / "strict.jsonl"))
    assert strict.code == 2 and "items.jsonl:3" in strict.stderr
    assert server.chat_requests() == []  # --strict stops before anything is sent

    out = tmp_path / "out.jsonl"
    r = gptcli("batch", str(src), "-o", str(out), "--ordered")
    assert r.code == 0, r.stderr
    assert "items.jsonl:3: skipped: not JSON" in r.stderr
    assert "1 bad line" in r.stderr
    records = read_jsonl(out)
    assert [rec["id"] for rec in records] == ["a", "b", "c"]
    bodies = {b["messages"][-1]["content"]: b for b in server.chat_requests()}
    assert bodies["first"]["model"] == "gpt-4o" and bodies["first"]["temperature"] == 0.1
    assert bodies["first"]["max_tokens"] == 7
    assert bodies["second"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert bodies["third"]["n"] == 2
    assert records[0]["model"] == "gpt-4o"
    assert records[2]["text"] == ["echo: third", "echo: third [1]"]
    assert records[2]["finish_reason"] == ["stop", "stop"]


def test_ordered_waits_for_slow_items_completion_order_does_not(server: Any, gptcli: Any, tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("".join(f"p{i}\n" for i in range(1, 7)), encoding="utf-8")
    # One request at a time reaches the server first: make it the slowest.
    for flag in ("--ordered", None):
        server.reset()
        server.enqueue(Reply(delay=0.6))
        out = tmp_path / f"out{flag}.jsonl"
        r = gptcli("batch", str(src), "-o", str(out), "--concurrency", "3", *([flag] if flag else []))
        assert r.code == 0, r.stderr
        records = read_jsonl(out)
        ids = [rec["id"] for rec in records]
        assert sorted(ids) == [1, 2, 3, 4, 5, 6]
        slow = max(records, key=lambda rec: rec["latency"])
        assert slow["latency"] >= 0.5 and slow["id"] in (1, 2, 3)  # one of the first three
        if flag:
            assert ids == [1, 2, 3, 4, 5, 6]
        else:
            assert ids[-1] == slow["id"]  # the slow one finished last, after 4-6


def test_rpm_and_tpm_limits_hold_at_the_server(server: Any, gptcli: Any, tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("".join(f"prompt {i}\n" for i in range(8)), encoding="utf-8")
    r = gptcli("batch", str(src), "-o", str(tmp_path / "a.jsonl"), "--rpm", "240", "--concurrency", "8")
    assert r.code == 0, r.stderr
    times = sorted(req.received_at for req in server.requests if req.path.endswith("/chat/completions"))
    assert len(times) == 8
    rate, burst = 240 / 60, 4
    for i in range(len(times)):
        for j in range(i, len(times)):
            # Two requests of slack: the server records a request when its thread gets to it,
            # which on a loaded machine can bunch up requests the client sent apart.
            assert j - i + 1 <= burst + rate * (times[j] - times[i]) + 2

    server.reset()
    # Each request is charged its exact prompt tokens + max_tokens (~10 + 20) on arrival.
    # 3,600 tpm = 60 tokens/s with a bucket of 60: about 2 requests a second.
    r = gptcli("batch", str(src), "-o", str(tmp_path / "b.jsonl"), "--tpm", "3600", "--max-tokens", "20", "-j", "8")
    assert r.code == 0, r.stderr
    reqs = sorted(
        (req for req in server.requests if req.path.endswith("/chat/completions")), key=lambda q: q.received_at
    )
    assert len(reqs) == 8
    charges = [count_messages(q.body["messages"], "gpt-4o-mini") + 20 for q in reqs]
    times = [q.received_at for q in reqs]
    for i in range(len(reqs)):
        for j in range(i, len(reqs)):
            assert sum(charges[i : j + 1]) <= 60 + 60 * (times[j] - times[i]) + 2 * max(charges)
    assert times[-1] - times[0] >= 2.0  # ~240 tokens beyond the first bucket at 60/s


def test_retries_on_429_and_500_then_failure(server: Any, gptcli: Any, tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("a\nb\nc\n", encoding="utf-8")
    server.enqueue(Reply(status=429, headers={"Retry-After": "1"}))
    server.enqueue(Reply(status=500))
    server.enqueue(Reply(status=503))
    out = tmp_path / "out.jsonl"
    r = gptcli("batch", str(src), "-o", str(out), "-j", "1", "-v")
    assert r.code == 0, r.stderr
    records = {rec["id"]: rec for rec in read_jsonl(out)}
    assert records[1]["attempts"] == 4 and records[1]["error"] is None
    assert records[2]["attempts"] == 1 and records[3]["attempts"] == 1
    assert "retry 1 in 1.0 s" in r.stderr  # -v shows retries
    times = [q.received_at for q in server.requests if q.path.endswith("/chat/completions")]
    assert times[1] - times[0] >= 0.95  # Retry-After: 1 was honoured

    # Retries exhausted: the item is written as failed, the others still run; exit 10.
    server.reset()
    server.enqueue(Reply(status=500), times=2)
    out2 = tmp_path / "out2.jsonl"
    r = gptcli("batch", str(src), "-o", str(out2), "-j", "1", "--retries", "1")
    assert r.code == 10, r.stderr
    assert "1 of 3 items failed" in r.stderr
    failed = read_jsonl(out2)[0]
    assert failed["id"] == 1 and failed["text"] is None and failed["attempts"] == 2
    assert failed["error"]["kind"] == "server" and failed["error"]["status"] == 500
    assert [rec["error"] for rec in read_jsonl(out2)[1:]] == [None, None]

    # --resume retries only the failed item and leaves one record per id.
    server.reset()
    r = gptcli("batch", str(src), "-o", str(out2), "--resume")
    assert r.code == 0, r.stderr
    assert user_texts(server) == ["a"]
    final = read_jsonl(out2)
    assert sorted(rec["id"] for rec in final) == [1, 2, 3]
    assert all(rec["error"] is None for rec in final)


def test_rejected_key_stops_the_batch(server: Any, gptcli: Any, tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("".join(f"p{i}\n" for i in range(50)), encoding="utf-8")
    server.require_key = "sk-another-key-entirely"
    r = gptcli("batch", str(src), "-o", str(tmp_path / "out.jsonl"), "-j", "2")
    assert r.code == 4, r.stderr
    assert len(server.chat_requests()) <= 4  # not one 401 per item


def test_resume_after_sigkill_loses_nothing(server: Any, tmp_path: Path, gptcli: Any) -> None:
    src = tmp_path / "p.txt"
    n = 60
    src.write_text("".join(f"prompt {i}\n" for i in range(1, n + 1)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    server.default = Reply(delay=0.05)
    proc = popen("batch", str(src), "-o", str(out), "-j", "4")
    try:
        wait_for_lines(out, 12, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The worst a SIGKILL could leave: a torn last line.
    with open(out, "ab") as f:
        f.write(b'{"id": 999, "text": "tor')
    before = len(read_jsonl_lenient(out))
    assert 12 <= before < n
    server.default = Reply()
    r = gptcli("batch", str(src), "-o", str(out), "--resume", "-j", "8")
    assert r.code == 0, r.stderr
    records = read_jsonl(out)  # strict: every line is JSON again
    ids = [rec["id"] for rec in records]
    assert sorted(ids) == list(range(1, n + 1))  # nothing missing, no duplicates
    assert f"{before} skipped" in r.stderr


def read_jsonl_lenient(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_cleanly(server: Any, tmp_path: Path, sig: int) -> None:
    src = tmp_path / "p.txt"
    src.write_text("".join(f"prompt {i}\n" for i in range(200)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    server.default = Reply(delay=0.05)
    proc = popen("batch", str(src), "-o", str(out), "-j", "4")
    try:
        wait_for_lines(out, 8, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    data = out.read_bytes()
    assert data.endswith(b"\n")  # no half line
    records = read_jsonl(out)
    assert 8 <= len(records) < 200
    assert len({rec["id"] for rec in records}) == len(records)
    text = err.decode()
    assert "batch interrupted:" in text and "--resume" in text
    assert "Traceback" not in text


def test_openai_batch_api_path(server: Any, gptcli: Any, tmp_path: Path) -> None:
    server.batch_reverse_output = True  # results must be matched by custom_id, not position
    src = tmp_path / "items.jsonl"
    src.write_text(
        "".join(json.dumps(x) + "\n" for x in [{"id": "x", "prompt": "one"}, {"prompt": "two"}])
        + json.dumps({"id": "z", "prompt": "three", "model": "fail-model"})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    r = gptcli("batch", str(src), "--via", "openai-batch", "-o", str(out))
    assert r.code == 10, r.stderr
    assert "submitted batch_" in r.stderr
    (upload,) = [q for q in server.requests if q.method == "POST" and q.path == "/v1/files"]
    assert b'"custom_id":"x"' in upload.raw and b'"url":"/v1/chat/completions"' in upload.raw
    assert b'"method":"POST"' in upload.raw
    records = read_jsonl(out)
    assert [rec["id"] for rec in records] == ["x", 2, "z"]  # input order
    assert records[0]["text"] == "echo: one" and records[1]["text"] == "echo: two"
    assert records[2]["error"]["kind"] == "not_found" and records[2]["error"]["status"] == 404
    assert server.chat_requests() == []  # nothing went through /chat/completions

    # --submit-only prints the id; --collect finishes later, and twice writes nothing twice.
    server.reset()
    out2 = tmp_path / "later.jsonl"
    r = gptcli("batch", str(src), "--submit-only", "-o", str(out2))
    assert r.code == 0, r.stderr
    batch_id = r.stdout.strip()
    assert batch_id.startswith("batch_") and not out2.exists()
    for code in (10, 0):
        r = gptcli("batch", str(src), "--collect", batch_id, "-o", str(out2))
        assert r.code == code, r.stderr
        assert sorted(map(str, (rec["id"] for rec in read_jsonl(out2)))) == ["2", "x", "z"]


def test_dry_run_and_max_cost(server: Any, gptcli: Any, tmp_path: Path, isolated: Path) -> None:
    """The CLI contract: the plan as JSON on stdout, exit 7 over budget with nothing sent,
    and a priced run. The plan's numbers are checked in-process below."""
    write_profile(isolated, "priced", 'model = "gpt-4o-mini"\n[price]\ninput = 1.0\noutput = 2.0\n')
    src = tmp_path / "p.txt"
    src.write_text("".join(f"prompt number {i}\n" for i in range(100)), encoding="utf-8")
    r = gptcli("batch", str(src), "-p", "priced", "--max-tokens", "100", "--dry-run")
    assert r.code == 0, r.stderr
    plan = r.json()
    assert plan["items"] == 100 and plan["to_send"] == 100 and plan["tokens"] == "exact"
    assert plan["first_request"]["body"]["messages"][-1]["content"] == "prompt number 0"

    over = gptcli("batch", str(src), "-p", "priced", "--max-tokens", "100", "--max-cost", "0.01")
    assert over.code == 7 and "--max-cost" in over.stderr
    assert server.chat_requests() == []

    out = tmp_path / "out.jsonl"
    ok = gptcli("batch", str(src), "-p", "priced", "--max-tokens", "100", "--max-cost", "1", "-o", str(out))
    assert ok.code == 0, ok.stderr
    records = read_jsonl(out)
    assert len(records) == 100
    u = records[0]["usage"]
    assert records[0]["cost"] == pytest.approx((u["prompt_tokens"] * 1 + u["completion_tokens"] * 2) / 1e6)


PRICED = Profile(model="gpt-4o-mini", max_tokens=100, price=Price(input=1.0, output=2.0))


def plan_of(src: Path, profile: Profile = PRICED, **options: Any) -> Plan:
    with Batch(profile, str(src), Options(**options)) as job:
        return job.plan(exact=True, check_budget=False)


def test_plan_counts_and_prices_in_process(tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("".join(f"prompt number {i}\n" for i in range(100)), encoding="utf-8")
    plan = plan_of(src)
    assert plan.items == 100 and plan.to_send == 100 and plan.tokens == "exact"
    assert 8 <= plan.prompt_tokens // 100 <= 12
    assert plan.cost_min == pytest.approx(plan.prompt_tokens / 1e6)
    assert plan.cost_max == pytest.approx(plan.prompt_tokens / 1e6 + 100 * 100 * 2 / 1e6)
    assert [m.model for m in plan.models] == ["gpt-4o-mini"] and plan.models[0].price_source == "profile"
    # The same input through the Batch API is planned at half price.
    assert plan_of(src, via="openai-batch").cost_max == pytest.approx(plan.cost_max / 2)
    # The cheap bound is never below the exact count.
    with Batch(PRICED, str(src), Options()) as job:
        assert job.plan().prompt_tokens >= plan.prompt_tokens

    with pytest.raises(BudgetError, match="--max-cost"):
        check_budget(plan, 0.01)
    check_budget(plan, 1.0)
    # A model with no known output limit or window (gpt-4o-mini's comes from models.dev).
    unbounded = plan_of(src, Profile(model="my-local-model", price=Price(input=1.0, output=2.0)))
    with pytest.raises(BudgetError, match="--max-tokens"):
        check_budget(unbounded, 5.0)


def test_options_are_checked_before_anything_is_read(tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("a\n", encoding="utf-8")
    for bad, words in [
        ({"via": "carrier-pigeon"}, "--via"),
        ({"concurrency": 0}, "--concurrency"),
        ({"rpm": 0}, "--rpm"),
        ({"retries": -1}, "--retries"),
        ({"resume": True}, "-o FILE"),
        ({"resume": True, "overwrite": True, "output": tmp_path / "o"}, "contradict"),
    ]:
        with pytest.raises(UsageError, match=words):
            Batch(PRICED, str(src), Options(**bad))
    with pytest.raises(UsageError, match="no such file"):
        Batch(PRICED, str(tmp_path / "missing.txt"), Options())
    out = tmp_path / "out.jsonl"
    out.write_text("{}\n", encoding="utf-8")
    with pytest.raises(UsageError, match="already exists"):
        plan_of(src, output=out)


def record(ident: Any, inp: Any, *, error: bool = False) -> str:
    return json.dumps({"id": ident, "input": inp, "text": None if error else "ok", "error": "x" if error else None})


def test_resume_state_and_tidy_in_process(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    lines = [record(1, "alpha"), record(2, "beta", error=True), record("1", "x"), record(1, "alpha"), '{"id": 3, "te']
    out.write_text("\n".join(lines), encoding="utf-8")
    found = read_existing(out)
    assert set(found.done) == {1, "1"} and found.failed == {2} and found.untidy
    assert read_existing(tmp_path / "none.jsonl").done == {}
    tidy_output(out)
    assert [(r["id"], r["input"]) for r in read_jsonl(out)] == [(1, "alpha"), ("1", "x")]
    assert not read_existing(out).untidy


def test_resume_refuses_output_of_other_input(tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("gamma\nbeta\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    out.write_text(record(1, "alpha") + "\n" + record(2, "beta") + "\n", encoding="utf-8")
    with pytest.raises(UsageError, match="other input"):
        plan_of(src, output=out, resume=True)
    out.write_text(record(2, "beta") + "\n", encoding="utf-8")
    plan = plan_of(src, output=out, resume=True)
    assert (plan.items, plan.skipped, plan.to_send) == (2, 1, 1)


def test_ordered_writer_holds_records_back_until_their_turn() -> None:
    written: list[int] = []

    class Sink:
        def write(self, rec: dict[str, Any]) -> None:
            written.append(rec["id"])

        def close(self) -> None:
            pass

    async def go() -> None:
        window = asyncio.Semaphore(0)
        tally = Tally(total=3)
        writer = Writer(Sink(), tally, window, lambda t: None)
        writer.add(2, {"id": 2, "error": None})
        writer.add(1, {"id": 1, "error": {"kind": "x"}})
        assert written == []
        writer.add(0, {"id": 0, "error": None, "cost": 0.5})
        assert written == [0, 1, 2] and (tally.done, tally.failed, tally.cost) == (2, 1, 0.5)

    asyncio.run(go())


def test_error_kinds() -> None:
    assert error_kind(RateLimitError("x"), 429) == "rate_limit"
    assert error_kind(NetworkError("x"), 502) == "server"
    assert error_kind(NetworkError("x"), None) == "network"
    assert error_kind(APIError("x", status=400), 400) == "bad_request"
    cases = [(400, "context_length_exceeded"), (401, None), (404, None), (None, None)]
    assert [result_kind(s, c) for s, c in cases] == ["context", "auth", "not_found", "error"]


def test_help_has_examples_and_exit_codes(gptcli: Any) -> None:
    r = gptcli("batch", "--help")
    assert r.code == 0
    assert "gptcli batch prompts.txt -o results.jsonl" in r.stdout
    assert "10 some items failed" in r.stdout


def test_dry_run_never_imports_openai(tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("hello\n", encoding="utf-8")
    code = (
        "import sys\nfrom gptcli.cli import run\n"
        f"assert run(['batch', {str(src)!r}, '--dry-run', '-m', 'gpt-4o-mini']) == 0\n"
        "print('openai' in sys.modules, 'rich' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False False"


def test_duplicate_ids_are_refused_up_front_with_both_lines(tmp_path: Path) -> None:
    # issue 17 #8: accepted once, they made every later --resume exit 2.
    src = tmp_path / "p.jsonl"
    src.write_text('{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "y"}\n{"id": "a", "prompt": "z"}\n')
    with pytest.raises(UsageError, match=r"p\.jsonl:3: id 'a' again \(first on line 1\)"):
        plan_of(src)
    # 3 and "3" are different ids, as they are in JSON.
    src.write_text('{"id": 3, "prompt": "x"}\n{"id": "3", "prompt": "y"}\n')
    assert plan_of(src).items == 2
    # Items numbered by their line (kept as bits, not ids) still clash with given ids, both ways.
    src.write_text('{"id": 3, "prompt": "x"}\n{"prompt": "y"}\n{"prompt": "z"}\n')
    with pytest.raises(UsageError, match=r"p\.jsonl:3: id 3 again \(first on line 1\)"):
        plan_of(src)
    src.write_text('{"prompt": "x"}\n{"id": 1, "prompt": "y"}\n')
    with pytest.raises(UsageError, match=r"p\.jsonl:2: id 1 again \(first on line 1\)"):
        plan_of(src)


def _shell(command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=60)


def test_output_over_the_file_size_limit_is_exit_3_with_the_counts(server: Any, tmp_path: Path) -> None:
    # issue 17 #12: a full disk or `ulimit -f` gave exit 1 "unexpected OSError" and no summary.
    src = tmp_path / "p.txt"
    src.write_text("".join(f"prompt {i}\n" for i in range(40)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = _shell(f"ulimit -f 4 && {shlex.quote(sys.executable)} -m gptcli batch {src} -o {out} -j 2")
    assert r.returncode == 3, r.stderr
    assert f"cannot write {out}" in r.stderr and "--resume" in r.stderr
    assert "records are in" in r.stderr
    assert "unexpected" not in r.stderr and "Traceback" not in r.stderr


def test_batch_into_a_reader_that_leaves_exits_0(server: Any, tmp_path: Path) -> None:
    # issue 17 #15: `gptcli batch ... | head -c 10` exited 1 silently.
    src = tmp_path / "p.txt"
    src.write_text("".join(f"prompt {i}\n" for i in range(200)), encoding="utf-8")
    r = _shell(f"{shlex.quote(sys.executable)} -m gptcli batch {src} | head -c 10; exit ${{PIPESTATUS[0]}}")
    assert len(r.stdout) == 10
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr


def test_retry_after_is_capped_like_ask_and_shown_on_the_progress_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 17 #9: batch waited up to 300 s per retry with nothing on stderr; ask waits at most 120 s.
    from gptcli.batch import runner
    from gptcli.batch.limits import Limiter as RunLimiter
    from gptcli.models import Completion, Outcome

    src = tmp_path / "p.txt"
    src.write_text("a\nb\n", encoding="utf-8")
    slept: list[float] = []
    now = [0.0]

    async def no_sleep(seconds: float) -> None:  # the limiter's pause sleeps too: time moves on
        slept.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(runner.asyncio, "sleep", no_sleep)

    class Sender:
        def __init__(self, retry_after: float) -> None:
            self.replies = [
                Outcome(
                    error=RateLimitError("rate limited (HTTP 429)"), status=429, retryable=True, retry_after=retry_after
                ),
                Outcome(completion=Completion(("ok",), ("stop",), "gpt-4o-mini", None, 0.1)),
            ]

        async def send(self, body: dict[str, Any]) -> Any:
            return self.replies.pop(0)

    events: list[Any] = []
    with Batch(PRICED, str(src), Options()) as job:
        job.emit = events.append
        (item, _) = list(job.items())
        run = runner._Runner(job, Tally(total=2))
        rec = asyncio.run(run.one(item, Sender(30.0), RunLimiter(None, None, clock=lambda: now[0])))
        assert rec["error"] is None and rec["attempts"] == 2 and slept[0] == 30.0
        (waiting,) = [e for e in events if getattr(e, "status", None)]
        assert "30 s" in waiting.status and "Retry-After" in waiting.status

        before = len(slept)
        rec = asyncio.run(run.one(item, Sender(200.0), RunLimiter(None, None, clock=lambda: now[0])))
        assert slept[before:] == [], "a Retry-After over 120 s is not waited for"
        assert rec["error"]["kind"] == "rate_limit" and "Retry-After" in rec["error"]["message"]
        assert "200 s" in rec["error"]["message"] and "120 s" in rec["error"]["message"]
