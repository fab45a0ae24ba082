"""Dependency parsing on the shared encoder: a biaffine arc scorer, a relation classifier and tree decoding.

The parser of Dozat & Manning (2017), as UDify and MaChAmp put it on a transformer encoder: each word (its first
sub-word) is projected by two small MLPs into a *dependent* and a *head* view; a biaffine product scores every
(dependent, head) pair, with the sentence's first token (``[CLS]``) standing for the artificial ROOT; a second pair
of MLPs and a bilinear layer score the relation of each (dependent, head) pair. Training minimises cross-entropy over
heads and over relations (given the gold head).

Decoding is **Chu-Liu/Edmonds** (maximum spanning arborescence; non-projective trees, as UD has them) with exactly
one word attached to ROOT: when the best arborescence has several root children, every word is tried as the only
one and the best tree is kept (Gabow & Tarjan's constraint, solved exactly). The result is always a well-formed
tree: every word has one head, no cycles, one root.

Labels reach the head packed in one integer per word, ``head * num_relations + relation`` (``head`` 0 for ROOT,
``i`` for the i-th word), ``-100`` elsewhere, so they flow through the token-task machinery (padding, truncation,
collation) unchanged; a word whose head was cut off by truncation is not scored.

Part of the *modeling core* (torch and siblings only).

Example:

```python
>>> decode_tree([[0, 5, 1], [0, 0, 9], [0, 2, 0]])   # scores[head][dependent], node 0 = ROOT
[-1, 0, 1]

```
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .crf import gather_scored
from .task_kinds import IGNORE_INDEX

__all__ = ["BiaffineParser", "decode_packed", "decode_tree", "decode_trees", "pack_arcs", "unpack_arcs", "unpack_arcs_list",
           "word_scores"]

NEG_INF = -math.inf


def pack_arcs(head: int, relation: int, num_relations: int) -> int:
    """One label per word: ``head * num_relations + relation``."""
    return head * num_relations + relation


def unpack_arcs_list(labels: Sequence[int], num_relations: int) -> list[tuple[int, int]]:
    """``(head, relation)`` per packed label (``-100`` gives ``(-1, -1)``)."""
    return [(-1, -1) if label == IGNORE_INDEX else divmod(int(label), num_relations) for label in labels]


def unpack_arcs(labels: torch.Tensor, num_relations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(heads, relations)`` from packed labels (``-100`` stays ``-100`` in both)."""
    ignored = labels == IGNORE_INDEX
    safe = labels.clamp(min=0)
    heads = torch.where(ignored, torch.full_like(labels, IGNORE_INDEX), safe // num_relations)
    relations = torch.where(ignored, torch.full_like(labels, IGNORE_INDEX), safe % num_relations)
    return heads, relations


# ---------------------------------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------------------------------


def _find_cycle(heads: Sequence[int]) -> list[int] | None:
    """A cycle of the head graph (node list), or None. ``heads[0]`` is -1 (ROOT)."""
    state = [0] * len(heads)  # 0 unvisited, 1 on the current walk, 2 done
    for start in range(1, len(heads)):
        walk, node = [], start
        while node > 0 and state[node] == 0:
            state[node] = 1
            walk.append(node)
            node = heads[node]
        if node > 0 and state[node] == 1:
            return walk[walk.index(node):]
        for visited in walk:
            state[visited] = 2
    return None


def _arborescence(scores: list[list[float]]) -> list[int]:
    """Chu-Liu/Edmonds: the highest-scoring arborescence rooted at node 0; ``scores[h][d]``, returns heads."""
    size = len(scores)
    heads = [-1] + [max((h for h in range(size) if h != d), key=lambda h, d=d: scores[h][d]) for d in range(1, size)]
    cycle = _find_cycle(heads)
    if cycle is None:
        return heads
    in_cycle = set(cycle)
    others = [node for node in range(size) if node not in in_cycle]  # node 0 first: it is never in a cycle
    index = {node: position for position, node in enumerate(others)}
    contracted = len(others)
    cycle_score = sum(scores[heads[v]][v] for v in cycle)
    graph = [[NEG_INF] * (contracted + 1) for _ in range(contracted + 1)]
    enters, leaves = {}, {}
    for u in others:
        for d in others:
            if u != d and d != 0:
                graph[index[u]][index[d]] = scores[u][d]
        entry = max(cycle, key=lambda v, u=u: scores[u][v] - scores[heads[v]][v])
        graph[index[u]][contracted] = scores[u][entry] - scores[heads[entry]][entry] + cycle_score
        enters[u] = entry
    for d in others[1:]:
        exit_node = max(cycle, key=lambda h, d=d: scores[h][d])
        graph[contracted][index[d]] = scores[exit_node][d]
        leaves[d] = exit_node
    inner = _arborescence(graph)
    result = list(heads)
    for d in others[1:]:
        head = inner[index[d]]
        result[d] = leaves[d] if head == contracted else others[head]
    source = others[inner[contracted]]
    result[enters[source]] = source  # the cycle is broken where the contracted node is entered
    return result


def _tree_score(scores: list[list[float]], heads: Sequence[int]) -> float:
    return sum(scores[heads[d]][d] for d in range(1, len(heads)))


def decode_tree(scores: Sequence[Sequence[float]]) -> list[int]:
    """The best dependency tree with exactly one word attached to ROOT: ``heads`` with ``heads[0] == -1``.

    Args:
        scores: ``(n + 1) x (n + 1)`` arc scores, ``scores[h][d]`` for head ``h`` of word ``d``; node 0 is ROOT.

    Returns:
        ``heads[d]`` for ``d = 1..n`` (0 = attached to ROOT), ``heads[0] = -1``.
    """
    scores = [[float(value) for value in row] for row in scores]
    size = len(scores)
    if size <= 1:
        return [-1]
    for node in range(size):
        scores[node][0] = NEG_INF  # nothing heads ROOT
        scores[node][node] = NEG_INF
    heads = _arborescence(scores)
    if sum(1 for head in heads[1:] if head == 0) == 1:
        return heads
    best, best_score = heads, NEG_INF
    for child in range(1, size):
        constrained = [list(row) for row in scores]
        constrained[0] = [value if d == child else NEG_INF for d, value in enumerate(scores[0])]
        candidate = _arborescence(constrained)
        score = _tree_score(scores, candidate)
        if score > best_score:
            best, best_score = candidate, score
    return best


# ---------------------------------------------------------------------------------------------------------------
# the scorer
# ---------------------------------------------------------------------------------------------------------------


class _MLP(nn.Sequential):
    def __init__(self, hidden_size: int, size: int, dropout: float) -> None:
        super().__init__(nn.Linear(hidden_size, size), nn.GELU(), nn.Dropout(dropout))


class BiaffineParser(nn.Module):
    """Arc and relation scores for every (dependent, head) pair of tokens; the first token (``[CLS]``) is ROOT.

    Args:
        hidden_size: The encoder's hidden size.
        num_relations: The number of dependency relations.
        arc_size / relation_size: The MLP sizes (Dozat & Manning: 500 / 100; smaller encoders take less).
        dropout: Dropout of the MLP outputs.

    ``forward(hidden_states)`` scores every pair of tokens, ``(batch, seq_len, seq_len, 1 + num_relations)``:
    ``[..., d, h, 0]`` is the arc score of head ``h`` for dependent ``d``, ``[..., d, h, 1:]`` the relation scores
    (one tensor, so it travels through the model's outputs, the trainer and the pipeline like any logits). Which
    tokens are words (their first sub-words) is known later, from the labels or from the pipeline's word
    positions: :meth:`words` gathers the word-to-word scores, with ROOT as head 0.
    """

    def __init__(self, hidden_size: int, num_relations: int, arc_size: int = 256, relation_size: int = 64,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.num_relations = num_relations
        self.arc_dependent = _MLP(hidden_size, arc_size, dropout)
        self.arc_head = _MLP(hidden_size, arc_size, dropout)
        self.relation_dependent = _MLP(hidden_size, relation_size, dropout)
        self.relation_head = _MLP(hidden_size, relation_size, dropout)
        self.arc_weight = nn.Parameter(torch.zeros(arc_size + 1, arc_size))  # +1: the head-only bias term
        self.relation_weight = nn.Parameter(torch.zeros(num_relations, relation_size + 1, relation_size + 1))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        dependent, head = self.arc_dependent(hidden_states), self.arc_head(hidden_states)
        ones = dependent.new_ones(*dependent.shape[:2], 1)
        arc = torch.einsum("bdi,ij,bhj->bdh", torch.cat([dependent, ones], -1), self.arc_weight, head)
        rel_dependent = torch.cat([self.relation_dependent(hidden_states), ones], -1)
        rel_head = torch.cat([self.relation_head(hidden_states), ones], -1)
        relations = torch.einsum("bdi,rij,bhj->bdhr", rel_dependent, self.relation_weight, rel_head)
        return torch.cat([arc[..., None], relations], dim=-1)

    def words(self, scores: torch.Tensor, scored: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:func:`word_scores` (word-to-word arc and relation scores, and the words' mask)."""
        return word_scores(scores, scored)

    def loss_sum(self, scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed cross-entropy of gold heads and gold relations over the labelled words, and their count.

        A word whose gold head is not among the words kept (cut off by truncation) is not scored.
        """
        labels = labels.to(scores.device)
        scored = labels != IGNORE_INDEX
        arc, relations, mask = self.words(scores, scored)
        packed, _ = gather_scored(labels, scored)
        heads, relations_gold = unpack_arcs(packed, self.num_relations)
        valid = mask & (heads != IGNORE_INDEX) & (heads <= mask.sum(dim=1, keepdim=True))
        safe_heads = torch.where(valid, heads, torch.zeros_like(heads))
        arc_loss = nn.functional.cross_entropy(arc.float().transpose(1, 2), safe_heads, reduction="none")
        index = safe_heads[:, :, None, None].expand(-1, -1, 1, self.num_relations)
        at_gold_head = relations.gather(2, index).squeeze(2)
        rel_loss = nn.functional.cross_entropy(at_gold_head.float().transpose(1, 2),
                                               torch.where(valid, relations_gold, torch.zeros_like(heads)),
                                               reduction="none")
        return ((arc_loss + rel_loss) * valid).sum(), valid.sum()

    def decode(self, scores: torch.Tensor, scored: torch.Tensor) -> list[list[tuple[int, int]]]:
        """:func:`decode_trees`: per sentence, ``(head, relation)`` per word (a well-formed tree)."""
        return decode_trees(scores, scored)

    def decode_packed(self, scores: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
        """:func:`decode_packed`: the trees as packed labels at the scored positions (``-100`` elsewhere)."""
        return decode_packed(scores, scored, self.num_relations)


# The decoding reads the scores only (no parameter): a graph that returns them (ONNX) is decoded the same way.
def word_scores(scores: torch.Tensor, scored: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Word-to-word scores: ``arc`` ``(batch, words, words + 1)`` (head 0 = ROOT, padding heads masked),
    ``relations`` ``(batch, words, words + 1, num_relations)`` and the words' ``mask`` ``(batch, words)``;
    ``words`` is the sequence length, the real words gathered to the left (see :func:`gather_scored`)."""
    scored = scored.to(scores.device)
    by_dependent, mask = gather_scored(scores, scored)  # (batch, words, seq_len, 1 + R)
    order = torch.argsort((~scored).to(torch.int8), dim=1, stable=True)
    heads = torch.cat([torch.zeros_like(order[:, :1]), order], dim=1)  # ROOT = token 0, then the words
    index = heads[:, None, :, None].expand(-1, by_dependent.shape[1], -1, by_dependent.shape[-1])
    pairs = by_dependent.gather(2, index)  # (batch, words, words + 1, 1 + R)
    arc, relations = pairs[..., 0], pairs[..., 1:]
    head_mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
    arc = arc.masked_fill(~head_mask[:, None, :], torch.finfo(arc.dtype).min)
    return arc, relations, mask


def decode_trees(scores: torch.Tensor, scored: torch.Tensor) -> list[list[tuple[int, int]]]:
    """Per sentence, ``(head, relation)`` per word: a well-formed tree (:func:`decode_tree`), relations at it."""
    arc, relations, mask = word_scores(scores, scored)
    lengths = mask.sum(dim=1).tolist()
    arc_rows = arc.float().log_softmax(dim=-1).tolist()
    best_relations = relations.argmax(dim=-1).tolist()
    trees = []
    for sentence, length in enumerate(lengths):
        grid = [[NEG_INF] * (length + 1) for _ in range(length + 1)]  # grid[head][dependent]
        for dependent in range(length):
            for head in range(length + 1):
                grid[head][dependent + 1] = arc_rows[sentence][dependent][head]
        heads = decode_tree(grid)
        trees.append([(heads[d + 1], best_relations[sentence][d][heads[d + 1]]) for d in range(length)])
    return trees


def decode_packed(scores: torch.Tensor, scored: torch.Tensor, num_relations: int) -> torch.Tensor:
    """:func:`decode_trees` as packed labels ``(batch, seq_len)`` at the scored positions (``-100`` elsewhere)."""
    packed = torch.full(scored.shape, IGNORE_INDEX, dtype=torch.long, device=scores.device)
    for row, tree in enumerate(decode_trees(scores, scored)):
        positions = scored[row].nonzero().flatten().tolist()
        for position, (head, relation) in zip(positions, tree, strict=True):
            packed[row, position] = pack_arcs(head, relation, num_relations)
    return packed
