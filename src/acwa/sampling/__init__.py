"""Index samplers and resamplers for imbalanced data (:mod:`acwa.sampling`).

* :class:`ClassBalancedSampler`: P(sample i) ∝ w_{y_i} n_{y_i}^(-q); class first, then a
  uniform sample of it; works beyond 2^24 samples; never loads samples to read labels.
* :class:`DistributedClassBalancedSampler`: the same under DDP (disjoint equal shards of one
  global draw) or, with ``shard=False``, for Accelerate / the HF Trainer.
"""
from ._labels import extract_labels
from .distributed import DistributedClassBalancedSampler
from .samplers import ClassBalancedSampler, ProgressiveQ, class_sampling_probabilities

__all__ = [
    "extract_labels",
    "ClassBalancedSampler",
    "DistributedClassBalancedSampler",
    "ProgressiveQ",
    "class_sampling_probabilities",
]
