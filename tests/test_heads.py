"""acwa.heads: closed forms against numpy references; trained heads on a synthetic long-tailed
feature problem (balanced test set) against the plain head."""

import numpy as np
import pytest
import torch
from torch import nn

from acwa.heads import (
    HeadModel,
    choose_tau,
    extract_features,
    fit_crt,
    fit_lws,
    fit_ncm,
    fit_reweighted,
    fit_weight_balanced,
    max_norm,
    max_norm_,
    split_model,
    tau_normalize,
    train_head,
)


def _balanced_accuracy(logits, y):
    pred = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)
    y = np.asarray(y)
    return float(np.mean([np.mean(np.asarray(pred)[y == c] == c) for c in np.unique(y)]))


def _long_tailed(C=5, d=8, n_max=300, rho=50, noise=0.8, seed=0):
    g = np.random.default_rng(seed)
    means = g.normal(size=(C, d)) * 1.0
    counts = [max(2, int(n_max * rho ** (-c / (C - 1)))) for c in range(C)]

    def draw(ns):
        X = np.concatenate([means[c] + noise * g.normal(size=(n, d)) for c, n in enumerate(ns)])
        y = np.concatenate([np.full(n, c) for c, n in enumerate(ns)])
        return torch.tensor(X, dtype=torch.float32), torch.tensor(y)

    Xtr, ytr = draw(counts)
    Xte, yte = draw([200] * C)
    return Xtr, ytr, Xte, yte


def _plain_head(X, y, outputs, seed=0):
    torch.manual_seed(seed)
    head = nn.Linear(X.shape[1], outputs)
    return train_head(head, X, y, balance=None, epochs=30, seed=seed).requires_grad_(False)


def test_tau_normalize_closed_form():
    head = nn.Linear(6, 4)
    W = head.weight.detach().numpy().astype(np.float64)
    for tau in (0.0, 0.3, 1.0):
        out = tau_normalize(head, tau)
        ref = W / np.linalg.norm(W, axis=1, keepdims=True) ** tau
        np.testing.assert_allclose(out.weight.detach().numpy(), ref, rtol=1e-5)
        assert out.bias is None
    with pytest.raises(ValueError, match="tau"):
        tau_normalize(head, 1.5)
    with pytest.raises(ValueError, match="single logit"):
        tau_normalize(nn.Linear(6, 1), 0.5)


def test_choose_tau_is_the_grid_argmax():
    Xtr, ytr, Xte, yte = _long_tailed()
    head = _plain_head(Xtr, ytr, 5)
    W, x = head.weight.detach().double().numpy(), Xte.double().numpy()
    grid = [0.0, 0.25, 0.5, 0.75, 1.0]
    scores = [
        _balanced_accuracy(torch.from_numpy(x @ (W / np.linalg.norm(W, axis=1, keepdims=True) ** t).T), yte)
        for t in grid
    ]
    tau, score = choose_tau(head, Xte, yte, _balanced_accuracy, grid)
    assert tau == grid[int(np.argmax(scores))] and score == pytest.approx(max(scores))


def test_ncm_is_the_cosine_to_normalised_class_means():
    g = np.random.default_rng(1)
    F = g.normal(size=(40, 5))
    y = np.arange(40) % 3
    head = fit_ncm(torch.tensor(F, dtype=torch.float32), torch.tensor(y), 3)
    U = F / np.linalg.norm(F, axis=1, keepdims=True)
    M = np.stack([U[y == c].mean(0) for c in range(3)])
    M /= np.linalg.norm(M, axis=1, keepdims=True)
    Q = g.normal(size=(7, 5))
    ref = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ M.T
    np.testing.assert_allclose(head(torch.tensor(Q, dtype=torch.float32)).numpy(), ref, atol=1e-5)
    with pytest.raises(ValueError, match="classes \\[3\\]"):
        fit_ncm(torch.tensor(F, dtype=torch.float32), torch.tensor(y), 4)
    with pytest.raises(ValueError, match="num_classes"):
        fit_ncm(torch.tensor(F, dtype=torch.float32), torch.tensor(y % 2), 1)


def test_max_norm_projection():
    W = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    out = max_norm(W, 1.0)
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]], atol=1e-6)
    head = nn.Linear(2, 3)
    with torch.no_grad():
        head.weight.copy_(W)
        head.bias.fill_(5.0)
    max_norm_(head, 1.0)
    np.testing.assert_allclose(head.weight.detach().numpy(), out.numpy())
    assert bool((head.bias == 5.0).all())
    with pytest.raises(ValueError, match="delta"):
        max_norm(W, 0.0)


def test_crt_lws_weight_balanced_improve_balanced_accuracy():
    Xtr, ytr, Xte, yte = _long_tailed()
    plain = _plain_head(Xtr, ytr, 5)
    base = _balanced_accuracy(plain(Xte), yte)
    crt = _balanced_accuracy(fit_crt(Xtr, ytr, 5)(Xte), yte)
    lws = _balanced_accuracy(fit_lws(plain, Xtr, ytr)(Xte), yte)
    wb_head = fit_weight_balanced(plain, Xtr, ytr, delta=0.5)
    wb = _balanced_accuracy(wb_head(Xte), yte)
    rw = _balanced_accuracy(fit_reweighted(Xtr, ytr, 5)(Xte), yte)
    assert crt > base + 0.05 and lws > base + 0.03 and rw > base + 0.05, (base, crt, lws, rw)
    assert wb > base + 0.05, (base, wb)
    assert float(wb_head.weight.norm(dim=1).max()) <= 0.5 + 1e-5
    assert torch.equal(plain.weight, _plain_head(Xtr, ytr, 5).weight)  # the given head is not modified


def test_binary_and_multilabel_heads():
    Xtr, ytr, Xte, yte = _long_tailed(C=2)
    plain = _plain_head(Xtr, ytr, 1)
    base = _balanced_accuracy(plain(Xte), yte)
    assert _balanced_accuracy(fit_crt(Xtr, ytr, 1)(Xte), yte) > base + 0.03
    assert _balanced_accuracy(fit_weight_balanced(plain, Xtr, ytr)(Xte), yte) > base + 0.03
    with pytest.raises(ValueError, match="multi-class heads only"):
        fit_lws(plain, Xtr, ytr)
    Y = torch.stack([ytr == 0, ytr == 1, torch.arange(len(ytr)) % 7 == 0], 1).long()
    head = fit_crt(Xtr, Y, 3)
    assert head(Xte).shape == (len(Xte), 3)
    with pytest.raises(ValueError, match="multi-class heads only"):
        fit_lws(nn.Linear(Xtr.shape[1], 3), Xtr, Y)
    with pytest.raises(ValueError, match="one-hot"):
        fit_crt(Xtr, torch.nn.functional.one_hot(ytr, 2), 2)


def test_split_model_extract_features_and_head_model():
    model = nn.Module()
    model.features = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU())
    model.head = nn.Linear(3, 2)
    features, head = split_model(model)
    X = torch.randn(10, 4)
    F = extract_features(features, X, batch_size=3)
    assert model.features.training  # restored
    model.features.eval()
    np.testing.assert_allclose(F.numpy(), model.features(X).detach().numpy(), atol=1e-6)
    full = HeadModel(lambda x: model.features(x), head, bias=torch.tensor([1.0, -1.0]))
    np.testing.assert_allclose(
        full(X).detach().numpy(), (head(model.features(X)) + torch.tensor([1.0, -1.0])).detach().numpy(), atol=1e-6
    )
    with pytest.raises(ValueError, match="features_fn"):
        split_model(nn.Linear(3, 2))
