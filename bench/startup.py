"""Start-up time of ``hf-mtl train``: seconds from process start to the Trainer's first step (and CPU seconds).

Runs ``hf_mtl.workflow.cli.main(["train", RECIPE, *overrides])`` with a callback that prints ``TRAIN_BEGIN`` (wall-clock
and ``time.process_time()`` at ``on_train_begin``) and ``FIRST_STEP_END`` (at the end of the first optimizer
step), then exits. Run it twice with the same ``HF_DATASETS_CACHE`` to compare a first run (empty tokenization
cache) with a second one:

    rm -rf /tmp/hfc && HF_DATASETS_CACHE=/tmp/hfc python bench/startup.py recipes/quickstart.yaml
    HF_DATASETS_CACHE=/tmp/hfc python bench/startup.py recipes/quickstart.yaml
"""

import time

T0 = time.time()

import os  # noqa: E402
import sys  # noqa: E402

from transformers import TrainerCallback  # noqa: E402

import hf_mtl.training.trainer as trainer_module  # noqa: E402
from hf_mtl.workflow.cli import main  # noqa: E402


class FirstStep(TrainerCallback):
    def on_train_begin(self, args, state, control, **kwargs):
        print(f"TRAIN_BEGIN {time.time() - T0:.2f} cpu {time.process_time():.2f}", flush=True)

    def on_step_end(self, args, state, control, **kwargs):
        print(f"FIRST_STEP_END {time.time() - T0:.2f} cpu {time.process_time():.2f}", flush=True)
        os._exit(0)


_original_init = trainer_module.MultiTaskTrainer.__init__


def _init_with_timer(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    self.add_callback(FirstStep())


if __name__ == "__main__":
    trainer_module.MultiTaskTrainer.__init__ = _init_with_timer
    sys.exit(main(["train", *sys.argv[1:]]))
