"""MultiTaskPipeline: outputs equal the model's own forward, spans index the input, batching, windows, bad input."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from conftest import TINY_TASKS, minilm_dir, tiny_bert_config

from hf_mtl import MultiTaskConfig, MultiTaskModel, TaskError
from hf_mtl.pipeline import (
    MultiTaskPipeline,
    PipelineInputError,
    group_entities,
    is_entity_labels,
    predict,
    register_pipeline,
)

POS_LABELS = ["NOUN", "VERB", "ADJ", "PUNCT", "X"]
TASKS = {**TINY_TASKS, "pos": {"type": "token-classification", "labels": POS_LABELS}}
NER_LABELS = TINY_TASKS["ner"]["labels"]

TEXTS = [
    "Ada Lovelace lived in London.",
    "  Paris   is  nice ",
    "Zürich und Ünïcödé 😀 東京, naïve café!",
    "A much longer sentence, with several clauses, about the unreasonable effectiveness of tokenizers.",
    "ok",
]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir())


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=TASKS)).eval()


@pytest.fixture(scope="module")
def pipe(model, tokenizer):
    return MultiTaskPipeline(model=model, tokenizer=tokenizer)


def first_subword_positions(encoding) -> list[int]:
    positions, previous = [], None
    for position, word in enumerate(encoding.word_ids):
        if word is not None and word != previous:
            positions.append(position)
        previous = word
    return positions


def reference(model, tokenizer, text, task, **tokenizer_kwargs):
    """The model's own forward for one input: (per-word label ids, per-word probabilities) or text logits."""
    batch = tokenizer(text, return_tensors="pt", **tokenizer_kwargs)
    with torch.no_grad():
        logits = model(**batch, task=task).logits[0]
    if model.config.tasks[task]["type"] == "token-classification":
        probs = logits.softmax(-1)[first_subword_positions(batch.encodings[0])]
        return probs.argmax(-1).tolist(), probs.max(-1).values.tolist()
    return logits


# ---------------------------------------------------------------------------------------------- correctness
@pytest.mark.parametrize("text", TEXTS)
def test_outputs_equal_model_forward(pipe, model, tokenizer, text):
    result = pipe(text)
    assert set(result) == set(TASKS)
    ids, scores = reference(model, tokenizer, text, "pos")
    assert [word["tag"] for word in result["pos"]] == [POS_LABELS[i] for i in ids]
    assert [word["score"] for word in result["pos"]] == pytest.approx(scores, abs=1e-5)
    for word in result["pos"]:
        assert text[word["start"] : word["end"]] == word["word"]

    sentiment = reference(model, tokenizer, text, "sentiment").softmax(-1)
    assert result["sentiment"]["label"] == ["negative", "positive"][int(sentiment.argmax())]
    assert result["sentiment"]["score"] == pytest.approx(float(sentiment.max()), abs=1e-5)
    tags = reference(model, tokenizer, text, "tags").sigmoid().tolist()
    expected = {label: s for label, s in zip(["a", "b", "c"], tags, strict=True) if s >= 0.5}
    assert {item["label"]: item["score"] for item in result["tags"]} == pytest.approx(expected, abs=1e-5)
    assert result["score"]["value"] == pytest.approx(float(reference(model, tokenizer, text, "score")[0]), abs=1e-5)
    json.dumps(result)  # plain Python types only


def test_words_and_offsets_with_unicode_and_whitespace(pipe):
    text = "Zürich und Ünïcödé 😀 東京,  Paris   is  nice "
    words = pipe(text, tasks="pos")["pos"]
    assert [word["word"] for word in words] == ["Zürich", "und", "Ünïcödé", "😀", "東", "京", ",", "Paris", "is", "nice"]
    for word in words:
        assert text[word["start"] : word["end"]] == word["word"]
        assert isinstance(word["start"], int) and isinstance(word["score"], float)


def test_pre_split_words(pipe, model, tokenizer):
    words = ["Ünïcödé", "New", "York", "😀", "!"]
    result = pipe(words, is_split_into_words=True)
    joined = " ".join(words)
    assert [word["word"] for word in result["pos"]] == words
    assert [(word["start"], word["end"]) for word in result["pos"]] == [(0, 7), (8, 11), (12, 16), (17, 18), (19, 20)]
    for entity in result["ner"]:
        assert joined[entity["start"] : entity["end"]] == entity["word"]
    ids, _ = reference(model, tokenizer, words, "pos", is_split_into_words=True)
    assert [word["tag"] for word in result["pos"]] == [POS_LABELS[i] for i in ids]
    # A list of lists is read as pre-split sentences without the flag.
    both = pipe([words, ["Paris"]], tasks=["pos"])
    assert both[0]["pos"] == result["pos"] and [w["word"] for w in both[1]["pos"]] == ["Paris"]


# ---------------------------------------------------------------------------------------------- entities
def test_group_entities_iob_and_iobes():
    text = "a b c d e f g"
    spans = [(i * 2, i * 2 + 1) for i in range(7)]
    tags = ["B-PER", "I-PER", "I-LOC", "O", "S-ORG", "B-ORG", "E-ORG"]
    words = [{"tag": t, "score": 0.5 + i / 100, "start": s, "end": e} for i, (t, (s, e)) in enumerate(zip(tags, spans, strict=True))]
    entities = group_entities(words, text)
    assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in entities] == [
        ("PER", "a b", 0, 3),
        ("LOC", "c", 4, 5),
        ("ORG", "e", 8, 9),
        ("ORG", "f g", 10, 13),
    ]
    assert entities[0]["score"] == pytest.approx((0.5 + 0.51) / 2)
    assert group_entities([], text) == []
    assert is_entity_labels(NER_LABELS) and not is_entity_labels(POS_LABELS) and not is_entity_labels(["O"])


@pytest.fixture
def crafted_ner(model, tokenizer):
    """Make the NER head predict a fixed label per token id (chosen below), via hooks on the encoder and head."""
    rules = {}
    seen: dict[str, torch.Tensor] = {}

    def grab_ids(module, args, kwargs):
        seen["input_ids"] = kwargs["input_ids"]

    def craft(module, args, output):
        logits = torch.full_like(output, -10.0)
        logits[..., NER_LABELS.index("O")] = 0.0
        ids = seen["input_ids"]
        for token_id, (label, value) in rules.items():
            hit = ids == token_id
            logits[hit] = -10.0
            logits[..., NER_LABELS.index(label)][hit] = value
        return logits

    handles = [
        model.encoder.register_forward_pre_hook(grab_ids, with_kwargs=True),
        model.heads["ner"].register_forward_hook(craft),
    ]

    def set_rule(token: str, label: str, value: float = 5.0):
        rules[tokenizer.convert_tokens_to_ids(token)] = (label, value)

    yield set_rule
    for handle in handles:
        handle.remove()


def test_entity_spans_are_concrete(pipe, tokenizer, crafted_ner):
    text = "  Ada  Lovelace visited New   Zürich, then Paris. "
    assert tokenizer.tokenize("Lovelace")[0] == "love"
    crafted_ner("ada", "B-PER")
    crafted_ner("love", "I-PER")
    crafted_ner("##lace", "B-LOC")  # later sub-words do not count: the first sub-word decides
    crafted_ner("new", "B-LOC", 3.0)
    crafted_ner("zurich", "I-LOC")
    crafted_ner("paris", "B-LOC")
    entities = pipe(text, tasks=["ner"])["ner"]
    assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in entities] == [
        ("PER", "Ada  Lovelace", 2, 15),
        ("LOC", "New   Zürich", 24, 36),
        ("LOC", "Paris", 43, 48),
    ]
    for entity in entities:
        assert text[entity["start"] : entity["end"]] == entity["word"]
    new_score = torch.tensor([3.0, *([-10.0] * 4)]).softmax(-1).max().item()
    zurich_score = torch.tensor([5.0, *([-10.0] * 4)]).softmax(-1).max().item()
    assert entities[1]["score"] == pytest.approx((new_score + zurich_score) / 2, abs=1e-6)


# ---------------------------------------------------------------------------------------------- options
def test_batching_matches_one_by_one_and_keeps_order(pipe):
    texts = TEXTS * 3
    batched = pipe(texts, batch_size=4)
    single = [pipe(text) for text in texts]
    assert len(batched) == len(texts)
    for got, expected in zip(batched, single, strict=True):
        assert [w["tag"] for w in got["pos"]] == [w["tag"] for w in expected["pos"]]
        assert [w["score"] for w in got["pos"]] == pytest.approx([w["score"] for w in expected["pos"]], abs=1e-5)
        assert got["sentiment"]["label"] == expected["sentiment"]["label"]
        assert got["score"]["value"] == pytest.approx(expected["score"]["value"], abs=1e-5)


def test_batches_are_length_sorted_and_encoder_runs_once_per_batch(pipe, model):
    calls = []
    handle = model.encoder.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    try:
        pipe(["a b c d e f g h i j", "a", "a b c d e", "a b"], batch_size=2)
    finally:
        handle.remove()
    assert calls == [(2, 4), (2, 12)]  # one encoder pass per batch, for all heads; short inputs together


def test_task_subset_top_k_and_threshold(pipe):
    result = pipe("Paris is nice", tasks=["sentiment", "pos"], top_k=2, threshold=0.0)
    assert list(result) == ["sentiment", "pos"]
    assert [item["label"] for item in result["sentiment"]] in (["negative", "positive"], ["positive", "negative"])
    assert result["sentiment"][0]["score"] >= result["sentiment"][1]["score"]
    assert len(pipe("x", tasks="tags", threshold=0.0)["tags"]) == 3
    assert pipe("x", tasks="tags", threshold=1.01)["tags"] == []


def test_long_text_truncation_warns_and_stride_tags_every_word(pipe, caplog):
    words = [f"word{i % 10}" for i in range(150)]  # 2 tokens a word: far beyond 128 tokens
    text = " ".join(words)
    with caplog.at_level(logging.WARNING, logger="hf_mtl.pipeline"):
        truncated = pipe(["short", text], tasks=["pos", "sentiment"])
    assert "Input(s) [1]" in caplog.text and "stride" in caplog.text
    assert 0 < len(truncated[1]["pos"]) < len(words)
    windowed = pipe(text, tasks=["pos", "ner", "sentiment"], stride=32)
    assert [w["word"] for w in windowed["pos"]] == words
    assert all(text[w["start"] : w["end"]] == w["word"] for w in windowed["pos"])
    assert windowed["sentiment"] == truncated[1]["sentiment"]  # text tasks read the first window
    for entity in windowed["ner"]:
        assert text[entity["start"] : entity["end"]] == entity["word"]
    # Words in the first window keep the tags the truncated pass gave them... except near its end,
    # where a later window sees them with more context.
    assert [w["tag"] for w in windowed["pos"][:20]] == [w["tag"] for w in truncated[1]["pos"][:20]]
    split = pipe(words, is_split_into_words=True, tasks="pos", stride=32)["pos"]
    assert [w["word"] for w in split] == words


# ---------------------------------------------------------------------------------------------- bad input
def test_empty_and_whitespace_inputs(pipe):
    empty = {"ner": [], "pos": [], "sentiment": None, "tags": None, "score": None}
    results = pipe(["", "   \n\t", "Paris", ""])
    assert results[0] == empty and results[1] == empty and results[3] == empty
    assert results[2]["pos"][0]["word"] == "Paris"
    assert pipe("") == empty
    assert pipe("\u200b\x00 \x01") == empty  # only characters the tokenizer drops
    assert pipe([["\u200b"], ["Paris", "\x00"]])[0] == empty
    assert pipe(["", " "], is_split_into_words=True) == empty
    assert pipe([]) == []


@pytest.mark.parametrize(
    "inputs, message",
    [
        (["fine", 3], "Input 1 is a int"),
        ([None], "Input 0 is a NoneType"),
        ([["a", 2]], "Input 0: pre-split word 1 is a int"),
        (42, "int is not supported"),
    ],
)
def test_non_string_input_is_a_clear_error(pipe, inputs, message):
    with pytest.raises(PipelineInputError, match=message) as caught:
        pipe(inputs)
    assert isinstance(caught.value, TypeError)


def test_unknown_task_names_the_model_tasks(pipe):
    with pytest.raises(TaskError, match=r"Unknown task\(s\) \['nope'\].*'ner', 'sentiment'"):
        pipe("Paris", tasks=["ner", "nope"])


# ---------------------------------------------------------------------------------------------- entry points
def test_transformers_pipeline_factory_and_predict(model, tokenizer, tmp_path, pipe):
    from transformers import pipeline

    register_pipeline()
    register_pipeline()  # idempotent
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = pipeline("multitask", model=str(tmp_path), tasks=["pos", "sentiment"])
    assert isinstance(loaded, MultiTaskPipeline)
    got = loaded(TEXTS[:2])
    expected = pipe(TEXTS[:2], tasks=["pos", "sentiment"])
    assert [[w["tag"] for w in r["pos"]] for r in got] == [[w["tag"] for w in r["pos"]] for r in expected]
    assert [r["sentiment"]["label"] for r in got] == [r["sentiment"]["label"] for r in expected]

    results = predict(model, tokenizer, "Paris", tasks=["ner"])
    assert isinstance(results, list) and list(results[0]) == ["ner"]
    json.loads(json.dumps(predict(model, tokenizer, TEXTS, batch_size=2)))
