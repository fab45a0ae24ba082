"""`hf-mtl train` killed (SIGKILL) or interrupted (Ctrl-C, SIGINT) mid-run, then `--resume`d: the same final model
as an uninterrupted run, bit for bit. The runs go through the real command (tests/scripts/cli_train.py only adds a
progress file and pauses, so the test knows when to send the signal)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from test_resume import TASKS, TRAINING

from hf_mtl.training.checkpoints import checkpoint_problem, last_complete_checkpoint

SCRIPT = Path(__file__).parent / "scripts" / "cli_train.py"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def write_recipe(folder: Path, encoder: Path) -> Path:
    recipe = {"output_dir": str(folder / "unused"), "model": {"encoder": str(encoder)}, "tasks": TASKS,
              "training": TRAINING}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def start(*args: str, slow_from: int | None = None, log: Path) -> subprocess.Popen:
    slow = ["--slow-from-step", str(slow_from)] if slow_from is not None else []
    return subprocess.Popen([sys.executable, str(SCRIPT), *slow, "--", *args], stdout=open(log, "ab"),  # noqa: SIM115
                            stderr=subprocess.STDOUT, env=ENV)


def wait(process: subprocess.Popen, log: Path, expected: int = 0) -> str:
    status = process.wait(timeout=600)
    text = log.read_text(errors="replace")
    assert status == expected, text[-4000:]
    return text


def progress(output: Path) -> int:
    try:
        return json.loads((output / "progress.json").read_text())["step"]
    except (OSError, ValueError):
        return -1


def signal_at(process: subprocess.Popen, output: Path, step: int, signum: int) -> None:
    deadline = time.monotonic() + 600
    while progress(output) < step:
        assert process.poll() is None, "the run ended before the signal"
        assert time.monotonic() < deadline, "timed out waiting for the step"
        time.sleep(0.05)
    process.send_signal(signum)


def assert_same_model(folder: Path, reference: Path) -> None:
    final, expected = load_file(str(folder / "model.safetensors")), load_file(str(reference / "model.safetensors"))
    assert final.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(final[name], tensor), name
    metrics, expected_metrics = (json.loads((f / "eval_results.json").read_text()) for f in (folder, reference))
    timing = ("runtime", "per_second")
    assert {k: v for k, v in metrics.items() if not any(t in k for t in timing)} == {
        k: v for k, v in expected_metrics.items() if not any(t in k for t in timing)}
    assert any(k.startswith("eval_ner_") for k in metrics)
    seen = json.loads((folder / "train_summary.json").read_text())["examples_seen"]
    assert seen == json.loads((reference / "train_summary.json").read_text())["examples_seen"]


@pytest.mark.slow
def test_cli_train_killed_or_interrupted_then_resumed_equals_an_uninterrupted_run(tmp_path, tiny_encoder_dir):
    recipe = write_recipe(tmp_path, tiny_encoder_dir)
    reference, killed, interrupted = tmp_path / "reference", tmp_path / "killed", tmp_path / "interrupted"
    logs = {folder: tmp_path / f"{folder.name}.log" for folder in (reference, killed, interrupted)}
    runs = {
        reference: start("train", str(recipe), f"output_dir={reference}", log=logs[reference]),
        killed: start("train", str(recipe), f"output_dir={killed}", slow_from=5, log=logs[killed]),
        interrupted: start("train", str(recipe), f"output_dir={interrupted}", slow_from=4, log=logs[interrupted]),
    }
    # SIGKILL after step 5: checkpoint-4 is complete, step 5 is lost, and the lock file stays behind.
    signal_at(runs[killed], killed, 5, signal.SIGKILL)
    assert runs[killed].wait(timeout=60) == -signal.SIGKILL
    assert last_complete_checkpoint(killed) == str(killed / "checkpoint-4")
    assert (killed / ".hf-mtl.lock").is_file()
    # Ctrl-C after step 4: the run stops at the next step boundary, saves a complete checkpoint there, says how to
    # resume, and exits with 130 without a traceback.
    signal_at(runs[interrupted], interrupted, 4, signal.SIGINT)
    text = wait(runs[interrupted], logs[interrupted], expected=130)
    assert "Traceback" not in text
    stopped = json.loads((interrupted / "progress.json").read_text())["step"]
    assert 4 <= stopped < 10
    assert checkpoint_problem(interrupted / f"checkpoint-{stopped}") is None
    assert f"interrupted after step {stopped} of 10; saved {interrupted / f'checkpoint-{stopped}'}" in text
    assert f"Resume with: hf-mtl train {recipe} output_dir={interrupted} --resume" in text
    assert not (interrupted / ".hf-mtl.lock").exists() and not (interrupted / "model.safetensors").exists()

    # Running the same command again without --resume is refused and deletes nothing.
    before = sorted(path.name for path in killed.iterdir())
    refused = subprocess.run([sys.executable, "-m", "hf_mtl", "train", str(recipe), f"output_dir={killed}"],
                             capture_output=True, text=True, env=ENV, timeout=300)
    assert refused.returncode == 2 and "--resume" in refused.stderr and "--overwrite" in refused.stderr
    assert sorted(path.name for path in killed.iterdir()) == before

    resumed = {folder: start("train", str(recipe), f"output_dir={folder}", "--resume", log=tmp_path / f"{folder.name}-resume.log")
               for folder in (killed, interrupted)}
    for folder, process in resumed.items():
        text = wait(process, tmp_path / f"{folder.name}-resume.log")
        assert "Traceback" not in text
    assert "taking over the lock of a run that no longer runs" in (tmp_path / "killed-resume.log").read_text()
    wait(runs[reference], logs[reference])
    for folder in (killed, interrupted):
        assert_same_model(folder, reference)
        assert not (folder / ".hf-mtl.lock").exists()
