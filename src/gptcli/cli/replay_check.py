"""``gptcli replay --check``: re-run saved conversations and hold the answers to expectations.

Parsing and printing only; the checks are ``gptcli.replay.check``.
"""

import sys
from pathlib import Path
from typing import Any

from ..errors import ChecksFailed, UsageError
from .options import Overrides


def run_checks(
    refs: list[str],
    expects: list[str],
    overrides: Overrides,
    *,
    max_cost: float | None,
    log: bool,
    junit: Path | None,
    json_out: bool,
    status: Any,
) -> None:
    from .. import render
    from .. import replay as rp
    from ..render import checks as out
    from ..replay import check

    if not refs:
        raise UsageError(
            "--check needs conversations: ids, files or globs", hint="gptcli replay --check 'golden/*.jsonl'"
        )
    expectations = check.parse_expectations(expects)
    if not expectations:
        status.warn("no --expect given: a case passes when its re-run completes")

    def plan_case(conv: Any) -> Any:
        plan = rp.plan_rerun(conv, overrides.profile, {"model": overrides.model, **overrides.settings()})
        for note in plan.notes:
            status.warn(f"{conv.id}: {note}")
        return plan

    def run_case(plan: Any) -> Any:
        est = rp.check_budget(plan, max_cost, exact=False, warn=status.warn)
        result = rp.RerunResult(None, plan, est)
        for _ in rp.rerun(plan, result, max_cost=max_cost, stream=False, log=log):
            pass
        return result

    cases = []
    for case in check.run_checks(refs, expectations, plan_case, run_case):
        cases.append(case)
        if not json_out:
            sys.stdout.write(out.case_line(case) + "\n")
            sys.stdout.flush()
    if junit is not None:
        out.junit(cases, junit)
    if json_out:
        render.print_json({"cases": [c.to_dict() for c in cases], "summary": out.summary(cases)})
    else:
        sys.stdout.write(out.summary(cases) + "\n")
        sys.stdout.flush()
    failed = sum(1 for c in cases if not c.passed)
    if failed:
        raise ChecksFailed(f"{failed} of {len(cases)} checks failed")
