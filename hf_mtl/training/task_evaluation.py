"""Evaluation and prediction per task, for :class:`~hf_mtl.training.trainer.MultiTaskTrainer` (mixed into it).

Each task is scored on its own dataset through the Trainer's ``evaluation_loop`` (token tasks reduced to argmax ids
before gathering), with the task's hf_mtl metric and, when given, the user's ``compute_metrics`` (told the task);
``<prefix>_average`` is the mean of the tasks' main metrics. ``evaluate`` and ``predict`` take ``{task: dataset}``
or one dataset whose task is given (``task=``), in a ``task`` column, or the model's only one.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from transformers import EvalPrediction, ProgressCallback
from transformers.trainer_utils import PredictionOutput, speed_metrics

from ..metrics import compute_task_metrics
from ..metrics.keys import average_key, main_score_key, mean_loss_key, metric_key, task_key_prefix
from ..modeling.errors import TaskError
from ..modeling.task_kinds import IGNORE_INDEX, task_kind
from .task_datasets import TaskDataset, check_task_datasets, split_by_task

__all__ = ["TaskEvaluationMixin", "TaskProgressCallback"]


def _takes_task(function: Any) -> bool:
    """Whether a custom `compute_metrics` accepts a `task=` keyword (a `task` parameter or `**kwargs`)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "task" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


class TaskProgressCallback(ProgressCallback):
    """transformers' progress bars, with one evaluation bar per task: each task is evaluated with its own data
    loader, so the bar restarts with that loader's length (transformers' bar keeps the first task's total)."""

    def __init__(self, max_str_len: int = 100) -> None:
        super().__init__(max_str_len)
        self._bar_loader: Any = None

    def on_prediction_step(self, args: Any, state: Any, control: Any, eval_dataloader: Any = None, **kwargs: Any) -> None:
        if self.prediction_bar is not None and eval_dataloader is not self._bar_loader:
            self.prediction_bar.close()
            self.prediction_bar = None
        self._bar_loader = eval_dataloader
        super().on_prediction_step(args, state, control, eval_dataloader=eval_dataloader, **kwargs)


class TaskEvaluationMixin:
    """`evaluate`, `predict` and the metrics of [`MultiTaskTrainer`]; needs the Trainer it is mixed into, its
    attributes `task_metrics` (`{task: metric name}`) and `multitask_model`, and `_init_task_metrics` called before
    `Trainer.__init__`."""

    def _init_task_metrics(self, compute_metrics: Any, preprocess_logits_for_metrics: Any) -> tuple[Any, Any]:
        """Keep the user's metric functions; returns the `compute_metrics` and `preprocess_logits_for_metrics` that
        the Trainer gets (hf_mtl's, which call the user's)."""
        self._eval_task: str | None = None
        self._eval_per_token = False  # whether the task being evaluated is a per-token one (set per task)
        self._eval_decode: Any = None  # its head's decode(logits, scored) -> label ids (set per task)
        self._eval_metric_inputs: Any = None  # its head's metric_inputs(logits, labels), when it has one
        self.custom_compute_metrics = compute_metrics
        self._custom_takes_task = compute_metrics is not None and _takes_task(compute_metrics)
        # hf_mtl's metrics need logits or argmax ids: a custom preprocess_logits_for_metrics may change them, so
        # with both custom functions only the custom metrics are computed.
        self._default_metrics = preprocess_logits_for_metrics is None or compute_metrics is None
        return self._compute_task_metrics, preprocess_logits_for_metrics or self._reduce_logits

    def _reduce_logits(self, logits: Any, labels: Any) -> torch.Tensor:
        """Token tasks: keep the head's decoded ids, not (batch, seq, labels) logits, before gathering (memory)."""
        if isinstance(logits, tuple):
            logits = logits[0]
        if self._eval_task is not None and self._eval_metric_inputs is not None:
            return self._eval_metric_inputs(logits, labels)  # masked-lm: each masked token's log-likelihood
        if self._eval_task is not None and self._eval_per_token:
            # the head decodes: argmax, or its CRF's Viterbi path / a parser's tree over the labelled first sub-words
            return self._eval_decode(logits, labels != IGNORE_INDEX)
        return logits

    @property
    def eval_task(self) -> str | None:
        """The task being evaluated or predicted (`None` outside [`evaluate`]/[`predict`]); what a custom
        `compute_metrics` without a `task` parameter can read to know which task it scores."""
        return self._eval_task

    def _compute_task_metrics(self, prediction: EvalPrediction, **kwargs: Any) -> dict[str, float]:
        """The task's hf_mtl metrics, updated with a custom `compute_metrics`' values (called with `task=` when it
        takes a `task` parameter or `**kwargs`)."""
        task = self._eval_task
        metrics: dict[str, float] = {}
        if self._default_metrics:
            predictions = prediction.predictions
            predictions = predictions[0] if isinstance(predictions, tuple) else predictions
            metrics = compute_task_metrics(
                self.task_metrics[task], np.asarray(predictions), np.asarray(prediction.label_ids),
                self.model_config_task(task)["id2label"],
            )
        if self.custom_compute_metrics is not None:
            if self._custom_takes_task:
                kwargs["task"] = task
            metrics.update(self.custom_compute_metrics(prediction, **kwargs))
        return metrics

    def _task_eval_loader(self, task: str, dataset: Any) -> Any:
        """The evaluation `DataLoader` of one task's dataset (length-sorted when it has a `length` column: metrics
        ignore order, similar lengths pad less), built once and reused by every later `evaluate` of the same dataset
        object with the same loader settings (one cached loader per task).

        Sorting and preparing a loader (accelerate keeps every loader it prepares) cost a fixed time per task and
        call, which added up to most of an evaluation with many small tasks.
        """
        settings = (self.accelerator, self.data_collator, self.args.eval_batch_size, self.args.dataloader_num_workers,
                    self.args.dataloader_pin_memory, self.args.dataloader_persistent_workers, self.args.dataloader_drop_last)
        loaders = self.__dict__.setdefault("_task_eval_loaders", {})
        cached = loaders.get(task)
        if cached is not None and cached[0] is dataset and cached[1] == settings:  # objects compare by identity
            return cached[2]
        source = dataset
        if hasattr(dataset, "sort") and "length" in getattr(dataset, "column_names", []):
            with warnings.catch_warnings():  # pyarrow 25 deprecates how datasets builds its sort options
                warnings.filterwarnings("ignore", "Specifying null_placement", FutureWarning)
                dataset = dataset.sort("length")
        loader = self.get_eval_dataloader(TaskDataset(task, dataset))
        loaders[task] = (source, settings, loader)
        return loader

    def _run_tasks(
        self, datasets: Mapping[str, Any], stage: str, ignore_keys: list[str] | None, prefix: str
    ) -> tuple[dict[str, Any], dict[str, float]]:
        """Run the evaluation loop on each task's dataset: `({task: loop output}, metrics)`; the metrics hold every
        `<prefix>_<task>_<key>`, `<prefix>_average` (mean of the tasks' main metrics), `<prefix>_loss` (mean task
        loss) and the speed metrics. `stage` is "Evaluation" (examples length-sorted: metrics ignore order, similar
        lengths pad less) or "Prediction" (examples in their order; test dataloaders)."""
        start_time = time.time()
        outputs: dict[str, Any] = {}
        metrics: dict[str, float] = {}
        main_scores, losses, num_samples = [], [], 0
        for task, dataset in datasets.items():
            task_prefix = task_key_prefix(task, prefix)  # the Trainer writes metric_key(task, <metric>, prefix)
            loader = self._task_eval_loader(task, dataset) if stage == "Evaluation" else \
                self.get_test_dataloader(TaskDataset(task, dataset))
            self._eval_task = task
            self._eval_per_token = task_kind(self.model_config_task(task)["type"]).per_token
            head = self.multitask_model.heads[task]
            self._eval_decode = head.decode if self._eval_per_token else None
            self._eval_metric_inputs = getattr(head, "metric_inputs", None)
            try:
                output = self.evaluation_loop(
                    loader, description=f"{stage} ({task})",
                    prediction_loss_only=False, ignore_keys=ignore_keys, metric_key_prefix=task_prefix,
                )
            finally:
                self._eval_task, self._eval_per_token, self._eval_decode = None, False, None
                self._eval_metric_inputs = None
            outputs[task] = output
            metrics.update(output.metrics)
            num_samples += output.num_samples
            main_key = main_score_key(task, self.task_metrics[task], prefix)
            if main_key in output.metrics and not task_kind(self.model_config_task(task)["type"]).auxiliary:
                main_scores.append(output.metrics[main_key])
            if metric_key(task, "loss", prefix) in output.metrics:
                losses.append(output.metrics[metric_key(task, "loss", prefix)])
        if main_scores:
            metrics[average_key(prefix)] = float(np.mean(main_scores))
        if losses:
            metrics[mean_loss_key(prefix)] = float(np.mean(losses))
        steps = math.ceil(num_samples / (self.args.eval_batch_size * self.args.world_size))
        metrics.update(speed_metrics(prefix, start_time, num_samples=num_samples, num_steps=steps))
        return outputs, metrics

    def evaluate(
        self,
        eval_dataset: Mapping[str, Any] | Any | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
        task: str | None = None,
    ) -> dict[str, float]:
        """Evaluate every task on its own eval set; returns `eval_<task>_<metric>`, `eval_average`, `eval_loss`.

        `eval_average` is the mean over tasks of each task's main metric (F1 for seqeval, accuracy for POS and
        text classification, micro-F1 for multi-label, Pearson for regression); `eval_loss` the mean task loss.
        `eval_dataset` is `{task: dataset}`, or one dataset whose task is `task`, its `task` column or the model's
        only task.
        """
        datasets = eval_dataset if eval_dataset is not None else self.eval_dataset
        if datasets is None:
            raise TaskError("Evaluation requires eval_dataset={task: dataset}.")
        task_names = self.multitask_model.task_names
        datasets = split_by_task(datasets, task, task_names, "eval_dataset")
        check_task_datasets(datasets, task_names, "eval_dataset")
        # `_memory_tracker` (private) is the Trainer's own memory tracker: Trainer.evaluate/predict, which these
        # replace (they would score each task apart, without `eval_average`), start and stop it the same way. A
        # tracker of our own would reset the peak-memory counters of the training stage it is nested in.
        self._memory_tracker.start()
        _, metrics = self._run_tasks(datasets, "Evaluation", ignore_keys, metric_key_prefix)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        self._memory_tracker.stop_and_update_metrics(metrics)
        return metrics

    def predict(
        self,
        test_dataset: Mapping[str, Any] | Any,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "test",
        task: str | None = None,
    ) -> PredictionOutput:
        """[`Trainer.predict`] per task: predictions, labels and metrics (`test_<task>_<metric>`, `test_average`).

        Args:
            test_dataset: one task's tokenized dataset (the task is `task`, else its `task` column, else the
                model's only task; a `task` column naming several tasks is split by task) or `{task: dataset}`.
            task: the task of a single dataset.

        Returns:
            `PredictionOutput`: for one task, `predictions` (logits for text tasks, argmax label ids per token for
            token tasks; padded positions hold predictions too, score where `label_ids != -100`) and `label_ids` as
            arrays, rows in the dataset's order; for several tasks, both are `{task: array}`. `metrics` holds every task's metrics, `test_average` and `test_loss` (when labels
            are given) in either case.

        Example:
            ```python
            >>> output = trainer.predict(ner_test, task="ner")
            >>> output.metrics["test_ner_f1"], output.metrics["test_average"]
            >>> trainer.predict({"ner": ner_test, "sentiment": sst_test}).predictions["sentiment"].shape
            ```
        """
        task_names = self.multitask_model.task_names
        datasets = split_by_task(test_dataset, task, task_names, "test_dataset")
        check_task_datasets(datasets, task_names, "test_dataset")
        self._memory_tracker.start()  # see evaluate
        outputs, metrics = self._run_tasks(datasets, "Prediction", ignore_keys, metric_key_prefix)
        self.control = self.callback_handler.on_predict(self.args, self.state, self.control, metrics)
        self._memory_tracker.stop_and_update_metrics(metrics)
        if len(outputs) == 1 and not isinstance(test_dataset, Mapping):
            (output,) = outputs.values()
            return PredictionOutput(predictions=output.predictions, label_ids=output.label_ids, metrics=metrics)
        return PredictionOutput(
            predictions={name: output.predictions for name, output in outputs.items()},
            label_ids={name: output.label_ids for name, output in outputs.items()},
            metrics=metrics,
        )

    def predict_task(self, task: str, dataset: Any, metric_key_prefix: str = "test") -> PredictionOutput:
        """`predict(dataset, task=task)`: one task's predictions (argmax ids for token tasks), labels and metrics."""
        return self.predict(dataset, metric_key_prefix=metric_key_prefix, task=task)
