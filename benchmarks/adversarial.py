"""An adversarial pass over the public API: scripted bad (and valid edge-case) inputs.

Every case says what a user should get: ``"error"`` (a ``ValueError`` with a message) or
``"ok"`` (the call works and returns finite values). Each outcome is classified:

- clean error: a ``ValueError`` where one was expected;
- silent-wrong: no error where one was expected, or a non-finite result where "ok";
- crash: any other exception type (IndexError, RuntimeError, TypeError, KeyError, ...);
- rejected-valid: an exception for a valid input;
- hang: the case ran past its time limit.

    python benchmarks/adversarial.py            # prints the counts and every non-clean case
    python benchmarks/adversarial.py --verbose  # also the message of every clean error
"""

from __future__ import annotations

import argparse
import math
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import acwa
from acwa import ACWATrainer, losses, posthoc, sampling, weights

CASES: list[tuple[str, str, Callable[[], Any]]] = []


def case(name: str, expect: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    def register(fn: Callable[[], Any]) -> Callable[[], Any]:
        CASES.append((name, expect, fn))
        return fn

    return register


def bad(name: str, fn: Callable[[], Any]) -> None:
    CASES.append((name, "error", fn))


def good(name: str, fn: Callable[[], Any]) -> None:
    CASES.append((name, "ok", fn))


g = torch.Generator().manual_seed(0)
Z = torch.randn(8, 3, generator=g)
Y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def trainer_step(**kwargs: Any) -> Any:
    t = ACWATrainer(**kwargs)
    loss = t.get_weighted_loss(Z, Y)
    t.update_metrics(Z, Y)
    t.step()
    return loss, t.weights


# ---------------------------------------------------------------- ACWATrainer: arguments
for name, kwargs in {
    "num_classes=1": dict(num_classes=1),
    "num_classes=True": dict(num_classes=True),
    "num_classes='3'": dict(num_classes="3"),
    "alpha=nan": dict(num_classes=3, alpha=float("nan")),
    "alpha=inf": dict(num_classes=3, alpha=float("inf")),
    "alpha=-1": dict(num_classes=3, alpha=-1.0),
    "beta=1": dict(num_classes=3, beta=1.0),
    "beta=nan": dict(num_classes=3, beta=float("nan")),
    "update_freq=-1": dict(num_classes=3, update_freq=-1),
    "update_freq=1.5": dict(num_classes=3, update_freq=1.5),
    "weight_bounds=(2, 1)": dict(num_classes=3, weight_bounds=(2.0, 1.0)),
    "weight_bounds=(nan, 1)": dict(num_classes=3, weight_bounds=(float("nan"), 1.0)),
    "weight_bounds=(0, inf)": dict(num_classes=3, weight_bounds=(0.0, float("inf"))),
    "weight_bounds=1": dict(num_classes=3, weight_bounds=1.0),
    "target_metric=nan": dict(num_classes=3, target_metric=float("nan")),
    "target_metric wrong length": dict(num_classes=3, target_metric=[0.5, 0.5]),
    "metric_fn='auc'": dict(num_classes=3, metric_fn="auc"),
    "metric_mode='up'": dict(num_classes=3, metric_mode="up"),
    "loss_fn=3": dict(num_classes=3, loss_fn=3),
    "class_frequencies wrong length": dict(num_classes=3, class_frequencies=[1, 2]),
    "class_frequencies negative": dict(num_classes=3, class_frequencies=[1, -2, 3]),
    "class_frequencies nan": dict(num_classes=3, class_frequencies=[1, float("nan"), 3]),
    "mode='fast'": dict(num_classes=3, mode="fast"),
    "mode='la-adaptive' without counts": dict(num_classes=3, mode="la-adaptive"),
    "adjust='bias'": dict(num_classes=3, adjust="bias"),
    "offset_radius=-1": dict(num_classes=3, adjust="logits", offset_radius=-1.0),
    "logit_tau=nan": dict(num_classes=3, adjust="logits", class_frequencies=[1, 2, 3], logit_tau=float("nan")),
}.items():
    bad(f"ACWATrainer({name})", lambda kw=kwargs: trainer_step(**kw))

good("ACWATrainer(num_classes=np.int64(3))", lambda: trainer_step(num_classes=np.int64(3)))
good("ACWATrainer(weight_bounds=(1.5, 2)) weights start in bounds", lambda: _in_bounds((1.5, 2.0)))
good("ACWATrainer(alpha=0)", lambda: trainer_step(num_classes=3, alpha=0.0))
good(
    "ACWATrainer lower bound 0 + normalize_weights",
    lambda: trainer_step(num_classes=3, weight_bounds=(0.0, 2.0), normalize_weights=True, alpha=50.0),
)


def _in_bounds(bounds: tuple[float, float]) -> Any:
    t = ACWATrainer(num_classes=3, weight_bounds=bounds)
    if not bool(((t.weights >= bounds[0]) & (t.weights <= bounds[1])).all()):
        return torch.tensor(float("nan"))  # outside the bounds: counted as silent-wrong
    return t.weights


# ---------------------------------------------------------------- ACWATrainer: batches
def loss_of(z: Any, y: Any, **kwargs: Any) -> Any:
    return ACWATrainer(num_classes=kwargs.pop("num_classes", 3), **kwargs).get_weighted_loss(z, y)


bad("get_weighted_loss label 3 of C=3", lambda: loss_of(Z, torch.tensor([0, 1, 3, 0, 1, 2, 0, 1])))
bad("get_weighted_loss label -1", lambda: loss_of(Z, torch.tensor([0, 1, -1, 0, 1, 2, 0, 1])))
bad("get_weighted_loss NaN logits", lambda: loss_of(torch.full((8, 3), float("nan")), Y))
bad("get_weighted_loss Inf logits", lambda: loss_of(Z.clone().index_fill_(0, torch.tensor([1]), float("inf")), Y))
bad("get_weighted_loss labels shape [8, 1]", lambda: loss_of(Z, Y.unsqueeze(1)))
bad("get_weighted_loss 4 columns for C=3", lambda: loss_of(torch.randn(8, 4), Y))
bad("get_weighted_loss labels as list", lambda: loss_of(Z, Y.tolist()))
bad("get_weighted_loss logits as numpy", lambda: loss_of(Z.numpy(), Y))
bad("get_weighted_loss soft rows not summing to 1", lambda: loss_of(Z, torch.full((8, 3), 0.5)))
bad("get_weighted_loss multi-hot 2", lambda: loss_of(torch.randn(8, 3), torch.full((8, 3), 2.0), task="multilabel"))
bad("get_weighted_loss task contradicts shapes", lambda: loss_of(torch.randn(8), Y, task="multiclass"))
bad(
    "foreign loss returning a scalar",
    lambda: loss_of(Z, Y, loss_fn=lambda z, y: torch.nn.functional.cross_entropy(z, y)),
)
good("foreign nn.CrossEntropyLoss()", lambda: loss_of(Z, Y, loss_fn=torch.nn.CrossEntropyLoss()))
for dtype in (torch.int32, torch.int16, torch.int8, torch.uint8):
    good(f"get_weighted_loss labels {dtype}", lambda d=dtype: loss_of(Z, Y.to(d)))
good("get_weighted_loss float16 logits", lambda: loss_of(Z.half(), Y))
good("get_weighted_loss empty batch", lambda: loss_of(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)))
good("get_weighted_loss soft targets", lambda: loss_of(Z, torch.softmax(torch.randn(8, 3), 1)))
good("get_weighted_loss binary [N]", lambda: loss_of(torch.randn(8), (Y > 0).float(), num_classes=None, task="binary"))
good("get_weighted_loss binary [N, 1] bool", lambda: loss_of(torch.randn(8, 1), Y > 0, num_classes=None, task="binary"))
good(
    "get_weighted_loss multilabel",
    lambda: loss_of(torch.randn(8, 3), (torch.rand(8, 3) > 0.5).float(), task="multilabel"),
)
good("get_weighted_loss all ignored", lambda: loss_of(Z, torch.full((8,), -100)))


@case("ignore_index=1 excludes class 1 from the loss normalisation", "ok")
def _ignore_inside_range() -> Any:
    t = ACWATrainer(num_classes=3, ignore_index=1)
    got = t.get_weighted_loss(Z, Y)
    keep = Y != 1
    want = torch.nn.functional.cross_entropy(Z[keep], Y[keep])
    return got if torch.allclose(got, want) else torch.tensor(float("nan"))


@case("inf metric_fn values never make weights non-finite", "ok")
def _inf_metric() -> Any:
    def metric_fn(o: Any, y: Any) -> Any:
        return torch.tensor([float("inf"), 0.5, 0.5])

    t = ACWATrainer(num_classes=3, metric_fn=metric_fn, target_metric="mean", update_freq=1)
    t.update_metrics(Z, Y)
    return t.weights


@case("adjust='logits' with an inf metric keeps offsets finite", "ok")
def _inf_metric_offsets() -> Any:
    def metric_fn(o: Any, y: Any) -> Any:
        return torch.tensor([float("inf"), 0.5, 0.5])

    t = ACWATrainer(num_classes=3, metric_fn=metric_fn, adjust="logits", class_frequencies=[5, 3, 1], update_freq=1)
    t.update_metrics(Z, Y)
    return t.logit_offsets


# ---------------------------------------------------------------- state loads
def _loaded(mutate: Callable[[dict], Any]) -> Any:
    t = ACWATrainer(num_classes=3)
    t.update_metrics(Z, Y)
    state = t.state_dict()
    mutate(state)
    fresh = ACWATrainer(num_classes=3)
    before = fresh.state_dict()
    try:
        fresh.load_state_dict(state)
    except ValueError:
        after = fresh.state_dict()
        if not _same(before, after):
            raise RuntimeError("half-loaded after a failed load") from None
        raise
    return fresh.weights


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and bool(torch.equal(a, b))
    return bool(a == b)


def _set_weights(value: Any) -> Callable[[dict], None]:
    def mutate(state: dict) -> None:
        for key in ("controller", "weights"):
            if key in state and isinstance(state[key], dict) and "weights" in state[key]:
                state[key]["weights"] = value
                return
            if key == "weights" and key in state:
                state[key] = value
                return
        state["weights"] = value

    return mutate


bad("load_state_dict NaN weights", lambda: _loaded(_set_weights(torch.tensor([1.0, float("nan"), 1.0]))))
bad("load_state_dict negative weights", lambda: _loaded(_set_weights(torch.tensor([1.0, -1.0, 1.0]))))
bad("load_state_dict wrong-shape weights", lambda: _loaded(_set_weights(torch.ones(4))))
bad("load_state_dict empty dict", lambda: _loaded(lambda s: s.clear()))
bad("load_state_dict truncated (no controller)", lambda: _loaded(lambda s: s.pop("controller")))
bad("load_state_dict not a dict", lambda: ACWATrainer(num_classes=3).load_state_dict([1, 2]))  # type: ignore[arg-type]
good("load_state_dict round trip", lambda: _loaded(lambda s: None))

# ---------------------------------------------------------------- losses
for loss_name in getattr(losses, "LOSS_NAMES", ()):

    def make(loss_name: str = loss_name) -> Any:
        kwargs: dict[str, Any] = {}
        try:
            return losses.make_loss(loss_name, num_classes=3, class_counts=[50, 20, 5], **kwargs)
        except TypeError:
            return losses.make_loss(loss_name)

    def out_of_range(make: Callable[[], Any] = make) -> Any:
        return make()(Z, torch.tensor([0, 1, 5, 0, 1, 2, 0, 1]))

    bad(f"make_loss({loss_name!r}) label out of range", out_of_range)

bad("FocalLoss(gamma=inf)", lambda: acwa.FocalLoss(gamma=float("inf"))(Z, Y))
bad("FocalLoss(gamma=-1)", lambda: acwa.FocalLoss(gamma=-1.0)(Z, Y))
bad("FocalLoss negative weight", lambda: acwa.FocalLoss(weight=[1.0, -1.0, 1.0])(Z, Y))
bad("WeightedCrossEntropyLoss NaN weight", lambda: acwa.WeightedCrossEntropyLoss(weight=[1.0, float("nan"), 1.0])(Z, Y))
bad("VSLoss(tau=1e38)", lambda: acwa.VSLoss([50, 20, 5], tau=1e38)(Z, Y))
bad("LDAMLoss(max_margin=nan)", lambda: acwa.LDAMLoss([50, 20, 5], max_margin=float("nan"))(Z, Y))
bad("LogitAdjustedLoss zero count", lambda: acwa.LogitAdjustedLoss([50, 0, 5])(Z, Y))
bad("FocalLoss on one logit column", lambda: acwa.FocalLoss()(torch.randn(8, 1), (Y > 0).long()))
bad("make_loss('ce') on one logit column", lambda: losses.make_loss("ce")(torch.randn(8, 1), (Y > 0).long()))
bad("make_loss('nope')", lambda: losses.make_loss("nope"))
good("FocalLoss batch without minority", lambda: acwa.FocalLoss(gamma=2.0)(Z, torch.zeros(8, dtype=torch.long)))

# ---------------------------------------------------------------- static weights
bad("inverse_frequency NaN count", lambda: weights.inverse_frequency([1.0, float("nan")]))
bad("inverse_frequency all zero", lambda: weights.inverse_frequency([0, 0, 0]))
bad("inverse_frequency negative", lambda: weights.inverse_frequency([3, -1, 2]))
bad("inverse_frequency(power=nan)", lambda: weights.inverse_frequency([3, 1, 2], power=float("nan")))
bad("effective_number(beta=1)", lambda: weights.effective_number([3, 1, 2], beta=1.0))
bad("class_weights(method='x')", lambda: weights.class_weights([3, 1, 2], method="x"))
bad("class_counts multi-hot", lambda: weights.class_counts(torch.tensor([[1, 0, 1], [0, 1, 1]]), 3))
bad("class_counts float labels", lambda: weights.class_counts(torch.tensor([0.0, 1.0]), 2))
bad("class_counts label out of range", lambda: weights.class_counts([0, 1, 5], 3))
good("inverse_frequency(power=200)", lambda: weights.inverse_frequency([1000, 10, 1], power=200.0))
good("class_counts([], 3)", lambda: weights.class_counts([], 3))
good("class_counts int8", lambda: weights.class_counts(np.array([0, 1, 2, 2], dtype=np.int8), 3))

# ---------------------------------------------------------------- sampling
LAB = np.array([0] * 50 + [1] * 10 + [2] * 2)
good("ClassBalancedSampler(q=-1000) draws the majority (n_c^1001)", lambda: _majority_only())
bad("ClassBalancedSampler(q=nan)", lambda: list(sampling.ClassBalancedSampler(LAB, q=float("nan"))))
bad("ClassBalancedSampler float labels", lambda: sampling.ClassBalancedSampler(LAB.astype(float) + 0.5))
bad("ClassBalancedSampler empty labels", lambda: sampling.ClassBalancedSampler([]))
bad("ClassBalancedSampler(num_samples=0)", lambda: sampling.ClassBalancedSampler(LAB, num_samples=0))
bad(
    "ClassBalancedSampler NaN class_weights",
    lambda: sampling.ClassBalancedSampler(LAB, class_weights=[1, float("nan"), 1]),
)
bad(
    "RandomOverSampler(shrinkage=nan)",
    lambda: sampling.RandomOverSampler(shrinkage=float("nan")).fit_resample(torch.randn(62, 2), torch.from_numpy(LAB)),
)
bad(
    "SMOTE(k_neighbors=0)",
    lambda: sampling.SMOTE(k_neighbors=0).fit_resample(torch.randn(62, 2), torch.from_numpy(LAB)),
)
bad(
    "SMOTE NaN features",
    lambda: sampling.SMOTE(k_neighbors=1).fit_resample(torch.full((62, 2), float("nan")), torch.from_numpy(LAB)),
)
bad(
    "RandomUnderSampler(sampling_strategy='most')",
    lambda: sampling.RandomUnderSampler(sampling_strategy="most").fit_resample(
        torch.randn(62, 2), torch.from_numpy(LAB)
    ),
)
good(
    "ClassBalancedSampler labels [0, 3000000]",
    lambda: torch.tensor(list(sampling.ClassBalancedSampler(np.array([0, 3_000_000]), q=1.0))).float(),
)
good(
    "ClassBalancedSampler 1M classes, one epoch",
    lambda: torch.tensor(len(list(sampling.ClassBalancedSampler(np.arange(1_000_000), q=1.0, num_samples=10)))).float(),
)

# ---------------------------------------------------------------- posthoc and AutoBalance
bad("fit_class_bias(max_iter=0)", lambda: posthoc.fit_class_bias(Z, Y, max_iter=0))
bad("fit_class_bias(l2=-1)", lambda: posthoc.fit_class_bias(Z, Y, l2=-1.0))
bad("fit_class_bias float labels", lambda: posthoc.fit_class_bias(Z, Y.float()))
bad("fit_class_bias NaN logits", lambda: posthoc.fit_class_bias(torch.full((8, 3), float("nan")), Y))
bad("cross_fitted_logits folds with different C", lambda: _ragged_folds())


def _majority_only() -> Any:
    drawn = LAB[list(sampling.ClassBalancedSampler(LAB, q=-1000.0))]
    return torch.tensor(0.0) if bool((drawn == 0).all()) else torch.tensor(float("nan"))


def _ragged_folds() -> Any:
    widths = iter([3, 4, 3, 4])
    return posthoc.cross_fitted_logits(lambda tr, te: torch.randn(len(te), next(widths)), torch.arange(20) % 2, 2)


good("fit_class_bias", lambda: posthoc.fit_class_bias(Z, Y))


def _autobalance(X: Any, y: Any, **kwargs: Any) -> Any:
    from acwa import autobalance

    model = torch.nn.Linear(X.shape[1], 3)
    result = autobalance.fit(model, X, y, num_classes=3, epochs=2, **kwargs)
    return torch.cat([p.detach().flatten() for p in model.parameters()]), result


XA = torch.randn(90, 4, generator=g)
YA = torch.tensor([0] * 60 + [1] * 20 + [2] * 10)
bad(
    "autobalance.fit NaN in X_train",
    lambda: _autobalance(XA.clone().index_fill_(0, torch.tensor([3]), float("nan")), YA),
)
bad("autobalance.fit float labels", lambda: _autobalance(XA, YA.float() + 0.3))
bad("autobalance.fit epochs=0", lambda: _ab_epochs0())
good("autobalance.fit", lambda: _autobalance(XA, YA)[0])


def _ab_epochs0() -> Any:
    from acwa import autobalance

    return autobalance.fit(torch.nn.Linear(4, 3), XA, YA, num_classes=3, epochs=0)


# ---------------------------------------------------------------- CLI (one subprocess per case)
def cli(*args: str, npz: dict | None = None, text: str | None = None) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        argv = [a.replace("{tmp}", tmp) for a in args]
        if npz is not None:
            np.savez(Path(tmp) / "d.npz", **npz)
        if text is not None:
            (Path(tmp) / "d.csv").write_text(text)
        (Path(tmp) / "afile").write_text("x")
        proc = subprocess.run([sys.executable, "-m", "acwa.cli", *argv], capture_output=True, text=True, timeout=120)
    err = proc.stderr.strip()
    if "Traceback" in err:
        raise RuntimeError(f"traceback (rc {proc.returncode}): {err.splitlines()[-1]}")
    if proc.returncode == 0:
        return torch.tensor(0.0)
    if proc.returncode == 2 and err:
        raise ValueError(err.splitlines()[-1])
    raise RuntimeError(f"rc {proc.returncode}: {err[-200:]}")


QUICK = ("--seeds", "1", "--epochs", "1", "--methods", "ce", "--no-progress", "--max-train", "200")
bad("cli --lr nan", lambda: cli("bench", *QUICK, "--lr", "nan", "--out", "{tmp}/o"))
bad("cli --lr -1", lambda: cli("bench", *QUICK, "--lr", "-1", "--out", "{tmp}/o"))
bad("cli --seeds 0", lambda: cli("bench", *QUICK[2:], "--seeds", "0", "--out", "{tmp}/o"))
bad("cli --epochs inf", lambda: cli("bench", "--seeds", "1", "--epochs", "inf", "--methods", "ce", "--out", "{tmp}/o"))
bad("cli --out is a file", lambda: cli("bench", *QUICK, "--out", "{tmp}/afile"))
bad("cli --out under a file", lambda: cli("bench", *QUICK, "--out", "{tmp}/afile/sub"))
bad("cli --methods nope", lambda: cli("bench", *QUICK[:4], "--methods", "nope", "--out", "{tmp}/o"))
bad("cli --data missing file", lambda: cli("bench", *QUICK, "--data", "{tmp}/missing.npz", "--out", "{tmp}/o"))
bad(
    "cli --data npz raw bytes member",
    lambda: cli(
        "bench",
        *QUICK,
        "--data",
        "{tmp}/d.npz",
        "--out",
        "{tmp}/o",
        npz={"X": np.frombuffer(b"abcd", dtype=np.uint8), "y": np.array(1)},
    ),
)
bad(
    "cli --data npz 0-d arrays",
    lambda: cli(
        "bench", *QUICK, "--data", "{tmp}/d.npz", "--out", "{tmp}/o", npz={"X": np.array(1.0), "y": np.array(1)}
    ),
)
bad(
    "cli --data npz y length mismatch",
    lambda: cli(
        "bench", *QUICK, "--data", "{tmp}/d.npz", "--out", "{tmp}/o", npz={"X": np.zeros((10, 2)), "y": np.zeros(9)}
    ),
)
bad(
    "cli --data csv without --target",
    lambda: cli("bench", *QUICK, "--data", "{tmp}/d.csv", "--out", "{tmp}/o", text="a,b\n1,2\n"),
)
bad(
    "cli --data csv unknown --target",
    lambda: cli("bench", *QUICK, "--data", "{tmp}/d.csv", "--target", "z", "--out", "{tmp}/o", text="a,b\n1,2\n"),
)
bad("cli unknown subcommand", lambda: cli("benchh"))
good("cli bench quick", lambda: cli("bench", *QUICK, "--out", "{tmp}/o"))


# ---------------------------------------------------------------- the pass
class Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout


def _finite(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.numel() == 0 or bool(torch.isfinite(value.detach().float()).all())
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return bool(np.isfinite(value).all())
    if isinstance(value, (tuple, list)):
        return all(_finite(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def run_case(expect: str, fn: Callable[[], Any], limit_s: int) -> tuple[str, str]:
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit_s)
    try:
        value = fn()
    except Timeout:
        return "hang", f"over {limit_s} s"
    except ValueError as err:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
        if expect == "error":
            return ("clean error" if msg else "crash"), msg or "ValueError without a message"
        return "rejected-valid", f"ValueError: {msg}"
    except Exception as err:  # noqa: BLE001 - every other exception is the finding
        return ("crash" if expect == "error" else "rejected-valid"), f"{type(err).__name__}: {str(err)[:160]}"
    finally:
        signal.alarm(0)
    if expect == "error":
        return "silent-wrong", "no error"
    return ("ok" if _finite(value) else "silent-wrong"), ("" if _finite(value) else "non-finite result")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print every clean error's message too")
    parser.add_argument("--limit", type=int, default=60, help="seconds per case before it counts as a hang")
    parser.add_argument("--only", default="", help="run the cases whose name contains this text")
    args = parser.parse_args()
    torch.manual_seed(0)
    tally: Counter[str] = Counter()
    for name, expect, fn in CASES:
        if args.only and args.only not in name:
            continue
        outcome, detail = run_case(expect, fn, args.limit)
        tally[outcome] += 1
        if outcome not in ("ok", "clean error") or args.verbose:
            print(f"{outcome:14s} {name}: {detail}")
    total = sum(tally.values())
    print(
        f"\n{total} cases: {tally['ok']} ok, {tally['clean error']} clean errors, "
        f"{tally['silent-wrong']} silent-wrong, {tally['crash']} crashes, "
        f"{tally['rejected-valid']} rejected valid, {tally['hang']} hangs"
    )


if __name__ == "__main__":
    main()
