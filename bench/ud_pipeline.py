"""A full UD + NER model in one pass vs one model per task, CRF vs softmax NER, and masked-lm domain adaptation.

Data (``--data-dir``, else ``$HF_MTL_DATA``, else ``../shared/data``): UD English-EWT (train -> scored on test) and
Universal NER on the same sentences (only its dev and test exist here: trained on dev, scored on test), CoNLL-2003.
Encoder: the embedded all-MiniLM-L6-v2 (6 layers, 384 wide), batch 32, learning rate 1e-4, seed 0, max length 128.

Arms (each through ``hf_mtl.workflow.train.train_recipe``, the code behind ``hf-mtl train``):

- ``per_task``: one model per task: ``upos``, ``feats``, ``lemma`` (edit rules), ``deps`` (biaffine parser,
  Chu-Liu/Edmonds) on EWT and ``uner`` (NER) on UNER; ``--steps`` steps each;
- ``one_pass``: one model: a task group over the EWT annotations (upos, feats, lemma, deps: one encoder pass per
  batch) + ``uner`` as a second unit, ``2 x --steps`` steps drawn uniformly over the two units;
- ``crf``: CoNLL-2003 NER with ``decoder: crf`` and without, ``--steps`` steps each: F1 and the number of ill-formed
  spans in the test predictions (an ``I-X`` whose previous tag is neither ``B-X`` nor ``I-X``);
- ``mlm``: UNER NER alone vs jointly with a ``masked-lm`` task on the EWT training text (its sentences' words),
  ``--steps`` NER steps in both (the joint run draws 2 x --steps batches uniformly, so NER sees as many).

Every arm reports its scores on the test split, training seconds, parameters and the ``multitask`` pipeline's
sentences per second on ``--pipeline-sentences`` EWT test sentences (every head; masked-lm skipped). Each arm's
result is written to ``--results`` (``docs/benchmarks/ud_pipeline.json``) as it ends; a rerun skips finished arms
(``--fresh`` starts over). The last line printed is ``ratio one_pass/per_task train_time=...``.

MaChAmp's English-EWT figures (``results/scores.LAS-2.8.csv``, mBERT: UPOS 94.93 -> 95.43, LAS 87.59 -> 88.61 from
one data set to its best multi-data-set setting) are shown beside for orientation only: another encoder (mBERT,
12 layers, 768 wide) trained to convergence.

Usage:
    python bench/ud_pipeline.py                        # the full budget: --steps 600 (about an hour on 2 CPU cores)
    python bench/ud_pipeline.py --steps 60 --max-eval 500
    python bench/ud_pipeline.py --steps 2 --max-train 64 --max-eval 16 --pipeline-sentences 8   # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import hf_mtl  # noqa: E402, F401
from hf_mtl.data import prepare_task  # noqa: E402
from hf_mtl.data.tasks import TaskSpec  # noqa: E402
from hf_mtl.modeling.task_kinds import IGNORE_INDEX  # noqa: E402
from hf_mtl.workflow.recipe import ModelSection, Recipe  # noqa: E402
from hf_mtl.workflow.train import TrainResult, load_tokenizer, train_recipe  # noqa: E402

ARMS = ("per_task", "one_pass", "crf", "mlm")
MACHAMP = {"upos": 94.93, "las": 87.59, "upos_multi": 95.43, "las_multi": 88.61}
UD_TASKS = {"upos": ("token-classification", "upos"), "feats": ("token-classification", "feats"),
            "lemma": ("lemmatization", "lemma"), "deps": ("dependency-parsing", "deprel")}


def ud_task(name: str, data: Path, caps: dict[str, int], group: str | None = None) -> dict[str, Any]:
    kind, column = UD_TASKS[name]
    ewt = data / "ud_en_ewt"
    task = {"name": name, "type": kind, **caps,
            **{split: {"path": str(ewt / f"{file}.conllu"), "tag_column": column}
               for split, file in (("train", "train"), ("validation", "dev"), ("test", "test"))}}
    return {**task, "group": group} if group else task


def uner_task(data: Path, caps: dict[str, int]) -> dict[str, Any]:
    uner = data / "uner_en_ewt"
    return {"name": "uner", "type": "token-classification", **caps,
            "train": {"path": str(uner / "dev.iob2"), "tag_column": 2},
            "validation": {"path": str(uner / "test.iob2"), "tag_column": 2},
            "test": {"path": str(uner / "test.iob2"), "tag_column": 2}}


def conll_task(data: Path, caps: dict[str, int], crf: bool) -> dict[str, Any]:
    conll = data / "conll2003"
    task = {"name": "ner", "type": "token-classification", **caps, "train": str(conll / "train.txt"),
            "validation": str(conll / "dev.txt"), "test": str(conll / "test.txt")}
    return {**task, "decoder": "crf"} if crf else task


def mlm_task(data: Path, caps: dict[str, int]) -> dict[str, Any]:
    ewt = data / "ud_en_ewt"
    return {"name": "mlm", "type": "masked-lm", "train": str(ewt / "train.conllu"),
            "validation": str(ewt / "dev.conllu"), **caps}


def run(tasks: list[dict[str, Any]], out: Path, args: argparse.Namespace, steps: int,
        sampling: str = "uniform") -> TrainResult:
    training = {"max_steps": steps, "per_device_train_batch_size": 32, "learning_rate": 1e-4, "seed": 0,
                "save_strategy": "no", "eval_strategy": "no", "logging_steps": max(1, steps // 4),
                "disable_tqdm": True, "use_cpu": not torch.cuda.is_available(), "per_device_eval_batch_size": 64,
                "sampling": sampling}
    recipe = Recipe(path=None, output_dir=str(out), model=ModelSection(),
                    tasks=[TaskSpec.from_dict(task, where="bench/ud_pipeline.py") for task in tasks], training=training)
    return train_recipe(recipe, eval_split="test", overwrite=True, print_table=False)


def scores(result: TrainResult) -> dict[str, float]:
    """The reported figures of a run, in percent: upos, ufeats, lemma, uas, las, ner_f1 (those it has)."""
    picks = {"upos": "eval_upos_accuracy", "ufeats": "eval_feats_accuracy", "lemma": "eval_lemma_accuracy",
             "uas": "eval_deps_uas", "las": "eval_deps_las", "ner_f1": "eval_uner_f1", "conll_f1": "eval_ner_f1",
             "mlm_perplexity": "eval_mlm_perplexity"}
    return {name: round(100 * result.metrics[key], 2) if name != "mlm_perplexity" else round(result.metrics[key], 2)
            for name, key in picks.items() if key in result.metrics}


def pipeline_speed(folder: str, sentences: list[str]) -> float:
    from transformers import pipeline

    nlp = pipeline("multitask", model=folder, trust_remote_code=False, device=-1)
    nlp(sentences[:2])  # warm-up
    start = time.perf_counter()
    nlp(sentences, batch_size=32)
    return round(len(sentences) / (time.perf_counter() - start), 1)


def ill_formed_spans(folder: str, spec: dict[str, Any], max_eval: int | None) -> tuple[int, int]:
    """(ill-formed spans, predicted entities) in the test predictions of a NER model: an I-X whose previous tag
    (previous word) is neither B-X nor I-X."""
    from hf_mtl import MultiTaskModel

    model = MultiTaskModel.from_pretrained(folder).eval()
    tokenizer = load_tokenizer(folder)
    data = prepare_task(TaskSpec.from_dict({**spec, "max_eval_examples": max_eval}), tokenizer,
                        labels=[model.config.tasks["ner"]["id2label"][i] for i in range(len(model.config.tasks["ner"]["id2label"]))])
    test = data.tokenized["test"]
    id2label = model.config.tasks["ner"]["id2label"]
    bad = entities = 0
    with torch.no_grad():
        for start in range(0, test.num_rows, 64):
            rows = test[start:start + 64]
            batch = tokenizer.pad({k: rows[k] for k in ("input_ids", "attention_mask")}, return_tensors="pt")
            labels = torch.full(batch["input_ids"].shape, IGNORE_INDEX)
            for i, row in enumerate(rows["labels"]):
                labels[i, :len(row)] = torch.tensor(row)
            scored = labels != IGNORE_INDEX
            ids = model.heads["ner"].decode(model(**batch, task="ner").logits, scored)
            for i in range(ids.shape[0]):
                tags = [id2label[int(t)] for t in ids[i][scored[i]]]
                previous = "O"
                for tag in tags:
                    if tag.startswith("B-"):
                        entities += 1
                    elif tag.startswith("I-") and previous[2:] != tag[2:]:
                        bad += 1
                        entities += 1
                    previous = tag
    return bad, entities


def arm_per_task(args: argparse.Namespace, caps: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {"tasks": {}, "train_seconds": 0.0, "parameters": 0}
    for name in (*UD_TASKS, "uner"):
        task = uner_task(args.data, caps) if name == "uner" else ud_task(name, args.data, caps)
        result = run([task], args.work / f"per_task_{name}", args, args.steps)
        out["tasks"][name] = {"scores": scores(result), "train_seconds": round(result.train_seconds, 1),
                              "parameters": result.num_parameters,
                              "pipeline_sentences_per_s": pipeline_speed(result.output_dir, args.sentences)}
        out["train_seconds"] += result.train_seconds
        out["parameters"] += result.num_parameters
        out.setdefault("scores", {}).update(scores(result))
    # one model per task at inference: a sentence goes through every model
    out["pipeline_sentences_per_s"] = round(1 / sum(1 / t["pipeline_sentences_per_s"] for t in out["tasks"].values()), 1)
    out["train_seconds"] = round(out["train_seconds"], 1)
    return out


def arm_one_pass(args: argparse.Namespace, caps: dict[str, int]) -> dict[str, Any]:
    tasks = [ud_task(name, args.data, caps, group="ud") for name in UD_TASKS] + [uner_task(args.data, caps)]
    result = run(tasks, args.work / "one_pass", args, 2 * args.steps)
    return {"scores": scores(result), "train_seconds": round(result.train_seconds, 1),
            "parameters": result.num_parameters,
            "pipeline_sentences_per_s": pipeline_speed(result.output_dir, args.sentences)}


def arm_crf(args: argparse.Namespace, caps: dict[str, int]) -> dict[str, Any]:
    out = {}
    for name, crf in (("softmax", False), ("crf", True)):
        task = conll_task(args.data, caps, crf)
        result = run([task], args.work / f"conll_{name}", args, args.steps)
        bad, entities = ill_formed_spans(result.output_dir, task, caps.get("max_eval_examples"))
        out[name] = {"scores": scores(result), "train_seconds": round(result.train_seconds, 1),
                     "ill_formed_spans": bad, "predicted_entities": entities}
    return out


def arm_mlm(args: argparse.Namespace, caps: dict[str, int]) -> dict[str, Any]:
    alone = run([uner_task(args.data, caps)], args.work / "uner_alone", args, args.steps)
    joint = run([uner_task(args.data, caps), mlm_task(args.data, caps)], args.work / "uner_mlm", args, 2 * args.steps)
    return {"without_mlm": {"scores": scores(alone), "train_seconds": round(alone.train_seconds, 1),
                            "examples_seen": alone.examples_seen},
            "with_mlm": {"scores": scores(joint), "train_seconds": round(joint.train_seconds, 1),
                         "examples_seen": joint.examples_seen}}


def table(results: dict[str, Any]) -> str:
    columns = ("upos", "ufeats", "lemma", "uas", "las", "ner_f1")
    lines = ["| arm | " + " | ".join(columns) + " | train s | parameters | pipeline sent/s |",
             "|---|" + "---|" * (len(columns) + 3)]
    for arm in ("per_task", "one_pass"):
        if arm in results:
            r = results[arm]
            lines.append(f"| {arm} | " + " | ".join(str(r["scores"].get(c, "")) for c in columns)
                         + f" | {r['train_seconds']} | {r['parameters']:,} | {r['pipeline_sentences_per_s']} |")
    lines.append(f"| MaChAmp (mBERT, EWT alone -> best multi-data-set) | {MACHAMP['upos']} -> {MACHAMP['upos_multi']} "
                 f"| | | | {MACHAMP['las']} -> {MACHAMP['las_multi']} | | | | |")
    if "crf" in results:
        lines += ["", "| CoNLL-2003 NER | F1 | ill-formed spans / predicted entities | train s |", "|---|---|---|---|"]
        for name, r in results["crf"].items():
            lines.append(f"| {name} | {r['scores'].get('conll_f1')} | {r['ill_formed_spans']} / "
                         f"{r['predicted_entities']} | {r['train_seconds']} |")
    if "mlm" in results:
        lines += ["", "| UNER NER | F1 | train s | examples seen |", "|---|---|---|---|"]
        for name, r in results["mlm"].items():
            lines.append(f"| {name} | {r['scores'].get('ner_f1')} | {r['train_seconds']} | {r['examples_seen']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps per task model (the budget)")
    parser.add_argument("--max-train", type=int, default=None, help="keep the first N training examples per task")
    parser.add_argument("--max-eval", type=int, default=None, help="keep the first N validation/test examples")
    parser.add_argument("--pipeline-sentences", type=int, default=256)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--data-dir", default=os.environ.get("HF_MTL_DATA") or str(REPO_ROOT.parent / "shared" / "data"))
    parser.add_argument("--work", default=str(REPO_ROOT / "bench" / "out" / "ud_pipeline"))
    parser.add_argument("--results", default=str(REPO_ROOT / "docs" / "benchmarks" / "ud_pipeline.json"))
    parser.add_argument("--fresh", action="store_true", help="ignore the arms already in --results")
    args = parser.parse_args(argv)
    args.data, args.work = Path(args.data_dir), Path(args.work)
    caps = {key: value for key, value in (("max_train_examples", args.max_train), ("max_eval_examples", args.max_eval))
            if value}
    path = Path(args.results)
    results = {} if args.fresh or not path.exists() else json.loads(path.read_text())
    setting = {"steps": args.steps, "max_train": args.max_train, "max_eval": args.max_eval,
               "pipeline_sentences": args.pipeline_sentences}
    if results.get("meta", {}).get("setting") != setting:
        results = {}  # another budget: start over
    results["meta"] = {"setting": setting, "device": "cuda" if torch.cuda.is_available() else f"CPU, {os.cpu_count()} cores",
                       "command": "python bench/ud_pipeline.py " + " ".join(a for a in (argv or sys.argv[1:])
                                                                           if not a.startswith("--results"))}
    test = prepare_test_sentences(args)
    args.sentences = test
    for arm in [a for a in args.arms.split(",") if a]:
        if arm not in ARMS:
            parser.error(f"unknown arm {arm!r}; expected some of {ARMS}")
        if arm in results:
            print(f"{arm}: already in {path}, skipped")
            continue
        load_before = os.getloadavg()
        value = globals()[f"arm_{arm}"](args, caps)
        value["load_average"] = {"before": [round(x, 2) for x in load_before],
                                 "after": [round(x, 2) for x in os.getloadavg()]}
        results[arm] = value
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        print(f"{arm}: done ({json.dumps(value)[:300]})", flush=True)
    print(table(results))
    if "per_task" in results and "one_pass" in results:
        ratio = results["one_pass"]["train_seconds"] / results["per_task"]["train_seconds"]
        speed = results["one_pass"]["pipeline_sentences_per_s"] / results["per_task"]["pipeline_sentences_per_s"]
        print(f"ratio one_pass/per_task train_time={ratio:.2f} pipeline_speed={speed:.2f}")
    return 0


def prepare_test_sentences(args: argparse.Namespace) -> list[str]:
    from hf_mtl.data.conll import read_conllu

    words = read_conllu(str(args.data / "ud_en_ewt" / "test.conllu"))["words"][: args.pipeline_sentences]
    return [" ".join(sentence) for sentence in words]


if __name__ == "__main__":
    raise SystemExit(main())
