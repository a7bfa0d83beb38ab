"""Heads trained on frozen features: cRT, LWS, the weight-balanced head and a re-weighted head.

All four train on a fixed ``[N, d]`` feature matrix (:func:`acwa.heads.extract_features`), so
an epoch is a few matrix products; Adam with a cosine schedule over ``epochs``, mini-batches of
``batch_size``, seeded by ``seed`` (initialisation and batch order; the caller's global RNG is
left as it was). ``balance`` says how the classes are balanced:

* ``'sampler'``: class-balanced sampling (Kang et al., ICLR 2020, eq. 1 with q = 1:
  :class:`acwa.sampling.ClassBalancedSampler`; multi-label: class-aware sampling,
  :class:`acwa.sampling.MultiLabelBalancedSampler`) and plain CE / BCE;
* ``'loss'``: a class-balanced loss on instance-sampled batches: CE with inverse-frequency
  weights ``w_c ∝ 1 / n_c`` (sum C); one logit or multi-label: BCE with
  ``pos_weight = n_neg / n_pos`` per logit (capped at 100).

Methods:

* :func:`fit_crt` -- cRT (Kang et al., ICLR 2020): re-initialise the linear head and train it
  with class-balanced sampling.
* :func:`fit_lws` -- LWS (Kang et al.): logits ``f_c (w_c^T x + b_c)``; only the scales ``f``
  (init 1) are learned, with class-balanced sampling. Multi-class only: a positive scale of a
  single logit changes neither its sign nor its ranking.
* :func:`fit_weight_balanced` -- weight balancing, stage 2 (Alshammari et al., CVPR 2022):
  fine-tune the stage-1 head (trained with weight decay) with the class-balanced loss, weight
  decay, and MaxNorm ``w_c <- w_c min(1, delta / ||w_c||)`` after every step.
* :func:`fit_reweighted` -- a re-initialised head trained with the class-balanced loss (the
  loss twin of cRT).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from acwa.heads._closed_form import _check_linear, max_norm_
from acwa.heads._features import check_features, label_task

__all__ = ["LWSHead", "fit_crt", "fit_lws", "fit_weight_balanced", "fit_reweighted", "train_head"]

POS_WEIGHT_CAP = 100.0


class LWSHead(nn.Module):
    """Learnable weight scaling (Kang et al., ICLR 2020): ``f_c * head(x)_c`` with the linear
    ``head`` frozen and one learned scale ``f_c`` per class (``scales [C]``, init 1)."""

    def __init__(self, head: nn.Linear) -> None:
        super().__init__()
        self.head = _check_linear(head).requires_grad_(False)
        self.scales = nn.Parameter(torch.ones(head.out_features, device=head.weight.device))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(x) * self.scales


def _check_int(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _loss_fn(task: str, y: Tensor, balance: str | None, num_outputs: int) -> Callable[[Tensor, Tensor], Tensor]:
    if task == "multiclass":
        weight = None
        if balance == "loss":
            counts = torch.bincount(y, minlength=num_outputs).double().clamp_min(1)
            w = 1.0 / counts
            weight = (w * num_outputs / w.sum()).float()
        return lambda z, t: F.cross_entropy(z, t, weight=weight)
    yy = y.unsqueeze(1) if y.dim() == 1 else y
    pos_weight = None
    if balance == "loss":
        pos = yy.sum(0).double()
        pos_weight = ((yy.shape[0] - pos) / pos.clamp_min(1)).clamp(max=POS_WEIGHT_CAP).float()
    return lambda z, t: F.binary_cross_entropy_with_logits(
        z.reshape(t.shape[0], -1), t.reshape(t.shape[0], -1).float(), pos_weight=pos_weight
    )


def _orders(task: str, y: Tensor, balance: str | None, epochs: int, seed: int) -> list[Tensor]:
    """Sample order of every epoch."""
    from acwa.sampling import ClassBalancedSampler, MultiLabelBalancedSampler

    if balance == "sampler":
        if task == "multilabel":
            sampler: ClassBalancedSampler = MultiLabelBalancedSampler(y, q=1.0, num_samples=len(y), seed=seed)
        else:
            sampler = ClassBalancedSampler(y, q=1.0, seed=seed, num_classes=max(int(y.max()) + 1, 2))
        return [sampler.sample_indices(e) for e in range(epochs)]
    g = torch.Generator().manual_seed(seed)
    return [torch.randperm(len(y), generator=g) for _ in range(epochs)]


def train_head(
    module: nn.Module,
    features: Tensor,
    labels: Tensor,
    *,
    balance: str | None = "sampler",
    epochs: int = 20,
    lr: float = 1e-2,
    batch_size: int = 128,
    weight_decay: float = 0.0,
    seed: int = 0,
    after_step: Callable[[], object] | None = None,
) -> nn.Module:
    """Train the trainable parameters of ``module`` (a head: ``[n, d] -> [n, outputs]``) on
    frozen ``features`` with ``labels`` (class ids, 0/1 for one logit, or multi-hot), balanced
    by ``balance`` (module docstring; ``None``: plain CE/BCE on shuffled batches); ``after_step``
    runs after every optimiser step (e.g. a MaxNorm projection). Returns ``module``."""
    if balance not in ("sampler", "loss", None):
        raise ValueError(f"balance must be 'sampler', 'loss' or None, got {balance!r}")
    f = check_features(features)
    epochs = _check_int(epochs, "epochs", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    if not (isinstance(lr, (int, float)) and lr > 0) or not (
        isinstance(weight_decay, (int, float)) and weight_decay >= 0
    ):
        raise ValueError(f"lr must be > 0 and weight_decay >= 0, got lr={lr!r}, weight_decay={weight_decay!r}")
    with torch.no_grad():
        outputs = module(f[:1]).reshape(1, -1).shape[1]
    task, y = label_task(labels, outputs)
    if y.shape[0] != f.shape[0]:
        raise ValueError(f"labels has {y.shape[0]} rows but features has {f.shape[0]}")
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ValueError("module has no trainable parameter to fit")
    loss_fn = _loss_fn(task, y, balance, outputs)
    opt = torch.optim.Adam(params, lr=float(lr), weight_decay=float(weight_decay))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    module.train()
    for order in _orders(task, y, balance, epochs, seed):
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            loss = loss_fn(module(f[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step()
        sched.step()
    return module.eval()


def _new_linear(features: Tensor, num_outputs: int, seed: int) -> nn.Linear:
    num_outputs = _check_int(num_outputs, "num_outputs", 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Linear(check_features(features).shape[1], num_outputs)


def fit_crt(
    features: Tensor, labels: Tensor, num_outputs: int, *, epochs: int = 20, lr: float = 1e-2, seed: int = 0, **options
) -> nn.Linear:
    """cRT (Kang et al., ICLR 2020): a freshly initialised ``nn.Linear(d, num_outputs)`` trained on
    frozen ``features`` with class-balanced sampling (multi-label: class-aware sampling) and
    plain CE / BCE. ``num_outputs``: C, 1 (one-logit binary) or L (multi-label).
    ``options``: ``batch_size``, ``weight_decay`` of :func:`train_head`."""
    head = _new_linear(features, num_outputs, seed)
    train_head(head, features, labels, balance="sampler", epochs=epochs, lr=lr, seed=seed, **options)
    return head.requires_grad_(False)


def fit_reweighted(
    features: Tensor, labels: Tensor, num_outputs: int, *, epochs: int = 20, lr: float = 1e-2, seed: int = 0, **options
) -> nn.Linear:
    """A re-initialised linear head trained with the class-balanced loss (inverse-frequency CE;
    one logit / multi-label: BCE with ``pos_weight = n_neg / n_pos``) on instance-sampled batches."""
    head = _new_linear(features, num_outputs, seed)
    train_head(head, features, labels, balance="loss", epochs=epochs, lr=lr, seed=seed, **options)
    return head.requires_grad_(False)


def fit_lws(
    head: nn.Linear, features: Tensor, labels: Tensor, *, epochs: int = 20, lr: float = 1e-2, seed: int = 0, **options
) -> LWSHead:
    """LWS (Kang et al., ICLR 2020): learn ``f_c`` in ``f_c (w_c^T x + b_c)`` with class-balanced
    sampling, ``head`` fixed (copied). ``ValueError`` for a one-logit or multi-label head: a
    positive per-logit scale changes no sign and no ranking there."""
    head = _check_linear(head)
    if head.out_features < 2 or torch.as_tensor(labels).dim() == 2:
        raise ValueError(
            "LWS applies to multi-class heads only: scaling a single sigmoid logit by f > 0 changes no decision "
            "and no ranking; use fit_crt or fit_weight_balanced for one-logit binary or multi-label heads"
        )
    lws = LWSHead(_copy_linear(head))
    train_head(lws, features, labels, balance="sampler", epochs=epochs, lr=lr, seed=seed, **options)
    return lws.requires_grad_(False)


def fit_weight_balanced(
    head: nn.Linear,
    features: Tensor,
    labels: Tensor,
    *,
    delta: float | None = None,
    epochs: int = 20,
    lr: float = 1e-2,
    weight_decay: float = 5e-4,
    seed: int = 0,
    **options,
) -> nn.Linear:
    """Weight balancing, stage 2 (Alshammari et al., CVPR 2022): a copy of the stage-1 ``head``
    fine-tuned with the class-balanced loss and ``weight_decay``, each step followed by MaxNorm
    (:func:`acwa.heads.max_norm_`) with radius ``delta`` (default: the mean row norm of
    ``head``, so no class may end above the average stage-1 norm). Stage 1 is the user's
    training with a larger weight decay (a recipe option, not done here)."""
    new = _copy_linear(_check_linear(head)).requires_grad_(True)
    if delta is None:
        delta = float(new.weight.detach().norm(dim=1).mean())
    max_norm_(new, delta)
    train_head(
        new,
        features,
        labels,
        balance="loss",
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        seed=seed,
        after_step=lambda: max_norm_(new, delta),
        **options,
    )
    return new.requires_grad_(False)


def _copy_linear(head: nn.Linear) -> nn.Linear:
    out = nn.Linear(head.in_features, head.out_features, bias=head.bias is not None)
    out.load_state_dict({k: v.detach().clone() for k, v in head.state_dict().items()})
    return out
