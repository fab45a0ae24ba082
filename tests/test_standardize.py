"""Regression target standardisation (issue 21, item 5): fitted on train, stored in the config, the loss on the
standardised scale, predictions on the raw scale, the exported model exact."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import torch
from conftest import tiny_bert_config
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.data.prepare import prepare_task
from hf_mtl.data.tasks import TaskSpec
from hf_mtl.export.task_model import export_task
from hf_mtl.modeling.errors import DataError, TaskError

SICK = Path(__file__).resolve().parent / "fixtures" / "real_data" / "sick" / "SICK_excerpt.txt"
SCALE = {"mean": 3.5, "std": 1.25}


def _model(standardize=SCALE) -> MultiTaskModel:
    torch.manual_seed(0)
    tasks = {"score": {"type": "text-classification", "problem_type": "regression", "standardize": standardize},
             "nli": {"type": "text-classification", "labels": ["a", "b", "c"]}}
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks)).eval()


def _inputs() -> dict:
    torch.manual_seed(1)
    return {"input_ids": torch.randint(5, 1000, (3, 9)), "attention_mask": torch.ones(3, 9, dtype=torch.long)}


def test_predictions_on_the_raw_scale_and_loss_on_the_standardised_one():
    model, inputs = _model(), _inputs()
    head = model.heads["score"]
    labels = torch.tensor([1.0, 4.6, 3.2])
    out = model(**inputs, task="score", labels=labels)
    hidden = model.encoder(**inputs).last_hidden_state
    standardised = head.classifier(head.activation(head.dense(hidden[:, 0]))).view(-1)
    torch.testing.assert_close(out.logits.view(-1), standardised * SCALE["std"] + SCALE["mean"])
    expected_loss = torch.mean((standardised - (labels - SCALE["mean"]) / SCALE["std"]) ** 2)
    torch.testing.assert_close(out.loss, expected_loss)
    plain = _model(standardize=None)  # same seed, same weights: the raw head's loss is on the targets' scale
    torch.testing.assert_close(plain(**inputs, task="score").logits.view(-1), standardised)


def test_save_load_and_export_are_exact(tmp_path):
    model, inputs = _model(), _inputs()
    model.save_pretrained(tmp_path / "model")
    loaded = MultiTaskModel.from_pretrained(tmp_path / "model", trust_remote_code=False).eval()
    assert loaded.config.tasks["score"]["standardize"] == SCALE
    torch.testing.assert_close(loaded(**inputs, task="score").logits, model(**inputs, task="score").logits)
    export_task(model, "score", tmp_path / "score")
    single = AutoModelForSequenceClassification.from_pretrained(tmp_path / "score", trust_remote_code=False).eval()
    torch.testing.assert_close(single(**inputs).logits, model(**inputs, task="score").logits)


def test_config_rules():
    with pytest.raises(ValueError, match="`standardize` applies to regression tasks only"):
        MultiTaskConfig(encoder=tiny_bert_config(), tasks={"x": {"type": "text-classification", "labels": ["a", "b"],
                                                                 "standardize": SCALE}})
    with pytest.raises(ValueError, match="'std': number > 0"):
        _model(standardize={"mean": 1.0, "std": 0.0})
    with pytest.raises(TaskError, match="`standardize` applies to regression tasks"):
        TaskSpec(name="nli", type="text-classification", train=str(SICK), standardize=True)


def _sick_spec(**kw) -> TaskSpec:
    source = {"path": str(SICK), "delimiter": "\t"}
    return TaskSpec.from_dict({"name": "relatedness", "type": "text-classification", "problem_type": "regression",
                               "text_column": "sentence_A", "text_pair_column": "sentence_B",
                               "label_column": "relatedness_score", "train": {**source, "rows": "0:30"},
                               "validation": {**source, "rows": "30:"}, **kw})


def test_statistics_fitted_on_train_only(tiny_encoder_dir):
    rows = [line.split("\t") for line in SICK.read_text(encoding="utf-8").splitlines()]
    column = rows[0].index("relatedness_score")
    train = [float(row[column]) for row in rows[1:31]]
    data = prepare_task(_sick_spec(standardize=True), AutoTokenizer.from_pretrained(tiny_encoder_dir))
    scale = data.head_config["standardize"]
    assert scale["mean"] == pytest.approx(statistics.fmean(train), abs=1e-6)
    assert scale["std"] == pytest.approx(statistics.pstdev(train), abs=1e-6)
    assert "standardize" not in prepare_task(_sick_spec(), AutoTokenizer.from_pretrained(tiny_encoder_dir)).head_config


def test_constant_targets_cannot_be_standardised(tmp_path, tiny_encoder_dir):
    file = tmp_path / "flat.tsv"
    file.write_text("text\tlabel\n" + "a sentence\t2.0\n" * 6, encoding="utf-8")
    spec = TaskSpec(name="flat", type="text-classification", problem_type="regression", train=str(file),
                    validation=str(file), standardize=True)
    with pytest.raises(DataError, match="every train target is 2.0; `standardize: true` has no spread"):
        _ = prepare_task(spec, AutoTokenizer.from_pretrained(tiny_encoder_dir)).head_config
