"""`hf-mtl ARGS...`, with a progress file and optional pauses so that tests can kill it at a known step.

    python cli_train.py [--slow-from-step K] -- train RECIPE [--resume] [overrides]

The command runs through ``hf_mtl.workflow.cli.main`` unchanged; a callback added to every ``MultiTaskTrainer`` writes
``<output_dir>/progress.json`` (the last finished optimizer step) and, from step K on, sleeps after each step, so
that tests/test_cli_resume.py can send SIGKILL or SIGINT between two known steps.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from transformers import TrainerCallback

from hf_mtl.training import trainer as trainer_module
from hf_mtl.workflow.cli import main


class Progress(TrainerCallback):
    def __init__(self, slow_from: int | None) -> None:
        self.slow_from = slow_from

    def on_step_end(self, args, state, control, **kwargs):
        Path(args.output_dir, "progress.json").write_text(json.dumps({"step": state.global_step}))
        if self.slow_from is not None and state.global_step >= self.slow_from:
            time.sleep(2.0)


def run(argv: list[str]) -> int:
    slow_from = None
    if argv[:1] == ["--slow-from-step"]:
        slow_from, argv = int(argv[1]), argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    original_init = trainer_module.MultiTaskTrainer.__init__

    def init_with_progress(self, *args, **kwargs):
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), Progress(slow_from)]
        original_init(self, *args, **kwargs)

    trainer_module.MultiTaskTrainer.__init__ = init_with_progress
    return main(argv)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
