"""Export one task of a multi-task model as a standard transformers single-task model folder.

The exported folder holds the shared encoder and that task's head under the names transformers'
``AutoModelForTokenClassification`` / ``AutoModelForSequenceClassification`` use for the encoder's family, with
the task's labels in its config, so plain transformers (and its pipelines) load it and predict exactly what the
multi-task model predicts for that task.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, PreTrainedModel

from ..modeling.errors import TaskError
from ..modeling.heads import default_pooler_activation
from ..modeling.modeling_multitask import MultiTaskModel
from ..modeling.task_kinds import TOKEN_CLASSIFICATION


@dataclass(frozen=True)
class ExportLayout:
    """Where an encoder family's single-task models keep the encoder and the text head's two linear layers."""

    encoder_prefix: str
    text_dense: str
    text_classifier: str


EXPORT_LAYOUTS: dict[str, ExportLayout] = {
    "bert": ExportLayout("bert", "bert.pooler.dense", "classifier"),
    "roberta": ExportLayout("roberta", "classifier.dense", "classifier.out_proj"),
    "xlm-roberta": ExportLayout("roberta", "classifier.dense", "classifier.out_proj"),
    "camembert": ExportLayout("roberta", "classifier.dense", "classifier.out_proj"),
    "electra": ExportLayout("electra", "classifier.dense", "classifier.out_proj"),
    "deberta-v2": ExportLayout("deberta", "pooler.dense", "classifier"),
    "distilbert": ExportLayout("distilbert", "pre_classifier", "classifier"),
}


def _prefixed(prefix: str, state: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in state.items()}


def build_single_task_model(model: MultiTaskModel, task: str) -> PreTrainedModel:
    """Return a transformers ``AutoModelFor*Classification`` holding the encoder and ``task``'s head.

    Raises:
        TaskError: the task does not exist, or the encoder family has no known single-task layout.
    """
    if task not in model.config.tasks:
        raise TaskError(f"Cannot export task '{task}': the model has tasks {model.task_names}.")
    encoder_config = model.config.encoder
    layout = EXPORT_LAYOUTS.get(encoder_config.model_type)
    if layout is None:
        raise TaskError(
            f"Export is not supported for '{encoder_config.model_type}' encoders yet; supported: {sorted(EXPORT_LAYOUTS)}."
        )
    settings = model.config.tasks[task]
    config = copy.deepcopy(encoder_config)
    config.id2label = dict(settings["id2label"])
    config.label2id = dict(settings["label2id"])
    config.num_labels = len(settings["id2label"])
    head_state = model.heads[task].state_dict()
    state = _prefixed(layout.encoder_prefix, model.encoder.state_dict())
    if settings["type"] == TOKEN_CLASSIFICATION:
        model_class = AutoModelForTokenClassification
        state.update(_prefixed("classifier", head_state_of(head_state, "classifier")))
    else:
        activation = settings.get("pooler_activation") or default_pooler_activation(encoder_config)
        if activation != default_pooler_activation(encoder_config):
            raise TaskError(
                f"Task '{task}' uses pooler_activation={activation!r}, but {encoder_config.model_type}'s "
                f"sequence-classification head uses {default_pooler_activation(encoder_config)!r}: it cannot be exported."
            )
        model_class = AutoModelForSequenceClassification
        config.problem_type = settings["problem_type"]
        state.update(_prefixed(layout.text_dense, head_state_of(head_state, "dense")))
        state.update(_prefixed(layout.text_classifier, head_state_of(head_state, "classifier")))
    single = model_class.from_config(config)
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
        import copy

        from ..modeling.lora import merge_lora

        model = merge_lora(copy.deepcopy(model))
    single = build_single_task_model(model, task)
    save_directory = Path(save_directory)
    single.save_pretrained(save_directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(save_directory)
    return save_directory


__all__ = ["EXPORT_LAYOUTS", "build_single_task_model", "export_task"]
