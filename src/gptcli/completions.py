"""Shell completion: the scripts in ``completions/`` and the values they complete.

The scripts are Typer's (bash, zsh, fish): each one only calls ``gptcli`` back with
``_GPTCLI_COMPLETE=complete_<shell>`` and the words typed so far, so a script never
goes stale when a command or an option changes. Regenerate the committed copies with
``python -m gptcli.completions`` (``--check`` says whether they are current; a test
does the same).

The dynamic values come from the callbacks below, which ``cli`` attaches with
``autocompletion=``: profile names (``-p``, ``profiles show``), conversation ids
(``replay``, ``ask --cid``, ``chat --cid``, ``count --conversation``) and model names
(``-m``). They run on every Tab press, so they stay cheap and offline: no network, no
openai or tiktoken import, nothing written but the price cache; any failure completes
nothing rather than printing a traceback into the user's prompt.

This module imports only the standard library at import time: ``cli`` imports it on
every run. (``script`` reaches Typer's generator through ``typer_compat``, the one place
that touches Typer's internals; only regenerating the scripts pays for that import.)
"""

import os
import sys
from pathlib import Path
from typing import Any

PROG = "gptcli"
COMPLETE_VAR = "_GPTCLI_COMPLETE"
# The committed file for each shell, named as each shell's completion dirs expect.
FILES = {"bash": "gptcli.bash", "zsh": "_gptcli", "fish": "gptcli.fish"}
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")  # what --install/--show-completion take
MAX_IDS = 200  # conversation ids offered at once, newest first
# Price-data ids that are not chat models, or are patterns rather than names.
_NOT_CHAT = (
    "embedding",
    "tts",
    "transcribe",
    "whisper",
    "image",
    "moderation",
    "realtime",
    "live",
    "dall-e",
    "davinci",
    "babbage",
    "curie",
    "computer-use",
)
_LEGACY = ("ada",)

Items = list[tuple[str, str]]


def script(shell: str) -> str:
    """The completion script for ``shell``, exactly as ``gptcli --show-completion SHELL`` prints it."""
    from .typer_compat import completion_script  # Typer's own generator (not public API: see compat)

    return completion_script(PROG, COMPLETE_VAR, shell) + "\n"


# --- the callbacks --------------------------------------------------------------------


def _guard(fn: Any) -> Any:
    """Completion must never fail loudly: a broken profile or store completes nothing."""

    import functools

    @functools.wraps(fn)  # Typer reads the parameter names and types through __wrapped__
    def wrapper(*args: Any, **kwargs: Any) -> Items:
        try:
            return list(fn(*args, **kwargs))
        except Exception:
            if os.environ.get("GPTCLI_DEBUG") == "1":
                raise
            return []

    return wrapper


@_guard
def complete_profile(incomplete: str) -> Items:
    """Profile names, each with its description (zsh and fish show it)."""
    from . import profiles

    out = []
    for name, pf in sorted(profiles.available().items()):
        if not name.startswith(incomplete or ""):
            continue
        try:
            data = profiles.read_file(pf)
        except Exception:
            out.append((name, "(broken: see gptcli profiles show " + name + ")"))
            continue
        desc = data.get("description", (None,))[0] or data.get("model", ("",))[0] or ""
        out.append((name, str(desc)))
    return out


@_guard
def complete_conversation(incomplete: str) -> Items:
    """Conversation ids, newest first, with the first prompt when the replay index knows it."""
    from . import settings

    prefix = (incomplete or "").lower()
    found: list[tuple[float, str]] = []
    try:
        with os.scandir(settings.conversations_dir()) as it:
            for entry in it:
                name = entry.name
                if name.endswith(".jsonl") and not name.startswith(".") and name.startswith(prefix):
                    try:
                        found.append((entry.stat().st_mtime, name[: -len(".jsonl")]))
                    except OSError:
                        continue
    except OSError:
        return []
    found.sort(reverse=True)
    ids = [i for _, i in found[:MAX_IDS]]
    about = _index_prompts(set(ids))
    return [(i, about.get(i, "")) for i in ids]


def _index_prompts(ids: set[str]) -> dict[str, str]:
    """id -> first prompt, read from ``gptcli replay``'s index (never built here: that is replay's job)."""
    import json

    from . import settings

    out: dict[str, str] = {}
    try:
        data = json.loads((settings.cache_dir() / "replay-index.json").read_bytes())
        entries = data["entries"]
        for name, entry in entries.items():
            ident = name[: -len(".jsonl")]
            if ident in ids and isinstance(entry, list) and len(entry) == 8 and entry[3] == "ok":
                row = json.loads(entry[7])
                prompt = " ".join(str(row.get("first_prompt") or "").split())
                out[ident] = f"{str(row.get('updated') or '')[:10]} {prompt}".strip()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return out


@_guard
def complete_model(ctx: Any, incomplete: str) -> Items:
    """The profile's model, every profile's model, then the models the price data knows for its server."""
    from . import profiles

    params = getattr(ctx, "params", None) or {}
    name = params.get("profile") or params.get("from_")
    seen: dict[str, str] = {}
    server: str | None = None
    try:
        prof = profiles.resolve(name if isinstance(name, str) else None, {})
        seen[prof.model] = f"profile {prof.name}"
        server = prof.base_url
    except Exception:
        pass
    for pname, pf in sorted(profiles.available().items()):
        try:
            model = profiles.read_file(pf).get("model", (None,))[0]
        except Exception:
            continue
        if isinstance(model, str) and model not in seen:
            seen[model] = f"profile {pname}"
    for model, about in _price_data_models(server):
        seen.setdefault(model, about)
    prefix = incomplete or ""
    return [(m, about) for m, about in seen.items() if m.startswith(prefix)]


@_guard
def complete_server(ctx: Any, incomplete: str) -> Items:
    """The MCP servers of the profile (``-p``, else the active one), each with its command or URL."""
    from . import profiles
    from .tools.config import servers

    name = None
    while ctx is not None and not name:  # -p after `list`, or given to the group: `tools -p dev list`
        name = (getattr(ctx, "params", None) or {}).get("profile")
        ctx = getattr(ctx, "parent", None)
    prof = profiles.resolve(name if isinstance(name, str) else None, {})
    return [(s.name, s.shown) for s in servers(prof) if s.name.startswith(incomplete or "")]


def _price_data_models(base_url: str | None) -> Items:
    """Chat models genai-prices knows for the server at ``base_url`` (None: OpenAI); cached per day."""
    from . import prices

    url = base_url or prices.OPENAI_BASE_URL
    from .models import redact_url

    key = f"completion-models {redact_url(url)}"  # a cache file holds no password
    hit = prices.cache_get(key)
    if isinstance(hit, list):
        return [(str(a), str(b)) for a, b in hit]
    items = _scan_price_data(url)
    prices.cache_put(key, [list(i) for i in items])
    return items


def _scan_price_data(url: str) -> Items:
    import re

    try:
        from genai_prices.data import providers
    except ImportError:
        return []
    for provider in providers:
        pattern = getattr(provider, "api_pattern", None)
        if not pattern or not re.match(pattern, url):
            continue
        out: Items = []
        for m in provider.models:
            ident = str(m.id)
            low = ident.lower()
            if ident.endswith("-") or ":" in ident or ".ft-" in ident or low in _LEGACY:
                continue  # patterns (fine-tune prefixes, variants), not names to type
            if any(word in low for word in _NOT_CHAT):
                continue
            window = getattr(m, "context_window", None)
            out.append((ident, f"{window // 1000:,}k context" if isinstance(window, int) and window else ""))
        return out
    return []


# --- regenerating the committed scripts ------------------------------------------------


def default_dir() -> Path:
    """``completions/`` at the root of a checkout."""
    return Path(__file__).resolve().parents[2] / "completions"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m gptcli.completions",
        description="Write gptcli's bash, zsh and fish completion scripts (completions/ in a checkout).",
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to write them (default: the checkout's)")
    parser.add_argument("--check", action="store_true", help="only say whether the files are current (exit 1 if not)")
    parser.add_argument("--print", dest="shell", choices=sorted(FILES), help="print one script to stdout")
    args = parser.parse_args(argv)
    if args.shell:
        sys.stdout.write(script(args.shell))
        return 0
    directory: Path = args.dir or default_dir()
    stale = []
    for shell, name in FILES.items():
        path = directory / name
        text = script(shell)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(str(path))
        if not args.check:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check:
        for name in stale:
            print(f"out of date: {name} (run: python -m gptcli.completions)", file=sys.stderr)
        return 1 if stale else 0
    for name in stale:
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
