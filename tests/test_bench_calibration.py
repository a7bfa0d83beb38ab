"""acwa bench: calibration metrics, --costs, paired intervals and their report sections."""

import json
from typing import Any

import numpy as np
import pytest
import torch

from acwa.bench import run_bench
from acwa.bench.calibration import PRIVATE_KEY, calibration_metrics, interval_verdict, parse_costs
from acwa.bench.report import takeaway, write_report
from acwa.cli import main
from acwa.metrics import brier_score, log_loss

FAST: dict[str, Any] = dict(seeds=2, epochs=1, progress=False, methods="ce,la")


def test_parse_costs_forms(tmp_path):
    assert parse_costs("1,5") == [[0.0, 1.0], [5.0, 0.0]]
    (tmp_path / "k.json").write_text(json.dumps({"costs": [[0, 1, 2], [1, 0, 1], [3, 1, 0]]}))
    (tmp_path / "k.csv").write_text("0,1,2\n1,0,1\n3,1,0\n")
    assert (
        parse_costs(str(tmp_path / "k.json"))
        == parse_costs(str(tmp_path / "k.csv"))
        == [[0, 1, 2], [1, 0, 1], [3, 1, 0]]
    )
    with pytest.raises(ValueError, match="non-negative"):
        parse_costs("-1,2")
    with pytest.raises(ValueError, match="not found"):
        parse_costs(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="3 classes"):
        parse_costs("1,2", num_classes=3)


def test_calibration_metrics_raw_and_cross_fitted_scaling():
    g = torch.Generator().manual_seed(0)
    true = torch.randn(600, 4, generator=g, dtype=torch.float64)
    y = torch.multinomial(torch.softmax(true, 1), 1, generator=g).flatten()
    m = calibration_metrics(true * 4, y)  # 4x over-confident
    p = torch.softmax(true * 4, 1)
    assert m["log_loss"] == pytest.approx(log_loss(p, y)) and m["brier"] == pytest.approx(brier_score(p, y))
    assert m["log_loss_ts"] < m["log_loss"] - 0.2 and m["classwise_ece_ts"] < m["classwise_ece"]
    assert set(m["reliability"]) == {"raw", "scaled"} and sum(m["reliability"]["raw"]["count"]) == 600
    np.testing.assert_array_equal(m[PRIVATE_KEY]["preds"], (true * 4).argmax(1).numpy())


def test_bench_costs_intervals_and_report(tmp_path):
    K = [[0.0 if i == j else (4.0 if i >= 7 else 1.0) for j in range(10)] for i in range(10)]
    res = run_bench("digits-lt", out=str(tmp_path / "r"), costs=K, rank_by="expected_cost", **FAST)
    assert all(r["expected_cost"] >= 0 and "log_loss_ts" in r for r in res["runs"])
    # the method's own (cost-blind) decision, costed with the same matrix: a brute-force reference
    assert all(0 <= r["decision_cost"] <= float(torch.as_tensor(K).max()) for r in res["runs"])
    assert all(PRIVATE_KEY not in r for r in res["runs"])
    assert (
        res["config"]["costs"] == K
        and res["summary"][0]["expected_cost_mean"] <= res["summary"][-1]["expected_cost_mean"]
    )
    iv = res["intervals"]
    assert iv["metric"] == "expected_cost" and iv["best"] == res["summary"][0]["method"]
    other = [m for m in ("ce", "la") if m != iv["best"]][0]
    d = iv["vs_best"][other]
    assert d["low"] <= d["high"] and d["estimate"] >= 0  # the best has the lowest cost
    md = (tmp_path / "r" / "report.md").read_text()
    assert "## Calibration" in md and "## Paired differences" in md and "reliability.png" in md
    assert "paired bootstrap interval" in takeaway(res)
    # an older results.json (no calibration, no intervals) still renders
    old = json.loads((tmp_path / "r" / "results.json").read_text())
    old.pop("intervals")
    for r in old["runs"]:
        for k in [
            k
            for k in r
            if k.startswith(("log_loss", "brier", "classwise_ece", "reliability", "expected_cost", "decision_cost"))
        ]:
            r.pop(k)
    for r in old["summary"]:
        for k in [
            k for k in r if k.startswith(("log_loss", "brier", "classwise_ece", "expected_cost", "decision_cost"))
        ]:
            r.pop(k)
    old["config"]["rank_by"] = "balanced_accuracy"
    written = write_report(old, tmp_path / "old")
    assert "Calibration" not in (tmp_path / "old" / "report.md").read_text() and "reliability" not in written


def test_interval_verdict_tied_or_ahead():
    base = {"metric": "balanced_accuracy", "confidence": 0.95, "n_boot": 500, "best": "la"}
    tied = dict(base, vs_best={"ce": {"estimate": -0.01, "low": -0.03, "high": 0.01}})
    ahead = dict(base, vs_best={"ce": {"estimate": -0.05, "low": -0.08, "high": -0.02}})
    assert "tied with ce" in interval_verdict({"intervals": tied})
    assert "ahead of every other method" in interval_verdict({"intervals": ahead})
    assert interval_verdict({}) == ""


def test_cli_bad_costs_is_one_line(tmp_path, capsys):
    for bad in ("1,x", str(tmp_path / "nope.csv"), "1,2"):  # the last: 2x2 for 10 classes
        code = main(
            [
                "bench",
                "--costs",
                bad,
                "--methods",
                "ce",
                "--seeds",
                "1",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "o"),
                "--no-progress",
            ]
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert (
            code == 2
            and len(err) >= 1
            and err[-1].startswith("acwa bench: error: ")
            and "Traceback" not in "".join(err)
        )
