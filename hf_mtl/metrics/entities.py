"""Token tasks: entity scores with ``seqeval`` (every tagging scheme read as the pipeline groups entities) and
token accuracy."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

from ..modeling.errors import HfMtlError, did_you_mean
from ..modeling.task_kinds import SCHEME_PREFIXES, LabelScheme, detect_label_scheme
from .scores import check_same_length

__all__ = ["SEQEVAL_SCHEMES", "seqeval_report", "seqeval_scores", "token_accuracy"]

SEQEVAL_SCHEMES: tuple[str, ...] = tuple(sorted(SCHEME_PREFIXES))
"""Tagging schemes accepted by :func:`seqeval_scores` in strict mode."""


def _check_sequences(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], what: str) -> None:
    check_same_length(y_true, y_pred, what)
    for i, (gold, pred) in enumerate(zip(y_true, y_pred, strict=True)):
        if len(gold) != len(pred):
            raise HfMtlError(
                f"{what}: sequence {i} has {len(gold)} gold tags but {len(pred)} predicted tags; filter the "
                "same positions (labels != -100) from both."
            )


def _type_key(entity_type: str) -> str:
    """Turn an entity type (``PER``, ``B-ORG``'s ``ORG``, ``misc-1``) into a lowercase metric-key fragment."""
    key = re.sub(r"[^0-9a-z]+", "_", entity_type.lower()).strip("_")
    return key or "untyped"


def _strict_scheme(scheme: str | LabelScheme, tags: set[str]) -> LabelScheme:
    """The scheme named for strict mode, with the separator and prefix side the tags use."""
    name = scheme.name if isinstance(scheme, LabelScheme) else str(scheme).upper()
    if name not in SEQEVAL_SCHEMES:
        raise HfMtlError(
            f"seqeval_scores: unknown tagging scheme {scheme!r}; use None (the scheme of the tags, read as "
            f"conlleval does) or one of {', '.join(SEQEVAL_SCHEMES)}.{did_you_mean(name, SEQEVAL_SCHEMES)}"
        )
    if isinstance(scheme, LabelScheme):
        return scheme
    found = detect_label_scheme(tags)
    return LabelScheme(name, found.separator, found.prefix_first) if found else LabelScheme(name)


def _canonical(sequences: Sequence[Sequence[str]], scheme: LabelScheme) -> list[list[str]]:
    out = []
    for sent_id, seq in enumerate(sequences):
        try:
            out.append([scheme.canonical(tag) for tag in seq])
        except ValueError as err:
            raise HfMtlError(
                f"seqeval_scores: sentence {sent_id}: {err} Tags must be O or a {scheme.name} prefix "
                f"({', '.join(sorted(scheme.prefixes))}) joined to a type; pass scheme=None to read the "
                "tags with the scheme they use."
            ) from None
    return out


def seqeval_scores(
    y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], scheme: str | LabelScheme | None = None
) -> dict[str, float]:
    """Entity-level precision, recall and F1 (micro-averaged over entities), token accuracy, and per-type scores.

    An entity counts as correct only when its type, start and end all match a gold entity (CoNLL evaluation).
    A thin wrapper over ``seqeval.metrics.classification_report``.

    Args:
        y_true (`list[list[str]]`): Gold tags, one list per sentence (``"B-PER"``, ``"I-PER"``, ``"O"``, ...).
        y_pred (`list[list[str]]`): Predicted tags, same shape as ``y_true``.
        scheme (`str` or `LabelScheme`, *optional*):
            ``None`` (default): the scheme of the tags (:func:`~hf_mtl.modeling.task_kinds.detect_label_scheme` on every
            tag given: IOB1/IOB2, IOBES, BILOU, with ``-`` or ``_``, prefix or suffix), read as CoNLL's
            ``conlleval`` and seqeval's default mode do: well-formed chunks of every scheme, and ill-formed
            predictions read leniently (an ``I-`` after ``O`` starts an entity) — the reading the pipeline groups
            entities with. Tags that are no scheme are handed to seqeval's lenient mode as they are.
            ``"IOB1"``, ``"IOB2"``, ``"IOBES"`` or ``"BILOU"``: seqeval's strict mode for that scheme: only
            well-formed chunks count, and a tag whose prefix the scheme does not allow raises
            :class:`~hf_mtl.modeling.errors.HfMtlError`.

    Returns:
        `dict[str, float]`: ``precision``, ``recall``, ``f1`` (over all entities), ``accuracy`` (over tokens,
        ``O`` included), and for every entity type present in gold or predictions ``<type>_precision``,
        ``<type>_recall``, ``<type>_f1``, where ``<type>`` is the type *lowercased*, with any run of characters
        other than ``[0-9a-z]`` replaced by ``_`` (``PER`` -> ``per_f1``, ``B-Misc`` -> ``misc_f1``). With no gold
        and no predicted entity every entity score is 0.0.

    Example:

    ```python
    >>> from hf_mtl.metrics import seqeval_scores
    >>> scores = seqeval_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]])
    >>> scores["precision"], scores["recall"], round(scores["f1"], 3), scores["loc_recall"]
    (1.0, 0.5, 0.667, 0.0)
    >>> seqeval_scores([["PER-B", "PER-I", "O"]], [["PER-B", "PER-I", "O"]])["per_f1"]  # suffix tags
    1.0

    ```
    """
    _check_sequences(y_true, y_pred, "seqeval_scores")
    tags = {tag for seq in (*y_true, *y_pred) for tag in seq}
    if scheme is not None:
        return seqeval_report(y_true, y_pred, _strict_scheme(scheme, tags), strict=True)
    return seqeval_report(y_true, y_pred, detect_label_scheme(tags), strict=False)


def seqeval_report(
    y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], scheme: LabelScheme | None, strict: bool
) -> dict[str, float]:
    """:func:`seqeval_scores` once the scheme is known (``None``: no scheme, tags given to seqeval as they are)."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB1, IOB2, IOBES

    options: dict[str, Any] = {}
    if scheme is not None:
        y_true, y_pred = _canonical(y_true, scheme), _canonical(y_pred, scheme)
    if strict and scheme is not None:  # BILOU tags were written with their IOBES letters
        options = {"mode": "strict", "scheme": {"IOB1": IOB1, "IOB2": IOB2}.get(scheme.name, IOBES)}
    accuracy = token_accuracy(y_true, y_pred)["accuracy"]
    if not any(len(seq) for seq in y_true):
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 0.0}
    with warnings.catch_warnings():
        # lenient mode warns once per tag that does not look like B-/I-/E-/S-; that is spam at eval time
        warnings.simplefilter("ignore")
        report = classification_report(
            [list(seq) for seq in y_true], [list(seq) for seq in y_pred], output_dict=True, zero_division=0, **options
        )
    micro = report.get("micro avg", {})
    scores: dict[str, float] = {
        "precision": float(micro.get("precision", 0.0)),
        "recall": float(micro.get("recall", 0.0)),
        "f1": float(micro.get("f1-score", 0.0)),
        "accuracy": accuracy,
    }
    for entity_type, row in report.items():
        if entity_type in ("micro avg", "macro avg", "weighted avg"):
            continue
        key = _type_key(entity_type)
        scores[f"{key}_precision"] = float(row["precision"])
        scores[f"{key}_recall"] = float(row["recall"])
        scores[f"{key}_f1"] = float(row["f1-score"])
    return scores


def token_accuracy(y_true: Sequence[Sequence[Any]], y_pred: Sequence[Sequence[Any]]) -> dict[str, float]:
    """Fraction of tokens whose predicted tag equals the gold tag (the usual score of POS tagging).

    Args:
        y_true (`list[list[str]]`): Gold tags, one list per sentence (ignored positions already removed).
        y_pred (`list[list[str]]`): Predicted tags, same shape.

    Returns:
        `dict[str, float]`: ``{"accuracy": ...}`` (0.0 when there is no token).

    Example:

    ```python
    >>> from hf_mtl.metrics import token_accuracy
    >>> token_accuracy([["DET", "NOUN"], ["VERB"]], [["DET", "VERB"], ["VERB"]])["accuracy"]
    0.6666666666666666

    ```
    """
    from seqeval.metrics import accuracy_score

    _check_sequences(y_true, y_pred, "token_accuracy")
    if not any(len(seq) for seq in y_true):
        return {"accuracy": 0.0}
    return {"accuracy": float(accuracy_score([list(seq) for seq in y_true], [list(seq) for seq in y_pred]))}
