"""Input checks shared by every public entry point.

Each check raises ``ValueError`` naming the argument, the offending value and the fix.
Checks that need a value from the tensor (finite logits, label range) read it back to the
host; :func:`should_check_values` decides when that is allowed so that per-step paths on an
accelerator stay free of host syncs.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

__all__ = [
    "check_num_classes",
    "check_logits",
    "check_labels",
    "check_logits_labels",
    "should_check_values",
    "check_choice",
]


def check_num_classes(num_classes: int, name: str = "num_classes") -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise ValueError(f"{name} must be an int >= 2, got {num_classes!r}")
    if num_classes < 2:
        raise ValueError(
            f"{name} must be >= 2 (a classifier needs at least two classes), got {num_classes}"
        )
    return num_classes


def check_choice(value, choices, name: str):
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def should_check_values(t: Tensor, validate: Optional[bool], first_call: bool) -> bool:
    """``validate=None`` (auto): always on CPU, only on the first call on accelerators."""
    if validate is not None:
        return bool(validate)
    return t.device.type == "cpu" or first_call


def check_logits(logits: Tensor, name: str = "outputs", check_values: bool = True) -> None:
    if not isinstance(logits, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of logits [N, C, ...], got {type(logits).__name__}")
    if logits.dim() < 2:
        raise ValueError(
            f"{name} must have shape [N, C] (or [N, C, d1, ...]), got shape {tuple(logits.shape)}; "
            "for a single sample use outputs.unsqueeze(0)"
        )
    if logits.shape[1] < 2:
        raise ValueError(
            f"{name} has {logits.shape[1]} class column(s); need C >= 2 "
            "(for binary problems output two logits, one per class)"
        )
    if check_values and not logits.is_floating_point():
        raise ValueError(f"{name} must be floating point logits, got dtype {logits.dtype}")
    # NaN/Inf propagate through a sum: one reduction instead of an elementwise isfinite pass
    # (half-precision logits are summed in float32 so that large batches cannot overflow)
    if check_values and not math.isfinite(
        (logits.sum(dtype=torch.float32) if logits.dtype in (torch.float16, torch.bfloat16) else logits.sum()).item()
    ):
        raise ValueError(
            f"{name} contains NaN or Inf values; check the model, the learning rate and the inputs"
        )


def check_labels(
    labels: Tensor,
    num_classes: int,
    ignore_index: Optional[int] = None,
    name: str = "labels",
    check_values: bool = True,
) -> Optional[bool]:
    """Returns True when every label lies in [0, C) (none ignored), False when some equal
    ``ignore_index``, None when values were not checked."""
    if not isinstance(labels, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of class indices, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(
            f"{name} must hold integer class indices, got dtype {labels.dtype}; "
            "pass labels.long() (one-hot targets: labels.argmax(1))"
        )
    if not check_values:
        return None
    if labels.numel() == 0:
        return True
    lo, hi = (int(v) for v in torch.aminmax(labels))
    if lo >= 0 and hi < num_classes:
        return True
    if ignore_index is not None:
        valid = labels[labels != ignore_index]
        if valid.numel() == 0:
            return False
        lo, hi = (int(v) for v in torch.aminmax(valid))
        if lo >= 0 and hi < num_classes:
            return False
    bad = lo if lo < 0 else hi
    hint = f" other than ignore_index={ignore_index}" if ignore_index is not None else ""
    raise ValueError(
        f"{name} must lie in [0, {num_classes}){hint}, found {bad}; "
        "check num_classes and the label encoding"
    )


def check_logits_labels(
    logits: Tensor,
    labels: Tensor,
    num_classes: Optional[int] = None,
    ignore_index: Optional[int] = None,
    check_values: bool = True,
    logits_name: str = "outputs",
    labels_name: str = "labels",
) -> Optional[bool]:
    """Shape, dtype and (optionally) value checks for a (logits, labels) pair; returns
    :func:`check_labels`'s answer (True: no label is ignored)."""
    check_logits(logits, logits_name, check_values)
    c = logits.shape[1]
    if num_classes is not None and c != num_classes:
        raise ValueError(
            f"{logits_name} has {c} class columns but num_classes={num_classes}; "
            "make the model's last layer output num_classes logits"
        )
    if not isinstance(labels, Tensor):
        raise ValueError(f"{labels_name} must be a torch.Tensor of class indices, got {type(labels).__name__}")
    expected = (logits.shape[0],) + tuple(logits.shape[2:])
    if tuple(labels.shape) != expected:
        raise ValueError(
            f"{labels_name} must have shape {expected} to match {logits_name} {tuple(logits.shape)}, "
            f"got {tuple(labels.shape)}"
        )
    return check_labels(labels, c, ignore_index, labels_name, check_values)
