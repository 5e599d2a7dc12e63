"""`gptcli chat` end to end: the stdin path (a turn per line) and the real terminal path (pexpect).

Every test runs the real command against the loopback server and checks what the
server received, what was printed, and the conversation log.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pexpect
import pytest

from conftest import SRC, conversations, read_jsonl
from fakeserver import Reply
from gptcli import store
from helpers import expect_on_pty


def user_texts(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in body["messages"]]


# --- the stdin path -------------------------------------------------------------------------


def test_stdin_turns_carry_the_whole_history(server, gptcli, isolated: Path) -> None:
    r = gptcli("chat", "-s", "Be brief.", input="first question\n\n  second: 你好  \n")
    assert r.code == 0, r.stderr
    assert r.stdout == "echo: first question\necho:   second: 你好  \n"  # replies only, plain, verbatim
    assert "Bye" in r.stderr
    first, second = server.chat_requests()
    assert user_texts(first) == [("system", "Be brief."), ("user", "first question")]
    # The second request carries the first reply: the model sees its own answers.
    assert user_texts(second) == [
        ("system", "Be brief."),
        ("user", "first question"),
        ("assistant", "echo: first question"),
        ("user", "  second: 你好  "),
    ]
    (log,) = conversations(isolated)
    records = read_jsonl(log)
    assert [r["role"] for r in records if r["type"] == "message"] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


@pytest.mark.parametrize("word", [" EXIT ", "Quit", "/exit", "/QUIT", "退出", " 再见 "])
def test_exit_words_leave_before_anything_is_sent(server, gptcli, word: str) -> None:
    r = gptcli("chat", input=f"{word}\nnever sent\n")
    assert r.code == 0, r.stderr
    assert r.stdout == ""  # the farewell is status: stderr
    assert ("再见" if not word.strip().isascii() else "Bye") in r.stderr
    assert server.chat_requests() == []


def test_chat_path_imports_stay_lazy() -> None:
    """prompt_toolkit (and rich) load only when chat runs on a terminal."""
    code = "import sys, gptcli.cli, gptcli.chat; print([m for m in ('prompt_toolkit', 'rich') if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        check=True,
    ).stdout
    assert out.strip() == "[]"


def test_commands_through_stdin(server, gptcli, isolated: Path) -> None:
    script = "\n".join(
        [
            "/system Be terse.",
            "q1",
            "/set temperature 0.2",
            "/set max-tokens 50",
            "/set stop END",
            "q2",
            "/undo",
            "q3",
            "/retry",
            "/frobnicate",
            "/set temperature 5",
            "/set nonsense 1",
            "/model gpt-4o",
            "/tokens",
            "/cost",
            "/save-profile mine",
            "//etc is a directory",
            '"""',
            "two lines",
            "  kept verbatim",
            '"""',
            "/help",
        ]
    )
    r = gptcli("chat", input=script + "\n")
    assert r.code == 0, r.stderr
    reqs = server.chat_requests()
    assert len(reqs) == 6  # no request for a command, an unknown command or a bad value
    sys_msg = ("system", "Be terse.")
    assert user_texts(reqs[0]) == [sys_msg, ("user", "q1")]
    assert reqs[1]["temperature"] == 0.2 and reqs[1]["max_tokens"] == 50 and reqs[1]["stop"] == ["END"]
    assert user_texts(reqs[1])[-1] == ("user", "q2")
    # /undo dropped q2 and its reply
    assert user_texts(reqs[2]) == [sys_msg, ("user", "q1"), ("assistant", "echo: q1"), ("user", "q3")]
    # /retry sends the same history again
    assert user_texts(reqs[3]) == user_texts(reqs[2])
    assert reqs[4]["model"] == "gpt-4o"
    assert reqs[4]["messages"][-1]["content"] == "/etc is a directory"
    assert reqs[5]["messages"][-1]["content"] == "two lines\n  kept verbatim"
    assert r.stdout.count("echo: q3") == 2
    assert "unknown command /frobnicate" in r.stderr and "/help" in r.stderr
    assert "temperature: must be between 0 and 2" in r.stderr
    assert "unknown key 'nonsense'" in r.stderr
    assert "tokens in context (2 exchanges)" in r.stderr
    assert "this session:" in r.stderr and "/save-profile NAME" in r.stderr  # /cost, /help
    # /save-profile wrote a TOML profile with the session's settings, usable at once
    saved = tomllib.loads((isolated / "gptcli" / "config" / "profiles" / "mine.toml").read_text("utf-8"))
    assert saved["model"] == "gpt-4o" and saved["temperature"] == 0.2 and saved["max_tokens"] == 50
    assert saved["system"] == "Be terse." and saved["stop"] == ["END"]
    assert "base_url" not in saved  # it came from OPENAI_BASE_URL, not from the session
    assert gptcli("profiles", "show", "mine", "--json").json()["settings"]["temperature"] == 0.2
    # The log replays as the user saw it: undo and retry applied.
    (log,) = conversations(isolated)
    conv = store.load(log)
    assert [(m["role"], m["content"]) for m in conv.messages][:6] == [
        sys_msg,
        ("user", "q1"),
        ("assistant", "echo: q1"),
        ("user", "q3"),
        ("assistant", "echo: q3"),
        ("user", "/etc is a directory"),
    ]
    kinds = [rec.get("kind") for rec in read_jsonl(log) if rec["type"] == "note"]
    assert {"undo", "retry", "settings"} <= set(kinds)


def test_resume_an_ask_conversation(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "-m", "gpt-4o", "first question").code == 0
    other = gptcli("ask", "--json", "other question").json()["conversation_id"]
    (first_log,) = [p for p in conversations(isolated) if p.stem != other]
    r = gptcli("chat", "--cid", first_log.stem[:6], input="follow up\n/system Be kind.\n/reset\nfresh start\n")
    assert r.code == 0, r.stderr
    follow, fresh = server.chat_requests()[2:]
    assert user_texts(follow) == [
        ("user", "first question"),
        ("assistant", "echo: first question"),
        ("user", "follow up"),
    ]
    assert follow["model"] == "gpt-4o"  # the conversation's model, not the profile's
    # /reset: a new conversation, with the system prompt set before it
    assert user_texts(fresh) == [("system", "Be kind."), ("user", "fresh start")]
    resumed = store.load(first_log)
    assert [m["content"] for m in resumed.messages][-2:] == ["follow up", "echo: follow up"]
    assert resumed.system == "Be kind."  # the /system note is applied on load
    assert len(conversations(isolated)) == 3
    # --resume alone continues the newest conversation: the one /reset started.
    r = gptcli("chat", "--resume", input="again\n")
    assert r.code == 0, r.stderr
    assert user_texts(server.chat_requests()[-1])[1:3] == [("user", "fresh start"), ("assistant", "echo: fresh start")]


def test_history_is_trimmed_to_the_context_window(server, gptcli, isolated: Path) -> None:
    words = " ".join(f"w{i}" for i in range(40))
    lines = ["/set context_window 260", *[f"q{i} {words}" for i in range(4)]]
    r = gptcli("chat", "-s", "Keep this system prompt.", input="\n".join(lines) + "\n")
    assert r.code == 0, r.stderr
    reqs = server.chat_requests()
    assert len(reqs) == 4
    last = reqs[-1]["messages"]
    assert last[0] == {"role": "system", "content": "Keep this system prompt."}  # never left out
    assert last[-1]["content"].startswith("q3 ")
    assert not any(m["content"].startswith("q0 ") for m in last)  # the oldest exchange went first
    assert "context window:" in r.stderr and "left out" in r.stderr
    (log,) = conversations(isolated)
    assert any(rec.get("kind") == "trim" for rec in read_jsonl(log))
    # The log keeps everything: trimming only shapes the request.
    assert sum(1 for m in store.load(log).messages if m["role"] == "user") == 4


def test_dropped_stream_keeps_the_partial_reply_and_retry_works(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(tokens=30, drop_after=5))
    r = gptcli("chat", input="tell me\n/retry\n")
    assert r.code == 0, r.stderr  # the failed turn was retried successfully
    assert "gptcli: error:" in r.stderr and "partial reply is kept" in r.stderr
    first, retry = server.chat_requests()
    assert user_texts(retry) == user_texts(first) == [("user", "tell me")]
    (log,) = conversations(isolated)
    replies = [rec for rec in read_jsonl(log) if rec.get("role") == "assistant"]
    assert replies[0]["incomplete"] is True and replies[1]["content"] == "echo: tell me"


# --- the terminal path (pexpect) ---------------------------------------------------------------


class Term:
    """A gptcli chat on a pseudo-terminal, answering cursor position requests as a terminal does."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("PYTHONSAFEPATH", None)
        env.update(TERM="xterm", COLUMNS="100", LINES="30")
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "gptcli", "chat", *args],
            env=env,
            dimensions=(30, 100),
            encoding="utf-8",
            timeout=30,
        )
        self.seen: list[str] = []

    def expect(self, pattern: str) -> str:
        return expect_on_pty(self.child, self.seen, pattern, "chat")

    def prompt(self) -> None:
        self.expect(re.escape("/help · Esc-Enter: new line"))  # the bottom toolbar: ready for input

    def send(self, text: str) -> None:
        self.child.send(text)

    def finish(self) -> int:
        self.child.expect(pexpect.EOF)
        self.seen.append(self.child.before)
        self.child.close()
        return int(self.child.exitstatus if self.child.exitstatus is not None else -1)

    def output(self) -> str:
        return "".join(self.seen)


def assert_terminal_sane(out: str) -> None:
    """Bracketed paste switched off and the cursor shown again at the end."""
    assert out.rfind("\x1b[?2004h") < out.rfind("\x1b[?2004l")
    assert out.rfind("\x1b[?25l") < out.rfind("\x1b[?25h")


def test_terminal_turn_paste_undo_retry_exit(server, isolated: Path) -> None:
    t = Term()
    t.prompt()
    t.send("hello there\r")
    t.expect("echo: hello there")
    t.prompt()
    t.send("\x1b[200~line one\nline two\x1b[201~")  # a bracketed paste stays one message
    t.send("\r")
    t.expect("line two")
    t.prompt()
    t.send("/undo\r")
    t.expect("undone: line one line two")
    t.prompt()
    t.send("/retry\r")
    t.expect("echo: hello there")
    t.prompt()
    t.send("退出\r")
    t.expect("再见")
    assert t.finish() == 0
    reqs = server.chat_requests()
    assert len(reqs) == 3
    assert user_texts(reqs[1])[-1] == ("user", "line one\nline two")
    assert user_texts(reqs[2]) == [("user", "hello there")]  # after /undo, /retry regenerates reply 1
    out = t.output()
    assert re.search(r"default · gpt-4o-mini · [\d,]+(/[\d,]+)? tokens", out)  # the toolbar
    assert_terminal_sane(out)
    history = isolated / "gptcli" / "data" / "chat_history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert "+line two" in history.read_text("utf-8")


def test_terminal_ctrl_c_cancels_a_reply_and_resume(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "first question").code == 0
    (log,) = conversations(isolated)
    server.enqueue(Reply(tokens=3000, chunk_delay=0.02))  # slow: a minute if nobody stops it
    t = Term("--resume")
    t.expect("Resume which conversation")  # the pick list: Enter takes the newest
    t.send("\r")
    t.prompt()
    t.send("a long answer please\r")
    t.expect("word12")
    t.send("\x03")  # Ctrl-C during the reply: cancelled, the chat goes on
    t.expect("interrupted: the partial reply is kept")
    t.prompt()
    t.send("after\r")
    t.expect("echo: after")
    t.prompt()
    t.send("\x03")  # Ctrl-C on an empty line leaves
    t.expect("Bye")
    assert t.finish() == 0
    assert_terminal_sane(t.output())
    reqs = server.chat_requests()
    assert user_texts(reqs[1])[:2] == [("user", "first question"), ("assistant", "echo: first question")]
    assert reqs[2]["messages"][-3]["content"] == "a long answer please"
    assert reqs[2]["messages"][-2]["content"].startswith("# word0")  # the partial reply is history
    assert conversations(isolated) == [log]  # resumed in place
    partial = [r for r in read_jsonl(log) if r.get("role") == "assistant"][1]
    assert partial["interrupted"] is True and partial["incomplete"] is True
    assert "word12" in partial["content"] and "word2999" not in partial["content"]
