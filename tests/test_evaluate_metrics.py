"""A task's metric from `evaluate` modules (issue 21, item 10): local scripts and folders, combined; a Hub id offline
is one clear line before training; `report_to: trackio` writes its local database without a network."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO_ROOT, TINY_TRAINING

from hf_mtl.data.metric_choice import metric_choice
from hf_mtl.data.tasks import TaskSpec
from hf_mtl.metrics import compute_task_metrics, main_metric_key
from hf_mtl.modeling.errors import TaskError
from hf_mtl.workflow.cli import main

METRICS = Path(__file__).resolve().parent / "fixtures" / "metrics"
TREC = Path(__file__).resolve().parent / "fixtures" / "real_data" / "trec"
AGREEMENT, DISAGREEMENTS = str(METRICS / "agreement.py"), str(METRICS / "disagreements")


def test_builtin_names_stay_and_modules_become_one_string():
    assert metric_choice("accuracy", "t") == "accuracy" and metric_choice(None, "t") is None
    one = metric_choice({"evaluate": AGREEMENT}, "t")
    assert one == f"evaluate:{AGREEMENT}" and main_metric_key(one) == "agreement"
    both = metric_choice({"evaluate": [AGREEMENT, DISAGREEMENTS], "main": "agreement"}, "t")
    assert main_metric_key(both) == "agreement" and metric_choice(both, "t") == both


def test_relative_module_paths_resolve_against_the_recipe_folder():
    spec = TaskSpec.from_dict({"name": "q", "type": "text-classification", "train": "x.tsv",
                               "metric": {"evaluate": "metrics/agreement.py"}}, base_dir=METRICS.parent)
    assert spec.metric == f"evaluate:{METRICS / 'agreement.py'}"


@pytest.mark.parametrize("value, message", [
    ("acuracy", "did you mean 'accuracy'"),
    ({"evaluate": [AGREEMENT, DISAGREEMENTS]}, "say which key of their scores is the task's main score with `main:`"),
    ({"evaluate": "no/such/metric.py"}, "evaluate module 'no/such/metric.py' does not exist"),
    ({"evaluate": AGREEMENT, "mian": "x"}, "unknown key 'mian'"),
])
def test_metric_errors_are_one_line(value, message):
    with pytest.raises(TaskError) as error:
        TaskSpec(name="q", type="text-classification", train="x.tsv", metric=value)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_combined_modules_score_classification_ids():
    metric = metric_choice({"evaluate": [AGREEMENT, DISAGREEMENTS], "main": "agreement"}, "t")
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]])
    scores = compute_task_metrics(metric, logits, np.array([0, 1, 1, -100]), {0: "a", 1: "b"})
    assert scores == {"agreement": pytest.approx(2 / 3), "disagreements": 1.0, "by_reference_1": 1.0}


def test_a_main_key_the_module_does_not_return_is_an_error():
    metric = metric_choice({"evaluate": AGREEMENT, "main": "f1"}, "t")
    with pytest.raises(TaskError, match="have no key 'f1'"):
        compute_task_metrics(metric, np.array([0, 1]), np.array([0, 1]))


def _recipe(tmp_path: Path, encoder: Path, metric, **training) -> Path:
    trec = {"format": "label_text", "label_before": ":"}
    raw = {"output_dir": str(tmp_path / "model"), "model": {"encoder": str(encoder)},
           "tasks": [{"name": "question_type", "type": "text-classification", "max_length": 32, "metric": metric,
                      "train": {"path": str(TREC / "train_5500.label"), **trec},
                      "test": {"path": str(TREC / "TREC_10.label"), **trec}}],
           "training": {**TINY_TRAINING, **training}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_training_and_evaluate_report_the_module_scores(tmp_path, tiny_encoder_dir, capsys):
    recipe = _recipe(tmp_path, tiny_encoder_dir, {"evaluate": [AGREEMENT, DISAGREEMENTS], "main": "agreement"})
    assert main(["train", str(recipe)]) == 0
    saved = json.loads((tmp_path / "model" / "eval_results.json").read_text())
    assert saved["eval_average"] == pytest.approx(saved["eval_question_type_agreement"])
    assert "eval_question_type_disagreements" in saved
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "model"), str(recipe)]) == 0
    assert "test_question_type_agreement" in json.loads(capsys.readouterr().out)


def test_a_hub_id_offline_fails_before_training_in_one_line(tmp_path, tiny_encoder_dir, capsys):
    recipe = _recipe(tmp_path, tiny_encoder_dir, {"evaluate": "someone/their_metric"})
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    line = next(line for line in err if "someone/their_metric" in line)
    assert "cannot load the evaluate module 'someone/their_metric'" in line and "HF_HUB_OFFLINE" in line
    assert not (tmp_path / "model" / "model.safetensors").exists()


def test_report_to_trackio_writes_its_local_database(tmp_path, tiny_encoder_dir):
    recipe = _recipe(tmp_path, tiny_encoder_dir, None, report_to="trackio", project="hf-mtl-test")
    env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "trackio"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "hf_mtl", "train", str(recipe)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    database = tmp_path / "trackio" / "hf-mtl-test.db"
    with sqlite3.connect(database) as connection:
        logged = [json.loads(row[0]) for row in connection.execute("select metrics from metrics")]
    assert any("train/loss_question_type" in entry for entry in logged)
    assert any("eval/question_type_accuracy" in entry for entry in logged)
