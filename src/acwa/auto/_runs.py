"""The fold trainings of :func:`acwa.auto.select_method`, in order or on an executor.

Every (candidate, fold) training is independent: it sees only its own training indices. With a
:class:`concurrent.futures.Executor` (``ThreadPoolExecutor``, ``ProcessPoolExecutor``, Dask's
``client.get_executor()``, ...) they are all submitted at once and each is reported as it
finishes; the out-of-fold logits are assembled by (candidate, fold), so the result does not
depend on the executor or on the finishing order (given a ``train_and_predict`` that is a pure
function of its arguments, e.g. seeded from them). A process pool needs a picklable,
module-level ``train_and_predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, as_completed
from typing import Any

import torch
from torch import Tensor

__all__ = ["fold_logits", "as_logits"]


def as_logits(out: Any, method: str) -> tuple[Tensor, Any]:
    """``(logits [n, C], model)`` of a ``train_and_predict`` result (logits, or ``(logits, model)``)."""
    logits, model = out if isinstance(out, tuple) else (out, None)
    if not isinstance(logits, Tensor):
        raise ValueError(f"train_and_predict({method!r}, ...) must return logits, got {type(logits).__name__}")
    return (logits.unsqueeze(1) if logits.dim() == 1 else logits), model


def fold_logits(
    train_and_predict: Callable[[str, Tensor, Tensor], Any],
    candidates: Sequence[str],
    folds: Tensor,
    num_folds: int,
    always: Tensor,
    width: int | None = None,
    executor: Executor | None = None,
    on_done: Callable[[str, int, int, int], None] | None = None,
) -> dict[str, Tensor]:
    """Out-of-fold logits ``[N, C]`` per candidate: fold k's model trains on the samples outside
    fold k plus ``always`` (singleton classes) and predicts fold k; ``width``: the required
    number of logit columns (multi-label: L). ``on_done(method, fold, done, total)`` after each
    training, in the order they finish."""
    jobs = []
    for method in candidates:
        for k in range(num_folds):
            train = torch.unique(torch.cat([torch.nonzero(folds != k).flatten(), always]))  # sorted
            jobs.append((method, k, train, torch.nonzero(folds == k).flatten()))
    results: dict[tuple[str, int], Tensor] = {}

    def finish(i: int, out: Any) -> None:
        method, k, _, heldout = jobs[i]
        z = _check_fold(as_logits(out, method)[0], heldout.numel(), method, k, width)
        results[(method, k)] = z
        if on_done is not None:
            on_done(method, k, len(results), len(jobs))

    if executor is None:
        for i, (method, _, train, heldout) in enumerate(jobs):
            finish(i, train_and_predict(method, train, heldout))
    else:
        futures = {executor.submit(train_and_predict, m, tr, ho): i for i, (m, _, tr, ho) in enumerate(jobs)}
        try:
            for future in as_completed(futures):
                finish(futures[future], future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    out: dict[str, Tensor] = {}
    for method in candidates:
        widths = {results[(method, k)].shape[1] for k in range(num_folds)}
        if len(widths) != 1:
            raise ValueError(
                f"train_and_predict({method!r}, ...) returned {sorted(widths)} logit columns in different folds; "
                "every fold model must output all C classes (or all L labels)"
            )
        z = torch.empty(folds.numel(), widths.pop(), dtype=torch.float32)
        for k in range(num_folds):
            z[folds == k] = results[(method, k)]
        out[method] = z
    return out


def _check_fold(z: Tensor, rows: int, method: str, fold: int, width: int | None) -> Tensor:
    if z.dim() != 2 or z.shape[0] != rows or (width is not None and z.shape[1] != width):
        cols = "C" if width is None else f"{width}"
        raise ValueError(
            f"train_and_predict({method!r}, ...) must return logits [{rows}, {cols}] (one row per held-out "
            f"sample{'' if width is None else ', one column per label'}) for fold {fold}, got {tuple(z.shape)}"
        )
    if not z.is_floating_point() or not bool(torch.isfinite(z).all()):
        raise ValueError(f"train_and_predict returned NaN/Inf logits for method {method!r}")
    return z.detach().float().cpu()
