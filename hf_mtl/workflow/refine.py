"""Joint, then refine (the MT-DNN recipe): a short per-task fine-tune of a trained multi-task model.

`refine_model` starts, for each task of a recipe, from the joint model's encoder and that task's head, trains
``steps`` optimizer steps on that task alone (the recipe's training arguments, one task) and writes one hf_mtl
single-task model folder per task (which reloads, predicts, and exports as a plain ``AutoModelFor*`` folder with
`hf-mtl export`). It scores the joint model and each refined model on the same split as `train` / `compare`
(``test``, falling back to ``validation`` where a task has none) and writes a joint-vs-refined table.

With ``steps=0`` nothing trains: each refined model is the joint model with the other heads removed, and
predicts exactly what the joint model predicts for its task.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from transformers import set_seed

from ..metrics.keys import main_metric_key, main_score_key
from ..modeling.errors import RecipeError
from ..modeling.modeling_multitask import MultiTaskModel
from ..training.trainer import MultiTaskTrainer
from .compare import mean_score, score_cell
from .disk import check_disk_space, save_final_model
from .recipe import Recipe
from .train import (
    TrainResult,
    apply_card_settings,
    build_trainer,
    eval_split_dataset,
    load_tokenizer,
    prepare_recipe_tasks,
    write_run_outputs,
)

logger = logging.getLogger("hf_mtl")

REFINE_JSON = "refine.json"
REFINE_MARKDOWN = "refine.md"
# Evaluation-only arguments (no schedule that would ask for training data), as `evaluate_model` uses.
_EVAL_ONLY = {"eval_strategy": "no", "save_strategy": "no", "load_best_model_at_end": False}


@dataclass
class Refinement:
    """Scores of the joint model and of its refined per-task models on one split.

    Attributes:
        model_dir: the joint model that was refined.
        steps: refinement steps per task.
        eval_split: the scoring split (``test`` falls back to ``validation`` per task).
        joint_metrics: the joint model's evaluation metrics (``eval_<task>_<metric>``).
        refined: ``{task: TrainResult}`` of each refined model (its folder, metrics, time, examples).
    """

    model_dir: str
    steps: int
    eval_split: str
    joint_metrics: dict[str, float]
    refined: dict[str, TrainResult]

    def rows(self) -> list[dict[str, Any]]:
        """One row per task: metric, joint score, refined score, difference (refined - joint), cost, folder."""
        rows = []
        for task, result in self.refined.items():
            metric = result.task_metrics[task]
            joint = self.joint_metrics.get(main_score_key(task, metric))
            refined = result.main_scores().get(task)
            rows.append({
                "task": task,
                "metric": f"{metric} ({main_metric_key(metric)})",
                "joint": joint,
                "refined": refined,
                "difference": None if joint is None or refined is None else refined - joint,
                "refine_steps": self.steps,
                "refine_train_seconds": result.train_seconds,
                "refine_examples_seen": result.examples_seen.get(task, 0),
                "model_dir": result.output_dir,
            })
        return rows

    def summary(self) -> dict[str, Any]:
        """Mean joint and refined scores, and the total refinement time."""
        rows = self.rows()
        return {
            "joint_mean": mean_score(row["joint"] for row in rows),
            "refined_mean": mean_score(row["refined"] for row in rows),
            "refine_train_seconds": sum(result.train_seconds for result in self.refined.values()),
        }

    def to_markdown(self) -> str:
        """The joint-vs-refined table printed by `hf-mtl refine`."""
        lines = [
            f"Scores on the {self.eval_split} split after {self.steps} refinement steps per task "
            "(refined - joint: positive means refining helped).",
            "",
            "| task | metric | joint | refined | refined - joint | refine train s | folder |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in self.rows():
            lines.append(
                f"| {row['task']} | {row['metric']} | {score_cell(row['joint'])} | {score_cell(row['refined'])} | "
                f"{score_cell(row['difference'], True)} | {row['refine_train_seconds']:.1f} | {row['model_dir']} |"
            )
        summary = self.summary()
        both = summary["joint_mean"] is not None and summary["refined_mean"] is not None
        lines.append(
            f"| **mean** | | {score_cell(summary['joint_mean'])} | {score_cell(summary['refined_mean'])} | "
            f"{score_cell(summary['refined_mean'] - summary['joint_mean'] if both else None, True)} | "
            f"{summary['refine_train_seconds']:.1f} | |"
        )
        return "\n".join(lines)

    def save(self, folder: str | Path) -> Path:
        """Write refine.json and refine.md into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        payload = {
            "model_dir": self.model_dir,
            "steps": self.steps,
            "eval_split": self.eval_split,
            "rows": self.rows(),
            "summary": self.summary(),
            "joint_metrics": self.joint_metrics,
            "refined": {task: asdict(result) for task, result in self.refined.items()},
        }
        (folder / REFINE_JSON).write_text(json.dumps(payload, indent=2) + "\n")
        (folder / REFINE_MARKDOWN).write_text(self.to_markdown() + "\n")
        return folder


def default_refine_dir(model_dir: str | Path) -> Path:
    """Where refined models go by default: a sibling of the joint model, ``<model_dir>-refined``."""
    model_dir = Path(model_dir)
    return model_dir.parent / f"{model_dir.resolve().name}-refined"


def _check_output(output_dir: Path, model_dir: Path, tasks: list[str]) -> None:
    """Refuse outputs that would write into (or over) the joint model's folder."""
    source = model_dir.resolve()
    task_dirs = [(output_dir / task).resolve() for task in tasks]
    for target in (output_dir, *task_dirs):
        resolved = target.resolve()
        # the output (or a task's folder) is the source or inside it, or a task's folder would hold the source
        if resolved == source or source in resolved.parents or (resolved in task_dirs and resolved in source.parents):
            raise RecipeError(
                f"Refusing to write refined models to {target}: it is (or holds, or is inside) the joint model "
                f"folder {model_dir}. Choose another output folder (default: {default_refine_dir(model_dir)})."
            )


def refine_model(
    model_dir: str | Path,
    recipe: Recipe,
    steps: int,
    output_dir: str | Path | None = None,
    tasks: list[str] | None = None,
    eval_split: str = "test",
    training_overrides: dict[str, Any] | None = None,
) -> Refinement:
    """Fine-tune a trained joint model on each task alone for ``steps`` steps; one model folder per task.

    Args:
        model_dir: a trained hf_mtl model folder (the joint model); it is only read.
        recipe: the recipe naming the tasks' data and the training arguments (learning rate, batch size, seed...);
            every task refined must be a task of the model.
        steps: optimizer steps per task (0: no training, each refined model predicts like the joint model).
        output_dir: where the per-task folders (``<output_dir>/<task>``) and ``refine.json`` / ``refine.md`` go
            (default: ``<model_dir>-refined``); never the joint model's folder or a folder inside it.
        tasks: the tasks to refine (default: every task of the recipe).
        eval_split: the scoring split (``test``, falling back to ``validation`` where a task has none).
        training_overrides: extra training arguments for the refinement (e.g. ``{"learning_rate": 2e-5}``).

    Example:
        ```python
        >>> from hf_mtl.workflow.recipe import load_recipe
        >>> refinement = refine_model("outputs/joint", load_recipe("recipe.yaml"), steps=200)
        >>> print(refinement.to_markdown())  # joint vs refined, per task
        ```
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise RecipeError(f"refine: steps must be an integer >= 0 (optimizer steps per task), got {steps!r}.")
    model_dir = Path(model_dir).expanduser()
    if not (model_dir / "config.json").is_file():
        raise RecipeError(f"{model_dir} is not a saved model folder (no config.json there).")
    specs = recipe.select_tasks(tasks) if tasks else list(recipe.tasks)
    output_dir = Path(output_dir).expanduser() if output_dir else default_refine_dir(model_dir)
    _check_output(output_dir, model_dir, [spec.name for spec in specs])
    joint = MultiTaskModel.from_pretrained(model_dir)
    missing = [spec.name for spec in specs if spec.name not in joint.config.tasks]
    if missing:
        raise RecipeError(f"The recipe's task(s) {missing} are not in {model_dir} (its tasks: {joint.task_names}).")
    tokenizer = load_tokenizer(str(model_dir))
    prepared = prepare_recipe_tasks(specs, tokenizer, joint)
    eval_sets = {name: eval_split_dataset(data, eval_split) for name, data in prepared.items()}
    # One task at a time: max_steps is the refinement's own, and the recipe's per-task loss weights name tasks that a
    # single-task trainer lacks (a lone task's weight would only rescale its loss). With steps=0 nothing trains, but
    # max_steps must still be a valid training argument (>= 1).
    overrides = {**(training_overrides or {}), "max_steps": max(steps, 1), "steps_per_task": None,
                 "task_loss_weights": None}
    eval_args = recipe.training_arguments(output_dir=str(output_dir), **{**overrides, **_EVAL_ONLY})
    evaluator = MultiTaskTrainer(model=joint, args=eval_args, processing_class=tokenizer,
                                 task_metrics={name: data.metric for name, data in prepared.items()})
    joint_metrics = {k: v for k, v in evaluator.evaluate(eval_dataset=eval_sets).items() if isinstance(v, (int, float))}
    del evaluator, joint
    refined = {}
    for name, data in prepared.items():
        args = recipe.training_arguments(output_dir=str(output_dir / name), **overrides)
        refined[name] = _refine_task(model_dir, name, data, eval_sets[name], args, tokenizer, steps, recipe)
        logger.info("refined %s: %s", name, refined[name].main_scores())
    refinement = Refinement(str(model_dir), steps, eval_split, joint_metrics, refined)
    refinement.save(output_dir)
    return refinement


def _refine_task(model_dir: Path, task: str, data: Any, eval_set: Any, args: Any, tokenizer: Any, steps: int,
                 recipe: Recipe) -> TrainResult:
    """One task: the joint model without the other heads, trained ``steps`` steps, scored, saved."""
    set_seed(args.seed)
    model = MultiTaskModel.from_pretrained(model_dir)
    for other in [name for name in model.task_names if name != task]:
        model.remove_task(other)
    if data.spec.group is not None:  # a task of a group trains alone here, on its own view of the group's examples
        data = dataclasses.replace(data, spec=dataclasses.replace(data.spec, group=None), shared=None)
    trainer = build_trainer(model, args, {task: data}, tokenizer)
    trainer.model_card_data.base_model = str(model_dir)  # the card names the joint model as the starting point
    apply_card_settings(trainer.model_card_data, recipe.card, tasks=[task])  # license, language, dataset, tags
    check_disk_space(model, args)
    start = time.perf_counter()
    if steps > 0:
        trainer.train()
    train_seconds = time.perf_counter() - start
    metrics = trainer.evaluate(eval_dataset={task: eval_set})
    save_final_model(trainer, args.output_dir)  # verified before it replaces anything
    result = TrainResult(
        output_dir=args.output_dir,
        metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        train_seconds=train_seconds,
        examples_seen=dict(trainer.examples_seen),
        num_parameters=sum(p.numel() for p in model.parameters()),
        task_metrics=dict(trainer.task_metrics),
    )
    if trainer.is_world_process_zero():
        write_run_outputs(Path(args.output_dir), result, trainer, {task: data}, recipe)
    return result


__all__ = ["REFINE_JSON", "REFINE_MARKDOWN", "Refinement", "default_refine_dir", "refine_model"]
