"""Accuracy cost of serving a trained model on onnxruntime: PyTorch vs the fp32 graph vs the int8 graph, per task.

Each arm is scored by the same code as ``hf-mtl evaluate`` (``MultiTaskTrainer.evaluate`` on the recipe's split, the
tasks' own metrics): the PyTorch model as saved, then the same model with its encoder-and-heads call answered by
the exported graph (``model.onnx``, then the dynamic int8 ``model_quantized.onnx`` of ``hf-mtl export --onnx
--int8``) through :class:`hf_mtl.export.onnx_runtime.OnnxMultiTaskModel`. Tokenization, batching, label alignment
and metrics are shared, so a difference is the graph's.

Usage (the quickstart model, trained with ``hf-mtl train recipes/quickstart.yaml``):

    python bench/onnx_accuracy.py outputs/quickstart recipes/quickstart.yaml --split validation

The graph folder is ``--onnx-dir`` (default: MODEL_DIR-onnx), exported with ``--int8`` when missing. The last line
is ``int8 max points lost=X (task)``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def evaluate(model: Any, tokenizer: Any, recipe: Any, split: str, batch_size: int) -> tuple[dict[str, float], dict[str, str]]:
    """``hf-mtl evaluate``'s metrics (workflow.train.evaluate_model) for an already loaded model, and each task's
    metric name."""
    from transformers import PrinterCallback

    from hf_mtl.training.trainer import MultiTaskTrainer
    from hf_mtl.workflow.train import eval_split_dataset, prepare_recipe_tasks

    prepared = prepare_recipe_tasks(list(recipe.tasks), tokenizer, model)
    with tempfile.TemporaryDirectory(prefix="hf-mtl-onnx-accuracy-") as scratch:
        args = recipe.training_arguments(output_dir=scratch, per_device_eval_batch_size=batch_size, eval_strategy="no",
                                         save_strategy="no", load_best_model_at_end=False, disable_tqdm=True)
        trainer = MultiTaskTrainer(model=model, args=args, processing_class=tokenizer,
                                   task_metrics={name: data.metric for name, data in prepared.items()})
        trainer.remove_callback(PrinterCallback)
        metrics = trainer.evaluate(eval_dataset={name: eval_split_dataset(data, split) for name, data in prepared.items()})
    return metrics, {name: data.metric for name, data in prepared.items()}


def serve_heads_from(model: Any, graph: Any) -> None:
    """Make ``model``'s encoder-and-heads call run ``graph`` (its losses still come from the PyTorch heads).

    Benchmark plumbing only: the instance attribute shadows ``MultiTaskModel._encode_and_run_heads`` so that the
    Trainer's evaluation (and its metrics) run unchanged on the graph's logits.
    """
    from transformers.modeling_outputs import BaseModelOutput

    def encode_and_run_heads(names, encoder_inputs, labels=None, num_items_in_batch=None, loss_weight=None):
        logits = graph.forward_all_tasks(encoder_inputs["input_ids"], encoder_inputs["attention_mask"],
                                         encoder_inputs.get("token_type_ids"), tasks=names)
        if labels is None:
            return BaseModelOutput(), logits, None, None
        task_losses = {name: model.heads[name].loss(logits[name], labels[name]) for name in names}
        return BaseModelOutput(), logits, sum(task_losses.values()), task_losses

    model._encode_and_run_heads = encode_and_run_heads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("recipe")
    parser.add_argument("--split", default="validation", choices=["validation", "test"])
    parser.add_argument("--onnx-dir", default=None, help="the exported graphs (default: MODEL_DIR-onnx)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    from hf_mtl.export.onnx_graph import QUANTIZED_ONNX_FILE, export_onnx
    from hf_mtl.export.onnx_runtime import OnnxMultiTaskModel
    from hf_mtl.metrics.keys import main_score_key
    from hf_mtl.workflow.recipe import load_recipe
    from hf_mtl.workflow.train import load_model, load_tokenizer

    torch.set_num_threads(args.threads)
    recipe = load_recipe(args.recipe, [])
    tokenizer = load_tokenizer(args.model_dir, what="the model folder's tokenizer")
    onnx_dir = Path(args.onnx_dir or f"{args.model_dir.rstrip('/')}-onnx")
    if not (onnx_dir / QUANTIZED_ONNX_FILE).is_file():
        export_onnx(load_model(args.model_dir).eval(), onnx_dir, tokenizer, int8=True)
    results, seconds = {}, {}
    for arm, quantized in (("pytorch", None), ("onnx", False), ("onnx_int8", True)):
        model = load_model(args.model_dir).eval()
        if quantized is not None:
            serve_heads_from(model, OnnxMultiTaskModel.from_pretrained(onnx_dir, quantized=quantized,
                                                                      threads=args.threads))
        start = time.perf_counter()
        results[arm], metric_names = evaluate(model, tokenizer, recipe, args.split, args.batch_size)
        seconds[arm] = time.perf_counter() - start
    tasks = [spec.name for spec in recipe.tasks]
    print(f"{args.model_dir} on the {args.split} split of {args.recipe}; {args.threads} threads; 1-min load "
          f"average {os.getloadavg()[0]:.2f} after")
    print()
    print("| task | metric | PyTorch | ONNX fp32 | ONNX int8 | int8 - PyTorch (points) |")
    print("|---|---|---:|---:|---:|---:|")
    lost = {}
    for task in tasks:
        key = main_score_key(task, metric_names[task])
        values = [results[arm][key] for arm in ("pytorch", "onnx", "onnx_int8")]
        lost[task] = 100 * (values[0] - values[2])
        print(f"| {task} | {key[len(f'eval_{task}_'):]} | " + " | ".join(f"{v:.4f}" for v in values)
              + f" | {-lost[task]:+.2f} |")
    print(f"| evaluation seconds | | {seconds['pytorch']:.1f} | {seconds['onnx']:.1f} | {seconds['onnx_int8']:.1f} | |")
    worst = max(lost, key=lost.get)
    print()
    print(f"int8 max points lost={lost[worst]:.2f} ({worst})")


if __name__ == "__main__":
    main()
