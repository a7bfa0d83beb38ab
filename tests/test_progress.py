"""progress=True on the library's long loops: a tqdm bar on stderr, same results as without."""

import pytest
import torch

from acwa import autobalance
from acwa.posthoc import cross_fitted_logits
from acwa.sampling import GenerativeOverSampler

tqdm = pytest.importorskip("tqdm")


def test_cross_fitting_shows_folds_and_keeps_results(capsys):
    labels = torch.arange(40) % 2

    def train_and_predict(train_idx, heldout_idx):
        return torch.stack([heldout_idx.float(), -heldout_idx.float()], 1)

    quiet = cross_fitted_logits(train_and_predict, labels, num_folds=4)
    shown = cross_fitted_logits(train_and_predict, labels, num_folds=4, progress=True)
    assert torch.equal(quiet, shown)
    assert "cross-fitting folds" in capsys.readouterr().err
    with pytest.raises(ValueError, match="progress must be True or False"):
        cross_fitted_logits(train_and_predict, labels, num_folds=4, progress="yes")


def test_autobalance_fit_and_generative_oversampler_progress(capsys):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(60, 3, generator=g)
    y = torch.tensor([0] * 40 + [1] * 20)
    autobalance.fit(torch.nn.Linear(3, 2), X, y, num_classes=2, epochs=2, progress=True)
    assert "AutoBalance search" in capsys.readouterr().err
    GenerativeOverSampler(steps=5, random_state=0, progress=True).fit_resample(X, y)
    assert "VAE training steps" in capsys.readouterr().err
    with pytest.raises(ValueError, match="progress"):
        GenerativeOverSampler(progress=1)
