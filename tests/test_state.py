"""The declared-state mechanism: reset, state_dict round trip, validated atomic loads, pickling."""

import pickle

import pytest
import torch

from acwa._internal.state import Stateful


def _nonnegative(t):
    if bool((t < 0).any()):
        raise ValueError("must be >= 0")


class Counter(Stateful):
    def __init__(self, k: int) -> None:
        self.add_state("counts", torch.zeros(k, dtype=torch.long), reduce="sum", check=_nonnegative)
        self.add_state("weights", torch.ones(k))
        self.add_state("history", [], item_shape=(k,))
        self.add_state("calls", 0)
        self.add_state("note", None, optional=True)


def test_reset_and_round_trip():
    a = Counter(3)
    a.counts += torch.tensor([1, 2, 3])
    a.weights = torch.tensor([0.5, 1.0, 2.0])
    a.history.append(a.weights.clone())
    a.calls = 7
    state = a.state_dict()
    b = Counter(3)
    b.load_state_dict(state)
    assert torch.equal(b.counts, a.counts) and torch.equal(b.weights, a.weights) and b.calls == 7
    assert len(b.history) == 1 and torch.equal(b.history[0], a.weights)
    state["counts"][0] = 100  # the loaded state is a copy
    assert int(b.counts[0]) == 1
    b.reset("counts")
    assert b.counts.tolist() == [0, 0, 0] and b.calls == 7
    b.reset()
    assert b.calls == 0 and b.history == []


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("counts", torch.tensor([1, -1, 0]), "must be >= 0"),
        ("counts", torch.zeros(4, dtype=torch.long), "shape"),
        ("weights", torch.tensor([1.0, float("nan"), 1.0]), "finite"),
        ("weights", torch.tensor([1, 2, 3]), "dtype"),
        ("history", [torch.ones(2)], "shape"),
        ("calls", "7", "must be a int"),
        ("calls", True, "must be a int"),
    ],
)
def test_bad_loads_name_the_key_and_leave_the_object_untouched(key, value, match):
    a = Counter(3)
    a.calls = 2
    state = Counter(3).state_dict()
    state["calls"] = 5
    state[key] = value
    with pytest.raises(ValueError, match=match) as err:
        a.load_state_dict(state)
    assert repr(key) in str(err.value)
    assert a.calls == 2 and a.weights.tolist() == [1.0, 1.0, 1.0]


def test_missing_and_unknown_keys():
    a = Counter(2)
    state = a.state_dict()
    del state["note"]  # optional: older checkpoints lack it
    a.load_state_dict(state)
    del state["calls"]
    with pytest.raises(ValueError, match="missing key 'calls'"):
        a.load_state_dict(state)
    with pytest.raises(ValueError, match="unknown keys"):
        a.load_state_dict({**a.state_dict(), "extra": 1})
    with pytest.raises(ValueError, match="must be a dict"):
        a.load_state_dict([1, 2])


def test_pickle_gives_private_tensors_and_synced_is_identity_without_ddp():
    a = Counter(2)
    b = pickle.loads(pickle.dumps(a))
    b.counts += 1
    assert a.counts.tolist() == [0, 0]
    assert a.synced("counts") is a.counts
    assert a.to("cpu") is a and a.state_device == torch.device("cpu")
