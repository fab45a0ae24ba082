"""The tokenizer as pre-split words need it: byte-level BPE tokenizers (RoBERTa, GPT-2, ...) get
``add_prefix_space=True`` on a copy, so that each word is encoded as the model saw words in pre-training."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from transformers import PreTrainedTokenizerBase

from ..modeling.errors import DataError

logger = logging.getLogger("hf_mtl")

__all__ = ["needs_prefix_space", "prepare_tokenizer"]


def _pre_tokenizer_json(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any] | None:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    return json.loads(backend.to_str()).get("pre_tokenizer")


def _byte_level_nodes(node: Any) -> list[dict[str, Any]]:
    if not isinstance(node, dict):
        return []
    if node.get("type") == "ByteLevel":
        return [node]
    return [n for child in node.get("pretokenizers", []) or [] for n in _byte_level_nodes(child)]


def needs_prefix_space(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether a byte-level BPE tokenizer (RoBERTa, GPT-2, BART, ...) lacks ``add_prefix_space=True``.

    Without it, pre-split words are encoded as if glued to the previous word (no ``Ġ``), which differs from
    how the model saw them in pre-training.
    """
    nodes = _byte_level_nodes(_pre_tokenizer_json(tokenizer))
    return bool(nodes) and not all(node.get("add_prefix_space") for node in nodes)


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Return a tokenizer fit for pre-split words: the same one, or a copy with ``add_prefix_space=True``.

    Byte-level BPE tokenizers (RoBERTa, GPT-2, ...) need ``add_prefix_space=True`` for
    ``is_split_into_words=True``. When that is missing, a copy is returned whose pre-tokenizer adds the
    space (the original is left untouched); save *that* tokenizer with the model. Slow (Python)
    tokenizers cannot be patched: load them with ``AutoTokenizer.from_pretrained(name, add_prefix_space=True)``.

    Example:

    ```python
    >>> tok = prepare_tokenizer(AutoTokenizer.from_pretrained("roberta-base"))  # doctest: +SKIP
    >>> tok.add_prefix_space  # doctest: +SKIP
    True
    ```
    """
    if not needs_prefix_space(tokenizer):
        if getattr(tokenizer, "add_prefix_space", None) is False and not getattr(tokenizer, "is_fast", True):
            raise DataError(
                f"tokenizer {tokenizer.name_or_path!r} needs add_prefix_space=True for pre-split words; load it with "
                f"AutoTokenizer.from_pretrained({tokenizer.name_or_path!r}, add_prefix_space=True)"
            )
        return tokenizer
    try:
        from tokenizers import Tokenizer

        state = json.loads(tokenizer.backend_tokenizer.to_str())
        for node in _byte_level_nodes(state.get("pre_tokenizer")):
            node["add_prefix_space"] = True
        patched = copy.deepcopy(tokenizer)
        patched._tokenizer = Tokenizer.from_str(json.dumps(state))
    except Exception as err:  # pragma: no cover - depends on the tokenizer class
        raise DataError(
            f"tokenizer {tokenizer.name_or_path!r} needs add_prefix_space=True for pre-split words and could not be "
            f"patched ({err}); load it with AutoTokenizer.from_pretrained(name, add_prefix_space=True)"
        ) from None
    if hasattr(patched, "add_prefix_space"):
        patched.add_prefix_space = True
    patched.init_kwargs["add_prefix_space"] = True
    logger.info("tokenizer %r: using a copy with add_prefix_space=True for pre-split words", tokenizer.name_or_path)
    return patched
