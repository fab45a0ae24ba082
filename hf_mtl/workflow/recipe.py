"""Recipes: a YAML file that says which encoder, which tasks (with their data) and how to train.

A recipe is loaded with a ``yaml.SafeLoader`` that resolves YAML 1.2 core scalars only (``no``, ``010``, ``1:30``
stay the text written; ``5e-5`` is a float), refuses duplicate keys and alias bombs (:mod:`.recipe_yaml`), and
can never import or execute code: every key is checked against a fixed list, unknown keys are errors that
name the key and the nearest valid one.

```yaml
output_dir: outputs/my-run
model:
  encoder: embedded            # the embedded all-MiniLM-L6-v2; or a local folder / Hub id
  # from_model: outputs/old    # continue from a trained hf_mtl model (transfer: new tasks get new heads)
  # freeze_encoder: true       # train the heads only
tasks:
  - name: ner
    type: token-classification
    train: data/conll2003_train.txt
    validation: data/conll2003_validation.txt
training:                      # any MultiTaskTrainingArguments / TrainingArguments field
  max_steps: 600
  learning_rate: 1e-4
```
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..data.raw import brief
from ..data.tasks import TaskSpec, group_tasks
from ..export.model_card import MultiTaskModelCardData
from ..export.public_names import EMBEDDED_HUB_ID, HUB_ID_PATTERN, default_encoder
from ..modeling.errors import HfMtlError, RecipeError, did_you_mean
from ..modeling.task_adapters import check_adapter_settings
from ..training.training_args import MultiTaskTrainingArguments
from .recipe_yaml import (
    MODEL_BOOLEAN_FIELDS,
    TOP_BOOLEAN_FIELDS,
    RecipeLoader,
    ValueCheckError,
    as_boolean,
    check_recipe_values,
    check_task_value,
    editor_position,
    expand_home,
    load_yaml,
    yaml_problem,
)

__all__ = ["Recipe", "RecipeLoader", "load_recipe", "parse_overrides", "apply_overrides"]

EMBEDDED_ENCODER = "embedded"
RECIPE_KEYS = ("output_dir", "data_dir", "description", "model", "tasks", "training", "card", "resume", "overwrite",
               "allow_changes")
MODEL_KEYS = ("encoder", "from_model", "freeze_encoder", "lora", "task_layers", "task_adapters")
TRAINING_KEYS = tuple(f.name for f in dataclasses.fields(MultiTaskTrainingArguments) if f.init and f.name != "output_dir")
LOCAL_KEY = "local"
# YAML reads an unquoted `no` as false; in these fields it means the strategy "no" (`eval_strategy=no`).
NO_STRATEGY_KEYS = ("eval_strategy", "save_strategy", "logging_strategy")


def _check_keys(mapping: dict[str, Any], valid: tuple[str, ...], where: str) -> None:
    for key in mapping:
        if key not in valid:
            listed = ", ".join(valid) if len(valid) <= 12 else "any field of MultiTaskTrainingArguments"
            raise RecipeError(f"{where}: unknown key {brief(key)}{did_you_mean(key, valid)}; valid keys: {listed}.")


@dataclass
class ModelSection:
    """Which model to start from: a pretrained ``encoder``, or a trained hf_mtl model (``from_model``)."""

    encoder: str = EMBEDDED_ENCODER
    from_model: str | None = None
    freeze_encoder: bool = False
    lora: dict[str, Any] | None = None  # peft.LoraConfig fields: train LoRA adapters instead of the whole encoder
    task_layers: int = 0  # every task (group) its own copy of the top N encoder layers; a task's own setting wins
    # every task (group) its own low-rank adapter with these settings (hf_mtl.modeling.task_adapters); a task's own
    # `task_adapters` (settings, true, false) adds to / overrides them
    task_adapters: dict[str, Any] | None = None

    def task_layer_layout(self, specs: list[TaskSpec]) -> dict[str, dict[str, Any]]:
        """``{unit: {"layers": k, "tasks": [...]}}`` for the units (groups, tasks) of ``specs`` with ``k > 0``."""
        layout: dict[str, dict[str, Any]] = {}
        for unit, members in group_tasks(specs).items():
            count = members[0].task_layers if members[0].task_layers is not None else self.task_layers
            if count:
                layout[unit] = {"layers": count, "tasks": [spec.name for spec in members]}
        return layout

    def task_adapter_layout(self, specs: list[TaskSpec]) -> dict[str, dict[str, Any]]:
        """``{unit: {"tasks": [...], **adapter settings}}`` for the units (groups, tasks) of ``specs`` with an adapter:
        the model's ``task_adapters`` settings updated by the unit's own (``false``: none, ``true``: the model's or the
        defaults)."""
        layout: dict[str, dict[str, Any]] = {}
        for unit, members in group_tasks(specs).items():
            own = members[0].task_adapters
            if own is False or (own is None and self.task_adapters is None):
                continue
            settings = {**(self.task_adapters or {}), **(own if isinstance(own, dict) else {})}
            layout[unit] = {"tasks": [spec.name for spec in members], **settings}
        return layout

    @property
    def encoder_path(self) -> str:
        """The encoder to load (the embedded MiniLM folder for ``embedded``)."""
        return default_encoder() if self.encoder == EMBEDDED_ENCODER else self.encoder

    @property
    def base_model_name(self) -> str:
        """The name a model card gives the starting point (the Hub id of the embedded MiniLM for ``embedded``)."""
        if self.from_model:
            return self.from_model
        return EMBEDDED_HUB_ID if self.encoder == EMBEDDED_ENCODER else self.encoder


@dataclass
class Recipe:
    """A loaded, checked recipe. Build one with :func:`load_recipe`."""

    path: Path | None
    output_dir: str
    model: ModelSection
    tasks: list[TaskSpec]
    training: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    description: str | None = None
    resume: bool | str | None = None
    overwrite: bool = False
    allow_changes: bool = False  # resume although the tasks, data, seed or sampling differ from the checkpoint's
    card: MultiTaskModelCardData = field(default_factory=MultiTaskModelCardData)  # the `card:` section

    @property
    def task_names(self) -> list[str]:
        return [task.name for task in self.tasks]

    def select_tasks(self, names: list[str]) -> list[TaskSpec]:
        """The specs of ``names``, in that order; an unknown name is a :class:`RecipeError`."""
        by_name = {task.name: task for task in self.tasks}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise RecipeError(f"Task(s) {unknown} are not in the recipe{did_you_mean(unknown[0], by_name)}; "
                              f"its tasks are {self.task_names}.")
        return [by_name[name] for name in names]

    def training_arguments(self, output_dir: str | None = None, **overrides: Any) -> MultiTaskTrainingArguments:
        """``MultiTaskTrainingArguments`` from the recipe's ``training`` section (plus ``overrides``)."""
        settings = {"report_to": "none", **self.training, **overrides}
        settings.update({key: "no" for key in NO_STRATEGY_KEYS if settings.get(key) is False})
        where = f"{self.path or 'recipe'}: training"
        _check_keys(settings, TRAINING_KEYS, where)
        # the recipe's own values (and command-line overrides) are checked; programmatic overrides (refine's
        # max_steps=0) are the caller's
        settings = {**settings, **_checked_training_values({k: v for k, v in settings.items() if k not in overrides}, where)}
        output_dir = str(Path(output_dir).expanduser()) if output_dir else self.output_dir
        try:
            return MultiTaskTrainingArguments(output_dir=output_dir, **settings)
        except Exception as error:  # TrainingArguments raises ValueError, TypeError, OverflowError, ... on bad values
            culprit = _failing_training_key(output_dir, settings)
            detail = str(error) if isinstance(error, HfMtlError) else f"{type(error).__name__}: {error}"
            raise RecipeError(f"{where}{f'.{culprit}' if culprit else ''}: {detail}") from None


def _check_lora(model: dict[str, Any], where: str) -> None:
    """Normalise `model.lora` (`true` = defaults) and check its fields against peft.LoraConfig now."""
    lora = model.get("lora")
    if lora in (None, False):
        model.pop("lora", None)
        return
    if lora is True:
        lora = model["lora"] = {}
    if not isinstance(lora, dict):
        raise RecipeError(f"{where}.lora: expected a mapping of peft.LoraConfig fields (or true), got {brief(lora)}.")
    if model.get("freeze_encoder"):
        raise RecipeError(f"{where}: lora already freezes the encoder (only adapters and heads train); drop freeze_encoder.")
    if model.get("from_model"):
        raise RecipeError(
            f"{where}: lora with from_model is not supported; merge the model's adapters or start from an encoder."
        )
    from ..modeling.lora import lora_config

    try:
        lora_config(lora)
    except HfMtlError as error:
        raise RecipeError(f"{where}.{error}") from None


# Counts and rates that must be >= the bound (None stays allowed where the argument is optional). `max_steps` also
# takes -1, transformers' "train num_train_epochs instead".
LOWER_BOUNDS = {"learning_rate": 0, "max_steps": 1, "per_device_train_batch_size": 1, "per_device_eval_batch_size": 1,
               "gradient_accumulation_steps": 1, "eval_accumulation_steps": 1, "save_total_limit": 1,
               "dataloader_num_workers": 0, "warmup_steps": 0, "seed": 0, "data_seed": 0}
# numpy's and torch's seeds are 32-bit unsigned: `seed: -1` or 2**32 failed inside set_seed, after the data was read.
UPPER_BOUNDS = {"seed": 2**32 - 1, "data_seed": 2**32 - 1}
POSITIVE_NUMBERS = ("num_train_epochs", "logging_steps", "save_steps", "eval_steps")
_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null",
               dict: "a mapping", list: "a list"}


@functools.cache
def _training_field_types() -> dict[str, tuple[type, ...] | None]:
    """The Python types each training argument accepts (None: not checked here, e.g. config objects)."""
    hints = typing.get_type_hints(MultiTaskTrainingArguments)
    accepted: dict[str, tuple[type, ...] | None] = {}
    for name in TRAINING_KEYS:
        hint = hints.get(name)
        members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        kinds: list[type] = []
        for member in members:
            origin = typing.get_origin(member) or member
            if origin is typing.Literal:
                kinds += [type(value) for value in typing.get_args(member)]
            elif origin is float:
                kinds += [float, int]
            elif isinstance(origin, type) and issubclass(origin, enum.Enum):
                kinds.append(str)
            elif origin in (int, bool, str, dict, list, type(None)):
                kinds.append(origin)
            else:
                kinds = []
                break
        accepted[name] = tuple(kinds) or None
    return accepted


@functools.cache
def _boolean_training_keys() -> tuple[str, ...]:
    """The training arguments that take true or false and no string."""
    return tuple(key for key, kinds in _training_field_types().items() if kinds and bool in kinds and str not in kinds)


def _checked_training_values(settings: dict[str, Any], where: str) -> dict[str, Any]:
    """Check each training argument's type and range, naming the field (transformers would fail much later, or
    silently train something else: `max_steps: -5` trained 3 epochs). Integral floats (`1e3`) become integers."""
    checked = dict(settings)
    for key, value in settings.items():
        accepted = _training_field_types().get(key)
        if accepted is None:
            continue
        if isinstance(value, float) and int in accepted and float not in accepted and value.is_integer():
            value = checked[key] = int(value)
        ok = isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted)
        if not ok:
            kinds = [kind for kind in accepted if not (kind is int and float in accepted)]  # "a number" covers both
            wanted = " or ".join(dict.fromkeys(_TYPE_NAMES.get(kind, kind.__name__) for kind in kinds))
            raise RecipeError(f"{where}.{key}: expected {wanted}, got {type(value).__name__} {brief(value)}.")
        if isinstance(value, float) and not math.isfinite(value):
            raise RecipeError(f"{where}.{key}: expected a finite number, got {brief(value)}.")
        bound = LOWER_BOUNDS.get(key)
        if bound is not None and value is not None and value < bound and not (key == "max_steps" and value == -1):
            hint = " (or leave it out and set num_train_epochs)" if key == "max_steps" else ""
            raise RecipeError(f"{where}.{key}: must be >= {bound}{hint}, got {brief(value)}.")
        upper = UPPER_BOUNDS.get(key)
        if upper is not None and value is not None and value > upper:
            raise RecipeError(f"{where}.{key}: must be <= {upper} (a 32-bit unsigned seed), got {brief(value)}.")
        if key in POSITIVE_NUMBERS and value is not None and value <= 0:
            raise RecipeError(f"{where}.{key}: must be > 0, got {brief(value)}.")
    return checked


def _failing_training_key(output_dir: str, settings: dict[str, Any]) -> str | None:
    """The one training setting that fails on its own (to name it in the error), if there is one."""
    for key, value in settings.items():
        if key == "report_to":
            continue
        try:
            MultiTaskTrainingArguments(output_dir=output_dir, report_to="none", **{key: value})
        except Exception:
            return key
    return None


def _parse_value(text: str, override: str, key: str = "") -> Any:
    if text == "":
        return ""
    parts = key.split(".")
    # tasks.<task>.<field>=VALUE: the value keeps its text where a name or label belongs, as in the recipe file;
    # yes/no in a setting that takes true or false are booleans, as in the file
    check = None
    if len(parts) == 3 and parts[0] == "tasks":
        check = lambda node: check_task_value(parts[2], node, key)  # noqa: E731
    elif parts[-1] in (*_boolean_training_keys(), *TOP_BOOLEAN_FIELDS, *MODEL_BOOLEAN_FIELDS):
        check = as_boolean
    try:
        return load_yaml(text, check=check)
    except ValueCheckError as error:
        raise RecipeError(f"Override '{override}': {yaml_problem(error)}") from None
    except yaml.YAMLError as error:
        raise RecipeError(
            f"Override '{override}': the value {brief(text)} is not a YAML scalar, list or mapping: {yaml_problem(error)}; "
            "quote it if it is a string."
        ) from None


def _normalized_key(key: str) -> str:
    """``max-steps`` -> ``max_steps`` when that names a setting; else the key as written, for the error to quote."""
    normalized = key.replace("-", "_")
    return normalized if "." not in key and normalized in (*RECIPE_KEYS, *TRAINING_KEYS) else key


def parse_overrides(arguments: list[str]) -> list[tuple[str, Any]]:
    """Parse ``key=value`` and ``--key value`` / ``--key=value`` overrides (values read as YAML scalars).

    Example:
        >>> parse_overrides(["learning_rate=1e-4", "--max_steps", "10", "tasks.ner.max_length=64"])
        [('learning_rate', 0.0001), ('max_steps', 10), ('tasks.ner.max_length', 64)]
    """
    parsed: list[tuple[str, Any]] = []
    position = 0
    while position < len(arguments):
        argument = arguments[position]
        if argument.startswith("--"):
            key = argument[2:]
            if "=" in key:
                key, value = key.split("=", 1)
            elif position + 1 < len(arguments) and not arguments[position + 1].startswith("--"):
                position += 1
                value = arguments[position]
            else:
                value = "true"
        elif "=" in argument:
            key, value = argument.split("=", 1)
        else:
            raise RecipeError(f"Override '{argument}' is not of the form key=value or --key value.")
        parsed.append((_normalized_key(key), _parse_value(value, argument, key)))
        position += 1
    return parsed


def apply_overrides(raw: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """Apply overrides to a raw recipe mapping.

    Keys: a top-level key (``output_dir``, ``data_dir``), ``model.<key>``, ``training.<key>`` or just ``<key>``
    for a training argument, and ``tasks.<task name>.<key>`` for one task's setting.
    """
    raw = copy.deepcopy(raw)
    for key, value in overrides:
        parts = key.split(".")
        if parts[0] in ("output_dir", "data_dir", "description", "resume", "overwrite", "allow_changes") and len(parts) == 1:
            raw[parts[0]] = value
        elif parts[0] == "model" and len(parts) == 2:
            raw.setdefault("model", {})[parts[1]] = value
        elif parts[0] == "training" and len(parts) == 2:
            raw.setdefault("training", {})[parts[1]] = value
        elif parts[0] == "tasks" and len(parts) == 3:
            tasks = {task.get("name"): task for task in raw.get("tasks") or [] if isinstance(task, dict)}
            if parts[1] not in tasks:
                raise RecipeError(f"Override '{key}': no task '{parts[1]}' in the recipe (tasks: {list(tasks)}).")
            tasks[parts[1]][parts[2]] = value
        elif len(parts) == 1 and parts[0] in TRAINING_KEYS:
            raw.setdefault("training", {})[parts[0]] = value
        else:
            valid = list(RECIPE_KEYS) + list(TRAINING_KEYS) + [f"model.{k}" for k in MODEL_KEYS]
            raise RecipeError(
                f"Override '{key}' names no recipe setting{did_you_mean(key, valid)}; use output_dir, data_dir, "
                "model.<key>, training.<key> (or just the training argument) or tasks.<task>.<key>."
            )
    return raw


def _resolve_task(task: Any, index: int, where: str, data_dir: Path | None) -> dict[str, Any]:
    if not isinstance(task, dict):
        raise RecipeError(f"{where}: tasks[{index}] must be a mapping (name, type, train, ...), got {brief(task)}.")
    task = dict(task)
    local = task.pop(LOCAL_KEY, None)
    if local is not None and data_dir is not None:
        if not isinstance(local, dict):
            raise RecipeError(f"{where}: task '{task.get('name')}': `local` must be a mapping of task settings.")
        for split in ("train", "validation", "test"):
            task.pop(split, None)
        task.update(local)
    return task


def _resume_setting(raw: dict[str, Any], training: dict[str, Any], where: str) -> tuple[bool | str | None, dict]:
    """`resume: true|PATH`, or the training argument `resume_from_checkpoint` (which `Trainer.train` ignores unless
    told: hf-mtl passes it on), as one setting; the training section without it."""
    resume = raw.get("resume")
    from_training = training.get("resume_from_checkpoint")
    if from_training is not None:
        if resume is not None and resume != from_training:
            raise RecipeError(
                f"{where}: `resume: {resume}` and `training.resume_from_checkpoint: {from_training}` disagree; keep one."
            )
        resume = from_training
        training = {key: value for key, value in training.items() if key != "resume_from_checkpoint"}
    if resume is not None and not isinstance(resume, (bool, str)) or resume == "":
        raise RecipeError(
            f"{where}: `resume` must be true (the newest complete checkpoint in output_dir) or a checkpoint folder, "
            f"got {brief(resume)}."
        )
    return expand_home(resume), training


def _check_model_source(value: str | None, key: str, where: str) -> None:
    """A model folder that does not exist is reported as such (not as a Hub id that cannot be reached)."""
    if value is None or value == EMBEDDED_ENCODER:
        return
    if not isinstance(value, str) or not value:
        raise RecipeError(f"{where}: model.{key} must be a model folder or a Hub id, got {brief(value)}.")
    folder = Path(value).expanduser()
    if folder.exists():
        if not folder.is_dir():
            raise RecipeError(f"{where}: model.{key}: {value} is a file; give a model folder or a Hub id.")
        return
    if not HUB_ID_PATTERN.match(value) or value.endswith((".json", ".safetensors", ".bin")):
        raise RecipeError(
            f"{where}: model.{key}: the folder {value} does not exist (resolved: {folder.resolve()}); give an existing "
            "model folder or a Hub id such as 'bert-base-cased'."
        )


def _task_specs(entries: list[Any], path: Path, where: str, data_base: Path | None) -> list[TaskSpec]:
    """The recipe's ``tasks:`` as checked :class:`TaskSpec` objects: unique names, groups that agree."""
    tasks: list[TaskSpec] = []
    for index, entry in enumerate(entries):
        has_local = isinstance(entry, dict) and LOCAL_KEY in entry
        task = _resolve_task(entry, index, where, data_base)
        base = data_base if (has_local and data_base is not None) else path.parent
        try:
            tasks.append(TaskSpec.from_dict(task, where=where, base_dir=base))
        except HfMtlError as error:
            raise RecipeError(str(error)) from None
    names = [task.name for task in tasks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RecipeError(f"{where}: duplicate task name(s) {duplicates}; every task needs its own name.")
    try:
        group_tasks(tasks)  # the tasks of a group agree on what they share
    except HfMtlError as error:
        raise RecipeError(f"{where}: {error}") from None
    return tasks


def _read_yaml(path: Path) -> dict[str, Any]:
    """The recipe file as a mapping (safe loading), or a :class:`RecipeError` naming the line and column."""
    if not path.is_file():
        raise RecipeError(f"Recipe file {path} does not exist.")
    try:
        text = path.read_bytes().decode("utf-8")
        raw = load_yaml(text, check=lambda node: check_recipe_values(node, _boolean_training_keys()))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        position = editor_position(text, mark.index) if mark is not None else None
        if isinstance(error, ValueCheckError):  # valid YAML, but a value or key the recipe cannot take as written
            at = ", line {}, column {}".format(*position) if position else ""
            raise RecipeError(f"{path}{at}: {yaml_problem(error)}") from None
        at = " at line {}, column {}".format(*position) if position else ""
        raise RecipeError(f"{path} is not valid YAML{at}: {yaml_problem(error)}") from None
    except UnicodeDecodeError as error:
        raise RecipeError(f"{path} is not UTF-8 text (byte {error.start}).") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping with keys {', '.join(RECIPE_KEYS)}; got {type(raw).__name__}.")
    return raw


def load_recipe(path: str | Path, overrides: list[str] | list[tuple[str, Any]] | None = None) -> Recipe:
    """Load and check a recipe file, applying command-line style overrides.

    Relative data paths are resolved against the recipe's folder, or against ``data_dir`` (relative to the
    current directory) for the ``local`` settings of tasks that also name a Hub dataset
    (``--data_dir ../shared/data`` runs them on local files).

    Raises:
        RecipeError: the file is missing or not YAML, a required field is missing, or a key is unknown.
    """
    path = Path(path)
    raw = _read_yaml(path)
    if overrides:
        pairs = overrides if isinstance(overrides[0], tuple) else parse_overrides(list(overrides))
        raw = apply_overrides(raw, pairs)
    where = str(path)
    _check_keys(raw, RECIPE_KEYS, where)
    for required in ("output_dir", "tasks"):
        if required not in raw or raw[required] in (None, ""):
            raise RecipeError(f"{where}: missing required field '{required}'.")
    model = raw.get("model") or {}
    if not isinstance(model, dict):
        raise RecipeError(f"{where}: `model` must be a mapping with keys {', '.join(MODEL_KEYS)}.")
    _check_keys(model, MODEL_KEYS, f"{where}: model")
    if not isinstance(model.get("freeze_encoder", False), bool):  # a string such as "maybe" would freeze it
        raise RecipeError(f"{where}: model.freeze_encoder must be true or false, got {brief(model['freeze_encoder'])}.")
    _check_lora(model, f"{where}: model")
    layers = model.get("task_layers", 0)
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
        raise RecipeError(f"{where}: model.task_layers must be a whole number >= 0 (top encoder layers each task gets "
                          f"of its own), got {brief(layers)}.")
    adapters = model.get("task_adapters")
    if adapters in (None, False):
        model.pop("task_adapters", None)
    else:
        model["task_adapters"] = {} if adapters is True else adapters
        try:
            check_adapter_settings(model["task_adapters"], f"{where}: model.task_adapters")
        except HfMtlError as error:
            raise RecipeError(str(error)) from None
        if layers:
            raise RecipeError(f"{where}: model.task_layers and model.task_adapters: give the tasks one kind of "
                              "capacity of their own (top layers or adapters), not both.")
    training = raw.get("training") or {}
    if not isinstance(training, dict):
        raise RecipeError(f"{where}: `training` must be a mapping of training arguments.")
    _check_keys(training, TRAINING_KEYS, f"{where}: training")
    if not isinstance(raw["tasks"], list) or not raw["tasks"]:
        raise RecipeError(f"{where}: `tasks` must be a non-empty list of task mappings.")
    for key in ("output_dir", "data_dir", "description"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise RecipeError(f"{where}: `{key}` must be a string (a path), got {type(raw[key]).__name__} {brief(raw[key])}.")

    data_dir = raw.get("data_dir")
    # data_dir is a command-line style option: relative to the current directory, like output_dir.
    data_base = Path(data_dir).expanduser().resolve() if data_dir else None
    tasks = _task_specs(raw["tasks"], path, where, data_base)
    output_dir = Path(raw["output_dir"]).expanduser()  # one folder for every check, the lock and training
    resume, training = _resume_setting(raw, training, where)
    for flag in ("overwrite", "allow_changes"):
        if not isinstance(raw.get(flag, False), bool):
            raise RecipeError(f"{where}: `{flag}` must be true or false, got {brief(raw[flag])}.")
    model = {key: expand_home(value) if key in ("encoder", "from_model") else value for key, value in model.items()}
    section = ModelSection(**model)
    for key in ("encoder", "from_model"):
        _check_model_source(getattr(section, key), key, where)
    recipe = Recipe(
        path=path,
        output_dir=str(output_dir),
        model=section,
        tasks=tasks,
        training=training,
        data_dir=str(data_base) if data_base else None,
        description=raw.get("description"),
        resume=resume,
        overwrite=raw.get("overwrite", False),
        allow_changes=raw.get("allow_changes", False),
        card=MultiTaskModelCardData.from_recipe(raw.get("card"), f"{where}: card", [t.name for t in tasks]),
    )
    recipe.training_arguments()  # check the training section now, before any data is read
    return recipe
