"""ACWA's per-batch bookkeeping against the peer that does the same job, and its cost on real models.

1. **Against torchmetrics.** For one batch of logits (N = 256), the extra time of each
   bookkeeping over the plain loss (``F.cross_entropy`` / ``F.binary_cross_entropy_with_logits``),
   forward only (a graph is recorded: the logits require grad):

   acwa         ``trainer.get_weighted_loss`` + ``trainer.update_metrics`` (value checks on)
   acwa-step    ``trainer.step_loss`` (the same, the batch checked once)
   torchmetrics ``MulticlassStatScores(average=None).update`` (Binary-/Multilabel- for the other
                tasks) + the class-weighted loss ``F.cross_entropy(weight=w)`` (BCE with per-element
                weights)

   at C = 10, 100, 1000, binary one-logit, and multi-label L = 100. Printed: each variant's median
   time per batch, the extra over plain, and ``acwa extra / torchmetrics extra`` (target <= 0.5).
2. **On real models.** A ResNet-style CNN (32x32x3 inputs, batch 64, 10 classes) and a 2-layer
   transformer encoder (sequence 64, batch 32, 10 classes): a plain training step (forward,
   cross-entropy, backward, SGD) against the same step with ``trainer.step_loss``, and a second
   plain variant as the A/A control (the run's noise floor). Target: ACWA inside the A/A band.

Every variant runs interleaved with the others, in blocks in a shuffled order, so machine noise
hits all alike; medians over blocks.

    python benchmarks/bookkeeping.py [--repeats 30] [--models-repeats 12] [--threads 2] [--skip-models]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from acwa import ACWATrainer


def interleaved(variants: dict[str, Callable[[], object]], repeats: int, block: int, seed: int = 0) -> dict:
    """Median seconds per call of each variant, blocks of ``block`` calls in a shuffled order."""
    rng = random.Random(seed)
    names = list(variants)
    for fn in variants.values():  # warm-up
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(repeats):
        rng.shuffle(names)
        for n in names:
            fn = variants[n]
            t0 = time.perf_counter()
            for _ in range(block):
                fn()
            times[n].append((time.perf_counter() - t0) / block)
    return {n: statistics.median(v) for n, v in times.items()}


def bookkeeping_variants(task: str, size: int, n: int = 256) -> dict[str, Callable[[], object]]:
    import torchmetrics.classification as tmc

    g = torch.Generator().manual_seed(0)
    if task == "multiclass":
        z = torch.randn(n, size, generator=g, requires_grad=True)
        y = torch.randint(0, size, (n,), generator=g)
        w = torch.rand(size, generator=g) + 0.5
        stats = tmc.MulticlassStatScores(num_classes=size, average=None)
        plain = lambda: F.cross_entropy(z, y)  # noqa: E731
        peer_loss = lambda: F.cross_entropy(z, y, weight=w)  # noqa: E731
        trainer = ACWATrainer(num_classes=size, update_freq=50)
    else:
        shape = (n,) if task == "binary" else (n, size)
        z = torch.randn(shape, generator=g, requires_grad=True)
        y = torch.randint(0, 2, shape, generator=g)
        yf = y.float()
        w = torch.rand(2 if task == "binary" else size, generator=g) + 0.5
        stats = tmc.BinaryStatScores() if task == "binary" else tmc.MultilabelStatScores(num_labels=size, average=None)
        plain = lambda: F.binary_cross_entropy_with_logits(z, yf)  # noqa: E731
        if task == "binary":
            peer_loss = lambda: F.binary_cross_entropy_with_logits(z, yf, weight=w[y])  # noqa: E731
        else:
            peer_loss = lambda: F.binary_cross_entropy_with_logits(z, yf, weight=1 + yf * (w - 1))  # noqa: E731
        trainer = ACWATrainer(task=task, num_classes=None if task == "binary" else size, update_freq=50)

    def acwa():
        trainer.get_weighted_loss(z, y)
        trainer.update_metrics(z, y)

    def peer():
        peer_loss()
        stats.update(z.detach(), y)

    return {"plain": plain, "acwa": acwa, "acwa-step": lambda: trainer.step_loss(z, y), "torchmetrics": peer}


class ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.skip(x))


def resnet_cnn(num_classes: int = 10) -> nn.Module:
    """A small ResNet for 32x32x3 inputs (ResNet-20 style widths 16/32/64, one block per stage)."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 1, 1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        ResidualBlock(16, 16, 1),
        ResidualBlock(16, 32, 2),
        ResidualBlock(32, 64, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, num_classes),
    )


class TextEncoder(nn.Module):
    """Embedding, a 2-layer transformer encoder (d 128, 4 heads), mean pooling, a linear head."""

    def __init__(self, vocab: int = 1000, d: int = 128, num_classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(d, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens)).mean(1))


def model_variants(kind: str) -> dict[str, Callable[[], object]]:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if kind == "resnet":
        model: nn.Module = resnet_cnn()
        x = torch.randn(64, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (64,), generator=g)
    else:
        model = TextEncoder()
        x = torch.randint(0, 1000, (32, 64), generator=g)
        y = torch.randint(0, 10, (32,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    trainer = ACWATrainer(num_classes=10, update_freq=20)

    def step(loss_fn):
        def run():
            loss = loss_fn(model(x))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return run

    return {
        "plain": step(lambda out: F.cross_entropy(out, y)),
        "plain (A/A)": step(lambda out: F.cross_entropy(out, y)),
        "acwa": step(lambda out: trainer.step_loss(out, y)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--block", type=int, default=20)
    parser.add_argument("--models-repeats", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-models", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s); per batch of 256, forward only; microseconds")
    print(f"{'case':>16} {'plain':>8} {'acwa':>8} {'step':>8} {'tm':>8} {'acwa+':>8} {'step+':>8} {'tm+':>8}"
          f" {'acwa+/tm+':>10} {'step+/tm+':>10}")  # fmt: skip
    for task, size in [
        ("multiclass", 10),
        ("multiclass", 100),
        ("multiclass", 1000),
        ("binary", 2),
        ("multilabel", 100),
    ]:
        t = interleaved(bookkeeping_variants(task, size), args.repeats, args.block)
        us = {k: v * 1e6 for k, v in t.items()}
        extra = {k: us[k] - us["plain"] for k in ("acwa", "acwa-step", "torchmetrics")}
        label = f"{task[:10]} {size}" if task != "binary" else "binary"
        print(
            f"{label:>16} {us['plain']:8.1f} {us['acwa']:8.1f} {us['acwa-step']:8.1f} {us['torchmetrics']:8.1f} "
            f"{extra['acwa']:8.1f} {extra['acwa-step']:8.1f} {extra['torchmetrics']:8.1f} "
            f"{extra['acwa'] / extra['torchmetrics']:10.2f} {extra['acwa-step'] / extra['torchmetrics']:10.2f}",
            flush=True,
        )
    if args.skip_models:
        return
    print("\nreal models, one training step (milliseconds, median over blocks of 3 steps)")
    for kind in ("resnet", "transformer"):
        t = interleaved(model_variants(kind), args.models_repeats, 3)
        ms = {k: v * 1e3 for k, v in t.items()}
        print(
            f"{kind:>12}: plain {ms['plain']:.2f}, acwa {ms['acwa']:.2f} (acwa/plain {ms['acwa'] / ms['plain']:.3f}), "
            f"A/A {ms['plain (A/A)'] / ms['plain']:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
