"""The contract between a user's model and :mod:`acwa.heads`: a ``features`` / ``head`` pair.

A model ``m`` fits the decoupled methods when its logits are ``head(features(x))`` with a
linear ``head`` (``nn.Linear(d, C)``; ``nn.Linear(d, 1)`` for a one-logit binary model; one
column per label for multi-label data). Three ways to give it:

* ``model.features`` and ``model.head`` attributes (the bench's models, many timm/torchvision
  wrappers after a rename);
* ``model.features`` and ``model.fc`` / ``model.classifier`` (torchvision ResNets expose
  ``fc``; pass ``features_fn`` there, since a ResNet has no ``features`` module);
* a user-given ``features_fn(x) -> [n, d]`` and ``head`` (an ``nn.Linear``).

:func:`extract_features` runs ``features_fn`` once over the inputs in eval mode without
gradients; the heads are then fitted on the ``[N, d]`` feature matrix, so a head method costs
one pass over the data plus a few cheap epochs on vectors. :class:`HeadModel` puts the pieces
back together: ``head(features(x)) + bias``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["split_model", "extract_features", "HeadModel", "label_task", "check_features"]

FeaturesFn = Callable[[Tensor], Tensor]


def split_model(model: nn.Module) -> tuple[FeaturesFn, nn.Linear]:
    """``(features, head)`` of ``model``: its ``features`` module and its linear ``head`` (or
    ``fc`` / ``classifier``). ``ValueError`` with the fix when the model has no such pair."""
    features = getattr(model, "features", None)
    head = next(
        (getattr(model, n) for n in ("head", "fc", "classifier") if isinstance(getattr(model, n, None), nn.Linear)),
        None,
    )
    if not callable(features) or head is None:
        raise ValueError(
            f"model ({type(model).__name__}) must expose a features module and a linear head as "
            "model.features and model.head (or model.fc / model.classifier, an nn.Linear); otherwise "
            "pass features_fn=... (x -> [n, d] features) and head=nn.Linear(d, C)"
        )
    return features, head


@torch.no_grad()
def extract_features(
    features_fn: FeaturesFn, X: Tensor, batch_size: int = 1024, module: nn.Module | None = None
) -> Tensor:
    """``features_fn(X)`` as a float32 ``[N, d]`` matrix on the CPU, computed in batches of
    ``batch_size`` without gradients; ``module`` (default ``features_fn`` when it is a module) is
    put in eval mode for the pass (BatchNorm and dropout frozen) and restored afterwards."""
    if not callable(features_fn):
        raise ValueError(f"features_fn must be callable (x -> [n, d] features), got {type(features_fn).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    target = module if module is not None else (features_fn if isinstance(features_fn, nn.Module) else None)
    was = target.training if target is not None else False
    if target is not None:
        target.eval()
    try:
        parts = [features_fn(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]
    finally:
        if target is not None:
            target.train(was)
    if not parts:
        raise ValueError("X is empty: extract_features needs at least one sample")
    out = torch.cat([p.reshape(p.shape[0], -1) for p in parts]).detach().float().cpu()
    return check_features(out)


def check_features(features: Any, name: str = "features") -> Tensor:
    """``features`` as a finite float ``[N, d]`` tensor, else ``ValueError`` naming ``name``."""
    f = torch.as_tensor(features)
    if f.dim() != 2 or f.shape[0] == 0 or f.shape[1] == 0 or not f.is_floating_point():
        raise ValueError(f"{name} must be a non-empty float matrix [N, d], got {f.dtype} {list(f.shape)}")
    if not bool(torch.isfinite(f).all()):
        raise ValueError(f"{name} holds NaN/Inf values; check the backbone's outputs")
    return f


def label_task(labels: Any, num_outputs: int, name: str = "labels") -> tuple[str, Tensor]:
    """``(task, labels)`` for a head with ``num_outputs`` logits: ``'multiclass'`` (class ids
    ``[N]``, ``num_outputs = C >= 2``), ``'binary'`` (ids in {0, 1}, one logit) or
    ``'multilabel'`` (multi-hot ``[N, L]``, ``L = num_outputs``). One-hot rows are refused
    (pass ``labels.argmax(1)``)."""
    y = torch.as_tensor(labels).detach().cpu()
    if y.dim() == 2:
        if not bool(((y == 0) | (y == 1)).all()):
            raise ValueError(f"{name} [N, L] must be multi-hot (0/1); soft rows are not supported by the heads")
        if y.shape[1] != num_outputs:
            raise ValueError(f"{name} has {y.shape[1]} columns but the head has {num_outputs} outputs (one per label)")
        if y.shape[1] > 1 and bool((y.sum(1) == 1).all()):
            raise ValueError(
                f"{name} holds one-hot rows (exactly one 1 per row): pass class ids {name}.argmax(1) for a "
                "multi-class problem; multi-hot [N, L] labels mean multi-label data"
            )
        return "multilabel", y.long()
    if y.dim() != 1 or y.numel() == 0 or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"{name} must be integer class ids [N] or multi-hot [N, L], got {y.dtype} {list(y.shape)}")
    y = y.long()
    if int(y.min()) < 0 or int(y.max()) >= max(num_outputs, 2):
        raise ValueError(f"{name} must lie in [0, {max(num_outputs, 2)}) for a head with {num_outputs} output(s)")
    return ("binary" if num_outputs == 1 else "multiclass"), y


class HeadModel(nn.Module):
    """``head(features(x)) + bias``: a backbone with a decoupled head and an optional post-hoc
    logit correction ``bias`` (``[C]``; for one logit, ``-threshold``), as returned by
    :func:`acwa.auto.select_head`."""

    def __init__(self, features: FeaturesFn, head: nn.Module, bias: Tensor | None = None) -> None:
        super().__init__()
        self.features = features if isinstance(features, nn.Module) else _Function(features)
        self.head = head
        self.register_buffer("bias", None if bias is None else torch.as_tensor(bias, dtype=torch.float32).clone())

    def forward(self, x: Tensor) -> Tensor:
        z = self.head(self.features(x))
        return z if self.bias is None else z + self.bias.to(z.device)


class _Function(nn.Module):
    """A plain callable as a module (a user's ``features_fn``)."""

    def __init__(self, fn: FeaturesFn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)
