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

import abc
import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from .encoder_families import encoder_family
from .errors import HfMtlError
from .heads import SequenceClassificationHead
from .parsing import decode_packed
from .task_kinds import DEPENDENCIES, output_kind

__all__ = ["PipelineBackend", "TorchBackend", "intra_op_threads"]

_ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class PipelineBackend(abc.ABC):
    """The model side of [`MultiTaskPipeline`]: logits of the asked tasks for a batch, and token decoding.

    A subclass that is not a PyTorch model (an exported graph) also provides what transformers' `Pipeline` reads
    of a model: `config` (a [`MultiTaskConfig`]), `task_names`, `device`, `to(device)` and `eval()`; the pipeline
    then uses it as both its `model` and its backend.
    """

    config: Any

    @abc.abstractmethod
    def logits(self, model_inputs: dict[str, torch.Tensor], tasks: list[str]) -> dict[str, torch.Tensor]:
        """``{task: logits}`` for ``tasks``, as [`MultiTaskModel.forward_all_tasks`] returns them (each backend's
        own: an abstract method, so a backend without it cannot be built)."""

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
            `torch.compile`d function with dynamic batch and sequence sizes: compiled on the first batch, and once
            more for the first batch of a single window (torch specializes sizes 0 and 1), never per task: asking
            for other tasks reads other outputs of the same graph.
        num_threads (`int`, *optional*): torch's intra-op threads while the model runs (set for each batch and
            restored after it, so the rest of the process keeps its own setting). Default: torch's setting (one per
            core). On a CPU that other processes also use, fewer threads than cores is faster: a thread that loses
            its core stalls every operator's other threads at the next barrier (docs/benchmarks.md: 1 thread ran
            the pipeline 2.6x faster than 2 on 2 cores under a load of ~4).
    """

    def __init__(self, model: Any, torch_compile: bool = False, num_threads: int | None = None) -> None:
        if num_threads is not None and int(num_threads) < 1:
            raise HfMtlError(f"num_threads must be >= 1 (torch intra-op threads), got {num_threads}.")
        self.model = model
        self.config = model.config
        self.num_threads = None if num_threads is None else int(num_threads)
        self.compiled = None
        if torch_compile:
            self.compiled = torch.compile(self._all_heads, dynamic=True)
        self._stacks: dict[tuple[str, ...], _StackedTextHeads] = {}

    def _all_heads(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   token_type_ids: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.model.forward_all_tasks(input_ids=input_ids, attention_mask=attention_mask,
                                            token_type_ids=token_type_ids)

    def logits(self, model_inputs: dict[str, torch.Tensor], tasks: list[str]) -> dict[str, torch.Tensor]:
        with intra_op_threads(self.num_threads):
            return self._logits(model_inputs, tasks)

    def _logits(self, model_inputs: dict[str, torch.Tensor], tasks: list[str]) -> dict[str, torch.Tensor]:
        inputs = {key: model_inputs[key] for key in _ENCODER_INPUTS if key in model_inputs}
        if self.compiled is not None:
            every_head = self.compiled(**inputs)
            return {task: every_head[task] for task in tasks}
        # the stack reads the shared encoder's last hidden state: not with task-specific top layers, nor where the
        # family's text heads read another pass (Longformer's global attention on the first token)
        one_pass = not (self.config.task_layers or self.config.task_adapters or encoder_family(self.config.encoder).first_token_global_attention)
        stacked = ([task for task in tasks if _stackable(self.model.heads[task])]
                   if one_pass and not self.model.training else [])
        if len(stacked) < _MIN_STACKED:
            return self.model.forward_all_tasks(**inputs, tasks=tasks)
        # one encoder pass; the other heads as the model runs them, the text heads as two batched products
        others = [task for task in tasks if task not in set(stacked)]
        encoded, logits = self.model._encode_and_run_heads(others, inputs)[:2]
        logits.update(self._stack(stacked)(encoded.last_hidden_state))
        return {task: logits[task] for task in tasks}

    def _stack(self, tasks: list[str]) -> _StackedTextHeads:
        key = tuple(tasks)
        stack = self._stacks.get(key)
        if stack is None or not stack.is_current():
            if len(self._stacks) >= _STACK_CACHE:
                self._stacks.clear()
            stack = self._stacks[key] = _StackedTextHeads({task: self.model.heads[task] for task in tasks})
        return stack

    def decode(self, task: str, logits: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
        return self.model.heads[task].decode(logits, scored)


@contextlib.contextmanager
def intra_op_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads (``None``: unchanged), restoring the setting after."""
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# Stacking pays from a few heads on (each head is two small matrix products, each a thread fork/join on CPU and a
# kernel launch on GPU); below that the heads run one by one, as in training.
_MIN_STACKED = 4
_STACK_CACHE = 8  # stacked weights kept for this many task selections


def _stackable(head: Any) -> bool:
    """Whether ``head`` computes exactly ``classifier(activation(dense(hidden[:, 0])))``, what the stack computes:
    first-token pooling, a dense layer and a classifier with biases, no norm and no target standardisation."""
    return (type(head) is SequenceClassificationHead and head.pooling == "cls" and head.standardize is None
            and getattr(head, "dense", None) is not None and head.dense.bias is not None
            and head.classifier.bias is not None and getattr(head, "norm", None) is None)


class _StackedTextHeads:
    """Text heads (:class:`SequenceClassificationHead`, eval mode) as two batched products over stacked weights.

    Each head computes ``classifier(activation(dense(hidden[:, 0])))`` (dropout is the identity in eval mode); the
    stack computes the same for all of them at once, grouped by activation, the classifiers zero-padded to the
    widest. The results equal the heads' own up to float rounding (another summation order). The weights are
    copied once and re-copied when a parameter changes (its version counter moves) or moves.
    """

    def __init__(self, heads: dict[str, SequenceClassificationHead]) -> None:
        self.parameters = [p for head in heads.values() for p in (head.dense.weight, head.dense.bias,
                                                                   head.classifier.weight, head.classifier.bias)]
        self.versions = self._versions()
        groups: dict[Any, list[str]] = {}
        for task, head in heads.items():
            groups.setdefault(head.activation, []).append(task)
        self.groups = []
        with torch.no_grad():
            for activation, tasks in groups.items():
                widths = [heads[task].num_labels for task in tasks]
                first = heads[tasks[0]].classifier.weight
                classifier = first.new_zeros(len(tasks), max(widths), first.shape[1])
                bias = first.new_zeros(len(tasks), max(widths))
                for i, task in enumerate(tasks):
                    classifier[i, : widths[i]] = heads[task].classifier.weight
                    bias[i, : widths[i]] = heads[task].classifier.bias
                dense = torch.stack([heads[task].dense.weight for task in tasks])  # (heads, out, in)
                dense_bias = torch.stack([heads[task].dense.bias for task in tasks])
                self.groups.append((tasks, widths, activation, dense, dense_bias, classifier, bias))

    def _versions(self) -> list[Any]:
        return [(p._version, p.data_ptr()) for p in self.parameters]

    def is_current(self) -> bool:
        return self._versions() == self.versions

    def __call__(self, hidden_states: torch.Tensor) -> dict[str, torch.Tensor]:
        first = hidden_states[:, 0]  # (batch, hidden)
        logits: dict[str, torch.Tensor] = {}
        for tasks, widths, activation, dense, dense_bias, classifier, bias in self.groups:
            pooled = activation(torch.einsum("bi,hoi->hbo", first.to(dense.dtype), dense) + dense_bias[:, None])
            stacked = torch.baddbmm(bias[:, None], pooled, classifier.transpose(1, 2))  # (heads, batch, widest)
            logits.update({task: stacked[i, :, :width] for i, (task, width) in enumerate(zip(tasks, widths, strict=True))})
        return logits
