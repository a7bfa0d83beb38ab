"""``acwa`` command line.

    acwa bench                                   # digits-lt (embedded), the default methods, 3 seeds
    acwa bench --dataset ecg5000 --methods ce,la,acwa --seeds 5 --rank-by macro_f1
    acwa bench --data my.npz                     # X_train, y_train, X_test, y_test (or X, y)
    acwa bench --data my.csv --target label --drop id --impute median --test-fraction 0.25
    acwa bench --list-methods | --list-datasets
    acwa report reports/digits-lt-.../results.json [--out DIR]   # re-render a report
    acwa weights --data my.csv --target label --method effective_number

Every user error exits with status 2 and one line ``acwa <command>: error: ...`` that names the
option and the fix, never a traceback. Ctrl-C during ``acwa bench`` prints one line, keeps the
finished runs (the report is marked partial) and exits with status 130; SIGTERM does the same
and exits with 143.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]

EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 130, 143
WEIGHT_METHODS = {
    "inverse": "inverse",
    "sqrt": "sqrt_inverse",
    "effective_number": "effective_number",
    "median": "median_frequency",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {text!r}") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"{name} must be >= 1, got {v}")
        return v

    return parse


def _number(name: str, low: float, high: float = math.inf, low_open: bool = False, high_open: bool = True):
    """A finite float in [low, high] (open ends as flagged), checked when parsing."""
    if high == math.inf:
        span = f"{'>' if low_open else '>='} {low:g}"
    else:
        span = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number {span}, got {text!r}") from None
        bad_low = v <= low if low_open else v < low
        bad_high = v >= high if high_open else v > high
        if not math.isfinite(v) or bad_low or bad_high:
            raise argparse.ArgumentTypeError(f"{name} must be a finite number {span}, got {text}")
        return v

    return parse


def _methods_epilog() -> str:
    from acwa.bench import METHODS, list_methods
    from acwa.data import DATASETS

    lines = ["methods (--methods a,b,c, default or all; * = opt-in, not in default):"]
    for n in list_methods():
        mark = " " if METHODS[n].in_default else "*"
        lines.append(f" {mark}{n:<18} {METHODS[n].family:<9} {METHODS[n].description}")
    lines += ["", "datasets (--dataset; --list-datasets says which are installed):"]
    lines += [f"  {name:<18} {spec.modality:<9} {spec.description}" for name, spec in DATASETS.items()]
    return "\n".join(lines)


def _bench_parser(sub: Any) -> None:
    from acwa.bench.scoring import BENCH_METRICS, DEFAULT_RANK_BY
    from acwa.data.user import IMPUTE_CHOICES

    b = sub.add_parser(
        "bench",
        help="compare every method on a dataset, write results.json and an HTML/markdown report",
        description="Train every selected method with one shared recipe (model, optimizer, epochs, seeds) on a "
        "dataset and report test balanced accuracy, macro-F1, accuracy, per-class F1/recall, many/medium/few-shot "
        "accuracy and, for two classes, AP/ROC-AUC/minority recall (mean ± std over seeds).",
        epilog=_methods_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = b.add_argument_group("data")
    src.add_argument("--dataset", default="digits-lt", help="built-in dataset (default: digits-lt, embedded)")
    src.add_argument(
        "--data", metavar="FILE", help="your data: FILE.npz (X_train,y_train,X_test,y_test or X,y) or .csv"
    )
    src.add_argument("--target", metavar="COL", help="label column of a --data FILE.csv")
    src.add_argument("--drop", metavar="COL[,COL]", help="columns of a --data FILE.csv to leave out (e.g. an id)")
    src.add_argument(
        "--impute",
        choices=IMPUTE_CHOICES,
        default="none",
        help="fill missing cells ('', NA, N/A, NaN, null, ?) of a .csv with training-split statistics "
        "(default none: an error naming the columns)",
    )
    src.add_argument(
        "--test-fraction",
        type=_number("--test-fraction", 0.0, 1.0, low_open=True),
        help="share of a --data file held out for testing when it has no split (default 0.3)",
    )
    src.add_argument("--rho", type=_number("--rho", 1.0), help="imbalance ratio of the long-tailed training split")
    src.add_argument("--data-seed", type=int, default=0, help="seed of the train/test split (default 0)")
    src.add_argument("--max-train", type=_positive_int("--max-train"), help="keep a stratified training subset")
    src.add_argument("--max-test", type=_positive_int("--max-test"), help="keep a stratified test subset")
    run = b.add_argument_group("run")
    run.add_argument(
        "--methods", default="default", help="comma-separated names; default: all but the opt-in ones; all: every one"
    )
    run.add_argument("--seeds", type=_positive_int("--seeds"), default=3, help="number of seeds (default 3)")
    run.add_argument("--epochs", type=_positive_int("--epochs"), help="epochs (default: per dataset)")
    run.add_argument("--batch-size", type=_positive_int("--batch-size"), help="batch size (default: per dataset)")
    run.add_argument("--lr", type=_number("--lr", 0.0, low_open=True), help="learning rate (default: per dataset)")
    run.add_argument("--threads", type=_positive_int("--threads"), help="torch CPU threads per process (default 1)")
    run.add_argument("--jobs", type=_positive_int("--jobs"), default=1, help="worker processes (same results)")
    run.add_argument(
        "--rank-by",
        choices=list(BENCH_METRICS),
        default=None,
        metavar="METRIC",
        help=f"metric that ranks the methods (default {DEFAULT_RANK_BY}; mean_average_precision on multi-label "
        f"data): {', '.join(BENCH_METRICS)}",
    )
    run.add_argument(
        "--costs",
        metavar="K",
        help="misclassification costs K[true, pred]: c_fp,c_fn (two classes) or a .json/.csv [C, C] matrix; "
        "adds each method's expected cost of the Bayes decision (--rank-by expected_cost ranks by it)",
    )
    run.add_argument(
        "--no-reference", action="store_true", help="no scikit-learn reference rows (tabular/embedding data)"
    )
    run.add_argument(
        "--auto-folds",
        type=_positive_int("--auto-folds"),
        metavar="K",
        help="acwa-auto: cross-fitting folds (>= 2; default 5); it costs K x candidates + 1 trainings",
    )
    run.add_argument(
        "--auto-candidates",
        metavar="A,B",
        help="acwa-auto: the methods it chooses among (default: weighted-ce,balanced-sampler,la,cb-focal; "
        "see acwa.auto.PORTFOLIO)",
    )
    run.add_argument(
        "--auto-fast-backbone",
        metavar="NAME",
        help="acwa-auto-fast: the recipe of its one training (default weighted-ce; ce, balanced-sampler, la, cb-focal)",
    )
    out = b.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", help="output folder (default reports/<dataset>-<timestamp>/)")
    out.add_argument("--overwrite", action="store_true", help="reuse a non-empty --out folder (old report removed)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar: one line per finished run")
    out.add_argument("--list-methods", action="store_true", help="list the registered methods and exit")
    out.add_argument("--list-datasets", action="store_true", help="list the built-in datasets and exit")


def build_parser() -> argparse.ArgumentParser:
    from acwa import __version__

    parser = _Parser(prog="acwa", description="acwa: classifiers on imbalanced data. Commands: bench, report, weights.")
    parser.add_argument("--version", action="version", version=f"acwa {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _bench_parser(sub)
    r = sub.add_parser("report", help="re-render report.md/report.html/PNGs from a results.json")
    r.add_argument("results", metavar="RESULTS.json", help="a results.json written by acwa bench")
    r.add_argument("--out", metavar="DIR", help="output folder (default: the folder of RESULTS.json)")
    w = sub.add_parser("weights", help="class counts and static class weights of a data file's labels")
    w.add_argument("--data", metavar="FILE", required=True, help="FILE.csv (with --target) or FILE.npz (y_train or y)")
    w.add_argument("--target", metavar="COL", help="label column of a .csv")
    w.add_argument("--method", choices=list(WEIGHT_METHODS), default="inverse", help="weighting (default inverse)")
    w.add_argument(
        "--beta", type=_number("--beta", 0.0, 1.0, low_open=True), help="effective_number beta (default 0.9999)"
    )
    return parser


def _list_methods() -> str:
    from acwa.bench import METHODS, list_methods

    return "\n".join(
        f"{n:<18} {METHODS[n].family:<9} {'' if METHODS[n].in_default else '(opt-in) '}{METHODS[n].description}"
        for n in list_methods()
    )


def _list_datasets() -> str:
    from acwa.data import DATASETS

    lines = []
    for name, spec in DATASETS.items():
        status = "available" if spec.available() else f"missing: {spec.install_hint}"
        lines.append(f"{name:<18} {spec.modality:<9} {spec.description}  [{status}]")
    return "\n".join(lines)


def _err(command: str, exc: BaseException) -> int:
    msg = " ".join(str(exc).split())
    print(f"acwa {command}: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _print_results(results: dict[str, Any], html: str) -> None:
    from acwa.bench.report import summary_table, takeaway

    cfg = results["config"]
    print(takeaway(results))
    print(
        f"{results['dataset']}: {cfg['num_classes']} classes, train counts {cfg['train_counts']}, "
        f"test {sum(cfg['test_counts'])}; {len(results['runs'])} run(s), {cfg['recipe']['epochs']} epochs, "
        f"{cfg['total_seconds']:.1f} s wall, {cfg['cpu_seconds']:.1f} s CPU"
    )
    if results["summary"]:
        print(summary_table(results))
    for s in results["skipped"]:
        print(f"skipped {s['method']}: {s['reason']}")
    for f in results["failures"]:
        print(f"FAILED {f['method']} seed {f['seed']}: {f['error']}", file=sys.stderr)
    print(f"report: {html}  (also report.md, results.json, runs.jsonl)")


def _bench(args: argparse.Namespace, argv: list[str]) -> int:
    from acwa.bench import BenchInterrupted, resolve_methods, run_bench
    from acwa.bench.auto import auto_options_from_flags
    from acwa.bench.calibration import parse_costs
    from acwa.data import DataError, list_datasets

    if args.list_methods:
        print(_list_methods())
        return 0
    if args.list_datasets:
        print(_list_datasets())
        return 0

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    terminated: list[int] = []

    def on_term(signum: int, frame: Any) -> None:  # SIGTERM: keep the finished runs, like Ctrl-C
        terminated.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        method_options = auto_options_from_flags(  # fail fast, before loading data
            resolve_methods(args.methods), args.auto_folds, args.auto_candidates, args.auto_fast_backbone
        )
        costs = None if args.costs is None else parse_costs(args.costs)
        if args.data is None and args.dataset not in list_datasets():
            raise DataError(f"unknown dataset {args.dataset!r}; valid names: {', '.join(list_datasets())}")
        results = run_bench(
            args.dataset,
            data=args.data,
            target=args.target,
            methods=args.methods,
            seeds=args.seeds,
            epochs=args.epochs,
            rho=args.rho,
            out=args.out,
            threads=args.threads,
            data_seed=args.data_seed,
            batch_size=args.batch_size,
            lr=args.lr,
            progress=not args.no_progress,
            max_train=args.max_train,
            max_test=args.max_test,
            jobs=args.jobs,
            log=log,
            rank_by=args.rank_by,
            reference=not args.no_reference,
            test_fraction=args.test_fraction,
            drop=[c for c in args.drop.split(",")] if args.drop else None,
            impute=args.impute,
            overwrite=args.overwrite,
            command="acwa " + " ".join(shlex.quote(a) for a in argv),
            method_options=method_options,
            costs=costs,
        )
    except BenchInterrupted as stop:
        res = stop.results
        where = res["config"].get("out")
        kept = f"; report marked partial in {where}" if where else ""
        what = "terminated" if terminated else "interrupted"
        print(f"acwa bench: {what}: kept {len(res['runs'])} finished run(s){kept}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"acwa bench: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except (ValueError, FileNotFoundError, ImportError, OSError) as exc:
        return _err("bench", exc)
    finally:
        signal.signal(signal.SIGTERM, previous)
    _print_results(results, str(Path(results["config"]["out"]) / "report.html"))
    return 0 if results["runs"] else 1


def _report(args: argparse.Namespace) -> int:
    from acwa.bench.runner import render_report

    path = Path(args.results)
    try:
        if not path.is_file():
            raise ValueError(f"RESULTS.json {path} not found; give the results.json written by acwa bench")
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{path.name} is not a JSON file ({exc}); give a results.json written by acwa bench"
            ) from None
        missing = [
            k for k in ("dataset", "config", "runs", "summary") if not isinstance(results, dict) or k not in results
        ]
        if missing:
            raise ValueError(f"{path.name} lacks {', '.join(missing)}: not a results.json written by acwa bench")
        folder = Path(args.out) if args.out else path.parent
        from importlib.util import find_spec

        from acwa.bench.output import prepare_out_dir

        if args.out:
            folder, _ = prepare_out_dir(folder, results["dataset"], overwrite=True)
        try:
            written = render_report(results, folder, plots=find_spec("matplotlib") is not None)
        except (KeyboardInterrupt, OSError):
            raise
        except Exception as exc:  # a results.json edited or truncated by hand: one line, no traceback
            raise ValueError(
                f"{path.name} cannot be rendered ({type(exc).__name__}: {exc}); "
                "it is not a complete results.json written by acwa bench"
            ) from None
    except KeyboardInterrupt:
        print("acwa report: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as exc:
        return _err("report", exc)
    print(f"report: {written['html']}  (also report.md, results.json)")
    return 0


def _weights(args: argparse.Namespace) -> int:
    import torch

    from acwa.data import load_labels
    from acwa.weights import class_weights

    try:
        codes, names = load_labels(args.data, args.target)
        counts = torch.bincount(torch.from_numpy(codes), minlength=len(names))
        options = {"beta": args.beta} if args.beta is not None else {}
        if options and args.method != "effective_number":
            raise ValueError("--beta applies to --method effective_number only")
        weights = class_weights(counts, WEIGHT_METHODS[args.method], **options)
    except (ValueError, OSError) as exc:
        return _err("weights", exc)
    values = [round(float(v), 6) for v in weights.tolist()]
    width = max(len("class"), *(len(n) for n in names))
    print(f"{'class':<{width}}  {'count':>8}  {'weight':>10}")
    for n, c, v in zip(names, counts.tolist(), values):
        print(f"{n:<{width}}  {c:>8}  {v:>10.6f}")
    print(f"method {args.method} (acwa.weights.class_weights(counts, {WEIGHT_METHODS[args.method]!r}), sum C)")
    print("json: " + json.dumps({"classes": names, "counts": counts.tolist(), "weights": values}))
    print(f"python: weight = torch.tensor({values})")
    return 0


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    return f"acwa: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``acwa`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    shown, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    try:
        return _run(args, argv)
    finally:
        warnings.formatwarning = shown


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    if args.command == "bench":
        return _bench(args, argv)
    if args.command == "report":
        return _report(args)
    if args.command == "weights":
        return _weights(args)
    print("acwa: error: choose a command: bench, report or weights (see acwa --help)", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
