"""The flags several commands share, each defined once, and how they reach a command.

The sampling flags (``-m``, ``-t``, ``--top-p``, ``--max-tokens``, ``-n``, ``--stop``,
``--seed``, ``-s``, ``--effort``, ``--param``, ``--base-url``) and ``-p`` arrive
in a command as one ``Overrides`` value through the ``sampling`` decorator: the command
declares ``overrides: Overrides`` and never lists them. ``group`` is the mechanism under
it, also used by ``batch`` to bundle its own flags. The output and budget flags
(``--max-cost``, ``--verbose``, ``--no-log``, ...) are the ``Annotated`` aliases below.

No ``from __future__ import annotations``: Typer reads these annotations on every run.
"""

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any

import typer

from ..completions import complete_conversation, complete_model, complete_profile
from ..errors import UsageError

# Checking and parsing the values moved to flag_values (issue 13); importable from here as before.
from .flag_values import check_detail as check_detail
from .flag_values import check_tag as check_tag
from .flag_values import extract_mode as extract_mode
from .flag_values import parse_params
from .flag_values import parse_vars as parse_vars
from .flag_values import with_budget as with_budget

ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="Profile name (default: $GPTCLI_PROFILE or 'default').",
        metavar="NAME",
        autocompletion=complete_profile,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Model name (overrides the profile).", metavar="MODEL", autocompletion=complete_model
    ),
]
TempOpt = Annotated[float | None, typer.Option("--temperature", "-t", help="Sampling temperature, 0-2.")]
DeadlineOpt = Annotated[
    float | None,
    typer.Option(
        "--deadline",
        "--timeout",
        help="Give up on a request after this many seconds in all, retries included"
        " (default 600; 1800 for reasoning models).",
        metavar="SECONDS",
    ),
]
TopPOpt = Annotated[float | None, typer.Option("--top-p", help="Nucleus sampling, 0-1.")]
MaxTokOpt = Annotated[int | None, typer.Option("--max-tokens", help="Output token limit.")]
NOpt = Annotated[
    int | None,
    typer.Option(
        "-n", "--choices", help="How many replies to ask for (1-128), each under a '--- choice N of M ---' line."
    ),
]
StopOpt = Annotated[
    list[str] | None, typer.Option("--stop", help="Stop sequence (repeatable, at most 4).", metavar="TEXT")
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed for best-effort determinism.")]
SystemOpt = Annotated[
    str | None, typer.Option("--system", "-s", help="System prompt (overrides the profile).", metavar="TEXT")
]
EffortOpt = Annotated[
    str | None,
    typer.Option(
        "--effort",
        "--reasoning-effort",
        help="Reasoning effort: low, medium, high (minimal, none... where the model takes them).",
        metavar="LEVEL",
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param", help="Extra request field KEY=VALUE (VALUE parsed as JSON; repeatable).", metavar="KEY=VALUE"
    ),
]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", help="Server URL, e.g. http://localhost:11434/v1.", metavar="URL")
]

# One metavar per kind of value in --help (cli/compat.uniform_metavars applies them to every
# option that names none): by the long flag first, else by the Python type.
METAVARS_BY_FLAG = {
    "--max-cost": "USD",
    "--since": "WHEN",
    "--format": "FORMAT",
    "--via": "WHERE",
    "--column": "NAME",
    "--reasoning-effort": "LEVEL",
}
METAVARS_BY_TYPE: dict[type, str] = {int: "N", float: "NUMBER", str: "TEXT"}

# --- output and budget ---------------------------------------------------------------------

MaxCostOpt = Annotated[
    float | None,
    typer.Option(
        "--max-cost", min=0.0, help="Refuse (exit 7) if the call could cost more than this many USD.", metavar="USD"
    ),
]
TagOpt = Annotated[
    str | None,
    typer.Option("--tag", help="Bill this work to NAME in the log (gptcli usage --by tag).", metavar="NAME"),
]
BudgetOpt = Annotated[
    str | None,
    typer.Option(
        "--budget",
        help="Spending cap shared by every gptcli process, USD/PERIOD: 5/day, 20/week, 50/month "
        "(also $GPTCLI_BUDGET or the profile's budget).",
        metavar="USD/PERIOD",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Status (estimate, usage, cost) on stderr.")]
RawOpt = Annotated[bool, typer.Option("--raw", help="Plain text even on a terminal.")]
NoStreamOpt = Annotated[bool, typer.Option("--no-stream", help="Wait for the whole reply.")]
ShowReasoningOpt = Annotated[
    bool,
    typer.Option("--show-reasoning", help="Stream the model's thinking to stderr, dimmed, above the answer."),
]
NoLogOpt = Annotated[bool, typer.Option("--no-log", help="Do not save this conversation.")]
ContinueOpt = Annotated[
    bool,
    typer.Option("--continue", "-c", help="Continue the last conversation (a plain flag: it takes no value)."),
]
CidOpt = Annotated[
    str | None,
    typer.Option(
        "--cid",
        help="Continue this conversation: an id, a unique id prefix, or a JSONL file.",
        metavar="ID",
        autocompletion=complete_conversation,
    ),
]
VarOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--var",
        help="Fill {NAME} in the profile's prompt template (repeatable; VALUE @FILE reads a file, @@ a literal @).",
        metavar="NAME=VALUE",
    ),
]
AttachOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--attach",
        "-a",
        help="Attach an image, PDF, audio or text file, an image URL, or - for stdin (repeatable).",
        metavar="FILE|URL|-",
    ),
]
DetailOpt = Annotated[
    str | None,
    typer.Option(
        "--detail",
        help="Image detail: low, high or auto (the server's default when unset).",
        metavar="low|high|auto",
    ),
]


# ``--extract all`` as two words would be ambiguous with a prompt word (``ask -x all the files``),
# so every-block extraction is its own flag.
ExtractOpt = Annotated[
    bool,
    typer.Option(
        "--extract",
        "-x",
        help="Print only the reply's first fenced code block (the whole reply, with a warning, if it has none).",
    ),
]
ExtractAllOpt = Annotated[
    bool, typer.Option("--extract-all", help="Like -x, but every code block of the reply, a blank line apart.")
]


ToServerOpt = Annotated[
    bool,
    typer.Option(
        "--to-server",
        help="Continuing: allow sending the conversation to the server the environment names "
        "(without it, a conversation never changes server unless --base-url or -p is given).",
    ),
]
TitleOpt = Annotated[
    str | None,
    typer.Option("--title", help="The conversation's title (default: its first line, cut to 60).", metavar="TEXT"),
]


# --- Overrides: the sampling flags as one value ------------------------------------------------


@dataclass(frozen=True)
class Overrides:
    """The profile named with ``-p`` and the settings given on the command line (None: not given)."""

    profile: str | None = None
    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    n: int | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    system: str | None = None
    reasoning_effort: str | None = None
    params: dict[str, Any] | None = None
    base_url: str | None = None
    deadline: float | None = None
    # Every -p and -m given where a command takes several (``sampling(several=True)``):
    # ``profile`` and ``model`` are then the first of each, ``targets()`` all of them.
    profiles: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        """The settings given (not ``profile``), as ``profiles.resolve`` takes them."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in ("profile", "profiles", "models") and value is not None:
                out[f.name] = list(value) if f.name == "stop" else value
        return out

    def given(self) -> list[str]:
        """Names of the settings given, other than profile and model."""
        return [k for k in self.settings() if k != "model"]

    def resolve(self, profile: str | None = None, model: str | None = None) -> Any:
        """The effective Profile (``profile``/``model``: defaults when -p/-m were not given)."""
        from .. import profiles

        flags = self.settings()
        if model is not None and self.model is None:
            flags["model"] = model
        return profiles.resolve(self.profile or profile, flags)

    @property
    def several(self) -> bool:
        """More than one -p or -m was given (a comparison)."""
        return len(self.profiles) > 1 or len(self.models) > 1

    def targets(self) -> list["Overrides"]:
        """One Overrides per comparison target: each -p, or each -m with the one profile.

        ``-m a -m b`` with one profile (or none) is that profile with each model; several
        -p with one -m (or none) is each profile with that model. Several of both is
        refused: which model goes with which profile would be a guess.
        """
        from dataclasses import replace

        if len(self.profiles) > 1 and len(self.models) > 1:
            raise UsageError(
                "give several -m or several -p, not both", hint="one profile with each model: -p P -m A -m B"
            )
        pairs: list[tuple[str | None, str | None]] = (
            [(p, self.model) for p in self.profiles]
            if len(self.profiles) > 1
            else [(self.profile, m) for m in self.models] or [(self.profile, self.model)]
        )
        seen: set[tuple[str | None, str | None]] = set()
        for pair in pairs:
            if pair in seen:
                raise UsageError(f"{pair[1] if len(self.models) > 1 else pair[0]} is given twice")
            seen.add(pair)
        return [replace(self, profile=p, model=m, profiles=(), models=()) for p, m in pairs]


def _param(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)


def group(dest: str, params: list[inspect.Parameter], build: Callable[..., Any]) -> Callable[[Any], Any]:
    """Add ``params`` to a Typer command's flags; the command receives ``build(**their values)`` as ``dest``.

    Typer reads a command's parameters from ``inspect.signature``, so the wrapper's
    signature is the command's own with ``params`` in the place of ``dest`` (--help keeps
    the order the command declares).
    """
    names = [p.name for p in params]

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        own: list[inspect.Parameter] = []
        for p in sig.parameters.values():
            own.extend(params if p.name == dest else [p])

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            values = {n: kwargs.pop(n) for n in names}
            return fn(**kwargs, **{dest: build(**values)})

        wrapper.__signature__ = sig.replace(parameters=own)  # type: ignore[attr-defined]
        del wrapper.__wrapped__  # Typer must read the new signature, not the command's
        return wrapper

    return decorate


def sampling(
    *,
    n: bool = True,
    profile_help: str | None = None,
    model_help: str | None = None,
    several: bool = False,
) -> Callable[[Any], Any]:
    """The ``-p`` flag and the 11 sampling flags, handed to the command as ``overrides: Overrides``.

    ``n=False`` leaves out ``-n`` (chat shows one reply); the help texts can be reworded
    for a command where the flags mean more (replay's listing filters). ``several``:
    -p and -m are repeatable (a comparison: ``Overrides.targets``).
    """
    kind: Any = list[str] | None if several else str | None
    profile_opt: Any = ProfileOpt
    model_opt: Any = ModelOpt
    if profile_help or several:
        profile_opt = Annotated[
            kind,
            typer.Option(
                "--profile",
                "-p",
                help=profile_help or "Profile name (default: $GPTCLI_PROFILE or 'default').",
                metavar="NAME",
                autocompletion=complete_profile,
            ),
        ]
    if model_help or several:
        model_opt = Annotated[
            kind,
            typer.Option(
                "--model",
                "-m",
                help=model_help or "Model name (overrides the profile).",
                metavar="MODEL",
                autocompletion=complete_model,
            ),
        ]
    params = [
        _param("profile", profile_opt),
        _param("model", model_opt),
        _param("temperature", TempOpt),
        _param("top_p", TopPOpt),
        _param("max_tokens", MaxTokOpt),
        *([_param("n", NOpt)] if n else []),
        _param("stop", StopOpt),
        _param("seed", SeedOpt),
        _param("system", SystemOpt),
        _param("reasoning_effort", EffortOpt),
        _param("param", ParamOpt),
        _param("base_url", BaseUrlOpt),
        _param("deadline", DeadlineOpt),
    ]

    def build(
        param: list[str] | None = None,
        stop: list[str] | None = None,
        profile: Any = None,
        model: Any = None,
        **values: Any,
    ) -> Overrides:
        if several:
            profiles, models = tuple(profile or ()), tuple(model or ())
            values.update(profile=profiles[0] if profiles else None, model=models[0] if models else None)
            values.update(profiles=profiles, models=models)
        else:
            values.update(profile=profile, model=model)
        return Overrides(params=parse_params(param), stop=tuple(stop) if stop else None, **values)

    return group("overrides", params, build)
