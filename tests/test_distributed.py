"""A real 2-process DDP run on CPU (gloo): same task per step on every process, disjoint data.

`accelerate launch --cpu --num_processes 2` starts a single process unless MPI is configured, so the test uses
accelerate's torchrun launcher (`--multi_gpu`), which falls back to gloo on CPU when no GPU is present.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from hf_mtl import MultiTaskModel

SCRIPT = Path(__file__).parent / "scripts" / "ddp_train.py"


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate CLI not installed")
def test_two_process_training_shards_data_and_keeps_tasks_in_step(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [
        "accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", str(SCRIPT), str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]

    rank0 = json.loads((tmp_path / "seen_rank0.json").read_text())
    rank1 = json.loads((tmp_path / "seen_rank1.json").read_text())
    # 6 optimizer steps x 2 accumulation micro-batches on each process (accelerate may prefetch one more).
    assert len(rank0) >= 12 and len(rank1) >= 12
    rank0, rank1 = rank0[:12], rank1[:12]
    for batch0, batch1 in zip(rank0, rank1, strict=True):
        assert batch0["task"] == batch1["task"]
        assert not set(batch0["ids"]) & set(batch1["ids"])
    # Accumulated micro-batches of one optimizer step share the task too.
    for step in range(6):
        assert rank0[2 * step]["task"] == rank0[2 * step + 1]["task"]
    assert {batch["task"] for batch in rank0} == {"ner", "sentiment"}

    history = json.loads((tmp_path / "log_history.json").read_text())
    assert any("loss_ner" in entry or "loss_sentiment" in entry for entry in history)
    model = AutoModel.from_pretrained(tmp_path / "model")
    assert isinstance(model, MultiTaskModel)
    assert all(torch.isfinite(p).all() for p in model.parameters())
