"""Conformance suite for acwa.sampling index samplers (one suite, parametrised over every
sampler configuration) plus label extraction, checkpointing and bad input."""

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from acwa.sampling import (
    ClassBalancedSampler,
    DistributedClassBalancedSampler,
    ProgressiveQ,
    class_sampling_probabilities,
    extract_labels,
)

COUNTS = [900, 300, 60, 25, 10, 5]
LABELS = torch.repeat_interleave(torch.arange(len(COUNTS)), torch.tensor(COUNTS))
# shuffle so that classes are interleaved (grouping must not rely on sorted labels)
LABELS = LABELS[torch.randperm(LABELS.numel(), generator=torch.Generator().manual_seed(1))]
N_DRAWS = 200_000


def expected_pi(q, w=None, counts=COUNTS):
    n = np.asarray(counts, dtype=np.float64)
    p = np.where(n > 0, n ** (1.0 - q), 0.0) * (np.ones_like(n) if w is None else np.asarray(w, dtype=np.float64))
    return p / p.sum()


# (id, factory(num_samples) -> sampler, target pi, exact quotas?)
CONFIGS = [
    ("balanced", lambda m: ClassBalancedSampler(LABELS, q=1.0, num_samples=m), expected_pi(1.0), False),
    ("sqrt", lambda m: ClassBalancedSampler(LABELS, q=0.5, num_samples=m, seed=3), expected_pi(0.5), False),
    ("instance", lambda m: ClassBalancedSampler(LABELS, q=0.0, num_samples=m), expected_pi(0.0), False),
    (
        "no_replacement",
        lambda m: ClassBalancedSampler(LABELS, q=1.0, num_samples=m, replacement=False),
        expected_pi(1.0),
        True,
    ),
    (
        "no_replacement_sqrt",
        lambda m: ClassBalancedSampler(LABELS, q=0.5, num_samples=m, replacement=False),
        expected_pi(0.5),
        True,
    ),
    (
        "class_weights",
        lambda m: ClassBalancedSampler(LABELS, q=1.0, num_samples=m, class_weights=[1, 1, 2, 2, 4, 0.5]),
        expected_pi(1.0, [1, 1, 2, 2, 4, 0.5]),
        False,
    ),
    (
        "weights_q_half",
        lambda m: ClassBalancedSampler(LABELS, q=0.5, num_samples=m, class_weights=[0.5, 1, 1, 2, 2, 0]),
        expected_pi(0.5, [0.5, 1, 1, 2, 2, 0]),
        False,
    ),
    (
        "progressive_end",
        lambda m: _at_epoch(ClassBalancedSampler(LABELS, q=ProgressiveQ(0.0, 1.0, 5), num_samples=m), 9),
        expected_pi(1.0),
        False,
    ),
    (
        "progressive_mid",
        lambda m: _at_epoch(ClassBalancedSampler(LABELS, q=ProgressiveQ(0.0, 1.0, 5), num_samples=m), 2),
        expected_pi(0.5),
        False,
    ),
    (
        "dist_global",
        lambda m: DistributedClassBalancedSampler(LABELS, 4, 1, num_samples=m, shard=False),
        expected_pi(1.0),
        False,
    ),
    (
        "dist_rank2",
        lambda m: DistributedClassBalancedSampler(LABELS, 3, 2, q=0.5, num_samples=3 * m),
        expected_pi(0.5),
        False,
    ),
]


def _at_epoch(s, e):
    s.set_epoch(e)
    return s


@pytest.mark.parametrize("name,factory,pi,exact", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_histogram_of_200k_draws_matches_target(name, factory, pi, exact):
    s = factory(N_DRAWS)
    idx = torch.tensor(list(iter(s)))
    assert idx.numel() == len(s) == N_DRAWS
    assert int(idx.min()) >= 0 and int(idx.max()) < LABELS.numel()
    hist = torch.bincount(LABELS[idx], minlength=len(COUNTS)).numpy()
    target = N_DRAWS * pi
    if exact:
        assert np.all(np.abs(hist - target) <= 1.0), (hist, target)
    else:
        sd = np.sqrt(N_DRAWS * pi * (1 - pi))
        assert np.all(np.abs(hist - target) <= 5 * sd + 1), (hist, target)
    assert np.all(hist[pi == 0] == 0)


@pytest.mark.parametrize("name,factory,pi,exact", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_deterministic_by_seed_and_epoch(name, factory, pi, exact):
    a, b = factory(5000), factory(5000)
    assert list(a) == list(b)  # same seed, same epoch -> same indices
    x7 = a.sample_indices(7).tolist()
    assert x7 == b.sample_indices(7).tolist()
    assert x7 != a.sample_indices(8).tolist()  # the epoch changes the draw
    c = factory(5000)
    c.seed += 1
    assert c.sample_indices(7).tolist() != x7  # the seed changes the draw


def test_epochs_differ_and_auto_advance():
    s = ClassBalancedSampler(LABELS, num_samples=500)
    e0, e1 = list(s), list(s)
    assert e0 != e1 and s.epoch == 2
    s.set_epoch(0)
    assert list(s) == e0
    d = DistributedClassBalancedSampler(LABELS, 2, 0, num_samples=500)
    assert list(d) == list(d)  # DistributedSampler convention: only set_epoch changes the epoch
    d.set_epoch(1)
    assert list(d) != d.shard_indices(0).tolist()


@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("num_samples", [1000, 1001, 999])
def test_shards_disjoint_equal_and_union_is_global_draw(replicas, drop_last, num_samples):
    samplers = [
        DistributedClassBalancedSampler(
            LABELS, replicas, r, q=1.0, seed=5, drop_last=drop_last, num_samples=num_samples
        )
        for r in range(replicas)
    ]
    for s in samplers:
        s.set_epoch(3)
    shards = [list(s) for s in samplers]
    lengths = {len(sh) for sh in shards}
    assert len(lengths) == 1 and lengths.pop() == len(samplers[0])
    size = num_samples // replicas if drop_last else math.ceil(num_samples / replicas)
    assert len(samplers[0]) == size
    # interleave the shards: rank r holds positions r, r+R, ... of the global draw
    inter = [shards[p % replicas][p // replicas] for p in range(size * replicas)]
    single = ClassBalancedSampler(LABELS, q=1.0, seed=5, num_samples=num_samples).sample_indices(3).tolist()
    if drop_last:
        assert inter == single[: size * replicas]
    else:
        assert inter[:num_samples] == single
        assert inter[num_samples:] == single[: size * replicas - num_samples]  # padding = first indices
    # disjoint positions: the position sets r::R partition range(total)
    pos = [set(range(r, size * replicas, replicas)) for r in range(replicas)]
    assert sum(len(p) for p in pos) == len(set().union(*pos)) == size * replicas
    # global mode: full draw on every rank, no padding, no second sharding
    g = DistributedClassBalancedSampler(LABELS, replicas, replicas - 1, seed=5, num_samples=num_samples, shard=False)
    g.set_epoch(3)
    assert list(g) == single and len(g) == num_samples


def test_2_pow_25_labels():
    n = 2**25
    labels = torch.zeros(n, dtype=torch.uint8)  # 32 MiB
    labels[::1000] = 1
    labels[7::100_000] = 2
    s = ClassBalancedSampler(labels, num_samples=N_DRAWS)
    idx = s.sample_indices()
    assert idx.dtype == torch.int64 and int(idx.max()) < n
    assert int(idx.max()) > 2**24  # indices beyond the multinomial limit are reached
    hist = torch.bincount(labels[idx].long(), minlength=3).double() / N_DRAWS
    assert torch.allclose(hist, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01)
    d = DistributedClassBalancedSampler(labels, 4, 3, num_samples=N_DRAWS)
    assert d.shard_indices().tolist() == idx[3::4].tolist()


def test_probability_formula_by_hand():
    # pi_c = w_c n_c^(1-q) / sum: counts (4, 1), q = 0.5, w = (1, 3): (2, 3)/5
    pi = class_sampling_probabilities(torch.tensor([4, 1]), 0.5, torch.tensor([1.0, 3.0]))
    assert torch.allclose(pi, torch.tensor([0.4, 0.6], dtype=torch.float64))
    # absent class (n_c = 0) gets 0 even with positive weight
    s = ClassBalancedSampler([0, 0, 2], num_classes=4, class_weights=[1, 5, 1, 5])
    assert torch.allclose(s.class_probabilities(), torch.tensor([0.5, 0, 0.5, 0], dtype=torch.float64))
    # q=1: weights become the sampling proportions (ACWA drives sampling)
    s = ClassBalancedSampler(LABELS, q=1.0)
    s.set_class_weights(torch.tensor([0.5, 0.5, 1.0, 1.0, 2.0, 2.0]))
    assert torch.allclose(s.class_probabilities(), torch.tensor([0.5, 0.5, 1, 1, 2, 2], dtype=torch.float64) / 7)
    s.set_class_weights(None)
    assert torch.allclose(s.class_probabilities(), torch.full((6,), 1 / 6, dtype=torch.float64))


@pytest.mark.parametrize(
    "pi",
    [
        [0.5, 0.5],
        [0.7, 0.0, 0.2, 0.1],
        [1e-9, 1 - 1e-9],
        [0.0, 0.0, 1.0],
        list(np.random.default_rng(0).dirichlet(np.ones(50))),
    ],
)
def test_alias_table_encodes_pi_exactly(pi):
    from acwa.sampling.samplers import _alias_table

    pi = torch.tensor(pi, dtype=torch.float64)
    pi = pi / pi.sum()
    prob, alias = _alias_table(pi)
    c = pi.numel()
    implied = prob.clone()
    implied.index_add_(0, alias, 1.0 - prob)
    assert torch.allclose(implied / c, pi, atol=1e-12)
    assert torch.all(implied[pi == 0] == 0)


def test_progressive_q_schedule():
    sched = ProgressiveQ(0.0, 1.0, num_epochs=5)
    assert [sched(e) for e in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    s = ClassBalancedSampler(LABELS, q=sched)
    assert s.current_q() == 0.0
    s.set_epoch(2)
    assert torch.allclose(s.class_probabilities(), torch.tensor(expected_pi(0.5)))
    s2 = ClassBalancedSampler(LABELS, q=lambda e: 0.1 * e)
    assert s2.current_q(3) == pytest.approx(0.3)


class _NoLoad(Dataset):
    """A dataset that fails if a sample is loaded."""

    def __init__(self, y, attr):
        if attr == "targets":
            self.targets = y
        self._y = y

    def get_labels(self):
        return self._y

    def __len__(self):
        return len(self._y)

    def __getitem__(self, i):
        raise AssertionError("a sampler loaded a sample to read its label")


@pytest.mark.parametrize(
    "source",
    [
        LABELS,
        LABELS.numpy(),
        LABELS.tolist(),
        _NoLoad(LABELS, "targets"),
        _NoLoad(LABELS.tolist(), "get_labels"),
        lambda: LABELS,
        LABELS.to(torch.int16),
    ],
    ids=["tensor", "array", "list", "targets", "get_labels", "callable", "int16"],
)
def test_label_sources_never_load_samples(source):
    s = ClassBalancedSampler(source, num_samples=100, seed=2)
    ref = ClassBalancedSampler(LABELS, num_samples=100, seed=2)
    assert list(s) == list(ref)
    assert s.class_counts.tolist() == COUNTS


def test_subset_labels_and_dataloader():
    ds = TensorDataset(torch.randn(LABELS.numel(), 3), LABELS)
    ds.targets = LABELS
    sub = Subset(ds, list(range(0, LABELS.numel(), 2)))
    assert extract_labels(sub).tolist() == LABELS[::2].tolist()
    loader = DataLoader(ds, batch_size=64, sampler=ClassBalancedSampler(ds, num_samples=640))
    ys = torch.cat([yb for _, yb in loader])
    assert ys.numel() == 640 and set(ys.tolist()) == set(range(6))
    with pytest.raises(ValueError, match="without loading samples"):
        ClassBalancedSampler(TensorDataset(torch.randn(4, 2)))


def test_state_dict_round_trip():
    s = ClassBalancedSampler(
        LABELS, q=ProgressiveQ(0.0, 1.0, 4), num_samples=300, seed=9, class_weights=[1, 2, 1, 2, 1, 2]
    )
    s.set_epoch(3)
    state = s.state_dict()
    t = ClassBalancedSampler(LABELS)
    t.load_state_dict(state)
    assert list(t) == list(s)
    assert t.current_q() == s.current_q() and torch.equal(t.class_weights, s.class_weights)
    other = ClassBalancedSampler(LABELS[:-1])
    with pytest.raises(ValueError, match="different labels"):
        other.load_state_dict(state)


@pytest.mark.parametrize(
    "labels,match",
    [
        (torch.tensor([0, 1, -1]), "non-negative"),
        (torch.tensor([], dtype=torch.long), "empty"),
        ([], "empty"),
        (torch.tensor([0.5, 1.0]), "integer"),
        (torch.zeros(3, 2, dtype=torch.long), "1-D"),
        (np.array(["a", "b"]), "integer"),
    ],
)
def test_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        ClassBalancedSampler(labels)
    with pytest.raises(ValueError, match=match):
        DistributedClassBalancedSampler(labels, 2, 0)


def test_bad_options():
    with pytest.raises(ValueError, match="q must be"):
        ClassBalancedSampler(LABELS, q=float("nan"))
    with pytest.raises(ValueError, match="num_samples"):
        ClassBalancedSampler(LABELS, num_samples=0)
    with pytest.raises(ValueError, match="one entry per class"):
        ClassBalancedSampler(LABELS, class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match=">= 0"):
        ClassBalancedSampler(LABELS, class_weights=[1, 1, 1, 1, 1, -1])
    with pytest.raises(ValueError, match="zero probability"):
        ClassBalancedSampler([0, 0, 2], num_classes=3, class_weights=[0, 1, 0])
    with pytest.raises(ValueError, match="num_classes"):
        ClassBalancedSampler(LABELS, num_classes=3)
    with pytest.raises(ValueError, match="rank must be"):
        DistributedClassBalancedSampler(LABELS, 2, 2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedClassBalancedSampler(LABELS, 0, 0)
    with pytest.raises(ValueError, match="epoch"):
        ClassBalancedSampler(LABELS).set_epoch(-1)


def test_global_mode_under_accelerate_is_sharded_once():
    pytest.importorskip("accelerate")
    from accelerate.data_loader import prepare_data_loader

    y = torch.cat([torch.zeros(90), torch.ones(10)]).long()
    ds = TensorDataset(torch.arange(100), y)
    per_rank = []
    for rank in range(2):
        s = DistributedClassBalancedSampler(y, shard=False, seed=0)
        loader = prepare_data_loader(
            DataLoader(ds, batch_size=10, sampler=s), num_processes=2, process_index=rank, put_on_device=False
        )
        loader.set_epoch(2)  # accelerate forwards the epoch to our sampler
        per_rank.append(torch.cat([xb for xb, _ in loader]))
        assert s.epoch == 2
    # accelerate hands out whole batches round-robin: together they are exactly the global draw
    inter = torch.stack([r.view(-1, 10) for r in per_rank], 1).reshape(-1)
    assert torch.equal(inter, DistributedClassBalancedSampler(y, shard=False, seed=0).sample_indices(2))
    assert per_rank[0].numel() == per_rank[1].numel() == 50
    # the sharded mode under accelerate shards twice: rank 0 gets 3 of its shard's 5 batches
    # (accelerate pads to even batches) instead of its 50-sample share of the epoch
    double = DistributedClassBalancedSampler(y, num_replicas=2, rank=0, seed=0)
    loader = prepare_data_loader(
        DataLoader(ds, batch_size=10, sampler=double), num_processes=2, process_index=0, put_on_device=False
    )
    assert sum(xb.numel() for xb, _ in loader) == 30


def test_defaults_read_world_from_torch_distributed(tmp_path):
    import torch.distributed as dist

    if not dist.is_available() or dist.is_initialized():
        pytest.skip("torch.distributed unavailable or already initialised")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        s = DistributedClassBalancedSampler(LABELS)
        assert (s.num_replicas, s.rank, len(s)) == (1, 0, LABELS.numel())
    finally:
        dist.destroy_process_group()


def test_concat_dataset_and_array_like_labels():
    from torch.utils.data import ConcatDataset

    a, b = _NoLoad(LABELS[:700], "targets"), _NoLoad(LABELS[700:].tolist(), "get_labels")
    assert extract_labels(ConcatDataset([a, b])).tolist() == LABELS.tolist()

    class ArrayLike:  # e.g. a pandas Series
        def __array__(self, dtype=None, copy=None):
            return LABELS.numpy()

    assert extract_labels(ArrayLike()).tolist() == LABELS.tolist()
