"""acwa-auto in the bench is acwa.auto.select_method; the single-run preset is acwa-la-adaptive."""

from functools import partial

import pytest

from acwa.bench import METHODS, register_method, run_bench, unregister_method
from acwa.bench.auto import AUTO_CANDIDATES, AUTO_FOLDS, select_and_train


def test_acwa_auto_selects_on_the_training_split_and_pays_for_every_training():
    res = run_bench(
        "digits-lt", methods="ce,acwa-auto", seeds=1, epochs=1, max_train=250, write_report=False, progress=False
    )
    assert res["failures"] == []
    by = {r["method"]: r for r in res["runs"]}
    auto = by["acwa-auto"]["extra"]["auto"]
    assert (
        auto["method"] in AUTO_CANDIDATES
        and set(auto["oof"]) == set(AUTO_CANDIDATES)
        and auto["metric"] == "balanced_accuracy"
    )
    assert auto["trainings"] == AUTO_FOLDS * len(AUTO_CANDIDATES) + 1 == METHODS["acwa-auto"].trainings
    assert auto["folds"] == AUTO_FOLDS
    # the takeaway's single-training winner is never a multi-training method
    info = {m["method"]: m["trainings"] for m in res["config"]["method_info"]}
    assert info == {"ce": 1, "acwa-auto": AUTO_FOLDS * len(AUTO_CANDIDATES) + 1}


def test_the_preset_is_renamed_and_budgets_register_with_partial():
    assert (
        METHODS["acwa-la-adaptive"].family == "adaptive"
        and "mode='la-adaptive'" in METHODS["acwa-la-adaptive"].description
    )
    register_method("acwa-auto-test", family="adaptive", trainings=2 * 2 + 1)(
        partial(select_and_train, folds=2, candidates=("weighted-ce", "la"))
    )
    try:
        res = run_bench(
            "digits-lt", methods="acwa-auto-test", seeds=1, epochs=1, max_train=200, write_report=False, progress=False
        )
        extra = res["runs"][0]["extra"]["auto"]
        assert extra["trainings"] == 5 and set(extra["oof"]) == {"weighted-ce", "la"}
        with pytest.raises(ValueError, match="trainings must be an int >= 1"):
            register_method("x-auto", family="adaptive", trainings=0)
    finally:
        unregister_method("acwa-auto-test")
