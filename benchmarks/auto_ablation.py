"""How good is ``acwa-auto``'s out-of-fold choice? An ablation over finished ``acwa bench`` runs.

For every seed of every ``results.json`` given, it compares the candidate ``acwa-auto`` picked on
out-of-fold scores of the training split with the candidate that was best on the *test* split
(each candidate is also a bench method, run with the same seed in the same bench):

* ``picked best``: how often the pick is the test-best candidate (ties count as a hit);
* ``regret``: test score of the test-best candidate minus the picked candidate's, both as
  plain single-training methods (the cost of a wrong pick, before the post-hoc correction);
* ``auto``: acwa-auto's own mean test score (the winner retrained, with its correction), against
  the static method with the best mean over the same seeds and ``ce`` (or ``bce``).

Usage::

    python benchmarks/auto_ablation.py /tmp/runs/digits/results.json /tmp/runs/ecg/results.json ...
    python benchmarks/auto_ablation.py --extra /tmp/runs/ecg-auto/results.json /tmp/runs/ecg/results.json

``--extra FILE`` merges the runs of another results.json of the same dataset (e.g. acwa-auto run
on its own; training is deterministic per seed, so runs of separate invocations are comparable).
The score is the run's ranking metric (``config.rank_by``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any


def _load(path: str, extras: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    res = json.loads(Path(path).read_text())
    runs = list(res["runs"])
    for extra in extras:
        other = json.loads(Path(extra).read_text())
        if other["config"]["dataset"] == res["config"]["dataset"]:
            runs += other["runs"]
    return res["config"], runs


def ablation(config: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    metric = config["rank_by"]
    by_seed: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in runs:
        by_seed[r["seed"]][r["method"]] = r
    rows = []
    for seed, methods in sorted(by_seed.items()):
        auto = methods.get("acwa-auto")
        if auto is None or "auto" not in auto.get("extra", {}):
            continue
        info = auto["extra"]["auto"]
        oof_key = next(k for k in info if k.startswith("oof_"))
        candidates = [c for c in info[oof_key] if c in methods]
        if not candidates:
            continue
        test = {c: methods[c][metric] for c in candidates}
        best = max(test.values())
        base = methods.get("ce") or methods.get("bce")
        rows.append(
            {
                "seed": seed,
                "pick": info["method"],
                "test_best": max(test, key=lambda c: test[c]),
                "hit": test[info["method"]] >= best - 1e-12,
                "regret": best - test[info["method"]],
                "auto": auto[metric],
                "baseline": base[metric] if base else None,
                "bias": info.get("bias") is not None or info.get("threshold") is not None,
                "trainings": info.get("trainings"),
                "cpu": auto.get("train_cpu_seconds"),
            }
        )
    if not rows:
        return None
    seeds = [r["seed"] for r in rows]
    static_means = {
        m: _mean([by_seed[s][m][metric] for s in seeds])
        for m in {m for s in seeds for m, r in by_seed[s].items() if r["family"] == "static"}
        if all(m in by_seed[s] and by_seed[s][m].get(metric) is not None for s in seeds)
    }
    best_static = max(static_means, key=lambda m: static_means[m]) if static_means else None
    return {
        "dataset": config["dataset"],
        "metric": metric,
        "rows": rows,
        "best_static": best_static,
        "best_static_mean": static_means.get(best_static, float("nan")) if best_static else float("nan"),
    }


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", help="results.json files of acwa bench runs that include acwa-auto")
    p.add_argument("--extra", action="append", default=[], help="another results.json of the same dataset")
    args = p.parse_args()
    print(
        "| dataset | metric | seeds | picked test-best | mean regret (max) | picks | correction kept "
        "| acwa-auto | best static method | ce/bce | trainings | CPU s per seed |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in args.results:
        table = ablation(*_load(path, args.extra))
        if table is None:
            print(f"| {path} | no acwa-auto runs with candidates | | | | | | | | | | |")
            continue
        rows = table["rows"]
        picks: dict[str, int] = defaultdict(int)
        for r in rows:
            picks[r["pick"]] += 1
        regrets = [r["regret"] for r in rows]
        bases = [r["baseline"] for r in rows if r["baseline"] is not None]
        cpus = [r["cpu"] for r in rows if r["cpu"] is not None]
        print(
            f"| {table['dataset']} | {table['metric']} | {len(rows)} | {sum(r['hit'] for r in rows)}/{len(rows)} "
            f"| {_mean(regrets):.4f} ({max(regrets):.4f}) | "
            + ", ".join(f"{k} x{v}" for k, v in sorted(picks.items()))
            + f" | {sum(r['bias'] for r in rows)}/{len(rows)} | {_mean([r['auto'] for r in rows]):.4f} "
            f"| {table['best_static_mean']:.4f} ({table['best_static']}) | {_mean(bases):.4f} "
            f"| {rows[0]['trainings']} | {_mean(cpus):.1f} |"
        )


if __name__ == "__main__":
    main()
