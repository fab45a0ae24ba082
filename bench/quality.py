"""Quality on real data: one joint model vs one model per task, and transfer to a new task.

Tasks (all from the data folder: ``--data-dir``, else ``$HF_MTL_DATA``, else ``../shared/data``), max length 128:

- ``ner``: CoNLL-2003 (train / dev / scored on test), seqeval entity F1;
- ``pos``: UD English-EWT UPOS (train / dev / scored on test), token accuracy;
- ``sentiment``: SST-2 (train; dev is the scoring split, GLUE's test labels are hidden), accuracy;
- ``topic``: AG News, whose 7,600-row test file is the only one here: rows 0-6,079 train, rows 6,080-7,599 score
  (as the data README says; scores are not comparable with published ones), accuracy.

Arms (embedded all-MiniLM-L6-v2, batch 32, learning rate 5e-5, seed 0 (`--seed`), linear schedule, no warm-up):

- ``stock``: what users do today: ``transformers.Trainer`` with one ``AutoModelFor*Classification`` per task and
  its default batching (random batches, ``DataCollatorForTokenClassification`` / ``DataCollatorWithPadding``),
  ``750 x scale`` steps each, on the very same tokenized data;
- ``single``: four hf_mtl single-task models, ``750 x scale`` steps each;
- ``joint_proportional``: one joint model, ``3000 x scale`` steps, proportional sampling;
- ``joint_temperature``: the same with temperature sampling (T = 2);
- ``joint_annealed``: the same with annealed sampling (alpha 1.0 -> 0.2);
- ``joint_uniform``: equal exposure: tasks drawn uniformly, so each sees ``750 x scale x 32`` examples, as its
  single-task model does.

- ``joint_temperature_scaled``: temperature sampling with each task's loss times 1/ln(number of labels) (Muppet,
  ``loss_scaling: log_labels``) and the heads at 10x the learning rate (``head_learning_rate_multiplier: 10``);
- ``joint_temperature_layers1`` / ``joint_temperature_layers2``: temperature sampling (T = 2) with each task its
  own copy of the encoder's top 1 / 2 layers (``model: {task_layers: k}``, ``docs/capacity.md``);
- ``joint_temperature_adapters``: temperature sampling (T = 2) with each task its own low-rank adapter (r = 16 on
  query, value and the dense layers of every encoder layer: ``model: {task_adapters: ...}``, ``docs/capacity.md``);
  ``joint_temperature_adapters2``: the same on the top 2 layers only (the pipeline keeps one shared bottom pass);
- ``joint_<strategy>_refine``: joint, then refine (MT-DNN): that joint arm's model, then ``--refine-steps`` (150 x
  scale) steps on each task alone through ``hf_mtl.workflow.refine.refine_model`` (``hf-mtl refine``); its
  ``train_seconds`` / ``examples_seen`` count the joint run and the refinement; ``refine`` in ``--arms`` stands
  for the best finished joint arm. ``--refine-steps N`` (another budget) and ``--refine-tasks ner`` (some tasks
  only) record the arm under a name that carries them (``joint_temperature_refine_ner_750``), beside the default
  one; such a partial arm has no mean. A joint model folder that is gone (another machine) is trained again first.

Every hf_mtl arm runs through ``hf_mtl.workflow.train.train_recipe`` (the code behind ``hf-mtl train`` and
``hf-mtl compare``); each arm can run on its own (``--arms single``).

Transfer: a fifth task, ``uner`` (Universal NER on UD English-EWT, PER/LOC/ORG), trained on the first
``--transfer-examples`` (500) sentences of its dev file and scored on its test file, for ``--transfer-steps``
steps: once from a joint model (``--transfer-from``, default the best finished joint arm; a new head;
``from_model``) and once from the raw
encoder, each with the encoder frozen (only the head trains; learning rate ``--frozen-lr``, 1e-3, since a linear
probe barely moves at 5e-5) and unfrozen (5e-5).

Every arm's result is written to ``--results`` (``docs/benchmarks/quality_arms.json``, committed) as it finishes,
and a rerun skips the arms already there (so a long run can be resumed across sessions: commit the file after
each arm); each run saves its arms on top of what the file holds then, so two runs of different arms can go side by
side (e.g. each pinned to one core with ``--threads 1``); ``--fresh`` starts over. The one-model-per-task arms
(``single``, ``stock``) also record each task as it finishes (under ``_partial``), so a stopped run resumes from
the next task. Models go to ``--work``
(``bench/out/quality``, not committed). The load average before and after each arm is recorded, since wall times
are only comparable on a quiet machine.

Noise: ``--noise-seeds 0,1,2`` runs the chosen arms once per seed (``--seed`` sets it for a normal run), one after
the other, into ``--noise-results`` (``docs/benchmarks/quality_noise.json``) with the per-task standard deviation
and range in points; the report's summary includes that spread when the file exists. The summary's ``targets``
(and the last lines printed) measure the issue's goals on whatever arms have finished. ``meta.command`` omits the
options that only name paths.

Usage:
    python bench/quality.py                  # the full budget: 4 x 750 + 4 x 750 + 3 x 3,000 steps (hours on CPU)
    python bench/quality.py --scale 0.25     # a quarter of every step budget (as recorded in docs/benchmarks.md)
    python bench/quality.py --scale 0.02 --transfer-steps 5 --max-examples 200   # a smoke test (minutes)
    python bench/quality.py --arms joint_uniform_refine   # refine a finished joint arm (150 steps per task)
    python bench/quality.py --arms joint_temperature_refine --refine-tasks ner --refine-steps 750   # a longer NER refine
    python bench/quality.py --noise-seeds 0,1,2 --arms single --tasks sentiment,topic --scale 0.1 --threads 1

Writes ``docs/benchmarks/quality.json`` ({arm: {task: {metric, value, train_seconds, examples_seen}}, transfer,
summary, meta}; the report itself is in ``bench/quality_report.py``) and ``docs/benchmarks/quality.png`` (per-task bars, every arm), and prints a markdown table.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from data_folder import add_data_dir_argument, data_dir_of  # noqa: E402
from quality_report import (  # noqa: E402
    REFINE_SUFFIX,
    best_joint_arm,
    capacity_target_lines,
    capacity_targets,
    markdown,
    noise_spread,
    ordered_arms,
    plot,
    refine_source,
    save_results,
    summary,
    target_lines,
    tradeoff,
    tradeoff_markdown,
    tradeoff_plot,
)
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
from hf_mtl.data.tasks import TaskSpec  # noqa: E402
from hf_mtl.metrics import compute_task_metrics, main_metric_key  # noqa: E402
from hf_mtl.workflow.recipe import ModelSection, Recipe  # noqa: E402
from hf_mtl.workflow.refine import refine_model  # noqa: E402
from hf_mtl.workflow.train import TrainResult, load_tokenizer, train_recipe  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"  # set in main() from --data-dir / $HF_MTL_DATA
TASK_NAMES = ("ner", "pos", "sentiment", "topic")
JOINT_ARMS = {
    "joint_proportional": {"sampling": "proportional"},
    "joint_temperature": {"sampling": "temperature", "sampling_temperature": 2.0},
    "joint_annealed": {"sampling": "annealed"},
    # equal exposure: 3,000 steps over 4 tasks drawn uniformly = 750 x 32 examples per task, as a single-task model
    "joint_uniform": {"sampling": "uniform"},
    # temperature sampling + Muppet's loss scaling (1/ln(number of labels)) + heads at 10x the encoder's learning rate
    # (the training options `loss_scaling` / `head_learning_rate_multiplier` of branch `trainer`)
    "joint_temperature_scaled": {"sampling": "temperature", "sampling_temperature": 2.0, "loss_scaling": "log_labels",
                                 "head_learning_rate_multiplier": 10.0},
    # issue 23: temperature sampling (T = 2) + each task its own copy of the top 1 / 2 encoder layers (task_layers)
    "joint_temperature_layers1": {"sampling": "temperature", "sampling_temperature": 2.0},
    "joint_temperature_layers2": {"sampling": "temperature", "sampling_temperature": 2.0},
    # issue 23: temperature sampling (T = 2) + each task its own low-rank adapter on every layer (task_adapters)
    "joint_temperature_adapters": {"sampling": "temperature", "sampling_temperature": 2.0},
    "joint_temperature_adapters2": {"sampling": "temperature", "sampling_temperature": 2.0},  # top 2 layers only
}
# The model settings of the joint arms that have any (recipe `model:` keys); the others share every encoder layer.
# Adapters: r = 16 (alpha 32) on query, value and the three dense layers of all 6 layers: 589,824 parameters per task
# (2.6% of the encoder). Every layer, not the top ones: the layers1/2 arms already measure capacity at the top only,
# and a low-rank delta is cheap enough to place at every depth (the price: each task replays all 6 layers at
# inference; its exported single-task model costs what one model costs).
JOINT_MODEL = {"joint_temperature_layers1": {"task_layers": 1}, "joint_temperature_layers2": {"task_layers": 2},
               "joint_temperature_adapters": {"task_adapters": {"r": 16, "alpha": 32,
                                                                "target_modules": ["query", "value", "dense"]}},
               # the same on the top 2 layers only: one shared bottom pass + 2 layers per task at inference (the
               # issue's <= 2x inference time; 196,608 parameters per task)
               "joint_temperature_adapters2": {"task_adapters": {"r": 16, "alpha": 32, "layers": 2,
                                                                 "target_modules": ["query", "value", "dense"]}}}
# joint_<strategy>_refine (REFINE_SUFFIX): that joint model, then --refine-steps per task (MT-DNN)
DEFAULT_REFINE_STEPS = 150
REFINE_ARMS = tuple(f"{arm}{REFINE_SUFFIX}" for arm in JOINT_ARMS)
# "refine" stands for the best finished joint arm + refine; "transfer" starts from the best finished joint arm.
ALL_ARMS = ("stock", "single", *JOINT_ARMS, *REFINE_ARMS, "refine", "transfer")
# The tasks an unfinished one-model-per-task arm (single, stock) has finished: {arm: {setting, tasks, parameters}}.
PARTIAL_KEY = "_partial"
PATH_OPTIONS = ("--work", "--results", "--out", "--data-dir", "--noise-results", "--inference-results")  # not recorded in meta.command
AG_COLUMNS = ["label", "title", "description"]
CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"]  # fmt: skip
UNER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
AG_LABELS = {1: "World", 2: "Sports", 3: "Business", 4: "Sci/Tech"}


def task_dicts(max_examples: int | None, names: tuple[str, ...] = TASK_NAMES) -> list[dict[str, Any]]:
    """The task specs (as recipe mappings) on the full data sets: the four tasks, or those in ``names``."""
    return [task for task in _all_task_dicts(max_examples) if task["name"] in names]


def _all_task_dicts(max_examples: int | None) -> list[dict[str, Any]]:
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
    return {"per_device_train_batch_size": 32, "learning_rate": 5e-5, "seed": args.seed, "save_strategy": "no",
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
def per_task_arm(arm: str, args: argparse.Namespace, tasks: list[str], results: dict[str, Any],
                 save: Callable[[], None], run_task: Callable[[str], tuple[dict[str, Any], int]]) -> dict[str, Any]:
    """An arm of one model per task, resumable task by task.

    Each finished task goes to ``results[PARTIAL_KEY][arm]`` and is saved at once, so a stopped run loses at most
    one task's model; a rerun with the same seed and scale skips the tasks held there. ``run_task(task)`` returns
    the task's entry (``train_seconds`` included) and its model's parameter count.
    """
    setting = {"seed": args.seed, "scale": args.scale, "max_examples": args.max_examples}
    partial = results.setdefault(PARTIAL_KEY, {}).get(arm)
    if partial is None or partial.get("setting") != setting:
        partial = {"setting": setting, "tasks": {}, "parameters": {}}
        results[PARTIAL_KEY][arm] = partial
    for task in tasks:
        if task in partial["tasks"]:
            print(f"{arm} {task}: kept from the stopped run: {partial['tasks'][task]}", flush=True)
            continue
        entry, parameters = run_task(task)
        partial["tasks"][task] = entry
        partial["parameters"][task] = parameters
        save()
        print(f"{arm} {task}: {entry}", flush=True)
    del results[PARTIAL_KEY][arm]
    if not results[PARTIAL_KEY]:
        del results[PARTIAL_KEY]
    return {"tasks": partial["tasks"], "parameters": sum(partial["parameters"].values()),
            "train_seconds": sum(entry["train_seconds"] for entry in partial["tasks"].values())}


def run_stock(args: argparse.Namespace, work: Path, results: dict[str, Any], save: Callable[[], None]) -> dict[str, Any]:
    """One stock Trainer + AutoModelFor*Classification per task, default (random) batching."""
    tokenizer = load_tokenizer(args.encoder_path)
    specs = {task["name"]: TaskSpec.from_dict(task, where="bench/quality.py")
             for task in task_dicts(args.max_examples, args.tasks)}

    def run_task(name: str) -> tuple[dict[str, Any], int]:
        spec = specs[name]
        data = prepare_task(spec, tokenizer)
        keep = ["input_ids", "attention_mask", "token_type_ids", "labels"]
        splits = {split_name: split.remove_columns([c for c in split.column_names if c not in keep])
                  for split_name, split in data.tokenized.items()}
        id2label = dict(enumerate(data.labels))
        auto = AutoModelForTokenClassification if spec.is_token_task else AutoModelForSequenceClassification
        torch.manual_seed(args.seed)
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
        entry = {"metric": f"{metric} ({main_metric_key(metric)})", "value": scores[main_metric_key(metric)],
                 "train_seconds": seconds, "examples_seen": training["max_steps"] * 32}
        return entry, sum(p.numel() for p in model.parameters())

    return per_task_arm("stock", args, list(specs), results, save, run_task)


def run_single(args: argparse.Namespace, work: Path, results: dict[str, Any], save: Callable[[], None]) -> dict[str, Any]:
    """Arm `single`: one hf_mtl model per task, ``750 x scale`` steps each, through `train_recipe`."""
    training = {**base_training(args), "max_steps": steps(750, args.scale)}
    recipe = make_recipe(task_dicts(args.max_examples, args.tasks), work / "single", training,
                         ModelSection(encoder=args.encoder))

    def run_task(task: str) -> tuple[dict[str, Any], int]:
        # a task is recorded only when it finishes, so a folder left by a stopped run is scratch: overwrite it
        result = train_recipe(recipe, tasks=[task], output_dir=str(work / f"single_{task}"), eval_split="test",
                              overwrite=True)
        return result_entries(result)[task], result.num_parameters

    return per_task_arm("single", args, recipe.task_names, results, save, run_task)


def run_joint(args: argparse.Namespace, work: Path, arm: str) -> dict[str, Any]:
    training = {**base_training(args), "max_steps": steps(3000, args.scale), **JOINT_ARMS[arm]}
    recipe = make_recipe(task_dicts(args.max_examples, args.tasks), work / arm, training,
                         ModelSection(encoder=args.encoder, **JOINT_MODEL.get(arm, {})))
    result = train_recipe(recipe, eval_split="test", overwrite=True)  # a stopped run's folder is scratch
    return {"tasks": result_entries(result), "parameters": result.num_parameters,
            "train_seconds": result.train_seconds, "model_dir": result.output_dir, "model": JOINT_MODEL.get(arm, {})}


def refine_key(arm: str, args: argparse.Namespace) -> str:
    """The name a refine arm is recorded under: ``joint_<strategy>_refine`` at the default budget (150 steps x
    --scale, every task); a longer one or one of some tasks carries them: ``joint_temperature_refine_ner_750``."""
    if refine_source(arm) is None or (args.refine_steps == DEFAULT_REFINE_STEPS and not args.refine_tasks):
        return arm
    tasks = f"{'+'.join(args.refine_tasks)}_" if args.refine_tasks else ""
    return f"{arm}_{tasks}{args.refine_steps}"


def run_refine(args: argparse.Namespace, work: Path, joint_arm: str, joint: dict[str, Any], key: str) -> dict[str, Any]:
    """A refine arm (recorded as ``key``): the joint model of ``joint_arm``, then ``--refine-steps`` on each task of
    ``--refine-tasks`` (default: every task) alone.

    Each task's ``train_seconds`` / ``examples_seen`` count the joint run and the refinement (the whole cost of the
    refined model); ``joint_value`` is the joint model's score before refining, scored again here as a check. A
    joint model folder that is gone (another machine) is trained again first, with the same seed and recipe, and
    its new folder recorded for the next refine (the joint arm's recorded scores stay).
    """
    model_dir = Path(joint["model_dir"])
    if not (model_dir / "config.json").is_file():
        print(f"{joint_arm}: its model folder {model_dir} is gone; training it again (seed {args.seed})", flush=True)
        model_dir = Path(run_joint(args, work, joint_arm)["model_dir"])
        joint["model_dir"] = str(model_dir)  # recorded with this arm: the next refine reuses it (scores are kept)
    training = {**base_training(args), **JOINT_ARMS.get(joint_arm, {})}
    recipe = make_recipe(task_dicts(args.max_examples, args.tasks), work / key, training,
                         ModelSection(encoder=args.encoder))
    refinement = refine_model(model_dir, recipe, steps=steps(args.refine_steps, args.scale), output_dir=work / key,
                              tasks=list(args.refine_tasks) or None, eval_split="test")
    tasks = {}
    for row in refinement.rows():
        before = joint["tasks"][row["task"]]
        tasks[row["task"]] = {
            "metric": row["metric"], "value": row["refined"], "joint_value": row["joint"],
            "train_seconds": before["train_seconds"] + row["refine_train_seconds"],
            "refine_train_seconds": row["refine_train_seconds"], "refine_steps": row["refine_steps"],
            "examples_seen": before["examples_seen"] + row["refine_examples_seen"],
        }
        print(f"{key} {row['task']}: {tasks[row['task']]}", flush=True)
    refined = refinement.refined.values()
    return {"tasks": tasks, "parameters": sum(result.num_parameters for result in refined), "from_arm": joint_arm,
            "train_seconds": joint["train_seconds"] + sum(result.train_seconds for result in refined)}


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
            result = train_recipe(recipe, overwrite=True)
            entry = result_entries(result)["uner"]
            entry["learning_rate"] = training["learning_rate"]
            out[name] = entry
            print(f"transfer {name}: {entry}", flush=True)
    return out


# ------------------------------------------------------------------------------------------------ main
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the step budgets (750 / 3,000)")
    parser.add_argument("--arms", default=",".join(ALL_ARMS), help=f"comma-separated, from {', '.join(ALL_ARMS)}")
    parser.add_argument("--tasks", default=",".join(TASK_NAMES), help="comma-separated subset of the four tasks")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every arm (data order, new heads)")
    parser.add_argument("--encoder", default="embedded", help="encoder folder or Hub id (default: embedded MiniLM)")
    parser.add_argument("--refine-steps", type=int, default=DEFAULT_REFINE_STEPS,
                        help="refine arms: steps per task (x --scale); another budget is recorded as its own arm")
    parser.add_argument("--refine-tasks", default="",
                        help="refine arms: refine only these tasks (comma-separated; recorded as its own arm)")
    parser.add_argument("--transfer-from", default=None, help="joint arm whose model transfer starts from (default: best)")
    parser.add_argument("--transfer-examples", type=int, default=500)
    parser.add_argument("--transfer-steps", type=int, default=150)
    parser.add_argument("--frozen-lr", type=float, default=1e-3)
    parser.add_argument("--max-examples", type=int, default=None, help="cap every split (smoke tests only)")
    parser.add_argument("--threads", type=int, default=2)
    add_data_dir_argument(parser)
    parser.add_argument("--results", default=str(REPO_ROOT / "docs" / "benchmarks" / "quality_arms.json"),
                        help="each finished arm is written here (commit it: a rerun skips the arms it holds)")
    parser.add_argument("--noise-seeds", default=None,
                        help="noise mode: run --arms once per seed (e.g. 0,1,2) into --noise-results, and report "
                             "the seed-to-seed spread; --results / --out are not touched")
    parser.add_argument("--noise-results", default=str(REPO_ROOT / "docs" / "benchmarks" / "quality_noise.json"))
    parser.add_argument("--inference-results", default=str(REPO_ROOT / "docs" / "benchmarks" / "quality_inference.json"),
                        help="bench/quality_inference.py's output: adds the trade-off table and plot when it exists")
    parser.add_argument("--work", default=str(REPO_ROOT / "bench" / "out" / "quality"))
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "benchmarks" / "quality.json"))
    parser.add_argument("--fresh", action="store_true", help="ignore arm results already in --work")
    return parser


def recorded_command(argv: list[str]) -> str:
    """The command line without the options that only name machine paths (--work, --results, ...)."""
    kept, skip = [], False
    for argument in argv:
        if skip:
            skip = False
            continue
        name = argument.split("=", 1)[0]
        if name in PATH_OPTIONS:
            skip = "=" not in argument
            continue
        kept.append(argument)
    return " ".join(["python bench/quality.py", *kept])


def resolve_arms(parser: argparse.ArgumentParser, args: argparse.Namespace, results: dict[str, Any]) -> list[str]:
    """The arms to run, in order; ``refine`` becomes the best joint arm's refine arm. Checked before anything runs."""
    arms = [arm.strip() for arm in args.arms.split(",") if arm.strip()]
    unknown = [arm for arm in arms if arm not in ALL_ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {unknown}; choose from {ALL_ARMS}")
    if "refine" in arms:
        best = best_joint_arm(results)
        if best is None:
            parser.error("arm 'refine' refines the best finished joint arm, and none has finished; name one "
                         f"({', '.join(REFINE_ARMS)}) after its joint arm")
        arms = [f"{best}{REFINE_SUFFIX}" if arm == "refine" else arm for arm in arms]
    for position, arm in enumerate(arms):
        source = refine_source(arm)
        if source and source not in results and source not in arms[:position]:
            parser.error(f"arm {arm} starts from the {source} model: run {source} first (put it before {arm})")
    return arms


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def run_arms(args: argparse.Namespace, arms: list[str], results: dict[str, Any], save: Callable[[], None],
             work: Path, parser: argparse.ArgumentParser) -> None:
    """Run each arm not yet in ``results``, calling ``save`` after each (a stopped run loses at most one arm)."""

    def record(arm: str, value: dict[str, Any], load_before: tuple[float, ...]) -> None:
        value["load_average"] = {"before": list(load_before), "after": list(os.getloadavg())}
        value["seed"] = args.seed
        results[arm] = value
        save()

    for arm in arms:
        key = refine_key(arm, args)
        if key in results or arm == "transfer":
            continue
        print(f"=== arm {key} (seed {args.seed}) ===", flush=True)
        load = os.getloadavg()
        if arm == "stock":
            record(arm, run_stock(args, work, results, save), load)
        elif arm == "single":
            record(arm, run_single(args, work, results, save), load)
        elif refine_source(arm):
            source = refine_source(arm)
            record(key, run_refine(args, work, source, results[source], key), load)
        else:
            record(arm, run_joint(args, work, arm), load)
    if "transfer" in arms and "transfer" not in results:
        source = args.transfer_from or best_joint_arm(results)
        if source not in results:
            parser.error(f"transfer starts from a finished joint arm ({source or 'none has finished'}); run one first")
        print(f"=== transfer (from {source}) ===", flush=True)
        load = os.getloadavg()
        transfer = run_transfer(args, work, results[source]["model_dir"])
        transfer["load_average"] = {"before": list(load), "after": list(os.getloadavg())}
        transfer["from_arm"] = source
        results["transfer"] = transfer
        save()


def run_noise(args: argparse.Namespace, arms: list[str], argv: list[str], work: Path) -> dict[str, Any]:
    """Noise mode: the arms once per seed of ``--noise-seeds``, sequentially; writes the spread to --noise-results."""
    noise_file = Path(args.noise_results)
    noise: dict[str, Any] = json.loads(noise_file.read_text()) if noise_file.exists() and not args.fresh else {}
    runs = noise.setdefault("runs", {})
    for seed in [int(seed) for seed in args.noise_seeds.split(",")]:
        args.seed = seed
        by_seed = runs.setdefault(str(seed), {})
        run_arms(args, arms, by_seed, lambda: write_json(noise_file, noise), work / f"noise_seed{seed}", _parser())
    noise["spread"] = noise_spread(runs)
    noise["meta"] = {**_meta(args, argv), "seeds": sorted(int(seed) for seed in runs)}
    write_json(noise_file, noise)
    for arm, tasks in noise["spread"].items():
        for task, value in tasks.items():
            print(f"noise {arm} {task}: {value}")
    return noise


def _meta(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    return {
        "command": recorded_command(argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "encoder": args.encoder, "scale": args.scale, "seed": args.seed, "tasks": list(args.tasks),
        "steps_single": steps(750, args.scale), "steps_joint": steps(3000, args.scale),
        "refine_steps": steps(args.refine_steps, args.scale), "refine_tasks": list(args.refine_tasks) or None,
        "transfer_steps": args.transfer_steps,
        "transfer_examples": args.transfer_examples, "threads": args.threads,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", "cpu_count": os.cpu_count(),
        "platform": platform.platform(), "torch": torch.__version__, "transformers": transformers.__version__,
        "hf_mtl": hf_mtl.__version__,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(argv if argv is not None else sys.argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    global DATA_DIR
    DATA_DIR = data_dir_of(parser, args)
    args.encoder_path = ModelSection(encoder=args.encoder).encoder_path
    args.tasks = tuple(task.strip() for task in args.tasks.split(",") if task.strip())
    if not args.tasks or set(args.tasks) - set(TASK_NAMES):
        parser.error(f"--tasks must name some of {', '.join(TASK_NAMES)}, got {args.tasks}")
    args.refine_tasks = tuple(task.strip() for task in args.refine_tasks.split(",") if task.strip())
    if set(args.refine_tasks) - set(args.tasks):
        parser.error(f"--refine-tasks must name some of the tasks ({', '.join(args.tasks)}), got {args.refine_tasks}")
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    done_file = Path(args.results)
    if args.fresh and not args.noise_seeds:
        shutil.rmtree(work, ignore_errors=True)
        done_file.unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    if args.noise_seeds:
        return run_noise(args, resolve_arms(parser, args, {}), argv, work)
    results: dict[str, Any] = json.loads(done_file.read_text()) if done_file.exists() else {}
    arms = resolve_arms(parser, args, results)
    run_arms(args, arms, results, lambda: save_results(done_file, results), work, parser)

    transfer_results = {k: v for k, v in results.get("transfer", {}).items() if k not in ("load_average", "from_arm")}
    arm_results = {arm: results[arm] for arm in ordered_arms(results)}
    report: dict[str, Any] = {arm: value["tasks"] for arm, value in arm_results.items()}
    report["transfer"] = transfer_results
    report["summary"] = summary(results)
    noise_file = Path(args.noise_results)
    if noise_file.exists():
        noise = json.loads(noise_file.read_text())
        report["summary"]["noise"] = noise_spread(noise.get("runs", {}))
        report["summary"]["noise_meta"] = {key: noise.get("meta", {}).get(key)
                                           for key in ("command", "seeds", "scale", "tasks")}
    report["meta"] = {**_meta(args, argv), "arm_seeds": {arm: value.get("seed", 0) for arm, value in arm_results.items()},
                      "load_average": {arm: value.get("load_average") for arm, value in results.items()}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    plot(arm_results, args.tasks, out.with_suffix(".png"))
    print(markdown({**arm_results, "transfer": transfer_results}, args.tasks))
    inference_file = Path(args.inference_results)
    if inference_file.exists():  # bench/quality_inference.py's speeds: the trade-off table and plot
        rows = tradeoff(arm_results, json.loads(inference_file.read_text()), set(JOINT_MODEL))
        report["tradeoff"] = rows
        report["capacity_targets"] = capacity_targets(rows, set(JOINT_MODEL))
        out.write_text(json.dumps(report, indent=2) + "\n")
        tradeoff_plot(rows, out.with_name(f"{out.stem}_tradeoff.png"))
        print(tradeoff_markdown(rows))
        for line in capacity_target_lines(rows, report["capacity_targets"]):
            print(line)
    for line in target_lines(report["summary"]):
        print(line)
    return report


if __name__ == "__main__":
    main()
