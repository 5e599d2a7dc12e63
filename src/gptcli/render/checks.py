"""``replay --check`` output: one line per case, the summary, and the JUnit XML report.

Takes the check results as values (anything with ``name``, ``passed``, ``failures``,
``error``, ``turns``, ``cost``, ``seconds``); imports no use case.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..models import usd


def _visible(text: str) -> str:
    """Server error text is untrusted: no control characters (C0 but tab, DEL, C1) reach the terminal."""
    return "".join(ch if ch == "\t" or not (ord(ch) < 32 or 127 <= ord(ch) < 160) else "?" for ch in text)


def case_line(case: Any) -> str:
    head = "PASS" if case.passed else ("ERROR" if case.error else "FAIL")
    cost = usd(case.cost) if case.cost is not None else "cost unknown"
    line = f"{head:5} {case.name} ({case.turns} turn{'s' if case.turns != 1 else ''}, {cost}, {case.seconds:.1f} s)"
    problems = [case.error] if case.error else list(case.failures)
    return _visible(line) + "".join(f"\n      {_visible(p)}" for p in problems)


def summary(cases: Sequence[Any]) -> str:
    passed = sum(1 for c in cases if c.passed)
    return f"{passed} passed, {len(cases) - passed} failed"


def junit(cases: Sequence[Any], path: Path, *, suite: str = "gptcli replay --check") -> None:
    """A JUnit XML report (one testcase per conversation), written whole."""
    from ..jsonl import atomic_write

    failures = sum(1 for c in cases if c.failures and not c.error)
    errors = sum(1 for c in cases if c.error)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        time=f"{sum(c.seconds for c in cases):.3f}",
    )
    for c in cases:
        tc = ET.SubElement(root, "testcase", classname="gptcli.replay.check", name=c.name, time=f"{c.seconds:.3f}")
        if c.error:
            ET.SubElement(tc, "error", message=c.error).text = c.error
        elif c.failures:
            ET.SubElement(tc, "failure", message=c.failures[0]).text = "\n".join(c.failures)
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
    atomic_write(path, data, fsync=False, mode=0o644)
