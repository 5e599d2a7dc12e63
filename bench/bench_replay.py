"""Benchmark of ``gptcli replay`` listing 10,000 stored conversations (stdlib + gptcli only).

Creates 10,000 synthetic conversations (1-6 turns, English and Chinese, usage, costs
and latencies as ``ask`` records them; about 20 MB) in a temporary ``GPTCLI_HOME``,
then times the real command in fresh processes, after one warm-up run each:

* ``cold``: ``gptcli replay --json`` with no index (every file is read and the index
  written), the index deleted before each run;
* ``warm``: ``gptcli replay --json`` with the index in place (the normal case);
* ``warm_changed``: the same after 10 conversations got a new turn (those 10 are re-read);
* ``warm_text``: ``gptcli replay`` piped (tab-separated rows, all 10,000);
* ``grep``: ``gptcli replay --json --grep 反向传播`` (matches 1 in 100: every file is read,
  few are parsed);
* ``version``: ``gptcli --version``, the start-up floor every command pays.

Reports the median and min-max of wall time (seconds) per row, the median CPU time
of the gptcli process (steadier than wall time on a busy machine), the rows listed,
the load average, and the target (warm listing well under a second). Prints one JSON object.
``bench/run.py`` imports this and calls ``run(quick)``; ``quick`` takes 3 runs per row
instead of 7 (still 10,000 conversations). Usage: ``python bench/bench_replay.py [--quick]``.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

CONVERSATIONS = 10_000
TARGET_WARM_S = 1.0  # "well under a second"

_EN = (
    "Explain how gradient descent finds a minimum, with a short example in Python.",
    "Write a shell one-liner that counts the lines of every *.py file under src/.",
    "What is the difference between a process and a thread?",
    "Summarise the following meeting notes in three bullet points.",
    "Translate this paragraph into formal English and keep the technical terms.",
)
_ZH = (
    "请解释一下什么是神经网络?",
    "用三句话总结这篇文章的主要观点。",
    "帮我把这段代码改写得更易读一些。",
    "什么是注意力机制?举一个简单的例子。",
)
_ANSWER = (
    "Here is a short explanation.\n\n1. First, the idea.\n2. Then, an example:\n\n"
    "```python\nfor step in range(100):\n    x -= lr * grad(x)\n```\n\nThat is all there is to it. "
)


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_store(home: Path, count: int = CONVERSATIONS, seed: int = 5) -> int:
    """Write ``count`` conversations as gptcli's store writes them; return the bytes written."""
    rng = random.Random(seed)
    directory = home / "data" / "conversations"
    directory.mkdir(parents=True, mode=0o700)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    total = 0
    for i in range(count):
        cid = f"{rng.getrandbits(48):012x}"
        t = start + timedelta(minutes=7 * i)
        model = rng.choice(("gpt-4o-mini", "gpt-4o", "o3", "gpt-4.1-mini"))
        profile = rng.choice(("default", "coder", "translator", "concise"))
        lines = [
            {
                "v": 1,
                "type": "meta",
                "id": cid,
                "created": _iso(t),
                "gptcli": "0.1.0",
                "profile": profile,
                "settings": {
                    "name": profile,
                    "model": model,
                    "temperature": 0.7,
                    "max_tokens": None,
                    "n": 1,
                    "stop": [],
                    "params": {},
                    "headers": {},
                },
            }
        ]
        for turn in range(rng.randint(1, 6)):
            prompt = rng.choice(_ZH if rng.random() < 0.4 else _EN)
            if i % 100 == 0 and turn == 0:
                prompt += " 反向传播是怎么工作的?"
            t += timedelta(seconds=rng.randint(5, 120))
            lines.append({"v": 1, "type": "message", "role": "user", "content": prompt, "time": _iso(t)})
            p, c = 20 + 150 * turn + rng.randint(0, 50), rng.randint(20, 400)
            t += timedelta(seconds=rng.uniform(0.3, 9))
            lines.append(
                {
                    "v": 1,
                    "type": "message",
                    "role": "assistant",
                    "content": _ANSWER * rng.randint(1, 4),
                    "time": _iso(t),
                    "model": model,
                    "finish_reason": "stop",
                    "usage": {
                        "prompt_tokens": p,
                        "completion_tokens": c,
                        "total_tokens": p + c,
                        "cached_tokens": 0,
                        "reasoning_tokens": 0,
                    },
                    "estimated_prompt_tokens": p + 5,
                    "estimate_exact": False,
                    "estimated_cost": [None, None],
                    "cost": round((p * 0.15 + c * 0.6) / 1e6, 10),
                    "latency": round(rng.uniform(0.3, 9), 4),
                }
            )
        data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in lines).encode()
        fd = os.open(directory / f"{cid}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.close(fd)
        total += len(data)
    return total


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GPTCLI_"))}
    env["GPTCLI_HOME"] = str(home)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONSAFEPATH", None)
    return env


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _time(args: list[str], env: dict[str, str], before: Any = None) -> tuple[float, float, bytes]:
    """(wall seconds, CPU seconds of the child, its stdout)."""
    if before is not None:
        before()
    cpu = _cpu()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gptcli", *args], env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"gptcli {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()[:500]}")
    return elapsed, _cpu() - cpu, proc.stdout


def _row(args: list[str], env: dict[str, str], runs: int, before: Any = None) -> dict[str, Any]:
    _time(args, env, before)  # warm-up (imports, page cache)
    times = []
    cpus = []
    out = b""
    for _ in range(runs):
        t, c, out = _time(args, env, before)
        times.append(t)
        cpus.append(c)
    row: dict[str, Any] = {
        "command": "gptcli " + " ".join(args),
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        # CPU time (user + sys) of the gptcli process: less sensitive than wall time to other load.
        "cpu_median_s": round(statistics.median(cpus), 4),
        "runs": runs,
    }
    if "--json" in args:
        row["rows"] = len(json.loads(out))
    elif args and args[0] == "replay":
        row["rows"] = out.count(b"\n")
    return row


def run(quick: bool = False) -> dict[str, Any]:
    runs = 3 if quick else 7
    tmp = Path(tempfile.mkdtemp(prefix="gptcli-bench-replay-"))
    try:
        home = tmp / "home"
        started = time.perf_counter()
        size = make_store(home)
        made = time.perf_counter() - started
        env = _env(home)
        index = home / "cache" / "replay-index.json"

        def drop_index() -> None:
            index.unlink(missing_ok=True)

        results: dict[str, Any] = {
            "version": _row(["--version"], env, runs),
            "cold": _row(["replay", "--json"], env, runs, drop_index),
            "warm": _row(["replay", "--json"], env, runs),
        }
        directory = home / "data" / "conversations"
        names = sorted(p.name for p in directory.iterdir())[:10]
        counter = iter(range(1_000_000))

        def touch_ten() -> None:
            n = next(counter)
            for name in names:
                with open(directory / name, "a", encoding="utf-8") as f:
                    f.write(
                        json.dumps(
                            {
                                "v": 1,
                                "type": "message",
                                "role": "user",
                                "content": f"more {n}",
                                "time": _iso(datetime.now(UTC)),
                            }
                        )
                        + "\n"
                    )

        results["warm_changed"] = _row(["replay", "--json"], env, runs, touch_ten)
        results["warm_text"] = _row(["replay"], env, runs)
        results["grep"] = _row(["replay", "--json", "--grep", "反向传播"], env, runs)
        index_bytes = index.stat().st_size
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    warm = results["warm"]["median_s"]
    return {
        "benchmark": "replay listing",
        "conversations": CONVERSATIONS,
        "store_mb": round(size / 1e6, 1),
        "index_mb": round(index_bytes / 1e6, 2),
        "setup_s": round(made, 2),
        "results": results,
        "target": {"warm_median_s_max": TARGET_WARM_S, "met": warm < TARGET_WARM_S},
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_1min": round(os.getloadavg()[0], 2),  # other work on the machine skews every figure
        },
        "quick": quick,
    }


def main() -> None:
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
