"""Run every selected method on one dataset for several seeds and collect the metrics.

:func:`run_bench` is the API behind ``acwa bench``; it returns the ``results.json`` dict::

    {"dataset": str, "config": {...},
     "runs":    [{"method", "family", "seed", "accuracy", "balanced_accuracy", "macro_f1",
                  "per_class_f1", "per_class_recall", "many_shot_accuracy", "medium_shot_accuracy",
                  "few_shot_accuracy", "train_seconds", "confusion_matrix", "history", ...}, ...],
     "summary": [{"method", "family", "rank", "balanced_accuracy_mean", "balanced_accuracy_std",
                  "macro_f1_mean", "macro_f1_std", "accuracy_mean", "accuracy_std",
                  "train_seconds_mean", ...}, ...],          # ranked by balanced accuracy
     "skipped": [...], "failures": [...]}

Metrics are computed on the test split only, after training: accuracy, balanced accuracy
(mean per-class recall), macro-F1, per-class F1 and recall, and on long-tailed data the
many/medium/few-shot accuracy: classes ranked by training count and cut in thirds
(``numpy.array_split``: 10 classes -> 4/3/3, 5 -> 2/2/1), each group's accuracy being the mean
recall of its classes (equal to the group's accuracy on a balanced test split).
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import BenchDataset, DataError, load_dataset, load_user_data, make_long_tailed
from ..metrics import f1_from_counts, recall_from_counts, stat_scores
from .registry import Method, get_method, resolve_methods
from .training import Fit, RunContext, default_recipe, predict_logits

__all__ = ["run_bench", "prepare_dataset", "evaluate", "shot_groups", "summarise", "DEFAULT_SEEDS"]

DEFAULT_SEEDS = 3
_STANDARDISED_MODALITIES = ("tabular", "embedding")  # features standardised with training statistics
_UNSET = object()


def _clean(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def prepare_dataset(
    dataset: str | None = "digits-lt",
    data: str | None = None,
    target: str | None = None,
    rho: Any = _UNSET,
    data_seed: int = 0,
    test_fraction: float = 0.3,
    **loader_kwargs,
) -> BenchDataset:
    """A built-in dataset by name, or a user ``.npz`` / ``.csv`` file (``data``). ``rho`` on a
    user file makes its training split long-tailed with :func:`acwa.data.make_long_tailed`."""
    if data is not None:
        ds = load_user_data(data, target=target, seed=data_seed, test_fraction=test_fraction)
        if rho is not _UNSET and rho is not None and rho > 1:
            X, y = make_long_tailed(ds.X_train, ds.y_train, rho, seed=data_seed)
            ds = BenchDataset(
                ds.name, ds.modality, X, y, ds.X_test, ds.y_test, ds.class_names, True, dict(ds.info, rho=rho)
            )
        return ds
    if target is not None:
        raise DataError("--target applies only to --data FILE.csv")
    if rho is _UNSET:
        return load_dataset(dataset, seed=data_seed, **loader_kwargs)
    return load_dataset(dataset, rho=rho, seed=data_seed, **loader_kwargs)


def shot_groups(train_counts: Sequence[int]) -> list[np.ndarray]:
    """Class indices of the many / medium / few-shot groups: classes ranked by training count
    (descending, ties by index) and cut in thirds."""
    order = np.argsort(-np.asarray(train_counts), kind="stable")
    return [g for g in np.array_split(order, 3)]


@torch.no_grad()
def evaluate(
    logits: torch.Tensor, y: torch.Tensor, num_classes: int, train_counts=None, long_tailed: bool = True
) -> dict[str, Any]:
    """Test metrics from logits (see the module docstring)."""
    preds = logits.argmax(1)
    tp, fp, fn = stat_scores(preds, y, num_classes)
    f1 = f1_from_counts(tp, fp, fn).double().numpy()
    recall = recall_from_counts(tp, fp, fn).double().numpy()
    present = (tp + fn).numpy() > 0
    conf = np.bincount(y.numpy() * num_classes + preds.numpy(), minlength=num_classes**2).reshape(
        num_classes, num_classes
    )
    out: dict[str, Any] = {
        "accuracy": float((preds == y).double().mean()),
        "balanced_accuracy": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "per_class_f1": [_clean(v) for v in f1.tolist()],
        "per_class_recall": [_clean(v) for v in recall.tolist()],
        "confusion_matrix": conf.tolist(),
    }
    if long_tailed and train_counts is not None:
        for name, group in zip(("many", "medium", "few"), shot_groups(train_counts)):
            vals = recall[group][present[group]]
            out[f"{name}_shot_accuracy"] = float(vals.mean()) if vals.size else None
    return out


def _mean_std(values: list[float | None]):
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return None, None
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def summarise(runs: list[dict[str, Any]], methods: Sequence[str]) -> list[dict[str, Any]]:
    """Mean and std over seeds per method (sample std, ddof=1; 0 for one seed), ranked by mean
    balanced accuracy (best first)."""
    rows = []
    for name in methods:
        rs = [r for r in runs if r["method"] == name]
        if not rs:
            continue
        row: dict[str, Any] = {"method": name, "family": rs[0]["family"], "seeds": len(rs)}
        for key in (
            "balanced_accuracy",
            "macro_f1",
            "accuracy",
            "train_seconds",
            "train_cpu_seconds",
            "many_shot_accuracy",
            "medium_shot_accuracy",
            "few_shot_accuracy",
        ):
            if all(key in r for r in rs):
                row[f"{key}_mean"], row[f"{key}_std"] = _mean_std([r.get(key) for r in rs])
        C = len(rs[0]["per_class_f1"])
        for key in ("per_class_f1", "per_class_recall"):
            row[f"{key}_mean"] = [_mean_std([r[key][c] for r in rs])[0] for c in range(C)]
        rows.append(row)
    rows.sort(key=lambda r: -(r["balanced_accuracy_mean"] if r["balanced_accuracy_mean"] is not None else -1))
    for i, r in enumerate(rows):
        r["rank"] = i + 1
    return rows


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True, leave=False)


def default_out_dir(dataset_name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("reports") / f"{dataset_name}-{stamp}"


def run_bench(
    dataset: str | None = "digits-lt",
    *,
    data: str | None = None,
    target: str | None = None,
    methods: Any = "default",
    seeds: int = DEFAULT_SEEDS,
    epochs: int | None = None,
    rho: Any = _UNSET,
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
    log=None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Benchmark ``methods`` on a dataset; returns the results dict and (``write_report``)
    writes ``results.json``, ``report.md``, ``report.html`` and PNGs to ``out``.

    Args:
        dataset: built-in name (:func:`acwa.data.list_datasets`), ignored when ``data`` is given.
        data, target: a user ``.npz`` / ``.csv`` file (``target``: the csv label column).
        methods: ``'default'`` (every method but the opt-in ones), ``'all'``, ``'a,b,c'`` or a
            list of registered names.
        seeds: number of seeds (0 .. seeds-1); each seed trains every method once.
        epochs, batch_size, lr: override the dataset's default recipe.
        rho: imbalance ratio of the long-tailed training split (built-in default otherwise).
        threads: torch CPU threads (default 1: the small models gain nothing from more, and
            spinning OpenMP threads slow down badly on a shared CPU), restored afterwards.
        data_seed: seed of the train/test split and of the long-tail subsampling (fixed across
            the training seeds, so every seed is scored on the same test split).
        max_train, max_test: keep a stratified random subset (quick smoke runs).
        dataset_obj: a ready :class:`acwa.data.BenchDataset` instead of a name or file.
        jobs: worker processes; each runs every method for its seeds (so methods of one seed
            still share models, e.g. ``la-posthoc`` reuses ``ce``), with ``threads`` threads.
            Results equal those of ``jobs=1``. Workers are spawned: a method registered in
            your own script must be a module-level function and the script must call
            ``run_bench`` under ``if __name__ == "__main__":``.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an int >= 1 (number of seeds), got {seeds!r}")
    jobs = _check_jobs(jobs, seeds)
    names = resolve_methods(methods)
    t_start, cpu_start = time.perf_counter(), _cpu_seconds()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    ds = (
        dataset_obj
        if dataset_obj is not None
        else prepare_dataset(dataset, data=data, target=target, rho=rho, data_seed=data_seed)
    )
    if max_train is not None or max_test is not None:
        ds = _subset(ds, max_train, max_test, data_seed)
    recipe = default_recipe(ds, epochs=epochs, batch_size=batch_size, lr=lr)

    standardised = ds.modality in _STANDARDISED_MODALITIES

    skipped, chosen = [], []
    for n in names:
        m = get_method(n)
        if m.supports(ds.modality):
            chosen.append(m)
        else:
            skipped.append(
                {"method": n, "reason": f"not applicable to {ds.modality} data (supports {', '.join(m.modalities)})"}
            )
    runnable = [m.name for m in chosen]

    runs: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    bar = _progress(len(runnable) * seeds, progress)
    try:
        if jobs == 1:
            old_threads = torch.get_num_threads()
            torch.set_num_threads(threads or 1)
            try:
                tensors = _bench_tensors(ds)
                for seed in range(seeds):
                    seed_runs, seed_failures = _run_seed(ds, tensors, recipe, chosen, seed, bar=bar)
                    runs += seed_runs
                    failures += seed_failures
            finally:
                torch.set_num_threads(old_threads)
        else:
            for seed_runs, seed_failures in _run_seeds_in_processes(ds, recipe, chosen, seeds, jobs, threads or 1):
                runs += seed_runs
                failures += seed_failures
                if bar is not None:
                    bar.update(len(chosen))
    finally:
        if bar is not None:
            bar.close()
    order = {n: i for i, n in enumerate(runnable)}
    runs.sort(key=lambda r: (order[r["method"]], r["seed"]))
    failures.sort(key=lambda f: (order[f["method"]], f["seed"]))

    summary = summarise(runs, runnable)
    config = {
        "dataset": ds.name,
        "data": str(data) if data is not None else None,
        "target": target,
        "modality": ds.modality,
        "rho": ds.info.get("rho"),
        "data_seed": data_seed,
        "seeds": list(range(seeds)),
        "methods": runnable,
        "recipe": recipe.to_dict(),
        "model": _model_name(ds.modality),
        "standardised_features": standardised,
        "threads": threads or 1,
        "jobs": jobs,
        "num_classes": ds.num_classes,
        "class_names": ds.class_names,
        "train_counts": ds.train_counts.tolist(),
        "test_counts": ds.test_counts.tolist(),
        "long_tailed": ds.long_tailed,
        "shot_groups": [g.tolist() for g in shot_groups(ds.train_counts)] if ds.long_tailed else None,
        "source": ds.info.get("source"),
        "license": ds.info.get("license"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started": started,
    }
    results = {
        "dataset": ds.name,
        "config": config,
        "runs": runs,
        "summary": summary,
        "skipped": skipped,
        "failures": failures,
    }
    config["total_seconds"] = round(time.perf_counter() - t_start, 2)
    # CPU seconds of this process and its worker processes: with 1 thread and 1 job, about the
    # wall time on an otherwise idle CPU
    config["cpu_seconds"] = round(_cpu_seconds() - cpu_start, 2)
    if write_report:
        from .report import write_report as _write

        out_dir = Path(out) if out is not None else default_out_dir(ds.name)
        _write(results, out_dir)  # also records config["out"]
    return results


def _cpu_seconds() -> float:
    """CPU time of this process plus its finished child processes (the ``jobs`` workers)."""
    try:
        import resource
    except ImportError:  # pragma: no cover  (Windows: this process only)
        return time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _check_jobs(jobs: Any, seeds: int) -> int:
    """At most one worker per seed."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1 (worker processes, one or more seeds each), got {jobs!r}")
    return min(jobs, seeds)


def _bench_tensors(ds: BenchDataset):
    """``(X_train, y_train, X_test, y_test)`` tensors; tabular features and embeddings are
    standardised with the statistics of the training split only."""
    X_tr, X_te = torch.from_numpy(ds.X_train), torch.from_numpy(ds.X_test)
    if ds.modality in _STANDARDISED_MODALITIES:
        mu, sd = X_tr.mean(0, keepdim=True), X_tr.std(0, keepdim=True).clamp_min(1e-6)
        X_tr, X_te = (X_tr - mu) / sd, (X_te - mu) / sd
    return X_tr, torch.from_numpy(ds.y_train), X_te, torch.from_numpy(ds.y_test)


def _run_seed(ds: BenchDataset, tensors, recipe, methods: Sequence[Method], seed: int, bar=None):
    """Train and score every method for one seed: ``(runs, failures)``. The methods share
    one model cache, so a method can reuse another's training of the same seed."""
    X_tr, y_tr, X_te, y_te = tensors
    runs: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    cache: dict[Any, Fit] = {}
    for method in methods:
        if bar is not None:
            bar.set_description(f"{method.name} seed {seed}")
        ctx = RunContext(ds, X_tr, y_tr, recipe, seed, cache)
        try:
            fit = method.fn(ctx)
        except Exception as exc:  # one failing method must not sink the run
            failures.append(
                {"method": method.name, "seed": seed, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
            )
        else:
            runs.append(_score(fit, method, seed, ds, X_te, y_te, recipe))
        if bar is not None:
            bar.update(1)
    return runs, failures


def _score(fit: Fit, method: Method, seed: int, ds: BenchDataset, X_te, y_te, recipe) -> dict[str, Any]:
    logits = predict_logits(fit.model, X_te, recipe.eval_batch_size)
    if fit.posthoc is not None:
        logits = fit.posthoc(logits)
    row: dict[str, Any] = {"method": method.name, "family": method.family, "seed": seed}
    row.update(evaluate(logits, y_te, ds.num_classes, ds.train_counts, ds.long_tailed))
    row["train_seconds"] = float(fit.train_seconds)
    if fit.train_cpu_seconds is not None:
        row["train_cpu_seconds"] = float(fit.train_cpu_seconds)
    row["history"] = {k: [_clean(v) for v in vals] for k, vals in fit.history.items()}
    if fit.weight_history is not None:
        row["weight_history"] = np.asarray(fit.weight_history).tolist()
        if fit.weight_history_steps is not None:
            row["weight_history_steps"] = np.asarray(fit.weight_history_steps).tolist()
    if fit.extra:
        row["extra"] = fit.extra
    return row


def _seed_worker(ds: BenchDataset, recipe, methods: Sequence[Method], seed: int, threads: int):
    torch.set_num_threads(threads)
    return _run_seed(ds, _bench_tensors(ds), recipe, methods, seed)


def _run_seeds_in_processes(ds: BenchDataset, recipe, methods: Sequence[Method], seeds: int, jobs: int, threads: int):
    """Yield each seed's ``(runs, failures)`` as its worker process finishes it."""
    import multiprocessing
    import pickle
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    for method in methods:
        try:
            pickle.dumps(method)
        except Exception as exc:
            raise ValueError(
                f"method {method.name!r} cannot be sent to a worker process ({type(exc).__name__}: {exc}); "
                f"register it as a module-level function, or run with jobs=1"
            ) from None
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_seed_worker, ds, recipe, methods, seed, threads) for seed in range(seeds)]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool:
            raise RuntimeError(
                "a bench worker process died before finishing (see its traceback above). Worker processes "
                "re-import your main script: run a script file (not stdin) that calls run_bench under "
                "'if __name__ == \"__main__\":', or run with jobs=1"
            ) from None


def _model_name(modality: str) -> str:
    return {"image": "SmallCNN", "series": "Conv1dNet", "tabular": "MLP", "embedding": "MLP"}[modality]


def _subset(ds: BenchDataset, max_train: int | None, max_test: int | None, seed: int) -> BenchDataset:
    rng = np.random.default_rng(seed)

    def pick(y: np.ndarray, limit: int | None) -> np.ndarray:
        if limit is None or limit >= len(y):
            return np.arange(len(y))
        # keep every class (at least one sample each), the rest proportionally
        keep = []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            k = max(1, int(round(limit * idx.size / len(y))))
            keep.append(rng.choice(idx, size=min(k, idx.size), replace=False))
        return np.sort(np.concatenate(keep))

    tr, te = pick(ds.y_train, max_train), pick(ds.y_test, max_test)
    return BenchDataset(
        ds.name,
        ds.modality,
        ds.X_train[tr],
        ds.y_train[tr],
        ds.X_test[te],
        ds.y_test[te],
        ds.class_names,
        ds.long_tailed,
        dict(ds.info, max_train=max_train, max_test=max_test),
    )
