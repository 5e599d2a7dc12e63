"""Chat on a terminal, the rough edges of issue 23: the toolbar's cost, `chat | tee`, and the conveniences."""

from __future__ import annotations

import base64
import os
import re
import sys
from pathlib import Path

import pexpect

from conftest import SRC, conversations, write_profile
from fakeserver import Reply
from gptcli import chat, chat_extras, conversation, profiles
from pty_screen import CPR, Pty


def toolbar_for(model: str) -> str:
    prof = profiles.resolve(None, {"model": model})
    c = chat.Chat(conversation.Session.start(prof, log=False))
    return c.toolbar()


def test_toolbar_says_cost_unknown_from_the_start(isolated: Path) -> None:
    assert "cost unknown" in toolbar_for("my-local-model")
    assert "$0" in toolbar_for("gpt-4o-mini") and "unknown" not in toolbar_for("gpt-4o-mini")


def test_toolbar_uses_a_profile_price(isolated: Path) -> None:
    write_profile(isolated, "priced", 'model = "my-local-model"\n[price]\ninput = 1.0\noutput = 2.0\n')
    c = chat.Chat(conversation.Session.start(profiles.resolve("priced"), log=False))
    assert "cost unknown" not in c.toolbar()


def test_chat_piped_into_tee_keeps_prompt_and_banner_on_the_terminal(server, isolated: Path) -> None:
    log = isolated / "chat.log"
    env = dict(os.environ, PYTHONPATH=str(SRC), TERM="xterm")
    env.pop("PYTHONSAFEPATH", None)
    child = pexpect.spawn(
        "/bin/sh",
        ["-c", f'"{sys.executable}" -m gptcli chat | tee "{log}"'],
        env=env,
        dimensions=(30, 100),
        encoding="utf-8",
        timeout=30,
    )
    seen: list[str] = []

    def expect(pattern: str) -> None:
        while child.expect([CPR, pattern]) == 0:
            seen.append(child.before + child.after)
            child.send("\x1b[5;1R")
        seen.append(child.before + child.after)

    expect(re.escape("gptcli chat · default · gpt-4o-mini"))  # the banner, on stderr
    expect(re.escape("Esc-Enter: new line"))  # the prompt's toolbar
    child.send("hello from a pipe\r")
    expect("echo: hello from a pipe")  # the reply, through tee
    expect(re.escape("Esc-Enter: new line"))
    child.send("/cost\r")
    expect("this session:")
    expect(re.escape("Esc-Enter: new line"))
    child.send("\x04")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert log.read_text("utf-8") == "echo: hello from a pipe\n"  # stdout: the replies only
    assert len(conversations(isolated)) == 1


# --- /copy, /edit, !command (item 9), on a real pseudo-terminal ----------------------------------


CODE_REPLY = "Here:\n\n```python\nprint('hi')\n```\n\nDone."


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_copy_and_copy_code_go_through_the_terminal(server, isolated: Path) -> None:
    server.enqueue(Reply(text=CODE_REPLY))
    t = Pty("chat")
    t.prompt()
    t.send("show me code\r")
    t.expect("Done.")
    t.prompt()
    t.send("/copy code\r")
    t.expect("copied the last code block")
    t.prompt()
    t.send("/copy\r")
    t.expect("copied the last reply")
    t.prompt()
    t.send("\x04")
    assert t.finish() == 0
    out = t.output()
    assert "\x1b]52;c;" + b64("print('hi')") + "\x07" in out
    assert f"\x1b]52;c;{b64(CODE_REPLY)}\x07" in out  # the whole reply, verbatim


def test_shell_command_output_goes_with_the_next_message_when_confirmed(server, isolated: Path) -> None:
    t = Pty("chat")
    t.prompt()
    t.send("!printf 'alpha\\nbeta\\n'\r")
    t.expect(re.escape("to your next message? [y/N]"))
    t.send("y\r")
    t.expect("added: it goes with your next message")
    t.prompt()
    t.send("!echo not-this-one\r")
    t.expect(re.escape("[y/N]"))
    t.send("n\r")
    t.expect("not added")
    t.prompt()
    t.send("what do you see?\r")
    t.expect("echo: ")
    t.prompt()
    t.send(" !not a command\r")  # a space first: a message that starts with "!"
    t.expect("echo: ")
    t.prompt()
    t.send("\x04")
    assert t.finish() == 0
    reqs = server.chat_requests()
    assert len(reqs) == 2  # the commands themselves were never sent
    first = reqs[0]["messages"][-1]["content"]
    assert first == "```\n$ printf 'alpha\\nbeta\\n'\nalpha\nbeta\n```\n\nwhat do you see?"
    assert reqs[1]["messages"][-1]["content"].strip() == "!not a command"


def test_shell_lines_of_a_piped_script_are_messages(server, gptcli) -> None:
    r = gptcli("chat", input="!rm -rf nothing-here\n")
    assert r.code == 0
    assert server.chat_requests()[0]["messages"][-1]["content"] == "!rm -rf nothing-here"


def test_edit_opens_the_editor_and_sends_what_is_saved(server, isolated: Path) -> None:
    editor = isolated / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "first line\\nsecond line\\n" >> "$1"\n', encoding="utf-8")
    editor.chmod(0o755)
    t = Pty("chat", env={"EDITOR": str(editor), "VISUAL": ""})
    t.prompt()
    t.send("/edit Draft:\r")
    t.expect("echo: Draft:")
    t.prompt()
    t.send("\x04")
    assert t.finish() == 0
    (req,) = server.chat_requests()
    assert req["messages"][-1]["content"] == "Draft:\nfirst line\nsecond line"


def test_copy_in_a_script_without_a_reply_is_a_command_mistake(server, gptcli) -> None:
    r = gptcli("chat", input="/copy\n")
    assert r.code == 0 and "nothing to copy yet" in r.stderr
    assert server.chat_requests() == []


def test_helpers_keep_the_terminal_safe() -> None:
    assert chat_extras.printable("a\x1b[31mred\x1b[0m\x1b]0;title\x07\tb\n\x07c") == "ared\tb\nc"
    assert chat_extras.last_code_block("x\n```sh\nls\n```\ny\n~~~\nz\n~~~\n") == "z"
    assert chat_extras.last_code_block("no code") is None
    plain = chat_extras.osc52("hi", {})
    assert plain == "\x1b]52;c;aGk=\x07"
    assert chat_extras.osc52("hi", {"TMUX": "/tmp/tmux"}) == "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\"


def test_context_fence_is_longer_than_any_backticks_inside(isolated: Path) -> None:
    c = chat.Chat(conversation.Session.start(profiles.resolve(None), log=False))
    c._shell_context = ["$ cat notes.md\n````\ncode\n````"]  # type: ignore[attr-defined]
    text = chat_extras.with_context(c, "summarise")
    assert text.startswith("`````\n$ cat notes.md") and text.endswith("`````\n\nsummarise")
    assert chat_extras.with_context(c, "again") == "again"  # used once
