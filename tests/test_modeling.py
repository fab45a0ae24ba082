"""The multi-task model: config, heads, losses, save/load, AutoModel, remote code, export, bad input."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from conftest import TINY_TASKS, run_without_hf_mtl, tiny_bert_config
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

import hf_mtl
from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.export.task_model import export_task
from hf_mtl.modeling import REMOTE_CODE_FILES


def batch(seq_len: int = 7, size: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, 2000, (size, seq_len), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, -2:] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def test_config_normalizes_tasks_and_records_version(tiny_config):
    assert tiny_config.task_names == ["ner", "sentiment", "tags", "score"]
    assert tiny_config.tasks["ner"]["id2label"][1] == "B-PER"
    assert tiny_config.tasks["ner"]["label2id"]["I-LOC"] == 4
    assert tiny_config.tasks["sentiment"]["problem_type"] == "single_label_classification"
    assert tiny_config.tasks["score"]["id2label"] == {0: "value"}
    assert tiny_config.hf_mtl_version == hf_mtl.__version__
    assert "problem_type" not in tiny_config.tasks["ner"]


def test_config_json_round_trip(tiny_config, tmp_path):
    tiny_config.save_pretrained(tmp_path)
    on_disk = json.loads((tmp_path / "config.json").read_text())
    assert on_disk["model_type"] == "hf-mtl"
    assert on_disk["encoder"]["model_type"] == "bert"
    assert on_disk["tasks"]["ner"]["id2label"]["0"] == "O"
    reloaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(reloaded, MultiTaskConfig)
    assert reloaded.tasks == tiny_config.tasks
    assert reloaded.encoder.hidden_size == 32


def test_forward_shapes_and_losses(tiny_model):
    inputs = batch()
    token_labels = torch.tensor([[0, 1, 2, -100, 0, -100, -100]] * 3)
    out = tiny_model(**inputs, task="ner", labels=token_labels)
    assert out.logits.shape == (3, 7, 5)
    expected = torch.nn.functional.cross_entropy(out.logits.view(-1, 5), token_labels.view(-1), ignore_index=-100)
    assert torch.allclose(out.loss, expected, atol=1e-6)

    out = tiny_model(**inputs, task="sentiment", labels=torch.tensor([0, 1, 1]))
    assert out.logits.shape == (3, 2)
    assert torch.allclose(out.loss, torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1, 1])))

    multi_hot = torch.tensor([[1.0, 0, 1], [0, 0, 0], [0, 1, 0]])
    out = tiny_model(**inputs, task="tags", labels=multi_hot)
    assert torch.allclose(out.loss, torch.nn.functional.binary_cross_entropy_with_logits(out.logits, multi_hot))

    targets = torch.tensor([0.5, -1.0, 2.0])
    out = tiny_model(**inputs, task="score", labels=targets)
    assert out.logits.shape == (3, 1)
    assert torch.allclose(out.loss, torch.nn.functional.mse_loss(out.logits.view(-1), targets))


def test_loss_weight_scales_loss():
    tasks = {"sentiment": {**TINY_TASKS["sentiment"], "loss_weight": 0.25}}
    torch.manual_seed(0)
    weighted = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks)).eval()
    labels = torch.tensor([0, 1, 1])
    out = weighted(**batch(), task="sentiment", labels=labels)
    assert torch.allclose(out.loss, 0.25 * torch.nn.functional.cross_entropy(out.logits, labels))


def test_num_items_in_batch_gives_sum_over_count(tiny_model):
    labels = torch.tensor([[0, 1, 2, -100, 0, -100, -100]] * 3)
    mean = tiny_model(**batch(), task="ner", labels=labels).loss
    summed = tiny_model(**batch(), task="ner", labels=labels, num_items_in_batch=torch.tensor(24)).loss
    assert torch.allclose(summed, mean * 12 / 24, atol=1e-6)


def test_forward_all_tasks_matches_single_task_forward(tiny_model):
    inputs = batch()
    every = tiny_model.forward_all_tasks(**inputs)
    assert list(every) == tiny_model.task_names
    for task, logits in every.items():
        assert torch.allclose(logits, tiny_model(**inputs, task=task).logits, atol=1e-6)
    assert list(tiny_model.forward_all_tasks(**inputs, tasks=["score"])) == ["score"]


def test_save_and_reload_identical_logits_with_safetensors(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, MultiTaskModel)
    for name, value in tiny_model.state_dict().items():
        assert torch.equal(value, reloaded.state_dict()[name]), name  # the weights are bit-identical
    inputs = batch()
    for task in tiny_model.task_names:
        # Same weights, same inputs; BLAS may round the last bit differently for tensors at other addresses.
        torch.testing.assert_close(
            tiny_model(**inputs, task=task).logits, reloaded(**inputs, task=task).logits, rtol=0, atol=1e-6
        )


def test_saved_folder_carries_remote_code(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    for name in REMOTE_CODE_FILES:
        assert (tmp_path / name).exists(), name
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map == {
        "AutoConfig": "configuration_multitask.MultiTaskConfig",
        "AutoModel": "modeling_multitask.MultiTaskModel",
    }


def test_remote_code_loads_where_hf_mtl_is_not_importable(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "model")
    inputs = batch()
    expected = tiny_model(**inputs, task="ner").logits
    torch.save({"inputs": inputs, "expected": expected}, tmp_path / "io.pt")
    script = textwrap.dedent(
        f"""
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path / "model")!r}, trust_remote_code=True).eval()
        assert "hf_mtl" not in type(model).__module__, type(model).__module__
        io = torch.load({str(tmp_path / "io.pt")!r})
        got = model(**io["inputs"], task="ner").logits
        assert torch.allclose(got, io["expected"], atol=1e-6), (got - io["expected"]).abs().max()
        print("REMOTE_OK", type(model).__name__)
        """
    )
    result = run_without_hf_mtl(script, tmp_path / "modules", timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REMOTE_OK MultiTaskModel" in result.stdout


def test_from_encoder_loads_encoder_weights_exactly(tiny_encoder_dir):
    from transformers import BertModel

    pretrained = BertModel.from_pretrained(tiny_encoder_dir)
    model = MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks=TINY_TASKS)
    encoder_state = model.encoder.state_dict()
    for key, value in pretrained.state_dict().items():
        if key.startswith("pooler."):
            continue
        assert torch.equal(encoder_state[key], value), key
    # Text heads start from the pretrained pooler, as BertForSequenceClassification does.
    assert torch.equal(model.heads["sentiment"].dense.weight, pretrained.pooler.dense.weight)
    assert not any(key.startswith("pooler.") for key in model.encoder.state_dict())  # no unused pooler weights
    assert model.encoder(input_ids=torch.tensor([[101, 102]])).pooler_output is None
    assert model.config.tasks == MultiTaskConfig(encoder=pretrained.config, tasks=TINY_TASKS).tasks


def test_from_encoder_accepts_task_list_and_rejects_duplicates(tiny_encoder_dir):
    tasks = [{"name": "ner", **TINY_TASKS["ner"]}, {"name": "sentiment", **TINY_TASKS["sentiment"]}]
    assert MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks=tasks).task_names == ["ner", "sentiment"]
    with pytest.raises(ValueError, match="Duplicate task name 'ner'"):
        MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks=tasks + [{"name": "ner", **TINY_TASKS["ner"]}])


def test_add_task_keeps_existing_heads_and_saves(tiny_model, tmp_path):
    inputs = batch()
    before = tiny_model(**inputs, task="ner").logits
    head = tiny_model.add_task("topic", {"type": "text-classification", "labels": ["w", "s", "b", "t"]})
    assert tiny_model.task_names[-1] == "topic"
    assert head.classifier.out_features == 4
    assert torch.equal(tiny_model(**inputs, task="ner").logits, before)
    assert tiny_model(**inputs, task="topic").logits.shape == (3, 4)
    tiny_model.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded(**inputs, task="topic").logits, tiny_model(**inputs, task="topic").logits)
    with pytest.raises(ValueError, match="Task 'topic' already exists"):
        tiny_model.add_task("topic", {"type": "text-classification", "labels": ["a", "b"]})


def test_freeze_and_unfreeze_encoder(tiny_model):
    tiny_model.freeze_encoder()
    assert tiny_model.encoder_frozen
    assert all(p.requires_grad for p in tiny_model.heads.parameters())
    tiny_model.train()
    out = tiny_model(**batch(), task="sentiment", labels=torch.tensor([0, 1, 0]))
    out.loss.backward()
    assert all(p.grad is None for p in tiny_model.encoder.parameters())
    assert tiny_model.heads["sentiment"].classifier.weight.grad is not None
    tiny_model.unfreeze_encoder()
    assert not tiny_model.encoder_frozen


@pytest.mark.parametrize("task", ["ner", "sentiment", "tags", "score"])
def test_export_predicts_like_multitask_model(tiny_model, tmp_path, task):
    export_task(tiny_model, task, tmp_path / task)
    auto = AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
    single = auto.from_pretrained(tmp_path / task).eval()
    assert single.config.id2label == tiny_model.config.tasks[task]["id2label"]
    inputs = batch()
    expected = tiny_model(**inputs, task=task).logits
    assert torch.allclose(single(**inputs).logits, expected, atol=1e-5)


def test_export_roberta_encoder(tmp_path):
    from transformers import RobertaConfig

    encoder = RobertaConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, vocab_size=3000
    )
    torch.manual_seed(0)
    model = MultiTaskModel(MultiTaskConfig(encoder=encoder, tasks=TINY_TASKS)).eval()
    inputs = batch(size=2)
    inputs["input_ids"] = inputs["input_ids"] % 2000 + 3
    for task in ("ner", "sentiment"):
        export_task(model, task, tmp_path / task)
        auto = AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
        single = auto.from_pretrained(tmp_path / task).eval()
        assert torch.allclose(single(**inputs).logits, model(**inputs, task=task).logits, atol=1e-5)


# ---------------------------------------------------------------- bad input


def test_unknown_task_in_forward(tiny_model):
    with pytest.raises(ValueError, match=r"Unknown task 'pos': this model has tasks \['ner'"):
        tiny_model(**batch(), task="pos")
    with pytest.raises(ValueError, match="Pass task=<name>"):
        tiny_model(**batch())


@pytest.mark.parametrize(
    ("task", "error"),
    [
        ({"type": "seq2seq", "labels": ["a", "b"]}, "type 'seq2seq' does not exist"),
        (
            {"type": "text-classification", "labels": ["a", "b"], "problem_type": "ranking"},
            "problem_type 'ranking' does not exist",
        ),
        ({"type": "text-classification"}, "give its labels"),
        ({"type": "text-classification", "labels": ["a", "a"]}, "must be unique"),
        ({"type": "text-classification", "labels": ["a", "b"], "colour": 1}, r"unknown setting\(s\) \['colour'\]"),
        ({"type": "text-classification", "labels": ["a"]}, "at least 2 labels"),
    ],
)
def test_bad_task_settings(task, error):
    with pytest.raises(ValueError, match=error):
        MultiTaskConfig(encoder=tiny_bert_config(), tasks={"bad": task})


@pytest.mark.parametrize("name", ["NER", "2ner", "ner-tags", ""])
def test_bad_task_names(name):
    with pytest.raises(ValueError, match="is not valid: use lowercase snake_case"):
        MultiTaskConfig(encoder=tiny_bert_config(), tasks={name: TINY_TASKS["sentiment"]})


@pytest.mark.parametrize(
    ("task", "labels", "error"),
    [
        ("ner", torch.zeros(3, dtype=torch.long), r"expects labels of shape \(batch, seq_len\) = \(3, 7\)"),
        ("sentiment", torch.zeros(3, 2, dtype=torch.long), r"expects labels of shape \(batch,\) = \(3,\)"),
        ("sentiment", torch.tensor([0.0, 1.0, 0.0]), "integer class ids"),
        ("tags", torch.zeros(3, 2), r"\(batch, num_labels\) = \(3, 3\)"),
        ("score", torch.zeros(3, 2), r"one float target per example"),
    ],
)
def test_labels_of_wrong_shape(tiny_model, task, labels, error):
    with pytest.raises(ValueError, match=error) as info:
        tiny_model(**batch(), task=task, labels=labels)
    assert f"'{task}'" in str(info.value)


def test_an_encoder_decoder_is_rejected_and_a_decoder_accepted():
    from transformers import GPT2Config, T5Config

    # decoder-only LLMs are backbones (tests/test_decoders.py); sequence-to-sequence models are not
    MultiTaskModel(MultiTaskConfig(encoder=GPT2Config(n_layer=1, n_embd=32, n_head=2), tasks=TINY_TASKS))
    with pytest.raises(ValueError, match="'t5' is an encoder-decoder model"):
        MultiTaskModel(MultiTaskConfig(encoder=T5Config(num_layers=1, d_model=32), tasks=TINY_TASKS))


def test_config_from_newer_version_warns_and_loads(tiny_config, tmp_path, caplog):
    tiny_config.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    data["hf_mtl_version"] = "99.0.0"
    data["tasks"]["ner"]["crf"] = True
    data["future_field"] = "x"
    (tmp_path / "config.json").write_text(json.dumps(data))
    with caplog.at_level("WARNING"):
        config = AutoConfig.from_pretrained(tmp_path)
    assert "saved by hf_mtl 99.0.0" in caplog.text
    assert "ignoring setting(s) ['crf']" in caplog.text
    assert config.tasks["ner"]["id2label"] == tiny_config.tasks["ner"]["id2label"]


def test_version_constant_matches_package():
    from hf_mtl.modeling.configuration_multitask import HF_MTL_VERSION

    assert hf_mtl.__version__ == HF_MTL_VERSION


def test_embedded_minilm_multitask_round_trip(minilm_path, tmp_path):
    from transformers import AutoTokenizer

    model = MultiTaskModel.from_encoder(minilm_path, tasks=TINY_TASKS).eval()
    assert model.config.hidden_size == 384
    assert sum(p.numel() for p in model.encoder.parameters()) == 22_565_376
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    inputs = tokenizer(["Paris is lovely.", "I hated it"], padding=True, return_tensors="pt")
    model.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    for task in model.task_names:
        torch.testing.assert_close(model(**inputs, task=task).logits, reloaded(**inputs, task=task).logits)


def test_id2label_from_json_keeps_id_order_past_ten_labels():
    from hf_mtl.modeling.configuration_multitask import normalize_task_config

    by_string = {str(i): f"tag{i}" for i in sorted(range(12), key=str)}  # '0', '1', '10', '11', '2', ...
    task = normalize_task_config("pos", {"type": "token-classification", "id2label": by_string})
    assert list(task["id2label"]) == list(range(12))
    assert list(task["id2label"].values()) == [f"tag{i}" for i in range(12)]
