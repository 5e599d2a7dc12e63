"""Reasoning models end to end against the loopback server: every shape, streamed and not.

The thinking arrives in ``reasoning_content``, in ``reasoning``, or between ``<think>``
tags at the start of the content (split anywhere across deltas). stdout gets exactly
the answer; ``--json``, the log and ``replay -v`` keep the thinking; the next request
never carries it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from conftest import SRC, conversations, read_jsonl, write_profile
from fakeserver import Reply

ANSWER = "The answer is 42."
THOUGHT = "Let me think. Six times seven."

SHAPES = {
    "tags": lambda: Reply(text=f"<think>\n{THOUGHT}\n</think>\n\n{ANSWER}"),
    "tags-split": lambda: Reply(
        pieces=["<th", "ink>\nLet me th", "ink. Six times seven.\n</thi", "nk>", "\n\n", "The answer", " is 42."]
    ),
    "reasoning_content": lambda: Reply(text=ANSWER, reasoning=THOUGHT),
    "reasoning": lambda: Reply(text=ANSWER, reasoning=THOUGHT, reasoning_field="reasoning"),
}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_stdout_is_the_answer_and_json_holds_the_thinking(server: Any, gptcli: Any, shape: str, stream: bool) -> None:
    flags = [] if stream else ["--no-stream"]
    server.enqueue(SHAPES[shape]())
    r = gptcli("ask", *flags, "what is six times seven?")
    assert r.code == 0, r.stderr
    assert r.stdout == ANSWER + "\n"
    assert "think" not in r.stderr.lower()  # not shown unless asked for

    server.enqueue(SHAPES[shape]())
    j = gptcli("ask", "--json", *flags, "again")
    assert j.code == 0, j.stderr
    out = j.json()
    assert out["text"] == ANSWER
    assert out["reasoning"] == THOUGHT
    assert out["in_reasoning"] is False
    # Not reported by the server (llama.cpp, Ollama): counted from the text and marked so.
    assert out["usage"]["reasoning_tokens"] > 0
    assert out["usage"]["reasoning_estimated"] is True

    # The next turn of the conversation carries the answer only.
    r2 = gptcli("ask", "-c", *flags, "and seven times six?")
    assert r2.code == 0, r2.stderr
    history = server.chat_requests()[-1]["messages"]
    assistant = [m for m in history if m["role"] == "assistant"]
    assert assistant == [{"role": "assistant", "content": ANSWER}]
    assert "think" not in json.dumps(history).lower() and "Six times" not in json.dumps(history)


def test_no_reasoning_gives_null(server: Any, gptcli: Any) -> None:
    out = gptcli("ask", "--json", "hi").json()
    assert out["reasoning"] is None
    assert out["usage"]["reasoning_tokens"] == 0 and out["usage"]["reasoning_estimated"] is False


def test_reported_reasoning_tokens_are_kept_and_shown(server: Any, gptcli: Any) -> None:
    usage = {"completion_tokens_details": {"reasoning_tokens": 321}}
    server.enqueue(Reply(text=ANSWER, reasoning=THOUGHT, usage=usage))
    r = gptcli("ask", "-v", "--json", "q")
    out = r.json()
    assert out["usage"]["reasoning_tokens"] == 321 and out["usage"]["reasoning_estimated"] is False
    server.enqueue(Reply(text=ANSWER, reasoning=THOUGHT, usage=usage))
    r = gptcli("ask", "-v", "q")
    assert "(321 reasoning)" in r.stderr


def test_log_keeps_reasoning_in_its_own_field_and_replay_shows_it(server: Any, gptcli: Any, isolated: Path) -> None:
    server.enqueue(SHAPES["tags"]())
    assert gptcli("ask", "q").code == 0
    (path,) = conversations(isolated)
    (reply,) = [r for r in read_jsonl(path) if r.get("role") == "assistant"]
    assert reply["content"] == ANSWER
    assert reply["reasoning"] == THOUGHT
    shown = gptcli("replay", "--last", "-v")
    assert shown.code == 0, shown.stderr
    assert THOUGHT in shown.stdout and ANSWER in shown.stdout
    plain = gptcli("replay", "--last")
    assert THOUGHT not in plain.stdout


def test_parsing_tags_can_be_turned_off_and_renamed(server: Any, gptcli: Any, isolated: Path) -> None:
    write_profile(isolated, "raw", "parse_reasoning_tags = false\n")
    server.enqueue(SHAPES["tags"]())
    r = gptcli("ask", "-p", "raw", "q")
    assert r.stdout.startswith("<think>")
    write_profile(isolated, "custom", 'reasoning_tags = ["<reason>", "</reason>"]\n')
    server.enqueue(Reply(text=f"<reason>{THOUGHT}</reason>{ANSWER}"))
    r = gptcli("ask", "-p", "custom", "--json", "q")
    assert (r.json()["text"], r.json()["reasoning"]) == (ANSWER, THOUGHT)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_cut_off_inside_the_reasoning_is_reported(server: Any, gptcli: Any, stream: bool) -> None:
    flags = [] if stream else ["--no-stream"]
    server.enqueue(Reply(text="<think>I need to consider many things first", finish_reason="length"))
    r = gptcli("ask", "--json", *flags, "q")
    assert r.code == 0, r.stderr
    out = r.json()
    assert out["text"] == "" and out["in_reasoning"] is True
    assert out["reasoning"] == "I need to consider many things first"
    assert "still reasoning" in r.stderr
    server.enqueue(Reply(text="", reasoning="thinking and thinking", finish_reason="length"))
    r = gptcli("ask", *flags, "q")
    assert r.stdout == "\n"
    assert "cut off while the model was still reasoning" in r.stderr


def test_a_stream_broken_inside_the_reasoning_says_so(server: Any, gptcli: Any, isolated: Path) -> None:
    server.enqueue(Reply(text=ANSWER, reasoning="one two three four five six", drop_after=2))
    r = gptcli("ask", "q")
    assert r.code != 0
    assert r.stdout == ""
    assert "still reasoning" in r.stderr
    (path,) = conversations(isolated)
    records = read_jsonl(path)
    assert not [x for x in records if x.get("role") == "assistant"]  # no empty reply in the history
    (note,) = [x for x in records if x.get("kind") == "error"]
    assert note["reasoning"].startswith("one two") and note["in_reasoning"] is True
    # The next turn carries no empty reply and no thinking; the failed question is history, not context (#14).
    assert gptcli("ask", "-c", "again").code == 0
    sent = server.chat_requests()[-1]["messages"]
    assert sent == [{"role": "user", "content": "again"}]


def test_schema_is_checked_on_the_answer_only(server: Any, gptcli: Any, tmp_path: Path) -> None:
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}))
    server.enqueue(Reply(text='<think>A name... {not json} maybe "Ann"</think>\n{"name": "Ann"}'))
    r = gptcli("ask", "--schema", str(schema), "invent a person")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout) == {"name": "Ann"}
    server.enqueue(Reply(text='<think>{"x": 1}</think>{"name": "Bo"}'))
    r = gptcli("ask", "--json-object", "--json", "a person as JSON")
    assert r.code == 0, r.stderr
    assert json.loads(r.json()["text"]) == {"name": "Bo"}


def test_show_reasoning_goes_to_stderr_only(server: Any, gptcli: Any) -> None:
    for flags in (["--show-reasoning"], ["--show-reasoning", "--no-stream"]):
        server.enqueue(SHAPES["reasoning_content"]())
        r = gptcli("ask", *flags, "q")
        assert r.stdout == ANSWER + "\n"
        assert THOUGHT in r.stderr
        assert "\x1b" not in r.stderr  # not a terminal: no dimming


def test_effort_flag_is_sent_and_adapted(server: Any, gptcli: Any) -> None:
    assert gptcli("ask", "--effort", "high", "-m", "o3", "q").code == 0
    assert server.chat_requests()[-1]["reasoning_effort"] == "high"
    r = gptcli("ask", "-v", "--effort", "minimal", "-m", "o3", "q")  # o3 takes low, medium, high
    assert r.code == 0
    assert "reasoning_effort" not in server.chat_requests()[-1]
    assert "reasoning_effort='minimal' dropped" in r.stderr
    r = gptcli("ask", "--effort", "extreme", "q")
    assert r.code == 2 and "--effort: must be one of" in r.stderr


def test_chat_keeps_the_last_reasoning_for_slash_reasoning(server: Any, gptcli: Any) -> None:
    server.enqueue(SHAPES["tags-split"]())
    server.enqueue(Reply(text="second"))
    r = gptcli("chat", "-v", "-m", "qwen3", input="first\n/reasoning\n/set reasoning_effort low\nnext\n")
    assert r.code == 0, r.stderr
    assert r.stdout == f"{ANSWER}\nsecond\n"
    assert THOUGHT in r.stderr  # /reasoning (command output goes to stderr without a terminal)
    assert "thought: Let me think" in r.stderr  # folded, after the reply
    first, second = server.chat_requests()
    assert "reasoning_effort" not in first and second["reasoning_effort"] == "low"
    assert [m["content"] for m in second["messages"] if m["role"] == "assistant"] == [ANSWER]


def test_replay_rerun_takes_effort_and_sends_no_reasoning(server: Any, gptcli: Any) -> None:
    server.enqueue(SHAPES["reasoning_content"]())
    cid = gptcli("ask", "--json", "q").json()["conversation_id"]
    r = gptcli("replay", cid, "--rerun", "-m", "gpt-oss-20b", "--effort", "medium", "--no-log")
    assert r.code == 0, r.stderr
    body = server.chat_requests()[-1]
    assert body["reasoning_effort"] == "medium"
    assert "Six times" not in json.dumps(body)


def test_batch_records_keep_the_reasoning(server: Any, gptcli: Any, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("one\n")
    out = tmp_path / "out.jsonl"
    server.enqueue(SHAPES["reasoning"]())
    r = gptcli("batch", str(src), "-o", str(out), "-m", "o3", "--effort", "low")
    assert r.code == 0, r.stderr
    (rec,) = read_jsonl(out)
    assert (rec["text"], rec["reasoning"]) == (ANSWER, THOUGHT)
    assert server.chat_requests()[0]["reasoning_effort"] == "low"


# --- the terminal: a sign of life while the model thinks ---------------------------------------


def _spawn_ask(*args: str) -> pexpect.spawn:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONSAFEPATH", None)
    env.update(TERM="xterm", COLUMNS="100", LINES="30")
    return pexpect.spawn(
        sys.executable,
        ["-m", "gptcli", "ask", "--raw", *args],
        env=env,
        dimensions=(30, 100),
        encoding="utf-8",
        timeout=30,
    )


def test_spinner_shows_while_waiting_and_is_gone_before_the_answer(server: Any) -> None:
    # The spinner draws a frame every 0.1 s: 0.5 s of waiting and 0.15 s between thinking
    # chunks leave it several frames of each (it was 1.2 s and 0.3 s: 2.5 s more per run).
    server.enqueue(Reply(text=ANSWER, reasoning="hmm " * 5, chunk_delay=0.15, delay=0.5))
    child = _spawn_ask("q")
    child.expect(r"waiting \d+ s")
    child.expect(r"thinking \d+ s")
    child.expect(re.escape(ANSWER))
    before = child.before
    child.expect(pexpect.EOF)
    rest = child.before
    child.close()
    assert child.exitstatus == 0
    # The last thing the spinner wrote before the answer is the erasing of its line.
    last_frame = before.rfind("thinking")
    assert last_frame >= 0
    assert before.rfind("\r\x1b[2K") > last_frame
    assert before[before.rfind("\r\x1b[2K") + len("\r\x1b[2K") :].strip() == ""
    assert "thinking" not in rest and "waiting" not in rest


def test_show_reasoning_replaces_the_spinner(server: Any) -> None:
    server.enqueue(Reply(text=ANSWER, reasoning=THOUGHT, chunk_delay=0.05))
    child = _spawn_ask("--show-reasoning", "q")
    child.expect(re.escape(ANSWER))
    before = child.before
    child.expect(pexpect.EOF)
    child.close()
    assert "\x1b[2m" + "Let me" in before  # dimmed, above the answer
    assert "thinking" not in before.replace(THOUGHT, "")


def test_chat_on_a_terminal_spins_then_folds_and_unfolds_the_thinking(server: Any) -> None:
    from test_chat import Term

    server.enqueue(Reply(text=ANSWER, reasoning=THOUGHT, chunk_delay=0.15, delay=0.5))  # frames every 0.1 s
    t = Term("--raw")
    t.prompt()
    t.send("what is six times seven?\r")
    t.expect(r"waiting \d+ s")
    t.expect(r"thinking \d+ s")
    t.expect(re.escape(ANSWER))
    before = t.output()
    assert before.rfind("\r\x1b[2K") > before.rfind("thinking")  # the spinner erased its line first
    t.expect(re.escape("/reasoning shows it all"))  # folded, after the reply
    t.prompt()
    t.send("/reasoning\r")
    t.expect(re.escape(THOUGHT))
    t.prompt()
    t.send("/exit\r")
    assert t.finish() == 0


def test_the_budget_check_counts_the_thinking_as_output(server: Any, gptcli: Any, isolated: Path) -> None:
    write_profile(isolated, "priced", 'model = "o3"\n[price]\ninput = 2.0\noutput = 8.0\n')
    r = gptcli("ask", "-p", "priced", "--max-tokens", "1000", "--max-cost", "0.000001", "hi")
    assert r.code == 7
    assert "1,000 output tokens (thinking included)" in r.stderr
    assert server.chat_requests() == []
