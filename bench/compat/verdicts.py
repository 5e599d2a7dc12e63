"""Verdicts on one gptcli run: is stdout (or the log, or an output file) what the README promises?

Each returns None when right, or a short phrase saying what was wrong; the server scripts
pick one per check (``Check.stdout``, ``Check.extra``).
"""

from __future__ import annotations

import json
import re

from harness import NOT_TRIGGERED, Run, Verdict


def nonempty(run: Run) -> str | None:
    return None if run.stdout.strip() else "empty"


def exactly(text: str) -> Verdict:
    def v(run: Run) -> str | None:
        return None if run.stdout == text + "\n" else f"{run.stdout[:80]!r} instead of {text!r}"

    return v


def choices(n: int, each: Verdict | None = None) -> Verdict:
    """``-n N`` printed as N non-empty blocks under ``--- choice i of N ---``."""

    def v(run: Run) -> str | None:
        parts = re.split(r"^--- choice \d+ of \d+ ---$", run.stdout, flags=re.M)
        blocks = [p.strip() for p in parts[1:]]
        if len(blocks) != n:
            return f"{len(blocks)} choice blocks, expected {n}"
        empty = [i + 1 for i, b in enumerate(blocks) if not b]
        return f"choice {', '.join(map(str, empty))} empty" if empty else None

    return v


def json_reply(n: int = 1, max_completion: int | None = None) -> Verdict:
    """``--json``: one object; ``text`` a string (a list of ``n`` when n > 1); usage bounded if asked."""

    def v(run: Run) -> str | None:
        try:
            obj = json.loads(run.stdout)
        except ValueError:
            return "not one JSON object"
        text = obj.get("text")
        if n == 1 and not (isinstance(text, str) and text):
            return f"text is {type(text).__name__} {str(text)[:40]!r}"
        if n > 1:
            if not isinstance(text, list):
                return f"text is a {type(text).__name__}, the README promises a list when n > 1"
            if len(text) != n or not all(text):
                return f"text has {len(text)} items ({sum(1 for t in text if t)} non-empty), expected {n}"
        if obj.get("incomplete"):
            return "marked incomplete"
        usage = obj.get("usage") or {}
        if max_completion is not None and (usage.get("completion_tokens") or 0) > max_completion:
            return f"completion_tokens {usage.get('completion_tokens')} > --max-tokens {max_completion}"
        return None

    return v


def chat_replies(n: int) -> Verdict:
    def v(run: Run) -> str | None:
        got = [ln for ln in run.stdout.splitlines() if ln.strip()]
        return None if len(got) >= n else f"{len(got)} reply lines, expected at least {n}"

    return v


def interrupted_log(run: Run) -> str | None:
    """After SIGINT mid-stream: the partial reply is in the log, marked interrupted."""
    if NOT_TRIGGERED.strip() in run.stderr:
        return "the reply finished before the signal (the check could not interrupt it)"
    rec = run.last_assistant()
    if rec is None:
        return "no assistant record in the log"
    if not rec.get("interrupted"):
        return "the log's reply is not marked interrupted"
    if not rec.get("content"):
        return "the log kept no partial text"
    return None


def complete_in_log(run: Run) -> str | None:
    """The reply the log keeps is not marked incomplete (it arrived whole)."""
    rec = run.last_assistant()
    if rec is None:
        return "no assistant record in the log"
    return "the log marks the reply incomplete" if rec.get("incomplete") else None


def batch_output(n: int, name: str = "out.jsonl") -> Verdict:
    def v(run: Run) -> str | None:
        path = run.workdir / name
        if not path.exists():
            return f"no {name}"
        recs = [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        bad = [r for r in recs if r.get("error") or not r.get("text")]
        if len(recs) != n or bad:
            first = (bad[0].get("error") or {}).get("message", "empty text") if bad else ""
            return f"{len(recs)} records, {len(bad)} failed or empty (expected {n} answers) {first[:100]}".strip()
        return None

    return v


def models_list(model: str) -> Verdict:
    def v(run: Run) -> str | None:
        try:
            ids = [m.get("id") for m in json.loads(run.stdout)]
        except (ValueError, AttributeError):
            return "not a JSON list"
        return None if model in ids else f"{model!r} not among {ids[:5]}"

    return v


def fewer_choices(asked: int, got: int = 1, *, as_json: bool = False) -> Verdict:
    """A server that ignores ``n``: what arrived, printed as such, and one warning on stderr."""
    warning = f"the server returned {got} of {asked} choices"

    def v(run: Run) -> str | None:
        if as_json:
            try:
                obj = json.loads(run.stdout)
            except ValueError:
                return "not one JSON object"
            text = obj.get("text")
            if not isinstance(text, list) or len(text) != got or not all(text):
                return f"text is {str(text)[:60]!r}, expected a list of {got} non-empty (the README: a list when n > 1)"
            if warning not in (obj.get("notes") or []):
                return f"no note {warning!r} in --json"
            return None
        blocks = [p.strip() for p in re.split(r"^--- choice \d+ of \d+ ---$", run.stdout, flags=re.M)[1:]]
        if len(blocks) > got or not run.stdout.strip() or not all(blocks):
            return f"{len(blocks)} choice blocks ({sum(1 for b in blocks if not b)} empty), expected {got}"
        if sum(warning in line for line in run.stderr.splitlines()) != 1:
            return f"no single warning {warning!r} on stderr"
        return None

    return v
