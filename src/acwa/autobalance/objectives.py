"""Upper-level (validation) objectives for AutoBalance (Li et al. 2021, arXiv 2201.01212, sec. 3).

Each objective is a differentiable surrogate, evaluated on validation logits with plain
(unadjusted) cross-entropy ``l_i = -log softmax(f(x_i))_{y_i}``; the model in eval mode.

* ``standard``:     mean_i l_i                                       (surrogate of the error)
* ``balanced``:     (1/C) sum_c mean_{i: y_i=c} l_i  = sum_i l_i / (C n_{y_i})
                    (class-reweighted CE; surrogate of the balanced error). With
                    ``class_counts`` (the whole validation split) the weights are fixed, so a
                    sub-batch gives an unbiased estimate.
* ``worst_class``:  t * log( mean_c exp(L_c / t) ),  L_c = mean_{y_i=c} l_i: a smoothed maximum
                    over classes, between the mean (t -> inf) and the worst class (t -> 0).
* ``deo``:          equal-opportunity difference between groups (Hardt et al. 2016): for each
                    positive class c, max_g L_{g,c} - min_g L_{g,c} with L_{g,c} the mean loss
                    of class-c samples in group g (a surrogate of the TPR gap); averaged over
                    the positive classes (default: class 1 for binary problems, else all).
* ``worst_group``:  smoothed maximum over groups of the group mean loss.
* blends:           ``(1 - lam) * L1 + lam * L2`` (:func:`blend`), e.g. ``balanced`` + ``deo``.

Classes (groups) absent from the validation batch are left out of the per-class terms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor

from acwa._internal.validation import check_float

__all__ = [
    "OBJECTIVES",
    "standard_objective",
    "balanced_objective",
    "worst_class_objective",
    "deo_objective",
    "worst_group_objective",
    "blend",
    "make_objective",
]

OBJECTIVES = ("standard", "balanced", "worst_class", "deo", "worst_group")
Objective = Callable[..., Tensor]


def _cell_means(values: Tensor, cell: Tensor, num_cells: int) -> tuple:
    """Per-cell means of ``values`` and a mask of cells present (O(num_cells), no host sync)."""
    sums = torch.zeros(num_cells, dtype=values.dtype, device=values.device).index_add_(0, cell, values)
    counts = torch.zeros(num_cells, dtype=values.dtype, device=values.device).index_add_(
        0, cell, torch.ones_like(values)
    )
    present = counts > 0
    return sums / counts.clamp_min(1), present


def _smooth_max(means: Tensor, present: Tensor, temperature: float) -> Tensor:
    """``t * log(mean over present cells of exp(x / t))`` (log-mean-exp)."""
    scaled = torch.where(present, means / temperature, torch.full_like(means, -math.inf))
    k = present.sum().clamp_min(1).to(means.dtype)
    return temperature * (torch.logsumexp(scaled, dim=0) - torch.log(k))


def standard_objective(logits: Tensor, target: Tensor, group: Tensor | None = None) -> Tensor:
    """Mean validation CE (surrogate of the standard error)."""
    return F.cross_entropy(logits, target)


def balanced_objective(
    logits: Tensor, target: Tensor, group: Tensor | None = None, class_counts: Tensor | None = None
) -> Tensor:
    """Class-balanced validation CE: ``sum_i l_i / (C n_{y_i})`` (mean of per-class mean losses)."""
    C = logits.shape[1]
    losses = F.cross_entropy(logits, target, reduction="none")
    if class_counts is not None:
        n = class_counts.to(device=losses.device, dtype=losses.dtype)
        w = (n.sum() / (C * n.clamp_min(1)))[target]
        return (losses * w).sum() / target.numel()
    means, present = _cell_means(losses, target, C)
    return (means * present).sum() / present.sum().clamp_min(1)


def worst_class_objective(
    logits: Tensor, target: Tensor, group: Tensor | None = None, temperature: float = 0.1
) -> Tensor:
    """Smoothed worst-class CE, ``t * log mean_c exp(L_c / t)`` over classes present."""
    means, present = _cell_means(F.cross_entropy(logits, target, reduction="none"), target, logits.shape[1])
    return _smooth_max(means, present, temperature)


def _need_group(group: Tensor | None, name: str) -> Tensor:
    if group is None:
        raise ValueError(f"the {name!r} objective needs group labels: pass val_groups / group=...")
    return group


def deo_objective(
    logits: Tensor,
    target: Tensor,
    group: Tensor | None = None,
    num_groups: int = 2,
    positive_classes: Sequence[int] | None = None,
) -> Tensor:
    """Equal-opportunity difference surrogate: mean over positive classes c of
    ``max_g L_{g,c} - min_g L_{g,c}`` (groups present in the batch only)."""
    group = _need_group(group, "deo")
    C = logits.shape[1]
    losses = F.cross_entropy(logits, target, reduction="none")
    means, present = _cell_means(losses, group * C + target, num_groups * C)
    means, present = means.view(num_groups, C), present.view(num_groups, C)
    hi = torch.where(present, means, torch.full_like(means, -math.inf)).amax(0)
    lo = torch.where(present, means, torch.full_like(means, math.inf)).amin(0)
    gap = torch.where(present.sum(0) >= 2, hi - lo, torch.zeros_like(hi))
    if positive_classes is None:
        positive_classes = [1] if C == 2 else list(range(C))
    idx = torch.as_tensor(list(positive_classes), device=gap.device, dtype=torch.long)
    return gap[idx].mean()


def worst_group_objective(
    logits: Tensor, target: Tensor, group: Tensor | None = None, num_groups: int = 2, temperature: float = 0.1
) -> Tensor:
    """Smoothed worst-group CE, ``t * log mean_g exp(L_g / t)`` over groups present."""
    group = _need_group(group, "worst_group")
    means, present = _cell_means(F.cross_entropy(logits, target, reduction="none"), group, num_groups)
    return _smooth_max(means, present, temperature)


def blend(first: Objective, second: Objective, lam: float) -> Objective:
    """``(1 - lam) * first + lam * second`` (lam in [0, 1])."""
    lam = check_float(lam, "blend weight lam")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"blend weight lam must lie in [0, 1], got {lam}")

    def objective(logits: Tensor, target: Tensor, group: Tensor | None = None) -> Tensor:
        return (1.0 - lam) * first(logits, target, group) + lam * second(logits, target, group)

    objective.__name__ = f"blend({getattr(first, '__name__', 'L1')}, {getattr(second, '__name__', 'L2')}, {lam})"
    return objective


ObjectiveSpec = Union[str, Objective, tuple]  # noqa: UP007 (a runtime alias)


def make_objective(
    spec: ObjectiveSpec,
    num_classes: int,
    class_counts: Tensor | None = None,
    num_groups: int | None = None,
    temperature: float = 0.1,
    positive_classes: Sequence[int] | None = None,
) -> Objective:
    """Build ``objective(logits, target, group=None) -> scalar`` from a spec.

    ``spec`` is a name in :data:`OBJECTIVES`, a callable, or a blend tuple
    ``(spec1, spec2, lam)`` meaning ``(1 - lam) * L1 + lam * L2``.
    """
    if callable(spec):
        return spec
    if isinstance(spec, tuple):
        if len(spec) != 3:
            raise ValueError(f"a blended objective is (spec1, spec2, lam), got {spec!r}")
        a, b, lam = spec

        def part(s: ObjectiveSpec) -> Objective:
            return make_objective(s, num_classes, class_counts, num_groups, temperature, positive_classes)

        return blend(part(a), part(b), float(lam))
    if spec not in OBJECTIVES:
        raise ValueError(
            f"objective must be one of {list(OBJECTIVES)}, a callable or a (spec1, spec2, lam) blend, got {spec!r}"
        )
    if spec in ("deo", "worst_group") and not num_groups:
        raise ValueError(f"the {spec!r} objective needs groups: pass num_groups and group labels")
    groups = int(num_groups or 0)
    if spec == "standard":
        return standard_objective
    if spec == "balanced":
        counts = None if class_counts is None else torch.as_tensor(class_counts).detach().clone()

        def balanced(logits: Tensor, target: Tensor, group: Tensor | None = None) -> Tensor:
            return balanced_objective(logits, target, group, counts)

        return balanced
    if spec == "worst_class":

        def worst_class(logits: Tensor, target: Tensor, group: Tensor | None = None) -> Tensor:
            return worst_class_objective(logits, target, group, temperature)

        return worst_class
    if spec == "deo":

        def deo(logits: Tensor, target: Tensor, group: Tensor | None = None) -> Tensor:
            return deo_objective(logits, target, group, groups, positive_classes)

        return deo

    def worst_group(logits: Tensor, target: Tensor, group: Tensor | None = None) -> Tensor:
        return worst_group_objective(logits, target, group, groups, temperature)

    return worst_group
