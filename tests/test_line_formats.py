"""The plain-text data sources (issue 21, item 4) on excerpts of real public files (tests/fixtures/real_data/README.md):
TREC's `LABEL:fine question` lines, fastText's `__label__x text`, the MR one-file-per-class layout, scikit-learn's
`load_files` folder-per-class layout, a `delimiter:` for delimited `.txt` files and one file split three ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from hf_mtl.data.groups import read_task_splits
from hf_mtl.data.readers import read_split
from hf_mtl.data.tasks import TaskSpec
from hf_mtl.modeling.errors import DataError, TaskError
from hf_mtl.workflow.recipe import load_recipe

REAL = Path(__file__).resolve().parent / "fixtures" / "real_data"


def _lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """The file's non-blank lines, read independently of hf_mtl."""
    return [line for line in path.read_text(encoding=encoding).split("\n") if line.strip()]


def _spec(train, **kw) -> TaskSpec:
    return TaskSpec.from_dict({"name": "qtype", "type": "text-classification", "train": train, **kw})


def test_trec_label_text_fine_and_coarse():
    path = REAL / "trec" / "train_5500.label"
    expected = [line.split(" ", 1) for line in _lines(path)]
    spec = _spec({"path": str(path), "format": "label_text"})
    fine = read_split(spec.train, spec, "train").dataset
    assert fine["label"] == [label for label, _ in expected]
    assert fine["text"] == [text.strip() for _, text in expected]
    assert fine[0] == {"text": "How did serfdom develop in and then leave Russia ?", "label": "DESC:manner"}
    spec = _spec({"path": str(path), "format": "label_text", "label_before": ":"})
    coarse = read_split(spec.train, spec, "train").dataset
    assert coarse["label"] == [label.split(":")[0] for label, _ in expected]
    assert set(coarse["label"]) <= {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}


def test_fasttext_prefix_and_label_map():
    path = REAL / "amazon_fasttext" / "test.ft.txt"
    lines = _lines(path)
    spec = _spec({"path": str(path), "format": "label_text", "label_prefix": "__label__"},
                 label_map={"1": "negative", "2": "positive"})
    ds = read_split(spec.train, spec, "train").dataset
    assert ds.num_rows == len(lines) == 40
    assert ds["label"] == [{"__label__1": "negative", "__label__2": "positive"}[line.split()[0]] for line in lines]
    assert ds[0]["text"].startswith("Great CD: My lovely Pat")


def test_fasttext_several_labels_make_a_multi_label_task(tmp_path):
    file = tmp_path / "multi.txt"
    file.write_text("__label__a __label__b first text\n__label__b second text\n", encoding="utf-8")
    spec = TaskSpec.from_dict({"name": "tags", "type": "text-classification", "problem_type": "multi_label_classification",
                               "train": {"path": str(file), "format": "label_text", "label_prefix": "__label__"}})
    ds = read_split(spec.train, spec, "train").dataset
    assert ds["label"] == [["a", "b"], ["b"]] and ds["text"] == ["first text", "second text"]


@pytest.mark.parametrize("content, message", [
    ("DESC:manner How did it end ?\nNUM:date\n", ":2: the line holds a label ('NUM:date') and no text"),
    ("__label__1 fine\nno label here\n", ":2: expected the line to start with a label __label__<name>"),
])
def test_label_text_errors_name_file_and_line(tmp_path, content, message):
    file = tmp_path / "bad.label"
    file.write_text(content, encoding="utf-8")
    source = {"path": str(file), "format": "label_text"}
    if "__label__" in content:
        source["label_prefix"] = "__label__"
    spec = _spec(source)
    with pytest.raises(DataError) as error:
        read_split(spec.train, spec, "train")
    assert f"{file}{message}" in str(error.value) and "\n" not in str(error.value)


def test_mr_one_file_per_class():
    pos, neg = REAL / "mr" / "rt-polarity.pos", REAL / "mr" / "rt-polarity.neg"
    spec = _spec({"files": {"positive": str(pos), "negative": str(neg)}})
    assert spec.train.format == "class_files"
    ds = read_split(spec.train, spec, "train").dataset
    assert ds["text"] == [line.strip() for line in _lines(pos) + _lines(neg)]
    assert ds["label"] == ["positive"] * len(_lines(pos)) + ["negative"] * len(_lines(neg))


def test_sklearn_load_files_layout():
    folder = REAL / "txt_sentoken"
    spec = _spec({"path": str(folder), "format": "class_folders"})
    ds = read_split(spec.train, spec, "train").dataset
    files = sorted(folder.glob("*/*.txt"))
    assert ds["label"] == [file.parent.name for file in files] == ["neg", "pos"]
    assert ds["text"] == [" ".join(file.read_text(encoding="utf-8").split()) for file in files]


def test_class_source_errors(tmp_path):
    with pytest.raises(TaskError, match="needs `files:`, a mapping from each label to its file"):
        _spec({"format": "class_files", "files": ["a.txt"]})
    with pytest.raises(TaskError, match="`label_prefix` applies to format label_text, not 'tsv'"):
        _spec({"path": "x.tsv", "label_prefix": "__label__"})
    (tmp_path / "pos").mkdir()
    spec = _spec({"path": str(tmp_path), "format": "class_folders"})
    with pytest.raises(DataError, match="the folder of class 'pos' holds no files"):
        read_split(spec.train, spec, "train")


def test_delimiter_reads_a_txt_file(tmp_path):
    sick = REAL / "sick" / "SICK_excerpt.txt"
    rows = [line.split("\t") for line in _lines(sick)]
    spec = TaskSpec.from_dict({"name": "relatedness", "type": "text-classification", "problem_type": "regression",
                               "train": {"path": str(sick), "delimiter": "\t"}, "text_column": "sentence_A",
                               "text_pair_column": "sentence_B", "label_column": "relatedness_score"})
    assert spec.train.format == "tsv"
    ds = read_split(spec.train, spec, "train").dataset
    header = rows[0]
    assert ds["label"] == [float(row[header.index("relatedness_score")]) for row in rows[1:]]
    assert ds["text_pair"] == [row[header.index("sentence_B")] for row in rows[1:]]
    semi = tmp_path / "semi.txt"
    semi.write_text("text;label\ngood film;pos\nbad film;neg\n", encoding="utf-8")
    spec = _spec({"path": str(semi), "delimiter": ";"})
    assert read_split(spec.train, spec, "train").dataset["label"] == ["pos", "neg"]
    with pytest.raises(TaskError, match="`delimiter` must be one character"):
        _spec({"path": str(semi), "delimiter": ";;"})


def test_txt_without_format_says_how_to_read_it():
    spec = _spec({"path": str(REAL / "sick" / "SICK_excerpt.txt")})
    with pytest.raises(DataError, match=r"give `format: tsv` \(or `csv`\) or its `delimiter:` .* `format: label_text`"):
        read_split(spec.train, spec, "train")


def test_one_file_split_into_train_validation_test_is_seeded_and_reported():
    path = REAL / "trec" / "train_5500.label"
    source = {"path": str(path), "format": "label_text", "label_before": ":"}

    def splits(seed: int) -> dict:
        raw, _, notes = read_task_splits("qtype", [_spec(source, test_fraction=0.2, validation_fraction=0.1,
                                                         split_seed=seed)])
        return raw["qtype"], notes["qtype"]

    first, notes = splits(0)
    again, _ = splits(0)
    other, _ = splits(1)
    total = len(_lines(path))
    assert {name: first[name].num_rows for name in first} == {"train": total - 12 - 6, "test": 12, "validation": 6}
    texts = {name: set(first[name]["text"]) for name in first}
    assert not (texts["train"] & texts["test"]) and not (texts["validation"] & texts["test"])
    assert all(first[name]["text"] == again[name]["text"] for name in first)
    assert other["test"]["text"] != first["test"]["text"]
    assert any(f"test_fraction=0.2: carved 12 of {total} train examples as the test split (split_seed=0)" in note
               for note in notes)
    with pytest.raises(TaskError, match="give one of `test:` and `test_fraction`"):
        _spec(source, test_fraction=0.2, test=source)
    with pytest.raises(TaskError, match="leave nothing to train on"):
        _spec(source, test_fraction=0.5, validation_fraction=0.5)


def test_recipe_with_the_new_sources(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"""
output_dir: {tmp_path / 'out'}
tasks:
  - name: question_type
    type: text-classification
    train: {{path: {REAL / 'trec' / 'train_5500.label'}, format: label_text, label_before: ":"}}
    test: {{path: {REAL / 'trec' / 'TREC_10.label'}, format: label_text, label_before: ":"}}
  - name: polarity
    type: text-classification
    train:
      files: {{positive: {REAL / 'mr' / 'rt-polarity.pos'}, negative: {REAL / 'mr' / 'rt-polarity.neg'}}}
    test_fraction: 0.2
""", encoding="utf-8")
    loaded = load_recipe(recipe)
    trec, polarity = loaded.tasks
    assert trec.train.label_before == ":" and polarity.train.format == "class_files"
    assert TaskSpec.from_dict(polarity.to_dict()) == polarity
