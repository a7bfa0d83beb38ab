"""Imbalance-aware classification losses. Each returns per-element values reduced explicitly
(see :mod:`acwa.losses.base`); each module has a functional twin."""
from .base import REDUCTIONS, BaseLoss, reduce_loss
from .focal import FocalLoss, focal_loss

__all__ = ["REDUCTIONS", "BaseLoss", "reduce_loss", "FocalLoss", "focal_loss"]
