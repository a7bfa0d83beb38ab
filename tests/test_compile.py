"""torch.compile: with value checks off, an ACWA training step traces without graph breaks.

``get_weighted_loss`` (plain CE, ``mode='la-adaptive'`` logit offsets, an acwa focal loss) traces with
``fullgraph=True``; the per-batch accumulation of ``update_metrics`` (:meth:`ACWATrainer.accumulate`)
traces once and is not recompiled per call; compiled and eager runs give identical weights.
The periodic weight update runs eagerly between steps.
"""

from typing import Any

import pytest
import torch
from torch import nn

from acwa import ACWATrainer, FocalLoss

C = 5


def _data(steps=6, n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, 8, generator=g), torch.randint(0, C, (n,), generator=g)) for _ in range(steps)]


CONFIGS: dict[str, dict[str, Any]] = {
    "default": dict(),
    "auto": dict(mode="la-adaptive", class_frequencies=[50, 20, 10, 5, 2]),
    "focal": dict(loss_fn=FocalLoss(gamma=2.0)),
}


def _step_functions(forward_loss, trainer, compiled):
    """``(forward_loss, trainer.accumulate)``, both compiled with ``fullgraph=True`` if ``compiled``."""
    if not compiled:
        return forward_loss, trainer.accumulate
    torch._dynamo.reset()
    return (
        torch.compile(forward_loss, fullgraph=True, backend="eager"),
        torch.compile(trainer.accumulate, fullgraph=True, backend="eager"),
    )


def _run(config, compiled):
    torch.manual_seed(0)
    model = nn.Linear(8, C)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    kw = dict(CONFIGS[config])
    trainer = ACWATrainer(num_classes=C, validate_inputs=False, alpha=0.5, beta=0.5, **kw)
    trainer.update_freq = 2

    def forward_loss(x, y):
        out = model(x)
        return out, trainer.get_weighted_loss(out, y)

    forward_loss, accumulate = _step_functions(forward_loss, trainer, compiled)
    for x, y in _data():
        out, loss = forward_loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        accumulate(out.detach(), y)
        trainer.end_batch()  # counts the call; the periodic update runs eagerly
    return trainer, model


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_training_step_has_no_graph_break(config):
    trainer = ACWATrainer(num_classes=C, validate_inputs=False, **CONFIGS[config])
    model = nn.Linear(8, C)
    x, y = _data(steps=1)[0]

    def step(x, y):
        out = model(x)
        loss = trainer.get_weighted_loss(out, y)
        trainer.accumulate(out.detach(), y)
        return loss

    torch._dynamo.reset()
    explanation = torch._dynamo.explain(step)(x, y)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_compiled_and_eager_runs_give_identical_weights(config):
    eager, eager_model = _run(config, compiled=False)
    compiled, compiled_model = _run(config, compiled=True)
    assert eager.weight_history.shape[0] == 4  # 6 steps, an update every 2
    assert torch.equal(compiled.weight_history, eager.weight_history)
    assert torch.equal(compiled.offset_history, eager.offset_history)
    assert torch.equal(compiled.window.stats.counts, eager.window.stats.counts)


@pytest.mark.parametrize("task", ["multiclass", None])
def test_accumulation_is_not_recompiled_per_call(task):
    trainer = ACWATrainer(num_classes=C, validate_inputs=False, update_freq=None, task=task)
    data = _data(steps=8)
    if task is None:  # the first batch decides the task (eagerly here, as a first-batch check would)
        trainer.accumulate(torch.randn(32, C), data[0][1])
    torch._dynamo.reset()
    calls = []

    def counting_backend(gm, example_inputs):
        calls.append(1)
        return gm.forward

    accumulate = torch.compile(trainer.accumulate, fullgraph=True, backend=counting_backend)
    for _, y in data:
        accumulate(torch.randn(len(y), C), y)
    assert len(calls) == 1
    seen = 8 * 32 + (32 if task is None else 0)
    assert int(trainer.window.stats.counts[0].sum() + trainer.window.stats.counts[2].sum()) == seen


@pytest.mark.parametrize("ignore_index", [None, -100])
@pytest.mark.parametrize("task", ["binary", "multilabel"])
def test_sigmoid_tasks_trace_whole_and_match_eager(task, ignore_index):
    """One-logit binary and multi-label steps compile with fullgraph=True (the cached BCE weights
    of the eager path are computed inside the graph) and give the eager loss and counts."""
    L = 1 if task == "binary" else 4
    g = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(5):
        x = torch.randn(24, 8, generator=g)
        shape = (24,) if task == "binary" else (24, L)
        batches.append((x, (torch.rand(shape, generator=g) < 0.3).long()))
    runs = []
    for compiled in (False, True):
        torch.manual_seed(0)
        model = nn.Linear(8, L)
        kw = dict(task=task, num_classes=None if task == "binary" else L, ignore_index=ignore_index)
        trainer = ACWATrainer(update_freq=2, validate_inputs=False, alpha=0.5, beta=0.5, **kw)

        def forward_loss(x, y, model=model, trainer=trainer):
            out = model(x)
            out = out.squeeze(1) if task == "binary" else out
            return out, trainer.get_weighted_loss(out, y)

        forward_loss, accumulate = _step_functions(forward_loss, trainer, compiled)
        losses = []
        for x, y in batches:
            out, loss = forward_loss(x, y)
            loss.backward()
            accumulate(out.detach(), y)
            trainer.end_batch()
            losses.append(loss.detach())
        runs.append((torch.stack(losses), trainer.weight_history, trainer.window.stats.counts))
    (eager_loss, eager_w, eager_c), (comp_loss, comp_w, comp_c) = runs
    torch.testing.assert_close(comp_loss, eager_loss)
    assert torch.equal(comp_w, eager_w) and torch.equal(comp_c, eager_c) and eager_w.shape[0] == 3
