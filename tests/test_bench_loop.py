"""bench/loop_vs_batch.py, whose numbers the README states (issue 23, item 10), runs and measures both sides."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT, env_for_subprocess


@pytest.mark.slow
def test_loop_vs_batch_script_runs_both_sides() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "loop_vs_batch.py"), "--prompts", "3", "--rounds", "1"],
        capture_output=True,
        text=True,
        env=env_for_subprocess(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # the server saw every request of both sides
    assert re.search(r"^xargs -P 8 gptcli ask x 3 +\d+\.\d\d s", proc.stdout, re.M)
    assert re.search(r"^gptcli batch of 3 +\d+\.\d\d s", proc.stdout, re.M)
    assert "ratio: the loop takes" in proc.stdout


def test_readme_points_loops_at_batch() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "bench/loop_vs_batch.py" in readme and "fast enough to call from a loop" not in readme
    assert re.search(r"xargs -P 8 gptcli ask` took\s+\d+x as long as `gptcli batch`", readme)
