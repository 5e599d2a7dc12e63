"""A clean install: build the wheel, install it into a fresh virtual environment, run it.

The wheel is built from this checkout (``pip wheel --no-deps``: hatchling comes from the
package registry into pip's isolated build env), installed into a new venv together with
its dependencies from the registry (pip's cache makes a second run quick), and the
installed console script is run from a directory outside the repo with no PYTHONPATH,
so nothing can be found in the checkout by accident: the built-in profiles must come
from inside the wheel.

The venv is made ``--without-pip`` and this interpreter's pip installs into it
(``pip --python``): the same install, without a second copy of pip (ensurepip takes
seconds). Not ``--system-site-packages``: the dependencies must come from the wheel's
own metadata, or a missing one would go unnoticed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, TIKTOKEN_CACHE

pytestmark = pytest.mark.slow


def run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)], cwd=tmp_path, env=env)
    [wheel] = dist.glob("gptcli-*.whl")

    names = zipfile.ZipFile(wheel).namelist()
    builtins = sorted(p.name for p in (ROOT / "profiles").glob("*.toml"))
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("gptcli/profiles/")) == builtins
    assert "gptcli/py.typed" in names and "gptcli/completions.py" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/")) or "__pycache__" in n]
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for field in ("Summary: ", "License-Expression: MIT", "Project-URL: Homepage", "Classifier: ", "Requires-Python"):
        assert field in meta, field

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(wheel)], cwd=tmp_path, env=env)

    outside = tmp_path / "elsewhere"  # not the checkout: nothing to import from by accident
    outside.mkdir()
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["TIKTOKEN_CACHE_DIR"] = TIKTOKEN_CACHE
    gptcli = str(venv / "bin" / "gptcli")

    where = run([str(python), "-c", "import gptcli, sys; print(gptcli.__file__)"], cwd=outside, env=env).stdout
    assert Path(where.strip()).is_relative_to(venv), where

    listed = json.loads(run([gptcli, "profiles", "list", "--json"], cwd=outside, env=env).stdout)
    assert sorted(f"{p['name']}.toml" for p in listed) == builtins
    assert all(p["source"] == "built-in" and Path(p["path"]).is_relative_to(venv) for p in listed)
    assert "default" in run([gptcli, "profiles", "list"], cwd=outside, env=env).stdout

    counted = run([gptcli, "count", "hi"], cwd=outside, env=env).stdout
    assert counted.split("\n")[1].split() == ["tokens", "1"], counted  # after the header line (field, value)

    dry = json.loads(run([gptcli, "ask", "--dry-run", "hi"], cwd=outside, env=env).stdout)
    assert dry["body"]["messages"][-1] == {"role": "user", "content": "hi"}
    assert dry["headers"]["Authorization"] == "Bearer [redacted]"

    # Completion works from the installed package too (profile names come from inside the wheel).
    complete = {**env, "_GPTCLI_COMPLETE": "complete_bash", "COMP_WORDS": "gptcli profiles show co", "COMP_CWORD": "3"}
    assert run([gptcli], cwd=outside, env=complete).stdout.split() == ["coder", "commit-msg", "concise"]
