"""Dependency parsing: tree decoding, the biaffine scorer, packed labels."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from hf_mtl.modeling.parsing import BiaffineParser, _find_cycle, decode_tree, pack_arcs, unpack_arcs


def is_tree(heads: list[int]) -> bool:
    words = len(heads) - 1
    return (heads[0] == -1 and all(0 <= h <= words and h != d for d, h in enumerate(heads) if d)
            and sum(1 for h in heads[1:] if h == 0) == 1 and _find_cycle(heads) is None)


def score_of(scores, heads):
    return sum(scores[heads[d]][d] for d in range(1, len(heads)))


def brute_force(scores):
    n = len(scores) - 1
    best, best_score = None, float("-inf")
    for assignment in itertools.product(range(n + 1), repeat=n):
        heads = [-1, *assignment]
        if is_tree(heads) and score_of(scores, heads) > best_score:
            best, best_score = heads, score_of(scores, heads)
    return best, best_score


@pytest.mark.parametrize("seed", range(40))
def test_decoding_is_the_best_single_root_tree(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 5)
    scores = [[rng.gauss(0, 1) for _ in range(n + 1)] for _ in range(n + 1)]
    heads = decode_tree(scores)
    assert is_tree(heads)
    _, best = brute_force(scores)
    assert score_of(scores, heads) == pytest.approx(best)


@pytest.mark.parametrize("seed", range(20))
def test_decoding_is_always_a_tree_on_long_random_and_adversarial_scores(seed):
    rng = random.Random(seed)
    n = rng.randint(6, 40)
    scores = [[rng.gauss(0, 3) for _ in range(n + 1)] for _ in range(n + 1)]
    if seed % 2:  # every word prefers ROOT: the one-root constraint must do the work
        scores[0] = [100.0] * (n + 1)
    if seed % 3 == 0:  # two-cycles everywhere
        for d in range(1, n, 2):
            scores[d + 1][d] = scores[d][d + 1] = 50.0
    assert is_tree(decode_tree(scores))


def test_packed_labels_round_trip():
    labels = torch.tensor([[-100, pack_arcs(2, 3, 7), pack_arcs(0, 6, 7), -100]])
    heads, relations = unpack_arcs(labels, 7)
    assert heads.tolist() == [[-100, 2, 0, -100]] and relations.tolist() == [[-100, 3, 6, -100]]


def test_biaffine_parser_learns_a_fixed_tree_and_decodes_it():
    torch.manual_seed(0)
    parser = BiaffineParser(hidden_size=16, num_relations=3, arc_size=16, relation_size=8, dropout=0.0)
    hidden = torch.randn(2, 6, 16)
    # sentence 1: words w1 w2 w3 (positions 1, 2, 4): w2 is root, w1 <- w2, w3 <- w2; sentence 2: w1 root, w2 <- w1
    labels = torch.full((2, 6), -100)
    labels[0, 1], labels[0, 2], labels[0, 4] = pack_arcs(2, 1, 3), pack_arcs(0, 0, 3), pack_arcs(2, 2, 3)
    labels[1, 1], labels[1, 3] = pack_arcs(0, 0, 3), pack_arcs(1, 1, 3)
    optimizer = torch.optim.Adam(parser.parameters(), lr=0.05)
    for _ in range(60):
        loss, count = parser.loss_sum(parser(hidden), labels)
        optimizer.zero_grad()
        (loss / count).backward()
        optimizer.step()
    assert count.item() == 5
    scores = parser(hidden)
    assert parser.decode(scores, labels != -100) == [[(2, 1), (0, 0), (2, 2)], [(0, 0), (1, 1)]]
    assert torch.equal(parser.decode_packed(scores, labels != -100), labels)


def test_word_scores_are_the_token_scores_of_first_subwords():
    parser = BiaffineParser(hidden_size=8, num_relations=2, arc_size=4, relation_size=4)
    with torch.no_grad():
        for parameter in parser.parameters():
            parameter.normal_()
    scores = parser(torch.randn(1, 5, 8))
    scored = torch.tensor([[False, True, False, True, False]])  # words at tokens 1 and 3
    arc, relations, mask = parser.words(scores, scored)
    assert mask.tolist() == [[True, True, False, False, False]]
    assert arc[0, 1, 0] == scores[0, 3, 0, 0] and arc[0, 1, 1] == scores[0, 3, 1, 0] and arc[0, 0, 2] == scores[0, 1, 3, 0]
    torch.testing.assert_close(relations[0, 0, 2], scores[0, 1, 3, 1:])


def test_a_head_cut_off_by_truncation_is_not_scored():
    parser = BiaffineParser(hidden_size=8, num_relations=2, arc_size=4, relation_size=4)
    labels = torch.tensor([[-100, pack_arcs(0, 0, 2), pack_arcs(5, 1, 2), -100]])  # word 5 was truncated away
    _, count = parser.loss_sum(parser(torch.randn(1, 4, 8)), labels)
    assert count.item() == 1
