"""Datasets objects given in Python (``TaskSpec(train=dataset)``): pick the split, read a stream into memory.

A ``Dataset`` is used as it is; a ``DatasetDict`` gives the split ``DataSource.split`` (default: the task split).
An ``IterableDataset`` (a stream, e.g. ``load_dataset(..., streaming=True)``) is read into memory once, then
checked, tokenized and cached like any other split. How much of it is read:

- ``rows: "start:stop"`` with a non-negative stop: the first ``stop`` examples (then the slice is kept);
- else ``max_train_examples`` (train) / ``max_eval_examples`` (validation, test): that many examples;
- else, when its length is known (``info.splits`` records the split's size): the whole stream;
- else nothing: a :class:`~hf_mtl.modeling.errors.TaskError` asks for one of the bounds above, before anything is read
  (a stream of unknown length may never end).

Example:

```python
>>> import datasets
>>> from hf_mtl.data.tasks import TaskSpec
>>> stream = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]}).to_iterable_dataset()
>>> spec = TaskSpec(name="s", type="text-classification", train=stream, validation=stream, max_train_examples=2)
>>> read_dataset_object(spec.train, spec, "train").dataset.num_rows
2
```
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

import datasets

from ..modeling.errors import DataError, TaskError
from .sources import DataSource, datasets_kind
from .tasks import TaskSpec

logger = logging.getLogger("hf_mtl")

__all__ = ["StreamRead", "known_length", "read_dataset_object"]


@dataclass
class StreamRead:
    """A split taken from a datasets object, and a note on what was read (streams only)."""

    dataset: datasets.Dataset
    note: str | None = None


def known_length(stream: datasets.IterableDataset) -> int | None:
    """The number of examples ``stream`` holds when its ``info.splits`` records it, else ``None``."""
    splits = getattr(stream.info, "splits", None) or {}
    split = str(stream.split) if stream.split is not None else None
    if split in splits and splits[split].num_examples:
        return int(splits[split].num_examples)
    return None


def _read_limit(source: DataSource, spec: TaskSpec, split: str, stream: datasets.IterableDataset,
                where: str) -> tuple[int | None, str]:
    rows = source.row_slice()
    if rows is not None and rows.stop is not None and rows.stop >= 0 and (rows.start or 0) >= 0:
        return rows.stop, f"`rows: {source.rows}`"
    cap = spec.max_train_examples if split == "train" else spec.max_eval_examples
    if cap is not None and rows is None:
        return cap, f"`max_{'train' if split == 'train' else 'eval'}_examples: {cap}`"
    length = known_length(stream)
    if length is not None:
        return None, f"its length ({length:,} examples, from info.splits)"
    key = "max_train_examples" if split == "train" else "max_eval_examples"
    raise TaskError(
        f"{where}: a stream (IterableDataset) of unknown length cannot be read to its end; bound it with "
        f"`{key}: N` on the task or `rows: '0:N'` on the source (for S steps of batch size B, "
        "N = S x B covers a task drawn at every step)"
    )


def read_dataset_object(source: DataSource, spec: TaskSpec, split: str) -> StreamRead:
    """The ``datasets.Dataset`` one split of ``spec`` reads from the datasets object in ``source``.

    Args:
        source: An in-memory source (``source.format == "dataset"``).
        spec: The task (its caps bound a stream).
        split: The task split (the default split of a ``DatasetDict``; names the split in errors).

    Raises:
        DataError: the dict lacks the split, or the stream yields no example or fails while read.
        TaskError: a stream of unknown length with no bound.
    """
    where = f"task {spec.name!r}, {split} split ({source.describe()})"
    value: Any = source.dataset
    if datasets_kind(value) in ("DatasetDict", "IterableDatasetDict"):
        wanted = source.split or split
        if wanted not in value:
            raise DataError(f"{where}: no split {wanted!r}; it has {', '.join(map(str, value))}")
        value = value[wanted]
    if isinstance(value, datasets.Dataset):
        return StreamRead(value.with_format(None))  # columns as Python lists, whatever set_format chose
    value = value.with_format(None)
    limit, why = _read_limit(source, spec, split, value, where)
    try:
        records = list(itertools.islice(iter(value), limit))
    except Exception as err:
        raise DataError(f"{where}: reading the stream failed: {type(err).__name__}: {err}") from None
    if not records:
        raise DataError(f"{where}: the stream yielded no example")
    features = value.features
    try:
        dataset = datasets.Dataset.from_list(records, features=features) if features else datasets.Dataset.from_list(records)
    except Exception as err:
        raise DataError(f"{where}: the stream's examples do not fit one table: {type(err).__name__}: {err}") from None
    note = f"read {len(records):,} examples from the stream (bounded by {why})"
    logger.info("task %r, %s split: %s", spec.name, split, note)
    return StreamRead(dataset, note)
