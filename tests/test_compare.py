"""Comparing models: `ask -m A -m B` (fan-out) and `replay --rerun` with several targets (issue 22)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import conversations, read_jsonl, write_profile
from fakeserver import Reply

MODELS = ("gpt-4o", "gpt-4.1-mini", "o4-mini")


def _models_asked(server) -> list[str]:
    return sorted(r["model"] for r in server.chat_requests())


def test_three_models_in_parallel_piped(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "--no-log", "warm up: the imports and encodings are loaded once").code == 0
    server.reset()
    server.default = Reply(delay=2.0)
    start = time.monotonic()
    r = gptcli("ask", "-m", MODELS[0], "-m", MODELS[1], "-m", MODELS[2], "Explain CRDTs")
    wall = time.monotonic() - start
    assert r.code == 0, r.stderr
    # Each reply waits 2 s: one after another would take 6 s and more. Every request
    # arrived before the first could have been answered (a load-proof sign of parallel).
    arrived = [q.received_at for q in server.requests if q.path.endswith("/chat/completions")]
    assert len(arrived) == 3 and max(arrived) - min(arrived) < 2.0, arrived
    assert wall < 4.5, wall
    assert _models_asked(server) == sorted(MODELS)
    # Piped: one block per model, in the order given.
    assert r.stdout == "".join(f"--- {m} ---\necho: Explain CRDTs\n" for m in MODELS)
    files = conversations(isolated)
    assert len(files) == 3
    metas = [read_jsonl(p)[0] for p in files]
    ids = {m["comparison"] for m in metas}
    assert len(ids) == 1 and ids != {None}
    assert sorted(m["settings"]["model"] for m in metas) == sorted(MODELS)


def test_json_list_and_replay_lists_the_comparison(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "an unrelated question").code == 0
    r = gptcli("ask", "--json", "-m", "gpt-4o", "-m", "gpt-4.1-mini", "hi")
    assert r.code == 0, r.stderr
    got = json.loads(r.stdout)
    assert [o["model"] for o in got] == ["gpt-4o", "gpt-4.1-mini"]
    assert all(o["text"] == "echo: hi" and o["usage"]["completion_tokens"] == 2 for o in got)
    comparison = got[0]["comparison"]
    assert got[1]["comparison"] == comparison
    listed = gptcli("replay", "--comparison", comparison, "--json")
    assert listed.code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(row["id"] for row in rows) == sorted(o["conversation_id"] for o in got)
    assert {row["comparison"] for row in rows} == {comparison}
    assert len(json.loads(gptcli("replay", "--json").stdout)) == 3


def test_several_profiles_and_a_failing_target(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "terse", 'model = "gpt-4o"\nsystem = "Be terse."\n')
    write_profile(isolated, "broken", 'model = "no-such-model"\n')
    server.known_models = ["gpt-4o"]
    r = gptcli("ask", "-p", "terse", "-p", "broken", "--json", "hello")
    assert r.code != 0, r.stderr
    got = json.loads(r.stdout)
    assert got[0]["profile"] == "terse" and got[0]["text"] == "echo: hello"
    assert got[1]["profile"] == "broken" and got[1]["error"] and got[1]["exit_code"] == r.code
    assert "broken" in r.stderr
    systems = [m["content"] for req in server.chat_requests() for m in req["messages"] if m["role"] == "system"]
    assert systems == ["Be terse."]


def test_model_names_in_headings_are_sanitised(server, gptcli) -> None:
    r = gptcli("ask", "-m", "gpt-4o", "-m", "evil\x1b]52;c;aGk=\x07\nmodel", "hi")
    assert r.code == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert r.stdout.splitlines()[2] == "--- evil^[]52;c;aGk=^G model ---"


def test_fan_out_refuses_what_names_one_conversation(server, gptcli) -> None:
    r = gptcli("ask", "-m", "gpt-4o", "-m", "gpt-4.1-mini", "-c", "again")
    assert r.code == 2 and "-c/--cid" in r.stderr
    r = gptcli("ask", "-m", "gpt-4o", "-m", "gpt-4o", "hi")
    assert r.code == 2 and "twice" in r.stderr
    r = gptcli("ask", "--side-by-side", "hi")
    assert r.code == 2
    r = gptcli("ask", "-p", "a", "-p", "b", "-m", "x", "-m", "y", "hi")
    assert r.code == 2 and "not both" in r.stderr
    assert server.chat_requests() == []


def test_dry_run_lists_each_request(server, gptcli) -> None:
    r = gptcli("ask", "--dry-run", "-m", "gpt-4o", "-m", "gpt-4.1-mini", "hi")
    assert r.code == 0, r.stderr
    assert [d["body"]["model"] for d in json.loads(r.stdout)] == ["gpt-4o", "gpt-4.1-mini"]
    assert server.chat_requests() == []


def test_rerun_with_two_targets(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "first question").code == 0
    assert gptcli("ask", "-c", "second question").code == 0
    cid = conversations(isolated)[0].stem
    server.reset()
    server.enqueue(Reply(text="a different answer"))
    r = gptcli("replay", cid, "--rerun", "-m", "gpt-4.1", "-m", "o4-mini", "--no-log")
    assert r.code == 0, r.stderr
    assert _models_asked(server) == ["gpt-4.1", "gpt-4.1", "o4-mini", "o4-mini"]
    out = r.stdout
    assert out.count("══ gpt-4.1 ") == 1 and out.count("══ o4-mini ") == 1
    assert "a different answer" in out
    summary = out.split("── summary")[1].splitlines()
    rows = {line.split()[0]: line for line in summary if line.strip()}
    assert "original" in rows and "gpt-4.1" in rows and "o4-mini" in rows
    # The targets run in the order given: gpt-4.1's first turn got the different answer.
    assert rows["gpt-4.1"].split()[1:7] == ["2", "of", "2", "1", "of", "2"]
    assert rows["o4-mini"].split()[1:7] == ["2", "of", "2", "2", "of", "2"]

    j = gptcli("replay", cid, "--rerun", "-m", "gpt-4.1", "-m", "o4-mini", "--no-log", "--json")
    assert j.code == 0, j.stderr
    got = json.loads(j.stdout)
    assert [g["model"] for g in got] == ["gpt-4.1", "o4-mini"] and all(g["complete"] for g in got)


def test_interrupt_prints_what_arrived(server) -> None:
    import signal

    from conftest import spawn

    server.enqueue(Reply(hang=True))  # whichever request comes first never gets its answer
    proc = spawn("ask", "-m", "gpt-4o", "-m", "gpt-4.1-mini", "hello")
    deadline = time.monotonic() + 30
    while len(server.chat_requests()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the other answer arrives
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert out.decode().count("echo: hello") == 1  # the answer that came, even one held back for order
    assert b"1 of 2 answers arrived" in err


def test_a_comparison_replays_from_a_cassette(server, gptcli, tmp_path: Path) -> None:
    tape = str(tmp_path / "tape.jsonl")
    args = ("ask", "--no-log", "-m", "gpt-4o", "-m", "gpt-4.1-mini", "-m", "o4-mini", "Explain CRDTs")
    first = gptcli(*args, env={"GPTCLI_CASSETTE": tape})
    assert first.code == 0, first.stderr
    server.reset()
    again = gptcli(*args, env={"GPTCLI_CASSETTE": tape, "GPTCLI_CASSETTE_MODE": "replay"})
    assert again.code == 0, again.stderr
    assert again.stdout == first.stdout  # the order given, whatever order the answers came in
    assert server.chat_requests() == []


def test_on_a_terminal_headings_table_and_side_by_side(server) -> None:
    from pty_screen import Pty, screen_lines

    t = Pty("ask", "-m", "gpt-4o", "-m", "gpt-4.1-mini", "**hello** there")
    assert t.finish() == 0
    lines = screen_lines(t.output())
    headings = [line for line in lines if line.startswith(("gpt-4o ──", "gpt-4.1-mini ──"))]
    assert len(headings) == 2
    assert sum(line.strip() == "echo: hello there" for line in lines) == 2  # Markdown rendered
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["model", "latency"])
    rows = {line.split()[0]: line.split() for line in lines[header + 1 : header + 3]}
    assert set(rows) == {"gpt-4o", "gpt-4.1-mini"} and all(r[-1] == "stop" for r in rows.values())

    t = Pty("ask", "-m", "gpt-4o", "-m", "gpt-4.1-mini", "--side-by-side", "hello")
    assert t.finish() == 0
    lines = screen_lines(t.output())
    both = [line for line in lines if line.count("echo: hello") == 2]  # the two answers on one line
    assert len(both) == 1, lines

    t = Pty("ask", "-m", "a", "-m", "b", "-m", "c", "-m", "d", "--side-by-side", "hello")
    assert t.finish() == 0
    out = t.output()
    assert "too narrow for 4 answers side by side" in out and out.count("echo: hello") == 4


def test_max_cost_applies_to_each_target(server, gptcli) -> None:
    # gpt-4o costs ~16x gpt-4.1-mini: a cap between the two refuses only gpt-4o.
    prompt = "word " * 2000
    mini = gptcli("ask", "--dry-run", "-m", "gpt-4.1-mini", "--max-tokens", "10", prompt)
    cap = json.loads(mini.stdout)["estimate"]["cost_max"] * 2
    r = gptcli("ask", "-m", "gpt-4o", "-m", "gpt-4.1-mini", "--max-tokens", "10", "--max-cost", str(cap), prompt)
    assert r.code == 7, r.stderr
    assert [b["model"] for b in server.chat_requests()] == ["gpt-4.1-mini"]
    assert r.stdout.startswith("--- gpt-4.1-mini ---\necho: word")
    assert "gpt-4o" in r.stderr and "--max-cost" in r.stderr
