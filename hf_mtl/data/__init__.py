"""Data for multi-task training: read each task's splits, check them, tokenize and align labels, collate.

Public entry points:

```python
from hf_mtl.data import load_task_splits, prepare_task, TaskData, DataCollatorForMultiTask
raw = load_task_splits(spec)          # DatasetDict of raw splits: "train", "validation", optional "test"
td = prepare_task(spec, tokenizer)    # reads, validates, infers labels, tokenizes (a group of one)
group = prepare_group("conll", [pos_spec, ner_spec], tokenizer)  # several tasks labelling the same examples
```
"""

from .alignment import (
    IGNORE_INDEX,
    TruncationReport,
    tokenize_text_group,
    tokenize_text_task,
    tokenize_token_group,
    tokenize_token_task,
)
from .collator import DataCollatorForMultiTask
from .groups import GroupData, prepare_group
from .prepare import load_task_splits, prepare_task
from .readers import RawSplit, read_conll, read_conllu, read_split, read_table
from .task_data import TaskData, infer_labels
from .tokenizer_setup import ensure_pad_token, needs_prefix_space, prepare_tokenizer

__all__ = [
    "IGNORE_INDEX",
    "DataCollatorForMultiTask",
    "GroupData",
    "RawSplit",
    "TaskData",
    "TruncationReport",
    "ensure_pad_token",
    "infer_labels",
    "load_task_splits",
    "needs_prefix_space",
    "prepare_group",
    "prepare_task",
    "prepare_tokenizer",
    "read_conll",
    "read_conllu",
    "read_split",
    "read_table",
    "tokenize_text_group",
    "tokenize_text_task",
    "tokenize_token_group",
    "tokenize_token_task",
]
