"""The encoder-family table: what hf_mtl knows about each backbone family (``model_type``), in one place.

Per family: the activation of its sequence-classification head (so that a text head computes what the family's
own ``*ForSequenceClassification`` computes), how many position ids it reserves (RoBERTa-style position ids start
after the padding index), and where its single-task ``AutoModelFor*`` classes keep the encoder and the head layers
(what ``hf_mtl.export.task_model`` maps a head onto). The heads, the pipeline's window sizes and the export ask
this table; none keeps its own. A new family is one :class:`EncoderFamily` entry in :data:`ENCODER_FAMILIES`.

Decoder-only LLMs (Llama, Qwen2/3, Mistral, Gemma, GPT-2, SmolLM, ...) are backbones too (:func:`backbone_kind`):
their family default is :data:`DECODER_FAMILY` (the last real token, a bias-free ``score`` layer), and their
export layout is read from transformers' own class (:func:`decoder_export_layout`).

Part of the *modeling core*: imports only the standard library (and transformers' Auto tables, inside
:func:`backbone_kind`), so it is copied next to saved weights.

Example:

```python
>>> from types import SimpleNamespace
>>> encoder_family("roberta").position_offset, encoder_family("bert").export.text_dense
(2, 'bert.pooler.dense')
>>> pooler_activation(SimpleNamespace(model_type="deberta-v2", pooler_hidden_act="gelu_new"))
'gelu_new'
>>> encoder_family("mpnet").export is None  # a family without a known export layout
True

```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["DECODER_FAMILY", "DECODER_ONLY", "ENCODER", "ENCODER_DECODER", "ENCODER_FAMILIES", "EncoderFamily",
           "ExportLayout", "backbone_kind", "decoder_export_layout", "encoder_family", "exportable_families",
           "family_pooling", "is_decoder_only", "pooler_activation", "position_offset"]

TOKEN_EXPORT_CLASS = "AutoModelForTokenClassification"
SEQUENCE_EXPORT_CLASS = "AutoModelForSequenceClassification"


@dataclass(frozen=True)
class ExportLayout:
    """Where a family's single-task models keep the encoder and each head layer.

    Args:
        encoder_prefix (`str`): The encoder's attribute in ``*ForTokenClassification`` / ``*ForSequenceClassification``
            (``"bert"``, ``"roberta"``, ``"deberta"``).
        text_dense / text_classifier (`str`): Where the text head's pooling dense layer and its classifier go in the
            family's ``*ForSequenceClassification`` (``text_dense`` ``None``: the head has no dense layer, as decoder
            LLMs' ``score``).
        token_classifier (`str`): Where the token head's classifier goes in ``*ForTokenClassification``.
    """

    encoder_prefix: str
    text_dense: str | None
    text_classifier: str
    token_classifier: str = "classifier"

    def head_layers(self, export_class: str) -> dict[str, str]:
        """Head layer -> its name in the family's ``export_class`` model (``{"classifier": "classifier"}``)."""
        if export_class == TOKEN_EXPORT_CLASS:
            return {"classifier": self.token_classifier}
        if export_class == SEQUENCE_EXPORT_CLASS:
            if self.text_dense is None:
                return {"classifier": self.text_classifier}
            return {"dense": self.text_dense, "classifier": self.text_classifier}
        raise ValueError(f"No export layout for {export_class!r}; known: {[TOKEN_EXPORT_CLASS, SEQUENCE_EXPORT_CLASS]}.")


@dataclass(frozen=True)
class EncoderFamily:
    """What hf_mtl knows about one encoder family.

    Args:
        model_type (`str`): The family's ``model_type`` (``"bert"``, ``"deberta-v2"``).
        pooler_activation (`str`): The activation between the text head's dense layer and its classifier, as in the
            family's ``*ForSequenceClassification`` (``tanh``: BERT's pooler).
        pooler_activation_setting (`str`, *optional*): A config attribute that overrides ``pooler_activation`` when
            set (DeBERTa-v2's ``pooler_hidden_act``).
        position_offset (`int`): Position ids the family reserves before the first token (2 for RoBERTa-style
            position ids that start after the padding index): a window holds ``max_position_embeddings`` minus this.
        export (`ExportLayout`, *optional*): Where its single-task classes keep the weights; ``None``: no export.
        pooling (`str`): How its ``*ForSequenceClassification`` pools (a method of ``pooling.POOLING_METHODS``;
            ``cls``: the first token).
        pooling_setting (`str`, *optional*): A config attribute that overrides ``pooling`` (ModernBERT's
            ``classifier_pooling``); ``pooling_values`` maps hf_mtl's method names to that attribute's values.
        text_head_dense (`bool`): Whether the text head has a dense layer and an activation before its classifier
            (BERT's pooler); ``False``: the classifier alone, without a bias (decoder LLMs' ``score`` layer).
    """

    model_type: str
    pooler_activation: str = "tanh"
    pooler_activation_setting: str | None = None
    position_offset: int = 0
    export: ExportLayout | None = None
    pooling: str = "cls"
    pooling_setting: str | None = None
    pooling_values: Mapping[str, str] | None = None
    text_head_dense: bool = True

    def setting_of(self, pooling: str) -> str | None:
        """The value of ``pooling_setting`` that makes the family's own head pool with ``pooling`` (``None``: none)."""
        if not self.pooling_setting:
            return None
        return (self.pooling_values or {}).get(pooling)


_BERT = ExportLayout("bert", "bert.pooler.dense", "classifier")
_ROBERTA = ExportLayout("roberta", "classifier.dense", "classifier.out_proj")

ENCODER_FAMILIES: Mapping[str, EncoderFamily] = {
    family.model_type: family
    for family in (
        EncoderFamily("bert", export=_BERT),
        EncoderFamily("roberta", position_offset=2, export=_ROBERTA),
        EncoderFamily("xlm-roberta", position_offset=2, export=_ROBERTA),
        EncoderFamily("camembert", position_offset=2, export=_ROBERTA),
        EncoderFamily("xlm-roberta-xl", position_offset=2),
        EncoderFamily("longformer", position_offset=2),
        EncoderFamily("data2vec-text", position_offset=2),
        EncoderFamily("electra", pooler_activation="gelu",
                      export=ExportLayout("electra", "classifier.dense", "classifier.out_proj")),
        EncoderFamily("deberta-v2", pooler_activation="gelu", pooler_activation_setting="pooler_hidden_act",
                      export=ExportLayout("deberta", "pooler.dense", "classifier")),
        EncoderFamily("distilbert", pooler_activation="relu",
                      export=ExportLayout("distilbert", "pre_classifier", "classifier")),
        EncoderFamily("modernbert", pooling_setting="classifier_pooling",
                      pooling_values={"cls": "cls", "mean": "mean"}),
        EncoderFamily("eurobert", pooling="late", pooling_setting="classifier_pooling",
                      pooling_values={"cls": "bos", "mean": "mean", "late": "late"}),
    )
}
"""Every family hf_mtl knows, keyed by ``model_type``; any other encoder gets the defaults of :class:`EncoderFamily`."""

def encoder_family(model_type_or_config: Any) -> EncoderFamily:
    """The table's entry for a ``model_type`` (or an encoder config), the defaults for a family it does not list
    (:data:`DECODER_FAMILY`'s for a decoder-only LLM)."""
    model_type = model_type_or_config if isinstance(model_type_or_config, str) else getattr(
        model_type_or_config, "model_type", None)
    known = ENCODER_FAMILIES.get(model_type) if isinstance(model_type, str) else None
    if known is not None:
        return known
    if is_decoder_only(model_type_or_config):
        return replace(DECODER_FAMILY, model_type=str(model_type))
    return EncoderFamily(str(model_type))


def family_pooling(encoder_config: Any) -> str:
    """How the family's own ``*ForSequenceClassification`` pools (``pooling: family``): a ``pooling.POOLING_METHODS``."""
    family = encoder_family(encoder_config)
    if family.pooling_setting:
        value = getattr(encoder_config, family.pooling_setting, None)
        for method, setting in (family.pooling_values or {}).items():
            if setting == value:
                return method
    return family.pooling


def pooler_activation(encoder_config: Any) -> str:
    """The activation a text head uses by default for this encoder (``tanh`` as in BERT's pooler)."""
    family = encoder_family(encoder_config)
    if family.pooler_activation_setting:
        return getattr(encoder_config, family.pooler_activation_setting, None) or family.pooler_activation
    return family.pooler_activation


def position_offset(encoder_config: Any) -> int:
    """Position ids the encoder's family reserves before the first token (see :class:`EncoderFamily`)."""
    return encoder_family(encoder_config).position_offset


def exportable_families() -> list[str]:
    """The ``model_type`` of every family with an export layout, sorted."""
    return sorted(name for name, family in ENCODER_FAMILIES.items() if family.export is not None)



# ------------------------------------------------------------------ decoder-only LLMs as backbones
ENCODER, DECODER_ONLY, ENCODER_DECODER = "encoder", "decoder-only", "encoder-decoder"
# Families with a causal-LM class but no masked-LM one that are not left-to-right decoders (XLNet: permutation LM,
# bidirectional at fine-tuning time; BertGeneration: a BERT encoder unless configured as a decoder).
_NOT_DECODER_ONLY = frozenset({"xlnet", "bert-generation"})

DECODER_FAMILY = EncoderFamily("decoder", pooling="last", text_head_dense=False)
"""What every decoder-only LLM family shares (``LlamaForSequenceClassification``, ``GPT2ForSequenceClassification``
... all compute it): the text head reads the last real token (``pooling: last``) with one bias-free linear layer,
``score``; no dense layer, no activation."""


def backbone_kind(model_type_or_config: Any) -> str:
    """:data:`ENCODER`, :data:`DECODER_ONLY` or :data:`ENCODER_DECODER`, from a ``model_type`` or a config.

    Decoder-only: transformers has a causal-LM class for the family and neither a masked-LM nor a sequence-to-sequence
    one (Llama, Qwen2/3, Mistral, Gemma, GPT-2, SmolLM3, Phi-3, ...). Encoder-decoder: ``is_encoder_decoder`` or a
    sequence-to-sequence class (T5, BART). Anything else is an encoder.

    Example:
        >>> backbone_kind("llama"), backbone_kind("bert"), backbone_kind("t5")
        ('decoder-only', 'encoder', 'encoder-decoder')
    """
    from transformers.models.auto import modeling_auto as auto

    config = None if isinstance(model_type_or_config, str) else model_type_or_config
    model_type = model_type_or_config if config is None else getattr(config, "model_type", None)
    if getattr(config, "is_encoder_decoder", False) or model_type in auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
        return ENCODER_DECODER
    if (model_type in auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES
            and model_type not in _NOT_DECODER_ONLY):
        return DECODER_ONLY
    return ENCODER


def is_decoder_only(model_type_or_config: Any) -> bool:
    """Whether the backbone is a decoder-only LLM (see :func:`backbone_kind`)."""
    return backbone_kind(model_type_or_config) == DECODER_ONLY


def decoder_export_layout(single_task_model: Any) -> ExportLayout:
    """Where a decoder family's own ``*ForSequenceClassification`` / ``*ForTokenClassification`` (an instance) keeps
    the backbone (its ``base_model_prefix``: ``model``, ``transformer``) and the classifier (``score`` or
    ``classifier``): read from the class, since decoder families share the layout but not the names."""
    names = [name for name in ("score", "classifier") if hasattr(single_task_model, name)]
    if not names:
        raise ValueError(f"{type(single_task_model).__name__} has neither a `score` nor a `classifier` layer.")
    return ExportLayout(single_task_model.base_model_prefix, None, names[0], names[0])
