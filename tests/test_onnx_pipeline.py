"""The multitask pipeline on onnxruntime (`onnx_pipeline`) returns what the PyTorch pipeline returns; int8 export;
`torch_compile=True` equals eager and compiles once, not per task.

The export takes ~30 s (torch.export + onnxscript) and compiling ~30 s on 2 cores: those tests are slow.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from conftest import TINY_TASKS, tiny_bert_config

from hf_mtl import HfMtlError, MultiTaskConfig, MultiTaskModel
from hf_mtl.modeling.inference import MultiTaskPipeline
from hf_mtl.workflow.cli import main

TASKS = {
    **TINY_TASKS,  # ner (entities), sentiment (single label), tags (multi-label), score (regression)
    "pos": {"type": "token-classification", "labels": ["NOUN", "VERB", "ADJ", "PUNCT", "X"]},
    "deps": {"type": "dependency-parsing", "labels": ["root", "nsubj", "obj", "punct"]},
    "lemma": {"type": "lemmatization", "labels": ["=", "-s", "-ed"]},
}
TEXTS = ["Ada Lovelace lived in London.", "  Paris   is  nice ", "Zürich und Ünïcödé 😀 東京, naïve café!", "", "ok"]
LONG = " ".join(f"word{i % 10}" for i in range(150))  # ~300 tokens: three windows of 128 with stride 32


def assert_same(mine: Any, theirs: Any, where: str = "output", tolerance: float = 1e-4) -> None:
    """Equal structures and labels; floats (scores, regression values) within `tolerance`."""
    if isinstance(theirs, float):
        assert isinstance(mine, float) and abs(mine - theirs) <= tolerance, f"{where}: {mine} vs {theirs}"
    elif isinstance(theirs, dict):
        assert isinstance(mine, dict) and list(mine) == list(theirs), f"{where}: keys {list(mine)} vs {list(theirs)}"
        for key in theirs:
            assert_same(mine[key], theirs[key], f"{where}.{key}", tolerance)
    elif isinstance(theirs, list):
        assert isinstance(mine, list) and len(mine) == len(theirs), f"{where}: {mine!r:.200} vs {theirs!r:.200}"
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            assert_same(a, b, f"{where}[{i}]", tolerance)
    else:
        assert mine == theirs, f"{where}: {mine!r} vs {theirs!r}"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=TASKS)).eval()


@pytest.fixture(scope="module")
def exported(model, tokenizer, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from hf_mtl.export.onnx_graph import export_onnx

    return export_onnx(model, tmp_path_factory.mktemp("onnx"), tokenizer, int8=True).parent


# ------------------------------------------------------------------------------------------------ fast checks
def test_missing_graph_is_a_clear_error(tmp_path):
    pytest.importorskip("onnxruntime")
    from hf_mtl.export.onnx_runtime import OnnxMultiTaskModel

    with pytest.raises(HfMtlError, match=re.escape(str(tmp_path / "model.onnx")) + " does not exist"):
        OnnxMultiTaskModel.from_pretrained(tmp_path)
    with pytest.raises(HfMtlError, match="export with --int8"):
        OnnxMultiTaskModel.from_pretrained(tmp_path, quantized=True)


def test_cli_int8_needs_onnx(tmp_path, capsys):
    assert main(["export", "--int8", "--task", "ner", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "--int8 quantizes the ONNX graph" in capsys.readouterr().err
    assert main(["export", "--no-optimize", "--task", "ner", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "--no-optimize is about the ONNX graph" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ onnxruntime
@pytest.mark.slow
def test_onnx_pipeline_equals_pytorch_pipeline_on_every_output_kind(model, tokenizer, exported):
    from hf_mtl.export.onnx_runtime import OnnxMultiTaskModel, onnx_pipeline

    torch_pipe = MultiTaskPipeline(model=model, tokenizer=tokenizer)
    onnx_pipe = onnx_pipeline(exported)
    assert isinstance(onnx_pipe.backend, OnnxMultiTaskModel) and onnx_pipe.model.task_names == model.task_names
    calls = [
        ((TEXTS,), {"batch_size": 2}),  # every task: entities, tags, lemmas, dependencies, labels, regression
        ((TEXTS[0],), {"top_k": 2, "threshold": 0.2}),
        ((["Ada", "Lovelace", "lived", "in", "London", "."],), {"is_split_into_words": True}),
        (([["Paris", "is", "nice"], ["ok", "!"]],), {"tasks": ["ner", "deps", "sentiment"]}),
        ((LONG,), {"stride": 32, "tasks": ["pos", "ner", "deps", "sentiment"]}),
        ((LONG.split(),), {"is_split_into_words": True, "stride": 32, "tasks": "pos"}),
    ]
    for args, kwargs in calls:
        assert_same(onnx_pipe(*args, **kwargs), torch_pipe(*args, **kwargs), f"call {kwargs}")
    streamed = onnx_pipe((text for text in TEXTS), tasks=["ner", "tags"], batch_size=3)
    assert not isinstance(streamed, list)  # a generator is streamed
    assert_same(list(streamed), torch_pipe(TEXTS, tasks=["ner", "tags"]))
    assert len(onnx_pipe(LONG, stride=32, tasks="pos")["pos"]) == 150


@pytest.mark.slow
def test_transformers_factory_and_int8_graph(model, tokenizer, exported):
    from transformers import pipeline

    from hf_mtl.export.onnx_graph import ONNX_FILE, QUANTIZED_ONNX_FILE
    from hf_mtl.export.onnx_runtime import OnnxMultiTaskModel, onnx_pipeline

    factory = pipeline("multitask", model=OnnxMultiTaskModel.from_pretrained(exported), tokenizer=str(exported))
    assert_same(factory(TEXTS[0]), MultiTaskPipeline(model=model, tokenizer=tokenizer)(TEXTS[0]))
    assert (exported / QUANTIZED_ONNX_FILE).stat().st_size < (exported / ONNX_FILE).stat().st_size
    int8 = onnx_pipeline(exported, quantized=True)(TEXTS, tasks=["pos", "sentiment", "score"])
    fp32 = onnx_pipeline(exported)(TEXTS, tasks=["pos", "sentiment", "score"])
    for mine, theirs in zip(int8, fp32, strict=True):  # same words and offsets; values close, not equal
        assert [(w["word"], w["start"], w["end"]) for w in mine["pos"]] == [
            (w["word"], w["start"], w["end"]) for w in theirs["pos"]]
        if theirs["score"] is not None:
            assert mine["score"]["value"] != theirs["score"]["value"]  # the int8 graph is another graph
            assert abs(mine["score"]["value"] - theirs["score"]["value"]) < 0.2
    with pytest.raises(HfMtlError, match="torch_compile and num_threads are about a PyTorch model"):
        MultiTaskPipeline(model=OnnxMultiTaskModel.from_pretrained(exported), tokenizer=tokenizer, torch_compile=True)


def _operators(path) -> set[tuple[str, str]]:
    import onnx

    return {(node.domain or "ai.onnx", node.op_type) for node in onnx.load(str(path)).graph.node}


@pytest.mark.slow
def test_optimized_graph_has_fused_operators_and_a_plain_one_is_kept_when_not_exact(model, tokenizer, exported,
                                                                                     tmp_path):
    import shutil

    from hf_mtl.export.onnx_graph import check_onnx, export_onnx
    from hf_mtl.export.onnx_optimize import optimize_onnx_graph

    # the default export (the fixture) is optimized: onnxruntime's fused operators, and (test above) the same outputs
    assert ("com.microsoft", "SkipLayerNormalization") in _operators(exported / "model.onnx")
    plain = export_onnx(model, tmp_path / "plain", tokenizer, optimize=False)
    assert not any(domain == "com.microsoft" for domain, _ in _operators(plain))  # standard ONNX only
    copy = shutil.copy(plain, tmp_path / "copy.onnx")
    before = copy.read_bytes()
    done, why = optimize_onnx_graph(copy, model.config.encoder, lambda graph: {"logits_ner": 1.0}, atol=1e-4)
    assert not done and "differs from PyTorch by 1.00e+00 on logits_ner" in why
    assert copy.read_bytes() == before and sorted(tmp_path.glob("tmp*.onnx")) == []  # plain kept, no leftovers

    def refused(graph):  # onnxruntime refusing the optimized graph (MRA: an input the optimizer pruned)
        raise ValueError("Invalid input name: attention_mask")

    done, why = optimize_onnx_graph(copy, model.config.encoder, refused, atol=1e-4)
    assert not done and "does not run (ValueError: Invalid input name: attention_mask)" in why
    assert copy.read_bytes() == before and sorted(tmp_path.glob("tmp*.onnx")) == []
    done, what = optimize_onnx_graph(copy, model.config.encoder, lambda graph: check_onnx(model, graph), atol=1e-4)
    assert done and "SkipLayerNormalization" in what and copy.read_bytes() != before


# ------------------------------------------------------------------------------------------------ torch.compile
@pytest.mark.slow
def test_torch_compile_pipeline_equals_eager_and_compiles_once(model, tokenizer):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    eager = MultiTaskPipeline(model=model, tokenizer=tokenizer)
    compiled = MultiTaskPipeline(model=model, tokenizer=tokenizer, torch_compile=True)
    compiled(TEXTS[:2], batch_size=2)  # warm-up: the first batch compiles...
    compiled(TEXTS[0], batch_size=1)  # ...and a batch of one window once more (torch specializes size 1)
    after_warmup = counters["stats"]["unique_graphs"]
    assert after_warmup == 2, dict(counters["stats"])
    for tasks in (None, ["ner"], ["sentiment", "score"], ["deps", "lemma", "tags"]):
        for texts, batch_size in ((TEXTS, 2), (TEXTS[1:4], 3), ([TEXTS[0] * 3], 1)):
            assert_same(compiled(texts, tasks=tasks, batch_size=batch_size),
                        eager(texts, tasks=tasks, batch_size=batch_size), f"{tasks} {batch_size}")
    assert counters["stats"]["unique_graphs"] == after_warmup, dict(counters["stats"])  # no graph per task or size


# ------------------------------------------------------------------------------------------------ threads
def test_num_threads_holds_while_the_model_runs_and_is_restored(model, tokenizer):
    seen = []
    hook = model.encoder.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    outer = torch.get_num_threads()
    torch.set_num_threads(2)  # the process's setting, which the pipeline's 1 thread must not leak into
    before = torch.get_num_threads()
    try:
        one = MultiTaskPipeline(model=model, tokenizer=tokenizer, num_threads=1)
        assert_same(one(TEXTS, batch_size=2), MultiTaskPipeline(model=model, tokenizer=tokenizer)(TEXTS, batch_size=2))
    finally:
        hook.remove()
        after = torch.get_num_threads()
        torch.set_num_threads(outer)
    assert after == before == 2
    assert seen[: len(seen) // 2] == [1] * (len(seen) // 2) and seen[len(seen) // 2 :] == [before] * (len(seen) // 2)
    with pytest.raises(HfMtlError, match="num_threads must be >= 1"):
        MultiTaskPipeline(model=model, tokenizer=tokenizer, num_threads=0)


# ------------------------------------------------------------------------------------------------ stacked heads
def test_many_text_heads_run_stacked_and_equal_their_own_forward(tokenizer):
    from hf_mtl.modeling.pipeline_backends import TorchBackend

    text_tasks = {f"t{i}": {"type": "text-classification", "labels": [f"l{j}" for j in range(2 + i % 3)]}
                  for i in range(6)}
    text_tasks["multi"] = TINY_TASKS["tags"]
    text_tasks["value"] = TINY_TASKS["score"]
    torch.manual_seed(0)
    many = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks={**text_tasks, "ner": TINY_TASKS["ner"]}))
    many.eval()
    calls = []
    for name, head in many.heads.items():
        head.register_forward_hook(lambda module, args, output, name=name: calls.append(name))
    backend = TorchBackend(many)
    batch = dict(tokenizer(TEXTS[:3] + ["x"], padding=True, return_tensors="pt"))
    with torch.inference_mode():
        expected = many.forward_all_tasks(**batch)
        calls.clear()
        got = backend.logits(batch, many.task_names)
    assert calls == ["ner"]  # the 8 text heads ran as one stack
    assert list(got) == many.task_names
    for task in many.task_names:
        torch.testing.assert_close(got[task], expected[task], rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # a changed weight is seen (the stack is rebuilt), not served stale
        many.heads["t0"].classifier.bias.add_(1.0)
    with torch.inference_mode():
        torch.testing.assert_close(backend.logits(batch, ["t0", "t1", "t2", "t3"])["t0"],
                                   many.forward_all_tasks(**batch, tasks=["t0"])["t0"], rtol=1e-5, atol=1e-5)
    pipe = MultiTaskPipeline(model=many, tokenizer=tokenizer)
    results = pipe(TEXTS, top_k=2)
    assert [len(result["t2"]) for result in results[:3]] == [2, 2, 2] and results[3]["t0"] is None
