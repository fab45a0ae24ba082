"""Checkpoint integrity: which ``checkpoint-N`` folders a run can resume from, and saving them crash-safely.

transformers (5.x) writes ``checkpoint-N/`` in place, with ``trainer_state.json`` last. hf_mtl treats that file as
the checkpoint's *commit record*:

- :func:`checkpoint_problem` says why a folder is not a complete checkpoint (or ``None`` when it is);
- :func:`last_complete_checkpoint` picks the newest complete one, skipping folders a kill left half-written
  (stock ``get_last_checkpoint`` would pick those and fail);
- :func:`invalidate_checkpoint` removes a stale commit record before a checkpoint folder is written again, so a
  kill during the save never leaves a folder that looks complete;
- :func:`resolve_resume` turns ``train(resume_from_checkpoint=...)`` into a complete checkpoint folder or a
  one-line error;
- the per-task example counts of a run travel in ``examples_seen.json`` beside the weights
  (:func:`write_examples_seen` / :func:`read_examples_seen`).

Nothing here depends on the trainer; ``MultiTaskTrainer.train`` and ``save_model`` call these functions.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from transformers.trainer import OPTIMIZER_NAME, SCHEDULER_NAME, TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_NAME

from ..modeling.errors import HfMtlError

logger = logging.getLogger("hf_mtl")

__all__ = [
    "EXAMPLES_SEEN_FILE",
    "checkpoint_problem",
    "invalidate_checkpoint",
    "is_checkpoint_folder",
    "last_complete_checkpoint",
    "read_examples_seen",
    "resolve_resume",
    "write_examples_seen",
]

EXAMPLES_SEEN_FILE = "examples_seen.json"
"""Per-task training example counts, saved in every checkpoint and restored on resume."""

_CHECKPOINT_NAME = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def is_checkpoint_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is named like a Trainer checkpoint (``checkpoint-N``)."""
    return _CHECKPOINT_NAME.match(Path(folder).name) is not None


def checkpoint_folders(output_dir: str | os.PathLike) -> list[Path]:
    """The ``checkpoint-N`` folders of ``output_dir``, oldest (smallest N) first; none if it is not a folder."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    numbered = [(int(m.group(1)), path) for path in folder.iterdir() if (m := _CHECKPOINT_NAME.match(path.name))]
    return [path for _, path in sorted(numbered)]


def _safetensors_problem(path: Path) -> str | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as weights:
            weights.keys()
    except Exception as error:  # safetensors raises SafetensorError (and OSError) for truncated or garbled files
        return f"{path.name} is not a readable safetensors file ({error})"
    return None


def _weights_problem(folder: Path) -> str | None:
    """Why the weights of a checkpoint folder cannot be loaded (safetensors only), or ``None``."""
    index_file = folder / SAFE_WEIGHTS_INDEX_NAME
    if (folder / SAFE_WEIGHTS_NAME).is_file():
        return _safetensors_problem(folder / SAFE_WEIGHTS_NAME)
    if index_file.is_file():
        try:
            shards = sorted(set(json.loads(index_file.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
            return f"{SAFE_WEIGHTS_INDEX_NAME} is not a valid weight index ({error})"
        for shard in shards:
            problem = _safetensors_problem(folder / shard) if (folder / shard).is_file() else f"{shard} is missing"
            if problem:
                return problem
        return None
    if (folder / WEIGHTS_NAME).is_file():
        return f"its weights are a pickle ({WEIGHTS_NAME}); hf_mtl loads safetensors only"
    return f"{SAFE_WEIGHTS_NAME} is missing"


def checkpoint_problem(
    folder: str | os.PathLike, require_weights: bool = True, require_optimizer: bool = True
) -> str | None:
    """Why ``folder`` is not a complete Trainer checkpoint, or ``None`` when resuming from it can work.

    A checkpoint is complete when its commit record ``trainer_state.json`` (written last) is valid JSON whose
    ``global_step`` matches the folder name, its weights are safetensors whose header covers the whole file (a
    ``pytorch_model.bin`` pickle is refused), and ``optimizer.pt``/``scheduler.pt`` exist.

    Args:
        folder: a ``checkpoint-N`` folder.
        require_weights: check the weights (off for DeepSpeed/FSDP checkpoints, which store them their own way).
        require_optimizer: check the optimizer and scheduler files (off for ``save_only_model`` checkpoints).

    Example:
        ```python
        >>> checkpoint_problem("out/checkpoint-6")  # a run killed while saving step 6
        'trainer_state.json is missing (the save did not finish)'
        ```
    """
    folder = Path(folder)
    if not folder.is_dir():
        return "it is not a folder"
    state_file = folder / TRAINER_STATE_NAME
    if not state_file.is_file():
        return f"{TRAINER_STATE_NAME} is missing (the save did not finish)"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"{TRAINER_STATE_NAME} is not valid JSON ({error}; the save did not finish)"
    step = state.get("global_step") if isinstance(state, dict) else None
    if not isinstance(step, int):
        return f"{TRAINER_STATE_NAME} has no integer `global_step`"
    named = _CHECKPOINT_NAME.match(folder.name)
    if named and int(named.group(1)) != step:
        return f"{TRAINER_STATE_NAME} records step {step}, not {named.group(1)}"
    if require_weights:
        problem = _weights_problem(folder)
        if problem:
            return problem
    if require_optimizer:
        for name in (OPTIMIZER_NAME, SCHEDULER_NAME):
            if not (folder / name).is_file():
                return f"{name} is missing"
    return None


def last_complete_checkpoint(
    output_dir: str | os.PathLike, require_weights: bool = True, require_optimizer: bool = True
) -> str | None:
    """The newest ``checkpoint-N`` folder of ``output_dir`` that :func:`checkpoint_problem` finds complete.

    Newer, incomplete checkpoints (a run killed while saving) are skipped with a warning that says why. Returns
    ``None`` when there is no complete checkpoint.

    Example:
        ```python
        >>> last_complete_checkpoint("out")  # checkpoint-6 was half-written when the run was killed
        'out/checkpoint-4'
        ```
    """
    for path in reversed(checkpoint_folders(output_dir)):
        problem = checkpoint_problem(path, require_weights, require_optimizer)
        if problem is None:
            return str(path)
        logger.warning("Skipping incomplete checkpoint %s: %s.", path, problem)
    return None


def resolve_resume(
    resume_from_checkpoint: str | os.PathLike | bool | None,
    output_dir: str | os.PathLike,
    require_weights: bool = True,
    require_optimizer: bool = True,
) -> str | None:
    """The complete checkpoint folder ``Trainer.train(resume_from_checkpoint=...)`` should resume from.

    ``True`` means the newest complete checkpoint of ``output_dir``; ``False``/``None`` no resume; a path must be a
    complete checkpoint.

    Raises:
        HfMtlError: no complete checkpoint for ``True``, or an incomplete one named (the message says what is
            missing).
    """
    if resume_from_checkpoint is True:
        found = last_complete_checkpoint(output_dir, require_weights, require_optimizer)
        if found is None:
            raise HfMtlError(
                f"resume_from_checkpoint=True, but {output_dir} holds no complete checkpoint-N folder; "
                "start without resume_from_checkpoint, or point it at a checkpoint folder."
            )
        return found
    if resume_from_checkpoint is False or resume_from_checkpoint is None:
        return None
    problem = checkpoint_problem(resume_from_checkpoint, require_weights, require_optimizer)
    if problem:
        raise HfMtlError(f"Cannot resume from {resume_from_checkpoint}: {problem}.")
    return str(resume_from_checkpoint)


def invalidate_checkpoint(folder: str | os.PathLike) -> None:
    """Remove the commit record (``trainer_state.json``) of a checkpoint folder that is about to be written again.

    A folder from an earlier run that reached the same step would otherwise look complete while its weights are
    being overwritten; a kill in the middle would leave new weights beside an old state.
    """
    state_file = Path(folder) / TRAINER_STATE_NAME
    if state_file.exists():
        state_file.unlink()


def write_examples_seen(folder: str | os.PathLike, counts: dict[str, int]) -> None:
    """Save the per-task training example counts in ``folder/examples_seen.json``."""
    (Path(folder) / EXAMPLES_SEEN_FILE).write_text(json.dumps(counts, sort_keys=True) + "\n")


def read_examples_seen(folder: str | os.PathLike) -> dict[str, int]:
    """The per-task example counts saved in a checkpoint; ``{}`` (with a warning) when it has none."""
    counts_file = Path(folder) / EXAMPLES_SEEN_FILE
    if not counts_file.is_file():
        logger.warning("%s has no %s: examples_seen counts from 0.", folder, EXAMPLES_SEEN_FILE)
        return {}
    return {str(k): int(v) for k, v in json.loads(counts_file.read_text()).items()}
