"""Tiny 2-task training run under `accelerate launch --num_processes 2` (used by tests/test_distributed.py).

    ddp_train.py OUTPUT_DIR [--max-steps N] [--save-steps K] [--resume]

Each process records, for every batch it receives, the task and the examples' ids (``seen_rank<r>.json``, or
``seen_rank<r>_resumed.json`` with ``--resume``); the test compares ranks, epochs and runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import minilm_dir  # noqa: E402
from test_trainer import TASKS, make_model, synthetic_ner, synthetic_sentiment  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from hf_mtl.data import DataCollatorForMultiTask  # noqa: E402
from hf_mtl.training.trainer import MultiTaskTrainer  # noqa: E402
from hf_mtl.training.training_args import MultiTaskTrainingArguments  # noqa: E402


class RecordingCollator(DataCollatorForMultiTask):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[dict] = []

    def __call__(self, features):
        self.seen.append({"task": features[0]["task"], "ids": [f["example_id"] for f in features]})
        return super().__call__(features)


def with_ids(dataset, start: int):
    return dataset.add_column("example_id", list(range(start, start + len(dataset))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--save-steps", type=int, help="save a checkpoint every N steps")
    parser.add_argument("--resume", action="store_true", help="resume from the newest complete checkpoint")
    options = parser.parse_args()
    output_dir = options.output_dir
    tag = "_resumed" if options.resume else ""

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    train = {"ner": with_ids(synthetic_ner(96, 0), 0), "sentiment": with_ids(synthetic_sentiment(64, 1), 1000)}
    args = MultiTaskTrainingArguments(
        output_dir=output_dir, per_device_train_batch_size=8, gradient_accumulation_steps=2,
        max_steps=options.max_steps, learning_rate=1e-3, logging_steps=2, report_to="none", use_cpu=True,
        disable_tqdm=True, dataloader_pin_memory=False, seed=0,
        save_strategy="steps" if options.save_steps else "no", save_steps=options.save_steps or 500,
    )
    collator = RecordingCollator(tokenizer, task_types={name: task["type"] for name, task in TASKS.items()})
    trainer = MultiTaskTrainer(model=make_model(), args=args, train_dataset=train, data_collator=collator,
                               processing_class=tokenizer)
    trainer.train(resume_from_checkpoint=True if options.resume else None)
    rank = trainer.args.process_index
    Path(output_dir, f"seen_rank{rank}{tag}.json").write_text(json.dumps(collator.seen))
    trainer.save_model(str(Path(output_dir, f"model{tag}")))
    if trainer.is_world_process_zero():
        Path(output_dir, f"log_history{tag}.json").write_text(json.dumps(trainer.state.log_history))


if __name__ == "__main__":
    main()
