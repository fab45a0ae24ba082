"""A recipe with a task group, end to end: train -> card -> export of one task -> pipeline; compare; resume; DDP."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import SAMPLES_DIR, TINY_TRAINING
from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer

from hf_mtl.data import read_conll
from hf_mtl.modeling.errors import RecipeError
from hf_mtl.modeling.inference import predict
from hf_mtl.workflow.cli import main
from hf_mtl.workflow.recipe import load_recipe

SMALL = {"max_train_examples": 48, "max_eval_examples": 24, "max_length": 48}
CONLL = {"train": str(SAMPLES_DIR / "conll2003_train.txt"), "validation": str(SAMPLES_DIR / "conll2003_validation.txt")}


def conll_task(name: str, column: int) -> dict:
    return {"name": name, "type": "token-classification", "group": "conll", **SMALL,
            **{split: {"path": path, "tag_column": column} for split, path in CONLL.items()}}


TASKS = [
    conll_task("pos", 1),
    conll_task("ner", 3),
    {"name": "sentiment", "type": "text-classification", "train": str(SAMPLES_DIR / "sst2_train.tsv"),
     "validation": str(SAMPLES_DIR / "sst2_validation.tsv"), "text_column": "sentence",
     "label_map": {0: "negative", 1: "positive"}, **SMALL},
]


def write_recipe(path: Path, encoder: Path, output_dir: Path, tasks=None, **training) -> Path:
    recipe = {
        "output_dir": str(output_dir), "model": {"encoder": str(encoder)}, "tasks": tasks or TASKS,
        "training": {**TINY_TRAINING, **training},
    }
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_encoder_dir):
    folder = tmp_path_factory.mktemp("group-cli")
    recipe = write_recipe(folder / "recipe.yaml", tiny_encoder_dir, folder / "model", sampling="uniform")
    assert main(["train", str(recipe)]) == 0
    return folder, recipe


def test_group_recipe_trains_and_reports_per_task(trained):
    folder, _ = trained
    model_dir = folder / "model"
    results = json.loads((model_dir / "eval_results.json").read_text())
    assert {"eval_pos_accuracy", "eval_ner_f1", "eval_sentiment_accuracy", "eval_average"} <= set(results)
    seen = json.loads((model_dir / "train_summary.json").read_text())["examples_seen"]
    assert seen["pos"] == seen["ner"] > 0 and seen["sentiment"] > 0
    assert seen["pos"] + seen["sentiment"] == 6 * 8  # a group batch counts once per step, for each of its tasks
    header = yaml.safe_load((model_dir / "README.md").read_text().split("---")[1])
    # the Hub groups model-index results by (task type, dataset): pos and ner may share one entry, a metric each
    metrics = [m["name"] for r in header["model-index"][0]["results"] for m in r["metrics"]]
    assert {name.split()[0] for name in metrics} == {"pos", "ner", "sentiment"}
    history = json.loads((model_dir / "trainer_state.json").read_text())["log_history"]
    assert any("loss_pos" in entry and "loss_ner" in entry for entry in history)


def test_export_one_task_and_pipeline_of_a_group_trained_model(trained, tmp_path):
    folder, _ = trained
    assert main(["export", str(folder / "model"), "--task", "ner", str(tmp_path / "ner")]) == 0
    single = AutoModelForTokenClassification.from_pretrained(tmp_path / "ner").eval()
    multi = AutoModel.from_pretrained(folder / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(folder / "model")
    inputs = tokenizer(["Peter lives in Berlin"], return_tensors="pt")
    assert torch.allclose(single(**inputs).logits, multi(**inputs, task="ner").logits, atol=1e-5)
    # the pipeline runs every head in one pass, as for any model
    [result] = predict(multi, tokenizer, ["Peter Blackburn lives in Berlin ."])
    assert {"pos", "ner", "sentiment"} <= set(result) and len(result["pos"]) == 6
    # one group pass gives the same logits as the per-task passes
    together = multi(**inputs, task=["pos", "ner"]).logits
    assert torch.allclose(together["pos"], multi(**inputs, task="pos").logits, atol=1e-6)


def test_recipe_errors_for_groups(tmp_path, tiny_encoder_dir):
    bad = [conll_task("ner", 3), {**conll_task("pos", 1), "max_length": 64}]
    recipe = write_recipe(tmp_path / "bad.yaml", tiny_encoder_dir, tmp_path / "out", tasks=bad)
    with pytest.raises(RecipeError, match=r"group 'conll': tasks 'ner' and 'pos' differ in `max_length`"):
        load_recipe(recipe)
    named = [conll_task("ner", 3), {**conll_task("pos", 1), "group": "ner"}]
    recipe = write_recipe(tmp_path / "named.yaml", tiny_encoder_dir, tmp_path / "out", tasks=named)
    with pytest.raises(RecipeError, match="group 'ner' has the name of a task"):
        load_recipe(recipe)


def test_compare_trains_a_single_task_baseline_per_task_of_the_group(tmp_path, tiny_encoder_dir, capsys):
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_encoder_dir, tmp_path / "run", tasks=TASKS[:2], max_steps=3)
    assert main(["compare", str(recipe), "--compare-dir", str(tmp_path / "cmp"), "--split", "validation"]) == 0
    table = capsys.readouterr().out
    assert "| pos |" in table and "| ner |" in table
    rows = {row["task"]: row for row in json.loads((tmp_path / "cmp" / "comparison.json").read_text())["rows"]}
    for task in ("pos", "ner"):
        assert rows[task]["single_examples_seen"] == rows[task]["joint_examples_seen"] == 3 * 8
        single = AutoModel.from_pretrained(tmp_path / "cmp" / f"single_{task}")
        assert single.task_names == [task]


# ------------------------------------------------------------------ resume after a kill, DDP (slow)
@pytest.mark.slow
def test_group_run_killed_and_resumed_equals_uninterrupted_run(tmp_path, tiny_encoder_dir):
    from test_resume import finish, kill_when, progress, start, weights

    tiny = {"max_train_examples": 12, "max_eval_examples": 16, "max_length": 32}
    # 12 sentences do not hold every tag of the 16 validation sentences: give the tasks their full tag sets
    tags = {task["name"]: sorted({tag for path in CONLL.values()
                                  for sentence in read_conll(path, task["train"]["tag_column"])["tags"] for tag in sentence})
            for task in TASKS[:2]}
    tasks = [{**task, **tiny, **({"labels": tags[task["name"]]} if task["name"] in tags else {})} for task in TASKS]
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_encoder_dir, tmp_path / "unused", tasks=tasks, max_steps=8,
                          per_device_train_batch_size=4, save_strategy="steps", save_steps=2, sampling="temperature",
                          dataloader_pin_memory=False)
    reference_dir, run_dir = tmp_path / "reference", tmp_path / "interrupted"
    reference = start(recipe, reference_dir)
    first = start(recipe, run_dir, "--slow-from-step", "5")
    kill_when(first, lambda: progress(run_dir) >= 5)
    resumed = finish(start(recipe, run_dir, "--resume"), run_dir)
    expected = finish(reference, reference_dir)
    assert resumed["resumed_from"] == "checkpoint-4"
    assert resumed["metrics"] == expected["metrics"] and resumed["losses"] == expected["losses"]
    assert resumed["examples_seen"] == expected["examples_seen"] and expected["examples_seen"]["pos"] > 0
    final, reference_weights = weights(run_dir / "final"), weights(reference_dir / "final")
    for name, tensor in reference_weights.items():
        assert torch.equal(final[name], tensor), name


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("accelerate") is None, reason="accelerate not installed")
def test_two_process_training_with_a_group_keeps_units_in_step(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    script = Path(__file__).parent / "scripts" / "ddp_group_train.py"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", str(script), str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    rank0 = json.loads((tmp_path / "seen_rank0.json").read_text())[:12]
    rank1 = json.loads((tmp_path / "seen_rank1.json").read_text())[:12]
    assert len(rank0) == len(rank1) == 12
    for batch0, batch1 in zip(rank0, rank1, strict=True):
        assert batch0["task"] == batch1["task"]  # the same unit (the group, or one task) on both processes
        assert not set(batch0["ids"]) & set(batch1["ids"])
    for step in range(6):
        assert rank0[2 * step]["task"] == rank0[2 * step + 1]["task"]
    assert {batch["task"] for batch in rank0} == {"tokens", "sentiment"}
    history = json.loads((tmp_path / "log_history.json").read_text())
    assert any("loss_ner" in entry and "loss_kind" in entry for entry in history)
    counts = json.loads((tmp_path / "examples_seen.json").read_text())
    assert counts["ner"] == counts["kind"] > 0
