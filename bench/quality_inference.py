"""Inference cost of the quality benchmark's arms: the ``multitask`` pipeline on each arm's saved model.

For the trade-off table of docs/benchmarks.md (issue #23: accuracy vs parameters vs inference cost). Timed side by
side in one process, on the sentences of ``bench/inference.py`` (a quarter each from CoNLL-2003, UD English-EWT,
SST-2 and AG News, shuffled), in interleaved chunks, each chunk ``--repeats`` times per arm keeping the fastest:

- ``shared``: the fully shared model (every joint arm without task-specific capacity: ``joint_temperature``,
  ``joint_uniform``, ...) — the embedded MiniLM with the four tasks' heads, one encoder pass per batch. Its speed
  does not depend on the weights, so random heads (seed 0) stand in for a trained model;
- ``four_models``: what the ``single`` arm serves — the four tasks exported as single-task models, each run
  through transformers' own pipeline (``bench/inference.py``'s ``four_pipelines``);
- one arm per saved model of ``--arms`` (default: every finished joint arm in ``--results`` whose ``model_dir``
  still exists and whose model has task-specific capacity: ``task_layers`` or per-task adapters).

Writes ``--out`` (``docs/benchmarks/quality_inference.json``: sentences/s, ratio to ``shared``, the load average
before and after) and prints a table; the last line is ``ratio <arm>/shared=X ...``. A capacity arm an earlier run
recorded there and this one does not measure stays, with its own run's date, load and ``shared`` speed, so arms
measured one at a time (as each finishes) end up in one file.

Usage:
    python bench/quality_inference.py                                  # 2,000 sentences, 2 threads
    python bench/quality_inference.py --sentences 200 --repeats 1      # a quick check
    python bench/quality_inference.py --arms joint_temperature_layers1=bench/out/quality/joint_temperature_layers1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import inference
from data_folder import add_data_dir_argument, data_dir_of

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
BASELINES = {"shared": "multitask", "four_models": "four_pipelines"}  # our arm name -> bench/inference.py's arm


def has_task_capacity(model_dir: Path) -> bool:
    """Whether a saved hf_mtl model has task-specific encoder capacity (own top layers or per-task adapters)."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return bool(config.get("task_layers") or config.get("task_adapters"))


def capacity_arms(results_path: Path) -> dict[str, Path]:
    """The finished arms of ``results_path`` whose saved model exists and has task-specific capacity."""
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    found = {}
    for arm, result in results.items():
        model_dir = Path(result["model_dir"]) if isinstance(result, dict) and result.get("model_dir") else None
        if model_dir and (model_dir / "config.json").exists() and has_task_capacity(model_dir):
            found[arm] = model_dir
    return found


def parse_arms(value: str | None, results_path: Path, parser: argparse.ArgumentParser) -> dict[str, Path]:
    """``--arms``: ``name=folder`` pairs, or arm names looked up in ``--results``; default: every capacity arm."""
    if not value:
        return capacity_arms(results_path)
    recorded = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    arms = {}
    for item in (part.strip() for part in value.split(",") if part.strip()):
        name, _, folder = item.partition("=")
        folder = folder or (recorded.get(name) or {}).get("model_dir")
        if not folder or not (Path(folder) / "config.json").exists():
            parser.error(f"--arms {item}: no saved model (give name=folder, or an arm of {results_path} whose "
                         "model_dir still exists)")
        arms[name] = Path(folder)
    return arms


def earlier_arms(out: Path, measured_now: set[str]) -> dict[str, Any]:
    """The capacity arms an earlier run of this script recorded in ``out`` and this run does not measure (their
    saved model may be gone), each with its own run's date, load and fully shared speed (``run``, which only such
    an arm carries; the file's ``meta`` is the run of the others): its ratio was measured side by side in that run.
    The baselines (``shared``, ``four_models``) are always this run's."""
    if not out.exists():
        return {}
    earlier = json.loads(out.read_text(encoding="utf-8"))
    earlier_run = {key: earlier.get("meta", {}).get(key) for key in ("date", "load_average")}
    earlier_run["shared_sentences_per_s"] = earlier.get("arms", {}).get("shared", {}).get("sentences_per_s")
    return {name: {**value, "run": value.get("run", earlier_run)} for name, value in earlier.get("arms", {}).items()
            if name not in BASELINES and name not in measured_now}


def pipeline_runner(model_dir: Path, batch_size: int) -> Any:
    """The ``multitask`` pipeline on a saved model, as a function of a list of sentences."""
    from transformers import pipeline

    from hf_mtl.modeling.inference import register_pipeline

    register_pipeline()
    pipe = pipeline("multitask", model=str(model_dir), device=-1)
    return lambda texts: pipe(texts, batch_size=batch_size)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "docs" / "benchmarks" / "quality_arms.json")
    parser.add_argument("--arms", default=None, help="comma-separated arm names (in --results) or name=model_folder")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each chunk per arm; the fastest counts")
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks" / "quality_inference.json")
    add_data_dir_argument(parser)
    args = parser.parse_args(argv)
    inference.DATA_DIR = data_dir_of(parser, args, needs="sst2")
    arms = parse_arms(args.arms, args.results, parser)

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    sentences = inference.load_sentences(args.sentences)
    chunks = [sentences[start : start + args.chunk] for start in range(0, len(sentences), args.chunk)]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hf-mtl-quality-inference-") as tmp:
        workdir = Path(tmp)
        inference.prepare(workdir)
        runs = {name: inference.build_arm(arm, workdir, args.batch_size, chunks, args.threads)
                for name, arm in BASELINES.items()}
        runs.update({name: pipeline_runner(folder, args.batch_size) for name, folder in arms.items()})
        for run in runs.values():
            run(chunks[0][: 2 * args.batch_size])  # warm-up
        seconds = dict.fromkeys(runs, 0.0)
        for chunk in chunks:  # interleaved: a burst of load from elsewhere hits every arm alike
            for name, run in runs.items():
                times = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    run(chunk)
                    times.append(time.perf_counter() - start)
                seconds[name] += min(times)
    load_after = os.getloadavg()
    speed = {name: len(sentences) / total for name, total in seconds.items()}
    record = {
        "arms": {**earlier_arms(args.out, set(runs)),
                 **{name: {"sentences_per_s": round(speed[name], 2), "ratio_to_shared": round(speed[name] / speed["shared"], 3),
                           **({"model_dir": str(arms[name])} if name in arms else {})} for name in runs}},
        "meta": {"sentences": len(sentences), "batch_size": args.batch_size, "threads": args.threads,
                 "repeats": args.repeats, "device": f"CPU, {os.cpu_count()} cores", "torch": torch.__version__,
                 "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "load_average": {"before": [round(x, 2) for x in load_before],
                                  "after": [round(x, 2) for x in load_after]}},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"{len(sentences)} sentences, batch size {args.batch_size}, {args.threads} threads, fastest of "
          f"{args.repeats} per chunk; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print("| arm | sentences/s | vs shared |")
    print("|---|---:|---:|")
    for name in runs:
        print(f"| {name} | {speed[name]:.1f} | {speed[name] / speed['shared']:.2f}x |")
    print("ratio " + " ".join(f"{name}/shared={speed[name] / speed['shared']:.2f}" for name in runs if name != "shared"))


if __name__ == "__main__":
    main()
