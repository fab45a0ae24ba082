"""``MultiTaskTrainer``: transformers' Trainer, taught that batches belong to tasks.

What it adds, all through the Trainer's public hooks:

- ``get_train_dataloader``: a real ``DataLoader`` over every task's training set, whose batches come from a
  seeded :class:`~hf_mtl.training.sampling.MultiTaskBatchSampler` (one task per batch, and per optimizer step);
  ``accelerator.prepare`` shards it under ``accelerate launch``/DDP so every process takes the same task on
  the same step, on disjoint examples, and the sampler's epoch follows the Trainer's.
- ``compute_loss``: each task's loss weighted at run time (``task_loss_weights``, resolved once per ``train``), the
  model's config untouched; each task's share of the training loss and its examples counted there.
- ``log``: per-task training loss (``loss_<task>``) beside the total, through the normal ``log`` path (progress
  bar, ``report_to`` integrations, ``trainer_state.json``), summed on the device and read once per logging step.
- ``create_optimizer``: the heads' own learning rate (``head_learning_rate_multiplier``).
- ``evaluate``/``predict`` (from :mod:`hf_mtl.training.task_evaluation`): each task on its own dataset, metrics as
  ``eval_<task>_<metric>``, plus ``eval_average`` (the mean of each task's main metric), usable as
  ``metric_for_best_model="average"`` and by early stopping; a custom ``compute_metrics`` is told the task.
- ``save_model``/``train``: crash-safe checkpoints (see :mod:`hf_mtl.training.checkpoints`): a checkpoint folder is
  invalidated before it is written again, ``train(resume_from_checkpoint=True)`` resumes from the newest complete
  one (the rule of :func:`~hf_mtl.training.checkpoints.checkpoint_requirements`, which ``hf-mtl train --resume``
  applies too), and the per-task example counts (an ``ExportableState`` callback) are saved in each checkpoint's
  ``trainer_state.json`` and restored on resume.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader
from transformers import ProgressCallback, Trainer

from ..data import DataCollatorForMultiTask
from ..data.groups import check_task_groups, group_num_items
from ..metrics import METRIC_NAMES
from ..metrics.evaluate_modules import is_evaluate_metric
from ..metrics.keys import check_metric_keys, loss_key
from ..modeling.errors import TaskError
from ..modeling.lora import unwrap_peft_model
from ..modeling.modeling_multitask import MultiTaskModel
from ..modeling.task_kinds import default_metric, task_kind
from .checkpoints import (
    EXAMPLES_SEEN_FILE,
    ExamplesSeenCallback,
    checkpoint_problem,
    invalidate_checkpoint,
    is_checkpoint_folder,
    last_complete_checkpoint,
    read_examples_seen,
    resolve_resume,
)
from .exposure import apply_equal_exposure
from .model_card_callback import ModelCardMixin
from .sampling import MultiTaskBatchSampler
from .task_datasets import MultiTaskDataset, TaskDataset, check_task_datasets
from .task_evaluation import TaskEvaluationMixin, TaskProgressCallback
from .training_args import MultiTaskTrainingArguments, loss_scale

__all__ = [
    "EXAMPLES_SEEN_FILE",
    "compile_encoder",  # re-exported: checkpoint helpers live in hf_mtl.training.checkpoints
    "MultiTaskDataset",
    "MultiTaskTrainer",
    "TaskDataset",
    "checkpoint_problem",
    "default_metric",
    "last_complete_checkpoint",
]

logger = logging.getLogger("hf_mtl")




def compile_encoder(model: MultiTaskModel, backend: str | None = None, mode: str | None = None) -> None:
    """Compile a [`MultiTaskModel`]'s shared encoder in place (`nn.Module.compile`: parameter names, `state_dict`
    and `save_pretrained` unchanged); the heads stay eager.

    What `torch_compile=True` does in [`MultiTaskTrainer`]: the encoder is the same code and the same weights for
    every task, so its graph compiles once for training and once for evaluation (plus one recompilation with
    dynamic shapes when the batch shape first changes), whatever the number of tasks. A head is a few small ops;
    compiling them would trace one graph per head.

    Args:
        model: the model whose `encoder` to compile (a no-op when it is compiled already).
        backend: `torch.compile`'s backend (`TrainingArguments.torch_compile_backend`; default "inductor").
        mode: `torch.compile`'s mode (`TrainingArguments.torch_compile_mode`).
    """
    if getattr(model.encoder, "_compiled_call_impl", None) is not None:
        return
    model.encoder.compile(backend=backend or "inductor", mode=mode)


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


class MultiTaskTrainer(TaskEvaluationMixin, ModelCardMixin, Trainer):
    """A [`Trainer`] for [`MultiTaskModel`]: samples one task per batch, logs and evaluates per task.

    Args:
        model: a [`MultiTaskModel`].
        args: [`MultiTaskTrainingArguments`] (plain `TrainingArguments` also work, with the default sampling).
        train_dataset: `{task: dataset}` of tokenized examples (`input_ids`, `attention_mask`, `labels`, ...), e.g.
            `prepare_task(spec, tokenizer).tokenized["train"]` for each task. A task group is one entry, named
            after the group, whose dataset has one `labels_<task>` column per task (`prepare_group(...).tokenized`).
        eval_dataset: `{task: dataset}`; each task is evaluated on its own.
        processing_class: the tokenizer (used for padding and saved with checkpoints).
        task_metrics: `{task: metric}` to override the default metric of a task (see [`default_metric`]).
        task_groups: `{group: [task, ...]}`: the tasks of each group in `train_dataset`. A group is one sampling
            unit (sized by its examples); each of its batches runs the encoder once and adds every task's loss.
            `loss_<task>`, `examples_seen` and evaluation stay per task.
        model_card_data: a [`MultiTaskModelCardData`] (language, license, Hub dataset ids...) for the model card
            that `save_model()` and `push_to_hub()` write (see `hf_mtl.training.model_card_callback.ModelCardMixin`).
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
        task_groups: Mapping[str, list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        model = unwrap_peft_model(model)  # get_peft_model(multitask_model, LoraConfig(...)) trains like apply_lora
        if not isinstance(model, MultiTaskModel):
            raise TaskError(f"MultiTaskTrainer needs a MultiTaskModel, got {type(model).__name__}.")
        if args is None:
            args = MultiTaskTrainingArguments(output_dir="tmp_trainer")
        self.task_groups = check_task_groups(model, task_groups)
        check_task_datasets(train_dataset, model.task_names, "train_dataset", self.task_groups,
                            [name for name, task in model.config.tasks.items() if task_kind(task["type"]).raw_text])
        check_task_datasets(eval_dataset, model.task_names, "eval_dataset")
        self.task_metrics = self._resolve_task_metrics(model, task_metrics)
        check_metric_keys(self.task_metrics, {name: task.get("id2label") for name, task in model.config.tasks.items()})
        for task in getattr(args, "task_loss_weights", None) or {}:
            if task not in model.config.tasks:
                raise TaskError(f"task_loss_weights names task '{task}', but the model has tasks {model.task_names}.")
        if data_collator is None:
            if processing_class is None:
                raise TaskError("Pass processing_class=<tokenizer> (used to pad batches) or a data_collator.")
            task_types = {name: task["type"] for name, task in model.config.tasks.items()}
            data_collator = DataCollatorForMultiTask(processing_class, task_types=task_types, task_groups=self.task_groups,
                                                     mask_seed=args.data_seed if args.data_seed is not None else args.seed)
        self.task_train_datasets = dict(train_dataset) if train_dataset is not None else None
        if self.task_train_datasets:
            apply_equal_exposure(args, list(self.task_train_datasets))  # steps_per_task -> max_steps
        self._task_losses = _TaskLossTracker()
        self._changed_loss_weights: dict[str, float] | None = None  # resolved once per train(), see compute_loss
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), ExamplesSeenCallback()]
        compute_metrics, preprocess_logits = self._init_task_metrics(
            kwargs.pop("compute_metrics", None), kwargs.pop("preprocess_logits_for_metrics", None)
        )
        super().__init__(
            model=model,
            args=args,
            train_dataset=MultiTaskDataset(train_dataset) if train_dataset is not None else None,
            eval_dataset=dict(eval_dataset) if eval_dataset is not None else None,
            processing_class=processing_class,
            data_collator=data_collator,
            compute_metrics=compute_metrics,
            preprocess_logits_for_metrics=preprocess_logits,
            **kwargs,
        )
        if self.pop_callback(ProgressCallback) is not None:  # one evaluation bar per task, with its own total
            self.add_callback(TaskProgressCallback)
        if self.args.torch_compile:
            compile_encoder(self.multitask_model, self.args.torch_compile_backend, self.args.torch_compile_mode)

    def create_accelerator_and_postprocess(self) -> None:
        """[`Trainer.create_accelerator_and_postprocess`]; with `args.torch_compile`, the accelerator gets no
        `torch.compile` plugin, because the trainer compiles the shared encoder itself (see [`compile_encoder`]).

        Compiling the whole [`MultiTaskModel`], as the Trainer would, traces `forward(task=...)` once per task
        name (dynamo guards on the string and on the head it selects): N tasks make N graphs, and past
        `torch._dynamo.config.cache_size_limit` (8) the model silently runs uncompiled. The argument is restored
        as soon as the accelerator exists.
        """
        if not self.args.torch_compile:
            return super().create_accelerator_and_postprocess()
        backend = self.args.torch_compile_backend
        self.args.torch_compile_backend = None  # read by the Trainer to build accelerate's TorchDynamoPlugin
        try:
            return super().create_accelerator_and_postprocess()
        finally:
            self.args.torch_compile_backend = backend

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _resolve_task_metrics(model: MultiTaskModel, task_metrics: Mapping[str, str] | None) -> dict[str, str]:
        metrics = {name: default_metric(task) for name, task in model.config.tasks.items()}
        for name, metric in (task_metrics or {}).items():
            if name not in metrics:
                raise TaskError(f"task_metrics names task '{name}', but the model has tasks {model.task_names}.")
            if metric not in METRIC_NAMES and not is_evaluate_metric(metric):
                raise TaskError(f"task_metrics['{name}'] = {metric!r} is not a metric; use one of {list(METRIC_NAMES)}, "
                                "or `evaluate:<module>` (evaluate modules).")
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
    @property
    def _examples(self) -> ExamplesSeenCallback:
        """The run's example counter (looked up: `restore_callback_states_from_checkpoint` replaces callbacks)."""
        counter = next((cb for cb in self.callback_handler.callbacks if isinstance(cb, ExamplesSeenCallback)), None)
        if counter is None:  # removed by the user: counting goes on in a new one
            counter = ExamplesSeenCallback()
            self.add_callback(counter)
        return counter

    @property
    def examples_seen(self) -> dict[str, int]:
        """Training examples drawn per task (all processes), kept by an ``ExportableState`` callback: saved in each
        checkpoint's ``trainer_state.json`` and restored by `train(resume_from_checkpoint=...)`."""
        return self._examples.counts

    @examples_seen.setter
    def examples_seen(self, counts: dict[str, int]) -> None:
        self._examples.counts = dict(counts)

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
        resume_from_checkpoint = resolve_resume(resume_from_checkpoint, self.args.output_dir, self.args)
        if resume_from_checkpoint is not None:
            self.examples_seen = read_examples_seen(resume_from_checkpoint)
        self._changed_loss_weights = None  # the arguments may have changed since the last train()
        return super().train(
            resume_from_checkpoint=resume_from_checkpoint, trial=trial, ignore_keys_for_eval=ignore_keys_for_eval,
            **kwargs,
        )

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """[`Trainer.save_model`]; for a checkpoint, also invalidates it until the save completes.

        The Trainer calls this first when it writes `checkpoint-N/` and writes `trainer_state.json` last. A stale
        `trainer_state.json` (from an earlier run that reached step N) is removed before anything is overwritten,
        so a kill during the save never leaves a folder that looks complete.
        """
        folder = output_dir if output_dir is not None else self.args.output_dir
        # `_internal_call` is part of save_model's signature: it is how the Trainer marks the save of a checkpoint.
        # No public hook runs before a checkpoint's weights are written (`on_save` runs after the whole save), and
        # a user's own save_model into a folder named checkpoint-N must not delete anything.
        checkpoint = _internal_call and self.args.should_save and is_checkpoint_folder(folder)
        if checkpoint:
            invalidate_checkpoint(folder)
        super().save_model(output_dir, _internal_call=_internal_call)

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

    # ------------------------------------------------------------------ training batches and their loss
    def get_batch_samples(self, epoch_iterator: Any, num_batches: int, device: torch.device) -> tuple[list, Any]:
        """[`Trainer.get_batch_samples`]; for a task group's batches, one label count per task (see [`group_num_items`])."""
        batch_samples, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        if batch_samples and isinstance(batch_samples[0].get("labels"), Mapping) and self.model_accepts_loss_kwargs:
            num_items_in_batch = group_num_items(batch_samples, device, self.args, self.accelerator)
        return batch_samples, num_items_in_batch

    def _loss_weights_to_pass(self) -> dict[str, float]:
        """``{task: run-time weight}`` of the tasks whose weight differs from their config's (resolved once per run)."""
        if self._changed_loss_weights is None:
            tasks = self.multitask_model.config.tasks
            self._changed_loss_weights = {name: weight for name in tasks
                                          if (weight := self.task_loss_weight(name)) != tasks[name]["loss_weight"]}
        return self._changed_loss_weights

    def _reported_loss_scale(self, num_items_in_batch: Any) -> float:
        """The factor `Trainer.training_step` applies to `compute_loss`'s loss before returning it (its
        gradient-accumulation division), so that `loss_<task>` adds up to the logged `loss`."""
        scaled = getattr(self, "loss_is_scaled_for_ga", None)
        if scaled is None:
            scaled = (self.model_accepts_loss_kwargs and num_items_in_batch is not None) or self.compute_loss_func is not None
        steps = getattr(self, "current_gradient_accumulation_steps", self.args.gradient_accumulation_steps)  # set by train
        return 1.0 if scaled else 1.0 / steps

    def compute_loss(
        self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        """[`Trainer.compute_loss`], with each task's run-time loss weight (see [`task_loss_weight`]); for a task
        group's batch (`task` a list), one weight per task. In training, each task's share of the loss is added to
        its `loss_<task>` sum (on the device: no sync) and the batch's examples to `examples_seen`."""
        task = inputs.get("task")
        names = [] if task is None else [task] if isinstance(task, str) else list(task)
        changed = self._loss_weights_to_pass() if names and "labels" in inputs else {}
        if any(name in changed for name in names):
            inputs = {**inputs, "loss_weight": changed[task] if isinstance(task, str) else
                      {name: changed[name] for name in names if name in changed}}
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        if model.training and names:
            reported = (loss.mean() if loss.dim() else loss).detach() * self._reported_loss_scale(num_items_in_batch)
            task_losses = outputs.get("task_losses") if isinstance(outputs, Mapping) else None
            if task_losses is not None:
                # each task's share of the loss as training_step returns it (scaled for accumulation and processes)
                raw = torch.stack([value.detach() for value in task_losses.values()]).sum()
                share = torch.where(raw != 0, reported / torch.where(raw != 0, raw, 1.0), 0.0)
                for name, value in task_losses.items():
                    self._task_losses.add(name, value * share)
            elif isinstance(task, str):
                self._task_losses.add(task, reported)
            batch_size = len(inputs["input_ids"]) if "input_ids" in inputs else 0
            self._examples.add(names, batch_size * self.args.world_size)
        return (loss, outputs) if return_outputs else loss

    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        """[`Trainer.create_optimizer`]; with `args.head_learning_rate_multiplier` != 1, the task heads' parameters get
        their own parameter groups (same weight decay split) whose learning rate is `learning_rate x multiplier`.

        The scheduler, created afterwards, scales every group's learning rate by the same factor, so the heads keep
        the ratio through warm-up and decay. An optimizer passed in `optimizers=(...)` is left as it is.
        """
        created = self.optimizer is None
        optimizer = super().create_optimizer(model)
        multiplier = float(getattr(self.args, "head_learning_rate_multiplier", 1.0))
        if not created or multiplier == 1.0:
            return optimizer
        heads = {id(p) for p in self.multitask_model.heads.parameters()}
        groups = []
        for group in optimizer.param_groups:
            encoder = [p for p in group["params"] if id(p) not in heads]
            head = [p for p in group["params"] if id(p) in heads]
            settings = {key: value for key, value in group.items() if key != "params"}
            groups += [{**settings, "params": encoder}] if encoder else []
            groups += [{**settings, "params": head, "lr": group["lr"] * multiplier}] if head else []
        optimizer.param_groups = []  # no step taken yet: the optimizer holds no state to move
        for group in groups:
            optimizer.add_param_group(group)
        return optimizer

    def floating_point_ops(self, inputs: dict[str, Any]) -> int:
        """[`Trainer.floating_point_ops`] (the `total_flos` of the trainer state): `6 x tokens x parameters`, the
        parameters being the encoder's (embeddings excluded, as transformers counts them) plus the heads of the
        batch's task(s), i.e. the ones the step actually runs, not every head of the model.

        The counts are taken once per model and head (the Trainer's own version walks every parameter and module
        on every step, a cost that grows with the number of heads).
        """
        main_input = getattr(self.multitask_model, "main_input_name", "input_ids")
        if main_input not in inputs:
            return 0
        model = self.multitask_model
        counts = self.__dict__.get("_parameter_counts")
        if counts is None or counts[0] is not model:
            heads = sum(p.numel() for p in model.heads.parameters())
            counts = self._parameter_counts = (model, model.num_parameters(exclude_embeddings=True) - heads, {})
        _, shared, per_head = counts
        task = inputs.get("task")
        names = list(model.heads) if task is None else [task] if isinstance(task, str) else list(task)
        for name in names:
            if name not in per_head:
                per_head[name] = sum(p.numel() for p in model.heads[name].parameters())
        return 6 * inputs[main_input].numel() * (shared + sum(per_head[name] for name in names))

    # ------------------------------------------------------------------ logging
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
            logs.update({loss_key(name): round(value, 4) for name, value in zip(names, values.tolist(), strict=True)})
        super().log(logs, start_time)

    # ------------------------------------------------------------------ helpers
    def model_config_task(self, task: str) -> dict[str, Any]:
        """The config entry of ``task`` in the (unwrapped) model."""
        return self.multitask_model.config.tasks[task]

    @property
    def multitask_model(self) -> MultiTaskModel:
        """The [`MultiTaskModel`] inside `self.model` (unwrapped from DDP / `torch.compile` / mixed-precision wrappers).

        Unwrapping walks every submodule (accelerate looks for compiled regions), which grows with the number of
        heads; the result is kept for as long as `self.model` is the same object, so the per-step and per-task
        lookups (config entries, heads) cost a dictionary access.
        """
        cached = self.__dict__.get("_unwrapped")
        if cached is None or cached[0] is not self.model:
            cached = self._unwrapped = (self.model, self.accelerator.unwrap_model(self.model))
        return cached[1]
