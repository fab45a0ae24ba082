"""Tokenized task datasets as the trainer's DataLoaders see them: examples that carry their task name.

- :class:`TaskDataset`: one task's dataset; each example gets ``"task": <name>`` (what the collator and the
  model need).
- :class:`MultiTaskDataset`: every task's training set in one global index space, resolved through the same
  :class:`~hf_mtl.training.sampling.TaskIndex` as the :class:`~hf_mtl.training.sampling.MultiTaskBatchSampler` that draws from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch.utils.data import Dataset

from ..modeling.errors import DataError, HfMtlError, TaskError
from .sampling import MultiTaskBatchSampler, TaskIndex

__all__ = ["MultiTaskDataset", "TaskDataset", "check_task_datasets", "split_by_task"]


def check_task_datasets(
    datasets: Any, task_names: Sequence[str], argument: str, groups: Mapping[str, list[str]] | None = None,
    self_labelled: Sequence[str] = (),
) -> None:
    """Check ``{task or group: tokenized dataset}`` against a model's tasks, before any training or evaluation.

    A task group's dataset (``groups``: ``{group: [tasks]}``) carries one ``labels_<task>`` column per task. Tasks in
    ``self_labelled`` (masked-lm training text, masked by the collator) need no ``labels``.

    Raises:
        TaskError: not a dict, or a task (or group) the model lacks.
        DataError: an empty dataset, or one without tokenized ``input_ids`` and its label column(s).
    """
    if datasets is None:
        return
    groups = groups or {}
    if not isinstance(datasets, Mapping):
        raise TaskError(
            f"{argument} must be a dict {{task name: dataset}} (tasks: {list(task_names)}), "
            f"got {type(datasets).__name__}."
        )
    unknown = [name for name in datasets if name not in task_names and name not in groups]
    if unknown:
        raise TaskError(
            f"{argument} has task(s) {unknown} that the model lacks; the model has tasks {list(task_names)}"
            + (f" and groups {list(groups)}" if groups else "") + ". Add them with model.add_task(...) or fix the names."
        )
    for name, dataset in datasets.items():
        if len(dataset) == 0:
            raise DataError(f"{argument}['{name}'] is empty: task '{name}' has no examples to train or evaluate on.")
        columns = getattr(dataset, "column_names", None)
        needed = ([f"labels_{task}" for task in groups[name]] if name in groups
                  else [] if name in self_labelled else ["labels"])
        if columns is not None and ("input_ids" not in columns or any(c not in columns for c in needed)):
            raise DataError(
                f"{argument}['{name}'] has columns {columns}; it needs tokenized 'input_ids' and "
                f"{', '.join(repr(c) for c in needed)} (use hf_mtl.data.prepare_task / prepare_group)."
            )


def split_by_task(dataset: Any, task: str | None, task_names: Sequence[str], argument: str) -> dict[str, Any]:
    """``{task: dataset}`` from one dataset, as ``Trainer.evaluate``/``predict`` take it.

    The task comes from ``task`` if given, else from the dataset's ``task`` column (a column naming several tasks
    is split into one dataset per task, rows in their order), else from the model when it has a single task.
    A dict is returned as it is (``task`` must then be ``None``).

    Raises:
        TaskError: the task cannot be told, or ``task`` disagrees with the ``task`` column.
    """
    if isinstance(dataset, Mapping):
        if task is not None:
            raise TaskError(f"task={task!r} goes with a single dataset; {argument} is already a dict {{task: dataset}}.")
        return dict(dataset)
    column = list(dataset["task"]) if "task" in (getattr(dataset, "column_names", None) or []) else None
    if column is not None:
        named = list(dict.fromkeys(column))
        if task is not None and named != [task]:
            raise TaskError(f"task={task!r}, but the 'task' column of {argument} names {named}.")
        if len(named) > 1:
            return {name: dataset.select([i for i, value in enumerate(column) if value == name]) for name in named}
        task = named[0]
    if task is None:
        if len(task_names) != 1:
            raise TaskError(
                f"Cannot tell which task {argument} is for: pass task=<name>, a 'task' column or a dict "
                f"{{task: dataset}}; the model has tasks {list(task_names)}."
            )
        task = task_names[0]
    return {task: dataset}


class TaskDataset(Dataset):
    """One task's dataset whose examples carry their task name (what the collator and the model need)."""

    def __init__(self, task: str, dataset: Any) -> None:
        self.task = task
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def example_lengths(self) -> list[int]:
        """The token length of each example (its ``length`` column when it has one)."""
        if "length" in (getattr(self.dataset, "column_names", None) or []):
            return list(self.dataset["length"])
        return [len(ids) for ids in self.dataset["input_ids"]]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.dataset[int(index)], "task": self.task}

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        columns = self.dataset[[int(i) for i in indices]]
        return [{**{k: v[row] for k, v in columns.items()}, "task": self.task} for row in range(len(indices))]


class MultiTaskDataset(Dataset):
    """Every task's training set in one index space: task ``k``'s example ``j`` has index ``offset[k] + j``.

    Paired with a :class:`~hf_mtl.training.sampling.MultiTaskBatchSampler` over the same tasks (:meth:`pair`), each batch
    of indices belongs to one task and is fetched in one ``__getitems__`` call.

    **Epochs.** accelerate's prepared DataLoader calls ``dataset.set_epoch(epoch)`` at the start of every epoch
    whenever it cannot reach a ``set_epoch`` of the batch sampler itself, which is the case under DDP once the
    sampler is wrapped twice (``SkipBatchSampler(BatchSamplerShard(sampler))`` when a run resumes mid-epoch). This
    dataset forwards the epoch to its paired sampler, so the task/batch stream follows the Trainer's epoch in
    every layout.
    """

    def __init__(self, datasets: Mapping[str, Any]) -> None:
        self.tasks = {name: TaskDataset(name, dataset) for name, dataset in datasets.items()}
        self.index = TaskIndex({name: len(dataset) for name, dataset in self.tasks.items()})
        self.offsets: dict[str, int] = self.index.task_offsets
        self.sampler: MultiTaskBatchSampler | None = None

    def __len__(self) -> int:
        return len(self.index)

    def pair(self, sampler: MultiTaskBatchSampler) -> MultiTaskBatchSampler:
        """Draw from this dataset with ``sampler``: both then share one task index, and epochs reach the sampler.

        Raises:
            HfMtlError: the sampler's tasks or their sizes differ from the dataset's.
        """
        if sampler.index != self.index:
            raise HfMtlError(
                f"The batch sampler's tasks {sampler.index.task_sizes} differ from the dataset's "
                f"{self.index.task_sizes} (names, order and sizes must match)."
            )
        self.index = sampler.index
        self.offsets = self.index.task_offsets
        self.sampler = sampler
        return sampler

    def example_lengths(self) -> dict[str, list[int]]:
        """``{task: token length of each example}``, in the index's order (what the batch sampler takes)."""
        return {name: dataset.example_lengths() for name, dataset in self.tasks.items()}

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to the paired sampler (called by accelerate's DataLoader, see the class docstring)."""
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    def locate(self, index: int) -> tuple[str, int]:
        """``(task, index within the task)`` of a global index."""
        return self.index.locate(index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        task, local = self.locate(index)
        return self.tasks[task][local]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        task, _ = self.locate(indices[0])
        offset = self.offsets[task]
        return self.tasks[task].__getitems__([int(i) - offset for i in indices])
