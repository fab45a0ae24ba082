"""Pushing a trained model folder to the Hugging Face Hub (weights, config, tokenizer, card, remote code)."""

from __future__ import annotations

from pathlib import Path

from .errors import HfMtlError

REQUIRED_FILES = ("config.json", "model.safetensors", "configuration_multitask.py", "modeling_multitask.py",
                  "heads.py", "task_kinds.py",
                  # the "multitask" pipeline as remote code (config.json's custom_pipelines)
                  "pipeline_multitask.py", "word_windows.py", "errors.py")
# Files a training run leaves that do not belong in a model repository.
IGNORED_PATTERNS = ["checkpoint-*", "checkpoint-*/**", "runs/**", "training_args.bin", "*.pt", "*.pkl"]


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


def push_model_folder(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None,
                      commit_message: str = "Upload hf_mtl multi-task model") -> str:
    """Create ``repo_id`` (if needed) and upload the folder; returns the commit URL.

    The repository then loads with ``AutoModel.from_pretrained(repo_id, trust_remote_code=True)`` anywhere,
    or without remote code where hf_mtl is installed and imported.
    """
    from huggingface_hub import HfApi

    folder = check_model_folder(folder)
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise HfMtlError(f"Repository id {repo_id!r} must look like 'user-or-org/model-name'.")
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    commit = api.upload_folder(
        repo_id=repo_id, folder_path=str(folder), commit_message=commit_message, ignore_patterns=IGNORED_PATTERNS,
        repo_type="model",
    )
    return str(getattr(commit, "commit_url", commit))
