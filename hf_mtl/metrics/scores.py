"""Sequence tasks: single-label classification (scikit-learn), multi-label classification (scikit-learn) and
regression (scipy correlations)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..modeling.errors import HfMtlError
from ..modeling.task_kinds import IGNORE_INDEX

__all__ = ["check_same_length", "classification_scores", "multilabel_scores", "regression_scores"]


def check_same_length(y_true: Sequence[Any], y_pred: Sequence[Any], what: str) -> None:
    """Raise :class:`HfMtlError` unless gold and predictions have as many items (``what`` names the caller)."""
    if len(y_true) != len(y_pred):
        raise HfMtlError(
            f"{what}: y_true has {len(y_true)} items but y_pred has {len(y_pred)}; pass one prediction per "
            "gold item, in the same order."
        )


def classification_scores(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_labels: int | None = None
) -> dict[str, float]:
    """Accuracy and macro-averaged precision, recall and F1 of single-label classification.

    The macro average runs over the labels that occur in ``y_true`` or ``y_pred`` (scikit-learn's default); a
    label that is in the gold data but never predicted (or predicted but never gold) scores F1 = 0, like
    scikit-learn's ``zero_division=0``. Binary tasks are macro-averaged too (not scikit-learn's
    ``average="binary"``). Micro-F1 is not reported: for single-label classification it equals accuracy.

    Args:
        y_true (`Sequence[int]`): Gold label ids, shape ``(N,)``.
        y_pred (`Sequence[int]`): Predicted label ids, shape ``(N,)``.
        num_labels (`int`, *optional*): When given, ids outside ``[0, num_labels)`` raise an error.

    Returns:
        `dict[str, float]`: ``accuracy``, ``f1`` (macro), ``precision`` (macro), ``recall`` (macro).

    Example:

    ```python
    >>> from hf_mtl.metrics import classification_scores
    >>> scores = classification_scores([0, 0, 1, 2], [0, 0, 1, 1])
    >>> scores["accuracy"], round(scores["f1"], 4)  # class 2 never predicted: F1 = (1 + 2/3 + 0) / 3
    (0.75, 0.5556)

    ```
    """
    true = np.asarray(y_true).reshape(-1).astype(np.int64)
    pred = np.asarray(y_pred).reshape(-1).astype(np.int64)
    check_same_length(true, pred, "classification_scores")
    if num_labels is not None:
        for name, ids in (("y_true", true), ("y_pred", pred)):
            bad = ids[(ids < 0) | (ids >= num_labels)]
            if bad.size:
                raise HfMtlError(
                    f"classification_scores: {name} holds label id {int(bad[0])}, outside [0, {num_labels}); "
                    "check the task's label map."
                )
    if true.size == 0:
        return {"accuracy": 0.0, "f1": 0.0, "precision": 0.0, "recall": 0.0}
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(
        true, pred, labels=np.union1d(true, pred), average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(true, pred)),
        "f1": float(f1),
        "precision": float(precision),
        "recall": float(recall),
    }


def multilabel_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Micro-F1, macro-F1 and exact match of multi-label classification.

    Args:
        y_true (`np.ndarray`): Gold indicator matrix of shape ``(N, L)``, values 0/1.
        y_pred (`np.ndarray`): Predicted indicator matrix of shape ``(N, L)``, values 0/1.

    Returns:
        `dict[str, float]`: ``f1_micro`` (F1 of all (example, label) decisions pooled), ``f1_macro`` (mean of the
        per-label F1; like scikit-learn with ``zero_division=0``, a label with no gold and no predicted positive
        scores 0), ``exact_match`` (fraction of examples whose whole label set is right).

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_mtl.metrics import multilabel_scores
    >>> multilabel_scores(np.array([[1, 0], [1, 1]]), np.array([[1, 0], [1, 0]]))["exact_match"]
    0.5

    ```
    """
    true = np.asarray(y_true)
    pred = np.asarray(y_pred)
    if true.ndim == 1:
        true = true.reshape(-1, 1)
    if pred.ndim == 1:
        pred = pred.reshape(-1, 1)
    if true.shape != pred.shape or true.ndim != 2:
        raise HfMtlError(
            f"multilabel_scores: y_true has shape {true.shape} and y_pred {pred.shape}; both must be (N, L) "
            "0/1 matrices of the same shape."
        )
    if true.shape[0] == 0:
        return {"f1_micro": 0.0, "f1_macro": 0.0, "exact_match": 0.0}
    from sklearn.metrics import accuracy_score, f1_score

    true, pred = true.astype(bool), pred.astype(bool)
    return {
        "f1_micro": float(f1_score(true, pred, average="micro", zero_division=0)),
        "f1_macro": float(f1_score(true, pred, average="macro", zero_division=0)),
        "exact_match": float(accuracy_score(true, pred)),  # subset accuracy on indicator matrices
    }


def _correlation(function: Any, x: np.ndarray, y: np.ndarray) -> float:
    """``scipy.stats`` correlation; 0.0 where it is undefined (fewer than 2 values, a constant input)."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's (Near)ConstantInputWarning: reported as 0.0 instead
        value = float(function(x, y)[0])
    return float(np.clip(value, -1.0, 1.0)) if np.isfinite(value) else 0.0


def regression_scores(
    y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray
) -> dict[str, float]:
    """Pearson and Spearman correlation and mean squared error of a regression task (STS-B style).

    A correlation is undefined when either input is constant or has fewer than 2 values; it is then reported as
    **0.0** (never NaN, so that ``eval_average`` and best-model selection keep working, and without scipy's
    ``ConstantInputWarning``). Spearman is Pearson on average ranks (ties get their mean rank).

    Args:
        y_true (`Sequence[float]`): Gold values, shape ``(N,)`` or ``(N, 1)``.
        y_pred (`Sequence[float]`): Predicted values, same number of elements.

    Returns:
        `dict[str, float]`: ``pearson``, ``spearman``, ``mse`` (0.0 for all three on empty input).

    Example:

    ```python
    >>> from hf_mtl.metrics import regression_scores
    >>> scores = regression_scores([1.0, 2.0, 3.0], [2.0, 4.0, 7.0])
    >>> round(scores["pearson"], 4), scores["spearman"], scores["mse"]
    (0.9934, 1.0, 7.0)

    ```
    """
    from scipy.stats import pearsonr, spearmanr

    true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    check_same_length(true, pred, "regression_scores")
    if true.size == 0:
        return {"pearson": 0.0, "spearman": 0.0, "mse": 0.0}
    return {
        "pearson": _correlation(pearsonr, true, pred),
        "spearman": _correlation(spearmanr, true, pred),
        "mse": float(np.mean((true - pred) ** 2)),
    }


def perplexity_scores(token_scores: np.ndarray, label_ids: np.ndarray) -> dict[str, float]:
    """Masked-lm scores: ``perplexity`` (exp of the mean negative log-likelihood over the masked tokens, those whose
    label is not -100) and ``accuracy`` (share of masked tokens whose most likely token is the original one).

    Args:
        token_scores: ``(N, T, 2)`` (negative log-likelihood, 1.0 when the argmax is right) per token, or ``(N, T)``
            negative log-likelihoods (``accuracy`` is then 0).
        label_ids: ``(N, T)`` token ids, -100 where nothing was masked; a shorter ``T`` than the scores' is padded.

    Example:

    ```python
    >>> import numpy as np
    >>> nll = np.log([[2.0, 8.0, 1.0]])  # the third token is not scored
    >>> round(perplexity_scores(nll, np.array([[5, 7, -100]]))["perplexity"], 6)  # exp((ln 2 + ln 8) / 2)
    4.0

    ```
    """
    scores = np.asarray(token_scores, dtype=np.float64)
    labels = np.asarray(label_ids)
    if labels.ndim == 1:  # one sequence
        scores, labels = scores[None], labels[None]
    if scores.ndim == labels.ndim:
        scores = np.stack([scores, np.zeros_like(scores)], axis=-1)
    if scores.ndim != 3 or labels.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise HfMtlError(f"Perplexity needs scores (N, T, 2) or (N, T) and labels (N, T); got {scores.shape} and "
                         f"{labels.shape}.")
    width = min(scores.shape[1], labels.shape[1])
    keep = labels[:, :width] != IGNORE_INDEX
    count = int(keep.sum())
    if count == 0:
        return {"perplexity": 0.0, "accuracy": 0.0}
    nll = scores[:, :width, 0][keep]
    return {"perplexity": float(np.exp(nll.mean())), "accuracy": float(scores[:, :width, 1][keep].mean())}
