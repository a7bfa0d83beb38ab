"""Individualised (per-class) data augmentation whose strength is a tuned hyperparameter.

AutoBalance (Li et al. 2021, arXiv 2201.01212, sec. 3.2) lets each class have its own
augmentation, tuned on validation data like the loss parameters. Here the per-class magnitude
``m_c >= 0`` is a learnable parameter and the augmentation is reparameterised so that the
training loss is differentiable in ``m`` (which is what the implicit hypergradient needs):

* ``'noise'``: ``x' = x + m_{y} * eps``, ``eps ~ N(0, I)`` (inputs should be standardised, so
  ``m`` is in units of the feature/pixel standard deviation). Works on any tensor shape.
* ``'mixup'``: ``x' = (1 - s) x + s x_{pi}``, ``s_i = m_{y_i} * u_i``, ``u_i ~ U(0, 1)``, ``pi`` a
  random permutation of the batch; the loss is ``(1 - s_i) l(x'_i, y_i) + s_i l(x'_i, y_{pi(i)})``
  (Zhang et al. 2018 mixup, with a class-dependent strength capped at ``max_magnitude`` <= 0.5).

The augmentation applies to training batches only (lower steps and the training side of a
hyper-step), never to validation batches. Magnitudes are clamped to ``[0, max_magnitude]`` after
each hyper-step. A learnt large ``m_c`` means "regularise class c more", typically the rare
classes whose few samples the network would otherwise memorise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from acwa._internal.validation import check_choice, check_float, check_num_classes

__all__ = ["ClassAugment", "AugmentedBatch", "AUGMENT_KINDS"]

AUGMENT_KINDS = ("noise", "mixup")


class AugmentedBatch(NamedTuple):
    x: Tensor
    y: Tensor
    y_mix: Tensor | None  # partner labels (mixup) or None
    s: Tensor | None  # per-sample mixing weight of the partner label, or None


class ClassAugment(nn.Module):
    """Per-class augmentation with learnable magnitude ``m`` (``[C]``); see the module docstring."""

    def __init__(self, num_classes: int, kind: str = "noise", init: float = 0.0, max_magnitude: float | None = None):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        check_choice(kind, AUGMENT_KINDS, "augment kind")
        if max_magnitude is None:
            max_magnitude = 1.0 if kind == "noise" else 0.5
        max_magnitude = check_float(max_magnitude, "max_magnitude", min=0.0, min_open=True)
        if kind == "mixup" and not 0 < max_magnitude <= 0.5:
            raise ValueError(f"mixup max_magnitude must lie in (0, 0.5], got {max_magnitude}")
        init = check_float(init, "augment init")
        if not 0.0 <= init <= max_magnitude:
            raise ValueError(f"augment init must lie in [0, max_magnitude={max_magnitude}], got {init}")
        self.kind = kind
        self.max_magnitude = float(max_magnitude)
        self.magnitude = nn.Parameter(torch.full((num_classes,), float(init)))

    def forward(self, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> AugmentedBatch:
        m = self.magnitude.to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)[y]
        if self.kind == "noise":
            eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=m.dtype)
            return AugmentedBatch(x + m.view((-1,) + (1,) * (x.dim() - 1)) * eps, y, None, None)
        n = x.shape[0]
        perm = torch.randperm(n, generator=generator, device=x.device)
        u = torch.rand(n, generator=generator, device=x.device, dtype=m.dtype)
        s = m * u
        sv = s.view((-1,) + (1,) * (x.dim() - 1))
        return AugmentedBatch((1 - sv) * x + sv * x[perm], y, y[perm], s)

    def mixed_loss(self, per_sample: Callable[[Tensor], Tensor], batch: AugmentedBatch) -> Tensor:
        """Mean loss over the batch; ``per_sample(labels)`` returns unreduced losses [N]."""
        if batch.y_mix is None:
            return per_sample(batch.y).mean()
        s = batch.s
        assert s is not None  # mixup batches carry their mixing weights
        return ((1 - s) * per_sample(batch.y) + s * per_sample(batch.y_mix)).mean()

    @torch.no_grad()
    def project(self) -> None:
        self.magnitude.clamp_(0.0, self.max_magnitude)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, max_magnitude={self.max_magnitude}"
