"""Task-specific top layers (`task_layers`): layout and sharing, routing, training against a hand-built reference,
save / reload / remote code / export / ONNX exactness, the pipeline, transfer, resume, DDP and the bad-input errors."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import TINY_TASKS, minilm_dir, run_without_hf_mtl, tiny_bert_config
from safetensors.torch import load_file, save_file
from transformers import BertModel

from hf_mtl import HfMtlError, MultiTaskConfig, MultiTaskModel
from hf_mtl.modeling.task_layers import TaskLayerSlot, format_parameter_counts, parameter_counts

LAYERS = 3
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def make_model(task_layers, layers: int = LAYERS, seed: int = 0, **encoder) -> MultiTaskModel:
    torch.manual_seed(seed)
    config = MultiTaskConfig(encoder=tiny_bert_config(num_hidden_layers=layers, **encoder), tasks=TINY_TASKS,
                             task_layers=task_layers)
    return MultiTaskModel(config).eval()


def batch(seed: int = 0, size: int = 3, length: int = 9) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 2000, (size, length), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, length - 3:] = 0  # padding: the attention mask reaches the replayed layers in the encoder's own form
    return {"input_ids": ids, "attention_mask": mask}


def perturbed(model: MultiTaskModel) -> MultiTaskModel:
    """Every weight moved a little (so the copies differ from each other, as after training)."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.02)
    return model


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("encoder-3")
    BertModel(tiny_bert_config(num_hidden_layers=LAYERS)).save_pretrained(path)
    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(path)
    return path


# ------------------------------------------------------------------ layout and sharing
def test_config_forms_and_layout():
    model = make_model({"ner": 2, "sentiment": 1, "grouped": {"layers": 1, "tasks": ["tags", "score"]}})
    assert model.config.task_layers == {"ner": {"layers": 2, "tasks": ["ner"]},
                                        "sentiment": {"layers": 1, "tasks": ["sentiment"]},
                                        "grouped": {"layers": 1, "tasks": ["tags", "score"]}}
    keys = [key for key in model.state_dict() if key.endswith("attention.self.query.weight")]
    assert keys == [
        "encoder.encoder.layer.0.attention.self.query.weight",       # the shared bottom: one tensor
        "encoder.encoder.layer.1.copies.ner.attention.self.query.weight",
        "encoder.encoder.layer.1.shared.attention.self.query.weight",  # the others still run a shared layer 1
        "encoder.encoder.layer.2.copies.ner.attention.self.query.weight",
        "encoder.encoder.layer.2.copies.sentiment.attention.self.query.weight",
        "encoder.encoder.layer.2.copies.grouped.attention.self.query.weight",
    ]
    assert isinstance(model.encoder.encoder.layer[2], TaskLayerSlot)
    assert model.encoder.encoder.layer[2].shared is None  # every task has its own layer 2: no unused weights
    saved = model.config.to_dict()["task_layers"]
    assert MultiTaskConfig(encoder=tiny_bert_config(num_hidden_layers=LAYERS), tasks=TINY_TASKS,
                           task_layers=json.loads(json.dumps(saved))).task_layers == model.config.task_layers


def test_from_encoder_starts_every_copy_from_the_pretrained_layers(encoder_dir):
    pretrained = BertModel.from_pretrained(encoder_dir).state_dict()
    model = MultiTaskModel.from_encoder(str(encoder_dir), tasks=TINY_TASKS, task_layers=1)
    layer = model.encoder.encoder.layer
    for task in TINY_TASKS:
        own = layer[2].copies[task].attention.self.query.weight
        assert torch.equal(own, pretrained["encoder.layer.2.attention.self.query.weight"])
        assert own.data_ptr() != layer[2].copies["ner"].attention.self.query.weight.data_ptr() or task == "ner"
    assert torch.equal(layer[0].attention.self.query.weight, pretrained["encoder.layer.0.attention.self.query.weight"])
    counts = parameter_counts(model)
    per_layer = sum(p.numel() for p in layer[2].copies["ner"].parameters())
    assert counts["tasks"]["ner"]["layers"] == per_layer
    assert counts["shared"] + 4 * per_layer + sum(e["head"] for e in counts["tasks"].values()) == counts["total"]
    assert "ner: " in format_parameter_counts(counts) and "own top layers" in format_parameter_counts(counts)


def test_gradients_reach_the_shared_bottom_and_only_the_task_own_top():
    model = make_model(1).train()
    out = model(**batch(), task="sentiment", labels=torch.tensor([0, 1, 1]))
    out.loss.backward()
    layer = model.encoder.encoder.layer
    assert layer[0].attention.self.query.weight.grad.abs().sum() > 0
    assert layer[2].copies["sentiment"].attention.self.query.weight.grad.abs().sum() > 0
    assert layer[2].copies["ner"].attention.self.query.weight.grad is None


# ------------------------------------------------------------------ one pass for every task
@pytest.mark.parametrize("task_layers", [1, {"ner": 2, "sentiment": 1}, {"both": {"layers": 2, "tasks": ["ner", "score"]}}])
def test_forward_all_tasks_equals_each_task_forward(task_layers):
    model = perturbed(make_model(task_layers))
    inputs = batch()
    together = model.forward_all_tasks(**inputs)
    for task in model.task_names:
        torch.testing.assert_close(together[task], model(**inputs, task=task).logits, rtol=0, atol=0)
    hidden = model(**inputs, task="ner", output_hidden_states=True).hidden_states
    assert len(hidden) == LAYERS + 1  # the task's own top layers are the encoder's layers


def test_pipeline_equals_per_task_forward(encoder_dir):
    from transformers import AutoTokenizer

    from hf_mtl.modeling.inference import MultiTaskPipeline

    model = perturbed(MultiTaskModel.from_encoder(str(encoder_dir), tasks=TINY_TASKS, task_layers={"sentiment": 2}))
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    text = "Ada Lovelace lived in London."
    result = MultiTaskPipeline(model=model.eval(), tokenizer=tokenizer)(text)
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        sentiment = model(**inputs, task="sentiment").logits.softmax(-1)[0]
        score = model(**inputs, task="score").logits[0, 0]
    best = int(sentiment.argmax())
    assert result["sentiment"]["label"] == model.config.tasks["sentiment"]["id2label"][best]
    assert result["sentiment"]["score"] == pytest.approx(float(sentiment[best]), abs=1e-6)
    assert result["score"]["value"] == pytest.approx(float(score), abs=1e-6)


# ------------------------------------------------------------------ training equals a hand-built reference
def test_two_training_steps_equal_a_hand_built_reference():
    model = perturbed(make_model({"ner": 1}, **NO_DROPOUT)).train()
    for task in TINY_TASKS:
        model.config.tasks[task]["dropout"] = 0.0
        model.heads[task].dropout.p = 0.0
    # the reference: two plain BERT encoders whose embeddings and bottom layers are the same modules
    shared_cfg = tiny_bert_config(num_hidden_layers=LAYERS, **NO_DROPOUT)
    ner_encoder, other_encoder = BertModel(shared_cfg, add_pooling_layer=False), BertModel(shared_cfg, add_pooling_layer=False)
    plain = {k.replace("copies.ner.", ""): v for k, v in model.encoder.state_dict().items() if ".shared." not in k}
    ner_encoder.load_state_dict(plain)
    other_encoder.embeddings = ner_encoder.embeddings
    for position in range(LAYERS - 1):
        other_encoder.encoder.layer[position] = ner_encoder.encoder.layer[position]
    other_encoder.encoder.layer[2] = copy.deepcopy(model.encoder.encoder.layer[2].shared)
    heads = copy.deepcopy(model.heads)
    reference = torch.nn.ModuleList([ner_encoder, other_encoder, heads]).train()
    optimizers = [torch.optim.SGD(model.parameters(), lr=0.5), torch.optim.SGD(reference.parameters(), lr=0.5)]
    steps = [("ner", batch(0), torch.randint(0, 5, (3, 9), generator=torch.Generator().manual_seed(2))),
             ("sentiment", batch(1), torch.tensor([1, 0, 1]))]
    for task, inputs, labels in steps:
        loss = model(**inputs, task=task, labels=labels).loss
        encoder = ner_encoder if task == "ner" else other_encoder
        hidden = encoder(**inputs).last_hidden_state
        logits = heads[task](hidden, inputs["attention_mask"])
        expected = torch.nn.functional.cross_entropy(logits.flatten(0, -2), labels.flatten())
        torch.testing.assert_close(loss, expected)
        for optimizer, value in zip(optimizers, (loss, expected), strict=True):
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
    layer = model.encoder.encoder.layer
    torch.testing.assert_close(layer[0].output.dense.weight, ner_encoder.encoder.layer[0].output.dense.weight)
    torch.testing.assert_close(layer[2].copies["ner"].output.dense.weight, ner_encoder.encoder.layer[2].output.dense.weight)
    torch.testing.assert_close(layer[2].shared.output.dense.weight, other_encoder.encoder.layer[2].output.dense.weight)
    torch.testing.assert_close(model.heads["sentiment"].classifier.weight, heads["sentiment"].classifier.weight)


# ------------------------------------------------------------------ save, reload, remote code, export, ONNX
def test_save_reload_and_remote_code_are_exact(tmp_path):
    model = perturbed(make_model({"ner": 2, "sentiment": 1}))
    model.save_pretrained(tmp_path / "model")
    reloaded = MultiTaskModel.from_pretrained(tmp_path / "model").eval()
    inputs = batch()
    expected = model.forward_all_tasks(**inputs)
    got = reloaded.forward_all_tasks(**inputs)
    for task in expected:
        assert torch.equal(got[task], expected[task]), task
    torch.save({"inputs": inputs, "expected": expected}, tmp_path / "io.pt")
    script = textwrap.dedent(
        f"""
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path / "model")!r}, trust_remote_code=True).eval()
        assert "hf_mtl" not in type(model).__module__
        io = torch.load({str(tmp_path / "io.pt")!r})
        got = model.forward_all_tasks(**io["inputs"])
        for task, value in io["expected"].items():
            assert torch.equal(got[task], value), task
            assert torch.equal(model(**io["inputs"], task=task).logits, value), task
        print("REMOTE_OK")
        """
    )
    result = run_without_hf_mtl(script, tmp_path / "modules", timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REMOTE_OK" in result.stdout


def test_missing_task_layer_weights_are_an_error_at_load(tmp_path):
    make_model(1).save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    save_file({k: v for k, v in state.items() if ".copies.sentiment." not in k}, tmp_path / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"task layers.*'sentiment'"):
        MultiTaskModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("task", ["ner", "sentiment", "score"])
def test_export_of_one_task_is_the_shared_bottom_and_its_own_top(task, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    from hf_mtl.export.task_model import export_task

    model = perturbed(make_model({"ner": 2, "sentiment": 1}))  # score runs the shared layers
    export_task(model, task, tmp_path / task)
    cls = AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
    single = cls.from_pretrained(tmp_path / task).eval()
    inputs = batch()
    torch.testing.assert_close(single(**inputs).logits, model(**inputs, task=task).logits, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_onnx_export_runs_each_task_own_top_layers(tmp_path):
    from transformers import AutoTokenizer

    from hf_mtl.export.onnx_graph import check_onnx, export_onnx

    model = perturbed(make_model({"ner": 1, "sentiment": 2}))
    path = export_onnx(model, tmp_path / "onnx", AutoTokenizer.from_pretrained(minilm_dir()))
    differences = check_onnx(model, path, batch=3, length=11)
    assert max(differences.values()) < 1e-5, differences


# ------------------------------------------------------------------ transfer, removal
def test_a_new_task_gets_its_own_top_layers_from_the_shared_ones():
    model = perturbed(make_model({"ner": 1}))
    shared = model.encoder.encoder.layer[2].shared.attention.self.query.weight.clone()
    model.add_task("topic", {"type": "text-classification", "labels": ["a", "b"]}, task_layers=2)
    layer = model.encoder.encoder.layer
    assert model.config.task_layers["topic"] == {"layers": 2, "tasks": ["topic"]}
    assert torch.equal(layer[2].copies["topic"].attention.self.query.weight, shared)
    assert isinstance(layer[1], TaskLayerSlot) and set(layer[1].copies) == {"topic"} and layer[1].shared is not None
    inputs = batch()
    together = model.forward_all_tasks(**inputs)
    for task in model.task_names:
        torch.testing.assert_close(together[task], model(**inputs, task=task).logits, rtol=0, atol=0)
    model.remove_task("ner")
    assert "ner" not in layer[2].copies and "ner" not in (model.config.task_layers or {})


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("value", "message"), [
    (3, r"task_layers=3, but the encoder has 3 layers: give 0 to 2"),
    (-1, r"task_layers=-1"),
    ({"nre": 1}, r"unknown task 'nre' \(did you mean 'ner'\?\)"),
    ({"a": {"layers": 1, "tasks": ["ner"]}, "b": {"layers": 1, "tasks": ["ner"]}}, "in two copies"),
    (True, "whole number"),
])
def test_bad_task_layers_are_one_line_errors(value, message):
    with pytest.raises(HfMtlError, match=message) as error:
        make_model(value)
    assert "\n" not in str(error.value)


def test_a_family_without_a_layer_list_is_refused_by_name():
    from transformers import AlbertConfig

    encoder = AlbertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                           embedding_size=16)
    with pytest.raises(HfMtlError, match="'albert' encoders keep no list of 2 separate layers"):
        MultiTaskModel(MultiTaskConfig(encoder=encoder, tasks=TINY_TASKS, task_layers=1))


# ------------------------------------------------------------------ recipes: layout, resume, DDP
def recipe_tasks(samples: Path, ner_capacity: dict | None = None, **extra) -> list[dict]:
    """Two small sample tasks; ``ner`` with its own capacity (default: 2 own top layers), ``sentiment`` with ``extra``."""
    small = {"max_train_examples": 12, "max_eval_examples": 16, "max_length": 32}
    return [
        {"name": "ner", "type": "token-classification", "train": str(samples / "conll2003_train.txt"),
         "validation": str(samples / "conll2003_validation.txt"), **small, **(ner_capacity or {"task_layers": 2}),
         "labels": ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]},
        {"name": "sentiment", "type": "text-classification", "train": str(samples / "sst2_train.tsv"),
         "validation": str(samples / "sst2_validation.tsv"), "text_column": "sentence",
         "label_map": {0: "negative", 1: "positive"}, **small, **extra},
    ]


def test_recipe_task_layers_model_level_and_per_task(tmp_path, encoder_dir):
    import yaml
    from conftest import SAMPLES_DIR

    from hf_mtl.modeling.errors import RecipeError
    from hf_mtl.workflow.recipe import load_recipe

    def write(model: dict, tasks: list[dict]) -> Path:
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "out"), "model": {"encoder": str(encoder_dir),
                                        **model}, "tasks": tasks}))
        return path

    recipe = load_recipe(write({"task_layers": 1}, recipe_tasks(SAMPLES_DIR)))
    assert recipe.model.task_layer_layout(recipe.tasks) == {"ner": {"layers": 2, "tasks": ["ner"]},
                                                           "sentiment": {"layers": 1, "tasks": ["sentiment"]}}
    with pytest.raises(RecipeError, match="model.task_layers must be a whole number >= 0"):
        load_recipe(write({"task_layers": -2}, recipe_tasks(SAMPLES_DIR)))
    with pytest.raises(RecipeError, match="task 'sentiment': `task_layers` must be a whole number >= 0"):
        load_recipe(write({}, recipe_tasks(SAMPLES_DIR, task_layers="top")))


def resume_recipe(folder: Path, encoder: Path, **training) -> Path:
    import yaml
    from conftest import SAMPLES_DIR
    from test_resume import TRAINING

    recipe = {"output_dir": str(folder / "unused"), "model": {"encoder": str(encoder), "task_layers": 1},
              "tasks": recipe_tasks(SAMPLES_DIR), "training": {**TRAINING, "max_steps": 6, **training}}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def test_resume_with_task_layers_equals_the_uninterrupted_run(tmp_path, encoder_dir):
    from hf_mtl.training.trainer import MultiTaskTrainer
    from hf_mtl.workflow.recipe import load_recipe
    from hf_mtl.workflow.train import build_model, load_tokenizer, prepare_recipe_tasks

    recipe = load_recipe(resume_recipe(tmp_path, encoder_dir, gradient_accumulation_steps=2))
    tokenizer = load_tokenizer(recipe.model.encoder_path)
    prepared = prepare_recipe_tasks(list(recipe.tasks), tokenizer)

    def trainer(output: str) -> MultiTaskTrainer:
        torch.manual_seed(0)
        return MultiTaskTrainer(model=build_model(recipe, prepared), processing_class=tokenizer,
                                args=recipe.training_arguments(output_dir=str(tmp_path / output)),
                                train_dataset={name: data.tokenized["train"] for name, data in prepared.items()})

    full = trainer("full")
    full.train()
    resumed = trainer("resumed")
    shutil.copytree(tmp_path / "full" / "checkpoint-2", tmp_path / "resumed" / "checkpoint-2")
    resumed.train(resume_from_checkpoint=str(tmp_path / "resumed" / "checkpoint-2"))
    expected, got = full.model.state_dict(), resumed.model.state_dict()
    assert any(".copies.ner." in key for key in expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("accelerate") is None, reason="accelerate not installed")
def test_two_process_training_with_task_layers(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    script = Path(__file__).parent / "scripts" / "ddp_task_layers_train.py"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", str(script), str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    rank0, rank1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    start = load_file(tmp_path / "start.safetensors")
    for key, value in rank0.items():
        assert torch.equal(rank1[key], value), key  # every process holds the same weights after the steps
    for unit in ("tokens", "sentiment"):  # each unit's own top layer trained (it was routed on some steps)
        key = f"encoder.encoder.layer.1.copies.{unit}.output.dense.weight"
        assert not torch.equal(rank0[key], start[key]), key


def test_shared_lora_on_a_task_layer_model_gives_each_copy_its_own_adapters(tmp_path, encoder_dir):
    from hf_mtl.modeling.lora import apply_lora, merge_lora

    model = MultiTaskModel.from_encoder(str(encoder_dir), tasks=TINY_TASKS, task_layers={"ner": 1})
    apply_lora(model, {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["query", "value"]},
               base_encoder=str(encoder_dir))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".lora_" in name:
                parameter.add_(torch.randn_like(parameter) * 0.05)
    names = {name for name, p in model.named_parameters() if p.requires_grad}
    assert "encoder.encoder.layer.2.copies.ner.attention.self.query.lora_A.default.weight" in names
    assert "encoder.encoder.layer.2.shared.attention.self.query.lora_A.default.weight" in names
    assert "encoder.encoder.layer.2.copies.ner.attention.self.query.base_layer.weight" not in names  # frozen
    model.eval()
    inputs = batch()
    together = model.forward_all_tasks(**inputs)
    for task in model.task_names:
        torch.testing.assert_close(together[task], model(**inputs, task=task).logits, rtol=0, atol=0)
    model.save_pretrained(tmp_path / "adapter")
    reloaded = MultiTaskModel.from_pretrained(tmp_path / "adapter").eval()
    for task, value in reloaded.forward_all_tasks(**inputs).items():
        torch.testing.assert_close(value, together[task], rtol=0, atol=1e-6)
    merged = merge_lora(copy.deepcopy(model)).eval()
    for task, value in merged.forward_all_tasks(**inputs).items():
        torch.testing.assert_close(value, together[task], rtol=1e-5, atol=1e-5)


def test_cli_train_prints_and_cards_the_counts_then_export_and_transfer(tmp_path, encoder_dir, capsys):
    import yaml
    from conftest import SAMPLES_DIR, TINY_TRAINING
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from hf_mtl.workflow.cli import main

    tasks = recipe_tasks(SAMPLES_DIR)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "model"), "tasks": tasks,
                                      "model": {"encoder": str(encoder_dir), "task_layers": 1},
                                      "training": {**TINY_TRAINING, "max_steps": 4}}))
    assert main(["train", str(recipe)]) == 0
    printed = capsys.readouterr().out
    assert "shared by every task (the encoder bottom); per task:" in printed
    assert "ner: " in printed and "own top layers" in printed
    card = (tmp_path / "model" / "README.md").read_text()
    assert "shared by every task (the encoder below the task-specific top layers)" in card
    model = MultiTaskModel.from_pretrained(tmp_path / "model").eval()
    assert model.config.task_layers == {"ner": {"layers": 2, "tasks": ["ner"]},
                                        "sentiment": {"layers": 1, "tasks": ["sentiment"]}}
    assert main(["export", str(tmp_path / "model"), "--task", "ner", str(tmp_path / "ner")]) == 0
    single = AutoModelForTokenClassification.from_pretrained(tmp_path / "ner").eval()
    inputs = AutoTokenizer.from_pretrained(tmp_path / "ner")(["Peter lives in Berlin"], return_tensors="pt")
    torch.testing.assert_close(single(**inputs).logits, model(**inputs, task="ner").logits, rtol=0, atol=1e-6)
    # refine: each task alone from the joint model keeps its own top layers (and trains them)
    assert main(["refine", str(tmp_path / "model"), str(recipe), "--steps", "2", "--output-dir",
                 str(tmp_path / "refined"), "--split", "validation", "learning_rate=5e-3"]) == 0
    refined = MultiTaskModel.from_pretrained(tmp_path / "refined" / "ner")
    own = "encoder.encoder.layer.2.copies.ner.output.dense.weight"
    assert not torch.equal(refined.state_dict()[own], model.state_dict()[own])
    # transfer: a new task from the trained model gets its own top layer, copied from the shared one
    new = {**tasks[1], "name": "sentiment_two", "task_layers": 1}
    transfer = tmp_path / "transfer.yaml"
    transfer.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "transfer"), "tasks": [new],
                                        "model": {"from_model": str(tmp_path / "model")},
                                        "training": {**TINY_TRAINING, "max_steps": 2}}))
    assert main(["train", str(transfer)]) == 0
    moved = MultiTaskModel.from_pretrained(tmp_path / "transfer")
    assert moved.config.task_layers["sentiment_two"] == {"layers": 1, "tasks": ["sentiment_two"]}
    assert "sentiment_two" in moved.encoder.encoder.layer[2].copies


def test_capacity_counts_the_encoder_cannot_hold_fail_before_the_data_is_read(tmp_path, encoder_dir, monkeypatch):
    """`task_layers` / `task_adapters` layers are checked against the encoder's config before tokenizing anything."""
    import yaml
    from conftest import SAMPLES_DIR

    from hf_mtl.modeling.errors import RecipeError
    from hf_mtl.workflow import train as train_module
    from hf_mtl.workflow.recipe import load_recipe

    def read_data(*args, **kwargs):
        raise AssertionError("the data was read before the capacity check")

    monkeypatch.setattr(train_module, "prepare_recipe_tasks", read_data)
    num_layers = MultiTaskModel.encoder_config(str(encoder_dir)).num_hidden_layers
    for model, message in (({"task_layers": num_layers}, f"task_layers={num_layers}, but the encoder has {num_layers} layers"),
                           ({"task_adapters": {"r": 4, "layers": num_layers + 3}}, f"the encoder has {num_layers} layers")):
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "out"), "training": {"max_steps": 1},
                                        "model": {"encoder": str(encoder_dir), **model},
                                        "tasks": recipe_tasks(SAMPLES_DIR)}))
        with pytest.raises(RecipeError, match=message):
            train_module.train_recipe(load_recipe(path))
