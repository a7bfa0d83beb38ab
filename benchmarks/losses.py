"""Speed of static class counts and of every loss's forward pass, ratios measured in one run.

OMP_NUM_THREADS=1 python benchmarks/losses.py
"""

import time

import numpy as np
import torch
import torch.nn.functional as F

from acwa.losses import LOSS_NAMES, make_loss
from acwa.weights import class_counts


def best(fn, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main():
    torch.manual_seed(0)
    C = 100
    y = torch.randint(0, C, (10_000_000,))
    t_bin = best(lambda: class_counts(y, C), 5)
    t_loop = best(lambda: torch.stack([(y == c).sum() for c in range(C)]), 2)
    yn = y.numpy()
    t_uniq = best(lambda: np.unique(yn, return_counts=True), 2)
    print(
        f"class_counts 10M labels, C={C}: {t_bin * 1e3:.1f} ms | per-class loop {t_loop * 1e3:.0f} ms "
        f"({t_loop / t_bin:.1f}x) | np.unique {t_uniq * 1e3:.0f} ms ({t_uniq / t_bin:.1f}x)"
    )
    N = 4096
    z = torch.randn(N, C)
    t = torch.randint(0, C, (N,))
    counts = class_counts(t, C) + 1
    ref = best(lambda: F.cross_entropy(z, t), 50)
    print(f"forward, N={N}, C={C}: F.cross_entropy {ref * 1e3:.3f} ms")
    for name in LOSS_NAMES:
        fn = make_loss(name, class_counts=counts)
        tt = best(lambda: fn(z, t), 50)
        print(f"  {name:18s} {tt * 1e3:.3f} ms  ({tt / ref:.2f}x CE)")


if __name__ == "__main__":
    main()
