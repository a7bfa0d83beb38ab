"""``select_method`` and ``acwa bench`` on a real Dask cluster (``distributed.LocalCluster``),
through the ``concurrent.futures`` executor of ``client.get_executor()``: the same result as
the serial run, and each training reported as it finishes."""

import pytest
import torch

distributed = pytest.importorskip("distributed")

from acwa.auto import select_method  # noqa: E402
from acwa.bench import run_bench  # noqa: E402


def _labels() -> torch.Tensor:
    return torch.arange(60) % 3


def _fold_model(method, train_idx, predict_idx):
    """A deterministic nearest-class-mean 'training' (module level: picklable for the workers)."""
    g = torch.Generator().manual_seed(3)
    y = _labels()
    X = torch.randn(60, 4, generator=g) + y[:, None].float()
    shift = {"weighted-ce": 0.0, "la": 0.3, "balanced-sampler": 0.1}[method]
    means = torch.stack([X[train_idx][y[train_idx] == c].mean(0) for c in range(3)])
    return -torch.cdist(X[predict_idx], means) + shift * torch.arange(3.0)


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def test_select_method_on_a_dask_cluster_gives_the_serial_result(client, capsys):
    y = _labels()
    kw = dict(candidates=["weighted-ce", "la", "balanced-sampler"], num_folds=3, retrain=False)
    plain = select_method(_fold_model, y, **kw)
    capsys.readouterr()
    on_dask = select_method(_fold_model, y, executor=client.get_executor(), verbose=True, **kw)
    assert on_dask.method == plain.method and on_dask.trainings == plain.trainings == 9
    for m in kw["candidates"]:
        assert torch.equal(on_dask.oof_logits[m], plain.oof_logits[m])
        assert on_dask.candidates[m].fold_scores == plain.candidates[m].fold_scores
    assert capsys.readouterr().out.count("trained (") == 9


def test_bench_on_a_dask_cluster_gives_the_serial_result(client):
    kw = dict(methods="ce,crt", seeds=2, epochs=2, progress=False, write_report=False)
    plain = run_bench("digits-lt", **kw)
    lines: list[str] = []
    on_dask = run_bench("digits-lt", jobs=client.get_executor(), log=lines.append, **kw)

    def metrics(res):
        return sorted((r["method"], r["seed"], r["balanced_accuracy"], r["per_class_f1"]) for r in res["runs"])

    assert on_dask["failures"] == [] and metrics(on_dask) == metrics(plain)
    assert sum("seed" in line and "bal. acc" in line for line in lines) == 4
