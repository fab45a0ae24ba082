"""Plain text for tasks that make their own labels (``masked-lm``): reading it, tokenizing it, masking evaluation text.

A raw-text task (a kind with ``raw_text``) reads:

- a ``.txt`` file (or any source of format ``conll``): one text (a document or a sentence) per line; empty lines are
  skipped and counted;
- a CoNLL-U file: each sentence's words joined by spaces (its annotations are not read);
- a table (csv, tsv, json, jsonl, parquet, a Hub or saved dataset, a ``datasets`` object): its ``text_column`` (a
  list of columns is joined with a space), any other column ignored.

Its raw split has one column, ``text``. Tokenized splits hold the model inputs and ``length``; texts longer than
``max_length`` tokens are truncated and reported as for any text task. The training split has no labels: the
collator masks each batch (:mod:`hf_mtl.data.collator`). Validation and test are masked once here, from a generator
seeded ``split_seed``, and keep ``labels`` (the original ids of the masked tokens, -100 elsewhere): every evaluation
scores the same masks, and perplexities of runs on the same data compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from ..modeling.errors import DataError
from .alignment import TruncationReport, tokenize_text_group
from .collator import check_mask_token, mask_examples
from .conll import read_conllu_split
from .raw import RawSplit, add_note, brief, read_text_file, split_lines
from .sources import DataSource
from .tasks import TaskSpec

__all__ = ["read_raw_text", "tokenize_raw_text"]


def _read_lines(source: DataSource) -> RawSplit:
    lines = split_lines(read_text_file(source.path, source.encoding))  # type: ignore[arg-type]
    texts, numbers = [], []
    for number, line in enumerate(lines, 1):
        if line.strip():
            texts.append(line.strip())
            numbers.append(number)
    notes: list[str] = []
    skipped = len(lines) - len(texts)
    add_note(notes, source.path, f"read {len(texts)} texts (one per line)"
             + (f", skipped {skipped} empty lines" if skipped else ""))
    return RawSplit(datasets.Dataset.from_dict({"text": texts}), None, notes, numbers)


def _text_of(ds: datasets.Dataset, spec: TaskSpec, where: str) -> list[str]:
    columns = spec.text_column if isinstance(spec.text_column, list) else [spec.text_column]
    missing = [column for column in columns if column not in ds.column_names]
    if missing:
        raise DataError(f"{where}: no column {missing[0]!r} (the text of a {spec.type} task, `text_column`); the "
                        f"source has {ds.column_names}")
    values = [ds[column][:] for column in columns]
    texts = []
    for row in range(ds.num_rows):
        parts = [value[row] for value in values]
        for column, part in zip(columns, parts, strict=True):
            if part is not None and (not isinstance(part, (str, int, float)) or isinstance(part, bool)):
                raise DataError(f"{where}, row {row + 1}: column {column!r} holds {type(part).__name__} "
                                f"({brief(part)}); expected text")
        texts.append(" ".join(str(part) for part in parts if part is not None).strip())
    return texts


def read_raw_text(source: DataSource, spec: TaskSpec, split: str, read_table: Any) -> RawSplit:
    """The texts of one split of a raw-text task (see the module docstring for what each format gives).

    Args:
        source: Where the split comes from.
        spec: The task.
        split: The split's name (for messages and the default Hub / saved split).
        read_table: ``(source, split) -> (dataset, file lines or None)``: how the readers read a table source.

    Raises:
        DataError: a missing file or column, a cell that is not text, no text at all.
    """
    where = f"task {spec.name!r}, {split} split ({source.describe()})"
    if source.format == "conll":
        result = _read_lines(source)
    elif source.format == "conllu":
        sentences = read_conllu_split(source.path, "upos", source.encoding, allow_missing=True)  # type: ignore[arg-type]
        texts = [" ".join(words) for words in sentences.dataset["words"][:]]
        result = RawSplit(datasets.Dataset.from_dict({"text": texts}), None, sentences.notes[:1], sentences.lines)
    else:
        ds, lines = read_table(source, split)
        texts = _text_of(ds, spec, where)
        keep = [row for row, text in enumerate(texts) if text]
        notes: list[str] = []
        add_note(notes, source.path or source.name or source.describe(), f"read {len(keep)} texts from "
                 f"{spec.text_column!r}" + (f", skipped {len(texts) - len(keep)} empty" if len(keep) < len(texts) else ""))
        result = RawSplit(datasets.Dataset.from_dict({"text": [texts[row] for row in keep]}), None, notes,
                          [lines[row] for row in keep] if lines is not None else None)
    if result.dataset.num_rows == 0:
        raise DataError(f"{where}: no text found (every line or cell is empty)")
    return result


def tokenize_raw_text(raw: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, spec: TaskSpec, split: str,
                      cache_dir: str | Path | None = None) -> tuple[datasets.Dataset, TruncationReport]:
    """Tokenize a raw-text split (cached as text tasks are); validation and test are then masked once, seeded.

    Raises:
        TaskError: the tokenizer has no mask token (before anything is tokenized).
    """
    check_mask_token(tokenizer, spec.name)
    out, report = tokenize_text_group(raw.select_columns(["text"]), tokenizer, {}, {}, spec.max_length, group=spec.name,
                                      split=split, cache_dir=cache_dir)
    if split == "train":
        return out, report
    masked, labels = mask_examples(tokenizer, out["input_ids"][:], seed=spec.split_seed)
    out = out.remove_columns("input_ids").add_column("input_ids", masked).add_column("labels", labels)
    return out, report
