"""The task-kind registry: what each kind of task is, in one place.

A *task kind* (``"token-classification"``, ``"text-classification"``) fixes, for every task of that kind: its
problem types, whether its labels are per token, whether its label set can be an entity tag scheme, its export class
and, per problem type (a :class:`Problem` record), its default metric, the output kind of the ``multitask``
pipeline, the label values (class ids or floats), how the loss counts items, the classes for loss scaling and the
fixed label names (regression: ``"value"``). Every other module asks this registry; none decides on its own. A new
kind is one :class:`TaskKind` entry in :data:`TASK_KINDS` plus its head class in ``heads.py``, registered there
for the kind with ``@register_head(kind name)``.

It also serves the label-scheme logic shared by the metrics (entity spans scored with seqeval) and the pipeline
(entity grouping): :func:`detect_label_scheme` and :func:`entity_spans`, defined in ``label_schemes.py``.

Part of the *modeling core*: imports only the standard library and ``label_schemes.py``, so ``save_pretrained`` copies it next to the
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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .label_schemes import OUTSIDE, SCHEME_PREFIXES, LabelScheme, detect_label_scheme, entity_spans

__all__ = [
    "ENTITIES",
    "IGNORE_INDEX",
    "METRIC_MAIN_KEYS",
    "MULTI_LABEL",
    "MULTI_LABEL_CLASSIFICATION",
    "OUTSIDE",
    "OUTPUT_KINDS",
    "PROBLEM_TYPES",
    "REGRESSION",
    "REGRESSION_PROBLEM",
    "SCHEME_PREFIXES",
    "SINGLE_LABEL",
    "SINGLE_LABEL_CLASSIFICATION",
    "TASK_KINDS",
    "TASK_TYPES",
    "TEXT_CLASSIFICATION",
    "TOKEN_CLASSIFICATION",
    "TOKENIZER_SPLITTING",
    "WHITESPACE_SPLITTING",
    "WORD_OUTPUTS",
    "WORD_SPLITTINGS",
    "WORD_TAGS",
    "DEPENDENCIES",
    "DEPENDENCY_PARSING",
    "LEMMAS",
    "LEMMATIZATION",
    "MASKED_LM",
    "MASKED_TOKENS",
    "LabelScheme",
    "Problem",
    "TaskKind",
    "auxiliary_tasks",
    "check_loss_weight",
    "default_metric",
    "detect_label_scheme",
    "entity_spans",
    "output_kind",
    "sequence_problem",
    "task_kind",
    "task_problem",
    "takes_text_pair",
    "word_splitting",
]

WHITESPACE_SPLITTING = "whitespace"
TOKENIZER_SPLITTING = "tokenizer"
WORD_SPLITTINGS = (TOKENIZER_SPLITTING, WHITESPACE_SPLITTING)
"""How the pipeline cuts raw text into the words of token tasks: at the tokenizer's pre-tokenizer (whitespace and
punctuation: ``@sarah_k`` -> ``@``, ``sarah``, ``_``, ``k``) or at whitespace only (``@sarah_k`` stays one word)."""

IGNORE_INDEX = -100
"""Label id of positions that are not scored (special tokens, non-first sub-words, padding); the loss skips it."""

TOKEN_CLASSIFICATION = "token-classification"
TEXT_CLASSIFICATION = "text-classification"
DEPENDENCY_PARSING = "dependency-parsing"
LEMMATIZATION = "lemmatization"
MASKED_LM = "masked-lm"

SINGLE_LABEL_CLASSIFICATION = "single_label_classification"
MULTI_LABEL_CLASSIFICATION = "multi_label_classification"
REGRESSION_PROBLEM = "regression"

# Output kinds of the `multitask` pipeline, one per task.
ENTITIES = "entities"
WORD_TAGS = "word_tags"
SINGLE_LABEL = "single_label"
MULTI_LABEL = "multi_label"
REGRESSION = "regression"
DEPENDENCIES = "dependencies"
LEMMAS = "lemmas"
MASKED_TOKENS = "masked_tokens"
"""A masked-lm task's output: none by default (the pipeline skips the task; see ``TaskKind.auxiliary``)."""
OUTPUT_KINDS = (ENTITIES, WORD_TAGS, SINGLE_LABEL, MULTI_LABEL, REGRESSION, DEPENDENCIES, LEMMAS, MASKED_TOKENS)
WORD_OUTPUTS = (ENTITIES, WORD_TAGS, DEPENDENCIES, LEMMAS)
"""Output kinds read per word (the others per text)."""

METRIC_MAIN_KEYS: dict[str, str] = {
    "seqeval": "f1",
    "token_accuracy": "accuracy",
    "accuracy": "accuracy",
    "f1": "f1",
    "multilabel": "f1_micro",
    "regression": "pearson",
    "attachment": "las",
    "perplexity": "perplexity",
}
"""Every metric name, and the key of its result that summarizes a task (averaged into ``eval_average``)."""
EVALUATE_METRIC_PREFIX = "evaluate:"
"""A metric ``evaluate:<module>[,<module>...][#<main key>]`` is computed by ``evaluate`` modules
(``hf_mtl.metrics.evaluate_modules``), not by one of :data:`METRIC_MAIN_KEYS`."""


# ---------------------------------------------------------------------------------------------------------------
# task kinds
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What a problem type decides for the tasks of one kind: scoring, output, label values and loss counting.

    Args:
        metric (`str`): Default metric.
        output (`str`): Output kind of the ``multitask`` pipeline (one of :data:`OUTPUT_KINDS`).
        class_ids (`bool`): Labels are integer class ids, ``-100`` where an item has none; else float values
            (multi-hot vectors, regression targets).
        multi_hot (`bool`): Each example holds a set of label names, given to the model as a multi-hot vector.
        loss_classes (`int`, *optional*): How many classes the loss picks from, for loss scaling: ``None`` one per
            label, ``2`` binary decisions (multi-label), ``0`` none (regression).
        fixed_labels (`tuple[str, ...]`, *optional*): The label names every such task has (regression: one output
            ``"value"``); ``None`` when the task gives its own.
        min_labels (`int`): The fewest labels a task may have.
    """

    metric: str
    output: str
    class_ids: bool = True
    multi_hot: bool = False
    loss_classes: int | None = None
    fixed_labels: tuple[str, ...] | None = None
    min_labels: int = 1

    def count_items(self, labels: Any) -> Any:
        """The number of labelled items the loss averages over: ids other than ``-100``, or every value.

        Works on tensors (a 0-d tensor, no host read) and arrays alike.
        """
        return (labels != IGNORE_INDEX).sum() if self.class_ids else labels.numel()

    def num_loss_classes(self, num_labels: int) -> int:
        """The number of classes of a task with ``num_labels`` labels, for loss scaling (0: not a choice of classes)."""
        return num_labels if self.loss_classes is None else self.loss_classes


@dataclass(frozen=True)
class TaskKind:
    """One kind of task: everything hf_mtl decides from a task's ``type`` (its head is registered in ``heads.py``).

    Args:
        type_name (`str`): The ``type`` of a task entry (``"token-classification"``).
        problems (`dict[str, Problem]`): The problem types it accepts, the first the default, and what each decides.
        per_token (`bool`): Labels are per token (padded with ``-100`` to the sequence); an entity tag set changes
            the metric and output.
        pooled (`bool`): The head pools the first token through a dense layer and the encoder family's pooler
            activation (text heads): it can start from a pretrained pooler and has a ``pooler_activation`` setting.
        export_class (`str`, *optional*): The transformers ``AutoModelFor*`` class a task of this kind exports to
            (``None``: transformers has none, so ``export_task`` refuses it).
        entity_metric / entity_output (`str`, *optional*): ``per_token`` kinds: metric and output kind of a task
            whose labels are an entity scheme (see :func:`detect_label_scheme`).
        stores_problem_type (`bool`): Whether the task entry of a config keeps its ``problem_type``.
        decoders (`tuple[str, ...]`): How its per-token predictions may be decoded, the first the default
            (``"softmax"``: each token on its own; ``"crf"``: a linear-chain CRF over the words, see ``crf.py``);
            empty for kinds that have no such choice.
        conllu_columns (`tuple[str, ...]`): ``per_token`` kinds: the CoNLL-U columns their labels may come from, the
            first the default (``upos``; ``lemma`` gives edit rules; ``deprel`` also reads HEAD).
        arcs (`bool`): Each word's label is a (head, relation) pair, packed ``head * num_labels + relation`` (the
            data keeps the heads in a ``heads`` column).
        raw_text (`bool`): The task reads plain text and makes its own labels per token (masked-lm: the collator
            masks each training batch; evaluation splits are masked once, seeded). It has no label set: its one
            fixed label names the encoder's vocabulary.
        auxiliary (`bool`): The task trains the shared encoder for the other tasks (masked-lm): its main metric is
            left out of ``eval_average`` (perplexity: lower is better), the ``multitask`` pipeline skips it and
            ``export``/``push`` drop its head unless asked.
    """

    type_name: str
    problems: Mapping[str, Problem]
    export_class: str | None
    per_token: bool = False
    pooled: bool = False
    entity_metric: str | None = None
    entity_output: str | None = None
    stores_problem_type: bool = True
    decoders: tuple[str, ...] = ()
    conllu_columns: tuple[str, ...] = ("upos", "xpos", "feats")
    arcs: bool = False
    raw_text: bool = False
    auxiliary: bool = False

    @property
    def problem_types(self) -> tuple[str, ...]:
        """The problem types it accepts; the first is the default."""
        return tuple(self.problems)

    @property
    def metrics(self) -> dict[str, str]:
        """Default metric per problem type."""
        return {name: problem.metric for name, problem in self.problems.items()}

    @property
    def outputs(self) -> dict[str, str]:
        """Pipeline output kind per problem type."""
        return {name: problem.output for name, problem in self.problems.items()}

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

    def check_decoder(self, decoder: Any) -> str | None:
        """``decoder`` if this kind offers it (``None``: the default), else ``ValueError`` naming the choices."""
        if decoder is None or (self.decoders and decoder == self.decoders[0]):
            return None
        if decoder not in self.decoders:
            if not self.decoders:
                raise ValueError(f"`decoder` is for tasks labelled per token; {self.type_name} tasks have none "
                                 f"(got {decoder!r}).")
            raise ValueError(f"decoder {decoder!r} does not exist for {self.type_name} tasks; expected one of "
                             f"{list(self.decoders)}.")
        return decoder

    def problem(self, problem_type: str | None = None) -> Problem:
        """The record of ``problem_type`` (``None``: the default); ``ValueError`` if this kind does not accept it."""
        return self.problems[self.check_problem_type(problem_type)]


_SINGLE_TEXT = Problem(metric="accuracy", output=SINGLE_LABEL, min_labels=2)
_MULTI_TEXT = Problem(metric="multilabel", output=MULTI_LABEL, class_ids=False, multi_hot=True, loss_classes=2)
_REGRESSION = Problem(metric="regression", output=REGRESSION, class_ids=False, loss_classes=0, fixed_labels=("value",))

TASK_KINDS: dict[str, TaskKind] = {
    kind.type_name: kind
    for kind in (
        TaskKind(
            type_name=TOKEN_CLASSIFICATION,
            problems={SINGLE_LABEL_CLASSIFICATION: Problem(metric="token_accuracy", output=WORD_TAGS)},
            export_class="AutoModelForTokenClassification",
            per_token=True,
            entity_metric="seqeval",
            entity_output=ENTITIES,
            stores_problem_type=False,
            decoders=("softmax", "crf"),
        ),
        TaskKind(
            type_name=TEXT_CLASSIFICATION,
            problems={SINGLE_LABEL_CLASSIFICATION: _SINGLE_TEXT, MULTI_LABEL_CLASSIFICATION: _MULTI_TEXT,
                      REGRESSION_PROBLEM: _REGRESSION},
            export_class="AutoModelForSequenceClassification",
            pooled=True,
        ),
        TaskKind(
            type_name=DEPENDENCY_PARSING,
            problems={SINGLE_LABEL_CLASSIFICATION: Problem(metric="attachment", output=DEPENDENCIES)},
            export_class=None,
            per_token=True,
            stores_problem_type=False,
            conllu_columns=("deprel",),
            arcs=True,
        ),
        TaskKind(
            type_name=LEMMATIZATION,
            problems={SINGLE_LABEL_CLASSIFICATION: Problem(metric="token_accuracy", output=LEMMAS)},
            export_class="AutoModelForTokenClassification",
            per_token=True,
            stores_problem_type=False,
            conllu_columns=("lemma",),
        ),
        TaskKind(
            type_name=MASKED_LM,
            problems={SINGLE_LABEL_CLASSIFICATION: Problem(metric="perplexity", output=MASKED_TOKENS,
                                                           fixed_labels=("vocabulary",))},
            export_class=None,
            stores_problem_type=False,
            conllu_columns=(),
            raw_text=True,
            auxiliary=True,
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


def task_problem(task: Mapping[str, Any]) -> Problem:
    """The :class:`Problem` record of a task entry (its ``type`` and ``problem_type``, the kind's default if unset).

    Example:

    ```python
    >>> task_problem({"type": "text-classification", "problem_type": "regression"}).fixed_labels
    ('value',)
    >>> task_problem({"type": "token-classification"}).class_ids
    True

    ```
    """
    return task_kind(task.get("type")).problem(task.get("problem_type"))


def sequence_problem(problem_type: str) -> Problem:
    """The record of ``problem_type`` for tasks labelled per example (not per token): what text data preparation reads.

    Example:

    ```python
    >>> sequence_problem("multi_label_classification").multi_hot
    True

    ```
    """
    for kind in TASK_KINDS.values():
        if not kind.per_token and problem_type in kind.problems:
            return kind.problems[problem_type]
    raise ValueError(f"problem_type {problem_type!r} does not exist for tasks labelled per example; expected one of "
                     f"{[name for kind in TASK_KINDS.values() if not kind.per_token for name in kind.problems]}.")


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


def auxiliary_tasks(tasks: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The tasks of a config's ``tasks`` whose kind is ``auxiliary`` (masked-lm): what export and push drop unless
    asked.

    Example:

    ```python
    >>> auxiliary_tasks({"ner": {"type": "token-classification"}, "mlm": {"type": "masked-lm"}})
    ['mlm']

    ```
    """
    return [name for name, task in tasks.items() if task_kind(task.get("type")).auxiliary]


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


def takes_text_pair(task: Mapping[str, Any]) -> bool:
    """Whether a task entry was trained on sentence pairs (``text`` + ``text_pair``): its config says ``text_pair``.

    Example:

    ```python
    >>> takes_text_pair({"type": "text-classification", "text_pair": True}), takes_text_pair({"type": "text-classification"})
    (True, False)

    ```
    """
    return bool(task.get("text_pair", False))


def word_splitting(task: Mapping[str, Any]) -> str | None:
    """A token task's word splitting of raw text (one of :data:`WORD_SPLITTINGS`), ``None`` where the config does
    not say (text tasks; models saved before it was recorded, which split as the tokenizer does)."""
    return task.get("word_splitting") if task_kind(task.get("type")).per_token else None
