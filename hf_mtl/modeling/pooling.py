"""Pooling: how a text head turns a sequence of hidden states into one vector (or its per-token logits into one row).

The one home of the ``pooling:`` setting of text tasks. A task picks one of :data:`POOLING_CHOICES`; ``family``
(the default) is resolved from the encoder family (``encoder_families.family_pooling``: BERT's first token,
ModernBERT's ``classifier_pooling``, EuroBERT's ``late`` pooling, a decoder's last token) when the config is built,
and the resolved method is what the task's config entry records, so a saved model pools the same way whatever
hf_mtl version loads it and the export can give the family's class the same setting.

Methods (every one reads ``attention_mask``, 1 on real tokens, so padding never changes the result):

- ``cls``: the first token (BERT, RoBERTa, ELECTRA, DeBERTa ...).
- ``mean``: the mean over real tokens (ModernBERT with ``classifier_pooling="mean"``).
- ``max``: the element-wise maximum over real tokens.
- ``last``: the last real token, for right and left padding alike, found as ``LlamaForSequenceClassification``
  finds it: the largest position whose mask is 1.
- ``late`` (only from a family, EuroBERT): the head runs on every token and its logits are averaged over the real
  tokens.

Part of the *modeling core*: imports only torch, so it is copied next to saved weights.

Example:

```python
>>> import torch
>>> hidden = torch.arange(12.0).view(1, 4, 3)
>>> mask = torch.tensor([[0, 1, 1, 0]])  # left and right padding
>>> pool(hidden, mask, "last").tolist(), pool(hidden, mask, "mean").tolist()
([[6.0, 7.0, 8.0]], [[4.5, 5.5, 6.5]])

```
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["FAMILY", "LATE", "POOLING_CHOICES", "POOLING_METHODS", "check_pooling", "last_token_index",
           "masked_mean", "pool"]

FAMILY = "family"
LATE = "late"
POOLING_CHOICES: tuple[str, ...] = (FAMILY, "cls", "mean", "max", "last")
"""What a text task's ``pooling:`` accepts; ``family`` (the default) is the encoder family's own."""
POOLING_METHODS: tuple[str, ...] = ("cls", "mean", "max", "last", LATE)
"""What a resolved pooling is: a choice other than ``family``, or a family's ``late`` pooling."""


def check_pooling(pooling: Any, where: str) -> str | None:
    """``pooling`` if it is a valid choice (``None``: the family's), else ``ValueError`` naming the choices.

    A resolved ``late`` (EuroBERT's, recorded in saved configs) is accepted too.

    Example:
        >>> check_pooling("mean", "Task 'topic'")
        'mean'
    """
    if pooling is None or pooling in POOLING_CHOICES or pooling == LATE:
        return pooling
    raise ValueError(f"{where}: `pooling` must be one of {list(POOLING_CHOICES)}, not {pooling!r}.")


def _mask_like(hidden_states: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    if attention_mask is None:
        return torch.ones(hidden_states.shape[:2], dtype=hidden_states.dtype, device=hidden_states.device)
    return attention_mask.to(device=hidden_states.device, dtype=hidden_states.dtype)


def masked_mean(values: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """The mean of ``values`` ``(batch, seq_len, dim)`` over the positions whose mask is 1 (ModernBERT's formula)."""
    mask = _mask_like(values, attention_mask)
    return (values * mask.unsqueeze(-1)).sum(dim=1) / mask.sum(dim=1, keepdim=True)


def last_token_index(attention_mask: torch.Tensor | None, seq_len: int) -> torch.Tensor | int:
    """The position of each row's last real token: the largest position with mask 1 (right or left padding).

    ``LlamaForSequenceClassification`` computes ``(arange(seq_len) * non_pad_mask).argmax(-1)``; this is the same
    with the attention mask as the non-padding mask. Without a mask: the last position (``-1``).
    """
    if attention_mask is None:
        return -1
    positions = torch.arange(seq_len, device=attention_mask.device, dtype=torch.int32)
    return (positions * attention_mask.to(torch.int32)).argmax(-1)


def pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, method: str) -> torch.Tensor:
    """One vector per sequence, ``(batch, dim)``, from ``hidden_states`` ``(batch, seq_len, dim)``.

    Args:
        method: ``cls``, ``mean``, ``max`` or ``last`` (``late`` pools logits, see :func:`masked_mean`).
    """
    if method == "cls":
        return hidden_states[:, 0]
    if method == "mean":
        return masked_mean(hidden_states, attention_mask)
    if method == "max":
        if attention_mask is None:
            return hidden_states.max(dim=1).values
        padding = attention_mask.to(hidden_states.device).unsqueeze(-1) == 0
        return hidden_states.masked_fill(padding, torch.finfo(hidden_states.dtype).min).max(dim=1).values
    if method == "last":
        index = last_token_index(attention_mask, hidden_states.shape[1])
        rows = torch.arange(hidden_states.shape[0], device=hidden_states.device)
        return hidden_states[rows, index.to(hidden_states.device) if torch.is_tensor(index) else index]
    raise ValueError(f"Unknown pooling {method!r}; expected one of {list(POOLING_METHODS[:-1])}.")
