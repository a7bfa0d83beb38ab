"""The seed loop of a bench run: train and score every (method, seed), in this process or in
worker processes, reporting each finished run as soon as it exists.

* :func:`bench_tensors`: the tensors of a dataset (tabular features and embeddings standardised
  with training-split statistics only).
* :func:`run_seed`: every method for one seed, sharing one model cache (``la-posthoc`` reuses
  ``ce``'s training of the same seed).
* :func:`execute`: all seeds; ``jobs > 1`` runs seeds in spawned worker processes with at most
  ``2 * jobs`` seeds queued at a time, so ``seeds`` may be huge without using memory. Workers
  ignore SIGINT; on Ctrl-C the main process stops them and the finished runs are kept.
* :class:`Progress`: a tqdm bar on a terminal (runs done, current method and seed, ETA), else one
  line per finished run through ``log``.
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import torch

from acwa.bench.calibration import calibration_metrics
from acwa.bench.registry import Method
from acwa.bench.scoring import BENCH_METRICS, DEFAULT_RANK_BY, clean, evaluate
from acwa.bench.training import Fit, Recipe, RunContext, predict_logits, two_class_logits
from acwa.data import BenchDataset

__all__ = [
    "STANDARDISED_MODALITIES",
    "bench_tensors",
    "run_seed",
    "score_fit",
    "execute",
    "Progress",
    "cpu_seconds",
    "check_picklable",
]

STANDARDISED_MODALITIES = ("tabular", "embedding")  # features standardised with training statistics
Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
OnRun = Callable[[dict[str, Any]], None]


def cpu_seconds() -> float:
    """CPU time of this process plus its finished child processes (the ``jobs`` workers)."""
    try:
        import resource
    except ImportError:  # pragma: no cover  (Windows: this process only)
        return time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def bench_tensors(ds: BenchDataset) -> Tensors:
    """``(X_train, y_train, X_test, y_test)`` tensors; tabular features and embeddings are
    standardised with the statistics of the training split only."""
    X_tr, X_te = torch.from_numpy(ds.X_train), torch.from_numpy(ds.X_test)
    if ds.modality in STANDARDISED_MODALITIES:
        mu, sd = X_tr.mean(0, keepdim=True), X_tr.std(0, keepdim=True).clamp_min(1e-6)
        X_tr, X_te = (X_tr - mu) / sd, (X_te - mu) / sd
    return X_tr, torch.from_numpy(ds.y_train), X_te, torch.from_numpy(ds.y_test)


def score_fit(
    fit: Fit, method: Method, seed: int, ds: BenchDataset, X_te: torch.Tensor, y_te: torch.Tensor, recipe: Recipe
) -> dict[str, Any]:
    """The run row of ``results.json``: test metrics of ``fit`` plus what happened in training."""
    logits = predict_logits(fit.model, X_te, recipe.eval_batch_size)
    if fit.posthoc is not None:
        logits = fit.posthoc(logits)
    if y_te.dim() == 1:  # a one-logit binary model is scored as [0, z]
        logits = two_class_logits(logits)
    row: dict[str, Any] = {"method": method.name, "family": method.family, "seed": seed}
    row.update(evaluate(logits, y_te, ds.num_classes, ds.train_counts, ds.long_tailed))
    row.update(calibration_metrics(logits, y_te))
    row["train_seconds"] = float(fit.train_seconds)
    if fit.train_cpu_seconds is not None:
        row["train_cpu_seconds"] = float(fit.train_cpu_seconds)
    row["trainings"] = int(fit.trainings if fit.trainings is not None else method.trainings)
    row["history"] = {k: [clean(v) for v in vals] for k, vals in fit.history.items()}
    if fit.weight_history is not None:
        row["weight_history"] = np.asarray(fit.weight_history).tolist()
        if fit.weight_history_steps is not None:
            row["weight_history_steps"] = np.asarray(fit.weight_history_steps).tolist()
    if fit.adapted:
        row["adapted"] = [trace.to_dict() for trace in fit.adapted]
    if fit.extra:
        row["extra"] = fit.extra
    return row


def run_seed(
    ds: BenchDataset,
    tensors: Tensors,
    recipe: Recipe,
    methods: Sequence[Method],
    seed: int,
    on_run: OnRun | None = None,
    on_start: Callable[[str, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Train and score every method for one seed; returns the rows (a failure is a row with
    ``'error'``), each also passed to ``on_run`` as soon as it is finished."""
    X_tr, y_tr, X_te, y_te = tensors
    rows: list[dict[str, Any]] = []
    cache: dict[Any, Fit] = {}
    for method in methods:
        if on_start is not None:
            on_start(method.name, seed)
        ctx = RunContext(ds, X_tr, y_tr, recipe, seed, cache)
        try:
            row = score_fit(method.fn(ctx), method, seed, ds, X_te, y_te, recipe)
        except Exception as exc:  # one failing method must not sink the run
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            row = {"method": method.name, "family": method.family, "seed": seed, "error": error}
        rows.append(row)
        if on_run is not None:
            on_run(row)
    return rows


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C


def _seed_worker(
    ds: BenchDataset, recipe: Recipe, methods: Sequence[Method], seed: int, threads: int
) -> list[dict[str, Any]]:
    torch.set_num_threads(threads)
    return run_seed(ds, bench_tensors(ds), recipe, methods, seed)


def check_picklable(methods: Sequence[Method]) -> None:
    for method in methods:
        try:
            pickle.dumps(method)
        except Exception as exc:
            raise ValueError(
                f"method {method.name!r} cannot be sent to a worker process ({type(exc).__name__}: {exc}); "
                f"register it as a module-level function, or run with jobs=1"
            ) from None


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now (Ctrl-C): cancel queued seeds and terminate running ones."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # stdlib internals before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join(timeout=10)


def _in_processes(
    ds: BenchDataset,
    recipe: Recipe,
    methods: Sequence[Method],
    seeds: int,
    jobs: int,
    threads: int,
    given: Executor | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield each seed's rows as its worker finishes, with at most ``2 * jobs`` seeds queued;
    on the caller's executor ``given`` when set (never shut down here)."""
    if given is None:
        check_picklable(methods)
    pool: Any = given or ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
    )
    pending: set[Future] = set()
    next_seed = 0
    try:
        while next_seed < seeds or pending:
            while next_seed < seeds and len(pending) < 2 * jobs:
                pending.add(pool.submit(_seed_worker, ds, recipe, methods, next_seed, threads))
                next_seed += 1
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    except BrokenProcessPool:
        _release(pool, given, pending)
        raise RuntimeError(
            "a bench worker process died before finishing (see its traceback above). Worker processes "
            "re-import your main script: run a script file (not stdin) that calls run_bench under "
            "'if __name__ == \"__main__\":', or run with jobs=1"
        ) from None
    except BaseException:
        _release(pool, given, pending)
        raise
    if given is None:
        pool.shutdown(wait=True)


def _release(pool: Any, given: Executor | None, pending: set[Future]) -> None:
    """Stop our own pool; on the caller's executor, only cancel the seeds not started yet."""
    if given is None:
        _stop(pool)
        return
    for future in pending:
        future.cancel()


class Progress:
    """Progress over ``total`` runs: a tqdm bar when ``bar`` and tqdm is installed and stderr is
    a terminal; otherwise one line per finished run through ``log`` (nothing when ``log`` is None)."""

    def __init__(self, total: int, bar: bool, log: Callable[[str], None] | None, rank_by: str = DEFAULT_RANK_BY):
        self.total, self.done, self.log, self.rank_by = total, 0, log, rank_by
        self.t0 = time.perf_counter()
        self.bar: Any = None
        if bar and sys.stderr.isatty():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                if log is not None:
                    log("no progress bar: tqdm is not installed (pip install 'acwa-torch[bench]'); one line per run")
            else:
                self.bar = tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True, leave=False)

    def start(self, method: str, seed: int) -> None:
        if self.bar is not None:
            self.bar.set_description(f"{method} seed {seed}")

    def finished(self, rows: Sequence[dict[str, Any]]) -> None:
        self.done += len(rows)
        if self.bar is not None:
            self.bar.update(len(rows))
            return
        if self.log is None:
            return
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        for row in rows:
            label = BENCH_METRICS[self.rank_by].label
            if "error" in row:
                what = f"FAILED {row['error']}"
            else:
                value = row.get(self.rank_by)
                what = f"{label} {'–' if value is None else f'{value:.3f}'} ({row['train_seconds']:.1f} s)"
            self.log(f"[{self.done}/{self.total}] {row['method']} seed {row['seed']}: {what}; ETA {_duration(eta)}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def execute(
    ds: BenchDataset,
    recipe: Recipe,
    methods: Sequence[Method],
    seeds: int,
    jobs: int | Executor,
    threads: int,
    on_run: OnRun,
    progress: Progress | None = None,
) -> None:
    """Run every method for seeds ``0 .. seeds-1``; ``on_run(row)`` for each finished row (in
    this process as soon as it finishes; with workers, a seed's rows when its worker returns).
    A ``KeyboardInterrupt`` propagates after the workers are stopped; rows already passed to
    ``on_run`` are the finished runs. ``jobs`` may be a :class:`concurrent.futures.Executor`,
    which then runs the seeds (each seed's rows reported when it finishes)."""

    def report(row: dict[str, Any]) -> None:
        on_run(row)
        if progress is not None:
            progress.finished([row])

    given = jobs if isinstance(jobs, Executor) else None
    workers = max(1, int(getattr(given, "_max_workers", 1) or 1)) if given is not None else int(jobs)  # type: ignore[arg-type]
    if workers == 1 and given is None:
        old_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            tensors = bench_tensors(ds)
            for seed in range(seeds):
                run_seed(
                    ds,
                    tensors,
                    recipe,
                    methods,
                    seed,
                    on_run=report,
                    on_start=None if progress is None else progress.start,
                )
        finally:
            torch.set_num_threads(old_threads)
        return
    for rows in _in_processes(ds, recipe, methods, seeds, workers, threads, given):
        for row in rows:
            on_run(row)
        if progress is not None:
            progress.finished(rows)
