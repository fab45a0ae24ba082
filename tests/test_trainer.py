"""MultiTaskTrainer: learning, per-task logging and metrics, gradient accumulation, determinism, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import tiny_bert_config
from datasets import Dataset
from transformers import TrainerCallback

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.modeling.errors import DataError, HfMtlError, TaskError
from hf_mtl.training.trainer import MultiTaskTrainer, default_metric
from hf_mtl.training.training_args import MultiTaskTrainingArguments

NER_LABELS = ["O", "B-PER", "I-PER"]
# Token ids of the synthetic tasks: 2000-2049 are first names (B-PER), 2050-2099 surnames (I-PER), others "O".
FIRST_NAME_IDS = range(2000, 2050)
SURNAME_IDS = range(2050, 2100)
OTHER_IDS = range(3000, 3200)


def synthetic_ner(size: int, seed: int) -> Dataset:
    generator = torch.Generator().manual_seed(seed)
    rows = {"input_ids": [], "attention_mask": [], "labels": [], "length": []}
    for _ in range(size):
        length = int(torch.randint(4, 12, (1,), generator=generator))
        ids, tags = [101], [-100]
        position = 0
        while position < length:
            if torch.rand(1, generator=generator) < 0.3 and position + 2 <= length:
                pick = torch.randint(0, 50, (2,), generator=generator).tolist()
                ids += [FIRST_NAME_IDS[pick[0]], SURNAME_IDS[pick[1]]]
                tags += [1, 2]
                position += 2
            else:
                ids.append(OTHER_IDS[int(torch.randint(0, 200, (1,), generator=generator))])
                tags.append(0)
                position += 1
        ids.append(102)
        tags.append(-100)
        rows["input_ids"].append(ids)
        rows["attention_mask"].append([1] * len(ids))
        rows["labels"].append(tags)
        rows["length"].append(len(ids))
    return Dataset.from_dict(rows)


def synthetic_sentiment(size: int, seed: int) -> Dataset:
    """Label 1 when the sentence contains token 2500 ("great"), else 0."""
    generator = torch.Generator().manual_seed(seed)
    rows = {"input_ids": [], "attention_mask": [], "labels": [], "length": []}
    for index in range(size):
        length = int(torch.randint(3, 10, (1,), generator=generator))
        ids = [OTHER_IDS[int(torch.randint(0, 200, (1,), generator=generator))] for _ in range(length)]
        label = index % 2
        if label:
            ids[int(torch.randint(0, length, (1,), generator=generator))] = 2500
        ids = [101, *ids, 102]
        rows["input_ids"].append(ids)
        rows["attention_mask"].append([1] * len(ids))
        rows["labels"].append(label)
        rows["length"].append(len(ids))
    return Dataset.from_dict(rows)


TASKS = {
    "ner": {"type": "token-classification", "labels": NER_LABELS},
    "sentiment": {"type": "text-classification", "labels": ["negative", "positive"]},
}


def make_model(seed: int = 0, dropout: float = 0.1) -> MultiTaskModel:
    torch.manual_seed(seed)
    encoder = tiny_bert_config(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return MultiTaskModel(MultiTaskConfig(encoder=encoder, tasks=TASKS))


def make_args(tmp_path, **overrides) -> MultiTaskTrainingArguments:
    settings = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=16,
        per_device_eval_batch_size=32,
        learning_rate=3e-3,
        max_steps=120,
        logging_steps=20,
        save_strategy="no",
        report_to="none",
        seed=0,
        use_cpu=True,
        disable_tqdm=True,
        dataloader_pin_memory=False,
    )
    settings.update(overrides)
    return MultiTaskTrainingArguments(**settings)


def test_two_task_training_improves_both_tasks_and_logs_per_task(tmp_path, tokenizer):
    train = {"ner": synthetic_ner(400, 0), "sentiment": synthetic_sentiment(400, 1)}
    evaluation = {"ner": synthetic_ner(100, 2), "sentiment": synthetic_sentiment(100, 3)}
    trainer = MultiTaskTrainer(
        model=make_model(), args=make_args(tmp_path), train_dataset=train, eval_dataset=evaluation,
        processing_class=tokenizer,
    )
    before = trainer.evaluate()
    trainer.train()
    after = trainer.evaluate()

    assert after["eval_ner_f1"] > before["eval_ner_f1"] + 0.3
    assert after["eval_ner_f1"] > 0.8
    assert after["eval_sentiment_accuracy"] > 0.85
    assert after["eval_average"] == pytest.approx((after["eval_ner_f1"] + after["eval_sentiment_accuracy"]) / 2)
    assert {"eval_ner_precision", "eval_ner_recall", "eval_ner_per_f1", "eval_sentiment_f1", "eval_loss"} <= set(after)

    training_logs = [entry for entry in trainer.state.log_history if "loss" in entry and "step" in entry]
    assert training_logs, trainer.state.log_history
    assert all("loss_ner" in entry and "loss_sentiment" in entry for entry in training_logs)
    assert training_logs[-1]["loss_ner"] < training_logs[0]["loss_ner"]
    assert training_logs[-1]["loss_sentiment"] < training_logs[0]["loss_sentiment"]


def test_every_training_batch_holds_one_task(tmp_path, tokenizer):
    train = {"ner": synthetic_ner(50, 0), "sentiment": synthetic_sentiment(30, 1)}
    trainer = MultiTaskTrainer(
        model=make_model(), args=make_args(tmp_path), train_dataset=train, processing_class=tokenizer
    )
    seen = {"ner": 0, "sentiment": 0}
    for batch in trainer.get_train_dataloader():
        task = batch["task"]
        seen[task] += batch["input_ids"].shape[0]
        if task == "ner":
            assert batch["labels"].shape == batch["input_ids"].shape
        else:
            assert batch["labels"].dim() == 1
    assert seen == {"ner": 50, "sentiment": 30}


def _train_one_step(tmp_path, tokenizer, batch_size: int, accumulation: int) -> dict[str, torch.Tensor]:
    train = {"ner": synthetic_ner(8, 5)}
    model = make_model(seed=1, dropout=0.0)
    args = make_args(
        tmp_path / f"b{batch_size}",
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=1,
        optim="sgd",
        learning_rate=0.5,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=0.0,
        length_grouping=False,
    )
    MultiTaskTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer).train()
    return {name: value.detach().clone() for name, value in model.named_parameters()}


def test_gradient_accumulation_equals_one_large_batch(tmp_path, tokenizer):
    # Sentences of different lengths: averaging per micro-batch and dividing by 2 would give another update.
    large = _train_one_step(tmp_path, tokenizer, batch_size=8, accumulation=1)
    accumulated = _train_one_step(tmp_path, tokenizer, batch_size=4, accumulation=2)
    initial = dict(make_model(seed=1, dropout=0.0).named_parameters())
    moved = max((large[name] - initial[name]).abs().max().item() for name in large)
    assert moved > 1e-3
    for name in large:
        assert torch.allclose(large[name], accumulated[name], atol=1e-6), name


def test_same_seed_same_weights(tmp_path, tokenizer):
    def run(tag: str) -> torch.Tensor:
        train = {"ner": synthetic_ner(64, 0), "sentiment": synthetic_sentiment(64, 1)}
        model = make_model()
        MultiTaskTrainer(
            model=model, args=make_args(tmp_path / tag, max_steps=10, sampling="temperature"), train_dataset=train,
            processing_class=tokenizer,
        ).train()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(run("a"), run("b"))


def test_task_loss_weights_reach_the_loss_not_the_config(tmp_path, tokenizer):
    model = make_model(dropout=0.0)
    trainer = MultiTaskTrainer(
        model=model, args=make_args(tmp_path, task_loss_weights={"sentiment": 0.5}),
        train_dataset={"sentiment": synthetic_sentiment(10, 0)}, processing_class=tokenizer,
    )
    # The config stays what was built (and what save_pretrained writes); the weight applies at run time.
    assert model.config.tasks["sentiment"]["loss_weight"] == 1.0
    assert trainer.task_loss_weight("sentiment") == 0.5 and trainer.task_loss_weight("ner") == 1.0
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        plain = model(**batch).loss
        weighted = trainer.compute_loss(model, batch)
    assert torch.allclose(weighted, 0.5 * plain)


def test_default_metrics_follow_labels():
    assert default_metric({"type": "token-classification", "id2label": {0: "O", 1: "B-LOC"}}) == "seqeval"
    assert default_metric({"type": "token-classification", "id2label": {0: "NOUN", 1: "VERB"}}) == "token_accuracy"
    assert default_metric({"type": "text-classification", "problem_type": "regression"}) == "regression"


# ---------------------------------------------------------------- bad input, caught before training


def test_dataset_for_unknown_task(tmp_path, tokenizer):
    with pytest.raises(TaskError, match=r"train_dataset has task\(s\) \['pos'\] that the model lacks"):
        MultiTaskTrainer(
            model=make_model(), args=make_args(tmp_path), train_dataset={"pos": synthetic_ner(5, 0)},
            processing_class=tokenizer,
        )


def test_empty_train_split(tmp_path, tokenizer):
    with pytest.raises(DataError, match=r"train_dataset\['ner'\] is empty"):
        MultiTaskTrainer(
            model=make_model(), args=make_args(tmp_path), train_dataset={"ner": synthetic_ner(5, 0).select([])},
            processing_class=tokenizer,
        )


def test_untokenized_dataset(tmp_path, tokenizer):
    with pytest.raises(DataError, match="needs tokenized 'input_ids' and 'labels'"):
        MultiTaskTrainer(
            model=make_model(), args=make_args(tmp_path),
            train_dataset={"sentiment": Dataset.from_dict({"text": ["good"], "label": [1]})},
            processing_class=tokenizer,
        )


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"sampling": "temperatur"}, "did you mean 'temperature'"),
        ({"sampling": "temperature", "sampling_temperature": 0.0}, "must be > 0"),
        ({"sampling_temperature": -1.0}, "must be > 0"),
    ],
)
def test_bad_sampling_arguments(tmp_path, overrides, error):
    with pytest.raises(HfMtlError, match=error):
        make_args(tmp_path, **overrides)


def test_weights_for_unknown_task(tmp_path, tokenizer):
    with pytest.raises(TaskError, match="task_loss_weights names task 'topic'"):
        MultiTaskTrainer(
            model=make_model(), args=make_args(tmp_path, task_loss_weights={"topic": 2.0}),
            train_dataset={"ner": synthetic_ner(5, 0)}, processing_class=tokenizer,
        )


def test_train_dataset_must_be_a_dict(tmp_path, tokenizer):
    with pytest.raises(TaskError, match=r"must be a dict \{task name: dataset\}"):
        MultiTaskTrainer(
            model=make_model(), args=make_args(tmp_path), train_dataset=synthetic_ner(5, 0), processing_class=tokenizer
        )


# ---------------------------------------------------------------- no host-device sync per step


class _RecordingTrainer(MultiTaskTrainer):
    """Records each micro-batch's task and loss, read after the step (the test's reference, not the trainer's)."""

    def training_step(self, model, inputs, num_items_in_batch=None):
        task = inputs["task"]
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.recorded.append((self.state.global_step, task, loss.item()))
        return loss


def test_training_step_keeps_task_losses_on_the_device(tmp_path, tokenizer, monkeypatch):
    train = {"ner": synthetic_ner(32, 0), "sentiment": synthetic_sentiment(32, 1)}
    trainer = MultiTaskTrainer(model=make_model(), args=make_args(tmp_path), train_dataset=train,
                               processing_class=tokenizer)
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    reads = []
    original_item, original_float = torch.Tensor.item, torch.Tensor.__float__

    def item(self):
        reads.append("item")
        return original_item(self)

    def as_float(self):
        reads.append("float")
        return original_float(self)

    loader = iter(trainer.get_train_dataloader())
    batches = [next(loader) for _ in range(3)]
    monkeypatch.setattr(torch.Tensor, "item", item)
    monkeypatch.setattr(torch.Tensor, "__float__", as_float)
    for batch in batches:
        num_items = (batch["labels"] != -100).sum()  # as the Trainer passes it
        trainer.training_step(trainer.model, batch, num_items_in_batch=num_items)
    monkeypatch.undo()
    assert reads == []  # nothing read a tensor back to the host
    assert trainer._task_losses.sums and all(torch.is_tensor(total) for total in trainer._task_losses.sums.values())


def test_logged_task_losses_are_the_mean_per_optimizer_step(tmp_path, tokenizer):
    train = {"ner": synthetic_ner(48, 0), "sentiment": synthetic_sentiment(48, 1)}
    args = make_args(tmp_path, max_steps=8, logging_steps=4, gradient_accumulation_steps=2,
                     per_device_train_batch_size=8)
    trainer = _RecordingTrainer(model=make_model(), args=args, train_dataset=train, processing_class=tokenizer)
    trainer.recorded = []
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry and "step" in entry]
    assert [entry["step"] for entry in logs] == [4, 8]
    for entry in logs:
        window = [(task, loss) for step, task, loss in trainer.recorded if entry["step"] - 4 <= step < entry["step"]]
        for task in ("ner", "sentiment"):
            losses = [loss for t, loss in window if t == task]
            if not losses:
                assert f"loss_{task}" not in entry
                continue
            # micro-batch losses are scaled for accumulation: x2 / micro-batches = mean loss per optimizer step
            assert entry[f"loss_{task}"] == pytest.approx(round(sum(losses) * 2 / len(losses), 4), abs=1e-4)


# ---------------------------------------------------------------- loss scaling and head learning rate


def test_log_labels_loss_scaling_combines_with_task_weights(tmp_path, tokenizer):
    model = make_model(dropout=0.0)
    trainer = MultiTaskTrainer(
        model=model, args=make_args(tmp_path, loss_scaling="log_labels", task_loss_weights={"ner": 0.5}),
        train_dataset={"ner": synthetic_ner(16, 0), "sentiment": synthetic_sentiment(16, 1)},
        processing_class=tokenizer,
    )
    assert trainer.task_loss_weight("ner") == pytest.approx(0.5 / math.log(3))
    assert trainer.task_loss_weight("sentiment") == pytest.approx(1 / math.log(2))
    for batch in trainer.get_train_dataloader():
        with torch.no_grad():
            plain, scaled = model(**batch).loss, trainer.compute_loss(model, batch)
        assert torch.allclose(scaled, plain * trainer.task_loss_weight(batch["task"]))
    assert model.config.tasks["ner"]["loss_weight"] == 1.0


@pytest.mark.parametrize(
    ("task", "scale"),
    [({"type": "text-classification", "labels": ["a", "b", "c", "d"]}, 1 / math.log(4)),
     ({"type": "text-classification", "problem_type": "multi_label_classification", "labels": ["a", "b", "c"]},
      1 / math.log(2)),
     ({"type": "text-classification", "problem_type": "regression"}, 1.0)],
)
def test_loss_scale_per_kind(task, scale):
    from hf_mtl.modeling.configuration_multitask import normalize_task_config
    from hf_mtl.training.training_args import loss_scale

    config = normalize_task_config("t", task)
    assert loss_scale(config, "log_labels") == pytest.approx(scale)
    assert loss_scale(config, "none") == 1.0


def test_logged_task_loss_follows_the_loss_scaling(tmp_path, tokenizer):
    def first_loss(scaling: str) -> float:
        args = make_args(tmp_path / scaling, max_steps=1, logging_steps=1, loss_scaling=scaling)
        trainer = MultiTaskTrainer(model=make_model(), args=args, train_dataset={"ner": synthetic_ner(16, 0)},
                                   processing_class=tokenizer)
        trainer.train()
        return next(entry["loss_ner"] for entry in trainer.state.log_history if "loss_ner" in entry)

    assert first_loss("log_labels") == pytest.approx(first_loss("none") / math.log(3), abs=2e-4)


def test_head_learning_rate_multiplier_gives_heads_their_own_groups(tmp_path, tokenizer):
    model = make_model()
    args = make_args(tmp_path, head_learning_rate_multiplier=10.0, learning_rate=1e-3, weight_decay=0.01,
                     max_steps=3, lr_scheduler_type="linear")
    trainer = MultiTaskTrainer(model=model, args=args, train_dataset={"ner": synthetic_ner(16, 0)},
                               processing_class=tokenizer)
    optimizer = trainer.create_optimizer()
    heads = {id(p) for p in model.heads.parameters()}
    head_groups = [g for g in optimizer.param_groups if any(id(p) in heads for p in g["params"])]
    encoder_groups = [g for g in optimizer.param_groups if g not in head_groups]
    assert all(id(p) in heads for g in head_groups for p in g["params"])
    assert [g["lr"] for g in head_groups] == pytest.approx([1e-2] * len(head_groups))
    assert [g["lr"] for g in encoder_groups] == [1e-3] * len(encoder_groups)
    assert sorted(g["weight_decay"] for g in head_groups) == sorted(g["weight_decay"] for g in encoder_groups)
    in_groups = [p for g in optimizer.param_groups for p in g["params"]]
    assert len(in_groups) == len({id(p) for p in in_groups}) == sum(1 for p in model.parameters() if p.requires_grad)

    class Rates(TrainerCallback):
        def on_step_end(self, args, state, control, optimizer=None, **kwargs):
            groups = optimizer.param_groups
            head = next(g["lr"] for g in groups if any(id(p) in heads for p in g["params"]))
            encoder = next(g["lr"] for g in groups if not any(id(p) in heads for p in g["params"]))
            rates.append((head, encoder))

    rates = []
    trainer.add_callback(Rates())
    trainer.train()  # the linear decay scales both alike: the ratio holds at every step
    assert len(rates) == 3 and rates[0][1] > rates[1][1] > 0
    assert all(head == pytest.approx(10 * encoder) for head, encoder in rates)


def test_default_optimizer_has_the_stock_groups(tmp_path, tokenizer):
    trainer = MultiTaskTrainer(model=make_model(), args=make_args(tmp_path), train_dataset={"ner": synthetic_ner(8, 0)},
                               processing_class=tokenizer)
    assert len(trainer.create_optimizer().param_groups) == 2  # decay / no decay, as transformers builds them


@pytest.mark.parametrize("value", [0.0, -1.0, float("inf")])
def test_bad_head_learning_rate_multiplier(tmp_path, value):
    with pytest.raises(TaskError, match="head_learning_rate_multiplier must be a finite number > 0"):
        make_args(tmp_path, head_learning_rate_multiplier=value)


def test_bad_loss_scaling(tmp_path):
    with pytest.raises(TaskError, match="loss_scaling='log' is not a loss scaling"):
        make_args(tmp_path, loss_scaling="log")


def test_loss_weights_are_resolved_once_per_run_not_per_batch(tmp_path, tokenizer, monkeypatch):
    trainer = MultiTaskTrainer(
        model=make_model(), args=make_args(tmp_path, max_steps=6, task_loss_weights={"sentiment": 0.5}),
        train_dataset={"ner": synthetic_ner(40, 0), "sentiment": synthetic_sentiment(40, 1)}, processing_class=tokenizer,
    )
    calls = []
    original = MultiTaskTrainer.task_loss_weight
    monkeypatch.setattr(MultiTaskTrainer, "task_loss_weight", lambda self, task: calls.append(task) or original(self, task))
    trainer.train()
    assert sorted(calls) == ["ner", "sentiment"]  # once per task for the 6 steps
    assert 0 < sum(trainer.examples_seen.values()) <= 6 * 16  # counted in compute_loss, per batch


def test_console_is_quiet_on_a_cpu_only_machine(tmp_path, tokenizer, capsys, caplog):
    """Issue #21: no pin_memory warning, no PAD-token notice, one evaluation bar per task with its own total."""
    import warnings

    if torch.cuda.is_available() or (hasattr(torch, "accelerator") and torch.accelerator.is_available()):
        pytest.skip("pinning is on where an accelerator is")
    settings = dict(output_dir=str(tmp_path / "out2"), max_steps=2, report_to="none", use_cpu=False, save_strategy="no")
    assert MultiTaskTrainingArguments(**settings).dataloader_pin_memory is False
    assert MultiTaskTrainingArguments(**settings, dataloader_pin_memory=True).dataloader_pin_memory is True
    train = {"ner": synthetic_ner(40, 0), "sentiment": synthetic_sentiment(40, 1)}
    evaluation = {"ner": synthetic_ner(70, 2), "sentiment": synthetic_sentiment(10, 3)}
    trainer = MultiTaskTrainer(model=make_model(), args=MultiTaskTrainingArguments(
        **settings, per_device_eval_batch_size=32, logging_steps=1), train_dataset=train, eval_dataset=evaluation,
        processing_class=tokenizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
        trainer.evaluate()
    assert not [w for w in caught if "pin_memory" in str(w.message) or "null_placement" in str(w.message)]
    assert "PAD/BOS/EOS" not in caplog.text
    bars = capsys.readouterr().err
    assert "3/3" in bars and "1/1" in bars and "4it [" not in bars  # ner: 3 batches, sentiment: 1, never one bar of 4
