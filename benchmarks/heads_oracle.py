"""Diagnosis of ``acwa-auto-fast`` (issue 25): is a gap to the best static method the held-out
choice's noise, or the candidates' limit?

For each seed, :func:`acwa.auto.select_head` runs as in the bench (one training on 80% of the
training split, the head chosen on the other 20%). The same trained backbone is then handed to
``select_head(model=..., heldout_idx=<test rows>, refit=False)``, which fits every candidate
on the backbone's own training part and scores it on the *test* split: the score the held-out
choice would have had with a perfect judge (the oracle pick). This uses the test split to
diagnose, never to choose; the bench never does it.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/heads_oracle.py --dataset ecg5000 --seeds 5
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch
from torch import Tensor, nn

from acwa.auto import method_recipe, select_head
from acwa.bench.execution import bench_tensors
from acwa.bench.runner import prepare_dataset
from acwa.bench.training import RunContext, default_recipe


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="ecg5000")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--backbone", default="weighted-ce", help="an acwa.auto.method_recipe name, or 'ce'")
    ap.add_argument("--max-train", type=int, help="keep a stratified training subset (quicker)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = prepare_dataset(args.dataset)
    if args.max_train is not None:
        ds = ds.subset(args.max_train, None, 0)
    recipe = default_recipe(ds)
    X_tr, y_tr, X_te, y_te = bench_tensors(ds)
    print(f"{ds.name}: train counts {ds.train_counts.tolist()}, backbone {args.backbone}, {args.seeds} seeds")
    chosen, oracle, gaps = [], [], []
    for seed in range(args.seeds):
        ctx = RunContext(ds, X_tr, y_tr, recipe, seed, {})
        trained: list[nn.Module] = []

        def train_fn(train_idx: Tensor, ctx: RunContext = ctx, trained: list[nn.Module] = trained) -> nn.Module:
            r = method_recipe(args.backbone, ctx.y[train_idx], ctx.num_classes, seed=ctx.seed)
            model = ctx.fit(r.loss, indices=train_idx, sampler=r.sampler).model
            trained.append(copy.deepcopy(model))
            return model

        res = select_head(X_tr, y_tr, train_fn=train_fn, seed=seed)
        part = res.train_idx
        X_all = torch.cat([X_tr[part], X_te])
        y_all = torch.cat([y_tr[part], y_te])
        test_rows = torch.arange(part.numel(), X_all.shape[0])
        on_test = select_head(X_all, y_all, model=trained[0], heldout_idx=test_rows, refit=False, seed=seed)
        best = max(on_test.scores, key=on_test.scores.__getitem__)
        chosen.append(on_test.scores[res.method])
        oracle.append(on_test.scores[best])
        gaps.append(res.scores[res.method] - on_test.scores[res.method])
        ranked = ", ".join(f"{m} {s:.3f}" for m, s in on_test.ranking())
        print(f"seed {seed}: held-out pick {res.method} (held-out {res.scores[res.method]:.3f}); test: {ranked}")
    print(
        f"test balanced accuracy, mean over seeds: held-out pick {np.mean(chosen):.3f}, oracle pick "
        f"{np.mean(oracle):.3f}; the pick's held-out score - its test score {np.mean(gaps):+.3f}"
    )


if __name__ == "__main__":
    main()
