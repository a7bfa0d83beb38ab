"""One state-dict conformance suite over every stateful public object of the core.

For each object: a round trip gives an object that behaves identically afterwards; a corrupted
dict (wrong key, shape, dtype, non-finite value, out-of-bounds weight) raises ``ValueError``
naming the key and leaves the object exactly as it was (atomic); checkpoints written by the
trainer before declared state (tests/data/acwa_trainer_checkpoint_v0.pt) keep loading.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from acwa import ACWATrainer, EarlyStopping
from acwa.adaptive import AdaptiveClassWeights
from acwa.metrics import ClassStatScores, per_class_metric
from acwa.tasks import BinaryTask, MultilabelTask

DATA = Path(__file__).parent / "data"


def _batches(c=4, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(16, c, generator=g), torch.randint(0, c, (16,), generator=g)) for _ in range(n)]


def _recall(outputs, labels):
    return per_class_metric(outputs, labels, 4, "recall")


def _trainer(**kw):
    return ACWATrainer(num_classes=4, alpha=0.5, beta=0.5, update_freq=3, **kw)


def _fed(obj, batches):
    for z, y in batches:
        if isinstance(obj, ACWATrainer):
            obj.update_metrics(z, y)
        elif isinstance(obj, ClassStatScores):
            obj.update(z, y)
        else:
            obj.step(per_class_metric(z, y, 4, "f1"), at_step=len(obj.weight_rows))
    return obj


FACTORIES = {
    "counts": lambda: ClassStatScores(4),
    "controller": lambda: AdaptiveClassWeights(4, alpha=0.5, beta=0.5, adjust="both"),
    "trainer": lambda: _trainer(),
    "trainer_logits": lambda: _trainer(adjust="both", class_frequencies=[40, 30, 20, 10]),
    "trainer_callable": lambda: _trainer(metric_fn=_recall),
}


def _observe(obj):
    """What must be identical after a round trip: the state plus behaviour on new batches."""
    obj = _fed(copy.deepcopy(obj), _batches(seed=9, n=4))
    if isinstance(obj, ClassStatScores):
        return [obj.counts]
    if isinstance(obj, AdaptiveClassWeights):
        return [obj.weights, obj.offsets, obj.history, obj.history_steps]
    return [obj.weights, obj.logit_offsets, obj.weight_history, obj.weight_history_steps, obj.compute_metric()]


def _same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) or (torch.isnan(x) == torch.isnan(y)).all() for x, y in zip(a, b))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_round_trip_resumes_identically(name):
    obj = _fed(FACTORIES[name](), _batches(n=4))  # mid-window for the trainers (4 % 3 = 1)
    fresh = FACTORIES[name]()
    fresh.load_state_dict(copy.deepcopy(obj.state_dict()))
    assert _same(_observe(fresh), _observe(obj))


def _corruptions(state):
    """(description, corrupted state, text the error must contain)."""
    out = []

    def put(path, value, match):
        s = copy.deepcopy(state)
        d = s
        for k in path[:-1]:
            d = d[k]
        if value is KeyError:
            del d[path[-1]]
        else:
            d[path[-1]] = value
        out.append(("/".join(map(str, path)), s, match))

    ctrl = state.get("controller", state)
    prefix = ("controller",) if "controller" in state else ()
    if "weights" in ctrl:
        put(prefix + ("weights",), torch.tensor([1.0, float("nan"), 1.0, 1.0]), "weights")
        put(prefix + ("weights",), torch.ones(5), "weights")
        put(prefix + ("weights",), torch.full((4,), 50.0), "weight_bounds")
        put(prefix + ("offsets",), torch.ones(4, dtype=torch.long).bool(), "offsets")
        put(prefix + ("weights",), KeyError, "weights")
    if "counts" in state:
        put(("counts",), -torch.ones_like(state["counts"]), "counts")
        put(("counts",), state["counts"].float(), "dtype")
    if "stats" in state:
        put(("stats", "counts"), state["stats"]["counts"][:-1], "shape")
        put(("num_calls",), "seven", "num_calls")
        put(("num_classes",), 7, "num_classes")
    s = copy.deepcopy(state)
    s["unexpected"] = 1
    out.append(("unknown key", s, "unknown"))
    return out


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_corrupted_state_raises_and_leaves_the_object_untouched(name):
    obj = _fed(FACTORIES[name](), _batches(n=4))
    state = obj.state_dict()
    before = _observe(obj)
    cases = _corruptions(state)
    assert cases
    for what, bad, match in cases:
        with pytest.raises(ValueError, match=match):
            obj.load_state_dict(bad)
        assert _same(_observe(obj), before), what


def test_checkpoint_from_before_declared_state_loads():
    saved = torch.load(DATA / "acwa_trainer_checkpoint_v0.pt")
    state, expected = saved["state"], saved["expected"]
    assert isinstance(state["controller"]["history"], torch.Tensor)  # the old format indeed
    assert isinstance(state["controller"]["history_steps"], list)
    t = ACWATrainer(alpha=0.5, beta=0.5, update_freq=3, adjust="both")
    t.load_state_dict(state)
    assert torch.equal(t.weights, expected["weights"]) and torch.equal(t.logit_offsets, expected["offsets"])
    assert torch.equal(t.weight_history, expected["history"])
    assert t.weight_history_steps.tolist() == expected["steps"].tolist() == [0, 3, 6]
    assert torch.equal(t.window.stats.counts, expected["counts"])
    assert t.num_calls == 7
    t.update_metrics(torch.randn(16, 4), torch.randint(0, 4, (16,)))
    t.update_metrics(torch.randn(16, 4), torch.randint(0, 4, (16,)))  # completes the third window
    assert t.weight_history_steps.tolist() == [0, 3, 6, 9]


@pytest.mark.parametrize("task", [BinaryTask(), MultilabelTask(num_labels=3)])
def test_counts_of_other_tasks_round_trip(task):
    s = ClassStatScores(task=task)
    z = torch.randn(20, 3) if isinstance(task, MultilabelTask) else torch.randn(20)
    y = (torch.rand(z.shape) > 0.5).long()
    s.update(z, y)
    fresh = ClassStatScores(task=task)
    fresh.load_state_dict(s.state_dict())
    assert torch.equal(fresh.counts, task.stat_scores(z, y))


def test_sync_returns_a_copy_and_never_mutates_the_window():
    s = ClassStatScores(4)
    z, y = _batches(n=1)[0]
    s.update(z, y)
    before = s.counts.clone()
    synced = s.sync()
    synced += 1
    assert torch.equal(s.counts, before)


def test_early_stopping_round_trip_and_bad_loads():
    s = EarlyStopping(patience=3)
    for v in (0.5, 0.6, 0.55):
        s.step(v)
    fresh = EarlyStopping(patience=3)
    fresh.load_state_dict(s.state_dict())
    assert (fresh.best, fresh.counter, fresh.should_stop) == (0.6, 1, False)
    assert [fresh.step(v) for v in (0.5, 0.5)] == [s.step(v) for v in (0.5, 0.5)] == [False, True]
    for bad, match in [({"best": float("nan"), "counter": 0, "should_stop": False}, "best"),
                       ({"best": 0.5, "counter": -1, "should_stop": False}, "counter"),
                       ({"best": 0.5, "counter": 0}, "should_stop")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            fresh.load_state_dict(bad)
        assert (fresh.best, fresh.counter) == (0.6, 3)
