"""Index samplers and resamplers for imbalanced data (:mod:`acwa.sampling`).

* :class:`ClassBalancedSampler`: P(sample i) ∝ w_{y_i} n_{y_i}^(-q); class first, then a
  uniform sample of it; works beyond 2^24 samples; never loads samples to read labels.
* :class:`DistributedClassBalancedSampler`: the same under DDP (disjoint equal shards of one
  global draw) or, with ``shard=False``, for Accelerate / the HF Trainer.
* :class:`MultiLabelBalancedSampler` / :class:`DistributedMultiLabelBalancedSampler`: multi-hot
  labels, a label first (P(l) ∝ w_l n_l^(1-q)), then an instance carrying it (Shen et al. 2016).
* :class:`DeferredResampler`: deferred re-sampling (DRS, Cao et al. 2019): instance sampling
  until a deferral epoch, then class-balanced (:class:`DeferredQ`, the step schedule of q).
* :class:`MLSMOTE`: synthetic minority instances for multi-label data (Charte et al. 2015).
* :class:`RandomOverSampler`, :class:`RandomUnderSampler`, :class:`SMOTE`,
  :class:`BorderlineSMOTE`, :class:`ADASYN`: imbalanced-learn conventions on torch tensors
  (CPU/GPU); one ``sampling_strategy`` parser (:func:`check_sampling_strategy`).
* :class:`GenerativeOverSampler`: a class-conditional VAE on feature vectors.
"""

from acwa.sampling._deferred import DeferredQ, DeferredResampler
from acwa.sampling._labels import extract_labels
from acwa.sampling.distributed import DistributedClassBalancedSampler
from acwa.sampling.generative import GenerativeOverSampler
from acwa.sampling.mlsmote import MLSMOTE
from acwa.sampling.multilabel import DistributedMultiLabelBalancedSampler, MultiLabelBalancedSampler, multi_hot_labels
from acwa.sampling.resample import RandomOverSampler, RandomUnderSampler, resample_dataset
from acwa.sampling.samplers import ClassBalancedSampler, ProgressiveQ, class_sampling_probabilities
from acwa.sampling.smote import ADASYN, SMOTE, BorderlineSMOTE, knn_indices
from acwa.sampling.strategy import check_sampling_strategy

__all__ = [
    "extract_labels",
    "ClassBalancedSampler",
    "DistributedClassBalancedSampler",
    "MultiLabelBalancedSampler",
    "DistributedMultiLabelBalancedSampler",
    "multi_hot_labels",
    "MLSMOTE",
    "ProgressiveQ",
    "DeferredResampler",
    "DeferredQ",
    "class_sampling_probabilities",
    "RandomOverSampler",
    "RandomUnderSampler",
    "resample_dataset",
    "SMOTE",
    "BorderlineSMOTE",
    "ADASYN",
    "knn_indices",
    "check_sampling_strategy",
    "GenerativeOverSampler",
]
