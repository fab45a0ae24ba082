"""Training arguments: transformers' ``TrainingArguments`` plus the settings multi-task training adds."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import TrainingArguments

from ..modeling.errors import TaskError
from ..modeling.task_kinds import check_loss_weight, task_problem
from .exposure import check_steps_per_task
from .sampling import SAMPLING_STRATEGIES, check_strategy, check_temperature

LOSS_SCALINGS: tuple[str, ...] = ("none", "log_labels")
"""Names of the per-task loss scalings (see :func:`loss_scale`)."""


def loss_scale(task: Mapping[str, Any], scaling: str) -> float:
    """The factor ``scaling`` puts on a task's loss (on top of its loss weight), from its config entry.

    - ``"none"``: 1.
    - ``"log_labels"``: ``1 / ln(C)`` for a task that picks one of ``C`` classes (per token or per text), as Muppet
      (Aghajanyan et al., 2021) did, so that every task's loss starts near 1 (cross-entropy over ``C`` classes
      starts near ``ln C``): 2 labels get ``1 / ln 2 ≈ 1.44``, 9 NER tags ``0.46``. A multi-label task's loss is a
      mean of per-label binary decisions, hence ``1 / ln 2``; a regression task (no classes) keeps 1.

    Example:
        ```python
        >>> round(loss_scale({"type": "token-classification", "id2label": dict(enumerate("abcdefghi"))}, "log_labels"), 3)
        0.455
        ```
    """
    if scaling == "none":
        return 1.0
    if scaling != "log_labels":
        raise TaskError(f"loss_scaling={scaling!r} is not a loss scaling; use one of {list(LOSS_SCALINGS)}.")
    classes = task_problem(task).num_loss_classes(len(task["id2label"]))
    return 1.0 / math.log(classes) if classes >= 2 else 1.0


@dataclass
class MultiTaskTrainingArguments(TrainingArguments):
    """[`TrainingArguments`] for [`MultiTaskTrainer`]; every stock argument works as usual.

    Training length: `max_steps` counts optimizer steps; `num_train_epochs` counts "epochs" of the sampled task
    stream, one epoch being as many batches as it takes to cover every task's training set once at proportional
    rates. Warm-up and the learning-rate schedule are sized from that (use `warmup_ratio` or `warmup_steps`).

    Example:
        ```python
        >>> args = MultiTaskTrainingArguments("out", sampling="temperature", sampling_temperature=2.0, max_steps=1000,
        ...                                   eval_strategy="steps", eval_steps=200, metric_for_best_model="average")
        ```
    """

    sampling: str = field(
        default="proportional",
        metadata={"help": f"How the next batch's task is drawn: one of {', '.join(SAMPLING_STRATEGIES)}."},
    )
    sampling_temperature: float = field(
        default=2.0, metadata={"help": "T for temperature sampling: p_i proportional to n_i^(1/T)."}
    )
    anneal_start: float = field(default=1.0, metadata={"help": "Annealed sampling: alpha at the start of training."})
    anneal_end: float = field(default=0.2, metadata={"help": "Annealed sampling: alpha at the end of training."})
    task_loss_weights: dict[str, float] | None = field(
        default=None, metadata={"help": "Per-task loss multipliers, e.g. {'ner': 1.0, 'sentiment': 0.5}."}
    )
    steps_per_task: int | None = field(
        default=None,
        metadata={"help": "Equal exposure: every task sees as many examples as a single-task model of this many "
                  "steps (implies sampling='uniform'; max_steps = steps_per_task x number of tasks)."},
    )
    loss_scaling: str = field(
        default="none",
        metadata={
            "help": "Scale each task's loss (times its weight): 'none', or 'log_labels' = 1/ln(number of labels) "
            "(Muppet); regression tasks keep 1, multi-label tasks get 1/ln 2."
        },
    )
    head_learning_rate_multiplier: float = field(
        default=1.0,
        metadata={
            "help": "Learning rate of the task heads = learning_rate x this (new heads often need a larger step than "
            "the pretrained encoder); the schedule scales both alike."
        },
    )
    length_grouping: bool = field(
        default=True,
        metadata={"help": "Within a task, batch examples of similar length together (less padding)."},
    )
    ddp_find_unused_parameters: bool | None = field(
        default=True,
        metadata={"help": "Each step trains one head, so the other heads are unused under DDP."},
    )
    per_device_eval_batch_size: int = field(
        default=32, metadata={"help": "Evaluation batch size per device (examples are length-sorted per task)."}
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "hf_mtl's collator keeps only model inputs; leave this off."}
    )
    dataloader_pin_memory: bool | None = field(
        default=None,
        metadata={"help": "Pin batches in page-locked memory for faster copies to an accelerator; default: when one "
                  "is available and use_cpu is off (pinning on a CPU-only machine only warns)."},
    )

    def __post_init__(self) -> None:
        if self.dataloader_pin_memory is None:
            accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6; before it, CUDA is the accelerator
            available = accelerator.is_available() if accelerator is not None else torch.cuda.is_available()
            self.dataloader_pin_memory = not self.use_cpu and available
        super().__post_init__()
        check_strategy(self.sampling)
        if self.steps_per_task is not None:
            check_steps_per_task(self)
        check_temperature(self.sampling_temperature)
        if self.loss_scaling not in LOSS_SCALINGS:
            raise TaskError(f"loss_scaling={self.loss_scaling!r} is not a loss scaling; use one of {list(LOSS_SCALINGS)}.")
        multiplier = self.head_learning_rate_multiplier
        if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)) or not 0 < multiplier < math.inf:
            raise TaskError(f"head_learning_rate_multiplier must be a finite number > 0, got {multiplier!r}.")
        for name, weight in (self.task_loss_weights or {}).items():
            check_loss_weight(weight, f"task_loss_weights['{name}']", TaskError)
