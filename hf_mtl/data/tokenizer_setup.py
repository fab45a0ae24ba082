"""The tokenizer as hf_mtl needs it: byte-level BPE tokenizers (RoBERTa, GPT-2, ...) get ``add_prefix_space=True``
on a copy, so that each pre-split word is encoded as the model saw words in pre-training, and a tokenizer without a
pad token (GPT-2, Llama and most decoder LLMs) gets one on a copy, so that batches can be padded."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from transformers import PreTrainedTokenizerBase

from ..modeling.errors import DataError

logger = logging.getLogger("hf_mtl")

__all__ = ["ensure_pad_token", "needs_prefix_space", "prepare_tokenizer"]

# The special tokens a tokenizer without a pad token pads with, in order of preference: the end-of-sequence token
# (what transformers users set: `tokenizer.pad_token = tokenizer.eos_token`), else the unknown or start token.
PAD_TOKEN_STAND_INS = ("eos_token", "unk_token", "bos_token")


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


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Return a tokenizer that can pad: the same one, or a copy whose pad token is its end-of-sequence token.

    Decoder LLM tokenizers (GPT-2, Llama, Mistral, ...) often have no pad token; the copy pads with the first of
    ``eos_token``, ``unk_token``, ``bos_token`` it has (no new token: the embedding matrix keeps its size). Padding
    is masked out (``attention_mask``) and text heads of decoders read the last non-padding token, so which token
    pads does not change the logits. Save *that* tokenizer with the model: its ``pad_token_id`` is what the model's
    config records (``MultiTaskTrainer`` copies it there), which an exported ``*ForSequenceClassification`` needs.

    Raises:
        DataError: the tokenizer has none of those tokens.

    Example:

    ```python
    >>> tok = ensure_pad_token(AutoTokenizer.from_pretrained("gpt2"))  # doctest: +SKIP
    >>> tok.pad_token  # doctest: +SKIP
    '<|endoftext|>'
    ```
    """
    if tokenizer.pad_token is not None:
        return tokenizer
    stand_in = next((name for name in PAD_TOKEN_STAND_INS if getattr(tokenizer, name, None) is not None), None)
    if stand_in is None:
        raise DataError(
            f"tokenizer {tokenizer.name_or_path!r} has no pad token and no eos/unk/bos token to pad with; set one "
            "(tokenizer.pad_token = ...) before training"
        )
    patched = copy.deepcopy(tokenizer)
    patched.pad_token = getattr(tokenizer, stand_in)
    logger.info("tokenizer %r has no pad token: using a copy that pads with its %s %r", tokenizer.name_or_path,
                stand_in, patched.pad_token)
    return patched


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Return a tokenizer fit for pre-split words and padding: the same one, or a copy with ``add_prefix_space=True``
    (and a pad token, see :func:`ensure_pad_token`).

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
    tokenizer = ensure_pad_token(tokenizer)
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
