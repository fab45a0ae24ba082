"""Joint, then refine: per-task models from a joint model (`refine_model`, `hf-mtl refine`)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from conftest import SAMPLES_DIR
from huggingface_hub import ModelCard
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

from hf_mtl import MultiTaskModel
from hf_mtl.export.task_model import export_task
from hf_mtl.modeling.errors import RecipeError
from hf_mtl.workflow.cli import main
from hf_mtl.workflow.recipe import load_recipe
from hf_mtl.workflow.refine import REFINE_JSON, default_refine_dir, refine_model
from hf_mtl.workflow.train import train_recipe

SMALL = {"max_train_examples": 32, "max_eval_examples": 16, "max_length": 40}
TASKS = [
    {"name": "ner", "type": "token-classification", "train": str(SAMPLES_DIR / "conll2003_train.txt"),
     "validation": str(SAMPLES_DIR / "conll2003_validation.txt"), **SMALL},
    {"name": "sentiment", "type": "text-classification", "train": str(SAMPLES_DIR / "sst2_train.tsv"),
     "validation": str(SAMPLES_DIR / "sst2_validation.tsv"), "text_column": "sentence",
     "label_map": {0: "negative", 1: "positive"}, **SMALL},
]
TEXTS = ["EU rejects German call to boycott British lamb .", "a gripping , funny film"]


@pytest.fixture(scope="module")
def joint(tmp_path_factory, tiny_encoder_dir):
    """A tiny joint model (ner + sentiment) and its recipe; the recipe also weights a task's loss."""
    folder = tmp_path_factory.mktemp("refine")
    recipe = {
        "output_dir": str(folder / "joint"), "model": {"encoder": str(tiny_encoder_dir)}, "tasks": TASKS,
        "training": {"max_steps": 4, "per_device_train_batch_size": 8, "learning_rate": 1e-3, "save_strategy": "no",
                     "disable_tqdm": True, "use_cpu": True, "seed": 0, "task_loss_weights": {"ner": 2.0}},
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    train_recipe(load_recipe(path), print_table=False)
    return folder, path


def logits(model, tokenizer, task):
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model.eval()(**batch, task=task).logits


def test_zero_steps_refined_models_predict_like_the_joint_model(joint, tmp_path):
    folder, recipe = joint
    refinement = refine_model(folder / "joint", load_recipe(recipe), steps=0, output_dir=tmp_path / "refined",
                              eval_split="validation")
    source = MultiTaskModel.from_pretrained(folder / "joint")
    tokenizer = AutoTokenizer.from_pretrained(folder / "joint")
    for task in ("ner", "sentiment"):
        refined = MultiTaskModel.from_pretrained(tmp_path / "refined" / task)
        assert refined.task_names == [task]
        assert torch.equal(logits(refined, tokenizer, task), logits(source, tokenizer, task))
        assert (tmp_path / "refined" / task / "README.md").is_file()
    rows = {row["task"]: row for row in refinement.rows()}
    assert rows["ner"]["joint"] == rows["ner"]["refined"] and rows["ner"]["difference"] == 0.0
    assert rows["sentiment"]["refine_examples_seen"] == 0
    payload = json.loads((tmp_path / "refined" / REFINE_JSON).read_text())
    assert [row["task"] for row in payload["rows"]] == ["ner", "sentiment"]
    assert "| **mean** |" in (tmp_path / "refined" / "refine.md").read_text()


def test_refined_model_exports_as_a_plain_transformers_folder(joint, tmp_path):
    folder, recipe = joint
    refine_model(folder / "joint", load_recipe(recipe), steps=0, output_dir=tmp_path / "refined", tasks=["sentiment"])
    refined = MultiTaskModel.from_pretrained(tmp_path / "refined" / "sentiment")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "refined" / "sentiment")
    export_task(refined, "sentiment", tmp_path / "plain", tokenizer)
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "plain").eval()
    with torch.no_grad():
        plain_logits = plain(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits
    torch.testing.assert_close(plain_logits, logits(refined, tokenizer, "sentiment"))
    assert not (tmp_path / "refined" / "ner").exists()


def test_cli_refine_trains_each_task_and_prints_the_table(joint, tmp_path, capsys):
    folder, recipe = joint
    out = tmp_path / "refined"
    assert main(["refine", str(folder / "joint"), str(recipe), "--steps", "2", "--output-dir", str(out),
                 "--split", "validation", "learning_rate=5e-3"]) == 0
    table = capsys.readouterr().out
    assert "| ner |" in table and "| sentiment |" in table and "refined - joint" in table
    summary = json.loads((out / "ner" / "train_summary.json").read_text())
    assert summary["examples_seen"] == {"ner": 2 * 8}
    source = MultiTaskModel.from_pretrained(folder / "joint")
    refined = MultiTaskModel.from_pretrained(out / "ner")
    assert not torch.equal(refined.heads["ner"].classifier.weight, source.heads["ner"].classifier.weight)
    assert main(["export", str(out / "ner"), "--task", "ner", str(tmp_path / "plain-ner")]) == 0
    assert AutoModelForTokenClassification.from_pretrained(tmp_path / "plain-ner").config.num_labels == len(
        refined.config.tasks["ner"]["id2label"])


def test_refined_cards_take_the_recipes_card_section(joint, tmp_path):
    """License, language, tags and each task's own dataset, as `hf-mtl train` applies them; the recipe's title names
    the joint model, so a refined card keeps its default title."""
    folder, recipe = joint
    raw = yaml.safe_load(recipe.read_text())
    raw["card"] = {"model_name": "Joint NER and sentiment", "license": "apache-2.0", "language": ["en", "de"],
                   "datasets": {"ner": "eriktks/conll2003", "sentiment": "stanfordnlp/sst2"}, "tags": ["demo"]}
    with_card = tmp_path / "recipe.yaml"
    with_card.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert main(["refine", str(folder / "joint"), str(with_card), "--steps", "0", "--output-dir",
                 str(tmp_path / "refined"), "--split", "validation"]) == 0
    for task, dataset in (("ner", "eriktks/conll2003"), ("sentiment", "stanfordnlp/sst2")):
        card = ModelCard.load(tmp_path / "refined" / task / "README.md")
        assert card.data.license == "apache-2.0" and card.data.language == ["en", "de"]
        assert card.data.datasets == [dataset]
        assert "demo" in card.data.tags
        assert "Joint NER and sentiment" not in card.text and f"# joint fine-tuned for {task}" in card.text


@pytest.mark.parametrize("where", ["same", "inside"])
def test_refine_refuses_to_write_into_the_joint_model_folder(joint, where, capsys):
    folder, recipe = joint
    source = folder / "joint"
    target = source if where == "same" else source / "refined"
    before = sorted(p.name for p in source.iterdir())
    with pytest.raises(RecipeError, match="joint model folder"):
        refine_model(source, load_recipe(recipe), steps=0, output_dir=target)
    assert main(["refine", str(source), str(recipe), "--steps", "0", "--output-dir", str(target)]) == 2
    assert "joint model folder" in capsys.readouterr().err
    assert sorted(p.name for p in source.iterdir()) == before


def test_refine_checks_steps_and_tasks_before_training(joint, tmp_path):
    folder, recipe = joint
    with pytest.raises(RecipeError, match="steps must be an integer >= 0"):
        refine_model(folder / "joint", load_recipe(recipe), steps=-1, output_dir=tmp_path / "r")
    other = load_recipe(recipe)
    other.tasks[1].name = "topic"
    with pytest.raises(RecipeError, match=r"\['topic'\] are not in"):
        refine_model(folder / "joint", other, steps=1, output_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()
    assert default_refine_dir(folder / "joint") == folder / "joint-refined"


def test_output_next_to_the_joint_model_is_fine_unless_a_task_folder_would_be_it(tmp_path):
    from hf_mtl.workflow.refine import _check_output

    (tmp_path / "joint").mkdir()
    _check_output(tmp_path, tmp_path / "joint", ["ner", "sentiment"])  # writes tmp_path/ner, tmp_path/sentiment
    with pytest.raises(RecipeError, match="joint model folder"):
        _check_output(tmp_path, tmp_path / "joint", ["joint"])
