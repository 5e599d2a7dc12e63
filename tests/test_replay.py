"""`gptcli replay`: list, show, export, re-run and diff saved conversations; the index; bad files.

Conversations are written here as the store writes them (``conv_file``), so every field
is known; the re-run tests send real requests to the loopback server and check what it
received, turn by turn. Diff output is compared with golden files in tests/golden/
(``UPDATE_GOLDEN=1`` rewrites them); the only thing that varies run to run, the new
replies' latency, is masked first.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import SRC, conversations, read_jsonl
from fakeserver import Reply

GOLDEN = Path(__file__).resolve().parent / "golden"


def store_dir(home: Path) -> Path:
    d = home / "gptcli" / "data" / "conversations"
    d.mkdir(parents=True, exist_ok=True)
    return d


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def conv_records(
    cid: str,
    turns: list[tuple[str, str | None]],
    *,
    profile: str = "default",
    model: str = "gpt-4o-mini",
    created: datetime | None = None,
    system: str | None = None,
    settings: dict[str, Any] | None = None,
    cost: float | None = 0.0001,
    latency: float = 1.25,
) -> list[dict[str, Any]]:
    """The records of a conversation as ``store``/``Session`` write them."""
    t = created or datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    conf = {"name": profile, "model": model, "temperature": 0.7, "max_tokens": None, "base_url": None}
    conf.update(settings or {})
    recs: list[dict[str, Any]] = [
        {"v": 1, "type": "meta", "id": cid, "created": iso(t), "gptcli": "0.1.0", "profile": profile, "settings": conf}
    ]
    if system:
        recs.append({"v": 1, "type": "message", "role": "system", "content": system, "time": iso(t)})
    for k, (user, answer) in enumerate(turns):
        t += timedelta(seconds=10)
        recs.append({"v": 1, "type": "message", "role": "user", "content": user, "time": iso(t)})
        if answer is None:
            continue
        t += timedelta(seconds=2)
        recs.append(
            {
                "v": 1,
                "type": "message",
                "role": "assistant",
                "content": answer,
                "time": iso(t),
                "model": model,
                "finish_reason": "stop",
                "usage": {
                    "prompt_tokens": 10 + 20 * k,
                    "completion_tokens": 5 + k,
                    "total_tokens": 15 + 21 * k,
                    "cached_tokens": 0,
                    "reasoning_tokens": 0,
                },
                "estimated_prompt_tokens": 12 + 20 * k,
                "estimate_exact": True,
                "estimated_cost": [None, None],
                "cost": cost,
                "latency": latency,
            }
        )
    return recs


def write_records(path: Path, recs: list[dict[str, Any]], tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs) + tail
    path.write_text(text, encoding="utf-8")
    return path


def conv_file(home: Path, cid: str, turns: list[tuple[str, str | None]], **kw: Any) -> Path:
    return write_records(store_dir(home) / f"{cid}.jsonl", conv_records(cid, turns, **kw))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("gptcli: error: ")
    return lines[0]


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC in this process (and in the processes it starts) for the duration of a test."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def cli_run(*args: str) -> tuple[int, str, str]:
    """``gptcli ARGS`` in this process, for what the command line decides alone (flag checks, exit codes)."""
    import contextlib
    import io

    from gptcli import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(list(args))
    return code, out.getvalue(), err.getvalue()


def priced_profile(home: Path, name: str = "priced", extra: str = "") -> None:
    d = home / "gptcli" / "config" / "profiles"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.toml").write_text(f"{extra}[price]\ninput = 1.0\noutput = 2.0\n", encoding="utf-8")


# --- list -------------------------------------------------------------------------------


def test_list_filters_and_json(gptcli, isolated: Path) -> None:
    now = datetime.now(UTC)
    conv_file(
        isolated,
        "aaaa00000001",
        [("请解释一下什么是神经网络?", "神经网络是……")],
        created=now - timedelta(days=1),
        profile="translator",
        model="gpt-4o",
    )
    conv_file(
        isolated,
        "aaaa00000002",
        [("Explain ^a+$", "One or more a."), ("And $?", "End.")],
        created=now - timedelta(hours=2),
        profile="coder",
        model="gpt-4o-mini",
        cost=0.0025,
    )
    conv_file(
        isolated,
        "bbbb00000003",
        [("Old QUESTION about Rust", "Ownership.")],
        created=now - timedelta(days=30),
        model="o3",
        cost=None,
    )
    # Another tool's export dropped in the store; a file from a newer gptcli; one being written.
    d = store_dir(isolated)
    (d / "export.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "from elsewhere"}]}) + "\n")
    write_records(d / "cccc00000004.jsonl", [{"v": 2, "type": "meta", "id": "cccc00000004"}])
    (d / "dddd00000005.jsonl").write_text('{"v":1,"type":"me', encoding="utf-8")
    (d / "notes.txt").write_text("not a conversation")

    r = gptcli("replay", "--json")
    assert r.code == 0, r.stderr
    rows = r.json()
    ids = [row["id"] for row in rows]
    # Newest first; the export counts (dated by its mtime: now); the newer-gptcli file is named, once, on stderr.
    assert ids == ["export", "aaaa00000002", "aaaa00000001", "bbbb00000003"]
    assert "cccc00000004.jsonl" in r.stderr and "newer gptcli" in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("warning: ")
    two = rows[1]
    assert two["profile"] == "coder" and two["model"] == "gpt-4o-mini" and two["turns"] == 2
    assert two["cost"] == pytest.approx(0.005) and two["unpriced"] == 0
    assert two["prompt_tokens"] == 40 and two["completion_tokens"] == 11
    assert two["first_prompt"] == "Explain ^a+$"
    assert two["path"] == str(d / "aaaa00000002.jsonl")
    assert rows[3]["cost"] is None and rows[3]["unpriced"] == 1
    assert rows[0]["source"] == "openai" and rows[0]["turns"] == 1

    # The filters, in-process against the listing (the CLI only parses them into a Filters).
    from gptcli import replay
    from gptcli.errors import UsageError

    def listed(since: str | None = None, **kw: Any) -> list[str]:
        filters = replay.Filters(since=replay.parse_since(since) if since else None, **kw)
        return [row["id"] for row in replay.listing(filters).rows()]

    assert listed() == ids
    assert listed(since="7d") == ["export", "aaaa00000002", "aaaa00000001"]
    assert listed(since="3h") == ["export", "aaaa00000002"]
    assert listed(since=(now - timedelta(days=40)).date().isoformat())[-1] == "bbbb00000003"
    assert listed(profile="coder") == ["aaaa00000002"]
    assert listed(model="gpt-4o") == ["aaaa00000001"]  # exact, case-insensitive
    assert listed(model="GPT-4o*") == ["aaaa00000002", "aaaa00000001"]  # a glob
    assert listed(grep="神经网络") == ["aaaa00000001"]
    assert listed(grep="old question") == ["bbbb00000003"]  # any case
    assert listed(grep="ownership") == ["bbbb00000003"]  # replies too
    assert listed(grep="ELSEWHERE") == ["export"]
    assert listed(grep="神经网络", since="7d", model="gpt-4o") == ["aaaa00000001"]
    assert listed(grep="no such text anywhere") == []
    assert listed(limit=2) == ["export", "aaaa00000002"]
    limited = replay.listing(replay.Filters(limit=2))
    assert limited.more and limited.total == 4
    assert [p.split(":")[0] for p in limited.problems] == ["cccc00000004.jsonl"]
    with pytest.raises(UsageError, match="--since") as bad:
        replay.parse_since("yesterday-ish")
    assert bad.value.exit_code == 2

    # Piped text: tab-separated id, date, profile, model, turns, cost, first prompt.
    r = gptcli("replay", "--profile", "coder")
    assert r.code == 0
    header, row = r.stdout.rstrip("\n").split("\n")
    assert header.split("\t") == ["id", "date", "profile", "model", "turns", "cost", "title"]
    cells = row.split("\t")
    assert cells[0] == "aaaa00000002" and cells[2:] == ["coder", "gpt-4o-mini", "2", "$0.005", "Explain ^a+$"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", cells[1])

    code, _, err = cli_run("replay", "--since", "yesterday-ish")
    assert code == 2 and "--since" in one_error_line(err)
    code, _, err = cli_run("replay", "--rerun")
    assert code == 2 and "need a conversation" in one_error_line(err)


def test_grep_is_exact_whatever_the_shortcut(isolated: Path) -> None:
    from gptcli import replay

    d = store_dir(isolated)
    conv_file(isolated, "a5c11a000001", [("Plain ASCII Question", 'He said "hi"\nthen left')])
    conv_file(isolated, "0a5c11000002", [("Die Straße ist lang, 神经网络", "ok")])
    (d / "e5ca9e000003.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "Ünïcode 反向传播"}]}))
    conv_file(isolated, "0e7a00000004", [("nothing here", "model: gpt-4o")])

    def grep(text: str) -> set[str]:
        return {r["id"] for r in replay.listing(replay.Filters(grep=text)).rows()}

    assert grep("ascii question") == {"a5c11a000001"}  # ASCII file, any case
    assert grep('said "hi"') == {"a5c11a000001"}  # characters JSON escapes
    assert grep('hi"\nthen') == {"a5c11a000001"}
    assert grep("STRASSE") == {"0a5c11000002"}  # casefold: ß is ss
    assert grep("神经网络") == {"0a5c11000002"}  # caseless: a byte search
    assert grep("反向传播") == {"e5ca9e000003"}  # \u-escaped by another tool
    assert grep("ÜNÏCODE") == {"e5ca9e000003"}
    assert grep("gpt-4o") == {"0e7a00000004"}  # message text only, not the metadata
    assert grep("profile") == set()


def test_index_is_incremental_and_survives_damage(isolated: Path) -> None:
    from gptcli import replay, store

    d = store_dir(isolated)
    for k in range(5):
        conv_file(isolated, f"{k:012x}", [(f"question {k}", f"answer {k}")])
    index = replay.Index()
    assert len(index.refresh()) == 5 and index.read_files == 5
    assert index.path.stat().st_mode & 0o777 == 0o600
    assert index.refresh() and index.read_files == 0  # warm: nothing read

    # One conversation continued, one deleted, one new: exactly those are read again.
    w = store.Writer("000000000001", d / "000000000001.jsonl")
    w.message("user", "a second turn")
    w.close()
    (d / "000000000002.jsonl").unlink()
    conv_file(isolated, "00000000000a", [("new one", "yes")])
    entries = index.refresh()
    assert index.read_files == 2
    assert set(entries) == {f"{k:012x}.jsonl" for k in (0, 1, 3, 4, 10)}
    assert replay.row(entries["000000000001.jsonl"])["turns"] == 2

    # A writer killed mid-save leaves a temp file: swept on a later save once it is old.
    stale = index.path.parent / f".{index.path.name}.dead.tmp"
    stale.write_text("{")
    os.utime(stale, (0, 0))
    conv_file(isolated, "00000000000b", [("and another", "yes")])
    index.refresh()
    assert not stale.exists()
    (d / "00000000000b.jsonl").unlink()

    # A torn or garbage index, or one for another directory, is rebuilt, never trusted.
    for damage in ('{"v":1,"dir":', "garbage", json.dumps({"v": 1, "dir": "/elsewhere", "entries": {}})):
        index.path.write_text(damage)
        assert len(index.refresh()) == 5 and index.read_files == 5
        assert json.loads(index.path.read_text())["v"] == replay.INDEX_VERSION


def test_index_with_concurrent_writers(isolated: Path) -> None:
    """Writers appending while the index refreshes: the final listing has every turn of every one."""
    from gptcli import replay, store

    store_dir(isolated)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for _ in range(4):
                w = store.create("default", {"model": f"m{n}"})
                for turn in range(5):
                    w.message("user", f"writer {n} turn {turn}")
                    w.message("assistant", "ok", cost=0.001)
                w.close()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def lister() -> None:
        while not stop.is_set():
            replay.listing(replay.Filters())

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    listers = [threading.Thread(target=lister) for _ in range(2)]
    for t in listers + threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    for t in listers:
        t.join()
    assert not errors
    found = replay.listing(replay.Filters())
    assert len(found.rows_json) == 32 and not found.problems
    assert all(row["turns"] == 5 and row["cost"] == pytest.approx(0.005) for row in found.rows())


def test_listing_imports_nothing_heavy(isolated: Path) -> None:
    conv_file(isolated, "abcdef000001", [("hi", "hello")])
    code = (
        "import sys, io, contextlib\n"
        "from gptcli import cli\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    assert cli.run(['replay', '--json']) == 0\n"
        "    assert cli.run(['replay', 'abcdef', '--format', 'text']) == 0\n"
        "heavy = [m for m in ('openai', 'tiktoken', 'rich', 'genai_prices') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().endswith("[]"), out.stdout + out.stderr


# --- show -------------------------------------------------------------------------------


def test_show_in_every_format(gptcli, isolated: Path, tmp_path: Path, utc: None) -> None:
    path = conv_file(
        isolated,
        "3f2a9c000001",
        [
            ("请解释一下什么是神经网络?", "神经网络是一种模型。\n\n- 层\n- 权重"),
            ("And in English?", "A model made of layers."),
        ],
        system="You are concise.",
        profile="translator",
        cost=0.0002,
    )
    before = sha(path)
    env = {"TZ": "UTC"}
    from gptcli import replay
    from gptcli.render import transcript

    conv = replay.load("3f2a")
    plain = (
        "conversation 3f2a9c000001 · 2025-03-01 12:00 · profile translator · model gpt-4o-mini · 2 turns · $0.0004\n"
        "\n[system]\nYou are concise.\n"
        "\n[user]\n请解释一下什么是神经网络?\n"
        "\n[assistant]\n神经网络是一种模型。\n\n- 层\n- 权重\n"
        "\n[user]\nAnd in English?\n"
        "\n[assistant]\nA model made of layers.\n"
    )
    assert transcript.to_text(conv).rstrip("\n") + "\n" == plain
    verbose = transcript.to_text(conv, verbose=True)
    assert "[assistant] gpt-4o-mini · 10 in / 5 out · $0.0002 · 1.25 s\n" in verbose
    assert "[assistant] gpt-4o-mini · 30 in / 6 out · $0.0002 · 1.25 s\n" in verbose
    _check_golden("replay_show_verbose.txt", verbose)

    md = transcript.to_markdown(conv, verbose=True)
    assert md.startswith("# Conversation 3f2a9c000001\n\n*2025-03-01 12:00 · profile translator")
    assert "### System\n\nYou are concise.\n" in md
    assert "### Assistant\n\n*gpt-4o-mini · 10 in / 5 out · $0.0002 · 1.25 s*\n\n神经网络是一种模型。" in md
    _check_golden("replay_show_verbose.md", md)

    data = json.loads(json.dumps(replay.to_json(conv)))
    assert data["id"] == "3f2a9c000001" and data["meta"]["profile"] == "translator"
    assert [m["role"] for m in data["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert data["messages"][2]["usage"]["completion_tokens"] == 5 and data["warnings"] == []
    assert data["summary"]["turns"] == 2

    line = transcript.to_openai(conv) + "\n"
    assert json.loads(line) == {
        "messages": [
            {"role": "system", "content": "You are concise."},
            {"role": "user", "content": "请解释一下什么是神经网络?"},
            {"role": "assistant", "content": "神经网络是一种模型。\n\n- 层\n- 权重"},
            {"role": "user", "content": "And in English?"},
            {"role": "assistant", "content": "A model made of layers."},
        ]
    }
    # The export reads back, by path, wherever an id works; and `ask -c` continues from it.
    exported = tmp_path / "exported.jsonl"
    exported.write_text(line, encoding="utf-8")
    assert transcript.to_openai(replay.load(str(exported))) + "\n" == line
    assert transcript.to_openai(replay.load(None, last=True)) + "\n" == line

    # One run of the command per format: what it prints is the rendering above.
    text = gptcli("replay", "3f2a", env=env)  # piped: plain text
    assert text.code == 0, text.stderr
    assert text.stdout == plain
    md_out = gptcli("replay", "3f2a", "--format", "markdown", "-v", env=env).stdout
    assert md_out == md.rstrip("\n") + "\n"
    assert "\x1b" not in md_out  # piped: the Markdown source, not rendered
    assert gptcli("replay", "3f2a", "--json").json() == data
    assert gptcli("replay", "3f2a", "--format", "json").json() == data
    out = gptcli("replay", str(exported), "--format", "openai")
    assert out.code == 0 and out.stdout == line and line.count("\n") == 1

    for args in (("--format", "yaml"), ("-m", "gpt-4o"), ("--since", "7d")):  # -m: an override without --rerun
        assert cli_run("replay", "3f2a", *args)[0] == 2, args
    assert sha(path) == before


# --- re-run -------------------------------------------------------------------------------


def test_rerun_sends_the_user_turns_with_the_new_history(server, gptcli, isolated: Path) -> None:
    path = conv_file(
        isolated,
        "5eed00000001",
        [("First question", "OLD answer one"), ("第二个问题", "OLD answer two"), ("Third", None)],
        system="You are terse.",
        profile="coder",
        model="gpt-4o-mini",
        settings={"temperature": 0.3, "seed": 7, "stop": ["END"]},
    )
    before = sha(path)
    r = gptcli("replay", "5eed", "--rerun", "-m", "gpt-4o", "--max-tokens", "50", "--json")
    assert r.code == 0, r.stderr
    reqs = server.chat_requests()
    assert len(reqs) == 3
    system = {"role": "system", "content": "You are terse."}
    u = [{"role": "user", "content": c} for c in ("First question", "第二个问题", "Third")]
    a = [{"role": "assistant", "content": f"echo: {c}"} for c in ("First question", "第二个问题")]
    # Turn by turn: the same user turns in order, the history built from the NEW answers.
    assert reqs[0]["messages"] == [system, u[0]]
    assert reqs[1]["messages"] == [system, u[0], a[0], u[1]]
    assert reqs[2]["messages"] == [system, u[0], a[0], u[1], a[1], u[2]]
    for body in reqs:
        # -m and --max-tokens override; the original's temperature, seed and stop are kept.
        assert body["model"] == "gpt-4o" and body["max_tokens"] == 50
        assert body["temperature"] == 0.3 and body["seed"] == 7 and body["stop"] == ["END"]

    data = r.json()
    assert data["replay_of"] == "5eed00000001" and data["complete"] is True and data["profile"] == "coder"
    assert [t["old"]["text"] for t in data["turns"]] == ["OLD answer one", "OLD answer two", None]
    assert [t["new"]["text"] for t in data["turns"]] == ["echo: First question", "echo: 第二个问题", "echo: Third"]
    assert data["turns"][0]["new"]["usage"]["prompt_tokens"] > 0

    # A new conversation pointing back; the original untouched.
    new = store_dir(isolated) / f"{data['conversation_id']}.jsonl"
    recs = read_jsonl(new)
    assert recs[0]["replay_of"] == "5eed00000001" and recs[0]["settings"]["model"] == "gpt-4o"
    assert [(m["role"], m["content"]) for m in recs if m["type"] == "message"] == [
        ("system", "You are terse."),
        ("user", "First question"),
        ("assistant", "echo: First question"),
        ("user", "第二个问题"),
        ("assistant", "echo: 第二个问题"),
        ("user", "Third"),
        ("assistant", "echo: Third"),
    ]
    assert sha(path) == before
    listed = gptcli("replay", "--json").json()
    assert listed[0]["replay_of"] == "5eed00000001"

    # Piped, without --diff or --json: the new transcript, as plain text; -p switches profile and system prompt.
    server.clear()
    r = gptcli("replay", "5eed", "--rerun", "-p", "translator", "--no-log")
    assert r.code == 0, r.stderr
    assert r.stdout.startswith("[user]\nFirst question\n\n[assistant]\necho: First question\n\n[user]\n第二个问题\n")
    first = server.chat_requests()[0]
    assert first["messages"][0]["role"] == "system" and first["messages"][0]["content"] != "You are terse."
    assert len(conversations(isolated)) == 2  # --no-log kept nothing

    # A failure on turn 2: its exit code and one line; the finished turn is printed and kept.
    server.enqueue(Reply())
    server.enqueue(Reply(status=401))
    r = gptcli("replay", "5eed", "--rerun", "--json")
    assert r.code == 4
    one_error_line(r.stderr)
    partial = r.json()
    assert partial["complete"] is False and len(partial["turns"]) == 1 and partial["error"]
    kept = read_jsonl(store_dir(isolated) / f"{partial['conversation_id']}.jsonl")
    assert [m["role"] for m in kept if m["type"] == "message"] == ["system", "user", "assistant", "user"]
    assert sha(path) == before


def test_rerun_budget_is_checked_before_anything_is_sent(server, gptcli, isolated: Path) -> None:
    priced_profile(isolated, extra="max_tokens = 100\n")
    path = conv_file(
        isolated, "b0d9e7000001", [("one " * 50, "a"), ("two " * 50, "b"), ("three " * 50, "c")], profile="priced"
    )
    before = sha(path)
    # The dry run and the two refusals send nothing: in-process; the run that sends is a real process.
    code, out, err = cli_run("replay", "b0d9", "--rerun", "--dry-run")
    assert code == 0, err
    est = json.loads(out)["estimate"]
    assert est["turns"] == 3 and est["exact"] is True and est["max_output_tokens"] == 100
    # Three replies of up to 100 tokens at $2/M, the prompts growing with each earlier reply at $1/M.
    assert est["cost_max"] == pytest.approx((est["prompt_tokens_max"] * 1.0 + 300 * 2.0) / 1e6)
    assert est["prompt_tokens_max"] == est["prompt_tokens_min"] + (0 + 1 + 2) * 100
    assert est["cost_min"] < est["cost_expected"] < est["cost_max"]
    assert server.requests == []

    code, _, err = cli_run("replay", "b0d9", "--rerun", "--max-cost", f"{est['cost_max'] * 0.9:.8f}")
    assert code == 7
    assert "re-run (3 turns) could cost up to" in one_error_line(err)
    code, _, err = cli_run(
        "replay", "b0d9", "--rerun", "--max-tokens", "1", "-p", "default", "-m", "my-local-model", "--max-cost", "1"
    )
    assert code == 7 and "price unknown" in one_error_line(err)
    assert server.requests == []  # the server saw nothing
    assert len(conversations(isolated)) == 1

    ok = gptcli("replay", "b0d9", "--rerun", "--max-cost", f"{est['cost_max'] + 1e-8:.8f}")
    assert ok.code == 0, ok.stderr
    assert len(server.chat_requests()) == 3
    assert sha(path) == before


def _masked(text: str) -> str:
    """The new replies' latency is the only thing that varies from run to run."""
    return re.sub(r"[+-]?\d+\.\d\d s(?: \([+-]\d+%\))?", "<latency>", text)


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"differs from {path} (UPDATE_GOLDEN=1 rewrites it)"


@pytest.mark.parametrize(("columns", "golden"), [("100", "replay_diff_unified.txt"), ("160", "replay_diff_side.txt")])
def test_diff_output_golden(server, gptcli, isolated: Path, columns: str, golden: str) -> None:
    priced_profile(isolated, extra="max_tokens = 200\n")
    path = conv_file(
        isolated,
        "d1ff00000001",
        [
            ("Explain 神经网络 in two lines", "A neural network is layers of weights.\nIt learns from data."),
            ("Give an example", "Image recognition."),
            ("Thanks!", "You're welcome."),
            (
                "One more: what is a tensor, in a very long sentence that will need wrapping in the side by side view?",
                "A tensor is a multi-dimensional array of numbers, the basic data structure of deep learning "
                "frameworks, generalising scalars, vectors and matrices to any number of dimensions.",
            ),
        ],
        system="You are terse.",
        profile="priced",
        cost=0.00002,
        latency=2.5,
    )
    before = sha(path)
    server.enqueue(Reply(text="A neural network is layers of weighted sums.\nIt learns from data.\n训练需要大量数据。"))
    server.enqueue(Reply(text="Image recognition."))
    server.enqueue(Reply(text="You're welcome."))
    server.enqueue(
        Reply(
            text="A tensor is an n-dimensional array: scalars, vectors and matrices generalised, "
            "the data structure every deep learning framework is built on."
        )
    )
    r = gptcli("replay", "d1ff", "--diff", "-m", "gpt-4o", env={"COLUMNS": columns})
    assert r.code == 0, r.stderr
    assert "\x1b" not in r.stdout  # piped: no colour
    if columns == "160":  # side by side fits the width; a unified diff keeps long lines whole, as diff -u does
        assert max(len(line) for line in r.stdout.splitlines()) <= int(columns)
    _check_golden(golden, _masked(r.stdout))
    assert sha(path) == before


# --- files and robustness ---------------------------------------------------------------------


def test_bad_files_and_bad_ids(server, gptcli, isolated: Path, tmp_path: Path) -> None:
    d = store_dir(isolated)
    recs = conv_records("7075000000aa", [("hello", "hi there"), ("again", "sure")])
    torn = write_records(d / "7075000000aa.jsonl", recs, tail='{"v":1,"type":"message","role":"user","con')
    odd = write_records(d / "0dd000000001.jsonl", [*recs[:3], {"v": 1, "type": "bookmark", "at": 2}, *recs[3:]])
    newer = write_records(d / "2e3000000001.jsonl", [{**recs[0], "v": 2}, *recs[1:]])
    conv_file(isolated, "abab00000001", [("x", "y")])
    conv_file(isolated, "abab00000002", [("x", "y")])
    hashes = {p: sha(p) for p in (torn, odd, newer)}

    # A torn last line: a warning, and the rest is shown (exit 0).
    r = gptcli("replay", "7075", "--format", "text")
    assert r.code == 0 and "[assistant]\nsure\n" in r.stdout
    assert r.stderr == "warning: 7075000000aa.jsonl: line 6 skipped (torn last line)\n"
    # An unknown record type: skipped with a warning (exit 0).
    r = gptcli("replay", "0dd0", "--format", "openai")
    assert r.code == 0 and len(json.loads(r.stdout)["messages"]) == 4
    assert r.stderr == "warning: 0dd000000001.jsonl: line 4 skipped (unknown record type 'bookmark')\n"
    # A file from a newer gptcli: exit 3, whatever is asked of it.
    # (The replay refusals run in-process: only the command line decides them.)
    for args in (("replay", "2e3"), ("replay", "2e3", "--rerun")):
        code, _, err = cli_run(*args)
        assert code == 3 and "newer gptcli" in one_error_line(err), args
    r = gptcli("ask", "--cid", "2e3000000001", "more")
    assert r.code == 3 and "newer gptcli" in one_error_line(r.stderr)
    # An ambiguous prefix (exit 2), an unknown id (exit 3), for replay and ask --cid alike.
    code, _, err = cli_run("replay", "abab")
    assert code == 2 and "ambiguous" in one_error_line(err)
    r = gptcli("ask", "--cid", "abab", "more")
    assert r.code == 2 and "ambiguous" in one_error_line(r.stderr)
    code, _, err = cli_run("replay", "ffff")
    assert code == 3 and "no conversation with id ffff" in one_error_line(err)
    r = gptcli("ask", "--cid", "ffff0000", "more")
    assert r.code == 3 and "no conversation with id ffff" in one_error_line(r.stderr)

    # Ids that are really paths outside the store: read at most, never written.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("password=hunter2\n")
    rel = os.path.relpath(outside / "secret.txt", Path.cwd())
    for ref, code in (
        (str(outside / "secret.txt"), 3),
        (rel, 3),
        ("../../../../etc/passwd", 3),
        ("abc/../../nothing.jsonl", 3),
        ("/dev/zero", 3),
        (str(outside), 3),
    ):
        got, _, err = cli_run("replay", ref)
        assert got == code, (ref, err)
        line = one_error_line(err)
        assert "hunter2" not in line
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]

    # A conversation file outside the store re-runs into the store; its folder gets nothing.
    ext = write_records(outside / "shared.jsonl", conv_records("0123", [("from a colleague", "old")]))
    ext_hash = sha(ext)
    r = gptcli("replay", str(ext), "--rerun", "--json")
    assert r.code == 0, r.stderr
    new = read_jsonl(d / f"{r.json()['conversation_id']}.jsonl")
    assert new[0]["replay_of"] == "0123" and new[0]["replay_source"] == str(ext.resolve())
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt", "shared.jsonl"]
    assert sha(ext) == ext_hash

    # Continuing with ask --cid works from a file too (the same loading code), into a new stored conversation.
    # (These files say they ran on OpenAI's server: moving them to the test server needs --to-server.)
    r = gptcli("ask", "--cid", str(ext), "--to-server", "a follow-up")
    assert r.code == 0, r.stderr
    assert server.chat_requests()[-1]["messages"][-3:] == [
        {"role": "user", "content": "from a colleague"},
        {"role": "assistant", "content": "old"},
        {"role": "user", "content": "a follow-up"},
    ]
    # A torn file continued: warned, then carried on.
    r = gptcli("ask", "--cid", "7075000000aa", "--to-server", "third")
    assert r.code == 0 and "torn last line" in r.stderr

    # Listing still works and says which file it skipped; re-runs and listings changed no file.
    r = gptcli("replay", "--json")
    assert r.code == 0 and "2e3000000001.jsonl" in r.stderr
    assert {row["id"] for row in r.json()} >= {"0dd000000001", "abab00000001"}
    assert sha(odd) == hashes[odd] and sha(newer) == hashes[newer]


def test_index_entry_round_trips_and_rejects_stale_or_foreign_lists() -> None:
    from gptcli.replay import IndexEntry

    ok = IndexEntry(3, 4, 5, "ok", "2025-03-01T12:00:00.000Z", "default", ["gpt-4o"], '{"id": "x"}')
    error = IndexEntry(3, 4, 5, "error", error="unreadable")
    pending = IndexEntry(3, 4, 5, "pending")
    for entry in (ok, error, pending):
        assert IndexEntry.from_json(json.loads(json.dumps(entry.to_json())), 3, 4, 5) == entry
    assert ok.to_json() == [3, 4, 5, "ok", "2025-03-01T12:00:00.000Z", "default", ["gpt-4o"], '{"id": "x"}']
    assert error.to_json() == [3, 4, 5, "error", "unreadable"] and pending.to_json() == [3, 4, 5, "pending"]
    assert ok.row() == {"id": "x"} and error.row() is None
    assert IndexEntry.from_json(ok.to_json(), 3, 4, 6) is None  # another inode: the file changed
    for bad in (None, {}, [3, 4, 5], [3, 4, 5, "ok", 1, None, [], ""], [3, 4, 5, "error"], [3, 4, 5, "what"]):
        assert IndexEntry.from_json(bad, 3, 4, 5) is None, bad


def test_renderers_import_no_use_case() -> None:
    code = (
        "import sys\n"
        "import gptcli.render, gptcli.render.diff, gptcli.render.transcript\n"
        "use_cases = ('replay', 'batch', 'chat', 'conversation', 'cli')\n"
        "print([m for m in sys.modules if m.split('.')[:2] in [['gptcli', u] for u in use_cases]])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
