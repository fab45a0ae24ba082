"""The encoder-family table, and a config that behaves the same whatever was imported before it."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from conftest import TINY_TASKS, tiny_bert_config

from hf_mtl import MultiTaskConfig
from hf_mtl.modeling.encoder_families import (
    ENCODER_FAMILIES,
    encoder_family,
    exportable_families,
    pooler_activation,
    position_offset,
)
from hf_mtl.modeling.heads import build_head
from hf_mtl.modeling.word_windows import window_limit


def test_pooler_activation_per_family():
    assert pooler_activation(SimpleNamespace(model_type="bert")) == "tanh"
    assert pooler_activation(SimpleNamespace(model_type="electra")) == "gelu"
    assert pooler_activation(SimpleNamespace(model_type="distilbert")) == "relu"
    # DeBERTa-v2's head reads its own setting; gelu when it has none
    assert pooler_activation(SimpleNamespace(model_type="deberta-v2", pooler_hidden_act="gelu_new")) == "gelu_new"
    assert pooler_activation(SimpleNamespace(model_type="deberta-v2")) == "gelu"
    assert pooler_activation(SimpleNamespace(model_type="some-new-encoder")) == "tanh"


def test_heads_and_windows_ask_the_table():
    encoder = tiny_bert_config()
    head = build_head({"type": "text-classification", "id2label": {0: "a", 1: "b"},
                       "problem_type": "single_label_classification"}, encoder)
    assert type(head.activation).__name__ == "Tanh"
    assert window_limit(SimpleNamespace(model_type="xlm-roberta", max_position_embeddings=514), None) == 512
    assert window_limit(SimpleNamespace(model_type="bert", max_position_embeddings=512), None) == 512
    assert {name for name, family in ENCODER_FAMILIES.items() if family.position_offset} == {
        "roberta", "xlm-roberta", "camembert", "longformer", "data2vec-text", "xlm-roberta-xl", "ibert",
        "roberta-prelayernorm", "xmod", "mpnet", "lilt"}
    assert position_offset(encoder) == 0


def test_export_layouts():
    assert {"bert", "camembert", "deberta", "deberta-v2", "distilbert", "electra", "roberta", "xlm-roberta",
            "modernbert", "longformer", "albert", "ernie", "megatron-bert"} <= set(exportable_families())
    bert, roberta = encoder_family("bert").export, encoder_family("roberta").export
    assert bert.head_layers("AutoModelForSequenceClassification") == {"dense": "bert.pooler.dense",
                                                                      "classifier": "classifier"}
    assert roberta.head_layers("AutoModelForTokenClassification") == {"classifier": "classifier"}
    assert encoder_family("a-family-nobody-knows").export is None
    modern = encoder_family("modernbert").export
    assert modern.head_layers("AutoModelForTokenClassification") == {"dense": "head.dense", "norm": "head.norm",
                                                                     "classifier": "classifier"}
    with pytest.raises(ValueError, match="No export layout"):
        bert.head_layers("AutoModelForMaskedLM")


def test_installed_config_drops_custom_pipelines_whatever_was_imported(monkeypatch):
    entry = {"multitask": {"impl": "pipeline_multitask.MultiTaskPipeline", "pt": ["AutoModel"], "type": "text"}}
    # the old rule looked at sys.modules["transformers.pipelines"]: without it, the entry stuck
    monkeypatch.delitem(sys.modules, "transformers.pipelines", raising=False)
    config = MultiTaskConfig(encoder=tiny_bert_config(), tasks=TINY_TASKS, custom_pipelines=entry)
    assert getattr(config, "custom_pipelines", None) is None


def test_remote_code_config_keeps_custom_pipelines(tiny_model, tmp_path):
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    tiny_model.save_pretrained(tmp_path)
    remote = get_class_from_dynamic_module("configuration_multitask.MultiTaskConfig", str(tmp_path))
    assert not remote.__module__.startswith("hf_mtl.")
    entry = {"multitask": {"impl": "pipeline_multitask.MultiTaskPipeline", "pt": ["AutoModel"], "type": "text"}}
    config = remote(encoder=tiny_bert_config(), tasks=TINY_TASKS, custom_pipelines=entry)
    assert config.custom_pipelines == entry
