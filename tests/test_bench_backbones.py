"""bench/backbones.py: each arm is a valid override of the quickstart recipe, and the report reads the recorded arms.

(The arms themselves train for minutes to hours: they are run by hand and recorded in docs/benchmarks.md.)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def backbones():
    spec = importlib.util.spec_from_file_location("bench_backbones", REPO / "bench" / "backbones.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("arm", ["minilm_full", "smollm2_lora", "smollm2_full"])
def test_each_arm_is_the_quickstart_recipe_with_its_backbone(backbones, arm, tmp_path):
    from hf_mtl.workflow.recipe import load_recipe

    args = argparse.Namespace(lr={}, device="cpu", bf16=False, probe_steps=None)
    recipe = load_recipe(backbones.RECIPE, backbones.arm_overrides(arm, "some/encoder", args, tmp_path, 7))
    assert recipe.model.encoder == "some/encoder" and recipe.training["max_steps"] == 7
    assert recipe.training["learning_rate"] == backbones.ARMS[arm]["learning_rate"]
    assert (recipe.model.lora is not None) == (arm == "smollm2_lora")
    assert recipe.task_names == list(backbones.TASKS)
    recipe.training_arguments()  # the training section is valid


def test_report_reads_the_recorded_arms_and_ends_with_the_ratio(backbones, tmp_path):
    def arm(average, seconds, speed):
        return {"max_steps": 100, "scores": dict.fromkeys(backbones.TASKS, average), "average": average,
                "train_seconds": seconds, "seconds_per_step": seconds / 100, "parameters_trained": 10,
                "parameters": 20, "parameters_trained_percent": 50.0, "pipeline_sentences_per_s": speed,
                "saved_megabytes": 1.0, "load_average": {"before": [1.0], "after": [1.5]}}

    (tmp_path / "backbones_minilm_full.json").write_text(json.dumps(arm(0.8, 50.0, 100.0)))
    (tmp_path / "backbones_smollm2_lora.json").write_text(json.dumps(arm(0.6, 200.0, 10.0)))
    lines = backbones.report(backbones.recorded(tmp_path))
    assert lines[-1] == "ratio smollm2_lora/minilm_full average=0.75 train_time=4.00 pipeline=0.10"
    assert sum(line.startswith("| minilm_full |") or line.startswith("| smollm2_lora |") for line in lines) == 2
