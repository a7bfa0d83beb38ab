"""DRS (acwa.sampling.DeferredResampler): instance sampling before the deferral epoch, class-balanced after."""

import pytest
import torch

from acwa.sampling import ClassBalancedSampler, DeferredQ, DeferredResampler


def _labels():
    return torch.tensor([0] * 60 + [1] * 24 + [2] * 6)  # N = 90, C = 3


def test_instance_phase_is_a_permutation_and_balanced_phase_meets_quotas():
    y = _labels()
    s = DeferredResampler(y, start_epoch=2, seed=3)
    for e in range(2):
        idx = s.sample_indices(e)
        assert sorted(idx.tolist()) == list(range(90))  # every sample exactly once
    for e in (2, 5):
        idx = s.sample_indices(e)
        assert torch.bincount(y[idx], minlength=3).tolist() == [30, 30, 30]
        tail = idx[y[idx] == 2]
        assert torch.bincount(tail, minlength=90)[84:].tolist() == [5] * 6  # each tail sample 30/6 times


def test_schedule_and_iteration_follow_set_epoch():
    q = DeferredQ(3)
    assert [q(e) for e in range(5)] == [0.0, 0.0, 0.0, 1.0, 1.0]
    y = _labels()
    s = DeferredResampler(y, start_epoch=1, seed=0)
    first = list(iter(s))  # epoch 0, then advances
    second = list(iter(s))
    assert sorted(first) == list(range(90))
    assert torch.bincount(y[torch.tensor(second)], minlength=3).tolist() == [30, 30, 30]
    s.set_epoch(0)
    assert list(iter(s)) == first
    ref = ClassBalancedSampler(y, q=1.0, replacement=False, seed=0)
    assert ref.sample_indices(1).tolist() == s.sample_indices(1).tolist()  # the same draw as q = 1


def test_state_dict_and_bad_input():
    y = _labels()
    s = DeferredResampler(y, start_epoch=4, seed=1)
    s.set_epoch(6)
    state = s.state_dict()
    other = DeferredResampler(y, start_epoch=4, seed=0)
    other.load_state_dict(state)
    assert other.epoch == 6 and other.seed == 1 and other.start_epoch == 4
    with pytest.raises(ValueError, match="start_epoch"):
        DeferredResampler(y, start_epoch=2).load_state_dict(state)
    with pytest.raises(ValueError, match="start_epoch"):
        DeferredResampler(y, start_epoch=-1)
