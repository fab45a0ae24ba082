"""The `pooling:` option of text tasks (issue #22): one pooling module, recorded in the config, exact on export."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_bert_config

from hf_mtl import MultiTaskConfig, MultiTaskModel, TaskSpec
from hf_mtl.export.task_model import build_single_task_model
from hf_mtl.modeling.errors import TaskError
from hf_mtl.modeling.pooling import last_token_index, pool

HIDDEN = torch.randn(3, 5, 4)
RIGHT = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
LEFT = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])


def test_last_finds_the_last_real_token_for_right_and_left_padding():
    assert last_token_index(RIGHT, 5).tolist() == [2, 4, 0]
    assert last_token_index(LEFT, 5).tolist() == [4, 4, 4]
    torch.testing.assert_close(pool(HIDDEN, RIGHT, "last"), HIDDEN[[0, 1, 2], [2, 4, 0]])
    torch.testing.assert_close(pool(HIDDEN, LEFT, "last"), HIDDEN[:, 4])
    # LlamaForSequenceClassification's own rule on input ids
    input_ids = torch.tensor([[7, 8, 9, 0, 0], [1, 2, 3, 4, 5], [6, 0, 0, 0, 0]])
    llama = (torch.arange(5) * (input_ids != 0).int()).argmax(-1)
    assert last_token_index(RIGHT, 5).tolist() == llama.tolist()


@pytest.mark.parametrize("method", ["cls", "mean", "max", "last"])
def test_padding_never_changes_the_pooled_vector(method):
    noisy = HIDDEN.clone()
    noisy[RIGHT == 0] = 1e4  # the padding positions hold garbage
    torch.testing.assert_close(pool(noisy, RIGHT, method), pool(HIDDEN, RIGHT, method))


def test_mean_and_max_read_only_real_tokens():
    torch.testing.assert_close(pool(HIDDEN, RIGHT, "mean")[0], HIDDEN[0, :3].mean(0))
    torch.testing.assert_close(pool(HIDDEN, RIGHT, "max")[0], HIDDEN[0, :3].max(0).values)
    torch.testing.assert_close(pool(HIDDEN, None, "mean"), HIDDEN.mean(1))


def _model(pooling=None):
    task = {"type": "text-classification", "labels": ["a", "b"]}
    if pooling:
        task["pooling"] = pooling
    torch.manual_seed(0)
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks={"topic": task})).eval()


@pytest.mark.parametrize("method", ["cls", "mean", "max", "last"])
def test_the_head_pools_as_recorded_and_reloads(method, tmp_path):
    model = _model(method)
    assert model.config.tasks["topic"]["pooling"] == method
    input_ids, mask = torch.randint(5, 99, (3, 5)), RIGHT
    hidden = model.encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
    head = model.heads["topic"]
    expected = head.classifier(head.activation(head.dense(pool(hidden, mask, method))))
    torch.testing.assert_close(model(input_ids=input_ids, attention_mask=mask, task="topic").logits, expected)
    model.save_pretrained(tmp_path)
    reloaded = MultiTaskModel.from_pretrained(tmp_path).eval()
    assert reloaded.config.tasks["topic"]["pooling"] == method
    torch.testing.assert_close(reloaded(input_ids=input_ids, attention_mask=mask, task="topic").logits, expected)


def test_family_is_the_default_and_is_resolved_in_the_record():
    assert _model().config.tasks["topic"]["pooling"] == "cls"  # BERT's pooler reads the first token
    assert _model("family").config.tasks["topic"]["pooling"] == "cls"


def test_pooling_is_checked_where_it_is_written():
    with pytest.raises(ValueError, match=r"Task 'topic': `pooling` must be one of \['family', 'cls', 'mean', 'max', 'last'\]"):
        _model("avg")
    with pytest.raises(ValueError, match="`pooling` is for tasks with one label per text"):
        MultiTaskConfig(encoder=tiny_bert_config(),
                        tasks={"ner": {"type": "token-classification", "labels": ["O", "B"], "pooling": "mean"}})
    with pytest.raises(TaskError, match="`pooling` applies to text-classification tasks only"):
        TaskSpec(name="ner", type="token-classification", train="x.conll", pooling="mean")
    spec = TaskSpec(name="topic", type="text-classification", train="x.tsv", pooling="max")
    assert spec.head_config(["a", "b"])["pooling"] == "max"


def test_export_refuses_a_pooling_the_family_head_cannot_compute():
    with pytest.raises(TaskError, match="uses pooling='mean', but bert's sequence-classification head pools with 'cls'"):
        build_single_task_model(_model("mean"), "topic")
    single = build_single_task_model(_model("cls"), "topic")
    assert type(single).__name__ == "BertForSequenceClassification"
