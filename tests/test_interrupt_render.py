"""Ctrl-C in the middle of a live Markdown reply (issue 23, item 2), on a real pseudo-terminal.

The reply is one long paragraph, so the live region spans several full-width lines
when Ctrl-C lands. What the user sees afterwards (replayed in a terminal emulator)
must hold every line of the reply once: an echoed ``^C`` used to push the cursor onto
a new line, the live region's redraw stopped one line short, and the first line stayed
on the screen above the reply printed again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from conftest import conversations
from fakeserver import Reply
from pty_screen import Pty, screen_lines

PARAGRAPH = " ".join(f"w{i}" for i in range(3000))  # one paragraph: it wraps across many lines


def reply_lines(raw: str) -> list[str]:
    return [line for line in screen_lines(raw) if line.startswith("w") and line[1].isdigit()]


def assert_each_line_once(raw: str) -> None:
    lines = reply_lines(raw)
    assert len(lines) >= 3, lines  # the reply had wrapped past one line
    twice = [line for line, n in Counter(lines).items() if n > 1]
    assert not twice, twice
    assert lines[0].startswith("w0 w1 w2")
    assert "^C" not in raw  # the terminal did not echo it into the drawing


def test_ask_ctrl_c_prints_each_line_once(server, isolated: Path) -> None:
    server.enqueue(Reply(text=PARAGRAPH, chunk_delay=0.01))
    t = Pty("ask", "a long paragraph please")
    t.expect("w150 ")  # several lines drawn live
    t.send("\x03")
    t.expect("interrupted")
    assert t.finish() == 130
    out = t.output()
    assert_each_line_once(out)
    assert "the partial reply was kept" in out
    assert len(conversations(isolated)) == 1


def test_ask_no_log_does_not_claim_the_reply_was_kept(server, isolated: Path) -> None:
    server.enqueue(Reply(text=PARAGRAPH, chunk_delay=0.01))
    t = Pty("ask", "--no-log", "a long paragraph please")
    t.expect("w150 ")
    t.send("\x03")
    t.expect("interrupted")
    assert t.finish() == 130
    out = t.output()
    assert_each_line_once(out)
    assert "was kept" not in out and "not saved (--no-log)" in out
    assert conversations(isolated) == []


def test_chat_ctrl_c_prints_each_line_once_and_no_log_says_not_saved(server, isolated: Path) -> None:
    server.enqueue(Reply(text=PARAGRAPH, chunk_delay=0.01))
    t = Pty("chat", "--no-log")
    t.prompt()
    t.send("a long paragraph please\r")
    t.expect("w150 ")
    t.send("\x03")
    t.expect("interrupted: the partial reply stays in this chat, not saved")
    t.prompt()
    t.send("\x04")
    assert t.finish() == 0
    out = t.output()
    assert_each_line_once(out)
    assert "is kept" not in out
    assert conversations(isolated) == []
