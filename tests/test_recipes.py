"""The shipped recipes: each one loads and checks, its local files exist, and the full-data recipe reads the
copies in shared/data through `data_dir` (its `local:` sections) down to tokenized examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from transformers import AutoTokenizer

from hf_mtl.data import prepare_task
from hf_mtl.data.tasks import SPLITS
from hf_mtl.modeling.errors import RecipeError
from hf_mtl.workflow.recipe import load_recipe

RECIPES = sorted((REPO_ROOT / "recipes").glob("*.yaml"))
FULL_RECIPE = REPO_ROOT / "recipes" / "ner_pos_sentiment_topic.yaml"
SHARED_DATA = Path(os.environ.get("HF_MTL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
# a user's clone has nothing beside it: the tests that read the full data sets skip there
needs_shared_data = pytest.mark.skipif(
    not all((SHARED_DATA / name).is_file() for name in ("README.md", "conll2003/train.txt")), reason=f"no data at {SHARED_DATA}"
)


def sources(recipe):
    for task in recipe.tasks:
        for split in SPLITS:
            if getattr(task, split) is not None:
                yield task, split, getattr(task, split)


def test_recipes_are_found():
    assert FULL_RECIPE in RECIPES and REPO_ROOT / "recipes" / "quickstart.yaml" in RECIPES


@pytest.mark.parametrize("path", RECIPES, ids=[path.stem for path in RECIPES])
def test_every_recipe_loads_and_its_files_exist(path):
    assert len(path.read_text().splitlines()) <= 60, "DESIGN.md: recipes stay within 60 lines"
    recipe = load_recipe(path)
    assert recipe.tasks and recipe.description
    args = recipe.training_arguments()
    assert args.max_steps > 0 and args.output_dir == recipe.output_dir
    for task, split, source in sources(recipe):
        if source.format == "hub":
            assert source.name, (task.name, split)
        else:  # file sources of a recipe without data_dir resolve against the recipe's folder
            assert Path(source.path).is_file(), (task.name, split, source.path)
            assert Path(source.path).resolve().is_relative_to(path.parent.resolve())


def test_full_recipe_uses_the_hub_unless_data_dir_is_given():
    recipe = load_recipe(FULL_RECIPE)
    assert recipe.task_names == ["ner", "pos", "sentiment", "topic"]
    assert recipe.data_dir is None
    assert {(task.name, source.format) for task, _, source in sources(recipe)} == {
        (name, "hub") for name in recipe.task_names
    }
    # the Hub columns stay, the local-only settings (AG News' CSV columns and 1-based label ids) do not leak
    topic = recipe.select_tasks(["topic"])[0]
    assert topic.text_column == "text" and topic.label_map is None and topic.train.rows is None
    # the same task names, types and metrics as the quickstart, which trains them on samples of the same data
    quick = load_recipe(REPO_ROOT / "recipes" / "quickstart.yaml")
    assert [(t.name, t.type) for t in quick.tasks] == [(t.name, t.type) for t in recipe.tasks]


def test_selecting_an_unknown_task_names_the_nearest_one():
    recipe = load_recipe(REPO_ROOT / "recipes" / "quickstart.yaml")
    with pytest.raises(RecipeError, match=r"\['nerr'\] are not in the recipe \(did you mean 'ner'\?\)"):
        recipe.select_tasks(["pos", "nerr"])


@needs_shared_data
def test_full_recipe_reads_every_local_split(monkeypatch, minilm_path):
    monkeypatch.chdir(REPO_ROOT)  # data_dir is relative to the current directory, as on the command line
    data_dir = os.path.relpath(SHARED_DATA, REPO_ROOT)
    small = [f"tasks.{name}.{key}={n}" for name in ("ner", "pos", "sentiment", "topic")
             for key, n in (("max_train_examples", 16), ("max_eval_examples", 8))]
    recipe = load_recipe(FULL_RECIPE, ["--data_dir", data_dir, *small])
    assert recipe.data_dir == str(SHARED_DATA.resolve())
    for task, split, source in sources(recipe):
        assert source.format != "hub", (task.name, split)
        assert Path(source.path).is_file() and Path(source.path).resolve().is_relative_to(SHARED_DATA.resolve())

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    prepared = {task.name: prepare_task(task, tokenizer) for task in recipe.tasks}

    ner, pos, sentiment, topic = (prepared[name] for name in recipe.task_names)
    assert ner.labels == recipe.tasks[0].labels and ner.metric == "seqeval"
    assert len(pos.labels) == 17 and pos.metric == "token_accuracy"
    assert sentiment.labels == ["negative", "positive"]
    assert topic.labels == ["World", "Sports", "Business", "Sci/Tech"]
    assert set(ner.raw) == set(pos.raw) == {"train", "validation", "test"}
    assert set(sentiment.raw) == set(topic.raw) == {"train", "validation"}
    # AG News: one file cut by rows into a training and a scoring part, before the max_* cut
    assert any("kept rows 0:6080 (6080 of 7600 examples)" in note for note in topic.notes), topic.notes
    assert any("kept rows 6080: (1520 of 7600 examples)" in note for note in topic.notes), topic.notes
    assert topic.raw["train"][0]["text"] != topic.raw["validation"][0]["text"]
    for name, data in prepared.items():
        assert data.raw["train"].num_rows == 16 and data.raw["validation"].num_rows == 8, name
        first = data.tokenized["train"][0]
        labelled = [label for label in first["labels"]] if data.spec.is_token_task else [first["labels"]]
        assert any(label >= 0 for label in labelled), name
        if data.spec.is_token_task:
            words = data.raw["train"][0]
            assert len(words["words"]) == len(words["tags"]) > 0


@pytest.mark.parametrize("override", ["eval_strategy=no", "--save_strategy no", "logging_strategy=no"])
def test_an_unquoted_no_strategy_override_means_the_strategy_no(override):
    # YAML reads `no` as false; the strategies take the string "no" (the quickstart has to quote it)
    recipe = load_recipe(REPO_ROOT / "recipes" / "quickstart.yaml", override.split())
    key = override.lstrip("-").replace(" ", "=").split("=")[0]
    assert getattr(recipe.training_arguments(), key) == "no"


def test_an_encoder_or_model_that_cannot_be_loaded_is_a_recipe_error(tmp_path, monkeypatch):
    from hf_mtl.modeling.errors import RecipeError
    from hf_mtl.workflow.train import train_recipe

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = tmp_path / "no-such-model"
    for key in ("from_model", "encoder"):  # a missing folder is named as such when the recipe loads (not a Hub id)
        with pytest.raises(RecipeError, match=rf"model\.{key}: the folder .*no-such-model does not exist"):
            load_recipe(REPO_ROOT / "recipes" / "quickstart.yaml", [f"model.{key}={missing}"])
    recipe = load_recipe(REPO_ROOT / "recipes" / "quickstart.yaml", [f"model.encoder={tmp_path}",
                                                                     f"output_dir={tmp_path / 'out'}"])
    # a folder without a config: refused when its config is read, before the tokenizer, the data or any weight
    with pytest.raises(RecipeError, match="Cannot load the encoder .*model_type"):
        train_recipe(recipe)
    assert not (tmp_path / "out").exists()


def test_evaluate_ignores_the_recipes_training_schedule(tmp_path, tiny_encoder_dir):
    """`hf-mtl evaluate` with a recipe that evaluates during training and reloads the best checkpoint."""
    from hf_mtl import MultiTaskModel
    from hf_mtl.workflow.train import evaluate_model, load_tokenizer, prepare_recipe_tasks

    schedule = ["save_strategy=steps", "save_steps=150", "load_best_model_at_end=true", "metric_for_best_model=average"]
    small = [f"tasks.{name}.max_eval_examples=8" for name in ("ner", "pos", "sentiment", "topic")]
    recipe = load_recipe(REPO_ROOT / "recipes" / "quickstart.yaml", schedule + small)
    assert recipe.training["eval_strategy"] == "steps" and recipe.training_arguments().load_best_model_at_end
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    prepared = prepare_recipe_tasks(recipe.tasks, tokenizer)
    model = MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks={n: d.head_config for n, d in prepared.items()})
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    # a reloaded model keeps each task's label order, also past 10 labels (pos has 17: ids "10" < "2" in JSON)
    reloaded = MultiTaskModel.from_pretrained(tmp_path / "model")
    again = prepare_recipe_tasks(recipe.tasks, tokenizer, reloaded)
    assert {n: d.labels for n, d in again.items()} == {n: d.labels for n, d in prepared.items()}
    assert len(again["pos"].labels) == 17
    metrics = evaluate_model(str(tmp_path / "model"), recipe, split="validation")
    main_keys = {"eval_ner_f1", "eval_pos_accuracy", "eval_sentiment_accuracy", "eval_topic_accuracy"}
    assert main_keys <= set(metrics)
    assert metrics["eval_average"] == pytest.approx(sum(metrics[key] for key in main_keys) / 4)
