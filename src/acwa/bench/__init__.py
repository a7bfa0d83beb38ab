"""Benchmark every method on real data: ``acwa bench`` and its Python API.

>>> from acwa.bench import run_bench, list_methods
>>> results = run_bench("digits-lt", methods="ce,la", seeds=1, epochs=2, write_report=False, progress=False)
>>> [r["method"] for r in results["summary"]]  # ranked by balanced accuracy  # doctest: +SKIP

* :mod:`acwa.bench.registry`: the method registry shared by API and CLI (how to add one).
* :mod:`acwa.bench.methods`: the built-in methods (each with the public acwa API).
* :mod:`acwa.bench.training`: the shared recipe and :class:`RunContext` every method trains with.
* :mod:`acwa.bench.runner`: :func:`run_bench`, metrics, summary.
* :mod:`acwa.bench.report`: results.json, report.md, report.html, PNGs.
"""

from .models import MLP, Conv1dNet, SmallCNN, build_model
from .registry import (
    FAMILIES,
    METHODS,
    Method,
    get_method,
    list_methods,
    register_method,
    resolve_methods,
    unregister_method,
)
from .report import summary_table, write_report
from .runner import DEFAULT_SEEDS, evaluate, prepare_dataset, run_bench, shot_groups, summarise
from .training import Fit, Recipe, RunContext, default_recipe

__all__ = [
    "run_bench",
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
