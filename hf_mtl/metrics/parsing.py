"""Attachment scores of dependency trees, as the CoNLL 2018 shared task's evaluation script defines them.

- **UAS**: the share of words whose predicted head is the gold head.
- **LAS**: the share of words whose predicted head *and* relation are the gold ones, relations compared on their
  universal part (``nmod:poss`` counts as ``nmod``; ``conll18_ud_eval.py`` drops subtypes the same way).

Every word counts, punctuation included; the words are the syntactic words of CoNLL-U (integer IDs): multiword
token ranges (``1-2``) and empty nodes (``1.1``) are not words (the reader skips them, as the script aligns on
syntactic words). Words are compared in order, so gold and predicted sentences must have the same length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..modeling.errors import HfMtlError
from ..modeling.parsing import unpack_arcs_list
from ..modeling.task_kinds import IGNORE_INDEX

__all__ = ["attachment_scores", "packed_attachment_scores", "universal_relation"]


def universal_relation(relation: str) -> str:
    """The universal part of a UD relation: ``"nmod:poss"`` -> ``"nmod"``."""
    return relation.split(":", 1)[0]


def attachment_scores(
    gold: Sequence[Sequence[tuple[int, str]]], predicted: Sequence[Sequence[tuple[int, str]]]
) -> dict[str, float]:
    """``{"uas", "las"}`` over sentences of ``(head, relation)`` per word (head 0 = root, i = the i-th word).

    Example:

    ```python
    >>> gold = [[(2, "nsubj"), (0, "root"), (2, "obj:x")]]
    >>> predicted = [[(2, "nsubj"), (0, "root"), (1, "obj")]]
    >>> attachment_scores(gold, predicted)
    {'uas': 0.6666666666666666, 'las': 0.6666666666666666}

    ```
    """
    if len(gold) != len(predicted):
        raise HfMtlError(f"attachment_scores: {len(gold)} gold sentences but {len(predicted)} predicted.")
    words = heads_right = labelled_right = 0
    for index, (gold_sentence, predicted_sentence) in enumerate(zip(gold, predicted, strict=True)):
        if len(gold_sentence) != len(predicted_sentence):
            raise HfMtlError(
                f"attachment_scores: sentence {index} has {len(gold_sentence)} gold words but {len(predicted_sentence)} predicted."
            )
        for (gold_head, gold_relation), (head, relation) in zip(gold_sentence, predicted_sentence, strict=True):
            words += 1
            if head == gold_head:
                heads_right += 1
                labelled_right += universal_relation(relation) == universal_relation(gold_relation)
    if not words:
        return {"uas": 0.0, "las": 0.0}
    return {"uas": heads_right / words, "las": labelled_right / words}


def packed_attachment_scores(predictions: np.ndarray, label_ids: np.ndarray, id2label: Mapping[int, str]) -> dict[str, float]:
    """:func:`attachment_scores` from what the trainer gathers: packed ``head * num_relations + relation`` ids
    ``(N, T)`` for predictions and labels, ``-100`` where there is no word (``id2label``: the relations)."""
    if not id2label:
        raise HfMtlError("Metric 'attachment' needs the task's id2label (the dependency relations).")
    predictions, label_ids = np.asarray(predictions), np.asarray(label_ids)
    if predictions.shape != label_ids.shape:
        raise HfMtlError(f"Metric 'attachment': predictions of shape {predictions.shape} but labels of shape "
                         f"{label_ids.shape} (both must be packed ids (N, T)).")
    gold, predicted = [], []
    for gold_row, predicted_row in zip(label_ids.tolist(), predictions.tolist(), strict=True):
        keep = [position for position, value in enumerate(gold_row) if value != IGNORE_INDEX]
        gold.append([(head, id2label[relation]) for head, relation in
                     unpack_arcs_list([gold_row[p] for p in keep], len(id2label))])
        predicted.append([(head, id2label.get(relation, "")) if head >= 0 else (-1, "") for head, relation in
                          unpack_arcs_list([predicted_row[p] for p in keep], len(id2label))])
    return attachment_scores(gold, predicted)
