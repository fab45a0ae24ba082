"""Evaluation metrics for every task kind, as pure functions of numpy arrays and lists.

Thin wrappers over ``seqeval`` (entities), ``scikit-learn`` (classification) and ``scipy`` (correlations), with no
dependency on the ``evaluate`` library by default (its Hub-hosted metric scripts cannot load offline); a task's
``metric:`` may name ``evaluate`` modules instead (:mod:`.evaluate_modules`). Which metric a task
gets, and its main key, is the task-kind registry's decision (:mod:`hf_mtl.modeling.task_kinds`).

Entity tags are read with the scheme that :func:`~hf_mtl.modeling.task_kinds.detect_label_scheme` finds in the label set:
``B_PER`` and suffix tags (``PER-B``) are rewritten to seqeval's ``B-PER`` form and BILOU tags to their IOBES
letters first, so seqeval reads every style; its chunks are the spans :func:`~hf_mtl.modeling.task_kinds.entity_spans`
gives the pipeline.

Every function returns a ``dict[str, float]`` of plain Python floats. The Trainer calls
:func:`compute_task_metrics` once per task at evaluation and prefixes the keys with ``eval_<task>_`` (every key is
built and parsed by :mod:`hf_mtl.metrics.keys`); the key
named by :func:`main_metric_key` is the one averaged into ``eval_average`` for best-model selection.

Conventions shared by every function:

- *Zero division gives 0.0*, never a warning: precision with no predicted entity, recall with no gold entity,
  F1 when both are 0, Pearson/Spearman on a constant input (see :func:`regression_scores`).
- *Empty input gives 0.0* for every key (``mse`` included), so an empty evaluation split does not crash the run.
- Inputs of mismatched lengths raise :class:`~hf_mtl.modeling.errors.HfMtlError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..modeling.errors import HfMtlError
from ..modeling.task_kinds import IGNORE_INDEX, METRIC_MAIN_KEYS, detect_label_scheme
from .entities import SEQEVAL_SCHEMES, seqeval_report, seqeval_scores, token_accuracy
from .evaluate_modules import evaluate_scores, is_evaluate_metric
from .keys import main_metric_key
from .parsing import attachment_scores, packed_attachment_scores
from .scores import (
    check_same_length,
    classification_scores,
    multilabel_scores,
    perplexity_scores,
    regression_scores,
)

__all__ = [
    "IGNORE_INDEX",
    "METRIC_NAMES",
    "SEQEVAL_SCHEMES",
    "attachment_scores",
    "classification_scores",
    "compute_task_metrics",
    "main_metric_key",
    "multilabel_scores",
    "perplexity_scores",
    "regression_scores",
    "seqeval_scores",
    "token_accuracy",
]

METRIC_NAMES: tuple[str, ...] = tuple(METRIC_MAIN_KEYS)
"""Names accepted by :func:`compute_task_metrics` and :func:`main_metric_key` (the registry's metrics)."""


def _check_metric(metric: str) -> None:
    main_metric_key(metric)  # a TaskError naming the valid metrics for an unknown one


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


def _evaluate_module_scores(metric: str, predictions: np.ndarray, label_ids: np.ndarray,
                            labels_map: dict[int, str]) -> dict[str, float]:
    """What ``evaluate`` modules are given: tag lists per sentence (labels per token, as the ``seqeval`` module
    takes them), 0/1 rows (multi-label), floats (regression, integer label ids otherwise), then their scores."""
    if label_ids.ndim == 2 and not np.issubdtype(label_ids.dtype, np.floating):  # token tasks
        references, outputs = _token_tags(predictions, label_ids, labels_map)
    elif label_ids.ndim == 2:  # multi-hot targets
        references, outputs = (label_ids > 0.5).astype(int).tolist(), (predictions > 0).astype(int).tolist()
    elif np.issubdtype(label_ids.dtype, np.floating):  # regression
        references, outputs = label_ids.reshape(-1).tolist(), predictions.reshape(-1).tolist()
    else:
        ids = predictions.argmax(axis=-1) if predictions.ndim >= 2 and predictions.shape[-1] > 1 else predictions
        keep = label_ids.reshape(-1) != IGNORE_INDEX
        references = label_ids.reshape(-1)[keep].astype(int).tolist()
        outputs = np.rint(ids.reshape(-1)[keep]).astype(int).tolist()
    return evaluate_scores(metric, outputs, references)


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
            - ``"attachment"`` (dependency parsing): packed ``head * num_relations + relation`` ids ``(N, T)``.
            - ``"perplexity"`` (masked-lm): ``(N, T, 2)``, each token's negative log-likelihood and whether the
              argmax is right (``MaskedLMHead.metric_inputs``), or ``(N, T)`` log-likelihoods alone.
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

    if is_evaluate_metric(metric):
        return _evaluate_module_scores(metric, predictions, label_ids, labels_map)

    if metric == "attachment":
        return packed_attachment_scores(predictions, label_ids, labels_map)

    if metric == "perplexity":
        return perplexity_scores(predictions, label_ids)

    if metric in ("seqeval", "token_accuracy"):
        if not labels_map:
            raise HfMtlError(f"Metric {metric!r} needs the task's id2label to turn ids into tags.")
        y_true, y_pred = _token_tags(predictions, label_ids, labels_map)
        if metric == "token_accuracy":
            return token_accuracy(y_true, y_pred)
        # the scheme of the whole label set (the registry's reading), not of the tags that happen to occur
        return seqeval_report(y_true, y_pred, detect_label_scheme(labels_map.values()), strict=False)

    if metric in ("accuracy", "f1"):
        if predictions.ndim >= 2 and predictions.shape[-1] > 1:
            predictions = predictions.argmax(axis=-1)
        predictions = predictions.reshape(-1)
        labels = label_ids.reshape(-1)
        check_same_length(labels, predictions, f"Metric {metric!r}")
        keep = labels != IGNORE_INDEX
        return classification_scores(
            labels[keep], np.rint(predictions[keep]), num_labels=len(labels_map) or None
        )

    if metric == "multilabel":
        return multilabel_scores(label_ids > 0.5, predictions > 0)

    return regression_scores(label_ids.reshape(-1), predictions.reshape(-1))
