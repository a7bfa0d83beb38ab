"""Builders used by :class:`~acwa.autobalance.AutoBalance`: the parametric loss from the
validated config (LA initialisation, frequency-rank slot sharing), the hyper-optimiser, and the
per-class parameter summary."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from acwa.autobalance.augment import ClassAugment
from acwa.autobalance.checks import frequency_rank_groups
from acwa.autobalance.config import AutoBalanceConfig
from acwa.losses import ParametricCrossEntropyLoss

__all__ = ["build_loss", "build_hyper_optimizer", "model_device", "effective_params"]


def build_loss(num_classes: int, cfg: AutoBalanceConfig, device: torch.device) -> ParametricCrossEntropyLoss:
    counts = None
    if cfg.class_counts is not None:
        counts = torch.as_tensor(cfg.class_counts, dtype=torch.float64)
        if counts.dim() != 1 or counts.numel() != num_classes:
            raise ValueError(f"class_counts must have one entry per class ({num_classes}), got {list(counts.shape)}")
        if not bool(torch.isfinite(counts).all()) or bool((counts < 0).any()):
            raise ValueError(f"class_counts must be finite and >= 0, got {counts.tolist()}")
    param_index = None
    if cfg.share_slots is not None:
        if counts is None:
            raise ValueError("share_slots needs class_counts (training counts) to rank classes by frequency")
        if cfg.la_tau is not None:
            raise ValueError("share_slots and la_tau cannot be combined (LA init needs one slot per class)")
        param_index = frequency_rank_groups(counts, cfg.share_slots)
    if cfg.la_tau is not None and counts is None:
        raise ValueError("la_tau (logit-adjustment init) needs class_counts")
    return ParametricCrossEntropyLoss(
        num_classes,
        num_groups=cfg.num_groups,
        param_index=param_index,
        delta_transform=cfg.delta_transform,
        class_counts=counts.tolist() if (cfg.la_tau is not None and counts is not None) else None,
        la_tau=cfg.la_tau,
        learn=cfg.learn,
    ).to(device)


def build_hyper_optimizer(cfg: AutoBalanceConfig, hparams: list[nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.hyper_optimizer == "sgd":
        return torch.optim.SGD(hparams, lr=cfg.hyper_lr, momentum=cfg.hyper_momentum)
    if cfg.hyper_optimizer == "adam":
        return torch.optim.Adam(hparams, lr=cfg.hyper_lr)
    assert callable(cfg.hyper_optimizer)  # the config accepts 'sgd', 'adam' or a callable
    return cfg.hyper_optimizer(hparams)


def model_device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def effective_params(loss: ParametricCrossEntropyLoss, augment: ClassAugment | None) -> dict[str, Tensor]:
    d, i, w = loss.effective()
    out = {"delta": d.detach().clone(), "iota": i.detach().clone(), "weight": w.detach().clone()}
    if augment is not None:
        out["augment"] = augment.magnitude.detach().clone()
    return out
