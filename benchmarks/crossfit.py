"""Cross-fitted class bias: which base, and post-hoc or at training time? One run per dataset.

For each base training method and seed, five fold models give out-of-fold logits of the whole
training split and a per-class bias ``b`` fitted on them by class-balanced log-loss (the bench's
``acwa.bench.recipes.crossfit_class_bias``: ``acwa.posthoc.cross_fitted_logits`` +
``fit_class_bias``). The script then scores on the test split:

    base        the base method trained on all the training data
    posthoc     that model's logits + b                    (``crossfit-bias`` on the wce base)
    train       a second full model trained on logits - b  (the bias as training-time logit
                offsets, predicted with raw logits; ``crossfit-la`` on the la base)
    oracle      base logits + a bias fitted on one half of the test split, scored on the other
                half (what any per-class bias could reach; uses test labels, for analysis only)

Bases: ``wce`` inverse-frequency weighted CE, ``la`` logit adjustment (tau 1), ``bs`` the
class-balanced sampler, ``sq`` the square-root sampler (class mass ~ sqrt n_c). Every model uses
the bench's model and recipe (``acwa.bench``). Folds see their own class counts.

    OMP_NUM_THREADS=1 python benchmarks/crossfit.py --dataset digits-lt --bases wce,la,bs [--seeds 0,1,2,3,4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from acwa.bench import Fit, RunContext, default_recipe, prepare_dataset
from acwa.bench.recipes import BaseTrainer, crossfit_class_bias
from acwa.bench.training import predict_logits
from acwa.metrics import balanced_accuracy
from acwa.posthoc import fit_class_bias
from acwa.sampling import ClassBalancedSampler
from acwa.weights import inverse_frequency

BASES = ("wce", "la", "bs", "sq")


def base_trainer(ctx: RunContext, base: str) -> BaseTrainer:
    """``train(indices, offsets)``: the base method on ``indices`` (None: all), its loss taken on
    ``logits + offsets`` when offsets are given."""
    C = ctx.num_classes

    def train(idx: np.ndarray | Tensor | None, offsets: Tensor | None = None) -> Fit:
        y = ctx.y if idx is None else ctx.y[torch.as_tensor(np.asarray(idx), dtype=torch.long)]
        counts = torch.bincount(y, minlength=C)
        shift = torch.zeros(C) if offsets is None else offsets
        weight, sampler = None, None
        if base == "wce":
            weight = inverse_frequency(counts, zero_counts="max").float()
        elif base == "la":
            shift = shift + torch.log(counts.clamp_min(1).double() / counts.sum()).float()
        elif base in ("bs", "sq"):
            sampler = ClassBalancedSampler(y, q=1.0 if base == "bs" else 0.5, seed=ctx.seed, num_classes=C)

        def loss(z: Tensor, t: Tensor) -> Tensor:  # sum_i w_{y_i} CE(z_i + shift) / N
            return (
                F.cross_entropy(z + shift.to(z), t, weight=None if weight is None else weight.to(z), reduction="sum")
                / t.numel()
            )

        return ctx.fit(loss, sampler=sampler, indices=idx)

    return train


def bacc(logits: Tensor, y: Tensor, C: int) -> float:
    return float(balanced_accuracy(logits.argmax(1), y, C))


def oracle_half(z: Tensor, y: Tensor, C: int, seed: int) -> float:
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    fit_idx, score_idx = perm[: len(y) // 2], perm[len(y) // 2 :]
    b = fit_class_bias(z[fit_idx], y[fit_idx], C)
    return bacc(z[score_idx] + b, y[score_idx], C)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits-lt")
    p.add_argument("--bases", default="wce,la,bs")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--folds", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(1)
    bases = [b.strip() for b in a.bases.split(",")]
    bad = [b for b in bases if b not in BASES]
    if bad:
        p.error(f"unknown base(s) {bad}; choose from {BASES}")
    ds = prepare_dataset(a.dataset)
    recipe = default_recipe(ds)
    X, y = torch.from_numpy(ds.X_train), torch.from_numpy(ds.y_train)
    X_test, y_test = torch.from_numpy(ds.X_test), torch.from_numpy(ds.y_test)
    C = ds.num_classes
    print(
        f"{a.dataset}: train counts {torch.bincount(y, minlength=C).tolist()}, folds {a.folds}, epochs {recipe.epochs}",
        flush=True,
    )
    for base in bases:
        rows = []
        for seed in (int(s) for s in a.seeds.split(",")):
            t0 = time.perf_counter()
            ctx = RunContext(ds, X, y, recipe, seed)
            train = base_trainer(ctx, base)
            b, _, _ = crossfit_class_bias(ctx, train, folds=a.folds)
            z = predict_logits(train(None).model, X_test, recipe.eval_batch_size)
            z_train = predict_logits(train(None, -b).model, X_test, recipe.eval_batch_size)
            rows.append(
                (bacc(z, y_test, C), bacc(z + b, y_test, C), bacc(z_train, y_test, C), oracle_half(z, y_test, C, seed))
            )
            print(
                f"  {base:3s} seed {seed}: base {rows[-1][0]:.4f}  posthoc {rows[-1][1]:.4f}  "
                f"train {rows[-1][2]:.4f}  oracle {rows[-1][3]:.4f}  ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
        m, s = np.mean(rows, 0), np.std(rows, 0, ddof=1) if len(rows) > 1 else np.zeros(4)
        print(
            f"{a.dataset} {base:3s} ({len(rows)} seeds): "
            + "  ".join(f"{k} {mu:.4f} ± {sd:.4f}" for k, mu, sd in zip(("base", "posthoc", "train", "oracle"), m, s)),
            flush=True,
        )


if __name__ == "__main__":
    main()
