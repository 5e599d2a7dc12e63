"""gptcli's benchmarks, one command: ``python bench/run.py [--quick]``.

Starts loopback OpenAI-compatible servers (``tests/fakeserver.py``), times gptcli against
its baselines and its peers, and rewrites ``docs/benchmarks.md`` with the figures, the
machine, the date and the exact command (raw figures also go to ``bench/.results/``).

Rows and targets (issue 9 and the count, chat, replay and batch issues):

* start-up: ``gptcli --version`` / ``--help`` at most 1.5x ``python -c "import typer"``,
  and openai never imported;
* ``gptcli ask``, short prompt, not streamed: at most 1.1x a minimal openai SDK script
  sending the same request (``bench/sdk_minimal.py``);
* a 2,000-token streamed reply piped to a file: at most 1.1x the same script streaming;
* rows from other modules, each ``bench/bench_<name>.py`` exposing
  ``run(quick: bool = False) -> dict`` (see ``bench/harness.py``): count, render, batch,
  replay. A missing or failing module is reported in its row; the run goes on;
* peers (llm, shell-gpt) installed from PyPI into ``bench/.venvs/`` and pointed at the
  same server with isolated homes: start-up, one request, 200 prompts in a shell loop.

Method (``bench/harness.py``): commands of one row are interleaved, after warm-up rounds;
medians with min-max; wall time and the child's CPU time; ratios within one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from harness import ROOT, Cmd, Stats, fmt_s, measure

BENCH = ROOT / "bench"
DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS = BENCH / ".results"
VENVS = BENCH / ".venvs"
NOTES = BENCH / "profile_notes.md"

PROMPT = "Say hello in one short sentence."
STREAM_TOKENS = 2000
MODULES = [
    ("count", "gptcli count (issue 3)"),
    ("render", "Markdown rendering on a terminal (issue 4)"),
    ("batch", "gptcli batch (issue 6)"),
    ("replay", "gptcli replay listing (issue 5)"),
]
# Peers: venv name, PyPI requirement(s), the executable, why extra requirements are there.
PEERS: dict[str, dict[str, Any]] = {
    "llm": {"pip": ["llm"], "exe": "llm", "dist": "llm"},
    "shell-gpt": {
        "pip": ["shell-gpt", "click"],
        "exe": "sgpt",
        "dist": "shell-gpt",
        "why": "shell-gpt 1.5.1 imports `click`, which typer 0.29 (its dependency) no longer installs; "
        "without `click` added, `sgpt` fails at start with ModuleNotFoundError",
    },
}
HEAVY = ("openai", "tiktoken", "genai_prices", "rich", "pydantic", "prompt_toolkit")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.runs = args.runs or (5 if self.quick else 20)
        self.warmup = 1 if self.quick else 2
        # Another checkout (--src) runs as `python -m gptcli`: the installed console script
        # imports this checkout's entry point, which the other one may not have.
        self.gptcli = [sys.executable, "-m", "gptcli"] if args.src else harness.gptcli_argv()
        self.py = harness.python()
        self.results: dict[str, Any] = {}
        self.home = Path()
        self.src_env: dict[str, str] = {"PYTHONPATH": args.src} if args.src else {}
        # --compare-src: the same rows also time another checkout, run the way the old console
        # script did (gptcli.cli:main), e.g. the tree before a change.
        self.before = (
            [self.py, "-c", "import sys; sys.argv[0] = 'gptcli'; from gptcli.cli import main; sys.exit(main())"]
            if args.compare_src
            else None
        )

    def log(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    def env(self, url: str | None = None, **extra: str) -> dict[str, str]:
        return harness.clean_env(self.home, url, **self.src_env, **extra)

    def before_cmds(self, label: str, args: list[str], url: str | None = None, **kw: Any) -> list[Cmd]:
        """The same command on the --compare-src checkout (nothing without it)."""
        if self.before is None:
            return []
        env = harness.clean_env(self.home, url, PYTHONPATH=self.args.compare_src)
        return [Cmd(f"before: {label}", [*self.before, *args], env, **kw)]

    # -- helpers ---------------------------------------------------------------------

    def out(self, name: str) -> Path:
        d = self.home / "out"
        d.mkdir(exist_ok=True)
        return d / name

    def captured_bodies(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The exact bodies gptcli sends (not streamed, streamed), read off a test server."""
        sys.path.insert(0, str(ROOT / "tests"))
        from fakeserver import FakeServer

        bodies = []
        with FakeServer() as server:
            for flags in (["--no-stream"], []):
                proc = subprocess.run(
                    [*self.gptcli, "ask", *flags, "--no-log", PROMPT],
                    env=self.env(server.url),
                    capture_output=True,
                    timeout=120,
                )
                if proc.returncode != 0:
                    raise RuntimeError(f"gptcli ask failed: {proc.stderr.decode(errors='replace')[-400:]}")
            for req in server.chat_requests():
                bodies.append(req)
        return bodies[0], bodies[1]

    def imports_of(self, argv: list[str], env: dict[str, str]) -> tuple[set[str], list[tuple[str, float]], int]:
        """Modules a command imports (``-X importtime``), self time per top-level package, exit code.

        The command runs once first, unrecorded: caches (byte code, prices) warm, as for timing.
        """
        subprocess.run(argv, env=env, capture_output=True, timeout=120)
        proc = subprocess.run(argv, env={**env, "PYTHONPROFILEIMPORTTIME": "1"}, capture_output=True, timeout=120)
        modules: set[str] = set()
        per_pkg: dict[str, float] = {}
        for line in proc.stderr.decode("utf-8", "replace").splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            parts = line[len("import time:") :].split("|")
            if len(parts) < 3:
                continue
            name = parts[2].strip()
            modules.add(name)
            top = name.split(".")[0]
            per_pkg[top] = per_pkg.get(top, 0.0) + int(parts[0]) / 1e6
        return modules, sorted(per_pkg.items(), key=lambda kv: -kv[1]), proc.returncode

    # -- rows ------------------------------------------------------------------------

    def startup(self) -> None:
        self.log("start-up: gptcli --version / --help vs python -c 'import typer'")
        env = self.env()

        def says_version(path: Path | None) -> str | None:
            text = path.read_text() if path else ""
            return None if text.startswith("gptcli ") else f"unexpected --version output {text[:60]!r}"

        cmds = [
            Cmd(
                "gptcli --version", [*self.gptcli, "--version"], env, stdout_path=self.out("v.txt"), check=says_version
            ),
            Cmd("gptcli --help", [*self.gptcli, "--help"], env),
            Cmd('python -c "import typer"', [self.py, "-c", "import typer"], env),
            *self.before_cmds("gptcli --version", ["--version"]),
            *self.before_cmds("gptcli --help", ["--help"]),
        ]
        stats = measure(cmds, runs=self.runs * 2, warmup=self.warmup)
        imports = {}
        for label, argv in (("--version", ["--version"]), ("--help", ["--help"])):
            mods, per_pkg, _ = self.imports_of([*self.gptcli, *argv], env)
            imports[label] = {"heavy": sorted(h for h in HEAVY if h in mods), "top": per_pkg[:8]}
        self.results["startup"] = {"stats": stats, "imports": imports}

    def import_guards(self, url: str) -> None:
        """Which heavy libraries each command loads (the structural half of start-up speed)."""
        self.log("imports per command")
        env = self.env(url)
        rows = {}
        for label, argv in (
            ("gptcli --version", ["--version"]),
            ("gptcli --help", ["--help"]),
            ("gptcli count hi", ["count", "hi"]),
            ("gptcli ask --dry-run hi", ["ask", "--dry-run", "hi"]),
            ("gptcli ask hi (piped)", ["ask", "--no-log", "hi"]),
            ("gptcli ask -v hi (exact count)", ["ask", "-v", "--no-log", "hi"]),
        ):
            mods, per_pkg, code = self.imports_of([*self.gptcli, *argv], env)
            rows[label] = {"heavy": sorted(h for h in HEAVY if h in mods), "code": code, "top": per_pkg[:8]}
        self.results["imports"] = rows

    def ask(self, url: str, body: dict[str, Any]) -> None:
        self.log("ask: gptcli ask --no-stream vs the minimal SDK script")
        env = self.env(url)
        expected = f"echo: {PROMPT}\n"

        def echo(path: Path | None) -> str | None:
            text = path.read_text(encoding="utf-8") if path else ""
            return None if text == expected else f"unexpected output {text[:80]!r}"

        cmds = [
            Cmd(
                "gptcli ask --no-stream",
                [*self.gptcli, "ask", "--no-stream", PROMPT],
                env,
                stdout_path=self.out("ask.txt"),
                check=echo,
            ),
            Cmd(
                "gptcli ask --no-stream -v (exact count shown)",
                [*self.gptcli, "ask", "--no-stream", "-v", PROMPT],
                env,
                stdout_path=self.out("ask-v.txt"),
                check=echo,
            ),
            Cmd(
                "minimal SDK script",
                [self.py, str(BENCH / "sdk_minimal.py"), json.dumps(body)],
                env,
                stdout_path=self.out("sdk.txt"),
                check=echo,
            ),
            *self.before_cmds(
                "gptcli ask --no-stream", ["ask", "--no-stream", PROMPT], url, stdout_path=self.out("b.txt"), check=echo
            ),
        ]
        self.results["ask"] = {"stats": measure(cmds, runs=self.runs, warmup=self.warmup), "body": body}

    def stream(self, url: str, body: dict[str, Any]) -> None:
        self.log(f"stream: {STREAM_TOKENS}-token reply piped to a file")
        sys.path.insert(0, str(ROOT / "tests"))
        from fakeserver import markdown_tokens

        expected = "".join(markdown_tokens(STREAM_TOKENS)).strip()
        env = self.env(url)

        def whole(path: Path | None) -> str | None:
            text = path.read_text(encoding="utf-8").strip() if path else ""
            if text == expected:
                return None
            return f"reply differs from the {STREAM_TOKENS} tokens sent ({len(text)} chars)"

        cmds = [
            Cmd(
                "gptcli ask > file", [*self.gptcli, "ask", PROMPT], env, stdout_path=self.out("stream.txt"), check=whole
            ),
            Cmd(
                "minimal SDK script > file",
                [self.py, str(BENCH / "sdk_minimal.py"), json.dumps(body)],
                env,
                stdout_path=self.out("sdk-stream.txt"),
                check=whole,
            ),
            *self.before_cmds("gptcli ask > file", ["ask", PROMPT], url, stdout_path=self.out("bs.txt"), check=whole),
        ]
        self.results["stream"] = {"stats": measure(cmds, runs=self.runs, warmup=self.warmup), "body": body}

    def modules(self) -> None:
        rows = {}
        for name, title in MODULES:
            path = BENCH / f"bench_{name}.py"
            if self.args.only and name not in self.args.only:
                continue
            if not path.exists():
                rows[name] = {"title": title, "error": f"not measured: bench/bench_{name}.py does not exist yet"}
                continue
            self.log(f"module bench_{name}.run(quick={self.quick})")
            result_file = self.home / f"module-{name}.json"
            driver = (
                "import json, sys; sys.path.insert(0, sys.argv[1]); import importlib; "
                "m = importlib.import_module(sys.argv[2]); r = m.run(quick=sys.argv[3] == '1'); "
                "open(sys.argv[4], 'w').write(json.dumps(r, default=str))"
            )
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
            env.update(self.src_env)
            start = time.perf_counter()
            try:
                proc = subprocess.run(
                    [self.py, "-c", driver, str(BENCH), f"bench_{name}", "1" if self.quick else "0", str(result_file)],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    timeout=900 if self.quick else 3600,
                )
                if proc.returncode != 0 or not result_file.exists():
                    tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
                    rows[name] = {
                        "title": title,
                        "error": f"bench_{name}.run failed (exit {proc.returncode}): " + " | ".join(tail)[:400],
                    }
                else:
                    data = json.loads(result_file.read_text())
                    if not isinstance(data, dict):
                        data = {"value": data}
                    data.setdefault("title", title)
                    rows[name] = data
            except subprocess.TimeoutExpired:
                rows[name] = {"title": title, "error": f"bench_{name}.run timed out"}
            rows[name]["elapsed_s"] = round(time.perf_counter() - start, 1)
        self.results["modules"] = rows

    # -- peers -------------------------------------------------------------------------

    def setup_peer(self, name: str) -> dict[str, Any]:
        spec = PEERS[name]
        venv = VENVS / name
        exe = venv / "bin" / spec["exe"]
        info: dict[str, Any] = {"venv": str(venv.relative_to(ROOT)), "exe": str(exe), "why": spec.get("why")}
        try:
            if not exe.exists() or self.args.reinstall_peers:
                self.log(f"installing {name} from PyPI into {info['venv']}")
                if not (venv / "bin" / "python").exists():
                    subprocess.run([self.py, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
                proc = subprocess.run(
                    [
                        str(venv / "bin" / "python"),
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        *spec["pip"],
                    ],
                    capture_output=True,
                    timeout=900,
                )
                if proc.returncode != 0:
                    tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-2:]
                    info["error"] = f"pip install {' '.join(spec['pip'])} failed: {' | '.join(tail)[:300]}"
                    return info
            versions = subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-c",
                    "import importlib.metadata as m, sys\nfor d in sys.argv[1:]:\n"
                    "    try: print(d, m.version(d))\n    except Exception: print(d, '-')",
                    spec["dist"],
                    "openai",
                    "httpx",
                    "httpx2",
                    "typer",
                    "click",
                    "rich",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.split()
            info["versions"] = dict(zip(versions[::2], versions[1::2], strict=False))
        except Exception as e:  # report, never fail the whole run
            info["error"] = f"{type(e).__name__}: {e}"
        return info

    def peer_commands(self, url: str) -> dict[str, dict[str, Any]]:
        """Each tool configured against ``url`` in its own home: env and argv prefix for one prompt."""
        tools: dict[str, dict[str, Any]] = {
            "gptcli": {"env": self.env(url), "ask": [*self.gptcli, "ask"], "version": [*self.gptcli, "--version"]},
        }
        for name in PEERS:
            info = self.setup_peer(name)
            self.results.setdefault("peer_info", {})[name] = info
            if "error" in info:
                continue
            home = self.home / f"peer-{name}"
            if name == "llm":
                user = home / "llm"
                user.mkdir(parents=True, exist_ok=True)
                # llm's documented way to reach an OpenAI-compatible server.
                (user / "extra-openai-models.yaml").write_text(
                    f'- model_id: bench-4o-mini\n  model_name: gpt-4o-mini\n  api_base: "{url}"\n'
                )
                env = harness.clean_env(home, None, LLM_USER_PATH=str(user))
                tools[name] = {
                    "env": env,
                    "ask": [info["exe"], "-m", "bench-4o-mini"],
                    "version": [info["exe"], "--version"],
                }
            elif name == "shell-gpt":
                cfg = home / ".config" / "shell_gpt"
                cfg.mkdir(parents=True, exist_ok=True)
                # Read by sgpt/config.py; without OPENAI_API_KEY it would prompt for one.
                # Functions off (they add tool definitions to every request), Markdown off (piped).
                (cfg / ".sgptrc").write_text(
                    f"API_BASE_URL={url}\nOPENAI_API_KEY={harness.API_KEY}\nDEFAULT_MODEL=gpt-4o-mini\n"
                    f"OPENAI_USE_FUNCTIONS=false\nPRETTIFY_MARKDOWN=false\n"
                    f"CACHE_PATH={home / 'cache'}\nCHAT_CACHE_PATH={home / 'chat_cache'}\n"
                )
                env = harness.clean_env(home, None)
                # --no-cache: sgpt caches replies by default, which would skip the request.
                tools[name] = {"env": env, "ask": [info["exe"], "--no-cache"], "version": [info["exe"], "--version"]}
        return tools

    def peers(self, url: str) -> None:
        self.log("peers: installing / configuring")
        tools = self.peer_commands(url)
        runs = max(3, self.runs // 2)
        self.log("peers: start-up")
        cmds = [Cmd(f"{n} --version", t["version"], t["env"]) for n, t in tools.items()]
        startup = measure(cmds, runs=runs, warmup=1)

        def echo(path: Path | None) -> str | None:
            text = path.read_text(encoding="utf-8") if path else ""
            return None if f"echo: {PROMPT}" in text else f"unexpected output {text[:80]!r}"

        self.log("peers: one request")
        cmds = [
            Cmd(f"{n} (one prompt)", [*t["ask"], PROMPT], t["env"], stdout_path=self.out(f"peer-{n}.txt"), check=echo)
            for n, t in tools.items()
        ]
        one = measure(cmds, runs=runs, warmup=1)

        n_prompts = 20 if self.quick else 200
        prompts = self.home / "prompts.txt"
        prompts.write_text("".join(f"Prompt number {i}: say hi\n" for i in range(n_prompts)), encoding="utf-8")

        def lines_ok(path: Path | None) -> str | None:
            text = path.read_text(encoding="utf-8") if path else ""
            got = text.count("echo: Prompt number")
            return None if got == n_prompts else f"{got} of {n_prompts} replies in the output"

        self.log(f"peers: {n_prompts} prompts, a shell loop each")
        cmds = []
        for n, t in tools.items():
            # < /dev/null: each tool reads a piped stdin as part of its prompt, which here would
            # swallow the rest of the prompt file.
            loop = f'while IFS= read -r p; do {shlex.join(t["ask"])} "$p" < /dev/null || exit 1; done'
            line = f"{loop} < {shlex.quote(str(prompts))}"
            cmds.append(
                Cmd(
                    f"{n}: shell loop",
                    line,
                    t["env"],
                    stdout_path=self.out(f"loop-{n}.txt"),
                    shell=True,
                    timeout=3600,
                    check=lines_ok,
                )
            )
        batch_help = subprocess.run([*self.gptcli, "batch", "--help"], env=tools["gptcli"]["env"], capture_output=True)
        batch_note = None
        if batch_help.returncode == 0:
            out = self.home / "batch-out.jsonl"

            def batch_ok(_: Path | None) -> str | None:
                if not out.exists():
                    return "no output file"
                got = sum(1 for line in out.read_text(encoding="utf-8").splitlines() if "echo: Prompt number" in line)
                out.unlink()
                return None if got == n_prompts else f"{got} of {n_prompts} results in the output"

            cmds.append(
                Cmd(
                    "gptcli batch (default concurrency)",
                    [*self.gptcli, "batch", str(prompts), "-o", str(out)],
                    tools["gptcli"]["env"],
                    timeout=3600,
                    check=batch_ok,
                )
            )
        else:
            batch_note = "`gptcli batch` does not exist yet in this checkout"
        loops = measure(cmds, runs=1, warmup=0)
        self.results["peers"] = {
            "startup": startup,
            "one": one,
            "loops": loops,
            "n_prompts": n_prompts,
            "batch_note": batch_note,
            "tools": list(tools),
        }

    # -- the whole run ------------------------------------------------------------------

    def run(self) -> None:
        only = set(self.args.only or [])

        def want(name: str) -> bool:
            return not only or name in only

        self.results["load_before"] = os.getloadavg()
        started = time.perf_counter()
        with harness.temp_home() as home:
            self.home = home
            steps: list[tuple[str, Callable[[], None]]] = []
            with harness.Server() as echo_server, harness.Server(tokens=STREAM_TOKENS) as long_server:
                self.results["servers"] = {"echo": echo_server.url, "long": long_server.url}
                body, stream_body = self.captured_bodies()
                if want("startup"):
                    steps.append(("startup", self.startup))
                    steps.append(("imports", lambda: self.import_guards(echo_server.url)))
                if want("ask"):
                    steps.append(("ask", lambda: self.ask(echo_server.url, body)))
                if want("stream"):
                    steps.append(("stream", lambda: self.stream(long_server.url, stream_body)))
                if want("peers") and not self.args.no_peers:
                    steps.append(("peers", lambda: self.peers(echo_server.url)))
                for name, step in steps:
                    try:
                        step()
                    except Exception as e:
                        self.results.setdefault("errors", {})[name] = f"{type(e).__name__}: {e}"
                        traceback.print_exc()
            if not only or only & {name for name, _ in MODULES}:
                self.modules()
        self.results["load_after"] = os.getloadavg()
        self.results["elapsed_s"] = time.perf_counter() - started


# ------------------------------------------------------------------------------------------
# the report


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": {
            d: version_of(d)
            for d in ("gptcli", "typer", "openai", "httpx2", "pydantic", "tiktoken", "genai-prices", "rich")
        },
    }


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        )
        return rev.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def verdict(value: float, target: float, ok: bool = True) -> str:
    if not ok or value != value:
        return "not measured"
    return "✅ met" if value <= target else "❌ not met"


def stats_table(stats: list[Stats], base: Stats | None) -> list[str]:
    lines = [
        "| command | median | min - max | CPU (median) | ratio (wall) | ratio (CPU) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in stats:
        if s.failures and not s.wall:
            lines.append(f"| {s.label} | failed: {cell(s.failures[0])} | | | | |")
            continue
        r = f"{s.ratio(base):.2f}x" if base is not None else ""
        rc = f"{s.cpu_ratio(base):.2f}x" if base is not None else ""
        lines.append(
            f"| {s.label} | {fmt_s(s.median)} | {fmt_s(s.min)} - {fmt_s(s.max)} | {fmt_s(s.cpu_median)} | {r} | {rc} |"
        )
    return lines


def cell(value: Any) -> str:
    if value is True:
        return "✅"
    if value is False:
        return "❌"
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.3g}"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def module_section(name: str, data: dict[str, Any]) -> list[str]:
    lines = [f"### {data.get('title', name)}", ""]
    if "error" in data:
        return [*lines, f"**Not measured.** {data['error']}", ""]
    rows = data.get("rows")
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        lines.append("| " + " | ".join(keys) + " |")
        lines.append("|" + "---|" * len(keys))
        for r in rows:
            lines.append("| " + " | ".join(cell(r.get(k)) for k in keys) + " |")
        lines.append("")
    extra = {k: v for k, v in data.items() if k not in ("title", "rows", "notes", "command", "elapsed_s")}
    scalars = {k: v for k, v in extra.items() if not isinstance(v, (dict, list))}
    nested = {k: v for k, v in extra.items() if isinstance(v, (dict, list))}
    if scalars:
        lines += ["| key | value |", "|---|---|", *(f"| {k} | {cell(v)} |" for k, v in scalars.items()), ""]
    if nested:
        raw_json = json.dumps(nested, indent=1, ensure_ascii=False, default=str)
        lines += ["<details><summary>all figures</summary>", "", "```json", raw_json, "```", "", "</details>", ""]
    for note in data.get("notes") or []:
        lines += [str(note), ""]
    if data.get("command"):
        lines += [f"Rerun alone: `{data['command']}`", ""]
    lines += [f"(bench/bench_{name}.py, {data.get('elapsed_s', '?')} s)", ""]
    return lines


def module_summary(name: str, data: dict[str, Any]) -> list[str]:
    """One summary line per module row that carries a target."""
    title = data.get("title", name)
    if "error" in data:
        return [f"| {title} | | | not measured: {cell(data['error'])} |"]
    out = []
    target = data.get("target")
    if not data.get("rows") and isinstance(target, dict) and "met" in target:
        # A module without rows but with one target, e.g. {"warm_median_s_max": 1.0, "met": true}.
        want = ", ".join(f"{k} {cell(v)}" for k, v in target.items() if k != "met")
        warm = (data.get("results") or {}).get("warm") or {}
        value = fmt_s(warm["median_s"]) + " (warm)" if isinstance(warm.get("median_s"), (int, float)) else ""
        met = "✅ met" if target["met"] is True else "❌ not met"
        return [f"| {title} | {value} | {want} | {met} |"]
    for r in data.get("rows") or []:
        if isinstance(r, dict) and ("target" in r or "met" in r):
            met = r.get("met")
            v = "✅ met" if met is True else "❌ not met" if met is False else "see below"
            value = cell(r.get("value", ""))
            if isinstance(r.get("ratio"), (int, float)):
                value = f"{r['ratio']:.2f}x ({value})" if value else f"{r['ratio']:.2f}x"
            out.append(f"| {title}: {cell(r.get('name', ''))} | {value} | {cell(r.get('target', ''))} | {v} |")
    return out or [f"| {title} | see below | | |"]


def report(b: Bench, command: str) -> str:
    R = b.results
    m = machine()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    L: list[str] = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/run.py: edit bench/run.py or bench/profile_notes.md, not this file. -->",
        "",
        f"Produced by `{command}` on {now}, at commit {git_rev()}, in {R.get('elapsed_s', 0) / 60:.1f} min"
        + (" (**quick mode**: fewer runs and smaller sizes, for a smoke test)" if b.quick else "")
        + ".",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}, {m['python']}. "
        f"Load average before / after: {' '.join(f'{x:.2f}' for x in R['load_before'])} / "
        f"{' '.join(f'{x:.2f}' for x in R['load_after'])}.",
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        "",
        "**Absolute times are this machine's only; compare ratios**, which are taken within one run: the commands "
        f"of a row are interleaved (A, B, A, B...) after {b.warmup} warm-up round(s), {b.runs} timed runs each "
        "unless stated; medians, with min - max. CPU is the child's user + system time "
        "(`getrusage`), steadier than wall time when other work shares the machine. Servers: "
        "`tests/fakeserver.py` on 127.0.0.1, answering at once.",
        "",
        "Rerun: `python bench/run.py` (about 15 min; `--quick` for a smoke test, `--no-peers`, "
        "`--only startup ask stream peers count render batch replay`, `--output FILE`). Use the Python that has "
        "gptcli installed (e.g. `/work/venv/bin/python bench/run.py`).",
        "",
        "## Summary",
        "",
        "| row | measured | target | verdict |",
        "|---|---:|---|---|",
    ]
    st = R.get("startup")
    if st:
        v, h, t = st["stats"][:3]
        clean = not any("openai" in x["heavy"] for x in st["imports"].values())
        L.append(
            f'| `gptcli --version` vs `python -c "import typer"` | {v.ratio(t):.2f}x ({fmt_s(v.median)}) '
            f"| ≤ 1.5x | {verdict(v.ratio(t), 1.5, v.ok and t.ok)} |"
        )
        L.append(
            f'| `gptcli --help` vs `python -c "import typer"` | {h.ratio(t):.2f}x ({fmt_s(h.median)}) '
            f"| ≤ 1.5x | {verdict(h.ratio(t), 1.5, h.ok and t.ok)} |"
        )
        L.append(
            f"| openai imported by `--version` / `--help` | {'no' if clean else 'YES'} | never "
            f"| {'✅ met' if clean else '❌ not met'} |"
        )
    a = R.get("ask")
    if a:
        g, _, s = a["stats"][:3]
        L.append(
            f"| `gptcli ask` short prompt, not streamed, vs minimal SDK script | {g.ratio(s):.2f}x "
            f"({fmt_s(g.median)} vs {fmt_s(s.median)}) | ≤ 1.1x | {verdict(g.ratio(s), 1.1, g.ok and s.ok)} |"
        )
    s2 = R.get("stream")
    if s2:
        g, s = s2["stats"][:2]
        L.append(
            f"| {STREAM_TOKENS}-token streamed reply piped to a file vs minimal SDK script | {g.ratio(s):.2f}x "
            f"({fmt_s(g.median)} vs {fmt_s(s.median)}) | ≤ 1.1x | {verdict(g.ratio(s), 1.1, g.ok and s.ok)} |"
        )
    for name, data in (R.get("modules") or {}).items():
        L += module_summary(name, data)
    p = R.get("peers")
    if p:
        byname = {s.label.split(" ")[0]: s for s in p["startup"]}
        one = {s.label.split(" ")[0]: s for s in p["one"]}
        g0, g1 = byname.get("gptcli"), one.get("gptcli")
        for n in p["tools"][1:]:
            if g0 and n in byname and byname[n].ok:
                L.append(
                    f"| start-up: gptcli vs {n} | {fmt_s(g0.median)} vs {fmt_s(byname[n].median)} "
                    f"({byname[n].median / g0.median:.1f}x faster) | faster | "
                    f"{'✅ met' if g0.median < byname[n].median else '❌ not met'} |"
                )
            if g1 and n in one and one[n].ok:
                L.append(
                    f"| one request: gptcli vs {n} | {fmt_s(g1.median)} vs {fmt_s(one[n].median)} "
                    f"({one[n].median / g1.median:.1f}x faster) | faster | "
                    f"{'✅ met' if g1.median < one[n].median else '❌ not met'} |"
                )
    if p:
        loops = {x.label: x for x in p["loops"] if x.ok}
        mine = loops.get("gptcli: shell loop")
        for label, x in loops.items():
            if mine is None or label == mine.label:
                continue
            verdict_ = "✅ met" if (x.median > mine.median) != label.startswith("gptcli batch") else "❌ not met"
            L.append(
                f"| {p['n_prompts']} prompts: gptcli shell loop vs {label} | {fmt_s(mine.median)} vs "
                f"{fmt_s(x.median)} | {'gptcli faster' if not label.startswith('gptcli batch') else 'batch faster'} "
                f"| {verdict_} |"
            )
    for name, info in (R.get("peer_info") or {}).items():
        if "error" in info:
            L.append(f"| peer {name} | | | not measured: {cell(info['error'])} |")
    for name, err in (R.get("errors") or {}).items():
        L.append(f"| {name} | | | **benchmark error**: {cell(err)} |")
    L.append("")

    if st:
        v, h, t = st["stats"][:3]
        L += [
            "## Start-up",
            "",
            f'{b.runs * 2} runs each. Target: at most 1.5x `python -c "import typer"` (Typer is the floor '
            "for a Typer app's `--help`), and openai never imported.",
            "",
        ]
        L += [*stats_table(st["stats"], t), ""]
    if R.get("imports"):
        L += [
            "## What each command imports",
            "",
            "From `-X importtime` (`PYTHONPROFILEIMPORTTIME=1`) on the installed `gptcli` script. "
            "Heavy libraries: " + ", ".join(HEAVY) + ". `ask` runs against the loopback server.",
            "",
            "| command | heavy libraries imported | exit |",
            "|---|---|---:|",
        ]
        for label, row in R["imports"].items():
            L.append(f"| `{label}` | {', '.join(row['heavy']) or 'none'} | {row['code']} |")
        L.append("")
    if a:
        s = a["stats"][2]
        L += [
            "## `gptcli ask`, one short prompt, not streamed",
            "",
            "Both send the same body (captured from gptcli by a test server) to the same loopback server, which "
            "answers at once, so this row is all client overhead: interpreter start, imports, building the "
            "request, the preflight (token bound, cost range, context window), the HTTP round trip, printing, "
            "and gptcli's conversation log (on, as by default). The baseline is `bench/sdk_minimal.py`: "
            "`import openai`, `OpenAI()`, `chat.completions.create(**body)`, print. The `-v` line shows the "
            "cost of an exact tiktoken count (shown on a terminal or with -v; not needed to prove a short "
            "prompt fits, since UTF-8 bytes bound its tokens).",
            "",
            f"Body: `{json.dumps(a['body'], ensure_ascii=False)}`",
            "",
        ]
        L += [*stats_table(a["stats"], s), ""]
    if s2:
        g, s = s2["stats"][:2]
        L += [
            f"## A {STREAM_TOKENS}-token streamed reply, piped to a file",
            "",
            f"The server streams {STREAM_TOKENS} SSE chunks (one token each, Markdown). Into a pipe or a file "
            "gptcli writes the reply with one write() when it is complete (so that parallel runs sharing a "
            "stdout never interleave; on a terminal it streams); the baseline prints each delta as OpenAI's "
            "streaming example does (`print(..., end='')`, which Python buffers when stdout is a file). Both "
            "outputs are checked against the text sent.",
            "",
            f"Body: `{json.dumps(s2['body'], ensure_ascii=False)}`",
            "",
        ]
        L += [*stats_table(s2["stats"], s), ""]
    if R.get("modules"):
        L += [
            "## Rows from the feature benchmarks",
            "",
            "Each is `bench/bench_<name>.py`'s `run(quick)`, called by `bench/run.py` in a child process.",
            "",
        ]
        for name, data in R["modules"].items():
            L += module_section(name, data)
    if p:
        L += [
            "## Peers side by side",
            "",
            "Each peer is installed from PyPI into its own virtual environment (`bench/.venvs/`, git-ignored) "
            "and pointed at the same loopback server with an isolated home:",
            "",
            "- **llm**: `LLM_USER_PATH` set to a fresh dir holding `extra-openai-models.yaml` (`model_id: "
            "bench-4o-mini`, `model_name: gpt-4o-mini`, `api_base`: the server), run as `llm -m bench-4o-mini "
            "PROMPT`; it streams and logs every prompt to its SQLite database, as by default.",
            "- **shell-gpt**: `HOME` set to a fresh dir holding `~/.config/shell_gpt/.sgptrc` (`API_BASE_URL`, "
            "`OPENAI_API_KEY`, `DEFAULT_MODEL=gpt-4o-mini`, functions and Markdown off), run as `sgpt "
            "--no-cache PROMPT` (its reply cache is on by default and would skip the request).",
            "- **gptcli**: `OPENAI_BASE_URL` / `OPENAI_API_KEY`, `GPTCLI_HOME` in a fresh dir; `gptcli ask "
            "PROMPT` (streams; the conversation log is on, as by default).",
            "",
        ]
        for name, info in (b.results.get("peer_info") or {}).items():
            vers = ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items() if v != "-")
            line = f"- {name}: " + (f"**not measured**: {info['error']}" if "error" in info else vers)
            if info.get("why"):
                line += f". Note: {info['why']}."
            L.append(line)
        L += ["", f"### Start-up (`--version`), {max(3, b.runs // 2)} runs each", ""]
        L += [*stats_table(p["startup"], p["startup"][0]), "", "Ratios are to gptcli.", ""]
        L += [f"### One request, streamed reply piped to a file, {max(3, b.runs // 2)} runs each", ""]
        L += [*stats_table(p["one"], p["one"][0]), ""]
        L += [
            f"### {p['n_prompts']} prompts (one run each)",
            "",
            'A shell loop per tool (`while read -r p; do TOOL "$p"; done < prompts.txt > out`), the way '
            "peers without a batch mode are used, and `gptcli batch` on the same file. Every reply is checked "
            "in the output.",
            "",
        ]
        loops_ok = [x for x in p["loops"] if x.ok]
        L += stats_table(p["loops"], loops_ok[0] if loops_ok else None)
        L += [""] + ([f"`gptcli batch`: {p['batch_note']}.", ""] if p.get("batch_note") else [])
    L += ["## Profile", ""]
    if st:
        L += [
            "Import time by top-level package (self time summed, one run, `-X importtime`): what a cold "
            "start pays for.",
            "",
        ]
        rows = [
            ("gptcli --version", st["imports"]["--version"]["top"]),
            ("gptcli --help", st["imports"]["--help"]["top"]),
        ]
        imp = R.get("imports") or {}
        if "gptcli ask hi (piped)" in imp:
            rows.append(("gptcli ask hi (piped)", imp["gptcli ask hi (piped)"]["top"]))
        for label, top in rows:
            L.append(f"- `{label}`: " + ", ".join(f"{pkg} {secs * 1000:.1f} ms" for pkg, secs in top))
        L.append("")
    if NOTES.exists():
        L += [NOTES.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(L) + "\n"


def raw(b: Bench) -> dict[str, Any]:
    def conv(x: Any) -> Any:
        if isinstance(x, Stats):
            return x.to_dict()
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [conv(v) for v in x]
        return x

    return {"machine": machine(), "quick": b.quick, "runs": b.runs, "results": conv(b.results)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller sizes (a smoke test)")
    parser.add_argument("--runs", type=int, help="timed runs per command (default 20, quick 5)")
    parser.add_argument("--only", nargs="+", metavar="ROW", help="startup ask stream peers count render batch replay")
    parser.add_argument("--no-peers", action="store_true", help="skip installing and timing llm and shell-gpt")
    parser.add_argument("--reinstall-peers", action="store_true", help="reinstall the peers' venvs")
    parser.add_argument("--src", help="PYTHONPATH for gptcli (time another checkout's src/ instead)")
    parser.add_argument("--compare-src", metavar="DIR", help="also time this checkout's src/ in the same rows")
    parser.add_argument("--output", default=str(DOCS), help="the Markdown report (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    try:
        import gptcli  # noqa: F401
    except ImportError:
        print("bench/run.py: run it with the Python that has gptcli installed", file=sys.stderr)
        return 2
    b = Bench(args)
    b.run()
    shown = ["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]
    text = report(b, shlex.join(shown))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{stamp}{'-quick' if b.quick else ''}.json").write_text(json.dumps(raw(b), indent=2, default=str))
    print(text)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
