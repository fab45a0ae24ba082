"""Raw splits: what every reader returns, and the file helpers the readers share.

Raw columns (what every later step relies on):

- token tasks: ``words: list[str]``, ``tags: list[str]``
- text tasks: ``text: str``, optional ``text_pair: str``, ``label`` (``str`` single-label, ``list[str]``
  multi-label, ``float`` regression)

Labels are label *names* here (ClassLabel ids and ``label_map`` values already mapped); ids are given at
tokenization time. Readers never drop data silently: whatever they skip (``-DOCSTART-`` lines, comments,
CoNLL-U multi-word tokens and empty nodes) is counted, logged and returned in :attr:`RawSplit.notes`.
"""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from ..modeling.errors import DataError

logger = logging.getLogger("hf_mtl")

__all__ = ["PLACEHOLDER_TAGS", "RawSplit", "add_note", "check_file", "read_text_file", "split_lines"]

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


def split_lines(text: str) -> list[str]:
    """The file's lines as an editor numbers them: split at ``\n`` (``\r\n`` too; a lone ``\r`` only in files
    without any ``\n``). Unlike ``str.splitlines``, characters such as U+2028 or ``\x85`` inside a word do not
    split a line, so line numbers in errors match the file."""
    if "\n" not in text and "\r" in text:
        return text.split("\r")
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines



def add_note(notes: list[str], path: Any, message: str) -> None:
    """Append ``message`` to ``notes`` and log it, prefixed by ``path``."""
    notes.append(message)
    logger.info("%s: %s", path, message)

