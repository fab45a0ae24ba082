"""The dependency-parsing and lemmatization kinds through the model, the metrics, the pipeline and remote code."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from conftest import run_without_hf_mtl, tiny_bert_config
from test_parsing import is_tree

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.metrics import compute_task_metrics, main_metric_key
from hf_mtl.modeling.parsing import pack_arcs

RELATIONS = ["root", "nsubj", "obj", "punct"]
RULES = ["K|0||0|", "L|0||0|", "K|0||1|"]


def parse_model(seed: int = 0) -> MultiTaskModel:
    torch.manual_seed(seed)
    tasks = {"deps": {"type": "dependency-parsing", "labels": RELATIONS},
             "lemma": {"type": "lemmatization", "labels": RULES}}
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks))


def test_the_kinds_pick_their_metric_and_head():
    config = parse_model().config
    assert config.tasks["deps"]["type"] == "dependency-parsing" and "problem_type" not in config.tasks["deps"]
    assert main_metric_key("attachment") == "las"


def test_attachment_metric_from_packed_ids_counts_every_word_and_ignores_subtypes():
    id2label = {0: "root", 1: "nsubj", 2: "obl:tmod", 3: "obl"}
    labels = np.array([[-100, pack_arcs(2, 1, 4), pack_arcs(0, 0, 4), pack_arcs(2, 2, 4), -100]])
    predictions = np.array([[-100, pack_arcs(2, 1, 4), pack_arcs(0, 0, 4), pack_arcs(2, 3, 4), -100]])
    assert compute_task_metrics("attachment", predictions, labels, id2label) == {"uas": 1.0, "las": 1.0}
    predictions[0, 1] = pack_arcs(3, 1, 4)
    scores = compute_task_metrics("attachment", predictions, labels, id2label)
    assert scores["uas"] == pytest.approx(2 / 3) and scores["las"] == pytest.approx(2 / 3)


def test_parsing_loss_trains_and_evaluation_decodes_trees():
    model = parse_model()
    input_ids = torch.randint(1000, 2000, (3, 7))
    labels = torch.full((3, 7), -100)
    for row in range(3):  # words at 1..4: word 2 is the root, the others attach to it
        labels[row, 1], labels[row, 2], labels[row, 3], labels[row, 4] = (
            pack_arcs(2, 1, 4), pack_arcs(0, 0, 4), pack_arcs(2, 2, 4), pack_arcs(2, 3, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(80):
        loss = model(input_ids=input_ids, labels=labels, task="deps").loss
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first / 2
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=input_ids, task="deps").logits
    assert logits.shape == (3, 7, 7, 1 + len(RELATIONS))
    predicted = model.heads["deps"].decode(logits, labels != -100)
    assert torch.equal(predicted, labels)


def test_pipeline_gives_a_tree_per_sentence_and_applied_lemmas(tokenizer):
    from transformers import pipeline

    model = parse_model().eval()
    pipe = pipeline("multitask", model=model, tokenizer=tokenizer)
    words = "The cats sat on the mats".split()
    result = pipe(words, is_split_into_words=True)
    deps, lemmas = result["deps"], result["lemma"]
    assert [entry["word"] for entry in deps] == words
    assert set(deps[0]) == {"word", "head", "deprel", "start", "end"}
    assert is_tree([-1, *[entry["head"] for entry in deps]])
    assert all(entry["deprel"] in RELATIONS for entry in deps)
    text = " ".join(words)
    assert all(text[entry["start"]:entry["end"]] == entry["word"] for entry in deps)
    from hf_mtl.modeling.lemma_rules import apply_lemma_rule

    assert all(entry["lemma"] in {apply_lemma_rule(entry["word"], rule) for rule in RULES} for entry in lemmas)


def test_parsing_model_reloads_and_loads_as_remote_code(tmp_path):
    model = parse_model().eval()
    model.save_pretrained(tmp_path / "model")
    reloaded = MultiTaskModel.from_pretrained(tmp_path / "model").eval()
    input_ids = torch.randint(1000, 2000, (2, 6))
    scored = torch.tensor([[False, True, True, True, False, False], [False, True, True, False, False, False]])
    expected = model.heads["deps"].decode(model(input_ids=input_ids, task="deps").logits, scored)
    assert torch.equal(expected, reloaded.heads["deps"].decode(reloaded(input_ids=input_ids, task="deps").logits, scored))
    torch.save({"input_ids": input_ids, "scored": scored, "expected": expected}, tmp_path / "io.pt")
    script = textwrap.dedent(f"""
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path / "model")!r}, trust_remote_code=True).eval()
        assert "hf_mtl" not in type(model).__module__
        io = torch.load({str(tmp_path / "io.pt")!r})
        got = model.heads["deps"].decode(model(input_ids=io["input_ids"], task="deps").logits, io["scored"])
        assert torch.equal(got, io["expected"]), (got, io["expected"])
        print("REMOTE_PARSE_OK")
    """)
    result = run_without_hf_mtl(script, tmp_path / "modules", timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REMOTE_PARSE_OK" in result.stdout


def test_a_parsing_task_is_not_exported_as_a_plain_model(tmp_path):
    from hf_mtl.export.task_model import export_task
    from hf_mtl.modeling.errors import TaskError

    with pytest.raises(TaskError, match="dependency-parsing"):
        export_task(parse_model(), "deps", tmp_path / "deps")


@pytest.mark.slow
def test_a_parsing_task_exports_into_the_onnx_graph_as_its_scores(tmp_path, tokenizer):
    pytest.importorskip("onnxruntime")
    from hf_mtl.export.onnx_graph import export_onnx

    path = export_onnx(parse_model().eval(), tmp_path / "onnx", tokenizer)  # checks onnxruntime against torch
    assert path.is_file()
