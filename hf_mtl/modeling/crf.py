"""A linear-chain conditional random field over the scored words of a token task (``decoder: crf``).

Learned transition scores between tags (and from the start / to the end of a sentence) on top of a token head's
per-token scores (the emissions); the loss is the negative log-likelihood of the gold tag sequence (the forward
algorithm), decoding is Viterbi. Only the *scored* positions take part (the first sub-word of each word: labels
other than ``-100`` in training and evaluation, the word starts in the pipeline); they are gathered to the left
first, so a word's tag follows the previous *word's* tag, never a sub-word's.

Decoding can be constrained by the task's entity tagging scheme: :func:`allowed_transitions` lists which tag may
follow which (``I-PER`` after ``O`` is impossible in IOB2, ``B-PER`` must be followed by ``I-PER``/``E-PER`` in
IOBES), and :meth:`LinearChainCRF.decode` never returns a forbidden path. Training is not constrained: gold data
that breaks the scheme (common in IOB1-style corpora) still has a finite likelihood.

Part of the *modeling core*: torch and its siblings only (copied next to the weights). Checked against
``pytorch-crf`` (same log-likelihood, same Viterbi paths on random inputs) in ``tests/test_crf.py``.

Example:

```python
>>> import torch
>>> crf = LinearChainCRF(num_tags=3)
>>> emissions, mask = torch.randn(2, 4, 3), torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
>>> crf.log_likelihood(emissions, torch.zeros(2, 4, dtype=torch.long), mask).shape
torch.Size([2])
>>> [len(path) for path in crf.decode(emissions, mask)]
[3, 2]

```
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .task_kinds import OUTSIDE, detect_label_scheme

__all__ = ["FORBIDDEN", "LinearChainCRF", "allowed_transitions", "gather_scored", "scatter_scored"]

FORBIDDEN = -1.0e4
"""Score added to a transition the label scheme forbids, at decoding (finite, so no NaN when a row is all forbidden)."""


def _reading(labels: Sequence[str]) -> list[tuple[str, str]] | None:
    """``(letter, type)`` per label in IOBES letters (BILOU's L/U read as E/S), or None for a non-entity label set."""
    scheme = detect_label_scheme(labels)
    if scheme is None:
        return None
    readings = []
    for label in labels:
        canonical = scheme.canonical(label)
        readings.append((OUTSIDE, "") if canonical == OUTSIDE else (canonical[0], canonical[2:]))
    return readings


def allowed_transitions(labels: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Which tag may start a sentence, follow another tag, end a sentence: ``(start, transitions, end)`` booleans.

    ``transitions[i, j]`` is True when tag ``j`` may follow tag ``i``. Label sets that are not an entity scheme (POS
    tags) and IOB1 allow everything. IOB2: ``I-X`` only after ``B-X`` or ``I-X`` (and not first). IOBES / BILOU:
    after ``B-X`` or ``I-X`` only ``I-X`` or ``E-X``; ``I-X``/``E-X`` only after ``B-X``/``I-X``; a sentence neither
    starts inside an entity nor ends in an open one.

    Example:

    ```python
    >>> start, transitions, end = allowed_transitions(["O", "B-PER", "I-PER"])
    >>> start.tolist(), transitions[0].tolist(), end.tolist()
    ([True, True, False], [True, True, False], [True, True, True])

    ```
    """
    size = len(labels)
    start, transitions, end = (torch.ones(size, dtype=torch.bool), torch.ones(size, size, dtype=torch.bool),
                               torch.ones(size, dtype=torch.bool))
    readings = _reading(labels)
    scheme = detect_label_scheme(labels)
    if readings is None or scheme is None or scheme.name == "IOB1":
        return start, transitions, end
    with_ends = scheme.name in ("IOBES", "BILOU")
    for j, (letter_to, type_to) in enumerate(readings):
        inside_to = letter_to in ("I", "E") if with_ends else letter_to == "I"
        start[j] = not inside_to
        if with_ends:
            end[j] = letter_to not in ("B", "I")
        for i, (letter_from, type_from) in enumerate(readings):
            open_from = letter_from in ("B", "I")  # an entity that the next tag must continue or (IOB2) may leave
            if inside_to:
                transitions[i, j] = open_from and type_from == type_to
            elif with_ends:
                transitions[i, j] = not open_from
    return start, transitions, end


def gather_scored(values: torch.Tensor, scored: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's scored positions to the left, in order: ``(gathered, mask)`` with the same length as ``values``.

    Args:
        values: ``(batch, seq_len, ...)`` (emissions or labels).
        scored: ``(batch, seq_len)`` booleans (first sub-words).

    No host synchronisation: the sequence length is kept, padding positions are masked out.
    """
    order = torch.argsort((~scored).to(torch.int8), dim=1, stable=True)
    mask = torch.arange(scored.shape[1], device=scored.device)[None, :] < scored.sum(dim=1, keepdim=True)
    index = order.view(*order.shape, *([1] * (values.dim() - 2))).expand_as(values)
    return values.gather(1, index), mask


def scatter_scored(into: torch.Tensor, scored: torch.Tensor, gathered: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`gather_scored` for ``(batch, seq_len)`` values: ``into`` with its scored positions
    replaced, in order, by the first ``mask``-ed values of ``gathered``."""
    order = torch.argsort((~scored).to(torch.int8), dim=1, stable=True)
    values = torch.where(mask, gathered.to(into.dtype), into.gather(1, order))
    return into.scatter(1, order, values)


class LinearChainCRF(nn.Module):
    """Transition scores between ``num_tags`` tags, the CRF log-likelihood and Viterbi decoding.

    Args:
        num_tags (`int`): The number of tags.
        labels (`Sequence[str]`, *optional*): The tag names, in id order; when they form an entity scheme, decoding
            never returns a transition the scheme forbids (:func:`allowed_transitions`).

    Weights: ``start_transitions`` ``(num_tags,)``, ``transitions`` ``(num_tags, num_tags)`` (from, to),
    ``end_transitions`` ``(num_tags,)``; the constraints are rebuilt from the labels (:meth:`constraints`).
    """

    def __init__(self, num_tags: int, labels: Sequence[str] | None = None) -> None:
        super().__init__()
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        self.reset_parameters()
        if labels is not None and len(labels) != num_tags:
            raise ValueError(f"LinearChainCRF: {len(labels)} labels for {num_tags} tags.")
        self.labels = tuple(labels) if labels is not None else None
        # Not buffers: transformers builds models on the meta device and would leave buffers uninitialised on load;
        # the constraints follow from the labels, so they are rebuilt from them (once per device).
        self._constraints: dict[torch.device, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def constraints(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(start, transitions, end)`` allowed by the label scheme (:func:`allowed_transitions`), on ``device``."""
        if device not in self._constraints:
            if self.labels is None:
                allowed = (torch.ones(self.num_tags, dtype=torch.bool), torch.ones(self.num_tags, self.num_tags,
                           dtype=torch.bool), torch.ones(self.num_tags, dtype=torch.bool))
            else:
                allowed = allowed_transitions(self.labels)
            self._constraints[device] = tuple(mask.to(device) for mask in allowed)
        return self._constraints[device]

    def reset_parameters(self) -> None:
        """Uniform in [-0.1, 0.1], as pytorch-crf and AllenNLP initialise transitions."""
        for parameter in (self.start_transitions, self.transitions, self.end_transitions):
            nn.init.uniform_(parameter, -0.1, 0.1)

    def log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``log p(tags | emissions)`` per sequence, ``(batch,)``; a sequence without scored positions gives 0.

        Args:
            emissions: ``(batch, length, num_tags)`` scores, scored positions first (see :func:`gather_scored`).
            tags: ``(batch, length)`` gold tag ids (any value where ``mask`` is False).
            mask: ``(batch, length)`` booleans, True on a prefix of each row.
        """
        emissions = emissions.float()
        tags = tags.clamp(min=0, max=self.num_tags - 1)
        mask = mask.bool()
        batch = torch.arange(emissions.shape[0], device=emissions.device)
        lengths = mask.sum(dim=1)
        # score of the gold path
        score = self.start_transitions[tags[:, 0]] + emissions[batch, 0, tags[:, 0]]
        step = self.transitions[tags[:, :-1], tags[:, 1:]] + emissions[:, 1:].gather(2, tags[:, 1:, None]).squeeze(2)
        score = score + (step * mask[:, 1:]).sum(dim=1)
        last = tags.gather(1, (lengths - 1).clamp(min=0)[:, None]).squeeze(1)
        score = score + self.end_transitions[last]
        # log partition function (forward algorithm)
        alpha = self.start_transitions + emissions[:, 0]
        for position in range(1, emissions.shape[1]):
            candidate = torch.logsumexp(alpha[:, :, None] + self.transitions + emissions[:, position, None, :], dim=1)
            alpha = torch.where(mask[:, position, None], candidate, alpha)
        log_partition = torch.logsumexp(alpha + self.end_transitions, dim=1)
        return torch.where(lengths > 0, score - log_partition, torch.zeros_like(score))

    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor, constrained: bool = True) -> torch.Tensor:
        """The best tag path per sequence, ``(batch, length)`` (0 where ``mask`` is False); on the device.

        ``constrained`` (default) applies the label scheme's forbidden transitions (:func:`allowed_transitions`).
        """
        emissions = emissions.float()
        mask = mask.bool()
        start, transitions, end = self.start_transitions, self.transitions, self.end_transitions
        if constrained:
            allowed_start, allowed, allowed_end = self.constraints(emissions.device)
            start = start + (~allowed_start) * FORBIDDEN
            transitions = transitions + (~allowed) * FORBIDDEN
            end = end + (~allowed_end) * FORBIDDEN
        length = emissions.shape[1]
        lengths = mask.sum(dim=1)
        score = start + emissions[:, 0]
        backpointers = []
        for position in range(1, length):
            best, pointer = (score[:, :, None] + transitions).max(dim=1)
            backpointers.append(pointer)
            score = torch.where(mask[:, position, None], best + emissions[:, position], score)
        best_last = (score + end).argmax(dim=1)
        tags = torch.zeros(emissions.shape[:2], dtype=torch.long, device=emissions.device)
        current = best_last
        for position in range(length - 1, -1, -1):
            inside = position < lengths
            current = torch.where(position == lengths - 1, best_last, current)
            tags[:, position] = torch.where(inside, current, torch.zeros_like(current))
            if position > 0:
                previous = backpointers[position - 1].gather(1, current[:, None]).squeeze(1)
                current = torch.where(inside, previous, current)
        return tags

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor, constrained: bool = True) -> list[list[int]]:
        """:meth:`viterbi` as lists of tag ids, one per sequence, each as long as its scored positions."""
        tags = self.viterbi(emissions, mask, constrained=constrained).tolist()
        return [row[:count] for row, count in zip(tags, mask.sum(dim=1).tolist(), strict=True)]
