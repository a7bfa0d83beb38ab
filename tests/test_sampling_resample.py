"""Conformance suite for the resamplers of acwa.sampling (one suite parametrised over every
resampler): counts equal imbalanced-learn's, originals first, SMOTE geometry, determinism,
index-level Dataset resampling and bad input."""

from collections import Counter

import numpy as np
import pytest
import torch
from imblearn import over_sampling as imb_over
from imblearn import under_sampling as imb_under
from imblearn.utils import check_sampling_strategy as imb_check
from sklearn.datasets import make_classification
from sklearn.neighbors import NearestNeighbors
from torch.utils.data import Dataset, Subset, TensorDataset

from acwa.sampling import (
    ADASYN,
    SMOTE,
    BorderlineSMOTE,
    GenerativeOverSampler,
    RandomOverSampler,
    RandomUnderSampler,
    check_sampling_strategy,
    knn_indices,
    resample_dataset,
)

X_MC, Y_MC = make_classification(
    n_samples=600,
    n_features=6,
    n_informative=4,
    n_redundant=0,
    n_classes=4,
    weights=[0.55, 0.25, 0.13, 0.07],
    n_clusters_per_class=1,
    class_sep=0.8,
    random_state=0,
)
X_BIN, Y_BIN = make_classification(
    n_samples=400,
    n_features=5,
    n_informative=3,
    n_redundant=0,
    weights=[0.85, 0.15],
    class_sep=0.7,
    random_state=1,
)

# (id, ours, imbalanced-learn peer, kind)
RESAMPLERS = [
    ("ros", lambda **kw: RandomOverSampler(**kw), lambda **kw: imb_over.RandomOverSampler(**kw), "over"),
    ("rus", lambda **kw: RandomUnderSampler(**kw), lambda **kw: imb_under.RandomUnderSampler(**kw), "under"),
    ("smote", lambda **kw: SMOTE(**kw), lambda **kw: imb_over.SMOTE(**kw), "over"),
    ("borderline1", lambda **kw: BorderlineSMOTE(**kw), lambda **kw: imb_over.BorderlineSMOTE(**kw), "over"),
    (
        "borderline2",
        lambda **kw: BorderlineSMOTE(kind="borderline-2", **kw),
        lambda **kw: imb_over.BorderlineSMOTE(kind="borderline-2", **kw),
        "over",
    ),
    ("adasyn", lambda **kw: ADASYN(**kw), lambda **kw: imb_over.ADASYN(**kw), "over"),
]
IDS = [r[0] for r in RESAMPLERS]

OVER_STRATEGIES = [
    "auto",
    "minority",
    "not majority",
    "not minority",
    "all",
    {1: 200, 2: 150, 3: 120},
    lambda y: {3: int((y == 3).sum()) * 3},
]
UNDER_STRATEGIES = [
    "auto",
    "majority",
    "not majority",
    "not minority",
    "all",
    {0: 100, 1: 60},
    lambda y: {0: int((y == 3).sum()) * 2},
]


def _counts(y):
    return dict(sorted(Counter(np.asarray(y).tolist()).items()))


@pytest.mark.parametrize("name,ours,peer,kind", RESAMPLERS, ids=IDS)
def test_counts_equal_imbalanced_learn(name, ours, peer, kind):
    strategies = OVER_STRATEGIES if kind == "over" else UNDER_STRATEGIES
    for strat in strategies:
        _, y_ours = ours(sampling_strategy=strat, random_state=0).fit_resample(X_MC, Y_MC)
        _, y_peer = peer(sampling_strategy=strat, random_state=0).fit_resample(X_MC, Y_MC)
        assert _counts(y_ours) == _counts(y_peer), strat
    for ratio in (0.5, 0.8, 1.0):  # float: binary only
        _, y_ours = ours(sampling_strategy=ratio, random_state=0).fit_resample(
            torch.from_numpy(X_BIN), torch.from_numpy(Y_BIN)
        )
        _, y_peer = peer(sampling_strategy=ratio, random_state=0).fit_resample(X_BIN, Y_BIN)
        assert _counts(y_ours.numpy()) == _counts(y_peer), ratio


@pytest.mark.parametrize("kind", ["over-sampling", "under-sampling"])
def test_strategy_parser_equals_imbalanced_learn(kind):
    rng = np.random.default_rng(0)
    ys = [
        np.repeat([0, 1, 2, 3], [50, 20, 20, 7]),  # tie between classes 1 and 2
        np.repeat([3, 5, 9], [7, 7, 30]),  # tie for the minority, gaps in labels
        np.repeat([0, 1, 2], [30, 30, 5]),  # tie for the majority
        rng.integers(0, 6, 500),
    ]
    names = ["auto", "all", "not minority", "not majority"] + (
        ["minority"] if kind == "over-sampling" else ["majority"]
    )
    for y in ys:
        y = rng.permutation(y)
        for s in names:
            assert dict(check_sampling_strategy(s, y, kind)) == {
                int(k): int(v) for k, v in imb_check(s, y, kind).items()
            }, (s, y[:5])
    yb = np.repeat([0, 1], [90, 20])
    for r in (0.3, 0.5, 0.99, 1.0):
        assert dict(check_sampling_strategy(r, yb, kind)) == {int(k): int(v) for k, v in imb_check(r, yb, kind).items()}


@pytest.mark.parametrize("name,ours,peer,kind", RESAMPLERS, ids=IDS)
def test_originals_first_types_and_determinism(name, ours, peer, kind):
    X = torch.from_numpy(X_MC).float()
    y = torch.from_numpy(Y_MC).to(torch.int32)
    a = ours(random_state=3)
    Xa, ya = a.fit_resample(X, y)
    Xb, yb = ours(random_state=3).fit_resample(X, y)
    Xc, _ = ours(random_state=4).fit_resample(X, y)
    assert isinstance(Xa, torch.Tensor) and Xa.dtype == torch.float32 and ya.dtype == torch.int32
    assert torch.equal(Xa, Xb) and torch.equal(ya, yb)
    assert not torch.equal(Xa, Xc)
    if kind == "over":
        assert torch.equal(Xa[: len(X)], X) and torch.equal(ya[: len(y)], y)
        new_y = ya[len(y) :]
        assert torch.all(new_y[1:] >= new_y[:-1])  # new samples class by class, increasing
    if hasattr(a, "sample_indices_"):
        assert torch.equal(Xa, X[a.sample_indices_]) and torch.equal(ya, y[a.sample_indices_])
    # numpy in -> numpy out, same values as the torch path
    Xn, yn = ours(random_state=3).fit_resample(X.numpy(), y.numpy())
    assert isinstance(Xn, np.ndarray) and np.array_equal(Xn, Xa.numpy()) and np.array_equal(yn, ya.numpy())


def _on_segments(new, bases, nbrs, tol=1e-5):
    """For each new point p: is there a base b_i and neighbour n_ij with p = b_i + t (n_ij - b_i),
    0 <= t <= 1? bases [B, D], nbrs [B, K, D] (float64)."""
    d = nbrs - bases[:, None, :]  # [B, K, D]
    rel = new[:, None, None, :] - bases[None, :, None, :]  # [P, B, 1, D]
    dd = (d * d).sum(-1).clip(1e-300)
    t = (rel * d[None]).sum(-1) / dd[None]  # [P, B, K]
    resid = np.linalg.norm(rel - t[..., None] * d[None], axis=-1)
    ok = (resid < tol) & (t >= -1e-9) & (t <= 1 + 1e-9)
    return ok.reshape(len(new), -1).any(1)


def _true_knn(data, query, k, self_in_data):
    nn = NearestNeighbors(n_neighbors=k + int(self_in_data)).fit(data)
    idx = nn.kneighbors(query, return_distance=False)
    return idx[:, 1:] if self_in_data else idx


@pytest.mark.parametrize("k", [1, 3, 5])
def test_smote_points_lie_on_segments_to_k_same_class_neighbours(k):
    X, y = X_MC, Y_MC
    Xr, yr = SMOTE(k_neighbors=k, random_state=0).fit_resample(X, y)
    new_X, new_y = Xr[len(X) :], yr[len(y) :]
    assert len(new_X) > 0
    for c in np.unique(new_y):
        Xc = X[y == c]
        nn = _true_knn(Xc, Xc, k, True)
        pts = new_X[new_y == c][:200]
        assert _on_segments(pts, Xc, Xc[nn]).all()
        # and not trivially: with k-NN replaced by the farthest points the check fails
        far = np.argsort(((Xc[:, None] - Xc[None]) ** 2).sum(-1), 1)[:, -k:]
        assert not _on_segments(pts, Xc, Xc[far]).all()


def test_adasyn_and_borderline_points_lie_on_their_segments():
    X, y = X_MC, Y_MC
    # ADASYN: towards k same-class neighbours
    Xr, yr = ADASYN(random_state=0).fit_resample(X, y)
    for c in np.unique(yr[len(y) :]):
        Xc = X[y == c]
        pts = Xr[len(X) :][yr[len(y) :] == c]
        assert _on_segments(pts, Xc, Xc[_true_knn(Xc, Xc, 5, True)]).all()
    # Borderline-1: bases are danger samples, neighbours among the class's k nearest
    bs = BorderlineSMOTE(random_state=0)
    Xr, yr = bs.fit_resample(X, y)
    for c, danger in bs.in_danger_indices_.items():
        Xc = X[y == c]
        pts = Xr[len(X) :][yr[len(y) :] == c]
        nn = _true_knn(Xc, X[danger.numpy()], 6, False)[:, 1:]  # danger points are in Xc: drop self
        assert _on_segments(pts, X[danger.numpy()], Xc[nn]).all()
        # danger rule: m/2 <= other-class among 10 nearest in X < m
        m_nn = _true_knn(X, X[danger.numpy()], 10, True)
        other = (y[m_nn] != c).sum(1)
        assert np.all((other >= 5) & (other < 10))
    # Borderline-2: neighbours of any class among the k nearest in X
    bs2 = BorderlineSMOTE(kind="borderline-2", random_state=0)
    Xr, yr = bs2.fit_resample(X, y)
    for c, danger in bs2.in_danger_indices_.items():
        pts = Xr[len(X) :][yr[len(y) :] == c]
        base = X[danger.numpy()]
        assert _on_segments(pts, base, X[_true_knn(X, base, 5, True)]).all()


def test_knn_indices_exact_and_chunked():
    g = torch.Generator().manual_seed(0)
    data = torch.randn(700, 16, generator=g)
    query = data[:300]
    for dtype in (torch.float32, torch.float64):
        got = knn_indices(query.to(dtype), data.to(dtype), 7, exclude=torch.arange(300), chunk_bytes=4096)
        ref = _true_knn(data.double().numpy(), query.double().numpy(), 7, True)
        assert np.array_equal(got.numpy(), ref)
    # blocked top-k path (reference set >= 4 * (k + 4) * 64 points), with ties to padding
    big = torch.randn(3000, 4, generator=g)
    got = knn_indices(big[:400], big, 5, exclude=torch.arange(400), chunk_bytes=50_000)
    assert np.array_equal(got.numpy(), _true_knn(big.double().numpy(), big[:400].double().numpy(), 5, True))
    other = torch.randn(50, 16, generator=g)
    assert np.array_equal(knn_indices(other, data, 4).numpy(), _true_knn(data.numpy(), other.numpy(), 4, False))
    with pytest.raises(ValueError, match="k must lie"):
        knn_indices(query, data[:5], 5, exclude=torch.arange(5))


class _NoLoad(Dataset):
    def __init__(self, y):
        self.targets = y

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        raise AssertionError("resampling loaded a sample")


@pytest.mark.parametrize("cls", [RandomOverSampler, RandomUnderSampler])
def test_dataset_index_resampling_copies_nothing(cls):
    y = torch.from_numpy(Y_MC)
    sub = cls(random_state=0).resample_dataset(_NoLoad(y))
    assert isinstance(sub, Subset)
    ref = cls(random_state=0)
    _, y_ref = ref.fit_resample(torch.from_numpy(X_MC), y)
    assert sub.indices == ref.sample_indices_.tolist()
    assert _counts(y[sub.indices].numpy()) == _counts(y_ref.numpy())
    # a real dataset gives the same rows as fit_resample
    ds = TensorDataset(torch.from_numpy(X_MC), y)
    sub = resample_dataset(ds, cls(random_state=0), labels=y)
    assert torch.equal(torch.stack([sub[i][0] for i in range(5)]), torch.from_numpy(X_MC)[ref.sample_indices_[:5]])
    with pytest.raises(ValueError, match="selection resampler"):
        resample_dataset(ds, SMOTE(), labels=y)


def test_under_sampler_without_replacement_keeps_unique_in_class_indices():
    rus = RandomUnderSampler(sampling_strategy="all", random_state=0)
    idx = rus.fit_resample_indices(Y_MC)
    assert len(set(idx.tolist())) == idx.numel() == 4 * np.bincount(Y_MC).min()
    assert np.all(np.diff(Y_MC[idx.numpy()]) >= 0)  # grouped by class, increasing


def test_random_over_sampler_shrinkage_smoothed_bootstrap():
    ros = RandomOverSampler(random_state=0, shrinkage=1.0)
    X = torch.from_numpy(X_MC)
    Xr, yr = ros.fit_resample(X, Y_MC)
    idx = ros.sample_indices_
    noise = (Xr[len(X) :] - X[idx[len(X) :]]).numpy()
    n, d = X.shape
    h = (4 / ((d + 2) * n)) ** (1 / (d + 4))
    c3 = yr[len(X) :] == 3
    expected = h * X_MC[Y_MC == 3].std(0)
    assert np.allclose(noise[c3].std(0), expected, rtol=0.25)
    assert torch.equal(Xr[: len(X)], X)


def test_generative_oversampler_counts_and_determinism():
    kw = dict(random_state=0, steps=60, batch_size=64, hidden=32)
    state = torch.get_rng_state()
    ga = GenerativeOverSampler(**kw)
    Xa, ya = ga.fit_resample(torch.from_numpy(X_MC).float(), Y_MC)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is untouched
    Xb, _ = GenerativeOverSampler(**kw).fit_resample(torch.from_numpy(X_MC).float(), Y_MC)
    assert torch.equal(Xa, Xb)
    _, y_peer = imb_over.RandomOverSampler(random_state=0).fit_resample(X_MC, Y_MC)
    assert _counts(ya) == _counts(y_peer)
    assert torch.equal(Xa[: len(X_MC)], torch.from_numpy(X_MC).float()) and torch.isfinite(Xa).all()
    assert ga.loss_history_[-1] < ga.loss_history_[0]
    assert ga.sample(3, 5).shape == (5, X_MC.shape[1])


@pytest.mark.parametrize("name,ours,peer,kind", RESAMPLERS, ids=IDS)
def test_bad_input(name, ours, peer, kind):
    with pytest.raises(ValueError, match="non-negative"):
        ours().fit_resample(X_MC, Y_MC - 1)
    with pytest.raises(ValueError, match="empty"):
        ours().fit_resample(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="must match"):
        ours().fit_resample(X_MC[:-1], Y_MC)
    with pytest.raises(ValueError, match="at least 2 classes"):
        ours().fit_resample(X_MC[Y_MC == 0], Y_MC[Y_MC == 0])
    with pytest.raises(ValueError, match="sampling_strategy must be one of"):
        ours(sampling_strategy="most").fit_resample(X_MC, Y_MC)
    with pytest.raises(ValueError, match="binary"):
        ours(sampling_strategy=0.5).fit_resample(X_MC, Y_MC)
    with pytest.raises(ValueError, match="not present"):
        ours(sampling_strategy={7: 10}).fit_resample(X_MC, Y_MC)
    if kind == "over":
        with pytest.raises(ValueError, match="over-sampler to remove samples"):
            ours(sampling_strategy={0: 10}).fit_resample(X_MC, Y_MC)
        with pytest.raises(ValueError, match="over-sampler to remove samples"):
            ours(sampling_strategy=0.1).fit_resample(X_BIN, Y_BIN)
        with pytest.raises(ValueError, match="cannot be used with an over-sampler"):
            ours(sampling_strategy="majority").fit_resample(X_MC, Y_MC)
    else:
        with pytest.raises(ValueError, match="under-sampler to add samples"):
            ours(sampling_strategy={3: 10_000}).fit_resample(X_MC, Y_MC)
        with pytest.raises(ValueError, match="cannot be used with an under-sampler"):
            ours(sampling_strategy="minority").fit_resample(X_MC, Y_MC)


@pytest.mark.parametrize("cls", [SMOTE, ADASYN, BorderlineSMOTE])
def test_k_neighbors_too_large_and_bad_X(cls):
    X = np.concatenate([X_MC[:40], X_MC[Y_MC == 3][:4]])
    y = np.array([0] * 40 + [1] * 4)
    X[:40] = X_MC[Y_MC == 0][:40]
    with pytest.raises(ValueError, match=r"k_neighbors=5 but class 1 has only 4 samples"):
        kw = {"m_neighbors": 5} if cls is BorderlineSMOTE else {}
        cls(k_neighbors=5, random_state=0, **kw).fit_resample(X, y)
    with pytest.raises(ValueError, match="floating point"):
        cls().fit_resample(X_MC.astype(np.int64), Y_MC)
    bad = X_MC.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cls().fit_resample(bad, Y_MC)
    with pytest.raises(ValueError, match="2-D"):
        cls().fit_resample(X_MC.reshape(600, 3, 2), Y_MC)
    with pytest.raises(ValueError, match="k_neighbors must be"):
        cls(k_neighbors=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name,ours,peer,kind", RESAMPLERS, ids=IDS)
def test_gpu_matches_cpu(name, ours, peer, kind):
    X = torch.from_numpy(X_MC)
    Xc, yc = ours(random_state=0).fit_resample(X, torch.from_numpy(Y_MC))
    Xg, yg = ours(random_state=0).fit_resample(X.cuda(), torch.from_numpy(Y_MC).cuda())
    assert Xg.is_cuda and torch.equal(yg.cpu(), yc)
    assert torch.allclose(Xg.cpu(), Xc, atol=1e-10)


def test_generative_adam_matches_torch_adam():
    from acwa.sampling.generative import _Adam

    torch.manual_seed(0)
    a, b = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    opt_a, opt_b = torch.optim.Adam(a.parameters(), lr=1e-2), _Adam(list(b.parameters()), lr=1e-2)
    for _ in range(20):
        x = torch.randn(8, 5)
        loss_a = a(x).pow(2).sum()
        opt_a.zero_grad()
        loss_a.backward()
        opt_a.step()
        opt_b.step(torch.autograd.grad(b(x).pow(2).sum(), opt_b.params))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-6)
