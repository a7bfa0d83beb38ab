"""``make_loss``: build any loss of :mod:`acwa.losses` by name (timm-style), validating the
name, the options and their combinations in one place before anything is built.

Softmax family (:data:`LOSS_NAMES`; logits ``[N, C, ...]``, class indices or soft rows):

=====================  ==================================  =================  ==========================
name (aliases)         class                               needs counts       options (besides reduction,
                                                                              ignore_index, weight)
=====================  ==================================  =================  ==========================
``ce`` (weighted_ce,   ``WeightedCrossEntropyLoss``        no                 label_smoothing
cross_entropy)
``focal``              ``FocalLoss``                       no                 gamma, alpha
``class_balanced``     ``ClassBalancedLoss``               yes                beta, base, gamma
(cb)
``ldam``               ``LDAMLoss``                        yes                max_margin, scale, label_smoothing
``logit_adjusted``     ``LogitAdjustedLoss``               yes                tau, label_smoothing
(la, logit_adjustment)
``balanced_softmax``   ``BalancedSoftmaxLoss``             yes                label_smoothing
(bs)
``vs``                 ``VSLoss``                          yes                gamma, tau, label_smoothing
``parametric``         ``ParametricCrossEntropyLoss``      no (gives C)       num_classes, delta, iota,
(autobalance)                                                                 la_tau, num_groups, ...
=====================  ==================================  =================  ==========================

Sigmoid family (:data:`SIGMOID_LOSS_NAMES`; one-logit binary ``[N]``/``[N, 1]`` or multi-label
``[N, L]``; counts are ``[n_neg, n_pos]``, shape ``[2]`` or ``[2, L]``, from
:func:`acwa.weights.positive_counts`):

=========================  ==============================  ============  ==========================
name (aliases)             class                           needs counts  options
=========================  ==============================  ============  ==========================
``bce`` (weighted_bce,     ``BinaryCrossEntropyLoss``      no            pos_weight
binary_cross_entropy)
``sigmoid_focal``          ``SigmoidFocalLoss``            no            alpha, gamma
``binary_logit_adjusted``  ``BinaryLogitAdjustedLoss``     yes           tau
(binary_la)
``asl`` (asymmetric)       ``AsymmetricLoss``              no            gamma_pos, gamma_neg, clip
``distribution_balanced``  ``DistributionBalancedLoss``    yes           neg_scale, init_bias, map_*,
(db)                                                                     gamma, balance
=========================  ==============================  ============  ==========================

``class_counts`` may be passed to every name of a family, so one loop over names works; losses
that do not use counts ignore them unless ``weighting`` is given. ``weighting`` computes static
weights from the counts: for the softmax family ``'inverse'``, ``'sqrt_inverse'``,
``'effective_number'`` or ``'median_frequency'`` (:func:`acwa.weights.class_weights`, normalised
to sum C, as ``weight``); for ``'bce'`` ``'pos_weight'`` (``n_neg / n_pos`` per label,
:func:`acwa.weights.pos_weight`). An unknown name, an option the loss does not take, or an
incompatible combination raises ``ValueError`` listing the valid choices.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from acwa.losses.base import init_options
from acwa.losses.binary import BinaryCrossEntropyLoss, BinaryLogitAdjustedLoss, SigmoidFocalLoss
from acwa.losses.class_balanced import ClassBalancedLoss
from acwa.losses.cross_entropy import WeightedCrossEntropyLoss
from acwa.losses.focal import FocalLoss
from acwa.losses.ldam import LDAMLoss
from acwa.losses.logit_adjusted import BalancedSoftmaxLoss, LogitAdjustedLoss
from acwa.losses.multilabel import AsymmetricLoss, DistributionBalancedLoss
from acwa.losses.parametric import ParametricCrossEntropyLoss
from acwa.losses.reducers import check_reduction
from acwa.losses.sigmoid import neg_pos_counts
from acwa.losses.vs import VSLoss
from acwa.weights._class_weights import WEIGHTINGS, check_counts, class_weights, pos_weight

__all__ = ["LOSS_NAMES", "SIGMOID_LOSS_NAMES", "LOSS_ALIASES", "make_loss"]

# canonical name -> (class, needs class_counts); the sigmoid family comes after "bce"
_REGISTRY: dict[str, tuple[type[nn.Module], bool]] = {
    "ce": (WeightedCrossEntropyLoss, False),
    "focal": (FocalLoss, False),
    "class_balanced": (ClassBalancedLoss, True),
    "ldam": (LDAMLoss, True),
    "logit_adjusted": (LogitAdjustedLoss, True),
    "balanced_softmax": (BalancedSoftmaxLoss, True),
    "vs": (VSLoss, True),
    "parametric": (ParametricCrossEntropyLoss, False),
    "bce": (BinaryCrossEntropyLoss, False),
    "sigmoid_focal": (SigmoidFocalLoss, False),
    "binary_logit_adjusted": (BinaryLogitAdjustedLoss, True),
    "asl": (AsymmetricLoss, False),
    "distribution_balanced": (DistributionBalancedLoss, True),
}
_NAMES = tuple(_REGISTRY)
LOSS_NAMES = _NAMES[: _NAMES.index("bce")]
SIGMOID_LOSS_NAMES = _NAMES[_NAMES.index("bce") :]
LOSS_ALIASES = {
    "weighted_ce": "ce",
    "cross_entropy": "ce",
    "cb": "class_balanced",
    "la": "logit_adjusted",
    "logit_adjustment": "logit_adjusted",
    "bs": "balanced_softmax",
    "autobalance": "parametric",
    "weighted_bce": "bce",
    "binary_cross_entropy": "bce",
    "binary_la": "binary_logit_adjusted",
    "asymmetric": "asl",
    "db": "distribution_balanced",
}


def _resolve(name: str) -> str:
    if not isinstance(name, str):
        raise ValueError(f"name must be a string, one of {list(_REGISTRY)}, got {name!r}")
    key = name.strip().lower().replace("-", "_")
    key = LOSS_ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(
            f"unknown loss name {name!r}; valid names: {list(LOSS_NAMES)}, binary/multi-label: "
            f"{list(SIGMOID_LOSS_NAMES)} (aliases: {sorted(LOSS_ALIASES)})"
        )
    return key


def _weightings(key: str) -> tuple:
    if key == "parametric":
        return ()
    return ("pos_weight",) if key == "bce" else () if key in SIGMOID_LOSS_NAMES else WEIGHTINGS


def _check_options(key: str, options: dict, weighting: str | None) -> None:
    valid = [p for p in init_options(_REGISTRY[key][0]) if p != "class_counts"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        extra = ["weighting"] if _weightings(key) else []
        raise ValueError(f"loss {key!r} does not take option(s) {unknown}; valid options: {sorted(valid + extra)}")
    if "reduction" in options:
        check_reduction(options["reduction"])
    if weighting is not None and weighting not in _weightings(key):
        if key == "parametric":
            raise ValueError(
                "weighting does not apply to 'parametric'; pass weight=... (its initial per-class weights)"
            )
        raise ValueError(f"weighting must be one of {list(_weightings(key))} for loss {key!r}, got {weighting!r}")
    if key == "class_balanced" and "gamma" in options and options.get("base", "ce") != "focal":
        raise ValueError(
            f"gamma applies to the class-balanced loss only with base='focal', got base={options.get('base', 'ce')!r}; "
            "valid bases: ['ce', 'focal', 'sigmoid']"
        )


def _counts(key: str, class_counts: Any) -> Any:
    """Validated counts (float64 ``[C]`` for the softmax family, ``[2, L]`` for the sigmoid one)."""
    if class_counts is None:
        if _REGISTRY[key][1]:
            example = (
                "positive_counts(train_labels)"
                if key in SIGMOID_LOSS_NAMES
                else "class_counts(train_labels, num_classes)"
            )
            raise ValueError(
                f"loss {key!r} needs class_counts (training-set counts), e.g. "
                f"make_loss({key!r}, class_counts=acwa.weights.{example})"
            )
        return None
    if key in SIGMOID_LOSS_NAMES:
        neg_pos_counts(class_counts)
        return class_counts
    return check_counts(class_counts)


def _weighted(key: str, options: dict, counts: Any, weighting: str | None) -> dict:
    if weighting is None:
        return options
    if counts is None:
        raise ValueError(f"weighting={weighting!r} computes weights from class_counts; pass class_counts=...")
    target = "pos_weight" if key == "bce" else "weight"
    if options.get(target) is not None:
        raise ValueError(f"pass either {target}=... or weighting=..., not both")
    value = pos_weight(counts) if key == "bce" else class_weights(counts, weighting)
    return {**options, target: value}


def _parametric(options: dict, counts: Any) -> dict:
    c = options.get("num_classes")
    if counts is not None:
        if c is not None and c != counts.numel():
            raise ValueError(f"num_classes={c} but class_counts has {counts.numel()} entries; give one count per class")
        options = {**options, "num_classes": counts.numel()}
        if options.get("la_tau") is not None:
            options["class_counts"] = counts
    elif c is None:
        raise ValueError("loss 'parametric' needs num_classes=C (or class_counts, which gives C)")
    elif options.get("la_tau") is not None:
        raise ValueError("la_tau (logit-adjustment init) needs class_counts=...")
    return options


def make_loss(name: str, class_counts=None, **options: Any) -> nn.Module:
    """Build the loss called ``name`` (tables in the module docstring).

    Args:
        name: a loss name or alias (case-insensitive, ``-`` or ``_``).
        class_counts: training-set counts: per class ``[C]`` (:func:`acwa.weights.class_counts`)
            for the softmax family, ``[n_neg, n_pos]`` (``[2]`` or ``[2, L]``,
            :func:`acwa.weights.positive_counts`) for the sigmoid family; required by
            count-based losses.
        **options: constructor keywords of that loss, plus ``weighting`` (static weights from
            the counts; not together with ``weight`` / ``pos_weight``).

    Returns an ``nn.Module`` whose ``reduction`` defaults to ``'mean'`` (divide by the number
    of counted elements), as every loss in :mod:`acwa.losses`.

    Example::

        loss_fn = make_loss("vs", class_counts=[500, 50, 5], gamma=0.2)
        loss_fn = make_loss("ce", class_counts=counts, weighting="effective_number")
        loss_fn = make_loss("bce", class_counts=[950, 50], weighting="pos_weight")  # pos_weight 19
    """
    key = _resolve(name)
    weighting = options.pop("weighting", None)
    _check_options(key, options, weighting)
    counts = _counts(key, class_counts)
    options = _weighted(key, options, counts, weighting)
    cls, needs_counts = _REGISTRY[key]
    if key == "parametric":
        return cls(**_parametric(options, counts))
    if not needs_counts:
        return cls(**options)
    if key in LOSS_NAMES and options.get("weight") is not None:
        check_counts(counts, len(options["weight"]), "class_counts")
    return cls(counts, **options)
