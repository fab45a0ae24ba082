"""Joint model vs one model per task: the comparison that tells whether multi-task learning pays off.

`compare_recipe` trains the joint model on every task of a recipe, then one single-task model per task with the
same encoder, seed and training arguments, through the very same `train_recipe` code path. By default each
single-task model sees as many examples of its task as the joint model did (its step count is derived from
the joint run's `examples_seen`); `single_steps` fixes the steps instead.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..metrics import main_metric_key
from ..modeling.errors import RecipeError
from ..training.exposure import examples_per_step
from .recipe import Recipe
from .run_folders import check_writable_folder, output_lock
from .train import TrainResult, train_recipe

logger = logging.getLogger("hf_mtl")

MIN_SINGLE_STEPS = 100
"""Fewer optimizer steps than this for a single-task model makes `hf-mtl compare` warn that its row says little."""

COMPARISON_JSON = "comparison.json"
COMPARISON_MARKDOWN = "comparison.md"


def mean_score(scores: Iterable[float | None]) -> float | None:
    """The mean of the scores that exist (``None`` where none does): a table's **mean** row."""
    present = [score for score in scores if score is not None]
    return sum(present) / len(present) if present else None


def score_cell(value: float | None, signed: bool = False) -> str:
    """A score as a table shows it: four decimals (``+``/``-`` for a difference), ``n/a`` when missing."""
    if value is None:
        return "n/a"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


@dataclass
class Comparison:
    """Per-task scores of the joint model and of the single-task models, with costs."""

    joint: TrainResult
    single: dict[str, TrainResult]
    eval_split: str
    single_steps: dict[str, int] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        """What makes a row unreliable: a single-task model trained fewer than :data:`MIN_SINGLE_STEPS` optimizer
        steps, or one that scores at chance (an F1 / LAS of 0: it predicts nothing, e.g. only ``O``)."""
        found = []
        for row in self.rows():
            task, steps = row["task"], self.single_steps.get(row["task"])
            if steps is not None and steps < MIN_SINGLE_STEPS:
                found.append(f"task {task!r}: its single-task model trained {steps} optimizer steps (fewer than "
                             f"{MIN_SINGLE_STEPS}), so the comparison says little; raise max_steps or pass --single-steps")
            if row["single"] is not None and row["single"] <= 0.0:
                found.append(f"task {task!r}: its single-task model scores {row['single']:.4f} ({row['metric']}), "
                             "as a model that predicts nothing; the mean rests on it")
        return found

    def rows(self) -> list[dict[str, Any]]:
        """One row per task: metric, single score, joint score, difference (joint - single), time, examples."""
        rows = []
        joint_scores = self.joint.main_scores()
        for task, result in self.single.items():
            metric = self.joint.task_metrics[task]
            single_score = result.main_scores().get(task)
            joint_score = joint_scores.get(task)
            rows.append({
                "task": task,
                "metric": f"{metric} ({main_metric_key(metric)})",
                "single": single_score,
                "joint": joint_score,
                "difference": None if single_score is None or joint_score is None else joint_score - single_score,
                "single_train_seconds": result.train_seconds,
                "single_examples_seen": result.examples_seen.get(task, 0),
                "joint_examples_seen": self.joint.examples_seen.get(task, 0),
            })
        return rows

    def summary(self) -> dict[str, Any]:
        """Totals: mean scores, training time and parameters of each arm."""
        rows = self.rows()
        return {
            "single_mean": mean_score(row["single"] for row in rows),
            "joint_mean": mean_score(row["joint"] for row in rows),
            "single_train_seconds": sum(result.train_seconds for result in self.single.values()),
            "joint_train_seconds": self.joint.train_seconds,
            "single_parameters": sum(result.num_parameters for result in self.single.values()),
            "joint_parameters": self.joint.num_parameters,
        }

    def to_markdown(self) -> str:
        """The comparison table printed by `hf-mtl compare`."""
        lines = [
            f"Scores on the {self.eval_split} split (joint - single: positive means the joint model is better; the "
            "evaluations logged during training are on validation).",
            "",
            "| task | metric | single | joint | joint - single | single train s | examples seen (single / joint) |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in self.rows():
            lines.append(
                f"| {row['task']} | {row['metric']} | {score_cell(row['single'])} | {score_cell(row['joint'])} | "
                f"{score_cell(row['difference'], signed=True)} | {row['single_train_seconds']:.1f} | "
                f"{row['single_examples_seen']} / {row['joint_examples_seen']} |"
            )
        summary = self.summary()
        lines += [
            f"| **mean** | | {score_cell(summary['single_mean'])} | {score_cell(summary['joint_mean'])} | "
            f"{score_cell(None if summary['single_mean'] is None else summary['joint_mean'] - summary['single_mean'], True)} | | |",
            "",
            f"Training time: single-task models {summary['single_train_seconds']:.1f} s in all, joint model "
            f"{summary['joint_train_seconds']:.1f} s.",
            f"Parameters: single-task models {summary['single_parameters']:,} in all, joint model "
            f"{summary['joint_parameters']:,}.",
        ]
        lines += [f"Warning: {warning}." for warning in self.warnings()]
        return "\n".join(lines)

    def save(self, folder: str | Path) -> Path:
        """Write comparison.json and comparison.md into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        payload = {
            "eval_split": self.eval_split,
            "warnings": self.warnings(),
            "single_steps": self.single_steps,
            "rows": self.rows(),
            "summary": self.summary(),
            "joint": asdict(self.joint),
            "single": {task: asdict(result) for task, result in self.single.items()},
        }
        (folder / COMPARISON_JSON).write_text(json.dumps(payload, indent=2) + "\n")
        (folder / COMPARISON_MARKDOWN).write_text(self.to_markdown() + "\n")
        return folder


def single_task_steps(joint: TrainResult, task: str, batch_size: int) -> int:
    """Optimizer steps a single-task run needs to see as many examples of ``task`` as the joint run did."""
    return max(1, math.ceil(joint.examples_seen.get(task, 0) / batch_size))


def compare_recipe(
    recipe: Recipe,
    output_dir: str | Path | None = None,
    single_steps: int | None = None,
    eval_split: str = "test",
    joint_overrides: dict[str, Any] | None = None,
) -> Comparison:
    """Train the joint model and one model per task (same encoder, seed, arguments), and compare them.

    Args:
        recipe: the recipe (its tasks, encoder and training arguments).
        output_dir: where the models and the comparison go (default: `<recipe output_dir>/compare`).
        single_steps: steps of each single-task run; default: as many examples as the joint run saw of it.
        eval_split: the split to score on (`test`, falling back to `validation` where a task has none).
        joint_overrides: extra training arguments for the joint run only (e.g. `{"sampling": "annealed"}`).
    """
    folder = Path(output_dir or Path(recipe.output_dir) / "compare").expanduser()
    if recipe.resume:
        raise RecipeError("`resume` continues one `hf-mtl train` run; `hf-mtl compare` trains several: drop it.")
    check_writable_folder(folder, what="the comparison folder")
    with output_lock(folder):
        return _compare_in_folder(recipe, folder, single_steps, eval_split, joint_overrides)


def _compare_in_folder(
    recipe: Recipe, folder: Path, single_steps: int | None, eval_split: str, joint_overrides: dict[str, Any] | None
) -> Comparison:
    joint = train_recipe(
        recipe, output_dir=str(folder / "joint"), eval_split=eval_split, training_overrides=joint_overrides
    )
    args = recipe.training_arguments(output_dir=str(folder))
    batch_size = examples_per_step(args)
    single, steps_of = {}, {}
    for task in recipe.task_names:
        steps = steps_of[task] = single_steps or single_task_steps(joint, task, batch_size)
        single[task] = train_recipe(
            recipe,
            tasks=[task],
            output_dir=str(folder / f"single_{task}"),
            eval_split=eval_split,
            training_overrides={"max_steps": steps},
        )
    comparison = Comparison(joint=joint, single=single, eval_split=eval_split, single_steps=steps_of)
    for warning in comparison.warnings():
        logger.warning("hf-mtl compare: %s", warning)
    comparison.save(folder)
    return comparison
