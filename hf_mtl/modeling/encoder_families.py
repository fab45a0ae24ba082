"""The encoder-family table: what hf_mtl knows about each backbone family (``model_type``), in one place.

Per family: what its own ``*ForSequenceClassification`` computes on top of the encoder (pooling, a dense layer or
none, the activation, a norm, Longformer's global attention on the first token), what its
``*ForTokenClassification`` puts before the classifier (ModernBERT's prediction head), how many position ids it
reserves (RoBERTa-style position ids start after the padding index), where its single-task ``AutoModelFor*``
classes keep the encoder and each head layer (what ``hf_mtl.export.task_model`` maps a head onto), and whether its
outputs depend on padding. The heads, the pipeline's window sizes, the checks and the export ask this table; none
keeps its own. A new family is one :class:`EncoderFamily` entry in :data:`ENCODER_FAMILIES`.

It also classifies a backbone config as an encoder, a decoder-only model or an encoder-decoder
(:func:`architecture`), from the config alone, so a backbone hf_mtl cannot use is refused before any weight is
read (:func:`check_backbone`). Decoder-only LLMs (Llama, Qwen2/3, Mistral, Gemma, GPT-2, SmolLM, ...) are backbones
too: a family the table does not list gets :data:`DECODER_FAMILY` (the last real token, a bias-free ``score``
layer), and its export layout is read from transformers' own class (:func:`decoder_export_layout`).

Part of the *modeling core*: imports only the standard library and transformers, so it is copied next to saved
weights.

Example:

```python
>>> from types import SimpleNamespace
>>> encoder_family("roberta").position_offset, encoder_family("bert").export.text_dense
(2, 'bert.pooler.dense')
>>> pooler_activation(SimpleNamespace(model_type="deberta-v2", pooler_hidden_act="gelu_new"))
'gelu_new'
>>> encoder_family("some-new-encoder").export is None  # a family the table does not know
True

```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["ALLOWED_ARCHITECTURES", "DECODER_FAMILY", "DECODER_ONLY", "ENCODER", "ENCODER_DECODER", "ENCODER_FAMILIES",
           "EncoderFamily", "ExportLayout", "architecture", "check_backbone", "decoder_export_layout", "encoder_family",
           "exportable_families", "family_pooling", "is_decoder_only", "pooler_activation", "position_offset", "supports_gradient_checkpointing",
           "text_head_settings", "token_head_settings", "unsupported_gradient_checkpointing"]

TOKEN_EXPORT_CLASS = "AutoModelForTokenClassification"
SEQUENCE_EXPORT_CLASS = "AutoModelForSequenceClassification"

ENCODER, DECODER_ONLY, ENCODER_DECODER = "encoder", "decoder-only", "encoder-decoder"
ALLOWED_ARCHITECTURES: frozenset[str] = frozenset({ENCODER, DECODER_ONLY})
"""The architectures hf_mtl accepts as the shared backbone (see :func:`check_backbone`)."""


@dataclass(frozen=True)
class ExportLayout:
    """Where a family's single-task models keep the encoder and each head layer (``None``: it has no such layer).

    Args:
        encoder_prefix (`str`): The encoder's attribute in ``*ForTokenClassification`` / ``*ForSequenceClassification``
            (``"bert"``, ``"roberta"``, ``"deberta"``).
        text_dense / text_norm / text_classifier (`str`): Where the text head's dense layer, norm and classifier go
            in the family's ``*ForSequenceClassification``.
        token_dense / token_norm / token_classifier (`str`): The same for the token head in
            ``*ForTokenClassification``.
        text_refusal (`str`, *optional*): Why a text task cannot be exported exactly (Funnel's
            ``*ForSequenceClassification`` runs another encoder, ``FunnelBaseModel``; CANINE's pools the downsampled
            sequence); ``None``: it can.
    """

    encoder_prefix: str
    text_dense: str | None
    text_classifier: str
    token_classifier: str = "classifier"
    text_norm: str | None = None
    token_dense: str | None = None
    token_norm: str | None = None
    text_refusal: str | None = None

    def head_layers(self, export_class: str) -> dict[str, str]:
        """Head layer -> its name in the family's ``export_class`` model (``{"classifier": "classifier"}``)."""
        if export_class == TOKEN_EXPORT_CLASS:
            layers = {"dense": self.token_dense, "norm": self.token_norm, "classifier": self.token_classifier}
        elif export_class == SEQUENCE_EXPORT_CLASS:
            layers = {"dense": self.text_dense, "norm": self.text_norm, "classifier": self.text_classifier}
        else:
            raise ValueError(f"No export layout for {export_class!r}; known: {[TOKEN_EXPORT_CLASS, SEQUENCE_EXPORT_CLASS]}.")
        return {layer: target for layer, target in layers.items() if target is not None}


@dataclass(frozen=True)
class EncoderFamily:
    """What hf_mtl knows about one encoder family.

    Args:
        model_type (`str`): The family's ``model_type`` (``"bert"``, ``"deberta-v2"``).
        pooler_activation (`str`): The activation between the text head's dense layer and its classifier, as in the
            family's ``*ForSequenceClassification`` (``tanh``: BERT's pooler).
        pooler_activation_setting (`str`, *optional*): A config attribute that overrides ``pooler_activation`` when
            set (DeBERTa's ``pooler_hidden_act``, BigBird's ``hidden_act``).
        position_offset (`int`): Position ids the family reserves before the first token (2 for RoBERTa-style
            position ids that start after the padding index): a window holds ``max_position_embeddings`` minus this.
        export (`ExportLayout`, *optional*): Where its single-task classes keep the weights; ``None``: no export.
        pooling (`str`): How its ``*ForSequenceClassification`` pools (a method of ``pooling.POOLING_METHODS``;
            ``cls``: the first token).
        pooling_setting (`str`, *optional*): A config attribute that overrides ``pooling`` (ModernBERT's
            ``classifier_pooling``); ``pooling_values`` maps hf_mtl's method names to that attribute's values.
        text_dense (`bool`): The text head has a dense layer + activation before the classifier (XLM's sequence
            summary and GTE-style identity heads have none).
        norm (`bool`): A ``LayerNorm`` follows the activation (ModernBERT's prediction head: ``norm_eps``,
            ``norm_bias``; the dense bias is ``classifier_bias``), on the text head and, with ``token_transform``,
            on the token head too.
        token_transform (`bool`): The token head runs the same dense + activation (+ norm) before its classifier.
        first_token_global_attention (`bool`): Text heads read an encoder pass with global attention on the first
            token (Longformer's ``*ForSequenceClassification`` sets it when none is given).
        pretrained_pooler (`str`): The name of the pooler's linear layer in the encoder's weights, which initialises
            each text head's dense layer (``pooler.dense``; ALBERT: ``pooler``).
        padding_dependent (`bool`): Its outputs for a sequence change with the amount of padding (Funnel's pooling,
            FNet's Fourier transform, YOSO's hashed attention): a warning is given when a model is built on it.
        mlm_head (`tuple[str, ...]`, *optional*): The modules of its ``*ForMaskedLM`` that a masked-lm head applies,
            in order, to the hidden states; ``None``: its children other than the encoder and loss modules, in the
            order they were made (``cls`` for BERT, ``lm_head`` for RoBERTa).
        layers (`str`): The dotted path of the encoder's list of transformer layers (``task_layers`` splits it).
        text_classifier_bias (`bool`): The text head's classifier has a bias (decoder LLMs' ``score`` has none).
        padding_side (`str`): The side the family's ``*ForSequenceClassification`` needs the padding on to compute
            what hf_mtl's text head computes (``right``; XLNet's reads the last position: ``left``, as its tokenizer
            pads). hf_mtl's own heads read the attention mask and give the same logits either way.
    """

    model_type: str
    pooler_activation: str = "tanh"
    pooler_activation_setting: str | None = None
    position_offset: int = 0
    export: ExportLayout | None = None
    pooling: str = "cls"
    pooling_setting: str | None = None
    pooling_values: Mapping[str, str] | None = None
    text_dense: bool = True
    norm: bool = False
    token_transform: bool = False
    first_token_global_attention: bool = False
    pretrained_pooler: str = "pooler.dense"
    padding_dependent: bool = False
    mlm_head: tuple[str, ...] | None = None
    layers: str = "encoder.layer"
    text_classifier_bias: bool = True
    padding_side: str = "right"

    def setting_of(self, pooling: str) -> str | None:
        """The value of ``pooling_setting`` that makes the family's own head pool with ``pooling`` (``None``: none)."""
        if not self.pooling_setting:
            return None
        return (self.pooling_values or {}).get(pooling)


def _bert(prefix: str, dense: str = "pooler.dense") -> ExportLayout:
    """BERT's layout: the pooler (dense + activation) in the encoder, ``classifier`` on top."""
    return ExportLayout(prefix, f"{prefix}.{dense}", "classifier")


def _roberta(prefix: str, token_classifier: str = "classifier") -> ExportLayout:
    """RoBERTa's layout: a ``classifier`` module with ``dense`` and ``out_proj`` on the first token."""
    return ExportLayout(prefix, "classifier.dense", "classifier.out_proj", token_classifier=token_classifier)


_MODERNBERT = ExportLayout("model", "head.dense", "classifier", text_norm="head.norm", token_dense="head.dense",
                           token_norm="head.norm")
_SUMMARY = ExportLayout("transformer", None, "sequence_summary.summary")
_CLS_MEAN = {"cls": "cls", "mean": "mean"}
_HIDDEN_ACT = {"pooler_activation": "gelu", "pooler_activation_setting": "hidden_act"}

ENCODER_FAMILIES: Mapping[str, EncoderFamily] = {
    family.model_type: family
    for family in (
        # BERT's pooler (dense + tanh on the first token) in the encoder, a classifier on top
        *(EncoderFamily(model_type, export=_bert(prefix)) for model_type, prefix in (
            ("bert", "bert"), ("ernie", "ernie"), ("megatron-bert", "bert"), ("rembert", "rembert"),
            ("roc_bert", "roc_bert"), ("mobilebert", "mobilebert"), ("layoutlm", "layoutlm"),
            ("markuplm", "markuplm"), ("luke", "luke"), ("gte", "gte"),
            ("nomic_bert", "nomic_bert"), ("squeezebert", "transformer"), ("tapas", "tapas"), ("bros", "bros"))),
        EncoderFamily("fnet", export=_bert("fnet"), padding_dependent=True),
        EncoderFamily("canine", export=ExportLayout(
            "canine", "canine.pooler.dense", "classifier",
            text_refusal="CanineForSequenceClassification pools the first token of the downsampled (molecule) "
                         "sequence, which the shared encoder's output does not hold")),
        EncoderFamily("albert", export=_bert("albert", dense="pooler"), pretrained_pooler="pooler"),
        # RoBERTa's classification head (dense + tanh on the first token, out_proj)
        *(EncoderFamily(model_type, position_offset=offset, export=_roberta(prefix)) for model_type, prefix, offset in (
            ("roberta", "roberta", 2), ("xlm-roberta", "roberta", 2), ("camembert", "roberta", 2),
            ("data2vec-text", "data2vec_text", 2), ("xlm-roberta-xl", "roberta", 2), ("ibert", "ibert", 2),
            ("roberta-prelayernorm", "roberta_prelayernorm", 2), ("xmod", "roberta", 2), ("mpnet", "mpnet", 2),
            ("lilt", "lilt", 2), ("jina_embeddings_v3", "roberta", 0), ("esm", "esm", 0),
            ("layoutlmv3", "layoutlmv3", 0))),
        EncoderFamily("esmc", export=_roberta("esmc", token_classifier="score")),
        EncoderFamily("longformer", position_offset=2, export=_roberta("longformer"),
                      first_token_global_attention=True),
        # the same head with the encoder's hidden activation
        *(EncoderFamily(model_type, export=_roberta(prefix), **_HIDDEN_ACT) for model_type, prefix in (
            ("big_bird", "bert"), ("convbert", "convbert"), ("roformer", "roformer"), ("mra", "mra"),
            ("nystromformer", "nystromformer"))),
        EncoderFamily("yoso", export=_roberta("yoso"), padding_dependent=True, **_HIDDEN_ACT),
        EncoderFamily("electra", pooler_activation="gelu", export=_roberta("electra")),
        EncoderFamily("deberta", pooler_activation="gelu", pooler_activation_setting="pooler_hidden_act",
                      export=ExportLayout("deberta", "pooler.dense", "classifier")),
        EncoderFamily("deberta-v2", pooler_activation="gelu", pooler_activation_setting="pooler_hidden_act",
                      export=ExportLayout("deberta", "pooler.dense", "classifier")),
        EncoderFamily("distilbert", pooler_activation="relu",
                      export=ExportLayout("distilbert", "pre_classifier", "classifier"),
                      mlm_head=("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector"),
                      layers="transformer.layer"),
        # ModernBERT: pooling from the config, then dense + activation + LayerNorm, on text and token heads
        *(EncoderFamily(model_type, pooler_activation="gelu", pooler_activation_setting="classifier_activation",
                        pooling_setting="classifier_pooling", pooling_values=_CLS_MEAN, norm=True,
                        token_transform=True, export=_MODERNBERT) for model_type in ("modernbert", "modernvbert")),
        EncoderFamily("ultrabert", pooling_setting="classifier_pooling", pooling_values=_CLS_MEAN, text_dense=False,
                      export=ExportLayout("model", None, "classifier")),
        EncoderFamily("eurobert", pooler_activation="gelu", pooling="late", pooling_setting="classifier_pooling",
                      pooling_values={"cls": "bos", "mean": "mean", "late": "late"},
                      export=ExportLayout("model", "dense", "classifier")),
        # XLM's sequence summary: the first token, projected straight to the labels
        EncoderFamily("xlm", text_dense=False, export=_SUMMARY),
        EncoderFamily("flaubert", text_dense=False, export=_SUMMARY),
        # XLNet: bidirectional once fine-tuned (no permutation mask), although transformers gives it a causal-LM
        # class; its sequence summary reads the LAST position (its tokenizer pads left and ends with <sep> <cls>),
        # projects it (summary_use_proj) and applies summary_activation; logits_proj is the classifier
        EncoderFamily("xlnet", pooling="last", pooling_setting="summary_type",
                      pooling_values={"last": "last", "cls": "first"}, pooler_activation_setting="summary_activation",
                      export=ExportLayout("transformer", "sequence_summary.summary", "logits_proj"),
                      padding_side="left"),
        # Funnel's sequence head runs FunnelBaseModel (no up-sampling), not the shared FunnelModel
        EncoderFamily("funnel", padding_dependent=True,
                      export=ExportLayout("funnel", "classifier.linear_hidden", "classifier.linear_out",
                                          text_refusal="FunnelForSequenceClassification runs FunnelBaseModel (no "
                                                       "up-sampling), not the shared FunnelModel")),
    )
}
"""Every family hf_mtl knows, keyed by ``model_type``; any other encoder gets the defaults of :class:`EncoderFamily`."""


def _model_type(model_type_or_config: Any) -> Any:
    if isinstance(model_type_or_config, str):
        return model_type_or_config
    if isinstance(model_type_or_config, Mapping):
        return model_type_or_config.get("model_type")
    return getattr(model_type_or_config, "model_type", None)


def encoder_family(model_type_or_config: Any) -> EncoderFamily:
    """The table's entry for a ``model_type`` (or an encoder config), the defaults for a family it does not list
    (:data:`DECODER_FAMILY`'s for a decoder-only LLM)."""
    model_type = _model_type(model_type_or_config)
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


def _norm_settings(encoder_config: Any, family: EncoderFamily) -> dict[str, Any]:
    if not family.norm:
        return {"norm_eps": None}
    return {"norm_eps": float(getattr(encoder_config, "norm_eps", 1e-5)),
            "norm_bias": bool(getattr(encoder_config, "norm_bias", True)),
            "dense_bias": bool(getattr(encoder_config, "classifier_bias", True))}


def text_head_settings(encoder_config: Any) -> dict[str, Any]:
    """The layers of the family's sequence head, as keyword arguments of a text head (``dense``, ``norm_eps``, ...)."""
    family = encoder_family(encoder_config)
    return {"dense": family.text_dense, **_norm_settings(encoder_config, family)}


def token_head_settings(encoder_config: Any) -> dict[str, Any]:
    """The layers the family's token head puts before its classifier (ModernBERT: dense + activation + norm)."""
    family = encoder_family(encoder_config)
    if not family.token_transform:
        return {"dense": False}
    return {"dense": True, "activation": pooler_activation(encoder_config), **_norm_settings(encoder_config, family)}


def position_offset(encoder_config: Any) -> int:
    """Position ids the encoder's family reserves before the first token (see :class:`EncoderFamily`)."""
    return encoder_family(encoder_config).position_offset


def exportable_families() -> list[str]:
    """The ``model_type`` of every family with an export layout, sorted."""
    return sorted(name for name, family in ENCODER_FAMILIES.items() if family.export is not None)


# ------------------------------------------------------------------ what kind of backbone a config describes
def _auto_names(mapping_name: str) -> Mapping[str, str]:
    from transformers.models.auto import modeling_auto

    return getattr(modeling_auto, mapping_name)


def _transformers_class(name: Any) -> Any:
    import transformers

    if isinstance(name, (tuple, list)):
        name = name[0] if name else None
    return getattr(transformers, name, None) if name else None


def architecture(encoder_config: Any) -> str:
    """:data:`ENCODER`, :data:`DECODER_ONLY` or :data:`ENCODER_DECODER`, read from the config alone (no weights).

    An encoder-decoder sets ``is_encoder_decoder`` or has a sequence-to-sequence LM form (T5, BART); a family of
    :data:`ENCODER_FAMILIES` is an encoder (XLNet, whose permutation-LM pretraining gives it a causal-LM class but
    whose fine-tuned attention is bidirectional); a decoder-only model sets ``is_decoder``, has a causal-LM form and
    no masked-LM form (GPT-2, Llama), or has transformers' last-token sequence head
    (``GenericForSequenceClassification``). Everything else is a bidirectional encoder, with or without a masked-LM
    form (CANINE has none).
    """
    model_type = _model_type(encoder_config)
    if getattr(encoder_config, "is_encoder_decoder", False) or model_type in _auto_names(
            "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES"):
        return ENCODER_DECODER
    if model_type in ENCODER_FAMILIES:  # the table lists encoders only (XLNet has a causal-LM class, but attends both ways)
        return ENCODER
    if getattr(encoder_config, "is_decoder", False):
        return DECODER_ONLY
    if model_type in _auto_names("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES") and model_type not in _auto_names(
            "MODEL_FOR_MASKED_LM_MAPPING_NAMES"):
        return DECODER_ONLY
    sequence_class = _transformers_class(_auto_names("MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES").get(model_type))
    if sequence_class is not None and any(base.__name__ == "GenericForSequenceClassification"
                                          for base in sequence_class.__mro__):
        return DECODER_ONLY
    return ENCODER


def check_backbone(encoder_config: Any) -> None:
    """Raise ``ValueError`` unless hf_mtl can use ``encoder_config``'s model as the shared backbone.

    Called on the config, before any weight is loaded or any data read (``MultiTaskModel.from_encoder``, the CLI).
    Encoder-decoders (T5, BART) are refused: their ``AutoModel`` is the whole encoder-decoder, and a single-task
    export could not be exact; the message says what to use instead.
    """
    model_type = _model_type(encoder_config)
    kind = architecture(encoder_config)
    if kind in ALLOWED_ARCHITECTURES:
        if not hasattr(encoder_config, "hidden_size"):
            raise ValueError(f"'{model_type}' config has no hidden_size; hf_mtl cannot size the heads for it.")
        return
    if kind == ENCODER_DECODER:
        raise ValueError(
            f"'{model_type}' is an encoder-decoder model; hf_mtl shares one bidirectional encoder between the tasks "
            "and does not cut the encoder out of a sequence-to-sequence checkpoint. Use an encoder checkpoint "
            "instead (BERT, RoBERTa, DeBERTa-v2, ELECTRA, ModernBERT, MiniLM, ...) or a decoder-only LLM (Llama, "
            "Qwen, Mistral, Gemma, GPT-2, SmolLM, ...)."
        )
    raise ValueError(f"'{model_type}' is a {kind} model, which hf_mtl cannot share between tasks; use an encoder "
                     "(BERT, RoBERTa, DeBERTa-v2, ...) or a decoder-only LLM (Llama, Qwen, GPT-2, ...).")


def supports_gradient_checkpointing(encoder_config: Any) -> bool:
    """Whether the family's ``AutoModel`` class declares gradient checkpointing (ALBERT, MPNet, Funnel do not)."""
    encoder_class = _transformers_class(_auto_names("MODEL_MAPPING_NAMES").get(_model_type(encoder_config)))
    return bool(getattr(encoder_class, "supports_gradient_checkpointing", False))


def unsupported_gradient_checkpointing(encoder_config: Any) -> str | None:
    """The one-line refusal for ``gradient_checkpointing`` on this encoder, ``None`` when its family supports it."""
    if supports_gradient_checkpointing(encoder_config):
        return None
    return (f"gradient_checkpointing is not supported by '{_model_type(encoder_config)}' encoders (transformers' "
            "model for this family does not implement it); remove `gradient_checkpointing: true`, or pick an encoder "
            "that supports it.")


# ------------------------------------------------------------------ decoder-only LLMs as backbones
DECODER_FAMILY = EncoderFamily("decoder", pooling="last", text_dense=False, text_classifier_bias=False)
"""What every decoder-only LLM family shares (``LlamaForSequenceClassification``, ``GPT2ForSequenceClassification``,
... all compute it): the text head reads the last real token (``pooling: last``) with one bias-free linear layer,
``score``; no dense layer, no activation. Token heads are dropout and a linear layer, as for encoders."""


def is_decoder_only(model_type_or_config: Any) -> bool:
    """Whether the backbone is a decoder-only LLM (:func:`architecture`).

    Example:
        >>> is_decoder_only("llama"), is_decoder_only("gpt2"), is_decoder_only("bert")
        (True, True, False)
    """
    return architecture(model_type_or_config) == DECODER_ONLY


def decoder_export_layout(single_task_model: Any) -> ExportLayout:
    """Where a decoder family's own ``*ForSequenceClassification`` / ``*ForTokenClassification`` (an instance) keeps
    the backbone (its ``base_model_prefix``: ``model``, ``transformer``) and the classifier (``score`` or
    ``classifier``): read from the class, since decoder families share the layout but not the names."""
    names = [name for name in ("score", "classifier") if hasattr(single_task_model, name)]
    if not names:
        raise ValueError(f"{type(single_task_model).__name__} has neither a `score` nor a `classifier` layer.")
    return ExportLayout(single_task_model.base_model_prefix, None, names[0], names[0])
