"""acwa.auto.select_head: one training, a head chosen on held-out training data."""

import numpy as np
import pytest
import torch
from torch import nn

from acwa.auto import HEAD_TASKS, select_head, select_method
from acwa.auto.scoring import SELECTION_METRICS


class Net(nn.Module):
    def __init__(self, d, outputs):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(d, 16), nn.ReLU())
        self.head = nn.Linear(16, outputs)

    def forward(self, x):
        return self.head(self.features(x))


def _data(C=5, d=8, n_max=200, rho=40, noise=0.9, seed=0, n_test=0):
    g = np.random.default_rng(seed)
    means = g.normal(size=(C, d))
    counts = [max(2, int(n_max * rho ** (-c / (C - 1)))) if n_test == 0 else n_test for c in range(C)]
    X = np.concatenate([means[c] + noise * g.normal(size=(n, d)) for c, n in enumerate(counts)])
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y)


def _trainer(X, Y, outputs, calls):
    def train_fn(train_idx):
        calls.append(train_idx.clone())
        torch.manual_seed(0)
        model = Net(X.shape[1], outputs)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        y = Y[train_idx]
        for _ in range(150):
            z = model(X[train_idx])
            if outputs == 1 or y.dim() == 2:
                loss = nn.functional.binary_cross_entropy_with_logits(
                    z.reshape(y.shape[0], -1), y.reshape(y.shape[0], -1).float()
                )
            else:
                loss = nn.functional.cross_entropy(z, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return model

    return train_fn


def test_one_training_heldout_scores_and_final_model():
    X, y = _data()
    calls = []
    res = select_head(X, y, train_fn=_trainer(X, y, 5, calls), refit=False)
    assert len(calls) == 1 and res.trainings == 1
    tr, ho = res.train_idx, res.heldout_idx
    assert torch.equal(calls[0], tr) and not np.intersect1d(tr.numpy(), ho.numpy()).size
    assert sorted(torch.cat([tr, ho]).tolist()) == list(range(len(y)))
    assert set(torch.unique(y[ho]).tolist()) == set(range(5))  # stratified: every class held out
    assert list(res.scores) == list(HEAD_TASKS["multiclass"])
    assert res.scores[res.method] == max(res.scores.values())
    # the reported score of an untuned candidate is the metric of its logits on the held-out part
    model = calls and res.model
    with torch.no_grad():
        z = model(X[ho])
    if res.method not in ("bias", "tau-norm"):
        assert SELECTION_METRICS["balanced_accuracy"](z, y[ho]) == pytest.approx(res.scores[res.method])
    assert res.scores[res.method] > res.scores["joint"]  # a long-tailed problem: re-balancing helps
    Xt, yt = _data(n_test=200, seed=0)  # same class means (seed 0), balanced
    joint = SELECTION_METRICS["balanced_accuracy"](_joint(calls, X, y, Xt).detach(), yt)
    with torch.no_grad():
        chosen = SELECTION_METRICS["balanced_accuracy"](res.model(Xt), yt)
    assert chosen > joint
    text = res.explain()
    assert "<- chosen" in text and res.method in text and "test split was not used" in text


def _joint(calls, X, y, Xt):
    model = _trainer(X, y, 5, [])(calls[0])
    return model(Xt)


def test_given_model_binary_and_multilabel():
    X, y = _data(C=2, rho=20)
    calls = []
    res = select_head(
        X, y, train_fn=_trainer(X, y, 1, calls), candidates=["joint", "tau-norm", "lws", "threshold", "crt"]
    )
    assert res.task == "binary" and set(res.skipped) == {"tau-norm", "lws"}
    assert set(res.scores) == {"joint", "threshold", "crt"}
    again = select_head(
        X,
        y,
        model=_trainer(X, y, 1, [])(res.train_idx),
        heldout_idx=res.heldout_idx,
        candidates=["joint", "threshold", "crt"],
    )
    assert again.trainings == 0 and again.scores == pytest.approx(res.scores)
    Y = torch.stack([y == 0, y == 1, torch.arange(len(y)) % 5 == 0], 1).long()
    ml = select_head(X, Y, train_fn=_trainer(X, Y, 3, []))
    assert (
        ml.task == "multilabel"
        and ml.metric == "mean_average_precision"
        and set(ml.scores) == set(HEAD_TASKS["multilabel"])
    )
    with pytest.raises(ValueError, match="do not apply to multi-label"):
        select_head(X, Y, train_fn=_trainer(X, Y, 3, []), candidates=["tau-norm"])


def test_bad_input_fails_before_training():
    X, y = _data()
    calls = []
    fn = _trainer(X, y, 5, calls)
    with pytest.raises(ValueError, match="no class has two samples"):
        select_head(X[:3], torch.tensor([0, 1, 2]), train_fn=fn)
    with pytest.raises(ValueError, match="unknown candidates"):
        select_head(X, y, train_fn=fn, candidates=["crt", "nope"])
    with pytest.raises(ValueError, match="one-hot"):
        select_head(X, nn.functional.one_hot(y, 5), train_fn=fn)
    with pytest.raises(ValueError, match="heldout_idx"):
        select_head(X, y, model=Net(8, 5))
    with pytest.raises(ValueError, match="exactly one"):
        select_head(X, y)
    assert calls == []


def test_select_method_refuses_one_hot_and_unknown_candidates_before_training():
    y = torch.tensor([0, 1, 2] * 10)
    calls = []

    def fn(method, tr, ho):
        calls.append(method)
        return torch.zeros(len(ho), 3)

    with pytest.raises(ValueError, match="argmax"):
        select_method(fn, nn.functional.one_hot(y, 3), num_folds=2)
    with pytest.raises(ValueError, match="unknown candidates"):
        select_method(fn, y, candidates=["la", "crt-typo"], num_folds=2)
    assert calls == []


def test_refit_keeps_the_choice_and_refits_the_head_on_all_features():
    X, y = _data()
    plain = select_head(X, y, train_fn=_trainer(X, y, 5, []), refit=False, candidates=["joint", "crt"])
    refit = select_head(X, y, train_fn=_trainer(X, y, 5, []), candidates=["joint", "crt"])
    assert plain.method == refit.method == "crt" and plain.scores == refit.scores
    assert not torch.equal(plain.head.weight, refit.head.weight)


def _fold_model(method, train_idx, predict_idx):
    """A deterministic nearest-class-mean 'training' (module level: picklable for processes)."""
    X, y = _data(seed=3)
    shift = {"weighted-ce": 0.0, "la": 0.3, "balanced-sampler": 0.1}[method]
    means = torch.stack([X[train_idx][y[train_idx] == c].mean(0) for c in range(5)])
    return -torch.cdist(X[predict_idx], means) + shift * torch.arange(5.0)


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_select_method_on_an_executor_gives_the_same_result(kind, capsys):
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    _, y = _data(seed=3)
    kw = dict(candidates=["weighted-ce", "la", "balanced-sampler"], num_folds=3, retrain=False)
    plain = select_method(_fold_model, y, **kw)
    pool = ThreadPoolExecutor(2) if kind == "thread" else ProcessPoolExecutor(2)
    with pool:
        parallel = select_method(_fold_model, y, executor=pool, verbose=True, **kw)
    assert parallel.method == plain.method and parallel.trainings == plain.trainings == 9
    for m in kw["candidates"]:
        assert torch.equal(parallel.oof_logits[m], plain.oof_logits[m])
        assert parallel.candidates[m].fold_scores == plain.candidates[m].fold_scores
    assert capsys.readouterr().out.count("trained (") == 9  # each training reported as it finishes
    with pytest.raises(ValueError, match="executor"):
        select_method(_fold_model, y, executor="threads", **kw)
