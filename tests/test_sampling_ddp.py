"""DistributedClassBalancedSampler under real torch.distributed (gloo on CPU, 2 processes):
world size and rank come from the process group; the shards the ranks iterate are equal-length,
cover disjoint positions and interleave back to the single-process global draw; the global mode
yields the same full draw on every rank."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from acwa.sampling import ClassBalancedSampler, DistributedClassBalancedSampler

WORLD = 2
LABELS = torch.tensor([0] * 70 + [1] * 20 + [2] * 7)  # 97 samples: padding is exercised


def _worker(rank: int, world: int, init_file: str, out_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        s = DistributedClassBalancedSampler(LABELS, q=1.0, seed=11)
        g = DistributedClassBalancedSampler(LABELS, q=1.0, seed=11, shard=False)
        s.set_epoch(4)
        g.set_epoch(4)
        mine = {"rank": s.rank, "world": s.num_replicas, "shard": list(s), "global": list(g)}
        gathered = [None] * world
        dist.all_gather_object(gathered, mine)
        if rank == 0:
            torch.save(gathered, out_file)
        dist.barrier()  # no rank tears the group down while another still runs gloo work
    finally:
        dist.destroy_process_group()


def test_shards_under_torch_distributed(tmp_path):
    out = tmp_path / "shards.pt"
    mp.spawn(_worker, args=(WORLD, str(tmp_path / "init"), str(out)), nprocs=WORLD, join=True)
    res = torch.load(out)
    assert [r["rank"] for r in res] == [0, 1] and all(r["world"] == WORLD for r in res)
    shards = [r["shard"] for r in res]
    assert len(shards[0]) == len(shards[1]) == 49
    ref = ClassBalancedSampler(LABELS, q=1.0, seed=11).sample_indices(4).tolist()
    inter = [shards[p % 2][p // 2] for p in range(98)]
    assert inter[:97] == ref and inter[97:] == ref[:1]  # padded with the first index
    assert res[0]["global"] == res[1]["global"] == ref


MULTI_HOT = (torch.arange(97)[:, None] % torch.tensor([1, 3, 7, 13]) == 0).long()  # 4 labels, long tail


def _multilabel_worker(rank: int, world: int, init_file: str, out_file: str) -> None:
    from acwa.sampling import DistributedMultiLabelBalancedSampler

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        s = DistributedMultiLabelBalancedSampler(MULTI_HOT, q=1.0, seed=3)
        s.set_epoch(2)
        gathered = [None] * world
        dist.all_gather_object(gathered, {"rank": s.rank, "world": s.num_replicas, "shard": list(s)})
        if rank == 0:
            torch.save(gathered, out_file)
        dist.barrier()  # no rank tears the group down while another still runs gloo work
    finally:
        dist.destroy_process_group()


def test_multilabel_shards_under_torch_distributed(tmp_path):
    from acwa.sampling import MultiLabelBalancedSampler

    out = tmp_path / "ml_shards.pt"
    mp.spawn(_multilabel_worker, args=(WORLD, str(tmp_path / "init"), str(out)), nprocs=WORLD, join=True)
    res = torch.load(out)
    assert [r["rank"] for r in res] == [0, 1] and all(r["world"] == WORLD for r in res)
    shards = [r["shard"] for r in res]
    assert len(shards[0]) == len(shards[1]) == 49
    ref = MultiLabelBalancedSampler(MULTI_HOT, q=1.0, seed=3).sample_indices(2).tolist()
    inter = [shards[p % 2][p // 2] for p in range(98)]
    assert inter[:97] == ref and inter[97:] == ref[:1]
