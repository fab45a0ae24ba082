"""TaskSpec / DataSource: parsing recipes, validation, round trips, head configs, default metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from hf_mtl.data.tasks import PROBLEM_TYPES, DataSource, TaskSpec, looks_like_iob
from hf_mtl.modeling.errors import TaskError
from hf_mtl.modeling.task_kinds import TEXT_CLASSIFICATION, TOKEN_CLASSIFICATION


def test_constants():
    assert TOKEN_CLASSIFICATION == "token-classification"
    assert TEXT_CLASSIFICATION == "text-classification"
    assert PROBLEM_TYPES == ("single_label_classification", "multi_label_classification", "regression")


@pytest.mark.parametrize(
    "path, fmt",
    [("a.conllu", "conllu"), ("a.iob2", "conll"), ("a.conll", "conll"), ("a.txt", "conll"), ("a.CSV", "csv"),
     ("a.tsv", "tsv"), ("a.json", "json"), ("a.jsonl", "jsonl")],
)
def test_format_inferred_from_suffix(path, fmt):
    assert DataSource.from_value(path).format == fmt


def test_unknown_suffix_asks_for_format():
    with pytest.raises(TaskError, match=r"cannot tell the format of 'data\.xyz'.*add `format:`"):
        DataSource.from_value("data.xyz")


def test_source_from_dict_and_defaults():
    src = DataSource.from_value({"path": "ud.conllu"})
    assert src.tag_column == "upos"
    hub = DataSource.from_value({"name": "conll2003", "config": "conll2003"})
    assert hub.format == "hub" and hub.path is None
    with pytest.raises(TaskError, match="format 'hub' needs `name:`"):
        DataSource.from_value({"format": "hub"})
    with pytest.raises(TaskError, match=r"must be one of \['upos', 'xpos', 'feats', 'lemma', 'deprel'\]"):
        DataSource.from_value({"path": "ud.conllu", "tag_column": 3})
    with pytest.raises(TaskError, match="column index"):
        DataSource.from_value({"path": "x.txt", "tag_column": "ner"})
    with pytest.raises(TaskError, match=r"unknown data format 'cvs' \(did you mean 'csv'\?\)"):
        DataSource.from_value({"path": "x.txt", "format": "cvs"})


def test_from_dict_resolves_relative_paths(tmp_path):
    spec = TaskSpec.from_dict(
        {"name": "ner", "type": "token-classification", "train": "data/train.txt",
         "validation": {"path": str(tmp_path / "dev.txt")}},
        base_dir=tmp_path,
    )
    assert Path(spec.train.path) == tmp_path / "data" / "train.txt"
    assert spec.validation.path == str(tmp_path / "dev.txt")  # absolute paths are kept


def test_unknown_task_key_names_nearest():
    with pytest.raises(TaskError) as info:
        TaskSpec.from_dict({"name": "ner", "type": "token-classification", "train": "a.txt", "lables": ["O"]},
                           where="recipe.yaml")
    message = str(info.value)
    assert "recipe.yaml" in message and "'ner'" in message
    assert "unknown key 'lables'" in message and "did you mean 'labels'?" in message


def test_unknown_source_key_names_nearest():
    with pytest.raises(TaskError, match=r"`train`: unknown key 'encodng' \(did you mean 'encoding'\?\)"):
        TaskSpec.from_dict({"name": "ner", "type": "token-classification",
                            "train": {"path": "a.txt", "encodng": "latin-1"}})


@pytest.mark.parametrize(
    "overrides, pattern",
    [
        ({"name": "NER-Task"}, r"lowercase snake_case.*'ner_task'"),
        ({"type": "token-clasification"}, r"unknown `type`.*did you mean 'token-classification'"),
        ({"type": "text-classification", "problem_type": "regresion"}, r"did you mean 'regression'"),
        ({"problem_type": "regression"}, r"text-classification tasks only"),
        ({"max_length": 1}, r"`max_length` must be an integer >= 2"),
        ({"validation_fraction": 1.5}, r"`validation_fraction` must be between 0 and 1"),
        ({"loss_weight": -1}, r"`loss_weight` must be a finite number >= 0"),
        ({"loss_weight": float("nan")}, r"`loss_weight` must be a finite number >= 0"),
        ({"dropout": 1.0}, r"`dropout` must be in \[0, 1\)"),
        ({"max_train_examples": 0}, r"`max_train_examples` must be a positive integer"),
        ({"labels": ["O", "O"]}, r"lists O more than once"),
        ({"text_column": ["a", "b"]}, r"token tasks take one `text_column`"),
        ({"train": None}, r"at least one data split"),
    ],
)
def test_invalid_values_name_task_and_field(overrides, pattern):
    d = {"name": "ner", "type": "token-classification", "train": "a.txt"}
    d.update(overrides)
    with pytest.raises(TaskError, match=pattern):
        TaskSpec.from_dict(d)


def test_regression_with_labels_is_an_error():
    with pytest.raises(TaskError, match="regression task has no `labels`"):
        TaskSpec(name="score", type="text-classification", train="a.csv", problem_type="regression", labels=["x"])


def test_missing_name_or_type():
    with pytest.raises(TaskError, match="missing `type`"):
        TaskSpec.from_dict({"name": "ner", "train": "a.txt"})
    with pytest.raises(TaskError, match="a task must be a mapping"):
        TaskSpec.from_dict(["ner"])  # type: ignore[arg-type]


def test_to_dict_round_trips():
    d = {
        "name": "topic", "type": "text-classification",
        "train": {"path": "ag.csv", "has_header": False, "column_names": ["label", "title", "description"]},
        "validation": "dev.csv", "text_column": ["title", "description"],
        "label_map": {1: "World", 2: "Sports"}, "max_length": 64, "loss_weight": 2.0, "dropout": 0.2,
        "max_train_examples": 10,
    }
    spec = TaskSpec.from_dict(d)
    out = spec.to_dict()
    assert out["train"] == {"format": "csv", "path": "ag.csv", "has_header": False,
                            "column_names": ["label", "title", "description"]}
    assert out["validation"] == {"format": "csv", "path": "dev.csv"}
    assert "problem_type" not in out and "test" not in out  # defaults are left out
    assert TaskSpec.from_dict(out) == spec
    token = TaskSpec.from_dict({"name": "pos", "type": "token-classification",
                                "train": {"path": "x.conllu", "tag_column": "xpos"}, "label_all_subwords": True})
    assert TaskSpec.from_dict(token.to_dict()) == token
    assert token.to_dict()["train"]["tag_column"] == "xpos"


def test_head_config_token_and_text():
    ner = TaskSpec(name="ner", type=TOKEN_CLASSIFICATION, train="a.txt", loss_weight=0.5)
    config = ner.head_config(["O", "B-PER", "I-PER"])
    assert config == {"type": TOKEN_CLASSIFICATION, "id2label": {0: "O", 1: "B-PER", 2: "I-PER"},
                      "label2id": {"O": 0, "B-PER": 1, "I-PER": 2}, "dropout": None, "loss_weight": 0.5}
    multi = TaskSpec(name="tags", type=TEXT_CLASSIFICATION, train="a.csv",
                     problem_type="multi_label_classification", dropout=0.3)
    config = multi.head_config(["a", "b"])
    assert config["problem_type"] == "multi_label_classification" and config["dropout"] == 0.3
    reg = TaskSpec(name="score", type=TEXT_CLASSIFICATION, train="a.csv", problem_type="regression")
    config = reg.head_config([])
    assert config["id2label"] == {0: "value"} and config["label2id"] == {"value": 0}
    with pytest.raises(TaskError, match="needs the label list"):
        ner.head_config([])


def test_resolved_metric_defaults():
    ner = TaskSpec(name="ner", type=TOKEN_CLASSIFICATION, train="a.txt")
    assert ner.resolved_metric(["O", "B-PER", "I-PER"]) == "seqeval"
    assert ner.resolved_metric(["NOUN", "VERB", "PUNCT"]) == "token_accuracy"
    assert TaskSpec(name="t", type=TEXT_CLASSIFICATION, train="a.csv").resolved_metric(["a"]) == "accuracy"
    assert TaskSpec(name="t", type=TEXT_CLASSIFICATION, train="a.csv",
                    problem_type="multi_label_classification").resolved_metric() == "multilabel"
    assert TaskSpec(name="t", type=TEXT_CLASSIFICATION, train="a.csv",
                    problem_type="regression").resolved_metric() == "regression"
    assert TaskSpec(name="t", type=TEXT_CLASSIFICATION, train="a.csv", metric="f1").resolved_metric() == "f1"


def test_looks_like_iob():
    assert looks_like_iob(["O", "B-PER", "I-PER", "B-LOC"])
    assert looks_like_iob(["O", "S-PER", "E-PER"])
    assert not looks_like_iob(["O"])
    assert not looks_like_iob(["ADJ", "ADP", "PUNCT"])
    assert not looks_like_iob(["NN", "VBZ", "O"])


@pytest.mark.parametrize("name", ["NER-Task", "2ner", "", 3])
def test_task_name_rule_is_the_config_rule(name):
    from hf_mtl.modeling.configuration_multitask import check_task_name

    with pytest.raises(ValueError) as config_error:
        check_task_name(name)
    with pytest.raises(TaskError) as spec_error:
        TaskSpec(name=name, type="token-classification", train="a.txt")
    assert str(spec_error.value) == str(config_error.value)


@pytest.mark.parametrize("dropout", [1.0, -0.1, True, "0.1"])
def test_dropout_rule_is_the_config_rule(dropout):
    from hf_mtl.modeling.configuration_multitask import normalize_task_config

    with pytest.raises(TaskError, match=r"`dropout` must be in \[0, 1\)"):
        TaskSpec(name="t", type="token-classification", train="a.txt", dropout=dropout)
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\)"):
        normalize_task_config("t", {"type": "token-classification", "labels": ["O", "B-X"], "dropout": dropout})


@pytest.mark.parametrize("overrides", [{}, {"problem_type": "regression"}, {"problem_type": "multi_label_classification"}])
def test_head_config_is_the_normalized_config_entry(overrides):
    from hf_mtl.modeling.configuration_multitask import normalize_task_config

    spec = TaskSpec(name="t", type="text-classification", train="a.csv", dropout=0.2, **overrides)
    entry = spec.head_config(["a", "b"])
    assert entry == normalize_task_config("t", entry)
    with pytest.raises(TaskError, match="at least 2 labels"):  # the config's rule, raised as a TaskError
        TaskSpec(name="t", type="text-classification", train="a.csv").head_config(["a"])


def test_duplicate_task_names_are_one_check():
    from hf_mtl.data.tasks import group_tasks

    ner = TaskSpec(name="ner", type="token-classification", train="a.txt")
    with pytest.raises(TaskError, match="two tasks are named 'ner'; every task needs its own name"):
        group_tasks([ner, TaskSpec(name="ner", type="token-classification", train="b.txt", group="conll")])
