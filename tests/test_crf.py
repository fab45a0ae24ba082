"""The CRF of `decoder: crf` token tasks, checked against pytorch-crf and against exhaustive search."""

from __future__ import annotations

import itertools

import pytest
import torch

from hf_mtl.modeling.crf import LinearChainCRF, allowed_transitions, gather_scored

torchcrf = pytest.importorskip("torchcrf")


def random_case(seed: int, batch: int = 4, length: int = 6, tags: int = 5):
    generator = torch.Generator().manual_seed(seed)
    emissions = torch.randn(batch, length, tags, generator=generator)
    gold = torch.randint(0, tags, (batch, length), generator=generator)
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    lengths[0] = length
    mask = torch.arange(length)[None, :] < lengths[:, None]
    return emissions, gold, mask


def paired(tags: int, seed: int) -> tuple[LinearChainCRF, object]:
    ours = LinearChainCRF(tags)
    reference = torchcrf.CRF(tags, batch_first=True)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in ("start_transitions", "transitions", "end_transitions"):
            value = torch.randn(getattr(ours, name).shape, generator=generator)
            getattr(ours, name).copy_(value)
            getattr(reference, name).copy_(value)
    return ours, reference


@pytest.mark.parametrize("seed", range(8))
def test_log_likelihood_and_viterbi_equal_pytorch_crf(seed):
    emissions, gold, mask = random_case(seed)
    ours, reference = paired(emissions.shape[-1], seed)
    expected = reference(emissions, gold, mask=mask, reduction="none")
    torch.testing.assert_close(ours.log_likelihood(emissions, gold, mask), expected)
    assert ours.decode(emissions, mask, constrained=False) == reference.decode(emissions, mask=mask)


def test_log_likelihood_is_a_distribution_over_paths():
    emissions, _, _ = random_case(3, batch=1, length=3, tags=3)
    crf, _ = paired(3, 3)
    mask = torch.ones(1, 3, dtype=torch.bool)
    total = sum(crf.log_likelihood(emissions, torch.tensor([path]), mask).exp().item()
                for path in itertools.product(range(3), repeat=3))
    assert total == pytest.approx(1.0, abs=1e-5)


def test_empty_sequence_has_zero_log_likelihood_and_an_empty_path():
    crf = LinearChainCRF(3)
    emissions = torch.randn(2, 4, 3)
    mask = torch.tensor([[True, True, False, False], [False, False, False, False]])
    llh = crf.log_likelihood(emissions, torch.zeros(2, 4, dtype=torch.long), mask)
    assert llh[1].item() == 0.0 and llh[0].item() < 0
    assert [len(path) for path in crf.decode(emissions, mask)] == [2, 0]


LABELS = {
    "IOB2": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
    "IOBES": ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "E-LOC", "S-LOC"],
    "BILOU": ["O", "B-PER", "I-PER", "L-PER", "U-PER"],
}


def is_allowed(path, labels):
    start, transitions, end = allowed_transitions(labels)
    return bool(start[path[0]]) and bool(end[path[-1]]) and all(bool(transitions[a, b]) for a, b in zip(path, path[1:], strict=False))


def test_allowed_transitions_follow_each_scheme():
    iob2 = LABELS["IOB2"]
    assert not is_allowed([0, 2], iob2)          # O I-PER
    assert not is_allowed([1, 4], iob2)          # B-PER I-LOC
    assert not is_allowed([2], iob2)             # starts inside
    assert is_allowed([1, 2, 2, 0, 3, 4], iob2)
    iobes = LABELS["IOBES"]
    assert not is_allowed([1, 0], iobes)         # B-PER O: open entity left
    assert not is_allowed([1], iobes)            # ends open
    assert not is_allowed([4, 3], iobes)         # S-PER E-PER
    assert is_allowed([1, 2, 3, 0, 7, 5, 6], iobes)
    bilou = LABELS["BILOU"]
    assert is_allowed([1, 2, 3, 4, 0], bilou) and not is_allowed([0, 3], bilou)
    assert allowed_transitions(["NOUN", "VERB"])[1].all()   # not an entity scheme: no constraint
    assert allowed_transitions(["O", "I-PER"])[1].all()     # IOB1


@pytest.mark.parametrize("scheme", sorted(LABELS))
@pytest.mark.parametrize("seed", range(5))
def test_constrained_viterbi_is_the_best_allowed_path(scheme, seed):
    labels = LABELS[scheme]
    crf = LinearChainCRF(len(labels), labels=labels)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 3)
    emissions = torch.randn(1, 4, len(labels), generator=generator) * 3
    mask = torch.ones(1, 4, dtype=torch.bool)
    (path,) = crf.decode(emissions, mask)
    assert is_allowed(path, labels)

    def score(candidate):
        tags = torch.tensor([candidate])
        return crf.log_likelihood(emissions, tags, mask).item()

    best = max((p for p in itertools.product(range(len(labels)), repeat=4) if is_allowed(list(p), labels)), key=score)
    assert score(path) == pytest.approx(score(best), abs=1e-4)


def test_gather_scored_moves_first_subwords_left_in_order():
    values = torch.tensor([[10, 11, 12, 13], [20, 21, 22, 23]])
    scored = torch.tensor([[False, True, False, True], [True, True, True, False]])
    gathered, mask = gather_scored(values, scored)
    assert gathered[0, :2].tolist() == [11, 13] and gathered[1, :3].tolist() == [20, 21, 22]
    assert mask.tolist() == [[True, True, False, False], [True, True, True, False]]
    emissions = torch.randn(2, 4, 3)
    gathered_emissions, _ = gather_scored(emissions, scored)
    torch.testing.assert_close(gathered_emissions[0, 1], emissions[0, 3])
