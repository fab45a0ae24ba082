"""MultiTaskTrainer.predict / evaluate as stock Trainer entry points: one task's dataset, a dict, custom metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_bert_config
from datasets import Dataset
from test_trainer import make_args, make_model, synthetic_ner, synthetic_sentiment

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.modeling.errors import TaskError
from hf_mtl.training.trainer import MultiTaskTrainer


@pytest.fixture(scope="module")
def data():
    return {"ner": synthetic_ner(20, 2), "sentiment": synthetic_sentiment(12, 3)}


def make_trainer(tmp_path, tokenizer, **kwargs) -> MultiTaskTrainer:
    return MultiTaskTrainer(model=make_model(dropout=0.0), args=make_args(tmp_path), processing_class=tokenizer,
                            **kwargs)


def test_predict_one_task_from_argument_or_column(tmp_path, tokenizer, data):
    trainer = make_trainer(tmp_path, tokenizer)
    output = trainer.predict(data["ner"], task="ner")
    assert output.predictions.shape == output.label_ids.shape == (20, max(len(x) for x in data["ner"]["input_ids"]))
    assert {"test_ner_f1", "test_ner_precision", "test_average", "test_loss"} <= set(output.metrics)
    assert output.metrics["test_average"] == output.metrics["test_ner_f1"]
    # rows in the dataset's order, token tasks as argmax ids (the model's own), labels -100 past each row's end
    row = data["ner"][7]
    with torch.no_grad():
        logits = trainer.model(input_ids=torch.tensor([row["input_ids"]]), task="ner").logits[0]
    assert output.predictions[7][: len(row["input_ids"])].tolist() == logits.argmax(-1).tolist()
    assert output.label_ids[7][: len(row["labels"])].tolist() == row["labels"]
    assert (output.label_ids[7][len(row["labels"]):] == -100).all()

    with_column = data["ner"].add_column("task", ["ner"] * 20)
    from_column = trainer.predict(with_column)
    assert np.array_equal(from_column.predictions, output.predictions)
    assert from_column.metrics["test_ner_f1"] == output.metrics["test_ner_f1"]
    assert trainer.predict_task("ner", data["ner"]).metrics["test_ner_f1"] == output.metrics["test_ner_f1"]


def test_predict_a_dict_of_task_datasets(tmp_path, tokenizer, data):
    trainer = make_trainer(tmp_path, tokenizer)
    output = trainer.predict(data)
    assert set(output.predictions) == set(output.label_ids) == {"ner", "sentiment"}
    assert output.predictions["sentiment"].shape == (12, 2)  # text tasks: logits
    assert output.metrics["test_average"] == pytest.approx(
        (output.metrics["test_ner_f1"] + output.metrics["test_sentiment_accuracy"]) / 2
    )
    single = trainer.predict(data["sentiment"], task="sentiment")
    assert np.allclose(single.predictions, output.predictions["sentiment"], atol=1e-6)


def test_a_task_column_naming_several_tasks_is_split_by_task(tmp_path, tokenizer, data):
    torch.manual_seed(0)
    tasks = {"sentiment": {"type": "text-classification", "labels": ["negative", "positive"]},
             "topic": {"type": "text-classification", "labels": ["a", "b", "c"]}}
    model = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks))
    source = data["sentiment"]
    order = ["topic", "sentiment", "topic", "sentiment", "sentiment", "topic", "topic", "sentiment"]
    mixed = Dataset.from_dict({"input_ids": source["input_ids"][:8], "attention_mask": source["attention_mask"][:8],
                               "labels": [i % 2 for i in range(8)], "task": order})
    trainer = MultiTaskTrainer(model=model, args=make_args(tmp_path), processing_class=tokenizer)
    output = trainer.predict(mixed)
    assert list(output.predictions) == ["topic", "sentiment"]  # in order of first appearance
    assert output.predictions["topic"].shape == (4, 3) and output.predictions["sentiment"].shape == (4, 2)
    topic_rows = [i for i, task in enumerate(order) if task == "topic"]
    alone = trainer.predict(mixed.select(topic_rows).remove_columns("task"), task="topic")
    assert np.allclose(alone.predictions, output.predictions["topic"], atol=1e-6)
    assert {"test_topic_accuracy", "test_sentiment_accuracy", "test_average"} <= set(output.metrics)


def test_predict_errors_name_the_fix(tmp_path, tokenizer, data):
    trainer = make_trainer(tmp_path, tokenizer)
    with pytest.raises(TaskError, match=r"Cannot tell which task test_dataset is for: pass task=<name>"):
        trainer.predict(data["ner"])
    with pytest.raises(TaskError, match=r"task='sentiment', but the 'task' column of test_dataset names \['ner'\]"):
        trainer.predict(data["ner"].add_column("task", ["ner"] * 20), task="sentiment")
    with pytest.raises(TaskError, match="the model lacks"):
        trainer.predict(data["ner"], task="pos")


def test_custom_compute_metrics_is_told_the_task_and_eval_average_stays(tmp_path, tokenizer, data):
    calls = []

    def with_task(prediction, task):
        calls.append((task, prediction.predictions.shape[0]))
        return {"rows": float(prediction.predictions.shape[0])}

    trainer = make_trainer(tmp_path, tokenizer, eval_dataset=data, compute_metrics=with_task)
    metrics = trainer.evaluate()
    assert sorted(calls) == [("ner", 20), ("sentiment", 12)]
    assert metrics["eval_ner_rows"] == 20 and metrics["eval_sentiment_rows"] == 12
    assert metrics["eval_average"] == pytest.approx((metrics["eval_ner_f1"] + metrics["eval_sentiment_accuracy"]) / 2)

    seen = []

    def without_task(prediction):
        seen.append(trainer.eval_task)
        return {"accuracy": 0.25}  # overrides the task's own key of that name

    trainer = make_trainer(tmp_path, tokenizer, eval_dataset=data, compute_metrics=without_task)
    metrics = trainer.evaluate()
    assert sorted(seen) == ["ner", "sentiment"] and trainer.eval_task is None
    assert metrics["eval_sentiment_accuracy"] == 0.25
    assert metrics["eval_average"] == pytest.approx((metrics["eval_ner_f1"] + 0.25) / 2)
    assert trainer.predict(data["sentiment"], task="sentiment").metrics["test_sentiment_accuracy"] == 0.25


def test_evaluate_one_dataset_with_its_task(tmp_path, tokenizer, data):
    trainer = make_trainer(tmp_path, tokenizer)
    metrics = trainer.evaluate(data["sentiment"], task="sentiment")
    assert metrics["eval_average"] == metrics["eval_sentiment_accuracy"]
    with pytest.raises(TaskError, match="Cannot tell which task eval_dataset is for"):
        trainer.evaluate(data["sentiment"])
