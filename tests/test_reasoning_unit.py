"""reasoning.py in-process: the thinking told apart from the answer, in any split of the stream."""

from __future__ import annotations

import io
import itertools
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gptcli import reasoning
from gptcli.backends.memory import MemoryBackend, Reply
from gptcli.conversation import Session
from gptcli.models import Completion, Delta, Profile, Usage
from gptcli.render import thinking

TAGS = reasoning.DEFAULT_TAGS


def stream(pieces: list[str], tags: tuple[str, str] | None = TAGS) -> tuple[str, str, bool]:
    s = reasoning.Splitter(tags)
    answer, thought = [], []
    for p in pieces:
        a, t = s.feed(p)
        answer.append(a)
        thought.append(t)
    a, t = s.finish()
    return "".join(answer) + a, "".join(thought) + t, s.in_reasoning


def cuts(text: str, points: list[int]) -> list[str]:
    bounds = sorted({0, len(text), *(p % (len(text) + 1) for p in points)})
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def test_whole_text_cases() -> None:
    assert reasoning.split("<think>\nhmm\n</think>\n\nThe answer.") == ("The answer.", "\nhmm\n", False)
    assert reasoning.split("  <think>a</think>b") == ("b", "a", False)
    assert reasoning.split("no thinking here") == ("no thinking here", "", False)
    assert reasoning.split("Text then <think>x</think>") == ("Text then <think>x</think>", "", False)  # not at start
    assert reasoning.split("<think>cut off mid-thou") == ("", "cut off mid-thou", True)
    assert reasoning.split("<thi") == ("<thi", "", False)  # a partial tag that never completed is answer
    assert reasoning.split("<think>a</think>b", None) == ("<think>a</think>b", "", False)  # parsing off
    assert reasoning.split("<reason>a</reason>b", ("<reason>", "</reason>")) == ("b", "a", False)


def test_tags_split_across_deltas() -> None:
    assert stream(["<th", "ink>thought</th", "ink>", "\n\nanswer"]) == ("answer", "thought", False)
    assert stream(["<", "t", "h", "i", "n", "k", ">", "x", "<", "/", "think>", "y"]) == ("y", "x", False)
    assert stream(["<think>a < b </thinking", "</think>ok"]) == ("ok", "a < b </thinking", False)


_ALPHABET = st.sampled_from(["<think>", "</think>", "<", "/", "t", "h", "i", "n", "k", ">", " ", "\n", "a", "é"])


@settings(deadline=None)  # a loaded machine must not fail a property
@given(st.lists(_ALPHABET, max_size=30).map("".join), st.lists(st.integers(0, 400), max_size=12))
def test_any_split_separates_like_the_whole_text(text: str, points: list[int]) -> None:
    assert stream(cuts(text, points)) == reasoning.split(text)


@settings(deadline=None)
@given(st.text(max_size=40), st.text(max_size=40), st.lists(st.integers(0, 400), max_size=12))
def test_a_think_block_is_always_found(thought: str, answer: str, points: list[int]) -> None:
    if "</think>" in thought:
        return
    text = f"<think>{thought}</think>{answer}"
    got_answer, got_thought, still = stream(cuts(text, points))
    assert (got_answer, got_thought, still) == (answer.lstrip(), thought, False)


def test_separate_joins_field_and_tags_and_reports_a_cut() -> None:
    c = Completion(("<think>tags</think>answer",), ("stop",), "m", reasonings=("field ",))
    out = reasoning.separate(c)
    assert (out.text, out.reasoning, out.in_reasoning) == ("answer", "field tags", False)
    cut = reasoning.separate(Completion(("<think>still going",), ("length",), "m"))
    assert (cut.text, cut.reasoning, cut.in_reasoning) == ("", "still going", True)
    field_only = reasoning.separate(Completion(("",), ("length",), "m", reasonings=("thinking",)))
    assert field_only.in_reasoning
    plain = reasoning.separate(Completion(("hi",), ("stop",), "m"))
    assert (plain.reasoning, plain.reasonings, plain.in_reasoning) == (None, (), False)


def test_reasoning_tokens_counted_only_when_not_reported() -> None:
    c = Completion(("a",), ("stop",), "m", Usage(1, 10, 11), reasonings=("one two three",))
    counted = reasoning.with_reasoning_tokens(c, lambda t: len(t.split()))
    assert counted.usage == Usage(1, 10, 11, reasoning_tokens=3, reasoning_estimated=True)
    reported = Completion(("a",), ("stop",), "m", Usage(1, 10, 11, reasoning_tokens=7), reasonings=("x",))
    assert reasoning.with_reasoning_tokens(reported, len).usage == reported.usage
    assert thinking.usage_text(counted.usage) == "1 in / 10 out (~3 reasoning, estimated)"
    assert thinking.usage_text(reported.usage) == "1 in / 10 out (7 reasoning)"


def test_reasoning_on_a_terminal_carries_no_control_sequences() -> None:
    assert thinking.printable("a\x1b[31mred\x07\tb\nc\r") == "a[31mred\tb\nc"
    assert "\x1b" not in thinking.folded("x\x1b]0;title\x07 " * 50)


# --- the conversation, in-process (backends/memory.py) --------------------------------------


def _drive(gen: Any) -> tuple[list[Any], Any]:
    events: list[Any] = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


@pytest.mark.parametrize("stream", [True, False])
def test_session_separates_and_keeps_only_the_answer(monkeypatch: pytest.MonkeyPatch, stream: bool) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit-test-key")
    mem = MemoryBackend(
        Reply(chunks=("<thi", "nk>tags</th", "ink>\n", "Ans", "wer"), reasoning="field ", usage=Usage(3, 9, 12)),
        Reply("Second."),
    )
    session = Session.start(Profile(model="qwen3"), log=False, backend=mem)
    events, turn = _drive(session.turn("q", stream=stream))
    deltas = [e for e in events if isinstance(e, Delta)]
    if stream:
        assert "".join(d.text for d in deltas) == "Answer"
        assert "".join(d.reasoning for d in deltas) == "field tags"
        assert deltas[0].text == "" and deltas[-1].reasoning == ""  # thinking first, then the answer
    assert (turn.completion.text, turn.completion.reasoning) == ("Answer", "field tags")
    assert turn.completion.usage is not None and turn.completion.usage.reasoning_estimated
    _drive(session.turn("next", stream=stream))
    assert [m["content"] for m in mem.requests[1]["messages"]] == ["q", "Answer", "next"]


def test_spinner_erases_its_line_when_stopped() -> None:
    out = io.StringIO()
    spinner = thinking.Spinner(out, enabled=True)
    spinner.start()
    while "waiting" not in out.getvalue():  # the first frame is drawn at once
        threading.Event().wait(0.01)
    spinner.thinking()
    with spinner.paused():
        out.write("a status line\n")
    while "thinking" not in out.getvalue():  # redrawn on the next tick, with the new label
        threading.Event().wait(0.01)
    spinner.stop()
    text = out.getvalue()
    assert text.endswith("\r\x1b[2K")
    assert "\r\x1b[2Ka status line\n" in text  # never glued to a frame
    spinner.stop()  # twice is harmless
    assert thinking.Spinner(io.StringIO()).enabled is False  # not a terminal: no spinner
