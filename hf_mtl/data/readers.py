"""Readers: turn one :class:`~hf_mtl.tasks.DataSource` into a raw, standardized ``datasets.Dataset``.

Raw columns (what every later step relies on):

- token tasks: ``words: list[str]``, ``tags: list[str]``
- text tasks: ``text: str``, optional ``text_pair: str``, ``label`` (``str`` single-label, ``list[str]``
  multi-label, ``float`` regression)

Labels are label *names* here (ClassLabel ids and ``label_map`` values already mapped); ids are given at
tokenization time. Readers never drop data silently: whatever they skip (``-DOCSTART-`` lines, comments,
CoNLL-U multi-word tokens and empty nodes) is counted, logged and returned in :attr:`RawSplit.notes`.

Example:

```python
>>> from hf_mtl.data.readers import read_conll
>>> ds = read_conll("recipes/data/conll2003_validation.txt")
>>> ds[0]["words"][:3], ds[0]["tags"][:3]
(['CRICKET', '-', 'LEICESTERSHIRE'], ['O', 'O', 'B-ORG'])
```
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
from conllu.parser import parse_id_value

from ..errors import DataError, did_you_mean
from ..tasks import IN_MEMORY_FORMAT, DataSource, TaskSpec
from .dataset_objects import read_dataset_object

logger = logging.getLogger("hf_mtl")

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

_KEY_VALUE_COMMENT = re.compile(r"^#\s*\w[\w .-]*=")


@dataclass
class RawSplit:
    """One standardized split plus what reading it found.

    Attributes:
        dataset: The raw split (see the module docstring for its columns).
        label_names: Label names in id order when the source declares them (a ClassLabel feature), else None.
        notes: Human-readable notes about anything skipped or converted, e.g. ``"skipped 15 -DOCSTART- lines"``.
        lines: CoNLL/CoNLL-U files: the line each example (sentence) starts on, for errors that name ``file:line``.
    """

    dataset: datasets.Dataset
    label_names: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    lines: list[int] | None = None


# A tag column of these on every word of a sentence: the sentence has no tags for that column (a task group's
# partial labels; an error for a task of its own).
PLACEHOLDER_TAGS = ("-", "_", "")


# --------------------------------------------------------------------------------------------- files
def check_file(path: str | Path, what: str = "data file") -> Path:
    """Raise :class:`DataError` unless ``path`` is an existing file; return it as a ``Path``."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} {str(p)!r} does not exist (resolved: {p.resolve()}); check the path in the recipe")
    if not p.is_file():
        raise DataError(f"{what} {str(p)!r} is not a file")
    return p


def read_text_file(path: str | Path, encoding: str = "utf-8") -> str:
    """Read a whole text file, turning decoding failures into a :class:`DataError` with the byte offset.

    A UTF-8 byte-order mark at the start of the file is dropped (it is not part of the first word).

    Example:

    ```python
    >>> read_text_file("recipes/data/sst2_validation.tsv")[:17]
    'sentence\\tlabel\\nit'
    ```
    """
    p = check_file(path)
    data = p.read_bytes()
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"{p}: unknown encoding {encoding!r} (set `encoding:` to e.g. utf-8 or latin-1)") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        bad = data[err.start : err.start + 4]
        raise DataError(
            f"{p} is not valid {encoding}: byte {bad[:1]!r} at offset {err.start} (line {line}) cannot be decoded "
            f"({err.reason}); set `encoding:` on this data source (e.g. `encoding: latin-1` or `cp1252`)"
        ) from None
    # A byte-order mark (as Windows tools write) is not part of the first word.
    return text[1:] if codec.name == "utf-8" and text.startswith("\ufeff") else text


def _lines(text: str) -> list[str]:
    """The file's lines as an editor numbers them: split at ``\n`` (``\r\n`` too; a lone ``\r`` only in files
    without any ``\n``). Unlike ``str.splitlines``, characters such as U+2028 or ``\x85`` inside a word do not
    split a line, so line numbers in errors match the file."""
    if "\n" not in text and "\r" in text:
        return text.split("\r")
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def _fields(line: str) -> list[str]:
    if "\t" in line:
        return [f.strip() for f in line.split("\t")]
    return line.split()


def _note(notes: list[str], path: Any, message: str) -> None:
    notes.append(message)
    logger.info("%s: %s", path, message)


# --------------------------------------------------------------------------------------------- CoNLL
def _read_conll(path: str | Path, tag_column: int = -1, word_column: int | None = None,
                encoding: str = "utf-8", allow_missing: bool = False) -> RawSplit:
    text = read_text_file(path, encoding)
    lines = _lines(text)
    # the layout (number of columns) is taken from the first token line
    expected: int | None = None
    first_line = 0
    tabbed = False
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.startswith("#") and _fields(line)[0] != "-DOCSTART-":
            expected, first_line, tabbed = len(_fields(line)), number, "\t" in line
            break
    if expected is None:
        raise DataError(f"{path}: no token lines found ({len(lines)} lines read); expected one token a line, "
                        "columns separated by spaces or tabs, a blank line between sentences")
    if expected < 2:
        raise DataError(f"{path}:{first_line}: expected at least 2 columns (word and tag), found 1: {lines[first_line - 1]!r}")
    sentences: list[list[tuple[int, list[str]]]] = []
    current: list[tuple[int, list[str]]] = []
    docstarts = comments = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            if current:
                sentences.append(current)
                current = []
            continue
        parts = _fields(line)
        if parts[0] == "-DOCSTART-":
            docstarts += 1
            if current:
                sentences.append(current)
                current = []
            continue
        if line.startswith("#") and not current and (
            len(parts) != expected or tabbed != ("\t" in line) or _KEY_VALUE_COMMENT.match(line)
        ):
            comments += 1
            continue
        if len(parts) != expected:
            raise DataError(
                f"{path}:{number}: expected {expected} columns (as on line {first_line}), found {len(parts)}: {line!r}"
                + (f"; the tag is read from column {tag_column}" if len(parts) < expected else "")
            )
        current.append((number, parts))
    if current:
        sentences.append(current)
    if not sentences:
        raise DataError(f"{path}: no sentences found ({len(lines)} lines read)")

    if word_column is None:
        # a first column that counts 1, 2, 3, ... in every sentence is a token index (UNER .iob2, CoNLL-U-like)
        is_index = expected >= 3 and all(
            parts[0] == str(i) for sentence in sentences for i, (_, parts) in enumerate(sentence, 1)
        )
        word_column = 1 if is_index else 0
    for name, column in (("word_column", word_column), ("tag_column", tag_column)):
        if not -expected <= column < expected:
            raise DataError(f"{path}:{first_line}: `{name}: {column}` is out of range: the file has {expected} columns")
    if word_column % expected == tag_column % expected:
        raise DataError(f"{path}: `word_column` and `tag_column` both point at column {word_column % expected}")
    words: list[list[str]] = []
    tags: list[list[str] | None] = []
    for sentence in sentences:
        sentence_tags: list[str] | None = [parts[tag_column] for _, parts in sentence]
        if allow_missing and all(tag in PLACEHOLDER_TAGS for tag in sentence_tags):
            sentence_tags = None  # no tags for this sentence (partial labels of a task group)
        for (number, parts), tag in zip(sentence, sentence_tags or [None] * len(sentence), strict=True):
            if tag in PLACEHOLDER_TAGS:
                raise DataError(
                    f"{path}:{number}: column {tag_column} holds {tag!r}, a placeholder, not a tag: {'  '.join(parts)!r}; "
                    f"set `tag_column:` to the tag column (for UNER .iob2 files `id word tag - -`: tag_column: 2)"
                )
            if not parts[word_column]:
                raise DataError(f"{path}:{number}: column {word_column} (the word) is empty: {lines[number - 1]!r}")
        words.append([parts[word_column] for _, parts in sentence])
        tags.append(sentence_tags)
    notes: list[str] = []
    _note(notes, path, f"read {len(sentences)} sentences, {sum(map(len, words))} tokens "
                       f"(word column {word_column}, tag column {tag_column})")
    if docstarts:
        _note(notes, path, f"skipped {docstarts} -DOCSTART- lines")
    if comments:
        _note(notes, path, f"skipped {comments} comment lines")
    ds = datasets.Dataset.from_dict({"words": words, "tags": tags})
    return RawSplit(ds, None, notes, [sentence[0][0] for sentence in sentences])


def read_conll(path: str | Path, tag_column: int = -1, word_column: int | None = None,
               encoding: str = "utf-8") -> datasets.Dataset:
    """Read a CoNLL column file (CoNLL-2003, IOB2, UNER ``.iob2``) into ``words``/``tags`` columns.

    One token a line, columns separated by tabs (when the line has a tab) or runs of spaces, a blank line
    between sentences. ``-DOCSTART-`` lines are skipped, and so are comment lines: lines starting with ``#``
    at the start of a sentence that either look like ``# key = value`` or have another number of columns
    than the token lines. Every token line must have as many columns as the first one.

    Args:
        path: The file.
        tag_column: Column index of the tag; negative counts from the end (-1: last).
        word_column: Column index of the word; ``None``: 0, or 1 when the first column is a 1-based token
            index in every sentence (as in UNER ``.iob2`` files, whose tag is then ``tag_column: 2``).
        encoding: The file's encoding.

    Raises:
        DataError: naming ``file:line`` for malformed lines, placeholder tags (``-``, ``_``), bad encoding.

    Example:

    ```python
    >>> ds = read_conll("recipes/data/uner_en_ewt_validation.iob2", tag_column=2)
    >>> ds.num_rows
    200
    ```
    """
    return _read_conll(path, tag_column, word_column, encoding).dataset


def _read_conllu(path: str | Path, tag_column: str = "upos", encoding: str = "utf-8",
                 allow_missing: bool = False) -> RawSplit:
    if tag_column not in ("upos", "xpos"):
        raise DataError(f"{path}: for CoNLL-U the tag column must be 'upos' or 'xpos', not {tag_column!r}")
    text = read_text_file(path, encoding)
    words: list[list[str]] = []
    tags: list[list[str] | None] = []
    starts: list[int] = []
    multiword = empty_nodes = 0
    first_skipped: dict[str, str] = {}  # the first multi-word token / empty node, quoted in the notes
    block: list[tuple[int, str]] = []
    lines = _lines(text)

    def flush() -> None:
        nonlocal multiword, empty_nodes
        sent_id = next((line.split("=", 1)[1].strip() for _, line in block
                        if line.startswith("#") and line[1:].split("=", 1)[0].strip() == "sent_id" and "=" in line), None)
        token_lines = [(n, line) for n, line in block if not line.startswith("#")]
        if not token_lines:
            block.clear()
            return
        for number, line in token_lines:
            n_cols = len(line.split("\t"))
            if n_cols != 10:
                raise DataError(f"{path}:{number}: expected 10 tab-separated CoNLL-U columns, found {n_cols}: {line!r}")
        sentence_words: list[str] = []
        sentence_tags: list[str] = []
        column = 3 if tag_column == "upos" else 4
        # partial labels of a task group: no tag on any word of the sentence
        missing = allow_missing and all(line.split("\t")[column] in PLACEHOLDER_TAGS for _, line in token_lines)
        for number, line in token_lines:
            # split on tabs only: conllu's own line parser also splits on runs of 2+ spaces, which shifts the
            # columns of a FORM or LEMMA such as "New  York" (the UPOS read would be another column's value)
            fields = line.split("\t")
            try:
                token_id = parse_id_value(fields[0])
            except Exception as err:  # conllu's ParseException
                raise DataError(f"{path}:{number}: the ID column holds {fields[0]!r}, not a token ID ({err}): {line!r}") from None
            if isinstance(token_id, tuple):
                kind = "multiword" if len(token_id) == 3 and token_id[1] == "-" else "empty"
                if kind == "multiword":
                    multiword += 1
                else:
                    empty_nodes += 1
                in_sentence = f" in sentence {sent_id!r}" if sent_id else ""
                first_skipped.setdefault(kind, f"{fields[0]!r} at line {number}{in_sentence}")
                continue
            if token_id is None:
                raise DataError(f"{path}:{number}: the ID column is empty ('_' or ''): {line!r}")
            form, tag = fields[1], fields[column]
            if tag in ("_", "") and not missing:
                raise DataError(f"{path}:{number}: token {form!r} has no {tag_column.upper()} ('_'): {line!r}")
            if not form:
                raise DataError(f"{path}:{number}: the FORM column (the word) is empty: {line!r}")
            sentence_words.append(form)
            sentence_tags.append(tag)
        if sentence_words:  # a block of only multi-word tokens or empty nodes has no word to tag
            words.append(sentence_words)
            tags.append(None if missing else sentence_tags)
            starts.append(token_lines[0][0])
        block.clear()

    for number, line in enumerate(lines, 1):
        if line.strip():
            block.append((number, line))
        else:
            flush()
    flush()
    if not words:
        raise DataError(f"{path}: no sentences found ({len(lines)} lines read)")
    notes: list[str] = []
    _note(notes, path, f"read {len(words)} sentences, {sum(map(len, words))} words ({tag_column.upper()})")
    if multiword:
        _note(notes, path, f"skipped {multiword} multi-word token lines (first: {first_skipped['multiword']}); "
                           "their words are kept")
    if empty_nodes:
        _note(notes, path, f"skipped {empty_nodes} empty nodes (first: {first_skipped['empty']})")
    return RawSplit(datasets.Dataset.from_dict({"words": words, "tags": tags}), None, notes, starts)


def read_conllu(path: str | Path, tag_column: str = "upos", encoding: str = "utf-8") -> datasets.Dataset:
    """Read a CoNLL-U file (with the ``conllu`` package) into ``words``/``tags`` columns.

    Multi-word token lines (``1-2``) and empty nodes (``8.1``) are skipped (and counted): the syntactic
    words they span are the ones tagged.

    Args:
        path: The file.
        tag_column: ``"upos"`` or ``"xpos"``.
        encoding: The file's encoding.

    Example:

    ```python
    >>> ds = read_conllu("recipes/data/ud_en_ewt_validation.conllu")
    >>> ds[0]["tags"][:3]
    ['ADP', 'DET', 'PROPN']
    ```
    """
    return _read_conllu(path, tag_column, encoding).dataset


# --------------------------------------------------------------------------------------------- tables
def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), (
        "null" if value is None else "a number"))


_NO_ROWS = "no data rows (only a header, or an empty file): the split is empty"


def _check_json_lines(path: Path, text: str) -> None:
    if not text.strip():
        raise DataError(f"{path}: {_NO_ROWS}")
    for number, line in enumerate(_lines(text), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            raise DataError(f"{path}:{number}: not valid JSON ({err}); JSON Lines hold one JSON object a line") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object (a record), found {_json_kind(record)}: {line[:80]!r}")
        for name, value in record.items():  # 1e400 reads as inf here, and stops pyarrow's reader without a field name
            if isinstance(value, float) and math.isinf(value) and "Infinity" not in line:
                raise DataError(f"{path}:{number}: field {name!r}: the number is too large for a 64-bit float")


def _check_json(path: Path, text: str, field_name: str | None) -> None:
    """Check the records of a JSON/JSONL file before datasets reads it (its reader crashes the process on some
    inputs, e.g. a first line ``null``, and silently turns a list of numbers into a ``text`` column)."""
    if not text.strip():
        raise DataError(f"{path}: {_NO_ROWS}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data" and field_name is None:  # JSON Lines in a .json file, as datasets allows
            _check_json_lines(path, text)
            return
        raise DataError(f"{path}:{err.lineno}: not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
    if field_name is not None:
        if not isinstance(document, dict) or field_name not in document:
            keys = ", ".join(map(str, document)) if isinstance(document, dict) else _json_kind(document)
            raise DataError(f"{path}: `field: {field_name}` names no key of the file's top-level object (found: {keys})")
        document = document[field_name]
        if not isinstance(document, list):
            raise DataError(f"{path}: `field: {field_name}` holds {_json_kind(document)}, expected a list of records")
    if isinstance(document, list):
        if not document:
            raise DataError(f"{path}: {_NO_ROWS}")
        for index, record in enumerate(document):
            if not isinstance(record, dict):
                where = f"{field_name}[{index}]" if field_name else f"record {index}"
                raise DataError(f"{path}: {where} is {_json_kind(record)}, expected a JSON object (a record)")
    elif not isinstance(document, dict):
        raise DataError(f"{path}: the file holds {_json_kind(document)}; expected a list of JSON objects (records)")


def _records(path: Path, reader: Any) -> Any:
    try:
        yield from reader
    except csv.Error as err:
        raise DataError(f"{path}:{reader.line_num}: cannot split this line into fields: {err}") from None


def _unique_names(names: list[str]) -> list[str]:
    """Header names as pandas gives them (what earlier hf_mtl versions read): ``Unnamed: i`` for an empty name,
    ``name.1``, ``name.2`` for repeats."""
    out: list[str] = []
    for index, name in enumerate(names):
        name = name or f"Unnamed: {index}"
        base, count = name, 0
        while name in out:
            count += 1
            name = f"{base}.{count}"
        out.append(name)
    return out


def _read_delimited(path: Path, text: str, source: DataSource) -> datasets.Dataset:
    """CSV/TSV records with Python's ``csv`` module: every value the string written (no type guessing), a record
    with more fields than there are columns an error naming its line, missing trailing fields null."""
    delimiter = "\t" if source.format == "tsv" else ","
    quoting = csv.QUOTE_NONE if source.format == "tsv" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    records = ((reader.line_num, record) for record in _records(path, reader) if record)  # blank lines are skipped
    header_line, header = next(records, (0, [])) if source.has_header else (0, [])
    for name in header:
        if "\x00" in name:  # Arrow cuts column names at NUL
            raise DataError(f"{path}:{header_line}: the header's column name {name!r} holds a NUL character")
    if not source.has_header and not source.column_names:
        first = next(records, (0, []))[1]
        raise DataError(
            f"{path}: `has_header: false` needs `column_names:` (the file's first line has {len(first)} columns), "
            f"e.g. column_names: [label, title, description]"
        )
    names = _unique_names(list(source.column_names or header))
    columns: dict[str, list[str | None]] = {name: [] for name in names}
    for line, record in records:
        if len(record) > len(names):
            what = "`column_names` names" if source.column_names else "the header names"
            raise DataError(
                f"{path}:{line}: {len(record)} fields, but {what} {len(names)} columns: {record[:len(names) + 2]}; "
                f"is there a stray {delimiter!r} in the text? " + (
                    "TSV files have no quoting: remove tabs from the text" if delimiter == "\t"
                    else "quote fields that contain commas"
                )
            )
        for index, name in enumerate(names):
            columns[name].append(record[index] if index < len(record) else None)
    if not names or not columns[names[0]]:
        raise DataError(f"{path}: {_NO_ROWS}")
    features = datasets.Features({name: datasets.Value("string") for name in names})
    return datasets.Dataset.from_dict(columns, features=features)


def read_table(source: DataSource) -> datasets.Dataset:
    """Read a CSV/TSV/JSON/JSONL file, as written.

    CSV/TSV are read with Python's ``csv`` module: ``has_header: false`` needs ``column_names``; TSV has no
    quoting (as GLUE writes it); every value is the string written (``NA``, ``null``, ``007`` and ``1e5`` stay
    as they are); a record with more fields than the header is a :class:`DataError` naming its line; blank lines
    are skipped. JSON/JSONL are read with datasets' ``json`` builder after their records are checked (a line or
    record that is not a JSON object is a :class:`DataError` naming it); ``field`` names the key holding the
    records in a JSON object file, and a ``.json`` file may also hold JSON Lines.
    """
    path = check_file(source.path)
    text = read_text_file(path, source.encoding)  # a clear error for a wrong encoding, before datasets sees it
    if source.format in ("csv", "tsv"):
        return _read_delimited(path, text, source)
    if source.format == "jsonl":
        _check_json_lines(path, text)
    else:
        _check_json(path, text, source.field)
    kwargs: dict[str, Any] = {"encoding": source.encoding}
    if source.field:
        kwargs["field"] = source.field
    try:
        return datasets.load_dataset("json", data_files={"train": str(path)}, split="train", **kwargs)
    except Exception as err:
        cause = err.__cause__ or err.__context__ or err
        if "corresponds to no data" in str(err) or "corresponds to no data" in str(cause):
            raise DataError(f"{path}: {_NO_ROWS}") from None
        raise DataError(f"{path}: cannot read as {source.format}: {type(cause).__name__}: {cause}") from None


def read_parquet(source: DataSource) -> datasets.Dataset:
    """Read a parquet file, or every ``*.parquet`` file of a folder (in name order), with pyarrow.

    The features datasets writes into a parquet file's metadata (``Dataset.to_parquet``) come back, so
    ClassLabel columns keep their names.

    Raises:
        DataError: a missing path, a folder without ``.parquet`` files, a file that is not parquet, files whose
            columns differ.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(source.path)  # type: ignore[arg-type]
    if path.is_dir():
        files = sorted(p for p in path.glob("*.parquet") if p.is_file())
        if not files:
            raise DataError(f"{path}: a folder without .parquet files; point at one split's .parquet file(s)")
    else:
        files = [check_file(path)]
    tables = []
    for file in files:
        try:
            tables.append(pq.read_table(file))
        except Exception as err:
            raise DataError(f"{file}: cannot read as parquet: {type(err).__name__}: {err}") from None
    try:
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    except Exception as err:
        raise DataError(f"{path}: its .parquet files have different columns ({type(err).__name__}: {err})") from None
    if table.num_rows == 0:
        raise DataError(f"{path}: {_NO_ROWS}")
    return datasets.Dataset(table)


def read_hub(source: DataSource, split: str) -> datasets.Dataset:
    """``datasets.load_dataset(name, config, split=split)`` with a clear error when it fails."""
    split = source.split or split
    try:
        return datasets.load_dataset(source.name, source.config, split=split)
    except Exception as err:
        raise DataError(
            f"cannot load {source.describe()} split {split!r}: {type(err).__name__}: {err}. "
            "Without network access, use a local file or `format: disk` (a folder written by save_to_disk)"
        ) from None


def read_disk(source: DataSource, split: str) -> datasets.Dataset:
    """``datasets.load_from_disk(path)``; for a saved ``DatasetDict``, the split ``source.split or split``."""
    path = Path(source.path)
    if not path.exists():
        raise DataError(f"saved dataset folder {str(path)!r} does not exist (resolved: {path.resolve()})")
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as err:
        raise DataError(f"{path}: not a dataset written by save_to_disk: {type(err).__name__}: {err}") from None
    if isinstance(loaded, datasets.DatasetDict):
        wanted = source.split or split
        if wanted not in loaded:
            raise DataError(f"{path}: no split {wanted!r}; the saved DatasetDict has {', '.join(loaded)} (set `split:`)")
        return loaded[wanted]
    return loaded


# --------------------------------------------------------------------------------------------- standardize
def _key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(value: Any) -> str:
    """A value for a message: a number read from a table as text shows as the number it is."""
    return value if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) else repr(value)


def _class_label_names(feature: Any) -> list[str] | None:
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.ClassLabel):
        return list(inner.names)
    return None


class _LabelNamer:
    """Raw label value -> label name: ClassLabel id -> name, then ``label_map`` (keys compared as strings)."""

    def __init__(self, spec: TaskSpec, class_names: list[str] | None, where: str):
        self.class_names = class_names
        self.map = {_key(k): v for k, v in spec.label_map.items()} if spec.label_map else None
        self.where = where
        self.task = spec.name

    def __call__(self, raw: Any, row: int) -> str:
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            raise DataError(f"{self.where}, row {row}: the label is empty (null)")
        if isinstance(raw, str) and not raw.strip():  # an empty cell would otherwise become a class named ""
            raise DataError(f"{self.where}, row {row}: the label is empty ({raw!r}); every example needs a label")
        name = None
        if self.class_names is not None and isinstance(raw, int) and not isinstance(raw, bool):
            if not 0 <= raw < len(self.class_names):
                raise DataError(f"{self.where}, row {row}: label id {raw} is outside the ClassLabel names {self.class_names}")
            name = self.class_names[raw]
        if self.map is not None:
            for candidate in (raw, name):
                if candidate is not None and _key(candidate) in self.map:
                    return self.map[_key(candidate)]
            raise DataError(
                f"{self.where}, row {row}: label {_shown(raw)} is not a key of `label_map` (keys: {', '.join(self.map)})"
            )
        return name if name is not None else _key(raw)


def _require_columns(ds: datasets.Dataset, columns: list[str], where: str) -> None:
    for column in columns:
        if column not in ds.column_names:
            raise DataError(
                f"{where}: no column {column!r}{did_you_mean(column, ds.column_names)}; the columns are {', '.join(ds.column_names)} "
                "(set `text_column` / `text_pair_column` / `label_column`, or `column_names` for a headerless file)"
            )


def _standardize_tokens(ds: datasets.Dataset, spec: TaskSpec, where: str) -> RawSplit:
    _require_columns(ds, [spec.text_column, spec.label_column], where)
    class_names = _class_label_names(ds.features[spec.label_column])
    namer = _LabelNamer(spec, class_names, where)
    words_out: list[list[str]] = []
    tags_out: list[list[str] | None] = []
    for row, (words, tags) in enumerate(zip(ds[spec.text_column][:], ds[spec.label_column][:], strict=True), 1):
        if spec.group is not None and isinstance(words, list) and (
            tags is None or isinstance(tags, list) and tags and all(t is None or t in PLACEHOLDER_TAGS for t in tags)
        ):
            words_out.append([str(w) for w in words])
            tags_out.append(None)  # partial labels of a task group: no tags for this example
            continue
        if not isinstance(words, list) or not isinstance(tags, list):
            raise DataError(f"{where}, row {row}: a token task needs lists of words and tags in "
                            f"{spec.text_column!r} / {spec.label_column!r}, got {type(words).__name__} / {type(tags).__name__}")
        if len(words) != len(tags):
            raise DataError(f"{where}, row {row}: {len(words)} words but {len(tags)} tags")
        words_out.append([str(w) for w in words])
        tags_out.append([namer(t, row) for t in tags])
    names = [namer(i, 0) for i in range(len(class_names))] if class_names else None
    return RawSplit(datasets.Dataset.from_dict({"words": words_out, "tags": tags_out}), names, [])


def _standardize_text(ds: datasets.Dataset, source: DataSource, spec: TaskSpec, where: str) -> RawSplit:
    text_columns = spec.text_column if isinstance(spec.text_column, list) else [spec.text_column]
    needed = text_columns + ([spec.text_pair_column] if spec.text_pair_column else []) + [spec.label_column]
    _require_columns(ds, needed, where)
    line_offset = 1 if source.format in ("csv", "tsv") and source.has_header else 0

    def at(row: int) -> str:
        return f"row {row}" + (f" (line {row + line_offset})" if source.format in ("csv", "tsv") else "")

    def text_of(columns: list[str], values: list[Any], row: int) -> str:
        for column, value in zip(columns, values, strict=True):
            if value is None:
                raise DataError(f"{where}, {at(row)}: column {column!r} is empty (null)")
        return " ".join(str(v) for v in values)

    class_names = _class_label_names(ds.features[spec.label_column])
    namer = _LabelNamer(spec, class_names, where)
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
            try:
                value = float(raw)
            except (TypeError, ValueError, OverflowError):
                value = None
            if value is None:
                raise DataError(
                    f"{where}, {at(row)}: regression target {raw!r} in column {spec.label_column!r} is not a number"
                )
            if not math.isfinite(value):  # inf, 1e400 (read as inf) or nan: the loss and every weight become NaN
                raise DataError(
                    f"{where}, {at(row)}: regression target {raw!r} in column {spec.label_column!r} is not a finite "
                    "number"
                )
            out["label"].append(value)
        elif spec.is_multi_label:
            if isinstance(raw, str):
                if spec.label_separator is None:
                    raise DataError(
                        f"{where}, {at(row)}: multi-label column {spec.label_column!r} holds the string {raw!r}; "
                        "set `label_separator:` (e.g. '|') or store a list of labels (JSON)"
                    )
                parts = [p.strip() for p in raw.split(spec.label_separator) if p.strip()]
            elif isinstance(raw, list):
                parts = raw
            elif raw is None:
                parts = []
            else:
                raise DataError(f"{where}, {at(row)}: multi-label value {raw!r} is neither a list nor a delimited string")
            out["label"].append([namer(p, row) for p in parts])
        elif spec.group is not None and (raw is None or raw == ""):
            out["label"].append(None)  # partial labels of a task group: an empty cell
        else:
            out["label"].append(namer(raw, row))
    names = [namer(i, 0) for i in range(len(class_names))] if class_names else None
    if spec.is_regression:
        names = None
    return RawSplit(datasets.Dataset.from_dict(out), names, [])


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
    if fmt == "conll":
        if not spec.is_token_task:
            raise DataError(f"{where}: CoNLL files hold token tags; task type is {spec.type!r}")
        raw = _read_conll(source.path, source.tag_column, source.word_column, source.encoding,  # type: ignore[arg-type]
                          allow_missing=spec.group is not None)
        result = _apply_token_label_map(raw, spec, where)
    elif fmt == "conllu":
        if not spec.is_token_task:
            raise DataError(f"{where}: CoNLL-U files hold token tags; task type is {spec.type!r}")
        raw = _read_conllu(source.path, str(source.tag_column), source.encoding,  # type: ignore[arg-type]
                           allow_missing=spec.group is not None)
        result = _apply_token_label_map(raw, spec, where)
    else:
        stream_note = None
        if fmt in ("csv", "tsv", "json", "jsonl"):
            ds = read_table(source)
        elif fmt == "parquet":
            ds = read_parquet(source)
        elif fmt == "hub":
            ds = read_hub(source, split)
        elif fmt == IN_MEMORY_FORMAT:
            taken = read_dataset_object(source, spec, split)
            ds, stream_note = taken.dataset, taken.note
        else:
            ds = read_disk(source, split)
        result = _standardize_tokens(ds, spec, where) if spec.is_token_task else _standardize_text(ds, source, spec, where)
        if stream_note:
            result.notes.append(stream_note)
        _note(result.notes, source.path or source.name or source.describe(), f"read {ds.num_rows} rows")
    rows = source.row_slice()
    if rows is not None:
        total = result.dataset.num_rows
        kept = range(total)[rows]
        result.dataset = result.dataset.select(kept)
        result.lines = [result.lines[i] for i in kept] if result.lines is not None else None
        _note(result.notes, source.path or source.name or source.describe(),
              f"kept rows {source.rows} ({len(kept)} of {total} examples)")
    if result.dataset.num_rows == 0:
        raise DataError(f"{where}: the split is empty (0 examples)")
    return result


def _apply_token_label_map(raw: RawSplit, spec: TaskSpec, where: str) -> RawSplit:
    if not spec.label_map:
        return raw
    namer = _LabelNamer(spec, None, where)
    tags = [None if sentence is None else [namer(t, row) for t in sentence]
            for row, sentence in enumerate(raw.dataset["tags"][:], 1)]
    raw.dataset = raw.dataset.remove_columns("tags").add_column("tags", tags)
    return raw
