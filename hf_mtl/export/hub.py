"""Pushing a trained model folder to the Hugging Face Hub (weights, config, tokenizer, card, remote code)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..modeling import REMOTE_CODE_FILES
from ..modeling.errors import HfMtlError
from ..modeling.task_kinds import auxiliary_tasks
from .model_card import CARD_FILE, SIDE_CARD_FILE, set_card_model_id

# What a complete model folder holds: the config, safetensors weights and the modeling core (remote code).
REQUIRED_FILES = ("config.json", "model.safetensors", *REMOTE_CODE_FILES)
# Files a training run leaves that never belong in a model repository: checkpoints, pickles, private files
# ("_*", as Trainer.push_to_hub skips them) and the card written beside a README.md the user wrote.
IGNORED_PATTERNS = ["_*", "checkpoint-*", "checkpoint-*/**", "*.pt", "*.pkl", SIDE_CARD_FILE]
# Files that are uploaded only when asked (`include_training_files=True`): TensorBoard logs, the pickled
# TrainingArguments and the run's summary (which names the local output folder).
TRAINING_FILES = ["runs/**", "training_args.bin", "train_summary.json"]


def ignore_patterns(include_training_files: bool = False) -> list[str]:
    """The upload's ignore patterns, shared by `hf-mtl push` and `MultiTaskTrainer.push_to_hub`."""
    return list(IGNORED_PATTERNS) if include_training_files else [*IGNORED_PATTERNS, *TRAINING_FILES]


def check_model_folder(folder: str | Path) -> Path:
    """Check that ``folder`` holds a complete hf_mtl model (safetensors weights and its modeling code)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HfMtlError(f"Model folder {folder} does not exist.")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise HfMtlError(
            f"{folder} is not a complete hf_mtl model folder: missing {missing}. Save it with "
            "model.save_pretrained(folder) after `import hf_mtl` (that copies the modeling code)."
        )
    return folder


def lora_settings(folder: str | Path) -> dict[str, Any] | None:
    """The `lora` section of a model folder's config.json (None for a plain model)."""
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    return config.get("lora") or None


def merged_copy(folder: str | Path, target: str | Path, merge: bool = True, drop: list[str] | None = None) -> Path:
    """Write ``folder``'s model into ``target`` with the folder's other files: its LoRA adapters merged (``merge``)
    and the tasks of ``drop`` removed (their heads and config entries)."""
    from ..modeling.lora import merge_lora
    from ..modeling.modeling_multitask import MultiTaskModel

    folder, target = Path(folder), Path(target)
    model = MultiTaskModel.from_pretrained(folder)
    model = merge_lora(model) if merge else model
    for name in drop or ():
        model.remove_task(name)
    shutil.copytree(folder, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("checkpoint-*", "runs"))
    model.save_pretrained(target)
    return target


def upload_view(folder: str | Path, target: str | Path) -> Path:
    """``target``: ``folder``'s files as symbolic links, with a copy of its README.md, which the push then edits.

    The push never writes into the model folder it reads (checkpoints, never uploaded, are left out).
    """
    folder, target = Path(folder).resolve(), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0].startswith("checkpoint-"):
            continue
        destination = target / relative
        if path.is_dir() and not path.is_symlink():
            destination.mkdir(parents=True, exist_ok=True)
        elif relative == Path(CARD_FILE):
            shutil.copyfile(path, destination)
        else:
            os.symlink(path.resolve(), destination)
    return target


def push_model_folder(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None,
                      commit_message: str = "Upload hf_mtl multi-task model", include_training_files: bool = False,
                      merge_lora: bool = True, keep_auxiliary: bool = False) -> str:
    """Create ``repo_id`` (if needed) and upload the folder; returns the commit URL.

    The repository then loads with ``AutoModel.from_pretrained(repo_id, trust_remote_code=True)`` anywhere,
    or without remote code where hf_mtl is installed and imported. The hf_mtl model card (README.md) gets
    ``repo_id`` in its "how to use" code. ``runs/`` and ``training_args.bin`` are uploaded only with
    ``include_training_files=True``. A model with LoRA adapters is pushed merged (a plain model) unless
    ``merge_lora=False``, which pushes the adapters and heads only; their base encoder must then be a Hub id.
    Tasks that only train the encoder (masked-lm) are removed from the pushed copy (weights and config; the folder is
    not changed) unless ``keep_auxiliary=True``.
    """
    from huggingface_hub import HfApi

    folder = check_model_folder(folder)
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise HfMtlError(f"Repository id {repo_id!r} must look like 'user-or-org/model-name'.")
    lora = lora_settings(folder)
    if lora and not merge_lora:
        base = str(lora.get("base_encoder", ""))
        if not base or Path(base).expanduser().exists():
            raise HfMtlError(
                f"{folder} holds LoRA adapters for the local encoder {base!r}, which others cannot load: push it merged "
                "(the default), or train from a Hub encoder id."
            )
    with tempfile.TemporaryDirectory() as scratch:
        staged = Path(scratch) / "upload"
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        drop = [] if keep_auxiliary else auxiliary_tasks(config.get("tasks") or {})
        if (lora and merge_lora) or drop:
            upload = merged_copy(folder, staged, merge=bool(lora and merge_lora), drop=drop)
        else:
            upload = upload_view(folder, staged)
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        set_card_model_id(upload, repo_id)
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=str(upload), commit_message=commit_message,
            ignore_patterns=ignore_patterns(include_training_files), repo_type="model",
        )
    return str(getattr(commit, "commit_url", commit))
