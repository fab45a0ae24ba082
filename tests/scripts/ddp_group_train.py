"""A task group beside a single task under `accelerate launch --num_processes 2` (tests/test_group_workflow.py).

Each process records, for every batch it receives, its unit (group or task) and the examples' ids.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import minilm_dir  # noqa: E402
from ddp_train import RecordingCollator, with_ids  # noqa: E402
from test_group_training import GROUP_TASKS, GROUPS, make_group_model, synthetic_group  # noqa: E402
from test_trainer import synthetic_sentiment  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from hf_mtl.training.trainer import MultiTaskTrainer  # noqa: E402
from hf_mtl.training.training_args import MultiTaskTrainingArguments  # noqa: E402


def main(output_dir: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    train = {"tokens": with_ids(synthetic_group(96, 0), 0), "sentiment": with_ids(synthetic_sentiment(64, 1), 1000)}
    args = MultiTaskTrainingArguments(
        output_dir=output_dir, per_device_train_batch_size=8, gradient_accumulation_steps=2, max_steps=6,
        learning_rate=1e-3, logging_steps=2, save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True,
        dataloader_pin_memory=False, seed=0, sampling="uniform",
    )
    collator = RecordingCollator(tokenizer, task_types={name: task["type"] for name, task in GROUP_TASKS.items()},
                                 task_groups=GROUPS)
    trainer = MultiTaskTrainer(model=make_group_model(), args=args, train_dataset=train, data_collator=collator,
                               processing_class=tokenizer, task_groups=GROUPS)
    trainer.train()
    rank = trainer.args.process_index
    Path(output_dir, f"seen_rank{rank}.json").write_text(json.dumps(collator.seen))
    if trainer.is_world_process_zero():
        Path(output_dir, "log_history.json").write_text(json.dumps(trainer.state.log_history))
        Path(output_dir, "examples_seen.json").write_text(json.dumps(trainer.examples_seen))


if __name__ == "__main__":
    main(sys.argv[1])
