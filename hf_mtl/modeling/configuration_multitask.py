"""Configuration of a multi-task model: the encoder's config nested in it, and one entry per task.

This module is part of the *modeling core*: it imports only ``transformers``, the standard library and the
task-kind registry (``task_kinds.py``, relatively), so that ``save_pretrained`` can copy it next to the weights and ``AutoConfig.from_pretrained(...,
trust_remote_code=True)`` works where hf_mtl is not installed.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
from typing import Any

from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .encoder_families import family_pooling
from .errors import HfMtlError
from .pooling import FAMILY, check_pooling
from .task_adapters import normalize_task_adapters
from .task_kinds import (
    PROBLEM_TYPES,
    REGRESSION_PROBLEM,
    TASK_TYPES,
    WORD_SPLITTINGS,
    check_loss_weight,
    task_kind,
)
from .task_layers import normalize_task_layers

logger = logging.getLogger(__name__)

# Keep in step with hf_mtl.__version__ (a test checks it). Stored in every saved config.
HF_MTL_VERSION = "0.1.0"

TASK_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
TASK_KEYS = ("type", "id2label", "label2id", "problem_type", "dropout", "loss_weight", "pooler_activation",
             "decoder", "text_pair", "word_splitting", "standardize", "pooling")


def check_standardize(value: Any, name: str, problem_type: str | None) -> dict[str, float] | None:
    """The one rule for a regression task's target standardisation: ``None``, or ``{"mean": m, "std": s}`` (the
    train targets' mean and standard deviation, ``s > 0``), on a regression task only; else ``ValueError``.

    Example:
        >>> check_standardize({"mean": 3.5, "std": 1.0}, "relatedness", "regression")
        {'mean': 3.5, 'std': 1.0}
    """
    if value is None:
        return None
    if problem_type != REGRESSION_PROBLEM:
        raise ValueError(f"Task '{name}': `standardize` applies to regression tasks only, not {problem_type}.")
    if not isinstance(value, dict) or set(value) != {"mean", "std"} or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value.values()
    ) or value["std"] <= 0:
        raise ValueError(f"Task '{name}': `standardize` must be {{'mean': number, 'std': number > 0}} (the train "
                         f"targets' mean and standard deviation), not {value!r}.")
    return {"mean": float(value["mean"]), "std": float(value["std"])}


def _version_tuple(version: Any) -> tuple[int, ...]:
    """The release numbers of a version: ``"0.2.0rc1"`` -> ``(0, 2, 0)``; ``()`` when there are none."""
    match = re.match(r"\s*v?(\d+(?:\.\d+){0,2})", str(version))
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def check_task_name(name: Any) -> str:
    """Return ``name`` if it is a valid task name (lowercase snake_case), else raise ``ValueError``.

    The one rule for task names (``hf_mtl.data.tasks.TaskSpec`` calls it too); the message suggests a valid form.

    Example:
        >>> check_task_name("sentiment_sst2")
        'sentiment_sst2'
    """
    if not isinstance(name, str) or not TASK_NAME_PATTERN.match(name):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", str(name).lower()).strip("_")
        if not TASK_NAME_PATTERN.match(suggestion):
            suggestion = "ner"
        raise ValueError(
            f"Task name {name!r} is not valid: use lowercase snake_case (letters, digits, '_', starting with a "
            f"letter), e.g. {suggestion!r}. The name appears in weights (heads.<name>.*) and metrics."
        )
    return name


def check_dropout(dropout: Any, where: str) -> float | None:
    """The one rule for a head's dropout: ``None`` (the encoder's) or a number in [0, 1); else ``ValueError``.

    Example:
        >>> check_dropout(0.2, "Task 'ner'"), check_dropout(None, "Task 'ner'")
        (0.2, None)
    """
    if dropout is None:
        return None
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"{where}: `dropout` must be in [0, 1), not {dropout!r}")
    return float(dropout)


def normalize_task_config(name: str, task: dict[str, Any], *, ignore_unknown: bool = False,
                          encoder: Any = None) -> dict[str, Any]:
    """Validate one task entry and fill in its defaults.

    Accepts ``labels`` (a list of label names) as a shortcut for ``id2label``/``label2id``. Regression tasks
    have one output named ``"value"``. A text task's ``pooling`` (``family`` when not given) is resolved against
    the ``encoder`` config when one is given (``encoder_families.family_pooling``), so the entry records the method
    the head uses.

    Example:
        >>> normalize_task_config("ner", {"type": "token-classification", "labels": ["O", "B-PER", "I-PER"]})["id2label"]
        {0: 'O', 1: 'B-PER', 2: 'I-PER'}
    """
    check_task_name(name)
    if not isinstance(task, dict):
        raise ValueError(f"Task '{name}': expected a mapping of task settings, got {type(task).__name__}.")
    task = copy.deepcopy(task)
    labels = task.pop("labels", None)
    unknown = sorted(set(task) - set(TASK_KEYS))
    if unknown and ignore_unknown:
        logger.warning("Task '%s': ignoring setting(s) %s that this hf_mtl version does not know.", name, unknown)
    elif unknown:
        raise ValueError(f"Task '{name}': unknown setting(s) {unknown}; valid settings are {list(TASK_KEYS) + ['labels']}.")
    task_type = task.get("type")
    try:
        kind = task_kind(task_type)
        problem_type = kind.check_problem_type(task.get("problem_type"))
        decoder = kind.check_decoder(task.get("decoder"))
    except ValueError as error:
        raise ValueError(f"Task '{name}': {error}") from None
    problem = kind.problem(problem_type)
    id2label = task.get("id2label")
    if labels is not None:
        id2label = dict(enumerate(labels))
    if problem.fixed_labels and not id2label:
        id2label = dict(enumerate(problem.fixed_labels))
    if not id2label:
        raise ValueError(f"Task '{name}': give its labels (a list of label names, or id2label).")
    # JSON keys are strings and may come back in string order ('10' before '2'): keep id order.
    id2label = {int(i): str(label) for i, label in sorted(id2label.items(), key=lambda item: int(item[0]))}
    if sorted(id2label) != list(range(len(id2label))):
        raise ValueError(f"Task '{name}': id2label keys must be 0..{len(id2label) - 1}, got {sorted(id2label)}.")
    if len(set(id2label.values())) != len(id2label):
        raise ValueError(f"Task '{name}': label names must be unique, got {list(id2label.values())}.")
    if problem.fixed_labels and len(id2label) != len(problem.fixed_labels):
        raise ValueError(
            f"Task '{name}': a {problem_type} task has exactly {len(problem.fixed_labels)} output(s), "
            f"got {len(id2label)} labels."
        )
    if len(id2label) < problem.min_labels:
        raise ValueError(
            f"Task '{name}': {problem_type.replace('_', ' ')} needs at least {problem.min_labels} labels, "
            f"got {len(id2label)}."
        )
    dropout = check_dropout(task.get("dropout"), f"Task '{name}'")
    text_pair, splitting = _check_inputs(name, task, kind.per_token)
    loss_weight = check_loss_weight(task.get("loss_weight", 1.0), f"Task '{name}'")
    normalized = {
        "type": task_type,
        "id2label": id2label,
        "label2id": {label: i for i, label in id2label.items()},
        "dropout": dropout,
        "loss_weight": loss_weight,
    }
    if kind.stores_problem_type:
        normalized["problem_type"] = problem_type
    if kind.pooled and task.get("pooler_activation") is not None:
        normalized["pooler_activation"] = str(task["pooler_activation"])
    pooling = check_pooling(task.get("pooling"), f"Task '{name}'")
    if pooling is not None and not kind.pooled:
        raise ValueError(f"Task '{name}': `pooling` is for tasks with one label per text; {task_type} tasks read "
                         f"every token (got pooling={pooling!r}).")
    if kind.pooled and (pooling not in (None, FAMILY) or encoder is not None):
        normalized["pooling"] = family_pooling(encoder) if pooling in (None, FAMILY) else pooling
    if decoder is not None:  # only a non-default decoder is stored: earlier configs stay as they were
        normalized["decoder"] = decoder
    if text_pair:  # stored only when true, as `decoder`
        normalized["text_pair"] = True
    if splitting is not None:
        normalized["word_splitting"] = splitting
    standardize = check_standardize(task.get("standardize"), name, normalized.get("problem_type"))
    if standardize is not None:  # regression targets standardised: the head predicts (y - mean) / std
        normalized["standardize"] = standardize
    return normalized


def _check_inputs(name: str, task: dict[str, Any], per_token: bool) -> tuple[bool, str | None]:
    """What a task reads: ``text_pair`` (text tasks trained on sentence pairs) and ``word_splitting`` (token tasks:
    how raw text is cut into words, one of ``task_kinds.WORD_SPLITTINGS``)."""
    text_pair, splitting = task.get("text_pair", False), task.get("word_splitting")
    if not isinstance(text_pair, bool):
        raise ValueError(f"Task '{name}': `text_pair` must be true or false, not {text_pair!r}")
    if text_pair and per_token:
        raise ValueError(f"Task '{name}': `text_pair` applies to text tasks; a token task reads one text")
    if splitting is not None:
        if per_token is False:
            raise ValueError(f"Task '{name}': `word_splitting` applies to token tasks (their words), not text tasks")
        if splitting not in WORD_SPLITTINGS:
            raise ValueError(f"Task '{name}': `word_splitting` must be one of {', '.join(WORD_SPLITTINGS)}, not {splitting!r}")
    return text_pair, splitting


def _is_local_path(value: Any) -> bool:
    """Whether ``value`` names a folder of this machine (absolute, relative or ``~``) rather than a Hub id."""
    if not isinstance(value, str) or not value:
        return False
    return os.path.isabs(value) or value.startswith(("./", "../", "~")) or os.path.exists(value)


def _is_installed_hf_mtl(config_class: type) -> bool:
    """Whether ``config_class`` is the installed hf_mtl's (not a remote-code copy next to some weights).

    Importing any ``hf_mtl.*`` module runs ``hf_mtl/__init__``, which registers hf_mtl's "multitask" pipeline; a
    remote-code copy lives in ``transformers_modules.*`` and has no registered pipeline of its own.
    """
    return config_class.__module__.startswith("hf_mtl.")


class MultiTaskConfig(PretrainedConfig):
    r"""Configuration of a [`MultiTaskModel`]: one encoder and a head per task.

    It is the single source of truth for the tasks, their label maps and head settings; heads are rebuilt from
    it when a model is loaded.

    Args:
        encoder (`PretrainedConfig` or `dict`):
            The configuration of the shared encoder (any `AutoModel` encoder: BERT, RoBERTa, DeBERTa-v2, ...).
        tasks (`dict[str, dict]`):
            For each task name: `type` (`"token-classification"` or `"text-classification"`), `labels` or
            `id2label`, `problem_type` for text tasks (`"single_label_classification"`,
            `"multi_label_classification"`, `"regression"`), `dropout` (head dropout, default: the encoder's
            hidden dropout) and `loss_weight` (default 1.0); `text_pair: true` for a text task trained on sentence
            pairs (the pipeline then takes `{"text": ..., "text_pair": ...}`), and `word_splitting` (`"whitespace"`
            or `"tokenizer"`) for a token task: how the pipeline cuts raw text into its words (see
            `task_kinds.WORD_SPLITTINGS`; not given: as the tokenizer's pre-tokenizer does).
        hf_mtl_version (`str`): the hf_mtl version that wrote the config (filled in automatically). A config from
            an older version loads with defaults for the task settings it lacks; one from a newer version loads with
            a warning, ignoring task settings this version does not know and skipping tasks it cannot build (an
            unknown task type), whose head weights are then left unused.
        task_layers (`int` or `dict`, *optional*): task-specific top encoder layers (``docs/capacity.md``): an
            ``int`` k gives every task its own copy of the top k layers; ``{task: k}`` per task;
            ``{group: {"layers": k, "tasks": [...]}}`` one copy for a task group. Stored as the last form. The
            bottom layers stay shared; ``None`` (default): every encoder layer is shared.
        task_adapters (`bool` or `dict`, *optional*): per-task low-rank adapters on the shared encoder
            (``docs/capacity.md``, ``hf_mtl.modeling.task_adapters``): ``True`` or a mapping of settings (``r``,
            ``alpha``, ``dropout``, ``target_modules``, ``layers``: the top k or a list of indices) gives every task
            its own; ``{task: settings}`` per task; ``{group: {"tasks": [...], ...}}`` one for a task group. Stored
            as the last form, ``layers`` as indices.

    Example:
        ```python
        >>> from transformers import BertConfig
        >>> from hf_mtl import MultiTaskConfig
        >>> config = MultiTaskConfig(
        ...     encoder=BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37),
        ...     tasks={"ner": {"type": "token-classification", "labels": ["O", "B-PER", "I-PER"]},
        ...            "sentiment": {"type": "text-classification", "labels": ["negative", "positive"]}},
        ... )
        >>> config.task_names
        ['ner', 'sentiment']
        ```
    """

    model_type = "hf-mtl"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PretrainedConfig | dict | None = None
    tasks: dict | None = None
    hf_mtl_version: str | None = None
    lora: dict | None = None  # LoRA adapter settings + base encoder (hf_mtl.modeling.lora); None for a plain model
    task_layers: Any = None  # {copy: {"layers": k, "tasks": [...]}} (hf_mtl.modeling.task_layers); None: all shared
    task_adapters: Any = None  # {copy: {"tasks": [...], "r": ..., ...}} (hf_mtl.modeling.task_adapters); None: none

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        written_by = self.hf_mtl_version
        from_newer_version = bool(written_by) and _version_tuple(written_by) > _version_tuple(HF_MTL_VERSION)
        if from_newer_version:
            logger.warning(
                "This model was saved by hf_mtl %s, newer than the running %s: settings this version does not "
                "know are ignored. Upgrade hf_mtl if the model misbehaves.",
                written_by,
                HF_MTL_VERSION,
            )
        self.hf_mtl_version = HF_MTL_VERSION
        tasks, skipped = {}, []
        for name, task in (self.tasks or {}).items():
            try:
                tasks[name] = normalize_task_config(name, task, ignore_unknown=from_newer_version,
                                                    encoder=self.encoder)
            except ValueError as error:
                if not from_newer_version:
                    raise
                # e.g. a task type added after this version: load the other tasks, drop this one's head
                logger.warning(
                    "Task '%s' (saved by hf_mtl %s) cannot be loaded by hf_mtl %s and is skipped; its head's weights "
                    "are ignored: %s",
                    name, written_by, HF_MTL_VERSION, error,
                )
                skipped.append(name)
        self.tasks = tasks
        if self.task_layers is not None and self.encoder is not None:
            num_layers = getattr(self.encoder, "num_hidden_layers", None) or 0
            self.task_layers = normalize_task_layers(self.task_layers, tasks, num_layers)
        if self.task_adapters is not None and self.encoder is not None:
            num_layers = getattr(self.encoder, "num_hidden_layers", None) or 0
            self.task_adapters = normalize_task_adapters(self.task_adapters, tasks, num_layers)
            if self.task_adapters and self.task_layers:
                raise HfMtlError("task_adapters with task_layers: give a model one kind of task-specific capacity "
                                 "(its own top layers, or low-rank adapters on the shared layers), not both.")
        if getattr(self, "pad_token_id", None) is None and self.encoder is not None:
            # the model pads as its encoder does (Trainer aligns the tokenizer's pad id with this config's otherwise,
            # and says so on every run)
            self.pad_token_id = getattr(self.encoder, "pad_token_id", None)
        # In memory only (dropped by to_dict): the loading check tolerates unused head weights of these tasks alone.
        self.skipped_tasks = skipped
        if getattr(self, "custom_pipelines", None) and _is_installed_hf_mtl(type(self)):
            # `custom_pipelines` (written on save) points transformers' `pipeline()` at the remote-code pipeline,
            # which it checks before its registry (and then demands trust_remote_code). The installed hf_mtl's config
            # drops it, so its registered "multitask" pipeline wins, as a registered model class wins over
            # `auto_map`; the remote-code copy keeps it. Nothing depends on which modules happen to be imported.
            del self.custom_pipelines

    @property
    def task_names(self) -> list[str]:
        """The task names, in the order the heads were added."""
        return list(self.tasks)

    @property
    def hidden_size(self) -> int:
        """The encoder's hidden size (what every head reads)."""
        return self.encoder.hidden_size

    @property
    def initializer_range(self) -> float:
        """Standard deviation used to initialise new heads (taken from the encoder)."""
        return getattr(self.encoder, "initializer_range", 0.02) or 0.02

    def add_task(self, name: str, task: dict[str, Any]) -> None:
        """Add one task entry (validated); raises ``ValueError`` if the name is taken."""
        if name in self.tasks:
            raise ValueError(f"Task '{name}' already exists in this model (tasks: {self.task_names}); pick another name.")
        self.tasks[name] = normalize_task_config(name, task, encoder=self.encoder)

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output.pop("skipped_tasks", None)  # what this version could not build; not part of the model
        # JSON object keys are strings; keep id2label keys as strings on disk, ints in memory.
        output["tasks"] = {
            name: {**task, "id2label": {str(i): label for i, label in task["id2label"].items()}}
            for name, task in self.tasks.items()
        }
        # A saved config is published: it names no folder of the machine it was written on (a Hub id stays).
        for entry in (output, output.get("encoder")):
            if isinstance(entry, dict) and _is_local_path(entry.get("_name_or_path")):
                entry["_name_or_path"] = ""
        return output


__all__ = ["PROBLEM_TYPES", "TASK_TYPES", "MultiTaskConfig", "check_dropout", "check_task_name", "normalize_task_config"]
