"""A full disk never costs a trained model: free space is checked before training, and the final save is verified
before it replaces anything.

- :func:`check_disk_space`: the output folder's file system must hold the final model plus one checkpoint (the
  weights, and the optimizer state unless ``save_only_model``); otherwise a one-line :class:`OutputError` names the
  folder, the space needed and the space free, before training. ``HF_MTL_SKIP_DISK_CHECK=1`` skips it (for file
  systems that report their free space wrongly, or users who will free space during the run).
- :func:`save_final_model`: the trained model is saved into a staging folder inside the output folder, its weights
  are checked (the safetensors header covers the whole file), and only then are the files moved into place. When
  the save fails (``ENOSPC``, a quota), the staging folder is removed, the complete checkpoints are kept, and the
  error says where the weights are: the last complete checkpoint, or a rescue copy in the temporary folder when the
  run saved no checkpoint.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..training.checkpoints import checkpoint_requirements, last_complete_checkpoint, weights_problem
from .run_folders import OutputError, is_main_process

__all__ = ["SKIP_DISK_CHECK", "STAGING_FOLDER", "check_disk_space", "needed_disk_space", "save_final_model"]

SKIP_DISK_CHECK = "HF_MTL_SKIP_DISK_CHECK"
STAGING_FOLDER = ".hf-mtl-final-save"
_MARGIN = 1.05  # tokenizer files, the model card, trainer_state.json, rounding of file system blocks
_OVERHEAD = 4 << 20


def _size(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def _saves_checkpoints(args: Any) -> bool:
    strategy = getattr(args, "save_strategy", "no")
    return str(getattr(strategy, "value", strategy)) != "no"


def needed_disk_space(model: Any, args: Any) -> tuple[int, str]:
    """The bytes a run needs free in its output folder, and what they are for (for the message).

    The final model's weights (parameters x bytes per parameter), plus, when the run saves checkpoints, one
    checkpoint: the weights again and, unless ``save_only_model``, the optimizer state (two fp32 values per
    trainable parameter for Adam-style optimizers).
    """
    seen, weights = set(), 0
    for tensor in model.state_dict().values():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        weights += tensor.numel() * tensor.element_size()
    parts, needed = [f"the model {_size(weights)}"], weights
    if _saves_checkpoints(args):
        checkpoint = weights
        if not getattr(args, "save_only_model", False):
            checkpoint += 2 * 4 * sum(p.numel() for p in model.parameters() if p.requires_grad)
        parts.append(f"a checkpoint {_size(checkpoint)}")
        needed += checkpoint
    return int(needed * _MARGIN) + _OVERHEAD, " + ".join(parts)


def check_disk_space(model: Any, args: Any, folder: str | os.PathLike | None = None) -> None:
    """Refuse to train when the output folder's file system cannot hold the final model and a checkpoint.

    Raises:
        OutputError: not enough free space (the message names the folder, the space needed and free, and
            ``HF_MTL_SKIP_DISK_CHECK=1``).

    Example:
        >>> check_disk_space(model, trainer.args)  # before trainer.train()
    """
    if os.environ.get(SKIP_DISK_CHECK, "").lower() not in ("", "0", "false", "no"):
        return
    target = Path(folder if folder is not None else args.output_dir)
    existing = target
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return  # a file system that does not say: nothing to check against
    needed, parts = needed_disk_space(model, args)
    if free < needed:
        raise OutputError(
            f"output_dir {target}: training needs about {_size(needed)} of disk space ({parts}), but only "
            f"{_size(free)} are free there; free some space or choose another output_dir (set "
            f"{SKIP_DISK_CHECK}=1 to skip this check)."
        )


def _move_into_place(staging: Path, folder: Path) -> None:
    for path in sorted(staging.iterdir()):
        target = folder / path.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(path, target)
    staging.rmdir()


def _rescue(trainer: Any) -> str | None:
    """Save the weights into a fresh temporary folder (another file system, usually); its path, or None."""
    try:
        rescue = tempfile.mkdtemp(prefix="hf-mtl-rescued-model-")
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(rescue)
        if weights_problem(Path(rescue)) is None:
            return rescue
    except OSError:
        pass
    return None


def save_final_model(trainer: Any, output_dir: str | os.PathLike) -> None:
    """``trainer.save_model(output_dir)``, so that a failed save (a full disk) loses nothing.

    The model is saved into ``output_dir/.hf-mtl-final-save``, its weights are verified, then each file replaces its
    namesake in ``output_dir``. The checkpoints are left alone.

    Raises:
        OutputError: the save failed; the message says where the trained weights are (the last complete
            checkpoint, or a rescue copy) and how to resume.
    """
    folder = Path(output_dir)
    staging = folder / STAGING_FOLDER
    main = is_main_process()
    if main:
        shutil.rmtree(staging, ignore_errors=True)
    try:
        trainer.save_model(str(staging))
        if main:
            problem = weights_problem(staging)
            if problem:
                raise OSError(f"the saved weights do not read back: {problem}")
            _move_into_place(staging, folder)
    except OSError as error:
        if not main:
            raise
        shutil.rmtree(staging, ignore_errors=True)
        reason = error.strerror or str(error)
        checkpoint = last_complete_checkpoint(folder, **checkpoint_requirements(trainer.args))
        if checkpoint:
            where = (f"the trained weights of the last complete checkpoint are kept in {checkpoint}; free some space, "
                     "then run the same command with --resume to save the model")
        else:
            rescue = _rescue(trainer)
            where = (f"the trained weights were saved to {rescue} instead" if rescue else
                     "the run saved no checkpoint and no rescue copy could be written: the trained weights are lost")
        raise OutputError(f"The final save into {folder} failed ({reason}); {where}.") from None
