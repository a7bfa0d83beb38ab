"""Per-run method options (``run_bench(method_options=...)``, ``acwa bench --auto-folds``):
validation, pickling for worker processes, the report's record of them."""

import json
import pickle

import numpy as np
import pytest

from acwa.bench import get_method, run_bench
from acwa.bench.registry import METHODS, register_method, unregister_method
from acwa.cli import main


def _scaled(ctx, scale=1.0, label="x"):  # module level: picklable
    raise RuntimeError("not trained in these tests")


def _cost(scale=1.0, label="x"):
    return 2 + int(scale)


@pytest.fixture
def optioned():
    register_method("test-optioned", family="static", options=("scale", "label"), cost=_cost)(_scaled)
    yield METHODS["test-optioned"]
    unregister_method("test-optioned")


def test_with_options_binds_keywords_and_recomputes_the_cost(optioned):
    m = optioned.with_options({"scale": 3.0})
    assert m.fn.keywords == {"scale": 3.0} and m.trainings == 5 and m.name == optioned.name
    assert pickle.loads(pickle.dumps(m)).fn.keywords == {"scale": 3.0}  # --jobs sends it to workers
    assert optioned.with_options({}) is optioned


def test_unknown_option_names_the_valid_ones(optioned):
    with pytest.raises(ValueError, match=r"has no option\(s\) folds; its options: scale, label"):
        optioned.with_options({"folds": 3})
    with pytest.raises(ValueError, match="its options: none"):
        get_method("ce").with_options({"folds": 3})


def _npz(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [80, 30, 12])
    X = rng.normal(size=(len(y), 5)).astype(np.float32) + y[:, None]
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y)
    return str(path)


def test_options_for_a_method_not_run_are_an_error(tmp_path):
    with pytest.raises(ValueError, match="method_options names acwa-auto, which this run does not train"):
        run_bench(
            data=_npz(tmp_path),
            methods="ce",
            seeds=1,
            epochs=1,
            write_report=False,
            progress=False,
            method_options={"acwa-auto": {"folds": 3}},
        )


def test_cli_auto_flags_need_acwa_auto_and_two_folds(tmp_path, capsys):
    base = ["bench", "--data", _npz(tmp_path), "--seeds", "1", "--epochs", "1", "--no-progress"]
    assert main(base + ["--methods", "ce", "--auto-folds", "3"]) == 2
    err = capsys.readouterr().err
    assert "--auto-folds set acwa-auto's options, but acwa-auto is not among --methods" in err
    assert "Traceback" not in err
    assert main(base + ["--methods", "acwa-auto", "--auto-folds", "1"]) == 2
    assert "--auto-folds must be >= 2" in capsys.readouterr().err
    assert main(base + ["--methods", "acwa-auto", "--auto-candidates", "la,nope"]) == 2
    err = capsys.readouterr().err
    assert "--auto-candidates: nope is not a bench candidate; choose among ce, weighted-ce" in err
    assert main(base + ["--methods", "acwa-auto", "--auto-candidates", "autobalance"]) == 2


def test_cli_auto_folds_and_candidates_reach_the_selection(tmp_path):
    out = tmp_path / "o"
    args = ["bench", "--data", _npz(tmp_path), "--methods", "ce,acwa-auto", "--seeds", "1", "--epochs", "2"]
    args += ["--auto-folds", "3", "--auto-candidates", "weighted-ce,la", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    info = {m["method"]: m for m in res["config"]["method_info"]}
    assert info["acwa-auto"]["options"] == {"folds": 3, "candidates": ["weighted-ce", "la"]}
    assert info["acwa-auto"]["trainings"] == 3 * 2 + 1 and info["ce"]["options"] == {}
    auto = next(r for r in res["runs"] if r["method"] == "acwa-auto")["extra"]["auto"]
    assert auto["folds"] == 3 and auto["trainings"] == 7 and auto["method"] in ("weighted-ce", "la")
    report = (out / "report.md").read_text()
    assert "[this run: folds=3, candidates=weighted-ce,la; 7 trainings]" in report
    # the report explains the choice: every candidate's out-of-fold score, the raw winner, the gain over la
    assert "## acwa-auto: the choice per seed" in report
    row = next(line for line in report.splitlines() if line.startswith("| 0 | "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == auto["method"] and "weighted-ce 0." in cells[2] and "la 0." in cells[2]
    assert cells[3] == auto["best_oof"] and cells[6] == "7"
    assert (cells[4] == "–") == (auto["best_oof"] == "la")
    assert "acwa-auto: the choice per seed" in (out / "report.html").read_text()


def test_cli_auto_options_checked_against_the_data_before_training(tmp_path, capsys):
    from acwa.cli import main

    base = ["bench", "--dataset", "digits-lt", "--seeds", "1", "--epochs", "1", "--no-progress", "--out", str(tmp_path)]
    assert main(base + ["--methods", "acwa-auto", "--auto-candidates", "la,bce"]) == 2
    err = capsys.readouterr().err
    assert "--auto-candidates bce do not train on this multiclass (class-id) dataset" in err
    assert main(base + ["--methods", "acwa-auto", "--auto-folds", "100000"]) == 2
    assert "--auto-folds 100000 exceeds the" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_cli_auto_fast_backbone_is_checked_before_any_data(tmp_path, capsys):
    base = ["bench", "--data", _npz(tmp_path), "--seeds", "1", "--epochs", "1", "--no-progress"]
    assert main(base + ["--methods", "ce", "--auto-fast-backbone", "la"]) == 2
    err = capsys.readouterr().err
    assert "--auto-fast-backbone sets acwa-auto-fast's option, but acwa-auto-fast is not among --methods" in err
    assert main(base + ["--methods", "acwa-auto-fast", "--auto-fast-backbone", "autobalance"]) == 2
    err = capsys.readouterr().err
    assert "--auto-fast-backbone: 'autobalance' is not a single-training recipe; choose among ce, weighted-ce" in err
    assert "Traceback" not in err
    with pytest.raises(ValueError, match="backbone must be one of"):  # the API checks it before training, too
        run_bench(
            data=_npz(tmp_path),
            methods="acwa-auto-fast",
            seeds=1,
            epochs=1,
            write_report=False,
            progress=False,
            method_options={"acwa-auto-fast": {"backbone": "focal"}},
        )


@pytest.mark.parametrize("backbone", [None, "ce", "la"])
def test_auto_fast_trains_its_one_backbone_with_the_chosen_recipe(tmp_path, monkeypatch, backbone):
    from acwa.bench import RunContext
    from acwa.losses import LogitAdjustedLoss, WeightedCrossEntropyLoss

    losses: list = []
    fit = RunContext.fit
    monkeypatch.setattr(RunContext, "fit", lambda self, loss=None, **kw: losses.append(loss) or fit(self, loss, **kw))
    out = tmp_path / "o"
    args = ["bench", "--data", _npz(tmp_path), "--methods", "acwa-auto-fast", "--seeds", "1", "--epochs", "1"]
    args += ["--no-progress", "--out", str(out)] + ([] if backbone is None else ["--auto-fast-backbone", backbone])
    assert main(args) == 0
    assert len(losses) == 1
    (loss,) = losses
    if backbone == "la":
        assert isinstance(loss, LogitAdjustedLoss)
    elif backbone == "ce":
        assert loss is None or (isinstance(loss, WeightedCrossEntropyLoss) and loss.weight is None)
    else:  # the default: inverse-frequency weighted CE
        assert isinstance(loss, WeightedCrossEntropyLoss) and loss.weight is not None
        assert float(loss.weight.max()) > float(loss.weight.min())
    res = json.loads((out / "results.json").read_text())
    info = {m["method"]: m for m in res["config"]["method_info"]}
    assert info["acwa-auto-fast"]["options"] == ({} if backbone is None else {"backbone": backbone})
