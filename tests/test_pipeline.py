"""MultiTaskPipeline: outputs equal the model's own forward, spans index the input, batching, windows, bad input."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from conftest import TINY_TASKS, minilm_dir, tiny_bert_config

from hf_mtl import HfMtlError, MultiTaskConfig, MultiTaskModel, TaskError
from hf_mtl.modeling.inference import (
    MultiTaskPipeline,
    PipelineInputError,
    group_entities,
    predict,
    register_pipeline,
)
from hf_mtl.modeling.task_kinds import detect_label_scheme

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
    assert detect_label_scheme(NER_LABELS) and not detect_label_scheme(POS_LABELS) and not detect_label_scheme(["O"])


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
    with caplog.at_level(logging.WARNING, logger="hf_mtl.modeling.inference"):
        truncated = pipe(["short", text], tasks=["pos", "sentiment"])
    assert "Input 1 is longer" in caplog.text and "stride" in caplog.text
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


# ---------------------------------------------------------------------------------------------- transformers options
def count_encoder_calls(model):
    calls = []
    handle = model.encoder.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    return calls, handle


def tags_and_labels(results):
    return [({t: [w["tag"] for w in r[t]] for t in ("pos",)}, r["sentiment"]["label"]) for r in results]


def test_generator_is_streamed_not_collected(pipe):
    consumed = []

    def texts():
        for index, text in enumerate(TEXTS * 4):
            consumed.append(index)
            yield text

    results = pipe(texts(), batch_size=2, tasks=["pos", "sentiment"])
    assert not isinstance(results, list) and len(consumed) <= 1  # transformers peeks at the first input, no more
    stream = iter(results)
    first = next(stream)
    assert 0 < len(consumed) <= 4  # a batch or two ahead, not all 20 inputs
    rest = list(stream)
    assert len(consumed) == 20 and len(rest) == 19
    expected = pipe(TEXTS * 4, tasks=["pos", "sentiment"])
    assert tags_and_labels([first, *rest]) == tags_and_labels(expected)


def test_key_dataset_num_workers_and_batch_size_one(pipe):
    from datasets import Dataset
    from transformers.pipelines.pt_utils import KeyDataset

    dataset = KeyDataset(Dataset.from_dict({"text": TEXTS, "id": list(range(len(TEXTS)))}), "text")
    expected = tags_and_labels(pipe(TEXTS))
    assert tags_and_labels(pipe(dataset, batch_size=3)) == expected  # an iterator, read in order
    assert tags_and_labels(pipe(dataset, batch_size=1)) == expected  # transformers does not collate then
    assert tags_and_labels(pipe(TEXTS, num_workers=1, batch_size=2)) == expected  # tokenized in a worker process


def test_left_padding_reads_the_same_words(model, tokenizer, pipe):
    from transformers import AutoTokenizer

    left = AutoTokenizer.from_pretrained(minilm_dir(), padding_side="left")
    got = MultiTaskPipeline(model=model, tokenizer=left)(TEXTS, batch_size=5)
    expected = pipe(TEXTS, batch_size=5)
    for a, b in zip(got, expected, strict=True):
        assert [w["tag"] for w in a["pos"]] == [w["tag"] for w in b["pos"]]
        assert [w["score"] for w in a["pos"]] == pytest.approx([w["score"] for w in b["pos"]], abs=1e-5)


def test_top_k_and_threshold_never_rerun_the_model(pipe, model):
    calls, handle = count_encoder_calls(model)
    try:
        plain = pipe("Paris is nice", tasks=["sentiment", "tags"])
        ranked = pipe("Paris is nice", tasks=["sentiment", "tags"], top_k=2, threshold=0.0)
    finally:
        handle.remove()
    assert len(calls) == 2  # one encoder pass per call, options or not
    assert ranked["sentiment"][0] == plain["sentiment"] and len(ranked["tags"]) == 2


def test_truncation_option(pipe, caplog):
    text = " ".join(f"word{i % 10}" for i in range(150))
    with caplog.at_level(logging.WARNING):
        silent = pipe(text, tasks="pos", truncation=True)
    assert "truncated" not in caplog.text  # asked for: no warning
    assert silent == pipe(text, tasks="pos")
    with pytest.raises(HfMtlError, match=r"Input 1 is longer than 128 tokens and truncation=False.*stride="):
        pipe(["short", text], truncation=False)
    assert pipe("short", truncation=False)["pos"][0]["word"] == "short"
    with pytest.raises(HfMtlError, match="truncation must be"):
        pipe("short", truncation="sometimes")


def test_device_and_pipeline_factory_options(model, tokenizer, tmp_path):
    from transformers import pipeline

    register_pipeline()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = pipeline("multitask", model=str(tmp_path), device="cpu", batch_size=4, num_workers=0, top_k=2)
    assert loaded.device.type == "cpu" and loaded._batch_size == 4
    assert len(loaded("Paris")["sentiment"]) == 2


# ---------------------------------------------------------------------------------------------- label styles
@pytest.mark.parametrize(
    "labels, tags, spans",
    [
        (["O", "B_PER", "I_PER"], ["B_PER", "I_PER", "O", "I_PER"], [("PER", "a b"), ("PER", "d")]),
        (["O", "B-PER", "I-PER", "L-PER", "U-PER"], ["U-PER", "B-PER", "L-PER", "O"], [("PER", "a"), ("PER", "b c")]),
        (["O", "PER-B", "PER-I"], ["PER-B", "PER-I", "PER-B", "O"], [("PER", "a b"), ("PER", "c")]),
    ],
)
def test_label_styles_grouped_exactly_when_scored_as_entities(model, tokenizer, labels, tags, spans):
    from hf_mtl.modeling.task_kinds import default_metric

    text = "a b c d"
    words = [{"tag": tag, "score": 1.0, "start": 2 * i, "end": 2 * i + 1} for i, tag in enumerate(tags)]
    scheme = detect_label_scheme(labels)
    assert [(e["entity_group"], e["word"]) for e in group_entities(words, text, scheme)] == spans
    tasks = {"ner": {"type": "token-classification", "labels": labels}, "pos": TASKS["pos"]}
    styled = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks)).eval()
    styled_pipe = MultiTaskPipeline(model=styled, tokenizer=tokenizer)
    assert default_metric(styled.config.tasks["ner"]) == "seqeval"  # the metrics score entities ...
    assert styled_pipe.output_kinds == {"ner": "entities", "pos": "word_tags"}  # ... and the pipeline groups them
    assert all(set(entity) == {"entity_group", "score", "word", "start", "end"} for entity in styled_pipe("a b c d")["ner"])


def test_sorting_a_list_does_not_warn_about_long_inputs(pipe, capfd):
    text = " ".join(f"word{i % 10}" for i in range(400))  # 800 tokens: more than the tokenizer's 512
    assert len(pipe([text, "short"], truncation=True)[0]["pos"]) < 400
    assert "Token indices sequence length" not in capfd.readouterr().err
