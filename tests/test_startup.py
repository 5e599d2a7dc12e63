"""Start-up stays light: what each command imports, proved in a fresh interpreter.

bench/run.py measures the speed (docs/benchmarks.md); these tests hold the structure the
speed rests on, with no timing asserts:

* ``--help``, ``--version``, ``count`` and ``ask --dry-run`` never import openai;
* ``--version`` is answered before Typer is imported;
* a piped ``ask`` imports neither tiktoken (UTF-8 bytes bound the prompt) nor rich (plain
  text), and once the price cache is warm, not genai-prices;
* the price cache answers exactly as genai-prices does;
* a plain-http server gets a client that loads no CA bundle, and https keeps the SDK's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import SRC

# Runs the real entry point (gptcli/__main__.py, as the console script does) and then
# writes every imported module's name to the file named by $MODULES_OUT.
_DRIVER = """
import os, runpy, sys
sys.argv = ["gptcli", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("gptcli", run_name="__main__")
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
with open(os.environ["MODULES_OUT"], "w") as f:
    f.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


def fresh(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str, set[str]]:
    """Run gptcli in a new interpreter: (exit code, stdout, modules imported)."""
    out = tmp_path / f"modules-{len(list(tmp_path.glob('modules-*')))}.txt"
    full = {**os.environ, "PYTHONPATH": str(SRC), "MODULES_OUT": str(out), **(env or {})}
    proc = subprocess.run([sys.executable, "-c", _DRIVER, *argv], capture_output=True, text=True, env=full, timeout=120)
    assert out.exists(), proc.stderr
    return proc.returncode, proc.stdout, set(out.read_text().split())


def top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize(
    "argv",
    [("--help",), ("--version",), ("ask", "--help"), ("count", "hi"), ("ask", "--dry-run", "hi")],
)
def test_light_commands_never_import_openai(tmp_path: Path, argv: tuple[str, ...]) -> None:
    code, stdout, modules = fresh(tmp_path, *argv, env={"OPENAI_API_KEY": ""})
    assert code == 0, stdout
    assert "openai" not in top(modules)
    assert not top(modules) & {"mcp", "mcp_types", "uvicorn", "starlette"}  # the MCP SDK: only when a tool runs
    # (--dry-run loads gptcli.backends.openai to describe the request; the SDK itself stays out.)
    if "--help" in argv or "--version" in argv:
        assert not top(modules) & {"rich", "tiktoken", "genai_prices", "prompt_toolkit"}
    if argv in (("--help",), ("--version",)):
        # (A subcommand's --help does import pydantic: Typer coerces its own --help and
        # completion flags, whose default is None, through pydantic. See docs/benchmarks.md.)
        assert "pydantic" not in top(modules)


def test_version_is_answered_before_typer(tmp_path: Path) -> None:
    code, stdout, modules = fresh(tmp_path, "--version")
    assert code == 0
    assert "typer" not in top(modules) and "gptcli.cli" not in modules
    # The same line as the Typer option prints (it still answers `--debug --version`).
    code2, stdout2, modules2 = fresh(tmp_path, "--debug", "--version")
    assert code2 == 0 and "typer" in top(modules2)
    assert stdout == stdout2 and stdout.startswith("gptcli ")


def test_piped_ask_stays_light(server: Any, tmp_path: Path) -> None:
    first = fresh(tmp_path, "ask", "hi")  # fills the price cache
    code, stdout, modules = fresh(tmp_path, "ask", "hi")
    assert first[:2] == (0, "echo: hi\n") and (code, stdout) == (0, "echo: hi\n")
    names = top(modules)
    assert "openai" in names  # the request itself
    assert not names & {"tiktoken", "rich", "genai_prices", "prompt_toolkit"}, names & {
        "tiktoken",
        "rich",
        "genai_prices",
        "prompt_toolkit",
    }


_PRICES = """
import json, sys
from gptcli import prices
out = {m: prices.model_info(m).to_dict() for m in sys.argv[1:]}
out["imported genai_prices"] = "genai_prices" in sys.modules
print(json.dumps(out))
"""


def test_price_cache_answers_as_genai_prices(tmp_path: Path) -> None:
    models = ["gpt-5.4", "gpt-4o-mini", "ft:gpt-4o-mini-2024-07-18:org::x", "no-such-model-xyz"]

    def run() -> dict[str, Any]:
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        proc = subprocess.run(
            [sys.executable, "-c", _PRICES, *models], capture_output=True, text=True, env=env, timeout=120, check=True
        )
        return json.loads(proc.stdout)

    cold, warm = run(), run()
    assert cold.pop("imported genai_prices") is True
    assert warm.pop("imported genai_prices") is False
    assert cold == warm
    assert warm["gpt-5.4"]["tiers"], "long-context tiers survive the cache"
    assert warm["no-such-model-xyz"]["price"] is None  # unknown stays unknown, never invented
    cache = Path(os.environ["GPTCLI_HOME"]) / "cache" / "prices.json"
    data = json.loads(cache.read_text())
    data["stamp"] = "another genai-prices version"  # an upgrade: the cache is not trusted
    cache.write_text(json.dumps(data))
    again = run()
    assert again.pop("imported genai_prices") is True and again == cold


def test_plain_http_client_skips_the_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    from gptcli.backends import openai as ob

    assert ob._plain_http_client(None, 10.0, async_=False) is None  # OpenAI itself: https
    assert ob._plain_http_client("https://example.com/v1", 10.0, async_=False) is None
    loaded: list[Any] = []
    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", lambda self, *a, **k: loaded.append(a))
    client = ob._plain_http_client("http://127.0.0.1:11434/v1", 10.0, async_=False)
    assert client is not None and loaded == []
    client.close()
    monkeypatch.setenv("HTTP_PROXY", "https://proxy.example:3128")
    assert ob._plain_http_client("http://127.0.0.1:11434/v1", 10.0, async_=False) is None
