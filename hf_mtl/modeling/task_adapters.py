"""Per-task low-rank adapters: one shared encoder, each task (or task group) with LoRA deltas of its own.

``config.task_adapters`` (``{copy: {"tasks": [...], "r": 8, "alpha": 16, "dropout": 0.0, "target_modules": [...],
"layers": [i, ...]}}``; a *copy* is a task, or a task group whose tasks read the same examples) gives each copy its
own low-rank matrices ``A`` (``r x in``) and ``B`` (``out x r``) on the named linear layers of the chosen encoder
layers: the layer computes ``W x + b + (alpha / r) B A x`` for a batch of that copy and ``W x + b`` for any other.
``W`` and ``b`` stay one tensor, shared by every task (trained in full, or frozen under a backbone LoRA).

Routing and the one-pass inference are the task layers' (:mod:`.task_layers`): every adapted layer sits in a
:class:`~.task_layers.TaskLayerSlot` (its shared layer, no copies, the adapted copies listed), the
:class:`~.task_layers.TaskLayerRouter` says which copy runs, and several tasks in one pass replay only the layers
from the first adapted one up. With adapters on the top *k* layers the pipeline is one shared bottom pass plus *k*
layers per copy.

The weights are ``<linear>.task_lora_A.<copy>`` / ``<linear>.task_lora_B.<copy>`` next to the linear layer's own
``weight`` and ``bias``; a new copy starts as LoRA does (``A`` Kaiming-uniform, ``B = 0``: the model is unchanged).
Part of the *modeling core*: imports only torch, the standard library and its siblings (no peft).

Example:

```python
>>> normalize_task_adapters({"r": 4, "layers": 1}, {"ner": {}, "pos": {}}, num_layers=6)["ner"]
{'tasks': ['ner'], 'r': 4, 'alpha': 8, 'dropout': 0.0, 'target_modules': None, 'layers': [5]}

```
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from .errors import HfMtlError, did_you_mean
from .lora import ATTENTION_PROJECTIONS, TASK_ADAPTER_MARKER
from .task_layers import (
    TaskLayerRouter,
    TaskLayerSlot,
    check_copy_members,
    encoder_layer_list,
    task_layer_owner,
    task_layer_slots,
)

__all__ = ["ADAPTER_SETTINGS", "TaskLoRALinear", "add_adapter_copy", "check_adapter_settings", "inject_task_adapters",
           "merged_adapter_state", "normalize_task_adapters", "remove_adapter_copy"]

# A copy's settings and their defaults (r and alpha as hf_mtl's backbone LoRA; no dropout: runs are deterministic).
ADAPTER_SETTINGS: dict[str, Any] = {"r": 8, "alpha": None, "dropout": 0.0, "target_modules": None, "layers": None}
_COPY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check_adapter_settings(settings: Any, where: str) -> dict[str, Any]:
    """The one check of one copy's adapter settings (without the encoder: layer indices are checked at build).

    ``settings``: ``True``/``None`` (the defaults) or a mapping of ``r`` (> 0), ``alpha`` (> 0; default ``2 r``),
    ``dropout`` (in ``[0, 1)``), ``target_modules`` (names of linear layers) and ``layers`` (``k``: the top ``k``
    layers, or a list of layer indices; default: every layer). Returns the settings with defaults filled in.

    Raises:
        HfMtlError: an unknown setting (with the nearest valid one) or a value out of range, in one line.
    """
    if settings is True or settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise HfMtlError(f"{where}: expected true or a mapping of adapter settings ({', '.join(ADAPTER_SETTINGS)}), "
                         f"got {settings!r}.")
    unknown = sorted(set(settings) - set(ADAPTER_SETTINGS) - {"tasks"})
    if unknown:
        raise HfMtlError(f"{where}: unknown setting {unknown[0]!r}{did_you_mean(unknown[0], list(ADAPTER_SETTINGS))}; "
                         f"valid: {', '.join(ADAPTER_SETTINGS)}.")
    result = {**ADAPTER_SETTINGS, **{k: v for k, v in settings.items() if k != "tasks"}}
    rank = result["r"]
    if isinstance(rank, bool) or not isinstance(rank, int) or rank <= 0:
        raise HfMtlError(f"{where}.r: the adapter rank must be a whole number > 0, got {rank!r}.")
    result["alpha"] = 2 * rank if result["alpha"] is None else result["alpha"]
    alpha = result["alpha"]
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
        raise HfMtlError(f"{where}.alpha: the adapter scaling numerator must be a number > 0, got {alpha!r}.")
    dropout = result["dropout"]
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise HfMtlError(f"{where}.dropout: expected a probability in [0, 1), got {dropout!r}.")
    targets = result["target_modules"]
    if isinstance(targets, str):
        targets = result["target_modules"] = [targets]
    if targets is not None and (not targets or not all(isinstance(name, str) and name for name in targets)):
        raise HfMtlError(f"{where}.target_modules: expected a list of linear layer names (e.g. [query, value]), "
                         f"got {targets!r}.")
    layers = result["layers"]
    if layers is not None and not (isinstance(layers, int) and not isinstance(layers, bool)) and not (
            isinstance(layers, (list, tuple)) and layers and all(isinstance(i, int) and not isinstance(i, bool)
                                                                 for i in layers)):
        raise HfMtlError(f"{where}.layers: expected k (the top k encoder layers) or a list of layer indices, "
                         f"got {layers!r}.")
    result["target_modules"] = None if targets is None else list(targets)
    result["layers"] = list(layers) if isinstance(layers, (list, tuple)) else layers
    return result


def _layer_indices(layers: Any, num_layers: int, where: str) -> list[int]:
    if layers is None:
        return list(range(num_layers))
    if isinstance(layers, int):
        if not 1 <= layers <= num_layers:
            raise HfMtlError(f"{where}.layers={layers}: the encoder has {num_layers} layers; give the top 1 to "
                             f"{num_layers}, or a list of indices 0 to {num_layers - 1}.")
        return list(range(num_layers - layers, num_layers))
    outside = [i for i in layers if not 0 <= i < num_layers]
    if outside:
        raise HfMtlError(f"{where}.layers: {outside} outside the encoder, which has layers 0 to {num_layers - 1}.")
    return sorted(set(layers))


def normalize_task_adapters(value: Any, tasks: Mapping[str, Any], num_layers: int) -> dict[str, dict[str, Any]] | None:
    """The canonical ``config.task_adapters``: ``{copy: {"tasks": [...], "r", "alpha", "dropout", "target_modules",
    "layers": [indices]}}``.

    Accepts ``None``/``False`` (none), ``True`` (every task its own adapter, defaults), a mapping of settings (every
    task its own adapter with them), and ``{copy: settings}`` where a copy is a task or names its ``tasks`` (a group).

    Raises:
        HfMtlError: a bad setting (:func:`check_adapter_settings`), layers outside the encoder, a task the model does
            not have, a task in two copies.
    """
    if value is None or value is False or value == {}:
        return None
    # settings for every task, unless every value is a copy's (settings, true/false): {"r": 8}, not {"ner": {...}}
    if value is True or (isinstance(value, Mapping) and not all(
            isinstance(entry, Mapping) or entry is None or isinstance(entry, bool) for entry in value.values())):
        value = {name: (dict(value) if isinstance(value, Mapping) else {}) for name in tasks}
    if not isinstance(value, Mapping):
        raise HfMtlError(f"task_adapters: expected true, a mapping of adapter settings or of tasks to settings, "
                         f"got {value!r}.")
    result: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for name, entry in value.items():
        if not isinstance(name, str) or not _COPY_NAME.match(name):
            raise HfMtlError(f"task_adapters: {name!r} is not a task or group name (lowercase snake_case).")
        if entry is False or entry is None:
            continue
        where = f"task_adapters.{name}"
        members = check_copy_members((entry.get("tasks") if isinstance(entry, Mapping) else None) or [name], name,
                                     tasks, owner, "task_adapters", "one adapter")
        settings = check_adapter_settings(entry, where)
        settings["layers"] = _layer_indices(settings["layers"], num_layers, where)
        result[name] = {"tasks": list(members), **settings}
    return result or None


class TaskLoRALinear(nn.Linear):
    """A linear layer with per-copy low-rank deltas: ``W x + b + scaling[c] * B[c] (A[c] x)`` for the routed copy.

    ``weight`` and ``bias`` keep their names (the plain encoder's state dict loads into it unchanged); the deltas are
    ``task_lora_A.<copy>`` and ``task_lora_B.<copy>``. A copy that is not routed (or a layer without its delta) gives
    the plain ``W x + b``.
    """

    def __init__(self, base: nn.Linear, router: TaskLayerRouter) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        self.task_lora_A = nn.ParameterDict()
        self.task_lora_B = nn.ParameterDict()
        self.scaling: dict[str, float] = {}
        self.dropout: dict[str, float] = {}
        self._router = router

    def add_copy(self, name: str, rank: int, alpha: float, dropout: float) -> None:
        """Give ``name`` its delta, initialised as LoRA does: ``A`` Kaiming-uniform, ``B = 0``."""
        weight = self.weight
        a = torch.empty(rank, self.in_features, device=weight.device, dtype=weight.dtype)
        if a.device.type != "meta":
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        self.task_lora_A[name] = nn.Parameter(a, requires_grad=weight.requires_grad or True)
        self.task_lora_B[name] = nn.Parameter(torch.zeros(self.out_features, rank, device=weight.device,
                                                          dtype=weight.dtype))
        self.scaling[name], self.dropout[name] = alpha / rank, float(dropout)

    def remove_copy(self, name: str) -> None:
        """Drop ``name``'s delta."""
        for store in (self.task_lora_A, self.task_lora_B):
            if name in store:
                del store[name]
        self.scaling.pop(name, None)
        self.dropout.pop(name, None)

    def copy_parameter_counts(self) -> dict[str, int]:
        """``{copy: parameters of its delta here}`` (read by :func:`~.task_layers.parameter_counts`)."""
        return {name: self.task_lora_A[name].numel() + self.task_lora_B[name].numel() for name in self.task_lora_A}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = functional.linear(x, self.weight, self.bias)
        active = self._router.active
        if active is None or active not in self.task_lora_A:
            return output
        inner = functional.dropout(x, self.dropout[active], self.training) if self.dropout[active] else x
        delta = functional.linear(functional.linear(inner, self.task_lora_A[active]), self.task_lora_B[active])
        return output + delta * self.scaling[active]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, task adapters={list(self.task_lora_A)}"


def _linear_names(layer: nn.Module) -> list[str]:
    return [name for name, module in layer.named_modules() if isinstance(module, nn.Linear) and name]


def _matches(name: str, target: str) -> bool:
    return name == target or name.endswith("." + target)


def _default_targets(layer: nn.Module) -> list[str]:
    leaves = {name.rsplit(".", 1)[-1] for name in _linear_names(layer)}
    for names in ATTENTION_PROJECTIONS:
        if set(names) <= leaves:
            return list(names)
    raise HfMtlError(f"task_adapters: no default target_modules for this encoder; set target_modules (its layers' "
                     f"linear layers: {sorted(leaves)}).")


def _add_copy_to_encoder(encoder: nn.Module, router: TaskLayerRouter, name: str, entry: dict[str, Any]) -> None:
    _, layers = encoder_layer_list(encoder)
    for position in entry["layers"]:
        slot = layers[position]
        if not isinstance(slot, TaskLayerSlot):
            slot = layers[position] = TaskLayerSlot(position, slot, [], router, keep_shared=True)
        if slot.shared is None or slot.copies:
            raise HfMtlError(f"task_adapters: encoder layer {position} holds task-specific top layers (task_layers); "
                             "give a model task_layers or task_adapters, not both.")
        layer = slot.shared
        if entry["target_modules"] is None:
            entry["target_modules"] = _default_targets(layer)
        names = _linear_names(layer)
        for target in entry["target_modules"]:
            if not any(_matches(found, target) for found in names):
                leaves = sorted({found.rsplit(".", 1)[-1] for found in names})
                raise HfMtlError(f"task_adapters.{name}.target_modules: the encoder's layers have no linear layer "
                                 f"'{target}'; they have {leaves} (dotted: {names}).")
        for found in names:
            if any(_matches(found, target) for target in entry["target_modules"]):
                parent_name, _, child = found.rpartition(".")
                parent = layer.get_submodule(parent_name) if parent_name else layer
                module = getattr(parent, child)
                if not isinstance(module, TaskLoRALinear):
                    module = TaskLoRALinear(module, router)
                    setattr(parent, child, module)
                module.add_copy(name, entry["r"], entry["alpha"], entry["dropout"])
        if name not in slot.adapted:
            slot.adapted.append(name)


def inject_task_adapters(encoder: nn.Module, config: Any, router: TaskLayerRouter) -> None:
    """Give every copy of ``config.task_adapters`` its deltas in ``encoder`` (in place); fills in default targets.

    Raises:
        HfMtlError: a target module the encoder's layers lack (naming the ones they have), or task_layers at the
            same positions.
    """
    for name, entry in (config.task_adapters or {}).items():
        _add_copy_to_encoder(encoder, router, name, entry)


def _adapted_linears(encoder: nn.Module) -> list[TaskLoRALinear]:
    return [module for module in encoder.modules() if isinstance(module, TaskLoRALinear)]


def add_adapter_copy(encoder: nn.Module, config: Any, router: TaskLayerRouter, task: str, settings: Any,
                     copy_name: str) -> None:
    """Route a new task: into its group's adapter (``copy_name`` exists), a new adapter (``B = 0``), or none.

    ``config.task_adapters`` is updated. ``settings`` as :func:`check_adapter_settings` takes them (``None``/``False``:
    the task runs the shared encoder alone).
    """
    entries = config.task_adapters or {}
    if copy_name in entries:
        entries[copy_name]["tasks"].append(task)
        return
    if settings is None or settings is False:
        return
    _, layers = encoder_layer_list(encoder)
    entry = {"tasks": [task], **check_adapter_settings(settings, f"Task '{task}': task_adapters")}
    entry["layers"] = _layer_indices(entry["layers"], len(layers), f"Task '{task}': task_adapters")
    _add_copy_to_encoder(encoder, router, copy_name, entry)
    config.task_adapters = {**entries, copy_name: entry}


def remove_adapter_copy(encoder: nn.Module, config: Any, task: str) -> None:
    """Take ``task`` out of its adapter; an adapter left without tasks is deleted (a layer without any adapter goes
    back to a plain linear layer, a slot without any to the plain encoder layer)."""
    owner = task_layer_owner(config.task_adapters, task)
    if owner is None:
        return
    config.task_adapters[owner]["tasks"].remove(task)
    if config.task_adapters[owner]["tasks"]:
        return
    del config.task_adapters[owner]
    config.task_adapters = config.task_adapters or None
    for parent in list(encoder.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, TaskLoRALinear):
                child.remove_copy(owner)
                if not child.task_lora_A:
                    plain = nn.Linear(child.in_features, child.out_features, bias=child.bias is not None,
                                      device="meta")
                    plain.weight, plain.bias = child.weight, child.bias
                    setattr(parent, child_name, plain)
    _, slots = task_layer_slots(encoder)
    _, layers = encoder_layer_list(encoder) if slots else ("", None)
    for position, slot in slots.items():
        if owner in slot.adapted:
            slot.adapted.remove(owner)
        if not slot.adapted and not slot.copies:
            layers[position] = slot.shared


def merged_adapter_state(state: Mapping[str, torch.Tensor], adapters: Mapping[str, Any] | None,
                         copy_name: str | None) -> dict[str, torch.Tensor]:
    """A plain state dict for one copy: its deltas folded into each adapted weight (``W + (alpha / r) B A``), every
    adapter weight left out. What ``export --task`` writes; the function the model computes for that copy."""
    result = {key: value for key, value in state.items() if TASK_ADAPTER_MARKER not in key}
    if copy_name is None:
        return result
    entry = adapters[copy_name]
    scaling = entry["alpha"] / entry["r"]
    suffix = f"{TASK_ADAPTER_MARKER}A.{copy_name}"
    for key, a in state.items():
        if key.endswith(suffix):
            base = key[: -len(suffix)]
            b = state[f"{base}{TASK_ADAPTER_MARKER}B.{copy_name}"]
            weight = result[f"{base}.weight"]
            delta = (b.to(torch.float32) @ a.to(torch.float32)) * scaling
            result[f"{base}.weight"] = (weight.to(torch.float32) + delta).to(weight.dtype)
    return result
