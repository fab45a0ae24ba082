"""Many tasks: what a training step, the sampler, evaluation and `torch_compile` cost must not grow with the number of
tasks (issue #25). Everything is counted (host reads, function calls, loaders built, graphs compiled), never timed."""

from __future__ import annotations

import sys

import pytest
import torch
from conftest import SAMPLES_DIR, minilm_dir, tiny_bert_config
from datasets import Dataset
from test_host_sync import CountSyncs
from transformers import AutoTokenizer, TrainerCallback

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.training.sampling import MultiTaskBatchSampler
from hf_mtl.training.trainer import MultiTaskTrainer
from hf_mtl.training.training_args import MultiTaskTrainingArguments


def task_data(n: int, rows: int = 8, token_every: int = 0) -> tuple[dict, dict]:
    """``n`` tiny tasks (every ``token_every``-th one a token task when > 0): their configs and datasets."""
    tasks, data = {}, {}
    for k in range(n):
        ids = [[101, 2000 + (7 * k + i) % 500, 2001 + i % 3, 102][: 3 + i % 2] for i in range(rows)]
        token = token_every and k % token_every == token_every - 1
        name = f"{'tag' if token else 'cls'}_{k:03d}"
        tasks[name] = ({"type": "token-classification", "labels": ["O", "B-X", "I-X"]} if token
                       else {"type": "text-classification", "labels": ["a", "b"]})
        labels = ([[-100] + [i % 3] * (len(x) - 2) + [-100] for i, x in enumerate(ids)] if token
                  else [(i + k) % 2 for i in range(rows)])
        data[name] = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids],
                                        "length": [len(x) for x in ids], "labels": labels})
    return tasks, data


def make_trainer(tmp_path, n: int, token_every: int = 0, rows: int = 8, **training) -> MultiTaskTrainer:
    tasks, data = task_data(n, rows=rows, token_every=token_every)
    torch.manual_seed(0)
    model = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks))
    settings = dict(output_dir=str(tmp_path), per_device_train_batch_size=4, per_device_eval_batch_size=4,
                    max_steps=6, use_cpu=True, report_to=[], disable_tqdm=True, save_strategy="no",
                    sampling="uniform", logging_steps=3, seed=0)
    args = MultiTaskTrainingArguments(**{**settings, **training})
    return MultiTaskTrainer(model=model, args=args, train_dataset=data, eval_dataset=data,
                            processing_class=AutoTokenizer.from_pretrained(minilm_dir()))


class LossLog(TrainerCallback):
    def __init__(self) -> None:
        self.logs: list[dict] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))


# ------------------------------------------------------------------------------------------------ a training step
def test_training_steps_make_no_per_task_host_read(tmp_path):
    """Six optimizer steps (two logging steps) with 2 and with 64 tasks read the same number of values back to the
    host (whoever asks: hf_mtl, the Trainer, accelerate), and hf_mtl's own reads are one per logging step at most.
    (Both runs stay within the first epoch: an epoch boundary has reads of its own.)"""
    counts = {}
    for n in (2, 64):
        trainer = make_trainer(tmp_path / str(n), n, rows=16)
        with CountSyncs() as mode:
            trainer.train()
        counts[n] = (len(mode.all_calls), len(mode.calls))
    assert counts[64] == counts[2], counts
    assert counts[64][1] <= 2, counts  # hf_mtl: one read of every task's loss per logging step (2 here)


def test_floating_point_ops_counts_the_encoder_and_the_batch_head(tmp_path):
    trainer = make_trainer(tmp_path, 4)
    model = trainer.model
    heads = {name: sum(p.numel() for p in head.parameters()) for name, head in model.heads.items()}
    inputs = {"input_ids": torch.ones(4, 5, dtype=torch.long), "task": "cls_001"}
    shared = model.num_parameters(exclude_embeddings=True) - sum(heads.values())
    assert trainer.floating_point_ops(inputs) == 6 * 20 * (shared + heads["cls_001"])
    group = {"input_ids": torch.ones(2, 3, dtype=torch.long), "task": ["cls_000", "cls_002"]}
    assert trainer.floating_point_ops(group) == 6 * 6 * (shared + heads["cls_000"] + heads["cls_002"])


def test_cached_lookups_follow_a_new_model(tmp_path):
    """The unwrapped model (config lookups, FLOP counts) is kept per `trainer.model` object, not forever."""
    trainer = make_trainer(tmp_path, 2)
    assert trainer.model_config_task("cls_000")["id2label"] == {0: "a", 1: "b"}
    other, _ = task_data(3)
    trainer.model = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(hidden_size=16, num_attention_heads=2),
                                                   tasks=other))
    assert trainer.multitask_model is trainer.model
    assert "cls_002" in trainer.model.config.tasks and trainer.model_config_task("cls_002")["type"] == "text-classification"
    shared = trainer.model.num_parameters(exclude_embeddings=True) - sum(p.numel() for p in trainer.model.heads.parameters())
    head = sum(p.numel() for p in trainer.model.heads["cls_002"].parameters())
    assert trainer.floating_point_ops({"input_ids": torch.ones(1, 2), "task": "cls_002"}) == 6 * 2 * (shared + head)


# ------------------------------------------------------------------------------------------------ the sampler
def sampler_calls(n: int, batches: int) -> tuple[int, int, int]:
    """(function calls per batch outside building a task's pass and the epoch's set-up, passes built, batches)."""
    size = max(200, 2000 // n)  # one epoch holds more than `batches` batches
    sampler = MultiTaskBatchSampler({f"t{k}": [5 + k % 7] * size for k in range(n)}, 4, strategy="uniform", seed=0)
    stream = iter(sampler)
    next(stream)  # the epoch's set-up (task draws, one generator per task): once per epoch
    counted = {"calls": 0, "passes": 0}
    inside = [0]

    def profile(frame, event, arg):
        if event == "call" and frame.f_code is MultiTaskBatchSampler._task_pass.__code__:
            counted["passes"] += 1
            inside[0] += 1
        elif event == "return" and frame.f_code is MultiTaskBatchSampler._task_pass.__code__:
            inside[0] -= 1
        elif event in ("call", "c_call") and not inside[0]:
            counted["calls"] += 1

    sys.setprofile(profile)
    try:
        for _ in range(batches):
            next(stream)
    finally:
        sys.setprofile(None)
    return counted["calls"], counted["passes"], batches


def test_the_samplers_work_per_step_does_not_grow_with_the_number_of_tasks():
    calls_1, passes_1, batches = sampler_calls(1, 400)
    calls_64, passes_64, _ = sampler_calls(64, 400)
    assert calls_64 == calls_1, (calls_1, calls_64)  # the same Python and C calls for every batch, at any N
    assert calls_1 <= 8 * batches
    # a task's pass (shuffle, length grouping: work proportional to its examples) is built when its batches run
    # out: 500 / 50 batches a pass here, so one pass per task drawn (N = 1: built by the first batch, not counted)
    assert passes_1 == 0 and passes_64 <= 64


# ------------------------------------------------------------------------------------------------ evaluation
def test_evaluation_builds_each_tasks_loader_once(tmp_path):
    trainer = make_trainer(tmp_path, 8)
    built = []
    make = trainer.get_eval_dataloader
    trainer.get_eval_dataloader = lambda dataset=None: built.append(dataset.task) or make(dataset)
    first = trainer.evaluate()
    second = trainer.evaluate()
    assert sorted(built) == sorted(trainer.model.task_names)  # 8 loaders for two evaluations
    speed = ("runtime", "per_second", "preparation_time")
    same = {k: v for k, v in first.items() if not any(s in k for s in speed)}
    assert same == {k: v for k, v in second.items() if not any(s in k for s in speed)}
    fresh = make_trainer(tmp_path / "fresh", 8)  # the same model (seed), nothing cached
    assert same == {k: v for k, v in fresh.evaluate().items() if not any(s in k for s in speed)}
    # another dataset object for a task: its loader is rebuilt (and replaces the cached one)
    _, data = task_data(8)
    trainer.evaluate({"cls_003": data["cls_003"].select([0, 1, 2])})
    assert built.count("cls_003") == 2


# ------------------------------------------------------------------------------------------------ torch_compile
class GraphCounts(TrainerCallback):
    """The number of graphs dynamo has compiled, after every optimizer step."""

    def __init__(self) -> None:
        self.graphs: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        from torch._dynamo.utils import counters

        self.graphs.append(counters["stats"]["unique_graphs"])


def compiled_run(tmp_path, backend: str, n: int = 8, steps: int = 16):
    import torch._dynamo

    torch._dynamo.reset()
    counts, losses = GraphCounts(), LossLog()
    trainer = make_trainer(tmp_path, n, token_every=2, max_steps=steps, logging_steps=1, sampling="proportional",
                           torch_compile=True, torch_compile_backend=backend)
    trainer.add_callback(counts)
    trainer.add_callback(losses)
    trainer.train()
    return trainer, counts.graphs, [log["loss"] for log in losses.logs if "loss" in log]


def test_torch_compile_compiles_the_encoder_once_for_every_task(tmp_path):
    """8 tasks of two kinds (text, token), 16 steps (one epoch: every task's two batches, in shuffled order): the
    graphs compiled in the first steps serve every later task (the shared encoder is compiled; the heads run
    eagerly), and the losses are those of the uncompiled model."""
    trainer, graphs, losses = compiled_run(tmp_path / "compiled", "aot_eager")
    assert trainer.args.torch_compile_backend == "aot_eager"  # the argument is restored after the accelerator
    assert not isinstance(trainer.model_wrapped, torch._dynamo.eval_frame.OptimizedModule)  # not the whole model
    assert trainer.model.encoder._compiled_call_impl is not None
    assert 1 <= graphs[-1] <= 3, graphs  # training, then at most a dynamic-shape recompilation
    assert graphs[4:] == [graphs[4]] * len(graphs[4:]), graphs  # nothing new after warm-up, whatever the task
    seen = trainer.examples_seen
    assert len(seen) == 8 and min(seen.values()) > 0  # every task (both kinds) trained
    eager = make_trainer(tmp_path / "eager", 8, token_every=2, max_steps=16, logging_steps=1, sampling="proportional")
    log = LossLog()
    eager.add_callback(log)
    eager.train()
    torch.testing.assert_close(losses, [entry["loss"] for entry in log.logs if "loss" in entry])
    metrics = trainer.evaluate()
    assert "eval_average" in metrics


@pytest.mark.slow
def test_hf_mtl_train_with_torch_compile(tmp_path, tiny_encoder_dir):
    """`torch_compile: true` in a recipe's training section, with inductor: trains, evaluates and saves."""
    import json

    import torch._dynamo
    import yaml
    from torch._dynamo.utils import counters

    from hf_mtl.workflow.cli import main

    torch._dynamo.reset()
    small = {"max_train_examples": 32, "max_eval_examples": 16, "max_length": 32}
    tasks = [
        {"name": "ner", "type": "token-classification", "train": str(SAMPLES_DIR / "conll2003_train.txt"),
         "validation": str(SAMPLES_DIR / "conll2003_validation.txt"), **small},
        {"name": "sentiment", "type": "text-classification", "train": str(SAMPLES_DIR / "sst2_train.tsv"),
         "validation": str(SAMPLES_DIR / "sst2_validation.tsv"), "text_column": "sentence",
         "label_map": {0: "negative", 1: "positive"}, **small},
    ]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "output_dir": str(tmp_path / "model"), "model": {"encoder": str(tiny_encoder_dir)}, "tasks": tasks,
        "training": {"max_steps": 6, "per_device_train_batch_size": 8, "learning_rate": 1e-3, "logging_steps": 2,
                     "save_strategy": "no", "disable_tqdm": True, "use_cpu": True, "seed": 0, "torch_compile": True},
    }, sort_keys=False))
    assert main(["train", str(recipe)]) == 0
    assert counters["stats"]["unique_graphs"] >= 1  # inductor compiled the encoder
    results = json.loads((tmp_path / "model" / "eval_results.json").read_text())
    assert {"eval_ner_f1", "eval_sentiment_accuracy"} <= set(results)
    reloaded = MultiTaskModel.from_pretrained(tmp_path / "model")
    assert not any("_orig_mod" in key for key in reloaded.state_dict())
