"""The one ``sampling_strategy`` parser shared by every resampler in :mod:`acwa.sampling`.

It follows imbalanced-learn (``imblearn.utils.check_sampling_strategy``) rule for rule, so the
same strategy gives the same class counts. With n_c the count of class c, n_max / n_min the
majority / minority counts (ties: the smallest label), the result maps each targeted class to

* over-sampling: the number of NEW samples to create, n_target - n_c;
* under-sampling: the number of samples to KEEP.

=====================  ======================================  ==================================
``sampling_strategy``  over-sampling targets                   under-sampling targets
=====================  ======================================  ==================================
``'auto'``             = ``'not majority'``                    = ``'not minority'``
``'minority'``         minority class -> n_max                 (ValueError)
``'majority'``         (ValueError)                            majority class -> n_min
``'not minority'``     all but the minority -> n_max           all but the minority -> n_min
``'not majority'``     all but the majority -> n_max           all but the majority -> n_min
``'all'``              every class -> n_max                    every class -> n_min
float r (binary y)     minority -> int(n_max * r - n_min)      majority -> int(n_min / r)
                       new samples                             kept
dict {c: n}            class c -> n (n >= n_c)                 class c -> n (n <= n_c)
callable f(y)          f(y) returns the dict above (y as a numpy array, as in imbalanced-learn)
=====================  ======================================  ==================================

A strategy that asks an over-sampler to remove samples (dict value below n_c, or a float
ratio giving no new sample) or an under-sampler to add samples raises ``ValueError``.
"""

from __future__ import annotations

from collections import OrderedDict
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = ["SAMPLING_TYPES", "STRATEGY_NAMES", "check_sampling_strategy", "class_counts_dict"]

SAMPLING_TYPES = ("over-sampling", "under-sampling")
STRATEGY_NAMES = ("auto", "minority", "majority", "not minority", "not majority", "all")


def class_counts_dict(y: np.ndarray) -> dict[int, int]:
    """{class: count} for the classes present in ``y``, in increasing class order."""
    classes, counts = np.unique(y, return_counts=True)
    return {int(c): int(n) for c, n in zip(classes, counts)}


def _majority(stats: dict[int, int]) -> int:
    return max(stats, key=lambda c: stats[c])  # first of the tied classes in sorted order, as imblearn


def _minority(stats: dict[int, int]) -> int:
    return min(stats, key=lambda c: stats[c])


def _from_name(name: str, stats: dict[int, int], kind: str) -> dict[int, int]:
    n_max, n_min = max(stats.values()), min(stats.values())
    c_max, c_min = _majority(stats), _minority(stats)
    if name == "auto":
        name = "not majority" if kind == "over-sampling" else "not minority"
    if name == "minority" and kind == "under-sampling":
        raise ValueError(
            "sampling_strategy='minority' cannot be used with an under-sampler (it would remove "
            "samples from the smallest class); use 'majority', 'not minority' or a dict"
        )
    if name == "majority" and kind == "over-sampling":
        raise ValueError(
            "sampling_strategy='majority' cannot be used with an over-sampler (the majority class "
            "cannot grow to its own size); use 'minority', 'not majority' or a dict"
        )
    select = {
        "minority": lambda c: c == c_min,
        "majority": lambda c: c == c_max,
        "not minority": lambda c: c != c_min,
        "not majority": lambda c: c != c_max,
        "all": lambda c: True,
    }[name]
    if kind == "over-sampling":
        return {c: n_max - n for c, n in stats.items() if select(c)}
    return {c: n_min for c in stats if select(c)}


def _from_dict(target: dict[Any, Any], stats: dict[int, int], kind: str) -> dict[int, int]:
    if not isinstance(target, dict):
        raise ValueError(
            f"a callable sampling_strategy must return a dict {{class: n_samples}}, got {type(target).__name__}"
        )
    out: dict[int, int] = {}
    for key, value in target.items():
        c = int(key.item() if hasattr(key, "item") else key)
        n = value.item() if hasattr(value, "item") else value
        if isinstance(n, bool) or not isinstance(n, Integral):
            raise ValueError(f"sampling_strategy[{c}] must be an int number of samples, got {value!r}")
        n = int(n)
        if c not in stats:
            raise ValueError(f"sampling_strategy names class {c}, which is not present in y (classes: {sorted(stats)})")
        if n < 0:
            raise ValueError(f"sampling_strategy[{c}] = {n}: the number of samples of a class cannot be negative")
        if kind == "over-sampling":
            if n < stats[c]:
                raise ValueError(
                    f"sampling_strategy asks an over-sampler to remove samples: class {c} has {stats[c]} "
                    f"samples and {n} are asked; ask for n >= {stats[c]}, or use RandomUnderSampler "
                    "to reduce a class"
                )
            out[c] = n - stats[c]
        else:
            if n > stats[c]:
                raise ValueError(
                    f"sampling_strategy asks an under-sampler to add samples: class {c} has {stats[c]} "
                    f"samples and {n} are asked; ask for n <= {stats[c]}, or use an over-sampler"
                )
            out[c] = n
    return out


def _from_float(ratio: float, stats: dict[int, int], kind: str) -> dict[int, int]:
    if len(stats) != 2:
        raise ValueError(
            f"a float sampling_strategy is only defined for binary targets (y has {len(stats)} classes); "
            "for multi-class problems pass a dict {class: n_samples}"
        )
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"a float sampling_strategy must lie in (0, 1], got {ratio}")
    n_max, n_min = max(stats.values()), min(stats.values())
    if kind == "over-sampling":
        c_max = _majority(stats)
        out = {c: int(n_max * ratio - n) for c, n in stats.items() if c != c_max}
        if any(v <= 0 for v in out.values()):
            raise ValueError(
                f"sampling_strategy={ratio} asks an over-sampler to remove samples (minority target "
                f"int({n_max} * {ratio}) <= its {n_min} samples); increase the ratio above {n_min / n_max:.4g}"
            )
        return out
    c_min = _minority(stats)
    out = {c: int(n_min / ratio) for c in stats if c != c_min}
    if any(v > stats[c] for c, v in out.items()):
        raise ValueError(
            f"sampling_strategy={ratio} asks an under-sampler to add samples to the majority class "
            f"(int({n_min} / {ratio}) > {n_max}); increase the ratio to at least {n_min / n_max:.4g}"
        )
    return out


def check_sampling_strategy(sampling_strategy: Any, y: np.ndarray, sampling_type: str) -> OrderedDict[int, int]:
    """Turn ``sampling_strategy`` into ``OrderedDict{class: n}`` sorted by class (see module doc).

    ``y`` is a 1-D numpy array of non-negative integer labels with at least two classes.
    """
    if sampling_type not in SAMPLING_TYPES:
        raise ValueError(f"sampling_type must be one of {list(SAMPLING_TYPES)}, got {sampling_type!r}")
    stats = class_counts_dict(y)
    if len(stats) < 2:
        raise ValueError(
            f"y needs at least 2 classes to resample, got {len(stats)} ({sorted(stats)}); "
            "check that the labels were not filtered to a single class"
        )
    if isinstance(sampling_strategy, str):
        if sampling_strategy not in STRATEGY_NAMES:
            raise ValueError(
                f"sampling_strategy must be one of {list(STRATEGY_NAMES)}, a float, a dict or a callable, "
                f"got {sampling_strategy!r}"
            )
        out = _from_name(sampling_strategy, stats, sampling_type)
    elif isinstance(sampling_strategy, dict):
        out = _from_dict(sampling_strategy, stats, sampling_type)
    elif isinstance(sampling_strategy, Real) and not isinstance(sampling_strategy, bool):
        out = _from_float(float(sampling_strategy), stats, sampling_type)
    elif callable(sampling_strategy):
        out = _from_dict(sampling_strategy(y), stats, sampling_type)
    else:
        raise ValueError(
            "sampling_strategy must be a str, a float, a dict {class: n_samples} or a callable y -> dict, "
            f"got {type(sampling_strategy).__name__}"
        )
    return OrderedDict(sorted(out.items()))
