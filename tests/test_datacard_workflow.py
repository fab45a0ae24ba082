"""Issue 21 end to end on real data: a task group of two pair tasks (SICK relatedness, standardised, and
entailment) beside a TREC `label_text` task; the card's `model-index` parsed with huggingface_hub's `ModelCard`,
the recipe's `card:` section, and `hf-mtl evaluate`'s test scores saved and added to the card."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest
import yaml
from conftest import TINY_TRAINING
from huggingface_hub import ModelCard

from hf_mtl.export.hub import ignore_patterns
from hf_mtl.export.model_card import CARD_DATA_FILE
from hf_mtl.modeling.errors import RecipeError
from hf_mtl.workflow.cli import main
from hf_mtl.workflow.recipe import load_recipe

REAL = Path(__file__).resolve().parent / "fixtures" / "real_data"
SICK = {"path": str(REAL / "sick" / "SICK_excerpt.txt"), "delimiter": "\t"}
PAIR = {"text_column": "sentence_A", "text_pair_column": "sentence_B", "group": "sick", "max_length": 48,
        "train": {**SICK, "rows": "0:24"}, "validation": {**SICK, "rows": "24:32"}, "test": {**SICK, "rows": "32:"}}
TREC = {"format": "label_text", "label_before": ":"}
TASKS = [
    {"name": "relatedness", "type": "text-classification", "problem_type": "regression",
     "label_column": "relatedness_score", "standardize": True, **PAIR},
    {"name": "entailment", "type": "text-classification", "label_column": "entailment_label", **PAIR},
    {"name": "question_type", "type": "text-classification", "max_length": 48,
     "labels": ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"],
     "train": {"path": str(REAL / "trec" / "train_5500.label"), **TREC},
     "test": {"path": str(REAL / "trec" / "TREC_10.label"), **TREC}},
]
CARD = {"model_name": "MiniLM for SICK and TREC", "license": "cc-by-nc-sa-3.0", "language": "en",
        "datasets": {"relatedness": "sick", "entailment": "sick", "question_type": "trec"}}


def write_recipe(folder: Path, encoder: Path, card=CARD) -> Path:
    path = folder / "recipe.yaml"
    raw = {"output_dir": str(folder / "model"), "model": {"encoder": str(encoder)}, "tasks": TASKS,
           "training": {**TINY_TRAINING, "per_device_train_batch_size": 4}}
    if card is not None:
        raw["card"] = card
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_encoder_dir):
    folder = tmp_path_factory.mktemp("datacard")
    recipe = write_recipe(folder, tiny_encoder_dir)
    assert main(["train", str(recipe)]) == 0
    return folder, recipe


def _results(card: ModelCard) -> list:
    return card.data.eval_results or []


def test_config_records_the_fitted_scale(trained):
    folder, _ = trained
    config = json.loads((folder / "model" / "config.json").read_text())
    rows = [line.split("\t") for line in (REAL / "sick" / "SICK_excerpt.txt").read_text().splitlines()]
    column = rows[0].index("relatedness_score")
    train = [float(row[column]) for row in rows[1:25]]
    mean = sum(train) / len(train)
    assert config["tasks"]["relatedness"]["standardize"]["mean"] == pytest.approx(mean, abs=1e-6)
    assert "standardize" not in config["tasks"]["entailment"]


def test_model_index_has_one_result_per_task_each_under_its_own_name(trained):
    folder, _ = trained
    card = ModelCard.load(folder / "model" / "README.md")
    results = _results(card)
    assert sorted(r.task_name for r in results) == ["entailment", "question_type", "relatedness"]
    for result in results:
        assert result.metric_name.startswith(f"{result.task_name} ")
    by_task = {r.task_name: r for r in results}
    assert by_task["relatedness"].metric_type == "pearson" and by_task["entailment"].metric_type == "accuracy"
    assert by_task["relatedness"].dataset_type == "sick" and by_task["question_type"].dataset_type == "trec"
    header = yaml.safe_load((folder / "model" / "README.md").read_text().split("---")[1])
    assert len(header["model-index"][0]["results"]) == 3


def test_card_metadata_title_inputs_and_groups_from_the_recipe(trained):
    folder, _ = trained
    card = ModelCard.load(folder / "model" / "README.md")
    assert card.data.license == "cc-by-nc-sa-3.0" and card.data.language == "en"
    assert sorted(card.data.datasets) == ["sick", "trec"]
    assert "# MiniLM for SICK and TREC" in card.text
    row = next(line for line in card.text.splitlines() if line.startswith("| relatedness |"))
    assert "text pair (`sentence_A`, `sentence_B`)" in row and "| sick |" in row
    assert "targets standardised (train mean" in row
    trec_row = next(line for line in card.text.splitlines() if line.startswith("| question_type |"))
    assert "| text | - |" in trec_row


def test_evaluate_saves_test_scores_and_they_reach_the_card(trained, capsys):
    folder, recipe = trained
    capsys.readouterr()
    assert main(["evaluate", str(folder / "model"), str(recipe)]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((folder / "model" / "test_results.json").read_text())
    assert saved == printed
    for key in ("test_relatedness_pearson", "test_entailment_accuracy", "test_question_type_accuracy"):
        assert isinstance(saved[key], float)
    assert not any(key.startswith("eval_") for key in saved)
    card = ModelCard.load(folder / "model" / "README.md")
    test_results = {r.task_name: r for r in _results(card) if r.dataset_split == "test"}
    assert sorted(test_results) == ["entailment", "question_type", "relatedness"]
    assert test_results["entailment"].metric_value == pytest.approx(round(saved["test_entailment_accuracy"], 4))
    assert "| relatedness | test |" in card.text
    # the card's source is never uploaded
    assert any(fnmatch.fnmatch(CARD_DATA_FILE, pattern) for pattern in ignore_patterns())


def test_default_title_names_the_encoder_and_the_tasks(tmp_path, tiny_encoder_dir):
    recipe = load_recipe(write_recipe(tmp_path, tiny_encoder_dir, card=None))
    assert recipe.card.model_name is None
    from hf_mtl.export.model_card import default_title

    assert default_title("a local model (`tiny-encoder0`)", "bert", ["a", "b", "c"]) == \
        "tiny-encoder0 fine-tuned for a, b and c"
    assert default_title("sentence-transformers/all-MiniLM-L6-v2", "bert", ["ner"]) == \
        "all-MiniLM-L6-v2 fine-tuned for ner"


@pytest.mark.parametrize("card, message", [
    ({"licence": "mit"}, "unknown key 'licence' (did you mean 'license'?)"),
    ({"datasets": {"ner": "conll2003"}}, "'ner' is not a task of the recipe"),
    ({"language": 3}, "card.language: expected text or a list of text"),
])
def test_card_section_errors(tmp_path, tiny_encoder_dir, card, message):
    with pytest.raises(RecipeError) as error:
        load_recipe(write_recipe(tmp_path, tiny_encoder_dir, card=card))
    assert message in str(error.value)
