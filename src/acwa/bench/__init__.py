"""Benchmark every method on real data: ``acwa bench`` and its Python API.

>>> from acwa.bench import run_bench, list_methods
>>> results = run_bench("digits-lt", methods="ce,la", seeds=1, epochs=2, write_report=False, progress=False)
>>> [r["method"] for r in results["summary"]]  # ranked by balanced accuracy  # doctest: +SKIP

* :mod:`acwa.bench.registry`: the method registry shared by API and CLI (a leaf; how to add one).
* :mod:`acwa.bench.methods`: the built-in methods (each with the public acwa API).
* :mod:`acwa.bench.heads`: decoupled heads (cRT, tau-norm, LWS, NCM, weight balancing), DRS and
  ``acwa-auto-fast`` (:func:`acwa.auto.select_head`).
* :mod:`acwa.bench.recipes`: reusable recipes (cross-fitted class bias).
* :mod:`acwa.bench.training`: the shared recipe and :class:`RunContext` every method trains with.
* :mod:`acwa.bench.scoring`: test metrics, summary over seeds, ranking.
* :mod:`acwa.bench.execution`: the seed loop, worker processes, progress.
* :mod:`acwa.bench.runner`: :func:`run_bench`.
* :mod:`acwa.bench.report` / :mod:`acwa.bench.figures`: results.json, report.md, report.html, PNGs.
"""

from acwa._internal.deprecation import deprecated_names
from acwa.bench import auto as _auto_method  # noqa: F401  (acwa-auto: the acwa.auto selection API)
from acwa.bench import heads as _head_methods  # noqa: F401  (decoupled heads, DRS, acwa-auto-fast)
from acwa.bench import methods as _builtin_methods  # noqa: F401  (registers the built-in methods)
from acwa.bench import reference as _reference_rows  # noqa: F401  (registers the scikit-learn reference rows)
from acwa.bench import sigmoid as _sigmoid_methods  # noqa: F401  (one-logit binary and multi-label methods)
from acwa.bench import soft as _soft_methods  # noqa: F401  (soft-target (mixup) methods)
from acwa.bench.models import MLP, Conv1dNet, SmallCNN, build_model
from acwa.bench.registry import (
    FAMILIES,
    METHODS,
    Method,
    get_method,
    list_methods,
    register_method,
    resolve_methods,
    unregister_method,
)
from acwa.bench.report import summary_table, write_report
from acwa.bench.runner import DEFAULT_SEEDS, BenchInterrupted, prepare_dataset, run_bench
from acwa.bench.scoring import BENCH_METRICS, evaluate, shot_groups, summarise
from acwa.bench.training import Fit, Recipe, RunContext, Trace, default_recipe

__all__ = [
    "run_bench",
    "BenchInterrupted",
    "BENCH_METRICS",
    "Trace",
    "prepare_dataset",
    "evaluate",
    "shot_groups",
    "summarise",
    "DEFAULT_SEEDS",
    "register_method",
    "unregister_method",
    "get_method",
    "list_methods",
    "resolve_methods",
    "METHODS",
    "Method",
    "FAMILIES",
    "RunContext",
    "Fit",
    "Recipe",
    "default_recipe",
    "SmallCNN",
    "Conv1dNet",
    "MLP",
    "build_model",
    "summary_table",
    "write_report",
]

__getattr__ = deprecated_names("acwa.bench", {"METRICS": (lambda: BENCH_METRICS, "acwa.bench.BENCH_METRICS")})
