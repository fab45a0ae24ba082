"""Group batches in the model: one encoder pass, every head's loss added, each exact for its own labels."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_bert_config

from hf_mtl import MultiTaskConfig, MultiTaskModel

GROUP_TASKS = {
    "ner": {"type": "token-classification", "labels": ["O", "B-PER", "I-PER"], "loss_weight": 2.0},
    "pos": {"type": "token-classification", "labels": ["NOUN", "VERB", "DET", "ADJ"]},
    "sentiment": {"type": "text-classification", "labels": ["negative", "positive"], "loss_weight": 0.5},
}


@pytest.fixture
def model():
    torch.manual_seed(0)
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=GROUP_TASKS)).eval()


def _inputs(seed: int = 0, size: int = 4, length: int = 9) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, 2000, (size, length), generator=generator)
    mask = torch.ones_like(input_ids)
    mask[1, -3:] = 0
    ner = torch.randint(0, 3, (size, length), generator=generator)
    pos = torch.randint(0, 4, (size, length), generator=generator)
    ner[:, 0] = pos[:, 0] = -100
    ner[mask == 0] = pos[mask == 0] = -100
    ner[2] = -100  # example 2 has no NER labels (partial labels)
    sentiment = torch.tensor([0, 1, -100, 1])[:size]
    return {"input_ids": input_ids, "attention_mask": mask,
            "labels": {"ner": ner, "pos": pos, "sentiment": sentiment}}


def test_group_loss_is_the_sum_of_separate_passes(model):
    inputs = _inputs()
    labels = inputs.pop("labels")
    out = model(**inputs, labels=labels)
    separate = {task: model(**inputs, task=task, labels=labels[task]) for task in labels}
    assert torch.allclose(out.loss, sum(o.loss for o in separate.values()), atol=1e-6)
    for task, single in separate.items():
        assert torch.allclose(out.task_losses[task], single.loss, atol=1e-6), task
        assert torch.allclose(out.logits[task], single.logits, atol=1e-6), task
    # each task's loss is weighted by its loss_weight: ner (2.0) is twice its plain cross-entropy
    plain = torch.nn.functional.cross_entropy(out.logits["ner"].reshape(-1, 3), labels["ner"].reshape(-1))
    assert torch.allclose(out.task_losses["ner"], 2.0 * plain, atol=1e-6)


def test_group_loss_with_num_items_per_task(model):
    inputs = _inputs()
    labels = inputs.pop("labels")
    counts = {task: int((value != -100).sum()) + 5 for task, value in labels.items()}
    out = model(**inputs, labels=labels, num_items_in_batch={t: torch.tensor(c) for t, c in counts.items()})
    for task in labels:
        single = model(**inputs, task=task, labels=labels[task], num_items_in_batch=counts[task])
        assert torch.allclose(out.task_losses[task], single.loss, atol=1e-6), task
    with pytest.raises(ValueError, match=r"num_items_in_batch as \{task: count\}"):
        model(**inputs, labels=labels, num_items_in_batch=10)


def test_group_gradients_match_separate_passes(model):
    inputs = _inputs(seed=1)
    labels = inputs.pop("labels")
    model.zero_grad()
    model(**inputs, labels=labels).loss.backward()
    together = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    for task in labels:
        model(**inputs, task=task, labels=labels[task]).loss.backward()
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert torch.allclose(together[name], p.grad, atol=1e-6), name


def test_task_without_any_label_in_the_step_adds_zero(model):
    inputs = _inputs()
    labels = inputs.pop("labels")
    labels["ner"] = torch.full_like(labels["ner"], -100)
    out = model(**inputs, labels=labels, num_items_in_batch={"ner": torch.tensor(0), "pos": 20, "sentiment": 3})
    assert out.task_losses["ner"].item() == 0.0 and torch.isfinite(out.loss)


def test_group_batch_errors(model):
    inputs = _inputs()
    labels = inputs.pop("labels")
    with pytest.raises(ValueError, match="got labels for tasks"):
        model(**inputs, task=["ner", "pos"], labels=labels)
    with pytest.raises(ValueError, match="Unknown task 'chunk'"):
        model(**inputs, labels={**labels, "chunk": labels["pos"]})
    without = model(**inputs, task=["ner", "sentiment"])
    assert without.loss is None and set(without.logits) == {"ner", "sentiment"}
