"""What the masked-lm head (``heads.MaskedLMHead``) is made of: the encoder family's own MLM head, its decoder tied
to the encoder's input embeddings.

The head is built from the family's ``AutoModelForMaskedLM`` class (``BertForMaskedLM``'s ``cls``, RoBERTa's
``lm_head``, ELECTRA's ``generator_predictions`` + ``generator_lm_head``; the modules and their order come from the
encoder-family table, ``EncoderFamily.mlm_head``), so it computes what that class computes on the same hidden
states, and a checkpoint's pretrained MLM head loads into it by name (``MaskedLMHead.load_family_head``).

The family's decoder shares its weight with the encoder's word embeddings. Shared weights need one owner, or
safetensors refuses "tensors that share memory": here the encoder owns it, and the decoder (:class:`TiedDecoder`)
holds only its bias and reads the embedding matrix when it runs (the model hands it the embeddings with
``MaskedLMHead.tie_input_embeddings``). A family whose config unties them (``tie_word_embeddings=False``) keeps
its own decoder weight.

Part of the *modeling core*: imports only torch and transformers and its siblings, relatively.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForMaskedLM

from .encoder_families import encoder_family

__all__ = ["TiedDecoder", "family_head_modules", "init_masked_lm_heads", "mlm_head_modules"]

logger = logging.getLogger(__name__)


class TiedDecoder(nn.Module):
    """``hidden @ embeddings.weight.T + bias``: a decoder whose weight is the input embedding matrix, owned elsewhere.

    The embedding module is kept outside the module tree (no second owner in the state dict); ``bias`` is the
    decoder's own.
    """

    def __init__(self, bias: torch.Tensor) -> None:
        super().__init__()
        self.bias = nn.Parameter(bias.detach().clone())
        self._embeddings: list[nn.Module] = []  # a list: not registered as a submodule

    def tie(self, embeddings: nn.Module) -> None:
        self._embeddings[:] = [embeddings]

    @property
    def weight(self) -> torch.Tensor:
        if not self._embeddings:
            raise RuntimeError("The masked-lm decoder is not tied to input embeddings (MultiTaskModel ties it).")
        return self._embeddings[0].weight

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(hidden_states, self.weight, self.bias)


def family_head_modules(mlm_model: nn.Module, encoder_config: Any) -> list[str]:
    """The names of the ``*ForMaskedLM`` modules that make up the family's MLM head, in the order they apply."""
    listed = encoder_family(encoder_config).mlm_head
    if listed is not None:
        return list(listed)
    base = getattr(mlm_model, "base_model_prefix", "")
    return [name for name, child in mlm_model.named_children()
            if name != base and not isinstance(child, nn.modules.loss._Loss)]


def mlm_head_modules(encoder_config: Any) -> tuple[list[str], dict[str, nn.Module], bool]:
    """The family's MLM head for ``encoder_config``: its module names (in the order they apply), the modules (the
    decoder a :class:`TiedDecoder` when the family ties it to the word embeddings, the family's second handle on its
    bias removed: one owner per weight) and whether it is tied."""
    family = AutoModelForMaskedLM.from_config(encoder_config)
    names = family_head_modules(family, encoder_config)
    decoder = family.get_output_embeddings()
    tied = bool(getattr(encoder_config, "tie_word_embeddings", True)) and decoder is not None
    if tied:
        family.set_output_embeddings(TiedDecoder(decoder.bias if decoder.bias is not None
                                                 else torch.zeros(decoder.out_features)))
    modules = {name: getattr(family, name) for name in names}
    for module in modules.values():
        for child in module.modules():
            # BERT's `predictions.bias`, RoBERTa's `lm_head.bias`: the decoder keeps the one parameter
            if "decoder" in child._modules and "bias" in child._parameters:
                del child._parameters["bias"]
    return names, modules, tied


class _Silence(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def init_masked_lm_heads(heads: dict[str, Any], encoder: str, encoder_kwargs: dict[str, Any]) -> None:
    """Start each masked-lm head from the encoder checkpoint's own MLM head when it has one, else as its family's
    ``*ForMaskedLM`` initialises one (the decoder tied to the pretrained word embeddings either way); logs which."""
    if not heads:
        return
    kwargs = {k: v for k, v in encoder_kwargs.items() if k not in ("ignore_mismatched_sizes", "add_pooling_layer")}
    # transformers reports an encoder-only checkpoint's missing head (a table, a "corrupted" warning on the tied
    # bias): expected here, and said in one line below
    held = _Silence()
    report_logger = logging.getLogger("transformers.modeling_utils")
    report_logger.addFilter(held)
    try:
        family, info = AutoModelForMaskedLM.from_pretrained(encoder, output_loading_info=True, trust_remote_code=False,
                                                            **kwargs)
    finally:
        report_logger.removeFilter(held)
    base = family.base_model_prefix
    missing = [key for key in info.get("missing_keys", ()) if not key.startswith(f"{base}.")]
    for head in heads.values():
        head.load_family_head(family)
    names = list(heads)
    if missing:
        logger.info("masked-lm task(s) %s: %s has no pretrained MLM head (%d weights missing, e.g. %s); the head starts "
                    "as %s initialises it, its decoder tied to the pretrained word embeddings", names, encoder,
                    len(missing), missing[0], type(family).__name__)
    else:
        logger.info("masked-lm task(s) %s: the head starts from %s's pretrained MLM head", names, encoder)
