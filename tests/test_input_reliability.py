"""Issue #20, the input-reading families: every value read from a user's file keeps its meaning or is an error
naming the file, the line and the field (docs/reliability.md, section 7, counts these cases)."""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import time

import datasets
import pytest
import yaml
from conftest import SAMPLES_DIR

from hf_mtl.data.readers import read_split
from hf_mtl.data.tasks import DataSource, TaskSpec
from hf_mtl.data.tokenization_cache import cached_map
from hf_mtl.modeling.errors import DataError, RecipeError, TaskError
from hf_mtl.workflow.recipe import load_recipe, parse_overrides
from hf_mtl.workflow.recipe_yaml import MAX_YAML_VALUES, load_yaml

TASK = "  - name: sentiment\n    type: text-classification\n    train: {train}\n"


def recipe_file(tmp_path, body: str, train: str = "d.csv"):
    (tmp_path / "d.csv").write_text("text,label\na,0\nb,1\n")
    path = tmp_path / "recipe.yaml"
    path.write_text(body.replace("{train}", train))
    return path


def text_spec(path, **settings) -> TaskSpec:
    return TaskSpec.from_dict({"name": "s", "type": "text-classification", "train": str(path), **settings})


def token_spec(path, **settings) -> TaskSpec:
    return TaskSpec.from_dict({"name": "t", "type": "token-classification", "train": str(path),
                               "text_column": "words", "label_column": "tags", **settings})


def read(spec: TaskSpec):
    return read_split(spec.train, spec, "train")


# ------------------------------------------------------------------------------------------------- YAML
def test_a_duplicate_key_is_an_error_naming_both_lines(tmp_path):
    body = "output_dir: out\ntasks:\n" + TASK + "tasks:\n" + TASK.replace("sentiment", "other")
    with pytest.raises(RecipeError, match=r"recipe.yaml, line 6, column 1: duplicate key 'tasks' \(first at line 2\)"):
        load_recipe(recipe_file(tmp_path, body))
    nested = "output_dir: out\ntasks:\n" + TASK + "    train: other.csv\n"
    with pytest.raises(RecipeError, match=r"line 6, column 5: duplicate key 'train' \(first at line 5\)"):
        load_recipe(recipe_file(tmp_path, nested))
    # a key a merge (<<) brings in may be given again: that is what merging is for
    assert load_yaml("d: &d {a: 1, b: 2}\ne:\n  <<: *d\n  b: 3\n") == {"d": {"a": 1, "b": 2}, "e": {"a": 1, "b": 3}}


def test_yaml_1_1_scalars_keep_their_text_in_names_and_labels(tmp_path):
    body = ("output_dir: out\ntasks:\n" + TASK + "    label_map: {0: no, 1: yes}\n"
            "    labels: [no, yes]\n")
    recipe = load_recipe(recipe_file(tmp_path, body))
    assert recipe.tasks[0].label_map == {0: "no", 1: "yes"} and recipe.tasks[0].labels == ["no", "yes"]
    # numbers in label and name positions keep the digits written (010 is not octal 8, nor 10)
    body = "output_dir: out\ntasks:\n" + TASK + "    label_map: {010: '1', 1: 010, 2: 1_000, 3: 1:30, 4: on}\n"
    spec = load_recipe(recipe_file(tmp_path, body)).tasks[0]
    assert spec.label_map == {"010": "1", 1: "010", 2: "1_000", 3: "1:30", 4: "on"}
    # YAML 1.2 core elsewhere: `eval_strategy: no` is the strategy "no", 5e-5 a float, `rows: 1:30` text
    assert load_yaml("a: no\nb: 5e-5\nc: 010\nd: 0o10\ne: 2024-01-01\nf: 1:30") == {
        "a": "no", "b": 5e-5, "c": 10, "d": 8, "e": "2024-01-01", "f": "1:30"}
    args = load_recipe(recipe_file(tmp_path, "output_dir: out\ntasks:\n" + TASK + "training: {eval_strategy: no}\n"))
    assert args.training_arguments().eval_strategy == "no"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("label_map: {0: true, 1: x}", "true", r"line 6, column 20: tasks\[0\].label_map\[0\]: true is read as a boolean, but a label name is text"),
    ("labels: [a, null]", "null", r"line 6, column 17: tasks\[0\].labels\[1\]: null is read as null"),
    ("label_map: {~: a}", "~", r"line 6, column 17: tasks\[0\].label_map: a null key"),
    ("text_column: false", "false", r"line 6, column 18: tasks\[0\].text_column: false is read as a boolean, but a name is text"),
])
def test_a_boolean_or_null_where_a_name_belongs_is_an_error_naming_the_line(tmp_path, field, value, message):
    body = "output_dir: out\ntasks:\n" + TASK + f"    {field}\n"
    with pytest.raises(RecipeError, match=message):
        load_recipe(recipe_file(tmp_path, body))


def test_yes_and_no_keep_their_meaning_where_true_or_false_is_expected(tmp_path):
    body = ("output_dir: out\noverwrite: yes\nmodel: {freeze_encoder: yes}\ntasks:\n" + TASK
            + "    label_all_subwords: on\ntraining: {fp16: no, eval_strategy: no}\n")
    recipe = load_recipe(recipe_file(tmp_path, body))
    assert recipe.overwrite is True and recipe.model.freeze_encoder is True and recipe.tasks[0].label_all_subwords is True
    assert recipe.training["fp16"] is False and recipe.training["eval_strategy"] == "no"
    recipe = load_recipe(recipe_file(tmp_path, body), ["model.freeze_encoder=no", "overwrite=off"])
    assert recipe.model.freeze_encoder is False and recipe.overwrite is False
    with pytest.raises(RecipeError, match="model.freeze_encoder must be true or false, got 'maybe'"):
        load_recipe(recipe_file(tmp_path, body), ["model.freeze_encoder=maybe"])


def test_task_overrides_keep_the_text_of_names_and_labels_too():
    assert parse_overrides(["tasks.s.label_map={0: no, 1: 010}", "tasks.s.labels=[no, yes]"]) == [
        ("tasks.s.label_map", {0: "no", 1: "010"}), ("tasks.s.labels", ["no", "yes"])]
    with pytest.raises(RecipeError, match=r"tasks.s.label_map\[0\]: true is read as a boolean"):
        parse_overrides(["tasks.s.label_map={0: true}"])


def test_an_alias_bomb_fails_fast_with_one_short_line(tmp_path):
    levels = "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(9))
    path = tmp_path / "bomb.yaml"
    path.write_text("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + levels + "output_dir: *j\n")
    start = time.perf_counter()
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert time.perf_counter() - start < 5
    message = str(caught.value)
    assert f"expand to more than {MAX_YAML_VALUES:,} values" in message and "\n" not in message and len(message) < 300
    with pytest.raises(RecipeError, match="expand to more than"):  # in an override too
        parse_overrides(["description=" + "[&a [x,x,x,x,x,x,x,x,x,x], " + ", ".join(
            f"&{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(6)) + "]"])


def test_a_huge_value_is_cut_in_messages(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("output_dir: [" + ", ".join(["x" * 10] * 5000) + "]\ntasks: [{name: a}]\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert len(str(caught.value)) < 400 and "characters)" in str(caught.value)


@pytest.mark.parametrize(("value", "message"), [(-1, "must be >= 0, got -1"),
                                                (2**32, "must be <= 4294967295 (a 32-bit unsigned seed)")])
def test_a_seed_outside_32_bits_is_refused_when_the_recipe_loads(tmp_path, value, message):
    with pytest.raises(RecipeError, match=rf"training.seed: {re.escape(message)}"):
        load_recipe(recipe_file(tmp_path, "output_dir: out\ntasks:\n" + TASK), [f"seed={value}"])


def test_fuzz_pins_column_names_false_and_a_dash_in_an_override(tmp_path):
    # test_recipe_any_mapping_slow: `column_names: false` raised TypeError in DataSource.validate
    with pytest.raises(TaskError, match="`column_names` must be a list of strings, not False"):
        DataSource(path="x.csv", column_names=False)
    # test_recipe_any_override_slow: `--max_steps -` was reported as 'max_steps _', not as written
    body = "output_dir: out\ntasks:\n" + TASK
    with pytest.raises(RecipeError, match="Override 'max_steps -' names no recipe setting"):
        load_recipe(recipe_file(tmp_path, body), ["--max_steps -"])
    assert parse_overrides(["--max-steps", "3"]) == [("max_steps", 3)]


# ------------------------------------------------------------------------------------------------- tables
@pytest.mark.parametrize(("record", "message"), [
    ({"text": ["a", "b"], "label": "x"}, r"row 2 \(line 2\): column 'text' holds a list \(\['a', 'b'\]\); expected text"),
    ({"text": {"a": 1}, "label": "x"}, r"row 2 \(line 2\): column 'text' holds a mapping"),
    ({"text": True, "label": "x"}, r"row 2 \(line 2\): column 'text' holds a boolean"),
    ({"text": "a", "label": ["x", "y"]}, r"row 2 \(line 2\): the label is a list \(\['x', 'y'\]\); expected one label"),
    ({"text": "a", "label": {"x": 1}}, r"row 2 \(line 2\): the label is a mapping"),
    ({"text": None, "label": "x"}, r"row 2 \(line 2\): column 'text' is empty \(null\)"),
])
def test_a_value_of_the_wrong_shape_is_an_error_not_its_repr(tmp_path, record, message):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "fine", "label": "y"}) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DataError, match=rf"d.jsonl\), {message}"):
        read(text_spec(path))


@pytest.mark.parametrize(("words", "message"), [
    (["a", None], r"row 1 \(line 1\), column 'words', word 2 is null; a word is text"),
    (["a", ""], r"word 2 is empty \(''\)"),
    (["a", " "], r"word 2 is empty \(' '\)"),
    (["a", ["b"]], r"word 2 is a list"),
    ([], r"row 1 \(line 1\), column 'words': the sentence has no words"),
])
def test_null_or_empty_words_and_empty_sentences_are_refused_as_conll_refuses_them(tmp_path, words, message):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"words": words, "tags": ["O"] * len(words)}) + "\n")
    with pytest.raises(DataError, match=message):
        read(token_spec(path))


def test_conllu_and_conll_refuse_a_blank_word_too(tmp_path):
    path = tmp_path / "d.conllu"
    path.write_text("1\t \t_\tNOUN\t_\t_\t0\troot\t_\t_\n")
    with pytest.raises(DataError, match=r"d.conllu:1: the FORM column \(the word\) is empty"):
        read(TaskSpec.from_dict({"name": "pos", "type": "token-classification", "train": str(path)}))


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_a_duplicate_header_name_is_an_error_naming_both_columns(tmp_path, fmt):
    sep = "," if fmt == "csv" else "\t"
    path = tmp_path / f"d.{fmt}"
    path.write_text(f"label{sep}text{sep}text\nx{sep}a{sep}b\n")
    with pytest.raises(DataError, match=rf"d.{fmt}:1: the header names column 'text' twice \(columns 2 and 3"):
        read(text_spec(path))
    with pytest.raises(DataError, match=r"`column_names` names column 'a' twice \(columns 1 and 2"):
        read(text_spec(path, train={"path": str(path), "has_header": False, "column_names": ["a", "a", "b"]}))


def test_csv_errors_name_the_physical_line_across_quoted_newlines_and_blank_lines(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n\n"two\nlines",pos\n\n\n"x\u2028y",neg\nz,\n')
    with pytest.raises(DataError, match=r"row 3 \(line 8\): the label is empty"):
        read(text_spec(path))
    path.write_text('text,label\n\n"two\nlines",pos\n\nz,pos,extra\n')
    with pytest.raises(DataError, match=r"d.csv:6: 3 fields"):
        read(text_spec(path))


def test_a_label_outside_the_declared_labels_names_file_and_line(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("text\tlabel\na\tpos\n\nb\tneutral\n")
    with pytest.raises(DataError, match=r"d.tsv\), row 2 \(line 4\): label 'neutral' is not one of the task's `labels`"):
        read(text_spec(path, labels=["neg", "pos"]))
    conll = tmp_path / "d.txt"
    conll.write_text("a O\n\nb O\nc B-XYZ\n")
    with pytest.raises(DataError, match=r"d.txt\), row 2 \(line 3\), word 2: label 'B-XYZ' is not one"):
        read(TaskSpec.from_dict({"name": "ner", "type": "token-classification", "train": str(conll),
                                 "labels": ["O", "B-PER", "I-PER"]}))


@pytest.mark.parametrize(("encoding", "named"), [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16-LE"),
                                                 ("utf-16-be", "UTF-16-BE"), ("utf-32", "UTF-32")])
def test_a_utf16_file_is_named_utf16_not_try_latin1(tmp_path, encoding, named):
    path = tmp_path / "d.tsv"
    path.write_bytes("text\tlabel\nhello world\tpos\n".encode(encoding))
    with pytest.raises(DataError, match=rf"is {named} text .*set `encoding: {named.lower()}`") as caught:
        read(text_spec(path))
    assert "latin-1" not in str(caught.value)
    if encoding == "utf-16":  # and with the encoding set, it reads
        assert read(text_spec(path, train={"path": str(path), "encoding": "utf-16"})).dataset["text"] == ["hello world"]
    assert codecs.lookup(named.lower())


def test_a_tilde_data_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "d.csv").write_text("text,label\na,x\nb,y\n")
    recipe = tmp_path / "sub" / "recipe.yaml"
    recipe.parent.mkdir()
    recipe.write_text("output_dir: out\ntasks:\n" + TASK.replace("{train}", "~/d.csv"))
    spec = load_recipe(recipe).tasks[0]
    assert spec.train.path == str(tmp_path / "d.csv") and read(spec).dataset["text"] == ["a", "b"]
    assert read(text_spec("~/d.csv")).dataset.num_rows == 2  # Python, without a recipe


def test_rows_past_the_end_is_an_error_not_an_index_error(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\na,x\nb,y\n")
    with pytest.raises(DataError, match=r"`rows: 5:` keeps no example: the split has 2 examples"):
        read(text_spec(path, train={"path": str(path), "rows": "5:"}))
    conll = tmp_path / "d.txt"
    conll.write_text("a O\n\nb O\n")
    with pytest.raises(DataError, match=r"`rows: 2:3` keeps no example"):
        read(TaskSpec.from_dict({"name": "ner", "type": "token-classification",
                                 "train": {"path": str(conll), "rows": "2:3"}}))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "disk"])
def test_a_symlink_loop_as_data_path_is_named(tmp_path, fmt):
    loop = tmp_path / f"loop.{fmt}"
    other = tmp_path / "other"
    os.symlink(other, loop)
    os.symlink(loop, other)
    source = {"path": str(loop), "format": fmt}
    with pytest.raises(DataError, match="is a symbolic link that loops"):
        read(text_spec(loop, train=source))


def test_a_truncated_tokenization_cache_file_is_rebuilt_with_a_warning(tmp_path, caplog):
    raw = datasets.Dataset.from_dict({"a": list(range(500))})

    def encode(batch, indices):
        return {"b": [value * 2 for value in batch["a"]]}

    first, cache_file, hit = cached_map(raw, encode, "f" * 32, tmp_path, "t")
    assert not hit and cached_map(raw, encode, "f" * 32, tmp_path, "t")[2]
    expected = list(first["b"])  # read now: `first` maps the file that is cut below
    for size in (os.path.getsize(cache_file) - 50, 10):
        with open(cache_file, "r+b") as handle:
            handle.truncate(size)
        with caplog.at_level(logging.WARNING, logger="hf_mtl"):
            again, _, hit = cached_map(raw, encode, "f" * 32, tmp_path, "t")
        assert not hit and list(again["b"]) == expected
        assert "cannot be read" in caplog.text and "tokenizing again" in caplog.text


def test_the_shipped_samples_read_as_before():
    sst = TaskSpec.from_dict({"name": "sentiment", "type": "text-classification", "text_column": "sentence",
                              "train": str(SAMPLES_DIR / "sst2_train.tsv"), "label_map": {0: "negative", 1: "positive"}})
    assert set(read(sst).dataset["label"]) == {"negative", "positive"}
    recipe = yaml.safe_load((SAMPLES_DIR.parent / "quickstart.yaml").read_text())  # YAML 1.1 reads 2e-4 as text
    recipe["training"]["learning_rate"] = float(recipe["training"]["learning_rate"])
    assert load_yaml((SAMPLES_DIR.parent / "quickstart.yaml").read_text()) == recipe



def test_a_one_class_training_split_names_the_data_not_the_encoder(tmp_path):
    """Issue #20 item 11: one class in train said "Cannot load the encoder"; the registry's min_labels decides."""
    from transformers import AutoTokenizer

    from hf_mtl.data import prepare_task
    from hf_mtl.export.public_names import default_encoder
    from hf_mtl.workflow.preflight import check_label_counts

    path = tmp_path / "one.tsv"
    path.write_text("text\tlabel\n" + "good film\tpos\n" * 12)
    data = prepare_task(TaskSpec(name="s", type="text-classification", train=str(path), validation=str(path)),
                        AutoTokenizer.from_pretrained(default_encoder()))
    with pytest.raises(TaskError, match=r"one.tsv\) holds only the label 'pos'; a classifier needs at least 2 classes"):
        check_label_counts({"s": data})
