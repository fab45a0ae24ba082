"""Export one task of a multi-task model as a standard transformers single-task model folder.

The exported folder holds the shared encoder and that task's head under the names transformers'
``AutoModelForTokenClassification`` / ``AutoModelForSequenceClassification`` use for the encoder's family, with
the task's labels in its config, so plain transformers (and its pipelines) load it and predict exactly what the
multi-task model predicts for that task.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import transformers
from transformers import PreTrainedModel

from ..modeling.encoder_families import encoder_family, exportable_families, pooler_activation
from ..modeling.errors import TaskError
from ..modeling.modeling_multitask import MultiTaskModel
from ..modeling.task_kinds import task_kind
from ..modeling.task_layers import task_layer_owner, task_layer_slots, task_layers_state


def _prefixed(prefix: str, state: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in state.items()}


def build_single_task_model(model: MultiTaskModel, task: str) -> PreTrainedModel:
    """Return a transformers ``AutoModelFor*Classification`` holding the encoder and ``task``'s head.

    The class is the task kind's ``export_class``; where the encoder and each head layer go is the encoder
    family's ``export`` layout (``hf_mtl.modeling.encoder_families``). A model with task-specific top layers
    exports the shared bottom layers and the task's own top layers (``config.task_layers``).

    Raises:
        TaskError: the task does not exist, or the encoder family has no known single-task layout.
    """
    if task not in model.config.tasks:
        raise TaskError(f"Cannot export task '{task}': the model has tasks {model.task_names}.")
    if model.config.tasks[task].get("decoder") == "crf":
        raise TaskError(
            f"Cannot export task '{task}' as a plain transformers model: it decodes with a CRF (decoder: crf), which "
            "AutoModelForTokenClassification has no place for; serve it with the multitask pipeline."
        )
    kind = task_kind(model.config.tasks[task]["type"])
    if kind.auxiliary:
        raise TaskError(f"Task '{task}' ({kind.type_name}) only trains the encoder for the other tasks; export one of "
                        "those (its model carries the adapted encoder).")
    if kind.export_class is None:
        raise TaskError(
            f"Cannot export task '{task}' as a plain transformers model: transformers has no AutoModelFor* class for "
            f"{kind.type_name} tasks; serve it with the multitask pipeline."
        )
    encoder_config = model.config.encoder
    layout = encoder_family(encoder_config).export
    if layout is None:
        raise TaskError(
            f"Export is not supported for '{encoder_config.model_type}' encoders yet; supported: {exportable_families()}."
        )
    settings = model.config.tasks[task]
    kind = task_kind(settings["type"])
    config = copy.deepcopy(encoder_config)
    config.id2label = dict(settings["id2label"])
    config.label2id = dict(settings["label2id"])
    config.num_labels = len(settings["id2label"])
    if kind.stores_problem_type:
        config.problem_type = settings["problem_type"]
    if kind.pooled:
        family_activation = pooler_activation(encoder_config)
        activation = settings.get("pooler_activation") or family_activation
        if activation != family_activation:
            raise TaskError(
                f"Task '{task}' uses pooler_activation={activation!r}, but {encoder_config.model_type}'s "
                f"sequence-classification head uses {family_activation!r}: it cannot be exported."
            )
    head = model.heads[task]  # a regression head with `standardize` folds its affine into the linear layer
    head_state = head.export_state_dict() if hasattr(head, "export_state_dict") else head.state_dict()
    # with task-specific top layers: the shared bottom and this task's own top layers, under the plain names
    layers_path, slots = task_layer_slots(model.encoder)
    encoder_state = task_layers_state(model.encoder.state_dict(), layers_path,
                                      task_layer_owner(model.config.task_layers, task), list(slots))
    state = _prefixed(layout.encoder_prefix, encoder_state)
    for layer, target in layout.head_layers(kind.export_class).items():
        state.update(_prefixed(target, head_state_of(head_state, layer)))
    single = getattr(transformers, kind.export_class).from_config(config)
    missing, unexpected = single.load_state_dict(state, strict=False)
    persistent = set(single.state_dict())
    missing = [key for key in missing if key in persistent and not key.endswith("position_ids")]
    if missing or unexpected:
        raise TaskError(
            f"Exporting task '{task}' to {type(single).__name__} left weights unmatched "
            f"(missing: {missing[:5]}, unexpected: {unexpected[:5]})."
        )
    reference = next(model.parameters())
    return single.to(device=reference.device, dtype=reference.dtype).eval()


def head_state_of(head_state: dict[str, Any], layer: str) -> dict[str, Any]:
    """The parameters of one layer (``dense`` or ``classifier``) of a head's state dict, without the prefix."""
    return {key[len(layer) + 1 :]: value for key, value in head_state.items() if key.startswith(layer + ".")}


def export_task(model: MultiTaskModel, task: str, save_directory: str | Path, tokenizer: Any = None) -> Path:
    """Write ``task`` as a standard single-task model folder (safetensors weights, config, tokenizer).

    Example:
        >>> export_task(model, "ner", "ner-model", tokenizer)
        >>> from transformers import AutoModelForTokenClassification
        >>> AutoModelForTokenClassification.from_pretrained("ner-model")
    """
    if getattr(model.config, "lora", None):  # LoRA adapters are folded into the encoder: a plain AutoModelFor* folder
        from ..modeling.lora import merge_lora

        model = merge_lora(copy.deepcopy(model))
    single = build_single_task_model(model, task)
    save_directory = Path(save_directory)
    single.save_pretrained(save_directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(save_directory)
    return save_directory


__all__ = ["build_single_task_model", "export_task"]
