"""Equal exposure (`steps_per_task`) and per-task example caps (`max_train_examples`) under every strategy."""

from __future__ import annotations

import logging

import pytest
import yaml
from conftest import SAMPLES_DIR
from test_trainer import make_model, synthetic_ner, synthetic_sentiment

from hf_mtl.data import prepare_task
from hf_mtl.data.tasks import TaskSpec
from hf_mtl.modeling.errors import RecipeError, TaskError
from hf_mtl.training.sampling import SAMPLING_STRATEGIES, task_probabilities
from hf_mtl.training.trainer import MultiTaskTrainer
from hf_mtl.training.training_args import MultiTaskTrainingArguments
from hf_mtl.workflow.recipe import load_recipe
from hf_mtl.workflow.train import train_recipe

CONLL = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def arguments(tmp_path, **settings) -> MultiTaskTrainingArguments:
    base = {"output_dir": str(tmp_path / "out"), "per_device_train_batch_size": 4, "report_to": "none",
            "use_cpu": True, "save_strategy": "no", "disable_tqdm": True, "seed": 0}
    return MultiTaskTrainingArguments(**{**base, **settings})


def test_steps_per_task_sets_uniform_sampling_and_max_steps_per_task(tmp_path, tokenizer, caplog):
    args = arguments(tmp_path, steps_per_task=5, gradient_accumulation_steps=2)
    assert args.sampling == "uniform"
    with caplog.at_level(logging.INFO, logger="hf_mtl"):
        trainer = MultiTaskTrainer(model=make_model(), args=args, processing_class=tokenizer,
                                   train_dataset={"ner": synthetic_ner(40, 0), "sentiment": synthetic_sentiment(40, 1)})
    assert trainer.args.max_steps == 10
    assert "each task will see 40 examples" in caplog.text
    assert "as a single-task model of 5 steps x 8" in caplog.text
    trainer.train()
    assert trainer.state.global_step == 10
    assert sum(trainer.examples_seen.values()) == 10 * 8


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"steps_per_task": 0}, "positive integer"),
        ({"steps_per_task": 5, "max_steps": 100}, "remove max_steps=100"),
        ({"steps_per_task": 5, "sampling": "temperature"}, "draws tasks uniformly"),
        ({"steps_per_task": 5, "sampling": "annealed"}, "draws tasks uniformly"),
    ],
)
def test_steps_per_task_conflicts_are_errors(tmp_path, settings, error):
    with pytest.raises(TaskError, match=error):
        arguments(tmp_path, **settings)


def test_recipe_key_steps_per_task(tmp_path, tiny_encoder_dir, caplog):
    task = {"max_train_examples": 24, "max_eval_examples": 8, "max_length": 32}
    recipe = {
        "output_dir": str(tmp_path / "run"), "model": {"encoder": str(tiny_encoder_dir)},
        "tasks": [
            {"name": "ner", "type": "token-classification", "train": str(SAMPLES_DIR / "conll2003_train.txt"),
             "validation": str(SAMPLES_DIR / "conll2003_validation.txt"), "labels": CONLL, **task},
            {"name": "sentiment", "type": "text-classification", "train": str(SAMPLES_DIR / "sst2_train.tsv"),
             "validation": str(SAMPLES_DIR / "sst2_validation.tsv"), "text_column": "sentence", **task},
        ],
        "training": {"steps_per_task": 3, "per_device_train_batch_size": 4, "save_strategy": "no", "use_cpu": True,
                     "disable_tqdm": True, "report_to": "none"},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with caplog.at_level(logging.INFO, logger="hf_mtl"):
        result = train_recipe(load_recipe(path), print_table=False)
    assert sum(result.examples_seen.values()) == 2 * 3 * 4
    assert "each task will see 12 examples" in caplog.text
    # The single-task model of the same recipe trains steps_per_task steps: the exposure the log promised.
    single = train_recipe(load_recipe(path), tasks=["ner"], output_dir=str(tmp_path / "single"), print_table=False)
    assert single.examples_seen == {"ner": 12}
    with pytest.raises(RecipeError, match="remove max_steps"):
        load_recipe(path, ["max_steps=10"])


CAPS = {"ner": 12, "sentiment": 30}


@pytest.fixture(scope="module")
def capped(tokenizer):
    """The ner and sentiment samples, each capped with `max_train_examples`."""
    specs = {
        "ner": TaskSpec(name="ner", type="token-classification", train=str(SAMPLES_DIR / "conll2003_train.txt"),
                        labels=CONLL, max_train_examples=CAPS["ner"]),
        "sentiment": TaskSpec(name="sentiment", type="text-classification", train=str(SAMPLES_DIR / "sst2_train.tsv"),
                              text_column="sentence", max_train_examples=CAPS["sentiment"]),
    }
    return {name: prepare_task(spec, tokenizer).tokenized["train"] for name, spec in specs.items()}


@pytest.mark.parametrize("strategy", SAMPLING_STRATEGIES)
def test_max_train_examples_caps_every_strategy(tmp_path, tokenizer, capped, strategy):
    assert {name: len(split) for name, split in capped.items()} == CAPS
    args = arguments(tmp_path, sampling=strategy, max_steps=40)
    trainer = MultiTaskTrainer(model=make_model(), args=args, processing_class=tokenizer, train_dataset=capped)
    sampler = trainer.get_train_sampler()
    expected = task_probabilities(CAPS, "proportional" if strategy == "annealed" else strategy)
    assert sampler.probabilities() == pytest.approx(expected)  # sampling weighs the capped sizes
    seen = {name: set() for name in CAPS}
    for epoch in range(3):
        sampler.set_epoch(epoch)
        for batch in sampler:
            task = sampler.task_of(batch[0])
            seen[task].update(index - sampler.task_offsets[task] for index in batch)
    for name, cap in CAPS.items():
        assert seen[name] and max(seen[name]) < cap and min(seen[name]) >= 0, name
