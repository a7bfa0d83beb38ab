"""Thin adapters to training frameworks; each submodule imports its framework on import and
raises ``ImportError`` with the install hint when it is missing:

* :mod:`acwa.integrations.lightning`: ``ACWALightningCallback`` for PyTorch Lightning
  (``pip install 'acwa-torch[lightning]'``);
* :mod:`acwa.integrations.huggingface`: ``ImbalancedTrainer`` (a ``transformers.Trainer``),
  ``ACWALossFunction`` and ``ACWATrainerCallback`` (``pip install 'acwa-torch[huggingface]'``);
* :mod:`acwa.integrations.keras`: ``AdaptiveWeightedLoss`` (state in ``loss.state``) and
  ``ACWAKerasCallback`` for Keras 3 on the torch, TensorFlow or JAX backend
  (``pip install 'acwa-torch[keras]'``).

Multi-process (DDP) training needs no adapter: :class:`acwa.ACWATrainer` all-reduces its
per-class counts before every update, see ``examples/ddp_train.py``.
"""

__all__ = ["lightning", "huggingface", "keras"]
