"""Heads that need no training: tau-normalisation, nearest class mean, and the MaxNorm projection.

Kang et al., "Decoupling representation and classifier for long-tailed recognition", ICLR 2020:

* tau-normalisation: ``w_c <- w_c / ||w_c||^tau`` for every class row of the linear head, bias
  dropped; ``tau = 0`` is the head itself (without bias), ``tau = 1`` gives unit-norm rows
  (cosine-like scores). Training under imbalance grows the head classes' norms; dividing by a
  power of the norm evens them out. ``tau`` is chosen on held-out data (:func:`choose_tau`).
* NCM: class means ``m_c`` of the L2-normalised features ``x / ||x||``; the logit of class c is
  the cosine ``<x / ||x||, m_c / ||m_c||>``.

Alshammari et al., "Long-tailed recognition via weight balancing", CVPR 2022: MaxNorm projects
each class row back into the ball ``||w_c|| <= delta`` after every optimiser step,
``w_c <- w_c * min(1, delta / ||w_c||)`` (projected gradient descent).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from acwa.heads._features import check_features, label_task

__all__ = ["tau_normalize", "choose_tau", "TAU_GRID", "NCMHead", "fit_ncm", "max_norm", "max_norm_"]

TAU_GRID: tuple[float, ...] = tuple(i / 10 for i in range(11))  # 0, 0.1, ..., 1

ScoreFn = Callable[[Tensor, Tensor], float]


def _check_linear(head: nn.Module, name: str = "head") -> nn.Linear:
    if not isinstance(head, nn.Linear):
        raise ValueError(f"{name} must be an nn.Linear (the model's last layer), got {type(head).__name__}")
    return head


def _check_tau(tau: float) -> float:
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not 0.0 <= float(tau) <= 1.0:
        raise ValueError(f"tau must be a number in [0, 1] (0: the head as is, 1: unit-norm rows), got {tau!r}")
    return float(tau)


def tau_normalize(head: nn.Linear, tau: float) -> nn.Linear:
    """A new bias-free ``nn.Linear`` with rows ``w_c / ||w_c||^tau`` (Kang et al., ICLR 2020).

    Multi-class heads only: a single logit has one row, and dividing it by a positive number
    changes no decision, so a one-logit head raises ``ValueError`` (use a threshold instead)."""
    head = _check_linear(head)
    tau = _check_tau(tau)
    if head.out_features < 2:
        raise ValueError(
            "tau_normalize needs a multi-class head (out_features >= 2): scaling a single logit changes no "
            "decision; for a one-logit binary model tune a threshold (acwa.posthoc.tune_threshold)"
        )
    w = head.weight.detach()
    norms = w.norm(dim=1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
    out = nn.Linear(head.in_features, head.out_features, bias=False).to(w.device, w.dtype)
    with torch.no_grad():
        out.weight.copy_(w / norms.pow(tau))
    return out.requires_grad_(False)


def choose_tau(
    head: nn.Linear,
    features: Tensor,
    labels: Tensor,
    score: ScoreFn,
    grid: Sequence[float] = TAU_GRID,
) -> tuple[float, float]:
    """``(tau, score)``: the ``tau`` of ``grid`` whose :func:`tau_normalize` head scores best
    with ``score(logits, labels)`` (higher is better) on held-out ``features`` / ``labels``;
    ties go to the smaller tau."""
    f = check_features(features)
    grid = [_check_tau(t) for t in grid]
    if not grid:
        raise ValueError("grid must hold at least one tau in [0, 1]")
    best: tuple[float, float] | None = None
    for tau in grid:
        s = float(score(tau_normalize(head, tau)(f), torch.as_tensor(labels)))
        if best is None or s > best[1]:
            best = (tau, s)
    assert best is not None
    return best


class NCMHead(nn.Module):
    """Nearest class mean, cosine form (Kang et al., ICLR 2020): logits
    ``z_c = <x / ||x||, m_c / ||m_c||>``, ``m_c`` the mean of the class's L2-normalised
    training features (``means [C, d]``, stored already normalised)."""

    means: Tensor

    def __init__(self, means: Tensor) -> None:
        super().__init__()
        m = torch.as_tensor(means, dtype=torch.float32)
        self.register_buffer("means", m / m.norm(dim=1, keepdim=True).clamp_min(1e-12))

    def forward(self, x: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], -1)
        return (x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)) @ self.means.to(x.device, x.dtype).T


def fit_ncm(features: Tensor, labels: Tensor, num_classes: int) -> NCMHead:
    """The :class:`NCMHead` of ``features [N, d]`` with class ids ``labels [N]``; every class
    needs a sample (``ValueError`` otherwise). Multi-class only (``num_classes >= 2``)."""
    f = check_features(features)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"num_classes must be an int >= 2 for NCM (class means of a multi-class problem), got {num_classes!r}; "
            "NCM does not apply to one-logit binary or multi-label heads"
        )
    task, y = label_task(labels, num_classes)
    if task != "multiclass" or y.shape[0] != f.shape[0]:
        raise ValueError(f"labels must be class ids [N] with N = {f.shape[0]} rows of features")
    counts = torch.bincount(y, minlength=num_classes)
    if bool((counts == 0).any()):
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(f"NCM needs every class in labels; classes {missing} have no sample")
    unit = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sums = torch.zeros(num_classes, f.shape[1], dtype=torch.float64).index_add_(0, y, unit.double())
    return NCMHead((sums / counts.unsqueeze(1).double()).float())


def max_norm(weight: Tensor, delta: float) -> Tensor:
    """MaxNorm (Alshammari et al., CVPR 2022): each row ``w_c`` of ``weight [C, d]`` projected onto
    the ball ``||w_c|| <= delta``: ``w_c * min(1, delta / ||w_c||)``."""
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not float(delta) > 0:
        raise ValueError(f"delta must be a positive number (the largest allowed row norm), got {delta!r}")
    w = torch.as_tensor(weight)
    if w.dim() != 2:
        raise ValueError(f"weight must be a [C, d] matrix (one row per class), got shape {list(w.shape)}")
    norms = w.norm(dim=1, keepdim=True)
    return w * torch.clamp(float(delta) / norms.clamp_min(torch.finfo(w.dtype).tiny), max=1.0)


@torch.no_grad()
def max_norm_(head: nn.Linear, delta: float) -> nn.Linear:
    """In place: ``head.weight <- max_norm(head.weight, delta)`` (bias untouched); returns ``head``."""
    head = _check_linear(head)
    head.weight.copy_(max_norm(head.weight, delta))
    return head
