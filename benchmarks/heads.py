"""Issue 25: decoupled heads and the one-training selection (``acwa-auto-fast``) in the bench.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/heads.py [--dataset digits-lt] [--seeds 3]
        [--epochs N] [--methods ce,la,...] [--backbone ce] [--with-auto]

Runs :func:`acwa.bench.run_bench` once (every method of one seed in the same process, so the
CPU seconds compare) and prints, per method, the mean +- std balanced accuracy on the balanced
test split, the trainings and the CPU / wall seconds per run (backbone training, feature pass
and head fits included), then acwa-auto-fast's CPU seconds relative to ``ce`` and its gap to
``acwa-auto`` (``--with-auto``) and to the best single-training method. ``--backbone`` sets the
loss acwa-auto-fast trains its one backbone with (``weighted-ce`` by default; e.g. ``ce``, ``la``).
"""

from __future__ import annotations

import argparse

import numpy as np

from acwa.bench import run_bench

METHODS = "ce,la,weighted-ce,balanced-sampler,crt,tau-norm,lws,ncm,weight-balancing,drs,acwa-auto-fast"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="digits-lt")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--methods", default=METHODS)
    p.add_argument("--backbone", default="weighted-ce")
    p.add_argument("--with-auto", action="store_true", help="also run acwa-auto (21 trainings per seed)")
    a = p.parse_args()
    methods = a.methods + (",acwa-auto" if a.with_auto else "")
    options = {"acwa-auto-fast": {"backbone": a.backbone}} if "acwa-auto-fast" in methods else {}
    res = run_bench(
        a.dataset, methods=methods, seeds=a.seeds, epochs=a.epochs, progress=False, write_report=False,
        method_options=options,
    )  # fmt: skip
    rows: dict[str, list[dict]] = {}
    for r in res["runs"]:
        rows.setdefault(r["method"], []).append(r)
    print(f"{a.dataset}, {a.seeds} seed(s), backbone of acwa-auto-fast: {a.backbone}")
    print(f"{'method':<18} {'bal. acc':>15} {'trainings':>9} {'CPU s':>7} {'wall s':>7}")
    stats = {}
    for m, rs in sorted(rows.items(), key=lambda kv: -np.mean([r["balanced_accuracy"] for r in kv[1]])):
        ba = np.array([r["balanced_accuracy"] for r in rs])
        cpu = np.mean([r["train_cpu_seconds"] for r in rs])
        stats[m] = (ba.mean(), cpu)
        sd = ba.std(ddof=1) if len(ba) > 1 else float("nan")
        wall = np.mean([r["train_seconds"] for r in rs])
        print(f"{m:<18} {ba.mean():.3f} +- {sd:.3f} {rs[0]['trainings']:>9} {cpu:>7.2f} {wall:>7.2f}")
    if "acwa-auto-fast" in stats and "ce" in stats:
        fast, cpu = stats["acwa-auto-fast"]
        print(f"acwa-auto-fast CPU / ce CPU: {cpu / stats['ce'][1]:.2f}")
        single = [m for m in stats if m not in ("acwa-auto", "acwa-auto-fast")]
        best = max(single, key=lambda m: stats[m][0])
        print(f"acwa-auto-fast - best single-training method ({best}): {100 * (fast - stats[best][0]):+.1f} points")
        if "acwa-auto" in stats:
            print(f"acwa-auto-fast - acwa-auto: {100 * (fast - stats['acwa-auto'][0]):+.1f} points")
        picks = [r["extra"]["auto"]["method"] for r in rows["acwa-auto-fast"]]
        print(f"acwa-auto-fast picked: {', '.join(picks)}")


if __name__ == "__main__":
    main()
