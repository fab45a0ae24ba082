"""End to end through the `hf-mtl` command: train -> evaluate -> predict -> export -> reload, compare,
transfer to a new task, push up to the upload, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import SAMPLES_DIR, TINY_TRAINING
from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer

from hf_mtl import MultiTaskModel
from hf_mtl.workflow.cli import main

UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"]
TASKS = [
    {"name": "ner", "type": "token-classification", "train": str(SAMPLES_DIR / "conll2003_train.txt"),
     "validation": str(SAMPLES_DIR / "conll2003_validation.txt")},
    {"name": "pos", "type": "token-classification",
     "train": {"path": str(SAMPLES_DIR / "ud_en_ewt_train.conllu"), "tag_column": "upos"},
     "validation": {"path": str(SAMPLES_DIR / "ud_en_ewt_validation.conllu"), "tag_column": "upos"},
     "labels": UPOS},
    {"name": "sentiment", "type": "text-classification", "train": str(SAMPLES_DIR / "sst2_train.tsv"),
     "validation": str(SAMPLES_DIR / "sst2_validation.tsv"), "text_column": "sentence",
     "label_map": {0: "negative", 1: "positive"}},
]
SMALL = {"max_train_examples": 48, "max_eval_examples": 24, "max_length": 48}


def write_recipe(path, encoder, output_dir, tasks=None, **training):
    recipe = {
        "output_dir": str(output_dir),
        "model": {"encoder": str(encoder)},
        "tasks": [{**task, **SMALL} for task in (tasks or TASKS)],
        "training": {**TINY_TRAINING, **training},
    }
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_encoder_dir):
    folder = tmp_path_factory.mktemp("cli")
    recipe = write_recipe(folder / "recipe.yaml", tiny_encoder_dir, folder / "model")
    assert main(["train", str(recipe)]) == 0
    return folder, recipe


def test_train_writes_a_complete_model_folder(trained):
    folder, _ = trained
    model_dir = folder / "model"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "modeling_multitask.py", "README.md",
                 "eval_results.json", "training_curves.png", "train_summary.json"):
        assert (model_dir / name).is_file(), name
    results = json.loads((model_dir / "eval_results.json").read_text())
    assert {"eval_ner_f1", "eval_pos_accuracy", "eval_sentiment_accuracy", "eval_average"} <= set(results)
    card = (model_dir / "README.md").read_text()
    assert "model-index" in card and "task_name: ner" not in card or "name: ner" in card
    assert "hf-mtl" in card
    summary = json.loads((model_dir / "train_summary.json").read_text())
    assert sum(summary["examples_seen"].values()) == 6 * 8


def test_model_card_has_a_model_index_entry_per_task(trained):
    folder, _ = trained
    card = (folder / "model" / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    results = header["model-index"][0]["results"]
    assert sorted(result["task"]["name"] for result in results) == ["ner", "pos", "sentiment"]
    assert all(isinstance(result["metrics"][0]["value"], float) for result in results)


def test_evaluate_reports_per_task_metrics(trained, capsys):
    folder, recipe = trained
    assert main(["evaluate", str(folder / "model"), str(recipe), "--split", "validation"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    saved = json.loads((folder / "model" / "eval_results.json").read_text())
    assert metrics["eval_ner_f1"] == pytest.approx(saved["eval_ner_f1"])
    assert metrics["eval_sentiment_accuracy"] == pytest.approx(saved["eval_sentiment_accuracy"])


def test_predict_outputs_every_head_as_json_lines(trained, capsys, tmp_path):
    folder, _ = trained
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("Peter Blackburn lives in Berlin .\nA gorgeous , witty film .\n")
    assert main(["predict", str(folder / "model"), "--input", str(inputs)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["text"] for line in lines] == ["Peter Blackburn lives in Berlin .", "A gorgeous , witty film ."]
    assert {"ner", "pos", "sentiment"} <= set(lines[0])
    assert len(lines[0]["pos"]) == 6
    assert lines[1]["sentiment"]["label"] in ("negative", "positive")
    assert main(["predict", str(folder / "model"), "--text", "Hello there", "--tasks", "sentiment"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert set(only) == {"text", "sentiment"}


def test_export_then_reload_with_plain_transformers(trained, tmp_path):
    folder, _ = trained
    assert main(["export", str(folder / "model"), "--task", "ner", str(tmp_path / "ner")]) == 0
    single = AutoModelForTokenClassification.from_pretrained(tmp_path / "ner").eval()
    multi = AutoModel.from_pretrained(folder / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "ner")
    inputs = tokenizer(["Peter lives in Berlin"], return_tensors="pt")
    assert torch.allclose(single(**inputs).logits, multi(**inputs, task="ner").logits, atol=1e-5)
    assert single.config.id2label == multi.config.tasks["ner"]["id2label"]


def test_transfer_adds_a_head_with_frozen_encoder(trained, tmp_path):
    folder, _ = trained
    new_task = {"name": "topic", "type": "text-classification",
                "train": {"path": str(SAMPLES_DIR / "ag_news_train.csv"), "has_header": False,
                          "column_names": ["label", "title", "description"]},
                "validation": {"path": str(SAMPLES_DIR / "ag_news_validation.csv"), "has_header": False,
                               "column_names": ["label", "title", "description"]},
                "text_column": ["title", "description"],
                "label_map": {1: "World", 2: "Sports", 3: "Business", 4: "Sci/Tech"}}
    recipe = write_recipe(tmp_path / "transfer.yaml", "embedded", tmp_path / "transfer", tasks=[new_task])
    raw = yaml.safe_load(recipe.read_text())
    raw["model"] = {"from_model": str(folder / "model"), "freeze_encoder": True}
    recipe.write_text(yaml.safe_dump(raw))
    assert main(["train", str(recipe)]) == 0
    before = MultiTaskModel.from_pretrained(folder / "model")
    after = MultiTaskModel.from_pretrained(tmp_path / "transfer")
    assert after.task_names == ["ner", "pos", "sentiment", "topic"]
    for name, value in before.encoder.state_dict().items():
        assert torch.equal(value, after.encoder.state_dict()[name]), name
    assert torch.equal(before.heads["ner"].classifier.weight, after.heads["ner"].classifier.weight)


def test_compare_trains_single_and_joint_models(tmp_path, tiny_encoder_dir, capsys):
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_encoder_dir, tmp_path / "run", tasks=TASKS[::2], max_steps=4)
    assert main(["compare", str(recipe), "--compare-dir", str(tmp_path / "cmp"), "--split", "validation"]) == 0
    table = capsys.readouterr().out
    assert "| ner |" in table and "| sentiment |" in table and "**mean**" in table
    payload = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    rows = {row["task"]: row for row in payload["rows"]}
    # Each single-task model saw as many examples of its task as the joint model did (whole batches).
    for task, row in rows.items():
        assert row["single_examples_seen"] >= row["joint_examples_seen"] > 0, task
        assert row["difference"] == pytest.approx(row["joint"] - row["single"])
    assert payload["summary"]["single_parameters"] > payload["summary"]["joint_parameters"]
    assert (tmp_path / "cmp" / "single_ner" / "model.safetensors").is_file()
    # Issue #21: a few steps per single-task model is said in the table, the JSON and the log, with the split.
    assert all(0 < steps < 100 for steps in payload["single_steps"].values())
    assert any("trained" in warning and "fewer than 100" in warning for warning in payload["warnings"])
    assert "Warning: task 'ner': its single-task model trained" in table
    assert "Scores on the validation split" in table and "logged during training are on validation" in table


def test_compare_warns_about_a_single_model_at_chance():
    from hf_mtl.workflow.compare import Comparison
    from hf_mtl.workflow.train import TrainResult

    def result(score):
        return TrainResult("x", {"eval_ner_f1": score}, 1.0, {"ner": 64}, 10, {"ner": "seqeval"})

    comparison = Comparison(joint=result(0.5), single={"ner": result(0.0)}, eval_split="test", single_steps={"ner": 500})
    assert comparison.warnings() == ["task 'ner': its single-task model scores 0.0000 (seqeval (f1)), as a model "
                                     "that predicts nothing; the mean rests on it"]
    assert Comparison(joint=result(0.5), single={"ner": result(0.4)}, eval_split="test",
                      single_steps={"ner": 500}).warnings() == []


def test_push_uploads_folder_card_and_code(trained, monkeypatch):
    folder, _ = trained
    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, **kwargs):
            calls["create_repo"] = (repo_id, kwargs)

        def upload_folder(self, **kwargs):
            calls["upload_folder"] = kwargs
            staged = Path(kwargs["folder_path"])
            calls["files"] = {p.relative_to(staged).as_posix(): p.read_bytes() for p in staged.rglob("*") if p.is_file()}
            return "https://hub.example/commit/1"

    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    model = folder / "model"
    before = {p.relative_to(model).as_posix(): p.read_bytes() for p in model.rglob("*") if p.is_file()}
    assert main(["push", str(model), "me/my-mtl", "--private", "--token", "t0k"]) == 0
    assert calls["token"] == "t0k"
    assert calls["create_repo"] == ("me/my-mtl", {"private": True, "exist_ok": True, "repo_type": "model"})
    upload = calls["upload_folder"]
    assert upload["repo_id"] == "me/my-mtl" and upload["folder_path"] != str(model)
    # the upload holds the folder's files, its card naming the repository; the model folder itself is unchanged
    assert 'model="me/my-mtl"' in calls["files"]["README.md"].decode()
    assert {k: v for k, v in calls["files"].items() if k != "README.md"} == {
        k: v for k, v in before.items() if k != "README.md" and not k.startswith("checkpoint-")}
    assert {p.relative_to(model).as_posix(): p.read_bytes() for p in model.rglob("*") if p.is_file()} == before
    assert "training_args.bin" in upload["ignore_patterns"]


# ---------------------------------------------------------------- one-line errors, exit status 2


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "hf_mtl", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tasks: [unclosed", "is not valid YAML at line 1"),
        ("output_dir: x\n", "missing required field 'tasks'"),
        ("output_dir: x\ntasks: []\n", "`tasks` must be a non-empty list"),
        ("output_dir: x\ntask: []\n", "unknown key 'task' (did you mean 'tasks'?)"),
    ],
)
def test_bad_recipes_exit_2_with_one_line(tmp_path, content, message):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(content)
    result = run_cli("train", str(recipe))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_task_and_missing_input_file(trained):
    folder, _ = trained
    result = run_cli("predict", str(folder / "model"), "--text", "hi", "--tasks", "topic")
    assert result.returncode == 2 and "--tasks names ['topic'], but the model has tasks" in result.stderr
    result = run_cli("predict", str(folder / "model"), "--input", "no/such/file.txt")
    assert result.returncode == 2 and "Input file no/such/file.txt does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_data_file_fails_before_training(tmp_path, tiny_encoder_dir):
    tasks = [{**TASKS[0], "train": str(tmp_path / "missing.txt")}]
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_encoder_dir, tmp_path / "out", tasks=tasks)
    result = run_cli("train", str(recipe))
    assert result.returncode == 2
    assert "missing.txt" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_model_card_names_the_embedded_encoder_by_its_hub_id():
    from hf_mtl.workflow.recipe import ModelSection

    assert ModelSection().base_model_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert ModelSection().encoder_path != "embedded"  # the local folder of the embedded package
    assert ModelSection(encoder="org/encoder").base_model_name == "org/encoder"
    assert ModelSection(from_model="outputs/old").base_model_name == "outputs/old"
