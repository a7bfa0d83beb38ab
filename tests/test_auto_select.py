"""acwa.auto: cross-fitted method selection with the user's training function."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from acwa.auto import DEFAULT_CANDIDATES, PORTFOLIO, AutoSelector, method_recipe, select_method
from acwa.posthoc import tune_threshold
from acwa.splits import stratified_folds

torch.set_num_threads(1)


def _labels(counts=(40, 12, 6, 2)):
    return torch.cat([torch.full((n,), c, dtype=torch.long) for c, n in enumerate(counts)])


def _oracle_logits(y: torch.Tensor, idx: torch.Tensor, noise: float, seed: int, prior=None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    C = int(y.max()) + 1
    z = 2.0 * nn.functional.one_hot(y[idx], C).float() + noise * torch.randn(idx.numel(), C, generator=g)
    if prior is not None:
        z = z + prior
    return z


def test_picks_the_best_candidate_within_budget_and_keeps_every_class_in_training():
    y = _labels()
    calls = []
    noise = {"weighted-ce": 3.0, "balanced-sampler": 0.2, "la": 1.5, "cb-focal": 2.5}

    def train_and_predict(method, train_idx, predict_idx):
        calls.append((method, train_idx.clone(), predict_idx.clone()))
        assert set(train_idx.tolist()).isdisjoint(predict_idx.tolist())
        assert torch.unique(y[train_idx]).numel() == 4  # every class keeps a training sample
        return _oracle_logits(y, predict_idx, noise[method], len(calls)), f"model-{method}"

    res = select_method(train_and_predict, y, num_folds=3)
    assert res.method == "balanced-sampler" and res.model == "model-balanced-sampler"
    assert res.trainings == len(calls) == 3 * 4 + 1 == AutoSelector(num_folds=3).budget
    assert AutoSelector().budget == 5 * 4 + 1
    assert set(res.candidates) == set(DEFAULT_CANDIDATES)
    ranked = sorted(res.candidates.values(), key=lambda c: -c.score)
    assert ranked[0].method == "balanced-sampler" and ranked[0].score > ranked[-1].score
    assert all(len(c.fold_scores) == 3 for c in res.candidates.values())
    # the final call trains on everything and predicts nothing
    method, tr, pr = calls[-1]
    assert method == "balanced-sampler" and tr.tolist() == list(range(len(y))) and pr.numel() == 0
    # held-out folds are the stratified folds; the singleton-free classes are each held out once
    heldout = torch.cat([pr for m, _, pr in calls[:3]])
    assert sorted(heldout.tolist()) == list(range(len(y)))
    text = res.explain()
    assert "balanced-sampler" in text and "<- chosen" in text and "13 trainings" in text


def test_singleton_classes_stay_in_training_and_are_not_scored():
    y = _labels((20, 8, 1))
    seen = []

    def train_and_predict(method, train_idx, predict_idx):
        seen.append(train_idx)
        return _oracle_logits(y, predict_idx, 0.1, 0)

    res = select_method(train_and_predict, y, candidates=["la", "ce"], num_folds=4, retrain=False)
    assert all(int(len(y) - 1) in t.tolist() for t in seen)
    assert res.unscored == [2] and res.model is None and res.trainings == 8
    assert "one sample" in res.explain()


def test_bias_is_applied_only_when_it_improves_the_cross_fitted_score():
    y = _labels((60, 20, 10))
    prior = torch.tensor([3.0, 0.0, -3.0])  # a model biased towards the head class

    def biased(method, train_idx, predict_idx):
        return _oracle_logits(y, predict_idx, 0.8, int(predict_idx[0]), prior=prior)

    res = select_method(biased, y, candidates=["la"], num_folds=3, retrain=False)
    assert res.bias is not None and res.corrected_score > res.raw_score
    z = _oracle_logits(y, torch.arange(len(y)), 0.8, 7, prior=prior)
    from acwa.metrics import balanced_accuracy

    raw = float(balanced_accuracy(z.argmax(1), y, 3))
    fixed = float(balanced_accuracy(res.predict(z), y, 3))
    assert fixed > raw + 0.1
    assert "applied" in res.explain()

    def clean(method, train_idx, predict_idx):
        return _oracle_logits(y, predict_idx, 0.01, 0)

    res2 = select_method(clean, y, candidates=["la"], num_folds=3, retrain=False)
    assert res2.bias is None and res2.raw_score == 1.0 and "not applied" in res2.explain()
    assert torch.equal(res2.adjust(z), z)


def test_one_logit_binary_models_get_a_threshold():
    y = torch.cat([torch.zeros(80, dtype=torch.long), torch.ones(12, dtype=torch.long)])

    def train_and_predict(method, train_idx, predict_idx):
        g = torch.Generator().manual_seed(int(predict_idx.sum()) if predict_idx.numel() else 0)
        return 1.5 * y[predict_idx].float() - 2.0 + 0.5 * torch.randn(predict_idx.numel(), generator=g)

    res = select_method(train_and_predict, y, candidates=["weighted-ce"], num_folds=4)
    assert res.threshold is not None and res.threshold < 0 and res.corrected_score > res.raw_score
    assert "threshold" in res.explain()


def test_real_training_with_method_recipes():
    g = torch.Generator().manual_seed(0)
    counts = (60, 15, 6)
    means = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    X = torch.cat([means[c] + 0.8 * torch.randn(n, 2, generator=g) for c, n in enumerate(counts)])
    y = _labels(counts)

    def train_and_predict(method, train_idx, predict_idx):
        recipe = method_recipe(method, y[train_idx], num_classes=3)
        torch.manual_seed(0)
        model = nn.Linear(2, 3)
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        Xt, yt = X[train_idx], y[train_idx]
        for _ in range(3):
            order = (
                torch.tensor(list(iter(recipe.sampler)))
                if recipe.sampler is not None
                else torch.randperm(len(yt), generator=torch.Generator().manual_seed(1))
            )
            for s in range(0, len(order), 32):
                b = order[s : s + 32]
                opt.zero_grad()
                recipe.loss(model(Xt[b]), yt[b]).backward()
                opt.step()
        with torch.no_grad():
            return model(X[predict_idx]), model

    res = select_method(train_and_predict, y, num_folds=3, seed=1)
    assert res.method in DEFAULT_CANDIDATES and isinstance(res.model, nn.Linear)
    assert all(0.0 <= c.score <= 1.0 for c in res.candidates.values())
    assert res.candidates[res.method].score == max(c.score for c in res.candidates.values())


def test_method_recipes():
    y = _labels((30, 10, 3))
    for name in PORTFOLIO:
        r = method_recipe(name, y, 3)
        assert (r.loss is None) == (name == "autobalance")
        assert (r.sampler is not None) == (name == "balanced-sampler")
    w = method_recipe("weighted-ce", y, 3).loss.weight
    assert float(w.sum()) == pytest.approx(3.0, rel=1e-5)  # normalised to sum C
    ratio = (w[2] / w[0]).item()
    assert ratio == pytest.approx(10.0, rel=1e-5)
    with pytest.raises(ValueError, match="method must be one of"):
        method_recipe("smote", y, 3)


def test_bad_input():
    y = _labels()

    def fn(method, train_idx, predict_idx):
        return torch.zeros(predict_idx.numel(), 4)

    with pytest.raises(ValueError, match="num_folds"):
        select_method(fn, y, num_folds=1)
    with pytest.raises(ValueError, match="candidates"):
        select_method(fn, y, candidates="la")
    with pytest.raises(ValueError, match="metric must be one of"):
        select_method(fn, y, metric="auc")
    with pytest.raises(ValueError, match="integer class ids"):
        select_method(fn, y.float())
    with pytest.raises(ValueError, match="train_and_predict must be callable"):
        select_method(None, y)

    def nan_fn(method, train_idx, predict_idx):
        return torch.full((predict_idx.numel(), 4), float("nan"))

    with pytest.raises(ValueError, match="NaN"):
        select_method(nan_fn, y, candidates=["la"])

    def bad_metric(logits, labels):
        return float("nan")

    with pytest.raises(ValueError, match="finite number"):
        select_method(fn, y, candidates=["la"], metric=bad_metric)


def _brute_threshold(z, y, objective, target=None):
    best = (-1.0, None)
    cands = sorted(set(z.tolist()))
    cuts = [cands[0] - 1.0] + [(a + b) / 2 for a, b in zip(cands, cands[1:])] + [cands[-1] + 1.0]
    for t in sorted(cuts, reverse=True):
        p = z > t
        tp = float((p & (y == 1)).sum())
        fp = float((p & (y == 0)).sum())
        P, Nn = float((y == 1).sum()), float((y == 0).sum())
        rec = tp / P
        prec = tp / (tp + fp) if tp + fp else 1.0
        if objective == "f1":
            v = 2 * tp / (tp + fp + P)
        elif objective == "balanced_accuracy":
            v = (rec + (Nn - fp) / Nn) / 2
        else:
            v = prec if rec >= target else -1.0
        if v > best[0] + 1e-12:
            best = (v, t)
    return best


@pytest.mark.parametrize("objective", ["f1", "balanced_accuracy", "recall"])
def test_tune_threshold_matches_brute_force(objective):
    g = torch.Generator().manual_seed(3)
    for trial in range(5):
        n = 40 + trial * 7
        y = (torch.rand(n, generator=g) < 0.2).long()
        y[0], y[1] = 0, 1
        z = torch.randn(n, generator=g).double().round(decimals=1) + y * 1.0  # ties on purpose
        target = 0.8 if objective == "recall" else None
        res = tune_threshold(z, y, objective, target_recall=target)
        value, t = _brute_threshold(z, y, objective, target)
        assert res.score == pytest.approx(value, abs=1e-9)
        assert res.threshold == pytest.approx(t, abs=1e-9)
        assert res.precision.shape == res.recall.shape == res.thresholds.shape
        assert bool((res.thresholds[1:] < res.thresholds[:-1]).all())
        assert int(res.predict(z).sum()) == int((z > res.threshold).sum())
    two = torch.stack([torch.zeros(n, dtype=torch.float64), z], 1)
    assert tune_threshold(two, y, objective, target_recall=target).threshold == pytest.approx(res.threshold)


def test_tune_threshold_bad_input():
    z = torch.randn(10)
    y = torch.tensor([0, 1] * 5)
    with pytest.raises(ValueError, match="objective must be one of"):
        tune_threshold(z, y, "auc")
    with pytest.raises(ValueError, match="target_recall"):
        tune_threshold(z, y, "recall")
    with pytest.raises(ValueError, match="both classes"):
        tune_threshold(z, torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="0/1"):
        tune_threshold(z, y + 1)
    with pytest.raises(ValueError, match="finite"):
        tune_threshold(torch.full((10,), float("nan")), y)
    with pytest.raises(ValueError, match="shape"):
        tune_threshold(torch.randn(10, 3), y)
    assert tune_threshold(z, y.bool()).objective == "f1"
    assert stratified_folds(y, 2).shape == (10,)
