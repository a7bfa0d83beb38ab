"""Multi-process ACWA training with DistributedDataParallel.

Run on CPU with two processes (gloo)::

    torchrun --nproc_per_node=2 examples/ddp_train.py

or as a single process (``python examples/ddp_train.py``). Every rank trains a small MLP on the
same synthetic long-tailed data set, drawing its share of each epoch from
``acwa.sampling.DistributedClassBalancedSampler``. ``ACWATrainer`` all-reduces the per-class
tp/fp/fn counts before every weight update (``ClassStatScores.sync``), so all ranks apply the
same update from the same global counts and hold bitwise-identical weights. The script ends by
printing, on every rank, exactly one line::

    rank <r> final weights: <w_0>,<w_1>,...

with each weight formatted by ``repr(float(w))``. Progress goes to stderr (rank 0 only).
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset

from acwa import ACWATrainer
from acwa.sampling import DistributedClassBalancedSampler


def make_data(num_classes: int, n_max: int, imbalance: float, dim: int, seed: int, spread: float = 0.5):
    """Long-tailed Gaussian blobs: n_c = n_max * imbalance^(-c/(C-1)); same on every rank."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(num_classes, dim, generator=g) * spread
    xs, ys = [], []
    for c in range(num_classes):
        n_c = max(2, int(n_max * imbalance ** (-c / (num_classes - 1))))
        xs.append(centers[c] + torch.randn(n_c, dim, generator=g))
        ys.append(torch.full((n_c,), c, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-classes", type=int, default=4)
    p.add_argument("--n-max", type=int, default=600, help="samples of the largest class")
    p.add_argument("--imbalance", type=float, default=20.0, help="n_max / n_min")
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--spread", type=float, default=0.5, help="scale of the class centres (smaller = harder)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32, help="per rank")
    p.add_argument("--update-freq", type=int, default=5, help="update_metrics calls between ACWA updates")
    p.add_argument("--alpha", type=float, default=0.2)
    p.add_argument("--beta", type=float, default=0.9)
    p.add_argument("--q", type=float, default=0.5, help="sampler: p_c ∝ n_c^(1-q); 1 = class-balanced, 0 = natural")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None, help="default: nccl with CUDA, else gloo")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = torch.device("cpu")
    if distributed:
        backend = args.backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if backend == "nccl":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group(backend)
    rank = dist.get_rank() if distributed else 0

    x, y = make_data(args.num_classes, args.n_max, args.imbalance, args.dim, args.seed, args.spread)
    sampler = DistributedClassBalancedSampler(y, q=args.q, seed=args.seed)  # rank/world from the process group
    loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, sampler=sampler)

    torch.manual_seed(args.seed)  # identical initial parameters on every rank
    model = nn.Sequential(nn.Linear(args.dim, 32), nn.ReLU(), nn.Linear(32, args.num_classes)).to(device)
    ddp_model = DistributedDataParallel(model) if distributed else model
    optimizer = torch.optim.SGD(ddp_model.parameters(), lr=args.lr, momentum=0.9)
    acwa = ACWATrainer(
        num_classes=args.num_classes,
        alpha=args.alpha,
        beta=args.beta,
        update_freq=args.update_freq,
        model=model,
    )

    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            logits = ddp_model(inputs)
            loss = acwa.get_weighted_loss(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            acwa.update_metrics(logits, labels)  # counts all-reduced inside every update_freq-th call
        if rank == 0:
            f1 = acwa.last_metric.tolist() if acwa.last_metric is not None else None
            print(f"epoch {epoch}: loss {float(loss.detach()):.4f} window F1 {f1}", file=sys.stderr, flush=True)

    weights = ",".join(repr(float(w)) for w in acwa.weights.cpu())
    # one write() of the whole line: the ranks share stdout, and print() may write the text and
    # the newline separately, so two ranks' lines could interleave
    sys.stdout.write(f"rank {rank} final weights: {weights}\n")
    sys.stdout.flush()
    if distributed:
        # every rank reaches this point before the process group is torn down: a rank that
        # destroys it while another still runs gloo work can abort ("terminate called without
        # an active exception")
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
