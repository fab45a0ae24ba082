"""The model card: `trainer.push_to_hub()` (up to the network call), `trainer.save_model()` and `hf-mtl train` /
`hf-mtl push` write the same hf_mtl card; it names data by Hub id or file name, each score with its split, and
carries pipeline_tag, datasets, versions, hyperparameters and a model-index that huggingface_hub parses."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import SAMPLES_DIR
from huggingface_hub import ModelCard
from huggingface_hub.utils import filter_repo_objects

from hf_mtl import MultiTaskModel, MultiTaskTrainer, MultiTaskTrainingArguments, TaskSpec, prepare_task
from hf_mtl.export.hub import ignore_patterns
from hf_mtl.export.model_card import (
    CARD_MARKER,
    MODEL_ID_PLACEHOLDER,
    SIDE_CARD_FILE,
    DatasetRef,
    MultiTaskModelCardData,
    write_model_card,
)
from hf_mtl.workflow.cli import main

TASKS = [
    {"name": "ner", "type": "token-classification", "train": str(SAMPLES_DIR / "conll2003_train.txt"),
     "validation": str(SAMPLES_DIR / "conll2003_validation.txt")},
    {"name": "sentiment", "type": "text-classification", "train": str(SAMPLES_DIR / "sst2_train.tsv"),
     "validation": str(SAMPLES_DIR / "sst2_validation.tsv"), "text_column": "sentence",
     "label_map": {0: "negative", 1: "positive"}},
]
SMALL = {"max_train_examples": 32, "max_eval_examples": 16, "max_length": 32}
TRAINING = {"max_steps": 2, "per_device_train_batch_size": 8, "learning_rate": 1e-3, "logging_steps": 2,
            "eval_strategy": "steps", "eval_steps": 1, "save_strategy": "no", "disable_tqdm": True, "use_cpu": True,
            "seed": 0, "report_to": "none"}
REPO_ID = "me/my-mtl"


class FakeHub:
    """Stands in for the Hub: records create_repo and, for upload_folder, the files that would be uploaded."""

    def __init__(self, monkeypatch):
        self.calls = {}
        hub = self

        def create_repo(api, repo_id, **kwargs):
            hub.calls["create_repo"] = repo_id
            return type("RepoUrl", (), {"repo_id": repo_id})()

        def upload_folder(api, *, folder_path, ignore_patterns=None, **kwargs):
            files = sorted(str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*")
                           if p.is_file())
            hub.calls["uploaded"] = list(filter_repo_objects(files, ignore_patterns=ignore_patterns))
            hub.calls["readme"] = (Path(folder_path) / "README.md").read_text()
            hub.calls["upload_kwargs"] = kwargs
            return "https://hub.example/commit/1"

        monkeypatch.setattr("huggingface_hub.HfApi.create_repo", create_repo)
        monkeypatch.setattr("huggingface_hub.HfApi.upload_folder", upload_folder)


def normalized(card: str) -> str:
    """The card without run-specific numbers (scores, timings)."""
    return re.sub(r"\d+\.\d+", "N", card)


def front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("---")[1])


@pytest.fixture(scope="module")
def cli_card(tmp_path_factory, tiny_encoder_dir):
    """A model trained and pushed with `hf-mtl train` / `hf-mtl push`; the card as uploaded."""
    folder = tmp_path_factory.mktemp("card-cli")
    recipe = {"output_dir": str(folder / "model"), "model": {"encoder": str(tiny_encoder_dir)},
              "tasks": [{**task, **SMALL} for task in TASKS],
              "training": {k: v for k, v in TRAINING.items() if k != "report_to"}}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert main(["train", str(folder / "recipe.yaml")]) == 0
    written = (folder / "model" / "README.md").read_text()
    with pytest.MonkeyPatch.context() as monkeypatch:
        hub = FakeHub(monkeypatch)
        assert main(["push", str(folder / "model"), REPO_ID]) == 0
        pushed = dict(hub.calls)
        assert main(["push", str(folder / "model"), REPO_ID, "--include-training-files"]) == 0
        pushed["uploaded_with_training_files"] = hub.calls["uploaded"]
    return {"folder": folder / "model", "written": written, **pushed}


@pytest.fixture(scope="module")
def python_run(tmp_path_factory, tiny_encoder_dir):
    """The same model trained from Python and pushed with `trainer.push_to_hub()`."""
    from transformers import AutoTokenizer, set_seed

    folder = tmp_path_factory.mktemp("card-python")
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    data = {task["name"]: prepare_task(TaskSpec(**task, **SMALL), tokenizer) for task in TASKS}
    args = MultiTaskTrainingArguments(str(folder / "model"), hub_model_id=REPO_ID, **TRAINING)
    set_seed(0)
    model = MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks={n: d.head_config for n, d in data.items()})
    trainer = MultiTaskTrainer(
        model=model, args=args, processing_class=tokenizer,
        train_dataset={name: d.tokenized["train"] for name, d in data.items()},
        eval_dataset={name: d.tokenized["validation"] for name, d in data.items()},
        model_card_data=MultiTaskModelCardData().add_tasks(data),
    )
    trainer.train()
    trainer.evaluate()
    (folder / "model" / "runs").mkdir()
    (folder / "model" / "runs" / "events.out.tfevents.1").write_text("TensorBoard log")
    with pytest.MonkeyPatch.context() as monkeypatch:
        hub = FakeHub(monkeypatch)
        trainer.push_to_hub()
        pushed = dict(hub.calls)
        trainer.push_to_hub(include_training_files=True)
        pushed["uploaded_with_training_files"] = hub.calls["uploaded"]
    return {"trainer": trainer, "data": data, "folder": folder / "model", **pushed}


def test_push_to_hub_and_cli_write_the_same_card(cli_card, python_run):
    assert python_run["create_repo"] == REPO_ID
    assert normalized(python_run["readme"]) == normalized(cli_card["readme"])
    assert f'"{REPO_ID}"' in cli_card["readme"] and MODEL_ID_PLACEHOLDER not in cli_card["readme"]
    # before the push the card names no repository: the placeholder stands in the code
    assert MODEL_ID_PLACEHOLDER in cli_card["written"]
    assert "trained from scratch" not in python_run["readme"] and CARD_MARKER in python_run["readme"]


def test_card_content(cli_card, tiny_encoder_dir):
    card = cli_card["readme"]
    for path in (str(SAMPLES_DIR), str(tiny_encoder_dir), str(cli_card["folder"]), "/tmp/"):
        assert path not in card
    header = front_matter(card)
    assert header["pipeline_tag"] == "token-classification"
    assert header["library_name"] == "transformers"
    assert {"hf-mtl", "multi-task", "token-classification", "text-classification"} <= set(header["tags"])
    assert "base_model" not in header  # a local encoder is not a Hub id: named in the text by its folder name only
    assert f"a local model (`{tiny_encoder_dir.name}`)" in card
    import torch as torch_module
    import transformers

    for version in (f"transformers {transformers.__version__}", f"torch {torch_module.__version__}", "hf_mtl ",
                    "datasets "):
        assert version in card
    for hyperparameter in ("learning_rate: 0.001", "train_batch_size: 8", "training_steps: 2", "seed: 0",
                           "sampling: proportional"):
        assert hyperparameter in card
    assert "`conll2003_train.txt`" in card and "`sst2_validation.tsv`" in card
    assert "| ner | validation | `conll2003_validation.txt` | f1 |" in card


def test_model_index_parses_with_the_split_of_each_score(cli_card):
    card = ModelCard(cli_card["readme"])
    results = {(r.task_name, r.dataset_split): r for r in card.data.eval_results}
    assert set(results) == {("ner", "validation"), ("sentiment", "validation")}
    assert results[("ner", "validation")].dataset_name == "conll2003_validation.txt"
    assert results[("ner", "validation")].metric_type == "f1"
    assert results[("sentiment", "validation")].metric_type == "accuracy"
    saved = yaml.safe_load((cli_card["folder"] / "eval_results.json").read_text())
    assert results[("ner", "validation")].metric_value == pytest.approx(saved["eval_ner_f1"], abs=1e-4)


def test_push_leaves_training_files_out_unless_asked(cli_card, python_run):
    for uploaded in (cli_card["uploaded"], python_run["uploaded"]):
        assert {"README.md", "model.safetensors", "config.json", "modeling_multitask.py"} <= set(uploaded)
        assert not any(name.startswith("runs/") or name == "training_args.bin" for name in uploaded), uploaded
    assert {"runs/events.out.tfevents.1", "training_args.bin"} <= set(python_run["uploaded_with_training_files"])
    assert "training_args.bin" in cli_card["uploaded_with_training_files"]
    assert "training_args.bin" not in ignore_patterns(include_training_files=True)


def test_save_model_writes_the_card_and_test_scores_are_named_test(python_run, tmp_path):
    trainer, data = python_run["trainer"], python_run["data"]
    trainer.evaluate({"sentiment": data["sentiment"].tokenized["validation"]}, metric_key_prefix="test")
    trainer.save_model(str(tmp_path / "saved"))
    card = ModelCard.load(tmp_path / "saved" / "README.md")
    splits = {(r.task_name, r.dataset_split) for r in card.data.eval_results}
    assert ("sentiment", "test") in splits and ("sentiment", "validation") in splits
    # the task had no test source: the card does not pretend the validation file was its test set
    test_result = next(r for r in card.data.eval_results if r.dataset_split == "test")
    assert test_result.dataset_name == "sentiment test data"
    assert "| sentiment | test |" in card.content


def test_record_metrics_names_the_split_and_prefers_the_given_one():
    data = MultiTaskModelCardData(eval_splits={"ner": "test"})
    metrics = {"eval_ner_f1": 0.5, "eval_ner_loss": 1.0, "eval_ner_runtime": 2.0, "eval_pos_tag_accuracy": 0.9,
               "eval_average": 0.7, "test_pos_tag_accuracy": 0.8, "epoch": 1.0}
    data.record_metrics(metrics, ["ner", "pos", "pos_tag"], step=10, epoch=1.0, in_training=False)
    assert data.results["ner"] == {"test": {"metrics": {"f1": 0.5}, "step": 10}}
    assert data.results["pos_tag"]["validation"]["metrics"] == {"accuracy": 0.9}
    assert data.results["pos_tag"]["test"]["metrics"] == {"accuracy": 0.8}
    assert "pos" not in data.results
    assert data.averages == {"test + validation": 0.7}
    assert data.eval_lines == []


def test_datasets_are_named_by_hub_id_or_file_name(tmp_path):
    local_folder = tmp_path / "my_saved_dataset"
    local_folder.mkdir()
    specs = [
        TaskSpec(name="ner", type="token-classification", train={"format": "hub", "name": "eriktks/conll2003"},
                 test={"format": "hub", "name": "eriktks/conll2003", "split": "test"}),
        TaskSpec(name="topic", type="text-classification", train={"format": "hub", "name": str(local_folder)}),
        TaskSpec(name="sentiment", type="text-classification", train=str(tmp_path / "sub" / "sst2_train.tsv")),
    ]
    data = MultiTaskModelCardData().add_tasks(specs)
    assert data.task_data["ner"]["train"] == DatasetRef(name="eriktks/conll2003", hub_id="eriktks/conll2003",
                                                        split="train")
    assert data.task_data["ner"]["validation"].note == "carved from train"
    assert data.task_data["ner"]["test"].split == "test"
    assert data.task_data["topic"]["train"] == DatasetRef(name="my_saved_dataset", split="train")
    assert data.task_data["sentiment"]["train"].name == "sst2_train.tsv"


def test_card_metadata_from_user_fields(tiny_model):
    data = MultiTaskModelCardData(language="en", license="apache-2.0", base_model="org/encoder",
                                  datasets={"ner": "eriktks/conll2003"}, tags=["demo"], model_name="My model")
    data.record_metrics({"test_ner_f1": 0.25}, tiny_model.task_names, step=3, epoch=None, in_training=False)
    card = data.to_model_card(tiny_model, {"ner": "seqeval", "sentiment": "accuracy", "tags": "multilabel",
                                           "score": "regression"})
    header = front_matter(str(card))
    assert header["language"] == "en" and header["license"] == "apache-2.0"
    assert header["base_model"] == "org/encoder" and header["datasets"] == ["eriktks/conll2003"]
    assert "demo" in header["tags"]
    result = header["model-index"][0]
    assert result["name"] == "My model"
    assert result["results"][0]["dataset"] == {"name": "eriktks/conll2003", "type": "eriktks/conll2003",
                                               "split": "test"}
    assert "**score**: (regression)" in card.content


def test_a_users_own_readme_is_never_overwritten(tiny_model, tmp_path):
    card = MultiTaskModelCardData().to_model_card(tiny_model, {})
    (tmp_path / "README.md").write_text("# My own notes\n")
    assert write_model_card(card, tmp_path) == tmp_path / SIDE_CARD_FILE
    assert (tmp_path / "README.md").read_text() == "# My own notes\n"
    assert CARD_MARKER in (tmp_path / SIDE_CARD_FILE).read_text()
    assert SIDE_CARD_FILE in ignore_patterns()
    # a card hf_mtl wrote is its to rewrite
    shutil.copy(tmp_path / SIDE_CARD_FILE, tmp_path / "README.md")
    assert write_model_card(card, tmp_path) == tmp_path / "README.md"



def test_push_names_the_repository_in_the_cards_code(tiny_model, tmp_path):
    from hf_mtl.export.model_card import set_card_model_id

    write_model_card(MultiTaskModelCardData().to_model_card(tiny_model, {}), tmp_path)
    assert set_card_model_id(tmp_path, "me/first")
    assert set_card_model_id(tmp_path, "me/second")  # a later push to another repository names that one
    text = (tmp_path / "README.md").read_text()
    assert text.count('"me/second"') == 4 and "me/first" not in text and MODEL_ID_PLACEHOLDER not in text
    (tmp_path / "README.md").write_text('# mine\n\n## Use\n\nfrom_pretrained("x")\n')
    assert not set_card_model_id(tmp_path, "me/third")


def test_nothing_pushed_names_a_path_of_the_training_machine(cli_card, tiny_encoder_dir):
    """Issue #21: config.json named the encoder's folder (`_name_or_path`), train_summary.json the output folder."""
    import os
    import site

    folder = cli_card["folder"]
    machine_paths = {str(folder), str(folder.parent), str(tiny_encoder_dir), os.path.expanduser("~"),
                     *site.getsitepackages()}
    for name in cli_card["uploaded"]:
        path = folder / name
        if path.suffix in (".safetensors", ".png", ".bin") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        leaked = sorted(p for p in machine_paths if p and p != "/" and p in text)
        assert not leaked, f"{name} names {leaked}"
