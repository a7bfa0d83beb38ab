"""Calibration metrics of predicted probabilities: expected calibration error (top-label and
classwise, equal-mass bins), the Brier score and the log-loss.

Inputs are probabilities, not logits, for the three tasks:

* multiclass: ``probs [N, C]`` (rows sum to 1) with class ids ``labels [N]``;
* binary: ``probs [N]`` (the positive class's probability) with 0/1 ``labels [N]``;
* multi-label: ``probs [N, L]`` (one sigmoid per label) with multi-hot ``labels [N, L]``.

Binning (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017; Kumar et al.,
"Verified Uncertainty Calibration", NeurIPS 2019, for the equal-mass bins and the classwise
variant): the ``N`` confidences are sorted (stable) and the sample of rank ``r`` (0-based) goes
to bin ``floor(r * B / N)``, so every bin holds ``N / B`` samples up to one (ties may straddle a
bin edge). With ``n_b`` samples, mean confidence ``conf_b`` and observed frequency ``acc_b``::

    ECE = sum_b (n_b / N) |acc_b - conf_b|

* top-label ECE: confidence ``max_c p_c``, outcome ``argmax_c p_c == y``;
* classwise ECE: the mean over classes (labels) ``c`` of the one-vs-rest ECE with confidence
  ``p_c`` and outcome ``y == c`` (binary: the two classes ``1 - p`` and ``p``).

Brier score (Brier 1950): multiclass ``mean_i sum_c (p_ic - [y_i = c])^2``; binary
``mean_i (p_i - y_i)^2`` (``sklearn.metrics.brier_score_loss``); multi-label the mean over labels
of the binary score. Log-loss: ``mean_i -log p_{i, y_i}`` (``sklearn.metrics.log_loss``);
multi-label the mean over labels of the binary log-loss. Probabilities are clipped to
``[eps, 1 - eps]`` (float64 machine epsilon) inside the log, as scikit-learn does.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "top_label_ece",
    "classwise_ece",
    "brier_score",
    "log_loss",
    "reliability_bins",
    "DEFAULT_BINS",
]

DEFAULT_BINS = 15
_EPS = float(torch.finfo(torch.float64).eps)


def _check_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int (15 is the usual choice), got {n_bins!r}")
    return n_bins


def _as_columns(probs: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, str]:
    """(P [N, K] float64, Y [N, K] 0/1 float64, task): one column per class (label)."""
    if not isinstance(probs, Tensor) or not isinstance(labels, Tensor):
        raise ValueError("probs and labels must be torch.Tensors")
    p = probs.detach().double().cpu()
    y = labels.detach().cpu()
    if p.numel() == 0 or p.shape[0] == 0:
        raise ValueError("probs is empty: a calibration metric needs at least one sample")
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()) or bool((p > 1).any()):
        raise ValueError(
            "probs must be probabilities in [0, 1]; pass torch.softmax(logits, 1) or torch.sigmoid(logits)"
        )
    if p.dim() == 1:
        if y.shape != p.shape or not bool(((y == 0) | (y == 1)).all()):
            raise ValueError(f"binary labels must be 0/1 with shape {tuple(p.shape)}, got shape {tuple(y.shape)}")
        yd = y.double()
        return torch.stack([1 - p, p], 1), torch.stack([1 - yd, yd], 1), "binary"
    if p.dim() != 2:
        raise ValueError(f"probs must have shape [N, C], [N] or [N, L], got {tuple(p.shape)}")
    if y.shape == p.shape:
        if not bool(((y == 0) | (y == 1)).all()):
            raise ValueError("multi-label labels [N, L] must be multi-hot (0/1)")
        return p, y.double(), "multilabel"
    if y.dim() != 1 or y.shape[0] != p.shape[0]:
        raise ValueError(f"labels must be class ids [N] ({p.shape[0]}) or multi-hot [N, L], got {tuple(y.shape)}")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"multiclass labels must be integer class ids, got dtype {y.dtype}")
    C = p.shape[1]
    if bool(((y < 0) | (y >= C)).any()):
        bad = sorted(set(y[(y < 0) | (y >= C)].tolist()))[:5]
        raise ValueError(f"labels hold class ids {bad} outside [0, {C}) for probs with {C} columns")
    if not bool(((p.sum(1) - 1).abs() <= 1e-4).all()):
        raise ValueError("multiclass probs rows must sum to 1; pass torch.softmax(logits, 1)")
    return p, torch.nn.functional.one_hot(y.long(), C).double(), "multiclass"


def _binned(conf: Tensor, outcome: Tensor, n_bins: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per column of ``conf``/``outcome`` [N, K]: (count, sum of conf, sum of outcome), each [B, K]."""
    N, K = conf.shape
    order = torch.argsort(conf, dim=0, stable=True)
    rank_bins = (torch.arange(N, dtype=torch.float64) * n_bins / N).floor().long()  # bin of rank r
    bins = torch.empty_like(order)
    bins.scatter_(0, order, rank_bins.unsqueeze(1).expand(N, K).contiguous())
    count = torch.zeros(n_bins, K, dtype=torch.float64).scatter_add_(0, bins, torch.ones_like(conf))
    s_conf = torch.zeros(n_bins, K, dtype=torch.float64).scatter_add_(0, bins, conf)
    s_out = torch.zeros(n_bins, K, dtype=torch.float64).scatter_add_(0, bins, outcome)
    return count, s_conf, s_out


def _ece_columns(conf: Tensor, outcome: Tensor, n_bins: int) -> Tensor:
    count, s_conf, s_out = _binned(conf, outcome, n_bins)
    return (s_out - s_conf).abs().sum(0) / conf.shape[0]  # sum_b n_b/N |acc_b - conf_b|


def top_label_ece(probs: Tensor, labels: Tensor, n_bins: int = DEFAULT_BINS) -> float:
    """Top-label ECE (Guo et al. 2017) with ``n_bins`` equal-mass bins: confidence
    ``max_c p_c`` against the accuracy of ``argmax_c p_c`` (module docstring). Multiclass or
    binary; multi-label has no top label (use :func:`classwise_ece`)."""
    n_bins = _check_bins(n_bins)
    P, Y, task = _as_columns(probs, labels)
    if task == "multilabel":
        raise ValueError("top_label_ece needs one label per sample; for multi-label [N, L] use classwise_ece")
    conf, pred = P.max(1)
    correct = Y.gather(1, pred.unsqueeze(1)).squeeze(1)
    return float(_ece_columns(conf.unsqueeze(1), correct.unsqueeze(1), n_bins)[0])


def classwise_ece(probs: Tensor, labels: Tensor, n_bins: int = DEFAULT_BINS) -> float:
    """Classwise ECE (Kumar et al. 2019): the mean over classes (labels) of the one-vs-rest ECE
    of ``p_c`` against ``[y == c]``, each with ``n_bins`` equal-mass bins (module docstring)."""
    n_bins = _check_bins(n_bins)
    P, Y, _ = _as_columns(probs, labels)
    return float(_ece_columns(P, Y, n_bins).mean())


def brier_score(probs: Tensor, labels: Tensor) -> float:
    """Brier score: multiclass ``mean_i sum_c (p_ic - [y_i = c])^2``; binary ``mean (p - y)^2``
    (= ``sklearn.metrics.brier_score_loss``); multi-label the mean of the per-label binary scores."""
    P, Y, task = _as_columns(probs, labels)
    if task == "multiclass":
        return float((P - Y).pow(2).sum(1).mean())
    if task == "binary":
        return float((P[:, 1] - Y[:, 1]).pow(2).mean())
    return float((P - Y).pow(2).mean())


def log_loss(probs: Tensor, labels: Tensor) -> float:
    """Log-loss (negative log-likelihood per sample, natural log): multiclass and binary as
    ``sklearn.metrics.log_loss``; multi-label the mean over labels of the binary log-loss."""
    P, Y, task = _as_columns(probs, labels)
    P = P.clamp(_EPS, 1 - _EPS)
    if task == "multilabel":
        return float(-(Y * P.log() + (1 - Y) * (1 - P).log()).mean())
    return float(-(Y * P.log()).sum(1).mean())


def reliability_bins(confidence: Tensor, outcome: Tensor, n_bins: int = DEFAULT_BINS) -> dict[str, list[float]]:
    """The bins of a reliability diagram: equal-mass bins of ``confidence [N]`` with, per
    non-empty bin, ``count``, mean ``confidence`` and mean ``outcome`` (0/1 or frequencies).
    For a top-label diagram pass ``probs.max(1)`` and ``probs.argmax(1) == labels``."""
    n_bins = _check_bins(n_bins)
    c = torch.as_tensor(confidence).detach().double().cpu().reshape(-1, 1)
    o = torch.as_tensor(outcome).detach().double().cpu().reshape(-1, 1)
    if c.shape != o.shape or c.shape[0] == 0:
        raise ValueError("confidence and outcome must be non-empty and of the same length")
    count, s_conf, s_out = _binned(c, o, n_bins)
    keep = count[:, 0] > 0
    n = count[keep, 0]
    return {
        "count": n.tolist(),
        "confidence": (s_conf[keep, 0] / n).tolist(),
        "outcome": (s_out[keep, 0] / n).tolist(),
    }
