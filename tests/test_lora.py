"""LoRA: adapters in the encoder, heads fully trainable; adapter and merged saves reload exactly; recipe, trainer,
export and push handle LoRA models; a damaged adapter folder is an error, never a random encoder."""

from __future__ import annotations

import json
from unittest import mock

import pytest
import torch
import yaml
from conftest import TINY_TASKS
from safetensors.torch import load_file, save_file
from test_cli import write_recipe
from transformers import AutoModel, AutoModelForTokenClassification

from hf_mtl import MultiTaskModel, RecipeError
from hf_mtl.modeling.errors import HfMtlError
from hf_mtl.modeling.lora import apply_lora, is_lora_model, merge_lora, trainable_parameters
from hf_mtl.workflow.cli import main

peft = pytest.importorskip("peft")


@pytest.fixture
def lora_model(tiny_encoder_dir):
    torch.manual_seed(0)
    model = MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks=TINY_TASKS)
    apply_lora(model, {"r": 4, "lora_alpha": 8})
    with torch.no_grad():  # LoRA's B starts at zero: give the adapters an effect to compare
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)
    return model.eval()


def all_logits(model, input_ids):
    with torch.no_grad():
        return model.forward_all_tasks(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))


def max_difference(a, b):
    return max((a[task] - b[task]).abs().max().item() for task in a)


INPUT_IDS = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 7592, 2088, 102, 0, 0]])


def test_only_adapters_and_heads_train(lora_model):
    trainable = {name for name, p in lora_model.named_parameters() if p.requires_grad}
    assert trainable, "nothing trains"
    assert all(".lora_" in name or name.startswith("heads.") for name in trainable)
    assert {name for name, _ in lora_model.heads.named_parameters()} == {
        name[len("heads."):] for name in trainable if name.startswith("heads.")
    }
    count, total = trainable_parameters(lora_model)
    assert 0 < count < total / 10


def test_adapter_save_holds_adapters_and_heads_and_reloads_exactly(lora_model, tmp_path):
    reference = all_logits(lora_model, INPUT_IDS)
    lora_model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    assert all(".lora_" in key or key.startswith("heads.") for key in saved)
    assert json.loads((tmp_path / "config.json").read_text())["lora"]["r"] == 4
    for loader in (MultiTaskModel.from_pretrained, AutoModel.from_pretrained):
        reloaded = loader(tmp_path)
        assert is_lora_model(reloaded)
        assert max_difference(reference, all_logits(reloaded, INPUT_IDS)) == 0.0


def test_merged_model_matches_and_is_a_plain_model(lora_model, tmp_path):
    reference = all_logits(lora_model, INPUT_IDS)
    merged = merge_lora(lora_model)
    assert not is_lora_model(merged) and merged.config.lora is None
    assert max_difference(reference, all_logits(merged, INPUT_IDS)) < 1e-5
    merged.save_pretrained(tmp_path)
    assert "lora" not in json.loads((tmp_path / "config.json").read_text()) or not json.loads(
        (tmp_path / "config.json").read_text())["lora"]
    assert max_difference(reference, all_logits(MultiTaskModel.from_pretrained(tmp_path), INPUT_IDS)) < 1e-5


def test_damaged_adapter_folder_is_an_error_not_a_random_model(lora_model, tmp_path):
    lora_model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    dropped = next(key for key in weights if ".lora_A." in key)
    save_file({k: v for k, v in weights.items() if k != dropped}, tmp_path / "model.safetensors")
    with pytest.raises(OSError, match="1 missing"):
        MultiTaskModel.from_pretrained(tmp_path)


def test_missing_base_encoder_is_named(lora_model, tmp_path):
    lora_model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["lora"]["base_encoder"] = str(tmp_path / "gone")
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(OSError, match="LoRA adapters for the encoder"):
        MultiTaskModel.from_pretrained(tmp_path)


def test_target_modules_in_heads_are_refused(tiny_encoder_dir):
    model = MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks=TINY_TASKS)
    with pytest.raises(HfMtlError, match="match head layers"):
        apply_lora(model, {"target_modules": ["query", "classifier"]})


def test_unknown_lora_field_names_the_nearest(tiny_encoder_dir):
    model = MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks=TINY_TASKS)
    with pytest.raises(HfMtlError, match="did you mean 'lora_alpha'"):
        apply_lora(model, {"lora_alpah": 4})


def test_peft_model_is_accepted_by_the_trainer(tiny_encoder_dir, tmp_path):
    from transformers import AutoTokenizer

    from hf_mtl import MultiTaskTrainer, MultiTaskTrainingArguments

    tasks = {"sentiment": TINY_TASKS["sentiment"]}
    model = MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks=tasks)
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=2, target_modules=["query", "value"]))
    data = {"input_ids": [[101, 2000 + i, 102] for i in range(8)], "attention_mask": [[1, 1, 1]] * 8,
            "labels": [i % 2 for i in range(8)]}
    from datasets import Dataset

    trainer = MultiTaskTrainer(
        model=wrapped, args=MultiTaskTrainingArguments(str(tmp_path), max_steps=2, per_device_train_batch_size=4,
                                                       report_to="none", use_cpu=True, save_strategy="no"),
        train_dataset={"sentiment": Dataset.from_dict(data)}, processing_class=AutoTokenizer.from_pretrained(
            tiny_encoder_dir),
    )
    assert trainer.model is model
    head_before = model.heads["sentiment"].classifier.weight.detach().clone()
    trainer.train()
    assert not torch.equal(head_before, model.heads["sentiment"].classifier.weight)  # heads train
    trainer.save_model(str(tmp_path / "saved"))
    reloaded = MultiTaskModel.from_pretrained(tmp_path / "saved")
    assert max_difference(all_logits(model.eval(), INPUT_IDS), all_logits(reloaded, INPUT_IDS)) == 0.0


def test_recipe_lora_section_is_checked_before_training(tmp_path, tiny_encoder_dir):
    from hf_mtl.workflow.recipe import load_recipe

    path = write_recipe(tmp_path / "r.yaml", tiny_encoder_dir, tmp_path / "out")
    raw = yaml.safe_load(path.read_text())
    raw["model"]["lora"] = {"rank": 4}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(RecipeError, match=r"model\.lora: unknown field"):
        load_recipe(path)
    raw["model"]["lora"] = True
    raw["model"]["freeze_encoder"] = True
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(RecipeError, match="drop freeze_encoder"):
        load_recipe(path)


def test_cli_train_evaluate_export_push_a_lora_model(tmp_path, tiny_encoder_dir, capsys):
    path = write_recipe(tmp_path / "r.yaml", tiny_encoder_dir, tmp_path / "out")
    raw = yaml.safe_load(path.read_text())
    raw["model"]["lora"] = {"r": 4}
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path)]) == 0
    out = tmp_path / "out"
    assert json.loads((out / "config.json").read_text())["lora"]["r"] == 4
    model = MultiTaskModel.from_pretrained(out)
    assert is_lora_model(model)
    reference = all_logits(model, INPUT_IDS)
    assert main(["evaluate", str(out), str(path), "--split", "validation"]) == 0
    assert main(["predict", str(out), "--text", "Ada lived in London ."]) == 0
    assert main(["export", str(out), "--task", "ner", str(tmp_path / "ner")]) == 0
    exported = AutoModelForTokenClassification.from_pretrained(tmp_path / "ner").eval()
    with torch.no_grad():
        single = exported(input_ids=INPUT_IDS, attention_mask=torch.ones_like(INPUT_IDS)).logits
    assert (single - reference["ner"]).abs().max().item() < 1e-5

    uploaded = {}

    def upload_folder(self, folder_path, **kwargs):
        uploaded["config"] = json.loads(open(f"{folder_path}/config.json").read())
        uploaded["weights"] = set(load_file(f"{folder_path}/model.safetensors"))
        return "https://huggingface.co/u/m/commit/0"

    with mock.patch("huggingface_hub.HfApi.create_repo"), mock.patch("huggingface_hub.HfApi.upload_folder", upload_folder):
        assert main(["push", str(out), "u/m"]) == 0
    assert not uploaded["config"].get("lora")
    assert any(key.startswith("encoder.") and ".lora_" not in key for key in uploaded["weights"])
    capsys.readouterr()
    assert main(["push", str(out), "u/m", "--keep-lora"]) == 2  # the base encoder is a local folder
    assert "local encoder" in capsys.readouterr().err
