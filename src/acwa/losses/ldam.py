"""LDAM loss, its cosine classifier head, and the deferred re-weighting (DRW) schedule
(Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
NeurIPS 2019).

    m_c = max_margin * n_c^{-1/4} / max_k n_k^{-1/4}          (largest margin: the rarest class)
    l_i = -w_{y_i} log softmax(s * (f(x_i) - m_{y_i} e_{y_i}))_{y_i}

where ``e_y`` is the one-hot vector of the target: only the target logit is lowered by its
class margin. ``f`` should be cosine logits in ``[-1, 1]`` (:class:`NormedLinear`), which the
scale ``s`` (default 30) stretches. DRW trains with plain (unit) weights until
``start_epoch`` and with effective-number weights (beta 0.9999) afterwards: the paper's
CIFAR recipe switches at epoch 160 of 200.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from acwa._internal.validation import check_float, check_int
from acwa.losses.base import LossBatch, Unpack, class_dim_view, counts_vector, functional_twin
from acwa.losses.cross_entropy import CEOptions, LogitTransformLoss
from acwa.weights import effective_number

__all__ = ["ldam_margins", "ldam_loss", "LDAMLoss", "NormedLinear", "drw_weights", "DeferredReweighting"]

FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def ldam_margins(class_counts, max_margin: float = 0.5) -> Tensor:
    """Per-class margins ``m_c ∝ n_c^{-1/4}`` scaled so the largest is ``max_margin`` (float ``[C]``)."""
    max_margin = check_float(max_margin, "max_margin", min=0.0, max=FLOAT32_MAX / 2, hint="0.5 in Cao et al. 2019")
    n = counts_vector(class_counts)
    m = n.pow(-0.25)
    m = m * (max_margin / m.max())
    return m.to(torch.get_default_dtype())


class LDAMLoss(LogitTransformLoss):
    """Label-distribution-aware margin loss (Cao et al., NeurIPS 2019; formula in the module doc).

    Args:
        class_counts: training-set samples per class ``[C]``, all > 0.
        max_margin: margin of the rarest class (default 0.5); ``m_c ∝ n_c^{-1/4}``.
        scale: logit scale ``s`` (default 30.0), meant for cosine logits from :class:`NormedLinear`.
        weight: per-class weights ``[C]``; set them per epoch with :class:`DeferredReweighting`.
        ignore_index: target value excluded from the loss and from N (default -100).
        reduction: ``'mean'`` (default: / number of counted samples), ``'sum'``, ``'none'`` or
            ``'weighted_mean'`` (/ sum of the samples' weights).
        label_smoothing: smoothing ``eps`` of the CE target (default 0).

    The margins are the buffer :attr:`margins`. Soft targets ``q`` lower each logit by
    ``m_c q_ic`` (the one-hot case is the paper's ``m_y e_y``).
    """

    repr_fields = ("max_margin", "scale")
    margins: Tensor

    def __init__(
        self, class_counts, max_margin: float = 0.5, scale: float = 30.0, **options: Unpack[CEOptions]
    ) -> None:
        super().__init__(**options)
        self.scale = check_float(scale, "scale", min=0.0, min_open=True, max=1e6, hint="30 in Cao et al. 2019")
        self.register_buffer("margins", ldam_margins(class_counts, max_margin))
        self.max_margin = float(max_margin)

    def class_vectors(self) -> dict[str, Tensor | None]:
        return {**super().class_vectors(), "class_counts": self.margins}

    def transform(self, batch: LossBatch) -> Tensor:
        z = batch.logits
        if batch.soft:
            return self.scale * (z - class_dim_view(self.margins, z) * batch.target)
        index = batch.target.unsqueeze(1)  # [N, 1, d1, ...]
        m_y = self.margins.to(device=z.device, dtype=z.dtype)[index]
        # lower only the target logit by its class margin, then scale
        return self.scale * z.scatter(1, index, z.gather(1, index) - m_y)


ldam_loss = functional_twin(
    LDAMLoss, "ldam_loss", "``CE(s * (f - m_y e_y), y)`` (margins recomputed from ``class_counts`` on each call)."
)


class NormedLinear(nn.Module):
    """Cosine classifier head: ``f_c(x) = <x / ||x||, W_c / ||W_c||>`` in ``[-1, 1]`` (no bias).

    The head LDAM was designed for (Cao et al. 2019). ``weight`` has shape
    ``[num_classes, in_features]`` (the :class:`torch.nn.Linear` layout).
    """

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        in_features = check_int(in_features, "in_features", min=1)
        num_classes = check_int(num_classes, "num_classes", min=1)
        self.in_features, self.num_classes = in_features, num_classes
        self.weight = nn.Parameter(torch.empty(num_classes, in_features).uniform_(-1.0, 1.0))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(F.normalize(x, dim=-1), F.normalize(self.weight, dim=1))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}"


def _check_epoch(value, name: str) -> int:
    return check_int(value, name, min=0, hint="epochs count from 0")


def drw_weights(
    class_counts,
    epoch: int,
    start_epoch: int = 160,
    beta: float = 0.9999,
    normalize: str | None = "sum_to_C",
) -> Tensor:
    """DRW class weights at ``epoch`` (0-based): all 1 while ``epoch < start_epoch``, then
    :func:`acwa.weights.effective_number` weights with ``beta`` (Cao et al. 2019)."""
    return DeferredReweighting(class_counts, start_epoch, beta, normalize).weights(epoch)


class DeferredReweighting:
    """Deferred re-weighting schedule (Cao et al. 2019): per-epoch class weights.

    ``w(epoch) = 1`` for ``epoch < start_epoch`` (0-based epochs) and the effective-number
    weights ``(1 - beta) / (1 - beta^{n_c})`` (normalised by ``normalize``, default
    ``'sum_to_C'``) from ``start_epoch`` on. Defaults follow the CIFAR recipe: switch at epoch
    160 of 200, ``beta = 0.9999``.

    Use::

        drw = DeferredReweighting(counts, start_epoch=160)
        loss_fn = LDAMLoss(counts)
        for epoch in range(200):
            drw.apply(loss_fn, epoch)        # sets loss_fn.weight
            ...
    """

    def __init__(
        self, class_counts, start_epoch: int = 160, beta: float = 0.9999, normalize: str | None = "sum_to_C"
    ) -> None:
        self.start_epoch = _check_epoch(start_epoch, "start_epoch")
        self.beta = beta
        counts = counts_vector(class_counts)
        self.num_classes = counts.numel()
        self.late_weights = effective_number(counts, beta=beta, normalize=normalize)
        self.early_weights = torch.ones_like(self.late_weights)

    def weights(self, epoch: int) -> Tensor:
        """Class weights ``[C]`` to use during ``epoch`` (a new tensor, default float dtype, CPU)."""
        _check_epoch(epoch, "epoch")
        return (self.late_weights if epoch >= self.start_epoch else self.early_weights).clone()

    __call__ = weights

    def apply(self, loss_fn: nn.Module, epoch: int) -> Tensor:
        """Set ``loss_fn.weight`` (any :mod:`acwa.losses` module) to :meth:`weights` ``(epoch)``,
        on the device of the loss's buffers; returns the weights."""
        if not hasattr(loss_fn, "weight"):
            raise ValueError(
                "loss_fn must have a per-class 'weight' attribute (an acwa.losses module), "
                f"got {type(loss_fn).__name__}"
            )
        w = self.weights(epoch)
        current = loss_fn.weight
        if isinstance(current, nn.Parameter):  # e.g. ParametricCrossEntropyLoss: overwrite in place
            if current.shape != w.shape:
                raise ValueError(
                    f"loss_fn.weight has shape {tuple(current.shape)}, the schedule gives {tuple(w.shape)}"
                )
            with torch.no_grad():
                current.copy_(w)
            return current
        device = next(loss_fn.buffers(), w).device if isinstance(loss_fn, nn.Module) else w.device
        loss_fn.weight = w.to(device)
        return loss_fn.weight

    def __repr__(self) -> str:
        return f"DeferredReweighting(num_classes={self.num_classes}, start_epoch={self.start_epoch}, beta={self.beta})"
