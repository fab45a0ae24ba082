"""Error types raised by hf_mtl.

Every error that a user can cause (a bad recipe, a malformed data file, an unknown task) is raised as a
subclass of :class:`HfMtlError`, with a message that names the file, line or field and says what was
expected. They subclass :class:`ValueError` so existing ``except ValueError`` code keeps working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HfMtlError(ValueError):
    """Base class of every error hf_mtl raises on bad input."""


class DataError(HfMtlError):
    """A data file, column, split or label does not match what the task specification says."""


class RecipeError(HfMtlError):
    """A recipe (YAML) or a command-line override is invalid."""


class TaskError(HfMtlError):
    """A task name, task type or task set does not match the model or the data."""


def did_you_mean(word: object, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """The hint every "unknown name" error ends with: ``" (did you mean 'csv'?)"``, or ``""`` when nothing is close.

    Example:

    ```python
    >>> did_you_mean("cvs", ["csv", "tsv", "json"])
    " (did you mean 'csv'?)"
    >>> did_you_mean("parquet", ["csv", "tsv"])
    ''

    ```
    """
    close = difflib.get_close_matches(str(word), [str(choice) for choice in choices], n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""
