"""Class-balanced sampling under DistributedDataParallel, Accelerate and the HF Trainer.

Every rank computes the same global class-balanced draw for the epoch (same labels, seed,
epoch, q and class weights -> the same ``torch.Generator`` stream) and keeps its own shard of
it, following ``torch.utils.data.DistributedSampler``:

* ``drop_last=False``: the draw of M = ``num_samples`` indices is padded with its own first
  indices to ``R * ceil(M / R)``; ``drop_last=True``: truncated to ``R * floor(M / R)``;
* rank r takes positions ``r, r + R, r + 2R, ...``;

so the R shards have equal length, are disjoint as sets of positions and, interleaved, give
back the (padded/truncated) global draw. Draws are with replacement by default, so one
dataset index may appear in two shards, exactly as in a single-process class-balanced epoch.
``set_epoch(e)`` must be called every epoch on every rank (the DistributedSampler contract);
the epoch never advances by itself, so ranks cannot drift apart.

Global mode (``shard=False``): for launchers that shard the sampler's output themselves,
Accelerate (``accelerator.prepare(dataloader)`` wraps the batch sampler in
``BatchSamplerShard``) and the HF Trainer (which uses Accelerate). There the sampler must
yield the same full global draw on every process; sharding it as well would give each rank
1/R^2 of the data (accelerate #3520). With ``shard=False`` the sampler yields the full draw of
M indices (no padding), identical on all ranks, and ``len()`` is M.

This answers the long-standing request for a weighted/class-aware DistributedSampler
(pytorch #23430, #77154; torchsampler #9; Lightning #12866; accelerate #2865).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from acwa._internal.validation import check_bool, check_int
from acwa.sampling.samplers import ClassBalancedSampler, QType

__all__ = ["DistributedClassBalancedSampler"]


def _world() -> tuple:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class DistributedClassBalancedSampler(ClassBalancedSampler):
    """Rank ``rank``'s shard of one global class-balanced draw per epoch.

    Args:
        labels: as :class:`ClassBalancedSampler` (tensor/array/list, ``dataset.targets``,
            ``dataset.get_labels()``, a callable); never loads samples.
        num_replicas, rank: default from ``torch.distributed`` when it is initialised, else
            1 and 0 (a single process).
        q, seed: as :class:`ClassBalancedSampler`; all ranks must pass the same values.
        drop_last: truncate (``True``) or pad (``False``) the global draw to a multiple of
            ``num_replicas``.
        num_samples: size M of the global draw per epoch (default ``len(labels)``).
        replacement: as :class:`ClassBalancedSampler`.
        shard: ``True`` (default) yields this rank's shard (``len = M_padded / R``);
            ``False`` is the global mode for Accelerate / HF Trainer (``len = M``).
        num_classes, class_weights: as :class:`ClassBalancedSampler`.
    """

    _auto_advance = False

    def __init__(
        self,
        labels: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        q: QType = 1.0,
        seed: int = 0,
        drop_last: bool = False,
        *,
        num_samples: int | None = None,
        replacement: bool = True,
        shard: bool = True,
        num_classes: int | None = None,
        class_weights: Tensor | Sequence[float] | None = None,
    ) -> None:
        super().__init__(
            labels,
            q=q,
            num_samples=num_samples,
            replacement=replacement,
            seed=seed,
            num_classes=num_classes,
            class_weights=class_weights,
        )
        world, my_rank = _world()
        num_replicas = world if num_replicas is None else num_replicas
        rank = my_rank if rank is None else rank
        num_replicas = check_int(num_replicas, "num_replicas", min=1)
        rank = check_int(rank, "rank", min=0, max=num_replicas - 1, hint=f"ranks are 0..{num_replicas - 1}")
        drop_last = check_bool(drop_last, "drop_last")
        shard = check_bool(shard, "shard")
        if shard and drop_last and self.num_samples < num_replicas:
            raise ValueError(
                f"drop_last=True with num_samples={self.num_samples} < num_replicas={num_replicas} "
                "leaves every rank empty; use drop_last=False or a larger num_samples"
            )
        self.num_replicas, self.rank, self.drop_last, self.shard = num_replicas, rank, drop_last, shard

    @property
    def shard_size(self) -> int:
        """Indices per rank per epoch."""
        m, r = self.num_samples, self.num_replicas
        return m // r if self.drop_last else math.ceil(m / r)

    @property
    def total_size(self) -> int:
        """Length of the padded/truncated global draw (``shard_size * num_replicas``)."""
        return self.shard_size * self.num_replicas

    def global_indices(self, epoch: int | None = None) -> Tensor:
        """The padded/truncated global draw every rank shards (int64 [total_size])."""
        idx = self.sample_indices(epoch)
        total = self.total_size
        if total <= idx.numel():
            return idx[:total]
        reps = math.ceil((total - idx.numel()) / idx.numel())
        return torch.cat([idx] + [idx] * reps)[:total]

    def shard_indices(self, epoch: int | None = None, rank: int | None = None) -> Tensor:
        """Rank ``rank``'s shard (default: this sampler's rank) as an int64 tensor."""
        r = self.rank if rank is None else rank
        return self.global_indices(epoch)[r :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        idx = self.shard_indices() if self.shard else self.sample_indices()
        return iter(idx.tolist())

    def __len__(self) -> int:
        return self.shard_size if self.shard else self.num_samples

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + (
            f", num_replicas={self.num_replicas}, rank={self.rank}, drop_last={self.drop_last}, shard={self.shard})"
        )
