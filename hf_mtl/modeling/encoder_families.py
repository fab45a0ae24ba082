"""The encoder-family table: what hf_mtl knows about each backbone family (``model_type``), in one place.

Per family: the activation of its sequence-classification head (so that a text head computes what the family's
own ``*ForSequenceClassification`` computes), how many position ids it reserves (RoBERTa-style position ids start
after the padding index), and where its single-task ``AutoModelFor*`` classes keep the encoder and the head layers
(what ``hf_mtl.export.task_model`` maps a head onto). The heads, the pipeline's window sizes and the export ask
this table; none keeps its own. A new family is one :class:`EncoderFamily` entry in :data:`ENCODER_FAMILIES`.

Part of the *modeling core*: imports only the standard library, so it is copied next to saved weights.

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
from dataclasses import dataclass
from typing import Any

__all__ = ["ENCODER_FAMILIES", "EncoderFamily", "ExportLayout", "encoder_family", "exportable_families",
           "pooler_activation", "position_offset"]

TOKEN_EXPORT_CLASS = "AutoModelForTokenClassification"
SEQUENCE_EXPORT_CLASS = "AutoModelForSequenceClassification"


@dataclass(frozen=True)
class ExportLayout:
    """Where a family's single-task models keep the encoder and each head layer.

    Args:
        encoder_prefix (`str`): The encoder's attribute in ``*ForTokenClassification`` / ``*ForSequenceClassification``
            (``"bert"``, ``"roberta"``, ``"deberta"``).
        text_dense / text_classifier (`str`): Where the text head's pooling dense layer and its classifier go in the
            family's ``*ForSequenceClassification``.
        token_classifier (`str`): Where the token head's classifier goes in ``*ForTokenClassification``.
    """

    encoder_prefix: str
    text_dense: str
    text_classifier: str
    token_classifier: str = "classifier"

    def head_layers(self, export_class: str) -> dict[str, str]:
        """Head layer -> its name in the family's ``export_class`` model (``{"classifier": "classifier"}``)."""
        if export_class == TOKEN_EXPORT_CLASS:
            return {"classifier": self.token_classifier}
        if export_class == SEQUENCE_EXPORT_CLASS:
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
        mlm_head (`tuple[str, ...]`, *optional*): The modules of its ``*ForMaskedLM`` that a masked-lm head applies,
            in order, to the hidden states; ``None``: its children other than the encoder and loss modules, in the
            order they were made (``cls`` for BERT, ``lm_head`` for RoBERTa).
        layers (`str`): The dotted path of the encoder's list of transformer layers (``task_layers`` splits it).
    """

    model_type: str
    pooler_activation: str = "tanh"
    pooler_activation_setting: str | None = None
    position_offset: int = 0
    export: ExportLayout | None = None
    mlm_head: tuple[str, ...] | None = None
    layers: str = "encoder.layer"


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
                      export=ExportLayout("distilbert", "pre_classifier", "classifier"),
                      mlm_head=("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector"),
                      layers="transformer.layer"),
    )
}
"""Every family hf_mtl knows, keyed by ``model_type``; any other encoder gets the defaults of :class:`EncoderFamily`."""

def encoder_family(model_type_or_config: Any) -> EncoderFamily:
    """The table's entry for a ``model_type`` (or an encoder config), the defaults for a family it does not list."""
    model_type = model_type_or_config if isinstance(model_type_or_config, str) else getattr(
        model_type_or_config, "model_type", None)
    known = ENCODER_FAMILIES.get(model_type) if isinstance(model_type, str) else None
    return known if known is not None else EncoderFamily(str(model_type))


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

