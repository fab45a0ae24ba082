"""Per-task low-rank adapters (`task_adapters`): sharing, routing, training against a hand-built reference,
save / reload / remote code / export / ONNX exactness, the pipeline, transfer, a backbone LoRA underneath, resume
and the bad-input errors."""

from __future__ import annotations

import copy
import importlib.util
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
from hf_mtl.modeling.task_adapters import TaskLoRALinear
from hf_mtl.modeling.task_layers import TaskLayerSlot, format_parameter_counts, parameter_counts

LAYERS = 3
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
ADAPTERS = {"r": 2, "alpha": 4, "target_modules": ["query", "value", "dense"]}


def make_model(task_adapters, layers: int = LAYERS, seed: int = 0, **encoder) -> MultiTaskModel:
    torch.manual_seed(seed)
    config = MultiTaskConfig(encoder=tiny_bert_config(num_hidden_layers=layers, **encoder), tasks=TINY_TASKS,
                             task_adapters=task_adapters)
    return MultiTaskModel(config).eval()


def batch(seed: int = 0, size: int = 3, length: int = 9) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 2000, (size, length), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, length - 3:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def trained(model: MultiTaskModel) -> MultiTaskModel:
    """Every adapter's B moved off zero (as after training), so the tasks' functions differ."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".task_lora_B." in name:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.3)
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
def test_config_forms_layout_and_sharing():
    model = make_model({"ner": {**ADAPTERS, "layers": 1}, "grouped": {"tasks": ["tags", "score"], "r": 3,
                                                                        "target_modules": ["query"]}})
    adapters = model.config.task_adapters
    assert adapters["ner"] == {"tasks": ["ner"], "r": 2, "alpha": 4, "dropout": 0.0,
                               "target_modules": ["query", "value", "dense"], "layers": [2]}
    assert adapters["grouped"]["layers"] == [0, 1, 2] and adapters["grouped"]["alpha"] == 6  # default alpha 2r
    layer = model.encoder.encoder.layer
    assert all(isinstance(slot, TaskLayerSlot) and not slot.copies for slot in layer)
    assert layer[2].adapted == ["ner", "grouped"] and layer[0].adapted == ["grouped"]
    query = layer[2].shared.attention.self.query
    assert isinstance(query, TaskLoRALinear) and set(query.task_lora_A) == {"ner", "grouped"}
    assert query.task_lora_A["ner"].shape == (2, 32) and query.task_lora_B["grouped"].shape == (32, 3)
    assert query.task_lora_A["ner"].data_ptr() != query.task_lora_A["grouped"].data_ptr()
    assert not isinstance(layer[1].shared.attention.self.value, TaskLoRALinear)  # ner: top layer only
    keys = [key for key in model.state_dict() if "layer.2" in key and "self.query" in key]
    assert keys == ["encoder.encoder.layer.2.shared.attention.self.query.weight",  # the one shared tensor
                    "encoder.encoder.layer.2.shared.attention.self.query.bias",
                    "encoder.encoder.layer.2.shared.attention.self.query.task_lora_A.ner",
                    "encoder.encoder.layer.2.shared.attention.self.query.task_lora_A.grouped",
                    "encoder.encoder.layer.2.shared.attention.self.query.task_lora_B.ner",
                    "encoder.encoder.layer.2.shared.attention.self.query.task_lora_B.grouped"]
    every = make_model({"r": 4, "layers": [0, 2]}).config.task_adapters
    assert list(every) == list(TINY_TASKS) and every["sentiment"]["layers"] == [0, 2]
    assert every["sentiment"]["target_modules"] == ["query", "value"]  # default: the attention's query and value
    saved = MultiTaskConfig.from_dict(model.config.to_dict())
    assert saved.task_adapters == adapters
    counts = parameter_counts(model)
    # r = 2 on query, value, attention.output.dense (32 -> 32), intermediate.dense (32 -> 37), output.dense (37 -> 32)
    assert counts["tasks"]["ner"]["adapter"] == 3 * (2 * 32 + 32 * 2) + 2 * (2 * 32 + 2 * 37)
    own = sum(p.numel() for name, p in model.named_parameters() if ".task_lora_" in name)
    assert counts["shared"] + own + sum(e["head"] for e in counts["tasks"].values()) == counts["total"]
    assert counts["tasks"]["tags"]["adapter"] == counts["tasks"]["score"]["adapter"] == 3 * (3 * 32 + 32 * 3)  # query of 3 layers, r = 3
    assert counts["tasks"]["sentiment"]["adapter"] == 0
    text = format_parameter_counts(counts)
    assert "tags: " in text and "own adapter of group 'grouped' 576" in text


def test_a_new_adapter_starts_as_lora_does_and_changes_nothing():
    model = make_model(True)
    plain = make_model(None)
    assert all(torch.equal(p, torch.zeros_like(p)) for n, p in model.named_parameters() if ".task_lora_B." in n)
    inputs = batch()
    for task, value in model.forward_all_tasks(**inputs).items():
        torch.testing.assert_close(value, plain.forward_all_tasks(**inputs)[task], rtol=0, atol=0)


def test_gradients_reach_the_shared_weights_and_only_the_task_own_adapter():
    model = trained(make_model(ADAPTERS)).train()
    model(**batch(), task="sentiment", labels=torch.tensor([0, 1, 1])).loss.backward()
    query = model.encoder.encoder.layer[1].shared.attention.self.query
    assert query.weight.grad.abs().sum() > 0
    assert query.task_lora_A["sentiment"].grad.abs().sum() > 0
    assert query.task_lora_A["ner"].grad is None and query.task_lora_B["ner"].grad is None


def test_a_frozen_encoder_keeps_the_per_task_adapters_trainable():
    model = make_model(ADAPTERS)
    model.freeze_encoder()
    trainable = {name for name, p in model.encoder.named_parameters() if p.requires_grad}
    assert trainable and all(".task_lora_" in name for name in trainable)
    assert model.encoder_frozen
    model.unfreeze_encoder()
    assert not model.encoder_frozen


# ------------------------------------------------------------------ one pass for every task
@pytest.mark.parametrize("adapters", [ADAPTERS, {**ADAPTERS, "layers": 1},
                                      {"ner": {"layers": 2}, "both": {"tasks": ["sentiment", "score"], "layers": [1]}}])
def test_forward_all_tasks_equals_each_task_forward(adapters):
    model = trained(make_model(adapters))
    inputs = batch()
    together = model.forward_all_tasks(**inputs)
    for task in model.task_names:
        torch.testing.assert_close(together[task], model(**inputs, task=task).logits, rtol=0, atol=0)
    assert not torch.allclose(together["ner"], make_model(None).forward_all_tasks(**inputs)["ner"])


def test_the_pass_for_every_task_runs_the_shared_bottom_once():
    model = trained(make_model({**ADAPTERS, "layers": 1}))
    calls = {position: 0 for position in range(LAYERS)}
    for position, slot in enumerate(model.encoder.encoder.layer):
        getattr(slot, "shared", slot).register_forward_hook(lambda *_, position=position: calls.__setitem__(position,
                                                                                            calls[position] + 1))
    model.forward_all_tasks(**batch())
    assert calls == {0: 1, 1: 1, 2: len(TINY_TASKS)}  # bottom once, the adapted top layer once per task


def test_pipeline_equals_per_task_forward(encoder_dir):
    from transformers import AutoTokenizer

    from hf_mtl.modeling.inference import MultiTaskPipeline

    model = trained(MultiTaskModel.from_encoder(str(encoder_dir), tasks=TINY_TASKS,
                                                task_adapters={"sentiment": {"r": 2}, "score": {"layers": 1}}))
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
    settings = {"r": 2, "alpha": 6, "target_modules": ["query", "output.dense"], "layers": 2}
    model = trained(make_model({"ner": settings, "sentiment": settings}, **NO_DROPOUT)).train()
    for task in TINY_TASKS:
        model.heads[task].dropout.p = 0.0
    # the reference: a plain BERT encoder with the same weights, and each task's deltas added by forward hooks
    encoder = BertModel(tiny_bert_config(num_hidden_layers=LAYERS, **NO_DROPOUT), add_pooling_layer=False)
    encoder.load_state_dict({k.replace("shared.", ""): v for k, v in model.encoder.state_dict().items()
                             if ".task_lora_" not in k})
    deltas = torch.nn.ParameterDict()
    active = [None]
    for position in (1, 2):
        for path in ("attention.self.query", "attention.output.dense", "output.dense"):
            ours = model.encoder.encoder.layer[position].shared.get_submodule(path)
            theirs = encoder.encoder.layer[position].get_submodule(path)
            prefix = f"{position}_{path.replace('.', '_')}"
            for task in ("ner", "sentiment"):
                key = f"{prefix}_{task}"
                deltas[key + "_a"] = torch.nn.Parameter(ours.task_lora_A[task].detach().clone())
                deltas[key + "_b"] = torch.nn.Parameter(ours.task_lora_B[task].detach().clone())

            def hook(module, args, output, prefix=prefix):
                a, b = deltas[f"{prefix}_{active[0]}_a"], deltas[f"{prefix}_{active[0]}_b"]
                return output + args[0] @ a.T @ b.T * 3.0

            theirs.register_forward_hook(hook)
    heads = copy.deepcopy(model.heads)
    reference = torch.nn.ModuleList([encoder, deltas, heads]).train()
    optimizers = [torch.optim.SGD(model.parameters(), lr=0.5), torch.optim.SGD(reference.parameters(), lr=0.5)]
    steps = [("ner", batch(0), torch.randint(0, 5, (3, 9), generator=torch.Generator().manual_seed(2))),
             ("sentiment", batch(1), torch.tensor([1, 0, 1]))]
    for task, inputs, labels in steps:
        loss = model(**inputs, task=task, labels=labels).loss
        active[0] = task
        logits = heads[task](encoder(**inputs).last_hidden_state, inputs["attention_mask"])
        expected = torch.nn.functional.cross_entropy(logits.flatten(0, -2), labels.flatten())
        torch.testing.assert_close(loss, expected)
        for optimizer, value in zip(optimizers, (loss, expected), strict=True):
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
    ours = model.encoder.encoder.layer[2].shared
    theirs = encoder.encoder.layer[2]
    torch.testing.assert_close(ours.output.dense.weight, theirs.output.dense.weight)
    torch.testing.assert_close(model.encoder.encoder.layer[0].attention.self.key.weight,
                               encoder.encoder.layer[0].attention.self.key.weight)
    for task in ("ner", "sentiment"):
        torch.testing.assert_close(ours.attention.self.query.task_lora_A[task],
                                   deltas[f"2_attention_self_query_{task}_a"])
        torch.testing.assert_close(ours.output.dense.task_lora_B[task], deltas[f"2_output_dense_{task}_b"])
    torch.testing.assert_close(model.heads["sentiment"].classifier.weight, heads["sentiment"].classifier.weight)


# ------------------------------------------------------------------ save, reload, remote code, export, ONNX
def test_save_reload_and_remote_code_are_exact(tmp_path):
    model = trained(make_model({"ner": ADAPTERS, "sentiment": {**ADAPTERS, "layers": 1}}))
    model.save_pretrained(tmp_path / "model")
    reloaded = MultiTaskModel.from_pretrained(tmp_path / "model").eval()
    assert all(torch.equal(value, reloaded.state_dict()[key]) for key, value in model.state_dict().items())
    inputs = batch()
    expected = model.forward_all_tasks(**inputs)
    hidden = {task: model(**inputs, task=task, output_hidden_states=True).hidden_states[-1] for task in expected}
    for task, value in reloaded.forward_all_tasks(**inputs).items():
        # the encoder's output is bit-exact; a head's matmul on another instance may round differently (1e-9)
        assert torch.equal(reloaded(**inputs, task=task, output_hidden_states=True).hidden_states[-1], hidden[task])
        torch.testing.assert_close(value, expected[task], rtol=0, atol=1e-7)
    torch.save({"inputs": inputs, "expected": expected, "hidden": hidden}, tmp_path / "io.pt")
    script = textwrap.dedent(
        f"""
        import sys
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path / "model")!r}, trust_remote_code=True).eval()
        assert "hf_mtl" not in type(model).__module__
        io = torch.load({str(tmp_path / "io.pt")!r})
        got = model.forward_all_tasks(**io["inputs"])
        for task, value in io["expected"].items():
            out = model(**io["inputs"], task=task, output_hidden_states=True)
            assert torch.equal(out.hidden_states[-1], io["hidden"][task]), task
            torch.testing.assert_close(got[task], value, rtol=0, atol=1e-7)
            torch.testing.assert_close(out.logits, value, rtol=0, atol=1e-7)
        assert "peft" not in sys.modules, "the per-task adapters need no peft"
        print("REMOTE_OK")
        """
    )
    result = run_without_hf_mtl(script, tmp_path / "modules", timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REMOTE_OK" in result.stdout


def test_missing_adapter_weights_are_an_error_at_load(tmp_path):
    make_model(ADAPTERS).save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    save_file({k: v for k, v in state.items() if not k.endswith(".sentiment")}, tmp_path / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"names task adapters for \['sentiment'\] \(task_adapters\) but the "
                                         r"weights have none") as error:
        MultiTaskModel.from_pretrained(tmp_path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("task", ["ner", "sentiment", "score"])
def test_export_of_one_task_is_the_shared_encoder_with_its_adapter_merged(task, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    from hf_mtl.export.task_model import export_task

    model = trained(make_model({"ner": ADAPTERS, "sentiment": {**ADAPTERS, "layers": 1}}))  # score: none
    export_task(model, task, tmp_path / task)
    cls = AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
    single = cls.from_pretrained(tmp_path / task).eval()
    assert not any("task_lora" in key for key in single.state_dict())
    inputs = batch()
    torch.testing.assert_close(single(**inputs).logits, model(**inputs, task=task).logits, rtol=1e-5, atol=1e-5)


def test_onnx_export_runs_each_task_adapter(tmp_path):
    from transformers import AutoTokenizer

    from hf_mtl.export.onnx_graph import check_onnx, export_onnx

    model = trained(make_model({"ner": ADAPTERS, "sentiment": {**ADAPTERS, "layers": 1}}, layers=2))
    path = export_onnx(model, tmp_path / "onnx", AutoTokenizer.from_pretrained(minilm_dir()))
    differences = check_onnx(model, path, batch=3, length=11)
    assert max(differences.values()) < 1e-5, differences


# ------------------------------------------------------------------ transfer, removal, backbone LoRA
def test_a_new_task_gets_its_own_adapter_starting_at_b_zero():
    model = trained(make_model({"ner": ADAPTERS}))
    before = model.forward_all_tasks(**batch())
    model.add_task("topic", {"type": "text-classification", "labels": ["a", "b"]},
                   task_adapters={"r": 3, "layers": 1})
    assert model.config.task_adapters["topic"]["layers"] == [2]
    query = model.encoder.encoder.layer[2].shared.attention.self.query
    assert torch.equal(query.task_lora_B["topic"], torch.zeros(32, 3)) and query.task_lora_A["topic"].abs().sum() > 0
    together = model.forward_all_tasks(**batch())
    for task in model.task_names:
        torch.testing.assert_close(together[task], model(**batch(), task=task).logits, rtol=0, atol=0)
    torch.testing.assert_close(together["ner"], before["ner"], rtol=0, atol=0)
    model.add_task("topic_two", {"type": "text-classification", "labels": ["a", "b"]}, copy_name="topic")
    assert model.config.task_adapters["topic"]["tasks"] == ["topic", "topic_two"]
    model.remove_task("ner")
    assert "ner" not in query.task_lora_A and "ner" not in model.config.task_adapters
    assert not isinstance(model.encoder.encoder.layer[0], TaskLayerSlot)  # only ner adapted layer 0
    model.remove_task("topic")
    model.remove_task("topic_two")
    assert model.config.task_adapters is None and not isinstance(model.encoder.encoder.layer[2], TaskLayerSlot)


def test_per_task_adapters_on_a_peft_lora_tuned_encoder(tmp_path, encoder_dir):
    from hf_mtl.modeling.lora import apply_lora, merge_lora

    model = MultiTaskModel.from_encoder(str(encoder_dir), tasks=TINY_TASKS, task_adapters={"r": 2, "layers": 1})
    apply_lora(model, {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["query", "value"]},
               base_encoder=str(encoder_dir))
    trained(model)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".lora_B." in name:
                parameter.add_(torch.randn_like(parameter) * 0.05)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert "encoder.encoder.layer.2.shared.attention.self.query.base_layer.task_lora_A.ner" in trainable
    assert "encoder.encoder.layer.2.shared.attention.self.query.lora_A.default.weight" in trainable
    assert "encoder.encoder.layer.2.shared.attention.self.query.base_layer.weight" not in trainable  # frozen
    model.eval()
    inputs = batch()
    together = model.forward_all_tasks(**inputs)
    for task in model.task_names:
        torch.testing.assert_close(together[task], model(**inputs, task=task).logits, rtol=0, atol=0)
    model.save_pretrained(tmp_path / "adapter")
    assert any(".task_lora_A.ner" in key for key in load_file(tmp_path / "adapter" / "model.safetensors"))
    reloaded = MultiTaskModel.from_pretrained(tmp_path / "adapter").eval()
    for task, value in reloaded.forward_all_tasks(**inputs).items():
        assert torch.equal(value, together[task]), task
    merged = merge_lora(copy.deepcopy(model)).eval()  # the backbone LoRA folds in; the per-task adapters stay
    assert isinstance(merged.encoder.encoder.layer[2].shared.attention.self.query, TaskLoRALinear)
    for task, value in merged.forward_all_tasks(**inputs).items():
        torch.testing.assert_close(value, together[task], rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("value", "message"), [
    ({"r": 0}, r"task_adapters.ner.r: the adapter rank must be a whole number > 0, got 0"),
    ({"ner": {"r": -2}}, r"rank must be a whole number > 0, got -2"),
    ({"target_modules": ["qkv"]}, r"have no linear layer 'qkv'; they have \['dense', 'key', 'query', 'value'\]"),
    ({"layers": [0, 3]}, r"layers: \[3\] outside the encoder, which has layers 0 to 2"),
    ({"layers": 4}, r"layers=4: the encoder has 3 layers"),
    ({"nre": {"r": 2}}, r"unknown task 'nre' \(did you mean 'ner'\?\)"),
    ({"rank": 2}, r"unknown setting 'rank'"),
    ({"a": {"tasks": ["ner"]}, "b": {"tasks": ["ner"]}}, "in two copies"),
])
def test_bad_task_adapters_are_one_line_errors(value, message):
    with pytest.raises(HfMtlError, match=message) as error:
        make_model(value)
    assert "\n" not in str(error.value)


def test_task_adapters_with_task_layers_are_refused():
    with pytest.raises(HfMtlError, match="not both"):
        MultiTaskConfig(encoder=tiny_bert_config(num_hidden_layers=LAYERS), tasks=TINY_TASKS, task_layers=1,
                        task_adapters=True)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("accelerate") is None, reason="accelerate not installed")
def test_two_process_training_with_task_adapters(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    script = Path(__file__).parent / "scripts" / "ddp_task_layers_train.py"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(script), str(tmp_path),
               "adapters"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    rank0, rank1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    start = load_file(tmp_path / "start.safetensors")
    for key, value in rank0.items():
        assert torch.equal(rank1[key], value), key  # every process holds the same weights after the steps
    for unit in ("tokens", "sentiment"):  # each unit's own adapter trained (it was routed on some steps)
        key = f"encoder.encoder.layer.1.shared.attention.self.query.task_lora_B.{unit}"
        assert not torch.equal(rank0[key], start[key]), key


# ------------------------------------------------------------------ recipes: layout, resume, CLI
def recipe_tasks(samples: Path, **extra) -> list[dict]:
    """test_task_layers' two sample tasks, ``ner`` with its own adapter (r = 4)."""
    from test_task_layers import recipe_tasks as two_tasks

    return two_tasks(samples, ner_capacity={"task_adapters": {"r": 4}}, **extra)


def test_recipe_task_adapters_model_level_and_per_task(tmp_path, encoder_dir):
    import yaml
    from conftest import SAMPLES_DIR

    from hf_mtl.modeling.errors import RecipeError
    from hf_mtl.workflow.recipe import load_recipe

    def write(model: dict, tasks: list[dict]) -> Path:
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "out"), "model": {"encoder": str(encoder_dir),
                                        **model}, "tasks": tasks}))
        return path

    recipe = load_recipe(write({"task_adapters": {"r": 8, "layers": 2}}, recipe_tasks(SAMPLES_DIR)))
    assert recipe.model.task_adapter_layout(recipe.tasks) == {"ner": {"tasks": ["ner"], "r": 4, "layers": 2},
                                                             "sentiment": {"tasks": ["sentiment"], "r": 8, "layers": 2}}
    recipe = load_recipe(write({}, recipe_tasks(SAMPLES_DIR, task_adapters=False)))
    assert recipe.model.task_adapter_layout(recipe.tasks) == {"ner": {"tasks": ["ner"], "r": 4}}
    with pytest.raises(RecipeError, match=r"model.task_adapters.r: the adapter rank must be a whole number > 0"):
        load_recipe(write({"task_adapters": {"r": 0}}, recipe_tasks(SAMPLES_DIR)))
    with pytest.raises(RecipeError, match="not both"):
        load_recipe(write({"task_adapters": True, "task_layers": 1}, recipe_tasks(SAMPLES_DIR)))
    with pytest.raises(HfMtlError, match=r"task 'sentiment': task_adapters: unknown setting 'rnak'"):
        load_recipe(write({}, recipe_tasks(SAMPLES_DIR, task_adapters={"rnak": 2})))


def test_resume_with_task_adapters_equals_the_uninterrupted_run(tmp_path, encoder_dir):
    import yaml
    from conftest import SAMPLES_DIR
    from test_resume import TRAINING

    from hf_mtl.training.trainer import MultiTaskTrainer
    from hf_mtl.workflow.recipe import load_recipe
    from hf_mtl.workflow.train import build_model, load_tokenizer, prepare_recipe_tasks

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "unused"),
                                    "model": {"encoder": str(encoder_dir), "task_adapters": {"r": 2}},
                                    "tasks": recipe_tasks(SAMPLES_DIR),
                                    "training": {**TRAINING, "max_steps": 6, "gradient_accumulation_steps": 2}}))
    recipe = load_recipe(path)
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
    assert any(".task_lora_B.ner" in key and value.abs().sum() > 0 for key, value in expected.items())  # trained
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


def test_cli_train_prints_and_cards_the_counts_then_export_refine_and_transfer(tmp_path, encoder_dir, capsys):
    import yaml
    from conftest import SAMPLES_DIR, TINY_TRAINING
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from hf_mtl.workflow.cli import main

    tasks = recipe_tasks(SAMPLES_DIR)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "model"), "tasks": tasks,
                                      "model": {"encoder": str(encoder_dir), "task_adapters": {"r": 2, "layers": 2}},
                                      "training": {**TINY_TRAINING, "max_steps": 4}}))
    assert main(["train", str(recipe)]) == 0
    printed = capsys.readouterr().out
    assert "shared by every task (the encoder); per task:" in printed and "own adapter" in printed
    card = (tmp_path / "model" / "README.md").read_text()
    assert "each task's own (head and low-rank adapter)" in card
    model = MultiTaskModel.from_pretrained(tmp_path / "model").eval()
    assert model.config.task_adapters["ner"]["r"] == 4 and model.config.task_adapters["sentiment"]["layers"] == [1, 2]
    assert main(["export", str(tmp_path / "model"), "--task", "ner", str(tmp_path / "ner")]) == 0
    single = AutoModelForTokenClassification.from_pretrained(tmp_path / "ner").eval()
    inputs = AutoTokenizer.from_pretrained(tmp_path / "ner")(["Peter lives in Berlin"], return_tensors="pt")
    torch.testing.assert_close(single(**inputs).logits, model(**inputs, task="ner").logits, rtol=1e-5, atol=1e-5)
    # refine: each task alone from the joint model keeps its adapter (and trains it)
    assert main(["refine", str(tmp_path / "model"), str(recipe), "--steps", "2", "--output-dir",
                 str(tmp_path / "refined"), "--split", "validation", "learning_rate=5e-3"]) == 0
    refined = MultiTaskModel.from_pretrained(tmp_path / "refined" / "ner")
    own = "encoder.encoder.layer.2.shared.attention.self.query.task_lora_B.ner"
    assert list(refined.config.task_adapters) == ["ner"]
    assert not torch.equal(refined.state_dict()[own], model.state_dict()[own])
    # transfer: a new task from the trained model gets its own adapter (B = 0 at the start)
    new = {**tasks[1], "name": "sentiment_two", "task_adapters": {"r": 2, "layers": 1}}
    transfer = tmp_path / "transfer.yaml"
    transfer.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "transfer"), "tasks": [new],
                                        "model": {"from_model": str(tmp_path / "model")},
                                        "training": {**TINY_TRAINING, "max_steps": 2}}))
    assert main(["train", str(transfer)]) == 0
    moved = MultiTaskModel.from_pretrained(tmp_path / "transfer")
    assert moved.config.task_adapters["sentiment_two"]["layers"] == [2]
    assert "sentiment_two" in moved.encoder.encoder.layer[2].shared.attention.self.value.task_lora_A
