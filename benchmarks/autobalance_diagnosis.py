"""Why AutoBalance's tuned loss ended below its logit-adjustment start: ``acwa.autobalance.fit``
(retrain mode, the paper's protocol) with one option changed at a time, in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/autobalance_diagnosis.py [--seeds 0 1 2]
        [--dataset digits-lt] [--variants old-last old-best ...]

``old-*`` are the defaults before the fix (``hyper_lr=0.02``, singleton classes scored by the
upper objective); ``new`` the current ones (``hyper_lr=0.005``, ``objective_exclude`` = the
singleton classes, ``keep_best``). Every variant trains the bench's model with the bench's
recipe (``acwa.bench.training``); ``la`` trains through ``RunContext.fit`` for reference.
Test splits are balanced: accuracy = balanced accuracy.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch

from acwa.autobalance import fit, predict
from acwa.bench.training import RunContext, default_recipe
from acwa.data import load_dataset
from acwa.losses import LogitAdjustedLoss

OLD = {"hyper_lr": 0.02, "objective_exclude": []}
VARIANTS: dict[str, dict | None] = {
    "la": None,
    "old-last": {**OLD, "keep_best": False},
    "old-best": dict(OLD),
    "no-hyper-step": {"warm_start": 0.999},
    "hyper_lr-0.005-only": {"hyper_lr": 0.005, "objective_exclude": []},
    "hyper_lr-0.002-only": {"hyper_lr": 0.002, "objective_exclude": []},
    "sgd-0.1-only": {"hyper_optimizer": "sgd", "hyper_lr": 0.1, "objective_exclude": []},
    "exclude-singletons-only": {"hyper_lr": 0.02},
    "new": {},
    "new-last": {"keep_best": False},
    "old-warm-start-0.8": {**OLD, "warm_start": 0.8},
    "old-warm-start-0": {**OLD, "warm_start": 0.0},
    "old-iota-only": {**OLD, "learn": ("iota",)},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="digits-lt")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", RuntimeWarning)
    ds = load_dataset(args.dataset, rho=100, seed=0)
    X, y = torch.as_tensor(ds.X_train), torch.as_tensor(ds.y_train).long()
    Xt, yt = torch.as_tensor(ds.X_test), torch.as_tensor(ds.y_test).long()
    C, recipe = ds.num_classes, default_recipe(ds)
    print(f"## {args.dataset}: train {torch.bincount(y, minlength=C).tolist()}; recipe {recipe.to_dict()}")
    print("\n| variant of fit (retrain mode) | balanced accuracy | hyper-steps | iota range (last, seed 0) |")
    print("|---|---|---|---|")
    for name in args.variants:
        accs, steps, spread = [], [], ""
        for seed in args.seeds:
            ctx = RunContext(ds, X, y, recipe, seed)
            options = VARIANTS[name]
            if options is None:
                model = ctx.fit(LogitAdjustedLoss(ctx.counts, tau=1.0)).model
            else:
                res = fit(
                    ctx.build_model(),
                    X,
                    y,
                    num_classes=C,
                    epochs=recipe.epochs,
                    batch_size=recipe.batch_size,
                    lr=recipe.lr,
                    optimizer=recipe.optimizer,
                    weight_decay=recipe.weight_decay,
                    schedule=recipe.schedule,
                    seed=seed,
                    **options,
                )
                model = res.model
                steps.append(res.tuner.hyper_steps)
                if seed == args.seeds[0]:
                    iota = res.tuner.frozen_loss().effective()[1]
                    spread = f"{float(iota.max() - iota.min()):.2f}"
            p = predict(model, Xt)
            accs.append(float(np.mean([(p[yt == c] == c).float().mean().item() for c in range(C)])))
        hs = f"{np.mean(steps):.0f}" if steps else "-"
        print(f"| {name} | {np.mean(accs):.4f} ± {np.std(accs):.4f} | {hs} | {spread or '-'} |", flush=True)


if __name__ == "__main__":
    main()
