"""``gptcli cmd``: a task in words to one shell command, and the decision to run it.

The built-in ``cmd`` profile's prompt template takes ``{os}``, ``{shell}`` and ``{cwd}``,
filled here from the machine (a ``--var`` still wins), and ``{input}``: the task. The
reply is checked (``command_from``): the first fenced code block, or the bare reply
when the model sent none (with a warning), never empty.

``decide`` is the loop a terminal runs: show the command, then Enter runs it, ``e``
edits it, ``d`` describes it, Esc or Ctrl-C aborts. It runs nothing itself and prints
nothing: the ``Screen`` it is given does the terminal, ``run`` the command. Nothing
runs without that keypress, and nothing runs when there is no terminal.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from .errors import InvalidOutputError
from .models import Profile

PROFILE = "cmd"
DESCRIBE_SYSTEM = (
    "You explain shell commands to the person about to run them. In a few short lines: what the command does, "
    "part by part, and anything it changes or deletes, or any other risk. No preamble."
)


def shell_path() -> str:
    """The user's shell: ``$SHELL`` if it names a program that exists, else ``/bin/sh``."""
    shell = os.environ.get("SHELL", "")
    if shell and (Path(shell).is_file() or shutil.which(shell)):
        return shell
    return "/bin/sh"


def os_name() -> str:
    """The operating system as a person would name it: "Debian GNU/Linux 13 (trixie)", "macOS 15.1"."""
    system = platform.system()
    if system == "Darwin":
        return f"macOS {platform.mac_ver()[0]}".strip()
    if system == "Linux":
        try:
            release = platform.freedesktop_os_release()
        except OSError:
            return "Linux"
        return release.get("PRETTY_NAME") or release.get("NAME") or "Linux"
    return f"{system} {platform.release()}".strip()


def machine() -> dict[str, str]:
    """What the ``cmd`` template is told: the OS, the shell's name and the working directory."""
    return {"os": os_name(), "shell": Path(shell_path()).name, "cwd": os.getcwd()}


def prompt_for(profile: Profile, task: str, given: dict[str, str]) -> tuple[Profile, str, tuple[str, ...]]:
    """The profile to ask (the ``cmd`` template unless ``-p`` names a profile with its own) and the prompt."""
    from . import profiles, template

    if not profile.prompt:
        builtin = profiles.resolve(PROFILE)
        profile = replace(profile, prompt=builtin.prompt, system=builtin.system, vars={**builtin.vars, **profile.vars})
    assert profile.prompt is not None
    filled = template.fill(profile.prompt, {**machine(), **profile.vars}, given, task, profile=profile.name)
    return profile, filled.text, filled.warnings


@dataclass(frozen=True)
class Answer:
    command: str
    warnings: tuple[str, ...] = ()


def command_from(reply: str) -> Answer:
    """The command in a reply; InvalidOutputError (9) when there is none."""
    from .extract import blocks

    found = blocks(reply)
    warnings: list[str] = []
    if found:
        command = found[0].text.strip()
        if len(found) > 1:
            warnings.append(f"the reply has {len(found)} code blocks; taking the first")
    else:
        command = reply.strip()
        if len(command) > 1 and command[0] == command[-1] == "`":
            command = command.strip("`").strip()
        if command:
            warnings.append("the reply has no code block; taking all of it as the command")
    if not command:
        raise InvalidOutputError("the model answered with no command", hint="rephrase the task, or try another -m")
    lines = [ln for ln in command.splitlines() if ln.strip()]
    continued = all(ln.rstrip().endswith(("\\", "&&", "||", "|")) for ln in lines[:-1])
    if len(lines) > 1 and not continued:
        warnings.append(f"the command has {len(lines)} lines; read it all before running it")
    return Answer(command, tuple(warnings))


def describe_prompt(command: str) -> str:
    return f"Explain this shell command:\n\n{command}"


def run(command: str, shell: str | None = None) -> int:
    """Run ``command`` in the user's shell, on the terminal; its exit status (128+N for signal N).

    While it runs, Ctrl-C is the command's: gptcli waits for it and records its status
    (a handler, not SIG_IGN, which the command would inherit).
    """
    import signal

    old = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        proc = subprocess.run([shell or shell_path(), "-c", command], check=False)
    finally:
        signal.signal(signal.SIGINT, old)
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode


class Screen(Protocol):
    def show(self, command: str) -> None: ...
    def key(self) -> str: ...  # "run", "edit", "describe" or "abort"
    def edit(self, command: str) -> str: ...
    def description(self, text: str) -> None: ...


def decide(command: str, screen: Screen, describe: Callable[[str], str]) -> str | None:
    """The command to run (perhaps edited), or None when the user aborts."""
    while True:
        screen.show(command)
        choice = screen.key()
        if choice == "run":
            return command
        if choice == "abort":
            return None
        if choice == "edit":
            command = screen.edit(command).strip() or command
        elif choice == "describe":
            screen.description(describe(command))
