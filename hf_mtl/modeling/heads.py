"""Task heads: small modules that turn the encoder's hidden states into one task's logits, and own its loss.

Part of the *modeling core* (imports only torch, transformers and its siblings ``task_kinds.py`` and
``encoder_families.py``, relatively): copied next to saved weights for ``trust_remote_code`` loading. Each head
class registers itself for its task kind (``@register_head("token-classification")``) in :data:`HEAD_CLASSES`;
the kind's entry in ``task_kinds.TASK_KINDS`` decides everything else. A new kind adds its head class here and its
entry there.

Every head has the same interface:

- ``forward(hidden_states, attention_mask) -> logits``
- ``loss(logits, labels, num_items_in_batch=None) -> loss`` (a mean over the labelled items, or a sum divided by
  ``num_items_in_batch`` when the Trainer passes it for exact gradient accumulation)
- ``check_labels(labels, input_shape, task_name)`` raising a clear ``ValueError`` on a wrong shape or dtype. It
  reads only shapes and dtypes, never values: a value check would copy from the device on every step. Label ids
  are checked against the label list where the data is prepared (``hf_mtl.data.alignment``).

Example:

```python
>>> import torch
>>> head = head_class("token-classification")(hidden_size=8, num_labels=3)
>>> logits = head(torch.zeros(2, 5, 8))
>>> tuple(logits.shape), float(head.loss(logits, torch.full((2, 5), -100)))
((2, 5, 3), 0.0)

```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import nn
from transformers.activations import ACT2FN

from .crf import LinearChainCRF, gather_scored, scatter_scored
from .encoder_families import (
    encoder_family,
    family_pooling,
    pooler_activation,
    text_head_settings,
    token_head_settings,
)
from .masked_lm import TiedDecoder, mlm_head_modules
from .parsing import BiaffineParser
from .pooling import LATE, masked_mean, pool
from .task_kinds import IGNORE_INDEX, task_kind

HeadClass = TypeVar("HeadClass", bound=type)

HEAD_CLASSES: dict[str, type[nn.Module]] = {}
"""Task kind name -> the head class that serves it, filled by :func:`register_head` below."""


def register_head(kind_name: str) -> Callable[[HeadClass], HeadClass]:
    """Class decorator: the decorated head serves the tasks of kind ``kind_name`` (a key of ``TASK_KINDS``)."""
    task_kind(kind_name)  # a registered kind, or ValueError

    def register(cls: HeadClass) -> HeadClass:
        if kind_name in HEAD_CLASSES:
            raise ValueError(f"Kind {kind_name!r} already has a head ({HEAD_CLASSES[kind_name].__name__}).")
        HEAD_CLASSES[kind_name] = cls
        return cls

    return register


def head_class(kind_name: str) -> type[nn.Module]:
    """The head class registered for a task kind (``ValueError`` for an unknown kind or one without a head)."""
    task_kind(kind_name)
    if kind_name not in HEAD_CLASSES:
        raise ValueError(f"No head class is registered for {kind_name!r} tasks (see heads.register_head).")
    return HEAD_CLASSES[kind_name]


def _reduce(loss_sum: torch.Tensor, count: torch.Tensor | int, num_items_in_batch: Any) -> torch.Tensor:
    """``loss_sum`` over ``num_items_in_batch`` when given, else over ``count`` (at least 1), read on the device."""
    if num_items_in_batch is not None:
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(loss_sum.device)
        return loss_sum / num_items_in_batch
    return loss_sum / (count.clamp(min=1) if torch.is_tensor(count) else max(count, 1))


def add_family_layers(head: nn.Module, hidden_size: int, dense: bool, activation: str, norm_eps: float | None,
                      norm_bias: bool = True, dense_bias: bool = True) -> None:
    """Give ``head`` the layers its family puts before the classifier: ``dense`` + ``activation``, a ``norm``.

    ``encoder_families`` says which (``text_head_settings`` / ``token_head_settings``) and where the family's own
    classes keep them; :func:`apply_family_layers` runs them (the identity for a head without them).
    """
    if dense:
        head.dense = nn.Linear(hidden_size, hidden_size, bias=dense_bias)
        head.activation = ACT2FN[activation]
    if norm_eps is not None:
        head.norm = nn.LayerNorm(hidden_size, eps=norm_eps, bias=norm_bias)


def apply_family_layers(head: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """Run the layers :func:`add_family_layers` gave ``head``: dense, activation, norm (each when present)."""
    if getattr(head, "dense", None) is not None:
        hidden = head.activation(head.dense(hidden))
    return head.norm(hidden) if getattr(head, "norm", None) is not None else hidden


@register_head("token-classification")
class TokenClassificationHead(nn.Module):
    """Dropout and a linear layer on every token (NER, POS, chunking), optionally decoded with a CRF.

    Labels are `(batch, seq_len)` class ids with `-100` on tokens that are not scored (sub-words after the first,
    special tokens, padding). Loss: cross-entropy over the scored tokens; with ``decoder="crf"`` the negative
    log-likelihood of a linear-chain CRF over the scored tokens (:class:`~.crf.LinearChainCRF`), whose Viterbi path
    :meth:`decode` returns, never a transition the label scheme forbids.
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1, decoder: str | None = None,
                 labels: Sequence[str] | None = None, transform: dict[str, Any] | None = None, **_: Any) -> None:
        super().__init__()
        self.num_labels = num_labels
        self._problem = task_kind("token-classification").problem()
        transform = dict(transform or {"dense": False})
        add_family_layers(self, hidden_size, transform.pop("dense"), transform.pop("activation", "gelu"),
                          transform.pop("norm_eps", None), **transform)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)
        self.crf = LinearChainCRF(num_labels, labels=labels) if decoder == "crf" else None

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.dropout(apply_family_layers(self, hidden_states)))

    def check_labels(self, labels: torch.Tensor, input_shape: torch.Size, task_name: str) -> None:
        if labels.dim() != 2 or tuple(labels.shape) != tuple(input_shape[:2]):
            raise ValueError(
                f"Task '{task_name}' (token-classification) expects labels of shape (batch, seq_len) = "
                f"{tuple(input_shape[:2])} with -100 on unscored tokens, got shape {tuple(labels.shape)}."
            )
        if labels.is_floating_point():
            raise ValueError(f"Task '{task_name}' (token-classification) expects integer class ids, got {labels.dtype}.")

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        labels = labels.to(logits.device)
        if self.crf is not None:
            scored = labels != IGNORE_INDEX
            emissions, mask = gather_scored(logits, scored)
            tags, _ = gather_scored(labels, scored)
            loss_sum = -self.crf.log_likelihood(emissions, tags, mask).sum()
        else:
            loss_sum = nn.functional.cross_entropy(
                logits.view(-1, self.num_labels).float(), labels.view(-1), ignore_index=IGNORE_INDEX, reduction="sum"
            )
        return _reduce(loss_sum, self._problem.count_items(labels), num_items_in_batch)

    def decode(self, logits: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
        """Label ids ``(batch, seq_len)``: the argmax per token, or the CRF's Viterbi path over the ``scored`` tokens
        (first sub-words; other positions keep their argmax, which nothing reads)."""
        ids = logits.argmax(dim=-1)
        if self.crf is None:
            return ids
        emissions, mask = gather_scored(logits, scored.to(logits.device))
        return scatter_scored(ids, scored.to(logits.device), self.crf.viterbi(emissions, mask), mask)


@register_head("lemmatization")
class LemmatizationHead(TokenClassificationHead):
    """A token head whose labels are lemma edit rules (``lemma_rules.py``): the pipeline applies the predicted rule."""


@register_head("dependency-parsing")
class DependencyParsingHead(nn.Module):
    """Dropout and a biaffine parser (``parsing.py``): arc and relation scores for every pair of tokens.

    ``num_labels`` is the number of dependency relations. Labels are packed per word, ``head * num_labels +
    relation`` on each word's first sub-word and ``-100`` elsewhere; the loss is cross-entropy over each word's
    head plus over its relation at the gold head; :meth:`decode` returns a well-formed tree per sentence, packed
    the same way.
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1, **_: Any) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.dropout = nn.Dropout(dropout)
        self.parser = BiaffineParser(hidden_size, num_labels, dropout=dropout)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.parser(self.dropout(hidden_states))

    def check_labels(self, labels: torch.Tensor, input_shape: torch.Size, task_name: str) -> None:
        if labels.dim() != 2 or tuple(labels.shape) != tuple(input_shape[:2]) or labels.is_floating_point():
            raise ValueError(
                f"Task '{task_name}' (dependency-parsing) expects packed integer labels (head * relations + relation) "
                f"of shape (batch, seq_len) = {tuple(input_shape[:2])}, got {tuple(labels.shape)} ({labels.dtype})."
            )

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        loss_sum, count = self.parser.loss_sum(logits, labels)
        return _reduce(loss_sum, count, num_items_in_batch)

    def decode(self, logits: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
        """Packed ``(head, relation)`` per scored position (a tree per sentence), ``-100`` elsewhere."""
        return self.parser.decode_packed(logits, scored)


@register_head("text-classification")
class SequenceClassificationHead(nn.Module):
    """A pooled head: pooling, dropout, dense, activation, dropout, linear (as BERT's pooler + classifier); for a
    decoder LLM, the last real token, dropout and a bias-free linear layer (its family's ``score``).

    ``pooling`` (``pooling.py``) picks the vector: ``cls`` (the first token, BERT's pooler), ``mean``, ``max``,
    ``last`` (the last real token, as decoder LLMs' heads), or ``late`` (EuroBERT: the head runs on every token and
    its logits are averaged over the real tokens).

    ``problem_type`` picks the loss: cross-entropy (`single_label_classification`, labels `(batch,)` ids),
    BCE-with-logits (`multi_label_classification`, labels `(batch, num_labels)` floats in {0, 1}) or MSE
    (`regression`, labels `(batch,)` floats, one output).

    ``standardize`` (regression, ``{"mean": m, "std": s}`` fitted on the train targets): the linear layer predicts
    the standardised target ``(y - m) / s``, the loss is the MSE on that scale, and ``forward`` returns
    ``prediction * s + m``, the raw scale, so every consumer (pipeline, evaluation, ONNX) sees raw values.
    :meth:`export_state_dict` folds the affine into the linear layer for a plain transformers export.
    """

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        dropout: float = 0.1,
        problem_type: str = "single_label_classification",
        pooler_activation: str = "tanh",
        pooling: str = "cls",
        transform: dict[str, Any] | None = None,
        classifier_bias: bool = True,
        standardize: dict[str, float] | None = None,
        **_: Any,
    ) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.pooling = pooling
        self.problem_type = problem_type
        self.standardize = dict(standardize) if standardize else None
        self._problem = task_kind("text-classification").problem(problem_type)
        self.dropout = nn.Dropout(dropout)
        transform = dict(transform or {"dense": True})
        add_family_layers(self, hidden_size, transform.pop("dense"), pooler_activation, transform.pop("norm_eps", None),
                          **transform)
        self.classifier = nn.Linear(hidden_size, num_labels, bias=classifier_bias)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.pooling == LATE:
            logits = masked_mean(self._classify(hidden_states), attention_mask)
        else:
            logits = self._classify(pool(hidden_states, attention_mask, self.pooling))
        if self.standardize is not None:  # the layer predicts the standardised target; return the raw scale
            logits = logits * self.standardize["std"] + self.standardize["mean"]
        return logits

    def export_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict of the head as a plain ``*ForSequenceClassification`` holds it: with ``standardize``, the
        linear layer's weight times ``std`` and its bias times ``std`` plus ``mean`` (the same predictions on the
        raw scale, without the affine).

        Raises:
            ValueError: ``standardize`` with a non-zero ``mean`` on a bias-free linear layer (a decoder LLM's
                ``score``), which has no place for the mean.
        """
        state = dict(self.state_dict())
        if self.standardize is not None:
            mean, std = self.standardize["mean"], self.standardize["std"]
            state["classifier.weight"] = state["classifier.weight"] * std
            if "classifier.bias" in state:
                state["classifier.bias"] = state["classifier.bias"] * std + mean
            elif mean != 0:
                raise ValueError(f"the head's linear layer has no bias to hold the standardisation's mean ({mean:g})")
        return state

    def _classify(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(apply_family_layers(self, self.dropout(pooled))))

    def check_labels(self, labels: torch.Tensor, input_shape: torch.Size, task_name: str) -> None:
        batch = input_shape[0]
        if self.problem_type == "single_label_classification":
            if labels.dim() != 1 or labels.shape[0] != batch or labels.is_floating_point():
                raise ValueError(
                    f"Task '{task_name}' (single-label text classification) expects labels of shape (batch,) = "
                    f"({batch},) holding integer class ids, got shape {tuple(labels.shape)} ({labels.dtype})."
                )
        elif self.problem_type == "multi_label_classification":
            if tuple(labels.shape) != (batch, self.num_labels):
                raise ValueError(
                    f"Task '{task_name}' (multi-label text classification) expects multi-hot labels of shape "
                    f"(batch, num_labels) = ({batch}, {self.num_labels}), got shape {tuple(labels.shape)}."
                )
        elif labels.shape[0] != batch or labels.numel() != batch:
            raise ValueError(
                f"Task '{task_name}' (regression) expects one float target per example, shape ({batch},), "
                f"got shape {tuple(labels.shape)}."
            )

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        labels = labels.to(logits.device)
        logits = logits.float()
        if self.problem_type == "single_label_classification":
            loss_sum = nn.functional.cross_entropy(logits, labels.long(), ignore_index=IGNORE_INDEX, reduction="sum")
        elif self.problem_type == "multi_label_classification":
            loss_sum = nn.functional.binary_cross_entropy_with_logits(logits, labels.float(), reduction="sum")
        else:
            predictions, targets = logits.view(-1), labels.float().view(-1)
            if self.standardize is not None:  # the loss on the standardised scale, whatever the targets' units
                mean, std = self.standardize["mean"], self.standardize["std"]
                predictions, targets = (predictions - mean) / std, (targets - mean) / std
            loss_sum = nn.functional.mse_loss(predictions, targets, reduction="sum")
        return _reduce(loss_sum, self._problem.count_items(labels), num_items_in_batch)


@register_head("masked-lm")
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
        self._problem = task_kind("masked-lm").problem()
        self.head_names, modules, self.tied = mlm_head_modules(encoder_config)
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
        return _reduce(self.loss_sum(logits, labels), self._problem.count_items(labels.to(logits.device)),
                       num_items_in_batch)

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


def build_head(task: dict[str, Any], encoder_config: Any) -> nn.Module:
    """Build the head described by one (normalized) task entry of a ``MultiTaskConfig``."""
    kind = task_kind(task["type"])
    dropout = task.get("dropout")
    if dropout is None:
        dropout = getattr(encoder_config, "classifier_dropout", None)
    if dropout is None:
        dropout = getattr(encoder_config, "hidden_dropout_prob", 0.1)
    return head_class(kind.type_name)(
        hidden_size=encoder_config.hidden_size,
        num_labels=len(task["id2label"]),
        dropout=float(dropout),
        problem_type=kind.check_problem_type(task.get("problem_type")),
        pooler_activation=task.get("pooler_activation") or pooler_activation(encoder_config),
        pooling=task.get("pooling") or family_pooling(encoder_config),
        transform=text_head_settings(encoder_config) if kind.pooled else token_head_settings(encoder_config),
        classifier_bias=encoder_family(encoder_config).text_classifier_bias,
        decoder=kind.check_decoder(task.get("decoder")),
        labels=[task["id2label"][i] for i in sorted(task["id2label"])],
        standardize=task.get("standardize"),
        encoder_config=encoder_config,
    )


__all__ = ["HEAD_CLASSES", "DependencyParsingHead", "LemmatizationHead", "MaskedLMHead", "SequenceClassificationHead",
           "add_family_layers", "apply_family_layers",
           "TokenClassificationHead", "build_head", "head_class",
           "register_head"]
