"""The masked-lm head: the encoder family's own MLM head, its decoder tied to the encoder's input embeddings.

The head is built from the family's ``AutoModelForMaskedLM`` class (``BertForMaskedLM``'s ``cls``, RoBERTa's
``lm_head``, ELECTRA's ``generator_predictions`` + ``generator_lm_head``; the modules and their order come from the
encoder-family table, ``EncoderFamily.mlm_head``), so it computes what that class computes on the same hidden
states, and a checkpoint's pretrained MLM head loads into it by name (:meth:`MaskedLMHead.load_family_head`).

The family's decoder shares its weight with the encoder's word embeddings. Shared weights need one owner, or
safetensors refuses "tensors that share memory": here the encoder owns it, and the decoder (:class:`TiedDecoder`)
holds only its bias and reads the embedding matrix when it runs (the model hands it the embeddings with
:meth:`MaskedLMHead.tie_input_embeddings`). A family whose config unties them (``tie_word_embeddings=False``) keeps
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
from .task_kinds import IGNORE_INDEX, MASKED_LM, task_kind

__all__ = ["MaskedLMHead", "TiedDecoder", "family_head_modules", "init_masked_lm_heads"]

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


class MaskedLMHead(nn.Module):
    """The encoder family's masked-language-model head on every token: logits over the vocabulary.

    Labels are `(batch, seq_len)` token ids on the masked positions and `-100` elsewhere (the collator masks each
    training batch as ``DataCollatorForLanguageModeling`` does). Loss: cross-entropy over the masked tokens.

    Args:
        encoder_config: The shared encoder's config (its family's ``*ForMaskedLM`` provides the modules).
        dropout: Unused (the family's head has no dropout); accepted as every head's setting.
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1, encoder_config: Any = None,
                 **_: Any) -> None:
        super().__init__()
        if encoder_config is None:
            raise ValueError("A masked-lm head is built from its encoder's config (encoder_config=...).")
        self._problem = task_kind(MASKED_LM).problem()
        family = AutoModelForMaskedLM.from_config(encoder_config)
        self.head_names = family_head_modules(family, encoder_config)
        decoder = family.get_output_embeddings()
        self.tied = bool(getattr(encoder_config, "tie_word_embeddings", True)) and decoder is not None
        if self.tied:
            family.set_output_embeddings(TiedDecoder(decoder.bias if decoder.bias is not None
                                                     else torch.zeros(decoder.out_features)))
        modules = {name: getattr(family, name) for name in self.head_names}
        for module in modules.values():
            for child in module.modules():
                # the family's second handle on the decoder's bias (BERT's `predictions.bias`, RoBERTa's
                # `lm_head.bias`): the decoder keeps the one parameter
                if "decoder" in child._modules and "bias" in child._parameters:
                    del child._parameters["bias"]
        self.family = nn.ModuleDict(modules)
        self.vocab_size = int(encoder_config.vocab_size)

    def tie_input_embeddings(self, embeddings: nn.Module) -> None:
        """Read the decoder weight from ``embeddings`` (the encoder's word embeddings), when the family ties them."""
        for module in self.modules():
            if isinstance(module, TiedDecoder):
                module.tie(embeddings)

    def load_family_head(self, mlm_model: nn.Module) -> None:
        """Copy the head weights of a ``*ForMaskedLM`` of the same family (a pretrained checkpoint's)."""
        for name in self.head_names:
            source = getattr(mlm_model, name).state_dict()
            target = self.family[name]
            missing, _ = target.load_state_dict({k: v for k, v in source.items() if k in target.state_dict()},
                                                strict=False)
            if missing:
                raise ValueError(f"The {type(mlm_model).__name__} head has no {missing[:3]}: not this family's head.")

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        for name in self.head_names:
            hidden_states = self.family[name](hidden_states)
        return hidden_states

    def check_labels(self, labels: torch.Tensor, input_shape: torch.Size, task_name: str) -> None:
        if labels.dim() != 2 or tuple(labels.shape) != tuple(input_shape[:2]) or labels.is_floating_point():
            raise ValueError(
                f"Task '{task_name}' (masked-lm) expects integer token ids of shape (batch, seq_len) = "
                f"{tuple(input_shape[:2])} with -100 on unmasked tokens, got {tuple(labels.shape)} ({labels.dtype})."
            )

    def loss_sum(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                           labels.to(logits.device).reshape(-1), ignore_index=IGNORE_INDEX,
                                           reduction="sum")

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        loss_sum = self.loss_sum(logits, labels)
        if num_items_in_batch is not None:
            if torch.is_tensor(num_items_in_batch):
                num_items_in_batch = num_items_in_batch.to(loss_sum.device)
            return loss_sum / num_items_in_batch
        return loss_sum / self._problem.count_items(labels.to(logits.device)).clamp(min=1)

    def decode(self, logits: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
        """The most likely token id at every position."""
        return logits.argmax(dim=-1)

    def metric_inputs(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """What perplexity reads, kept instead of the ``(batch, seq_len, vocab)`` logits: ``(batch, seq_len, 2)``
        with each masked token's negative log-likelihood and whether the argmax is right (0 elsewhere)."""
        labels = labels.to(logits.device)
        scored = labels != IGNORE_INDEX
        safe = labels.clamp(min=0)
        nll = -torch.log_softmax(logits.float(), dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
        correct = (logits.argmax(dim=-1) == safe).float()
        return torch.stack([nll * scored, correct * scored], dim=-1)


class _Silence(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def init_masked_lm_heads(heads: dict[str, MaskedLMHead], encoder: str, encoder_kwargs: dict[str, Any]) -> None:
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
