"""``MultiTaskTrainer``: transformers' Trainer, taught that batches belong to tasks.

What it adds, all through the Trainer's public hooks:

- ``get_train_dataloader``: a real ``DataLoader`` over every task's training set, whose batches come from a
  seeded :class:`~hf_mtl.sampling.MultiTaskBatchSampler` (one task per batch, and per optimizer step);
  ``accelerator.prepare`` shards it under ``accelerate launch``/DDP so every process takes the same task on
  the same step, on disjoint examples, and the sampler's epoch follows the Trainer's.
- ``compute_loss``: each task's loss weighted at run time (``task_loss_weights``), the model's config untouched.
- ``training_step``/``log``: per-task training loss (``loss_<task>``) beside the total, through the normal
  ``log`` path (progress bar, ``report_to`` integrations, ``trainer_state.json``), summed on the device and read
  once per logging step.
- ``evaluate``: each task on its own eval set, metrics as ``eval_<task>_<metric>``, plus ``eval_average`` (the
  mean of each task's main metric), usable as ``metric_for_best_model="average"`` and by early stopping.
- ``save_model``/``train``: crash-safe checkpoints (see :mod:`hf_mtl.checkpoints`): a checkpoint folder is
  invalidated before it is written again, ``train(resume_from_checkpoint=True)`` resumes from the newest complete
  one, and the per-task example counts are saved in the checkpoint and restored on resume.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import EvalPrediction, Trainer
from transformers.trainer_utils import speed_metrics

from .checkpoints import (
    EXAMPLES_SEEN_FILE,
    checkpoint_problem,
    invalidate_checkpoint,
    is_checkpoint_folder,
    last_complete_checkpoint,
    read_examples_seen,
    resolve_resume,
    write_examples_seen,
)
from .configuration_multitask import TOKEN_CLASSIFICATION
from .data import DataCollatorForMultiTask
from .data.task_datasets import MultiTaskDataset, TaskDataset
from .errors import DataError, TaskError
from .exposure import apply_equal_exposure
from .lora import unwrap_peft_model
from .metrics import METRIC_NAMES, compute_task_metrics, main_metric_key
from .model_card import ModelCardMixin
from .modeling_multitask import MultiTaskModel
from .sampling import MultiTaskBatchSampler
from .task_kinds import default_metric
from .training_args import MultiTaskTrainingArguments, loss_scale

__all__ = [
    "EXAMPLES_SEEN_FILE",  # re-exported: checkpoint helpers live in hf_mtl.checkpoints
    "MultiTaskDataset",
    "MultiTaskTrainer",
    "TaskDataset",
    "checkpoint_problem",
    "default_metric",
    "last_complete_checkpoint",
]

logger = logging.getLogger("hf_mtl")




class _TaskLossTracker:
    """Sums each task's training loss between two logging steps (micro-batch losses, already scaled by GA).

    The sums stay on the loss's device: adding a loss never waits for the accelerator (no ``.item()``/``float``
    per step); :meth:`pop_means` reads them once, at logging time.
    """

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.micro_batches: dict[str, int] = {}

    def add(self, task: str, loss: torch.Tensor) -> None:
        loss = loss.detach()
        self.sums[task] = self.sums[task] + loss if task in self.sums else loss.clone()
        self.micro_batches[task] = self.micro_batches.get(task, 0) + 1

    def pop_means(self, gradient_accumulation_steps: int) -> dict[str, torch.Tensor]:
        """Each task's mean loss per optimizer step since the last call, as 0-d tensors on the loss's device."""
        means = {
            task: total.float() * (gradient_accumulation_steps / self.micro_batches[task])
            for task, total in self.sums.items()
        }
        self.sums, self.micro_batches = {}, {}
        return means


class MultiTaskTrainer(ModelCardMixin, Trainer):
    """A [`Trainer`] for [`MultiTaskModel`]: samples one task per batch, logs and evaluates per task.

    Args:
        model: a [`MultiTaskModel`].
        args: [`MultiTaskTrainingArguments`] (plain `TrainingArguments` also work, with the default sampling).
        train_dataset: `{task: dataset}` of tokenized examples (`input_ids`, `attention_mask`, `labels`, ...), e.g.
            `prepare_task(spec, tokenizer).tokenized["train"]` for each task.
        eval_dataset: `{task: dataset}`; each task is evaluated on its own.
        processing_class: the tokenizer (used for padding and saved with checkpoints).
        task_metrics: `{task: metric}` to override the default metric of a task (see [`default_metric`]).
        model_card_data: a [`MultiTaskModelCardData`] (language, license, Hub dataset ids...) for the model card
            that `save_model()` and `push_to_hub()` write (see `hf_mtl.model_card.ModelCardMixin`).
        kwargs: anything else [`Trainer`] takes (callbacks, optimizers, ...).

    The model's config is never changed: `args.task_loss_weights` are applied to the loss at run time (see
    [`~MultiTaskTrainer.task_loss_weight`]), so a saved model keeps the `loss_weight` it was built with.

    Example:
        ```python
        >>> trainer = MultiTaskTrainer(model=model, args=args, processing_class=tokenizer,
        ...                            train_dataset={"ner": ner_train, "sentiment": sst_train},
        ...                            eval_dataset={"ner": ner_dev, "sentiment": sst_dev})
        >>> trainer.train()
        >>> trainer.evaluate()["eval_average"]
        ```
    """

    def __init__(
        self,
        model: MultiTaskModel | None = None,
        args: MultiTaskTrainingArguments | None = None,
        train_dataset: Mapping[str, Any] | None = None,
        eval_dataset: Mapping[str, Any] | None = None,
        processing_class: Any = None,
        data_collator: Any = None,
        task_metrics: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        model = unwrap_peft_model(model)  # get_peft_model(multitask_model, LoraConfig(...)) trains like apply_lora
        if not isinstance(model, MultiTaskModel):
            raise TaskError(f"MultiTaskTrainer needs a MultiTaskModel, got {type(model).__name__}.")
        if args is None:
            args = MultiTaskTrainingArguments(output_dir="tmp_trainer")
        self._check_task_datasets(model, train_dataset, "train_dataset")
        self._check_task_datasets(model, eval_dataset, "eval_dataset")
        self.task_metrics = self._resolve_task_metrics(model, task_metrics)
        for task in getattr(args, "task_loss_weights", None) or {}:
            if task not in model.config.tasks:
                raise TaskError(f"task_loss_weights names task '{task}', but the model has tasks {model.task_names}.")
        if data_collator is None:
            if processing_class is None:
                raise TaskError("Pass processing_class=<tokenizer> (used to pad batches) or a data_collator.")
            task_types = {name: task["type"] for name, task in model.config.tasks.items()}
            data_collator = DataCollatorForMultiTask(processing_class, task_types=task_types)
        self.task_train_datasets = dict(train_dataset) if train_dataset is not None else None
        if self.task_train_datasets:
            apply_equal_exposure(args, list(self.task_train_datasets))  # steps_per_task -> max_steps
        self._task_losses = _TaskLossTracker()
        self.examples_seen: dict[str, int] = {}
        self._eval_task: str | None = None
        super().__init__(
            model=model,
            args=args,
            train_dataset=MultiTaskDataset(train_dataset) if train_dataset is not None else None,
            eval_dataset=dict(eval_dataset) if eval_dataset is not None else None,
            processing_class=processing_class,
            data_collator=data_collator,
            compute_metrics=kwargs.pop("compute_metrics", None) or self._compute_task_metrics,
            preprocess_logits_for_metrics=kwargs.pop("preprocess_logits_for_metrics", None) or self._reduce_logits,
            **kwargs,
        )

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _check_task_datasets(model: MultiTaskModel, datasets: Any, argument: str) -> None:
        if datasets is None:
            return
        if not isinstance(datasets, Mapping):
            raise TaskError(
                f"{argument} must be a dict {{task name: dataset}} (tasks: {model.task_names}), "
                f"got {type(datasets).__name__}."
            )
        unknown = [name for name in datasets if name not in model.config.tasks]
        if unknown:
            raise TaskError(
                f"{argument} has task(s) {unknown} that the model lacks; the model has tasks {model.task_names}. "
                "Add them with model.add_task(...) or fix the names."
            )
        for name, dataset in datasets.items():
            if len(dataset) == 0:
                raise DataError(f"{argument}['{name}'] is empty: task '{name}' has no examples to train or evaluate on.")
            columns = getattr(dataset, "column_names", None)
            if columns is not None and ("input_ids" not in columns or "labels" not in columns):
                raise DataError(
                    f"{argument}['{name}'] has columns {columns}; it needs tokenized 'input_ids' and 'labels' "
                    "(use hf_mtl.data.prepare_task)."
                )

    @staticmethod
    def _resolve_task_metrics(model: MultiTaskModel, task_metrics: Mapping[str, str] | None) -> dict[str, str]:
        metrics = {name: default_metric(task) for name, task in model.config.tasks.items()}
        for name, metric in (task_metrics or {}).items():
            if name not in metrics:
                raise TaskError(f"task_metrics names task '{name}', but the model has tasks {model.task_names}.")
            if metric not in METRIC_NAMES:
                raise TaskError(f"task_metrics['{name}'] = {metric!r} is not a metric; use one of {list(METRIC_NAMES)}.")
            metrics[name] = metric
        return metrics

    # ------------------------------------------------------------------ training data
    def get_train_sampler(self) -> MultiTaskBatchSampler:
        """The task/batch sampler for training, built from the arguments (seeded by `data_seed` or `seed`).

        One draw of the sampler is one optimizer step (`group_size` = processes x accumulation steps), so annealed
        sampling is sized from `max_steps` when it is set, else from `num_train_epochs`.
        """
        args = self.args
        lengths = self.train_dataset.example_lengths()
        # `_train_batch_size` (private) is the batch size `auto_find_batch_size` settles on, which
        # `args.train_batch_size` does not reflect; Trainer.get_train_dataloader reads it the same way.
        return MultiTaskBatchSampler(
            lengths,
            self._train_batch_size,
            strategy=getattr(args, "sampling", "proportional"),
            temperature=getattr(args, "sampling_temperature", 2.0),
            seed=args.data_seed if args.data_seed is not None else args.seed,
            group_size=args.gradient_accumulation_steps * args.world_size,
            length_grouping=getattr(args, "length_grouping", True),
            total_epochs=max(1, math.ceil(args.num_train_epochs)),
            total_steps=args.max_steps if args.max_steps > 0 else None,
            anneal_start=getattr(args, "anneal_start", 1.0),
            anneal_end=getattr(args, "anneal_end", 0.2),
        )

    def get_train_dataloader(self) -> DataLoader:
        """A real `DataLoader` whose batch sampler picks one task per batch; prepared by accelerate.

        The sampler is paired with the training dataset (one task index for both), which forwards the epoch that
        accelerate's DataLoader sets at every epoch to the sampler, also under DDP (see [`MultiTaskDataset`]).
        """
        if self.train_dataset is None:
            raise TaskError("Training requires train_dataset={task: dataset}.")
        loader = DataLoader(
            self.train_dataset,
            batch_sampler=self.train_dataset.pair(self.get_train_sampler()),
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
            persistent_workers=self.args.dataloader_persistent_workers and self.args.dataloader_num_workers > 0,
        )
        return self.accelerator.prepare(loader)

    # ------------------------------------------------------------------ checkpoints and resuming
    def _checkpoint_checks(self) -> dict[str, bool]:
        """What :func:`checkpoint_problem` can check for this run's checkpoints."""
        custom_layout = self.is_deepspeed_enabled or self.is_fsdp_enabled
        return {"require_weights": not custom_layout, "require_optimizer": not (custom_layout or self.args.save_only_model)}

    def train(
        self, resume_from_checkpoint: str | bool | None = None, trial: Any = None,
        ignore_keys_for_eval: list[str] | None = None, **kwargs: Any,
    ) -> Any:
        """[`Trainer.train`], resuming only from complete checkpoints.

        Args:
            resume_from_checkpoint: `True` resumes from the newest *complete* checkpoint in `args.output_dir`
                (half-written ones, left by a run killed while saving, are skipped with a warning); a path must be
                a complete checkpoint. The per-task example counts (`examples_seen`) continue from the checkpoint's.

        Raises:
            HfMtlError: no complete checkpoint to resume from, or the given one is incomplete (the message says
                what is missing).
        """
        resume_from_checkpoint = resolve_resume(resume_from_checkpoint, self.args.output_dir, **self._checkpoint_checks())
        if resume_from_checkpoint is not None:
            self.examples_seen = read_examples_seen(resume_from_checkpoint)
        return super().train(
            resume_from_checkpoint=resume_from_checkpoint, trial=trial, ignore_keys_for_eval=ignore_keys_for_eval,
            **kwargs,
        )

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """[`Trainer.save_model`]; for a checkpoint, also invalidates it until the save completes, and saves counts.

        The Trainer calls this first when it writes `checkpoint-N/` and writes `trainer_state.json` last. A stale
        `trainer_state.json` (from an earlier run that reached step N) is removed before anything is overwritten,
        so a kill during the save never leaves a folder that looks complete; `examples_seen.json` goes beside the
        weights.
        """
        folder = output_dir if output_dir is not None else self.args.output_dir
        # `_internal_call` is part of save_model's signature: it is how the Trainer marks the save of a checkpoint.
        # No public hook runs before a checkpoint's weights are written (`on_save` runs after the whole save), and
        # a user's own save_model into a folder named checkpoint-N must not delete anything.
        checkpoint = _internal_call and self.args.should_save and is_checkpoint_folder(folder)
        if checkpoint:
            invalidate_checkpoint(folder)
        super().save_model(output_dir, _internal_call=_internal_call)
        if checkpoint:
            write_examples_seen(folder, self.examples_seen)

    # ------------------------------------------------------------------ the loss
    def task_loss_weight(self, task: str) -> float:
        """The weight of ``task``'s loss in training: `args.task_loss_weights[task]` if given, else the config's
        `loss_weight`, times the `args.loss_scaling` factor (1 by default).

        The model's config is not changed; the weight reaches the model's loss through `forward(loss_weight=...)`.
        """
        config_task = self.model_config_task(task)
        weights = getattr(self.args, "task_loss_weights", None) or {}
        weight = float(weights.get(task, config_task["loss_weight"]))
        return weight * loss_scale(config_task, getattr(self.args, "loss_scaling", "none"))

    def compute_loss(
        self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        """[`Trainer.compute_loss`], with the task's run-time loss weight (see [`task_loss_weight`])."""
        task = inputs.get("task")
        if task is not None and "labels" in inputs:
            weight = self.task_loss_weight(task)
            if weight != self.model_config_task(task)["loss_weight"]:
                inputs = {**inputs, "loss_weight": weight}
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    # ------------------------------------------------------------------ training step and logging
    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None) -> torch.Tensor:
        """[`Trainer.training_step`], adding the loss to its task's running sum (on the device: no sync)."""
        task = inputs.get("task")
        batch_size = len(inputs["input_ids"]) if "input_ids" in inputs else 0
        loss = super().training_step(model, inputs, num_items_in_batch)
        if task is not None:
            self._task_losses.add(task, loss)
            self.examples_seen[task] = self.examples_seen.get(task, 0) + batch_size * self.args.world_size
        return loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add `loss_<task>` (mean training loss per optimizer step of that task since the last log).

        The per-task sums are read from the device here, once per logging step, with one transfer for all tasks.
        """
        if "loss" in logs and self._task_losses.sums:
            means = self._task_losses.pop_means(self.args.gradient_accumulation_steps)
            names = sorted(means)
            values = torch.stack([means[name].to(self.args.device) for name in names])
            if self.args.world_size > 1:
                values = self.accelerator.reduce(values, reduction="mean")
            logs.update({f"loss_{name}": round(value, 4) for name, value in zip(names, values.tolist(), strict=True)})
        super().log(logs, start_time)

    # ------------------------------------------------------------------ evaluation
    def _reduce_logits(self, logits: Any, labels: Any) -> torch.Tensor:
        """Token tasks: keep argmax ids, not (batch, seq, labels) logits, before gathering (memory)."""
        if isinstance(logits, tuple):
            logits = logits[0]
        if self._eval_task is not None and self.model_config_task(self._eval_task)["type"] == TOKEN_CLASSIFICATION:
            return logits.argmax(dim=-1)
        return logits

    def model_config_task(self, task: str) -> dict[str, Any]:
        """The config entry of ``task`` in the (unwrapped) model."""
        return self.accelerator.unwrap_model(self.model).config.tasks[task]

    def _compute_task_metrics(self, prediction: EvalPrediction) -> dict[str, float]:
        task = self._eval_task
        predictions = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return compute_task_metrics(
            self.task_metrics[task],
            np.asarray(predictions),
            np.asarray(prediction.label_ids),
            self.model_config_task(task)["id2label"],
        )

    def evaluate(
        self,
        eval_dataset: Mapping[str, Any] | Any | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """Evaluate every task on its own eval set; returns `eval_<task>_<metric>`, `eval_average`, `eval_loss`.

        `eval_average` is the mean over tasks of each task's main metric (F1 for seqeval, accuracy for POS and
        text classification, micro-F1 for multi-label, Pearson for regression); `eval_loss` the mean task loss.
        """
        datasets = eval_dataset if eval_dataset is not None else self.eval_dataset
        if datasets is None:
            raise TaskError("Evaluation requires eval_dataset={task: dataset}.")
        model = self.accelerator.unwrap_model(self.model)
        if not isinstance(datasets, Mapping):
            if len(model.task_names) != 1:
                raise TaskError(f"Pass eval_dataset as {{task: dataset}}; the model has tasks {model.task_names}.")
            datasets = {model.task_names[0]: datasets}
        self._check_task_datasets(model, datasets, "eval_dataset")

        # `_memory_tracker` (private) is the Trainer's own memory tracker: Trainer.evaluate, which this replaces
        # (it would log each task apart, without `eval_average`), starts and stops it the same way. A tracker of our
        # own would reset the peak-memory counters of the training stage it is nested in.
        self._memory_tracker.start()
        start_time = time.time()
        metrics: dict[str, float] = {}
        main_scores, losses, num_samples = [], [], 0
        for task, dataset in datasets.items():
            self._eval_task = task
            prefix = f"{metric_key_prefix}_{task}"
            if hasattr(dataset, "sort") and "length" in getattr(dataset, "column_names", []):
                dataset = dataset.sort("length")  # metrics ignore order; similar lengths pad less
            try:
                dataloader = self.get_eval_dataloader(TaskDataset(task, dataset))
                output = self.evaluation_loop(
                    dataloader,
                    description=f"Evaluation ({task})",
                    prediction_loss_only=False,
                    ignore_keys=ignore_keys,
                    metric_key_prefix=prefix,
                )
            finally:
                self._eval_task = None
            metrics.update(output.metrics)
            num_samples += output.num_samples
            main_key = f"{prefix}_{main_metric_key(self.task_metrics[task])}"
            if main_key in output.metrics:
                main_scores.append(output.metrics[main_key])
            if f"{prefix}_loss" in output.metrics:
                losses.append(output.metrics[f"{prefix}_loss"])
        if main_scores:
            metrics[f"{metric_key_prefix}_average"] = float(np.mean(main_scores))
        if losses:
            metrics[f"{metric_key_prefix}_loss"] = float(np.mean(losses))
        total_batch_size = self.args.eval_batch_size * self.args.world_size
        metrics.update(
            speed_metrics(
                metric_key_prefix,
                start_time,
                num_samples=num_samples,
                num_steps=math.ceil(num_samples / total_batch_size),
            )
        )
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        self._memory_tracker.stop_and_update_metrics(metrics)
        return metrics

    def predict_task(self, task: str, dataset: Any, metric_key_prefix: str = "test") -> Any:
        """`Trainer.predict` for one task: returns predictions (argmax ids for token tasks), labels and metrics."""
        self._eval_task = task
        try:
            return self.predict(TaskDataset(task, dataset), metric_key_prefix=f"{metric_key_prefix}_{task}")
        finally:
            self._eval_task = None
