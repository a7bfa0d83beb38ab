"""Multi-label sampling: the label-first sampler (Shen et al. 2016) and MLSMOTE (Charte et al.
2015), in the style of the sampler and resampler conformance suites."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from acwa.sampling import (
    MLSMOTE,
    DistributedMultiLabelBalancedSampler,
    MultiLabelBalancedSampler,
)
from acwa.sampling.mlsmote import minority_labels


def _multi_hot(seed=0, n=300, L=5):
    g = torch.Generator().manual_seed(seed)
    p = torch.tensor([0.6, 0.3, 0.1, 0.04, 0.02])[:L]
    Y = (torch.rand(n, L, generator=g) < p).long()
    Y[0] = 0  # an instance without labels: never drawn
    Y[1, 4] = 1
    return Y


def _instance_probabilities(Y, q, w=None):
    """float64 reference: P(i) = sum_{l: y_il = 1} pi_l / n_l, pi_l ∝ w_l n_l^(1-q)."""
    n = Y.double().sum(0)
    raw = torch.where(n > 0, n ** (1 - q), torch.zeros_like(n))
    if w is not None:
        raw = raw * torch.as_tensor(w, dtype=torch.float64)
    pi = raw / raw.sum()
    per = torch.where(n > 0, pi / n.clamp(min=1), torch.zeros_like(n))
    return (Y.double() * per).sum(1)


CONFIGS = [
    ("class_aware", lambda Y, m: MultiLabelBalancedSampler(Y, q=1.0, num_samples=m, seed=3), 1.0, None),
    ("sqrt", lambda Y, m: MultiLabelBalancedSampler(Y, q=0.5, num_samples=m, seed=1), 0.5, None),
    ("pairs", lambda Y, m: MultiLabelBalancedSampler(Y, q=0.0, num_samples=m), 0.0, None),
    (
        "weighted",
        lambda Y, m: MultiLabelBalancedSampler(Y, q=1.0, num_samples=m, class_weights=[1, 1, 2, 0, 1]),
        1.0,
        [1, 1, 2, 0, 1],
    ),
    ("dist_global", lambda Y, m: DistributedMultiLabelBalancedSampler(Y, 3, 1, num_samples=m, shard=False), 1.0, None),
]


@pytest.mark.parametrize("name,factory,q,w", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_instance_histogram_matches_the_float64_formula(name, factory, q, w):
    Y = _multi_hot()
    m = 100_000
    s = factory(Y, m)
    idx = torch.tensor(list(iter(s)))
    assert idx.numel() == len(s) == m
    hist = torch.bincount(idx, minlength=Y.shape[0]).double()
    p = _instance_probabilities(Y, q, w)
    sd = torch.sqrt(m * p * (1 - p))
    assert bool(((hist - m * p).abs() <= 5 * sd + 1).all())
    assert int(hist[0]) == 0  # no label, never drawn
    if w is not None:  # label 3 has weight 0: an instance carrying only label 3 is never drawn
        only3 = (Y[:, 3] == 1) & (Y.sum(1) == 1)
        assert bool((hist[only3] == 0).all())


def test_label_quotas_are_exact_without_replacement_and_draws_are_deterministic():
    Y = _multi_hot()
    s = MultiLabelBalancedSampler(Y, q=1.0, num_samples=1000, replacement=False, seed=2)
    pairs = s._draw(1000, 0)  # the drawing labels: exact quotas
    label_of_pair = torch.nonzero(Y, as_tuple=True)[1][pairs]
    assert torch.bincount(label_of_pair, minlength=5).tolist() == [200] * 5
    a, b = MultiLabelBalancedSampler(Y, seed=4), MultiLabelBalancedSampler(Y, seed=4)
    assert list(a) == list(b) and a.sample_indices(3).tolist() != a.sample_indices(4).tolist()
    assert len(a) == Y.shape[0] == a.num_instances
    assert a.class_counts.tolist() == Y.sum(0).tolist()


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_distributed_shards_partition_the_global_draw(replicas):
    Y = _multi_hot()
    shards = [DistributedMultiLabelBalancedSampler(Y, replicas, r, seed=5) for r in range(replicas)]
    for s in shards:
        s.set_epoch(2)
    glob = shards[0].global_indices()
    assert all(len(s) == shards[0].shard_size for s in shards)
    inter = torch.stack([torch.tensor(list(s)) for s in shards], 1).flatten()
    assert torch.equal(inter, glob)


def test_state_round_trip_and_bad_labels():
    Y = _multi_hot()
    s = MultiLabelBalancedSampler(Y, q=0.5, seed=1)
    list(s)
    t = MultiLabelBalancedSampler(Y)
    t.load_state_dict(copy.deepcopy(s.state_dict()))
    assert t.epoch == 1 and torch.equal(t.sample_indices(), s.sample_indices())
    with pytest.raises(ValueError, match="only 0 and 1"):
        MultiLabelBalancedSampler(Y * 2)
    with pytest.raises(ValueError, match="multi-hot matrix"):
        MultiLabelBalancedSampler(torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="no positive"):
        MultiLabelBalancedSampler(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="label columns"):
        MultiLabelBalancedSampler(Y, num_classes=3)


# ----------------------------------------------------------------------------- MLSMOTE
def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    Y = _multi_hot(seed, n=120)
    X = torch.randn(120, 3, generator=g, dtype=torch.float64) + Y[:, :3].double() * 2
    return X, Y


def test_minority_labels_by_hand():
    counts = torch.tensor([100, 50, 10, 2, 0])
    # IRLbl = [1, 2, 10, 50]; MeanIR = 15.75 -> only label 3
    assert minority_labels(counts).tolist() == [3]


@pytest.mark.parametrize("rule", ["ranking", "union", "intersection"])
def test_mlsmote_follows_the_paper(rule):
    X, Y = _data()
    ml = MLSMOTE(k_neighbors=3, label_generation=rule, random_state=0)
    Xr, Yr = ml.fit_resample(X, Y)
    n = X.shape[0]
    assert torch.equal(Xr[:n], X) and torch.equal(Yr[:n], Y)  # originals first
    minority = ml.minority_labels_.tolist()
    assert minority == minority_labels(Y.sum(0)).tolist() and minority
    assert Xr.shape[0] - n == sum(int(Y[:, lab].sum()) for lab in minority)
    start = n
    for lab in minority:
        bag = torch.nonzero(Y[:, lab]).flatten()
        xb = X[bag]
        k = min(3, bag.numel() - 1)
        d = torch.cdist(xb, xb)
        d.fill_diagonal_(float("inf"))
        nn = d.argsort(1)[:, :k]
        for i in range(bag.numel()):
            xs, ys = Xr[start + i], Yr[start + i]
            # inside the box spanned by x_i and one of its k neighbours in the bag
            lo = torch.minimum(xb[i], xb[nn[i]])
            hi = torch.maximum(xb[i], xb[nn[i]])
            assert bool(((xs >= lo - 1e-12) & (xs <= hi + 1e-12)).all(1).any())
            votes = Y[bag[i]] + Y[bag[nn[i]]].sum(0)
            expected = {"ranking": 2 * votes > k + 1, "union": votes > 0, "intersection": votes == k + 1}[rule]
            assert torch.equal(ys.bool(), expected)
            assert int(ys[lab]) == 1
        start += bag.numel()
    X2, Y2 = MLSMOTE(k_neighbors=3, label_generation=rule, random_state=0).fit_resample(X, Y)
    assert torch.equal(X2, Xr) and torch.equal(Y2, Yr)


def test_mlsmote_numpy_and_bad_input():
    X, Y = _data(1)
    Xr, Yr = MLSMOTE(random_state=1).fit_resample(X.numpy(), Y.numpy())
    assert isinstance(Xr, np.ndarray) and isinstance(Yr, np.ndarray) and Xr.shape[0] == Yr.shape[0] > X.shape[0]
    with pytest.raises(ValueError, match="k_neighbors"):
        MLSMOTE(k_neighbors=0)
    with pytest.raises(ValueError, match="label_generation"):
        MLSMOTE(label_generation="vote")
    with pytest.raises(ValueError, match="NaN"):
        Xn = X.clone()
        Xn[0, 0] = float("nan")
        MLSMOTE().fit_resample(Xn, Y)
    with pytest.raises(ValueError, match="only 0 and 1"):
        MLSMOTE().fit_resample(X, Y * 3)
    with pytest.raises(ValueError, match="rows"):
        MLSMOTE().fit_resample(X[:-1], Y)
