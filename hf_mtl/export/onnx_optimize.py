"""onnxruntime's transformer graph optimizer on an exported multi-task graph, kept only where it is exact.

``onnxruntime.transformers.optimizer.optimize_model(..., model_type="bert")`` rewrites known sub-graphs of an
encoder into onnxruntime's fused operators (``SkipLayerNormalization``: residual add + layer norm,
``BiasGelu``: bias add + GELU, and ``Attention`` / ``EmbedLayerNormalization`` where it recognises them). The
fused operators are onnxruntime contrib operators (domain ``com.microsoft``): the optimized graph runs on
onnxruntime only, so ``export_onnx(..., optimize=False)`` (``hf-mtl export --onnx --no-optimize``) keeps a graph of
standard ONNX operators for other runtimes.

[`optimize_onnx_graph`] applies it to a written graph and keeps the result only if it matches PyTorch within the
export's tolerance on inputs of another shape than the traced ones (the check of ``export_onnx``); otherwise, or
where the optimizer fails or fuses nothing, the plain graph stays and the reason is returned.

What it buys on the ``torch.onnx`` (dynamo) graph of MiniLM: the layer norms and GELUs fuse (12
``SkipLayerNormalization``, 6 ``BiasGelu``); the attention does not (the exporter writes the attention mask as a
``GatherND``/``Where`` sub-graph that onnxruntime's attention pattern does not match), see docs/benchmarks.md.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger("hf_mtl")

__all__ = ["FUSED_OPERATORS", "optimize_onnx_graph"]

# the fused operators whose count says whether the optimizer changed anything
FUSED_OPERATORS = ("Attention", "MultiHeadAttention", "EmbedLayerNormalization", "SkipLayerNormalization", "BiasGelu",
                   "FastGelu", "Gelu", "LayerNormalization")


def optimize_onnx_graph(path: str | Path, encoder_config: Any, check: Callable[[Path], dict[str, float]],
                        atol: float) -> tuple[bool, str]:
    """Replace the graph at ``path`` by its onnxruntime-optimized version if ``check`` finds it exact within ``atol``.

    Args:
        path: The exported ``model.onnx`` (weights inside the file; graphs with external data are left as they are).
        encoder_config: The encoder's config (``num_attention_heads``, ``hidden_size`` tell the optimizer the shapes).
        check: ``check(graph_path) -> {output name: max |onnxruntime - PyTorch|}`` (``check_onnx`` bound to the model).
        atol: The largest difference accepted.

    Returns:
        ``(optimized, what)``: whether ``path`` now holds the optimized graph, and the fused operators or the
        reason the plain graph was kept (for the log).
    """
    path = Path(path)
    heads = getattr(encoder_config, "num_attention_heads", None)
    hidden = getattr(encoder_config, "hidden_size", None)
    if not (isinstance(heads, int) and isinstance(hidden, int)) or (path.with_name(path.name + ".data")).exists():
        return False, "no num_attention_heads/hidden_size in the encoder config, or weights in external data"
    try:
        from onnxruntime.transformers import optimizer
    except ImportError:
        return False, "onnxruntime is not installed"
    try:
        optimized = optimizer.optimize_model(str(path), model_type="bert", num_heads=heads, hidden_size=hidden,
                                             opt_level=0)  # the Python fusions only: portable across CPUs
        fused = {name: count for name, count in optimized.get_fused_operator_statistics().items()
                 if count and name in FUSED_OPERATORS}
    except Exception as error:  # a family whose graph the bert optimizer cannot walk keeps its plain graph
        return False, f"the optimizer failed ({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''})"
    if not fused:
        return False, "nothing to fuse"
    import onnx

    plain_inputs = [i.name for i in onnx.load(str(path), load_external_data=False).graph.input]
    optimized_inputs = [i.name for i in optimized.model.graph.input]
    if optimized_inputs != plain_inputs:  # e.g. an input the family's graph does not use, pruned (MRA's mask)
        return False, f"the optimizer changed the graph's inputs ({plain_inputs} -> {optimized_inputs})"
    handle, candidate_name = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(handle)
    candidate = Path(candidate_name)
    try:
        optimized.save_model_to_file(str(candidate))
        try:
            differences = check(candidate)
        except Exception as error:  # onnxruntime refuses the optimized graph: the plain one stays
            return False, f"the optimized graph does not run ({type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]})"
        worst = max(differences, key=differences.get)
        if differences[worst] > atol:
            return False, f"the optimized graph differs from PyTorch by {differences[worst]:.2e} on {worst} (atol {atol:.0e})"
        candidate.replace(path)
    finally:
        candidate.unlink(missing_ok=True)
    return True, ", ".join(f"{count} {name}" for name, count in fused.items())
