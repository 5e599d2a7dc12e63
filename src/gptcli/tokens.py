"""Token accounting: model -> encoding, exact counts, prices, context windows, cost.

This is the only module of gptcli that imports tiktoken or genai_prices, and it does so
inside functions, so ``gptcli --help`` never pays for them. What it owns:

* ``encoding_name``: which tiktoken encoding a model uses, and whether that is the
  model's real tokenizer (``exact``) or a stand-in for a third-party model.
* Loading encodings fast and safely offline. tiktoken's first ``get_encoding`` parses a
  3.6 MB text file on every cold start; gptcli caches the parsed ranks (``_ranks``) and
  builds ``tiktoken.Encoding`` from them. Short texts do not even load the full ranks: a
  BPE built from just the vocabulary tokens that occur in the text counts it exactly
  (``_ranks.RankIndex.subset`` says why). Missing encoding files are downloaded with a
  hard deadline, never tiktoken's unbounded request; without them ``EncodingUnavailable``.
* Counting: ``count_text`` (``encode_ordinary`` semantics), ``count_messages`` (the OpenAI
  cookbook's chat formula, tools included), ``upper_bound_tokens`` (no tiktoken at all),
  ``approx_tokens`` (the fallback estimate), ``count_request`` (exact, else estimate),
  ``count_file`` (large files: bounded memory, exact chunking, all cores).
* Prices: ``model_info`` (profile values win, else genai-prices' bundled data, else
  unknown: a price is never invented), ``cost`` and ``cost_range``.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import hashlib
import os
import re
import threading
import types
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from gptcli import _ranks
from gptcli.errors import ConfigError
from gptcli.models import Price, redact_url

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "Count",
    "EncodingUnavailable",
    "ModelInfo",
    "approx_tokens",
    "cost",
    "cost_range",
    "count_file",
    "count_messages",
    "count_request",
    "count_text",
    "encoding_name",
    "get_encoding",
    "model_info",
    "upper_bound_tokens",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"

# Below this many UTF-8 bytes of text, count with a BPE built from the tokens that occur
# in the text (a few ms) instead of loading all ranks (~0.1 s). The step budget bounds
# the Python scan on repetitive text, where loading everything is the cheaper way.
_SMALL_TEXT_BYTES = 8192
_SUBSET_STEP_BUDGET = 40_000
# Hard limit on fetching a missing encoding file, DNS included (urllib's timeout does
# not cover name resolution, so the fetch runs in a thread that is abandoned on expiry).
_DOWNLOAD_DEADLINE = 10.0
# count_file reads this much at a time and hands chunks of about this size to workers.
_CHUNK_BYTES = 1 << 20


class EncodingUnavailable(ConfigError):
    """The encoding file is neither cached nor downloadable right now."""


# ---------------------------------------------------------------------------------------
# model -> encoding

# OpenAI's naming for models tiktoken does not list yet (gpt-6*, gpt-4.5, o4, codex-mini,
# gpt-realtime, ...). Other names are third-party models whose real tokenizer we do
# not have, so their counts can only be approximate.
_OPENAI_NAME = re.compile(r"^(gpt-|chatgpt-|o\d|codex-|computer-use-)")
# gptcli's fallback for names tiktoken does not know: the gpt-3.5 / classic gpt-4 family
# is cl100k_base; gpt-4o / 4.1 / 4.5 and everything newer is o200k_base.
_CL100K_FAMILY = re.compile(r"^(gpt-3\.5|gpt-35|gpt-4(?![o.]))")


def _base_model(model: str) -> str:
    """``ft:gpt-4.1-mini-2025-04-14:org::x`` -> ``gpt-4.1-mini-2025-04-14``; ``openai/x`` -> x."""
    name = model.strip()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    if name.lower().startswith("openai/"):
        name = name[len("openai/") :]
    return name


def encoding_name(model: str, override: str | None = None) -> tuple[str, bool]:
    """(encoding name, exact?) for ``model``.

    Order: the profile's ``encoding`` override; then, with an ``ft:`` prefix stripped to
    the base model (tiktoken maps ``ft:gpt-4.1-…`` to cl100k_base through its ``ft:gpt-4``
    prefix, which is wrong), tiktoken's own table; then gptcli's rule (gpt-3.5 and classic
    gpt-4 -> cl100k_base, everything else -> o200k_base). ``exact`` is True only when the
    encoding is an OpenAI model's own tokenizer; an override counts as exact only if it
    agrees with that.
    """
    resolved = _resolve(_base_model(model))
    if override:
        return override, resolved == override
    if resolved is not None:
        return resolved, True
    return "o200k_base", False


def _resolve(base: str) -> str | None:
    """The encoding of an OpenAI model, or None for a third-party name."""
    from tiktoken.model import encoding_name_for_model

    try:
        return encoding_name_for_model(base)  # only OpenAI names are in its tables
    except KeyError:
        pass
    lowered = base.lower()
    if not _OPENAI_NAME.match(lowered):
        return None
    return "cl100k_base" if _CL100K_FAMILY.match(lowered) else "o200k_base"


# ---------------------------------------------------------------------------------------
# loading encodings


@dataclass(frozen=True)
class _Spec:
    """What tiktoken's constructor for one encoding says, minus the ranks themselves."""

    name: str
    pat_str: str
    special_tokens: tuple[tuple[str, int], ...]
    explicit_n_vocab: int | None
    bpe: tuple[str, str | None] | None  # (url, sha256) of its one .tiktoken file
    data_gym: tuple[tuple[str, str | None], ...]  # gpt2's two files, if that is the kind


@functools.cache
def _spec(name: str) -> _Spec:
    """Read pat_str, special tokens and source files from tiktoken's own constructor.

    The constructor would load the ranks (and download them when missing, with no
    timeout). It runs here on a private copy of ``tiktoken_ext.openai_public``'s
    namespace whose two loaders only record what they were asked for, so nothing is read
    and nothing global is patched (other threads using tiktoken are unaffected).
    """
    from tiktoken_ext import openai_public

    constructors: Mapping[str, Callable[[], dict[str, Any]]] = openai_public.ENCODING_CONSTRUCTORS
    ctor = constructors.get(name)
    if ctor is None:
        raise ConfigError(f"unknown encoding {name!r}; use one of: {', '.join(sorted(constructors))}")
    bpe: list[tuple[str, str | None]] = []
    gym: list[tuple[str, str | None]] = []

    def record_bpe(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        bpe.append((url, expected_hash))
        return {}

    def record_gym(
        vocab_bpe_file: str,
        encoder_json_file: str,
        vocab_bpe_hash: str | None = None,
        encoder_json_hash: str | None = None,
        clobber_one_byte_tokens: bool = False,
    ) -> dict[bytes, int]:
        gym.extend([(vocab_bpe_file, vocab_bpe_hash), (encoder_json_file, encoder_json_hash)])
        return {}

    namespace = dict(vars(openai_public))
    for key, value in vars(openai_public).items():
        if isinstance(value, types.FunctionType) and value.__module__ == openai_public.__name__:
            copy = types.FunctionType(value.__code__, namespace, value.__name__, value.__defaults__, value.__closure__)
            copy.__kwdefaults__ = value.__kwdefaults__
            namespace[key] = copy
    namespace["load_tiktoken_bpe"] = record_bpe
    namespace["data_gym_to_mergeable_bpe_ranks"] = record_gym
    sandboxed = namespace.get(getattr(ctor, "__name__", ""))
    if not isinstance(sandboxed, types.FunctionType):
        raise ConfigError(f"encoding {name!r} is not one gptcli can load safely")
    params = sandboxed()
    return _Spec(
        name=params["name"],
        pat_str=params["pat_str"],
        special_tokens=tuple(sorted(params["special_tokens"].items())),
        explicit_n_vocab=params.get("explicit_n_vocab"),
        bpe=bpe[0] if len(bpe) == 1 and not gym else None,
        data_gym=tuple(gym),
    )


def _tiktoken_cache_file(url: str) -> Path | None:
    """Where tiktoken keeps (or would keep) ``url``; None when its cache is disabled."""
    # Mirrors tiktoken.load.read_file_cached, so files tiktoken fetched are reused and
    # files gptcli fetches serve tiktoken too.
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        import tempfile

        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if cache_dir == "":
        return None
    return Path(cache_dir) / hashlib.sha1(url.encode()).hexdigest()


def _unavailable(name: str, why: str) -> EncodingUnavailable:
    return EncodingUnavailable(
        f"tiktoken encoding {name} is unavailable ({why}): set TIKTOKEN_CACHE_DIR to a "
        "folder holding its file, or connect to the internet once so gptcli can download it"
    )


def _download(url: str, deadline: float) -> bytes:
    import urllib.request

    result: list[bytes] = []
    failure: list[BaseException] = []

    def fetch() -> None:
        try:
            with urllib.request.urlopen(url, timeout=deadline) as response:
                result.append(response.read())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    worker = threading.Thread(target=fetch, name="gptcli-encoding-download", daemon=True)
    worker.start()
    worker.join(deadline)
    if result:
        return result[0]
    raise OSError(str(failure[0]) if failure else f"no answer within {deadline:.0f} s")


def _source_bytes(name: str, url: str, sha256: str | None, download: bool) -> bytes:
    """The encoding file, verified: from tiktoken's cache, else fetched with a deadline."""
    path = _tiktoken_cache_file(url)
    if path is not None and path.is_file():
        data = path.read_bytes()
        if sha256 is None or hashlib.sha256(data).hexdigest() == sha256:
            return data
        # A damaged copy: tiktoken would delete it and re-fetch without a timeout.
    if not download:
        raise _unavailable(name, "no cached copy")
    try:
        data = _download(url, _DOWNLOAD_DEADLINE)
    except OSError as exc:
        raise _unavailable(name, f"not cached and the download failed: {exc}") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise _unavailable(name, "the downloaded file has the wrong checksum")
    if path is not None:
        with contextlib.suppress(OSError):  # unwritable: only costs a later re-download
            _ranks._atomic_write(path, [data])
    return data


def _rank_dir() -> Path:
    from gptcli.settings import cache_dir

    return cache_dir() / "tiktoken"


def _full_ranks(spec: _Spec, download: bool) -> dict[bytes, int]:
    assert spec.bpe is not None
    url, sha256 = spec.bpe
    key = sha256 or hashlib.sha1(url.encode()).hexdigest()
    marshal_path, index_path = _ranks.cache_paths(_rank_dir(), key)
    ranks = _ranks.read_marshal(marshal_path)
    if ranks is None:
        ranks = _ranks.parse_tiktoken_bpe(_source_bytes(spec.name, url, sha256, download))
        with contextlib.suppress(OSError):  # read-only cache: still exact, slower next time
            _ranks.write_marshal(marshal_path, ranks)
    if not index_path.exists():
        with contextlib.suppress(OSError):
            _ranks.write_index(index_path, ranks)
    return ranks


_load_lock = threading.Lock()
# Loaded encodings are immutable and costly to build; one per name per process. The
# same goes for opened (and checksummed) rank indexes.
_loaded: dict[str, tiktoken.Encoding] = {}
_indexes: dict[Path, _ranks.RankIndex] = {}
_small_builds: dict[str, int] = {}
_SMALL_BUILDS_BEFORE_FULL = 16


def get_encoding(name: str, *, download: bool = True) -> tiktoken.Encoding:
    """The full tiktoken encoding ``name``, built from gptcli's rank cache.

    Raises ``EncodingUnavailable`` (never hangs) when the file is missing and cannot be
    fetched within the deadline, ``ConfigError`` for an unknown name.
    """
    enc = _loaded.get(name)
    if enc is not None:
        return enc
    with _load_lock:
        enc = _loaded.get(name)
        if enc is not None:
            return enc
        spec = _spec(name)
        import tiktoken

        if spec.bpe is not None:
            enc = tiktoken.Encoding(
                spec.name,
                pat_str=spec.pat_str,
                mergeable_ranks=_full_ranks(spec, download),
                special_tokens=dict(spec.special_tokens),
                explicit_n_vocab=spec.explicit_n_vocab,
            )
        else:
            # gpt2's data-gym files: make sure both are local and sound, so tiktoken's
            # own loader (which cannot be given a timeout) never goes to the network.
            for url, sha256 in spec.data_gym:
                if _tiktoken_cache_file(url) is None:
                    raise _unavailable(name, "TIKTOKEN_CACHE_DIR is empty")
                _source_bytes(name, url, sha256, download)
            if not spec.data_gym:
                raise ConfigError(f"encoding {name!r} is not one gptcli can load safely")
            enc = tiktoken.get_encoding(name)
        _loaded[name] = enc
        return enc


def clear_cache() -> None:
    """Forget loaded encodings (tests, or after changing the cache directories)."""
    with _load_lock:
        _loaded.clear()
        _small_builds.clear()
        for index in _indexes.values():
            index.close()
        _indexes.clear()


def _small_encoder(name: str, texts: Sequence[bytes]) -> tiktoken.Encoding | None:
    """An encoder exact for ``texts`` built from only the tokens they contain, or None."""
    try:
        spec = _spec(name)
    except ConfigError:
        return None
    if spec.bpe is None:
        return None
    url, sha256 = spec.bpe
    _, index_path = _ranks.cache_paths(_rank_dir(), sha256 or hashlib.sha1(url.encode()).hexdigest())
    with _load_lock:
        # Many small counts in one process (a batch): past a few, the full encoder is
        # the cheaper one (each small encoder still compiles the regex, ~3 ms).
        _small_builds[name] = _small_builds.get(name, 0) + 1
        if _small_builds[name] > _SMALL_BUILDS_BEFORE_FULL:
            return None
        index = _indexes.get(index_path)
        if index is None:
            index = _ranks.RankIndex.open(index_path)  # verifies the checksum: once
            if index is None:
                return None
            _indexes[index_path] = index
    subset = index.subset(b"\n".join(texts), _SUBSET_STEP_BUDGET)
    if not subset:
        return None
    import tiktoken

    # Extra tokens from across the "\n" joins are real tokens with real ranks: harmless.
    return tiktoken.Encoding(
        spec.name,
        pat_str=spec.pat_str,
        mergeable_ranks=subset,
        special_tokens=dict(spec.special_tokens),
    )


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: tiktoken replaces them the same way before encoding.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def _count_strings(strings: Iterable[str], name: str) -> int:
    texts = [s for s in strings if s]
    if not texts:
        return 0
    enc = _loaded.get(name)
    if enc is None:
        data = [_utf8(s) for s in texts]
        if sum(map(len, data)) <= _SMALL_TEXT_BYTES:
            enc = _small_encoder(name, data)
        if enc is None:
            enc = get_encoding(name)
    return sum(len(enc.encode_ordinary(s)) for s in texts)


# ---------------------------------------------------------------------------------------
# counting


def count_text(text: str, model: str, encoding: str | None = None) -> int:
    """Tokens of ``text`` for ``model``; special-token text like ``<|endoftext|>`` is
    counted as ordinary text (what the API does with user content), never rejected."""
    return _count_strings([text], encoding_name(model, encoding)[0])


@dataclass(frozen=True)
class _Overheads:
    per_message: int
    per_name: int
    priming: int
    func_init: int
    func_end: int = 12
    prop_init: int = 3
    prop_key: int = 3
    enum_init: int = -3
    enum_item: int = 3


def _overheads(model: str | None, encoding: str | None) -> _Overheads:
    """The cookbook's constants. None for both means "the largest of any model"."""
    if model is None:
        return _Overheads(per_message=4, per_name=1, priming=3, func_init=10)
    per_message, per_name = 3, 1
    if _base_model(model).startswith("gpt-3.5-turbo-0301"):  # retired; older formula
        per_message, per_name = 4, -1
    # Tool constants were measured on gpt-3.5/gpt-4 (cl100k_base) and gpt-4o (the rest).
    func_init = 10 if encoding == "cl100k_base" else 7
    return _Overheads(per_message, per_name, 3, func_init)


def _strip_period(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


def _request_parts(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None,
    oh: _Overheads,
) -> tuple[list[str], int]:
    """Every string the formula counts, and the sum of its constant overheads.

    One walk shared by the exact count, the upper bound and the estimate, so the bound
    is provably >= the count: same overheads, and UTF-8 bytes >= tokens per string.
    """
    strings: list[str] = []
    overhead = 0
    for message in messages:
        overhead += oh.per_message
        for key, value in message.items():
            if isinstance(value, str):
                strings.append(value)
                if key == "name":
                    overhead += oh.per_name
            elif key == "content" and isinstance(value, list):
                # Multi-part content: text parts count as text; images and audio are
                # not modelled here (estimate them separately).
                for part in value:
                    if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                        strings.append(part["text"])
                    elif isinstance(part, str):
                        strings.append(part)
            elif key == "tool_calls" and isinstance(value, list):
                # Not in the cookbook; the function name and JSON arguments are what
                # the model reads back.
                for call in value:
                    function = call.get("function") if isinstance(call, Mapping) else None
                    if isinstance(function, Mapping):
                        strings.extend(v for k in ("name", "arguments") if isinstance(v := function.get(k), str))
    overhead += oh.priming
    if tools:
        for tool in tools:
            function = tool.get("function", tool)
            overhead += oh.func_init
            name = str(function.get("name", ""))
            strings.append(f"{name}:{_strip_period(str(function.get('description', '')))}")
            parameters = function.get("parameters") or {}
            properties = parameters.get("properties") or {}
            if properties:
                overhead += oh.prop_init
                for key, prop in properties.items():
                    overhead += oh.prop_key
                    if "enum" in prop:
                        overhead += oh.enum_init
                        for item in prop["enum"]:
                            overhead += oh.enum_item
                            strings.append(str(item))
                    description = _strip_period(str(prop.get("description", "")))
                    strings.append(f"{key}:{prop.get('type', '')}:{description}")
        overhead += oh.func_end
    return strings, overhead


def count_messages(
    messages: Sequence[Mapping[str, Any]],
    model: str,
    encoding: str | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """Prompt tokens of a Chat Completions request, by the OpenAI cookbook's formula.

    Per message 3 + the tokens of every string field (+1 for ``name``), +3 for reply
    priming; text parts of multi-part content are counted; ``tools`` are counted with the
    cookbook's ``num_tokens_for_tools`` constants. Exact (checked against the API by the
    cookbook) for text on gpt-3.5-turbo, gpt-4, gpt-4o and gpt-4o-mini; an estimate else.
    """
    name = encoding_name(model, encoding)[0]
    strings, overhead = _request_parts(messages, tools, _overheads(model, name))
    return overhead + _count_strings(strings, name)


def upper_bound_tokens(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    model: str | None = None,
) -> int:
    """A cheap bound, >= ``count_messages`` for any encoding, without tiktoken.

    Each BPE token covers at least one UTF-8 byte, so bytes >= tokens per string; the
    overheads are the same (or, with no ``model``, the largest any model uses).
    """
    # With a model, its message constants, but the larger (cl100k) tool constants: the
    # encoding is not looked up here.
    oh = _overheads(model, "cl100k_base") if model is not None else _overheads(None, None)
    strings, overhead = _request_parts(messages, tools, oh)
    return overhead + sum(len(_utf8(s)) for s in strings)


_NON_ASCII = bytes(range(0x80, 0x100))


def _approx_text(text: str) -> int:
    data = _utf8(text)
    ascii_bytes = len(data.translate(None, _NON_ASCII))
    other = len(data) - ascii_bytes
    # Measured on o200k_base (reference 4.2): English ~4.2 bytes/token, CJK-heavy text
    # ~3.5. Rounding the English rate down keeps the estimate on the high side.
    return -(-(ascii_bytes * 7 + other * 8) // 28)  # ceil(ascii / 4 + other / 3.5)


def approx_tokens(
    messages: str | Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """An estimate for when no encoding can be loaded: ~4 bytes/token for ASCII text,
    ~3.5 for other (CJK) bytes, plus the chat overheads. Label it as an estimate."""
    if isinstance(messages, str):
        return _approx_text(messages)
    strings, overhead = _request_parts(messages, tools, _overheads("", "o200k_base"))
    return overhead + sum(map(_approx_text, strings))


@dataclass(frozen=True)
class Count:
    """A prompt-token count and how much to trust it."""

    tokens: int
    encoding: str
    exact: bool  # the model's own tokenizer was used (formula caveats aside)
    estimated: bool  # the encoding could not be loaded: bytes-per-token estimate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_request(
    messages: Sequence[Mapping[str, Any]],
    model: str,
    encoding: str | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> Count:
    """``count_messages``, falling back to ``approx_tokens`` if the encoding is unavailable."""
    name, exact = encoding_name(model, encoding)
    try:
        tokens = count_messages(messages, model, encoding, tools)
    except EncodingUnavailable:
        return Count(approx_tokens(messages, tools), name, exact=False, estimated=True)
    return Count(tokens, name, exact=exact, estimated=False)


# ---------------------------------------------------------------------------------------
# large files


@functools.cache
def _split_rule(encoding: str) -> re.Pattern[str] | None:
    """Where a text may be cut so that count(a) + count(b) == count(a + b).

    tiktoken splits text into pieces with a regex and BPE-encodes each piece alone, so a
    cut is exact when (1) no piece of a + b spans it and (2) a alone is split as the
    front of a + b. The pieces of b are then the same too (the regexes have no
    lookbehind). For o200k_base and cl100k_base these cuts qualify, between x and y:

    * x not whitespace, y a space or tab. Only whitespace pieces contain spaces, and
      the only piece that runs from non-whitespace into whitespace is a punctuation run
      followed by newlines (and "/" in o200k). A ends in non-whitespace, so the
      ``\\s+(?!\\S)`` lookahead and cl100k's ``\\s++$`` never see its end.
    * x a newline, y neither whitespace nor "/". A piece holding the newline is
      whitespace ending in newlines, or punctuation + ``[\\r\\n/]*``; neither takes y. At
      the end of a, the whitespace run ending in "\\n" is one piece either way:
      ``\\s*[\\r\\n]+`` (o200k) and ``\\s*[\\r\\n]`` / ``\\s++$`` (cl100k) all take it whole.
    * x a letter (or other non-decimal alphanumeric), y ASCII or CJK punctuation other
      than the apostrophe: letter pieces take only letters, marks and contractions.
    * x an ASCII digit, y a printable ASCII non-digit: digit pieces take only digits.

    "Not whitespace" is Python's ``\\S`` (``not str.isspace()``), a subset of Unicode's
    non-White_Space, so a doubtful character never allows a cut. Other encodings (legacy
    r50k/p50k/gpt2, whose regex differs) get no cuts: their files are read whole.
    """
    if encoding not in ("o200k_base", "o200k_harmony", "cl100k_base"):
        return None
    return re.compile(
        r"(?<=\S)[ \t]"
        r"|(?<=\n)[^\s/]"
        r"|(?<=[^\W\d_])[!-&(-/:-@\[-`{-~，。、；：！？（）「」《》]"
        r"|(?<=[0-9])[!-/:-~]"
    )


def _last_cut(text: str, rule: re.Pattern[str]) -> int:
    """The last exact cut in ``text`` (> 0), or -1. Searches backwards in growing windows."""
    window = 256
    while True:
        start = max(1, len(text) - window)
        last = -1
        for match in rule.finditer(text, start):
            last = match.start()
        if last > 0 or start == 1:
            return last
        window *= 8


def _chunks(blocks: Iterable[bytes], rule: re.Pattern[str] | None, size: int) -> Iterator[str]:
    """The decoded text of ``blocks`` in pieces of about ``size``, cut only where
    ``rule`` allows (never, if it is None).

    Memory stays near a few chunks, except while a stretch without any allowed cut
    (one huge whitespace run, say) has to be held whole. Each block is searched once,
    so such a stretch costs linear time, not quadratic.
    """
    # The incremental decoder gives the same text as decoding everything at once, even
    # when a block ends inside a character or on invalid bytes.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    held: list[str] = []
    length = 0  # characters held
    cut_at = -1  # the last allowed cut in the text held
    last = ""  # the last character held: a cut depends on the characters on both sides
    for block in blocks:
        text = decoder.decode(block)
        if not text:
            continue
        if rule is not None:
            k = _last_cut(last + text, rule)
            if k > 0:
                cut_at = length - len(last) + k
        held.append(text)
        length += len(text)
        last = text[-1]
        if cut_at > 0 and length >= size // 2:
            whole = "".join(held)
            yield whole[:cut_at]
            rest = whole[cut_at:]  # no allowed cut in here: cut_at was the last one
            held, length, cut_at = [rest], len(rest), -1
    held.append(decoder.decode(b"", final=True))
    if tail := "".join(held):
        yield tail


def _blocks(stream: IO[bytes], size: int, first: bytes) -> Iterator[bytes]:
    if first:
        yield first
    while block := stream.read(size):
        yield block


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def count_file(
    path: str | os.PathLike[str] | IO[bytes],
    model: str,
    encoding: str | None = None,
    workers: int | None = None,
    *,
    chunk_bytes: int = _CHUNK_BYTES,
) -> int:
    """Tokens of a UTF-8 file (invalid bytes count as U+FFFD), equal to
    ``count_text(data.decode("utf-8", "replace"), ...)`` but in bounded memory.

    The file is read in blocks, cut only where the count stays exact (``_split_rule``),
    and the chunks are encoded on ``workers`` threads (default: one per available core;
    tiktoken's encoder releases the GIL while it works).
    """
    name = encoding_name(model, encoding)[0]
    if hasattr(path, "read"):
        return _count_stream(path, name, workers, chunk_bytes)  # type: ignore[arg-type]
    with open(path, "rb") as stream:
        return _count_stream(stream, name, workers, chunk_bytes)


def _counter(enc: tiktoken.Encoding) -> Callable[[str], int]:
    """``len(enc.encode_ordinary(text))``, without building the list when possible.

    Turning millions of tokens into Python ints happens with the GIL held (about a tenth
    of the encode time), which is what keeps threads from scaling. tiktoken's buffer
    encoder (behind ``encode_to_numpy``) skips that; with no special token allowed it
    encodes like ``encode_ordinary``. It is not public API, so it is used only if present
    and if it agrees with ``encode_ordinary`` on a probe. Its buffer reports a wrong
    shape in tiktoken 0.14 but the right byte length, hence the cast to bytes.
    """

    def ordinary(text: str) -> int:
        return len(enc.encode_ordinary(text))

    encode_buffer = getattr(getattr(enc, "_core_bpe", None), "encode_to_tiktoken_buffer", None)
    if encode_buffer is None:
        return ordinary

    def buffered(text: str) -> int:
        return len(memoryview(encode_buffer(text, set())).cast("B")) // 4

    probe = "gptcli probe: <|endoftext|> don't  \n\n 你好，世界 12345 /* x */\t"
    try:
        if buffered(probe) == ordinary(probe) and buffered("") == 0:
            return buffered
    except Exception:  # any surprise in a private API: use the public one
        pass
    return ordinary


def _count_stream(stream: IO[bytes], name: str, workers: int | None, chunk_bytes: int) -> int:
    head = stream.read(chunk_bytes)
    rest = stream.read(1)
    if not rest:  # small: maybe the subset fast path, and no threads
        return _count_strings([head.decode("utf-8", "replace")], name)
    count = _counter(get_encoding(name))
    from concurrent.futures import Future, ThreadPoolExecutor

    chunks = _chunks(_blocks(stream, chunk_bytes, head + rest), _split_rule(name), chunk_bytes)
    n_workers = workers or _default_workers()
    if n_workers <= 1:
        return sum(count(chunk) for chunk in chunks)
    total = 0
    in_flight: deque[Future[int]] = deque()
    with ThreadPoolExecutor(n_workers, thread_name_prefix="gptcli-count") as pool:
        for chunk in chunks:
            in_flight.append(pool.submit(count, chunk))
            # Bounded read-ahead: memory stays at ~2 chunks per worker.
            if len(in_flight) >= 2 * n_workers:
                total += in_flight.popleft().result()
        while in_flight:
            total += in_flight.popleft().result()
    return total


# ---------------------------------------------------------------------------------------
# prices, context windows, cost


@dataclass(frozen=True)
class ModelInfo:
    """Price and context window of a model, and where they came from."""

    price: Price | None
    context_window: int | None
    matched: str | None  # the genai-prices model id that matched, if it was used
    source: Literal["profile", "genai-prices"] | None  # where ``price`` came from
    # Long-context tiers from genai-prices: (prompt tokens above which, price for all).
    tiers: tuple[tuple[int, Price], ...] = ()

    def price_for(self, prompt_tokens: int) -> Price | None:
        """The price that applies to a request with this many prompt tokens."""
        price = self.price
        for start, tier_price in self.tiers:
            if prompt_tokens > start:
                price = tier_price
        return price

    def to_dict(self) -> dict[str, Any]:
        return {
            "price": self.price.to_dict() if self.price else None,
            "context_window": self.context_window,
            "matched": self.matched,
            "source": self.source,
            "tiers": [[start, price.to_dict()] for start, price in self.tiers],
        }


@dataclass(frozen=True)
class _Looked:
    price: Price | None
    context_window: int | None
    matched: str
    tiers: tuple[tuple[int, Price], ...]


def _genai_lookup(model: str, base_url: str | None) -> _Looked | None:
    """``_genai_lookup_data``, remembered in the user cache dir (see ``pricecache``).

    Loading genai-prices' data costs ~45 ms per process, the largest part of a short
    ``ask`` after the openai SDK; the cached answer costs well under 1 ms.
    """
    from gptcli import pricecache

    key = f"{redact_url(base_url or OPENAI_BASE_URL)} {model}"  # a cache file holds no password
    hit = pricecache.get(key)
    if hit is not pricecache.MISSING:
        try:
            return _looked_from_json(hit)
        except (TypeError, ValueError, KeyError):
            pass  # a damaged entry: look it up again
    looked = _genai_lookup_data(model, base_url)
    pricecache.put(key, None if looked is None else asdict(looked))
    return looked


def _looked_from_json(data: Any) -> _Looked | None:
    if data is None:
        return None

    def price(d: Any) -> Price | None:
        return None if d is None else Price(d["input"], d["cached_input"], d["output"])

    tiers = tuple((int(start), price(p)) for start, p in data["tiers"])
    return _Looked(price(data["price"]), data["context_window"], data["matched"], tiers)  # type: ignore[arg-type]


def _genai_lookup_data(model: str, base_url: str | None) -> _Looked | None:
    """genai-prices' bundled data for ``model`` at ``base_url``; None when unknown.

    Never starts ``UpdatePrices`` (no network). Price data is advisory: any failure in
    it (unknown provider or model, a data quirk) must mean "price unknown", never a
    failed request, hence the broad except.
    """
    try:
        from datetime import UTC, datetime

        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        _, info = snapshot.find_provider_model(model, None, None, base_url or OPENAI_BASE_URL)
        prices = info.get_prices(datetime.now(UTC))
        raw = {key: getattr(prices, key, None) for key in ("input_mtok", "cache_read_mtok", "output_mtok")}
    except Exception:
        return None

    def at(value: Any, start: int | None) -> float | None:
        if value is None:
            return None
        tiers = getattr(value, "tiers", None)
        if tiers is None:
            return float(value)
        price = value.base
        for tier in tiers:
            if start is not None and tier.start <= start:
                price = tier.price
        return float(price)

    starts = sorted({tier.start for value in raw.values() for tier in (getattr(value, "tiers", None) or ())})

    def price_at(start: int | None) -> Price:
        return Price(
            input=at(raw["input_mtok"], start),
            cached_input=at(raw["cache_read_mtok"], start),
            output=at(raw["output_mtok"], start),
        )

    base = price_at(None)
    context_window = info.context_window
    if context_window is None and model.startswith("ft:"):
        parent = _genai_lookup(_base_model(model), base_url)
        context_window = parent.context_window if parent else None
    return _Looked(
        price=base if (base.input is not None or base.output is not None) else None,
        context_window=context_window,
        matched=info.id,
        tiers=tuple((start, price_at(start)) for start in starts),
    )


def model_info(
    model: str,
    base_url: str | None = None,
    price: Price | None = None,
    context_window: int | None = None,
) -> ModelInfo:
    """Price and context window for ``model`` served at ``base_url`` (None: OpenAI).

    A profile's ``[price]`` and ``context_window`` win; otherwise genai-prices' bundled
    data, matched by provider URL and model name (show ``matched`` to the user: the
    match is fuzzy); otherwise unknown (None), never a guess.
    """
    if price is not None and context_window is not None:
        return ModelInfo(price, context_window, None, "profile")
    looked = _genai_lookup(model, base_url)
    if looked is None:
        return ModelInfo(price, context_window, None, "profile" if price else None)
    if price is not None:
        return ModelInfo(price, looked.context_window, looked.matched, "profile")
    return ModelInfo(
        looked.price,
        context_window if context_window is not None else looked.context_window,
        looked.matched,
        "genai-prices" if looked.price else None,
        looked.tiers if looked.price else (),
    )


def cost(price: Price | None, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float | None:
    """USD for one request; None if the price is unknown.

    ``prompt_tokens`` includes ``cached_tokens`` (OpenAI's convention); those are billed
    at the cached-input price when there is one. ``completion_tokens`` already includes
    reasoning tokens and every one of the ``n`` choices.
    """
    if price is None or price.input is None or price.output is None:
        return None
    cached = max(0, min(cached_tokens, prompt_tokens))
    cached_price = price.cached_input if price.cached_input is not None else price.input
    return (
        (prompt_tokens - cached) * price.input + cached * cached_price + completion_tokens * price.output
    ) / 1_000_000


def cost_range(
    price: Price | None, prompt_tokens: int, max_output_tokens: int | None, n: int = 1
) -> tuple[float | None, float | None]:
    """(prompt only, prompt + the whole output allowance of each of the ``n`` choices).

    The prompt is billed once whatever ``n`` is; before the call no cache hit is known,
    so both ends use the full input price. The upper end is None without a limit.
    """
    low = cost(price, prompt_tokens, 0)
    if low is None or max_output_tokens is None:
        return low, None
    return low, cost(price, prompt_tokens, max_output_tokens * max(1, n))
