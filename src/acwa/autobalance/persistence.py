"""The parts of an :class:`~acwa.autobalance.AutoBalance` checkpoint that are not plain declared
state: the loss and augmentation modules, the hyper-optimiser, the random generators, the
buffered training batches and the history.

:func:`check_components` validates all of them (keys, shapes, finiteness, types) without
touching the tuner; :func:`load_components` then assigns them. The tuner calls the check first,
then the declared-state load (itself checked before assigning), then the assignment, so a bad
checkpoint raises ``ValueError`` naming the key and leaves the tuner unchanged.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import torch
from torch import Tensor, nn

AutoBalance = Any  # the tuner (not imported: acwa.autobalance.tuner imports this module)

__all__ = ["COMPONENT_KEYS", "dump_components", "check_components", "load_components"]

COMPONENT_KEYS = ("loss", "augment", "hyper_optimizer", "generator", "aug_generator", "buffer", "history")


def dump_components(tuner: AutoBalance) -> dict[str, Any]:
    gen = tuner._aug_generator
    return {
        "loss": tuner.loss.state_dict(),
        "augment": None if tuner.augment is None else tuner.augment.state_dict(),
        "hyper_optimizer": tuner.hyper_optimizer.state_dict(),
        "generator": tuner._generator.get_state(),
        "aug_generator": None if gen is None else (str(gen.device), gen.get_state()),
        "buffer": list(tuner._buffer),
        "history": list(tuner.history),
    }


def _finite_tensor(value: Any, where: str, shape: tuple[int, ...] | None = None) -> Tensor:
    if not isinstance(value, Tensor):
        raise ValueError(f"{where} must be a tensor, got {type(value).__name__}")
    if shape is not None and tuple(value.shape) != shape:
        raise ValueError(f"{where} has shape {tuple(value.shape)}, expected {shape}")
    if value.is_floating_point() and value.numel() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{where} must be finite (it holds NaN or Inf)")
    return value


def _check_module_state(module: nn.Module, value: Any, where: str) -> None:
    expected = module.state_dict()
    if not isinstance(value, dict) or set(value) != set(expected):
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise ValueError(f"{where} must be a state dict with keys {sorted(expected)}, got {got}")
    for key, ref in expected.items():
        _finite_tensor(value[key], f"{where}[{key!r}]", tuple(ref.shape))


def _check_optimizer(optimizer: torch.optim.Optimizer, value: Any) -> None:
    where = "state['hyper_optimizer']"
    if not isinstance(value, dict) or "state" not in value or "param_groups" not in value:
        raise ValueError(f"{where} must be an optimizer state dict with 'state' and 'param_groups'")
    groups = value["param_groups"]
    sizes = [len(g["params"]) for g in optimizer.param_groups]
    if not isinstance(groups, list) or [len(g.get("params", ())) for g in groups] != sizes:
        raise ValueError(f"{where} was saved for a different set of tuned parameters (group sizes {sizes})")
    for pid, entry in value["state"].items():
        for key, t in entry.items():
            if isinstance(t, Tensor):
                _finite_tensor(t, f"{where}['state'][{pid}][{key!r}]")


def _check_generator(value: Any, where: str, like: Tensor) -> None:
    if not isinstance(value, Tensor) or value.dtype != torch.uint8 or value.shape != like.shape:
        raise ValueError(f"{where} must be a torch.Generator state (uint8 tensor {tuple(like.shape)})")


def _check_buffer(value: Any, max_len: int) -> None:
    if not isinstance(value, (list, tuple)) or len(value) > max_len:
        raise ValueError(f"state['buffer'] must be a list of at most train_batches={max_len} batches")
    for i, item in enumerate(value):
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            raise ValueError(f"state['buffer'][{i}] must be an (x, y, group) triple")
        _finite_tensor(item[0], f"state['buffer'][{i}][0]")
        _finite_tensor(item[1], f"state['buffer'][{i}][1]")
        if item[2] is not None:
            _finite_tensor(item[2], f"state['buffer'][{i}][2]")


def check_components(tuner: AutoBalance, state: dict[str, Any]) -> dict[str, Any]:
    """The component entries of ``state``, validated (``ValueError`` names the bad key)."""
    missing = [k for k in COMPONENT_KEYS if k not in state]
    if missing:
        raise ValueError(f"state is missing key(s) {missing} for AutoBalance; pass a dict from state_dict()")
    _check_module_state(tuner.loss, state["loss"], "state['loss']")
    if (state["augment"] is None) != (tuner.augment is None):
        raise ValueError("state_dict augment does not match this tuner (built with a different augment)")
    if tuner.augment is not None:
        _check_module_state(tuner.augment, state["augment"], "state['augment']")
    _check_optimizer(tuner.hyper_optimizer, state["hyper_optimizer"])
    _check_generator(state["generator"], "state['generator']", tuner._generator.get_state())
    aug = state["aug_generator"]
    if aug is not None:
        if not isinstance(aug, (list, tuple)) or len(aug) != 2 or not isinstance(aug[0], str):
            raise ValueError("state['aug_generator'] must be None or a (device, generator state) pair")
        if not isinstance(aug[1], Tensor) or aug[1].dtype != torch.uint8:
            raise ValueError("state['aug_generator'][1] must be a torch.Generator state (uint8 tensor)")
    _check_buffer(state["buffer"], tuner.config.train_batches)
    history = state["history"]
    if not isinstance(history, (list, tuple)) or not all(isinstance(h, dict) for h in history):
        raise ValueError("state['history'] must be a list of dicts of tensors")
    for i, h in enumerate(history):
        for key, t in h.items():
            _finite_tensor(t, f"state['history'][{i}][{key!r}]")
    return {k: state[k] for k in COMPONENT_KEYS}


def load_components(tuner: AutoBalance, components: dict[str, Any]) -> None:
    """Assign entries validated by :func:`check_components`."""
    tuner.loss.load_state_dict(components["loss"])
    if tuner.augment is not None:
        tuner.augment.load_state_dict(components["augment"])
    tuner.hyper_optimizer.load_state_dict(components["hyper_optimizer"])
    tuner._generator.set_state(components["generator"])
    if components["aug_generator"] is not None:
        dev, st = components["aug_generator"]
        gen = torch.Generator(device=dev)
        gen.set_state(st)
        tuner._aug_generator = gen
    tuner._buffer = deque(components["buffer"], maxlen=tuner.config.train_batches)
    tuner.history = list(components["history"])
