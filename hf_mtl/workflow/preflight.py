"""Checks made before anything trains or is evaluated, on what only the prepared data and the model can tell.

Each one used to fail later, or to say the wrong thing:

- a task whose training split holds one class only (the config check then reported "Cannot load the encoder");
- a recipe task whose ``type`` or ``problem_type`` differs from the same task of the model it starts from or
  evaluates (a crash in the loss, or scores of the wrong kind);
- a ``max_length`` above the encoder's position limit (an ``IndexError`` at the first step);
- a ``metric_for_best_model`` that names no metric of the run (a ``KeyError`` at the first evaluation, after the
  training steps before it);
- token tasks whose training words were split differently (``word_splitting``, read from the data where the recipe
  sets none): the pipeline cuts raw text once for all of them, and would refuse to guess after training.

Example:

```python
>>> check_best_metric("eval_ner_f1", {"eval_ner_f1", "eval_average", "eval_loss"})  # fine; else a RecipeError

```
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from ..data import TaskData
from ..data.tasks import TaskSpec
from ..metrics.keys import average_key, mean_loss_key, metric_key, task_metric_keys
from ..modeling.encoder_families import position_offset
from ..modeling.errors import RecipeError, TaskError, did_you_mean
from ..modeling.pipeline_inputs import recorded_word_splittings
from ..modeling.task_kinds import task_kind

logger = logging.getLogger("hf_mtl")

__all__ = ["warn_unexportable_standardize", "check_best_metric", "check_against_model", "check_before_training", "check_label_counts",
           "check_word_splittings", "metric_keys"]



def check_label_counts(prepared: Mapping[str, TaskData]) -> None:
    """A task has the fewest labels its problem type allows (the registry's ``min_labels``: two for single-label text
    tasks, as the config requires): fewer means the data, not the encoder, is wrong."""
    for name, data in prepared.items():
        spec, problem = data.spec, data.spec.problem
        if problem.fixed_labels or len(data.labels) >= problem.min_labels:
            continue
        source = spec.train.describe() if spec.train is not None else "its data"
        found = f"only the label {data.labels[0]!r}" if data.labels else "no label"
        raise TaskError(
            f"task {name!r}: the training split ({source}) holds {found}; a classifier needs at least "
            f"{problem.min_labels} classes. "
            f"Check `label_column` ({spec.label_column!r}), `rows` and the file, or list the classes in `labels:`"
        )


def check_against_model(specs: Iterable[TaskSpec], tasks: Mapping[str, Mapping[str, Any]], model: str) -> None:
    """The recipe's tasks that ``model`` already has agree with it on ``type`` and ``problem_type``."""
    for spec in specs:
        if spec.name not in tasks:
            continue
        saved = tasks[spec.name]
        try:  # the kind's default problem type when the entry stores none (token tasks)
            saved_problem = task_kind(saved.get("type")).check_problem_type(saved.get("problem_type"))
        except ValueError:
            saved_problem = saved.get("problem_type")
        for key, ours, theirs in (("type", spec.type, saved.get("type")), ("problem_type", spec.problem_type, saved_problem)):
            if theirs is not None and ours != theirs:
                raise TaskError(
                    f"task {spec.name!r} is a {key} {ours!r} task in the recipe but {theirs!r} in {model}; set "
                    f"`{key}: {theirs}` on the task, or give the new task another name"
                )


def metric_keys(prepared: Mapping[str, TaskData]) -> set[str]:
    """Every key an evaluation of the prepared tasks reports: ``eval_<task>_<key>`` (scores, loss, timings),
    ``eval_average``, ``eval_loss`` (the keys module's reading of each metric)."""
    keys = {average_key(), mean_loss_key()}
    for name, data in prepared.items():
        keys.update(metric_key(name, key) for key in task_metric_keys(data.metric, dict(enumerate(data.labels)) or None))
    return keys


def check_best_metric(name: str | None, keys: set[str]) -> None:
    """``metric_for_best_model`` (``eval_`` added as transformers adds it) is one of ``keys``."""
    if name is None:
        return
    full = name if name.startswith("eval_") else f"eval_{name}"
    if full not in keys:
        shown = ", ".join(sorted(key[len("eval_"):] for key in keys if key.count("_") <= 2 or key.endswith("_f1")))
        raise RecipeError(
            f"training.metric_for_best_model: {name!r} (read as {full!r}) names no metric of this run"
            f"{did_you_mean(full, keys)}; it reports {shown}, ..."
        )


def _position_limit(encoder_config: Any) -> int | None:
    """The longest input the encoder's absolute position embeddings cover (``None``: no such limit)."""
    limit = getattr(encoder_config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0 or getattr(encoder_config, "position_biased_input", True) is False:
        return None  # DeBERTa-v2/v3 without absolute positions
    return limit - position_offset(encoder_config)  # RoBERTa-style families reserve the first ids


def check_before_training(model: Any, prepared: Mapping[str, TaskData], args: Any) -> None:
    """Every task's ``max_length`` fits the encoder, and ``metric_for_best_model`` names a metric of the run.

    Raises:
        TaskError: a ``max_length`` above the encoder's position limit.
        RecipeError: a ``metric_for_best_model`` that no evaluation of these tasks reports.
    """
    encoder_config = getattr(getattr(model, "config", None), "encoder", None)
    limit = _position_limit(encoder_config) if encoder_config is not None else None
    for name, data in prepared.items():
        if limit is not None and data.spec.max_length > limit:
            raise TaskError(
                f"task {name!r}: `max_length: {data.spec.max_length}` is above what the encoder "
                f"({encoder_config.model_type}) can read: {limit} tokens (max_position_embeddings); set "
                f"`max_length: {limit}` or less"
            )
    check_best_metric(getattr(args, "metric_for_best_model", None), metric_keys(prepared))
    warn_unexportable_standardize(model)


def warn_unexportable_standardize(model: Any) -> None:
    """Warn, before training, about a ``standardize: true`` regression task whose head has no bias (a decoder LLM's
    ``score``): its ``hf-mtl export --task`` will be refused (the target mean has no place in the family's class);
    the pipeline and ONNX keep the de-standardisation."""
    for name, head in getattr(model, "heads", {}).items():
        scale = getattr(head, "standardize", None)
        classifier = getattr(head, "classifier", None)
        if scale and scale.get("mean") and getattr(classifier, "bias", 0) is None:
            logger.warning(
                "task %r: `standardize: true` on a %s backbone, whose sequence head has no bias: `hf-mtl export --task "
                "%s` will refuse it (the target mean %g has no place there); the pipeline and ONNX export keep it. Set "
                "`standardize: false` to export the task as a plain transformers model.",
                name, model.config.encoder.model_type, name, scale["mean"])
    check_word_splittings(getattr(getattr(model, "config", None), "tasks", None) or {})


def check_word_splittings(tasks: Mapping[str, Mapping[str, Any]]) -> None:
    """The model's token tasks agree on how raw text is cut into words (as the pipeline reads their configs).

    Raises:
        RecipeError: they do not; names each task's splitting and the recipe key that settles it.
    """
    recorded = recorded_word_splittings(list(tasks), tasks)
    if len(set(recorded.values())) > 1:
        raise RecipeError(
            f"The token tasks' training words are split differently ({recorded}; read from each task's data where "
            "the recipe sets none): the pipeline cuts raw text into words once for all of them. Set "
            "`word_splitting: whitespace` or `word_splitting: tokenizer` on each of them"
        )
