"""Readers: turn one :class:`~hf_mtl.data.sources.DataSource` into a raw, standardized split (:class:`RawSplit`).

The file formats have their own modules (:mod:`.conll`, :mod:`.tables`, :mod:`.dataset_objects`); this one picks
the reader for a source and standardizes what it read into the raw columns described in :mod:`.raw`
(names, ClassLabel ids and ``label_map`` applied; regression targets and multi-label lists checked).
"""

from __future__ import annotations

import math
import re
from typing import Any

import datasets

from ..modeling.errors import DataError, did_you_mean
from ..modeling.task_kinds import task_kind
from .conll import read_conll, read_conll_split, read_conllu, read_conllu_split
from .dataset_objects import read_dataset_object
from .line_formats import LINE_FORMATS, read_line_format
from .raw import PLACEHOLDER_TAGS, RawSplit, add_note, brief, check_file, read_text_file
from .raw_text import read_raw_text
from .sources import IN_MEMORY_FORMAT, DataSource
from .tables import read_disk, read_hub, read_parquet, read_table, read_table_lines
from .tasks import TaskSpec

__all__ = [
    "RawSplit",
    "check_file",
    "read_text_file",
    "read_conll",
    "read_conllu",
    "read_table",
    "read_parquet",
    "read_hub",
    "read_disk",
    "read_split",
]


# --------------------------------------------------------------------------------------------- standardize
def _key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(value: Any) -> str:
    """A value for a message: a number read from a table as text shows as the number it is."""
    return value if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) else repr(value)


def _kind(value: Any) -> str:
    return {list: "a list", dict: "a mapping", bool: "a boolean"}.get(type(value), type(value).__name__)


def _at(row: int, lines: list[int] | None) -> str:
    """``row 3 (line 4)``: the row, and the file's line it starts on when known."""
    return f"row {row}" + (f" (line {lines[row - 1]})" if lines is not None and 0 < row <= len(lines) else "")


def check_word(word: Any, where: str) -> str:
    """A word as text: a number keeps its digits; null, a list or a mapping, and an empty or blank word are
    errors (the rule of the CoNLL readers, for every reader)."""
    if isinstance(word, (int, float)) and not isinstance(word, bool):
        return str(word)
    if not isinstance(word, str):
        what = "null" if word is None else f"{_kind(word)} ({brief(word)})"
        raise DataError(f"{where} is {what}; a word is text")
    if not word.strip():
        raise DataError(f"{where} is empty ({word!r}); every word needs at least one visible character")
    return word


def _class_label_names(feature: Any) -> list[str] | None:
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.ClassLabel):
        return list(inner.names)
    return None


class _LabelNamer:
    """Raw label value -> label name: ClassLabel id -> name, then ``label_map`` (keys compared as strings)."""

    def __init__(self, spec: TaskSpec, class_names: list[str] | None, where: str, lines: list[int] | None = None):
        self.class_names = class_names
        self.map = {_key(k): v for k, v in spec.label_map.items()} if spec.label_map else None
        self.where = where
        self.task = spec.name
        self.lines = lines

    def __call__(self, raw: Any, row: int) -> str:
        at = f"{self.where}, {_at(row, self.lines)}"
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            raise DataError(f"{at}: the label is empty (null)")
        if isinstance(raw, str) and not raw.strip():  # an empty cell would otherwise become a class named ""
            raise DataError(f"{at}: the label is empty ({raw!r}); every example needs a label")
        if isinstance(raw, (list, dict, tuple)):  # its repr would become a class name
            raise DataError(f"{at}: the label is {_kind(raw)} ({brief(raw)}); expected one label (text or a number)")
        name = None
        if self.class_names is not None and isinstance(raw, int) and not isinstance(raw, bool):
            if not 0 <= raw < len(self.class_names):
                raise DataError(f"{at}: label id {raw} is outside the ClassLabel names {self.class_names}")
            name = self.class_names[raw]
        if self.map is not None:
            for candidate in (raw, name):
                if candidate is not None and _key(candidate) in self.map:
                    return self.map[_key(candidate)]
            raise DataError(
                f"{at}: label {_shown(raw)} is not a key of `label_map` (keys: {', '.join(self.map)})"
            )
        return name if name is not None else _key(raw)


def _require_columns(ds: datasets.Dataset, columns: list[str], where: str) -> None:
    for column in columns:
        if column not in ds.column_names:
            raise DataError(
                f"{where}: no column {column!r}{did_you_mean(column, ds.column_names)}; the columns are {', '.join(ds.column_names)} "
                "(set `text_column` / `text_pair_column` / `label_column`, or `column_names` for a headerless file)"
            )


def _words(words: list[Any], where: str) -> list[str]:
    if not words:
        raise DataError(f"{where}: the sentence has no words (an empty list); remove it")
    return [check_word(word, f"{where}, word {index}") for index, word in enumerate(words, 1)]


def _standardize_tokens(ds: datasets.Dataset, spec: TaskSpec, where: str, lines: list[int] | None = None) -> RawSplit:
    _require_columns(ds, [spec.text_column, spec.label_column], where)
    class_names = _class_label_names(ds.features[spec.label_column])
    namer = _LabelNamer(spec, class_names, where, lines)
    words_out: list[list[str]] = []
    tags_out: list[list[str] | None] = []
    for row, (words, tags) in enumerate(zip(ds[spec.text_column][:], ds[spec.label_column][:], strict=True), 1):
        if spec.group is not None and isinstance(words, list) and (
            tags is None or isinstance(tags, list) and tags and all(t is None or t in PLACEHOLDER_TAGS for t in tags)
        ):
            words_out.append(_words(words, f"{where}, {_at(row, lines)}, column {spec.text_column!r}"))
            tags_out.append(None)  # partial labels of a task group: no tags for this example
            continue
        if not isinstance(words, list) or not isinstance(tags, list):
            raise DataError(f"{where}, {_at(row, lines)}: a token task needs lists of words and tags in "
                            f"{spec.text_column!r} / {spec.label_column!r}, got {type(words).__name__} / {type(tags).__name__}")
        if len(words) != len(tags):
            raise DataError(f"{where}, {_at(row, lines)}: {len(words)} words but {len(tags)} tags")
        words_out.append(_words(words, f"{where}, {_at(row, lines)}, column {spec.text_column!r}"))
        tags_out.append([namer(t, row) for t in tags])
    names = [namer(i, 0) for i in range(len(class_names))] if class_names else None
    return RawSplit(datasets.Dataset.from_dict({"words": words_out, "tags": tags_out}), names, [], lines)


def _regression_target(raw: Any, spec: TaskSpec, where: str) -> float:
    """A regression target as a finite float, or a :class:`DataError` naming ``where``."""
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{where}: regression target {raw!r} in column {spec.label_column!r} is not a number") from None
    if not math.isfinite(value):  # inf, 1e400 (read as inf) or nan: the loss and every weight become NaN
        raise DataError(
            f"{where}: regression target {raw!r} in column {spec.label_column!r} is not a finite number"
        )
    return value


def _label_list(raw: Any, spec: TaskSpec, where: str) -> list[Any]:
    """A multi-label cell as a list: a list as it is, a string split at ``label_separator``, null as no labels."""
    if isinstance(raw, str):
        if spec.label_separator is None:
            raise DataError(
                f"{where}: multi-label column {spec.label_column!r} holds the string {raw!r}; "
                "set `label_separator:` (e.g. '|') or store a list of labels (JSON)"
            )
        return [p.strip() for p in raw.split(spec.label_separator) if p.strip()]
    if isinstance(raw, list):
        return raw
    if raw is None:
        return []
    raise DataError(f"{where}: multi-label value {raw!r} is neither a list nor a delimited string")


def _standardize_text(ds: datasets.Dataset, spec: TaskSpec, where: str, lines: list[int] | None = None) -> RawSplit:
    text_columns = spec.text_column if isinstance(spec.text_column, list) else [spec.text_column]
    needed = text_columns + ([spec.text_pair_column] if spec.text_pair_column else []) + [spec.label_column]
    _require_columns(ds, needed, where)

    def at(row: int) -> str:
        return _at(row, lines)

    def text_of(columns: list[str], values: list[Any], row: int) -> str:
        for column, value in zip(columns, values, strict=True):
            if value is None:
                raise DataError(f"{where}, {at(row)}: column {column!r} is empty (null)")
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):  # its repr would be the text
                raise DataError(f"{where}, {at(row)}: column {column!r} holds {_kind(value)} ({brief(value)}); "
                                "expected text")
        return " ".join(str(v) for v in values)

    class_names = _class_label_names(ds.features[spec.label_column])
    namer = _LabelNamer(spec, class_names, where, lines)
    text_values = [ds[c][:] for c in text_columns]
    out: dict[str, list[Any]] = {"text": []}
    if spec.text_pair_column:
        out["text_pair"] = []
        pair_values = ds[spec.text_pair_column][:]
    out["label"] = []
    for i, raw in enumerate(ds[spec.label_column][:]):
        row = i + 1
        out["text"].append(text_of(text_columns, [v[i] for v in text_values], row))
        if spec.text_pair_column:
            out["text_pair"].append(text_of([spec.text_pair_column], [pair_values[i]], row))
        if spec.is_regression:
            out["label"].append(_regression_target(raw, spec, f"{where}, {at(row)}"))
        elif spec.is_multi_label:
            out["label"].append([namer(p, row) for p in _label_list(raw, spec, f"{where}, {at(row)}")])
        elif spec.group is not None and (raw is None or raw == ""):
            out["label"].append(None)  # partial labels of a task group: an empty cell
        else:
            out["label"].append(namer(raw, row))
    names = [namer(i, 0) for i in range(len(class_names))] if class_names else None
    if spec.is_regression:
        names = None
    return RawSplit(datasets.Dataset.from_dict(out), names, [], lines)


def _conllu_column(spec: TaskSpec, source: DataSource, where: str) -> str:
    """The CoNLL-U column a task reads: ``tag_column`` when the task kind allows it, else the kind's own."""
    allowed = task_kind(spec.type).conllu_columns
    column = str(source.tag_column)
    if column == "upos" and "upos" not in allowed:  # "upos" is the format's default: the kind's own comes first
        return allowed[0]
    if column not in allowed:
        raise DataError(f"{where}: {spec.type} tasks read the CoNLL-U column(s) {list(allowed)}, not {column!r}")
    return column


def read_split(source: DataSource, spec: TaskSpec, split: str) -> RawSplit:
    """Read and standardize one split of ``spec`` from ``source``.

    Args:
        source: Where the split comes from.
        spec: The task (its type, columns, label options).
        split: ``"train"``, ``"validation"`` or ``"test"`` (names the split in errors; the default Hub /
            saved-DatasetDict split).

    A task of a group (``spec.group``) may lack labels on some examples: a sentence whose tag column holds only
    placeholders (``_``, ``-``), a null tag list, or an empty label cell of a single-label text task is read with
    ``tags`` / ``label`` ``None``.

    Raises:
        DataError: missing files, columns, malformed lines, bad labels or values, empty splits.
    """
    where = f"task {spec.name!r}, {split} split ({source.describe()})"
    fmt = source.format
    if task_kind(spec.type).raw_text:  # plain text (masked-lm): lines of a .txt file, CoNLL-U sentences, a column
        result = read_raw_text(source, spec, split,
                               lambda table, name: _read_table_source(table, spec, name)[:2])
    elif fmt == "conll":
        if not spec.is_token_task:
            raise DataError(
                f"{where}: CoNLL files hold token tags; task type is {spec.type!r}. A `.txt` file is read as CoNLL "
                "unless the source says otherwise: for a delimited file give `format: tsv` (or `csv`) or its `delimiter:` "
                "(e.g. `train: {path: data/train.txt, delimiter: \"\\t\"}`); for `LABEL text` lines `format: "
                "label_text` (docs/tasks.md)"
            )
        raw = read_conll_split(source.path, source.tag_column, source.word_column, source.encoding,  # type: ignore[arg-type]
                          allow_missing=spec.group is not None)
        result = _apply_token_label_map(raw, spec, where)
    elif fmt == "conllu":
        if not spec.is_token_task:
            raise DataError(f"{where}: CoNLL-U files hold token tags; task type is {spec.type!r}")
        raw = read_conllu_split(source.path, _conllu_column(spec, source, where), source.encoding,  # type: ignore[arg-type]
                           allow_missing=spec.group is not None)
        result = _apply_token_label_map(raw, spec, where)
    else:
        if "upos" not in task_kind(spec.type).conllu_columns:  # labels only CoNLL-U has (HEAD/DEPREL, LEMMA)
            raise DataError(f"{where}: {spec.type} tasks read CoNLL-U files (their HEAD/DEPREL or LEMMA columns); "
                            f"this source is {fmt}")
        stream_note, lines = None, None
        if fmt in LINE_FORMATS:
            if spec.is_token_task:
                raise DataError(f"{where}: format {fmt!r} holds one label per text; a {spec.type} task needs tags "
                                "per word (CoNLL, CoNLL-U or JSON lists)")
            ds, lines = read_line_format(source)
            ds = _as_spec_columns(ds, spec, where)
        else:
            ds, lines, stream_note = _read_table_source(source, spec, split)
        result = (_standardize_tokens if spec.is_token_task else _standardize_text)(ds, spec, where, lines)
        if stream_note:
            result.notes.append(stream_note)
        add_note(result.notes, source.path or source.name or source.describe(), f"read {ds.num_rows} rows")
    rows = source.row_slice()
    if rows is not None:
        total = result.dataset.num_rows
        kept = range(total)[rows]
        if not kept:  # datasets' select raises IndexError on a range that starts past the end
            raise DataError(f"{where}: `rows: {source.rows}` keeps no example: the split has {total} examples "
                            f"(rows are counted from 0)")
        result.dataset = result.dataset.select(kept)
        result.lines = [result.lines[i] for i in kept] if result.lines is not None else None
        add_note(result.notes, source.path or source.name or source.describe(),
              f"kept rows {source.rows} ({len(kept)} of {total} examples)")
    if result.dataset.num_rows == 0:
        raise DataError(f"{where}: the split is empty (0 examples)")
    _check_declared_labels(result, spec, where)
    return result


def _as_spec_columns(ds: datasets.Dataset, spec: TaskSpec, where: str) -> datasets.Dataset:
    """A line format's ``text`` / ``label`` columns under the task's ``text_column`` / ``label_column``."""
    if isinstance(spec.text_column, list) or spec.text_pair_column:
        raise DataError(f"{where}: this format holds one text per example; remove `text_pair_column` and give one "
                        "`text_column`")
    renames = {old: new for old, new in (("text", spec.text_column), ("label", spec.label_column)) if old != new}
    return ds.rename_columns(renames) if renames else ds


def _read_table_source(source: DataSource, spec: TaskSpec, split: str) -> tuple[datasets.Dataset, list[int] | None,
                                                                          str | None]:
    """A table-like source (csv/tsv/json/jsonl, parquet, Hub, saved or in-memory dataset) as it was read: its rows,
    each row's file line (delimited and JSON files) and a note on a streamed dataset."""
    fmt = source.format
    if fmt in ("csv", "tsv", "json", "jsonl"):
        return (*read_table_lines(source), None)
    if fmt == "parquet":
        return read_parquet(source), None, None
    if fmt == "hub":
        return read_hub(source, split), None, None
    if fmt == IN_MEMORY_FORMAT:
        taken = read_dataset_object(source, spec, split)
        return taken.dataset, None, taken.note
    return read_disk(source, split), None, None


def _check_declared_labels(result: RawSplit, spec: TaskSpec, where: str) -> None:
    """Every label read is one of the task's `labels:` (when given), or an error naming the row and line."""
    if not spec.labels or spec.is_regression:
        return
    declared = set(spec.labels)
    column = "tags" if spec.is_token_task else "label"
    for row, value in enumerate(result.dataset[column][:], 1):
        names = value if isinstance(value, list) else [value]
        for index, name in enumerate(names, 1):
            if name is not None and name not in declared:
                word = f", word {index}" if spec.is_token_task else ""
                raise DataError(f"{where}, {_at(row, result.lines)}{word}: label {name!r} is not one of the task's "
                                f"`labels` ({', '.join(spec.labels)}); add it there or fix the data")


def _apply_token_label_map(raw: RawSplit, spec: TaskSpec, where: str) -> RawSplit:
    if not spec.label_map:
        return raw
    namer = _LabelNamer(spec, None, where, raw.lines)
    tags = [None if sentence is None else [namer(t, row) for t in sentence]
            for row, sentence in enumerate(raw.dataset["tags"][:], 1)]
    raw.dataset = raw.dataset.remove_columns("tags").add_column("tags", tags)
    return raw
