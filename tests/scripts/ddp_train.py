"""Tiny 2-task training run under `accelerate launch --num_processes 2 --cpu` (used by tests/test_distributed.py).

Each process records, for every batch it receives, the task and the examples' ids; the test compares ranks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import minilm_dir  # noqa: E402
from test_trainer import TASKS, make_model, synthetic_ner, synthetic_sentiment  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from hf_mtl.data import DataCollatorForMultiTask  # noqa: E402
from hf_mtl.trainer import MultiTaskTrainer  # noqa: E402
from hf_mtl.training_args import MultiTaskTrainingArguments  # noqa: E402


class RecordingCollator(DataCollatorForMultiTask):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[dict] = []

    def __call__(self, features):
        self.seen.append({"task": features[0]["task"], "ids": [f["example_id"] for f in features]})
        return super().__call__(features)


def with_ids(dataset, start: int):
    return dataset.add_column("example_id", list(range(start, start + len(dataset))))


def main(output_dir: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    train = {"ner": with_ids(synthetic_ner(96, 0), 0), "sentiment": with_ids(synthetic_sentiment(64, 1), 1000)}
    args = MultiTaskTrainingArguments(
        output_dir=output_dir, per_device_train_batch_size=8, gradient_accumulation_steps=2, max_steps=6,
        learning_rate=1e-3, logging_steps=2, save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True,
        dataloader_pin_memory=False, seed=0,
    )
    collator = RecordingCollator(tokenizer, task_types={name: task["type"] for name, task in TASKS.items()})
    trainer = MultiTaskTrainer(model=make_model(), args=args, train_dataset=train, data_collator=collator,
                               processing_class=tokenizer)
    trainer.train()
    rank = trainer.args.process_index
    Path(output_dir, f"seen_rank{rank}.json").write_text(json.dumps(collator.seen))
    trainer.save_model(str(Path(output_dir, "model")))
    if trainer.is_world_process_zero():
        Path(output_dir, "log_history.json").write_text(json.dumps(trainer.state.log_history))


if __name__ == "__main__":
    main(sys.argv[1])
