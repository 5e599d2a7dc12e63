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


# The house rules (issue 13): modules of one job, short functions. A function's length is its
# body, from its first statement (the docstring) to its last line: the signature does not count,
# so a Typer command with many options (cli/ask.py, cli/replay.py) is measured by what it does.
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80
# A module ("gptcli/x.py") or function ("gptcli/x.py:name") over the limits while it waits for a split,
# with its size: it may shrink but not grow; take it off the list once it is under the limit.
KNOWN_OVER: dict[str, int] = {}


def test_modules_and_functions_stay_small() -> None:
    import ast

    too_big = []
    for path in sorted((ROOT / "src" / "gptcli").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT / "src").as_posix()
        lines = source.count("\n")
        if lines > KNOWN_OVER.get(where, MAX_MODULE_LINES):
            too_big.append(f"{where}: {lines} lines (at most {MAX_MODULE_LINES}): split it by job")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = (node.end_lineno or node.lineno) - node.body[0].lineno + 1
                if body > KNOWN_OVER.get(f"{where}:{node.name}", MAX_FUNCTION_LINES):
                    too_big.append(f"{where}:{node.lineno} {node.name}: {body} lines (at most {MAX_FUNCTION_LINES})")
    assert not too_big, "\n".join(too_big)
