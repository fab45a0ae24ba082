"""Entity tag schemes: which scheme a label set follows and which entities a tag sequence holds.

Shared by the metrics (entity spans scored with seqeval) and the pipeline (entity grouping), through the task-kind
registry (``task_kinds`` re-exports every name here). Part of the *modeling core*: imports only the standard
library, so it is copied next to saved weights.

Example:

```python
>>> detect_label_scheme(["O", "B-PER", "I-PER"]).name, entity_spans(["B-PER", "I-PER", "O"], LabelScheme("IOB2"))
('IOB2', [('PER', 0, 2)])

```
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["OUTSIDE", "SCHEME_PREFIXES", "LabelScheme", "detect_label_scheme", "entity_spans"]

OUTSIDE = "O"
_SEPARATORS = ("-", "_")
# prefix letters each scheme allows; a label set is named by the first scheme whose letters hold all its
# prefixes, except that a set of I- tags alone (no B-) is IOB1
SCHEME_PREFIXES: dict[str, frozenset[str]] = {"IOB2": frozenset("BI"), "IOB1": frozenset("BI"),
                                              "IOBES": frozenset("BIES"), "BILOU": frozenset("BILU")}
# how a prefix reads: BILOU is IOBES with other letters (L = last = E, U = unit = S)
_READING = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}


@dataclass(frozen=True)
class LabelScheme:
    """An entity tagging scheme: which prefixes it uses, how a prefix is joined to the type, and on which side.

    Args:
        name (`str`): ``"IOB1"`` (only ``I-``), ``"IOB2"`` (``B-``/``I-``), ``"IOBES"`` (also ``E-``/``S-``) or
            ``"BILOU"`` (``B-``/``I-``/``L-``/``U-``). A label *set* cannot tell IOB1 from IOB2 data when both
            ``B-`` and ``I-`` occur; both are read the same way (see :func:`entity_spans`).
        separator (`str`): ``"-"`` (``B-PER``) or ``"_"`` (``B_PER``).
        prefix_first (`bool`): ``True`` for ``B-PER``, ``False`` for suffix tags (``PER-B``).

    Example:

    ```python
    >>> scheme = LabelScheme("IOB2", separator="-", prefix_first=False)
    >>> scheme.parse("PER-B"), scheme.canonical("PER-B"), scheme.canonical("O")
    (('B', 'PER'), 'B-PER', 'O')

    ```
    """

    name: str
    separator: str = "-"
    prefix_first: bool = True

    def parse(self, tag: str) -> tuple[str, str]:
        """``(prefix, entity type)`` of a tag: ``("B", "PER")``; ``("O", "")`` for the outside tag.

        Raises:
            `ValueError`: A tag that does not follow this scheme.
        """
        parsed = _parse(tag, self.separator, self.prefix_first)
        if parsed is None or (parsed[0] != OUTSIDE and parsed[0] not in self.prefixes):
            raise ValueError(f"Tag {tag!r} does not follow the {self.description} scheme.")
        return parsed

    def canonical(self, tag: str) -> str:
        """The tag in the form seqeval reads by default (prefix first, ``-``): ``PER-B`` / ``B_PER`` -> ``B-PER``.

        BILOU tags are written with their IOBES letters (``L-PER`` -> ``E-PER``, ``U-PER`` -> ``S-PER``): the same
        chunks, in the letters seqeval's default reading knows.
        """
        prefix, entity_type = self.parse(tag)
        return OUTSIDE if prefix == OUTSIDE else f"{_READING[prefix]}-{entity_type}"

    @property
    def prefixes(self) -> frozenset[str]:
        """The prefix letters this scheme allows (``O`` aside)."""
        return SCHEME_PREFIXES[self.name]

    @property
    def description(self) -> str:
        """A human-readable name: ``"IOB2"``, ``"IOB2 (B_PER)"``, ``"IOBES (PER-B)"``."""
        if self.separator == "-" and self.prefix_first:
            return self.name
        example = f"B{self.separator}PER" if self.prefix_first else f"PER{self.separator}B"
        return f"{self.name} ({example})"


def _parse(tag: str, separator: str, prefix_first: bool) -> tuple[str, str] | None:
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if len(tag) < 3:
        return None
    if prefix_first:
        prefix, sep, entity_type = tag[0], tag[1], tag[2:]
    else:
        prefix, sep, entity_type = tag[-1], tag[-2], tag[:-2]
    if sep != separator or prefix not in _READING or not entity_type.strip():
        return None
    return prefix, entity_type


def detect_label_scheme(labels: Iterable[str]) -> LabelScheme | None:
    """The entity tagging scheme of a label set, or ``None`` when it is not one (POS tags, classes).

    A label set is an entity scheme when every label is ``O`` or a prefix letter joined to a type by one
    separator (``-`` or ``_``, the same for all), the prefix on the same side in all (``B-PER`` or ``PER-B``),
    at least one label is not ``O``, and the prefixes fit one scheme (``B I`` -> IOB2, ``I`` alone -> IOB1,
    ``B I E S`` -> IOBES, ``B I L U`` -> BILOU). ``None`` means: scored as token accuracy, output per word.

    Example:

    ```python
    >>> detect_label_scheme(["O", "B_PER", "I_PER"])
    LabelScheme(name='IOB2', separator='_', prefix_first=True)
    >>> detect_label_scheme(["O", "U-LOC", "B-LOC", "L-LOC"]).name
    'BILOU'
    >>> detect_label_scheme(["NOUN", "VERB", "O"]) is None
    True

    ```
    """
    labels = [str(label) for label in labels]
    if not any(label != OUTSIDE for label in labels):
        return None
    for prefix_first in (True, False):
        for separator in _SEPARATORS:
            parsed = [_parse(label, separator, prefix_first) for label in labels]
            if any(item is None for item in parsed):
                continue
            prefixes = {prefix for prefix, _ in parsed if prefix != OUTSIDE}  # type: ignore[misc]
            if prefixes == {"I"}:
                return LabelScheme("IOB1", separator=separator, prefix_first=prefix_first)
            for name, allowed in SCHEME_PREFIXES.items():
                if prefixes <= allowed:
                    return LabelScheme(name, separator=separator, prefix_first=prefix_first)
    return None


def entity_spans(tags: Sequence[str], scheme: LabelScheme) -> list[tuple[str, int, int]]:
    """The entities of one tag sequence: ``(type, start, end)`` over tag positions, ``end`` exclusive.

    The reading is CoNLL's ``conlleval`` (seqeval's default mode), which is right for IOB1, IOB2, IOBES and BILOU
    alike: an entity starts at ``B``/``S`` (``U``), at an ``I``/``E`` (``L``) that does not continue an open
    entity of the same type, and ends after ``E``/``S`` (``L``/``U``), before ``O``, ``B``/``S`` or a change of
    type. The metrics score exactly these spans (a test pins them to seqeval's) and the pipeline groups words
    into them.

    Example:

    ```python
    >>> entity_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"], LabelScheme("IOB2"))
    [('PER', 0, 2), ('LOC', 3, 4), ('LOC', 4, 5)]

    ```
    """
    spans: list[tuple[str, int, int]] = []
    open_type: str | None = None  # type of the entity being read, None outside one
    open_start = 0
    closed = True  # the previous tag ended its entity (E/S) or there is none
    for position, tag in enumerate(tags):
        prefix, entity_type = scheme.parse(tag)
        reading = _READING.get(prefix, OUTSIDE)
        continues = (
            open_type is not None and not closed and entity_type == open_type and reading in ("I", "E")
        )
        if not continues:
            if open_type is not None:
                spans.append((open_type, open_start, position))
            open_type, open_start = (None, position) if reading == OUTSIDE else (entity_type, position)
        closed = reading in ("E", "S", OUTSIDE)
    if open_type is not None:
        spans.append((open_type, open_start, len(tags)))
    return spans
