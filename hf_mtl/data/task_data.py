"""What data preparation gives per task (:class:`TaskData`) and the rules it shares: labels, carving, limits.

Used by :func:`hf_mtl.data.groups.prepare_group`, the one preparation path (:func:`hf_mtl.data.prepare.prepare_task`
is a group of one).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from ..modeling.errors import DataError, TaskError
from ..modeling.task_kinds import TOKENIZER_SPLITTING, WHITESPACE_SPLITTING
from .alignment import TruncationReport
from .conll import OPEN_LABEL_COLUMNS
from .tasks import TaskSpec

logger = logging.getLogger("hf_mtl")

__all__ = ["TaskData", "carve_and_limit", "choose_labels", "guess_word_splitting", "infer_labels",
           "target_statistics"]

# A word that raw text split at whitespace has and tokenized corpora (CoNLL, UD, SST) do not: an @mention or
# #hashtag, a contraction kept whole (`don't`, `it's`; not the clitics `n't`, `'s` or names like `O'Brien`), an
# underscore join, punctuation stuck to its end (`London,`, `wow!`) or an opening bracket or quote stuck to its start.
_JOINED_WORD = re.compile(r"^[@#(\[\"“]\w|[^\W\d_]{2,}'[^\W\d_]|\w_\w|\w[,!?;:)\]\"”]+$")
# Measured on the shared data: CoNLL-2003 train 0.006% of words, UD EWT train 0.07%, UNER EWT dev 0.14%, SST-2 0%;
# raw AG News text split at whitespace 6.4%.
WHITESPACE_SHARE = 0.01


def guess_word_splitting(sentences: Any) -> str | None:
    """How the words of a token task's training data were split: ``"whitespace"`` or ``"tokenizer"``.

    ``"whitespace"`` when at least 1% of the words are *punctuation-joined* the way text split only at whitespace
    is (``@sarah_k``, ``don't``, ``London,``); ``"tokenizer"`` otherwise (punctuation stands alone, as the
    tokenizer's pre-tokenizer cuts raw text: CoNLL, UD). ``None`` when there are no words to tell by.

    Example:

    ```python
    >>> guess_word_splitting([["@sarah_k", "don't", "go"], ["see", "you", "tonight!"]])
    'whitespace'
    >>> guess_word_splitting([["Ada", "lived", "in", "London", "."], ["They", "did", "n't", "."]])
    'tokenizer'

    ```
    """
    total = joined = 0
    for words in sentences:
        total += len(words)
        joined += sum(1 for word in words if _JOINED_WORD.search(word))
    if not total:
        return None
    return WHITESPACE_SPLITTING if joined >= WHITESPACE_SHARE * total else TOKENIZER_SPLITTING


@dataclass
class TaskData:
    """Everything prepared for one task.

    Attributes:
        spec: The task specification (as given).
        labels: Label names in id order (``[]`` for regression).
        raw: Raw splits (``train``, ``validation``, optional ``test``), labels as names.
        tokenized: Tokenized splits: ``input_ids``, ``attention_mask``, (``token_type_ids``), ``labels``, ``length``.
        truncation: Split -> :class:`TruncationReport`.
        notes: What was done along the way (carved validation split, skipped lines, ...).
        tokenizer: The tokenizer actually used (a copy with ``add_prefix_space=True`` for byte-level BPE
            tokenizers on token tasks; save that one with the model).
        shared: A task of a group (``spec.group``): the group's tokenized splits, every example with one
            ``labels_<task>`` column per task of the group (what the group trains on; see ``prepare_group``).
    """

    spec: TaskSpec
    labels: list[str]
    raw: datasets.DatasetDict
    tokenized: datasets.DatasetDict
    truncation: dict[str, TruncationReport]
    notes: list[str] = field(default_factory=list)
    tokenizer: PreTrainedTokenizerBase | None = field(default=None, repr=False)
    shared: datasets.DatasetDict | None = field(default=None, repr=False)
    _guessed_splitting: str | None = field(default="", init=False, repr=False, compare=False)

    @property
    def head_config(self) -> dict[str, Any]:
        """``spec.head_config(labels)``: the entry the model config stores for this task (a token task's
        ``word_splitting`` read from its training words when the spec sets none; with ``standardize: true``, the mean
        and standard deviation of the train targets, :func:`target_statistics`)."""
        return self.spec.head_config(self.labels, target_statistics(self) if self.spec.standardize else None,
                                     word_splitting=self.word_splitting)

    @property
    def word_splitting(self) -> str | None:
        """Token tasks: the spec's ``word_splitting``, else :func:`guess_word_splitting` of the train split's words
        (``None`` without a train split held in memory, or for text tasks)."""
        if not self.spec.is_token_task:
            return None
        if self.spec.word_splitting is not None:
            return self.spec.word_splitting
        if self._guessed_splitting == "":
            train = self.raw.get("train") if self.raw is not None else None
            words = train["words"] if isinstance(train, datasets.Dataset) and "words" in train.column_names else []
            self._guessed_splitting = guess_word_splitting(words) or None
        return self._guessed_splitting

    @property
    def metric(self) -> str:
        """The metric to report (``spec.metric`` or the task's default for these labels)."""
        return self.spec.resolved_metric(self.labels)

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}


def target_statistics(data: TaskData) -> dict[str, float]:
    """Mean and (population) standard deviation of a regression task's train targets, for ``standardize``.

    Raises:
        DataError: no train split, or every train target is the same value (nothing to scale by).
    """
    spec = data.spec
    if "train" not in data.raw:
        raise DataError(f"task {spec.name!r}: `standardize: true` fits the mean and deviation on train; give `train:`")
    values = [float(v) for v in data.raw["train"]["label"][:] if v is not None]
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    if not std > 0:
        raise DataError(f"task {spec.name!r}: every train target is {mean}; `standardize: true` has no spread to "
                        "scale by (remove it, or check the label column)")
    return {"mean": round(mean, 6), "std": round(std, 6)}


# --------------------------------------------------------------------------------------------- splits
def carve_and_limit(
    spec: TaskSpec, splits: dict[str, datasets.Dataset], declared: dict[str, list[str] | None], notes: list[str]
) -> tuple[datasets.DatasetDict, dict[str, list[str] | None], list[str]]:
    """Carve a test split (``test_fraction``) and a validation split (when none is given) from train, then keep
    the first ``max_*_examples``. Both fractions count the examples train had before either was carved; both
    cuts are seeded by ``split_seed``, so every run (and every task of a group) gets the same splits."""
    total = splits["train"].num_rows if "train" in splits else 0
    wanted = [("test", spec.test_fraction)] if spec.test_fraction is not None and "test" not in splits else []
    if "validation" not in splits and "train" in splits:
        wanted.append(("validation", spec.validation_fraction))
    for split, fraction in wanted:
        train = splits["train"]
        n_out = max(1, round(total * fraction))
        if train.num_rows - n_out < 1:
            raise DataError(
                f"task {spec.name!r}: no {split} split given and train has only {train.num_rows} example(s), "
                f"too few to carve one from; add `{split}:`"
            )
        parts = train.train_test_split(test_size=n_out, shuffle=True, seed=spec.split_seed)
        splits["train"], splits[split] = parts["train"], parts["test"]
        declared[split] = declared.get("train")
        given = "test_fraction" if split == "test" else "no validation split given: validation_fraction"
        note = (f"{given}={fraction}: carved {n_out} of {total} train examples as the {split} split "
                f"(split_seed={spec.split_seed}); {splits['train'].num_rows} remain for training")
        notes.append(note)
        logger.info("task %r: %s", spec.name, note)
    for split, limit in (("train", spec.max_train_examples), ("validation", spec.max_eval_examples),
                         ("test", spec.max_eval_examples)):
        if limit is not None and split in splits and splits[split].num_rows > limit:
            note = f"{split}: kept the first {limit} of {splits[split].num_rows} examples"
            splits[split] = splits[split].select(range(limit))
            notes.append(note)
            logger.info("task %r: %s", spec.name, note)
    return datasets.DatasetDict(splits), declared, notes


# --------------------------------------------------------------------------------------------- labels
def _sort_key(label: str) -> tuple[Any, ...]:
    return (0, float(label), label) if re.fullmatch(r"-?\d+(\.\d+)?", label) else (1, 0.0, label)


def _labels_in(ds: datasets.Dataset, spec: TaskSpec) -> dict[str, int]:
    """Label -> first row (1-based) it appears in."""
    seen: dict[str, int] = {}
    column = ds["tags"][:] if spec.is_token_task else ds["label"][:]  # [:]: a list, fast
    for row, value in enumerate(column, 1):
        if value is None:  # no labels for this task on this example (task groups)
            continue
        for label in value if isinstance(value, list) else [value]:
            seen.setdefault(label, row)
    return seen


def infer_labels(spec: TaskSpec, train: datasets.Dataset, declared: list[str] | None = None) -> list[str]:
    """The label list inferred from a raw train split.

    Order: the ClassLabel names (``declared``) when the source has them; else ``label_map``'s values in the
    order written; else sorted (numerically when every label is a number), with ``"O"`` first for token tasks.
    Labels found in train but missing from ``declared`` / ``label_map`` are appended, sorted.
    """
    found = list(_labels_in(train, spec))
    if declared:
        base = list(declared)
    elif spec.label_map:
        base = list(dict.fromkeys(spec.label_map.values()))
    else:
        base = []
    extra = [label for label in found if label not in base]
    numeric = all(re.fullmatch(r"-?\d+(\.\d+)?", label) for label in extra)
    extra.sort(key=_sort_key if numeric else None)
    labels = base + extra
    if spec.is_token_task and "O" in labels and not declared:
        labels.remove("O")
        labels.insert(0, "O")
    return labels


def _check_labels(spec: TaskSpec, raw: datasets.DatasetDict, labels: list[str], origin: str) -> None:
    known = set(labels)
    for split, ds in raw.items():
        for label, row in _labels_in(ds, spec).items():
            if label not in known:
                what = "sentence" if spec.is_token_task else "row"
                source = getattr(spec, split, None)  # the file, where the split has one (not a carved validation)
                raise DataError(
                    f"task {spec.name!r}, {split} split{f' ({source.describe()})' if source is not None else ''}: "
                    f"label {label!r} (first in {what} {row}) is not in the "
                    f"label list {origin}: {labels}. Fix the data, or add it to `labels:`"
                )


def _open_label_set(spec: TaskSpec) -> bool:
    """Whether the task reads an open set of labels (a CoNLL-U FEATS, LEMMA or DEPREL column)."""
    return any(getattr(getattr(spec, split), "tag_column", None) in OPEN_LABEL_COLUMNS
               for split in ("train", "validation", "test") if getattr(spec, split) is not None)


def choose_labels(spec: TaskSpec, raw: datasets.DatasetDict, declared: dict[str, list[str] | None],
                  labels: list[str] | None = None) -> list[str]:
    """A task's label list: ``labels`` (forced), else ``spec.labels``, else inferred from train; checked on every split."""
    if spec.is_regression:
        if labels:
            raise TaskError(f"task {spec.name!r}: a regression task has no labels, got {labels}")
        return []
    if labels is not None:
        final = [str(label) for label in labels]
        _check_labels(spec, raw, final, "given (e.g. from the model's config)")
    elif spec.labels is not None:
        final = list(spec.labels)
        _check_labels(spec, raw, final, "of the task's `labels:`")
    else:
        if "train" not in raw:
            raise TaskError(f"task {spec.name!r}: without a train split the labels cannot be inferred; give `labels:`")
        final = infer_labels(spec, raw["train"], declared.get("train"))
        if _open_label_set(spec):  # FEATS, lemma rules, relations: evaluation may hold values train lacks
            unseen = sorted({label for split, ds in raw.items() if split != "train" for label in _labels_in(ds, spec)}
                            - set(final))
            if unseen:
                logger.info("task %r: %d labels occur only outside train (e.g. %r); the head has an output for each, "
                            "never trained, so they count as errors", spec.name, len(unseen), unseen[0])
                final = final + unseen
        _check_labels(spec, raw, final, "inferred from train")
    if not final:
        raise DataError(f"task {spec.name!r}: no labels found")
    return final
