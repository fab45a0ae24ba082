"""Data sources: where one split of a task's data comes from (a file, a Hub dataset, a saved folder or a
``datasets`` object given in Python), and the formats hf_mtl reads.

Example:

```python
>>> from hf_mtl.data.sources import DataSource
>>> DataSource.from_value("recipes/data/sst2_train.tsv").format
'tsv'
```
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..modeling.errors import TaskError, did_you_mean
from .conll import CONLLU_TAG_COLUMNS

__all__ = ["DATA_FORMATS", "IN_MEMORY_FORMAT", "SPLITS", "SPLIT_NAMES", "DataSource",
           "datasets_kind", "describe_datasets_object"]

DATA_FORMATS = ("conll", "conllu", "csv", "tsv", "json", "jsonl", "parquet", "label_text", "class_files",
                "class_folders", "hub", "disk", "dataset")
# Options that apply to some formats only: option -> the formats it applies to.
FORMAT_OPTIONS = {"delimiter": ("csv", "tsv"), "label_prefix": ("label_text",), "label_before": ("label_text",),
                  "files": ("class_files",)}
# `format: dataset`: a datasets object given in Python (DataSource.dataset); a recipe cannot hold one.
IN_MEMORY_FORMAT = "dataset"
# Names of a DatasetDict's splits that TaskSpec(dataset=...) reads as each task split, in order of preference.
SPLIT_NAMES = {"train": ("train",), "validation": ("validation", "valid", "dev"), "test": ("test",)}
SPLITS = ("train", "validation", "test")

# Path suffix -> format, used when a data source does not say its format.
SUFFIX_FORMATS = {
    ".conllu": "conllu",
    ".conll": "conll",
    ".iob2": "conll",
    ".iob": "conll",
    ".bio": "conll",
    ".txt": "conll",
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".parquet": "parquet",
}


def datasets_kind(value: Any) -> str | None:
    """``"Dataset"``, ``"IterableDataset"``, ``"DatasetDict"`` or ``"IterableDatasetDict"`` for a datasets
    object, else ``None`` (without importing datasets: an object of it exists only once it is imported)."""
    module = sys.modules.get("datasets")
    if module is None:
        return None
    for kind in ("DatasetDict", "IterableDatasetDict", "Dataset", "IterableDataset"):
        if isinstance(value, getattr(module, kind)):
            return kind
    return None


def describe_datasets_object(value: Any, split: str | None = None) -> str:
    """How errors name a datasets object, e.g. ``Dataset 'conll2003' (split 'train', 14,041 rows)``."""
    kind = datasets_kind(value) or type(value).__name__
    if kind.endswith("Dict"):
        return f"{kind} with splits {', '.join(map(str, value))}" + (f", split {split!r}" if split else "")
    info = getattr(value, "info", None)
    name = getattr(info, "dataset_name", None) or getattr(info, "builder_name", None)
    details = [f"split {str(value.split)!r}"] if getattr(value, "split", None) else []
    if kind == "Dataset":
        details.append(f"{value.num_rows:,} rows")
    return kind + (f" {name!r}" if name else "") + (f" ({', '.join(details)})" if details else "")


@dataclass
class DataSource:
    """Where one split of a task's data comes from.

    Args:
        format: One of ``"conll"``, ``"conllu"``, ``"csv"``, ``"tsv"``, ``"json"``, ``"jsonl"``, ``"hub"``,
            ``"disk"``. Inferred from ``path``'s suffix when left out (``.conllu``; ``.conll``, ``.iob2``,
            ``.txt`` -> conll; ``.csv``; ``.tsv``; ``.json``; ``.jsonl``).
        path: The file (file formats) or the folder written by ``Dataset.save_to_disk`` (``"disk"``).
        name: ``"hub"`` only: the dataset name (or a local dataset folder) passed to ``datasets.load_dataset``.
        config: ``"hub"`` only: the dataset configuration.
        split: ``"hub"``/``"disk"``: the split to read; defaults to the task split it is used for.
        has_header: csv/tsv: whether the first line names the columns.
        column_names: csv/tsv without a header: the column names, in file order.
        tag_column: conll: the whitespace column that holds the tag (an index, negative counts from the
            end); conllu: ``"upos"`` or ``"xpos"``.
        word_column: conll: the column holding the word. ``None`` picks 0, or 1 when the first column is a
            1-based token index (as in UNER ``.iob2`` files).
        field: json only: the key that holds the list of records, for a JSON object file.
        encoding: The text encoding of the file (e.g. ``latin-1`` for the MR ``rt-polarity`` files).
        delimiter: csv/tsv: the character between fields (default ``,`` for csv, a tab for tsv). Given without
            ``format``, the file is read as delimited text whatever its suffix (``{path: train.txt, delimiter: "\\t"}``).
        label_prefix: label_text: the prefix that marks a label, e.g. ``__label__`` for fastText files (every
            leading word with it is a label; several make a list, for a multi-label task).
        label_before: label_text: keep each label up to this separator, e.g. ``":"`` turns TREC's ``DESC:manner``
            into ``DESC``.
        files: class_files: ``{label: file}``, each non-blank line of a file one example of its label (paths are
            resolved like ``path``).
        rows: Keep only these examples, as a Python slice ``"start:stop"`` over the file's examples in order
            (e.g. ``"0:6080"`` and ``"6080:"`` split one file into train and test). The count kept is noted.
        dataset: Python only: a ``datasets.Dataset``, ``IterableDataset``, ``DatasetDict`` or
            ``IterableDatasetDict`` (format ``"dataset"``). From a dict, the split ``split`` (default: the task
            split it is used for) is read. A stream (``IterableDataset``) is read into memory once: its length
            must be known (``info.splits``), or bounded by ``rows`` (``"0:N"``) or the task's
            ``max_train_examples`` / ``max_eval_examples``; else :class:`TaskError` before anything is read.

    Example:

    ```python
    >>> DataSource.from_value("data/train.conllu").format
    'conllu'
    >>> DataSource.from_value({"format": "hub", "name": "conll2003"}).name
    'conll2003'
    >>> import datasets
    >>> DataSource.from_value(datasets.Dataset.from_dict({"text": ["hi"], "label": [0]})).format
    'dataset'
    ```
    """

    format: str | None = None
    path: str | None = None
    name: str | None = None
    config: str | None = None
    split: str | None = None
    has_header: bool = True
    column_names: list[str] | None = None
    tag_column: int | str = -1
    word_column: int | None = None
    field: str | None = None
    encoding: str = "utf-8"
    rows: str | None = None
    delimiter: str | None = None
    label_prefix: str | None = None
    label_before: str | None = None
    files: dict[str, str] | None = None
    dataset: Any = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.validate("data source")

    @property
    def in_memory(self) -> bool:
        """Whether the source is a datasets object given in Python (``format: dataset``)."""
        return self.format == IN_MEMORY_FORMAT

    def row_slice(self) -> slice | None:
        """``rows`` as a :class:`slice` (``None`` when all rows are kept)."""
        if self.rows is None:
            return None
        start, stop = (part.strip() for part in str(self.rows).split(":", 1))
        return slice(int(start) if start else None, int(stop) if stop else None)

    def validate(self, where: str) -> None:
        """Infer the format from the path and check the fields; raises :class:`TaskError` naming ``where``."""
        if self.path is not None:
            self.path = str(self.path)
        if self.dataset is not None or self.format == IN_MEMORY_FORMAT:
            self._validate_dataset(where)
        if self.format is None:
            if self.files is not None and self.path is None:
                self.format = "class_files"
            elif self.delimiter is not None:  # a delimited file whatever its suffix (`.txt`)
                self.format = "tsv" if self.delimiter == "\t" else "csv"
            elif self.name is not None and self.path is None:
                self.format = "hub"
            elif self.path is not None:
                suffix = Path(self.path).suffix.lower()
                if suffix not in SUFFIX_FORMATS:
                    raise TaskError(
                        f"{where}: cannot tell the format of {self.path!r} from its suffix {suffix!r}; "
                        f"add `format:` (one of {', '.join(DATA_FORMATS)})"
                    )
                self.format = SUFFIX_FORMATS[suffix]
            else:
                raise TaskError(f"{where}: a data source needs `path:` (a file or folder) or `name:` (a Hub dataset)")
        self.format = str(self.format).lower()
        if self.format not in DATA_FORMATS:
            raise TaskError(
                f"{where}: unknown data format {self.format!r}{did_you_mean(self.format, DATA_FORMATS)}; "
                f"expected one of {', '.join(DATA_FORMATS)}"
            )
        if self.format == IN_MEMORY_FORMAT:
            pass
        elif self.format == "hub":
            if not self.name:
                raise TaskError(f"{where}: format 'hub' needs `name:` (the dataset name or a local dataset folder)")
        elif self.format == "class_files":
            self._validate_files(where)
        elif not self.path:
            raise TaskError(f"{where}: format {self.format!r} needs `path:`")
        for option, formats in FORMAT_OPTIONS.items():
            if getattr(self, option) is not None and self.format not in formats:
                raise TaskError(f"{where}: `{option}` applies to format {' / '.join(formats)}, not {self.format!r}")
        if self.delimiter is not None and (not isinstance(self.delimiter, str) or len(self.delimiter) != 1
                                           or self.delimiter in "\r\n\"'"):
            raise TaskError(f"{where}: `delimiter` must be one character other than a quote or a line break, such as "
                            f"',', ';', '|' or '\\t' (a tab), not {self.delimiter!r}")
        for option in ("label_prefix", "label_before"):
            value = getattr(self, option)
            if value is not None and (not isinstance(value, str) or not value or value != value.strip()):
                raise TaskError(f"{where}: `{option}` must be non-empty text without spaces, not {value!r}")
        if self.format == "conllu":
            if self.tag_column == -1:
                self.tag_column = "upos"
            if self.tag_column not in CONLLU_TAG_COLUMNS:
                raise TaskError(f"{where}: for CoNLL-U, `tag_column` must be one of {list(CONLLU_TAG_COLUMNS)}, not "
                                f"{self.tag_column!r}")
        elif self.format == "conll":
            if isinstance(self.tag_column, bool) or not isinstance(self.tag_column, int):
                raise TaskError(f"{where}: for CoNLL files, `tag_column` must be a column index (e.g. -1), not {self.tag_column!r}")
        if self.word_column is not None and (isinstance(self.word_column, bool) or not isinstance(self.word_column, int)):
            raise TaskError(f"{where}: `word_column` must be a column index, not {self.word_column!r}")
        if self.column_names is not None:
            if not isinstance(self.column_names, (list, tuple)) or not all(isinstance(c, str) for c in self.column_names):
                raise TaskError(f"{where}: `column_names` must be a list of strings, not {self.column_names!r}")
            self.column_names = list(self.column_names)
        if not isinstance(self.has_header, bool):
            raise TaskError(f"{where}: `has_header` must be true or false, not {self.has_header!r}")
        if self.rows is not None and not re.fullmatch(r"\s*-?\d*\s*:\s*-?\d*\s*", str(self.rows)):
            raise TaskError(f"{where}: `rows` must be a slice 'start:stop' such as '0:6080' or '6080:', not {self.rows!r}")

    def _validate_files(self, where: str) -> None:
        if self.path is not None:
            raise TaskError(f"{where}: format 'class_files' reads `files: {{label: file}}`, not `path:` (a folder "
                            "of one subfolder per class is `format: class_folders`)")
        if not isinstance(self.files, dict) or len(self.files) < 1 or not all(
                isinstance(v, (str, Path)) and str(v) for v in self.files.values()):
            raise TaskError(f"{where}: format 'class_files' needs `files:`, a mapping from each label to its file, "
                            f"e.g. files: {{pos: rt-polarity.pos, neg: rt-polarity.neg}}; got {self.files!r}")
        self.files = {str(label): str(file) for label, file in self.files.items()}

    def _validate_dataset(self, where: str) -> None:
        if self.dataset is None:
            raise TaskError(
                f"{where}: format {IN_MEMORY_FORMAT!r} is a datasets object given in Python "
                "(TaskSpec(train=dataset) or DataSource(dataset=...)); a recipe names a file instead"
            )
        kind = datasets_kind(self.dataset)
        if kind is None:
            raise TaskError(
                f"{where}: `dataset` must be a datasets.Dataset, IterableDataset, DatasetDict or IterableDatasetDict, "
                f"not {type(self.dataset).__name__}"
            )
        if self.format not in (None, IN_MEMORY_FORMAT):
            raise TaskError(f"{where}: give either `dataset` (a datasets object) or a {self.format!r} source, not both")
        if self.path is not None or self.name is not None:
            raise TaskError(f"{where}: give either `dataset` (a datasets object) or `path:` / `name:`, not both")
        if self.split is not None and not kind.endswith("Dict"):
            raise TaskError(f"{where}: `split` picks a split of a DatasetDict; this is a {kind}")
        self.format = IN_MEMORY_FORMAT

    @classmethod
    def from_value(cls, value: str | Path | dict[str, Any] | DataSource | Any, where: str = "data source",
                   base_dir: str | Path | None = None) -> DataSource:
        """Build a source from a path string, a mapping (as written in a recipe) or a datasets object.

        Relative paths are resolved against ``base_dir`` when it is given. Unknown keys raise
        :class:`TaskError` naming the key and the nearest valid one. A ``datasets.Dataset``,
        ``IterableDataset``, ``DatasetDict`` or ``IterableDatasetDict`` becomes ``DataSource(dataset=value)``.
        """
        if isinstance(value, DataSource):
            source = dataclasses.replace(value)
        elif datasets_kind(value) is not None:
            source = cls(dataset=value)
        elif isinstance(value, (str, Path)):
            try:
                source = cls(path=str(value))
            except TaskError as err:
                raise TaskError(str(err).replace("data source", where, 1)) from None
        elif isinstance(value, dict):
            known = [f.name for f in dataclasses.fields(cls)]
            for key in value:
                if key not in known:
                    raise TaskError(
                        f"{where}: unknown key {key!r}{did_you_mean(str(key), known)}; valid keys: {', '.join(known)}"
                    )
            try:
                source = cls(**value)
            except TaskError as err:
                raise TaskError(str(err).replace("data source", where, 1)) from None
        else:
            raise TaskError(
                f"{where}: expected a path, a mapping or a datasets object (Dataset, DatasetDict, IterableDataset), "
                f"got {type(value).__name__} {value!r}"
            )
        if base_dir is not None and source.path is not None and source.format != "hub":
            path = Path(source.path).expanduser()  # `~/data/x.csv` was kept unexpanded, then "missing"
            source.path = str(path if path.is_absolute() else Path(base_dir) / path)
        if base_dir is not None and source.files:
            source.files = {label: str(Path(file).expanduser() if Path(file).expanduser().is_absolute()
                                       else Path(base_dir) / file) for label, file in source.files.items()}
        if base_dir is not None and source.format == "hub" and source.name is not None:
            # a local dataset folder named relatively (starts with ./ or ../) is resolved too
            if source.name.startswith(("./", "../")):
                source.name = str(Path(base_dir) / source.name)
        return source

    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from the defaults (``format`` always), as plain YAML-able values.

        Raises:
            TaskError: for a datasets object (it has no YAML form: save it with ``to_parquet`` or
                ``save_to_disk`` and name the file or folder).
        """
        if self.in_memory:
            raise TaskError(
                f"{self.describe()} has no recipe form: write it with `.to_parquet(path)` (or `save_to_disk`) "
                "and name that file in the recipe"
            )
        out: dict[str, Any] = {"format": self.format}
        for f in dataclasses.fields(self):
            if f.name in ("format", "dataset"):
                continue
            value = getattr(self, f.name)
            default = f.default
            if self.format == "conllu" and f.name == "tag_column":
                default = "upos"
            if value != default:
                out[f.name] = list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value
        return out

    def describe(self) -> str:
        """A short human-readable description, e.g. ``conll file data/train.txt``."""
        if self.in_memory:
            return describe_datasets_object(self.dataset, self.split)
        if self.format == "hub":
            return f"hub dataset {self.name!r}" + (f" ({self.config})" if self.config else "")
        if self.format == "disk":
            return f"saved dataset {self.path}"
        if self.format == "class_files":
            return "class files " + ", ".join(f"{label}: {file}" for label, file in (self.files or {}).items())
        if self.format == "class_folders":
            return f"class folders {self.path}"
        return f"{self.format} file {self.path}"
