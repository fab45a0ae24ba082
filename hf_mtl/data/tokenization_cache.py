"""The tokenization cache: tokenized splits stored as ``cache-<fingerprint>.arrow`` files.

Files live under :func:`default_cache_dir` (``$HF_DATASETS_CACHE/hf_mtl/tokenized``), so a second identical run
reads them instead of tokenizing. The fingerprint hashes the raw split's datasets fingerprint (for the
in-memory splits the readers build, a hash of their content: any change to a file or to how it is read changes
it), the tokenizer (its full ``tokenizer.json`` state, class and special tokens), every setting of the map
(labels, ``max_length``, ...) and :data:`CACHE_FORMAT_VERSION` with the hf_mtl version.
``datasets.disable_caching()`` turns the cache off. The tokenizer's hash is computed once per tokenizer object (not
once per task and split) and recomputed when its size, special tokens or pipeline components change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import weakref
from pathlib import Path
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from ..modeling.configuration_multitask import HF_MTL_VERSION

logger = logging.getLogger("hf_mtl")

# Bump when the same raw split, tokenizer and settings would tokenize differently (new columns, other alignment
# rules), so that cache files written by older code are never served.
CACHE_FORMAT_VERSION = 1

__all__ = ["CACHE_FORMAT_VERSION", "cache_fingerprint", "cached_map", "default_cache_dir"]


_BACKEND_DIGESTS: dict[str, str] = {}  # sha256 of a backend's to_str() -> digest without truncation/padding


def _backend_digest(serialized: str) -> str:
    key = hashlib.sha256(serialized.encode()).hexdigest()
    if key not in _BACKEND_DIGESTS:
        state = json.loads(serialized)
        # every call sets the backend's truncation/padding to that call's arguments: not the tokenizer's identity
        state.pop("truncation", None)
        state.pop("padding", None)
        if len(_BACKEND_DIGESTS) > 64:
            _BACKEND_DIGESTS.clear()
        # the serializer writes keys (and vocabularies, by id) in a fixed order, so no sort_keys (slow on a vocab)
        _BACKEND_DIGESTS[key] = hashlib.sha256(json.dumps(state).encode()).hexdigest()
    return _BACKEND_DIGESTS[key]


# tokenizer -> (its cheap state, its fingerprint): serializing a fast tokenizer (~3-5 ms for a 30k vocabulary) once
# per tokenizer instead of once per task and split; weak keys, so a tokenizer is not kept alive by the cache
_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cheap_state(tokenizer: PreTrainedTokenizerBase) -> tuple:
    """What can change a tokenizer's output short of replacing its vocabulary, read without serializing it (~10 µs):
    size, added and special tokens, and every pipeline component of a fast tokenizer but its vocabulary model,
    whose type and settings stand in for it."""
    state: list[Any] = [len(tokenizer), repr(sorted(tokenizer.special_tokens_map.items())),
                        str(getattr(tokenizer, "added_tokens_decoder", None))]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state.append(id(backend))
        for component in (backend.normalizer, backend.pre_tokenizer, backend.post_processor, backend.decoder):
            state.append(None if component is None else component.__getstate__())
        model = backend.model
        state.append(type(model).__name__)
        state.append(tuple(str(getattr(model, key, None)) for key in
                           ("unk_token", "continuing_subword_prefix", "end_of_word_suffix", "max_input_chars_per_word",
                            "dropout", "byte_fallback", "fuse_unk", "ignore_merges")))
        state.append(backend.get_vocab_size(with_added_tokens=True))
    return tuple(state)


def _tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """The tokenizer's part of the cache key: computed once per tokenizer object and kept while its cheap state
    (:func:`_cheap_state`) stays the same (an added token, a new normalizer or pre-tokenizer recomputes it)."""
    try:
        state = _cheap_state(tokenizer)
        cached = _FINGERPRINTS.get(tokenizer)
    except TypeError:  # not weak-referenceable: no memo
        return _full_tokenizer_fingerprint(tokenizer)
    if cached is not None and cached[0] == state:
        return cached[1]
    fingerprint = _full_tokenizer_fingerprint(tokenizer)
    _FINGERPRINTS[tokenizer] = (state, fingerprint)
    return fingerprint


def _full_tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(_backend_digest(backend.to_str()).encode())
    else:
        digest.update(str(sorted(tokenizer.get_vocab().items())).encode())
    digest.update(repr(sorted(tokenizer.special_tokens_map.items())).encode())
    return digest.hexdigest()


def cache_fingerprint(dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, *parts: Any) -> str:
    """The cache key of tokenizing ``dataset`` with ``tokenizer`` and the map settings ``parts``."""
    digest = hashlib.sha256(str(dataset._fingerprint).encode())
    digest.update(_tokenizer_fingerprint(tokenizer).encode())
    digest.update(json.dumps([CACHE_FORMAT_VERSION, HF_MTL_VERSION, *parts], sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def default_cache_dir() -> Path:
    """Where tokenized splits are cached: ``$HF_DATASETS_CACHE/hf_mtl/tokenized`` (datasets' cache folder)."""
    return Path(datasets.config.HF_DATASETS_CACHE) / "hf_mtl" / "tokenized"


def _cache_file(fingerprint: str, cache_dir: str | Path | None) -> str | None:
    if not datasets.is_caching_enabled():
        return None
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        logger.warning("cannot create the tokenization cache folder %s (%s); tokenizing without a cache", folder, err)
        return None
    return str(folder / f"cache-{fingerprint}.arrow")


def cached_map(raw: datasets.Dataset, encode: Any, fingerprint: str, cache_dir: str | Path | None,
                desc: str) -> tuple[datasets.Dataset, str | None, bool]:
    """``raw.map(encode)`` written to (or read from) the cache file named by ``fingerprint``.

    datasets writes the file under a temporary name and moves it into place, so concurrent runs (DDP ranks)
    never read a half-written file. A cache file that cannot be read (truncated, garbled) is removed and rebuilt,
    with a warning.
    """
    cache_file = _cache_file(fingerprint, cache_dir)
    hit = cache_file is not None and Path(cache_file).is_file()

    def tokenize() -> datasets.Dataset:
        return raw.map(
            encode, batched=True, with_indices=True, remove_columns=raw.column_names, new_fingerprint=fingerprint,
            cache_file_name=cache_file, load_from_cache_file=True, desc=desc,
        )

    if not hit:
        return tokenize(), cache_file, hit
    try:
        _check_complete(cache_file)  # type: ignore[arg-type]
        tokenized = tokenize()
        for batch in tokenized.data.to_batches():
            batch.validate()
    except Exception as err:  # a truncated or garbled file (a kill while copied, a full disk): rebuild it
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        logger.warning("the tokenization cache file %s cannot be read (%s: %s); tokenizing again and rewriting it",
                       cache_file, type(err).__name__, first)
        Path(cache_file).unlink(missing_ok=True)  # type: ignore[arg-type]
        return tokenize(), cache_file, False
    return tokenized, cache_file, hit


# An Arrow IPC stream ends with this marker (continuation token, zero length): a file without it was cut short.
ARROW_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def _check_complete(cache_file: str) -> None:
    """A cache file that was cut short (a kill while it was copied, a full disk) may still map, and read zeros:
    it must end with the end-of-stream marker."""
    with open(cache_file, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(size - len(ARROW_END_OF_STREAM), 0))
        if handle.read() != ARROW_END_OF_STREAM:
            raise OSError("the file ends before the Arrow end-of-stream marker (cut short)")
