"""Backbone families (issue #22): poolers called unconditionally (defect 1), word spans (3), early refusals (6)."""

from __future__ import annotations

import pytest
import torch
from transformers import LayoutLMConfig, SqueezeBertConfig

from hf_mtl import MultiTaskConfig, MultiTaskModel

TASKS = {"topic": {"type": "text-classification", "labels": ["a", "b"]},
         "ner": {"type": "token-classification", "labels": ["O", "B-X", "I-X"]}}
FAMILIES = {
    "squeezebert": lambda: SqueezeBertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                             intermediate_size=64, embedding_size=32),
    "layoutlm": lambda: LayoutLMConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=37),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_families_that_always_call_their_pooler_train_and_reload(family, tmp_path):
    torch.manual_seed(0)
    model = MultiTaskModel(MultiTaskConfig(encoder=FAMILIES[family](), tasks=TASKS))
    assert not any(".pooler." in name for name in model.state_dict())  # no unused pooler weights
    input_ids = torch.randint(5, 120, (2, 6))
    loss = model(input_ids=input_ids, labels=torch.tensor([0, 1]), task="topic").loss
    loss.backward()
    model.eval()
    model.save_pretrained(tmp_path)
    reloaded = MultiTaskModel.from_pretrained(tmp_path).eval()
    for task in TASKS:
        torch.testing.assert_close(model(input_ids=input_ids, task=task).logits,
                                   reloaded(input_ids=input_ids, task=task).logits)


# ------------------------------------------------------------------ issue #22, defects 3 and 6
def test_word_spans_skip_the_space_a_token_starts_with():
    from hf_mtl.modeling.word_windows import word_spans

    text = "Angela Merkel left"
    # SentencePiece / byte-level offsets: "▁Merkel" covers " Merkel"
    offsets = [[(0, 0), (0, 6), (6, 13), (13, 18), (0, 0)]]
    assert word_spans([[None, 0, 1, 2, None]], offsets, text) == {0: (0, 6), 1: (7, 13), 2: (14, 18)}
    assert word_spans([[None, 0, 1, 2, None]], offsets) == {0: (0, 6), 1: (6, 13), 2: (13, 18)}  # offsets alone


def test_architecture_is_read_from_the_config():
    from transformers import BartConfig, CanineConfig, GPT2Config, LlamaConfig, T5Config, XLNetConfig

    from hf_mtl.modeling.encoder_families import DECODER_ONLY, ENCODER, ENCODER_DECODER, architecture

    assert architecture(CanineConfig()) == ENCODER  # no masked-LM form, still a bidirectional encoder
    assert architecture(XLNetConfig()) == ENCODER  # a causal-LM class (permutation LM), but it attends both ways
    assert architecture(GPT2Config()) == architecture(LlamaConfig()) == DECODER_ONLY
    assert architecture(T5Config()) == architecture(BartConfig()) == ENCODER_DECODER


def test_canine_is_accepted():
    from transformers import CanineConfig

    config = CanineConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                          downsampling_rate=2, num_hash_buckets=64)
    model = MultiTaskModel(MultiTaskConfig(encoder=config, tasks=TASKS))
    assert model(input_ids=torch.randint(5, 120, (2, 8)), task="topic").logits.shape == (2, 2)


@pytest.mark.parametrize("encoder", ["t5", "bart"])
def test_encoder_decoder_is_refused_before_any_weight_is_read(encoder, tmp_path):
    from transformers import BartConfig, T5Config

    config = (T5Config(num_layers=1, d_model=32) if encoder == "t5" else
              BartConfig(encoder_layers=1, decoder_layers=1, d_model=32, encoder_attention_heads=2,
                         decoder_attention_heads=2))
    config.save_pretrained(tmp_path)  # a config and no weights: loading them would fail with another error
    with pytest.raises(ValueError, match=f"'{encoder}' is an encoder-decoder model"):
        MultiTaskModel.from_encoder(str(tmp_path), tasks=TASKS)


def test_cli_refuses_an_encoder_decoder_before_reading_data(tmp_path, capsys):
    import yaml
    from transformers import T5Config

    from hf_mtl.workflow.cli import main

    T5Config(num_layers=1, d_model=32).save_pretrained(tmp_path / "t5")
    recipe = {"output_dir": str(tmp_path / "out"), "model": {"encoder": str(tmp_path / "t5")},
              "tasks": [{"name": "topic", "type": "text-classification", "train": str(tmp_path / "missing.tsv")}],
              "training": {"max_steps": 1, "use_cpu": True}}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    code = main(["train", str(tmp_path / "recipe.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "'t5' is an encoder-decoder model" in err and "missing.tsv" not in err


def test_gradient_checkpointing_is_declared_per_family():
    from transformers import AlbertConfig

    config = AlbertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                          embedding_size=16)
    model = MultiTaskModel(MultiTaskConfig(encoder=config, tasks=TASKS))
    assert not model.supports_gradient_checkpointing
    with pytest.raises(ValueError, match="gradient_checkpointing is not supported by 'albert' encoders"):
        model.activation_checkpointing_enable()
    bert = MultiTaskModel(MultiTaskConfig(encoder=FAMILIES["layoutlm"](), tasks=TASKS))
    bert.activation_checkpointing_enable()
    assert bert.is_activation_checkpointing


def test_padding_dependent_families_are_warned_about(caplog):
    from transformers import FNetConfig

    from hf_mtl.modeling.modeling_loading import warn_if_padding_dependent

    with caplog.at_level("WARNING"):
        warn_if_padding_dependent(FNetConfig())
    assert "'fnet' encoders give outputs that depend on the amount of padding" in caplog.text
    caplog.clear()
    warn_if_padding_dependent(FAMILIES["layoutlm"]())
    assert not caplog.text


def test_onnx_failure_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    from hf_mtl.export.onnx_graph import OnnxExportError, export_onnx

    model = MultiTaskModel(MultiTaskConfig(encoder=FAMILIES["layoutlm"](), tasks=TASKS)).eval()

    def failing_export(*args, **kwargs):
        open(args[2], "w").close()  # the exporter wrote a partial file before it failed
        raise RuntimeError("Failed to export the model with torch.export.\nlong traceback ...")

    monkeypatch.setattr(torch.onnx, "export", failing_export)
    with pytest.raises(OnnxExportError, match=r"ONNX export of this layoutlm model failed \(RuntimeError: Failed to "
                                              r"export the model with torch.export.\)") as info:
        export_onnx(model, tmp_path / "onnx")
    assert "\n" not in str(info.value) and not (tmp_path / "onnx").exists()
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    with pytest.raises(OnnxExportError):
        export_onnx(model, tmp_path / "kept")
    assert [path.name for path in (tmp_path / "kept").iterdir()] == ["notes.txt"]


def test_onnx_failure_names_the_tracer_root_cause(tmp_path, monkeypatch):
    """torch.onnx wraps the tracer's error in a generic, coloured "step 1/3 failed" message: the one line says the
    innermost cause instead."""
    from hf_mtl.export.onnx_graph import OnnxExportError, export_onnx

    model = MultiTaskModel(MultiTaskConfig(encoder=FAMILIES["layoutlm"](), tasks=TASKS)).eval()

    class GuardOnDataDependentSymNode(RuntimeError):
        pass

    def failing_export(*args, **kwargs):
        try:
            raise GuardOnDataDependentSymNode("Could not guard on data-dependent expression 4*u1 < 8\n\nmore ...")
        except RuntimeError as cause:
            raise RuntimeError("Failed to export. \x1b[96mThis is step 1/3\x1b[0m of exporting") from cause

    monkeypatch.setattr(torch.onnx, "export", failing_export)
    with pytest.raises(OnnxExportError, match=r"failed \(GuardOnDataDependentSymNode: Could not guard on "
                                              r"data-dependent expression 4\*u1 < 8\); the 'layoutlm' family") as info:
        export_onnx(model, tmp_path / "onnx")
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)


def test_onnx_graph_with_a_fixed_sequence_length_is_refused(tmp_path, monkeypatch):
    """The exporter can specialise the sequence length (Funnel, CANINE): such a graph is refused at export, in one
    line and with no file left, not by onnxruntime at serving time."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from onnx import TensorProto, helper

    from hf_mtl.export.onnx_graph import OnnxExportError, export_onnx

    model = MultiTaskModel(MultiTaskConfig(encoder=FAMILIES["layoutlm"](), tasks=TASKS)).eval()

    def fixed_length_export(module, args, path, input_names, output_names, **kwargs):
        inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", 8]) for name in input_names]
        outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 2]) for name in output_names]
        nodes = [helper.make_node("Cast", [input_names[0]], [name], to=TensorProto.FLOAT) for name in output_names]
        onnx.save(helper.make_model(helper.make_graph(nodes, "fixed", inputs, outputs)), path)

    monkeypatch.setattr(torch.onnx, "export", fixed_length_export)
    with pytest.raises(OnnxExportError, match=r"fixed the sequence length of input_ids at 8 \(the 'layoutlm' family's "
                                              r"code computes with it as a number\)") as info:
        export_onnx(model, tmp_path / "onnx")
    assert "\n" not in str(info.value) and not (tmp_path / "onnx").exists()


def test_xlnet_text_head_is_its_sequence_summary_and_exports_padding_left(tmp_path):
    """XLNet's sequence class reads the last position (summary + tanh + logits_proj): hf_mtl reads the last real
    token, equal with either padding; the export saves the tokenizer padding left, where the class is exact."""
    import family_matrix as fm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_mtl.export.task_model import export_task

    model = fm.build("xlnet")
    assert model.config.tasks["topic"]["pooling"] == "last"
    tokenizer = fm.family_tokenizer(model)
    tokenizer.padding_side = "right"
    right = tokenizer(fm.SENTENCES, padding=True, return_tensors="pt")
    export_task(model, "topic", tmp_path / "topic", tokenizer)
    saved = AutoTokenizer.from_pretrained(tmp_path / "topic")
    assert saved.padding_side == "left" and tokenizer.padding_side == "right"  # the caller's tokenizer is unchanged
    left = saved(fm.SENTENCES, padding=True, return_tensors="pt")
    single = AutoModelForSequenceClassification.from_pretrained(tmp_path / "topic").eval()
    assert type(single).__name__ == "XLNetForSequenceClassification"
    with torch.no_grad():
        expected = model(**right, task="topic").logits
        torch.testing.assert_close(model(**left, task="topic").logits, expected)
        torch.testing.assert_close(single(**left).logits, expected)
        assert not torch.allclose(single(**right).logits, expected)  # right padding: the class reads a pad token


def test_the_fast_tokenizer_hint_is_only_given_where_one_exists():
    from hf_mtl.modeling.pipeline_multitask import _fast_tokenizer_hint

    class XLMTokenizer:  # transformers has no XLMTokenizerFast
        pass

    assert "transformers has no fast version of XLMTokenizer" in _fast_tokenizer_hint(XLMTokenizer())
    assert "use_fast" not in _fast_tokenizer_hint(XLMTokenizer())
