"""Tasks from datasets objects (Dataset, DatasetDict, IterableDataset) and from parquet files/folders."""

from __future__ import annotations

import datasets
import pytest

from hf_mtl.data import load_task_splits, prepare_task
from hf_mtl.data.tasks import DataSource, TaskSpec
from hf_mtl.modeling.errors import DataError, TaskError

TOPICS = ["World", "Sports", "Business", "Sci/Tech"]
NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def topic_dataset(n: int = 20, offset: int = 0) -> datasets.Dataset:
    features = datasets.Features({"title": datasets.Value("string"), "label": datasets.ClassLabel(names=TOPICS)})
    return datasets.Dataset.from_dict(
        {"title": [f"headline {offset + i}" for i in range(n)], "label": [(offset + i) % 4 for i in range(n)]},
        features=features,
    )


def ner_dataset(n: int = 12) -> datasets.Dataset:
    features = datasets.Features({
        "tokens": datasets.List(datasets.Value("string")),
        "ner_tags": datasets.List(datasets.ClassLabel(names=NER)),
    })
    rows = {"tokens": [["Ada", "Lovelace", "visited", "Paris"]] * n, "ner_tags": [[1, 2, 0, 3]] * n}
    return datasets.Dataset.from_dict(rows, features=features)


def topic_spec(**kw) -> TaskSpec:
    return TaskSpec(name="topic", type="text-classification", text_column="title", **kw)


# --------------------------------------------------------------------------------------------- Dataset / DatasetDict
def test_dataset_object_keeps_classlabel_names_and_carves_validation():
    spec = topic_spec(train=topic_dataset(20))
    assert spec.train.format == "dataset" and spec.train.in_memory
    raw = load_task_splits(spec)
    assert raw["train"].num_rows + raw["validation"].num_rows == 20 and raw["validation"].num_rows == 2
    from hf_mtl.data.prepare import infer_labels

    assert infer_labels(spec, raw["train"], TOPICS) == TOPICS
    assert set(raw["train"]["label"]) <= set(TOPICS)


def test_dataset_dict_fills_splits_by_name_and_dev_is_validation():
    dd = datasets.DatasetDict({"train": topic_dataset(16), "dev": topic_dataset(8, 100), "test": topic_dataset(4, 200)})
    spec = topic_spec(dataset=dd)
    assert (spec.train.split, spec.validation.split, spec.test.split) == ("train", "dev", "test")
    assert spec.dataset is None  # consumed: the splits hold it
    raw = load_task_splits(spec)
    assert {name: raw[name].num_rows for name in raw} == {"train": 16, "validation": 8, "test": 4}
    assert raw["validation"][0]["text"] == "headline 100"


def test_dataset_dict_as_a_split_reads_the_split_of_that_name():
    dd = datasets.DatasetDict({"train": topic_dataset(16), "validation": topic_dataset(8, 50)})
    raw = load_task_splits(topic_spec(train=dd, validation=dd))
    assert raw["validation"][0]["text"] == "headline 50"
    picked = topic_spec(train=dd, validation=DataSource(dataset=dd, split="train"))
    assert load_task_splits(picked)["validation"][0]["text"] == "headline 0"


def test_dataset_dict_errors_name_the_splits():
    dd = datasets.DatasetDict({"train": topic_dataset(8), "dev": topic_dataset(4)})
    with pytest.raises(TaskError, match=r"`validation`: the DatasetDict has no split 'validation' \(it has train, dev\)"):
        topic_spec(train=dd, validation=dd)
    with pytest.raises(TaskError, match="`train` is given twice"):
        topic_spec(dataset=dd, train=topic_dataset(4))
    with pytest.raises(TaskError, match="none named train, validation"):
        topic_spec(dataset=datasets.DatasetDict({"a": topic_dataset(4)}))
    with pytest.raises(TaskError, match="must be a DatasetDict .* not Dataset; pass a single split as `train=`"):
        topic_spec(dataset=topic_dataset(4))
    with pytest.raises(TaskError, match="`split` picks a split of a DatasetDict; this is a Dataset"):
        topic_spec(train=DataSource(dataset=topic_dataset(4), split="train"))


def test_checks_apply_to_dataset_objects_and_name_them(tokenizer):
    ds = topic_dataset(8)
    with pytest.raises(DataError, match=r"task 'topic', train split \(Dataset \(8 rows\)\): no column 'text'"):
        load_task_splits(TaskSpec(name="topic", type="text-classification", train=ds))
    strings = datasets.Dataset.from_dict({"title": ["a", "b", "c"], "label": ["x", "y", "z"]})
    with pytest.raises(DataError, match=r"train split \(Dataset \(3 rows\)\), row 3: label 'z' is not a key of `label_map`"):
        load_task_splits(topic_spec(train=strings, validation=strings, label_map={"x": "X", "y": "Y"}))
    with pytest.raises(DataError, match=r"task 'topic', train split \(Dataset \(8 rows\)\), row 2: label 'Sports' is not one of"):
        prepare_task(topic_spec(train=ds, validation=ds, labels=["World"]), tokenizer)
    with pytest.raises(TaskError, match="has no recipe form"):
        topic_spec(train=ds).to_dict()
    with pytest.raises(TaskError, match="unknown key 'dataset'"):
        TaskSpec.from_dict({"name": "t", "type": "text-classification", "train": "x.csv", "dataset": "x"})
    with pytest.raises(TaskError, match="format 'dataset' is a datasets object given in Python"):
        TaskSpec.from_dict({"name": "t", "type": "text-classification", "train": {"format": "dataset"}})


def test_row_slices_caps_and_set_format_on_dataset_objects():
    ds = topic_dataset(20)
    ds.set_format("torch")  # what a transformers user often has done already
    spec = topic_spec(train=DataSource(dataset=ds, rows="4:14"), validation=topic_dataset(6, 100),
                      max_eval_examples=3)
    raw = load_task_splits(spec)
    assert raw["train"]["text"] == [f"headline {i}" for i in range(4, 14)]
    assert raw["train"]["label"][:2] == ["World", "Sports"]
    assert raw["validation"].num_rows == 3


def test_token_task_from_dataset_with_sequence_classlabel(tokenizer, tmp_path):
    spec = TaskSpec(name="ner", type="token-classification", train=ner_dataset(), text_column="tokens",
                    label_column="ner_tags")
    td = prepare_task(spec, tokenizer, cache_dir=tmp_path)
    assert td.labels == NER  # ClassLabel order, not sorted
    assert td.raw["train"][0]["tags"] == ["B-PER", "I-PER", "O", "B-LOC"]
    first = [label for label in td.tokenized["train"][0]["labels"] if label != -100]
    assert first == [1, 2, 0, 3]


# --------------------------------------------------------------------------------------------- IterableDataset
def stream(n: int, length_known: bool) -> datasets.IterableDataset:
    source = topic_dataset(n)

    def rows():
        yield from source

    it = datasets.IterableDataset.from_generator(rows, features=source.features)
    if length_known:  # as load_dataset(..., streaming=True) gives for a dataset whose card records its size
        it.info.splits = datasets.SplitDict({"train": datasets.SplitInfo("train", num_examples=n)})
    return it


def test_stream_of_unknown_length_needs_a_bound():
    with pytest.raises(TaskError, match=r"train split \(IterableDataset 'generator' \(split 'train'\)\): a stream .* of unknown "
                                        r"length cannot be read to its end; bound it with `max_train_examples: N`"):
        load_task_splits(topic_spec(train=stream(10, False)))


def test_stream_bounded_by_cap_rows_or_known_length():
    capped = load_task_splits(topic_spec(train=stream(50, False), validation=topic_dataset(4), max_train_examples=12))
    assert capped["train"].num_rows == 12 and capped["train"][11]["text"] == "headline 11"
    sliced = load_task_splits(topic_spec(train=DataSource(dataset=stream(50, False), rows="5:9"),
                                         validation=topic_dataset(4)))
    assert sliced["train"]["text"] == [f"headline {i}" for i in range(5, 9)]
    known = load_task_splits(topic_spec(train=stream(30, True), validation=topic_dataset(4)))
    assert known["train"].num_rows == 30 and known["train"]["label"][1] == "Sports"  # ClassLabel kept


def test_stream_that_yields_nothing():
    empty = datasets.IterableDataset.from_generator(lambda: iter(()), features=topic_dataset(1).features)
    with pytest.raises(DataError, match="the stream yielded no example"):
        load_task_splits(topic_spec(train=empty, max_train_examples=5))


# --------------------------------------------------------------------------------------------- parquet
def test_parquet_file_suffix_and_classlabel(tmp_path):
    topic_dataset(20).to_parquet(tmp_path / "topic.parquet")
    spec = TaskSpec.from_dict({"name": "topic", "type": "text-classification", "train": "topic.parquet",
                               "text_column": "title"}, base_dir=tmp_path)
    assert spec.train.format == "parquet"
    from hf_mtl.data.readers import read_split

    result = read_split(spec.train, spec, "train")
    assert result.label_names == TOPICS  # the features datasets wrote into the parquet metadata
    assert result.dataset[2] == {"text": "headline 2", "label": "Business"}


def test_parquet_folder_reads_its_files_in_order(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    topic_dataset(5, 10).to_parquet(folder / "part-1.parquet")
    topic_dataset(5, 0).to_parquet(folder / "part-0.parquet")
    (folder / "README.md").write_text("not data")
    spec = topic_spec(train={"format": "parquet", "path": str(folder)}, validation=str(folder / "part-0.parquet"))
    raw = load_task_splits(spec)
    assert raw["train"]["text"] == [f"headline {i}" for i in [*range(5), *range(10, 15)]]


def test_parquet_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataError, match=r"bad.parquet: cannot read as parquet"):
        load_task_splits(topic_spec(train=str(bad)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="a folder without .parquet files"):
        load_task_splits(topic_spec(train={"format": "parquet", "path": str(empty)}))
    with pytest.raises(DataError, match="does not exist"):
        load_task_splits(topic_spec(train=str(tmp_path / "missing.parquet")))
    topic_dataset(4).to_parquet(tmp_path / "ok.parquet")
    with pytest.raises(DataError, match=r"train split \(parquet file .*ok.parquet\): no column 'text'"):
        load_task_splits(TaskSpec(name="t", type="text-classification", train=str(tmp_path / "ok.parquet")))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    topic_dataset(4).to_parquet(mixed / "a.parquet")
    datasets.Dataset.from_dict({"other": [1]}).to_parquet(mixed / "b.parquet")
    with pytest.raises(DataError, match="its .parquet files have different columns"):
        load_task_splits(topic_spec(train={"format": "parquet", "path": str(mixed)}))
