"""Serve an exported ONNX graph with the ``multitask`` pipeline: same pre/post-processing, onnxruntime underneath.

[`OnnxMultiTaskModel`] loads the folder written by ``hf-mtl export --onnx`` (``model.onnx``, or the int8
``model_quantized.onnx`` of ``--int8``, with ``config.json`` and the tokenizer) into an onnxruntime session. It is
a [`PipelineBackend`]: passed as the pipeline's model, [`MultiTaskPipeline`] tokenizes, cuts windows, groups
entities and maps labels exactly as for the PyTorch model; only the encoder-and-heads call runs in onnxruntime.
So every option of the pipeline works unchanged: entity groups, word tags with character offsets, ``stride``
windows, ``top_k``/``threshold``, pre-split words, datasets and generators (streamed), ``batch_size``.

onnxruntime is imported when a graph is loaded (``pip install "hf-mtl[onnx]"``), never by the modeling core.

Example:

```python
>>> from hf_mtl.export.onnx_runtime import onnx_pipeline
>>> nlp = onnx_pipeline("outputs/quickstart-onnx")                     # doctest: +SKIP
>>> nlp("Ada Lovelace lived in London.", tasks=["ner", "sentiment"])   # doctest: +SKIP
{'ner': [{'entity_group': 'PER', 'score': 0.98, 'word': 'Ada Lovelace', 'start': 0, 'end': 12}, ...], ...}
>>> # or with transformers' factory:
>>> from transformers import pipeline
>>> nlp = pipeline("multitask", model=OnnxMultiTaskModel.from_pretrained(folder), tokenizer=folder)  # doctest: +SKIP
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..modeling.configuration_multitask import MultiTaskConfig
from ..modeling.errors import HfMtlError
from ..modeling.pipeline_backends import PipelineBackend
from ..modeling.pipeline_multitask import MultiTaskPipeline
from .onnx_graph import ONNX_FILE, QUANTIZED_ONNX_FILE

__all__ = ["OnnxMultiTaskModel", "onnx_pipeline", "session_options"]


class OnnxMultiTaskModel(PipelineBackend):
    r"""An exported multi-task graph in an onnxruntime session, with the model's config (tasks and label names).

    Use [`from_pretrained`] to load one; pass it as the `model` of [`MultiTaskPipeline`] (or of
    `transformers.pipeline("multitask", ...)` with `tokenizer=` the folder).

    Args:
        session (`onnxruntime.InferenceSession`): the graph's session.
        config ([`MultiTaskConfig`]): the exported model's config.
    """

    def __init__(self, session: Any, config: MultiTaskConfig) -> None:
        self.session = session
        self.config = config
        self.input_names = [entry.name for entry in session.get_inputs()]
        outputs = [entry.name for entry in session.get_outputs()]
        missing = [task for task in config.tasks if f"logits_{task}" not in outputs]
        if missing:
            raise HfMtlError(f"The ONNX graph has no output for task(s) {missing} (expected logits_<task>); "
                             "re-export the model with `hf-mtl export --onnx`.")
        # the model's task order is the graph's output order (config.json is written with sorted keys)
        self._task_names = [name[len("logits_"):] for name in outputs if name[len("logits_"):] in config.tasks]
        config.tasks = {task: config.tasks[task] for task in self._task_names}  # the order the pipeline answers in
        self.device = torch.device("cpu")

    @classmethod
    def from_pretrained(cls, folder: str | Path, quantized: bool = False, file_name: str | None = None,
                        threads: int | None = None, providers: list[str] | None = None,
                        spinning: bool = False) -> OnnxMultiTaskModel:
        """Load ``folder``'s graph (``model.onnx``; ``model_quantized.onnx`` with ``quantized=True``) and config.

        Args:
            folder: A folder written by ``hf-mtl export --onnx`` (or [`export_onnx`]).
            quantized: Load the int8 graph written by ``--int8``.
            file_name: Another graph file in ``folder`` (overrides ``quantized``).
            threads: onnxruntime's intra-op threads (default: onnxruntime's, one per physical core).
            providers: onnxruntime execution providers (default: CPU).
            spinning: Let idle intra-op threads spin-wait for work (onnxruntime's default) instead of sleeping. Off
                by default: between two batches the pipeline tokenizes and post-processes in Python, and a spinning
                thread takes a core from it and from other processes (on 2 shared cores, 15% slower; see
                docs/benchmarks.md).
        """
        try:
            import onnxruntime
        except ImportError:
            raise HfMtlError('Serving an ONNX graph needs onnxruntime: pip install "hf-mtl[onnx]"') from None
        folder = Path(folder)
        path = folder / (file_name or (QUANTIZED_ONNX_FILE if quantized else ONNX_FILE))
        if not path.is_file():
            hint = " (export with --int8 to write it)" if path.name == QUANTIZED_ONNX_FILE else ""
            raise HfMtlError(f"{path} does not exist{hint}: export the model with `hf-mtl export --onnx MODEL {folder}`.")
        if not (folder / "config.json").is_file():
            raise HfMtlError(f"{folder} has no config.json (the tasks and label names): re-export it with hf-mtl.")
        session = onnxruntime.InferenceSession(str(path), session_options(threads, spinning),
                                               providers=providers or ["CPUExecutionProvider"])
        return cls(session, MultiTaskConfig.from_pretrained(folder, trust_remote_code=False))

    # what transformers' Pipeline reads of a model
    @property
    def task_names(self) -> list[str]:
        return list(self._task_names)

    def to(self, device: Any) -> OnnxMultiTaskModel:
        if torch.device(device).type != "cpu":
            raise HfMtlError(f"An OnnxMultiTaskModel runs where its onnxruntime providers do; pass device='cpu', not "
                             f"{device!r} (for CUDA, load it with providers=['CUDAExecutionProvider']).")
        return self

    def eval(self) -> OnnxMultiTaskModel:
        return self

    def forward_all_tasks(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                          token_type_ids: torch.Tensor | None = None, tasks: list[str] | None = None,
                          **_: Any) -> dict[str, torch.Tensor]:
        """``{task: logits}`` for ``tasks`` (default: all), as [`MultiTaskModel.forward_all_tasks`] returns them."""
        tasks = list(tasks or self.task_names)
        unknown = [task for task in tasks if task not in self.config.tasks]
        if unknown:
            raise HfMtlError(f"Unknown task(s) {unknown}: this graph has tasks {self.task_names}.")
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        if given["token_type_ids"] is None:
            given["token_type_ids"] = torch.zeros_like(input_ids)
        feed = {name: np.ascontiguousarray(given[name].detach().cpu().numpy().astype(np.int64, copy=False))
                for name in self.input_names}
        arrays = self.session.run([f"logits_{task}" for task in tasks], feed)
        return {task: torch.from_numpy(array) for task, array in zip(tasks, arrays, strict=True)}

    def logits(self, model_inputs: dict[str, torch.Tensor], tasks: list[str]) -> dict[str, torch.Tensor]:
        return self.forward_all_tasks(**model_inputs, tasks=tasks)


def session_options(threads: int | None = None, spinning: bool = False) -> Any:
    """The ``onnxruntime.SessionOptions`` of a served graph: every graph optimization, one operator at a time
    (``ORT_SEQUENTIAL``, one inter-op thread: an encoder is a chain), ``threads`` intra-op threads (default:
    onnxruntime's, one per physical core) that sleep rather than spin when idle unless ``spinning``."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return options


def onnx_pipeline(folder: str | Path, quantized: bool = False, threads: int | None = None, spinning: bool = False,
                  **pipeline_kwargs: Any) -> MultiTaskPipeline:
    """A [`MultiTaskPipeline`] over ``folder``'s ONNX graph and tokenizer (see the module docstring).

    Args:
        folder: A folder written by ``hf-mtl export --onnx``.
        quantized: Serve the int8 graph (``--int8``).
        threads: onnxruntime's intra-op threads.
        spinning: Idle intra-op threads spin instead of sleeping (see [`OnnxMultiTaskModel.from_pretrained`]).
        pipeline_kwargs: Options of [`MultiTaskPipeline`] (`tasks`, `batch_size`, `stride`, `top_k`, ...).
    """
    from transformers import AutoTokenizer

    model = OnnxMultiTaskModel.from_pretrained(folder, quantized=quantized, threads=threads, spinning=spinning)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    pipeline_kwargs.setdefault("device", "cpu")
    return MultiTaskPipeline(model=model, tokenizer=tokenizer, **pipeline_kwargs)
