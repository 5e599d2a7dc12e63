"""Which encoding a model uses, and loading encodings fast and safely offline.

tiktoken's first ``get_encoding`` parses a 3.6 MB text file on every cold start; gptcli
caches the parsed ranks (``_ranks``) and builds ``tiktoken.Encoding`` from them. Short
texts do not even load the full ranks: a BPE built from just the vocabulary tokens that
occur in the text counts it exactly (``_ranks.RankIndex.subset`` says why). Without
tiktoken's file, o200k_base and cl100k_base come from the copies shipped in the
package (``bundled``); other missing encoding files are downloaded with a hard
deadline, never tiktoken's unbounded request; without them ``EncodingUnavailable``.
tiktoken is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import threading
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gptcli import _ranks
from gptcli.errors import ConfigError
from gptcli.prices import base_model

if TYPE_CHECKING:
    import tiktoken

# Below this many UTF-8 bytes of text, count with a BPE built from the tokens that occur
# in the text (a few ms) instead of loading all ranks (~0.1 s). The step budget bounds
# the Python scan on repetitive text, where loading everything is the cheaper way.
_SMALL_TEXT_BYTES = 8192
_SUBSET_STEP_BUDGET = 40_000
# Hard limit on fetching a missing encoding file, DNS included (urllib's timeout does
# not cover name resolution, so the fetch runs in a thread that is abandoned on expiry).
_DOWNLOAD_DEADLINE = 10.0
# count_file reads this much at a time and hands chunks of about this size to workers.


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


def encoding_name(model: str, override: str | None = None) -> tuple[str, bool]:
    """(encoding name, exact?) for ``model``.

    Order: the profile's ``encoding`` override; then, with an ``ft:`` prefix stripped to
    the base model (tiktoken maps ``ft:gpt-4.1-…`` to cl100k_base through its ``ft:gpt-4``
    prefix, which is wrong), tiktoken's own table; then gptcli's rule (gpt-3.5 and classic
    gpt-4 -> cl100k_base, everything else -> o200k_base). ``exact`` is True only when the
    encoding is an OpenAI model's own tokenizer; an override counts as exact only if it
    agrees with that.
    """
    resolved = _resolve(base_model(model))
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


def _cached_source(url: str, sha256: str | None) -> bytes | None:
    """tiktoken's cached copy of ``url`` if it is sound, else None."""
    path = _tiktoken_cache_file(url)
    if path is not None and path.is_file():
        data = path.read_bytes()
        if sha256 is None or hashlib.sha256(data).hexdigest() == sha256:
            return data
        # A damaged copy: tiktoken would delete it and re-fetch without a timeout.
    return None


def _source_bytes(name: str, url: str, sha256: str | None, download: bool) -> bytes:
    """The encoding file, verified: from tiktoken's cache, else fetched with a deadline."""
    data = _cached_source(url, sha256)
    if data is not None:
        return data
    path = _tiktoken_cache_file(url)
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
            from gptcli.jsonl import atomic_write

            atomic_write(path, data)
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
        ranks = _ranks_without_cache(spec.name, url, sha256, download)
        with contextlib.suppress(OSError):  # read-only cache: still exact, slower next time
            _ranks.write_marshal(marshal_path, ranks)
    if not index_path.exists():
        with contextlib.suppress(OSError):
            _ranks.write_index(index_path, ranks)
    return ranks


def _ranks_without_cache(name: str, url: str, sha256: str | None, download: bool) -> dict[bytes, int]:
    """tiktoken's cached file, else the ranks shipped with gptcli, else a download."""
    data = _cached_source(url, sha256)
    if data is None:
        from gptcli.tokens import bundled

        shipped = bundled.for_sha256(sha256)
        ranks = bundled.load(shipped) if shipped is not None else None
        if ranks is not None:
            return ranks
        data = _source_bytes(name, url, sha256, download)
    return _ranks.parse_tiktoken_bpe(data)


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


def utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: tiktoken replaces them the same way before encoding.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def count_strings(strings: Iterable[str], name: str) -> int:
    texts = [s for s in strings if s]
    if not texts:
        return 0
    enc = _loaded.get(name)
    if enc is None:
        data = [utf8(s) for s in texts]
        if sum(map(len, data)) <= _SMALL_TEXT_BYTES:
            enc = _small_encoder(name, data)
        if enc is None:
            enc = get_encoding(name)
    return sum(len(enc.encode_ordinary(s)) for s in texts)
