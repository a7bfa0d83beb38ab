"""``make_loss``: build any loss of :mod:`acwa.losses` by name, validating the options in one
place before anything is built.

=====================  ==================================  =================  ==========================
name (aliases)         class                               needs counts       options (besides reduction,
                                                                              ignore_index, weight)
=====================  ==================================  =================  ==========================
``ce`` (weighted_ce,   ``WeightedCrossEntropyLoss``        no                 --
cross_entropy)
``focal``              ``FocalLoss``                       no                 gamma, alpha
``class_balanced``     ``ClassBalancedLoss``               yes                beta, base, gamma
(cb)
``ldam``               ``LDAMLoss``                        yes                max_margin, scale
``logit_adjusted``     ``LogitAdjustedLoss``               yes                tau
(la, logit_adjustment)
``balanced_softmax``   ``BalancedSoftmaxLoss``             yes                --
(bs)
``vs``                 ``VSLoss``                          yes                gamma, tau
``parametric``         ``ParametricCrossEntropyLoss``      no (gives C)       num_classes, delta, iota,
(autobalance)                                                                 la_tau, num_groups, ...
=====================  ==================================  =================  ==========================

``class_counts`` may be passed to every name, so one loop over names works; losses that do not
use counts ignore them unless ``weighting`` is given. ``weighting`` (any loss with a per-class
``weight``) computes static weights from the counts: ``'inverse'``, ``'sqrt_inverse'``,
``'effective_number'`` or ``'median_frequency'`` (:func:`acwa.weights.class_weights`,
normalised to sum C). An unknown name, an option the loss does not take, or an incompatible
combination raises ``ValueError`` listing the valid choices.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..weights import WEIGHTINGS, check_counts, class_weights
from .base import init_options
from .class_balanced import ClassBalancedLoss
from .cross_entropy import WeightedCrossEntropyLoss
from .focal import FocalLoss
from .ldam import LDAMLoss
from .logit_adjusted import BalancedSoftmaxLoss, LogitAdjustedLoss
from .parametric import ParametricCrossEntropyLoss
from .reducers import check_reduction
from .vs import VSLoss

__all__ = ["LOSS_NAMES", "LOSS_ALIASES", "make_loss"]

# canonical name -> (class, needs class_counts)
_REGISTRY: dict[str, tuple] = {
    "ce": (WeightedCrossEntropyLoss, False),
    "focal": (FocalLoss, False),
    "class_balanced": (ClassBalancedLoss, True),
    "ldam": (LDAMLoss, True),
    "logit_adjusted": (LogitAdjustedLoss, True),
    "balanced_softmax": (BalancedSoftmaxLoss, True),
    "vs": (VSLoss, True),
    "parametric": (ParametricCrossEntropyLoss, False),
}
LOSS_NAMES = tuple(_REGISTRY)
LOSS_ALIASES = {
    "weighted_ce": "ce",
    "cross_entropy": "ce",
    "cb": "class_balanced",
    "la": "logit_adjusted",
    "logit_adjustment": "logit_adjusted",
    "bs": "balanced_softmax",
    "autobalance": "parametric",
}


def _options_of(cls) -> list:
    return [p for p in init_options(cls) if p != "class_counts"]


def make_loss(name: str, class_counts=None, **options: Any) -> nn.Module:
    """Build the loss called ``name`` (table in the module docstring).

    Args:
        name: a loss name or alias (case-insensitive).
        class_counts: training-set samples per class ``[C]`` (from
            :func:`acwa.weights.class_counts`); required by count-based losses.
        **options: constructor keywords of that loss, plus ``weighting`` (static weights from
            the counts; not together with ``weight``).

    Returns an ``nn.Module`` whose ``reduction`` defaults to ``'mean'`` (divide by the number
    of counted samples), as every loss in :mod:`acwa.losses`.

    Example::

        loss_fn = make_loss("vs", class_counts=[500, 50, 5], gamma=0.2)
        loss_fn = make_loss("ce", class_counts=counts, weighting="effective_number")
    """
    if not isinstance(name, str):
        raise ValueError(f"name must be a string, one of {list(LOSS_NAMES)}, got {name!r}")
    key = name.strip().lower().replace("-", "_")
    key = LOSS_ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(
            f"unknown loss name {name!r}; valid names: {list(LOSS_NAMES)} (aliases: {sorted(LOSS_ALIASES)})"
        )
    cls, needs_counts = _REGISTRY[key]
    valid = _options_of(cls)
    weighting = options.pop("weighting", None)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        extra = ["weighting"] if "weight" in valid and key != "parametric" else []
        raise ValueError(f"loss {key!r} does not take option(s) {unknown}; valid options: {sorted(valid + extra)}")
    if "reduction" in options:
        check_reduction(options["reduction"])

    counts = None
    if class_counts is not None:
        counts = check_counts(class_counts)
    elif needs_counts:
        raise ValueError(
            f"loss {key!r} needs class_counts (training-set samples per class), e.g. "
            f"make_loss({key!r}, class_counts=acwa.weights.class_counts(train_labels, num_classes))"
        )

    if weighting is not None:
        if key == "parametric":
            raise ValueError(
                "weighting does not apply to 'parametric'; pass weight=... (its initial per-class weights)"
            )
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {list(WEIGHTINGS)}, got {weighting!r}")
        if counts is None:
            raise ValueError(f"weighting={weighting!r} computes weights from class_counts; pass class_counts=...")
        if options.get("weight") is not None:
            raise ValueError("pass either weight=... or weighting=..., not both")
        options["weight"] = class_weights(counts, weighting)

    if key == "class_balanced":
        base = options.get("base", "ce")
        if "gamma" in options and base != "focal":
            raise ValueError(
                f"gamma applies to the class-balanced loss only with base='focal', got base={base!r}; "
                "valid bases: ['ce', 'focal', 'sigmoid']"
            )

    if key == "parametric":
        c = options.get("num_classes")
        if counts is not None:
            if c is not None and c != counts.numel():
                raise ValueError(
                    f"num_classes={c} but class_counts has {counts.numel()} entries; give one count per class"
                )
            options["num_classes"] = counts.numel()
            if options.get("la_tau") is not None:
                options["class_counts"] = counts
        elif c is None:
            raise ValueError("loss 'parametric' needs num_classes=C (or class_counts, which gives C)")
        elif options.get("la_tau") is not None:
            raise ValueError("la_tau (logit-adjustment init) needs class_counts=...")
        return cls(**options)

    if needs_counts:
        assert counts is not None  # checked above
        if options.get("weight") is not None:
            check_counts(counts, len(options["weight"]), "class_counts")
        return cls(counts, **options)
    return cls(**options)
