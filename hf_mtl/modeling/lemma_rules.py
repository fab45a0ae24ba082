"""Lemmas as token labels: the edit rule that turns a word into its lemma (UDify's approach, UDPipe's rules).

A lemma is predicted as a *class*: the rule that rewrites the word into it. Words that inflect alike share a rule
(``running -> run``, ``sitting -> sit``: cut 4 characters at the end, add nothing), so a few hundred rules cover a
treebank. A rule is a string ``"<case>|<cut front>|<add front>|<cut back>|<add back>"``, computed on the lowercased
word around the longest common substring of word and lemma, with ``<case>`` ``"L"`` when the lemma is lowercase and
the word is not (``The -> the``), ``"K"`` (keep) otherwise; a lemma that shares nothing with the word is stored
whole: ``"=<lemma>"`` (``was -> be``). :func:`apply_lemma_rule` inverts it exactly: for every (word, lemma) pair,
``apply_lemma_rule(word, lemma_rule(word, lemma)) == lemma``.

Part of the *modeling core*: the pipeline applies the predicted rule to each word.

Example:

```python
>>> lemma_rule("Running", "run"), apply_lemma_rule("Sitting", lemma_rule("Running", "run"))
('L|0||4|', 'sit')
>>> lemma_rule("was", "be")
'=be'

```
"""

from __future__ import annotations

from difflib import SequenceMatcher

__all__ = ["apply_lemma_rule", "lemma_rule"]

_WHOLE = "="
_SEPARATOR = "|"


def _common(word: str, lemma: str) -> tuple[int, int, int]:
    match = SequenceMatcher(None, word, lemma, autojunk=False).find_longest_match(0, len(word), 0, len(lemma))
    return match.a, match.b, match.size


def lemma_rule(word: str, lemma: str) -> str:
    """The rule that turns ``word`` into ``lemma`` (see the module docstring)."""
    case = "L" if lemma == lemma.lower() and word != word.lower() else "K"
    source = word.lower() if case == "L" else word
    start, lemma_start, size = _common(source, lemma)
    if size == 0 or _SEPARATOR in lemma:
        return _WHOLE + lemma
    cut_front, add_front = start, lemma[:lemma_start]
    cut_back, add_back = len(source) - start - size, lemma[lemma_start + size:]
    return _SEPARATOR.join((case, str(cut_front), add_front, str(cut_back), add_back))


def apply_lemma_rule(word: str, rule: str) -> str:
    """``word`` rewritten by ``rule``; a rule that does not fit the word (it cuts more than there is) gives the word."""
    if rule.startswith(_WHOLE):
        return rule[len(_WHOLE):]
    parts = rule.split(_SEPARATOR)
    if len(parts) != 5 or not parts[1].isdigit() or not parts[3].isdigit():
        return word
    case, cut_front, add_front, cut_back, add_back = parts[0], int(parts[1]), parts[2], int(parts[3]), parts[4]
    source = word.lower() if case == "L" else word
    if cut_front + cut_back > len(source):
        return word
    return add_front + source[cut_front:len(source) - cut_back] + add_back
