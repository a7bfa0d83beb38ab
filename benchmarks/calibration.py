"""Calibration of re-balancing methods vs plain ``ce`` on a bench dataset, with and without the
test split's class prior passed as ``prior=`` (issue 26).

For each method and seed: train on the full training split (the bench recipe), predict the
test split, and score the test probabilities (log-loss, classwise ECE with 15 equal-mass bins,
Brier) in five ways:

* ``raw``: softmax of the logits;
* ``raw+prior``: :func:`acwa.posthoc.shift_prior` from the prior the method's outputs refer to
  (training frequencies for ce/focal; uniform for weighted-ce, balanced-sampler, la,
  la-posthoc) to the test prior;
* ``TS``: temperature scaling (:class:`acwa.posthoc.Calibrator`) fitted on 3-fold cross-fitted
  logits of the training split (:func:`acwa.posthoc.cross_fitted_logits`, 3 extra trainings);
* ``BCTS+prior``: bias-corrected temperature scaling (``Calibrator('bias')``) on the same
  out-of-fold logits (its outputs then refer to the training prior), ``predict_proba(prior=test
  prior)``;
* ``BCTS+EM``: the same with the test prior unknown, estimated by EM from the unlabeled test
  logits (``Calibrator.estimate_prior``).

The imbalance ratio defaults to 30 (not digits-lt's default, whose two singleton classes leave
some cross-fitting folds without a class, which inverse-frequency weights and log-priors refuse).

    python benchmarks/calibration.py                       # digits-lt rho 30, 3 seeds, 5 methods
    python benchmarks/calibration.py --seeds 1 --methods ce,la
    python benchmarks/calibration.py --dataset fashion-mnist-lt --max-train 4000 --seeds 1 --methods ce,weighted-ce,la
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from acwa.bench.execution import bench_tensors
from acwa.bench.registry import METHODS
from acwa.bench.runner import prepare_dataset
from acwa.bench.training import RunContext, default_recipe, predict_logits
from acwa.metrics import brier_score, classwise_ece, log_loss
from acwa.posthoc import Calibrator, cross_fitted_logits, shift_prior

UNIFORM_OUTPUTS = {"weighted-ce", "balanced-sampler", "la", "la-posthoc", "balanced-softmax", "oversample"}
WAYS = ("raw", "raw+prior", "TS", "BCTS+prior", "BCTS+EM")


def _logits(name, ds, X, y, X_out, recipe, seed):
    ctx = RunContext(ds, X, y, recipe, seed, {})
    fit = METHODS[name].fn(ctx)
    z = predict_logits(fit.model, X_out, recipe.eval_batch_size)
    return (fit.posthoc(z) if fit.posthoc is not None else z).double()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="digits-lt")
    ap.add_argument("--methods", default="ce,focal,weighted-ce,balanced-sampler,la")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--rho", type=float, help="imbalance ratio (digits-lt default here 30: every class keeps >= 3)")
    ap.add_argument("--max-train", type=int, help="keep a stratified training subset (quicker)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rho = 30.0 if args.rho is None and args.dataset == "digits-lt" else args.rho
    ds = prepare_dataset(args.dataset, rho=rho)
    if args.max_train is not None:
        ds = ds.subset(args.max_train, None, 0)
    recipe = default_recipe(ds)
    X_tr, y_tr, X_te, y_te = bench_tensors(ds)
    C = ds.num_classes
    train_prior = torch.bincount(y_tr, minlength=C).double() / y_tr.numel()
    test_prior = torch.bincount(y_te, minlength=C).double() / y_te.numel()
    print(
        f"{ds.name}: train counts {ds.train_counts.tolist()}, test counts {ds.test_counts.tolist()}, "
        f"{args.seeds} seeds, {recipe.epochs} epochs, {args.folds}-fold cross-fitted calibration"
    )
    start = time.perf_counter()
    table: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    em_err = {}
    for name in args.methods.split(","):
        for seed in range(args.seeds):
            z = _logits(name, ds, X_tr, y_tr, X_te, recipe, seed)
            oof = cross_fitted_logits(
                lambda tr, ho, name=name, seed=seed: _logits(
                    name, ds, X_tr[tr], y_tr[tr], X_tr[ho], recipe, seed
                ).float(),
                y_tr,
                num_folds=args.folds,
                seed=seed,
            ).double()
            source = None if name in UNIFORM_OUTPUTS else train_prior
            ts = Calibrator("temperature").fit(oof, y_tr)
            bcts = Calibrator("bias").fit(oof, y_tr)
            em = bcts.estimate_prior(z)
            em_err.setdefault(name, []).append(float((em - test_prior).abs().sum()))
            probs = {
                "raw": torch.softmax(z, 1),
                "raw+prior": torch.softmax(shift_prior(z, test_prior, source), 1),
                "TS": ts.predict_proba(z),
                "BCTS+prior": bcts.predict_proba(z, prior=test_prior),
                "BCTS+EM": bcts.predict_proba(z, prior=em / em.sum()),
            }
            for way, p in probs.items():
                table.setdefault((name, way), []).append(
                    (log_loss(p, y_te), classwise_ece(p, y_te), brier_score(p, y_te))
                )
    print(f"({time.perf_counter() - start:.0f} s)  mean over seeds; lower is better")
    print(f"{'method':18s} {'way':11s} {'log-loss':>9s} {'cw-ECE':>8s} {'Brier':>7s}")
    for (name, way), vals in table.items():
        m = np.mean(vals, 0)
        print(f"{name:18s} {way:11s} {m[0]:9.3f} {m[1]:8.4f} {m[2]:7.3f}")
    for name, errs in em_err.items():
        print(
            f"EM prior estimate, {name}: L1 error vs the test prior {np.mean(errs):.3f} (train prior's L1 error "
            f"{float((train_prior - test_prior).abs().sum()):.3f})"
        )


if __name__ == "__main__":
    main()
