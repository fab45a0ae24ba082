"""Many tasks: what start-up, a training step, evaluation, a checkpoint and the pipeline cost as tasks grow.

What is measured, for each N in ``--sizes`` (default 1, 4, 16, 64), in a fresh subprocess per N (so peak memory
and start-up are the run's own): N real tasks, each its own head, built from the data folder (``--data-dir``,
else ``$HF_MTL_DATA``, else ``../shared/data`` next to the repository) and trained through the public API only
(``hf_mtl.TaskSpec``, ``hf_mtl.prepare_task``, ``hf_mtl.MultiTaskModel.from_encoder``,
``hf_mtl.MultiTaskTrainer``, ``hf_mtl.MultiTaskTrainingArguments``, ``transformers.pipeline("multitask", ...)``)
on the embedded all-MiniLM-L6-v2 encoder (``hf_mtl.export.public_names.default_encoder()``).

How the tasks are built (``--source``): the same pool of real examples is cut into N disjoint subsets, one task
each, so the total data (and so the tokenization work) is the same at every N and only the number of tasks grows:

- ``sst2`` (default; token-free text tasks): the first ``--train-examples`` rows of ``sst2/train.tsv`` cut into N
  consecutive blocks of rows, and the first ``--eval-examples`` rows of ``sst2/dev.tsv`` likewise; task ``k`` is
  ``sst2_k`` (a 2-label text head). Every block is written to its own TSV file, read back by hf_mtl's reader.
- ``conll`` (token tasks): CoNLL-2003 documents (``-DOCSTART-`` blocks of ``train.txt``, then of ``dev.txt``)
  dealt round-robin to N tasks until each split's sentence budget (``--train-examples`` / ``--eval-examples``)
  is used; task ``k`` is ``ner_k`` (a 9-label IOB2 token head), one CoNLL file per task and split.
- ``mixed``: task ``k`` is an SST-2 block for even ``k`` and a CoNLL document subset for odd ``k`` (the budget split
  half and half); N = 1 is the SST-2 task alone.

Reported per N (side by side, one row each):

- start-up to the first step: wall seconds from writing nothing yet to the end of optimizer step 1, split into
  ``prepare`` (``TaskSpec`` + ``prepare_task`` for every task: reading, checking, labelling, tokenizing, into a
  fresh tokenization cache), ``model`` (``from_encoder`` with N heads) and ``trainer+step1`` (building
  ``MultiTaskTrainer`` and running to the end of the first step);
- seconds per optimizer step: the median of ``--steps`` steps after ``--warmup`` untimed ones (a callback takes
  ``on_step_begin`` / ``on_step_end``; on CUDA it synchronizes first), batch ``--batch-size``, uniform task
  sampling (every task has the same number of examples, so every batch has the same size at every N); also the
  median of the process's CPU seconds per step (``time.process_time``, all threads), the steadier figure on a
  shared machine, where waiting for a core stretches the wall clock; and the mean padded tokens per training batch
  (the step's tensor work: length grouping within a task has fewer examples to group as N grows, so batches pad
  more at large N; ``--pad-to-multiple-of 64`` pads every SST-2 batch to 16 x 64, the same work at every N);
- evaluation: ``trainer.evaluate()`` over every task's validation subset (the same total at every N), in
  milliseconds per evaluated example;
- peak RSS of the process (``ru_maxrss``), and its increase over the RSS after imports;
- checkpoint: ``trainer.save_model(folder)`` (weights, config, tokenizer, modeling code, model card): seconds and
  size on disk;
- ``pipeline("multitask", model=..., tokenizer=...)`` on ``--pipeline-sentences`` real sentences of the source's
  dev file (SST-2 dev; CoNLL dev sentences, tokens joined), batch 32: sentences/s predicting all N heads, and with
  ``tasks=[first task]``; the two arms alternate for ``--pipeline-repeats`` rounds, the fastest round is kept
  (wall clock; its CPU seconds too);
- probes (:func:`probes`, after the timings above): the per-call cost of the pieces the profile pointed at.

``--profile`` also runs each N under cProfile (segments: start-up, steps, evaluation, save, pipeline with all
heads; a separate, slower run, so its timings are not the table's) and prints, for the functions of hf_mtl,
transformers and accelerate whose cumulative time per call of the segment grows most from the smallest to the
largest N, that time at every N: the list of what grows with N. ``--profile-out DIR`` keeps the ``.pstats`` files.

Usage:
    nice -n 10 python bench/many_tasks.py                         # N = 1, 4, 16, 64; 20 timed steps
    nice -n 10 python bench/many_tasks.py --sizes 1,4,16,64,256   # and 256 (4,096 train rows: 16 per task)
    python bench/many_tasks.py --quick                            # N = 1, 2, 4, tiny data: a smoke test
    python bench/many_tasks.py --sizes 1,64 --profile --steps 10  # what grows with N
    python bench/many_tasks.py --device cuda --bf16 --json out.json   # on a GPU (bench/gpu_suite.sh)

The last line printed is ``ratio step_time_N64/N1=X pipeline_N64/N1=Y cpu_step_time_N64/N1=Z cpu_pipeline_N64/N1=W``
(the largest and smallest N run when 64 or 1 is not among them): seconds per step at N = 64 over N = 1, and the
pipeline's seconds with all 64 heads over its seconds with one head at N = 64 (``tasks=[one]``); then the same
two ratios in CPU seconds. Targets (issue #25): step time within 1.1x,
pipeline within 1.5x on text tasks, start-up linear in the data size (here: flat in N, the data being fixed).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from data_folder import add_data_dir_argument, data_dir_of

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("sst2", "conll", "mixed")
CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
SEGMENTS = ("startup", "steps", "evaluate", "save", "pipeline_all")
PROFILED_PACKAGES = ("hf_mtl", "transformers", "accelerate")


# ------------------------------------------------------------------------------------------------ data
def sst2_rows(path: Path, count: int) -> list[tuple[str, str]]:
    """The first ``count`` (sentence, label) rows of an SST-2 TSV file (no quoting: the file has none)."""
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    rows = [tuple(line.split("\t")) for line in lines if line.strip()]
    if len(rows) < count:
        raise SystemExit(f"{path} has {len(rows)} rows, fewer than the {count} asked for")
    return [(sentence, label) for sentence, label in rows[:count]]


def conll_documents(path: Path) -> list[list[str]]:
    """The documents of a CoNLL-2003 file, each a list of sentence blocks (lines joined, without the DOCSTART)."""
    documents: list[list[str]] = []
    sentence: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("-DOCSTART-"):
            documents.append([])
        elif not line.strip():
            if sentence:
                if not documents:
                    documents.append([])
                documents[-1].append("\n".join(sentence))
            sentence = []
        else:
            sentence.append(line)
    return [d for d in documents if d]


def deal_documents(documents: list[list[str]], tasks: int, budget: int) -> list[list[str]]:
    """Whole documents dealt round-robin to ``tasks`` subsets until ``budget`` sentences are taken (a document
    is cut at the budget), so that every subset gets about ``budget / tasks`` sentences."""
    subsets: list[list[str]] = [[] for _ in range(tasks)]
    per_task = max(1, budget // tasks)
    taken = 0
    turn = 0
    budget = min(budget, per_task * tasks)  # every subset the same size
    for document in documents:
        if taken >= budget:
            break
        while len(subsets[turn % tasks]) >= per_task:
            turn += 1
        room = per_task - len(subsets[turn % tasks])
        part = document[: min(room, budget - taken)]
        subsets[turn % tasks].extend(part)
        taken += len(part)
        turn += 1
    if any(not subset for subset in subsets):
        raise SystemExit(f"{budget} CoNLL sentences are too few for {tasks} tasks")
    return subsets


def write_tasks(source: str, n: int, args: argparse.Namespace, folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Write each task's split files under ``folder``; the TaskSpec keyword arguments of every task, and the
    pipeline's sentences. (One function for the three sources: they share the cutting, the naming and the specs.)"""
    data_dir: Path = args.data_dir
    kinds = ["sst2"] * n if source == "sst2" else ["conll"] * n if source == "conll" else [
        "sst2" if k % 2 == 0 else "conll" for k in range(n)]
    n_sst2, n_conll = kinds.count("sst2"), kinds.count("conll")
    share = 1.0 if source != "mixed" or n == 1 else 0.5
    specs: list[dict[str, Any]] = []
    blocks: dict[str, Any] = {}
    sentences: list[str] = []
    if n_sst2:
        for split, path, total in (("train", "train.tsv", args.train_examples), ("validation", "dev.tsv", args.eval_examples)):
            rows = sst2_rows(data_dir / "sst2" / path, int(total * share))
            per_task = len(rows) // n_sst2
            if per_task < 1:
                raise SystemExit(f"{len(rows)} SST-2 {split} rows are too few for {n_sst2} tasks")
            blocks[("sst2", split)] = [rows[k * per_task : (k + 1) * per_task] for k in range(n_sst2)]
        sentences += [s.strip() for s, _ in sst2_rows(data_dir / "sst2" / "dev.tsv", args.pipeline_sentences)]
    if n_conll:
        train_docs = conll_documents(data_dir / "conll2003" / "train.txt")
        dev_docs = conll_documents(data_dir / "conll2003" / "dev.txt")
        blocks[("conll", "train")] = deal_documents(train_docs, n_conll, int(args.train_examples * share))
        blocks[("conll", "validation")] = deal_documents(dev_docs, n_conll, int(args.eval_examples * share))
        dev_sentences = [" ".join(line.split()[0] for line in block.splitlines()) for doc in dev_docs for block in doc]
        sentences += dev_sentences[: args.pipeline_sentences]
    index = {"sst2": 0, "conll": 0}
    for k, kind in enumerate(kinds):
        i = index[kind]
        index[kind] += 1
        name = f"{'sst2' if kind == 'sst2' else 'ner'}_{k:03d}"
        paths = {}
        for split in ("train", "validation"):
            block = blocks[(kind, split)][i]
            if kind == "sst2":
                path = folder / f"{name}_{split}.tsv"
                path.write_text("sentence\tlabel\n" + "".join(f"{s}\t{label}\n" for s, label in block), encoding="utf-8")
            else:
                path = folder / f"{name}_{split}.txt"
                path.write_text("-DOCSTART- -X- -X- O\n\n" + "\n\n".join(block) + "\n", encoding="utf-8")
            paths[split] = str(path)
        if kind == "sst2":
            specs.append({
                "name": name, "type": "text-classification", "text_column": "sentence",
                "train": {"format": "tsv", "path": paths["train"]},
                "validation": {"format": "tsv", "path": paths["validation"]},
                "labels": ["negative", "positive"], "label_map": {0: "negative", 1: "positive"},
                "max_length": args.max_length,
            })
        else:
            specs.append({
                "name": name, "type": "token-classification",
                "train": {"format": "conll", "path": paths["train"], "tag_column": -1},
                "validation": {"format": "conll", "path": paths["validation"], "tag_column": -1},
                "labels": CONLL_LABELS, "max_length": args.max_length,
            })
    return specs, sentences[: args.pipeline_sentences]


# ------------------------------------------------------------------------------------------------ one N
def rss_mib() -> float:
    """Current resident set size (MiB), from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


class Segments:
    """Times named segments; under ``--profile`` each also runs under its own cProfile profiler."""

    def __init__(self, profile: bool) -> None:
        self.profile = profile
        self.profilers: dict[str, Any] = {}

    def start(self, name: str) -> None:
        if self.profile:
            import cProfile

            self.profilers[name] = cProfile.Profile()
            self.profilers[name].enable()

    def stop(self, name: str) -> None:
        if self.profile:
            self.profilers[name].disable()

    def dump(self, folder: Path, n: int) -> dict[str, str]:
        out = {}
        for name, profiler in self.profilers.items():
            path = folder / f"N{n}_{name}.pstats"
            profiler.dump_stats(str(path))
            out[name] = str(path)
        return out


def run_one(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Build N tasks, train, evaluate, save and serve them; every measurement of one row.

    Long on purpose: the measurements follow one another on the same trainer, model and temporary folder, in the
    order a user meets them, and each is a few lines of timing around one public call."""
    import datasets
    import torch
    import transformers
    from transformers import AutoTokenizer, TrainerCallback, pipeline

    import hf_mtl
    from hf_mtl.data import DataCollatorForMultiTask
    from hf_mtl.export.public_names import default_encoder

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    import logging
    import warnings

    logging.getLogger("hf_mtl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    encoder = default_encoder()
    rss_imports = rss_mib()
    segments = Segments(args.profile)

    class StepTimes(TrainerCallback):
        def __init__(self) -> None:
            self.begin: dict[int, float] = {}
            self.end: dict[int, float] = {}
            self.cpu_begin: dict[int, float] = {}
            self.cpu_end: dict[int, float] = {}

        def on_step_begin(self, targs: Any, state: Any, control: Any, **kwargs: Any) -> None:
            sync()
            self.begin[state.global_step + 1] = time.perf_counter()
            self.cpu_begin[state.global_step + 1] = time.process_time()
            if state.global_step == args.warmup:
                segments.start("steps")

        def on_step_end(self, targs: Any, state: Any, control: Any, **kwargs: Any) -> None:
            sync()
            self.end[state.global_step] = time.perf_counter()
            self.cpu_end[state.global_step] = time.process_time()
            if state.global_step == 1:
                segments.stop("startup")
            if state.global_step == state.max_steps and state.max_steps > args.warmup:
                segments.stop("steps")

    result: dict[str, Any] = {"n": n, "source": args.source}
    with tempfile.TemporaryDirectory(prefix="hf_mtl_many_") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "data").mkdir()
        specs_kwargs, sentences = write_tasks(args.source, n, args, tmp_path / "data")
        tokenizer = AutoTokenizer.from_pretrained(encoder)
        timer = StepTimes()
        segments.start("startup")
        t0 = time.perf_counter()
        prepared = {}
        for kwargs in specs_kwargs:
            spec = hf_mtl.TaskSpec(**kwargs)
            prepared[spec.name] = hf_mtl.prepare_task(spec, tokenizer, cache_dir=tmp_path / "cache")
        t_prepare = time.perf_counter()
        transformers.set_seed(args.seed)
        model = hf_mtl.MultiTaskModel.from_encoder(encoder, tasks={name: d.head_config for name, d in prepared.items()})
        t_model = time.perf_counter()
        training = hf_mtl.MultiTaskTrainingArguments(
            output_dir=str(tmp_path / "run"), report_to="none", per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=args.batch_size * 2, learning_rate=5e-5, lr_scheduler_type="constant",
            max_steps=args.warmup + args.steps, sampling="uniform", logging_steps=10_000, save_strategy="no",
            eval_strategy="no", disable_tqdm=True, use_cpu=not cuda, bf16=args.bf16, dataloader_pin_memory=False,
            seed=args.seed,
        )
        base_collator = DataCollatorForMultiTask(
            tokenizer, {name: d.head_config["type"] for name, d in prepared.items()},
            pad_to_multiple_of=args.pad_to_multiple_of or None)
        padded: list[int] = []  # padded tokens of every training batch (the work of a step)

        def collate(features: list[dict[str, Any]]) -> dict[str, Any]:
            batch = base_collator(features)
            padded.append(int(batch["input_ids"].numel()))
            return batch

        trainer = hf_mtl.MultiTaskTrainer(
            model=model, args=training, processing_class=tokenizer, data_collator=collate,
            train_dataset={name: d.tokenized["train"] for name, d in prepared.items()},
            eval_dataset={name: d.tokenized["validation"] for name, d in prepared.items()},
            callbacks=[timer],
        )
        trainer.train()
        train_padded = list(padded)
        timed = range(args.warmup + 1, args.warmup + args.steps + 1)
        step_seconds = [timer.end[s] - timer.begin[s] for s in timed]
        step_cpu = [timer.cpu_end[s] - timer.cpu_begin[s] for s in timed]
        result.update({
            "train_examples": sum(d.tokenized["train"].num_rows for d in prepared.values()),
            "eval_examples": sum(d.tokenized["validation"].num_rows for d in prepared.values()),
            "startup_seconds": timer.end[1] - t0,
            "prepare_seconds": t_prepare - t0,
            "model_seconds": t_model - t_prepare,
            "trainer_step1_seconds": timer.end[1] - t_model,
            "step_seconds_median": statistics.median(step_seconds),
            "step_seconds": step_seconds,
            "step_cpu_seconds_median": statistics.median(step_cpu),
            "step_cpu_seconds": step_cpu,
            "parameters": sum(p.numel() for p in model.parameters()),
            "padded_tokens_per_batch": statistics.mean(train_padded) if train_padded else float("nan"),
        })
        segments.start("evaluate")
        sync()
        t = time.perf_counter()
        metrics = trainer.evaluate()
        sync()
        result["eval_seconds"] = time.perf_counter() - t
        segments.stop("evaluate")
        result["eval_ms_per_example"] = 1000 * result["eval_seconds"] / result["eval_examples"]
        result["eval_average"] = metrics.get("eval_average")
        checkpoint = tmp_path / "checkpoint"
        segments.start("save")
        t = time.perf_counter()
        trainer.save_model(str(checkpoint))
        result["save_seconds"] = time.perf_counter() - t
        segments.stop("save")
        result["checkpoint_mib"] = folder_bytes(checkpoint) / 2**20
        model.eval()
        nlp = pipeline("multitask", model=model, tokenizer=tokenizer, device=0 if cuda else -1)
        one = [next(iter(prepared))]
        nlp(sentences[:8], batch_size=args.pipeline_batch_size)  # warm-up
        rounds: dict[str, list[float]] = {"all": [], "one": []}
        cpu_rounds: dict[str, list[float]] = {"all": [], "one": []}
        for round_ in range(args.pipeline_repeats):
            for arm in ("all", "one"):
                if arm == "all" and round_ == 0:
                    segments.start("pipeline_all")
                sync()
                t, cpu = time.perf_counter(), time.process_time()
                nlp(sentences, batch_size=args.pipeline_batch_size, **({"tasks": one} if arm == "one" else {}))
                sync()
                rounds[arm].append(time.perf_counter() - t)
                cpu_rounds[arm].append(time.process_time() - cpu)
                if arm == "all" and round_ == 0:
                    segments.stop("pipeline_all")
        result.update({
            "pipeline_sentences": len(sentences),
            "pipeline_all_seconds": min(rounds["all"]),
            "pipeline_one_seconds": min(rounds["one"]),
            "pipeline_all_per_s": len(sentences) / min(rounds["all"]),
            "pipeline_one_per_s": len(sentences) / min(rounds["one"]),
            "pipeline_rounds": rounds,
            "pipeline_all_cpu_seconds": min(cpu_rounds["all"]),
            "pipeline_one_cpu_seconds": min(cpu_rounds["one"]),
        })
        result["peak_rss_mib"] = peak_rss_mib()
        result["rss_imports_mib"] = rss_imports
        if not args.profile:
            result["probes"] = probes(trainer, prepared, args)
        if args.profile:
            out = Path(args.profile_out) if args.profile_out else Path(tempfile.gettempdir()) / "hf_mtl_many_profile"
            out.mkdir(parents=True, exist_ok=True)
            result["profiles"] = segments.dump(out, n)
            result["profile_steps"] = args.steps
    return result


def probes(trainer: Any, prepared: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Direct timings of the per-step and per-task pieces that the profile points at (after the table's timings,
    so they change none of them): the trainer's config lookup (``model_config_task``, twice per training step),
    ``accelerator.unwrap_model``, ``model.num_parameters(exclude_embeddings=True)`` (what the Trainer's
    ``floating_point_ops`` calls every step), one epoch of the task sampler (this run's, and one with 2,000 examples per task,
    with its peak of traced memory), and ``evaluate()`` on one example per task (its fixed cost per task)."""
    import tracemalloc

    from hf_mtl.training.sampling import MultiTaskBatchSampler

    out: dict[str, Any] = {}
    try:
        first = next(iter(prepared))
        t = time.perf_counter()
        for _ in range(50):
            trainer.model_config_task(first)
        out["model_config_task_ms"] = (time.perf_counter() - t) / 50 * 1000
        t = time.perf_counter()
        for _ in range(50):
            trainer.accelerator.unwrap_model(trainer.model)
        out["unwrap_model_ms"] = (time.perf_counter() - t) / 50 * 1000
        # Trainer.floating_point_ops (once per training step) calls this; it walks every parameter and module
        t = time.perf_counter()
        for _ in range(20):
            trainer.model.num_parameters(exclude_embeddings=True)
        out["num_parameters_ms"] = (time.perf_counter() - t) / 20 * 1000
        for name, sizes in (("sampler", None), ("sampler_2000_per_task", 2000)):
            sampler = (trainer.get_train_sampler() if sizes is None else MultiTaskBatchSampler(
                {task: [20] * sizes for task in prepared}, args.batch_size, strategy="uniform", seed=0))
            tracemalloc.start()
            t = time.perf_counter()
            batches = sum(1 for _ in sampler)
            seconds = time.perf_counter() - t
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            out[f"{name}_batches"] = batches
            out[f"{name}_us_per_batch"] = seconds / batches * 1e6
            out[f"{name}_peak_mib"] = peak / 2**20
        t = time.perf_counter()
        trainer.evaluate({task: d.tokenized["validation"].select([0]) for task, d in prepared.items()})
        out["evaluate_ms_per_task_one_example"] = (time.perf_counter() - t) / len(prepared) * 1000
    except Exception as error:  # a probe must not lose the run's row
        out["error"] = repr(error)
    return out


# ------------------------------------------------------------------------------------------------ profile report
def growth_report(results: list[dict[str, Any]], top: int = 12) -> str:
    """For every profiled segment, the library functions whose number of calls (per step for ``steps``) grows with
    N, i.e. Python work done once per task, with their cumulative seconds and calls at every N, the costliest at
    the largest N first. Call counts do not depend on the machine's load; the seconds do (and include cProfile's
    overhead), so they say which growth matters, not what it costs on a quiet machine."""
    import pstats

    sizes = [r["n"] for r in results]
    lines = []
    for segment in SEGMENTS:
        per_n: list[dict[str, tuple[float, float]]] = []
        for r in results:
            stats = pstats.Stats(r["profiles"][segment]).stats  # type: ignore[attr-defined]
            scale = r["profile_steps"] if segment == "steps" else 1
            table = {}
            for (filename, line, func), (_, calls, _, cumtime, _) in stats.items():
                package = next((p for p in PROFILED_PACKAGES if f"/{p}/" in filename), None)
                if package is None:
                    continue
                short = filename[filename.index(f"/{package}/") + 1 :]
                table[f"{short}:{line}({func})"] = (cumtime / scale, calls / scale)
            per_n.append(table)
        first, last = per_n[0], per_n[-1]
        grown = sorted(
            ((seconds, key) for key, (seconds, calls) in last.items()
             if calls >= 2 * max(first.get(key, (0.0, 0.0))[1], 1) and calls >= sizes[-1] // 2),
            reverse=True,
        )[:top]
        unit = "per step" if segment == "steps" else "per segment"
        lines.append(f"\n### {segment}: functions called more often as N grows; cumulative s (calls) {unit}, "
                     f"N = {', '.join(map(str, sizes))}\n")
        lines.append("| function | " + " | ".join(f"N={n}" for n in sizes) + " |")
        lines.append("|---|" + "---:|" * len(sizes))
        for _, key in grown:
            cells = []
            for table in per_n:
                seconds, calls = table.get(key, (0.0, 0))
                cells.append(f"{seconds:.4f} ({calls:g})")
            lines.append(f"| `{key}` | " + " | ".join(cells) + " |")
        if not grown:
            lines.append("| (none) |" + " |" * len(sizes))
    return "\n".join(lines)


def growth_report_files(paths: list[str]) -> str:
    """:func:`growth_report` from JSON files written by ``--json`` under ``--profile`` (to re-read a run)."""
    results = [r for path in paths for r in json.loads(Path(path).read_text(encoding="utf-8"))["results"]]
    return growth_report(sorted(results, key=lambda r: r["n"]))


# ------------------------------------------------------------------------------------------------ report
def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| N | train / eval examples | start-up s (prepare + model + trainer & step 1) | s per step (median; CPU s; "
        "padded tokens per batch) "
        "| eval ms per example | peak RSS MiB (+ over imports) | checkpoint MiB (save s) "
        "| pipeline sent/s, all N heads | pipeline sent/s, 1 head | all / one (CPU s all / one) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['n']} | {r['train_examples']:,} / {r['eval_examples']:,} "
            f"| {r['startup_seconds']:.1f} ({r['prepare_seconds']:.1f} + {r['model_seconds']:.1f} + "
            f"{r['trainer_step1_seconds']:.1f}) | {r['step_seconds_median']:.3f} ({r['step_cpu_seconds_median']:.3f}; "
            f"{r.get('padded_tokens_per_batch', float('nan')):,.0f} tok) "
            f"| {r['eval_ms_per_example']:.2f} "
            f"| {r['peak_rss_mib']:,.0f} (+{r['peak_rss_mib'] - r['rss_imports_mib']:,.0f}) "
            f"| {r['checkpoint_mib']:.1f} ({r['save_seconds']:.2f}) | {r['pipeline_all_per_s']:.1f} "
            f"| {r['pipeline_one_per_s']:.1f} | {r['pipeline_all_seconds'] / r['pipeline_one_seconds']:.2f} "
            f"({r['pipeline_all_cpu_seconds'] / r['pipeline_one_cpu_seconds']:.2f}) |"
        )
    return "\n".join(lines)


def ratio_line(results: list[dict[str, Any]]) -> str:
    by_n = {r["n"]: r for r in results}
    small = by_n.get(1) or by_n[min(by_n)]
    large = by_n.get(64) or by_n[max(by_n)]
    step = large["step_seconds_median"] / small["step_seconds_median"]
    pipe = large["pipeline_all_seconds"] / large["pipeline_one_seconds"]
    cpu_step = large["step_cpu_seconds_median"] / small["step_cpu_seconds_median"]
    cpu_pipe = large["pipeline_all_cpu_seconds"] / large["pipeline_one_cpu_seconds"]
    suffix = "" if (large["n"], small["n"]) == (64, 1) else f" (N{large['n']}/N{small['n']})"
    return (f"ratio step_time_N64/N1={step:.2f} pipeline_N64/N1={pipe:.2f} cpu_step_time_N64/N1={cpu_step:.2f} "
            f"cpu_pipeline_N64/N1={cpu_pipe:.2f}{suffix}")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())  # Linux (the scripts read /proc too)


def parse_args(argv: list[str] | None = None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,4,16,64", help="numbers of tasks, comma-separated (default 1,4,16,64)")
    parser.add_argument("--source", choices=SOURCES, default="sst2", help="how the tasks are made (see the docstring)")
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them (default 3)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--train-examples", type=int, default=4096,
                        help="training examples in all, cut into N tasks (default 4,096: 16 per task at N = 256)")
    parser.add_argument("--eval-examples", type=int, default=512, help="validation examples in all (default 512)")
    parser.add_argument("--pipeline-sentences", type=int, default=256)
    parser.add_argument("--pipeline-batch-size", type=int, default=32)
    parser.add_argument("--pipeline-repeats", type=int, default=3, help="alternating rounds; the fastest is kept")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--pad-to-multiple-of", type=int, default=0,
                        help="pad every batch to a multiple of this (64: every SST-2 batch is 16 x 64 tokens, so the "
                        "step does the same tensor work at every N; default 0: pad to the longest, as users do)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 mixed precision (MultiTaskTrainingArguments bf16)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: N = 1, 2, 4, 3 + 3 steps, 128 / 32 examples, 32 sentences, 1 round")
    parser.add_argument("--profile", action="store_true",
                        help="run under cProfile and print what grows with N (timings are then inflated)")
    parser.add_argument("--profile-out", default=None, help="keep the .pstats files in this folder")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # the child process: one N
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    add_data_dir_argument(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.steps, args.warmup = "1,2,4", 3, 3
        args.train_examples, args.eval_examples, args.pipeline_sentences, args.pipeline_repeats = 128, 32, 32, 1
    args.data_dir = data_dir_of(parser, args, "sst2/train.tsv" if args.source != "conll" else "conll2003/train.txt")
    return parser, args


def child_argv(args: argparse.Namespace, n: int, result: str) -> list[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--one", str(n), "--result", result,
            "--source", args.source, "--steps", str(args.steps), "--warmup", str(args.warmup),
            "--batch-size", str(args.batch_size), "--train-examples", str(args.train_examples),
            "--eval-examples", str(args.eval_examples), "--pipeline-sentences", str(args.pipeline_sentences),
            "--pipeline-batch-size", str(args.pipeline_batch_size), "--pipeline-repeats", str(args.pipeline_repeats),
            "--max-length", str(args.max_length), "--pad-to-multiple-of", str(args.pad_to_multiple_of),
            "--threads", str(args.threads), "--seed", str(args.seed),
            "--device", args.device, "--data-dir", str(args.data_dir)]
    argv += ["--bf16"] if args.bf16 else []
    argv += ["--profile"] if args.profile else []
    argv += ["--profile-out", args.profile_out] if args.profile_out else []
    return argv


def main(argv: list[str] | None = None) -> None:
    parser, args = parse_args(argv)
    if args.one is not None:
        result = run_one(args.one, args)
        Path(args.result).write_text(json.dumps(result), encoding="utf-8")
        return
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    before = load_average()
    print(f"# many_tasks: N = {', '.join(map(str, sizes))}; source {args.source}; {args.train_examples:,} train / "
          f"{args.eval_examples:,} eval examples in all; batch {args.batch_size}, {args.warmup} warm-up + "
          f"{args.steps} timed steps; {args.pipeline_sentences} pipeline sentences x {args.pipeline_repeats} round(s)")
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; device {args.device}{' bf16' if args.bf16 else ''}; {args.threads} threads; "
          f"data {args.data_dir}; load average before {before}" + ("; UNDER cProfile" if args.profile else ""))
    results = []
    with tempfile.TemporaryDirectory(prefix="hf_mtl_many_results_") as tmp:
        for n in sizes:
            path = Path(tmp) / f"N{n}.json"
            t = time.perf_counter()
            done = subprocess.run(child_argv(args, n, str(path)), capture_output=True, text=True)
            if done.returncode != 0:  # the Trainer's own log lines are kept out of the table unless it failed
                sys.stdout.write(done.stdout + done.stderr)
                raise SystemExit(f"N={n} failed (exit status {done.returncode})")
            result = json.loads(path.read_text(encoding="utf-8"))
            result["process_seconds"] = time.perf_counter() - t
            results.append(result)
            print(f"# N={n}: start-up {result['startup_seconds']:.1f} s, {result['step_seconds_median']:.3f} s/step, "
                  f"pipeline {result['pipeline_all_per_s']:.1f} / {result['pipeline_one_per_s']:.1f} sent/s, "
                  f"process {result['process_seconds']:.0f} s; load {load_average()}", flush=True)
    after = load_average()
    print(f"# load average after {after}\n")
    print(table(results))
    probed = [r for r in results if r.get("probes")]
    if probed:
        keys = [k for k in probed[-1]["probes"] if k != "error"]
        print("\n| probe (see probes()) | " + " | ".join(f"N={r['n']}" for r in probed) + " |")
        print("|---|" + "---:|" * len(probed))
        for key in keys:
            cells = [r["probes"].get(key, float("nan")) for r in probed]
            print(f"| {key} | " + " | ".join(f"{c:,.3f}" if isinstance(c, float) else f"{c:,}" for c in cells) + " |")
        for r in probed:
            if "error" in r["probes"]:
                print(f"# N={r['n']} probe error: {r['probes']['error']}")
    if args.profile:
        print(growth_report(results))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "results": results, "load_before": before, "load_after": after, "args": {
                k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "ratio": ratio_line(results),
        }, indent=1), encoding="utf-8")
    print()
    print(ratio_line(results))


if __name__ == "__main__":
    main()
