"""The pipeline's pure helpers: word spans, where each word is read across windows, entity grouping."""

from __future__ import annotations

import doctest

import pytest

from hf_mtl.modeling import word_windows
from hf_mtl.modeling.task_kinds import LabelScheme, detect_label_scheme
from hf_mtl.modeling.word_windows import (
    content_bounds,
    group_entities,
    plan_reads,
    pre_split_text,
    window_limit,
    word_spans,
)


def test_docstring_examples_hold():
    assert doctest.testmod(word_windows, raise_on_error=True).attempted >= 5


def test_pre_split_text_spans_index_the_joined_text():
    text, spans = pre_split_text(["Ünïcödé", "", "😀", "!"])
    assert text == "Ünïcödé  😀 !"
    assert [text[start:end] for start, end in spans.values()] == ["Ünïcödé", "", "😀", "!"]


def test_word_spans_cover_cut_words_across_windows():
    # "abcdef gh": word 0 is cut by the window boundary (tokens abc | def)
    ids = [[None, 0, None], [None, 0, 1, None]]
    offsets = [[(0, 0), (0, 3), (0, 0)], [(0, 0), (3, 6), (7, 9), (0, 0)]]
    assert word_spans(ids, offsets) == {0: (0, 6), 1: (7, 9)}
    assert content_bounds([None, None]) == (0, 1)  # no word at all: the whole window


def test_each_word_is_read_once_at_its_first_subword_in_its_most_central_window():
    # 8 words of one token each, windows of 4 words overlapping by 2: [0-3], [2-5], [4-7]
    ids = [[None, *range(start, start + 4), None] for start in (0, 2, 4)]
    offsets = [[(0, 0), *[(2 * w, 2 * w + 1) for w in range(start, start + 4)], (0, 0)] for start in (0, 2, 4)]
    reads = plan_reads(ids, offsets, raw_text=True)
    read_words = sorted(word for _, words in reads for word in words)
    assert read_words == list(range(8))  # every word once
    window_of = {word: number for number, (_, words) in enumerate(reads) for word in words}
    # word 2 has 1 word of context on its right in window 0, none on its left in window 1: window 0;
    # word 3 has none on its right in window 0, 1 on each side in window 1: window 1; and so on
    assert window_of == {0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 2, 6: 2, 7: 2}
    for number, (positions, words) in enumerate(reads):
        assert [ids[number][p] for p in positions] == words


def test_a_window_starting_inside_a_word_does_not_read_it():
    # word 0 = tokens (0,3) (3,6); the second window starts at its second piece
    ids = [[None, 0, 0, None], [None, 0, 1, None]]
    offsets = [[(0, 0), (0, 3), (3, 6), (0, 0)], [(0, 0), (3, 6), (7, 9), (0, 0)]]
    assert plan_reads(ids, offsets, raw_text=True) == [([1], [0]), ([2], [1])]


@pytest.mark.parametrize(
    "tags, expected",
    [
        (["B-PER", "I-PER", "I-LOC", "O", "S-ORG", "B-ORG", "E-ORG"], [("PER", 0, 2), ("LOC", 2, 3), ("ORG", 4, 5), ("ORG", 5, 7)]),
        (["I-PER", "I-PER", "B-PER", "O"], [("PER", 0, 2), ("PER", 2, 3)]),  # IOB1
        (["U-LOC", "B-LOC", "I-LOC", "L-LOC", "O"], [("LOC", 0, 1), ("LOC", 1, 4)]),  # BILOU
        (["O", "O"], []),
    ],
)
def test_group_entities_follows_the_registry_reading(tags, expected):
    text = " ".join("x" * (i + 1) for i in range(len(tags)))
    words, start = [], 0
    for i, tag in enumerate(tags):
        words.append({"tag": tag, "score": 0.5 + i / 10, "start": start, "end": start + i + 1})
        start += i + 2
    entities = group_entities(words, text)
    assert [(e["entity_group"], e["start"], e["end"]) for e in entities] == [
        (kind, words[first]["start"], words[last - 1]["end"]) for kind, first, last in expected
    ]
    for entity, (_, first, last) in zip(entities, expected, strict=True):
        assert entity["word"] == text[entity["start"] : entity["end"]]
        assert entity["score"] == pytest.approx(sum(w["score"] for w in words[first:last]) / (last - first))


def test_group_entities_uses_the_task_scheme():
    words = [{"tag": tag, "score": 1.0, "start": i, "end": i + 1} for i, tag in enumerate(["PER_B", "PER_I", "O"])]
    scheme = detect_label_scheme(["O", "PER_B", "PER_I"])
    assert scheme == LabelScheme("IOB2", separator="_", prefix_first=False)
    assert [(e["entity_group"], e["word"]) for e in group_entities(words, "abc", scheme)] == [("PER", "ab")]


def test_window_limit_takes_the_smaller_of_tokenizer_and_positions():
    from types import SimpleNamespace

    bert = SimpleNamespace(model_type="bert", max_position_embeddings=128)
    assert window_limit(bert, 512) == 128 and window_limit(bert, 64) == 64
    relative = SimpleNamespace(model_type="deberta-v2", max_position_embeddings=512, position_embedding_type="relative_key")
    assert window_limit(relative, int(1e30)) == 512 and window_limit(SimpleNamespace(), None) == 512
