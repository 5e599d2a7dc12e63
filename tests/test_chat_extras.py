"""Chat on a terminal, the rough edges of issue 23: the toolbar's cost, `chat | tee`, and the conveniences."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect

from conftest import SRC, conversations, write_profile
from gptcli import chat, conversation, profiles
from pty_screen import CPR


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
