"""The compatibility matrix, one command: ``python bench/compat/run.py``.

Runs each server script (``server_litellm.py``, ``server_llamacpp.py``: each installs or
finds its server, starts it on 127.0.0.1, runs gptcli against it, stops it, and writes
``bench/compat/results/<server>.json``), then writes ``docs/compatibility.md`` from those
results: the table (rows = checks, columns = servers), a footnote for every cell that is
not ok (what gptcli did and what it should do), the date and the versions.

    python bench/compat/run.py                       # run every server, then write the document
    python bench/compat/run.py --servers litellm     # run one, keep the other's last results
    python bench/compat/run.py --no-run              # only rewrite the document from the results
    python bench/compat/run.py --venv litellm=/path/to/venv --venv llamacpp=/path/to/venv

It is run by hand: the installs take minutes (llama.cpp compiles for far longer), too slow for CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOC = ROOT / "docs" / "compatibility.md"
SERVERS = ["litellm", "llamacpp"]
PYTHON = sys.executable


def run_server(name: str, venv: str | None) -> int:
    argv = [PYTHON, str(HERE / f"server_{name}.py")]
    if venv:
        argv += ["--venv", venv]
    print(f"== {name}", file=sys.stderr, flush=True)
    return subprocess.run(argv, cwd=ROOT).returncode


def load(name: str) -> dict[str, Any] | None:
    path = HERE / "results" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def gptcli_version() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head = "?"
    code = "import gptcli; print(gptcli.__version__)"
    got = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "src")})
    return f"{got.stdout.strip() or '?'} (commit {head})"


def _code(text: str) -> str:
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`" if text else "(nothing)"


def cell(res: dict[str, Any] | None, note_no: int | None) -> str:
    if res is None:
        return "n/a"
    if res["ok"]:
        return "ok"
    return f"**✗** exit {res['exit']} [{note_no}](#note-{note_no})"


def footnote(no: int, server: dict[str, Any], res: dict[str, Any]) -> str:
    lines = res["stderr_lines"]
    did = f"exit {res['exit']}, stderr {lines} line{'s' if lines != 1 else ''}"
    if lines:
        first = res["stderr_first"]
        did += f", the first {_code(first[:160] + ('...' if len(first) > 160 else ''))}"
    note = (server.get("notes") or {}).get(res["check"]) or ""
    return (
        f'<a id="note-{no}"></a>{no}. **{server["title"]}, {res["title"]}**: gptcli gave {did}. '
        f"Wrong: {'; '.join(res['problems'])}." + (f" {note}" if note else "")
    )


def render(servers: list[dict[str, Any]], ran: str) -> str:
    rows: list[tuple[str, str]] = []
    for s in servers:
        for r in s.get("results", []):
            if (r["check"], r["title"]) not in rows and r["check"] not in [c for c, _ in rows]:
                rows.append((r["check"], r["title"]))
    by = {s["server"]: {r["check"]: r for r in s.get("results", [])} for s in servers}
    notes: list[str] = []
    head = "| check | " + " | ".join(s["title"] for s in servers) + " |"
    lines = [head, "|---|" + "---|" * len(servers)]
    for check, title in rows:
        cells = []
        for s in servers:
            res = by[s["server"]].get(check)
            no = None
            if res is not None and not res["ok"]:
                no = len(notes) + 1
                notes.append(footnote(no, s, res))
            cells.append(cell(res, no) if s.get("results") else "not run")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    ok = sum(r["ok"] for s in servers for r in s.get("results", []))
    total = sum(len(s.get("results", [])) for s in servers)

    out = [
        "# Compatibility with real servers",
        "",
        "gptcli run against OpenAI-compatible servers that other projects wrote, installed from PyPI and started on",
        "127.0.0.1: every command, the errors each server really gives, and Ctrl-C mid-reply. Produced by",
        "`python bench/compat/run.py` (run by hand: the installs take minutes, llama.cpp compiles for longer);",
        "do not edit by hand. Each check is one gptcli command with a throw-away `GPTCLI_HOME` and a profile",
        "pointing at the server; a cell is **ok** when the exit code, stderr (one `gptcli: error:` line for errors,",
        "no tracebacks or server source paths) and stdout are what the README promises, and the numbered note",
        "under the table says what gptcli did otherwise, and what it should do. **n/a**: a check only the other",
        "server's script runs (an error only that server can be made to give, such as LiteLLM's mock timeout).",
        "",
        f"- **Run**: {ran}",
        f"- **gptcli**: {gptcli_version()} when this file was written, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}",
    ]
    for s in servers:
        if s.get("unavailable"):
            out.append(f"- **{s['title']}**: not available here: {s['unavailable']}")
        else:
            src = f", gptcli's src/ as of commit {s['gptcli_src']}" if s.get("gptcli_src") else ""
            out.append(f"- **{s['title']}**: {s['version']}, checked {s['date']}{src}")
    out += ["", f"{ok} of {total} cells ok.", "", *lines, ""]
    if notes:
        out += ["## Notes", "", *notes, ""]
    out += ["## The servers", ""]
    for s in servers:
        out.append(f"### {s['title']}")
        out.append("")
        if s.get("unavailable"):
            out += [f"**Not run**: {s['unavailable']}", ""]
        for k, v in (s.get("about") or {}).items():
            if isinstance(v, dict):
                out.append(f"- **{k}** (not measured here):")
                out += [f"  - **{k2}**: {v2}" for k2, v2 in v.items()]
            else:
                out.append(f"- **{k}**: {v}")
        fixtures = sorted({f for r in s.get("results", []) for f in r.get("fixtures", [])})
        if fixtures:
            out.append(
                "- **recorded error bodies** (the server's answer to gptcli's exact request, for tests): "
                + ", ".join(f"[`{Path(f).name}`](../{f})" for f in fixtures)
            )
        out.append("")
    out += [
        "## Rerunning",
        "",
        "```bash",
        "python bench/compat/run.py                      # every server (installs into bench/.venvs/ when missing)",
        "python bench/compat/server_litellm.py --only err-context,err-unknown-model   # some checks, one server",
        "python bench/compat/run.py --no-run             # rewrite this file from bench/compat/results/*.json",
        "```",
        "",
        "Each server script starts its server in its own process group on a free 127.0.0.1 port and stops it at",
        "the end; error checks also send gptcli's exact request (from `--dry-run`) to the server and save each",
        "distinct answer under `tests/fixtures/servers/<server>/` (status, headers of interest, body, the server",
        "version and what gptcli did with it), which the test suite replays on the loopback server.",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", default=",".join(SERVERS), help="comma-separated: " + ", ".join(SERVERS))
    ap.add_argument("--no-run", action="store_true", help="only rewrite docs/compatibility.md from the results")
    ap.add_argument("--venv", action="append", default=[], metavar="SERVER=DIR", help="a server's venv")
    args = ap.parse_args(argv)
    venvs = dict(v.split("=", 1) for v in args.venv)
    chosen = [s for s in args.servers.split(",") if s]
    status = 0
    if not args.no_run:
        for name in chosen:
            status |= run_server(name, venvs.get(name))
    servers = [d for d in (load(n) for n in SERVERS) if d]
    dates = sorted({s["date"][:10] for s in servers}) or [time.strftime("%Y-%m-%d", time.gmtime())]
    ran = f"{', '.join(dates)}, on a {os.cpu_count()}-core {platform.machine()} Linux machine shared with other jobs"
    DOC.write_text(render(servers, ran), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
