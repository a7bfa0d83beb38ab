"""Run a model over a loader: the one evaluation loop (used by
:meth:`acwa.ACWATrainer.update_from_validation`, usable on its own)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["evaluate", "logits_of", "model_device"]


def logits_of(outputs: Any) -> Tensor:
    """Logits from a tensor, a Hugging Face style output (``.logits``) or a tuple (first item)."""
    if isinstance(outputs, Tensor):
        return outputs
    logits = getattr(outputs, "logits", None)
    if isinstance(logits, Tensor):
        return logits
    if isinstance(outputs, (tuple, list)) and outputs and isinstance(outputs[0], Tensor):
        return outputs[0]
    raise ValueError(f"outputs must be a logits tensor [N, C] (or have a .logits tensor), got {type(outputs).__name__}")


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (CPU for a model without tensors)."""
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def evaluate(
    model: nn.Module, loader: Iterable[Any], device: torch.device | str | None = None
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(logits, labels)`` for every ``(inputs, labels)`` batch of ``loader``, with the
    model in eval mode and gradients off; the model's training mode is restored afterwards
    (also when the caller stops early). Inputs and labels are moved to ``device`` (default:
    the model's device)."""
    target = torch.device(device) if device is not None else model_device(model)
    was_training = model.training
    model.eval()
    try:
        for batch in loader:
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                raise ValueError(f"loader batches must be (inputs, labels) pairs, got {type(batch).__name__}")
            inputs, labels = batch[0], batch[1]
            with torch.no_grad():
                out = model(inputs.to(target))
            yield logits_of(out), labels.to(target)
    finally:
        model.train(was_training)
