"""What the ``multitask`` pipeline makes of the logits: each window's reads, and one result per task of an input.

[`MultiTaskPipeline`] (``pipeline_multitask``) tokenizes and runs the model; this module owns the steps after the
encoder pass:

- [`Window`]: one encoder sequence of a sample, the token positions it reads and the word read at each;
- :func:`read_logits`: what ``_forward`` keeps of a batch's logits ([`Read`] per window), vectorized per task (one
  softmax and one device-to-host copy per task and batch);
- :func:`warn_if_truncated`, :func:`text_result` and :func:`word_results`: ``postprocess``, which joins an input's
  windows into ``{task: result}`` (the output of each task kind is described in ``pipeline_multitask``'s docstring).

Part of the files copied next to saved weights (the pipeline loads as remote code): imports torch, the standard
library and, relatively, ``parsing``, ``pipeline_inputs``, ``task_kinds`` and ``word_windows`` only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .parsing import unpack_arcs_list
from .pipeline_inputs import Sample
from .task_kinds import DEPENDENCIES, MULTI_LABEL, REGRESSION, SINGLE_LABEL, WORD_OUTPUTS, LabelScheme
from .word_windows import word_outputs

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
"""Multi-label text tasks return the labels scoring at least this (the pipeline's ``threshold``)."""

__all__ = ["DEFAULT_THRESHOLD", "Read", "Window", "read_logits", "text_result", "warn_if_truncated", "word_results"]


@dataclass
class Window:
    """One encoder sequence of a sample: the token positions it reads and the word read at each."""

    sample: Sample
    first: bool  # the sample's first window: text tasks read it
    length: int
    positions: list[int]
    words: list[int]


@dataclass
class Read:
    """What `_forward` keeps of one window's logits: per task, (label ids, scores) per word or the label scores."""

    values: dict[str, Any]


def read_logits(
    windows: list[Window],
    logits: dict[str, torch.Tensor],
    output_kinds: dict[str, str],
    decode: Callable[[str, torch.Tensor, torch.Tensor], torch.Tensor],
) -> list[Read]:
    """Vectorized per task over the batch: one softmax and one device-to-host copy per task.

    Token tasks keep each read word's best label (``decode(task, logits, first_sub_word_mask)``, the backend's
    decoder) and its probability; text tasks keep, on an input's first window, the probability of every label
    (softmax, sigmoid for multi-label, the raw value for regression).
    """
    device = next(iter(logits.values())).device
    rows = [b for b, window in enumerate(windows) for _ in window.positions]
    positions = [position for window in windows for position in window.positions]
    rows_t = torch.tensor(rows, dtype=torch.long, device=device)
    positions_t = torch.tensor(positions, dtype=torch.long, device=device)
    first_rows = [b for b, window in enumerate(windows) if window.first]
    reads = [Read({}) for _ in windows]
    scored = None  # the words' first sub-words, as the heads' decode takes them: one mask for every task
    for task, task_logits in logits.items():
        kind = output_kinds[task]
        if kind in WORD_OUTPUTS:
            if scored is None:
                scored = torch.zeros(task_logits.shape[:2], dtype=torch.bool, device=device)
                scored[rows_t, positions_t] = True
            ids = decode(task, task_logits, scored)[rows_t, positions_t]
            if kind == DEPENDENCIES:  # packed (head, relation): no per-label probability to read
                scores = [None] * len(positions)
            else:
                scores = task_logits[rows_t, positions_t].float().softmax(-1).gather(1, ids[:, None]).squeeze(1)
                scores = scores.tolist()
            ids = ids.tolist()
            start = 0
            for b, window in enumerate(windows):
                end = start + len(window.positions)
                reads[b].values[task] = (ids[start:end], scores[start:end])
                start = end
        elif first_rows:
            values = task_logits[first_rows].float()
            if kind == SINGLE_LABEL:
                values = values.softmax(-1)
            elif kind == MULTI_LABEL:
                values = values.sigmoid()
            for b, row in zip(first_rows, values.tolist(), strict=True):
                reads[b].values[task] = row
    return reads


def warn_if_truncated(sample: Sample) -> None:
    """Log, naming the input, that it was cut at ``sample.limit`` tokens without being asked to (and what to pass)."""
    if sample.truncated and sample.pair:
        logger.warning(
            "%s (a text pair) is longer than %d tokens and was truncated, the longer text first, as in training; "
            "pass truncation=True to cut silently.",
            "An input" if sample.index is None else f"Input {sample.index}",
            sample.limit,
        )
    elif sample.truncated:
        logger.warning(
            "%s is longer than %d tokens and was truncated: words after the cut get no tag. Pass stride=<tokens> "
            "(e.g. stride=%d) to tag every word with overlapping windows, or truncation=True to cut silently.",
            "An input" if sample.index is None else f"Input {sample.index}",
            sample.limit,
            sample.limit // 4,
        )


def text_result(
    kind: str, values: list[float], id2label: dict[int, str], top_k: int | None = None, threshold: float | None = None
) -> Any:
    """One text task's result from its first window's label scores (see :func:`read_logits`).

    Regression: ``{"value": float}``; multi-label: the labels scoring >= ``threshold`` (default
    [`DEFAULT_THRESHOLD`]), best first, at most ``top_k``; single-label: the best ``{"label", "score"}``, or a list
    of the ``top_k`` best.

    Example:
        ```python
        >>> text_result("single_label", [0.2, 0.8], {0: "negative", 1: "positive"})
        {'label': 'positive', 'score': 0.8}

        ```
    """
    if kind == REGRESSION:
        return {"value": float(values[0])}
    if kind == MULTI_LABEL:
        limit = DEFAULT_THRESHOLD if threshold is None else threshold
        chosen = sorted(
            ({"label": id2label[j], "score": s} for j, s in enumerate(values) if s >= limit),
            key=lambda item: -item["score"],
        )
        return chosen[:top_k] if top_k else chosen
    order = sorted(range(len(values)), key=lambda j: -values[j])[: top_k or 1]
    best = [{"label": id2label[j], "score": values[j]} for j in order]
    return best if top_k else best[0]


def word_results(
    task: str,
    kind: str,
    sample: Sample,
    windows: list[Window],
    reads: list[Read],
    id2label: dict[int, str],
    scheme: LabelScheme | None = None,
) -> list[dict[str, Any]]:
    """One token task's per-word result for a sample, its windows' reads joined in word order (:func:`word_outputs`).

    A dependency head read in a window indexes that window's words: it becomes the 1-based index of the input's word.
    """
    read: list[tuple[int, int, float]] = []
    for window, window_read in zip(windows, reads, strict=True):
        ids, scores = window_read.values[task]
        if kind == DEPENDENCIES:  # heads index the window's words: make them 1-based indices of the input's
            ids = [(0 if head == 0 else window.words[head - 1] + 1, relation)
                   for head, relation in unpack_arcs_list(ids, len(id2label))]
        read.extend(zip(window.words, ids, scores, strict=True))
    if len(windows) > 1:
        read.sort(key=lambda item: item[0])
    return word_outputs(kind, read, sample.text, sample.word_spans, id2label, scheme)
