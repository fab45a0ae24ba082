"""Quality on real data: one joint model vs one model per task, and transfer to a new task.

Tasks (all from ``/work/shared/data``, override with ``HF_MTL_DATA``), max length 128:

- ``ner``: CoNLL-2003 (train / dev / scored on test), seqeval entity F1;
- ``pos``: UD English-EWT UPOS (train / dev / scored on test), token accuracy;
- ``sentiment``: SST-2 (train; dev is the scoring split, GLUE's test labels are hidden), accuracy;
- ``topic``: AG News, whose 7,600-row test file is the only one here: rows 0-6,079 train, rows 6,080-7,599 score
  (as the data README says; scores are not comparable with published ones), accuracy.

Arms (embedded all-MiniLM-L6-v2, batch 32, learning rate 5e-5, seed 0, linear schedule, no warm-up):

- ``stock``: what users do today: ``transformers.Trainer`` with one ``AutoModelFor*Classification`` per task and
  its default batching (random batches, ``DataCollatorForTokenClassification`` / ``DataCollatorWithPadding``),
  ``750 x scale`` steps each, on the very same tokenized data;
- ``single``: four hf_mtl single-task models, ``750 x scale`` steps each;
- ``joint_proportional``: one joint model, ``3000 x scale`` steps, proportional sampling;
- ``joint_temperature``: the same with temperature sampling (T = 2);
- ``joint_annealed``: the same with annealed sampling (alpha 1.0 -> 0.2);
- ``joint_uniform``: equal exposure: tasks drawn uniformly, so each sees ``750 x scale x 32`` examples, as its
  single-task model does.

Every hf_mtl arm runs through ``hf_mtl.workflow.train_recipe`` (the code behind ``hf-mtl train`` and
``hf-mtl compare``); each arm can run on its own (``--arms single``).

Transfer: a fifth task, ``uner`` (Universal NER on UD English-EWT, PER/LOC/ORG), trained on the first
``--transfer-examples`` (500) sentences of its dev file and scored on its test file, for ``--transfer-steps``
steps: once from the joint model of ``joint_proportional`` (a new head; ``from_model``) and once from the raw
encoder, each with the encoder frozen (only the head trains; learning rate ``--frozen-lr``, 1e-3, since a linear
probe barely moves at 5e-5) and unfrozen (5e-5).

Every arm's result is written to ``--results`` (``docs/benchmarks/quality_arms.json``, committed) as it finishes,
and a rerun skips the arms already there (so a long run can be resumed across sessions: commit the file after
each arm); ``--fresh`` starts over. Models go to ``--work`` (``bench/out/quality``, not committed). The load average before and after each arm is recorded, since
wall times are only comparable on a quiet machine.

Usage:
    python bench/quality.py                  # the full budget: 4 x 750 + 4 x 750 + 3 x 3,000 steps (hours on CPU)
    python bench/quality.py --scale 0.25     # a quarter of every step budget (as recorded in docs/benchmarks.md)
    python bench/quality.py --scale 0.02 --transfer-steps 5 --max-examples 200   # a smoke test (minutes)

Writes ``docs/benchmarks/quality.json`` ({arm: {task: {metric, value, train_seconds, examples_seen}}, transfer,
summary, meta}) and ``docs/benchmarks/quality.png`` (per-task bars, every arm), and prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)

import hf_mtl  # noqa: E402, F401  (registers the model classes)
from hf_mtl.data import prepare_task  # noqa: E402
from hf_mtl.metrics import compute_task_metrics, main_metric_key  # noqa: E402
from hf_mtl.recipe import ModelSection, Recipe  # noqa: E402
from hf_mtl.tasks import TaskSpec  # noqa: E402
from hf_mtl.workflow import TrainResult, load_tokenizer, train_recipe  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("HF_MTL_DATA", REPO_ROOT.parent / "shared" / "data"))  # --data-dir overrides
TASK_NAMES = ("ner", "pos", "sentiment", "topic")
JOINT_ARMS = {
    "joint_proportional": {"sampling": "proportional"},
    "joint_temperature": {"sampling": "temperature", "sampling_temperature": 2.0},
    "joint_annealed": {"sampling": "annealed"},
    # equal exposure: 3,000 steps over 4 tasks drawn uniformly = 750 x 32 examples per task, as a single-task model
    "joint_uniform": {"sampling": "uniform"},
}
ALL_ARMS = ("stock", "single", *JOINT_ARMS, "transfer")
AG_COLUMNS = ["label", "title", "description"]
CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"]  # fmt: skip
UNER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
AG_LABELS = {1: "World", 2: "Sports", 3: "Business", 4: "Sci/Tech"}


def task_dicts(max_examples: int | None) -> list[dict[str, Any]]:
    """The four task specs (as recipe mappings) on the full data sets."""
    cap = {"max_train_examples": max_examples, "max_eval_examples": max_examples} if max_examples else {}
    ag = {"path": str(DATA_DIR / "ag_news" / "test.csv"), "has_header": False, "column_names": AG_COLUMNS}
    return [
        {"name": "ner", "type": "token-classification", "train": str(DATA_DIR / "conll2003" / "train.txt"),
         "validation": str(DATA_DIR / "conll2003" / "dev.txt"), "test": str(DATA_DIR / "conll2003" / "test.txt"),
         "labels": CONLL_LABELS, **cap},
        {"name": "pos", "type": "token-classification",
         "train": {"path": str(DATA_DIR / "ud_en_ewt" / "train.conllu"), "tag_column": "upos"},
         "validation": {"path": str(DATA_DIR / "ud_en_ewt" / "dev.conllu"), "tag_column": "upos"},
         "test": {"path": str(DATA_DIR / "ud_en_ewt" / "test.conllu"), "tag_column": "upos"},
         "labels": UPOS, **cap},
        {"name": "sentiment", "type": "text-classification", "train": str(DATA_DIR / "sst2" / "train.tsv"),
         "validation": str(DATA_DIR / "sst2" / "dev.tsv"), "text_column": "sentence",
         "label_map": {0: "negative", 1: "positive"}, **cap},
        {"name": "topic", "type": "text-classification", "train": {**ag, "rows": "0:6080"},
         "validation": {**ag, "rows": "6080:"}, "text_column": ["title", "description"], "label_map": AG_LABELS,
         **cap},
    ]


def transfer_task(examples: int) -> dict[str, Any]:
    """UNER English-EWT: train on the first ``examples`` dev sentences, score on test."""
    return {"name": "uner", "type": "token-classification", "train": {"path": str(DATA_DIR / "uner_en_ewt" / "dev.iob2"), "tag_column": 2},
            "validation": {"path": str(DATA_DIR / "uner_en_ewt" / "test.iob2"), "tag_column": 2},
            "max_train_examples": examples, "labels": UNER_LABELS}


def make_recipe(tasks: list[dict[str, Any]], output_dir: Path, training: dict[str, Any],
                model: ModelSection | None = None) -> Recipe:
    return Recipe(path=None, output_dir=str(output_dir), model=model or ModelSection(),
                  tasks=[TaskSpec.from_dict(task, where="bench/quality.py") for task in tasks], training=training)


def base_training(args: argparse.Namespace) -> dict[str, Any]:
    return {"per_device_train_batch_size": 32, "learning_rate": 5e-5, "seed": 0, "save_strategy": "no",
            "eval_strategy": "no", "logging_steps": 50, "disable_tqdm": True, "use_cpu": not torch.cuda.is_available(),
            "per_device_eval_batch_size": 64}


def steps(base: int, scale: float) -> int:
    return max(1, round(base * scale))


def result_entries(result: TrainResult, seconds: float | None = None) -> dict[str, dict[str, Any]]:
    """{task: {metric, value, train_seconds, examples_seen}} from a hf_mtl run."""
    scores = result.main_scores()
    return {task: {"metric": f"{metric} ({main_metric_key(metric)})", "value": scores.get(task),
                   "train_seconds": result.train_seconds if seconds is None else seconds,
                   "examples_seen": result.examples_seen.get(task, 0)}
            for task, metric in result.task_metrics.items()}


# ------------------------------------------------------------------------------------------------ arms
def run_stock(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One stock Trainer + AutoModelFor*Classification per task, default (random) batching."""
    tokenizer = load_tokenizer(args.encoder_path)
    out: dict[str, Any] = {}
    parameters = 0
    for task in task_dicts(args.max_examples):
        spec = TaskSpec.from_dict(task, where="bench/quality.py")
        data = prepare_task(spec, tokenizer)
        keep = ["input_ids", "attention_mask", "token_type_ids", "labels"]
        splits = {name: split.remove_columns([c for c in split.column_names if c not in keep])
                  for name, split in data.tokenized.items()}
        id2label = dict(enumerate(data.labels))
        auto = AutoModelForTokenClassification if spec.is_token_task else AutoModelForSequenceClassification
        torch.manual_seed(0)
        model = auto.from_pretrained(args.encoder_path, num_labels=len(data.labels), id2label=id2label,
                                     label2id={v: k for k, v in id2label.items()})
        collator = (DataCollatorForTokenClassification(tokenizer) if spec.is_token_task
                    else DataCollatorWithPadding(tokenizer))
        training = {**base_training(args), "max_steps": steps(750, args.scale)}
        trainer = Trainer(model=model, args=TrainingArguments(output_dir=str(work / f"stock_{spec.name}"),
                                                              report_to="none", **training),
                          train_dataset=splits["train"], data_collator=collator, processing_class=tokenizer)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        scored = splits["test"] if "test" in splits else splits["validation"]
        prediction = trainer.predict(scored)
        metric = data.metric
        predictions = prediction.predictions
        if spec.is_token_task:
            predictions = predictions.argmax(-1)
        scores = compute_task_metrics(metric, np.asarray(predictions), np.asarray(prediction.label_ids), id2label)
        out[spec.name] = {"metric": f"{metric} ({main_metric_key(metric)})", "value": scores[main_metric_key(metric)],
                          "train_seconds": seconds, "examples_seen": training["max_steps"] * 32}
        parameters += sum(p.numel() for p in model.parameters())
        print(f"stock {spec.name}: {out[spec.name]}", flush=True)
    return {"tasks": out, "parameters": parameters, "train_seconds": sum(t["train_seconds"] for t in out.values())}


def run_single(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Arm `single`: one hf_mtl model per task, ``750 x scale`` steps each, through `train_recipe`."""
    training = {**base_training(args), "max_steps": steps(750, args.scale)}
    recipe = make_recipe(task_dicts(args.max_examples), work / "single", training, ModelSection(encoder=args.encoder))
    tasks: dict[str, Any] = {}
    parameters, seconds = 0, 0.0
    for task in recipe.task_names:
        result = train_recipe(recipe, tasks=[task], output_dir=str(work / f"single_{task}"), eval_split="test")
        tasks.update(result_entries(result))
        parameters += result.num_parameters
        seconds += result.train_seconds
        print(f"single {task}: {tasks[task]}", flush=True)
    return {"tasks": tasks, "parameters": parameters, "train_seconds": seconds}


def run_joint(args: argparse.Namespace, work: Path, arm: str) -> dict[str, Any]:
    training = {**base_training(args), "max_steps": steps(3000, args.scale), **JOINT_ARMS[arm]}
    recipe = make_recipe(task_dicts(args.max_examples), work / arm, training, ModelSection(encoder=args.encoder))
    result = train_recipe(recipe, eval_split="test")
    return {"tasks": result_entries(result), "parameters": result.num_parameters,
            "train_seconds": result.train_seconds, "model_dir": result.output_dir}


def run_transfer(args: argparse.Namespace, work: Path, joint_dir: str) -> dict[str, Any]:
    """The new `uner` task from the joint model and from the raw encoder, frozen and unfrozen."""
    out = {}
    for start, model_dir in (("from_joint", joint_dir), ("from_encoder", None)):
        for frozen in (True, False):
            name = f"{start}_{'frozen' if frozen else 'unfrozen'}"
            training = {**base_training(args), "max_steps": args.transfer_steps,
                        "learning_rate": args.frozen_lr if frozen else 5e-5}
            model = ModelSection(encoder=args.encoder, from_model=model_dir, freeze_encoder=frozen)
            recipe = make_recipe([transfer_task(args.transfer_examples)], work / f"transfer_{name}", training, model)
            result = train_recipe(recipe)
            entry = result_entries(result)["uner"]
            entry["learning_rate"] = training["learning_rate"]
            out[name] = entry
            print(f"transfer {name}: {entry}", flush=True)
    return out


# ------------------------------------------------------------------------------------------------ report
def summary(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arm, result in results.items():
        if arm == "transfer" or "tasks" not in result:
            continue
        values = [entry["value"] for entry in result["tasks"].values() if entry["value"] is not None]
        out[arm] = {"mean": sum(values) / len(values) if values else None, "train_seconds": result["train_seconds"],
                    "parameters": result["parameters"]}
    if "single" in out:
        single = results["single"]["tasks"]
        for arm in JOINT_ARMS:
            if arm in results:
                diffs = {task: results[arm]["tasks"][task]["value"] - single[task]["value"] for task in single}
                out[arm]["difference_to_single"] = diffs
                out[arm]["worst_difference_points"] = 100 * min(diffs.values())
    if "stock" in out:
        for arm in JOINT_ARMS:
            if arm in out:
                out[arm]["time_vs_stock_sum"] = out[arm]["train_seconds"] / out["stock"]["train_seconds"]
    return out


def markdown(results: dict[str, Any]) -> str:
    arms = [arm for arm in ("stock", "single", *JOINT_ARMS) if arm in results]
    lines = ["| task | metric | " + " | ".join(arms) + " |", "|---|---|" + "---|" * len(arms)]
    for task in TASK_NAMES:
        metric = next((results[a]["tasks"][task]["metric"] for a in arms if task in results[a]["tasks"]), "")
        cells = []
        for arm in arms:
            entry = results[arm]["tasks"].get(task)
            cells.append("n/a" if entry is None or entry["value"] is None else f"{entry['value']:.4f}")
        lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    summ = summary(results)
    lines.append("| **mean** | | " + " | ".join(f"{summ[a]['mean']:.4f}" for a in arms) + " |")
    lines.append("| train time (s) | | " + " | ".join(f"{summ[a]['train_seconds']:.0f}" for a in arms) + " |")
    lines.append("| parameters | | " + " | ".join(f"{summ[a]['parameters']:,}" for a in arms) + " |")
    lines.append("| examples seen | | " + " | ".join(
        "/".join(str(results[a]["tasks"][t]["examples_seen"]) for t in TASK_NAMES) for a in arms) + " |")
    if "transfer" in results:
        lines += ["", "| transfer to `uner` | encoder | learning rate | F1 on UNER test | train s |", "|---|---|---|---|---|"]
        for name, entry in results["transfer"].items():
            start, frozen = name.rsplit("_", 1)
            lines.append(f"| {start.replace('_', ' ')} | {frozen} | {entry['learning_rate']:g} | {entry['value']:.4f} | "
                         f"{entry['train_seconds']:.0f} |")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [arm for arm in ("stock", "single", *JOINT_ARMS) if arm in results]
    width = 0.8 / max(1, len(arms))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, arm in enumerate(arms):
        values = [results[arm]["tasks"].get(t, {}).get("value") or 0.0 for t in TASK_NAMES]
        bars = ax.bar(np.arange(len(TASK_NAMES)) + (i - (len(arms) - 1) / 2) * width, values, width, label=arm)
        ax.bar_label(bars, fmt="%.3f", fontsize=6, rotation=90, padding=2)
    ax.set_xticks(np.arange(len(TASK_NAMES)), [
        f"{t}\n({results[arms[0]]['tasks'][t]['metric'].split(' (')[0]})" for t in TASK_NAMES])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score on the scoring split")
    ax.set_title("hf_mtl quality: one model per task vs one joint model (all-MiniLM-L6-v2)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the step budgets (750 / 3,000)")
    parser.add_argument("--arms", default=",".join(ALL_ARMS), help=f"comma-separated, from {', '.join(ALL_ARMS)}")
    parser.add_argument("--encoder", default="embedded", help="encoder folder or Hub id (default: embedded MiniLM)")
    parser.add_argument("--transfer-examples", type=int, default=500)
    parser.add_argument("--transfer-steps", type=int, default=150)
    parser.add_argument("--frozen-lr", type=float, default=1e-3)
    parser.add_argument("--max-examples", type=int, default=None, help="cap every split (smoke tests only)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default=None,
                        help="the shared data folder (default: $HF_MTL_DATA, else ../shared/data next to the repository)")
    parser.add_argument("--results", default=str(REPO_ROOT / "docs" / "benchmarks" / "quality_arms.json"),
                        help="each finished arm is written here (commit it: a rerun skips the arms it holds)")
    parser.add_argument("--work", default=str(REPO_ROOT / "bench" / "out" / "quality"))
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "benchmarks" / "quality.json"))
    parser.add_argument("--fresh", action="store_true", help="ignore arm results already in --work")
    args = parser.parse_args(argv)
    global DATA_DIR
    if args.data_dir:
        DATA_DIR = Path(args.data_dir)
    if not DATA_DIR.is_dir():
        parser.error(f"data folder {DATA_DIR} does not exist (give --data-dir or set HF_MTL_DATA)")
    args.encoder_path = ModelSection(encoder=args.encoder).encoder_path
    arms = [arm.strip() for arm in args.arms.split(",") if arm.strip()]
    unknown = [arm for arm in arms if arm not in ALL_ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {unknown}; choose from {ALL_ARMS}")
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    done_file = Path(args.results)
    if args.fresh:
        shutil.rmtree(work, ignore_errors=True)
        done_file.unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = json.loads(done_file.read_text()) if done_file.exists() else {}

    def record(arm: str, value: dict[str, Any], load_before: tuple[float, ...]) -> None:
        value["load_average"] = {"before": list(load_before), "after": list(os.getloadavg())}
        results[arm] = value
        done_file.write_text(json.dumps(results, indent=2) + "\n")

    for arm in arms:
        if arm in results or arm == "transfer":
            continue
        print(f"=== arm {arm} ===", flush=True)
        load = os.getloadavg()
        if arm == "stock":
            record(arm, run_stock(args, work), load)
        elif arm == "single":
            record(arm, run_single(args, work), load)
        else:
            record(arm, run_joint(args, work, arm), load)
    if "transfer" in arms and "transfer" not in results:
        if "joint_proportional" not in results:
            parser.error("transfer needs the joint_proportional arm (add it to --arms)")
        print("=== transfer ===", flush=True)
        load = os.getloadavg()
        transfer = run_transfer(args, work, results["joint_proportional"]["model_dir"])
        transfer["load_average"] = {"before": list(load), "after": list(os.getloadavg())}
        results["transfer"] = transfer
        done_file.write_text(json.dumps(results, indent=2) + "\n")

    transfer_results = {k: v for k, v in results.get("transfer", {}).items() if k != "load_average"}
    report = {arm: value["tasks"] for arm, value in results.items() if arm != "transfer"}
    report["transfer"] = transfer_results
    report["summary"] = summary(results)
    report["meta"] = {
        "command": "python bench/quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "encoder": args.encoder, "scale": args.scale, "steps_single": steps(750, args.scale),
        "steps_joint": steps(3000, args.scale), "transfer_steps": args.transfer_steps,
        "transfer_examples": args.transfer_examples, "threads": args.threads,
        "device": "cuda" if torch.cuda.is_available() else "cpu", "cpu_count": os.cpu_count(),
        "platform": platform.platform(), "torch": torch.__version__, "transformers": transformers.__version__,
        "hf_mtl": hf_mtl.__version__,
        "load_average": {arm: value.get("load_average") for arm, value in results.items()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    plot({arm: value for arm, value in results.items() if arm != "transfer"}, out.with_suffix(".png"))
    print(markdown({**{a: v for a, v in results.items() if a != "transfer"}, "transfer": transfer_results})
          if transfer_results else markdown({a: v for a, v in results.items() if a != "transfer"}))
    summ = report["summary"]
    if "single" in summ and "joint_proportional" in summ:
        print(f"ratio joint_mean-single_mean={summ['joint_proportional']['mean'] - summ['single']['mean']:+.4f} "
              f"worst_task_points={summ['joint_proportional']['worst_difference_points']:+.2f}"
              + (f" joint_time/stock_time={summ['joint_proportional']['time_vs_stock_sum']:.2f}"
                 if "time_vs_stock_sum" in summ["joint_proportional"] else ""))
    return report


if __name__ == "__main__":
    main()
