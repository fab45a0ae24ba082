"""Metric and loss keys: one module builds and parses them, and no two tasks of a model can share a key."""

from __future__ import annotations

import pytest
import torch
from conftest import minilm_dir, tiny_bert_config
from test_trainer import synthetic_ner
from transformers import AutoTokenizer

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.export.model_card import MultiTaskModelCardData
from hf_mtl.metrics import main_metric_key
from hf_mtl.metrics.keys import (
    average_key,
    check_metric_keys,
    loss_key,
    main_score_key,
    metric_key,
    parse_metric_key,
    task_metric_keys,
)
from hf_mtl.modeling.errors import TaskError
from hf_mtl.training.trainer import MultiTaskTrainer
from hf_mtl.training.training_args import MultiTaskTrainingArguments


def test_keys_are_built_and_parsed_in_one_place():
    assert metric_key("ner", "f1") == "eval_ner_f1" and metric_key("ner", "f1", "test") == "test_ner_f1"
    assert main_score_key("pos", "token_accuracy") == "eval_pos_accuracy"
    assert average_key() == "eval_average" and average_key("test") == "test_average"
    assert loss_key("ner") == "loss_ner"
    assert parse_metric_key("eval_ner_loc_f1", ["ner", "ner_loc"]) == ("eval", "ner_loc", "f1")
    assert parse_metric_key("test_ner_per_f1", ["ner", "ner_loc"]) == ("test", "ner", "per_f1")
    assert parse_metric_key("eval_average", ["ner"]) is None and parse_metric_key("eval_ner_f1", []) is None
    with pytest.raises(TaskError, match="did you mean 'seqeval'"):
        main_metric_key("seqevl")


def test_task_key_sets_include_per_entity_keys():
    keys = task_metric_keys("seqeval", {0: "O", 1: "B-LOC", 2: "I-LOC", 3: "B-PER"})
    assert {"f1", "loc_f1", "per_recall", "loss"} <= keys
    assert "f1_micro" in task_metric_keys("multilabel", {0: "a", 1: "b"})
    assert "pearson" in task_metric_keys("regression")


def test_colliding_keys_are_refused_naming_both_tasks():
    labels = {0: "O", 1: "B-LOC", 2: "I-LOC"}
    with pytest.raises(TaskError, match=r"tasks 'ner' and 'ner_loc' both produce the metric key 'eval_ner_loc_f1'"
                                        r".*rename one of them"):
        check_metric_keys({"ner": "seqeval", "ner_loc": "seqeval"}, {"ner": labels, "ner_loc": labels})
    # ner has no LOC entities: its keys (per_f1, ...) cannot be read as ner_loc's
    check_metric_keys({"ner": "seqeval", "ner_loc": "seqeval"}, {"ner": {0: "O", 1: "B-PER"}, "ner_loc": labels})
    check_metric_keys({"sentiment": "accuracy", "sentiment_fine": "accuracy"}, {})


def _model(ner_labels: list[str]) -> MultiTaskModel:
    torch.manual_seed(0)
    tasks = {"ner": {"type": "token-classification", "labels": ner_labels},
             "ner_loc": {"type": "token-classification", "labels": ["O", "B-LOC", "I-LOC"]}}
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks))


def _args(tmp_path) -> MultiTaskTrainingArguments:
    return MultiTaskTrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4,
                                      report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True, seed=0)


def test_ner_and_ner_loc_keys_collide_before_training(tmp_path):
    """Issue 20.4: `ner`'s per-entity loc_f1 and `ner_loc`'s f1 were both eval_ner_loc_f1 (a wrong score published)."""
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    data = synthetic_ner(8, 0)
    with pytest.raises(TaskError, match=r"tasks 'ner' and 'ner_loc' both produce the metric key 'eval_ner_loc_f1'"):
        MultiTaskTrainer(model=_model(["O", "B-LOC", "I-LOC"]), args=_args(tmp_path), processing_class=tokenizer,
                         train_dataset={"ner": data, "ner_loc": data})


def test_ner_and_ner_loc_without_shared_keys_train_and_report_each_task(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    data = synthetic_ner(8, 0)  # labels 0..2: B-PER/I-PER for ner, B-LOC/I-LOC for ner_loc
    trainer = MultiTaskTrainer(model=_model(["O", "B-PER", "I-PER"]), args=_args(tmp_path), processing_class=tokenizer,
                               train_dataset={"ner": data, "ner_loc": data}, eval_dataset={"ner": data, "ner_loc": data},
                               model_card_data=MultiTaskModelCardData())
    trainer.train()
    metrics = trainer.evaluate()
    assert {"eval_ner_f1", "eval_ner_per_f1", "eval_ner_loc_f1", "eval_ner_loc_loc_f1"} <= set(metrics)
    card = MultiTaskModelCardData()
    card.record_metrics(metrics, ["ner", "ner_loc"], step=2, epoch=None, in_training=False)
    assert card.results["ner_loc"]["validation"]["metrics"]["f1"] == metrics["eval_ner_loc_f1"]
    assert "loc_f1" not in card.results["ner"]["validation"]["metrics"]
    assert card.results["ner"]["validation"]["metrics"]["f1"] == metrics["eval_ner_f1"]
