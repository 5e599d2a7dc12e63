"""Recorded error bodies: the server's own answers to gptcli's exact requests.

For a check marked ``record``, gptcli's request is taken from ``--dry-run`` (the same
flags), sent straight to the server (plain, and streamed unless the check says not), and
each distinct answer that is not a success (an HTTP error, or a 200 event stream in which
no choice finishes) is saved to ``tests/fixtures/servers/<server>/<check>[-stream].json``
with the server's version and what gptcli did with it. Issue 15's tests replay them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from harness import FIXTURES, HEADERS_OF_INTEREST, ROOT, Check, Result, Server, gptcli


def dry_run_request(server: Server, check: Check, home: Path, workdir: Path) -> dict[str, Any] | None:
    """gptcli's exact request for this check, from ``--dry-run``."""
    if not check.argv or check.argv[0] != "ask":
        return None
    argv = [a for a in check.argv if a not in ("--json", "--no-stream")]
    dry = Check(check.id, "", [*argv, "--dry-run"], stdin=check.stdin, key=check.key)
    run = gptcli(server, dry, home, workdir)
    try:
        return dict(json.loads(run.stdout))
    except ValueError:
        return None


def send(url: str, body: dict[str, Any], key: str | None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def _anomalous_stream(raw: bytes, n: int) -> bool:
    """A 200 event stream in which one of the ``n`` requested choices never says it finished."""
    finished = set()
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
            with contextlib.suppress(ValueError):
                for ch in json.loads(line[5:]).get("choices") or []:
                    if ch.get("finish_reason"):
                        finished.add(ch.get("index", 0))
    return not set(range(n)) <= finished


_VOLATILE = re.compile(r"chatcmpl-[\w-]+|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|\"created\": ?\d+")


def _shortened(body: dict[str, Any]) -> dict[str, Any]:
    """The request body with long message texts cut (the over-long prompt is 80 kB)."""
    out = dict(body)
    msgs = []
    for m in body.get("messages") or []:
        c = m.get("content")
        if isinstance(c, str) and len(c) > 300:
            m = {**m, "content": f"{c[:120]}... [{len(c):,} characters in all]"}
        msgs.append(m)
    out["messages"] = msgs
    return out


def record(
    server: Server, check: Check, home: Path, workdir: Path, seen: dict[str, Path], today: Result | None = None
) -> list[str]:
    """Send gptcli's request for ``check`` to the server; save each distinct non-success answer."""
    req = dry_run_request(server, check, home, workdir)
    if not req:
        return []
    key = server.api_key if check.key == "server" else check.key
    if check.key == "server" and key is None:
        key = "sk-compat-unchecked"
    if check.key is None:
        key = "sk-no-key-required"  # what gptcli sends when no key is set (client.PLACEHOLDER_KEY)
    saved = []
    forms = [False, True] if check.record_stream else [False]
    for stream in forms:
        body = dict(req["body"])
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        status, headers, raw = send(req["url"], body, key)
        if status == 200 and not (stream and _anomalous_stream(raw, int(body.get("n") or 1))):
            continue
        text = raw.decode("utf-8", "replace")
        digest = hashlib.sha256(f"{status} {_VOLATILE.sub('', text)}".encode()).hexdigest()[:12]
        if digest in seen:
            note = json.loads(seen[digest].read_text(encoding="utf-8"))
            if check.id not in note["checks"]:
                note["checks"].append(check.id)
                seen[digest].write_text(json.dumps(note, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            if str(seen[digest].relative_to(ROOT)) not in saved:
                saved.append(str(seen[digest].relative_to(ROOT)))
            continue
        parsed: Any
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        suffix = "-stream" if stream and not check.id.endswith("-stream") else ""
        path = FIXTURES / server.name / f"{check.id}{suffix}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        note = {
            "server": server.title,
            "server_version": server.version,
            "recorded": time.strftime("%Y-%m-%d"),
            "recorded_by": f"bench/compat/server_{server.name}.py (check {check.id!r})",
            "checks": [check.id],
            "what": check.what or check.title,
            "request": {
                "method": "POST",
                "path": urllib.parse.urlparse(req["url"]).path,
                "stream": stream,
                "body": _shortened(body),
            },
            "response": {
                "status": status,
                "headers": {k: headers[k] for k in HEADERS_OF_INTEREST if k in headers},
                "body": parsed,
            },
        }
        if today is not None:
            note["gptcli_at_recording"] = {
                "argv": today.argv,
                "exit": today.exit,
                "expected_exit": today.expect_exit,
                "stderr_first_line": today.stderr_first,
                "stderr_lines": today.stderr_lines,
            }
        path.write_text(json.dumps(note, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        seen[digest] = path
        saved.append(str(path.relative_to(ROOT)))
    return saved
