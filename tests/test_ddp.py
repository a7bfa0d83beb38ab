"""ACWA under torch.distributed (gloo on CPU, 2 processes).

* per-class counts are all-reduced before each update, so every rank holds bitwise-identical
  weights, equal to a single process that sees the union of the ranks' batches;
* a class that one rank never sees (or that no rank sees in a window) neither hangs nor
  diverges: the union decides, absent-everywhere classes keep their weight;
* a plain callable ``metric_fn`` is evaluated on the gathered windows of all ranks;
* DDP training (gradient averaging) gives the same weight history as one process on the
  union of the data, and ``examples/ddp_train.py`` under torchrun prints identical weights.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from acwa import ACWATrainer
from acwa._internal.state import all_gather_cat
from acwa.metrics import per_class_metric

ROOT = Path(__file__).resolve().parents[1]
WORLD = 2
C = 4
STEPS = 6
BATCH = 8


def shard_batches(rank: int):
    """Per-step (logits, labels) of one rank. Class 3 appears on rank 0 only; class 2 on no
    rank during steps 2-3 (the second window with update_freq=2)."""
    g = torch.Generator().manual_seed(100 + rank)
    out = []
    for step in range(STEPS):
        allowed = [0, 1, 2, 3] if rank == 0 else [0, 1, 2]
        if step in (2, 3):
            allowed = [c for c in allowed if c != 2]
        pool = torch.tensor(allowed)
        labels = pool[torch.randint(len(allowed), (BATCH,), generator=g)]
        logits = torch.randn(BATCH, C, generator=g)
        logits[torch.arange(BATCH), labels] += torch.rand(BATCH, generator=g) * 2.0  # mostly right
        out.append((logits, labels))
    return out


def recall_fn(logits, labels):
    return per_class_metric(logits, labels, C, "recall")


def train_data():
    g = torch.Generator().manual_seed(7)
    centers = torch.randn(3, 5, generator=g) * 2.0
    y = torch.tensor([0] * 40 + [1] * 16 + [2] * 8)
    x = centers[y] + torch.randn(len(y), 5, generator=g)
    perm = torch.randperm(len(y), generator=g)
    return x[perm], y[perm]


def train_run(shards, lr=0.1, steps=8, ddp=False):
    """Train a linear model; each step takes one batch from every entry of ``shards``
    (DDP: this rank's batch; single process: the union of all ranks' batches)."""
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    net = nn.parallel.DistributedDataParallel(model) if ddp else model
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    acwa = ACWATrainer(num_classes=3, alpha=0.5, beta=0.5, update_freq=2, target_metric=0.95)
    for step in range(steps):
        x = torch.cat([s[0][step] for s in shards])
        y = torch.cat([s[1][step] for s in shards])
        logits = net(x)
        loss = acwa.get_weighted_loss(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        acwa.update_metrics(logits, y)
    return acwa.weight_history, torch.cat([p.detach().flatten() for p in model.parameters()])


def train_shards(world):
    """Split the 64 samples into ``world`` shards of 8 per step (rank r gets rows r::world)."""
    x, y = train_data()
    return [
        ([x[r::world][8 * s : 8 * s + 8] for s in range(4)] * 2, [y[r::world][8 * s : 8 * s + 8] for s in range(4)] * 2)
        for r in range(world)
    ]


def validation_run(rank: int, world: int) -> torch.Tensor:
    """``update_from_validation`` on rows ``rank::world`` of a fixed validation set (world=1: all)."""
    x, y = train_data()
    torch.manual_seed(1)
    model = nn.Linear(5, 3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[rank::world], y[rank::world]), batch_size=5)
    acwa = ACWATrainer(num_classes=3, alpha=0.5, beta=0.5, update_freq=None, metric_fn="recall")
    acwa.update_from_validation(model, loader)
    return acwa.weights.clone()


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        res: dict[str, Any] = {}
        batches = shard_batches(rank)
        # default metric (F1 from all-reduced counts), step every 2 calls
        t = ACWATrainer(num_classes=C, alpha=0.5, beta=0.5, update_freq=2)
        for logits, labels in batches:
            t.update_metrics(logits, labels)
        res["f1_history"] = t.weight_history
        # plain callable metric_fn: windows gathered across ranks
        t = ACWATrainer(num_classes=C, alpha=0.5, beta=0.5, update_freq=3, metric_fn=recall_fn)
        for logits, labels in batches:
            t.update_metrics(logits, labels)
        res["callable_history"] = t.weight_history
        # manual step where rank 1 fed nothing: no hang, the union decides
        t = ACWATrainer(num_classes=C, alpha=0.5, beta=0.5, update_freq=None, metric_fn=recall_fn)
        if rank == 0:
            t.update_metrics(*batches[0])
        res["empty_rank_step"] = t.step().clone()
        # reading the metric mid-window all-reduces a copy: the local window keeps local counts
        t = ACWATrainer(num_classes=C, update_freq=None)
        t.update_metrics(*batches[0])
        local = t.window.stats.counts.clone()
        res["mid_window_metric"] = t.compute_metric()
        res["local_counts_kept"] = torch.equal(t.window.stats.counts, local)
        res["global_counts"] = t.window.sync()
        # validation-driven step: each rank evaluates its shard of the validation set
        res["validation_step"] = validation_run(rank, world)
        # all_gather_cat with unequal first dimensions (rank r has r + 1 rows)
        res["gathered"] = all_gather_cat(torch.full((rank + 1, 2), float(rank)))
        # DDP training: gradients averaged across ranks
        res["train_history"], res["train_params"] = train_run([train_shards(world)[rank]], ddp=True)
        torch.save(res, os.path.join(out_dir, f"rank{rank}.pt"))
        dist.barrier()  # no rank tears the group down while another still runs gloo work
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(WORLD, str(tmp / "init"), str(tmp)), nprocs=WORLD, join=True)
    return [torch.load(tmp / f"rank{r}.pt") for r in range(WORLD)]


def single_process_reference():
    ranks = [shard_batches(r) for r in range(WORLD)]
    union = [
        (torch.cat([ranks[r][s][0] for r in range(WORLD)]), torch.cat([ranks[r][s][1] for r in range(WORLD)]))
        for s in range(STEPS)
    ]
    res = {}
    t = ACWATrainer(num_classes=C, alpha=0.5, beta=0.5, update_freq=2)
    for logits, labels in union:
        t.update_metrics(logits, labels)
    res["f1_history"] = t.weight_history
    t = ACWATrainer(num_classes=C, alpha=0.5, beta=0.5, update_freq=3, metric_fn=recall_fn)
    for logits, labels in union:
        t.update_metrics(logits, labels)
    res["callable_history"] = t.weight_history
    t = ACWATrainer(num_classes=C, alpha=0.5, beta=0.5, update_freq=None, metric_fn=recall_fn)
    t.update_metrics(*ranks[0][0])
    res["empty_rank_step"] = t.step().clone()
    res["validation_step"] = validation_run(0, 1)
    return res


@pytest.mark.parametrize(
    "key", ["f1_history", "callable_history", "empty_rank_step", "train_history", "validation_step"]
)
def test_ranks_hold_bitwise_identical_weights(ddp_results, key):
    a, b = ddp_results[0][key], ddp_results[1][key]
    assert torch.equal(a, b), f"{key} differs between ranks:\n{a}\n{b}"


@pytest.mark.parametrize("key", ["f1_history", "callable_history", "empty_rank_step", "validation_step"])
def test_ddp_equals_single_process_on_union(ddp_results, key):
    ref = single_process_reference()[key]
    assert torch.equal(ddp_results[0][key], ref), f"{key}: DDP\n{ddp_results[0][key]}\nsingle\n{ref}"


def test_reference_is_not_trivial(ddp_results):
    """The data must exercise what the DDP tests claim: weights move, class 3 (rank 0 only)
    moves, class 2 is frozen in the window where no rank saw it, and one rank alone would differ."""
    hist = ddp_results[0]["f1_history"]
    assert hist.shape == (STEPS // 2 + 1, C)
    assert not torch.equal(hist[0], hist[-1])
    assert hist[1, 3] != hist[0, 3]  # class 3 updated from rank 0's counts, on both ranks
    assert hist[2, 2] == hist[1, 2]  # class 2 absent on every rank in window 2: kept
    alone = ACWATrainer(num_classes=C, alpha=0.5, beta=0.5, update_freq=2)
    for logits, labels in shard_batches(1):
        alone.update_metrics(logits, labels)
    assert not torch.equal(alone.weight_history, hist)  # rank 1's local counts would give other weights
    assert alone.weight_history[1, 3] == 1.0  # ... and never touch class 3
    full = validation_run(0, 1)
    assert not torch.equal(full, torch.ones(3)) and not torch.equal(full, validation_run(1, WORLD))


def test_all_gather_cat_uneven_sizes(ddp_results):
    expected = torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    for res in ddp_results:
        assert torch.equal(res["gathered"], expected)


def test_ddp_training_matches_single_process_on_union(ddp_results):
    """DDP averages the ranks' gradients of sum_i w_{y_i} l_i / N_rank; with equal per-rank
    batches that is the gradient of the union's mean, so one process on the union follows the
    same trajectory (parameters up to float rounding, ACWA weights exactly)."""
    hist, params = train_run(train_shards(WORLD))
    assert torch.equal(ddp_results[0]["train_history"], hist)
    assert len(hist) == 5 and not torch.equal(hist[0], hist[-1])
    torch.testing.assert_close(ddp_results[0]["train_params"], params, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ddp_results[1]["train_params"], params, rtol=1e-5, atol=1e-6)


def test_all_gather_cat_is_identity_without_process_group():
    t = torch.arange(6).view(3, 2)
    assert all_gather_cat(t) is t


LINE = re.compile(r"^rank (\d+) final weights: (\S+)$")


def test_torchrun_example_prints_identical_weights():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(ROOT / "examples" / "ddp_train.py"),
        "--epochs",
        "2",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    found = {}
    for ln in lines:
        m = LINE.match(ln)
        assert m, f"unexpected stdout line {ln!r}"
        found[int(m.group(1))] = m.group(2)
    assert sorted(found) == [0, 1]
    assert found[0] == found[1]
    weights = [float(v) for v in found[0].split(",")]
    assert found[0] == ",".join(repr(w) for w in weights)  # repr(float(w)) format
    assert len(weights) == 4 and all(0.5 <= w <= 2.0 for w in weights)
    assert weights != [1.0] * 4  # ACWA moved the weights


def test_mid_window_sync_never_mutates_the_local_window(ddp_results):
    assert all(r["local_counts_kept"] for r in ddp_results)
    task = ACWATrainer(num_classes=C).task
    union = torch.stack([task.stat_scores(*shard_batches(r)[0]) for r in range(WORLD)]).sum(0)
    for r in ddp_results:
        assert torch.equal(r["global_counts"], union)
        torch.testing.assert_close(r["mid_window_metric"], ddp_results[0]["mid_window_metric"], equal_nan=True)
