"""Static class weights computed once from the training set's class counts.

Counts come from the whole training set (:func:`class_counts`), never from a batch: weights
computed per batch jump from step to step and are undefined for classes a batch lacks.

======================  ==================================================  =====================
function                raw weight ``w_c`` (before normalisation)           reference
======================  ==================================================  =====================
``inverse_frequency``   ``n_c ** -power`` (power 1: inverse, 0.5: sqrt)     common practice
``effective_number``    ``(1 - beta) / (1 - beta ** n_c)``                  Cui et al., CVPR 2019
``median_frequency``    ``median_k(f_k) / f_c``, ``f_c = n_c / sum_k n_k``  Eigen & Fergus, ICCV 2015
``pos_weight``          ``n_neg / n_pos`` per label (binary, multi-label)   BCE ``pos_weight``
======================  ==================================================  =====================

The weights are computed and normalised in log space, so extreme settings (``power=200``, a
``beta`` close to 1 with huge counts) stay finite: ratios beyond float range become 0, never
NaN. Weights that cannot be normalised (all 0) raise ``ValueError``.

Normalisation (``normalize=``), the same for every function:

* ``'sum_to_C'`` (**the default**): ``sum_c w_c = C``, i.e. the unweighted mean over classes
  is 1 (the convention of Cui et al. 2019).
* ``'mean_one'``: ``sum_c pi_c w_c = 1`` with ``pi_c = n_c / sum_k n_k``, i.e. the mean weight
  *per training sample* is 1, so a weighted loss with ``reduction='mean'`` keeps the scale of
  the unweighted loss on the training distribution.
* ``None``: the raw weights of the table.

``max_weight`` (optional) clips every weight to at most ``max_weight`` *after* normalisation
(so the normalised sum may drop below its target; that is the point of a cap).

Zero-count classes (``zero_counts=``): every formula above needs ``n_c > 0``.

* ``'raise'`` (default): a ``ValueError`` names the empty classes.
* ``'zero'``: the class gets weight 0 (it has no training samples, so its weight never
  multiplies a training loss); the normalisation target is unchanged, so the non-empty
  classes carry it.
* ``'max'``: the class gets the largest weight of the non-empty classes (treat it as the rarest
  class, e.g. when the weights are reused on data where it appears); then normalisation.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from acwa._internal.validation import check_choice
from acwa.weights._counts import Counts, check_counts, class_counts

__all__ = [
    "NORMALIZATIONS",
    "ZERO_COUNT_RULES",
    "WEIGHTINGS",
    "class_counts",
    "check_counts",
    "normalize_weights",
    "inverse_frequency",
    "effective_number",
    "median_frequency",
    "class_weights",
    "pos_weight",
]

NORMALIZATIONS = ("sum_to_C", "mean_one", None)
ZERO_COUNT_RULES = ("raise", "zero", "max")


def _zero_mask(counts: Tensor, zero_counts: str, func: str) -> Tensor:
    check_choice(zero_counts, ZERO_COUNT_RULES, "zero_counts")
    empty = counts == 0
    if zero_counts == "raise" and bool(empty.any()):
        bad = torch.nonzero(empty).flatten().tolist()
        raise ValueError(
            f"{func} needs n_c > 0, but classes {bad} have 0 samples in class_counts; pass "
            "zero_counts='zero' (weight 0) or zero_counts='max' (largest weight), or add a pseudo-count "
            "(class_counts + 1)"
        )
    return empty


def _fill_empty(log_raw: Tensor, empty: Tensor, zero_counts: str) -> Tensor:
    if not bool(empty.any()):
        return log_raw
    fill = log_raw[~empty].max() if zero_counts == "max" else log_raw.new_tensor(-math.inf)
    return torch.where(empty, fill, log_raw)


def _check_max_weight(max_weight) -> float | None:
    if max_weight is None:
        return None
    ok = isinstance(max_weight, (int, float)) and not isinstance(max_weight, bool) and max_weight > 0
    if not ok:
        raise ValueError(f"max_weight must be a number > 0 (or None for no cap), got {max_weight!r}")
    return float(max_weight)


def _normalize_log(log_w: Tensor, counts: Tensor | None, normalize: str | None, max_weight) -> Tensor:
    """Normalise weights given as logs (``-inf`` for weight 0) in log space, so that extreme
    ratios (e.g. ``n_c ** -200``) under- or overflow to 0 gracefully instead of giving NaN."""
    check_choice(normalize, NORMALIZATIONS, "normalize")
    max_weight = _check_max_weight(max_weight)
    if normalize == "sum_to_C":
        log_total = torch.logsumexp(log_w, 0)
        log_target = math.log(log_w.numel())
    elif normalize == "mean_one":
        if counts is None:
            raise ValueError("normalize='mean_one' needs the class counts (pass counts=...)")
        log_pi = (counts.to(torch.float64) / counts.sum()).log()
        log_total = torch.logsumexp(log_w + log_pi, 0)
        log_target = 0.0
    else:
        log_total, log_target = log_w.new_zeros(()), 0.0
    if not bool(torch.isfinite(log_total)):
        raise ValueError(
            f"the weights sum to {'0' if bool(log_total < 0) else 'inf'} and cannot be normalised "
            f"(normalize={normalize!r}); give at least one class a positive, finite weight"
        )
    w = torch.exp(log_w - log_total + log_target)
    if not bool(torch.isfinite(w).all()):
        raise ValueError("the raw weights overflow float64; pass normalize='sum_to_C' (computed in log space)")
    return w if max_weight is None else w.clamp(max=max_weight)


def normalize_weights(
    weights: Tensor,
    counts: Tensor | None = None,
    normalize: str | None = "sum_to_C",
    max_weight: float | None = None,
) -> Tensor:
    """Apply the module's ``normalize`` rule (``'mean_one'`` needs ``counts``) and the ``max_weight`` cap.

    ``weights`` must be finite and ``>= 0`` with a positive sum (else ``ValueError``); the
    result is float64."""
    w = torch.as_tensor(weights).detach().to(torch.float64)
    if w.dim() != 1 or not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError(f"weights must be a 1-D vector of finite numbers >= 0, got {w.tolist()}")
    if normalize is not None and not bool((w > 0).any()):
        raise ValueError(
            f"weights sum to 0 ({w.tolist()}), so normalize={normalize!r} would divide by zero; "
            "give at least one class a positive weight or pass normalize=None"
        )
    return _normalize_log(w.log(), counts, normalize, max_weight)


def _finish(log_raw: Tensor, counts: Tensor, empty: Tensor, zero_counts: str, normalize, max_weight, device) -> Tensor:
    w = _normalize_log(_fill_empty(log_raw, empty, zero_counts), counts, normalize, max_weight)
    return w.to(device=device, dtype=torch.get_default_dtype())


def _device_of(counts) -> torch.device:
    return counts.device if isinstance(counts, Tensor) else torch.device("cpu")


def inverse_frequency(
    counts: Counts,
    power: float = 1.0,
    normalize: str | None = "sum_to_C",
    max_weight: float | None = None,
    zero_counts: str = "raise",
    num_classes: int | None = None,
) -> Tensor:
    """Inverse-frequency weights ``w_c ∝ n_c ** -power`` (``power=0.5``: square-root inverse).

    ``power=0`` gives uniform weights. Normalised with ``normalize`` (default ``'sum_to_C'``:
    ``sum_c w_c = C``), then capped at ``max_weight``. Returns a tensor ``[C]`` of the default
    float dtype on the counts' device. Zero-count classes follow ``zero_counts`` (module doc).
    """
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not power >= 0 or power == float("inf"):
        raise ValueError(f"power must be a finite number >= 0 (1: inverse, 0.5: square-root inverse), got {power!r}")
    device = _device_of(counts)
    n = check_counts(counts, num_classes)
    empty = _zero_mask(n, zero_counts, "inverse_frequency")
    log_raw = -float(power) * torch.where(empty, torch.ones_like(n), n).log()  # log space: power=200 is fine
    return _finish(log_raw, n, empty, zero_counts, normalize, max_weight, device)


def effective_number(
    counts: Counts,
    beta: float = 0.9999,
    normalize: str | None = "sum_to_C",
    max_weight: float | None = None,
    zero_counts: str = "raise",
    num_classes: int | None = None,
) -> Tensor:
    """Class-balanced weights from the effective number of samples (Cui et al., "Class-Balanced
    Loss Based on Effective Number of Samples", CVPR 2019).

        E_c = (1 - beta ** n_c) / (1 - beta),   w_c = 1 / E_c = (1 - beta) / (1 - beta ** n_c)

    ``beta`` in ``[0, 1)``: 0 gives uniform weights, ``beta -> 1`` approaches inverse frequency.
    Default 0.9999 (the paper's choice for CIFAR-LT). Computed in float64 with ``expm1`` so
    ``beta`` close to 1 stays accurate. Normalised with ``normalize`` (default ``'sum_to_C'``),
    then capped at ``max_weight``.
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1) (0.9999 in Cui et al. 2019; 0 gives uniform weights), got {beta!r}")
    device = _device_of(counts)
    n = check_counts(counts, num_classes)
    empty = _zero_mask(n, zero_counts, "effective_number")
    n_safe = torch.where(empty, torch.ones_like(n), n)
    if beta == 0.0:
        log_raw = torch.zeros_like(n)  # 1 - 0**n = 1 for n >= 1
    else:
        # 1 - beta**n = -expm1(n * log(beta)), log(beta) = log1p(beta - 1)
        one_minus_beta_n = -torch.expm1(n_safe * torch.log1p(torch.tensor(beta - 1.0, dtype=torch.float64)))
        log_raw = math.log1p(-beta) - one_minus_beta_n.log()
    return _finish(log_raw, n, empty, zero_counts, normalize, max_weight, device)


def median_frequency(
    counts: Counts,
    normalize: str | None = "sum_to_C",
    max_weight: float | None = None,
    zero_counts: str = "raise",
    num_classes: int | None = None,
) -> Tensor:
    """Median-frequency balancing (Eigen & Fergus, "Predicting Depth, Surface Normals and Semantic
    Labels with a Common Multi-Scale Convolutional Architecture", ICCV 2015).

        f_c = n_c / sum_k n_k,   w_c = median_k(f_k) / f_c

    The median runs over the non-empty classes and averages the two middle values when their
    number is even. With ``normalize=None`` the median class gets weight 1 (the paper's
    values); the default ``'sum_to_C'`` rescales to ``sum_c w_c = C``.
    """
    device = _device_of(counts)
    n = check_counts(counts, num_classes)
    empty = _zero_mask(n, zero_counts, "median_frequency")
    f = n / n.sum()
    med = torch.quantile(f[~empty], 0.5)
    log_raw = med.log() - torch.where(empty, torch.ones_like(f), f).log()
    return _finish(log_raw, n, empty, zero_counts, normalize, max_weight, device)


def pos_weight(counts: Counts | Sequence[Sequence[float]], max_weight: float | None = None) -> Tensor:
    """``pos_weight = n_neg / n_pos`` per label for :class:`acwa.losses.BinaryCrossEntropyLoss`
    (``nn.BCEWithLogitsLoss(pos_weight=...)``), capped at ``max_weight``.

    ``counts`` is ``[n_neg, n_pos]``: shape ``[2]`` for a binary problem (result ``[1]``) or
    ``[2, L]`` for L labels (result ``[L]``), as :func:`acwa.weights.label_neg_pos_counts` returns,
    e.g. ``pos_weight(label_neg_pos_counts(train_labels), max_weight=100)``. A label without
    positives gets ``max_weight`` when a cap is given and raises ``ValueError`` otherwise; one
    without negatives gets 0. Float ``[L]`` of the default dtype, on the counts' device.
    """
    max_weight = _check_max_weight(max_weight)
    device = _device_of(counts)
    t = (counts if isinstance(counts, Tensor) else torch.as_tensor(np.asarray(counts))).detach()
    if t.is_complex() or t.dtype == torch.bool or t.dim() not in (1, 2) or t.shape[0] != 2:
        raise ValueError(
            "counts must be [n_neg, n_pos] (shape [2], or [2, L] per label: "
            f"acwa.weights.label_neg_pos_counts(labels)), "
            f"got shape {tuple(t.shape)} and dtype {t.dtype}"
        )
    t = t.to(torch.float64).reshape(2, -1)
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        raise ValueError(f"counts must be finite and >= 0, got {t.tolist()}")
    n_neg, n_pos = t
    empty = n_pos == 0
    if bool(empty.any()) and max_weight is None:
        bad = torch.nonzero(empty).flatten().tolist()
        raise ValueError(
            f"labels {bad} have no positives, so n_neg / n_pos is infinite; pass max_weight=... (e.g. 100) "
            "or add a pseudo-count (counts + 1)"
        )
    w = torch.where(empty, torch.full_like(n_neg, max_weight or 0.0), n_neg / torch.where(empty, 1.0, n_pos))
    w = w if max_weight is None else w.clamp(max=max_weight)
    return w.to(device=device, dtype=torch.get_default_dtype())


WEIGHTINGS = ("inverse", "sqrt_inverse", "effective_number", "median_frequency")


def class_weights(counts: Counts, method: str = "inverse", **options) -> Tensor:
    """Dispatch by name: ``'inverse'`` (power 1), ``'sqrt_inverse'`` (power 0.5),
    ``'effective_number'`` or ``'median_frequency'``; ``options`` go to that function (an
    option it does not take is a ``ValueError`` listing the ones it does)."""
    functions: dict[str, Callable[..., Tensor]] = {
        "inverse": inverse_frequency,
        "sqrt_inverse": inverse_frequency,
        "effective_number": effective_number,
        "median_frequency": median_frequency,
    }
    fn = functions.get(method)
    if fn is not None:
        valid = [p for p in inspect.signature(fn).parameters if p != "counts"]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(f"class_weights(method={method!r}) does not take {unknown}; its options: {valid}")
    if method == "inverse":
        return inverse_frequency(counts, **{"power": 1.0, **options})
    if method == "sqrt_inverse":
        if "power" in options:
            raise ValueError("method='sqrt_inverse' fixes power=0.5; use method='inverse' with power=... instead")
        return inverse_frequency(counts, power=0.5, **options)
    if method == "effective_number":
        return effective_number(counts, **options)
    if method == "median_frequency":
        return median_frequency(counts, **options)
    raise ValueError(f"method must be one of {list(WEIGHTINGS)}, got {method!r}")
