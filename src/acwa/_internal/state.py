"""Declared state: each stateful piece names its state once; the rest follows.

In the spirit of torchmetrics' ``Metric.add_state``: a class derived from :class:`Stateful`
calls :meth:`Stateful.add_state` in its constructor for each piece of state, with its default,
how it reduces across ``torch.distributed`` ranks, and how a loaded value is checked.
Then, without per-class code:

- :meth:`~Stateful.reset` restores the defaults (all states, or the named ones);
- :meth:`~Stateful.synced` returns a state reduced over ranks *without mutating it*, so a
  metric read mid-window under DDP never leaves global sums in a local window;
- :meth:`~Stateful.state_dict` / :meth:`~Stateful.load_state_dict` round-trip every state;
  loading checks keys, types, shapes, dtypes, finiteness and each state's own ``check`` for
  every entry *before* assigning any, so a bad dict raises ``ValueError`` naming the key and
  leaves the object untouched (atomic);
- :meth:`~Stateful.to` moves every tensor state;
- unpickling (spawned DDP workers) gives each process private tensors.

State kinds: a tensor (its default's shape is enforced; ``shape=`` with ``None`` entries frees
a dimension), a list of tensors (``item_shape=``), or a Python ``int``/``float``/``bool``/
``str``/``None`` scalar.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["Stateful", "StateSpec", "SYNC_REDUCTIONS", "all_reduce", "all_gather_cat"]

SYNC_REDUCTIONS = ("sum", "max", "min", "cat", None)
_DIST_OPS = {"sum": "SUM", "max": "MAX", "min": "MIN"}


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce(t: Tensor, op: str = "sum") -> Tensor:
    """A reduced *copy* of ``t`` over all ranks (``t`` itself when not distributed)."""
    if not _distributed():
        return t
    import torch.distributed as dist

    out = t.clone()
    dist.all_reduce(out, op=getattr(dist.ReduceOp, _DIST_OPS[op]))
    return out


def all_gather_cat(t: Tensor) -> Tensor:
    """Concatenate ``t`` from all ranks along dim 0, in rank order (identity without DDP).

    First dimensions may differ between ranks (even 0): sizes are gathered first, tensors are
    padded to the largest, gathered, and trimmed. Every rank must call it at the same point,
    with the same trailing shape and dtype. Works with gloo and NCCL.
    """
    if not _distributed():
        return t
    import torch.distributed as dist

    world = dist.get_world_size()
    size = torch.tensor([t.shape[0]], dtype=torch.long, device=t.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes_host = [int(s) for s in torch.cat(sizes).tolist()]
    padded = t.new_zeros((max(sizes_host),) + tuple(t.shape[1:]))
    padded[: t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes_host)])


@dataclass(frozen=True)
class StateSpec:
    """One declared state. ``check(value)`` may raise ``ValueError`` for a bad loaded value."""

    name: str
    default: Any
    reduce: str | None = None
    shape: tuple[int | None, ...] | None = None  # tensors: expected shape, None = any size
    item_shape: tuple[int | None, ...] | None = None  # lists of tensors: shape of each item
    check: Callable[[Any], None] | None = None
    optional: bool = False  # may be missing from a loaded dict (older checkpoints): default kept

    def fresh(self) -> Any:
        if isinstance(self.default, Tensor):
            return self.default.clone()
        return copy.deepcopy(self.default)


def _shape_ok(shape: Sequence[int], expected: Sequence[int | None] | None) -> bool:
    if expected is None:
        return True
    return len(shape) == len(expected) and all(e is None or s == e for s, e in zip(shape, expected))


def _same_kind(a: torch.dtype, b: torch.dtype) -> bool:
    def kind(d: torch.dtype) -> str:
        if d == torch.bool:
            return "bool"
        if d.is_floating_point:
            return "float"
        return "complex" if d.is_complex else "int"

    return kind(a) == kind(b)


class Stateful:
    """Mixin: declare state with :meth:`add_state`; reset/sync/state_dict/load/to follow."""

    _state_specs: dict[str, StateSpec]

    def add_state(
        self,
        name: str,
        default: Any,
        reduce: str | None = None,
        *,
        shape: tuple[int | None, ...] | None = None,
        item_shape: tuple[int | None, ...] | None = None,
        check: Callable[[Any], None] | None = None,
        optional: bool = False,
    ) -> None:
        """Declare state ``name`` (set as an attribute to a fresh copy of ``default``).

        ``reduce``: how :meth:`synced` combines ranks: ``'sum' | 'max' | 'min'`` for tensors,
        ``'cat'`` for tensors or lists of tensors (concatenated along dim 0), ``None``: the
        state is the same on every rank (or rank-local) and is not reduced.
        """
        if reduce not in SYNC_REDUCTIONS:
            raise ValueError(f"reduce must be one of {list(SYNC_REDUCTIONS)}, got {reduce!r}")
        if "_state_specs" not in self.__dict__:
            self._state_specs = {}
        if isinstance(default, Tensor) and shape is None:
            shape = tuple(default.shape)
        spec = StateSpec(
            name,
            default.detach().clone() if isinstance(default, Tensor) else default,
            reduce,
            shape,
            item_shape,
            check,
            optional,
        )
        self._state_specs[name] = spec
        setattr(self, name, spec.fresh())

    # ------------------------------------------------------------------ lifecycle
    def reset(self, *names: str) -> None:
        """Restore the named states (default: all) to their declared defaults, on this device."""
        device = self.state_device
        for name in names or tuple(self._state_specs):
            value = self._state_specs[name].fresh()
            setattr(self, name, _move(value, device) if device is not None else value)

    @property
    def state_device(self) -> torch.device | None:
        """Device of the first tensor state (None when there is none)."""
        for name in self._state_specs:
            value = getattr(self, name)
            if isinstance(value, Tensor):
                return value.device
        return None

    def synced(self, name: str) -> Any:
        """State ``name`` reduced over DDP ranks, as a new value (the state is not modified).

        Every rank must call it at the same point. Without ``torch.distributed`` it is the
        state itself.
        """
        spec = self._state_specs[name]
        value = getattr(self, name)
        if spec.reduce is None or not _distributed():
            return value
        if spec.reduce == "cat":
            if isinstance(value, list):
                value = torch.cat(value) if value else spec.default
            return all_gather_cat(value)
        return all_reduce(value, spec.reduce)

    def to(self, device: Any) -> Stateful:
        """Move every tensor state to ``device`` (returns self)."""
        for name in self._state_specs:
            setattr(self, name, _move(getattr(self, name), device))
        return self

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Every declared state as CPU copies (tensors cloned, lists copied)."""
        return {name: _to_cpu(getattr(self, name)) for name in self._state_specs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a :meth:`state_dict`: everything is checked first, then assigned (atomic)."""
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        unknown = sorted(set(state) - set(self._state_specs))
        if unknown:
            raise ValueError(
                f"state has unknown keys {unknown} for {type(self).__name__}; expected {sorted(self._state_specs)}"
            )
        device = self.state_device
        loaded = {}
        for name, spec in self._state_specs.items():
            if name not in state:
                if spec.optional:
                    continue
                raise ValueError(
                    f"state is missing key {name!r} for {type(self).__name__}; pass a complete "
                    f"dict from state_dict() (keys {sorted(self._state_specs)})"
                )
            value = _validated(spec, state[name], type(self).__name__)
            loaded[name] = _move(value, device) if device is not None else value
        self._check_loaded({**{n: getattr(self, n) for n in self._state_specs}, **loaded})
        for name, value in loaded.items():
            setattr(self, name, value)

    def _check_loaded(self, state: dict[str, Any]) -> None:
        """Hook: cross-state checks on the complete candidate state (raise ``ValueError``)."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickling in a spawned process (torch.multiprocessing, ddp_spawn) maps tensors to
        # shared memory; give each process private copies so ranks never write the same counts.
        self.__dict__.update(state)
        for name in state.get("_state_specs", {}):
            setattr(self, name, _clone(getattr(self, name)))


def _validated(spec: StateSpec, value: Any, owner: str) -> Any:
    where = f"state[{spec.name!r}] of {owner}"
    default = spec.default
    if isinstance(default, Tensor):
        value = _tensor_entry(value, default, spec.shape, where)
    elif isinstance(default, list):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a list, got {type(value).__name__}")
        value = [_tensor_entry(v, None, spec.item_shape, f"{where}[{i}]") for i, v in enumerate(value)]
    elif default is None or isinstance(default, (bool, int, float, str)):
        kinds: tuple[type, ...] = (type(default),) if default is not None else (object,)
        if isinstance(default, float):
            kinds = (int, float)
        if isinstance(value, bool) and not isinstance(default, bool):
            raise ValueError(f"{where} must be a {type(default).__name__}, got {value!r}")
        if not isinstance(value, kinds):
            raise ValueError(f"{where} must be a {type(default).__name__}, got {value!r}")
    if spec.check is not None:
        try:
            spec.check(value)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    return value


def _tensor_entry(value: Any, default: Tensor | None, shape: Sequence[int | None] | None, where: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise ValueError(f"{where} must be a tensor, got {type(value).__name__}")
    if not _shape_ok(value.shape, shape):
        raise ValueError(f"{where} has shape {tuple(value.shape)}, expected {tuple(shape or ())}")
    if default is not None:
        if not _same_kind(value.dtype, default.dtype):
            raise ValueError(f"{where} has dtype {value.dtype}, expected {default.dtype}")
        value = value.to(default.dtype)
    if value.is_floating_point() and value.numel() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{where} must be finite, got {value.tolist() if value.numel() <= 16 else 'NaN/Inf entries'}")
    return value.detach().clone()


def _move(value: Any, device: Any) -> Any:
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, list):
        return [_move(v, device) for v in value]
    return value


def _to_cpu(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def _clone(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.clone()
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value
