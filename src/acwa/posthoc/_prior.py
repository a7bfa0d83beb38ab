"""Class priors: checking them, moving probabilities (or logits) from one prior to another, and
estimating an unknown deployment prior from unlabeled data.

Prior shift (Saerens, Latinne & Decaestecker, "Adjusting the Outputs of a Classifier to New a
Priori Probabilities: A Simple Procedure", Neural Computation 2002): if ``p(y|x)`` was learnt
under the class prior ``pi`` and only the prior changes to ``pi'`` (``p(x|y)`` fixed), Bayes'
rule gives

    p'(y|x) = p(y|x) pi'_y / pi_y  /  sum_k p(k|x) pi'_k / pi_k

which on softmax logits is the exact offset ``z'_y = z_y + log pi'_y - log pi_y``; for a sigmoid
(binary, or each label of a multi-label model, prior = positive rate) it is
``z' = z + logit(pi') - logit(pi)``. With ``pi'`` unknown, EM alternates this correction with
``pi' <- mean_i p'(.|x_i)`` over unlabeled deployment samples (Saerens et al. 2002, sec. 2.2); it
needs calibrated ``p(y|x)`` (Alexandari, Kundaje & Shrikumar, ICML 2020).

Which prior do a model's raw outputs refer to? (``pi`` = training class frequencies)

* ``ce`` (plain cross-entropy, instance sampling), focal loss: ``pi`` (focal loss is also
  under-confident: calibrate first);
* class-weighted CE with weights ``w_c``: ``pi_c w_c / sum_k pi_k w_k`` (inverse frequency:
  uniform); class-balanced sampling: the sampled class frequencies (uniform);
* logit-adjusted loss (Menon et al., ICLR 2021) and balanced softmax (Ren et al., NeurIPS 2020),
  used with their raw logits ``f``: uniform; ``f + tau log pi'`` predicts for ``pi'``
  (:func:`shift_prior` with ``source_prior=None`` and the loss's ``tau``); post-hoc logit
  adjustment ``f - tau log pi`` of a CE model: uniform as well;
* ACWA's adaptive weights, and any other re-weighting that moves during training: no fixed
  prior; fit a :class:`~acwa.posthoc.Calibrator` on held-out logits, whose outputs refer to the
  calibration data's class frequencies (or the ``prior`` passed to its ``fit``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["check_prior", "shift_prior", "correct_prior", "estimate_prior", "PRIOR_TOLERANCE"]

PRIOR_TOLERANCE = 1e-6


def check_prior(
    prior: Any, num_classes: int, name: str = "prior", present: Tensor | None = None, task: str = "multiclass"
) -> Tensor:
    """``prior`` as float64: ``[C]`` summing to 1 (multiclass; binary also takes the positive
    rate as a scalar, returned as ``[1 - p, p]``), or ``[L]`` positive rates (multi-label).

    ``present`` (bool ``[C]``/``[L]``): classes (labels) the data holds; a zero prior there is a
    ``ValueError`` (the data contradicts it, and dividing by it is undefined).
    """
    try:
        p = torch.as_tensor(prior, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a sequence of class probabilities, got {type(prior).__name__}") from None
    if task == "binary" and p.dim() == 0:
        p = torch.stack([1 - p, p])
    if task == "multilabel":
        if p.shape != (num_classes,) or not bool(torch.isfinite(p).all()) or bool(((p < 0) | (p > 1)).any()):
            raise ValueError(f"{name} must hold {num_classes} per-label positive rates in [0, 1], got {p.tolist()}")
        zero = (p == 0) | (p == 1)
    else:
        if p.shape != (num_classes,):
            raise ValueError(
                f"{name} must have shape [{num_classes}] (one probability per class), got {tuple(p.shape)}"
            )
        if not bool(torch.isfinite(p).all()) or bool((p < 0).any()):
            raise ValueError(f"{name} must be finite and non-negative, got {p.tolist()}")
        if abs(float(p.sum()) - 1) > PRIOR_TOLERANCE:
            raise ValueError(
                f"{name} must sum to 1 (within {PRIOR_TOLERANCE}), got sum {float(p.sum()):.8g}; "
                "pass prior / prior.sum()"
            )
        zero = p == 0
    if present is not None and bool((zero & present.cpu()).any()):
        bad = torch.nonzero(zero & present.cpu()).flatten().tolist()
        raise ValueError(
            f"{name} gives probability 0 (or 1) to classes {bad}, which the data holds; give them a small "
            "positive probability"
        )
    return p


def _task_of(x: Tensor, task: str | None) -> str:
    if task is not None:
        if task not in ("multiclass", "binary", "multilabel"):
            raise ValueError(f"task must be 'multiclass', 'binary' or 'multilabel', got {task!r}")
        return task
    return "binary" if x.dim() == 1 or (x.dim() == 2 and x.shape[1] == 1) else "multiclass"


def _width(x: Tensor, task: str) -> int:
    return 2 if task == "binary" else x.shape[1]


def _log_ratio(prior: Any, source_prior: Any, x: Tensor, task: str) -> Tensor:
    """``log pi' - log pi`` per class (multiclass), or ``logit pi' - logit pi`` (binary: one
    number; multi-label: per label); ``source_prior=None`` is the uniform prior (0.5)."""
    k = _width(x, task)
    tgt = check_prior(prior, k, "prior", task=task)
    if source_prior is None:
        src = torch.full((k,), 0.5 if task == "multilabel" else 1.0 / k, dtype=torch.float64)
    else:
        src = check_prior(source_prior, k, "source_prior", task=task)
    if bool((src == 0).any()) or (task == "multilabel" and bool((src == 1).any())):
        raise ValueError("source_prior must be positive for every class (and below 1 for every label)")
    if task == "multiclass":
        return tgt.log() - src.log()
    if task == "binary":
        return (tgt[1].log() - tgt[0].log() - src[1].log() + src[0].log()).reshape(1)
    return torch.logit(tgt) - torch.logit(src)


def shift_prior(
    logits: Tensor, prior: Any, source_prior: Any = None, tau: float = 1.0, task: str | None = None
) -> Tensor:
    """Logits that predict for the deployment ``prior`` (module docstring):
    ``z + tau (log pi' - log pi)`` (softmax), ``z + tau (logit pi' - logit pi)`` (sigmoid).

    ``source_prior=None`` means the outputs refer to the uniform prior, as a logit-adjusted or
    balanced-softmax model's raw logits do (then this is ``f + tau log pi'`` up to a constant);
    pass the training frequencies for a plain CE model. ``task`` defaults from the shape
    (``[N]``/``[N, 1]`` binary, else multiclass; pass ``'multilabel'`` for ``[N, L]``).
    """
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise ValueError("logits must be a floating-point torch.Tensor")
    task = _task_of(logits, task)
    r = _log_ratio(prior, source_prior, logits, task)
    if not isinstance(tau, (int, float)) or isinstance(tau, bool) or not torch.isfinite(torch.tensor(float(tau))):
        raise ValueError(f"tau must be a finite number (1.0 for the exact Bayes correction), got {tau!r}")
    r = (float(tau) * r).to(logits.dtype).to(logits.device)
    if task == "binary":
        return logits + r[0]
    return logits + r


def _binary_columns(probs: Tensor, task: str) -> Tensor:
    p = probs.detach().double()
    return p.reshape(-1, 1) if task == "binary" else p


def correct_prior(probs: Tensor, prior: Any, source_prior: Any, task: str | None = None) -> Tensor:
    """Saerens et al.'s correction of probabilities learnt under ``source_prior`` to ``prior``:
    ``p'(y|x) ∝ p(y|x) pi'_y / pi_y`` (per label for sigmoids). Returns float64 probabilities of
    ``probs``' shape. ``task`` as in :func:`shift_prior` (``probs [N]`` is binary)."""
    if not isinstance(probs, Tensor):
        raise ValueError("probs must be a torch.Tensor of probabilities")
    task = _task_of(probs, task)
    if source_prior is None:
        raise ValueError("source_prior is required: the prior the probabilities refer to (training frequencies)")
    r = _log_ratio(prior, source_prior, probs, task).to(probs.device)
    p = probs.detach().double()
    if task == "multiclass":
        w = p * r.exp()
        return w / w.sum(1, keepdim=True)
    q = _binary_columns(p, task)
    odds_w = r.exp()
    out = q * odds_w / (q * odds_w + (1 - q))
    return out.reshape(p.shape)


def estimate_prior(
    probs: Tensor, source_prior: Any, max_iter: int = 1000, tol: float = 1e-8, task: str | None = None
) -> Tensor:
    """EM estimate of the deployment prior from unlabeled ``probs`` (Saerens et al. 2002):
    start at ``pi^0 = source_prior`` and repeat ``p^t = correct_prior(probs, pi^t, source_prior)``,
    ``pi^{t+1} = mean_i p^t_i`` until ``max |pi^{t+1} - pi^t| < tol``. ``probs`` must be
    calibrated for the source prior. Returns float64 ``[C]`` (binary ``[2]``, multi-label per-label
    positive rates ``[L]``)."""
    if not isinstance(probs, Tensor) or probs.shape[0] == 0:
        raise ValueError("probs must be a non-empty torch.Tensor of probabilities (one row per unlabeled sample)")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
    task = _task_of(probs, task)
    k = _width(probs, task)
    src = check_prior(source_prior, k, "source_prior", task=task)
    pi = src.clone()
    for _ in range(max_iter):
        q = correct_prior(probs, pi, src, task).cpu()
        new = q.mean(0) if task == "multiclass" else _binary_columns(q, task).mean(0)
        if task == "binary":
            new = torch.cat([1 - new, new])
        # keep the estimate a valid prior in float64 (sums drift by ~1e-16 per step)
        if task == "multiclass":
            new = new / new.sum()
        done = float((new - pi).abs().max()) < tol
        pi = new.clamp(1e-300, 1.0) if task != "multilabel" else new.clamp(1e-300, 1 - 1e-16)
        if done:
            break
    return pi
