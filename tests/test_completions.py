"""Shell completion: the committed scripts are what the app generates, and Tab completes
profile names, conversation ids and model names, through the shells' own protocol.

Every completion here runs the real command in a subprocess with the environment a
shell sets (``_GPTCLI_COMPLETE=complete_bash COMP_WORDS=... COMP_CWORD=...``), and once
through the committed bash script itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SRC, run_gptcli
from gptcli import completions

IDS = ("3f2a9c000001", "3f2b00000002", "a1b2c3d4e5f6")


def test_committed_scripts_are_what_the_app_generates() -> None:
    for shell, name in completions.FILES.items():
        committed = (ROOT / "completions" / name).read_text(encoding="utf-8")
        assert committed == completions.script(shell), f"completions/{name} is stale: run python -m gptcli.completions"
        # They call gptcli back instead of listing options, so they cannot go stale when a flag changes.
        assert "_GPTCLI_COMPLETE=complete_" in committed and "--model" not in committed
    r = run_gptcli("--show-completion", "zsh")
    assert r.code == 0 and r.stdout == completions.script("zsh")


def test_regenerate_and_check(tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    assert completions.main(["--dir", str(tmp_path), "--check"]) == 1  # nothing there yet
    assert completions.main(["--dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(completions.FILES.values())
    assert completions.main(["--dir", str(tmp_path), "--check"]) == 0
    assert completions.main(["--check"]) == 0  # the checkout's own completions/


def _setup_store(isolated: Path) -> None:
    profiles = isolated / "gptcli" / "config" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "mine.toml").write_text('description = "my own"\nmodel = "my-model-1"\n', encoding="utf-8")
    (profiles / "broken.toml").write_text("model = [\n", encoding="utf-8")  # completion must survive it
    conv = isolated / "gptcli" / "data" / "conversations"
    conv.mkdir(parents=True)
    for i, ident in enumerate(IDS):
        path = conv / f"{ident}.jsonl"
        meta = {"type": "meta", "id": ident, "v": 1, "profile": "default", "settings": {"model": "gpt-4o-mini"}}
        path.write_text(json.dumps(meta) + "\n", encoding="utf-8")
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))


def bash_complete(*words: str) -> list[str]:
    """What bash would offer after typing ``gptcli WORDS`` (the last word is the one being completed)."""
    line = " ".join(("gptcli", *words))
    env = {"_GPTCLI_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words))}
    r = run_gptcli(env=env)
    assert r.code == 0 and not r.stderr, r.stderr
    return r.stdout.split()


def test_completes_profiles_ids_and_models(isolated: Path) -> None:
    _setup_store(isolated)
    builtins = {p.stem for p in (ROOT / "profiles").glob("*.toml")}
    assert {"coder", "concise", "default", "local", "reasoning", "translator", "cmd", "review"} <= builtins
    assert set(bash_complete("ask", "-p", "")) == builtins | {"mine", "broken"}
    assert bash_complete("profiles", "show", "co") == ["coder", "commit-msg", "concise"]
    assert bash_complete("batch", "x.txt", "--profile", "mi") == ["mine"]
    assert bash_complete("profiles", "new", "x", "--from", "tr") == ["translator"]

    newest_first = list(reversed(IDS))
    assert bash_complete("replay", "") == newest_first
    assert bash_complete("ask", "--cid", "3f2") == ["3f2b00000002", "3f2a9c000001"]
    assert bash_complete("chat", "--cid", "a1") == ["a1b2c3d4e5f6"]
    assert bash_complete("count", "--conversation", "3f2a") == ["3f2a9c000001"]

    models = bash_complete("ask", "-m", "")
    assert models[0] == "gpt-4o-mini"  # the default profile's model first
    assert {"my-model-1", "gpt-4.1", "o4-mini", "llama3.2", "gpt-4o", "o3"} <= set(models)  # profiles', price data's
    assert not [m for m in models if "embedding" in m or "tts" in m or m.endswith("-")]  # chat models, as typed
    assert bash_complete("ask", "-p", "mine", "-m", "my") == ["my-model-1"]
    # A profile with its own server: no OpenAI names from the price data, only the profiles' models.
    local = bash_complete("chat", "-p", "local", "-m", "")
    assert local[0] == "llama3.2" and "gpt-4o" not in local

    # zsh and fish get the descriptions too.
    env = {"_GPTCLI_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "gptcli replay 3f2a"}
    zsh = run_gptcli(env=env)
    assert zsh.code == 0 and '"3f2a9c000001"' in zsh.stdout
    env = {
        "_GPTCLI_COMPLETE": "complete_fish",
        "_TYPER_COMPLETE_FISH_ACTION": "get-args",
        "_TYPER_COMPLETE_ARGS": "gptcli ask -p mi",
    }
    assert run_gptcli(env=env).stdout == "mine\tmy own\n"


# Runs a completion in a fresh interpreter and reports the modules it imported.
_DRIVER = """
import io, os, sys, contextlib
from gptcli import cli
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        cli.run(sys.argv[1:])
except SystemExit:
    pass
print(" ".join(out.getvalue().split()))
print(" ".join(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_completion_stays_light_and_offline(isolated: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "_GPTCLI_COMPLETE": "complete_bash",
        "COMP_WORDS": "gptcli ask -m gpt-4.1",
        "COMP_CWORD": "3",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # nothing listens: a network call would fail
    }
    runs = [subprocess.run([sys.executable, "-c", _DRIVER], capture_output=True, text=True, env=env, timeout=60)]
    env.pop("OPENAI_BASE_URL")
    for _ in range(2):  # cold (reads the price data), then warm (the price cache answers)
        runs.append(
            subprocess.run([sys.executable, "-c", _DRIVER], capture_output=True, text=True, env=env, timeout=60)
        )
    offered = [r.stdout.splitlines()[0].split() for r in runs]
    modules = [set(r.stdout.splitlines()[1].split()) for r in runs]
    assert offered[0] == ["gpt-4.1"]  # at a server the price data does not know: only the profiles' models
    assert offered[1] == offered[2] and "gpt-4.1" in offered[1] and "gpt-4.1-mini" in offered[1]
    for mods in modules:
        assert not mods & {"openai", "tiktoken", "rich", "prompt_toolkit"}, mods
    assert "genai_prices" in modules[1] and "genai_prices" not in modules[2]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_committed_bash_script_completes(isolated: Path, tmp_path: Path) -> None:
    _setup_store(isolated)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "gptcli"  # what the console script does, without installing the package
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="{SRC}" exec "{sys.executable}" -m gptcli "$@"\n')
    shim.chmod(0o755)
    script = ROOT / "completions" / "gptcli.bash"
    cmd = (
        f"source '{script}'; COMP_WORDS=(gptcli replay 3f2); COMP_CWORD=2; _gptcli_completion gptcli; "
        'printf "%s\\n" "${COMPREPLY[@]}"; complete -p gptcli'
    )
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run(["bash", "--norc", "-c", cmd], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["3f2b00000002", "3f2a9c000001", "complete -o default -F _gptcli_completion gptcli"]


def test_install_completion(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    env = {"HOME": str(home)}
    r = run_gptcli("--install-completion", "bash", env=env)
    assert r.code == 0 and "bash completion installed" in r.stdout
    installed = home / ".bash_completions" / "gptcli.sh"
    assert installed.read_text() + "\n" == (ROOT / "completions" / "gptcli.bash").read_text()
    assert f"source '{installed}'" in (home / ".bashrc").read_text()
    # Naming the shell is honoured (Typer's flag alone would detect the parent shell instead).
    assert run_gptcli("--install-completion", "zsh", env=env).code == 0
    assert (home / ".zfunc" / "_gptcli").read_text().startswith("#compdef gptcli")
    assert run_gptcli("--install-completion", "fish", env=env).code == 0
    assert (home / ".config" / "fish" / "completions" / "gptcli.fish").is_file()
    bad = run_gptcli("--install-completion", "tcsh", env=env)
    assert bad.code == 2 and bad.stderr.startswith("gptcli: error: no completion for shell 'tcsh'")
