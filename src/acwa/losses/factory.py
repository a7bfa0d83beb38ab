"""``make_loss``: build any loss of :mod:`acwa.losses` by name (timm-style), validating the
name, the options and their combinations in one place before anything is built.

Softmax family (:data:`LOSS_NAMES`; logits ``[N, C, ...]``, class indices or soft rows):

=====================  ==================================  =================  ==========================
name (aliases)         class                               needs counts       options (besides reduction,
                                                                              ignore_index, weight)
=====================  ==================================  =================  ==========================
``ce`` (weighted_ce,   ``WeightedCrossEntropyLoss``        no                 label_smoothing
cross_entropy)
``focal``              ``FocalLoss``                       no                 gamma
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
:func:`acwa.weights.label_neg_pos_counts`):

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

Losses live in one registry: :func:`register_loss` adds one (its class, family, aliases, whether
it needs counts, which static weightings apply, and a check of its own option combinations);
:func:`list_losses` lists them. ``class_counts`` may be passed to every name of a family, so one
loop over names works; losses that do not use counts ignore them unless ``weighting`` is given.
``weighting`` computes static weights from the counts: for the softmax family ``'inverse'``, ``'sqrt_inverse'``,
``'effective_number'`` or ``'median_frequency'`` (:func:`acwa.weights.class_weights`, normalised
to sum C, as ``weight``); for ``'bce'`` ``'pos_weight'`` (``n_neg / n_pos`` per label,
:func:`acwa.weights.pos_weight`). An unknown name, an option the loss does not take, or an
incompatible combination raises ``ValueError`` listing the valid choices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from acwa._internal.validation import check_choice
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
from acwa.weights import WEIGHTINGS, check_counts, class_weights, pos_weight

__all__ = ["LossSpec", "register_loss", "list_losses", "make_loss", "LOSS_NAMES", "SIGMOID_LOSS_NAMES"]

FAMILIES = ("softmax", "sigmoid")
OptionCheck = Callable[[Mapping[str, Any]], None]
Builder = Callable[[type, Any, dict], nn.Module]


@dataclass(frozen=True)
class LossSpec:
    """One registered loss: ``build(cls, counts, options)`` makes it (default: ``cls(counts, **options)``
    when it needs counts, else ``cls(**options)``); ``check_options`` raises ``ValueError`` for an
    invalid combination of its options."""

    name: str
    cls: type
    family: str
    needs_counts: bool = False
    aliases: tuple[str, ...] = ()
    weightings: tuple[str, ...] = ()
    check_options: OptionCheck | None = None
    build: Builder | None = None


_LOSSES: dict[str, LossSpec] = {}
_ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register_loss(
    name: str,
    cls: type,
    *,
    family: str = "softmax",
    needs_counts: bool = False,
    aliases: tuple[str, ...] = (),
    weightings: tuple[str, ...] | None = None,
    check_options: OptionCheck | None = None,
    build: Builder | None = None,
) -> LossSpec:
    """Add a loss to :func:`make_loss` and :func:`list_losses`. ``weightings``: the static
    weightings ``make_loss(..., weighting=...)`` accepts for it (default: the class weightings of
    :func:`acwa.weights.class_weights` for the softmax family, none for the sigmoid one)."""
    family = check_choice(family, FAMILIES, "family")
    key = _key(name)
    if key in _LOSSES or key in _ALIASES:
        raise ValueError(f"a loss named {name!r} is registered already; pick another name")
    if weightings is None:
        weightings = WEIGHTINGS if family == "softmax" else ()
    spec = LossSpec(key, cls, family, needs_counts, tuple(_key(a) for a in aliases), weightings, check_options, build)
    _LOSSES[key] = spec
    _ALIASES.update({a: key for a in spec.aliases})
    return spec


def list_losses(family: str | None = None) -> list[str]:
    """Registered loss names (in registration order), optionally of one family ('softmax', 'sigmoid')."""
    if family is not None:
        check_choice(family, FAMILIES, "family")
    return [n for n, s in _LOSSES.items() if family is None or s.family == family]


def _resolve(name: str) -> LossSpec:
    if not isinstance(name, str):
        raise ValueError(f"name must be a string, one of {list_losses()}, got {name!r}")
    key = _ALIASES.get(_key(name), _key(name))
    if key not in _LOSSES:
        raise ValueError(
            f"unknown loss name {name!r}; valid names: {list_losses('softmax')}, binary/multi-label: "
            f"{list_losses('sigmoid')} (aliases: {sorted(_ALIASES)})"
        )
    return _LOSSES[key]


def _check(spec: LossSpec, options: dict, weighting: str | None) -> None:
    valid = [p for p in init_options(spec.cls) if p != "class_counts"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        extra = ["weighting"] if spec.weightings else []
        raise ValueError(
            f"loss {spec.name!r} does not take option(s) {unknown}; valid options: {sorted(valid + extra)}"
        )
    if "reduction" in options:
        check_reduction(options["reduction"])
    if weighting is not None and weighting not in spec.weightings:
        raise ValueError(
            f"weighting must be one of {list(spec.weightings)} for loss {spec.name!r}, got {weighting!r}"
            + ("; pass weight=... (its initial per-class weights)" if not spec.weightings else "")
        )
    if spec.check_options is not None:
        spec.check_options(options)


def _counts(spec: LossSpec, class_counts: Any, weighting: str | None) -> Any:
    """Validated counts: float64 ``[C]`` (softmax family), ``[2]``/``[2, L]`` negatives and
    positives (sigmoid family; only checked when the loss or the weighting uses them)."""
    if class_counts is None:
        if spec.needs_counts:
            example = (
                "label_neg_pos_counts(train_labels)" if spec.family == "sigmoid" else "class_counts(train_labels, C)"
            )
            raise ValueError(
                f"loss {spec.name!r} needs class_counts (training-set counts), e.g. "
                f"make_loss({spec.name!r}, class_counts=acwa.weights.{example})"
            )
        return None
    if spec.family == "sigmoid":
        if spec.needs_counts or weighting is not None:
            neg_pos_counts(class_counts)
        return class_counts
    return check_counts(class_counts)


def _weighted(spec: LossSpec, options: dict, counts: Any, weighting: str | None) -> dict:
    if weighting is None:
        return options
    if counts is None:
        raise ValueError(f"weighting={weighting!r} computes weights from class_counts; pass class_counts=...")
    target = "pos_weight" if weighting == "pos_weight" else "weight"
    if options.get(target) is not None:
        raise ValueError(f"pass either {target}=... or weighting=..., not both")
    value = pos_weight(counts) if weighting == "pos_weight" else class_weights(counts, weighting)
    return {**options, target: value}


def make_loss(name: str, class_counts: Any = None, **options: Any) -> nn.Module:
    """Build the loss called ``name`` (tables in the module docstring).

    Args:
        name: a loss name or alias (case-insensitive, ``-`` or ``_``); see :func:`list_losses`.
        class_counts: training-set counts: per class ``[C]`` (:func:`acwa.weights.class_counts`)
            for the softmax family, ``[n_neg, n_pos]`` (``[2]`` or ``[2, L]``,
            :func:`acwa.weights.label_neg_pos_counts`) for the sigmoid family; required by
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
    spec = _resolve(name)
    weighting = options.pop("weighting", None)
    _check(spec, options, weighting)
    counts = _counts(spec, class_counts, weighting)
    options = _weighted(spec, options, counts, weighting)
    if spec.build is not None:
        return spec.build(spec.cls, counts, options)
    if not spec.needs_counts:
        return spec.cls(**options)
    if spec.family == "softmax" and options.get("weight") is not None:
        check_counts(counts, len(options["weight"]), "class_counts")
    return spec.cls(counts, **options)


def _check_class_balanced(options: Mapping[str, Any]) -> None:
    if "gamma" in options and options.get("base", "ce") != "focal":
        raise ValueError(
            f"gamma applies to the class-balanced loss only with base='focal', got base={options.get('base', 'ce')!r}; "
            "valid bases: ['ce', 'focal', 'sigmoid']"
        )


def _build_parametric(cls: type, counts: Any, options: dict) -> nn.Module:
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
    return cls(**options)


register_loss("ce", WeightedCrossEntropyLoss, aliases=("weighted_ce", "cross_entropy"))
register_loss("focal", FocalLoss)
register_loss(
    "class_balanced", ClassBalancedLoss, needs_counts=True, aliases=("cb",), check_options=_check_class_balanced
)
register_loss("ldam", LDAMLoss, needs_counts=True)
register_loss("logit_adjusted", LogitAdjustedLoss, needs_counts=True, aliases=("la", "logit_adjustment"))
register_loss("balanced_softmax", BalancedSoftmaxLoss, needs_counts=True, aliases=("bs",))
register_loss("vs", VSLoss, needs_counts=True)
register_loss(
    "parametric", ParametricCrossEntropyLoss, aliases=("autobalance",), weightings=(), build=_build_parametric
)
register_loss(
    "bce", BinaryCrossEntropyLoss, family="sigmoid", aliases=("weighted_bce", "binary_cross_entropy"),
    weightings=("pos_weight",),
)  # fmt: skip
register_loss("sigmoid_focal", SigmoidFocalLoss, family="sigmoid")
register_loss(
    "binary_logit_adjusted", BinaryLogitAdjustedLoss, family="sigmoid", needs_counts=True, aliases=("binary_la",)
)
register_loss("asl", AsymmetricLoss, family="sigmoid", aliases=("asymmetric",))
register_loss("distribution_balanced", DistributionBalancedLoss, family="sigmoid", needs_counts=True, aliases=("db",))

# the built-in names, as tuples (kept for code that imported them)
LOSS_NAMES = tuple(list_losses("softmax"))
SIGMOID_LOSS_NAMES = tuple(list_losses("sigmoid"))
