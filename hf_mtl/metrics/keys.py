"""The one home of metric and loss key names: ``<prefix>_<task>_<metric>``, ``<prefix>_average``, ``loss_<task>``.

Evaluation writes ``eval_<task>_<metric>`` (``test_<task>_<metric>`` from ``predict``, any ``metric_key_prefix``
likewise), the mean of the tasks' main metrics as ``<prefix>_average`` and the training loss of each task as
``loss_<task>``. Everything that builds or reads these keys (trainer, tables, plots, model card) goes through the
functions here.

Task names are snake_case, so a key alone may be ambiguous: with tasks ``ner`` and ``ner_loc``, ``eval_ner_loc_f1``
could be the ``loc_f1`` of ``ner`` (per-entity F1 of its ``LOC`` entities) or the ``f1`` of ``ner_loc``.
:func:`check_metric_keys` refuses such a pair of tasks when a trainer is built, so every key parses back to one task.

Example:

```python
>>> from hf_mtl.metrics.keys import metric_key, parse_metric_key
>>> metric_key("ner", "f1")
'eval_ner_f1'
>>> parse_metric_key("test_ner_f1", ["ner", "pos"])
('test', 'ner', 'f1')

```
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..modeling.errors import TaskError, did_you_mean
from ..modeling.task_kinds import METRIC_MAIN_KEYS, TASK_KINDS, Problem
from .evaluate_modules import is_evaluate_metric, parse_evaluate_metric

__all__ = [
    "AVERAGE",
    "EVAL_PREFIX",
    "NOT_SCORES",
    "average_key",
    "check_metric_keys",
    "loss_key",
    "main_metric_key",
    "main_score_key",
    "mean_loss_key",
    "metric_key",
    "parse_metric_key",
    "task_key_prefix",
    "task_metric_keys",
]

EVAL_PREFIX = "eval"
"""The prefix of ``Trainer.evaluate``'s keys (``predict`` uses ``test``)."""
AVERAGE = "average"
"""``<prefix>_average``: the mean of the tasks' main metrics (``metric_for_best_model="average"``)."""
NOT_SCORES = ("loss", "runtime", "samples_per_second", "steps_per_second", "model_preparation_time",
              "jit_compilation_time")
"""Per-task keys the Trainer adds beside the scores (``eval_<task>_loss``, speed); they are not scores."""


def main_metric_key(metric: str) -> str:
    """The key of a metric's result that summarizes a task (averaged into ``eval_average``).

    Args:
        metric (`str`): One of :data:`hf_mtl.metrics.METRIC_NAMES`.

    Returns:
        `str`: ``seqeval`` -> ``"f1"``, ``token_accuracy`` -> ``"accuracy"``, ``accuracy`` -> ``"accuracy"``,
        ``f1`` -> ``"f1"``, ``multilabel`` -> ``"f1_micro"``, ``regression`` -> ``"pearson"``.

    Raises:
        `TaskError`: For an unknown metric name (the message lists the valid ones).

    Example:

    ```python
    >>> main_metric_key("seqeval")
    'f1'

    ```
    """
    if is_evaluate_metric(metric):  # evaluate modules: the `main:` key, or the one module's name
        return parse_evaluate_metric(metric)[1]
    if metric not in METRIC_MAIN_KEYS:
        raise TaskError(
            f"Unknown metric {metric!r}{did_you_mean(metric, list(METRIC_MAIN_KEYS))}; valid metrics are "
            f"{', '.join(METRIC_MAIN_KEYS)}."
        )
    return METRIC_MAIN_KEYS[metric]


def task_key_prefix(task: str, prefix: str = EVAL_PREFIX) -> str:
    """``<prefix>_<task>``: the ``metric_key_prefix`` of one task's evaluation loop (the Trainer appends ``_<metric>``)."""
    return f"{prefix}_{task}"


def metric_key(task: str, metric: str, prefix: str = EVAL_PREFIX) -> str:
    """``<prefix>_<task>_<metric>``, e.g. ``eval_ner_f1`` (``metric`` is a key of the task's scores)."""
    return f"{task_key_prefix(task, prefix)}_{metric}"


def main_score_key(task: str, metric_name: str, prefix: str = EVAL_PREFIX) -> str:
    """The key of ``task``'s main score under metric ``metric_name``: ``main_score_key("ner", "seqeval")`` is
    ``eval_ner_f1``."""
    return metric_key(task, main_metric_key(metric_name), prefix)


def average_key(prefix: str = EVAL_PREFIX) -> str:
    """``<prefix>_average``, the mean of the tasks' main scores."""
    return f"{prefix}_{AVERAGE}"


def mean_loss_key(prefix: str = EVAL_PREFIX) -> str:
    """``<prefix>_loss``: the mean of the tasks' evaluation losses."""
    return f"{prefix}_loss"


def loss_key(task: str) -> str:
    """``loss_<task>``: a task's training loss in the Trainer's logs."""
    return f"loss_{task}"


def parse_metric_key(key: str, tasks: Iterable[str]) -> tuple[str, str, str] | None:
    """``(prefix, task, metric)`` of a ``<prefix>_<task>_<metric>`` key of one of ``tasks``, else ``None``.

    The prefix is the shortest that leaves a known task, and the longest task name is tried first;
    :func:`check_metric_keys` makes sure no two tasks of a model can both read a key of theirs.
    """
    names = "|".join(re.escape(task) for task in sorted(set(tasks), key=len, reverse=True))
    if not names:
        return None
    match = re.match(rf"^(?P<prefix>\w+?)_(?P<task>{names})_(?P<metric>\w+)$", key)
    return (match["prefix"], match["task"], match["metric"]) if match else None


def task_metric_keys(metric: str, id2label: Mapping[Any, str] | None = None) -> set[str]:
    """Every key a task's evaluation writes after ``<prefix>_<task>_``: its scores (computed by
    :func:`~hf_mtl.metrics.compute_task_metrics` on a tiny input holding every label once, so per-entity keys such
    as ``loc_f1`` are included) and the Trainer's :data:`NOT_SCORES`."""
    from . import compute_task_metrics  # the package imports this module

    labels = {int(k): str(v) for k, v in (id2label or {}).items()}
    n = max(len(labels), 2)
    per_token, problem = _metric_reading(metric)
    if per_token:  # ids (1, labels); packed parsing ids read as head 0 with every relation
        ids = np.array([sorted(labels)]) if labels else np.zeros((1, 1), dtype=int)
        scores = compute_task_metrics(metric, ids, ids, labels or {0: "O"})
    elif problem.multi_hot:
        scores = compute_task_metrics(metric, np.eye(n) * 2 - 1, np.eye(n), labels)
    elif not problem.class_ids:
        scores = compute_task_metrics(metric, np.array([0.0, 1.0]), np.array([0.0, 1.0]), labels)
    else:
        scores = compute_task_metrics(metric, np.arange(n), np.arange(n), labels)
    return set(scores) | set(NOT_SCORES)


def _metric_reading(metric: str) -> tuple[bool, Problem]:
    """Whether ``metric`` scores tasks labelled per token, and a problem record it serves (the registry's)."""
    for kind in TASK_KINDS.values():
        for problem in kind.problems.values():
            if metric in (problem.metric, kind.entity_metric):
                return kind.per_token, problem
    # a metric no kind uses by default ("f1"): scored on class ids like the first kind labelled per example
    return False, next(kind for kind in TASK_KINDS.values() if not kind.per_token).problem()


def check_metric_keys(task_metrics: Mapping[str, str], id2labels: Mapping[str, Mapping[Any, str] | None]) -> None:
    """Refuse tasks whose metric keys collide (``ner``'s ``loc_f1`` and ``ner_loc``'s ``f1`` are both
    ``eval_ner_loc_f1``): tables, ``eval_results.json`` and the model card would publish one task's score as the
    other's.

    Args:
        task_metrics: ``{task: metric name}``.
        id2labels: ``{task: id2label}`` (per-entity keys depend on the entity types).

    Raises:
        `TaskError`: naming both tasks, the key and the fix (rename one task).
    """
    keys = {task: task_metric_keys(metric, id2labels.get(task)) for task, metric in task_metrics.items()}
    for task in sorted(task_metrics):
        for other in sorted(task_metrics):
            if not other.startswith(f"{task}_"):
                continue
            tail = other[len(task) + 1:]
            clash = sorted(key for key in keys[task] if key.startswith(f"{tail}_") and key[len(tail) + 1:] in keys[other])
            if clash:
                raise TaskError(
                    f"tasks {task!r} and {other!r} both produce the metric key {metric_key(task, clash[0])!r} "
                    f"({clash[0]} of {task!r}, {clash[0][len(tail) + 1:]} of {other!r}); rename one of them "
                    f"(e.g. {other!r} -> {tail + '_' + task!r}) so that every key names one task."
                )
