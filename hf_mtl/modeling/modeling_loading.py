"""Loading a multi-task model exactly: what in transformers' loading report means the weights are not the model's.

Part of the *modeling core* (imports only torch, transformers and the family table), copied next to
the weights with ``modeling_multitask.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from .encoder_families import check_backbone, encoder_family
from .lora import TASK_ADAPTER_MARKER

__all__ = ["HoldLoadReport", "check_is_encoder", "encoder_loading_problem", "loading_problem", "read_encoder_config",
           "remote_code_refusal", "warn_if_padding_dependent"]

logger = logging.getLogger(__name__)


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
    encoder weights, weights of a head config.json does not name, and shape mismatches (a label count that differs)
    are problems; weights of heads this version does not build (tasks of a newer hf_mtl, skipped with a warning and
    recorded in ``config.skipped_tasks``) are not.
    """
    persistent = set(model.state_dict())
    missing = sorted(key for key in info.get("missing_keys") or () if key in persistent)
    skipped = set(getattr(model.config, "skipped_tasks", None) or ())
    unexpected = sorted(
        key for key in info.get("unexpected_keys") or ()
        if not (key.startswith("heads.") and key.split(".")[1] in skipped)
    )
    extra_heads = sorted({key.split(".")[1] for key in unexpected
                          if key.startswith("heads.") and key.split(".")[1] not in model.config.tasks})
    unexpected = [key for key in unexpected if not (key.startswith("heads.") and key.split(".")[1] in extra_heads)]
    mismatched = list(info.get("mismatched_keys") or ())
    problems = []
    head_tasks = sorted({key.split(".")[1] for key in missing if key.startswith("heads.")})
    if head_tasks:
        problems.append(f"config.json names task(s) {head_tasks} but the weights have no head for them")
    copies = sorted({key.split(".copies.", 1)[1].split(".", 1)[0] for key in missing if ".copies." in key})
    if copies:  # config.task_layers names them; their weights would be random
        problems.append(f"config.json names task layers for {copies} (task_layers) but the weights have none for them")
    adapters = sorted({key.rsplit(".", 1)[1] for key in missing if TASK_ADAPTER_MARKER in key})
    if adapters:  # config.task_adapters names them; their weights would be random
        problems.append(f"config.json names task adapters for {adapters} (task_adapters) but the weights have none "
                        "for them")
    encoder_missing = [key for key in missing if not key.startswith("heads.") and ".copies." not in key
                       and TASK_ADAPTER_MARKER not in key]
    if encoder_missing:
        problems.append(f"{len(encoder_missing)} encoder weight(s) are missing (e.g. {encoder_missing[0]})")
    if extra_heads:
        problems.append(f"the weights have a head for task(s) {extra_heads} that config.json does not name")
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


def encoder_loading_problem(info: dict[str, Any]) -> str | None:
    """What of an encoder's ``AutoModel.from_pretrained`` loading report means its weights are incomplete (None: fine).

    Missing weights (a layer absent from the checkpoint, which would train from random values) and shape mismatches
    are problems. The pooler may be missing (the heads bring their own pooling), and unexpected weights are those
    of a pretraining head (``cls.predictions.*``, ``lm_head.*``), which the encoder does not use.
    """
    missing = sorted(key for key in info.get("missing_keys") or () if not key.startswith("pooler."))
    mismatched = list(info.get("mismatched_keys") or ())
    problems = []
    if missing:
        problems.append(f"{len(missing)} encoder weight(s) are missing from its weights file (e.g. {missing[0]})")
    if mismatched:
        key = mismatched[0][0] if isinstance(mismatched[0], (list, tuple)) else mismatched[0]
        problems.append(f"{len(mismatched)} weight(s) do not have the shape its config.json gives them (e.g. {key})")
    return "; ".join(problems) or None


def remote_code_refusal(error: BaseException, source: Any) -> str | None:
    """The one-line refusal for transformers' "contains custom code" error (None: ``error`` is another one).

    hf_mtl loads with ``trust_remote_code=False``: a folder whose config.json or tokenizer_config.json declares its
    own code (``auto_map`` to a class transformers does not know) is refused, and the prompt text is not repeated.
    """
    text = str(error)
    if "custom code" not in text or "trust_remote_code" not in text:
        return None
    return (
        f"{source} declares custom code (an auto_map in its config.json or tokenizer_config.json for a class "
        "transformers does not know); hf_mtl never runs a folder's code (trust_remote_code=False): use a model "
        "whose type transformers knows, or, if you trust that code, load the model yourself."
    )


def check_is_encoder(encoder_config: Any) -> None:
    """Raise ``ValueError`` unless hf_mtl can share ``encoder_config``'s model between tasks.

    The rule is ``encoder_families.check_backbone`` (read from the config alone: an encoder-decoder or decoder-only
    model is named as such); this name stays for callers of earlier versions.
    """
    check_backbone(encoder_config)


def warn_if_padding_dependent(encoder_config: Any) -> None:
    """Warn that a family's outputs depend on padding (Funnel, FNet), so batch composition changes predictions."""
    if encoder_family(encoder_config).padding_dependent:
        logger.warning(
            "'%s' encoders give outputs that depend on the amount of padding: a sentence gets slightly different "
            "logits in a batch padded to another length (pad to a fixed length, or predict with batch_size=1, for "
            "reproducible outputs).", encoder_config.model_type)


def read_encoder_config(encoder_name_or_path: str, **encoder_kwargs: Any) -> Any:
    """The encoder's config alone (no weights), read with ``trust_remote_code=False``: what the checks read."""
    from transformers import AutoConfig

    from .errors import HfMtlError

    hub_kwargs = {key: encoder_kwargs[key] for key in ("revision", "token", "cache_dir", "local_files_only")
                  if key in encoder_kwargs}
    try:
        return AutoConfig.from_pretrained(encoder_name_or_path, trust_remote_code=False, **hub_kwargs)
    except ValueError as error:
        refusal = remote_code_refusal(error, encoder_name_or_path)
        if refusal:
            raise HfMtlError(refusal) from None
        raise
