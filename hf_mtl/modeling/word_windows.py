"""Words, windows and entity spans for the ``multitask`` pipeline: pure functions over plain lists.

A fast tokenizer gives, for each encoder sequence (a *window*: a whole input, or one of the overlapping pieces of
a long input), the word index and the character offsets of every token. From those this module decides:

- where each word is read: at its **first sub-word** (labels sit there in training), in the window where that
  sub-word is most central (:func:`plan_reads`);
- each word's character span in the input (:func:`word_spans`, :func:`pre_split_text`), and, when raw text is cut
  at whitespace only (``word_splitting="whitespace"``), which of those words each token is in
  (:func:`whitespace_words`, :func:`whitespace_word_ids`);
- which words form an entity (:func:`group_entities`), with the task-kind registry's
  :func:`~hf_mtl.modeling.task_kinds.entity_spans`, the very reading the metrics score.

Nothing here touches torch or a tokenizer object, so each step is tested on hand-written lists. Part of the
files copied next to saved weights (the pipeline loads as remote code): imports the standard library and,
relatively, ``task_kinds`` and ``encoder_families`` only.

Example:

```python
>>> word_ids = [None, 0, 0, 1, None]  # "Adam lived": [CLS] ada ##m lived [SEP]
>>> offsets = [(0, 0), (0, 3), (3, 4), (5, 10), (0, 0)]
>>> plan_reads([word_ids], [offsets], raw_text=True)  # one window: read "ada" (1) and "lived" (3)
[([1, 3], [0, 1])]
>>> word_spans([word_ids], [offsets])
{0: (0, 4), 1: (5, 10)}

```
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from typing import Any

from .encoder_families import position_offset
from .lemma_rules import apply_lemma_rule
from .task_kinds import DEPENDENCIES, ENTITIES, LEMMAS, LabelScheme, detect_label_scheme, entity_spans

WordIds = Sequence[int | None]
Offsets = Sequence[tuple[int, int]]
# (token positions read, the word index of each) for one window
Reads = tuple[list[int], list[int]]


def window_limit(encoder_config: Any, tokenizer_limit: int | None) -> int:
    """The most tokens a window may hold: the tokenizer's ``model_max_length`` and the encoder's absolute position
    embeddings (less the positions the encoder family reserves, see ``encoder_families``), whichever is smaller
    (512 when neither says).

    Example:

    ```python
    >>> from types import SimpleNamespace
    >>> window_limit(SimpleNamespace(model_type="roberta", max_position_embeddings=514), 10**30)
    512

    ```
    """
    limits = [int(tokenizer_limit)] if tokenizer_limit and tokenizer_limit < 1_000_000 else []
    max_positions = getattr(encoder_config, "max_position_embeddings", None)
    if isinstance(max_positions, int) and max_positions > 0 and getattr(  # XLNet: -1, no limit
            encoder_config, "position_embedding_type", "absolute") == "absolute":
        limits.append(int(max_positions) - position_offset(encoder_config))
    return min(limits) if limits else 512


def pre_split_text(words: Sequence[str], delimiter: str = " ") -> tuple[str, dict[int, tuple[int, int]]]:
    """The text a pre-split sentence stands for (words joined by ``delimiter``) and each word's span in it.

    Example:

    ```python
    >>> pre_split_text(["New", "York", "!"])
    ('New York !', {0: (0, 3), 1: (4, 8), 2: (9, 10)})

    ```
    """
    spans: dict[int, tuple[int, int]] = {}
    start = 0
    for index, word in enumerate(words):
        spans[index] = (start, start + len(word))
        start += len(word) + len(delimiter)
    return delimiter.join(words), spans


def whitespace_words(text: str) -> dict[int, tuple[int, int]]:
    """The character span of each word of ``text`` cut at whitespace only (``word_splitting="whitespace"``).

    Example:

    ```python
    >>> whitespace_words("Hi @sarah_k, don't!")
    {0: (0, 2), 1: (3, 12), 2: (13, 19)}

    ```
    """
    return {index: match.span() for index, match in enumerate(re.finditer(r"\S+", text))}


def whitespace_word_ids(text: str, word_ids: WordIds, offsets: Offsets, spans: dict[int, tuple[int, int]]) -> list[int | None]:
    """A window's word ids with ``spans`` (:func:`whitespace_words`) as the words: each token belongs to the word
    holding its first non-space character at or after its start (so a token whose offsets begin at the space before
    a word, or a lone word-start marker, belongs to the next word, as the tokenizer's own word ids have it).
    Special tokens (word id ``None``) stay ``None``.

    Example:

    ```python
    >>> text = "Hi @sarah_k"  # [CLS] hi @ sarah _ k [SEP]
    >>> ids, offs = [None, 0, 1, 2, 3, 4, None], [(0, 0), (0, 2), (3, 4), (4, 9), (9, 10), (10, 11), (0, 0)]
    >>> whitespace_word_ids(text, ids, offs, whitespace_words(text))
    [None, 0, 1, 1, 1, 1, None]

    ```
    """
    starts = [start for start, _ in spans.values()]
    words = list(spans)
    out: list[int | None] = []
    for word, (start, _) in zip(word_ids, offsets, strict=True):
        if word is None:
            out.append(None)
            continue
        while start < len(text) and text[start].isspace():
            start += 1
        at = bisect.bisect_right(starts, start) - 1
        out.append(words[at] if at >= 0 and start < spans[words[at]][1] else None)
    return out


def word_spans(word_ids: Sequence[WordIds], offsets: Sequence[Offsets],
               text: str | None = None) -> dict[int, tuple[int, int]]:
    """Each word's character span in a raw-text input: from its first token's start to its last token's end.

    Taken over every window, so a word cut by a window boundary still gets its whole span. With the ``text``, a
    token's offsets are moved past the whitespace they start with: SentencePiece and byte-level tokenizers
    (DeBERTa, BigBird, RemBERT, ModernBERT) give ``▁Merkel`` the offsets of `` Merkel``, the preceding space
    included, and the span must be ``Merkel`` as for pre-split words.

    Example:

    ```python
    >>> word_spans([[0, 1]], [[(0, 5), (5, 12)]], "Hello  Merkel")
    {0: (0, 5), 1: (7, 12)}

    ```
    """
    spans: dict[int, list[int]] = {}
    for ids, offs in zip(word_ids, offsets, strict=True):
        for word, (start, end) in zip(ids, offs, strict=True):
            if word is None:
                continue
            while text is not None and start < end and text[start].isspace():
                start += 1
            span = spans.get(word)
            if span is None:
                spans[word] = [start, end]
            else:
                span[0] = min(span[0], start)
                span[1] = max(span[1], end)
    return {word: (span[0], span[1]) for word, span in spans.items()}


def content_bounds(word_ids: WordIds) -> tuple[int, int]:
    """The first and last positions of a window that hold a word (special tokens excluded).

    Example:

    ```python
    >>> content_bounds([None, 0, 1, 1, None])
    (1, 3)

    ```
    """
    lo = next((p for p, w in enumerate(word_ids) if w is not None), 0)
    hi = next((p for p in range(len(word_ids) - 1, -1, -1) if word_ids[p] is not None), len(word_ids) - 1)
    return lo, hi


def _first_subword_starts(word_ids: Sequence[WordIds], offsets: Sequence[Offsets]) -> dict[int, int]:
    """Each word's smallest token start over all windows: where its first sub-word begins."""
    first: dict[int, int] = {}
    for ids, offs in zip(word_ids, offsets, strict=True):
        for word, (start, _) in zip(ids, offs, strict=True):
            if word is not None and start < first.get(word, start + 1):
                first[word] = start
    return first


def _single_window_reads(word_ids: WordIds) -> Reads:
    """One window: each word's first token is its first sub-word (the common case, in one pass)."""
    positions, words = [], []
    previous = None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            positions.append(position)
            words.append(word)
        previous = word
    return positions, words


def plan_reads(word_ids: Sequence[WordIds], offsets: Sequence[Offsets], raw_text: bool) -> list[Reads]:
    """Where each word is read: for each window, the positions read and the word at each.

    A word is read at its first sub-word, in the window where that sub-word is furthest from the window's edges
    (most context on both sides; the earlier window on a tie). A window that starts inside a word does not read
    it there. ``raw_text`` is ``False`` for pre-split words (offsets are then relative to each word, which this
    handles the same way).

    Example:

    ```python
    >>> # two windows overlapping on word 1; word 1 is more central in the first
    >>> ids = [[None, 0, 1, 2, None], [None, 1, 2, 3, None]]
    >>> offs = [[(0, 0), (0, 1), (2, 3), (4, 5), (0, 0)], [(0, 0), (2, 3), (4, 5), (6, 7), (0, 0)]]
    >>> plan_reads(ids, offs, raw_text=True)
    [([1, 2], [0, 1]), ([2, 3], [2, 3])]

    ```
    """
    if len(word_ids) == 1:
        return [_single_window_reads(word_ids[0])]
    first_start = _first_subword_starts(word_ids, offsets)
    best: dict[int, tuple[int, int, int]] = {}  # word -> (centrality, window, position)
    for number, (ids, offs) in enumerate(zip(word_ids, offsets, strict=True)):
        lo, hi = content_bounds(ids)
        previous = None
        for position, word in enumerate(ids):
            if word is None or word == previous:
                previous = word
                continue
            previous = word
            if offs[position][0] != first_start[word]:  # the window starts inside this word
                continue
            centrality = min(position - lo, hi - position)
            if word not in best or centrality > best[word][0]:
                best[word] = (centrality, number, position)
    reads: list[Reads] = [([], []) for _ in word_ids]
    for word in sorted(best):
        _, number, position = best[word]
        reads[number][0].append(position)
        reads[number][1].append(word)
    return reads


def group_entities(
    words: Sequence[dict[str, Any]], text: str, scheme: LabelScheme | None = None
) -> list[dict[str, Any]]:
    """Group word predictions ``{"tag", "score", "start", "end"}`` (in word order) into entity spans.

    The words of an entity are those :func:`~hf_mtl.modeling.task_kinds.entity_spans` reads as one entity (the reading the
    metrics score: a new entity at ``B``/``S``/``U``, at a change of type, after ``E``/``S``/``L``/``U``; ``O``
    words end entities and are dropped). Its score is the mean of its words' scores; ``word`` is the text from its
    first word's start to its last word's end.

    Args:
        words: the word predictions, in word order.
        text: the input text (``start``/``end`` index it).
        scheme: the task's label scheme (:func:`~hf_mtl.modeling.task_kinds.detect_label_scheme` of its labels); detected
            from the predicted tags when not given.

    Example:

    ```python
    >>> text = "Ada Lovelace lived in London"
    >>> words = [{"tag": t, "score": 1.0, "start": s, "end": e} for t, s, e in
    ...          [("B-PER", 0, 3), ("I-PER", 4, 12), ("O", 13, 18), ("O", 19, 21), ("B-LOC", 22, 28)]]
    >>> [(e["entity_group"], e["word"]) for e in group_entities(words, text)]
    [('PER', 'Ada Lovelace'), ('LOC', 'London')]

    ```
    """
    tags = [word["tag"] for word in words]
    scheme = scheme or detect_label_scheme(tags)
    if scheme is None:  # no entity tag predicted (all `O`)
        return []
    entities = []
    for entity_type, first, last in entity_spans(tags, scheme):
        group = words[first:last]
        start, end = group[0]["start"], group[-1]["end"]
        entities.append(
            {
                "entity_group": entity_type,
                "score": float(sum(word["score"] for word in group) / len(group)),
                "word": text[start:end],
                "start": start,
                "end": end,
            }
        )
    return entities




def word_outputs(
    kind: str, read: Sequence[tuple[int, Any, float | None]], text: str, spans: dict[int, tuple[int, int]],
    id2label: dict[int, str], scheme: LabelScheme | None = None,
) -> list[dict[str, Any]]:
    """The pipeline's per-word output of one task from ``(word index, label id, score)`` reads, in word order.

    ``kind`` is the task's output kind: word tags ``{word, tag, score, start, end}``; lemmas ``{word, lemma, ...}``
    (the predicted edit rule applied); dependencies ``{word, head, deprel, start, end}`` (the label id is a
    ``(head, relation id)`` pair); entities: the word tags grouped by :func:`group_entities` with ``scheme``.
    """
    words: list[dict[str, Any]] = []
    for word, label_id, score in read:
        start, end = spans[word]
        if kind == DEPENDENCIES:
            head, relation = label_id
            words.append({"word": text[start:end], "head": head, "deprel": id2label[relation], "start": start, "end": end})
        elif kind == LEMMAS:
            words.append({"word": text[start:end], "lemma": apply_lemma_rule(text[start:end], id2label[label_id]),
                          "score": score, "start": start, "end": end})
        else:
            words.append({"word": text[start:end], "tag": id2label[label_id], "score": score, "start": start, "end": end})
    if kind == ENTITIES:
        return group_entities(words, text, scheme)
    return words


__all__ = ["content_bounds", "group_entities", "plan_reads", "pre_split_text", "whitespace_word_ids",
           "whitespace_words", "window_limit", "word_outputs", "word_spans"]
