"""CoNLL column files (CoNLL-2003, IOB2, UNER ``.iob2``) and CoNLL-U files into ``words``/``tags`` columns.

Example:

```python
>>> from hf_mtl.data.conll import read_conll
>>> ds = read_conll("recipes/data/conll2003_validation.txt")
>>> ds[0]["words"][:3], ds[0]["tags"][:3]
(['CRICKET', '-', 'LEICESTERSHIRE'], ['O', 'O', 'B-ORG'])
```
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
from conllu.parser import parse_id_value

from ..modeling.errors import DataError
from ..modeling.lemma_rules import lemma_rule
from .raw import PLACEHOLDER_TAGS, RawSplit, add_note, read_text_file, split_lines

__all__ = ["CONLLU_TAG_COLUMNS", "OPEN_LABEL_COLUMNS", "read_conll", "read_conll_split", "read_conllu", "read_conllu_split", "tree_problems"]

CONLLU_TAG_COLUMNS = {"upos": 3, "xpos": 4, "feats": 5, "lemma": 2, "deprel": 7}
"""The CoNLL-U columns a token task can read, by name: 0-based field index. ``lemma`` gives edit rules
(:func:`~hf_mtl.modeling.lemma_rules.lemma_rule`), ``deprel`` also reads HEAD (a ``heads`` column)."""

OPEN_LABEL_COLUMNS = frozenset({"feats", "lemma", "deprel"})
"""Columns whose values in validation/test often do not occur in train: their label list takes every split's."""

_KEY_VALUE_COMMENT = re.compile(r"^#\s*\w[\w .-]*=")


def _fields(line: str) -> list[str]:
    if "\t" in line:
        return [f.strip() for f in line.split("\t")]
    return line.split()


_Sentence = list[tuple[int, list[str]]]  # (line number, columns) of each token line


def _conll_layout(path: str | Path, lines: list[str]) -> tuple[int, int, bool]:
    """The layout every token line must follow, taken from the first one: (columns, its line, tab-separated)."""
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.startswith("#") and _fields(line)[0] != "-DOCSTART-":
            expected = len(_fields(line))
            if expected < 2:
                raise DataError(f"{path}:{number}: expected at least 2 columns (word and tag), found 1: {line!r}")
            return expected, number, "\t" in line
    raise DataError(f"{path}: no token lines found ({len(lines)} lines read); expected one token a line, "
                    "columns separated by spaces or tabs, a blank line between sentences")


def _conll_sentences(path: str | Path, lines: list[str], tag_column: int) -> tuple[list[_Sentence], int, int]:
    """Group the token lines into sentences: (sentences, -DOCSTART- lines skipped, comments skipped)."""
    expected, first_line, tabbed = _conll_layout(path, lines)
    sentences: list[_Sentence] = []
    current: _Sentence = []
    docstarts = comments = 0
    for number, line in enumerate(lines, 1):
        parts = _fields(line) if line.strip() else []
        if not parts or parts[0] == "-DOCSTART-":  # a blank line or a document start ends the sentence
            docstarts += bool(parts)
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
    return sentences, docstarts, comments


def _word_column(path: str | Path, lines: list[str], sentences: list[_Sentence], word_column: int | None,
                 tag_column: int) -> int:
    """The word's column, checked against the tag's: given, or 1 when the first column is a token index."""
    columns, first_line, _ = _conll_layout(path, lines)
    if word_column is None:
        # a first column that counts 1, 2, 3, ... in every sentence is a token index (UNER .iob2, CoNLL-U-like)
        is_index = columns >= 3 and all(
            parts[0] == str(i) for sentence in sentences for i, (_, parts) in enumerate(sentence, 1)
        )
        word_column = 1 if is_index else 0
    for name, column in (("word_column", word_column), ("tag_column", tag_column)):
        if not -columns <= column < columns:
            raise DataError(f"{path}:{first_line}: `{name}: {column}` is out of range: "
                            f"the file has {columns} columns")
    if word_column % columns == tag_column % columns:
        raise DataError(f"{path}: `word_column` and `tag_column` both point at column {word_column % columns}")
    return word_column


def read_conll_split(path: str | Path, tag_column: int = -1, word_column: int | None = None,
                     encoding: str = "utf-8", allow_missing: bool = False) -> RawSplit:
    """:func:`read_conll` with what reading found (notes, each sentence's first line).

    ``allow_missing``: a sentence whose tag column holds only placeholders (``-``, ``_``) is read with tags
    ``None`` (the partial labels of a task group) instead of being an error.
    """
    lines = split_lines(read_text_file(path, encoding))
    sentences, docstarts, comments = _conll_sentences(path, lines, tag_column)
    word_column = _word_column(path, lines, sentences, word_column, tag_column)
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
    add_note(notes, path, f"read {len(sentences)} sentences, {sum(map(len, words))} tokens "
                          f"(word column {word_column}, tag column {tag_column})")
    if docstarts:
        add_note(notes, path, f"skipped {docstarts} -DOCSTART- lines")
    if comments:
        add_note(notes, path, f"skipped {comments} comment lines")
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
    return read_conll_split(path, tag_column, word_column, encoding).dataset


def _blocks(lines: list[str]) -> Iterator[list[tuple[int, str]]]:
    """The non-blank lines of each sentence, with their line numbers (blank lines separate sentences)."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


@dataclass
class _Skipped:
    """CoNLL-U lines that are not words to tag: how many of each kind, and the first one, for the notes."""

    counts: dict[str, int] = field(default_factory=lambda: {"multiword": 0, "empty": 0, "no_lemma": 0})
    first: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, where: str) -> None:
        self.counts[kind] += 1
        self.first.setdefault(kind, where)


def _conllu_sentence(path: str | Path, block: list[tuple[int, str]], tag_column: str, allow_missing: bool,
                     skipped: _Skipped) -> tuple[list[str], list[str] | None, list[int] | None] | None:
    """One sentence's words and tags (tags ``None``: a task group's partial labels), or ``None`` for a block
    without words to tag (only comments, multi-word tokens or empty nodes)."""
    sent_id = next((line.split("=", 1)[1].strip() for _, line in block
                    if line.startswith("#") and line[1:].split("=", 1)[0].strip() == "sent_id" and "=" in line), None)
    token_lines = [(n, line) for n, line in block if not line.startswith("#")]
    for number, line in token_lines:
        n_cols = len(line.split("\t"))
        if n_cols != 10:
            raise DataError(f"{path}:{number}: expected 10 tab-separated CoNLL-U columns, found {n_cols}: {line!r}")
    column = CONLLU_TAG_COLUMNS[tag_column]
    # partial labels of a task group: no tag on any word of the sentence
    # (FEATS "_" is a value, "no features", not a missing label)
    missing = (allow_missing and tag_column != "feats"
               and all(line.split("\t")[column] in PLACEHOLDER_TAGS for _, line in token_lines))
    words: list[str] = []
    tags: list[str] = []
    heads: list[int] = []
    ids: list[int] = []
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
            skipped.add(kind, f"{fields[0]!r} at line {number}" + (f" in sentence {sent_id!r}" if sent_id else ""))
            continue
        if token_id is None:
            raise DataError(f"{path}:{number}: the ID column is empty ('_' or ''): {line!r}")
        form, tag = fields[1], fields[column]
        if tag_column == "lemma" and tag == "_" and not missing:
            # UD leaves the LEMMA of some words unspecified (EWT's `goeswith` parts): read as the word itself (a
            # word `_` is its own lemma)
            if form != "_":
                skipped.add("no_lemma", f"line {number}")
            tag = form
        if (tag == "" or (tag == "_" and tag_column not in ("feats", "lemma"))) and not missing:
            raise DataError(f"{path}:{number}: token {form!r} has no {tag_column.upper()} ('_'): {line!r}")
        if not form.strip():  # the rule of every reader: a word has a visible character
            raise DataError(f"{path}:{number}: the FORM column (the word) is empty: {line!r}")
        words.append(form)
        ids.append(token_id)
        if tag_column == "lemma":  # the label is the edit rule from the word to its lemma (the pipeline applies it)
            tag = lemma_rule(form, tag)
        elif tag_column == "deprel" and not missing:
            head = fields[6]
            if not head.isdigit():
                raise DataError(f"{path}:{number}: token {form!r} has no HEAD (column 7 holds {head!r}, expected the "
                                f"ID of its head word or 0 for the root): {line!r}")
            heads.append(int(head))
        tags.append(tag)
    if not words:
        return None
    if tag_column != "deprel" or missing:
        return words, None if missing else tags, None
    return words, tags, _word_heads(path, token_lines[0][0], ids, heads)


def _word_heads(path: str | Path, line: int, ids: list[int], heads: list[int]) -> list[int]:
    """HEAD values as 1-based positions among the sentence's words (0: root): UD IDs number the syntactic words
    from 1, so they are positions already unless the file skips or repeats one, which is an error."""
    if ids != list(range(1, len(ids) + 1)):
        raise DataError(f"{path}:{line}: the sentence's word IDs are {ids[:8]}{'...' if len(ids) > 8 else ''}, not "
                        f"1..{len(ids)}: HEAD values cannot be resolved")
    bad = [head for head in heads if head > len(ids)]
    if bad:
        raise DataError(f"{path}:{line}: HEAD {bad[0]} points past the sentence's {len(ids)} words")
    return heads


def tree_problems(heads: list[int]) -> list[str]:
    """What makes a gold head list not a tree with one root: ``"no root"``, ``"several roots"``, ``"a cycle"``."""
    problems = []
    roots = sum(1 for head in heads if head == 0)
    if roots != 1:
        problems.append("no root" if roots == 0 else "several roots")
    for start in range(1, len(heads) + 1):
        seen, node = set(), start
        while node != 0 and node not in seen:
            seen.add(node)
            node = heads[node - 1]
        if node != 0:
            problems.append("a cycle")
            break
    return problems


def read_conllu_split(path: str | Path, tag_column: str = "upos", encoding: str = "utf-8",
                      allow_missing: bool = False) -> RawSplit:
    """:func:`read_conllu` with what reading found (notes, each sentence's first line).

    ``allow_missing``: a sentence whose tag column holds only placeholders is read with tags ``None``.
    """
    if tag_column not in CONLLU_TAG_COLUMNS:
        raise DataError(f"{path}: for CoNLL-U the tag column must be one of {list(CONLLU_TAG_COLUMNS)}, not {tag_column!r}")
    lines = split_lines(read_text_file(path, encoding))
    words: list[list[str]] = []
    tags: list[list[str] | None] = []
    heads: list[list[int] | None] = []
    starts: list[int] = []
    skipped = _Skipped()
    ill_formed: Counter[str] = Counter()
    first_ill_formed: dict[str, int] = {}
    for block in _blocks(lines):
        sentence = _conllu_sentence(path, block, tag_column, allow_missing, skipped)
        if sentence is not None:
            words.append(sentence[0])
            tags.append(sentence[1])
            heads.append(sentence[2])
            starts.append(next(n for n, line in block if not line.startswith("#")))
            for problem in tree_problems(sentence[2]) if sentence[2] is not None else ():
                ill_formed[problem] += 1
                first_ill_formed.setdefault(problem, starts[-1])
    if not words:
        raise DataError(f"{path}: no sentences found ({len(lines)} lines read)")
    notes: list[str] = []
    add_note(notes, path, f"read {len(words)} sentences, {sum(map(len, words))} words ({tag_column.upper()})")
    if skipped.counts["multiword"]:
        add_note(notes, path, f"skipped {skipped.counts['multiword']} multi-word token lines "
                              f"(first: {skipped.first['multiword']}); their words are kept")
    if skipped.counts["no_lemma"]:
        add_note(notes, path, f"{skipped.counts['no_lemma']} words have no LEMMA ('_'; first at "
                 f"{skipped.first['no_lemma']}): read as their own form")
    if skipped.counts["empty"]:
        add_note(notes, path, f"skipped {skipped.counts['empty']} empty nodes (first: {skipped.first['empty']})")
    for problem, count in ill_formed.items():  # gold trees are kept as they are, and counted
        add_note(notes, path, f"{count} gold trees with {problem} (first at line {first_ill_formed[problem]}); "
                              "they train and are scored as given")
    columns: dict[str, list[Any]] = {"words": words, "tags": tags}
    if tag_column == "deprel":
        columns["heads"] = heads
    return RawSplit(datasets.Dataset.from_dict(columns), None, notes, starts)


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
    return read_conllu_split(path, tag_column, encoding).dataset

