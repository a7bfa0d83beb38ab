"""Run every selected method on one dataset for several seeds and collect the metrics.

:func:`run_bench` is the API behind ``acwa bench``; it returns the ``results.json`` dict::

    {"dataset": str, "config": {...}, "partial": bool, "warnings": [str, ...],
     "runs":    [{"method", "family", "seed", "accuracy", "balanced_accuracy", "macro_f1",
                  "per_class_f1", "per_class_recall", "many_shot_accuracy", ...,
                  "train_seconds", "confusion_matrix", "history", "adapted", ...}, ...],
     "summary": [{"method", "family", "rank", "balanced_accuracy_mean", "balanced_accuracy_std",
                  "macro_f1_mean", ..., "train_seconds_mean", ...}, ...],   # ranked by rank_by
     "skipped": [...], "failures": [...]}

The metrics are defined in :mod:`acwa.bench.scoring`. Each finished run is appended to
``runs.jsonl`` in the output folder as it finishes; on Ctrl-C the finished runs are kept, the
report is written with ``partial: true`` and :class:`BenchInterrupted` is raised.
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib.util
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from acwa.bench.auto import check_auto_options
from acwa.bench.calibration import PRIVATE_KEY, add_expected_costs, paired_intervals
from acwa.bench.execution import STANDARDISED_MODALITIES, Progress, check_picklable, cpu_seconds, execute
from acwa.bench.output import RunLog, move_into_place, prepare_out_dir
from acwa.bench.registry import METHODS, Method, get_method, resolve_methods
from acwa.bench.scoring import TASK_RANK_BY, check_rank_by, expected_metrics, shot_groups, summarise
from acwa.bench.training import default_recipe
from acwa.data import BenchDataset, DataError, load_dataset, load_user_data, make_long_tailed
from acwa.posthoc import check_costs

__all__ = ["run_bench", "prepare_dataset", "DEFAULT_SEEDS", "BenchInterrupted", "MIN_TEST_SAMPLES"]

DEFAULT_SEEDS = 3
MIN_TEST_SAMPLES = 5  # fewer test samples of a class: its recall and F1 are noise, say so
Log = Callable[[str], None]


class BenchInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_bench`: ``results`` holds the finished runs (``partial`` True),
    already written to the output folder when a report was asked for."""

    def __init__(self, results: dict[str, Any]) -> None:
        super().__init__("interrupted")
        self.results = results


def prepare_dataset(
    dataset: str | None = "digits-lt",
    data: str | None = None,
    target: str | None = None,
    rho: float | None = None,
    data_seed: int = 0,
    test_fraction: float | None = None,
    drop: Sequence[str] | None = None,
    impute: str = "none",
    **loader_kwargs: Any,
) -> BenchDataset:
    """A built-in dataset by name, or a user ``.npz`` / ``.csv`` file (``data``; ``target``,
    ``drop``, ``impute`` and ``test_fraction`` apply to files). ``rho``: imbalance ratio of the
    long-tailed training split (None: the dataset's default; on a user file, None or 1 keeps it)."""
    if data is not None:
        ds = load_user_data(
            data,
            target=target,
            seed=data_seed,
            test_fraction=0.3 if test_fraction is None else test_fraction,
            drop=drop,
            impute=impute,
        )
        if rho is not None and rho > 1:
            X, y = make_long_tailed(ds.X_train, ds.y_train, rho, seed=data_seed)
            ds = BenchDataset(
                ds.name, ds.modality, X, y, ds.X_test, ds.y_test, ds.class_names, True, dict(ds.info, rho=rho)
            )
        return ds
    for option, value in (("--target", target), ("--drop", drop), ("--test-fraction", test_fraction)):
        if value:
            raise DataError(f"{option} applies only to --data FILE; built-in datasets have fixed columns and splits")
    if impute != "none":
        raise DataError("--impute applies only to --data FILE.csv")
    name = "digits-lt" if dataset is None else dataset
    if rho is None:
        return load_dataset(name, seed=data_seed, **loader_kwargs)
    return load_dataset(name, rho=rho, seed=data_seed, **loader_kwargs)


def _check_count(value: Any, name: str, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1 ({hint}), got {value!r}")
    return int(value)


def _choose(
    names: Sequence[str], ds: BenchDataset, reference: bool, explicit: bool
) -> tuple[list[Method], list[dict[str, Any]]]:
    """The methods that can run here, and the skipped ones with their reason."""
    chosen, skipped = [], []
    for n in names:
        m = get_method(n)
        missing = [r for r in m.requires if importlib.util.find_spec(r) is None]
        applies = m.supports(ds.modality, ds.task)
        if not explicit and (not applies or (m.family == "reference" and not reference)):
            continue  # the default set brings only the methods that apply to this data
        if ds.task not in m.tasks:
            skipped.append({"method": n, "reason": f"not for {ds.task} data (handles {', '.join(m.tasks)})"})
        elif not m.supports(ds.modality, ds.task):
            skipped.append(
                {
                    "method": n,
                    "reason": f"not applicable to {ds.modality} data (supports {', '.join(m.modalities or ())})",
                }
            )
        elif missing:
            skipped.append({"method": n, "reason": f"needs {', '.join(missing)} (pip install 'acwa-torch[bench]')"})
        else:
            chosen.append(m)
    return chosen, skipped


def _with_options(chosen: list[Method], method_options: Mapping[str, Mapping[str, Any]]) -> list[Method]:
    """``chosen`` with the per-run options applied (:meth:`Method.with_options`)."""
    names = {m.name for m in chosen}
    stray = sorted(set(method_options) - names)
    if stray:
        raise ValueError(
            f"method_options names {', '.join(stray)}, which this run does not train; "
            f"methods of this run: {', '.join(sorted(names))}"
        )
    return [m.with_options(method_options.get(m.name, {})) for m in chosen]


def data_warnings(ds: BenchDataset, seeds: int) -> list[str]:
    """Warnings shown in the log and the report: tiny test classes, a single seed."""
    warnings = []
    counts = ds.test_counts
    small = [(ds.class_names[c], int(n)) for c, n in enumerate(counts) if n < MIN_TEST_SAMPLES]
    if small:
        listed = ", ".join(f"{name} (n={n})" for name, n in small)
        warnings.append(
            f"the test split holds fewer than {MIN_TEST_SAMPLES} samples of {listed}: their recall and F1 "
            f"move in large steps, so differences between methods there are noise"
        )
    if seeds == 1:
        warnings.append("one seed: no ± spread over seeds can be shown; use --seeds 3 or more to see the variation")
    return warnings


def _config(ds: BenchDataset, recipe: Any, chosen: list[Method], seeds: int, **fields: Any) -> dict[str, Any]:
    runnable = [m.name for m in chosen]
    return {
        "dataset": ds.name,
        "modality": ds.modality,
        "rho": ds.info.get("rho"),
        "seeds": list(range(seeds)) if seeds <= 1000 else {"first": 0, "count": seeds},
        "methods": runnable,
        "recipe": recipe.to_dict(),
        "model": {"image": "SmallCNN", "series": "Conv1dNet", "tabular": "MLP", "embedding": "MLP"}[ds.modality],
        "standardised_features": ds.modality in STANDARDISED_MODALITIES,
        "num_classes": ds.num_classes,
        "task": ds.task,
        "class_names": ds.class_names,
        "train_counts": ds.train_counts.tolist(),
        "test_counts": ds.test_counts.tolist(),
        "long_tailed": ds.long_tailed,
        "shot_groups": [g.tolist() for g in shot_groups(ds.train_counts)] if ds.long_tailed else None,
        "source": ds.info.get("source"),
        "license": ds.info.get("license"),
        "split": {k: ds.info[k] for k in ("split", "test_fraction", "dropped", "imputed") if k in ds.info} or None,
        "method_info": [
            {
                "method": m.name,
                "family": m.family,
                "description": m.description,
                "same_as": m.same_as,
                "trainings": m.trainings,
                "options": dict(m.fn.keywords) if isinstance(m.fn, functools.partial) else {},
            }
            for m in chosen
        ],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **fields,
    }


def run_bench(
    dataset: str | None = "digits-lt",
    *,
    data: str | None = None,
    target: str | None = None,
    methods: str | Sequence[str] | None = "default",
    seeds: int = DEFAULT_SEEDS,
    epochs: int | None = None,
    rho: float | None = None,
    out: str | None = None,
    write_report: bool = True,
    threads: int | None = None,
    data_seed: int = 0,
    batch_size: int | None = None,
    lr: float | None = None,
    progress: bool = True,
    max_train: int | None = None,
    max_test: int | None = None,
    dataset_obj: BenchDataset | None = None,
    log: Log | None = None,
    jobs: int | Executor = 1,
    rank_by: str | None = None,
    reference: bool = True,
    test_fraction: float | None = None,
    drop: Sequence[str] | None = None,
    impute: str = "none",
    overwrite: bool = False,
    command: str | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    costs: Any = None,
) -> dict[str, Any]:
    """Benchmark ``methods`` on a dataset; returns the results dict and (``write_report``)
    writes ``results.json``, ``report.md``, ``report.html`` and PNGs to ``out``.

    Args:
        dataset: built-in name (:func:`acwa.data.list_datasets`), ignored when ``data`` is given.
        data, target: a user ``.npz`` / ``.csv`` file (``target``: the csv label column);
            ``drop`` (columns to leave out), ``impute`` (``'none'``, ``'median'``,
            ``'most_frequent'``) and ``test_fraction`` (default 0.3) apply to files.
        methods: ``'default'`` (every method but the opt-in ones), ``'all'``, ``'a,b,c'`` or a
            list of registered names.
        seeds: number of seeds (0 .. seeds-1); each seed trains every method once.
        epochs, batch_size, lr: override the dataset's default recipe.
        rho: imbalance ratio of the long-tailed training split (None: the dataset's default).
        out: output folder (default ``reports/<dataset>-<timestamp>/``); an existing non-empty
            folder needs ``overwrite``, else a new timestamped sibling is used (``log`` says so).
        threads: torch CPU threads (default 1), restored afterwards.
        data_seed: seed of the train/test split and of the long-tail subsampling (fixed across
            the training seeds, so every seed is scored on the same test split).
        progress: a progress bar on a terminal (tqdm); otherwise ``log`` gets one line per run.
        max_train, max_test: keep a stratified random subset (quick smoke runs).
        dataset_obj: a ready :class:`acwa.data.BenchDataset` instead of a name or file.
        log: called with each one-line message (notes, warnings, per-run lines); None: quiet.
        jobs: worker processes, each running every method for its seeds (methods of one seed
            still share models), with ``threads`` threads; results equal those of ``jobs=1``.
            Workers are spawned: a method registered in your own script must be a module-level
            function and the script must call ``run_bench`` under ``if __name__ == "__main__":``.
            Or any :class:`concurrent.futures.Executor` (threads, processes, Dask's
            ``client.get_executor()``): it runs the seeds, each reported as it finishes.
        rank_by: the metric that orders the summary (:data:`acwa.bench.scoring.BENCH_METRICS`; default
            balanced accuracy, mAP on multi-label data).
        reference: add the scikit-learn reference rows on tabular/embedding data (never ranked).
        command: the command line, recorded in the report.
        method_options: ``{method: {option: value}}`` for methods that declare options, e.g.
            ``{"acwa-auto": {"folds": 3, "candidates": ("weighted-ce", "la")}}``; recorded in
            the report's method table.
        costs: a misclassification cost matrix ``K[true, pred]`` ``[C, C]`` (or ``(c_fp, c_fn)``
            for two classes): every run gets ``expected_cost`` (:mod:`acwa.bench.calibration`).

    Raises:
        BenchInterrupted: on Ctrl-C, after keeping (and writing) the finished runs.
    """
    seeds = _check_count(seeds, "seeds", "number of seeds")
    executor = jobs if isinstance(jobs, Executor) else None
    jobs = 1 if executor else min(_check_count(jobs, "jobs", "worker processes, one or more seeds each"), seeds)
    if rank_by is not None:
        check_rank_by(rank_by)
    names = resolve_methods(methods)
    explicit = methods not in (None, "default", ["default"])
    say: Log = log or (lambda message: None)
    t_start, cpu_start = time.perf_counter(), cpu_seconds()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    ds = (
        dataset_obj
        if dataset_obj is not None
        else prepare_dataset(
            dataset,
            data=data,
            target=target,
            rho=rho,
            data_seed=data_seed,
            test_fraction=test_fraction,
            drop=drop,
            impute=impute,
        )
    )
    if max_train is not None or max_test is not None:
        ds = ds.subset(max_train, max_test, data_seed)
    if costs is not None:
        if ds.task == "multilabel":
            raise ValueError("costs apply to single-label data (a [C, C] matrix); this dataset is multi-label")
        costs = check_costs(costs, ds.num_classes, name="costs").tolist()
    rank_by = TASK_RANK_BY[ds.task] if rank_by is None else rank_by
    check_rank_by(rank_by, expected_metrics(ds.task, ds.long_tailed, ds.num_classes, costs is not None))
    recipe = default_recipe(ds, epochs=epochs, batch_size=batch_size, lr=lr)
    chosen, skipped = _choose(names, ds, reference, explicit)
    chosen = _with_options(chosen, method_options or {})
    if (method_options or {}).get("acwa-auto"):  # before any training
        check_auto_options(dict(method_options["acwa-auto"]), ds.task, len(ds.y_train))  # type: ignore[index]
    if jobs > 1:
        check_picklable(chosen)
    folder, plots = None, importlib.util.find_spec("matplotlib") is not None
    if write_report:
        folder, note = prepare_out_dir(out, ds.name, overwrite)
        if note:
            say(note)
        if not plots:
            say(
                "matplotlib is not installed: writing results.json and the reports without plots "
                "(pip install 'acwa-torch[bench]')"
            )
    warnings = data_warnings(ds, seeds) + list(ds.info.get("notes") or [])
    for w in warnings:
        say(f"warning: {w}")
    runs: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    run_log = RunLog(folder)

    private: dict[tuple[str, int], Any] = {}

    def on_run(row: dict[str, Any]) -> None:
        test = row.pop(PRIVATE_KEY, None)
        if test is not None:
            private[(row["method"], row["seed"])] = test
        (failures if "error" in row else runs).append(row)
        run_log.write(row)

    bar = Progress(len(chosen) * seeds, progress, log, rank_by)
    interrupted = False
    try:
        execute(ds, recipe, chosen, seeds, executor or jobs, threads or 1, on_run, bar)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        run_log.close()
    order = {m.name: i for i, m in enumerate(chosen)}
    runs.sort(key=lambda r: (order[r["method"]], r["seed"]))
    failures.sort(key=lambda f: (order[f["method"]], f["seed"]))
    runnable = [m.name for m in chosen]
    if costs is not None:
        add_expected_costs(runs, private, np.asarray(ds.y_test), costs)
    summary = summarise(runs, runnable, rank_by)
    for row in summary:
        same = METHODS[row["method"]].same_as if row["method"] in METHODS else None
        if same is not None and same in runnable:
            row["same_as"] = same
    config = _config(
        ds,
        recipe,
        chosen,
        seeds,
        data=str(data) if data is not None else None,
        target=target,
        data_seed=data_seed,
        threads=threads or 1,
        jobs=type(executor).__name__ if executor else jobs,
        rank_by=rank_by,
        reference=reference,
        started=started,
        command=command,
        plots=plots,
        out=None if folder is None else str(folder),
        costs=costs,
    )
    if interrupted:
        warnings.append(f"interrupted: {len(runs)} finished run(s) kept; the results are partial")
    results = {
        "dataset": ds.name,
        "config": config,
        "partial": interrupted,
        "warnings": warnings,
        "runs": runs,
        "summary": summary,
        "skipped": skipped,
        "failures": failures,
    }
    if ds.task != "multilabel" and not interrupted:
        intervals = paired_intervals(runs, private, summary, np.asarray(ds.y_test), rank_by, ds.num_classes, costs)
        if intervals is not None:
            results["intervals"] = intervals
    config["total_seconds"] = round(time.perf_counter() - t_start, 2)
    config["cpu_seconds"] = round(cpu_seconds() - cpu_start, 2)  # this process and its workers
    if folder is not None:
        render_report(results, folder, plots=plots and not interrupted)
    if interrupted:
        raise BenchInterrupted(results)
    return results


def render_report(results: dict[str, Any], folder: Path, plots: bool = True) -> dict[str, str]:
    """Render the report into a temporary folder inside ``folder`` and move it into place
    (``results.json`` last); an interrupted render leaves ``folder`` as it was."""
    from acwa.bench.report import write_report

    tmp = Path(tempfile.mkdtemp(prefix=".rendering-", dir=folder))
    try:
        written = write_report(results, tmp, plots=plots)
        move_into_place(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {k: str(folder / Path(v).name) for k, v in written.items()}
