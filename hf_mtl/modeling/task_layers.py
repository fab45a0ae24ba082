"""Task-specific top layers: the bottom encoder layers shared, each task (or task group) with its own top layers.

``config.task_layers`` (``{copy: {"layers": k, "tasks": [...]}}``; a *copy* is a task, or a task group whose tasks
read the same examples) gives each copy its own copy of the encoder's top ``k`` layers. The encoder's layer list
keeps its place and its names: each of the top positions holds a :class:`TaskLayerSlot`, which holds one layer per
copy that owns the position (``<layers>.<i>.copies.<copy>.*``) and, where some task has no layer of its own there,
the shared one (``<layers>.<i>.shared.*``). A :class:`TaskLayerRouter` tells the slots which copy runs:

- a batch of one task (or one group) runs the encoder once, its copy routed: the shared bottom runs once per batch;
- several copies in one pass (``forward_all_tasks``, the pipeline, ONNX) run the encoder once with the first copy
  while the slots record each layer's inputs (the attention mask in the form the family's own encoder made, any
  position or relative embeddings), then *replay* only the layers where each other copy differs. So inference is
  one shared bottom pass plus each copy's top layers, for any family whose encoder is a plain loop over a layer
  list whose last layer's output is the encoder's output (BERT, RoBERTa, ELECTRA, DeBERTa-v2, DistilBERT, ...).

Where the layer list is comes from the encoder-family table (:mod:`.encoder_families`, ``EncoderFamily.layers``).
Part of the *modeling core*: imports only torch, the standard library and its siblings.

Example:

```python
>>> normalize_task_layers(1, {"ner": {}, "sentiment": {}}, num_layers=6)
{'ner': {'layers': 1, 'tasks': ['ner']}, 'sentiment': {'layers': 1, 'tasks': ['sentiment']}}
>>> normalize_task_layers({"conll": {"layers": 2, "tasks": ["pos", "ner"]}}, {"pos": {}, "ner": {}}, num_layers=6)
{'conll': {'layers': 2, 'tasks': ['pos', 'ner']}}

```
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .encoder_families import encoder_family
from .errors import HfMtlError, did_you_mean

__all__ = ["SHARED", "TaskLayerRouter", "TaskLayerSlot", "check_task_layer_count", "encoder_layer_list",
           "add_task_copy", "encode_routed", "format_parameter_counts", "normalize_task_layers", "parameter_counts", "remove_task_copy", "replay", "split_encoder", "split_state",
           "task_layer_owner", "task_layer_slots", "task_layers_state"]

SHARED = None  # the route of a task without layers of its own: the shared layers everywhere
_COPY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check_task_layer_count(value: Any, num_layers: int, where: str) -> int:
    """The one rule for a ``task_layers`` count: an integer in ``[0, num_layers)`` (the bottom layer stays shared)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise HfMtlError(f"{where}: task_layers must be a whole number of top encoder layers, got {value!r}.")
    if value < 0 or value >= num_layers:
        raise HfMtlError(
            f"{where}: task_layers={value}, but the encoder has {num_layers} layers: give 0 to {num_layers - 1} "
            "(at least the bottom layer stays shared)."
        )
    return value


def check_copy_members(members: Any, name: str, tasks: Mapping[str, Any], owner: dict[str, str], key: str,
                       one: str) -> list[str]:
    """The tasks of one copy (``task_layers`` / ``task_adapters`` entry ``name``): a list of the model's task names,
    none already in another copy (``owner``: task -> copy, updated)."""
    if isinstance(members, str) or not all(isinstance(member, str) for member in members):
        raise HfMtlError(f"{key}.{name}.tasks: expected a list of task names, got {members!r}.")
    for member in members:
        if member not in tasks:
            raise HfMtlError(f"{key}.{name}: unknown task '{member}'{did_you_mean(member, tasks)}; the model's tasks "
                             f"are {list(tasks)}.")
        if member in owner:
            raise HfMtlError(f"{key}: task '{member}' is in two copies ('{owner[member]}' and '{name}'); a task (or "
                             f"task group) has {one}.")
        owner[member] = name
    return list(members)


def normalize_task_layers(value: Any, tasks: Mapping[str, Any], num_layers: int) -> dict[str, dict[str, Any]] | None:
    """The canonical ``config.task_layers``: ``{copy: {"layers": k, "tasks": [names]}}``, copies with ``k > 0`` only.

    Accepts ``None``/``0`` (none), an ``int`` (every task its own copy of that many top layers), ``{task: k}`` and
    ``{copy: {"layers": k, "tasks": [...]}}`` (a task group: one copy for its tasks), mixed.

    Raises:
        HfMtlError: a count outside ``[0, num_layers)``, a task the model does not have, a task in two copies.
    """
    if value is None or value == {}:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = {name: value for name in tasks}
    if not isinstance(value, Mapping):
        raise HfMtlError(f"task_layers: expected a whole number of top layers or a mapping of tasks to numbers, got {value!r}.")
    result: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for name, entry in value.items():
        entry = dict(entry) if isinstance(entry, Mapping) else {"layers": entry, "tasks": [name]}
        unknown = sorted(set(entry) - {"layers", "tasks"})
        if unknown:
            raise HfMtlError(f"task_layers.{name}: unknown setting(s) {unknown}; valid: 'layers', 'tasks'.")
        if not isinstance(name, str) or not _COPY_NAME.match(name):
            raise HfMtlError(f"task_layers: {name!r} is not a task or group name (lowercase snake_case).")
        count = check_task_layer_count(entry.get("layers"), num_layers, f"task_layers.{name}")
        members = check_copy_members(entry.get("tasks") or [name], name, tasks, owner, "task_layers",
                                     "one copy of the top layers")
        if count:
            result[name] = {"layers": count, "tasks": list(members)}
    return result or None


def task_layer_owner(task_layers: Mapping[str, Any] | None, task: str) -> str | None:
    """The copy whose top layers ``task`` runs (``None``: the shared layers)."""
    for name, entry in (task_layers or {}).items():
        if task in entry["tasks"]:
            return name
    return SHARED


def encoder_layer_list(encoder: nn.Module) -> tuple[str, nn.ModuleList]:
    """The encoder's list of transformer layers and its dotted path (``"encoder.layer"``), from the family table.

    Raises:
        HfMtlError: the family keeps no list of ``num_hidden_layers`` distinct layers there (ALBERT shares one layer
            group across depths): its layers cannot be split into a shared bottom and task-specific tops.
    """
    config = encoder.config
    path = encoder_family(config).layers
    layers: Any = encoder
    for part in path.split("."):
        layers = getattr(layers, part, None)
    count = getattr(config, "num_hidden_layers", None)
    if not isinstance(layers, nn.ModuleList) or len(layers) != count:
        raise HfMtlError(
            f"task_layers: '{config.model_type}' encoders keep no list of {count} separate layers at '{path}', so "
            "their top layers cannot be given to tasks; train without task_layers (or use a BERT-like encoder)."
        )
    return path, layers


class TaskLayerRouter:
    """Which copy the :class:`TaskLayerSlot` s run, and (when recording) what each slot was called with.

    A plain object (no weights) shared by the model and its slots; only the model's forward sets it.
    """

    def __init__(self) -> None:
        self.active: str | None = SHARED
        self.records: dict[int, tuple[tuple[Any, ...], dict[str, Any], Any]] | None = None

    @contextmanager
    def route(self, copy_name: str | None, record: bool = False) -> Iterator[None]:
        previous, self.active = self.active, copy_name
        self.records = {} if record else None
        try:
            yield
        finally:
            self.active, self.records = previous, None


def _hidden_of(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, (tuple, list)) else output


class TaskLayerSlot(nn.Module):
    """One top position of the encoder's layer list: a layer per copy that owns it, and the shared one if needed.

    Args:
        position (`int`): the layer's index in the encoder's list.
        layer (`nn.Module`): the encoder's layer there (its weights start every copy; it stays as ``shared``
            when ``keep_shared``).
        copies (`list[str]`): the copies that get their own layer here.
        router (`TaskLayerRouter`): tells which copy runs.

    ``adapted`` lists the copies whose low-rank deltas (``task_adapters``, :mod:`.task_adapters`) live inside the
    shared layer here: they run the shared layer, routed, and so differ from the other copies at this position.
    """

    def __init__(self, position: int, layer: nn.Module, copies: list[str], router: TaskLayerRouter,
                 keep_shared: bool) -> None:
        super().__init__()
        self.position = position
        self.copies = nn.ModuleDict({name: copy.deepcopy(layer) for name in copies})
        self.shared = layer if keep_shared else None
        self.adapted: list[str] = []
        self._router = router
        # A family's encoder may read plain attributes of its layers (e.g. an attention type); keep them visible.
        for key, value in vars(layer).items():
            if not key.startswith("_") and key not in vars(self) and isinstance(value, (int, float, str, bool)):
                setattr(self, key, value)

    def layer_for(self, copy_name: str | None) -> nn.Module:
        """The layer that ``copy_name`` runs at this position (the shared one where it has none of its own)."""
        if copy_name in self.copies:
            return self.copies[copy_name]
        if self.shared is None:
            raise HfMtlError(f"Encoder layer {self.position} has no shared copy: every task has its own here, and "
                             f"none is routed ({copy_name!r}); run the model through its forward with task=...")
        return self.shared

    def differs(self, one: str | None, other: str | None) -> bool:
        """True when copies ``one`` and ``other`` compute different functions at this position."""
        if self.layer_for(one) is not self.layer_for(other):
            return True
        return one != other and (one in self.adapted or other in self.adapted)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        router = self._router
        output = self.layer_for(router.active)(*args, **kwargs)
        if router.records is not None:
            router.records[self.position] = (args, kwargs, output)
        return output


def split_encoder(encoder: nn.Module, task_layers: Mapping[str, Mapping[str, Any]], router: TaskLayerRouter,
                  all_tasks: list[str]) -> list[int]:
    """Put a :class:`TaskLayerSlot` at each top position of ``encoder`` that some copy owns; returns the positions.

    Each copy's layers start as copies of the encoder's layers there. The shared layer stays only where some task
    of ``all_tasks`` has no layer of its own.
    """
    _, layers = encoder_layer_list(encoder)
    count = len(layers)
    positions = []
    for position in range(count - max(entry["layers"] for entry in task_layers.values()), count):
        copies = [name for name, entry in task_layers.items() if position >= count - entry["layers"]]
        users = {task for name in copies for task in task_layers[name]["tasks"]}
        keep_shared = any(task not in users for task in all_tasks)
        layers[position] = TaskLayerSlot(position, layers[position], copies, router, keep_shared)
        positions.append(position)
    return positions


def replay(encoder_output: Any, router: TaskLayerRouter, slots: list[TaskLayerSlot], recorded: str | None,
           copy_name: str | None, model_type: str) -> torch.Tensor:
    """The encoder's last hidden state for ``copy_name``, replaying its top layers on what the slots recorded.

    ``recorded`` is the copy the encoder ran with; only the layers where ``copy_name`` differs from it run again
    (with ``copy_name`` routed, for the adapters inside a shared layer).
    """
    records = router.records or {}
    start = next((slot for slot in slots if slot.differs(copy_name, recorded)), None)
    if start is None:
        return encoder_output.last_hidden_state
    last_output = records[slots[-1].position][2]
    if _hidden_of(last_output) is not encoder_output.last_hidden_state:
        raise HfMtlError(
            f"'{model_type}' encoders change the hidden states after their last layer, so tasks with their own top "
            "layers cannot share one encoder pass; run forward(task=...) per task."
        )
    hidden = None
    previous, router.active = router.active, copy_name
    try:
        for slot in slots[slots.index(start):]:
            args, kwargs, _ = records[slot.position]
            if hidden is not None:
                if args:
                    args = (hidden, *args[1:])
                else:
                    kwargs = {**kwargs, "hidden_states": hidden}
            hidden = _hidden_of(slot.layer_for(copy_name)(*args, **kwargs))
    finally:
        router.active = previous
    return hidden


def _slot_key(key: str, layers_path: str, positions: set[int]) -> tuple[int, str] | None:
    """``(position, rest)`` for a key inside a slot position of the layer list, else ``None``."""
    head = layers_path + "."
    if not key.startswith(head):
        return None
    index, _, rest = key[len(head):].partition(".")
    return (int(index), rest) if index.isdigit() and int(index) in positions else None


def encode_routed(encoder: nn.Module, router: TaskLayerRouter, inputs: Mapping[str, Any],
                  copies: list[str | None]) -> tuple[Any, dict[str | None, torch.Tensor]]:
    """Run ``encoder`` once for every copy in ``copies``: ``(its output for the first copy, {copy: last hidden})``.

    One copy: a plain pass with that copy routed. Several: the pass records each slot's inputs, and the layers where
    each other copy differs run again on them (:func:`replay`); the bottom layers run once.
    """
    with router.route(copies[0], record=len(copies) > 1):
        encoded = encoder(**inputs, return_dict=True)
        hidden = {copies[0]: encoded.last_hidden_state}
        if len(copies) > 1:
            slots = list(task_layer_slots(encoder)[1].values())
            for other in copies[1:]:
                hidden[other] = replay(encoded, router, slots, copies[0], other, encoder.config.model_type)
    return encoded, hidden


def task_layers_state(encoder_state: Mapping[str, torch.Tensor], layers_path: str, copy_name: str | None,
                      positions: list[int]) -> dict[str, torch.Tensor]:
    """The plain encoder's state dict for one copy: its own layer (or the shared one) at each slot position.

    ``<layers>.<i>.copies.<copy>.X`` (or ``<layers>.<i>.shared.X``) becomes ``<layers>.<i>.X``; other copies' layers
    are left out. What export writes for a task; :func:`split_state` is the inverse.
    """
    own = f"copies.{copy_name}."
    slots = set(positions)
    owned = {found[0] for key in encoder_state if (found := _slot_key(key, layers_path, slots))
             and copy_name is not None and found[1].startswith(own)}
    result: dict[str, torch.Tensor] = {}
    for key, value in encoder_state.items():
        found = _slot_key(key, layers_path, slots)
        if found is None:
            result[key] = value
            continue
        position, rest = found
        source = own if position in owned else "shared."
        if rest.startswith(source):
            result[f"{layers_path}.{position}.{rest[len(source):]}"] = value
    return result


def split_state(plain_state: Mapping[str, torch.Tensor], layers_path: str,
                slots: Mapping[int, TaskLayerSlot]) -> dict[str, torch.Tensor]:
    """A plain encoder's state dict laid out for a split encoder: each slot's layer weights go to every copy there
    (and to the shared layer where it stays). How a pretrained encoder initialises every task's top layers."""
    result: dict[str, torch.Tensor] = {}
    for key, value in plain_state.items():
        found = _slot_key(key, layers_path, set(slots))
        if found is None:
            result[key] = value
            continue
        position, rest = found
        slot = slots[position]
        targets = [f"copies.{name}." for name in slot.copies] + (["shared."] if slot.shared is not None else [])
        for target in targets:
            result[f"{layers_path}.{position}.{target}{rest}"] = value
    return result


def task_layer_slots(encoder: nn.Module) -> tuple[str, dict[int, TaskLayerSlot]]:
    """The encoder's layer-list path and its :class:`TaskLayerSlot` s by position (``("", {})`` when it has none)."""
    if not any(isinstance(module, TaskLayerSlot) for module in encoder.modules()):
        return "", {}
    path, layers = encoder_layer_list(encoder)
    return path, {i: layer for i, layer in enumerate(layers) if isinstance(layer, TaskLayerSlot)}


def add_task_copy(encoder: nn.Module, config: Any, router: TaskLayerRouter, task: str, count: int, copy_name: str,
                  training: bool) -> None:
    """Route a new task: into its group's copy, a new copy of the top ``count`` layers, or the shared layers.

    A new copy starts from the shared layers (where every task already has its own, from the first copy there);
    ``config.task_layers`` is updated.
    """
    entries = config.task_layers or {}
    if copy_name in entries:
        entries[copy_name]["tasks"].append(task)
        return
    _, slots = task_layer_slots(encoder)
    if not count:
        lacking = [position for position, slot in slots.items() if slot.shared is None]
        if lacking:
            raise HfMtlError(f"Task '{task}' would run the shared encoder layers, but every task has its own layer "
                             f"at position(s) {lacking}: add it with task_layers={len(slots)}.")
        return
    _, layers = encoder_layer_list(encoder)
    check_task_layer_count(count, len(layers), f"Task '{task}'")
    for position in range(len(layers) - count, len(layers)):
        slot = layers[position]
        if not isinstance(slot, TaskLayerSlot):
            slot = layers[position] = TaskLayerSlot(position, slot, [], router, keep_shared=True)
        source = slot.shared if slot.shared is not None else next(iter(slot.copies.values()))
        slot.copies[copy_name] = copy.deepcopy(source).train(training)
    config.task_layers = {**entries, copy_name: {"layers": count, "tasks": [task]}}


def remove_task_copy(encoder: nn.Module, config: Any, task: str) -> None:
    """Take ``task`` out of its copy (a copy left without tasks loses its layers), then drop what no task runs: a
    shared layer where every remaining task has its own, a slot without copies (its shared layer goes back)."""
    owner = task_layer_owner(config.task_layers, task)
    if owner is not None:
        config.task_layers[owner]["tasks"].remove(task)
        if not config.task_layers[owner]["tasks"]:
            del config.task_layers[owner]
            config.task_layers = config.task_layers or None
    remaining = [name for name in config.tasks if name != task]
    path, slots = task_layer_slots(encoder)
    for position, slot in slots.items():
        if owner is not None and owner not in (config.task_layers or {}) and owner in slot.copies:
            del slot.copies[owner]
        users = {name for copy_name in slot.copies for name in (config.task_layers or {})[copy_name]["tasks"]}
        if not slot.copies and not slot.adapted:
            encoder_layer_list(encoder)[1][position] = slot.shared
        elif slot.shared is not None and all(name in users for name in remaining):
            slot.shared = None


def parameter_counts(model: nn.Module) -> dict[str, Any]:
    """Parameters shared by every task and each task's own: its head, (``task_layers``) its copy of top layers and
    (``task_adapters``) its low-rank adapter.

    Returns:
        ``{"shared": n, "total": n, "tasks": {task: {"head": n, "layers": n, "copy": name or None, "adapter": n,
        "adapter_copy": name or None}}}``; a group's copy (or adapter) is counted once in ``total`` and listed with
        each of its tasks. ``shared`` is every encoder weight that is not a copy's or an adapter's (the shared
        layers kept at a top position for tasks without their own included).

    Example:
        >>> counts = parameter_counts(model)
        >>> counts["shared"], counts["tasks"]["ner"]["layers"], counts["tasks"]["ner"]["adapter"]
    """
    _, slots = task_layer_slots(model.encoder)
    own: dict[str, int] = {}
    for slot in slots.values():
        for name, layer in slot.copies.items():
            own[name] = own.get(name, 0) + sum(p.numel() for p in layer.parameters())
    adapters: dict[str, int] = {}
    for module in model.encoder.modules():  # TaskLoRALinear (task_adapters): each copy's low-rank delta
        for name, count in getattr(module, "copy_parameter_counts", dict)().items():
            adapters[name] = adapters.get(name, 0) + count
    encoder_total = sum(p.numel() for p in model.encoder.parameters())
    tasks = {}
    for task in model.config.tasks:
        owner = task_layer_owner(model.config.task_layers, task)
        adapter = task_layer_owner(getattr(model.config, "task_adapters", None), task)
        tasks[task] = {"head": sum(p.numel() for p in model.heads[task].parameters()),
                       "layers": own.get(owner, 0) if owner else 0, "copy": owner,
                       "adapter": adapters.get(adapter, 0) if adapter else 0, "adapter_copy": adapter}
    return {"shared": encoder_total - sum(own.values()) - sum(adapters.values()),
            "total": sum(p.numel() for p in model.parameters()), "tasks": tasks}


def format_parameter_counts(counts: Mapping[str, Any]) -> str:
    """One line per task under a line for the shared encoder, as ``hf-mtl train`` prints them."""
    layered = any(t["layers"] for t in counts["tasks"].values())
    lines = [f"Parameters: {counts['total']:,} in all; {counts['shared']:,} shared by every task (the encoder"
             f"{' bottom' if layered else ''}); per task:"]
    for task, entry in counts["tasks"].items():
        parts = [f"head {entry['head']:,}"]
        for key, copy_key, what in (("layers", "copy", "own top layers"), ("adapter", "adapter_copy", "own adapter")):
            if entry.get(key):
                group = f" of group '{entry[copy_key]}'" if entry[copy_key] != task else ""
                parts.append(f"{what}{group} {entry[key]:,}")
        total = entry["head"] + entry["layers"] + entry.get("adapter", 0)
        lines.append(f"  {task}: {total:,} ({' + '.join(parts)})")
    return "\n".join(lines)
