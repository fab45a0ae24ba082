"""What the pipeline makes of logits (``pipeline_outputs``): per-window reads and per-task results, on hand-made values."""

from __future__ import annotations

import doctest

import torch

from hf_mtl.modeling import pipeline_outputs
from hf_mtl.modeling.parsing import pack_arcs
from hf_mtl.modeling.pipeline_inputs import Sample
from hf_mtl.modeling.pipeline_outputs import Read, Window, read_logits, text_result, word_results
from hf_mtl.modeling.task_kinds import DEPENDENCIES, MULTI_LABEL, REGRESSION, SINGLE_LABEL, WORD_TAGS

LABELS = {0: "a", 1: "b", 2: "c"}


def test_docstring_examples_hold():
    assert doctest.testmod(pipeline_outputs, raise_on_error=True).attempted >= 1


def test_text_results_per_kind():
    assert text_result(REGRESSION, [2.5], {0: "score"}) == {"value": 2.5}
    assert text_result(SINGLE_LABEL, [0.1, 0.7, 0.2], LABELS) == {"label": "b", "score": 0.7}
    assert [item["label"] for item in text_result(SINGLE_LABEL, [0.1, 0.7, 0.2], LABELS, top_k=2)] == ["b", "c"]
    scores = [0.9, 0.2, 0.6]
    assert [item["label"] for item in text_result(MULTI_LABEL, scores, LABELS)] == ["a", "c"]  # >= 0.5, best first
    assert [item["label"] for item in text_result(MULTI_LABEL, scores, LABELS, threshold=0.1)] == ["a", "c", "b"]
    assert [item["label"] for item in text_result(MULTI_LABEL, scores, LABELS, top_k=1)] == ["a"]


def test_read_logits_keeps_first_sub_words_and_first_windows_only():
    sample = Sample(index=None, text="x y", word_spans={0: (0, 1), 1: (2, 3)})
    windows = [Window(sample, True, 4, [1, 2], [0, 1]), Window(sample, False, 4, [1], [1])]
    tags = torch.zeros(2, 4, 3)
    tags[0, 1, 2] = tags[0, 2, 1] = tags[1, 1, 0] = 5.0
    logits = {"pos": tags, "topic": torch.tensor([[0.0, 1.0, 0.0], [9.0, 0.0, 0.0]])}
    reads = read_logits(windows, logits, {"pos": WORD_TAGS, "topic": SINGLE_LABEL},
                        lambda task, task_logits, scored: task_logits.argmax(-1))
    assert reads[0].values["pos"][0] == [2, 1] and reads[1].values["pos"][0] == [0]
    torch.testing.assert_close(torch.tensor(reads[0].values["pos"][1]), tags[0, [1, 2]].softmax(-1).amax(-1))
    torch.testing.assert_close(torch.tensor(reads[0].values["topic"]), torch.tensor([0.0, 1.0, 0.0]).softmax(-1))
    assert "topic" not in reads[1].values  # text tasks read the first window only


def test_word_results_join_windows_in_word_order_and_remap_heads():
    sample = Sample(index=None, text="x y z", word_spans={0: (0, 1), 1: (2, 3), 2: (4, 5)})
    windows = [Window(sample, True, 4, [1, 2], [0, 1]), Window(sample, False, 4, [1], [2])]
    reads = [Read({"pos": ([0, 1], [0.9, 0.8])}), Read({"pos": ([2], [0.7])})]
    tagged = word_results("pos", WORD_TAGS, sample, windows[::-1], reads[::-1], LABELS)
    assert [(item["word"], item["tag"]) for item in tagged] == [("x", "a"), ("y", "b"), ("z", "c")]
    relations = {0: "root", 1: "dep"}
    # the second window's one word (z) has its head at that window's word 1 (z's own window index): input word 3
    parsed = [Read({"dep": ([pack_arcs(0, 0, 2), pack_arcs(1, 1, 2)], [None, None])}),
              Read({"dep": ([pack_arcs(1, 1, 2)], [None])})]
    arcs = word_results("dep", DEPENDENCIES, sample, windows, parsed, relations)
    assert [(item["word"], item["head"], item["deprel"]) for item in arcs] == [
        ("x", 0, "root"), ("y", 1, "dep"), ("z", 3, "dep")]
