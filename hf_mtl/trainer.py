"""``MultiTaskTrainer``: transformers' Trainer, taught that batches belong to tasks.

What it adds, all through the Trainer's public hooks:

- ``get_train_dataloader``: a real ``DataLoader`` over every task's training set, whose batches come from a
  seeded :class:`~hf_mtl.sampling.MultiTaskBatchSampler` (one task per batch, and per optimizer step);
  ``accelerator.prepare`` shards it under ``accelerate launch``/DDP so every process takes the same task on
  the same step, on disjoint examples.
- ``training_step``/``log``: per-task training loss (``loss_<task>``) beside the total, through the normal
  ``log`` path (progress bar, ``report_to`` integrations, ``trainer_state.json``).
- ``evaluate``: each task on its own eval set, metrics as ``eval_<task>_<metric>``, plus ``eval_average`` (the
  mean of each task's main metric), usable as ``metric_for_best_model="average"`` and by early stopping.
- ``save_model``/``train``: crash-safe checkpoints. transformers (5.x) writes ``checkpoint-N/`` in place, with
  ``trainer_state.json`` last; hf_mtl treats that file as the checkpoint's commit record (it removes a stale one
  before saving into an existing folder), and ``train(resume_from_checkpoint=True)`` resumes from the newest
  checkpoint that :func:`checkpoint_problem` finds complete, skipping any that a kill left half-written. The
  per-task example counts are saved in the checkpoint and restored on resume.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from transformers import EvalPrediction, Trainer
from transformers.trainer import OPTIMIZER_NAME, SCHEDULER_NAME, TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, speed_metrics
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_NAME

from .configuration_multitask import TOKEN_CLASSIFICATION
from .data import IGNORE_INDEX, DataCollatorForMultiTask
from .errors import DataError, HfMtlError, TaskError
from .metrics import METRIC_NAMES, compute_task_metrics, main_metric_key
from .modeling_multitask import MultiTaskModel
from .sampling import MultiTaskBatchSampler
from .tasks import looks_like_iob
from .training_args import MultiTaskTrainingArguments

logger = logging.getLogger("hf_mtl")


def default_metric(task: Mapping[str, Any]) -> str:
    """The metric hf_mtl uses for a task entry of a ``MultiTaskConfig`` when none is given.

    Token tasks whose labels look like IOB/IOBES tags (``B-PER``) get ``seqeval``; other token tasks (POS) get
    ``token_accuracy``. Text tasks get ``accuracy``, ``multilabel`` or ``regression`` by problem type.
    """
    if task["type"] == TOKEN_CLASSIFICATION:
        return "seqeval" if looks_like_iob(list(task["id2label"].values())) else "token_accuracy"
    return {"multi_label_classification": "multilabel", "regression": "regression"}.get(task["problem_type"], "accuracy")


EXAMPLES_SEEN_FILE = "examples_seen.json"
_CHECKPOINT_NAME = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def _safetensors_problem(path: Path) -> str | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as weights:
            weights.keys()
    except Exception as error:  # safetensors raises SafetensorError (and OSError) for truncated or garbled files
        return f"{path.name} is not a readable safetensors file ({error})"
    return None


def checkpoint_problem(
    folder: str | os.PathLike, require_weights: bool = True, require_optimizer: bool = True
) -> str | None:
    """Why ``folder`` is not a complete Trainer checkpoint, or ``None`` when resuming from it can work.

    A checkpoint is complete when its commit record ``trainer_state.json`` (written last) is valid JSON whose
    ``global_step`` matches the folder name, its weights are safetensors whose header covers the whole file (a
    ``pytorch_model.bin`` pickle is refused), and ``optimizer.pt``/``scheduler.pt`` exist.

    Args:
        folder: a ``checkpoint-N`` folder.
        require_weights: check the weights (off for DeepSpeed/FSDP checkpoints, which store them their own way).
        require_optimizer: check the optimizer and scheduler files (off for ``save_only_model`` checkpoints).

    Example:
        ```python
        >>> checkpoint_problem("out/checkpoint-6")  # a run killed while saving step 6
        'trainer_state.json is missing (the save did not finish)'
        ```
    """
    folder = Path(folder)
    if not folder.is_dir():
        return "it is not a folder"
    state_file = folder / TRAINER_STATE_NAME
    if not state_file.is_file():
        return f"{TRAINER_STATE_NAME} is missing (the save did not finish)"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"{TRAINER_STATE_NAME} is not valid JSON ({error}; the save did not finish)"
    step = state.get("global_step") if isinstance(state, dict) else None
    if not isinstance(step, int):
        return f"{TRAINER_STATE_NAME} has no integer `global_step`"
    named = _CHECKPOINT_NAME.match(folder.name)
    if named and int(named.group(1)) != step:
        return f"{TRAINER_STATE_NAME} records step {step}, not {named.group(1)}"
    if require_weights:
        index_file = folder / SAFE_WEIGHTS_INDEX_NAME
        if (folder / SAFE_WEIGHTS_NAME).is_file():
            problem = _safetensors_problem(folder / SAFE_WEIGHTS_NAME)
            if problem:
                return problem
        elif index_file.is_file():
            try:
                shards = sorted(set(json.loads(index_file.read_text(encoding="utf-8"))["weight_map"].values()))
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
                return f"{SAFE_WEIGHTS_INDEX_NAME} is not a valid weight index ({error})"
            for shard in shards:
                problem = _safetensors_problem(folder / shard) if (folder / shard).is_file() else f"{shard} is missing"
                if problem:
                    return problem
        elif (folder / WEIGHTS_NAME).is_file():
            return f"its weights are a pickle ({WEIGHTS_NAME}); hf_mtl loads safetensors only"
        else:
            return f"{SAFE_WEIGHTS_NAME} is missing"
    if require_optimizer:
        for name in (OPTIMIZER_NAME, SCHEDULER_NAME):
            if not (folder / name).is_file():
                return f"{name} is missing"
    return None


def last_complete_checkpoint(
    output_dir: str | os.PathLike, require_weights: bool = True, require_optimizer: bool = True
) -> str | None:
    """The newest ``checkpoint-N`` folder of ``output_dir`` that :func:`checkpoint_problem` finds complete.

    Newer, incomplete checkpoints (a run killed while saving) are skipped with a warning that says why. Returns
    ``None`` when there is no complete checkpoint.

    Example:
        ```python
        >>> last_complete_checkpoint("out")  # checkpoint-6 was half-written when the run was killed
        'out/checkpoint-4'
        ```
    """
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    numbered = [(int(m.group(1)), path) for path in folder.iterdir() if (m := _CHECKPOINT_NAME.match(path.name))]
    for _, path in sorted(numbered, reverse=True):
        problem = checkpoint_problem(path, require_weights, require_optimizer)
        if problem is None:
            return str(path)
        logger.warning("Skipping incomplete checkpoint %s: %s.", path, problem)
    return None


def _example_lengths(dataset: Any) -> list[int]:
    if hasattr(dataset, "column_names") and "length" in dataset.column_names:
        return list(dataset["length"])
    return [len(ids) for ids in dataset["input_ids"]]


class TaskDataset(Dataset):
    """One task's dataset whose examples carry their task name (what the collator and the model need)."""

    def __init__(self, task: str, dataset: Any) -> None:
        self.task = task
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.dataset[int(index)], "task": self.task}

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        columns = self.dataset[[int(i) for i in indices]]
        return [{**{k: v[row] for k, v in columns.items()}, "task": self.task} for row in range(len(indices))]


class MultiTaskDataset(Dataset):
    """Every task's training set in one index space: task ``k``'s example ``j`` has index ``offset[k] + j``.

    Paired with :class:`~hf_mtl.sampling.MultiTaskBatchSampler` (which uses the same layout), each batch of
    indices belongs to one task and is fetched in one ``__getitems__`` call.
    """

    def __init__(self, datasets: Mapping[str, Any]) -> None:
        self.tasks = {name: TaskDataset(name, dataset) for name, dataset in datasets.items()}
        self.offsets: dict[str, int] = {}
        total = 0
        for name, dataset in self.tasks.items():
            self.offsets[name] = total
            total += len(dataset)
        self._length = total

    def __len__(self) -> int:
        return self._length

    def locate(self, index: int) -> tuple[str, int]:
        """``(task, index within the task)`` of a global index."""
        for name in reversed(self.offsets):
            if index >= self.offsets[name]:
                return name, index - self.offsets[name]
        raise IndexError(index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        task, local = self.locate(int(index))
        return self.tasks[task][local]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        task, _ = self.locate(int(indices[0]))
        offset = self.offsets[task]
        return self.tasks[task].__getitems__([int(i) - offset for i in indices])


class _TaskLossTracker:
    """Sums each task's training loss between two logging steps (micro-batch losses, already scaled by GA)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.micro_batches: dict[str, int] = {}

    def add(self, task: str, loss: torch.Tensor) -> None:
        self.sums[task] = self.sums.get(task, 0.0) + float(loss)
        self.micro_batches[task] = self.micro_batches.get(task, 0) + 1

    def pop_means(self, gradient_accumulation_steps: int) -> dict[str, float]:
        means = {
            task: total * gradient_accumulation_steps / self.micro_batches[task] for task, total in self.sums.items()
        }
        self.sums, self.micro_batches = {}, {}
        return means


def check_task_groups(model: MultiTaskModel, task_groups: Mapping[str, list[str]] | None) -> dict[str, list[str]]:
    """``{group: [task, ...]}`` checked against the model: known tasks, each in one group, groups not named like tasks."""
    groups: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for group, members in (task_groups or {}).items():
        members = [members] if isinstance(members, str) else list(members)
        if group in model.config.tasks:
            raise TaskError(f"task_groups: group '{group}' has the name of a task; give the group its own name.")
        unknown = [name for name in members if name not in model.config.tasks]
        if unknown or not members:
            raise TaskError(f"task_groups['{group}'] names task(s) {unknown or members} that the model lacks; "
                            f"the model has tasks {model.task_names}.")
        for name in members:
            if name in owner:
                raise TaskError(f"task '{name}' is in two task groups ('{owner[name]}' and '{group}').")
            owner[name] = group
        groups[group] = members
    return groups


def group_num_items(batch_samples: list[dict[str, Any]], device: torch.device, args: Any, accelerator: Any) -> dict[str, Any]:
    """``{task: labelled items}`` over the micro-batches of one optimizer step of a task group (summed over processes
    when ``average_tokens_across_devices``): each task's loss is then exact for its own labels."""
    counts: dict[str, Any] = {}
    for batch in batch_samples:
        for task, labels in batch["labels"].items():
            count = labels.ne(IGNORE_INDEX).sum()  # as the Trainer counts one task's labels
            counts[task] = counts[task] + count if task in counts else count
    if args.average_tokens_across_devices and args.world_size > 1:
        names = sorted(counts)
        totals = accelerator.gather(torch.stack([torch.as_tensor(counts[n], device=device) for n in names])
                                    .unsqueeze(0)).sum(dim=0)
        return dict(zip(names, totals, strict=True))
    return {task: torch.as_tensor(count, device=device) for task, count in counts.items()}


class MultiTaskTrainer(Trainer):
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
        kwargs: anything else [`Trainer`] takes (callbacks, optimizers, ...).

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
        if not isinstance(model, MultiTaskModel):
            raise TaskError(f"MultiTaskTrainer needs a MultiTaskModel, got {type(model).__name__}.")
        if args is None:
            args = MultiTaskTrainingArguments(output_dir="tmp_trainer")
        self.task_groups = check_task_groups(model, task_groups)
        self._check_task_datasets(model, train_dataset, "train_dataset", self.task_groups)
        self._check_task_datasets(model, eval_dataset, "eval_dataset")
        self.task_metrics = self._resolve_task_metrics(model, task_metrics)
        for task, weight in (getattr(args, "task_loss_weights", None) or {}).items():
            if task not in model.config.tasks:
                raise TaskError(f"task_loss_weights names task '{task}', but the model has tasks {model.task_names}.")
            model.config.tasks[task]["loss_weight"] = float(weight)
        if data_collator is None:
            if processing_class is None:
                raise TaskError("Pass processing_class=<tokenizer> (used to pad batches) or a data_collator.")
            task_types = {name: task["type"] for name, task in model.config.tasks.items()}
            data_collator = DataCollatorForMultiTask(processing_class, task_types=task_types, task_groups=self.task_groups)
        self.task_train_datasets = dict(train_dataset) if train_dataset is not None else None
        self._task_losses = _TaskLossTracker()
        self.examples_seen: dict[str, int] = {}
        self._eval_task: str | None = None
        self._group_losses: dict[str, torch.Tensor] | None = None
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
    def _check_task_datasets(
        model: MultiTaskModel, datasets: Any, argument: str, groups: Mapping[str, list[str]] | None = None
    ) -> None:
        if datasets is None:
            return
        groups = groups or {}
        if not isinstance(datasets, Mapping):
            raise TaskError(
                f"{argument} must be a dict {{task name: dataset}} (tasks: {model.task_names}), "
                f"got {type(datasets).__name__}."
            )
        unknown = [name for name in datasets if name not in model.config.tasks and name not in groups]
        if unknown:
            raise TaskError(
                f"{argument} has task(s) {unknown} that the model lacks; the model has tasks {model.task_names}"
                + (f" and groups {list(groups)}" if groups else "") + ". Add them with model.add_task(...) or fix the names."
            )
        for name, dataset in datasets.items():
            if len(dataset) == 0:
                raise DataError(f"{argument}['{name}'] is empty: task '{name}' has no examples to train or evaluate on.")
            columns = getattr(dataset, "column_names", None)
            needed = [f"labels_{task}" for task in groups[name]] if name in groups else ["labels"]
            if columns is not None and ("input_ids" not in columns or any(c not in columns for c in needed)):
                raise DataError(
                    f"{argument}['{name}'] has columns {columns}; it needs tokenized 'input_ids' and "
                    f"{', '.join(repr(c) for c in needed)} (use hf_mtl.data.prepare_task / prepare_group)."
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
    def _sampler_epochs(self, batches_per_epoch: int) -> int:
        if self.args.max_steps > 0:
            return max(1, math.ceil(self.args.max_steps * self.args.gradient_accumulation_steps / batches_per_epoch))
        return max(1, math.ceil(self.args.num_train_epochs))

    def get_train_sampler(self) -> MultiTaskBatchSampler:
        """The task/batch sampler for training, built from the arguments (seeded by `data_seed` or `seed`)."""
        args = self.args
        lengths = {name: _example_lengths(dataset) for name, dataset in self.task_train_datasets.items()}
        sampler_kwargs = {
            "strategy": getattr(args, "sampling", "proportional"),
            "temperature": getattr(args, "sampling_temperature", 2.0),
            "seed": args.data_seed if args.data_seed is not None else args.seed,
            "group_size": args.gradient_accumulation_steps * args.world_size,
            "length_grouping": getattr(args, "length_grouping", True),
            "anneal_start": getattr(args, "anneal_start", 1.0),
            "anneal_end": getattr(args, "anneal_end", 0.2),
        }
        probe = MultiTaskBatchSampler(lengths, self._train_batch_size, **sampler_kwargs)
        return MultiTaskBatchSampler(
            lengths, self._train_batch_size, total_epochs=self._sampler_epochs(len(probe)), **sampler_kwargs
        )

    def get_train_dataloader(self) -> DataLoader:
        """A real `DataLoader` whose batch sampler picks one task per batch; prepared by accelerate."""
        if self.train_dataset is None:
            raise TaskError("Training requires train_dataset={task: dataset}.")
        loader = DataLoader(
            self.train_dataset,
            batch_sampler=self.get_train_sampler(),
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
        checks = self._checkpoint_checks()
        if resume_from_checkpoint is True:
            found = last_complete_checkpoint(self.args.output_dir, **checks)
            if found is None:
                raise HfMtlError(
                    f"resume_from_checkpoint=True, but {self.args.output_dir} holds no complete checkpoint-N folder; "
                    "start without resume_from_checkpoint, or point it at a checkpoint folder."
                )
            resume_from_checkpoint = found
        elif resume_from_checkpoint is False:
            resume_from_checkpoint = None
        if resume_from_checkpoint is not None:
            problem = checkpoint_problem(resume_from_checkpoint, **checks)
            if problem:
                raise HfMtlError(f"Cannot resume from {resume_from_checkpoint}: {problem}.")
            counts_file = Path(resume_from_checkpoint) / EXAMPLES_SEEN_FILE
            if counts_file.is_file():
                self.examples_seen = {str(k): int(v) for k, v in json.loads(counts_file.read_text()).items()}
            else:
                logger.warning("%s has no %s: examples_seen counts from 0.", resume_from_checkpoint, EXAMPLES_SEEN_FILE)
                self.examples_seen = {}
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
        folder = Path(output_dir if output_dir is not None else self.args.output_dir)
        checkpoint = _internal_call and self.args.should_save and _CHECKPOINT_NAME.match(folder.name) is not None
        if checkpoint and (folder / TRAINER_STATE_NAME).exists():
            (folder / TRAINER_STATE_NAME).unlink()
        super().save_model(output_dir, _internal_call=_internal_call)
        if checkpoint:
            (folder / EXAMPLES_SEEN_FILE).write_text(json.dumps(self.examples_seen, sort_keys=True) + "\n")

    # ------------------------------------------------------------------ training step and logging
    def get_batch_samples(self, epoch_iterator: Any, num_batches: int, device: torch.device) -> tuple[list, Any]:
        """[`Trainer.get_batch_samples`]; for a task group's batches, one label count per task (see [`group_num_items`])."""
        batch_samples, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        if batch_samples and isinstance(batch_samples[0].get("labels"), Mapping) and self.model_accepts_loss_kwargs:
            num_items_in_batch = group_num_items(batch_samples, device, self.args, self.accelerator)
        return batch_samples, num_items_in_batch

    def compute_loss(
        self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        """[`Trainer.compute_loss`]; for a task group's batch, also keeps each task's loss for `loss_<task>`."""
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        task_losses = outputs.get("task_losses") if isinstance(outputs, Mapping) else None
        if task_losses is not None and model.training:
            self._group_losses = task_losses
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None) -> torch.Tensor:
        task = inputs.get("task")
        batch_size = len(inputs["input_ids"]) if "input_ids" in inputs else 0
        self._group_losses = None
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self._group_losses is not None:
            # each task's share of the loss as the Trainer returns it (scaled for accumulation and processes)
            raw = torch.stack(list(self._group_losses.values())).sum()
            share = torch.where(raw != 0, loss.detach() / torch.where(raw != 0, raw, 1.0), 0.0)
            for name, value in self._group_losses.items():
                self._task_losses.add(name, value * share)
        elif isinstance(task, str):
            self._task_losses.add(task, loss)
        for name in [task] if isinstance(task, str) else list(task or []):
            self.examples_seen[name] = self.examples_seen.get(name, 0) + batch_size * self.args.world_size
        return loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add `loss_<task>` (mean training loss per optimizer step of that task since the last log)."""
        if "loss" in logs and self._task_losses.sums:
            means = self._task_losses.pop_means(self.args.gradient_accumulation_steps)
            names = sorted(means)
            values = torch.tensor([means[name] for name in names], device=self.args.device)
            if self.args.world_size > 1:
                values = self.accelerator.reduce(values, reduction="mean")
            logs.update({f"loss_{name}": round(float(value), 4) for name, value in zip(names, values.tolist(), strict=True)})
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
