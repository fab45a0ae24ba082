"""Interrupted training: SIGKILL mid-run and mid-save, resume, and end exactly where an uninterrupted run ends.

transformers 5.x writes ``checkpoint-N/`` in place (no temporary folder and rename) with ``trainer_state.json``
last, so a kill during a save leaves a half-written folder that stock ``get_last_checkpoint`` would pick. hf_mtl
treats ``trainer_state.json`` as the commit record and resumes from the newest *complete* checkpoint (see
``hf_mtl.training.trainer.checkpoint_problem``). The subprocess runs use tests/scripts/resume_train.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import SAMPLES_DIR
from safetensors.torch import load_file
from transformers.trainer_utils import get_last_checkpoint

from hf_mtl.modeling.errors import HfMtlError
from hf_mtl.training.checkpoints import EXAMPLES_SEEN_FILE, read_examples_seen, resolve_resume
from hf_mtl.training.trainer import MultiTaskTrainer, checkpoint_problem, last_complete_checkpoint
from hf_mtl.workflow.recipe import load_recipe
from hf_mtl.workflow.run_folders import OutputError, plan_training_output
from hf_mtl.workflow.train import build_model, load_tokenizer, prepare_recipe_tasks

SCRIPT = Path(__file__).parent / "scripts" / "resume_train.py"
SMALL = {"max_train_examples": 12, "max_eval_examples": 16, "max_length": 32}
TASKS = [
    {"name": "ner", "type": "token-classification", "train": str(SAMPLES_DIR / "conll2003_train.txt"),
     "validation": str(SAMPLES_DIR / "conll2003_validation.txt"), **SMALL,
     "labels": ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]},
    {"name": "sentiment", "type": "text-classification", "train": str(SAMPLES_DIR / "sst2_train.tsv"),
     "validation": str(SAMPLES_DIR / "sst2_validation.tsv"), "text_column": "sentence",
     "label_map": {0: "negative", 1: "positive"}, **SMALL},
]
# 24 training examples in batches of 4: 6 batches an epoch, so step 4 is mid-epoch and step 6 an epoch boundary.
# Dropout is on (the tiny encoder's 0.1), so a resume that did not restore the RNG state would differ.
TRAINING = {"max_steps": 10, "per_device_train_batch_size": 4, "learning_rate": 1e-3, "logging_steps": 2,
            "save_strategy": "steps", "save_steps": 2, "save_total_limit": 3, "sampling": "temperature",
            "disable_tqdm": True, "use_cpu": True, "seed": 0, "dataloader_pin_memory": False}


def write_recipe(folder: Path, encoder: Path, **training) -> Path:
    recipe = {"output_dir": str(folder / "unused"), "model": {"encoder": str(encoder)}, "tasks": TASKS,
              "training": {**TRAINING, **training}}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def start(recipe: Path, output: Path, *options: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = open(output.parent / f"{output.name}.log", "ab")  # noqa: SIM115 (closed by the child's exit)
    return subprocess.Popen([sys.executable, str(SCRIPT), str(recipe), str(output), *options], stdout=log,
                            stderr=subprocess.STDOUT, env=env)


def finish(process: subprocess.Popen, output: Path, timeout: float = 400) -> dict:
    assert process.wait(timeout=timeout) == 0, (output.parent / f"{output.name}.log").read_text()[-4000:]
    return json.loads((output / "result.json").read_text())


def kill_when(process: subprocess.Popen, ready, timeout: float = 400) -> None:
    """SIGKILL ``process`` as soon as ``ready()`` holds (it must not finish first)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "timed out waiting for the kill point"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL


def progress(output: Path) -> int:
    try:
        return json.loads((output / "progress.json").read_text())["step"]
    except (OSError, ValueError):
        return -1


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow
def test_sigkill_mid_run_and_mid_save_then_resume_equals_uninterrupted_run(tmp_path, tiny_encoder_dir):
    recipe = write_recipe(tmp_path, tiny_encoder_dir)
    reference_dir, run_dir = tmp_path / "reference", tmp_path / "interrupted"
    reference = start(recipe, reference_dir)

    # Fault 1: SIGKILL mid-run, after step 5 (checkpoint-4 is complete, the work of step 5 is lost).
    first = start(recipe, run_dir, "--slow-from-step", "5")
    kill_when(first, lambda: progress(run_dir) >= 5)
    assert last_complete_checkpoint(run_dir) == str(run_dir / "checkpoint-4")

    # Fault 2: resume, then SIGKILL in the middle of saving checkpoint-8 (weights written, no optimizer/state).
    second = start(recipe, run_dir, "--resume", "--hang-in-save-at-step", "8")
    kill_when(second, lambda: (run_dir / "SAVING").exists())
    partial = run_dir / "checkpoint-8"
    assert (partial / "model.safetensors").is_file() and not (partial / "trainer_state.json").exists()
    assert get_last_checkpoint(str(run_dir)) == str(partial)  # what stock resume would pick, and fail on
    assert "trainer_state.json is missing" in checkpoint_problem(partial)
    assert last_complete_checkpoint(run_dir) == str(run_dir / "checkpoint-6")

    # Resume again: the half-written checkpoint-8 is skipped, training goes on from checkpoint-6 (an epoch end).
    resumed = finish(start(recipe, run_dir, "--resume"), run_dir)
    expected = finish(reference, reference_dir)

    assert resumed["resumed_from"] == "checkpoint-6" and expected["resumed_from"] is None
    assert resumed["global_step"] == expected["global_step"] == 10
    assert resumed["metrics"] == expected["metrics"]
    assert resumed["losses"] == expected["losses"]  # every logged loss, per task, steps 2..10
    assert resumed["examples_seen"] == expected["examples_seen"]
    assert sum(expected["examples_seen"].values()) == 10 * 4
    final, reference_weights = weights(run_dir / "final"), weights(reference_dir / "final")
    assert final.keys() == reference_weights.keys()
    for name, tensor in reference_weights.items():
        assert torch.equal(final[name], tensor), name
    # the re-saved checkpoint-8 is complete now
    assert checkpoint_problem(run_dir / "checkpoint-8") is None


# ------------------------------------------------------------------ partial checkpoints, in process


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_encoder_dir):
    """Four steps of the 2-task recipe in process, checkpoints at steps 2 and 4."""
    folder = tmp_path_factory.mktemp("partial")
    recipe = load_recipe(write_recipe(folder, tiny_encoder_dir, max_steps=4, save_total_limit=None))
    tokenizer = load_tokenizer(recipe.model.encoder_path)
    prepared = prepare_recipe_tasks(list(recipe.tasks), tokenizer)

    def trainer(max_steps: int) -> MultiTaskTrainer:
        args = recipe.training_arguments(output_dir=str(folder / "out"), max_steps=max_steps)
        return MultiTaskTrainer(
            model=build_model(recipe, prepared), args=args, processing_class=tokenizer,
            train_dataset={name: data.tokenized["train"] for name, data in prepared.items()},
        )

    first = trainer(4)
    first.train()
    return folder / "out", trainer, first


def _copy(source: Path, target: Path, step: int) -> Path:
    shutil.copytree(source, target)
    state = json.loads((target / "trainer_state.json").read_text())
    state["global_step"] = step
    (target / "trainer_state.json").write_text(json.dumps(state))
    return target


def test_resume_skips_partial_checkpoints_and_refuses_them_by_name(trained_run, tmp_path):
    out, make_trainer, first = trained_run
    out = Path(shutil.copytree(out, tmp_path / "out"))
    complete = out / "checkpoint-4"
    assert checkpoint_problem(complete) is None
    # the counts travel in the checkpoint's trainer state (an ExportableState callback), no side file
    state = json.loads((complete / "trainer_state.json").read_text())
    assert state["stateful_callbacks"]["ExamplesSeenCallback"]["attributes"]["counts"] == first.examples_seen
    assert not (complete / "examples_seen.json").exists() and read_examples_seen(complete) == first.examples_seen

    # Simulated leftovers of kills during saves, newest first: each is a different way of being half-written.
    no_state = _copy(complete, out / "checkpoint-14", 14)
    (no_state / "trainer_state.json").unlink()
    torn_state = _copy(complete, out / "checkpoint-12", 12)
    text = (torn_state / "trainer_state.json").read_text()
    (torn_state / "trainer_state.json").write_text(text[: len(text) // 2])
    torn_weights = _copy(complete, out / "checkpoint-10", 10)
    data = (torn_weights / "model.safetensors").read_bytes()
    (torn_weights / "model.safetensors").write_bytes(data[: len(data) // 2])
    no_optimizer = _copy(complete, out / "checkpoint-8", 8)
    (no_optimizer / "optimizer.pt").unlink()
    pickled = _copy(complete, out / "checkpoint-6", 6)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    wrong_step = _copy(complete, out / "checkpoint-5", 4)

    problems = {path.name: checkpoint_problem(path) for path in (no_state, torn_state, torn_weights, no_optimizer,
                                                                 pickled, wrong_step)}
    assert "trainer_state.json is missing" in problems["checkpoint-14"]
    assert "trainer_state.json is not valid JSON" in problems["checkpoint-12"]
    assert "model.safetensors is not a readable safetensors file" in problems["checkpoint-10"]
    assert "optimizer.pt is missing" in problems["checkpoint-8"]
    assert "pickle (pytorch_model.bin)" in problems["checkpoint-6"]
    assert "records step 4, not 5" in problems["checkpoint-5"]
    assert get_last_checkpoint(str(out)) == str(no_state)  # stock resume would pick the first broken one
    assert last_complete_checkpoint(out) == str(complete)

    # A partial checkpoint named explicitly is refused, naming the folder and what is missing.
    trainer = make_trainer(6)
    trainer.args.output_dir = str(out)
    with pytest.raises(HfMtlError, match=r"Cannot resume from .*checkpoint-10: model\.safetensors is not a readable"):
        trainer.train(resume_from_checkpoint=str(torn_weights))
    # resume_from_checkpoint=True goes back to checkpoint-4 and trains on, counting examples from its counts.
    trainer.train(resume_from_checkpoint=True)
    assert trainer.state.global_step == 6
    assert sum(trainer.examples_seen.values()) == 6 * 4


def test_resume_with_no_complete_checkpoint_is_an_error(tmp_path, trained_run):
    _, make_trainer, _ = trained_run
    trainer = make_trainer(2)
    trainer.args.output_dir = str(tmp_path)
    (tmp_path / "checkpoint-2").mkdir()
    with pytest.raises(HfMtlError, match="holds no complete checkpoint-N folder"):
        trainer.train(resume_from_checkpoint=True)


def test_a_kill_while_resaving_a_checkpoint_leaves_it_incomplete(trained_run, tmp_path, monkeypatch):
    """Saving into an existing checkpoint folder first removes its commit record (trainer_state.json)."""
    out, _, first = trained_run
    folder = Path(shutil.copytree(out / "checkpoint-4", tmp_path / "checkpoint-4"))
    assert checkpoint_problem(folder) is None

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing the weights")

    monkeypatch.setattr(first.model, "save_pretrained", killed)
    with pytest.raises(KeyboardInterrupt):
        first.save_model(str(folder), _internal_call=True)
    assert "trainer_state.json is missing" in checkpoint_problem(folder)
    # a final model folder (not a checkpoint) is left alone
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "trainer_state.json").write_text("{}")
    with pytest.raises(KeyboardInterrupt):
        first.save_model(str(tmp_path / "final"), _internal_call=True)
    assert (tmp_path / "final" / "trainer_state.json").exists()


def test_a_checkpoint_of_the_previous_version_resumes_its_counts(trained_run, tmp_path):
    """hf_mtl before the counts moved into trainer_state.json wrote them to examples_seen.json beside the weights."""
    out, make_trainer, first = trained_run
    old = Path(shutil.copytree(out / "checkpoint-4", tmp_path / "out" / "checkpoint-4"))
    state = json.loads((old / "trainer_state.json").read_text())
    del state["stateful_callbacks"]["ExamplesSeenCallback"]
    (old / "trainer_state.json").write_text(json.dumps(state))
    (old / EXAMPLES_SEEN_FILE).write_text(json.dumps(first.examples_seen))
    assert read_examples_seen(old) == first.examples_seen
    trainer = make_trainer(5)
    trainer.args.output_dir = str(tmp_path / "out")
    trainer.train(resume_from_checkpoint=True)
    assert sum(trainer.examples_seen.values()) == 5 * 4


def _resume_verdicts(checkpoint: Path, args) -> tuple[str | None, str | None]:
    """What Python (`MultiTaskTrainer.train`'s rule) and `hf-mtl train --resume` say of one checkpoint."""
    verdicts = []
    for decide, error in ((lambda: resolve_resume(str(checkpoint), checkpoint.parent, args), HfMtlError),
                          (lambda: plan_training_output(checkpoint.parent, resume=str(checkpoint), args=args), OutputError)):
        try:
            decide()
            verdicts.append(None)
        except error as refused:
            verdicts.append(str(refused))
    return verdicts[0], verdicts[1]


def test_python_and_the_cli_make_one_resumability_decision(trained_run, tmp_path):
    out, make_trainer, _ = trained_run
    args = make_trainer(4).args
    no_optimizer = _copy(out / "checkpoint-4", tmp_path / "run" / "checkpoint-4", 4)
    (no_optimizer / "optimizer.pt").unlink()
    torn = _copy(out / "checkpoint-4", tmp_path / "torn" / "checkpoint-4", 4)
    (torn / "model.safetensors").write_bytes((torn / "model.safetensors").read_bytes()[:100])
    # refused by both when the run needs its optimizer state
    python, cli = _resume_verdicts(no_optimizer, args)
    assert python and cli and "optimizer.pt is missing" in python and "optimizer.pt is missing" in cli
    # a save_only_model run saves no optimizer state: its checkpoints resume in Python and from the CLI alike
    args.save_only_model = True
    try:
        assert _resume_verdicts(no_optimizer, args) == (None, None)
        python, cli = _resume_verdicts(torn, args)  # truncated weights: refused by both whatever the arguments
        assert python and cli and "not a readable safetensors file" in python and "not a readable" in cli
    finally:
        args.save_only_model = False
