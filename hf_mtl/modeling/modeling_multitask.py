"""The multi-task model: one shared encoder, one head per task, in an ``nn.ModuleDict`` keyed by task name.

Part of the *modeling core*: imports only torch, transformers and its sibling core files (by relative import:
configuration, heads, task kinds, loading checks), so ``save_pretrained`` copies them next to the weights and
``AutoModel.from_pretrained(folder, trust_remote_code=True)`` works where hf_mtl is not installed.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_multitask import MultiTaskConfig
from .encoder_families import (
    encoder_family,
    is_decoder_only,
    unsupported_gradient_checkpointing,
)
from .errors import HfMtlError
from .heads import build_head
from .lora import TASK_ADAPTER_MARKER, inject_lora
from .modeling_loading import check_is_encoder
from .modeling_pretrained import PretrainedMultiTaskMixin
from .task_adapters import add_adapter_copy, inject_task_adapters, remove_adapter_copy
from .task_kinds import task_kind
from .task_layers import (
    TaskLayerRouter,
    add_task_copy,
    encode_routed,
    remove_task_copy,
    split_encoder,
    task_layer_owner,
)

logger = logging.getLogger(__name__)


@dataclass
class MultiTaskModelOutput(ModelOutput):
    """Output of [`MultiTaskModel.forward`] for one task, or for the tasks of a group batch.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): the task's loss (times its `loss_weight`), when
            `labels` are given; for a group batch the sum of its tasks' weighted losses.
        logits (`torch.FloatTensor`, or `dict[str, torch.FloatTensor]` for a group batch): `(batch, seq_len,
            num_labels)` for token tasks, `(batch, num_labels)` for text tasks.
        hidden_states, attentions: the encoder's, when asked for.
        task_losses (`dict[str, torch.FloatTensor]`, *optional*): group batches: each task's weighted loss
            (detached), for per-task logging.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | dict[str, torch.FloatTensor] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    task_losses: dict[str, torch.FloatTensor] | None = None


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count from each row's first real token: ``0, 1, 2, ...`` under right padding (what a decoder
    computes without them), the same for the real tokens of a left-padded row (its padding gets 0).

    Decoder LLMs number positions from the first column; with left padding their real tokens would get other
    positions (GPT-2's absolute embeddings; RoPE up to rounding), and so other logits, than the same text padded on
    the right.

    Example:
        >>> positions_from_mask(torch.tensor([[0, 0, 1, 1], [1, 1, 1, 0]])).tolist()
        [[0, 0, 0, 1], [0, 1, 2, 3]]
    """
    leading = (attention_mask.cumsum(dim=-1) == 0).sum(dim=-1, keepdim=True)
    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device).unsqueeze(0)
    return (positions - leading).clamp(min=0)



class NoPooler(nn.Module):
    """Stands in for an encoder's pooler: no weights, no output (``pooler_output`` is ``None``)."""

    def forward(self, *args: Any, **kwargs: Any) -> None:
        return None


class MultiTaskModel(PretrainedMultiTaskMixin, PreTrainedModel):
    r"""A shared pretrained encoder with one head per task.

    `forward(..., task="ner", labels=...)` runs the encoder and that task's head and returns its loss and logits.
    [`forward_all_tasks`] runs the encoder once and every head (inference). Heads live in `self.heads`
    (an `nn.ModuleDict`), so weights are named `heads.<task>.*`.

    Example:
        ```python
        >>> from hf_mtl import MultiTaskModel
        >>> model = MultiTaskModel.from_encoder(
        ...     "path/or/hub-id-of-an-encoder",
        ...     tasks={"ner": {"type": "token-classification", "labels": ["O", "B-PER", "I-PER"]},
        ...            "sentiment": {"type": "text-classification", "labels": ["negative", "positive"]}},
        ... )
        >>> outputs = model(**batch, task="ner")  # batch from the tokenizer, labels optional
        >>> model.save_pretrained("my-model")     # loads back with AutoModel (trust_remote_code=True without hf_mtl)
        ```
    """

    config_class = MultiTaskConfig
    config: MultiTaskConfig
    base_model_prefix = "encoder"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    # The heads compute sum / num_items_in_batch when the Trainer passes it, so gradient accumulation is exact.
    accepts_loss_kwargs = True

    def __init__(self, config: MultiTaskConfig) -> None:
        super().__init__(config)
        check_is_encoder(config.encoder)
        self.encoder = AutoModel.from_config(config.encoder)
        # Each text head owns its pooling layer; the encoder's pooler (BERT, RoBERTa) would be an unused weight. It is
        # replaced by a module without weights rather than None: some families (SqueezeBERT, LayoutLM) call it always.
        if getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = NoPooler()
            for name in ("pooler_activation", "activation"):  # ALBERT, BigBird: tanh(pooler(...))
                module = getattr(self.encoder, name, None)
                if isinstance(module, nn.Module) and not any(True for _ in module.parameters()):
                    setattr(self.encoder, name, NoPooler())
        # gradient checkpointing is the encoder's: declared per family, not for every MultiTaskModel
        self.supports_gradient_checkpointing = bool(getattr(self.encoder, "supports_gradient_checkpointing", False))
        # Task-specific top layers (config.task_layers): slots in the encoder's layer list, routed per batch.
        self._task_router = TaskLayerRouter()
        if config.task_layers:
            split_encoder(self.encoder, config.task_layers, self._task_router, list(config.tasks))
        self.heads = nn.ModuleDict({name: build_head(task, config.encoder) for name, task in config.tasks.items()})
        for head in self.heads.values():
            self._tie_head(head)
        # decoder LLMs number positions from the first column: counted from the first real token instead, so that left
        # padding gives what right padding gives
        self._positions_from_mask = is_decoder_only(config.encoder) and "position_ids" in inspect.signature(
            self.encoder.forward).parameters
        self.post_init()
        if config.task_adapters:  # per-task low-rank adapters: inside the shared layers, routed like task layers
            inject_task_adapters(self.encoder, config, self._task_router)
        if getattr(config, "lora", None):
            inject_lora(self, config.lora)


    def _tie_head(self, head: nn.Module) -> None:
        """A head whose decoder is the encoder's word embeddings (masked-lm) reads them from the encoder (one owner)."""
        if hasattr(head, "tie_input_embeddings"):
            head.tie_input_embeddings(self.encoder.get_input_embeddings())

    def _init_head_from_pooler(self, name: str, head: nn.Module) -> None:
        """Start a text head's dense layer from the encoder's pretrained pooler (BERT, ALBERT), as its family does."""
        pooler = getattr(self, "_pretrained_pooler", None)
        layer = encoder_family(self.config.encoder).pretrained_pooler[len("pooler."):]
        prefix = f"{layer}." if layer else ""
        dense = getattr(head, "dense", None)
        if (not pooler or not task_kind(self.config.tasks[name]["type"]).pooled or dense is None
                or f"{prefix}weight" not in pooler or pooler[f"{prefix}weight"].shape != dense.weight.shape):
            return
        with torch.no_grad():
            dense.weight.copy_(pooler[f"{prefix}weight"])
            if dense.bias is not None and f"{prefix}bias" in pooler:
                dense.bias.copy_(pooler[f"{prefix}bias"])

    def set_pad_token_id(self, pad_token_id: int | None) -> None:
        """Record the tokenizer's pad token id in the config and the encoder's config.

        A decoder LLM's own ``*ForSequenceClassification`` finds the last real token by ``pad_token_id``, so an
        exported task needs the id the tokenizer pads with ([`MultiTaskTrainer`] calls this with its tokenizer's).
        An encoder's ``pad_token_id`` is set only when it has none: BERT-like families read it when they build their
        embeddings (RoBERTa's position ids start after it), so a saved encoder's value is never changed.
        """
        if pad_token_id is None:
            return
        current = getattr(self.config.encoder, "pad_token_id", None)
        if current == pad_token_id or (current is not None and not is_decoder_only(self.config.encoder)):
            return
        if current is not None:
            logger.info("pad_token_id %s of the %s backbone set to the tokenizer's %s", current,
                        self.config.encoder.model_type, pad_token_id)
        for config in (self.config.encoder, self.encoder.config):
            config.pad_token_id = pad_token_id
        self.config.pad_token_id = pad_token_id

    def add_task(self, name: str, task: dict[str, Any], task_layers: int = 0, copy_name: str | None = None,
                 task_adapters: Any = None) -> nn.Module:
        """Add a new task and its freshly initialised head (transfer learning to a new task).

        Args:
            task_layers: give the task its own copy of the top `task_layers` encoder layers, initialised from the
                shared layers there (where every task already has its own, from the model's first copy).
            copy_name: the task group whose copy (or adapter) the task joins (or names a new one); default: the
                task's name.
            task_adapters: give the task its own low-rank adapter (`True` or settings, see
                `hf_mtl.modeling.task_adapters`), initialised as LoRA does (`B = 0`: the task starts from the shared
                encoder).

        Example:
            >>> model.add_task("topic", {"type": "text-classification", "labels": ["world", "sports"]})
        """
        self.config.add_task(name, task)
        try:
            add_task_copy(self.encoder, self.config, self._task_router, name, task_layers, copy_name or name,
                          self.training)
            if task_adapters and task_layers:
                raise HfMtlError(f"Task '{name}': give it task_layers or task_adapters, not both.")
            add_adapter_copy(self.encoder, self.config, self._task_router, name, task_adapters, copy_name or name)
        except HfMtlError:
            del self.config.tasks[name]
            raise
        head = build_head(self.config.tasks[name], self.config.encoder)
        self._init_weights_of(head)
        self._init_head_from_pooler(name, head)
        self._tie_head(head)
        reference = next(self.encoder.parameters())
        self.heads[name] = head.to(device=reference.device, dtype=reference.dtype).train(self.training)
        return self.heads[name]

    def remove_task(self, name: str) -> None:
        """Remove a task and its head (and its top layers or adapter, when no other task of its group uses them)."""
        self._check_task(name)
        remove_task_copy(self.encoder, self.config, name)
        remove_adapter_copy(self.encoder, self.config, name)
        del self.heads[name]
        del self.config.tasks[name]

    def _init_weights_of(self, module: nn.Module) -> None:
        for submodule in module.modules():
            self._init_weights(submodule)

    # ------------------------------------------------------------------ freezing
    def freeze_encoder(self) -> None:
        """Freeze the encoder: only heads (and per-task adapters, ``task_adapters``) train (feature extraction, or
        one frozen backbone with a LoRA per task)."""
        self.encoder.requires_grad_(False)
        for name, parameter in self.encoder.named_parameters():
            if TASK_ADAPTER_MARKER in name:
                parameter.requires_grad_(True)

    def unfreeze_encoder(self) -> None:
        """Make the encoder trainable again (fine-tuning)."""
        self.encoder.requires_grad_(True)

    @property
    def encoder_frozen(self) -> bool:
        """True when no shared encoder weight requires gradients (per-task adapters may)."""
        return not any(p.requires_grad for name, p in self.encoder.named_parameters()
                       if TASK_ADAPTER_MARKER not in name)

    # ------------------------------------------------------------------ forward
    @property
    def task_names(self) -> list[str]:
        """The model's task names."""
        return list(self.config.tasks)

    def _check_task(self, task: str | None) -> str:
        if task is None:
            if len(self.heads) == 1:
                return next(iter(self.heads))
            raise ValueError(f"Pass task=<name>: this model has several tasks {self.task_names}.")
        if task not in self.heads:
            raise ValueError(f"Unknown task '{task}': this model has tasks {self.task_names}.")
        return task

    def _encode_and_run_heads(
        self,
        names: list[str],
        encoder_inputs: Mapping[str, Any],
        labels: Mapping[str, torch.Tensor] | None = None,
        num_items_in_batch: Mapping[str, Any] | None = None,
        loss_weight: Mapping[str, float] | None = None,
    ) -> tuple[Any, dict[str, torch.Tensor], torch.Tensor | None, dict[str, torch.Tensor] | None]:
        """The one encode-then-heads path: encode once, run the heads of ``names``, and their losses if labelled.

        Labels are checked (shape and dtype only: no value is read back from the device) before the encoder runs.
        Each task's loss is its head's loss (a sum over ``num_items_in_batch[task]`` when given, at least 1: a step
        where no example carries the task's labels gives 0, not 0/0) times ``loss_weight[task]`` or, for a task
        left out, its configured ``loss_weight``.

        Returns:
            The encoder's output, ``{task: logits}``, the summed loss and ``{task: weighted loss}`` (``None``, ``None``
            without labels).
        """
        if labels is not None:
            input_ids = encoder_inputs.get("input_ids")
            input_shape = input_ids.shape if input_ids is not None else encoder_inputs["inputs_embeds"].shape[:2]
            for name in names:
                self.heads[name].check_labels(labels[name], input_shape, name)
        inputs = {key: value for key, value in encoder_inputs.items() if value is not None}
        if self._positions_from_mask and "position_ids" not in inputs and inputs.get("attention_mask") is not None:
            inputs["position_ids"] = positions_from_mask(inputs["attention_mask"])  # left padding = right padding
        encoded, hidden = self._encode(names, inputs)
        attention_mask = encoder_inputs.get("attention_mask")
        logits = {name: self.heads[name](hidden[name], attention_mask) for name in names}
        if labels is None:
            return encoded, logits, None, None
        loss, task_losses = None, {}
        for name in names:
            items = (num_items_in_batch or {}).get(name)
            if items is not None:
                items = items.clamp(min=1) if torch.is_tensor(items) else max(items, 1)
            weight = (loss_weight or {}).get(name, self.config.tasks[name]["loss_weight"])
            task_losses[name] = self.heads[name].loss(logits[name], labels[name], items) * weight
            loss = task_losses[name] if loss is None else loss + task_losses[name]
        return encoded, logits, loss, task_losses

    def _encode(self, names: list[str], inputs: dict[str, Any]) -> tuple[Any, dict[str, torch.Tensor]]:
        """The encoder's output and the hidden states each head of ``names`` reads.

        One pass serves every head, except where the family's sequence head encodes differently from its token head
        (Longformer: global attention on the first token, when the caller gives no ``global_attention_mask``): the
        text heads then read a second pass with it, so each head computes what its family's own class computes.
        """
        capacity = self.config.task_layers or self.config.task_adapters
        if capacity:
            # Tasks with their own top layers or adapters: the encoder runs once, routed to the first copy; the layers
            # where another copy differs then run again on what the slots recorded (the shared bottom runs once).
            routes = {name: task_layer_owner(capacity, name) for name in names}
            copies = list(dict.fromkeys(routes.values())) or [None]
            encoded, by_copy = encode_routed(self.encoder, self._task_router, inputs, copies)
            return encoded, {name: by_copy[routes[name]] for name in names}
        global_first = (encoder_family(self.config.encoder).first_token_global_attention
                        and "global_attention_mask" not in inputs)
        pooled = [name for name in names if global_first and task_kind(self.config.tasks[name]["type"]).pooled]
        plain = [name for name in names if name not in pooled]
        encoded, hidden = None, {}
        if plain or not pooled:  # (no head at all: the encoder's output alone)
            encoded = self.encoder(**inputs, return_dict=True)
            hidden.update(dict.fromkeys(plain, encoded.last_hidden_state))
        if pooled:
            reference = inputs["input_ids"] if "input_ids" in inputs else inputs["inputs_embeds"][..., 0]
            global_attention = torch.zeros(reference.shape[:2], dtype=torch.long, device=reference.device)
            global_attention[:, 0] = 1
            with_global = self.encoder(**inputs, global_attention_mask=global_attention, return_dict=True)
            hidden.update(dict.fromkeys(pooled, with_global.last_hidden_state))
            encoded = encoded if encoded is not None else with_global
        return encoded, hidden

    def activation_checkpointing_enable(self, *args: Any, **kwargs: Any) -> None:
        """[`PreTrainedModel.activation_checkpointing_enable`] (gradient checkpointing) for the encoder; ``ValueError``
        naming the family when its ``AutoModel`` does not support it (ALBERT, MPNet, Funnel, I-BERT). The deprecated
        ``gradient_checkpointing_enable`` reaches it too."""
        if not self.supports_gradient_checkpointing:
            raise ValueError(unsupported_gradient_checkpointing(self.config.encoder))
        super().activation_checkpointing_enable(*args, **kwargs)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | dict[str, torch.Tensor] | None = None,
        task: str | Sequence[str] | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        num_items_in_batch: torch.Tensor | int | dict[str, torch.Tensor | int] | None = None,
        loss_weight: float | dict[str, float] | None = None,
    ) -> MultiTaskModelOutput | tuple:
        r"""Run the encoder and one task's head, or (a group batch) the encoder once and several heads.

        Args:
            task (`str`, or a list of names): the task name (optional when the model has one task). A list (or
                `labels` given as a dict) makes a *group batch*: examples labelled for several tasks.
            labels (`torch.Tensor` or `dict[str, torch.Tensor]`, *optional*): token tasks `(batch, seq_len)` ids
                with -100 on unscored tokens; single-label text tasks `(batch,)` ids (-100: no label);
                multi-label `(batch, num_labels)` 0/1 floats; regression `(batch,)` floats. A group batch gives
                `{task: labels}`; the loss is then the sum of each task's weighted loss. Shapes and dtypes are
                checked here; label ids were checked against the label list when the data was prepared.
            num_items_in_batch: set by the Trainer under gradient accumulation: the loss is then the sum over
                this batch divided by it, which makes accumulated steps equal one large batch. A group batch
                takes `{task: count}`: each task's loss is exact for its own labels.
            loss_weight (`float`, *optional*): multiplies the loss instead of the task's configured `loss_weight`
                (the trainer's run-time `task_loss_weights`); the config is not changed. A group batch takes
                `{task: weight}` (tasks left out keep their configured weight).

        Example:
            ```python
            >>> out = model(**inputs, labels={"pos": pos_labels, "ner": ner_labels})  # one encoder pass
            >>> out.loss, out.task_losses["ner"], out.logits["pos"].shape
            ```
        """
        encoder_inputs = {
            "input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
            "position_ids": position_ids, "inputs_embeds": inputs_embeds,
            "output_hidden_states": output_hidden_states, "output_attentions": output_attentions,
        }
        group = isinstance(labels, Mapping) or (task is not None and not isinstance(task, str))
        if group:
            names = [self._check_task(name) for name in (list(labels) if task is None else list(task))]
            if not names:
                raise ValueError("A group batch needs at least one task (labels={} and no task names given).")
            if labels is not None:
                if set(labels) != set(names):
                    raise ValueError(f"A group batch for tasks {names} got labels for tasks {sorted(labels)}.")
                if num_items_in_batch is not None and not isinstance(num_items_in_batch, Mapping):
                    raise ValueError("A group batch takes num_items_in_batch as {task: count}, one count per task's labels.")
                if loss_weight is not None and not isinstance(loss_weight, Mapping):
                    raise ValueError("A group batch takes loss_weight as {task: weight}.")
        else:
            names = [self._check_task(task)]
            labels = None if labels is None else {names[0]: labels}
            num_items_in_batch = None if num_items_in_batch is None else {names[0]: num_items_in_batch}
            loss_weight = None if loss_weight is None else {names[0]: loss_weight}
        encoded, logits, loss, task_losses = self._encode_and_run_heads(
            names, encoder_inputs, labels, num_items_in_batch, loss_weight
        )
        output = MultiTaskModelOutput(
            loss=loss,
            logits=logits if group else logits[names[0]],
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
            task_losses={name: value.detach() for name, value in task_losses.items()} if group and task_losses else None,
        )
        return output if return_dict is not False else output.to_tuple()

    def forward_all_tasks(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        tasks: list[str] | None = None,
        **encoder_inputs: Any,
    ) -> dict[str, torch.Tensor]:
        """Run the encoder once and every head (or those in ``tasks``); returns ``{task: logits}``.

        This is what makes a multi-task model cheap at inference: one encoder pass serves every head. Of
        ``encoder_inputs``, ``position_ids`` and ``inputs_embeds`` reach the encoder; other keys are ignored.
        """
        names = [self._check_task(name) for name in (tasks or self.task_names)]
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
                  "position_ids": encoder_inputs.get("position_ids"), "inputs_embeds": encoder_inputs.get("inputs_embeds")}
        return self._encode_and_run_heads(names, inputs)[1]


__all__ = ["MultiTaskModel", "MultiTaskModelOutput", "NoPooler"]
