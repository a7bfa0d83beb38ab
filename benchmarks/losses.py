"""Speed of static class counts and of every loss's forward pass, ratios measured in one run.

OMP_NUM_THREADS=1 python benchmarks/losses.py [--baseline-package NAME]

Softmax losses are timed against ``F.cross_entropy``, the sigmoid (binary / multi-label) ones
against ``F.binary_cross_entropy_with_logits``, each with and without a per-sample
``sample_weight`` and with the value checks on (``validate=None``, the CPU default) and off.
``--baseline-package NAME`` also times ``NAME.losses.make_loss`` (e.g. an older copy of acwa
installed under another name) in the same run, for before/after comparisons.
"""

import argparse
import importlib
import time

import numpy as np
import torch
import torch.nn.functional as F

from acwa.losses import LOSS_NAMES, SIGMOID_LOSS_NAMES, make_loss
from acwa.weights import class_counts, label_neg_pos_counts


def best(fn, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def bench_counts(C):
    y = torch.randint(0, C, (10_000_000,))
    t_bin = best(lambda: class_counts(y, C), 5)
    t_loop = best(lambda: torch.stack([(y == c).sum() for c in range(C)]), 2)
    yn = y.numpy()
    t_uniq = best(lambda: np.unique(yn, return_counts=True), 2)
    print(
        f"class_counts 10M labels, C={C}: {t_bin * 1e3:.1f} ms | per-class loop {t_loop * 1e3:.0f} ms "
        f"({t_loop / t_bin:.1f}x) | np.unique {t_uniq * 1e3:.0f} ms ({t_uniq / t_bin:.1f}x)"
    )


def row(name, fn, ref, reps=50):
    t = best(fn, reps)
    return f"{name} {t * 1e3:.3f} ms ({t / ref:.2f}x)"


def variants(fn, x, y, sw, ref, baseline=None):
    """checked | sample_weight | unchecked [| baseline] timings of one loss, as ratios to ``ref``."""
    cells = [row("checked", lambda: fn(x, y), ref), row("sample_weight", lambda: fn(x, y, sample_weight=sw), ref)]
    fn.validate = False
    cells.append(row("unchecked", lambda: fn(x, y), ref))
    if baseline is not None:
        cells.append(row("baseline", lambda: baseline(x, y), ref))
    return " | ".join(cells)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-package", default=None, help="time NAME.losses.make_loss too")
    args = parser.parse_args()
    baseline = importlib.import_module(f"{args.baseline_package}.losses") if args.baseline_package else None
    torch.manual_seed(0)
    C, N = 100, 4096
    bench_counts(C)
    z = torch.randn(N, C)
    t = torch.randint(0, C, (N,))
    sw = torch.rand(N)
    counts = class_counts(t, C) + 1
    ref = best(lambda: F.cross_entropy(z, t), 50)
    print(f"softmax forward, N={N}, C={C}: F.cross_entropy {ref * 1e3:.3f} ms")
    for name in LOSS_NAMES:
        old = None if baseline is None else baseline.make_loss(name, class_counts=counts)
        print(f"  {name:22s}", variants(make_loss(name, class_counts=counts), z, t, sw, ref, old))
    L = 20
    zl = torch.randn(N, L)
    yl = (torch.rand(N, L) < torch.linspace(0.3, 0.01, L)).long()
    neg_pos = label_neg_pos_counts(yl) + 1
    ref = best(lambda: F.binary_cross_entropy_with_logits(zl, yl.float()), 50)
    print(f"sigmoid forward, N={N}, L={L}: F.binary_cross_entropy_with_logits {ref * 1e3:.3f} ms")
    for name in SIGMOID_LOSS_NAMES:
        print(f"  {name:22s}", variants(make_loss(name, class_counts=neg_pos), zl, yl, sw, ref))


if __name__ == "__main__":
    main()
