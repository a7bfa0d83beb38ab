"""The results side of :class:`~acwa.autobalance.AutoBalance`: frozen copies of the tuned
loss and augmentation for a retrain phase, and per-class parameter summaries, either of the
last parameters or of the best ones seen (``keep_best``)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from acwa.autobalance.augment import ClassAugment
from acwa.autobalance.build import effective_params
from acwa.losses import ParametricCrossEntropyLoss

__all__ = ["TunedLoss"]


class TunedLoss:
    """Mixin of the tuner: needs ``loss``, ``augment``, ``hparams``, ``config`` and ``best_hparams``."""

    loss: ParametricCrossEntropyLoss
    augment: ClassAugment | None
    hparams: list[Any]
    config: Any
    best_hparams: list[Tensor]

    def _best_into(self, params: list[Tensor], offset: int) -> None:
        """Copy the best parameters seen (from position ``offset`` of :attr:`hparams`) into ``params``."""
        if self.config.keep_best and self.best_hparams:
            with torch.no_grad():
                for p, b in zip(params, self.best_hparams[offset:]):
                    p.copy_(b.to(p.device, p.dtype))

    def frozen_loss(self, best: bool = True) -> ParametricCrossEntropyLoss:
        """A copy of the tuned loss with ``requires_grad=False`` (for a retrain phase). With
        ``keep_best`` (and ``best=True``) it holds the best parameters seen, else the last."""
        loss = copy.deepcopy(self.loss)
        if best:
            self._best_into([p for p in loss.parameters() if p.requires_grad], 0)
        for p in loss.parameters():
            p.requires_grad_(False)
        return loss

    def frozen_augment(self, best: bool = True) -> ClassAugment | None:
        """A frozen copy of the per-class augmentation (best or last magnitudes, as :meth:`frozen_loss`)."""
        if self.augment is None:
            return None
        aug = copy.deepcopy(self.augment)
        if best:
            self._best_into([aug.magnitude], len(self.hparams) - 1)
        aug.magnitude.requires_grad_(False)
        return aug

    def effective_params(self) -> dict[str, Tensor]:
        """Current per-class ``delta`` (scale), ``iota``, ``weight`` (and ``augment``) tensors."""
        return effective_params(self.loss, self.augment)

    def best_params(self) -> dict[str, Tensor]:
        """Like :meth:`effective_params`, for the best parameters seen (the current ones when
        ``keep_best`` is off or no hyper-step was taken)."""
        return effective_params(self.frozen_loss(), self.frozen_augment())
