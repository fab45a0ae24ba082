"""Evaluation metrics for every task kind, as pure functions of numpy arrays and lists.

No dependency on the ``evaluate`` library (its Hub-hosted metric scripts cannot load offline): entity scores are
computed here from the entity spans that ``seqeval`` extracts, everything else with numpy/scipy.

Every function returns a ``dict[str, float]`` of plain Python floats. The Trainer calls
:func:`compute_task_metrics` once per task at evaluation and prefixes the keys with ``eval_<task>_``; the key
named by :func:`main_metric_key` is the one averaged into ``eval_average`` for best-model selection.

Conventions shared by every function:

- *Zero division gives 0.0*, never a warning: precision with no predicted entity, recall with no gold entity,
  F1 when both are 0, Pearson/Spearman on a constant input (see :func:`regression_scores`).
- *Empty input gives 0.0* for every key (``mse`` included), so an empty evaluation split does not crash the run.
- Inputs of mismatched lengths raise :class:`~hf_mtl.errors.HfMtlError`.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import HfMtlError, TaskError

__all__ = [
    "IGNORE_INDEX",
    "METRIC_NAMES",
    "SEQEVAL_SCHEMES",
    "classification_scores",
    "compute_task_metrics",
    "main_metric_key",
    "multilabel_scores",
    "regression_scores",
    "seqeval_scores",
    "token_accuracy",
]

IGNORE_INDEX = -100
"""Label id of positions that are not scored (special tokens, non-first sub-words, padding)."""

SEQEVAL_SCHEMES = ("IOB1", "IOB2", "IOBES")
"""Tagging schemes accepted by :func:`seqeval_scores` in strict mode."""

_MAIN_KEYS: dict[str, str] = {
    "seqeval": "f1",
    "token_accuracy": "accuracy",
    "accuracy": "accuracy",
    "f1": "f1",
    "multilabel": "f1_micro",
    "regression": "pearson",
}

METRIC_NAMES: tuple[str, ...] = tuple(_MAIN_KEYS)
"""Names accepted by :func:`compute_task_metrics` and :func:`main_metric_key`."""


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------


def _safe_div(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return _safe_div(2 * precision * recall, precision + recall)


def _check_same_length(y_true: Sequence[Any], y_pred: Sequence[Any], what: str) -> None:
    if len(y_true) != len(y_pred):
        raise HfMtlError(
            f"{what}: y_true has {len(y_true)} items but y_pred has {len(y_pred)}; pass one prediction per "
            "gold item, in the same order."
        )


def _check_sequences(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], what: str) -> None:
    _check_same_length(y_true, y_pred, what)
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


def _suggest(name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


# ---------------------------------------------------------------------------------------------------------------
# token tasks
# ---------------------------------------------------------------------------------------------------------------


def _entities(sequences: Sequence[Sequence[str]], scheme: str | None) -> set[tuple[int, str, int, int]]:
    """Entity spans ``(sentence, type, start, end)`` of every sequence; ``end`` is exclusive."""
    spans: set[tuple[int, str, int, int]] = set()
    if scheme is None:
        from seqeval.metrics.sequence_labeling import get_entities

        with warnings.catch_warnings():
            # lenient mode warns once per tag that does not look like B-/I-/E-/S-; that is spam at eval time
            warnings.simplefilter("ignore")
            for sent_id, seq in enumerate(sequences):
                for entity_type, start, end in get_entities(list(seq)):
                    spans.add((sent_id, entity_type, start, end + 1))
        return spans

    import seqeval.scheme

    scheme_cls = getattr(seqeval.scheme, scheme)
    for sent_id, seq in enumerate(sequences):
        try:
            tokens = seqeval.scheme.Tokens(list(seq), scheme=scheme_cls, sent_id=sent_id)
            found = tokens.entities
        except (KeyError, ValueError) as err:
            raise HfMtlError(
                f"seqeval_scores: sentence {sent_id} has a tag that is not valid in the {scheme} scheme "
                f"({err}). Tags must look like B-TYPE / I-TYPE / O"
                + (" / E-TYPE / S-TYPE" if scheme == "IOBES" else "")
                + "; pass scheme=None for seqeval's lenient mode, or the scheme the data really uses."
            ) from err
        for entity in found:
            spans.add((sent_id, entity.tag, entity.start, entity.end))
    return spans


def seqeval_scores(
    y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], scheme: str | None = None
) -> dict[str, float]:
    """Entity-level precision, recall and F1 (micro-averaged over entities), token accuracy, and per-type scores.

    An entity counts as correct only when its type, start and end all match a gold entity (CoNLL evaluation).

    Args:
        y_true (`list[list[str]]`): Gold tags, one list per sentence (``"B-PER"``, ``"I-PER"``, ``"O"``, ...).
        y_pred (`list[list[str]]`): Predicted tags, same shape as ``y_true``.
        scheme (`str`, *optional*):
            ``None`` (default) uses seqeval's lenient (CoNLL ``conlleval``) chunking, which accepts IOB1, IOB2 and
            IOBES and tolerates ill-formed sequences (an ``I-`` after ``O`` starts an entity). ``"IOB1"``,
            ``"IOB2"`` or ``"IOBES"`` use seqeval's strict mode for that scheme: only well-formed chunks count,
            and a tag whose prefix the scheme does not allow raises :class:`~hf_mtl.errors.HfMtlError`.

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

    ```
    """
    if scheme is not None and scheme not in SEQEVAL_SCHEMES:
        upper = str(scheme).upper()
        if upper not in SEQEVAL_SCHEMES:
            raise HfMtlError(
                f"seqeval_scores: unknown tagging scheme {scheme!r}; use None (lenient) or one of "
                f"{', '.join(SEQEVAL_SCHEMES)}.{_suggest(upper, SEQEVAL_SCHEMES)}"
            )
        scheme = upper
    _check_sequences(y_true, y_pred, "seqeval_scores")

    gold = _entities(y_true, scheme)
    pred = _entities(y_pred, scheme)
    correct = gold & pred

    n_tokens = sum(len(seq) for seq in y_true)
    n_token_correct = sum(
        g == p
        for gold_seq, pred_seq in zip(y_true, y_pred, strict=True)
        for g, p in zip(gold_seq, pred_seq, strict=True)
    )

    precision = _safe_div(len(correct), len(pred))
    recall = _safe_div(len(correct), len(gold))
    scores: dict[str, float] = {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "accuracy": _safe_div(n_token_correct, n_tokens),
    }

    types = sorted({span[1] for span in gold} | {span[1] for span in pred})
    for entity_type in types:
        n_gold = sum(span[1] == entity_type for span in gold)
        n_pred = sum(span[1] == entity_type for span in pred)
        n_correct = sum(span[1] == entity_type for span in correct)
        type_precision = _safe_div(n_correct, n_pred)
        type_recall = _safe_div(n_correct, n_gold)
        key = _type_key(entity_type)
        scores[f"{key}_precision"] = type_precision
        scores[f"{key}_recall"] = type_recall
        scores[f"{key}_f1"] = _f1(type_precision, type_recall)
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
    _check_sequences(y_true, y_pred, "token_accuracy")
    total = sum(len(seq) for seq in y_true)
    correct = sum(
        g == p
        for gold_seq, pred_seq in zip(y_true, y_pred, strict=True)
        for g, p in zip(gold_seq, pred_seq, strict=True)
    )
    return {"accuracy": _safe_div(correct, total)}


# ---------------------------------------------------------------------------------------------------------------
# sequence tasks
# ---------------------------------------------------------------------------------------------------------------


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
    _check_same_length(true, pred, "classification_scores")
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

    labels = np.union1d(true, pred)
    precisions, recalls, f1s = [], [], []
    for label in labels:
        tp = int(np.sum((pred == label) & (true == label)))
        n_pred = int(np.sum(pred == label))
        n_true = int(np.sum(true == label))
        precision, recall = _safe_div(tp, n_pred), _safe_div(tp, n_true)
        precisions.append(precision)
        recalls.append(recall)
        f1s.append(_f1(precision, recall))
    return {
        "accuracy": float(np.mean(true == pred)),
        "f1": float(np.mean(f1s)),
        "precision": float(np.mean(precisions)),
        "recall": float(np.mean(recalls)),
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
    true = true.astype(bool)
    pred = pred.astype(bool)
    tp = np.sum(true & pred, axis=0)
    fp = np.sum(~true & pred, axis=0)
    fn = np.sum(true & ~pred, axis=0)
    # F1 = 2TP / (2TP + FP + FN), 0 when the denominator is 0
    per_label = [_safe_div(2 * t, 2 * t + p + n) for t, p, n in zip(tp, fp, fn, strict=True)]
    return {
        "f1_micro": _safe_div(2 * tp.sum(), 2 * tp.sum() + fp.sum() + fn.sum()),
        "f1_macro": float(np.mean(per_label)) if per_label else 0.0,
        "exact_match": float(np.mean(np.all(true == pred, axis=1))),
    }


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return 0.0
    xc, yc = x - x.mean(), y - y.mean()
    denominator = float(np.sqrt(np.sum(xc * xc) * np.sum(yc * yc)))
    # a constant input (zero variance, or numerically so) has no defined correlation: report 0.0
    if denominator <= np.finfo(np.float64).tiny or not np.isfinite(denominator):
        return 0.0
    return float(np.clip(np.sum(xc * yc) / denominator, -1.0, 1.0))


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
    from scipy.stats import rankdata

    true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    _check_same_length(true, pred, "regression_scores")
    if true.size == 0:
        return {"pearson": 0.0, "spearman": 0.0, "mse": 0.0}
    return {
        "pearson": _pearson(true, pred),
        "spearman": _pearson(rankdata(true), rankdata(pred)),
        "mse": float(np.mean((true - pred) ** 2)),
    }


# ---------------------------------------------------------------------------------------------------------------
# registry and the Trainer's entry point
# ---------------------------------------------------------------------------------------------------------------


def _check_metric(metric: str) -> None:
    if metric not in _MAIN_KEYS:
        raise TaskError(
            f"Unknown metric {metric!r}; valid metrics are {', '.join(METRIC_NAMES)}."
            f"{_suggest(str(metric), METRIC_NAMES)}"
        )


def main_metric_key(metric: str) -> str:
    """The key of :func:`compute_task_metrics`'s result that summarizes a task (averaged into ``eval_average``).

    Args:
        metric (`str`): One of :data:`METRIC_NAMES`.

    Returns:
        `str`: ``seqeval`` -> ``"f1"``, ``token_accuracy`` -> ``"accuracy"``, ``accuracy`` -> ``"accuracy"``,
        ``f1`` -> ``"f1"``, ``multilabel`` -> ``"f1_micro"``, ``regression`` -> ``"pearson"``.

    Raises:
        `TaskError`: For an unknown metric name (the message lists the valid ones).

    Example:

    ```python
    >>> from hf_mtl.metrics import main_metric_key
    >>> main_metric_key("seqeval")
    'f1'

    ```
    """
    _check_metric(metric)
    return _MAIN_KEYS[metric]


def _normalize_id2label(id2label: Mapping[Any, str] | Sequence[str] | None) -> dict[int, str]:
    if id2label is None:
        return {}
    if isinstance(id2label, Mapping):
        return {int(k): str(v) for k, v in id2label.items()}  # JSON configs give string keys
    return dict(enumerate(str(v) for v in id2label))


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, (tuple, list)) and len(x) > 0 and isinstance(x[0], np.ndarray):
        x = x[0]  # a model output tuple: the first element holds the logits
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _token_tags(
    predictions: np.ndarray, label_ids: np.ndarray, id2label: dict[int, str]
) -> tuple[list[list[str]], list[list[str]]]:
    if predictions.ndim == label_ids.ndim + 1:  # logits (N, T, C) were not reduced before gathering
        predictions = predictions.argmax(axis=-1)
    if predictions.ndim == 1 and label_ids.ndim == 1:
        predictions, label_ids = predictions[None, :], label_ids[None, :]
    if predictions.ndim != 2 or label_ids.ndim != 2 or predictions.shape[0] != label_ids.shape[0]:
        raise HfMtlError(
            f"Token metrics need predictions (N, T) or logits (N, T, C) and labels (N, T); got predictions of "
            f"shape {predictions.shape} and labels of shape {label_ids.shape}."
        )
    n_rows = label_ids.shape[0]
    width = max(predictions.shape[1], label_ids.shape[1])
    if predictions.shape[1] < width:
        predictions = np.pad(
            predictions, ((0, 0), (0, width - predictions.shape[1])), constant_values=IGNORE_INDEX
        )
    if label_ids.shape[1] < width:
        label_ids = np.pad(label_ids, ((0, 0), (0, width - label_ids.shape[1])), constant_values=IGNORE_INDEX)
    predictions = predictions.astype(np.int64)
    label_ids = label_ids.astype(np.int64)

    y_true: list[list[str]] = []
    y_pred: list[list[str]] = []
    for row in range(n_rows):
        keep = label_ids[row] != IGNORE_INDEX
        gold_ids = label_ids[row][keep].tolist()
        pred_ids = predictions[row][keep].tolist()
        try:
            y_true.append([id2label[i] for i in gold_ids])
            y_pred.append([id2label[i] for i in pred_ids])
        except KeyError as err:
            raise HfMtlError(
                f"Label id {err.args[0]} (row {row}) is not in the task's id2label "
                f"({len(id2label)} labels: {sorted(id2label)[:10]}...); the model's label map and the data's "
                "labels disagree."
            ) from None
    return y_true, y_pred


def compute_task_metrics(
    metric: str,
    predictions: np.ndarray,
    label_ids: np.ndarray,
    id2label: Mapping[int, str] | None = None,
) -> dict[str, float]:
    """Compute one task's evaluation metrics from what the Trainer gathered (predictions and labels).

    Args:
        metric (`str`): One of :data:`METRIC_NAMES`.
        predictions (`np.ndarray`):
            - ``"seqeval"`` / ``"token_accuracy"``: label ids of shape ``(N, T)`` (argmax already taken, padded
              with -100 where the sequence ended); logits ``(N, T, C)`` are reduced with argmax here.
            - ``"accuracy"`` / ``"f1"``: logits ``(N, C)`` (argmax taken here) or ids ``(N,)``.
            - ``"multilabel"``: logits ``(N, L)``; a label is predicted when its logit > 0 (sigmoid > 0.5).
            - ``"regression"``: values of shape ``(N,)`` or ``(N, 1)``.
        label_ids (`np.ndarray`):
            Token tasks: ``(N, T)`` with -100 on ignored positions (only positions with a label are scored; if
            predictions and labels have different ``T`` the shorter one is padded with -100). ``accuracy``/``f1``:
            ``(N,)`` ids (rows labelled -100 are skipped). ``multilabel``: ``(N, L)`` 0/1 floats.
            ``regression``: ``(N,)`` or ``(N, 1)`` floats.
        id2label (`dict[int, str]`, *optional*):
            Tag of each id, needed by token tasks (string keys from a JSON config are accepted). For
            ``accuracy``/``f1`` its size bounds the valid ids.

    Returns:
        `dict[str, float]`: The keys of :func:`seqeval_scores`, :func:`token_accuracy`,
        :func:`classification_scores`, :func:`multilabel_scores` or :func:`regression_scores`; the main one is
        :func:`main_metric_key`.

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_mtl.metrics import compute_task_metrics
    >>> id2label = {0: "O", 1: "B-PER", 2: "I-PER"}
    >>> labels = np.array([[-100, 1, 2, 0, -100]])
    >>> preds = np.array([[0, 1, 2, 1, 0]])  # position 0 and 4 are ignored
    >>> compute_task_metrics("seqeval", preds, labels, id2label)["precision"]
    0.5

    ```
    """
    _check_metric(metric)
    predictions = _as_array(predictions)
    label_ids = _as_array(label_ids)
    labels_map = _normalize_id2label(id2label)

    if metric in ("seqeval", "token_accuracy"):
        if not labels_map:
            raise HfMtlError(f"Metric {metric!r} needs the task's id2label to turn ids into tags.")
        y_true, y_pred = _token_tags(predictions, label_ids, labels_map)
        return seqeval_scores(y_true, y_pred) if metric == "seqeval" else token_accuracy(y_true, y_pred)

    if metric in ("accuracy", "f1"):
        if predictions.ndim >= 2 and predictions.shape[-1] > 1:
            predictions = predictions.argmax(axis=-1)
        predictions = predictions.reshape(-1)
        labels = label_ids.reshape(-1)
        _check_same_length(labels, predictions, f"Metric {metric!r}")
        keep = labels != IGNORE_INDEX
        return classification_scores(
            labels[keep], np.rint(predictions[keep]), num_labels=len(labels_map) or None
        )

    if metric == "multilabel":
        return multilabel_scores(label_ids > 0.5, predictions > 0)

    return regression_scores(label_ids.reshape(-1), predictions.reshape(-1))
