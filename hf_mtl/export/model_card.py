"""The model card (README.md) of a trained hf_mtl model: the same card from ``trainer.save_model()``,
``trainer.push_to_hub()`` and ``hf-mtl train``.

:class:`MultiTaskModelCardData` holds what the card says (the user's fields, and those filled in while training)
and renders it (template ``hf_mtl/templates/model_card.md``; metadata and ``model-index`` through
huggingface_hub's ``ModelCardData``/``EvalResult``). The trainer's side (the callback that fills it, and
``create_model_card`` / ``save_model`` / ``push_to_hub``) is in :mod:`hf_mtl.training.model_card_callback`. A README.md
that hf_mtl did not write (no :data:`CARD_MARKER` line) is never overwritten: the card then goes to
:data:`SIDE_CARD_FILE`, with a warning.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.repocard_data import eval_results_to_model_index

from ..metrics.keys import EVAL_PREFIX, NOT_SCORES, average_key, main_metric_key, parse_metric_key
from ..modeling.configuration_multitask import HF_MTL_VERSION
from ..modeling.errors import RecipeError, did_you_mean
from ..modeling.task_kinds import task_kind, task_problem
from .public_names import is_hub_id, public_name

logger = logging.getLogger("hf_mtl")

CARD_FILE = "README.md"
SIDE_CARD_FILE = "README.hf_mtl.md"  # where the card goes when README.md is the user's own
CARD_MARKER = (
    "<!-- Written by hf_mtl, which rewrites this file when the model is saved or pushed. Delete this line to keep "
    "your own edits: hf_mtl then writes its card to README.hf_mtl.md instead. -->"
)
MODEL_ID_PLACEHOLDER = "path/or/hub-id-of-this-model"  # in "how to use" until the Hub id is known
TEMPLATE_PATH = Path(__file__).parent / "templates" / "model_card.md"
DEFAULT_TAGS = ("hf-mtl", "multi-task")
# What the card says, kept beside the weights so that `hf-mtl evaluate` can add its scores to the card later.
# Not uploaded ("_*" files are never pushed): it is the card's source, the card itself is README.md.
CARD_DATA_FILE = "_hf_mtl_card.json"
RECIPE_CARD_KEYS = ("model_name", "license", "language", "datasets", "tags")  # a recipe's `card:` section


class _PerTaskCardData(ModelCardData):
    """``ModelCardData`` whose ``model-index`` holds one result per task and split.

    huggingface_hub groups results by task type and dataset: two tasks of a task group (the same file, the same
    type) became one result named after the first task, holding the other's metric too. Here each result is one
    task's, its metrics under its name.
    """

    def _to_dict(self, data_dict: dict[str, Any]) -> None:
        if self.eval_results is None:
            return
        groups: dict[tuple[Any, ...], list[EvalResult]] = {}
        for result in self.eval_results:
            groups.setdefault((result.task_name, *result.unique_identifier), []).append(result)
        results = [entry for group in groups.values()
                   for entry in eval_results_to_model_index(self.model_name, group)[0]["results"]]
        data_dict["model-index"] = [{"name": self.model_name, "results": results}]
        del data_dict["eval_results"], data_dict["model_name"]


@dataclass
class DatasetRef:
    """One split's data as a card names it: by Hub id, or by file or folder *name* (never a local path).

    Args:
        name: the Hub dataset id, or the file/folder name.
        hub_id: the Hub dataset id (``None`` for local data).
        config: the Hub dataset configuration.
        split: the split name in that dataset or file (``validation`` for one carved from train).
        note: how it was derived, e.g. ``"carved from train"``.
    """

    name: str
    hub_id: str | None = None
    config: str | None = None
    split: str | None = None
    note: str | None = None

    @classmethod
    def from_source(cls, source: Any, split: str) -> DatasetRef | None:
        """The reference for a :class:`~hf_mtl.data.sources.DataSource` used as ``split`` (``None`` without one)."""
        if source is None:
            return None
        name, path = getattr(source, "name", None), getattr(source, "path", None)
        if getattr(source, "format", None) == "hub" and name:
            if is_hub_id(name):
                return cls(name=name, hub_id=name, config=source.config, split=source.split or split)
            return cls(name=Path(name).name, split=source.split or split)  # a local dataset folder
        if path:
            return cls(name=Path(path).name, split=getattr(source, "split", None) or split)
        return cls(name="a dataset given in Python", split=split)

    def describe(self) -> str:
        text = f"`{self.name}`" + (f" ({self.config})" if self.config else "")
        if self.hub_id:
            text = f"[{text}](https://huggingface.co/datasets/{self.hub_id})"
        return text + (f", {self.note}" if self.note else "")


@dataclass
class MultiTaskModelCardData:
    """What the model card of a multi-task model says.

    Args:
        language: the language(s) of the model, e.g. ``"en"`` or ``["en", "de"]``.
        license: e.g. ``"apache-2.0"``.
        model_name: the card's title (default: ``"<encoder> multi-task model: <tasks>"``).
        model_id: the Hub id used in the card's "how to use" (set by ``push_to_hub`` from ``hub_model_id``).
        base_model: the Hub id of the encoder or model this one was fine-tuned from (default: inferred from the
            model; a local folder is named by its folder name only).
        datasets: ``{task: Hub dataset id}``; overrides what :meth:`add_tasks` found for those tasks.
        pipeline_tag: the Hub's pipeline tag (default: the first task's type; the Hub allows one).
        tags: extra tags (``hf-mtl``, ``multi-task`` and the task types are always there).
        eval_splits: ``{task: split}`` that ``eval_``-prefixed scores were computed on (default ``validation``);
            scores with another prefix name their split by it (``test_ner_f1`` is on ``test``).

    Filled in while training (not arguments): ``task_data`` (task -> split -> :class:`DatasetRef`), ``task_inputs``
        (task -> what it reads: a text, a text pair and its columns), ``task_groups`` (task -> its task group),
        ``results``
    (task -> split -> metrics, with the step), ``averages``, ``eval_lines`` (evaluations during training),
    ``hyperparameters``, ``train_info``, ``examples_seen``, ``notes``.

    Example:
        ```python
        >>> card_data = MultiTaskModelCardData(language="en", license="apache-2.0", datasets={"ner": "eriktks/conll2003"})
        >>> trainer = MultiTaskTrainer(model=model, args=args, ..., model_card_data=card_data.add_tasks(data))
        >>> trainer.push_to_hub()  # README.md: tasks, labels, per-task scores and splits, model-index
        ```
    """

    language: str | list[str] | None = None
    license: str | None = None
    model_name: str | None = None
    model_id: str | None = None
    base_model: str | None = None
    datasets: dict[str, str] = field(default_factory=dict)
    pipeline_tag: str | None = None
    tags: list[str] = field(default_factory=list)
    eval_splits: dict[str, str] = field(default_factory=dict)

    task_data: dict[str, dict[str, DatasetRef]] = field(default_factory=dict, init=False)
    task_inputs: dict[str, str] = field(default_factory=dict, init=False)
    task_groups: dict[str, str] = field(default_factory=dict, init=False)
    results: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, init=False)
    averages: dict[str, float] = field(default_factory=dict, init=False)
    eval_lines: list[dict[str, Any]] = field(default_factory=list, init=False)
    hyperparameters: dict[str, Any] = field(default_factory=dict, init=False)
    train_info: dict[str, Any] = field(default_factory=dict, init=False)
    examples_seen: dict[str, int] = field(default_factory=dict, init=False)
    notes: list[str] = field(default_factory=list, init=False)

    # ------------------------------------------------------------------ filling in
    def add_tasks(self, tasks: Mapping[str, Any] | Iterable[Any]) -> MultiTaskModelCardData:
        """Record where each task's data came from (by Hub id or file name) and its preparation notes.

        Args:
            tasks: ``{name: TaskData}`` as returned by ``prepare_task``, or :class:`~hf_mtl.data.tasks.TaskSpec`\\ s.

        Returns:
            ``self``, to chain.
        """
        items = tasks.values() if isinstance(tasks, Mapping) else tasks
        for item in items:
            spec = getattr(item, "spec", item)
            splits = {split: DatasetRef.from_source(getattr(spec, split, None), split)
                      for split in ("train", "validation", "test")}
            for split in ("validation", "test"):
                carved = split == "validation" or getattr(spec, "test_fraction", None) is not None
                if splits[split] is None and splits["train"] is not None and carved:
                    splits[split] = dataclasses.replace(splits["train"], split=split, note="carved from train")
            self.task_data[spec.name] = {split: ref for split, ref in splits.items() if ref is not None}
            pair = getattr(spec, "text_pair_column", None)
            if pair:
                self.task_inputs[spec.name] = f"text pair (`{spec.text_column}`, `{pair}`)"
            elif hasattr(spec, "is_token_task"):
                self.task_inputs[spec.name] = "words" if spec.is_token_task else "text"
            if getattr(spec, "group", None):
                self.task_groups[spec.name] = spec.group
            for report in (getattr(item, "truncation", None) or {}).values():
                if getattr(report, "any_loss", False) and str(report) not in self.notes:  # a group's tasks share one
                    self.notes.append(str(report))
        return self

    def record_metrics(self, metrics: Mapping[str, Any], tasks: Iterable[str], step: int, epoch: float | None,
                       in_training: bool) -> None:
        """Keep the scores in ``metrics`` (``<prefix>_<task>_<metric>``), each under the split it was computed on."""
        tasks = list(tasks)
        if not tasks:
            return
        found: dict[tuple[str, str], dict[str, float]] = {}
        for key, value in metrics.items():
            parsed = parse_metric_key(key, tasks)
            if parsed is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            prefix, task, metric = parsed
            if metric in NOT_SCORES:
                continue
            found.setdefault((task, prefix), {})[metric] = float(value)
        splits: dict[str, set[str]] = {}
        for (task, prefix), scores in found.items():
            split = self.eval_splits.get(task, "validation") if prefix == EVAL_PREFIX else prefix
            splits.setdefault(prefix, set()).add(split)
            self.results.setdefault(task, {})[split] = {"metrics": scores, "step": step}
        for prefix, split_names in splits.items():
            if isinstance(metrics.get(average_key(prefix)), (int, float)):
                self.averages[" + ".join(sorted(split_names))] = float(metrics[average_key(prefix)])
        if in_training and found:
            line: dict[str, Any] = {"step": step, "epoch": round(epoch, 2) if epoch is not None else None}
            line.update({task: scores for (task, _), scores in found.items()})
            self.eval_lines.append(line)

    # ------------------------------------------------------------------ rendering
    def _base_model(self, model: Any) -> tuple[str | None, str | None]:
        """(Hub id or None, how the text names it): a local folder is named by its name only."""
        name = self.base_model or getattr(model.config, "_name_or_path", None) or None
        if not name:
            return None, None
        name = public_name(name) or name
        if is_hub_id(name):
            return name, f"[{name}](https://huggingface.co/{name})"
        return None, f"a local model (`{Path(name).name}`)"

    def _dataset_for(self, task: str, split: str) -> DatasetRef:
        if task in self.datasets:
            return DatasetRef(name=self.datasets[task], hub_id=self.datasets[task], split=split)
        known = self.task_data.get(task, {})
        if split in known:
            return known[split]
        train = known.get("train")
        if train is not None and train.hub_id:  # another split of the same Hub dataset
            return dataclasses.replace(train, split=split, note=None)
        return DatasetRef(name=f"{task} {split} data", split=split)

    def _eval_results(self, tasks: Mapping[str, Any], task_metrics: Mapping[str, str]) -> list[EvalResult]:
        results = []
        for task, settings in tasks.items():
            key = main_metric_key(task_metrics[task]) if task in task_metrics else None
            for split, entry in self.results.get(task, {}).items():
                if key not in entry["metrics"]:
                    continue
                ref = self._dataset_for(task, split)
                results.append(EvalResult(
                    task_type=settings["type"], task_name=task, dataset_type=ref.hub_id or ref.name,
                    dataset_name=ref.name, dataset_config=ref.config, dataset_split=ref.split or split,
                    metric_type=key, metric_name=f"{task} {split} {key}",
                    metric_value=round(entry["metrics"][key], 4),
                ))
        return results

    def to_model_card(self, model: Any, task_metrics: Mapping[str, str]) -> ModelCard:
        """Render the card of ``model`` (its config lists the tasks and labels) from this data."""
        tasks = dict(model.config.tasks)
        base_id, base_text = self._base_model(model)
        dataset_ids = sorted({ref.hub_id for refs in self.task_data.values() for ref in refs.values() if ref.hub_id}
                             | set(self.datasets.values()))
        encoder_type = model.config.encoder.model_type
        model_name = self.model_name or default_title(base_id or base_text, encoder_type, list(tasks))
        card_data = _PerTaskCardData(
            language=self.language, license=self.license, library_name="transformers",
            pipeline_tag=self.pipeline_tag or next(iter(tasks.values()))["type"],
            tags=[*DEFAULT_TAGS, *sorted({s["type"] for s in tasks.values()}), *self.tags],
            base_model=base_id, datasets=dataset_ids or None, model_name=model_name,
            eval_results=self._eval_results(tasks, task_metrics) or None,
        )
        card = ModelCard.from_template(
            card_data, template_path=str(TEMPLATE_PATH), marker=CARD_MARKER, model_name=model_name,
            encoder_type=encoder_type, base_model=base_text,
            model_id=self.model_id or MODEL_ID_PLACEHOLDER, first_task=next(iter(tasks)),
            example="Angela Merkel visited Paris on Tuesday.",
            **self._body(tasks, task_metrics),
        )
        card.data = card_data  # from_template re-parses the metadata into a plain ModelCardData, which re-merges
        return card

    def _body(self, tasks: Mapping[str, Any], task_metrics: Mapping[str, str]) -> dict[str, Any]:
        """The template's tables and lists (plain strings: the template only lays them out)."""
        task_rows, result_rows = [], []
        for task, settings in tasks.items():
            labels = [str(label) for _, label in sorted(settings.get("id2label", {}).items(), key=lambda i: int(i[0]))]
            metric = task_metrics.get(task, "")
            key = main_metric_key(metric) if metric else ""
            kind = settings["type"] + (f" ({settings['problem_type']})" if settings.get("problem_type") else "")
            if settings.get("standardize"):  # the head learns (y - mean) / std; it outputs the raw scale
                scale = settings["standardize"]
                kind += f", targets standardised (train mean {scale['mean']:.4g}, std {scale['std']:.4g})"
            train_ref = self.task_data.get(task, {}).get("train")
            if task in self.datasets:
                train_ref = DatasetRef(name=self.datasets[task], hub_id=self.datasets[task])
            task_rows.append({
                "name": task, "type": kind, "num_labels": len(labels),
                "input": self.task_inputs.get(task, "-"), "group": self.task_groups.get(task, "-"),
                "metric": f"{metric} ({key})" if metric else "", "train_data": train_ref.describe() if train_ref else "-",
                "labels": ("(the encoder's vocabulary: masked-lm)" if task_kind(settings["type"]).raw_text
                           else "(regression)") if task_problem(settings).fixed_labels else
                ", ".join(f"`{label}`" for label in labels[:40]) + (" ..." if len(labels) > 40 else ""),
            })
            for split, entry in self.results.get(task, {}).items():
                score = entry["metrics"].get(key)
                result_rows.append({
                    "task": task, "split": split, "data": self._dataset_for(task, split).describe(),
                    "metric": key, "score": f"{score:.4f}" if score is not None else "-", "step": entry["step"],
                })
        data_lines = [f"{task}, {split}: {ref.describe()}" for task, refs in self.task_data.items()
                      for split, ref in refs.items()]
        return {
            "tasks": task_rows, "results": result_rows, "has_groups": bool(self.task_groups),
            "has_pairs": any(value.startswith("text pair") for value in self.task_inputs.values()), "data_lines": data_lines, "notes": self.notes,
            "averages": [{"split": split, "score": f"{score:.4f}"} for split, score in self.averages.items()],
            "eval_lines": _eval_table(self.eval_lines, task_metrics),
            "train_summary": _train_summary(self.train_info),
            "examples_seen": ", ".join(f"{unit} {self.examples_seen[unit]:,}" for unit in (  # tasks, then groups
                [t for t in tasks if t in self.examples_seen] + sorted(set(self.examples_seen) - set(tasks)))),
            "all_metrics": [f"{task}, {split}: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(e["metrics"].items()))
                            for task in tasks for split, e in self.results.get(task, {}).items()],
            "hyperparameters": [(name, str(getattr(value, "value", value)))  # enums by their value
                                for name, value in self.hyperparameters.items()],
            "versions": list(library_versions().items()),
        }


    # ------------------------------------------------------------------ recipes
    @classmethod
    def from_recipe(cls, section: Any, where: str, tasks: Iterable[str]) -> MultiTaskModelCardData:
        """The card data a recipe's ``card:`` section sets: ``model_name`` (the title), ``license``, ``language``
        (a code or a list), ``datasets`` (a Hub dataset id for every task, or ``{task: id}``) and ``tags``.

        Raises:
            RecipeError: an unknown key, a value of the wrong kind, a ``datasets`` key that is not a task.
        """
        section = section or {}
        if not isinstance(section, dict):
            raise RecipeError(f"{where}: `card` must be a mapping with keys {', '.join(RECIPE_CARD_KEYS)}")
        for key in section:
            if key not in RECIPE_CARD_KEYS:
                raise RecipeError(f"{where}: unknown key {key!r}{did_you_mean(str(key), RECIPE_CARD_KEYS)}; valid "
                                  f"keys: {', '.join(RECIPE_CARD_KEYS)}")
        for key in ("model_name", "license"):
            if section.get(key) is not None and not isinstance(section[key], str):
                raise RecipeError(f"{where}.{key}: expected text, got {section[key]!r}")
        for key in ("language", "tags"):
            value = section.get(key)
            if value is not None and not (isinstance(value, str) or isinstance(value, list)
                                          and all(isinstance(v, str) for v in value)):
                raise RecipeError(f"{where}.{key}: expected text or a list of text, got {value!r}")
        tasks = list(tasks)
        datasets = section.get("datasets") or {}
        if isinstance(datasets, str):
            datasets = dict.fromkeys(tasks, datasets)
        if not isinstance(datasets, dict) or not all(isinstance(v, str) for v in datasets.values()):
            raise RecipeError(f"{where}.datasets: expected a Hub dataset id, or {{task: Hub dataset id}}, got "
                              f"{datasets!r}")
        for task in datasets:
            if task not in tasks:
                raise RecipeError(f"{where}.datasets: {task!r} is not a task of the recipe{did_you_mean(str(task), tasks)}"
                                  f" (its tasks: {', '.join(tasks)})")
        tags = section.get("tags") or []
        return cls(language=section.get("language"), license=section.get("license"),
                   model_name=section.get("model_name"), datasets=dict(datasets),
                   tags=[tags] if isinstance(tags, str) else list(tags))

    # ------------------------------------------------------------------ persistence
    def to_json_dict(self) -> dict[str, Any]:
        """Every field as JSON values (hyperparameters as text), for :func:`save_card_data`."""
        out = dataclasses.asdict(self)
        out["hyperparameters"] = {name: str(getattr(value, "value", value)) for name, value in self.hyperparameters.items()}
        return out

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> MultiTaskModelCardData:
        """The card data :meth:`to_json_dict` wrote (unknown keys are ignored)."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        card = cls(**{k: v for k, v in data.items() if k in names and names[k].init})
        for key in (n for n, f in names.items() if not f.init and n in data):
            setattr(card, key, data[key])
        card.task_data = {task: {split: DatasetRef(**ref) for split, ref in refs.items()}
                          for task, refs in (data.get("task_data") or {}).items()}
        return card


def default_title(base: str | None, encoder_type: str, tasks: list[str]) -> str:
    """The card's title without ``model_name``: the base model's name and the tasks, e.g.
    ``all-MiniLM-L6-v2 fine-tuned for ner, pos and sentiment``."""
    match = re.search(r"`([^`]+)`", base or "")
    name = (match.group(1) if match else (base or "").rsplit("/", 1)[-1]) or f"{encoder_type} encoder"
    listed = tasks[0] if len(tasks) == 1 else f"{', '.join(tasks[:-1])} and {tasks[-1]}"
    return f"{name} fine-tuned for {listed}" if len(tasks) <= 6 else f"{name} fine-tuned for {len(tasks)} tasks"


def save_card_data(data: MultiTaskModelCardData, folder: str | os.PathLike) -> Path:
    """Write ``data`` as :data:`CARD_DATA_FILE` in ``folder`` (what a later ``hf-mtl evaluate`` adds to)."""
    path = Path(folder) / CARD_DATA_FILE
    path.write_text(json.dumps(data.to_json_dict(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_card_data(folder: str | os.PathLike) -> MultiTaskModelCardData | None:
    """The card data saved with the model in ``folder``, or ``None`` when there is none (or it is unreadable)."""
    try:
        return MultiTaskModelCardData.from_json_dict(json.loads((Path(folder) / CARD_DATA_FILE).read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _eval_table(lines: list[dict[str, Any]], task_metrics: Mapping[str, str]) -> str:
    """Markdown table of the evaluations during training: the main metric of each task."""
    if not lines:
        return ""
    columns = list(dict.fromkeys(column for line in lines for column in line if column not in ("step", "epoch")))
    keys = {task: main_metric_key(task_metrics[task]) if task in task_metrics else None for task in columns}
    header = ["step", "epoch", *(f"{task} {keys[task] or ''}".strip() for task in columns)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for line in lines:
        cells = [str(line["step"]), "-" if line["epoch"] is None else str(line["epoch"])]
        for task in columns:
            scores = line.get(task, {})
            cells.append(f"{scores[keys[task]]:.4f}" if keys[task] in scores else "-")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _train_summary(info: Mapping[str, Any]) -> str:
    text = ""
    if "global_step" in info:  # set with train_runtime, from the Trainer's last log
        epochs = f" ({info['epoch']:.2f} epochs of the sampled task stream)" if info.get("epoch") is not None else ""
        text = f"Trained for {info['global_step']} optimizer steps{epochs} in {info['train_runtime']:.1f} s. "
    counts = info.get("parameter_counts")
    if counts:  # shared vs each task's own (its head and, with task_layers / task_adapters, its layers / adapter)
        entries = counts["tasks"].values()
        own = ", ".join(f"{task} {entry['head'] + entry['layers'] + entry.get('adapter', 0):,}"
                        for task, entry in counts["tasks"].items())
        layers = any(entry["layers"] for entry in entries)
        adapter = any(entry.get("adapter") for entry in entries)
        what = "head and top layers" if layers else "head and low-rank adapter" if adapter else "head"
        text += (f"{counts['total']:,} parameters: {counts['shared']:,} shared by every task (the encoder"
                 f"{' below the task-specific top layers' if layers else ''}), each task's own ({what}): {own}.")
    elif "num_parameters" in info:
        text += f"{info['num_parameters']:,} parameters (encoder and heads)."
    return text.strip()


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that trained the model."""
    import datasets
    import huggingface_hub
    import tokenizers
    import torch
    import transformers

    return {"python": platform.python_version(), "hf_mtl": HF_MTL_VERSION, "transformers": transformers.__version__,
            "torch": torch.__version__, "datasets": datasets.__version__, "tokenizers": tokenizers.__version__,
            "huggingface_hub": huggingface_hub.__version__}


def is_hf_mtl_card(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a card that hf_mtl wrote (and may rewrite): it holds :data:`CARD_MARKER`."""
    try:
        return CARD_MARKER in Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def write_model_card(card: ModelCard, folder: str | os.PathLike) -> Path:
    """Save ``card`` as ``folder/README.md``, unless a README.md that hf_mtl did not write is there.

    That one is kept and the card goes to ``folder/README.hf_mtl.md`` (not pushed to the Hub), with a warning.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CARD_FILE
    if path.exists() and not is_hf_mtl_card(path):
        path = folder / SIDE_CARD_FILE
        logger.warning("%s in %s was not written by hf_mtl: kept it, and wrote the hf_mtl model card to %s instead "
                       "(delete %s to let hf_mtl write it).", CARD_FILE, folder, SIDE_CARD_FILE, CARD_FILE)
    card.save(path)
    return path


def set_card_model_id(folder: str | os.PathLike, model_id: str) -> bool:
    """Name ``model_id`` in the "how to use" code of the hf_mtl card in ``folder`` (before a push); returns whether
    the card changed. A README.md that hf_mtl did not write is left alone."""
    path = Path(folder) / CARD_FILE
    text = path.read_text(encoding="utf-8") if is_hf_mtl_card(path) else ""
    head, use, code = text.partition("\n## Use\n")
    # the section's only quoted model references: pipeline(..., model="...") and from_pretrained("...")
    updated = head + use + re.sub(r'(model="|from_pretrained\(")[^"\n]*"', lambda m: f'{m[1]}{model_id}"', code)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated != text
