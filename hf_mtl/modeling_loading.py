"""Loading a multi-task model exactly: which weights a LoRA adapter save holds, how its adapters are put back,
and what in transformers' loading report means the weights are not the model's.

Part of the *modeling core* (imports only torch, transformers and peft when adapters are loaded), copied next to
the weights with ``modeling_multitask.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

__all__ = ["LORA_BASE_ENCODER_KEY", "HoldLoadReport", "inject_lora", "is_adapter_weight", "loading_problem"]

# `config.lora` (set by hf_mtl.lora) holds the peft.LoraConfig fields plus the encoder the adapters were trained on.
LORA_BASE_ENCODER_KEY = "base_encoder"
_ENCODER_PREFIX = "encoder."


def is_adapter_weight(name: str) -> bool:
    """Weights an adapter-only save keeps: the LoRA matrices and every head (not the frozen base encoder)."""
    return not name.startswith(_ENCODER_PREFIX) or ".lora_" in name


def inject_lora(model: nn.Module, settings: dict[str, Any]) -> None:
    """Add LoRA adapters as ``settings`` (a saved ``config.lora``) describe them to ``model``; heads stay trainable."""
    # peft is imported only for a config that carries LoRA adapters (hf_mtl's lora extra); plain models need torch
    # and transformers alone.
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as error:
        raise ImportError(
            "This model keeps LoRA adapters separate from its encoder (config.lora); loading it needs peft "
            "(pip install peft), or load a merged copy (hf_mtl.lora.merge_lora / hf-mtl export)."
        ) from error
    fields = {k: v for k, v in settings.items() if k not in (LORA_BASE_ENCODER_KEY, "peft_type", "peft_version")}
    inject_adapter_in_model(LoraConfig(**fields), model)
    model.heads.requires_grad_(True)


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
