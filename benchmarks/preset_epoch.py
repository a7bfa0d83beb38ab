"""Wall time per epoch of the ``ACWATrainer(mode="la-adaptive")`` preset against plain training.

Issue 8 asks that the recommended preset cost at most 1.05x plain training per epoch,
validation passes included (the preset has none: it reads its per-class recall from the
training batches' logits). Each dataset trains the bench's model (``acwa.bench.models``) with the
bench's recipe (Adam, its batch size); the two variants run epoch by epoch, interleaved, so
machine noise hits both alike, and the ratio of the median epoch times is printed.

    plain  F.cross_entropy(model(x), y)
    la     acwa.losses.LogitAdjustedLoss (the preset's static starting point, no bookkeeping)
    auto   trainer.get_weighted_loss(out, y) ... trainer.update_metrics(out, y)  (the README loop)

auto / la is ACWA's own cost. auto / plain also contains a CPU effect of the loss: logit-adjusted
training drives tail probabilities towards denormal floats, whose arithmetic is slow on x86 CPUs;
``--flush-denormal`` (``torch.set_flush_denormal(True)``) removes it.

    python benchmarks/preset_epoch.py [--datasets digits-lt,ecg5000,fashion-mnist-lt] [--epochs 9]
        [--max-train 3000] [--threads 1] [--flush-denormal]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from acwa import ACWATrainer
from acwa.bench.models import build_model
from acwa.bench.runner import prepare_dataset
from acwa.bench.training import default_recipe
from acwa.losses import LogitAdjustedLoss


def run_epoch(model, opt, X, y, batch_size, order, trainer=None, loss_fn=F.cross_entropy) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        if len(idx) < 2:
            continue
        xb, yb = X[idx], y[idx]
        out = model(xb)
        loss = trainer.get_weighted_loss(out, yb) if trainer is not None else loss_fn(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if trainer is not None:
            trainer.update_metrics(out.detach(), yb)
    return time.perf_counter() - t0


def measure(name: str, epochs: int, max_train: int) -> None:
    ds = prepare_dataset(name)
    recipe = default_recipe(ds)
    X, y = torch.from_numpy(ds.X_train)[:max_train], torch.from_numpy(ds.y_train)[:max_train]
    if len(y) == max_train:  # keep the long tail in a subset: a stratified pick
        keep = torch.cat(
            [
                torch.nonzero(torch.from_numpy(ds.y_train) == c).flatten()[
                    : max(1, int(n * max_train / len(ds.y_train)))
                ]
                for c, n in enumerate(ds.train_counts)
            ]
        )
        X, y = torch.from_numpy(ds.X_train)[keep], torch.from_numpy(ds.y_train)[keep]
    counts = torch.bincount(y, minlength=ds.num_classes)
    variants = {}
    for v in ("plain", "la", "auto"):
        torch.manual_seed(0)
        model = build_model(ds.modality, tuple(X.shape[1:]), ds.num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
        trainer = (
            ACWATrainer(num_classes=ds.num_classes, mode="la-adaptive", class_frequencies=counts)
            if v == "auto"
            else None
        )
        loss_fn = LogitAdjustedLoss(counts) if v == "la" else F.cross_entropy
        variants[v] = (model, opt, trainer, loss_fn, [])
    gen = torch.Generator().manual_seed(0)
    for epoch in range(epochs + 1):  # epoch 0 warms up every variant
        order = torch.randperm(len(y), generator=gen)
        names = list(variants) if epoch % 2 == 0 else list(reversed(variants))
        for v in names:
            model, opt, trainer, loss_fn, times = variants[v]
            t = run_epoch(model, opt, X, y, recipe.batch_size, order, trainer, loss_fn)
            if epoch > 0:
                times.append(t)
    med = {v: statistics.median(variants[v][-1]) for v in variants}
    print(
        f"{name:18s} n={len(y):6d} batch={recipe.batch_size:4d} ms/epoch: plain {med['plain'] * 1e3:7.1f}  "
        f"la {med['la'] * 1e3:7.1f}  auto {med['auto'] * 1e3:7.1f}   auto/plain {med['auto'] / med['plain']:.3f}  "
        f"auto/la {med['auto'] / med['la']:.3f}",
        flush=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="digits-lt,ecg5000,fashion-mnist-lt")
    p.add_argument("--epochs", type=int, default=9, help="timed epochs per variant (after one warm-up)")
    p.add_argument("--max-train", type=int, default=3000, help="stratified cap on training samples per epoch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True) first")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.flush_denormal:
        torch.set_flush_denormal(True)
    print(f"flush denormal: {a.flush_denormal}")
    for name in a.datasets.split(","):
        measure(name.strip(), a.epochs, a.max_train)


if __name__ == "__main__":
    main()
