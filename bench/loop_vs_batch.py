"""40 prompts from a shell loop (``xargs -P 8 gptcli ask``) against one ``gptcli batch`` (issue 23, item 10).

The README used to say gptcli "starts fast enough to call from a loop". This measures
what a loop costs: both sides send the same 40 prompts to the same loopback server
(``tests/fakeserver.py``, answering at once), so the difference is gptcli's own cost
per process (interpreter start, imports, profile, key, one HTTP connection each)
against one process that sends them all over one connection pool.

Run: ``python bench/loop_vs_batch.py [--prompts 40] [--rounds 3]``; prints one line per
side (median wall time of the rounds, min-max) and the ratio. The numbers in the README
come from this script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakeserver import FakeServer  # noqa: E402


def timed(cmd: list[str] | str, env: dict[str, str], *, shell: bool = False) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, shell=shell, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, FakeServer() as server:
        prompts = Path(tmp) / "prompts.txt"
        prompts.write_text("".join(f"question number {i}\n" for i in range(args.prompts)), encoding="utf-8")
        env = dict(os.environ)
        env.update(
            PYTHONPATH=str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", ""),
            OPENAI_BASE_URL=server.url,
            OPENAI_API_KEY="sk-bench",
            GPTCLI_HOME=str(Path(tmp) / "home"),
            NO_PROXY="127.0.0.1,localhost",
        )
        gptcli = f"{sys.executable} -m gptcli"
        loop = f"xargs -d '\\n' -P 8 -n 1 {gptcli} ask --no-log < {prompts} > /dev/null"
        batch = [sys.executable, "-m", "gptcli", "batch", str(prompts), "-o", str(Path(tmp) / "out.jsonl")]
        timed(f"echo warm | {gptcli} ask --no-log", env, shell=True)  # page cache, __pycache__, price cache
        loops, batches = [], []
        for _ in range(args.rounds):  # interleaved, so a burst of load hits both sides alike
            loops.append(timed(loop, env, shell=True))
            (Path(tmp) / "out.jsonl").unlink(missing_ok=True)
            batches.append(timed(batch, env))
        requests = len(server.chat_requests())
    expected = (args.rounds * 2) * args.prompts + 1
    if requests != expected:
        print(f"warning: the server saw {requests} requests, expected {expected}", file=sys.stderr)

    def line(name: str, xs: list[float]) -> str:
        return f"{name:<40} {statistics.median(xs):6.2f} s  (min {min(xs):.2f}, max {max(xs):.2f}, {len(xs)} rounds)"

    print(line(f"xargs -P 8 gptcli ask x {args.prompts}", loops))
    print(line(f"gptcli batch of {args.prompts}", batches))
    print(f"ratio: the loop takes {statistics.median(loops) / statistics.median(batches):.1f}x as long")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
