"""The bench's decoupled-head methods, DRS and acwa-auto-fast: registered, run, cost recorded."""

from acwa.bench import METHODS, list_methods, run_bench

FAST = dict(seeds=1, epochs=3, progress=False, write_report=False)
NEW = ["crt", "tau-norm", "lws", "ncm", "weight-balancing", "drs", "acwa-auto-fast"]


def test_registered_and_listed():
    assert set(NEW) <= set(list_methods())
    assert all(METHODS[m].trainings == 1 for m in NEW)
    assert "multilabel" in METHODS["acwa-auto-fast"].tasks


def test_head_methods_run_and_record_cost():
    res = run_bench("digits-lt", methods=["ce", *NEW], **FAST)
    assert res["failures"] == []
    rows = {r["method"]: r for r in res["runs"]}
    for m in ["ce", *NEW]:
        r = rows[m]
        assert r["trainings"] == 1 and r["train_seconds"] > 0 and r["train_cpu_seconds"] > 0
    # the head methods reuse the ce model of the seed, so their cost includes ce's training
    for m in ("crt", "lws", "ncm"):
        assert rows[m]["train_seconds"] >= rows["ce"]["train_seconds"]
    auto = rows["acwa-auto-fast"]["extra"]["auto"]
    assert auto["trainings"] == 1 and auto["method"] in auto["heldout"]
    assert auto["heldout"][auto["method"]] == max(auto["heldout"].values())
    summary = {s["method"]: s for s in res["summary"]}
    assert summary["crt"]["trainings_mean"] == 1


def test_bench_jobs_takes_an_executor_with_the_same_results():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    kw = dict(methods="ce,crt", seeds=2, epochs=2, progress=False, write_report=False)
    plain = run_bench("digits-lt", **kw)
    lines = []
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        pooled = run_bench("digits-lt", jobs=pool, log=lines.append, **kw)

    def metrics(res):
        return sorted((r["method"], r["seed"], r["balanced_accuracy"], r["per_class_f1"]) for r in res["runs"])

    assert metrics(pooled) == metrics(plain)
    assert pooled["config"]["jobs"] == "ProcessPoolExecutor"
    assert sum("seed" in line and "bal. acc" in line for line in lines) == 4  # each run reported
