"""Loading a multi-task model exactly: what in transformers' loading report means the weights are not the model's.

Part of the *modeling core* (imports only torch and transformers), copied next to
the weights with ``modeling_multitask.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

__all__ = ["HoldLoadReport", "loading_problem"]


class HoldLoadReport(logging.Filter):
    """A logging filter that keeps transformers' loading report back (to re-emit it only when loading succeeds)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if "LOAD REPORT" in str(record.msg):
            self.records.append(record)
            return False
        return True


def loading_problem(model: nn.Module, info: dict[str, Any]) -> str | None:
    """What of ``model``'s ``from_pretrained``'s loading report means the weights are not the model's (None: all match).

    Missing weights (a head named in config.json without weights, an encoder saved elsewhere), unexpected
    encoder weights and shape mismatches (a label count that differs) are problems; weights of heads this
    version does not build (tasks of a newer hf_mtl, skipped with a warning) are not.
    """
    persistent = set(model.state_dict())
    missing = sorted(key for key in info.get("missing_keys") or () if key in persistent)
    unexpected = sorted(
        key for key in info.get("unexpected_keys") or ()
        if not (key.startswith("heads.") and key.split(".")[1] not in model.config.tasks)
    )
    mismatched = list(info.get("mismatched_keys") or ())
    problems = []
    head_tasks = sorted({key.split(".")[1] for key in missing if key.startswith("heads.")})
    if head_tasks:
        problems.append(f"config.json names task(s) {head_tasks} but the weights have no head for them")
    encoder_missing = [key for key in missing if not key.startswith("heads.")]
    if encoder_missing:
        problems.append(f"{len(encoder_missing)} encoder weight(s) are missing (e.g. {encoder_missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} weight(s) are not part of this model (e.g. {unexpected[0]})")
    if mismatched:
        key, *shapes = mismatched[0] if isinstance(mismatched[0], (list, tuple)) else (mismatched[0],)
        shown = f": {tuple(shapes[0])} in the file, {tuple(shapes[1])} from config.json" if len(shapes) == 2 else ""
        problems.append(
            f"{len(mismatched)} weight(s) do not have the shape config.json gives them (a label count or size "
            f"differs), e.g. {key}{shown}"
        )
    return "; ".join(problems) or None
