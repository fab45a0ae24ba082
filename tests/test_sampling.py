"""Task sampling: probabilities, frequencies, coverage, grouping, sharding, determinism, length grouping."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from accelerate.data_loader import BatchSamplerShard
from scipy.stats import chisquare

from hf_mtl.modeling.errors import HfMtlError, TaskError
from hf_mtl.training.sampling import (
    SAMPLING_STRATEGIES,
    MultiTaskBatchSampler,
    TaskIndex,
    annealing_alpha,
    task_probabilities,
)

SIZES = {"ner": 800, "pos": 200, "sts": 50}


def _lengths(sizes: dict[str, int], seed: int = 0) -> dict[str, list[int]]:
    rng = np.random.default_rng(seed)
    return {name: rng.integers(3, 128, n).tolist() for name, n in sizes.items()}


def _task_counts(sampler: MultiTaskBatchSampler) -> Counter:
    return Counter(sampler.task_of(batch[0]) for batch in sampler)


# ----------------------------------------------------------------------------------------------------------------
# task_probabilities / annealing_alpha
# ----------------------------------------------------------------------------------------------------------------


def test_task_probabilities_formulas():
    assert SAMPLING_STRATEGIES == ("proportional", "temperature", "uniform", "annealed")
    n = np.array([800.0, 200.0, 50.0])
    expected = {
        "proportional": n / n.sum(),
        "temperature": np.sqrt(n) / np.sqrt(n).sum(),
        "uniform": np.ones(3) / 3,
    }
    for strategy, probs in expected.items():
        got = task_probabilities(SIZES, strategy, temperature=2.0)
        assert list(got) == list(SIZES)
        np.testing.assert_allclose(list(got.values()), probs)
    annealed = task_probabilities(SIZES, "annealed", alpha=0.5)
    np.testing.assert_allclose(list(annealed.values()), expected["temperature"])
    t5 = task_probabilities(SIZES, "temperature", temperature=5.0)
    np.testing.assert_allclose(list(t5.values()), n**0.2 / (n**0.2).sum())


def test_task_probabilities_errors():
    with pytest.raises(TaskError, match="did you mean 'temperature'"):
        task_probabilities(SIZES, "temprature")
    with pytest.raises(TaskError, match="proportional, temperature, uniform, annealed"):
        task_probabilities(SIZES, "round_robin")
    with pytest.raises(HfMtlError, match="temperature"):
        task_probabilities(SIZES, "temperature", temperature=0.0)
    with pytest.raises(HfMtlError, match="temperature"):
        task_probabilities(SIZES, "temperature", temperature=-1.0)
    with pytest.raises(TaskError, match="at least one task"):
        task_probabilities({}, "uniform")
    with pytest.raises(TaskError, match="'pos'"):
        task_probabilities({"ner": 10, "pos": 0}, "proportional")
    with pytest.raises(HfMtlError, match="alpha"):
        task_probabilities(SIZES, "annealed")


def test_annealing_alpha():
    assert annealing_alpha(0.0) == 1.0
    assert annealing_alpha(1.0) == 0.2
    assert annealing_alpha(0.5) == pytest.approx(0.6)
    assert annealing_alpha(-1.0) == 1.0 and annealing_alpha(2.0) == 0.2
    assert annealing_alpha(0.5, start=1.0, end=0.0) == 0.5


# ----------------------------------------------------------------------------------------------------------------
# frequencies
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["proportional", "temperature", "uniform"])
def test_empirical_frequencies_match(strategy):
    sampler = MultiTaskBatchSampler(
        {name: [1] * n for name, n in SIZES.items()},
        batch_size=1,
        strategy=strategy,
        temperature=2.0,
        steps_per_epoch=20_000,
        length_grouping=False,
        seed=123,
    )
    counts = _task_counts(sampler)
    observed = np.array([counts[name] for name in SIZES])
    probs = np.array(list(sampler.probabilities().values()))
    assert observed.sum() == 20_000
    assert chisquare(observed, probs * observed.sum()).pvalue > 1e-3
    np.testing.assert_allclose(observed / observed.sum(), probs, atol=0.015)


def test_exhaustive_proportional_frequencies_are_batch_counts():
    sampler = MultiTaskBatchSampler(_lengths(SIZES), batch_size=8, strategy="proportional")
    counts = _task_counts(sampler)
    assert dict(counts) == {"ner": 100, "pos": 25, "sts": 7}
    assert len(sampler) == 132


def test_annealed_moves_from_proportional_towards_uniform():
    sampler = MultiTaskBatchSampler(
        {name: [1] * n for name, n in SIZES.items()}, batch_size=10, strategy="annealed", total_epochs=3
    )
    draws = sampler.draws_per_epoch
    first = sampler.probabilities(epoch=0, draw=0)
    last = sampler.probabilities(epoch=2, draw=draws - 1)
    assert first == pytest.approx(task_probabilities(SIZES, "proportional"))
    assert last == pytest.approx(task_probabilities(SIZES, "annealed", alpha=0.2))
    assert sampler.alpha(epoch=2, draw=draws - 1) == pytest.approx(0.2)
    middle = sampler.probabilities(epoch=1, draw=0)
    assert first["sts"] < middle["sts"] < last["sts"] < 1 / 3
    assert first["ner"] > middle["ner"] > last["ner"] > 1 / 3
    # the drawn tasks follow the schedule: the small task is much rarer in epoch 0 than in epoch 2
    rare = []
    for epoch in (0, 2):
        sampler.set_epoch(epoch)
        rare.append(_task_counts(sampler)["sts"])
    assert rare[0] < rare[1]


# ----------------------------------------------------------------------------------------------------------------
# structure of the stream
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length_grouping", [True, False])
@pytest.mark.parametrize("group_size", [1, 4])
def test_proportional_epoch_covers_every_example_once(length_grouping, group_size):
    sizes = {"ner": 101, "pos": 37, "cls": 5}
    sampler = MultiTaskBatchSampler(
        _lengths(sizes), batch_size=8, group_size=group_size, length_grouping=length_grouping, seed=7
    )
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert len(sampler) % group_size == 0
    seen = [i for batch in batches for i in batch]
    assert set(seen) == set(range(sum(sizes.values())))
    if group_size == 1:
        assert sorted(seen) == list(range(sum(sizes.values())))  # exactly once
        assert len(sampler) == sum(math.ceil(n / 8) for n in sizes.values())
    assert all(1 <= len(b) <= 8 for b in batches)


def test_global_index_space():
    sampler = MultiTaskBatchSampler({"a": [1] * 3, "b": [1] * 4, "c": [1] * 2}, batch_size=2)
    assert sampler.task_offsets == {"a": 0, "b": 3, "c": 7}
    assert sampler.task_sizes == {"a": 3, "b": 4, "c": 2}
    assert [sampler.task_of(i) for i in range(9)] == ["a"] * 3 + ["b"] * 4 + ["c"] * 2
    with pytest.raises(HfMtlError, match="outside"):
        sampler.task_of(9)


def test_task_index_is_shared_by_sampler_and_dataset():
    from datasets import Dataset

    from hf_mtl.training.task_datasets import MultiTaskDataset

    sizes = {"a": 3, "b": 4, "c": 2}
    index = TaskIndex(sizes)
    linear = [(name, j) for name, n in sizes.items() for j in range(n)]  # the layout, spelled out
    assert [index.locate(i) for i in range(len(index))] == linear
    with pytest.raises(HfMtlError, match="outside"):
        index.locate(-1)
    assert TaskIndex({"b": 4, "a": 3, "c": 2}) != index  # order matters: it is the concatenation order

    data = {name: Dataset.from_dict({"input_ids": [[1]] * n, "labels": [0] * n}) for name, n in sizes.items()}
    dataset = MultiTaskDataset(data)
    sampler = MultiTaskBatchSampler({name: [1] * n for name, n in sizes.items()}, batch_size=2)
    assert dataset.pair(sampler) is sampler and dataset.index is sampler.index
    assert [dataset[i]["task"] for i in range(9)] == [sampler.task_of(i) for i in range(9)]
    for batch in sampler:
        assert {row["task"] for row in dataset.__getitems__(batch)} == {sampler.task_of(batch[0])}
    with pytest.raises(HfMtlError, match="differ from the dataset's"):
        dataset.pair(MultiTaskBatchSampler({"a": [1] * 3, "b": [1] * 4}, batch_size=2))


def test_dataset_forwards_the_epoch_to_its_sampler():
    """accelerate calls dataset.set_epoch when it cannot reach the batch sampler (DDP + resume mid-epoch)."""
    from accelerate.data_loader import SkipBatchSampler
    from datasets import Dataset

    from hf_mtl.training.task_datasets import MultiTaskDataset

    lengths = _lengths({"a": 40, "b": 30})
    dataset = MultiTaskDataset({name: Dataset.from_dict({"input_ids": [[1] * n for n in ls]}) for name, ls in
                                lengths.items()})
    sampler = dataset.pair(MultiTaskBatchSampler(lengths, batch_size=4, strategy="uniform", group_size=2))
    first = list(SkipBatchSampler(BatchSamplerShard(sampler, num_processes=2, process_index=0), skip_batches=1))
    dataset.set_epoch(1)
    assert sampler.epoch == 1
    second = list(SkipBatchSampler(BatchSamplerShard(sampler, num_processes=2, process_index=0), skip_batches=1))
    assert first != second


def test_total_steps_sizes_the_annealing():
    lengths = {"a": [1] * 30, "b": [1] * 10}
    sampler = MultiTaskBatchSampler(lengths, batch_size=5, strategy="annealed", group_size=2, total_steps=9)
    assert sampler.draws_per_epoch == 4 and sampler.total_epochs == 3  # ceil(9 steps / 4 draws per epoch)
    assert sampler.alpha(epoch=2, draw=3) == pytest.approx(sampler.anneal_end)
    with pytest.raises(HfMtlError, match="total_steps"):
        MultiTaskBatchSampler(lengths, batch_size=5, total_steps=0)


@pytest.mark.parametrize("strategy", SAMPLING_STRATEGIES)
def test_no_batch_mixes_tasks_and_groups_share_a_task(strategy):
    group_size = 3
    sampler = MultiTaskBatchSampler(
        _lengths(SIZES), batch_size=16, strategy=strategy, group_size=group_size, steps_per_epoch=40
    )
    batches = list(sampler)
    assert len(batches) == 40 * group_size == len(sampler)
    tasks = []
    for batch in batches:
        batch_tasks = {sampler.task_of(i) for i in batch}
        assert len(batch_tasks) == 1
        tasks.append(batch_tasks.pop())
    for start in range(0, len(tasks), group_size):
        assert len(set(tasks[start : start + group_size])) == 1


@pytest.mark.parametrize("strategy", ["proportional", "temperature"])
def test_sharding_with_accelerate_batch_sampler_shard(strategy):
    sampler = MultiTaskBatchSampler(_lengths(SIZES), batch_size=8, strategy=strategy, group_size=2, seed=3)
    shards = [list(BatchSamplerShard(sampler, num_processes=2, process_index=k)) for k in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(sampler) // 2
    for batch0, batch1 in zip(shards[0], shards[1], strict=True):
        assert {sampler.task_of(i) for i in batch0} == {sampler.task_of(i) for i in batch1}
        assert len(set(batch0)) == len(batch0)
        assert not set(batch0) & set(batch1)
    if strategy == "proportional":  # no batch (not even a task's last, smaller one) is lost by the shard
        seen = {i for shard in shards for batch in shard for i in batch}
        assert seen == set(range(sum(SIZES.values())))
        assert sum(len(b) for shard in shards for b in shard) == sum(len(b) for b in sampler)


def test_sharding_with_gradient_accumulation():
    # 2 processes x 2 accumulation steps: the 2 micro-batches of each process within one step share a task
    sampler = MultiTaskBatchSampler(_lengths(SIZES), batch_size=8, strategy="uniform", group_size=4, seed=1)
    shards = [list(BatchSamplerShard(sampler, num_processes=2, process_index=k)) for k in range(2)]
    for step in range(0, len(shards[0]), 2):
        micro = [shards[k][step + j] for k in range(2) for j in range(2)]
        assert len({sampler.task_of(batch[0]) for batch in micro}) == 1


# ----------------------------------------------------------------------------------------------------------------
# determinism
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", SAMPLING_STRATEGIES)
def test_determinism_and_set_epoch(strategy):
    def make(seed: int = 0) -> MultiTaskBatchSampler:
        return MultiTaskBatchSampler(
            _lengths(SIZES), batch_size=8, strategy=strategy, seed=seed, total_epochs=2
        )

    sampler = make()
    first = list(sampler)
    assert list(sampler) == first  # iterating again without set_epoch: same stream
    assert list(make()) == first  # a fresh sampler with the same seed: same stream
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    other = make()
    other.set_epoch(1)
    assert list(other) == second
    assert list(make(seed=1)) != first


def test_resume_sees_the_same_stream():
    sampler = MultiTaskBatchSampler(_lengths(SIZES), batch_size=8, strategy="temperature", seed=5)
    sampler.set_epoch(2)
    full = list(sampler)
    resumed = MultiTaskBatchSampler(_lengths(SIZES), batch_size=8, strategy="temperature", seed=5)
    resumed.set_epoch(2)
    iterator = iter(resumed)
    for _ in range(10):
        next(iterator)
    assert list(iterator) == full[10:]


def test_task_streams_restart_with_new_shuffle():
    # a tiny task drawn far more often than it has batches: it runs passes, each one a permutation
    sampler = MultiTaskBatchSampler(
        {"big": [1] * 100, "tiny": [1] * 4}, batch_size=4, strategy="uniform", steps_per_epoch=200, seed=0
    )
    tiny = [tuple(b) for b in sampler if sampler.task_of(b[0]) == "tiny"]
    assert len(tiny) > 50
    assert all(sorted(batch) == [100, 101, 102, 103] for batch in tiny)
    assert len(set(tiny)) > 1


# ----------------------------------------------------------------------------------------------------------------
# length grouping
# ----------------------------------------------------------------------------------------------------------------


def _padded_tokens(sampler: MultiTaskBatchSampler, lengths: list[int]) -> int:
    return sum(max(lengths[i] for i in batch) * len(batch) for batch in sampler)


def test_length_grouping_reduces_padding():
    rng = np.random.default_rng(0)
    task_lengths = {"a": rng.integers(5, 200, 2000).tolist(), "b": rng.integers(5, 50, 500).tolist()}
    flat = task_lengths["a"] + task_lengths["b"]
    grouped = MultiTaskBatchSampler(
        task_lengths, batch_size=16, length_grouping=True, bucket_size_multiplier=20
    )
    plain = MultiTaskBatchSampler(task_lengths, batch_size=16, length_grouping=False)
    real = sum(flat)
    padded_grouped, padded_plain = _padded_tokens(grouped, flat), _padded_tokens(plain, flat)
    assert real <= padded_grouped < padded_plain
    assert padded_grouped - real < 0.25 * (padded_plain - real)
    # order of batches stays random: the batch max lengths are not sorted
    maxima = [max(flat[i] for i in b) for b in grouped if grouped.task_of(b[0]) == "a"]
    assert maxima != sorted(maxima) and maxima != sorted(maxima, reverse=True)


# ----------------------------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, HfMtlError, "batch_size"),
        ({"batch_size": -2}, HfMtlError, "batch_size"),
        ({"group_size": 0}, HfMtlError, "group_size"),
        ({"strategy": "uniformly"}, TaskError, "did you mean 'uniform'"),
        ({"strategy": "temperature", "temperature": 0.0}, HfMtlError, "temperature"),
        ({"steps_per_epoch": 0}, HfMtlError, "steps_per_epoch"),
        ({"total_epochs": 0}, HfMtlError, "total_epochs"),
        ({"bucket_size_multiplier": 0}, HfMtlError, "bucket_size_multiplier"),
    ],
)
def test_sampler_errors(kwargs, error, match):
    args = {"batch_size": 4, **kwargs}
    batch_size = args.pop("batch_size")
    with pytest.raises(error, match=match):
        MultiTaskBatchSampler({"a": [1, 2, 3]}, batch_size, **args)


def test_sampler_errors_on_tasks():
    with pytest.raises(TaskError, match="'empty'"):
        MultiTaskBatchSampler({"a": [1, 2], "empty": []}, batch_size=2)
    with pytest.raises(TaskError, match="at least one task"):
        MultiTaskBatchSampler({}, batch_size=2)


def test_no_batch_size_attribute_for_accelerate():
    sampler = MultiTaskBatchSampler({"a": [1, 2, 3]}, batch_size=2)
    assert sampler.max_batch_size == 2
    assert getattr(sampler, "batch_size", None) is None
    assert "batch_size=2" in repr(sampler)


def test_batches_of_one_draw_are_disjoint_across_pass_boundaries():
    # 10 examples, batches of 2, groups of 4: passes of 5 batches end inside draws
    for seed in range(5):
        sampler = MultiTaskBatchSampler(
            {"a": list(range(10)), "b": [1] * 9},
            batch_size=2,
            group_size=4,
            strategy="uniform",
            steps_per_epoch=50,
            seed=seed,
        )
        batches = list(sampler)
        for start in range(0, len(batches), 4):
            group = [i for batch in batches[start : start + 4] for i in batch]
            assert len(group) == len(set(group))


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf"), True])
def test_temperature_is_one_rule_for_sampler_and_arguments(temperature, tmp_path):
    from hf_mtl.training.sampling import check_temperature
    from hf_mtl.training.training_args import MultiTaskTrainingArguments

    with pytest.raises(TaskError, match="temperature must be > 0") as rule:
        check_temperature(temperature)
    with pytest.raises(TaskError) as sampler:
        MultiTaskBatchSampler({"a": [3, 4]}, batch_size=1, strategy="temperature", temperature=temperature)
    with pytest.raises(TaskError) as args:
        MultiTaskTrainingArguments(output_dir=str(tmp_path), sampling_temperature=temperature, report_to=[])
    assert str(rule.value) == str(sampler.value) == str(args.value)


def test_draws_use_one_cdf_and_equal_the_draws_by_all_comparisons():
    """Issue #25: the epoch's draws were a (draws x tasks) comparison (71 MiB at 256 tasks); one CDF and a binary
    search give the same draws."""
    import numpy as np

    from hf_mtl.training.sampling import _probabilities

    sizes = np.random.default_rng(0).integers(1, 5000, size=256).astype(float)
    probs = _probabilities(sizes, 0.5)
    u = np.random.default_rng(1).random(10_000)
    cdf_rows = np.cumsum(np.broadcast_to(probs, (u.size, sizes.size)), axis=1)
    by_comparison = np.minimum((u[:, None] * cdf_rows[:, -1:] >= cdf_rows).sum(axis=1), sizes.size - 1)
    cdf = np.cumsum(probs)
    by_search = np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), sizes.size - 1)
    assert np.array_equal(by_comparison, by_search)
