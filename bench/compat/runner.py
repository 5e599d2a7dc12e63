"""The run: every check of a server in turn, each in a fresh home; the results file.

``run_checks`` gives each check a throw-away ``GPTCLI_HOME`` with a ``compat`` profile
pointing at the server and a working directory with the input files, runs the check's
``before`` commands and then the check, judges it, and records the server's error bodies
for checks marked ``record``. ``save_results`` writes ``bench/compat/results/<server>.json``,
which ``run.py`` turns into docs/compatibility.md.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import FIXTURES, RESULTS, Check, Result, Server, gptcli, judge, write_profile

import fixtures


def run_checks(
    server: Server, checks: Sequence[Check], *, only: set[str] | None = None, record_fixtures: bool = True
) -> list[Result]:
    results = []
    seen: dict[str, Path] = {}
    if record_fixtures and not only:  # a full run starts afresh; --only keeps (and may overwrite) the others
        for old in (FIXTURES / server.name).glob("*.json"):
            old.unlink()
    with tempfile.TemporaryDirectory(prefix=f"gptcli-compat-{server.name}-") as tmp:
        for check in checks:
            if only and check.id not in only:
                continue
            home, workdir = Path(tmp) / check.id / "home", Path(tmp) / check.id / "work"
            workdir.mkdir(parents=True)
            write_profile(home, server)
            for name, text in _inputs().items():
                (workdir / name).write_text(text, encoding="utf-8")
            for argv in check.before:
                gptcli(server, Check(check.id, "", argv), home, workdir)
            before = server.chat_requests()
            run = gptcli(server, check, home, workdir)
            time.sleep(0.2)  # the access log line follows the response
            after = server.chat_requests()
            res = judge(check, run, None if before is None or after is None else after - before)
            if check.record and record_fixtures:
                res.fixtures = fixtures.record(server, check, home, workdir, seen, res)
            print(
                f"{'ok  ' if res.ok else 'FAIL'} {check.id:<22} exit {run.exit:<3} {res.stderr_first[:90]}"
                + ("" if res.ok else f"\n      {'; '.join(res.problems)}"),
                file=sys.stderr,
                flush=True,
            )
            results.append(res)
    return results


def _inputs() -> dict[str, str]:
    long = " ".join(f"word{i % 97} and more" for i in range(4000))  # ~16,000 tokens: over any tiny window
    return {"prompts.txt": "Say hello.\nName a colour.\nCount to three.\nName a river.\n", "long.txt": long + "\n"}


def save_results(
    server: Server, results: Sequence[Result], notes: dict[str, str], about: dict[str, Any], *, partial: bool = False
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{server.name}.json"
    rows = [asdict(r) for r in results]
    if partial and path.exists():  # --only: replace those rows in the last full run's results
        new = {r["check"]: r for r in rows}
        old = json.loads(path.read_text(encoding="utf-8")).get("results", [])
        rows = [new.pop(r["check"], r) for r in old] + list(new.values())
    path.write_text(
        json.dumps(
            {
                "server": server.name,
                "title": server.title,
                "version": server.version,
                "gptcli_src": _src_commit(),
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "about": about,
                "notes": notes,
                "results": rows,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def _src_commit() -> str:
    """The last commit that changed src/: the gptcli code these results are for."""
    import subprocess

    from harness import ROOT

    got = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h", "--", "src"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True, text=True
    )
    return (got.stdout.strip() or "?") + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def unavailable(name: str, title: str, why: str, about: dict[str, Any] | None = None) -> Path:
    """Record that a server could not be installed or started here, and why."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "server": name,
                "title": title,
                "version": None,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "unavailable": why,
                "about": about or {},
                "results": [],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    return path
