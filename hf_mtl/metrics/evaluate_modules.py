"""A task's metric from the ``evaluate`` library: a local metric script or folder, or a Hub id where the Hub is
reachable; several are combined with ``evaluate.combine``. The built-in metrics stay the default.

A recipe names them under the task's ``metric:``::

    metric: {evaluate: metrics/exact_match.py}                       # one module: its name is the main key
    metric: {evaluate: [metrics/accuracy, metrics/f1], main: f1}      # several: say which key is the main one

Inside hf_mtl the metric is one string, ``evaluate:<module>[,<module>...][#<main key>]`` (paths resolved, by
``hf_mtl.data.metric_choice``), which :func:`compute_task_metrics` and :func:`main_metric_key` read; the modules
are loaded when the trainer checks its metric keys, before training. ``evaluate.load`` runs the module's Python code: a
local script is code the user chose to run; hf_mtl never runs code found in a saved model folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..modeling.errors import TaskError
from ..modeling.task_kinds import EVALUATE_METRIC_PREFIX as EVALUATE_PREFIX

__all__ = ["EVALUATE_PREFIX", "evaluate_scores", "is_evaluate_metric", "load_evaluate_metric", "module_name",
           "parse_evaluate_metric"]

_LOADED: dict[str, Any] = {}  # module string -> the loaded (combined) metric, loaded once per process


def is_evaluate_metric(metric: Any) -> bool:
    """Whether ``metric`` names ``evaluate`` modules (``"evaluate:..."``)."""
    return isinstance(metric, str) and metric.startswith(EVALUATE_PREFIX)


def parse_evaluate_metric(metric: str) -> tuple[list[str], str]:
    """``(modules, main key)`` of an ``evaluate:`` metric string; the main key defaults to the one module's name."""
    body, _, main = metric[len(EVALUATE_PREFIX):].partition("#")
    modules = [part for part in body.split(",") if part]
    return modules, main or module_name(modules[0])


def module_name(module: str) -> str:
    """The name ``evaluate`` gives a module's scores: a script's stem, a folder's name, a Hub id's last part."""
    path = Path(module)
    return path.stem if path.suffix == ".py" else path.name or module.rsplit("/", 1)[-1]


def load_evaluate_metric(metric: str, where: str = "metric") -> Any:
    """The ``evaluate`` metric (``evaluate.combine`` of several) of a metric string, loaded once per process.

    Raises:
        TaskError: one line naming the module and why it did not load (offline, a Hub id cannot be fetched).
    """
    modules, _ = parse_evaluate_metric(metric)
    key = ",".join(modules)
    if key not in _LOADED:
        import evaluate

        loaded = []
        for module in modules:
            try:
                loaded.append(evaluate.load(module))
            except Exception as error:  # evaluate raises FileNotFoundError, ConnectionError, ImportError, ...
                detail = " ".join(str(error).split())[:300]
                offline = " (the Hub is not reachable or HF_HUB_OFFLINE is set: use a local script or folder)" if (
                    not Path(module).exists()) else ""
                raise TaskError(f"{where}: cannot load the evaluate module {module!r}{offline}: "
                                f"{type(error).__name__}: {detail}") from None
        _LOADED[key] = loaded[0] if len(loaded) == 1 else evaluate.combine(loaded)
    return _LOADED[key]


def evaluate_scores(metric: str, predictions: Any, references: Any) -> dict[str, float]:
    """The numeric scores of an ``evaluate`` metric (nested results flattened with ``_``), as plain floats."""
    results = load_evaluate_metric(metric).compute(predictions=predictions, references=references) or {}
    scores: dict[str, float] = {}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                add(f"{prefix}_{name}" if prefix else str(name), inner)
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            scores[re.sub(r"\W+", "_", prefix)] = float(value)

    add("", results)
    _, main = parse_evaluate_metric(metric)
    if main not in scores:
        raise TaskError(f"metric {metric!r}: the evaluate scores have no key {main!r} (keys: {', '.join(scores)}); "
                        "set `main:` to one of them")
    return scores
