"""One training run of a recipe, with checkpoints, for tests/test_resume.py (run in a subprocess, killed at will).

    python resume_train.py RECIPE OUTPUT_DIR [--resume] [--slow-from-step K] [--hang-in-save-at-step N]

- ``--resume``: ``trainer.train(resume_from_checkpoint=True)`` (the newest complete checkpoint).
- ``--slow-from-step K``: sleep after every optimizer step from step K on, so the test can SIGKILL the process
  mid-run at a known point (``progress.json`` holds the last finished step).
- ``--hang-in-save-at-step N``: while saving ``checkpoint-N``, after the weights and before the optimizer and the
  trainer state, write ``SAVING`` and hang, so the test can SIGKILL the process in the middle of a save.

At the end it writes ``OUTPUT_DIR/final/`` (the model, safetensors) and ``OUTPUT_DIR/result.json`` (the final
evaluation metrics, per-task example counts, the training log and the checkpoint it resumed from).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from transformers import TrainerCallback, set_seed

from hf_mtl.training.trainer import MultiTaskTrainer, last_complete_checkpoint
from hf_mtl.workflow.recipe import load_recipe
from hf_mtl.workflow.train import build_model, build_trainer, load_tokenizer, prepare_recipe_tasks

TIMING_KEYS = ("runtime", "per_second")


class Progress(TrainerCallback):
    """Records the last finished optimizer step; sleeps after each from `slow_from` on."""

    def __init__(self, folder: Path, slow_from: int | None) -> None:
        self.folder = folder
        self.slow_from = slow_from

    def on_step_end(self, args, state, control, **kwargs):
        (self.folder / "progress.json").write_text(json.dumps({"step": state.global_step}))
        if self.slow_from is not None and state.global_step >= self.slow_from:
            time.sleep(3.0)


class HangingTrainer(MultiTaskTrainer):
    """Hangs half-way through saving one checkpoint: after the weights, before the optimizer and trainer state."""

    hang_at: str | None = None

    def save_model(self, output_dir=None, _internal_call=False):
        super().save_model(output_dir, _internal_call=_internal_call)
        if self.hang_at is not None and output_dir is not None and Path(output_dir).name == self.hang_at:
            (Path(self.args.output_dir) / "SAVING").write_text(output_dir)
            time.sleep(600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("recipe")
    parser.add_argument("output_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--slow-from-step", type=int)
    parser.add_argument("--hang-in-save-at-step", type=int)
    options = parser.parse_args()
    output = Path(options.output_dir)

    recipe = load_recipe(options.recipe)
    args = recipe.training_arguments(output_dir=str(output))
    tokenizer = load_tokenizer(recipe.model.encoder_path)
    prepared = prepare_recipe_tasks(list(recipe.tasks), tokenizer)
    set_seed(args.seed)  # as hf_mtl.workflow.train.train_recipe does: the new heads come from the recipe's seed
    model = build_model(recipe, prepared)
    HangingTrainer.hang_at = (
        None if options.hang_in_save_at_step is None else f"checkpoint-{options.hang_in_save_at_step}"
    )
    trainer = build_trainer(
        model, args, prepared, tokenizer, trainer_class=HangingTrainer,
        callbacks=[Progress(output, options.slow_from_step)],
    )
    output.mkdir(parents=True, exist_ok=True)
    resumed_from = last_complete_checkpoint(output) if options.resume else None
    trainer.train(resume_from_checkpoint=True if options.resume else None)
    metrics = trainer.evaluate()
    trainer.save_model(str(output / "final"))
    losses = [
        {k: v for k, v in entry.items() if not any(t in k for t in TIMING_KEYS)}
        for entry in trainer.state.log_history
        if "loss" in entry
    ]
    result = {
        "metrics": {k: v for k, v in metrics.items() if not any(t in k for t in TIMING_KEYS)},
        "examples_seen": trainer.examples_seen,
        "losses": losses,
        "global_step": trainer.state.global_step,
        "resumed_from": resumed_from and Path(resumed_from).name,
    }
    (output / "result.json").write_text(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
