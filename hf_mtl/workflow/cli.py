"""The `hf-mtl` command (also `python -m hf_mtl`): train, evaluate, predict, compare, refine, export, push.

Errors a user can cause (a bad recipe, a missing file, an unknown task, a model folder that cannot be loaded, an
output folder that cannot be written or holds an earlier run) print one line on stderr and exit with status 2,
before anything trains; no traceback. Ctrl-C during `train` stops at the next step boundary with a complete
checkpoint and exits with status 130 (`hf-mtl train RECIPE --resume` continues).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

from ..modeling.errors import HfMtlError
from ..modeling.task_kinds import WORD_SPLITTINGS
from .predict_inputs import INPUT_FORMATS, input_lines, read_inputs  # noqa: F401  (input_lines: its earlier home)
from .run_folders import TrainingInterrupted

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C

EPILOG = """Overrides (train, evaluate, compare) come after the recipe, as key=value or --key value:
  hf-mtl train recipes/quickstart.yaml max_steps=50 learning_rate=1e-4 --output_dir outputs/try
  keys: output_dir, data_dir, model.<key>, training.<key> (or the training argument alone), tasks.<task>.<key>"""


class UsageError(HfMtlError):
    """Bad command-line input (missing file, unknown task...)."""


def _parser() -> argparse.ArgumentParser:
    # Longer than ~60 lines on purpose: one flat declaration per sub-command, read top to bottom like `--help`.
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
    train.add_argument("--resume", action="store_true",
                       help="continue the run in output_dir from its newest complete checkpoint")
    train.add_argument("--overwrite", action="store_true",
                       help="start over in an output_dir that holds an earlier run (its checkpoints are deleted)")
    train.add_argument("--allow-changes", action="store_true",
                       help="with --resume: resume although the tasks, data, seed or sampling settings changed")

    evaluate = commands.add_parser("evaluate", help="per-task metrics of a trained model on a recipe's data")
    evaluate.add_argument("model_dir")
    evaluate.add_argument("recipe")
    evaluate.add_argument("--split", default="test", choices=["test", "validation"],
                          help="split to score (test falls back to validation where a task has none)")

    predict = commands.add_parser("predict", help="run every head (one encoder pass) on texts; JSON lines out")
    predict.add_argument("model_dir")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", nargs="+", help="one or more texts")
    source.add_argument("--input", help="a text file, one input per line ('-' for stdin); a .tsv (header row) or "
                                        ".jsonl file: its --text-column and --text-pair-column")
    predict.add_argument("--text-pair", nargs="+", help="the second text of each --text (sentence-pair tasks)")
    predict.add_argument("--input-format", choices=INPUT_FORMATS, default=None,
                         help="how to read --input (default: from its suffix: .tsv, .jsonl, else lines)")
    predict.add_argument("--text-column", default="text", help="TSV / JSON lines: the text column (default: text)")
    predict.add_argument("--text-pair-column", default="text_pair",
                         help="TSV / JSON lines: the second text of a pair, where a row has one (default: text_pair)")
    predict.add_argument("--allow-single-text", action="store_true",
                         help="let tasks trained on text pairs read a single text alone")
    predict.add_argument("--word-splitting", choices=WORD_SPLITTINGS, default=None,
                         help="token tasks: cut raw text into words at whitespace or as the tokenizer does "
                              "(default: as the model's training words were)")
    predict.add_argument("--tasks", help="comma-separated task names (default: all heads)")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--top-k", type=int, default=None, help="text tasks: return the top k labels")
    predict.add_argument("--stride", type=int, default=None,
                         help="token tasks: split long inputs into windows sharing this many tokens (default: truncate)")
    predict.add_argument("--output", help="write JSON lines here instead of stdout")

    compare = commands.add_parser("compare", help="joint model vs one model per task (same encoder, seed, data)",
                                  epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("recipe")
    compare.add_argument("--single-steps", type=int, default=None,
                         help="steps per single-task model (default: as many examples as the joint model saw)")
    compare.add_argument("--split", default="test", choices=["test", "validation"])
    compare.add_argument("--compare-dir", default=None, help="where to write models and tables")
    compare.add_argument("--overwrite", action="store_true", help="replace the models of an earlier comparison")

    refine = commands.add_parser("refine", help="joint, then refine: a short per-task fine-tune, one model per task",
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    refine.add_argument("model_dir", help="the trained joint model (only read)")
    refine.add_argument("recipe", help="the recipe with the tasks' data and training arguments")
    refine.add_argument("--steps", type=int, required=True, help="optimizer steps per task (0: copy the joint heads)")
    refine.add_argument("--split", default="test", choices=["test", "validation"])
    refine.add_argument("--output-dir", default=None, help="where the per-task models go (default: MODEL_DIR-refined)")
    refine.add_argument("--tasks", default=None, help="comma-separated tasks to refine (default: all of the recipe)")

    export = commands.add_parser("export", help="write one task as a standard AutoModelFor*Classification folder, "
                                                "or (--onnx) every head as one ONNX graph")
    export.add_argument("model_dir")
    export.add_argument("--task", help="the task to write as a single-task transformers model")
    export.add_argument("--onnx", action="store_true", help="write one ONNX graph with every head's logits")
    export.add_argument("--int8", action="store_true",
                        help="with --onnx: also write model_quantized.onnx (dynamic int8 quantization)")
    export.add_argument("out")
    export.add_argument("--overwrite", action="store_true", help="replace a model already in OUT")
    export.add_argument("--keep-auxiliary", action="store_true",
                        help="--onnx: keep the heads of tasks that only train the encoder (masked-lm; left out by default)")
    export.add_argument("--no-optimize", action="store_true",
                        help="--onnx: keep standard ONNX operators (no onnxruntime fused operators; for other runtimes)")

    push = commands.add_parser("push", help="upload a model folder (weights, card, remote code) to the Hub")
    push.add_argument("model_dir")
    push.add_argument("repo_id")
    push.add_argument("--private", action="store_true")
    push.add_argument("--token", default=None)
    push.add_argument("--commit-message", default="Upload hf_mtl multi-task model")
    push.add_argument("--include-training-files", action="store_true",
                      help="also upload runs/ (TensorBoard logs) and training_args.bin (left out by default)")
    push.add_argument("--keep-auxiliary", action="store_true",
                      help="push the heads of tasks that only train the encoder (masked-lm; removed by default)")
    push.add_argument("--keep-lora", action="store_true",
                      help="a LoRA model: push the adapters and heads only (default: merged into the encoder)")
    return parser


def _require_model_dir(path: str) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"Model folder {folder} does not exist." if not folder.exists() else f"{folder} is a file, not a model folder.")
    if not (folder / "config.json").is_file():
        raise UsageError(f"{folder} is not a saved model folder (no config.json there).")
    return folder


def _load_model_and_tokenizer(folder: Path) -> tuple[Any, Any]:
    from .train import load_model, load_tokenizer

    model = load_model(folder)
    return model, load_tokenizer(str(folder), what="the model folder's tokenizer")


def _check_positive(value: int | None, option: str, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise UsageError(f"{option} must be an integer >= {minimum}, got {value}.")


MAX_MESSAGE = 2000  # characters of an error line; a value quoted from a file may be huge


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """An error message as one line of at most ``limit`` characters (the rest counted, not printed).

    Example:
        >>> one_line("a\\nb" + "x" * 30, limit=10)
        'a bxxxxxxx... (23 more characters)'
    """
    text = " ".join(line.strip() for line in message.splitlines() if line.strip())
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def _with_run_flags(recipe: Any, args: argparse.Namespace) -> Any:
    """The recipe with the command line's --resume / --overwrite (a recipe's own `resume: PATH` is kept)."""
    changes: dict[str, Any] = {}
    if getattr(args, "resume", False) and not isinstance(recipe.resume, str):
        changes["resume"] = True
    if getattr(args, "overwrite", False):
        changes["overwrite"] = True
    if getattr(args, "allow_changes", False):
        changes["allow_changes"] = True
    return dataclasses.replace(recipe, **changes) if changes else recipe


def _command_train(args: argparse.Namespace, overrides: list[str]) -> None:
    from .recipe import load_recipe
    from .train import train_recipe

    train_recipe(_with_run_flags(load_recipe(args.recipe, overrides), args))


def _command_evaluate(args: argparse.Namespace, overrides: list[str]) -> None:
    from .recipe import load_recipe
    from .train import evaluate_model

    _require_model_dir(args.model_dir)
    metrics = evaluate_model(args.model_dir, load_recipe(args.recipe, overrides), split=args.split)
    print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, indent=2, sort_keys=True))


def _command_predict(args: argparse.Namespace) -> None:
    from ..modeling.inference import predict
    from .run_folders import check_writable_file, refuse_same_folder

    _check_positive(args.batch_size, "--batch-size")
    _check_positive(args.top_k, "--top-k")
    _check_positive(args.stride, "--stride", minimum=0)
    folder = _require_model_dir(args.model_dir)
    if args.output:  # before anything is computed
        check_writable_file(args.output, what="--output")
        refuse_same_folder(folder, args.output, what="--output")
        if args.input and args.input != "-":
            refuse_same_folder(args.input, args.output, what="--output")
    texts = read_inputs(args)
    model, tokenizer = _load_model_and_tokenizer(folder)
    model.eval()
    tasks = [task.strip() for task in args.tasks.split(",")] if args.tasks else None
    unknown = [task for task in tasks or [] if task not in model.config.tasks]
    if unknown:
        raise UsageError(f"--tasks names {unknown}, but the model has tasks {model.task_names}.")
    options = {"stride": args.stride} if args.stride is not None else {}
    if args.word_splitting:
        options["word_splitting"] = args.word_splitting
    if args.allow_single_text:
        options["allow_single_text"] = True
    results = predict(model, tokenizer, texts, tasks=tasks, batch_size=args.batch_size, top_k=args.top_k, **options)
    lines = [json.dumps({**(text if isinstance(text, dict) else {"text": text}), **result}, ensure_ascii=False)
             for text, result in zip(texts, results, strict=True)]
    if args.output:
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        print("\n".join(lines))


def _command_compare(args: argparse.Namespace, overrides: list[str]) -> None:
    from .compare import compare_recipe
    from .recipe import load_recipe

    comparison = compare_recipe(
        _with_run_flags(load_recipe(args.recipe, overrides), args), output_dir=args.compare_dir,
        single_steps=args.single_steps, eval_split=args.split,
    )
    print(comparison.to_markdown())


def _command_refine(args: argparse.Namespace, overrides: list[str]) -> None:
    from .recipe import load_recipe
    from .refine import refine_model

    _require_model_dir(args.model_dir)
    tasks = [task.strip() for task in args.tasks.split(",")] if args.tasks else None
    refinement = refine_model(args.model_dir, load_recipe(args.recipe, overrides), steps=args.steps,
                              output_dir=args.output_dir, tasks=tasks, eval_split=args.split)
    print(refinement.to_markdown())


def _command_export(args: argparse.Namespace) -> None:
    from ..export.task_model import export_task
    from .run_folders import check_writable_folder, refuse_existing_model, refuse_same_folder

    if args.onnx == bool(args.task):
        raise UsageError("export: give either --task TASK (one single-task model) or --onnx (every head), not both.")
    if args.int8 and not args.onnx:
        raise UsageError("export: --int8 quantizes the ONNX graph; give it with --onnx.")
    if args.no_optimize and not args.onnx:
        raise UsageError("export: --no-optimize is about the ONNX graph; give it with --onnx.")
    folder = _require_model_dir(args.model_dir)
    refuse_same_folder(folder, args.out, what="export's OUT")
    check_writable_folder(args.out, what="export's OUT")
    refuse_existing_model(args.out, args.overwrite, what="export's OUT")
    model, tokenizer = _load_model_and_tokenizer(folder)
    if args.onnx:
        from ..export.onnx_graph import export_onnx

        path = export_onnx(model, args.out, tokenizer, int8=args.int8, keep_auxiliary=args.keep_auxiliary,
                           optimize=not args.no_optimize)
        print(f"exported every head ({', '.join(model.task_names)}) to {path}")
        if args.int8:
            from ..export.onnx_graph import QUANTIZED_ONNX_FILE

            print(f"int8 graph: {path.with_name(QUANTIZED_ONNX_FILE)}")
        return
    if args.task not in model.config.tasks:
        raise UsageError(f"--task {args.task}: the model has tasks {model.task_names}.")
    out = export_task(model, args.task, args.out, tokenizer)
    print(f"exported task '{args.task}' to {out}")


def _command_push(args: argparse.Namespace) -> None:
    from ..export.hub import push_model_folder
    from .run_folders import refuse_same_folder

    if Path(args.repo_id).exists():
        refuse_same_folder(args.model_dir, args.repo_id, what="push's REPO_ID")
    try:
        url = push_model_folder(args.model_dir, args.repo_id, private=args.private, token=args.token,
                                commit_message=args.commit_message, include_training_files=args.include_training_files,
                                merge_lora=not args.keep_lora, keep_auxiliary=args.keep_auxiliary)
    except OSError as error:  # the Hub's HTTP errors (not logged in, no access), offline mode, no connection
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"could not push to {args.repo_id}: {first_line}") from None
    print(f"pushed {args.model_dir} to {url}")


def _resume_command(argv: list[str]) -> str:
    """The command line that resumes an interrupted `hf-mtl train`: the same one, with --resume."""
    kept = [arg for arg in argv if arg not in ("--resume", "--overwrite", "--allow-changes")]
    return shlex.join(["hf-mtl", *kept, "--resume"])


def main(argv: list[str] | None = None) -> int:
    """Entry point of `hf-mtl`; returns the exit status (0 success, 2 a user error, 130 interrupted by Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("train", "evaluate", "compare", "refine"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _quiet_weight_loading()
    _expand_paths(args)
    try:
        COMMANDS[args.command](args, extra)
    except HfMtlError as error:
        print(f"hf-mtl {args.command}: error: {one_line(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except TrainingInterrupted as stop:
        where = f"saved {stop.checkpoint}" if stop.checkpoint else "the checkpoint could not be completed"
        print(f"hf-mtl {args.command}: interrupted after step {stop.step} of {stop.max_steps}; {where}. "
              f"Resume with: {_resume_command(argv)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        hint = f" Resume from the last complete checkpoint with: {_resume_command(argv)}" if args.command == "train" else ""
        print(f"\nhf-mtl {args.command}: aborted (Ctrl-C).{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


# The arguments that are paths: a `~` the shell left alone (`--output=~/x`) means the home folder, as in a recipe.
PATH_ARGUMENTS = ("recipe", "model_dir", "input", "output", "out", "compare_dir", "output_dir")


def _expand_paths(args: argparse.Namespace) -> None:
    for name in PATH_ARGUMENTS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, name, str(Path(value).expanduser()))


def _quiet_weight_loading() -> None:
    """No progress bar per weight file: loading takes a second, and a CLI error stays on one line."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


COMMANDS = {
    "train": _command_train,
    "evaluate": _command_evaluate,
    "predict": lambda args, extra: _command_predict(args),
    "compare": _command_compare,
    "refine": _command_refine,
    "export": lambda args, extra: _command_export(args),
    "push": lambda args, extra: _command_push(args),
}
