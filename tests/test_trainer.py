"""MultiTaskTrainer: learning, per-task logging and metrics, gradient accumulation, determinism, bad input."""

from __future__ import annotations

import pytest
import torch
from conftest import minilm_dir, tiny_bert_config
from datasets import Dataset
from transformers import AutoTokenizer

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.errors import DataError, HfMtlError, TaskError
from hf_mtl.trainer import MultiTaskTrainer, default_metric
from hf_mtl.training_args import MultiTaskTrainingArguments

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


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_dir())


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
