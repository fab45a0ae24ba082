"""Attachment scores of dependency trees, as the CoNLL 2018 shared task's evaluation script defines them.

- **UAS**: the share of words whose predicted head is the gold head.
- **LAS**: the share of words whose predicted head *and* relation are the gold ones, relations compared on their
  universal part (``nmod:poss`` counts as ``nmod``; ``conll18_ud_eval.py`` drops subtypes the same way).

Every word counts, punctuation included; the words are the syntactic words of CoNLL-U (integer IDs): multiword
token ranges (``1-2``) and empty nodes (``1.1``) are not words (the reader skips them, as the script aligns on
syntactic words). Words are compared in order, so gold and predicted sentences must have the same length.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..modeling.errors import HfMtlError

__all__ = ["attachment_scores", "universal_relation"]


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
