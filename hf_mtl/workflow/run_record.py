"""The record a training run leaves in its checkpoints, so that ``--resume`` can tell a recipe that changed.

:func:`run_record` describes a run from its prepared tasks and training arguments: per task its type, labels and a
fingerprint of each data source (a file's content hash and size; a Hub dataset's name, configuration and split),
the seeds, and the task-sampling settings. ``hf_mtl.training.checkpoints.RunRecordCallback`` saves it with every
checkpoint, and :func:`check_resume` compares it with the checkpoint a run resumes from: the task names and types,
seeds and sampling before any data is read (:func:`early_run_record`), the labels and data once they are.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import Any

from ..data import TaskData
from ..data.sources import DataSource
from ..data.tasks import TaskSpec
from ..training.checkpoints import resume_problem
from .run_folders import OutputError

logger = logging.getLogger("hf_mtl")

__all__ = ["SAMPLING_FIELDS", "check_resume", "data_fingerprint", "early_run_record", "run_record"]

# The training arguments that decide which task each step draws (with the seeds).
SAMPLING_FIELDS = ("sampling", "sampling_temperature", "anneal_start", "anneal_end", "steps_per_task")
# The task settings that decide which examples a split holds.
SELECTION_FIELDS = ("max_train_examples", "max_eval_examples", "validation_fraction", "split_seed")


def _file_digest(path: Path) -> dict[str, Any]:
    if path.is_dir():  # a `disk` dataset folder: its files' names and sizes
        files = sorted(p for p in path.rglob("*") if p.is_file())
        listing = "\n".join(f"{p.relative_to(path)}\t{p.stat().st_size}" for p in files)
        return {"folder": str(path.resolve()), "files": hashlib.sha256(listing.encode()).hexdigest()}
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def data_fingerprint(source: DataSource | None) -> dict[str, Any] | None:
    """What identifies a data source's examples: a file's size and content hash (not its path, so a moved data
    folder still resumes), a Hub dataset's name, configuration and split, plus the ``rows`` selection."""
    if source is None:
        return None
    if not isinstance(source, DataSource):
        return {"source": str(source)}
    settings = {f.name: getattr(source, f.name) for f in dataclasses.fields(source) if f.name not in ("dataset", "path")}
    if source.in_memory:
        return {**settings, "dataset": "given in Python (not fingerprinted)"}
    if source.path:
        path = Path(source.path).expanduser()
        try:
            settings["file"] = _file_digest(path)
        except OSError as error:
            settings["file"] = f"unreadable ({error.strerror or error})"
    return settings


def run_record(prepared: dict[str, TaskData], args: Any) -> dict[str, Any]:
    """The run record of a training run over ``prepared`` tasks with training arguments ``args`` (JSON-safe).

    Example:
        ```python
        >>> record = run_record(prepared, trainer.args)
        >>> sorted(record)
        ['sampling', 'seed', 'tasks']
        ```
    """
    tasks = {}
    for name, data in prepared.items():
        spec = data.spec
        sources = {split: data_fingerprint(getattr(spec, split)) for split in ("train", "validation", "test")}
        sources["selection"] = {key: getattr(spec, key, None) for key in SELECTION_FIELDS}
        tasks[name] = {"type": spec.type, "labels": list(data.labels), "data": sources}
    return {
        "tasks": tasks,
        "seed": {"seed": args.seed, "data_seed": getattr(args, "data_seed", None)},
        "sampling": {key: getattr(args, key, None) for key in SAMPLING_FIELDS},
    }


def early_run_record(specs: list[TaskSpec], args: Any) -> dict[str, Any]:
    """The part of the run record known before any data is read: task names and types, seeds, sampling."""
    full = run_record({}, args)
    return {**full, "tasks": {spec.name: {"type": spec.type} for spec in specs}}


def check_resume(checkpoint: str, record: dict[str, Any], allow_changes: bool = False, early: bool = False) -> None:
    """Refuse to resume from ``checkpoint`` when the run's record differs from the one it saved.

    Args:
        early: the check made before the data is read (:func:`early_run_record`): it only refuses; the warnings
            (an old checkpoint, changes allowed) come from the full check.

    Raises:
        OutputError: the tasks, labels, data, seed or sampling settings changed (named), unless ``allow_changes``
            (then a warning names them).
    """
    if early and allow_changes:
        return
    problem = resume_problem(checkpoint, record, warn=not early)
    if problem is None:
        return
    if allow_changes:
        logger.warning("--allow-changes: resuming from %s although %s.", checkpoint, problem)
        return
    raise OutputError(
        f"--resume: {checkpoint} was written by a different run ({problem}); resuming would not continue it. Restore "
        "the recipe and data, start a new run (another output_dir, or --overwrite), or pass --allow-changes to "
        "resume anyway."
    )
