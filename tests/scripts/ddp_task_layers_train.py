"""A task group and a single task, each with its own top encoder layer (or, with a second argument `adapters`, its
own low-rank adapter), under `accelerate launch --num_processes 2` (tests/test_task_layers.py,
tests/test_task_adapters.py). Writes the starting weights and each process's weights after training."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from conftest import minilm_dir, tiny_bert_config  # noqa: E402
from ddp_train import with_ids  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from test_group_training import GROUP_TASKS, GROUPS, synthetic_group  # noqa: E402
from test_trainer import synthetic_sentiment  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from hf_mtl import MultiTaskConfig, MultiTaskModel  # noqa: E402
from hf_mtl.training.trainer import MultiTaskTrainer  # noqa: E402
from hf_mtl.training.training_args import MultiTaskTrainingArguments  # noqa: E402


def main(output_dir: str, capacity: str = "layers") -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    torch.manual_seed(0)
    if capacity == "adapters":
        settings = {"task_adapters": {"tokens": {"tasks": GROUPS["tokens"], "r": 2}, "sentiment": {"r": 2}}}
    else:
        settings = {"task_layers": {"tokens": {"layers": 1, "tasks": GROUPS["tokens"]}, "sentiment": 1}}
    model = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=GROUP_TASKS, **settings))
    train = {"tokens": with_ids(synthetic_group(96, 0), 0), "sentiment": with_ids(synthetic_sentiment(64, 1), 1000)}
    args = MultiTaskTrainingArguments(
        output_dir=output_dir, per_device_train_batch_size=8, gradient_accumulation_steps=2, max_steps=6,
        learning_rate=1e-3, logging_steps=2, save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True,
        dataloader_pin_memory=False, seed=0, sampling="uniform",
    )
    trainer = MultiTaskTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer,
                               task_groups=GROUPS)
    rank = trainer.args.process_index
    if rank == 0:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, Path(output_dir, "start.safetensors"))
    trainer.train()
    state = trainer.accelerator.unwrap_model(trainer.model).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, Path(output_dir, f"rank{rank}.safetensors"))


if __name__ == "__main__":
    main(*sys.argv[1:])
