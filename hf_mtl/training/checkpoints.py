"""Checkpoint integrity: which ``checkpoint-N`` folders a run can resume from, and saving them crash-safely.

transformers (5.x) writes ``checkpoint-N/`` in place, with ``trainer_state.json`` last. hf_mtl treats that file as
the checkpoint's *commit record*:

- :func:`checkpoint_problem` says why a folder is not a complete checkpoint (or ``None`` when it is);
- :func:`last_complete_checkpoint` picks the newest complete one, skipping folders a kill left half-written
  (stock ``get_last_checkpoint`` would pick those and fail);
- :func:`invalidate_checkpoint` removes a stale commit record before a checkpoint folder is written again, so a
  kill during the save never leaves a folder that looks complete;
- :func:`checkpoint_requirements` says what a run with given training arguments needs in a checkpoint (weights
  unless DeepSpeed/FSDP store them their own way, optimizer and scheduler unless ``save_only_model``): the **one
  resumability decision**, used by ``MultiTaskTrainer.train`` and by ``hf-mtl train --resume``
  (:func:`hf_mtl.workflow.run_folders.plan_training_output`) alike;
- :func:`resolve_resume` turns ``train(resume_from_checkpoint=...)`` into a complete checkpoint folder or a
  one-line error;
- the per-task example counts of a run live in the trainer state: :class:`ExamplesSeenCallback` is an
  ``ExportableState`` callback, saved in every checkpoint's ``trainer_state.json`` (``stateful_callbacks``) and
  read back by :func:`read_examples_seen` on resume (which also reads the ``examples_seen.json`` side file that
  hf_mtl <= 0.x wrote beside the weights);
- what a resume must match lives there too: :class:`RunRecordCallback` saves the run's tasks, labels, data
  fingerprints, seed and sampling settings, and :func:`resume_problem` names what a resuming run changed.

Nothing here depends on the trainer; ``MultiTaskTrainer.train`` and ``save_model`` call these functions.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer import OPTIMIZER_NAME, SCHEDULER_NAME, TRAINER_STATE_NAME
from transformers.trainer_callback import ExportableState
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_NAME

from ..modeling.errors import HfMtlError

logger = logging.getLogger("hf_mtl")

__all__ = [
    "EXAMPLES_SEEN_FILE",
    "ExamplesSeenCallback",
    "RunRecordCallback",
    "checkpoint_problem",
    "checkpoint_requirements",
    "invalidate_checkpoint",
    "is_checkpoint_folder",
    "last_complete_checkpoint",
    "read_examples_seen",
    "read_run_record",
    "resolve_resume",
    "resume_problem",
    "run_record_changes",
    "weights_problem",
]

EXAMPLES_SEEN_FILE = "examples_seen.json"
"""The side file of per-task example counts that earlier hf_mtl versions wrote in each checkpoint (still read on
resume; the counts now travel in ``trainer_state.json``, see :class:`ExamplesSeenCallback`)."""

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


def weights_problem(folder: str | os.PathLike) -> str | None:
    """Why the safetensors weights of a model or checkpoint folder cannot be read back (None: they can)."""
    return _weights_problem(Path(folder))


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


def checkpoint_requirements(args: Any = None, custom_layout: bool | None = None) -> dict[str, bool]:
    """What a run with training arguments ``args`` needs in a checkpoint to resume from it: the one rule that
    ``MultiTaskTrainer.train(resume_from_checkpoint=...)`` and ``hf-mtl train --resume`` both apply.

    Args:
        args: the run's ``TrainingArguments`` (``None``: the defaults, every file required).
        custom_layout: DeepSpeed or FSDP stores the weights its own way (default: read from ``args.deepspeed`` /
            ``args.fsdp`` and accelerate's ``ACCELERATE_USE_DEEPSPEED`` / ``ACCELERATE_USE_FSDP``).

    Returns:
        The ``require_weights`` / ``require_optimizer`` keywords of :func:`checkpoint_problem`.

    Example:
        ```python
        >>> checkpoint_requirements(TrainingArguments("out", save_only_model=True))
        {'require_weights': True, 'require_optimizer': False}
        ```
    """
    if custom_layout is None:
        flags = ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP")
        custom_layout = bool(getattr(args, "deepspeed", None) or getattr(args, "fsdp", None)) or any(
            os.environ.get(flag, "false").lower() in ("1", "true") for flag in flags
        )
    save_only_model = bool(getattr(args, "save_only_model", False))
    return {"require_weights": not custom_layout, "require_optimizer": not (custom_layout or save_only_model)}


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
    args: Any = None,
) -> str | None:
    """The complete checkpoint folder ``Trainer.train(resume_from_checkpoint=...)`` should resume from.

    ``True`` means the newest complete checkpoint of ``output_dir``; ``False``/``None`` no resume; a path must be a
    complete checkpoint. Complete means :func:`checkpoint_problem` finds nothing missing that a run with training
    arguments ``args`` needs (:func:`checkpoint_requirements`).

    Raises:
        HfMtlError: no complete checkpoint for ``True``, or an incomplete one named (the message says what is
            missing).
    """
    required = checkpoint_requirements(args)
    if resume_from_checkpoint is True:
        found = last_complete_checkpoint(output_dir, **required)
        if found is None:
            raise HfMtlError(
                f"resume_from_checkpoint=True, but {output_dir} holds no complete checkpoint-N folder; "
                "start without resume_from_checkpoint, or point it at a checkpoint folder."
            )
        return found
    if resume_from_checkpoint is False or resume_from_checkpoint is None:
        return None
    problem = checkpoint_problem(resume_from_checkpoint, **required)
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


class ExamplesSeenCallback(TrainerCallback, ExportableState):
    """The per-task training example counts of a run (all processes), kept in the trainer state.

    As an ``ExportableState`` callback its counts are written into each checkpoint's ``trainer_state.json``
    (``stateful_callbacks["ExamplesSeenCallback"]``); :func:`read_examples_seen` reads them back on resume.

    Example:
        ```python
        >>> counter = ExamplesSeenCallback()
        >>> counter.add(["ner"], 16)
        >>> counter.state()["attributes"]["counts"]
        {'ner': 16}
        ```
    """

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        self.counts: dict[str, int] = dict(counts or {})

    def add(self, tasks: Iterable[str], examples: int) -> None:
        """Count ``examples`` more training examples for each of ``tasks`` (the tasks of one batch)."""
        for task in tasks:
            self.counts[task] = self.counts.get(task, 0) + examples

    def state(self) -> dict[str, Any]:
        return {"args": {}, "attributes": {"counts": dict(sorted(self.counts.items()))}}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # A trainer state loaded from a checkpoint of an earlier version has no entry for this callback, and
        # Trainer._save_checkpoint updates only the entries it finds (a KeyError otherwise).
        state.stateful_callbacks.setdefault(type(self).__name__, self.state())


def read_examples_seen(folder: str | os.PathLike) -> dict[str, int]:
    """The per-task example counts saved in a checkpoint: from its ``trainer_state.json``, else from the
    ``examples_seen.json`` of an earlier hf_mtl version; ``{}`` (with a warning) when it has neither."""
    folder = Path(folder)
    try:
        state = json.loads((folder / TRAINER_STATE_NAME).read_text(encoding="utf-8"))
        saved = state["stateful_callbacks"][ExamplesSeenCallback.__name__]
        saved = saved[-1] if isinstance(saved, list) else saved
        return {str(k): int(v) for k, v in saved["attributes"]["counts"].items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError):
        pass
    counts_file = folder / EXAMPLES_SEEN_FILE
    if not counts_file.is_file():
        logger.warning("%s records no examples_seen: the counts start from 0.", folder)
        return {}
    return {str(k): int(v) for k, v in json.loads(counts_file.read_text()).items()}


# ----------------------------------------------------------------------------------------------- what resume must match
RUN_RECORD_FIELDS = ("tasks", "seed", "sampling")
"""What a checkpoint records of its run so that a resume can tell a changed recipe: each task's type, labels and
a fingerprint of its data sources, the seeds, and the task-sampling settings."""


class RunRecordCallback(TrainerCallback, ExportableState):
    """The run's record (see :data:`RUN_RECORD_FIELDS`), kept in every checkpoint's ``trainer_state.json``.

    It is saved with the commit record itself (``stateful_callbacks["RunRecordCallback"]``), so a complete checkpoint
    always carries it; :func:`resume_problem` compares it with the run that wants to resume.

    Example:
        ```python
        >>> RunRecordCallback({"seed": 0}).state()["attributes"]["record"]
        {'seed': 0}
        ```
    """

    def __init__(self, record: dict[str, Any] | None = None) -> None:
        self.record: dict[str, Any] = dict(record or {})

    def state(self) -> dict[str, Any]:
        return {"args": {}, "attributes": {"record": self.record}}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        state.stateful_callbacks[type(self).__name__] = self.state()  # this run's, also over a resumed state


def read_run_record(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The run record a checkpoint holds (None: a checkpoint of an earlier hf_mtl version, or a plain Trainer's)."""
    try:
        state = json.loads((Path(folder) / TRAINER_STATE_NAME).read_text(encoding="utf-8"))
        saved = state["stateful_callbacks"][RunRecordCallback.__name__]
        saved = saved[-1] if isinstance(saved, list) else saved
        record = saved["attributes"]["record"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError):
        return None
    return record if isinstance(record, dict) and record else None


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_record_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between a checkpoint's run record and the run's (``[]``: nothing), one short phrase each.

    Only the task settings that ``current`` gives are compared (a record made before the data is read has the
    task types only)."""
    changes = []
    old_tasks, new_tasks = saved.get("tasks") or {}, current.get("tasks") or {}
    if list(old_tasks) != list(new_tasks):
        changes.append(f"the tasks were {list(old_tasks)}, now {list(new_tasks)}")
    for name in [task for task in new_tasks if task in old_tasks]:
        for key, what in (("type", "type"), ("labels", "labels"), ("data", "data")):
            if key not in new_tasks[name]:
                continue
            old, new = old_tasks[name].get(key), new_tasks[name].get(key)
            if old != new:
                if key == "data":
                    splits = sorted({*(old or {}), *(new or {})})
                    differ = [s for s in splits if (old or {}).get(s) != (new or {}).get(s)]
                    changes.append(f"task '{name}': its {', '.join(differ)} data changed")
                else:
                    changes.append(f"task '{name}': its {what} were {_short(old)}, now {_short(new)}")
    for key in ("seed", "sampling"):
        if saved.get(key) != current.get(key):
            changes.append(f"{key} was {_short(saved.get(key))}, now {_short(current.get(key))}")
    return changes


def resume_problem(folder: str | os.PathLike, record: dict[str, Any], warn: bool = True) -> str | None:
    """Why resuming from the checkpoint ``folder`` with the run ``record`` would not continue the same run (None: it
    would). A checkpoint without a record (an earlier hf_mtl version) resumes, with a warning (unless not ``warn``)."""
    saved = read_run_record(folder)
    if saved is None:
        if not warn:
            return None
        logger.warning("%s records no run settings (an earlier hf_mtl version): resuming without checking that the "
                       "tasks, data and seed are the same.", folder)
        return None
    changes = run_record_changes(saved, record)
    return "; ".join(changes) or None
