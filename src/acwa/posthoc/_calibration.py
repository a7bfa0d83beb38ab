"""Calibration of a trained classifier's logits, fitted on held-out or cross-fitted logits.

Every method is an affine map of the logits, fitted by minimising the negative log-likelihood
(NLL) on the held-out labels with L-BFGS in float64 (Guo et al., "On Calibration of Modern
Neural Networks", ICML 2017):

* ``'temperature'``: ``z / T`` with one scalar ``T`` (fitted as ``log T``, so ``T > 0``); a
  multi-label model gets one ``T_l`` per label;
* ``'vector'``: ``z_c / T_c + b_c``, a per-class scale and bias (Guo et al.'s vector scaling
  with the scale kept positive, so the ranking within a class is kept); for a sigmoid this is
  Platt scaling ``z / T + b`` (per label for multi-label);
* ``'bias'``: ``z / T + b_c``, one temperature and a per-class bias (bias-corrected temperature
  scaling, Alexandari, Kundaje & Shrikumar, "Maximum Likelihood with Bias-Corrected Calibration
  is Hard-To-Beat at Label Shift Adaptation", ICML 2020); for a sigmoid the same as ``'vector'``.

Loss: softmax cross-entropy for multiclass ``[N, C]`` with class ids; the mean binary
cross-entropy of ``sigmoid(z')`` for binary one-logit ``[N]`` and for multi-label ``[N, L]``
(labels independent, so the joint fit is the per-label fit; a label whose held-out values are all
0 or all 1 keeps ``T = 1, b = 0``).

The calibrated probabilities refer to the class prior of the calibration data (the label
frequencies there), unless :meth:`Calibrator.fit` is told the prior those samples stand for;
``predict_proba(logits, prior=pi')`` then moves them to a deployment prior by Bayes' rule
(:func:`acwa.posthoc.shift_prior`), and :meth:`Calibrator.estimate_prior` estimates an unknown
one by EM (:func:`acwa.posthoc.estimate_prior`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from acwa.posthoc._prior import check_prior, estimate_prior, shift_prior

__all__ = ["Calibrator", "CALIBRATION_METHODS", "fit_temperature"]

CALIBRATION_METHODS = ("temperature", "vector", "bias")
TASKS = ("multiclass", "binary", "multilabel")


def _read(logits: Tensor, labels: Tensor, task: str | None) -> tuple[Tensor, Tensor, str]:
    """(z [N, K] float64, y, task); binary z is [N, 1] and y [N, 1] float."""
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise ValueError("logits must be a floating-point torch.Tensor [N, C], [N] or [N, L]")
    if not isinstance(labels, Tensor):
        raise ValueError("labels must be a torch.Tensor")
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS} or None (from the shapes), got {task!r}")
    z = logits.detach().double()
    y = labels.detach()
    if z.shape[0] == 0:
        raise ValueError("logits is empty: calibration needs held-out samples")
    if not bool(torch.isfinite(z).all()):
        raise ValueError("logits must be finite (no NaN/Inf)")
    one = z.dim() == 1 or (z.dim() == 2 and z.shape[1] == 1)
    if task is None:
        task = "binary" if one else ("multilabel" if y.shape == z.shape else "multiclass")
    if task == "binary":
        if not one:
            raise ValueError(f"binary calibration takes one logit per sample ([N] or [N, 1]), got {tuple(z.shape)}")
        z = z.reshape(-1, 1)
        y = y.reshape(-1)
    if task in ("binary", "multilabel"):
        yy = y.reshape(z.shape) if y.numel() == z.numel() else None
        if yy is None:
            raise ValueError(f"labels must have one 0/1 entry per logit {tuple(z.shape)}, got shape {tuple(y.shape)}")
        bad = ~((yy == 0) | (yy == 1))
        if bool(bad.any()):
            raise ValueError(f"labels must be 0/1, got values {sorted(set(yy[bad].tolist()))[:5]}")
        return z, yy.double(), task
    if z.dim() != 2 or y.dim() != 1 or y.shape[0] != z.shape[0]:
        raise ValueError(
            f"multiclass calibration takes logits [N, C] and class ids [N], got {tuple(z.shape)} and {tuple(y.shape)}"
        )
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"labels must be integer class ids, got dtype {y.dtype}")
    C = z.shape[1]
    out = (y < 0) | (y >= C)
    if bool(out.any()):
        raise ValueError(f"labels hold class ids {sorted(set(y[out].tolist()))[:5]} outside [0, {C})")
    return z, y.long(), task


class Calibrator:
    """Temperature, vector or bias scaling of logits (module docstring), with prior correction.

    ``Calibrator('temperature').fit(val_logits, val_labels)``, then ``predict_proba(logits)``
    (probabilities for the calibration data's prior) or ``predict_proba(logits, prior=pi')``.
    """

    def __init__(self, method: str = "temperature", task: str | None = None, max_iter: int = 200) -> None:
        if method not in CALIBRATION_METHODS:
            raise ValueError(f"method must be one of {CALIBRATION_METHODS}, got {method!r}")
        if task is not None and task not in TASKS:
            raise ValueError(f"task must be one of {TASKS} or None (from the shapes), got {task!r}")
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"max_iter must be a positive int (L-BFGS iterations), got {max_iter!r}")
        self.method, self.task, self.max_iter = method, task, max_iter
        self.log_temperature: Tensor | None = None  # [1] or [K]
        self.bias: Tensor | None = None  # [K]
        self.prior: Tensor | None = None  # the prior the calibrated probabilities refer to

    # ------------------------------------------------------------------ fit
    def fit(self, logits: Tensor, labels: Tensor, prior: Any = None) -> Calibrator:
        """Fit on held-out (validation or out-of-fold) ``logits`` and ``labels``.

        ``prior``: the class prior (multi-label: positive rates) of the population these samples
        stand for, when they were drawn with other class frequencies (e.g. a class-balanced
        validation set). Default: their label frequencies.
        """
        z, y, task = _read(logits, labels, self.task)
        K = z.shape[1]
        if task == "multiclass":
            counts = torch.bincount(y.cpu(), minlength=K).double()
            if int((counts > 0).sum()) < 2:
                raise ValueError(
                    "labels hold a single class; calibration needs held-out samples of at least two classes"
                )
            freq = counts / counts.sum()
            varying = torch.ones(K, dtype=torch.bool)
        else:
            freq = y.mean(0).cpu()
            varying = (freq > 0) & (freq < 1)
            if not bool(varying.any()):
                raise ValueError(
                    "labels hold a single class (every label all 0 or all 1); calibration needs both values"
                )
        per_class = task == "multilabel" or self.method == "vector"
        log_t = torch.zeros(K if per_class else 1, dtype=torch.float64, device=z.device, requires_grad=True)
        b = torch.zeros(K, dtype=torch.float64, device=z.device, requires_grad=self.method != "temperature")
        mask = varying.to(z.device).double()
        params = [log_t, b] if self.method != "temperature" else [log_t]
        opt = torch.optim.LBFGS(
            params, max_iter=self.max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15
        )

        def closure() -> Tensor:
            opt.zero_grad()
            zz = z * torch.exp(-log_t) + b
            if task == "multiclass":
                loss = F.cross_entropy(zz, y)
            else:
                per = F.binary_cross_entropy_with_logits(zz, y, reduction="none").mean(0)
                loss = (per * mask).sum() / mask.sum()
            loss.backward()
            return loss

        opt.step(closure)
        lt, bb = log_t.detach().clone(), b.detach().clone()
        if task == "multiclass":
            bb = bb - bb.mean()
        else:
            lt = torch.where(varying.to(lt.device), lt, torch.zeros_like(lt)) if lt.numel() == K else lt
            bb = torch.where(varying.to(bb.device), bb, torch.zeros_like(bb))
        self.log_temperature, self.bias, self.task = lt.cpu(), bb.cpu(), task
        source = self._prior_vector(freq, task)
        if prior is not None:
            width = 2 if task == "binary" else K
            present = (counts > 0) if task == "multiclass" else None
            if task == "binary":
                present = torch.tensor([bool(freq[0] < 1), bool(freq[0] > 0)])
            target = check_prior(prior, width, "prior", present=present, task=task)
            # move the fitted outputs from the calibration frequencies to the stated prior
            shift = shift_prior(torch.zeros(1, K, dtype=torch.float64), target, source, task=task)[0]
            self.bias = self.bias + torch.where(varying, shift, torch.zeros_like(shift))
            source = target
        self.prior = source
        return self

    @staticmethod
    def _prior_vector(freq: Tensor, task: str) -> Tensor:
        return torch.cat([1 - freq, freq]) if task == "binary" else freq.clone()

    def _check_fitted(self) -> None:
        if self.log_temperature is None or self.bias is None:
            raise ValueError("this Calibrator is not fitted: call fit(logits, labels) first")

    @property
    def temperature(self) -> Tensor:
        """``T`` (``[1]``, or ``[K]`` per class/label)."""
        self._check_fitted()
        assert self.log_temperature is not None
        return self.log_temperature.exp()

    # ------------------------------------------------------------------ predict
    def calibrated_logits(self, logits: Tensor) -> Tensor:
        """``z / T + b`` in ``logits``' dtype and device (binary keeps ``[N]``/``[N, 1]``)."""
        self._check_fitted()
        assert self.log_temperature is not None and self.bias is not None
        if not isinstance(logits, Tensor) or not logits.is_floating_point():
            raise ValueError("logits must be a floating-point torch.Tensor")
        K = self.bias.numel()
        width = logits.shape[-1] if logits.dim() == 2 else 1
        if (self.task == "binary") != (logits.dim() == 1 or width == 1) or width != K:
            raise ValueError(
                f"logits {tuple(logits.shape)} do not match the calibrator, fitted for {self.task} with {K} outputs"
            )
        t = self.log_temperature.exp().to(logits.device, torch.float64)
        b = self.bias.to(logits.device, torch.float64)
        out = logits.detach().double().reshape(-1, K) / t + b
        return out.reshape(logits.shape).to(logits.dtype)

    def predict_proba(self, logits: Tensor, prior: Any = None) -> Tensor:
        """Calibrated probabilities (float64): softmax ``[N, C]``, sigmoid ``[N]`` (binary: the
        positive class) or ``[N, L]``. With ``prior``, moved from :attr:`prior` (the calibration
        data's) to the deployment ``prior`` by Bayes' rule (Saerens et al. 2002)."""
        z = self.calibrated_logits(logits).double()
        if prior is not None and self.prior is not None and bool((self.prior == 0).any()):
            absent = torch.nonzero(self.prior == 0).flatten().tolist()
            raise ValueError(
                f"classes {absent} are absent from the calibration labels, so their prior there is 0 and "
                "Bayes' rule cannot move it; fit on calibration data that holds every class (e.g. cross-fitted logits)"
            )
        if prior is not None:
            z = shift_prior(z, prior, self.prior, task=self.task)
        if self.task == "multiclass":
            return torch.softmax(z, -1)
        return torch.sigmoid(z)

    def estimate_prior(self, logits: Tensor, max_iter: int = 1000, tol: float = 1e-8) -> Tensor:
        """EM estimate (:func:`acwa.posthoc.estimate_prior`) of the prior of unlabeled ``logits``."""
        return estimate_prior(self.predict_proba(logits), self.prior, max_iter=max_iter, tol=tol, task=self.task)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        assert self.log_temperature is not None and self.bias is not None and self.prior is not None
        return {
            "method": self.method,
            "task": self.task,
            "log_temperature": self.log_temperature.clone(),
            "bias": self.bias.clone(),
            "prior": self.prior.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        keys = {"method", "task", "log_temperature", "bias", "prior"}
        if not isinstance(state, dict) or set(state) != keys:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"state must be a dict with keys {sorted(keys)} (from Calibrator.state_dict()), got {got}")
        if state["method"] not in CALIBRATION_METHODS or state["task"] not in TASKS:
            raise ValueError(f"state holds an unknown method/task: {state['method']!r}, {state['task']!r}")
        lt, b, p = (torch.as_tensor(state[k], dtype=torch.float64) for k in ("log_temperature", "bias", "prior"))
        K = b.numel()
        if (
            b.dim() != 1
            or lt.dim() != 1
            or lt.numel() not in (1, K)
            or not bool(torch.isfinite(torch.cat([lt, b])).all())
        ):
            raise ValueError("state's log_temperature and bias must be finite vectors ([1] or [K], and [K])")
        check_prior(p, 2 if state["task"] == "binary" else K, "state['prior']", task=state["task"])
        self.method, self.task = state["method"], state["task"]
        self.log_temperature, self.bias, self.prior = lt.clone(), b.clone(), p.clone()


def fit_temperature(logits: Tensor, labels: Tensor, max_iter: int = 200) -> float:
    """The temperature ``T`` minimising the NLL of ``logits / T`` (Guo et al. 2017) on held-out
    data (multiclass or binary; see :class:`Calibrator` for multi-label and the other methods)."""
    cal = Calibrator("temperature", max_iter=max_iter).fit(logits, labels)
    if cal.task == "multilabel":
        raise ValueError("fit_temperature fits one T; for multi-label [N, L] use Calibrator('temperature')")
    return float(cal.temperature[0])
