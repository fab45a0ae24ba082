"""Where runs write: output locations checked before any data is read, one run per folder, nothing overwritten or
deleted unless asked, and Ctrl-C that stops at a step boundary with a complete checkpoint.

Every command that writes (`hf-mtl train`, `predict --output`, `export`, `compare`, `refine`) goes through:

- :func:`check_writable_folder` / :func:`check_writable_file`: the location can be written (an existing read-only
  folder, a path under a file, a file where a folder is needed are errors now, not after the training);
- :func:`refuse_same_folder`: a command never writes into the folder it reads its model from;
- :class:`OutputLock`: a lock file (``.hf-mtl.lock``: pid, host, start time, command) keeps a second run out of a
  folder that a run is writing; a lock left by a killed run (its process is gone) is detected, explained and taken
  over;
- :func:`plan_training_output`: a folder that holds a run's checkpoints, a trained model or the user's own
  ``README.md``/``config.json`` is not trained into again unless ``--resume`` (continue the run) or
  ``--overwrite`` (start over) says what to do;
- :class:`GracefulInterrupt`: the first Ctrl-C (SIGINT) asks the Trainer to stop after the current optimizer step
  and save a checkpoint; a second one aborts at once.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from ..modeling import REMOTE_CODE_FILES
from ..modeling.errors import HfMtlError
from ..training.checkpoints import (
    checkpoint_folders,
    checkpoint_problem,
    checkpoint_requirements,
    last_complete_checkpoint,
)

logger = logging.getLogger("hf_mtl")
__all__ = ["GracefulInterrupt", "OutputError", "OutputLock", "TrainingInterrupted", "TrainingOutput", "check_writable_file",
           "check_writable_folder", "output_lock", "plan_training_output", "refuse_existing_model", "refuse_same_folder"]

LOCK_FILE = ".hf-mtl.lock"
# Files `hf-mtl train` writes at the top of its output_dir: one that is already there would be replaced.
TRAIN_WRITES = (
    "README.md", "config.json", "model.safetensors", "model.safetensors.index.json", "generation_config.json",
    "eval_results.json", "train_summary.json", "trainer_state.json", "training_curves.png", "training_args.bin",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", *REMOTE_CODE_FILES,
)
# The files that mark a trained model (what `save_pretrained` writes), as opposed to the user's own notes.
MODEL_MARKERS = ("model.safetensors", "model.safetensors.index.json", "train_summary.json", "pytorch_model.bin")


class TrainingInterrupted(Exception):  # noqa: N818 (an interruption the user asked for, not an error)
    """Training stopped at a step boundary after Ctrl-C; ``checkpoint`` holds everything needed to resume.

    Raised by `hf_mtl.workflow.train.train_recipe` (`hf-mtl train` exits with status 130 and prints how to resume).

    Attributes:
        checkpoint: the complete checkpoint written at the stop (None if it could not be completed).
        step: the optimizer step training stopped after.
        max_steps: the steps the run was to train.
    """

    def __init__(self, checkpoint: str | None, step: int, max_steps: int) -> None:
        self.checkpoint, self.step, self.max_steps = checkpoint, step, max_steps
        super().__init__(f"training interrupted after step {step} of {max_steps}; checkpoint: {checkpoint}")


class OutputError(HfMtlError):
    """An output location cannot be written, is locked by another run, or holds something that would be lost."""


# ----------------------------------------------------------------------------------------------- writability
def _nearest_existing(path: Path) -> Path:
    current = path
    while not current.exists() and not current.is_symlink():
        if current.parent == current:
            break
        current = current.parent
    return current


def _probe_folder(folder: Path, what: str, target: Path) -> None:
    """Create and remove a file in ``folder``: the only test that also holds for root and read-only mounts."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".hf-mtl-write-test-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        inside = "" if folder == target else f" ({folder} is where it would be created)"
        raise OutputError(f"{what} {target} cannot be written: {reason}{inside}; choose another location.") from None


def _refuse_link_loop(path: Path, what: str) -> None:
    """A symbolic link that loops cannot be written through (``open`` fails with ELOOP after all the work)."""
    for candidate in (path, *path.parents):
        if candidate.is_symlink():
            try:
                candidate.resolve(strict=True)
            except RuntimeError:  # Python 3.11-3.12 report a loop so
                pass
            except OSError as error:
                if error.errno != errno.ELOOP:
                    continue
            else:
                continue
            raise OutputError(f"{what} {path}: {candidate} is a symbolic link that loops (it points, in the end, to "
                              "itself); remove it or choose another location.")


def check_writable_folder(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Check that ``folder`` is, or can be created as, a folder this process can write; nothing is created.

    Raises:
        OutputError: a file is in the way (``folder`` itself, or one of its parents), or the folder (or the
            nearest existing parent it would be created in) is not writable.

    Example:
        >>> check_writable_folder("outputs/run-1", what="output_dir")  # before any data is read
    """
    target = Path(folder)
    _refuse_link_loop(target, what)
    existing = _nearest_existing(target)
    if not existing.is_dir():
        where = "is a file" if existing == target else f"is under {existing}, which is a file"
        raise OutputError(f"{what} {target} {where}; a folder is needed there.")
    _probe_folder(existing, what, target)
    return target


def check_writable_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Check that the file ``path`` can be written (its folder may be created); nothing is created."""
    target = Path(path)
    _refuse_link_loop(target, what)
    if target.is_dir():
        raise OutputError(f"{what} {target} is a folder; give a file name.")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"{what} {target} exists and is read-only; choose another file.")
    existing = _nearest_existing(target.parent)
    if not existing.is_dir():
        raise OutputError(f"{what} {target} is under {existing}, which is a file; a folder is needed there.")
    _probe_folder(existing, what, target)
    return target


def _same_location(first: Path, second: Path) -> bool:
    try:
        if first.exists() and second.exists():
            return first.samefile(second)
    except OSError:
        pass
    try:
        return first.resolve() == second.resolve()
    except (OSError, RuntimeError):  # a symbolic-link loop: it cannot be the other one
        return False


def _inside(target: Path, folder: Path) -> bool:
    """Whether ``target`` (which may not exist yet) is somewhere under the existing folder ``folder``."""
    if not folder.is_dir():
        return False
    try:
        resolved, base = target.resolve(), folder.resolve()
    except (OSError, RuntimeError):
        return False
    return base in resolved.parents or any(_same_location(parent, folder) for parent in target.parents
                                           if parent.exists())


def refuse_same_folder(source: str | os.PathLike, target: str | os.PathLike, what: str = "the output") -> None:
    """Refuse to write ``target`` when it is ``source`` itself or inside it: no command writes into a model it reads.

    Raises:
        OutputError: ``target`` and ``source`` are the same folder or file, or ``target`` is inside the folder
            ``source`` (symlinks and ``..`` resolved).

    Example:
        >>> refuse_same_folder("outputs/model", "outputs/model", what="hf-mtl export's OUT")
        Traceback (most recent call last):
        ...
        hf_mtl.workflow.run_folders.OutputError: hf-mtl export's OUT outputs/model is the model folder it reads ...
    """
    source, target = Path(source), Path(target)
    if _same_location(source, target):
        raise OutputError(
            f"{what} {target} is the model folder it reads ({source}): writing there would overwrite it; "
            "choose another folder."
        )
    if _inside(target, source):
        raise OutputError(
            f"{what} {target} is inside the model folder it reads ({source}): a command never writes into a model "
            "it reads; choose a location outside it."
        )


def refuse_existing_model(folder: str | os.PathLike, overwrite: bool, what: str = "output folder") -> None:
    """Refuse to write a model into ``folder`` when it already holds one (or a config.json), unless ``overwrite``."""
    folder = Path(folder)
    if overwrite or not folder.is_dir():
        return
    found = [name for name in ("config.json", *MODEL_MARKERS) if (folder / name).exists()]
    if found:
        raise OutputError(
            f"{what} {folder} already holds a model ({', '.join(found)}); choose another folder, or pass --overwrite "
            "to replace it."
        )


# ----------------------------------------------------------------------------------------------- lock
def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux ``/proc``), to tell a recycled pid from the locking process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError, ValueError):
        return False
    current = _process_start(pid)
    return started is None or current is None or current == started


@dataclass
class OutputLock:
    """A lock file in ``folder`` that keeps a second hf-mtl run out while this one writes there.

    Use it as a context manager. The folder (and missing parents) is created; on exit the lock file is removed, and
    so are the folders it created when they are still empty. A lock whose process is gone (a run killed with
    SIGKILL, a machine that rebooted) is stale: it is taken over with a warning that says whose it was. A lock from
    another host cannot be checked and is refused, naming the file to delete.

    Example:
        >>> with OutputLock("outputs/run-1", command="hf-mtl train recipe.yaml"):
        ...     ...  # write into outputs/run-1
    """

    folder: Path
    command: str = ""
    created: list[Path] = field(default_factory=list)
    held: bool = False

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.command = self.command or " ".join(Path(sys.argv[0]).name if i == 0 else a for i, a in enumerate(sys.argv))

    @property
    def path(self) -> Path:
        return self.folder / LOCK_FILE

    def _describe(self, holder: dict[str, Any]) -> str:
        command = f", `{holder['command']}`" if holder.get("command") else ""
        return f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}{command}"

    def _create_folders(self) -> None:
        missing = []
        current = self.folder
        while not current.exists():
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"Cannot create {self.folder}: {error.strerror or error}.") from None
        self.created = missing  # innermost first

    def acquire(self) -> OutputLock:
        """Take the lock (creating the folder); raises :class:`OutputError` when another run holds it."""
        self._create_folders()
        record = {"pid": os.getpid(), "host": socket.gethostname(), "process_start": _process_start(os.getpid()),
                  "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "command": self.command}
        for _ in range(2):
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_stale_lock()
                continue
            except OSError as error:
                raise OutputError(f"Cannot write the lock file {self.path}: {error.strerror or error}.") from None
            with os.fdopen(handle, "w") as lock:
                json.dump(record, lock)
            self.held = True
            return self
        raise OutputError(f"Cannot take the lock {self.path}: another run took it at the same moment.")

    def _take_over_stale_lock(self) -> None:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(holder, dict) or not isinstance(holder.get("pid"), int):
                raise ValueError
        except FileNotFoundError:
            return  # released meanwhile: try again
        except (OSError, ValueError):
            holder = None
        if holder is None:
            raise OutputError(
                f"{self.folder} has an unreadable lock file {self.path}: if no hf-mtl run is writing there, delete it."
            )
        if holder.get("host") != socket.gethostname():
            raise OutputError(
                f"{self.folder} is locked by a run on another machine ({self._describe(holder)}); if that run is over, "
                f"delete {self.path}."
            )
        if _alive(holder["pid"], holder.get("process_start")):
            raise OutputError(
                f"Another hf-mtl run is writing to {self.folder} ({self._describe(holder)}); wait for it to finish or "
                "choose another output folder."
            )
        logger.warning(
            "%s: taking over the lock of a run that no longer runs (%s; killed or crashed). Its complete checkpoints "
            "are kept.", self.folder, self._describe(holder),
        )
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def release(self) -> None:
        """Remove the lock file, and the folders the lock created if nothing else was written there."""
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.held = False
        for folder in self.created:
            try:
                folder.rmdir()
            except OSError:
                break

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def is_main_process() -> bool:
    """True except in the non-zero ranks of a distributed launch (only rank 0 locks and cleans output folders).

    accelerate's process state decides (the one the Trainer's ``args.process_index`` comes from), read when called.
    """
    from accelerate import PartialState

    return PartialState().is_main_process


def output_lock(folder: str | os.PathLike, command: str = "") -> contextlib.AbstractContextManager:
    """An :class:`OutputLock` on the main process, a no-op context on the other ranks of a distributed run."""
    return OutputLock(Path(folder), command) if is_main_process() else contextlib.nullcontext()


# ----------------------------------------------------------------------------------------------- training output
@dataclass
class TrainingOutput:
    """What :func:`plan_training_output` decided for an output_dir.

    Attributes:
        resume_from: the complete checkpoint to resume from, or None for a new run.
        stale_checkpoints: an earlier run's ``checkpoint-N`` folders that ``--overwrite`` removes before training
            (the Trainer's ``save_total_limit`` rotation would otherwise delete some and mix the rest with the new
            run's, and a later ``--resume`` could pick one of them).
    """

    resume_from: str | None = None
    stale_checkpoints: list[Path] = field(default_factory=list)

    def clear_stale_checkpoints(self) -> None:
        """Delete the earlier run's checkpoints (``--overwrite`` asked for a new run); logs what it removes."""
        if self.stale_checkpoints and is_main_process():
            logger.warning("--overwrite: removing the earlier run's %s", ", ".join(str(p) for p in self.stale_checkpoints))
            for folder in self.stale_checkpoints:
                shutil.rmtree(folder, ignore_errors=True)
        self.stale_checkpoints = []


def plan_training_output(
    output_dir: str | os.PathLike, resume: bool | str | None = None, overwrite: bool = False, args: Any = None
) -> TrainingOutput:
    """Decide how a training run may use ``output_dir``, before any data is read.

    - ``resume`` True: the newest complete ``checkpoint-N`` in it (an error if there is none); a path: that
      checkpoint, which must be complete.
    - otherwise the folder must hold no checkpoint, no trained model and none of the files training writes
      (README.md, config.json, ...), unless ``overwrite`` (then the earlier checkpoints are removed, just before
      training starts, and the other files replaced).

    Whether a checkpoint is complete is :func:`~hf_mtl.training.checkpoints.checkpoint_requirements`'s rule for the
    run's training arguments ``args``: the one ``MultiTaskTrainer.train(resume_from_checkpoint=...)`` applies.

    Raises:
        OutputError: the folder cannot be written, or holds a run or files that this run would destroy (the message
            names ``--resume`` and ``--overwrite``), or there is nothing to resume.
    """
    folder = Path(output_dir).expanduser()
    check_writable_folder(folder, what="output_dir")
    if resume and overwrite:
        raise OutputError("--resume continues the run in output_dir and --overwrite starts it over: pass only one.")
    checkpoints = checkpoint_folders(folder)
    required = checkpoint_requirements(args)
    if resume:
        if isinstance(resume, str):
            problem = checkpoint_problem(resume, **required)
            if problem:
                raise OutputError(f"Cannot resume from {resume}: {problem}.")
            return TrainingOutput(resume_from=resume)
        found = last_complete_checkpoint(folder, **required)
        if found is None:
            seen = f" ({', '.join(p.name for p in checkpoints)} incomplete)" if checkpoints else ""
            raise OutputError(
                f"--resume: {folder} holds no complete checkpoint-N folder to resume from{seen}; run without --resume "
                "to start a new run."
            )
        return TrainingOutput(resume_from=found)
    if overwrite:
        return TrainingOutput(stale_checkpoints=checkpoints)
    if checkpoints:
        complete = last_complete_checkpoint(folder, **required)
        latest = f" (newest complete: {Path(complete).name})" if complete else ""
        raise OutputError(
            f"output_dir {folder} already holds the checkpoints of a run{latest}: pass --resume to continue it, or "
            "--overwrite to start over (its checkpoints are deleted)."
        )
    present = [name for name in TRAIN_WRITES if (folder / name).exists()]
    if any(name in present for name in MODEL_MARKERS):
        raise OutputError(
            f"output_dir {folder} already holds a trained model: choose another output_dir, or pass --overwrite to "
            "replace it (--resume continues a run from its checkpoints)."
        )
    if present:
        raise OutputError(
            f"output_dir {folder} holds {', '.join(present)}, which training would overwrite: choose another "
            "output_dir, or pass --overwrite to replace them."
        )
    return TrainingOutput()


# ----------------------------------------------------------------------------------------------- Ctrl-C
class GracefulInterrupt(TrainerCallback):
    """On the first SIGINT, stop training after the current optimizer step and save a checkpoint there.

    Use it as a context manager around ``trainer.train()`` (it installs the SIGINT handler, in the main thread
    only, and restores the previous one on exit) and add it to the trainer's callbacks. A second SIGINT raises
    ``KeyboardInterrupt`` at once: the checkpoint being written may then be half-written, which resuming detects and
    skips.

    Example:
        >>> interrupt = GracefulInterrupt()
        >>> trainer.add_callback(interrupt)
        >>> with interrupt:
        ...     trainer.train()
        >>> interrupt.requested  # True when Ctrl-C stopped the run
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this step and saving a checkpoint (press Ctrl-C again to abort at once).",
              file=sys.stderr, flush=True)

    def __enter__(self) -> GracefulInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.requested:
            control.should_training_stop = True
            control.should_save = True
        return control
