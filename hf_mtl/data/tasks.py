"""Task specifications: what each task is, where its data lives and how its labels look.

A recipe's ``tasks:`` list holds one mapping per task; :meth:`TaskSpec.from_dict` turns each into a
:class:`TaskSpec`, checking every field before any data is read. ``hf_mtl.data.prepare_task`` then reads,
checks and tokenizes the data a spec points at.

Example:

```python
>>> from hf_mtl.data.tasks import TaskSpec
>>> spec = TaskSpec.from_dict(
...     {"name": "ner", "type": "token-classification", "train": "data/conll2003_train.txt"}, base_dir="recipes"
... )
>>> spec.train.format, spec.train.path
('conll', 'recipes/data/conll2003_train.txt')
>>> TaskSpec.from_dict({"name": "ner", "type": "token-classification", "train": "x.txt", "label_colum": "tags"})
Traceback (most recent call last):
...
hf_mtl.modeling.errors.TaskError: recipe: task 'ner': unknown key 'label_colum' (did you mean 'label_column'?); ...
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..modeling.configuration_multitask import (
    TASK_NAME_PATTERN,
    check_dropout,
    check_task_name,
    normalize_task_config,
)
from ..modeling.errors import HfMtlError, TaskError, did_you_mean
from ..modeling.pooling import check_pooling
from ..modeling.task_adapters import check_adapter_settings
from ..modeling.task_kinds import (
    PROBLEM_TYPES,
    SINGLE_LABEL_CLASSIFICATION,
    TASK_TYPES,
    WORD_SPLITTINGS,
    Problem,
    check_loss_weight,
    default_metric,
    detect_label_scheme,
    task_kind,
    task_problem,
)
from .metric_choice import metric_choice
from .sources import DATA_FORMATS, SPLIT_NAMES, SPLITS, DataSource, datasets_kind

__all__ = [
    "TASK_TYPES",
    "PROBLEM_TYPES",
    "DATA_FORMATS",
    "DataSource",
    "TaskSpec",
    "group_tasks",
    "looks_like_iob",
]


def looks_like_iob(labels: list[str]) -> bool:
    """Whether a tag set is an entity tagging scheme (scored with seqeval); see ``task_kinds.detect_label_scheme``.

    Example:

    ```python
    >>> looks_like_iob(["O", "B-PER", "I-PER"]), looks_like_iob(["NOUN", "VERB", "ADJ"])
    (True, False)
    ```
    """
    return detect_label_scheme(labels) is not None


@dataclass
class TaskSpec:
    """One task of a multi-task recipe.

    Args:
        name: Lowercase snake_case task name (``ner``, ``pos``, ``sentiment``); used verbatim in head names,
            loss and metric keys.
        type: ``"token-classification"`` or ``"text-classification"``.
        train / validation / test: Where each split comes from (:class:`DataSource`, a path, a mapping, or a
            ``datasets.Dataset`` / ``IterableDataset``; a ``DatasetDict`` gives its split of that name).
            Without ``validation``, a ``validation_fraction`` of train is carved off (seeded by ``split_seed``).
        text_column: Text tasks: the text column, or a list of columns joined with a space. Token tasks read
            from hub/json/disk sources: the column holding the list of words.
        text_pair_column: Text tasks: an optional second text (sentence pairs). The model config then records
            ``text_pair: true``, and the pipeline takes ``{"text": ..., "text_pair": ...}`` for the task.
        label_column: The label column (token tasks from hub/json/disk: the list of tags).
        labels: The label names, in id order. Inferred from train when left out (sorted; ``"O"`` first).
        label_map: Raw value -> label name, e.g. ``{1: "World", 2: "Sports"}``; ClassLabel features map to
            their names without it.
        problem_type: Text tasks: ``"single_label_classification"``, ``"multi_label_classification"`` or
            ``"regression"``.
        label_separator: Multi-label given as one delimited string (e.g. ``"|"``).
        max_length: Longest tokenized input; longer inputs are truncated, and that is reported.
        metric: The metric to report; defaults from the task (see :meth:`resolved_metric`). Or ``evaluate``
            modules: ``{evaluate: metrics/my_metric.py}`` (a local script or folder, or a Hub id where the Hub is
            reachable), ``{evaluate: [a, b], main: f1}`` combined with ``evaluate.combine``; kept as the string
            ``evaluate:<module>,...#<main>`` (``hf_mtl.data.metric_choice``).
        label_all_subwords: Token tasks: label every sub-word with its word's tag (default: the first only).
        word_splitting: Token tasks: how the pipeline cuts *raw* text into this task's words: ``"whitespace"``
            (``@sarah_k`` and ``don't`` stay one word) or ``"tokenizer"`` (the tokenizer's pre-tokenizer: also at
            punctuation). Default: read from the training words (:func:`~hf_mtl.data.task_data.guess_word_splitting`)
            and stored in the model config.
        validation_fraction / split_seed: How to carve a validation split from train when there is none.
        test_fraction: Carve a test split of this fraction of train's examples (seeded by ``split_seed``), for a
            data set that ships one file: with ``validation_fraction`` (also a fraction of the file), one file gives
            train, validation and test, the same on every run; the counts are noted. Needs no ``test:``.
        max_train_examples / max_eval_examples: Keep only the first N examples (deterministic).
        loss_weight: Weight of this task's loss.
        standardize: Regression only: standardise the targets with the mean and standard deviation of train's
            targets (stored in the model's config as ``standardize: {mean, std}``). The loss is computed on the
            standardised scale (a 1-5 score no longer starts at a loss near 10 beside cross-entropies near 1); the
            model, pipeline, ``evaluate``, ``predict`` and exports give predictions on the raw scale.
        dropout: Head dropout (``None``: the encoder's).
        task_layers: Give this task (or its group: every task of the group names the same number) its own copy of
            the encoder's top N layers (``docs/capacity.md``); ``None``: the recipe's ``model.task_layers``.
        task_adapters: Give this task (or its group: every task of the group gives the same) its own low-rank
            adapter on the shared encoder (``docs/capacity.md``): ``true``, a mapping of settings (``r``, ``alpha``,
            ``dropout``, ``target_modules``, ``layers``) added to the recipe's ``model.task_adapters``, or ``false``
            (none, whatever the recipe's model section says); ``None``: the recipe's ``model.task_adapters``.
        pooling: Text tasks: how the head reads the sequence, ``family`` (default: as the encoder family's own
            ``*ForSequenceClassification``), ``cls``, ``mean``, ``max`` or ``last`` (``hf_mtl.modeling.pooling``).
        group: Name of a *task group*: tasks with the same ``group`` read the same examples (one file with several
            label columns, or files that hold the same sentences in the same order), which are tokenized once and
            trained in one encoder pass per batch, every head adding its own loss. An example may lack some of the
            group's labels (a tag column of ``_``/``-`` for a whole sentence, an empty cell); that task's loss
            skips it. See :func:`group_tasks` and ``docs/tasks.md``.
        dataset: Python only: a ``DatasetDict`` (or ``IterableDatasetDict``) whose splits fill ``train``,
            ``validation`` (a split named ``validation``, ``valid`` or ``dev``) and ``test`` by name. A split
            also given as an argument is an error. Consumed: afterwards the splits hold it and this is ``None``.

    Example:

    ```python
    >>> spec = TaskSpec(name="sentiment", type="text-classification", train="recipes/data/sst2_train.tsv",
    ...                 text_column="sentence", label_map={0: "negative", 1: "positive"})
    >>> spec.head_config(["negative", "positive"])["id2label"]
    {0: 'negative', 1: 'positive'}
    ```
    """

    name: str
    type: str
    train: DataSource | None = None
    validation: DataSource | None = None
    test: DataSource | None = None
    text_column: str | list[str] = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    labels: list[str] | None = None
    label_map: dict[Any, str] | None = None
    problem_type: str = SINGLE_LABEL_CLASSIFICATION
    label_separator: str | None = None
    max_length: int = 128
    metric: str | dict[str, Any] | None = None
    label_all_subwords: bool = False
    validation_fraction: float = 0.1
    test_fraction: float | None = None
    split_seed: int = 0
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    loss_weight: float = 1.0
    standardize: bool = False
    dropout: float | None = None
    decoder: str | None = None
    pooling: str | None = None
    word_splitting: str | None = None
    group: str | None = None
    task_layers: int | None = None
    task_adapters: Any = None
    dataset: Any = field(default=None, repr=False, compare=False)
    base_dir: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"task {self.name!r}"
        try:
            check_task_name(self.name)  # the model config's rule
        except ValueError as error:
            raise TaskError(str(error)) from None
        if self.type not in TASK_TYPES:  # the registry's list of kinds
            raise TaskError(
                f"{where}: unknown `type` {self.type!r}{did_you_mean(str(self.type), TASK_TYPES)}; "
                f"expected one of {', '.join(TASK_TYPES)}"
            )
        self._resolve_splits(where)
        self._check_columns(where)
        self._check_labels(where)
        self._check_options(where)

    def _resolve_splits(self, where: str) -> None:
        """Every given split as a :class:`DataSource` (``dataset=`` spread over the splits); at least one."""
        if self.dataset is not None:
            self._take_splits(self.dataset, where)
        for split in SPLITS:
            value = getattr(self, split)
            if value is not None:
                source = DataSource.from_value(value, f"{where}, `{split}`", self.base_dir)
                setattr(self, split, source)
                if source.in_memory and datasets_kind(source.dataset).endswith("Dict"):
                    wanted = source.split or split
                    if wanted not in source.dataset:
                        raise TaskError(
                            f"{where}, `{split}`: the {datasets_kind(source.dataset)} has no split {wanted!r} (it has "
                            f"{', '.join(map(str, source.dataset))}); pass one split, or DataSource(dataset=..., split=...)"
                        )
        if self.train is None and self.validation is None and self.test is None:
            raise TaskError(f"{where}: give at least one data split (`train:`, `validation:` or `test:`)")

    def _check_columns(self, where: str) -> None:
        """``problem_type`` known and allowed for the kind; the text columns fit the kind."""
        if self.problem_type not in PROBLEM_TYPES:
            raise TaskError(
                f"{where}: unknown `problem_type` {self.problem_type!r}{did_you_mean(str(self.problem_type), PROBLEM_TYPES)}; "
                f"expected one of {', '.join(PROBLEM_TYPES)}"
            )
        if self.problem_type not in task_kind(self.type).problem_types:
            raise TaskError(f"{where}: `problem_type` applies to text-classification tasks only; token tasks are single-label")
        if isinstance(self.text_column, (list, tuple)):
            if not self.text_column or not all(isinstance(c, str) for c in self.text_column):
                raise TaskError(f"{where}: `text_column` must be a column name or a non-empty list of names")
            self.text_column = list(self.text_column)
            if self.is_token_task:
                raise TaskError(f"{where}: token tasks take one `text_column` (the list of words), not a list")
        elif not isinstance(self.text_column, str):
            raise TaskError(f"{where}: `text_column` must be a column name, not {self.text_column!r}")
        if self.text_pair_column is not None and self.is_token_task:
            raise TaskError(f"{where}: `text_pair_column` applies to text-classification tasks only")
        if self.word_splitting is not None:
            if not self.is_token_task:
                raise TaskError(f"{where}: `word_splitting` applies to token tasks (how raw text is cut into words)")
            if self.word_splitting not in WORD_SPLITTINGS:
                raise TaskError(f"{where}: `word_splitting` must be one of {', '.join(WORD_SPLITTINGS)}, not "
                                f"{self.word_splitting!r}{did_you_mean(str(self.word_splitting), WORD_SPLITTINGS)}")

    def _check_labels(self, where: str) -> None:
        """``labels``, ``label_map`` and ``label_separator`` well formed, and given only where they apply."""
        if self.labels is not None:
            if isinstance(self.labels, str) or not isinstance(self.labels, (list, tuple)):
                raise TaskError(f"{where}: `labels` must be a list of label names, not {self.labels!r}")
            self.labels = [str(label) for label in self.labels]
            dupes = sorted({label for label in self.labels if self.labels.count(label) > 1})
            if dupes:
                raise TaskError(f"{where}: `labels` lists {', '.join(dupes)} more than once")
            if self.problem.fixed_labels:
                what = self.type if task_kind(self.type).raw_text else self.problem_type
                raise TaskError(f"{where}: a {what} task has no `labels`; remove them")
        if self.label_map is not None:
            if not isinstance(self.label_map, dict) or not self.label_map:
                raise TaskError(f"{where}: `label_map` must be a mapping from raw values to label names")
            self.label_map = {key: str(value) for key, value in self.label_map.items()}
        if self.label_separator is not None and not self.is_multi_label:
            raise TaskError(f"{where}: `label_separator` applies to multi_label_classification only")

    def _check_options(self, where: str) -> None:
        """The numeric and naming options: lengths, fractions, caps, weights, dropout, metric, seed, group."""
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int) or self.max_length < 2:
            raise TaskError(f"{where}: `max_length` must be an integer >= 2, not {self.max_length!r}")
        if not isinstance(self.validation_fraction, (int, float)) or not 0 < self.validation_fraction < 1:
            raise TaskError(f"{where}: `validation_fraction` must be between 0 and 1, not {self.validation_fraction!r}")
        if self.test_fraction is not None:
            if isinstance(self.test_fraction, bool) or not isinstance(self.test_fraction, (int, float)) or not (
                    0 < self.test_fraction < 1):
                raise TaskError(f"{where}: `test_fraction` must be between 0 and 1, not {self.test_fraction!r}")
            if self.test is not None or self.train is None:
                raise TaskError(f"{where}: `test_fraction` carves a test split from `train:`; give one of "
                                "`test:` and `test_fraction`" + ("" if self.train is not None else ", and `train:`"))
            if self.validation is None and self.test_fraction + self.validation_fraction >= 1:
                raise TaskError(f"{where}: `test_fraction` ({self.test_fraction}) + `validation_fraction` "
                                f"({self.validation_fraction}) leave nothing to train on; keep their sum below 1")
        for key in ("max_train_examples", "max_eval_examples"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise TaskError(f"{where}: `{key}` must be a positive integer or null, not {value!r}")
        self.loss_weight = check_loss_weight(self.loss_weight, where, TaskError)
        try:
            check_dropout(self.dropout, where)  # the model config's rule
            task_kind(self.type).check_decoder(self.decoder)  # the registry's rule
            check_pooling(self.pooling, where)  # the model config's rule
        except ValueError as error:
            raise TaskError(f"{where}: {error}" if "decoder" in str(error) else str(error)) from None
        if self.pooling is not None and not task_kind(self.type).pooled:
            raise TaskError(f"{where}: `pooling` applies to text-classification tasks only (token tasks read every "
                            f"token), got {self.pooling!r}")
        if task_kind(self.type).raw_text and self.group is not None:
            raise TaskError(f"{where}: a {self.type} task masks its own copy of its text, so it cannot share a "
                            f"group's encoder pass; remove `group: {self.group}` (the sampler mixes it with the other "
                            "tasks)")
        if self.decoder == "crf" and self.label_all_subwords:
            raise TaskError(f"{where}: `decoder: crf` chains the tags of words (their first sub-words); it cannot "
                            "be combined with `label_all_subwords: true`")
        self.metric = metric_choice(self.metric, where, self.base_dir)  # a built-in name or evaluate modules
        if not isinstance(self.standardize, bool):
            raise TaskError(f"{where}: `standardize` must be true or false, not {self.standardize!r}")
        if self.standardize and not self.is_regression:
            raise TaskError(f"{where}: `standardize` applies to regression tasks (problem_type: regression) only")
        if not isinstance(self.split_seed, int):
            raise TaskError(f"{where}: `split_seed` must be an integer, not {self.split_seed!r}")
        if self.group is not None and (not isinstance(self.group, str) or not TASK_NAME_PATTERN.match(self.group)):
            raise TaskError(f"{where}: `group` must be a lowercase snake_case name such as 'conll', not {self.group!r}")
        layers = self.task_layers
        if layers is not None and (isinstance(layers, bool) or not isinstance(layers, int) or layers < 0):
            raise TaskError(f"{where}: `task_layers` must be a whole number >= 0 (top encoder layers of its own), "
                            f"not {layers!r}")
        if self.task_adapters not in (None, False):
            try:
                check_adapter_settings(self.task_adapters, f"{where}: task_adapters")
            except HfMtlError as error:
                raise TaskError(str(error)) from None

    def _take_splits(self, value: Any, where: str) -> None:
        """``dataset=``: fill the task splits from a DatasetDict's splits of the same name."""
        kind = datasets_kind(value)
        if kind not in ("DatasetDict", "IterableDatasetDict"):
            hint = "; pass a single split as `train=`" if kind else ""
            raise TaskError(f"{where}: `dataset` must be a DatasetDict or IterableDatasetDict, not {kind or type(value).__name__}{hint}")
        found = False
        for split, names in SPLIT_NAMES.items():
            name = next((n for n in names if n in value), None)
            if name is None:
                continue
            if getattr(self, split) is not None:
                raise TaskError(f"{where}: `{split}` is given twice: as an argument and as the {kind}'s split {name!r}")
            setattr(self, split, DataSource(dataset=value, split=name))
            found = True
        if not found:
            raise TaskError(
                f"{where}: the {kind} has splits {', '.join(map(str, value))}, none named train, validation (valid, "
                "dev) or test; pass them as train=dd['...'], validation=dd['...']"
            )
        self.dataset = None

    # ----------------------------------------------------------------------------------------- recipes
    @classmethod
    def field_names(cls) -> list[str]:
        """The keys a recipe's task mapping may use (``dataset`` is Python-only)."""
        return [f.name for f in dataclasses.fields(cls) if f.name not in ("base_dir", "dataset")]

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "recipe", base_dir: str | Path | None = None) -> TaskSpec:
        """Build a spec from a recipe mapping, checking keys and values.

        Args:
            d: The task mapping (a ``tasks:`` entry of a recipe).
            where: Where the mapping comes from, for error messages (e.g. the recipe file).
            base_dir: Folder against which relative data paths are resolved (usually the recipe's folder).

        Raises:
            TaskError: for unknown keys (naming the nearest valid key), missing or invalid values.

        Example:

        ```python
        >>> TaskSpec.from_dict({"name": "pos", "type": "token-classification",
        ...                     "train": {"path": "ud.conllu", "tag_column": "upos"}}).train.format
        'conllu'
        ```
        """
        if not isinstance(d, dict):
            raise TaskError(f"{where}: a task must be a mapping with at least `name`, `type` and `train`, got {d!r}")
        name = d.get("name", "<unnamed>")
        prefix = f"{where}: task {name!r}"
        known = cls.field_names()
        for key in d:
            if key not in known:
                raise TaskError(f"{prefix}: unknown key {key!r}{did_you_mean(str(key), known)}; valid keys: {', '.join(known)}")
        for key in ("name", "type"):
            if key not in d:
                raise TaskError(f"{prefix}: missing `{key}`")
        kwargs = dict(d)
        for split in SPLITS:
            if kwargs.get(split) is not None:
                kwargs[split] = DataSource.from_value(kwargs[split], f"{prefix}, `{split}`", base_dir)
        if base_dir is not None:  # evaluate modules named relatively live beside the recipe
            kwargs["metric"] = metric_choice(kwargs.get("metric"), prefix, base_dir)
        try:
            return cls(**kwargs)
        except TaskError as err:
            message = str(err)
            raise TaskError(message if message.startswith(where) else f"{where}: {message}") from None

    def to_dict(self) -> dict[str, Any]:
        """The spec as a recipe mapping: fields that differ from the defaults (``name``/``type`` always).

        ``TaskSpec.from_dict(spec.to_dict()) == spec``.
        """
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        for f in dataclasses.fields(self):
            if f.name in ("name", "type", "base_dir", "dataset"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, DataSource):
                out[f.name] = value.to_dict()
            elif value != f.default:
                out[f.name] = list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value
        return out

    # ----------------------------------------------------------------------------------------- helpers
    @property
    def problem(self) -> Problem:
        """The task kind's record of this task's problem type (``task_kinds.Problem``)."""
        return task_problem({"type": self.type, "problem_type": self.problem_type})

    @property
    def is_token_task(self) -> bool:
        """Labels per word (the kind's ``per_token``)."""
        return task_kind(self.type).per_token

    @property
    def is_regression(self) -> bool:
        """No label names of its own: one output ``"value"`` (the problem type's ``fixed_labels``)."""
        return self.problem.fixed_labels is not None

    @property
    def is_multi_label(self) -> bool:
        """Several label names per example, given as multi-hot targets (the problem type's ``multi_hot``)."""
        return self.problem.multi_hot

    def resolved_metric(self, labels: list[str] | None = None) -> str:
        """The metric to report: ``metric`` when set, else the task kind's default (``task_kinds.default_metric``).

        Token tasks: ``"seqeval"`` when the labels are an entity scheme (or not known yet), else
        ``"token_accuracy"`` (POS). Text tasks: ``"accuracy"`` (single-label), ``"multilabel"``, ``"regression"``.
        """
        if self.metric:
            return self.metric
        labels = labels if labels is not None else self.labels
        return default_metric({"type": self.type, "problem_type": self.problem_type, "labels": labels})

    def head_config(self, labels: list[str] | None = None, standardize: dict[str, float] | None = None,
                    word_splitting: str | None = None) -> dict[str, Any]:
        """The per-task entry the model config stores.

        Args:
            labels: The label names in id order (ignored for regression, which has one output ``"value"``).
            standardize: Regression with ``standardize: true``: ``{"mean", "std"}`` of the train targets
                (:attr:`hf_mtl.data.task_data.TaskData.head_config` fits them).
            word_splitting: Token tasks: the word splitting read from the training data, used when the spec sets
                none (``TaskData.head_config`` passes it).

        Example:

        ```python
        >>> spec = TaskSpec(name="ner", type="token-classification", train="x.conll")
        >>> spec.head_config(["O", "B-PER"])
        {'type': 'token-classification', 'id2label': {0: 'O', 1: 'B-PER'}, 'label2id': {'O': 0, 'B-PER': 1}, 'dropout': None, 'loss_weight': 1.0}
        ```
        """
        names = self.problem.fixed_labels or list(labels if labels is not None else (self.labels or []))
        if not names:
            raise TaskError(f"task {self.name!r}: head_config needs the label list (none given or inferred)")
        entry = {"type": self.type, "labels": list(names), "problem_type": self.problem_type, "dropout": self.dropout,
                 "loss_weight": self.loss_weight, "decoder": self.decoder, "standardize": standardize,
                 "text_pair": self.text_pair_column is not None, "pooling": self.pooling,
                 "word_splitting": (self.word_splitting or word_splitting) if self.is_token_task else None}
        try:
            return normalize_task_config(self.name, entry)  # the model config's entry, built by the config
        except ValueError as error:
            raise TaskError(str(error)) from None


# Settings every task of a group must share: its examples are read, split and tokenized once. Their kinds may
# differ (UPOS, lemmas and a parser on one CoNLL-U file) as long as all are labelled per word or all per text.
GROUP_SHARED_FIELDS = ("max_length", "label_all_subwords", "text_column", "text_pair_column", "word_splitting",
                       "validation_fraction", "test_fraction", "split_seed", "max_train_examples", "max_eval_examples",
                       "task_layers", "task_adapters")


def group_tasks(specs: list[TaskSpec]) -> dict[str, list[TaskSpec]]:
    """Sort tasks into sampling units: ``{group name: its tasks}``, a task without ``group`` its own unit.

    A unit of several tasks is trained as one: its examples are tokenized once and every batch carries every
    task's labels. The tasks of a group must agree on what is shared (:data:`GROUP_SHARED_FIELDS`, and which
    splits are given); each keeps its own name, labels, metric, loss weight, head and evaluation.

    Raises:
        TaskError: two tasks of a group with the same name, a group named like a task, tasks of a group that
            disagree on a shared setting or on the splits they give.

    Example:

    ```python
    >>> pos = TaskSpec(name="pos", type="token-classification", group="conll",
    ...                train={"path": "conll2003_train.txt", "tag_column": 1})
    >>> ner = TaskSpec(name="ner", type="token-classification", group="conll",
    ...                train={"path": "conll2003_train.txt", "tag_column": 3})
    >>> {unit: [t.name for t in tasks] for unit, tasks in group_tasks([pos, ner]).items()}
    {'conll': ['pos', 'ner']}
    ```
    """
    units: dict[str, list[TaskSpec]] = {}
    seen: dict[str, TaskSpec] = {}
    task_names = {spec.name for spec in specs}
    for spec in specs:
        unit = spec.group or spec.name
        if spec.group is not None and spec.group in task_names:
            raise TaskError(f"task {spec.name!r}: group {spec.group!r} has the name of a task; give the group its own name")
        if spec.name in seen:  # the one check of unique task names (recipes and Python)
            same_group = spec.group is not None and seen[spec.name].group == spec.group
            clash = f"group {unit!r} has two tasks named" if same_group else "two tasks are named"
            raise TaskError(f"{clash} {spec.name!r}; every task needs its own name")
        seen[spec.name] = spec
        units.setdefault(unit, []).append(spec)
    for unit, members in units.items():
        first = members[0]
        for other in members[1:]:
            if other.is_token_task != first.is_token_task:
                raise TaskError(
                    f"group {unit!r}: task {first.name!r} ({first.type}) and task {other.name!r} ({other.type}) are "
                    "labelled one per word and one per text; a group's tasks read the same examples the same way"
                )
            for key in GROUP_SHARED_FIELDS:
                if getattr(other, key) != getattr(first, key):
                    raise TaskError(
                        f"group {unit!r}: tasks {first.name!r} and {other.name!r} differ in `{key}` "
                        f"({getattr(first, key)!r} vs {getattr(other, key)!r}); a group's examples are read and "
                        "tokenized once, so its tasks share it"
                    )
            for split in SPLITS:
                if (getattr(first, split) is None) != (getattr(other, split) is None):
                    has, lacks = (first, other) if getattr(first, split) is not None else (other, first)
                    raise TaskError(
                        f"group {unit!r}: task {has.name!r} gives a `{split}` split and task {lacks.name!r} does not; "
                        "the tasks of a group read the same examples in every split"
                    )
    return units
