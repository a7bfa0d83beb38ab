"""acwa.auto.select_method on a bench dataset: what it picks, what that scores on the test split,
and how often out-of-fold selection picked the method that was best on the test split.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/auto_select.py [--dataset digits-lt]
        [--seeds 0 1 2 3 4] [--folds 3]

Every training uses the bench's model and recipe through the public
``acwa.bench.training.RunContext.fit`` (the test split is never seen by the selection); each
candidate's loss and sampler come from ``acwa.auto.method_recipe``. For the ablation, every
candidate is also trained on the whole training split and scored on the test split, in the same
run; the winner's final model is that same training (same seed, same data), so the selection
costs ``folds x candidates + 1`` trainings. Test splits of the bench datasets are balanced,
balanced accuracy = mean per-class recall.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from acwa.auto import DEFAULT_CANDIDATES, method_recipe, select_method
from acwa.bench.training import RunContext, default_recipe, predict_logits
from acwa.data import load_dataset


def balanced_accuracy(pred: torch.Tensor, y: torch.Tensor, C: int) -> float:
    return float(np.mean([(pred[y == c] == c).float().mean().item() for c in range(C) if (y == c).any()]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="digits-lt")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--candidates", nargs="+", default=list(DEFAULT_CANDIDATES))
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", RuntimeWarning)
    ds = load_dataset(args.dataset, rho=100, seed=0)
    X, y = torch.as_tensor(ds.X_train), torch.as_tensor(ds.y_train).long()
    Xt, yt = torch.as_tensor(ds.X_test), torch.as_tensor(ds.y_test).long()
    C = ds.num_classes
    recipe = default_recipe(ds)
    print(f"## {args.dataset}: train {len(y)} {torch.bincount(y, minlength=C).tolist()}, test {len(yt)}")
    print(f"recipe: {recipe.to_dict()}; folds {args.folds}; candidates {args.candidates}\n")
    rows = []
    for seed in args.seeds:
        ctx = RunContext(ds, X, y, recipe, seed)
        full: dict[str, torch.nn.Module] = {}

        def train_and_predict(method, train_idx, predict_idx, ctx=ctx, full=full):
            r = method_recipe(method, y[train_idx], C, seed=ctx.seed)
            fit = ctx.fit(r.loss, indices=train_idx, sampler=r.sampler)
            if train_idx.numel() == len(y):
                full[method] = fit.model
            if predict_idx.numel() == 0:  # the final retrain predicts nothing
                return torch.zeros(0, C), fit.model
            return predict_logits(fit.model, X[predict_idx]).detach(), fit.model

        t0, cpu0 = time.perf_counter(), time.process_time()
        res = select_method(train_and_predict, y, candidates=args.candidates, num_folds=args.folds, seed=seed)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        test = {}
        for m in args.candidates:  # test-side comparison, same run (the winner's model is reused)
            if m not in full:
                r = method_recipe(m, y, C, seed=seed)
                full[m] = ctx.fit(r.loss, sampler=r.sampler).model
            model = full[m]
            test[m] = balanced_accuracy(predict_logits(model, Xt).argmax(1), yt, C)
        logits = predict_logits(res.model, Xt).detach()
        auto = balanced_accuracy(res.predict(logits), yt, C)
        best = max(test, key=lambda m: test[m])
        rows.append((seed, res, test, auto, best, wall, cpu))
        oof = ", ".join(f"{m} {c.score:.3f}" for m, c in res.candidates.items())
        print(
            f"seed {seed}: chose {res.method} (OOF {oof}); bias {'yes' if res.bias is not None else 'no'}; "
            f"test: auto {auto:.4f}, chosen raw {test[res.method]:.4f}, best {best} {test[best]:.4f}; "
            f"{res.trainings} trainings, {wall:.0f} s wall, {cpu:.0f} s CPU",
            flush=True,
        )
    print("\n| method | test balanced accuracy (mean ± sd) |")
    print("|---|---|")
    for m in args.candidates:
        v = [r[2][m] for r in rows]
        print(f"| {m} | {np.mean(v):.4f} ± {np.std(v):.4f} |")
    v = [r[3] for r in rows]
    print(f"| acwa.auto (select + bias) | {np.mean(v):.4f} ± {np.std(v):.4f} |")
    hits = sum(r[1].method == r[4] for r in rows)
    regret = [r[2][r[4]] - r[2][r[1].method] for r in rows]
    print(
        f"\nOOF selection picked the test-best method in {hits}/{len(rows)} seeds; "
        f"mean regret of the raw choice {np.mean(regret):.4f} (max {np.max(regret):.4f}); "
        f"cost {rows[0][1].trainings} trainings, {np.mean([r[5] for r in rows]):.0f} s wall, "
        f"{np.mean([r[6] for r in rows]):.0f} s CPU per seed"
    )


if __name__ == "__main__":
    main()
