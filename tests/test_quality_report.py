"""bench/quality_report.py's trade-off table: which inference cost each arm has, and the figures against single."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import quality_report  # noqa: E402


def _arm(scores: dict[str, float], parameters: int, seconds: float) -> dict:
    return {"tasks": {task: {"metric": "accuracy", "value": value} for task, value in scores.items()},
            "parameters": parameters, "train_seconds": seconds}


RESULTS = {
    "single": _arm({"ner": 0.80, "pos": 0.90}, 200, 100.0),
    "joint_temperature": _arm({"ner": 0.78, "pos": 0.91}, 101, 60.0),
    "joint_temperature_layers1": _arm({"ner": 0.81, "pos": 0.905}, 120, 70.0),
    "joint_temperature_layers2": _arm({"ner": 0.81, "pos": 0.90}, 140, 75.0),
    "joint_temperature_refine": _arm({"ner": 0.795, "pos": 0.90}, 202, 80.0),
}
INFERENCE = {"arms": {"shared": {"sentences_per_s": 100.0, "ratio_to_shared": 1.0},
                      "four_models": {"sentences_per_s": 30.0, "ratio_to_shared": 0.3},
                      "joint_temperature_layers1": {"sentences_per_s": 70.0, "ratio_to_shared": 0.7}}}
CAPACITY = {"joint_temperature_layers1", "joint_temperature_layers2"}


def test_each_arm_gets_the_inference_cost_of_what_it_serves() -> None:
    rows = quality_report.tradeoff(RESULTS, INFERENCE, CAPACITY)
    assert rows["single"]["inference"] == "four_models"
    assert rows["joint_temperature_refine"]["inference"] == "four_models"  # refining gives one model per task again
    assert rows["joint_temperature"]["inference"] == "shared"
    assert rows["joint_temperature_layers1"]["inference"] == "joint_temperature_layers1"
    # a capacity arm never borrows the fully shared model's speed: not measured until its own model is
    assert "inference" not in rows["joint_temperature_layers2"]


def test_tradeoff_figures_against_one_model_per_task() -> None:
    rows = quality_report.tradeoff(RESULTS, INFERENCE, CAPACITY)
    joint = rows["joint_temperature"]
    assert joint["mean_minus_single_points"] == pytest.approx(-0.5)
    assert (joint["worst_task"], joint["worst_task_points"]) == ("ner", pytest.approx(-2.0))
    assert joint["parameters_vs_one_model"] == pytest.approx(1.01)  # single: 200 parameters for 2 models
    assert rows["joint_temperature_layers1"]["mean_minus_single_points"] == pytest.approx(0.75)
    table = quality_report.tradeoff_markdown(rows, noise_points=0.57)
    assert "| joint_temperature_layers1 | 0.8575 | +0.75 | pos +0.50 | 120 (1.20x) | 70 | 70.0 (0.70x) |" in table
    assert "| joint_temperature_layers2 |" in table and "not measured" in table
    assert "seed noise: range 0.57" in table


def test_tradeoff_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "tradeoff.png"
    quality_report.tradeoff_plot(quality_report.tradeoff(RESULTS, INFERENCE, CAPACITY), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_longer_refine_of_one_task_is_its_own_arm_without_a_mean() -> None:
    results = {**RESULTS, "joint_temperature_refine_ner_750": _arm({"ner": 0.805}, 101, 90.0)}
    assert quality_report.refine_source("joint_temperature_refine_ner_750") == "joint_temperature"
    assert quality_report.refine_source("joint_temperature_refine") == "joint_temperature"
    assert quality_report.refine_source("joint_temperature_layers1") is None
    assert not quality_report.is_joint("joint_temperature_refine_ner_750")
    summ = quality_report.summary(results)
    assert summ["joint_temperature_refine_ner_750"]["mean"] is None  # one of two tasks: no comparable mean
    assert summ["joint_temperature_refine_ner_750"]["difference_to_single"]["ner"] == pytest.approx(0.005)
    # the refine target is judged on a refine of every task only, although the NER-only one scores higher on NER
    assert summ["targets"]["refine"]["arm"] == "joint_temperature_refine"
    rows = quality_report.tradeoff(results, INFERENCE, CAPACITY)
    assert "inference" not in rows["joint_temperature_refine_ner_750"]  # a NER-only model serves no four tasks
    assert "| joint_temperature_refine_ner_750 | n/a | - | - |" in quality_report.tradeoff_markdown(rows)


def test_two_runs_side_by_side_keep_each_others_arms(tmp_path: Path) -> None:
    results_file = tmp_path / "quality_arms.json"
    first = {"single": _arm({"ner": 0.83}, 10, 1.0)}
    quality_report.save_results(results_file, first)
    second = dict(first)  # started from the same file
    first["joint_temperature_layers2"] = _arm({"ner": 0.82}, 12, 2.0)
    quality_report.save_results(results_file, first)
    second["joint_temperature_adapters"] = _arm({"ner": 0.81}, 11, 3.0)
    second["_partial"] = {"stock": {}}
    quality_report.save_results(results_file, second)
    on_disk = json.loads(results_file.read_text())
    assert set(on_disk) == {"single", "joint_temperature_layers2", "joint_temperature_adapters", "_partial"}
    del second["_partial"]  # this run's per-task arm finished: its bookkeeping is not brought back from the file
    quality_report.save_results(results_file, second)
    assert "_partial" not in json.loads(results_file.read_text())
    assert "joint_temperature_layers2" in second  # the report of the last run to end shows every arm


def test_an_arm_measured_in_an_earlier_inference_run_stays_with_that_runs_figures(tmp_path: Path) -> None:
    import quality_inference

    out = tmp_path / "quality_inference.json"
    out.write_text(json.dumps({
        "arms": {"shared": {"sentences_per_s": 140.0, "ratio_to_shared": 1.0},
                 "four_models": {"sentences_per_s": 14.0, "ratio_to_shared": 0.1},
                 "joint_temperature_layers1": {"sentences_per_s": 96.0, "ratio_to_shared": 0.686},
                 "joint_temperature_layers2": {"sentences_per_s": 80.0, "ratio_to_shared": 0.5}},
        "meta": {"date": "2026-12-02 05:52 UTC", "load_average": {"before": [1.7], "after": [1.9]}}}))
    kept = quality_inference.earlier_arms(out, measured_now={"shared", "four_models", "joint_temperature_layers2"})
    assert set(kept) == {"joint_temperature_layers1"}  # re-measured arms and the baselines are this run's
    assert kept["joint_temperature_layers1"]["ratio_to_shared"] == 0.686
    assert kept["joint_temperature_layers1"]["run"] == {"date": "2026-12-02 05:52 UTC", "shared_sentences_per_s": 140.0,
                                                        "load_average": {"before": [1.7], "after": [1.9]}}
    assert quality_inference.earlier_arms(tmp_path / "none.json", set()) == {}


def test_capacity_targets_are_met_only_when_all_four_are() -> None:
    results = {**RESULTS, "joint_temperature_adapters": _arm({"ner": 0.80, "pos": 0.897}, 110, 65.0)}
    inference = {"arms": {**INFERENCE["arms"],
                          "joint_temperature_adapters": {"sentences_per_s": 40.0, "ratio_to_shared": 0.4}}}
    rows = quality_report.tradeoff(results, inference, CAPACITY | {"joint_temperature_adapters"})
    goals = quality_report.capacity_targets(rows, CAPACITY | {"joint_temperature_adapters"})
    assert set(goals) == {"joint_temperature_layers1", "joint_temperature_layers2", "joint_temperature_adapters"}
    assert goals["joint_temperature_layers1"]["met"]  # +0.75 mean, pos +0.50, 1.20x parameters, 1.43x time
    assert goals["joint_temperature_layers1"]["inference_time_vs_shared"] == pytest.approx(1 / 0.7)
    assert goals["joint_temperature_layers2"]["checks"]["inference"] is None  # not measured: not met either
    assert not goals["joint_temperature_layers2"]["met"]
    adapters = goals["joint_temperature_adapters"]  # mean -0.15, pos -0.30 (at the limit), 2.5x the time
    assert adapters["checks"] == {"mean": False, "worst_task": True, "parameters": True, "inference": False}
    lines = quality_report.capacity_target_lines(rows, goals)
    assert lines[0].startswith("capacity target (joint_temperature_layers1):") and lines[0].endswith(": met")
    assert lines[1].endswith("missed (inference not measured)")
    assert lines[2].endswith("missed (mean, inference)") and "inference time 2.50x the fully shared model's" in lines[2]


def test_an_arm_timed_in_an_earlier_inference_run_is_marked_and_a_partial_arm_has_no_inference_cost() -> None:
    results = {**RESULTS, "joint_temperature_refine_ner_750": {"tasks": {"ner": {"metric": "f1", "value": 0.85}},
                                                               "parameters": 100, "train_seconds": 90.0}}
    arms = {**INFERENCE["arms"], "joint_temperature_layers1": {
        "sentences_per_s": 96.0, "ratio_to_shared": 0.68, "run": {"date": "2026-12-02 05:52 UTC", "shared_sentences_per_s": 142.3}}}
    rows = quality_report.tradeoff(results, {"arms": arms}, CAPACITY)
    assert "inference" not in rows["joint_temperature_refine_ner_750"]  # a NER-only model does not serve four tasks
    table = quality_report.tradeoff_markdown(rows)
    assert "| 96.0 (0.68x) † |" in table
    assert "joint_temperature_layers1: 2026-12-02 05:52 UTC, fully shared model 142.3 sentences/s there" in table
    this_run = {**arms, "joint_temperature_layers1": {"sentences_per_s": 70.0, "ratio_to_shared": 0.7}}  # no "run"
    assert "†" not in quality_report.tradeoff_markdown(quality_report.tradeoff(results, {"arms": this_run}, CAPACITY))
