"""Training with task groups: one sampling unit, per-task losses and counts, exact accumulation, bad input."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_bert_config
from datasets import Dataset
from test_trainer import NER_LABELS, make_args, synthetic_ner, synthetic_sentiment

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.data import DataCollatorForMultiTask
from hf_mtl.modeling.errors import DataError, TaskError
from hf_mtl.training.sampling import SAMPLING_STRATEGIES
from hf_mtl.training.trainer import MultiTaskTrainer

GROUP_TASKS = {
    "ner": {"type": "token-classification", "labels": NER_LABELS},
    "kind": {"type": "token-classification", "labels": ["even", "odd", "name"]},
    "sentiment": {"type": "text-classification", "labels": ["negative", "positive"]},
}
GROUPS = {"tokens": ["ner", "kind"]}


def synthetic_group(size: int, seed: int, missing_every: int = 4) -> Dataset:
    """The synthetic NER sentences with a second tag column: 'name' on names, else the token id's parity. Every
    ``missing_every``-th sentence has no 'kind' tags and every ``missing_every + 1``-th no NER tags."""
    base = synthetic_ner(size, seed)
    kinds, ners = [], []
    for row, (ids, tags) in enumerate(zip(base["input_ids"], base["labels"], strict=True)):
        kind = [-100 if tag == -100 else 2 if tag > 0 else token % 2 for token, tag in zip(ids, tags, strict=True)]
        kinds.append([-100] * len(ids) if missing_every and row % missing_every == 1 else kind)
        ners.append([-100] * len(ids) if missing_every and row % (missing_every + 1) == 2 else tags)
    return base.remove_columns("labels").add_column("labels_ner", ners).add_column("labels_kind", kinds)


def make_group_model(seed: int = 0, dropout: float = 0.1) -> MultiTaskModel:
    torch.manual_seed(seed)
    encoder = tiny_bert_config(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return MultiTaskModel(MultiTaskConfig(encoder=encoder, tasks=GROUP_TASKS))


def view(group: Dataset, task: str) -> Dataset:
    other = [c for c in group.column_names if c.startswith("labels_") and c != f"labels_{task}"]
    return group.remove_columns(other).rename_column(f"labels_{task}", "labels")


def test_group_trains_beside_a_single_task_and_logs_per_task(tmp_path, tokenizer):  # noqa: F811
    train = {"tokens": synthetic_group(320, 0), "sentiment": synthetic_sentiment(160, 1)}
    evaluation = {"ner": view(synthetic_group(100, 2, 0), "ner"), "kind": view(synthetic_group(100, 2, 0), "kind"),
                  "sentiment": synthetic_sentiment(100, 3)}
    trainer = MultiTaskTrainer(
        model=make_group_model(), args=make_args(tmp_path, max_steps=60, sampling="uniform", learning_rate=5e-3),
        train_dataset=train,
        eval_dataset=evaluation, processing_class=tokenizer, task_groups=GROUPS,
    )
    trainer.train()
    metrics = trainer.evaluate()
    assert metrics["eval_ner_f1"] > 0.6 and metrics["eval_kind_accuracy"] > 0.7
    assert metrics["eval_average"] == pytest.approx(
        (metrics["eval_ner_f1"] + metrics["eval_kind_accuracy"] + metrics["eval_sentiment_accuracy"]) / 3)
    logs = [entry for entry in trainer.state.log_history if "loss" in entry and "step" in entry]
    assert logs and all({"loss_ner", "loss_kind", "loss_sentiment"} <= set(entry) for entry in logs)
    assert logs[-1]["loss_ner"] < logs[0]["loss_ner"] and logs[-1]["loss_kind"] < logs[0]["loss_kind"]
    seen = trainer.examples_seen
    assert seen["ner"] == seen["kind"] > 0 and seen["sentiment"] > 0
    assert seen["ner"] + seen["sentiment"] <= 60 * 16  # a pass's last batch may be smaller


def test_logged_task_losses_add_up_to_the_loss(tmp_path, tokenizer):  # noqa: F811
    trainer = MultiTaskTrainer(
        model=make_group_model(), args=make_args(tmp_path, max_steps=4, logging_steps=1, gradient_accumulation_steps=2,
                                                 per_device_train_batch_size=8),
        train_dataset={"tokens": synthetic_group(64, 0)}, processing_class=tokenizer, task_groups=GROUPS,
    )
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry and "step" in entry]
    assert len(logs) == 4
    for entry in logs:
        assert entry["loss"] == pytest.approx(entry["loss_ner"] + entry["loss_kind"], abs=2e-4)


def test_group_batches_carry_every_task_and_sampling_sees_one_unit(tmp_path, tokenizer):  # noqa: F811
    train = {"tokens": synthetic_group(48, 0), "sentiment": synthetic_sentiment(16, 1)}
    for strategy in SAMPLING_STRATEGIES:
        trainer = MultiTaskTrainer(
            model=make_group_model(), args=make_args(tmp_path, max_steps=8, sampling=strategy), train_dataset=train,
            processing_class=tokenizer, task_groups=GROUPS,
        )
        sampler = trainer.get_train_sampler()
        assert sampler.task_sizes == {"tokens": 48, "sentiment": 16}, strategy  # a group is sized by its examples
        probabilities = sampler.probabilities()
        assert list(probabilities) == ["tokens", "sentiment"], strategy
        if strategy == "proportional":
            assert probabilities["tokens"] == pytest.approx(0.75)
    seen = {"tokens": 0, "sentiment": 0}
    for batch in trainer.get_train_dataloader():
        if isinstance(batch["task"], list):
            assert batch["task"] == ["ner", "kind"] and set(batch["labels"]) == {"ner", "kind"}
            assert all(labels.shape == batch["input_ids"].shape for labels in batch["labels"].values())
            seen["tokens"] += len(batch["input_ids"])
        else:
            seen[batch["task"]] += len(batch["input_ids"])
    assert seen["tokens"] > 0 and seen["sentiment"] > 0


def _one_step(tmp_path, tokenizer, batch_size: int, accumulation: int) -> dict[str, torch.Tensor]:  # noqa: F811
    model = make_group_model(seed=1, dropout=0.0)
    args = make_args(
        tmp_path / f"b{batch_size}", per_device_train_batch_size=batch_size, gradient_accumulation_steps=accumulation,
        max_steps=1, optim="sgd", learning_rate=0.5, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        max_grad_norm=0.0, length_grouping=False,
    )
    MultiTaskTrainer(model=model, args=args, train_dataset={"tokens": synthetic_group(8, 5, missing_every=3)},
                     processing_class=tokenizer, task_groups=GROUPS).train()
    return {name: value.detach().clone() for name, value in model.named_parameters()}


def test_group_gradient_accumulation_equals_one_large_batch(tmp_path, tokenizer):  # noqa: F811
    # partial labels make the tasks' label counts differ per micro-batch: each loss must use its own count
    large = _one_step(tmp_path, tokenizer, batch_size=8, accumulation=1)
    accumulated = _one_step(tmp_path, tokenizer, batch_size=4, accumulation=2)
    initial = dict(make_group_model(seed=1, dropout=0.0).named_parameters())
    for head in ("ner", "kind"):
        name = f"heads.{head}.classifier.weight"
        assert (large[name] - initial[name]).abs().max() > 1e-3, head
    for name in large:
        assert torch.allclose(large[name], accumulated[name], atol=1e-6), name


def test_group_errors(tmp_path, tokenizer):  # noqa: F811
    train = {"tokens": synthetic_group(16, 0)}
    args = make_args(tmp_path, max_steps=1)
    with pytest.raises(TaskError, match=r"task_groups\['tokens'\] names task\(s\) \['chunk'\] that the model lacks"):
        MultiTaskTrainer(model=make_group_model(), args=args, train_dataset=train, processing_class=tokenizer,
                         task_groups={"tokens": ["ner", "chunk"]})
    with pytest.raises(TaskError, match="group 'ner' has the name of a task"):
        MultiTaskTrainer(model=make_group_model(), args=args, train_dataset=train, processing_class=tokenizer,
                         task_groups={"ner": ["ner", "kind"]})
    with pytest.raises(TaskError, match="that the model lacks; the model has tasks"):
        MultiTaskTrainer(model=make_group_model(), args=args, train_dataset=train, processing_class=tokenizer)
    with pytest.raises(DataError, match="it needs tokenized 'input_ids' and 'labels_ner', 'labels_kind'"):
        MultiTaskTrainer(model=make_group_model(), args=args, processing_class=tokenizer, task_groups=GROUPS,
                         train_dataset={"tokens": train["tokens"].remove_columns("labels_kind")})


def test_collator_pads_each_task_of_a_group(tokenizer):  # noqa: F811
    collate = DataCollatorForMultiTask(
        tokenizer, {"ner": "token-classification", "sentiment": "text-classification"},
        task_groups={"g": ["ner", "sentiment"]},
    )
    batch = collate([
        {"task": "g", "input_ids": [101, 7592, 102], "attention_mask": [1, 1, 1], "labels_ner": [-100, 1, -100],
         "labels_sentiment": 1},
        {"task": "g", "input_ids": [101, 102], "attention_mask": [1, 1], "labels_ner": [-100, -100],
         "labels_sentiment": -100},
    ])
    assert batch["task"] == ["ner", "sentiment"]
    assert batch["labels"]["ner"].tolist() == [[-100, 1, -100], [-100, -100, -100]]
    assert batch["labels"]["sentiment"].tolist() == [1, -100]
    with pytest.raises(TaskError, match="every feature needs 'labels_sentiment'"):
        collate([{"task": "g", "input_ids": [101, 102], "attention_mask": [1, 1], "labels_ner": [-100, -100]}])


def test_task_loss_weights_reach_each_task_of_a_group(tmp_path, tokenizer):  # noqa: F811
    trainer = MultiTaskTrainer(
        model=make_group_model(dropout=0.0), args=make_args(tmp_path, max_steps=1, task_loss_weights={"kind": 0.0}),
        train_dataset={"tokens": synthetic_group(16, 0)}, processing_class=tokenizer, task_groups=GROUPS,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    loss, outputs = trainer.compute_loss(trainer.model, batch, return_outputs=True)
    task_losses = outputs["task_losses"]
    assert torch.allclose(loss, task_losses["ner"], atol=1e-6) and task_losses["kind"] == 0
    assert trainer.model.config.tasks["kind"]["loss_weight"] == 1.0
