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

import torch
import transformers
from transformers import PreTrainedModel

from ..modeling.encoder_families import (
    decoder_export_layout,
    encoder_family,
    exportable_families,
    family_pooling,
    is_decoder_only,
    pooler_activation,
)
from ..modeling.errors import TaskError
from ..modeling.modeling_multitask import MultiTaskModel
from ..modeling.task_adapters import merged_adapter_state
from ..modeling.task_kinds import task_kind
from ..modeling.task_layers import task_layer_owner, task_layer_slots, task_layers_state


def _prefixed(prefix: str, state: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in state.items()}


def build_single_task_model(model: MultiTaskModel, task: str, pad_token_id: int | None = None) -> PreTrainedModel:
    """Return a transformers ``AutoModelFor*Classification`` holding the encoder and ``task``'s head.

    The class is the task kind's ``export_class``; where the encoder and each head layer go is the encoder
    family's ``export`` layout (``hf_mtl.modeling.encoder_families``). A model with task-specific top layers
    exports the shared bottom layers and the task's own top layers (``config.task_layers``), one with per-task
    adapters the shared encoder with the task's adapter merged (``config.task_adapters``); a decoder LLM's
    layout is read from its own class (``LlamaForSequenceClassification``: ``model`` + ``score``;
    ``GPT2ForTokenClassification``: ``transformer`` + ``classifier``).

    Args:
        pad_token_id: decoder LLMs: the tokenizer's pad token id, when the model's config has none (the family's
            ``*ForSequenceClassification`` finds the last real token by it).

    Raises:
        TaskError: the task does not exist, the encoder family has no known single-task layout, or a decoder's pad
            token id is unknown.
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
    decoder = is_decoder_only(encoder_config)
    layout = encoder_family(encoder_config).export
    if layout is None and not decoder:
        raise TaskError(
            f"Export is not supported for '{encoder_config.model_type}' encoders yet; supported: {exportable_families()}."
        )
    settings = model.config.tasks[task]
    if kind.pooled and layout is not None and layout.text_refusal:
        raise TaskError(f"Cannot export task '{task}' as a plain transformers model: {layout.text_refusal}; serve it "
                        "with the multitask pipeline.")
    config = copy.deepcopy(encoder_config)
    config.id2label = dict(settings["id2label"])
    config.label2id = dict(settings["label2id"])
    config.num_labels = len(settings["id2label"])
    if kind.stores_problem_type:
        config.problem_type = settings["problem_type"]
    if decoder:
        _set_decoder_pad_token(config, task, pad_token_id)
    if kind.pooled and getattr(model.heads[task], "dense", None) is not None:
        family_activation = pooler_activation(encoder_config)
        activation = settings.get("pooler_activation") or family_activation
        if activation != family_activation:
            raise TaskError(
                f"Task '{task}' uses pooler_activation={activation!r}, but {encoder_config.model_type}'s "
                f"sequence-classification head uses {family_activation!r}: it cannot be exported."
            )
    if kind.pooled:
        _set_family_pooling(config, task, settings.get("pooling") or family_pooling(encoder_config))
    try:
        single = getattr(transformers, kind.export_class).from_config(config)
    except ValueError as error:  # a family without that class (Gemma 3 has no *ForTokenClassification)
        raise TaskError(f"Cannot export task '{task}': transformers has no {kind.export_class} for "
                        f"'{encoder_config.model_type}' ({str(error).splitlines()[0]}).") from None
    if decoder:
        layout = decoder_export_layout(single)
    head = model.heads[task]  # a regression head with `standardize` folds its affine into the linear layer
    try:
        head_state = head.export_state_dict() if hasattr(head, "export_state_dict") else head.state_dict()
    except ValueError as error:  # `standardize` on a bias-free `score` (decoder LLMs): the mean has no place
        raise TaskError(
            f"Cannot export task '{task}' as {type(single).__name__}: {error}, and that class's "
            f"`{layout.text_classifier}` layer has none; serve it with the multitask pipeline or ONNX (both keep the "
            "de-standardisation), or train it with `standardize: false` to export it."
        ) from None
    # with task-specific top layers: the shared bottom and this task's own top layers, under the plain names
    layers_path, slots = task_layer_slots(model.encoder)
    encoder_state = task_layers_state(model.encoder.state_dict(), layers_path,
                                      task_layer_owner(model.config.task_layers, task), list(slots))
    # with per-task adapters: this task's adapter folded into the shared weights, the others' left out
    adapters = model.config.task_adapters
    encoder_state = merged_adapter_state(encoder_state, adapters, task_layer_owner(adapters, task))
    state = _prefixed(layout.encoder_prefix, encoder_state)
    for layer, target in layout.head_layers(kind.export_class).items():
        state.update(_prefixed(target, head_state_of(head_state, layer)))
    # the encoder's own pooler, which the multi-task model drops (each text head owns its dense layer), is kept by
    # some families' classes without being read (CanineForTokenClassification): zeros, not random weights
    for key, value in single.state_dict().items():
        if key.startswith(f"{layout.encoder_prefix}.pooler") and key not in state:
            state[key] = torch.zeros_like(value)
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


def _set_decoder_pad_token(config: Any, task: str, pad_token_id: int | None) -> None:
    """Give an exported decoder's config the pad token id its ``*ForSequenceClassification`` pools by, or refuse."""
    if getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = pad_token_id
    if config.pad_token_id is None:
        raise TaskError(
            f"Cannot export task '{task}': the {config.model_type} backbone's config has no pad_token_id, which its "
            "own classes need to find each text's last token; pass the tokenizer (export_task(..., tokenizer)) or "
            "set model.set_pad_token_id(tokenizer.pad_token_id) (MultiTaskTrainer does it)."
        )


def _set_family_pooling(config: Any, task: str, pooling: str) -> None:
    """Make the exported config pool as the task does (ModernBERT's ``classifier_pooling``), or ``TaskError``."""
    if pooling == family_pooling(config):
        return
    family = encoder_family(config)
    value = family.setting_of(pooling)
    if value is None:
        raise TaskError(
            f"Task '{task}' uses pooling={pooling!r}, but {config.model_type}'s sequence-classification head pools "
            f"with {family_pooling(config)!r}: it cannot be exported as a plain transformers model; serve it with "
            "the multitask pipeline (or train it with `pooling: family`)."
        )
    setattr(config, family.pooling_setting, value)


def head_state_of(head_state: dict[str, Any], layer: str) -> dict[str, Any]:
    """The parameters of one layer (``dense``, ``norm`` or ``classifier``) of a head's state dict, without the prefix."""
    return {key[len(layer) + 1 :]: value for key, value in head_state.items() if key.startswith(layer + ".")}


def export_task(model: MultiTaskModel, task: str, save_directory: str | Path, tokenizer: Any = None) -> Path:
    """Write ``task`` as a standard single-task model folder (safetensors weights, config, tokenizer).

    The tokenizer is saved padding on the side the family's class needs (``EncoderFamily.padding_side``: XLNet's
    reads the last position, so its exported tokenizer pads on the left, as XLNet's own does).

    Example:
        >>> export_task(model, "ner", "ner-model", tokenizer)
        >>> from transformers import AutoModelForTokenClassification
        >>> AutoModelForTokenClassification.from_pretrained("ner-model")
    """
    if getattr(model.config, "lora", None):  # LoRA adapters are folded into the encoder: a plain AutoModelFor* folder
        from ..modeling.lora import merge_lora

        model = merge_lora(copy.deepcopy(model))
    single = build_single_task_model(model, task, pad_token_id=getattr(tokenizer, "pad_token_id", None))
    save_directory = Path(save_directory)
    single.save_pretrained(save_directory)
    if tokenizer is not None:
        side = encoder_family(model.config.encoder).padding_side
        if getattr(tokenizer, "padding_side", side) != side:  # XLNet's class reads the last position: pad on the left
            tokenizer = copy.deepcopy(tokenizer)
            tokenizer.padding_side = side
        tokenizer.save_pretrained(save_directory)
    return save_directory


__all__ = ["build_single_task_model", "export_task"]
