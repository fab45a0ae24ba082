"""Tables and saved datasets: CSV/TSV/JSON/JSONL files, parquet, the Hub and ``save_to_disk`` folders."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import datasets

from ..modeling.errors import DataError
from .raw import check_file, missing_path, read_text_file, split_lines
from .sources import DataSource

__all__ = ["NO_ROWS", "read_disk", "read_hub", "read_parquet", "read_table", "read_table_lines"]

# --------------------------------------------------------------------------------------------- tables
def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), (
        "null" if value is None else "a number"))


NO_ROWS = "no data rows (only a header, or an empty file): the split is empty"


def _check_jsonsplit_lines(path: Path, text: str) -> list[int]:
    """Check every line of a JSON Lines file; return the line number of each record."""
    if not text.strip():
        raise DataError(f"{path}: {NO_ROWS}")
    numbers: list[int] = []
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        numbers.append(number)
        try:
            record = json.loads(line)
        except ValueError as err:
            raise DataError(f"{path}:{number}: not valid JSON ({err}); JSON Lines hold one JSON object a line") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object (a record), found {_json_kind(record)}: {line[:80]!r}")
        for name, value in record.items():  # 1e400 reads as inf here, and stops pyarrow's reader without a field name
            if isinstance(value, float) and math.isinf(value) and "Infinity" not in line:
                raise DataError(f"{path}:{number}: field {name!r}: the number is too large for a 64-bit float")
    return numbers


def _check_json(path: Path, text: str, field_name: str | None) -> list[int] | None:
    """Check the records of a JSON/JSONL file before datasets reads it (its reader crashes the process on some
    inputs, e.g. a first line ``null``, and silently turns a list of numbers into a ``text`` column); the line of
    each record when the file holds JSON Lines."""
    if not text.strip():
        raise DataError(f"{path}: {NO_ROWS}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data" and field_name is None:  # JSON Lines in a .json file, as datasets allows
            return _check_jsonsplit_lines(path, text)
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
            raise DataError(f"{path}: {NO_ROWS}")
        for index, record in enumerate(document):
            if not isinstance(record, dict):
                where = f"{field_name}[{index}]" if field_name else f"record {index}"
                raise DataError(f"{path}: {where} is {_json_kind(record)}, expected a JSON object (a record)")
    elif not isinstance(document, dict):
        raise DataError(f"{path}: the file holds {_json_kind(document)}; expected a list of JSON objects (records)")
    return None


def _records(path: Path, reader: Any) -> Any:
    """``(line, record)`` of each non-blank record, ``line`` the physical line it starts on."""
    end = 0
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            if record:  # blank lines are skipped
                yield start, record
    except csv.Error as err:
        raise DataError(f"{path}:{reader.line_num}: cannot split this line into fields: {err}") from None


def _physical_lines(text: str) -> list[str]:
    """The text cut at each line break as :func:`split_lines` counts them (``\n``; ``\r`` in a file without
    ``\n``), breaks kept: ``csv`` then numbers lines as an editor does (U+2028 or a lone ``\r`` inside a quoted
    field do not count)."""
    separator = "\r" if "\n" not in text and "\r" in text else "\n"
    parts = text.split(separator)
    return [part + separator for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _column_names(path: Path, names: list[str], line: int, given: bool) -> list[str]:
    """The columns: an empty header name reads ``Unnamed: i`` (as pandas names it); a name given twice is an
    error naming both columns (pandas renamed the second ``name.1``, and the wrong column was trained on)."""
    out: list[str] = []
    for index, name in enumerate(names):
        name = name or f"Unnamed: {index}"
        if name in out:
            where = "`column_names`" if given else f"{path}:{line}: the header"
            raise DataError(
                f"{where} names column {name!r} twice (columns {out.index(name) + 1} and {index + 1} of {path}); "
                "give each column its own name"
            )
        out.append(name)
    return out


def _read_delimited(path: Path, text: str, source: DataSource) -> tuple[datasets.Dataset, list[int]]:
    """CSV/TSV records with Python's ``csv`` module: every value the string written (no type guessing), a record
    with more fields than there are columns an error naming its line, missing trailing fields null; the physical
    line each record starts on."""
    delimiter = source.delimiter or ("\t" if source.format == "tsv" else ",")
    quoting = csv.QUOTE_NONE if source.format == "tsv" else csv.QUOTE_MINIMAL
    reader = csv.reader(_physical_lines(text), delimiter=delimiter, quoting=quoting)
    records = _records(path, reader)
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
    names = _column_names(path, list(source.column_names or header), header_line, bool(source.column_names))
    columns: dict[str, list[str | None]] = {name: [] for name in names}
    lines: list[int] = []
    for line, record in records:
        if len(record) > len(names):
            what = "`column_names` names" if source.column_names else "the header names"
            raise DataError(
                f"{path}:{line}: {len(record)} fields, but {what} {len(names)} columns: {record[:len(names) + 2]}; "
                f"is there a stray {delimiter!r} in the text? " + (
                    "TSV files have no quoting: remove tabs from the text" if source.format == "tsv"
                    else "quote fields that contain commas"
                )
            )
        lines.append(line)
        for index, name in enumerate(names):
            columns[name].append(record[index] if index < len(record) else None)
    if not names or not columns[names[0]]:
        raise DataError(f"{path}: {NO_ROWS}")
    features = datasets.Features({name: datasets.Value("string") for name in names})
    return datasets.Dataset.from_dict(columns, features=features), lines


def read_table(source: DataSource) -> datasets.Dataset:
    """Read a CSV/TSV/JSON/JSONL file, as written.

    CSV/TSV are read with Python's ``csv`` module: ``has_header: false`` needs ``column_names``; TSV has no
    quoting (as GLUE writes it); every value is the string written (``NA``, ``null``, ``007`` and ``1e5`` stay
    as they are); a record with more fields than the header, or a header that names a column twice, is a
    :class:`DataError` naming its line; blank lines are skipped. JSON/JSONL are read with datasets' ``json``
    builder after their records are checked (a line or record that is not a JSON object is a :class:`DataError`
    naming it); ``field`` names the key holding the records in a JSON object file, and a ``.json`` file may also
    hold JSON Lines.
    """
    return read_table_lines(source)[0]


def read_table_lines(source: DataSource) -> tuple[datasets.Dataset, list[int] | None]:
    """:func:`read_table`, and the line of the file each row starts on (``None`` for a JSON document)."""
    path = check_file(source.path)
    text = read_text_file(path, source.encoding)  # a clear error for a wrong encoding, before datasets sees it
    if source.format in ("csv", "tsv"):
        return _read_delimited(path, text, source)
    if source.format == "jsonl":
        lines = _check_jsonsplit_lines(path, text)
    else:
        lines = _check_json(path, text, source.field)
    kwargs: dict[str, Any] = {"encoding": source.encoding}
    if source.field:
        kwargs["field"] = source.field
    try:
        dataset = datasets.load_dataset("json", data_files={"train": str(path)}, split="train", **kwargs)
    except Exception as err:
        cause = err.__cause__ or err.__context__ or err
        if "corresponds to no data" in str(err) or "corresponds to no data" in str(cause):
            raise DataError(f"{path}: {NO_ROWS}") from None
        raise DataError(f"{path}: cannot read as {source.format}: {type(cause).__name__}: {cause}") from None
    return dataset, lines if lines is not None and len(lines) == dataset.num_rows else None


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

    path = Path(source.path).expanduser()  # type: ignore[arg-type]
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
        raise DataError(f"{path}: {NO_ROWS}")
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
    path = Path(source.path).expanduser()
    if not path.exists():
        raise DataError(missing_path(path, "saved dataset folder"))
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
