"""Regression target standardisation (issue 21, item 5): SICK relatedness (1-5) trained jointly with SICK
entailment (a task group on the same pairs) and SST-2 sentiment, with and without ``standardize: true``.

Data: ``bench/data/sick_train.tsv`` (the first 1,000 TRAIN pairs of SICK) and ``bench/data/sick_test.tsv`` (the
first 500 TEST pairs), see ``bench/data/SOURCE.md``; SST-2 from ``recipes/data``. Both arms train the same steps
with the same seed on the embedded all-MiniLM-L6-v2 and are scored on the SICK test pairs / the SST-2 sample's
validation rows. Prints, per arm, the first and last logged training loss of each task and the test scores.

    python bench/standardize.py --steps 300
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def recipe(folder: Path, standardize: bool, steps: int, seed: int) -> Path:
    sick = {"text_column": "sentence_A", "text_pair_column": "sentence_B", "group": "sick", "max_length": 64,
            "train": str(ROOT / "bench" / "data" / "sick_train.tsv"), "test": str(ROOT / "bench" / "data" / "sick_test.tsv")}
    tasks = [
        {"name": "relatedness", "type": "text-classification", "problem_type": "regression",
         "label_column": "relatedness_score", "standardize": standardize, **sick},
        {"name": "entailment", "type": "text-classification", "label_column": "entailment_label", **sick},
        {"name": "sentiment", "type": "text-classification", "train": str(ROOT / "recipes" / "data" / "sst2_train.tsv"),
         "validation": str(ROOT / "recipes" / "data" / "sst2_validation.tsv"), "text_column": "sentence",
         "label_map": {0: "negative", 1: "positive"}, "max_length": 64},
    ]
    training = {"max_steps": steps, "per_device_train_batch_size": 16, "learning_rate": 1e-4, "logging_steps": 10,
                "eval_strategy": "no", "save_strategy": "no", "disable_tqdm": True, "use_cpu": True, "seed": seed}
    path = folder / f"recipe_{'std' if standardize else 'raw'}.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(folder / ("std" if standardize else "raw")),
                                    "tasks": tasks, "training": training}, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from hf_mtl.workflow.recipe import load_recipe
    from hf_mtl.workflow.train import train_recipe

    rows = {}
    with tempfile.TemporaryDirectory(prefix="hf-mtl-standardize-") as scratch:
        for standardize in (False, True):
            result = train_recipe(load_recipe(recipe(Path(scratch), standardize, args.steps, args.seed)),
                                  eval_split="test", print_table=False)
            state = json.loads((Path(result.output_dir) / "trainer_state.json").read_text())
            logged = [entry for entry in state["log_history"] if "loss_relatedness" in entry]
            losses = {task: (logged[0].get(f"loss_{task}"), logged[-1].get(f"loss_{task}")) if logged else None
                      for task in ("relatedness", "entailment", "sentiment")}
            arm = "standardize" if standardize else "raw"
            rows[arm] = {"losses": losses, "scores": {k: round(v, 4) for k, v in result.metrics.items()
                                                      if k.endswith(("_pearson", "_spearmanr", "_accuracy", "_mse"))},
                         "train_seconds": round(result.train_seconds, 1)}
            print(arm, json.dumps(rows[arm]), flush=True)
    gain = rows["standardize"]["scores"].get("eval_relatedness_pearson", 0) - rows["raw"]["scores"].get(
        "eval_relatedness_pearson", 0)
    print(f"ratio pearson_standardize-raw={gain:+.4f}")


if __name__ == "__main__":
    main()
