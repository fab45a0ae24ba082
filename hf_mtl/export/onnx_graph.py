"""Export a multi-task model to ONNX: one graph, one encoder pass, every head's logits.

The graph takes the tokenizer's ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the encoder uses
them), int64, shaped ``[batch, sequence]`` with both dimensions dynamic, and returns one output per task, named
``logits_<task>``: ``[batch, sequence, labels]`` for token tasks, ``[batch, labels]`` for text tasks (raw
logits: apply softmax, sigmoid (multi-label) or nothing (regression) as the task needs). The folder also holds
``config.json`` (the label names of every task, ``tasks.<name>.id2label``) and the tokenizer, so a server
needs onnxruntime and ``tokenizers``/``transformers``, not hf_mtl or torch.

It is made with ``torch.onnx.export`` (the ``torch.export``-based exporter, which needs ``onnxscript``) and,
where onnxruntime is installed, checked against PyTorch on inputs of another batch size and length than the
traced ones. Install both with ``pip install "hf-mtl[onnx]"``.

Example:

```python
>>> from hf_mtl import MultiTaskModel
>>> from hf_mtl.export.onnx_graph import export_onnx
>>> model = MultiTaskModel.from_pretrained("outputs/quickstart")  # doctest: +SKIP
>>> export_onnx(model, "outputs/quickstart-onnx", tokenizer)  # doctest: +SKIP
PosixPath('outputs/quickstart-onnx/model.onnx')
```
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..modeling.errors import HfMtlError
from ..modeling.modeling_multitask import MultiTaskModel

logger = logging.getLogger("hf_mtl")

__all__ = ["ONNX_FILE", "OnnxExportError", "check_onnx", "export_onnx", "onnx_input_names", "onnx_output_names"]

ONNX_FILE = "model.onnx"
# Weights above this size go to a separate ``model.onnx.data`` file (a protobuf file holds at most 2 GiB).
_EXTERNAL_DATA_BYTES = 1 << 30


class OnnxExportError(HfMtlError):
    """The ONNX export could not be made, or does not match the PyTorch model."""


class _AllHeads(nn.Module):
    """``forward_all_tasks`` with positional tensor inputs and a tuple of logits (what the exporter traces)."""

    def __init__(self, model: MultiTaskModel):
        super().__init__()
        self.model = model
        self.tasks = list(model.task_names)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        logits = self.model.forward_all_tasks(input_ids=input_ids, attention_mask=attention_mask,
                                              token_type_ids=token_type_ids)
        return tuple(logits[task] for task in self.tasks)


def onnx_input_names(model: MultiTaskModel, tokenizer: Any = None) -> list[str]:
    """The graph's inputs: ``input_ids``, ``attention_mask`` and, when the encoder takes them (and the tokenizer
    makes them), ``token_type_ids``."""
    names = ["input_ids", "attention_mask"]
    takes_types = "token_type_ids" in inspect.signature(model.encoder.forward).parameters
    if takes_types and (tokenizer is None or "token_type_ids" in getattr(tokenizer, "model_input_names", [])):
        names.append("token_type_ids")
    return names


def onnx_output_names(model: MultiTaskModel) -> list[str]:
    """``logits_<task>`` for every task, in the model's task order."""
    return [f"logits_{task}" for task in model.task_names]


def _example_inputs(model: MultiTaskModel, names: list[str], batch: int, length: int, seed: int) -> dict[str, torch.Tensor]:
    """Random ids with some padding (the last row is shorter), zero token types."""
    generator = torch.Generator().manual_seed(seed)
    vocab = int(getattr(model.config.encoder, "vocab_size", 1000))
    ids = torch.randint(5, max(vocab, 6), (batch, length), generator=generator)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[-1, length // 2 :] = 0
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros(batch, length, dtype=torch.long)}
    return {name: inputs[name] for name in names}


def _cpu_float32(model: MultiTaskModel) -> MultiTaskModel:
    parameter = next(model.parameters())
    if parameter.device.type == "cpu" and parameter.dtype == torch.float32:
        return model
    return copy.deepcopy(model).to(device="cpu", dtype=torch.float32)


def export_onnx(
    model: MultiTaskModel,
    save_directory: str | Path,
    tokenizer: Any = None,
    *,
    opset_version: int | None = None,
    check: bool = True,
    atol: float = 1e-4,
) -> Path:
    """Write ``model`` as one ONNX graph returning every head's logits, with its config (and tokenizer).

    Args:
        model: The multi-task model (exported from CPU float32 weights; a model elsewhere is copied).
        save_directory: The folder to write: ``model.onnx`` (plus ``model.onnx.data`` for weights over 1 GiB),
            ``config.json`` and, when given, the tokenizer's files.
        tokenizer: Saved with the graph; also decides whether ``token_type_ids`` is an input.
        opset_version: The ONNX opset (default: the exporter's).
        check: Compare onnxruntime's outputs with PyTorch's on inputs of another shape than the traced ones
            (skipped, with a warning, when onnxruntime is not installed).
        atol: The largest absolute difference ``check`` accepts.

    Returns:
        The path of ``model.onnx``.

    Raises:
        OnnxExportError: the exporter's dependencies are missing, a task decodes with a CRF, or the check fails.
    """
    try:
        import onnxscript  # noqa: F401  (the torch.export-based exporter needs it)
    except ImportError:
        raise OnnxExportError('ONNX export needs onnx and onnxscript: pip install "hf-mtl[onnx]"') from None
    crf_tasks = [name for name, task in model.config.tasks.items() if task.get("decoder") == "crf"]
    if crf_tasks:
        raise OnnxExportError(
            f"Task(s) {crf_tasks} decode with a CRF (decoder: crf), whose Viterbi search the ONNX graph does not hold; "
            "serve this model with the multitask pipeline, or remove those tasks (model.remove_task) before exporting."
        )
    source = _cpu_float32(model).eval()
    folder = Path(save_directory)
    created = not folder.exists()
    before = set(folder.iterdir()) if folder.is_dir() else set()
    try:
        return _export_and_check(source, folder, tokenizer, opset_version, check, atol)
    except BaseException as error:
        # nothing half-written is left behind: the files this call wrote go (and the folder, if it made it)
        for written in (set(folder.iterdir()) if folder.is_dir() else set()) - before:
            shutil.rmtree(written) if written.is_dir() else written.unlink(missing_ok=True)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        if isinstance(error, OnnxExportError) or not isinstance(error, Exception):
            raise
        first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise OnnxExportError(
            f"ONNX export of this {source.config.encoder.model_type} model failed ({type(error).__name__}: "
            f"{first[:300]}); the '{source.config.encoder.model_type}' family cannot be traced by torch.onnx "
            "(dynamo) here: serve it with the multitask pipeline or export one task with --task."
        ) from error


def _export_and_check(source: MultiTaskModel, folder: Path, tokenizer: Any, opset_version: int | None, check: bool,
                      atol: float) -> Path:
    """The body of :func:`export_onnx`: trace, write, and compare with PyTorch on inputs of another shape."""
    names = onnx_input_names(source, tokenizer)
    outputs = onnx_output_names(source)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ONNX_FILE
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    example = _example_inputs(source, names, batch=2, length=8, seed=0)
    size = sum(p.numel() * p.element_size() for p in source.parameters())
    with torch.no_grad():
        torch.onnx.export(
            _AllHeads(source).eval(), tuple(example.values()), str(path), input_names=names, output_names=outputs,
            dynamic_shapes={name: {0: batch, 1: sequence} for name in names}, opset_version=opset_version,
            dynamo=True, external_data=size > _EXTERNAL_DATA_BYTES,
        )
    if check:
        try:
            differences = check_onnx(source, path, names)
        except ImportError:
            logger.warning("onnxruntime is not installed: %s was not checked against PyTorch", path)
        else:
            worst = max(differences, key=differences.get)
            if differences[worst] > atol:
                raise OnnxExportError(
                    f"{path}: onnxruntime and PyTorch differ by {differences[worst]:.2e} on {worst} (atol {atol:.0e})"
                )
            logger.info("%s matches PyTorch: max |difference| %s", path, {k: f"{v:.1e}" for k, v in differences.items()})
    _write_config(source, folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    return path


def _write_config(model: MultiTaskModel, folder: Path) -> None:
    """``config.json`` for the labels, without ``auto_map``: the folder holds no PyTorch code, and a config naming
    remote code makes ``AutoTokenizer.from_pretrained(folder)`` ask whether to run it."""
    settings = model.config.to_dict()
    settings.pop("auto_map", None)
    (folder / "config.json").write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def check_onnx(model: MultiTaskModel, path: str | Path, input_names: list[str] | None = None,
               batch: int = 3, length: int = 13) -> dict[str, float]:
    """Run the ONNX graph with onnxruntime and PyTorch on the same random padded batch.

    Returns:
        ``{output name: max |onnxruntime - PyTorch|}``.

    Raises:
        ImportError: onnxruntime is not installed.
    """
    import onnxruntime

    names = input_names or onnx_input_names(model)
    inputs = _example_inputs(model, names, batch=batch, length=length, seed=1)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(onnx_output_names(model), {name: tensor.numpy() for name, tensor in inputs.items()})
    with torch.no_grad():
        expected = model.forward_all_tasks(**inputs)
    return {
        f"logits_{task}": float((torch.from_numpy(array) - expected[task].float()).abs().max())
        for task, array in zip(model.task_names, got, strict=True)
    }
