"""Class-aware sampling for multi-label data: draw a label, then an instance that carries it.

Shen, Lin and Huang, "Relay Backpropagation for Effective Learning of Deep Convolutional
Neural Networks" (ECCV 2016) sample a class uniformly, then an image of that class; for
multi-label data an instance may carry several labels, and "an instance of label l" is any
instance whose multi-hot row has ``y_il = 1``. With ``n_l`` positives of label l, optional
label weights ``w_l`` and exponent q (the label-frequency power variant):

    P(label l)               = w_l n_l^(1-q) / sum_k w_k n_k^(1-q)      (n_l > 0)
    P(instance i | label l)  = 1 / n_l                                  (y_il = 1)
    P(instance i)            = sum_{l: y_il = 1} P(label l) / n_l

q = 1 is Shen et al.'s class-aware sampling (every label equally often as the drawing
label), q = 0 draws (label, instance) pairs uniformly, i.e. instances in proportion to their
number of labels; q = 0.5 is the square-root variant. Instances with no positive label are
never drawn. The draw is the one of :class:`~acwa.sampling.ClassBalancedSampler` over the
(label, instance) pairs: the alias table over L labels, then a uniform pair of the label,
mapped to its instance; so the probabilities are computed in log space, the epoch and seed
conventions, ``set_class_weights`` (per-label weights, e.g. ACWA's), ``state_dict`` and the
exact-quota mode (``replacement=False``: the drawing labels hit their quotas exactly) carry
over. :class:`DistributedMultiLabelBalancedSampler` shards one global draw across ranks exactly
like :class:`~acwa.sampling.DistributedClassBalancedSampler`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from acwa.sampling._labels import ClassIndex
from acwa.sampling.distributed import DistributedClassBalancedSampler
from acwa.sampling.samplers import ClassBalancedSampler
from acwa.weights import label_positive_counts

__all__ = ["MultiLabelBalancedSampler", "DistributedMultiLabelBalancedSampler", "multi_hot_labels"]


def multi_hot_labels(labels: Any) -> Tensor:
    """A multi-hot ``[N, L]`` matrix (tensor, array or a dataset's ``.targets``) as int8,
    checked to hold only 0 and 1 (:func:`acwa.weights.label_positive_counts`)."""
    source = getattr(labels, "targets", labels)
    y = torch.as_tensor(np.asarray(source) if not isinstance(source, Tensor) else source).detach().cpu()
    if y.dim() != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise ValueError(
            f"labels must be a non-empty multi-hot matrix [N, L], got shape {tuple(y.shape)}; "
            "for one class index per sample use ClassBalancedSampler"
        )
    counts = label_positive_counts(y)  # raises for values other than 0/1
    if int(counts.sum()) == 0:
        raise ValueError("labels have no positive entry: a multi-label sampler needs at least one positive")
    return y.to(torch.int8)


class MultiLabelBalancedSampler(ClassBalancedSampler):
    """Label-first sampler for multi-hot labels ``[N, L]`` (module docstring for the rule).

    Args:
        labels: a multi-hot matrix ``[N, L]`` in {0, 1} (tensor, array, or a dataset with
            ``.targets``).
        q: exponent (float) or schedule ``epoch -> q``; 1 = class-aware (Shen et al. 2016).
        num_samples: instances per epoch (default N).
        replacement, seed, class_weights: as :class:`ClassBalancedSampler` (``class_weights``
            has one entry per label).

    ``num_classes`` is the number of labels L; ``class_counts`` the positives per label.
    """

    def _build_index(self, labels: Any, num_classes: int | None) -> ClassIndex:
        y = multi_hot_labels(labels)
        if num_classes is not None and num_classes != y.shape[1]:
            raise ValueError(f"labels have {y.shape[1]} label columns but num_classes={num_classes}")
        instance, label = torch.nonzero(y, as_tuple=True)  # the (label, instance) pairs, row-major
        self._num_instances = int(y.shape[0])
        self._pair_instance = instance
        return ClassIndex(label.numpy(), int(y.shape[1]))

    def _default_num_samples(self) -> int:
        return self._num_instances

    def _to_dataset(self, items: Tensor) -> Tensor:
        return self._pair_instance[items]

    @property
    def num_instances(self) -> int:
        """N, the number of rows of the label matrix."""
        return self._num_instances


class DistributedMultiLabelBalancedSampler(DistributedClassBalancedSampler, MultiLabelBalancedSampler):
    """Rank ``rank``'s shard of one global label-first draw per epoch (DDP), or with
    ``shard=False`` the full draw for Accelerate / the HF Trainer; arguments as
    :class:`~acwa.sampling.DistributedClassBalancedSampler` with multi-hot ``labels``."""
