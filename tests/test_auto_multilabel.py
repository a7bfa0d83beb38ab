"""acwa.auto on multi-label data: multi-hot labels [N, L], one sigmoid logit per label."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from acwa.auto import (
    DEFAULT_CANDIDATES,
    DEFAULT_MULTILABEL_CANDIDATES,
    MULTILABEL_PORTFOLIO,
    SELECTION_METRICS,
    AutoSelector,
    method_recipe,
    select_method,
)
from acwa.splits import multilabel_folds

torch.set_num_threads(1)


def _multi_hot(n=120, rates=(0.5, 0.3, 0.15, 0.06), seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, len(rates), generator=g) < torch.tensor(rates)).long()
    y[: len(rates)] = torch.eye(len(rates), dtype=torch.long)  # every label has a positive
    return y


def _oracle(y: torch.Tensor, idx: torch.Tensor, noise: float, seed: int, shift=None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = 2.0 * (2 * y[idx].float() - 1) + noise * torch.randn(idx.numel(), y.shape[1], generator=g)
    return z if shift is None else z + shift


@pytest.mark.parametrize("seed", range(6))
def test_multilabel_folds_spread_every_label(seed):
    rng = np.random.default_rng(seed)
    n, L, k = int(rng.integers(40, 200)), int(rng.integers(2, 9)), int(rng.integers(2, 6))
    Y = (rng.random((n, L)) < rng.uniform(0.02, 0.5, L)).astype(np.int64)
    Y[:, -1] = Y[:, 0] * (rng.random(n) < 0.5)  # a label nested in another one
    folds = multilabel_folds(Y, num_folds=k, seed=seed)
    assert folds.shape == (n,) and folds.dtype == np.int64 and folds.min() >= 0 and folds.max() < k
    sizes = np.bincount(folds, minlength=k)
    assert sizes.sum() == n and sizes.min() > 0  # every row in exactly one fold, no empty fold
    for label in range(L):
        per_fold = np.bincount(folds[Y[:, label] > 0], minlength=k)
        if Y[:, label].sum() >= k:
            assert (per_fold > 0).all(), (label, per_fold)
        assert per_fold.max() - per_fold.min() <= max(2, Y[:, label].sum() // k)  # spread, not piled up
    assert np.array_equal(folds, multilabel_folds(torch.from_numpy(Y).bool(), num_folds=k, seed=seed))


def test_multilabel_folds_bad_input():
    Y = _multi_hot(20)
    with pytest.raises(ValueError, match="only 0 and 1"):
        multilabel_folds(Y * 2, 3)
    with pytest.raises(ValueError, match=r"multi-hot matrix \[N, L\]"):
        multilabel_folds(Y[:, 0], 3)
    with pytest.raises(ValueError, match="num_folds"):
        multilabel_folds(Y, 1)
    with pytest.raises(ValueError, match="exceeds the number of samples"):
        multilabel_folds(Y[:3], 4)


def test_picks_the_clearly_better_candidate_within_budget():
    y = _multi_hot()
    calls = []
    noise = {"bce": 3.0, "bce-pos-weight": 2.5, "asl": 0.3, "distribution-balanced": 2.0}

    def train_and_predict(method, train_idx, predict_idx):
        calls.append((method, train_idx.clone(), predict_idx.clone()))
        assert set(train_idx.tolist()).isdisjoint(predict_idx.tolist())
        return _oracle(y, predict_idx, noise[method], len(calls)), f"model-{method}"

    res = select_method(train_and_predict, y, num_folds=3)  # multi-hot: default candidates and metric
    assert res.method == "asl" and res.model == "model-asl" and res.task == "multilabel"
    assert set(res.candidates) == set(DEFAULT_MULTILABEL_CANDIDATES) and res.metric == "mean_average_precision"
    assert res.trainings == len(calls) == 3 * len(DEFAULT_MULTILABEL_CANDIDATES) + 1 == AutoSelector(num_folds=3).budget
    assert len(DEFAULT_MULTILABEL_CANDIDATES) == len(DEFAULT_CANDIDATES)  # one budget for both kinds
    method, tr, pr = calls[-1]
    assert method == "asl" and tr.tolist() == list(range(len(y))) and pr.numel() == 0
    heldout = torch.cat([p for _, _, p in calls[:3]])
    assert sorted(heldout.tolist()) == list(range(len(y)))  # every row out of fold exactly once
    assert res.oof_logits["asl"].shape == y.shape and all(len(c.fold_scores) == 3 for c in res.candidates.values())
    # mAP does not depend on thresholds: no correction tried
    assert res.thresholds is None and res.bias is None and res.corrected_score is None
    text = str(res)
    assert "<- chosen" in text and "multi-label stratified" in text and "does not depend on thresholds" in text
    z = _oracle(y, torch.arange(len(y)), 0.3, 0)
    assert torch.equal(res.predict(z), (z > 0).long())


def test_per_label_thresholds_for_macro_f1_when_they_help():
    y = _multi_hot(200, seed=1)
    shift = torch.tensor([0.0, -1.5, -2.5, -3.0])  # a model too shy on the rare labels

    def shy(method, train_idx, predict_idx):
        return _oracle(y, predict_idx, 1.0, int(predict_idx[0]), shift=shift)

    res = select_method(shy, y, candidates=["bce"], num_folds=3, metric="macro_f1", retrain=False)
    assert res.thresholds is not None and res.thresholds.shape == (4,) and res.corrected_score > res.raw_score
    assert float(res.thresholds[3]) < float(res.thresholds[0])  # the shy rare label gets the lower threshold
    z = _oracle(y, torch.arange(len(y)), 1.0, 9, shift=shift)
    f1 = SELECTION_METRICS["macro_f1"]
    assert f1(res.adjust(z), y) > f1(z, y) + 0.05
    assert res.predict(z).shape == y.shape and "per-label threshold" in res.explain() and "applied" in res.explain()


def test_real_training_with_multilabel_recipes():
    g = torch.Generator().manual_seed(0)
    y = _multi_hot(150, seed=2)
    X = torch.randn(150, 6, generator=g)
    X[:, :4] += 2.0 * y.float()

    def train_and_predict(method, train_idx, predict_idx):
        recipe = method_recipe(method, y[train_idx], num_classes=4)
        assert recipe.sampler is None and recipe.class_counts.shape == (2, 4)
        torch.manual_seed(0)
        model = nn.Linear(6, 4)
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        for _ in range(15):
            opt.zero_grad()
            recipe.loss(model(X[train_idx]), y[train_idx].float()).backward()
            opt.step()
        with torch.no_grad():
            return model(X[predict_idx]), model

    res = select_method(train_and_predict, y, num_folds=2, candidates=list(MULTILABEL_PORTFOLIO))
    assert res.trainings == 2 * 6 + 1 and isinstance(res.model, nn.Linear)
    assert all(0.3 < c.score <= 1.0 for c in res.candidates.values())
    assert res.candidates[res.method].score == max(c.score for c in res.candidates.values())


def test_multilabel_recipes_count_the_training_labels_only():
    y = _multi_hot(60)
    y[:, 3] = 0  # a label without positives in this training subset
    z = torch.randn(60, 4)
    for name in MULTILABEL_PORTFOLIO:
        r = method_recipe(name, y, 4)
        assert r.loss is not None and torch.isfinite(r.loss(z, y.float()))
        assert r.class_counts.tolist() == [(60 - y.sum(0)).tolist(), y.sum(0).tolist()]
    pw = method_recipe("bce-pos-weight", y, 4).loss.pos_weight
    n_pos = y.sum(0).double()
    assert torch.allclose(pw[:3].double(), ((60 - n_pos) / n_pos)[:3].clamp(max=100), rtol=1e-5)
    assert float(pw[3]) == 100.0  # no positives: the cap
    assert method_recipe("asl", y.bool(), 4).class_counts.shape == (2, 4)  # bool / float 0/1 accepted


def test_errors_name_the_argument():
    y = _multi_hot()
    with pytest.raises(ValueError, match="train_labels.*multi-hot"):
        method_recipe("la", y, 4)  # a multiclass method with multi-hot labels
    with pytest.raises(ValueError, match="train_labels must be multi-hot"):
        method_recipe("asl", torch.tensor([0, 1, 2, 1]), 3)  # a multi-label method with class ids
    with pytest.raises(ValueError, match="train_labels must hold only 0 and 1"):
        method_recipe("bce", y * 2, 4)
    with pytest.raises(ValueError, match="num_classes"):
        method_recipe("bce", y, 3)

    def fn(method, train_idx, predict_idx):
        return torch.zeros(predict_idx.numel(), 4)

    with pytest.raises(ValueError, match="candidates.*multi-hot"):
        select_method(fn, y, candidates=["la", "bce"])
    with pytest.raises(ValueError, match="candidates.*class-id"):
        select_method(fn, torch.tensor([0, 1] * 10), candidates=["asl"])
    with pytest.raises(ValueError, match="labels must hold only 0 and 1"):
        select_method(fn, y * 3)
    with pytest.raises(ValueError, match="no positive"):
        select_method(fn, torch.zeros_like(y))

    def wrong_width(method, train_idx, predict_idx):
        return torch.zeros(predict_idx.numel(), 3)

    with pytest.raises(ValueError, match=r"must return logits \[\d+, 4\]"):
        select_method(wrong_width, y, candidates=["bce"], num_folds=2)

    def nan_fn(method, train_idx, predict_idx):
        return torch.full((predict_idx.numel(), 4), float("nan"))

    with pytest.raises(ValueError, match="NaN"):
        select_method(nan_fn, y, candidates=["bce"], num_folds=2)


def test_bench_acwa_auto_on_multi_hot_data(tmp_path):
    from acwa.bench import METHODS, run_bench
    from acwa.bench.auto import AUTO_FOLDS, AUTO_MULTILABEL_CANDIDATES

    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 5)).astype(np.float32)
    Y = (rng.random((160, 3)) < np.array([0.4, 0.2, 0.1])).astype(np.int64)
    Y[:3] = np.eye(3, dtype=np.int64)
    X[:, :3] += 1.5 * Y
    np.savez(tmp_path / "ml.npz", X=X, y=Y)
    res = run_bench(
        data=str(tmp_path / "ml.npz"), methods="bce,acwa-auto", seeds=1, epochs=2, write_report=False, progress=False
    )
    assert res["failures"] == [] and res["skipped"] == [] and res["config"]["task"] == "multilabel"
    assert "multilabel" in METHODS["acwa-auto"].tasks
    auto = next(r for r in res["runs"] if r["method"] == "acwa-auto")
    extra = auto["extra"]["auto"]
    assert extra["method"] in AUTO_MULTILABEL_CANDIDATES and extra["metric"] == "mean_average_precision"
    assert set(extra["oof"]) == set(AUTO_MULTILABEL_CANDIDATES) and extra["metric"] == "mean_average_precision"
    assert extra["trainings"] == AUTO_FOLDS * len(AUTO_MULTILABEL_CANDIDATES) + 1 == METHODS["acwa-auto"].trainings
    assert extra["bias"] is None and extra["thresholds"] is None
    assert 0.0 < auto["mean_average_precision"] <= 1.0
