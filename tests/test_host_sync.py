"""No host-device synchronisation in hf_mtl's training forward pass: every op the dispatcher runs is checked.

``.item()``, ``int(tensor)``, ``if tensor:`` and ``tensor.min() < 0`` as a Python bool all end in
``aten::_local_scalar_dense`` (a GPU -> CPU copy that waits for the device); a ``TorchDispatchMode`` sees every
one of them, whichever Python path called it. Each is attributed to the innermost Python frame outside torch:
those in hf_mtl must be none. (transformers' own mask code reads ``padding_mask.all()`` on the host; that one is
the encoder's, not hf_mtl's.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_bert_config
from torch.utils._python_dispatch import TorchDispatchMode

import hf_mtl
from hf_mtl import MultiTaskConfig, MultiTaskModel

SYNCING_OPS = ("aten::_local_scalar_dense", "aten::item", "aten::is_nonzero")
TORCH_DIR = str(Path(torch.__file__).parent)
HF_MTL_DIR = str(Path(hf_mtl.__file__).parent)


def _caller() -> str:
    """``file:line`` of the innermost frame outside torch and this file: the code that asked for the value."""
    frame = sys._getframe(2)
    while frame is not None and (frame.f_code.co_filename.startswith(TORCH_DIR) or frame.f_code.co_filename == __file__):
        frame = frame.f_back
    return "?" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


class CountSyncs(TorchDispatchMode):
    """Records every dispatched op that reads a tensor's value back to the host, with the code that asked."""

    def __init__(self) -> None:
        super().__init__()
        self.all_calls: list[tuple[str, str]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        if name in SYNCING_OPS:
            self.all_calls.append((name, _caller()))
        return func(*args, **(kwargs or {}))

    @property
    def calls(self) -> list[tuple[str, str]]:
        """The syncs hf_mtl's own code asked for."""
        return [(name, where) for name, where in self.all_calls if where.startswith(HF_MTL_DIR)]


TASKS = {
    "ner": {"type": "token-classification", "labels": ["O", "B-PER", "I-PER"]},
    "sentiment": {"type": "text-classification", "labels": ["negative", "positive"]},
    "tags": {"type": "text-classification", "labels": ["a", "b", "c"], "problem_type": "multi_label_classification"},
    "score": {"type": "text-classification", "problem_type": "regression"},
}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=TASKS)).train()


def inputs_and_labels() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1000, 2000, (4, 7), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[-1, 5:] = 0
    ner = torch.randint(0, 3, (4, 7), generator=generator)
    ner[:, 0] = -100
    labels = {
        "ner": ner,
        "sentiment": torch.tensor([0, 1, -100, 1]),
        "tags": torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]),
        "score": torch.tensor([0.5, -1.0, 2.0, 0.0]),
    }
    return {"input_ids": input_ids, "attention_mask": attention_mask}, labels


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("counted", [False, True])
def test_forward_and_backward_with_labels_never_sync(model, task, counted):
    inputs, labels = inputs_and_labels()
    items = (labels[task] != -100).sum() if counted else None
    model.zero_grad()
    with CountSyncs() as mode:
        output = model(**inputs, task=task, labels=labels[task], num_items_in_batch=items)
        output.loss.backward()
    assert mode.calls == [], f"task {task!r}: {mode.calls} read a tensor back to the host"


def test_group_forward_and_backward_never_sync(model):
    inputs, labels = inputs_and_labels()
    items = {name: (value != -100).sum() for name, value in labels.items()}
    with CountSyncs() as mode:
        output = model(**inputs, labels=labels, num_items_in_batch=items, loss_weight={"score": 0.5})
        output.loss.backward()
    assert mode.calls == []
    assert set(output.task_losses) == set(TASKS)


def test_the_counter_sees_a_real_sync():
    with CountSyncs() as mode:
        value = torch.tensor([3, 1, 2])
        bool(value.min() < 0)
        int(value.max())
    assert [name for name, _ in mode.all_calls] == ["aten::_local_scalar_dense"] * 2


def test_trainer_training_step_never_syncs(tmp_path):
    """The trainer's step (loss weights, per-task loss sums) adds no host read to the model's."""
    from conftest import minilm_dir
    from datasets import Dataset
    from transformers import AutoTokenizer

    from hf_mtl.training.trainer import MultiTaskTrainer
    from hf_mtl.training.training_args import MultiTaskTrainingArguments

    rows = {"input_ids": [[101, 2000 + i, 2001, 102] for i in range(8)], "attention_mask": [[1] * 4] * 8,
            "length": [4] * 8}
    train = {"ner": Dataset.from_dict({**rows, "labels": [[-100, 1, 0, -100]] * 8}),
             "sentiment": Dataset.from_dict({**rows, "labels": [i % 2 for i in range(8)]})}
    torch.manual_seed(0)
    tasks = {name: TASKS[name] for name in train}
    model = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks))
    args = MultiTaskTrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=4,
                                      use_cpu=True, report_to=[], disable_tqdm=True, save_strategy="no",
                                      loss_scaling="log_labels", task_loss_weights={"ner": 0.5})
    trainer = MultiTaskTrainer(model=model, args=args, train_dataset=train,
                               processing_class=AutoTokenizer.from_pretrained(minilm_dir()))
    trainer.create_optimizer_and_scheduler(num_training_steps=4)
    loader = iter(trainer.get_train_dataloader())
    batches = [next(loader) for _ in range(4)]
    with CountSyncs() as mode:
        for batch in batches:
            trainer.training_step(trainer.model, batch, num_items_in_batch=(batch["labels"] != -100).sum())
    assert mode.calls == []
