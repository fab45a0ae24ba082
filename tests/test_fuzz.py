"""Fuzzing the readers and the recipe loader: any input either loads or raises hf_mtl's own error.

Every property runs twice: ``FUZZ_EXAMPLES`` examples per property in the default suite (derandomized, so a CI
failure reproduces), and ``SLOW_FUZZ_EXAMPLES`` random examples in the ``slow`` run (``pytest -m slow``).
The figures are quoted in docs/reliability.md; keep them in step.

What "loads or raises hf_mtl's own error" means here, checked on every example:

- a successful read gives well-formed columns (as many tags as words, no empty sentences, text strings), and for
  generated well-formed files, exactly what was written (round trips);
- a failure is a :class:`~hf_mtl.modeling.errors.HfMtlError` (``DataError`` for data files, ``RecipeError`` for recipes) —
  never an ``IndexError``/``KeyError``/``UnicodeDecodeError``/``YAMLError`` — whose message names the file and,
  when it cites a line, cites a line that exists.
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hf_mtl.data.readers import read_conll, read_conllu, read_split
from hf_mtl.data.tasks import DataSource, TaskSpec
from hf_mtl.modeling.errors import DataError, HfMtlError, RecipeError
from hf_mtl.workflow.recipe import MODEL_KEYS, RECIPE_KEYS, TRAINING_KEYS, Recipe, load_recipe

FUZZ_EXAMPLES = 60
SLOW_FUZZ_EXAMPLES = 1000
# Reading a table goes through `datasets.load_dataset` (~50 ms a file): fewer examples in the default run.
TABLE_FUZZ_EXAMPLES = 40


def fuzz_settings(max_examples: int, slow: bool) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=not slow,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def default_and_slow(body, default_examples: int = FUZZ_EXAMPLES, **strategies):
    """Two tests of the property ``body(tmp_path, **drawn)``: the default-suite run and a larger `slow` one."""

    def make(max_examples: int, slow: bool):
        @fuzz_settings(max_examples, slow)
        @given(case=st.fixed_dictionaries(strategies))
        def test(tmp_path, case):
            body(tmp_path, **case)

        test.__doc__ = body.__doc__
        return pytest.mark.slow(test) if slow else test

    return make(default_examples, False), make(SLOW_FUZZ_EXAMPLES, True)


_counter = itertools.count()


def fresh_file(folder: Path, suffix: str, data: bytes) -> Path:
    """A new file per example (datasets caches by path, so never reuse one)."""
    path = folder / f"fuzz_{next(_counter)}{suffix}"
    path.write_bytes(data)
    return path


def physical_lines(data: bytes) -> int:
    """Lines as an editor numbers them: separated by \\n (a \\r\\n counts once), or by \\r in a file without \\n."""
    return (data.count(b"\n") if b"\n" in data else data.count(b"\r")) + 1


def check_error(error: HfMtlError, path: Path, data: bytes) -> None:
    """The error names the file, says something about it, and any line it cites exists."""
    event(f"raised {type(error).__name__}")
    message = str(error)
    assert str(path) in message, message
    assert len(message) > len(str(path)) + 15, message
    cited = [int(n) for n in re.findall(rf"{re.escape(str(path))}:(\d+)", message)]
    cited += [int(n) for n in re.findall(r"\bline (\d+)", message)]
    for line in cited:
        assert 1 <= line <= physical_lines(data), (line, physical_lines(data), message)


# ------------------------------------------------------------------------------------------- strategies
# Pieces that readers treat specially, plus characters that trip naive parsers (BOM, NUL, NEL, U+2028, NBSP).
SPECIAL_FIELDS = ["-DOCSTART-", "#", "# id = 3", "#x=y", "_", "-", "", "O", "B-PER", "I-PER", "1", "2", "3", "1-2",
                  "8.1", "0", "-1", "é", "\u00a0", "\ufeff", "\x00", "\x85", "\u2028", "\r", "word", "NOUN"]
field_text = st.one_of(st.sampled_from(SPECIAL_FIELDS), st.text(max_size=6))


@st.composite
def column_lines(draw, min_fields: int = 0, max_fields: int = 5) -> str:
    separator = draw(st.sampled_from([" ", "\t", "  ", " \t"]))
    return separator.join(draw(st.lists(field_text, min_size=min_fields, max_size=max_fields)))


@st.composite
def text_files(draw, line_strategy) -> bytes:
    """Lines joined by \\n or \\r\\n, encoded as UTF-8, sometimes with raw bytes spliced in (bad encodings)."""
    lines = draw(st.lists(st.one_of(line_strategy, st.just("")), max_size=14))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    data = newline.join(lines).encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        data += newline.encode()
    if draw(st.integers(0, 4)) == 0:
        position = draw(st.integers(0, len(data)))
        data = data[:position] + draw(st.binary(min_size=1, max_size=4)) + data[position:]
    return data


# Words of well-formed files: no separator inside (whitespace for space-separated files, tabs for tab-separated
# ones, where words may hold spaces, NBSP, U+2028 or \x85), not starting with '#' (a comment) or '-DOCSTART-'.
def _plain_word(word: str) -> bool:
    return bool(word) and not word.startswith(("#", "-DOCSTART-")) and word != "_"


space_word = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8).filter(
    lambda w: _plain_word(w) and w.split() == [w]
)
tab_word = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r"), min_size=1,
                   max_size=8).filter(lambda w: _plain_word(w) and w.strip() == w)
tag_text = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "NOUN", "VERB", "X"])


def documents(words):
    return st.lists(st.lists(st.tuples(words, tag_text), min_size=1, max_size=6), min_size=1, max_size=5)




# ------------------------------------------------------------------------------------------- CoNLL columns
def _conll_anything(tmp_path, data, tag_column, word_column):
    path = fresh_file(tmp_path, ".txt", data)
    try:
        ds = read_conll(path, tag_column=tag_column, word_column=word_column)
    except HfMtlError as error:
        assert isinstance(error, DataError)
        check_error(error, path, data)
        return
    event("loaded")
    assert ds.num_rows >= 1
    for words, tags in zip(ds["words"], ds["tags"], strict=True):
        assert len(words) == len(tags) >= 1
        assert all(isinstance(w, str) and w for w in words)
        assert all(tag not in ("", "-", "_") for tag in tags)


test_conll_any_input_loads_or_raises_data_error, test_conll_any_input_slow = default_and_slow(
    _conll_anything,
    data=text_files(column_lines()),
    tag_column=st.integers(-4, 4),
    word_column=st.one_of(st.none(), st.integers(-4, 4)),
)


def _conll_round_trip(tmp_path, document, tabs, newline, bom):
    needs_tabs = any(word.split() != [word] for sentence in document for word, _ in sentence)
    separator = "\t" if tabs or needs_tabs else " "
    text = newline.join(newline.join(separator.join(pair) for pair in sentence) + newline for sentence in document)
    data = ("\ufeff" if bom else "").encode() + text.encode("utf-8")
    path = fresh_file(tmp_path, ".txt", data)
    ds = read_conll(path)
    assert ds["words"] == [[w for w, _ in sentence] for sentence in document]
    assert ds["tags"] == [[t for _, t in sentence] for sentence in document]


test_conll_well_formed_files_round_trip, test_conll_round_trip_slow = default_and_slow(
    _conll_round_trip,
    document=st.one_of(documents(space_word), documents(tab_word)),
    tabs=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)


# ------------------------------------------------------------------------------------------- CoNLL-U
conllu_ids = st.one_of(st.sampled_from(["1", "2", "3", "1-2", "2-3", "8.1", "0", "-1", "", "a", "1.", "1-"]),
                       st.integers(0, 12).map(str))
conllu_values = st.one_of(st.sampled_from(["_", "", "NOUN", "VERB", "PUNCT", "Case=Nom", "0", "root", "2:nsubj",
                                           "SpaceAfter=No", "a=b|c", "="]), st.text(max_size=5))


@st.composite
def conllu_lines(draw) -> str:
    """One line of a CoNLL-U file, most often a broken one."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return "# " + draw(st.sampled_from(["sent_id = 1", "text = Hi .", "newdoc", ""])) + draw(st.text(max_size=4))
    if kind == 1:
        return draw(column_lines())
    n_columns = draw(st.sampled_from([10, 10, 10, 10, 9, 11]))
    columns = [draw(conllu_ids)] + [draw(conllu_values) for _ in range(n_columns - 1)]
    return "\t".join(columns)


@st.composite
def conllu_sentence_lines(draw) -> str:
    """A well-formed sentence block (multi-word tokens, empty nodes, comments), then one line maybe broken."""
    length = draw(st.integers(1, 5))
    lines = ["# sent_id = 1"]
    for index in range(1, length + 1):
        if index < length and draw(st.integers(0, 5)) == 0:
            lines.append(f"{index}-{index + 1}\tdon't\t_\t_\t_\t_\t_\t_\t_\t_")
        tag = draw(st.sampled_from(["NOUN", "VERB", "PUNCT", "_"])) if draw(st.integers(0, 7)) == 0 else "NOUN"
        lines.append("\t".join([str(index), draw(st.sampled_from(["w", "Hi", "é", "a b"])), "_", tag, "NN", "_",
                                str(index - 1), "dep", "_", "_"]))
        if draw(st.integers(0, 7)) == 0:
            lines.append(f"{index}.1\tgap\t_\t_\t_\t_\t_\t_\t_\t_")
    if draw(st.integers(0, 2)) == 0:
        lines[draw(st.integers(0, len(lines) - 1))] = draw(conllu_lines())
    return "\n".join(lines) + "\n"


def _conllu_anything(tmp_path, data, tag_column):
    path = fresh_file(tmp_path, ".conllu", data)
    try:
        ds = read_conllu(path, tag_column=tag_column)
    except HfMtlError as error:
        assert isinstance(error, DataError)
        check_error(error, path, data)
        return
    event("loaded")
    assert ds.num_rows >= 1
    for words, tags in zip(ds["words"], ds["tags"], strict=True):
        assert len(words) == len(tags)
        assert len(words) >= 1
        assert all(isinstance(t, str) and t not in ("", "_") for t in tags)
        assert all(isinstance(w, str) and w for w in words)


test_conllu_any_input_loads_or_raises_data_error, test_conllu_any_input_slow = default_and_slow(
    _conllu_anything,
    data=text_files(st.one_of(conllu_lines(), conllu_sentence_lines())), tag_column=st.sampled_from(["upos", "xpos"]),
)


def _conllu_round_trip(tmp_path, document, newline):
    lines = []
    for number, sentence in enumerate(document, 1):
        lines.append(f"# sent_id = {number}")
        for index, (word, tag) in enumerate(sentence, 1):
            lines.append("\t".join([str(index), word, "_", tag, "_", "_", str(index - 1), "dep", "_", "_"]))
        lines.append("")
    data = newline.join(lines).encode("utf-8")
    path = fresh_file(tmp_path, ".conllu", data)
    ds = read_conllu(path)
    assert ds["words"] == [[w for w, _ in sentence] for sentence in document]
    assert ds["tags"] == [[t for _, t in sentence] for sentence in document]


test_conllu_well_formed_files_round_trip, test_conllu_round_trip_slow = default_and_slow(
    _conllu_round_trip,
    document=documents(tab_word), newline=st.sampled_from(["\n", "\r\n"]),
)


# ------------------------------------------------------------------------------------------- CSV / TSV / JSONL
cell_text = st.one_of(st.sampled_from(["", "NA", "null", "None", "1", "1.5", "nan", '"', '""', ",", "\t", "a\nb", "{",
                                       "positive", "negative", "\ufeff", "\x00"]), st.text(max_size=6))


@st.composite
def table_files(draw, fmt: str) -> bytes:
    header = draw(st.sampled_from([["text", "label"], ["label", "text"], ["text"], ["sentence", "label"],
                                   ["text", "label", "label"], []]))
    header = header + draw(st.lists(cell_text, max_size=2))
    rows = draw(st.lists(st.lists(cell_text, max_size=4), max_size=6))
    if fmt == "jsonl":
        lines = []
        for row in rows:
            if draw(st.booleans()):  # most records are complete
                row = [*row, "", ""][:2]
            if draw(st.integers(0, 5)) == 0:  # not JSON, or JSON that is not an object
                lines.append(draw(st.sampled_from(["{", "[1, 2]", "3", "null", '{"text": }', "", "{\"text\": \"a\"}x"])))
            else:
                record = dict(zip(header if len(row) > 2 else ["text", "label"], row, strict=False))
                if draw(st.booleans()) and "label" in record:
                    record["label"] = draw(st.one_of(st.none(), st.integers(-2, 3), st.floats(allow_nan=True),
                                                     st.lists(st.sampled_from(["a", "b"]), max_size=2)))
                lines.append(json.dumps(record))
        text = "\n".join(lines)
    else:
        delimiter = "\t" if fmt == "tsv" else ","
        records = ([header] if header else []) + rows
        if fmt == "csv" and draw(st.booleans()):
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(records)
            text = buffer.getvalue()
        else:  # fields joined as they are (GLUE writes TSV so): stray quotes and delimiters stay in
            text = "".join(delimiter.join(record) + "\n" for record in records)
    data = text.encode("utf-8", errors="surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        position = draw(st.integers(0, len(data)))
        data = data[:position] + draw(st.binary(min_size=1, max_size=3)) + data[position:]
    return data


@st.composite
def text_task_specs(draw) -> dict:
    problem = draw(st.sampled_from(["single_label_classification", "multi_label_classification", "regression"]))
    spec = {"problem_type": problem, "text_column": draw(st.sampled_from(["text", "sentence", ["text", "label"]]))}
    if problem == "multi_label_classification" and draw(st.booleans()):
        spec["label_separator"] = "|"
    if problem != "regression" and draw(st.booleans()):
        spec["label_map"] = draw(st.sampled_from([{0: "neg", 1: "pos"}, {"positive": "pos", "negative": "neg"}]))
    return spec


def _table_anything(tmp_path, fmt, data, spec_options, source_options):
    path = fresh_file(tmp_path, f".{fmt}", data)
    source = DataSource(path=str(path), **source_options)
    spec = TaskSpec(name="fuzz", type="text-classification", train=source, **spec_options)
    try:
        split = read_split(spec.train, spec, "train")
    except HfMtlError as error:
        assert isinstance(error, DataError)
        check_error(error, path, data)
        return
    event(f"loaded {fmt}")
    ds = split.dataset
    assert ds.num_rows >= 1
    assert all(isinstance(text, str) for text in ds["text"])
    for label in ds["label"]:
        if spec.is_regression:
            assert isinstance(label, float) and label == label
        elif spec.is_multi_label:
            assert isinstance(label, list) and all(isinstance(x, str) for x in label)
        else:
            assert isinstance(label, str)


@st.composite
def table_cases(draw):
    fmt = draw(st.sampled_from(["csv", "tsv", "jsonl"]))
    options = {}
    if fmt != "jsonl" and draw(st.integers(0, 3)) == 0:
        options = {"has_header": False, "column_names": draw(st.sampled_from([["text", "label"], ["label", "text", "x"]]))}
    return fmt, draw(table_files(fmt)), draw(text_task_specs()), options


def _table_case(tmp_path, table):
    _table_anything(tmp_path, *table)


test_tables_any_input_loads_or_raises_data_error, test_tables_any_input_slow = default_and_slow(
    _table_case, TABLE_FUZZ_EXAMPLES, table=table_cases()
)


def _table_round_trip(tmp_path, fmt, rows):
    """Well-formed files load exactly as written: every text and label string, in order."""
    if fmt == "jsonl":
        text = "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows)
    elif fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer).writerows([["text", "label"], *rows])  # \r\n line ends: quotes fields holding \r or \n
        text = buffer.getvalue()
    else:
        text = "".join(f"{t}\t{label}\n" for t, label in [("text", "label"), *rows])
    path = fresh_file(tmp_path, f".{fmt}", text.encode("utf-8"))
    spec = TaskSpec(name="fuzz", type="text-classification", train=str(path))
    ds = read_split(spec.train, spec, "train").dataset
    assert ds["text"] == [t for t, _ in rows]
    assert ds["label"] == [label for _, label in rows]


table_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=12)
table_labels = st.sampled_from(["pos", "neg", "0", "01", "1.0", "1e5", "NA", "null", "None", "nan", "-"])


@st.composite
def table_rows(draw):
    fmt = draw(st.sampled_from(["csv", "tsv", "jsonl"]))
    text = table_text
    if fmt == "tsv":  # TSV has no quoting: no tabs or line breaks in a field
        text = text.filter(lambda t: not set(t) & {"\t", "\n", "\r"} and t.strip(" ") == t)
    return {"fmt": fmt, "rows": draw(st.lists(st.tuples(st.one_of(text, table_labels), table_labels), min_size=1,
                                              max_size=5))}


def _table_case_round_trip(tmp_path, table):
    _table_round_trip(tmp_path, **table)


test_tables_well_formed_files_round_trip, test_tables_round_trip_slow = default_and_slow(
    _table_case_round_trip, TABLE_FUZZ_EXAMPLES, table=table_rows()
)


# ------------------------------------------------------------------------------------------- recipes
yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "x", "data/missing.txt", "token-classification", "text-classification", "1e-4", "0:10",
                     "conll", "csv", "hub", "upos", "steps", "no", "regression", "os.system", "__import__"]),
    st.text(max_size=8),
)
yaml_values = st.recursive(yaml_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                  st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=8)
TASK_FIELDS = TaskSpec.field_names() + ["local", "labels"]
SOURCE_FIELDS = ["path", "format", "tag_column", "word_column", "has_header", "column_names", "rows", "encoding", "name"]


@st.composite
def task_entries(draw):
    entry = {"name": draw(st.one_of(st.sampled_from(["ner", "pos", "sentiment", "Bad Name", ""]), yaml_scalars)),
             "type": draw(st.one_of(st.sampled_from(["token-classification", "text-classification"]), yaml_scalars))}
    for key in draw(st.lists(st.sampled_from(TASK_FIELDS + ["lables", "trian"]), max_size=4, unique=True)):
        if key in ("train", "validation", "test", "local") and draw(st.booleans()):
            source_keys = draw(st.lists(st.sampled_from(SOURCE_FIELDS + ["pth"]), max_size=3, unique=True))
            entry[key] = {k: draw(yaml_values) for k in source_keys}
        else:
            entry[key] = draw(yaml_values)
    if draw(st.booleans()):
        entry["train"] = draw(st.sampled_from(["data/train.txt", "data/train.conllu", "data/train.csv", "x.unknown"]))
    return entry


@st.composite
def recipe_mappings(draw):
    recipe = {}
    for key in draw(st.lists(st.sampled_from(list(RECIPE_KEYS) + ["taks", "seed"]), max_size=7, unique=True)):
        if key == "tasks":
            recipe[key] = draw(st.one_of(st.lists(task_entries(), max_size=3), yaml_values))
        elif key == "model":
            keys = draw(st.lists(st.sampled_from(list(MODEL_KEYS) + ["encodr"]), max_size=3, unique=True))
            recipe[key] = draw(st.one_of(st.just({k: draw(yaml_values) for k in keys}), yaml_values))
        elif key == "training":
            keys = draw(st.lists(st.sampled_from(list(TRAINING_KEYS) + ["max_step"]), max_size=3, unique=True))
            recipe[key] = {k: draw(yaml_scalars) for k in keys}
        else:
            recipe[key] = draw(yaml_values)
    return recipe


VALID_RECIPE = {
    "output_dir": "out",
    "tasks": [{"name": "ner", "type": "token-classification", "train": "data/train.txt"}],
    "training": {"max_steps": 5},
}


@st.composite
def mutated_recipes(draw):
    """A valid recipe with one setting changed (to a value of any type) or added."""
    recipe = copy.deepcopy(VALID_RECIPE)
    task = recipe["tasks"][0]
    where = draw(st.sampled_from(["top", "task", "source", "training", "model", "unchanged"]))
    if where == "top":
        recipe[draw(st.sampled_from(list(RECIPE_KEYS)))] = draw(yaml_values)
    elif where == "task":
        task[draw(st.sampled_from(TASK_FIELDS))] = draw(yaml_values)
    elif where == "source":
        task["train"] = {"path": "data/train.txt", draw(st.sampled_from(SOURCE_FIELDS)): draw(yaml_values)}
    elif where == "training":
        recipe["training"][draw(st.sampled_from(TRAINING_KEYS))] = draw(yaml_scalars)
    elif where == "model":
        recipe["model"] = {draw(st.sampled_from(MODEL_KEYS)): draw(yaml_values)}
    return recipe


def _check_recipe_outcome(path: Path, data: bytes, overrides=None) -> None:
    try:
        recipe = load_recipe(path, overrides=overrides)
    except HfMtlError as error:
        assert isinstance(error, RecipeError), (type(error), error)
        message = str(error)
        if overrides is None or str(path) in message:
            check_error(error, path, data)
        else:  # an override that names no setting: the message names the override
            event("raised RecipeError (override)")
            assert any(str(o).split("=")[0].lstrip("-") in message for o in overrides), message
        return
    event("loaded")
    assert isinstance(recipe, Recipe)
    assert recipe.tasks and all(isinstance(task, TaskSpec) for task in recipe.tasks)


def _recipe_structured(tmp_path, mapping):
    data = yaml.safe_dump(mapping, allow_unicode=True).encode("utf-8")
    _check_recipe_outcome(fresh_file(tmp_path, ".yaml", data), data)


test_recipe_any_mapping_loads_or_raises_recipe_error, test_recipe_any_mapping_slow = default_and_slow(
    _recipe_structured,
    mapping=st.one_of(recipe_mappings(), mutated_recipes()),
)

yaml_pieces = st.sampled_from(["output_dir: out", "tasks:", "  - name: ner", "    type: token-classification",
                               "    train: data/x.txt", "training:", "  max_steps: 5", "model: {encoder: x}", "- ", ": ",
                               "[", "]", "{", "}", "&a ", "*a", "!!python/object/apply:os.system ['true']",
                               "!!binary AAAA", "!!set {a}", "%YAML 1.1", "---", "...", "\t", "'", '"', "|", ">", "#",
                               "?", "@", "`", "!", "<<: *a", "\ufeff", "\x00", "\x85"])


@st.composite
def yaml_texts(draw) -> bytes:
    lines = draw(st.lists(st.one_of(yaml_pieces, st.text(max_size=10),
                                    st.lists(yaml_pieces, max_size=3).map("".join)), max_size=10))
    data = "\n".join(lines).encode("utf-8", errors="surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        position = draw(st.integers(0, len(data)))
        data = data[:position] + draw(st.binary(min_size=1, max_size=3)) + data[position:]
    return data


def _recipe_text(tmp_path, data):
    _check_recipe_outcome(fresh_file(tmp_path, ".yaml", data), data)


test_recipe_any_text_loads_or_raises_recipe_error, test_recipe_any_text_slow = default_and_slow(
    _recipe_text,
    data=yaml_texts(),
)

override_texts = st.one_of(
    st.tuples(st.sampled_from(["max_steps", "--max_steps", "learning_rate", "tasks.ner.max_length", "model.encoder",
                               "tasks.pos.x", "training.seed", "output_dir", "nonsense", "tasks", "a.b.c.d", "--"]),
              st.sampled_from(["=", "=", " "]),
              st.one_of(st.sampled_from(["", "5", "[1", "{a: 1", "!!python/name:os.system", "'x", "- a", "1e-4",
                                         "*a", "&", ": :", "null"]), st.text(max_size=6))).map("".join),
    st.text(max_size=10),
)


def _recipe_overrides(tmp_path, overrides):
    data = yaml.safe_dump(VALID_RECIPE).encode("utf-8")
    _check_recipe_outcome(fresh_file(tmp_path, ".yaml", data), data, overrides=overrides)


test_recipe_any_override_loads_or_raises_recipe_error, test_recipe_any_override_slow = default_and_slow(
    _recipe_overrides,
    overrides=st.lists(override_texts, min_size=1, max_size=3),
)
