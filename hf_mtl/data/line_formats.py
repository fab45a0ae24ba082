"""Text-classification data that comes as plain text: "label, space, text" lines and one file (or folder) per class.

- ``format: label_text``: one example a line, the label first, then whitespace, then the text, as TREC's question
  classification files (``DESC:manner How did serfdom develop in and then leave Russia ?``) and fastText's
  training files (``__label__2 Great CD: ...``; ``label_prefix: __label__``, several leading labels for multi-label
  tasks). ``label_before: ":"`` keeps the label up to that separator (TREC's 6 coarse classes instead of 50 fine
  ones).
- ``format: class_files``: ``files: {label: path}``, each line of a file one example of its class (the MR movie
  review layout, ``rt-polarity.pos`` / ``rt-polarity.neg``).
- ``format: class_folders``: ``path:`` a folder holding one subfolder per class, each file in it one example
  (scikit-learn's ``load_files`` layout, e.g. ``txt_sentoken/pos/cv000_29590.txt``).

Each returns a :class:`datasets.Dataset` with a ``text`` and a ``label`` column (strings, or a list of labels for
several fastText labels) and the line (or file) each example came from, so that errors name ``file:line``.
"""

from __future__ import annotations

from pathlib import Path

import datasets

from ..modeling.errors import DataError
from .raw import check_file, missing_path, read_text_file, split_lines
from .sources import DataSource

__all__ = ["LINE_FORMATS", "read_class_files", "read_class_folders", "read_label_text", "read_line_format"]

LINE_FORMATS = ("label_text", "class_files", "class_folders")


def _cut(label: str, source: DataSource) -> str:
    return label.split(source.label_before, 1)[0] if source.label_before else label


def _dataset(texts: list[str], labels: list[str | list[str]], multi: bool) -> datasets.Dataset:
    feature = datasets.Sequence(datasets.Value("string")) if multi else datasets.Value("string")
    return datasets.Dataset.from_dict({"text": texts, "label": labels},
                                      features=datasets.Features({"text": datasets.Value("string"), "label": feature}))


def read_label_text(source: DataSource) -> tuple[datasets.Dataset, list[int]]:
    """Read a ``label_text`` file: ``LABEL text`` a line (blank lines skipped); the line of each example.

    With ``label_prefix`` (fastText's ``__label__``) every leading word that starts with it is a label (the prefix
    removed); a line whose first word lacks it is an error naming ``file:line``. Several labels on a line give a
    list (for a multi-label task); one gives a string.

    Example:

    ```python
    >>> from hf_mtl.data.sources import DataSource
    >>> ds, lines = read_label_text(DataSource(path="tests/fixtures/real_data/trec/train_5500.label",
    ...                                        format="label_text"))
    >>> ds[0], lines[0]
    ({'text': 'How did serfdom develop in and then leave Russia ?', 'label': 'DESC:manner'}, 1)
    ```
    """
    path = check_file(source.path)
    texts: list[str] = []
    labels: list[str | list[str]] = []
    lines: list[int] = []
    prefix = source.label_prefix
    for number, line in enumerate(split_lines(read_text_file(path, source.encoding)), 1):
        words = line.split()
        if not words:
            continue
        if prefix:
            found = []
            while words and words[0].startswith(prefix):
                found.append(_cut(words.pop(0)[len(prefix):], source))
            if not found or not all(found):
                raise DataError(f"{path}:{number}: expected the line to start with a label {prefix}<name> "
                                f"(`label_prefix: {prefix}`), found {line[:60]!r}")
        else:
            found = [_cut(words.pop(0), source)]
        if not words:
            raise DataError(f"{path}:{number}: the line holds a label ({' '.join(found)!r}) and no text; "
                            "a label_text line is `LABEL text`")
        if not found[0]:
            raise DataError(f"{path}:{number}: the label is empty after cutting at `label_before: "
                            f"{source.label_before}` ({line[:60]!r})")
        texts.append(line.split(None, len(found))[-1].strip())
        labels.append(found if len(found) > 1 else found[0])
        lines.append(number)
    if not texts:
        raise DataError(f"{path}: no data lines (an empty file): the split is empty")
    multi = any(isinstance(label, list) for label in labels)
    if multi:
        labels = [label if isinstance(label, list) else [label] for label in labels]
    return _dataset(texts, labels, multi), lines


def read_class_files(source: DataSource) -> tuple[datasets.Dataset, list[int]]:
    """Read ``files: {label: path}``: every non-blank line of each file one example of that label, the files in
    the order given (the note of :func:`read_split` counts each)."""
    texts: list[str] = []
    labels: list[str] = []
    lines: list[int] = []
    for label, file in source.files.items():  # type: ignore[union-attr]
        path = check_file(file, f"`files: {label}:` file")
        count = 0
        for number, line in enumerate(split_lines(read_text_file(path, source.encoding)), 1):
            if line.strip():
                texts.append(line.strip())
                labels.append(str(label))
                lines.append(number)
                count += 1
        if not count:
            raise DataError(f"{path}: the file of class {label!r} holds no examples (no non-blank line)")
    return _dataset(texts, labels, False), lines


def read_class_folders(source: DataSource) -> tuple[datasets.Dataset, list[str]]:
    """Read a folder of one subfolder per class (its name the label), each file in it one example, in name order
    (as scikit-learn's ``load_files``); hidden files and folders are skipped. Returns the file of each example."""
    folder = Path(source.path).expanduser()  # type: ignore[arg-type]
    if not folder.exists():
        raise DataError(missing_path(folder, "class folder"))
    if not folder.is_dir():
        raise DataError(f"{folder}: `format: class_folders` reads a folder holding one subfolder per class, "
                        "not a file")
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{folder}: no class subfolders; `format: class_folders` expects {folder}/<label>/<file>")
    texts: list[str] = []
    labels: list[str] = []
    files: list[str] = []
    for subfolder in classes:
        members = sorted(p for p in subfolder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not members:
            raise DataError(f"{subfolder}: the folder of class {subfolder.name!r} holds no files")
        for file in members:
            text = " ".join(read_text_file(file, source.encoding).split())
            if not text:
                raise DataError(f"{file}: the file is empty; every file of a class folder is one example")
            texts.append(text)
            labels.append(subfolder.name)
            files.append(f"{subfolder.name}/{file.name}")
    return _dataset(texts, labels, False), files


def read_line_format(source: DataSource) -> tuple[datasets.Dataset, list[int] | None]:
    """The reader of ``source.format`` (one of :data:`LINE_FORMATS`): the examples and each one's line (``None``
    for ``class_folders``, whose examples are whole files)."""
    if source.format == "label_text":
        return read_label_text(source)
    if source.format == "class_files":
        return read_class_files(source)
    return read_class_folders(source)[0], None
