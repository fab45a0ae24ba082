"""UAS / LAS as CoNLL 2018 scores them: every word, punctuation included, relation subtypes ignored."""

from __future__ import annotations

import pytest

from hf_mtl.metrics.parsing import attachment_scores
from hf_mtl.modeling.errors import HfMtlError


def test_hand_computed_example():
    # "The cat sat ." gold: The<-cat(det), cat<-sat(nsubj), sat root, .<-sat(punct)
    gold = [[(2, "det"), (3, "nsubj"), (0, "root"), (3, "punct")], [(0, "root"), (1, "obl:tmod")]]
    predicted = [[(2, "det"), (3, "obj"), (0, "root"), (2, "punct")], [(0, "root"), (1, "obl")]]
    scores = attachment_scores(gold, predicted)
    assert scores["uas"] == pytest.approx(5 / 6)        # only "." has the wrong head
    assert scores["las"] == pytest.approx(4 / 6)        # and "cat" the wrong relation; obl:tmod == obl


def test_mismatched_sentences_are_errors():
    with pytest.raises(HfMtlError, match="sentence 0 has 2 gold words but 1 predicted"):
        attachment_scores([[(0, "root"), (1, "x")]], [[(0, "root")]])
    assert attachment_scores([], []) == {"uas": 0.0, "las": 0.0}
