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
import errno
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from ..modeling.errors import DataError

logger = logging.getLogger("hf_mtl")

__all__ = ["PLACEHOLDER_TAGS", "RawSplit", "add_note", "brief", "check_file", "missing_path", "read_text_file", "split_lines"]

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


def brief(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages (a value read from a file may be huge)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


# --------------------------------------------------------------------------------------------- files
def missing_path(path: Path, what: str) -> str:
    """Why ``path`` cannot be opened, in words: a symbolic-link loop, a broken link, or a path that does not exist
    (with where it resolves to). ``Path.resolve`` itself raises on a loop, so it is never called on one."""
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:  # Python 3.11-3.12: "Symlink loop from ..."
            return f"{what} {str(path)!r} is a symbolic link that loops (it points, in the end, to itself)"
        except OSError as err:
            if err.errno == errno.ELOOP:
                return f"{what} {str(path)!r} is a symbolic link that loops (it points, in the end, to itself)"
            return f"{what} {str(path)!r} is a broken symbolic link (to {os.readlink(path)!r}, which does not exist)"
    try:
        resolved = path.resolve()
    except (RuntimeError, OSError):
        resolved = path.absolute()
    return f"{what} {str(path)!r} does not exist (resolved: {resolved}); check the path in the recipe"


def check_file(path: str | Path, what: str = "data file") -> Path:
    """Raise :class:`DataError` unless ``path`` (``~`` expanded) is an existing file; return it as a ``Path``."""
    p = Path(path).expanduser()
    try:
        exists = p.exists()
    except OSError:  # a symbolic-link loop on some Pythons
        exists = False
    if not exists:
        raise DataError(missing_path(p, what))
    if not p.is_file():
        raise DataError(f"{what} {str(p)!r} is not a file")
    return p


# Byte-order marks of the encodings a UTF-8 reader cannot read (longest first: UTF-32 LE starts like UTF-16 LE).
_FOREIGN_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
                 (codecs.BOM_UTF16_BE, "utf-16"))


def _utf16_or_32(data: bytes) -> str | None:
    """``"utf-16"`` / ``"utf-32"`` (or their ``-le``/``-be`` forms) when ``data`` looks like such a file: a
    byte-order mark, or ASCII text whose every other byte (every fourth) is NUL."""
    for bom, name in _FOREIGN_BOMS:
        if data.startswith(bom):
            return name
    head = data[:200]
    if len(head) >= 8 and head.count(0) >= len(head) // 3:
        for name, nuls in (("utf-32-le", (1, 2, 3)), ("utf-32-be", (0, 1, 2)), ("utf-16-le", (1,)), ("utf-16-be", (0,))):
            step = 4 if "32" in name else 2
            if all(head[i + k] == 0 for i in range(0, len(head) - step + 1, step) for k in nuls):
                return name
    return None


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
    foreign = _utf16_or_32(data) if codec.name in ("utf-8", "utf-8-sig", "ascii") else None
    if foreign is not None:  # as UTF-8 it fails on the mark ("try latin-1" misled), or reads NULs between letters
        raise DataError(
            f"{p} is {foreign.upper()} text ({'a byte-order mark' if '-' not in foreign[4:] else 'NUL bytes between the letters'}), "
            f"not {encoding}; set `encoding: {foreign}` on this data source (or save the file as UTF-8)"
        )
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

