"""Speed of acwa.sampling against its peers, printed as ratios measured in one run.

1. Index sampling over 10M long-tailed labels: ``ClassBalancedSampler`` (build + one epoch)
   vs ``torch.utils.data.WeightedRandomSampler`` with the equivalent per-sample weights
   (weights computed from the class counts, build + one epoch). Also: 2^25 labels, where
   WeightedRandomSampler cannot run (torch.multinomial is limited to 2^24 categories).
2. SMOTE on N=100k, D=64 (binary), minority 5k and 40k: ``acwa.sampling.SMOTE`` on torch
   tensors vs ``imblearn.over_sampling.SMOTE`` on numpy arrays, same data, same dtype, same
   thread count for both (torch.set_num_threads and threadpoolctl).

Timings: the best of ``--repeats`` runs (the machine may be shared; the best run is the least
disturbed one). Ratio = peer time / acwa time (> 1: acwa is faster).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sampling.py            # full (a few minutes)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sampling.py --quick    # smaller sizes
"""

from __future__ import annotations

import argparse
import gc
import platform
import time

import numpy as np
import torch


def best_of(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def long_tailed_labels(n, num_classes, rho, seed=0):
    """n labels, class c with share ∝ rho^(-c/(C-1)), shuffled, int64."""
    share = rho ** (-np.arange(num_classes) / (num_classes - 1))
    counts = np.floor(share / share.sum() * n).astype(np.int64)
    counts[0] += n - counts.sum()
    y = np.repeat(np.arange(num_classes), counts)
    np.random.default_rng(seed).shuffle(y)
    return torch.from_numpy(y)


def bench_samplers(n, num_classes, repeats):
    from torch.utils.data import WeightedRandomSampler

    from acwa.sampling import ClassBalancedSampler

    labels = long_tailed_labels(n, num_classes, rho=100.0)
    print(f"\n## Index sampling: N={n:,} labels, C={num_classes}, long tail rho=100, one epoch of N indices")

    def ours_build():
        return ClassBalancedSampler(labels, q=1.0)

    def wrs_build():
        counts = torch.bincount(labels, minlength=num_classes).double()
        weights = (1.0 / counts)[labels]
        return WeightedRandomSampler(weights, num_samples=n, replacement=True)

    t_ob, s_ours = best_of(ours_build, repeats)
    t_wb, s_wrs = best_of(wrs_build, repeats)
    t_oe, idx_o = best_of(lambda: list(iter(s_ours)), repeats)
    t_we, idx_w = best_of(lambda w=s_wrs: list(iter(w)), max(1, repeats - 1))
    hist_o = torch.bincount(labels[torch.tensor(idx_o[:1_000_000])], minlength=num_classes).double()
    hist_w = torch.bincount(labels[torch.tensor(idx_w[:1_000_000])], minlength=num_classes).double()
    print(
        "class share in first 1M draws (min/max over classes): "
        f"acwa {hist_o.min() / 1e6:.4f}/{hist_o.max() / 1e6:.4f}, "
        f"WRS {hist_w.min() / 1e6:.4f}/{hist_w.max() / 1e6:.4f} (target {1 / num_classes:.4f})"
    )
    t_od, _ = best_of(lambda: s_ours.sample_indices(), repeats)
    t_wd, _ = best_of(lambda w=s_wrs: torch.multinomial(w.weights, n, replacement=True), max(1, repeats - 1))
    rows = [
        ("build", t_ob, t_wb),
        ("one epoch (list of ints, as DataLoader consumes)", t_oe, t_we),
        ("build + one epoch", t_ob + t_oe, t_wb + t_we),
        ("draw only (index tensor)", t_od, t_wd),
    ]
    print("| step | acwa ClassBalancedSampler (s) | WeightedRandomSampler (s) | ratio WRS/acwa |")
    print("|---|---|---|---|")
    for name, a, b in rows:
        print(f"| {name} | {a:.3f} | {b:.3f} | {b / a:.1f}x |")
    del idx_o, idx_w, s_wrs


def bench_big(repeats):
    from torch.utils.data import WeightedRandomSampler

    from acwa.sampling import ClassBalancedSampler

    n = 2**25
    labels = long_tailed_labels(n, 100, rho=100.0).to(torch.uint8)
    print(f"\n## 2^25 = {n:,} labels (uint8, C=100)")
    t_b, s = best_of(lambda: ClassBalancedSampler(labels), repeats)
    t_d, idx = best_of(lambda: s.sample_indices(), 1)
    print(
        f"acwa ClassBalancedSampler: build {t_b:.3f} s, draw one epoch ({n:,} indices) {t_d:.3f} s, "
        f"max index {int(idx.max()):,} (> 2^24 = {2**24:,})"
    )
    weights = torch.ones(n, dtype=torch.float64)
    try:
        list(iter(WeightedRandomSampler(weights, num_samples=10)))
        print("WeightedRandomSampler: ran")
    except RuntimeError as e:
        print(f"WeightedRandomSampler: RuntimeError: {str(e).splitlines()[0]}")


def bench_smote(n, d, minority_sizes, repeats, threads):
    from imblearn.over_sampling import SMOTE as ImbSMOTE

    from acwa.sampling import SMOTE

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        threadpool_limits = None
    print(f"\n## SMOTE: N={n:,}, D={d}, binary, k_neighbors=5, {threads} thread(s) for both libraries")
    print("| minority | dtype | acwa SMOTE, torch CPU (s) | imblearn SMOTE (s) | ratio imblearn/acwa | same counts |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n_min in minority_sizes:
        X = rng.standard_normal((n, d))
        y = np.zeros(n, dtype=np.int64)
        y[rng.choice(n, n_min, replace=False)] = 1
        X[y == 1] += 0.5
        for dtype in (np.float32, np.float64):
            Xd = X.astype(dtype)
            Xt, yt = torch.from_numpy(Xd), torch.from_numpy(y)
            t_a, (_, ya) = best_of(lambda Xt=Xt, yt=yt: SMOTE(random_state=0).fit_resample(Xt, yt), repeats)
            if threadpool_limits is not None:
                with threadpool_limits(limits=threads):
                    t_i, (_, yi) = best_of(lambda Xd=Xd, y=y: ImbSMOTE(random_state=0).fit_resample(Xd, y), repeats)
            else:
                t_i, (_, yi) = best_of(lambda Xd=Xd, y=y: ImbSMOTE(random_state=0).fit_resample(Xd, y), repeats)
            same = np.array_equal(np.bincount(ya.numpy()), np.bincount(yi))
            print(f"| {n_min:,} | {np.dtype(dtype).name} | {t_a:.3f} | {t_i:.3f} | {t_i / t_a:.2f}x | {same} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1M labels, N=20k SMOTE, no 2^25 run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="threads for torch and for sklearn/imblearn")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import imblearn
    import sklearn

    print(
        f"# acwa.sampling benchmark  (torch {torch.__version__}, imbalanced-learn {imblearn.__version__}, "
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, {platform.processor() or platform.machine()}, "
        f"threads={args.threads}, best of {args.repeats})"
    )
    if args.quick:
        bench_samplers(1_000_000, 100, args.repeats)
        bench_smote(20_000, 64, [1_000, 8_000], args.repeats, args.threads)
    else:
        bench_samplers(10_000_000, 100, args.repeats)
        bench_big(1)
        bench_smote(100_000, 64, [5_000, 40_000], args.repeats, args.threads)


if __name__ == "__main__":
    main()
