"""How a :class:`~.modeling_multitask.MultiTaskModel` is built and stored: around a pretrained encoder
(``from_encoder``), from a saved folder (``from_pretrained``, exact or refused; adapter-only LoRA saves) and to one
(``save_pretrained``, with the remote-code pipeline declared).

Part of the *modeling core* (a mixin of the model class): imports only torch, transformers and its siblings.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from transformers import AutoModel

from .configuration_multitask import MultiTaskConfig
from .encoder_families import check_backbone
from .errors import HfMtlError
from .lora import LORA_BASE_ENCODER_KEY, TASK_ADAPTER_MARKER, inject_lora, is_adapter_weight
from .masked_lm import init_masked_lm_heads
from .modeling_loading import (
    HoldLoadReport,
    encoder_loading_problem,
    loading_problem,
    read_encoder_config,
    remote_code_refusal,
    warn_if_padding_dependent,
)
from .task_layers import split_state, task_layer_slots

if TYPE_CHECKING:
    from .modeling_multitask import MultiTaskModel

__all__ = ["PretrainedMultiTaskMixin"]


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


class PretrainedMultiTaskMixin:
    """``from_encoder``, ``from_pretrained``, ``save_pretrained`` and ``encoder_config`` of the multi-task model."""

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
            model = cls.from_encoder(base, tasks=config.tasks, task_layers=config.task_layers,
                                     task_adapters=config.task_adapters, dtype=kwargs.get("dtype"))
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
        task_adapters: Any = None,
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
            task_adapters: per-task low-rank adapters on the shared encoder (`True`, settings for every task,
                `{task: settings}` or `{group: {"tasks": [...], ...}}`); each starts as LoRA does (`B = 0`). See
                `docs/capacity.md`.
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
        encoder_config = cls.encoder_config(encoder_name_or_path, **encoder_kwargs)
        check_backbone(encoder_config)  # before any weight is read
        warn_if_padding_dependent(encoder_config)
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
        config = MultiTaskConfig(encoder=pretrained.config, tasks=tasks, task_layers=task_layers,
                                 task_adapters=task_adapters)
        model = cls(config)
        state = pretrained.state_dict()
        pooler_state = {k[len("pooler.") :]: v for k, v in state.items() if k.startswith("pooler.")}
        encoder_state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
        encoder_state = split_state(encoder_state, *task_layer_slots(model.encoder))
        # per-task adapters keep their fresh start (A random, B = 0): the pretrained encoder has none
        encoder_state.update({k: v for k, v in model.encoder.state_dict().items() if TASK_ADAPTER_MARKER in k})
        model.encoder.load_state_dict(encoder_state, strict=True)
        model._pretrained_pooler = pooler_state or None
        for name in tasks:
            model._init_head_from_pooler(name, model.heads[name])
        init_masked_lm_heads({name: head for name, head in model.heads.items() if hasattr(head, "load_family_head")},
                             encoder_name_or_path, encoder_kwargs)
        model.config._name_or_path = str(encoder_name_or_path)
        return model.to(pretrained.dtype)

    encoder_config = staticmethod(read_encoder_config)
