"""Readers on the shipped real samples (counts checked independently) and on malformed inputs."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import datasets
import pytest

from hf_mtl.data import load_task_splits, read_conll, read_conllu
from hf_mtl.data.readers import read_split
from hf_mtl.data.tasks import DataSource, TaskSpec
from hf_mtl.modeling.errors import DataError

SAMPLES = Path(__file__).resolve().parents[1] / "recipes" / "data"
AG_COLUMNS = ["label", "title", "description"]
AG_MAP = {1: "World", 2: "Sports", 3: "Business", 4: "Sci/Tech"}


def _blocks(path: Path) -> list[list[str]]:
    """Sentence blocks of a column file, independently of the reader: blank-line separated, no comments."""
    blocks = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(("#", "-DOCSTART-"))]
        if lines:
            blocks.append(lines)
    return blocks


def token_spec(train, **kw) -> TaskSpec:
    return TaskSpec(name="tok", type="token-classification", train=train, **kw)


def text_spec(train, **kw) -> TaskSpec:
    return TaskSpec(name="txt", type="text-classification", train=train, **kw)


# --------------------------------------------------------------------------------------------- shipped samples
@pytest.mark.parametrize("name, sentences", [("conll2003_train.txt", 1500), ("conll2003_validation.txt", 300)])
def test_conll2003_samples(name, sentences):
    path = SAMPLES / name
    ds = read_conll(path)
    blocks = _blocks(path)
    assert ds.num_rows == len(blocks) == sentences
    assert sum(map(len, ds["words"])) == sum(map(len, blocks))
    assert ds[0]["words"] == [line.split()[0] for line in blocks[0]]
    assert ds[0]["tags"] == [line.split()[3] for line in blocks[0]]
    assert set().union(*map(set, ds["tags"])) <= {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG",
                                                   "B-MISC", "I-MISC"}
    pos = read_conll(path, tag_column=1)  # the POS column of the same file
    assert pos[0]["tags"] == [line.split()[1] for line in blocks[0]]


@pytest.mark.parametrize("name, sentences", [("ud_en_ewt_train.conllu", 1000), ("ud_en_ewt_validation.conllu", 100)])
def test_ud_samples(name, sentences):
    path = SAMPLES / name
    text = path.read_text(encoding="utf-8")
    words = [line.split("\t") for line in text.split("\n") if re.match(r"^\d+\t", line)]
    ds = read_conllu(path)
    assert ds.num_rows == text.count("# sent_id") == sentences
    assert sum(map(len, ds["tags"])) == len(words)
    flat = [tag for tags in ds["tags"] for tag in tags]
    assert flat == [w[3] for w in words]
    assert set(flat) <= {"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
                         "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"}
    xpos = read_conllu(path, tag_column="xpos")
    assert [t for tags in xpos["tags"] for t in tags] == [w[4] for w in words]


def test_ud_notes_count_skipped_lines():
    spec = token_spec(SAMPLES / "ud_en_ewt_train.conllu", validation=SAMPLES / "ud_en_ewt_validation.conllu")
    result = read_split(spec.train, spec, "train")
    text = (SAMPLES / "ud_en_ewt_train.conllu").read_text()
    multiword = len(re.findall(r"^\d+-\d+\t", text, flags=re.M))
    empty = len(re.findall(r"^\d+\.\d+\t", text, flags=re.M))
    assert multiword > 0 and empty > 0
    assert any(f"skipped {multiword} multi-word token lines" in note for note in result.notes)
    assert any(f"skipped {empty} empty nodes" in note for note in result.notes)


@pytest.mark.parametrize("name, sentences", [("uner_en_ewt_train.iob2", 500), ("uner_en_ewt_validation.iob2", 200)])
def test_uner_samples(name, sentences):
    path = SAMPLES / name
    ds = read_conll(path, tag_column=2)  # columns: id word tag - -; the word column is detected as 1
    blocks = _blocks(path)
    assert ds.num_rows == len(blocks) == sentences
    assert ds[0]["words"] == [line.split("\t")[1] for line in blocks[0]]
    assert ds[0]["tags"] == [line.split("\t")[2] for line in blocks[0]]
    assert set().union(*map(set, ds["tags"])) <= {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"}


def test_uner_default_tag_column_is_caught():
    with pytest.raises(DataError, match=r"uner_en_ewt_validation\.iob2:4: column -1 holds '-'.*tag_column: 2"):
        read_conll(SAMPLES / "uner_en_ewt_validation.iob2")


def test_sst2_samples():
    spec = text_spec(SAMPLES / "sst2_train.tsv", validation=SAMPLES / "sst2_validation.tsv", text_column="sentence",
                     label_map={0: "negative", 1: "positive"})
    raw = load_task_splits(spec)
    lines = (SAMPLES / "sst2_validation.tsv").read_text().splitlines()
    assert raw["train"].num_rows == 2000 and raw["validation"].num_rows == 400 == len(lines) - 1
    first_text, first_label = lines[1].split("\t")
    assert raw["validation"][0] == {"text": first_text, "label": {"0": "negative", "1": "positive"}[first_label]}
    assert set(raw["train"]["label"]) == {"negative", "positive"}


def test_ag_news_samples_joined_and_pair():
    source = {"path": str(SAMPLES / "ag_news_train.csv"), "has_header": False, "column_names": AG_COLUMNS}
    joined = read_split(DataSource.from_value(source), text_spec(source, text_column=["title", "description"],
                                                                 label_map=AG_MAP), "train").dataset
    with open(SAMPLES / "ag_news_train.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert joined.num_rows == len(rows) == 2000
    assert joined[5]["text"] == f"{rows[5][1]} {rows[5][2]}"
    assert joined[5]["label"] == AG_MAP[int(rows[5][0])]
    assert sorted(set(joined["label"])) == sorted(AG_MAP.values())
    pair = read_split(DataSource.from_value(source), text_spec(source, text_column="title",
                                                               text_pair_column="description", label_map=AG_MAP),
                      "train").dataset
    assert pair[5]["text"] == rows[5][1] and pair[5]["text_pair"] == rows[5][2]


# --------------------------------------------------------------------------------------------- other formats
def test_conll_tabs_comments_docstart_and_word_column(tmp_path):
    path = tmp_path / "x.conll"
    path.write_text("# newdoc id = d1\n# sent_id = 1\nw1\tX\tB-PER\nw2\tY\tI-PER\n\n-DOCSTART-\tX\tO\n\n"
                    "# text = w3\nw3\tZ\tO\n")
    ds = read_conll(path)
    assert ds["words"] == [["w1", "w2"], ["w3"]] and ds["tags"] == [["B-PER", "I-PER"], ["O"]]
    assert read_conll(path, tag_column=1, word_column=2)["words"] == [["B-PER", "I-PER"], ["O"]]


def test_conll_hash_token_is_not_a_comment(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("# NN O\nfoo NN O\n\n# text = comment\nbar NN B-LOC\n")
    ds = read_conll(path)
    assert ds["words"] == [["#", "foo"], ["bar"]]


def test_json_and_jsonl(tmp_path):
    rows = [{"sentence": "good", "y": ["a", "b"]}, {"sentence": "bad", "y": []}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "d.json").write_text(json.dumps({"data": rows}))
    spec = text_spec(tmp_path / "d.jsonl", text_column="sentence", label_column="y",
                     problem_type="multi_label_classification")
    assert load_task_splits(spec)["train"].num_rows == 1  # 2 rows: 1 train, 1 carved validation
    raw = read_split(spec.train, spec, "train").dataset
    assert raw["label"] == [["a", "b"], []]
    obj = DataSource.from_value({"path": str(tmp_path / "d.json"), "field": "data"})
    assert read_split(obj, spec, "train").dataset["text"] == ["good", "bad"]
    tokens = tmp_path / "t.jsonl"
    tokens.write_text(json.dumps({"tokens": ["A", "b"], "ner": ["B-X", "O"]}) + "\n")
    tspec = token_spec(tokens, validation=tokens, text_column="tokens", label_column="ner")
    assert load_task_splits(tspec)["train"][0] == {"words": ["A", "b"], "tags": ["B-X", "O"]}


def test_multi_label_separator(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("text,labels\nx,a|b\ny,\nz,c\n")
    spec = text_spec(path, label_column="labels", problem_type="multi_label_classification", label_separator="|")
    assert read_split(spec.train, spec, "train").dataset["label"] == [["a", "b"], [], ["c"]]


def _classlabel_dict() -> datasets.DatasetDict:
    text = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    tokens = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"]))})
    return datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["fine", "awful", "ok"], "label": [1, 0, 1]}, features=text),
        "validation": datasets.Dataset.from_dict({"text": ["meh"], "label": [0]}, features=text),
    }), datasets.Dataset.from_dict({"tokens": [["Ann", "Lee", "ran"]], "ner_tags": [[1, 2, 0]]}, features=tokens)


def test_disk_source_with_classlabel_features(tmp_path):
    text_dd, tokens_ds = _classlabel_dict()
    text_dd.save_to_disk(tmp_path / "text")
    tokens_ds.save_to_disk(tmp_path / "tokens")
    spec = text_spec({"format": "disk", "path": str(tmp_path / "text")},
                     validation={"format": "disk", "path": str(tmp_path / "text")})
    raw = load_task_splits(spec)
    assert raw["train"]["label"] == ["pos", "neg", "pos"]
    assert raw["validation"]["label"] == ["neg"]  # the DatasetDict's own validation split
    result = read_split(spec.train, spec, "train")
    assert result.label_names == ["neg", "pos"]
    tspec = token_spec({"format": "disk", "path": str(tmp_path / "tokens")}, validation={
        "format": "disk", "path": str(tmp_path / "tokens")}, text_column="tokens", label_column="ner_tags")
    assert load_task_splits(tspec)["train"][0] == {"words": ["Ann", "Lee", "ran"], "tags": ["B-PER", "I-PER", "O"]}
    with pytest.raises(DataError, match=r"no split 'test'; the saved DatasetDict has train, validation"):
        read_split(DataSource.from_value({"format": "disk", "path": str(tmp_path / "text")}), spec, "test")


def test_hub_source_from_local_folder(tmp_path):
    text_dd, _ = _classlabel_dict()
    (tmp_path / "ds" / "data").mkdir(parents=True)
    for split, ds in text_dd.items():
        ds.to_parquet(tmp_path / "ds" / "data" / f"{split}.parquet")
    spec = text_spec({"format": "hub", "name": str(tmp_path / "ds")},
                     validation={"format": "hub", "name": str(tmp_path / "ds")})
    raw = load_task_splits(spec)
    assert raw["train"]["label"] == ["pos", "neg", "pos"] and raw["validation"]["label"] == ["neg"]
    with pytest.raises(DataError, match="cannot load hub dataset"):
        read_split(DataSource.from_value({"name": str(tmp_path / "nope")}), spec, "train")


# --------------------------------------------------------------------------------------------- bad input
def test_missing_file(tmp_path):
    spec = token_spec(tmp_path / "nope.txt")
    with pytest.raises(DataError, match=r"nope\.txt' does not exist"):
        load_task_splits(spec)


def test_empty_conll_file(tmp_path):
    (tmp_path / "e.txt").write_text("\n\n")
    with pytest.raises(DataError, match=r"e\.txt: no token lines found"):
        read_conll(tmp_path / "e.txt")


def test_conll_line_with_too_few_columns(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nGerman JJ B-MISC\n")
    with pytest.raises(DataError) as info:
        read_conll(path)
    message = str(info.value)
    assert f"{path}:4:" in message and "expected 4 columns (as on line 1), found 3" in message
    assert "'German JJ B-MISC'" in message


def test_conll_tag_column_out_of_range(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("a O\n")
    with pytest.raises(DataError, match=r"x\.txt:1: `tag_column: 3` is out of range: the file has 2 columns"):
        read_conll(path, tag_column=3)


def test_conllu_bad_column_count_and_missing_upos(tmp_path):
    path = tmp_path / "bad.conllu"
    path.write_text("# sent_id = 1\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n2\t!\t!\tPUNCT\t.\t_\t1\n\n")
    with pytest.raises(DataError, match=r"bad\.conllu:3: expected 10 tab-separated CoNLL-U columns, found 7"):
        read_conllu(path)
    path.write_text("1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n2\t!\t!\t_\t.\t_\t1\tpunct\t_\t_\n\n")
    with pytest.raises(DataError, match=r"bad\.conllu:2: token '!' has no UPOS"):
        read_conllu(path)


def test_wrong_encoding_names_offset_and_fix(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("Zürich NNP O\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_conll(path)
    message = str(info.value)
    assert "is not valid utf-8" in message and "offset 1" in message and "encoding:" in message
    assert read_conll(path, encoding="latin-1")["words"] == [["Zürich"]]
    csv_path = tmp_path / "latin.csv"
    csv_path.write_bytes("text,label\ncafé,a\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv is not valid utf-8: .* offset 14"):
        load_task_splits(text_spec(csv_path))


def test_missing_column_lists_existing_ones(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("sentence\tlabel\ngood\t1\n")
    with pytest.raises(DataError, match=r"no column 'text'; the columns are sentence, label"):
        load_task_splits(text_spec(path))


def test_headerless_csv_needs_column_names(tmp_path):
    path = tmp_path / "ag.csv"
    path.write_text('"1","t","d"\n')
    with pytest.raises(DataError, match=r"`has_header: false` needs `column_names:` \(.*has 3 columns\)"):
        load_task_splits(text_spec({"path": str(path), "has_header": False}))


def test_empty_split(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("text,label\n")
    with pytest.raises(DataError, match=r"h\.csv: no data rows .*the split is empty"):
        load_task_splits(text_spec(path))


def test_regression_target_not_numeric(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("text,label\na,0.5\nb,high\n")
    spec = text_spec(path, problem_type="regression")
    with pytest.raises(DataError, match=r"row 2 \(line 3\): regression target 'high' in column 'label' is not a number"):
        load_task_splits(spec)


def test_multi_label_string_without_separator(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("text,label\nx,a|b\n")
    spec = text_spec(path, problem_type="multi_label_classification")
    with pytest.raises(DataError, match=r"row 1 \(line 2\): .* set `label_separator:`"):
        load_task_splits(spec)


def test_label_map_without_the_value(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\nx,1\ny,5\n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\): label 5 is not a key of `label_map` \(keys: 1, 2\)"):
        load_task_splits(text_spec(path, label_map={1: "a", 2: "b"}))


def test_carving_is_deterministic_and_recorded(tmp_path, caplog):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{i % 3}\n" for i in range(50)))
    spec = text_spec(path, validation_fraction=0.2, split_seed=7)
    with caplog.at_level("INFO", logger="hf_mtl"):
        first = load_task_splits(spec)
    assert "carved 10 of 50 train examples" in caplog.text
    second = load_task_splits(spec)
    assert first["validation"]["text"] == second["validation"]["text"]
    assert first["validation"].num_rows == 10 and first["train"].num_rows == 40
    assert sorted(first["train"]["text"][:] + first["validation"]["text"][:]) == sorted(f"t{i}" for i in range(50))
    other = load_task_splits(text_spec(path, validation_fraction=0.2, split_seed=8))
    assert other["validation"]["text"][:] != first["validation"]["text"][:]


def test_max_examples_keep_the_first(tmp_path):
    spec = token_spec(SAMPLES / "conll2003_train.txt", validation=SAMPLES / "conll2003_validation.txt",
                      max_train_examples=5, max_eval_examples=3)
    raw = load_task_splits(spec)
    full = read_conll(SAMPLES / "conll2003_train.txt")
    assert raw["train"].num_rows == 5 and raw["validation"].num_rows == 3
    assert raw["train"]["words"] == full.select(range(5))["words"]


def test_conll_format_for_text_task_is_an_error():
    with pytest.raises(DataError, match="CoNLL files hold token tags"):
        load_task_splits(text_spec(SAMPLES / "conll2003_validation.txt"))


def test_a_text_task_on_a_txt_file_is_told_how_to_read_it_as_tsv(tmp_path):
    """Issue #21 item 4: a `.txt` TSV needs `format: tsv`, which the error now says."""
    from hf_mtl.data.prepare import load_task_splits
    from hf_mtl.data.tasks import TaskSpec

    path = tmp_path / "train.txt"
    path.write_text("text\tlabel\n" + "good film\tpos\nbad film\tneg\n" * 5, encoding="utf-8")
    with pytest.raises(DataError, match=r"give `format: tsv` \(or `csv`\)"):
        load_task_splits(TaskSpec(name="s", type="text-classification", train=str(path)))
    source = {"path": str(path), "format": "tsv"}
    raw = load_task_splits(TaskSpec(name="s", type="text-classification", train=source, validation=source))
    assert raw["train"][:2] == {"text": ["good film", "bad film"], "label": ["pos", "neg"]}
