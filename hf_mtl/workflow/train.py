"""From a recipe to a trained, saved, evaluated model: the one code path behind `hf-mtl train`, `evaluate` and
`compare` (the single-task baselines of `compare` are this same path with one task)."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PrinterCallback, set_seed

from ..data import TaskData, prepare_group, prepare_task, prepare_tokenizer
from ..data.tasks import TaskSpec, group_tasks
from ..export.model_card import (
    CARD_FILE,
    MultiTaskModelCardData,
    is_hf_mtl_card,
    load_card_data,
    save_card_data,
    write_model_card,
)
from ..metrics.keys import average_key, main_metric_key, main_score_key
from ..modeling.configuration_multitask import MultiTaskConfig
from ..modeling.encoder_families import check_backbone, unsupported_gradient_checkpointing
from ..modeling.errors import HfMtlError, RecipeError, TaskError
from ..modeling.modeling_loading import remote_code_refusal
from ..modeling.modeling_multitask import MultiTaskModel
from ..modeling.task_adapters import normalize_task_adapters
from ..modeling.task_layers import format_parameter_counts, normalize_task_layers, parameter_counts
from ..training.checkpoints import RunRecordCallback, checkpoint_problem, checkpoint_requirements
from ..training.trainer import MultiTaskTrainer
from .disk import check_disk_space, save_final_model
from .plotting import plot_training_curves
from .preflight import check_against_model, check_before_training, check_label_counts
from .recipe import Recipe
from .run_folders import (
    GracefulInterrupt,
    TrainingInterrupted,
    TrainingOutput,
    is_main_process,
    output_lock,
    plan_training_output,
    refuse_same_folder,
)
from .run_record import check_resume, early_run_record, run_record

logger = logging.getLogger("hf_mtl")

EVAL_RESULTS_FILE = "eval_results.json"
TRAIN_SUMMARY_FILE = "train_summary.json"


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        output_dir: the saved model folder.
        metrics: final evaluation metrics (`eval_<task>_<metric>`, `eval_average`).
        train_seconds: wall time of `trainer.train()`.
        examples_seen: training examples drawn per task (all processes).
        num_parameters: parameters of the model (encoder + heads).
        task_metrics: the metric used per task.
    """

    output_dir: str
    metrics: dict[str, float]
    train_seconds: float
    examples_seen: dict[str, int]
    num_parameters: int
    task_metrics: dict[str, str] = field(default_factory=dict)

    def main_scores(self) -> dict[str, float]:
        """Each task's main metric, e.g. `{"ner": 0.71, "sentiment": 0.83}`."""
        scores = {}
        for task, metric in self.task_metrics.items():
            key = main_score_key(task, metric)
            if key in self.metrics:
                scores[task] = self.metrics[key]
        return scores


def _first_line(error: BaseException) -> str:
    """The error's first line; a first line that announces a list (``...from one of:``) keeps the list, on one line."""
    text = str(error).strip()
    if not text:
        return type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines)[:600] if lines[0].endswith(":") else lines[0]


def load_tokenizer(path: str, what: str = "`model.encoder` / `model.from_model`") -> Any:
    """The fast tokenizer of a model folder or Hub id; one that cannot be loaded is a :class:`RecipeError`."""
    path = str(Path(path).expanduser()) if path.startswith("~") else path
    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=False)  # hf_mtl never runs a folder's code
    except (OSError, ValueError, TypeError, KeyError) as error:  # no such folder or Hub id, not cached, no tokenizer
        refusal = remote_code_refusal(error, f"{what} {path}")
        if refusal:
            raise RecipeError(refusal) from None
        if Path(path).is_dir():
            raise RecipeError(f"Cannot load a tokenizer from the folder {path} ({what}): {_first_line(error)}") from None
        raise RecipeError(
            f"Cannot load a tokenizer from {path!r} ({what} must be a model folder or a Hub id that can be reached; "
            f"there is no folder {path} here): {_first_line(error)}"
        ) from None


def load_model(path: str | Path, what: str = "model") -> MultiTaskModel:
    """A saved hf_mtl model, loaded exactly; anything that stops that is one :class:`RecipeError` line.

    Catches what a broken folder raises (a config that is not JSON or not an hf_mtl config, truncated or pickled
    weights, weights that do not match the config: see [`MultiTaskModel.from_pretrained`]).
    """
    folder = Path(path).expanduser()
    config_file = folder / "config.json"
    if folder.is_dir():
        if not config_file.is_file():
            raise RecipeError(f"{what} {folder} is not a saved model folder (no config.json there).")
        try:
            model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
        except (OSError, UnicodeDecodeError, ValueError, AttributeError) as error:
            raise RecipeError(f"{what} {folder}: config.json is not a valid JSON object ({_first_line(error)}).") from None
        if model_type != MultiTaskConfig.model_type:
            raise RecipeError(
                f"{what} {folder} is a {model_type!r} model, not an hf_mtl multi-task model (config.json model_type "
                f"{model_type!r}); to train on it, use it as `model.encoder` in a recipe."
            )
    try:
        return MultiTaskModel.from_pretrained(folder if folder.is_dir() else str(path))
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as error:
        raise RecipeError(f"Cannot load the {what} {path}: {_first_line(error)}") from None
    except Exception as error:  # safetensors' SafetensorError (a truncated or garbled weights file)
        if type(error).__name__ != "SafetensorError":
            raise
        raise RecipeError(f"Cannot load the {what} {path}: model.safetensors is unreadable ({_first_line(error)}).") from None


def prepare_recipe_tasks(
    specs: list[TaskSpec], tokenizer: Any, model: MultiTaskModel | None = None
) -> dict[str, TaskData]:
    """Read, check and tokenize every task before anything trains; a task the model already has keeps its labels.

    The tasks of a group (``TaskSpec.group``) are prepared together (``prepare_group``): their examples are
    tokenized once, and each task's :class:`TaskData` carries the group's shared splits in ``shared``.
    """
    known: dict[str, list[str]] = {}
    for spec in specs:
        if model is not None and spec.name in model.config.tasks and not spec.is_regression:
            id2label = model.config.tasks[spec.name]["id2label"]
            # in id order: a config read from JSON may list ids as strings sort them ("0", "1", "10", "11", ..., "2")
            known[spec.name] = [id2label[i] for i in sorted(id2label, key=int)]
    if any(spec.is_token_task for spec in specs):
        # one tokenizer for every task, the one saved with the model: with token tasks it must take pre-split words
        # (byte-level BPE: add_prefix_space), so text tasks are encoded with it too, in training as in the pipeline
        tokenizer = prepare_tokenizer(tokenizer)
    prepared: dict[str, TaskData] = {}
    for unit, members in group_tasks(specs).items():
        if members[0].group is None:
            prepared[unit] = prepare_task(members[0], tokenizer, labels=known.get(unit))
        else:
            prepared.update(prepare_group(unit, members, tokenizer, labels=known).tasks)
    for spec in specs:
        for note in prepared[spec.name].notes:
            logger.info("task %s: %s", spec.name, note)
    return {spec.name: prepared[spec.name] for spec in specs}


def training_units(prepared: dict[str, TaskData]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The sampling units of training: ``({unit: train dataset}, {group: its tasks})``.

    A task of its own is a unit named after it; the tasks of a group form one unit named after the group, whose
    dataset carries every task's labels (``labels_<task>``).
    """
    units: dict[str, Any] = {}
    groups: dict[str, list[str]] = {}
    for name, data in prepared.items():
        group = data.spec.group
        if group is None:
            units[name] = data.tokenized["train"]
        else:
            units[group] = data.shared["train"]
            groups.setdefault(group, []).append(name)
    return units, groups


def check_backbone_early(recipe: Recipe, specs: list[TaskSpec], args: Any) -> None:
    """Refuse a backbone hf_mtl cannot share (an encoder-decoder such as T5 or BART) and a
    ``gradient_checkpointing`` its family does not support, and ``task_layers`` / ``task_adapters`` counts the encoder
    cannot hold, from the encoder's config alone (``RecipeError``), before the data is read."""
    if recipe.model.from_model:
        return  # a multi-task model: its encoder was checked when it was built
    try:
        encoder_config = MultiTaskModel.encoder_config(recipe.model.encoder_path)
    except HfMtlError:
        raise
    except (OSError, ValueError) as error:
        raise RecipeError(f"Cannot load the encoder {recipe.model.encoder}: {_first_line(error)}") from None
    try:
        check_backbone(encoder_config)
    except ValueError as error:
        raise RecipeError(f"model.encoder {recipe.model.encoder}: {_first_line(error)}") from None
    refusal = unsupported_gradient_checkpointing(encoder_config) if args.gradient_checkpointing else None
    if refusal:
        raise RecipeError(f"training.gradient_checkpointing: {refusal}")
    # task_layers / task_adapters counts and names against the encoder's layer count, by the model's own rules
    # (the module names adapters target are checked when the model is built: they need the modules)
    num_layers = getattr(encoder_config, "num_hidden_layers", None) or 0
    names = {spec.name: {} for spec in specs}
    layout, adapters = recipe.model.task_layer_layout(specs), recipe.model.task_adapter_layout(specs)
    try:
        if layout and num_layers:
            normalize_task_layers(layout, names, num_layers)
        if adapters and num_layers:
            normalize_task_adapters(adapters, names, num_layers)
    except HfMtlError as error:
        raise RecipeError(f"model: {error}") from None


def build_model(recipe: Recipe, prepared: dict[str, TaskData], from_model: MultiTaskModel | None = None) -> MultiTaskModel:
    """A new model around the recipe's encoder, or the recipe's `from_model` with heads added for new tasks.

    Args:
        from_model: the recipe's `from_model`, already loaded (as `prepare_recipe_tasks` needed its labels); loaded
            here when not given.
    """
    specs = [data.spec for data in prepared.values()]
    layout, adapters = recipe.model.task_layer_layout(specs), recipe.model.task_adapter_layout(specs)
    if recipe.model.from_model:
        model = from_model if from_model is not None else load_model(recipe.model.from_model, "model.from_model")
        for name, data in prepared.items():
            if name not in model.config.tasks:  # transfer: a new task's own top layers start from the shared ones,
                unit = data.spec.group or name  # its own adapter as LoRA starts (B = 0)
                adapter = adapters.get(unit)
                model.add_task(name, data.head_config, task_layers=layout.get(unit, {}).get("layers", 0),
                               copy_name=unit,
                               task_adapters=None if adapter is None else {k: v for k, v in adapter.items() if k != "tasks"})
            elif model.config.tasks[name]["type"] != data.spec.type:
                raise TaskError(
                    f"Task '{name}' is a {data.spec.type} task in the recipe but a {model.config.tasks[name]['type']} "
                    f"task in {recipe.model.from_model}; rename the new task."
                )
    else:
        tasks = {name: data.head_config for name, data in prepared.items()}
        try:
            model = MultiTaskModel.from_encoder(recipe.model.encoder_path, tasks=tasks, task_layers=layout or None,
                                                task_adapters=adapters or None)
        except HfMtlError:  # already one line naming the encoder (incomplete weights, declared custom code)
            raise
        except (OSError, ValueError) as error:  # pickle-only or unreadable weights, not an encoder
            raise RecipeError(f"Cannot load the encoder {recipe.model.encoder}: {_first_line(error)}") from None
    if recipe.model.freeze_encoder:
        model.freeze_encoder()
    if recipe.model.lora is not None:
        from ..modeling.lora import apply_lora, trainable_parameters

        apply_lora(model, recipe.model.lora, base_encoder=recipe.model.encoder_path)
        trainable, total = trainable_parameters(model)
        logger.warning("LoRA: training %s of %s parameters (%.2f%%: adapters and heads).", f"{trainable:,}",
                       f"{total:,}", 100 * trainable / total)
    return model


def build_trainer(
    model: MultiTaskModel,
    args: Any,
    prepared: dict[str, TaskData],
    tokenizer: Any,
    trainer_class: type[MultiTaskTrainer] = MultiTaskTrainer,
    **kwargs: Any,
) -> MultiTaskTrainer:
    """A trainer over the prepared tasks: their train and validation splits, their metrics, their data sources for
    the model card, their task groups (``kwargs`` go on to it)."""
    card_data = kwargs.pop("model_card_data", None) or MultiTaskModelCardData()
    units, groups = training_units(prepared)
    if groups:
        kwargs["task_groups"] = groups
    return trainer_class(
        model=model,
        args=args,
        train_dataset=units,
        eval_dataset={name: data.tokenized["validation"] for name, data in prepared.items()},
        processing_class=tokenizer,
        task_metrics={name: data.metric for name, data in prepared.items()},
        model_card_data=card_data.add_tasks(prepared),
        **kwargs,
    )


def eval_split_dataset(data: TaskData, preferred: str) -> Any:
    """A task's tokenized ``preferred`` split (``test``...), or its ``validation`` split when it has none: the split
    that `train`, `compare`, `evaluate` and `refine` score on."""
    splits = data.tokenized
    return splits[preferred] if preferred in splits else splits["validation"]


def train_recipe(
    recipe: Recipe,
    tasks: list[str] | None = None,
    output_dir: str | None = None,
    eval_split: str = "validation",
    training_overrides: dict[str, Any] | None = None,
    print_table: bool = True,
    resume: bool | str | None = None,
    overwrite: bool | None = None,
    allow_changes: bool | None = None,
) -> TrainResult:
    """Train the recipe's tasks (or a subset), save the model folder, evaluate, and report per task.

    The folder gets the weights (safetensors), config, tokenizer, modeling code, `eval_results.json`, a model
    card (README.md with a per-task `model-index`), `train_summary.json` and `training_curves.png`.

    The output folder is checked and locked before any data is read (see `hf_mtl.workflow.run_folders`): a folder that holds
    a run's checkpoints, a trained model or files training would replace is refused unless `resume` or `overwrite`
    says what to do.

    Args:
        resume: `True` continues from the newest complete checkpoint in the output folder, a path from that
            checkpoint (default: the recipe's `resume`).
        overwrite: start over in a folder that holds an earlier run (its checkpoints are removed just before
            training; default: the recipe's `overwrite`).
        allow_changes: resume although the tasks, labels, data, seed or sampling settings differ from what the
            checkpoint recorded (default: the recipe's `allow_changes`; otherwise that is an `OutputError` naming
            what changed, raised before training).

    Raises:
        TrainingInterrupted: Ctrl-C stopped the run at a step boundary; its checkpoint is complete.
    """
    specs = recipe.select_tasks(tasks) if tasks else list(recipe.tasks)
    output_dir = str(Path(output_dir).expanduser()) if output_dir else recipe.output_dir
    args = recipe.training_arguments(output_dir=output_dir, **(training_overrides or {}))
    for source, what in ((recipe.model.from_model, "model.from_model"), (recipe.model.encoder_path, "model.encoder")):
        if source and (Path(source) / "config.json").is_file():  # a model folder (not just any folder above)
            refuse_same_folder(source, output_dir, what=f"output_dir (vs {what})")
    plan = plan_training_output(
        output_dir, resume=recipe.resume if resume is None else resume,
        overwrite=recipe.overwrite if overwrite is None else overwrite, args=args,
    )
    allow = recipe.allow_changes if allow_changes is None else allow_changes
    if plan.resume_from:  # what the recipe alone tells, before any data is read
        check_resume(plan.resume_from, early_run_record(specs, args), allow, early=True)
    with output_lock(output_dir):
        return _train_in_folder(recipe, specs, args, plan, eval_split, print_table, allow)


def _train_in_folder(
    recipe: Recipe, specs: list[TaskSpec], args: Any, plan: TrainingOutput, eval_split: str, print_table: bool,
    allow_changes: bool = False,
) -> TrainResult:
    output_dir = args.output_dir
    check_backbone_early(recipe, specs, args)  # from the config alone: before the tokenizer, the data and the weights
    tokenizer_source = recipe.model.from_model or recipe.model.encoder_path
    tokenizer = load_tokenizer(tokenizer_source)
    existing = load_model(recipe.model.from_model, "model.from_model") if recipe.model.from_model else None
    if existing is not None:
        check_against_model(specs, existing.config.tasks, recipe.model.from_model)
    prepared = prepare_recipe_tasks(specs, tokenizer, existing)
    check_label_counts(prepared)
    tokenizer = next((d.tokenizer for d in prepared.values() if d.tokenizer is not None), tokenizer)
    set_seed(args.seed)  # new heads are initialised from the recipe's seed, whatever ran before in this process
    model = build_model(recipe, prepared, from_model=existing)  # from_model is loaded once
    del existing
    if print_table and is_main_process():
        print(format_parameter_counts(parameter_counts(model)))  # shared vs per task (heads, own layers, adapters)
    check_before_training(model, prepared, args)  # max_length vs the encoder, metric_for_best_model vs the metrics
    check_disk_space(model, args)  # the final model and a checkpoint fit in output_dir
    record = run_record(prepared, args)
    if plan.resume_from:
        check_resume(plan.resume_from, record, allow_changes)
    interrupt = GracefulInterrupt()
    trainer = build_trainer(model, args, prepared, tokenizer, callbacks=[interrupt, RunRecordCallback(record)])
    trainer.model_card_data.base_model = recipe.model.base_model_name
    apply_card_settings(trainer.model_card_data, recipe.card)
    plan.clear_stale_checkpoints()
    start = time.perf_counter()
    with interrupt:
        trainer.train(resume_from_checkpoint=plan.resume_from)
    train_seconds = time.perf_counter() - start
    if interrupt.requested:
        checkpoint = Path(output_dir) / f"checkpoint-{trainer.state.global_step}"
        complete = checkpoint_problem(checkpoint, **checkpoint_requirements(trainer.args)) is None
        raise TrainingInterrupted(str(checkpoint) if complete else None, trainer.state.global_step, trainer.state.max_steps)
    eval_sets = {name: eval_split_dataset(data, eval_split) for name, data in prepared.items()}
    trainer.model_card_data.eval_splits.update(
        {name: eval_split if eval_split in data.tokenized else "validation" for name, data in prepared.items()}
    )
    metrics = trainer.evaluate(eval_dataset=eval_sets)
    save_final_model(trainer, output_dir)  # weights, tokenizer, code, card (README.md); verified, then moved
    if trainer.is_world_process_zero():
        result = TrainResult(
            output_dir=str(output_dir),
            metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))},
            train_seconds=train_seconds,
            examples_seen=dict(trainer.examples_seen),
            num_parameters=sum(p.numel() for p in model.parameters()),
            task_metrics=dict(trainer.task_metrics),
        )
        write_run_outputs(Path(output_dir), result, trainer, prepared, recipe)
        if print_table:
            print(format_results_table(result))
        return result
    return TrainResult(str(output_dir), metrics, train_seconds, dict(trainer.examples_seen), 0, dict(trainer.task_metrics))


def apply_card_settings(data: Any, settings: Any, tasks: Sequence[str] | None = None) -> None:
    """Copy what a recipe's ``card:`` section set (title, license, language, datasets, tags) into a trainer's card
    data (`hf-mtl train`, and each model of `hf-mtl refine`).

    ``tasks``: the card is of a model of only these tasks of the recipe (a refined per-task model): only their
    ``datasets`` are copied, and not the title, which names the recipe's own model (such a card keeps its default
    title, ``"<joint model> fine-tuned for <task>"``).
    """
    keys = ("model_name", "license", "language") if tasks is None else ("license", "language")
    for key in keys:
        if getattr(settings, key) is not None:
            setattr(data, key, getattr(settings, key))
    data.datasets.update({task: hub_id for task, hub_id in settings.datasets.items() if tasks is None or task in tasks})
    data.tags.extend(tag for tag in settings.tags if tag not in data.tags)


def write_run_outputs(
    folder: Path, result: TrainResult, trainer: MultiTaskTrainer, prepared: dict[str, TaskData], recipe: Recipe
) -> None:
    """Write a trained model folder's run records beside the weights: `eval_results.json`, `train_summary.json`,
    `trainer_state.json` and `training_curves.png` (what `train` and `refine` leave in each model folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / EVAL_RESULTS_FILE).write_text(json.dumps(result.metrics, indent=2, sort_keys=True) + "\n")
    (folder / TRAIN_SUMMARY_FILE).write_text(json.dumps(asdict(result), indent=2) + "\n")
    trainer.state.save_to_json(str(folder / "trainer_state.json"))
    plot_training_curves(trainer.state.log_history, list(prepared), trainer.task_metrics, folder / "training_curves.png")


def format_results_table(result: TrainResult) -> str:
    """A per-task results table (markdown), as printed at the end of `hf-mtl train`."""
    lines = ["| task | metric | score | examples seen |", "|---|---|---|---|"]
    for task, metric in result.task_metrics.items():
        key = main_metric_key(metric)
        score = result.metrics.get(main_score_key(task, metric))
        shown = f"{score:.4f}" if score is not None else "n/a"
        lines.append(f"| {task} | {metric} ({key}) | {shown} | {result.examples_seen.get(task, 0)} |")
    if average_key() in result.metrics:
        lines.append(f"| **average** | | {result.metrics[average_key()]:.4f} | |")
    lines.append(f"\ntrain time {result.train_seconds:.1f} s; {result.num_parameters:,} parameters; saved to {result.output_dir}")
    return "\n".join(lines)


def evaluate_model(model_dir: str, recipe: Recipe, split: str = "test", batch_size: int = 32) -> dict[str, float]:
    """Per-task metrics of a saved model on the recipe's `split` (test, falling back to validation).

    Keys name the split scored: `test_<task>_<metric>` on a test split, `eval_<task>_<metric>` on validation (a
    task without a test split falls back to it). Where the model folder is writable, the scores are saved as
    `<split>_results.json` (`test_results.json`, as transformers' examples name it) and, when hf_mtl wrote the
    folder's card, added to the card (README.md: its results table and `model-index`).
    """
    model = load_model(model_dir)
    tokenizer = load_tokenizer(model_dir, what="the model folder's tokenizer")
    missing = [spec.name for spec in recipe.tasks if spec.name not in model.config.tasks]
    if missing:
        raise RecipeError(f"The recipe's task(s) {missing} are not in {model_dir} (its tasks: {model.task_names}).")
    check_against_model(recipe.tasks, model.config.tasks, model_dir)
    prepared = prepare_recipe_tasks(list(recipe.tasks), tokenizer, model)
    scored = {name: split if split in data.tokenized else "validation" for name, data in prepared.items()}
    # Only the recipe's evaluation settings matter here; its schedule (eval/save strategies, best-model reload)
    # would make Trainer ask for the datasets of a training run.
    # The Trainer's working folder is a temporary one: the model folder may be read-only (a Hub cache snapshot).
    metrics: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hf-mtl-evaluate-") as scratch:
        args = recipe.training_arguments(
            output_dir=scratch, per_device_eval_batch_size=batch_size, eval_strategy="no",
            save_strategy="no", load_best_model_at_end=False,
        )
        trainer = MultiTaskTrainer(
            model=model, args=args, processing_class=tokenizer, task_metrics={n: d.metric for n, d in prepared.items()}
        )
        trainer.remove_callback(PrinterCallback)  # stdout carries the metrics only (JSON for `hf-mtl evaluate`)
        for name in dict.fromkeys(scored.values()):  # the test split first, then validation for tasks without one
            tasks = {task: data.tokenized[name] for task, data in prepared.items() if scored[task] == name}
            metrics.update(trainer.evaluate(eval_dataset=tasks, metric_key_prefix="test" if name == "test" else "eval"))
    _save_evaluation(Path(model_dir), split, metrics, model, trainer)
    return metrics


def _save_evaluation(folder: Path, split: str, metrics: dict[str, Any], model: Any, trainer: MultiTaskTrainer) -> None:
    """`<split>_results.json` in the model folder and the scores on its card, where the folder is writable."""
    scores = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    try:
        (folder / f"{split}_results.json").write_text(json.dumps(scores, indent=2, sort_keys=True) + "\n")
    except OSError as error:  # a read-only folder (a Hub cache snapshot): the scores are printed only
        logger.warning("Could not save %s_results.json in %s (%s); the scores are printed only.", split, folder,
                       error.strerror or error)
        return
    card = load_card_data(folder)
    if card is None or not is_hf_mtl_card(folder / CARD_FILE):
        return
    card.record_metrics(scores, model.config.tasks, step=card.train_info.get("global_step", 0), epoch=None,
                        in_training=False)
    write_model_card(card.to_model_card(model, trainer.task_metrics), folder)
    save_card_data(card, folder)
