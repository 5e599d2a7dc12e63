"""``gptcli --install-integration``: the Ctrl-G binding, run in real shells on a pty against the loopback server."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from conftest import SRC
from fakeserver import Reply
from gptcli import integration

# The reply: a command whose output differs from its text, so seeing the output proves it ran.
COMMAND = "printf 'GOT-%s\\n' IT-42"  # the same in bash, zsh and fish


def gptcli_on_path(tmp_path: Path) -> dict[str, str]:
    """An environment where ``gptcli`` is this tree's, run by this interpreter."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "gptcli"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gptcli "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONSAFEPATH", None)
    env.update(PATH=f"{bindir}{os.pathsep}{env['PATH']}", TERM="xterm", COLUMNS="100", LINES="30")
    return env


def shell_session(shell: str, tmp_path: Path) -> pexpect.spawn:
    env = gptcli_on_path(tmp_path)
    rc = tmp_path / f"rc.{shell}"
    if shell == "bash":
        rc.write_text("PS1='READY$ '\n" + integration.snippet("bash"), encoding="utf-8")
        argv = ["--noprofile", "--rcfile", str(rc), "-i"]
    elif shell == "zsh":
        zdot = tmp_path / "zdot"
        zdot.mkdir()
        (zdot / ".zshrc").write_text("PROMPT='READY$ '\n" + integration.snippet("zsh"), encoding="utf-8")
        env["ZDOTDIR"] = str(zdot)
        argv = ["-i"]
    else:
        rc.write_text("function fish_prompt; echo -n 'READY$ '; end\n" + integration.snippet("fish"), "utf-8")
        argv = ["--no-config", "-i", "-C", f"source {rc}"]
    return pexpect.spawn(shell, argv, env=env, cwd=str(tmp_path), dimensions=(30, 100), encoding="utf-8", timeout=60)


@pytest.mark.parametrize("shell", integration.SHELLS)
def test_ctrl_g_puts_the_command_on_the_line(server, tmp_path: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    server.enqueue(Reply(text=f"```sh\n{COMMAND}\n```"))
    child = shell_session(shell, tmp_path)
    try:
        child.expect("READY\\$ ")
        child.send("show the answer")
        child.send("\x07")  # Ctrl-G
        child.expect(re.escape(COMMAND))  # the line now holds the command...
        assert len(server.chat_requests()) == 1
        assert "Task: show the answer" in server.chat_requests()[0]["messages"][-1]["content"]
        with pytest.raises(pexpect.TIMEOUT):
            child.expect("GOT-IT-42", timeout=1)  # ...and it has not run
        child.send("\r")  # Enter: the shell runs it, as any typed line
        child.expect("GOT-IT-42")
        child.expect("READY\\$ ")
    finally:
        child.sendline("exit")
        child.close(force=True)


def test_empty_line_asks_nothing(server, tmp_path: Path) -> None:
    child = shell_session("bash", tmp_path)
    try:
        child.expect("READY\\$ ")
        child.send("\x07")
        child.sendline("echo still-$((1+1))")
        child.expect("still-2")
    finally:
        child.sendline("exit")
        child.close(force=True)
    assert server.chat_requests() == []


def test_prints_without_a_terminal(gptcli) -> None:
    r = gptcli("--install-integration", "zsh")
    assert r.code == 0
    assert r.stdout == integration.snippet("zsh")
    assert "gptcli --install-integration zsh >> ~/.zshrc" in r.stderr
    bad = gptcli("--install-integration", "tcsh")
    assert bad.code == 2 and "bash, zsh or fish" in bad.stderr
    assert gptcli("--install-integration").code == 2


def test_appends_once_with_confirmation(isolated: Path, tmp_path: Path) -> None:
    env = gptcli_on_path(tmp_path)
    home = Path(env["HOME"])
    rc = home / ".bashrc"
    rc.write_text("alias ll='ls -l'", encoding="utf-8")  # no final newline

    def run(answer: str | None) -> str:
        child = pexpect.spawn(
            sys.executable, ["-m", "gptcli", "--install-integration", "bash"], env=env, encoding="utf-8", timeout=30
        )
        if answer is not None:
            child.expect(re.escape("Append this to ~/.bashrc? [y/N] "))
            child.sendline(answer)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
        return str(child.before)

    assert "nothing changed" in run("n")
    assert rc.read_text(encoding="utf-8") == "alias ll='ls -l'"
    assert "added to ~/.bashrc" in run("y")
    text = rc.read_text(encoding="utf-8")
    assert text.startswith("alias ll='ls -l'\n\n# >>> gptcli integration") and text.endswith(integration.END + "\n")
    assert "already in ~/.bashrc" in run(None)
    assert rc.read_text(encoding="utf-8").count(integration.BEGIN) == 1
