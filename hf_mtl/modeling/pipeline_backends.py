"""What runs the model behind the ``multitask`` pipeline: PyTorch (eager or ``torch.compile``), or a graph.

[`MultiTaskPipeline`] tokenizes, windows and post-processes; a *backend* turns a batch of windows into every
asked head's logits and decodes the token tasks' label ids. One pipeline, several backends, so every output kind
(entity groups, word tags with offsets, windows with ``stride``, ``top_k``/``threshold``, pre-split input,
datasets and generators) is computed by the same code whatever runs the model:

- [`TorchBackend`]: the [`MultiTaskModel`] itself (the default); with ``torch_compile=True`` a compiled function
  of the encoder and *every* head (dynamic batch and sequence sizes), so asking for other tasks reads other
  outputs of the same graph instead of compiling a new one;
- [`PipelineBackend`] subclasses that run an exported graph, e.g. ``hf_mtl.export.onnx_runtime.OnnxMultiTaskModel``
  (onnxruntime): passed as the pipeline's ``model``, they are their own backend.

Part of the modeling core (torch and siblings only): the ONNX backend lives in ``hf_mtl.export`` and plugs in here.
"""

from __future__ import annotations

from typing import Any

import torch

from .parsing import decode_packed
from .task_kinds import DEPENDENCIES, output_kind

__all__ = ["PipelineBackend", "TorchBackend"]

_ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class PipelineBackend:
    """The model side of [`MultiTaskPipeline`]: logits of the asked tasks for a batch, and token decoding.

    A subclass that is not a PyTorch model (an exported graph) also provides what transformers' `Pipeline` reads
    of a model: `config` (a [`MultiTaskConfig`]), `task_names`, `device`, `to(device)` and `eval()`; the pipeline
    then uses it as both its `model` and its backend.
    """

    config: Any

    def logits(self, model_inputs: dict[str, torch.Tensor], tasks: list[str]) -> dict[str, torch.Tensor]:
        """``{task: logits}`` for ``tasks``, as [`MultiTaskModel.forward_all_tasks`] returns them."""
        raise NotImplementedError

    def decode(self, task: str, logits: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
        """Label ids ``(batch, seq_len)`` of a token task from its logits (``scored``: the words' first sub-words).

        The default reads the logits only: the argmax, or the dependency tree of a parsing task (packed labels).
        A CRF needs its transition weights (:class:`TorchBackend` decodes with the model's head).
        """
        task_config = self.config.tasks[task]
        if output_kind(task_config) == DEPENDENCIES:
            return decode_packed(logits, scored, len(task_config["id2label"]))
        return logits.argmax(dim=-1)


class TorchBackend(PipelineBackend):
    """The [`MultiTaskModel`] behind the pipeline, eager or compiled.

    Args:
        model ([`MultiTaskModel`]): the model (in eval mode).
        torch_compile (`bool`, *optional*, defaults to `False`): run the encoder and every head as one
            `torch.compile`d function with dynamic shapes: compiled on the first batch (and once more when a
            later batch first shows another size, after which sizes are symbolic), never per task.
    """

    def __init__(self, model: Any, torch_compile: bool = False) -> None:
        self.model = model
        self.config = model.config
        self.compiled = None
        if torch_compile:
            self.compiled = torch.compile(self._all_heads, dynamic=True)

    def _all_heads(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   token_type_ids: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.model.forward_all_tasks(input_ids=input_ids, attention_mask=attention_mask,
                                            token_type_ids=token_type_ids)

    def logits(self, model_inputs: dict[str, torch.Tensor], tasks: list[str]) -> dict[str, torch.Tensor]:
        if self.compiled is None:
            return self.model.forward_all_tasks(**model_inputs, tasks=tasks)
        inputs = {key: model_inputs[key] for key in _ENCODER_INPUTS if key in model_inputs}
        every_head = self.compiled(**inputs)
        return {task: every_head[task] for task in tasks}

    def decode(self, task: str, logits: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
        return self.model.heads[task].decode(logits, scored)
