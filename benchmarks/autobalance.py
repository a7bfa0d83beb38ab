"""AutoBalance vs CE, logit adjustment and VS: balanced accuracy and training cost, one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/autobalance.py [--seeds 0 1 2]
        [--datasets digits-lt fashion-mnist-lt] [--fashion-fraction 0.1667] [--test-per-class 200]

Every method trains the same model (acwa.bench.models, initialised from the seed) with the
bench's recipe (acwa.bench.training.default_recipe: optimiser, lr, epochs, batch size, cosine
schedule). CE, LA (Menon et al. 2021, tau=1) and VS (Kini et al. 2021, gamma=0.3, tau=1) train
through acwa.bench.RunContext.fit on the whole training split; AutoBalance through
acwa.autobalance.fit, which carves a stratified 20% validation split out of the same training
split (the test split is never seen). ``autobalance`` continues training during the search
(cost ~ one run); ``autobalance-retrain`` (with --retrain) retrains from the initial
weights on the whole training split (train+val) with the tuned loss frozen (the paper's protocol,
cost ~ two runs). Both take the hypergradient through the classifier head (``hyper_params='last'``,
the ``fit`` default); ``autobalance-full`` (with --full-ift) through every model parameter.
``--ablation`` adds ``autobalance-notune`` / ``autobalance-retrain-notune``: the same protocols
with no hyper-step (the LA-initialised loss is never changed), to isolate what tuning adds.

Cost ratio = AutoBalance wall time / plain-training wall time for the same epochs, per seed, in
this run (against CE, and against the mean of CE, LA and VS, which cost the same and smooth out
the noise of a shared CPU); an untimed warm-up run goes first.
Test splits are balanced, so accuracy = balanced accuracy (computed as mean per-class recall).
Fashion-MNIST-LT can be run on a per-class subset of the LT-100 training split
(``--fashion-fraction``; the profile, rho = 100, is kept) to fit the shared 2-core CPU.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from acwa.autobalance import fit as autobalance_fit
from acwa.autobalance import predict
from acwa.bench.training import RunContext, default_recipe
from acwa.data import load_dataset
from acwa.losses import LogitAdjustedLoss, VSLoss


def balanced_accuracy(model, X, y, C):
    p = predict(model, X)
    return float(np.mean([(p[y == c] == c).float().mean().item() for c in range(C)]))


def subset_per_class(ds, fraction, seed):
    y = np.asarray(ds.y_train)
    rng = np.random.default_rng(seed)
    keep = []
    for c in range(ds.num_classes):
        idx = np.flatnonzero(y == c)
        k = max(2, int(round(fraction * idx.size)))
        keep.append(rng.choice(idx, size=k, replace=False))
    keep = np.sort(np.concatenate(keep))
    return ds.X_train[keep], ds.y_train[keep]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--datasets", nargs="+", default=["digits-lt", "fashion-mnist-lt"])
    ap.add_argument("--fashion-fraction", type=float, default=1 / 6)
    ap.add_argument("--test-per-class", type=int, default=200)
    ap.add_argument("--retrain", action="store_true", help="also run autobalance-retrain (the paper's protocol)")
    ap.add_argument(
        "--full-ift",
        action="store_true",
        help="also run autobalance-full: hypergradient through all model parameters (hyper_params=None)",
    )
    ap.add_argument(
        "--ablation",
        action="store_true",
        help="also run autobalance(-retrain)-notune: the same protocol with no hyper-step (LA init kept)",
    )
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", RuntimeWarning)

    for name in args.datasets:
        kw = {"test_per_class": args.test_per_class} if name == "fashion-mnist-lt" else {}
        ds = load_dataset(name, rho=100, seed=0, **kw)
        Xtr, ytr = ds.X_train, ds.y_train
        note = ""
        if name == "fashion-mnist-lt" and args.fashion_fraction < 1:
            Xtr, ytr = subset_per_class(ds, args.fashion_fraction, 0)
            note = f" (subset: {args.fashion_fraction:.3f} of each class of the LT-100 train split)"
        X, y = torch.as_tensor(Xtr), torch.as_tensor(ytr).long()
        Xt, yt = torch.as_tensor(ds.X_test), torch.as_tensor(ds.y_test).long()
        recipe = default_recipe(ds, epochs=args.epochs)
        counts = torch.bincount(y, minlength=ds.num_classes)
        print(f"\n## {name}, rho=100{note}: train {len(y)} {counts.tolist()}, test {len(yt)} (balanced)")
        print(f"recipe: {recipe.to_dict()}")
        methods = ["ce", "la", "vs", "autobalance"] + (["autobalance-retrain"] if args.retrain else [])
        methods += ["autobalance-full"] if args.full_ift else []
        methods += ["autobalance-notune", "autobalance-retrain-notune"] if args.ablation else []
        # untimed warm-up (first-call allocations and thread-pool start would bill the first method)
        RunContext(ds, X[:64], y[:64], default_recipe(ds, epochs=1), 0).fit()
        acc = {m: [] for m in methods}
        secs = {m: [] for m in methods}
        for seed in args.seeds:
            ctx = RunContext(ds, X, y, recipe, seed)
            for m in methods:
                t0 = time.perf_counter()
                if m == "ce":
                    model = ctx.fit().model
                elif m == "la":
                    model = ctx.fit(LogitAdjustedLoss(ctx.counts, tau=1.0)).model
                elif m == "vs":
                    model = ctx.fit(VSLoss(ctx.counts, gamma=0.3, tau=1.0)).model
                else:
                    res = autobalance_fit(
                        ctx.build_model(),
                        X,
                        y,
                        num_classes=ds.num_classes,
                        epochs=recipe.epochs,
                        batch_size=recipe.batch_size,
                        lr=recipe.lr,
                        optimizer=recipe.optimizer,
                        weight_decay=recipe.weight_decay,
                        schedule=recipe.schedule,
                        seed=seed,
                        mode="retrain" if "retrain" in m else "continue",
                        hyper_params=None if m.endswith("full") else "last",
                        # no tuning: hyper-steps would start after the last epoch
                        **({"warm_start_epochs": recipe.epochs} if m.endswith("notune") else {}),
                    )
                    model = res.model
                secs[m].append(time.perf_counter() - t0)
                acc[m].append(balanced_accuracy(model, Xt, yt, ds.num_classes))
                print(f"  seed {seed} {m:20s} bal.acc {acc[m][-1]:.4f}  {secs[m][-1]:6.1f}s", flush=True)
        plain = np.mean([secs[m] for m in ("ce", "la", "vs")], axis=0)  # per seed: plain training
        print(
            f"\n| method | balanced accuracy (mean ± sd over seeds {args.seeds}) | train time (s, mean) "
            "| cost / CE | cost / plain (mean of CE, LA, VS) |"
        )
        print("|---|---|---|---|---|")
        for m in methods:
            r_ce = np.mean(np.array(secs[m]) / np.array(secs["ce"]))
            r_plain = np.mean(np.array(secs[m]) / plain)
            cells = f"{np.mean(acc[m]):.4f} ± {np.std(acc[m]):.4f} | {np.mean(secs[m]):.1f}"
            print(f"| {m} | {cells} | {r_ce:.2f}x | {r_plain:.2f}x |")


if __name__ == "__main__":
    main()
