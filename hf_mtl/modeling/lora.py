"""LoRA for multi-task models: low-rank adapters in the shared encoder, heads fully trainable.

The one home of LoRA in hf_mtl: applying adapters (training), putting them back when a saved adapter model loads,
telling adapter weights apart, and merging them (export, push). Part of the modeling core; peft is imported only
inside the functions that need it.

A LoRA model keeps the pretrained encoder frozen and trains small low-rank matrices inside it (PEFT's `LoraConfig`
decides where) plus every task head. It is saved in one of two forms, both of which reload exactly:

- **adapter** (what `save_pretrained` writes for a model that carries LoRA): `model.safetensors` holds only the
  adapter matrices and the heads (a few MB), and `config.json` names the base encoder under `lora.base_encoder`;
  loading rebuilds the encoder from that base, re-injects the adapters and loads them. Needs `peft` installed and
  the base encoder reachable (a local folder or a Hub id).
- **merged** (`merge_lora`, the default of `hf-mtl push` and `hf-mtl export`): the adapters are folded into the
  encoder's weights; the folder is an ordinary hf_mtl model that loads anywhere, also as remote code without peft.

Example:
    ```python
    >>> from hf_mtl import MultiTaskModel
    >>> from hf_mtl.modeling.lora import apply_lora, merge_lora
    >>> model = MultiTaskModel.from_encoder("path/to/encoder", tasks=...)
    >>> apply_lora(model, {"r": 8, "lora_alpha": 16})          # or a peft.LoraConfig
    >>> trainable_parameters(model)                             # (adapters + heads, all)
    >>> model.save_pretrained("out/adapter")                    # adapter + heads; reloads with from_pretrained
    >>> merge_lora(model).save_pretrained("out/merged")        # a plain model
    ```
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from torch import nn

from .errors import HfMtlError, did_you_mean

if TYPE_CHECKING:
    from .modeling_multitask import MultiTaskModel

DEFAULT_LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.1}
# `config.lora` holds the peft.LoraConfig fields plus the encoder the adapters were trained on.
LORA_BASE_ENCODER_KEY = "base_encoder"
# Every LoRA weight peft injects is named `<layer>.lora_<A|B|embedding_A|...>.<adapter>...`.
LORA_WEIGHT_MARKER = ".lora_"
# Per-task adapters (hf_mtl.modeling.task_adapters, no peft) are `<linear>.task_lora_<A|B>.<copy>`: trained next to a
# backbone LoRA, so an adapter-only save keeps them.
TASK_ADAPTER_MARKER = ".task_lora_"
_ENCODER_PREFIX = "encoder."
# The query and value projections of attention layers, as families name them: what LoRA adapts when PEFT has no
# default for the family (LoRA's paper adapts W_q and W_v).
ATTENTION_PROJECTIONS: tuple[tuple[str, ...], ...] = (("q_proj", "v_proj"), ("query", "value"), ("q", "v"),
                                                      ("query_key_value",), ("qkv_proj",), ("Wqkv",), ("c_attn",))


def _import_peft() -> Any:
    # peft is imported only where adapters are used (hf_mtl's lora extra); plain models need torch and transformers.
    try:
        import peft
    except ImportError as error:
        raise ImportError(
            "LoRA adapters need the peft package (pip install 'hf-mtl[lora]' or pip install peft); a model saved "
            "with adapters can also be loaded as a merged copy (hf_mtl.modeling.lora.merge_lora / hf-mtl export)."
        ) from error
    return peft


def is_lora_weight(name: str) -> bool:
    """True for the name of a LoRA adapter weight (``encoder....query.lora_A.default.weight``)."""
    return LORA_WEIGHT_MARKER in name


def is_adapter_weight(name: str) -> bool:
    """Weights an adapter-only save keeps: the LoRA matrices, the per-task adapters and every head (not the frozen
    base encoder)."""
    return not name.startswith(_ENCODER_PREFIX) or is_lora_weight(name) or TASK_ADAPTER_MARKER in name


def train_task_parts(model: nn.Module) -> None:
    """What a backbone LoRA leaves trainable besides its adapters: every head, and the per-task adapters
    (``task_adapters``) that PEFT froze with the base layers they sit in."""
    model.heads.requires_grad_(True)
    for name, parameter in model.named_parameters():
        if TASK_ADAPTER_MARKER in name:
            parameter.requires_grad_(True)


def inject_lora(model: nn.Module, settings: dict[str, Any]) -> None:
    """Add LoRA adapters as ``settings`` (a saved ``config.lora``) describe them to ``model``; heads stay trainable."""
    peft = _import_peft()
    fields = {k: v for k, v in settings.items() if k not in (LORA_BASE_ENCODER_KEY, "peft_type", "peft_version")}
    peft.inject_adapter_in_model(peft.LoraConfig(**fields), model)
    train_task_parts(model)


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def lora_config(settings: Any, model: MultiTaskModel | None = None) -> Any:
    """A `peft.LoraConfig` from a `LoraConfig` or a mapping of its fields (a recipe's `model.lora:` section).

    Unset fields take hf_mtl's defaults (`r=8, lora_alpha=16, lora_dropout=0.1`) and, for `target_modules`, PEFT's
    default for the encoder's architecture (`query`/`value` for BERT-like encoders).

    Raises:
        HfMtlError: a field LoraConfig does not have (with the nearest valid name), or a value it refuses.
    """
    peft = _import_peft()
    if isinstance(settings, peft.LoraConfig):
        config = settings
    else:
        if settings is True or settings is None:
            settings = {}
        if not isinstance(settings, Mapping):
            raise HfMtlError(f"lora: expected a mapping of peft.LoraConfig fields, got {type(settings).__name__}.")
        fields = {f.name for f in dataclasses.fields(peft.LoraConfig)}
        unknown = sorted(set(settings) - fields)
        if unknown:
            raise HfMtlError(
                f"lora: unknown field(s) {unknown}{did_you_mean(unknown[0], sorted(fields))}; "
                "the section takes peft.LoraConfig fields (r, lora_alpha, lora_dropout, target_modules, ...)."
            )
        try:
            config = peft.LoraConfig(**{**DEFAULT_LORA, **settings})
        except (TypeError, ValueError) as error:
            raise HfMtlError(f"lora: {error}") from error
    if config.target_modules is None and model is not None:
        config.target_modules = default_target_modules(model)
    return config


def default_target_modules(model: MultiTaskModel) -> set[str]:
    """The encoder's layers LoRA adapts by default: PEFT's choice for its architecture (``query``/``value`` for
    BERT-like encoders, ``q_proj``/``v_proj`` for Llama, Qwen2/3, Mistral, Gemma, ``c_attn`` for GPT-2), else the
    first pair of :data:`ATTENTION_PROJECTIONS` the encoder has (decoder families PEFT does not list: SmolLM3, Phi-3,
    OLMo-2, Granite, ...).

    Raises:
        HfMtlError: neither applies; the message asks for ``lora.target_modules``.
    """
    peft = _import_peft()
    mapping = peft.utils.constants.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
    model_type = model.config.encoder.model_type
    if model_type in mapping:
        return set(mapping[model_type])
    leaves = {name.rsplit(".", 1)[-1] for name, module in model.encoder.named_modules() if isinstance(module, nn.Linear)}
    for names in ATTENTION_PROJECTIONS:
        if set(names) <= leaves:
            return set(names)
    raise HfMtlError(
        f"lora: no default target_modules for a '{model_type}' encoder; set lora.target_modules "
        "(the names of the encoder's linear layers to adapt, e.g. [query, value] or [q_proj, v_proj])."
    )


def is_lora_model(model: nn.Module) -> bool:
    """True when ``model`` carries LoRA adapters (injected by [`apply_lora`] or PEFT)."""
    return any(is_lora_weight(name) for name, _ in model.named_parameters())


def apply_lora(model: MultiTaskModel, settings: Any = None, base_encoder: str | None = None) -> MultiTaskModel:
    """Inject LoRA adapters into the encoder of ``model`` (in place): the encoder is frozen, adapters and heads train.

    Args:
        model: a [`MultiTaskModel`] without adapters.
        settings: a `peft.LoraConfig` or a mapping of its fields (see [`lora_config`]).
        base_encoder: the folder or Hub id the encoder's weights come from (recorded in the config, so that an
            adapter-only save can be loaded); default: the model's `name_or_path`.

    Raises:
        HfMtlError: the model already has adapters, or `target_modules` match nothing in the encoder or match a head.
    """
    peft = _import_peft()
    if is_lora_model(model):
        raise HfMtlError("This model already has LoRA adapters; merge them first (hf_mtl.modeling.lora.merge_lora).")
    config = lora_config(settings, model)
    base_encoder = base_encoder or model.config.name_or_path
    if not base_encoder:
        raise HfMtlError("apply_lora needs base_encoder=<folder or Hub id of the encoder weights> to save adapters.")
    peft.inject_adapter_in_model(config, model)
    adapted = {name.split(LORA_WEIGHT_MARKER)[0] for name, _ in model.named_parameters() if is_lora_weight(name)}
    in_heads = sorted(name for name in adapted if name.startswith("heads."))
    if in_heads:
        raise HfMtlError(
            f"lora.target_modules {sorted(config.target_modules)} also match head layers ({in_heads[0]}, ...); "
            "heads are trained in full: name encoder layers only (e.g. [query, value])."
        )
    train_task_parts(model)
    model.config.lora = {**_jsonable(config.to_dict()), LORA_BASE_ENCODER_KEY: str(base_encoder)}
    return model


def merge_lora(model: MultiTaskModel) -> MultiTaskModel:
    """Fold the adapters into the encoder's weights and remove them (in place): a plain model, all trainable."""
    peft = _import_peft()
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, peft.tuners.lora.LoraLayer):
                child.merge()
                setattr(parent, child_name, child.get_base_layer())
    model.config.lora = None
    model.requires_grad_(True)
    return model


def unwrap_peft_model(model: Any) -> Any:
    """A `peft.PeftModel` around a [`MultiTaskModel`] → the MultiTaskModel (adapters stay injected, heads trainable).

    `get_peft_model(multitask_model, LoraConfig(...))` injects the adapters into the model in place; hf_mtl keeps
    the model itself and records the adapter settings in its config, so saving and loading work as with
    [`apply_lora`]. Anything else is returned unchanged.
    """
    try:
        from peft import PeftModel
    except ImportError:
        return model
    if not isinstance(model, PeftModel):
        return model
    from .modeling_multitask import MultiTaskModel

    inner = model.get_base_model()
    if not isinstance(inner, MultiTaskModel):
        return model
    adapters = list(model.peft_config)
    if adapters != ["default"]:
        raise HfMtlError(f"hf_mtl trains one LoRA adapter named 'default'; this PeftModel has {adapters}.")
    config = model.peft_config["default"]
    if getattr(config, "peft_type", None) is None or str(getattr(config.peft_type, "value", config.peft_type)) != "LORA":
        raise HfMtlError(f"hf_mtl supports LoRA adapters; this PeftModel has a {config.peft_type} adapter.")
    train_task_parts(inner)
    inner.config.lora = {**_jsonable(config.to_dict()), LORA_BASE_ENCODER_KEY: str(inner.config.name_or_path)}
    return inner


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


__all__ = ["ATTENTION_PROJECTIONS", "LORA_BASE_ENCODER_KEY", "TASK_ADAPTER_MARKER", "apply_lora", "default_target_modules", "inject_lora", "is_adapter_weight", "is_lora_weight", "is_lora_model", "lora_config", "merge_lora", "trainable_parameters", "unwrap_peft_model"]
