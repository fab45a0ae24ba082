"""Equal exposure: a joint model whose every task sees as many examples as that task's single-task model would.

`steps_per_task: S` in a recipe's ``training`` section (a [`MultiTaskTrainingArguments`] field) draws tasks
uniformly and trains ``S x number of tasks`` optimizer steps, so each of K tasks gets S steps of
``per_device_train_batch_size x gradient_accumulation_steps x processes`` examples on average: the exposure of a
single-task model trained for S steps with the same arguments (what `hf-mtl compare --single-steps S` trains).
"""

from __future__ import annotations

import logging
from typing import Any

from ..modeling.errors import TaskError

logger = logging.getLogger("hf_mtl")

EQUAL_EXPOSURE_SAMPLING = "uniform"


def check_steps_per_task(args: Any) -> None:
    """Validate ``steps_per_task`` of training arguments and select uniform sampling for it.

    Sampling left at its default (``proportional``) becomes ``uniform``; a temperature or annealed strategy, or an
    explicit ``max_steps``, contradicts equal exposure and is a :class:`TaskError`.
    """
    steps = args.steps_per_task
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise TaskError(f"steps_per_task must be a positive integer (optimizer steps per task), got {steps!r}.")
    if args.max_steps > 0:
        raise TaskError(
            f"steps_per_task={steps} sets max_steps (steps_per_task x number of tasks); remove max_steps={args.max_steps}."
        )
    if args.sampling not in ("proportional", EQUAL_EXPOSURE_SAMPLING):
        raise TaskError(
            f"steps_per_task (equal exposure) draws tasks uniformly, but sampling={args.sampling!r}; "
            "remove `sampling` or set it to 'uniform'."
        )
    args.sampling = EQUAL_EXPOSURE_SAMPLING


def examples_per_step(args: Any) -> int:
    """Training examples in one optimizer step: batch size x gradient accumulation x processes."""
    return args.per_device_train_batch_size * args.gradient_accumulation_steps * max(1, args.world_size)


def apply_equal_exposure(args: Any, tasks: list[str]) -> int | None:
    """Set ``args.max_steps`` from ``args.steps_per_task`` for ``tasks`` and log the exposure each task gets.

    Returns the number of examples each task sees on average, or ``None`` when ``steps_per_task`` is not set.

    Example:
        >>> apply_equal_exposure(args, ["ner", "pos", "sentiment", "topic"])  # steps_per_task=750, batch 32
        24000
    """
    steps = getattr(args, "steps_per_task", None)
    if steps is None:
        return None
    args.max_steps = steps * len(tasks)
    batch = examples_per_step(args)
    logger.info(
        "equal exposure: each task will see %s examples (on average, uniform sampling), as a single-task model "
        "of %s steps x %s; max_steps = %s (%s steps x %s tasks)",
        f"{steps * batch:,}", f"{steps:,}", batch, f"{args.max_steps:,}", f"{steps:,}", len(tasks),
    )
    return steps * batch


__all__ = ["apply_equal_exposure", "check_steps_per_task", "examples_per_step"]
