"""ONNX export of every head in one graph (`hf-mtl export --onnx`), checked with onnxruntime against PyTorch.

The export itself takes ~30 s on 2 cores (torch.export + onnxscript), so the tests that export are slow; the
argument and dependency checks are not.
"""

from __future__ import annotations

import builtins
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import minilm_dir

from hf_mtl.export.onnx_graph import (
    ONNX_FILE,
    OnnxExportError,
    check_onnx,
    export_onnx,
    onnx_input_names,
    onnx_output_names,
)
from hf_mtl.workflow.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
BLOCK_HF_MTL = """import sys
class _Block:
    def find_spec(self, name, *args):
        if name.split(".")[0] == "hf_mtl":
            raise ImportError("hf_mtl is blocked")
sys.meta_path.insert(0, _Block())
"""


def test_input_and_output_names(tiny_model):
    from transformers import AutoTokenizer

    assert onnx_input_names(tiny_model) == ["input_ids", "attention_mask", "token_type_ids"]
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    tokenizer.model_input_names = ["input_ids", "attention_mask"]  # a tokenizer that makes no token types
    assert onnx_input_names(tiny_model, tokenizer) == ["input_ids", "attention_mask"]
    assert onnx_output_names(tiny_model) == [f"logits_{task}" for task in tiny_model.task_names]


def test_missing_exporter_dependency_is_a_clear_error(tiny_model, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_onnxscript(name, *args, **kwargs):
        if name == "onnxscript":
            raise ImportError("No module named 'onnxscript'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxscript)
    with pytest.raises(OnnxExportError, match=re.escape('pip install "hf-mtl[onnx]"')):
        export_onnx(tiny_model, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()


def test_cli_export_needs_task_or_onnx(tmp_path, capsys):
    assert main(["export", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "give either --task TASK" in capsys.readouterr().err
    assert main(["export", "--onnx", "--task", "ner", str(tmp_path), str(tmp_path / "out")]) == 2


# --------------------------------------------------------------------------------------------- real exports
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from conftest import TINY_TASKS, tiny_bert_config
    from transformers import AutoTokenizer

    from hf_mtl import MultiTaskConfig, MultiTaskModel

    torch.manual_seed(0)
    tasks = {**TINY_TASKS, "score": {**TINY_TASKS["score"], "text_pair": True}}  # a sentence-pair regression
    model = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks)).eval()
    folder = tmp_path_factory.mktemp("onnx")
    path = export_onnx(model, folder, AutoTokenizer.from_pretrained(minilm_dir()))
    return model, path


@pytest.mark.slow
def test_export_has_every_head_with_dynamic_shapes(exported):
    import onnxruntime

    model, path = exported
    folder = path.parent
    assert path.name == ONNX_FILE and {"config.json", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for i in session.get_inputs()}
    assert list(inputs) == ["input_ids", "attention_mask", "token_type_ids"]
    assert all(isinstance(dim, str) for shape in inputs.values() for dim in shape)  # batch and sequence are symbolic
    assert [o.name for o in session.get_outputs()] == ["logits_ner", "logits_sentiment", "logits_tags", "logits_score"]
    for batch, length in [(1, 4), (5, 37)]:  # other shapes than the traced (2, 8)
        differences = check_onnx(model, path, batch=batch, length=length)
        assert max(differences.values()) < 1e-5, differences
    shapes = {o.name: o.shape for o in session.get_outputs()}
    assert shapes["logits_ner"][-1] == 5 and shapes["logits_sentiment"][-1] == 2 and shapes["logits_score"][-1] == 1
    config = json.loads((folder / "config.json").read_text())
    assert config["tasks"]["ner"]["id2label"]["1"] == "B-PER"
    assert "auto_map" not in config and not list(folder.glob("*.py"))  # no code: nothing asks to trust it


@pytest.mark.slow
def test_pair_logits_match_pytorch(exported):
    """Sentence pairs through the graph: the tokenizer's pair encoding (token types 0 then 1), padded in a batch."""
    import onnxruntime
    from transformers import AutoTokenizer

    model, path = exported
    assert json.loads((path.parent / "config.json").read_text())["tasks"]["score"]["text_pair"] is True
    tokenizer = AutoTokenizer.from_pretrained(path.parent)
    batch = tokenizer(["A man is playing a guitar.", "Two dogs run."],
                      ["Nobody is making any music.", "Some animals are moving quickly across a field."],
                      truncation=True, padding=True, return_tensors="pt")
    assert batch["token_type_ids"].max() == 1
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["logits_score", "logits_sentiment"], {name: batch[name].numpy() for name in onnx_input_names(model)})
    with torch.no_grad():
        expected = model.forward_all_tasks(**batch)
    torch.testing.assert_close(torch.from_numpy(got[0]), expected["score"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.from_numpy(got[1]), expected["sentiment"], atol=1e-5, rtol=1e-4)
    zero_types = {name: batch[name].numpy() for name in onnx_input_names(model)}
    zero_types["token_type_ids"] = zero_types["token_type_ids"] * 0
    (ignored_types,) = session.run(["logits_ner"], zero_types)  # the graph reads the token types (not folded away)
    with torch.no_grad():
        ner = model.forward_all_tasks(**batch)["ner"]
    assert (torch.from_numpy(ignored_types) - ner).abs().max() > 1e-6


@pytest.mark.slow
def test_check_catches_a_graph_that_differs(exported):
    import copy

    model, path = exported
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.heads["sentiment"].classifier.bias.add_(1.0)
    differences = check_onnx(changed, path)
    assert differences["logits_sentiment"] > 0.5 and differences["logits_ner"] < 1e-5


@pytest.mark.slow
def test_check_compares_token_logits_on_real_tokens_only(exported):
    """The logits of padding are never read, and some families leave them undefined (ModernBERT's sliding window):
    the check ignores them, and still catches a difference on a real token."""
    import copy

    model, path = exported
    changed = copy.deepcopy(model)
    forward = changed.forward_all_tasks

    def shifted(where):
        def forward_all_tasks(**inputs):
            logits = forward(**inputs)
            logits["ner"] = logits["ner"] + 100.0 * where(inputs["attention_mask"]).unsqueeze(-1)
            return logits
        return forward_all_tasks

    changed.forward_all_tasks = shifted(lambda mask: mask == 0)  # every padded position moved by 100
    differences = check_onnx(changed, path)
    assert differences["logits_ner"] < 1e-5 and differences["logits_sentiment"] < 1e-5
    first_token = lambda mask: torch.zeros_like(mask, dtype=torch.bool).index_fill_(1, torch.tensor([0]), True)  # noqa: E731
    changed.forward_all_tasks = shifted(first_token)  # a real token moved
    assert check_onnx(changed, path)["logits_ner"] > 50


@pytest.mark.slow
def test_serving_snippet_in_the_docs_runs(exported):
    """The onnxruntime snippet of docs/cli.md, run as written on the exported folder."""
    _, path = exported
    text = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    snippet = text.split("Serving it needs onnxruntime", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    snippet = snippet.replace('folder = "outputs/cli-demo-onnx"', f"folder = {str(path.parent)!r}")
    blocked = BLOCK_HF_MTL + snippet  # served without hf_mtl; stdin closed: a prompt would fail
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL, cwd=path.parent.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    ner = [line for line in lines if line.startswith("ner EU rejects")]
    assert len(ner) == 1 and ner[0].count("'") == 2 * 9  # a tag per word, 9 words
    assert any(line.startswith("sentiment [") for line in lines) and any(line.startswith("score [") for line in lines)
    assert any(line.startswith("tags [[") for line in lines)


@pytest.mark.slow
def test_cli_export_onnx(tiny_encoder_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    from hf_mtl import MultiTaskModel

    model = MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks={"sentiment": {"type": "text-classification",
                                                                                  "labels": ["neg", "pos"]}})
    model.save_pretrained(tmp_path / "model")
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(tmp_path / "model")
    result = subprocess.run([sys.executable, "-m", "hf_mtl", "export", "--onnx", str(tmp_path / "model"),
                             str(tmp_path / "onnx")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "exported every head (sentiment) to" in result.stdout
    assert (tmp_path / "onnx" / ONNX_FILE).is_file() and (tmp_path / "onnx" / "tokenizer.json").is_file()
