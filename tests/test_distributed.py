"""A real 2-process DDP run on CPU (gloo): same task per step on every process, disjoint data, epochs that differ.

`accelerate launch --cpu --num_processes 2` starts a single process unless MPI is configured, so the test uses
accelerate's torchrun launcher (`--multi_gpu`), which falls back to gloo on CPU when no GPU is present.

The run (tests/scripts/ddp_train.py): 96 NER + 64 sentiment examples, batches of 8, 2 processes x 2 accumulation
steps, so one sampler draw is 4 batches and a sampler epoch is 3 + 2 = 5 optimizer steps (10 micro-batches per
process). 10 steps cross one sampler-epoch boundary; a checkpoint at step 7 lies inside the second epoch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from hf_mtl import MultiTaskModel

SCRIPT = Path(__file__).parent / "scripts" / "ddp_train.py"
STEPS, STEPS_PER_EPOCH, ACCUMULATION, CHECKPOINT_STEP = 10, 5, 2, 7
MICRO_PER_EPOCH = STEPS_PER_EPOCH * ACCUMULATION
ALL_IDS = set(range(96)) | set(range(1000, 1064))

pytestmark = pytest.mark.skipif(importlib.util.find_spec("accelerate") is None, reason="accelerate not installed")


def launch(output: Path, *options: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", str(SCRIPT), str(output), *options,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=400)
    assert result.returncode == 0, result.stderr[-4000:]


def seen(output: Path, rank: int, tag: str = "") -> list[dict]:
    return json.loads((output / f"seen_rank{rank}{tag}.json").read_text())


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("ddp")
    launch(output, "--max-steps", str(STEPS), "--save-steps", str(CHECKPOINT_STEP))
    return output


def test_two_process_training_shards_data_and_keeps_tasks_in_step(ddp_run):
    micro_batches = STEPS * ACCUMULATION
    rank0, rank1 = seen(ddp_run, 0), seen(ddp_run, 1)
    # accelerate may prefetch one batch more than the run uses
    assert len(rank0) >= micro_batches and len(rank1) >= micro_batches
    rank0, rank1 = rank0[:micro_batches], rank1[:micro_batches]
    for batch0, batch1 in zip(rank0, rank1, strict=True):
        assert batch0["task"] == batch1["task"]
        assert not set(batch0["ids"]) & set(batch1["ids"])
    # Accumulated micro-batches of one optimizer step share the task too.
    for step in range(STEPS):
        assert rank0[2 * step]["task"] == rank0[2 * step + 1]["task"]
    assert {batch["task"] for batch in rank0} == {"ner", "sentiment"}

    history = json.loads((ddp_run / "log_history.json").read_text())
    assert any("loss_ner" in entry or "loss_sentiment" in entry for entry in history)
    model = AutoModel.from_pretrained(ddp_run / "model")
    assert isinstance(model, MultiTaskModel)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_sampler_epoch_follows_the_trainer_under_ddp(ddp_run):
    """Each sampler epoch covers every example once over both processes, and the second epoch is a new stream."""
    epochs = []
    for epoch in range(STEPS // STEPS_PER_EPOCH):
        window = slice(epoch * MICRO_PER_EPOCH, (epoch + 1) * MICRO_PER_EPOCH)
        batches = [seen(ddp_run, rank)[window] for rank in (0, 1)]
        ids = [i for rank_batches in batches for batch in rank_batches for i in batch["ids"]]
        assert sorted(ids) == sorted(ALL_IDS), f"epoch {epoch} does not cover every example exactly once"
        epochs.append([(batch["task"], batch["ids"]) for batch in batches[0]])
    assert epochs[1] != epochs[0]  # a replayed epoch 0 (set_epoch not forwarded) would be identical
    assert [ids for _, ids in epochs[1]][:4] != [ids for _, ids in epochs[0]][:4]


@pytest.mark.slow
def test_ddp_resume_inside_a_later_epoch_continues_its_stream(ddp_run, tmp_path):
    """Resuming mid-epoch wraps the sampler twice (SkipBatchSampler(BatchSamplerShard(sampler))); the epoch must
    still reach it, or the resumed run replays epoch 0's batches."""
    output = Path(shutil.copytree(ddp_run, tmp_path / "run"))
    shutil.rmtree(output / "model")
    shutil.rmtree(output / f"checkpoint-{STEPS}")  # the run's final checkpoint: resume from step 7 instead
    assert (output / f"checkpoint-{CHECKPOINT_STEP}" / "trainer_state.json").is_file()
    launch(output, "--max-steps", str(STEPS), "--resume")
    start, end = CHECKPOINT_STEP * ACCUMULATION, STEPS * ACCUMULATION
    for rank in (0, 1):
        resumed = seen(output, rank, "_resumed")[: end - start]
        assert resumed == seen(ddp_run, rank)[start:end], f"rank {rank} did not continue the uninterrupted stream"
    history = json.loads((output / "log_history_resumed.json").read_text())
    reference = json.loads((ddp_run / "log_history.json").read_text())
    last = [entry for entry in reference if entry.get("step") == STEPS and "loss" in entry]
    assert last and [entry for entry in history if entry.get("step") == STEPS and "loss" in entry] == last
