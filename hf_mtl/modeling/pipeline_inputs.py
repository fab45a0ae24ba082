"""What one input of the ``multitask`` pipeline is, and which tasks it can serve: pure functions over plain values.

An input is raw text (a string), a pre-split sentence (a list of words) or a sentence pair, given the way
transformers' text-classification pipeline takes one: ``{"text": ..., "text_pair": ...}``. A task reads what it
was trained on (``config.json`` says it: ``text_pair: true`` for a task trained on sentence pairs, see
:func:`~hf_mtl.modeling.task_kinds.takes_text_pair`), so:

- a pair serves the pair tasks; a single text serves the other tasks (token tasks and single-text tasks);
- when the tasks of one call need different inputs, each input runs the tasks it has what they need for, and the
  result names the others under :data:`SKIPPED_KEY` with the reason;
- an input that serves none of the tasks asked is an error (``allow_single_text=True`` lets pair tasks read a
  single text alone).

Raw text is cut into the words of token tasks as the task's training words were (``word_splitting``:
:func:`resolve_word_splitting`; the cutting itself is in ``word_windows``).

Also here: how an input is encoded into windows (:func:`encode_windows`, :func:`encode_pair`) and counted for the
length sort (:func:`token_counts`). Part of the files copied next to saved weights: imports the standard library
and, relatively, ``errors``, ``task_kinds`` and ``word_windows`` only.

Example:

```python
>>> tasks = {"ner": {"type": "token-classification"}, "nli": {"type": "text-classification", "text_pair": True}}
>>> item = check_input(None, {"text": "A man sleeps.", "text_pair": "Nobody sleeps."})
>>> fitting_tasks(["ner", "nli"], tasks, item, allow_single_text=False, where="Input")
(['nli'], {'ner': 'takes one text; the input is a text pair'})

```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import HfMtlError
from .task_kinds import TOKENIZER_SPLITTING, WORD_SPLITTINGS, takes_text_pair, task_kind, word_splitting
from .word_windows import pre_split_text

SKIPPED_KEY = "_skipped"
"""The result key naming, per task, why it did not run on an input (only there when one did not). Task names are
lowercase snake_case starting with a letter, so no task can be called this."""
PAIR_KEYS = ("text", "text_pair")

__all__ = ["PAIR_KEYS", "SKIPPED_KEY", "PipelineInputError", "Sample", "TextInput", "check_input", "encode_pair",
           "encode_windows", "fitting_tasks", "recorded_word_splittings", "resolve_word_splitting", "token_counts"]


class PipelineInputError(HfMtlError, TypeError):
    """An input of the pipeline is not a string, a list of words or a ``{"text", "text_pair"}`` pair.

    It is both a `TypeError` and an [`HfMtlError`] (a `ValueError`), so either `except` catches it.
    """


@dataclass
class Sample:
    """One input as the pipeline reads it: its text, each word's character span, and whether it is empty or was cut."""

    index: int | None
    text: str
    word_spans: dict[int, tuple[int, int]]
    empty: bool = False
    truncated: bool = False  # cut at `limit` tokens without being asked to: warn
    limit: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # task -> why it does not run on this input
    pair: bool = False  # a sentence pair (one window, text tasks only)


@dataclass
class TextInput:
    """One input as checked: ``text`` (raw text or pre-split words) and, for a sentence pair, ``text_pair``."""

    text: str | list[str]
    text_pair: str | None = None

    @property
    def is_pair(self) -> bool:
        return self.text_pair is not None


def _where(index: int | None) -> str:
    return "Input" if index is None else f"Input {index}"


def check_input(index: int | None, item: Any) -> TextInput:
    """Check one input: a string, a list of strings (pre-split words) or a mapping with ``text`` and, for a pair,
    ``text_pair`` (both strings), as transformers' text-classification pipeline takes it.

    Raises:
        PipelineInputError: anything else, naming the input (``index``) and what was expected.
    """
    where = _where(index)
    if isinstance(item, str):
        return TextInput(item)
    if isinstance(item, (list, tuple)):
        for position, word in enumerate(item):
            if not isinstance(word, str):
                raise PipelineInputError(
                    f"{where}: pre-split word {position} is a {type(word).__name__} ({word!r}); "
                    "every word must be a string."
                )
        return TextInput(list(item))
    if isinstance(item, Mapping):
        unknown = [key for key in item if key not in PAIR_KEYS]
        if unknown or "text" not in item:
            problem = f"has key(s) {unknown}" if unknown else "has no 'text'"
            raise PipelineInputError(
                f"{where} {problem}: a mapping input is a text pair {{'text': ..., 'text_pair': ...}} "
                "(or {'text': ...} for one text)."
            )
        for key in PAIR_KEYS:
            if key in item and not isinstance(item[key], str):
                raise PipelineInputError(
                    f"{where}: {key!r} is a {type(item[key]).__name__} ({item[key]!r:.60}); expected a string "
                    "(pre-split words are not taken as pairs)."
                )
        return TextInput(item["text"], item.get("text_pair"))
    raise PipelineInputError(
        f"{where} is a {type(item).__name__} ({item!r:.60}); expected a string, a list of words or a text pair "
        "{'text': ..., 'text_pair': ...}."
    )


def fitting_tasks(
    tasks: Sequence[str], configs: Mapping[str, Mapping[str, Any]], item: TextInput, allow_single_text: bool,
    where: str,
) -> tuple[list[str], dict[str, str]]:
    """The tasks ``item`` serves, in the order asked, and ``{task: reason}`` for the others.

    A pair serves the tasks trained on pairs; a single text serves the others, and the pair tasks too with
    ``allow_single_text``.

    Raises:
        PipelineInputError: the input serves none of ``tasks`` (naming the input, the tasks and the fix).
    """
    run: list[str] = []
    skipped: dict[str, str] = {}
    for task in tasks:
        pair_task = takes_text_pair(configs[task])
        if item.is_pair and not pair_task:
            skipped[task] = "takes one text; the input is a text pair"
        elif not item.is_pair and pair_task and not allow_single_text:
            skipped[task] = "takes a text pair {'text': ..., 'text_pair': ...}; the input is one text"
        else:
            run.append(task)
    if run:
        return run, skipped
    if item.is_pair:
        raise PipelineInputError(
            f"{where} is a text pair, but task(s) {list(tasks)} take one text: pass the text as a string "
            "(or ask for the tasks trained on pairs)."
        )
    raise PipelineInputError(
        f"{where} is one text, but task(s) {list(tasks)} were trained on text pairs: pass "
        "{'text': ..., 'text_pair': ...}, or allow_single_text=True to read the text alone."
    )


def recorded_word_splittings(tasks: Sequence[str], configs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``{token task: its word splitting}`` for the token tasks among ``tasks`` (``"tokenizer"`` where the config
    records none)."""
    return {task: word_splitting(configs[task]) or TOKENIZER_SPLITTING
            for task in tasks if task_kind(configs[task].get("type")).per_token}


def resolve_word_splitting(
    tasks: Sequence[str], configs: Mapping[str, Mapping[str, Any]], requested: str | None = None
) -> str:
    """How raw text is cut into words for ``tasks``: ``requested`` when given, else what their configs record
    (``"tokenizer"`` where none records it: models saved before it was recorded split that way).

    Raises:
        HfMtlError: ``requested`` is not one of ``WORD_SPLITTINGS``, or the token tasks record different ones.

    Example:

    ```python
    >>> configs = {"ner": {"type": "token-classification", "word_splitting": "whitespace"},
    ...            "sentiment": {"type": "text-classification"}}
    >>> resolve_word_splitting(["ner", "sentiment"], configs), resolve_word_splitting(["sentiment"], configs)
    ('whitespace', 'tokenizer')

    ```
    """
    if requested is not None:
        if requested not in WORD_SPLITTINGS:
            raise HfMtlError(f"word_splitting must be one of {', '.join(WORD_SPLITTINGS)}, not {requested!r}.")
        return requested
    recorded = recorded_word_splittings(tasks, configs)
    if len(set(recorded.values())) > 1:
        raise HfMtlError(
            f"The token tasks split raw text into words differently ({recorded}): pass word_splitting="
            f"{' or '.join(map(repr, WORD_SPLITTINGS))}, or predict them in separate calls (tasks=...)."
        )
    return next(iter(recorded.values()), TOKENIZER_SPLITTING)


# ------------------------------------------------------------------------------------------------ encoding
def _too_long(index: int | None, limit: int, truncation: bool | None) -> bool:
    """An input longer than `limit` tokens without `stride`: an error with `truncation=False`; else whether to
    warn that it was cut (`truncation` not given)."""
    if truncation is False:
        raise HfMtlError(
            f"{'Input' if index is None else f'Input {index}'} is longer than {limit} tokens and "
            f"truncation=False: pass stride=<tokens> (e.g. stride={limit // 4}) to read it in overlapping "
            "windows, or truncation=True to cut it."
        )
    return truncation is None


def encode_windows(
    tokenizer: Any, index: int | None, item: str | list[str], stride: int | None, limit: int, truncation: bool | None
) -> tuple[Sample, list[Any]]:
    """The sample and every window of `limit` tokens the tokenizer cuts it into (overlapping by `stride`)."""
    if stride is not None and stride >= limit - tokenizer.num_special_tokens_to_add():
        raise HfMtlError(
            f"stride={stride} must be smaller than the tokens a window holds "
            f"({limit - tokenizer.num_special_tokens_to_add()}); e.g. stride={limit // 4}."
        )
    if isinstance(item, str):
        sample = Sample(index, item, {}, empty=not item.strip(), limit=limit)
    else:
        text, spans = pre_split_text(item)
        sample = Sample(index, text, spans, empty=not any(word.strip() for word in item), limit=limit)
    windows = tokenizer(
        ["" if sample.empty else item],  # an empty input still runs, as one window without words
        is_split_into_words=not isinstance(item, str) and not sample.empty,
        truncation=True,
        max_length=limit,
        stride=stride or 0,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_token_type_ids=False,
    ).encodings
    if len(windows) > 1 and stride is None:
        sample.truncated = _too_long(index, limit, truncation)
    return sample, windows


def encode_pair(
    tokenizer: Any, index: int | None, item: TextInput, limit: int, truncation: bool | None
) -> tuple[Sample, list[Any]]:
    """A sentence pair as one window, encoded as training encodes it: `tokenizer(text, text_pair,
    truncation=True)` (longest first) at `limit` tokens. Text tasks read one window, so `stride` does not apply."""
    sample = Sample(index, item.text, {}, limit=limit, pair=True)
    texts = ([item.text], [item.text_pair])
    window = tokenizer(*texts, truncation=True, max_length=limit, return_offsets_mapping=True,
                       return_token_type_ids=False).encodings[0]
    alone = tokenizer([item.text, item.text_pair], add_special_tokens=False, truncation=True, max_length=limit)
    tokens = sum(len(ids) for ids in alone["input_ids"]) + tokenizer.num_special_tokens_to_add(pair=True)
    if tokens > limit:
        sample.truncated = _too_long(index, limit, truncation)
    return sample, [window]


def token_counts(tokenizer: Any, items: list[Any], limit: int) -> list[int]:
    """Tokens of each input (up to a window), one batched tokenizer call per input type (0: an invalid input)."""
    counts = [0] * len(items)
    texts = [i for i, item in enumerate(items) if isinstance(item, str)]
    words = [i for i, x in enumerate(items) if isinstance(x, (list, tuple)) and x and all(isinstance(w, str) for w in x)]
    pairs = [i for i, x in enumerate(items) if isinstance(x, Mapping) and isinstance(x.get("text"), str)
             and isinstance(x.get("text_pair", ""), str)]
    for indices, split in ((texts, False), (words, True)):
        if indices:
            encoded = tokenizer(  # cut at a window: no "sequence longer than the model" warning
                [items[i] if not split else list(items[i]) for i in indices], is_split_into_words=split,
                add_special_tokens=False, truncation=True, max_length=limit,
            )
            for i, ids in zip(indices, encoded["input_ids"], strict=True):
                counts[i] = len(ids)
    if pairs:
        encoded = tokenizer([items[i]["text"] for i in pairs], [items[i].get("text_pair", "") for i in pairs],
                            add_special_tokens=False, truncation=True, max_length=limit)
        for i, ids in zip(pairs, encoded["input_ids"], strict=True):
            counts[i] = len(ids)
    return counts
