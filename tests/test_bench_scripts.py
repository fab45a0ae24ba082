"""The benchmark scripts run end to end (tiny sizes, CPU): bench/gpu_suite.sh --cpu-dry-run and bench/many_tasks.py.

These run real subprocesses on the shared data (``../shared/data`` next to the repository, or ``$HF_MTL_DATA``) and
take minutes on 2 cores, so they are marked ``slow``; they are skipped when the data folder is not there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HF_MTL_DATA") or REPO.parent / "shared" / "data")
SECTIONS = ("train_throughput", "shared_inputs", "inference", "many_tasks")

needs_data = pytest.mark.skipif(not (DATA / "sst2" / "train.tsv").exists(), reason=f"no shared data in {DATA}")


def _env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_MTL_DATA=str(DATA))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("PYTHON", sys.executable)
    return env


@pytest.mark.slow
@needs_data
def test_gpu_suite_cpu_dry_run_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "suite"
    done = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu_suite.sh"), "--cpu-dry-run", "--no-install", "--out", str(out)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "gpu_suite.json").read_text())
    assert report["cpu_dry_run"] is True and report["device"] == "cpu"
    assert set(report["sections"]) == set(SECTIONS)
    for name, section in report["sections"].items():
        assert section["exit_status"] == 0, (name, section)
        assert section["ratio"] and section["ratio"].startswith("ratio "), (name, section)
    assert "mfu_hf_mtl" not in report["sections"]["train_throughput"]["ratio"]  # no peak is known for a CPU
    assert set(report["sections"]["train_throughput"]["figures"]["arms"]) == {"a_ceiling", "b_hf_mtl", "c_stock"}
    assert report["sections"]["inference"]["figures"]["arms"]["multitask_pytorch"]["sentences_per_s"] > 0
    assert [r["n"] for r in report["sections"]["many_tasks"]["figures"]["results"]] == [1, 2]
    markdown = (out / "gpu_suite.md").read_text()
    assert markdown.startswith("# gpu_suite on ")
    for name in SECTIONS:
        assert f"| {name} | 0 |" in markdown


@pytest.mark.slow
@needs_data
def test_many_tasks_reports_every_measure_and_its_ratio_line(tmp_path: Path) -> None:
    out = tmp_path / "many.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "many_tasks.py"), "--sizes", "1,2", "--source", "mixed", "--steps", "2",
         "--warmup", "1", "--train-examples", "64", "--eval-examples", "16", "--pipeline-sentences", "8",
         "--pipeline-repeats", "1", "--profile", "--json", str(out)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("ratio step_time_N64/N1=") and " pipeline_N64/N1=" in last
    results = json.loads(out.read_text())["results"]
    assert [r["n"] for r in results] == [1, 2]
    for r in results:
        for key in ("startup_seconds", "step_seconds_median", "eval_ms_per_example", "peak_rss_mib", "checkpoint_mib",
                    "save_seconds", "pipeline_all_per_s", "pipeline_one_per_s"):
            assert r[key] > 0, (r["n"], key)
        assert len(r["step_seconds"]) == 2
    assert results[1]["train_examples"] == results[0]["train_examples"] == 64  # the same data, cut into N tasks
    assert "### steps: functions called more often as N grows" in done.stdout


@pytest.mark.slow
@needs_data
def test_ud_pipeline_runs_every_arm_on_a_tiny_budget(tmp_path: Path) -> None:
    results = tmp_path / "ud.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "ud_pipeline.py"), "--steps", "2", "--max-train", "32", "--max-eval", "8",
         "--pipeline-sentences", "4", "--work", str(tmp_path / "work"), "--results", str(results)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith("ratio one_pass/per_task train_time=")
    report = json.loads(results.read_text())
    assert set(report) == {"meta", "per_task", "one_pass", "crf", "mlm"}
    for arm in ("per_task", "one_pass"):
        assert set(report[arm]["scores"]) == {"upos", "ufeats", "lemma", "uas", "las", "ner_f1"}, arm
        assert report[arm]["train_seconds"] > 0 and report[arm]["pipeline_sentences_per_s"] > 0
    assert report["per_task"]["parameters"] > report["one_pass"]["parameters"]  # five encoders vs one
    assert set(report["crf"]) == {"softmax", "crf", "load_average"} and report["crf"]["crf"]["ill_formed_spans"] == 0
    assert "mlm_perplexity" in report["mlm"]["with_mlm"]["scores"]
    assert report["mlm"]["with_mlm"]["examples_seen"]["mlm"] > 0


@pytest.mark.slow
@needs_data
def test_quality_longer_refine_of_one_task_is_recorded_as_its_own_arm(tmp_path: Path) -> None:
    """`--refine-tasks ner --refine-steps N` records `joint_temperature_refine_ner_N` beside the joint arm, and a
    joint model folder that is gone (another machine) is trained again before refining."""
    results, work = tmp_path / "arms.json", tmp_path / "work"

    def quality(*options: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, str(REPO / "bench" / "quality.py"), "--scale", "0.002", "--max-examples", "32",
             "--threads", "1", "--refine-tasks", "ner", "--work", str(work), "--results", str(results),
             "--out", str(tmp_path / "quality.json"), "--inference-results", str(tmp_path / "none.json"), *options],
            cwd=REPO, env=_env(), capture_output=True, text=True, timeout=1500,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    quality("--arms", "joint_temperature,joint_temperature_refine", "--refine-steps", "500")
    recorded = json.loads(results.read_text())
    assert set(recorded["joint_temperature_refine_ner_500"]["tasks"]) == {"ner"}
    assert recorded["joint_temperature_refine_ner_500"]["tasks"]["ner"]["refine_steps"] == 1  # 500 x 0.002
    shutil.rmtree(recorded["joint_temperature"]["model_dir"])
    done = quality("--arms", "joint_temperature_refine", "--refine-steps", "1000")
    assert "its model folder" in done.stdout and "training it again" in done.stdout
    recorded = json.loads(results.read_text())
    assert recorded["joint_temperature_refine_ner_1000"]["tasks"]["ner"]["refine_steps"] == 2
    assert "joint_temperature_refine_ner_500" in recorded  # the first budget is kept
    report = json.loads((tmp_path / "quality.json").read_text())
    assert report["summary"]["joint_temperature_refine_ner_1000"]["mean"] is None
