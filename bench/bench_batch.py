"""Benchmark of ``gptcli batch`` (issue 6): throughput against a 200 ms server, and memory.

Rows (one loopback server, ``tests/fakeserver.py --delay 0.2``, answering every request
after 200 ms):

* ``gptcli batch`` with 1,000 prompts at ``--concurrency 64``: wall time of the whole
  command (start-up and imports included) against the physical limit 1000 / 64 x 0.2 s
  = 3.125 s, target within 1.3x; the CPU time of the gptcli process; and the send phase
  alone (the summary's ``elapsed``, from the first request to the last record).
* Side by side, what users do without a batch command: a shell loop of ``gptcli ask`` per
  line, and ``xargs -P 8 gptcli ask``. Those spawn one process per prompt, so they are
  timed on fewer prompts (50; 20 with --quick) and **extrapolated** linearly to 1,000
  (labelled as such): per-prompt cost does not shrink with more prompts.
* ``gptcli batch --dry-run`` on 1,000,000 input lines (and on 10,000, to show memory is
  flat): peak RSS of the process (``wait4``'s ``ru_maxrss``) and its wall time. The dry
  run reads every line, counts tokens exactly and prices the batch.

``run(quick=False) -> dict`` in ``bench/harness.py``'s format; run alone it prints the
JSON: ``python bench/bench_batch.py [--quick]``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from harness import Cmd, Server, clean_env, fmt_s, measure, temp_home

ITEMS = 1000
CONCURRENCY = 64
DELAY = 0.2
LIMIT_S = ITEMS / CONCURRENCY * DELAY  # 3.125 s: no client can do better
TARGET_RATIO = 1.3
BIG_LINES = 1_000_000
SMALL_LINES = 10_000


def _prompts(path: Path, count: int) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(count):
            if i % 5 == 4:
                f.write(f"第 {i} 个问题:请用一句话解释什么是神经网络。\n")
            else:
                f.write(f"Question {i}: explain in one sentence what a hash table is.\n")
    return path


def _peak(argv: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, exit code) of one run, from wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        proc.stderr.close()
    return wall, usage.ru_maxrss, proc.returncode


def run(quick: bool = False) -> dict[str, Any]:
    runs = 3 if quick else 7
    few = 20 if quick else 50
    gptcli = harness.gptcli_argv()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with temp_home("gptcli-bench-batch-") as home, Server(delay=DELAY) as server:
        env = clean_env(home, server.url)
        prompts = _prompts(home / "prompts.txt", ITEMS)
        few_prompts = _prompts(home / f"prompts{few}.txt", few)
        out = home / "out.jsonl"
        summary = home / "summary.json"
        elapsed: list[float] = []

        def check(path: Path | None) -> str | None:
            lines = out.read_bytes().count(b"\n") if out.exists() else 0
            if lines != ITEMS:
                return f"{lines} records, not {ITEMS}"
            try:
                elapsed.append(json.loads(summary.read_text())["elapsed"])
            except (OSError, ValueError, KeyError) as e:
                return f"no summary: {e}"
            return None

        batch_cmd = Cmd(
            f"gptcli batch ({ITEMS:,} prompts, -j {CONCURRENCY})",
            [*gptcli, "batch", str(prompts), "-o", str(out), "--overwrite", "-j", str(CONCURRENCY), "--json"],
            env,
            stdout_path=summary,
            check=check,
        )
        (batch,) = measure([batch_cmd], runs=runs, warmup=1)
        send = sorted(elapsed[-len(batch.wall) :]) if batch.wall else []
        ratio = batch.median / LIMIT_S if batch.ok else float("nan")
        rows.append(
            {
                "name": batch_cmd.label,
                "value": f"{fmt_s(batch.median)} ({fmt_s(batch.min)}-{fmt_s(batch.max)})",
                "baseline": f"physical limit {ITEMS}/{CONCURRENCY} x {DELAY:g} s = {fmt_s(LIMIT_S)}",
                "ratio": round(ratio, 3),
                "target": f"<= {TARGET_RATIO}x",
                "met": bool(ratio <= TARGET_RATIO),
                "cpu": fmt_s(batch.cpu_median),
                "note": (
                    f"send phase (first request to last record) median {fmt_s(send[len(send) // 2])}, "
                    f"{send[len(send) // 2] / LIMIT_S:.2f}x the limit; the rest is start-up and `import openai`"
                    if send
                    else "; ".join(batch.failures[:2])
                ),
                "runs": len(batch.wall),
            }
        )

        # What users do without a batch command: one process per prompt.
        ask = " ".join(shlex.quote(a) for a in [*gptcli, "ask", "--no-log"])
        loop_cmd = Cmd(
            f"shell loop of gptcli ask ({few} prompts)",
            f'while IFS= read -r line; do {ask} "$line" < /dev/null || exit 1; done < {shlex.quote(str(few_prompts))}',
            env,
            shell=True,
        )
        xargs_cmd = Cmd(
            f"xargs -P 8 gptcli ask ({few} prompts)",
            f"xargs -d '\\n' -P 8 -n 1 {ask} < {shlex.quote(str(few_prompts))}",
            env,
            shell=True,
        )
        peers = measure([loop_cmd, xargs_cmd], runs=1 if quick else 2, warmup=0)
        for cmd, stats in zip((loop_cmd, xargs_cmd), peers, strict=True):
            scale = ITEMS / few
            rows.append(
                {
                    "name": cmd.label,
                    "value": f"{fmt_s(stats.median)} measured",
                    "baseline": f"extrapolated to {ITEMS:,} prompts: {fmt_s(stats.median * scale)}",
                    "ratio": round(stats.median * scale / batch.median, 1) if batch.ok and stats.ok else None,
                    "target": "gptcli batch is faster",
                    "met": bool(stats.ok and batch.ok and stats.median * scale > batch.median),
                    "cpu": f"{fmt_s(stats.cpu_median)} ({fmt_s(stats.cpu_median * scale)} extrapolated)",
                    "note": "ratio = extrapolated time / gptcli batch time"
                    + (f"; failed: {stats.failures[0]}" if stats.failures else ""),
                    "runs": len(stats.wall),
                }
            )

        # Memory on a million lines: --dry-run reads, counts and prices everything.
        memory = {}
        for lines in (SMALL_LINES, BIG_LINES):
            path = _prompts(home / f"lines{lines}.txt", lines)
            wall, peak_kib, code = _peak([*gptcli, "batch", str(path), "--dry-run"], env)
            memory[lines] = (wall, peak_kib, code)
            path.unlink()
        small, big = memory[SMALL_LINES], memory[BIG_LINES]
        growth = big[1] / small[1] if small[1] else float("nan")
        rows.append(
            {
                "name": f"gptcli batch --dry-run, {BIG_LINES:,} lines",
                "value": f"peak RSS {big[1] / 1024:.0f} MiB, {fmt_s(big[0])}",
                "baseline": f"{SMALL_LINES:,} lines: peak RSS {small[1] / 1024:.0f} MiB, {fmt_s(small[0])}",
                "ratio": round(growth, 2),
                "target": "flat (100x the lines, about the same memory)",
                "met": bool(big[2] == 0 and small[2] == 0 and growth < 1.5),
                "note": f"exit codes {small[2]}, {big[2]}; tokens counted exactly (o200k_base) for every line",
            }
        )
    notes.append(
        f"The server answers every request after {DELAY * 1000:.0f} ms and serves {CONCURRENCY} connections "
        f"at once, so {ITEMS:,} requests cannot finish in less than {fmt_s(LIMIT_S)}. The server runs on the "
        "same 2 cores as the client; its own CPU time is not counted in gptcli's."
    )
    notes.append(
        "gptcli batch sends through one `openai.AsyncOpenAI` client (SDK retries off, its own retry loop), "
        "reads the input twice (plan, then send) and appends one flushed JSONL line per result."
    )
    return {
        "title": "gptcli batch (issue 6)",
        "rows": rows,
        "notes": notes,
        "command": "python bench/bench_batch.py" + (" --quick" if quick else ""),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2, ensure_ascii=False))
