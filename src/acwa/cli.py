"""``acwa`` command line: ``acwa bench`` compares every method on real data in one command.

    acwa bench                                   # digits-lt (embedded), the default methods, 3 seeds
    acwa bench --dataset ecg5000 --methods ce,la,acwa --seeds 5
    acwa bench --data my.npz                     # X_train, y_train, X_test, y_test (or X, y)
    acwa bench --data my.csv --target label
    acwa bench --list-methods | --list-datasets

Bad input exits with status 2 and one line ``acwa bench: error: ...`` naming the problem.
"""

from __future__ import annotations

import argparse
import shlex
import sys

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def _rho(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"rho must be a number >= 1, got {text!r}") from None
    if not v >= 1 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"rho must be a finite number >= 1 (n_max / n_min), got {text}")
    return v


def _methods_epilog() -> str:
    from .bench.registry import METHODS, list_methods

    lines = ["methods (--methods a,b,c, default or all; * = opt-in, not in default):"]
    for n in list_methods():
        mark = " " if METHODS[n].in_default else "*"
        lines.append(f" {mark}{n:<18} {METHODS[n].family:<9} {METHODS[n].description}")
    from .data import list_datasets

    lines += ["", "datasets (--dataset): " + ", ".join(list_datasets()) + "  (see --list-datasets)"]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="acwa", description="acwa: classifiers on imbalanced data. Subcommand: bench.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"acwa {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    b = sub.add_parser(
        "bench",
        help="compare every method on a dataset, write results.json and an HTML/markdown report",
        description="Train every selected method with one shared recipe (model, optimizer, epochs, seeds) on a "
        "dataset and report test accuracy, balanced accuracy, macro-F1, per-class F1/recall and "
        "many/medium/few-shot accuracy (mean ± std over seeds).",
        epilog=_methods_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = b.add_argument_group("data")
    src.add_argument("--dataset", default="digits-lt", help="built-in dataset (default: digits-lt, embedded)")
    src.add_argument(
        "--data", metavar="FILE", help="your data: FILE.npz (X_train,y_train,X_test,y_test or X,y) or FILE.csv"
    )
    src.add_argument("--target", metavar="COL", help="label column of a --data FILE.csv")
    src.add_argument(
        "--rho", type=_rho, help="imbalance ratio of the long-tailed training split (default 100 for *-lt)"
    )
    src.add_argument(
        "--data-seed", type=int, default=0, help="seed of the train/test split and long-tail subsampling (default 0)"
    )
    src.add_argument(
        "--max-train", type=_positive_int("max-train"), help="keep a stratified subset of the training split"
    )
    src.add_argument("--max-test", type=_positive_int("max-test"), help="keep a stratified subset of the test split")
    run = b.add_argument_group("run")
    run.add_argument(
        "--methods",
        default="default",
        help="comma-separated method names; default: every method except the opt-in ones "
        "(marked * in --list-methods); all: every method",
    )
    run.add_argument("--seeds", type=_positive_int("seeds"), default=3, help="number of seeds (default 3)")
    run.add_argument("--epochs", type=_positive_int("epochs"), help="epochs (default: per dataset)")
    run.add_argument("--batch-size", type=_positive_int("batch-size"), help="batch size (default: per dataset)")
    run.add_argument("--lr", type=float, help="learning rate (default: per dataset)")
    run.add_argument("--threads", type=_positive_int("threads"), help="torch CPU threads per process (default 1)")
    run.add_argument(
        "--jobs",
        type=_positive_int("jobs"),
        default=1,
        help="worker processes, one seed at a time each; same results (default 1)",
    )
    out = b.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", help="output folder (default reports/<dataset>-<timestamp>/)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument("--list-methods", action="store_true", help="list the registered methods and exit")
    out.add_argument("--list-datasets", action="store_true", help="list the built-in datasets and exit")
    return parser


def _list_methods() -> str:
    from .bench.registry import METHODS, list_methods

    return "\n".join(
        f"{n:<18} {METHODS[n].family:<9} {'' if METHODS[n].in_default else '(opt-in) '}{METHODS[n].description}"
        for n in list_methods()
    )


def _list_datasets() -> str:
    from .data import DATASETS

    lines = []
    for name, spec in DATASETS.items():
        ok = spec.available()
        status = "available" if ok else f"missing: {spec.install_hint}"
        lines.append(f"{name:<18} {spec.modality:<9} {spec.description}  [{status}]")
    return "\n".join(lines)


def _bench(args: argparse.Namespace, argv: list[str]) -> int:
    from .bench.report import summary_table
    from .bench.runner import _UNSET, run_bench
    from .data import DataError

    if args.list_methods:
        print(_list_methods())
        return 0
    if args.list_datasets:
        print(_list_datasets())
        return 0
    try:
        from .bench.registry import resolve_methods

        resolve_methods(args.methods)  # fail fast, before loading data
        if args.data is None:
            from .data import list_datasets

            if args.dataset not in list_datasets():
                raise DataError(f"unknown dataset {args.dataset!r}; valid names: {', '.join(list_datasets())}")
        results = run_bench(
            args.dataset,
            data=args.data,
            target=args.target,
            methods=args.methods,
            seeds=args.seeds,
            epochs=args.epochs,
            rho=_UNSET if args.rho is None else args.rho,
            out=None,
            write_report=False,
            threads=args.threads,
            data_seed=args.data_seed,
            batch_size=args.batch_size,
            lr=args.lr,
            progress=not args.no_progress,
            max_train=args.max_train,
            max_test=args.max_test,
            jobs=args.jobs,
        )
    except (DataError, ValueError, FileNotFoundError, ImportError) as exc:
        msg = " ".join(str(exc).split())
        print(f"acwa bench: error: {msg}", file=sys.stderr)
        return 2
    from pathlib import Path

    from .bench.report import write_report
    from .bench.runner import default_out_dir

    results["config"]["command"] = "acwa " + " ".join(shlex.quote(a) for a in argv)
    out_dir = Path(args.out) if args.out else default_out_dir(results["dataset"])
    written = write_report(results, out_dir)
    cfg = results["config"]
    print(
        f"{results['dataset']}: {cfg['num_classes']} classes, train counts {cfg['train_counts']}, "
        f"test {sum(cfg['test_counts'])}; {len(cfg['seeds'])} seed(s), {cfg['recipe']['epochs']} epochs, "
        f"{cfg['total_seconds']:.1f} s wall, {cfg['cpu_seconds']:.1f} s CPU"
    )
    if results["summary"]:
        print(summary_table(results))
    for s in results["skipped"]:
        print(f"skipped {s['method']}: {s['reason']}")
    for f in results["failures"]:
        print(f"FAILED {f['method']} seed {f['seed']}: {f['error']}", file=sys.stderr)
    print(f"report: {written['html']}  (also report.md, results.json)")
    return 0 if results["runs"] else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``acwa`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "bench":
        return _bench(args, argv)
    parser.print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
