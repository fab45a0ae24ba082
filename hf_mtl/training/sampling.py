"""Which task comes next, and length-grouped batches within a task.

:class:`MultiTaskBatchSampler` yields lists of indices into one dataset that concatenates every task's dataset in
the order of its ``task_lengths`` dict; every list comes from a single task. The task of each "draw" follows a
sampling strategy (see :func:`task_probabilities`); a draw then yields ``group_size`` consecutive batches of that
task so that, under accelerate's ``BatchSamplerShard`` and gradient accumulation, every process and every
micro-batch of one optimizer step sees the same task.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch

from ..modeling.errors import HfMtlError, TaskError, did_you_mean

__all__ = [
    "SAMPLING_STRATEGIES",
    "MultiTaskBatchSampler",
    "TaskIndex",
    "annealing_alpha",
    "check_strategy",
    "check_temperature",
    "task_probabilities",
]

SAMPLING_STRATEGIES: tuple[str, ...] = ("proportional", "temperature", "uniform", "annealed")
"""Names of the task sampling strategies."""


def check_strategy(strategy: str) -> None:
    """The one rule for a sampling strategy (the sampler and ``MultiTaskTrainingArguments.sampling``): a known name."""
    if strategy not in SAMPLING_STRATEGIES:
        raise TaskError(
            f"sampling={strategy!r} is not a sampling strategy{did_you_mean(str(strategy), SAMPLING_STRATEGIES)}; "
            f"valid strategies are {', '.join(SAMPLING_STRATEGIES)}."
        )


def check_temperature(temperature: float) -> None:
    """The one rule for a sampling temperature (the sampler and ``sampling_temperature``): a finite number > 0."""
    valid = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    if not (valid and math.isfinite(temperature) and temperature > 0):
        raise TaskError(
            f"The sampling temperature must be > 0 (a finite number), got {temperature!r}. T=1 is proportional "
            "sampling, larger T flattens towards uniform (T=2 or 5 are common)."
        )


def _check_sizes(sizes: Mapping[str, int]) -> None:
    if not sizes:
        raise TaskError("Task sampling needs at least one task; got an empty task set.")
    for name, size in sizes.items():
        if int(size) <= 0:
            raise TaskError(
                f"Task {name!r} has {int(size)} training examples; every sampled task needs at least one. "
                "Check its data source and split, or remove it from the training tasks."
            )


def _exponent(strategy: str, temperature: float, alpha: float | None) -> float:
    """The exponent ``e`` of ``p_i ∝ n_i ** e`` for a strategy."""
    if strategy == "proportional":
        return 1.0
    if strategy == "uniform":
        return 0.0
    if strategy == "temperature":
        check_temperature(temperature)
        return 1.0 / float(temperature)
    if alpha is None:
        raise HfMtlError(
            "The 'annealed' strategy needs alpha (p_i ∝ n_i ** alpha); compute it with "
            "annealing_alpha(progress) from the training progress in [0, 1]."
        )
    if not math.isfinite(alpha):
        raise HfMtlError(f"alpha must be a finite number, got {alpha!r}.")
    return float(alpha)


def _probabilities(sizes: np.ndarray, exponent: float | np.ndarray) -> np.ndarray:
    """``p ∝ n ** e``; ``exponent`` may be an array, giving one row of probabilities per exponent."""
    relative = sizes / sizes.max()  # in (0, 1]: no overflow for large n or large exponents
    weights = np.power(
        relative, np.multiply.outer(np.asarray(exponent, dtype=np.float64), np.ones_like(relative))
    )
    return weights / weights.sum(axis=-1, keepdims=True)


def task_probabilities(
    sizes: Mapping[str, int], strategy: str, temperature: float = 2.0, alpha: float | None = None
) -> dict[str, float]:
    """Probability of drawing each task, from the task sizes and a sampling strategy.

    With ``n_i`` the number of training examples of task ``i``:

    - ``"proportional"``: ``p_i ∝ n_i``
    - ``"temperature"``: ``p_i ∝ n_i ** (1 / temperature)`` (T=1 is proportional, T→∞ uniform)
    - ``"uniform"``: ``p_i = 1 / K``
    - ``"annealed"``: ``p_i ∝ n_i ** alpha``, with ``alpha`` given by the caller (see :func:`annealing_alpha`)

    Args:
        sizes (`dict[str, int]`): Number of training examples of each task.
        strategy (`str`): One of :data:`SAMPLING_STRATEGIES`.
        temperature (`float`, *optional*, defaults to 2.0): Used by ``"temperature"`` only; must be > 0.
        alpha (`float`, *optional*): Required by ``"annealed"``.

    Returns:
        `dict[str, float]`: The probability of each task, in the order of ``sizes``; they sum to 1.

    Raises:
        `TaskError`: For an unknown strategy (with the nearest valid name), no task, or a task of size 0.
        `HfMtlError`: For a temperature ≤ 0, or ``"annealed"`` without ``alpha``.

    Example:

    ```python
    >>> from hf_mtl.training.sampling import task_probabilities
    >>> task_probabilities({"ner": 300, "pos": 100}, "proportional")
    {'ner': 0.75, 'pos': 0.25}
    >>> task_probabilities({"ner": 400, "pos": 100}, "temperature", temperature=2.0)
    {'ner': 0.6666666666666666, 'pos': 0.3333333333333333}

    ```
    """
    check_strategy(strategy)
    _check_sizes(sizes)
    exponent = _exponent(strategy, temperature, alpha)
    probs = _probabilities(np.array([float(n) for n in sizes.values()], dtype=np.float64), exponent)
    return {name: float(p) for name, p in zip(sizes, probs, strict=True)}


class TaskIndex:
    """Every task's examples in one global index space: example ``j`` of task ``k`` has index ``offsets[k] + j``.

    The one mapping between global indices and ``(task, index within the task)``, in the order of ``sizes``:
    :class:`MultiTaskBatchSampler` yields global indices through it and the trainer's dataset resolves them through
    it (a bisect over the cumulative offsets).

    Args:
        sizes (`dict[str, int]`): Number of examples of each task, in the order of the concatenation.

    Example:

    ```python
    >>> from hf_mtl.training.sampling import TaskIndex
    >>> index = TaskIndex({"ner": 5, "cls": 2})
    >>> index.task_offsets, len(index), index.locate(6)
    ({'ner': 0, 'cls': 5}, 7, ('cls', 1))

    ```
    """

    def __init__(self, sizes: Mapping[str, int]) -> None:
        _check_sizes(sizes)
        self.task_names: list[str] = list(sizes)
        self.task_sizes: dict[str, int] = {name: int(size) for name, size in sizes.items()}
        self.task_offsets: dict[str, int] = {}
        total = 0
        for name in self.task_names:
            self.task_offsets[name] = total
            total += self.task_sizes[name]
        self.starts: list[int] = list(self.task_offsets.values())
        self.num_examples: int = total

    def __len__(self) -> int:
        return self.num_examples

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskIndex) and list(self.task_sizes.items()) == list(other.task_sizes.items())

    __hash__ = None  # mutable attributes: equal by content, not hashable

    def locate(self, global_index: int) -> tuple[str, int]:
        """``(task, index within the task)`` of a global index."""
        index = int(global_index)
        if not 0 <= index < self.num_examples:
            raise HfMtlError(f"Global index {index} is outside [0, {self.num_examples}).")
        position = bisect.bisect_right(self.starts, index) - 1
        return self.task_names[position], index - self.starts[position]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.task_sizes})"


def annealing_alpha(progress: float, start: float = 1.0, end: float = 0.2) -> float:
    """Exponent of annealed sampling (Stickland & Murray, 2019): goes linearly from ``start`` to ``end``.

    Args:
        progress (`float`): Fraction of training done, clipped to ``[0, 1]``.
        start (`float`, *optional*, defaults to 1.0): ``alpha`` at the start (1.0 = proportional).
        end (`float`, *optional*, defaults to 0.2): ``alpha`` at the end (towards uniform).

    Returns:
        `float`: ``start + (end - start) * progress``.

    Example:

    ```python
    >>> from hf_mtl.training.sampling import annealing_alpha
    >>> annealing_alpha(0.0), annealing_alpha(0.5), annealing_alpha(1.0)
    (1.0, 0.6, 0.2)

    ```
    """
    progress = min(max(float(progress), 0.0), 1.0)
    return float(start * (1.0 - progress) + end * progress)


class MultiTaskBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batch sampler over several tasks: every batch comes from one task, tasks are drawn by a strategy.

    The tasks' datasets are seen as one concatenated dataset in the order of ``task_lengths``: example ``j`` of
    task ``k`` has global index ``task_offsets[k] + j``. Pass this sampler as ``batch_sampler=`` of a
    ``DataLoader`` over that concatenation (e.g. ``datasets.concatenate_datasets`` in the same order).

    **Draws.** Each draw picks a task with the strategy's probabilities (see :func:`task_probabilities`), then
    yields ``group_size`` consecutive batches of that task. The trainer sets ``group_size = num_processes ×
    gradient_accumulation_steps``: accelerate's ``BatchSamplerShard`` hands process ``k`` the batches ``k, k + n,
    k + 2n, ...``, so all processes get the same task (with disjoint examples) on every step, and the
    micro-batches accumulated into one optimizer step never mix tasks. One draw is thus one optimizer step.

    **Batches within a task.** Each task has its own stream of batches. With ``length_grouping``, a pass over the
    task shuffles its indices, cuts them into chunks of ``batch_size × bucket_size_multiplier``, sorts each chunk
    by length, cuts it into batches and shuffles the order of all the pass's batches: batches hold examples of
    similar length (less padding) but come in random order. Without it, a pass is plain shuffled batches. The last
    batch of a pass may be smaller (no example is dropped). When a task's pass runs out mid-epoch, a new pass
    (new shuffle) starts; if that happens within a draw, the new pass first batches the examples not yet in the
    draw and then the others, so the batches of one draw are disjoint whenever the task has at least
    ``group_size × batch_size`` examples (such a pass may hold two smaller batches).

    **Epoch.** ``steps_per_epoch`` draws if given. Otherwise the epoch covers every task's batches once:
    ``sum_i ceil(b_i / group_size)`` draws, with ``b_i = ceil(n_i / batch_size)``; for ``group_size=1`` that is
    exactly the number of batches of all tasks. With ``"proportional"`` and no ``steps_per_epoch`` the epoch is
    *exhaustive*: task ``i`` gets exactly ``ceil(b_i / group_size)`` draws, in shuffled order, so every example is
    seen once per epoch (the frequencies are then proportional to ``b_i``). The other strategies (and
    ``"proportional"`` with an explicit ``steps_per_epoch``) draw tasks independently, so small tasks are repeated
    and large ones partly seen. ``len(sampler)`` is the number of batches, ``draws × group_size``.

    **Annealed.** ``alpha = annealing_alpha(progress, anneal_start, anneal_end)`` with ``progress = (epoch ×
    draws_per_epoch + draw) / (total_epochs × draws_per_epoch − 1)``.

    **Determinism.** Everything comes from a numpy generator seeded with ``(seed, epoch)``: the same seed and epoch
    give the same stream, iterating twice without :meth:`set_epoch` gives the same stream (resuming from a
    checkpoint re-creates the epoch and skips its first batches), and :meth:`set_epoch` changes it. The sampler
    exposes no ``batch_size`` attribute on purpose (see ``max_batch_size``): accelerate's ``BatchSamplerShard``
    would then treat a task's last, smaller batch as the end of the data and silently drop batches.

    Args:
        task_lengths (`dict[str, Sequence[int]]`):
            For every task, the token length of each training example (only the count is used without
            ``length_grouping``).
        batch_size (`int`): Examples per batch (per process).
        strategy (`str`, *optional*, defaults to `"proportional"`): One of :data:`SAMPLING_STRATEGIES`.
        temperature (`float`, *optional*, defaults to 2.0): Temperature of the ``"temperature"`` strategy.
        seed (`int`, *optional*, defaults to 0): Seed of the stream (combined with the epoch).
        group_size (`int`, *optional*, defaults to 1): Consecutive batches that share a task.
        length_grouping (`bool`, *optional*, defaults to `True`): Group examples of similar length in batches.
        bucket_size_multiplier (`int`, *optional*, defaults to 50): Chunk size of length grouping, in batches.
        steps_per_epoch (`int`, *optional*): Draws per epoch; defaults to covering every task once.
        total_epochs (`int`, *optional*, defaults to 1): Epochs of training (used by ``"annealed"``).
        total_steps (`int`, *optional*): Draws (optimizer steps) of the whole training, when known instead of
            ``total_epochs``: sets ``total_epochs = ceil(total_steps / draws_per_epoch)``.
        anneal_start (`float`, *optional*, defaults to 1.0): ``alpha`` at the start of annealed sampling.
        anneal_end (`float`, *optional*, defaults to 0.2): ``alpha`` at the end of annealed sampling.

    Example:

    ```python
    >>> from hf_mtl.training.sampling import MultiTaskBatchSampler
    >>> sampler = MultiTaskBatchSampler({"ner": [5, 7, 3, 9, 4], "cls": [12, 8]}, batch_size=2, seed=0)
    >>> sampler.task_offsets, len(sampler)
    ({'ner': 0, 'cls': 5}, 4)
    >>> sorted(i for batch in sampler for i in batch)  # proportional: each example once per epoch
    [0, 1, 2, 3, 4, 5, 6]
    >>> all(len({sampler.task_of(i) for i in batch}) == 1 for batch in sampler)
    True

    ```
    """

    def __init__(
        self,
        task_lengths: Mapping[str, Sequence[int]],
        batch_size: int,
        *,
        strategy: str = "proportional",
        temperature: float = 2.0,
        seed: int = 0,
        group_size: int = 1,
        length_grouping: bool = True,
        bucket_size_multiplier: int = 50,
        steps_per_epoch: int | None = None,
        total_epochs: int = 1,
        total_steps: int | None = None,
        anneal_start: float = 1.0,
        anneal_end: float = 0.2,
    ) -> None:
        super().__init__()
        check_strategy(strategy)
        if strategy == "temperature":
            check_temperature(temperature)
        for name, value in (("batch_size", batch_size), ("group_size", group_size)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise HfMtlError(f"{name} must be a positive integer, got {value!r}.")
        if not isinstance(bucket_size_multiplier, (int, np.integer)) or bucket_size_multiplier <= 0:
            raise HfMtlError(
                f"bucket_size_multiplier must be a positive integer, got {bucket_size_multiplier!r}."
            )
        if steps_per_epoch is not None and (
            not isinstance(steps_per_epoch, (int, np.integer)) or steps_per_epoch <= 0
        ):
            raise HfMtlError(f"steps_per_epoch must be a positive integer or None, got {steps_per_epoch!r}.")
        for name, value in (("total_epochs", total_epochs), ("total_steps", 1 if total_steps is None else total_steps)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise HfMtlError(f"{name} must be a positive integer, got {value!r}.")
        if not isinstance(task_lengths, Mapping):
            raise HfMtlError(
                f"task_lengths must be a dict {{task name: example lengths}}, got {type(task_lengths).__name__}."
            )
        self.index = TaskIndex({name: len(lengths) for name, lengths in task_lengths.items()})
        self.task_names: list[str] = self.index.task_names
        self.task_sizes: dict[str, int] = self.index.task_sizes
        self.task_offsets: dict[str, int] = self.index.task_offsets
        self.num_examples: int = self.index.num_examples
        self._lengths: list[np.ndarray] = [
            np.asarray(task_lengths[name], dtype=np.int64) for name in self.task_names
        ]

        self.max_batch_size = int(batch_size)
        self.strategy = strategy
        self.temperature = float(temperature)
        self.seed = int(seed)
        self.group_size = int(group_size)
        self.length_grouping = bool(length_grouping)
        self.bucket_size_multiplier = int(bucket_size_multiplier)
        self.steps_per_epoch = None if steps_per_epoch is None else int(steps_per_epoch)
        self.total_epochs = int(total_epochs)
        self.anneal_start = float(anneal_start)
        self.anneal_end = float(anneal_end)
        self.epoch = 0

        self._sizes = np.array([float(n) for n in self.task_sizes.values()], dtype=np.float64)
        self.task_num_batches: dict[str, int] = {
            name: math.ceil(n / self.max_batch_size) for name, n in self.task_sizes.items()
        }
        self._exhaustive = self.strategy == "proportional" and self.steps_per_epoch is None
        if self.steps_per_epoch is not None:
            self.draws_per_epoch = self.steps_per_epoch
        else:
            self.draws_per_epoch = sum(math.ceil(b / self.group_size) for b in self.task_num_batches.values())
        if total_steps is not None:  # one draw is one optimizer step
            self.total_epochs = max(1, math.ceil(int(total_steps) / self.draws_per_epoch))

    # ----------------------------------------------------------------------------------------------------------
    # public helpers
    # ----------------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of batches per epoch (``draws_per_epoch × group_size``)."""
        return self.draws_per_epoch * self.group_size

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose stream the next iteration yields (called by the Trainer / accelerate)."""
        self.epoch = int(epoch)

    def task_of(self, global_index: int) -> str:
        """Name of the task that owns a global example index.

        Example:

        ```python
        >>> from hf_mtl.training.sampling import MultiTaskBatchSampler
        >>> MultiTaskBatchSampler({"a": [1, 1], "b": [1]}, batch_size=1).task_of(2)
        'b'

        ```
        """
        return self.index.locate(global_index)[0]

    def progress(self, epoch: int | None = None, draw: int = 0) -> float:
        """Global training progress in ``[0, 1]`` at a draw of an epoch (drives annealed sampling)."""
        epoch = self.epoch if epoch is None else int(epoch)
        denominator = self.total_epochs * self.draws_per_epoch - 1
        if denominator <= 0:
            return 0.0
        return min(max((epoch * self.draws_per_epoch + draw) / denominator, 0.0), 1.0)

    def alpha(self, epoch: int | None = None, draw: int = 0) -> float:
        """Exponent of ``p_i ∝ n_i ** alpha`` at a draw of an epoch (1 for proportional, 0 for uniform)."""
        if self.strategy == "annealed":
            return annealing_alpha(self.progress(epoch, draw), self.anneal_start, self.anneal_end)
        return _exponent(self.strategy, self.temperature, None)

    def probabilities(self, epoch: int | None = None, draw: int = 0) -> dict[str, float]:
        """Probability of each task at a draw of an epoch (constant except for ``"annealed"``); for logging.

        Example:

        ```python
        >>> from hf_mtl.training.sampling import MultiTaskBatchSampler
        >>> sampler = MultiTaskBatchSampler({"a": [1] * 90, "b": [1] * 10}, batch_size=1, strategy="uniform")
        >>> sampler.probabilities()
        {'a': 0.5, 'b': 0.5}

        ```
        """
        probs = _probabilities(self._sizes, self.alpha(epoch, draw))
        return {name: float(p) for name, p in zip(self.task_names, probs, strict=True)}

    # ----------------------------------------------------------------------------------------------------------
    # the stream
    # ----------------------------------------------------------------------------------------------------------

    def _batches(self, task: int, indices: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Shuffle some (local) indices of a task and cut them into batches, in random order."""
        bs = self.max_batch_size
        perm = indices[rng.permutation(len(indices))]
        if not self.length_grouping:
            return [perm[i : i + bs] for i in range(0, len(perm), bs)]
        lengths = self._lengths[task]
        chunk = bs * self.bucket_size_multiplier
        batches: list[np.ndarray] = []
        for start in range(0, len(perm), chunk):
            part = perm[start : start + chunk]
            part = part[np.argsort(lengths[part], kind="stable")]
            batches.extend(part[i : i + bs] for i in range(0, len(part), bs))
        order = rng.permutation(len(batches))
        return [batches[i] for i in order]

    def _task_pass(
        self, task: int, rng: np.random.Generator, avoid_first: np.ndarray | None = None
    ) -> list[np.ndarray]:
        """One pass over a task: all its (local) indices, cut into batches, in random order.

        ``avoid_first`` (examples already in the current draw, when a pass starts mid-draw) are batched
        separately and come last, so the draw's next batches share no example with its earlier ones.
        """
        indices = np.arange(self.task_sizes[self.task_names[task]])
        if avoid_first is None or len(avoid_first) == 0:
            return self._batches(task, indices, rng)
        used = np.isin(indices, avoid_first)
        return self._batches(task, indices[~used], rng) + self._batches(task, indices[used], rng)

    def _draw_tasks(self, rng: np.random.Generator) -> np.ndarray:
        """The task index of each draw of the current epoch."""
        k = len(self.task_names)
        if self._exhaustive:
            counts = [math.ceil(b / self.group_size) for b in self.task_num_batches.values()]
            return rng.permutation(np.repeat(np.arange(k), counts))
        draws = self.draws_per_epoch
        if self.strategy == "annealed":
            denominator = self.total_epochs * draws - 1
            progress = (
                (self.epoch * draws + np.arange(draws)) / denominator if denominator > 0 else np.zeros(draws)
            )
            progress = np.clip(progress, 0.0, 1.0)
            alphas = self.anneal_start * (1.0 - progress) + self.anneal_end * progress
            probs = _probabilities(self._sizes, alphas)  # (draws, k): the mixture changes with every draw
            cdf = np.cumsum(probs, axis=1)
            u = rng.random(draws)[:, None] * cdf[:, -1:]
            return np.minimum((u >= cdf).sum(axis=1), k - 1)
        # one mixture for the epoch: one k-entry CDF and a binary search per draw (memory O(draws + k), not
        # draws x k; the same draws as comparing every draw with every task)
        cdf = np.cumsum(_probabilities(self._sizes, self.alpha()))
        u = rng.random(draws) * cdf[-1]
        return np.minimum(np.searchsorted(cdf, u, side="right"), k - 1)

    def __iter__(self) -> Iterator[list[int]]:
        seeds = np.random.SeedSequence([self.seed, self.epoch]).spawn(1 + len(self.task_names))
        task_rngs = [np.random.default_rng(s) for s in seeds[1:]]
        tasks = self._draw_tasks(np.random.default_rng(seeds[0]))
        pending: list[list[np.ndarray]] = [[] for _ in self.task_names]
        for task in tasks.tolist():
            offset = self.index.starts[task]
            in_group: list[np.ndarray] = []
            for _ in range(self.group_size):
                if not pending[task]:
                    used = np.concatenate(in_group) if in_group else None  # a pass starting mid-draw
                    pending[task] = self._task_pass(task, task_rngs[task], used)[::-1]  # pop() from the end
                batch = pending[task].pop()
                if self.group_size > 1:
                    in_group.append(batch)
                yield (batch + offset).tolist()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(tasks={self.task_sizes}, batch_size={self.max_batch_size}, "
            f"strategy={self.strategy!r}, group_size={self.group_size}, draws_per_epoch={self.draws_per_epoch})"
        )
