"""Which out-of-fold criterion picks the test-best candidate most often? (issue 19)

For each seed, every candidate of ``acwa.auto`` is cross-fitted on the training split (its
out-of-fold logits, exactly as ``select_method`` computes them) and trained once on the whole
training split and scored on the test split. Then several selection criteria are evaluated on
the same out-of-fold logits, and for each: how often it picks the test-best candidate and its
mean regret (test score of the test-best candidate minus the picked one's).

Criteria (higher is better; ``n_c`` the class's training samples, ``r_c`` its OOF recall):

* ``raw``: the OOF balanced accuracy ``mean_c r_c`` (the current selection);
* ``shrunk-k``: ``mean_c (tp_c + k m) / (n_c + k)`` with ``m`` the candidate's pooled OOF
  accuracy: each class's recall shrunk toward the pooled rate by ``k`` pseudo-samples, so a
  class with 2 samples cannot swing the choice by 0.5 / C;
* ``corrected``: the OOF balanced accuracy after the cross-fitted per-class bias;
* ``balanced-nll``: minus the class-balanced log-loss of the OOF probabilities.

    OMP_NUM_THREADS=1 python benchmarks/auto_criteria.py --dataset ecg5000 --seeds 0 1 2 3 4 --save /tmp/ecg.pt
    python benchmarks/auto_criteria.py --load /tmp/ecg.pt      # re-score saved logits only

The model, recipe and data are the bench's (``acwa.bench``), as in ``acwa bench --dataset D``.
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import torch

from acwa.auto import DEFAULT_CANDIDATES, method_recipe
from acwa.bench import RunContext, default_recipe, prepare_dataset
from acwa.bench.execution import bench_tensors
from acwa.bench.training import predict_logits
from acwa.posthoc import cross_fitted_logits, fit_class_bias
from acwa.splits import stratified_folds


def balanced_accuracy(logits: torch.Tensor, y: torch.Tensor, C: int) -> float:
    pred = logits.argmax(1)
    return statistics.fmean(float((pred[y == c] == c).double().mean()) for c in range(C) if (y == c).any())


def shrunk(logits: torch.Tensor, y: torch.Tensor, C: int, k: float) -> float:
    hit = (logits.argmax(1) == y).double()
    m = float(hit.mean())
    return statistics.fmean(
        (float(hit[y == c].sum()) + k * m) / (int((y == c).sum()) + k) for c in range(C) if (y == c).any()
    )


def corrected(z: torch.Tensor, y: torch.Tensor, C: int, folds: torch.Tensor) -> float:
    adjusted = z.clone()
    for k in torch.unique(folds).tolist():
        rows = folds == k
        adjusted[rows] = z[rows] + fit_class_bias(z[~rows], y[~rows], C)
    return balanced_accuracy(adjusted, y, C)


def per_fold(z: torch.Tensor, y: torch.Tensor, C: int, folds: torch.Tensor) -> list[float]:
    return [balanced_accuracy(z[folds == k], y[folds == k], C) for k in torch.unique(folds).tolist()]


def default_unless_beaten(oof: dict, y: torch.Tensor, C: int, folds: torch.Tensor, default: str, t: float) -> str:
    """The raw OOF winner, unless its per-fold gain over ``default`` is under ``t`` standard errors."""
    raw = {m: balanced_accuracy(z, y, C) for m, z in oof.items()}
    winner = max(raw, key=lambda m: raw[m])
    if winner == default or default not in oof:
        return winner
    d = [a - b for a, b in zip(per_fold(oof[winner], y, C, folds), per_fold(oof[default], y, C, folds))]
    se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else 0.0
    return winner if statistics.fmean(d) > t * se else default


def balanced_nll(z: torch.Tensor, y: torch.Tensor, C: int) -> float:
    nll = -torch.log_softmax(z.double(), 1)[torch.arange(len(y)), y]
    return -statistics.fmean(float(nll[y == c].mean()) for c in range(C) if (y == c).any())


def collect(dataset: str, seeds: list[int], folds: int, candidates: list[str]) -> list[dict]:
    ds = prepare_dataset(dataset)
    X, y, X_te, y_te = bench_tensors(ds)
    recipe = default_recipe(ds)
    out = []
    for seed in seeds:
        ctx = RunContext(ds, X, y, recipe, seed)
        row: dict = {"seed": seed, "y": y, "folds": torch.from_numpy(stratified_folds(y, folds, seed)), "oof": {}}
        row["test"] = {}
        for method in candidates:

            def fold_fn(train_idx, heldout_idx, method=method, seed=seed, ctx=ctx):
                r = method_recipe(method, y[train_idx], ds.num_classes, seed=seed)
                fit = ctx.fit(r.loss, indices=train_idx, sampler=r.sampler)
                return predict_logits(fit.model, X[heldout_idx])

            row["oof"][method] = cross_fitted_logits(fold_fn, y, num_folds=folds, seed=seed)
            r = method_recipe(method, y, ds.num_classes, seed=seed)
            full = ctx.fit(r.loss, sampler=r.sampler)
            row["test"][method] = balanced_accuracy(predict_logits(full.model, X_te), y_te, ds.num_classes)
        print(f"seed {seed}: test { ({m: round(v, 4) for m, v in row['test'].items()}) }", flush=True)
        out.append(row)
    return out


def report(rows: list[dict], C: int) -> None:
    criteria = {
        "raw": lambda z, y, f: balanced_accuracy(z, y, C),
        "shrunk-2": lambda z, y, f: shrunk(z, y, C, 2.0),
        "shrunk-5": lambda z, y, f: shrunk(z, y, C, 5.0),
        "shrunk-10": lambda z, y, f: shrunk(z, y, C, 10.0),
        "corrected": lambda z, y, f: corrected(z, y, C, f),
        "balanced-nll": lambda z, y, f: balanced_nll(z, y, C),
    }
    pickers = {
        name: (lambda row, fn=fn: max(row["oof"], key=lambda m: fn(row["oof"][m], row["y"], row["folds"])))
        for name, fn in criteria.items()
    }
    for t in (1.0, 2.0):
        pickers[f"la-unless-beaten-{t:g}se"] = lambda row, t=t: default_unless_beaten(
            row["oof"], row["y"], C, row["folds"], "la", t
        )
    print("| criterion | picked test-best | mean regret | mean test score of the pick | picks |")
    print("|---|---|---|---|---|")
    for name, picker in pickers.items():
        hits, regrets, picks, scores_ = 0, [], [], []
        for row in rows:
            pick = picker(row)
            best = max(row["test"].values())
            hits += row["test"][pick] >= best - 1e-12
            regrets.append(best - row["test"][pick])
            scores_.append(row["test"][pick])
            picks.append(pick)
        print(
            f"| {name} | {hits}/{len(rows)} | {statistics.fmean(regrets):.4f} | {statistics.fmean(scores_):.4f} "
            f"| {', '.join(picks)} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="digits-lt")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--candidates", nargs="+", default=list(DEFAULT_CANDIDATES))
    ap.add_argument("--save", help="save the logits (torch.save) for --load")
    ap.add_argument("--load", help="re-score logits saved with --save")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", RuntimeWarning)
    if args.load:
        saved = torch.load(args.load, weights_only=False)
        rows, C = saved["rows"], saved["num_classes"]
    else:
        rows = collect(args.dataset, args.seeds, args.folds, args.candidates)
        C = int(rows[0]["y"].max()) + 1
        if args.save:
            torch.save({"rows": rows, "num_classes": C, "dataset": args.dataset}, args.save)
    report(rows, C)


if __name__ == "__main__":
    main()
