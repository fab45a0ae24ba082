"""The inputs of `hf-mtl predict`: texts from the command line, lines of a file, or columns of a TSV / JSON lines file.

An input is a string (one text) or ``{"text": ..., "text_pair": ...}`` (a sentence pair), as the ``multitask``
pipeline takes it. Where they come from:

- ``--text A [B ...]`` (with ``--text-pair P [Q ...]``: one pair per text);
- ``--input FILE`` (or ``-`` for stdin), read as ``--input-format`` says, by default from the file's suffix:
  ``lines`` (one text per line; any other suffix), ``tsv`` (``.tsv``: tab-separated, the first row names the
  columns) or ``jsonl`` (``.jsonl``: one JSON object per line). TSV and JSON lines read the ``--text-column``
  (default ``text``) and, where a row has it, the ``--text-pair-column`` (default ``text_pair``): a row with an
  empty (or null) second text is one text.

Every problem names the file, the line and what was expected, before the model is loaded.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from ..modeling.errors import HfMtlError

INPUT_FORMATS = ("lines", "tsv", "jsonl")
SUFFIX_FORMATS = {".tsv": "tsv", ".jsonl": "jsonl"}

__all__ = ["INPUT_FORMATS", "InputError", "input_lines", "read_inputs", "table_inputs"]


class InputError(HfMtlError):
    """An input of `hf-mtl predict` cannot be read (the CLI prints it as one line, exit status 2)."""


def input_lines(data: bytes, name: str) -> list[str]:
    r"""The inputs in ``data``: UTF-8 text cut at ``\n`` only (a ``\r\n`` ending is dropped; form feeds, U+2028
    and other Unicode line breaks stay inside their line, unlike ``str.splitlines``); blank lines are skipped.

    Example:
        >>> input_lines("a\fb\u2028c\r\nd\n\n".encode(), "stdin")
        ['a\x0cb\u2028c', 'd']
    """
    return [line for _, line in _numbered_lines(data, name) if line.strip()]


def _numbered_lines(data: bytes, name: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of UTF-8 ``data`` cut at ``\\n`` (``\\r\\n`` endings dropped)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(f"{name} is not UTF-8 text: byte {data[error.start:error.start + 1]!r} at offset "
                         f"{error.start} (line {line}) cannot be decoded; convert it to UTF-8.") from None
    return [(number, line[:-1] if line.endswith("\r") else line) for number, line in enumerate(text.split("\n"), 1)]


def _pair(text: Any, pair: Any) -> str | dict[str, str]:
    return {"text": text, "text_pair": pair} if pair not in (None, "") else text


def table_inputs(data: bytes, name: str, fmt: str, text_column: str = "text",
                 pair_column: str = "text_pair") -> list[str | dict[str, str]]:
    """The inputs of a TSV (header row first) or JSON lines file: ``text_column``, with ``pair_column`` where a
    row has a non-empty one (a sentence pair).

    Example:
        >>> table_inputs(b"text\\ttext_pair\\nA man sleeps.\\tNobody sleeps.\\nJust one.\\t\\n", "in.tsv", "tsv")
        [{'text': 'A man sleeps.', 'text_pair': 'Nobody sleeps.'}, 'Just one.']
    """
    lines = [(number, line) for number, line in _numbered_lines(data, name) if line.strip()]
    if lines and lines[0][1].startswith("\ufeff"):  # a byte-order mark is not part of the header or first row
        lines[0] = (lines[0][0], lines[0][1][1:])
    inputs: list[str | dict[str, str]] = []
    if fmt == "tsv":
        if not lines:
            return []
        header_number, header_line = lines[0]
        header = next(csv.reader(io.StringIO(header_line), delimiter="\t", quoting=csv.QUOTE_NONE))
        if text_column not in header:
            raise InputError(f"{name}, line {header_number}: the header names columns {header}, none is "
                             f"{text_column!r}; name the text column in the first row, or pass --text-column.")
        at_text = header.index(text_column)
        at_pair = header.index(pair_column) if pair_column in header else None
        for number, line in lines[1:]:
            cells = next(csv.reader(io.StringIO(line), delimiter="\t", quoting=csv.QUOTE_NONE))
            if len(cells) != len(header):
                raise InputError(f"{name}, line {number}: {len(cells)} tab-separated cells, the header has "
                                 f"{len(header)} ({header}).")
            inputs.append(_pair(cells[at_text], cells[at_pair] if at_pair is not None else None))
        return inputs
    for number, line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{name}, line {number}: not JSON ({error.msg}, column {error.colno}).") from None
        if not isinstance(row, dict) or not isinstance(row.get(text_column), str):
            raise InputError(f"{name}, line {number}: expected a JSON object with a string {text_column!r}"
                             f"{' (and optionally ' + repr(pair_column) + ')'}, got {line[:60]!r}.")
        pair = row.get(pair_column)
        if pair is not None and not isinstance(pair, str):
            raise InputError(f"{name}, line {number}: {pair_column!r} is a {type(pair).__name__}; expected a string.")
        inputs.append(_pair(row[text_column], pair))
    return inputs


def _read_bytes(source: str) -> tuple[bytes, str]:
    if source == "-":
        return sys.stdin.buffer.read(), "stdin"
    from ..data.raw import missing_path

    path = Path(source).expanduser()
    if path.is_dir():
        raise InputError(f"--input {path} is a folder; give a text file (one input per line) or '-' for stdin.")
    if not path.exists():  # a link that loops or points nowhere is named as such
        raise InputError(missing_path(path, "--input") if path.is_symlink() else f"Input file {path} does not exist.")
    try:  # a regular file, or a pipe, FIFO or /dev/stdin: anything that can be read
        with path.open("rb") as handle:
            return handle.read(), f"--input {path}"
    except OSError as error:
        raise InputError(f"--input {path} cannot be read: {error.strerror or type(error).__name__}.") from None


def read_inputs(args: argparse.Namespace) -> list[str | dict[str, str]]:
    """`hf-mtl predict`'s inputs from its arguments (see the module docstring)."""
    if args.text:
        pairs = getattr(args, "text_pair", None)
        if not pairs:
            return list(args.text)
        if len(pairs) != len(args.text):
            raise InputError(f"--text-pair gives {len(pairs)} second text(s) for {len(args.text)} --text: give one "
                             "per text (e.g. --text 'A man sleeps.' --text-pair 'Nobody sleeps.').")
        return [_pair(text, pair) for text, pair in zip(args.text, pairs, strict=True)]
    if getattr(args, "text_pair", None):
        raise InputError("--text-pair goes with --text; for a file of pairs, use --input FILE.tsv or FILE.jsonl "
                         "with a text_pair column.")
    fmt = getattr(args, "input_format", None) or SUFFIX_FORMATS.get(Path(args.input).suffix.lower(), "lines")
    data, name = _read_bytes(args.input)
    if fmt == "lines":
        return input_lines(data, name)
    return table_inputs(data, name, fmt, getattr(args, "text_column", "text"), getattr(args, "text_pair_column", "text_pair"))
