"""The layers of docs/architecture.md hold: import-linter's contracts in pyproject.toml all pass.

Runs ``lint-imports`` from this interpreter's environment against the source tree, so CI (which runs only
the README's test command) checks the contracts too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is not installed: pip install -e '.[test]'"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_a_broken_contract_would_fail(tmp_path: Path) -> None:
    """The check can fail: a module that imports the command line breaks the first contract."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "gptcli", src / "gptcli", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "gptcli" / "store.py").write_text(
        (src / "gptcli" / "store.py").read_text(encoding="utf-8") + "\nfrom gptcli import cli  # noqa\n",
        encoding="utf-8",
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run([exe, "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Nothing imports the command line BROKEN" in proc.stdout
