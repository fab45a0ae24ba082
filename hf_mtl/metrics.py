"""Evaluation metrics for every task kind, as pure functions of numpy arrays and lists.

Thin wrappers over ``seqeval`` (entities), ``scikit-learn`` (classification) and ``scipy`` (correlations), with no
dependency on the ``evaluate`` library (its Hub-hosted metric scripts cannot load offline). Which metric a task
gets, and its main key, is the task-kind registry's decision (:mod:`hf_mtl.task_kinds`).

Entity tags are read with the scheme that :func:`~hf_mtl.task_kinds.detect_label_scheme` finds in the label set:
``B_PER`` and suffix tags (``PER-B``) are rewritten to seqeval's ``B-PER`` form and BILOU tags to their IOBES
letters first, so seqeval reads every style; its chunks are the spans :func:`~hf_mtl.task_kinds.entity_spans`
gives the pipeline.

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

import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import HfMtlError, TaskError, did_you_mean
from .task_kinds import IGNORE_INDEX, METRIC_MAIN_KEYS, SCHEME_PREFIXES, LabelScheme, detect_label_scheme
from .task_kinds import main_metric_key as _registry_main_key

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

SEQEVAL_SCHEMES: tuple[str, ...] = tuple(sorted(SCHEME_PREFIXES))
"""Tagging schemes accepted by :func:`seqeval_scores` in strict mode."""

METRIC_NAMES: tuple[str, ...] = tuple(METRIC_MAIN_KEYS)
"""Names accepted by :func:`compute_task_metrics` and :func:`main_metric_key` (the registry's metrics)."""


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------------
# token tasks
# ---------------------------------------------------------------------------------------------------------------


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
            ``None`` (default): the scheme of the tags (:func:`~hf_mtl.task_kinds.detect_label_scheme` on every
            tag given: IOB1/IOB2, IOBES, BILOU, with ``-`` or ``_``, prefix or suffix), read as CoNLL's
            ``conlleval`` and seqeval's default mode do: well-formed chunks of every scheme, and ill-formed
            predictions read leniently (an ``I-`` after ``O`` starts an entity) — the reading the pipeline groups
            entities with. Tags that are no scheme are handed to seqeval's lenient mode as they are.
            ``"IOB1"``, ``"IOB2"``, ``"IOBES"`` or ``"BILOU"``: seqeval's strict mode for that scheme: only
            well-formed chunks count, and a tag whose prefix the scheme does not allow raises
            :class:`~hf_mtl.errors.HfMtlError`.

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
        return _seqeval_report(y_true, y_pred, _strict_scheme(scheme, tags), strict=True)
    return _seqeval_report(y_true, y_pred, detect_label_scheme(tags), strict=False)


def _seqeval_report(
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
    _check_same_length(true, pred, "regression_scores")
    if true.size == 0:
        return {"pearson": 0.0, "spearman": 0.0, "mse": 0.0}
    return {
        "pearson": _correlation(pearsonr, true, pred),
        "spearman": _correlation(spearmanr, true, pred),
        "mse": float(np.mean((true - pred) ** 2)),
    }


# ---------------------------------------------------------------------------------------------------------------
# registry and the Trainer's entry point
# ---------------------------------------------------------------------------------------------------------------


def _check_metric(metric: str) -> None:
    if metric not in METRIC_MAIN_KEYS:
        raise TaskError(
            f"Unknown metric {metric!r}{did_you_mean(metric, METRIC_NAMES)}; valid metrics are {', '.join(METRIC_NAMES)}."
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
    return _registry_main_key(metric)


def _normalize_id2label(id2label: Mapping[Any, str] | Sequence[str] | None) -> dict[int, str]:
    if id2label is None:
        return {}
    if isinstance(id2label, Mapping):
        return {int(k): str(v) for k, v in id2label.items()}  # JSON configs give string keys
    return dict(enumerate(str(v) for v in id2label))


def _as_array(x: Any) -> np.ndarray:
    """The one place model outputs become an array: the logits of a ``ModelOutput`` or output tuple, a tensor."""
    if isinstance(x, Mapping) and "logits" in x:  # a ModelOutput (or its dict)
        x = x["logits"]
    elif isinstance(x, (tuple, list)) and len(x) > 0 and (isinstance(x[0], np.ndarray) or hasattr(x[0], "detach")):
        x = x[0]  # an output tuple: the first element holds the logits
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
        if metric == "token_accuracy":
            return token_accuracy(y_true, y_pred)
        # the scheme of the whole label set (the registry's reading), not of the tags that happen to occur
        return _seqeval_report(y_true, y_pred, detect_label_scheme(labels_map.values()), strict=False)

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
