"""The `hf-mtl` command (also `python -m hf_mtl`): train, evaluate, predict, compare, export, push.

Errors a user can cause (a bad recipe, a missing file, an unknown task) print one line on stderr and exit with
status 2, before anything trains; no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import HfMtlError

EXIT_USAGE = 2

EPILOG = """Overrides (train, evaluate, compare) come after the recipe, as key=value or --key value:
  hf-mtl train recipes/quickstart.yaml max_steps=50 learning_rate=1e-4 --output_dir outputs/try
  keys: output_dir, data_dir, model.<key>, training.<key> (or the training argument alone), tasks.<task>.<key>"""


class UsageError(HfMtlError):
    """Bad command-line input (missing file, unknown task...)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-mtl",
        description="Multi-task fine-tuning of Hugging Face transformers: one shared encoder, many task heads.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a multi-task model from a recipe", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("recipe", help="the recipe (YAML)")

    evaluate = commands.add_parser("evaluate", help="per-task metrics of a trained model on a recipe's data")
    evaluate.add_argument("model_dir")
    evaluate.add_argument("recipe")
    evaluate.add_argument("--split", default="test", choices=["test", "validation"],
                          help="split to score (test falls back to validation where a task has none)")

    predict = commands.add_parser("predict", help="run every head (one encoder pass) on texts; JSON lines out")
    predict.add_argument("model_dir")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", nargs="+", help="one or more texts")
    source.add_argument("--input", help="a text file, one input per line ('-' for stdin)")
    predict.add_argument("--tasks", help="comma-separated task names (default: all heads)")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--top-k", type=int, default=None, help="text tasks: return the top k labels")
    predict.add_argument("--output", help="write JSON lines here instead of stdout")

    compare = commands.add_parser("compare", help="joint model vs one model per task (same encoder, seed, data)",
                                  epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("recipe")
    compare.add_argument("--single-steps", type=int, default=None,
                         help="steps per single-task model (default: as many examples as the joint model saw)")
    compare.add_argument("--split", default="test", choices=["test", "validation"])
    compare.add_argument("--compare-dir", default=None, help="where to write models and tables")

    export = commands.add_parser("export", help="write one task as a standard AutoModelFor*Classification folder, "
                                                "or (--onnx) every head as one ONNX graph")
    export.add_argument("model_dir")
    export.add_argument("--task", help="the task to write as a single-task transformers model")
    export.add_argument("--onnx", action="store_true", help="write one ONNX graph with every head's logits")
    export.add_argument("out")

    push = commands.add_parser("push", help="upload a model folder (weights, card, remote code) to the Hub")
    push.add_argument("model_dir")
    push.add_argument("repo_id")
    push.add_argument("--private", action="store_true")
    push.add_argument("--token", default=None)
    push.add_argument("--commit-message", default="Upload hf_mtl multi-task model")
    return parser


def _require_model_dir(path: str) -> Path:
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise UsageError(f"{folder} is not a saved model folder (no config.json there).")
    return folder


def _read_inputs(args: argparse.Namespace) -> list[str]:
    if args.text:
        return list(args.text)
    if args.input == "-":
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    path = Path(args.input)
    if not path.is_file():
        raise UsageError(f"Input file {path} does not exist.")
    try:
        return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise UsageError(f"Input file {path} is not UTF-8 text (byte {error.start}).") from None


def _command_train(args: argparse.Namespace, overrides: list[str]) -> None:
    from .recipe import load_recipe
    from .workflow import train_recipe

    train_recipe(load_recipe(args.recipe, overrides))


def _command_evaluate(args: argparse.Namespace, overrides: list[str]) -> None:
    from .recipe import load_recipe
    from .workflow import evaluate_model

    _require_model_dir(args.model_dir)
    metrics = evaluate_model(args.model_dir, load_recipe(args.recipe, overrides), split=args.split)
    print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, indent=2, sort_keys=True))


def _command_predict(args: argparse.Namespace) -> None:
    from transformers import AutoTokenizer

    from .modeling_multitask import MultiTaskModel
    from .pipeline import predict

    folder = _require_model_dir(args.model_dir)
    texts = _read_inputs(args)
    model = MultiTaskModel.from_pretrained(folder).eval()
    tasks = [task.strip() for task in args.tasks.split(",")] if args.tasks else None
    unknown = [task for task in tasks or [] if task not in model.config.tasks]
    if unknown:
        raise UsageError(f"--tasks names {unknown}, but the model has tasks {model.task_names}.")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    results = predict(model, tokenizer, texts, tasks=tasks, batch_size=args.batch_size, top_k=args.top_k)
    lines = [json.dumps({"text": text, **result}, ensure_ascii=False) for text, result in zip(texts, results, strict=True)]
    if args.output:
        Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        print("\n".join(lines))


def _command_compare(args: argparse.Namespace, overrides: list[str]) -> None:
    from .compare import compare_recipe
    from .recipe import load_recipe

    comparison = compare_recipe(
        load_recipe(args.recipe, overrides), output_dir=args.compare_dir, single_steps=args.single_steps,
        eval_split=args.split,
    )
    print(comparison.to_markdown())


def _command_export(args: argparse.Namespace) -> None:
    from transformers import AutoTokenizer

    from .export import export_task
    from .modeling_multitask import MultiTaskModel

    if args.onnx == bool(args.task):
        raise UsageError("export: give either --task TASK (one single-task model) or --onnx (every head), not both.")
    folder = _require_model_dir(args.model_dir)
    model = MultiTaskModel.from_pretrained(folder)
    if args.onnx:
        from .onnx_export import export_onnx

        path = export_onnx(model, args.out, AutoTokenizer.from_pretrained(folder))
        print(f"exported every head ({', '.join(model.task_names)}) to {path}")
        return
    if args.task not in model.config.tasks:
        raise UsageError(f"--task {args.task}: the model has tasks {model.task_names}.")
    out = export_task(model, args.task, args.out, AutoTokenizer.from_pretrained(folder))
    print(f"exported task '{args.task}' to {out}")


def _command_push(args: argparse.Namespace) -> None:
    from .hub import push_model_folder

    try:
        url = push_model_folder(args.model_dir, args.repo_id, private=args.private, token=args.token,
                                commit_message=args.commit_message)
    except OSError as error:  # the Hub's HTTP errors (not logged in, no access), offline mode, no connection
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"could not push to {args.repo_id}: {first_line}") from None
    print(f"pushed {args.model_dir} to {url}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `hf-mtl`; returns the exit status."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("train", "evaluate", "compare"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "train":
            _command_train(args, extra)
        elif args.command == "evaluate":
            _command_evaluate(args, extra)
        elif args.command == "predict":
            _command_predict(args)
        elif args.command == "compare":
            _command_compare(args, extra)
        elif args.command == "export":
            _command_export(args)
        elif args.command == "push":
            _command_push(args)
    except HfMtlError as error:
        print(f"hf-mtl {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return 0
