"""The one-standard-error rule of acwa.auto: the fallback (la) is kept unless the out-of-fold
winner's per-fold gain over it is larger than fallback_se standard errors."""

import pytest
import torch

from acwa.auto import select_method
from acwa.auto.result import CandidateScore
from acwa.auto.select import paired_gain
from acwa.splits import stratified_folds

Y = torch.arange(4).repeat_interleave(torch.tensor([400, 200, 100, 50]))  # 750 samples, 4 classes


def _oracle(accuracy: dict[str, list[float]]):
    """train_and_predict whose logits are right where ``u < accuracy[method][fold of the sample]``,
    with one shared uniform ``u`` per sample (the folds are acwa.auto's: stratified, seed 0)."""
    folds = torch.from_numpy(stratified_folds(Y, num_folds=5, seed=0))
    u = torch.rand(len(Y), generator=torch.Generator().manual_seed(0))

    def train_and_predict(method, train_idx, predict_idx):
        right = u < torch.tensor(accuracy[method])[folds]
        pred = torch.where(right, Y, (Y + 1) % 4)[predict_idx]
        return torch.nn.functional.one_hot(pred, 4).float() * 3, method

    return train_and_predict


def test_paired_gain_is_the_mean_and_standard_error_of_fold_differences():
    a = CandidateScore("a", 0.7, [0.70, 0.72, 0.68, float("nan")])
    b = CandidateScore("b", 0.6, [0.60, 0.70, 0.60, 0.50])
    mean, se = paired_gain(a, b)
    d = torch.tensor([0.10, 0.02, 0.08], dtype=torch.float64)
    assert mean == pytest.approx(float(d.mean())) and se == pytest.approx(float(d.std() / 3**0.5))
    assert paired_gain(CandidateScore("a", 1, [0.5]), CandidateScore("b", 1, [0.4])) is None


NOISY = {"weighted-ce": [0.80, 0.50, 0.78, 0.52, 0.64], "la": [0.62] * 5}  # +0.03 on average, sign varies
CLEAR = {"weighted-ce": [0.90] * 5, "la": [0.60] * 5}


def test_a_noisy_winner_does_not_overturn_la():
    result = select_method(_oracle(NOISY), Y, candidates=("weighted-ce", "la"), correct=False)
    assert result.best == "weighted-ce"  # the better pooled OOF score ...
    mean, se = result.fallback_gain
    assert 0 < mean <= se and result.method == "la"  # ... by less than one standard error
    assert "within 1 SE: la (the fallback) is kept" in result.explain()
    assert result.model == "la"  # the retrain is the kept method's
    # a looser rule (a fraction of the observed mean / SE) lets it through
    loose_se = 0.5 * mean / se
    loose = select_method(_oracle(NOISY), Y, candidates=("weighted-ce", "la"), correct=False, fallback_se=loose_se)
    assert loose.method == "weighted-ce"


def test_a_clear_winner_is_chosen_and_fallback_none_is_plain_argmax():
    result = select_method(_oracle(CLEAR), Y, candidates=("weighted-ce", "la"), correct=False)
    assert result.method == result.best == "weighted-ce" and result.fallback_gain[0] > result.fallback_gain[1]
    assert "significant" in result.explain()
    plain = select_method(_oracle(NOISY), Y, candidates=("weighted-ce", "la"), correct=False, fallback=None)
    assert plain.method == plain.best == "weighted-ce" and plain.fallback_gain is None
    with pytest.raises(ValueError, match="fallback_se"):
        select_method(_oracle(NOISY), Y, candidates=("la",), fallback_se=-1.0)
