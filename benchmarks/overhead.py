"""Per-step overhead of ACWA against the plain step, measured in one run.

For C in {10, 100, 1000}: an MLP step (forward, loss, backward, SGD step) with
  plain      the plain loss: F.cross_entropy (multiclass), F.binary_cross_entropy_with_logits
             (binary one-logit, multi-label with L = C labels)
  acwa       ACWATrainer.get_weighted_loss + update_metrics (an update every 50 steps)
  published  (multiclass only) the published acwa-trainer 1.0.0 algorithm, re-implemented
             faithfully: a Python loop over classes to weight the loss, torchmetrics
             F1Score(average='none') updated every step, and a Python loop over classes for the
             weight update.
All variants train one shared model (so no variant gains from where its weights lie in memory:
two separately built plain models differed by 2.5%) and run interleaved: each round runs a
timed block of ``--steps`` steps of every variant, in a shuffled order, so machine noise hits
all of them alike. Printed: the median per-step time of plain and ACWA, their ratio, the ratio
of trimmed means (20% cut at each end), and ``A/A``: a second plain variant over the first, the
noise floor of the run (1.000 on a quiet machine).

    python benchmarks/overhead.py [--steps 25] [--repeats 40] [--threads 1] [--device cpu]
    python benchmarks/overhead.py --tasks multiclass,binary,multilabel
    python benchmarks/overhead.py --compile      # torch.compile'd ACWA step / compiled plain step
    python benchmarks/overhead.py --profile --threads 1    # where the extra time goes
On CUDA it also checks that the ACWA step makes no host sync (torch.cuda.set_sync_debug_mode).
With --compile the forward + loss and ACWA's per-batch accumulation are compiled
(``validate_inputs=False``, ``fullgraph=True``); backward, the optimizer and the periodic
weight update run eagerly in both variants.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from acwa import ACWATrainer


class PublishedACWA:
    """The loop structure of acwa-trainer 1.0.0's ACWATrainer (re-implemented for timing)."""

    def __init__(self, num_classes, device, alpha=0.02, beta=0.9, target=0.85):
        from torchmetrics import F1Score

        self.num_classes, self.alpha, self.beta, self.target = num_classes, alpha, beta, target
        self.metric = F1Score(task="multiclass", num_classes=num_classes, average="none").to(device)
        self.weights = torch.ones(num_classes, device=device)
        self.seen = torch.zeros(num_classes, device=device)

    def get_weighted_loss(self, outputs, labels):
        loss = F.cross_entropy(outputs, labels, reduction="none")
        weighted = torch.zeros_like(loss)
        for c in range(self.num_classes):
            mask = labels == c
            weighted[mask] = loss[mask] * self.weights[c]
        return weighted.mean()

    def update_metrics(self, outputs, labels):
        self.metric.update(outputs, labels)
        self.seen += torch.bincount(labels, minlength=self.num_classes)

    def update_weights(self):
        f1 = self.metric.compute()
        self.metric.reset()
        for c in range(self.num_classes):
            if self.seen[c] > 0:
                new = self.weights[c] + self.alpha * (self.target - f1[c])
                self.weights[c] = torch.clamp(self.beta * self.weights[c] + (1 - self.beta) * new, 0.5, 2.0)
        self.seen.zero_()


def plain_loss(task: str):
    if task == "multiclass":
        return F.cross_entropy
    return lambda out, y: F.binary_cross_entropy_with_logits(out, y.to(out.dtype))


def make_step(kind, task, model, opt, num_classes, device, compile_steps=False, update_every=50):
    head = (lambda out: out.squeeze(1)) if task == "binary" else (lambda out: out)
    if kind == "plain":
        loss_of = plain_loss(task)

        def forward_loss(x, y):
            return loss_of(head(model(x)), y)

        forward_loss = torch.compile(forward_loss, fullgraph=True) if compile_steps else forward_loss

        def step(x, y):
            loss = forward_loss(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step
    if kind == "acwa":
        options = {} if task == "multiclass" else {"task": task}
        trainer = ACWATrainer(
            num_classes=None if task == "binary" else num_classes,
            update_freq=update_every,
            model=model,
            validate_inputs=False if compile_steps else None,
            **options,
        )

        def forward_loss_acwa(x, y):
            out = head(model(x))
            return out, trainer.get_weighted_loss(out, y)

        accumulate = None
        if compile_steps:
            forward_loss_acwa = torch.compile(forward_loss_acwa, fullgraph=True)
            accumulate = torch.compile(trainer.accumulate, fullgraph=True)

        def step(x, y):
            out, loss = forward_loss_acwa(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if accumulate is not None:
                accumulate(out.detach(), y)  # + end_batch() = trainer.update_metrics(out, y)
                trainer.end_batch()
            else:
                trainer.update_metrics(out, y)

        return step
    published = PublishedACWA(num_classes, device)
    calls = [0]

    def published_step(x, y):
        out = model(x)
        loss = published.get_weighted_loss(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        published.update_metrics(out, y)
        calls[0] += 1
        if calls[0] % update_every == 0:
            published.update_weights()

    return published_step


def make_labels(task: str, num_classes: int, n: int, g: torch.Generator) -> Tensor:
    """Long-tailed labels so that some classes (labels) are rare in a batch."""
    rank = torch.arange(1, num_classes + 1, dtype=torch.float)
    if task == "multiclass":
        return torch.multinomial(rank.pow(-1.0), n, replacement=True, generator=g)
    if task == "binary":
        return (torch.rand(n, generator=g) < 0.1).long()
    return (torch.rand(n, num_classes, generator=g) < 0.3 / rank.sqrt()).long()


def bench(task, num_classes, args, kinds):
    """Step times of each variant: one model and optimizer shared by all (no memory-placement
    bias between variants); every round runs a block of ``--steps`` steps of each variant, in a
    shuffled order (a block keeps a variant's code warm, as in training). Returns the median
    block time per step of each variant, the ratio of trimmed means (20% cut at each end) to
    plain, and the A/A ratio of a second plain variant (the noise floor)."""
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(16, args.batch, args.features, generator=g).to(device)
    ys = make_labels(task, num_classes, 16 * args.batch, g)
    ys = ys.view((16, args.batch) + tuple(ys.shape[1:])).to(device)
    outputs = 1 if task == "binary" else num_classes
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(args.features, args.hidden), nn.ReLU(), nn.Linear(args.hidden, outputs))
    opt = torch.optim.SGD(model.to(device).parameters(), lr=0.01)
    steps = {kind: make_step(kind, task, model, opt, num_classes, device, args.compile) for kind in kinds}
    steps[AGAIN] = make_step("plain", task, model, opt, num_classes, device, args.compile)
    times: dict[str, list[float]] = {k: [] for k in steps}

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for k in steps:  # warm-up (and compilation)
        for i in range(20):
            steps[k](xs[i % 16], ys[i % 16])
    rng = random.Random(0)
    for _ in range(args.repeats):
        order = list(steps)
        rng.shuffle(order)
        for k in order:
            n = args.steps if k != "published" else max(5, args.steps // 5)  # the slow baseline
            sync()
            t0 = time.perf_counter()
            for i in range(n):
                steps[k](xs[i % 16], ys[i % 16])
            sync()
            times[k].append((time.perf_counter() - t0) / n)
    trimmed = {k: _trimmed_mean(v) for k, v in times.items()}
    medians = {k: statistics.median(v) for k, v in times.items()}
    return medians, trimmed["acwa"] / trimmed["plain"], medians[AGAIN] / medians["plain"]


AGAIN = "plain, again"  # the A/A control: a second plain variant


def _trimmed_mean(values: list[float], cut: float = 0.2) -> float:
    ordered = sorted(values)
    k = int(len(ordered) * cut)
    return statistics.fmean(ordered[k : len(ordered) - k])


def check_no_sync(args):
    torch.cuda.set_sync_debug_mode("error")
    try:
        device = torch.device("cuda")
        model = nn.Linear(args.features, 100).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        trainer = ACWATrainer(num_classes=100, update_freq=5, model=model)
        x = torch.randn(args.batch, args.features, device=device)
        y = torch.randint(0, 100, (args.batch,), device=device)
        trainer.get_weighted_loss(model(x), y)  # first call validates values (one sync allowed)
        torch.cuda.set_sync_debug_mode("error")
        for _ in range(12):
            out = model(x)
            loss = trainer.get_weighted_loss(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            trainer.update_metrics(out, y)
        print("cuda: 12 ACWA steps (2 weight updates) ran with sync_debug_mode='error': no host sync")
    finally:
        torch.cuda.set_sync_debug_mode(0)


def profile(args) -> None:
    """Where an ACWA step's extra time goes, per C: each piece timed alone (fastest of 15 blocks,
    robust to other processes), next to the plain step it is compared with."""

    def fastest(fn, n=50):
        for _ in range(5):
            fn()
        best = float("inf")
        for _ in range(15):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best = min(best, (time.perf_counter() - t0) / n)
        return best * 1e6

    print(f"{'C':>6} " + " ".join(f"{name:>15}" for name in PROFILE_PARTS) + "   (microseconds)")
    for c in [int(v) for v in args.classes.split(",")]:
        times = _profile_parts(c, args.batch, fastest)
        print(f"{c:>6} " + " ".join(f"{times[name]:15.1f}" for name in PROFILE_PARTS), flush=True)


def _profile_parts(c: int, batch: int, fastest) -> dict:
    from acwa.tasks import MulticlassTask
    from acwa.tasks._counting import argmax_classes

    g = torch.Generator().manual_seed(0)
    z = torch.randn(batch, c, generator=g, requires_grad=True)
    y = torch.randint(0, c, (batch,), generator=g)
    zd, w = z.detach(), torch.ones(c) / batch
    trainer = ACWATrainer(num_classes=c, update_freq=None)
    task = MulticlassTask(num_classes=c)
    stats = trainer.window.stats
    parts = {
        "plain CE f+b": lambda: F.cross_entropy(z, y).backward(),
        "weighted CE f+b": lambda: F.cross_entropy(z, y, weight=w, reduction="sum").backward(),
        "value check": lambda: task.check(zd, y, True),
        "argmax (torch)": lambda: zd.argmax(1),
        "argmax (acwa)": lambda: argmax_classes(zd),
        "count": lambda: stats.update(zd, y),
        "update_metrics": lambda: trainer.update_metrics(zd, y),
    }
    return {name: fastest(fn) for name, fn in parts.items()}


PROFILE_PARTS = (
    "plain CE f+b",
    "weighted CE f+b",
    "value check",
    "argmax (torch)",
    "argmax (acwa)",
    "count",
    "update_metrics",
)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classes", default="10,100,1000")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--features", type=int, default=256)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--steps", type=int, default=25, help="steps per timed block")
    p.add_argument("--repeats", type=int, default=40, help="rounds (one block per variant each)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-published", action="store_true", help="skip the published-algorithm baseline")
    p.add_argument("--profile", action="store_true", help="time the pieces of an ACWA step instead")
    p.add_argument("--tasks", default="multiclass", help="comma-separated: multiclass, binary, multilabel")
    p.add_argument("--compile", action="store_true", help="torch.compile both steps (fullgraph, checks off)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.profile:
        profile(args)
        return
    tasks = args.tasks.split(",")
    unknown = sorted(set(tasks) - {"multiclass", "binary", "multilabel"})
    if unknown:
        raise SystemExit(f"--tasks takes multiclass, binary, multilabel; got {unknown}")
    print(
        f"device={args.device} threads={torch.get_num_threads()} batch={args.batch} "
        f"mlp={args.features}-{args.hidden}-C steps={args.steps} repeats={args.repeats} compile={args.compile}"
    )
    for task in tasks:
        kinds = ["plain", "acwa"]
        if task == "multiclass" and not args.no_published and not args.compile:
            try:
                import torchmetrics  # noqa: F401

                kinds.append("published")
            except ImportError:
                print("torchmetrics not installed: skipping the published-algorithm baseline")
        label = {"multiclass": "C", "binary": "-", "multilabel": "L"}[task]
        print(
            f"{'task':>10} {label:>6} {'plain ms':>9} {'acwa ms':>9} {'acwa/plain':>11} {'trimmed':>8} {'A/A':>6}"
            + (f" {'published/plain':>16}" if "published" in kinds else "")
        )
        sizes = [2] if task == "binary" else [int(v) for v in args.classes.split(",")]
        for c in sizes:
            if args.compile:
                torch._dynamo.reset()
            t, trimmed, control = bench(task, c, args, kinds)
            line = (
                f"{task:>10} {c if task != 'binary' else 1:>6} {t['plain'] * 1e3:9.3f} {t['acwa'] * 1e3:9.3f}"
                f" {t['acwa'] / t['plain']:11.3f} {trimmed:8.3f} {control:6.3f}"
            )
            if "published" in t:
                line += f" {t['published'] / t['plain']:16.2f}"
            print(line, flush=True)
    if args.device.startswith("cuda"):
        check_no_sync(args)


if __name__ == "__main__":
    main()
