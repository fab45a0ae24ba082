"""Task heads: small modules that turn the encoder's hidden states into one task's logits, and own its loss.

Part of the *modeling core* (imports only torch, transformers and ``task_kinds.py``, relatively): copied next to
saved weights for ``trust_remote_code`` loading. Which head serves which task type is the task-kind registry's
decision (``task_kinds.TASK_KINDS``); a new kind adds its head class here and its entry there.

Every head has the same interface:

- ``forward(hidden_states, attention_mask) -> logits``
- ``loss(logits, labels, num_items_in_batch=None) -> loss`` (a mean over the labelled items, or a sum divided by
  ``num_items_in_batch`` when the Trainer passes it for exact gradient accumulation)
- ``check_labels(labels, input_shape, task_name)`` raising a clear ``ValueError`` on a wrong shape or dtype.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.activations import ACT2FN

from .task_kinds import IGNORE_INDEX, TEXT_CLASSIFICATION, TOKEN_CLASSIFICATION, task_kind

# Activation between the pooling dense layer and the classifier, per encoder family, chosen so that a text head
# maps one-to-one onto that family's own `*ForSequenceClassification` head (see hf_mtl.export.task_model).
POOLER_ACTIVATION_BY_MODEL_TYPE = {"electra": "gelu", "deberta-v2": "gelu", "distilbert": "relu"}


def default_pooler_activation(encoder_config: Any) -> str:
    """The activation a text head uses by default for this encoder (``tanh`` as in BERT's pooler)."""
    if encoder_config.model_type == "deberta-v2":
        return getattr(encoder_config, "pooler_hidden_act", "gelu")
    return POOLER_ACTIVATION_BY_MODEL_TYPE.get(encoder_config.model_type, "tanh")


def _reduce(loss_sum: torch.Tensor, count: torch.Tensor | int, num_items_in_batch: Any) -> torch.Tensor:
    if num_items_in_batch is not None:
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(loss_sum.device)
        return loss_sum / num_items_in_batch
    return loss_sum / max(int(count), 1)


class TokenClassificationHead(nn.Module):
    """Dropout and a linear layer on every token (NER, POS, chunking).

    Labels are `(batch, seq_len)` class ids with `-100` on tokens that are not scored (sub-words after the first,
    special tokens, padding). Loss: cross-entropy over the scored tokens.
    """

    task_type = TOKEN_CLASSIFICATION

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1, **_: Any) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.dropout(hidden_states))

    def check_labels(self, labels: torch.Tensor, input_shape: torch.Size, task_name: str) -> None:
        if labels.dim() != 2 or tuple(labels.shape) != tuple(input_shape[:2]):
            raise ValueError(
                f"Task '{task_name}' (token-classification) expects labels of shape (batch, seq_len) = "
                f"{tuple(input_shape[:2])} with -100 on unscored tokens, got shape {tuple(labels.shape)}."
            )
        if labels.is_floating_point():
            raise ValueError(f"Task '{task_name}' (token-classification) expects integer class ids, got {labels.dtype}.")
        valid = labels[labels != IGNORE_INDEX]
        if valid.numel() and (valid.min() < 0 or valid.max() >= self.num_labels):
            raise ValueError(
                f"Task '{task_name}': label ids must be in [0, {self.num_labels - 1}] or -100, "
                f"got values from {int(valid.min())} to {int(valid.max())}."
            )

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        labels = labels.to(logits.device)
        loss_sum = nn.functional.cross_entropy(
            logits.view(-1, self.num_labels).float(), labels.view(-1), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        return _reduce(loss_sum, (labels != IGNORE_INDEX).sum(), num_items_in_batch)


class SequenceClassificationHead(nn.Module):
    """A head on the first token: dropout, dense, activation, dropout, linear (as BERT's pooler + classifier).

    ``problem_type`` picks the loss: cross-entropy (`single_label_classification`, labels `(batch,)` ids),
    BCE-with-logits (`multi_label_classification`, labels `(batch, num_labels)` floats in {0, 1}) or MSE
    (`regression`, labels `(batch,)` floats, one output).
    """

    task_type = TEXT_CLASSIFICATION

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        dropout: float = 0.1,
        problem_type: str = "single_label_classification",
        pooler_activation: str = "tanh",
        **_: Any,
    ) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.problem_type = problem_type
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.activation = ACT2FN[pooler_activation]
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        pooled = self.activation(self.dense(self.dropout(hidden_states[:, 0])))
        return self.classifier(self.dropout(pooled))

    def check_labels(self, labels: torch.Tensor, input_shape: torch.Size, task_name: str) -> None:
        batch = input_shape[0]
        if self.problem_type == "single_label_classification":
            if labels.dim() != 1 or labels.shape[0] != batch or labels.is_floating_point():
                raise ValueError(
                    f"Task '{task_name}' (single-label text classification) expects labels of shape (batch,) = "
                    f"({batch},) holding integer class ids, got shape {tuple(labels.shape)} ({labels.dtype})."
                )
            valid = labels[labels != IGNORE_INDEX]  # -100: no label (an example of a task group lacking it)
            if valid.numel() and (valid.min() < 0 or valid.max() >= self.num_labels):
                raise ValueError(
                    f"Task '{task_name}': label ids must be in [0, {self.num_labels - 1}] or -100, "
                    f"got values from {int(valid.min())} to {int(valid.max())}."
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
            count = (labels != IGNORE_INDEX).sum()
        elif self.problem_type == "multi_label_classification":
            loss_sum = nn.functional.binary_cross_entropy_with_logits(logits, labels.float(), reduction="sum")
            count = labels.numel()
        else:
            loss_sum = nn.functional.mse_loss(logits.view(-1), labels.float().view(-1), reduction="sum")
            count = labels.numel()
        return _reduce(loss_sum, count, num_items_in_batch)


def build_head(task: dict[str, Any], encoder_config: Any) -> nn.Module:
    """Build the head described by one (normalized) task entry of a ``MultiTaskConfig``."""
    head_class = task_kind(task["type"]).head_class
    dropout = task.get("dropout")
    if dropout is None:
        dropout = getattr(encoder_config, "classifier_dropout", None)
    if dropout is None:
        dropout = getattr(encoder_config, "hidden_dropout_prob", 0.1)
    return head_class(
        hidden_size=encoder_config.hidden_size,
        num_labels=len(task["id2label"]),
        dropout=float(dropout),
        problem_type=task.get("problem_type") or "single_label_classification",
        pooler_activation=task.get("pooler_activation") or default_pooler_activation(encoder_config),
    )
