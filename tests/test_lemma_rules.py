"""Lemma edit rules: every (word, lemma) pair of the shipped UD sample round-trips; rules are shared."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import conllu
import pytest

from hf_mtl.modeling.lemma_rules import apply_lemma_rule, lemma_rule

SAMPLE = Path(__file__).resolve().parents[1] / "recipes" / "data" / "ud_en_ewt_train.conllu"


@pytest.mark.parametrize(("word", "lemma", "rule"), [
    ("running", "run", "K|0||4|"), ("The", "the", "L|0||0|"), ("was", "be", "=be"), ("mice", "mouse", "K|0||3|ouse"),
    ("unhappiest", "unhappy", "K|0||4|y"), ("", "", "=")
])
def test_rules_of_known_pairs(word, lemma, rule):
    assert lemma_rule(word, lemma) == rule
    assert apply_lemma_rule(word, rule) == lemma


def test_every_pair_of_the_ud_sample_round_trips_and_rules_are_few():
    pairs = [(token["form"], token["lemma"]) for sentence in conllu.parse(SAMPLE.read_text(encoding="utf-8"))
             for token in sentence if isinstance(token["id"], int)]
    assert len(pairs) > 1000
    rules = Counter()
    for word, lemma in pairs:
        rule = lemma_rule(word, lemma)
        assert apply_lemma_rule(word, rule) == lemma, (word, lemma, rule)
        rules[rule] += 1
    assert len(rules) < len(pairs) / 10  # words that inflect alike share a rule


def test_a_rule_that_does_not_fit_leaves_the_word():
    assert apply_lemma_rule("a", "K|0||4|") == "a"
    assert apply_lemma_rule("word", "not a rule") == "word"
