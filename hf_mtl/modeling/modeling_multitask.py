"""The multi-task model: one shared encoder, one head per task, in an ``nn.ModuleDict`` keyed by task name.

Part of the *modeling core*: imports only torch, transformers and its sibling core files (by relative import:
configuration, heads, task kinds, loading checks), so ``save_pretrained`` copies them next to the weights and
``AutoModel.from_pretrained(folder, trust_remote_code=True)`` works where hf_mtl is not installed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, PretrainedConfig, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES
from transformers.utils import ModelOutput

from .configuration_multitask import MultiTaskConfig
from .errors import HfMtlError
from .heads import build_head
from .lora import LORA_BASE_ENCODER_KEY, inject_lora, is_adapter_weight
from .masked_lm import init_masked_lm_heads
from .modeling_loading import HoldLoadReport, encoder_loading_problem, loading_problem, remote_code_refusal
from .task_kinds import task_kind
from .task_layers import (
    TaskLayerRouter,
    add_task_copy,
    encode_routed,
    remove_task_copy,
    split_encoder,
    split_state,
    task_layer_owner,
    task_layer_slots,
)


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


def check_is_encoder(encoder_config: PretrainedConfig) -> None:
    """Raise ``ValueError`` unless ``encoder_config`` describes a bidirectional encoder (BERT-like)."""
    model_type = getattr(encoder_config, "model_type", None)
    if getattr(encoder_config, "is_encoder_decoder", False):
        raise ValueError(
            f"'{model_type}' is an encoder-decoder model; hf_mtl needs an encoder such as BERT, RoBERTa, "
            "DeBERTa-v2, ELECTRA or MiniLM."
        )
    if getattr(encoder_config, "is_decoder", False) or model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise ValueError(
            f"'{model_type}' is not an encoder (it has no masked-language-model form in transformers); hf_mtl "
            "needs a bidirectional encoder such as BERT, RoBERTa, DeBERTa-v2, ELECTRA or MiniLM."
        )
    if not hasattr(encoder_config, "hidden_size"):
        raise ValueError(f"'{model_type}' config has no hidden_size; hf_mtl cannot size the heads for it.")


def _tasks_to_dict(tasks: dict[str, dict[str, Any]] | list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if isinstance(tasks, dict):
        return dict(tasks)
    result: dict[str, dict[str, Any]] = {}
    for position, task in enumerate(tasks):
        task = dict(task)
        name = task.pop("name", None)
        if name is None:
            raise ValueError(f"Task #{position} has no 'name'.")
        if name in result:
            raise ValueError(f"Duplicate task name '{name}': every task needs its own name.")
        result[name] = task
    return result


class NoPooler(nn.Module):
    """Stands in for an encoder's pooler: no weights, no output (``pooler_output`` is ``None``)."""

    def forward(self, *args: Any, **kwargs: Any) -> None:
        return None


class MultiTaskModel(PreTrainedModel):
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
        # Task-specific top layers (config.task_layers): slots in the encoder's layer list, routed per batch.
        self._task_router = TaskLayerRouter()
        if config.task_layers:
            split_encoder(self.encoder, config.task_layers, self._task_router, list(config.tasks))
        self.heads = nn.ModuleDict({name: build_head(task, config.encoder) for name, task in config.tasks.items()})
        for head in self.heads.values():
            self._tie_head(head)
        self.post_init()
        if getattr(config, "lora", None):
            inject_lora(self, config.lora)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *model_args: Any, **kwargs: Any) -> MultiTaskModel:
        """[`PreTrainedModel.from_pretrained`], reading weights from safetensors only.

        `use_safetensors` defaults to `True`: a folder or repository that has only a pickled `pytorch_model.bin` is
        refused (`OSError: Error no file named model.safetensors ...`) rather than unpickled.
        """
        if kwargs.get("use_safetensors") is None:
            kwargs["use_safetensors"] = True
        kwargs["trust_remote_code"] = False  # this class's own code loads the weights; never the folder's
        config = kwargs.pop("config", None)
        if not isinstance(config, MultiTaskConfig):
            hub_kwargs = {k: kwargs[k] for k in ("revision", "token", "cache_dir", "local_files_only") if k in kwargs}
            config = MultiTaskConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
        if getattr(config, "lora", None):
            return cls._from_adapter(pretrained_model_name_or_path, config, **kwargs)
        output_loading_info = kwargs.pop("output_loading_info", False)
        lenient = kwargs.get("ignore_mismatched_sizes", False)
        kwargs["ignore_mismatched_sizes"] = True  # reported below, by name and shape, instead of a bare RuntimeError
        # transformers logs a loading report (a table) for any key that does not match; it is held back and shown
        # only when the model loads (an error says it in one line instead).
        held = HoldLoadReport()
        report_logger = logging.getLogger("transformers.modeling_utils")
        report_logger.addFilter(held)
        try:
            model, info = super().from_pretrained(
                pretrained_model_name_or_path, *model_args, config=config, output_loading_info=True, **kwargs
            )
        finally:
            report_logger.removeFilter(held)
        problem = None if lenient else loading_problem(model, info)
        if problem:
            raise ValueError(
                f"{pretrained_model_name_or_path} cannot be loaded exactly: {problem}; refusing to run it with "
                "random or unused weights (re-save the model with save_pretrained)."
            )
        for record in held.records:
            report_logger.handle(record)
        return (model, info) if output_loading_info else model

    @classmethod
    def _from_adapter(cls, path: Any, config: MultiTaskConfig, **kwargs: Any) -> MultiTaskModel:
        """Load an adapter-only save: the base encoder from `config.lora.base_encoder`, then adapters and heads."""
        from safetensors.torch import load_file
        from transformers.utils import SAFE_WEIGHTS_NAME, cached_file

        hub_kwargs = {k: kwargs[k] for k in ("revision", "token", "cache_dir", "local_files_only") if k in kwargs}
        base = config.lora.get(LORA_BASE_ENCODER_KEY)
        if not base:
            raise OSError(f"{path}: config.lora names no base encoder ('{LORA_BASE_ENCODER_KEY}'); cannot load the adapters.")
        try:
            model = cls.from_encoder(base, tasks=config.tasks, task_layers=config.task_layers, dtype=kwargs.get("dtype"))
        except OSError as error:
            raise OSError(
                f"{path} holds LoRA adapters for the encoder '{base}', which cannot be loaded ({error}); "
                "make it available (a local folder or a Hub id) or load a merged copy of the model."
            ) from error
        inject_lora(model, config.lora)
        state = load_file(cached_file(path, SAFE_WEIGHTS_NAME, **hub_kwargs))
        expected = {name for name in model.state_dict() if is_adapter_weight(name)}
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise OSError(
                f"{path}: the adapter weights do not match the config ({len(missing)} missing, e.g. {missing[:2]}; "
                f"{len(unexpected)} unexpected, e.g. {unexpected[:2]}); the folder is damaged or from another model."
            )
        model.load_state_dict(state, strict=False)
        model.config = config
        model.config._name_or_path = str(path)
        return model.eval()

    def save_pretrained(self, save_directory: Any, *args: Any, state_dict: dict[str, Any] | None = None,
                        **kwargs: Any) -> Any:
        """[`PreTrainedModel.save_pretrained`], also declaring the `multitask` pipeline for remote code.

        `config.json` gets a `custom_pipelines` entry, and the pipeline's files are copied next to the weights with
        the modeling code (they are relative imports of this file), so `pipeline("multitask", model=folder,
        trust_remote_code=True)` works where hf_mtl is not installed. The in-memory config is left as it was.

        A model with LoRA adapters saves only the adapters and the heads; its `config.json` keeps the adapter
        settings and the base encoder (`lora.base_encoder`), which `from_pretrained` loads first. Merge the adapters
        (`hf_mtl.training.lora.merge_lora`) to save a self-contained model.
        """
        if getattr(self.config, "lora", None):
            state_dict = state_dict if state_dict is not None else self.state_dict()
            state_dict = {name: tensor for name, tensor in state_dict.items() if is_adapter_weight(name)}
        # A relative import (not at the top: the pipeline is needed only here) so that transformers copies
        # inference.py, pipeline_multitask.py and what they import along with this file, on save and on remote-code
        # loading: the files copied are exactly the modeling folder (a test checks it).
        from .inference import custom_pipelines

        previous = self.config.__dict__.get("custom_pipelines")
        self.config.custom_pipelines = custom_pipelines()
        try:
            return super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)
        finally:
            if previous is None:
                del self.config.custom_pipelines
            else:
                self.config.custom_pipelines = previous

    @classmethod
    def from_encoder(
        cls,
        encoder_name_or_path: str,
        tasks: dict[str, dict[str, Any]] | list[dict[str, Any]],
        task_layers: Any = None,
        **encoder_kwargs: Any,
    ) -> MultiTaskModel:
        """Build a new multi-task model around a pretrained encoder.

        The encoder's weights are loaded exactly; heads are newly initialised. When the encoder checkpoint has a
        pretrained pooler (BERT), each text head's dense layer starts from it, as `BertForSequenceClassification`
        does.

        Args:
            encoder_name_or_path: a local folder or Hub id of an encoder (`AutoModel.from_pretrained`).
            tasks: `{name: settings}` or a list of settings with a `name` key; see [`MultiTaskConfig`].
            task_layers: task-specific top layers (an `int` for every task, `{task: k}`, or
                `{group: {"layers": k, "tasks": [...]}}`); each copy starts from the pretrained layers. See
                [`MultiTaskConfig`] and `docs/capacity.md`.
            encoder_kwargs: passed to `AutoModel.from_pretrained` (e.g. `revision`, `dtype`). Weights are read from
                safetensors only (`use_safetensors=True` unless given): a `pytorch_model.bin`-only encoder is refused.
        """
        tasks = _tasks_to_dict(tasks)
        if encoder_kwargs.get("use_safetensors") is None:
            encoder_kwargs["use_safetensors"] = True  # never unpickle a pytorch_model.bin
        encoder_kwargs.pop("trust_remote_code", None)  # hf_mtl never runs a folder's code: False below
        encoder_kwargs.pop("output_loading_info", None)
        lenient = encoder_kwargs.get("ignore_mismatched_sizes", False)
        encoder_kwargs["ignore_mismatched_sizes"] = True  # reported below by name and shape
        held = HoldLoadReport()
        report_logger = logging.getLogger("transformers.modeling_utils")
        report_logger.addFilter(held)
        try:
            pretrained, info = AutoModel.from_pretrained(encoder_name_or_path, output_loading_info=True,
                                                         trust_remote_code=False, **encoder_kwargs)
        except ValueError as error:
            refusal = remote_code_refusal(error, encoder_name_or_path)
            if refusal:
                raise HfMtlError(refusal) from None
            raise
        finally:
            report_logger.removeFilter(held)
        problem = None if lenient else encoder_loading_problem(info)
        if problem:
            raise HfMtlError(
                f"The encoder {encoder_name_or_path} cannot be loaded exactly: {problem}; refusing to train on random "
                "weights (use a complete checkpoint of the encoder)."
            )
        for record in held.records:
            report_logger.handle(record)
        check_is_encoder(pretrained.config)
        config = MultiTaskConfig(encoder=pretrained.config, tasks=tasks, task_layers=task_layers)
        model = cls(config)
        state = pretrained.state_dict()
        pooler_state = {k[len("pooler.") :]: v for k, v in state.items() if k.startswith("pooler.")}
        encoder_state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
        model.encoder.load_state_dict(split_state(encoder_state, *task_layer_slots(model.encoder)), strict=True)
        model._pretrained_pooler = pooler_state or None
        for name in tasks:
            model._init_head_from_pooler(name, model.heads[name])
        init_masked_lm_heads({name: head for name, head in model.heads.items() if hasattr(head, "load_family_head")},
                             encoder_name_or_path, encoder_kwargs)
        model.config._name_or_path = str(encoder_name_or_path)
        return model.to(pretrained.dtype)

    def _tie_head(self, head: nn.Module) -> None:
        """A head whose decoder is the encoder's word embeddings (masked-lm) reads them from the encoder (one owner)."""
        if hasattr(head, "tie_input_embeddings"):
            head.tie_input_embeddings(self.encoder.get_input_embeddings())

    def _init_head_from_pooler(self, name: str, head: nn.Module) -> None:
        pooler = getattr(self, "_pretrained_pooler", None)
        if pooler and task_kind(self.config.tasks[name]["type"]).pooled and "dense.weight" in pooler:
            with torch.no_grad():
                head.dense.weight.copy_(pooler["dense.weight"])
                head.dense.bias.copy_(pooler["dense.bias"])

    def add_task(self, name: str, task: dict[str, Any], task_layers: int = 0, copy_name: str | None = None) -> nn.Module:
        """Add a new task and its freshly initialised head (transfer learning to a new task).

        Args:
            task_layers: give the task its own copy of the top `task_layers` encoder layers, initialised from the
                shared layers there (where every task already has its own, from the model's first copy).
            copy_name: the task group whose copy the task joins (or names a new one); default: the task's name.

        Example:
            >>> model.add_task("topic", {"type": "text-classification", "labels": ["world", "sports"]})
        """
        self.config.add_task(name, task)
        try:
            add_task_copy(self.encoder, self.config, self._task_router, name, task_layers, copy_name or name,
                          self.training)
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
        """Remove a task and its head (and its top layers, when no other task of its group uses them)."""
        self._check_task(name)
        remove_task_copy(self.encoder, self.config, name)
        del self.heads[name]
        del self.config.tasks[name]

    def _init_weights_of(self, module: nn.Module) -> None:
        for submodule in module.modules():
            self._init_weights(submodule)

    # ------------------------------------------------------------------ freezing
    def freeze_encoder(self) -> None:
        """Freeze the encoder: only heads train (feature extraction)."""
        self.encoder.requires_grad_(False)

    def unfreeze_encoder(self) -> None:
        """Make the encoder trainable again (fine-tuning)."""
        self.encoder.requires_grad_(True)

    @property
    def encoder_frozen(self) -> bool:
        """True when no encoder parameter requires gradients."""
        return not any(p.requires_grad for p in self.encoder.parameters())

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
        # Tasks with their own top layers (config.task_layers): the encoder runs once, routed to the first copy; the
        # layers where another copy differs then run again on what the slots recorded (the shared bottom runs once).
        routes = {name: task_layer_owner(self.config.task_layers, name) for name in names}
        encoded, hidden = encode_routed(self.encoder, self._task_router, inputs, list(dict.fromkeys(routes.values())))
        attention_mask = encoder_inputs.get("attention_mask")
        logits = {name: self.heads[name](hidden[routes[name]], attention_mask) for name in names}
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
