"""The task-kind registry: what each kind of task is, in one place.

A *task kind* (``"token-classification"``, ``"text-classification"``) fixes, for every task of that kind: its
problem types, its head class, whether its label set can be an entity tag scheme, its default metric (and the
metric's main key) and the output kind of the ``multitask`` pipeline. Every other module asks this registry;
none decides on its own. A new kind is one :class:`TaskKind` entry in :data:`TASK_KINDS` plus its head class in
``heads.py``.

It also owns the label-scheme logic shared by the metrics (entity spans scored with seqeval) and the pipeline
(entity grouping): :func:`detect_label_scheme` and :func:`entity_spans`.

Part of the *modeling core*: imports only the standard library, so ``save_pretrained`` copies it next to the
weights (it is imported, relatively, by ``configuration_multitask.py`` and ``heads.py``) and
``AutoModel.from_pretrained(folder, trust_remote_code=True)`` works where hf_mtl is not installed.

Example:

```python
>>> from hf_mtl.modeling.task_kinds import default_metric, detect_label_scheme, output_kind
>>> ner = {"type": "token-classification", "id2label": {0: "O", 1: "B-PER", 2: "I-PER"}}
>>> default_metric(ner), output_kind(ner), detect_label_scheme(ner["id2label"].values()).name
('seqeval', 'entities', 'IOB2')
>>> pos = {"type": "token-classification", "id2label": {0: "NOUN", 1: "VERB"}}
>>> default_metric(pos), output_kind(pos)
('token_accuracy', 'word_tags')

```
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ENTITIES",
    "IGNORE_INDEX",
    "METRIC_MAIN_KEYS",
    "MULTI_LABEL",
    "OUTPUT_KINDS",
    "PROBLEM_TYPES",
    "REGRESSION",
    "SINGLE_LABEL",
    "TASK_KINDS",
    "TASK_TYPES",
    "TEXT_CLASSIFICATION",
    "TOKEN_CLASSIFICATION",
    "WORD_TAGS",
    "LabelScheme",
    "TaskKind",
    "check_loss_weight",
    "default_metric",
    "detect_label_scheme",
    "entity_spans",
    "main_metric_key",
    "output_kind",
    "task_kind",
]

IGNORE_INDEX = -100
"""Label id of positions that are not scored (special tokens, non-first sub-words, padding); the loss skips it."""

TOKEN_CLASSIFICATION = "token-classification"
TEXT_CLASSIFICATION = "text-classification"

SINGLE_LABEL_CLASSIFICATION = "single_label_classification"
MULTI_LABEL_CLASSIFICATION = "multi_label_classification"
REGRESSION_PROBLEM = "regression"

# Output kinds of the `multitask` pipeline, one per task.
ENTITIES = "entities"
WORD_TAGS = "word_tags"
SINGLE_LABEL = "single_label"
MULTI_LABEL = "multi_label"
REGRESSION = "regression"
OUTPUT_KINDS = (ENTITIES, WORD_TAGS, SINGLE_LABEL, MULTI_LABEL, REGRESSION)

METRIC_MAIN_KEYS: dict[str, str] = {
    "seqeval": "f1",
    "token_accuracy": "accuracy",
    "accuracy": "accuracy",
    "f1": "f1",
    "multilabel": "f1_micro",
    "regression": "pearson",
}
"""Every metric name, and the key of its result that summarizes a task (averaged into ``eval_average``)."""


# ---------------------------------------------------------------------------------------------------------------
# label schemes
# ---------------------------------------------------------------------------------------------------------------

OUTSIDE = "O"
_SEPARATORS = ("-", "_")
# prefix letters each scheme allows; a label set is named by the first scheme whose letters hold all its
# prefixes, except that a set of I- tags alone (no B-) is IOB1
SCHEME_PREFIXES: dict[str, frozenset[str]] = {"IOB2": frozenset("BI"), "IOB1": frozenset("BI"),
                                              "IOBES": frozenset("BIES"), "BILOU": frozenset("BILU")}
# how a prefix reads: BILOU is IOBES with other letters (L = last = E, U = unit = S)
_READING = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}


@dataclass(frozen=True)
class LabelScheme:
    """An entity tagging scheme: which prefixes it uses, how a prefix is joined to the type, and on which side.

    Args:
        name (`str`): ``"IOB1"`` (only ``I-``), ``"IOB2"`` (``B-``/``I-``), ``"IOBES"`` (also ``E-``/``S-``) or
            ``"BILOU"`` (``B-``/``I-``/``L-``/``U-``). A label *set* cannot tell IOB1 from IOB2 data when both
            ``B-`` and ``I-`` occur; both are read the same way (see :func:`entity_spans`).
        separator (`str`): ``"-"`` (``B-PER``) or ``"_"`` (``B_PER``).
        prefix_first (`bool`): ``True`` for ``B-PER``, ``False`` for suffix tags (``PER-B``).

    Example:

    ```python
    >>> scheme = LabelScheme("IOB2", separator="-", prefix_first=False)
    >>> scheme.parse("PER-B"), scheme.canonical("PER-B"), scheme.canonical("O")
    (('B', 'PER'), 'B-PER', 'O')

    ```
    """

    name: str
    separator: str = "-"
    prefix_first: bool = True

    def parse(self, tag: str) -> tuple[str, str]:
        """``(prefix, entity type)`` of a tag: ``("B", "PER")``; ``("O", "")`` for the outside tag.

        Raises:
            `ValueError`: A tag that does not follow this scheme.
        """
        parsed = _parse(tag, self.separator, self.prefix_first)
        if parsed is None or (parsed[0] != OUTSIDE and parsed[0] not in self.prefixes):
            raise ValueError(f"Tag {tag!r} does not follow the {self.description} scheme.")
        return parsed

    def canonical(self, tag: str) -> str:
        """The tag in the form seqeval reads by default (prefix first, ``-``): ``PER-B`` / ``B_PER`` -> ``B-PER``.

        BILOU tags are written with their IOBES letters (``L-PER`` -> ``E-PER``, ``U-PER`` -> ``S-PER``): the same
        chunks, in the letters seqeval's default reading knows.
        """
        prefix, entity_type = self.parse(tag)
        return OUTSIDE if prefix == OUTSIDE else f"{_READING[prefix]}-{entity_type}"

    @property
    def prefixes(self) -> frozenset[str]:
        """The prefix letters this scheme allows (``O`` aside)."""
        return SCHEME_PREFIXES[self.name]

    @property
    def description(self) -> str:
        """A human-readable name: ``"IOB2"``, ``"IOB2 (B_PER)"``, ``"IOBES (PER-B)"``."""
        if self.separator == "-" and self.prefix_first:
            return self.name
        example = f"B{self.separator}PER" if self.prefix_first else f"PER{self.separator}B"
        return f"{self.name} ({example})"


def _parse(tag: str, separator: str, prefix_first: bool) -> tuple[str, str] | None:
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if len(tag) < 3:
        return None
    if prefix_first:
        prefix, sep, entity_type = tag[0], tag[1], tag[2:]
    else:
        prefix, sep, entity_type = tag[-1], tag[-2], tag[:-2]
    if sep != separator or prefix not in _READING or not entity_type.strip():
        return None
    return prefix, entity_type


def detect_label_scheme(labels: Iterable[str]) -> LabelScheme | None:
    """The entity tagging scheme of a label set, or ``None`` when it is not one (POS tags, classes).

    A label set is an entity scheme when every label is ``O`` or a prefix letter joined to a type by one
    separator (``-`` or ``_``, the same for all), the prefix on the same side in all (``B-PER`` or ``PER-B``),
    at least one label is not ``O``, and the prefixes fit one scheme (``B I`` -> IOB2, ``I`` alone -> IOB1,
    ``B I E S`` -> IOBES, ``B I L U`` -> BILOU). ``None`` means: scored as token accuracy, output per word.

    Example:

    ```python
    >>> detect_label_scheme(["O", "B_PER", "I_PER"])
    LabelScheme(name='IOB2', separator='_', prefix_first=True)
    >>> detect_label_scheme(["O", "U-LOC", "B-LOC", "L-LOC"]).name
    'BILOU'
    >>> detect_label_scheme(["NOUN", "VERB", "O"]) is None
    True

    ```
    """
    labels = [str(label) for label in labels]
    if not any(label != OUTSIDE for label in labels):
        return None
    for prefix_first in (True, False):
        for separator in _SEPARATORS:
            parsed = [_parse(label, separator, prefix_first) for label in labels]
            if any(item is None for item in parsed):
                continue
            prefixes = {prefix for prefix, _ in parsed if prefix != OUTSIDE}  # type: ignore[misc]
            if prefixes == {"I"}:
                return LabelScheme("IOB1", separator=separator, prefix_first=prefix_first)
            for name, allowed in SCHEME_PREFIXES.items():
                if prefixes <= allowed:
                    return LabelScheme(name, separator=separator, prefix_first=prefix_first)
    return None


def entity_spans(tags: Sequence[str], scheme: LabelScheme) -> list[tuple[str, int, int]]:
    """The entities of one tag sequence: ``(type, start, end)`` over tag positions, ``end`` exclusive.

    The reading is CoNLL's ``conlleval`` (seqeval's default mode), which is right for IOB1, IOB2, IOBES and BILOU
    alike: an entity starts at ``B``/``S`` (``U``), at an ``I``/``E`` (``L``) that does not continue an open
    entity of the same type, and ends after ``E``/``S`` (``L``/``U``), before ``O``, ``B``/``S`` or a change of
    type. The metrics score exactly these spans (a test pins them to seqeval's) and the pipeline groups words
    into them.

    Example:

    ```python
    >>> entity_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"], LabelScheme("IOB2"))
    [('PER', 0, 2), ('LOC', 3, 4), ('LOC', 4, 5)]

    ```
    """
    spans: list[tuple[str, int, int]] = []
    open_type: str | None = None  # type of the entity being read, None outside one
    open_start = 0
    closed = True  # the previous tag ended its entity (E/S) or there is none
    for position, tag in enumerate(tags):
        prefix, entity_type = scheme.parse(tag)
        reading = _READING.get(prefix, OUTSIDE)
        continues = (
            open_type is not None and not closed and entity_type == open_type and reading in ("I", "E")
        )
        if not continues:
            if open_type is not None:
                spans.append((open_type, open_start, position))
            open_type, open_start = (None, position) if reading == OUTSIDE else (entity_type, position)
        closed = reading in ("E", "S", OUTSIDE)
    if open_type is not None:
        spans.append((open_type, open_start, len(tags)))
    return spans


# ---------------------------------------------------------------------------------------------------------------
# task kinds
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskKind:
    """One kind of task: everything hf_mtl decides from a task's ``type``.

    Args:
        type_name (`str`): The ``type`` of a task entry (``"token-classification"``).
        problem_types (`tuple[str, ...]`): The problem types it accepts; the first is the default.
        head_class_name (`str`): The class in ``heads.py`` that serves it (see :attr:`head_class`).
        per_token (`bool`): Labels are per word (token tasks): an entity tag set changes the metric and output.
        metrics (`dict[str, str]`): Default metric per problem type.
        outputs (`dict[str, str]`): Pipeline output kind per problem type.
        entity_metric / entity_output (`str`, *optional*): ``per_token`` kinds: metric and output kind of a task
            whose labels are an entity scheme (see :func:`detect_label_scheme`).
        stores_problem_type (`bool`): Whether the task entry of a config keeps its ``problem_type``.
    """

    type_name: str
    problem_types: tuple[str, ...]
    head_class_name: str
    per_token: bool = False
    metrics: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    entity_metric: str | None = None
    entity_output: str | None = None
    stores_problem_type: bool = True

    @property
    def head_class(self) -> type:
        """The head class (``heads.py`` imports this module, so the class is looked up on first use)."""
        from . import heads

        return getattr(heads, self.head_class_name)

    def check_problem_type(self, problem_type: str | None) -> str:
        """``problem_type`` (``None``: the default) if this kind accepts it, else ``ValueError``."""
        if problem_type is None:
            return self.problem_types[0]
        if problem_type not in self.problem_types:
            if len(self.problem_types) == 1:
                raise ValueError(
                    f"{self.type_name} tasks are {self.problem_types[0]} only; problem_type {problem_type!r} is "
                    "not supported for them."
                )
            raise ValueError(
                f"problem_type {problem_type!r} does not exist for {self.type_name} tasks; expected one of "
                f"{list(self.problem_types)}."
            )
        return problem_type


TASK_KINDS: dict[str, TaskKind] = {
    kind.type_name: kind
    for kind in (
        TaskKind(
            type_name=TOKEN_CLASSIFICATION,
            problem_types=(SINGLE_LABEL_CLASSIFICATION,),
            head_class_name="TokenClassificationHead",
            per_token=True,
            metrics={SINGLE_LABEL_CLASSIFICATION: "token_accuracy"},
            outputs={SINGLE_LABEL_CLASSIFICATION: WORD_TAGS},
            entity_metric="seqeval",
            entity_output=ENTITIES,
            stores_problem_type=False,
        ),
        TaskKind(
            type_name=TEXT_CLASSIFICATION,
            problem_types=(SINGLE_LABEL_CLASSIFICATION, MULTI_LABEL_CLASSIFICATION, REGRESSION_PROBLEM),
            head_class_name="SequenceClassificationHead",
            metrics={SINGLE_LABEL_CLASSIFICATION: "accuracy", MULTI_LABEL_CLASSIFICATION: "multilabel",
                     REGRESSION_PROBLEM: "regression"},
            outputs={SINGLE_LABEL_CLASSIFICATION: SINGLE_LABEL, MULTI_LABEL_CLASSIFICATION: MULTI_LABEL,
                     REGRESSION_PROBLEM: REGRESSION},
        ),
    )
}
"""Every task kind, keyed by its type name."""

TASK_TYPES: tuple[str, ...] = tuple(TASK_KINDS)
PROBLEM_TYPES: tuple[str, ...] = tuple(dict.fromkeys(p for kind in TASK_KINDS.values() for p in kind.problem_types))


def task_kind(type_name: Any) -> TaskKind:
    """The registered kind of a task ``type``; ``ValueError`` naming the known types otherwise.

    Example:

    ```python
    >>> task_kind("text-classification").problem_types[0]
    'single_label_classification'

    ```
    """
    kind = TASK_KINDS.get(type_name) if isinstance(type_name, str) else None
    if kind is None:
        raise ValueError(f"type {type_name!r} does not exist; expected one of {list(TASK_TYPES)}.")
    return kind


def _labels_of(task: Mapping[str, Any]) -> list[str] | None:
    labels = task.get("id2label")
    if labels is None:
        labels = task.get("labels")
    if labels is None:
        return None
    if isinstance(labels, Mapping):
        return [str(labels[key]) for key in sorted(labels, key=int)]
    return [str(label) for label in labels]


def _task_reading(task: Mapping[str, Any]) -> tuple[TaskKind, str, bool]:
    """The kind, problem type and whether the labels are entity tags (unknown labels count as entity tags)."""
    kind = task_kind(task.get("type"))
    problem_type = kind.check_problem_type(task.get("problem_type"))
    if not kind.per_token:
        return kind, problem_type, False
    labels = _labels_of(task)
    return kind, problem_type, labels is None or detect_label_scheme(labels) is not None


def default_metric(task: Mapping[str, Any]) -> str:
    """The metric of a task when none is given, from its entry (``type``, ``problem_type``, ``id2label``/``labels``).

    Token tasks: ``"seqeval"`` when the labels are an entity scheme (:func:`detect_label_scheme`; also when the
    labels are not known yet), else ``"token_accuracy"``. Text tasks: ``"accuracy"``, ``"multilabel"`` or
    ``"regression"`` by problem type.

    Example:

    ```python
    >>> default_metric({"type": "text-classification", "problem_type": "regression"})
    'regression'

    ```
    """
    kind, problem_type, entities = _task_reading(task)
    return kind.entity_metric if entities and kind.entity_metric else kind.metrics[problem_type]


def output_kind(task: Mapping[str, Any]) -> str:
    """The pipeline's output kind for a task entry: one of :data:`OUTPUT_KINDS`.

    Token tasks are ``"entities"`` exactly when their default metric is ``"seqeval"`` (same label test).

    Example:

    ```python
    >>> output_kind({"type": "token-classification", "id2label": {0: "O", 1: "U-PER", 2: "B-PER", 3: "L-PER"}})
    'entities'

    ```
    """
    kind, problem_type, entities = _task_reading(task)
    return kind.entity_output if entities and kind.entity_output else kind.outputs[problem_type]


def main_metric_key(metric: str) -> str:
    """The key of a metric's result that summarizes the task (``seqeval`` -> ``"f1"``); ``ValueError`` if unknown."""
    if metric not in METRIC_MAIN_KEYS:
        raise ValueError(f"Unknown metric {metric!r}; valid metrics are {', '.join(METRIC_MAIN_KEYS)}.")
    return METRIC_MAIN_KEYS[metric]


def check_loss_weight(weight: Any, where: str, error: type[Exception] = ValueError) -> float:
    """The one rule for a task's loss weight: a finite number >= 0 (0 keeps the task evaluated but not trained).

    Args:
        weight: The value given.
        where (`str`): What it belongs to, for the message (``"task 'ner'"``).
        error: The exception class to raise (callers outside the modeling core pass their ``HfMtlError``).

    Example:

    ```python
    >>> check_loss_weight(2, "task 'ner'")
    2.0

    ```
    """
    valid = isinstance(weight, (int, float)) and not isinstance(weight, bool) and math.isfinite(weight) and weight >= 0
    if not valid:
        raise error(f"{where}: `loss_weight` must be a finite number >= 0, not {weight!r}")
    return float(weight)
