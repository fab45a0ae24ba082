"""A task's ``metric:`` as a recipe writes it: a built-in metric name, or ``evaluate`` modules.

``{evaluate: module, main: key}`` (``module`` a local metric script or folder, or a Hub id; a list of them is
combined with ``evaluate.combine``) becomes one string ``evaluate:<module>[,<module>...][#<main key>]``, local
paths resolved against the recipe's folder. The modules are loaded (and their code run) by
:mod:`hf_mtl.metrics.evaluate_modules` when the trainer is built, before training.

Example:

```python
>>> metric_choice("accuracy", "task 'x'")
'accuracy'
>>> metric_choice({"evaluate": "tests/fixtures/metrics/exact_match.py"}, "task 'x'")
'evaluate:tests/fixtures/metrics/exact_match.py'
```
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..modeling.errors import TaskError, did_you_mean
from ..modeling.task_kinds import EVALUATE_METRIC_PREFIX, METRIC_MAIN_KEYS

__all__ = ["metric_choice"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _module(module: Any, where: str, base_dir: str | Path | None) -> str:
    if not isinstance(module, str) or not module or "," in module or "#" in module:
        raise TaskError(f"{where}: `metric.evaluate` names a metric script, a folder or a Hub id (or a list of them), "
                        f"not {module!r}")
    path = Path(module).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if path.exists():
        return str(path)
    if path.suffix == ".py" or module.startswith((".", "/", "~")) or not _HUB_ID.match(module):
        raise TaskError(f"{where}: evaluate module {module!r} does not exist (resolved: {path.resolve()}); give a "
                        "metric script, a folder holding one, or a Hub id")
    return module  # a Hub id: loaded (or refused, offline) when the trainer is built


def metric_choice(value: Any, where: str, base_dir: str | Path | None = None) -> str | None:
    """A task's ``metric:`` checked and normalized: ``None``, a built-in name, or an ``evaluate:`` string.

    Raises:
        TaskError: an unknown name (with the nearest), a malformed ``evaluate`` mapping, a missing local module,
            several modules without ``main:``.
    """
    if value is None or isinstance(value, str) and value in METRIC_MAIN_KEYS:
        return value
    if isinstance(value, str) and value.startswith(EVALUATE_METRIC_PREFIX):
        body, _, main = value[len(EVALUATE_METRIC_PREFIX):].partition("#")
        value = {"evaluate": [m for m in body.split(",") if m], **({"main": main} if main else {})}
    if not isinstance(value, dict):
        raise TaskError(f"{where}: `metric` must be one of {', '.join(METRIC_MAIN_KEYS)}{did_you_mean(str(value), METRIC_MAIN_KEYS)}"
                        f", or {{evaluate: <module or list>, main: <key>}}, not {value!r}")
    unknown = sorted(set(map(str, value)) - {"evaluate", "main"})
    if unknown or "evaluate" not in value:
        raise TaskError(f"{where}: `metric` as a mapping takes `evaluate:` (a module or a list) and `main:`"
                        + (f"; unknown key {unknown[0]!r}" if unknown else ""))
    modules = value["evaluate"] if isinstance(value["evaluate"], list) else [value["evaluate"]]
    main = value.get("main")
    if not modules:
        raise TaskError(f"{where}: `metric.evaluate` is an empty list")
    if len(modules) > 1 and not main:
        raise TaskError(f"{where}: `metric` combines {len(modules)} evaluate modules; say which key of their scores is "
                        "the task's main score with `main:` (e.g. main: f1)")
    if main is not None and (not isinstance(main, str) or not re.fullmatch(r"\w+", main)):
        raise TaskError(f"{where}: `metric.main` must be a score key such as f1, not {main!r}")
    return EVALUATE_METRIC_PREFIX + ",".join(_module(m, where, base_dir) for m in modules) + (f"#{main}" if main else "")
