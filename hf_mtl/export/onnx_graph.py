"""Export a multi-task model to ONNX: one graph, one encoder pass, every head's logits.

The graph takes the tokenizer's ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the encoder uses
them, so a sentence pair ``tokenizer(text, text_pair)`` encodes exactly as in PyTorch), int64, shaped ``[batch, sequence]`` with both dimensions dynamic, and returns one output per task, named
``logits_<task>``: ``[batch, sequence, labels]`` for token tasks, ``[batch, labels]`` for text tasks (raw
logits: apply softmax, sigmoid (multi-label) or nothing (regression) as the task needs). The folder also holds
``config.json`` (the label names of every task, ``tasks.<name>.id2label``) and the tokenizer, so a server
needs onnxruntime and ``tokenizers``/``transformers``, not hf_mtl or torch.

It is made with ``torch.onnx.export`` (the ``torch.export``-based exporter, which needs ``onnxscript``) and,
where onnxruntime is installed, checked against PyTorch on inputs of another batch size and length than the
traced ones; then, by default, rewritten with onnxruntime's fused operators where the rewritten graph passes the
same check (``optimize``, :mod:`hf_mtl.export.onnx_optimize`). Install both with ``pip install "hf-mtl[onnx]"``.

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

import contextlib
import copy
import inspect
import io
import json
import logging
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..modeling.errors import HfMtlError
from ..modeling.modeling_multitask import MultiTaskModel
from ..modeling.task_kinds import auxiliary_tasks, task_kind

logger = logging.getLogger("hf_mtl")

__all__ = ["ONNX_FILE", "QUANTIZED_ONNX_FILE", "OnnxExportError", "check_onnx", "export_onnx", "onnx_input_names",
           "onnx_output_names", "quantize_onnx"]

ONNX_FILE = "model.onnx"
QUANTIZED_ONNX_FILE = "model_quantized.onnx"  # the int8 graph of ``--int8`` (optimum's name for it)
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
    """Random ids with some padding (the last row is shorter) and token types of a sentence pair (0, then 1 from a
    third of the way; 0 on padding), so the check covers the second segment's type embedding."""
    generator = torch.Generator().manual_seed(seed)
    vocab = int(getattr(model.config.encoder, "vocab_size", 1000))
    ids = torch.randint(5, max(vocab, 6), (batch, length), generator=generator)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[-1, length // 2 :] = 0
    types = torch.zeros(batch, length, dtype=torch.long)
    types[:, length // 3 :] = 1
    type_vocab = int(getattr(model.config.encoder, "type_vocab_size", 2) or 0)
    types = types * mask if type_vocab > 1 else torch.zeros_like(types)  # an encoder with one token type: all 0
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
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
    int8: bool = False,
    keep_auxiliary: bool = False,
    optimize: bool = True,
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
        atol: The largest absolute difference ``check`` accepts (on real tokens: see :func:`check_onnx`).
        int8: Also write ``model_quantized.onnx``, the graph with int8 weights (:func:`quantize_onnx`).
        keep_auxiliary: Keep the heads of tasks that only train the encoder (masked-lm, whose vocabulary-wide
            logits would dominate the graph's outputs); by default they are left out of the graph.
        optimize: Rewrite the graph with onnxruntime's transformer optimizer (fused layer norms and GELUs:
            :func:`~hf_mtl.export.onnx_optimize.optimize_onnx_graph`), kept only if it passes the same check
            (needs ``check``); ``False`` keeps standard ONNX operators only (for runtimes other than onnxruntime).
            The int8 graph is quantized from the plain graph either way.

    Returns:
        The path of ``model.onnx``.

    Raises:
        OnnxExportError: the exporter's dependencies are missing, a task decodes with a CRF, the family cannot be
            traced with dynamic shapes (Longformer: data-dependent shapes; Funnel, CANINE: a fixed sequence length),
            or the check fails; no file of the export is left behind.
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
    dropped = [] if keep_auxiliary else auxiliary_tasks(model.config.tasks)
    if dropped:
        model = copy.deepcopy(model)
        for name in dropped:
            model.remove_task(name)
        logger.info("ONNX export: left out the head(s) of %s (masked-lm; keep_auxiliary=True keeps them)", dropped)
    source = _cpu_float32(model).eval()
    folder = Path(save_directory)
    created = not folder.exists()
    before = set(folder.iterdir()) if folder.is_dir() else set()
    try:
        return _export_and_check(source, folder, tokenizer, opset_version, check, atol, int8, optimize)
    except BaseException as error:
        # nothing half-written is left behind: the files this call wrote go (and the folder, if it made it)
        for written in (set(folder.iterdir()) if folder.is_dir() else set()) - before:
            shutil.rmtree(written) if written.is_dir() else written.unlink(missing_ok=True)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        if isinstance(error, OnnxExportError) or not isinstance(error, Exception):
            raise
        cause = _root_cause(error)
        first = next((line.strip() for line in _ANSI.sub("", str(cause)).splitlines() if line.strip()), "")
        raise OnnxExportError(
            f"ONNX export of this {source.config.encoder.model_type} model failed ({type(cause).__name__}: "
            f"{first[:300]}); the '{source.config.encoder.model_type}' family cannot be traced by torch.onnx "
            "(dynamo) here: serve it with the multitask pipeline or export one task with --task."
        ) from error


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the exporter colours its messages


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception of an error's ``__cause__`` chain: torch.onnx wraps the tracer's error
    (``GuardOnDataDependentSymNode: Could not guard on data-dependent expression ...``) in a generic
    ``TorchExportError`` whose first line says only which step failed."""
    seen = {id(error)}
    while error.__cause__ is not None and id(error.__cause__) not in seen:
        error = error.__cause__
        seen.add(id(error))
    return error


# a failed trace logs the whole partial graph as a warning (hundreds of lines before hf_mtl's one-line error), and
# every export warns that torchvision's operators are not registered: those loggers are raised to ERROR meanwhile
_TRACER_LOGGERS = ("torch.fx.experimental.symbolic_shapes", "torch.onnx._internal.exporter._registration")


@contextlib.contextmanager
def _quiet_tracer_loggers() -> Any:
    """Raise the tracer's chatty loggers to ERROR, and hold back what the exporter prints to stderr: a failed
    ``torch.export`` prints its whole partial graph there (``print(e.partial_fx_graph, file=sys.stderr)``), hundreds
    of lines before hf_mtl's one-line error. After a successful export the held text is written out as it came;
    after a failure it goes to this module's debug log only (the error names the cause)."""
    loggers = [logging.getLogger(name) for name in _TRACER_LOGGERS]
    levels = [entry.level for entry in loggers]
    for entry in loggers:
        entry.setLevel(logging.ERROR)
    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held):
            yield
    except BaseException:
        if held.getvalue():
            logger.debug("stderr of the failed ONNX trace:\n%s", held.getvalue())
        raise
    else:
        sys.stderr.write(held.getvalue())
    finally:
        for entry, level in zip(loggers, levels, strict=True):
            entry.setLevel(level)


def _check_dynamic_inputs(path: Path, model_type: str) -> None:
    """Refuse a graph whose inputs have a fixed batch size or length: the exporter specialises a dimension the
    family's code computes with as a Python number (Funnel's pooling, CANINE's downsampling), and the graph would
    then reject every other shape (found by onnxruntime only at serving time)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    for value in graph.input:
        for axis, dim in zip(("batch size", "sequence length"), value.type.tensor_type.shape.dim, strict=True):
            if not dim.dim_param:
                raise OnnxExportError(
                    f"ONNX export of this {model_type} model fixed the {axis} of {value.name} at {dim.dim_value} (the "
                    f"'{model_type}' family's code computes with it as a number), so the graph would reject every "
                    "other shape: serve it with the multitask pipeline or export one task with --task."
                )


def _export_and_check(source: MultiTaskModel, folder: Path, tokenizer: Any, opset_version: int | None, check: bool,
                      atol: float, int8: bool, optimize: bool) -> Path:
    """The body of :func:`export_onnx`: trace, write, compare with PyTorch on inputs of another shape, quantize,
    optimize."""
    names = onnx_input_names(source, tokenizer)
    outputs = onnx_output_names(source)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ONNX_FILE
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    example = _example_inputs(source, names, batch=2, length=8, seed=0)
    size = sum(p.numel() * p.element_size() for p in source.parameters())
    with torch.no_grad(), _quiet_tracer_loggers():
        torch.onnx.export(
            _AllHeads(source).eval(), tuple(example.values()), str(path), input_names=names, output_names=outputs,
            dynamic_shapes={name: {0: batch, 1: sequence} for name in names}, opset_version=opset_version,
            dynamo=True, external_data=size > _EXTERNAL_DATA_BYTES, verbose=False,
        )
    _check_dynamic_inputs(path, source.config.encoder.model_type)
    _write_config(source, folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    checked = False
    if check:
        try:
            differences = check_onnx(source, path, names)
        except ImportError:
            logger.warning("onnxruntime is not installed: %s was not checked against PyTorch", path)
        else:
            checked = True
            worst = max(differences, key=differences.get)
            if differences[worst] > atol:
                raise OnnxExportError(
                    f"{path}: onnxruntime and PyTorch differ by {differences[worst]:.2e} on {worst} (atol {atol:.0e})"
                )
            logger.info("%s matches PyTorch: max |difference| %s", path, {k: f"{v:.1e}" for k, v in differences.items()})
    if int8:
        quantize_onnx(path)  # from the plain graph: the int8 accuracy measured in docs/benchmarks.md is this graph's
    if optimize and checked:  # only a graph that can be checked is optimized
        from .onnx_optimize import optimize_onnx_graph

        done, what = optimize_onnx_graph(path, source.config.encoder,
                                         lambda graph: check_onnx(source, graph, names), atol)
        logger.info("%s: %s", path, f"onnxruntime's optimizer fused {what}" if done else f"plain graph kept ({what})")
    return path


def quantize_onnx(path: str | Path, output: str | Path | None = None, per_channel: bool = True) -> Path:
    """Dynamic int8 quantization of an exported graph (``onnxruntime.quantization.quantize_dynamic``).

    Weights of the matrix products (and embedding tables) are stored as int8, activations are quantized on the
    fly per batch: a graph about 4x smaller, faster on CPUs with int8 dot products, at a small accuracy cost
    (measured per task in docs/benchmarks.md). Serve it with ``onnx_pipeline(folder, quantized=True)``.

    Args:
        path: ``model.onnx`` (or its folder).
        output: Where to write (default: ``model_quantized.onnx`` next to it).
        per_channel: One scale per output channel of each weight rather than one per tensor (on the quickstart
            model: at most 0.50 points lost on a task, against 0.75 per tensor).

    Returns:
        The path of the int8 graph.
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise OnnxExportError('int8 quantization needs onnxruntime: pip install "hf-mtl[onnx]"') from None
    path = Path(path)
    path = path / ONNX_FILE if path.is_dir() else path
    target = Path(output) if output is not None else path.with_name(QUANTIZED_ONNX_FILE)
    quantize_dynamic(str(path), str(target), weight_type=QuantType.QInt8, per_channel=per_channel)
    return target


def _write_config(model: MultiTaskModel, folder: Path) -> None:
    """``config.json`` for the labels, without ``auto_map``: the folder holds no PyTorch code, and a config naming
    remote code makes ``AutoTokenizer.from_pretrained(folder)`` ask whether to run it."""
    settings = model.config.to_dict()
    settings.pop("auto_map", None)
    (folder / "config.json").write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def check_onnx(model: MultiTaskModel, path: str | Path, input_names: list[str] | None = None,
               batch: int = 3, length: int = 13) -> dict[str, float]:
    """Run the ONNX graph with onnxruntime and PyTorch on the same random padded batch.

    Per-token outputs are compared on the real (``attention_mask`` 1) positions only: nothing reads the logits of
    padding (the pipelines drop them, their labels are ``-100``), and some families leave them undefined: a
    padded query of ModernBERT's sliding-window attention whose whole window is padding attends to nothing, and
    PyTorch's own sdpa and eager kernels give it outputs 2e-3 apart (real positions: 6e-8).

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
    real = inputs["attention_mask"].bool()
    differences = {}
    for task, array in zip(model.task_names, got, strict=True):
        difference = (torch.from_numpy(array) - expected[task].float()).abs()
        if task_kind(model.config.tasks[task]["type"]).per_token:
            difference = difference[real]  # [real tokens, ...]: the padded positions' logits are never read
        differences[f"logits_{task}"] = float(difference.max())
    return differences
