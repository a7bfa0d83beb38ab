"""Input checks shared by every public entry point: the one validation vocabulary.

Each check raises ``ValueError`` naming the argument, the offending value and the fix, and
returns the normalised value, so constructors read ``self.alpha = check_float(alpha, "alpha",
min=0)``. Scalars may be Python numbers, NumPy scalars or 0-d tensors; ``bool`` is never
accepted where a number is expected.

Checks that need a value from a tensor (finite logits, label range) read it back to the host;
:func:`should_check_values` decides when that is allowed so that per-step paths on an
accelerator stay free of host syncs.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Iterable
from typing import Any, TypeVar

import torch
from torch import Tensor

__all__ = [
    "check_int",
    "check_float",
    "check_probability",
    "check_bool",
    "check_choice",
    "check_bounds",
    "check_num_classes",
    "check_logits",
    "check_labels",
    "check_logits_labels",
    "should_check_values",
]

T = TypeVar("T")


def _hint(hint: str) -> str:
    return f"; {hint}" if hint else ""


def _scalar(value: Any) -> Any:
    """A 0-d tensor or NumPy scalar as a Python number (other values unchanged)."""
    if isinstance(value, Tensor) and value.dim() == 0 and value.device.type != "meta":
        return value.item()
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
        return item()
    return value


def check_int(value: Any, name: str, *, min: int | None = None, max: int | None = None, hint: str = "") -> int:
    """``value`` as an ``int`` within ``[min, max]`` (NumPy and 0-d tensor integers accepted)."""
    v = _scalar(value)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ValueError(f"{name} must be an int{_range(min, max)}, got {value!r}{_hint(hint)}")
    v = int(v)
    if (min is not None and v < min) or (max is not None and v > max):
        raise ValueError(f"{name} must be{_range(min, max)}, got {v}{_hint(hint)}")
    return v


def _range(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f" {'>' if lo_open else '>='} {lo}"
    if lo is None:
        return f" {'<' if hi_open else '<='} {hi}"
    return f" in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"


def check_float(
    value: Any,
    name: str,
    *,
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
    allow_inf: bool = False,
    hint: str = "",
) -> float:
    """``value`` as a finite ``float`` within the range (``min_open``/``max_open``: strict).

    NaN is always rejected; infinities only pass with ``allow_inf=True``.
    """
    v = _scalar(value)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(
            f"{name} must be a real number{_range(min, max, min_open, max_open)}, got {value!r}{_hint(hint)}"
        )
    v = float(v)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be a finite number{_range(min, max, min_open, max_open)}, got {v}{_hint(hint)}")
    bad_lo = min is not None and (v <= min if min_open else v < min)
    bad_hi = max is not None and (v >= max if max_open else v > max)
    if bad_lo or bad_hi:
        raise ValueError(f"{name} must be{_range(min, max, min_open, max_open)}, got {v}{_hint(hint)}")
    return v


def check_probability(value: Any, name: str, *, open: bool = False, hint: str = "") -> float:
    """A probability in ``[0, 1]`` (``open=True``: in ``(0, 1)``)."""
    return check_float(value, name, min=0.0, max=1.0, min_open=open, max_open=open, hint=hint)


def check_bool(value: Any, name: str) -> bool:
    """A ``bool`` (NumPy bools accepted); ints and strings are rejected."""
    v = _scalar(value)
    if not isinstance(v, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return v


def check_choice(value: T, choices: Collection[Any], name: str) -> T:
    """``value`` if it is one of ``choices``."""
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a dict/set of names
        ok = False
    if not ok:
        shown = sorted(choices, key=str) if not isinstance(choices, (list, tuple)) else list(choices)
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")
    return value


def check_bounds(bounds: Any, name: str, *, min: float | None = None) -> tuple[float, float]:
    """A finite pair ``(low, high)`` with ``low <= high`` (and ``low >= min`` when given)."""
    try:
        lo, hi = (_scalar(b) for b in (bounds if isinstance(bounds, Iterable) else ()))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {bounds!r}") from None
    lo = check_float(lo, f"{name}[0]", min=min)
    hi = check_float(hi, f"{name}[1]", min=min)
    if lo > hi:
        raise ValueError(f"{name} must satisfy low <= high, got {bounds!r}")
    return lo, hi


def check_num_classes(num_classes: Any, name: str = "num_classes") -> int:
    """C as an int >= 2 (a classifier needs two classes; one-logit binary models use task='binary')."""
    return check_int(num_classes, name, min=2, hint="a classifier needs at least two classes")


def should_check_values(t: Tensor, validate: bool | None, first_call: bool) -> bool:
    """``validate=None`` (auto): always on CPU, only on the first call on accelerators."""
    if validate is not None:
        return bool(validate)
    return t.is_cpu or first_call


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
    if check_values and not all_finite(logits):
        raise ValueError(f"{name} contains NaN or Inf values; check the model, the learning rate and the inputs")


def all_finite(t: Tensor) -> bool:
    """Whether every value of ``t`` is finite (no NaN, no Inf). One ``aminmax`` reduction: NaN
    propagates to both ends and an Inf is an end, and unlike a sum it cannot overflow."""
    if t.numel() == 0:
        return True
    lo, hi = torch.aminmax(t.detach())
    return math.isfinite(lo.item()) and math.isfinite(hi.item())


def value_range(t: Tensor) -> tuple[Any, Any]:
    """``(min, max)`` of a non-empty tensor as Python numbers: one ``aminmax``, two reads."""
    lo, hi = torch.aminmax(t)
    return lo.item(), hi.item()


def check_labels(
    labels: Tensor,
    num_classes: int,
    ignore_index: int | None = None,
    name: str = "labels",
    check_values: bool = True,
) -> bool | None:
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
    lo, hi = value_range(labels)
    if lo >= 0 and hi < num_classes:
        return True
    if ignore_index is not None:
        valid = labels[labels != ignore_index]
        if valid.numel() == 0:
            return False
        lo, hi = value_range(valid)
        if lo >= 0 and hi < num_classes:
            return False
    bad = lo if lo < 0 else hi
    hint = f" other than ignore_index={ignore_index}" if ignore_index is not None else ""
    raise ValueError(
        f"{name} must lie in [0, {num_classes}){hint}, found {bad}; check num_classes and the label encoding"
    )


def check_logits_labels(
    logits: Tensor,
    labels: Tensor,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    check_values: bool = True,
    logits_name: str = "outputs",
    labels_name: str = "labels",
) -> bool | None:
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
